"""Scrape-time metrics read from the daily rollup (listed in settings.ENGAGEMENT_METRICS_COLLECTORS)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Sum
from prometheus_client.metrics_core import CounterMetricFamily

from analytics.models import DailyCount
from analytics.rules import Metric
from engagement.metrics import WEBHOOK_DELIVERIES


def webhook_deliveries() -> Iterator[CounterMetricFamily]:
    """engagement_webhook_deliveries_total{result}: every delivery attempt counted so far.

    Read from the rollup, which the webhook worker adds to as it records each attempt, so the
    count is the whole system's whatever process, worker or host recorded it. Rollup rows are
    never purged, so it only grows, as a counter must. One index range scan.
    """
    family = CounterMetricFamily(
        WEBHOOK_DELIVERIES, "Webhook delivery attempts recorded, by result.", labels=["result"]
    )
    totals = (
        DailyCount.objects.filter(metric=Metric.WEBHOOK_DELIVERIES)
        .values_list("subgroup")
        .annotate(total=Sum("value"))
        .order_by("subgroup")
    )
    for result, total in totals:
        family.add_metric([result], total)
    yield family
