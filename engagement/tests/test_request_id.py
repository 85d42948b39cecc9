"""X-Request-ID: echoed when sane, generated otherwise, on every response."""

import re

import pytest

pytestmark = pytest.mark.django_db

GENERATED = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize(
    "sent",
    ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "req_1.2:3", "A" * 128],
)
def test_request_id_sane_from_client_is_echoed(api_client, sent):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID=sent)

    assert response.status_code == 200
    assert response["X-Request-ID"] == sent


def test_request_id_absent_is_generated_32_hex_and_unique(api_client):
    first = api_client.get("/healthz")["X-Request-ID"]
    second = api_client.get("/healthz")["X-Request-ID"]

    assert GENERATED.match(first)
    assert GENERATED.match(second)
    assert first != second


@pytest.mark.parametrize(
    "sent",
    [
        "x" * 500,
        "A" * 129,
        "has spaces in it",
        "",
        "semi;colon",
        "<script>alert(1)</script>",
        'quote"inside',
        "tab\tinside",
        "caf\u00e9",
    ],
)
def test_request_id_garbage_from_client_is_replaced(api_client, sent):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID=sent)

    assert response.status_code == 200
    assert GENERATED.match(response["X-Request-ID"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/me/", 401),
        ("get", "/api/v1/nope/", 404),
        ("get", "/nope", 404),
        ("delete", "/api/v1/auth/register/", 405),
        ("post", "/api/v1/auth/register/", 400),
        ("get", "/readyz", 200),
        ("get", "/api/v1/tools/", 200),
    ],
)
def test_request_id_present_on_every_response(api_client, method, path, status):
    sent = getattr(api_client, method)(path, HTTP_X_REQUEST_ID="trace-42")
    generated = getattr(api_client, method)(path)

    assert sent.status_code == generated.status_code == status
    assert sent["X-Request-ID"] == "trace-42"
    assert GENERATED.match(generated["X-Request-ID"])


def test_request_id_present_on_413_and_415(api_client):
    too_large = api_client.post(
        "/api/v1/auth/register/", b"{" + b" " * (200 * 1024) + b"}", content_type="application/json"
    )
    wrong_type = api_client.post(
        "/api/v1/auth/register/", "hello", content_type="text/plain", HTTP_X_REQUEST_ID="trace-415"
    )

    assert too_large.status_code == 413
    assert GENERATED.match(too_large["X-Request-ID"])
    assert wrong_type.status_code == 415
    assert wrong_type["X-Request-ID"] == "trace-415"


def test_request_id_present_on_429(api_client, user):
    for _ in range(10):
        api_client.post(
            "/api/v1/auth/token/", {"email": user.email, "password": "nope-nope-1"}, format="json"
        )

    response = api_client.post(
        "/api/v1/auth/token/",
        {"email": user.email, "password": "nope-nope-1"},
        format="json",
        HTTP_X_REQUEST_ID="trace-429",
    )

    assert response.status_code == 429
    assert response["X-Request-ID"] == "trace-429"
