"""A columnar snapshot of a validated dataset: a replica starts from it without re-validating.

After :func:`.load.load_dataset` has validated a large dataset directory, it writes the
validated records as Apache Arrow IPC files (uncompressed, so they are memory-mapped, not
read) into a directory named by a **key**: the SHA-256 of the dataset files (their names and
contents: the hash behind :attr:`.core.Dataset.version`) and of the code that reads them
(:data:`SNAPSHOT_FORMAT` and the JSON schema of every record model). The next load of the same
files finds the key and opens the snapshot instead; any changed, added or removed file gives
another key, so the files are validated again and a new snapshot is written: a snapshot never
stands for other files than those it was made from, and a stale one is never served. A snapshot
whose manifest or checksums do not match, or that does not open, is ignored (and replaced).

What a snapshot-loaded dataset holds (``docs/snapshot.md``):

* entities as columns (:class:`EntityTable`, a read-only ``Mapping[str, Entity]``): an
  :class:`~.model.Entity` is built from its row when something reads it (a few µs), equal to the
  validated one field for field, including which fields were given;
* bulk links as the :class:`~.linkstore.LinkColumns` they already were, over the mapped file;
  their ids stay in the file (:class:`StrColumn`, :class:`SortedIdIndex`: a lookup by id is a
  binary search, no 3M-entry dict);
* arrangements as their JSON text (:class:`JsonTable`), validated on access; sources and
  non-bulk links as objects (validated again from their JSON when the snapshot is opened: exact
  and cheap, they are few).

A 1M-entity dataset so takes ~0.4 GB instead of ~4 GB, and opens in seconds.

Where snapshots go (:func:`snapshot_dirs`): ``GEORISK_SNAPSHOT_DIR`` when set (``off``: no
snapshots), else ``DATA/.georisk-snapshots`` beside the data, else (a read-only data directory)
``$XDG_CACHE_HOME/georisk/snapshots`` (``~/.cache/…``). Only datasets of at least
``GEORISK_SNAPSHOT_MIN_BYTES`` bytes of files (default 16 MiB) get one: a small dataset
validates in less time than a snapshot takes to check.

Another process (a Dask worker) opens a snapshot from its path alone: :func:`open_snapshot`
(``Dataset.snapshot`` names it); the key in the path is checked against the manifest and the
checksums.

>>> import pathlib, tempfile
>>> from georisk.scoring.dataset import load_dataset
>>> from georisk.scoring.engine import DEFAULT_DATA
>>> ds = load_dataset(DEFAULT_DATA)
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> where = write_snapshot(ds, out / "snap")
>>> again = open_snapshot(where)
>>> again.version == ds.version, dict(again.entities) == ds.entities
(True, True)
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, TypeAdapter

from georisk.scoring.dataset.core import RECORD_KINDS, Dataset
from georisk.scoring.dataset.linkstore import (
    CACHE_LIMIT,
    LINK_KINDS,
    LINK_STATUSES,
    ROLES,
    LinkColumns,
    LinkStore,
    build,
)
from georisk.scoring.model import (
    Arrangement,
    Entity,
    EntityFacts,
    EntityKind,
    Identifier,
    LicenceTerms,
    Link,
    ListMembership,
    Source,
)

__all__ = [
    "MIN_BYTES",
    "SNAPSHOT_FORMAT",
    "EntityTable",
    "JsonTable",
    "PatchedTable",
    "SnapshotError",
    "SortedIdIndex",
    "StrColumn",
    "find_snapshot",
    "open_snapshot",
    "snapshot_dirs",
    "snapshot_key",
    "snapshot_wanted",
    "write_snapshot",
]

log = logging.getLogger("georisk.scoring.snapshot")

#: the layout of the files below; bump on any change of what is written or how it is read
SNAPSHOT_FORMAT = 3
#: default smallest dataset (bytes of record files) that gets a snapshot
MIN_BYTES = 16 << 20
_MANIFEST = "manifest.json"
_FILES = ("entities.arrow", "links.arrow", "records.arrow")
_ENTITY_FIELDS = tuple(Entity.model_fields)
_ENTITY_KINDS = tuple(EntityKind)
_LISTS: TypeAdapter[Any] = TypeAdapter(list[ListMembership])
_IDENTS: TypeAdapter[Any] = TypeAdapter(list[Identifier])
_FACTS: TypeAdapter[Any] = TypeAdapter(EntityFacts)
_ALIASES: TypeAdapter[Any] = TypeAdapter(list[str])
_RECORD_CLASSES: dict[str, type[BaseModel]] = {k: cls for k, (_, cls) in RECORD_KINDS.items()}

M = TypeVar("M", bound=BaseModel)


class SnapshotError(Exception):
    """A snapshot that cannot be used (missing, another key, corrupt): validate instead."""


# --------------------------------------------------------------------------- keys and places


@cache
def code_fingerprint() -> str:
    """Hash of what a snapshot's meaning depends on besides the files: the format, the record
    models' JSON schemas and the code tables stored as numbers (kinds, statuses, roles)."""
    h = hashlib.sha256(f"georisk-snapshot:{SNAPSHOT_FORMAT}".encode())
    for kind, (_, cls) in sorted(RECORD_KINDS.items()):
        h.update(kind.encode() + json.dumps(cls.model_json_schema(), sort_keys=True).encode())
    codes = [list(LINK_KINDS), list(LINK_STATUSES), list(ROLES), list(_ENTITY_KINDS)]
    h.update(json.dumps(codes, default=str).encode())
    return h.hexdigest()


def snapshot_key(content_digest: bytes) -> str:
    """The directory name of the snapshot of files whose combined digest is ``content_digest``
    (the full SHA-256 behind :attr:`Dataset.version`) read by this code."""
    h = hashlib.sha256(content_digest + code_fingerprint().encode())
    return h.hexdigest()[:40]


def _setting() -> str | None:
    got = os.environ.get("GEORISK_SNAPSHOT_DIR")
    return got.strip() if got is not None else None


def _off() -> bool:
    return (_setting() or "").lower() in ("off", "0", "no", "false")


def snapshot_wanted(total_bytes: int) -> bool:
    """Whether a dataset of ``total_bytes`` bytes of files gets a snapshot (the environment may
    turn snapshots off, ``GEORISK_SNAPSHOT_DIR=off``, or change the size)."""
    if _off():
        return False
    try:
        least = int(os.environ.get("GEORISK_SNAPSHOT_MIN_BYTES", MIN_BYTES))
    except ValueError:
        least = MIN_BYTES
    return total_bytes >= least


def snapshot_dirs(root: Path) -> list[Path]:
    """Where the snapshots of the dataset directory ``root`` are looked for, in order (the
    first writable one gets a new snapshot); none when ``GEORISK_SNAPSHOT_DIR=off``, even
    for a load that asks for a snapshot (``load_dataset(..., snapshot=True)``)."""
    if _off():
        return []
    setting = _setting()
    if setting:
        return [Path(setting).expanduser()]
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [root / ".georisk-snapshots", Path(cache_home) / "georisk" / "snapshots"]


def find_snapshot(root: Path, key: str) -> Path | None:
    """The first existing snapshot directory for ``key`` (not checked yet)."""
    for d in snapshot_dirs(root):
        p = d / key
        if (p / _MANIFEST).is_file():
            return p
    return None


# --------------------------------------------------------------------------- lazy columns


class _Raw:
    """The offsets and bytes of an Arrow string array, read in place (an element costs a
    slice, not a pyarrow scalar)."""

    def __init__(self, arr: pa.Array) -> None:
        _, offsets, data = arr.buffers()
        wide = pa.types.is_large_string(arr.type)
        self.off = memoryview(offsets).cast("B").cast("q" if wide else "i")
        self.base = arr.offset
        self.data = memoryview(data if data is not None else b"")

    def at(self, i: int) -> bytes:
        k = self.base + i
        return self.data[self.off[k] : self.off[k + 1]].tobytes()


class StrColumn(Sequence[str]):
    """A string column of a mapped Arrow file as a read-only sequence of ``str`` (no list of
    millions of Python strings is made; iteration converts a chunk at a time)."""

    def __init__(self, arr: pa.Array) -> None:
        self._arr = arr
        self._raw = _Raw(arr)

    def __len__(self) -> int:
        return len(self._arr)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return list(self._arr[i].to_pylist())
        n = len(self._arr)
        k = int(i) + n if i < 0 else int(i)
        if not 0 <= k < n:
            raise IndexError(i)
        return self._raw.at(k).decode()

    def __iter__(self) -> Iterator[str]:
        step = 1 << 16
        for k in range(0, len(self._arr), step):
            yield from self._arr.slice(k, step).to_pylist()


class _SortedView(Sequence[bytes]):
    """The ids in sorted order (UTF-8 bytes: Arrow's sort order), for :func:`bisect.bisect_left`."""

    def __init__(self, raw: _Raw, order: np.ndarray[Any, Any]) -> None:
        self._raw = raw
        self._order = np.ascontiguousarray(order, dtype=np.int32).data.cast("B").cast("i")

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, i: Any) -> Any:
        return self._raw.at(self._order[i])


#: ids a :class:`SortedIdIndex` remembers at most (~100 bytes each)
MEMO_LIMIT = 1 << 16
#: a :class:`SortedIdIndex` keeps every FENCE-th sorted id as bytes (~50,000 for 3M links)
FENCE = 64


class SortedIdIndex(Mapping[str, int]):
    """id → position over a string column and the permutation that sorts it: a lookup is a
    binary search instead of a dict of every id: over every :data:`FENCE`-th sorted id (a list
    of bytes), then within one block of the mapped column (~6 comparisons read in place); the
    ids looked up lately are remembered (at most :data:`MEMO_LIMIT`), as scoring asks again.

    >>> ids = pa.array(["l3", "a", "l10"])
    >>> ix = SortedIdIndex(ids, pc.sort_indices(ids).to_numpy())
    >>> ix["l10"], ix.get("l1"), "a" in ix
    (2, None, True)
    """

    def __init__(self, ids: pa.Array, order: np.ndarray[Any, Any]) -> None:
        self._ids, self._order = ids, order
        self._view = _SortedView(_Raw(ids), order)
        # every FENCE-th id in sorted order, as a list of bytes: the search first bisects
        # this list (compared in C), then the one block of FENCE ids it points to
        n = len(self._view)
        self._fences: list[bytes] = [self._view[i] for i in range(0, n, FENCE)]
        # the ids looked up lately (-1: absent). Scoring one arrangement asks for the same
        # few dozen links' ids again and again (each rule, each scenario): a dict hit instead
        # of a binary search; bounded, so a whole-dataset pass does not grow it
        self._memo: dict[str, int] = {}

    def _find(self, key: object) -> int | None:
        if not isinstance(key, str):
            return None
        memo = self._memo
        got = memo.get(key)
        if got is None:
            b = key.encode()
            view = self._view
            # the block whose first id is the last one <= b; then within it
            lo = max(0, bisect.bisect_right(self._fences, b) - 1) * FENCE
            i = bisect.bisect_left(view, b, lo, min(lo + FENCE, len(view)))
            got = int(self._order[i]) if i < len(view) and view[i] == b else -1
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[key] = got
        return None if got < 0 else got

    def __getitem__(self, key: str) -> int:
        got = self._find(key)
        if got is None:
            raise KeyError(key)
        return got

    def get(self, key: str, default: Any = None) -> Any:
        got = self._find(key)
        return default if got is None else got

    def __contains__(self, key: object) -> bool:
        return self._find(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(StrColumn(self._ids))

    def __len__(self) -> int:
        return len(self._order)


class _Bounded(dict[Any, Any]):
    def put(self, k: Any, v: Any) -> None:
        if len(self) >= CACHE_LIMIT:
            self.clear()
        self[k] = v


def _one(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column of a mapped table as one array, in place (``combine_chunks`` would copy it)."""
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


def _columns(t: pa.Table) -> dict[str, pa.Array]:
    return {n: _one(t.column(n)) for n in t.column_names}


def _codes(col: pa.Array) -> tuple[np.ndarray[Any, Any], list[Any]]:
    """(indices with -1 for null, dictionary values) of a dictionary-encoded column."""
    col = _one(col)
    idx = col.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return idx, col.dictionary.to_pylist()


def _valid(col: pa.Array) -> np.ndarray[Any, Any]:
    return np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)


class EntityTable(Mapping[str, Entity]):
    """Entities held as columns, each built as an :class:`Entity` when read (a bounded cache
    keeps the recent ones). Iteration is in dataset order; :meth:`field` gives one field of
    every entity without building them."""

    def __init__(self, t: pa.Table, ids: list[str], index: dict[str, int]) -> None:
        self._ids, self._index = ids, index
        col = _columns(t)
        self._name = _Raw(col["name"])
        self._kind = col["kind"].to_numpy()
        self._country = _codes(col["country"])
        self._place = _codes(col["principal_place"])
        self._sources = _codes(col["sources"])
        self._source_lists = [s.split(";") if s else [] for s in self._sources[1]]
        self._us = col["us_person"].to_numpy()
        self._unconfirmed = col["unconfirmed"].to_numpy(zero_copy_only=False)
        self._mask = col["fields_set"].to_numpy()
        self._texts = {
            n: (_Raw(col[n]), _valid(col[n]))
            for n in ("unconfirmed_note", "note", "aliases", "lists", "identifiers", "facts")
        }
        self._file = _codes(col["file"])
        self._where = col["where"]
        self._fieldsets: dict[int, set[str]] = {}
        self._cache = _Bounded()

    # ------------------------------------------------------------------ Mapping

    def __getitem__(self, key: str) -> Entity:
        return self.at(self._index[key])

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    # ------------------------------------------------------------------ rows

    def at(self, r: int) -> Entity:
        """The entity of row ``r`` (dataset order)."""
        got: Entity | None = self._cache.get(r)
        if got is None:
            got = self._build(r)
            self._cache.put(r, got)
        return got

    def _text(self, name: str, r: int) -> str | None:
        raw, ok = self._texts[name]
        return raw.at(r).decode() if ok[r] else None

    def _build(self, r: int) -> Entity:
        c, cv = self._country
        p, pv = self._place
        s = int(self._sources[0][r])
        us = int(self._us[r])
        aliases, lists, idents = (self._text(n, r) for n in ("aliases", "lists", "identifiers"))
        d: dict[str, Any] = {
            "id": self._ids[r],
            "name": self._name.at(r).decode(),
            "kind": _ENTITY_KINDS[int(self._kind[r])],
            "country": cv[c[r]] if c[r] >= 0 else None,
            "principal_place": pv[p[r]] if p[r] >= 0 else None,
            "us_person": None if us == 0 else us == 2,
            "aliases": _ALIASES.validate_json(aliases) if aliases else [],
            "lists": _LISTS.validate_json(lists) if lists else [],
            "sources": list(self._source_lists[s]) if s >= 0 else [],
            "unconfirmed": bool(self._unconfirmed[r]),
            "unconfirmed_note": self._text("unconfirmed_note", r),
            "note": self._text("note", r),
            "identifiers": _IDENTS.validate_json(idents) if idents else [],
            "facts": _FACTS.validate_json(facts) if (facts := self._text("facts", r)) else None,
        }
        m = int(self._mask[r])
        fs = self._fieldsets.get(m)
        if fs is None:
            fs = self._fieldsets[m] = {f for i, f in enumerate(_ENTITY_FIELDS) if m >> i & 1}
        return build(Entity, d, fs)

    def field(self, name: str) -> list[Any]:
        """``[getattr(e, name) for e in self.values()]`` without building the entities (for the
        scalar fields: kind, country, principal_place, us_person, unconfirmed)."""
        if name == "kind":
            return [_ENTITY_KINDS[k] for k in self._kind.tolist()]
        if name in ("country", "principal_place"):
            codes, values = self._country if name == "country" else self._place
            vals = [*values, None]  # -1 → None
            return [vals[k] for k in codes.tolist()]
        if name == "us_person":
            return [None if u == 0 else u == 2 for u in self._us.tolist()]
        if name == "unconfirmed":
            return [bool(u) for u in self._unconfirmed.tolist()]
        return [getattr(self.at(r), name) for r in range(len(self))]

    def rows_with(self, name: str) -> list[int]:
        """Rows whose ``name`` (a list or text field: lists, aliases, identifiers, note,
        unconfirmed_note) is not empty."""
        return np.flatnonzero(self._texts[name][1]).tolist()

    def patched(
        self, gone: Mapping[str, None], changed: Mapping[str, Entity], added: list[Entity]
    ) -> PatchedTable[Entity]:
        """This table edited by an overlay, not copied (:class:`PatchedTable`)."""
        return PatchedTable(self, {}, {}, {}).patched(gone, changed, added)

    def locate(self, rid: str) -> tuple[str, str] | None:
        r = self._index.get(rid)
        if r is None:
            return None
        codes, files = self._file
        return files[codes[r]], str(self._where[r].as_py())


class JsonTable(Mapping[str, M], Generic[M]):
    """Records of one kind held as their JSON text (validated when read, bounded cache):
    record ``ids[i]`` is row ``rows[i]`` of ``texts``."""

    def __init__(self, cls: type[M], ids: list[str], rows: list[int], texts: pa.Array) -> None:
        self._cls, self._ids, self._texts = cls, ids, _Raw(texts)
        self._index = dict(zip(ids, rows, strict=True))
        self._cache = _Bounded()

    def __getitem__(self, key: str) -> M:
        got: M | None = self._cache.get(key)
        if got is None:
            got = self._cls.model_validate_json(self._texts.at(self._index[key]))
            self._cache.put(key, got)
        return got

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def patched(
        self, gone: Mapping[str, None], changed: Mapping[str, M], added: list[M]
    ) -> PatchedTable[M]:
        """This table edited by an overlay, not copied (:class:`PatchedTable`)."""
        return PatchedTable(self, {}, {}, {}).patched(gone, changed, added)


class PatchedTable(Mapping[str, M], Generic[M]):
    """A table of a snapshot-loaded dataset with records removed, changed (in place) and added
    (at the end), without copying it: what a what-if overlay makes of a lazy table
    (``patched``), where a dict copy would build every record. Patching a patched table
    patches its base once (no chain grows with successive overlays).

    >>> t = PatchedTable({"a": 1, "b": 2, "c": 3}, {"b": None}, {"c": 30}, {"d": 4})
    >>> list(t.items()), len(t), "b" in t
    ([('a', 1), ('c', 30), ('d', 4)], 3, False)
    """

    def __init__(
        self,
        base: Mapping[str, M],
        gone: Mapping[str, None],
        changed: Mapping[str, M],
        added: Mapping[str, M],
    ) -> None:
        self.base, self.gone, self.changed, self.added = base, dict(gone), changed, added

    def __getitem__(self, key: str) -> M:
        got = self.added.get(key)
        if got is not None:
            return got
        if key in self.gone:
            raise KeyError(key)
        got = self.changed.get(key)
        return got if got is not None else self.base[key]

    def __contains__(self, key: object) -> bool:
        return key in self.added or (key in self.base and key not in self.gone)

    def __iter__(self) -> Iterator[str]:
        gone = self.gone
        yield from (k for k in self.base if k not in gone) if gone else self.base
        yield from self.added

    def __len__(self) -> int:
        return len(self.base) - len(self.gone) + len(self.added)

    def patched(
        self, gone: Mapping[str, None], changed: Mapping[str, M], added: list[M]
    ) -> PatchedTable[M]:
        """This table with ``gone`` removed, ``changed`` replaced and ``added`` appended."""
        new_added = {k: v for k, v in self.added.items() if k not in gone}
        new_changed = dict(self.changed)
        for k, v in changed.items():
            if k in new_added:
                new_added[k] = v
            else:
                new_changed[k] = v
        new_gone = dict(self.gone)
        for k in gone:
            if k not in self.added:
                new_gone[k] = None
                new_changed.pop(k, None)
        new_added.update((str(getattr(r, "id")), r) for r in added)  # noqa: B009
        return PatchedTable(self.base, new_gone, new_changed, new_added)

    def field(self, name: str) -> list[Any]:
        """One field of every record, in table order (see :meth:`EntityTable.field`)."""
        of_base = getattr(self.base, "field", None)
        if of_base is None:
            return [getattr(v, name) for v in self.values()]
        out = []
        for k, v in zip(self.base, of_base(name), strict=True):
            if k in self.gone:
                continue
            c = self.changed.get(k)
            out.append(v if c is None else getattr(c, name))
        return out + [getattr(v, name) for v in self.added.values()]


class JsonRows(Mapping[int, M], Generic[M]):
    """row → record held as JSON text, validated when read (a bulk file's licence terms: tens
    of thousands at 1M entities, read only for the links a rule looks at)."""

    def __init__(self, cls: type[M], texts: dict[int, str]) -> None:
        self._cls, self._texts, self._cache = cls, texts, _Bounded()

    def __getitem__(self, r: int) -> M:
        got: M | None = self._cache.get(r)
        if got is None:
            got = self._cls.model_validate_json(self._texts[r])
            self._cache.put(r, got)
        return got

    def __contains__(self, r: object) -> bool:
        return r in self._texts

    def __iter__(self) -> Iterator[int]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


class SnapshotOrigins(Mapping[tuple[str, str], str]):
    """(kind, id) → ``"file: record"`` of a snapshot-loaded dataset (entities from their
    columns, other object records from theirs; bulk links answer through the link store)."""

    def __init__(self, entities: EntityTable, records: dict[tuple[str, str], tuple[str, str]]):
        self._entities, self._records = entities, records

    def locate(self, kind: str, rid: str) -> tuple[str, str] | None:
        if kind == "entity":
            return self._entities.locate(rid)
        return self._records.get((kind, rid))

    def __getitem__(self, key: tuple[str, str]) -> str:
        got = self.locate(*key)
        if got is None:
            raise KeyError(key)
        return f"{got[0]}: {got[1]}"

    def __iter__(self) -> Iterator[tuple[str, str]]:
        yield from (("entity", e) for e in self._entities)
        yield from self._records

    def __len__(self) -> int:
        return len(self._entities) + len(self._records)


# --------------------------------------------------------------------------- writing


def _dump(rec: BaseModel) -> str:
    return rec.model_dump_json(by_alias=True, exclude_unset=True)


def _exact(cls: type[BaseModel], rec: BaseModel, text: str) -> bool:
    back = cls.model_validate_json(text)
    return back == rec and back.model_fields_set == rec.model_fields_set


def _cat(values: list[str | None]) -> pa.DictionaryArray:
    return pa.array(values, type=pa.string()).dictionary_encode()


def _entity_table(ds: Dataset) -> pa.Table:
    """The entities as columns; raises SnapshotError when one would not read back equal."""
    cols: dict[str, list[Any]] = {
        n: []
        for n in (
            "id",
            "name",
            "kind",
            "country",
            "principal_place",
            "us_person",
            "aliases",
            "lists",
            "identifiers",
            "facts",
            "sources",
            "unconfirmed",
            "unconfirmed_note",
            "note",
            "fields_set",
            "file",
            "where",
        )
    }
    kind_code = {k: i for i, k in enumerate(_ENTITY_KINDS)}
    bit = {f: 1 << i for i, f in enumerate(_ENTITY_FIELDS)}
    masks: dict[frozenset[str], int] = {}
    locate = ds.locate
    for eid, e in ds.entities.items():
        fs = frozenset(e.model_fields_set)
        m = masks.get(fs)
        if m is None:
            m = masks[fs] = sum(bit[f] for f in fs)
        cols["id"].append(eid)
        cols["name"].append(e.name)
        cols["kind"].append(kind_code[e.kind])
        cols["country"].append(e.country)
        cols["principal_place"].append(e.principal_place)
        cols["us_person"].append(0 if e.us_person is None else 2 if e.us_person else 1)
        for name, adapter, value in (
            ("aliases", _ALIASES, e.aliases),
            ("lists", _LISTS, e.lists),
            ("identifiers", _IDENTS, e.identifiers),
        ):
            if value:
                text = adapter.dump_json(value, by_alias=True, exclude_unset=True).decode()
                back = adapter.validate_json(text)
                if back != value or [getattr(x, "model_fields_set", None) for x in back] != [
                    getattr(x, "model_fields_set", None) for x in value
                ]:
                    raise SnapshotError(f"entity {eid!r}: {name} would not read back equal")
                cols[name].append(text)
            else:
                cols[name].append(None)
        cols["facts"].append(_facts_text(eid, e.facts))
        if any(";" in s for s in e.sources) or (e.sources == [""]):
            raise SnapshotError(f"entity {eid!r}: a source id with ';'")
        cols["sources"].append(";".join(e.sources))
        cols["unconfirmed"].append(bool(e.unconfirmed))
        cols["unconfirmed_note"].append(e.unconfirmed_note)
        cols["note"].append(e.note)
        cols["fields_set"].append(m)
        file, where = locate("entity", eid)
        cols["file"].append(file)
        cols["where"].append(where)
    return pa.table(
        {
            "id": pa.array(cols["id"], pa.string()),
            "name": pa.array(cols["name"], pa.string()),
            "kind": pa.array(cols["kind"], pa.int8()),
            "country": _cat(cols["country"]),
            "principal_place": _cat(cols["principal_place"]),
            "us_person": pa.array(cols["us_person"], pa.int8()),
            "aliases": pa.array(cols["aliases"], pa.string()),
            "lists": pa.array(cols["lists"], pa.string()),
            "identifiers": pa.array(cols["identifiers"], pa.string()),
            "facts": pa.array(cols["facts"], pa.string()),
            "sources": _cat(cols["sources"]),
            "unconfirmed": pa.array(cols["unconfirmed"], pa.bool_()),
            "unconfirmed_note": pa.array(cols["unconfirmed_note"], pa.string()),
            "note": pa.array(cols["note"], pa.string()),
            "fields_set": pa.array(cols["fields_set"], pa.uint16()),
            "file": _cat(cols["file"]),
            "where": pa.array(cols["where"], pa.string()),
        }
    )


def _facts_text(eid: str, facts: EntityFacts | None) -> str | None:
    """An entity's ``facts`` as JSON text (None when it has none); raises SnapshotError when
    the text would not read back equal."""
    if facts is None:
        return None
    text = _FACTS.dump_json(facts, by_alias=True, exclude_unset=True).decode()
    if _FACTS.validate_json(text) != facts:
        raise SnapshotError(f"entity {eid!r}: facts would not read back equal")
    return str(text)


def _sparse(n: int, values: dict[int, str]) -> pa.Array:
    out: list[str | None] = [None] * n
    for r, v in values.items():
        out[r] = v
    return pa.array(out, pa.string())


def _links_table(st: LinkStore) -> tuple[pa.Table, list[dict[str, Any]]]:
    """The bulk link columns of ``st`` as one table (blocks one after the other) and the
    blocks' files and sizes."""
    parts, blocks = [], []
    sets: dict[str, int] = {}
    for col in st.columns:
        n = len(col)
        keys = [";".join(s) for s in col.source_sets]
        remap = np.array([sets.setdefault(k, len(sets)) for k in keys], dtype=np.int32)
        lic = {r: _dump(v) for r, v in col.licence.items()}
        for r, v in col.licence.items():
            if not _exact(LicenceTerms, v, lic[r]):
                raise SnapshotError(f"link {col.ids[r]!r}: licence would not read back equal")
        parts.append(
            pa.table(
                {
                    "id": pa.array(list(col.ids), pa.string()),
                    "line": pa.array(col.line, pa.int32()),
                    "source": pa.array(col.source, pa.int32()),
                    "target": pa.array(col.target, pa.int32()),
                    "kind": pa.array(col.kind, pa.int8()),
                    "share": pa.array(col.share, pa.int8()),
                    "lo": pa.array(col.lo, pa.float64()),
                    "hi": pa.array(col.hi, pa.float64()),
                    "excl_min": pa.array(col.excl_min, pa.int8()),
                    "excl_max": pa.array(col.excl_max, pa.int8()),
                    "valid_from": pa.array(col.valid_from, pa.int32()),
                    "valid_to": pa.array(col.valid_to, pa.int32()),
                    "status": pa.array(col.status, pa.int8()),
                    "unconfirmed": pa.array(col.unconfirmed, pa.int8()),
                    "role": pa.array(col.role, pa.int8()),
                    "source_set": pa.array(remap[np.asarray(col.source_set)], pa.int32()),
                    "arrangement": _sparse(n, col.arrangement),
                    "unconfirmed_note": _sparse(n, col.unconfirmed_note),
                    "note": _sparse(n, col.note),
                    "licence": _sparse(n, lic),
                }
            )
        )
        blocks.append({"file": col.file, "rows": n})
    if parts:
        t = pa.concat_tables(parts).combine_chunks()
    else:
        t = pa.table({"id": pa.array([], pa.string()), "line": pa.array([], pa.int32())})
    order = pc.sort_indices(t.column("id")).cast(pa.int32())
    t = t.append_column("sorted", order)
    set_names = sorted(sets, key=sets.__getitem__)
    return t, [{"blocks": blocks, "source_sets": set_names}]


def _records_table(ds: Dataset) -> pa.Table:
    """Sources, arrangements and the links held as objects, as (kind, id, file, where, json)."""
    rows: dict[str, list[Any]] = {"kind": [], "id": [], "file": [], "where": [], "json": []}
    st = ds.store
    objects: list[tuple[str, BaseModel]] = [("source", s) for s in ds.sources.values()]
    objects += [("link", st.at(k)) for k in range(st.n_positions - sum(map(len, st.columns)))]
    objects += [("arrangement", a) for a in ds.arrangements.values()]
    for kind, rec in objects:
        rid = str(getattr(rec, "id"))  # noqa: B009
        text = _dump(rec)
        if not _exact(_RECORD_CLASSES[kind], rec, text):
            raise SnapshotError(f"{kind} {rid!r} would not read back equal")
        file, where = ds.locate(kind, rid)
        rows["kind"].append(kind)
        rows["id"].append(rid)
        rows["file"].append(file)
        rows["where"].append(where)
        rows["json"].append(text)
    return pa.table(
        {
            "kind": _cat(rows["kind"]),
            "id": pa.array(rows["id"], pa.string()),
            "file": _cat(rows["file"]),
            "where": pa.array(rows["where"], pa.string()),
            "json": pa.array(rows["json"], pa.large_string()),
        }
    )


def _write_ipc(path: Path, t: pa.Table) -> str:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
        w.write_table(t, max_chunksize=max(len(t), 1))
    return _file_digest(path)


def _file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_snapshot(ds: Dataset, where: Path, content_digest: bytes | None = None) -> Path:
    """Write the snapshot of a validated, loaded dataset into the directory ``where`` (made;
    written beside it and moved in whole, so a reader never sees half a snapshot). Returns
    ``where``. Raises :class:`SnapshotError` for a dataset it cannot represent exactly and
    ``OSError`` when it cannot write."""
    if ds.base is not None:
        raise SnapshotError("a what-if variant is not snapshotted")
    tmp = where.parent / f".tmp-{where.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        links, (meta,) = _links_table(ds.store)
        digests = {
            "entities.arrow": _write_ipc(tmp / "entities.arrow", _entity_table(ds)),
            "links.arrow": _write_ipc(tmp / "links.arrow", links),
            "records.arrow": _write_ipc(tmp / "records.arrow", _records_table(ds)),
        }
        manifest = {
            "format": SNAPSHOT_FORMAT,
            "code": code_fingerprint(),
            "key": where.name,
            "content": content_digest.hex() if content_digest else None,
            "version": ds.version,
            "path": ds.path,
            "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "files": digests,
            # the dates the valid links change (a np.unique over every link's dates at open)
            "link_boundaries": [d.toordinal() for d in ds.link_boundaries],
            **meta,
        }
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=1))
        try:
            os.rename(tmp, where)
        except OSError:
            if not (where / _MANIFEST).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process wrote it first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return where


def prune(directory: Path, keep: int = 3) -> None:
    """Remove all but the ``keep`` most recently written snapshots in ``directory`` (a process
    that mapped a removed one keeps reading it: the files go when it closes them)."""
    try:
        snaps = [p for p in directory.iterdir() if (p / _MANIFEST).is_file()]
    except OSError:
        return
    snaps.sort(key=lambda p: (p / _MANIFEST).stat().st_mtime, reverse=True)
    for p in snaps[keep:]:
        shutil.rmtree(p, ignore_errors=True)


# --------------------------------------------------------------------------- reading


def _read_ipc(path: Path) -> pa.Table:
    with pa.memory_map(str(path), "r") as src:
        return pa.ipc.open_file(src).read_all()


def open_snapshot(where: str | Path, *, key: str | None = None, verify: bool = True) -> Dataset:
    """The dataset a snapshot directory holds. ``key`` (default: the directory's name) must be
    the manifest's; with ``verify`` every file's SHA-256 is checked against the manifest.
    Raises :class:`SnapshotError` when it does not match or does not read."""
    where = Path(where)
    try:
        manifest = json.loads((where / _MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{where}: no readable manifest ({exc})") from exc
    if not isinstance(manifest, dict):
        raise SnapshotError(f"{where}: manifest is not an object")
    want = key or where.name
    if (
        manifest.get("format") != SNAPSHOT_FORMAT
        or manifest.get("code") != code_fingerprint()
        or manifest.get("key") != want
    ):
        raise SnapshotError(f"{where}: written for another key, format or code")
    files = manifest.get("files") or {}
    try:
        if verify:
            for name in _FILES:
                if _file_digest(where / name) != files.get(name):
                    raise SnapshotError(f"{where / name}: checksum does not match the manifest")
        return _assemble(where, manifest)
    except SnapshotError:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError, pa.ArrowException) as exc:
        raise SnapshotError(f"{where}: unreadable ({type(exc).__name__}: {exc})") from exc


def _assemble(where: Path, manifest: dict[str, Any]) -> Dataset:
    et = _read_ipc(where / "entities.arrow")
    ids: list[str] = et.column("id").to_pylist()
    index = dict(zip(ids, range(len(ids)), strict=True))
    if len(index) != len(ids):
        raise SnapshotError(f"{where}: duplicate entity ids")
    entities = EntityTable(et, ids, index)

    rt = _read_ipc(where / "records.arrow")
    kinds, kind_names = _codes(rt.column("kind"))
    files, file_names = _codes(rt.column("file"))
    rids: list[str] = rt.column("id").to_pylist()
    wheres = rt.column("where").to_pylist()
    texts = _one(rt.column("json"))
    locations: dict[tuple[str, str], tuple[str, str]] = {}
    by_kind: dict[str, list[int]] = {k: [] for k in RECORD_KINDS}
    for r, (k, rid) in enumerate(zip(kinds.tolist(), rids, strict=True)):
        kind = kind_names[k]
        by_kind[kind].append(r)
        locations[(kind, rid)] = (file_names[files[r]], wheres[r])
    sources = {rids[r]: Source.model_validate_json(texts[r].as_py()) for r in by_kind["source"]}
    objects = {rids[r]: Link.model_validate_json(texts[r].as_py()) for r in by_kind["link"]}
    arr_rows = by_kind["arrangement"]
    arrangements: JsonTable[Arrangement] = JsonTable(
        Arrangement, [rids[r] for r in arr_rows], arr_rows, texts
    )

    lt = _read_ipc(where / "links.arrow")
    columns = _link_columns(lt, manifest)
    positions: Mapping[str, int] = {}
    if lt.num_rows:
        positions = SortedIdIndex(_one(lt.column("id")), _one(lt.column("sorted")).to_numpy())
    store = LinkStore(objects, columns, ids, index, positions)  # type: ignore[arg-type]
    ds = Dataset(
        sources=sources,
        entities=entities,
        links=store,
        arrangements=arrangements,
        version=str(manifest["version"]),
        origin=SnapshotOrigins(entities, locations),
        path=manifest.get("path"),
        snapshot=str(where),
    )
    days = manifest["link_boundaries"]
    ds.__dict__["link_boundaries"] = [dt.date.fromordinal(int(d)) for d in days]
    return ds


def _link_columns(t: pa.Table, manifest: dict[str, Any]) -> list[LinkColumns]:
    if not t.num_rows:
        return []
    source_sets = [tuple(s.split(";")) if s else () for s in manifest["source_sets"]]
    col = _columns(t)

    def np_(name: str) -> np.ndarray[Any, Any]:
        return np.asarray(col[name].to_numpy())

    def sparse(name: str, lo: int, n: int) -> dict[int, Any]:
        part = col[name].slice(lo, n)
        rows = np.flatnonzero(_valid(part)).tolist()
        vals = part.take(pa.array(rows, pa.int64())).to_pylist() if rows else []
        return dict(zip(rows, vals, strict=True))

    out, lo = [], 0
    arrays = {n: np_(n) for n in ("line", "source", "target", "kind", "share", "lo", "hi")}
    arrays |= {n: np_(n) for n in ("excl_min", "excl_max", "valid_from", "valid_to", "status")}
    arrays |= {n: np_(n) for n in ("unconfirmed", "role", "source_set")}
    for b in manifest["blocks"]:
        n = int(b["rows"])
        sl = {k: v[lo : lo + n] for k, v in arrays.items()}
        lic: JsonRows[LicenceTerms] = JsonRows(LicenceTerms, sparse("licence", lo, n))
        out.append(
            LinkColumns(
                file=str(b["file"]),
                ids=StrColumn(col["id"].slice(lo, n)),  # type: ignore[arg-type]
                source_sets=source_sets,
                arrangement=sparse("arrangement", lo, n),
                unconfirmed_note=sparse("unconfirmed_note", lo, n),
                note=sparse("note", lo, n),
                licence=lic,
                **sl,
            )
        )
        lo += n
    return out
