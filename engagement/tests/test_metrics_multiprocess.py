"""/metrics under real gunicorn with two worker processes: a scrape answered by one worker sees what
the other counted; a worker's death keeps its counts; no token, no scrape.

Which worker serves a request is decided by stopping the other one (SIGSTOP) for a moment: a
stopped process accepts no connection.

The webhook delivery is recorded the way the webhook worker records an attempt
(analytics.services.count_webhook_delivery, from another process: this test's), and read back by
the scrape-time collector that settings.ENGAGEMENT_METRICS_COLLECTORS lists.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from accounts.tests.factories import UserFactory
from analytics.services import count_webhook_delivery
from engagement.testing import SERVER_TEST_MARKS, bearer_header, running_gunicorn, server_log_errors
from inventory.services import seed_tools
from progression.services import adjust_state
from rewards.services import seed_rewards

pytestmark = SERVER_TEST_MARKS

TOKEN = "two-worker-scrape-token-42"
WORKERS = 2
POOL_MAX = 4  # DATABASE_POOL_MAX_SIZE of the test server


def server_processes(port: int) -> tuple[int, list[int]]:
    """(master pid, worker pids) of the gunicorn serving on `port`: ours, found by its --bind."""
    bind = f"127.0.0.1:{port}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if bind in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    parents = {
        pid: int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1]) for pid in pids
    }
    (master,) = [pid for pid in pids if parents[pid] not in pids]
    return master, sorted(pid for pid in pids if parents[pid] == master)


def multiprocess_dir(worker: int) -> Path:
    """The PROMETHEUS_MULTIPROC_DIR gunicorn.conf.py made: the one holding this worker's files."""
    (found,) = {
        path.parent
        for parent in (Path("/dev/shm"), Path(tempfile.gettempdir()))
        for path in parent.glob(f"engagement-metrics-*/*_{worker}.db")
    }
    return found


@contextlib.contextmanager
def only(worker: int, *, besides: int):
    """Let only `worker` accept connections: the other one is stopped (SIGSTOP) meanwhile."""
    os.kill(besides, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(besides, signal.SIGCONT)


def scrape(base_url: str) -> dict[tuple[str, frozenset], float]:
    """One scrape on a new connection (so either worker may answer)."""
    response = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def assert_counts(samples) -> None:
    assert value(samples, "engagement_checkins_total") == 1
    assert value(samples, "engagement_tool_purchases_total", tool="coffee") == 1
    assert value(samples, "engagement_webhook_deliveries_total", result="failed") == 1
    checkins = {"route": "/api/v1/checkins/", "method": "POST", "status": "201"}
    assert value(samples, "engagement_http_request_duration_seconds_count", **checkins) == 1


def test_metrics_when_two_gunicorn_workers_then_every_scrape_counts_check_in_purchase_and_failed_delivery(
    tmp_path,
):
    seed_tools()
    seed_rewards()
    user = UserFactory()
    adjust_state(user=user, note="budget", loyalty=10)

    with running_gunicorn(tmp_path, workers=WORKERS, env={"METRICS_TOKEN": TOKEN}) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        _, (first, second) = server_processes(port)

        no_token = httpx.get(f"{base_url}/metrics", timeout=10)
        wrong = httpx.get(f"{base_url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert (no_token.status_code, wrong.status_code) == (401, 401)
        assert no_token.json()["error"]["code"] == "not_authenticated"

        headers = bearer_header(user)
        with only(first, besides=second):  # the first worker serves the changes ...
            assert httpx.post(f"{base_url}/api/v1/checkins/", headers=headers, timeout=10).status_code == 201
            bought = httpx.post(f"{base_url}/api/v1/tools/coffee/buy/", headers=headers, timeout=10)
            assert bought.status_code == 201
        count_webhook_delivery(result="failed")  # as the webhook worker records a failed attempt
        with only(second, besides=first):  # ... the second answers the scrapes
            for _ in range(3):
                assert_counts(scrape(base_url))
        samples = scrape(base_url)
        assert_counts(samples)
        # Both workers report their pool, in a gauge summed over live workers.
        assert value(samples, "engagement_db_pool_max_connections", database="default") == WORKERS * POOL_MAX
        metrics_dir = multiprocess_dir(first)

        # The worker that counted dies: its counts stay (counters never go down), its live gauges go.
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while first in (alive := server_processes(port)[1]) or len(alive) < WORKERS:
            assert time.monotonic() < deadline, "gunicorn did not replace the worker"
            time.sleep(0.2)
        for _ in range(5):
            samples = scrape(base_url)
            assert_counts(samples)
            assert (
                value(samples, "engagement_db_pool_max_connections", database="default") <= WORKERS * POOL_MAX
            )
    assert not server_log_errors(tmp_path)
    assert not metrics_dir.exists()  # the server removed the directory it made
