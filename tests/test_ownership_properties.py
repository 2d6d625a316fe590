"""Property tests (hypothesis) for georisk.scoring.ownership on small random share graphs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from georisk.scoring.interval import EPS
from georisk.scoring.ownership import (
    ShareMatrix,
    absorbed_exposure,
    controllers_of,
    integrated_from,
    subject_exposure,
    subject_exposure_bound,
    threshold_closure,
)

SETTINGS = settings(max_examples=50, deadline=None)
UNIT = 0.05  # shares are multiples of 5%: sums land on thresholds exactly (within EPS)
TOL = 1e-9

BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass(frozen=True)
class Graph:
    n: int
    src: list[int]
    dst: list[int]
    lo: list[int]  # in UNITs
    hi: list[int]

    def matrix(self) -> ShareMatrix:
        return ShareMatrix.from_edges(
            self.n,
            np.array(self.src, dtype=np.intp),
            np.array(self.dst, dtype=np.intp),
            np.array(self.lo, dtype=np.float64) * UNIT,
            np.array(self.hi, dtype=np.float64) * UNIT,
        )

    def capacity(self, node: int) -> int:
        """Units of ``node`` not yet held by anyone (upper bounds)."""
        return 20 - sum(h for d, h in zip(self.dst, self.hi, strict=True) if d == node)

    def roots(self) -> list[int]:
        held = set(self.dst)
        return [i for i in range(self.n) if i not in held]

    def plus(self, s: int, d: int, lo: int, hi: int) -> Graph:
        return Graph(self.n, [*self.src, s], [*self.dst, d], [*self.lo, lo], [*self.hi, hi])


@st.composite
def graphs(draw: st.DrawFn, max_n: int = 12, ranged: bool = True) -> Graph:
    """Random graphs in which the (upper bound) shares into each entity sum to at most 1."""
    n = draw(st.integers(2, max_n))
    raw = draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                st.integers(0, n - 1),
                st.integers(0, 20),
                st.integers(0, 6 if ranged else 0),
            ),
            max_size=3 * n,
        )
    )
    g = Graph(n, [], [], [], [])
    for s, d, units, extra in raw:
        if s == d:
            continue
        hi = min(units + extra, g.capacity(d))
        if hi <= 0:
            continue
        g = g.plus(s, d, min(units, hi), hi)
    return g


def masks(n: int) -> st.SearchStrategy[BoolArray]:
    return st.lists(st.booleans(), min_size=n, max_size=n).map(lambda b: np.array(b, dtype=bool))


def unit(n: int, i: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    e = np.zeros(n)
    e[i] = 1.0
    return e


def in_unit_interval(v: np.ndarray[Any, Any]) -> bool:
    return bool(np.all((v >= -TOL) & (v <= 1.0 + TOL)))


def naive_closure(M: Any, seeds: BoolArray, threshold: float, inclusive: bool) -> BoolArray:
    """Reference: recompute every entity's held total from scratch each round."""
    dense = M.toarray()
    inside = seeds.copy()
    while True:
        held = inside.astype(np.float64) @ dense
        meets = held >= threshold - EPS if inclusive else held > threshold + EPS
        grown = inside | meets
        if np.array_equal(grown, inside):
            return inside
        inside = grown


thresholds = st.sampled_from([0.25, 0.4, 0.5, 0.6, 1.0])


# --- bounds -----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data(), g=graphs())
def test_one_bound_of_subject_exposure_is_that_bound(data: st.DataObject, g: Graph) -> None:
    """The FIE aggregate test computes one series per bound it reads, walked up from the
    subject: the figure of the two-sided :func:`subject_exposure` (the downward series, the
    reference) within the accepted 1e-9 (cycles and ranged shares included)."""
    W = g.matrix()
    holders = data.draw(masks(g.n))
    subject = data.draw(st.integers(0, g.n - 1))
    both = subject_exposure(W, holders, subject)
    assert subject_exposure_bound(W, holders, subject, "lo") == pytest.approx(both.lo, abs=1e-9)
    assert subject_exposure_bound(W, holders, subject, "hi") == pytest.approx(both.hi, abs=1e-9)


def test_one_bound_falls_back_to_the_downward_series_on_a_cycle_that_keeps_its_stakes() -> None:
    """X and Y hold all of each other and 50% of T each; H holds all of X. Walked up from T,
    the stakes circle between X and Y for ever without reaching H (shares into X and into Y
    sum to 1): the walk does not end, and the downward series gives the figure (clipped)."""
    import georisk.scoring.ownership as own

    T, X, Y, H = 0, 1, 2, 3
    W = ShareMatrix.from_edges(
        4, np.array([X, Y, H, X, Y]), np.array([T, T, T, Y, X]), np.array([0.45, 0.45, 0.1, 1, 1])
    )
    on = np.array([False, False, False, True])
    assert own._upward_into_holders(W.lo, on, T, 1e-12, 64) is None  # never ends
    assert own._upward_into_holders(W.lo, ~on, T, 1e-12, 64) == pytest.approx(0.9)  # X, Y nearest
    assert subject_exposure_bound(W, np.array([H]), T, "lo") == pytest.approx(0.1, abs=1e-12)
    assert subject_exposure(W, np.array([H]), T).lo == pytest.approx(0.1, abs=1e-12)


@SETTINGS
@given(data=st.data(), g=graphs())
def test_bounds_within_unit_interval(data: st.DataObject, g: Graph) -> None:
    W = g.matrix()
    roots = g.roots()
    chosen = data.draw(st.lists(st.sampled_from(roots), unique=True)) if roots else []
    seed = np.zeros(g.n)
    seed[chosen] = 1.0
    x = integrated_from(W, seed)
    assert x.converged
    assert in_unit_interval(x.lo) and in_unit_interval(x.hi)
    assert np.all(x.lo <= x.hi + TOL)

    holders = data.draw(masks(g.n))
    e = absorbed_exposure(W, holders)
    assert e.converged
    assert in_unit_interval(e.lo) and in_unit_interval(e.hi)
    assert np.all(e.lo <= e.hi + TOL)

    for i in range(g.n):  # any single seed: bounded when not converged, ordered when converged
        y = integrated_from(W, unit(g.n, i))
        if y.converged:
            assert np.all(y.lo <= y.hi + TOL) and np.all(y.lo >= 0.0)
        else:
            assert in_unit_interval(y.lo) and in_unit_interval(y.hi)


# --- monotonicity -----------------------------------------------------------------------------


@SETTINGS
@given(
    data=st.data(),
    g=graphs(),
    threshold=thresholds,
    inclusive=st.booleans(),
)
def test_adding_a_stake_is_monotone(
    data: st.DataObject, g: Graph, threshold: float, inclusive: bool
) -> None:
    s = data.draw(st.integers(0, g.n - 1))
    d = data.draw(st.integers(0, g.n - 1).filter(lambda v: v != s))
    hi = data.draw(st.integers(0, max(g.capacity(d), 0)))
    lo = data.draw(st.integers(0, hi))
    note(f"extra stake {s}->{d} [{lo}, {hi}] units")
    W1, W2 = g.matrix(), g.plus(s, d, lo, hi).matrix()

    for i in range(g.n):
        x1, x2 = integrated_from(W1, unit(g.n, i)), integrated_from(W2, unit(g.n, i))
        if x1.converged and x2.converged:
            assert np.all(x2.lo >= x1.lo - TOL) and np.all(x2.hi >= x1.hi - TOL)

    holders = data.draw(masks(g.n))
    e1, e2 = absorbed_exposure(W1, holders), absorbed_exposure(W2, holders)
    assert np.all(e2.lo >= e1.lo - TOL) and np.all(e2.hi >= e1.hi - TOL)

    seeds = data.draw(masks(g.n))
    c1 = threshold_closure(W1, seeds, threshold, inclusive=inclusive)
    c2 = threshold_closure(W2, seeds, threshold, inclusive=inclusive)
    assert np.all(c2.certain >= c1.certain) and np.all(c2.possible >= c1.possible)
    assert np.all(c1.possible >= c1.certain)


@SETTINGS
@given(data=st.data(), g=graphs(), threshold=thresholds, inclusive=st.booleans())
def test_more_seeds_larger_closure(
    data: st.DataObject, g: Graph, threshold: float, inclusive: bool
) -> None:
    W = g.matrix()
    small = data.draw(masks(g.n))
    large = small | data.draw(masks(g.n))
    c1 = threshold_closure(W, small, threshold, inclusive=inclusive)
    c2 = threshold_closure(W, large, threshold, inclusive=inclusive)
    assert np.all(c2.certain >= c1.certain) and np.all(c2.possible >= c1.possible)


# --- ultimate holders add up to 100% ----------------------------------------------------------


@st.composite
def fully_held(draw: st.DrawFn) -> tuple[int, int, ShareMatrix]:
    """``r`` persons (0..r-1) and ``m`` companies; every company has a person holder and the
    shares into each company sum to exactly 1 (all holders known); companies may hold each
    other in cycles."""
    r = draw(st.integers(1, 4))
    m = draw(st.integers(1, 8))
    src: list[int] = []
    dst: list[int] = []
    w: list[float] = []
    for c in range(r, r + m):
        persons = draw(st.lists(st.integers(0, r - 1), min_size=1, max_size=2, unique=True))
        others = [o for o in range(r, r + m) if o != c]
        companies = (
            draw(st.lists(st.sampled_from(others), max_size=3, unique=True)) if others else []
        )
        holders = persons + companies
        units = [draw(st.integers(1, 10)) for _ in holders]
        total = sum(units)
        for h, u in zip(holders, units, strict=True):
            src.append(h)
            dst.append(c)
            w.append(u / total)
    W = ShareMatrix.from_edges(r + m, np.array(src), np.array(dst), np.array(w))
    return r, m, W


@SETTINGS
@given(case=fully_held())
def test_ultimate_holders_add_up_to_one(case: tuple[int, int, ShareMatrix]) -> None:
    r, m, W = case
    n = r + m
    total = np.zeros(n)
    for p in range(r):
        x = integrated_from(W, unit(n, p))
        assert x.converged
        total += x.lo
    np.testing.assert_allclose(total[r:], 1.0, atol=1e-8)
    persons = np.arange(n) < r
    together = integrated_from(W, persons.astype(np.float64))
    assert together.converged
    np.testing.assert_allclose(together.lo[r:], 1.0, atol=1e-8)
    e = absorbed_exposure(W, persons)
    assert e.converged
    np.testing.assert_allclose(e.lo[r:], 1.0, atol=1e-8)
    np.testing.assert_allclose(e.hi[r:], 1.0, atol=1e-8)


# --- threshold closure ------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), g=graphs(), threshold=thresholds, inclusive=st.booleans())
def test_closure_matches_naive_and_is_a_fixed_point(
    data: st.DataObject, g: Graph, threshold: float, inclusive: bool
) -> None:
    W = g.matrix()
    seeds = data.draw(masks(g.n))
    cl = threshold_closure(W, seeds, threshold, inclusive=inclusive)
    np.testing.assert_array_equal(cl.certain, naive_closure(W.lo, seeds, threshold, inclusive))
    np.testing.assert_array_equal(cl.possible, naive_closure(W.hi, seeds, threshold, inclusive))
    assert np.all(cl.certain >= seeds)
    again_c = threshold_closure(W, cl.certain, threshold, inclusive=inclusive)
    again_p = threshold_closure(W, cl.possible, threshold, inclusive=inclusive)
    np.testing.assert_array_equal(again_c.certain, cl.certain)
    np.testing.assert_array_equal(again_p.possible, cl.possible)
    assert np.all(again_p.certain <= cl.possible)


@SETTINGS
@given(data=st.data(), g=graphs(), threshold=thresholds, inclusive=st.booleans())
def test_controllers_match_single_seed_closures(
    data: st.DataObject, g: Graph, threshold: float, inclusive: bool
) -> None:
    W = g.matrix()
    target = data.draw(st.integers(0, g.n - 1))
    candidates = np.arange(g.n)
    certain, undetermined = controllers_of(
        W, target, candidates, threshold=threshold, inclusive=inclusive
    )
    want_c, want_u = [], []
    for c in range(g.n):
        if c == target:
            continue
        cl = threshold_closure(W, np.array([c]), threshold, inclusive=inclusive)
        if cl.certain[target]:
            want_c.append(c)
        elif cl.possible[target]:
            want_u.append(c)
    assert certain.tolist() == want_c
    assert undetermined.tolist() == want_u


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 400), seed=st.integers(0, 2**31), density=st.floats(0.001, 0.05))
def test_series_rowwise_product_is_the_same_sum_bit_for_bit(
    n: int, seed: int, density: float
) -> None:
    """A long plain series multiplies by an explicit CSR transpose (faster on a large cycle):
    the same sums in the same order, so the same bits as the transposed view's products."""
    import scipy.sparse as sp

    import georisk.scoring.ownership as own

    rng = np.random.default_rng(seed)
    dense = rng.random((n, n)) * (rng.random((n, n)) < density)
    np.fill_diagonal(dense, 0.0)
    cols = dense.sum(axis=0)
    m = sp.csr_array(dense * (0.95 / np.maximum(cols, 0.95)))  # shares into each ≤ 95%
    first = np.asarray(m.T @ rng.random(n))
    keep = rng.random(n) < 0.9
    fast = own._neumann(m, first, keep, 1e-12, 10_000)
    saved = own._ROWWISE_AFTER
    try:
        own._ROWWISE_AFTER = 10**9  # the transposed view throughout
        plain = own._neumann(m, first, keep, 1e-12, 10_000)
    finally:
        own._ROWWISE_AFTER = saved
    assert np.array_equal(fast[0], plain[0]) and fast[1:] == plain[1:]


@SETTINGS
@given(data=st.data(), g=graphs(), h=graphs())
def test_closed_cycles_memo_reuses_only_the_same_links(
    data: st.DataObject, g: Graph, h: Graph
) -> None:
    """The lower and upper bound series of one solve share their strongly connected
    components when their links are the same; other links are computed afresh."""
    import georisk.scoring.ownership as own

    for a, b in ((g.matrix().lo, g.matrix().hi), (g.matrix().hi, h.matrix().hi)):
        if a.shape != b.shape:
            continue
        keep = data.draw(masks(a.shape[0]))
        memo: list[Any] = []
        for m in (a, b):
            assert np.array_equal(own._closed_cycles(m, keep, memo), own._closed_cycles(m, keep))
