"""Catalog and inventory reads."""

from __future__ import annotations

from django.db.models import QuerySet

from inventory.models import InventoryItem, ToolDefinition


def active_tools() -> QuerySet[ToolDefinition]:
    return ToolDefinition.objects.filter(is_active=True)


def inventory_of(user) -> list[InventoryItem]:
    return list(InventoryItem.objects.filter(user_id=user.pk).select_related("tool"))
