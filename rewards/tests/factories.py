"""Factories for reward definitions (no get-or-create: an existing slug fails loudly)."""

import factory

from inventory.tests.factories import CatalogEntryFactory
from rewards.models import Condition, RewardDefinition


class RewardFactory(CatalogEntryFactory):
    class Meta:
        model = RewardDefinition

    slug = factory.Sequence(lambda n: f"reward-{n:03d}")
    title = factory.LazyAttribute(lambda reward: reward.slug.replace("-", " ").title())
    condition = Condition.TOTAL_CHECKINS
    threshold = 1
    grant_tool = None
    grant_quantity = 1
    auto_claim = False
