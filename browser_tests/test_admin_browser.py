"""The operator's path in a real browser: the admin changes what the API serves, and the API docs
render every endpoint from files the server itself serves."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import UserFactory
from engagement.testing import assert_ledger_clean
from progression.models import EventKind

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def tool_slugs(page) -> list[str]:
    response = page.goto("/api/v1/tools/")
    assert response.status == 200
    return [tool["slug"] for tool in response.json()]


def run_action(page, *, checkbox_value: str, action: str) -> None:
    page.check(f'input[name="_selected_action"][value="{checkbox_value}"]')
    page.select_option('select[name="action"]', action)
    page.click('button[name="index"]')


def test_tool_when_created_then_listed_and_when_deactivated_then_gone(admin_page):
    page = admin_page
    page.goto("/admin/inventory/tooldefinition/add/")
    page.locator("#id_name").press_sequentially("Green Tea")
    assert page.input_value("#id_slug") == "green-tea"  # the admin's JS fills it in from the name
    page.fill("#id_price", "7")
    page.fill("#id_energy_delta", "8")
    page.fill("#id_fatigue_delta", "-3")
    page.click('input[name="_save"]')
    assert "was added successfully" in page.inner_text(".messagelist")
    assert "green-tea" in tool_slugs(page)

    page.goto("/admin/inventory/tooldefinition/")
    run_action(page, checkbox_value="green-tea", action="deactivate")
    assert "1 tool(s) deactivated." in page.inner_text(".messagelist")
    assert "green-tea" not in tool_slugs(page)


def test_tool_form_when_price_negative_then_error_shown_on_the_field(admin_page):
    page = admin_page
    page.goto("/admin/inventory/tooldefinition/add/")
    page.fill("#id_name", "Bad Deal")
    page.fill("#id_price", "-1")
    page.click('input[name="_save"]')
    assert "Must be at least 0." in page.inner_text(".field-price")
    assert "bad-deal" not in tool_slugs(page)


def test_adjust_state_when_applied_in_admin_then_event_in_users_ledger(admin_page, browser, live_server):
    user = UserFactory(email="player@example.com")
    page = admin_page
    page.goto("/admin/accounts/user/")
    run_action(page, checkbox_value=str(user.pk), action="adjust_state")
    page.fill("#id_loyalty", "30")
    page.fill("#id_energy", "5")
    page.fill("#id_note", "goodwill after outage")
    page.click('input[name="apply"]')
    assert "Adjusted player@example.com: energy +5, loyalty +30" in page.inner_text(".messagelist")

    token = RefreshToken.for_user(user).access_token
    api = browser.new_context(
        base_url=live_server.url, extra_http_headers={"Authorization": f"Bearer {token}"}
    )
    try:
        response = api.new_page().goto("/api/v1/me/events/")
        assert response.status == 200
        events = response.json()["results"]
    finally:
        api.close()
    assert [(e["kind"], e["reference"]) for e in events] == [(EventKind.ADJUSTMENT, "goodwill after outage")]
    assert (events[0]["deltas"]["loyalty"], events[0]["deltas"]["energy"]) == (30, 5)
    assert (events[0]["result"]["loyalty"], events[0]["result"]["energy"]) == (30, 55)
    assert_ledger_clean()


def test_api_docs_when_opened_then_every_endpoint_rendered_and_no_request_leaves_the_server(
    page, live_server, requested_urls
):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    expected = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert len(expected) >= 15

    page.goto("/api/docs/")
    page.wait_for_selector(".opblock-summary-path", state="attached")
    page.wait_for_load_state("networkidle")
    rendered = {
        tuple(block)
        for block in page.eval_on_selector_all(
            ".opblock",
            """blocks => blocks.map(b => [
                b.querySelector('.opblock-summary-method').textContent.trim(),
                b.querySelector('.opblock-summary-path').getAttribute('data-path'),
            ])""",
        )
    }
    assert rendered == expected

    server = urlsplit(live_server.url).netloc
    network = [url for url in requested_urls if urlsplit(url).scheme not in ("data", "blob")]
    assert network, "the page made no request at all"
    assert [url for url in network if urlsplit(url).netloc != server] == []
    assert any("/api/schema/" in url for url in network)
    assert any("swagger-ui-bundle" in url for url in network)
