"""The pure rules of local days and streak protection (no database, no clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement.testing import examples
from progression import rules
from progression.rules import DayClock, Pause

D10 = date(2030, 3, 10)


def clock(zone: str, hour: int = 0) -> DayClock:
    return DayClock(tz=ZoneInfo(zone), day_start_hour=hour)


def test_local_day_when_day_start_hour_then_early_hours_belong_to_the_day_before():
    warsaw = clock("Europe/Warsaw", 4)
    assert rules.local_day(datetime(2030, 5, 11, 3, 30, tzinfo=ZoneInfo("Europe/Warsaw")), warsaw) == date(
        2030, 5, 10
    )
    assert rules.local_day(datetime(2030, 5, 11, 4, 0, tzinfo=ZoneInfo("Europe/Warsaw")), warsaw) == date(
        2030, 5, 11
    )


@pytest.mark.parametrize(
    ("zone", "hour", "day", "expected"),
    [
        ("UTC", 0, date(2030, 3, 14), datetime(2030, 3, 14, tzinfo=UTC)),
        ("Pacific/Kiritimati", 0, date(2030, 3, 14), datetime(2030, 3, 13, 10, tzinfo=UTC)),
        ("Pacific/Pago_Pago", 0, date(2030, 3, 14), datetime(2030, 3, 14, 11, tzinfo=UTC)),
        # New York springs forward at 02:00 on 10 March 2030: 02:30 does not exist; the day
        # starting at 02:30 starts at the jump (03:00 EDT = 07:00 UTC).
        ("America/New_York", 2, date(2030, 3, 10), datetime(2030, 3, 10, 7, tzinfo=UTC)),
        # Falls back on 3 November 2030: 01:00 happens twice; the day starts at the first one.
        ("America/New_York", 1, date(2030, 11, 3), datetime(2030, 11, 3, 5, tzinfo=UTC)),
    ],
)
def test_day_start_when_any_zone_then_first_instant_of_the_local_day(zone, hour, day, expected):
    assert rules.day_start(day, clock(zone, hour)) == expected


@settings(max_examples=examples(300), deadline=None)
@given(
    zone=st.sampled_from(["Europe/Warsaw", "America/New_York", "Pacific/Kiritimati", "Australia/Lord_Howe"]),
    hour=st.integers(0, 23),
    day=st.dates(min_value=date(2029, 1, 1), max_value=date(2031, 12, 31)),
)
def test_day_start_when_any_day_then_local_day_changes_exactly_there(zone, hour, day):
    start = rules.day_start(day, clock(zone, hour))
    assert rules.local_day(start, clock(zone, hour)) == day
    assert rules.local_day(start - timedelta(seconds=1), clock(zone, hour)) < day


@pytest.mark.parametrize(
    ("today", "freezes", "pause", "expected"),
    [
        (D10 + timedelta(days=1), 0, None, (1, 0, 0, True)),
        (D10 + timedelta(days=2), 1, None, (2, 1, 1, True)),
        (D10 + timedelta(days=3), 2, None, (3, 2, 2, True)),
        (D10 + timedelta(days=3), 1, None, (3, 2, 0, False)),  # all or none
        (D10 + timedelta(days=16), 0, Pause(date(2030, 3, 11), date(2030, 3, 25)), (16, 0, 0, True)),
        (D10 + timedelta(days=17), 1, Pause(date(2030, 3, 11), date(2030, 3, 25)), (17, 1, 1, True)),
    ],
)
def test_plan_check_in_when_gaps_freezes_and_pauses_then_all_or_none(today, freezes, pause, expected):
    plan = rules.plan_check_in(today=today, last=D10, freezes_held=freezes, pause=pause)
    assert (plan.gap, plan.missed, plan.freezes_to_consume, plan.continues) == expected


def test_plan_check_in_when_forgiven_then_gap_counts_as_one():
    plan = rules.plan_check_in(
        today=D10 + timedelta(days=2), last=D10, freezes_held=0, pause=None, forgiven=True
    )
    assert (plan.gap, plan.continues, plan.freezes_to_consume) == (1, True, 0)


@pytest.mark.parametrize(
    ("freezes", "pause", "expected"),
    [
        (0, None, date(2030, 3, 11)),
        (2, None, date(2030, 3, 13)),  # the spec's example: expires at the start of day 14
        (1, Pause(date(2030, 3, 11), date(2030, 3, 24)), date(2030, 3, 26)),
    ],
)
def test_last_continuing_day_when_freezes_and_pause_then_counted(freezes, pause, expected):
    assert rules.last_continuing_day(last=D10, freezes_held=freezes, pause=pause) == expected


def test_end_pause_when_started_then_ends_yesterday_else_gone():
    pause = Pause(date(2030, 3, 5), date(2030, 3, 10))
    assert rules.end_pause(pause, today=date(2030, 3, 7)) == Pause(date(2030, 3, 5), date(2030, 3, 6))
    assert rules.end_pause(pause, today=date(2030, 3, 5)) is None


def test_settings_change_allowed_at_when_first_change_then_free():
    now = datetime(2030, 3, 1, tzinfo=UTC)
    assert rules.settings_change_allowed_at(None, rules.Rules()) is None
    assert rules.settings_change_allowed_at(now, rules.Rules()) == now + timedelta(days=7)
