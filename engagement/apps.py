"""The project package as an app: it owns cross-cutting models (idempotency keys)."""

from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "Engagement platform"
