"""Query budgets of claim and GET rewards/: the same however many rewards the user holds; the
rewards still to unlock read with the state's lock, so that a change where none holds asks nothing."""

import functools
import pickle
from datetime import date, timedelta

import pytest

from accounts.tests.factories import UserFactory
from engagement.testing import (
    LEDGER_WRITE_STATEMENTS,
    SCORE_STATEMENTS,
    TAIL_WRITE_STATEMENTS,
    statements_run,
)
from inventory.tests.helpers import API, assert_ledger_clean, client_for
from progression.changes import NOTHING, ChangeResult, locked_reads
from progression.services import check_in, lock_state
from rewards.models import UserReward
from rewards.services import CANDIDATES, unlock_after_change
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db

# Measured: claim 10 = auth user, reward, savepoint, state lock (with the rewards still to unlock:
# no unlock check unless one holds), user reward, claim update, state, event, leaderboard scores
# UPSERT, outbox INSERT, daily rollup UPSERT (+ savepoint release = 12; on PostgreSQL the scores
# go with the outbox INSERT and the rollup: SCORE_STATEMENTS); GET rewards/
# 4 = auth user, state, the user's rewards, the active definitions. The savepoint stands in for
# BEGIN/COMMIT in the test transaction. On PostgreSQL, the state and the event are one
# statement, and so are the outbox INSERT and the rollup UPSERT (two fewer).
CLAIM_BUDGET = 7 + LEDGER_WRITE_STATEMENTS + TAIL_WRITE_STATEMENTS + SCORE_STATEMENTS
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


def _eligibility_queries(statements: list[str]) -> int:
    return sum(sql.startswith("SELECT r.slug FROM") for sql in statements)


def test_lock_state_when_rewards_in_pipeline_then_its_statement_reads_the_rewards_still_to_unlock(
    catalog, django_assert_num_queries
):
    user = UserFactory()
    three_day_streak(user)  # streak_3 unlocked
    RewardFactory(slug="retired", threshold=1, is_active=False)

    with django_assert_num_queries(1):
        state = lock_state(user)

    assert state.locked_reads[CANDIDATES.name] == (
        ("checkins_10", "total_checkins", 10),
        ("streak_7", "streak", 7),
    )
    assert pickle.loads(pickle.dumps(state)).locked_reads == state.locked_reads


def _not_a_read(**kwargs):
    return NOTHING


_not_a_read.locked_read = "SELECT 1"  # type: ignore[attr-defined]


@functools.wraps(unlock_after_change)
def _wrapped(**kwargs):
    return unlock_after_change(**kwargs)


def test_locked_reads_when_a_consumer_has_another_attribute_or_is_listed_twice_then_each_read_once(
    settings,
):
    settings.ENGAGEMENT_AFTER_CHANGE = [
        "rewards.tests.test_queries._not_a_read",
        "rewards.services.unlock_after_change",
        "rewards.tests.test_queries._wrapped",  # functools.wraps copies the attribute
    ]
    assert locked_reads() == (CANDIDATES,)


def test_check_in_when_no_candidate_holds_then_no_eligibility_query_and_when_one_does_then_unlocked(
    catalog,
):
    user = UserFactory()
    start = date(2031, 1, 6)
    check_in(user=user, today=start)

    with statements_run() as second_day:
        second = check_in(user=user, today=start + timedelta(days=1))
    with statements_run() as third_day:
        third = check_in(user=user, today=start + timedelta(days=2))

    assert _eligibility_queries(second_day) == 0 and second.change.unlocked_rewards == ()
    assert _eligibility_queries(third_day) == 1
    assert [reward.slug for reward in third.change.unlocked_rewards] == ["streak_3"]
    assert list(UserReward.objects.filter(user=user).values_list("reward_id", flat=True)) == ["streak_3"]
    assert_ledger_clean()


def test_unlock_when_state_locked_without_the_read_then_the_query_decides(catalog, settings):
    user = UserFactory()
    three_day_streak(user)
    UserReward.objects.filter(user=user).delete()
    settings.ENGAGEMENT_AFTER_CHANGE = [
        path for path in settings.ENGAGEMENT_AFTER_CHANGE if path != "rewards.services.unlock_after_change"
    ]
    state = lock_state(user)
    assert dict(state.locked_reads) == {}
    values = state.to_values()
    change = ChangeResult(before=values, after=values, events=())

    with statements_run() as statements:
        outcome = unlock_after_change(state=state, change=change)

    assert _eligibility_queries(statements) == 1
    assert [reward.slug for reward in outcome.unlocked_rewards] == ["streak_3"]
    assert UserReward.objects.filter(user=user, reward_id="streak_3").exists()
