"""The admin's "Engagement overview" page (staff only: the admin site wraps it in admin_view)."""

from __future__ import annotations

import time

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from analytics import svg
from analytics.forms import PeriodForm
from analytics.overview import Chart, build_charts


def _table_rows(chart: Chart) -> list[tuple[str, list[str]]]:
    """Each row as the table prints it: the category, then every value column."""
    return [
        (
            row[0].isoformat() if hasattr(row[0], "isoformat") else str(row[0]),
            [
                svg.value_text(value, chart.unit if i in chart.drawn else "")
                for i, value in enumerate(row)
                if i
            ],
        )
        for row in chart.rows
    ]


def overview(request: HttpRequest, *, site: admin.AdminSite) -> HttpResponse:
    today = timezone.now().date()
    form = PeriodForm(request.GET or None, today=today)
    period = None
    if not request.GET:
        period = PeriodForm.default_period(today)
    elif form.is_valid():
        period = form.period()
    charts = []
    elapsed_ms = None
    if period is not None:
        started = time.perf_counter()
        for chart in build_charts(period):
            title_id, description_id = f"chart-{chart.slug}-title", f"chart-{chart.slug}-description"
            charts.append(
                {
                    "chart": chart,
                    "title_id": title_id,
                    "description_id": description_id,
                    "legend": [chart.columns[i] for i in chart.drawn],
                    "svg": svg.render(chart, labelled_by=title_id, described_by=description_id),
                    "rows": _table_rows(chart),
                }
            )
        elapsed_ms = round((time.perf_counter() - started) * 1000)
    context = {
        **site.each_context(request),
        "title": "Engagement overview",
        "form": form,
        "period": period,
        "charts": charts,
        "elapsed_ms": elapsed_ms,
    }
    return TemplateResponse(
        request, "admin/analytics/overview.html", context, status=200 if period is not None else 400
    )
