"""Charts drawn on the server as SVG: lines, grouped bars and stacked bars, from an overview Chart.

No script runs in the page: the picture is plain markup the browser draws, so it needs nothing
from the network, nothing a Content-Security-Policy has to allow (colours come from classes in
analytics/static/analytics/overview.css, not inline styles), and it prints. Every mark carries
a <title> (the browser's tooltip), and the page prints the same numbers as a table beneath.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from analytics.overview import Chart, ChartKind

WIDTH, HEIGHT = 560, 230
LEFT, RIGHT, TOP, BOTTOM = 48, 10, 12, 30
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_LABELS = 8
TICKS = 4


def category_label(value) -> str:
    """How a category reads on the axis: "May 3" for a day, else the value itself (shortened)."""
    if isinstance(value, date):
        return f"{value:%b} {value.day}"
    text = str(value)
    return text if len(text) <= 14 else text[:13] + "…"


NOT_MEASURABLE = "\N{EN DASH}"


def value_text(value, unit: str = "") -> str:
    """A value as the table and the tooltips print it (NOT_MEASURABLE for None)."""
    if value is None:
        return NOT_MEASURABLE
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


def nice_ceiling(value: float) -> tuple[float, float]:
    """(top, step): the axis top at or above `value`, in TICKS equal steps of a round whole number."""
    if value <= 0:
        return float(TICKS), 1.0
    raw = value / TICKS
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * magnitude >= raw)
    step = max(1.0, float(math.ceil(step)))  # counts: whole numbers on the axis
    return step * TICKS, step


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _tick_text(value: float, unit: str) -> str:
    if value >= 10_000:
        return f"{_number(value / 1000)}k{unit}"
    return f"{_number(value)}{unit}"


def render(chart: Chart, *, labelled_by: str = "", described_by: str = "") -> SafeString:
    """The chart as an <svg> element (role="img", labelled by the given element ids)."""
    drawn = chart.drawn
    values = [[row[i] for i in drawn] for row in chart.rows]
    if chart.unit == "%":
        top, step = 100.0, 25.0
    else:
        peaks = [
            sum(v or 0 for v in row)
            if chart.kind == ChartKind.STACKED
            else max((v or 0 for v in row), default=0)
            for row in values
        ]
        top, step = nice_ceiling(max(peaks, default=0))

    parts: list[str] = []
    aria = ""
    if labelled_by:
        aria += f' aria-labelledby="{escape(labelled_by)}"'
    if described_by:
        aria += f' aria-describedby="{escape(described_by)}"'
    parts.append(
        f'<svg class="chart chart-{chart.kind}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"{aria} '
        'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">'
    )
    parts += _y_axis(top, step, chart.unit)
    parts += _x_axis(chart.rows)

    has_data = any(v for row in values for v in row)
    if not has_data:
        parts.append(
            f'<text class="empty" x="{LEFT + PLOT_W / 2}" y="{TOP + PLOT_H / 2}" text-anchor="middle">'
            "No data in this period</text>"
        )
    elif chart.kind == ChartKind.LINE:
        parts += _lines(chart, values, top)
    elif chart.kind == ChartKind.STACKED:
        parts += _stacked(chart, values, top)
    else:
        parts += _bars(chart, values, top)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text in it went through escape()


def _y(value: float, top: float) -> float:
    return round(TOP + PLOT_H - PLOT_H * (value / top), 1)


def _band(index: int, count: int) -> tuple[float, float]:
    """(left edge, width) of category `index`'s band on the x axis."""
    width = PLOT_W / max(count, 1)
    return LEFT + index * width, width


def _y_axis(top: float, step: float, unit: str) -> list[str]:
    parts = []
    for n in range(TICKS + 1):
        value = step * n
        y = _y(value, top)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y}" y2="{y}"/>')
        label = escape(_tick_text(value, unit))
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{label}</text>')
    return parts


def _x_axis(rows: Sequence[tuple]) -> list[str]:
    parts = [f'<line class="axis" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{TOP + PLOT_H}" y2="{TOP + PLOT_H}"/>']
    every = max(1, math.ceil(len(rows) / MAX_X_LABELS))
    for i, row in enumerate(rows):
        if i % every:
            continue
        left, width = _band(i, len(rows))
        parts.append(
            f'<text class="tick" x="{round(left + width / 2, 1)}" y="{TOP + PLOT_H + 17}" '
            f'text-anchor="middle">{escape(category_label(row[0]))}</text>'
        )
    return parts


def _tooltip(chart: Chart, row: tuple, column: int) -> str:
    category = row[0].isoformat() if isinstance(row[0], date) else str(row[0])
    return escape(f"{category}, {chart.columns[column]}: {value_text(row[column], chart.unit)}")


def _lines(chart: Chart, values: list[list], top: float) -> list[str]:
    parts = []
    for s, column in enumerate(chart.drawn):
        points = []
        marks = []
        for i, row in enumerate(chart.rows):
            value = values[i][s]
            if value is None:
                continue
            left, width = _band(i, len(chart.rows))
            x, y = round(left + width / 2, 1), _y(value, top)
            points.append(f"{x},{y}")
            tooltip = _tooltip(chart, row, column)
            marks.append(f'<circle class="point" cx="{x}" cy="{y}" r="3"><title>{tooltip}</title></circle>')
        parts.append(f'<g class="series series-{s}">')
        if len(points) > 1:
            parts.append(f'<polyline class="line" points="{" ".join(points)}"/>')
        parts += marks
        parts.append("</g>")
    return parts


def _bars(chart: Chart, values: list[list], top: float) -> list[str]:
    count = len(chart.drawn)
    groups: list[list[str]] = [[] for _ in range(count)]
    for i, row in enumerate(chart.rows):
        left, width = _band(i, len(chart.rows))
        inner = width * 0.8
        bar = inner / count
        for s, column in enumerate(chart.drawn):
            value = values[i][s]
            if not value:
                continue
            x = round(left + width * 0.1 + s * bar, 1)
            y = _y(value, top)
            groups[s].append(
                f'<rect class="bar" x="{x}" y="{y}" width="{round(max(bar - 1, 1), 1)}" '
                f'height="{round(TOP + PLOT_H - y, 1)}"><title>{_tooltip(chart, row, column)}</title></rect>'
            )
    return [f'<g class="series series-{s}">{"".join(marks)}</g>' for s, marks in enumerate(groups)]


def _stacked(chart: Chart, values: list[list], top: float) -> list[str]:
    count = len(chart.drawn)
    groups: list[list[str]] = [[] for _ in range(count)]
    for i, row in enumerate(chart.rows):
        left, width = _band(i, len(chart.rows))
        base = 0.0
        for s, column in enumerate(chart.drawn):
            value = values[i][s]
            if not value:
                continue
            y_top, y_base = _y(base + value, top), _y(base, top)
            groups[s].append(
                f'<rect class="bar" x="{round(left + width * 0.15, 1)}" y="{y_top}" '
                f'width="{round(max(width * 0.7, 1), 1)}" height="{round(y_base - y_top, 1)}">'
                f"<title>{_tooltip(chart, row, column)}</title></rect>"
            )
            base += value
    return [f'<g class="series series-{s}">{"".join(marks)}</g>' for s, marks in enumerate(groups)]
