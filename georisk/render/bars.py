"""The three axes and the overall score as stacked bars: inline SVG, no script, no fonts to load.

Each axis is one bar 0–100 cut into its contributions (the points that add up to the score,
``scoring/README.md``), with the band limits (34, 67) marked. Segments carry a ``<title>`` (the
contribution's label, points and detail) and the class ``segment``; each bar the class
``axis-bar`` and ``data-axis`` / ``data-score``.

>>> from georisk.scoring.score import AxisScore, Contribution
>>> a = AxisScore(axis="equity", score=70.0, band="high", scale=1.0,
...               contributions=[Contribution(label="ownership", points=70.0, detail="d")])
>>> svg = axis_bars_svg([a])
>>> svg.count('class="segment"'), 'data-score="70.0"' in svg
(1, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from georisk.render.style import BAND_COLOURS
from georisk.scoring.score import AxisScore

__all__ = ["PALETTE", "axis_bars_svg", "segment_colour"]

#: segment colours, in contribution order (colour-blind-safe Okabe–Ito, then greys)
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#999999",
    "#666666",
    "#333333",
)
WIDTH, LABEL_W, BAR_H, GAP = 680, 190, 22, 14


def segment_colour(i: int) -> str:
    """The colour of the ``i``-th contribution of a bar."""
    return PALETTE[i % len(PALETTE)]


def _x(points: float) -> float:
    return LABEL_W + (WIDTH - LABEL_W - 60) * max(0.0, min(points, 100.0)) / 100.0


def axis_bars_svg(axes: Sequence[AxisScore]) -> str:
    """One stacked bar per axis (see the module docstring)."""
    rows = len(axes)
    height = 30 + rows * (BAR_H + GAP) + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="axis-bars" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        'font-family="Helvetica,Arial,sans-serif" font-size="12">',
        "<title>Axis scores and their contributions (0–100)</title>",
    ]
    top = 24
    for limit, name in ((34.0, "medium"), (67.0, "high")):
        x = _x(limit)
        out.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 18}" '
            'stroke="#9e9e9e" stroke-dasharray="3,3"/>'
            f'<text x="{x + 3:.1f}" y="{top - 9}" fill="#757575" font-size="10">'
            f"{name} ≥ {limit:g}</text>"
        )
    for r, a in enumerate(axes):
        y = top + r * (BAR_H + GAP)
        band = BAND_COLOURS.get(a.band, "#bdbdbd")
        out.append(
            f'<g class="axis-bar" data-axis="{escape(a.axis)}" data-score="{a.score:.1f}">'
            f'<text x="4" y="{y + BAR_H * 0.7:.1f}" font-weight="bold">{escape(a.axis)}</text>'
            f'<text x="{LABEL_W - 8}" y="{y + BAR_H * 0.7:.1f}" text-anchor="end">'
            f"{a.score:.1f}</text>"
            f'<rect x="{LABEL_W - 4}" y="{y}" width="4" height="{BAR_H}" fill="{band}">'
            f"<title>band: {escape(a.band)}</title></rect>"
            f'<rect x="{LABEL_W}" y="{y}" width="{_x(100) - LABEL_W:.1f}" height="{BAR_H}" '
            'fill="#f5f5f5" stroke="#e0e0e0"/>'
        )
        x = float(LABEL_W)
        for i, c in enumerate(a.contributions):
            w = (WIDTH - LABEL_W - 60) * max(c.points, 0.0) / 100.0
            if w <= 0:
                continue
            tip = f"{c.label}: {c.points:.1f} — {c.detail}"
            out.append(
                f'<rect class="segment" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BAR_H}" '
                f'fill="{segment_colour(i)}" stroke="white" stroke-width="1">'
                f"<title>{escape(tip)}</title></rect>"
            )
            if w > 28:
                out.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + BAR_H * 0.7:.1f}" text-anchor="middle" '
                    f'fill="white" font-size="11">{c.points:.0f}</text>'
                )
            x += w
        out.append(
            f'<text x="{_x(100) + 4:.1f}" y="{y + BAR_H * 0.7:.1f}" fill="#616161" '
            f'font-size="10">{escape(a.band)}</text></g>'
        )
    ticks = "".join(
        f'<text x="{_x(t):.1f}" y="{height - 4}" text-anchor="middle" fill="#757575" '
        f'font-size="10">{t}</text>'
        for t in (0, 25, 50, 75, 100)
    )
    out.append(ticks + "</svg>")
    return "".join(out)
