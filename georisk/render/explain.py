"""One entry point for every picture: :func:`explain` scores an arrangement (FULL view, no
remedies) and renders it in one of :data:`FORMATS`; :func:`render_score` renders a score already
made. The CLI (``georisk explain``), the RenderService and ``georisk batch --memos`` call these.

========  ===============================  ==========================================
format    media type                       what
========  ===============================  ==========================================
svg       image/svg+xml                    the chart (needs Graphviz ``dot``)
png       image/png                        the chart (needs ``dot``)
dot       text/vnd.graphviz                the chart's DOT source
graphml   application/graphml+xml          the drawn neighbourhood (yEd, Cytoscape)
gexf      application/gexf+xml             the drawn neighbourhood (Gephi)
html      text/html; charset=utf-8         the memo, self-contained (needs ``dot``)
md        text/markdown; charset=utf-8     the memo (the chart as an SVG file beside it)
========  ===============================  ==========================================

>>> from georisk.scoring.engine import DEFAULT_DATA, Engine
>>> engine = Engine.from_dir(DEFAULT_DATA)
>>> r = explain(engine, "catl-lrs", as_of=dt.date(2026, 11, 22), fmt="dot")
>>> r.media_type, b"link:catl-licence-lrs" in r.data
('text/vnd.graphviz', True)
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from georisk.render.chart import MAX_NODES, Chart, build_chart
from georisk.render.dot import DOT_HINT, DotMissing, dot_available, draw, to_dot
from georisk.render.graphfile import graph_bytes
from georisk.render.memo import MemoParts, memo_html, memo_markdown
from georisk.scoring.dataset import Dataset
from georisk.scoring.engine import ArrangementScore, Engine, View
from georisk.scoring.overlay import Overlay
from georisk.scoring.timeline import Timeline, timeline

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "NEEDS_DOT",
    "ExplainOptions",
    "Rendered",
    "explain",
    "render_score",
]

FORMATS = ("svg", "png", "dot", "graphml", "gexf", "html", "md")
MEDIA_TYPES: dict[str, str] = {
    "svg": "image/svg+xml",
    "png": "image/png",
    "dot": "text/vnd.graphviz",
    "graphml": "application/graphml+xml",
    "gexf": "application/gexf+xml",
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}
#: the formats that need the system Graphviz ``dot``
NEEDS_DOT = frozenset({"svg", "png", "html"})


@dataclass(frozen=True)
class ExplainOptions:
    """How much to draw and compute."""

    max_nodes: int = MAX_NODES
    #: the memo's timeline: from ``years_before`` before the score's date to ``years_after``
    #: after it (no timeline when ``timeline`` is false, or for a what-if overlay)
    timeline: bool = True
    years_before: int = 1
    years_after: int = 4
    timeline_points: int = 200
    #: seconds the timeline may take (it stops early and says so): large datasets
    timeline_budget: float | None = 10.0
    #: for ``md``: the file name the Markdown gives the chart (an SVG written beside it)
    chart_file: str | None = None


@dataclass(frozen=True)
class Rendered:
    """Rendered bytes, their media type, and what was drawn (and how long each step took)."""

    data: bytes
    media_type: str
    format: str
    chart: Chart
    score: ArrangementScore
    #: the chart as SVG for an ``md`` memo (to be written beside it as ``chart_file``)
    chart_svg: bytes | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def _window(on: dt.date, before: int, after: int) -> tuple[dt.date, dt.date]:
    def shift(years: int) -> dt.date:
        try:
            return on.replace(year=on.year + years)
        except ValueError:  # 29 February
            return on.replace(year=on.year + years, day=28)

    return shift(-before), shift(after)


def _timeline(
    engine: Engine, score: ArrangementScore, opts: ExplainOptions, overlaid: bool
) -> tuple[Timeline | None, str]:
    if not opts.timeline:
        return None, "no timeline asked for"
    if overlaid:
        return None, "no timeline for a what-if overlay (georisk timeline scores the dataset)"
    start, end = _window(score.as_of, opts.years_before, opts.years_after)
    t = timeline(
        engine,
        score.arrangement.id,
        start,
        end,
        score.scenario,
        max_points=opts.timeline_points,
        time_budget=opts.timeline_budget,
    )
    return t, ""


def render_score(
    engine: Engine,
    score: ArrangementScore,
    fmt: str,
    *,
    dataset: Dataset | None = None,
    options: ExplainOptions | None = None,
) -> Rendered:
    """Render ``score`` (FULL view) of ``engine`` in ``fmt``; ``dataset`` is the dataset it was
    scored on (an overlaid one for a what-if). Raises :class:`~.dot.DotMissing` for a format of
    :data:`NEEDS_DOT` without Graphviz, ``ValueError`` for an unknown format."""
    if fmt not in MEDIA_TYPES:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    opts = options or ExplainOptions()
    if fmt in NEEDS_DOT and not dot_available():
        raise DotMissing()
    ds = dataset or engine.dataset
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    chart = build_chart(engine, score, dataset=ds, max_nodes=opts.max_nodes)
    source = to_dot(chart)
    secs["chart"] = time.perf_counter() - t0
    chart_svg: bytes | None = None
    if fmt in ("svg", "png"):
        t0 = time.perf_counter()
        data = draw(source, fmt)
        secs["draw"] = time.perf_counter() - t0
    elif fmt == "dot":
        data = source.encode("utf-8")
    elif fmt in ("graphml", "gexf"):
        data = graph_bytes(ds, chart, fmt)
    else:
        t0 = time.perf_counter()
        note = ""
        if dot_available():
            chart_svg = draw(source, "svg")
        else:
            note = DOT_HINT
        secs["draw"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        tl, tl_note = _timeline(engine, score, opts, ds is not engine.dataset)
        secs["timeline"] = time.perf_counter() - t0
        parts = MemoParts(
            score,
            chart,
            chart_svg.decode("utf-8") if chart_svg else None,
            note,
            tl,
            tl_note,
        )
        if fmt == "html":
            data = memo_html(parts).encode("utf-8")
            chart_svg = None
        else:
            name = opts.chart_file if chart_svg else None
            data = memo_markdown(parts, name).encode("utf-8")
    return Rendered(data, MEDIA_TYPES[fmt], fmt, chart, score, chart_svg, secs)


def explain(
    engine: Engine,
    arrangement: str,
    *,
    as_of: dt.date | None = None,
    scenario: str = "current-law",
    overlay: Overlay | None = None,
    fmt: str = "svg",
    options: ExplainOptions | None = None,
) -> Rendered:
    """Score ``arrangement`` (FULL view, no remedies; with ``overlay`` the what-if) and render it
    in ``fmt`` (:func:`render_score`). Raises what :meth:`Engine.score` raises
    (:class:`~georisk.scoring.engine.NotFoundError`, ``DatasetError`` for an overlay that does
    not apply), :class:`~.dot.DotMissing` and ``ValueError`` as :func:`render_score`."""
    if fmt not in MEDIA_TYPES:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt in NEEDS_DOT and not dot_available():
        raise DotMissing()
    t0 = time.perf_counter()
    score = engine.score(
        arrangement, as_of, scenario, view=View.FULL, overlay=overlay, remedies=False
    )
    took = time.perf_counter() - t0
    ds = engine.overlaid(engine.dataset, overlay) if overlay else engine.dataset
    out = render_score(engine, score, fmt, dataset=ds, options=options)
    out.seconds["score"] = took
    return out
