"""The app under gunicorn with gunicorn.conf.py and production settings, spoken to over sockets.

Request bodies (chunked, oversized, slow), the connection after a refusal, gunicorn's own
error pages, the access log, X-Forwarded-Proto trust and a bad Host header: what only a real
server shows.
"""

from __future__ import annotations

import json
import re
import socket
import time

import httpx
import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tests.factories import UserFactory
from engagement.testing import SERVER_TEST_MARKS, gunicorn_server
from inventory.models import InventoryItem
from inventory.services import seed_tools
from progression.models import UserState
from progression.services import adjust_state

pytestmark = SERVER_TEST_MARKS

BODY_TIMEOUT = 2  # REQUEST_BODY_TIMEOUT for these servers, in seconds
LIMIT = 100 * 1024


@pytest.fixture
def server(tmp_path):
    """(base URL, log path) of a production server with its access log on."""
    log_path = tmp_path / "gunicorn.log"
    env = {"REQUEST_BODY_TIMEOUT": str(BODY_TIMEOUT), "GUNICORN_ACCESS_LOG": "1", "DJANGO_LOG_LEVEL": "INFO"}
    with gunicorn_server(log_path, env=env) as base_url:
        yield base_url, log_path


def address(base_url: str) -> tuple[str, int]:
    host, port = base_url.removeprefix("http://").split(":")
    return host, int(port)


def exchange(base_url: str, raw: bytes, *, timeout: float = 15) -> tuple[bytes, bytes]:
    """Send raw bytes on a new connection; return (head, body) of the answer.

    Reads until the server closes the connection or the answer's Content-Length is in.
    """
    with socket.create_connection(address(base_url), timeout=timeout) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """(head, body) of one answer: Content-Length or chunked, or up to the connection's end."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = header(head, "Content-Length")
    is_chunked = (header(head, "Transfer-Encoding") or "").lower() == "chunked"
    while (length is not None and len(body) < int(length)) or (
        is_chunked and not body.endswith(b"0\r\n\r\n")
    ):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    if is_chunked:
        decoded = b""
        while body:
            size_line, _, rest = body.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            decoded, body = decoded + rest[:size], rest[size + 2 :]
        body = decoded
    return head, body


def header(head: bytes, name: str) -> str | None:
    match = re.search(rb"(?im)^" + name.encode() + rb":\s*([^\r\n]*)", head)
    return match.group(1).decode() if match else None


def status_of(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def buyer(loyalty: int = 100):
    seed_tools()
    user = UserFactory()
    adjust_state(user=user, note="budget", loyalty=loyalty)
    return user, f"Bearer {AccessToken.for_user(user)}"


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


# --- chunked bodies are read, whole -----------------------------------------------------------


def test_chunked_buy_of_three_buys_three(server):
    base_url, _ = server
    user, authorization = buyer()
    body = json.dumps({"quantity": 3}).encode()

    head, answer = exchange(
        base_url,
        b"POST /api/v1/tools/coffee/buy/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: " + authorization.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(body[:5], body[5:]),
    )

    assert status_of(head) == 201, head + answer
    assert json.loads(answer)["item"]["quantity"] == 3
    assert InventoryItem.objects.get(user=user, tool_id="coffee").quantity == 3
    assert UserState.objects.get(user=user).loyalty == 100 - 3 * 10


def test_chunked_body_of_5_mb_is_refused_413_and_the_connection_closes(server):
    base_url, _ = server
    _, authorization = buyer()
    piece = b"x" * 65536
    with socket.create_connection(address(base_url), timeout=15) as sock:
        sock.sendall(
            b"POST /api/v1/tools/coffee/buy/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: " + authorization.encode() + b"\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent = 0
        try:
            while sent < 5 * 1024 * 1024:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
        except OSError:
            pass  # the server answered and closed before the body was over
        head, body = read_answer(sock)

    assert status_of(head) == 413, head
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert header(head, "Connection") == "close"
    assert header(head, "X-Content-Type-Options") == "nosniff"
    assert header(head, "X-Frame-Options") == "DENY"


def test_content_length_over_the_cap_answers_413_with_connection_close_and_the_client_goes_on(server):
    base_url, _ = server
    _, authorization = buyer()

    with httpx.Client(base_url=base_url, timeout=15) as client:
        big = client.post(
            "/api/v1/tools/coffee/buy/",
            content=b"{" + b" " * (LIMIT + 10) + b"}",
            headers={"Authorization": authorization, "Content-Type": "application/json"},
        )
        after = client.get("/api/v1/tools/")  # the same client: a new connection, not a dead one

    assert big.status_code == 413, big.text
    assert big.headers["Connection"] == "close"
    assert big.headers["X-Content-Type-Options"] == "nosniff"
    assert big.headers["X-Frame-Options"] == "DENY"
    assert big.json()["error"]["code"] == "request_too_large"
    assert after.status_code == 200


def buy_head(authorization: str, content_length: int) -> bytes:
    """The head of a JSON buy of coffee announcing `content_length` bytes of body."""
    return (
        b"POST /api/v1/tools/coffee/buy/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: " + authorization.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(content_length).encode() + b"\r\n\r\n"
    )


def test_body_that_does_not_arrive_in_time_answers_408_and_closes(server):
    base_url, _ = server
    _, authorization = buyer()
    started = time.monotonic()
    with socket.create_connection(address(base_url), timeout=15) as sock:
        sock.sendall(buy_head(authorization, 100) + b"{")
        head, body = read_answer(sock)  # the client never sends the other 99 bytes
    waited = time.monotonic() - started

    assert status_of(head) == 408, head
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert header(head, "Connection") == "close"
    assert BODY_TIMEOUT <= waited < BODY_TIMEOUT + 5


def test_body_trickled_slower_than_the_timeout_answers_408_however_steady(server):
    base_url, _ = server
    _, authorization = buyer()
    started = time.monotonic()
    with socket.create_connection(address(base_url), timeout=15) as sock:
        sock.sendall(buy_head(authorization, 1000))
        try:
            for _ in range(1000):  # one byte every 0.1 s: 100 s in all, never silent for long
                sock.sendall(b" ")
                time.sleep(0.1)
                if time.monotonic() - started > BODY_TIMEOUT + 5:
                    break
        except OSError:
            pass
        head, _ = read_answer(sock)

    assert status_of(head) == 408, head
    assert time.monotonic() - started < BODY_TIMEOUT + 5


# --- gunicorn's own answers, logs, proxies --------------------------------------------------


@pytest.mark.parametrize(
    ("request_line", "status", "code"),
    [
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1", 414, "uri_too_long"),
        (b"GET /\x00 HTTP/1.1", 400, "bad_request"),
        (b"BREW / HTTP/9.9", 400, "bad_request"),
    ],
    ids=["414", "bad-request-line", "bad-version"],
)
def test_gunicorn_refusals_are_json_in_the_error_shape(server, request_line, status, code):
    base_url, _ = server

    head, body = exchange(base_url, request_line + b"\r\nHost: 127.0.0.1\r\n\r\n")

    assert status_of(head) == status, head + body
    assert header(head, "Content-Type") == "application/json"
    assert json.loads(body) == {"error": {"code": code, "message": json.loads(body)["error"]["message"]}}
    assert b"<html" not in body.lower()


def test_gunicorn_refuses_too_many_header_fields_with_json_431(server):
    base_url, _ = server
    headers = b"".join(b"X-Filler-%d: 1\r\n" % n for n in range(60))

    head, body = exchange(base_url, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")

    assert status_of(head) == 431, head + body
    assert json.loads(body)["error"]["code"] == "header_fields_too_large"


def test_access_log_never_writes_the_query_string(server):
    base_url, log_path = server

    response = httpx.get(f"{base_url}/healthz?token=eyJ-secret-token-value&password=hunter2", timeout=10)

    assert response.status_code == 200
    time.sleep(0.5)
    log = log_path.read_text()
    assert re.search(r'"GET /healthz HTTP/1\.1" 200 ', log), log
    assert "secret-token" not in log
    assert "hunter2" not in log


def test_bad_host_header_logs_one_warning_line_and_no_traceback(server):
    base_url, log_path = server

    response = httpx.get(f"{base_url}/api/v1/tools/", headers={"Host": "evil.example.net"}, timeout=10)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    time.sleep(0.5)
    lines = [line for line in log_path.read_text().splitlines() if "evil.example.net" in line]
    warnings = [line for line in lines if '"level": "WARNING"' in line]
    assert len(warnings) == 1, lines
    assert json.loads(warnings[0])["logger"] == "django.security.DisallowedHost"
    assert "Traceback" not in log_path.read_text()
    assert '"level": "ERROR"' not in log_path.read_text()


@pytest.mark.parametrize(("num_proxies", "status"), [("0", 301), ("1", 200)])
def test_x_forwarded_proto_is_trusted_only_with_a_proxy_configured(gunicorn, num_proxies, status):
    base_url = gunicorn(env={"NUM_PROXIES": num_proxies, "DJANGO_SECURE_SSL_REDIRECT": "true"})

    headers = {"X-Forwarded-Proto": "https"}
    response = httpx.get(f"{base_url}/api/v1/tools/", headers=headers, timeout=10, follow_redirects=False)

    assert response.status_code == status, response.text
    if status == 301:
        assert response.headers["Location"].startswith("https://")
