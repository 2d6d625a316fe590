"""Pictures of an arrangement: its ownership-and-technology chart and a one-page memo.

``georisk explain`` (:mod:`georisk.render.command`), the RenderService
(``georisk.server.render``) and ``georisk batch --memos`` all call :func:`explain`, which scores
the arrangement and renders it in one of :data:`FORMATS`. The package imports the domain
(``georisk.scoring``) and ``georisk.interop``, never gRPC. See ``docs/explain.md``.
"""

from __future__ import annotations

from georisk.render.chart import MAX_NODES, Chart, ChartEdge, ChartNode, build_chart
from georisk.render.dot import DotMissing, dot_available, draw, to_dot
from georisk.render.explain import (
    FORMATS,
    MEDIA_TYPES,
    ExplainOptions,
    Rendered,
    explain,
    render_score,
)

__all__ = [
    "FORMATS",
    "MAX_NODES",
    "MEDIA_TYPES",
    "Chart",
    "ChartEdge",
    "ChartNode",
    "DotMissing",
    "ExplainOptions",
    "Rendered",
    "build_chart",
    "dot_available",
    "draw",
    "explain",
    "render_score",
    "to_dot",
]
