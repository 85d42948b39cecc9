"""Test support shared by every app's tests: threads released together, a real server, a webhook
receiver, workers."""

from __future__ import annotations

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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from standardwebhooks.webhooks import Webhook


def run_in_threads(count: int, work: Callable[[int], object], *, timeout: float = 30) -> list:
    """Run work(i) in `count` threads released together by a barrier; return the results.

    Each thread closes its own database connection when done.
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
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    assert not errors, errors
    return results


# --- a real server ------------------------------------------------------------------------

# Every variable settings.py and gunicorn.conf.py read; a server starts from none of them.
_SERVER_VARIABLES = (
    "DJANGO_",
    "DATABASE_",
    "REDIS_URL",
    "JWT_",
    "THROTTLE_",
    "NUM_PROXIES",
    "GUNICORN_",
    "FORWARDED_ALLOW_IPS",
    "MAX_REQUEST_BODY_BYTES",
    "REQUEST_BODY_TIMEOUT",
    "DEV_AUTH_HEADER",
    "PORT",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_database_url() -> str:
    """DATABASE_URL of the test database this process uses, for a server in another process."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "postgres", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@contextlib.contextmanager
def gunicorn_server(log_path: Path, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """The app as the image runs it: gunicorn with gunicorn.conf.py and production settings.

    Serves the test database (data a transactional test commits is visible) on a free
    loopback port, one worker of four threads, logs in `log_path`; yields the base URL once
    /healthz answers. `env` overrides any variable.
    """
    port = free_port()
    server_env = {key: value for key, value in os.environ.items() if not key.startswith(_SERVER_VARIABLES)}
    server_env.update(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": server_database_url(),
            "DATABASE_POOL_MIN_SIZE": "1",
            "DATABASE_POOL_MAX_SIZE": "4",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "4",
            **(env or {}),
        }
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (the venv's gunicorn, fixed arguments)
            [str(gunicorn), "--config", "gunicorn.conf.py", "engagement.wsgi:application"],
            cwd=settings.BASE_DIR,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"gunicorn exited:\n{log_path.read_text()[-4000:]}"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"gunicorn never answered:\n{log_path.read_text()[-4000:]}"
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

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

    from engagement.tests.test_robustness_multiprocess import current_database_url

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "WEBHOOK_", "WORKER_", "REDIS_", "DATABASE_", "PYTEST_"))
    }
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
