"""Links of a dataset, held as objects (curated files) and as columns (bulk CSV files).

A 1M-entity dataset has ~3M links. As pydantic objects they cost ~1 KB and ~40 µs each to build
(3 GB and two minutes), and a NetworkX MultiDiGraph of them as much again. Bulk CSV rows that
pass the strict checks of :mod:`.bulkcsv` are therefore kept here as typed NumPy columns
and become :class:`.model.Link` objects only when something reads them (a path listing,
a rule looking at an arrangement's parties). Whole-graph work (matrices, date epochs, the graph's
adjacency) reads the columns directly through :meth:`LinkStore.arrays`.

:class:`LinkStore` is a read-only ``Mapping[str, Link]``: code that reads ``dataset.links`` as a
dict keeps working, and a materialized link equals the one pydantic would have validated from the
same row (``tests/test_bulkcsv.py`` checks this on every field).

>>> from georisk.scoring.model import Link
>>> st = LinkStore.of_objects({"a-b": Link(id="a-b", kind="equity", source="a", target="b",
...                                         share=0.6, sources=["s1"])}, {"a": 0, "b": 1})
>>> st["a-b"].share, len(st), st.arrays().lo.tolist()
(0.6, 1, [0.6])
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from georisk.scoring.model import (
    LicenceTerms,
    Link,
    LinkKind,
    LinkStatus,
    ShareRange,
)

__all__ = [
    "KIND_CODES",
    "LINK_KINDS",
    "LINK_STATUSES",
    "NO_DATE",
    "LinkArrays",
    "LinkColumns",
    "LinkStore",
    "OverlaidStore",
    "build",
    "construct",
    "template",
]

LINK_KINDS: tuple[LinkKind, ...] = tuple(LinkKind)
KIND_CODES: dict[LinkKind, int] = {k: i for i, k in enumerate(LINK_KINDS)}
LINK_STATUSES: tuple[LinkStatus, ...] = tuple(LinkStatus)
#: role codes (append only: codes are stored in snapshots and arrays)
ROLES: tuple[str | None, ...] = (
    None,
    "board",
    "officer",
    "direct_consolidation",
    "ultimate_consolidation",
    "influence",
)
#: day ordinal standing for "no date" (open bound) in the date columns
NO_DATE = 0
#: materialized links kept per store (a bounded cache: a batch over every arrangement touches
#: a small neighbourhood of each, not all 3M links at once)
CACHE_LIMIT = 200_000

I8 = np.ndarray[Any, np.dtype[np.int8]]
I32 = np.ndarray[Any, np.dtype[np.int32]]
I64 = np.ndarray[Any, np.dtype[np.int64]]
F64 = np.ndarray[Any, np.dtype[np.float64]]
B = np.ndarray[Any, np.dtype[np.bool_]]


M = TypeVar("M", bound=BaseModel)
_setattr = object.__setattr__


def template(cls: type[BaseModel]) -> dict[str, Any]:
    """Every field of ``cls`` in declaration order, with its default (None when required)."""
    out: dict[str, Any] = {}
    for name, f in cls.model_fields.items():
        if f.default_factory is not None:
            out[name] = None  # callers give list-valued fields themselves (never shared)
        else:
            out[name] = None if f.is_required() else f.default
    return out


def build(cls: type[M], fields: dict[str, Any], fields_set: set[str]) -> M:
    """An instance of ``cls`` whose ``__dict__`` is ``fields`` (every field, in declaration
    order, values already validated), as ``model_construct`` leaves it, at a quarter of its
    cost: pydantic 2.14's ``model_construct`` inspects every ``default_factory`` signature per
    call. ``tests/test_bulkcsv.py`` checks equality with pydantic-validated records."""
    obj = cls.__new__(cls)
    _setattr(obj, "__dict__", fields)
    _setattr(obj, "__pydantic_fields_set__", fields_set)
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj


def construct(cls: type[M], tmpl: dict[str, Any], values: dict[str, Any]) -> M:
    """:func:`build` from a :func:`template` and the given ``values`` (the fields set)."""
    d = dict(tmpl)
    d.update(values)
    return build(cls, d, set(values))


_LINK = template(Link)
_RANGE = template(ShareRange)


@dataclass
class LinkColumns:
    """Validated bulk-CSV links of one file, one NumPy column per field (row order).

    ``source``/``target`` are entity positions in the dataset's entity order (resolved when the
    dataset is assembled); ``line`` is the CSV line of each row, for error messages and
    :meth:`LinkStore.origin_of`.
    """

    file: str
    ids: list[str]
    line: I32
    source: I32
    target: I32
    kind: I8
    share: I8  # 0 no share, 1 exact, 2 range
    lo: F64
    hi: F64
    excl_min: I8  # 0 not given, 1 false, 2 true
    excl_max: I8
    valid_from: I32  # day ordinals, NO_DATE when open
    valid_to: I32
    status: I8  # 0 not given, else index into LINK_STATUSES + 1
    unconfirmed: I8  # 0 not given, 1 false, 2 true
    role: I8  # index into ROLES
    source_sets: list[tuple[str, ...]]  # distinct `sources` cells, split
    source_set: I32  # index into source_sets
    arrangement: dict[int, str] = field(default_factory=dict)  # sparse: row → arrangement id
    unconfirmed_note: dict[int, str] = field(default_factory=dict)
    note: dict[int, str] = field(default_factory=dict)
    #: a dict, or a snapshot's mapping that validates each row's terms when read
    licence: Mapping[int, LicenceTerms] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def link(self, r: int, entity_ids: list[str]) -> Link:
        """Row ``r`` as a Link, with the fields a validated record of the row would have set."""
        kw: dict[str, Any] = {
            "id": self.ids[r],
            "kind": LINK_KINDS[self.kind[r]],
            "source": entity_ids[self.source[r]],
            "target": entity_ids[self.target[r]],
            "sources": list(self.source_sets[self.source_set[r]]),
        }
        sh = int(self.share[r])
        if sh == 1:
            kw["share"] = float(self.lo[r])
        elif sh == 2:
            rng: dict[str, Any] = {"minimum": float(self.lo[r]), "maximum": float(self.hi[r])}
            if self.excl_min[r]:
                rng["exclusive_minimum"] = bool(self.excl_min[r] == 2)
            if self.excl_max[r]:
                rng["exclusive_maximum"] = bool(self.excl_max[r] == 2)
            kw["share"] = construct(ShareRange, _RANGE, rng)
        vf, vt = int(self.valid_from[r]), int(self.valid_to[r])
        if vf != NO_DATE:
            kw["valid_from"] = dt.date.fromordinal(vf)
        if vt != NO_DATE:
            kw["valid_to"] = dt.date.fromordinal(vt)
        if self.status[r]:
            kw["status"] = LINK_STATUSES[self.status[r] - 1]
        if self.unconfirmed[r]:
            kw["unconfirmed"] = bool(self.unconfirmed[r] == 2)
        if self.role[r]:
            kw["role"] = ROLES[self.role[r]]
        for name in ("arrangement", "unconfirmed_note", "note", "licence"):
            v = getattr(self, name).get(r)
            if v is not None:
                kw[name] = v
        return construct(Link, _LINK, kw)


@dataclass(frozen=True)
class LinkArrays:
    """Every link of a store as parallel arrays, in store order (objects first, then columns).

    Shares are the (lower, upper) bounds of :meth:`Link.share_bounds`; dates are day ordinals
    with :data:`NO_DATE` for an open bound.
    """

    source: I64
    target: I64
    kind: I8
    lo: F64
    hi: F64
    valid_from: I32
    valid_to: I32
    #: False at the positions of links an overlay removed (None: every position is a link)
    alive: B | None = None

    def __len__(self) -> int:
        return len(self.source)

    def active(self, on: dt.date) -> B:
        d = on.toordinal()
        vf, vt = self.valid_from, self.valid_to
        out: B = ((vf == NO_DATE) | (vf <= d)) & ((vt == NO_DATE) | (d <= vt))
        if self.alive is not None:
            out &= self.alive
        return out


class LinkStore(Mapping[str, Link]):
    """A read-only mapping of link id → :class:`Link` over objects and bulk columns."""

    def __init__(
        self,
        objects: dict[str, Link],
        columns: list[LinkColumns],
        entity_ids: list[str],
        entity_index: Mapping[str, int],
        positions: dict[str, int] | None = None,
    ) -> None:
        """``positions``: bulk link id → row in the concatenated ``columns`` (built here when
        not given; :func:`.dataset.assemble` builds it once to find duplicate ids)."""
        self._objects = objects
        self._obj_list = list(objects.values())
        self._columns = columns
        self._entity_ids = entity_ids
        self._entity_index = entity_index
        if positions is None:
            positions = {}
            for col in columns:
                base = len(positions)
                positions.update(zip(col.ids, range(base, base + len(col)), strict=True))
        self._pos = positions
        # store positions: objects [0, n_obj), then each column block in turn
        self._offsets = np.cumsum([len(self._obj_list), *(len(c) for c in columns)])
        self._cache: dict[int, Link] = {}
        self._arrays: LinkArrays | None = None
        self._obj_pos: dict[str, int] | None = None

    @staticmethod
    def of_objects(objects: dict[str, Link], entity_index: Mapping[str, int]) -> LinkStore:
        ids = sorted(entity_index, key=entity_index.__getitem__)
        return LinkStore(objects, [], ids, entity_index)

    # ------------------------------------------------------------------ Mapping

    def __getitem__(self, key: str) -> Link:
        obj = self._objects.get(key)
        if obj is not None:
            return obj
        return self.at(len(self._obj_list) + self._pos[key])

    def __contains__(self, key: object) -> bool:
        return key in self._objects or key in self._pos

    def __iter__(self) -> Iterator[str]:
        yield from self._objects
        for col in self._columns:
            yield from col.ids

    def __len__(self) -> int:
        return len(self._objects) + len(self._pos)

    # ------------------------------------------------------------------ positions

    @property
    def columns(self) -> list[LinkColumns]:
        return self._columns

    @property
    def entity_ids(self) -> list[str]:
        """Entity ids in dataset order: position ``i`` is entity index ``i`` of the arrays."""
        return self._entity_ids

    @property
    def entity_index(self) -> Mapping[str, int]:
        return self._entity_index

    def at(self, k: int) -> Link:
        """The link at store position ``k`` (see :class:`LinkArrays`)."""
        if k < len(self._obj_list):
            return self._obj_list[k]
        hit = self._cache.get(k)
        if hit is not None:
            return hit
        c = int(np.searchsorted(self._offsets, k, side="right"))
        r = k - int(self._offsets[c - 1])
        link = self._columns[c - 1].link(r, self._entity_ids)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[k] = link
        return link

    def proposed(self, positions: np.ndarray) -> np.ndarray:
        """Whether the link at each store position is only PROPOSED, read from the columns
        without building the links (a party's links number in the hundreds; proposed ones
        are rare)."""
        ks = np.asarray(positions, dtype=np.int64)
        out = np.zeros(len(ks), dtype=bool)
        n_obj = len(self._obj_list)
        for j in np.flatnonzero(ks < n_obj).tolist():
            out[j] = self._obj_list[int(ks[j])].status is LinkStatus.PROPOSED
        bulk = np.flatnonzero(ks >= n_obj)
        if len(bulk):
            code = LINK_STATUSES.index(LinkStatus.PROPOSED) + 1  # 0: not given (confirmed)
            block = np.searchsorted(self._offsets, ks[bulk], side="right")
            for c in np.unique(block).tolist():
                at = bulk[block == c]
                rows = ks[at] - int(self._offsets[c - 1])
                out[at] = self._columns[c - 1].status[rows] == code
        return out

    @property
    def n_positions(self) -> int:
        """Number of store positions (:meth:`at` takes ``0 <= k < n_positions``)."""
        return len(self._obj_list) + len(self._pos)

    def position(self, key: str) -> int | None:
        """Store position of link ``key`` (None for an unknown link)."""
        p = self._pos.get(key)
        if p is not None:
            return len(self._obj_list) + p
        if key not in self._objects:
            return None
        if self._obj_pos is None:
            self._obj_pos = {k: i for i, k in enumerate(self._objects)}
        return self._obj_pos[key]

    def locate(self, key: str) -> tuple[str, str] | None:
        """(file, ``row N (id=…)``) of a bulk link, None for an object link."""
        p = self._pos.get(key)
        if p is None:
            return None
        k = len(self._obj_list) + p
        c = int(np.searchsorted(self._offsets, k, side="right"))
        col = self._columns[c - 1]
        return col.file, f"row {int(col.line[k - int(self._offsets[c - 1])])} (id={key})"

    def origin_of(self, key: str) -> str | None:
        """``"file: row N (id=…)"`` for a bulk link, None for an object link."""
        got = self.locate(key)
        return None if got is None else f"{got[0]}: {got[1]}"

    def bounds(self, positions: np.ndarray[Any, Any]) -> tuple[F64, F64]:
        """(lower, upper) share bounds of the links at store ``positions``."""
        a = self.arrays()
        return a.lo[positions], a.hi[positions]

    def where(
        self,
        *,
        entities: Iterable[str] = (),
        targets: Iterable[str] = (),
        kinds: Iterable[LinkKind] | None = None,
    ) -> I64:
        """Sorted store positions of the links that touch one of ``entities`` (as source or
        target) or point to one of ``targets``, of ``kinds`` (any kind when None), on any date."""
        ix = self._entity_index
        a = self.arrays()
        mask = np.zeros(len(a), dtype=bool)
        ents = np.fromiter((ix[e] for e in entities if e in ix), dtype=np.int64)
        if len(ents):
            mask |= np.isin(a.source, ents) | np.isin(a.target, ents)
        tgts = np.fromiter((ix[e] for e in targets if e in ix), dtype=np.int64)
        if len(tgts):
            mask |= np.isin(a.target, tgts)
        if kinds is not None:
            mask &= np.isin(a.kind, [KIND_CODES[k] for k in kinds])
        if a.alive is not None:
            mask &= a.alive
        out: I64 = np.flatnonzero(mask).astype(np.int64)
        return out

    def citing(self, sources: set[str]) -> I64:
        """Sorted store positions of the links that cite one of ``sources``."""
        out = [i for i, l in enumerate(self._obj_list) if not sources.isdisjoint(l.sources)]
        for col, off in zip(self._columns, self._offsets[:-1], strict=True):
            hit = [k for k, ss in enumerate(col.source_sets) if not sources.isdisjoint(ss)]
            if hit:
                out += (np.flatnonzero(np.isin(col.source_set, hit)) + int(off)).tolist()
        return np.array(sorted(out), dtype=np.int64)

    def in_arrangements(self, arrangements: set[str]) -> I64:
        """Sorted store positions of the links that name one of ``arrangements``."""
        out = [i for i, l in enumerate(self._obj_list) if l.arrangement in arrangements]
        for col, off in zip(self._columns, self._offsets[:-1], strict=True):
            out += [r + int(off) for r, a in col.arrangement.items() if a in arrangements]
        return np.array(sorted(out), dtype=np.int64)

    def arrays(self) -> LinkArrays:
        """Every link as parallel arrays (built once)."""
        if self._arrays is None:
            self._arrays = self._build_arrays()
        return self._arrays

    def _build_arrays(self) -> LinkArrays:
        objs = self._obj_list
        ix = self._entity_index
        n = len(objs)
        o_src = np.fromiter((ix[l.source] for l in objs), dtype=np.int64, count=n)
        o_dst = np.fromiter((ix[l.target] for l in objs), dtype=np.int64, count=n)
        o_kind = np.fromiter((KIND_CODES[l.kind] for l in objs), dtype=np.int8, count=n)
        b = np.array([l.share_bounds() for l in objs], dtype=np.float64).reshape(-1, 2)
        o_vf = np.fromiter(
            (l.valid_from.toordinal() if l.valid_from else NO_DATE for l in objs),
            dtype=np.int32,
            count=n,
        )
        o_vt = np.fromiter(
            (l.valid_to.toordinal() if l.valid_to else NO_DATE for l in objs),
            dtype=np.int32,
            count=n,
        )
        cols = self._columns

        def cat(own: np.ndarray[Any, Any], name: str, dtype: Any) -> Any:
            parts = [own.astype(dtype, copy=False)]
            parts += [np.asarray(getattr(c, name), dtype=dtype) for c in cols]
            return np.concatenate(parts) if len(parts) > 1 else parts[0]

        lo_parts = [b[:, 0]] + [np.where(c.share == 0, 0.0, c.lo) for c in cols]
        hi_parts = [b[:, 1]] + [np.where(c.share == 0, 1.0, c.hi) for c in cols]
        return LinkArrays(
            source=cat(o_src, "source", np.int64),
            target=cat(o_dst, "target", np.int64),
            kind=cat(o_kind, "kind", np.int8),
            lo=np.concatenate(lo_parts),
            hi=np.concatenate(hi_parts),
            valid_from=cat(o_vf, "valid_from", np.int32),
            valid_to=cat(o_vt, "valid_to", np.int32),
        )


class EntityIndex(Mapping[str, int]):
    """Entity id → position in an overlaid dataset's entity order, over the base's index
    (not copied): ``remap`` takes a base position to the new one (-1: removed; None: the same),
    ``extra`` holds the entities added by overlays."""

    def __init__(
        self,
        base: Mapping[str, int],
        remap: I64 | None,
        extra: dict[str, int],
        ids: list[str],
    ) -> None:
        self.base, self.remap, self.extra, self._ids = base, remap, extra, ids

    def __getitem__(self, key: str) -> int:
        got = self.extra.get(key)
        if got is not None:
            return got
        i = self.base[key]
        if self.remap is None:
            return i
        j = int(self.remap[i])
        if j < 0:
            raise KeyError(key)
        return j

    def __contains__(self, key: object) -> bool:
        if key in self.extra:
            return True
        i = self.base.get(key)  # type: ignore[call-overload]
        return i is not None and (self.remap is None or self.remap[i] >= 0)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


class OverlaidStore(LinkStore):
    """The links of a what-if variant: a base :class:`LinkStore` (shared, never copied) with
    links removed, changed in place and added.

    Base positions keep their meaning (a removed position holds no link, a changed one its
    replacement); added links take the positions after the base's. Iteration follows the
    positions, which is the order a full re-validation of the variant would give.
    ``entity_map`` takes a base entity position to the variant's (-1: removed), None when no
    base entity was removed (then base positions are unchanged and added entities follow).
    """

    def __init__(
        self,
        base: LinkStore,
        removed: frozenset[int],
        changed: dict[int, Link],
        added: list[Link],
        entity_ids: list[str],
        entity_index: Mapping[str, int],
        entity_map: I64 | None,
    ) -> None:
        assert not isinstance(base, OverlaidStore), "overlays of overlays are flattened"
        self.base = base
        self.removed = removed
        self.changed = changed
        self.added = added
        self.entity_map = entity_map
        self._n = base.n_positions
        self._added_pos = {l.id: i for i, l in enumerate(added)}
        self._entity_ids = entity_ids
        self._entity_index = entity_index
        self._arrays = None
        self._touched = np.array(sorted(removed | changed.keys()), dtype=np.int64)

    @property
    def touched(self) -> I64:
        """Sorted base positions removed or changed."""
        return self._touched

    # ------------------------------------------------------------------ Mapping

    def __getitem__(self, key: str) -> Link:
        i = self._added_pos.get(key)
        if i is not None:
            return self.added[i]
        p = self.base.position(key)
        if p is None or p in self.removed:
            raise KeyError(key)
        got = self.changed.get(p)
        return got if got is not None else self.base.at(p)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return self.position(key) is not None

    def __iter__(self) -> Iterator[str]:
        gone = self.removed
        for k, key in enumerate(self.base):
            if k not in gone:
                yield key
        yield from self._added_pos

    def __len__(self) -> int:
        return len(self.base) - len(self.removed) + len(self.added)

    # ------------------------------------------------------------------ positions

    @property
    def columns(self) -> list[LinkColumns]:
        return self.base.columns

    @property
    def n_positions(self) -> int:
        return self._n + len(self.added)

    def position(self, key: str) -> int | None:
        i = self._added_pos.get(key)
        if i is not None:
            return self._n + i
        p = self.base.position(key)
        return None if p is None or p in self.removed else p

    def proposed(self, positions: np.ndarray) -> np.ndarray:
        """:meth:`LinkStore.proposed` of a variant's positions (its links, built: few)."""
        return np.array(
            [self.at(int(k)).status is LinkStatus.PROPOSED for k in np.asarray(positions)],
            dtype=bool,
        )

    def at(self, k: int) -> Link:
        if k >= self._n:
            return self.added[k - self._n]
        if k in self.removed:
            raise KeyError(k)
        got = self.changed.get(k)
        return got if got is not None else self.base.at(k)

    def locate(self, key: str) -> tuple[str, str] | None:
        p = self.base.position(key)
        if p is None or p in self.removed or key in self._added_pos:
            return None
        return self.base.locate(key)

    def bounds(self, positions: np.ndarray[Any, Any]) -> tuple[F64, F64]:
        pos = np.asarray(positions, dtype=np.int64)
        lo, hi = self.base.bounds(np.where(pos < self._n, pos, 0))
        lo, hi = lo.copy(), hi.copy()
        own = pos >= self._n
        if len(self.changed):
            own |= np.isin(pos, np.fromiter(self.changed, np.int64, len(self.changed)))
        for j in np.flatnonzero(own).tolist():
            lo[j], hi[j] = self.at(int(pos[j])).share_bounds()
        return lo, hi

    def patch(self) -> list[tuple[int, Link]]:
        """(position, link) of the changed and added links, by position."""
        out = sorted(self.changed.items())
        out += [(self._n + i, l) for i, l in enumerate(self.added)]
        return out

    def where(
        self,
        *,
        entities: Iterable[str] = (),
        targets: Iterable[str] = (),
        kinds: Iterable[LinkKind] | None = None,
    ) -> I64:
        ents, tgts = set(entities), set(targets)
        base = self.base.where(entities=ents, targets=tgts, kinds=kinds)
        base = base[~np.isin(base, self._touched)]
        ks = None if kinds is None else set(kinds)
        own = [
            p
            for p, l in self.patch()
            if (l.source in ents or l.target in ents or l.target in tgts)
            and (ks is None or l.kind in ks)
        ]
        return np.union1d(base, np.array(own, dtype=np.int64))

    def citing(self, sources: set[str]) -> I64:
        base = self.base.citing(sources)
        base = base[~np.isin(base, self._touched)]
        own = [p for p, l in self.patch() if not sources.isdisjoint(l.sources)]
        return np.union1d(base, np.array(own, dtype=np.int64))

    def in_arrangements(self, arrangements: set[str]) -> I64:
        base = self.base.in_arrangements(arrangements)
        base = base[~np.isin(base, self._touched)]
        own = [p for p, l in self.patch() if l.arrangement in arrangements]
        return np.union1d(base, np.array(own, dtype=np.int64))

    def _build_arrays(self) -> LinkArrays:
        """The base's arrays copied and patched (whole-store work only: the graph of a date
        is derived from the base's instead, see :meth:`.graph.Adjacency.derive`)."""
        b = self.base.arrays()
        n_add = len(self.added)

        def grow(x: np.ndarray[Any, Any], fill: Any = 0) -> Any:
            return np.concatenate([x, np.full(n_add, fill, dtype=x.dtype)])

        src, dst = grow(b.source), grow(b.target)
        if self.entity_map is not None:
            m = self.entity_map
            src[: self._n] = np.where(b.source >= 0, m[b.source], -1)
            dst[: self._n] = np.where(b.target >= 0, m[b.target], -1)
        kind, lo, hi = grow(b.kind), grow(b.lo), grow(b.hi)
        vf, vt = grow(b.valid_from), grow(b.valid_to)
        alive = np.ones(self._n + n_add, dtype=bool) if b.alive is None else grow(b.alive, True)
        alive[np.fromiter(self.removed, np.int64, len(self.removed))] = False
        ix = self._entity_index
        for p, l in self.patch():
            src[p], dst[p], kind[p] = ix[l.source], ix[l.target], KIND_CODES[l.kind]
            lo[p], hi[p] = l.share_bounds()
            vf[p] = l.valid_from.toordinal() if l.valid_from else NO_DATE
            vt[p] = l.valid_to.toordinal() if l.valid_to else NO_DATE
        for p in self.removed:  # a removed link's ends may be removed entities
            src[p] = dst[p] = 0
        return LinkArrays(src, dst, kind, lo, hi, vf, vt, alive)
