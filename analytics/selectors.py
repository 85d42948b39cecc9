"""Reads behind the engagement overview: the rollup summed over shards, registrations, live streaks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta

from django.db.models import Case, Count, F, IntegerField, Sum, When
from django.db.models.functions import TruncDate

from accounts.models import User
from analytics import rules
from analytics.models import DailyCount
from analytics.rules import CountKey
from progression.models import UserState


def rollup_totals(*, metrics: Iterable[str], start: date, end: date) -> Counter[CountKey]:
    """{(metric, day, subgroup): total} for days start..end (one index range scan per metric)."""
    rows = (
        DailyCount.objects.filter(metric__in=[str(m) for m in metrics], day__gte=start, day__lte=end)
        .values("metric", "day", "subgroup")
        .annotate(total=Sum("value"))
        .order_by()
    )
    return Counter({(row["metric"], row["day"], row["subgroup"]): row["total"] for row in rows})


def registrations_by_day(*, start: date, end: date) -> Counter[date]:
    """Users who registered on each UTC day start..end."""
    rows = (
        User.objects.filter(
            date_joined__gte=rules.day_start(start), date_joined__lt=rules.day_start(end + timedelta(days=1))
        )
        .annotate(day=TruncDate("date_joined"))
        .values("day")
        .annotate(users=Count("*"))
        .order_by()
    )
    return Counter({row["day"]: row["users"] for row in rows})


def live_streaks(*, today: date) -> Counter[int]:
    """{streak length: users} over every user's state, counting a streak only while it is
    alive (last check-in today or yesterday); a lapsed streak counts as 0."""
    alive = Case(
        When(last_checkin_day__gte=today - timedelta(days=1), then=F("streak")),
        default=0,
        output_field=IntegerField(),
    )
    rows = UserState.objects.annotate(live=alive).values("live").annotate(users=Count("*")).order_by()
    return Counter({row["live"]: row["users"] for row in rows})
