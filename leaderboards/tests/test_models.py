"""The database refuses bad leaderboard rows even when the services are bypassed."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from leaderboards.models import LeaderboardDefinition, LeaderboardEntry, LeaderboardResult

pytestmark = pytest.mark.django_db

WEEK = date(2026, 3, 2)


def refused(constraint: str, create) -> None:
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        create()
    message = str(caught.value)
    # SQLite names a unique constraint by its columns only; PostgreSQL (CI) names it.
    assert constraint in message or (connection.vendor == "sqlite" and "UNIQUE constraint failed" in message)


def entry(board, user, **fields) -> LeaderboardEntry:
    values = {"board": board, "period_start": WEEK, "user": user, "score": 5, "reached_at": timezone.now()}
    return LeaderboardEntry.objects.create(**(values | fields))


def result(board, user, **fields) -> LeaderboardResult:
    values = {
        "board": board,
        "period_start": WEEK,
        "rank": 1,
        "user": user,
        "display_name": "x",
        "score": 5,
        "reached_at": timezone.now(),
    }
    return LeaderboardResult.objects.create(**(values | fields))


def test_entry_constraints_when_duplicate_or_negative_then_refused_and_valid_rows_kept(catalog, user):
    board = LeaderboardDefinition.objects.get(slug="weekly_loyalty")
    entry(board, user)

    refused("leaderboards_entry_one_per_user_period", lambda: entry(board, user))
    refused(
        "leaderboards_entry_score_nonneg", lambda: entry(board, user, period_start=date(2026, 3, 9), score=-1)
    )
    assert entry(board, user, period_start=date(2026, 3, 9), score=0).pk


def test_result_constraints_when_same_rank_or_user_twice_then_refused(catalog, user, django_user_model):
    board = LeaderboardDefinition.objects.get(slug="weekly_loyalty")
    other = django_user_model.objects.create_user(email="other@example.com", password=None)
    result(board, user)

    refused("leaderboards_result_rank_once", lambda: result(board, other))
    refused("leaderboards_result_user_once", lambda: result(board, user, rank=2))
    refused("leaderboards_result_rank_min", lambda: result(board, other, rank=0))
    assert result(board, other, rank=2).pk


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"prize_loyalty": -1}, "leaderboards_definition_prize_loyalty_range"),
        ({"prize_ranks": 101}, "leaderboards_definition_prize_ranks_range"),
        ({"period": "all_time", "prize_ranks": 1}, "leaderboards_definition_all_time_no_prize"),
    ],
)
def test_definition_constraints_when_out_of_range_then_refused(fields, constraint):
    values = {"slug": "b", "title": "B", "metric": "check_ins", "period": "week"} | fields
    refused(constraint, lambda: LeaderboardDefinition.objects.create(**values))
