"""The ``list_effects`` rule kind: what the pack's restricted-party lists do to an arrangement.

Every effect of every list in the pack (1260H contracting bans, §154 DoD battery ban, UFLPA
import ban, BIS affiliates, OFAC 50%) on the producer side (operator/owner, taxpayer and their
controllers: impact 1 when in force, 0.5 when dated in the future) and on other parties
(licensor, supplier: indirect, impact 0.25). The ``sfe`` effects are not judged here: they
feed the PFE tests of :mod:`.production_credit`.
"""

from __future__ import annotations

import hashlib

import numpy as np

from georisk.scoring.policy import RuleInstance
from georisk.scoring.rules.context import EvalContext, nexus
from georisk.scoring.rules.outcome import (
    Clause,
    ParamUse,
    RuleOutcome,
    Verdict,
    finish,
    not_applicable,
)

__all__ = ["evaluate"]


def evaluate(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """Every effect of the pack's lists on the arrangement's parties on the context's date."""
    why = nexus(ctx, rule)
    if why:
        return not_applicable(rule, why)
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
    return finish(rule, clauses, impact=max(c.impact for c in clauses))


def _affiliates(ctx: EvalContext, list_id: str, listed: set[str]) -> set[str]:
    """Listed entities and those owned at least ``lists.affiliates_threshold`` (50%: OFAC FAQ
    401 / BIS 2025) by them, aggregated and through tiers."""
    threshold = float(ctx.param("lists.affiliates_threshold"))

    def make() -> set[str]:
        # equity closure from the members listed on the date (the key names them: the
        # closure is shared by the date views of one link set); an overlay's graph updates
        # the base's
        members = hashlib.sha256("\n".join(sorted(listed)).encode()).hexdigest()[:16]
        c = ctx.g.closure(
            f"affiliates:{list_id}:{members}:{threshold}",
            ctx.g.mask(listed),
            threshold,
            inclusive=True,
            control=False,
        )
        return {ctx.g.ids[i] for i in np.flatnonzero(c.possible)}

    return ctx.g.cached(f"affiliates:{list_id}:{threshold}", make)


def _roles(ctx: EvalContext, eid: str) -> str:
    return ", ".join(sorted({p.role for p in ctx.arr.parties if p.entity == eid})) or "party"
