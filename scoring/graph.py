"""The arrangement graph as of a date: a NetworkX MultiDiGraph plus share matrices beside it.

NetworkX is the model of record (nodes carry their :class:`~scoring.model.Entity`, edges their
:class:`~scoring.model.Link`, keyed by link id) and answers path questions. Whole-graph
arithmetic (integrated ownership, threshold closures) runs on CSR matrices built directly from
index arrays alongside it (:mod:`scoring.ownership`), which is two orders of magnitude faster
than converting the NetworkX graph.

Only links valid on ``as_of`` are in the graph; every entity is.

>>> from scoring.dataset import load_dataset
>>> import pathlib
>>> g = ArrangementGraph.build(load_dataset(pathlib.Path(__file__).parents[1] / "data"),
...                            dt.date(2026, 11, 22))
>>> sorted(g.graph.successors("catl"))[:2]
['casip', 'chery']
>>> [l.share for l in g.links_into("aesc", [LinkKind.EQUITY])]
[0.75, 0.25]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import networkx as nx
import numpy as np
from pydantic import BaseModel, Field

from scoring.dataset import Dataset
from scoring.interval import Interval
from scoring.model import OWNERSHIP_KINDS, Entity, Link, LinkKind
from scoring.ownership import ShareMatrix

T = TypeVar("T")

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_PATHS",
    "ArrangementGraph",
    "PathListing",
    "PathStep",
    "SharePath",
    "ShareValue",
]

DEFAULT_MAX_DEPTH = 8
DEFAULT_MAX_PATHS = 50
#: upper bound on DFS node expansions per listing, whatever the caps above
MAX_EXPANSIONS = 20_000


class ShareValue(BaseModel):
    """A share as it appears in results: exact when min == max."""

    min: float
    max: float
    exclusive_min: bool = False
    exclusive_max: bool = False

    @staticmethod
    def of(i: Interval) -> ShareValue:
        return ShareValue(
            min=round(i.lo, 12),
            max=round(i.hi, 12),
            exclusive_min=i.lo_open,
            exclusive_max=i.hi_open,
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


@dataclass
class ArrangementGraph:
    """The dataset's graph as of one date, with index arrays for matrix work."""

    dataset: Dataset
    as_of: dt.date
    graph: nx.MultiDiGraph
    ids: list[str]
    index: dict[str, int]
    _cache: dict[str, object] = field(default_factory=dict, repr=False)  # depends on as_of
    #: caches that depend only on the links in the graph, shared by :meth:`at` views
    _shared: dict[str, object] = field(default_factory=dict, repr=False)

    def at(self, on: dt.date) -> ArrangementGraph:
        """The same graph read as of another date with the same valid links (see
        ``Dataset.link_boundaries``): shares the NetworkX graph and matrices, not date caches."""
        return ArrangementGraph(
            self.dataset, on, self.graph, self.ids, self.index, _shared=self._shared
        )

    def shared(self, key: str, make: Callable[[], T]) -> T:
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]  # type: ignore[return-value]

    def cached(self, key: str, make: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]  # type: ignore[return-value]

    @staticmethod
    def build(dataset: Dataset, as_of: dt.date) -> ArrangementGraph:
        g = nx.MultiDiGraph(as_of=as_of.isoformat(), dataset_version=dataset.version)
        ids = list(dataset.entities)
        g.add_nodes_from((eid, {"entity": e}) for eid, e in dataset.entities.items())
        g.add_edges_from(
            (l.source, l.target, l.id, {"link": l, "kind": l.kind})
            for l in dataset.links.values()
            if l.active(as_of)
        )
        return ArrangementGraph(dataset, as_of, g, ids, {eid: i for i, eid in enumerate(ids)})

    # ------------------------------------------------------------------ accessors

    def entity(self, entity_id: str) -> Entity:
        e: Entity = self.graph.nodes[entity_id]["entity"]
        return e

    def links_into(self, entity_id: str, kinds: Iterable[LinkKind] | None = None) -> list[Link]:
        wanted = set(kinds) if kinds is not None else None
        return [
            d["link"]
            for _, _, d in self.graph.in_edges(entity_id, data=True)
            if wanted is None or d["kind"] in wanted
        ]

    def links_from(self, entity_id: str, kinds: Iterable[LinkKind] | None = None) -> list[Link]:
        wanted = set(kinds) if kinds is not None else None
        return [
            d["link"]
            for _, _, d in self.graph.out_edges(entity_id, data=True)
            if wanted is None or d["kind"] in wanted
        ]

    # ------------------------------------------------------------------ matrices

    def _matrix(self, kinds: frozenset[LinkKind], prefer_votes: bool) -> ShareMatrix:
        """Build W from active links of ``kinds``.

        With ``prefer_votes`` (control semantics), a pair with a voting link uses its votes and
        ignores its equity: votes, not capital, decide control.
        """
        links = [d["link"] for _, _, d in self.graph.edges(data=True) if d["kind"] in kinds]
        if prefer_votes:
            voted = {(l.source, l.target) for l in links if l.kind is LinkKind.VOTING}
            links = [
                l for l in links if l.kind is LinkKind.VOTING or (l.source, l.target) not in voted
            ]
        n = len(self.ids)
        src = np.fromiter((self.index[l.source] for l in links), dtype=np.int64, count=len(links))
        dst = np.fromiter((self.index[l.target] for l in links), dtype=np.int64, count=len(links))
        bounds = np.array([l.share_bounds() for l in links], dtype=np.float64).reshape(-1, 2)
        return ShareMatrix.from_edges(n, src, dst, bounds[:, 0].copy(), bounds[:, 1].copy())

    @property
    def equity(self) -> ShareMatrix:
        """W[i, j]: share of j's equity held by i (ownership semantics: OFAC, BIS, exposure)."""
        return self.shared("equity", lambda: self._matrix(frozenset({LinkKind.EQUITY}), False))

    @property
    def control(self) -> ShareMatrix:
        """W[i, j]: share of j's votes held by i, equity where no votes are recorded."""
        return self.shared("control", lambda: self._matrix(OWNERSHIP_KINDS, True))

    def mask(self, ids: Iterable[str]) -> np.ndarray:
        m = np.zeros(len(self.ids), dtype=bool)
        for i in ids:
            m[self.index[i]] = True
        return m

    def upstream(self, entity_id: str) -> np.ndarray:
        """Indices of every entity with a chain of equity/voting links to ``entity_id`` (not
        itself), by a vectorized breadth-first walk over the holders' sparse columns."""
        csc = self.shared("control-hi-csc", lambda: self.control.hi.tocsc())
        indptr, indices = csc.indptr, csc.indices
        t = self.index[entity_id]
        seen = np.zeros(len(self.ids), dtype=bool)
        seen[t] = True
        frontier = np.array([t], dtype=np.int64)
        while frontier.size:
            starts, ends = indptr[frontier], indptr[frontier + 1]
            lens = ends - starts
            if not lens.sum():
                break
            pos = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
            up = np.unique(indices[pos])
            frontier = up[~seen[up]]
            seen[frontier] = True
        seen[t] = False
        return np.flatnonzero(seen)

    # ------------------------------------------------------------------ paths

    def share_paths(
        self,
        entity_id: str,
        *,
        holders: set[str] | None = None,
        kinds: frozenset[LinkKind] = frozenset({LinkKind.EQUITY}),
        stop_at_holders: bool = True,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_paths: int = DEFAULT_MAX_PATHS,
    ) -> PathListing:
        """Simple paths of ``kinds`` links from holders down to ``entity_id``.

        ``holders=None`` lists paths from every root (an entity with no holder of ``kinds``);
        otherwise paths start at a member of ``holders`` (and, with ``stop_at_holders``, pass
        through no other member, so each chain is attributed once, to the nearest holder).
        Paths are found by a depth-first walk up the in-links, bounded by ``max_depth`` links,
        ``max_paths`` paths and :data:`MAX_EXPANSIONS` expansions; ``truncated`` says if any cap
        cut the listing short. Paths come sorted by decreasing product.
        """
        found: list[SharePath] = []
        truncated = False
        expansions = 0
        # stack of (node, path-of-links-from-node-down-to-entity)
        stack: list[tuple[str, list[Link]]] = [(entity_id, [])]
        while stack:
            node, chain = stack.pop()
            expansions += 1
            if expansions > MAX_EXPANSIONS:
                truncated = True
                break
            ins = [
                d["link"] for _, _, d in self.graph.in_edges(node, data=True) if d["kind"] in kinds
            ]
            is_holder = chain and (
                (holders is None and not ins) or (holders is not None and node in holders)
            )
            if is_holder:
                found.append(self._path(node, chain))
                if len(found) >= max_paths * 4:  # keep the best max_paths after sorting
                    truncated = True
                    break
                if stop_at_holders or holders is None:
                    continue
            if len(chain) >= max_depth:
                if ins:
                    truncated = True
                continue
            on_path = {node} | {l.target for l in chain}
            for l in ins:
                if l.source not in on_path:
                    stack.append((l.source, [l, *chain]))
        found.sort(key=lambda p: (-p.product.max, -p.product.min, p.entities))
        if len(found) > max_paths:
            truncated = True
            found = found[:max_paths]
        return PathListing(
            paths=found, truncated=truncated, max_depth=max_depth, max_paths=max_paths
        )

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
