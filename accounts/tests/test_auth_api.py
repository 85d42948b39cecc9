"""Register, login, refresh rotation and logout through the real HTTP stack."""

import pytest
from django.conf import settings
from django.contrib.auth.hashers import check_password

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory, bearer_client
from engagement.testing import assert_error, assert_ledger_clean
from progression.models import UserState

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/me/"
STRONG_PASSWORD = "plum-orbit-castle-71"


def register(client, email="ann@example.com", password=STRONG_PASSWORD, **extra):
    return client.post(REGISTER, {"email": email, "password": password, **extra}, format="json")


def login(client, email, password=DEFAULT_PASSWORD):
    return client.post(TOKEN, {"email": email, "password": password}, format="json")


# --- register ----------------------------------------------------------------


def test_register_valid_returns_201_user_and_working_token_pair(api_client):
    response = register(api_client, email="  Ann@Example.COM ", display_name="Ann")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"user", "access", "refresh"}
    assert set(body["user"]) == {"id", "email", "display_name", "leaderboard_visible", "date_joined"}
    assert body["user"]["email"] == "ann@example.com"
    assert body["user"]["display_name"] == "Ann"
    user = User.objects.get()
    assert str(user.pk) == body["user"]["id"]
    assert user.email == "ann@example.com"
    assert user.password != STRONG_PASSWORD
    assert check_password(STRONG_PASSWORD, user.password)
    assert UserState.objects.filter(user=user).count() == 1
    assert_ledger_clean()

    me = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.status_code == 200
    assert me.json()["user"]["id"] == body["user"]["id"]
    refreshed = api_client.post(REFRESH, {"refresh": body["refresh"]}, format="json")
    assert refreshed.status_code == 200


def test_register_display_name_omitted_defaults_to_empty(api_client):
    response = register(api_client)

    assert response.status_code == 201, response.content
    assert response.json()["user"]["display_name"] == ""


@pytest.mark.parametrize("second_email", ["ann@example.com", "ANN@EXAMPLE.COM", "Ann@example.Com"])
def test_register_email_taken_in_any_letter_case_returns_409(api_client, second_email):
    assert register(api_client, email="ann@example.com").status_code == 201

    response = register(api_client, email=second_email, password="another-strong-pass-42")

    assert_error(response, 409, "email_taken")
    assert User.objects.count() == 1
    assert UserState.objects.count() == 1


@pytest.mark.parametrize("password", ["123", "password", "12345678901234", "ann@example.com"])
def test_register_weak_password_returns_400_with_password_field_and_no_user(api_client, password):
    response = register(api_client, email="ann@example.com", password=password)

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"password"}
    assert error["fields"]["password"]
    assert all(isinstance(message, str) for message in error["fields"]["password"])
    assert User.objects.count() == 0
    assert UserState.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": STRONG_PASSWORD}, "email"),
        ({"email": "not-an-email", "password": STRONG_PASSWORD}, "email"),
        ({"email": "ann@example.com"}, "password"),
        ({"email": "ann@example.com", "password": STRONG_PASSWORD, "is_staff": True}, "is_staff"),
        ({"email": "ann@example.com", "password": STRONG_PASSWORD, "display_name": "x" * 65}, "display_name"),
    ],
)
def test_register_invalid_payload_returns_400_naming_the_field(api_client, payload, field):
    response = api_client.post(REGISTER, payload, format="json")

    error = assert_error(response, 400, "validation_error")
    assert field in error["fields"]
    assert User.objects.count() == 0


def test_register_password_hashed_with_argon2_when_production_hashers(api_client, settings):
    from engagement import settings as project_settings

    assert project_settings.PASSWORD_HASHERS[0] == "accounts.hashers.OWASPArgon2PasswordHasher"
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS

    response = register(api_client)

    assert response.status_code == 201, response.content
    stored = User.objects.get().password
    assert stored.startswith("argon2$")
    assert login(api_client, "ann@example.com", STRONG_PASSWORD).status_code == 200


# --- login -------------------------------------------------------------------


def test_login_valid_credentials_returns_200_token_pair(api_client, user):
    response = login(api_client, user.email)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh"}
    me = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.status_code == 200
    assert me.json()["user"]["email"] == user.email


def test_login_email_in_other_letter_case_returns_200(api_client, user):
    response = login(api_client, user.email.upper())

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("email", "password"),
    [("user-does-not-exist@example.com", DEFAULT_PASSWORD), (None, "wrong-password-123")],
)
def test_login_bad_credentials_returns_401_invalid_credentials(api_client, user, email, password):
    response = api_client.post(TOKEN, {"email": email or user.email, "password": password}, format="json")

    assert_error(response, 401, "invalid_credentials")
    assert "access" not in response.content.decode()
    assert response.has_header("WWW-Authenticate")


def test_login_unknown_email_and_wrong_password_answer_identically(api_client, user):
    unknown = login(api_client, "nobody@example.com")
    wrong = login(api_client, user.email, "wrong-password-123")

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_login_inactive_user_returns_401(api_client):
    inactive = UserFactory(is_active=False)

    response = login(api_client, inactive.email)

    assert_error(response, 401, "invalid_credentials")


def test_access_token_of_user_deactivated_later_returns_401(api_client, user):
    client = bearer_client(user)
    assert client.get(ME).status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = client.get(ME)

    assert response.status_code == 401
    assert response.has_header("WWW-Authenticate")


def test_refresh_token_of_user_deactivated_later_returns_401(api_client, user):
    pair = login(api_client, user.email).json()
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json")

    assert response.status_code == 401, response.content
    assert "access" not in response.json()


@pytest.mark.parametrize(
    "payload", [{"email": "ann@example.com"}, {"email": "ann@example.com", "password": ""}]
)
def test_login_missing_or_blank_password_returns_400(api_client, payload):
    response = api_client.post(TOKEN, payload, format="json")

    error = assert_error(response, 400, "validation_error")
    assert "password" in error["fields"]


# --- refresh rotation --------------------------------------------------------


def test_refresh_valid_returns_new_pair_and_old_refresh_refused(api_client, user):
    pair = login(api_client, user.email).json()

    response = api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json")

    assert response.status_code == 200, response.content
    rotated = response.json()
    assert set(rotated) == {"access", "refresh"}
    assert rotated["refresh"] != pair["refresh"]
    assert rotated["access"] != pair["access"]
    assert api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {rotated['access']}").status_code == 200

    replay = api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert_error(replay, 401, "token_not_valid")
    assert replay.has_header("WWW-Authenticate")

    again = api_client.post(REFRESH, {"refresh": rotated["refresh"]}, format="json")
    assert again.status_code == 200, again.content


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "access"])
def test_refresh_with_invalid_or_access_token_returns_401(api_client, user, token):
    if token == "access":
        token = login(api_client, user.email).json()["access"]

    response = api_client.post(REFRESH, {"refresh": token}, format="json")

    assert_error(response, 401, "token_not_valid")


def test_refresh_missing_field_returns_400(api_client):
    response = api_client.post(REFRESH, {}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert "refresh" in error["fields"]


# --- logout ------------------------------------------------------------------


def test_logout_own_refresh_returns_204_and_refresh_refused_after(api_client, user):
    pair = login(api_client, user.email).json()
    client = bearer_client(user)

    response = client.post(LOGOUT, {"refresh": pair["refresh"]}, format="json")

    assert response.status_code == 204
    assert response.content == b""
    refused = api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert_error(refused, 401, "token_not_valid")


def test_logout_same_refresh_twice_refused_second_time(api_client, user):
    pair = login(api_client, user.email).json()
    client = bearer_client(user)
    assert client.post(LOGOUT, {"refresh": pair["refresh"]}, format="json").status_code == 204

    response = client.post(LOGOUT, {"refresh": pair["refresh"]}, format="json")

    assert_error(response, 401, "token_not_valid")


def test_logout_with_someone_elses_refresh_refused_and_token_stays_valid(api_client, user):
    victim = UserFactory()
    victim_pair = login(api_client, victim.email).json()

    response = bearer_client(user).post(LOGOUT, {"refresh": victim_pair["refresh"]}, format="json")

    assert_error(response, 401, "token_not_valid")
    still_valid = api_client.post(REFRESH, {"refresh": victim_pair["refresh"]}, format="json")
    assert still_valid.status_code == 200, still_valid.content


@pytest.mark.parametrize("refresh", ["garbage", "access"])
def test_logout_with_invalid_or_access_token_as_refresh_returns_401(api_client, user, refresh):
    if refresh == "access":
        refresh = login(api_client, user.email).json()["access"]

    response = bearer_client(user).post(LOGOUT, {"refresh": refresh}, format="json")

    assert_error(response, 401, "token_not_valid")


def test_logout_missing_refresh_returns_400(user):
    response = bearer_client(user).post(LOGOUT, {}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert "refresh" in error["fields"]


def test_jwt_settings_rotate_and_blacklist_refresh_tokens():
    assert settings.SIMPLE_JWT["ROTATE_REFRESH_TOKENS"] is True
    assert settings.SIMPLE_JWT["BLACKLIST_AFTER_ROTATION"] is True
    assert settings.SIMPLE_JWT["ALGORITHM"] == "HS256"


def test_register_and_login_stay_within_query_budget(api_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):  # savepoints included
        assert register(api_client).status_code == 201
    with django_assert_max_num_queries(2):  # the user, the outstanding refresh token
        assert login(api_client, "ann@example.com", STRONG_PASSWORD).status_code == 200
