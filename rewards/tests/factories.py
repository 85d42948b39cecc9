"""Factories for reward definitions."""

import factory

from rewards.models import Condition, RewardDefinition


class RewardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RewardDefinition

    slug = factory.Sequence(lambda n: f"reward-{n:03d}")
    title = factory.LazyAttribute(lambda reward: reward.slug.replace("-", " ").title())
    description = ""
    condition = Condition.TOTAL_CHECKINS
    threshold = 1
    energy_delta = 0
    fatigue_delta = 0
    loyalty_delta = 0
    grant_tool = None
    grant_quantity = 1
    auto_claim = False
    is_active = True
