"""The database refuses bad tool and inventory rows even when the services are bypassed."""

import pytest
from django.db import IntegrityError, transaction

from inventory.models import InventoryItem, ToolDefinition
from inventory.tests.factories import ToolFactory
from inventory.tests.helpers import stock
from progression.models import UserState
from progression.rules import round_half_away

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


# The delta bounds of tools are tested with those of rewards: rewards/tests/test_models.py.


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"max_held": 0}, "inventory_tooldefinition_max_held_min"),
        ({"kind": "teleport"}, "inventory_tooldefinition_kind_valid"),
    ],
)
def test_tool_when_kind_or_max_held_invalid_then_refused(db, values, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        ToolFactory(slug="odd", **values)

    ToolFactory(slug="ice", kind="streak_freeze", max_held=1)
    ToolFactory(slug="plain", max_held=None)
    assert set(ToolDefinition.objects.values_list("slug", "kind")) == {
        ("ice", "streak_freeze"),
        ("plain", "boost"),
    }


# --- the catalog cannot mint loyalty ------------------------------------------------------------


def test_tool_when_free_with_a_loyalty_gain_then_refused(db):
    with (
        pytest.raises(IntegrityError, match="inventory_tooldefinition_loyalty_gain_within_price"),
        transaction.atomic(),
    ):
        ToolFactory(slug="mint", price=0, loyalty_delta=100)

    assert not ToolDefinition.objects.filter(slug="mint").exists()


def test_tool_when_saved_around_the_orm_with_a_minting_gain_then_refused(db):
    ToolFactory(slug="focus-like", price=20, loyalty_delta=5)

    with pytest.raises(IntegrityError, match="loyalty_gain_within_price"), transaction.atomic():
        ToolDefinition.objects.filter(slug="focus-like").update(price=0)


@pytest.mark.parametrize(
    ("price", "loyalty", "accepted"),
    [(7, 5, False), (8, 5, True), (1, 1, False), (2, 1, True), (3, 2, True), (0, 0, True), (0, -100, True)],
)
def test_tool_gain_at_the_edge_of_its_price_then_accepted_exactly_when_not_minting(
    db, price, loyalty, accepted
):
    """+5 loyalty at x1.5 is round(7.5) = 8: it needs a price of 8."""
    try:
        with transaction.atomic():
            ToolFactory(slug="edge", price=price, loyalty_delta=loyalty)
    except IntegrityError:
        refused = True
    else:
        refused = False

    assert refused is not accepted


def test_constraint_agrees_with_the_rules_gain_at_the_highest_multiplier():
    """For every gain, the database accepts exactly the prices at or above the rules' gain."""
    from inventory.models import _loyalty_gain_within_price
    from progression.services import get_rules

    constraint = _loyalty_gain_within_price()
    highest = get_rules().level_multiplier_max
    for loyalty in range(1, 101):
        gain = round_half_away(loyalty * highest)
        at_gain = ToolDefinition(slug="x", name="x", price=gain, loyalty_delta=loyalty)
        below_gain = ToolDefinition(slug="x", name="x", price=gain - 1, loyalty_delta=loyalty)
        assert _accepts(constraint, at_gain), loyalty
        assert not _accepts(constraint, below_gain), loyalty


def _accepts(constraint, tool) -> bool:
    from django.core.exceptions import ValidationError

    try:
        constraint.validate(ToolDefinition, tool)
    except ValidationError:
        return False
    return True


def test_system_check_when_multiplier_max_above_the_constraint_cap_then_error(settings):
    from inventory.checks import multiplier_within_catalog_constraint

    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "LEVEL_MULTIPLIER_MAX": "2"}
    errors = multiplier_within_catalog_constraint()

    assert [error.id for error in errors] == ["inventory.E001"]
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "LEVEL_MULTIPLIER_MAX": "1.25"}
    assert multiplier_within_catalog_constraint() == []


def test_tool_factory_when_slug_exists_then_refused_not_silently_the_old_row(catalog):
    with pytest.raises(IntegrityError), transaction.atomic():
        ToolFactory(slug="coffee", price=3)
    assert ToolDefinition.objects.get(slug="coffee").price == 10
