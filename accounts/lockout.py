"""The admin login's brute-force protection (django-axes), fitted to this project.

Axes watches the admin's login form only (AXES_ONLY_ADMIN_SITE): the API's login has its own
limits, per client IP and per account (engagement.throttling). It locks an email after
AXES_FAILURE_LIMIT failures, whatever the address, and an address after as many, for
AXES_COOLOFF_TIME; a successful login resets the count. Operators see and clear lockouts in
the admin (Axes' "access attempts").
"""

from __future__ import annotations

import math

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from django.shortcuts import render

from accounts.emails import canonical_email


def admin_username(request, credentials: dict | None) -> str | None:
    """The account a login attempt names, in its canonical spelling (any case, any width)."""
    source = credentials if credentials is not None else getattr(request, "POST", {})
    value = source.get("username") or source.get("email")
    return canonical_email(value) if isinstance(value, str) and value else None


class AdminLoginHandler(AxesDatabaseHandler):
    """Axes' database handler, recording attempts on the admin site only.

    AXES_ONLY_ADMIN_SITE keeps Axes from refusing API logins, but its database handler would
    still write an attempt row for every failed API login (and count it towards the admin
    lockout); those are left to the API's throttles.
    """

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        if request is not None and not self.is_admin_request(request):
            return None
        return super().user_login_failed(sender, credentials, request, **kwargs)


def lockout_response(request, original_response=None, credentials=None):
    """429 in the admin's own look, with Retry-After (AXES_LOCKOUT_CALLABLE)."""
    cool_off = get_cool_off(request)
    seconds = math.ceil(cool_off.total_seconds()) if cool_off else None
    response = render(
        request,
        "admin/accounts/lockout.html",
        {"title": "Too many failed logins", "cool_off_minutes": math.ceil(seconds / 60) if seconds else None},
        status=429,
    )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
