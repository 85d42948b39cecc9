"""Bearer access tokens: what is accepted, what is refused (the JWT attacks), and which routes need one."""

from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from accounts.tests.factories import UserFactory, bearer_client
from engagement.testing import access_claims, forged_token, tampered_token, token_client
from progression.models import DailyCheckIn

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
BEARER_CHALLENGE = 'Bearer realm="api"'

PROTECTED_ROUTES = [
    ("get", "/api/v1/me/"),
    ("patch", "/api/v1/me/"),
    ("post", "/api/v1/me/bootstrap/"),
    ("get", "/api/v1/me/events/"),
    ("get", "/api/v1/checkins/"),
    ("post", "/api/v1/checkins/"),
    ("post", "/api/v1/tools/coffee/buy/"),
    ("get", "/api/v1/inventory/"),
    ("post", "/api/v1/inventory/coffee/use/"),
    ("get", "/api/v1/rewards/"),
    ("post", "/api/v1/rewards/streak_3/claim/"),
    ("post", "/api/v1/auth/logout/"),
]


def assert_token_refused(response):
    assert response.status_code == 401, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] in {"token_not_valid", "authentication_failed"}
    assert body["error"]["message"]
    assert "user" not in body
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert response.has_header("X-Request-ID")


def me_with(token: str):
    return token_client(token).get(ME)


def test_access_token_valid_returns_200(user):
    response = me_with(str(AccessToken.for_user(user)))

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)


def test_jwt_algorithm_is_pinned_to_hs256():
    assert settings.SIMPLE_JWT["ALGORITHM"] == "HS256"


def test_access_token_expired_returns_401(user, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    token = str(AccessToken.for_user(user))
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]

    time_machine.shift(lifetime - timedelta(seconds=5))
    assert me_with(token).status_code == 200

    time_machine.shift(timedelta(seconds=10))
    response = me_with(token)

    assert_token_refused(response)
    assert response.json()["error"]["code"] == "token_not_valid"


def test_access_token_forged_signature_returns_401(user):
    forged = jwt.encode(access_claims(user), "not-the-signing-key-" + "x" * 32, algorithm="HS256")

    assert_token_refused(me_with(forged))


def test_access_token_with_tampered_payload_returns_401(user):
    other = UserFactory()

    assert_token_refused(me_with(tampered_token(user, user_id=str(other.pk))))


@pytest.mark.parametrize(
    ("alg", "signature"),
    [("none", b""), ("None", b""), ("NONE", b""), ("RS256", b"sig")],
)
def test_access_token_unsigned_or_asymmetric_returns_401(user, alg, signature):
    token = forged_token({"alg": alg, "typ": "JWT"}, access_claims(user), signature)

    assert_token_refused(me_with(token))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("algorithm", ["HS512", "HS384"])
def test_access_token_right_key_other_hmac_algorithm_returns_401(user, algorithm):
    token = jwt.encode(access_claims(user), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=algorithm)

    assert_token_refused(me_with(token))


def test_refresh_token_used_as_access_returns_401(user):
    assert_token_refused(me_with(str(RefreshToken.for_user(user))))


def test_access_token_of_deleted_user_returns_401(user):
    token = str(AccessToken.for_user(user))
    User.objects.filter(pk=user.pk).delete()

    assert_token_refused(me_with(token))


def test_access_token_of_deactivated_user_is_refused_on_writes_too(user):
    client = bearer_client(user)
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = client.post("/api/v1/checkins/")

    assert response.status_code == 401
    assert not DailyCheckIn.objects.filter(user=user).exists()


def test_logout_then_rotation_with_the_blacklisted_refresh_returns_401(user):
    refresh = str(RefreshToken.for_user(user))
    assert (
        bearer_client(user).post("/api/v1/auth/logout/", {"refresh": refresh}, format="json").status_code
        == 204
    )

    response = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")

    assert response.status_code == 401
    assert "access" not in response.json()


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.",
        "Bearer " + "x" * 5000,
        "Bearer two parts",
    ],
)
def test_access_token_garbage_returns_401(api_client, user, authorization):
    response = api_client.get(ME, HTTP_AUTHORIZATION=authorization)

    assert_token_refused(response)


@pytest.mark.parametrize("authorization", ["", "Token abc", "Basic dXNlcjpwYXNz", "Bearer"])
def test_access_token_missing_or_other_scheme_returns_401(api_client, authorization):
    response = api_client.get(ME, HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] in {"not_authenticated", "authentication_failed"}
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE


@pytest.mark.parametrize(("method", "path"), PROTECTED_ROUTES)
def test_protected_route_without_token_returns_401(api_client, catalog, method, path):
    response = getattr(api_client, method)(path, {}, format="json")

    assert response.status_code == 401, (method, path, response.content)
    assert response.json() == {
        "error": {"code": "not_authenticated", "message": "Authentication credentials were not provided."}
    }
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert response.has_header("X-Request-ID")


@pytest.mark.parametrize(("method", "path"), PROTECTED_ROUTES)
def test_protected_route_with_token_does_not_return_401(auth_client, catalog, method, path):
    response = getattr(auth_client, method)(path, {}, format="json")

    assert response.status_code != 401, (method, path, response.content)
    assert response.status_code < 500, (method, path, response.content)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("get", "/api/v1/tools/", 200),
        ("get", "/api/v1/tools/coffee/", 200),
        ("post", "/api/v1/auth/register/", 400),
        ("post", "/api/v1/auth/token/", 400),
        ("post", "/api/v1/auth/token/refresh/", 400),
    ],
)
def test_public_route_without_token_is_not_401(api_client, catalog, method, path, expected):
    response = getattr(api_client, method)(path, {}, format="json")

    assert response.status_code == expected, (method, path, response.content)


# --- a token checked once per process, expiry and the user on every request ------------------


def test_cached_token_when_it_expires_then_refused_401(user, api_client, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    access = str(RefreshToken.for_user(user).access_token)
    header = {"HTTP_AUTHORIZATION": f"Bearer {access}"}
    assert api_client.get(ME, **header).status_code == 200
    assert api_client.get(ME, **header).status_code == 200  # the checked token, reused

    time_machine.shift(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] + timedelta(seconds=1))
    response = api_client.get(ME, **header)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_cached_token_when_one_byte_of_signature_changes_then_refused_401(user, api_client):
    access = str(RefreshToken.for_user(user).access_token)
    assert api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
    forged = access[:-2] + ("A" if access[-2] != "A" else "B") + access[-1]

    response = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {forged}")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_cached_token_when_user_deactivated_or_sessions_revoked_then_refused_401(user, api_client):
    access = str(RefreshToken.for_user(user).access_token)
    header = {"HTTP_AUTHORIZATION": f"Bearer {access}"}
    assert api_client.get(ME, **header).status_code == 200

    type(user).objects.filter(pk=user.pk).update(token_version=user.token_version + 1)
    revoked = api_client.get(ME, **header)
    type(user).objects.filter(pk=user.pk).update(token_version=user.token_version, is_active=False)
    inactive = api_client.get(ME, **header)

    assert (revoked.status_code, revoked.json()["error"]["code"]) == (401, "token_not_valid")
    assert (inactive.status_code, inactive.json()["error"]["code"]) == (401, "authentication_failed")
