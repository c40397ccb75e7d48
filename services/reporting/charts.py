"""Charts drawn on the server as SVG (pure): they read without JavaScript, print sharply, and each
carries its text alternative.

A chart is a horizontal bar chart: one bar per category with its label on the left and its value
at the bar's end, in bokmål number format (decimal comma, a space between thousands). The SVG has
`role="img"` and is labelled by its own `<title>` and `<desc>`; the `<desc>` says every figure in
words, so a screen reader (or a printout without colour) loses nothing. The page also shows the
same figures in a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

WIDTH = 640
ROW = 26
LABEL_WIDTH = 250
VALUE_WIDTH = 90
TOP = 8
COLOURS = ("#1f5f8b", "#8fb8d8")
"""Bars of the year, and of the year before when two series are drawn (dark and light: they part
in greyscale print too)."""


def number(value: float | None, decimals: int = 0) -> str:
    """`1 234,5`: bokmål's decimal comma and a (no-break) space between thousands; an en dash for none."""
    if value is None:
        return "\u2013"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u00a0").replace(".", ",")


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]


def bar_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str = "",
    decimals: int = 0,
) -> str:
    """An SVG bar chart: a bar per category and series (at most two series)."""
    assert 1 <= len(series) <= len(COLOURS)
    finite = [v for s in series for v in s.values if v is not None]
    top = max([*finite, 0.0])
    bottom = min([*finite, 0.0])
    span = (top - bottom) or 1.0
    plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    per_category = ROW * len(series) + 6
    legend = 22 if len(series) > 1 else 0
    height = TOP + legend + per_category * len(categories) + 8
    zero = LABEL_WIDTH + plot * (0 - bottom) / span
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'font-family="sans-serif" font-size="13">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(describe(title, categories, series, unit, decimals))}</desc>',
    ]
    if legend:
        x = LABEL_WIDTH
        for s, colour in zip(series, COLOURS, strict=False):
            parts.append(f'<rect x="{x}" y="{TOP}" width="12" height="12" fill="{colour}"/>')
            parts.append(f'<text x="{x + 16}" y="{TOP + 11}">{escape(s.label)}</text>')
            x += 24 + 8 * len(s.label)
    y = TOP + legend
    for i, category in enumerate(categories):
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + ROW * len(series) / 2 + 4:.1f}" text-anchor="end">'
            f"{escape(_short(category))}</text>"
        )
        for s, colour in zip(series, COLOURS, strict=False):
            value = s.values[i]
            if value is None:
                parts.append(f'<text x="{zero + 4:.1f}" y="{y + ROW - 9}" fill="#555">mangler</text>')
            else:
                end = LABEL_WIDTH + plot * (value - bottom) / span
                left, w = min(zero, end), abs(end - zero)
                parts.append(
                    f'<rect x="{left:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" '
                    f'height="{ROW - 6}" fill="{colour}"/>'
                )
                parts.append(
                    f'<text x="{max(zero, end) + 4:.1f}" y="{y + ROW - 9}">'
                    f"{escape(number(value, decimals))}</text>"
                )
            y += ROW
        y += 6
    parts.append(
        f'<line x1="{zero:.1f}" y1="{TOP + legend}" x2="{zero:.1f}" y2="{height - 8}" '
        'stroke="#333" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def describe(
    title: str, categories: Sequence[str], series: Sequence[Series], unit: str, decimals: int
) -> str:
    """The chart in words: every category with its value(s)."""
    suffix = f" {unit}" if unit else ""
    items = []
    for i, category in enumerate(categories):
        if len(series) == 1:
            items.append(f"{category}: {number(series[0].values[i], decimals)}{suffix}")
        else:
            both = ", ".join(f"{s.label} {number(s.values[i], decimals)}{suffix}" for s in series)
            items.append(f"{category}: {both}")
    return f"{title}. " + "; ".join(items) + "." if items else f"{title}. Ingen tall."


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
