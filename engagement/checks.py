"""System checks of the project: the development header login stays a local tool."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=False)
def dev_auth_header_only_in_debug(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """engagement.E001: DEV_AUTH_HEADER=true outside DEBUG.

    X-User-Id logs anyone in as any user: a local testing tool. settings.py never installs it
    outside DEBUG; asking for it there is a configuration mistake worth stopping on.
    """
    if settings.DEV_AUTH_HEADER_REQUESTED and not settings.DEBUG:
        return [
            checks.Error(
                "DEV_AUTH_HEADER=true with DJANGO_DEBUG=false: the X-User-Id header login is for "
                "local development only.",
                hint="Unset DEV_AUTH_HEADER in every deployed environment.",
                id="engagement.E001",
            )
        ]
    return []
