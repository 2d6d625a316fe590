"""A typed Python client for georisk, thin over the generated stubs (typed by mypy-protobuf).

>>> from georisk.client import GeoriskClient                       # doctest: +SKIP
>>> with GeoriskClient("127.0.0.1:50051") as c:                     # doctest: +SKIP
...     s = c.score("ford-marshall")
...     print(s.technology.score, [v.rule for v in s.verdicts])

Errors come as :class:`GeoriskError` with the gRPC code, the message, and the field violations
of an INVALID_ARGUMENT (from the ``google.rpc.BadRequest`` detail).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from google.protobuf import field_mask_pb2, json_format, struct_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from georisk.v1 import (
    graph_pb2,
    graph_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
    render_pb2,
    render_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
    types_pb2,
)

__all__ = ["GeoriskClient", "GeoriskError", "Record", "health_check"]

VIEWS = {"basic": types_pb2.EXPLANATION_VIEW_BASIC, "full": types_pb2.EXPLANATION_VIEW_FULL}


class GeoriskError(Exception):
    """A call's error: its code and message, the request fields it refused (``violations``:
    (field, why) from ``BadRequest``) and, for NOT_FOUND, what was not found (``resource``:
    (type, name) from ``ResourceInfo``, e.g. ``("scenario", "iaa-adopted")``)."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        violations: list[tuple[str, str]] | None = None,
        resource: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code, self.message, self.violations = code, message, violations or []
        self.resource = resource

    @staticmethod
    def from_rpc(err: grpc.RpcError) -> GeoriskError:
        code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
        msg = err.details() if isinstance(err, grpc.Call) else str(err)
        try:
            st = rpc_status.from_call(err) if isinstance(err, grpc.Call) else None
        except ValueError:  # details inconsistent with the code: keep the code
            st = None
        if st is None:
            return GeoriskError(code, msg or "")
        return GeoriskError(code, msg or "", *_details(st))

    @staticmethod
    def from_status(st: Any) -> GeoriskError:
        """The error of a ``google.rpc.Status`` message (a stream item's ``error``)."""
        code = next((c for c in grpc.StatusCode if c.value[0] == st.code), grpc.StatusCode.UNKNOWN)
        return GeoriskError(code, st.message, *_details(st))


def _details(st: Any) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """The field violations and the resource not found in a ``google.rpc.Status``'s details."""
    violations: list[tuple[str, str]] = []
    resource = None
    for d in st.details:
        if d.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            d.Unpack(br)
            violations += [(v.field, v.description) for v in br.field_violations]
        elif d.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            ri = error_details_pb2.ResourceInfo()
            d.Unpack(ri)
            resource = (ri.resource_type, ri.resource_name)
    return violations, resource


def _channel(
    target: str,
    ca: Path | None,
    cert: Path | None,
    key: Path | None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.Channel:
    if ca is None and cert is None:
        return grpc.insecure_channel(target, options=list(options))
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes() if ca else None,
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return grpc.secure_channel(target, creds, options=list(options))


def health_check(
    target: str,
    *,
    service: str = "",
    timeout: float = 3.0,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
) -> str:
    """The standard health status name (SERVING, NOT_SERVING, …) or UNREACHABLE."""
    with _channel(target, ca, cert, key) as ch:
        try:
            stub: Any = health_pb2_grpc.HealthStub(ch)  # the typed stub lacks client methods
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as err:
            code = err.code() if isinstance(err, grpc.Call) else None
            return (
                "UNREACHABLE"
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                else f"ERROR {code.name if code else err}"
            )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))


def _struct(doc: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(doc)
    return s


class Record:
    """A record of a store-backed server: its name, document (a dict), etag, and the store and
    dataset versions of the answer."""

    def __init__(
        self,
        name: str,
        document: dict[str, Any],
        etag: str,
        store_version: int,
        dataset_version: str = "",
    ) -> None:
        self.name, self.document, self.etag = name, document, etag
        self.store_version, self.dataset_version = store_version, dataset_version

    @staticmethod
    def of(msg: records_pb2.Record, store_version: int, dataset_version: str = "") -> Record:
        doc = json_format.MessageToDict(msg.document)
        return Record(msg.name, doc, msg.etag, store_version, dataset_version)

    def __repr__(self) -> str:
        return f"Record({self.name!r}, etag={self.etag!r}, store_version={self.store_version})"


class GeoriskClient:
    """Synchronous client; use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        ca: Path | None = None,
        cert: Path | None = None,
        key: Path | None = None,
        timeout: float = 30.0,
        max_message_bytes: int = 128 * 1024 * 1024,  # the server's default response limit
    ) -> None:
        opts = [("grpc.max_receive_message_length", max_message_bytes)]
        self._ch = _channel(target, ca, cert, key, opts)
        self._scoring = scoring_pb2_grpc.ScoringServiceStub(self._ch)
        self._graph = graph_pb2_grpc.GraphServiceStub(self._ch)
        self._records = records_pb2_grpc.RecordServiceStub(self._ch)
        self._render = render_pb2_grpc.RenderServiceStub(self._ch)
        self._health: Any = health_pb2_grpc.HealthStub(self._ch)  # stubs lack client methods
        self._md = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout

    def __enter__(self) -> GeoriskClient:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._ch.close()

    def _pages(self, fn: Any, make: Any, items: str) -> Iterator[Any]:
        """Follow ``next_page_token`` until the last page; ``make(token)`` builds a request."""
        token = ""
        while True:
            r = self._call(fn, make(token))
            yield from getattr(r, items)
            token = r.next_page_token
            if not token:
                return

    def _call(self, fn: Any, request: Any) -> Any:
        try:
            return fn(request, timeout=self.timeout, metadata=self._md)
        except grpc.RpcError as err:
            raise GeoriskError.from_rpc(err) from None

    # ------------------------------------------------------------------ scoring

    def score(
        self, arrangement_id: str, *, as_of: str = "", scenario: str = "", view: str = "basic"
    ) -> types_pb2.ArrangementScore:
        r: scoring_pb2.ScoreArrangementResponse = self._call(
            self._scoring.ScoreArrangement,
            scoring_pb2.ScoreArrangementRequest(
                arrangement_id=arrangement_id, as_of=as_of, scenario=scenario, view=VIEWS[view]
            ),
        )
        return r.score

    def batch_score(
        self,
        arrangement_ids: Sequence[str],
        *,
        as_of: str = "",
        scenario: str = "",
        view: str = "basic",
    ) -> list[types_pb2.ArrangementScore]:
        r: scoring_pb2.BatchScoreArrangementsResponse = self._call(
            self._scoring.BatchScoreArrangements,
            scoring_pb2.BatchScoreArrangementsRequest(
                arrangement_ids=list(arrangement_ids),
                as_of=as_of,
                scenario=scenario,
                view=VIEWS[view],
            ),
        )
        return list(r.scores)

    def stream_score(
        self,
        arrangement_ids: Sequence[str] = (),
        *,
        as_of: str = "",
        scenario: str = "",
        view: str = "basic",
        timeout: float | None = None,
    ) -> Iterator[scoring_pb2.StreamScoreArrangementsResponse]:
        """Scores (or per-item errors) as they come; an empty list streams every arrangement."""
        req = scoring_pb2.StreamScoreArrangementsRequest(
            arrangement_ids=list(arrangement_ids), as_of=as_of, scenario=scenario, view=VIEWS[view]
        )
        try:
            yield from self._scoring.StreamScoreArrangements(
                req, timeout=timeout, metadata=self._md
            )
        except grpc.RpcError as err:
            raise GeoriskError.from_rpc(err) from None

    def simulate(
        self,
        document: str,
        *,
        arrangement_id: str = "",
        as_of: str = "",
        scenario: str = "",
        view: str = "basic",
    ) -> types_pb2.ArrangementScore:
        r: scoring_pb2.SimulateOverlayResponse = self._call(
            self._scoring.SimulateOverlay,
            scoring_pb2.SimulateOverlayRequest(
                overlay=scoring_pb2.Overlay(document=document, arrangement_id=arrangement_id),
                as_of=as_of,
                scenario=scenario,
                view=VIEWS[view],
            ),
        )
        return r.score

    def render(
        self,
        arrangement_id: str,
        fmt: str = "html",
        *,
        as_of: str = "",
        scenario: str = "",
        max_nodes: int = 0,
        skip_timeline: bool = False,
        overlay_document: str = "",
    ) -> render_pb2.RenderArrangementResponse:
        """An arrangement's chart or memo (``fmt``: svg, png, html, dot, graphml or gexf):
        ``.data`` (bytes), ``.media_type`` and ``.file_name`` (docs/explain.md)."""
        try:
            kind = render_pb2.RenderFormat.Value(f"RENDER_FORMAT_{fmt.upper()}")
        except ValueError:
            raise GeoriskError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"unknown format {fmt!r}",
                [("format", "one of svg, png, html, dot, graphml, gexf")],
            ) from None
        req = render_pb2.RenderArrangementRequest(
            arrangement_id=arrangement_id,
            as_of=as_of,
            scenario=scenario,
            format=kind,
            max_nodes=max_nodes,
            skip_timeline=skip_timeline,
        )
        if overlay_document:
            req.overlay.CopyFrom(
                scoring_pb2.Overlay(document=overlay_document, arrangement_id=arrangement_id)
            )
        r: render_pb2.RenderArrangementResponse = self._call(self._render.RenderArrangement, req)
        return r

    def scenarios(self, pack_id: str = "") -> list[scoring_pb2.Scenario]:
        """The scenarios of pack ``pack_id`` (empty: the primary pack), in their set's order."""
        return list(
            self._pages(
                self._scoring.ListScenarios,
                lambda t: scoring_pb2.ListScenariosRequest(page_token=t, pack_id=pack_id),
                "scenarios",
            )
        )

    def policy_packs(self) -> list[scoring_pb2.PolicyPack]:
        """The packs the server scores with, the primary first (summaries: no rules)."""
        return list(
            self._pages(
                self._scoring.ListPolicyPacks,
                lambda t: scoring_pb2.ListPolicyPacksRequest(page_token=t),
                "policy_packs",
            )
        )

    def policy_pack(self, as_of: str = "", pack_id: str = "") -> scoring_pb2.PolicyPack:
        """Pack ``pack_id`` (empty: the primary pack), whole or as in force on ``as_of``."""
        r: scoring_pb2.GetPolicyPackResponse = self._call(
            self._scoring.GetPolicyPack,
            scoring_pb2.GetPolicyPackRequest(as_of=as_of, pack_id=pack_id),
        )
        return r.pack

    def timeline(
        self, arrangement_id: str, *, from_date: str = "", to_date: str = "", scenario: str = ""
    ) -> scoring_pb2.Timeline:
        """When the arrangement's verdicts, bands or credit change over ``[from_date, to_date]``
        (empty: today, and five years on), with the events that cause each change; a long
        window may come back ``truncated`` (see ``covered_to`` and ``truncated_by``)."""
        r: scoring_pb2.GetTimelineResponse = self._call(
            self._scoring.GetTimeline,
            scoring_pb2.GetTimelineRequest(
                arrangement_id=arrangement_id,
                from_date=from_date,
                to_date=to_date,
                scenario=scenario,
            ),
        )
        return r.timeline

    # ------------------------------------------------------------------ graph

    def entity(self, entity_id: str, as_of: str = "") -> graph_pb2.Entity:
        r: graph_pb2.GetEntityResponse = self._call(
            self._graph.GetEntity, graph_pb2.GetEntityRequest(entity_id=entity_id, as_of=as_of)
        )
        return r.entity

    def entities(
        self,
        *,
        country: str = "",
        kind: str = "",
        list_id: str = "",
        as_of: str = "",
        page_size: int = 200,
    ) -> Iterator[graph_pb2.Entity]:
        return self._pages(
            self._graph.ListEntities,
            lambda t: graph_pb2.ListEntitiesRequest(
                country=country,
                kind=kind,
                list_id=list_id,
                as_of=as_of,
                page_size=page_size,
                page_token=t,
            ),
            "entities",
        )

    def arrangement(self, arrangement_id: str) -> graph_pb2.Arrangement:
        r: graph_pb2.GetArrangementResponse = self._call(
            self._graph.GetArrangement,
            graph_pb2.GetArrangementRequest(arrangement_id=arrangement_id),
        )
        return r.arrangement

    def arrangements(
        self,
        *,
        country: str = "",
        status: str = "",
        product: str = "",
        as_of: str = "",
        page_size: int = 200,
    ) -> Iterator[graph_pb2.Arrangement]:
        return self._pages(
            self._graph.ListArrangements,
            lambda t: graph_pb2.ListArrangementsRequest(
                country=country,
                status=status,
                product=product,
                as_of=as_of,
                page_size=page_size,
                page_token=t,
            ),
            "arrangements",
        )

    def ownership(
        self, entity_id: str, *, as_of: str = "", max_depth: int = 0, max_paths: int = 0
    ) -> graph_pb2.OwnershipReport:
        r: graph_pb2.GetOwnershipResponse = self._call(
            self._graph.GetOwnership,
            graph_pb2.GetOwnershipRequest(
                entity_id=entity_id, as_of=as_of, max_depth=max_depth, max_paths=max_paths
            ),
        )
        return r.report

    # ------------------------------------------------------------------ records (a store)

    def record(self, name: str) -> Record:
        """The record ``name`` (``links/ID``, ``entities/ID``, …) as a dict, with its etag."""
        r: records_pb2.GetRecordResponse = self._call(
            self._records.GetRecord, records_pb2.GetRecordRequest(name=name)
        )
        return Record.of(r.record, r.store_version)

    def create_record(
        self, collection: str, document: dict[str, Any], *, reason: str, request_id: str = ""
    ) -> Record:
        """Create a record in ``collection`` (``links``, ``entities``, ``sources``,
        ``arrangements``); ``document`` as a JSONL line of the dataset (data/README.md)."""
        r: records_pb2.CreateRecordResponse = self._call(
            self._records.CreateRecord,
            records_pb2.CreateRecordRequest(
                parent=collection,
                record=records_pb2.Record(document=_struct(document)),
                reason=reason,
                request_id=request_id,
            ),
        )
        return Record.of(r.record, r.store_version, r.dataset_version)

    def update_record(
        self,
        name: str,
        changes: dict[str, Any],
        *,
        etag: str,
        reason: str,
        clear: Sequence[str] = (),
        request_id: str = "",
    ) -> Record:
        """Set the fields of ``changes`` (and clear those of ``clear``) on the record ``name``
        whose current etag is ``etag``; a stale etag raises ABORTED."""
        r: records_pb2.UpdateRecordResponse = self._call(
            self._records.UpdateRecord,
            records_pb2.UpdateRecordRequest(
                record=records_pb2.Record(name=name, document=_struct(changes), etag=etag),
                update_mask=field_mask_pb2.FieldMask(paths=[*changes, *clear]),
                reason=reason,
                request_id=request_id,
            ),
        )
        return Record.of(r.record, r.store_version, r.dataset_version)

    def end_record(
        self,
        name: str,
        valid_to: str,
        *,
        etag: str,
        reason: str,
        list_id: str = "",
        request_id: str = "",
    ) -> Record:
        """End a link (or an entity's membership of ``list_id``) on ``valid_to``."""
        r: records_pb2.EndRecordResponse = self._call(
            self._records.EndRecord,
            records_pb2.EndRecordRequest(
                name=name,
                valid_to=valid_to,
                etag=etag,
                list_id=list_id,
                reason=reason,
                request_id=request_id,
            ),
        )
        return Record.of(r.record, r.store_version, r.dataset_version)

    def changes(self, name: str = "", *, page_size: int = 0) -> Iterator[records_pb2.Change]:
        """The change log (of one record when ``name`` is given), oldest first, every page."""
        return self._pages(
            self._records.ListChanges,
            lambda t: records_pb2.ListChangesRequest(name=name, page_size=page_size, page_token=t),
            "changes",
        )

    def health(self, service: str = "") -> str:
        r: health_pb2.HealthCheckResponse = self._call(
            self._health.Check, health_pb2.HealthCheckRequest(service=service)
        )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(r.status))
