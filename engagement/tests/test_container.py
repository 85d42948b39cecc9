"""What the image runs besides Django: gunicorn.conf.py's logging and docker/healthcheck.py."""

import importlib.util
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

PROJECT_ROOT = Path(settings.BASE_DIR)
GUNICORN = Path(sys.executable).with_name("gunicorn")
HEALTHCHECK = PROJECT_ROOT / "docker" / "healthcheck.py"
# Every name settings.py reads; the server starts from none of them.
_OWN_VARIABLES = ("DJANGO_", "DATABASE_", "REDIS_URL", "JWT_", "THROTTLE_", "NUM_PROXIES", "GUNICORN_")
# gunicorn's error log format: "[2026-01-31 12:00:00 +0000] [4242] [INFO] Booting worker with pid: 4243"
ERROR_LOG_LINE = re.compile(r"^\[[\d: -]+ [+-]\d{4}\] \[\d+\] \[INFO\] Booting worker with pid: \d+$", re.M)
ACCESS_LOG_LINE = re.compile(r'^127\.0\.0\.1 - - \[[^]]+\] "GET /readyz HTTP/1\.1" 200 ', re.M)


def _load_healthcheck():
    spec = importlib.util.spec_from_file_location("healthcheck", HEALTHCHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load_healthcheck()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _test_database_url() -> str:
    """DATABASE_URL of the (migrated) test database this process uses, for a server process."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "postgres", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _run_healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=10, check=False
    )


@pytest.mark.parametrize(
    ("allowed_hosts", "host"),
    [
        ("api.example.com,localhost", "api.example.com"),
        (" api.example.com , localhost", "api.example.com"),
        (".example.com,localhost", "example.com"),
        ("*", "localhost"),
        ("", "localhost"),
    ],
)
def test_healthcheck_host_header_is_the_first_allowed_host(allowed_hosts, host):
    assert healthcheck.host_header(allowed_hosts) == host


@pytest.mark.parametrize(
    ("environ", "port"),
    [
        ({}, 8000),
        ({"PORT": "9000"}, 9000),
        ({"GUNICORN_BIND": "0.0.0.0:8001", "PORT": "9000"}, 8001),
        ({"GUNICORN_BIND": "[::]:8002"}, 8002),
        ({"GUNICORN_BIND": "127.0.0.1"}, 8000),
    ],
)
def test_healthcheck_server_port_follows_gunicorn_bind_then_port(environ, port):
    assert healthcheck.server_port(environ) == port


def test_healthcheck_nothing_listening_exits_1():
    completed = _run_healthcheck({"GUNICORN_BIND": f"127.0.0.1:{_free_port()}"})

    assert completed.returncode == 1
    assert "/readyz" in completed.stdout


@pytest.mark.server
@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("access_log", [True, False])
def test_gunicorn_conf_logs_to_stdout_and_healthcheck_passes(tmp_path, access_log):
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(_OWN_VARIABLES)}
    env.pop("PORT", None)
    env.update(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            # The health check's Host is the first entry, dot stripped: example.com.
            "DJANGO_ALLOWED_HOSTS": ".example.com,127.0.0.1",
            # /readyz is exempt from the redirect, so the check works over plain HTTP.
            "DJANGO_SECURE_SSL_REDIRECT": "true",
            "DJANGO_LOG_LEVEL": "WARNING",
            "DATABASE_URL": _test_database_url(),
            "DATABASE_POOL_MIN_SIZE": "1",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_ACCESS_LOG": "1" if access_log else "0",
        }
    )
    stdout_path, stderr_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        server = subprocess.Popen(
            [str(GUNICORN), "--config", "gunicorn.conf.py", "engagement.wsgi:application"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        while (check := _run_healthcheck(env)).returncode != 0:
            assert server.poll() is None, stderr_path.read_text()
            assert time.monotonic() < deadline, check.stdout
            time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=30)
    out, err = stdout_path.read_text(), stderr_path.read_text()

    assert ERROR_LOG_LINE.search(out), out
    assert bool(ACCESS_LOG_LINE.search(out)) is access_log, out
    assert not ERROR_LOG_LINE.search(err), err
    assert "HTTP/1.1" not in err, err


def _gunicorn_conf(monkeypatch, tmp_path, **environ: str) -> dict:
    """gunicorn.conf.py's settings, read as gunicorn reads them (the file run as a module)."""
    import runpy

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the config makes none then
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))


@pytest.mark.parametrize("access_log", [True, False])
def test_gunicorn_logger_gathers_an_access_lines_fields_only_when_the_access_log_is_on(
    monkeypatch, tmp_path, access_log
):
    """With the access log off, access() returns before reading the response or the request.

    With it on, the line is written: the server test above finds it in gunicorn's output.
    """
    from gunicorn.config import Config

    conf = _gunicorn_conf(monkeypatch, tmp_path, GUNICORN_ACCESS_LOG="1" if access_log else "0")
    config = Config()
    for name in ("logconfig_dict", "logger_class", "access_log_format"):
        config.set(name, conf[name])
    # gunicorn's logger applies logconfig_dict to this process's logging: put it back after.
    loggers = [logging.getLogger(name) for name in ("", "gunicorn.error", "gunicorn.access")]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers]
    try:
        logger = config.logger_class(config)
        enabled = logger.access_log_enabled
        if not access_log:
            assert logger.access(None, None, None, None) is None  # nothing of them was read
    finally:
        for lg, handlers, level, propagate, disabled in saved:
            lg.handlers[:], lg.level, lg.propagate, lg.disabled = handlers, level, propagate, disabled

    assert enabled is access_log


def test_gunicorn_post_worker_init_freezes_what_the_worker_loaded(monkeypatch, tmp_path):
    """After the hook, the objects alive at worker start are out of the collector's reach."""
    import gc

    conf = _gunicorn_conf(monkeypatch, tmp_path)
    assert gc.get_freeze_count() == 0
    try:
        conf["post_worker_init"](None)
        frozen = gc.get_freeze_count()
        tracked = len(gc.get_objects())
    finally:
        gc.unfreeze()

    assert frozen > 50_000  # Django, DRF and the app's modules, at the least
    assert tracked < frozen / 10  # a full collection now walks a small fraction of them
