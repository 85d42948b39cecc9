"""leaderboards/, leaderboards/{slug}/, leaderboards/{slug}/me/."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from engagement.errors import LeaderboardNotFound, PeriodNotFound
from engagement.schema import THROTTLED, UNAUTHORIZED, VALIDATION, error_response
from leaderboards import rules, selectors
from leaderboards.api import serializers as s

NOT_FOUND = {404: error_response("Unknown or inactive leaderboard.", LeaderboardNotFound)}
PERIOD_NOT_FOUND = {
    404: error_response(
        "Unknown or inactive leaderboard, or the previous period of an all-time one.",
        LeaderboardNotFound,
        PeriodNotFound,
    )
}


def _today():
    return rules.utc_day(timezone.now())


class LeaderboardListView(APIView):
    @extend_schema(
        tags=["leaderboards"],
        responses={200: s.BoardSerializer(many=True), **UNAUTHORIZED, **THROTTLED},
        description="Every active leaderboard with the bounds of its current period.",
    )
    def get(self, request):
        today = _today()
        body = [
            s.board_data(board, selectors.period_of(board, which="current", today=today))
            for board in selectors.active_definitions()
        ]
        return Response(s.BoardSerializer(body, many=True).data)


class LeaderboardView(APIView):
    @extend_schema(
        tags=["leaderboards"],
        parameters=[s.StandingsQuerySerializer],
        responses={200: s.StandingsSerializer, **VALIDATION, **UNAUTHORIZED, **PERIOD_NOT_FOUND, **THROTTLED},
        description="A page of the current or previous period's standings, best first; hidden users out.",
    )
    def get(self, request, slug):
        # A plain dict: an empty value (?period=) is refused, not taken as the default.
        query = s.StandingsQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        board = selectors.get_board(slug)
        which, page = query.validated_data["period"], query.validated_data["page"]
        size = min(query.validated_data["page_size"], s.MAX_PAGE_SIZE)
        period = selectors.period_of(board, which=which, today=_today())
        rows = selectors.standings(board, period.start, offset=(page - 1) * size, limit=size + 1)
        url = request.build_absolute_uri()
        body = {
            "board": s.board_data(board, selectors.period_of(board, which="current", today=_today())),
            "period": {
                "which": which,
                "start": period.start,
                "starts_at": period.starts_at,
                "ends_at": period.ends_at,
                "finalized": selectors.is_finalized(board, period.start),
            },
            "results": s.standing_rows(rows[:size], request.user),
            "next": replace_query_param(url, "page", page + 1) if len(rows) > size else None,
            "previous": replace_query_param(url, "page", page - 1) if page > 1 else None,
        }
        return Response(s.StandingsSerializer(body).data)


class MyStandingView(APIView):
    @extend_schema(
        tags=["leaderboards"],
        responses={200: s.MyStandingSerializer, **UNAUTHORIZED, **NOT_FOUND, **THROTTLED},
        description="Your rank and score in the current period, with up to 5 neighbors above and below.",
    )
    def get(self, request, slug):
        board = selectors.get_board(slug)
        period = selectors.period_of(board, which="current", today=_today())
        mine = selectors.my_standing(board, period.start, request.user)
        body = {
            "rank": mine.rank,
            "score": mine.score,
            "neighbors": s.standing_rows(mine.neighbors, request.user),
        }
        return Response(s.MyStandingSerializer(body).data)
