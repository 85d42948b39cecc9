"""What a change adds to the daily rollup, as a pure function of its ledger events (no ORM, no clock)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from progression.models import EventKind


class Metric(StrEnum):
    """What a DailyCount row counts; `day` is the UTC day of the ledger timestamp unless noted."""

    ACTIVE_USERS = "active_users"  # users with at least one ledger event of their own that day
    CHECKINS = "checkins"  # check-ins, on their check-in day
    LOYALTY_EARNED = "loyalty_earned"  # sum of positive loyalty deltas
    LOYALTY_SPENT = "loyalty_spent"  # sum of negative loyalty deltas, as a positive number
    TOOL_ITEMS_BOUGHT = "tool_items_bought"  # subgroup: the tool's slug
    TOOL_ITEMS_USED = "tool_items_used"  # subgroup: the tool's slug
    # day: the cohort's registration day; subgroup "d1", "d7" or "d30": users who checked in
    # that many days after registering.
    RETAINED = "retained"
    # subgroup: the attempt's result; counted by whoever records a webhook delivery attempt
    # (analytics.services.count_webhook_delivery), not derived from the ledger.
    WEBHOOK_DELIVERIES = "webhook_deliveries"


# Metrics that rebuild_rollups recomputes from the ledger (every one but the webhook deliveries).
LEDGER_METRICS = tuple(m for m in Metric if m is not Metric.WEBHOOK_DELIVERIES)

# Rows per (metric, day, subgroup): concurrent changes of different users add to different rows,
# so a busy day's counter is never one row every check-in waits on. Readers sum the shards.
SHARDS = 32


# Ledger kinds that the system or an operator writes, not the user: they make no one active.
SYSTEM_KINDS = frozenset({EventKind.ADJUSTMENT, EventKind.LEADERBOARD_PRIZE})
# Retention is measured on these days after registration: (days, subgroup).
RETENTION_DAYS = ((1, "d1"), (7, "d7"), (30, "d30"))

CountKey = tuple[str, date, str]  # (metric, day, subgroup)


class LedgerEvent(Protocol):
    """The fields of a progression.StateEvent that the rollup reads."""

    id: int
    kind: str
    reference: str
    created_at: datetime
    last_checkin_day: date | None
    loyalty_delta: int
    inventory_count_delta: int


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def day_start(day: date) -> datetime:
    """The first instant of a UTC day."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def event_counts(events: Iterable[LedgerEvent]) -> Counter[CountKey]:
    """The counters every event adds, whatever came before it (activity and retention aside)."""
    counts: Counter[CountKey] = Counter()
    for event in events:
        day = utc_day(event.created_at)
        if event.kind == EventKind.CHECK_IN and event.last_checkin_day is not None:
            counts[(Metric.CHECKINS, event.last_checkin_day, "")] += 1
        if event.loyalty_delta > 0:
            counts[(Metric.LOYALTY_EARNED, day, "")] += event.loyalty_delta
        elif event.loyalty_delta < 0:
            counts[(Metric.LOYALTY_SPENT, day, "")] -= event.loyalty_delta
        if event.kind == EventKind.TOOL_PURCHASE and event.inventory_count_delta > 0:
            counts[(Metric.TOOL_ITEMS_BOUGHT, day, event.reference)] += event.inventory_count_delta
        elif event.kind == EventKind.TOOL_USE:
            counts[(Metric.TOOL_ITEMS_USED, day, event.reference)] += 1
    return counts


def activity_days(events: Iterable[LedgerEvent]) -> tuple[tuple[int, date] | None, tuple[date, ...]]:
    """The days a change makes its user active on.

    Returns (first, later): `first` is (id, day) of the change's first own event, which counts
    only when the user had no own event earlier that day (the caller asks the ledger); `later`
    are further days the change reaches (a change that runs past midnight), each of which
    counts, since nothing of the user's came before them on that day but this change.
    """
    own = sorted((e for e in events if e.kind not in SYSTEM_KINDS), key=lambda e: e.id)
    if not own:
        return None, ()
    first_day = utc_day(own[0].created_at)
    later = sorted({utc_day(e.created_at) for e in own} - {first_day})
    return (own[0].id, first_day), tuple(later)


def checkin_days(events: Iterable[LedgerEvent]) -> tuple[date, ...]:
    """The check-in days of a change's check-in events (retention counts on these)."""
    return tuple(e.last_checkin_day for e in events if e.kind == EventKind.CHECK_IN and e.last_checkin_day)


def retention_windows(checkin_day: date) -> tuple[tuple[date, str], ...]:
    """For a check-in on `checkin_day`: each registration day it would count for, with its subgroup."""
    return tuple((checkin_day - timedelta(days=days), label) for days, label in RETENTION_DAYS)


def shard_of(user_id: UUID | str) -> int:
    """The rollup shard of a user: stable, and even over random (uuid4) ids."""
    return UUID(str(user_id)).int % SHARDS
