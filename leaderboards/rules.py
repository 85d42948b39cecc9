"""Periods, score contributions and display names: pure functions, no ORM, no clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

WEEK = "week"
MONTH = "month"
ALL_TIME = "all_time"
LOYALTY_EARNED = "loyalty_earned"
CHECK_INS = "check_ins"
BEST_STREAK = "best_streak"

ALL_TIME_START = date(1970, 1, 1)  # the one period of an all_time board
EARNED_KINDS = frozenset({"check_in", "tool_use", "reward_claim", "leaderboard_prize"})
MAX_METRICS = frozenset({BEST_STREAK})  # the score is the highest value reached, not a sum


def period_start(period: str, day: date) -> date:
    """The first day of the period (UTC boundaries) that contains `day`."""
    if period == WEEK:
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if period == MONTH:
        return day.replace(day=1)
    if period == ALL_TIME:
        return ALL_TIME_START
    raise ValueError(f"unknown period {period!r}")


def next_start(period: str, start: date) -> date | None:
    """The first day of the period after the one starting on `start` (None: all_time never ends)."""
    if period == WEEK:
        return start + timedelta(days=7)
    if period == MONTH:
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    if period == ALL_TIME:
        return None
    raise ValueError(f"unknown period {period!r}")


def previous_start(period: str, start: date) -> date | None:
    """The first day of the period before the one starting on `start` (None for all_time)."""
    if period == WEEK:
        return start - timedelta(days=7)
    if period == MONTH:
        return (start - timedelta(days=1)).replace(day=1)
    if period == ALL_TIME:
        return None
    raise ValueError(f"unknown period {period!r}")


def instant(day: date | None) -> datetime | None:
    """Midnight UTC at the start of `day`."""
    return None if day is None else datetime.combine(day, time.min, tzinfo=UTC)


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


@dataclass(frozen=True)
class Board:
    """What the consumer needs of an active board definition."""

    slug: str
    metric: str
    period: str


@dataclass(frozen=True)
class LedgerEvent:
    """What a score needs of a ledger event."""

    kind: str
    loyalty_delta: int
    streak: int
    streak_delta: int
    created_at: datetime


@dataclass(frozen=True)
class Contribution:
    """What one change adds to one (board, period): a sum to add, or a value to keep if higher."""

    board: str
    period_start: date
    score: int
    reached_at: datetime


def event_value(metric: str, event: LedgerEvent) -> int:
    """What one ledger event is worth on a board of `metric` (0: nothing)."""
    if metric == LOYALTY_EARNED:
        return event.loyalty_delta if event.kind in EARNED_KINDS and event.loyalty_delta > 0 else 0
    if metric == CHECK_INS:
        return 1 if event.kind == "check_in" else 0
    if metric == BEST_STREAK:
        return event.streak if event.streak_delta > 0 else 0  # only a change that raised the streak
    raise ValueError(f"unknown metric {metric!r}")


def contributions(boards: Iterable[Board], events: Iterable[LedgerEvent]) -> list[Contribution]:
    """One change's contributions, one per (board, period) it touches, in (board, period) order.

    Sums add every event's value and were reached at the last event that added; a best value
    is the highest one, reached at the first event that reached it.
    """
    events = list(events)
    found: dict[tuple[str, date], Contribution] = {}
    for board in boards:
        best = board.metric in MAX_METRICS
        for event in events:
            value = event_value(board.metric, event)
            if value <= 0:
                continue
            key = (board.slug, period_start(board.period, utc_day(event.created_at)))
            seen = found.get(key)
            if seen is None or (best and value > seen.score):
                found[key] = Contribution(key[0], key[1], value, event.created_at)
            elif not best:
                found[key] = Contribution(key[0], key[1], seen.score + value, event.created_at)
    return [found[key] for key in sorted(found)]


def display_name(name: str, user_id: object) -> str:
    """The name a board shows: the display name, or "Player <first 6 hex of the id>"."""
    name = (name or "").strip()
    if name:
        return name
    return f"Player {str(user_id).replace('-', '')[:6]}"
