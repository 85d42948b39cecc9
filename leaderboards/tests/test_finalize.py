"""Finalizing a period: once under concurrent runs, prizes to ranks 1..3 every period, the webhook."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.tests.factories import UserFactory
from engagement.audit import verify_ledger
from engagement.testing import queued_jobs, run_in_threads
from leaderboards.models import LeaderboardFinalization, LeaderboardResult
from leaderboards.services import finalize_leaderboards
from leaderboards.tests.helpers import API, client_for, scores
from progression.models import EventKind, StateEvent
from progression.services import check_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def move(clock, when: str) -> None:
    clock.move_to(when, tick=False)


def four_players(clock, day: str = "2026-03-03") -> list:
    """Four users checked in once on `day`, one minute apart: ranks 1..4 in that order."""
    users = [UserFactory(display_name=f"Rank{i}") for i in range(1, 5)]
    for minute, user in enumerate(users):
        move(clock, f"{day}T10:{minute:02d}:00Z")
        check_in(user=user)
    return users


def prizes() -> list[tuple]:
    rows = StateEvent.objects.filter(kind=EventKind.LEADERBOARD_PRIZE).order_by("reference")
    return list(rows.values_list("user_id", "reference", "loyalty_delta"))


def test_finalize_when_run_twice_concurrently_then_one_result_set_and_one_prize_each(catalog, time_machine):
    users = four_players(time_machine)
    move(time_machine, "2026-03-09T00:30:00Z")  # the next Monday

    runs = run_in_threads(2, lambda _: finalize_leaderboards())

    weekly = [done for run in runs for done in run if done.board == "weekly_loyalty"]
    assert sorted(done.created for done in weekly) == [False, True]
    assert LeaderboardFinalization.objects.filter(board_id="weekly_loyalty").count() == 1
    results = LeaderboardResult.objects.filter(board_id="weekly_loyalty").order_by("rank")
    assert [(r.rank, r.user_id, r.prize_loyalty) for r in results] == [
        (1, users[0].pk, 50),
        (2, users[1].pk, 50),
        (3, users[2].pk, 50),
        (4, users[3].pk, 0),
    ]
    assert prizes() == [
        (users[0].pk, "weekly_loyalty:2026-03-02:1", 50),
        (users[1].pk, "weekly_loyalty:2026-03-02:2", 50),
        (users[2].pk, "weekly_loyalty:2026-03-02:3", 50),
    ]
    assert all(r.prize_event_id for r in results[:3]) and results[3].prize_event_id is None
    users[3].state.refresh_from_db()
    assert users[3].state.loyalty == 5  # rank 4: no prize
    assert verify_ledger().ok


def test_finalize_when_done_then_webhook_once_and_prize_counts_for_the_new_week(catalog, time_machine):
    users = four_players(time_machine)
    move(time_machine, "2026-03-09T00:30:00Z")

    finalize_leaderboards()
    again = finalize_leaderboards()

    assert [d.created for d in again] == [False, False]  # weekly and monthly: nothing to do twice
    messages = [
        m
        for job in queued_jobs()
        for m in job["kwargs"].get("messages", [])
        if m["type"] == "leaderboard.finalized"
    ]
    weekly = [m for m in messages if m["data"]["board"] == "weekly_loyalty"]
    assert len(weekly) == 1
    assert weekly[0]["data"]["period_start"] == "2026-03-02"
    assert [(r["rank"], r["display_name"], r["prize_loyalty"]) for r in weekly[0]["data"]["results"]] == [
        (1, "Rank1", 50),
        (2, "Rank2", 50),
        (3, "Rank3", 50),
        (4, "Rank4", 0),
    ]
    assert "@" not in str(weekly[0])
    # A prize is earned loyalty of the week it is paid in.
    assert scores("weekly_loyalty") == {users[0].pk: 50, users[1].pk: 50, users[2].pk: 50}
    previous = client_for(users[0]).get(f"{API}/leaderboards/weekly_loyalty/", {"period": "previous"}).json()
    assert previous["period"]["finalized"] is True


def test_champion_when_winning_two_weeks_in_a_row_then_paid_once_per_week(catalog, time_machine):
    champion = UserFactory(display_name="Champ")
    move(time_machine, "2026-03-03T09:00:00Z")
    check_in(user=champion)
    move(time_machine, "2026-03-09T01:00:00Z")
    finalize_leaderboards()
    move(time_machine, "2026-03-10T09:00:00Z")
    check_in(user=champion)
    move(time_machine, "2026-03-16T01:00:00Z")
    finalize_leaderboards()
    finalize_leaderboards()

    assert prizes() == [
        (champion.pk, "weekly_loyalty:2026-03-02:1", 50),
        (champion.pk, "weekly_loyalty:2026-03-09:1", 50),
    ]
    champion.state.refresh_from_db()
    assert champion.state.loyalty == 5 + 5 + 50 + 50
    assert verify_ledger().ok


def test_command_when_run_then_reports_each_board_and_is_rerunnable(catalog, time_machine):
    four_players(time_machine)
    move(time_machine, "2026-04-01T00:30:00Z")
    out = StringIO()

    call_command("finalize_leaderboards", stdout=out)
    call_command("finalize_leaderboards", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        "monthly_checkins 2026-03-01: finalized, 4 results, 0 prizes",
        "weekly_loyalty 2026-03-23: finalized, 0 results, 0 prizes",
    ]
    assert lines[2:] == [
        "monthly_checkins 2026-03-01: already finalized",
        "weekly_loyalty 2026-03-23: already finalized",
    ]


def test_finalize_job_when_configured_then_periodic_on_the_worker(settings):
    jobs = {job["func"]: job for job in settings.ENGAGEMENT_PERIODIC_JOBS}
    assert jobs["leaderboards.services.finalize_leaderboards"]["every"] == "hourly"
