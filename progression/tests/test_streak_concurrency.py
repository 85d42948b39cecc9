"""Real threads on PostgreSQL: check-ins that consume freezes, racing each other and purchases."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest

from accounts.tests.factories import UserFactory, bearer_client
from engagement.audit import verify_ledger
from engagement.testing import run_in_threads
from inventory.models import InventoryItem
from inventory.services import buy_tool, seed_tools
from progression.models import DailyCheckIn, StateEvent, UserState
from progression.services import adjust_state, check_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20
DAY_12_NOON = datetime(2030, 3, 12, 12, 0, tzinfo=UTC)  # day 11 missed after a check-in on day 10


def _assert_ledger_clean() -> None:
    report = verify_ledger()
    assert report.ok, report.mismatches


def _user_with_freezes(count: int):
    seed_tools()
    user = UserFactory()
    check_in(user=user, today=date(2030, 3, 10))
    adjust_state(user=user, loyalty=100, note="test budget")
    if count:
        buy_tool(user=user, slug="freeze", quantity=count)
    return user


def test_checkins_when_twenty_at_once_on_a_day_needing_a_freeze_then_one_freeze_and_one_checkin(time_machine):
    user = _user_with_freezes(2)
    time_machine.move_to(DAY_12_NOON, tick=True)
    clients = [bearer_client(user) for _ in range(THREADS)]

    statuses = run_in_threads(THREADS, lambda i: clients[i].post("/api/v1/checkins/").status_code)

    assert Counter(statuses) == {201: 1, 409: THREADS - 1}
    assert DailyCheckIn.objects.filter(user=user, day=date(2030, 3, 12)).count() == 1
    assert StateEvent.objects.filter(user=user, kind="freeze_consumed").count() == 1
    assert InventoryItem.objects.get(user=user, tool_id="freeze").quantity == 1
    state = UserState.objects.get(user=user)
    assert (state.streak, state.freezes_held, state.inventory_count) == (2, 1, 1)
    _assert_ledger_clean()


@pytest.mark.parametrize("attempt", range(3))
def test_check_in_racing_a_freeze_purchase_when_together_then_serialized_in_some_order(time_machine, attempt):
    """No freeze held: if the purchase lands first, the check-in consumes it; otherwise it resets."""
    user = _user_with_freezes(0)
    check_in(user=user, today=date(2030, 3, 11))  # streak 2
    time_machine.move_to(datetime(2030, 3, 13, 12, 0, tzinfo=UTC), tick=True)  # day 12 missed
    client = bearer_client(user)

    def work(index: int) -> int:
        if index == 0:
            return client.post("/api/v1/checkins/").status_code
        return bearer_client(user).post("/api/v1/tools/freeze/buy/", {}, format="json").status_code

    assert run_in_threads(2, work) == [201, 201]

    state = UserState.objects.get(user=user)
    events = list(StateEvent.objects.filter(user=user).order_by("id").values_list("kind", flat=True))
    tail = events[-2:] if events[-1] == "tool_purchase" else events[-3:]
    if tail == ["check_in", "tool_purchase"]:  # check-in first: nothing to consume, streak reset
        assert (state.streak, state.freezes_held) == (1, 1)
    else:  # purchase first: the check-in consumed it and continued the streak
        assert tail == ["tool_purchase", "freeze_consumed", "check_in"]
        assert (state.streak, state.freezes_held) == (3, 0)
        assert not InventoryItem.objects.filter(user=user).exists()
    _assert_ledger_clean()
