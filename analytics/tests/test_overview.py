"""The admin's engagement overview page: who may see it, its period, its numbers, its cost."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from analytics.forms import MAX_DAYS
from analytics.overview import Chart, ChartKind, Period
from analytics.services import count_webhook_delivery
from analytics.tests.history import Player, at, expected_tables, page_tables, seed_history

pytestmark = pytest.mark.django_db

URL = "/admin/overview/"
TODAY = date(2030, 3, 20)
SLUGS = ["activity", "registrations", "retention", "streaks", "loyalty", "tools", "webhooks"]


@pytest.fixture
def today(time_machine):
    time_machine.move_to(at(TODAY, 15), tick=False)
    return TODAY


@pytest.fixture
def staff_client(today):
    """A staff member (not a superuser) logged in to the admin, on TODAY."""
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    return client


def test_overview_when_anonymous_then_sent_to_the_admin_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={URL}"


def test_overview_when_logged_in_but_not_staff_then_sent_to_the_admin_login(client):
    client.force_login(UserFactory(is_staff=False))
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_index_when_staff_then_links_the_overview(staff_client):
    response = staff_client.get("/admin/")
    assert response.status_code == 200
    assert f'href="{URL}"' in response.text
    assert "Engagement overview" in response.text


def test_overview_when_no_period_given_then_last_30_days_and_every_chart_with_its_table(
    staff_client, catalog, today
):
    response = staff_client.get(URL)

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")  # admin_view: never cached
    tables = page_tables(response.text)
    assert list(tables) == SLUGS
    days = [row[0] for row in tables["activity"]]
    assert days == [(TODAY - timedelta(days=29 - n)).isoformat() for n in range(30)]
    assert response.text.count('role="img"') == len(SLUGS)
    assert response.text.count('<th scope="col">') > len(SLUGS)


def test_overview_when_weeks_of_activity_then_every_table_equals_the_rows_counted_afresh(
    staff_client, catalog, today
):
    seed_history(TODAY)
    deliveries = Counter(
        {(TODAY - timedelta(days=2), "succeeded"): 3, (TODAY - timedelta(days=1), "failed"): 1}
    )
    for (day, result), n in deliveries.items():
        for _ in range(n):
            count_webhook_delivery(result=result, at=at(day))
    start = TODAY - timedelta(days=34)

    response = staff_client.get(URL, {"start": start.isoformat(), "end": TODAY.isoformat()})

    assert response.status_code == 200
    assert page_tables(response.text) == expected_tables(
        Period(start=start, end=TODAY, today=TODAY), deliveries
    )


def test_overview_when_period_in_the_past_then_only_its_days(staff_client, catalog, today):
    # Registers on 2030-02-28, checks in on 03-01, 03-02, 03-10 and, after the period, 03-17.
    seed_history(TODAY, players=(Player("a", 20, (19, 18, 10, 3)),))
    start, end = date(2030, 2, 28), date(2030, 3, 12)

    response = staff_client.get(URL, {"start": start.isoformat(), "end": end.isoformat()})

    assert response.status_code == 200
    tables = page_tables(response.text)
    days = [(start + timedelta(days=n)).isoformat() for n in range(13)]
    checked_in = {"2030-03-01", "2030-03-02", "2030-03-10"}
    assert tables["activity"] == [(day, *(("1", "1") if day in checked_in else ("0", "0"))) for day in days]
    assert tables["registrations"] == [(day, "1" if day == "2030-02-28" else "0") for day in days]
    assert tables["loyalty"] == [(day, "5" if day in checked_in else "0", "0") for day in days]
    # The week of 02-25: back on day 1 (03-01), not on day 7 (03-07); day 30 is still ahead.
    assert tables["retention"] == [
        ("2030-02-25", "1", "100.0%", "0.0%", "\N{EN DASH}"),
        ("2030-03-04", "0", *["\N{EN DASH}"] * 3),
        ("2030-03-11", "0", *["\N{EN DASH}"] * 3),
    ]
    # Today: the staff member never checked in, and a's streak ended (last check-in 3 days ago).
    buckets = ("1", "2", "3-6", "7-13", "14-29", "30-99", "100+")
    assert tables["streaks"] == [("0", "2")] + [(bucket, "0") for bucket in buckets]
    assert tables["tools"] == [(slug, "0", "0") for slug in ("coffee", "focus", "freeze", "rest")]
    assert tables["webhooks"] == [(day, "0", "0", "0") for day in days]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2030-03-10", "end": "2030-03-01"}, "must start on or before"),
        ({"end": "2030-03-21"}, "cannot end after today"),
        ({"start": (TODAY - timedelta(days=MAX_DAYS)).isoformat()}, f"at most {MAX_DAYS} days"),
        ({"start": "yesterday"}, "Enter a valid date"),
    ],
)
def test_overview_when_period_invalid_then_400_with_the_reason_and_no_chart(
    staff_client, today, query, message
):
    response = staff_client.get(URL, query)
    assert response.status_code == 400
    assert message in response.text
    assert page_tables(response.text) == {}


def test_overview_when_a_year_long_then_allowed(staff_client, catalog, today):
    response = staff_client.get(URL, {"start": (TODAY - timedelta(days=MAX_DAYS - 1)).isoformat()})
    assert response.status_code == 200
    assert len(page_tables(response.text)["activity"]) == MAX_DAYS


def test_overview_when_more_data_then_same_number_of_queries(
    staff_client, catalog, today, django_assert_num_queries
):
    seed_history(TODAY, players=(Player("a", 3, (2, 1)),))
    # Session and user, the staff member's permissions (the admin's context), 8 for the seven charts.
    with django_assert_num_queries(12):
        assert staff_client.get(URL).status_code == 200
    seed_history(TODAY, players=tuple(Player(f"p{n}", 25 - n, (20 - n, 10 - n, 1)) for n in range(6)))
    with django_assert_num_queries(12):
        assert staff_client.get(URL).status_code == 200


def fake_provider(*, period: Period) -> Chart:
    """A chart provider plugged in through settings: one row, 7 on the period's last day."""
    title, description = "A plugged-in chart", "From a provider named in settings."
    return Chart("fake", title, description, ChartKind.STACKED, ("Day", "Pending"), ((period.end, 7),))


def test_overview_when_provider_added_in_settings_then_its_chart_and_table_shown(
    staff_client, today, settings
):
    settings.ENGAGEMENT_OVERVIEW_CHARTS = [*settings.ENGAGEMENT_OVERVIEW_CHARTS, f"{__name__}.fake_provider"]
    response = staff_client.get(URL)
    assert response.status_code == 200
    assert page_tables(response.text)["fake"] == [(TODAY.isoformat(), "7")]
    assert "A plugged-in chart" in response.text
