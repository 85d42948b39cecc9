"""Helpers for the leaderboard tests: clients minted at the current (moved) clock, scores, recounts."""

from __future__ import annotations

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from leaderboards import rules, selectors
from leaderboards.models import LeaderboardDefinition, LeaderboardEntry

API = "/api/v1"


def client_for(user) -> APIClient:
    """A Bearer client whose token is minted now, so it is valid after time travel."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def scores(slug: str, period_start=None) -> dict:
    """Every user's stored score on a board in one period (the current one by default)."""
    board = LeaderboardDefinition.objects.get(slug=slug)
    if period_start is None:
        from django.utils import timezone

        period_start = rules.period_start(board.period, rules.utc_day(timezone.now()))
    rows = LeaderboardEntry.objects.filter(board=board, period_start=period_start)
    return dict(rows.values_list("user_id", "score"))


def recounted(slug: str, period_start=None) -> dict:
    """The same scores recounted from the ledger alone."""
    board = LeaderboardDefinition.objects.get(slug=slug)
    if period_start is None:
        from django.utils import timezone

        period_start = rules.period_start(board.period, rules.utc_day(timezone.now()))
    return selectors.recount(board, period_start)


def assert_scores_match_ledger(*slugs: str) -> None:
    for slug in slugs or ("weekly_loyalty", "monthly_checkins", "best_streak"):
        assert scores(slug) == recounted(slug), slug
