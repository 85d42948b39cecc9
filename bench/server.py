"""The server under test: gunicorn with gunicorn.conf.py and production settings on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import ROOT
from bench.processes import stop_process_group


def app_environment(url: str, *, workers: int, threads: int) -> dict[str, str]:
    """The app's environment: production settings over plain HTTP, throttles out of the way."""
    unlimited = "1000000/s"
    return {
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "engagement.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Production logging: the app's INFO lines (one per request) are part of what is measured.
        "DJANGO_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
        "THROTTLE_USER": unlimited,
        "THROTTLE_ANON": unlimited,
        "THROTTLE_LOGIN": unlimited,
        "THROTTLE_REGISTER": unlimited,
        "JWT_ACCESS_MINUTES": "240",  # the tokens are minted before the phases
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(threads),
        "GUNICORN_LOG_LEVEL": "warning",
        # One pooled connection per thread, opened when the worker starts.
        "DATABASE_POOL_MIN_SIZE": os.environ.get("DATABASE_POOL_MIN_SIZE", str(threads)),
        "DATABASE_POOL_MAX_SIZE": os.environ.get("DATABASE_POOL_MAX_SIZE", str(threads)),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """The app under gunicorn.conf.py on a free loopback port; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> Gunicorn:
        env = {**os.environ, **self.env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        with open(self.log_path, "w", encoding="utf-8") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "engagement.wsgi:application"],
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            stop_process_group(self.proc)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log_path}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.base_url}/readyz", timeout=2) as response,  # noqa: S310
            ):
                if response.status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /readyz within 60 s; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)

    def errors(self) -> list[str]:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        markers = ("ERROR", "CRITICAL", "Traceback", "WORKER TIMEOUT")
        return [line for line in text.splitlines() if any(m in line for m in markers)][:50]
