"""The RenderService servicer: an arrangement's chart or memo as bytes with their media type.

Translation only: the request's fields are checked (INVALID_ARGUMENT naming the field), the
domain renders (:func:`georisk.render.explain`, off the event loop, cached per dataset
version like the scores) and the bytes go back with their media type. A format that needs
Graphviz ``dot`` on a server without it is FAILED_PRECONDITION with what to install; DOT,
GraphML and GEXF need none. Any caller the server lets in (a reader or above) may render.
"""

from __future__ import annotations

from typing import Any

import grpc

from georisk.render import MAX_NODES, DotMissing, ExplainOptions, dot_available, explain
from georisk.render.dot import DOT_HINT
from georisk.render.explain import NEEDS_DOT
from georisk.scoring.dataset import DatasetError
from georisk.scoring.overlay import Overlay, parse_overlay
from georisk.server.errors import FailedPrecondition, InvalidArgument, NotFound
from georisk.server.service import (
    _applied_field,
    _Check,
    _overlay_field,
    _scenario,
    known_at_engine,
)
from georisk.server.settings import Settings
from georisk.server.state import ServingState
from georisk.v1 import render_pb2, render_pb2_grpc

__all__ = ["FORMATS", "MAX_NODES_LIMIT", "RenderServicer"]

Ctx = grpc.aio.ServicerContext[Any, Any]

#: the proto's formats → the domain's
FORMATS: dict[render_pb2.RenderFormat.ValueType, str] = {
    render_pb2.RENDER_FORMAT_SVG: "svg",
    render_pb2.RENDER_FORMAT_PNG: "png",
    render_pb2.RENDER_FORMAT_HTML: "html",
    render_pb2.RENDER_FORMAT_DOT: "dot",
    render_pb2.RENDER_FORMAT_GRAPHML: "graphml",
    render_pb2.RENDER_FORMAT_GEXF: "gexf",
}
#: the most nodes a request may ask for
MAX_NODES_LIMIT = 200
#: seconds a memo's timeline may take at most (less under a shorter deadline)
TIMELINE_SECONDS = 10.0


def _missing_dot(fmt: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"format {fmt}: {DOT_HINT}",
        [("GRAPHVIZ", "dot", "the Graphviz `dot` program is not installed on the server")],
    )


class RenderServicer(render_pb2_grpc.RenderServiceServicer):
    def __init__(self, state: ServingState, settings: Settings) -> None:
        self.state, self.settings = state, settings

    async def RenderArrangement(
        self, request: render_pb2.RenderArrangementRequest, context: Ctx
    ) -> render_pb2.RenderArrangementResponse:
        engine, seq = await known_at_engine(self.state, request)
        check = _Check()
        overlay = _overlay(check, request) if request.HasField("overlay") else None
        check.id("arrangement_id", request.arrangement_id, required=not request.HasField("overlay"))
        on = check.date("as_of", request.as_of)
        scenario = _scenario(check, engine, request.scenario)
        fmt = FORMATS.get(request.format)
        if fmt is None:
            known = ", ".join(render_pb2.RenderFormat.Name(k) for k in FORMATS)
            what = "required" if request.format == 0 else f"unknown format {request.format}"
            check.add("format", f"{what}; one of {known}")
        if not 0 <= request.max_nodes <= MAX_NODES_LIMIT:
            check.add("max_nodes", f"must be 0 (default {MAX_NODES}) to {MAX_NODES_LIMIT}")
        check.done()
        assert fmt is not None
        aid = overlay.arrangement if overlay is not None else request.arrangement_id
        added = {a.get("id") for a in overlay.add.arrangements} if overlay is not None else set()
        if aid not in engine.dataset.arrangements and aid not in added:
            raise NotFound("arrangement", aid)
        if fmt in NEEDS_DOT and not dot_available():
            raise _missing_dot(fmt)
        nodes = request.max_nodes or MAX_NODES
        remaining = context.time_remaining()
        budget = TIMELINE_SECONDS if remaining is None else min(TIMELINE_SECONDS, remaining / 2)
        opts = ExplainOptions(
            max_nodes=nodes, timeline=not request.skip_timeline, timeline_budget=budget
        )
        version = engine.dataset.version
        digest = overlay.digest() if overlay is not None else ""
        key = (version, "render", aid, on, scenario, fmt, nodes, request.skip_timeline, digest)

        def run() -> render_pb2.RenderArrangementResponse:
            r = explain(
                engine, aid, as_of=on, scenario=scenario, overlay=overlay, fmt=fmt, options=opts
            )
            c = r.chart
            return render_pb2.RenderArrangementResponse(
                data=r.data,
                media_type=r.media_type,
                file_name=f"{aid}.{fmt}",
                entities_drawn=sum(1 for n in c.nodes if n.kind != "more"),
                links_drawn=sum(1 for e in c.edges if e.kind != "more"),
                holders_not_drawn=c.hidden,
                dataset_version=version,
                store_version=seq,
            )

        try:
            return await self.state.cached(key, run)
        except DotMissing:  # removed since the check above
            raise _missing_dot(fmt) from None
        except DatasetError as exc:  # the overlay does not apply to this dataset
            raise InvalidArgument([(_applied_field(i), str(i)) for i in exc.issues[:20]]) from None


def _overlay(check: _Check, request: render_pb2.RenderArrangementRequest) -> Overlay | None:
    """The request's overlay, parsed as SimulateOverlay parses it (problems into ``check``,
    naming the request field or the document's path); ``arrangement_id`` fills in its
    arrangement or must agree with it."""
    ov = request.overlay
    arrangement = ov.arrangement_id or request.arrangement_id or None
    if ov.arrangement_id and request.arrangement_id and ov.arrangement_id != request.arrangement_id:
        check.add("arrangement_id", f"{request.arrangement_id!r} is not the overlay's "
                  f"arrangement {ov.arrangement_id!r}")  # fmt: skip
        return None
    try:
        return parse_overlay(
            ov.document,
            origin="overlay",
            arrangement=arrangement,
            id=ov.id or None,
            description=ov.description or None,
        )
    except DatasetError as exc:
        outside = (
            ("arrangement", arrangement or ""),
            ("id", ov.id),
            ("description", ov.description),
        )
        given = {key for key, value in outside if value}
        for issue in exc.issues:
            check.add(_overlay_field(issue, given), issue.message)
        return None
