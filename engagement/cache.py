"""The shared cache (Redis when REDIS_URL is set): its health in this process, for the throttles and /readyz.

The service works around a cache outage: the throttles let requests through
(engagement.throttling) and /readyz reports the cache as degraded but stays ready. What an
outage must not do is flood the logs or slow every request down:
- failures are logged by OutageLog: one WARNING at the first, then at most one per
  LOG_INTERVAL seconds with the count of the others, one INFO line when the cache answers again;
- after a failure the throttles leave the cache alone for PAUSE seconds, so a host that does
  not answer at all (each attempt waits for the connect timeout in settings.CACHES) costs one
  slow request per pause, not every request. /readyz always asks, so it ends a pause early.
Health is kept per cache location, so a test that points the cache elsewhere leaves the real
one's alone.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django_redis.cache import RedisCache
from redis.exceptions import RedisError

from engagement.logging import OutageLog

logger = logging.getLogger("engagement.cache")


# What an unreachable or failing Redis raises (redis-py's errors, and socket errors it lets through).
CACHE_ERRORS = (RedisError, OSError)
PAUSE = 5.0
LOG_INTERVAL = 60.0


class CacheHealth:
    """One cache location's state in this process: failing or not, and when to try it again."""

    def __init__(self, *, pause: float = PAUSE, log_interval: float = LOG_INTERVAL, clock=time.monotonic):
        self._pause = pause
        self._clock = clock
        self._retry_at = 0.0
        self.log = OutageLog(logger, "shared cache (Redis)", interval=log_interval, clock=clock)

    def usable(self) -> bool:
        """False for PAUSE seconds after a failure."""
        return self._retry_at == 0.0 or self._clock() >= self._retry_at

    def failed(self, exc: BaseException) -> None:
        self._retry_at = self._clock() + self._pause
        self.log.failure(exc)

    def succeeded(self) -> None:
        self._retry_at = 0.0
        self.log.success()


_health: dict[str, CacheHealth] = {}
_health_lock = threading.Lock()


def redis_cache():
    """The default cache when it is Redis (django-redis), else None."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    return backend if isinstance(backend, RedisCache) else None


def health() -> CacheHealth:
    """The health of the default cache's location in this process."""
    location = str(settings.CACHES[DEFAULT_CACHE_ALIAS].get("LOCATION", ""))
    found = _health.get(location)
    if found is None:
        with _health_lock:
            found = _health.setdefault(location, CacheHealth())
    return found


def status() -> str:
    """For /readyz: "ok" (Redis answers a PING), "degraded" (it does not) or "local" (no Redis)."""
    if redis_cache() is None:
        return "local"
    from django_redis import get_redis_connection

    state = health()
    try:
        get_redis_connection(DEFAULT_CACHE_ALIAS).ping()
    except CACHE_ERRORS as exc:
        state.failed(exc)
        return "degraded"
    state.succeeded()
    return "ok"
