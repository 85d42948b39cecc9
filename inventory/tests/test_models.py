"""The database refuses bad tool and inventory rows even when the services are bypassed."""

import pytest
from django.db import IntegrityError, transaction

from inventory.models import InventoryItem, ToolDefinition
from inventory.tests.factories import ToolFactory
from inventory.tests.helpers import stock
from progression.models import UserState

pytestmark = pytest.mark.django_db


def test_inventory_item_when_quantity_zero_then_refused(user, catalog):
    with pytest.raises(IntegrityError, match="inventory_item_quantity_positive"), transaction.atomic():
        InventoryItem.objects.create(user=user, tool_id="coffee", quantity=0)


def test_inventory_item_when_quantity_one_then_accepted(user, catalog):
    InventoryItem.objects.create(user=user, tool_id="coffee", quantity=1)

    assert InventoryItem.objects.filter(user=user).count() == 1


def test_inventory_item_when_second_row_for_same_tool_then_refused(user, catalog):
    stock(user, coffee=1)

    # PostgreSQL names the constraint; SQLite names its columns.
    refused = (
        r"inventory_item_one_row_per_tool|inventory_inventoryitem\.user_id, inventory_inventoryitem\.tool_id"
    )
    with pytest.raises(IntegrityError, match=refused), transaction.atomic():
        InventoryItem.objects.create(user=user, tool_id="coffee", quantity=1)
    assert InventoryItem.objects.get(user=user, tool_id="coffee").quantity == 1


def test_user_state_when_inventory_count_above_capacity_then_refused(user):
    with (
        pytest.raises(IntegrityError, match="progression_userstate_inventory_within_capacity"),
        transaction.atomic(),
    ):
        UserState.objects.filter(user=user).update(inventory_count=6)

    UserState.objects.filter(user=user).update(inventory_count=5)  # at capacity is fine
    assert UserState.objects.get(user=user).inventory_count == 5


def test_tool_when_price_negative_then_refused(db):
    with pytest.raises(IntegrityError, match="inventory_tooldefinition_price_nonneg"), transaction.atomic():
        ToolFactory(slug="cheap", price=-1)

    ToolFactory(slug="free", price=0)
    assert ToolDefinition.objects.filter(slug="free").exists()


@pytest.mark.parametrize("field", ["energy_delta", "fatigue_delta", "loyalty_delta"])
@pytest.mark.parametrize("value", [101, -101])
def test_tool_when_delta_outside_range_then_refused(db, field, value):
    with pytest.raises(IntegrityError, match=f"inventory_tooldefinition_{field}_range"), transaction.atomic():
        ToolFactory(slug="wild", **{field: value})

    assert not ToolDefinition.objects.filter(slug="wild").exists()


@pytest.mark.parametrize("field", ["energy_delta", "fatigue_delta", "loyalty_delta"])
def test_tool_when_delta_at_bounds_then_accepted(db, field):
    ToolFactory(slug="high", **{field: 100})
    ToolFactory(slug="low", **{field: -100})

    assert ToolDefinition.objects.filter(slug__in=["high", "low"]).count() == 2
