"""Throttles on the shared cache (Redis when REDIS_URL is set), keyed per user, client IP or account.

DRF's get_ident() honours NUM_PROXIES: it trusts exactly that many X-Forwarded-For hops,
so a client cannot spoof its address by sending the header itself. An IPv6 client is keyed by
its /64 network: one host is routinely given a whole /64, so keying by the address would give
it a fresh identity per request.

Login is also limited per account, whatever the address (AccountLoginThrottle): an attempt
takes a slot of the account's window before the password is checked and gives it back when it
succeeds, so only failures count, and concurrent guesses from many addresses cannot overshoot.

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

import functools
import hashlib
import ipaddress
import itertools
import math
import os
import re
import threading

from django.core.cache import DEFAULT_CACHE_ALIAS
from redis.exceptions import NoScriptError
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
# A log entry's member must be unique within the window, across processes and hosts: this
# process's random prefix (drawn again in a forked child) and a counter, not a uuid4 per request.
_member = {"prefix": os.urandom(8).hex()}
_member_numbers = itertools.count()
os.register_at_fork(after_in_child=lambda: _member.update(prefix=os.urandom(8).hex()))
_MAX_IDENT = 64  # an IPv6 address with zone fits; keeps cache keys short whatever a header holds
_IPV6_CLIENT_PREFIX = 64
# "10/min", "600/m", "10/15min", "5/2h": a count per optional multiple of s, m, h or d.
_RATE = re.compile(r"^(\d+)/(\d*)([smhd])[a-z]*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_ident(request) -> str:
    """The client as throttles (and the admin lockout) count it: its address, an IPv6 one by /64.

    The address is DRF's (NUM_PROXIES X-Forwarded-For hops trusted, else the peer). An IPv6
    address stands for its /64 network, written as the network's first address; an IPv4-mapped
    one for its IPv4 address. Anything that is not an address and is longer than one could be
    (a forged header) is hashed, so cache keys stay short.
    """
    ident = (throttling.BaseThrottle().get_ident(request) or "").strip()
    try:
        address = ipaddress.ip_address(ident)
    except ValueError:
        if len(ident) > _MAX_IDENT:
            return "sha256-" + hashlib.sha256(ident.encode()).hexdigest()
        return ident
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, _IPV6_CLIENT_PREFIX), strict=False)
        return str(network.network_address)
    return str(address)


@functools.lru_cache(maxsize=8)
def _sliding_window(client):
    """The sliding-window script bound to a Redis client, made once per client (it hashes the script)."""
    return client.register_script(_SLIDING_WINDOW)


class AtomicRateThrottle(throttling.SimpleRateThrottle):
    """SimpleRateThrottle whose check-and-record is atomic (see the module docstring)."""

    # Set by SimpleRateThrottle.__init__ from the rate.
    num_requests: int
    duration: int

    def get_ident(self, request):
        return client_ident(request)

    def parse_rate(self, rate):
        """DRF's "N/unit", plus a multiple of the unit: "10/15min" is 10 per 900 seconds."""
        if rate is None:
            return (None, None)
        match = _RATE.match(rate.strip().lower())
        if match is None:
            raise ValueError(f"Invalid throttle rate {rate!r}; use e.g. 10/min or 10/15min.")
        count, multiple, unit = match.groups()
        return int(count), int(multiple or 1) * _UNIT_SECONDS[unit]

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.member = None
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
        script = _sliding_window(client)
        self.member = f"{self.now!r}:{_member['prefix']}:{next(_member_numbers)}"
        key = self._redis_key(backend)
        ttl = int(self.duration) + 1
        args = (repr(self.now), repr(self.now - self.duration), self.num_requests, self.member, ttl)
        try:
            # The command itself: redis-py's Script.__call__ and evalsha() wrap this same
            # EVALSHA in layers that cost about a tenth of the throttle's CPU.
            result = client.execute_command("EVALSHA", script.sha, 1, key, *args)
        except NoScriptError:  # Redis restarted or flushed its scripts: load it again, run it
            result = script(keys=[key], args=args)
        if int(result[0]) == 1:
            return True
        self.history = [float(result[1])]  # the oldest request still in the window
        return False

    def _redis_key(self, backend) -> str:
        return str(backend.make_key(f"{self.key}:log"))

    def forget(self) -> None:
        """Take back the request this throttle let through last (it is not counted after all)."""
        if getattr(self, "key", None) is None or getattr(self, "now", None) is None:
            return  # nothing was recorded (no rate, or the cache was unreachable)
        backend = cache.redis_cache()
        if backend is not None:
            from django_redis import get_redis_connection

            if getattr(self, "member", None) is None:
                return
            try:
                get_redis_connection(DEFAULT_CACHE_ALIAS).zrem(self._redis_key(backend), self.member)
            except cache.CACHE_ERRORS as exc:
                cache.health().failed(exc)  # the slot stays taken until it leaves the window
            return
        with _local_lock:
            history = self.cache.get(self.key, [])
            if self.now in history:
                history.remove(self.now)
                self.cache.set(self.key, history, self.duration)

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


class AccountLoginThrottle(AtomicRateThrottle):
    """Failed logins per account (THROTTLE_LOGIN_ACCOUNT, 10 per 15 minutes), from any address.

    `account` is the canonical email; the cache key holds only its SHA-256. Call attempt()
    before checking the password and succeeded() when it was right (the slot is given back).
    """

    scope = "login_account"

    def __init__(self, *, account: str):
        super().__init__()
        self.account = account

    def get_cache_key(self, request, view):
        digest = hashlib.sha256(self.account.encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}

    def attempt(self) -> bool:
        """Take a slot for one more attempt; False when the account has none left."""
        return self.allow_request(None, None)

    def succeeded(self) -> None:
        self.forget()

    def retry_after(self) -> int:
        return math.ceil(self.wait())
