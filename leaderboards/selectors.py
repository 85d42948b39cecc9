"""Leaderboard reads: the active boards (cached in-process), periods, pages of standings, a user's rank."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from engagement.errors import LeaderboardNotFound, PeriodNotFound
from leaderboards import rules
from leaderboards.models import LeaderboardDefinition, LeaderboardEntry, LeaderboardFinalization

# How long a process trusts its copy of the active boards. Saving or deleting a definition
# forgets the copy at once in the process that did it; other processes see the change within
# this many seconds. A board deactivated or deleted meanwhile gets no scores: the consumer's
# statement joins the definitions table.
ACTIVE_BOARDS_TTL_SECONDS = 30.0

_boards_lock = threading.Lock()
_boards: dict[str, tuple[float, tuple[rules.Board, ...]]] = {}


def active_boards() -> tuple[rules.Board, ...]:
    """The active boards as the after-change consumer needs them; one query per TTL per process."""
    cached = _boards.get("active")
    now = time.monotonic()
    if cached is not None and now - cached[0] < ACTIVE_BOARDS_TTL_SECONDS:
        return cached[1]
    boards = tuple(
        rules.Board(slug=slug, metric=metric, period=period)
        for slug, metric, period in LeaderboardDefinition.objects.filter(is_active=True)
        .order_by("slug")
        .values_list("slug", "metric", "period")
    )
    with _boards_lock:
        _boards["active"] = (now, boards)
    return boards


def forget_active_boards() -> None:
    """Drop this process's copy of the active boards (a definition was saved or deleted)."""
    with _boards_lock:
        _boards.clear()


@dataclass(frozen=True)
class PeriodView:
    """One period of one board: its first day, its bounds as UTC instants, whether it is final."""

    which: str
    start: date
    starts_at: datetime | None
    ends_at: datetime | None


def current_start(board: LeaderboardDefinition, today: date) -> date:
    return rules.period_start(board.period, today)


def period_of(board: LeaderboardDefinition, *, which: str, today: date) -> PeriodView:
    """The current or previous period of `board` on `today` (400 for all_time's previous)."""
    start = current_start(board, today)
    if which == "previous":
        previous = rules.previous_start(board.period, start)
        if previous is None:
            raise PeriodNotFound()
        start = previous
    starts_at = None if board.period == rules.ALL_TIME else rules.instant(start)
    return PeriodView(
        which=which,
        start=start,
        starts_at=starts_at,
        ends_at=rules.instant(rules.next_start(board.period, start)),
    )


def active_definitions() -> QuerySet[LeaderboardDefinition]:
    return LeaderboardDefinition.objects.filter(is_active=True).order_by("slug")


def get_board(slug: str) -> LeaderboardDefinition:
    board = active_definitions().filter(slug=slug).first()
    if board is None:
        raise LeaderboardNotFound()
    return board


def is_finalized(board: LeaderboardDefinition, start: date) -> bool:
    return LeaderboardFinalization.objects.filter(board=board, period_start=start).exists()


@dataclass(frozen=True)
class Standing:
    """One row of a board as a user may see it: never an email."""

    rank: int
    user_id: Any
    display_name: str
    score: int
    reached_at: datetime


_ORDER = ("-score", "reached_at", "user_id")
_ROW_FIELDS = ("user_id", "score", "reached_at", "user__display_name")


def _visible(board: LeaderboardDefinition, start: date) -> QuerySet[LeaderboardEntry]:
    return LeaderboardEntry.objects.filter(board=board, period_start=start, visible=True)


def _standing(rank: int, row: dict) -> Standing:
    return Standing(
        rank=rank,
        user_id=row["user_id"],
        display_name=rules.display_name(row["user__display_name"], row["user_id"]),
        score=row["score"],
        reached_at=row["reached_at"],
    )


def standings(board: LeaderboardDefinition, start: date, *, offset: int, limit: int) -> list[Standing]:
    """Ranks offset+1 .. offset+limit of the period (visible users only), best first."""
    rows = _visible(board, start).order_by(*_ORDER).values(*_ROW_FIELDS)[offset : offset + limit]
    return [_standing(offset + index + 1, row) for index, row in enumerate(rows)]


def entry_of(board: LeaderboardDefinition, start: date, user) -> LeaderboardEntry | None:
    return LeaderboardEntry.objects.filter(board=board, period_start=start, user_id=user.pk).first()


def _rank_sql() -> str:
    table = connection.ops.quote_name(LeaderboardEntry._meta.db_table)
    scope = f"FROM {table} WHERE board_id = %s AND period_start = %s AND visible = %s"
    # Two ranges of the ranking index, each counted from the index alone (see README "Leaderboards").
    return (
        f"SELECT (SELECT COUNT(*) {scope} AND score > %s) + "
        f"(SELECT COUNT(*) {scope} AND score = %s AND (reached_at, user_id) < (%s, %s))"
    )


def rank_of(entry: LeaderboardEntry) -> int:
    """1 + the visible entries strictly ahead of `entry` (score desc, earlier reached_at, user id)."""
    from engagement.db import db_value

    scope = [entry.board_id, db_value(LeaderboardEntry, "period_start", entry.period_start), True]
    params = [
        *scope,
        entry.score,
        *scope,
        entry.score,
        db_value(LeaderboardEntry, "reached_at", entry.reached_at),
        db_value(LeaderboardEntry, "user", entry.user_id),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_rank_sql(), params)
        return 1 + int(cursor.fetchone()[0])


@dataclass(frozen=True)
class MyStanding:
    rank: int | None
    score: int | None
    neighbors: list[Standing]


def my_standing(board: LeaderboardDefinition, start: date, user, *, around: int = 5) -> MyStanding:
    """The user's rank and score with up to `around` visible rows above and below.

    A user without a score, or hidden from the boards, has rank null and no neighbors.
    """
    entry = entry_of(board, start, user)
    if entry is None:
        return MyStanding(rank=None, score=None, neighbors=[])
    if not entry.visible:
        return MyStanding(rank=None, score=entry.score, neighbors=[])
    from leaderboards import ranks

    rank = ranks.cached_rank(board.slug, start, entry.user_id) or rank_of(entry)
    s, r, u = entry.score, entry.reached_at, entry.user_id
    ahead = Q(score__gt=s) | Q(score=s, reached_at__lt=r) | Q(score=s, reached_at=r, user_id__lt=u)
    behind = Q(score__lt=s) | Q(score=s, reached_at__gt=r) | Q(score=s, reached_at=r, user_id__gt=u)
    # The redundant score bound makes each a short index range read from the user's position.
    above_rows = list(
        _visible(board, start)
        .filter(ahead, score__gte=s)
        .order_by("score", "-reached_at", "-user_id")
        .values(*_ROW_FIELDS)[:around]
    )
    below_rows = list(
        _visible(board, start).filter(behind, score__lte=s).order_by(*_ORDER).values(*_ROW_FIELDS)[:around]
    )
    me = {"user_id": u, "score": s, "reached_at": r, "user__display_name": user.display_name}
    neighbors = [_standing(rank - index - 1, row) for index, row in enumerate(above_rows)][::-1]
    neighbors.append(_standing(rank, me))
    neighbors += [_standing(rank + index + 1, row) for index, row in enumerate(below_rows)]
    return MyStanding(rank=rank, score=s, neighbors=neighbors)


def recount(board: LeaderboardDefinition, start: date) -> dict[Any, int]:
    """Every user's score in the period recounted from the ledger (tests and audits)."""
    from progression.models import StateEvent

    end = rules.next_start(board.period, start)
    events = StateEvent.objects.filter(created_at__gte=rules.instant(start)).order_by("user_id", "id")
    if end is not None:
        events = events.filter(created_at__lt=rules.instant(end))
    board_rule = rules.Board(slug=board.slug, metric=board.metric, period=board.period)
    by_user: dict[Any, list[rules.LedgerEvent]] = {}
    for user_id, kind, loyalty_delta, streak, streak_delta, created_at in events.values_list(
        "user_id", "kind", "loyalty_delta", "streak", "streak_delta", "created_at"
    ):
        event = rules.LedgerEvent(kind, loyalty_delta, streak, streak_delta, created_at)
        by_user.setdefault(user_id, []).append(event)
    scores: dict[Any, int] = {}
    for user_id, user_events in by_user.items():
        found = rules.contributions([board_rule], user_events)
        if found:
            scores[user_id] = found[0].score
    return scores


def visible_count(board: LeaderboardDefinition, start: date) -> int:
    return _visible(board, start).count()
