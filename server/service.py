"""The georisk.v1 servicers: validate the request, call the domain, translate the result.

No scoring logic lives here. CPU-bound domain calls run off the event loop (thread pool) and
their results are cached per dataset version; a reload swaps the engine, so a call finishes on
the engine it started with and says which dataset version answered.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf import timestamp_pb2

from georisk.scoring import clock
from georisk.scoring.countries import ISO_3166_ALPHA2
from georisk.scoring.dataset import DatasetError, DatasetIssue
from georisk.scoring.engine import Engine, View
from georisk.scoring.model import ID_PATTERN, ArrangementStatus, EntityKind, Product
from georisk.scoring.overlay import Overlay, parse_overlay
from georisk.scoring.packs import PackSet
from georisk.scoring.timeline import default_end, timeline
from georisk.server.convert import (
    arrangement_to_proto,
    entity_to_proto,
    ownership_to_proto,
    pack_to_proto,
    scenario_to_proto,
    score_to_proto,
    timeline_to_proto,
)
from georisk.server.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    to_service_error,
)
from georisk.server.settings import Settings
from georisk.server.state import ServingState
from georisk.v1 import graph_pb2, graph_pb2_grpc, scoring_pb2, scoring_pb2_grpc, types_pb2

__all__ = ["GraphServicer", "ScoringServicer", "known_at_engine"]

Ctx = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")
_ID = re.compile(ID_PATTERN)
DEFAULT_PAGE, MAX_PAGE = 50, 1000
DEFAULT_DEPTH, DEFAULT_PATHS = 8, 25


# --------------------------------------------------------------------------- validation helpers


class _Check:
    """Collects field violations; raises one INVALID_ARGUMENT with all of them."""

    MAX_VIOLATIONS = 20  # the rich status travels in a trailer (grpc caps metadata at 16 KiB)

    def __init__(self) -> None:
        self.violations: list[tuple[str, str]] = []

    def add(self, field: str, reason: str) -> None:
        # bounded: a client's huge value must not blow up the status trailer
        self.violations.append(
            (field[:200], reason if len(reason) <= 500 else reason[:497] + "...")
        )

    def country(self, field: str, value: str) -> str:
        code = value.upper()
        if code and code not in ISO_3166_ALPHA2:
            self.add(field, f"{value[:10]!r} is not an ISO 3166-1 alpha-2 code")
        return code

    def choice(self, field: str, value: str, allowed: set[str]) -> None:
        if value and value not in allowed:
            self.add(field, f"unknown {field} {value[:40]!r}; known: {', '.join(sorted(allowed))}")

    def id(self, field: str, value: str, *, required: bool = True) -> None:
        if not value:
            if required:
                self.add(field, "required")
        elif not _ID.match(value):
            self.add(field, f"{value[:80]!r} is not a valid id (lower-case a-z 0-9 . _ : -)")

    def pack_id(self, value: str) -> str:
        """A ``pack_id`` request field: empty (the primary pack) or a valid id."""
        self.id("pack_id", value, required=False)
        return value

    def date(self, field: str, value: str) -> dt.date:
        if not value:
            return clock.today()
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.add(field, f"{value[:40]!r} is not an ISO date (YYYY-MM-DD)")
            return clock.today()

    def done(self) -> None:
        if self.violations:
            shown = self.violations[: self.MAX_VIOLATIONS]
            more = len(self.violations) - len(shown)
            if more:
                shown.append(("…", f"and {more} more violations of the same request"))
            raise InvalidArgument(shown)


def _view(check: _Check, v: int) -> View:
    if v == types_pb2.EXPLANATION_VIEW_FULL:
        return View.FULL
    if v in (types_pb2.EXPLANATION_VIEW_BASIC, types_pb2.EXPLANATION_VIEW_UNSPECIFIED):
        return View.BASIC
    check.add("view", f"unknown explanation view {v}")
    return View.BASIC


#: the scenario ids of the scenario set last asked about (the set, and its ids)
_SCENARIO_IDS: list[tuple[object, object, frozenset[str]]] = []


def _scenario_ids(engine: Engine) -> frozenset[str]:
    """The ids of ``engine``'s scenarios (of every pack), made once per scenario set (not on
    every call). A further pack's scenario is known, but applies only to the arrangements
    within its nexus (NOT_FOUND for the others)."""
    scenarios = engine.scenarios
    known = _SCENARIO_IDS[0] if _SCENARIO_IDS else None
    if known is not None and known[0] is scenarios and known[1] is engine.extra:
        return known[2]
    ids = frozenset(s.id for ps in engine.packs for s in ps.scenarios.scenarios)
    # keeps ``scenarios`` alive: its identity (and the further packs') is the key
    _SCENARIO_IDS[:] = [(scenarios, engine.extra, ids)]
    return ids


def _scenario(check: _Check, engine: Engine, value: str) -> str:
    sid = value or "current-law"
    if sid not in _scenario_ids(engine):
        # each id once: the further packs' current law is the primary's
        known = ", ".join(
            dict.fromkeys(s.id for ps in engine.packs for s in ps.scenarios.scenarios)
        )
        check.add("scenario", f"unknown scenario {sid[:80]!r}; known: {known}")
    return sid


def _pack_set(engine: Engine, pack_id: str) -> PackSet:
    """The engine's pack ``pack_id`` (empty: the primary), else NOT_FOUND naming it."""
    if not pack_id:
        return engine.packs[0]
    for ps in engine.packs:
        if ps.id == pack_id:
            return ps
    raise NotFound(
        "policy_pack",
        pack_id,
        f"policy pack {pack_id!r} not found; known: {', '.join(p.id for p in engine.packs)}",
    )


def _deadline(context: Ctx) -> None:
    """Stop work on a call whose deadline has passed (between items of a batch or stream)."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise DeadlineExceeded("the deadline passed before the work was done")


# --------------------------------------------------------------------------- paging


def _page_token(version: str, filters: str, offset: int) -> str:
    raw = json.dumps({"v": version, "f": filters, "o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _page(check: _Check, version: str, filters: str, size: int, token: str) -> tuple[int, int]:
    if size < 0:
        check.add("page_size", "must not be negative")
    size = min(size or DEFAULT_PAGE, MAX_PAGE)
    if not token:
        return 0, size
    try:
        if len(token) > 1024:
            raise ValueError("too long")
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(doc, dict) or not isinstance(doc.get("o"), int):
            raise ValueError("malformed")
        offset, tok_version, tok_filters = doc["o"], doc["v"], doc["f"]
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
        check.add("page_token", "not a token returned by this service")
        return 0, size
    if tok_filters != filters:
        check.add("page_token", "was issued for other filters; keep them unchanged while paging")
    elif tok_version != version:
        raise FailedPrecondition(
            "the dataset was reloaded since this page token was issued; start again without it",
            [("DATASET_VERSION", tok_version, f"now serving {version}")],
        )
    return max(offset, 0), size


def _slice(
    items: Sequence[T], offset: int, size: int, version: str, filters: str
) -> tuple[list[T], str]:
    chunk = list(items[offset : offset + size])
    nxt = _page_token(version, filters, offset + size) if offset + size < len(items) else ""
    return chunk, nxt


# --------------------------------------------------------------------------- overlays

#: document keys that a request field of Overlay may fill in → that field's name in violations
_OVERLAY_FIELDS = {
    "arrangement": "overlay.arrangement_id",
    "id": "overlay.id",
    "description": "overlay.description",
}
_APPLIED_PATH = re.compile(r"(?:add|remove|change)\.[a-z]+(?:\[\d+\])?")


def _overlay_field(issue: DatasetIssue, given: set[str]) -> str:
    """The request field a problem of :func:`parse_overlay` is about.

    A key the request also gave (a contradiction, or a bad value filled in) names the request
    field; a missing ``arrangement`` names ``overlay.arrangement_id`` (where to give it); any
    other problem names its dotted path in the document.
    """
    key = issue.field
    if key in given or (key == "arrangement" and issue.message == "Field required"):
        return _OVERLAY_FIELDS[key]
    return f"overlay.document.{key}" if key else "overlay.document"


def _applied_field(issue: DatasetIssue) -> str:
    """The document path of a problem met applying an overlay (e.g. ``remove.links``)."""
    where = _APPLIED_PATH.fullmatch(issue.record.split(" (")[0])
    return f"overlay.document.{where.group(0)}" if where else "overlay.document"


# --------------------------------------------------------------------------- scoring


def _encode(response: scoring_pb2.ScoreArrangementResponse) -> bytes:
    return response.SerializeToString()


def _field_size(message: Any) -> int:
    """Bytes of ``message`` as a length-delimited field (field number < 16) of another."""
    n: int = message.ByteSize()
    return 1 + max(1, (n.bit_length() + 6) // 7) + n


class _Partial(Exception):
    """A timeline cut short by the call's deadline: returned, never cached."""

    def __init__(self, timeline: scoring_pb2.Timeline) -> None:
        super().__init__("partial timeline")
        self.timeline = timeline


class _KnownAt(Protocol):
    """A request that may ask for the data as the store knew it."""

    known_at_version: int

    @property
    def known_at(self) -> timestamp_pb2.Timestamp: ...

    def HasField(self, field_name: Any) -> bool: ...


async def known_at_engine(state: ServingState, request: _KnownAt) -> tuple[Engine, int]:
    """The engine a request asks for and its store version: the one served now, or the one on
    the data as the store knew it (``known_at_version`` / ``known_at``; INVALID_ARGUMENT for
    both or a version out of range, FAILED_PRECONDITION on a server without a store)."""
    has_at = request.HasField("known_at")
    if not request.known_at_version and not has_at:
        return state.engine, state.store_version  # read together: a pair
    if request.known_at_version and has_at:
        raise InvalidArgument([("known_at", "give known_at or known_at_version, not both")])
    if request.known_at_version < 0:
        raise InvalidArgument([("known_at_version", "must not be negative")])
    field = "known_at" if has_at else "known_at_version"
    if state.store is None:
        raise FailedPrecondition(
            f"{field}: this server serves a dataset directory, which keeps no history; "
            "serve a store (`georisk serve --store URL`) to answer as of a past version"
        )
    at = request.known_at.ToDatetime(dt.UTC) if has_at else None
    try:
        return await state.engine_known_at(request.known_at_version or None, at)
    except ValueError as exc:
        raise InvalidArgument([(field, str(exc))]) from None


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(self, state: ServingState, settings: Settings) -> None:
        self.state, self.settings = state, settings

    async def _score(
        self,
        engine: Engine,
        aid: str,
        on: dt.date,
        scenario: str,
        view: View,
        store_version: int | None = None,
    ) -> scoring_pb2.ScoreArrangementResponse:
        """The ScoreArrangement response, cached with its wire bytes: a hit is neither copied
        nor encoded again (batch and stream take its ``score``)."""
        version = engine.dataset.version
        seq = self.state.store_version if store_version is None else store_version  # 0: a dir
        key = (version, "score", aid, on, scenario, view)

        def run() -> scoring_pb2.ScoreArrangementResponse:
            score = score_to_proto(engine.score(aid, on, scenario, view=view))
            return scoring_pb2.ScoreArrangementResponse(
                score=score, dataset_version=version, store_version=seq
            )

        return await self.state.cached(key, run, _encode)

    def _common(
        self, engine: Engine, as_of: str, scenario: str, view: int
    ) -> tuple[_Check, dt.date, str, View]:
        check = _Check()
        on = check.date("as_of", as_of)
        return check, on, _scenario(check, engine, scenario), _view(check, view)

    async def ScoreArrangement(
        self, request: scoring_pb2.ScoreArrangementRequest, context: Ctx
    ) -> scoring_pb2.ScoreArrangementResponse:
        engine, seq = await self._known_at(request)
        check, on, scenario, view = self._common(
            engine, request.as_of, request.scenario, request.view
        )
        check.id("arrangement_id", request.arrangement_id)
        check.done()
        if request.arrangement_id not in engine.dataset.arrangements:
            raise NotFound("arrangement", request.arrangement_id)
        return await self._score(engine, request.arrangement_id, on, scenario, view, seq)

    async def _known_at(self, request: _KnownAt) -> tuple[Engine, int]:
        return await known_at_engine(self.state, request)

    async def BatchScoreArrangements(
        self, request: scoring_pb2.BatchScoreArrangementsRequest, context: Ctx
    ) -> scoring_pb2.BatchScoreArrangementsResponse:
        ids = list(request.arrangement_ids)
        if len(ids) > self.settings.max_batch:
            raise ResourceExhausted(
                "arrangement_ids",
                f"{len(ids)} ids exceed the batch limit of "
                f"{self.settings.max_batch}; use StreamScoreArrangements",
            )
        engine, seq = await self._known_at(request)
        check, on, scenario, view = self._common(
            engine, request.as_of, request.scenario, request.view
        )
        if not ids:
            check.add("arrangement_ids", "at least one id is required")
        for i, aid in enumerate(ids):
            check.id(f"arrangement_ids[{i}]", aid)
        check.done()
        for aid in ids:
            if aid not in engine.dataset.arrangements:
                raise NotFound("arrangement", aid)
        version = engine.dataset.version
        # the response's size, counted as it is assembled: it must fit the server's send limit
        tail = len(  # = the batch response's own fields: dataset_version, store_version
            scoring_pb2.ScoreArrangementResponse(
                dataset_version=version, store_version=seq
            ).SerializeToString()
        )
        limit, size = self.settings.max_response_bytes, tail
        out = []
        for i, aid in enumerate(ids):
            _deadline(context)
            response = await self._score(engine, aid, on, scenario, view, seq)
            wire = self.state.serialized(response)  # score field + the version fields
            size += len(wire) - tail if wire is not None else _field_size(response.score)
            if size > limit:
                raise ResourceExhausted(
                    "arrangement_ids",
                    f"the scores of the first {i + 1} of {len(ids)} ids take {size} bytes, over "
                    f"the server's response limit of {limit} bytes: use StreamScoreArrangements "
                    "(one message per score), fewer ids or the basic view",
                )
            out.append(response.score)
        return scoring_pb2.BatchScoreArrangementsResponse(
            scores=out, dataset_version=version, store_version=seq
        )

    async def StreamScoreArrangements(
        self, request: scoring_pb2.StreamScoreArrangementsRequest, context: Ctx
    ) -> AsyncIterator[scoring_pb2.StreamScoreArrangementsResponse]:
        engine, seq = await self._known_at(request)
        check, on, scenario, view = self._common(
            engine, request.as_of, request.scenario, request.view
        )
        check.done()
        ids = list(request.arrangement_ids) or sorted(engine.dataset.arrangements)
        version = engine.dataset.version
        for aid in ids:
            _deadline(context)
            try:
                if not _ID.match(aid):
                    raise InvalidArgument([("arrangement_ids", f"{aid[:80]!r} is not a valid id")])
                if aid not in engine.dataset.arrangements:
                    raise NotFound("arrangement", aid)
                score = (await self._score(engine, aid, on, scenario, view, seq)).score
            except Exception as exc:
                err = to_service_error(exc)
                if err is None:
                    raise
                yield scoring_pb2.StreamScoreArrangementsResponse(
                    error=err.to_status(),
                    error_arrangement_id=aid,
                    dataset_version=version,
                    store_version=seq,
                )
                continue
            yield scoring_pb2.StreamScoreArrangementsResponse(
                score=score, dataset_version=version, store_version=seq
            )

    async def SimulateOverlay(
        self, request: scoring_pb2.SimulateOverlayRequest, context: Ctx
    ) -> scoring_pb2.SimulateOverlayResponse:
        engine = self.state.engine
        check, on, scenario, view = self._common(
            engine, request.as_of, request.scenario, request.view
        )
        ov = request.overlay
        overlay: Overlay | None = None
        try:
            overlay = parse_overlay(
                ov.document,
                origin="overlay",
                arrangement=ov.arrangement_id or None,
                id=ov.id or None,
                description=ov.description or None,
            )
        except DatasetError as exc:
            outside = (
                ("arrangement", ov.arrangement_id),
                ("id", ov.id),
                ("description", ov.description),
            )
            given = {key for key, value in outside if value}
            for issue in exc.issues:
                check.add(_overlay_field(issue, given), issue.message)
        check.done()
        assert overlay is not None
        added = {a.get("id") for a in overlay.add.arrangements}
        if (
            overlay.arrangement not in engine.dataset.arrangements
            and overlay.arrangement not in added
        ):
            raise NotFound("arrangement", overlay.arrangement)
        cache_key = (engine.dataset.version, "overlay", overlay.digest(), on, scenario, view)

        def run() -> types_pb2.ArrangementScore:
            return score_to_proto(
                engine.score(overlay.arrangement, on, scenario, view=view, overlay=overlay)
            )

        try:
            score = await self.state.cached(cache_key, run)
        except DatasetError as exc:  # the overlay does not apply to this dataset
            raise InvalidArgument([(_applied_field(i), str(i)) for i in exc.issues[:20]]) from None
        return scoring_pb2.SimulateOverlayResponse(
            score=score, dataset_version=engine.dataset.version
        )

    async def ListScenarios(
        self, request: scoring_pb2.ListScenariosRequest, context: Ctx
    ) -> scoring_pb2.ListScenariosResponse:
        engine = self.state.engine
        check = _Check()
        version = engine.dataset.version
        pack_id = check.pack_id(request.pack_id)
        filters = f"pack={pack_id}" if pack_id else ""
        offset, size = _page(check, version, filters, request.page_size, request.page_token)
        check.done()
        ps = _pack_set(engine, pack_id)
        items, nxt = _slice(ps.scenarios.scenarios, offset, size, version, filters)
        return scoring_pb2.ListScenariosResponse(
            scenarios=[scenario_to_proto(s) for s in items],
            next_page_token=nxt,
            scenario_set_version=ps.scenarios.content_hash,
            dataset_version=version,
        )

    async def ListPolicyPacks(
        self, request: scoring_pb2.ListPolicyPacksRequest, context: Ctx
    ) -> scoring_pb2.ListPolicyPacksResponse:
        engine = self.state.engine
        check = _Check()
        version = engine.dataset.version
        offset, size = _page(check, version, "", request.page_size, request.page_token)
        check.done()
        items, nxt = _slice(engine.packs, offset, size, version, "")
        return scoring_pb2.ListPolicyPacksResponse(
            policy_packs=[pack_to_proto(ps.pack, summary=True) for ps in items],
            next_page_token=nxt,
            dataset_version=version,
        )

    async def GetPolicyPack(
        self, request: scoring_pb2.GetPolicyPackRequest, context: Ctx
    ) -> scoring_pb2.GetPolicyPackResponse:
        engine = self.state.engine
        check = _Check()
        on = check.date("as_of", request.as_of)
        pack_id = check.pack_id(request.pack_id)
        check.done()
        whole = _pack_set(engine, pack_id).pack
        pack = whole.in_force(on) if request.as_of else whole
        return scoring_pb2.GetPolicyPackResponse(
            pack=pack_to_proto(pack), dataset_version=engine.dataset.version
        )

    async def GetTimeline(
        self, request: scoring_pb2.GetTimelineRequest, context: Ctx
    ) -> scoring_pb2.GetTimelineResponse:
        engine = self.state.engine
        check = _Check()
        check.id("arrangement_id", request.arrangement_id)
        start = check.date("from_date", request.from_date)
        end = check.date("to_date", request.to_date) if request.to_date else default_end(start)
        if not check.violations and start > end:
            check.add("to_date", f"{end} is before from_date {start}")
        scenario = _scenario(check, engine, request.scenario)
        check.done()
        if request.arrangement_id not in engine.dataset.arrangements:
            raise NotFound("arrangement", request.arrangement_id)
        version = engine.dataset.version
        remaining = context.time_remaining()
        # under a deadline, stop scoring with a fifth of it left: the answer says where it
        # stopped, and such a partial answer is not cached
        budget = None if remaining is None else 0.8 * remaining
        key = (version, "timeline", request.arrangement_id, start, end, scenario)

        def run() -> scoring_pb2.Timeline:
            t = timeline(engine, request.arrangement_id, start, end, scenario, time_budget=budget)
            msg = timeline_to_proto(t)
            if t.truncated_by == "time_budget":
                raise _Partial(msg)
            return msg

        try:
            got = await self.state.cached(key, run)
        except _Partial as partial:
            got = partial.timeline
        return scoring_pb2.GetTimelineResponse(timeline=got, dataset_version=version)


# --------------------------------------------------------------------------- graph


class GraphServicer(graph_pb2_grpc.GraphServiceServicer):
    def __init__(self, state: ServingState, settings: Settings) -> None:
        self.state, self.settings = state, settings

    async def GetEntity(
        self, request: graph_pb2.GetEntityRequest, context: Ctx
    ) -> graph_pb2.GetEntityResponse:
        engine, seq = await known_at_engine(self.state, request)
        check = _Check()
        check.id("entity_id", request.entity_id)
        on = check.date("as_of", request.as_of)
        check.done()
        e = engine.dataset.entities.get(request.entity_id)
        if e is None:
            raise NotFound("entity", request.entity_id)
        return graph_pb2.GetEntityResponse(
            entity=entity_to_proto(e, on),
            dataset_version=engine.dataset.version,
            store_version=seq,
        )

    async def ListEntities(
        self, request: graph_pb2.ListEntitiesRequest, context: Ctx
    ) -> graph_pb2.ListEntitiesResponse:
        engine, seq = await known_at_engine(self.state, request)
        check = _Check()
        on = check.date("as_of", request.as_of)
        country = check.country("country", request.country)
        check.choice("kind", request.kind, {k.value for k in EntityKind})
        check.id("list_id", request.list_id, required=False)
        filters = f"{country}|{request.kind}|{request.list_id}|{request.as_of}"
        version = engine.dataset.version
        offset, size = _page(check, version, filters, request.page_size, request.page_token)
        check.done()
        entities = engine.dataset.entities
        ids = sorted(entities)  # the ids only: a snapshot-loaded dataset builds entities on use
        if country or request.kind or request.list_id:

            def wanted(e: Any) -> bool:
                return (
                    (not country or e.country == country)
                    and (not request.kind or e.kind.value == request.kind)
                    and (not request.list_id or e.listed_on(request.list_id, on))
                )

            ids = [eid for eid in ids if wanted(entities[eid])]
        matches = ids
        items, nxt = _slice(matches, offset, size, version, filters)
        return graph_pb2.ListEntitiesResponse(
            entities=[entity_to_proto(entities[eid], on) for eid in items],
            next_page_token=nxt,
            total_size=len(matches),
            dataset_version=version,
            store_version=seq,
        )

    async def GetArrangement(
        self, request: graph_pb2.GetArrangementRequest, context: Ctx
    ) -> graph_pb2.GetArrangementResponse:
        engine, seq = await known_at_engine(self.state, request)
        check = _Check()
        check.id("arrangement_id", request.arrangement_id)
        check.done()
        a = engine.dataset.arrangements.get(request.arrangement_id)
        if a is None:
            raise NotFound("arrangement", request.arrangement_id)
        return graph_pb2.GetArrangementResponse(
            arrangement=arrangement_to_proto(a),
            dataset_version=engine.dataset.version,
            store_version=seq,
        )

    async def ListArrangements(
        self, request: graph_pb2.ListArrangementsRequest, context: Ctx
    ) -> graph_pb2.ListArrangementsResponse:
        engine, seq = await known_at_engine(self.state, request)
        check = _Check()
        on = check.date("as_of", request.as_of)
        country = check.country("country", request.country)
        check.choice("status", request.status, {st.value for st in ArrangementStatus})
        check.choice("product", request.product, {p.value for p in Product})
        filters = f"{country}|{request.status}|{request.product}|{request.as_of}"
        version = engine.dataset.version
        offset, size = _page(check, version, filters, request.page_size, request.page_token)
        check.done()

        def status_ok(a: Any) -> bool:
            st = a.status_on(on)
            return st is not None and st.status.value == request.status

        matches = [
            a
            for _, a in sorted(engine.dataset.arrangements.items())
            if (not country or a.country == country)
            and (not request.product or request.product in {p.value for p in a.products})
            and (not request.status or status_ok(a))
        ]
        items, nxt = _slice(matches, offset, size, version, filters)
        return graph_pb2.ListArrangementsResponse(
            arrangements=[arrangement_to_proto(a) for a in items],
            next_page_token=nxt,
            total_size=len(matches),
            dataset_version=version,
            store_version=seq,
        )

    async def GetOwnership(
        self, request: graph_pb2.GetOwnershipRequest, context: Ctx
    ) -> graph_pb2.GetOwnershipResponse:
        engine, seq = await known_at_engine(self.state, request)
        check = _Check()
        check.id("entity_id", request.entity_id)
        on = check.date("as_of", request.as_of)
        if request.max_depth < 0:
            check.add("max_depth", "must not be negative")
        if request.max_paths < 0:
            check.add("max_paths", "must not be negative")
        check.done()
        depth = request.max_depth or DEFAULT_DEPTH
        paths = request.max_paths or DEFAULT_PATHS
        if depth > self.settings.max_path_depth:
            raise ResourceExhausted(
                "max_depth", f"{depth} exceeds the server's cap of {self.settings.max_path_depth}"
            )
        if paths > self.settings.max_paths:
            raise ResourceExhausted(
                "max_paths", f"{paths} exceeds the server's cap of {self.settings.max_paths}"
            )
        if request.entity_id not in engine.dataset.entities:
            raise NotFound("entity", request.entity_id)
        cache_key = (engine.dataset.version, "ownership", request.entity_id, on, depth, paths)

        def run() -> graph_pb2.OwnershipReport:
            report = engine.ownership(request.entity_id, on, max_depth=depth, max_paths=paths)
            return ownership_to_proto(report)

        report = await self.state.cached(cache_key, run)
        return graph_pb2.GetOwnershipResponse(
            report=report, dataset_version=engine.dataset.version, store_version=seq
        )
