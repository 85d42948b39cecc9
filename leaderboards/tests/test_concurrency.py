"""Scores under races: real threads, real PostgreSQL; scores always equal a recount of the ledger."""

from __future__ import annotations

from collections import Counter

import pytest

from accounts.tests.factories import UserFactory
from engagement.audit import verify_ledger
from engagement.errors import NotInInventory
from engagement.testing import run_in_threads
from inventory.services import buy_tool, use_tool
from leaderboards.tests.helpers import API, assert_scores_match_ledger, client_for, scores
from progression.services import adjust_state

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_check_ins_when_fifty_users_at_once_then_scores_equal_the_ledger(catalog):
    users = [UserFactory() for _ in range(50)]
    clients = [client_for(user) for user in users]

    responses = run_in_threads(50, lambda i: clients[i].post(f"{API}/checkins/"))

    assert Counter(r.status_code for r in responses) == {201: 50}
    assert_scores_match_ledger()
    assert set(scores("weekly_loyalty").values()) == {5}
    assert len(scores("monthly_checkins")) == 50
    ranks = [client_for(u).get(f"{API}/leaderboards/weekly_loyalty/me/").json()["rank"] for u in users]
    assert sorted(ranks) == list(range(1, 51))  # a total order: no two users share a rank
    assert verify_ledger().ok


def test_tool_uses_when_same_user_from_eight_threads_then_scores_equal_the_ledger(catalog, user):
    adjust_state(user=user, note="race setup", loyalty=100)
    buy_tool(user=user, slug="focus", quantity=5)

    def use(_):
        try:
            return use_tool(user=user, slug="focus").change.changes["loyalty"]
        except NotInInventory:
            return None

    outcomes = run_in_threads(8, use)

    assert sorted(outcomes, key=lambda x: x is None) == [5, 5, 5, 5, 5, None, None, None]
    assert scores("weekly_loyalty") == {user.pk: 25}
    assert_scores_match_ledger()
    assert verify_ledger().ok


def test_visibility_when_toggled_while_checking_in_then_rows_follow_the_last_setting(catalog):
    users = [UserFactory() for _ in range(10)]

    def work(i):
        user = users[i % 10]
        if i < 10:
            return client_for(user).post(f"{API}/checkins/").status_code
        return client_for(user).patch(f"{API}/me/", {"leaderboard_visible": False}, format="json").status_code

    assert Counter(run_in_threads(20, work)) == {201: 10, 200: 10}
    from leaderboards.models import LeaderboardEntry

    assert LeaderboardEntry.objects.filter(user__in=users).count() == 30
    assert not LeaderboardEntry.objects.filter(user__in=users, visible=True).exists()
