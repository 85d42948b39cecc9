"""The rollup kept by the after-change consumer, through the real services, against the ledger."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import UserFactory
from analytics import rules
from analytics.models import DailyCount
from analytics.rules import Metric
from analytics.services import count_webhook_delivery, ledger_counts, rebuild_rollups, rollup_counts
from analytics.tests.history import Player, at, seed_history
from engagement.testing import assert_ledger_clean
from inventory.services import buy_tool, use_tool
from progression.services import adjust_state, check_in

pytestmark = pytest.mark.django_db

TODAY = date(2030, 3, 20)


def totals(metric, subgroup=""):
    counts = rollup_counts(list(Metric))
    return {day: value for (m, day, sub), value in counts.items() if m == metric and sub == subgroup}


def assert_rollup_matches_ledger():
    assert rollup_counts() == ledger_counts()


def test_rollup_when_weeks_of_activity_then_equals_the_ledger_counted_afresh(catalog):
    seed_history(TODAY)
    assert_rollup_matches_ledger()
    assert_ledger_clean()
    assert DailyCount.objects.filter(metric=Metric.CHECKINS).count() > 30


def test_rollup_when_user_shops_before_checking_in_then_active_once_that_day(catalog, time_machine):
    user = UserFactory()
    time_machine.move_to(at(TODAY, 8), tick=False)
    adjust_state(user=user, note="grant", loyalty=40)
    assert totals(Metric.ACTIVE_USERS) == {}  # an operator's grant makes no one active
    buy_tool(user=user, slug="coffee")
    time_machine.move_to(at(TODAY, 9), tick=False)
    use_tool(user=user, slug="coffee")
    check_in(user=user)

    assert totals(Metric.ACTIVE_USERS) == {TODAY: 1}
    assert totals(Metric.CHECKINS) == {TODAY: 1}
    assert totals(Metric.TOOL_ITEMS_BOUGHT, "coffee") == {TODAY: 1}
    assert totals(Metric.TOOL_ITEMS_USED, "coffee") == {TODAY: 1}
    assert totals(Metric.LOYALTY_EARNED) == {TODAY: 40 + 5}
    assert totals(Metric.LOYALTY_SPENT) == {TODAY: 10}
    assert_rollup_matches_ledger()


def test_rollup_when_check_ins_1_7_and_30_days_after_registering_then_each_retained_once(
    catalog, time_machine
):
    joined = TODAY - timedelta(days=30)
    time_machine.move_to(at(joined, 7), tick=False)
    user = UserFactory()
    for offset in (1, 2, 7, 29, 30):
        time_machine.move_to(at(joined + timedelta(days=offset)), tick=False)
        check_in(user=user)

    assert {sub: v for (m, day, sub), v in rollup_counts().items() if m == Metric.RETAINED} == {
        "d1": 1,
        "d7": 1,
        "d30": 1,
    }
    assert {day for (m, day, _), _ in rollup_counts().items() if m == Metric.RETAINED} == {joined}
    assert_rollup_matches_ledger()


def test_rollup_when_change_rolls_back_then_nothing_counted(catalog, time_machine):
    user = UserFactory()
    time_machine.move_to(at(TODAY), tick=False)
    with pytest.raises(RuntimeError), transaction.atomic():
        check_in(user=user)
        raise RuntimeError("the caller fails after the check-in")

    assert DailyCount.objects.count() == 0
    assert_rollup_matches_ledger()


def test_rollup_when_check_in_then_one_upsert_statement_for_every_counter(catalog, time_machine):
    time_machine.move_to(at(TODAY - timedelta(days=1), 7), tick=False)
    user = UserFactory()
    time_machine.move_to(at(TODAY - timedelta(days=1)), tick=False)
    check_in(user=user)
    time_machine.move_to(at(TODAY), tick=False)

    with CaptureQueriesContext(connection) as captured:
        check_in(user=user)

    rollup = [q["sql"] for q in captured.captured_queries if DailyCount._meta.db_table in q["sql"]]
    assert len(rollup) == 1, rollup
    # Its own statement, or on PostgreSQL the last of the outbox job's (engagement.db.writes_together).
    assert rollup[0].startswith(('INSERT INTO "analytics_dailycount"', "WITH "))
    assert 'INSERT INTO "analytics_dailycount"' in rollup[0]
    assert "ON CONFLICT" in rollup[0]
    assert totals(Metric.CHECKINS) == {TODAY - timedelta(days=1): 1, TODAY: 1}
    assert totals(Metric.ACTIVE_USERS) == {TODAY - timedelta(days=1): 1, TODAY: 1}
    assert totals(Metric.RETAINED, "d1") == {TODAY - timedelta(days=1): 1}  # the cohort's registration day
    assert totals(Metric.LOYALTY_EARNED) == {TODAY - timedelta(days=1): 5, TODAY: 5}


def test_count_webhook_delivery_when_recorded_then_counted_by_result_and_day(db, time_machine):
    time_machine.move_to(at(TODAY), tick=False)
    count_webhook_delivery(result="succeeded")
    count_webhook_delivery(result="succeeded")
    count_webhook_delivery(result="failed", at=at(TODAY - timedelta(days=1)))

    assert totals(Metric.WEBHOOK_DELIVERIES, "succeeded") == {TODAY: 2}
    assert totals(Metric.WEBHOOK_DELIVERIES, "failed") == {TODAY - timedelta(days=1): 1}


@pytest.mark.parametrize("result", ["", "Failed", "failed!", "x" * 33, "2xx"])
def test_count_webhook_delivery_when_result_not_a_slug_then_refused_and_nothing_counted(db, result):
    with pytest.raises(ValueError, match="result"):
        count_webhook_delivery(result=result)
    assert DailyCount.objects.count() == 0


def test_rebuild_rollups_when_rollup_lost_or_wrong_then_corrected_and_the_rest_untouched(catalog):
    seed_history(
        TODAY, players=(Player("a", 10, (9, 8, 6, 1), shopping_days_ago=(8,)), Player("b", 3, (2, 1)))
    )
    count_webhook_delivery(result="failed")
    expected = rollup_counts()
    DailyCount.objects.filter(metric=Metric.CHECKINS).delete()
    DailyCount.objects.filter(metric=Metric.LOYALTY_EARNED).update(value=999)
    untouched = set(DailyCount.objects.filter(metric=Metric.RETAINED).values_list("pk", "shard", "value"))

    report = rebuild_rollups()

    assert rollup_counts() == expected == ledger_counts()
    assert report.counters == len(expected)
    assert set(report.corrected) == {Metric.CHECKINS, Metric.LOYALTY_EARNED}
    assert set(DailyCount.objects.filter(metric=Metric.CHECKINS).values_list("shard", flat=True)) == {0}
    assert (
        set(DailyCount.objects.filter(metric=Metric.RETAINED).values_list("pk", "shard", "value"))
        == untouched
    )
    assert totals(Metric.WEBHOOK_DELIVERIES, "failed") == {timezone.now().date(): 1}


def test_rebuild_rollups_when_counter_over_counted_in_another_shard_then_one_row_with_the_right_sum(
    catalog, time_machine
):
    time_machine.move_to(at(TODAY), tick=False)
    user = UserFactory()
    check_in(user=user)
    DailyCount.objects.create(
        metric=Metric.CHECKINS, day=TODAY, shard=(rules.shard_of(user.pk) + 1) % 32, value=5
    )

    rebuild_rollups()

    assert list(DailyCount.objects.filter(metric=Metric.CHECKINS).values_list("shard", "value")) == [(0, 1)]
    assert rollup_counts() == ledger_counts()


def test_dailycount_when_row_breaks_a_constraint_then_database_refuses_it(db):
    DailyCount.objects.create(metric="checkins", day=TODAY, shard=1, value=1)
    for bad in (
        {"metric": "checkins", "day": TODAY, "shard": 1, "value": 1},  # the same key twice
        {"metric": "checkins", "day": TODAY, "shard": 32, "value": 1},
        {"metric": "checkins", "day": TODAY, "shard": -1, "value": 1},
        {"metric": "checkins", "day": TODAY, "shard": 2, "value": -1},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            DailyCount.objects.create(**bad)
    assert DailyCount.objects.count() == 1
