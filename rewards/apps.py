from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards"

    def ready(self):
        from progression.services import register_after_change_hook
        from rewards.services import unlock_after_change

        register_after_change_hook(unlock_after_change)
