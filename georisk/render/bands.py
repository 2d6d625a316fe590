"""The timeline as a chart: one row per rule (its verdict over the dates) and per axis (its band),
a tick on each date something changes, the scoring date marked. Inline SVG, no script.

Each interval is a ``<rect class="period">`` with ``data-from``/``data-to`` and a ``<title>``
saying what holds over it; each change date a ``<line class="change">``.

>>> import datetime as dt
>>> from georisk.scoring.timeline import Period, Timeline
>>> p = Period.model_validate({"from": "2026-01-01", "to": "2026-12-31", "credit": None,
...     "verdicts": {"us-45x": "eligible"}, "bands": {"overall": "low"}})
>>> t = Timeline.model_validate({"arrangement": "a", "name": "A", "scenario": "current-law",
...     "from": "2026-01-01", "to": "2026-12-31", "dataset_version": "d", "pack_version": "p",
...     "scenario_set_version": "s", "intervals": [p], "changes": [], "candidates": 0,
...     "evaluated": 1, "truncated": False, "covered_to": "2026-12-31"})
>>> timeline_svg(t).count('class="period"')  # one rule and the four axes, one interval
5
>>> p2 = p.model_copy(update={"verdicts": {"us-45x": "not_applicable"}})
>>> timeline_svg(t.model_copy(update={"intervals": [p2]})).count('class="period"')  # no row
4
"""

from __future__ import annotations

import datetime as dt
from html import escape

from georisk.render.style import BAND_COLOURS, VERDICT_COLOURS
from georisk.scoring.timeline import Timeline

__all__ = ["timeline_svg"]

WIDTH, LABEL_W, ROW_H, GAP = 720, 190, 16, 5
AXES = ("technology", "equity", "policy", "overall")


def _rows(t: Timeline) -> list[tuple[str, str]]:
    """(kind, key) of each row: the rules in first-seen order that apply on some day of the
    window (a rule not applicable throughout has no row), then the axes."""
    rules = list(dict.fromkeys(r for p in t.intervals for r in p.verdicts))
    live = [
        r
        for r in rules
        if any(p.verdicts.get(r, "not_applicable") != "not_applicable" for p in t.intervals)
    ]
    return [("verdict", r) for r in live] + [("band", a) for a in AXES]


def timeline_svg(t: Timeline, marker: dt.date | None = None) -> str:
    """The chart of ``t`` (see the module docstring); ``marker``: a date to mark (the score's)."""
    start, end = t.from_, max(t.covered_to, t.from_)
    span = max((end - start).days + 1, 1)
    plot_w = WIDTH - LABEL_W - 10

    def x(d: dt.date) -> float:
        return LABEL_W + plot_w * ((d - start).days / span)

    rows = _rows(t)
    top = 8
    height = top + len(rows) * (ROW_H + GAP) + 34
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        'font-family="Helvetica,Arial,sans-serif" font-size="11">',
        f"<title>{escape(t.name)} [{escape(t.arrangement)}]: verdicts and bands from "
        f"{start.isoformat()} to {end.isoformat()}</title>",
    ]
    for r, (kind, key) in enumerate(rows):
        y = top + r * (ROW_H + GAP)
        out.append(
            f'<text x="{LABEL_W - 6}" y="{y + ROW_H * 0.75:.1f}" text-anchor="end">'
            f"{escape(key)}</text>"
        )
        for p in t.intervals:
            value = (p.verdicts if kind == "verdict" else p.bands).get(key, "")
            colours = VERDICT_COLOURS if kind == "verdict" else BAND_COLOURS
            x0, x1 = x(p.from_), x(p.to + dt.timedelta(days=1))
            tip = f"{key}: {value.replace('_', ' ') or 'n/a'} from {p.from_} to {p.to}"
            out.append(
                f'<rect class="period" data-row="{escape(key)}" data-from="{p.from_}" '
                f'data-to="{p.to}" x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 0.8):.1f}" '
                f'height="{ROW_H}" fill="{colours.get(value, "#eeeeee")}" stroke="white" '
                f'stroke-width="0.5"><title>{escape(tip)}</title></rect>'
            )
    base = top + len(rows) * (ROW_H + GAP)
    for c in t.changes:
        cx = x(c.date)
        what = "; ".join(f"{ch.subject} {ch.before or '—'} → {ch.after or '—'}" for ch in c.changed)
        out.append(
            f'<line class="change" x1="{cx:.1f}" y1="{top - 2}" x2="{cx:.1f}" y2="{base}" '
            f'stroke="#212121" stroke-width="1"><title>{c.date}: {escape(what)}</title></line>'
        )
    years = range(start.year + (start.month > 1 or start.day > 1), end.year + 1)
    for yr in years:
        yx = x(dt.date(yr, 1, 1))
        out.append(
            f'<line x1="{yx:.1f}" y1="{base}" x2="{yx:.1f}" y2="{base + 5}" stroke="#757575"/>'
            f'<text x="{yx:.1f}" y="{base + 16}" text-anchor="middle" fill="#616161" '
            f'font-size="10">{yr}</text>'
        )
    if marker is not None and start <= marker <= end:
        mx = x(marker)
        out.append(
            f'<line class="as-of" x1="{mx:.1f}" y1="{top - 4}" x2="{mx:.1f}" y2="{base + 4}" '
            'stroke="#1565c0" stroke-width="2" stroke-dasharray="4,2"/>'
            f'<text x="{mx:.1f}" y="{base + 28}" text-anchor="middle" fill="#1565c0" '
            f'font-size="10">as of {marker.isoformat()}</text>'
        )
    out.append("</svg>")
    return "".join(out)
