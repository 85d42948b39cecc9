"""Headless Chromium (Debian's package) driven by Playwright against pytest-django's live server.

No browser is downloaded: Playwright launches /usr/bin/chromium (CHROMIUM_PATH overrides it).
Without Chromium or Playwright the tests are skipped, except with CI=true, where they fail.
A failed test leaves a screenshot and the list of requests the browser made in test-artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from django.db import connections

CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ADMIN_EMAIL = "operator@example.com"
ADMIN_PASSWORD = "operator-password-93"


def _unavailable(reason: str):
    if CI:
        pytest.fail(f"CI=true: browser tests must run, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def browser():
    """A fresh headless Chromium per test.

    Playwright's sync API keeps an event loop running in this thread while it is open. Django
    refuses ORM calls from a thread with a running loop unless told the code is synchronous
    (the tests are), so the flag is set for as long as the browser lives. Meanwhile Django keeps
    this thread's connections in the loop's context, apart from the usual thread-local ones: they
    are closed (given back to the pool) before the loop stops, or they would stay open and
    block the test database's removal.
    """
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                connections.close_all()
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def requested_urls() -> list[str]:
    """Every URL the browser asked for during the test (filled by the `page` fixture)."""
    return []


@pytest.fixture
def page(browser, live_server, requested_urls, request):
    """A page on the live server; on failure, a screenshot and the request log in test-artifacts/."""
    context = browser.new_context(base_url=live_server.url)
    context.on("request", lambda req: requested_urls.append(req.url))
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
        finally:
            (ARTIFACTS / f"{stem}.requests.txt").write_text("\n".join(requested_urls) + "\n")
    context.close()


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)


@pytest.fixture
def admin_page(page, operator):
    """`page`, logged into the admin through its login form."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", ADMIN_EMAIL)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    return page
