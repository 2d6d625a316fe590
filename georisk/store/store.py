"""The durable store: records, their history and the change log, on SQLite or PostgreSQL.

See :mod:`georisk.store` for the worked example and ``docs/store.md`` for the design.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.engine import Connection, RowMapping

from georisk.scoring.dataset import Dataset, DatasetError, DatasetIssue, assemble, load_dataset
from georisk.scoring.dataset.readers import validate_record
from georisk.scoring.model import Entity
from georisk.store import docs
from georisk.store.db import WRITE, check_revision, connect, lock_for_write
from georisk.store.errors import (
    AlreadyExists,
    Conflict,
    IdempotencyMismatch,
    InvalidWrite,
    NotFound,
    StoreError,
    StoreNotEmpty,
)
from georisk.store.follow import versioned
from georisk.store.schema import changes, records

__all__ = ["Change", "Store", "Written", "open_store"]

#: the ``file`` of issues about stored records (their ``record`` is ``links/ID`` and the like)
STORE_FILE = "store"
#: changes caught up at once by the incremental check (more: the write is checked whole)
FOLLOW_AT_MOST = 1000
#: the incremental check's dataset is loaded whole again after this many edits
REBASE_AFTER = 5000
_EMPTY_VERSION = "sha256:" + hashlib.sha256(b"").hexdigest()[:16]


@dataclass(frozen=True)
class Written:
    """What a write returns: the record's document after it, its new etag, the store version
    (the seq of the change that wrote it) and the ``Dataset.version`` after it (what scores
    given on it carry)."""

    doc: dict[str, Any]
    etag: str
    version: int
    dataset_version: str


@dataclass(frozen=True)
class Change:
    """One entry of the change log: who wrote what, when, why, before and after."""

    seq: int
    at: dt.datetime
    actor: str
    reason: str
    request_id: str | None
    op: str  # create | update | end
    kind: str
    id: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    #: the Dataset.version of the store as known at this seq (what scores carry)
    dataset_version: str


def open_store(url: str, *, now: Callable[[], dt.datetime] | None = None) -> Store:
    """Open the store at ``url`` (``sqlite:///PATH`` or ``postgresql://…``), which must be
    migrated (:func:`georisk.store.migrate`); raises :class:`~.errors.SchemaOutdated`
    otherwise. ``now`` is the clock of the change log (UTC; tests may pass their own)."""
    engine = connect(url)
    try:
        with engine.connect() as conn:
            check_revision(conn, url)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, url, now or (lambda: dt.datetime.now(dt.UTC)))


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _next_version(prev: str, op: str, kind: str, rid: str, after: str, seq: int) -> str:
    """The Dataset.version after a change: a hash chain over the changes (so equal versions
    mean equal histories) with the seq beside it for the reader."""
    h = hashlib.sha256("\0".join((prev, op, kind, rid, after)).encode()).hexdigest()[:16]
    return f"sha256:{h}@{seq}"


#: the PostgreSQL channel a write notifies (:meth:`Store.wait_for_change`)
NOTIFY_CHANNEL = "georisk_changes"


class Store:
    """A store of the dataset's records with their history (:func:`open_store` opens one)."""

    def __init__(self, engine: Engine, url: str, now: Callable[[], dt.datetime]) -> None:
        self._engine = engine
        self.url = url
        self._now = now
        #: (store version, the dataset of that version, edits since it was loaded whole): what
        #: the next write is checked against incrementally (see :meth:`adopt`)
        self._checked: tuple[int, Dataset, int] | None = None
        self._checked_lock = threading.Lock()
        self._listener: Any = None  # a psycopg connection LISTENing (wait_for_change)

    def adopt(self, seq: int, ds: Dataset) -> None:
        """Check the next writes against ``ds``, the dataset of store version ``seq`` (e.g. the
        one a server serves), incrementally: only what a write touches is re-checked, with
        :func:`georisk.scoring.overlay.apply_overlay` (the loader's checks, limited to the
        records a change can break), so a write costs what it changes, not the dataset's size.
        A refusal is answered from the same check when its issues are the written record's,
        else checked whole again so that it is worded exactly as the loader words it. Without a
        dataset adopted, the first write is checked whole and its result kept for the next."""
        with self._checked_lock:
            if self._checked is None or self._checked[0] < seq:
                self._checked = (seq, ds, 0)

    def wait_for_change(self, timeout: float) -> bool:
        """Block until another process commits a write (True) or ``timeout`` seconds pass
        (False); a replica then refreshes. On PostgreSQL every write sends
        ``NOTIFY georisk_changes`` in its transaction (delivered at commit) and this listens on
        a connection of its own, so a replica sees a write at once rather than at its next
        poll; a lost connection (a database restart) is opened again at the next call, and the
        poll that follows each timeout catches what was missed meanwhile. On SQLite (one
        machine, no notifications) it sleeps ``timeout``: polling.
        """
        if self._engine.dialect.name != "postgresql":
            time.sleep(timeout)
            return False
        try:
            if self._listener is None or self._listener.closed:
                import psycopg

                url = self._engine.url.set(drivername="postgresql")
                self._listener = psycopg.connect(
                    url.render_as_string(hide_password=False), autocommit=True
                )
                self._listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except Exception:  # the database went away: poll until it is back
            self._close_listener()
            time.sleep(timeout)
            return False

    def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken
                conn.close()

    def close(self) -> None:
        """Release the database connections."""
        self._close_listener()
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def version(self) -> int:
        """The store version: the seq of the last change (0 for an empty store)."""
        with self._engine.connect() as conn:
            return _last_seq(conn)

    def get(self, kind: str, rid: str) -> tuple[dict[str, Any], str]:
        """The current document of a record and its etag; :class:`~.errors.NotFound` if none."""
        _check_kind(kind)
        with self._engine.connect() as conn:
            row = _current(conn, kind, rid)
        if row is None:
            raise NotFound(f"{kind}.id", f"no {kind} {rid!r}")
        return json.loads(row["doc"]), docs.etag(row["recorded_from"], row["doc"])

    def changes(
        self,
        *,
        after_seq: int = 0,
        page_size: int = 100,
        kind: str | None = None,
        id: str | None = None,
    ) -> tuple[list[Change], int | None]:
        """Changes with seq > ``after_seq``, oldest first, at most ``page_size``, optionally of
        one kind or one record; and the ``after_seq`` of the next page (None at the end)."""
        if page_size < 1:
            raise InvalidWrite("page_size", "must be at least 1")
        q = select(changes).where(changes.c.seq > after_seq)
        if kind is not None:
            _check_kind(kind)
            q = q.where(changes.c.kind == kind)
        if id is not None:
            q = q.where(changes.c.id == id)
        q = q.order_by(changes.c.seq).limit(page_size + 1)
        with self._engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        page = [_change(r) for r in rows[:page_size]]
        return page, (page[-1].seq if len(rows) > page_size else None)

    def seq_at(self, at: dt.datetime) -> int:
        """The store version at an instant: the last change at or before ``at`` (0 if none).
        A naive datetime is UTC."""
        with self._engine.connect() as conn:
            got = conn.execute(
                select(func.max(changes.c.seq)).where(changes.c.at <= _utc(at))
            ).scalar()
        return int(got or 0)

    def seq_of_version(self, version: str) -> int | None:
        """The last store version whose dataset has ``Dataset.version`` ``version`` (None if
        none): for the version of a dataset directory, the seq at which the store was seeded
        from it (:meth:`init_from`), so a replica can load the directory (or its columnar
        snapshot) and follow the changes after that seq instead of parsing every record.
        Versions after a change are ``sha256:…@SEQ``, never a directory's again."""
        with self._engine.connect() as conn:
            got = conn.execute(
                select(func.max(changes.c.seq)).where(changes.c.dataset_version == version)
            ).scalar()
        return int(got) if got is not None else None

    def snapshot(self, *, as_known_at: int | dt.datetime | None = None) -> tuple[Dataset, int]:
        """The dataset as the store knew it at a seq or an instant (default: now), built and
        checked by the loader (:func:`georisk.scoring.dataset.assemble`), and the store version
        it reflects. Its ``Dataset.version`` is the directory's version right after
        :meth:`init_from`, then a hash chain over the changes (``sha256:…@SEQ``)."""
        with self._engine.connect() as conn:
            last = _last_seq(conn)
            if as_known_at is None:
                seq = last
            elif isinstance(as_known_at, dt.datetime):
                seq = self.seq_at(as_known_at)
            else:
                seq = int(as_known_at)
                if not 0 <= seq <= last:
                    raise InvalidWrite("as_known_at", f"seq {seq} is not in 0..{last}")
            rows = _rows_at(conn, seq)
            version = _version_at(conn, seq)
        issues: list[DatasetIssue] = []
        located = _located(rows, issues)
        return assemble(located, issues, version, None), seq

    def export(self, out_dir: str | Path, *, as_known_at: int | dt.datetime | None = None) -> int:
        """Write the snapshot as a dataset directory (``sources.yaml``, ``entities.yaml``,
        ``arrangements.yaml``, ``links.yaml``, as ``data/`` is laid out) that
        :func:`~georisk.scoring.dataset.load_dataset` reads back to the same records; return
        the store version written. ``out_dir`` must not exist or be empty; the files are
        written beside it and moved in only once they load."""
        ds, seq = self.snapshot(as_known_at=as_known_at)
        out = Path(out_dir)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise StoreError("out_dir", f"{out} exists and is not an empty directory")
        tmp = out.with_name(f".{out.name}.part")
        tmp.mkdir(parents=True, exist_ok=False)
        try:
            for kind in docs.KINDS:
                items = [json.loads(docs.canonical(rec)) for rec in ds.table(kind).values()]
                text = yaml.dump(
                    {docs.plural(kind): items},
                    Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
                    sort_keys=False,
                    allow_unicode=True,
                    width=100,
                )
                (tmp / f"{docs.plural(kind)}.yaml").write_text(text, encoding="utf-8")
            load_dataset(tmp)  # refuse to hand over a directory the loader would refuse
            if out.exists():
                out.rmdir()
            tmp.rename(out)
        except BaseException:
            for f in tmp.iterdir():
                f.unlink()
            tmp.rmdir()
            raise
        return seq

    # ------------------------------------------------------------------ writing

    def init_from(self, dataset_dir: str | Path, *, actor: str, reason: str) -> int:
        """Fill an empty store from a dataset directory (validated by
        :func:`~georisk.scoring.dataset.load_dataset`; a refused one raises its
        ``DatasetError``): one ``create`` change per record, all in one transaction. Returns
        the store version; the snapshot at it has the directory's ``Dataset.version``."""
        _need_text(actor=actor, reason=reason)
        ds = load_dataset(dataset_dir)
        at = _utc(self._now())
        with self._engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            lock_for_write(conn)
            if _last_seq(conn) != 0:
                raise StoreNotEmpty("", f"the store {self.url} is not empty: init refused")
            seq, version = 0, _EMPTY_VERSION
            change_rows: list[dict[str, Any]] = []
            record_rows: list[dict[str, Any]] = []
            for kind in docs.KINDS:
                for rid, rec in ds.table(kind).items():
                    seq += 1
                    doc = docs.canonical(rec)
                    version = _next_version(version, "create", kind, rid, doc, seq)
                    change_rows.append(
                        dict(
                            seq=seq,
                            at=at,
                            actor=actor,
                            reason=reason,
                            request_id=None,
                            request_hash=None,
                            op="create",
                            kind=kind,
                            id=rid,
                            before=None,
                            after=doc,
                            dataset_version=version,
                        )
                    )
                    record_rows.append(
                        dict(
                            kind=kind,
                            id=rid,
                            recorded_from=seq,
                            recorded_to=None,
                            created=seq,
                            doc=doc,
                        )
                    )
            if not change_rows:
                raise InvalidWrite("dataset_dir", f"{dataset_dir} holds no records")
            change_rows[-1]["dataset_version"] = ds.version
            for i in range(0, len(change_rows), 5000):
                conn.execute(insert(changes), change_rows[i : i + 5000])
                conn.execute(insert(records), record_rows[i : i + 5000])
        return seq

    def create(
        self,
        kind: str,
        doc: Mapping[str, Any],
        *,
        actor: str,
        reason: str,
        request_id: str | None = None,
    ) -> Written:
        """Create a record (AIP-133); :class:`~.errors.AlreadyExists` if its id is taken."""
        _check_kind(kind)
        rid = doc.get("id")
        if not isinstance(rid, str) or not rid:
            raise InvalidWrite(f"{kind}.id", "a record needs an id")

        def change(cur: RowMapping | None) -> tuple[dict[str, Any], str]:
            if cur is not None:
                raise AlreadyExists(f"{kind}.id", f"{kind} {rid!r} exists already")
            return dict(doc), ""

        request = {"op": "create", "kind": kind, "doc": doc}
        return self._write("create", kind, rid, change, request, actor, reason, request_id)

    def update(
        self,
        kind: str,
        id: str,
        patch: Mapping[str, Any],
        *,
        update_mask: Sequence[str] | None,
        etag: str | None,
        actor: str,
        reason: str,
        request_id: str | None = None,
    ) -> Written:
        """Update the fields of ``update_mask`` from ``patch`` (AIP-134: a path in the mask and
        not in the patch is cleared; ``*`` replaces the record; None means the fields present
        in the patch). ``etag`` (from :meth:`get` or a write) must be current, else
        :class:`~.errors.Conflict`; None skips the check. The id cannot change."""
        _check_kind(kind)
        mask = list(update_mask) if update_mask is not None else list(patch)
        if not mask:
            raise InvalidWrite("update_mask", "names no field")
        bad = docs.check_mask(kind, mask)
        if bad:
            raise InvalidWrite("update_mask", f"unknown field paths of a {kind}: {', '.join(bad)}")
        if ("id" in mask or "*" in mask) and patch.get("id", id) != id:
            raise InvalidWrite(f"{kind}.id", "the id of a record cannot change")

        def change(cur: RowMapping | None) -> tuple[dict[str, Any], str]:
            current = _need_current(cur, kind, id, etag)
            new = docs.apply_mask(kind, current, patch, mask)
            new["id"] = id
            return new, ""

        request: dict[str, Any] = {"op": "update", "kind": kind, "id": id, "patch": patch}
        request |= {"mask": mask, "etag": etag}
        return self._write("update", kind, id, change, request, actor, reason, request_id)

    def end(
        self,
        kind: str,
        id: str,
        *,
        valid_to: dt.date,
        etag: str | None,
        actor: str,
        reason: str,
        list_id: str | None = None,
        request_id: str | None = None,
    ) -> Written:
        """End-date a fact instead of deleting it (AIP-135 style): a link's ``valid_to``, or the
        ``until`` of an entity's open membership of ``list_id``. The record stays (and with it
        every score of the past); ``etag`` as for :meth:`update`."""
        _check_kind(kind)

        def change(cur: RowMapping | None) -> tuple[dict[str, Any], str]:
            current = _need_current(cur, kind, id, etag)
            try:
                return docs.apply_end(kind, current, valid_to, list_id)
            except LookupError as exc:
                fld, why = exc.args
                raise InvalidWrite(fld, why) from None

        request: dict[str, Any] = {"op": "end", "kind": kind, "id": id}
        request["valid_to"] = valid_to.isoformat()
        request |= {"list_id": list_id, "etag": etag}
        return self._write("end", kind, id, change, request, actor, reason, request_id)

    def _write(
        self,
        op: str,
        kind: str,
        rid: str,
        change: Callable[[RowMapping | None], tuple[dict[str, Any], str]],
        request: dict[str, Any],
        actor: str,
        reason: str,
        request_id: str | None,
    ) -> Written:
        """One write, atomic and serialized with every other: replay a known request id,
        check the etag (in ``change``), validate the record and the dataset after it, append
        the change and the record's new version."""
        _need_text(actor=actor, reason=reason)
        digest = docs.fingerprint({**request, "actor": actor, "reason": reason})
        with self._engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            lock_for_write(conn)
            if request_id is not None:
                done = _replay(conn, request_id, digest)
                if done is not None:
                    return done
            cur = _current(conn, kind, rid)
            new_doc, fallback = change(cur)
            rec, after, edits = self._check(kind, new_doc, conn, fallback)
            doc = docs.canonical(rec)
            seq = _last_seq(conn) + 1
            version = _next_version(_version_at(conn, seq - 1), op, kind, rid, doc, seq)
            conn.execute(
                insert(changes).values(
                    seq=seq,
                    at=_monotonic(conn, _utc(self._now())),
                    actor=actor,
                    reason=reason,
                    request_id=request_id,
                    request_hash=digest if request_id else None,
                    op=op,
                    kind=kind,
                    id=rid,
                    before=cur["doc"] if cur else None,
                    after=doc,
                    dataset_version=version,
                )
            )
            if conn.dialect.name == "postgresql":  # replicas waiting in wait_for_change
                conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
            if cur is not None:
                conn.execute(
                    update(records)
                    .where(records.c.kind == kind, records.c.id == rid)
                    .where(records.c.recorded_to.is_(None))
                    .values(recorded_to=seq)
                )
            conn.execute(
                insert(records).values(
                    kind=kind,
                    id=rid,
                    recorded_from=seq,
                    recorded_to=None,
                    created=cur["created"] if cur else seq,
                    doc=doc,
                )
            )
        # committed: the next write is checked against this one's dataset
        if after is not None and edits <= REBASE_AFTER:
            with self._checked_lock:  # a slower thread's older write must not go back
                if self._checked is None or self._checked[0] < seq:
                    self._checked = (seq, versioned(after, version), edits)
        return Written(json.loads(doc), docs.etag(seq, doc), seq, version)

    def _check(
        self, kind: str, doc: dict[str, Any], conn: Connection, fallback: str
    ) -> tuple[BaseModel, Dataset | None, int]:
        """The record of ``doc`` checked as the loader would check the dataset with it, the
        dataset after the write (None if unknown) and the edits it holds since it was loaded
        whole: incrementally against the adopted dataset when there is one of the last store
        version (or one that the changes since bring up to it), else whole."""
        from georisk.scoring.overlay import apply_overlay
        from georisk.store.follow import follow, records_overlay

        last = _last_seq(conn)
        with self._checked_lock:
            got = self._checked
        if got is not None and got[0] < last:  # another process wrote: catch up
            page, more = self.changes(after_seq=got[0], page_size=FOLLOW_AT_MOST)
            try:
                got = (last, follow(got[1], page), got[2] + len(page)) if more is None else None
            except DatasetError:
                got = None
        if got is not None and got[0] == last:
            rid = str(doc.get("id"))
            where = _where(kind, rid)
            issues: list[DatasetIssue] = []
            rec = validate_record(kind, doc, STORE_FILE, where, issues)
            if rec is None:  # the record alone is refused: the loader's words, no whole check
                raise _invalid(issues, {where: (kind, doc)}, fallback)
            if isinstance(rec, Entity) and not rec.sources:
                raise InvalidWrite(
                    f"{kind}.sources", "every fact needs a source: cite at least one"
                )
            ov = records_overlay(got[1], [((kind, rid), doc)], f"store-write-{last + 1}")
            try:
                return rec, apply_overlay(got[1], ov, name="store"), got[2] + 1
            except DatasetError as exc:
                # refused with others (a total over 100%, an unknown reference): the same
                # checks as the loader's, answered without a whole check when every issue is
                # the written record's (minutes at 1M entities)
                own = _own_issues(exc.issues, kind, rid, where)
                if own is not None:
                    raise _invalid(own, {where: (kind, doc)}, fallback) from None
        rec, ds = _validated(kind, doc, conn, fallback)
        return rec, ds, 0


# --------------------------------------------------------------------------- helpers


def _check_kind(kind: str) -> None:
    if kind not in docs.KINDS:
        raise InvalidWrite("kind", f"unknown record kind {kind!r}; one of {sorted(docs.KINDS)}")


def _need_text(**values: str) -> None:
    for name, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise InvalidWrite(name, f"every write needs a non-empty {name}")


def _need_current(cur: RowMapping | None, kind: str, rid: str, etag: str | None) -> dict[str, Any]:
    if cur is None:
        raise NotFound(f"{kind}.id", f"no {kind} {rid!r}")
    if etag is not None and etag != docs.etag(cur["recorded_from"], cur["doc"]):
        raise Conflict(f"{kind}.etag", f"{kind} {rid!r} was changed since etag {etag!r}")
    doc: dict[str, Any] = json.loads(cur["doc"])
    return doc


def _monotonic(conn: Connection, now: dt.datetime) -> dt.datetime:
    """``now``, or the time of the last change if the clock went back: the log's times never
    decrease, so "as known at an instant" is one seq."""
    last = conn.execute(select(changes.c.at).order_by(changes.c.seq.desc()).limit(1)).scalar()
    return max(now, _utc(last)) if last is not None else now


def _last_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.max(changes.c.seq))).scalar() or 0)


def _version_at(conn: Connection, seq: int) -> str:
    if seq == 0:
        return _EMPTY_VERSION
    got = conn.execute(select(changes.c.dataset_version).where(changes.c.seq == seq)).scalar()
    return str(got)


def _current(conn: Connection, kind: str, rid: str) -> RowMapping | None:
    q = select(records).where(
        records.c.kind == kind, records.c.id == rid, records.c.recorded_to.is_(None)
    )
    return conn.execute(q).mappings().first()


def _rows_at(conn: Connection, seq: int) -> list[RowMapping]:
    """The records as known at ``seq``, in creation order (the order ``init_from`` read them)."""
    q = (
        select(records.c.kind, records.c.id, records.c.doc)
        .where(records.c.recorded_from <= seq)
        .where((records.c.recorded_to.is_(None)) | (records.c.recorded_to > seq))
        .order_by(records.c.created)
    )
    return list(conn.execute(q).mappings())


def _current_rows(conn: Connection) -> list[RowMapping]:
    q = select(records.c.kind, records.c.id, records.c.doc).where(records.c.recorded_to.is_(None))
    return list(conn.execute(q.order_by(records.c.created)).mappings())


def _where(kind: str, rid: str) -> str:
    return f"{docs.plural(kind)}/{rid}"


def _located(
    rows: Sequence[RowMapping], issues: list[DatasetIssue]
) -> list[tuple[str, BaseModel, str, str]]:
    """Stored rows as the loader's located records, each validated by the loader's
    per-record path (:func:`~georisk.scoring.dataset.readers.validate_record`)."""
    out = []
    for r in rows:
        where = _where(r["kind"], r["id"])
        rec = validate_record(r["kind"], json.loads(r["doc"]), STORE_FILE, where, issues)
        if rec is not None:
            out.append((str(r["kind"]), rec, STORE_FILE, where))
    return out


def _own_issues(
    issues: list[DatasetIssue], kind: str, rid: str, where: str
) -> list[DatasetIssue] | None:
    """The issues of an incremental refusal of a write of record ``rid`` located as the whole
    check locates them (``links/<id>``, the store's file), or None when one of them may be
    another record's (then the whole check words the refusal). An issue is the written
    record's when it is located at it (``add.links[0] (id=x)``, or the record's own place), or
    when it names it among the links of a total: the loader puts a total on the last of those
    links in the dataset's order, and the written record is last there."""
    plural = docs.plural(kind)
    mine = (f"(id={rid})", where)
    out = []
    for i in issues:
        named = re.search(rf"(^|[\s,]){re.escape(rid)}(,|$)", i.message.rpartition(": ")[2])
        at_it = (i.record.endswith(mine[0]) and plural in i.record) or i.record == where
        if not (at_it or (kind == "link" and "adds up to" in i.message and named)):
            return None
        out.append(DatasetIssue(STORE_FILE, where, i.field, i.message))
    return out or None


def _validated(
    kind: str, doc: dict[str, Any], conn: Connection, fallback: str
) -> tuple[BaseModel, Dataset]:
    """The record of ``doc`` if it and the dataset with it pass the loader's checks, else
    :class:`~.errors.InvalidWrite` naming the first field at fault (every issue attached;
    ``fallback``, when given, names the field of a whole-record problem, e.g. an end date
    before the start), and the dataset with it. The whole dataset is checked: O(records);
    :meth:`Store._check` does it only when no incremental check applies (docs/store.md)."""
    rid = str(doc.get("id"))
    where = _where(kind, rid)
    issues: list[DatasetIssue] = []
    rec = validate_record(kind, doc, STORE_FILE, where, issues)
    if rec is None:
        raise _invalid(issues, {where: (kind, doc)}, fallback)
    if isinstance(rec, Entity) and not rec.sources:  # the loader allows it; a write may not
        raise InvalidWrite(f"{kind}.sources", "every fact needs a source: cite at least one")
    rows = [r for r in _current_rows(conn) if (r["kind"], r["id"]) != (kind, rid)]
    located = _located(rows, issues)
    located.append((kind, rec, STORE_FILE, where))
    try:
        ds = assemble(located, issues, "check", None)
    except DatasetError as exc:
        by_where = {_where(r["kind"], r["id"]): (r["kind"], json.loads(r["doc"])) for r in rows}
        by_where[where] = (kind, doc)
        raise _invalid(exc.issues, by_where, fallback) from None
    return rec, ds


def _invalid(
    issues: list[DatasetIssue],
    by_where: Mapping[str, tuple[str, Mapping[str, Any]]],
    fallback: str = "",
) -> InvalidWrite:
    violations = []
    for issue in issues:
        kind, doc = by_where.get(issue.record, ("record", {}))
        fld = docs.refine_reference(kind, doc, issue.field, issue.message)
        if not issue.field and fallback:
            fld = fallback
        subject = f" ({issue.record})" if issue.record else ""
        violations.append((fld, issue.message + subject))
    return InvalidWrite(*violations[0], issues, violations)


def _replay(conn: Connection, request_id: str, digest: str) -> Written | None:
    """The result of an earlier write with this request id (None if there was none);
    :class:`~.errors.IdempotencyMismatch` if it was another request."""
    row = conn.execute(select(changes).where(changes.c.request_id == request_id)).mappings().first()
    if row is None:
        return None
    if row["request_hash"] != digest:
        raise IdempotencyMismatch(
            "request_id",
            f"request id {request_id!r} was used for another request (seq {row['seq']})",
        )
    seq, after = int(row["seq"]), row["after"]
    return Written(json.loads(after), docs.etag(seq, after), seq, row["dataset_version"])


def _change(r: RowMapping) -> Change:
    return Change(
        seq=int(r["seq"]),
        at=_utc(r["at"]),
        actor=r["actor"],
        reason=r["reason"],
        request_id=r["request_id"],
        op=r["op"],
        kind=r["kind"],
        id=r["id"],
        before=json.loads(r["before"]) if r["before"] is not None else None,
        after=json.loads(r["after"]),
        dataset_version=r["dataset_version"],
    )
