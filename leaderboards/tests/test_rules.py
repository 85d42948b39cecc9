"""Periods, contributions and display names: pure rules."""

from datetime import UTC, date, datetime

import pytest

from leaderboards import rules

MONDAY = date(2026, 3, 2)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def event(kind="check_in", loyalty=5, streak=1, streak_delta=1, when=None) -> rules.LedgerEvent:
    return rules.LedgerEvent(kind, loyalty, streak, streak_delta, when or at(2))


@pytest.mark.parametrize(
    ("period", "day", "start", "following", "before"),
    [
        ("week", date(2026, 3, 8), MONDAY, date(2026, 3, 9), date(2026, 2, 23)),
        ("week", MONDAY, MONDAY, date(2026, 3, 9), date(2026, 2, 23)),
        ("week", date(2027, 1, 1), date(2026, 12, 28), date(2027, 1, 4), date(2026, 12, 21)),
        ("month", date(2026, 2, 28), date(2026, 2, 1), date(2026, 3, 1), date(2026, 1, 1)),
        ("month", date(2026, 12, 31), date(2026, 12, 1), date(2027, 1, 1), date(2026, 11, 1)),
        ("month", date(2026, 1, 15), date(2026, 1, 1), date(2026, 2, 1), date(2025, 12, 1)),
    ],
)
def test_periods_when_any_day_then_utc_week_or_month_bounds(period, day, start, following, before):
    assert rules.period_start(period, day) == start
    assert rules.next_start(period, start) == following
    assert rules.previous_start(period, start) == before


def test_all_time_when_any_day_then_one_period_without_end():
    assert rules.period_start("all_time", date(2031, 5, 5)) == rules.ALL_TIME_START
    assert rules.next_start("all_time", rules.ALL_TIME_START) is None
    assert rules.previous_start("all_time", rules.ALL_TIME_START) is None


@pytest.mark.parametrize(
    ("kind", "loyalty", "earned"),
    [
        ("check_in", 5, 5),
        ("tool_use", 5, 5),
        ("reward_claim", 10, 10),
        ("leaderboard_prize", 50, 50),
        ("adjustment", 100, 0),  # an operator's grant is not earned
        ("tool_purchase", -10, 0),  # spending never counts
        ("tool_use", -3, 0),
        ("streak_repair", -50, 0),
    ],
)
def test_loyalty_earned_when_event_kind_then_only_positive_earned_deltas(kind, loyalty, earned):
    assert rules.event_value("loyalty_earned", event(kind=kind, loyalty=loyalty)) == earned


def test_contributions_when_check_in_and_claim_then_sum_last_reached_and_best_streak():
    boards = [
        rules.Board("weekly_loyalty", "loyalty_earned", "week"),
        rules.Board("monthly_checkins", "check_ins", "month"),
        rules.Board("best_streak", "best_streak", "all_time"),
    ]
    events = [
        event("check_in", 5, streak=3, streak_delta=1, when=at(4, 10)),
        event("reward_claim", 10, streak=3, streak_delta=0, when=at(4, 11)),
    ]

    found = rules.contributions(boards, events)

    assert found == [
        rules.Contribution("best_streak", rules.ALL_TIME_START, 3, at(4, 10)),
        rules.Contribution("monthly_checkins", date(2026, 3, 1), 1, at(4, 10)),
        rules.Contribution("weekly_loyalty", MONDAY, 15, at(4, 11)),
    ]


def test_contributions_when_streak_not_raised_then_best_streak_untouched():
    board = rules.Board("best_streak", "best_streak", "all_time")
    assert rules.contributions([board], [event("tool_purchase", -10, streak=9, streak_delta=0)]) == []


def test_display_name_when_blank_then_player_and_six_hex_of_the_id():
    user_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert rules.display_name("", user_id) == "Player 3fa85f"
    assert rules.display_name("  ", user_id) == "Player 3fa85f"
    assert rules.display_name("Ada", user_id) == "Ada"
