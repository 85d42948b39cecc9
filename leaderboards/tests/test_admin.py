"""The leaderboard admin: boards with the current top 20, results and finalized periods read-only."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory
from leaderboards.models import LeaderboardDefinition, LeaderboardResult
from leaderboards.services import finalize_leaderboards
from progression.services import check_in

pytestmark = pytest.mark.django_db

BOARDS = "/admin/leaderboards/leaderboarddefinition/"
RESULTS = "/admin/leaderboards/leaderboardresult/"


def test_board_page_when_scores_then_current_top_20_in_rank_order(admin_client, catalog, time_machine):
    time_machine.move_to("2026-03-03T10:00:00Z", tick=False)
    players = [UserFactory(display_name=f"Player{i:02d}") for i in range(25)]
    for minute, user in enumerate(players):
        time_machine.move_to(f"2026-03-03T10:{minute:02d}:00Z", tick=False)
        check_in(user=user)

    response = admin_client.get(f"{BOARDS}weekly_loyalty/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Player00" in page and "Player19" in page and "Player20" not in page
    assert page.index("Player00") < page.index("Player01") < page.index("Player19")
    assert "@" not in page.split("Current period")[1].split("</table>")[0]


def test_board_page_when_existing_then_metric_and_period_read_only(admin_client, catalog):
    response = admin_client.post(
        f"{BOARDS}weekly_loyalty/change/",
        {"title": "Renamed", "prize_loyalty": 60, "prize_ranks": 3, "is_active": "on", "metric": "check_ins"},
    )

    assert response.status_code == 302
    board = LeaderboardDefinition.objects.get(slug="weekly_loyalty")
    assert (board.title, board.prize_loyalty, board.metric) == ("Renamed", 60, "loyalty_earned")


def test_add_board_when_all_time_with_prize_then_form_error_and_nothing_saved(admin_client, catalog):
    response = admin_client.post(
        f"{BOARDS}add/",
        {
            "slug": "forever",
            "title": "Forever",
            "metric": "check_ins",
            "period": "all_time",
            "prize_loyalty": 5,
            "prize_ranks": 1,
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert not LeaderboardDefinition.objects.filter(slug="forever").exists()


def test_results_when_finalized_then_listed_read_only(admin_client, catalog, time_machine):
    time_machine.move_to("2026-03-03T10:00:00Z", tick=False)
    check_in(user=UserFactory(display_name="Winner"))
    time_machine.move_to("2026-03-09T01:00:00Z", tick=False)
    finalize_leaderboards()

    listing = admin_client.get(RESULTS)

    assert listing.status_code == 200
    assert "Winner" in listing.content.decode()
    result = LeaderboardResult.objects.get(board_id="weekly_loyalty")
    assert admin_client.post(f"{RESULTS}{result.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get(f"{RESULTS}add/").status_code == 403
    assert LeaderboardResult.objects.filter(pk=result.pk).exists()
