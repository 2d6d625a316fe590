"""The ``vehicle_credit`` rule kind (US §30D): FEOC exclusions of a vehicle credit.

Terminated for vehicles acquired after the pack's ``30d.available`` turns false (then *not
applicable*); before: battery components made by a FEOC (DOE 2024: organized in a covered
nation, or ≥ 25% of board, votes or equity held by covered-nation parties) disqualify; a FEOC
licence puts it at risk.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from georisk.scoring.control import covered_parties
from georisk.scoring.model import LinkKind
from georisk.scoring.policy import RuleInstance
from georisk.scoring.rules.context import EvalContext, nexus
from georisk.scoring.rules.outcome import (
    RETAINED,
    Clause,
    ParamUse,
    RuleOutcome,
    Verdict,
    finish,
    not_applicable,
    worst,
)
from georisk.scoring.wording import named, named_list, prose_list

__all__ = ["evaluate"]


def _feoc_closure(ctx: EvalContext, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    # the control closure from the covered parties, under the key of the foreign-controlled
    # chain (control.pfe): one computation per graph when the thresholds agree, and an
    # overlay's graph updates the base's instead of recomputing it
    key = f"fce-chain:{sorted(ctx.pfe.covered_nations)}:{threshold}:True"
    c = ctx.g.closure(key, covered_parties(ctx.g, ctx.pfe), threshold, inclusive=True, control=True)
    return c.certain, c.possible


def evaluate(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """The §30D-style vehicle credit's FEOC component exclusion on the context's date."""
    why = nexus(ctx, rule)
    if why:
        return not_applicable(rule, why)
    uses: list[ParamUse] = []
    if not ctx.param("30d.available", uses):
        ended = uses[-1].effective_from  # the day the variant "not available" starts
        after = f" (vehicles acquired after {ended - dt.timedelta(days=1)})" if ended else ""
        out = not_applicable(rule, f"the credit is terminated on {ctx.on}{after}")
        out.sources = sorted({*out.sources, *(s for u in uses for s in u.sources)})
        return out
    text = ctx.text("30d.text.feoc_components")
    start = ctx.param("30d.feoc_components_from", uses)
    start_d = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
    if ctx.on < start_d:
        c = Clause(
            id="feoc_components",
            title=text.title,
            clause=text.clause or rule.clause,
            verdict=Verdict.ELIGIBLE,
            params=uses,
            reason=f"the FEOC component exclusion starts {start_d}",
        )
        return finish(rule, [c], impact=0.0)
    t = float(ctx.param("feoc.gov_threshold", uses))
    ctx.param("covered_nations", uses)
    certain, possible = _feoc_closure(ctx, t)
    makers = ctx.producers()
    ents = ctx.g.dataset.entities
    verdicts: list[Verdict] = []
    reasons: list[str] = []
    for m in makers:
        i = ctx.g.index[m]
        if certain[i]:
            verdicts.append(Verdict.NOT_ELIGIBLE)
            reasons.append(
                f"{named(ents, m)} makes the components and is a FEOC "
                f"(covered-nation party or ≥ {t:.0%} held by them)"
            )
        elif possible[i]:
            verdicts.append(Verdict.AT_RISK)
            reasons.append(f"{named(ents, m)} may be a FEOC (ranged holdings)")
    feoc_lic = [
        l
        for r in sorted(ctx.receivers())
        for l in ctx.links_into(r, [LinkKind.LICENCE])
        if possible[ctx.g.index[l.source]]
    ]
    if feoc_lic:
        verdicts.append(Verdict.AT_RISK)
        why = text.phrases.get("licence_control")
        reasons.append(
            "licence from a FEOC"
            + (f": {why}" if why else "")
            + "; terms decide ("
            + prose_list(f"licence {l.id} from {named(ents, l.source)}" for l in feoc_lic)
            + ")"
        )
    c = Clause(
        id="feoc_components",
        title=text.title,
        clause=text.clause or rule.clause,
        verdict=worst(verdicts) if verdicts else Verdict.ELIGIBLE,
        params=uses,
        reason="; ".join(reasons)
        or f"no FEOC among the makers of the components ({named_list(ents, makers)})",
        links=[l.id for l in feoc_lic],
        unconfirmed=[l.id for l in feoc_lic if l.uncertain],
        missing=[f"licence terms of {l.id}" for l in feoc_lic],
    )
    # vehicle credits accrue to buyers of vehicles, not to the plant: half weight
    return finish(rule, [c], impact=0.5 * (1.0 - RETAINED[c.verdict]))
