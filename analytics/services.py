"""Keeping the daily rollup: the after-change consumer, webhook delivery counts, the rebuild from the ledger.

Every change adds its counts with ONE statement, an INSERT ... ON CONFLICT DO UPDATE that
adds to the counters of the user's shard (analytics.rules.SHARDS), so concurrent changes of
different users rarely touch the same row. That statement also asks the two questions the
events alone cannot answer, each with one index probe:

- is this the user's first own event of the day (active users)? The previous own ledger
  event, by the (user, -id) index;
- is this check-in 1, 7 or 30 days after registration (retention)? The user's row, by its key.

It runs last in the pipeline, in the change's transaction: a change that rolls back adds
nothing, and the rows it touched stay locked only until the commit that follows.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from analytics import rules
from analytics.models import DailyCount
from analytics.rules import LEDGER_METRICS, SHARDS, SYSTEM_KINDS, CountKey, Metric
from engagement.db import db_value, write_later
from progression.changes import NOTHING, AfterChangeOutcome, ChangeResult
from progression.models import EventKind, StateEvent, UserState

_RESULT = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_COLUMNS = "metric, day, subgroup, shard, value"
_ROW = "SELECT %s AS metric, %s AS day, %s AS subgroup, %s AS shard, %s AS value"


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _count_arm(key: CountKey, shard: int, value: int) -> tuple[str, list[Any]]:
    metric, day, subgroup = key
    return _ROW, [str(metric), db_value(DailyCount, "day", day), subgroup, shard, value]


def _activity_arm(*, user_id, first_event_id: int, day: date, shard: int) -> tuple[str, list[Any]]:
    """+1 active user on `day`, unless the user's previous own event is from that day already."""
    sql = (
        f"{_ROW} WHERE NOT EXISTS (SELECT 1 FROM ("
        f"SELECT e.created_at FROM {_table(StateEvent)} e "
        f"WHERE e.user_id = %s AND e.id < %s AND e.kind NOT IN ({', '.join(['%s'] * len(SYSTEM_KINDS))}) "
        "ORDER BY e.id DESC LIMIT 1) AS previous WHERE previous.created_at >= %s)"
    )
    params = [
        str(Metric.ACTIVE_USERS),
        db_value(DailyCount, "day", day),
        "",
        shard,
        1,
        db_value(StateEvent, "user", user_id),
        first_event_id,
        *sorted(SYSTEM_KINDS),
        db_value(StateEvent, "created_at", rules.day_start(day)),
    ]
    return sql, params


def _retention_arm(*, user_id, checkin_day: date, shard: int) -> tuple[str, list[Any]]:
    """+1 retained user of the user's registration day when the check-in is 1, 7 or 30 days
    after it; no row otherwise. One lookup of the user's row by its key."""
    windows = rules.retention_windows(checkin_day)
    joined_sql, joined_params = connection.ops.datetime_cast_date_sql("u.date_joined", (), "UTC")
    labels = " ".join("WHEN %s THEN %s" for _ in windows)
    sql = (
        f"SELECT %s AS metric, j.day AS day, CASE j.day {labels} END AS subgroup, %s AS shard, %s AS value "
        f"FROM (SELECT {joined_sql} AS day FROM {_table(User)} u WHERE u.id = %s) AS j "
        f"WHERE j.day IN ({', '.join(['%s'] * len(windows))})"
    )
    days = [db_value(DailyCount, "day", day) for day, _ in windows]
    params: list[Any] = [str(Metric.RETAINED)]
    params += [p for day, (_, label) in zip(days, windows, strict=True) for p in (day, label)]
    params += [shard, 1, *joined_params, db_value(User, "id", user_id), *days]
    return sql, params


def _add(arms: Sequence[tuple[str, list[Any]]]) -> None:
    """Add every arm's rows to the rollup in one INSERT ... ON CONFLICT DO UPDATE.

    Rows are written in (metric, day, subgroup) order, so two transactions that add to the
    same shard lock its rows in the same order and wait for each other, never deadlock.
    """
    if not arms:
        return
    table = _table(DailyCount)
    union = " UNION ALL ".join(sql for sql, _ in arms)
    sql = (
        f"INSERT INTO {table} ({_COLUMNS}) SELECT {_COLUMNS} FROM ({union}) AS counts "
        "WHERE 1 = 1 ORDER BY metric, day, subgroup "  # WHERE: SQLite needs one before ON CONFLICT
        f"ON CONFLICT (metric, day, subgroup, shard) DO UPDATE SET value = {table}.value + excluded.value"
    )
    # Held back to the end of the change's pipeline (engagement.db.writes_together), sent with
    # the outbox job: nothing in the pipeline reads the rollup.
    write_later(sql, [p for _, params in arms for p in params])


def add_events(*, user_id, events: Sequence[rules.LedgerEvent]) -> None:
    """Add one change's ledger events (all of one user) to the rollup: one statement, or none.

    Requires the user's lock (the activity question reads the user's previous event).
    """
    shard = rules.shard_of(user_id)
    arms = [_count_arm(key, shard, value) for key, value in rules.event_counts(events).items() if value]
    first, later_days = rules.activity_days(events)
    if first is not None:
        first_id, day = first
        arms.append(_activity_arm(user_id=user_id, first_event_id=first_id, day=day, shard=shard))
    arms += [_count_arm((Metric.ACTIVE_USERS, day, ""), shard, 1) for day in later_days]
    arms += [
        _retention_arm(user_id=user_id, checkin_day=day, shard=shard) for day in rules.checkin_days(events)
    ]
    _add(arms)


def roll_up_after_change(*, state: UserState, change: ChangeResult) -> AfterChangeOutcome:
    """After-change consumer: the change's events into the daily rollup. Requires the lock.

    Keep it LAST in settings.ENGAGEMENT_AFTER_CHANGE: it must see every event the change wrote
    (auto-claims included), and the counter rows it updates stay locked until the commit.
    """
    add_events(user_id=state.user_id, events=change.events)
    return NOTHING


def count_webhook_delivery(*, result: str, at: datetime | None = None, count: int = 1) -> None:
    """Count `count` webhook delivery attempts by their result (e.g. "succeeded", "failed").

    The webhook worker calls it in the transaction that records the attempts: the overview's
    deliveries chart and the engagement_webhook_deliveries_total metric read these counts.
    """
    if not _RESULT.match(result):
        raise ValueError(f"a delivery result is a short lowercase slug, not {result!r}")
    if count < 1:
        return
    day = rules.utc_day(at or timezone.now())
    _add([_count_arm((Metric.WEBHOOK_DELIVERIES, day, result), secrets.randbelow(SHARDS), count)])


# --- Rebuild from the ledger -----------------------------------------------------------


def ledger_counts() -> Counter[CountKey]:
    """Every ledger-derived counter, computed from the ledger in three aggregate queries.

    What the after-change consumer has added up, change by change, must equal this.
    """
    counts: Counter[CountKey] = Counter()
    events = StateEvent.objects.order_by()
    by_day = (
        events.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            earned=Sum("loyalty_delta", filter=Q(loyalty_delta__gt=0)),
            spent=Sum("loyalty_delta", filter=Q(loyalty_delta__lt=0)),
            active=Count("user", distinct=True, filter=~Q(kind__in=SYSTEM_KINDS)),
        )
    )
    for row in by_day:
        counts[(Metric.LOYALTY_EARNED, row["day"], "")] += row["earned"] or 0
        counts[(Metric.LOYALTY_SPENT, row["day"], "")] -= row["spent"] or 0
        counts[(Metric.ACTIVE_USERS, row["day"], "")] += row["active"]
    tools = (
        events.filter(kind__in=[EventKind.TOOL_PURCHASE, EventKind.TOOL_USE])
        .annotate(day=TruncDate("created_at"))
        .values("day", "kind", "reference")
        .annotate(items=Sum("inventory_count_delta", filter=Q(inventory_count_delta__gt=0)), uses=Count("id"))
    )
    for tool in tools:
        if tool["kind"] == EventKind.TOOL_PURCHASE:
            counts[(Metric.TOOL_ITEMS_BOUGHT, tool["day"], tool["reference"])] += tool["items"] or 0
        else:
            counts[(Metric.TOOL_ITEMS_USED, tool["day"], tool["reference"])] += tool["uses"]
    checkins = (
        events.filter(kind=EventKind.CHECK_IN, last_checkin_day__isnull=False)
        .values("last_checkin_day", joined=TruncDate("user__date_joined"))
        .annotate(n=Count("id"))
    )
    for checkin in checkins:
        day, joined = checkin["last_checkin_day"], checkin["joined"]
        if day is None:
            continue
        counts[(Metric.CHECKINS, day, "")] += checkin["n"]
        for cohort_day, label in rules.retention_windows(day):
            if cohort_day == joined:
                counts[(Metric.RETAINED, cohort_day, label)] += checkin["n"]
    return +counts  # zero counters are no rows


def rollup_counts(metrics: Iterable[str] = LEDGER_METRICS) -> Counter[CountKey]:
    """The rollup's counters, summed over shards (what ledger_counts() must equal)."""
    rows = (
        DailyCount.objects.filter(metric__in=[str(m) for m in metrics])
        .values("metric", "day", "subgroup")
        .annotate(total=Sum("value"))
        .order_by()
    )
    return +Counter({(row["metric"], row["day"], row["subgroup"]): row["total"] for row in rows})


@dataclass(frozen=True)
class RebuildReport:
    counters: int  # ledger-derived counters the ledger has
    corrected: dict[str, int]  # counters that differed from the ledger and were set right, by metric


def compare_with_ledger() -> tuple[Counter[CountKey], Counter[CountKey]]:
    """(the ledger's counters, the rollup's), read in one snapshot; takes no lock.

    On PostgreSQL, one REPEATABLE READ, READ ONLY transaction without the statement timeout
    (reading a large ledger takes seconds); writers go on meanwhile.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if outermost:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SET LOCAL statement_timeout = 0")
        return ledger_counts(), rollup_counts()


def rebuild_rollups() -> RebuildReport:
    """Set every ledger-derived counter that differs from the ledger right; webhook counts are kept.

    Never stops the app's writers for the length of the ledger scan. The ledger and the rollup
    are read in one snapshot; each differing counter is then corrected by what it lacked in
    that snapshot: its rows (every shard) are locked, summed, and replaced by one row holding
    the sum plus the correction. Whatever changes committed after the snapshot added to those
    rows stays in the sum, so nothing is lost or counted twice, and a change committing
    meanwhile waits only for the few rows of the counter being corrected (locked in key order,
    as the consumer locks them, so never a deadlock). Each counter is its own transaction.
    """
    expected, stored = compare_with_ledger()
    corrections = {key: expected[key] - stored[key] for key in expected.keys() | stored.keys()}
    corrections = {key: delta for key, delta in corrections.items() if delta}
    for (metric, day, subgroup), delta in sorted(corrections.items()):
        with transaction.atomic():  # one counter at a time: its rows stay locked only briefly
            rows = DailyCount.objects.select_for_update().filter(metric=metric, day=day, subgroup=subgroup)
            total = sum(row.value for row in rows.order_by("shard")) + delta
            rows.delete()
            if total > 0:
                DailyCount.objects.create(metric=metric, day=day, subgroup=subgroup, shard=0, value=total)
    by_metric: Counter[str] = Counter(str(metric) for metric, _, _ in corrections)
    return RebuildReport(counters=len(expected), corrected=dict(sorted(by_metric.items())))
