"""SQL budgets for every endpoint through the real stack (authentication included).

Each budget is what the endpoint needs today, measured inside the test's transaction (so a
service's atomic() shows as SAVEPOINT/RELEASE). Raise one only with a reason. Every state change
(check-in, buy, use, claim) ends with one INSERT for the outbox (the queued job carrying its
webhook messages) and one UPSERT into the overview's daily rollup
(analytics.services.roll_up_after_change); its state row and event are one statement on
PostgreSQL, two elsewhere (engagement.db.update_then_insert), and so are its outbox job and
rollup (engagement.db.writes_together); a change that scores on a leaderboard (check-in,
claim, a use that earns loyalty) adds one UPSERT of its scores (leaderboards.services), which
goes with those two on PostgreSQL (SCORE_STATEMENTS). A check-in's own row goes with its state
row and event there (CHECK_IN_WRITE_STATEMENTS). The state's lock reads the rewards the user
could still unlock (progression.changes.LockedRead), so no change here queries reward
eligibility: none of them holds after it.
"""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory, bearer_client
from engagement.testing import (
    CHECK_IN_WRITE_STATEMENTS,
    LEDGER_WRITE_STATEMENTS,
    SCORE_STATEMENTS,
    TAIL_WRITE_STATEMENTS,
    statements_run,
)
from inventory.services import buy_tool
from progression.services import adjust_state, check_in

pytestmark = pytest.mark.django_db

# The state row with its event, and the outbox job with the rollup: 2 statements on PostgreSQL, 4
# elsewhere (see the module docstring).
CHANGE_WRITES = LEDGER_WRITE_STATEMENTS + TAIL_WRITE_STATEMENTS
# A check-in writes its own row with the state row and the event: one statement on PostgreSQL;
# its leaderboard scores go with the outbox job and the rollup there.
CHECK_IN_BUDGET = 4 + CHECK_IN_WRITE_STATEMENTS + TAIL_WRITE_STATEMENTS + SCORE_STATEMENTS
# A claim pays loyalty, so it scores too.
CLAIM_BUDGET = 7 + CHANGE_WRITES + SCORE_STATEMENTS

CASES = [
    # (name, method, path, body, authenticated, expected status, budget)
    ("tools list", "get", "/api/v1/tools/", None, False, 200, 1),
    ("tool detail", "get", "/api/v1/tools/coffee/", None, False, 200, 1),
    ("me", "get", "/api/v1/me/", None, True, 200, 1),  # the state comes with the user (authentication)
    ("me patch", "patch", "/api/v1/me/", {"display_name": "Ada"}, True, 200, 3),
    ("bootstrap", "post", "/api/v1/me/bootstrap/", None, True, 200, 2),
    ("events", "get", "/api/v1/me/events/", None, True, 200, 2),
    ("checkins list", "get", "/api/v1/checkins/", None, True, 200, 2),
    ("check-in", "post", "/api/v1/checkins/", None, True, 201, CHECK_IN_BUDGET),
    ("inventory", "get", "/api/v1/inventory/", None, True, 200, 3),
    ("buy", "post", "/api/v1/tools/coffee/buy/", {"quantity": 1}, True, 201, 6 + CHANGE_WRITES),
    ("use", "post", "/api/v1/inventory/coffee/use/", None, True, 200, 6 + CHANGE_WRITES),
    ("rewards", "get", "/api/v1/rewards/", None, True, 200, 4),
    ("claim", "post", "/api/v1/rewards/streak_3/claim/", None, True, 200, CLAIM_BUDGET),
]


@pytest.fixture
def player(catalog, time_machine):
    """A user three days into a streak (streak_3 unlocked), with loyalty and one coffee."""
    user = UserFactory()
    time_machine.move_to("2026-03-01T12:00:00Z", tick=False)
    for day in (1, 2, 3):
        time_machine.move_to(f"2026-03-0{day}T12:00:00Z", tick=False)
        check_in(user=user)
    adjust_state(user=user, note="budget test", loyalty=100)
    buy_tool(user=user, slug="coffee")
    time_machine.move_to("2026-03-04T12:00:00Z", tick=False)
    return user


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_endpoint_when_called_then_within_its_query_budget(player, django_assert_max_num_queries, case):
    _name, method, path, body, auth, status, budget = case
    client = bearer_client(player) if auth else APIClient()
    with django_assert_max_num_queries(budget):
        response = (
            getattr(client, method)(path, body, format="json") if body else getattr(client, method)(path)
        )
    assert response.status_code == status, response.content


def test_login_refresh_logout_when_called_then_within_budgets(
    player, api_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        login = api_client.post("/api/v1/auth/token/", {"email": player.email, "password": DEFAULT_PASSWORD})
    assert login.status_code == 200, login.content
    # Rotation: lock the outstanding token, the user's token version (a token issued before a
    # revocation is refused), then simplejwt's own statements: check the blacklist, blacklist
    # it (get_or_create), load the user, record the new pair. A cold path.
    with django_assert_max_num_queries(17):
        refreshed = api_client.post("/api/v1/auth/token/refresh/", {"refresh": login.json()["refresh"]})
    assert refreshed.status_code == 200, refreshed.content
    # Logout: the user (token auth), then simplejwt's blacklist check and get_or_create.
    with django_assert_max_num_queries(9):
        out = bearer_client(player).post("/api/v1/auth/logout/", {"refresh": refreshed.json()["refresh"]})
    assert out.status_code == 204, out.content


def test_register_when_called_then_within_budget(api_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(9):
        response = api_client.post(
            "/api/v1/auth/register/", {"email": "budget@example.com", "password": DEFAULT_PASSWORD}
        )
    assert response.status_code == 201, response.content


def test_keyed_check_in_when_called_then_authenticates_once_within_budget(player):
    """Idempotency-Key adds the key's INSERT, the trim of the user's keys past the newest 1,000,
    and its completing UPDATE, and nothing else.

    4 statements without a key on PostgreSQL, 8 elsewhere (README "Performance", the outbox, the
    leaderboard scores and the rollup included) + 3.
    """
    client = bearer_client(player)
    with statements_run() as statements:
        response = client.post("/api/v1/checkins/", HTTP_IDEMPOTENCY_KEY="budget-key-1")
    assert response.status_code == 201, response.content
    # One read of the user (the rollup's UPSERT looks up the registration day inside its INSERT).
    assert sum(sql.startswith("SELECT") and "accounts_user" in sql for sql in statements) == 1, statements
    assert len(statements) == CHECK_IN_BUDGET + 1, statements


@pytest.mark.postgres
def test_change_statements_when_sent_then_within_psycopgs_statement_cache(player, time_machine):
    """psycopg converts a statement's placeholders once and keeps the result, but only for a
    statement of at most 4,096 bytes and 50 parameters; a longer one is converted in Python on
    every call (56 us for one of 2,226 bytes and 54 parameters: 3% of a check-in's CPU). Every
    statement of the writes, a day-7 check-in with its auto-claim included, stays within both."""
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS

    sent: list[tuple[str, int]] = []

    def record(execute, sql, params, many, context):
        sent.append((sql, len(params or ())))
        return execute(sql, params, many, context)

    veteran = UserFactory()
    for day in range(1, 7):  # six days in: the next check-in unlocks and auto-claims streak_7
        time_machine.move_to(f"2026-02-0{day}T12:00:00Z", tick=False)
        check_in(user=veteran)
    time_machine.move_to("2026-02-07T12:00:00Z", tick=False)
    with connection.execute_wrapper(record):
        response = bearer_client(veteran).post("/api/v1/checkins/")
        assert response.status_code == 201 and response.json()["unlocked_rewards"], response.content
        time_machine.move_to("2026-03-04T12:00:00Z", tick=False)
        client = bearer_client(player)
        assert client.post("/api/v1/checkins/").status_code == 201
        assert client.post("/api/v1/tools/focus/buy/", {"quantity": 1}, format="json").status_code == 201
        assert client.post("/api/v1/inventory/focus/use/").status_code == 200
        assert client.post("/api/v1/inventory/coffee/use/").status_code == 200
        assert client.post("/api/v1/rewards/streak_3/claim/").status_code == 200

    assert len(sent) > 30, sent
    too_big = [
        (len(sql.encode()), count, sql[:80])
        for sql, count in sent
        if len(sql.encode()) > MAX_CACHED_STATEMENT_LENGTH or count > MAX_CACHED_STATEMENT_PARAMS
    ]
    assert too_big == []
