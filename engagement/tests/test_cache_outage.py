"""A cache outage degrades quietly: requests keep their answers, logs stay short, /readyz says so.

From the outage log's arithmetic (a fake clock), through an unreachable Redis in process, to
gunicorn with production settings whose Redis is stopped under load and started again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
import threading
import time
from collections import Counter

import httpx
import pytest
import redis
from django.test import override_settings

from accounts.tests.factories import UserFactory, bearer_client
from engagement.cache import CacheHealth
from engagement.logging import OutageLog
from engagement.testing import ROBUSTNESS_REDIS_URL, bearer_header, free_port, redis_caches, running_gunicorn


def redis_cache(location: str) -> dict:
    return redis_caches(location, SOCKET_CONNECT_TIMEOUT=0.5, SOCKET_TIMEOUT=2.0)


def unreachable_redis() -> dict:
    """A Redis cache where nothing listens; a new address each time, so each test's outage is its own."""
    return redis_cache(f"redis://127.0.0.1:{free_port()}/0")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the outage log --------------------------------------------------------------------------


@pytest.fixture
def outage_log(caplog):
    """(an OutageLog of "shared cache" on a fake clock, the clock); caplog records from INFO."""
    clock = FakeClock()
    outage = OutageLog(logging.getLogger("engagement.test"), "shared cache", interval=60, clock=clock)
    with caplog.at_level(logging.INFO, logger="engagement.test"):
        yield outage, clock


def test_outage_log_when_failures_repeat_within_interval_then_one_warning_without_traceback(
    caplog, outage_log
):
    outage, clock = outage_log

    for _ in range(1000):
        outage.failure(ConnectionError("Connection refused"))
        clock.now += 0.05  # 1000 failures in 50 s

    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "shared cache unreachable (ConnectionError: Connection refused)"
    assert record.exc_info is None


def test_outage_log_when_interval_passes_then_next_warning_counts_the_repeats(caplog, outage_log):
    outage, clock = outage_log

    for tenth in range(600):  # one failure every 0.1 s for a minute, then one more
        clock.now = 1000 + tenth / 10
        outage.failure(TimeoutError("timed out"))
    clock.now = 1060
    outage.failure(TimeoutError("timed out"))

    assert [r.getMessage() for r in caplog.records] == [
        "shared cache unreachable (TimeoutError: timed out)",
        "shared cache unreachable (TimeoutError: timed out); 599 more failures in the last 60 s",
    ]


def test_outage_log_when_dependency_recovers_then_one_info_and_next_failure_reported_at_once(
    caplog, outage_log
):
    outage, clock = outage_log

    for _ in range(3):
        outage.failure(ConnectionError("refused"))
    outage.success()
    outage.success()
    clock.now += 1
    outage.failure(ConnectionError("refused again"))

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "shared cache unreachable (ConnectionError: refused)"),
        ("INFO", "shared cache reachable again after 3 failures"),
        ("WARNING", "shared cache unreachable (ConnectionError: refused again)"),
    ]


def test_cache_health_after_failure_paused_then_usable_again():
    clock = FakeClock()
    health = CacheHealth(pause=5, clock=clock)
    assert health.usable()

    health.failed(ConnectionError("refused"))
    clock.now += 4.9
    paused = health.usable()
    clock.now += 0.2

    assert paused is False
    assert health.usable()


# --- an unreachable Redis, in process --------------------------------------------------------


def test_redis_unreachable_many_requests_answer_as_usual_and_log_one_line_without_traceback(
    api_client, user, catalog, caplog
):
    client = bearer_client(user)
    statuses = Counter()
    with override_settings(CACHES=unreachable_redis()), caplog.at_level(logging.INFO):
        for _ in range(20):
            statuses[("tools", api_client.get("/api/v1/tools/").status_code)] += 1
            statuses[("me", client.get("/api/v1/me/").status_code)] += 1
            login = api_client.post(
                "/api/v1/auth/token/", {"email": user.email, "password": "wrong"}, format="json"
            )
            statuses[("login", login.status_code)] += 1

    assert statuses == {("tools", 200): 20, ("me", 200): 20, ("login", 401): 20}
    cache_lines = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(cache_lines) == 1, [r.getMessage() for r in cache_lines]
    assert cache_lines[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a cache outage"


def test_readyz_redis_unreachable_returns_200_with_cache_degraded(db, api_client):
    with override_settings(CACHES=unreachable_redis()):
        response = api_client.get("/readyz")

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready", "cache": "degraded"}


def test_readyz_redis_answers_returns_cache_ok(db, api_client):
    with override_settings(CACHES=redis_cache(ROBUSTNESS_REDIS_URL)):
        response = api_client.get("/readyz")

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready", "cache": "ok"}


def test_redis_connection_parses_replies_with_hiredis():
    """The locked hiredis is what redis-py reads replies with (a third less CPU per small reply)."""
    from django_redis import get_redis_connection
    from redis._parsers import _HiredisParser

    with override_settings(CACHES=redis_cache(ROBUSTNESS_REDIS_URL)):
        client = get_redis_connection("default")
        client.set("hiredis-probe", "ok", ex=5)
        connection = client.connection_pool.get_connection()
        try:
            parser = connection._parser
        finally:
            client.connection_pool.release(connection)
        value = client.get("hiredis-probe")

    assert isinstance(parser, _HiredisParser)
    assert value == b"ok"


def test_readyz_local_memory_cache_returns_cache_local(db, api_client):
    local = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(CACHES=local):
        response = api_client.get("/readyz")

    assert response.json() == {"status": "ready", "cache": "local"}


# --- gunicorn, production settings: Redis stopped under load, then started again ----------------

WORKERS = 2
ANON_RATE = 10  # per minute: the anonymous GETs reach it within seconds while Redis counts
PHASE_TIMEOUT = 90  # seconds a phase may take to show what it must on a slow machine


class RedisServer:
    """A private Redis on a free port (no persistence), stopped and started by the test."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        assert self.binary, "redis-server is needed (apt-get install redis-server)"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        try:
            while True:
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        return
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class Load:
    """Threads sending anonymous and authenticated requests until stopped; answers by phase."""

    def __init__(self, base_url: str, headers: dict, *, threads: int = 4) -> None:
        self.base_url = base_url
        self.headers = headers
        self.phase = "redis up"
        self.answers: Counter = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._loop, args=(n,)) for n in range(threads)]

    def _loop(self, n: int) -> None:
        try:
            with httpx.Client(base_url=self.base_url, timeout=30) as client:
                while not self._stop.is_set():
                    if n % 2:
                        response = client.get("/api/v1/me/", headers=self.headers)
                    else:
                        response = client.get("/api/v1/tools/")
                    with self._lock:
                        self.answers[(self.phase, response.status_code)] += 1
                    time.sleep(0.01)
        except BaseException as exc:
            self._errors.append(exc)

    def switch(self, phase: str, *, settle: float = 0.5) -> None:
        """Answers to requests in flight during a change are counted apart ("... (changing)")."""
        self.phase = f"{phase} (changing)"
        time.sleep(settle)
        self.phase = phase

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        assert not self._errors, self._errors

    def statuses(self, phase: str) -> Counter:
        with self._lock:
            return Counter({status: n for (name, status), n in self.answers.items() if name == phase})

    def wait_until(self, condition, *, at_least: float = 0.0) -> None:
        """Keep the load on until `condition()` holds and `at_least` seconds have passed."""
        started = time.monotonic()
        while not (time.monotonic() - started >= at_least and condition()):
            assert time.monotonic() - started < PHASE_TIMEOUT, dict(self.answers)
            assert not self._errors, self._errors
            time.sleep(0.1)


def json_lines(log_dir) -> list[dict]:
    records = []
    for path in log_dir.glob("gunicorn-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    return records


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gunicorn_redis_stopped_under_load_no_5xx_bounded_logs_and_throttles_resume(tmp_path):
    user = UserFactory()
    cache_server = RedisServer()
    cache_server.start()
    env = {"REDIS_URL": cache_server.url, "THROTTLE_ANON": f"{ANON_RATE}/min", "DJANGO_LOG_LEVEL": "INFO"}
    try:
        with (
            running_gunicorn(tmp_path, workers=WORKERS, env=env) as base_url,
            Load(base_url, bearer_header(user)) as load,
        ):
            load.wait_until(lambda: load.statuses("redis up")[429] > 0)
            cache_server.stop()
            load.switch("redis down")
            load.wait_until(lambda: sum(load.statuses("redis down").values()) >= 100, at_least=5)
            degraded = httpx.get(f"{base_url}/readyz", timeout=10)
            cache_server.start()
            # Longer than the pause after a failure (engagement.cache.PAUSE) before throttles retry.
            load.switch("redis back", settle=6)
            load.wait_until(lambda: load.statuses("redis back")[429] > 0)
            ready = httpx.get(f"{base_url}/readyz", timeout=10)
    finally:
        cache_server.stop()

    up, down, back = (load.statuses(p) for p in ("redis up", "redis down", "redis back"))
    assert not [s for (_, s) in load.answers if s >= 500], load.answers
    assert 429 in up, up  # the anonymous rate is reached while Redis counts
    assert sum(down.values()) >= 100, down
    assert set(down) == {200}, down  # every throttle lets requests through while Redis is gone
    assert 429 in back, back  # and counts again once it answers
    assert degraded.status_code == 200
    assert degraded.json() == {"status": "ready", "cache": "degraded"}
    assert ready.json() == {"status": "ready", "cache": "ok"}

    records = json_lines(tmp_path)
    outage = [r for r in records if r["logger"] == "engagement.cache" and r["level"] == "WARNING"]
    recovered = [r for r in records if r["logger"] == "engagement.cache" and r["level"] == "INFO"]
    print(f"cache log lines: {len(outage)} WARNING, {len(recovered)} INFO; answers: {dict(load.answers)}")
    assert 1 <= len(outage) <= WORKERS, outage  # at most one per worker process within a minute
    assert 1 <= len(recovered) <= WORKERS, recovered
    assert not [r for r in records if "exc_info" in r or r["level"] in {"ERROR", "CRITICAL"}]
    text = "\n".join(path.read_text(errors="replace") for path in tmp_path.glob("gunicorn-*.log"))
    assert "Traceback" not in text
