"""Ending sessions: password change, an operator's password reset, logout from everywhere.

Each revocation must refuse every refresh token of the user and every access token issued
before it (401 token_not_valid), and leave tokens issued afterwards working.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from engagement.testing import assert_error

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
PASSWORD = "/api/v1/auth/password/"
ME = "/api/v1/me/"
NEW_PASSWORD = "quartz-lantern-meadow-58"


def log_in(email: str, password: str = DEFAULT_PASSWORD, **extra) -> dict:
    response = APIClient().post(TOKEN, {"email": email, "password": password}, format="json", **extra)
    assert response.status_code == 200, response.content
    return response.json()


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def rotate(refresh: str):
    return APIClient().post(REFRESH, {"refresh": refresh}, format="json")


def assert_session_dead(pair: dict) -> None:
    assert_error(bearer(pair["access"]).get(ME), 401, "token_not_valid")
    assert_error(rotate(pair["refresh"]), 401, "token_not_valid")


def assert_session_alive(pair: dict) -> None:
    assert bearer(pair["access"]).get(ME).status_code == 200
    assert rotate(pair["refresh"]).status_code == 200


# --- POST auth/password/ ------------------------------------------------------


def test_password_change_when_current_is_right_then_204_and_every_earlier_token_refused(user):
    phone, laptop = log_in(user.email), log_in(user.email)
    rotated = rotate(laptop["refresh"]).json()  # a refresh token issued by rotation, not by login

    response = bearer(phone["access"]).post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert_session_dead(phone)
    assert_session_dead(rotated)
    assert not OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).exists()
    fresh = User.objects.get(pk=user.pk)
    assert fresh.check_password(NEW_PASSWORD)
    assert fresh.token_version == 1


def test_password_change_then_new_login_works_and_old_password_is_refused(user):
    pair = log_in(user.email)
    bearer(pair["access"]).post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )

    after = log_in(user.email, NEW_PASSWORD)

    assert_session_alive(after)
    old = APIClient().post(TOKEN, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
    assert_error(old, 401, "invalid_credentials")


def test_password_change_when_current_is_wrong_then_400_and_nothing_changes(user):
    pair = log_in(user.email)

    response = bearer(pair["access"]).post(
        PASSWORD, {"current_password": "not-my-password", "new_password": NEW_PASSWORD}, format="json"
    )

    assert_error(response, 400, "invalid_current_password")
    assert User.objects.get(pk=user.pk).check_password(DEFAULT_PASSWORD)
    assert_session_alive(pair)


@pytest.mark.parametrize(
    ("new_password", "reason"),
    [("short", "at least 8 characters"), ("password123", "too common"), (DEFAULT_PASSWORD, "must differ")],
)
def test_password_change_when_new_password_is_refused_then_400_on_new_password(user, new_password, reason):
    pair = log_in(user.email)

    response = bearer(pair["access"]).post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": new_password}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"new_password"}
    assert reason in " ".join(error["fields"]["new_password"])
    assert_session_alive(pair)


def test_password_change_when_no_token_then_401(api_client, user):
    response = api_client.post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )

    assert_error(response, 401, "not_authenticated")
    assert User.objects.get(pk=user.pk).check_password(DEFAULT_PASSWORD)


def test_password_change_wrong_current_guesses_when_over_the_account_limit_then_429(user):
    """A stolen access token cannot be used to guess the password: guesses count as failed logins."""
    pair = log_in(user.email)
    client = bearer(pair["access"])
    for n in range(10):
        guess = {"current_password": f"guess-{n}", "new_password": NEW_PASSWORD}
        assert_error(client.post(PASSWORD, guess, format="json"), 400, "invalid_current_password")

    right = client.post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )

    assert_error(right, 429, "throttled")
    assert int(right["Retry-After"]) > 60
    assert User.objects.get(pk=user.pk).check_password(DEFAULT_PASSWORD)


# --- the admin's password reset ----------------------------------------------


def test_admin_password_reset_then_every_earlier_token_refused_and_new_password_works(admin_client, user):
    pair = log_in(user.email)
    url = reverse("admin:auth_user_password_change", args=[user.pk])

    response = admin_client.post(
        url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    )

    assert response.status_code == 302
    assert_session_dead(pair)
    assert_session_alive(log_in(user.email, NEW_PASSWORD))


def test_admin_disabling_password_login_then_every_earlier_token_refused(admin_client, user):
    pair = log_in(user.email)
    url = reverse("admin:auth_user_password_change", args=[user.pk])

    response = admin_client.post(url, {"usable_password": "false", "unset-password": "1"})

    assert response.status_code == 302
    assert_session_dead(pair)
    assert not User.objects.get(pk=user.pk).has_usable_password()


# --- POST auth/logout/ {all: true} ---------------------------------------------


def test_logout_all_then_204_and_every_session_of_the_user_refused(user):
    sessions = [log_in(user.email) for _ in range(3)]
    other = UserFactory()
    others_session = log_in(other.email)

    response = bearer(sessions[0]["access"]).post(LOGOUT, {"all": True}, format="json")

    assert response.status_code == 204, response.content
    for pair in sessions:
        assert_session_dead(pair)
    assert_session_alive(others_session)
    assert BlacklistedToken.objects.filter(token__user=user).count() == 3
    assert_session_alive(log_in(user.email))


def test_logout_with_refresh_and_all_then_400_and_nothing_revoked(user):
    pair = log_in(user.email)

    response = bearer(pair["access"]).post(LOGOUT, {"refresh": pair["refresh"], "all": True}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"all"}
    assert_session_alive(pair)


def test_logout_all_false_without_refresh_then_400_naming_refresh(user):
    pair = log_in(user.email)

    response = bearer(pair["access"]).post(LOGOUT, {"all": False}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"refresh"}
    assert_session_alive(pair)


def test_revoked_access_token_with_idempotency_key_replays_nothing(user):
    """The idempotency middleware authenticates as the views do: a revoked token gets 401."""
    pair = log_in(user.email)
    client = bearer(pair["access"])
    assert client.post("/api/v1/checkins/", HTTP_IDEMPOTENCY_KEY="day-1").status_code == 201
    assert bearer(log_in(user.email)["access"]).post(LOGOUT, {"all": True}, format="json").status_code == 204

    response = client.post("/api/v1/checkins/", HTTP_IDEMPOTENCY_KEY="day-1")

    assert_error(response, 401, "token_not_valid")
    assert "Idempotent-Replayed" not in response
