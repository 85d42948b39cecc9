"""Shapes of rewards with a user's status, and of a claim."""

from rest_framework import serializers

from progression.api.serializers import ChangeBodySerializer
from rewards.models import Condition


class RewardStatusSerializer(serializers.Serializer):
    slug = serializers.CharField(source="reward.slug")
    title = serializers.CharField(source="reward.title")
    description = serializers.CharField(source="reward.description")
    condition = serializers.ChoiceField(source="reward.condition", choices=Condition.choices)
    threshold = serializers.IntegerField(source="reward.threshold")
    energy_delta = serializers.IntegerField(source="reward.energy_delta")
    fatigue_delta = serializers.IntegerField(source="reward.fatigue_delta")
    loyalty_delta = serializers.IntegerField(source="reward.loyalty_delta")
    grant_tool = serializers.CharField(source="reward.grant_tool_id", allow_null=True)
    grant_quantity = serializers.IntegerField(source="reward.grant_quantity")
    auto_claim = serializers.BooleanField(source="reward.auto_claim")
    status = serializers.ChoiceField(choices=["locked", "unlocked", "claimed"])
    progress = serializers.IntegerField(help_text="Current value toward the threshold, capped at it.")
    unlocked_at = serializers.DateTimeField(allow_null=True)
    claimed_at = serializers.DateTimeField(allow_null=True)


class ClaimResultSerializer(ChangeBodySerializer):
    reward = RewardStatusSerializer()
