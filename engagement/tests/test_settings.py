"""Production settings: `check --deploy` is clean, and a missing secret key stops the process."""

import secrets
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from engagement.testing import SETTINGS_VARIABLES, environment_without, manage_py

pytestmark = pytest.mark.subprocess

PROJECT_ROOT = Path(settings.BASE_DIR)


def _manage(*args: str, **variables: str) -> subprocess.CompletedProcess:
    """manage.py in a child process that sees none of settings.py's variables but `variables`."""
    return manage_py(*args, env=environment_without(*SETTINGS_VARIABLES, **variables))


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
