"""Fixed SQL budgets for the hot endpoints, whatever the length of the user's history."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from accounts.tests.factories import UserFactory, bearer_client
from engagement.testing import (
    CHECK_IN_WRITE_STATEMENTS,
    LEDGER_WRITE_STATEMENTS,
    SCORE_STATEMENTS,
    TAIL_WRITE_STATEMENTS,
    assert_ledger_clean,
    statements_run,
)
from progression.changes import ChangeResult
from progression.models import DailyCheckIn, StateEvent
from progression.services import lock_state
from progression.tests.factories import build_checkin_history
from rewards.models import UserReward
from rewards.services import unlock_after_change

# Measured, and kept: raise one only with a reason.
# POST checkins/: user (token auth), SAVEPOINT (the service's atomic inside the test's
# transaction), state FOR UPDATE (with the rewards the user could still unlock: no eligibility
# query unless one of them holds after the change), INSERT check-in, UPDATE state and INSERT
# event (these three in one statement on PostgreSQL: CHECK_IN_WRITE_STATEMENTS), the INSERT of
# the outbox job (the change's webhook messages), the overview's daily rollup UPSERT
# and the leaderboard scores' UPSERT (these three in one statement on PostgreSQL), RELEASE.
CHECK_IN_QUERIES = 4 + CHECK_IN_WRITE_STATEMENTS + TAIL_WRITE_STATEMENTS + SCORE_STATEMENTS
# The same without transaction control: the documented budget of a check-in (README "Performance").
CHECK_IN_STATEMENTS = 2 + CHECK_IN_WRITE_STATEMENTS + TAIL_WRITE_STATEMENTS + SCORE_STATEMENTS
# What the outbox may add to a check-in, whatever the messages: one statement, or none on
# PostgreSQL, where its INSERT goes with the rollup's.
OUTBOX_STATEMENTS = TAIL_WRITE_STATEMENTS - 1
# GET me/: user (token auth), state.
ME_QUERIES = 2
# GET checkins/ and GET me/events/: user (token auth), one page (cursor pagination does not count).
LIST_QUERIES = 2

HISTORY_SIZES = [0, 500]

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_with_history(request, catalog):
    """A user whose `request.param` past daily check-ins end yesterday, rewards already settled."""
    user = UserFactory()
    days = request.param
    if days:
        build_checkin_history(user, days=days, last_day=timezone.now().date() - timedelta(days=1))
        # Unlock (and auto-claim) what that history earned, through the real consumer, so today's
        # check-in is a plain one, as it would be for a user who had checked in all along.
        with transaction.atomic():
            state = lock_state(user)
            values = state.to_values()
            unlock_after_change(state=state, change=ChangeResult(before=values, after=values, events=()))
        assert UserReward.objects.filter(user=user).count() == 3
    assert DailyCheckIn.objects.filter(user=user).count() == days
    assert StateEvent.objects.filter(user=user).count() >= days
    return user


@pytest.mark.parametrize("user_with_history", HISTORY_SIZES, indirect=True)
def test_check_in_when_any_history_length_then_fixed_query_budget(
    user_with_history, django_assert_max_num_queries
):
    client = bearer_client(user_with_history)
    with django_assert_max_num_queries(CHECK_IN_QUERIES):
        response = client.post("/api/v1/checkins/")
    assert response.status_code == 201, response.content
    assert_ledger_clean()


@pytest.mark.parametrize("user_with_history", HISTORY_SIZES, indirect=True)
def test_me_when_any_history_length_then_fixed_query_budget(user_with_history, django_assert_max_num_queries):
    client = bearer_client(user_with_history)
    with django_assert_max_num_queries(ME_QUERIES):
        response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert (
        response.json()["state"]["total_checkins"]
        == DailyCheckIn.objects.filter(user=user_with_history).count()
    )


@pytest.mark.parametrize("user_with_history", HISTORY_SIZES, indirect=True)
@pytest.mark.parametrize("url", ["/api/v1/checkins/", "/api/v1/me/events/"])
def test_history_lists_when_any_history_length_then_fixed_query_budget(
    user_with_history, url, django_assert_max_num_queries
):
    client = bearer_client(user_with_history)
    with django_assert_max_num_queries(LIST_QUERIES):
        response = client.get(url, {"page_size": 50})
    assert response.status_code == 200
    rows = StateEvent if "events" in url else DailyCheckIn
    assert len(response.json()["results"]) == min(50, rows.objects.filter(user=user_with_history).count())


@pytest.mark.parametrize("user_with_history", HISTORY_SIZES, indirect=True)
def test_check_in_when_any_history_length_then_fixed_statements_auth_included(user_with_history):
    """BEGIN, COMMIT and SAVEPOINT/RELEASE are not counted; authentication is."""
    client = bearer_client(user_with_history)
    with statements_run() as statements:
        response = client.post("/api/v1/checkins/")
    assert response.status_code == 201, response.content
    assert len(statements) == CHECK_IN_STATEMENTS, statements
    assert any("accounts_user" in sql for sql in statements)  # authentication is counted
    assert_ledger_clean()


@pytest.mark.parametrize("user_with_history", HISTORY_SIZES, indirect=True)
def test_check_in_when_outbox_enabled_then_it_costs_one_statement(user_with_history, settings):
    """The outbox consumer adds one INSERT (the queued job carrying the change's messages), no more
    (on PostgreSQL, inside the rollup's statement)."""
    outbox = [path for path in settings.ENGAGEMENT_AFTER_CHANGE if path.startswith("webhooks.")]
    assert outbox == ["webhooks.services.enqueue_after_change"]
    # After every consumer that records ledger events (reward auto-claims), so it sees them all.
    pipeline = settings.ENGAGEMENT_AFTER_CHANGE
    assert pipeline.index(outbox[0]) > pipeline.index("rewards.services.unlock_after_change")

    def statements_of_check_in(day_offset: int) -> list[str]:
        with time_machine.travel(timezone.now() + timedelta(days=day_offset), tick=False):
            client = bearer_client(user_with_history)  # a token minted on that day
            with statements_run() as statements:
                response = client.post("/api/v1/checkins/")
        assert response.status_code == 201, response.content
        return statements

    with_outbox = statements_of_check_in(0)
    settings.ENGAGEMENT_AFTER_CHANGE = [p for p in settings.ENGAGEMENT_AFTER_CHANGE if p not in outbox]
    without_outbox = statements_of_check_in(1)
    assert len(with_outbox) - len(without_outbox) == OUTBOX_STATEMENTS, with_outbox
    extra = [sql for sql in with_outbox if "django_q_ormq" in sql]
    assert len(extra) == 1 and 'INSERT INTO "django_q_ormq"' in extra[0], with_outbox
    assert not any("django_q_ormq" in sql for sql in without_outbox)


# POST checkins/ that consumes a freeze: the plain statements plus the freeze rows read, their
# DELETE (or UPDATE), the state UPDATE and the INSERT of the `freeze_consumed` event.
CHECK_IN_WITH_FREEZE_STATEMENTS = CHECK_IN_STATEMENTS + 2 + LEDGER_WRITE_STATEMENTS


def test_check_in_when_a_freeze_is_consumed_then_three_or_four_more_statements(time_machine, catalog):
    from inventory.services import buy_tool
    from progression.services import adjust_state, check_in

    user = UserFactory()
    check_in(user=user, today=timezone.now().date() - timedelta(days=2))
    adjust_state(user=user, loyalty=100, note="test budget")
    buy_tool(user=user, slug="freeze")
    client = bearer_client(user)
    with statements_run() as statements:
        response = client.post("/api/v1/checkins/")
    assert response.status_code == 201, response.content
    assert len(statements) == CHECK_IN_WITH_FREEZE_STATEMENTS, statements
    assert StateEvent.objects.filter(user=user, kind="freeze_consumed").count() == 1
    assert response.json()["state"]["freezes_held"] == 0
    assert_ledger_clean()


def test_me_when_pause_and_freezes_then_still_fixed_query_budget(catalog, django_assert_max_num_queries):
    from inventory.services import buy_tool
    from progression.services import adjust_state, schedule_pause

    user = UserFactory()
    adjust_state(user=user, loyalty=100, note="test budget")
    buy_tool(user=user, slug="freeze", quantity=2)
    schedule_pause(user=user, days=5)
    client = bearer_client(user)
    with django_assert_max_num_queries(ME_QUERIES):
        response = client.get("/api/v1/me/")
    state = response.json()["state"]
    assert (state["freezes_held"], state["pause"]["start_day"]) == (2, timezone.now().date().isoformat())
