"""Test support shared by every app's tests: requests in threads released together, a real server."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection


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
