"""Leaderboards through the API: scores per metric, ranks and ties, me/, hiding, periods, no emails."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory
from engagement.audit import verify_ledger
from inventory.services import buy_tool, use_tool
from leaderboards.models import LeaderboardEntry
from leaderboards.tests.helpers import API, assert_scores_match_ledger, client_for
from progression.services import adjust_state, check_in
from rewards.services import claim_reward

pytestmark = pytest.mark.django_db

MONDAY = "2026-03-02"


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(f"{MONDAY}T09:00:00Z", tick=False)
    return time_machine


def at(clock, day: int, hour: int = 12, minute: int = 0) -> None:
    clock.move_to(f"2026-03-{day:02d}T{hour:02d}:{minute:02d}:00Z", tick=False)


def board(client, slug, **params):
    response = client.get(f"{API}/leaderboards/{slug}/", params)
    assert response.status_code == 200, response.content
    return response.json()


def me(client, slug):
    response = client.get(f"{API}/leaderboards/{slug}/me/")
    assert response.status_code == 200, response.content
    return response.json()


def test_list_when_seeded_then_active_boards_with_current_period_bounds(catalog, clock, user):
    at(clock, 4)
    response = client_for(user).get(f"{API}/leaderboards/")

    assert response.status_code == 200
    by_slug = {b["slug"]: b for b in response.json()}
    assert set(by_slug) == {"weekly_loyalty", "monthly_checkins", "best_streak"}
    assert by_slug["weekly_loyalty"]["starts_at"] == "2026-03-02T00:00:00Z"
    assert by_slug["weekly_loyalty"]["ends_at"] == "2026-03-09T00:00:00Z"
    assert (by_slug["weekly_loyalty"]["prize_loyalty"], by_slug["weekly_loyalty"]["prize_ranks"]) == (50, 3)
    assert by_slug["monthly_checkins"]["starts_at"] == "2026-03-01T00:00:00Z"
    assert by_slug["monthly_checkins"]["ends_at"] == "2026-04-01T00:00:00Z"
    assert by_slug["best_streak"]["starts_at"] is None and by_slug["best_streak"]["ends_at"] is None


def test_scores_when_every_kind_of_change_then_each_metric_counts_what_it_says(catalog, clock, user):
    for day in (2, 3, 4):  # three check-ins: 5 loyalty each, streak 3 (streak_3 unlocks)
        at(clock, day)
        check_in(user=user)
    adjust_state(user=user, note="operator grant", loyalty=100)  # not earned
    buy_tool(user=user, slug="focus")  # spending: not earned
    claim_reward(user=user, slug="streak_3")  # +10 earned
    use_tool(user=user, slug="focus")  # +5 x 1.05 = 5 earned (level 2)
    client = client_for(user)

    assert me(client, "weekly_loyalty")["score"] == 5 + 5 + 5 + 10 + 5
    assert me(client, "monthly_checkins")["score"] == 3
    assert me(client, "best_streak")["score"] == 3
    assert_scores_match_ledger()
    assert verify_ledger().ok


def test_best_streak_when_streak_resets_then_keeps_the_highest_reached(catalog, clock, user):
    for day in (2, 3, 4, 6):  # streak 3, then a gap: streak 1
        at(clock, day)
        check_in(user=user)

    assert me(client_for(user), "best_streak") == {
        "rank": 1,
        "score": 3,
        "neighbors": [{"rank": 1, "display_name": user.display_name, "score": 3, "is_me": True}],
    }
    assert_scores_match_ledger("best_streak")


def test_ranks_when_scores_tie_then_earlier_reached_at_first_then_user_id(catalog, clock):
    late, early = UserFactory(display_name="Late"), UserFactory(display_name="Early")
    at(clock, 2, 11)
    check_in(user=late)
    at(clock, 2, 10)  # reached earlier in the day, though recorded later in the test
    check_in(user=early)
    at(clock, 2, 12)
    same_a, same_b = sorted([UserFactory(), UserFactory()], key=lambda u: u.pk)
    check_in(user=same_b)
    check_in(user=same_a)  # same instant: the lower user id is ahead

    results = board(client_for(late), "weekly_loyalty")["results"]

    assert [(r["rank"], r["display_name"], r["score"]) for r in results] == [
        (1, "Early", 5),
        (2, "Late", 5),
        (3, same_a.display_name, 5),
        (4, same_b.display_name, 5),
    ]
    assert [r["is_me"] for r in results] == [False, True, False, False]
    assert me(client_for(same_b), "weekly_loyalty")["rank"] == 4


def test_me_when_in_the_middle_then_five_neighbors_above_and_below(catalog, clock):
    users = [UserFactory(display_name=f"P{i:02d}") for i in range(15)]
    for minute, user in enumerate(users):
        at(clock, 2, 10, minute)
        check_in(user=user)
    at(clock, 2, 11)
    for _ in range(2):  # the last to check in goes to the top: 2 focus uses, +10
        adjust_state(user=users[14], note="setup", loyalty=40)
        buy_tool(user=users[14], slug="focus")
        use_tool(user=users[14], slug="focus")

    body = me(client_for(users[7]), "weekly_loyalty")

    assert (body["rank"], body["score"]) == (9, 5)
    assert [(r["rank"], r["display_name"], r["is_me"]) for r in body["neighbors"]] == [
        (rank, name, name == "P07")
        for rank, name in zip(range(4, 15), [f"P{i:02d}" for i in range(2, 13)], strict=True)
    ]
    page = board(client_for(users[7]), "weekly_loyalty")["results"]
    assert page[0] == {"rank": 1, "display_name": "P14", "score": 15, "is_me": False}
    assert body["neighbors"] == page[3:14]


def test_me_when_top_or_no_score_then_short_neighbors_or_null_rank(catalog, clock, user):
    other = UserFactory()
    at(clock, 2)
    check_in(user=user)

    assert me(client_for(user), "weekly_loyalty")["neighbors"][0]["is_me"] is True
    assert me(client_for(other), "weekly_loyalty") == {"rank": None, "score": None, "neighbors": []}


def test_hidden_user_when_patched_then_out_of_lists_and_others_ranks(catalog, clock):
    first, second, third = (UserFactory(display_name=n) for n in ("First", "Second", "Third"))
    for hour, user in ((9, first), (10, second), (11, third)):
        at(clock, 2, hour)
        check_in(user=user)

    response = client_for(first).patch(f"{API}/me/", {"leaderboard_visible": False}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["user"]["leaderboard_visible"] is False
    results = board(client_for(second), "weekly_loyalty")["results"]
    assert [(r["rank"], r["display_name"]) for r in results] == [(1, "Second"), (2, "Third")]
    assert me(client_for(third), "weekly_loyalty")["rank"] == 2
    assert me(client_for(first), "weekly_loyalty") == {"rank": None, "score": 5, "neighbors": []}
    at(clock, 3, 9)
    check_in(user=first)  # new scores of a hidden user stay hidden
    assert not LeaderboardEntry.objects.filter(user=first, visible=True).exists()
    assert [r["display_name"] for r in board(client_for(second), "best_streak")["results"]] == [
        "Second",
        "Third",
    ]

    client_for(first).patch(f"{API}/me/", {"leaderboard_visible": True}, format="json")
    assert me(client_for(first), "weekly_loyalty")["rank"] == 1


@pytest.mark.parametrize("value", ["false", 0, None, "no"])
def test_patch_visibility_when_not_a_boolean_then_400_and_nothing_changes(catalog, clock, user, value):
    at(clock, 2)
    check_in(user=user)

    response = client_for(user).patch(f"{API}/me/", {"leaderboard_visible": value}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "leaderboard_visible" in response.json()["error"]["fields"]
    user.refresh_from_db()
    assert user.leaderboard_visible is True
    assert LeaderboardEntry.objects.filter(user=user, visible=True).count() == 3


def test_previous_period_when_clock_moves_to_next_week_then_last_weeks_standings(catalog, clock, user):
    at(clock, 6)
    check_in(user=user)
    at(clock, 10)  # the next ISO week
    client = client_for(user)

    previous = board(client, "weekly_loyalty", period="previous")
    current = board(client, "weekly_loyalty")

    assert previous["period"] == {
        "which": "previous",
        "start": "2026-03-02",
        "starts_at": "2026-03-02T00:00:00Z",
        "ends_at": "2026-03-09T00:00:00Z",
        "finalized": False,
    }
    assert [(r["rank"], r["score"], r["is_me"]) for r in previous["results"]] == [(1, 5, True)]
    assert current["period"]["start"] == "2026-03-09" and current["results"] == []
    assert me(client, "weekly_loyalty")["rank"] is None
    assert board(client, "monthly_checkins")["results"][0]["score"] == 1  # same month


def test_pages_when_more_than_page_size_then_next_link_and_consecutive_ranks(catalog, clock):
    users = [UserFactory() for _ in range(5)]
    for minute, user in enumerate(users):
        at(clock, 2, 10, minute)
        check_in(user=user)
    client = client_for(users[0])

    first = board(client, "weekly_loyalty", page_size=2)
    second = client.get(first["next"]).json()
    last = board(client, "weekly_loyalty", page_size=2, page=3)

    assert [r["rank"] for r in first["results"] + second["results"] + last["results"]] == [1, 2, 3, 4, 5]
    assert first["previous"] is None and last["next"] is None
    assert board(client, "weekly_loyalty", page_size=1000)["results"][-1]["rank"] == 5  # capped at 100


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("leaderboards/nope/", 404, "leaderboard_not_found"),
        ("leaderboards/nope/me/", 404, "leaderboard_not_found"),
        ("leaderboards/weekly_loyalty/?period=last", 400, "validation_error"),
        ("leaderboards/weekly_loyalty/?page=0", 400, "validation_error"),
        ("leaderboards/weekly_loyalty/?page_size=abc", 400, "validation_error"),
        ("leaderboards/best_streak/?period=previous", 404, "period_not_found"),
        ("leaderboards/weekly_loyalty/?period=", 400, "validation_error"),
    ],
)
def test_bad_requests_when_sent_then_clear_error_shape(catalog, user, path, status, code):
    response = client_for(user).get(f"{API}/{path}")

    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_inactive_board_when_requested_then_404_and_no_new_scores(catalog, clock, user):
    from leaderboards.models import LeaderboardDefinition

    weekly = LeaderboardDefinition.objects.get(slug="weekly_loyalty")
    weekly.is_active = False
    weekly.save()
    at(clock, 2)
    check_in(user=user)

    assert client_for(user).get(f"{API}/leaderboards/weekly_loyalty/").status_code == 404
    assert not LeaderboardEntry.objects.filter(board=weekly).exists()
    assert LeaderboardEntry.objects.filter(user=user).count() == 2


def test_leaderboards_when_unauthenticated_then_401(catalog, api_client):
    assert api_client.get(f"{API}/leaderboards/").status_code == 401


def test_bodies_when_any_leaderboard_view_then_no_email_and_blank_names_as_player(catalog, clock):
    nameless = UserFactory(display_name="")
    named = UserFactory(display_name="Named")
    at(clock, 2)
    for user in (nameless, named):
        check_in(user=user)
    client = client_for(named)

    bodies = [
        client.get(f"{API}/leaderboards/").content,
        client.get(f"{API}/leaderboards/weekly_loyalty/").content,
        client.get(f"{API}/leaderboards/weekly_loyalty/?period=previous").content,
        client.get(f"{API}/leaderboards/weekly_loyalty/me/").content,
        client_for(nameless).get(f"{API}/leaderboards/best_streak/me/").content,
    ]

    for body in bodies:
        assert b"@" not in body
    names = [r["display_name"] for r in board(client, "weekly_loyalty")["results"]]
    assert f"Player {nameless.pk.hex[:6]}" in names


def test_query_budgets_when_reading_boards_then_fixed(catalog, clock, user, django_assert_max_num_queries):
    at(clock, 2)
    check_in(user=user)
    client = client_for(user)
    with django_assert_max_num_queries(2):  # auth user, active boards
        assert client.get(f"{API}/leaderboards/").status_code == 200
    with django_assert_max_num_queries(4):  # auth user, board, page (names joined), finalized?
        assert client.get(f"{API}/leaderboards/weekly_loyalty/").status_code == 200
    with django_assert_max_num_queries(6):  # auth user, board, my entry, rank, above, below
        assert client.get(f"{API}/leaderboards/weekly_loyalty/me/").status_code == 200


def test_check_in_when_scoring_then_one_statement_for_every_board(catalog, clock, user, settings):
    """The consumer adds one UPSERT covering the three boards a check-in touches, no more; on
    PostgreSQL it is sent with the change's other held writes (engagement.db.writes_together)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert settings.ENGAGEMENT_AFTER_CHANGE.index("leaderboards.services.score_after_change") == 1
    at(clock, 2)
    with CaptureQueriesContext(connection) as captured:
        check_in(user=user)

    ours = [q["sql"] for q in captured.captured_queries if "leaderboards_" in q["sql"]]
    assert len(ours) == 1 and ours[0].count('INSERT INTO "leaderboards_leaderboardentry"') == 1, ours
    assert ours[0].startswith("WITH held_" if connection.vendor == "postgresql" else "INSERT"), ours
    assert LeaderboardEntry.objects.filter(user=user).count() == 3
