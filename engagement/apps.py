"""The project package as an app: it owns cross-cutting models (idempotency keys) and checks."""

from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "Engagement platform"

    def ready(self):
        from engagement import checks  # noqa: F401 (registers the system checks)
