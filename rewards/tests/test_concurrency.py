"""Simultaneous claims of one reward, and a change that waited for the lock (PostgreSQL, real threads)."""

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import psycopg
import pytest
from django.db import connection, connections, transaction

from inventory.services import buy_tool
from inventory.tests.helpers import (
    API,
    assert_ledger_clean,
    client_for,
    error_code,
    grant_loyalty,
    run_in_threads,
    state_of,
)
from progression.models import EventKind, StateEvent
from progression.services import check_in
from rewards import services
from rewards.models import UserReward

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_claims_when_ten_at_once_then_one_paid_and_nine_already_claimed(user, catalog):
    start = date(2031, 1, 6)
    for offset in range(3):
        check_in(user=user, today=start + timedelta(days=offset))
    loyalty = state_of(user).loyalty
    clients = [client_for(user) for _ in range(10)]

    responses = run_in_threads(10, lambda i: clients[i].post(f"{API}/rewards/streak_3/claim/"))

    outcomes = Counter((r.status_code, error_code(r) if r.status_code >= 400 else None) for r in responses)
    assert outcomes == {(200, None): 1, (409, "already_claimed"): 9}
    assert state_of(user).loyalty == loyalty + 10
    assert StateEvent.objects.filter(user=user, kind=EventKind.REWARD_CLAIM).count() == 1
    assert UserReward.objects.get(user=user, reward_id="streak_3").claimed_at is not None
    assert_ledger_clean()


def _wait_until_a_session_waits_for_a_lock(timeout: float = 10.0) -> None:
    params = connection.get_connection_params()
    keep = {k: params[k] for k in ("dbname", "user", "password", "host", "port") if params.get(k)}
    deadline = time.monotonic() + timeout
    with psycopg.connect(**keep, autocommit=True) as side:
        while time.monotonic() < deadline:
            # Only the buy can wait for a lock here (its statement's text may be cut short).
            waiting = side.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()[0]
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("no session waited for the state's lock")


def test_change_when_it_waited_for_a_holder_that_unlocked_a_reward_then_it_does_not_unlock_it_again(
    user, catalog, monkeypatch
):
    """The candidates lock_state reads with the lock are as of its statement's snapshot, taken
    before it waited: the reward the holder unlocked is still among them. The buy after it must
    neither unlock it a second time (the unique constraint) nor report it."""
    start = date(2031, 1, 6)
    for offset in range(2):
        check_in(user=user, today=start + timedelta(days=offset))
    grant_loyalty(user, 100)
    # What the buy's unlocking was handed, to show that it did see the stale candidates.
    handed: list = []
    eligible = services.eligible_rewards

    def recording(**kwargs):
        handed.append(kwargs["candidates"])
        return eligible(**kwargs)

    monkeypatch.setattr(services, "eligible_rewards", recording)

    def buy():
        try:
            return buy_tool(user=user, slug="coffee")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        with transaction.atomic():
            third = check_in(user=user, today=start + timedelta(days=2))
            assert [r.slug for r in third.change.unlocked_rewards] == ["streak_3"]
            waiting = pool.submit(buy)
            _wait_until_a_session_waits_for_a_lock()
        bought = waiting.result(timeout=30)

    # The check-in's unlocking was handed the candidates before streak_3; the buy's still had it.
    assert [{slug for slug, _, _ in candidates} for candidates in handed] == [
        {"checkins_10", "streak_3", "streak_7"},
        {"checkins_10", "streak_3", "streak_7"},
    ]
    assert bought.change.unlocked_rewards == ()
    assert list(UserReward.objects.filter(user=user).values_list("reward_id", flat=True)) == ["streak_3"]
    assert state_of(user).streak == 3
    assert StateEvent.objects.filter(user=user, kind=EventKind.TOOL_PURCHASE).count() == 1
    assert_ledger_clean()
