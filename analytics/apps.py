from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self):
        from django.core.signals import setting_changed

        from analytics import overview

        # Read once and cached: reloaded when a test overrides the setting.
        setting_changed.connect(
            overview.chart_providers.on_setting_changed, dispatch_uid="analytics_charts_reload"
        )
