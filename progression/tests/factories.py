"""Test data for progression: a ledger-consistent check-in history written in bulk."""

from __future__ import annotations

from datetime import date, timedelta

from progression import rules
from progression.models import DailyCheckIn, EventKind, StateEvent, UserState
from progression.services import ensure_state, get_rules


def build_checkin_history(user, *, days: int, last_day: date) -> UserState:
    """Write `days` consecutive daily check-ins ending on `last_day`, as the service would record them.

    One DailyCheckIn row and one check_in event per day, and the final state, all computed with
    progression.rules, so the ledger replays to the stored state. Reward unlocking is not run:
    the caller decides which rewards the user holds. Bulk inserts keep it fast for long histories.
    """
    state, _ = ensure_state(user)
    rule_set = get_rules()
    first_day = last_day - timedelta(days=days - 1)
    checkins = DailyCheckIn.objects.bulk_create(
        [DailyCheckIn(user_id=user.pk, day=first_day + timedelta(days=n)) for n in range(days)]
    )
    values = state.to_values()
    events = []
    for checkin in checkins:
        new = rules.check_in(values, checkin.day, rule_set)
        events.append(
            StateEvent(
                user_id=user.pk,
                kind=EventKind.CHECK_IN,
                reference=str(checkin.pk),
                last_checkin_day=new.last_checkin_day,
                **{name: getattr(new, name) for name in rules.STATE_FIELDS},
                **{f"{name}_delta": delta for name, delta in values.deltas_to(new).items()},
            )
        )
        values = new
    StateEvent.objects.bulk_create(events)
    state.assign(values)
    state.save()
    return state
