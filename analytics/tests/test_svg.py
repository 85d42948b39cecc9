"""The server-drawn charts: one mark per value, tooltips, escaping, the axis scale, empty charts."""

from __future__ import annotations

import re
from datetime import date, timedelta
from xml.etree import ElementTree

import pytest

from analytics import svg
from analytics.overview import Chart, ChartKind

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [date(2030, 3, 1) + timedelta(days=n) for n in range(5)]


def chart(kind, rows, columns=("Day", "A", "B"), **extra):
    return Chart(slug="c", title="T", description="D", kind=kind, columns=columns, rows=tuple(rows), **extra)


def parse(markup: str) -> ElementTree.Element:
    return ElementTree.fromstring(markup)


def marks(root, tag):
    return [m for m in root.iter(f"{SVG}{tag}")]


def test_render_when_line_chart_then_one_point_per_value_and_one_line_per_series():
    root = parse(svg.render(chart(ChartKind.LINE, [(d, n, 2 * n) for n, d in enumerate(DAYS)])))
    assert root.get("role") == "img"
    assert len(marks(root, "circle")) == 10
    assert len(marks(root, "polyline")) == 2
    tooltips = [m.find(f"{SVG}title").text for m in marks(root, "circle")]
    assert "2030-03-04, B: 6" in tooltips


def test_render_when_bars_then_zero_values_draw_nothing_and_heights_follow_values():
    root = parse(svg.render(chart(ChartKind.BARS, [("coffee", 4, 0), ("rest", 2, 1)])))
    bars = marks(root, "rect")
    assert len(bars) == 3
    heights = {b.find(f"{SVG}title").text: float(b.get("height")) for b in bars}
    assert heights["coffee, A: 4"] == pytest.approx(2 * heights["rest, A: 2"], abs=0.2)
    assert heights["rest, A: 2"] == pytest.approx(2 * heights["rest, B: 1"], abs=0.2)


def test_render_when_stacked_then_bars_of_a_category_touch():
    root = parse(svg.render(chart(ChartKind.STACKED, [(DAYS[0], 3, 1)])))
    lower, upper = sorted(marks(root, "rect"), key=lambda b: -float(b.get("y")))
    assert float(upper.get("y")) + float(upper.get("height")) == pytest.approx(float(lower.get("y")), abs=0.2)


def test_render_when_percent_unit_then_axis_to_100_and_missing_values_skipped():
    rows = [("2030-W09", 10, 50.0, None), ("2030-W10", 4, 25.0, 12.5)]
    root = parse(
        svg.render(chart(ChartKind.BARS, rows, ("Week", "Users", "D1", "D7"), unit="%", series=(2, 3)))
    )
    assert len(marks(root, "rect")) == 3  # the users column is not drawn; None draws nothing
    ticks = [t.text for t in marks(root, "text") if t.get("class") == "tick"]
    assert "100%" in ticks
    assert "2030-W10, D7: 12.5%" in [b.find(f"{SVG}title").text for b in marks(root, "rect")]


def test_render_when_every_value_zero_then_says_no_data():
    root = parse(svg.render(chart(ChartKind.LINE, [(d, 0, 0) for d in DAYS])))
    assert marks(root, "circle") == []
    assert [t.text for t in marks(root, "text") if t.get("class") == "empty"] == ["No data in this period"]


def test_render_when_labels_hold_markup_then_escaped():
    markup = svg.render(chart(ChartKind.BARS, [("<script>alert(1)</script>", 1, 1)], ("Tool", "A&B", "C")))
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
    parse(markup)  # still well-formed XML


def test_render_when_many_days_then_at_most_eight_axis_labels():
    rows = [(date(2030, 1, 1) + timedelta(days=n), n, n) for n in range(366)]
    root = parse(svg.render(chart(ChartKind.LINE, rows)))
    day_labels = [t for t in marks(root, "text") if re.match(r"^[A-Z][a-z]{2} \d+$", t.text or "")]
    assert 1 < len(day_labels) <= svg.MAX_X_LABELS


@pytest.mark.parametrize(
    ("peak", "top"), [(0, 4), (1, 4), (3, 4), (5, 8), (10, 12), (123, 160), (999, 1000), (40_000, 40_000)]
)
def test_nice_ceiling_when_peak_then_whole_round_steps_at_or_above_it(peak, top):
    axis_top, step = svg.nice_ceiling(peak)
    assert axis_top == top
    assert axis_top >= peak
    assert step == axis_top / svg.TICKS
    assert step == int(step)
