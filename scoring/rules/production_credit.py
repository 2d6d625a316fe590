"""The ``production_credit`` rule kind (US §45X): a production credit and its entity tests.

nexus (location, products) → the credit is in force for the products → clauses: *taxpayer*
(not an SFE, not an FIE — §7701(a)(51)), *licensing* (no effective control by an SFE licensor —
the reported 2025 indicators, or the House text's blanket bar in a scenario), *material
assistance* (the cost ratio, decided only when supplier cost shares are in the data).
Estimated annual credit = capacity (GWh) × 10⁶ kWh/GWh × $/kWh × phase-down factor.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from georisk.scoring.control import (
    RuleTest,
    foreign_influenced,
    pfe_sentence,
    specified_foreign_entity,
)
from georisk.scoring.interval import Interval, Tri
from georisk.scoring.model import ArrangementStatus, KnowHowTransfer, Link, LinkKind
from georisk.scoring.policy import RuleInstance
from georisk.scoring.rules.context import EvalContext, nexus, year_table
from georisk.scoring.rules.outcome import (
    RETAINED,
    Amount,
    Clause,
    ParamUse,
    RuleOutcome,
    Verdict,
    finish,
    not_applicable,
    worst,
)
from georisk.scoring.wording import named, prose_list, usd, usd_range

__all__ = ["evaluate"]


def _taxpayer_clause(ctx: EvalContext) -> Clause:
    uses: list[ParamUse] = []
    text = ctx.text("45x.text.taxpayer_pfe")
    title, clause = text.title, text.clause or ""
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
    for pid in ("pfe.fce_threshold", "pfe.fce_semantics"):
        ctx.param(pid, uses)
    fie_in_force = bool(ctx.param("pfe.fie_bar_in_force", uses))
    if fie_in_force:
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
    unconfirmed = sorted({u for t in tests for u in t.depends_on_unconfirmed})
    return Clause(
        id="taxpayer_pfe",
        title=title,
        clause=clause,
        verdict=verdict,
        # names first, why the taxpayer (and each SFE holder) is an SFE: "Gotion Inc.
        # [gotion-inc] is an SFE (controlled by …) and an FIE: Gotion High-Tech … holds 100%"
        reason=pfe_sentence(ctx.g, tp, ctx.pfe, fie=fie_in_force),
        params=uses,
        evidence=tests,
        unconfirmed=unconfirmed,
    )


def _licensing_clause(ctx: EvalContext) -> Clause:
    """Licences from an SFE (or possible SFE) into the producer side, each tested on its terms.

    With ``licensing.scope`` ``new``, a licence entered before ``licensing.cutoff`` is
    shielded, and so is one whose signing date is unknown but which was first reported before
    the cut-off. A licence whose date is unknown otherwise is still tested on its terms: terms
    that pass clear it whatever the date; terms that fail (or are unknown) leave it at risk, with
    the signing or modification date named as a missing fact. A proposed licence is said to be
    proposed: it would be entered after the cut-off.
    """
    uses: list[ParamUse] = []
    text = ctx.text("45x.text.licensing")
    title, clause = text.title, text.clause or ""
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
    ind_unconfirmed = any(u.unconfirmed for u in uses if u.id == "licensing.indicators")
    receivers = ctx.receivers()
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
        lead = f"licence {l.id} from {named(ctx.g.dataset.entities, l.source)}"
        evidence += [t for t in sfe.tests if t.verdict is not Tri.FALSE]
        if l.uncertain:
            unconfirmed.append(l.id)
        terms = l.licence
        entered = (terms.modified or terms.signed) if terms else None
        proposed = l.status.value == "proposed"
        timing = ""  # how the licence's date places it against the cut-off
        date_unknown = False
        if scope == "new":
            first = min((d for d in (l.valid_from, ctx.first_reported()) if d), default=None)
            if entered is not None and entered < cutoff_d:
                verdicts.append(Verdict.ELIGIBLE)
                reasons.append(
                    f"{lead}: entered {entered}, before the cut-off {cutoff_d}: "
                    "existing licences are shielded"
                )
                continue
            if entered is None and not proposed and first is not None and first < cutoff_d:
                verdicts.append(Verdict.ELIGIBLE)
                reasons.append(
                    f"{lead}: signing date unknown, first reported {first}, "
                    f"before the cut-off {cutoff_d}"
                )
                missing.append(f"signing date of {l.id}")
                unconfirmed.append(l.id)
                continue
            if entered is not None:
                timing = f"entered {entered}, on or after the cut-off {cutoff_d}"
            elif proposed:
                timing = (
                    f"proposed, not yet entered: it would be entered after the cut-off {cutoff_d}"
                )
            else:
                date_unknown = True
                timing = f"whether it was entered or modified on or after {cutoff_d} is unknown"
        v, why, unknown_terms = _licence_terms(
            ctx, l, sfe.verdict, mode, indicators, ind_unconfirmed, operators
        )
        missing += [f"{u} of {l.id}" for u in unknown_terms]
        if date_unknown and v is Verdict.ELIGIBLE:
            reasons.append(f"{lead}: {timing}, but its terms pass either way: {why}")
        elif date_unknown:
            # the terms fail or are unknown: the date decides whether they are tested at all
            v = Verdict.AT_RISK
            reasons.append(f"{lead}: {timing}; if it was: {why}")
            missing.append(f"signing or modification date of {l.id}")
        else:
            reasons.append(f"{lead}: " + (f"{timing}; " if timing else "") + why)
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


def _licence_terms(
    ctx: EvalContext,
    l: Link,
    sfe: Tri,
    mode: str,
    indicators: dict[str, Any],
    ind_unconfirmed: bool,
    operators: set[str],
) -> tuple[Verdict, str, list[str]]:
    """(verdict, why, unknown terms) of a licence from an SFE tested on its terms under
    ``licensing.mode``: any covered licence fails (House text), or the reported indicators."""
    doubt_exists = l.unconfirmed and l.status.value == "reported"
    if mode == "any_covered_licence":
        v = Verdict.AT_RISK if (doubt_exists or sfe is Tri.UNDETERMINED) else Verdict.NOT_ELIGIBLE
        return (
            v,
            f"technology licensed from {l.source}, an SFE"
            + (" (licence existence unconfirmed)" if doubt_exists else ""),
            [],
        )
    terms = l.licence
    if terms is not None and terms.ip_purchase and indicators.get("ip_purchase_exempt", True):
        return Verdict.ELIGIBLE, "outright IP purchase", []
    triggered, unknown = _indicators(
        l, indicators, named(ctx.g.dataset.entities, ctx.arr.focal), operators
    )
    if triggered:
        v = Verdict.AT_RISK if (ind_unconfirmed or doubt_exists) else Verdict.NOT_ELIGIBLE
        return (
            v,
            f"indicators of effective control: {prose_list(triggered)}"
            + (" (indicators UNCONFIRMED against the statute)" if ind_unconfirmed else ""),
            [],
        )
    if unknown:
        return Verdict.AT_RISK, f"its terms are unknown ({prose_list(unknown)})", unknown
    return Verdict.ELIGIBLE, "no effective-control indicator in its terms", []


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
        triggered += [
            f"the licensor controls {c.replace('_', ' ')}"
            for c in t.licensor_controls
            if c in controls
        ]
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
    text = ctx.text("45x.text.material_assistance")

    def clause(verdict: Verdict, reason: str, **more: Any) -> Clause:
        more.setdefault("decisive", False)
        return Clause(
            id="material_assistance",
            title=text.title,
            clause=text.clause or "",
            verdict=verdict,
            params=uses,
            reason=reason,
            **more,
        )

    if not ctx.param("pfe.in_force", uses):
        return clause(Verdict.NOT_APPLICABLE, f"not in force on {ctx.on}")
    table = ctx.param("macr.45x_battery", uses)
    hit = year_table(table, ctx.on.year)
    if hit is None:
        return clause(Verdict.NOT_APPLICABLE, f"no threshold for sales in {ctx.on.year}")
    year, threshold = hit
    buyers = ctx.receivers()
    supplies = [
        l
        for b in sorted(buyers)
        for l in ctx.links_into(b, [LinkKind.SUPPLY])
        if l.share is not None
    ]
    if not supplies:
        return clause(
            Verdict.AT_RISK,
            f"non-PFE share of direct material cost must be ≥ {threshold:.0%} ({year} table); "
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
    return clause(
        v,
        f"non-PFE cost ratio {ratio} vs ≥ {threshold:.0%} ({year}); "
        f"{unknown:.0%} of cost not recorded",
        decisive=tri is not Tri.UNDETERMINED,
        links=[l.id for l in supplies],
        unconfirmed=[l.id for l in supplies if l.uncertain],
        missing=["remaining supplier cost shares"] if tri is Tri.UNDETERMINED else [],
    )


def _credit_amount(
    ctx: EvalContext, creditable: set[str], uses: list[ParamUse]
) -> tuple[Amount | None, list[str]]:
    """The estimated annual credit for the battery products made on site, and what it misses.

    Cells made on site earn the cell rate (``cells``, $35/kWh) on the capacity. Modules, packs
    and storage systems are assembled from battery cells: modules made on site earn the rate of a
    module using cells (``modules``, $10/kWh), never that of a module without cells
    (``modules_without_cells``, $45/kWh: no arrangement product records one); a pack or
    storage system itself earns nothing beyond its modules (the pack's ``45x.products`` note).
    ASSUMPTIONS, as the data records one capacity: with cells made on site, between none and all
    of them are assembled into modules on site (the module rate adds 0 to the full capacity);
    with bought-in cells, the capacity is that of the modules assembled on site.
    """
    cap = ctx.arr.capacity
    if cap is None:
        return None, ["capacity (GWh)"]
    amounts: dict[str, float] = ctx.param("45x.amount_per_kwh", uses)
    cells = "cells" in creditable
    assembled = bool(creditable & {"modules", "packs", "storage"})
    if not (cells or assembled):
        return None, ["production cost of materials (10% credit)"]
    cell_rate = float(amounts["cells"]) if cells else 0.0
    module_rate = float(amounts["modules"]) if assembled else 0.0
    lo, hi = cap.bounds()
    gwh = f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"
    if cells and assembled:
        lo_rate, hi_rate = cell_rate, cell_rate + module_rate
        basis = (
            f"{gwh} GWh × ${cell_rate:g}/kWh for cells made on site, plus ${module_rate:g}/kWh "
            "on the part of them assembled into modules on site, between none and all "
            "(not recorded)"
        )
    elif cells:
        lo_rate = hi_rate = cell_rate
        basis = f"{gwh} GWh × ${cell_rate:g}/kWh for cells made on site"
    else:
        lo_rate = hi_rate = module_rate
        basis = (
            f"{gwh} GWh × ${module_rate:g}/kWh for modules assembled on site from battery "
            "cells made elsewhere"
        )
    hit = year_table(ctx.param("45x.phase_down", uses), ctx.on.year)
    factor = 1.0 if hit is None else hit[1]
    if hit is not None and factor < 1.0:
        basis += f" × {factor:.0%} (phase-down for {ctx.on.year})"
    amount = Amount(
        min=lo * 1e6 * lo_rate * factor,
        max=hi * 1e6 * hi_rate * factor,
        unit="USD/year",
        basis=basis,
        reported=ctx.arr.reported_credit,
    )
    return amount, []


def _credit_words(credit: Amount) -> str:
    """``estimated credit $700M a year (basis); reported: $900M a year [p11]``."""
    text = f"estimated credit {usd_range(credit.min, credit.max)} a year ({credit.basis})"
    r = credit.reported
    if r is not None:
        text += f"; reported: {usd(r.usd_per_year)} a year [{', '.join(r.sources)}]" + (
            " (UNCONFIRMED)" if r.unconfirmed else ""
        )
    return text


def evaluate(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """The §45X-style production credit for the context's arrangement and date."""
    why = nexus(ctx, rule)
    if why:
        return not_applicable(rule, why)
    uses: list[ParamUse] = []
    products = {p.value for p in ctx.arr.products}
    creditable = (
        products & set(ctx.param("45x.products", uses))
        if ctx.param("45x.in_force", uses)
        else set()
    )
    if not creditable:
        text = ctx.text("45x.text.in_force")
        c = Clause(
            id="in_force",
            title=text.title,
            clause=text.clause or rule.clause,
            verdict=Verdict.NOT_ELIGIBLE,
            params=uses,
            reason=f"no {text.cite or 'credit'} credit for {prose_list(sorted(products))} "
            f"on {ctx.on}",
        )
        return finish(rule, [c], impact=1.0)
    # each clause reads only the context: reused across scenarios that leave its parameters
    clauses = [
        ctx.part("45x:taxpayer", partial(_taxpayer_clause, ctx)),
        ctx.part("45x:licensing", partial(_licensing_clause, ctx)),
        ctx.part("45x:macr", partial(_macr_clause, ctx)),
    ]
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
    out = finish(
        rule,
        clauses,
        impact=1.0 - RETAINED[worst(c.verdict for c in clauses if c.decisive)],
        credit=credit,
    )
    out.missing = sorted({*out.missing, *missing})
    if credit is not None:
        out.reason = f"{out.reason}; {_credit_words(credit)}"
    first = out.clauses[0]  # shared with other scenarios' outcomes (ctx.part): a copy
    out.clauses[0] = first.model_copy(update={"params": [*uses, *first.params]})
    return out
