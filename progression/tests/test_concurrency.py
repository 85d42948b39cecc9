"""Real threads on PostgreSQL: simultaneous check-ins and state creation for one user."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from accounts.tests.factories import UserFactory, bearer_client
from engagement.testing import assert_ledger_clean, run_in_threads
from progression.models import DailyCheckIn, StateEvent, UserState
from progression.services import adjust_state, ensure_state

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20
NOON = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)  # far from midnight: every request lands on one UTC day


def run_together(count: int, work: Callable[[int], object]) -> list[object]:
    """Run work(i) in `count` threads released at once, this thread's pooled connection handed back."""
    return run_in_threads(count, work, close_connection=True)


@pytest.mark.parametrize("with_state", [True, False], ids=["state-exists", "no-state-row-yet"])
def test_checkins_when_twenty_at_once_for_one_user_then_one_201_and_nineteen_409(time_machine, with_state):
    time_machine.move_to(NOON, tick=True)
    user = UserFactory(with_state=with_state)
    clients = [bearer_client(user) for _ in range(THREADS)]

    responses = run_together(THREADS, lambda i: clients[i].post("/api/v1/checkins/"))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: THREADS - 1}, [r.content for r in responses if r.status_code >= 500]
    refused = [r.json()["error"]["code"] for r in responses if r.status_code == 409]
    assert refused == ["already_checked_in"] * (THREADS - 1)
    winner = next(r.json() for r in responses if r.status_code == 201)
    assert winner["state"]["total_checkins"] == 1

    assert DailyCheckIn.objects.filter(user=user).count() == 1
    assert StateEvent.objects.filter(user=user, kind="check_in").count() == 1
    assert StateEvent.objects.filter(user=user).count() == 1
    state = UserState.objects.get(user=user)
    assert (state.streak, state.total_checkins, state.energy) == (1, 1, 70)
    assert_ledger_clean()


def test_ensure_state_when_twenty_threads_race_then_one_row_created_once():
    user = UserFactory(with_state=False)

    outcomes = run_together(THREADS, lambda i: ensure_state(user))

    assert sum(created for _, created in outcomes) == 1
    assert {state.pk for state, _ in outcomes} == {user.pk}
    assert UserState.objects.filter(user=user).count() == 1
    assert UserState.objects.get(user=user).energy == 50
    assert_ledger_clean()


def test_bootstrap_when_twenty_requests_race_then_one_201_and_the_rest_200():
    user = UserFactory(with_state=False)
    clients = [bearer_client(user) for _ in range(THREADS)]

    responses = run_together(THREADS, lambda i: clients[i].post("/api/v1/me/bootstrap/"))

    assert Counter(r.status_code for r in responses) == {201: 1, 200: THREADS - 1}
    assert {r.json()["state"]["energy"] for r in responses} == {50}
    assert UserState.objects.filter(user=user).count() == 1


def test_checkins_when_many_users_at_once_then_each_gets_exactly_one(time_machine):
    time_machine.move_to(NOON, tick=True)
    users = UserFactory.create_batch(5)
    clients = [bearer_client(users[i % 5]) for i in range(THREADS)]

    responses = run_together(THREADS, lambda i: clients[i].post("/api/v1/checkins/"))

    assert Counter(r.status_code for r in responses) == {201: 5, 409: THREADS - 5}
    for user in users:
        assert DailyCheckIn.objects.filter(user=user).count() == 1
        assert UserState.objects.get(user=user).total_checkins == 1
    assert_ledger_clean()


def test_state_changes_when_twenty_threads_mix_check_in_and_adjustments_then_no_lost_update(time_machine):
    time_machine.move_to(NOON, tick=True)
    user = UserFactory()
    client = bearer_client(user)

    def work(index: int):
        if index == 0:
            return client.post("/api/v1/checkins/").status_code
        adjust_state(user=user, note=f"thread {index}", loyalty=1, fatigue=1)
        return "adjusted"

    outcomes = run_together(THREADS, work)

    assert Counter(outcomes) == {201: 1, "adjusted": THREADS - 1}
    state = UserState.objects.get(user=user)
    # Check-in: +5 loyalty, +10 fatigue; each adjustment +1 and +1, whatever the order.
    assert state.loyalty == 5 + (THREADS - 1)
    assert state.fatigue == 10 + (THREADS - 1)
    assert StateEvent.objects.filter(user=user).count() == THREADS
    assert_ledger_clean()
