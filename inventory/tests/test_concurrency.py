"""Simultaneous buys and uses by one user on PostgreSQL, with real threads."""

import random
import threading
import time
from collections import Counter
from datetime import date, timedelta

import pytest

from inventory.models import InventoryItem
from inventory.tests.helpers import (
    API,
    assert_ledger_clean,
    client_for,
    error_code,
    grant_loyalty,
    holdings,
    noon,
    run_in_threads,
    state_of,
    stock,
)
from progression.models import DailyCheckIn, EventKind, StateEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def outcomes(responses) -> Counter:
    return Counter((response.status_code, error_code(response)) for response in responses)


def test_buys_when_ten_at_once_and_loyalty_for_one_then_exactly_one_succeeds(user, catalog):
    grant_loyalty(user, 10)
    clients = [client_for(user) for _ in range(10)]

    responses = run_in_threads(10, lambda i: clients[i].post(f"{API}/tools/coffee/buy/"))

    assert outcomes(responses) == {(201, None): 1, (409, "insufficient_loyalty"): 9}
    state = state_of(user)
    assert (state.loyalty, state.inventory_count) == (0, 1)
    assert holdings(user) == {"coffee": 1}
    assert StateEvent.objects.filter(user=user, kind=EventKind.TOOL_PURCHASE).count() == 1
    assert_ledger_clean()


def test_uses_when_ten_at_once_and_one_held_then_exactly_one_succeeds(user, catalog):
    stock(user, coffee=1)
    clients = [client_for(user) for _ in range(10)]

    responses = run_in_threads(10, lambda i: clients[i].post(f"{API}/inventory/coffee/use/"))

    assert outcomes(responses) == {(200, None): 1, (409, "not_in_inventory"): 9}
    assert not InventoryItem.objects.filter(user=user).exists()
    state = state_of(user)
    assert (state.inventory_count, state.energy, state.fatigue) == (0, 65, 2)
    assert StateEvent.objects.filter(user=user, kind=EventKind.TOOL_USE).count() == 1
    assert_ledger_clean()


def test_buys_when_five_at_once_and_room_for_one_then_rest_inventory_full(user, catalog):
    stock(user, coffee=2, rest=1, focus=1)
    grant_loyalty(user, 500)
    clients = [client_for(user) for _ in range(5)]
    slugs = ["coffee", "rest", "focus", "coffee", "rest"]

    responses = run_in_threads(5, lambda i: clients[i].post(f"{API}/tools/{slugs[i]}/buy/"))

    assert outcomes(responses) == {(201, None): 1, (409, "inventory_full"): 4}
    assert state_of(user).inventory_count == 5
    assert sum(holdings(user).values()) == 5
    assert_ledger_clean()


MIXED_SECONDS = 3.0
MIXED_THREADS = 8
EXPECTED = {
    (200, None),
    (201, None),
    (409, "already_checked_in"),
    (409, "insufficient_loyalty"),
    (409, "inventory_full"),
    (409, "not_in_inventory"),
}


def test_mixed_load_when_eight_threads_for_three_seconds_then_no_error_and_no_lost_update(
    user, catalog, time_machine
):
    """Check-ins, buys and uses interleave on one user while the clock runs a day every 100 ms."""
    time_machine.move_to(noon(date(2031, 1, 6)), tick=True)
    grant_loyalty(user, 5000)
    # One token per thread, valid across the simulated weeks.
    clients = [client_for(user, lifetime=timedelta(days=3650)) for _ in range(MIXED_THREADS)]
    stop = threading.Event()

    def clock():
        while not stop.wait(0.1):
            time_machine.shift(timedelta(days=1))

    def hammer(index: int) -> list[tuple[str, int, str | None]]:
        rng = random.Random(index)
        client, seen = clients[index], []
        deadline = time.monotonic() + MIXED_SECONDS
        while time.monotonic() < deadline:
            op = rng.choice(["checkin", "buy", "buy", "use", "use"])
            slug = rng.choice(["coffee", "rest", "focus"])
            if op == "checkin":
                response = client.post(f"{API}/checkins/")
            elif op == "buy":
                response = client.post(f"{API}/tools/{slug}/buy/", {"quantity": rng.randint(1, 2)})
            else:
                response = client.post(f"{API}/inventory/{slug}/use/")
            seen.append(
                (op, response.status_code, error_code(response) if response.status_code >= 400 else None)
            )
        return seen

    ticker = threading.Thread(target=clock)
    ticker.start()
    try:
        results = run_in_threads(MIXED_THREADS, hammer)
    finally:
        stop.set()
        ticker.join()

    calls = [call for thread in results for call in thread]
    assert {(status, code) for _, status, code in calls} <= EXPECTED
    done = Counter(op for op, status, _ in calls if status < 400)
    assert done["checkin"] >= 2, "the clock should have allowed several check-ins"
    assert done["buy"] >= 1
    assert done["use"] >= 1
    events = Counter(StateEvent.objects.filter(user=user).values_list("kind", flat=True))
    assert events[EventKind.CHECK_IN] == done["checkin"] == DailyCheckIn.objects.filter(user=user).count()
    assert events[EventKind.TOOL_PURCHASE] == done["buy"]
    assert events[EventKind.TOOL_USE] == done["use"]
    state = state_of(user)
    assert state.inventory_count == sum(holdings(user).values())
    assert state.total_checkins == done["checkin"]
    assert_ledger_clean()
