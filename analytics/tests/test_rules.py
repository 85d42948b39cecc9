"""What a change adds to the rollup, as pure functions of its events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from uuid import UUID

import pytest

from analytics import rules
from analytics.rules import SHARDS, Metric


def event(id, kind, *, at="2030-03-10T12:00", loyalty=0, items=0, reference="", checkin_day=None):
    return SimpleNamespace(
        id=id,
        kind=kind,
        reference=reference,
        created_at=datetime.fromisoformat(at).replace(tzinfo=UTC),
        last_checkin_day=checkin_day,
        loyalty_delta=loyalty,
        inventory_count_delta=items,
    )


D = date(2030, 3, 10)


def test_event_counts_when_check_in_with_auto_claim_then_one_check_in_and_all_loyalty_earned():
    events = [
        event(1, "check_in", loyalty=5, checkin_day=D),
        event(2, "reward_claim", loyalty=25, reference="streak_7"),
    ]
    assert rules.event_counts(events) == {(Metric.CHECKINS, D, ""): 1, (Metric.LOYALTY_EARNED, D, ""): 30}


def test_event_counts_when_purchase_and_use_then_items_per_tool_and_loyalty_spent():
    events = [
        event(1, "tool_purchase", loyalty=-20, items=2, reference="coffee"),
        event(2, "tool_use", loyalty=5, items=-1, reference="focus"),
    ]
    assert rules.event_counts(events) == {
        (Metric.LOYALTY_SPENT, D, ""): 20,
        (Metric.TOOL_ITEMS_BOUGHT, D, "coffee"): 2,
        (Metric.LOYALTY_EARNED, D, ""): 5,
        (Metric.TOOL_ITEMS_USED, D, "focus"): 1,
    }


def test_event_counts_when_check_in_day_differs_from_utc_day_then_check_in_counted_on_its_own_day():
    local_day = date(2030, 3, 11)  # a user east of UTC checked in on their 11th, at 22:00 UTC on the 10th
    counts = rules.event_counts(
        [event(1, "check_in", at="2030-03-10T22:00", loyalty=5, checkin_day=local_day)]
    )
    assert counts[(Metric.CHECKINS, local_day, "")] == 1
    assert counts[(Metric.LOYALTY_EARNED, D, "")] == 5


def test_activity_days_when_only_operator_events_then_nobody_active():
    assert rules.activity_days([event(1, "adjustment", loyalty=10), event(2, "reward_claim")]) == (
        (2, D),
        (),
    )
    assert rules.activity_days([event(1, "adjustment"), event(2, "leaderboard_prize")]) == (None, ())


def test_activity_days_when_change_runs_past_midnight_then_later_day_counts_unconditionally():
    first, later = rules.activity_days(
        [event(7, "check_in", at="2030-03-10T23:59:59"), event(8, "reward_claim", at="2030-03-11T00:00:01")]
    )
    assert first == (7, D)
    assert later == (date(2030, 3, 11),)


def test_retention_windows_when_check_in_then_registration_days_1_7_30_before():
    assert rules.retention_windows(D) == (
        (date(2030, 3, 9), "d1"),
        (date(2030, 3, 3), "d7"),
        (date(2030, 2, 8), "d30"),
    )


@pytest.mark.parametrize(
    "user_id", [UUID(int=0), UUID(int=SHARDS * 7 + 3), "00000000-0000-0000-0000-000000000005"]
)
def test_shard_of_when_any_user_id_then_stable_and_in_range(user_id):
    shard = rules.shard_of(user_id)
    assert 0 <= shard < SHARDS
    assert shard == rules.shard_of(str(user_id))
