"""Worked examples of shared/domain/examples.md for georisk.scoring.ownership."""

from __future__ import annotations

import doctest
from typing import Any

import numpy as np
import pytest

import georisk.scoring.ownership
from georisk.scoring.interval import Interval, Tri
from georisk.scoring.ownership import (
    Bounds,
    ShareMatrix,
    absorbed_exposure,
    as_intervals,
    controllers_of,
    integrated_from,
    threshold_closure,
)


def mat(n: int, edges: list[tuple[int, int, float]]) -> ShareMatrix:
    src, dst, w = zip(*edges, strict=True)
    return ShareMatrix.from_edges(n, np.array(src), np.array(dst), np.array(w))


def ranged(n: int, edges: list[tuple[int, int, float, float]]) -> ShareMatrix:
    src, dst, lo, hi = zip(*edges, strict=True)
    return ShareMatrix.from_edges(n, np.array(src), np.array(dst), np.array(lo), np.array(hi))


def unit(n: int, i: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    e = np.zeros(n)
    e[i] = 1.0
    return e


def members(mask: np.ndarray[Any, Any]) -> set[int]:
    return {int(i) for i in np.flatnonzero(mask)}


def blocked(W: ShareMatrix, seeds: list[int]) -> set[int]:
    cl = threshold_closure(W, np.array(seeds), 0.5, inclusive=True)
    assert members(cl.undetermined) == set()
    return members(cl.certain)


def test_doctests() -> None:
    result = doctest.testmod(georisk.scoring.ownership)
    assert result.attempted > 0
    assert result.failed == 0


# --- OFAC FAQ 401 -----------------------------------------------------------------------------

X, A, B, C = 0, 1, 2, 3


def test_ofac_1_chain() -> None:
    W = mat(3, [(X, A, 0.5), (A, B, 0.5)])
    assert blocked(W, [X]) == {X, A, B}
    x = integrated_from(W, unit(3, X))
    assert x.converged
    assert x.lo[B] == pytest.approx(0.25)
    assert x.hi[B] == pytest.approx(0.25)


def test_ofac_2_aggregation_across_blocked_entities() -> None:
    W = mat(4, [(X, A, 0.5), (X, B, 0.5), (A, C, 0.25), (B, C, 0.25)])
    assert blocked(W, [X]) == {X, A, B, C}
    assert integrated_from(W, unit(4, X)).lo[C] == pytest.approx(0.25)


def test_ofac_3_not_multiplicative() -> None:
    W = mat(3, [(X, A, 0.5), (X, B, 0.1), (A, B, 0.4)])
    assert blocked(W, [X]) == {X, A, B}
    x = integrated_from(W, unit(3, X))
    assert x.lo[B] == pytest.approx(0.30)  # 10% + 50% x 40%: a multiplicative rule misses B
    assert as_intervals(x, B).meets(0.5, inclusive=True) is Tri.FALSE


def test_ofac_4_minority_owner_blocks_nothing() -> None:
    W = mat(4, [(X, A, 0.25), (X, B, 0.25), (A, C, 0.5), (B, C, 0.5)])
    assert blocked(W, [X]) == {X}
    assert integrated_from(W, unit(4, X)).lo[C] == pytest.approx(0.25)


def test_ofac_399_aggregates_across_programs() -> None:
    # two persons blocked under different programs, 25% each of A: A is blocked
    P1, P2, T = 0, 1, 2
    W = mat(3, [(P1, T, 0.25), (P2, T, 0.25)])
    assert blocked(W, [P1]) == {P1}
    assert blocked(W, [P1, P2]) == {P1, P2, T}


# --- Eurostat (2010) --------------------------------------------------------------------------


def test_eurostat_4_ultimate_controller() -> None:
    W = mat(3, [(0, 1, 0.7), (1, 2, 0.6)])
    x = integrated_from(W, unit(3, 0))
    assert x.lo[2] == pytest.approx(0.42)
    cl = threshold_closure(W, np.array([0]), 0.5, inclusive=False)
    assert members(cl.certain) == {0, 1, 2}
    certain, undetermined = controllers_of(W, 2, np.array([0, 1]))
    assert certain.tolist() == [0, 1]
    assert undetermined.tolist() == []


def test_eurostat_5_control_through_two_subsidiaries() -> None:
    A_, B1, B2, C_ = 0, 1, 2, 3
    W = mat(4, [(A_, B1, 1.0), (A_, B2, 0.8), (B1, C_, 0.2), (B2, C_, 0.4)])
    assert integrated_from(W, unit(4, A_)).lo[C_] == pytest.approx(0.52)
    cl = threshold_closure(W, np.array([A_]), 0.5, inclusive=False)
    assert members(cl.certain) == {A_, B1, B2, C_}
    for b in (B1, B2):
        assert C_ not in members(threshold_closure(W, np.array([b]), 0.5, inclusive=False).possible)
    certain, undetermined = controllers_of(W, C_, np.array([A_, B1, B2]))
    assert certain.tolist() == [A_]
    assert undetermined.size == 0


# --- BODS 0.4 ranges --------------------------------------------------------------------------


def test_bods_6_ranges_propagate() -> None:
    # X holds 26%..30% of A, A holds exactly 50% of B
    W = ranged(3, [(0, 1, 0.26, 0.30), (1, 2, 0.5, 0.5)])
    x = integrated_from(W, unit(3, 0))
    assert (x.lo[2], x.hi[2]) == (pytest.approx(0.13), pytest.approx(0.15))
    iv = as_intervals(x, 2)
    assert iv.meets(0.14, inclusive=True) is Tri.UNDETERMINED
    assert iv.meets(0.10, inclusive=True) is Tri.TRUE
    assert iv.meets(0.20, inclusive=True) is Tri.FALSE


def test_bods_6_threshold_undetermined() -> None:
    # X holds 40%..60% of A; A holds 100% of B
    W = ranged(3, [(0, 1, 0.4, 0.6), (1, 2, 1.0, 1.0)])
    cl = threshold_closure(W, np.array([0]), 0.5, inclusive=True)
    assert members(cl.certain) == {0}
    assert members(cl.possible) == {0, 1, 2}
    assert members(cl.undetermined) == {1, 2}
    certain, undetermined = controllers_of(W, 2, np.array([0, 1]))
    assert certain.tolist() == [1]
    assert undetermined.tolist() == [0]


# --- Cross-holdings (cycles) ------------------------------------------------------------------


def test_cross_holdings_7_persons_add_up_to_one() -> None:
    C1, C2, P1, P2 = 0, 1, 2, 3
    W = mat(4, [(C1, C2, 0.5), (C2, C1, 0.5), (P1, C1, 0.5), (P2, C2, 0.5)])
    x1 = integrated_from(W, unit(4, P1))
    x2 = integrated_from(W, unit(4, P2))
    assert x1.converged and x2.converged
    assert x1.lo[C1] == pytest.approx(2 / 3)
    assert x1.lo[C2] == pytest.approx(1 / 3)
    for c in (C1, C2):
        assert x1.lo[c] + x2.lo[c] == pytest.approx(1.0)
        assert x1.hi[c] + x2.hi[c] == pytest.approx(1.0)
    both = integrated_from(W, unit(4, P1) + unit(4, P2))
    np.testing.assert_allclose(both.lo[[C1, C2]], [1.0, 1.0])
    e = absorbed_exposure(W, np.array([False, False, True, True]))
    assert e.converged
    np.testing.assert_allclose(e.lo[[C1, C2]], [1.0, 1.0])
    np.testing.assert_allclose(e.hi[[C1, C2]], [1.0, 1.0])
    e1 = absorbed_exposure(W, np.array([P1]))
    np.testing.assert_allclose(e1.lo[[C1, C2]], [2 / 3, 1 / 3])


def test_cycle_through_seed_counts_again_but_absorbed_does_not() -> None:
    # A holds 90% of C and C holds 90% of A: the Neumann series revisits A (Vitali S1 §3.2)
    W = mat(2, [(0, 1, 0.9), (1, 0, 0.9)])
    x = integrated_from(W, unit(2, 0))
    assert x.converged
    assert x.lo[1] == pytest.approx(0.9 / (1 - 0.81))
    e = absorbed_exposure(W, np.array([True, False]))
    assert e.lo[1] == pytest.approx(0.9)


def test_closed_cycle_does_not_converge() -> None:
    W = mat(2, [(0, 1, 1.0), (1, 0, 1.0)])
    x = integrated_from(W, unit(2, 0), max_iter=500)
    assert not x.converged
    assert x.iterations <= 501
    for v in (x.lo, x.hi):
        assert np.all((v >= 0.0) & (v <= 1.0))
    # the default max_iter also terminates
    assert not integrated_from(W, unit(2, 0)).converged
    cl = threshold_closure(W, np.array([0]), 0.5, inclusive=False)
    assert members(cl.certain) == {0, 1}


# --- FEOC / foreign-influenced entity arithmetic ----------------------------------------------


@pytest.mark.parametrize(("second", "expected"), [(0.15, Tri.FALSE), (0.16, Tri.TRUE)])
def test_fie_8_aggregate_sfe_ownership(second: float, expected: Tri) -> None:
    S1, S2, T = 0, 1, 2
    W = mat(3, [(S1, T, 0.24), (S2, T, second)])
    e = absorbed_exposure(W, np.array([True, True, False]))
    assert as_intervals(e, T).meets(0.40, inclusive=True) is expected
    for sfe in (S1, S2):  # no single SFE reaches 25%
        single = absorbed_exposure(W, np.array([sfe]))
        assert as_intervals(single, T).meets(0.25, inclusive=True) is Tri.FALSE
    cl = threshold_closure(W, np.array([S1, S2]), 0.40, inclusive=True)
    assert (T in members(cl.certain)) is (expected is Tri.TRUE)


def test_fie_8_sfe_owned_by_sfe_not_double_counted() -> None:
    S1, S2, T = 0, 1, 2
    W = mat(3, [(S1, S2, 1.0), (S1, T, 0.24), (S2, T, 0.15)])
    e = absorbed_exposure(W, np.array([S1, S2]))
    assert e.lo[T] == pytest.approx(0.39)
    assert as_intervals(e, T).meets(0.40, inclusive=True) is Tri.FALSE


def test_foreign_controlled_9_more_than_half() -> None:
    CN, US1, US2 = 0, 1, 2
    W = mat(3, [(CN, US1, 0.51), (CN, US2, 0.5)])
    cl = threshold_closure(W, np.array([CN]), 0.5, inclusive=False)
    assert members(cl.certain) == {CN, US1}


# --- Construction and edge cases -------------------------------------------------------------


def test_parallel_edges_summed_and_clipped() -> None:
    W = ranged(2, [(0, 1, 0.3, 0.4), (0, 1, 0.5, 0.7)])
    assert W.n == 2
    assert W.lo[0, 1] == pytest.approx(0.8)
    assert W.hi[0, 1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("src", "dst", "lo", "hi"),
    [
        ([1], [1], [0.5], None),
        ([0], [5], [0.5], None),
        ([-1], [0], [0.5], None),
        ([0], [1], [1.5], None),
        ([0], [1], [-0.1], None),
        ([0], [1], [float("nan")], None),
        ([0], [1], [0.5], [0.4]),
        ([0, 1], [1], [0.5], None),
    ],
)
def test_from_edges_rejects(
    src: list[int], dst: list[int], lo: list[float], hi: list[float] | None
) -> None:
    with pytest.raises(ValueError):
        ShareMatrix.from_edges(
            2, np.array(src), np.array(dst), np.array(lo), None if hi is None else np.array(hi)
        )


def test_empty_graph() -> None:
    W = ShareMatrix.from_edges(3, np.array([], int), np.array([], int), np.array([]))
    x = integrated_from(W, unit(3, 0))
    assert x.converged and not x.lo.any()
    cl = threshold_closure(W, np.array([1]), 0.5, inclusive=True)
    assert members(cl.certain) == {1} and cl.rounds == 0


def test_bad_arguments() -> None:
    W = mat(2, [(0, 1, 0.5)])
    with pytest.raises(ValueError):
        threshold_closure(W, np.array([0]), 0.0, inclusive=True)
    with pytest.raises(ValueError):
        integrated_from(W, np.ones(3))
    with pytest.raises(ValueError):
        absorbed_exposure(W, np.array([True]))
    with pytest.raises(ValueError):
        controllers_of(W, 7, np.array([0]))


def test_controllers_skip_target_and_unrelated() -> None:
    W = mat(4, [(0, 1, 0.6), (2, 3, 0.9)])
    certain, undetermined = controllers_of(W, 1, np.array([1, 2, 3, 0]))
    assert certain.tolist() == [0]
    assert undetermined.tolist() == []


def test_as_intervals() -> None:
    b = Bounds(np.array([0.1, 0.2]), np.array([0.3, 0.2]), True, 1)
    assert as_intervals(b, 0) == Interval(0.1, 0.3)
    assert as_intervals(b, 1).is_exact
