"""Catalog and inventory reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Q, QuerySet, Sum

from inventory.models import InventoryItem, ToolDefinition, ToolKind
from progression.selectors import get_state
from progression.services import get_rules


@dataclass(frozen=True)
class Inventory:
    items: list[InventoryItem]
    used: int  # items held, counted against the capacity
    capacity: int


def active_tools() -> QuerySet[ToolDefinition]:
    return ToolDefinition.objects.filter(is_active=True)


def inventory_of(user) -> Inventory:
    """What the user holds (tool by tool) and the room they have."""
    items = list(InventoryItem.objects.filter(user_id=user.pk).select_related("tool"))
    state = get_state(user)
    capacity = state.inventory_capacity if state else get_rules().inventory_capacity
    return Inventory(items=items, used=sum(item.quantity for item in items), capacity=capacity)


def holdings_by_user(*, chunk_size: int = 5000) -> Iterator[tuple]:
    """(user_id, items held, freezes held) for every user holding items, by user_id descending (streamed)."""
    freezes = Sum("quantity", filter=Q(tool__kind=ToolKind.STREAK_FREEZE), default=0)
    return (
        InventoryItem.objects.values("user_id")
        .annotate(total=Sum("quantity"), freezes=freezes)
        .order_by("-user_id")
        .values_list("user_id", "total", "freezes")
        .iterator(chunk_size=chunk_size)
    )
