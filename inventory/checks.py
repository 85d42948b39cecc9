"""System checks of the inventory app: the catalog constraint covers the configured multiplier."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.core import checks

from inventory.models import LOYALTY_MULTIPLIER_CAP


def multiplier_within_catalog_constraint(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """inventory.E001: LEVEL_MULTIPLIER_MAX above the cap the database constraint was written for.

    The constraint keeps a tool's loyalty gain at the cap within its price; a higher multiplier
    would let a tool the database accepted create loyalty.
    """
    configured = Fraction(Decimal(str(settings.ENGAGEMENT["LEVEL_MULTIPLIER_MAX"])))
    if configured <= LOYALTY_MULTIPLIER_CAP:
        return []
    return [
        checks.Error(
            f"ENGAGEMENT_LEVEL_MULTIPLIER_MAX={float(configured):g} is above "
            f"{float(LOYALTY_MULTIPLIER_CAP):g}, the multiplier the tool catalog's database "
            "constraint (loyalty gain within price) was written for.",
            hint="Keep it at or below the cap, or raise inventory.models.LOYALTY_MULTIPLIER_CAP and "
            "migrate the constraint.",
            id="inventory.E001",
        )
    ]
