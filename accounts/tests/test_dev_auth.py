"""The development header login (X-User-Id): a local tool, never on outside DEBUG."""

from __future__ import annotations

import secrets
import subprocess

import pytest
from django.conf import settings
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory

from accounts.authentication import DevHeaderAuthentication
from accounts.tests.factories import UserFactory
from engagement.testing import SETTINGS_VARIABLES, environment_without, manage_py

pytestmark = pytest.mark.django_db


def manage(*args: str, **variables: str) -> subprocess.CompletedProcess:
    return manage_py(*args, env=environment_without(*SETTINGS_VARIABLES, **variables))


def test_x_user_id_is_ignored_with_the_default_settings(api_client, user):
    response = api_client.get("/api/v1/me/", HTTP_X_USER_ID=str(user.pk))

    assert response.status_code == 401
    assert (
        "accounts.authentication.DevHeaderAuthentication"
        not in settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    )


@pytest.mark.subprocess
def test_dev_header_outside_debug_is_refused_by_the_system_check():
    completed = manage(
        "check",
        DJANGO_DEBUG="false",
        DEV_AUTH_HEADER="true",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="api.example.com",
    )

    assert completed.returncode != 0
    assert "engagement.E001" in completed.stderr + completed.stdout


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("variables", "installed"),
    [
        ({"DJANGO_DEBUG": "true", "DEV_AUTH_HEADER": "true"}, True),
        ({"DJANGO_DEBUG": "true"}, False),
        ({"DJANGO_DEBUG": "false", "DEV_AUTH_HEADER": "true", "DJANGO_SECRET_KEY": "k" * 50}, False),
    ],
)
def test_dev_header_is_installed_only_with_debug_and_the_flag(variables, installed):
    completed = manage(
        "shell",
        "-c",
        "from django.conf import settings; "
        "print('accounts.authentication.DevHeaderAuthentication' in "
        "settings.REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'])",
        DJANGO_ALLOWED_HOSTS="localhost",
        **variables,
    )

    assert completed.stdout.strip().splitlines()[-1] == str(installed), completed.stderr


def test_dev_header_authentication_logs_in_as_the_named_active_user():
    user = UserFactory()
    request = APIRequestFactory().get("/api/v1/me/", HTTP_X_USER_ID=str(user.pk))

    assert DevHeaderAuthentication().authenticate(request) == (user, None)


@pytest.mark.parametrize("value", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "inactive"])
def test_dev_header_authentication_refuses_unknown_or_inactive_users(value):
    if value == "inactive":
        value = str(UserFactory(is_active=False).pk)
    request = APIRequestFactory().get("/api/v1/me/", HTTP_X_USER_ID=value)

    with pytest.raises(AuthenticationFailed):
        DevHeaderAuthentication().authenticate(request)
