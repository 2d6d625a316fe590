"""Rule kinds: how a policy pack's rules are evaluated for one arrangement on one date.

A pack (:mod:`.policy`) is data; the four *kinds* of rule it may instantiate are code:

``production_credit`` (US §45X)
    nexus (location, products) → the credit is in force for the products → clauses:
    *taxpayer* (not an SFE, not an FIE — §7701(a)(51)), *licensing* (no effective control by an
    SFE licensor — the reported 2025 indicators, or the House text's blanket bar in a scenario),
    *material assistance* (the cost ratio, decided only when supplier cost shares are in the data).
    Estimated annual credit = capacity (GWh) × 10⁶ kWh/GWh × $/kWh × phase-down factor.
``vehicle_credit`` (US §30D)
    terminated for vehicles acquired after 2025-09-30 (then *not applicable*); before: battery
    components made by a FEOC (DOE 2024: organized in a covered nation, or ≥ 25% of board, votes
    or equity held by covered-nation parties) disqualify; a FEOC licence puts it at risk.
``list_effects``
    every effect of every list in the pack (1260H contracting bans, §154 DoD battery ban, UFLPA
    import ban, BIS affiliates, OFAC 50%) on the producer side (operator/owner, taxpayer and their
    controllers: impact 1 when in force, 0.5 when dated in the future) and on other parties
    (licensor, supplier: indirect, impact 0.25).
``tariff``
    §301 rates on Chinese-made batteries when the data records such an import into the producer.

Every clause reports its verdict, the parameters it read (value, date, sources, UNCONFIRMED and
conflict marks), the evidence (ownership tests with paths), the facts it is missing and the
unconfirmed facts it rests on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from georisk.scoring.control import (
    PfeParams,
    RuleTest,
    covered_parties,
    foreign_influenced,
    specified_foreign_entity,
    ultimate_controllers,
)
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.interval import Interval, Tri
from georisk.scoring.model import (
    Arrangement,
    ArrangementStatus,
    EntityKind,
    KnowHowTransfer,
    Link,
    LinkKind,
)
from georisk.scoring.ownership import threshold_closure
from georisk.scoring.policy import ParamVariant, PolicyPack, RuleInstance

__all__ = [
    "RETAINED",
    "Amount",
    "Clause",
    "EvalContext",
    "ParamUse",
    "RuleCache",
    "RuleOutcome",
    "Verdict",
    "evaluate_pack",
    "links_into",
    "pfe_params",
]


class Verdict(StrEnum):
    ELIGIBLE = "eligible"  # passes: the credit is kept / no restriction applies
    AT_RISK = "at_risk"  # undetermined: depends on missing or unconfirmed facts (named)
    NOT_ELIGIBLE = "not_eligible"  # fails: credit lost / restriction applies
    NOT_APPLICABLE = "not_applicable"  # no nexus: the rule does not reach the arrangement


#: share of a rule's benefit kept under each verdict (used for the policy-sensitivity impact)
RETAINED: dict[Verdict, float] = {
    Verdict.ELIGIBLE: 1.0,
    Verdict.AT_RISK: 0.5,
    Verdict.NOT_ELIGIBLE: 0.0,
    Verdict.NOT_APPLICABLE: 1.0,
}
_SEVERITY = {
    Verdict.NOT_APPLICABLE: 0,
    Verdict.ELIGIBLE: 1,
    Verdict.AT_RISK: 2,
    Verdict.NOT_ELIGIBLE: 3,
}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    vs = list(verdicts)
    return max(vs, key=_SEVERITY.__getitem__) if vs else Verdict.ELIGIBLE


class ParamUse(BaseModel):
    """A pack parameter as read for a verdict: value, validity and marks."""

    id: str
    value: Any
    effective_from: dt.date | None
    sources: list[str]
    unconfirmed: bool = False
    conflict: str | None = None


class Amount(BaseModel):
    min: float
    max: float
    unit: str


class Clause(BaseModel):
    id: str
    title: str
    clause: str
    verdict: Verdict
    reason: str
    decisive: bool = Field(default=True, description="false: reported, but not in the verdict")
    params: list[ParamUse] = Field(default_factory=list)
    evidence: list[RuleTest] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="facts that would decide it")
    unconfirmed: list[str] = Field(default_factory=list, description="unconfirmed facts used")
    impact: float = Field(default=0.0, description="adverse impact 0..1 (list effects)")


class RuleOutcome(BaseModel):
    rule: str
    kind: str
    title: str
    clause: str
    verdict: Verdict
    reason: str
    clauses: list[Clause]
    impact: float = Field(description="adverse impact 0..1 of this rule in this scenario")
    credit: Amount | None = Field(default=None, description="estimated annual credit if eligible")
    open_conditions: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    unconfirmed: list[str] = Field(default_factory=list)
    unconfirmed_params: list[str] = Field(default_factory=list)
    sources: list[str]


@dataclass
class EvalContext:
    """One arrangement, one graph (as of ``on``), one pack (possibly with scenario overrides)."""

    g: ArrangementGraph
    pack: PolicyPack
    arr: Arrangement
    on: dt.date
    _pfe: PfeParams | None = field(default=None, repr=False)
    #: ids of the pack parameters read, while a :class:`RuleCache` records a rule's evaluation
    _reads: set[str] | None = field(default=None, repr=False)
    _variants: dict[str, ParamVariant] = field(default_factory=dict, repr=False)

    def links_into(self, eid: str, kinds: Iterable[LinkKind]) -> list[Link]:
        """Links into ``eid`` that belong to this arrangement (or to no particular one)."""
        return [l for l in links_into(self.g, eid, kinds) if l.arrangement in (None, self.arr.id)]

    def param(self, pid: str, uses: list[ParamUse] | None = None) -> Any:
        if self._reads is not None:
            self._reads.add(pid)
        v = self._variants.get(pid)
        if v is None:  # the pack's lookup scans the variants: once per context and parameter
            v = self._variants[pid] = self.pack.param(pid, self.on)
        if uses is not None:
            uses.append(
                ParamUse(
                    id=pid,
                    value=v.value,
                    effective_from=v.effective_from,
                    sources=list(v.sources),
                    unconfirmed=v.unconfirmed,
                    conflict=v.conflict,
                )
            )
        return v.value

    @property
    def pfe(self) -> PfeParams:
        if self._reads is not None:
            self._reads.update(PFE_PARAMS)
        if self._pfe is None:
            self._pfe = pfe_params(self.pack, self.on)
        return self._pfe

    # the producer side: who makes the product, who claims the credit, who controls them
    def producers(self) -> list[str]:
        focal = self.arr.focal
        ops = [l.source for l in self.links_into(focal, [LinkKind.OPERATION])]
        if ops:
            return sorted(set(ops))
        if self.g.entity(focal).kind is not EntityKind.FACILITY:
            return [focal]
        owners = [l.source for l in self.links_into(focal, [LinkKind.EQUITY])]
        return sorted(set(owners)) or [focal]

    def producer_side(self) -> list[str]:
        side = set(self.producers())
        if self.arr.taxpayer:
            side.add(self.arr.taxpayer)
        for x in list(side):
            side |= set(ultimate_controllers(self.g, x).controllers)
        return sorted(side)

    def first_reported(self) -> dt.date | None:
        return min((e.date for e in self.arr.status), default=None)


#: the pack parameters :func:`pfe_params` reads (besides the lists' ``sfe`` effects)
PFE_PARAMS = (
    "covered_nations",
    "pfe.fce_threshold",
    "pfe.fce_semantics",
    "pfe.fie_single",
    "pfe.fie_aggregate",
    "pfe.fie_debt",
)


def links_into(g: ArrangementGraph, eid: str, kinds: Iterable[LinkKind]) -> list[Link]:
    """``g.links_into(eid, kinds)``, memoized per set of links (``g.shared``).

    The rules of every scenario and the axes ask for the links into the same few entities
    (focal entity, producers, taxpayer) dozens of times per score; the graph filters an
    entity's in-links anew on each call. The list returned is shared: do not modify it.
    """
    memo: dict[tuple[str, tuple[LinkKind, ...]], list[Link]] = g.shared("links-into", dict)
    key = (eid, tuple(kinds))
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = g.links_into(eid, key[1])
    return hit


def pfe_params(pack: PolicyPack, on: dt.date) -> PfeParams:
    """The 2025 PFE test parameters in force on ``on`` (defaults where the pack is silent)."""
    d = PfeParams()

    def get(pid: str, default: Any) -> Any:
        assert pid in PFE_PARAMS  # what RuleCache records as read through EvalContext.pfe
        v = pack.maybe(pid, on)
        return default if v is None else v.value

    sfe_lists = frozenset(
        lst.id for lst in pack.lists for e in lst.effects if e.effect == "sfe" and e.active(on)
    )
    return PfeParams(
        covered_nations=frozenset(get("covered_nations", sorted(d.covered_nations))),
        sfe_lists=sfe_lists or d.sfe_lists,
        fce_threshold=float(get("pfe.fce_threshold", d.fce_threshold)),
        fce_semantics=get("pfe.fce_semantics", d.fce_semantics),
        fie_single=float(get("pfe.fie_single", d.fie_single)),
        fie_aggregate=float(get("pfe.fie_aggregate", d.fie_aggregate)),
        fie_debt=float(get("pfe.fie_debt", d.fie_debt)),
    )


def _year_table(table: dict[Any, Any], year: int) -> tuple[int, float] | None:
    """Value for ``year`` in a year-keyed table: the latest key ≤ year (None before the first)."""
    keys = sorted(int(k) for k in table)
    past = [k for k in keys if k <= year]
    if not past:
        return None
    k = past[-1]
    return k, float(table[k] if k in table else table[str(k)])


def _nexus(ctx: EvalContext, rule: RuleInstance) -> str | None:
    """None if the rule reaches the arrangement, else why not."""
    if rule.countries and ctx.arr.country not in rule.countries:
        return (
            f"no nexus: located in {ctx.arr.country}, the rule covers {', '.join(rule.countries)}"
        )
    if rule.products and not set(p.value for p in ctx.arr.products) & set(rule.products):
        return f"no nexus: products {[p.value for p in ctx.arr.products]} are outside the rule"
    if rule.effective_from and ctx.on < rule.effective_from:
        return f"not in force on {ctx.on} (from {rule.effective_from})"
    if rule.effective_to and ctx.on > rule.effective_to:
        return f"no longer in force on {ctx.on} (ended {rule.effective_to})"
    return None


def _na(rule: RuleInstance, reason: str) -> RuleOutcome:
    return RuleOutcome(
        rule=rule.id,
        kind=rule.kind,
        title=rule.title,
        clause=rule.clause,
        verdict=Verdict.NOT_APPLICABLE,
        reason=reason,
        clauses=[],
        impact=0.0,
        sources=list(rule.sources),
    )


def _finish(
    rule: RuleInstance,
    clauses: list[Clause],
    impact: float,
    credit: Amount | None = None,
    reason: str | None = None,
) -> RuleOutcome:
    decisive = [c for c in clauses if c.decisive]
    verdict = worst(c.verdict for c in decisive) if decisive else Verdict.ELIGIBLE
    open_conditions = [
        f"{c.title}: {c.reason}" for c in clauses if not c.decisive and c.verdict is Verdict.AT_RISK
    ]
    missing = sorted({m for c in clauses for m in c.missing})
    unconfirmed = sorted({u for c in clauses if c.decisive for u in c.unconfirmed})
    uparams = sorted(
        {p.id for c in clauses if c.decisive for p in c.params if p.unconfirmed or p.conflict}
    )
    if reason is None:
        bad = [c for c in decisive if c.verdict is verdict]
        reason = "; ".join(f"{c.title}: {c.reason}" for c in bad) or "all clauses pass"
    srcs = sorted({*rule.sources, *(s for c in clauses for p in c.params for s in p.sources)})
    return RuleOutcome(
        rule=rule.id,
        kind=rule.kind,
        title=rule.title,
        clause=rule.clause,
        verdict=verdict,
        reason=reason,
        clauses=clauses,
        impact=impact,
        credit=credit,
        open_conditions=open_conditions,
        missing=missing,
        unconfirmed=unconfirmed,
        unconfirmed_params=uparams,
        sources=srcs,
    )


# --------------------------------------------------------------------------- §45X


def _taxpayer_clause(ctx: EvalContext) -> Clause:
    uses: list[ParamUse] = []
    title, clause = (
        "taxpayer is not a prohibited foreign entity",
        "§45X as amended by P.L. 119-21; §7701(a)(51)",
    )
    tp = ctx.arr.taxpayer
    if tp is None:
        return Clause(
            id="taxpayer_pfe",
            title=title,
            clause=clause,
            verdict=Verdict.AT_RISK,
            reason="the taxpayer is not identified",
            missing=["taxpayer"],
        )
    if not ctx.param("pfe.in_force", uses):
        return Clause(
            id="taxpayer_pfe",
            title=title,
            clause=clause,
            verdict=Verdict.ELIGIBLE,
            params=uses,
            reason=f"the PFE rules are not in force on {ctx.on}",
        )
    sfe = specified_foreign_entity(ctx.g, tp, ctx.pfe)
    tests = [t for t in sfe.tests if t.verdict is not Tri.FALSE]
    verdict = {
        Tri.TRUE: Verdict.NOT_ELIGIBLE,
        Tri.UNDETERMINED: Verdict.AT_RISK,
        Tri.FALSE: Verdict.ELIGIBLE,
    }[sfe.verdict]
    reasons = [f"{tp} is {_article(sfe.verdict)} SFE"]
    for pid in ("pfe.fce_threshold", "pfe.fce_semantics"):
        ctx.param(pid, uses)
    if ctx.param("pfe.fie_bar_in_force", uses):
        for pid in ("pfe.fie_single", "pfe.fie_aggregate", "pfe.fie_debt"):
            ctx.param(pid, uses)
        fie = foreign_influenced(ctx.g, tp, ctx.pfe)
        tests += [t for t in fie.tests if t.verdict is not Tri.FALSE]
        fv = {
            Tri.TRUE: Verdict.NOT_ELIGIBLE,
            Tri.UNDETERMINED: Verdict.AT_RISK,
            Tri.FALSE: Verdict.ELIGIBLE,
        }[fie.verdict]
        verdict = worst([verdict, fv])
        reasons.append(f"{_article(fie.verdict)} FIE")
    unconfirmed = sorted({u for t in tests for u in t.depends_on_unconfirmed})
    return Clause(
        id="taxpayer_pfe",
        title=title,
        clause=clause,
        verdict=verdict,
        reason=", ".join(reasons),
        params=uses,
        evidence=tests,
        unconfirmed=unconfirmed,
    )


def _article(v: Tri) -> str:
    return {Tri.TRUE: "an", Tri.UNDETERMINED: "possibly an", Tri.FALSE: "not an"}[v]


def _licence_receivers(ctx: EvalContext) -> set[str]:
    out = set(ctx.producers()) | {ctx.arr.focal}
    if ctx.arr.taxpayer:
        out.add(ctx.arr.taxpayer)
    return out


def _licensing_clause(ctx: EvalContext) -> Clause:
    uses: list[ParamUse] = []
    title = "no effective control by an SFE through a licence"
    clause = "§7701(a)(51)-(52) effective control via licensing (as reported; see params)"
    mode = ctx.param("licensing.mode", uses)
    if mode == "off":
        return Clause(
            id="licensing",
            title=title,
            clause=clause,
            verdict=Verdict.ELIGIBLE,
            params=uses,
            reason=f"no licensing test in force on {ctx.on}",
        )
    scope = ctx.param("licensing.scope", uses)
    cutoff = ctx.param("licensing.cutoff", uses)
    cutoff_d = cutoff if isinstance(cutoff, dt.date) else dt.date.fromisoformat(str(cutoff))
    indicators: dict[str, Any] = (
        ctx.param("licensing.indicators", uses) if mode == "indicators" else {}
    )
    receivers = _licence_receivers(ctx)
    licences = [l for r in sorted(receivers) for l in ctx.links_into(r, [LinkKind.LICENCE])]
    verdicts: list[Verdict] = []
    reasons: list[str] = []
    missing: list[str] = []
    unconfirmed: list[str] = []
    evidence: list[RuleTest] = []
    operators = {l.source for l in ctx.links_into(ctx.arr.focal, [LinkKind.OPERATION])}
    for l in licences:
        sfe = specified_foreign_entity(ctx.g, l.source, ctx.pfe)
        if sfe.verdict is Tri.FALSE:
            continue
        evidence += [t for t in sfe.tests if t.verdict is not Tri.FALSE]
        doubt_exists = l.unconfirmed and l.status.value == "reported"
        if l.uncertain:
            unconfirmed.append(l.id)
        terms = l.licence
        entered = (terms.modified or terms.signed) if terms else None
        if scope == "new":
            first = min((d for d in (l.valid_from, ctx.first_reported()) if d), default=None)
            if entered is not None and entered < cutoff_d:
                verdicts.append(Verdict.ELIGIBLE)
                reasons.append(
                    f"{l.id}: entered {entered}, before the cut-off {cutoff_d}: "
                    "existing licences are shielded"
                )
                continue
            if (
                entered is None
                and l.status.value != "proposed"
                and first is not None
                and first < cutoff_d
            ):
                verdicts.append(Verdict.ELIGIBLE)
                reasons.append(
                    f"{l.id}: signing date unknown, first reported {first}, "
                    f"before the cut-off {cutoff_d}"
                )
                missing.append(f"signing date of {l.id}")
                unconfirmed.append(l.id)
                continue
            if entered is None and l.status.value != "proposed":
                verdicts.append(Verdict.AT_RISK)
                reasons.append(
                    f"{l.id}: whether it was entered or modified on or after {cutoff_d} is unknown"
                )
                missing.append(f"signing or modification date of {l.id}")
                continue
        if mode == "any_covered_licence":
            v = (
                Verdict.AT_RISK
                if (doubt_exists or sfe.verdict is Tri.UNDETERMINED)
                else Verdict.NOT_ELIGIBLE
            )
            verdicts.append(v)
            reasons.append(
                f"{l.id}: technology licensed from {l.source}, an SFE"
                + (" (licence existence unconfirmed)" if doubt_exists else "")
            )
            continue
        # reported effective-control indicators
        if terms is not None and terms.ip_purchase and indicators.get("ip_purchase_exempt", True):
            verdicts.append(Verdict.ELIGIBLE)
            reasons.append(f"{l.id}: outright IP purchase")
            continue
        triggered, unknown = _indicators(l, indicators, ctx.arr.focal, operators)
        ind_unconfirmed = any(u.unconfirmed for u in uses if u.id == "licensing.indicators")
        if triggered:
            v = Verdict.AT_RISK if (ind_unconfirmed or doubt_exists) else Verdict.NOT_ELIGIBLE
            reasons.append(
                f"{l.id}: indicators of effective control: {', '.join(triggered)}"
                + (" (indicators UNCONFIRMED against the statute)" if ind_unconfirmed else "")
            )
        elif unknown:
            v = Verdict.AT_RISK
            reasons.append(f"{l.id}: licence from an SFE entered after the cut-off; terms unknown")
            missing += [f"{u} of {l.id}" for u in unknown]
        else:
            v = Verdict.ELIGIBLE
            reasons.append(f"{l.id}: no effective-control indicator")
        verdicts.append(v)
    if not verdicts:
        return Clause(
            id="licensing",
            title=title,
            clause=clause,
            verdict=Verdict.ELIGIBLE,
            params=uses,
            reason="no licence from an SFE into the producer or taxpayer",
        )
    return Clause(
        id="licensing",
        title=title,
        clause=clause,
        verdict=worst(verdicts),
        reason="; ".join(reasons),
        params=uses,
        evidence=evidence,
        links=[l.id for l in licences],
        missing=sorted(set(missing)),
        unconfirmed=sorted(set(unconfirmed)),
    )


def _indicators(
    l: Link, ind: dict[str, Any], focal: str, operators: set[str]
) -> tuple[list[str], list[str]]:
    """(triggered indicators, unknown terms) of a licence under the reported 2025 indicators."""
    t = l.licence
    triggered: list[str] = []
    unknown: list[str] = []
    roy_max, svc_max = ind.get("royalty_years_max"), ind.get("service_years_max")
    if roy_max is not None:
        if t is None or t.royalty_years is None:
            unknown.append("royalty term")
        elif t.royalty_years > float(roy_max):
            triggered.append(f"royalties for {t.royalty_years:g} years (> {roy_max})")
    if svc_max is not None:
        if t is None or t.service_years is None:
            unknown.append("service agreement term")
        elif t.service_years > float(svc_max):
            triggered.append(f"services for {t.service_years:g} years (> {svc_max})")
    controls = set(ind.get("licensor_controls", []))
    if t is not None:
        triggered += [f"licensor controls {c}" for c in t.licensor_controls if c in controls]
    if l.source in operators:
        triggered.append(f"the licensor operates {focal}")
    if ind.get("full_know_how_required", False):
        if t is None or t.know_how_transfer is KnowHowTransfer.UNKNOWN:
            unknown.append("know-how transfer")
        elif t.know_how_transfer is not KnowHowTransfer.FULL:
            triggered.append(f"know-how transfer {t.know_how_transfer.value}")
    return triggered, unknown


def _macr_clause(ctx: EvalContext) -> Clause:
    uses: list[ParamUse] = []
    title = "material-assistance cost ratio"
    clause = "§7701(a)(52) material assistance from a PFE; Notice 2026-15"
    if not ctx.param("pfe.in_force", uses):
        return Clause(
            id="material_assistance",
            title=title,
            clause=clause,
            decisive=False,
            verdict=Verdict.NOT_APPLICABLE,
            params=uses,
            reason=f"not in force on {ctx.on}",
        )
    table = ctx.param("macr.45x_battery", uses)
    hit = _year_table(table, ctx.on.year)
    if hit is None:
        return Clause(
            id="material_assistance",
            title=title,
            clause=clause,
            decisive=False,
            verdict=Verdict.NOT_APPLICABLE,
            params=uses,
            reason=f"no threshold for sales in {ctx.on.year}",
        )
    year, threshold = hit
    buyers = _licence_receivers(ctx)
    supplies = [
        l
        for b in sorted(buyers)
        for l in ctx.links_into(b, [LinkKind.SUPPLY])
        if l.share is not None
    ]
    if not supplies:
        return Clause(
            id="material_assistance",
            title=title,
            clause=clause,
            decisive=False,
            verdict=Verdict.AT_RISK,
            params=uses,
            reason=f"non-PFE share of direct material cost must be ≥ {threshold:.0%} "
            f"({year} table); "
            "supplier cost shares are not in the dataset",
            missing=["direct material cost shares by supplier (MACR)"],
        )
    pfe_lo = pfe_hi = known = 0.0
    for l in supplies:
        s = specified_foreign_entity(ctx.g, l.source, ctx.pfe).verdict
        iv = l.share_interval()
        known += iv.lo
        if s is Tri.TRUE:
            pfe_lo += iv.lo
            pfe_hi += iv.hi
        elif s is Tri.UNDETERMINED:
            pfe_hi += iv.hi
    unknown = max(0.0, 1.0 - known)
    ratio = Interval(max(0.0, 1.0 - pfe_hi - unknown), max(0.0, 1.0 - pfe_lo))
    tri = ratio.meets(threshold, inclusive=True)
    v = {
        Tri.TRUE: Verdict.ELIGIBLE,
        Tri.FALSE: Verdict.NOT_ELIGIBLE,
        Tri.UNDETERMINED: Verdict.AT_RISK,
    }[tri]
    return Clause(
        id="material_assistance",
        title=title,
        clause=clause,
        verdict=v,
        params=uses,
        decisive=tri is not Tri.UNDETERMINED,
        reason=f"non-PFE cost ratio {ratio} vs ≥ {threshold:.0%} ({year}); "
        f"{unknown:.0%} of cost not recorded",
        links=[l.id for l in supplies],
        unconfirmed=[l.id for l in supplies if l.uncertain],
        missing=["remaining supplier cost shares"] if tri is Tri.UNDETERMINED else [],
    )


def _credit_amount(
    ctx: EvalContext, creditable: set[str], uses: list[ParamUse]
) -> tuple[Amount | None, list[str]]:
    cap = ctx.arr.capacity
    if cap is None:
        return None, ["capacity (GWh)"]
    amounts: dict[str, float] = ctx.param("45x.amount_per_kwh", uses)
    cells = bool(creditable & {"cells", "storage"})
    modules = bool(creditable & {"modules", "packs"})
    if cells and modules:
        rate = float(amounts["cells"]) + float(amounts["modules"])
    elif cells:
        rate = float(amounts["cells"])
    elif modules:
        rate = float(amounts["modules_without_cells"])
    else:
        return None, ["production cost of materials (10% credit)"]
    hit = _year_table(ctx.param("45x.phase_down", uses), ctx.on.year)
    factor = 1.0 if hit is None else hit[1]
    lo, hi = cap.bounds()
    return Amount(min=lo * 1e6 * rate * factor, max=hi * 1e6 * rate * factor, unit="USD/year"), []


def _production_credit(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    why = _nexus(ctx, rule)
    if why:
        return _na(rule, why)
    uses: list[ParamUse] = []
    products = {p.value for p in ctx.arr.products}
    creditable = (
        products & set(ctx.param("45x.products", uses))
        if ctx.param("45x.in_force", uses)
        else set()
    )
    if not creditable:
        c = Clause(
            id="in_force",
            title="credit available for the products",
            clause=rule.clause,
            verdict=Verdict.NOT_ELIGIBLE,
            params=uses,
            reason=f"no §45X credit for {sorted(products)} on {ctx.on}",
        )
        return _finish(rule, [c], impact=1.0)
    clauses = [_taxpayer_clause(ctx), _licensing_clause(ctx), _macr_clause(ctx)]
    status = ctx.arr.status_on(ctx.on)
    if status is not None and status.status is ArrangementStatus.CANCELLED:
        clauses.append(
            Clause(
                id="status",
                title="project status",
                clause="—",
                decisive=False,
                verdict=Verdict.NOT_APPLICABLE,
                reason=f"cancelled on {status.date}: no production to credit",
            )
        )
    credit, missing = _credit_amount(ctx, creditable, uses)
    out = _finish(
        rule,
        clauses,
        impact=1.0 - RETAINED[worst(c.verdict for c in clauses if c.decisive)],
        credit=credit,
    )
    out.missing = sorted({*out.missing, *missing})
    out.clauses[0].params = [*uses, *out.clauses[0].params]
    return out


# --------------------------------------------------------------------------- §30D


def _feoc_closure(ctx: EvalContext, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    def make() -> tuple[np.ndarray, np.ndarray]:
        c = threshold_closure(
            ctx.g.control, covered_parties(ctx.g, ctx.pfe), threshold, inclusive=True
        )
        return c.certain, c.possible

    return ctx.g.shared(f"feoc:{threshold}:{sorted(ctx.pfe.covered_nations)}", make)


def _vehicle_credit(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    why = _nexus(ctx, rule)
    if why:
        return _na(rule, why)
    uses: list[ParamUse] = []
    if not ctx.param("30d.available", uses):
        out = _na(
            rule, f"the credit is terminated on {ctx.on} (vehicles acquired after 2025-09-30)"
        )
        out.sources = sorted({*out.sources, *(s for u in uses for s in u.sources)})
        return out
    start = ctx.param("30d.feoc_components_from", uses)
    start_d = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
    if ctx.on < start_d:
        c = Clause(
            id="feoc_components",
            title="battery components not made by a FEOC",
            clause=rule.clause,
            verdict=Verdict.ELIGIBLE,
            params=uses,
            reason=f"the FEOC component exclusion starts {start_d}",
        )
        return _finish(rule, [c], impact=0.0)
    t = float(ctx.param("feoc.gov_threshold", uses))
    ctx.param("covered_nations", uses)
    certain, possible = _feoc_closure(ctx, t)
    makers = ctx.producers()
    verdicts: list[Verdict] = []
    reasons: list[str] = []
    for m in makers:
        i = ctx.g.index[m]
        if certain[i]:
            verdicts.append(Verdict.NOT_ELIGIBLE)
            reasons.append(
                f"{m} makes the components and is a FEOC "
                f"(covered-nation party or ≥ {t:.0%} held by them)"
            )
        elif possible[i]:
            verdicts.append(Verdict.AT_RISK)
            reasons.append(f"{m} may be a FEOC (ranged holdings)")
    feoc_lic = [
        l
        for r in sorted(_licence_receivers(ctx))
        for l in ctx.links_into(r, [LinkKind.LICENCE])
        if possible[ctx.g.index[l.source]]
    ]
    if feoc_lic:
        verdicts.append(Verdict.AT_RISK)
        reasons.append(
            "licence from a FEOC: DOE 2024 says licences can give effective control; "
            f"terms decide ({', '.join(l.id for l in feoc_lic)})"
        )
    c = Clause(
        id="feoc_components",
        title="battery components not made by a FEOC",
        clause=rule.clause,
        verdict=worst(verdicts) if verdicts else Verdict.ELIGIBLE,
        params=uses,
        reason="; ".join(reasons) or f"no FEOC among the makers {makers}",
        links=[l.id for l in feoc_lic],
        unconfirmed=[l.id for l in feoc_lic if l.uncertain],
        missing=[f"licence terms of {l.id}" for l in feoc_lic],
    )
    # vehicle credits accrue to buyers of vehicles, not to the plant: half weight
    return _finish(rule, [c], impact=0.5 * (1.0 - RETAINED[c.verdict]))


# --------------------------------------------------------------------------- lists


def _list_effects(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    why = _nexus(ctx, rule)
    if why:
        return _na(rule, why)
    side = set(ctx.producer_side())
    others = {p.entity for p in ctx.arr.parties} - side
    clauses: list[Clause] = []
    for lst in ctx.pack.lists:
        listed = ctx.g.dataset.listed_on(lst.id, ctx.on)
        if not listed:
            continue
        for eff in lst.effects:
            if eff.effect == "sfe" or (eff.effective_to and eff.effective_to < ctx.on):
                continue
            uses: list[ParamUse] = []
            if eff.switch and not ctx.param(eff.switch, uses):
                continue
            affected = set(listed)
            if eff.scope == "affiliates_50":
                affected = _affiliates(ctx, lst.id, listed)
            future = eff.effective_from is not None and eff.effective_from > ctx.on
            when = f"from {eff.effective_from}" if future else "in force"
            for x in sorted(affected & side):
                clauses.append(
                    Clause(
                        id=f"{lst.id}:{eff.effect}:{x}",
                        title=f"{lst.id} {eff.effect}",
                        clause=eff.clause,
                        verdict=Verdict.AT_RISK if future else Verdict.NOT_ELIGIBLE,
                        params=uses,
                        reason=f"{x} (producer side) is on {lst.id}; {eff.effect} {when}",
                        impact=0.5 if future else 1.0,
                        unconfirmed=[x] if eff.unconfirmed else [],
                    )
                )
            for x in sorted(affected & others):
                clauses.append(
                    Clause(
                        id=f"{lst.id}:{eff.effect}:{x}",
                        title=f"{lst.id} {eff.effect}",
                        clause=eff.clause,
                        verdict=Verdict.AT_RISK,
                        params=uses,
                        impact=0.25,
                        reason=f"{x} ({_roles(ctx, x)}) is on {lst.id}; {eff.effect} {when} "
                        "reaches the "
                        "arrangement only indirectly",
                    )
                )
    if not clauses:
        clauses.append(
            Clause(
                id="lists",
                title="no party on a list with effects",
                clause=rule.clause,
                verdict=Verdict.ELIGIBLE,
                reason="no party or controller is listed",
            )
        )
    return _finish(rule, clauses, impact=max(c.impact for c in clauses))


def _affiliates(ctx: EvalContext, list_id: str, listed: set[str]) -> set[str]:
    """Listed entities and those ≥ 50% owned by them, aggregated (OFAC FAQ 401 / BIS 2025)."""

    def make() -> set[str]:
        c = threshold_closure(ctx.g.equity, ctx.g.mask(listed), 0.5, inclusive=True)
        return {ctx.g.ids[i] for i in np.flatnonzero(c.possible)}

    return ctx.g.cached(f"affiliates:{list_id}", make)


def _roles(ctx: EvalContext, eid: str) -> str:
    return ", ".join(sorted({p.role for p in ctx.arr.parties if p.entity == eid})) or "party"


# --------------------------------------------------------------------------- tariff


def _tariff(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    why = _nexus(ctx, rule)
    if why:
        return _na(rule, why)
    covered = ctx.pfe.covered_nations
    side = set(ctx.producer_side())
    imports = [
        l
        for x in sorted(side)
        for l in ctx.links_into(x, [LinkKind.SUPPLY, LinkKind.OFFTAKE])
        if ctx.g.entity(l.source).country in covered
    ]
    if not imports:
        return _na(
            rule, "no import of batteries from a covered nation recorded for the producer side"
        )
    uses: list[ParamUse] = []
    storage_only = {p.value for p in ctx.arr.products} <= {"storage"}
    rate = float(
        ctx.param(
            "tariff.301.non_ev_batteries" if storage_only else "tariff.301.ev_batteries", uses
        )
    )
    c = Clause(
        id="section_301",
        title="§301 tariff on imports",
        clause=rule.clause,
        verdict=Verdict.AT_RISK,
        params=uses,
        links=[l.id for l in imports],
        reason=f"imports from a covered nation pay {rate:.1%} (§301)",
        impact=min(1.0, rate / 0.25) * 0.5,
    )
    return _finish(rule, [c], impact=c.impact)


EVALUATORS: dict[str, Callable[[EvalContext, RuleInstance], RuleOutcome]] = {
    "production_credit": _production_credit,
    "vehicle_credit": _vehicle_credit,
    "list_effects": _list_effects,
    "tariff": _tariff,
}


def evaluate_pack(ctx: EvalContext, cache: RuleCache | None = None) -> list[RuleOutcome]:
    """Every rule of the pack for the context's arrangement and date (reusing outcomes from
    ``cache`` where the rule read the same parameter values)."""
    out = []
    for rule in ctx.pack.rules:
        fn = EVALUATORS.get(rule.kind)
        if fn is None:
            raise KeyError(
                f"policy pack {ctx.pack.pack.id!r}: rule {rule.id!r} has unknown kind "
                f"{rule.kind!r}; known kinds: {sorted(EVALUATORS)}"
            )
        out.append(_evaluate(ctx, rule, fn) if cache is None else cache.outcome(ctx, rule, fn))
    return out


Evaluator = Callable[[EvalContext, RuleInstance], RuleOutcome]


def _evaluate(ctx: EvalContext, rule: RuleInstance, fn: Evaluator) -> RuleOutcome:
    try:
        return fn(ctx, rule)
    except KeyError as exc:  # the pack has no value of a parameter on that date
        reason = str(exc.args[0]) if exc.args else str(exc)
        return _na(rule, f"the pack records no rule in force: {reason}")


@dataclass(frozen=True)
class _Recorded:
    rule: RuleInstance
    lists: list[Any]
    reads: tuple[tuple[str, Any], ...]  # (parameter id, variant in force or None)
    outcome: RuleOutcome


@dataclass
class RuleCache:
    """Rule outcomes reused across scenarios whose overrides leave a rule's inputs unchanged.

    A rule's outcome is a function of the graph (dataset version and date), the arrangement,
    the date, the rule instance, the pack's lists and the pack parameters it reads — and of
    nothing else of the pack. While a rule is evaluated its context records the ids of the
    parameters it reads (:meth:`EvalContext.param`, and :data:`PFE_PARAMS` through
    :attr:`EvalContext.pfe`); the outcome is stored with the variants in force of those
    parameters. A scenario's pack that has the same rule instance and lists and the same
    variants of every recorded parameter (value, dates, sources, marks) follows the same path
    through the rule's code, so it gets the stored outcome. Of the 24 rule evaluations of a
    score under the six shipped scenarios, about half are reused (a scenario overrides one or
    two parameters, which most rules do not read).
    """

    max_keys: int = 4096
    _entries: dict[tuple[str, str, dt.date, str], list[_Recorded]] = field(
        default_factory=dict, repr=False
    )
    #: variants in force per (pack, date), memoized: (the pack, parameter id → variant or None)
    _variants: dict[tuple[int, dt.date], tuple[PolicyPack, dict[str, Any]]] = field(
        default_factory=dict, repr=False
    )

    def _variant(self, pack: PolicyPack, pid: str, on: dt.date) -> Any:
        got = self._variants.get((id(pack), on))
        if got is None or got[0] is not pack:  # the pack is held: its id is not reused
            got = self._variants[(id(pack), on)] = (pack, {})
        memo = got[1]
        if pid not in memo:
            memo[pid] = pack.maybe(pid, on)
        return memo[pid]

    def outcome(self, ctx: EvalContext, rule: RuleInstance, fn: Evaluator) -> RuleOutcome:
        key = (ctx.g.dataset.version, ctx.arr.id, ctx.on, rule.id)
        pack, on = ctx.pack, ctx.on
        recorded = self._entries.get(key)
        for r in recorded or ():
            if (
                r.rule is rule
                and r.lists is pack.lists
                and all(self._variant(pack, pid, on) == v for pid, v in r.reads)
            ):
                return r.outcome
        reads: set[str] = set()
        outer, ctx._reads = ctx._reads, reads
        try:
            out = _evaluate(ctx, rule, fn)
        finally:
            ctx._reads = outer
        if outer is not None:
            outer |= reads
        if recorded is None:
            if len(self._entries) >= self.max_keys:
                self._entries.clear()
                self._variants.clear()
            recorded = self._entries[key] = []
        variants = tuple((pid, self._variant(pack, pid, on)) for pid in sorted(reads))
        recorded.append(_Recorded(rule, pack.lists, variants, out))
        return out
