"""The one chart approach: inline SVG drawn here on the server (no JavaScript, nothing for the CSP to
allow). Every chart carries a <title> and <desc>, writes its numbers as text, tells series apart by line
pattern and marker as well as colour, and keeps its data as a table for the "show as table" toggle and
the CSV download."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 130, 28, 40
# Colour-blind safe (Okabe–Ito), each with its own dash pattern and marker.
SERIES_STYLES = [("#0072b2", "", "circle"), ("#d55e00", "6 4", "square"), ("#009e73", "2 3", "diamond")]
BAR_COLOUR = "#0b5cad"


@dataclass
class Chart:
    slug: str
    title: str
    description: str
    columns: list[str]
    rows: list[list[object]]
    svg: SafeString = field(default_factory=lambda: mark_safe(""))  # noqa: S308 - empty string

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    whole = float(value).is_integer() or abs(value) >= 100
    return number_format(value, 0 if whole else 1)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def _frame(slug: str, title: str, description: str, body: list[str], height: int = HEIGHT) -> SafeString:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{slug}-title {slug}-desc" font-family="system-ui, sans-serif" font-size="12">'
        f'<title id="{slug}-title">{escape(title)}</title><desc id="{slug}-desc">{escape(description)}</desc>'
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 - every text above is escaped


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "square":
        return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}"/>'
    if shape == "diamond":
        return f'<path d="M{x:.1f} {y - 5:.1f}l5 5l-5 5l-5-5z" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'


def line_chart(
    chart: Chart, x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], y_label: str
) -> Chart:
    """Lines over the x labels; gaps (None) break a line. The last value of each series is written out."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_max(max([v for _n, values in series for v in values if v is not None] or [0]))
    n = max(len(x_labels), 2)

    def x(i: int) -> float:
        return LEFT + plot_w * i / (n - 1)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    body = [f'<text x="{LEFT}" y="{TOP - 12}" fill="#59636e">{escape(y_label)}</text>']
    for tick in range(5):
        value = top * tick / 4
        body.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#dde1e6"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{_fmt(value)}</text>'
        )
    step = max(1, len(x_labels) // 6)
    for i, label in enumerate(x_labels):
        if i % step == 0:
            body.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{escape(label)}</text>'
            )
    for index, (name, values) in enumerate(series):
        colour, dash, shape = SERIES_STYLES[index % len(SERIES_STYLES)]
        segments: list[list[str]] = [[]]
        for i, v in enumerate(values):
            if v is None:
                segments.append([])
            else:
                segments[-1].append(f"{x(i):.1f},{y(v):.1f}")
        for points in segments:
            if len(points) > 1:
                body.append(
                    f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"'
                    + (f' stroke-dasharray="{dash}"' if dash else "")
                    + "/>"
                )
        last = next(((i, v) for i, v in reversed(list(enumerate(values))) if v is not None), None)
        if last is not None:
            body.append(_marker(shape, x(last[0]), y(last[1]), colour))
            body.append(
                f'<text x="{x(last[0]) + 8:.1f}" y="{y(last[1]) + 4 + 14 * index:.1f}" fill="#1b1f24">'
                f"{escape(name)}: {_fmt(last[1])}</text>"
            )
    chart.svg = _frame(chart.slug, chart.title, chart.description, body)
    return chart


def bar_chart(chart: Chart, bars: Sequence[tuple[str, float | None]], unit: str) -> Chart:
    """Horizontal bars, one per label, each with its value written at its end."""
    row_h = 26
    height = TOP + row_h * max(len(bars), 1) + 24
    label_w = 330
    plot_w = WIDTH - label_w - 90
    top = _nice_max(max([v for _l, v in bars if v is not None] or [0]))
    body = []
    for i, (label, value) in enumerate(bars):
        y = TOP + i * row_h
        short = label if len(label) <= 46 else label[:45] + "…"
        body.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{escape(short)}</text>')
        width = 0 if value is None else plot_w * value / top
        body.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{width:.1f}" height="{row_h - 8}" fill="{BAR_COLOUR}"/>'
        )
        body.append(f'<text x="{label_w + width + 6:.1f}" y="{y + 16}">{_fmt(value)} {escape(unit)}</text>')
    chart.svg = _frame(chart.slug, chart.title, chart.description, body, height)
    return chart
