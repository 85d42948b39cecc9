"""Simultaneous claims of one reward on PostgreSQL, with real threads."""

from collections import Counter
from datetime import date, timedelta

import pytest

from inventory.tests.helpers import API, assert_ledger_clean, client_for, error_code, run_in_threads, state_of
from progression.models import EventKind, StateEvent
from progression.services import check_in
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
