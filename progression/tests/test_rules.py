"""The state rules as pure functions: tables, edge cases, and properties."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement.testing import examples
from progression import rules
from progression.rules import Rules, State

RULES = Rules()
START = rules.initial_state(RULES)
DAY_1 = date(2030, 3, 1)


def day(n: int) -> date:
    return DAY_1 + timedelta(days=n - 1)


# --- The worked example -------------------------------------------------------

# (day, streak, energy, fatigue, loyalty, level) exactly as in the worked example of the rules.
WORKED_EXAMPLE = [
    (1, 1, 70, 10, 5, 1),
    (2, 2, 88, 20, 10, 1),
    (3, 3, 0, 30, 15, 2),
    (4, 4, 14, 40, 20, 2),
    (6, 1, 28, 40, 25, 2),
]


def test_initial_state_when_built_from_defaults_then_matches_spec_start_values():
    assert rules.initial_state(RULES) == State(
        streak=0,
        longest_streak=0,
        energy=50,
        fatigue=0,
        loyalty=0,
        level=1,
        total_checkins=0,
        last_checkin_day=None,
        inventory_count=0,
        inventory_capacity=5,
    )


def test_check_in_when_replaying_worked_example_then_every_row_matches_exactly():
    state = START
    for n, streak, energy, fatigue, loyalty, level in WORKED_EXAMPLE:
        state = rules.check_in(state, day(n), RULES)
        got = (state.streak, state.energy, state.fatigue, state.loyalty, state.level)
        assert got == (streak, energy, fatigue, loyalty, level), f"day {n}"
        assert state.last_checkin_day == day(n)
    assert state.total_checkins == 5
    assert state.longest_streak == 4


# --- Rounding -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.5", 3),
        ("3.5", 4),
        ("-2.5", -3),
        ("5.25", 5),
        ("0.5", 1),
        ("-0.5", -1),
        ("4.5", 5),
        ("1.5", 2),
        ("2.4999", 2),
        ("2.5001", 3),
        ("-2.4", -2),
        ("-2.6", -3),
        ("7.25", 7),
        ("7.5", 8),
        ("0", 0),
        ("-0", 0),
        ("12", 12),
    ],
)
def test_round_half_away_when_given_value_then_halves_go_away_from_zero(value, expected):
    assert rules.round_half_away(Decimal(value)) == expected


def test_round_half_away_when_given_int_then_returns_it_unchanged():
    assert rules.round_half_away(7) == 7
    assert rules.round_half_away(-7) == -7


@given(
    st.decimals(
        min_value=Decimal("-1000000"),
        max_value=Decimal("1000000"),
        places=4,
        allow_nan=False,
        allow_infinity=False,
    )
)
@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_half_away_when_given_random_decimal_then_nearest_with_halves_away_from_zero(value):
    result = rules.round_half_away(value)
    assert isinstance(result, int)
    distance = abs(value - result)
    assert distance <= Decimal("0.5")
    if distance == Decimal("0.5"):
        assert abs(result) > abs(value)
    assert rules.round_half_away(-value) == -result


@given(st.integers(min_value=-10_000, max_value=10_000))
@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_half_away_when_given_exact_half_then_rounds_away_from_zero(n):
    half = Decimal(n) + (Decimal("0.5") if n >= 0 else Decimal("-0.5"))
    assert rules.round_half_away(half) == n + (1 if n >= 0 else -1)


# --- Level multiplier ---------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "multiplier"),
    [
        (1, "1"),
        (2, "1.05"),
        (5, "1.20"),
        (10, "1.45"),
        (11, "1.5"),
        (12, "1.5"),
        (50, "1.5"),
        (1000, "1.5"),
    ],
)
def test_loyalty_multiplier_when_level_grows_then_capped_at_one_and_a_half(level, multiplier):
    assert rules.loyalty_multiplier(level, RULES) == Decimal(multiplier)


@pytest.mark.parametrize(
    ("level", "loyalty_gain"),
    [(1, 5), (2, 5), (3, 6), (4, 6), (10, 7), (11, 8), (12, 8), (99, 8)],
)
def test_check_in_when_at_level_then_loyalty_gain_is_rounded_multiplied_base(level, loyalty_gain):
    state = START.replace(level=level, energy=0)
    after = rules.check_in(state, DAY_1, RULES)
    assert after.loyalty == loyalty_gain


def test_check_in_when_it_levels_up_then_multiplier_uses_level_before_the_level_up():
    state = START.replace(level=10, energy=95)  # 5 * 1.45 = 7.25 -> 7; at level 11 it would be 8
    after = rules.check_in(state, DAY_1, RULES)
    assert after.level == 11
    assert after.loyalty == 7


@pytest.mark.parametrize(
    ("level", "delta", "gain"),
    [(1, 5, 5), (2, 5, 5), (11, 3, 5), (11, 5, 8), (30, 1, 2), (3, 5, 6)],
)
def test_apply_tool_when_loyalty_gain_then_multiplied_and_rounded_half_away(level, delta, gain):
    after = rules.apply_tool(START.replace(level=level), energy=0, fatigue=0, loyalty=delta, rules=RULES)
    assert after.loyalty == gain


def test_apply_tool_when_loyalty_loss_then_not_multiplied():
    state = START.replace(level=11, loyalty=30)
    after = rules.apply_tool(state, energy=0, fatigue=0, loyalty=-4, rules=RULES)
    assert after.loyalty == 26


def test_apply_exact_when_loyalty_gain_then_no_multiplier():
    state = START.replace(level=11)
    after = rules.apply_exact(state, energy=0, fatigue=0, loyalty=25, rules=RULES)
    assert after.loyalty == 25


# --- Streaks and rest recovery ------------------------------------------------


@pytest.mark.parametrize(
    ("gap", "streak_after"),
    [(1, 6), (2, 1), (3, 1), (365, 1)],
)
def test_check_in_when_gap_then_streak_increments_only_on_consecutive_days(gap, streak_after):
    state = START.replace(streak=5, longest_streak=5, last_checkin_day=DAY_1)
    after = rules.check_in(state, DAY_1 + timedelta(days=gap), RULES)
    assert after.streak == streak_after
    assert after.longest_streak == max(5, streak_after)


def test_check_in_when_streak_resets_then_longest_streak_is_kept():
    state = START.replace(streak=2, longest_streak=9, last_checkin_day=DAY_1)
    after = rules.check_in(state, DAY_1 + timedelta(days=4), RULES)
    assert (after.streak, after.longest_streak) == (1, 9)


def test_check_in_when_streak_passes_longest_then_longest_follows():
    state = START.replace(streak=9, longest_streak=9, last_checkin_day=DAY_1)
    after = rules.check_in(state, DAY_1 + timedelta(days=1), RULES)
    assert (after.streak, after.longest_streak) == (10, 10)


@pytest.mark.parametrize(
    ("fatigue", "gap", "fatigue_after_rest", "energy_gain"),
    [
        (40, 1, 40, 12),  # no rest on consecutive days
        (40, 2, 30, 14),
        (40, 3, 20, 16),
        (40, 5, 0, 20),
        (40, 6, 0, 20),  # would be -10: never below 0
        (100, 2, 90, 2),
        (100, 400, 0, 20),
        (0, 30, 0, 20),
    ],
)
def test_check_in_when_gap_then_rest_recovery_before_energy_gain_never_below_zero(
    fatigue, gap, fatigue_after_rest, energy_gain
):
    state = START.replace(energy=0, fatigue=fatigue, streak=1, longest_streak=1, last_checkin_day=DAY_1)
    after = rules.check_in(state, DAY_1 + timedelta(days=gap), RULES)
    assert after.energy == energy_gain
    assert after.fatigue == min(100, fatigue_after_rest + 10)


def test_check_in_when_first_ever_then_no_rest_recovery():
    after = rules.check_in(START.replace(fatigue=40), DAY_1, RULES)
    assert after.fatigue == 50
    assert after.energy == 50 + 12


@pytest.mark.parametrize("offset", [0, -1, -30])
def test_check_in_when_day_not_after_last_then_refused(offset):
    state = rules.check_in(START, DAY_1, RULES)
    with pytest.raises(rules.CheckInOutOfOrder):
        rules.check_in(state, DAY_1 + timedelta(days=offset), RULES)


def test_check_in_when_done_then_counts_and_records_the_day():
    after = rules.check_in(START.replace(total_checkins=41), DAY_1, RULES)
    assert after.total_checkins == 42
    assert after.last_checkin_day == DAY_1
    assert after.inventory_count == START.inventory_count
    assert after.inventory_capacity == START.inventory_capacity


# --- Clamps and level-up ------------------------------------------------------


@pytest.mark.parametrize(
    ("energy", "delta", "energy_after", "level_after"),
    [
        (95, 5, 0, 2),  # reaches exactly 100: level up
        (95, 4, 99, 1),
        (50, 100, 0, 2),  # 150 clamps to 100: one level, not more
        (0, 100, 0, 2),
        (99, 100, 0, 2),
        (10, -50, 0, 1),  # clamps at 0
        (0, -100, 0, 1),
    ],
)
def test_apply_exact_when_energy_changes_then_clamped_and_at_most_one_level(
    energy, delta, energy_after, level_after
):
    after = rules.apply_exact(START.replace(energy=energy), energy=delta, fatigue=0, loyalty=0, rules=RULES)
    assert (after.energy, after.level) == (energy_after, level_after)


def test_check_in_when_energy_overflows_then_overflow_discarded_and_one_level_up():
    after = rules.check_in(START.replace(energy=95, level=4), DAY_1, RULES)
    assert (after.energy, after.level) == (0, 5)


@pytest.mark.parametrize(
    ("fatigue", "delta", "fatigue_after"),
    [(95, 10, 100), (100, 100, 100), (5, -10, 0), (0, -100, 0), (50, 25, 75)],
)
def test_apply_exact_when_fatigue_changes_then_clamped_to_range(fatigue, delta, fatigue_after):
    after = rules.apply_exact(START.replace(fatigue=fatigue), energy=0, fatigue=delta, loyalty=0, rules=RULES)
    assert after.fatigue == fatigue_after


def test_check_in_when_fatigue_at_max_then_stays_at_max_and_energy_gain_zero():
    state = START.replace(fatigue=100, energy=30, last_checkin_day=DAY_1, streak=1, longest_streak=1)
    after = rules.check_in(state, DAY_1 + timedelta(days=1), RULES)
    assert (after.energy, after.fatigue) == (30, 100)


@pytest.mark.parametrize(
    ("loyalty", "delta", "after"), [(30, -100, 0), (3, -4, 0), (10, -10, 0), (10, -3, 7)]
)
def test_apply_exact_when_loyalty_would_go_negative_then_floored_at_zero(loyalty, delta, after):
    result = rules.apply_exact(
        START.replace(loyalty=loyalty), energy=0, fatigue=0, loyalty=delta, rules=RULES
    )
    assert result.loyalty == after


def test_buy_when_called_then_spends_loyalty_and_counts_items():
    after = rules.buy(START.replace(loyalty=50, inventory_count=1), price=16, quantity=2)
    assert (after.loyalty, after.inventory_count) == (18, 3)


@pytest.mark.parametrize(("condition", "expected"), [("streak", 3), ("total_checkins", 7), ("level", 2)])
def test_condition_value_when_asked_then_reads_the_matching_field(condition, expected):
    state = START.replace(streak=3, longest_streak=3, total_checkins=7, level=2)
    assert rules.condition_value(state, condition) == expected


def test_deltas_to_when_states_differ_then_signed_difference_of_every_field():
    before = START
    after = START.replace(energy=20, fatigue=30, level=2, loyalty=4)
    deltas = before.deltas_to(after)
    assert set(deltas) == set(rules.STATE_FIELDS)
    assert deltas["energy"] == -30
    assert deltas["fatigue"] == 30
    assert deltas["level"] == 1
    assert deltas["loyalty"] == 4
    assert deltas["streak"] == 0


def test_rules_from_mapping_when_settings_values_then_typed_fields():
    built = Rules.from_mapping(
        {"CHECKIN_ENERGY_GAIN": "30", "LEVEL_MULTIPLIER_STEP": "0.1", "LEVEL_MULTIPLIER_MAX": "2", "OTHER": 1}
    )
    assert built.checkin_energy_gain == 30
    assert built.level_multiplier_step == Decimal("0.1")
    assert built.level_multiplier_max == Decimal(2)
    assert built.fatigue_max == RULES.fatigue_max


def test_rules_from_mapping_when_project_settings_then_equal_the_spec_defaults(settings):
    assert Rules.from_mapping(settings.ENGAGEMENT) == RULES


# --- Properties: no sequence of changes ever leaves the bounds ----------------

_delta = st.integers(min_value=-100, max_value=100)
_step = st.one_of(
    st.tuples(st.just("check_in"), st.integers(min_value=1, max_value=60)),
    st.tuples(st.just("check_in"), st.integers(min_value=1, max_value=2)),
    st.tuples(st.just("tool"), _delta, _delta, _delta),
    st.tuples(st.just("exact"), _delta, _delta, _delta),
)


def _assert_within_bounds(state: State) -> None:
    assert 0 <= state.energy <= 100
    assert state.energy < 100, "energy that reaches 100 is turned into a level"
    assert 0 <= state.fatigue <= 100
    assert state.loyalty >= 0
    assert state.level >= 1
    assert state.longest_streak >= state.streak >= 0
    assert state.total_checkins >= state.streak
    assert 0 <= state.inventory_count <= state.inventory_capacity


@given(steps=st.lists(_step, max_size=60))
@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_rules_when_random_sequence_of_changes_then_state_stays_within_bounds(steps):
    state = START
    today = DAY_1 - timedelta(days=1)
    for step in steps:
        before = state
        if step[0] == "check_in":
            today += timedelta(days=step[1])
            state = rules.check_in(state, today, RULES)
            assert state.total_checkins == before.total_checkins + 1
            assert state.streak == (before.streak + 1 if step[1] == 1 and before.last_checkin_day else 1)
        elif step[0] == "tool":
            state = rules.apply_tool(state, energy=step[1], fatigue=step[2], loyalty=step[3], rules=RULES)
        else:
            state = rules.apply_exact(state, energy=step[1], fatigue=step[2], loyalty=step[3], rules=RULES)
        _assert_within_bounds(state)
        assert state.level - before.level in (0, 1), "at most one level per change"
        assert state.longest_streak >= before.longest_streak


_valid_state = st.builds(
    State,
    energy=st.integers(min_value=0, max_value=99),
    fatigue=st.integers(min_value=0, max_value=100),
    loyalty=st.integers(min_value=0, max_value=10_000),
    level=st.integers(min_value=1, max_value=500),
)


@given(state=_valid_state, deltas=st.tuples(_delta, _delta, _delta), exact=st.booleans())
@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_rules_when_any_valid_state_gets_any_effect_then_state_stays_within_bounds(state, deltas, exact):
    apply = rules.apply_exact if exact else rules.apply_tool
    after = apply(state, energy=deltas[0], fatigue=deltas[1], loyalty=deltas[2], rules=RULES)
    _assert_within_bounds(after)
    assert after.level - state.level in (0, 1)
    if not exact and deltas[2] > 0:
        assert after.loyalty - state.loyalty == rules.round_half_away(
            deltas[2] * rules.loyalty_multiplier(state.level, RULES)
        )


@given(
    energy=st.integers(min_value=0, max_value=99),
    fatigue=st.integers(min_value=0, max_value=100),
    level=st.integers(min_value=1, max_value=500),
    gap=st.integers(min_value=1, max_value=1000),
)
@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_check_in_when_any_valid_state_and_gap_then_bounds_hold_and_gain_matches_formula(
    energy, fatigue, level, gap
):
    state = START.replace(
        energy=energy,
        fatigue=fatigue,
        level=level,
        streak=1,
        longest_streak=1,
        total_checkins=1,
        last_checkin_day=DAY_1,
    )
    after = rules.check_in(state, DAY_1 + timedelta(days=gap), RULES)
    _assert_within_bounds(after)
    rested = max(0, fatigue - 10 * (gap - 1))
    gain = rules.round_half_away(Decimal(20 * (100 - rested)) / 100)
    if after.level == level:
        assert after.energy == energy + gain
    else:
        assert energy + gain >= 100
        assert (after.energy, after.level) == (0, level + 1)
    assert after.fatigue == min(100, rested + 10)
