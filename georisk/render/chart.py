"""The chart of one arrangement: its bounded neighbourhood as nodes and edges, ready to draw.

:func:`build_chart` starts from the arrangement's members (focal entity, taxpayer, parties),
the links its failing clauses rest on (*decisive*: the clause's links, its evidence's links
and ownership paths, shortest first, each path whole) and the links its axis contributions
rest on, while they fit in ``max_nodes`` (the members and the first decisive link or path
always); then it walks *up* the
holders and providers (every link kind but offtake) breadth first, larger shares first, at
most ``per_node`` new holders per entity and ``max_nodes`` nodes in all; a link that belongs
to another deal of the same parties (its ``arrangement`` names another) is not drawn. The
holders left out
of an entity become one "N more holders" node (with their total share); an entity whose
holders were not walked at all says so in its node (``hidden_holders``). So a 1M-entity
dataset draws the same few dozen nodes as the shipped one, and the cost is that of the
nodes drawn: an entity's holders are ranked on the link arrays, and only those drawn are
read as records.

>>> from georisk.scoring.engine import DEFAULT_DATA, Engine
>>> import datetime as dt
>>> engine = Engine.from_dir(DEFAULT_DATA)
>>> on = dt.date(2026, 11, 22)
>>> s = engine.score("gotion-manteno-il", on, remedies=False)
>>> chart = build_chart(engine, s)
>>> [e.id for e in chart.edges if e.decisive]
['gotion-owns-gotion-inc']
>>> chart.node("gotion-high-tech").covered
'covered'
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from georisk.scoring.control import PfeParams, covered_parties
from georisk.scoring.dataset import Dataset
from georisk.scoring.dataset.linkstore import KIND_CODES
from georisk.scoring.engine import ArrangementScore, Engine
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.model import (
    OWNERSHIP_KINDS,
    Arrangement,
    Link,
    LinkKind,
    LinkStatus,
    ShareRange,
)
from georisk.scoring.rules import RuleOutcome, Verdict, pfe_params
from georisk.scoring.score import covered_control
from georisk.scoring.wording import named, pct, pct_range

__all__ = [
    "MAX_NODES",
    "PER_NODE",
    "Chart",
    "ChartEdge",
    "ChartNode",
    "build_chart",
    "chart_of",
    "decisive_links",
    "edge_label",
]

#: nodes drawn at most (entities and "N more holders" nodes together)
MAX_NODES = 60
#: new holders drawn per entity; the rest are collapsed into one "N more holders" node
PER_NODE = 8
#: how far up the holders the walk goes (links from a member)
MAX_DEPTH = 6
#: link kinds walked up from an entity: every kind but offtake (the producer sells downwards)
UP_KINDS = frozenset(k for k in LinkKind if k is not LinkKind.OFFTAKE)
_FAILING = (Verdict.NOT_ELIGIBLE, Verdict.AT_RISK)
_BRACKET_ID = re.compile(r"\[([a-z0-9][a-z0-9._:-]{0,127})\]")


@dataclass(frozen=True)
class ChartNode:
    """An entity drawn (or a "N more holders" node, ``kind`` ``more``)."""

    id: str
    name: str
    kind: str
    country: str | None = None
    #: covered-nation status: ``covered`` (a covered-nation party), ``controlled`` (controlled
    #: from a covered nation), ``partial`` (some covered-nation ownership), ``none``
    covered: str = "none"
    covered_why: str = ""
    lists: tuple[str, ...] = ()
    unconfirmed: bool = False
    #: the arrangement roles: focal, taxpayer, and the parties' roles (empty: not a member)
    roles: tuple[str, ...] = ()
    decisive: bool = False
    depth: int = 0
    #: holders of this entity not drawn (its holders were not walked: the bound was reached)
    hidden_holders: int = 0
    #: for a "more" node: how many holders it stands for, and their summed share (lower bound)
    count: int = 0
    share: float | None = None

    @property
    def label(self) -> str:
        """``Name [id]`` (a "more" node: its name)."""
        return (
            self.name if self.kind == "more" or self.name == self.id else f"{self.name} [{self.id}]"
        )


@dataclass(frozen=True)
class ChartEdge:
    """A link drawn (holder or provider → held or receiver), or a collapsed group's edge."""

    id: str
    source: str
    target: str
    kind: str
    label: str
    status: str = "confirmed"
    unconfirmed: bool = False
    decisive: bool = False
    #: the axis contributions resting on the link (technology, equity)
    axes: tuple[str, ...] = ()
    text: str = ""

    @property
    def dashed(self) -> bool:
        """True for an UNCONFIRMED link, or one only reported or proposed."""
        return self.unconfirmed or self.status != LinkStatus.CONFIRMED.value


@dataclass(frozen=True)
class Chart:
    """What :func:`build_chart` chose to draw, with what it left out."""

    arrangement: str
    name: str
    as_of: dt.date
    scenario: str
    nodes: tuple[ChartNode, ...]
    edges: tuple[ChartEdge, ...]
    #: the rules whose failing clauses the decisive links come from
    decisive_rules: tuple[str, ...] = ()
    max_nodes: int = MAX_NODES
    #: holders known to exist but not drawn (collapsed or not walked)
    hidden: int = 0
    focal: str = ""
    operators: tuple[str, ...] = field(default=())
    #: decisive links left out by the bound (their paths would not fit)
    decisive_not_drawn: int = 0

    def node(self, nid: str) -> ChartNode:
        return next(n for n in self.nodes if n.id == nid)


# --------------------------------------------------------------------------- decisive links


def _failing(score: ArrangementScore) -> list[RuleOutcome]:
    return [v for v in score.verdicts if v.verdict in _FAILING]


def decisive_links(score: ArrangementScore) -> tuple[set[str], set[str], list[str]]:
    """(links, entities, rules) that the failing clauses of the chosen scenario rest on: each
    failing rule's decisive clauses with the rule's verdict, their links, their evidence's
    links and ownership paths, and the entities they name ("Name [id]" in the reason)."""
    links: set[str] = set()
    entities: set[str] = set()
    rules: list[str] = []
    for v in _failing(score):
        rules.append(v.rule)
        for c in v.clauses:
            if not c.decisive or c.verdict is not v.verdict:
                continue
            links.update(c.links)
            entities.update(_BRACKET_ID.findall(c.reason))
            for t in c.evidence:
                if t.verdict.value == "false":
                    continue
                links.update(t.links)
                if t.paths is not None:
                    for p in t.paths.paths:
                        links.update(st.link for st in p.steps)
                        entities.update(p.entities)
    return links, entities, rules


def decisive_groups(score: ArrangementScore) -> list[list[str]]:
    """The decisive links of :func:`decisive_links` in drawing order, grouped: each clause's own
    links one by one, then each ownership path of its evidence whole (a path is drawn whole
    or not at all), shortest paths first."""
    single: list[list[str]] = []
    paths: list[list[str]] = []
    for v in _failing(score):
        for c in v.clauses:
            if not c.decisive or c.verdict is not v.verdict:
                continue
            single += [[lid] for lid in c.links]
            for t in c.evidence:
                if t.verdict.value == "false":
                    continue
                single += [[lid] for lid in t.links]
                if t.paths is not None:
                    paths += [[st.link for st in p.steps] for p in t.paths.paths]
    seen: set[tuple[str, ...]] = set()
    out: list[list[str]] = []
    for grp in single + sorted(paths, key=len):
        if tuple(grp) not in seen:
            seen.add(tuple(grp))
            out.append(grp)
    return out


def _by_points(score: ArrangementScore) -> list[str]:
    """The links of the technology and equity contributions, largest contribution first."""
    parts = [c for a in (score.technology, score.equity) for c in a.contributions]
    ranked = sorted(parts, key=lambda c: -c.points)
    return list(dict.fromkeys(lid for c in ranked for lid in c.links))


def _axis_links(score: ArrangementScore) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for a in (score.technology, score.equity):
        for c in a.contributions:
            for lid in c.links:
                out.setdefault(lid, set()).add(a.axis)
    return out


# --------------------------------------------------------------------------- labels


def _share_text(l: Link) -> str:
    if l.share is None:
        return ""
    if isinstance(l.share, ShareRange):
        iv = l.share_interval()
        return pct_range(iv.lo, iv.hi, lo_open=iv.lo_open, hi_open=iv.hi_open)
    return pct(float(l.share))


def _licence_terms(l: Link) -> list[str]:
    t = l.licence
    if t is None:
        return []
    out = [x for x in (t.technology, t.chemistry) if x]
    if t.ip_purchase:
        out.append("IP purchase")
    if t.royalty_years is not None:
        out.append(f"royalties {t.royalty_years:g} y")
    if t.service_years is not None:
        out.append(f"services {t.service_years:g} y")
    if t.know_how_transfer.value != "unknown":
        out.append(f"know-how {t.know_how_transfer.value}")
    out += [f"licensor controls {c.replace('_', ' ')}" for c in t.licensor_controls]
    if t.signed:
        out.append(f"signed {t.signed.isoformat()}")
    return out


def edge_label(l: Link) -> str:
    """What the drawn edge says: the kind and share, licence terms on a licence.

    >>> edge_label(Link(id="x", kind=LinkKind.EQUITY, source="a", target="b", share=0.25,
    ...                 sources=["s"]))
    '25%'
    >>> edge_label(Link(id="y", kind=LinkKind.DEBT, source="a", target="b", sources=["s"]))
    'debt'
    """
    share = _share_text(l)
    if l.kind is LinkKind.EQUITY:
        words = share
    elif l.kind is LinkKind.VOTING:
        words = f"votes {share}"
    elif l.kind is LinkKind.LICENCE:
        words = "; ".join(["licence", *_licence_terms(l)])
    elif l.kind is LinkKind.APPOINTMENT:
        words = f"appoints {l.role or 'board'}" + (f" {share}" if share else "")
    elif l.kind is LinkKind.CONTROL:
        words = (l.role or "control").replace("_", " ")
    else:
        words = l.kind.value + (f" {share}" if share else "")
    if l.status is not LinkStatus.CONFIRMED:
        words += f" ({l.status.value})"
    if l.unconfirmed:
        words += " UNCONFIRMED"
    return words.strip()


# --------------------------------------------------------------------------- the walk


def _kind_codes(kinds: Iterable[LinkKind]) -> np.ndarray:
    mask = np.zeros(max(KIND_CODES.values()) + 1, dtype=bool)
    for k in kinds:
        mask[KIND_CODES[k]] = True
    return mask


_UP_MASK = _kind_codes(UP_KINDS)
_OWN_MASK = _kind_codes(OWNERSHIP_KINDS)


@dataclass(frozen=True)
class _Holders:
    """An entity's in-links of the walked kinds, ranked (largest share first)."""

    top: list[Link]
    rest: int  # how many further links
    rest_sources: int  # from how many further holders (not drawn)
    rest_share: float  # their summed ownership share (lower bounds)
    rest_providers: bool = False  # some of them are not holdings (supply, licence, …)


def _holders(
    g: ArrangementGraph, eid: str, k: int, keep: set[str], own: frozenset[str | None]
) -> _Holders:
    """The in-links of ``eid`` of :data:`UP_KINDS`: those whose source is in ``keep`` and the
    ``k`` largest others (by share lower bound, then store position), ranked on the arrays;
    only those are read as records, and those that belong to another arrangement (their
    ``arrangement`` not in ``own``) are left out."""
    adj = g.adj
    i = g.index[eid]
    js = adj.in_order[adj.in_ptr[i] : adj.in_ptr[i + 1]]
    if not len(js):
        return _Holders([], 0, 0, 0.0)
    js = js[_UP_MASK[adj.kind[js]]]
    pos = adj.link[js]
    lo, _ = g.dataset.store.bounds(pos)
    order = np.lexsort((pos, -lo))
    keep_idx = {g.index[x] for x in keep if x in g.index}
    src = adj.source[js]
    forced = [j for j in order.tolist() if int(src[j]) in keep_idx]
    others = [j for j in order.tolist() if int(src[j]) not in keep_idx]
    k = max(0, k - len({int(src[j]) for j in forced}))  # those drawn already count
    chosen, rest = others[:k], others[k:]
    at = g.dataset.store.at
    top = [l for l in (at(int(pos[j])) for j in forced + chosen) if l.arrangement in own]
    holding = _OWN_MASK[adj.kind[js]]
    rest_share = float(sum(lo[j] for j in rest if holding[j]))
    rest_sources = len({int(src[j]) for j in rest} - {int(src[j]) for j in chosen})
    providers = any(not holding[j] for j in rest)
    return _Holders(top, len(rest), rest_sources, rest_share, providers)


def _members(arr: Arrangement) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {arr.focal: ["focal"]}
    if arr.taxpayer:
        roles.setdefault(arr.taxpayer, []).append("taxpayer")
    for p in arr.parties:
        roles.setdefault(p.entity, []).append(p.role)
    return roles


@dataclass
class _Walk:
    g: ArrangementGraph
    ds: Dataset
    max_nodes: int
    per_node: int
    #: the ``arrangement`` values of the links that may be drawn (None: every deal's)
    own: frozenset[str | None] = frozenset({None})
    nodes: dict[str, int] = field(default_factory=dict)  # id → depth
    edges: dict[str, Link] = field(default_factory=dict)
    #: target → (holders not drawn, their summed share, some are providers rather than holders)
    more: dict[str, tuple[int, float, bool]] = field(default_factory=dict)
    unwalked: dict[str, int] = field(default_factory=dict)

    def room(self) -> int:
        return self.max_nodes - len(self.nodes) - len(self.more)

    def add(self, eid: str, depth: int) -> bool:
        if eid in self.nodes or eid not in self.g.index:
            return False
        self.nodes[eid] = depth
        return True

    def walk(self, start: list[str]) -> None:
        queue = deque(e for e in start if e in self.nodes)
        seen: set[str] = set()
        while queue:
            eid = queue.popleft()
            if eid in seen:
                continue
            seen.add(eid)
            h = _holders(self.g, eid, self.per_node, set(self.nodes), self.own)
            for l in h.top:
                if l.source in self.nodes:
                    self.edges.setdefault(l.id, l)
            new = list(dict.fromkeys(l.source for l in h.top if l.source not in self.nodes))
            hidden = h.rest_sources
            depth = self.nodes[eid]
            if depth >= MAX_DEPTH or self.room() <= 0:
                if new or hidden:
                    self.unwalked[eid] = len(new) + hidden
                continue
            take = len(new)
            if take + (1 if hidden else 0) > self.room():
                take = self.room() - 1  # one place for the "more" node
            for src in new[:take]:
                self.add(src, depth + 1)
                queue.append(src)
            for l in h.top:
                if l.source in self.nodes:
                    self.edges.setdefault(l.id, l)
            left = set(new[take:])
            n_more = len(left) + hidden
            if n_more:
                share = h.rest_share + sum(
                    l.share_bounds()[0]
                    for l in h.top
                    if l.source in left and l.kind in OWNERSHIP_KINDS
                )
                providers = h.rest_providers or any(
                    l.kind not in OWNERSHIP_KINDS for l in h.top if l.source in left
                )
                self.more[eid] = (n_more, share, providers)


def _links_among(
    g: ArrangementGraph, ids: set[str], edges: dict[str, Link], own: frozenset[str | None]
) -> None:
    """Add the links between drawn entities that the walk did not follow (offtake between
    members, holdings between two drawn entities), reading only the drawn entities' in-links
    of small in-degree."""
    adj = g.adj
    for eid in sorted(ids):
        i = g.index[eid]
        if adj.in_ptr[i + 1] - adj.in_ptr[i] > 5_000:
            continue  # a hub: its drawn holders' links came with the walk
        for l in g.links_into(eid):
            if l.source in ids and l.arrangement in own:
                edges.setdefault(l.id, l)


def _covered(g: ArrangementGraph, params: PfeParams, eid: str) -> tuple[str, str]:
    """(status, why): ``covered`` for a covered-nation party (the pack's seeds), ``controlled``
    for control from a covered nation, ``partial`` for some covered-nation ownership, ``none``;
    why in the score's words (:func:`~georisk.scoring.score.covered_control`)."""
    c = covered_control(g, params, eid)
    if covered_parties(g, params)[g.index[eid]]:
        return "covered", c.why
    if c.degree >= 1.0:
        return "controlled", c.why
    if c.degree > 0:
        return "partial", c.why
    return "none", c.why


def build_chart(
    engine: Engine,
    score: ArrangementScore,
    *,
    dataset: Dataset | None = None,
    max_nodes: int = MAX_NODES,
    per_node: int = PER_NODE,
) -> Chart:
    """The chart of ``score``'s arrangement on its date: see the module docstring.

    ``dataset`` is the dataset scored (an overlaid one for a what-if score; default the
    engine's). ``max_nodes`` bounds the nodes drawn (the arrangement's members and its first
    decisive link or path are drawn whatever the bound; further decisive paths that do not
    fit are counted in :attr:`Chart.decisive_not_drawn`).
    """
    ds = dataset or engine.dataset
    on = score.as_of
    g = engine.graph(on, ds)
    arr = ds.arrangements[score.arrangement.id]
    params = pfe_params(engine.pack, on)
    return chart_of(g, arr, score, params, max_nodes=max_nodes, per_node=per_node)


def chart_of(
    g: ArrangementGraph,
    arr: Arrangement,
    score: ArrangementScore,
    params: PfeParams,
    *,
    max_nodes: int = MAX_NODES,
    per_node: int = PER_NODE,
) -> Chart:
    """:func:`build_chart` on a graph and PFE parameters given."""
    ds = g.dataset
    roles = _members(arr)
    dec_links, dec_entities, rules = decisive_links(score)
    axes = _axis_links(score)
    on = score.as_of
    w = _Walk(g, ds, max(max_nodes, 1), max(per_node, 1), frozenset({None, arr.id}))
    for eid in roles:  # the members, whatever the bound
        w.add(eid, 0)
    # then the decisive links (the first group whatever the bound), the entities the failing
    # clauses name, and the links the axis contributions rest on, while they fit
    groups = decisive_groups(score)
    extra = [[lid] for lid in _by_points(score) if lid not in dec_links]
    per_target: dict[str, int] = {}
    for i, grp in enumerate([*groups, *extra]):
        ls = [l for l in (ds.links.get(x) for x in grp) if l is not None and l.active(on)]
        new = {x for l in ls for x in (l.source, l.target)} - set(w.nodes)
        if i > 0 and len(w.nodes) + len(new) > w.max_nodes:
            continue
        if i >= len(groups) and ls:  # an axis link: at most per_node into one entity
            t = ls[0].target
            if new and per_target.get(t, 0) >= w.per_node:
                continue
            per_target[t] = per_target.get(t, 0) + 1
        for l in ls:
            w.edges[l.id] = l
            for x in (l.source, l.target):
                w.add(x, 0)
    for eid in sorted(dec_entities):
        if len(w.nodes) < w.max_nodes:
            w.add(eid, 0)
    w.walk(list(w.nodes))
    ids = set(w.nodes)
    _links_among(g, ids, w.edges, w.own)
    dec_ends = dec_entities | {
        x for l in w.edges.values() if l.id in dec_links for x in (l.source, l.target)
    }
    nodes: list[ChartNode] = []
    for eid, depth in w.nodes.items():
        e = ds.entities[eid]
        cov, why = _covered(g, params, eid)
        nodes.append(
            ChartNode(
                id=eid,
                name=e.name,
                kind=e.kind.value,
                country=e.country,
                covered=cov,
                covered_why=why,
                lists=tuple(dict.fromkeys(m.list_id for m in e.lists if m.active(score.as_of))),
                unconfirmed=e.unconfirmed,
                roles=tuple(roles.get(eid, ())),
                decisive=eid in dec_ends,
                depth=depth,
                hidden_holders=w.unwalked.get(eid, 0),
            )
        )
    edges = [
        ChartEdge(
            id=l.id,
            source=l.source,
            target=l.target,
            kind=l.kind.value,
            label=edge_label(l),
            status=l.status.value,
            unconfirmed=l.unconfirmed,
            decisive=l.id in dec_links,
            axes=tuple(sorted(axes.get(l.id, ()))),
            text=_link_text(ds, l),
        )
        for l in sorted(w.edges.values(), key=lambda l: l.id)
        if l.source in ids and l.target in ids
    ]
    hidden = sum(w.unwalked.values())
    for target, (n, share, providers) in sorted(w.more.items()):
        mid = f"more:{target}"
        hidden += n
        name = f"{n:,} more holder{'s' if n != 1 else ''}" + (" and providers" if providers else "")
        nodes.append(
            ChartNode(
                id=mid,
                name=name,
                kind="more",
                count=n,
                share=share or None,
                depth=w.nodes[target] + 1,
            )
        )
        label = f"together ≥ {pct(share)}" if share > 0 else ""
        edges.append(ChartEdge(id=mid, source=mid, target=target, kind="more", label=label))
    operators = tuple(
        sorted({e.source for e in edges if e.kind == "operation" and e.target == arr.focal})
    )
    return Chart(
        arrangement=arr.id,
        name=arr.name,
        as_of=score.as_of,
        scenario=score.scenario,
        nodes=tuple(nodes),
        edges=tuple(edges),
        decisive_rules=tuple(rules),
        max_nodes=max_nodes,
        hidden=hidden,
        decisive_not_drawn=len(dec_links - set(w.edges)),
        focal=arr.focal,
        operators=operators,
    )


def _link_text(ds: Dataset, l: Link) -> str:
    """The link in words for a tooltip: ``Name [id] holds 25% of Name [id]``."""
    return f"{named(ds.entities, l.source)} → {named(ds.entities, l.target)}: {edge_label(l)}"
