"""The state rules as pure functions over plain values (no ORM, no clock)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
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


def check_in(state: State, today: date, rules: Rules) -> State:
    """The state after a check-in on `today` (README "The rules", steps 1-7)."""
    last = state.last_checkin_day
    gap = None if last is None else (today - last).days
    if gap is not None and gap < 1:
        raise CheckInOutOfOrder(f"check-in on {today} is not after {last}")

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


def condition_value(state: State, condition: str) -> int:
    """The state value a reward condition (streak | total_checkins | level) compares."""
    return {"streak": state.streak, "total_checkins": state.total_checkins, "level": state.level}[condition]
