"""The tool catalog and what each user holds."""

from django.conf import settings
from django.db import models
from django.db.models import Q


def _delta_range(field: str, model: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": -100, f"{field}__lte": 100}),
        name=f"inventory_{model}_{field}_range",
    )


class ToolDefinition(models.Model):
    slug = models.SlugField(max_length=50, primary_key=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    price = models.IntegerField(help_text="Loyalty points per item.")
    energy_delta = models.IntegerField(default=0)
    fatigue_delta = models.IntegerField(default=0)
    loyalty_delta = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "tool"
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="inventory_tooldefinition_price_nonneg"),
            _delta_range("energy_delta", "tooldefinition"),
            _delta_range("fatigue_delta", "tooldefinition"),
            _delta_range("loyalty_delta", "tooldefinition"),
        ]

    def __str__(self) -> str:
        return self.name


class InventoryItem(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inventory")
    tool = models.ForeignKey(ToolDefinition, on_delete=models.PROTECT, related_name="items")
    quantity = models.IntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tool_id"]
        verbose_name = "inventory item"
        constraints = [
            models.UniqueConstraint(fields=["user", "tool"], name="inventory_item_one_row_per_tool"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="inventory_item_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.tool_id}"
