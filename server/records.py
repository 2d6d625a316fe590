"""RecordService: writes to a store-backed server's dataset, and its change log (issue 15).

Translation only: a request is checked and turned into a call of :class:`georisk.store.Store`
(run off the event loop), the store's errors into statuses whose field violations name the
request's fields (``record.document.share``, ``reason``, ``update_mask``, ``record.etag``), and
after a write the server serves the new version before it answers (read-your-writes). Who wrote
comes from the caller's authenticated identity (:mod:`.identity`); a reader's write is
PERMISSION_DENIED and changes nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from google.protobuf import json_format, struct_pb2, timestamp_pb2

from georisk.server.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServiceError,
    StaleEtag,
    store_unavailable,
)
from georisk.server.identity import Identity, caller
from georisk.server.settings import Settings
from georisk.server.state import ServingState
from georisk.v1 import records_pb2, records_pb2_grpc

if TYPE_CHECKING:  # the store (SQLAlchemy, Alembic) is imported only by a server that has one
    from georisk.store import Change, Store, StoreError, Written

__all__ = ["COLLECTIONS", "RecordServicer"]

Ctx = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")

#: resource collection → record kind of the store
COLLECTIONS = {
    "sources": "source",
    "entities": "entity",
    "links": "link",
    "arrangements": "arrangement",
}
_COLLECTION_OF = {k: c for c, k in COLLECTIONS.items()}
DEFAULT_PAGE, MAX_PAGE = 100, 1000


def _struct(doc: dict[str, Any] | None) -> struct_pb2.Struct | None:
    if doc is None:
        return None
    s = struct_pb2.Struct()
    s.update(json.loads(json.dumps(doc, default=str)))
    return s


def _doc(s: struct_pb2.Struct) -> dict[str, Any]:
    doc = json_format.MessageToDict(s)
    return doc if isinstance(doc, dict) else {}


def _record(kind: str, doc: dict[str, Any], etag: str) -> records_pb2.Record:
    return records_pb2.Record(
        name=f"{_COLLECTION_OF[kind]}/{doc.get('id', '')}", document=_struct(doc), etag=etag
    )


def _name(field: str, name: str) -> tuple[str, str]:
    """``links/ID`` → (kind, id); INVALID_ARGUMENT naming ``field`` otherwise."""
    coll, sep, rid = name.partition("/")
    if not sep or coll not in COLLECTIONS or not rid or "/" in rid:
        raise InvalidArgument(
            [
                (
                    field,
                    f"{name[:120]!r} is not COLLECTION/ID with COLLECTION one of "
                    f"{', '.join(COLLECTIONS)}",
                )
            ]
        )
    return COLLECTIONS[coll], rid


def _service_error(exc: StoreError, kind: str, rid: str, doc_prefix: str) -> ServiceError:
    """A store error as the status of this request, its field named as the request names it:
    ``link.share`` → ``{doc_prefix}share``, ``link.etag`` → ``record.etag`` (or ``etag``)."""

    def request_field(path: str) -> str:
        head, dot, rest = path.partition(".")
        if not (dot and head == kind):
            return path or "record"
        if rest == "etag":
            return "record.etag" if doc_prefix else "etag"
        return doc_prefix + rest

    fld = request_field(exc.field)
    name = f"{_COLLECTION_OF.get(kind, kind)}/{rid}"
    if exc.status == "INVALID_ARGUMENT":
        paths = getattr(exc, "violations", None) or [(exc.field, exc.reason)]
        return InvalidArgument([(request_field(f), why) for f, why in paths[:20]])
    if exc.status == "ABORTED":
        return StaleEtag(fld, exc.reason)
    if exc.status == "NOT_FOUND":
        return NotFound(kind, name, str(exc))
    if exc.status == "ALREADY_EXISTS":
        return AlreadyExists(kind, name, str(exc))
    return FailedPrecondition(str(exc))


def _page_token(after: int, name: str) -> str:
    raw = json.dumps({"a": after, "n": name}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(token: str, name: str) -> int:
    if not token:
        return 0
    try:
        if len(token) > 512:
            raise ValueError("too long")
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = doc["a"]
        if not isinstance(after, int) or after < 0:
            raise ValueError("malformed")
    except (ValueError, KeyError, TypeError, RecursionError):
        raise InvalidArgument([("page_token", "not a token returned by this service")]) from None
    if doc.get("n") != name:
        raise InvalidArgument(
            [("page_token", "was issued for another name; keep it unchanged while paging")]
        )
    return after


def _change(c: Change) -> records_pb2.Change:
    at = timestamp_pb2.Timestamp()
    at.FromDatetime(c.at.astimezone(dt.UTC).replace(tzinfo=None))
    return records_pb2.Change(
        store_version=c.seq,
        record_time=at,
        actor=c.actor,
        reason=c.reason,
        request_id=c.request_id or "",
        operation=c.op,
        name=f"{_COLLECTION_OF.get(c.kind, c.kind)}/{c.id}",
        before=_struct(c.before),
        after=_struct(c.after),
        dataset_version=c.dataset_version,
    )


class RecordServicer(records_pb2_grpc.RecordServiceServicer):
    def __init__(self, state: ServingState, settings: Settings) -> None:
        self.state, self.settings = state, settings
        self._mtls_roles = dict(settings.mtls_roles)

    def _who(self, context: Ctx, role: str) -> tuple[Store, Identity]:
        store = self.state.store
        if store is None:
            raise FailedPrecondition(
                "this server serves a dataset directory, not a store: writes need "
                "`georisk serve --store URL` (docs/store.md)"
            )
        ident = caller(
            context.invocation_metadata(),
            context.auth_context(),
            self.settings.token_identities,
            self._mtls_roles,
        )
        if ident is None or not ident.may(role):
            who = ident.name if ident else "the caller"
            have = ident.role if ident else "none"
            raise PermissionDenied(f"{who} (role {have}) may not {role_verb(role)}")
        return store, ident

    async def _store_call(
        self, fn: Callable[[], T], kind: str, rid: str, doc_prefix: str, *, read: bool = False
    ) -> T:
        """``fn()`` off the loop; a store's refusal as this request's status, a database that
        cannot be reached as UNAVAILABLE (:func:`~georisk.server.errors.store_unavailable`)."""
        from georisk.store import StoreError  # imported already: the server has a store

        try:
            run = self.state.run_store_read if read else self.state.run_store
            return await run(fn)
        except StoreError as exc:
            raise _service_error(exc, kind, rid, doc_prefix) from None
        except Exception as exc:
            down = store_unavailable(exc)
            if down is None:
                raise
            raise down from None

    async def _written(self, kind: str, w: Written) -> tuple[records_pb2.Record, int, str]:
        """Serve the version the write made before answering (read-your-writes)."""
        await self.state.refresh()
        return _record(kind, w.doc, w.etag), w.version, self.state.version

    async def GetRecord(
        self, request: records_pb2.GetRecordRequest, context: Ctx
    ) -> records_pb2.GetRecordResponse:
        store, _ = self._who(context, "reader")
        kind, rid = _name("name", request.name)
        doc, etag = await self._store_call(lambda: store.get(kind, rid), kind, rid, "", read=True)
        return records_pb2.GetRecordResponse(
            record=_record(kind, doc, etag), store_version=self.state.store_version
        )

    async def CreateRecord(
        self, request: records_pb2.CreateRecordRequest, context: Ctx
    ) -> records_pb2.CreateRecordResponse:
        store, who = self._who(context, "writer")
        if request.parent not in COLLECTIONS:
            raise InvalidArgument(
                [("parent", f"{request.parent[:60]!r} is not one of {', '.join(COLLECTIONS)}")]
            )
        kind = COLLECTIONS[request.parent]
        doc = _doc(request.record.document)
        rid = str(doc.get("id", ""))
        w = await self._store_call(
            lambda: store.create(
                kind,
                doc,
                actor=who.name,
                reason=request.reason,
                request_id=request.request_id or None,
            ),
            kind,
            rid,
            "record.document.",
        )
        rec, version, dsv = await self._written(kind, w)
        return records_pb2.CreateRecordResponse(
            record=rec, store_version=version, dataset_version=dsv
        )

    async def UpdateRecord(
        self, request: records_pb2.UpdateRecordRequest, context: Ctx
    ) -> records_pb2.UpdateRecordResponse:
        store, who = self._who(context, "writer")
        kind, rid = _name("record.name", request.record.name)
        patch = _doc(request.record.document)
        mask = list(request.update_mask.paths) or None
        w = await self._store_call(
            lambda: store.update(
                kind,
                rid,
                patch,
                update_mask=mask,
                etag=request.record.etag or None,
                actor=who.name,
                reason=request.reason,
                request_id=request.request_id or None,
            ),
            kind,
            rid,
            "record.document.",
        )
        rec, version, dsv = await self._written(kind, w)
        return records_pb2.UpdateRecordResponse(
            record=rec, store_version=version, dataset_version=dsv
        )

    async def EndRecord(
        self, request: records_pb2.EndRecordRequest, context: Ctx
    ) -> records_pb2.EndRecordResponse:
        store, who = self._who(context, "writer")
        kind, rid = _name("name", request.name)
        try:
            valid_to = dt.date.fromisoformat(request.valid_to)
        except ValueError:
            raise InvalidArgument(
                [("valid_to", f"{request.valid_to[:40]!r} is not an ISO date (YYYY-MM-DD)")]
            ) from None
        w = await self._store_call(
            lambda: store.end(
                kind,
                rid,
                valid_to=valid_to,
                etag=request.etag or None,
                actor=who.name,
                reason=request.reason,
                list_id=request.list_id or None,
                request_id=request.request_id or None,
            ),
            kind,
            rid,
            "",
        )
        rec, version, dsv = await self._written(kind, w)
        return records_pb2.EndRecordResponse(record=rec, store_version=version, dataset_version=dsv)

    async def ListChanges(
        self, request: records_pb2.ListChangesRequest, context: Ctx
    ) -> records_pb2.ListChangesResponse:
        store, _ = self._who(context, "reader")
        kind: str | None = None
        rid: str | None = None
        if request.name:
            kind, rid = _name("name", request.name)
        if request.page_size < 0:
            raise InvalidArgument([("page_size", "must not be negative")])
        size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        after = _after(request.page_token, request.name)
        page, nxt = await self._store_call(
            lambda: store.changes(after_seq=after, page_size=size, kind=kind, id=rid),
            kind or "",
            rid or "",
            "",
            read=True,
        )
        return records_pb2.ListChangesResponse(
            changes=[_change(c) for c in page],
            next_page_token=_page_token(nxt, request.name) if nxt is not None else "",
            store_version=self.state.store_version,
        )


def role_verb(role: str) -> str:
    return {"reader": "read", "writer": "write records", "admin": "administer"}[role]
