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
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.module_loading import import_string

from engagement.db import column_of, fetch_by, fetch_reading, insert_row, update_then_insert, violates
from engagement.errors import (
    AlreadyCheckedIn,
    InsufficientLoyalty,
    NoPause,
    NothingToRepair,
    PauseActive,
    PauseTooSoon,
    SettingsChangeTooSoon,
)
from progression import rules
from progression.changes import ChangeResult, LockedRead, locked_reads, run_after_change
from progression.models import DailyCheckIn, EventKind, StateEvent, StreakPause, UserState

_STATE_COLUMNS = (
    *rules.STATE_FIELDS,
    "last_checkin_day",
    "last_checkin_at",
    "freezes_held",
    "pause_start_day",
    "pause_end_day",
    "updated_at",
)


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


def create_state(user) -> UserState:
    """A new user's state row with the starting values: one INSERT, in the user's own transaction.

    For registration, where no row can exist yet (the user is not committed): get_or_create's
    SELECT and savepoint would be three round trips for nothing.
    """
    return insert_row(UserState(user=user))


def lock_state(user) -> UserState:
    """Take the row lock on the user's state (creating it first if missing).

    Must be called inside transaction.atomic(), before anything else of the user's is
    read or written: this one lock, in this one order, serializes a user's mutations.
    The same statement takes the after-change consumers' reads (progression.changes.LockedRead).
    """
    reads = locked_reads()
    state = _locked_row(user, reads)
    if state is None:
        ensure_state(user)
        state = _locked_row(user, reads)
        assert state is not None  # created just above, in this transaction
    return state


@functools.cache
def _reads_sql(reads: tuple[LockedRead, ...], using: str) -> tuple[str, ...]:
    user_column = column_of(UserState, "user", using=using)
    return tuple(read.sql(connections[using], user_column) for read in reads)


def _locked_row(user, reads: tuple[LockedRead, ...]) -> UserState | None:
    """The user's state row FOR UPDATE with, in the same statement, the consumers' locked reads."""
    if not reads:
        return fetch_by(UserState, "user", user.pk, for_update=True)
    sql = _reads_sql(reads, DEFAULT_DB_ALIAS)
    found = fetch_reading(UserState, "user", user.pk, reads=sql, for_update=True)
    if found is None:
        return None
    state, values = found
    state.locked_reads = {read.name: read.load(value) for read, value in zip(reads, values, strict=True)}
    return state


def record_change(
    *, state: UserState, new: rules.State, kind: str, reference: str = "", referenced: Model | None = None
) -> StateEvent:
    """Write `new` into the locked state row and append its ledger event. Requires the lock.

    Runs no pipeline: the caller finishes its change with finish_change() (or uses
    apply_change()), or is itself a pipeline consumer recording a follow-on event.
    `referenced`: a new row (a check-in) written with them, whose key becomes the reference.
    """
    before = state.to_values()
    state.assign(new)
    event = StateEvent(
        user_id=state.user_id,
        kind=kind,
        reference=reference[:255],
        last_checkin_day=new.last_checkin_day,
        **{name: getattr(new, name) for name in rules.STATE_FIELDS},
        **{f"{name}_delta": value for name, value in before.deltas_to(new).items()},
    )
    return update_then_insert(state, _STATE_COLUMNS, "user", event, keyed=referenced, keyed_into="reference")


def finish_change(*, state: UserState, before: rules.State, events: tuple[StateEvent, ...]) -> ChangeResult:
    """Run the after-change pipeline over the recorded `events`. Requires the lock."""
    change = ChangeResult(before=before, after=state.to_values(), events=events)
    return run_after_change(state=state, change=change)


def apply_change(*, state: UserState, new: rules.State, kind: str, reference: str = "") -> ChangeResult:
    """Record a one-event change and run the after-change pipeline. Requires the lock (lock_state)."""
    before = state.to_values()
    event = record_change(state=state, new=new, kind=kind, reference=reference)
    return finish_change(state=state, before=before, events=(event,))


@functools.cache
def _freeze_consumer():
    """settings.ENGAGEMENT_CONSUME_FREEZES: takes freezes out of the inventory (an app above this one)."""
    return import_string(settings.ENGAGEMENT_CONSUME_FREEZES)


def _end_pause(state: UserState, pause: rules.Pause, today: date) -> None:
    """End the user's pause as of `today`, or drop it if it has not begun (rules.end_pause), on
    its row and on the state. Requires the lock; the caller saves the state."""
    ended = rules.end_pause(pause, today=today)
    rows = StreakPause.objects.filter(user_id=state.user_id, start_day=pause.start_day)
    if ended is None:
        rows.delete()
        state.pause_start_day = state.pause_end_day = None
    else:
        rows.update(end_day=ended.end_day)
        state.pause_end_day = ended.end_day


def _end_pause_on(state: UserState, today: date) -> None:
    """End the user's running pause as of `today` (a check-in ends it). Requires the lock."""
    pause = state.pause
    if pause is not None and pause.start_day <= today <= pause.end_day:
        _end_pause(state, pause, today)


def check_in(*, user, today: date | None = None, now: datetime | None = None) -> CheckInResult:
    """Today's check-in on the user's local day: streak protection, then the state rules, then the pipeline.

    Missed days are covered by freezes (all or none: a `freeze_consumed` event before the
    `check_in` event), paused days are not missed, and a gap right after a change of the time
    zone or day start is forgiven (README "Local days and streak protection"). `today` overrides
    the local day (tests, benchmarks).
    """
    now = now or timezone.now()
    rule_set = get_rules()
    try:
        with transaction.atomic():
            state = lock_state(user)
            today = today or rules.local_day(now, state.clock)
            if state.last_checkin_day is not None and state.last_checkin_day >= today:
                raise AlreadyCheckedIn()
            before = state.to_values()
            plan = rules.plan_check_in(
                today=today,
                last=state.last_checkin_day,
                freezes_held=state.freezes_held,
                pause=state.pause,
                forgiven=rules.forgiven_after_settings_change(
                    changed_at=state.settings_changed_at,
                    last_checkin_at=state.last_checkin_at,
                    now=now,
                    rules=rule_set,
                ),
            )
            events: list[StateEvent] = []
            if plan.freezes_to_consume:
                count = plan.freezes_to_consume
                _freeze_consumer()(state=state, count=count)
                state.freezes_held -= count
                values = state.to_values()
                frozen = values.replace(inventory_count=values.inventory_count - count)
                events.append(
                    record_change(
                        state=state, new=frozen, kind=EventKind.FREEZE_CONSUMED, reference=f"freeze:{count}"
                    )
                )
            _end_pause_on(state, today)
            checkin = DailyCheckIn(user_id=user.pk, day=today)
            state.last_checkin_at = now
            new = rules.check_in(state.to_values(), today, rule_set, plan=plan)
            # The check-in row goes with the state row and the event (whose reference is its id).
            events.append(record_change(state=state, new=new, kind=EventKind.CHECK_IN, referenced=checkin))
            change = finish_change(state=state, before=before, events=tuple(events))
    except IntegrityError as exc:
        # Backstop for a row written around the lock: the whole transaction is rolled back
        # (no savepoint needed, which saves two round trips on every check-in).
        if violates(exc, constraint="progression_dailycheckin_one_per_day", table="progression_dailycheckin"):
            raise AlreadyCheckedIn() from exc
        raise
    return CheckInResult(check_in=checkin, change=change)


@dataclass(frozen=True)
class DaySettingsResult:
    state: UserState
    changed: bool


def change_day_settings(
    *, user, timezone_name: str | None = None, day_start_hour: int | None = None, now: datetime | None = None
) -> DaySettingsResult:
    """Change the time zone and/or day start, at most once per interval (the first change is free).

    The values are validated by the caller (the API's input serializer); a value equal to the
    current one is no change and starts no interval.
    """
    now = now or timezone.now()
    with transaction.atomic():
        state = lock_state(user)
        changes: dict[str, object] = {}
        if timezone_name is not None and timezone_name != state.timezone:
            changes["timezone"] = timezone_name
        if day_start_hour is not None and day_start_hour != state.day_start_hour:
            changes["day_start_hour"] = day_start_hour
        if not changes:
            return DaySettingsResult(state=state, changed=False)
        allowed_at = rules.settings_change_allowed_at(state.settings_changed_at, get_rules())
        if allowed_at is not None and now < allowed_at:
            raise SettingsChangeTooSoon(
                extra={"retry_at": allowed_at.astimezone(UTC).isoformat().replace("+00:00", "Z")}
            )
        for name, value in changes.items():
            setattr(state, name, value)
        state.settings_changed_at = now
        state.save(update_fields=[*changes, "settings_changed_at", "updated_at"])
        return DaySettingsResult(state=state, changed=True)


def schedule_pause(*, user, days: int, now: datetime | None = None) -> StreakPause:
    """Pause the streak for `days` local days from today (tomorrow when already checked in)."""
    rule_set = get_rules()
    if not 1 <= days <= rule_set.pause_max_days:
        raise ValueError(f"days must be 1..{rule_set.pause_max_days}, not {days}")
    now = now or timezone.now()
    with transaction.atomic():
        state = lock_state(user)
        today = rules.local_day(now, state.clock)
        pause = state.pause
        if pause is not None and pause.end_day >= today:
            raise PauseActive()
        if pause is not None and (today - pause.start_day).days < rule_set.pause_interval_days:
            raise PauseTooSoon()
        checked_in = state.last_checkin_day is not None and state.last_checkin_day >= today
        start = rules.pause_start(today=today, checked_in_today=checked_in)
        row = StreakPause.objects.create(
            user_id=user.pk, start_day=start, end_day=start + timedelta(days=days - 1)
        )
        state.pause_start_day, state.pause_end_day = row.start_day, row.end_day
        state.save(update_fields=["pause_start_day", "pause_end_day", "updated_at"])
        return row


def end_pause(*, user, now: datetime | None = None) -> None:
    """End the scheduled or running pause: it ends yesterday, or is deleted if not started."""
    now = now or timezone.now()
    with transaction.atomic():
        state = lock_state(user)
        today = rules.local_day(now, state.clock)
        pause = state.pause
        if pause is None or pause.end_day < today:
            raise NoPause()
        _end_pause(state, pause, today)
        state.save(update_fields=["pause_start_day", "pause_end_day", "updated_at"])


def _lost_streak(user) -> tuple[StateEvent, int] | None:
    """The latest check-in that reset a streak and the streak it lost, unless already restored.

    Requires the lock. A reset is a check_in event ending at streak 1 from a streak >= 1; a
    restore is any later event raising the streak outside a check-in (repair, operator restore).
    """
    reset = (
        StateEvent.objects.filter(user_id=user.pk, kind=EventKind.CHECK_IN, streak=1, streak_delta__lte=0)
        .order_by("-id")
        .first()
    )
    if reset is None:
        return None
    restored = StateEvent.objects.filter(
        user_id=user.pk,
        id__gt=reset.id,
        kind__in=[EventKind.STREAK_REPAIR, EventKind.ADJUSTMENT],
        streak_delta__gt=0,
    ).exists()
    if restored:
        return None
    return reset, reset.streak - reset.streak_delta


def repair_streak(*, user, now: datetime | None = None) -> ChangeResult:
    """Buy back the streak lost at a reset within the window: streak = lost + current."""
    now = now or timezone.now()
    rule_set = get_rules()
    with transaction.atomic():
        state = lock_state(user)
        today = rules.local_day(now, state.clock)
        found = _lost_streak(user)
        if found is None:
            raise NothingToRepair()
        reset, lost = found
        if (
            reset.last_checkin_day is None
            or (today - reset.last_checkin_day).days > rule_set.repair_window_days
        ):
            raise NothingToRepair()
        if state.loyalty < rule_set.repair_price:
            raise InsufficientLoyalty()
        values = state.to_values()
        new = rules.restore_streak(values, lost=lost).replace(loyalty=values.loyalty - rule_set.repair_price)
        return apply_change(state=state, new=new, kind=EventKind.STREAK_REPAIR, reference=f"event:{reset.id}")


def restore_streak(*, user, note: str) -> ChangeResult:
    """An operator's free streak restore (no window): an `adjustment` event with the note."""
    if not note or not note.strip():
        raise ValueError("A restore needs a note.")
    with transaction.atomic():
        state = lock_state(user)
        found = _lost_streak(user)
        if found is None:
            raise NothingToRepair()
        _, lost = found
        new = rules.restore_streak(state.to_values(), lost=lost)
        return apply_change(state=state, new=new, kind=EventKind.ADJUSTMENT, reference=note.strip())


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
