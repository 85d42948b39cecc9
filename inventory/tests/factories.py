"""Factories for tool definitions (items are bought through the service, see helpers.stock)."""

import factory

from inventory.models import ToolDefinition


class ToolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ToolDefinition

    slug = factory.Sequence(lambda n: f"tool-{n}")
    name = factory.LazyAttribute(lambda tool: tool.slug.replace("-", " ").title())
    description = ""
    price = 10
    energy_delta = 0
    fatigue_delta = 0
    loyalty_delta = 0
    is_active = True
