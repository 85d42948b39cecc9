"""`manage.py changepassword` (run in a child process, answering its prompts) ends every session."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD
from engagement import settings as project_settings
from engagement.testing import SETTINGS_VARIABLES, assert_error, current_database_url, environment_without

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.subprocess]

NEW_PASSWORD = "quartz-lantern-meadow-58"


@pytest.fixture(autouse=True)
def production_hashers(settings):
    """The child process hashes with the production hashers; this process must read the hash."""
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS


def log_in(email: str, password: str) -> dict:
    response = APIClient().post("/api/v1/auth/token/", {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def changepassword(email: str, answers: str) -> subprocess.CompletedProcess:
    """The command with `answers` on its standard input. A new session has no terminal, so the
    password prompts read the input instead of a terminal."""
    env = environment_without(
        *SETTINGS_VARIABLES, DATABASE_URL=current_database_url(), DJANGO_DEBUG="true", PYTHONWARNINGS="ignore"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "changepassword", email],
        check=False,
        cwd=settings.BASE_DIR,
        env=env,
        input=answers,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )


def test_changepassword_then_password_changed_and_every_earlier_token_refused(user):
    pair = log_in(user.email, DEFAULT_PASSWORD)

    result = changepassword(user.email, f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")

    assert result.returncode == 0, result.stderr
    assert f"Password changed successfully for user '{user.email}'" in result.stdout
    assert f"Every session of {user.email} ended (1 refresh token(s) revoked)." in result.stdout
    stored = User.objects.get(pk=user.pk)
    assert stored.check_password(NEW_PASSWORD)
    assert stored.token_version == user.token_version + 1
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert_error(client.get("/api/v1/me/"), 401, "token_not_valid")
    refused = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert_error(refused, 401, "token_not_valid")
    assert log_in(user.email, NEW_PASSWORD)["access"]


def test_changepassword_when_the_passwords_differ_then_nothing_changes_and_sessions_live(user):
    pair = log_in(user.email, DEFAULT_PASSWORD)

    result = changepassword(user.email, f"{NEW_PASSWORD}\nsomething-else-entirely-9\n" * 3)

    assert result.returncode == 1
    assert "Aborting password change" in result.stderr
    stored = User.objects.get(pk=user.pk)
    assert stored.check_password(DEFAULT_PASSWORD)
    assert stored.token_version == user.token_version
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert client.get("/api/v1/me/").status_code == 200
