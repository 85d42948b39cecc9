"""Leaderboard input (query parameters) and every leaderboard body: names, never emails."""

from __future__ import annotations

from rest_framework import serializers

from leaderboards import selectors
from leaderboards.models import LeaderboardDefinition

MAX_PAGE_SIZE = 100


class StandingsQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=["current", "previous"], default="current")
    page = serializers.IntegerField(
        min_value=1, max_value=1_000_000, default=1, help_text="Page number, from 1."
    )
    page_size = serializers.IntegerField(
        min_value=1,
        default=MAX_PAGE_SIZE,
        help_text=f"Results per page (default and cap {MAX_PAGE_SIZE}; larger values are capped).",
    )


class BoardSerializer(serializers.ModelSerializer):
    starts_at = serializers.DateTimeField(
        allow_null=True, help_text="Start of the current period (UTC); null for an all-time board."
    )
    ends_at = serializers.DateTimeField(
        allow_null=True,
        help_text="End of the current period, exclusive: the next one's start; null for all-time.",
    )

    class Meta:
        model = LeaderboardDefinition
        fields = ["slug", "title", "metric", "period", "prize_loyalty", "prize_ranks", "starts_at", "ends_at"]
        read_only_fields = fields


class PeriodSerializer(serializers.Serializer):
    which = serializers.ChoiceField(choices=["current", "previous"])
    start = serializers.DateField(help_text="First day of the period (UTC).")
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True, help_text="Exclusive; null for an all-time board.")
    finalized = serializers.BooleanField(help_text="The period's results and prizes are final.")


class StandingSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    display_name = serializers.CharField(help_text='The display name, or "Player <first 6 hex of the id>".')
    score = serializers.IntegerField()
    is_me = serializers.BooleanField()


class StandingsSerializer(serializers.Serializer):
    board = BoardSerializer()
    period = PeriodSerializer()
    results = StandingSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class MyStandingSerializer(serializers.Serializer):
    rank = serializers.IntegerField(allow_null=True, help_text="null: no score in this period, or hidden.")
    score = serializers.IntegerField(allow_null=True)
    neighbors = StandingSerializer(many=True, help_text="Up to 5 rows above and 5 below, yours included.")


def standing_rows(rows: list[selectors.Standing], me) -> list[dict]:
    return [
        {"rank": r.rank, "display_name": r.display_name, "score": r.score, "is_me": r.user_id == me.pk}
        for r in rows
    ]


def board_data(board: LeaderboardDefinition, period: selectors.PeriodView) -> dict:
    return {
        "slug": board.slug,
        "title": board.title,
        "metric": board.metric,
        "period": board.period,
        "prize_loyalty": board.prize_loyalty,
        "prize_ranks": board.prize_ranks,
        "starts_at": period.starts_at,
        "ends_at": period.ends_at,
    }
