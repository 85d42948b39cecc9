"""Production settings: `check --deploy` is clean, and a missing secret key stops the process."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.subprocess

PROJECT_ROOT = Path(settings.BASE_DIR)
# Every name settings.py reads; each subprocess starts from none of them.
_OWN_VARIABLES = ("DJANGO_", "DATABASE_", "REDIS_URL", "JWT_", "THROTTLE_", "NUM_PROXIES", "ENGAGEMENT_")


def _manage(*args: str, **variables: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_VARIABLES)}
    env.update(variables)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _production(**overrides: str) -> dict[str, str]:
    return {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "api.example.com",
        **overrides,
    }


def test_check_deploy_production_env_passes_at_warning_level():
    completed = _manage("check", "--deploy", "--fail-level", "WARNING", **_production())

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "no issues" in completed.stdout


def test_check_deploy_plain_http_fails_at_warning_level():
    # Shows the check above has teeth: turning a production safeguard off is reported.
    completed = _manage(
        "check", "--deploy", "--fail-level", "WARNING", **_production(DJANGO_SECURE_SSL_REDIRECT="false")
    )

    assert completed.returncode != 0
    assert "security.W008" in completed.stdout + completed.stderr


def test_settings_debug_false_without_secret_key_refuse_to_load():
    completed = _manage("check", DJANGO_DEBUG="false", DJANGO_ALLOWED_HOSTS="api.example.com")

    assert completed.returncode != 0
    assert "DJANGO_SECRET_KEY" in completed.stderr


def test_settings_debug_unset_without_secret_key_refuse_to_load():
    # DJANGO_DEBUG defaults to false: a forgotten variable never yields a guessable key.
    completed = _manage("check", DJANGO_ALLOWED_HOSTS="api.example.com")

    assert completed.returncode != 0
    assert "DJANGO_SECRET_KEY" in completed.stderr


def test_settings_debug_true_without_secret_key_load():
    completed = _manage("check", DJANGO_DEBUG="true")

    assert completed.returncode == 0, completed.stderr


def test_settings_debug_false_with_empty_secret_key_refuse_to_load():
    completed = _manage(
        "check", DJANGO_DEBUG="false", DJANGO_SECRET_KEY="", DJANGO_ALLOWED_HOSTS="a.example.com"
    )

    assert completed.returncode != 0
    assert "SECRET_KEY" in completed.stderr
