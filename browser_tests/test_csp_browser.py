"""The Content-Security-Policy in a real browser: the admin and the API docs work under it, and
nothing they load or run is refused (no inline script or style anywhere)."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every refusal the policy makes, recorded by the page itself (the browser's own event).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${where}`);
});
"""


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_api_docs_render_every_endpoint_under_the_policy(page):
    page.add_init_script(RECORD_VIOLATIONS)

    response = page.goto("/api/docs/")

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    page.wait_for_selector(".swagger-ui .opblock-tag-section", timeout=30_000)
    assert "Stateful Engagement Backend API" in page.inner_text(".swagger-ui .info")
    operation = page.locator(".opblock-summary-path", has_text="/api/v1/auth/password/")
    operation.click()  # the UI's own script opens the operation
    page.wait_for_selector(".opblock.is-open .opblock-body")
    assert violations(page) == []


def test_admin_pages_work_under_the_policy(admin_page):
    page = admin_page
    page.add_init_script(RECORD_VIOLATIONS)
    user = UserFactory(email="player@example.com")
    for path in (
        "/admin/",
        "/admin/inventory/tooldefinition/add/",
        f"/admin/accounts/user/{user.pk}/change/",
        f"/admin/accounts/user/{user.pk}/password/",
        "/admin/axes/accessattempt/",
    ):
        response = page.goto(path)
        assert response.status == 200, path
        assert "content-security-policy" in response.headers, path
        assert violations(page) == [], path
    page.goto("/admin/inventory/tooldefinition/add/")
    page.locator("#id_name").press_sequentially("Green Tea")
    assert page.input_value("#id_slug") == "green-tea"  # the admin's scripts run
    assert violations(page) == []
