"""The tool catalog in the admin: list with counts, CRUD, constraint errors on the form, bulk on/off."""

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from engagement.testing import assert_form_refused, assert_queries_do_not_grow
from inventory.models import InventoryItem, ToolDefinition
from inventory.services import buy_tool
from progression.services import adjust_state

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:inventory_tooldefinition_add")
LIST_URL = reverse("admin:inventory_tooldefinition_changelist")


# What the add form posts for a new tool.
TOOL_FORM = {
    "slug": "tea",
    "name": "Tea",
    "description": "Calm energy.",
    "is_active": "on",
    "price": "7",
    "energy_delta": "8",
    "fatigue_delta": "-3",
    "loyalty_delta": "0",
    "kind": "boost",
    "max_held": "",
}


def tool_form(**overrides) -> dict:
    return {**TOOL_FORM, **overrides}


def make_tools(count: int, owners: int = 2, prefix: str = "tool") -> list[ToolDefinition]:
    tools = [
        ToolDefinition.objects.create(slug=f"{prefix}-{i}", name=f"Tool {i}", price=1, energy_delta=1)
        for i in range(count)
    ]
    for user in UserFactory.create_batch(owners):
        adjust_state(user=user, loyalty=100, note="test budget")
        for tool in tools[:5]:
            buy_tool(user=user, slug=tool.slug)
    return tools


def test_tool_changelist_when_many_tools_owned_then_queries_stay_bounded(admin_client):
    make_tools(3)
    response = assert_queries_do_not_grow(
        lambda: admin_client.get(LIST_URL), lambda: make_tools(40, owners=3, prefix="more"), at_most=6
    )
    assert response.context["cl"].result_count == 43


def test_tool_changelist_when_owned_then_shows_owner_and_item_counts(admin_client):
    make_tools(1, owners=3)
    response = admin_client.get(LIST_URL)
    tool = response.context["cl"].result_list[0]
    assert (tool.slug, tool.owner_count, tool.held_total) == ("tool-0", 3, 3)
    assert f'?tool={tool.slug}">3</a>' in response.content.decode()


def test_tool_owner_link_when_followed_then_lists_only_that_tools_holders(admin_client):
    make_tools(2, owners=2)
    response = admin_client.get(reverse("admin:inventory_inventoryitem_changelist"), {"tool": "tool-1"})
    assert response.status_code == 200
    assert {item.tool_id for item in response.context["cl"].result_list} == {"tool-1"}
    assert response.context["cl"].result_count == 2


def test_tool_changelist_search_and_filter_when_used_then_narrow_the_list(admin_client):
    ToolDefinition.objects.create(slug="espresso", name="Espresso", price=5)
    ToolDefinition.objects.create(slug="nap", name="Nap", price=5, is_active=False)
    found = admin_client.get(LIST_URL, {"q": "espr"}).context["cl"].result_list
    inactive = admin_client.get(LIST_URL, {"is_active__exact": "0"}).context["cl"].result_list
    assert [t.slug for t in found] == ["espresso"]
    assert [t.slug for t in inactive] == ["nap"]


def test_tool_add_when_valid_then_row_written_and_public_catalog_lists_it(admin_client, api_client):
    response = admin_client.post(ADD_URL, tool_form())
    assert response.status_code == 302, response.context["adminform"].form.errors
    tool = ToolDefinition.objects.get(slug="tea")
    assert (tool.price, tool.energy_delta, tool.fatigue_delta, tool.is_active) == (7, 8, -3, True)
    listed = api_client.get("/api/v1/tools/").json()
    assert "tea" in [row["slug"] for row in listed]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price", "-1", "Must be at least 0."),
        ("energy_delta", "101", "Must be between -100 and 100."),
        ("fatigue_delta", "-101", "Must be between -100 and 100."),
        ("loyalty_delta", "101", "Must be between -100 and 100."),
        (
            "loyalty_delta",
            "5",
            "The loyalty gain at the highest level multiplier (x1.5) must not exceed the price: "
            "buying and using the tool would create loyalty.",
        ),
    ],
)
def test_tool_add_when_value_breaks_check_constraint_then_form_error_and_no_row(
    admin_client, field, value, message
):
    values = {"price": "200"} if (field, value) == ("loyalty_delta", "101") else {}  # no gain error
    assert_form_refused(admin_client.post(ADD_URL, tool_form(**{**values, field: value})), field, message)
    assert not ToolDefinition.objects.filter(slug="tea").exists()


def test_tool_change_when_value_breaks_check_constraint_then_form_error_and_row_unchanged(admin_client):
    ToolDefinition.objects.create(slug="tea", name="Tea", price=7)
    url = reverse("admin:inventory_tooldefinition_change", args=["tea"])
    assert_form_refused(admin_client.post(url, tool_form(price="-1")), "price", "Must be at least 0.")
    assert ToolDefinition.objects.get(slug="tea").price == 7


def test_tool_change_when_slug_posted_then_primary_key_kept(admin_client):
    ToolDefinition.objects.create(slug="tea", name="Tea", price=7)
    url = reverse("admin:inventory_tooldefinition_change", args=["tea"])
    response = admin_client.post(url, tool_form(slug="renamed", name="Green tea"))
    assert response.status_code == 302
    assert list(ToolDefinition.objects.values_list("slug", "name")) == [("tea", "Green tea")]


def test_deactivate_action_when_applied_then_tool_leaves_catalog_and_activate_brings_it_back(
    admin_client, api_client, catalog
):
    def listed():
        return [row["slug"] for row in api_client.get("/api/v1/tools/").json()]

    response = admin_client.post(LIST_URL, {"action": "deactivate", "_selected_action": ["coffee", "rest"]})
    assert response.status_code == 302
    assert listed() == ["focus", "freeze"]
    assert set(ToolDefinition.objects.filter(is_active=False).values_list("slug", flat=True)) == {
        "coffee",
        "rest",
    }
    admin_client.post(LIST_URL, {"action": "activate", "_selected_action": ["coffee"]})
    assert sorted(listed()) == ["coffee", "focus", "freeze"]


def test_tool_delete_when_users_hold_it_then_refused_and_row_kept(admin_client, user, catalog):
    adjust_state(user=user, loyalty=10, note="test budget")
    buy_tool(user=user, slug="coffee")
    url = reverse("admin:inventory_tooldefinition_delete", args=["coffee"])
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 200
    assert "Cannot delete" in response.content.decode()
    assert ToolDefinition.objects.filter(slug="coffee").exists()
    assert InventoryItem.objects.filter(user=user, tool_id="coffee").exists()


def test_tool_add_when_free_and_giving_loyalty_then_form_error_on_loyalty_and_no_row(admin_client):
    response = admin_client.post(ADD_URL, tool_form(price="0", loyalty_delta="100"))

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["loyalty_delta"]
    assert not ToolDefinition.objects.filter(slug="tea").exists()
