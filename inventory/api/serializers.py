"""Shapes of the tool catalog, purchases, uses and the inventory: the one place they are rendered.

Purchases and uses are hot paths: their bodies also have a hand-written renderer equal to the
serializer's output (inventory/tests/test_render.py checks each pair).
"""

from django.conf import settings
from rest_framework import serializers

from engagement.serializers import StrictSerializer
from inventory.models import ToolDefinition
from progression.api.serializers import ChangeBodySerializer, StateSerializer, change_data, state_data


class ToolSerializer(serializers.ModelSerializer):
    class Meta:
        model = ToolDefinition
        fields = [
            "slug",
            "name",
            "description",
            "price",
            "energy_delta",
            "fatigue_delta",
            "loyalty_delta",
            "kind",
            "max_held",
        ]
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
    item = InventoryItemSerializer(source="*")  # the result's tool and the quantity now held
    state = StateSerializer(source="change.after")


def tool_data(tool: ToolDefinition) -> dict:
    """ToolSerializer(tool).data, without building the serializer's fields (per request, they
    cost about a seventh of a buy's or a use's CPU)."""
    return {name: getattr(tool, name) for name in _TOOL_FIELDS}


_TOOL_FIELDS = tuple(ToolSerializer.Meta.fields)


def purchase_result_data(result) -> dict:
    """PurchaseResultSerializer(result).data for an inventory.services.PurchaseResult."""
    return {
        "item": {"tool": tool_data(result.tool), "quantity": result.quantity},
        "state": state_data(result.change.after),
    }


class InventorySerializer(serializers.Serializer):
    items = InventoryItemSerializer(many=True)
    used = serializers.IntegerField()
    capacity = serializers.IntegerField()


class UseResultSerializer(ChangeBodySerializer):
    tool = ToolSerializer()
    remaining = serializers.IntegerField()


def use_result_data(result) -> dict:
    """UseResultSerializer(result).data for an inventory.services.UseResult."""
    return {
        "tool": tool_data(result.tool),
        "remaining": result.remaining,
        **change_data(result.change),
    }
