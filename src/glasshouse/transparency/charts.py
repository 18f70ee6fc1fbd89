"""Server-rendered SVG bar charts: no JavaScript, readable by screen readers.

Each chart is ``role="img"`` with a ``<title>`` and ``<desc>``; every bar carries its own ``<title>`` and
a visible text label with the series name and the count, so colour is never the only cue. Charts are
horizontal (a label line above each bar) so that long labels never overlap; they are drawn for a phone's
width and shown at most a little wider, so their text stays at least 12 px on any screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Final

__all__ = ["Group", "bar_chart", "grouped_bar_chart"]

#: A heading (e.g. a period) and its bars as (label, value).
Group = tuple[str, Sequence[tuple[str, int]]]

#: Drawn for a phone's width; a page shows a chart at most 27rem wide (style.css: .charts figure), so its text
#: is never drawn smaller than FONT_SIZE × (the narrowest page's content width / WIDTH): 13.9 px at 390 px.
WIDTH: Final = 360
FONT_SIZE: Final = 14
TITLE_SIZE: Final = 16
PAD: Final = 8
#: Each bar is a line of label text above the bar itself, with the count after the bar.
LABEL_H: Final = 18
BAR_H: Final = 14
GAP: Final = 10
VALUE_W: Final = 48
HEADING_H: Final = 24
TITLE_H: Final = 30
#: Longest label drawn in full; the bar's ``<title>`` always has the whole name.
MAX_LABEL: Final = 40
#: Colour-blind-safe (Okabe-Ito) palette, dark enough for the white value text not to be needed.
PALETTE: Final = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C6D1F", "#555555")


def _x(text: str) -> str:
    return escape(text, quote=True)


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def bar_chart(title: str, bars: Sequence[tuple[str, int]], *, chart_id: str, description: str = "") -> str:
    """One bar per (label, value)."""
    return grouped_bar_chart(title, [("", bars)], chart_id=chart_id, description=description)


def grouped_bar_chart(
    title: str, groups: Sequence[Group], *, chart_id: str, description: str = "", empty: str = "No data."
) -> str:
    """Bars under headings (e.g. one heading per period); a series keeps its colour across groups.
    Zero bars are drawn as a bare label so that the absence of activity stays visible."""
    series = sorted({label for _, bars in groups for label, _ in bars})
    colours = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(series)}
    peak = max((value for _, bars in groups for _, value in bars), default=0)
    scale = (WIDTH - VALUE_W - 2 * PAD) / peak if peak else 0.0
    parts: list[str] = []
    y = TITLE_H
    for heading, bars in groups:
        if heading:
            parts.append(
                f'<text x="{PAD}" y="{y + 17}" class="chart-heading" font-weight="bold">{_x(heading)}</text>'
            )
            y += HEADING_H
        if not bars:
            parts.append(f'<text x="{PAD + 12}" y="{y + 14}" font-style="italic">{_x(empty)}</text>')
            y += LABEL_H + GAP
        for label, value in bars:
            width = round(value * scale, 1)
            name = f"{heading}: {label}" if heading else label
            bar_y = y + LABEL_H
            parts.append(
                f"<g><title>{_x(name)}: {value}</title>"
                f'<text x="{PAD}" y="{y + 14}">{_x(_short(label))}</text>'
                f'<rect x="{PAD}" y="{bar_y}" width="{width}" height="{BAR_H}" fill="{colours[label]}"/>'
                f'<text x="{PAD + width + 4}" y="{bar_y + BAR_H - 2}">{value}</text></g>'
            )
            y += LABEL_H + BAR_H + GAP
    if not groups:
        parts.append(f'<text x="{PAD}" y="{y + 14}" font-style="italic">{_x(empty)}</text>')
        y += LABEL_H + GAP
    height = y + PAD
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_x(chart_id)}" class="chart" role="img" '
        f'aria-labelledby="{_x(title_id)} {_x(desc_id)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" font-family="sans-serif" font-size="{FONT_SIZE}">'
        f'<title id="{_x(title_id)}">{_x(title)}</title><desc id="{_x(desc_id)}">{_x(description or title)}</desc>'
        f'<text x="{PAD}" y="20" font-size="{TITLE_SIZE}" font-weight="bold">{_x(title)}</text>'
        + "".join(parts)
        + "</svg>"
    )
