"""The server under test: gunicorn with gunicorn.conf.py and production settings on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
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
        "THROTTLE_LOGIN_ACCOUNT": unlimited,
        "JWT_ACCESS_MINUTES": "240",  # the tokens are minted before the phases
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(threads),
        "GUNICORN_LOG_LEVEL": "warning",
        # One pooled connection per thread, opened when the worker starts.
        "DATABASE_POOL_MIN_SIZE": os.environ.get("DATABASE_POOL_MIN_SIZE", str(threads)),
        "DATABASE_POOL_MAX_SIZE": os.environ.get("DATABASE_POOL_MAX_SIZE", str(threads)),
    }


def through_pgbouncer(env: dict[str, str], bouncer: PgBouncer) -> dict[str, str]:
    """The app's environment pointed at PgBouncer (transaction pooling) instead of PostgreSQL."""
    return {**env, "DATABASE_URL": bouncer.url, "DATABASE_PGBOUNCER": "true"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """The app under gunicorn.conf.py on a free loopback port; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(
        self, env: dict[str, str], log_path: Path, *, root: Path = ROOT, python: str = sys.executable
    ):
        self.env = env
        self.log_path = log_path
        self.root = root  # the checkout served: its gunicorn.conf.py and code, run by `python`
        self.python = python
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> Gunicorn:
        env = {**os.environ, **self.env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        with open(self.log_path, "w", encoding="utf-8") as log_file:
            self.proc = subprocess.Popen(  # noqa: S603 (this venv's or --against's own python)
                [self.python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "engagement.wsgi:application"],
                cwd=self.root,
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


class PgBouncer:
    """PgBouncer in transaction mode on a free loopback port, in front of the bench database.

    Debian's `pgbouncer` package (installed when missing: `apt-get install pgbouncer`). It will
    not run as root, so it drops to the `postgres` user then. `pool_size` server connections
    are shared by every app instance; each app process keeps its own pool of client
    connections to PgBouncer.
    """

    BINARY = "pgbouncer"

    def __init__(self, conninfo: dict, workdir: Path, *, pool_size: int = 20):
        self.conninfo = conninfo
        self.workdir = workdir
        self.pool_size = pool_size
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.config_dir: Path | None = None
        dbname = conninfo["dbname"]
        user = conninfo.get("user") or "postgres"
        self.url = f"postgres://{user}@127.0.0.1:{self.port}/{dbname}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @staticmethod
    def install() -> str:
        found = shutil.which(PgBouncer.BINARY) or shutil.which(f"/usr/sbin/{PgBouncer.BINARY}")
        if found:
            return found
        subprocess.run(["apt-get", "install", "-y", "-q", "pgbouncer"], check=True)  # noqa: S607
        return shutil.which(f"/usr/sbin/{PgBouncer.BINARY}") or PgBouncer.BINARY

    def __enter__(self) -> PgBouncer:
        binary = self.install()
        user = self.conninfo.get("user") or "postgres"
        keys = ("host", "port", "dbname", "user")
        target = " ".join(f"{key}={self.conninfo[key]}" for key in keys if self.conninfo.get(key))
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Its own directory under the system's temporary one: dropped to the postgres user,
        # PgBouncer must be able to reach the files (pytest's tmp_path is private to root).
        self.config_dir = Path(tempfile.mkdtemp(prefix="engagement-pgbouncer-"))
        os.chmod(self.config_dir, 0o755)  # noqa: S103 (the postgres user reads the config)
        (self.config_dir / "userlist.txt").write_text(f'"{user}" ""\n', encoding="utf-8")
        ini = self.config_dir / "pgbouncer.ini"
        ini.write_text(
            "\n".join(
                [
                    "[databases]",
                    f"{self.conninfo['dbname']} = {target}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {self.config_dir / 'userlist.txt'}",
                    "pool_mode = transaction",
                    f"default_pool_size = {self.pool_size}",
                    "max_client_conn = 1000",
                    "server_reset_query =",
                    "ignore_startup_parameters = extra_float_digits",
                    "log_connections = 0",
                    "log_disconnections = 0",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        command = [binary, str(ini)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "postgres"]
        with open(self.workdir / "pgbouncer.log", "w", encoding="utf-8") as log_file:
            self.proc = subprocess.Popen(  # noqa: S603
                command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.__exit__()
                raise RuntimeError(f"pgbouncer exited with {self.proc.returncode}; see {self.workdir}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                return self
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("pgbouncer did not listen within 15 s")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
        if self.config_dir is not None:
            shutil.rmtree(self.config_dir, ignore_errors=True)
