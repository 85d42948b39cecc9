"""Shapes of the tool catalog, purchases, uses and the inventory."""

from django.conf import settings
from rest_framework import serializers

from engagement.serializers import StrictSerializer
from inventory.models import ToolDefinition
from progression.api.serializers import ChangesSerializer, StateSerializer, UnlockedRewardSerializer


class ToolSerializer(serializers.ModelSerializer):
    class Meta:
        model = ToolDefinition
        fields = ["slug", "name", "description", "price", "energy_delta", "fatigue_delta", "loyalty_delta"]
        read_only_fields = fields


class BuyInputSerializer(StrictSerializer):
    quantity = serializers.IntegerField(
        min_value=1,
        max_value=settings.ENGAGEMENT["INVENTORY_CAPACITY"],
        required=False,
        default=1,
    )


class InventoryItemSerializer(serializers.Serializer):
    tool = ToolSerializer()
    quantity = serializers.IntegerField()


class PurchaseResultSerializer(serializers.Serializer):
    item = InventoryItemSerializer()
    state = StateSerializer()


class InventorySerializer(serializers.Serializer):
    items = InventoryItemSerializer(many=True)
    used = serializers.IntegerField()
    capacity = serializers.IntegerField()


class UseResultSerializer(serializers.Serializer):
    tool = ToolSerializer()
    remaining = serializers.IntegerField()
    state = StateSerializer()
    changes = ChangesSerializer()
    unlocked_rewards = UnlockedRewardSerializer(many=True)
    leveled_up = serializers.BooleanField()
