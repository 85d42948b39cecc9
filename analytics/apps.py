from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self):
        from analytics import overview

        # Read once and cached: reloaded when a test overrides the setting.
        overview.chart_providers.reload_when_setting_changes()
