"""Query budgets of buy and use: the same for a new user and for one with a long history."""

import pytest

from accounts.tests.factories import UserFactory
from engagement.testing import LEDGER_WRITE_STATEMENTS, SCORE_STATEMENTS, TAIL_WRITE_STATEMENTS
from inventory.tests.helpers import (
    API,
    add_history,
    assert_ledger_clean,
    client_for,
    grant_loyalty,
    holdings,
    stock,
)
from progression.models import StateEvent

pytestmark = pytest.mark.django_db

# Measured (the same with 500 prior events and several kinds held):
# buy 10 = auth user, tool, savepoint, state lock (with the rewards still to unlock, so no unlock
#          check when none holds), item upsert (one statement, whether the user held the tool or
#          not), state, event, outbox INSERT, daily rollup UPSERT, savepoint release;
# use 10 = auth user, savepoint, state lock (the same), the tool with the quantity held (one
#          SELECT), item update (or delete), state, event, outbox INSERT, daily rollup UPSERT,
#          savepoint release; a tool that earns loyalty adds the leaderboard UPSERT (11).
# (The savepoints stand in for BEGIN/COMMIT inside the test transaction.) On PostgreSQL, the
# state and the event are one statement, and so are the outbox INSERT and the rollup UPSERT
# (two fewer each).
BUY_BUDGET = 6 + LEDGER_WRITE_STATEMENTS + TAIL_WRITE_STATEMENTS
USE_BUDGET = 6 + LEDGER_WRITE_STATEMENTS + TAIL_WRITE_STATEMENTS + SCORE_STATEMENTS


@pytest.fixture
def veteran(catalog):
    """A user with 500 ledger events before the measured request."""
    user = UserFactory()
    add_history(user, 500)
    return user


def measure(django_assert_max_num_queries, budget, request) -> int:
    with django_assert_max_num_queries(budget) as captured:
        response = request()
    assert response.status_code in (200, 201), response.content
    return len(captured.captured_queries)


def test_buy_queries_when_history_and_inventory_grow_then_same_budget(
    user, veteran, django_assert_max_num_queries
):
    grant_loyalty(user, 10)
    stock(veteran, coffee=2, rest=1, focus=1)
    assert StateEvent.objects.filter(user=veteran).count() > 500
    fresh_client, veteran_client = client_for(user), client_for(veteran)

    fresh = measure(
        django_assert_max_num_queries, BUY_BUDGET, lambda: fresh_client.post(f"{API}/tools/coffee/buy/")
    )
    seasoned = measure(
        django_assert_max_num_queries, BUY_BUDGET, lambda: veteran_client.post(f"{API}/tools/coffee/buy/")
    )

    assert fresh == seasoned
    assert holdings(veteran) == {"coffee": 3, "rest": 1, "focus": 1}
    assert_ledger_clean()


def test_use_queries_when_history_and_inventory_grow_then_same_budget(
    user, veteran, django_assert_max_num_queries
):
    stock(user, coffee=2)
    stock(veteran, coffee=2, rest=2, focus=1)
    fresh_client, veteran_client = client_for(user), client_for(veteran)

    fresh = measure(
        django_assert_max_num_queries, USE_BUDGET, lambda: fresh_client.post(f"{API}/inventory/coffee/use/")
    )
    seasoned = measure(
        django_assert_max_num_queries, USE_BUDGET, lambda: veteran_client.post(f"{API}/inventory/coffee/use/")
    )
    last = measure(
        django_assert_max_num_queries, USE_BUDGET, lambda: veteran_client.post(f"{API}/inventory/focus/use/")
    )

    # Focus earns loyalty, so its use also scores on the leaderboards (one UPSERT, sent with the
    # change's other held writes on PostgreSQL); coffee does not.
    assert fresh == seasoned == last - SCORE_STATEMENTS
    assert holdings(veteran) == {"coffee": 1, "rest": 2}
    assert_ledger_clean()


def test_inventory_list_queries_when_several_kinds_then_constant(user, veteran, django_assert_num_queries):
    stock(user, coffee=1)
    stock(veteran, coffee=2, rest=2, focus=1)

    with django_assert_num_queries(3):  # auth user, items with their tools, state
        small = client_for(user).get(f"{API}/inventory/")
    with django_assert_num_queries(3):
        large = client_for(veteran).get(f"{API}/inventory/")

    assert (small.json()["used"], large.json()["used"]) == (1, 5)
