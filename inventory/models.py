"""The tool catalog and what each user holds."""

from fractions import Fraction

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.lookups import LessThanOrEqual

# The highest level multiplier a tool's loyalty gain is scaled by, as the database constraint
# below is written with it (a constraint is SQL, fixed when its migration runs, so it cannot
# follow the setting). settings.ENGAGEMENT["LEVEL_MULTIPLIER_MAX"] may be lower, never higher:
# the system check inventory.E001 refuses to start otherwise. Raising it means raising this
# and adding the migration that rewrites the constraint.
LOYALTY_MULTIPLIER_CAP = Fraction(3, 2)


def _loyalty_gain_within_price() -> models.CheckConstraint:
    """round(loyalty_delta x cap) <= price, the rounding half away from zero, in integers.

    With cap = a/b: round(d x a/b) <= p  <=>  d x a/b < p + 1/2  <=>  2ad <= 2bp + b - 1
    (for a/b = 3/2: 6d <= 4p + 1, i.e. 3d <= 2p). A zero or negative delta is no gain: it
    passes whatever the price (which has its own constraint).
    """
    a, b = LOYALTY_MULTIPLIER_CAP.numerator, LOYALTY_MULTIPLIER_CAP.denominator
    gain_within_price = LessThanOrEqual(F("loyalty_delta") * (2 * a), F("price") * (2 * b) + (b - 1))
    return models.CheckConstraint(
        condition=Q(loyalty_delta__lte=0) | Q(gain_within_price),
        name="inventory_tooldefinition_loyalty_gain_within_price",
        violation_error_message=(
            f"The loyalty gain at the highest level multiplier (x{float(LOYALTY_MULTIPLIER_CAP):g}) "
            "must not exceed the price: buying and using the tool would create loyalty."
        ),
    )


def delta_range(field: str, table: str) -> models.CheckConstraint:
    """The bound of a catalog effect (a tool's or a reward's delta): from -100 to 100."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": -100, f"{field}__lte": 100}),
        name=f"{table}_{field}_range",
    )


class ToolKind(models.TextChoices):
    BOOST = "boost", "Boost"  # used by hand: its deltas apply
    STREAK_FREEZE = "streak_freeze", "Streak freeze"  # never used by hand: consumed at check-in


class ToolDefinition(models.Model):
    slug = models.SlugField(max_length=50, primary_key=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    price = models.IntegerField(help_text="Loyalty points per item.")
    energy_delta = models.IntegerField(default=0)
    fatigue_delta = models.IntegerField(default=0)
    loyalty_delta = models.IntegerField(default=0)
    kind = models.CharField(max_length=16, choices=ToolKind.choices, default=ToolKind.BOOST)
    max_held = models.IntegerField(
        null=True, blank=True, help_text="Most a user may hold (empty: only the inventory capacity)."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "tool"
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="inventory_tooldefinition_price_nonneg"),
            models.CheckConstraint(
                condition=Q(max_held__isnull=True) | Q(max_held__gte=1),
                name="inventory_tooldefinition_max_held_min",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ToolKind.values), name="inventory_tooldefinition_kind_valid"
            ),
            delta_range("energy_delta", "inventory_tooldefinition"),
            delta_range("fatigue_delta", "inventory_tooldefinition"),
            delta_range("loyalty_delta", "inventory_tooldefinition"),
            _loyalty_gain_within_price(),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_freeze(self) -> bool:
        return self.kind == ToolKind.STREAK_FREEZE


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
