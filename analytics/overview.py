"""The charts of the admin's engagement overview: small providers, one per chart, listed in settings.

settings.ENGAGEMENT_OVERVIEW_CHARTS names the providers in page order (read it like
MIDDLEWARE). A provider is called as `provider(period=<Period>)` and returns a Chart: its
title, what it counts, how it is drawn, and its numbers as columns and rows. The page draws
each chart (analytics.svg) and prints the same rows as a table beneath it, so the picture and
the numbers come from one place. A provider reads indexes or the daily rollup, never the
whole ledger: the page must stay fast at millions of events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from analytics import selectors
from analytics.rules import RETENTION_DAYS, Metric
from engagement.imports import ImportedList
from inventory.models import ToolDefinition

Value = int | float | None  # None: not measurable (yet)


class ChartKind(StrEnum):
    LINE = "line"  # one line per series over the categories (days)
    BARS = "bars"  # grouped bars, one per series in each category
    STACKED = "stacked"  # one bar per category, the series stacked


@dataclass(frozen=True)
class Period:
    """The days an overview covers, start..end inclusive (UTC days), and the day it is seen on."""

    start: date
    end: date
    today: date
    # Reads that several charts share, made once per page (see registrations_by_day()).
    shared: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def weeks(self) -> tuple[date, date]:
        """(Monday of the first week, last day up to today of the last week) the period touches."""
        first = self.start - timedelta(days=self.start.weekday())
        last_week = self.end - timedelta(days=self.end.weekday())
        return first, min(last_week + timedelta(days=6), self.today)


@dataclass(frozen=True)
class Chart:
    """One chart and its table. `columns[0]` names the categories (rows[i][0]); the other
    columns are values, drawn when listed in `series` (all of them by default)."""

    slug: str
    title: str
    description: str
    kind: ChartKind
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]
    unit: str = ""  # "%" for percentages (drawn on a 0..100 scale)
    series: tuple[int, ...] = field(default=())

    @property
    def drawn(self) -> tuple[int, ...]:
        """Indexes (into a row) of the value columns the chart draws."""
        return self.series or tuple(range(1, len(self.columns)))


ChartProvider = Callable[..., Chart]


# The providers named by settings.ENGAGEMENT_OVERVIEW_CHARTS, in page order.
chart_providers: ImportedList[ChartProvider] = ImportedList("ENGAGEMENT_OVERVIEW_CHARTS")


def build_charts(period: Period) -> list[Chart]:
    return [provider(period=period) for provider in chart_providers()]


def daily_chart(
    *,
    slug: str,
    title: str,
    description: str,
    kind: ChartKind,
    period: Period,
    series: Sequence[tuple[str, dict]],
) -> Chart:
    """A chart with one row per day of the period; `series` is [(column title, {day: value})]."""
    return Chart(
        slug=slug,
        title=title,
        description=description,
        kind=kind,
        columns=("Day", *(name for name, _ in series)),
        rows=tuple((day, *(values.get(day, 0) for _, values in series)) for day in period.days),
    )


def registrations_by_day(period: Period) -> dict[date, int]:
    """Registrations on every day of the period's weeks: one pass over the users, shared by the
    registrations and retention charts."""
    if "registrations" not in period.shared:
        first, last = period.weeks
        period.shared["registrations"] = selectors.registrations_by_day(start=first, end=last)
    return period.shared["registrations"]


def _by_day(totals, metric: str, subgroup: str = "") -> dict[date, int]:
    return {day: value for (m, day, sub), value in totals.items() if m == metric and sub == subgroup}


# --- The providers -------------------------------------------------------------------------


def _lines_of_metrics(
    *, period: Period, slug: str, title: str, description: str, lines: dict[str, str]
) -> Chart:
    """A line chart with one line per rollup metric: `lines` maps each line's label to its metric."""
    totals = selectors.rollup_totals(metrics=list(lines.values()), start=period.start, end=period.end)
    return daily_chart(
        slug=slug,
        title=title,
        description=description,
        kind=ChartKind.LINE,
        period=period,
        series=[(label, _by_day(totals, metric)) for label, metric in lines.items()],
    )


def daily_activity(*, period: Period) -> Chart:
    return _lines_of_metrics(
        period=period,
        slug="activity",
        title="Daily active users and check-ins",
        description=(
            "Active users: users with at least one state change of their own that day (operator "
            "adjustments and prizes do not count). Check-ins: on their check-in day."
        ),
        lines={"Active users": Metric.ACTIVE_USERS, "Check-ins": Metric.CHECKINS},
    )


def registrations(*, period: Period) -> Chart:
    return daily_chart(
        slug="registrations",
        title="Registrations per day",
        description="New accounts, by the UTC day they were created.",
        kind=ChartKind.BARS,
        period=period,
        series=[("Registrations", registrations_by_day(period))],
    )


def retention(*, period: Period) -> Chart:
    """D1/D7/D30 retention of each registration week that overlaps the period."""
    first_week, last_day = period.weeks  # whole weeks, up to today
    joined = registrations_by_day(period)
    retained = selectors.rollup_totals(metrics=[Metric.RETAINED], start=first_week, end=last_day)
    rows = []
    week = first_week
    while week <= period.end:
        days = [week + timedelta(days=n) for n in range(7)]
        row: list = [week, sum(joined.get(day, 0) for day in days)]
        for offset, label in RETENTION_DAYS:
            # Only users whose day N has come can have come back on it.
            eligible = sum(joined.get(day, 0) for day in days if day + timedelta(days=offset) <= period.today)
            back = sum(retained.get((Metric.RETAINED, day, label), 0) for day in days)
            row.append(round(100 * back / eligible, 1) if eligible else None)
        rows.append(tuple(row))
        week += timedelta(days=7)
    return Chart(
        slug="retention",
        title="Retention by registration week",
        description=(
            "Share of each week's new users who checked in 1, 7 and 30 days after the day they "
            "registered; a dash until that day has come for someone in the cohort."
        ),
        kind=ChartKind.BARS,
        columns=("Week of", "Users", *(label.upper() for _, label in RETENTION_DAYS)),
        rows=tuple(rows),
        unit="%",
        series=tuple(range(2, 2 + len(RETENTION_DAYS))),
    )


# Streak lengths grouped for the distribution: (label, lowest, highest or None).
STREAK_BUCKETS = (
    ("0", 0, 0),
    ("1", 1, 1),
    ("2", 2, 2),
    ("3-6", 3, 6),
    ("7-13", 7, 13),
    ("14-29", 14, 29),
    ("30-99", 30, 99),
    ("100+", 100, None),
)


def streaks(*, period: Period) -> Chart:
    lengths = selectors.live_streaks(today=period.today)
    rows = []
    for label, low, high in STREAK_BUCKETS:
        users = sum(n for length, n in lengths.items() if length >= low and (high is None or length <= high))
        rows.append((label, users))
    return Chart(
        slug="streaks",
        title="Streak lengths today",
        description=(
            "Users by current streak; a streak whose last check-in is older than yesterday counts "
            "as 0. Today, whatever the period."
        ),
        kind=ChartKind.BARS,
        columns=("Streak (days)", "Users"),
        rows=tuple(rows),
    )


def loyalty(*, period: Period) -> Chart:
    return _lines_of_metrics(
        period=period,
        slug="loyalty",
        title="Loyalty earned and spent per day",
        description=(
            "Earned: every gain of loyalty (check-ins, tools, rewards, prizes, operator grants). "
            "Spent: every loss (purchases, repairs, operator deductions)."
        ),
        lines={"Earned": Metric.LOYALTY_EARNED, "Spent": Metric.LOYALTY_SPENT},
    )


def tools(*, period: Period) -> Chart:
    totals = selectors.rollup_totals(
        metrics=[Metric.TOOL_ITEMS_BOUGHT, Metric.TOOL_ITEMS_USED], start=period.start, end=period.end
    )
    bought: dict[str, int] = {}
    used: dict[str, int] = {}
    for (metric, _, slug), value in totals.items():
        target = bought if metric == Metric.TOOL_ITEMS_BOUGHT else used
        target[slug] = target.get(slug, 0) + value
    slugs = sorted(set(ToolDefinition.objects.values_list("slug", flat=True)) | set(bought) | set(used))
    return Chart(
        slug="tools",
        title="Purchases and uses per tool",
        description="Items bought and items used in the period, per tool.",
        kind=ChartKind.BARS,
        columns=("Tool", "Bought", "Used"),
        rows=tuple((slug, bought.get(slug, 0), used.get(slug, 0)) for slug in slugs),
    )


def webhook_deliveries(*, period: Period) -> Chart:
    totals = selectors.rollup_totals(metrics=[Metric.WEBHOOK_DELIVERIES], start=period.start, end=period.end)
    results = sorted({subgroup for _, _, subgroup in totals}) or ["succeeded", "retrying", "failed"]
    return daily_chart(
        slug="webhooks",
        title="Webhook deliveries by status",
        description="Delivery attempts per day, by the status each ended in (counted by the webhook worker).",
        kind=ChartKind.STACKED,
        period=period,
        series=[
            (result.replace("_", " ").capitalize(), _by_day(totals, Metric.WEBHOOK_DELIVERIES, result))
            for result in results
        ],
    )
