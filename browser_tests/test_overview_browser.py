"""The engagement overview in a real browser: an operator logs in to the admin, opens the overview on
weeks of activity, and sees every chart drawn with tables that hold the database's numbers.

The page's screenshot is saved to test-artifacts/overview.png; with UPDATE_DOCS_SCREENSHOT=1 it
also replaces docs/overview.png, the one the README shows.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone

from analytics.overview import Period
from analytics.services import count_webhook_delivery
from analytics.tests.history import at, expected_tables, seed_history
from browser_tests.conftest import ARTIFACTS
from inventory.services import seed_tools
from rewards.services import seed_rewards

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = ["activity", "registrations", "retention", "streaks", "loyalty", "tools", "webhooks"]
DOCS_SCREENSHOT = Path(settings.BASE_DIR) / "docs" / "overview.png"


def record_deliveries(today) -> Counter:
    """Delivery attempts as the webhook worker records them: a few days of results."""
    deliveries = Counter()
    for days_ago, result, attempts in (
        (6, "succeeded", 5),
        (5, "succeeded", 7),
        (5, "failed", 2),
        (2, "succeeded", 4),
        (1, "retrying", 3),
        (1, "succeeded", 6),
        (0, "succeeded", 2),
    ):
        day = today - timedelta(days=days_ago)
        for _ in range(attempts):
            count_webhook_delivery(result=result, at=at(day, 7))
        deliveries[(day, result)] += attempts
    return deliveries


def test_overview_when_operator_opens_it_then_every_chart_drawn_and_tables_equal_the_database(
    admin_page, live_server, requested_urls
):
    seed_tools()
    seed_rewards()
    today = timezone.now().date()
    seed_history(today)
    deliveries = record_deliveries(today)
    page = admin_page

    page.set_viewport_size({"width": 1280, "height": 1400})
    page.click("text=Engagement overview")  # linked from the admin index
    page.wait_for_url("**/admin/overview/")
    assert page.title().startswith("Engagement overview")

    sections = page.eval_on_selector_all("section.overview-chart", "sections => sections.map(s => s.id)")
    assert sections == [f"chart-{slug}" for slug in CHARTS]
    for slug in CHARTS:
        chart = page.locator(f"#chart-{slug} svg[role=img]")
        box = chart.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 80, (slug, box)
        marks = page.locator(f"#chart-{slug} svg .bar, #chart-{slug} svg .point").count()
        assert marks > 0, f"chart {slug} drew nothing"
        labelled = chart.get_attribute("aria-labelledby")
        assert page.locator(f"#{labelled}").inner_text()  # named by its heading

    tables = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('section.overview-chart')].map(s => [
            s.id.replace('chart-', ''),
            [...s.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(c => c.textContent.trim())),
        ]))"""
    )
    expected = expected_tables(Period(start=today - timedelta(days=29), end=today, today=today), deliveries)
    assert {slug: [tuple(row) for row in rows] for slug, rows in tables.items()} == expected
    headers = page.eval_on_selector_all("section.overview-chart table th[scope=col]", "ths => ths.length")
    assert headers >= 2 * len(CHARTS)
    assert page.locator("section.overview-chart table caption").count() == len(CHARTS)

    # Everything the page needed came from this server: no CDN, works offline.
    server = urlsplit(live_server.url).netloc
    assert [url for url in requested_urls if urlsplit(url).netloc not in (server, "")] == []
    assert any(url.endswith("/static/analytics/overview.css") for url in requested_urls)

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "overview.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


def test_overview_when_period_changed_in_the_form_then_charts_follow_and_bad_period_refused(admin_page):
    seed_tools()
    seed_rewards()
    today = timezone.now().date()
    page = admin_page
    page.goto("/admin/overview/")

    start = today - timedelta(days=6)
    page.fill("#id_start", start.isoformat())
    page.fill("#id_end", today.isoformat())
    page.click("input[type=submit][value=Show]")
    page.wait_for_url("**/admin/overview/?start=*")
    days = page.eval_on_selector_all(
        "#chart-activity tbody th[scope=row]", "ths => ths.map(th => th.textContent)"
    )
    assert days == [(start + timedelta(days=n)).isoformat() for n in range(7)]

    page.fill("#id_start", today.isoformat())
    page.fill("#id_end", (today - timedelta(days=3)).isoformat())
    page.click("input[type=submit][value=Show]")
    assert "must start on or before its last day" in page.inner_text("#content-main")
    assert page.locator("section.overview-chart").count() == 0
