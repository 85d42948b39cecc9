"""Logs carry the request id and never a password, a token or an Authorization value."""

import io
import json
import logging
import sys
from datetime import UTC, datetime

import pytest

from accounts.tests.factories import bearer_client
from engagement.exceptions import exception_handler
from engagement.logging import JSONFormatter, ReadableFormatter, RequestIDFilter, redact, request_id_var

PASSWORD = "plum-orbit-castle-71"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJlLXZhbHVl"


def _record(message: str, *args, exc_info=None, **extra) -> logging.LogRecord:
    record = logging.LogRecord("engagement.test", logging.ERROR, __file__, 1, message, args, exc_info)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def _exc_info(message: str):
    try:
        raise RuntimeError(message)
    except RuntimeError:
        return sys.exc_info()


@pytest.fixture
def formatted_logs():
    """Every record logged anywhere, written through the production filter and both formatters."""
    stream = io.StringIO()
    handlers = []
    for formatter in (JSONFormatter(), ReadableFormatter("%(levelname)s [%(request_id)s] %(message)s")):
        handler = logging.StreamHandler(stream)
        handler.addFilter(RequestIDFilter())
        handler.setFormatter(formatter)
        handler.setLevel(logging.DEBUG)
        handlers.append(handler)
    loggers = [logging.getLogger(), logging.getLogger("django")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        for handler in handlers:
            logger.addHandler(handler)
    yield stream
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
        for handler in handlers:
            logger.removeHandler(handler)


# --- redact() ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        ("Authorization: Bearer opaque-token-value", "opaque-token-value"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("{'HTTP_AUTHORIZATION': 'Bearer abc.def.ghi'}", "abc.def.ghi"),
        (f"password={PASSWORD}", PASSWORD),
        (f'{{"email": "a@example.com", "password": "{PASSWORD}"}}', PASSWORD),
        ("{'password': 'correct horse battery staple'}", "horse battery"),
        ('"new_password1": "s3cret-value"', "s3cret-value"),
        ("refresh=abc123&other=1", "abc123"),
        ("access_token: xyz789", "xyz789"),
        ('{"refresh": "r-value", "access": "a-value"}', "r-value"),
        ('{"refresh": "r-value", "access": "a-value"}', "a-value"),
        ("Cookie: sessionid=s1d; csrftoken=c5rf", "s1d"),
        ("Cookie: sessionid=s1d; csrftoken=c5rf", "c5rf"),
        (f"token rotated: {JWT}", JWT),
        ("sent Bearer some-opaque-credential", "some-opaque-credential"),
        ("alg none token eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoiMSJ9.", "eyJhbGciOiJub25lIn0"),
    ],
)
def test_redact_secret_in_text_is_removed(text, secret):
    redacted = redact(text)

    assert secret not in redacted
    assert "[redacted" in redacted


@pytest.mark.parametrize(
    "text",
    ["Unauthorized: /api/v1/me/", "GET /api/v1/auth/token/refresh/ 401", "user checked in, streak 3"],
)
def test_redact_ordinary_text_is_unchanged(text):
    assert redact(text) == text


# --- formatters ----------------------------------------------------------------


def test_json_formatter_outputs_one_json_object_with_request_id():
    record = _record("checked in %s", "ok", request_id="req-abc", status_code=201, method="POST")

    line = JSONFormatter().format(record)

    assert "\n" not in line
    payload = json.loads(line)
    assert payload["request_id"] == "req-abc"
    assert payload["message"] == "checked in ok"
    assert payload["level"] == "ERROR"
    assert payload["logger"] == "engagement.test"
    assert payload["status_code"] == 201
    assert payload["method"] == "POST"
    assert payload["time"].endswith("+00:00")


def test_json_formatter_without_filter_takes_request_id_from_context():
    token = request_id_var.set("ctx-123")
    try:
        payload = json.loads(JSONFormatter().format(_record("hello")))
    finally:
        request_id_var.reset(token)

    assert payload["request_id"] == "ctx-123"


def test_request_id_filter_copies_context_request_id_onto_record():
    record = _record("hello")
    token = request_id_var.set("ctx-456")
    try:
        assert RequestIDFilter().filter(record) is True
    finally:
        request_id_var.reset(token)

    assert record.request_id == "ctx-456"


def test_json_formatter_redacts_message_args_and_traceback():
    record = _record(
        "login failed for %s with password=%s; header Authorization: Bearer %s",
        "a@example.com",
        PASSWORD,
        JWT,
        exc_info=_exc_info(f"boom password={PASSWORD} token={JWT}"),
        request_id="req-1",
    )

    line = JSONFormatter().format(record)

    assert PASSWORD not in line
    assert JWT not in line
    assert "Bearer eyJ" not in line
    payload = json.loads(line)
    assert "RuntimeError" in payload["exc_info"]
    assert "a@example.com" in payload["message"]


def test_readable_formatter_redacts_message_and_traceback():
    formatter = ReadableFormatter("%(levelname)s [%(request_id)s] %(message)s")
    record = _record(
        "Authorization: Bearer %s password=%s",
        JWT,
        PASSWORD,
        exc_info=_exc_info(f"refresh={JWT}"),
        request_id="req-2",
    )

    line = formatter.format(record)

    assert PASSWORD not in line
    assert JWT not in line
    assert "[req-2]" in line
    assert "RuntimeError" in line


# --- the real request path ------------------------------------------------------


@pytest.mark.django_db
def test_logs_of_auth_flow_and_errors_contain_no_credentials(api_client, user, formatted_logs, caplog):
    caplog.set_level(logging.DEBUG)
    registered = api_client.post(
        "/api/v1/auth/register/", {"email": "log@example.com", "password": PASSWORD}, format="json"
    ).json()
    pair = api_client.post(
        "/api/v1/auth/token/", {"email": "log@example.com", "password": PASSWORD}, format="json"
    ).json()
    wrong = api_client.post(
        "/api/v1/auth/token/", {"email": "log@example.com", "password": PASSWORD + "x"}, format="json"
    )
    me = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    forged = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}x")
    rotated = api_client.post("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    replayed = api_client.post("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    logout = bearer_client(user).post(
        "/api/v1/auth/logout/", {"refresh": registered["refresh"]}, format="json"
    )
    # The 500 path: an unexpected exception whose text carries credentials, rendered by the handler.
    token = request_id_var.set("req-500")
    try:
        crashed = exception_handler(
            RuntimeError(f"upstream said Authorization: Bearer {pair['access']} password={PASSWORD}"), {}
        )
    finally:
        request_id_var.reset(token)

    assert (wrong.status_code, me.status_code, forged.status_code) == (401, 200, 401)
    assert (rotated.status_code, replayed.status_code, logout.status_code) == (200, 401, 401)
    assert crashed.status_code == 500
    secrets = [PASSWORD, pair["access"], pair["refresh"], registered["access"], registered["refresh"]]
    secrets += [rotated.json()["access"], rotated.json()["refresh"]]
    output = formatted_logs.getvalue()
    assert "Unauthorized: /api/v1/me/" in output  # the flow did log
    assert "unhandled error" in output
    assert "req-500" in output
    for secret in secrets:
        assert secret not in output
        # Records the HTTP flow produced carry no credential even before formatting.
        assert not any(secret in r.getMessage() for r in caplog.records if r.name != "engagement.errors")
    assert "Bearer eyJ" not in output


@pytest.mark.django_db
def test_request_log_lines_carry_the_request_id(api_client, formatted_logs):
    response = api_client.get("/api/v1/me/", HTTP_X_REQUEST_ID="trace-me-123")

    assert response.status_code == 401
    lines = [json.loads(line) for line in formatted_logs.getvalue().splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line["logger"] == "django.request"]
    assert request_lines, lines
    assert all(line["request_id"] == "trace-me-123" for line in request_lines)
    assert request_lines[0]["status_code"] == 401
    assert len(request_lines) == 1  # logged once, not again by Django after the middleware


# --- the access line ---------------------------------------------------------------


def _access_lines(stream: io.StringIO) -> list[dict]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "engagement.access"]


@pytest.mark.django_db
def test_access_line_when_request_then_one_json_line_without_query_string_or_token(user, formatted_logs):
    client = bearer_client(user)
    access = client._credentials["HTTP_AUTHORIZATION"].split()[1]

    response = client.get(
        f"/api/v1/me/?token={access}&password={PASSWORD}", HTTP_X_REQUEST_ID="trace-access-1"
    )

    assert response.status_code == 200
    (line,) = _access_lines(formatted_logs)
    assert line["level"] == "INFO"
    assert line["message"] == "GET /api/v1/me/ 200"
    assert (line["method"], line["path"], line["status_code"]) == ("GET", "/api/v1/me/", 200)
    assert line["request_id"] == "trace-access-1"
    assert line["duration_ms"] >= 0
    output = formatted_logs.getvalue()
    assert access not in output
    assert PASSWORD not in output
    assert "?" not in line["path"]


@pytest.mark.django_db
def test_access_line_when_path_holds_a_token_then_redacted(api_client, formatted_logs):
    response = api_client.get(f"/api/v1/tools/{JWT}/")

    assert response.status_code == 404
    (line,) = _access_lines(formatted_logs)
    assert JWT not in formatted_logs.getvalue()
    assert line["path"] == "/api/v1/tools/[redacted-jwt]/"


@pytest.mark.django_db
def test_access_line_when_errors_at_warning_level_then_every_4xx_and_5xx_still_logged(
    api_client, user, formatted_logs, monkeypatch
):
    logging.getLogger().setLevel(logging.WARNING)  # the fixture puts the level back
    logging.getLogger("django").setLevel(logging.WARNING)
    from progression.api import views

    def broken(_user):
        raise RuntimeError("boom")

    ok = [bearer_client(user).get("/api/v1/me/") for _ in range(3)]
    refused = [api_client.get("/api/v1/me/") for _ in range(3)]
    monkeypatch.setattr(views.selectors, "state_at_authentication", broken)
    failed = [bearer_client(user).get("/api/v1/me/") for _ in range(3)]

    assert [r.status_code for r in ok + refused + failed] == [200] * 3 + [401] * 3 + [500] * 3
    lines = _access_lines(formatted_logs)
    assert [(line["level"], line["status_code"]) for line in lines] == [("WARNING", 401)] * 3 + [
        ("ERROR", 500)
    ] * 3


@pytest.mark.parametrize("created", [1700000000.000123, 1700000000.999999, 1700000001.5])
def test_json_time_when_formatted_then_utc_iso_with_microseconds(created):
    record = _record("tick")
    record.created = created

    line = json.loads(JSONFormatter().format(record))

    expected = datetime.fromtimestamp(int(created), UTC).replace(microsecond=int((created % 1) * 1_000_000))
    assert line["time"] == expected.isoformat(timespec="microseconds")


def test_record_fields_when_skipped_then_every_configured_format_still_formats(monkeypatch):
    """Production skips some LogRecord fields; gunicorn's error format prints the process id."""
    import re

    from django.conf import settings

    from engagement.logging import skip_unused_record_fields

    for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))  # put back after the test
    skip_unused_record_fields()
    # gunicorn.conf.py's formatters, read from its text (running it would patch gunicorn here).
    config = (settings.BASE_DIR / "gunicorn.conf.py").read_text(encoding="utf-8")
    formats = re.findall(r'"format": "([^"]+)"', config)
    assert any("%(process)d" in fmt for fmt in formats), formats
    formats.append(settings.LOGGING["formatters"]["readable"]["format"])
    record = logging.getLogger("engagement.test").makeRecord(
        "engagement.test", logging.ERROR, "", 0, "worker %s", ("boom",), None
    )
    record.request_id = "req-1"

    for fmt in formats:
        assert "worker boom" in logging.Formatter(fmt).format(record)
    assert json.loads(JSONFormatter().format(record))["message"] == "worker boom"
