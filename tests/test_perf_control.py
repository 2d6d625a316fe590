"""The controller search's memo: each entity is expanded once per graph, not once per distance.

``control.controllers._controllers`` memoizes by (entity, search budget left) and canonicalizes the
budget to one from which the entity's answer is proven not to change (``settled``). These tests
would fail if the canonicalization were dropped (the memo grows with the number of distinct
distances), or if it changed an answer (compared with the uncanonicalized search, including
cycles, ranged shares and short depth limits).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from georisk.scoring.control import CONTROL_DEPTH, ultimate_controllers
from georisk.scoring.control.controllers import _UNBOUNDED, _controllers, _search
from georisk.scoring.dataset import Dataset
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.interval import EPS
from georisk.scoring.model import Entity, EntityKind, Link, LinkKind

DAY = dt.date(2026, 1, 1)


def dataset(n: int, edges: list[tuple[int, int, float, float | None]]) -> Dataset:
    """Companies e0..e{n-1}; edges (holder, held, share or lower bound, upper bound or None)."""
    links: dict[str, Link] = {}
    for k, (a, b, lo, hi) in enumerate(edges):
        share: object = lo if hi is None else {"minimum": lo, "maximum": hi}
        links[f"l{k}"] = Link.model_validate(
            {
                "id": f"l{k}",
                "kind": LinkKind.EQUITY,
                "source": f"e{a}",
                "target": f"e{b}",
                "share": share,
                "sources": ["s"],
            }
        )
    ents = {
        f"e{i}": Entity(id=f"e{i}", name=f"e{i}", kind=EntityKind.COMPANY, country="FR")
        for i in range(n)
    }
    return Dataset(sources={}, entities=ents, links=links, arrangements={}, version="t")


def reference(g: ArrangementGraph, t: int, depth: int) -> tuple[set[int], set[int]]:
    """The search as it was before the memo was canonicalized: keyed by the raw budget."""
    lo_csc, hi_csc = g.control.lo.tocsc(), g.control.hi.tocsc()
    memo: dict[tuple[int, int], tuple[set[int], set[int]]] = {}

    def column(m: object, j: int) -> dict[int, float]:
        assert hasattr(m, "indptr") and hasattr(m, "indices") and hasattr(m, "data")
        a, b = m.indptr[j], m.indptr[j + 1]
        return dict(zip(m.indices[a:b].tolist(), m.data[a:b].tolist(), strict=True))

    def go(j: int, budget: int) -> tuple[set[int], set[int]]:
        if (j, budget) in memo:
            return memo[(j, budget)]
        if budget <= 0:
            return set(), set()
        lo, hi = column(lo_csc, j), column(hi_csc, j)
        below = {h: go(h, budget - 1) for h in hi}
        candidates = set(hi).union(*(p for _, p in below.values())) - {j}
        cert, poss = set(), set()
        for c in candidates:
            if sum(v for h, v in lo.items() if h == c or c in below[h][0]) > 0.5 + EPS:
                cert.add(c)
            if sum(v for h, v in hi.items() if h == c or c in below[h][1]) > 0.5 + EPS:
                poss.add(c)
        memo[(j, budget)] = (cert, poss | cert)
        return memo[(j, budget)]

    return go(t, depth)


def shortcut_chain(n: int) -> ArrangementGraph:
    """e0 → e1 → … → e{n-1}, each held 60% by the previous entity and 30% by the one before:
    entity e_j is reached from the bottom along every mix of one- and two-level steps."""
    edges: list[tuple[int, int, float, float | None]] = [(0, 1, 1.0, None)]
    for i in range(2, n):
        edges += [(i - 1, i, 0.6, None), (i - 2, i, 0.3, None)]
    return ArrangementGraph.build(dataset(n, edges), DAY)


def test_each_entity_is_expanded_once_on_a_chain_with_shortcuts() -> None:
    n = 50
    g = shortcut_chain(n)
    memo: dict[object, object] = g.shared("controllers-memo", dict)
    r = ultimate_controllers(g, f"e{n - 1}")
    assert r.controllers == sorted(f"e{i}" for i in range(n - 1))
    assert r.ultimate == ["e0"] and r.undetermined == []
    # one memo entry per entity; keyed by the raw budget it would be about n²/4
    assert len(memo) <= n, len(memo)
    assert _search(g).settled == list(range(n))
    for t in range(n):
        assert _controllers(g, t, CONTROL_DEPTH) == reference(g, t, CONTROL_DEPTH)
    assert len(memo) <= n, len(memo)


def test_settled_budgets_on_cycles_and_when_nobody_can_hold_a_majority() -> None:
    # e0 → e1 (30%), e2 → e1 (40%), e1 → e2 (60%): a cycle; e2 → e3 (90%); e4 alone;
    # e5 → e6 and e0 → e6 (25% each: nobody can hold more than 50% of e6)
    edges: list[tuple[int, int, float, float | None]] = [
        (0, 1, 0.3, None),
        (2, 1, 0.4, None),
        (1, 2, 0.6, None),
        (2, 3, 0.9, None),
        (5, 6, 0.25, None),
        (0, 6, 0.25, None),
    ]
    g = ArrangementGraph.build(dataset(7, edges), DAY)
    # e1 never has a controller; e2 is controlled by e1 from budget 1; e3 by both from 2
    assert _search(g).settled == [0, 0, 1, 2, 0, 0, 0]
    for t in range(7):
        for d in range(CONTROL_DEPTH + 1):
            assert _controllers(g, t, d) == reference(g, t, d)
    assert _controllers(g, 3, CONTROL_DEPTH) == ({1, 2}, {1, 2})


def test_a_cycle_is_not_settled_before_its_inputs_are() -> None:
    # r controls q1 and q2 (60% each); q1 and q2 hold 30% of a and of a2; a and a2 hold 30% of
    # h: h's first controller (r) appears only at budget 3. The cycle x ⇄ y below h looks
    # settled at budget 2 (its answers at 2 and 3 agree), but r reaches it at budget 4.
    r, q1, q2, a, a2, h, x, y = range(8)
    edges: list[tuple[int, int, float, float | None]] = [
        (r, q1, 0.6, None),
        (r, q2, 0.6, None),
        (q1, a, 0.3, None),
        (q2, a, 0.3, None),
        (q1, a2, 0.3, None),
        (q2, a2, 0.3, None),
        (a, h, 0.3, None),
        (a2, h, 0.3, None),
        (h, x, 0.6, None),
        (y, x, 0.3, None),
        (x, y, 0.6, None),
    ]
    g = ArrangementGraph.build(dataset(8, edges), DAY)
    assert _search(g).settled[h] == 3 and _search(g).settled[x] >= 4
    for t in range(8):
        for d in range(8):
            assert _controllers(g, t, d) == reference(g, t, d), (t, d)
    assert _controllers(g, x, CONTROL_DEPTH)[0] == {h, r}


def test_a_cycle_longer_than_the_search_depth_is_not_settled() -> None:
    n = CONTROL_DEPTH + 6  # e_i holds 90% of e_{i+1}, around a cycle: control grows by one
    edges: list[tuple[int, int, float, float | None]] = [
        (i, (i + 1) % n, 0.9, None) for i in range(n)
    ]
    g = ArrangementGraph.build(dataset(n, edges), DAY)
    assert _search(g).settled == [_UNBOUNDED] * n
    cert, _ = _controllers(g, 0, CONTROL_DEPTH)
    assert cert == reference(g, 0, CONTROL_DEPTH)[0] and len(cert) == CONTROL_DEPTH


@st.composite
def graphs(draw: st.DrawFn) -> tuple[Dataset, int]:
    """Small graphs with cross-holdings (cycles), ranged shares, and a search depth that is
    sometimes shorter than the longest chain (so the depth limit decides some answers)."""
    n = draw(st.integers(2, 10))
    room = [1.0] * n
    edges: list[tuple[int, int, float, float | None]] = []
    for _ in range(draw(st.integers(1, 4 * n))):
        a, b = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        if a == b or room[b] <= 0.02:
            continue
        lo = round(draw(st.floats(0.01, 1.0)) * room[b], 4)
        hi = round(min(room[b], lo + draw(st.sampled_from([0.0, 0.0, 0.05, 0.2]))), 4)
        if lo <= 0:
            continue
        room[b] -= hi
        edges.append((a, b, lo, hi if hi > lo else None))
    return dataset(n, edges), draw(st.integers(1, n + 1))


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_canonical_memo_gives_the_answers_of_the_raw_budget_search(
    case: tuple[Dataset, int],
) -> None:
    ds, depth = case
    g = ArrangementGraph.build(ds, DAY)
    n = len(g.ids)
    # queries at several depths share one memo, as they do in the engine
    for t in np.random.default_rng(0).permutation(n).tolist():
        for d in (depth, CONTROL_DEPTH):
            assert _controllers(g, t, d) == reference(g, t, d), (t, d)
