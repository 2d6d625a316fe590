"""The block Gauss-Seidel solver of georisk.scoring.ownership against the plain Neumann series.

``integrated_from`` and ``absorbed_exposure`` solve ``x = b + W^T (keep * x)`` group by group
in topological order of the condensation (see ``_make_plan``/``_solve``). These tests compare
them, for several plan granularities (one entity per block up to one block for everything),
with ``_neumann`` (the series of earlier versions) on random graphs with cycles, ranged shares,
closed cycles and shares into an entity summing to more than 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import georisk.scoring.ownership as own
from georisk.scoring.ownership import Bounds, ShareMatrix, absorbed_exposure, integrated_from

SETTINGS = settings(max_examples=60, deadline=None)
TOL = 1e-9
#: (min_rows, block_rows): finest (every level its own group, point Gauss-Seidel), coarse
#: blocks, and the defaults (small graphs: one block, i.e. Jacobi = the series itself).
GRAINS = [(1, 1), (2, 3), (own._MIN_GROUP_ROWS, own._BLOCK_ROWS)]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


def planned(W: ShareMatrix, min_rows: int, block_rows: int) -> ShareMatrix:
    """A copy of ``W`` whose cached plan has the given granularity."""
    out = ShareMatrix(W.lo, W.hi)
    out.__dict__["_plan"] = own._make_plan(W.lo, W.hi, min_rows, block_rows)
    return out


def reference(W: ShareMatrix, vec: FloatArray, keep: BoolArray | None) -> Bounds:
    """Plain Neumann series for both bounds, clipped like the public functions."""
    lo = own._neumann(W.lo, np.asarray(W.lo.T @ vec, np.float64), keep, 1e-12, 10_000)
    hi = own._neumann(W.hi, np.asarray(W.hi.T @ vec, np.float64), keep, 1e-12, 10_000)
    return own._bounds(lo, hi)


@st.composite
def share_graphs(draw: st.DrawFn, max_n: int = 14) -> ShareMatrix:
    """Random ranged share graphs, cycles likely. Usually the ``hi`` shares into each entity
    sum to at most 1; sometimes a cycle holds 100% (closed), sometimes an entity is held more
    than 100% (the series blows up)."""
    n = draw(st.integers(2, max_n))
    edges = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, 20)),
            max_size=4 * n,
        )
    )
    src, dst, lo, hi = [], [], [], []
    held = np.zeros(n)
    for s, d, units in edges:
        if s == d:
            continue
        h = min(units / 20, 1.0 - held[d])
        if h <= 0:
            continue
        ranged = draw(st.booleans())
        l_ = h * draw(st.sampled_from([0.5, 0.8, 0.95])) if ranged else h
        src.append(s)
        dst.append(d)
        lo.append(l_)
        hi.append(h)
        held[d] += h
    kind = draw(st.sampled_from(["leaky", "leaky", "leaky", "closed", "over"]))
    if kind == "closed" and n >= 3:  # entities 0 -> 1 -> 2 -> 0, each held 100% inside
        for s, d in ((0, 1), (1, 2), (2, 0)):
            keep = [i for i, t in enumerate(dst) if t != d]
            src, dst = [src[i] for i in keep] + [s], [dst[i] for i in keep] + [d]
            lo, hi = [lo[i] for i in keep] + [1.0], [hi[i] for i in keep] + [1.0]
    if kind == "over" and n >= 3:  # 0 and 1 hold 2 fully, and 2 holds 1 fully
        src, dst = [*src, 0, 1, 2], [*dst, 2, 2, 1]
        lo, hi = [*lo, 1.0, 1.0, 1.0], [*hi, 1.0, 1.0, 1.0]
    note(f"{kind}: {list(zip(src, dst, lo, hi, strict=True))}")
    return ShareMatrix.from_edges(
        n, np.array(src, np.intp), np.array(dst, np.intp), np.array(lo), np.array(hi)
    )


def agree(got: Bounds, ref: Bounds) -> None:
    assert got.converged == ref.converged  # Stein-Rosenberg: same convergence as the series
    if ref.converged:
        np.testing.assert_allclose(got.lo, ref.lo, rtol=1e-9, atol=TOL)
        np.testing.assert_allclose(got.hi, ref.hi, rtol=1e-9, atol=TOL)
        assert np.all(got.lo <= got.hi + TOL)
    else:
        for v in (got.lo, got.hi):
            assert np.all((v >= 0.0) & (v <= 1.0))


@SETTINGS
@given(W=share_graphs(), data=st.data())
def test_integrated_from_matches_neumann(W: ShareMatrix, data: st.DataObject) -> None:
    seed = np.array(
        data.draw(st.lists(st.sampled_from([0.0, 0.0, 1.0, 0.5]), min_size=W.n, max_size=W.n))
    )
    ref = reference(W, seed, None)
    for grain in GRAINS:
        agree(integrated_from(planned(W, *grain), seed), ref)


@SETTINGS
@given(W=share_graphs(), data=st.data())
def test_absorbed_exposure_matches_neumann(W: ShareMatrix, data: st.DataObject) -> None:
    holders = np.array(data.draw(st.lists(st.booleans(), min_size=W.n, max_size=W.n)))
    ref = reference(W, holders.astype(np.float64), ~holders)
    for grain in GRAINS:
        agree(absorbed_exposure(planned(W, *grain), holders), ref)


@SETTINGS
@given(W=share_graphs())
def test_plan_is_topological(W: ShareMatrix) -> None:
    """Every link goes forward in the plan order, except inside an iterated group; ``once``
    groups have no link inside them; groups and blocks tile the entities."""
    for grain in GRAINS:
        plan = own._make_plan(W.lo, W.hi, *grain)
        assert sorted(plan.perm.tolist()) == list(range(W.n))
        pos = np.empty(W.n, dtype=np.intp)
        pos[plan.perm] = np.arange(W.n)
        group = np.empty(W.n, dtype=np.intp)
        assert plan.groups[0].start == 0 and plan.groups[-1].stop == W.n
        for i, g in enumerate(plan.groups):
            group[g.start : g.stop] = i
            assert plan.bounds[g.blocks[0]] == g.start and plan.bounds[g.blocks[1]] == g.stop
            if i:
                assert plan.groups[i - 1].stop == g.start
        coo = (abs(W.lo) + abs(W.hi)).tocoo()
        live = coo.data > 0
        a, b = pos[coo.row[live]], pos[coo.col[live]]
        forward = a < b
        same = group[a] == group[b]
        assert np.all(forward | same)
        once = np.array([plan.groups[k].once for k in group[a]], dtype=bool)
        assert not np.any(same & once)


def test_identical_bounds_skip_the_hi_run() -> None:
    rng = np.random.default_rng(5)
    n = 300
    src, dst = rng.integers(0, n, 900), rng.integers(0, n, 900)
    ok = src != dst
    src, dst = src[ok], dst[ok]
    w = rng.random(src.size)
    w = w / np.bincount(dst, weights=w, minlength=n)[dst] * 0.9
    exact = ShareMatrix.from_edges(n, src, dst, w)
    ranged = ShareMatrix.from_edges(n, src, dst, w * 0.9, w)
    seed = (rng.random(n) < 0.05).astype(np.float64)
    x = integrated_from(exact, seed)
    assert exact._plan.hi is None and ranged._plan.hi is not None
    assert x.converged and np.array_equal(x.lo, x.hi) and x.lo is not x.hi
    y = integrated_from(ranged, seed)
    assert y.matvecs > x.matvecs  # the hi run was done
    agree(x, reference(exact, seed, None))
    agree(y, reference(ranged, seed, None))


def test_acyclic_graph_is_one_pass() -> None:
    """A chain deeper than ``max_iter``: one pass per level, exact, where the series would need
    one mat-vec per link of depth."""
    n = 400
    src, dst = np.arange(n - 1), np.arange(1, n)
    W = planned(ShareMatrix.from_edges(n, src, dst, np.full(n - 1, 0.99)), 1, 1)
    x = integrated_from(W, np.eye(n)[0], max_iter=50)
    assert x.converged and x.iterations == 2
    np.testing.assert_allclose(x.lo[1:], 0.99 ** np.arange(1, n), rtol=1e-12)
    assert x.matvecs == pytest.approx(2.0)  # first term and one pass; exact shares: no hi run


def test_closed_cycle_detected_inside_a_group() -> None:
    # 0 holds 50% of 1; 1, 2, 3 hold each other 100% in a ring (closed); 3 holds 40% of 4
    edges = [(0, 1, 0.5), (1, 2, 1.0), (2, 3, 1.0), (3, 1, 0.5), (3, 4, 0.4)]
    s, d, w = (np.array(v) for v in zip(*edges, strict=True))
    W = ShareMatrix.from_edges(5, s.astype(np.intp), d.astype(np.intp), w)
    for grain in GRAINS:
        x = integrated_from(planned(W, *grain), np.eye(5)[0], max_iter=5_000)
        ref = reference(W, np.eye(5)[0], None)
        assert x.converged == ref.converged
    ring = [(1, 2, 1.0), (2, 3, 1.0), (3, 1, 1.0), (0, 1, 0.0001), (3, 4, 0.4)]
    s, d, w = (np.array(v) for v in zip(*ring, strict=True))
    W = ShareMatrix.from_edges(5, s.astype(np.intp), d.astype(np.intp), w)
    for grain in GRAINS:
        x = integrated_from(planned(W, *grain), np.eye(5)[0], max_iter=5_000)
        assert not x.converged
        assert x.iterations <= own._CHECK_AFTER + 2  # detected, not max_iter sweeps
        assert np.all((x.lo >= 0) & (x.hi <= 1))


def test_larger_random_graph_with_a_giant_component() -> None:
    """Several blocks per group (Gauss-Seidel proper) on a graph with a large strongly
    connected component, against the series; fewer links touched than the series."""
    rng = np.random.default_rng(11)
    n, m = 20_000, 60_000
    src, dst = rng.integers(0, n, m), rng.integers(n // 5, n, m)
    ok = src != dst
    src, dst = src[ok], dst[ok]
    raw = rng.random(src.size) + 0.05
    total = rng.uniform(0.3, 1.0, n)
    lo = raw / np.bincount(dst, weights=raw, minlength=n)[dst] * total[dst]
    hi = np.minimum(lo * 1.1, lo / total[dst])
    W = ShareMatrix.from_edges(n, src, dst, lo, hi)
    holders = rng.random(n) < 0.01
    for grain in [(1024, 1024), (4096, 2048)]:
        Wp = planned(W, *grain)
        assert any(g.blocks[1] - g.blocks[0] > 1 for g in Wp._plan.groups)
        x = integrated_from(Wp, holders.astype(np.float64))
        ref_x = reference(W, holders.astype(np.float64), None)
        agree(x, ref_x)
        e = absorbed_exposure(Wp, holders)
        agree(e, reference(W, holders.astype(np.float64), ~holders))
        series = own._neumann(W.lo, np.asarray(W.lo.T @ holders.astype(float)), None, 1e-12, 999)
        assert x.matvecs / 2 < series[2]


def test_small_graphs_sum_the_series_without_a_plan() -> None:
    W = ShareMatrix.from_edges(
        3,
        np.array([0, 1, 2]),
        np.array([1, 2, 1]),
        np.array([0.5, 0.5, 0.5]),
        np.array([0.6, 0.5, 0.5]),
    )
    x = integrated_from(W, np.eye(3)[0])
    assert "_plan" not in W.__dict__
    agree(x, reference(W, np.eye(3)[0], None))
    assert x.iterations == reference(W, np.eye(3)[0], None).iterations
    y = integrated_from(planned(W, 1, 1), np.eye(3)[0])
    agree(y, x)
