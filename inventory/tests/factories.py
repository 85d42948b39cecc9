"""Factories for tool definitions (items are bought through the service, see helpers.stock).

No get-or-create: a factory call with a slug that exists fails loudly instead of returning the
existing row without the attributes it was given.
"""

import factory

from inventory.models import ToolDefinition


class CatalogEntryFactory(factory.django.DjangoModelFactory):
    """What tools and rewards share: no effect, active, no description."""

    class Meta:
        abstract = True

    description = ""
    energy_delta = 0
    fatigue_delta = 0
    loyalty_delta = 0
    is_active = True


class ToolFactory(CatalogEntryFactory):
    class Meta:
        model = ToolDefinition

    slug = factory.Sequence(lambda n: f"tool-{n}")
    name = factory.LazyAttribute(lambda tool: tool.slug.replace("-", " ").title())
    price = 10
