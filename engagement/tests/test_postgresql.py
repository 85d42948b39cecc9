"""The PostgreSQL backend: the pool's health check without a round trip, and the PgBouncer settings."""

import datetime
import json
import os
import subprocess
import sys

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.utils import timezone
from psycopg.pq import Format

from engagement.postgresql.base import (
    TIMESTAMPTZ_OID,
    CompiledUtcLoader,
    check_pooled_connection,
    has_compiled_loaders,
)

pytestmark = pytest.mark.postgres

_OWN_VARIABLES = ("DJANGO_", "DATABASE_", "REDIS_URL", "JWT_", "THROTTLE_", "NUM_PROXIES", "ENGAGEMENT_")


def _session() -> psycopg.Connection:
    params = connection.get_connection_params()
    keep = {k: params[k] for k in ("dbname", "user", "password", "host", "port") if params.get(k)}
    return psycopg.connect(**keep, autocommit=True)


def _last_statement(side: psycopg.Connection, pid: int) -> str:
    return side.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]


def test_check_when_session_is_alive_then_passes_without_a_round_trip():
    with _session() as pooled, _session() as side:
        pooled.execute("SELECT 'the last statement'")
        pid = pooled.info.backend_pid

        check_pooled_connection(pooled)

        assert _last_statement(side, pid) == "SELECT 'the last statement'"
        assert pooled.execute("SELECT 1").fetchone() == (1,)


def test_check_when_server_ended_the_session_then_raises():
    with _session() as pooled, _session() as side:
        pid = pooled.info.backend_pid
        assert side.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone() == (True,)

        with pytest.raises(psycopg.OperationalError):
            check_pooled_connection(pooled)


def test_check_when_connection_closed_then_raises():
    pooled = _session()
    pooled.close()

    with pytest.raises(psycopg.OperationalError):
        check_pooled_connection(pooled)


def test_settings_when_postgresql_then_engine_with_the_pool_check():
    assert settings.DATABASES["default"]["ENGINE"] == "engagement.postgresql"
    assert connection.pool is not None
    assert connection.pool._check is check_pooled_connection  # the pool gives no public getter


def _database_settings(**variables: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_VARIABLES)}
    env.update(DJANGO_DEBUG="true", DATABASE_URL="postgres://app@db.example.com:6432/app", **variables)
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "db = settings.DATABASES['default']; "
        "print(json.dumps({k: db.get(k) for k in ('ENGINE', 'DISABLE_SERVER_SIDE_CURSORS', 'OPTIONS')}))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "engagement.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_settings_when_pgbouncer_then_no_server_side_cursors_prepared_statements_or_startup_options():
    db = _database_settings(DATABASE_PGBOUNCER="true")

    assert db["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "prepare_threshold" in db["OPTIONS"]
    assert db["OPTIONS"]["prepare_threshold"] is None
    assert "options" not in db["OPTIONS"]
    assert db["OPTIONS"]["pool"]["max_size"] >= 1


def test_settings_when_direct_then_statement_timeout_sent_at_startup():
    db = _database_settings(DATABASE_STATEMENT_TIMEOUT_MS="1234")

    assert db["OPTIONS"]["options"] == "-c statement_timeout=1234"
    assert not db.get("DISABLE_SERVER_SIDE_CURSORS")


@pytest.mark.parametrize(
    ("variables", "expected"),
    [({}, True), ({"DATABASE_PGBOUNCER": "true"}, True), ({"DATABASE_SERVER_SIDE_BINDING": "false"}, False)],
)
def test_settings_when_postgresql_then_server_side_binding_unless_turned_off(variables, expected):
    assert _database_settings(**variables)["OPTIONS"]["server_side_binding"] is expected


@pytest.mark.django_db
def test_connection_when_server_side_binding_then_parameters_sent_apart_from_the_sql():
    # psycopg's server-side binding cursor: the statement text keeps its placeholders ($1), and
    # the values travel as parameters, so a value that looks like SQL stays a value.
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text, %s::int + 1", ["'; SELECT 1; --", 41])
        assert cursor.fetchone() == ("'; SELECT 1; --", 42)
        raw = cursor.cursor
        assert not isinstance(raw, psycopg.ClientCursor)
        assert b"$1" in raw._query.query


@pytest.mark.django_db
def test_timestamptz_when_read_then_the_compiled_loader_gives_what_djangos_loader_gives():
    """Our connections read timestamptz with psycopg's compiled loader (CompiledUtcLoader); a
    session with Django's own loader reads the same values, aware, in datetime.UTC."""
    sql = (
        "SELECT %s::timestamptz, '1999-12-31 23:59:59.5+05:30'::timestamptz, "
        "'0001-01-01 00:00:00+00'::timestamptz, NULL::timestamptz"
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(sql, [now])
        ours = cursor.fetchone()
    with _session() as side:
        register_tzloader(datetime.UTC, side)  # what Django registers on its connections
        side.execute("SET TIME ZONE 'UTC'")
        theirs = side.execute(sql, [now]).fetchone()

    assert has_compiled_loaders()  # psycopg-binary is in the lock files
    assert connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is CompiledUtcLoader
    assert ours == theirs
    assert ours[:2] == (now, datetime.datetime(1999, 12, 31, 18, 29, 59, 500000, tzinfo=datetime.UTC))
    assert [value.tzinfo for value in ours[:3]] == [datetime.UTC] * 3 and ours[3] is None
