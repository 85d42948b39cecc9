"""manage.py rebuild_rollups, and its --check."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from analytics.models import DailyCount
from analytics.rules import Metric
from analytics.services import ledger_counts, rollup_counts
from analytics.tests.history import Player, seed_history

pytestmark = pytest.mark.django_db

TODAY = date(2030, 3, 20)


@pytest.fixture
def history(catalog):
    seed_history(TODAY, players=(Player("a", 9, (8, 7, 1), shopping_days_ago=(7,)), Player("b", 2, (1, 0))))


def run(*args) -> str:
    out = StringIO()
    call_command("rebuild_rollups", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_check_when_rollup_kept_by_the_services_then_ok(history):
    assert "rollup OK" in run("--check")


def test_check_when_a_counter_is_wrong_then_exit_1_naming_it_and_nothing_changed(history):
    DailyCount.objects.filter(metric=Metric.CHECKINS, day=TODAY).delete()
    before = rollup_counts()

    with pytest.raises(CommandError, match="differs from the ledger in 1 counters") as raised:
        call_command("rebuild_rollups", "--check", stdout=StringIO(), stderr=(err := StringIO()))

    assert raised.value.returncode == 1
    assert f"checkins on {TODAY}: ledger 1, rollup 0" in err.getvalue()
    assert rollup_counts() == before


def test_rebuild_when_rollup_emptied_then_restored_and_check_passes(history):
    expected = rollup_counts()
    DailyCount.objects.all().delete()

    output = run()

    assert "rollup rebuilt from the ledger" in output
    assert f"{len(expected)} counters" in output
    assert rollup_counts() == expected == ledger_counts()
    assert "rollup OK" in run("--check")


def test_rebuild_when_run_twice_then_same_rows(history):
    run()
    first = sorted(DailyCount.objects.values_list("metric", "day", "subgroup", "shard", "value"))
    run()
    assert sorted(DailyCount.objects.values_list("metric", "day", "subgroup", "shard", "value")) == first
