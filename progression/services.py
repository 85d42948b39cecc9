"""Progression writes, and the one shared path every state change goes through.

Every mutation of a user's data: open transaction.atomic(), take lock_state() first,
compute the new values with progression.rules, write them with record_change() (the state
row and one ledger event), and finish with finish_change(), which runs the after-change
pipeline (settings.ENGAGEMENT_AFTER_CHANGE: reward unlocking, ...) in the same transaction.
apply_change() does both for the common one-event change.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from engagement.db import fetch_by, insert_row, update_row, violates
from engagement.errors import AlreadyCheckedIn
from progression import rules
from progression.changes import ChangeResult, run_after_change
from progression.models import DailyCheckIn, EventKind, StateEvent, UserState

_STATE_COLUMNS = (*rules.STATE_FIELDS, "last_checkin_day", "updated_at")


@functools.cache
def get_rules() -> rules.Rules:
    return rules.Rules.from_mapping(settings.ENGAGEMENT)


def effects_of(definition) -> dict[str, int]:
    """The energy, fatigue and loyalty deltas of a tool or reward, as rules.apply_* take them."""
    return {
        "energy": definition.energy_delta,
        "fatigue": definition.fatigue_delta,
        "loyalty": definition.loyalty_delta,
    }


def on_setting_changed(*, setting, **kwargs):
    if setting == "ENGAGEMENT":
        get_rules.cache_clear()


@dataclass(frozen=True)
class CheckInResult:
    check_in: DailyCheckIn
    change: ChangeResult


def ensure_state(user) -> tuple[UserState, bool]:
    """The user's state row, created with the starting values if missing; safe under races.

    Registration calls it in the user's own transaction, so every registered user has a state.
    """
    return UserState.objects.get_or_create(user=user)


def lock_state(user) -> UserState:
    """Take the row lock on the user's state (creating it first if missing).

    Must be called inside transaction.atomic(), before anything else of the user's is
    read or written: this one lock, in this one order, serializes a user's mutations.
    """
    state = fetch_by(UserState, "user", user.pk, for_update=True)
    if state is None:
        ensure_state(user)
        state = fetch_by(UserState, "user", user.pk, for_update=True)
        assert state is not None  # created just above, in this transaction
    return state


def record_change(*, state: UserState, new: rules.State, kind: str, reference: str = "") -> StateEvent:
    """Write `new` into the locked state row and append its ledger event. Requires the lock.

    Runs no pipeline: the caller finishes its change with finish_change() (or uses
    apply_change()), or is itself a pipeline consumer recording a follow-on event.
    """
    before = state.to_values()
    state.assign(new)
    update_row(state, _STATE_COLUMNS, key="user")
    event = StateEvent(
        user_id=state.user_id,
        kind=kind,
        reference=reference[:255],
        last_checkin_day=new.last_checkin_day,
        **{name: getattr(new, name) for name in rules.STATE_FIELDS},
        **{f"{name}_delta": value for name, value in before.deltas_to(new).items()},
    )
    return insert_row(event)


def finish_change(*, state: UserState, before: rules.State, events: tuple[StateEvent, ...]) -> ChangeResult:
    """Run the after-change pipeline over the recorded `events`. Requires the lock."""
    change = ChangeResult(before=before, after=state.to_values(), events=events)
    return run_after_change(state=state, change=change)


def apply_change(*, state: UserState, new: rules.State, kind: str, reference: str = "") -> ChangeResult:
    """Record a one-event change and run the after-change pipeline. Requires the lock (lock_state)."""
    before = state.to_values()
    event = record_change(state=state, new=new, kind=kind, reference=reference)
    return finish_change(state=state, before=before, events=(event,))


def check_in(*, user, today: date | None = None) -> CheckInResult:
    """Today's check-in (UTC day): streak, energy, fatigue, loyalty, level; then the pipeline."""
    today = today or timezone.now().date()
    try:
        with transaction.atomic():
            state = lock_state(user)
            if state.last_checkin_day is not None and state.last_checkin_day >= today:
                raise AlreadyCheckedIn()
            checkin = DailyCheckIn.objects.create(user_id=user.pk, day=today)
            new = rules.check_in(state.to_values(), today, get_rules())
            change = apply_change(state=state, new=new, kind=EventKind.CHECK_IN, reference=str(checkin.pk))
    except IntegrityError as exc:
        # Backstop for a row written around the lock: the whole transaction is rolled back
        # (no savepoint needed, which saves two round trips on every check-in).
        if violates(exc, constraint="progression_dailycheckin_one_per_day", table="progression_dailycheckin"):
            raise AlreadyCheckedIn() from exc
        raise
    return CheckInResult(check_in=checkin, change=change)


def adjust_state(*, user, note: str, energy: int = 0, fatigue: int = 0, loyalty: int = 0) -> ChangeResult:
    """An operator's adjustment: exact deltas, clamped, with a required note in the ledger."""
    if not note or not note.strip():
        raise ValueError("An adjustment needs a note.")
    if not (energy or fatigue or loyalty):
        raise ValueError("An adjustment needs at least one non-zero delta.")
    with transaction.atomic():
        state = lock_state(user)
        new = rules.apply_exact(
            state.to_values(), energy=energy, fatigue=fatigue, loyalty=loyalty, rules=get_rules()
        )
        return apply_change(state=state, new=new, kind=EventKind.ADJUSTMENT, reference=note.strip())
