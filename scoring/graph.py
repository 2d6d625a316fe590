"""The arrangement graph as of a date: a NetworkX MultiDiGraph plus share matrices beside it.

NetworkX is the model of record (nodes carry their :class:`.model.Entity`, edges their
:class:`~georisk.scoring.model.Link`, keyed by link id) and answers path questions. Whole-graph
arithmetic (integrated ownership, threshold closures) runs on CSR matrices built directly from
index arrays alongside it (:mod:`.ownership`), which is two orders of magnitude faster
than converting the NetworkX graph.

Only links valid on ``as_of`` are in the graph; every entity is.

>>> from georisk.scoring.dataset import load_dataset
>>> import pathlib
>>> g = ArrangementGraph.build(load_dataset(pathlib.Path(__file__).parents[1] / "data"),
...                            dt.date(2026, 11, 22))
>>> {"casip", "chery"} <= set(g.graph.successors("catl"))
True
>>> [l.share for l in g.links_into("aesc", [LinkKind.EQUITY])]
[0.75, 0.25]
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

import networkx as nx
import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, Field
from scipy.sparse.csgraph import breadth_first_order

from georisk.scoring.dataset import Dataset
from georisk.scoring.dataset.linkstore import KIND_CODES, OverlaidStore, build
from georisk.scoring.interval import EPS, Interval
from georisk.scoring.model import OWNERSHIP_KINDS, Entity, Link, LinkKind
from georisk.scoring.overlay import edited_entities
from georisk.scoring.ownership import (
    Bounds,
    Closure,
    ShareMatrix,
    same_array,
    shared_structure,
    threshold_closure,
)

T = TypeVar("T")

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_PATHS",
    "ENTITY_MEMO_LIMIT",
    "Adjacency",
    "ArrangementGraph",
    "Derivation",
    "GraphCache",
    "PathListing",
    "PathStep",
    "SharePath",
    "ShareValue",
]

DEFAULT_MAX_DEPTH = 8
DEFAULT_MAX_PATHS = 50
#: upper bound on DFS node expansions per listing, whatever the caps above
MAX_EXPANSIONS = 20_000
#: entity indices kept by the upstream memo of a graph, all entries together (~16 MB)
UPSTREAM_MEMO_ENTRIES = 4_000_000
#: per-entity values (controllers, FIE/SFE results, path listings) a graph keeps per table
#: (:meth:`ArrangementGraph.per_entity`); a value is a few KB
ENTITY_MEMO_LIMIT = 20_000
#: the key of the per-entity table in a graph's tables
_PER_ENTITY = "per-entity"
#: a derived graph recomputes a whole-graph quantity from scratch when the entities it must
#: recompute exceed this fraction of all entities (nothing to gain from the base's values)
MAX_DIRTY_FRACTION = 0.25
#: a derived graph recomputes a threshold closure from scratch when the entities it must
#: look at exceed this fraction of the base closure's members and seeds (plus 64)
CLOSURE_DIRTY_FRACTION = 0.25


#: every field of a :class:`ShareValue` is set by :meth:`ShareValue.of`
_SHARE_FIELDS = frozenset({"min", "max", "exclusive_min", "exclusive_max"})


class ShareValue(BaseModel):
    """A share as it appears in results: exact when min == max."""

    min: float
    max: float
    exclusive_min: bool = False
    exclusive_max: bool = False

    @staticmethod
    def of(i: Interval) -> ShareValue:
        """The value of ``i``, rounded to 1e-12. Built without validation (~20 per score: the
        fields are an :class:`Interval`'s floats and flags), as validation would build it."""
        return build(
            ShareValue,
            {
                "min": round(float(i.lo), 12),
                "max": round(float(i.hi), 12),
                "exclusive_min": bool(i.lo_open),
                "exclusive_max": bool(i.hi_open),
            },
            set(_SHARE_FIELDS),
        )

    def interval(self) -> Interval:
        return Interval(self.min, self.max, self.exclusive_min, self.exclusive_max)


class PathStep(BaseModel):
    link: str
    kind: LinkKind
    source: str
    target: str
    share: ShareValue | None
    sources: list[str]
    unconfirmed: bool = False
    status: str = "confirmed"


class SharePath(BaseModel):
    """A chain of links from a holder down to the entity, with the product of the shares."""

    holder: str
    entities: list[str] = Field(description="holder first, the entity last")
    steps: list[PathStep]
    product: ShareValue


class PathListing(BaseModel):
    paths: list[SharePath]
    truncated: bool = Field(description="true when a depth, count or expansion cap was hit")
    max_depth: int
    max_paths: int


def _gather(ptr: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Positions of the entries of the compressed rows (columns) ``lines``, given the index
    pointer ``ptr``, in order."""
    starts = ptr[lines].astype(np.int64)
    lens = ptr[lines + 1].astype(np.int64) - starts
    total = int(lens.sum())
    return np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(total, dtype=np.int64)


def _positions(link: np.ndarray, touched: np.ndarray) -> np.ndarray:
    """Sorted positions in ``link`` (sorted store positions) of the store positions
    ``touched`` that it holds: binary searches (``np.isin`` sorts both arrays).

    >>> _positions(np.array([2, 5, 7, 9]), np.array([1, 5, 9, 12])).tolist()
    [1, 3]
    """
    t = np.asarray(touched, dtype=np.int64)
    p = np.searchsorted(link, t)
    inside = p < len(link)
    p, t = p[inside], t[inside]
    return np.unique(p[link[p] == t])


def _cut(a: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``a`` without the entries at ``pos`` (sorted, distinct): copies of the slices between
    the runs of them (``np.delete`` makes a mask as long as ``a``).

    >>> _cut(np.arange(8), np.array([0, 3, 4, 7])).tolist()
    [1, 2, 5, 6]
    """
    if not len(pos):
        return a
    brk = np.flatnonzero(np.diff(pos) != 1) + 1
    starts = [int(pos[0]), *pos[brk].tolist()]  # of the runs of positions
    ends = [*(pos[brk - 1] + 1).tolist(), int(pos[-1]) + 1]
    keep_from, keep_to = [0, *ends], [*starts, len(a)]
    return np.concatenate([a[x:y] for x, y in zip(keep_from, keep_to, strict=True)])


def _put(a: np.ndarray, pos: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``a`` with ``values[k]`` inserted before ``a[pos[k]]`` (``pos`` sorted; equal positions
    keep the order of ``values``): copies of the slices between them.

    >>> _put(np.arange(4), np.array([0, 2, 2, 4]), np.array([10, 20, 21, 40])).tolist()
    [10, 0, 1, 20, 21, 2, 3, 40]
    """
    if not len(pos):
        return a
    at, first = np.unique(pos, return_index=True)
    cuts = [*first.tolist(), len(pos)]
    values = values.astype(a.dtype, copy=False)
    pieces, prev = [], 0
    for k, x in enumerate(at.tolist()):
        pieces.append(a[prev:x])
        pieces.append(values[cuts[k] : cuts[k + 1]])
        prev = x
    pieces.append(a[prev:])
    return np.concatenate(pieces)


def _splice(a: np.ndarray, drop: np.ndarray, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``a`` without the entries at ``drop`` (sorted, distinct) and with ``values[k]`` inserted
    before ``a[at[k]]`` (``at`` sorted, positions in ``a``; equal positions keep the order of
    ``values``), in one pass: ``_put(_cut(a, drop), at - #drops before at, values)`` without
    the intermediate copy (at 3M links a copy costs 5-70 ms, most of it page faults).

    >>> a, drop, at = np.arange(6), np.array([1, 4]), np.array([0, 4, 6])
    >>> _splice(a, drop, at, np.array([10, 40, 60])).tolist()
    [10, 0, 2, 3, 40, 5, 60]
    """
    if not len(drop) and not len(at):
        return a
    values = values.astype(a.dtype, copy=False)
    # events in position order; at one position the insertions come before the drop
    events = sorted(
        [(int(x), 0, k) for k, x in enumerate(at.tolist())]
        + [(int(x), 1, 0) for x in drop.tolist()]
    )
    pieces, prev = [], 0
    for x, is_drop, k in events:
        if x > prev:
            pieces.append(a[prev:x])
            prev = x
        if is_drop:
            prev = x + 1
        else:
            pieces.append(values[k : k + 1])
    pieces.append(a[prev:])
    return np.concatenate(pieces)


def _respliced(o: Any, m: Any, lines: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """The structure of compressed matrix ``o`` (``n`` lines, maybe fewer) with its lines
    ``lines`` (sorted) replaced by those of ``m``: ``(indices, indptr)``, and the ``drop``,
    ``where`` and ``take`` positions that splice a data array the same way
    (``_splice(o.data, drop, where, m.data[take])``)."""
    o_ptr = np.concatenate([o.indptr, np.full(n + 1 - len(o.indptr), o.indptr[-1])])
    cnt = np.diff(o_ptr)
    drop = _gather(o_ptr, lines)  # the old entries of the lines ...
    new_cnt = m.indptr[lines + 1] - m.indptr[lines]
    take = _gather(m.indptr, lines)  # ... replaced by the new ones, where the old ones were
    where = o_ptr[np.repeat(lines, new_cnt)]
    idx = _splice(o.indices, drop, where, m.indices[take].astype(o.indices.dtype))
    cnt[lines] = new_cnt
    ptr = np.concatenate([[0], np.cumsum(cnt)]).astype(o.indptr.dtype)
    return idx, ptr, drop, where, take


def _kind_mask(kinds: Iterable[LinkKind]) -> np.ndarray:
    """Boolean lookup table over kind codes (cheaper than ``np.isin`` on a few links)."""
    key = frozenset(kinds)
    got = _KIND_MASKS.get(key)
    if got is None:
        got = _KIND_MASKS[key] = np.zeros(len(KIND_CODES), dtype=bool)
        got[[KIND_CODES[k] for k in key]] = True
    return got


_KIND_MASKS: dict[frozenset[LinkKind], np.ndarray] = {}


@dataclass(frozen=True)
class Adjacency:
    """The links valid on a date as arrays: store position, ends and kind of each, and the
    in-links of every entity grouped by target (CSR: ``in_ptr``), in store order."""

    link: np.ndarray  # store positions (LinkStore.at) of the active links
    source: np.ndarray
    target: np.ndarray
    kind: np.ndarray
    in_ptr: np.ndarray  # in-links of entity i: in_order[in_ptr[i]:in_ptr[i + 1]]
    in_order: np.ndarray
    out_ptr: np.ndarray
    out_order: np.ndarray

    @staticmethod
    def build(dataset: Dataset, as_of: dt.date) -> Adjacency:
        a = dataset.store.arrays()
        act = np.flatnonzero(a.active(as_of))
        src, dst, kind = a.source[act], a.target[act], a.kind[act]
        n = len(dataset.store.entity_ids)

        def csr(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            order = np.argsort(key, kind="stable")
            ptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(key, minlength=n), out=ptr[1:])
            return ptr, order

        in_ptr, in_order = csr(dst)
        out_ptr, out_order = csr(src)
        return Adjacency(act, src, dst, kind, in_ptr, in_order, out_ptr, out_order)

    def derive(self, dataset: Dataset, as_of: dt.date) -> Adjacency:
        """The adjacency of a variant (:func:`.overlay.apply_overlay`) on ``as_of``, from this
        one, its base's on the same date: the removed and changed links dropped, the changed
        and added ones active on ``as_of`` put in at their store positions, and the in/out
        groups patched rather than sorted again (a few linear passes instead of two sorts of
        every link). Equal to :meth:`build` on the variant (``tests/test_overlay_incremental.py``).
        """
        st = dataset.store
        assert isinstance(st, OverlaidStore)
        if st.entity_map is None:
            return self._splice(dataset, as_of)
        keep = ~np.isin(self.link, st.touched) if len(st.touched) else None
        link, src, dst, kind = self.link, self.source, self.target, self.kind
        if keep is not None:
            link, src, dst, kind = link[keep], src[keep], dst[keep], kind[keep]
        if st.entity_map is not None:
            src, dst = st.entity_map[src], st.entity_map[dst]
        ix = st.entity_index
        new = [(p, l) for p, l in st.patch() if l.active(as_of)]
        n_link = np.array([p for p, _ in new], dtype=np.int64)
        n_src = np.array([ix[l.source] for _, l in new], dtype=np.int64)
        n_dst = np.array([ix[l.target] for _, l in new], dtype=np.int64)
        n_kind = np.array([KIND_CODES[l.kind] for _, l in new], dtype=np.int8)
        at = np.searchsorted(link, n_link)  # insertion points among the kept links
        total = len(link) + len(new)
        # old adjacency index → new one (-1: dropped)
        old_new = np.full(len(self.link), -1, dtype=np.int64)
        kept_idx = np.flatnonzero(keep) if keep is not None else np.arange(len(self.link))
        old_new[kept_idx] = np.arange(len(kept_idx)) + np.searchsorted(
            at, np.arange(len(kept_idx)), side="right"
        )
        new_idx = at + np.arange(len(new))
        link = np.insert(link, at, n_link)
        src = np.insert(src, at, n_src)
        dst = np.insert(dst, at, n_dst)
        kind = np.insert(kind, at, n_kind)
        n = len(st.entity_ids)

        def group(
            order: np.ndarray, key: np.ndarray, n_key: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray]:
            m = old_new[order]
            m = m[m >= 0]
            ptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(key, minlength=n), out=ptr[1:])
            if not len(new):
                return ptr, m
            sort_key = key[m] * total + m
            mine = n_key * total + new_idx
            o = np.argsort(mine, kind="stable")
            return ptr, np.insert(m, np.searchsorted(sort_key, mine[o]), new_idx[o])

        in_ptr, in_order = group(self.in_order, dst, n_dst)
        out_ptr, out_order = group(self.out_order, src, n_src)
        return Adjacency(link, src, dst, kind, in_ptr, in_order, out_ptr, out_order)

    def _splice(self, dataset: Dataset, as_of: dt.date) -> Adjacency:
        """:meth:`derive` for a variant that keeps every base entity at its index: a few
        links dropped and inserted, so every array is the base's copied around the change
        points, and the in/out groups the base's with each index shifted by the number of
        insertions minus drops before it (a step function of a few steps) and the few
        entries of the changed links taken out or put in their groups."""
        st = dataset.store
        assert isinstance(st, OverlaidStore)
        drop = _positions(self.link, st.touched)
        ix = st.entity_index
        new = [(q, l) for q, l in st.patch() if l.active(as_of)]
        n_link = np.array([q for q, _ in new], dtype=np.int64)
        n_src = np.array([ix[l.source] for _, l in new], dtype=np.int64)
        n_dst = np.array([ix[l.target] for _, l in new], dtype=np.int64)
        n_kind = np.array([KIND_CODES[l.kind] for _, l in new], dtype=np.int8)
        at = np.searchsorted(self.link, n_link)  # before which base entry each goes
        at_cut = at - np.searchsorted(drop, at)  # the same, once the dropped are out
        link = _splice(self.link, drop, at, n_link)
        src = _splice(self.source, drop, at, n_src)
        dst = _splice(self.target, drop, at, n_dst)
        kind = _splice(self.kind, drop, at, n_kind)
        # new index of each inserted link, and of a kept base entry i: i + shift(i)
        new_idx = at_cut + np.arange(len(new))
        n = len(st.entity_ids)

        # does any base entry move? The shift of entry i is #{at <= i} - #{drop < i}, a step
        # function: a link added to the store goes after every base link (no shift), and a
        # changed one is dropped and put back at its own position (the shift cancels), so the
        # usual write renumbers nothing and a 3M-entry pass is saved per group
        marks = np.unique(np.concatenate([at, drop + 1]))
        marks = marks[marks < len(self.link)]
        steps = np.searchsorted(at, marks, side="right") - np.searchsorted(drop, marks)
        ends = np.append(marks[1:], len(self.link))  # a step holds on [mark, end)
        kept = np.searchsorted(drop, ends) - np.searchsorted(drop, marks) < ends - marks
        moved = bool(np.any((steps != 0) & kept))

        def new_index(old: np.ndarray) -> np.ndarray:
            """The index after the splice of base entries ``old`` (dropped ones included: a
            monotone function, so the order of a group is kept)."""
            return old + np.searchsorted(at, old, side="right") - np.searchsorted(drop, old)

        def group(
            ptr: np.ndarray, order: np.ndarray, old_key: np.ndarray, n_key: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray]:
            n_old = len(ptr) - 1
            cnt = np.zeros(n, dtype=np.int64)
            cnt[:n_old] = np.diff(ptr)
            # where the dropped entries are in their groups (a group is in index order) ...
            gone = []
            for i in drop.tolist():
                k = int(old_key[i])
                a, b = int(ptr[k]), int(ptr[k + 1])
                gone.append(a + int(np.searchsorted(order[a:b], i)))
                cnt[k] -= 1
            # ... and where the new ones go: before the first entry of their group with a
            # larger new index (a group of a new entity is empty, after every base group)
            put = []
            for k, j in zip(n_key.tolist(), new_idx.tolist(), strict=True):
                if k < n_old:
                    a, b = int(ptr[k]), int(ptr[k + 1])
                    put.append(a + int(np.searchsorted(new_index(order[a:b]), j)))
                else:
                    put.append(len(order))
                cnt[k] += 1
            o = np.lexsort((new_idx, n_key, np.array(put, dtype=np.int64)))
            put_at = np.array(put, dtype=np.int64)[o]
            gone_at = np.sort(np.array(gone, dtype=np.int64))
            # one copy: the entries dropped and inserted, then the kept ones renumbered in place
            m = _splice(order, gone_at, put_at, new_idx[o])
            if moved:
                if m is order:
                    m = order.copy()
                if len(at) and not len(drop) and len(at) <= 8:
                    for x in sorted(at.tolist(), reverse=True):  # values only grow
                        m += m >= x
                else:
                    m += np.searchsorted(at, m, side="right") - np.searchsorted(drop, m)
            # the inserted entries hold their new index already: undo their renumbering
            final = put_at - np.searchsorted(gone_at, put_at) + np.arange(len(put_at))
            m[final] = new_idx[o]
            out = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(cnt, out=out[1:])
            return out, m

        in_ptr, in_order = group(self.in_ptr, self.in_order, self.target, n_dst)
        out_ptr, out_order = group(self.out_ptr, self.out_order, self.source, n_src)
        return Adjacency(link, src, dst, kind, in_ptr, in_order, out_ptr, out_order)


class Derivation:
    """What a variant's graph (:meth:`ArrangementGraph.derive`) changes relative to the base
    graph it was derived from, so that whole-graph analytics can reuse the base's values.

    The principle: a value of entity ``v`` that depends only on ``v``'s upstream (the shares
    held in it, directly and through chains, its controllers, its membership of a threshold
    closure) is the base's value unless a changed link lies on a path into ``v`` or an edited
    entity (whose attributes may make it a seed) lies upstream of ``v``. :attr:`seeds` are
    the targets of every removed, changed (old and new version) and added link, and the
    edited and added entities; :meth:`dirty` is what lies downstream of them, possibly
    stopping at entities through which the quantity cannot propagate (e.g. a covered party
    for absorbed exposure, an entity held at most 50% for control). A link whose version
    differs between the two graphs has its target among the seeds, so walking the variant's
    links from the seeds reaches everything downstream in either graph.

    Entity indices: base index ``i`` is the variant's ``i``; added entities come after the
    base's. A variant that removes base entities (indices shift) gets no derivation: its
    analytics are computed from scratch (:meth:`ArrangementGraph.derivation` is None).

    Quantities keyed the other way (what an entity holds, downstream of it) would need the
    upstream of the changed links' sources instead; no cached quantity of a graph is keyed
    that way today (``links_from`` is not memoized).
    """

    def __init__(self, graph: ArrangementGraph, parent: ArrangementGraph, edited: Iterable[str]):
        # the graph holds its derivation (``_shared``): a reference back to it would make a
        # cycle, and a replica's old versions (hundreds of MB each at 1M entities) would wait
        # for the cyclic garbage collector's rare full passes instead of going when dropped.
        # So only what the graph shares with its date views is kept: arrays, index, store.
        self.adj, self.index, self.store = graph.adj, graph.index, graph.dataset.store
        self.parent = parent
        self.n_old, self.n = len(parent.ids), len(graph.ids)
        st = graph.dataset.store
        assert isinstance(st, OverlaidStore) and st.entity_map is None
        pa = parent.adj
        old = _positions(pa.link, st.touched)  # the base's entries of the touched links
        ix = graph.index
        new_t = [ix[l.target] for _, l in st.patch()]
        seeds = np.concatenate(
            [
                pa.target[old],
                np.array(new_t, dtype=np.int64),
                np.array([ix[e] for e in edited if e in ix], dtype=np.int64),
                np.arange(self.n_old, self.n, dtype=np.int64),
            ]
        )
        self.seeds = np.unique(seeds.astype(np.int64))
        #: sources of every removed, changed (both versions) and added link, and the added
        #: entities: the rows of a share matrix that can differ from the base's (its columns
        #: that can differ are among :attr:`seeds`)
        self.rows = np.unique(
            np.concatenate(
                [
                    pa.source[old],
                    np.array([ix[l.source] for _, l in st.patch()], dtype=np.int64),
                    np.arange(self.n_old, self.n, dtype=np.int64),
                ]
            ).astype(np.int64)
        )
        self._memo: dict[object, np.ndarray | None] = {}

    def carry(self, old: np.ndarray, fill: object) -> np.ndarray:
        """A per-entity array of the base graph extended to the variant's entities (added
        entities get ``fill``); a copy."""
        out = np.empty(self.n, dtype=old.dtype)
        out[: self.n_old] = old
        out[self.n_old :] = fill
        return out

    def dirty(
        self,
        kinds: frozenset[LinkKind] = OWNERSHIP_KINDS,
        through: np.ndarray | None = None,
        extra: np.ndarray | None = None,
        key: object = None,
        limit: float | None = None,
    ) -> np.ndarray | None:
        """Mask of the entities downstream of (or equal to) the :attr:`seeds` and ``extra``
        (more entity indices) along the variant's links of ``kinds``, walking on only from
        entities where ``through`` is True (every entity when None); None when it exceeds
        :data:`MAX_DIRTY_FRACTION` of the entities (or ``limit`` entities, when smaller).
        Memoized under ``key`` when given."""
        if key is not None and key in self._memo:
            return self._memo[key]
        seen = np.zeros(self.n, dtype=bool)
        start = self.seeds if extra is None else np.union1d(self.seeds, extra)
        seen[start] = True
        frontier = start if through is None else start[through[start]]
        got = seen if self.grow(seen, frontier, kinds, through, limit) else None
        if key is not None:
            self._memo[key] = got
        return got

    def grow(
        self,
        seen: np.ndarray,
        frontier: np.ndarray,
        kinds: frozenset[LinkKind] = OWNERSHIP_KINDS,
        through: np.ndarray | None = None,
        limit: float | None = None,
    ) -> bool:
        """Extend the mask ``seen`` (in place) with what lies downstream of the entities
        ``frontier`` along the variant's links of ``kinds``, walking on only from entities
        where ``through`` is True; False when ``seen`` exceeds :data:`MAX_DIRTY_FRACTION`
        of the entities or ``limit`` entities (``seen`` is then partial)."""
        adj = self.adj
        wanted = _kind_mask(kinds)
        count = int(seen.sum())
        limit = min(MAX_DIRTY_FRACTION * self.n, limit if limit is not None else self.n)
        if count > limit:
            return False
        while frontier.size:
            js = adj.out_order[_gather(adj.out_ptr, frontier)]
            if not len(js):
                break
            dst = adj.target[js[wanted[adj.kind[js]]]]
            dst = np.unique(dst[~seen[dst]])
            seen[dst] = True
            count += len(dst)
            if count > limit:
                return False
            frontier = dst if through is None else dst[through[dst]]
        return True

    def absorbed_exposure(
        self, holders: np.ndarray, old_holders: np.ndarray, old: Bounds, tol: float = 1e-12
    ) -> Bounds | None:
        """:func:`.ownership.absorbed_exposure` of the variant's equity matrix to ``holders``
        (a mask over the variant's entities), from the base graph's ``old`` result for
        ``old_holders`` (both carried to the variant's entities): None when it must be
        computed from scratch (``old`` did not converge, too much is dirty, or the restricted
        solve does not converge).

        Direction: ``e[c]`` depends on c's upstream, through non-holders only (a holder's own
        value is not passed on). So only the entities downstream of the seeds and of the
        entities whose membership changed, walking on through entities that are not holders
        in both graphs, are solved again: ``x = b + A x`` on them, with ``b`` the holders'
        direct shares and the fixed values of the non-holders outside, to ``tol`` (the whole
        graph's stopping rule), for each bound.
        """
        if not old.converged:
            return None
        changed = np.flatnonzero(holders != old_holders)
        dirty = self.dirty(
            frozenset({LinkKind.EQUITY}), through=~(holders & old_holders), extra=changed
        )
        if dirty is None:
            return None
        cols = np.flatnonzero(dirty)
        adj, k = self.adj, len(cols)
        starts = adj.in_ptr[cols]
        lens = adj.in_ptr[cols + 1] - starts
        pos = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
        js = adj.in_order[pos]
        eq = adj.kind[js] == KIND_CODES[LinkKind.EQUITY]
        js, at = js[eq], np.repeat(np.arange(k), lens)[eq]
        src = adj.source[js]
        b_lo, b_hi = self.store.bounds(adj.link[js])
        # the entries (holder, dirty column) with parallel links summed: only the holders of the
        # dirty columns are read, never a whole-graph vector but the result's own copy
        pair, inv = np.unique(src.astype(np.int64) * k + at, return_inverse=True)
        h_src, h_at = pair // k, pair % k
        hold = holders[h_src]
        p_col = np.searchsorted(cols, h_src)  # the holder's own place among the columns
        inside = (p_col < k) & (cols[np.minimum(p_col, k - 1)] == h_src) & ~hold
        out, its = [], 1
        for w, prev in ((np.asarray(b_lo, np.float64), old.lo), (np.maximum(b_hi, b_lo), old.hi)):
            # the matrix's entries: parallel links summed, then clipped (as ShareMatrix does)
            val = np.clip(np.bincount(inv, weights=w, minlength=len(pair)), 0.0, 1.0)
            before = np.zeros(len(h_src))
            was = h_src < self.n_old
            before[was] = prev[h_src[was]]
            v = np.where(hold, 1.0, np.where(dirty[h_src], 0.0, before))
            rhs = np.bincount(h_at, weights=val * v, minlength=k)
            A = sp.csr_array((val[inside], (h_at[inside], p_col[inside])), shape=(k, k))
            x = rhs.copy()
            for it in range(10_000):
                new = rhs + A @ x
                inc = float(np.max(np.abs(new - x), initial=0.0))
                x = new
                if inc <= tol:
                    its = max(its, it + 2)
                    break
                if not np.isfinite(inc) or inc > 1e12:
                    return None
            else:
                return None
            e = self.carry(prev, 0.0)
            e[cols] = x
            out.append(e)
        return Bounds(out[0], out[1], True, its)

    def closure(
        self,
        W: ShareMatrix,
        cols: tuple[Any, Any],
        kinds: frozenset[LinkKind],
        old_seeds: np.ndarray,
        old: Closure,
        seeds: np.ndarray,
        threshold: float,
        inclusive: bool,
    ) -> Closure | None:
        """:func:`.ownership.threshold_closure` of the variant's ``W`` (built from links of
        ``kinds``; ``cols``: its (lo, hi) in CSC form) from ``seeds`` (a mask), from the base
        graph's result ``old`` for ``old_seeds``: None when too much must be redone.

        Delete and rederive, as for a monotone fixed point: (1) the base's members whose
        support may drop are the ones a change reaches (targets of changed links, edited and
        added entities, seeds no longer seeds), walking on through base members that are not
        seeds (a seed stays a member); they are taken out. What remains, with the seeds, is in
        the variant's closure (every remaining member keeps the support it had in the base).
        (2) From there the closure grows as :func:`.ownership.threshold_closure` does: the
        held sums of the entities taken out, of the changed ones and of the new seeds'
        holdings are computed anew (from the columns), and each entity added passes its
        holdings on. The work is proportional to what is taken out and what is added, not to
        the members. None when what is taken out exceeds :data:`CLOSURE_DIRTY_FRACTION` of the
        members. ``rounds`` is the larger of the base's and the rounds of step (2).
        """
        was = self.carry(old_seeds, False)
        changed = np.flatnonzero(seeds != was)
        start = np.union1d(self.seeds, changed)
        start = start[~(seeds & was)[start]]  # a seed of both is a member of both
        adj = self.adj
        new_seeds = np.flatnonzero(seeds & ~was)
        js = adj.out_order[_gather(adj.out_ptr, new_seeds)]
        held_by_new = adj.target[js[_kind_mask(kinds)[adj.kind[js]]]]
        out, rounds = [], old.rounds
        for M, C, prev in ((W.lo, cols[0], old.certain), (W.hi, cols[1], old.possible)):
            base = self.carry(prev, False)
            limit = CLOSURE_DIRTY_FRACTION * (int(base.sum()) + int(seeds.sum())) + 64
            gone = np.zeros(self.n, dtype=bool)
            t0 = start[base[start]]
            gone[t0] = True
            if not self.grow(gone, t0[~seeds[t0]], kinds, base & ~seeds, limit):
                return None
            gone &= base & ~seeds
            inside = (base & ~gone) | seeds
            got = self._rederive(
                M,
                C,
                inside,
                np.concatenate([np.flatnonzero(gone), start, held_by_new]),
                threshold,
                inclusive,
            )
            if got is None:
                return None
            inside, r = got
            rounds = max(rounds, r)
            out.append(inside)
        return Closure(out[0], out[1] | out[0], rounds)

    @staticmethod
    def _rederive(
        M: Any, C: Any, inside: np.ndarray, first: np.ndarray, threshold: float, inclusive: bool
    ) -> tuple[np.ndarray, int] | None:
        """Grow the members ``inside`` (in place) to the closure: the entities ``first``
        evaluated from their columns ``C``, then every entity added passing its row of ``M``
        on. Returns the members and the rounds that added some."""
        n = len(inside)
        held = np.zeros(n, dtype=np.float64)
        known = np.zeros(n, dtype=bool)

        def meets(v: np.ndarray) -> np.ndarray:
            hv = held[v]
            ok = hv >= threshold - EPS if inclusive else hv > threshold + EPS
            return np.asarray(v[ok], dtype=np.int64)

        def evaluate(cand: np.ndarray) -> np.ndarray:
            fresh = cand[~known[cand]]
            if fresh.size:
                pos = _gather(C.indptr, fresh)
                w = C.data[pos] * inside[C.indices[pos]]
                lens = C.indptr[fresh + 1] - C.indptr[fresh]
                held[fresh] = np.bincount(
                    np.repeat(np.arange(len(fresh)), lens), weights=w, minlength=len(fresh)
                )
                known[fresh] = True
            return meets(cand)

        cand = np.unique(first)
        added = evaluate(cand[~inside[cand]])
        r = 0
        while added.size:
            inside[added] = True
            r += 1
            pos = _gather(M.indptr, added)
            c = M.indices[pos].astype(np.int64)
            w = M.data[pos]
            had = known[c]  # sums computed before these members were added
            np.add.at(held, c[had], w[had])
            cand = np.unique(c)
            added = evaluate(cand[~inside[cand]])
        return inside, r

    def clean(self, entity_id: str) -> bool:
        """True when ``entity_id``'s upstream is the same in both graphs (not :meth:`dirty`),
        so a value of it that depends only on its upstream is the base's."""
        d = self.dirty(key="all")
        i = self.index.get(entity_id)
        return d is not None and i is not None and i < self.n_old and not d[i]


@dataclass
class ArrangementGraph:
    """The dataset's graph as of one date: the links valid on it as arrays (:class:`Adjacency`),
    share matrices, and a NetworkX view built on first use.

    Path questions and the matrices read the arrays directly: a 3M-link NetworkX MultiDiGraph
    takes ~40 s and several GB to build, which the arrays avoid (``bench/``); the NetworkX view
    (:attr:`graph`) is for analysts and small datasets.
    """

    dataset: Dataset
    as_of: dt.date
    adj: Adjacency
    ids: list[str]
    index: Mapping[str, int]
    _cache: dict[str, object] = field(default_factory=dict, repr=False)  # depends on as_of
    #: caches that depend only on the links in the graph, shared by :meth:`at` views
    _shared: dict[str, object] = field(default_factory=dict, repr=False)

    def at(self, on: dt.date) -> ArrangementGraph:
        """The same graph read as of another date with the same valid links (see
        ``Dataset.link_boundaries``): shares the adjacency and matrices, not date caches."""
        return ArrangementGraph(
            self.dataset, on, self.adj, self.ids, self.index, _shared=self._shared
        )

    def shared(self, key: str, make: Callable[[], T]) -> T:
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]  # type: ignore[return-value]

    def cached(self, key: str, make: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]  # type: ignore[return-value]

    def _entity_table(self, date: bool) -> dict[str, object]:
        """The table of per-entity values (:meth:`per_entity`) beside :meth:`shared`'s (or,
        with ``date``, :meth:`cached`'s)."""
        table = self._cache if date else self._shared
        got = table.get(_PER_ENTITY)
        if got is None:
            got = table[_PER_ENTITY] = {}
        return got  # type: ignore[return-value]

    def per_entity(self, key: str, make: Callable[[], T], *, date: bool = False) -> T:
        """:meth:`shared` (or :meth:`cached` with ``date``) for a value of one entity, kept in
        a table of at most :data:`ENTITY_MEMO_LIMIT` values that starts again when full: a
        batch over a registry-sized graph meets new entities with every row, and would
        otherwise keep every one's values (~100 KB a row at 1M entities)."""
        table = self._entity_table(date)
        if key in table:
            return table[key]  # type: ignore[return-value]
        value = make()
        if len(table) >= ENTITY_MEMO_LIMIT:
            table.clear()
        table[key] = value
        return value

    @property
    def derivation(self) -> Derivation | None:
        """How this graph differs from the base graph it was derived from (None for a built
        graph, or when the variant removed base entities); shared by the date views."""
        return self._shared.get("derivation")  # type: ignore[return-value]

    @property
    def parent(self) -> ArrangementGraph | None:
        """The base graph this one was derived from, read as of this graph's date."""
        d = self.derivation
        if d is None:
            return None
        return d.parent if d.parent.as_of == self.as_of else d.parent.at(self.as_of)

    def inherit(
        self,
        key: str,
        entity_id: str,
        make: Callable[[], T],
        *,
        date: bool = False,
        parent_key: str | None = None,
    ) -> T:
        """:meth:`per_entity` for a value of ``entity_id`` that depends only on its upstream:
        taken from the base graph's table (under ``parent_key``, default ``key``) when this
        graph is derived, the base has it and the entity is clean (:meth:`Derivation.clean`);
        computed by ``make`` otherwise."""
        table = self._entity_table(date)
        if key in table:
            return table[key]  # type: ignore[return-value]
        p, d = self.parent, self.derivation
        if p is not None and d is not None:
            ptable = p._entity_table(date)
            pk = parent_key or key
            if pk in ptable and d.clean(entity_id):
                value: T = ptable[pk]  # type: ignore[assignment]
                table[key] = value
                return value
        return self.per_entity(key, make, date=date)

    @staticmethod
    def build(dataset: Dataset, as_of: dt.date) -> ArrangementGraph:
        st = dataset.store
        return ArrangementGraph(
            dataset, as_of, Adjacency.build(dataset, as_of), st.entity_ids, st.entity_index
        )

    def derive(self, variant: Dataset) -> ArrangementGraph:
        """The graph of ``variant`` (an overlay of this graph's dataset, see
        :attr:`.dataset.Dataset.base`) on this graph's date, from this graph's arrays
        (:meth:`Adjacency.derive`). Whole-graph analytics are not copied: they reuse this graph's
        values where the variant cannot change them (:attr:`derivation`, :class:`Derivation`)."""
        if variant.base is not self.dataset:
            raise ValueError("derive() takes a variant of this graph's dataset")
        st = variant.store
        g = ArrangementGraph(
            variant,
            self.as_of,
            self.adj.derive(variant, self.as_of),
            st.entity_ids,
            st.entity_index,
        )
        edited = edited_entities(variant)
        assert isinstance(st, OverlaidStore)
        if edited is not None and st.entity_map is None:
            g._shared["derivation"] = Derivation(g, self, edited)
        return g

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The graph as a NetworkX MultiDiGraph (nodes carry ``entity``, edges ``link`` and
        ``kind``, keyed by link id), built on first use and shared by the date views."""

        def make() -> nx.MultiDiGraph:
            g = nx.MultiDiGraph(as_of=self.as_of.isoformat(), dataset_version=self.dataset.version)
            g.add_nodes_from((eid, {"entity": e}) for eid, e in self.dataset.entities.items())
            links = (self.dataset.store.at(int(k)) for k in self.adj.link)
            g.add_edges_from((l.source, l.target, l.id, {"link": l, "kind": l.kind}) for l in links)
            return g

        return self.shared("networkx", make)

    # ------------------------------------------------------------------ accessors

    def entity(self, entity_id: str) -> Entity:
        return self.dataset.entities[entity_id]

    def _links(
        self, ptr: np.ndarray, order: np.ndarray, entity_id: str, kinds: Iterable[LinkKind] | None
    ) -> list[Link]:
        i = self.index[entity_id]
        a, b = ptr[i : i + 2].tolist()
        if a == b:  # no links at all (most entities of a registry have few)
            return []
        js = order[a:b]
        if kinds is not None:
            js = js[_kind_mask(kinds)[self.adj.kind[js]]]
        at = self.dataset.store.at
        return [at(k) for k in self.adj.link[js].tolist()]

    def link_positions(self, entity_id: str) -> np.ndarray:
        """Store positions (``dataset.store.at``) of the links into and out of ``entity_id``."""
        i, adj = self.index[entity_id], self.adj
        a, b = adj.in_ptr[i : i + 2].tolist()
        c, d = adj.out_ptr[i : i + 2].tolist()
        js = np.concatenate([adj.in_order[a:b], adj.out_order[c:d]])
        return np.asarray(adj.link[js], dtype=np.int64)

    def links_into(self, entity_id: str, kinds: Iterable[LinkKind] | None = None) -> list[Link]:
        return self._links(self.adj.in_ptr, self.adj.in_order, entity_id, kinds)

    def links_from(self, entity_id: str, kinds: Iterable[LinkKind] | None = None) -> list[Link]:
        return self._links(self.adj.out_ptr, self.adj.out_order, entity_id, kinds)

    # ------------------------------------------------------------------ matrices

    def _edges(
        self, js: np.ndarray | None, kinds: frozenset[LinkKind], prefer_votes: bool
    ) -> ShareMatrix:
        """W from the active links of ``kinds`` among the adjacency positions ``js`` (every
        active link when None), straight from the link arrays.

        With ``prefer_votes`` (control semantics), a pair with a voting link uses its votes and
        ignores its equity: votes, not capital, decide control. An entry depends only on the
        links of its pair, so ``js`` must hold every link of a pair or none.
        """
        adj = self.adj
        if js is None:
            js = np.flatnonzero(_kind_mask(kinds)[adj.kind])
        else:
            js = np.sort(js[_kind_mask(kinds)[adj.kind[js]]])  # store order, as a build
        src, dst, kind = adj.source[js], adj.target[js], adj.kind[js]
        lo, hi = self.dataset.store.bounds(adj.link[js])
        n = len(self.ids)
        if prefer_votes:
            pair = src * n + dst
            voting = kind == KIND_CODES[LinkKind.VOTING]
            keep = voting | ~np.isin(pair, pair[voting])
            src, dst, lo, hi = src[keep], dst[keep], lo[keep], hi[keep]
        return ShareMatrix.from_edges(n, src, dst, lo.copy(), hi.copy())

    def _compressed(
        self, key: str, kinds: frozenset[LinkKind], prefer_votes: bool, by_row: bool
    ) -> tuple[Any, Any] | None:
        """The (lo, hi) share matrices of a derived graph, CSR (``by_row``) or CSC, patched
        from the base graph's under ``key`` (which must hold that pair): only the rows (columns)
        that a changed link can touch (:attr:`Derivation.rows`, :attr:`Derivation.seeds`) are
        rebuilt from this graph's links, the rest of the arrays is copied. None when there is
        nothing to patch from (a built graph, or the base has not built the matrices)."""
        d = self.derivation
        if d is None or key not in d.parent._shared:
            return None
        old: Any = d.parent._shared[key]
        pair: tuple[Any, Any] = (old.lo, old.hi) if isinstance(old, ShareMatrix) else old
        adj, n = self.adj, self.n_entities
        lines = d.rows if by_row else d.seeds
        ptr, order = (adj.out_ptr, adj.out_order) if by_row else (adj.in_ptr, adj.in_order)
        js = order[_gather(ptr, lines)]
        sub = self._edges(js, kinds, prefer_votes)
        news = (sub.lo, sub.hi) if by_row else shared_structure(sub.lo.tocsc(), sub.hi.tocsc())
        cls = sp.csr_array if by_row else sp.csc_array
        # the structure (indices, indptr) is spliced once when both bounds share it (they do
        # when built by ShareMatrix.from_edges or shared_structure), and each data array once:
        # a copy of a 3M-entry array costs 5-70 ms, most of it page faults of fresh memory
        out: list[Any] = []
        last: tuple[Any, Any, tuple[np.ndarray, ...]] | None = None
        for o, m in zip(pair, news, strict=True):
            if last is None or not (
                same_array(last[0], o.indices) and same_array(last[1], m.indices)
            ):
                last = (o.indices, m.indices, _respliced(o, m, lines, n))
            idx, ptr_new, drop, where, take = last[2]
            data = _splice(o.data, drop, where, m.data[take])
            out.append(cls((data, idx, ptr_new), shape=(n, n)))
        return out[0], out[1]

    def _matrix(self, key: str, kinds: frozenset[LinkKind], prefer_votes: bool) -> ShareMatrix:
        got = self._compressed(key, kinds, prefer_votes, True)
        if got is not None:
            return ShareMatrix(got[0], got[1])
        return self._edges(None, kinds, prefer_votes)

    @property
    def n_entities(self) -> int:
        """Number of entities (nodes) of the graph."""
        return len(self.ids)

    @property
    def equity(self) -> ShareMatrix:
        """W[i, j]: share of j's equity held by i (ownership semantics: OFAC, BIS, exposure)."""
        return self.shared(
            "equity", lambda: self._matrix("equity", frozenset({LinkKind.EQUITY}), False)
        )

    @property
    def control(self) -> ShareMatrix:
        """W[i, j]: share of j's votes held by i, equity where no votes are recorded."""
        return self.shared("control", lambda: self._matrix("control", OWNERSHIP_KINDS, True))

    @property
    def equity_columns(self) -> tuple[sp.csc_array, sp.csc_array]:
        """:attr:`equity` (lo, hi) in CSC form, patched from the base graph's for a derived
        graph, as :attr:`control_columns` is."""

        def make() -> tuple[sp.csc_array, sp.csc_array]:
            got = self._compressed("equity-csc", frozenset({LinkKind.EQUITY}), False, False)
            if got is not None:
                return got
            e = self.equity
            return shared_structure(e.lo.tocsc(), e.hi.tocsc())

        return self.shared("equity-csc", make)

    @property
    def control_columns(self) -> tuple[sp.csc_array, sp.csc_array]:
        """:attr:`control` (lo, hi) in CSC form (a column: the holders of an entity), patched
        from the base graph's for a derived graph, as :attr:`control` is."""

        def make() -> tuple[sp.csc_array, sp.csc_array]:
            got = self._compressed("control-csc", OWNERSHIP_KINDS, True, False)
            if got is not None:
                return got
            c = self.control
            return shared_structure(c.lo.tocsc(), c.hi.tocsc())

        return self.shared("control-csc", make)

    def closure(
        self, key: str, seeds: np.ndarray, threshold: float, *, inclusive: bool, control: bool
    ) -> Closure:
        """:func:`.ownership.threshold_closure` of :attr:`control` (``control``) or
        :attr:`equity` from ``seeds`` (a mask), memoized under ``key`` (which must name the
        seeds and the threshold) and shared by the date views; a derived graph computes it
        from the base graph's (same ``key``) where the variant can change membership
        (:meth:`Derivation.closure`)."""

        def make() -> tuple[np.ndarray, Closure]:
            W = self.control if control else self.equity
            kinds = OWNERSHIP_KINDS if control else frozenset({LinkKind.EQUITY})
            d = self.derivation
            if d is not None:
                old: Any = d.parent._shared.get(f"closure:{key}")
                if old is not None:
                    cols = self.control_columns if control else self.equity_columns
                    got = d.closure(W, cols, kinds, old[0], old[1], seeds, threshold, inclusive)
                    if got is not None:
                        return seeds, got
            return seeds, threshold_closure(W, seeds, threshold, inclusive=inclusive)

        return self.shared(f"closure:{key}", make)[1]

    def mask(self, ids: Iterable[str]) -> np.ndarray:
        m = np.zeros(len(self.ids), dtype=bool)
        for i in ids:
            m[self.index[i]] = True
        return m

    def ids_at(self, positions: np.ndarray) -> list[str]:
        """The ids of the entities at ``positions``, gathered in one C loop (the thousands of
        SFE holders upstream of an entity in a large cycle)."""
        ids, pos = self.ids, np.asarray(positions).tolist()
        if len(pos) < 2:  # itemgetter of one position gives the item, not a tuple
            return [ids[k] for k in pos]
        return list(itemgetter(*pos)(ids))

    def upstream(self, entity_id: str) -> np.ndarray:
        """Indices of every entity with a chain of equity/voting links to ``entity_id`` (not
        itself), sorted: a breadth-first search up the holders (``scipy.sparse.csgraph``, in C)
        over the transposed control matrix, memoized per entity (bounded)."""
        memo: dict[str, np.ndarray] = self.shared("upstream-memo", dict)
        got = memo.get(entity_id)
        if got is None:
            up = self.shared("control-hi-T", lambda: self.control_columns[1].T)
            order = breadth_first_order(
                up, self.index[entity_id], directed=True, return_predecessors=False
            )
            got = np.sort(np.asarray(order[1:], dtype=np.int32))
            got.setflags(write=False)  # shared by every caller
            # bounded by total size: on a 1M graph with a giant cycle one upstream can hold
            # hundreds of thousands of entities
            size: list[int] = self.shared("upstream-memo-size", lambda: [0])
            if size[0] + len(got) > UPSTREAM_MEMO_ENTRIES:
                memo.clear()
                size[0] = 0
            memo[entity_id] = got
            size[0] += len(got)
        return got

    def reached(self, key: str, sources: np.ndarray, kinds: frozenset[LinkKind]) -> np.ndarray:
        """Mask of the entities at the end of a chain of one or more ``kinds`` links that
        starts at a member of ``sources`` (a mask), computed once per set of links (shared
        under ``key``, which must name the sources and the kinds): one breadth-first search
        over the whole graph, in C.

        A screen for path questions: an entity that no member of ``sources`` reaches has no
        path from one, at any depth, so its listing is empty without a walk up its holders.
        """

        def make() -> np.ndarray:
            adj, n = self.adj, len(self.ids)
            js = np.flatnonzero(_kind_mask(kinds)[adj.kind])
            src, dst = adj.source[js], adj.target[js]
            first = np.unique(dst[sources[src]])  # one link from a source
            # a virtual root (index n) linked to those: what it reaches is the answer
            rows = np.concatenate([src, np.full(first.size, n)])
            cols = np.concatenate([dst, first])
            m = sp.csr_array(
                (np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n + 1, n + 1)
            )
            order = breadth_first_order(m, n, directed=True, return_predecessors=False)
            out = np.zeros(n + 1, dtype=bool)
            out[order] = True
            out = out[:n]
            out.setflags(write=False)
            return out

        return self.shared(f"reached:{key}:{sorted(kinds)}", make)

    # ------------------------------------------------------------------ paths

    def share_paths(
        self,
        entity_id: str,
        *,
        holders: AbstractSet[str] | None = None,
        kinds: frozenset[LinkKind] = frozenset({LinkKind.EQUITY}),
        stop_at_holders: bool = True,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_paths: int = DEFAULT_MAX_PATHS,
        holder_mask: np.ndarray | None = None,
    ) -> PathListing:
        """Simple paths of ``kinds`` links from holders down to ``entity_id``.

        ``holders=None`` lists paths from every root (an entity with no holder of ``kinds``);
        otherwise paths start at a member of ``holders`` (and, with ``stop_at_holders``, pass
        through no other member, so each chain is attributed once, to the nearest holder).
        Paths are found by a depth-first walk up the in-links, bounded by ``max_depth`` links,
        ``max_paths`` paths and :data:`MAX_EXPANSIONS` expansions; ``truncated`` says if any cap
        cut the listing short. Paths come sorted by decreasing product.

        ``holder_mask`` (a mask over the graph's entities) stands for ``holders`` when given:
        the holders are its members. The walk visits only the entity's upstream, so a mask of
        a whole set (every covered party) gives the listing of the set's upstream members
        without computing that upstream.
        """
        adj, ids = self.adj, self.ids
        wanted = _kind_mask(kinds)
        found: list[tuple[int, list[int]]] = []
        truncated = False
        expansions = 0
        t = self.index[entity_id]
        # stack of (node, chain of active-link indices from node down to the entity, the
        # entities on that chain including node)
        stack: list[tuple[int, list[int], frozenset[int]]] = [(t, [], frozenset((t,)))]
        while stack:
            node, chain, on_path = stack.pop()
            expansions += 1
            if expansions > MAX_EXPANSIONS:
                truncated = True
                break
            js = adj.in_order[adj.in_ptr[node] : adj.in_ptr[node + 1]]
            ins = js[wanted[adj.kind[js]]].tolist() if len(js) else []
            is_holder = chain and (
                bool(holder_mask[node])
                if holder_mask is not None
                else (holders is None and not ins) or (holders is not None and ids[node] in holders)
            )
            if is_holder:
                found.append((node, chain))
                if len(found) >= max_paths * 4:  # keep the best max_paths after sorting
                    truncated = True
                    break
                if stop_at_holders or (holders is None and holder_mask is None):
                    continue
            if len(chain) >= max_depth:
                if ins:
                    truncated = True
                continue
            for j, s in zip(ins, adj.source[ins].tolist(), strict=True):
                if s not in on_path:
                    stack.append((s, [j, *chain], on_path | {s}))
        if len(found) > max_paths:
            truncated = True
            found = self._best(found, max_paths)
        at = self.dataset.store.at
        paths = [
            self._path(self.ids[h], [at(int(adj.link[j])) for j in chain]) for h, chain in found
        ]
        paths.sort(key=lambda p: (-p.product.max, -p.product.min, p.entities))
        return PathListing(
            paths=paths, truncated=truncated, max_depth=max_depth, max_paths=max_paths
        )

    def _best(self, found: list[tuple[int, list[int]]], k: int) -> list[tuple[int, list[int]]]:
        """The ``k`` chains that come first in the listing's order (decreasing product, then
        entities), ranked from the link arrays before any path object is built: the products
        are multiplied in the same order as :meth:`_path` and rounded as ``ShareValue`` is."""
        adj = self.adj
        used = np.unique(np.fromiter((j for _, c in found for j in c), np.int64))
        b_lo, b_hi = self.dataset.store.bounds(adj.link[used])
        share = {
            int(j): (float(x), float(y))
            for j, x, y in zip(used.tolist(), b_lo.tolist(), b_hi.tolist(), strict=True)
        }

        def key(item: tuple[int, list[int]]) -> tuple[float, float, list[str]]:
            h, chain = item
            lo = hi = 1.0
            for j in chain:
                x, y = share[j]
                lo, hi = lo * x, hi * y
            ents = [self.ids[h], *(self.ids[int(adj.target[j])] for j in chain)]
            return -round(hi, 12), -round(lo, 12), ents

        return sorted(found, key=key)[:k]

    def _path(self, holder: str, chain: list[Link]) -> SharePath:
        product = Interval.exact(1.0)
        steps = []
        for l in chain:
            iv = l.share_interval()
            product = product * iv
            steps.append(
                PathStep(
                    link=l.id,
                    kind=l.kind,
                    source=l.source,
                    target=l.target,
                    share=ShareValue.of(iv) if l.share is not None else None,
                    sources=list(l.sources),
                    unconfirmed=l.unconfirmed,
                    status=l.status.value,
                )
            )
        return SharePath(
            holder=holder,
            entities=[holder, *(l.target for l in chain)],
            steps=steps,
            product=ShareValue.of(product),
        )


#: a cache key: (loaded dataset's version, overlay digest or "", date or epoch number)
GraphKey = tuple[str, str, "dt.date | int"]


class GraphCache:
    """The graphs of datasets by date: a bounded LRU keyed by (dataset version, overlay digest,
    date), with separate bounds for the loaded dataset's graphs (digest ``""``) and for the
    variants' (an overlay's), so that a run of overlays never evicts the base graphs.

    Dates with the same valid links share one graph (one entry per epoch of
    ``Dataset.link_boundaries``; a light view per date); a variant's graph is derived from the
    base graph of the same date (:meth:`ArrangementGraph.derive`), which is cached as a base
    entry on the way.

    >>> from georisk.scoring.dataset import load_dataset
    >>> from georisk.scoring.engine import DEFAULT_DATA
    >>> ds = load_dataset(DEFAULT_DATA)
    >>> cache = GraphCache(base_limit=8, overlay_limit=2)
    >>> g = cache.graph(ds, dt.date(2026, 11, 22))
    >>> cache.graph(ds, dt.date(2026, 11, 22)) is g, cache.sizes()
    (True, (2, 0))
    """

    def __init__(self, base_limit: int = 64, overlay_limit: int = 16) -> None:
        if base_limit < 2 or overlay_limit < 2:
            raise ValueError("each bound must hold at least a graph and a date view (2)")
        self.base_limit, self.overlay_limit = base_limit, overlay_limit
        self._base: OrderedDict[GraphKey, ArrangementGraph] = OrderedDict()
        self._overlay: OrderedDict[GraphKey, ArrangementGraph] = OrderedDict()
        self._lock = threading.Lock()  # server threads share one engine

    def sizes(self) -> tuple[int, int]:
        """(base entries, overlay entries)."""
        return len(self._base), len(self._overlay)

    def get(self, key: GraphKey) -> ArrangementGraph | None:
        """The cached graph (or date view) under ``key``, marked as recently used."""
        table = self._overlay if key[1] else self._base
        with self._lock:
            got = table.get(key)
            if got is not None:
                table.move_to_end(key)
        return got

    def put(self, key: GraphKey, graph: ArrangementGraph) -> None:
        table, limit = (
            (self._overlay, self.overlay_limit) if key[1] else (self._base, self.base_limit)
        )
        with self._lock:
            table[key] = graph
            table.move_to_end(key)
            while len(table) > limit:
                table.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._base.clear()
            self._overlay.clear()

    def drop_overlays(self, keep: str = "") -> int:
        """Remove the variants' graphs (overlay entries) except those of overlay digest
        ``keep``; the loaded datasets' graphs stay. Returns how many entries went.

        A store replica follows each write as one more overlay of its loaded dataset and
        shares this cache with the engine of the new version: the graphs of the versions it
        no longer serves would otherwise stay until evicted (a few hundred MB each at 1M
        entities).

        >>> from georisk.scoring.dataset import load_dataset
        >>> from georisk.scoring.engine import DEFAULT_DATA
        >>> from georisk.scoring.overlay import Overlay, apply_overlay
        >>> ds = load_dataset(DEFAULT_DATA)
        >>> cache, day = GraphCache(), dt.date(2026, 11, 22)
        >>> ov = Overlay.model_validate(
        ...     {"arrangement": "ford-marshall",
        ...      "change": {"links": [{"id": "vw-owns-gotion", "share": 0.3}]}})
        >>> _ = cache.graph(apply_overlay(ds, ov), day)
        >>> cache.sizes(), cache.drop_overlays(), cache.sizes()
        ((2, 2), 2, (2, 0))
        """
        with self._lock:
            gone = [k for k in self._overlay if k[1] != keep]
            for k in gone:
                del self._overlay[k]
        return len(gone)

    def graph(self, ds: Dataset, on: dt.date) -> ArrangementGraph:
        """The graph of ``ds`` as of ``on``, from the cache or built (derived for a variant)."""
        root = ds.base or ds
        key: GraphKey = (root.version, ds.overlay_digest, on)
        view = self.get(key)
        if view is not None:
            return view
        ekey: GraphKey = (
            root.version,
            ds.overlay_digest,
            bisect.bisect_right(ds.link_boundaries, on),
        )
        g = self.get(ekey)
        if g is None:
            g = (
                ArrangementGraph.build(ds, on)
                if ds.base is None
                else self.graph(root, on).derive(ds)
            )
            self.put(ekey, g)
        view = g if g.as_of == on else g.at(on)
        self.put(key, view)
        return view
