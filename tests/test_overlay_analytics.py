"""A derived graph's analytics (reused from the base graph where the overlay cannot change
them, recomputed downstream of the changes) equal those of a graph built from scratch.

For a table of overlays and random ones of a synthetic dataset with holding cycles, the graph
of the variant derived from a base graph whose analytics are computed (:class:`GraphCache`)
and a graph built anew on the reference-applied dataset must agree on: covered parties, the
controller search (settled budgets, every entity's controllers), covered-nation exposure, the
SFE sets and SFE exposure, the threshold closures, and every entity's SFE/FIE/controller
results; scores of an engine with the overlay equal a fresh engine's on the reference dataset.
The restricted recomputation is forced (``MAX_DIRTY_FRACTION`` = 1) so that it is what runs,
and the default (fall back to a full computation past 25%) is checked too.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from georisk.scoring import graph as graph_mod
from georisk.scoring.control import controllers as ctl
from georisk.scoring.control import (
    covered_exposure,
    covered_parties,
    foreign_influenced,
    pfe,
    specified_foreign_entity,
    ultimate_controllers,
)
from georisk.scoring.dataset import Dataset, DatasetError
from georisk.scoring.engine import Engine, View
from georisk.scoring.graph import Adjacency, ArrangementGraph, GraphCache
from georisk.scoring.model import OWNERSHIP_KINDS
from georisk.scoring.overlay import apply_overlay, apply_overlay_reference
from georisk.scoring.policy import load_pack, load_scenarios
from georisk.scoring.rules import pfe_params
from tests.conftest import DATA
from tests.test_overlay_incremental import (
    ACME,
    equity,
    overlay,
    synth_overlays,
    synthetic,
)

ON = dt.date(2026, 11, 22)


@functools.cache
def engine_of(ds: int) -> Engine:
    """An engine on the synthetic dataset with the shipped packs."""
    pack = load_pack(DATA / "policies" / "us.yaml")
    return Engine(synthetic(), pack, load_scenarios(DATA / "policies" / "us.scenarios.yaml", pack))


def base_graph(cache: GraphCache, ds: Dataset, params: Any) -> ArrangementGraph:
    """The base graph with the analytics an overlay can reuse computed."""
    g = cache.graph(ds, ON)
    analytics(g, params, sample=True)
    return g


def analytics(g: ArrangementGraph, params: Any, sample: bool = False) -> dict[str, Any]:
    ids = g.ids[::5]
    out: dict[str, Any] = {
        "covered": covered_parties(g, params),
        "settled": np.array(ctl._search(g).settled[: len(g.ids)]),
        "search": ctl._search(g),
        "controllers": [ctl._controllers(g, i, ctl.CONTROL_DEPTH) for i in range(len(ids))],
        "sfe_sets": pfe._sfe_sets(g, params),
        "sfe_exposure": pfe._sfe_exposure(g, params),
    }
    for e in ids:
        out[f"ctl:{e}"] = ultimate_controllers(g, e, params).model_dump()
        out[f"exp:{e}"] = covered_exposure(g, e, params).model_dump()
        out[f"sfe:{e}"] = specified_foreign_entity(g, e, params).model_dump()
        out[f"fie:{e}"] = foreign_influenced(g, e, params).model_dump()
    return out


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert np.array_equal(got["covered"], want["covered"])
    # settled budgets: a derived search may keep the base's (a write that moves no majority:
    # controllers._answers_unchanged), tighter than a fresh search's conservative ones; each
    # is sound when the answer at it is the answer at every larger budget, the fresh one's
    differ = np.flatnonzero(got["settled"] != want["settled"])
    for j in differ.tolist():
        g_s, w_s = got["search"], want["search"]
        final = w_s.go(j, ctl.CONTROL_DEPTH)
        assert g_s.go(j, ctl.CONTROL_DEPTH) == final, j
        for b in range(int(got["settled"][j]), ctl.CONTROL_DEPTH + 1):
            assert w_s.go(j, b) == final, (j, b)
    assert got["controllers"] == want["controllers"]
    a, b = got["sfe_sets"], want["sfe_sets"]
    for name in ("seeds", "listed", "certain", "possible"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    x, y = got["sfe_exposure"], want["sfe_exposure"]
    assert (x is None) == (y is None)
    if x is not None and y is not None:
        for u, v in zip(x, y, strict=True):
            np.testing.assert_allclose(u, v, rtol=0, atol=1e-9)
    for k in want:
        if ":" in k:
            assert _rounded(got[k]) == _rounded(want[k]), k


def _rounded(x: Any) -> Any:
    """Values to 9 decimals: the iterative sums agree to the solver's tolerance (1e-12)."""
    if isinstance(x, float):
        return round(x, 9)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


def check(doc: dict[str, Any], *, forced: bool = True) -> bool:
    """Derived analytics == fresh ones for the overlay ``doc``; False if it is refused."""
    ds = synthetic()
    arr = next(iter(ds.arrangements))
    ov = overlay(doc, arr)
    try:
        variant = apply_overlay(ds, ov)
    except DatasetError:
        return False
    ref = apply_overlay_reference(ds, ov)
    params = pfe_params(engine_of(0).pack, ON)
    cache = GraphCache()
    base_graph(cache, ds, params)
    old = graph_mod.MAX_DIRTY_FRACTION
    graph_mod.MAX_DIRTY_FRACTION = 1.0 if forced else old
    try:
        derived = cache.graph(variant, ON)
        got = analytics(derived, params)
    finally:
        graph_mod.MAX_DIRTY_FRACTION = old
    want = analytics(ArrangementGraph.build(ref, ON), params)
    assert_same(got, want)
    # the derived adjacency (spliced from the base's) is the variant's built one
    built = Adjacency.build(variant, ON)
    for name in ("link", "source", "target", "kind", "in_ptr", "in_order", "out_ptr", "out_order"):
        assert np.array_equal(getattr(derived.adj, name), getattr(built, name)), name
    return True


ENTS = [f"e{i:07d}" for i in (0, 1, 5, 40, 120, 260, 399)]

TABLE: list[dict[str, Any]] = [
    {"change": {"links": [{"id": "LINK0", "share": 0.001}]}},
    {"change": {"links": [{"id": "LINK1", "share": 0.01}, {"id": "LINK2", "share": 0.02}]}},
    {"remove": {"links": ["LINK0", "LINK2"]}},
    {"add": {"links": [{**equity("n1", "HOLDER", "ROOM0", 0.6), "sources": ["synth"]}]}},
    {
        "add": {
            "entities": [{**ACME, "sources": ["synth"]}],
            "links": [{**equity("acme-in", "acme", "ROOM1", 0.55), "sources": ["synth"]}],
        }
    },
    {"change": {"entities": [{"id": ENTS[4], "country": "CN"}]}},
    {"change": {"entities": [{"id": ENTS[5], "country": "US", "principal_place": None}]}},
    {"remove": {"entities": ["GONE"]}},
]


def resolve(doc: dict[str, Any]) -> dict[str, Any]:
    """Fill in the placeholders: LINKk, the equity links with the largest shares (they decide
    control); ROOMk, held entities with room for a majority stake; HOLDER, a company that
    holds others (so a change reaches down a chain and into cycles)."""
    ds = synthetic()
    g = ArrangementGraph.build(ds, ON)
    links = sorted(
        (l for l in ds.links.values() if l.kind.value == "equity" and l.share),
        key=lambda l: (-l.share_interval().hi, l.id),
    )
    held = np.bincount(g.control.hi.indices, weights=g.control.hi.data, minlength=len(g.ids))
    holds = np.diff(g.control.hi.indptr)
    room = [
        g.ids[i]
        for i in np.flatnonzero((held > 0) & (held < 0.35) & (holds > 0)).tolist()
        if ds.entities[g.ids[i]].kind.value == "company"
    ]
    holder = next(g.ids[i] for i in np.argsort(-holds).tolist() if g.ids[i] not in room[:2])
    named = {
        x
        for a in ds.arrangements.values()
        for x in (a.focal, a.taxpayer, *(p.entity for p in a.parties))
    }
    gone = next(e for e in reversed(g.ids) if e not in named and holds[g.index[e]] > 0)
    text = repr(doc).replace("'HOLDER'", repr(holder)).replace("'GONE'", repr(gone))
    for k in range(3):
        text = text.replace(f"'LINK{k}'", repr(links[k].id)).replace(f"'ROOM{k}'", repr(room[k]))
    return eval(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("doc", TABLE, ids=[f"ov{i}" for i in range(len(TABLE))])
def test_table_of_overlays(doc: dict[str, Any]) -> None:
    assert check(resolve(doc))


def test_default_fraction_falls_back_or_reuses_correctly() -> None:
    for doc in (TABLE[0], TABLE[3]):
        assert check(resolve(doc), forced=False)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=synth_overlays())
def test_random_overlays(doc: dict[str, Any]) -> None:
    check(doc)


def test_the_derived_graph_reuses_the_base_search() -> None:
    """The test above must be able to fail: the variant's search reads the base's memo."""
    ds = synthetic()
    params = pfe_params(engine_of(0).pack, ON)
    cache = GraphCache()
    base = base_graph(cache, ds, params)
    variant = apply_overlay(ds, overlay(resolve(TABLE[1]), next(iter(ds.arrangements))))
    old = graph_mod.MAX_DIRTY_FRACTION
    graph_mod.MAX_DIRTY_FRACTION = 1.0
    try:
        g = cache.graph(variant, ON)
        s = ctl._search(g)
    finally:
        graph_mod.MAX_DIRTY_FRACTION = old
    assert g.derivation is not None and g.parent is base
    assert s.parent_memo is ctl._search(base).memo
    assert 0 < int(s.dirty.sum()) < len(g.ids)


def test_scores_with_an_overlay_equal_a_fresh_engine() -> None:
    ds = synthetic()
    e0 = engine_of(0)
    eng = Engine(ds, e0.pack, e0.scenarios)
    arrs = list(ds.arrangements)[:4]
    for a in arrs:
        eng.score(a, ON, view=View.BASIC, remedies=False)  # warm: the base analytics
    for doc in (TABLE[0], TABLE[3], TABLE[4], TABLE[5]):
        for a in arrs[:2]:
            ov = overlay(resolve(doc), a)
            got = eng.score(a, ON, view=View.BASIC, overlay=ov, remedies=False)
            fresh = Engine(apply_overlay_reference(ds, ov), eng.pack, eng.scenarios)
            want = fresh.score(a, ON, view=View.BASIC, remedies=False)
            skip = {"overlay", "dataset_version"}
            assert _rounded(got.model_dump(exclude=skip)) == _rounded(want.model_dump(exclude=skip))


def matrices(g: ArrangementGraph) -> dict[str, Any]:
    """The share matrices of ``g`` in every form the analytics read, as dense arrays."""
    lo_c, hi_c = g.control_columns
    return {
        "equity.lo": g.equity.lo,
        "equity.hi": g.equity.hi,
        "control.lo": g.control.lo,
        "control.hi": g.control.hi,
        "control.lo.csc": lo_c,
        "control.hi.csc": hi_c,
    }


@pytest.mark.parametrize("doc", TABLE, ids=[f"ov{i}" for i in range(len(TABLE))])
def test_patched_matrices_equal_built_ones(doc: dict[str, Any], monkeypatch: Any) -> None:
    """A derived graph's share matrices are the base's with the changed rows (CSR) or columns
    (CSC) rebuilt; they equal the matrices of a graph built on the reference-applied dataset,
    entry for entry and in canonical form (sorted indices, no duplicates)."""
    ds = synthetic()
    ov = overlay(resolve(doc), next(iter(ds.arrangements)))
    variant = apply_overlay(ds, ov)
    cache = GraphCache()
    base = cache.graph(ds, ON)
    matrices(base)
    derived = cache.graph(variant, ON)
    calls: list[int | None] = []  # the derived graph's builds: links read (None: all)
    edges = ArrangementGraph._edges

    def spy(self: ArrangementGraph, js: Any, *args: Any) -> Any:
        if self is derived:
            calls.append(None if js is None else len(js))
        return edges(self, js, *args)

    monkeypatch.setattr(ArrangementGraph, "_edges", spy)
    got = matrices(derived)
    monkeypatch.undo()
    want = matrices(ArrangementGraph.build(apply_overlay_reference(ds, ov), ON))
    patched = derived.derivation is not None
    # patched: three builds (equity, control, control by column) of a few links each
    assert not patched or (len(calls) == 3 and all(c is not None and c < 50 for c in calls))
    for k, w in want.items():
        m = got[k]
        assert m.format == w.format and m.shape == w.shape, k
        assert m.has_sorted_indices and m.has_canonical_format, k
        assert np.array_equal(m.indptr, w.indptr), k
        assert np.array_equal(m.indices, w.indices), k
        assert np.array_equal(m.data, w.data), k


@pytest.mark.parametrize("forced", [True, False], ids=["restricted", "default"])
@pytest.mark.parametrize("doc", TABLE, ids=[f"ov{i}" for i in range(len(TABLE))])
def test_derived_closures_equal_built_ones(
    doc: dict[str, Any], forced: bool, monkeypatch: Any
) -> None:
    """Threshold closures of a derived graph (:meth:`ArrangementGraph.closure`, members
    outside what the overlay reaches taken from the base) equal a built graph's: the
    foreign-controlled chain from the covered parties (control, strict 50%) and an
    inclusive equity closure from the same seeds, certain and possible."""
    ds = synthetic()
    ov = overlay(resolve(doc), next(iter(ds.arrangements)))
    try:
        variant = apply_overlay(ds, ov)
    except DatasetError:
        return
    params = pfe_params(engine_of(0).pack, ON)
    cases = [("chain", 0.5, False, True), ("eq", 0.5, True, False), ("eq25", 0.25, True, False)]

    def closures(g: ArrangementGraph) -> list[Any]:
        seeds = covered_parties(g, params)
        return [g.closure(k, seeds, t, inclusive=inc, control=c) for k, t, inc, c in cases]

    cache = GraphCache()
    closures(cache.graph(ds, ON))
    if forced:  # the restricted computation however much of the graph it must look at
        monkeypatch.setattr(graph_mod, "CLOSURE_DIRTY_FRACTION", 1e9)
    old = graph_mod.MAX_DIRTY_FRACTION
    graph_mod.MAX_DIRTY_FRACTION = 1.0 if forced else old
    ran: list[bool] = []
    restricted = graph_mod.Derivation.closure

    def spy(self: Any, *args: Any) -> Any:
        got = restricted(self, *args)
        ran.append(got is not None)
        return got

    monkeypatch.setattr(graph_mod.Derivation, "closure", spy)
    try:
        derived = cache.graph(variant, ON)
        got = closures(derived)
    finally:
        graph_mod.MAX_DIRTY_FRACTION = old
        monkeypatch.undo()
    want = closures(ArrangementGraph.build(apply_overlay_reference(ds, ov), ON))
    if forced and derived.derivation is not None:
        assert ran == [True] * len(cases)  # the restricted path is what ran
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a.certain, b.certain)
        assert np.array_equal(a.possible, b.possible)


def test_derived_closure_passes_additions_on_to_entities_it_evaluated(engine: Engine) -> None:
    """An entity evaluated at first (an added one, held 20% by CATL) and short of the
    threshold reaches it when a holder added later (A, 60% CATL's) passes its 40% on: the
    derived closure must add the later holdings to the sums it already computed."""
    ds = engine.dataset
    company = {"kind": "company", "country": "US", "sources": ["a14"]}
    doc = {
        "add": {
            "entities": [{"id": "a", "name": "A", **company}, {"id": "x", "name": "X", **company}],
            "links": [
                equity("catl-a", "catl", "a", 0.6),
                equity("a-x", "a", "x", 0.4),
                equity("catl-x", "catl", "x", 0.2),
            ],
        }
    }
    ov = overlay(doc, next(iter(ds.arrangements)))
    params = pfe_params(engine.pack, ON)
    key = "test-chain"

    def chain(g: ArrangementGraph) -> Any:
        return g.closure(key, covered_parties(g, params), 0.5, inclusive=False, control=True)

    cache = GraphCache()
    chain(cache.graph(ds, ON))
    derived = cache.graph(apply_overlay(ds, ov), ON)
    assert derived.derivation is not None
    got = chain(derived)
    built = ArrangementGraph.build(apply_overlay_reference(ds, ov), ON)
    want = chain(built)
    assert want.certain[built.index["x"]]  # the case this test is about
    assert np.array_equal(got.certain, want.certain)
    assert np.array_equal(got.possible, want.possible)


def _target_and_holder(ds: Dataset, controlled: bool) -> tuple[str, str]:
    """A company held more than 60% in total with a controller (``controlled``), or less
    than 35% (no controller: room for a majority), and a holder that does not hold it yet."""
    g = ArrangementGraph.build(ds, ON)
    held = np.bincount(g.control.hi.indices, weights=g.control.hi.data, minlength=len(g.ids))
    pick = (held > 0.6) & (held < 0.99) if controlled else (held > 0) & (held < 0.35)
    target = next(
        g.ids[i]
        for i in np.flatnonzero(pick).tolist()
        if bool(ctl._controllers(g, i, ctl.CONTROL_DEPTH)[0]) is controlled
    )
    holds = np.diff(g.control.hi.indptr)
    src = {l.source for l in g.links_into(target, OWNERSHIP_KINDS)}
    holder = next(g.ids[i] for i in np.argsort(-holds).tolist() if g.ids[i] not in src)
    return target, holder


@pytest.mark.parametrize(
    ("controlled", "share", "shared"), [(True, 0.0001, True), (False, 0.6, False)]
)
def test_a_write_that_moves_no_majority_keeps_the_base_search(
    controlled: bool, share: float, shared: bool
) -> None:
    """A small new stake into a controlled company changes no controller anywhere: the
    variant's search answers from the base's memo (no dirty set settled again: on the
    adversarial 100k graph that was ~1.2 s per followed store write), and its answers are a
    fresh graph's. A majority stake into a company nobody controlled takes the dirty-set
    path, so the shortcut's test can fail."""
    ds = synthetic()
    target, holder = _target_and_holder(ds, controlled)
    doc = {"add": {"links": [{**equity("w1", holder, target, share), "sources": ["synth"]}]}}
    ov = overlay(doc, next(iter(ds.arrangements)))
    variant = apply_overlay(ds, ov)
    params = pfe_params(engine_of(0).pack, ON)
    cache = GraphCache()
    base = base_graph(cache, ds, params)
    g = cache.graph(variant, ON)
    assert g.derivation is not None
    s = ctl._search(g)
    assert (s.memo is ctl._search(base).memo) is shared
    fresh = ArrangementGraph.build(apply_overlay_reference(ds, ov), ON)
    for i in range(len(g.ids)):
        for b in (1, 2, 3, 5, ctl.CONTROL_DEPTH):
            assert ctl._controllers(g, i, b) == ctl._controllers(fresh, i, b), (g.ids[i], b)
    assert _rounded(ultimate_controllers(g, target, params).model_dump()) == _rounded(
        ultimate_controllers(fresh, target, params).model_dump()
    )
