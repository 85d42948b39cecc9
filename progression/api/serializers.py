"""Output shapes of state, check-ins and ledger events."""

from rest_framework import serializers

from accounts.api.serializers import UserOutputSerializer
from progression.models import DailyCheckIn, EventKind, StateEvent, UserState
from progression.rules import STATE_FIELDS


class StateSerializer(serializers.ModelSerializer):
    class Meta:
        model = UserState
        fields = [*STATE_FIELDS, "last_checkin_day"]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    user = UserOutputSerializer()
    state = StateSerializer(allow_null=True)


class CheckInSerializer(serializers.ModelSerializer):
    class Meta:
        model = DailyCheckIn
        fields = ["id", "day", "created_at"]
        read_only_fields = fields


class ChangesSerializer(serializers.Serializer):
    """Signed change of every state field made by the request (rewards included)."""

    streak = serializers.IntegerField()
    longest_streak = serializers.IntegerField()
    energy = serializers.IntegerField()
    fatigue = serializers.IntegerField()
    loyalty = serializers.IntegerField()
    level = serializers.IntegerField()
    total_checkins = serializers.IntegerField()
    inventory_count = serializers.IntegerField()
    inventory_capacity = serializers.IntegerField()


class UnlockedRewardSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    claimed = serializers.BooleanField(help_text="True when the reward was auto-claimed.")


class CheckInResultSerializer(serializers.Serializer):
    check_in = CheckInSerializer()
    state = StateSerializer()
    changes = ChangesSerializer()
    unlocked_rewards = UnlockedRewardSerializer(many=True)
    leveled_up = serializers.BooleanField()


class EventSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=EventKind.choices)
    deltas = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()

    class Meta:
        model = StateEvent
        fields = ["id", "kind", "reference", "created_at", "deltas", "result"]
        read_only_fields = fields

    def get_deltas(self, event) -> ChangesSerializer:
        return event.deltas()

    def get_result(self, event) -> StateSerializer:
        return {name: getattr(event, name) for name in [*STATE_FIELDS, "last_checkin_day"]}
