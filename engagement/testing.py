"""The test toolkit every app's tests share: threads released together, the ledger-clean assertion,
token clients and forged JWTs, a real gunicorn server, a webhook receiver, workers, the job queue."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection
from standardwebhooks.webhooks import Webhook

# --- threads released together -------------------------------------------------------------


def run_in_threads(
    count: int, work: Callable[[int], object], *, timeout: float = 30, close_connection: bool = False
) -> list:
    """Run work(i) in `count` threads released together by a barrier; return the results in order.

    Each thread closes its own database connection when done; any thread's exception fails the
    test. `close_connection` first hands this thread's connection back (transactional tests whose
    threads need every pooled connection).
    """
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = work(index)
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    if close_connection:
        connection.close()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout * 2)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    assert not errors, errors
    return results


# --- the ledger ------------------------------------------------------------------------------


def assert_ledger_clean() -> None:
    """Every user's stored state equals the replay of its ledger, and the items held match."""
    from engagement.audit import verify_ledger

    report = verify_ledger()
    assert report.ok, [(m.user_id, m.problems) for m in report.mismatches]


# --- property tests ----------------------------------------------------------------------------

# The Hypothesis profile of the fast loop (make test-fast: --hypothesis-profile=fast), registered
# in the root conftest.py: a quarter of each property test's examples. Every other run keeps
# Hypothesis's default profile and each test's full count.
FAST_PROFILE = "fast"
FAST_PROFILE_EXAMPLES = 25
_DEFAULT_PROFILE_EXAMPLES = 100


def examples(count: int) -> int:
    """max_examples for a property test that tries `count` examples in a full run, scaled down
    as the loaded Hypothesis profile is (count itself under the default profile)."""
    from hypothesis import settings as hypothesis_settings

    return max(1, count * hypothesis_settings.default.max_examples // _DEFAULT_PROFILE_EXAMPLES)


# --- SQL statements ----------------------------------------------------------------------------

# Writing a ledger change's state row and appending its event (engagement.db.update_then_insert):
# one statement on PostgreSQL, two elsewhere.
LEDGER_WRITE_STATEMENTS = 1 if connection.vendor == "postgresql" else 2
# A change's outbox job and rollup UPSERT (engagement.db.writes_together): one statement on
# PostgreSQL, two elsewhere.
TAIL_WRITE_STATEMENTS = 1 if connection.vendor == "postgresql" else 2
# A check-in's own row with its state row and its event (update_then_insert with `keyed`): one
# statement on PostgreSQL, three elsewhere.
CHECK_IN_WRITE_STATEMENTS = 1 if connection.vendor == "postgresql" else 3
# A change that scores on a leaderboard adds its UPSERT: on PostgreSQL it goes with the outbox
# job and the rollup (no statement of its own), elsewhere it is one more.
SCORE_STATEMENTS = 0 if connection.vendor == "postgresql" else 1

TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT")


@contextlib.contextmanager
def statements_run() -> Iterator[list[str]]:
    """The SQL of the statements the block runs, transaction control (BEGIN, COMMIT, savepoints)
    left out; the list is filled when the block ends."""
    from django.test.utils import CaptureQueriesContext

    statements: list[str] = []
    with CaptureQueriesContext(connection) as captured:
        yield statements
    statements.extend(
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].upper().startswith(TRANSACTION_CONTROL)
    )


def assert_queries_do_not_grow(request: Callable[[], object], grow: Callable[[], object], *, at_most: int):
    """`request()` answers 200 in at most `at_most` queries; after `grow()` (more rows) it answers
    200 again in no more queries than the first time. Returns the second answer."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        assert request().status_code == 200
    assert len(first) <= at_most, [query["sql"] for query in first.captured_queries]
    grow()
    with CaptureQueriesContext(connection) as second:
        response = request()
    assert response.status_code == 200
    assert len(second) <= len(first), [query["sql"] for query in second.captured_queries]
    return response


# --- answers ---------------------------------------------------------------------------------


def assert_error(response, status: int, code: str) -> dict:
    """The answer is `status` in the SPEC error shape {"error": {code, message[, fields]}} with `code`;
    returns the error object."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body["error"]


def assert_form_refused(response, field: str, message: str) -> None:
    """An admin add or change page answered again (200, nothing saved) with exactly `message` on
    `field`, shown on the page."""
    from django.utils.html import escape

    assert response.status_code == 200, response.status_code
    assert response.context["adminform"].form.errors == {field: [message]}
    assert escape(message) in response.content.decode()


def error_code(response) -> str | None:
    """The error code of an answer in the SPEC error shape, None for any other body."""
    body = response.json()
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


# --- clients and tokens ----------------------------------------------------------------------


def bearer_header(user) -> dict[str, str]:
    """The Authorization header of a fresh access token for `user` (for httpx and raw requests)."""
    from rest_framework_simplejwt.tokens import RefreshToken

    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def token_client(token: str, **defaults):
    """An APIClient sending `token` (any string, forged ones included) as its Bearer token."""
    from rest_framework.test import APIClient

    client = APIClient(**defaults)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def client_for(user, *, lifetime: timedelta | None = None):
    """An APIClient with a Bearer access token for `user` minted now (valid after time travel)."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return token_client(str(token))


def b64url(data: bytes | dict) -> str:
    """Unpadded base64url, as JWT segments are written; a dict is JSON-encoded first."""
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def access_claims(user) -> dict:
    """The claims of a genuine access token for `user`, to tamper with."""
    from rest_framework_simplejwt.tokens import AccessToken

    return dict(AccessToken.for_user(user).payload)


def forged_token(header: dict, claims: dict, signature: bytes = b"") -> str:
    """A JWT assembled by hand: any header (alg none, RS256...), any claims, any signature."""
    return ".".join([b64url(header), b64url(claims), b64url(signature)])


def tampered_token(user, **claims) -> str:
    """A genuine access token of `user` whose claims were edited after signing (signature kept)."""
    from rest_framework_simplejwt.tokens import AccessToken

    header, _, signature = str(AccessToken.for_user(user)).split(".")
    return f"{header}.{b64url({**access_claims(user), **claims})}.{signature}"


# --- processes: a clean environment, the test database's URL, Redis --------------------------


def environment_without(*prefixes: str, **overrides: str) -> dict[str, str]:
    """This process's environment less the variables starting with any of `prefixes`, plus `overrides`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env.update(overrides)
    return env


# Every name settings.py reads: a child process meant to see only what a test gives it starts
# from none of them.
SETTINGS_VARIABLES = (
    "DJANGO_",
    "DATABASE_",
    "REDIS_URL",
    "JWT_",
    "THROTTLE_",
    "NUM_PROXIES",
    "DEV_AUTH_HEADER",
    "ENGAGEMENT_",
)


def run_python(
    *args: str, env: dict[str, str], check: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess:
    """`python *args` in the project directory with exactly `env`; its output captured as text."""
    return subprocess.run(  # noqa: S603 (this interpreter, arguments from the test)
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def manage_py(*args: str, env: dict[str, str], check: bool = False) -> subprocess.CompletedProcess:
    """`manage.py *args` in a child process: the real exit status, stdout and stderr."""
    return run_python("manage.py", *args, env=env, check=check)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def current_database_url(application_name: str = "") -> str:
    """DATABASE_URL of the test database this process uses, for a server or worker in another process.

    The other process's sessions carry `application_name`, so a test can find (and kill) them.
    """
    db = connection.settings_dict
    credentials = quote(db["USER"] or "postgres", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    url = f"postgres://{credentials}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    return f"{url}?application_name={quote(application_name)}" if application_name else url


def sessions_left_on_the_test_database(*, timeout: float = 10.0) -> list[str]:
    """Wait up to `timeout` seconds for every other client session on the test database to end;
    the ones left.

    This process's own connections (its pool) are closed first, as Django does before it drops
    the database, and the sessions are watched from a connection of its own, made from Django's
    connection parameters (socket directories, TLS and the rest as configured). A server or
    worker a test stopped may still be leaving (its backend ends a moment after the process); a
    session left past `timeout` is a leak, described by what current_database_url()'s
    `application_name` named it, its state and its last statement. If the watch itself fails,
    the one line says why.
    """
    if connection.vendor != "postgresql":
        return []
    import psycopg

    connection.close()
    connection.close_pool()
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    deadline = time.monotonic() + timeout
    try:
        with psycopg.connect(**params, autocommit=True, application_name="sessions-left") as watcher:
            while True:
                rows = watcher.execute(
                    "SELECT application_name, state, left(query, 120) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend'"
                ).fetchall()
                if not rows or time.monotonic() > deadline:
                    return [f"{name or '(unnamed)'} [{state}]: {query}" for name, state, query in rows]
                time.sleep(0.1)
    except psycopg.Error as exc:
        return [f"(the sessions could not be listed: {exc})"]


def server_database_url() -> str:
    """DATABASE_URL of the test database this process uses (alias of current_database_url())."""
    return current_database_url()


# --- Redis databases: one per pytest-xdist worker ------------------------------------------
#
# Every test clears the cache (a FLUSHDB on Redis) and counts throttles from zero, and the
# Redis-only tests flush a database of their own: two xdist workers on one database clear each
# other's counters mid-test. So worker N (gwN) takes REDIS_URL's database minus N for the cache,
# and ROBUSTNESS_REDIS_URL's plus N for the Redis-only tests, both modulo Redis's 16.

REDIS_DATABASES = 16  # Redis's default `databases`


def xdist_worker_index() -> int:
    """This process's pytest-xdist worker number (gwN), 0 without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") else 0


def with_redis_database(url: str, step: int) -> str:
    """`url` with its Redis database number moved by `step`, modulo 16.

    The number is read as redis-py reads it (the path of a redis:// URL, or a `db` query
    parameter, which wins); the result names it in the query for a unix:// URL, in the path
    otherwise.
    """
    from redis.connection import parse_url

    parts = urlsplit(url)
    number = (int(parse_url(url).get("db") or 0) + step) % REDIS_DATABASES
    query = "&".join(pair for pair in parts.query.split("&") if pair and not pair.startswith("db="))
    if parts.scheme == "unix":  # urlunsplit would drop the empty authority's "//"
        return f"unix://{parts.netloc}{parts.path}?" + "&".join(filter(None, [query, f"db={number}"]))
    return urlunsplit(parts._replace(path=f"/{number}", query=query))


def worker_redis_urls(workers: int, *, robustness: str, cache: str | None) -> list[tuple[str, str | None]]:
    """Per xdist worker, in order: the Redis-only tests' URL and the cache's (None without one).

    ValueError when two of them would share a database (more than 16 in all).
    """
    plan = [
        (with_redis_database(robustness, index), with_redis_database(cache, -index) if cache else None)
        for index in range(max(workers, 1))
    ]
    taken = [url for pair in plan for url in pair if url]
    if len(set(taken)) != len(taken):
        raise ValueError(
            f"{workers} pytest-xdist workers would share a Redis database: worker N uses REDIS_URL's "
            "database minus N and ROBUSTNESS_REDIS_URL's plus N (modulo 16), and no two may meet. "
            "Run fewer workers (-n), or move those databases apart."
        )
    return plan


def _xdist_workers() -> int:
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)


# A Redis database of its own (tests flush it), this xdist worker's; override the base where
# several suites share one Redis.
_ROBUSTNESS_REDIS_BASE = os.environ.get("ROBUSTNESS_REDIS_URL", "redis://127.0.0.1:6379/8")
ROBUSTNESS_REDIS_URL = with_redis_database(_ROBUSTNESS_REDIS_BASE, xdist_worker_index())


def check_worker_redis(workers: int) -> None:
    """ValueError unless each of `workers` xdist workers gets Redis databases of its own."""
    worker_redis_urls(workers, robustness=_ROBUSTNESS_REDIS_BASE, cache=os.environ.get("REDIS_URL"))


def use_worker_redis() -> None:
    """Point this xdist worker's cache at its own Redis database (before any test touches it).

    REDIS_URL is rewritten too, so the servers and child processes a test starts use it.
    """
    index = xdist_worker_index()
    cache = os.environ.get("REDIS_URL")
    if not index or not cache:
        return
    # xdist names a worker it starts in place of a crashed one gw<count>, gw<count + 1>...
    plan = worker_redis_urls(max(_xdist_workers(), index + 1), robustness=_ROBUSTNESS_REDIS_BASE, cache=cache)
    cache = plan[index][1]
    assert cache is not None
    from django.test.signals import setting_changed

    os.environ["REDIS_URL"] = settings.REDIS_URL = cache
    settings.CACHES["default"]["LOCATION"] = cache
    setting_changed.send(sender=None, setting="CACHES", value=settings.CACHES, enter=True)


def redis_caches(location: str = ROBUSTNESS_REDIS_URL, **options: object) -> dict:
    """A CACHES setting on the Redis at `location`, as settings.py builds it from REDIS_URL;
    `options` add to the client's OPTIONS (socket timeouts...)."""
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": location,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient", **options},
            "KEY_PREFIX": "engagement",
        }
    }


def flush_redis(url: str = ROBUSTNESS_REDIS_URL) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


# --- a real server ------------------------------------------------------------------------

# Every variable settings.py and gunicorn.conf.py read; a server starts from none of them.
_SERVER_VARIABLES = (
    *SETTINGS_VARIABLES,
    "GUNICORN_",
    "FORWARDED_ALLOW_IPS",
    "MAX_REQUEST_BODY_BYTES",
    "REQUEST_BODY_TIMEOUT",
    "PORT",
    "PYTEST_",
)
# The marks of a test that serves the app from other processes on the test database.
SERVER_TEST_MARKS = [
    pytest.mark.slow,
    pytest.mark.server,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]
SERVER_APP_NAME = "engagement-robustness-server"


def _answers_200(port: int, path: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@contextlib.contextmanager
def _serving(
    arguments: list[str], env: dict[str, str], log_path: Path, port: int, ready_path: str
) -> Iterator[str]:
    """Start the venv's gunicorn with `arguments`, yield its base URL once `ready_path` answers 200,
    stop it (SIGTERM, then SIGKILL) afterwards."""
    server_env = environment_without(*_SERVER_VARIABLES)
    server_env.update(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DATABASE_POOL_MIN_SIZE": "1",
            "DATABASE_POOL_MAX_SIZE": "4",
            **env,
        }
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (the venv's gunicorn, fixed arguments)
            [str(gunicorn), *arguments, "engagement.wsgi:application"],
            cwd=settings.BASE_DIR,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _answers_200(port, ready_path):
            assert process.poll() is None, f"gunicorn exited:\n{log_path.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"gunicorn never answered:\n{log_path.read_text()[-4000:]}"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def gunicorn_server(log_path: Path, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """The app as the image runs it: gunicorn with gunicorn.conf.py and production settings.

    Serves the test database (data a transactional test commits is visible) on a free
    loopback port, one worker of four threads, logs in `log_path`; yields the base URL once
    /healthz answers. `env` overrides any variable. Its database sessions are named
    "gunicorn-fixture" (application_name).
    """
    port = free_port()
    server_env = {
        "DATABASE_URL": current_database_url("gunicorn-fixture"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
        **(env or {}),
    }
    with _serving(["--config", "gunicorn.conf.py"], server_env, log_path, port, "/healthz") as base_url:
        yield base_url


@contextlib.contextmanager
def running_gunicorn(
    log_dir: Path, *, workers: int = 4, env: dict | None = None, application_name: str = SERVER_APP_NAME
) -> Iterator[str]:
    """`workers` gunicorn processes on Redis (ROBUSTNESS_REDIS_URL) and the test database, on a free
    port, logging to `log_dir`; yields the base URL once /readyz answers 200.

    The server's database sessions carry `application_name`, so a test can find (and kill) them.
    """
    port = free_port()
    server_env = {
        "DATABASE_URL": current_database_url(application_name),
        "REDIS_URL": ROBUSTNESS_REDIS_URL,
        "THROTTLE_LOGIN": "10/min",
        "THROTTLE_USER": "100000/min",
        "DJANGO_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    arguments = ["--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--timeout", "60"]
    arguments += ["--graceful-timeout", "5", "--log-level", "warning"]
    with _serving(arguments, server_env, log_dir / f"gunicorn-{port}.log", port, "/readyz") as base_url:
        yield base_url


def server_log_errors(log_dir: Path) -> str:
    """Tracebacks the workers logged in `log_dir` (there must be none)."""
    text = "\n".join(path.read_text(errors="replace") for path in log_dir.glob("gunicorn-*.log"))
    return "\n".join(line for line in text.splitlines() if "Traceback" in line or '"level": "ERROR"' in line)


# --- Webhooks: a receiver and real worker processes -------------------------------------------


@dataclass(frozen=True)
class ReceivedWebhook:
    """One request the receiver got: its webhook headers, body, whether the signature verified."""

    webhook_id: str
    timestamp: str
    signature: str
    body: bytes
    verified: bool
    status: int
    at: float  # time.monotonic()

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


class WebhookReceiver:
    """A local HTTP server thread receiving webhooks, verifying each with the standardwebhooks library.

    `respond(webhook_id, attempt_number)` gives the status to answer (default 200); it may block
    (a slow receiver). `received` lists every request in arrival order.
    """

    def __init__(self, *, secret: str | None = None, respond: Callable[[str, int], int] | None = None):
        self.secret = secret
        self.respond = respond or (lambda webhook_id, attempt: 200)
        self.received: list[ReceivedWebhook] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                webhook_id = self.headers.get("webhook-id", "")
                try:
                    Webhook(receiver.secret).verify(body, dict(self.headers))
                    verified = True
                except Exception:
                    verified = False
                with receiver._lock:
                    attempt = 1 + sum(1 for r in receiver.received if r.webhook_id == webhook_id)
                status = receiver.respond(webhook_id, attempt)
                with receiver._changed:
                    receiver.received.append(
                        ReceivedWebhook(
                            webhook_id=webhook_id,
                            timestamp=self.headers.get("webhook-timestamp", ""),
                            signature=self.headers.get("webhook-signature", ""),
                            body=body,
                            verified=verified,
                            status=status,
                            at=time.monotonic(),
                        )
                    )
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        # A short poll: shutdown() waits for serve_forever's next poll (0.5 s by default).
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ok(self) -> list[ReceivedWebhook]:
        """The requests answered 2xx, in arrival order."""
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def wait_for(self, condition: Callable[[WebhookReceiver], bool], *, timeout: float = 60) -> None:
        """Block until condition(self) holds; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"receiver: condition not met in {timeout} s; got {len(self.received)}"
                    )
                self._changed.wait(min(remaining, 0.5))

    def wait_for_ids(self, ids, *, timeout: float = 60) -> None:
        """Block until every webhook-id in `ids` was answered 2xx."""
        wanted = set(ids)
        self.wait_for(
            lambda r: wanted <= {x.webhook_id for x in r.received if 200 <= x.status < 300}, timeout=timeout
        )


def worker_environment(**overrides: str) -> dict[str, str]:
    """The environment of a worker process on this test process's database and secret key."""
    from django.conf import settings

    env = environment_without("DJANGO_", "WEBHOOK_", "WORKER_", "REDIS_", "DATABASE_", "PYTEST_")
    env.update(
        {
            "DATABASE_URL": current_database_url("engagement-test-worker"),
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,  # jobs are signed with it
            "DJANGO_ALLOWED_HOSTS": "localhost",
            "DJANGO_LOG_LEVEL": "WARNING",
            "WEBHOOK_ALLOW_INSECURE": "true",
            "WEBHOOK_RETRY_BASE_SECONDS": "0.05",
            "WORKER_PROCESSES": "2",
            "WORKER_POLL_SECONDS": "0.05",
            "WORKER_RETRY_SECONDS": "30",
            **overrides,
        }
    )
    return env


class WorkerProcess:
    """`manage.py run_worker` as a real process group (its own session), for crash tests."""

    def __init__(self, log_path: Path, **env: str):
        from django.conf import settings

        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "run_worker"],
                cwd=settings.BASE_DIR,
                env=worker_environment(**env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the worker and every process it forked, at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, as docker stop sends it (the worker finishes the jobs in hand, stops its
        processes and exits); SIGKILL whatever is left after `timeout`."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # forked children left behind, if any

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def running_workers(log_dir: Path, count: int = 1, **env: str) -> Iterator[list[WorkerProcess]]:
    """`count` worker processes on the test database, stopped (SIGTERM, then SIGKILL) afterwards."""
    log_dir.mkdir(parents=True, exist_ok=True)
    workers = [WorkerProcess(log_dir / f"worker-{i}.log", **env) for i in range(count)]
    try:
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def eventually(check: Callable[[], object], *, timeout: float = 30, interval: float = 0.05):
    """Poll check() until it returns something truthy (returned); AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check.__doc__ or check}")
        time.sleep(interval)


def queued_jobs(func: str | None = None) -> list[dict]:
    """The jobs waiting in the queue (django-q2's rows, decoded), oldest first: func, kwargs, not_before."""
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    jobs = []
    for row in OrmQ.objects.order_by("id"):
        task = SignedPackage.loads(row.payload)
        if func is None or task["func"] == func:
            jobs.append({"func": task["func"], "kwargs": task["kwargs"], "not_before": row.lock, "row": row})
    return jobs


def run_queued_jobs(func: str | None = None) -> list:
    """Run the queued jobs (of `func`) in this process, as a worker would, and remove them; their results.

    For tests of what a job does; the tests of the worker itself run real worker processes.
    """
    from django.utils.module_loading import import_string

    results = []
    for job in queued_jobs(func):
        job["row"].delete()
        results.append(import_string(job["func"])(**job["kwargs"]))
    return results
