"""The US 2025 prohibited-foreign-entity tests: specified foreign entity (SFE, §7701(a)(51)(B),
(C)) and foreign-influenced entity (FIE, §7701(a)(51)(D)), each clause a :class:`RuleTest` with
its value, threshold, paths and the unconfirmed facts it rests on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, Field

from georisk.scoring.control.exposure import covered_parties, covered_paths
from georisk.scoring.control.params import PfeParams
from georisk.scoring.graph import ArrangementGraph, PathListing, ShareValue
from georisk.scoring.interval import EPS, Interval, Tri
from georisk.scoring.model import OWNERSHIP_KINDS, Link, LinkKind
from georisk.scoring.ownership import (
    Bounds,
    Closure,
    ShareMatrix,
    absorbed_exposure,
    first_passage_into,
    on_cycle,
    subject_exposure,
)

__all__ = ["FieResult", "RuleTest", "SfeResult", "foreign_influenced", "specified_foreign_entity"]


class RuleTest(BaseModel):
    """One clause of a test, its verdict, the value it compared and why."""

    test: str
    clause: str
    verdict: Tri
    value: ShareValue | None = None
    threshold: float | None = None
    inclusive: bool | None = None
    reason: str
    paths: PathListing | None = None
    links: list[str] = Field(default_factory=list, description="direct links that decide it")
    depends_on_unconfirmed: list[str] = Field(
        default_factory=list, description="unconfirmed or unreported link/entity ids it rests on"
    )


class SfeResult(BaseModel):
    entity: str
    verdict: Tri
    tests: list[RuleTest]


class FieResult(BaseModel):
    entity: str
    verdict: Tri
    sfe_holders: list[str] = Field(description="SFEs (certain or possible) upstream of the entity")
    tests: list[RuleTest]


@dataclass(frozen=True)
class _SfeSets:
    seeds: np.ndarray
    listed: np.ndarray
    fce: Closure
    certain: np.ndarray = field(init=False)
    possible: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "certain", self.listed | self.fce.certain)
        object.__setattr__(self, "possible", self.listed | self.fce.possible)


def _fce_closure(g: ArrangementGraph, params: PfeParams, seeds: np.ndarray) -> Closure:
    if params.fce_semantics == "chain":
        return g.closure(
            _chain_key(params),
            seeds,
            params.fce_threshold,
            inclusive=params.fce_inclusive,
            control=True,
        )
    exp = absorbed_exposure(g.equity, seeds)
    cert = seeds | _meets_arr(exp.lo, params.fce_threshold, params.fce_inclusive)
    poss = seeds | _meets_arr(exp.hi, params.fce_threshold, params.fce_inclusive)
    return Closure(certain=cert, possible=poss, rounds=exp.iterations)


def _chain_key(params: PfeParams) -> str:
    """The :meth:`.ArrangementGraph.closure` key of the foreign-controlled chain (seeded
    from the covered parties)."""
    return (
        f"fce-chain:{sorted(params.covered_nations)}:{params.fce_threshold}:{params.fce_inclusive}"
    )


def _meets_arr(values: np.ndarray, t: float, inclusive: bool) -> np.ndarray:
    return values >= t - EPS if inclusive else values > t + EPS


def _sfe_sets(g: ArrangementGraph, params: PfeParams) -> _SfeSets:
    def fce() -> Closure:  # depends on the links only: shared across dates
        return _fce_closure(g, params, covered_parties(g, params))

    def make() -> _SfeSets:
        listed = g.mask(
            set().union(*(g.dataset.listed_on(lst, g.as_of) for lst in params.sfe_lists))
        )
        key = (
            f"fce:{sorted(params.covered_nations)}:{params.fce_semantics}:"
            f"{params.fce_threshold}:{params.fce_inclusive}"
        )
        return _SfeSets(covered_parties(g, params), listed, g.shared(key, fce))

    return g.cached(f"sfe:{params!r}", make)


def _uncertain_in(
    g: ArrangementGraph, listing: PathListing | None, links: Iterable[Link] = ()
) -> list[str]:
    out: set[str] = set()
    if listing is not None:
        for p in listing.paths:
            for s in p.steps:
                if (
                    s.unconfirmed
                    or s.status != "confirmed"
                    or s.share is None
                    or s.share.min != s.share.max
                ):
                    out.add(s.link)
            for eid in p.entities:
                if g.dataset.entities[eid].unconfirmed:
                    out.add(eid)
    for l in links:
        if l.uncertain:
            out.add(l.id)
    return sorted(out)


def _sub(W: ShareMatrix, idx: np.ndarray) -> ShareMatrix:
    lo = W.lo[idx][:, idx]
    hi = W.hi[idx][:, idx]
    return ShareMatrix(lo=lo.tocsr(), hi=hi.tocsr())


def specified_foreign_entity(
    g: ArrangementGraph, entity_id: str, params: PfeParams | None = None
) -> SfeResult:
    """Is ``entity_id`` a specified foreign entity on the graph's date (§7701(a)(51)(B))?

    TRUE if it is on an SFE list on that date, or is foreign-controlled: a covered-nation
    government/national/entity itself, or more than 50% owned or controlled by such parties
    (semantics per ``params.fce_semantics``). UNDETERMINED when ranged shares straddle 50%.

    Envision Group (CN) holds 75% of AESC (JP): AESC is foreign-controlled, so an SFE.

    >>> import datetime as dt
    >>> from georisk.scoring.dataset import Dataset
    >>> from georisk.scoring.model import Entity, Link
    >>> owners = [("envision", "CN", 0.75), ("nissan", "JP", 0.25)]
    >>> ents = {e: Entity(id=e, name=e, kind="company", country=c) for e, c, _ in owners}
    >>> ents["aesc"] = Entity(id="aesc", name="AESC", kind="company", country="JP")
    >>> links = {
    ...     f"{e}-aesc": Link.model_validate({"id": f"{e}-aesc", "kind": "equity", "source": e,
    ...                                       "target": "aesc", "share": s, "sources": ["s"]})
    ...     for e, _, s in owners
    ... }
    >>> ds = Dataset(sources={}, entities=ents, links=links, arrangements={}, version="t")
    >>> g = ArrangementGraph.build(ds, dt.date(2026, 1, 1))
    >>> r = specified_foreign_entity(g, "aesc")
    >>> r.verdict.value, [t.test for t in r.tests if t.verdict.value == "true"]
    ('true', ['foreign_controlled'])
    >>> specified_foreign_entity(g, "nissan").verdict.value
    'false'
    """
    params = params or PfeParams()
    return g.cached(f"sfe-result:{entity_id}:{params!r}", lambda: _sfe(g, entity_id, params))


def _sfe(g: ArrangementGraph, entity_id: str, params: PfeParams) -> SfeResult:
    sets = _sfe_sets(g, params)
    i = g.index[entity_id]
    e = g.dataset.entities[entity_id]
    tests: list[RuleTest] = []
    listed = [m for lst in sorted(params.sfe_lists) if (m := e.listed_on(lst, g.as_of))]
    tests.append(
        RuleTest(
            test="listed",
            clause="§7701(a)(51)(B): 1260H, UFLPA entity list, FY2024 NDAA §154(b) entities",
            verdict=Tri.TRUE if listed else Tri.FALSE,
            reason=(
                "on "
                + ", ".join(
                    f"{m.list_id} since {m.since or 'enactment'} [{', '.join(m.sources)}]"
                    for m in listed
                )
                if listed
                else f"on none of {sorted(params.sfe_lists)} on {g.as_of}"
            ),
            depends_on_unconfirmed=[entity_id] if any(m.unconfirmed for m in listed) else [],
        )
    )
    if sets.seeds[i]:
        tests.append(
            RuleTest(
                test="foreign_controlled",
                clause="§7701(a)(51)(C): government, national, or entity organized or with its "
                "principal place of business in a covered nation",
                verdict=Tri.TRUE,
                reason=f"{e.kind.value} of {e.country}"
                + (f", principal place {e.principal_place}" if e.principal_place else ""),
            )
        )
    else:
        verdict = (
            Tri.TRUE
            if sets.fce.certain[i]
            else Tri.UNDETERMINED
            if sets.fce.possible[i]
            else Tri.FALSE
        )
        paths = covered_paths(g, entity_id, params, OWNERSHIP_KINDS)
        op = ">=" if params.fce_inclusive else ">"
        tests.append(
            RuleTest(
                test="foreign_controlled",
                clause=f"§7701(a)(51)(C): {op} {params.fce_threshold:.0%} owned or controlled by "
                f"covered-nation parties ({params.fce_semantics} semantics)",
                verdict=verdict,
                threshold=params.fce_threshold,
                inclusive=params.fce_inclusive,
                reason={
                    Tri.TRUE: "covered-nation parties and the entities they control hold more "
                    f"than {params.fce_threshold:.0%}",
                    Tri.UNDETERMINED: "ranged or unknown shares straddle the threshold",
                    Tri.FALSE: "covered-nation parties do not reach the threshold",
                }[verdict],
                paths=paths,
                depends_on_unconfirmed=_uncertain_in(g, paths),
            )
        )
    return SfeResult(entity=entity_id, verdict=Tri.any_of([t.verdict for t in tests]), tests=tests)


def foreign_influenced(
    g: ArrangementGraph, entity_id: str, params: PfeParams | None = None
) -> FieResult:
    """Is ``entity_id`` a foreign-influenced entity (§7701(a)(51)(D), brief.md §3)?

    TRUE if one SFE owns ≥ 25% of it, SFEs together own ≥ 40%, SFEs hold ≥ 15% of its debt,
    or an SFE can appoint a covered officer (board member or officer). Ownership is
    multiplicative, directly or indirectly (examples.md 8: 24% + 15% passes, 24% + 16% fails).
    """
    params = params or PfeParams()
    key = f"fie-result:{entity_id}:{params!r}:{_sfe_digest(g, params)}"
    return g.shared(key, lambda: _fie(g, entity_id, params))


def _sfe_digest(g: ArrangementGraph, params: PfeParams) -> str:
    """Fingerprint of the SFE sets (certain, possible) on the graph's date.

    The FIE test reads the links and these two sets, nothing else of the date: keyed by it,
    FIE results and the SFE exposure vectors are shared by every date view of the same links
    whose SFE sets are the same (the scenarios evaluated on a later date, typically).
    """

    def make() -> str:
        sets = _sfe_sets(g, params)
        h = hashlib.blake2b(digest_size=16)
        h.update(np.packbits(sets.certain).tobytes())
        h.update(np.packbits(sets.possible).tobytes())
        return h.hexdigest()

    return g.cached(f"sfe-digest:{params!r}", make)


def _sfe_exposure(g: ArrangementGraph, params: PfeParams) -> tuple[np.ndarray, np.ndarray] | None:
    """Aggregate SFE ownership of every entity: (lower bound, upper bound) arrays.

    The FIE aggregate test's value for entity T is the absorbed exposure of T to the SFE set
    (each chain counted once, at the SFE nearest T): lower bound with the certain SFEs and lo
    shares, upper bound with the possible SFEs and hi shares. It depends only on T's upstream,
    so the whole-graph vectors give every entity's value at once: two solves per set of links
    and SFE sets (:func:`_sfe_digest`) instead of two per entity on its upstream submatrix
    (which in a synthetic graph is ~17% of the graph for a typical target). The whole-graph
    solve runs until the whole graph has converged, so the values agree with the per-entity
    ones to the solver's tolerance (1e-12). None when a solve did not converge (a closed cycle
    of holdings somewhere in the graph stops it early): :func:`_fie` then computes per entity,
    as before.
    """

    def make() -> tuple[np.ndarray, np.ndarray] | None:
        sets = _sfe_sets(g, params)
        d, p = g.derivation, g.parent
        if d is not None and p is not None:
            # upstream direction: the base's values outside what the overlay reaches
            old, p_sets = _sfe_exposure(p, params), _sfe_sets(p, params)
            if old is not None:
                lo_d = d.absorbed_exposure(
                    sets.certain,
                    d.carry(p_sets.certain, False),
                    Bounds(old[0], old[0], True, 1),
                )
                hi_d = d.absorbed_exposure(
                    sets.possible,
                    d.carry(p_sets.possible, False),
                    Bounds(old[1], old[1], True, 1),
                )
                if lo_d is not None and hi_d is not None:
                    return lo_d.lo, hi_d.hi
        lo_b = absorbed_exposure(g.equity, sets.certain)
        hi_b = absorbed_exposure(g.equity, sets.possible)
        if not (lo_b.converged and hi_b.converged):
            return None
        return lo_b.lo, hi_b.hi

    return g.shared(f"sfe-exposure:{params!r}:{_sfe_digest(g, params)}", make)


def _fie(g: ArrangementGraph, entity_id: str, params: PfeParams) -> FieResult:
    sets = _sfe_sets(g, params)
    i_t = g.index[entity_id]
    up = g.upstream(entity_id)
    idx = np.append(up, i_t).astype(np.int64)
    t = len(idx) - 1
    cert_sub, poss_sub = sets.certain[idx], sets.possible[idx]
    sfe_holders = [g.ids[k] for k in up[poss_sub[:t]].tolist()]
    tests: list[RuleTest] = []
    cand = np.flatnonzero(poss_sub[:t])
    whole = _sfe_exposure(g, params)
    # the whole-graph aggregate counts the chains that pass through the entity again when it
    # lies on a cycle of holdings: then the entity's own, on its upstream with it absorbing
    cyclic = on_cycle(g.equity, i_t, up)
    # the upstream submatrix: for the single-SFE test when an SFE is upstream, and for the
    # aggregate test when the whole-graph series did not converge or does not apply
    sub = _sub(g.equity, idx) if cand.size or whole is None or cyclic else None

    # one SFE ≥ 25%: each SFE's own share in the entity (each chain once, none through the
    # entity or back through the SFE: never more than SFEs together), all in one solve
    best: tuple[Interval, str] | None = None
    verdicts: list[Tri] = []
    if cand.size:
        assert sub is not None
        if params.fie_single_semantics == "integrated":
            lo, hi = first_passage_into(sub, t, cand)
        else:
            lo = np.clip(np.asarray(sub.lo[:, [t]].todense()).ravel()[cand], 0.0, 1.0)
            hi = np.clip(np.asarray(sub.hi[:, [t]].todense()).ravel()[cand], 0.0, 1.0)
            hi = np.maximum(hi, lo)
        meets_all = lo >= params.fie_single - EPS
        meets_some = hi >= params.fie_single - EPS
        sure = cert_sub[cand]
        # TRUE needs a certain SFE holding the share for sure; a possible SFE only makes it
        # UNDETERMINED (a ranged share may or may not reach the threshold either)
        if np.any(meets_all & sure):
            verdicts.append(Tri.TRUE)
        elif np.any(meets_some):
            verdicts.append(Tri.UNDETERMINED)
        else:
            verdicts.append(Tri.FALSE)
        k = int(np.argmax(hi))
        best = (Interval(float(lo[k]), float(hi[k])), g.ids[int(up[cand[k]])])
    single_paths = (
        g.share_paths(
            entity_id,
            holders={best[1]},
            stop_at_holders=False,
            max_depth=params.max_depth,
            max_paths=params.max_paths,
        )
        if best
        else None
    )
    tests.append(
        RuleTest(
            test="single_sfe_ownership",
            clause=f"§7701(a)(51)(D)(ii): one SFE owns ≥ {params.fie_single:.0%} "
            f"(directly or indirectly; {params.fie_single_semantics})",
            verdict=Tri.any_of(verdicts) if verdicts else Tri.FALSE,
            value=ShareValue.of(best[0]) if best else ShareValue.of(Interval.zero()),
            threshold=params.fie_single,
            inclusive=True,
            reason=f"largest SFE holder: {best[1]} with {best[0]}"
            if best
            else "no SFE holds equity in it",
            paths=single_paths,
            depends_on_unconfirmed=_uncertain_in(g, single_paths),
        )
    )

    # SFEs together ≥ 40% (each chain counted once, at the SFE nearest the entity; none
    # through the entity itself, whose own stake in itself never counts)
    if whole is not None and not cyclic:
        agg = Interval(float(whole[0][i_t]), float(whole[1][i_t])).clamp()
    else:
        assert sub is not None
        agg = Interval(
            subject_exposure(sub, cert_sub, t).lo, subject_exposure(sub, poss_sub, t).hi
        ).clamp()
    agg_paths = g.share_paths(
        entity_id, holders=set(sfe_holders), max_depth=params.max_depth, max_paths=params.max_paths
    )
    tests.append(
        RuleTest(
            test="aggregate_sfe_ownership",
            clause=f"§7701(a)(51)(D)(iii): SFEs together own ≥ {params.fie_aggregate:.0%}",
            verdict=agg.meets(params.fie_aggregate, inclusive=True),
            value=ShareValue.of(agg),
            threshold=params.fie_aggregate,
            inclusive=True,
            reason=f"SFE holders {sfe_holders or 'none'} together own {agg}",
            paths=agg_paths,
            depends_on_unconfirmed=_uncertain_in(g, agg_paths),
        )
    )

    # SFE debt ≥ 15%
    debt_links = [
        l for l in g.links_into(entity_id, [LinkKind.DEBT]) if sets.possible[g.index[l.source]]
    ]
    debt = sum((l.share_interval() for l in debt_links), Interval.zero()).clamp()
    tests.append(
        RuleTest(
            test="sfe_debt",
            clause=f"§7701(a)(51)(D)(iv): SFEs hold ≥ {params.fie_debt:.0%} of its debt",
            verdict=debt.meets(params.fie_debt, inclusive=True) if debt_links else Tri.FALSE,
            value=ShareValue.of(debt),
            threshold=params.fie_debt,
            inclusive=True,
            reason=f"SFE debt links: {[l.id for l in debt_links] or 'none'}",
            links=[l.id for l in debt_links],
            depends_on_unconfirmed=_uncertain_in(g, None, debt_links),
        )
    )

    # SFE appointment authority
    if params.fie_appointment:
        appts = [
            l
            for l in g.links_into(entity_id, [LinkKind.APPOINTMENT])
            if sets.possible[g.index[l.source]]
        ]
        certain = [l for l in appts if sets.certain[g.index[l.source]] and not l.uncertain]
        tests.append(
            RuleTest(
                test="sfe_appointment",
                clause="§7701(a)(51)(D)(i): an SFE has authority to appoint a covered officer",
                verdict=Tri.TRUE if certain else Tri.UNDETERMINED if appts else Tri.FALSE,
                reason=f"appointment links from SFEs: {[l.id for l in appts] or 'none'}",
                links=[l.id for l in appts],
                depends_on_unconfirmed=_uncertain_in(g, None, appts),
            )
        )
    return FieResult(
        entity=entity_id,
        verdict=Tri.any_of([t.verdict for t in tests]),
        sfe_holders=sfe_holders,
        tests=tests,
    )
