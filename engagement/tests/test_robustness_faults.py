"""Fault injection: the database dies or stalls mid-request, the cache is unreachable.

What a client must see: a 503 in the error shape (never a 500, a stack trace or SQL, never a
success for work that was rolled back), nothing half-written, and a working next request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from accounts.tests.factories import UserFactory, bearer_client
from engagement.models import IdempotencyKey
from engagement.testing import (
    SERVER_APP_NAME,
    assert_ledger_clean,
    bearer_header,
    run_in_threads,
    running_gunicorn,
)
from inventory.models import InventoryItem
from progression.models import DailyCheckIn, StateEvent, UserState
from progression.services import adjust_state

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CHECKINS = "/api/v1/checkins/"
BUY_COFFEE = "/api/v1/tools/coffee/buy/"
INITIAL = {"streak": 0, "energy": 50, "fatigue": 0, "loyalty": 0, "level": 1, "total_checkins": 0}


def side_connection() -> psycopg.Connection:
    """A second, independent connection to the test database (autocommit)."""
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
        autocommit=True,
    )


@contextlib.contextmanager
def backend_killed_after(sql_part: str) -> Iterator[list]:
    """Terminate this thread's database backend right after the first statement that writes
    `sql_part` (an INSERT may be a WITH clause of a larger statement: a check-in's row on
    PostgreSQL goes with its state row and event).

    Yields a list that receives the terminated backend's pid, so the test can prove the fault fired.
    """
    killed: list[int] = []
    killer = side_connection()

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not killed and sql_part in sql:
            pid = context["connection"].connection.info.backend_pid
            # The second argument waits (ms) until the backend is really gone.
            killer.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
            killed.append(pid)
        return result

    try:
        with connection.execute_wrapper(wrapper):
            yield killed
    finally:
        killer.close()


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "service_unavailable"
    assert response["Retry-After"] == "1"
    assert "X-Request-ID" in response
    text = response.content.decode().lower()
    for leak in ("traceback", "terminat", "insert into", "select ", "psycopg"):
        assert leak not in text


def answered_503_when_killed(sql_part: str, send) -> None:
    """send() with this thread's backend terminated right after the statement writing `sql_part`:
    the fault fired and the answer is the 503 retry-later."""
    with backend_killed_after(sql_part) as killed:
        response = send()
    assert killed, "the fault was never injected"
    assert_unavailable(response)


def assert_untouched(user, **expected) -> None:
    state = UserState.objects.get(user=user)
    for name, value in {**INITIAL, **expected}.items():
        assert getattr(state, name) == value, name
    assert_ledger_clean()


# --- the connection dies inside the transaction ------------------------------------


def test_checkin_connection_killed_after_checkin_insert_returns_503_and_leaves_nothing(user):
    client = bearer_client(user)

    answered_503_when_killed('INSERT INTO "progression_dailycheckin"', lambda: client.post(CHECKINS))
    assert not DailyCheckIn.objects.filter(user=user).exists()
    assert not StateEvent.objects.filter(user=user).exists()
    assert_untouched(user)
    retry = client.post(CHECKINS)
    assert retry.status_code == 201, retry.content
    assert DailyCheckIn.objects.filter(user=user).count() == 1
    assert_untouched(user, streak=1, energy=70, fatigue=10, loyalty=5, total_checkins=1)


def test_checkin_with_key_connection_killed_returns_503_and_same_key_then_executes_once(user):
    client = bearer_client(user)

    answered_503_when_killed(
        'INSERT INTO "progression_dailycheckin"',
        lambda: client.post(CHECKINS, HTTP_IDEMPOTENCY_KEY="retry-me"),
    )
    assert not IdempotencyKey.objects.exists()
    assert_untouched(user)
    retry = client.post(CHECKINS, HTTP_IDEMPOTENCY_KEY="retry-me")
    replay = client.post(CHECKINS, HTTP_IDEMPOTENCY_KEY="retry-me")
    assert retry.status_code == 201, retry.content
    assert "Idempotent-Replayed" not in retry
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (201, "true")
    assert DailyCheckIn.objects.filter(user=user).count() == 1


def test_buy_connection_killed_after_item_insert_returns_503_and_loyalty_is_kept(user, catalog):
    adjust_state(user=user, note="budget", loyalty=50)
    client = bearer_client(user)

    answered_503_when_killed(
        'INSERT INTO "inventory_inventoryitem"',
        lambda: client.post(BUY_COFFEE, {"quantity": 2}, format="json"),
    )
    assert not InventoryItem.objects.filter(user=user).exists()
    assert_untouched(user, loyalty=50)
    retry = client.post(BUY_COFFEE, {"quantity": 2}, format="json")
    assert retry.status_code == 201, retry.content
    assert_untouched(user, loyalty=30)


def test_connection_killed_after_key_insert_returns_503_not_idempotency_key_in_use(user):
    client = bearer_client(user)

    answered_503_when_killed(
        'INSERT INTO "engagement_idempotencykey"', lambda: client.post(CHECKINS, HTTP_IDEMPOTENCY_KEY="k")
    )
    assert not IdempotencyKey.objects.exists()
    assert client.post(CHECKINS, HTTP_IDEMPOTENCY_KEY="k").status_code == 201


def test_connection_killed_while_storing_the_answer_returns_503_never_a_201_for_lost_work(user):
    """The check-in ran, then storing its answer failed: the client must not be told 201."""
    client = bearer_client(user)

    answered_503_when_killed(
        'UPDATE "engagement_idempotencykey"', lambda: client.post(CHECKINS, HTTP_IDEMPOTENCY_KEY="k")
    )
    assert not DailyCheckIn.objects.filter(user=user).exists()
    assert not IdempotencyKey.objects.exists()
    assert_untouched(user)
    retry = client.post(CHECKINS, HTTP_IDEMPOTENCY_KEY="k")
    assert retry.status_code == 201, retry.content
    assert_untouched(user, streak=1, energy=70, fatigue=10, loyalty=5, total_checkins=1)


# --- the database stalls ----------------------------------------------------------------


@contextlib.contextmanager
def statement_timeout(milliseconds: int) -> Iterator[None]:
    """Shorten this session's statement_timeout (production: DATABASE_STATEMENT_TIMEOUT_MS)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {int(milliseconds)}")
    try:
        yield
    finally:
        if connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("RESET statement_timeout")


def test_state_row_locked_past_statement_timeout_returns_503_then_recovers(user):
    client = bearer_client(user)
    holder = side_connection()
    try:
        holder.execute("BEGIN")
        holder.execute("SELECT 1 FROM progression_userstate WHERE user_id = %s FOR UPDATE", [user.pk])
        with statement_timeout(300):
            response = client.post(CHECKINS)
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert_unavailable(response)
    assert not DailyCheckIn.objects.filter(user=user).exists()
    assert_untouched(user)
    assert client.post(CHECKINS).status_code == 201


def test_duplicate_waiting_on_a_key_past_statement_timeout_returns_409_idempotency_key_in_use(user):
    """A first request still running (its key row uncommitted): the duplicate never executes."""
    client = bearer_client(user)
    body = client.post(CHECKINS, HTTP_IDEMPOTENCY_KEY="warm-up")  # the real fingerprint, stored
    assert body.status_code == 201
    record = IdempotencyKey.objects.get(key="warm-up")
    holder = side_connection()
    try:
        holder.execute("BEGIN")
        holder.execute(
            "INSERT INTO engagement_idempotencykey (scope, key, fingerprint, response_body, content_type,"
            " created_at) VALUES (%s, 'in-flight', %s, '', '', now())",
            [record.scope, record.fingerprint],
        )
        with statement_timeout(300):
            response = client.post(CHECKINS, HTTP_IDEMPOTENCY_KEY="in-flight")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "idempotency_key_in_use"
    assert DailyCheckIn.objects.filter(user=user).count() == 1


# --- the cache is unreachable -------------------------------------------------------------


UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient", "SOCKET_CONNECT_TIMEOUT": 1},
        "KEY_PREFIX": "engagement",
    }
}


def test_redis_unreachable_throttled_endpoints_still_answer(api_client, user, catalog):
    client = bearer_client(user)
    with override_settings(CACHES=UNREACHABLE_REDIS):
        anonymous = api_client.get("/api/v1/tools/")
        authenticated = client.get("/api/v1/me/")
        login = api_client.post(
            "/api/v1/auth/token/", {"email": user.email, "password": "wrong"}, format="json"
        )
        check_in = client.post(CHECKINS, HTTP_IDEMPOTENCY_KEY="k")

    assert anonymous.status_code == 200, anonymous.content
    assert authenticated.status_code == 200, authenticated.content
    assert login.status_code == 401, login.content
    assert check_in.status_code == 201, check_in.content


# --- many requests while connections die ---------------------------------------------------


def test_concurrent_checkins_while_one_backend_is_killed_never_half_write(catalog):
    users = [UserFactory() for _ in range(6)]
    clients = [bearer_client(u) for u in users]

    def send(index: int) -> int:
        if index == 0:
            with backend_killed_after('INSERT INTO "progression_dailycheckin"'):
                return clients[index].post(CHECKINS).status_code
        return clients[index].post(CHECKINS).status_code

    statuses = run_in_threads(len(users), send, timeout=30)
    assert sorted(statuses) == [201] * (len(users) - 1) + [503]
    assert DailyCheckIn.objects.count() == len(users) - 1
    assert not DailyCheckIn.objects.filter(user=users[0]).exists()
    assert_ledger_clean()


# --- the database restarts under a running server ----------------------------------------------


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.xfail(
    not settings.DATABASES["default"].get("CONN_HEALTH_CHECKS"),
    strict=True,
    reason="the psycopg pool hands out dead sessions unless CONN_HEALTH_CHECKS is on (settings.py)",
)
def test_server_after_its_pooled_database_sessions_are_killed_answers_every_request(user, tmp_path):
    """A database restart or failover kills every idle pooled session: none may reach a client."""
    headers = bearer_header(user)
    with (
        running_gunicorn(tmp_path, workers=1) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as client,
    ):
        assert [client.get("/api/v1/me/", headers=headers).status_code for _ in range(5)] == [200] * 5
        killer = side_connection()
        try:
            killed = killer.execute(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                # This server's sessions only: other test runs may share the cluster.
                " WHERE application_name = %s AND datname = current_database()",
                [SERVER_APP_NAME],
            ).fetchone()[0]
        finally:
            killer.close()
        statuses = [client.get("/api/v1/me/", headers=headers).status_code for _ in range(10)]

    assert killed >= 1
    assert statuses == [200] * 10
