"""Whole-graph ownership and control arithmetic on sparse share matrices.

NetworkX stays the model of record; this module works on integer-indexed edge arrays so that the
same questions can be answered for a million entities. Two different computations are offered and
must not be mixed (see ``shared/domain/examples.md``):

* **Integrated ownership** (multiplicative): multiply shares along each chain, add across chains,
  ``x = s W + s W^2 + ...`` (:func:`integrated_from`), and its "last holder" variant that counts
  each chain once (:func:`absorbed_exposure`).
* **Threshold aggregation** (a fixed point on a set): the OFAC 50 Percent Rule, the BIS Affiliates
  Rule and majority-chain control (:func:`threshold_closure`, :func:`controllers_of`). It is *not*
  multiplicative: in OFAC FAQ 401 example 3 the blocked person's integrated stake in B is only 30%,
  yet B is blocked.

Conventions
-----------
``W[i, j]`` is the share of entity ``j`` held by entity ``i`` (rows hold, columns are held), as a
pair of CSR matrices of lower and upper bounds (BODS 0.4 ranged shares). Exact shares have
``lo == hi``. Open range ends (``exclusiveMinimum``/``exclusiveMaximum``) are treated as closed.
Everything is computed once with the ``lo`` shares and once with the ``hi`` shares; since all
quantities are monotone in the shares, the two results bound every value inside the ranges
(when ``lo == hi`` on every link, the ``hi`` run is skipped: it would give the same numbers).

Solving the series
------------------
The multiplicative quantities are defined by a Neumann series ``x = b + A b + A^2 b + ...``
(``A = W^T``, possibly with the holders' columns removed), i.e. the least non-negative solution of
``x = b + A x``. It is not summed term by term (one mat-vec per term, ~40 terms to reach
``1e-12`` on a random million-entity graph) but solved by block Gauss-Seidel in a topological
order of the graph's condensation (a plan built once per :class:`ShareMatrix` and cached):

1. strongly connected components (Tarjan 1972; scipy uses Pearce's variant), then levels of the
   condensation by Kahn's algorithm (1962): a component's level is the longest chain of
   components above it, so a level's entities are held only from earlier levels or from
   their own component;
2. entities in order of (level, acyclic first, component), cut into groups: an acyclic level
   is exact in one pass; a cyclic level (small levels merged) is iterated, its blocks swept in
   order, each using the values just computed by the earlier ones, until the largest increment
   of a sweep is ``<= tol`` — the stopping rule of the series, on the group;
3. holders in earlier groups are final when a group starts: they are added once, so sweeps
   touch only the links inside the group.

Exactness: the limit is the same ``x``. For ``A >= 0``, Gauss-Seidel converges if and only if
the series (Jacobi) does, and at least as fast (Stein-Rosenberg theorem; R. S. Varga, *Matrix
Iterative Analysis*, 2nd ed., Springer 2000, ch. 3); started from ``b`` (a sub-solution) its
iterates increase monotonically towards ``x`` from below, like the partial sums, and each is at
least the partial sum with as many terms. So the convergence flag, the closed-cycle detection
and the clipping of unconverged results keep their meaning. The ``hi`` run starts from the
``lo`` result, also a sub-solution. Graphs under ``_MIN_GROUP_ROWS`` entities, whose plan
would be one block (sweeps that *are* the series: same partial sums, same count), just sum the
series without building a plan.

Example (OFAC FAQ 401, example 3: X owns 50% of A and 10% of B; A owns 40% of B):

>>> import numpy as np
>>> X, A, B = 0, 1, 2
>>> W = ShareMatrix.from_edges(3, np.array([X, X, A]), np.array([A, B, B]),
...                            np.array([0.5, 0.1, 0.4]))
>>> threshold_closure(W, np.array([X]), 0.5, inclusive=True).certain.tolist()
[True, True, True]
>>> round(float(integrated_from(W, np.array([1.0, 0.0, 0.0])).lo[B]), 12)
0.3

Performance
-----------
Measured (not a test) on 2 cores shared with other work, numpy 2.4 / scipy 1.17, with a random
graph of 1,000,000 entities and 3,000,000 links: uniform endpoints, 20% of entities unheld
persons, the shares into each company scaled to sum to a random total in [0.3, 1] (``lo``) and
10% more, capped at 1 (``hi``). Its condensation has a giant component of 707,000 entities
holding each other through 2.1M of the links; ratios are to one mat-vec over the same matrix
(``bench/analytics_bench.py``):

* ``ShareMatrix.from_edges``: 0.26 s.
* ``integrated_from`` (1,000 seeds) and ``absorbed_exposure`` (1,000 holders), both bounds:
  17.6 mat-vecs of work per bound (25 sweeps of the giant component, 16 blocks) against 40 for
  the series; 37-54x one mat-vec (medians 47x and 44x over three runs on the loaded machine)
  where the series took 94-163x in the same runs. The plan costs 1.5-3.7 s (~60-110 mat-vecs)
  on first use; it is kept on the matrix.
* ``threshold_closure`` (0.5 inclusive) from 1,000 seeds: 0.002 s (3 rounds, 1,127 entities);
  from 100,000 seeds: 0.17 s at 0.5 (8 rounds) and 0.73 s at 0.25 (66 rounds, 524,424
  entities), since the frontier only scatters rows of newly added entities.
* ``controllers_of`` with 100 candidates: 2.2 s, dominated by the upstream search; on this random
  graph the target's upstream is most of the graph. Real targets have small upstreams.

No factorization (``spsolve``) is used: work is links times sweeps, one pass where there is no
cycle. The plan keeps a permuted copy of each bound (~12 bytes a link).

References
----------
* S. Vitali, J. B. Glattfelder, S. Battiston, "The network of global corporate control",
  PLoS ONE 6(10): e25995 (2011), Appendix S1 §3 (integrated ownership, cycles).
* Eurostat, *Business Registers Recommendations Manual* (2010), ch. 19-20 (global decision
  centre, chains of majority control).
* OFAC FAQ 401 (50 Percent Rule), FAQ 398 (ownership, not control), FAQ 399 (aggregation across
  programs).
* BIS, "Expansion of End-User Controls to Cover Affiliates of Certain Listed Entities"
  (Affiliates Rule), 90 FR (2025): 50% ownership rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from georisk.scoring.interval import EPS, Interval

__all__ = [
    "Bounds",
    "Closure",
    "ShareMatrix",
    "absorbed_exposure",
    "absorbing",
    "as_intervals",
    "controllers_of",
    "first_passage_into",
    "gather_rows",
    "integrated_from",
    "on_cycle",
    "same_array",
    "shared_structure",
    "subject_exposure",
    "subject_exposure_bound",
    "threshold_closure",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.intp]
CSR = sp.csr_array[Any, tuple[int, int]]


def _csr(
    n: int, src: IndexArray, dst: IndexArray, data: FloatArray
) -> sp.csr_array[Any, tuple[int, int]]:
    m = sp.coo_array((data, (src, dst)), shape=(n, n)).tocsr()
    m.sum_duplicates()
    np.clip(m.data, 0.0, 1.0, out=m.data)
    return sp.csr_array(m)


def same_array(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    """Whether ``a`` and ``b`` are the same array (one may be a whole view of the other): the
    same data pointer, shape and dtype; O(1), unlike a comparison of the values."""
    return a is b or (
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


def shared_structure(lo: Any, hi: Any) -> tuple[Any, Any]:
    """``(lo, hi)``, two compressed sparse matrices, with ``hi`` rebuilt on ``lo``'s index
    arrays when both have the same structure (the two bounds of one set of links do), so that
    a patch splices the structure once (:meth:`.graph.ArrangementGraph.derive`) and a
    same-pattern test is free. Such arrays are shared: never modify them in place.

    >>> import scipy.sparse as sp
    >>> lo, hi = shared_structure(sp.csr_array(np.eye(2)), sp.csr_array(2 * np.eye(2)))
    >>> same_array(lo.indices, hi.indices), float(hi[1, 1])
    (True, 2.0)
    """
    if same_array(lo.indices, hi.indices) or not (
        lo.shape == hi.shape
        and lo.nnz == hi.nnz
        and np.array_equal(lo.indptr, hi.indptr)
        and np.array_equal(lo.indices, hi.indices)
    ):
        return lo, hi
    return lo, type(hi)((hi.data, lo.indices, lo.indptr), shape=hi.shape)


@dataclass(frozen=True)
class ShareMatrix:
    """``W[i, j]`` = share of entity ``j`` held by entity ``i``, as lower and upper bound CSR
    matrices (``n x n``).

    >>> W = ShareMatrix.from_edges(3, np.array([0, 0]), np.array([1, 1]), np.array([0.3, 0.2]))
    >>> W.n, float(W.lo[0, 1])
    (3, 0.5)
    """

    lo: CSR
    hi: CSR

    @property
    def n(self) -> int:
        """Number of entities."""
        return int(self.lo.shape[0])

    @cached_property
    def one_pattern(self) -> bool:
        """Whether ``lo`` and ``hi`` have their entries in the same places (then a selection of
        entries serves both), checked once (the matrices must not be modified afterwards).

        >>> ShareMatrix.from_edges(2, np.array([0]), np.array([1]), np.array([0.2]),
        ...                        hi=np.array([0.3])).one_pattern
        True
        """
        lo, hi = self.lo, self.hi
        return bool(
            lo.nnz == hi.nnz
            and np.array_equal(lo.indptr, hi.indptr)
            and np.array_equal(lo.indices, hi.indices)
        )

    @cached_property
    def transposed(self) -> ShareMatrix:
        """The transpose (``[j, i]``: the share of ``j`` held by ``i``) as CSR with sorted
        indices (32-bit when they fit), built on first use and kept, with its own solve plan
        once solved on: the integrated shares *into* entities of a kept matrix
        (:func:`first_passage_into` with a ``core``) are solved on it."""
        return ShareMatrix(_rowwise(self.lo.T), _rowwise(self.hi.T))

    @cached_property
    def _plan(self) -> _Plan:
        """Solve plan of :func:`integrated_from` and :func:`absorbed_exposure`, built on first use
        and kept (the matrices must not be modified afterwards)."""
        return _make_plan(self.lo, self.hi, _MIN_GROUP_ROWS, _BLOCK_ROWS)

    @classmethod
    def from_edges(
        cls,
        n: int,
        src: np.ndarray[Any, Any],
        dst: np.ndarray[Any, Any],
        lo: np.ndarray[Any, Any],
        hi: np.ndarray[Any, Any] | None = None,
    ) -> ShareMatrix:
        """Build from edge arrays: ``src`` holds ``lo``..``hi`` of ``dst`` (fractions in [0, 1]).

        Parallel edges between the same pair are summed (a holder with two share classes); sums
        clipped to 1. Self-loops rejected with ValueError, as are out-of-range indices, shares
        outside [0, 1] and ``hi < lo``.

        >>> W = ShareMatrix.from_edges(2, np.array([0, 0]), np.array([1, 1]),
        ...                            np.array([0.7, 0.6]))
        >>> float(W.hi[0, 1])
        1.0
        >>> ShareMatrix.from_edges(2, np.array([1]), np.array([1]), np.array([0.5]))
        Traceback (most recent call last):
        ...
        ValueError: self-loop on entity 1
        """
        s = np.asarray(src, dtype=np.intp)
        d = np.asarray(dst, dtype=np.intp)
        w_lo = np.asarray(lo, dtype=np.float64)
        w_hi = w_lo if hi is None else np.asarray(hi, dtype=np.float64)
        if not (s.shape == d.shape == w_lo.shape == w_hi.shape) or s.ndim != 1:
            raise ValueError("src, dst, lo and hi must be 1-D arrays of the same length")
        if n < 0:
            raise ValueError("n must be non-negative")
        if s.size and (min(s.min(), d.min()) < 0 or max(s.max(), d.max()) >= n):
            raise ValueError(f"entity index out of range [0, {n})")
        loops = np.flatnonzero(s == d)
        if loops.size:
            raise ValueError(f"self-loop on entity {int(s[loops[0]])}")
        for name, w in (("lo", w_lo), ("hi", w_hi)):
            if not np.all(np.isfinite(w)) or np.any(w < 0.0) or np.any(w > 1.0 + EPS):
                raise ValueError(f"{name} shares must be finite fractions in [0, 1]")
        if np.any(w_hi < w_lo - EPS):
            raise ValueError("hi share below lo share")
        return cls(*shared_structure(_csr(n, s, d, w_lo), _csr(n, s, d, np.maximum(w_hi, w_lo))))


@dataclass(frozen=True)
class Bounds:
    """Lower and upper bounds of a per-entity quantity (float64 arrays of length ``n``)."""

    lo: FloatArray
    hi: FloatArray
    converged: bool
    #: Passes: 1 (the first term) + the sweeps of the slowest group of the plan (1 for a graph
    #: without cycles, where every level is one exact pass). With a one-block plan (small
    #: graphs) this is the number of mat-vecs of the Neumann series, as in earlier versions.
    iterations: int
    #: Work done, in mat-vecs of the whole matrix (links touched / links, both bounds added).
    matvecs: float = field(default=float("nan"), compare=False)


def _as_mask(n: int, x: np.ndarray[Any, Any], what: str) -> BoolArray:
    """Boolean mask of length ``n`` from a mask or an array of indices."""
    a = np.asarray(x)
    if a.dtype == np.bool_:
        if a.shape != (n,):
            raise ValueError(f"{what} mask must have length {n}")
        return a.copy()
    mask = np.zeros(n, dtype=np.bool_)
    mask[np.asarray(a, dtype=np.intp)] = True
    return mask


#: Mat-vecs after which a series that has not converged is checked for a closed cycle.
_CHECK_AFTER = 64


def _closed_cycles(M: CSR, keep: BoolArray | None, memo: list[Any] | None = None) -> BoolArray:
    """Entities on a closed cycle of ``diag(keep) M``: a strongly connected component of two or
    more entities whose shares are held entirely inside the component (spectral radius 1 when
    shares into each entity sum to at most 1; Perron-Frobenius). The Neumann series diverges
    exactly when positive mass reaches such a component."""
    n = M.shape[0]
    coo = M.tocoo()
    live = coo.data > 0.0
    if keep is not None:
        live &= keep[coo.row]
    row, col, val = coo.row[live], coo.col[live], coo.data[live]
    # the components depend on the links only: ``memo`` keeps the last ones (the lower and upper
    # bound series of one solve usually have the same links)
    got = memo[0] if memo else None
    if got is not None and np.array_equal(got[0], row) and np.array_equal(got[1], col):
        ncomp, label = got[2], got[3]
    else:
        graph = sp.csr_array((val, (row, col)), shape=(n, n))
        ncomp, label = connected_components(graph, directed=True, connection="strong")
        if memo is not None:
            memo[:] = [(row, col, ncomp, label)]
    inside = label[row] == label[col]
    held_inside = np.bincount(col[inside], weights=val[inside], minlength=n)
    short = np.bincount(label, weights=(held_inside < 1.0 - EPS), minlength=ncomp)
    size = np.bincount(label, minlength=ncomp)
    closed = (size >= 2) & (short == 0)
    return np.asarray(closed[label], dtype=np.bool_)


#: :func:`_neumann` multiplies by an explicit CSR transpose from this mat-vec on (converting
#: costs about three mat-vecs; most series on small graphs end before it)
_ROWWISE_AFTER = 4


def _rowwise(MT: Any) -> CSR:
    """``MT`` (a CSC view) as CSR with sorted indices (32-bit when they fit: less to read)."""
    out: CSR = sp.csr_array(MT)
    out.sort_indices()
    if out.indices.dtype != np.int32 and max(out.shape[0], out.nnz) < 2**31 - 1:
        out = sp.csr_array(
            (out.data, out.indices.astype(np.int32), out.indptr.astype(np.int32)),
            shape=out.shape,
        )
    return out


def _neumann(
    M: CSR,
    first: FloatArray,
    keep: BoolArray | None,
    tol: float,
    max_iter: int,
    rows: CSR | None = None,
    memo: list[Any] | None = None,
) -> tuple[FloatArray, bool, int]:
    """Sum ``d_0 + d_1 + ...`` with ``d_0 = first`` and ``d_{k+1} = (d_k * keep) M``.

    The plain series: the reference :func:`_solve` is tested and benchmarked against.

    Returns (sum, converged, number of mat-vecs including the one giving ``first``). Stops when
    ``max(d_k) <= tol`` (all terms are non-negative), after ``max_iter`` further mat-vecs, when
    the mass has reached a closed cycle (checked once, after ``_CHECK_AFTER`` mat-vecs), or if
    values blow up (shares into an entity summing to more than 1). Unconverged sums are
    returned as they are; the caller clips.

    ``rows``: ``M.T`` as CSR with sorted indices, when the caller has it (used from the start);
    ``memo``: shared by the series of one solve (:func:`_closed_cycles`).
    """
    x = first.copy()
    d = first
    MT: Any = M.T if rows is None else rows  # CSC view: M.T @ v computes v M without a copy
    k = 0
    for k in range(1, max_iter + 1):
        if k == _ROWWISE_AFTER and rows is None:
            # a long series: M.T as CSR (sorted), once. Its row-wise product reads each output
            # once (~35% faster than the CSC view's scatter on a large cycle) and adds the
            # same terms in the same order (by column, from zero): the same sums, bit for bit
            MT = _rowwise(M.T)
        if keep is not None:
            d = d * keep
        d = np.asarray(MT @ d, dtype=np.float64)
        x += d
        peak = float(d.max(initial=0.0))
        if peak <= tol:
            return x, True, k + 1
        if not np.isfinite(peak) or peak > 1e12:
            break
        if k == _CHECK_AFTER and np.any(_closed_cycles(M, keep, memo) & (d > 0.0)):
            break
    return x, False, k + 1


#: Plan granularity (see :func:`_make_plan`): consecutive levels are merged into one iterated
#: group until it has this many entities, and an iterated group is split into Gauss-Seidel
#: blocks of about this many entities (at most :data:`_MAX_BLOCKS`).
_MIN_GROUP_ROWS = 4096
_BLOCK_ROWS = 16384
_MAX_BLOCKS = 16


@dataclass(frozen=True)
class _Group:
    """Consecutive entities ``start:stop`` of the plan order, as blocks ``blocks[0]:blocks[1]``
    of :attr:`_Plan.bounds`. ``once``: one pass is exact (no link between its entities)."""

    start: int
    stop: int
    blocks: tuple[int, int]
    once: bool


@dataclass(frozen=True)
class _Mats:
    """One bound of ``P W^T P^T`` (rows: held entity, columns: holders) cut along the plan:
    ``ext[i]``: rows of group ``i``, columns before it (holders in earlier groups);
    ``inner[k]``: rows of block ``k`` of an iterated group, columns inside that group
    (numbered from the group start)."""

    ext: tuple[CSR, ...]
    inner: dict[int, CSR]


@dataclass(frozen=True)
class _Plan:
    """Entities in topological order of the condensation (strongly connected components, in
    levels), cut into groups and Gauss-Seidel blocks, with both bounds of ``W^T`` permuted to
    that order and cut accordingly."""

    perm: IndexArray  # plan position -> entity
    bounds: tuple[int, ...]  # block k is positions bounds[k]:bounds[k + 1]
    groups: tuple[_Group, ...]
    lo: _Mats
    hi: _Mats | None  # None when W.hi == W.lo
    nnz: int


def _levels(
    n: int, row: IndexArray, col: IndexArray, graph: CSR | None = None
) -> tuple[IndexArray, IndexArray, BoolArray]:
    """(level, component label, on a cycle) of each entity for the links ``row -> col``
    (``graph``: the same links as a CSR matrix, if at hand).

    Strongly connected components (scipy, Pearce's algorithm), then Kahn's algorithm on the
    condensation, one frontier per round: the level of a component is the length of the
    longest chain of components above it, so no link joins two components of one level.
    """
    if graph is None:
        graph = sp.csr_array((np.ones(row.size), (row, col)), shape=(n, n))
    ncomp, raw = connected_components(graph, directed=True, connection="strong")
    label: IndexArray = np.asarray(raw, dtype=np.intp)
    size = np.bincount(label, minlength=ncomp)
    cross = label[row] != label[col]
    cond = sp.csr_array(
        (np.ones(int(cross.sum())), (label[row[cross]], label[col[cross]])), shape=(ncomp, ncomp)
    )
    remaining = np.bincount(cond.indices, minlength=ncomp)
    level = np.full(ncomp, -1, dtype=np.intp)
    frontier = np.flatnonzero(remaining == 0)
    depth = 0
    while frontier.size:
        level[frontier] = depth
        down = cond.indices[gather_rows(cond.indptr, frontier)].astype(np.intp)
        np.subtract.at(remaining, down, 1)
        cand = np.unique(down)
        frontier = cand[remaining[cand] == 0]
        depth += 1
    if np.any(level < 0):  # pragma: no cover - the condensation of a digraph is acyclic
        raise AssertionError("condensation is not acyclic")
    return level[label], label, size[label] >= 2


def _make_plan(lo: CSR, hi: CSR, min_rows: int, block_rows: int) -> _Plan:
    """Order the entities by (level, acyclic first, component) and cut the order into groups:

    * a level without cycles and with at least ``min_rows`` entities is a ``once`` group: its
      entities are held only from earlier levels, so one pass in order is exact;
    * smaller consecutive levels are merged, and cyclic parts of a level taken as they are, into
      iterated groups, split into Gauss-Seidel blocks of about ``block_rows`` entities.

    Links with a zero share in both bounds are ignored.

    A person (0) holds 60% of A (1), A and B (2) hold 40% of each other, B holds 70% of C (3):

    >>> W = ShareMatrix.from_edges(4, np.array([0, 1, 2, 2]), np.array([1, 2, 1, 3]),
    ...                            np.array([0.6, 0.4, 0.4, 0.7]))
    >>> plan = _make_plan(W.lo, W.hi, 1, 1)
    >>> plan.perm.tolist(), [(g.start, g.stop, g.once) for g in plan.groups]
    ([0, 1, 2, 3], [(0, 1, True), (1, 3, False), (3, 4, True)])
    >>> x = integrated_from(W, np.array([1.0, 0, 0, 0]))
    >>> [round(float(v), 12) for v in x.lo], x.converged
    ([0.0, 0.714285714286, 0.285714285714, 0.2], True)
    """
    n = int(lo.shape[0])
    lo_c, hi_c = sp.coo_array(lo), sp.coo_array(hi)
    same_pattern = (
        lo.nnz == hi.nnz
        and np.array_equal(lo.indptr, hi.indptr)
        and np.array_equal(lo.indices, hi.indices)
    )
    graph = None
    if same_pattern:
        pat = (lo_c.data != 0.0) | (hi_c.data != 0.0)
        row, col = lo_c.row[pat], lo_c.col[pat]
        if pat.all():
            graph = sp.csr_array((np.ones(lo.nnz), lo.indices, lo.indptr), shape=(n, n))
    else:
        union = sp.coo_array(abs(lo) + abs(hi))
        union.eliminate_zeros()
        row, col = union.row, union.col
    row, col = row.astype(np.intp), col.astype(np.intp)
    level, label, cyclic = _levels(n, row, col, graph)
    perm = np.lexsort((np.arange(n), label, cyclic, level)).astype(np.intp)
    lv, cy = level[perm], cyclic[perm]
    # runs of equal (level, cyclic) in plan order
    cut = np.flatnonzero((np.diff(lv) != 0) | (np.diff(cy) != 0)) + 1
    starts = np.concatenate(([0], cut)).astype(np.intp)
    stops = np.concatenate((cut, [n])).astype(np.intp)

    spans: list[tuple[int, int, bool]] = []  # (start, stop, once)
    pending = -1  # start of the iterated group being merged
    for a, e in zip(starts.tolist(), stops.tolist(), strict=True):
        if not cy[a] and e - a >= min_rows:
            if pending >= 0:
                spans.append((pending, a, False))
                pending = -1
            spans.append((a, e, True))
        elif cy[a] and e - a >= min_rows:
            if pending >= 0:
                spans.append((pending, a, False))
                pending = -1
            spans.append((a, e, False))
        else:
            pending = a if pending < 0 else pending
            if e - pending >= min_rows:
                spans.append((pending, e, False))
                pending = -1
    if pending >= 0:
        spans.append((pending, n, False))

    bounds: list[int] = [0]
    groups: list[_Group] = []
    for a, e, once in spans:
        k = len(bounds) - 1
        nb = 1 if once else int(min(_MAX_BLOCKS, max(1, (e - a) // max(block_rows, 1))))
        bounds.extend(np.linspace(a, e, nb + 1).astype(np.intp)[1:].tolist())
        groups.append(_Group(a, e, (k, k + nb), once))

    inv = np.empty(n, dtype=np.intp)
    inv[perm] = np.arange(n, dtype=np.intp)

    # One layout for both bounds when they share their links (canonical CSR: no duplicates):
    # the permuted matrix is built once with link positions as data, then filled per bound.
    shared = same_pattern and lo.has_canonical_format and hi.has_canonical_format
    Piece = tuple[int, int, npt.NDArray[np.bool_], npt.NDArray[np.int32], npt.NDArray[np.int32]]

    def piece(m: CSR, a: int, e: int, c0: int, c1: int) -> Piece:
        """Rows ``a:e`` and columns ``c0:c1`` of ``m`` (columns renumbered from ``c0``)."""
        p, q = int(m.indptr[a]), int(m.indptr[e])
        idx = m.indices[p:q]
        sel = (idx >= c0) & (idx < c1)
        row = np.repeat(np.arange(e - a), np.diff(m.indptr[a : e + 1]))
        counts = np.bincount(row[sel], minlength=e - a)
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
        return p, q, sel, (idx[sel] - c0).astype(np.int32), indptr

    def layout(c: sp.coo_array, data: FloatArray) -> tuple[FloatArray, list[Piece]]:
        m = sp.csr_array((data, (inv[c.col], inv[c.row])), shape=(n, n))
        m.sum_duplicates()
        pieces = []
        for g in groups:
            pieces.append(piece(m, g.start, g.stop, 0, g.start))
            if not g.once:
                for k in range(*g.blocks):
                    pieces.append(piece(m, bounds[k], bounds[k + 1], g.start, g.stop))
        return np.asarray(m.data, dtype=np.float64), pieces

    def fill(data: FloatArray, pieces: list[Piece]) -> _Mats:
        ext: list[CSR] = []
        inner: dict[int, CSR] = {}
        it = iter(pieces)
        for g in groups:
            for k in [-1, *(range(*g.blocks) if not g.once else ())]:
                p, q, sel, idx, indptr = next(it)
                w = g.start if k < 0 else g.stop - g.start
                mat = sp.csr_array((data[p:q][sel], idx, indptr), shape=(indptr.size - 1, w))
                if k < 0:
                    ext.append(mat)
                else:
                    inner[k] = mat
        return _Mats(tuple(ext), inner)

    same = same_pattern and np.array_equal(lo.data, hi.data)
    if shared:
        pos, pieces = layout(lo_c, np.arange(lo.nnz, dtype=np.float64))
        order = pos.astype(np.intp)
        lo_m = fill(lo_c.data[order], pieces)
        hi_m = None if same else fill(hi_c.data[order], pieces)
    else:
        lo_m = fill(*layout(lo_c, lo_c.data))
        hi_m = None if same else fill(*layout(hi_c, hi_c.data))
    return _Plan(perm, tuple(bounds), tuple(groups), lo_m, hi_m, int(lo.nnz))


def _solve(
    plan: _Plan,
    mats: _Mats,
    first: FloatArray,
    keep: FloatArray | None,
    tol: float,
    max_iter: int,
    start: FloatArray | None = None,
) -> tuple[FloatArray, bool, int, int]:
    """Solve ``x = first + A z`` with ``z = keep * x`` (``A`` = permuted ``W^T`` in ``mats``,
    all vectors in plan order), group by group in plan order.

    A group's holders outside it are in earlier groups, already final: their contribution is
    added to ``first`` once. ``once`` groups are then exact. Iterated groups start from that
    (or from the sub-solution ``start`` where larger) and are swept block by block (block
    Gauss-Seidel: each block uses the values just computed by the earlier ones) until the
    largest increment of a sweep is ``<= tol``; a group that does not converge within
    ``max_iter`` sweeps, blows up, or whose mass reached a closed cycle (checked once, after
    ``_CHECK_AFTER`` sweeps) is left as it is and the result is marked unconverged.

    Returns (x, converged, 1 + sweeps of the slowest group, links touched).
    """
    n = first.size
    x = np.zeros(n)
    z = x if keep is None else np.zeros(n)
    nz = np.flatnonzero(first)
    lead = int(nz[0]) if nz.size else n
    converged, most, links = True, 0, 0
    bounds = plan.bounds
    for i, g in enumerate(plan.groups):
        if g.stop <= lead:
            continue  # no term reaches entities before the first non-zero of ``first``
        a0, e0 = g.start, g.stop
        ext = mats.ext[i]
        rhs = first[a0:e0] + ext @ z[:a0] if ext.nnz else first[a0:e0].copy()
        links += ext.nnz
        xg = x[a0:e0]
        zg = z[a0:e0]
        kg = None if keep is None else keep[a0:e0]
        xg[:] = rhs if start is None else np.maximum(rhs, start[a0:e0])
        if kg is not None:
            zg[:] = xg * kg
        if g.once:
            most = max(most, 1)
            continue
        sweeps, ok = 0, False
        inc = np.zeros(e0 - a0)
        blocks = [(bounds[k] - a0, bounds[k + 1] - a0, mats.inner[k]) for k in range(*g.blocks)]
        while sweeps < max_iter:
            sweeps += 1
            for a, e, m in blocks:
                new = np.asarray(m @ zg, dtype=np.float64)
                new += rhs[a:e]
                np.subtract(new, xg[a:e], out=inc[a:e])
                xg[a:e] = new
                if kg is not None:
                    np.multiply(new, kg[a:e], out=zg[a:e])
                links += m.nnz
            peak = float(inc.max(initial=0.0))
            if peak <= tol:
                ok = True
                break
            if not np.isfinite(peak) or peak > 1e12:
                break
            if sweeps == _CHECK_AFTER:
                inner = sp.vstack([m for _, _, m in blocks], format="csr")
                closed = _closed_cycles(sp.csr_array(inner.T), None if kg is None else kg > 0)
                if np.any(closed & (inc > 0.0)):
                    break
        converged &= ok
        most = max(most, sweeps)
    return x, converged, most + 1, links


def _run(
    W: ShareMatrix,
    vec: FloatArray,
    keep: BoolArray | None,
    tol: float,
    max_iter: int,
    vec_hi: FloatArray | None = None,
) -> Bounds:
    """Both bounds of ``x = vec W + (keep * x) W`` via :func:`_solve`. The ``hi`` run starts from
    the converged ``lo`` result (a sub-solution, since shares only grow) and is skipped when
    ``W.hi == W.lo`` (then ``hi == lo`` exactly).

    Graphs of fewer than ``_MIN_GROUP_ROWS`` entities sum the series with :func:`_neumann`
    unless a plan is already cached: their plan would be one block, i.e. the same iteration,
    and building it costs more than it saves.

    ``vec_hi``: another seed for the ``hi`` run, at least ``vec`` everywhere (the ``lo`` result
    is then still a sub-solution of the ``hi`` one)."""
    if W.n < _MIN_GROUP_ROWS and "_plan" not in W.__dict__:
        return _run_series(W, vec, keep, tol, max_iter, vec_hi=vec_hi)
    plan = W._plan
    v = vec[plan.perm]
    v_hi = v if vec_hi is None else vec_hi[plan.perm]
    kp = None if keep is None else keep[plan.perm].astype(np.float64)
    links = 0

    def run(mats: _Mats, start: FloatArray | None, v: FloatArray) -> tuple[FloatArray, bool, int]:
        nonlocal links
        first = np.empty_like(v)
        for i, g in enumerate(plan.groups):
            first[g.start : g.stop] = mats.ext[i] @ v[: g.start]
            for k in range(*g.blocks) if not g.once else ():
                a, e = plan.bounds[k], plan.bounds[k + 1]
                first[a:e] += mats.inner[k] @ v[g.start : g.stop]
        x, ok, its, work = _solve(plan, mats, first, kp, tol, max_iter, start)
        links += plan.nnz + work
        return x, ok, its

    lo = run(plan.lo, None, v)
    if plan.hi is None and vec_hi is None:
        hi = (lo[0].copy(), lo[1], lo[2])
    else:
        hi = run(plan.lo if plan.hi is None else plan.hi, lo[0] if lo[1] else None, v_hi)
    res = []
    for x, ok, its in (lo, hi):
        y = np.empty_like(x)
        y[plan.perm] = x
        res.append((y, ok, its))
    b = _bounds(res[0], res[1])
    return Bounds(b.lo, b.hi, b.converged, b.iterations, links / max(plan.nnz, 1))


def _run_series(
    W: ShareMatrix,
    vec: FloatArray,
    keep: BoolArray | None,
    tol: float,
    max_iter: int,
    rows: ShareMatrix | None = None,
    memo: list[Any] | None = None,
    vec_hi: FloatArray | None = None,
) -> Bounds:
    """:func:`_run` by the plain series; the ``hi`` run skipped when ``W.hi == W.lo`` (and
    the seeds are one).

    ``rows``: ``W``'s transpose as CSR with sorted indices, when the caller has it (``W`` then
    a transposed view of it): the series multiplies by it from the first mat-vec, and nothing
    is converted. ``memo``: :func:`_closed_cycles`' components, when the caller has them.
    ``vec_hi``: another seed for the ``hi`` series."""
    memo = [] if memo is None else memo

    def series(side: CSR, side_rows: CSR | None, vec: FloatArray) -> tuple[FloatArray, bool, int]:
        first = np.asarray((side.T if side_rows is None else side_rows) @ vec, np.float64)
        return _neumann(side, first, keep, tol, max_iter, side_rows, memo)

    lo = series(W.lo, None if rows is None else rows.lo, vec)
    same = (
        vec_hi is None
        and W.lo.nnz == W.hi.nnz
        and np.array_equal(W.lo.indptr, W.hi.indptr)
        and np.array_equal(W.lo.indices, W.hi.indices)
        and np.array_equal(W.lo.data, W.hi.data)
    )
    if same:
        hi = (lo[0].copy(), lo[1], lo[2])
        work = lo[2]
    else:
        hi = series(W.hi, None if rows is None else rows.hi, vec if vec_hi is None else vec_hi)
        work = lo[2] + hi[2]
    b = _bounds(lo, hi)
    return Bounds(b.lo, b.hi, b.converged, b.iterations, float(work))


def _bounds(lo: tuple[FloatArray, bool, int], hi: tuple[FloatArray, bool, int]) -> Bounds:
    converged = lo[1] and hi[1]
    xs = [lo[0], hi[0]]
    if not converged:
        xs = [np.clip(np.nan_to_num(x, nan=1.0, posinf=1.0), 0.0, 1.0) for x in xs]
    return Bounds(xs[0], xs[1], converged, max(lo[2], hi[2]))


def integrated_from(
    W: ShareMatrix, seed: np.ndarray[Any, Any], *, tol: float = 1e-12, max_iter: int = 10_000
) -> Bounds:
    """Integrated (multiplicative) ownership held by a weighted seed vector ``s`` in every entity.

    ``x = s W + s W^2 + ...`` (Neumann series of Vitali et al. 2011, Appendix S1 §3, row ``s`` of
    ``(I - W)^-1 W``), i.e. ``x = s W + x W``, solved by block Gauss-Seidel in topological order
    of the condensation (module docstring) to ``tol``. For a single owner use a unit vector; for
    a group, a 0/1 vector (the group's stakes are added). Computed for ``lo`` and ``hi``. If a
    group of the plan does not converge within ``max_iter`` sweeps (a cycle with no leak,
    spectral radius 1, or shares into an entity above 100%) the result has ``converged=False``
    and values (of both bounds) clipped to [0, 1]. A closed cycle reached by the seed is detected
    after 64 sweeps (strongly connected components), so such inputs do not cost ``max_iter``.

    The value is a share (at most 1 when the shares into each entity sum to at most 1) when the
    seed entities are not themselves held by the seed: e.g. for ultimate owners (persons). If a
    seed sits on a cycle of cross-holdings through itself, chains returning to the seed are
    counted again (Vitali et al. S1 §3.2) and the result can exceed 1; use
    :func:`absorbed_exposure` for a share in that case.

    Eurostat (2010) example 4: A owns 70% of B, B owns 60% of C; A's integrated share of C is 42%.

    >>> A, B, C = 0, 1, 2
    >>> W = ShareMatrix.from_edges(3, np.array([A, B]), np.array([B, C]), np.array([0.7, 0.6]))
    >>> x = integrated_from(W, np.array([1.0, 0.0, 0.0]))
    >>> [round(float(v), 12) for v in x.lo], x.converged, x.iterations
    ([0.0, 0.7, 0.42], True, 3)
    """
    n = W.n
    s = np.asarray(seed, dtype=np.float64)
    if s.shape != (n,):
        raise ValueError(f"seed must be a vector of length {n}")
    return _run(W, s, None, tol, max_iter)


def absorbed_exposure(
    W: ShareMatrix, holders: np.ndarray[Any, Any], *, tol: float = 1e-12, max_iter: int = 10_000
) -> Bounds:
    """Share of every entity owned directly or indirectly by the set of ``holders``.

    ``holders`` is a boolean mask (or an array of indices). Each chain is counted once and
    attributed to the LAST holder on it::

        e[c] = sum_{k in holders} W[k, c] + sum_{j not in holders} W[j, c] e[j]

    Solved like :func:`integrated_from` (the holders' own holdings removed from the matrix), with
    the same ``tol``, ``max_iter`` and ``converged`` semantics.

    Bounded by [0, 1] when the shares into each entity sum to at most 1 (``e[c]`` is then the
    probability that a walk up the holders of ``c`` meets the set). Uses: covered-nation
    exposure; aggregate SFE ownership (FIE 40% test) without double counting an SFE owned by
    another SFE. For a single holder this is the integrated ownership of Vitali et al. (2011),
    S1 §3, with chains through the holder itself removed.

    SFEs 0 and 1 hold 24% and 16% of T; SFE 0 also holds 50% of SFE 1 (40%, not 24 + 8 + 16):

    >>> W = ShareMatrix.from_edges(3, np.array([0, 1, 0]), np.array([2, 2, 1]),
    ...                            np.array([0.24, 0.16, 0.5]))
    >>> e = absorbed_exposure(W, np.array([True, True, False]))
    >>> round(float(e.lo[2]), 12), as_intervals(e, 2).meets(0.4, inclusive=True).value
    (0.4, 'true')
    """
    n = W.n
    h = _as_mask(n, holders, "holders")
    keep = ~h
    return _run(W, h.astype(np.float64), keep, tol, max_iter)


def _without_row(M: CSR, i: int) -> CSR:
    """``M`` with row ``i`` emptied (entity ``i`` holds nothing)."""
    out = sp.csr_array(M, copy=True)
    out.data[out.indptr[i] : out.indptr[i + 1]] = 0.0
    out.eliminate_zeros()
    return out


def absorbing(W: ShareMatrix, subject: int) -> ShareMatrix:
    """``W`` with the subject's own holdings removed (the subject made *absorbing*).

    A chain up the holders of the subject then never passes through the subject again, so
    nothing computed on this matrix for the subject counts a chain through the subject itself,
    nor the subject's own (indirect) stake in itself. The subject semantics of the FIE tests
    (:func:`subject_exposure`, :func:`first_passage_into`).
    """
    return ShareMatrix(_without_row(W.lo, subject), _without_row(W.hi, subject))


def on_cycle(W: ShareMatrix, subject: int, upstream: np.ndarray[Any, Any]) -> bool:
    """Whether ``subject`` holds (directly) one of its own ``upstream`` entities, i.e. lies on a
    cycle of holdings: only then can a chain up its holders pass through it again."""
    row = W.hi.indices[W.hi.indptr[subject] : W.hi.indptr[subject + 1]]
    return bool(np.isin(row, np.asarray(upstream)).any())


def subject_exposure(
    W: ShareMatrix,
    holders: np.ndarray[Any, Any],
    subject: int,
    *,
    tol: float = 1e-12,
    max_iter: int = 10_000,
) -> Interval:
    """Share of ``subject`` owned by the set of ``holders`` together, each chain counted once
    (at the holder nearest the subject, :func:`absorbed_exposure`) and no chain through the
    subject itself (computed on :func:`absorbing`): the subject's own stake in itself never
    counts, even when the subject is one of the holders.

    Listed T holds all of A, which holds 45% of T; B holds 55%. With T among the holders,
    T's "holders together" share is 0%, not its own 45% through A:

    >>> T, A, B = 0, 1, 2
    >>> W = ShareMatrix.from_edges(3, np.array([T, A, B]), np.array([A, T, T]),
    ...                            np.array([1.0, 0.45, 0.55]))
    >>> subject_exposure(W, np.array([T]), T).hi, round(float(absorbed_exposure(W, [T]).hi[T]), 12)
    (0.0, 0.45)
    """
    h = _as_mask(W.n, holders, "holders")
    # a matrix used once: the plain series (a solve plan costs ~60-110 mat-vecs to build)
    b = _run_series(absorbing(W, subject), h.astype(np.float64), ~h, tol, max_iter)
    return Interval(float(b.lo[subject]), float(b.hi[subject])).clamp()


def subject_exposure_bound(
    W: ShareMatrix,
    holders: np.ndarray[Any, Any],
    subject: int,
    side: Literal["lo", "hi"],
    *,
    tol: float = 1e-12,
    max_iter: int = 10_000,
) -> float:
    """One bound of :func:`subject_exposure` — its lower (``"lo"``: the ``lo`` shares) or its
    upper (``"hi"``) figure — by one series instead of two: the FIE aggregate test reads the
    lower bound with the certain SFEs and the upper bound with the possible ones.

    The series is walked up from the subject (:func:`_upward_into_holders`): the same chains
    as :func:`subject_exposure`'s, which spreads every holder's stake down, but it follows only
    the stakes that reach the subject, and ends when what is still on its way is below ``tol``
    (on the adversarial benchmark graph ~30 mat-vecs instead of ~200). The result agrees with
    the downward series within rounding (property-tested within 1e-9); when the walk up has
    not ended after :data:`_CHECK_AFTER` mat-vecs (a cycle that keeps its stakes), the
    downward series decides, as before.

    >>> T, A, B = 0, 1, 2
    >>> W = ShareMatrix.from_edges(3, np.array([A, B]), np.array([T, T]), np.array([0.3, 0.2]),
    ...                            hi=np.array([0.4, 0.2]))
    >>> both = subject_exposure(W, np.array([A, B]), T)
    >>> [subject_exposure_bound(W, np.array([A, B]), T, s) for s in ("lo", "hi")] == [
    ...     both.lo, both.hi]
    True
    """
    h = _as_mask(W.n, holders, "holders")
    M = _without_row(W.lo if side == "lo" else W.hi, subject)  # :func:`absorbing`, one side
    got = _upward_into_holders(M, h, subject, tol, _CHECK_AFTER)
    if got is not None:
        return min(max(got, 0.0), 1.0)  # as Interval.clamp
    vec = h.astype(np.float64)
    x, converged, _ = _neumann(M, np.asarray(M.T @ vec, np.float64), ~h, tol, max_iter)
    value = float(x[subject])
    if not converged:  # as :func:`_bounds` clips an unconverged sum
        value = float(np.clip(np.nan_to_num(value, nan=1.0, posinf=1.0), 0.0, 1.0))
    return min(max(value, 0.0), 1.0)  # as Interval.clamp


def _upward_into_holders(
    M: CSR, holders: BoolArray, subject: int, tol: float, max_iter: int
) -> float | None:
    """The stake of ``holders`` together in ``subject``, each chain counted at the holder
    nearest the subject, walked up from the subject; ``None`` when not ended in ``max_iter``
    mat-vecs.

    ``d_1 = M e_s``, ``d_{k+1} = M (d_k * not_holder)``: ``d_k[i]`` is what ``i`` holds of the
    subject through chains of ``k`` links whose middle entities are no holders; a holder's part
    is counted and goes no further. Shares into an entity summing to at most 1, the part still
    on its way never grows, so the walk ends when it is at most ``tol``, and what is left
    uncounted is at most that (with shares summing to more than 1, a ranged upper bound, the
    part may grow: then the walk does not end and the caller falls back).
    """
    on = holders.astype(np.float64)
    off = (~holders).astype(np.float64)
    d = np.asarray(M[:, [subject]].toarray(), np.float64).ravel()
    total = float(d @ on)
    for _ in range(max_iter):
        d *= off
        if float(d.sum()) <= tol:
            return total
        d = np.asarray(M @ d, np.float64)
        total += float(d @ on)
        if not np.isfinite(total):
            return None
    return None


def first_passage_into(
    W: ShareMatrix,
    subject: int,
    holders: np.ndarray[Any, Any],
    *,
    at_least: float = 0.0,
    tol: float = 1e-12,
    max_iter: int = 10_000,
    core: tuple[ShareMatrix, IndexArray] | None = None,
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Each holder's own share of ``subject``: (lower bounds, upper bounds, exact), one each per
    holder.

    The sum, over the chains ``k → … → subject``, of the product of the shares along the
    chain, where a chain passes through neither the subject nor the holder ``k`` a second time
    (each chain counted once; no chain through the subject itself). It is
    :func:`absorbed_exposure` with the single holder ``k`` on :func:`absorbing` — so one holder's
    figure never exceeds the figure of any set of holders containing it (:func:`subject_exposure`).

    Computed for all holders at once: ``G = Σ_n M^n[·, subject]`` with ``M`` = :func:`absorbing`
    (one solve on the transposed matrix) counts a chain for every time it loops through ``k``;
    splitting each chain at its last visit to ``k`` gives ``G[k] = N[k, k] · F[k]``, where
    ``N[k, k] = Σ_n M^n[k, k]`` counts the loops through ``k``, which stay in ``k``'s strongly
    connected component. So ``F[k] = G[k] / N[k, k]``: exact at once for a holder on no cycle
    (``N[k, k] = 1``), one small solve on its component for a holder on a cycle.

    Since ``F[k] <= G[k]``, the solve is skipped for a holder on a cycle whose ``G[k]`` upper
    bound is below ``at_least`` and below the largest share found (holders in decreasing order
    of ``G``): its share is then only bounded, ``[0, G[k]]``, and ``exact`` is False for it.
    With ``at_least=0`` (the default) every share is exact, but one solve per holder on a cycle
    can cost much on a large strongly connected component.

    ``core``: (a matrix kept by the caller, the positions in ``W`` of its entities, in its
    order) when ``W`` holds it closed upward — everything that holds one of its entities is in
    it, as a large strongly connected component and all that holds it — for many subjects:
    ``G`` is then solved through it (:func:`_integrated_through_core`: one solve plan for every
    subject, within 1e-9 of the series; property-tested).

    SFE S holds 20% of T and 50% of X, which holds 50% of S; T holds 60% of A, which holds
    50% of T. Around the loops S's figure would be 20% / (1 - 25%) / (1 - 30%) = 38%; each
    chain once, none through T, it is 20%:

    >>> S, X, T, A = 0, 1, 2, 3
    >>> W = ShareMatrix.from_edges(4, np.array([S, S, X, T, A]), np.array([T, X, S, A, T]),
    ...                            np.array([0.2, 0.5, 0.5, 0.6, 0.5]))
    >>> lo, hi, exact = first_passage_into(W, T, np.array([S, X]))
    >>> [round(float(v), 12) for v in lo], exact.tolist()
    ([0.2, 0.1], [True, True])
    """
    hs = np.asarray(holders, dtype=np.intp)
    n = W.n
    M = absorbing(W, subject)
    for part in (M.lo, M.hi):  # a copy: the series' row-wise products add in column order
        part.sort_indices()
    graph = sp.csr_array(M.hi, copy=True)  # the links with a share above 0
    graph.data[~(graph.data > 0.0)] = 0.0
    graph.eliminate_zeros()
    ncomp, label = connected_components(graph, directed=True, connection="strong")
    G = None if core is None else _integrated_through_core(W, subject, *core, tol, max_iter)
    if G is None:
        # rows: held, cols: holders (transposed views: the series multiplies by M itself)
        into = ShareMatrix(M.lo.T, M.hi.T)  # type: ignore[arg-type]
        unit = np.zeros(n)
        unit[subject] = 1.0
        # the components of the transposed views the series multiply by (the same
        # components): a long series checking for a closed cycle reuses them when its links
        # are these
        links = graph.tocoo()
        memo: list[Any] = [(links.col, links.row, ncomp, label)]
        # a matrix used once: the plain series (a solve plan costs ~60-110 mat-vecs to build)
        G = _run_series(into, unit, None, tol, max_iter, rows=M, memo=memo)
    g_lo = np.clip(np.nan_to_num(G.lo[hs], nan=1.0, posinf=1.0), 0.0, 1.0)
    g_hi = np.clip(np.nan_to_num(G.hi[hs], nan=1.0, posinf=1.0), 0.0, 1.0)
    lo, hi = G.lo[hs].copy(), G.hi[hs].copy()
    exact = np.ones(hs.size, dtype=np.bool_)
    size = np.bincount(label, minlength=n)
    cyclic = size[label[hs]] >= 2
    best = float(np.max(np.maximum(g_hi, g_lo)[~cyclic], initial=0.0))
    comps: dict[int, tuple[IndexArray, ShareMatrix]] = {}
    on_cycle_ = np.flatnonzero(cyclic)
    # in decreasing order of G's upper bound (stable: ties in holder order)
    todo = on_cycle_[np.argsort(-g_hi[on_cycle_], kind="stable")].tolist()
    for n_done, pos in enumerate(todo):
        k = int(hs[pos])
        if g_hi[pos] < at_least - EPS and g_hi[pos] < best - EPS:
            # F <= G: below what is asked and below the largest share; so are all that follow
            # (G decreasing, the largest share found only growing)
            rest = np.asarray(todo[n_done:], dtype=np.intp)
            exact[rest] = False
            lo[rest], hi[rest] = 0.0, g_hi[rest]
            break
        got = comps.get(int(label[k]))
        if got is None:
            comp = np.flatnonzero(label == label[k])
            sub = ShareMatrix(sp.csr_array(M.lo[comp][:, comp]), sp.csr_array(M.hi[comp][:, comp]))
            got = comps[int(label[k])] = (comp, sub)
        comp, sub = got
        kl = int(np.searchsorted(comp, k))
        e = np.zeros(comp.size)
        e[kl] = 1.0
        loops = _run_series(sub, e, None, tol, max_iter)
        if G.converged and loops.converged:
            lo[pos] = lo[pos] / (1.0 + loops.lo[kl])
            hi[pos] = hi[pos] / (1.0 + loops.hi[kl])
        else:  # a closed cycle: the direct solve, whose clipping handles it
            one = absorbed_exposure(M, np.array([k]), tol=tol, max_iter=max_iter)
            lo[pos], hi[pos] = one.lo[subject], one.hi[subject]
        best = max(best, float(np.clip(np.nan_to_num(hi[pos], nan=1.0), 0.0, 1.0)))
    lo = np.clip(np.nan_to_num(lo, nan=1.0, posinf=1.0), 0.0, 1.0)
    hi = np.clip(np.nan_to_num(hi, nan=1.0, posinf=1.0), 0.0, 1.0)
    return lo, np.maximum(hi, lo), exact


def _integrated_through_core(
    W: ShareMatrix, subject: int, core: ShareMatrix, at: IndexArray, tol: float, max_iter: int
) -> Bounds | None:
    """``G = Σ_n M^n[·, subject]`` of :func:`first_passage_into` (``M`` = :func:`absorbing`),
    solved through ``core``: the submatrix of ``W`` at the positions ``at``, closed upward in
    ``W`` (nothing outside it holds an entity in it), kept by the caller with the solve plan
    of its transpose (:attr:`ShareMatrix.transposed`) for every subject it lies above.

    On ``W`` itself (nothing absorbing), ``x[k] = Σ_{n≥0} W^n[k, s]`` counts every chain from
    ``k`` into the subject ``s``; cutting each at its first arrival at ``s`` gives
    ``x[k] = G[k] · x[s]`` (the rest loops from ``s`` back to itself), so ``G = x / x[s]``.
    A chain into ``s`` from the core leaves it once and never returns (closed upward), so
    with ``P`` the entities outside the core: ``x_P`` is the series on ``P`` alone (a few
    entities: the subject's own holders below the core), and ``x_core = N_core c`` with
    ``c = (W x_P)`` on the core, the stakes entering ``P`` from each core entity — one
    Gauss-Seidel solve on the kept plan (on the 1M adversarial benchmark graph ~28 ms for both
    bounds, against ~70 ms for the series on ``M``). A subject inside the core is seeded
    there directly. Within ~5e-12 of the series; ``None`` when a solve did not converge (a
    closed cycle): then the series on ``M`` decides.
    """
    n = W.n
    inside = np.zeros(n, dtype=np.bool_)
    inside[at] = True
    x_lo, x_hi = np.zeros(n), np.zeros(n)
    if inside[subject]:
        seed = np.zeros(core.n)
        seed[int(np.flatnonzero(at == subject)[0])] = 1.0
        seed_hi = None
    else:
        own = np.flatnonzero(~inside)  # the subject and its holders below the core
        P = ShareMatrix(W.lo[own][:, own], W.hi[own][:, own])
        e = np.zeros(own.size)
        e[int(np.searchsorted(own, subject))] = 1.0
        ys = _run_series(ShareMatrix(P.lo.T, P.hi.T), e, None, tol, max_iter)  # type: ignore[arg-type]
        if not ys.converged:
            return None
        x_lo[own], x_hi[own] = ys.lo + e, ys.hi + e
        seed = np.asarray(W.lo @ x_lo, np.float64)[at]
        seed_hi = np.asarray(W.hi @ x_hi, np.float64)[at]
    got = _run(core.transposed, seed, None, tol, max_iter, vec_hi=seed_hi)
    if not got.converged:
        return None
    x_lo[at] = got.lo + seed
    x_hi[at] = got.hi + (seed if seed_hi is None else seed_hi)
    lo, hi = x_lo / x_lo[subject], x_hi / x_hi[subject]
    lo[subject] = hi[subject] = 0.0  # the subject holds nothing on ``M``
    return Bounds(lo, hi, True, got.iterations, got.matvecs)


def as_intervals(bounds: Bounds, idx: int) -> Interval:
    """The bounds for entity ``idx`` as a closed :class:`~georisk.scoring.interval.Interval`.

    >>> as_intervals(Bounds(np.array([0.2]), np.array([0.3]), True, 1), 0)
    Interval(lo=0.2, hi=0.3, lo_open=False, hi_open=False)
    """
    return Interval(float(bounds.lo[idx]), float(bounds.hi[idx]))


@dataclass(frozen=True)
class Closure:
    """Result of :func:`threshold_closure`."""

    certain: BoolArray  # in the closure whatever the ranged shares are (uses lo shares)
    possible: BoolArray  # in the closure for some values in the ranges (uses hi shares)
    rounds: int

    @property
    def undetermined(self) -> BoolArray:
        """In the closure for some but not all values in the ranges."""
        return self.possible & ~self.certain


def gather_rows(indptr: npt.NDArray[Any], rows: IndexArray) -> IndexArray:
    """Positions in ``indices``/``data`` of all entries of the given CSR rows."""
    starts = indptr[rows].astype(np.intp)
    lens = indptr[rows + 1].astype(np.intp) - starts
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, dtype=np.intp)
    offsets = starts - (np.cumsum(lens) - lens)
    return np.repeat(offsets, lens) + np.arange(total, dtype=np.intp)


def _closure_one(
    M: CSR, seeds: BoolArray, threshold: float, inclusive: bool
) -> tuple[BoolArray, int]:
    inside = seeds.copy()
    held = np.zeros(M.shape[0], dtype=np.float64)
    frontier = np.flatnonzero(inside)
    rounds = 0
    while frontier.size:
        pos = gather_rows(M.indptr, frontier)
        cols = M.indices[pos].astype(np.intp)
        np.add.at(held, cols, M.data[pos])
        cand = np.unique(cols)
        cand = cand[~inside[cand]]
        hv = held[cand]
        meets = hv >= threshold - EPS if inclusive else hv > threshold + EPS
        frontier = cand[meets]
        if frontier.size:
            inside[frontier] = True
            rounds += 1
    return inside, rounds


def threshold_closure(
    W: ShareMatrix, seeds: np.ndarray[Any, Any], threshold: float, *, inclusive: bool
) -> Closure:
    """Smallest superset of ``seeds`` closed under "the members together hold the threshold".

    Start from the seed set S (boolean mask or indices); repeatedly add every entity in which
    members of S together hold ``>= threshold`` (``inclusive``) or ``> threshold`` (strict); stop
    when nothing changes. Holdings are aggregated across members, *not* multiplied along chains.

    * OFAC 50 Percent Rule (FAQ 401, 398, 399): seeds = blocked persons (any program), equity
      links only, ``threshold=0.5, inclusive=True``.
    * BIS Affiliates Rule (90 FR, 2025): seeds = listed entities, ``0.5``, inclusive.
    * Majority-chain control (Eurostat 2010): seeds = {controller}, ``0.5``, strict.

    Incremental: each round only the rows of newly added entities are scattered into the running
    sums, so total work is O(links touched), not rounds x links. Comparisons use
    ``interval.EPS`` (24% + 16% counts as 40%). ``certain`` uses the ``lo`` shares and
    ``possible`` the ``hi`` shares; ``rounds`` is the larger number of rounds that added entities.

    OFAC FAQ 401 example 2: X owns 50% of A and of B; A and B each own 25% of C.

    >>> X, A, B, C = 0, 1, 2, 3
    >>> W = ShareMatrix.from_edges(4, np.array([X, X, A, B]), np.array([A, B, C, C]),
    ...                            np.array([0.5, 0.5, 0.25, 0.25]))
    >>> cl = threshold_closure(W, np.array([X]), 0.5, inclusive=True)
    >>> np.flatnonzero(cl.certain).tolist(), cl.rounds
    ([0, 1, 2, 3], 2)
    """
    if not (EPS < threshold <= 1.0):
        raise ValueError("threshold must be in (0, 1]")
    mask = _as_mask(W.n, seeds, "seeds")
    certain, r_lo = _closure_one(W.lo, mask, threshold, inclusive)
    possible, r_hi = _closure_one(W.hi, mask, threshold, inclusive)
    return Closure(certain, possible | certain, max(r_lo, r_hi))


def _ancestors(M: CSR, target: int) -> BoolArray:
    """Entities with a chain of holdings (any positive share) to ``target``, and ``target``."""
    MT = sp.csr_array(M.T)  # rows: held entity, columns: its holders
    seen = np.zeros(M.shape[0], dtype=np.bool_)
    seen[target] = True
    frontier = np.array([target], dtype=np.intp)
    while frontier.size:
        pos = gather_rows(MT.indptr, frontier)
        up = np.unique(MT.indices[pos].astype(np.intp))
        frontier = up[~seen[up]]
        seen[frontier] = True
    return seen


def controllers_of(
    W: ShareMatrix,
    target: int,
    candidates: np.ndarray[Any, Any],
    *,
    threshold: float = 0.5,
    inclusive: bool = False,
) -> tuple[IndexArray, IndexArray]:
    """Which candidates control ``target`` by majority chain.

    A candidate controls the target when the target is in :func:`threshold_closure` seeded with
    that single candidate. Returns ``(certain_indices, undetermined_indices)`` in the order of
    ``candidates``. The target itself is never reported. The work is restricted to the target's
    upstream (ancestors), which is exact: only holders of the target, and their holders, can
    contribute to a closure reaching it.

    Eurostat (2010) example 5: A owns 100% of B1 and 80% of B2; B1 owns 20% and B2 40% of C.

    >>> A, B1, B2, C = 0, 1, 2, 3
    >>> W = ShareMatrix.from_edges(4, np.array([A, A, B1, B2]), np.array([B1, B2, C, C]),
    ...                            np.array([1.0, 0.8, 0.2, 0.4]))
    >>> certain, undetermined = controllers_of(W, C, np.array([A, B1, B2]))
    >>> certain.tolist(), undetermined.tolist()
    ([0], [])
    """
    n = W.n
    if not 0 <= target < n:
        raise ValueError(f"target {target} out of range [0, {n})")
    cand = np.asarray(candidates, dtype=np.intp)
    up = _ancestors(W.hi, target) | _ancestors(W.lo, target)
    keep = np.flatnonzero(up)
    local = np.full(n, -1, dtype=np.intp)
    local[keep] = np.arange(keep.size, dtype=np.intp)
    sub = ShareMatrix(sp.csr_array(W.lo[keep][:, keep]), sp.csr_array(W.hi[keep][:, keep]))
    t = int(local[target])
    certain: list[int] = []
    undetermined: list[int] = []
    for c in cand.tolist():
        if c == target or not up[c]:
            continue
        seed = np.zeros(keep.size, dtype=np.bool_)
        seed[local[c]] = True
        cl = threshold_closure(sub, seed, threshold, inclusive=inclusive)
        if cl.certain[t]:
            certain.append(c)
        elif cl.possible[t]:
            undetermined.append(c)
    return np.array(certain, dtype=np.intp), np.array(undetermined, dtype=np.intp)
