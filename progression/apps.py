from django.apps import AppConfig


class ProgressionConfig(AppConfig):
    name = "progression"
    verbose_name = "Progression"

    def ready(self):
        from django.core.signals import setting_changed

        from progression import changes, services

        # Settings read once and cached: reloaded when a test overrides them.
        setting_changed.connect(services.on_setting_changed, dispatch_uid="progression_rules_reload")
        changes.after_change_consumers.reload_when_setting_changes()
