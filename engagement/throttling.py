"""Throttles on the shared cache (Redis when REDIS_URL is set), keyed per user or client IP.

DRF's get_ident() honours NUM_PROXIES: it trusts exactly that many X-Forwarded-For hops,
so a client cannot spoof its address by sending the header itself.

DRF's own SimpleRateThrottle reads the request log, checks it and writes it back as three
separate cache calls, so a burst spread over several gunicorn workers slips past the limit
(two workers read the same log and both let their request through). Here the check and the
write are one step: on Redis, one Lua script over a sorted set (an exact sliding window, atomic
across processes and hosts); on any other cache (local memory: one process), DRF's log under a
process lock. If Redis cannot be reached the throttle lets the request through: an outage of
the cache must not take the API down with it, nor flood its logs (engagement.cache: one WARNING
a minute at most per process, and a short pause before the next attempt).
"""

from __future__ import annotations

import hashlib
import threading
import uuid

from django.core.cache import DEFAULT_CACHE_ALIAS
from rest_framework import throttling

from engagement import cache

# KEYS[1] the log (sorted set of request times); ARGV: now, cutoff, limit, member, ttl seconds.
# Returns {1} when the request is let through (and logged), else {0, oldest time in the log}.
_SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
    redis.call('EXPIRE', KEYS[1], ARGV[5])
    return {1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, oldest[2]}
"""

_local_lock = threading.Lock()
_MAX_IDENT = 64  # an IPv6 address with zone fits; keeps cache keys short whatever a header holds


class AtomicRateThrottle(throttling.SimpleRateThrottle):
    """SimpleRateThrottle whose check-and-record is atomic (see the module docstring)."""

    # Set by SimpleRateThrottle.__init__ from the rate.
    num_requests: int
    duration: int

    def get_ident(self, request):
        """The client address; anything longer than an IPv6 address (a forged header) is hashed."""
        ident = super().get_ident(request) or ""
        if len(ident) > _MAX_IDENT:
            return "sha256-" + hashlib.sha256(ident.encode()).hexdigest()
        return ident

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        backend = cache.redis_cache()
        if backend is not None:
            health = cache.health()
            if not health.usable():
                return True  # the cache failed moments ago: let the request through at once
            try:
                allowed = self._allow_on_redis(backend)
            except cache.CACHE_ERRORS as exc:
                health.failed(exc)
                return True
            health.succeeded()
            return allowed
        with _local_lock:
            return super().allow_request(request, view)

    def _allow_on_redis(self, backend) -> bool:
        from django_redis import get_redis_connection

        self.now = self.timer()
        self.history = []
        client = get_redis_connection(DEFAULT_CACHE_ALIAS)
        script = client.register_script(_SLIDING_WINDOW)
        result = script(
            keys=[str(backend.make_key(f"{self.key}:log"))],
            args=[
                repr(self.now),
                repr(self.now - self.duration),
                self.num_requests,
                f"{self.now!r}:{uuid.uuid4().hex}",
                int(self.duration) + 1,
            ],
        )
        if int(result[0]) == 1:
            return True
        self.history = [float(result[1])]  # the oldest request still in the window
        return False

    def wait(self):
        """Seconds until the oldest request in the window leaves it (at least 1)."""
        if not self.history:
            return float(self.duration)
        return max(self.duration - (self.now - self.history[-1]), 1.0)


class AnonRateThrottle(AtomicRateThrottle, throttling.AnonRateThrottle):
    scope = "anon"


class UserRateThrottle(AtomicRateThrottle, throttling.UserRateThrottle):
    scope = "user"


class RegisterRateThrottle(AtomicRateThrottle):
    """Per client IP, whoever is logged in."""

    scope = "register"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginRateThrottle(RegisterRateThrottle):
    scope = "login"
