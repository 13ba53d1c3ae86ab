"""Tiny inline-SVG charts (no JavaScript, no network): bars and grouped bars with CJK labels."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from html import escape

CLASS_COLOURS = {"A": "#2e7d32", "B": "#1565c0", "C": "#ef6c00", "D": "#c62828"}


def text_width(text: str, size: float = 12.0) -> float:
    """A generous estimate of ``text``'s rendered width: wide (CJK, full-width) characters take
    one em, others about 0.62 em. Charts size themselves from it so no label is clipped."""
    wide = sum(1 for ch in text if unicodedata.east_asian_width(ch) in ("W", "F"))
    return (wide + 0.62 * (len(text) - wide)) * size


def _fmt_default(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:.3g}"


def bar_chart(
    items: Sequence[tuple[str, float, str]],
    *,
    title: str,
    width: int = 560,
    bar_height: int = 22,
    fmt: Callable[[float], str] = _fmt_default,
    max_value: float | None = None,
) -> str:
    """Horizontal bars: (label, value, colour). Labels on the left, values at the bar's end.

    The label column is as wide as the longest label and the chart widens with it (never a
    clipped label, whatever the names)."""
    pad, gap, bar_area = 8, 6, width - 190 - 70
    label_w = int(max([text_width(label) for label, _, _ in items] + [120.0]) + 16)
    value_w = int(max([text_width(fmt(v)) for _, v, _ in items] + [40.0]) + 12)
    width = max(width, int(text_width(title, 13) + 2 * pad), label_w + bar_area + value_w)
    height = pad * 2 + len(items) * (bar_height + gap) + 20
    top = max_value if max_value is not None else max((v for _, v, _ in items), default=0.0)
    scale = bar_area / top if top > 0 else 0.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
    ]
    y = pad + 14
    parts.append(f'<text x="{pad}" y="{y - 2}" class="chart-title">{escape(title)}</text>')
    y += 6
    for label, value, colour in items:
        w = max(value * scale, 0.0)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_height * 0.7:.1f}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_height}" fill="{colour}" rx="2"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_height * 0.7:.1f}">{escape(fmt(value))}</text>'
        )
        y += bar_height + gap
    parts.append("</svg>")
    return "".join(parts)


def paired_histogram(
    bins: Sequence[int], current: Sequence[float], previous: Sequence[float] | None, *, title: str
) -> str:
    """Vertical bars per score band: this month (solid) beside last month (outline)."""
    width, height, left, bottom, top_pad = 560, 220, 40, 30, 28
    n = len(current)
    slot = (width - left - 10) / max(n, 1)
    top = max([*current, *(previous or [])], default=0.0) or 1.0
    plot_h = height - bottom - top_pad
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
        f'<text x="8" y="16" class="chart-title">{escape(title)}</text>'
    ]
    for i in range(n):
        x = left + i * slot
        h = current[i] / top * plot_h
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{height - bottom - h:.1f}" width="{slot / 2 - 3:.1f}" '
            f'height="{h:.1f}" fill="#1565c0"/>'
        )
        if previous is not None:
            hp = previous[i] / top * plot_h
            parts.append(
                f'<rect x="{x + slot / 2:.1f}" y="{height - bottom - hp:.1f}" width="{slot / 2 - 3:.1f}" '
                f'height="{hp:.1f}" fill="none" stroke="#555" stroke-dasharray="3 2"/>'
            )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" class="axis">'
            f"{bins[i]}–{bins[i + 1]}</text>"
        )
    parts.append(
        f'<text x="{width - 10}" y="16" text-anchor="end" class="axis">■ 本月 this month'
        + ("　▭ 上月 last month" if previous is not None else "")
        + "</text></svg>"
    )
    return "".join(parts)
