"""GET /metrics in one process: who may scrape, what requests and committed changes add, extensions."""

from __future__ import annotations

import os
import runpy
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from analytics.services import count_webhook_delivery
from engagement import metrics
from inventory.tests.helpers import API, client_for, error_code, grant_loyalty
from progression.services import check_in

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-0123456789"


def scrape(client=None, **headers) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape but the histograms' buckets: {(name, labels): value}. No test
    reads a bucket, and they are most of the text (parsing them, most of a scrape's time)."""
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    lines = response.content.decode().splitlines(keepends=True)
    text = "".join(line for line in lines if "_bucket{" not in line)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- Who may scrape -------------------------------------------------------------------------


def test_metrics_when_no_token_set_and_client_on_loopback_then_served(client):
    response = client.get("/metrics")  # the test client's address is 127.0.0.1
    assert response.status_code == 200
    assert b"# TYPE engagement_http_request_duration_seconds histogram" in response.content
    families = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert "engagement_http_request_duration_seconds" in families  # the whole text parses
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize("address", ["203.0.113.5", "10.0.0.7", "::ffff:198.51.100.1", "not-an-ip"])
def test_metrics_when_no_token_set_and_client_elsewhere_then_403(client, address):
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == 403
    assert error_code(response) == "permission_denied"
    assert "loopback" in response.json()["error"]["message"]


def test_metrics_when_behind_a_proxy_and_client_elsewhere_then_403(client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert response.status_code == 403


@pytest.mark.parametrize("authorization", [None, f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer "])
def test_metrics_when_token_set_and_missing_or_wrong_then_401_even_on_loopback(
    client, settings, authorization
):
    settings.METRICS_TOKEN = TOKEN
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"engagement_" not in response.content


def test_metrics_when_token_set_and_given_then_served_to_any_address(client, settings):
    settings.METRICS_TOKEN = TOKEN
    samples = scrape(client, REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert any(name.startswith("engagement_") for name, _ in samples)


def test_metrics_when_openmetrics_asked_for_then_openmetrics(client):
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


def test_metrics_when_posted_then_405(client):
    assert client.post("/metrics").status_code == 405


# --- Requests ---------------------------------------------------------------------------------


def test_request_metrics_when_tool_fetched_then_counted_by_route_pattern_not_path(client, catalog):
    route = {"route": "/api/v1/tools/<slug:slug>/", "method": "GET", "status": "200"}
    before = scrape()
    for slug in ("coffee", "rest"):
        assert client.get(f"{API}/tools/{slug}/").status_code == 200
    assert client.get(f"{API}/tools/nope/").status_code == 404
    after = scrape()

    count = "engagement_http_request_duration_seconds_count"
    assert value(after, count, **route) - value(before, count, **route) == 2
    assert (
        value(after, count, **{**route, "status": "404"}) - value(before, count, **{**route, "status": "404"})
        == 1
    )
    assert value(after, "engagement_http_request_duration_seconds_sum", **route) > value(
        before, "engagement_http_request_duration_seconds_sum", **route
    )
    labels = {dict(key).get("route") for _, key in after}
    assert not any(label and "coffee" in label for label in labels)


def test_request_metrics_when_no_pattern_matches_or_odd_method_then_bounded_labels(client):
    before = scrape()
    assert client.get("/no/such/page/").status_code == 404
    assert client.generic("BREW", "/healthz").status_code == 405
    after = scrape()

    count = "engagement_http_request_duration_seconds_count"
    unresolved = {"route": metrics.UNRESOLVED_ROUTE, "method": "GET", "status": "404"}
    brew = {"route": "/healthz", "method": "other", "status": "405"}
    assert value(after, count, **unresolved) - value(before, count, **unresolved) == 1
    assert value(after, count, **brew) - value(before, count, **brew) == 1


# --- Committed changes ------------------------------------------------------------------------


def test_domain_counters_when_changes_commit_then_each_counted_once(
    user, catalog, django_capture_on_commit_callbacks
):
    client = client_for(user)
    grant_loyalty(user, 10)
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{API}/checkins/").status_code == 201
        assert client.post(f"{API}/tools/coffee/buy/").status_code == 201
        assert client.post(f"{API}/inventory/coffee/use/").status_code == 200
        assert client.post(f"{API}/checkins/").status_code == 409  # refused: nothing committed
    after = scrape()

    def added(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert added("engagement_checkins_total") == 1
    assert added("engagement_tool_purchases_total", tool="coffee") == 1
    assert added("engagement_tool_uses_total", tool="coffee") == 1
    assert added("engagement_ledger_events_total", kind="check_in") == 1
    assert added("engagement_ledger_events_total", kind="adjustment") == 0  # granted before `before`


def test_domain_counters_when_change_rolls_back_then_nothing_counted(
    user, catalog, django_capture_on_commit_callbacks
):
    before = scrape()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        check_in(user=user)
        raise RuntimeError("the caller fails after the check-in")
    assert callbacks == []
    assert value(scrape(), "engagement_checkins_total") == value(before, "engagement_checkins_total")


def test_change_increments_when_claims_and_freezes_then_counted_by_reward_and_freeze():
    events = [
        SimpleNamespace(kind="freeze_consumed", reference="freeze:2", inventory_count_delta=-2),
        SimpleNamespace(kind="check_in", reference="41", inventory_count_delta=0),
        SimpleNamespace(kind="reward_claim", reference="streak_7", inventory_count_delta=0),
    ]
    increments = {
        (getattr(c, "_name", None), tuple(getattr(c, "_labelvalues", ()))): n
        for c, n in metrics.change_increments(events)
    }
    assert increments[("engagement_streak_freezes_consumed", ())] == 2
    assert increments[("engagement_checkins", ())] == 1
    assert increments[("engagement_reward_claims", ("streak_7",))] == 1
    assert increments[("engagement_ledger_events", ("freeze_consumed",))] == 1


# --- Scrape-time collectors -------------------------------------------------------------------


def test_webhook_deliveries_when_attempts_recorded_then_totals_by_result(db):
    count_webhook_delivery(result="failed")
    count_webhook_delivery(result="failed", at=timezone.now() - timedelta(days=3))
    count_webhook_delivery(result="succeeded")
    samples = scrape()
    assert value(samples, "engagement_webhook_deliveries_total", result="failed") == 2
    assert value(samples, "engagement_webhook_deliveries_total", result="succeeded") == 1


def test_job_queue_depth_when_jobs_queued_then_counted_by_queue(db):
    from engagement.queue import enqueue

    assert value(scrape(), "engagement_job_queue_depth", queue="engagement") == 0
    enqueue("engagement.queue.purge_failed_jobs")
    enqueue("engagement.queue.purge_failed_jobs", not_before=timezone.now() + timedelta(minutes=5))
    assert value(scrape(), "engagement_job_queue_depth", queue="engagement") == 2


def queue_depth():
    yield metrics.job_queue_depth({"default": 3, "webhooks": 0})


def broken_collector():
    raise RuntimeError("the queue's database is down")


def test_collectors_when_one_added_in_settings_then_its_metrics_scraped(settings):
    settings.ENGAGEMENT_METRICS_COLLECTORS = [f"{__name__}.queue_depth"]
    samples = scrape()
    assert value(samples, "engagement_job_queue_depth", queue="default") == 3
    assert ("engagement_job_queue_depth", frozenset({("queue", "webhooks")})) in samples


def test_collectors_when_one_fails_then_the_rest_still_served(settings, caplog):
    settings.ENGAGEMENT_METRICS_COLLECTORS = [f"{__name__}.broken_collector", f"{__name__}.queue_depth"]
    samples = scrape()
    assert value(samples, "engagement_job_queue_depth", queue="default") == 3
    assert "broken_collector failed" in caplog.text


@pytest.mark.postgres
def test_pool_metrics_when_scraped_then_this_pool_in_use_idle_and_max(client):
    client.get("/healthz")
    samples = scrape()
    pool = connection.settings_dict["OPTIONS"]["pool"]
    assert value(samples, "engagement_db_pool_max_connections", database="default") == pool["max_size"]
    in_use = value(samples, "engagement_db_pool_connections", database="default", state="in_use")
    idle = value(samples, "engagement_db_pool_connections", database="default", state="idle")
    assert in_use >= 1  # this test's own connection
    assert in_use + idle <= pool["max_size"]


# --- gunicorn.conf.py: the multiprocess directory ---------------------------------------------


def load_gunicorn_conf() -> dict:
    return runpy.run_path(str(Path(django_settings.BASE_DIR) / "gunicorn.conf.py"))


@pytest.fixture(autouse=True)
def metrics_environment(monkeypatch):
    """gunicorn.conf.py writes these variables: each test gets them back as they were.

    (monkeypatch restores only what it touched, and delenv of an absent variable touches nothing.)
    """
    for name in ("PROMETHEUS_MULTIPROC_DIR", "ENGAGEMENT_METRICS_DIR_MADE"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_gunicorn_conf_when_directory_given_then_stale_files_wiped_at_start_and_directory_kept(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "counter_999.db").write_bytes(b"stale")
    (tmp_path / "notes.txt").write_text("not ours")
    conf = load_gunicorn_conf()

    conf["on_starting"](None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    conf["on_exit"](None)
    assert tmp_path.is_dir()


def test_gunicorn_conf_when_worker_exits_then_its_live_gauges_dropped_and_counters_kept(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    conf = load_gunicorn_conf()
    for name in ("counter_41.db", "histogram_41.db", "gauge_livesum_41.db", "gauge_livesum_42.db"):
        (tmp_path / name).write_bytes(b"")

    conf["child_exit"](None, SimpleNamespace(pid=41))

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "counter_41.db",
        "gauge_livesum_42.db",
        "histogram_41.db",
    ]


def test_gunicorn_conf_when_no_directory_given_then_one_made_and_removed_on_exit():
    conf = load_gunicorn_conf()
    made = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    try:
        assert made.is_dir()
        assert made.name.startswith("engagement-metrics-")
        conf["on_starting"](None)
        conf["on_exit"](None)
        assert not made.exists()
    finally:
        if made.exists():
            made.rmdir()
