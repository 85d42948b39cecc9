"""The tool catalog, buying, using and the inventory through the HTTP API."""

from datetime import UTC, datetime, timedelta

import pytest

from engagement.testing import assert_error, assert_ledger_clean, client_for, error_code
from inventory.catalog import SEEDED_TOOLS
from inventory.models import InventoryItem, ToolDefinition
from inventory.tests.factories import ToolFactory
from inventory.tests.helpers import API, grant_loyalty, holdings, level_up_to, state_of, stock
from progression.models import EventKind, StateEvent
from progression.rules import STATE_FIELDS
from progression.services import adjust_state

pytestmark = pytest.mark.django_db

_DESCRIPTIONS = {row["slug"]: row["description"] for row in SEEDED_TOOLS}
COFFEE = {
    "slug": "coffee",
    "name": "Coffee",
    "description": _DESCRIPTIONS["coffee"],
    "price": 10,
    "energy_delta": 15,
    "fatigue_delta": 2,
    "loyalty_delta": 0,
    "kind": "boost",
    "max_held": None,
}
FOCUS = {
    "slug": "focus",
    "name": "Focus Chip",
    "description": _DESCRIPTIONS["focus"],
    "price": 20,
    "energy_delta": 5,
    "fatigue_delta": 0,
    "loyalty_delta": 5,
    "kind": "boost",
    "max_held": None,
}
REST = {
    "slug": "rest",
    "name": "Rest Kit",
    "description": _DESCRIPTIONS["rest"],
    "price": 16,
    "energy_delta": 0,
    "fatigue_delta": -15,
    "loyalty_delta": 0,
    "kind": "boost",
    "max_held": None,
}
FREEZE = {
    "slug": "freeze",
    "name": "Streak Freeze",
    "description": _DESCRIPTIONS["freeze"],
    "price": 25,
    "energy_delta": 0,
    "fatigue_delta": 0,
    "loyalty_delta": 0,
    "kind": "streak_freeze",
    "max_held": 2,
}
NO_CHANGE = dict.fromkeys(STATE_FIELDS, 0)


def buy(client, slug, body=None):
    return client.post(f"{API}/tools/{slug}/buy/", body if body is not None else {}, format="json")


def use(client, slug):
    return client.post(f"{API}/inventory/{slug}/use/")


def purchases(user):
    return StateEvent.objects.filter(user=user, kind=EventKind.TOOL_PURCHASE).count()


# --- the catalog -------------------------------------------------------------------------------


def test_tools_list_when_anonymous_then_active_tools_in_slug_order(api_client, catalog):
    response = api_client.get(f"{API}/tools/")

    assert response.status_code == 200
    assert response.json() == [COFFEE, FOCUS, FREEZE, REST]


def test_tool_detail_when_known_then_full_definition(api_client, catalog):
    response = api_client.get(f"{API}/tools/coffee/")

    assert response.status_code == 200
    assert response.json() == COFFEE


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/tools/nope/"), ("post", "/tools/nope/buy/"), ("post", "/inventory/nope/use/")],
)
def test_tool_endpoints_when_slug_unknown_then_404_tool_not_found(auth_client, catalog, method, path):
    response = getattr(auth_client, method)(f"{API}{path}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tool_not_found"
    assert set(response.json()["error"]) == {"code", "message"}


@pytest.mark.parametrize(("method", "path"), [("post", "/tools/coffee/buy/"), ("get", "/inventory/")])
def test_inventory_endpoints_when_no_token_then_401(api_client, catalog, method, path):
    response = getattr(api_client, method)(f"{API}{path}")

    assert response.status_code == 401
    assert "error" in response.json()


def test_use_when_no_token_then_401_and_nothing_used(api_client, user, catalog):
    stock(user, coffee=1)

    response = use(api_client, "coffee")

    assert response.status_code == 401
    assert holdings(user) == {"coffee": 1}
    assert_ledger_clean()


# --- buy and use round trip ----------------------------------------------------------------------


def test_buy_then_use_then_the_item_row_records_each_change_time(user, catalog, time_machine):
    grant_loyalty(user, 30)
    bought_at = datetime(2031, 1, 6, 9, tzinfo=UTC)
    time_machine.move_to(bought_at, tick=False)
    client = client_for(user)  # a token issued at the moved time
    assert buy(client, "coffee").status_code == 201
    assert buy(client, "coffee").status_code == 201
    row = InventoryItem.objects.get(user=user, tool_id="coffee")
    assert (row.quantity, row.updated_at) == (2, bought_at)

    used_at = bought_at + timedelta(hours=2)
    time_machine.move_to(used_at, tick=False)
    client = client_for(user)
    assert use(client, "coffee").status_code == 200

    row.refresh_from_db()
    assert (row.quantity, row.updated_at) == (1, used_at)
    assert use(client, "coffee").status_code == 200
    assert not InventoryItem.objects.filter(user=user, tool_id="coffee").exists()
    assert_ledger_clean()


def test_buy_then_use_when_loyalty_suffices_then_exact_numbers_and_ledger(auth_client, user, catalog):
    grant_loyalty(user, 30)

    first = buy(auth_client, "coffee")
    assert first.status_code == 201, first.content
    assert first.json()["item"] == {"tool": COFFEE, "quantity": 1}
    assert first.json()["state"]["loyalty"] == 20
    assert first.json()["state"]["inventory_count"] == 1

    second = buy(auth_client, "coffee", {"quantity": 2})
    assert second.status_code == 201, second.content
    assert second.json()["item"] == {"tool": COFFEE, "quantity": 3}
    assert second.json()["state"]["loyalty"] == 0
    assert second.json()["state"]["inventory_count"] == 3
    event = StateEvent.objects.filter(user=user).latest("id")
    assert (event.kind, event.reference) == (EventKind.TOOL_PURCHASE, "coffee")
    assert (event.loyalty_delta, event.inventory_count_delta, event.loyalty) == (-20, 2, 0)

    used = use(auth_client, "coffee")
    assert used.status_code == 200, used.content
    body = used.json()
    assert body["tool"] == COFFEE
    assert body["remaining"] == 2
    assert body["changes"] == {**NO_CHANGE, "energy": 15, "fatigue": 2, "inventory_count": -1}
    assert body["leveled_up"] is False
    assert body["unlocked_rewards"] == []
    state = body["state"]
    assert (state["energy"], state["fatigue"], state["loyalty"], state["level"]) == (65, 2, 0, 1)
    assert state["inventory_count"] == 2

    inventory = auth_client.get(f"{API}/inventory/")
    assert inventory.status_code == 200
    assert inventory.json() == {"items": [{"tool": COFFEE, "quantity": 2}], "used": 2, "capacity": 5}
    state = state_of(user)
    assert (state.energy, state.fatigue, state.loyalty, state.inventory_count) == (65, 2, 0, 2)
    assert StateEvent.objects.filter(user=user).latest("id").kind == EventKind.TOOL_USE
    assert_ledger_clean()


def test_inventory_when_several_kinds_then_items_by_slug_with_used_and_capacity(auth_client, user, catalog):
    stock(user, rest=1, coffee=2, focus=1)

    response = auth_client.get(f"{API}/inventory/")

    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {"tool": COFFEE, "quantity": 2},
            {"tool": FOCUS, "quantity": 1},
            {"tool": REST, "quantity": 1},
        ],
        "used": 4,
        "capacity": 5,
    }
    assert state_of(user).inventory_count == 4
    assert_ledger_clean()


def test_use_when_last_item_then_row_deleted_and_next_use_409(auth_client, user, catalog):
    stock(user, coffee=1)

    response = use(auth_client, "coffee")

    assert response.status_code == 200
    assert response.json()["remaining"] == 0
    assert not InventoryItem.objects.filter(user=user).exists()
    assert auth_client.get(f"{API}/inventory/").json() == {"items": [], "used": 0, "capacity": 5}
    again = use(auth_client, "coffee")
    assert_error(again, 409, "not_in_inventory")
    assert state_of(user).inventory_count == 0
    assert_ledger_clean()


def test_use_when_tool_not_held_then_409_not_in_inventory(auth_client, user, catalog):
    stock(user, rest=1)

    response = use(auth_client, "coffee")

    assert_error(response, 409, "not_in_inventory")
    assert holdings(user) == {"rest": 1}
    assert_ledger_clean()


def test_buy_when_five_fit_then_all_bought_at_once(auth_client, user, catalog):
    grant_loyalty(user, 50)

    response = buy(auth_client, "coffee", {"quantity": 5})

    assert response.status_code == 201, response.content
    assert response.json()["item"]["quantity"] == 5
    assert response.json()["state"]["loyalty"] == 0
    assert response.json()["state"]["inventory_count"] == 5
    assert holdings(user) == {"coffee": 5}
    assert_ledger_clean()


def test_buy_when_quantity_does_not_fit_then_409_inventory_full_and_nothing_changes(
    auth_client, user, catalog
):
    stock(user, rest=1)
    grant_loyalty(user, 100)
    events = StateEvent.objects.filter(user=user).count()

    response = buy(auth_client, "coffee", {"quantity": 5})

    assert_error(response, 409, "inventory_full")
    state = state_of(user)
    assert (state.loyalty, state.inventory_count) == (100, 1)
    assert holdings(user) == {"rest": 1}
    assert StateEvent.objects.filter(user=user).count() == events
    assert_ledger_clean()


def test_buy_when_loyalty_short_by_one_then_409_insufficient_loyalty(auth_client, user, catalog):
    grant_loyalty(user, 19)

    single = buy(auth_client, "focus")
    double = buy(auth_client, "coffee", {"quantity": 2})

    assert (single.status_code, error_code(single)) == (409, "insufficient_loyalty")
    assert (double.status_code, error_code(double)) == (409, "insufficient_loyalty")
    assert state_of(user).loyalty == 19
    assert holdings(user) == {}
    assert purchases(user) == 0
    assert_ledger_clean()


@pytest.mark.parametrize("quantity", [0, 6, "x", -1, 2.5, True, None])
def test_buy_when_quantity_invalid_then_400_validation_error(auth_client, user, catalog, quantity):
    grant_loyalty(user, 100)

    response = buy(auth_client, "coffee", {"quantity": quantity})

    assert_error(response, 400, "validation_error")
    assert list(response.json()["error"]["fields"]) == ["quantity"]
    assert state_of(user).loyalty == 100
    assert holdings(user) == {}
    assert purchases(user) == 0
    assert_ledger_clean()


def test_buy_when_body_has_unknown_field_then_400_and_nothing_bought(auth_client, user, catalog):
    grant_loyalty(user, 100)

    response = buy(auth_client, "coffee", {"quantity": 1, "price": 0})

    assert_error(response, 400, "validation_error")
    assert "price" in response.json()["error"]["fields"]
    assert state_of(user).loyalty == 100
    assert purchases(user) == 0
    assert_ledger_clean()


# --- effects: clamps, level-up, loyalty multiplier --------------------------------------------


def test_use_when_energy_reaches_100_then_level_up_and_energy_zero(auth_client, user, catalog):
    stock(user, coffee=1)
    adjust_state(user=user, note="to 95", energy=45)

    response = use(auth_client, "coffee")

    assert response.status_code == 200
    body = response.json()
    assert body["leveled_up"] is True
    assert (body["state"]["energy"], body["state"]["level"], body["state"]["fatigue"]) == (0, 2, 2)
    assert body["changes"] == {**NO_CHANGE, "energy": -95, "fatigue": 2, "level": 1, "inventory_count": -1}
    assert_ledger_clean()


@pytest.mark.parametrize(
    ("tool", "fatigue", "clamped_at"),
    [("coffee", 99, 100), ("rest", 5, 0)],  # coffee +2 fatigue, rest -15
    ids=["coffee-past-100", "rest-below-0"],
)
@pytest.mark.usefixtures("catalog")
def test_use_when_fatigue_would_leave_0_to_100_then_clamped(auth_client, user, tool, fatigue, clamped_at):
    stock(user, **{tool: 1})
    adjust_state(user=user, note="tired", fatigue=fatigue)

    response = use(auth_client, tool)

    assert response.status_code == 200
    assert response.json()["state"]["fatigue"] == clamped_at
    assert response.json()["changes"]["fatigue"] == clamped_at - fatigue
    assert_ledger_clean()


@pytest.mark.parametrize(
    ("level", "gain"),
    [
        (1, 5),  # x1.00
        (2, 5),  # x1.05: 5.25 -> 5
        (3, 6),  # x1.10: 5.5 -> 6
        (7, 7),  # x1.30: 6.5 -> 7 half away from zero (half-even would give 6)
        (21, 8),  # x2.00 capped at x1.50: 7.5 -> 8
    ],
)
def test_use_focus_when_level_n_then_loyalty_gain_scaled_and_rounded_half_away(
    auth_client, user, catalog, level, gain
):
    stock(user, focus=1)
    level_up_to(user, level)
    before = state_of(user)

    response = use(auth_client, "focus")

    assert response.status_code == 200
    body = response.json()
    assert body["changes"]["loyalty"] == gain
    assert body["state"]["loyalty"] == before.loyalty + gain == gain
    assert body["state"]["energy"] == before.energy + 5
    assert body["state"]["level"] == level
    assert_ledger_clean()


@pytest.mark.parametrize(("loyalty", "after"), [(20, 12), (5, 0)])
def test_use_when_tool_costs_loyalty_then_loss_not_scaled_and_floor_zero(
    auth_client, user, catalog, loyalty, after
):
    ToolFactory(slug="penalty", price=0, loyalty_delta=-8)
    stock(user, penalty=1)
    level_up_to(user, 3)  # x1.10 would make the loss 9
    grant_loyalty(user, loyalty)

    response = use(auth_client, "penalty")

    assert response.status_code == 200
    assert response.json()["state"]["loyalty"] == after
    assert response.json()["changes"]["loyalty"] == after - loyalty
    assert_ledger_clean()


# --- inactive tools ------------------------------------------------------------------------------


def test_inactive_tool_when_deactivated_then_hidden_not_buyable_but_usable_if_owned(
    auth_client, api_client, user, catalog
):
    stock(user, focus=1)
    grant_loyalty(user, 100)
    ToolDefinition.objects.filter(slug="focus").update(is_active=False)

    listing = api_client.get(f"{API}/tools/")
    detail = api_client.get(f"{API}/tools/focus/")
    bought = buy(auth_client, "focus")

    assert [tool["slug"] for tool in listing.json()] == ["coffee", "freeze", "rest"]
    assert (detail.status_code, error_code(detail)) == (404, "tool_not_found")
    assert (bought.status_code, error_code(bought)) == (404, "tool_not_found")
    assert state_of(user).loyalty == 100

    used = use(auth_client, "focus")

    assert used.status_code == 200, used.content
    assert used.json()["remaining"] == 0
    assert used.json()["changes"]["loyalty"] == 5
    assert holdings(user) == {}
    assert_ledger_clean()
