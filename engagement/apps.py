"""The project package as an app (idempotency keys, system checks), and the admin's app."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "Engagement platform"

    def ready(self):
        from engagement import checks, metrics, schema  # noqa: F401 - checks and the schema extension register themselves

        # Read once and cached: reloaded when a test overrides the setting.
        metrics.scrape_collectors.reload_when_setting_changes()


class EngagementAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with engagement.admin.EngagementAdminSite as `admin.site`.

    Named in INSTALLED_APPS in place of "django.contrib.admin" (Django's documented way to
    replace the default site); not this package's own config (default = False).
    """

    default = False
    default_site = "engagement.admin.EngagementAdminSite"
