"""Prometheus metrics: what they are, how requests and committed changes feed them, and GET /metrics.

Served by prometheus_client. Under gunicorn every worker is a process of its own, so the
values live in prometheus_client's multiprocess files (PROMETHEUS_MULTIPROC_DIR, set up and
cleaned by gunicorn.conf.py) and a scrape, whichever worker answers it, adds up every
worker's. Without that variable (runserver, tests, management commands) they live in the
process.

- Requests: one latency histogram by route (the URL pattern, never the raw path), method and
  status; its `_count` is the request count. Recorded by RequestMetricsMiddleware.
- Domain counters (check-ins, purchases, uses, claims, freezes consumed, every ledger event
  by kind): the after-change consumer count_after_change() counts a change only once its
  transaction has committed (transaction.on_commit), so a rolled-back change counts nothing.
- Database pool: connections in use and idle, waits for a connection, sampled at the end of
  a request at most once a second per worker (livesum gauges: dead workers drop out).
- Scrape-time collectors, settings.ENGAGEMENT_METRICS_COLLECTORS (dotted paths, read like
  MIDDLEWARE): functions called on every scrape that return prometheus_client metric families
  read from the database (the same whichever worker or host answers), e.g. webhook
  deliveries by result from the daily rollup, the job queue's depth.

GET /metrics answers in the Prometheus text format (OpenMetrics when asked). With METRICS_TOKEN
set it needs `Authorization: Bearer <METRICS_TOKEN>`; without it, it answers only clients on
loopback (the client address as the throttles see it, NUM_PROXIES honoured).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from engagement import errors
from engagement.exceptions import json_error
from engagement.imports import ImportedList
from progression.changes import NOTHING, AfterChangeOutcome, ChangeResult
from progression.models import EventKind, UserState

logger = logging.getLogger("engagement.metrics")

# --- The metrics -------------------------------------------------------------------------

disable_created_metrics()  # no *_created series beside every counter: nothing here reads them

REQUEST_DURATION = Histogram(
    "engagement_http_request_duration_seconds",
    "Time to answer an HTTP request, by route (URL pattern), method and status; _count counts requests.",
    ["route", "method", "status"],
)
CHECKINS = Counter("engagement_checkins", "Check-ins committed.")
TOOL_PURCHASES = Counter("engagement_tool_purchases", "Tool purchases committed, by tool.", ["tool"])
TOOL_USES = Counter("engagement_tool_uses", "Tool uses committed, by tool.", ["tool"])
REWARD_CLAIMS = Counter(
    "engagement_reward_claims", "Reward claims committed (auto-claims included), by reward.", ["reward"]
)
FREEZES_CONSUMED = Counter("engagement_streak_freezes_consumed", "Streak freezes consumed by check-ins.")
LEDGER_EVENTS = Counter("engagement_ledger_events", "Ledger events committed, by kind.", ["kind"])
POOL_CONNECTIONS = Gauge(
    "engagement_db_pool_connections",
    "Pooled database connections open, by state (in_use, idle), summed over live workers.",
    ["database", "state"],
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "engagement_db_pool_max_connections",
    "Most connections the pools may open, summed over live workers.",
    ["database"],
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "engagement_db_pool_requests_waiting",
    "Requests waiting for a pooled connection, summed over live workers.",
    ["database"],
    multiprocess_mode="livesum",
)
POOL_WAITS = Counter(
    "engagement_db_pool_waits", "Times a request had to wait for a pooled connection.", ["database"]
)
POOL_WAIT_SECONDS = Counter(
    "engagement_db_pool_wait_seconds", "Time requests spent waiting for a pooled connection.", ["database"]
)
POOL_TIMEOUTS = Counter(
    "engagement_db_pool_timeouts", "Requests that got no pooled connection in time.", ["database"]
)

# Names of the scrape-time families (built by their collectors, see the helpers below).
WEBHOOK_DELIVERIES = "engagement_webhook_deliveries"
JOB_QUEUE_DEPTH = "engagement_job_queue_depth"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNRESOLVED_ROUTE = "unresolved"  # no URL pattern matched (404), or a middleware answered first


# --- Requests ----------------------------------------------------------------------------


def route_of(request: HttpRequest) -> str:
    """The URL pattern that served the request ("/api/v1/tools/<slug:slug>/buy/"), never the path."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return UNRESOLVED_ROUTE
    return "/" + match.route


class RequestMetricsMiddleware:
    """Time every request (the whole middleware chain: keep it first) and sample the pool."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        REQUEST_DURATION.labels(route_of(request), method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        pool_sampler.maybe_sample()
        return response


# --- Committed changes -------------------------------------------------------------------

Increment = tuple[Any, int]  # (a counter, or a counter's labelled child; the amount)


def change_increments(events) -> list[Increment]:
    """What a change's ledger events add to the domain counters."""
    increments: list[Increment] = []
    for event in events:
        increments.append((LEDGER_EVENTS.labels(event.kind), 1))
        if event.kind == EventKind.CHECK_IN:
            increments.append((CHECKINS, 1))
        elif event.kind == EventKind.TOOL_PURCHASE:
            increments.append((TOOL_PURCHASES.labels(event.reference), 1))
        elif event.kind == EventKind.TOOL_USE:
            increments.append((TOOL_USES.labels(event.reference), 1))
        elif event.kind == EventKind.REWARD_CLAIM:
            increments.append((REWARD_CLAIMS.labels(event.reference), 1))
        elif event.kind == EventKind.FREEZE_CONSUMED:
            increments.append((FREEZES_CONSUMED, max(1, -event.inventory_count_delta)))
    return increments


def _increment(increments: list[Increment]) -> None:
    for counter, amount in increments:
        counter.inc(amount)


def count_after_change(*, state: UserState, change: ChangeResult) -> AfterChangeOutcome:
    """After-change consumer: count the change's events once its transaction commits.

    Runs no query. After every consumer that writes events (it counts what it sees).
    """
    increments = change_increments(change.events)
    if increments:
        transaction.on_commit(functools.partial(_increment, increments), robust=True)
    return NOTHING


# --- The database pool -------------------------------------------------------------------


class PoolSampler:
    """Copies each pool's statistics into the gauges, at most once per `interval` seconds."""

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        self._next = 0.0
        self._lock = threading.Lock()

    def maybe_sample(self, *, now: bool = False) -> None:
        """Sample if `interval` has passed (or `now`), unless another thread is sampling."""
        moment = time.monotonic()
        if (moment < self._next and not now) or not self._lock.acquire(blocking=now):
            return
        try:
            self._next = moment + self.interval
            self.sample()
        except Exception:  # a metric must never fail a request
            logger.warning("database pool sampling failed", exc_info=True)
        finally:
            self._lock.release()

    def sample(self) -> None:
        for alias in settings.DATABASES:
            pool = getattr(connections[alias], "pool", None)
            if pool is None:
                continue
            stats = pool.pop_stats()  # the counters restart from zero: each wait is counted once
            size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
            POOL_CONNECTIONS.labels(alias, "in_use").set(size - idle)
            POOL_CONNECTIONS.labels(alias, "idle").set(idle)
            POOL_MAX.labels(alias).set(stats.get("pool_max", 0))
            POOL_WAITING.labels(alias).set(stats.get("requests_waiting", 0))
            POOL_WAITS.labels(alias).inc(stats.get("requests_queued", 0))
            POOL_WAIT_SECONDS.labels(alias).inc(stats.get("requests_wait_ms", 0) / 1000)
            POOL_TIMEOUTS.labels(alias).inc(stats.get("requests_errors", 0))


pool_sampler = PoolSampler()


# --- Scrape-time collectors --------------------------------------------------------------

ScrapeCollector = Callable[[], Iterable[Metric]]


# The functions named by settings.ENGAGEMENT_METRICS_COLLECTORS, in order.
scrape_collectors: ImportedList[ScrapeCollector] = ImportedList("ENGAGEMENT_METRICS_COLLECTORS")


def job_queue_depth(depths: Mapping[str, int]) -> GaugeMetricFamily:
    """The family a job queue's collector returns: jobs waiting to run, by queue name."""
    family = GaugeMetricFamily(JOB_QUEUE_DEPTH, "Jobs waiting to run, by queue.", labels=["queue"])
    for queue, depth in sorted(depths.items()):
        family.add_metric([queue], depth)
    return family


class _Scrape(Collector):
    """One scrape: every worker's values (or this process's), then the scrape-time collectors."""

    def collect(self) -> Iterable[Metric]:
        if multiprocess_enabled():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()
        for collector in scrape_collectors():
            try:
                yield from collector()
            except Exception:  # one failing source must not hide every other metric
                logger.warning("metrics collector %s failed", collector.__qualname__, exc_info=True)


def multiprocess_enabled() -> bool:
    """Whether the values live in prometheus_client's multiprocess files (under gunicorn)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def render_metrics(accept: str = "") -> tuple[bytes, str]:
    """The exposition of every metric: (body, content type), in the format `accept` prefers."""
    pool_sampler.maybe_sample(now=True)  # this worker's pool as it is now
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape())
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


# --- GET /metrics ------------------------------------------------------------------------


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def refusal(request: HttpRequest) -> errors.DomainError | None:
    """Why this scrape is refused, or None: the token when METRICS_TOKEN is set, else loopback."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return errors.MetricsTokenRequired()
        return None
    if not _is_loopback(BaseThrottle().get_ident(Request(request)) or ""):
        return errors.MetricsLoopbackOnly()
    return None


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = refusal(request)
    if refused is not None:
        return json_error(refused)
    body, content_type = render_metrics(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
