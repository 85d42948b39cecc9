"""Real threads on PostgreSQL: many users changing at once add to shared counters without loss or
deadlock, and a rebuild in the middle of them loses nothing and counts nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounts.tests.factories import UserFactory
from analytics.rules import Metric
from analytics.services import ledger_counts, rebuild_rollups, rollup_counts
from engagement.testing import run_in_threads
from inventory.services import buy_tool
from inventory.tests.helpers import assert_ledger_clean, grant_loyalty
from progression.services import check_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOON = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
THREADS = 16


def test_rollup_when_sixteen_users_check_in_and_buy_at_once_then_every_count_kept(catalog, time_machine):
    time_machine.move_to(NOON, tick=True)
    users = [UserFactory() for _ in range(THREADS)]
    for user in users:
        grant_loyalty(user, 10)

    def work(i: int) -> None:
        check_in(user=users[i])
        buy_tool(user=users[i], slug="coffee")

    run_in_threads(THREADS, work)

    counts = rollup_counts()
    assert counts[(Metric.CHECKINS, NOON.date(), "")] == THREADS
    assert counts[(Metric.ACTIVE_USERS, NOON.date(), "")] == THREADS
    assert counts[(Metric.TOOL_ITEMS_BOUGHT, NOON.date(), "coffee")] == THREADS
    assert counts == ledger_counts()
    assert_ledger_clean()


def test_rebuild_when_check_ins_commit_meanwhile_then_rollup_equals_the_ledger(catalog, time_machine):
    time_machine.move_to(NOON, tick=True)
    users = [UserFactory() for _ in range(THREADS)]

    def work(i: int) -> None:
        if i % 4 == 0:
            rebuild_rollups()
        else:
            check_in(user=users[i])

    run_in_threads(THREADS, work)

    assert rollup_counts()[(Metric.CHECKINS, NOON.date(), "")] == THREADS - THREADS // 4
    assert rollup_counts() == ledger_counts()
