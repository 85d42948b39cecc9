"""/healthz and /readyz, including readiness against a database that is down or unmigrated."""

import json
import os
from pathlib import Path

import pytest
from django.conf import settings

from engagement.testing import run_python

pytestmark = pytest.mark.django_db

PROJECT_ROOT = Path(settings.BASE_DIR)

# Runs in a fresh process: GET /readyz through django.test.Client, print status, body and the
# request's own duration (the process's start and exit are no part of what a probe waits for).
READYZ_SCRIPT = """
import json, time, django
django.setup()
from django.test import Client
client = Client()
started = time.monotonic()
response = client.get("/readyz")
print(json.dumps({
    "status": response.status_code,
    "body": response.content.decode(),
    "request_id": response.get("X-Request-ID"),
    "seconds": time.monotonic() - started,
}), flush=True)
"""
# An orchestrator gives a probe a few seconds (docker/healthcheck: 3 s): the answer comes within
# READINESS_DB_TIMEOUT (2 s) plus this machine's slack, whatever the pool's own wait (10 s).
PROBE_SECONDS = 4.5


def _readyz_in_subprocess(database_url: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "engagement.settings",
        "DATABASE_URL": database_url,
        # The pool's own wait stays at its default (10 s): the probe must not wait for it.
        "DATABASE_POOL_TIMEOUT": "10",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "test-secret-key-only-for-the-test-suite-0123456789",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_LOG_LEVEL": "CRITICAL",
    }
    completed = run_python("-c", READYZ_SCRIPT, env=env, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_healthz_returns_200(api_client):
    response = api_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_not_redirected_or_authenticated(api_client):
    response = api_client.get("/healthz", HTTP_AUTHORIZATION="Bearer garbage")

    assert response.status_code == 200


def test_readyz_database_up_and_migrated_returns_200(api_client):
    response = api_client.get("/readyz")

    assert response.status_code == 200
    cache = "ok" if "redis" in settings.CACHES["default"]["BACKEND"] else "local"
    assert response.json() == {"status": "ready", "cache": cache}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.subprocess
def test_readyz_database_down_returns_503_in_error_shape():
    result = _readyz_in_subprocess("postgres://postgres@127.0.0.1:1/nope")

    assert result["status"] == 503, result
    assert result["seconds"] < PROBE_SECONDS, result
    body = json.loads(result["body"])
    assert body == {"error": {"code": "database_unavailable", "message": "The database is unreachable."}}
    assert result["request_id"]
    assert "127.0.0.1" not in result["body"]


@pytest.mark.subprocess
def test_readyz_migrations_not_applied_returns_503(tmp_path):
    empty_database = tmp_path / "empty.sqlite3"
    empty_database.touch()

    result = _readyz_in_subprocess(f"sqlite:///{empty_database}")

    assert result["status"] == 503, result
    assert json.loads(result["body"])["error"]["code"] == "migrations_pending"
