"""Buying and using tools; both go through progression's one state-change path."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from engagement.db import db_value, fetch_by, instance_from_row, select_columns, statement_cursor
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
    return _add_quantity(state.user_id, tool_id, quantity)


class _Statements(NamedTuple):
    """The pre-built statements on a user's row of a tool."""

    add: str  # upsert the quantity, RETURNING the quantity held
    take: str  # one fewer
    held: str  # the quantity held
    drop: str  # delete the row
    tool_and_held: str  # the tool's columns and the quantity held (NULL: none)


@functools.cache
def _statements(vendor: str) -> _Statements:
    """The statements, built once per database vendor from the models' metadata."""
    quote = connection.ops.quote_name

    def column(model, name: str) -> str:
        return quote(str(model._meta.get_field(name).column))

    table, tools = quote(InventoryItem._meta.db_table), quote(ToolDefinition._meta.db_table)
    user, tool = column(InventoryItem, "user"), column(InventoryItem, "tool")
    quantity, updated_at = column(InventoryItem, "quantity"), column(InventoryItem, "updated_at")
    slug = column(ToolDefinition, "slug")
    where = f"WHERE {user} = %s AND {tool} = %s"
    # Identifiers from model metadata, values as parameters.
    add = (
        f"INSERT INTO {table} ({user}, {tool}, {quantity}, {updated_at}) VALUES (%s, %s, %s, %s) "  # noqa: S608
        f"ON CONFLICT ({user}, {tool}) DO UPDATE SET {quantity} = {table}.{quantity} + excluded.{quantity}, "
        f"{updated_at} = excluded.{updated_at} RETURNING {quantity}"
    )
    take = f"UPDATE {table} SET {quantity} = {quantity} - 1, {updated_at} = %s {where}"  # noqa: S608
    held = f"SELECT {quantity} FROM {table} {where}"  # noqa: S608
    drop = f"DELETE FROM {table} {where}"  # noqa: S608
    tool_and_held = (
        f"SELECT {select_columns(ToolDefinition, 't')}, i.{quantity} FROM {tools} t "  # noqa: S608
        f"LEFT JOIN {table} i ON i.{tool} = t.{slug} AND i.{user} = %s WHERE t.{slug} = %s"
    )
    return _Statements(add, take, held, drop, tool_and_held)


def _add_quantity(user_id, tool_id: str, quantity: int) -> int:
    """Add `quantity` to the user's row of a tool, creating it; the quantity now held. Requires the lock.

    One pre-built INSERT ... ON CONFLICT DO UPDATE ... RETURNING (updated_at set as auto_now
    would), where the ORM took an UPDATE and then a SELECT or an INSERT, each compiled per call.
    """
    params = [
        db_value(InventoryItem, "user", user_id),
        tool_id,
        quantity,
        db_value(InventoryItem, "updated_at", timezone.now()),
    ]
    with statement_cursor() as cursor:
        cursor.execute(_statements(connection.vendor).add, params)
        return cursor.fetchone()[0]


def _take_one(user_id, tool_id: str, *, held: int) -> None:
    """Take one item off the user's row of a tool (`held` of them): the row goes with the last.
    Requires the lock."""
    sql = _statements(connection.vendor)
    user = db_value(InventoryItem, "user", user_id)
    with statement_cursor() as cursor:
        if held > 1:
            cursor.execute(sql.take, [db_value(InventoryItem, "updated_at", timezone.now()), user, tool_id])
        else:
            cursor.execute(sql.drop, [user, tool_id])


def _tool_and_held(user_id, slug: str) -> tuple[ToolDefinition | None, int]:
    """The tool (None if unknown) and how many of it the user holds: one pre-built SELECT."""
    with statement_cursor() as cursor:
        cursor.execute(
            _statements(connection.vendor).tool_and_held, [db_value(InventoryItem, "user", user_id), slug]
        )
        row = cursor.fetchone()
    if row is None:
        return None, 0
    return instance_from_row(ToolDefinition, row), row[-1] or 0


def _held(user_id, tool_id: str) -> int:
    """How many of a tool the user holds (a pre-built SELECT). Requires the lock."""
    with statement_cursor() as cursor:
        cursor.execute(
            _statements(connection.vendor).held, [db_value(InventoryItem, "user", user_id), tool_id]
        )
        row = cursor.fetchone()
    return 0 if row is None else row[0]


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
    tool = fetch_by(ToolDefinition, "slug", slug)
    if tool is None or not tool.is_active:
        raise ToolNotFound()
    with transaction.atomic():
        state = lock_state(user)
        if state.loyalty < tool.price * quantity:
            raise InsufficientLoyalty()
        if state.inventory_count + quantity > state.inventory_capacity:
            raise InventoryFull()
        if tool.max_held is not None and _held(state.user_id, tool.slug) + quantity > tool.max_held:
            raise MaxHeldReached()
        held = add_items(state=state, tool_id=tool.slug, quantity=quantity, is_freeze=tool.is_freeze)
        new = rules.buy(state.to_values(), price=tool.price, quantity=quantity)
        change = apply_change(state=state, new=new, kind=EventKind.TOOL_PURCHASE, reference=tool.slug)
    return PurchaseResult(tool=tool, quantity=held, change=change)


def use_tool(*, user, slug: str) -> UseResult:
    """Use one owned item; inactive tools already owned can still be used."""
    with transaction.atomic():
        state = lock_state(user)
        tool, held = _tool_and_held(user.pk, slug)
        if tool is None:
            raise ToolNotFound()
        if tool.is_freeze:
            raise NotUsable()
        if held == 0:
            raise NotInInventory()
        _take_one(user.pk, slug, held=held)
        values = state.to_values()
        values = values.replace(inventory_count=values.inventory_count - 1)
        new = rules.apply_tool(values, **effects_of(tool), rules=get_rules())
        change = apply_change(state=state, new=new, kind=EventKind.TOOL_USE, reference=tool.slug)
    return UseResult(tool=tool, remaining=held - 1, change=change)


def seed_tools():
    """Upsert the seeded tool catalog; idempotent."""
    from engagement.seeding import upsert_rows
    from inventory.catalog import SEEDED_TOOLS

    return upsert_rows(ToolDefinition, SEEDED_TOOLS)
