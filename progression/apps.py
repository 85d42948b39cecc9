from django.apps import AppConfig


class ProgressionConfig(AppConfig):
    name = "progression"
    verbose_name = "Progression"

    def ready(self):
        from django.core.signals import setting_changed

        from accounts.signals import user_registered
        from progression import services

        user_registered.connect(services.on_user_registered, dispatch_uid="progression_state_on_register")
        setting_changed.connect(services.on_setting_changed, dispatch_uid="progression_rules_reload")
