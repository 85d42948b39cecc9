"""The inventory services called directly, as the admin and commands call them."""

import pytest

from inventory.services import buy_tool
from inventory.tests.helpers import assert_ledger_clean, grant_loyalty, holdings, state_of, stock

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("quantity", [0, -1])
def test_buy_tool_when_quantity_below_one_then_refused_and_nothing_changes(user, catalog, quantity):
    stock(user, coffee=2)
    grant_loyalty(user, 100)

    with pytest.raises(ValueError, match="quantity"):
        buy_tool(user=user, slug="coffee", quantity=quantity)

    assert holdings(user) == {"coffee": 2}
    assert (state_of(user).loyalty, state_of(user).inventory_count) == (100, 2)
    assert_ledger_clean()
