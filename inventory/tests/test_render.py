"""The hand-written renderers of purchases and uses equal their serializers' output."""

from __future__ import annotations

import json

import pytest
from rest_framework.renderers import JSONRenderer

from inventory.api import serializers as s
from inventory.services import buy_tool, use_tool
from progression.services import adjust_state

pytestmark = pytest.mark.django_db


def _json(data) -> object:
    return json.loads(JSONRenderer().render(data))


def test_purchase_result_data_when_bought_then_equals_serializer(user, catalog):
    adjust_state(user=user, note="test grant", loyalty=100)
    result = buy_tool(user=user, slug="focus", quantity=2)
    assert _json(s.purchase_result_data(result)) == _json(s.PurchaseResultSerializer(result).data)


def test_use_result_data_when_level_up_then_equals_serializer(user, catalog):
    adjust_state(user=user, note="test grant", loyalty=100, energy=45)
    buy_tool(user=user, slug="coffee", quantity=2)
    first = use_tool(user=user, slug="coffee")  # energy 95 + 15: a level-up
    second = use_tool(user=user, slug="coffee")
    assert first.change.leveled_up and first.remaining == 1 and second.remaining == 0
    for result in (first, second):
        assert _json(s.use_result_data(result)) == _json(s.UseResultSerializer(result).data)
