"""Query budgets of claim and GET rewards/: the same however many rewards the user holds."""

from datetime import date, timedelta

import pytest

from accounts.tests.factories import UserFactory
from engagement.testing import LEDGER_WRITE_STATEMENTS, TAIL_WRITE_STATEMENTS
from inventory.tests.helpers import API, assert_ledger_clean, client_for
from progression.services import check_in
from rewards.models import UserReward
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db

# Measured: claim 11 = auth user, reward, savepoint, state lock, user reward, claim update, state,
# event, unlock check, leaderboard scores UPSERT, outbox INSERT, daily rollup UPSERT (+ savepoint
# release = 13); GET rewards/
# 4 = auth user, state, the user's rewards, the active definitions. The savepoint stands in for
# BEGIN/COMMIT in the test transaction. On PostgreSQL, the state and the event are one
# statement, and so are the outbox INSERT and the rollup UPSERT (two fewer).
CLAIM_BUDGET = 9 + LEDGER_WRITE_STATEMENTS + TAIL_WRITE_STATEMENTS
LIST_BUDGET = 4


def three_day_streak(user) -> None:
    start = date(2031, 1, 6)
    for offset in range(3):
        check_in(user=user, today=start + timedelta(days=offset))


def measure(django_assert_max_num_queries, budget, request):
    """(number of queries, response) of one request, failing above the budget."""
    with django_assert_max_num_queries(budget) as captured:
        response = request()
    assert response.status_code == 200, response.content
    return len(captured.captured_queries), response


def list_then_claim(django_assert_max_num_queries, user):
    """(queries of GET rewards/, queries of the streak_3 claim, the listing) for a user on a 3-day streak."""
    client = client_for(user)
    listed, listing = measure(
        django_assert_max_num_queries, LIST_BUDGET, lambda: client.get(f"{API}/rewards/")
    )
    claimed, _ = measure(
        django_assert_max_num_queries, CLAIM_BUDGET, lambda: client.post(f"{API}/rewards/streak_3/claim/")
    )
    return listed, claimed, listing


def test_claim_and_list_queries_when_thirty_more_rewards_unlocked_then_same_count(
    catalog, django_assert_max_num_queries
):
    newcomer = UserFactory()
    three_day_streak(newcomer)
    list_few, claim_few, _ = list_then_claim(django_assert_max_num_queries, newcomer)

    for number in range(30):
        RewardFactory(slug=f"extra_{number:02d}", threshold=1)
    collector = UserFactory()
    three_day_streak(collector)
    assert UserReward.objects.filter(user=collector).count() == 31
    list_many, claim_many, listing = list_then_claim(django_assert_max_num_queries, collector)

    assert len(listing.json()) == 33
    assert sum(row["status"] == "unlocked" for row in listing.json()) == 31
    assert (list_few, claim_few) == (list_many, claim_many)
    assert_ledger_clean()
