"""The state rules as pure functions over plain values (no ORM, no clock)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# The fields of the state, in ledger order. Every one of them is replayable from events.
STATE_FIELDS = (
    "streak",
    "longest_streak",
    "energy",
    "fatigue",
    "loyalty",
    "level",
    "total_checkins",
    "inventory_count",
    "inventory_capacity",
)


@dataclass(frozen=True)
class Rules:
    """Every number of the rules; built from settings.ENGAGEMENT by from_settings()."""

    energy_start: int = 50
    energy_max: int = 100
    fatigue_max: int = 100
    checkin_energy_gain: int = 20
    checkin_fatigue_gain: int = 10
    checkin_loyalty_gain: int = 5
    rest_recovery_per_day: int = 10
    level_multiplier_step: Decimal = Decimal("0.05")
    level_multiplier_max: Decimal = Decimal("1.5")
    inventory_capacity: int = 5
    settings_change_interval_days: int = 7
    settings_change_grace_hours: int = 48
    pause_max_days: int = 14
    pause_interval_days: int = 30
    repair_window_days: int = 3
    repair_price: int = 50

    @classmethod
    def from_mapping(cls, values: dict) -> Rules:
        kwargs: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            key = field.name.upper()
            if key in values:
                raw = values[key]
                kwargs[field.name] = Decimal(str(raw)) if field.type == "Decimal" else int(raw)
        return cls(**kwargs)


@dataclass(frozen=True)
class State:
    """A user's state as plain values."""

    streak: int = 0
    longest_streak: int = 0
    energy: int = 50
    fatigue: int = 0
    loyalty: int = 0
    level: int = 1
    total_checkins: int = 0
    last_checkin_day: date | None = None
    inventory_count: int = 0
    inventory_capacity: int = 5
    # Not replayed from the ledger: where the user's days begin and what protects the streak,
    # carried along so that every rendered state can show its streak status.
    protection: Protection | None = dataclasses.field(default=None, compare=False)

    def replace(self, **changes) -> State:
        return dataclasses.replace(self, **changes)

    def deltas_to(self, other: State) -> dict[str, int]:
        """Signed difference of every numeric field, self -> other."""
        return {name: getattr(other, name) - getattr(self, name) for name in STATE_FIELDS}


def initial_state(rules: Rules) -> State:
    return State(energy=rules.energy_start, inventory_capacity=rules.inventory_capacity)


def round_half_away(value: Decimal | int) -> int:
    """Round to the nearest integer, halves away from zero (2.5 -> 3, -2.5 -> -3)."""
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def loyalty_multiplier(level: int, rules: Rules) -> Decimal:
    return min(Decimal(1) + rules.level_multiplier_step * (level - 1), rules.level_multiplier_max)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _settle(state: State, *, energy: int, fatigue: int, loyalty: int, rules: Rules) -> State:
    """Clamp energy and fatigue, keep loyalty >= 0, then level up at most once."""
    energy = _clamp(energy, 0, rules.energy_max)
    fatigue = _clamp(fatigue, 0, rules.fatigue_max)
    level = state.level
    if energy >= rules.energy_max:
        level += 1
        energy = 0
    return state.replace(energy=energy, fatigue=fatigue, loyalty=max(0, loyalty), level=level)


class CheckInOutOfOrder(ValueError):
    """The day is not after the last check-in day."""


def check_in(state: State, today: date, rules: Rules, *, plan: CheckInPlan | None = None) -> State:
    """The state after a check-in on `today` (README "The rules", steps 1-7).

    `plan` (plan_check_in) says whether streak protection continues the streak and how many
    days count for rest recovery; without it the plain rule of the calendar gap applies.
    """
    last = state.last_checkin_day
    gap = None if last is None else (today - last).days
    if gap is not None and gap < 1:
        raise CheckInOutOfOrder(f"check-in on {today} is not after {last}")
    if plan is not None and gap is not None:
        gap = plan.gap
        streak = state.streak + 1 if plan.continues else 1
    else:
        streak = state.streak + 1 if gap == 1 else 1
    fatigue = state.fatigue
    if gap is not None and gap > 1:
        fatigue = max(0, fatigue - rules.rest_recovery_per_day * (gap - 1))
    gain = round_half_away(
        Decimal(rules.checkin_energy_gain) * (rules.fatigue_max - fatigue) / rules.fatigue_max
    )
    loyalty_gain = round_half_away(rules.checkin_loyalty_gain * loyalty_multiplier(state.level, rules))

    settled = _settle(
        state,
        energy=state.energy + gain,
        fatigue=fatigue + rules.checkin_fatigue_gain,
        loyalty=state.loyalty + loyalty_gain,
        rules=rules,
    )
    return settled.replace(
        streak=streak,
        longest_streak=max(state.longest_streak, streak),
        total_checkins=state.total_checkins + 1,
        last_checkin_day=today,
    )


def apply_tool(state: State, *, energy: int, fatigue: int, loyalty: int, rules: Rules) -> State:
    """A tool's deltas; loyalty gains are scaled by the level multiplier, losses are not."""
    if loyalty > 0:
        loyalty = round_half_away(loyalty * loyalty_multiplier(state.level, rules))
    return apply_exact(state, energy=energy, fatigue=fatigue, loyalty=loyalty, rules=rules)


def apply_exact(state: State, *, energy: int, fatigue: int, loyalty: int, rules: Rules) -> State:
    """Deltas applied as stated (reward effects, operator adjustments), then clamp and level-up."""
    return _settle(
        state,
        energy=state.energy + energy,
        fatigue=state.fatigue + fatigue,
        loyalty=state.loyalty + loyalty,
        rules=rules,
    )


def buy(state: State, *, price: int, quantity: int) -> State:
    return state.replace(
        loyalty=state.loyalty - price * quantity,
        inventory_count=state.inventory_count + quantity,
    )


def restore_streak(state: State, *, lost: int) -> State:
    """The lost streak added back to the current one (repair, operator restore)."""
    streak = state.streak + lost
    return state.replace(streak=streak, longest_streak=max(state.longest_streak, streak))


def condition_value(state: State, condition: str) -> int:
    """The state value a reward condition (streak | total_checkins | level) compares."""
    return {"streak": state.streak, "total_checkins": state.total_checkins, "level": state.level}[condition]


# --- Local days and streak protection (README "Local days and streak protection") ----------


@dataclass(frozen=True)
class DayClock:
    """Where a user's days begin: an IANA zone and the hour of the day's start (0..23)."""

    tz: tzinfo
    day_start_hour: int = 0


def local_day(instant: datetime, clock: DayClock) -> date:
    """The local day of an instant: (instant in the zone - day_start_hour hours).date()."""
    return (instant.astimezone(clock.tz) - timedelta(hours=clock.day_start_hour)).date()


def day_start(day: date, clock: DayClock) -> datetime:
    """The first instant (UTC) whose local day is `day`.

    The wall time `day` + day_start_hour may not exist (a spring-forward gap) or exist twice
    (fall-back): the answer is the earliest instant that local_day() puts on `day`.
    """
    wall = datetime(day.year, day.month, day.day) + timedelta(hours=clock.day_start_hour)
    candidates = [wall.replace(tzinfo=clock.tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    low, high = min(candidates), max(candidates)
    if local_day(low, clock) >= day:
        return low
    # In a gap: local_day(low) < day <= local_day(high); search the transition, to the second.
    while (high - low) > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if local_day(middle, clock) >= day:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


@dataclass(frozen=True)
class Pause:
    start_day: date
    end_day: date

    def days_within(self, first: date, last: date) -> int:
        """How many days of the pause fall in [first, last]."""
        overlap = (min(self.end_day, last) - max(self.start_day, first)).days + 1
        return max(0, overlap)


@dataclass(frozen=True)
class CheckInPlan:
    """What streak protection decides for a check-in on `today` after one on `last` (or none)."""

    gap: int  # the gap the rules use (1 when forgiven after a settings change)
    missed: int  # days without a check-in, neither paused nor forgiven
    freezes_to_consume: int
    continues: bool


def plan_check_in(
    *,
    today: date,
    last: date | None,
    freezes_held: int,
    pause: Pause | None,
    forgiven: bool = False,
) -> CheckInPlan:
    """Freezes cover all missed days or none; paused days are not missed; a forgiven gap is 1."""
    if last is None:
        return CheckInPlan(gap=0, missed=0, freezes_to_consume=0, continues=False)
    gap = (today - last).days
    if forgiven:
        return CheckInPlan(gap=1, missed=0, freezes_to_consume=0, continues=True)
    paused = pause.days_within(last + timedelta(days=1), today - timedelta(days=1)) if pause else 0
    missed = gap - 1 - paused
    if missed <= 0:
        return CheckInPlan(gap=gap, missed=0, freezes_to_consume=0, continues=True)
    if freezes_held >= missed:
        return CheckInPlan(gap=gap, missed=missed, freezes_to_consume=missed, continues=True)
    return CheckInPlan(gap=gap, missed=missed, freezes_to_consume=0, continues=False)


def last_continuing_day(*, last: date, freezes_held: int, pause: Pause | None) -> date:
    """The last local day on which a check-in still continues a streak whose last check-in was `last`."""
    day, freezes = last + timedelta(days=1), freezes_held
    while True:
        # A check-in on day + 1 leaves `day` behind: paused, or covered by a freeze.
        if pause is not None and pause.start_day <= day <= pause.end_day:
            pass
        elif freezes > 0:
            freezes -= 1
        else:
            return day
        day += timedelta(days=1)


def settings_change_allowed_at(changed_at: datetime | None, rules: Rules) -> datetime | None:
    """When the time zone or day start may change again (None: now; the first change is free)."""
    if changed_at is None:
        return None
    return changed_at + timedelta(days=rules.settings_change_interval_days)


def forgiven_after_settings_change(
    *, changed_at: datetime | None, last_checkin_at: datetime | None, now: datetime, rules: Rules
) -> bool:
    """The zone or day start changed since the last check-in, less than the grace period after it."""
    if changed_at is None or last_checkin_at is None or changed_at <= last_checkin_at:
        return False
    return now - last_checkin_at < timedelta(hours=rules.settings_change_grace_hours)


def pause_start(*, today: date, checked_in_today: bool) -> date:
    return today + timedelta(days=1) if checked_in_today else today


def end_pause(pause: Pause, *, today: date) -> Pause | None:
    """A pause ended today: it then ends yesterday, or is gone if it had not started before today."""
    if pause.start_day >= today:
        return None
    return Pause(start_day=pause.start_day, end_day=min(pause.end_day, today - timedelta(days=1)))


@dataclass(frozen=True)
class Protection:
    """The state row's local-day settings and streak protection, as plain values."""

    clock: DayClock
    freezes_held: int = 0
    pause: Pause | None = None
    settings_changed_at: datetime | None = None
    last_checkin_at: datetime | None = None


@dataclass(frozen=True)
class StreakStatus:
    timezone: str
    day_start_hour: int
    today: date
    checked_in_today: bool
    next_day_starts_at: datetime
    streak_expires_at: datetime | None
    freezes_held: int
    pause: Pause | None  # scheduled or running, else None


def streak_status(
    *,
    now: datetime,
    clock: DayClock,
    streak: int,
    last_checkin_day: date | None,
    freezes_held: int,
    pause: Pause | None,
    forgiveness_ends_at: datetime | None = None,
) -> StreakStatus:
    """The streak fields of the state body, from the state row alone (no query)."""
    today = local_day(now, clock)
    current_pause = pause if pause is not None and pause.end_day >= today else None
    expires_at = None
    if streak > 0 and last_checkin_day is not None:
        last_day = last_continuing_day(last=last_checkin_day, freezes_held=freezes_held, pause=pause)
        expires_at = day_start(last_day + timedelta(days=1), clock)
        if forgiveness_ends_at is not None and forgiveness_ends_at > expires_at:
            expires_at = forgiveness_ends_at
    return StreakStatus(
        timezone=str(getattr(clock.tz, "key", None) or clock.tz),
        day_start_hour=clock.day_start_hour,
        today=today,
        checked_in_today=last_checkin_day is not None and last_checkin_day >= today,
        next_day_starts_at=day_start(today + timedelta(days=1), clock),
        streak_expires_at=expires_at,
        freezes_held=freezes_held,
        pause=current_pause,
    )


def status_of(state: State, *, now: datetime, rules: Rules) -> StreakStatus:
    """streak_status() of a State carrying its protection (UTC and nothing held otherwise)."""
    protection = state.protection or Protection(clock=DayClock(tz=UTC))
    forgiveness_ends_at = None
    if forgiven_after_settings_change(
        changed_at=protection.settings_changed_at,
        last_checkin_at=protection.last_checkin_at,
        now=protection.settings_changed_at or now,
        rules=rules,
    ):
        assert protection.last_checkin_at is not None
        forgiveness_ends_at = protection.last_checkin_at + timedelta(hours=rules.settings_change_grace_hours)
    return streak_status(
        now=now,
        clock=protection.clock,
        streak=state.streak,
        last_checkin_day=state.last_checkin_day,
        freezes_held=protection.freezes_held,
        pause=protection.pause,
        forgiveness_ends_at=forgiveness_ends_at,
    )
