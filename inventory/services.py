"""Buying and using tools; both go through progression's one state-change path."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from engagement.errors import (
    InsufficientLoyalty,
    InventoryFull,
    MaxHeldReached,
    NotInInventory,
    NotUsable,
    ToolNotFound,
)
from inventory.models import InventoryItem, ToolDefinition, ToolKind
from progression import rules
from progression.changes import ChangeResult
from progression.models import EventKind, UserState
from progression.services import apply_change, effects_of, get_rules, lock_state


@dataclass(frozen=True)
class PurchaseResult:
    tool: ToolDefinition
    quantity: int  # held after the purchase
    change: ChangeResult


@dataclass(frozen=True)
class UseResult:
    tool: ToolDefinition
    remaining: int
    change: ChangeResult


def add_items(*, state: UserState, tool_id: str, quantity: int, is_freeze: bool = False) -> int:
    """Put `quantity` of a tool in the user's inventory; returns the quantity held.

    Requires the lock on `state`; the caller records inventory_count in its change (and the
    freezes held, counted here on the state row, with it).
    """
    if is_freeze:
        state.freezes_held += quantity
    updated = InventoryItem.objects.filter(user_id=state.user_id, tool_id=tool_id).update(
        quantity=F("quantity") + quantity
    )
    if updated:
        return InventoryItem.objects.values_list("quantity", flat=True).get(
            user_id=state.user_id, tool_id=tool_id
        )
    InventoryItem.objects.create(user_id=state.user_id, tool_id=tool_id, quantity=quantity)
    return quantity


def _held(state: UserState, tool_id: str) -> int:
    """How many of a tool the user holds. Requires the lock."""
    held = InventoryItem.objects.filter(user_id=state.user_id, tool_id=tool_id).values_list(
        "quantity", flat=True
    )
    return next(iter(held), 0)


def consume_freezes(*, state: UserState, count: int) -> None:
    """Take `count` streak freezes out of the inventory, slug order first (a check-in consumes them).

    Requires the lock; the caller records inventory_count and freezes_held in its change.
    """
    items = list(
        InventoryItem.objects.filter(user_id=state.user_id, tool__kind=ToolKind.STREAK_FREEZE).order_by(
            "tool_id"
        )
    )
    if sum(item.quantity for item in items) < count:
        raise ValueError(f"{count} freezes to consume, {sum(i.quantity for i in items)} held")
    for item in items:
        if count == 0:
            break
        taken = min(count, item.quantity)
        if taken == item.quantity:
            item.delete()
        else:
            InventoryItem.objects.filter(pk=item.pk).update(quantity=F("quantity") - taken)
        count -= taken


def buy_tool(*, user, slug: str, quantity: int = 1) -> PurchaseResult:
    """Buy `quantity` of an active tool with loyalty."""
    if quantity < 1:  # the API validates this; other callers must not sell negative items
        raise ValueError(f"quantity must be at least 1, not {quantity}")
    tool = ToolDefinition.objects.filter(slug=slug, is_active=True).first()
    if tool is None:
        raise ToolNotFound()
    with transaction.atomic():
        state = lock_state(user)
        if state.loyalty < tool.price * quantity:
            raise InsufficientLoyalty()
        if state.inventory_count + quantity > state.inventory_capacity:
            raise InventoryFull()
        if tool.max_held is not None and _held(state, tool.slug) + quantity > tool.max_held:
            raise MaxHeldReached()
        held = add_items(state=state, tool_id=tool.slug, quantity=quantity, is_freeze=tool.is_freeze)
        new = rules.buy(state.to_values(), price=tool.price, quantity=quantity)
        change = apply_change(state=state, new=new, kind=EventKind.TOOL_PURCHASE, reference=tool.slug)
    return PurchaseResult(tool=tool, quantity=held, change=change)


def use_tool(*, user, slug: str) -> UseResult:
    """Use one owned item; inactive tools already owned can still be used."""
    with transaction.atomic():
        state = lock_state(user)
        item = InventoryItem.objects.select_related("tool").filter(user_id=user.pk, tool_id=slug).first()
        if item is None:
            known = ToolDefinition.objects.filter(slug=slug).first()
            if known is None:
                raise ToolNotFound()
            if known.is_freeze:
                raise NotUsable()
            raise NotInInventory()
        tool = item.tool
        if tool.is_freeze:
            raise NotUsable()
        if item.quantity > 1:
            InventoryItem.objects.filter(pk=item.pk).update(quantity=F("quantity") - 1)
        else:
            item.delete()
        values = state.to_values()
        values = values.replace(inventory_count=values.inventory_count - 1)
        new = rules.apply_tool(values, **effects_of(tool), rules=get_rules())
        change = apply_change(state=state, new=new, kind=EventKind.TOOL_USE, reference=tool.slug)
    return UseResult(tool=tool, remaining=item.quantity - 1, change=change)


def seed_tools():
    """Upsert the seeded tool catalog; idempotent."""
    from engagement.seeding import upsert_rows
    from inventory.catalog import SEEDED_TOOLS

    return upsert_rows(ToolDefinition, SEEDED_TOOLS)
