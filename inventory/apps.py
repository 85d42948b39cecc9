from django.apps import AppConfig
from django.core import checks


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Tools and inventory"

    def ready(self):
        from inventory.checks import multiplier_within_catalog_constraint

        checks.register(multiplier_within_catalog_constraint)
