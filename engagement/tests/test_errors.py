"""Every 4xx/5xx answers {"error": {"code", "message", "fields?"}} with an X-Request-ID."""

import json

import pytest
from django.conf import settings
from django.db import IntegrityError, OperationalError
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD
from engagement.exceptions import exception_handler

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
ME = "/api/v1/me/"
CHECKINS = "/api/v1/checkins/"


def assert_error_shape(response, status: int, code: str | None = None, *, fields: bool = False) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert len(response["X-Request-ID"]) > 0
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == ({"code", "message", "fields"} if fields else {"code", "message"})
    assert isinstance(error["code"], str)
    assert error["code"] == error["code"].lower()
    assert " " not in error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    text = response.content.decode()
    assert "Traceback" not in text
    assert "SELECT" not in text
    return error


# --- 400 ---------------------------------------------------------------------


def test_validation_error_returns_400_with_fields(api_client):
    response = api_client.post(REGISTER, {"email": "nope"}, format="json")

    error = assert_error_shape(response, 400, "validation_error", fields=True)
    assert set(error["fields"]) == {"email", "password"}
    assert all(isinstance(m, str) for messages in error["fields"].values() for m in messages)


def test_validation_error_non_object_body_returns_400_non_field_errors(api_client):
    response = api_client.post(REGISTER, json.dumps(["a", "b"]), content_type="application/json")

    error = assert_error_shape(response, 400, "validation_error", fields=True)
    assert "non_field_errors" in error["fields"]


@pytest.mark.parametrize("body", ['{"email": ', "not json at all", '{"email": "a@b.c",}', "\x00"])
def test_malformed_json_returns_400_parse_error(api_client, body):
    response = api_client.post(REGISTER, body, content_type="application/json")

    assert_error_shape(response, 400, "parse_error")
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    "body", [b'{"email": "\xff\xfe"}', b"\xff", b'{"email": "a@b.c", "password": "\xc3"}']
)
def test_body_not_utf8_returns_400_parse_error_without_codec_details(api_client, body):
    response = api_client.post(REGISTER, body, content_type="application/json")

    error = assert_error_shape(response, 400, "parse_error")
    assert error["message"] == "JSON parse error - the body is not valid UTF-8."
    assert User.objects.count() == 0


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "no-such-codec"])
def test_declared_charset_is_ignored_and_the_body_read_as_utf8(api_client, charset):
    body = json.dumps({"email": "ana@example.com", "password": "p-4-Strong-pass-x"}).encode()

    response = api_client.post(REGISTER, body, content_type=f"application/json; charset={charset}")

    assert response.status_code == 201, response.content


def test_chunked_body_the_server_did_not_dechunk_returns_411(api_client):
    """Without a server that de-chunks (gunicorn does: engagement.serving), a chunked body has
    no length Django can read: refused, never read as empty."""
    response = api_client.generic(
        "POST", REGISTER, b"", content_type="application/json", HTTP_TRANSFER_ENCODING="chunked"
    )

    assert_error_shape(response, 411, "length_required")
    assert User.objects.count() == 0


def test_content_length_not_a_number_returns_400(api_client):
    response = api_client.generic(
        "POST", REGISTER, b"{}", content_type="application/json", CONTENT_LENGTH="abc"
    )

    assert_error_shape(response, 400, "bad_request")


# --- 401 ---------------------------------------------------------------------


def test_unauthenticated_returns_401_with_www_authenticate(api_client):
    response = api_client.get(ME)

    assert_error_shape(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_public_catalog_with_bad_token_returns_401_and_without_token_200(api_client):
    bad = api_client.get("/api/v1/tools/", HTTP_AUTHORIZATION="Bearer not-a-token")
    anonymous = api_client.get("/api/v1/tools/")

    assert_error_shape(bad, 401, "token_not_valid")
    assert anonymous.status_code == 200


def test_bad_credentials_returns_401_with_www_authenticate(api_client, user):
    response = api_client.post(TOKEN, {"email": user.email, "password": "wrong-pass-123"}, format="json")

    assert_error_shape(response, 401, "invalid_credentials")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


# --- 404 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope/", "/api/v1/nope", "/api/v1/", "/api/v2/me/", "/nope", "/", "/static/nope.js"],
)
def test_unknown_url_returns_404_in_error_shape(api_client, path):
    response = api_client.get(path)

    assert_error_shape(response, 404, "not_found")


def test_unknown_url_with_token_returns_404_in_error_shape(auth_client):
    response = auth_client.post("/api/v1/nope/", {}, format="json")

    assert_error_shape(response, 404, "not_found")


def test_unknown_tool_returns_404_tool_not_found(api_client, catalog):
    response = api_client.get("/api/v1/tools/no-such-tool/")

    assert_error_shape(response, 404, "tool_not_found")


# --- 405 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", CHECKINS, {"GET", "POST"}),
        ("put", CHECKINS, {"GET", "POST"}),
        ("put", ME, {"GET", "PATCH"}),
        ("delete", ME, {"GET", "PATCH"}),
        ("get", "/api/v1/auth/logout/", {"POST"}),
    ],
)
def test_method_not_allowed_returns_405_with_allow_header(auth_client, method, path, allowed):
    response = getattr(auth_client, method)(path)

    assert_error_shape(response, 405, "method_not_allowed")
    allow = {m.strip() for m in response["Allow"].split(",")}
    assert allowed <= allow
    assert method.upper() not in allow


@pytest.mark.parametrize("path", [REGISTER, TOKEN])
def test_method_not_allowed_on_public_endpoint_returns_405(api_client, path):
    response = api_client.get(path)

    assert_error_shape(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


def test_method_not_allowed_outside_drf_returns_405_in_error_shape(api_client):
    response = api_client.post("/healthz")

    assert_error_shape(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


# --- 406 ---------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["text/html", "application/xml"])
def test_accept_without_json_returns_406_not_acceptable(api_client, accept):
    response = api_client.get("/api/v1/tools/", HTTP_ACCEPT=accept)

    assert_error_shape(response, 406, "not_acceptable")


# --- 413 ---------------------------------------------------------------------


def _json_body_of(size: int) -> bytes:
    """A JSON register body of exactly `size` bytes."""
    skeleton = json.dumps({"email": "big@example.com", "password": "p-4-Strong-pass", "display_name": ""})
    body = skeleton[:-2] + "x" * (size - len(skeleton)) + '"}'
    assert len(body) == size
    return body.encode()


def test_body_over_limit_returns_413(api_client):
    response = api_client.post(REGISTER, _json_body_of(200 * 1024), content_type="application/json")

    assert_error_shape(response, 413, "request_too_large")
    assert User.objects.count() == 0


def test_body_over_limit_on_authenticated_route_returns_413_and_changes_nothing(auth_client, user):
    before = user.display_name
    body = json.dumps({"display_name": "y" * (200 * 1024)})

    response = auth_client.patch(ME, body, content_type="application/json")

    assert_error_shape(response, 413, "request_too_large")
    user.refresh_from_db()
    assert user.display_name == before


def test_body_exactly_at_limit_is_parsed_not_413(api_client):
    limit = settings.MAX_REQUEST_BODY_BYTES

    at_limit = api_client.post(REGISTER, _json_body_of(limit), content_type="application/json")
    over_limit = api_client.post(REGISTER, _json_body_of(limit + 1), content_type="application/json")

    # display_name is far over 64 characters: parsed and refused by validation.
    error = assert_error_shape(at_limit, 400, "validation_error", fields=True)
    assert "display_name" in error["fields"]
    assert_error_shape(over_limit, 413, "request_too_large")


# --- 415 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("email=a@example.com&password=x", "application/x-www-form-urlencoded"),
        ('{"email": "a@example.com", "password": "plum-orbit-castle-71"}', "text/plain"),
        ("<xml/>", "application/xml"),
    ],
)
def test_unsupported_media_type_returns_415(api_client, body, content_type):
    response = api_client.post(REGISTER, body, content_type=content_type)

    assert_error_shape(response, 415, "unsupported_media_type")
    assert User.objects.count() == 0


# --- 429 ---------------------------------------------------------------------


def test_login_throttle_eleventh_attempt_returns_429_with_retry_after(api_client, user):
    statuses = [
        api_client.post(TOKEN, {"email": user.email, "password": "wrong-pass-123"}, format="json").status_code
        for _ in range(10)
    ]
    assert statuses == [401] * 10

    response = api_client.post(TOKEN, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")

    assert_error_shape(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "access" not in response.json()


def test_login_throttle_is_per_client_ip_and_ignores_spoofed_forwarded_for(user):
    credentials = {"email": user.email, "password": DEFAULT_PASSWORD}
    first_ip = APIClient(REMOTE_ADDR="10.1.1.1")
    for _ in range(10):
        assert first_ip.post(TOKEN, credentials, format="json").status_code == 200

    spoofed = first_ip.post(TOKEN, credentials, format="json", HTTP_X_FORWARDED_FOR="10.9.9.9")
    other_ip = APIClient(REMOTE_ADDR="10.2.2.2").post(TOKEN, credentials, format="json")

    assert_error_shape(spoofed, 429, "throttled")
    assert other_ip.status_code == 200


def test_register_throttle_sixth_attempt_returns_429(api_client):
    for n in range(5):
        payload = {"email": f"r{n}@example.com", "password": "plum-orbit-castle-71"}
        assert api_client.post(REGISTER, payload, format="json").status_code == 201

    payload = {"email": "r5@example.com", "password": "plum-orbit-castle-71"}
    response = api_client.post(REGISTER, payload, format="json")

    assert_error_shape(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1
    assert User.objects.count() == 5


# --- 5xx and errors raised deep inside ----------------------------------------


def test_unhandled_exception_renders_500_without_details():
    response = exception_handler(RuntimeError("secret internals: SELECT * FROM accounts_user"), {})

    assert response.status_code == 500
    assert response.data == {"error": {"code": "internal_error", "message": "An unexpected error occurred."}}


def test_integrity_error_renders_409_conflict():
    response = exception_handler(IntegrityError('duplicate key value violates "x_pkey"'), {})

    assert response.status_code == 409
    assert response.data["error"]["code"] == "conflict"
    assert "duplicate key" not in str(response.data)


def test_database_unavailable_renders_503_with_retry_after():
    response = exception_handler(OperationalError("could not connect to server at 10.0.0.5"), {})

    assert response.status_code == 503
    assert response.data["error"]["code"] == "service_unavailable"
    assert response["Retry-After"] == "1"
    assert "10.0.0.5" not in str(response.data)


@pytest.mark.parametrize("path", ["/api/v1/me/events/", "/api/v1/checkins/"])
def test_cursor_that_decodes_but_is_not_a_position_returns_404_in_the_error_shape(auth_client, path):
    import base64

    crafted = base64.b64encode(b"p=abc").decode()
    response = auth_client.get(path, {"cursor": crafted})
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
