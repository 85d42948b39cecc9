"""Throttles on the shared cache (Redis when REDIS_URL is set), keyed per user or client IP.

DRF's get_ident() honours NUM_PROXIES: it trusts exactly that many X-Forwarded-For hops,
so a client cannot spoof its address by sending the header itself.
"""

from rest_framework import throttling


class AnonRateThrottle(throttling.AnonRateThrottle):
    scope = "anon"


class UserRateThrottle(throttling.UserRateThrottle):
    scope = "user"


class RegisterRateThrottle(throttling.SimpleRateThrottle):
    """Per client IP, whoever is logged in."""

    scope = "register"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginRateThrottle(RegisterRateThrottle):
    scope = "login"
