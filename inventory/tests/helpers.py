"""Test helpers shared by the inventory and rewards tests: state set-up through services."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from engagement.testing import assert_ledger_clean, client_for, error_code, run_in_threads  # noqa: F401 - re-exported
from inventory.models import InventoryItem, ToolDefinition
from inventory.services import buy_tool
from progression import rules
from progression.models import EventKind, StateEvent, UserState
from progression.services import adjust_state, get_rules

API = "/api/v1"


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def state_of(user) -> UserState:
    return UserState.objects.get(user_id=user.pk)


def grant_loyalty(user, amount: int) -> None:
    """Loyalty through the operator adjustment service, so the ledger explains it."""
    adjust_state(user=user, note="test grant", loyalty=amount)


def level_up_to(user, level: int) -> None:
    """Raise the level one adjustment at a time (+100 energy always levels up once)."""
    while state_of(user).level < level:
        adjust_state(user=user, note="test level", energy=100)


def add_history(user, events: int) -> None:
    """Give the user `events` past adjustments (+1 loyalty each) in bulk, ledger-consistent.

    The rows are exactly what adjust_state would have written; bulk insertion only keeps
    set-up fast. verify_ledger still has to agree with them.
    """
    state = state_of(user)
    values = state.to_values()
    rows = []
    for _ in range(events):
        new = rules.apply_exact(values, energy=0, fatigue=0, loyalty=1, rules=get_rules())
        rows.append(
            StateEvent(
                user_id=user.pk,
                kind=EventKind.ADJUSTMENT,
                reference="history",
                last_checkin_day=new.last_checkin_day,
                **{name: getattr(new, name) for name in rules.STATE_FIELDS},
                **{f"{name}_delta": delta for name, delta in values.deltas_to(new).items()},
            )
        )
        values = new
    StateEvent.objects.bulk_create(rows, batch_size=500)
    state.assign(values)
    state.save()


def stock(user, **quantities: int) -> None:
    """Put tools in the user's inventory by buying them with granted loyalty."""
    for slug, quantity in quantities.items():
        price = ToolDefinition.objects.get(slug=slug).price
        if price:
            grant_loyalty(user, price * quantity)
        buy_tool(user=user, slug=slug, quantity=quantity)


def holdings(user) -> dict[str, int]:
    return dict(InventoryItem.objects.filter(user_id=user.pk).values_list("tool_id", "quantity"))
