"""Charts drawn on the server as inline SVG: counts per day as bars. Pure.

No script and no style attribute (the Content-Security-Policy allows neither inline): bars are
`<rect>` elements with a class the stylesheet colours, each with a `<title>` (the day and its
count) that a browser shows on hover. Every text goes through `escape`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from markupsafe import Markup, escape

__all__ = ["day_bars", "last_days"]


def last_days(today: date, days: int) -> list[date]:
    """The `days` days ending with `today`, oldest first."""
    return [today - timedelta(days=k) for k in range(days - 1, -1, -1)]


def day_bars(
    counts: Mapping[date, int],
    days: Sequence[date],
    *,
    label: str,
    width: int = 300,
    height: int = 60,
) -> Markup:
    """A bar a day over `days` (oldest left), scaled to the busiest day; `label` names the
    chart for screen readers. An all-zero chart is a flat baseline."""
    n = max(1, len(days))
    top = max((counts.get(d, 0) for d in days), default=0)
    step = width / n
    bar = max(1.0, step * 0.8)
    plot = height - 12  # room for the axis labels below
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        f'<line class="axis" x1="0" y1="{plot}" x2="{width}" y2="{plot}"/>',
    ]
    for k, day in enumerate(days):
        value = counts.get(day, 0)
        h = 0.0 if top == 0 else max(1.0, plot * value / top) if value else 0.0
        x = k * step + (step - bar) / 2
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{plot - h:.1f}" width="{bar:.1f}" '
            f'height="{h:.1f}"><title>{day.isoformat()}: {value}</title></rect>'
        )
    if days:
        parts.append(
            f'<text class="tick" x="0" y="{height - 1}">{days[0].isoformat()}</text>'
            f'<text class="tick end" x="{width}" y="{height - 1}">{days[-1].isoformat()}</text>'
        )
    if top:
        parts.append(f'<text class="tick" x="0" y="9">max {top}</text>')
    parts.append("</svg>")
    # Every piece above is a number, a date or passed through escape().
    return Markup("".join(parts))  # noqa: S704
