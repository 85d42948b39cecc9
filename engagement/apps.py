"""The project package as an app: it owns cross-cutting models (idempotency keys)."""

from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "Engagement platform"

    def ready(self):
        from engagement import schema  # noqa: F401 - registers the OpenAPI extension of StrictSerializer
