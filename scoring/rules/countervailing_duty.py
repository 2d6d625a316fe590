"""The ``countervailing_duty`` rule kind: producer-specific duties on imports of a product of a
given origin, and the price undertakings that replace them (the EU's definitive duty on new
battery electric vehicles from China, Implementing Regulation (EU) 2024/2754, from 30-10-2024 for
five years; the VW Anhui undertaking, IR (EU) 2026/330; ``eu-uk.md`` §6).

It reaches an arrangement that makes the instance's ``products`` (vehicles) in a country of
``origin`` and places them on the rule's ``markets``. Each producer's rate is that of its group
(``facts.duty_groups`` under the instance's ``measure``; the pack's ``rates``); a producer with
no group recorded pays the ``default_group``'s rate, said to be assumed, and its group is named
as missing. An accepted undertaking in force (``facts.undertakings``) replaces the duty for its
models (all models when it names none); ``mfn`` (the 10% customs duty) remains and is said.

Worked examples: BYD-group BEVs from China: "duty 17.0% (BYD group) on top of the 10% MFN duty";
Zaragoza's cells, made in Spain: not applicable (no China-origin BEV).
"""

from __future__ import annotations

from collections.abc import Mapping

from georisk.scoring.policy import RuleInstance
from georisk.scoring.rules.context import (
    EvalContext,
    gate,
    kind_param,
    kind_text,
)
from georisk.scoring.rules.outcome import (
    Clause,
    ParamUse,
    RuleOutcome,
    Verdict,
    finish,
    not_applicable,
)
from georisk.scoring.rules.tariff import duty_impact  # the scale of the US tariff kind
from georisk.scoring.wording import named, pct, prose_list

__all__ = ["evaluate"]


def evaluate(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """The duty each producer's imports of the arrangement's product pay on the date."""
    uses: list[ParamUse] = []
    out = gate(ctx, rule, uses)
    if out is not None:
        return out
    origin = set(kind_param(ctx, rule, "origin", uses))
    if ctx.arr.country not in origin:
        return not_applicable(
            rule,
            f"no nexus: made in {ctx.arr.country}, the duty reaches products originating in "
            f"{prose_list(sorted(origin))}",
        )
    placed = {c for m in ctx.arr.markets for c in m.countries}
    if rule.markets and not placed & set(rule.markets):
        return not_applicable(rule, "no import into the duty's markets recorded")
    text = kind_text(ctx, rule)
    rates = kind_param(ctx, rule, "rates", uses)
    default = str(kind_param(ctx, rule, "default_group", uses))
    measure = str(kind_param(ctx, rule, "measure", uses))
    mfn_id = rule.params.get("mfn", f"{rule.kind}.mfn")
    mfn = float(ctx.param(mfn_id, uses)) if mfn_id in ctx.pack.parameters else None
    if not isinstance(rates, Mapping) or default not in rates:
        raise ValueError(f"rule {rule.id}: rates must map groups to rates, with {default!r}")
    ents = ctx.g.dataset.entities
    clauses = []
    used = {x for m in ctx.arr.markets for x in m.sources}  # the dataset sources of the facts read
    for p in ctx.producers():
        e = ents.get(p)
        facts = e.facts if e is not None else None
        groups = [
            g
            for g in (facts.duty_groups if facts else [])
            if g.measure == measure and g.active(ctx.on)
        ]
        unds = [
            u
            for u in (facts.undertakings if facts else [])
            if u.measure == measure and u.active(ctx.on)
        ]
        used.update(x for r in (*groups[:1], *unds[:1]) for x in r.sources)
        group = groups[0].group if groups else default
        if group not in rates:
            raise ValueError(f"rule {rule.id}: no rate for group {group!r}")
        rate = float(rates[group])
        mfn_words = f" on top of the {pct(mfn)} MFN duty" if mfn is not None else ""
        marks = [f"duty group of {named(ents, p)}"] if groups and groups[0].unconfirmed else []
        missing = [] if groups else [f"duty group of {named(ents, p)} under {measure}"]
        assumed = "" if groups else " (assumed: no group recorded)"
        if unds:
            u = unds[0]
            models = prose_list(u.models) if u.models else "all its models"
            verdict = Verdict.ELIGIBLE if not u.models else Verdict.AT_RISK
            reason = (
                f"{named(ents, p)}: undertaking accepted {u.accepted} for {models}: the "
                f"minimum price applies instead of the duty"
                + (f"; other models pay {pct(rate)}" if u.models else "")
                + (f"; the {pct(mfn)} MFN duty remains" if mfn is not None else "")
            )
            outcome = f"duty 0% under the undertaking ({models})" + (
                f", else {pct(rate)}" if u.models else ""
            )
            impact = 0.0 if not u.models else duty_impact(rate) / 2
        else:
            verdict = Verdict.NOT_ELIGIBLE
            reason = f"{named(ents, p)} ({group} group{assumed}) pays {pct(rate)}{mfn_words}" + (
                f" ({text.cite})" if text.cite else ""
            )
            outcome = f"duty {pct(rate)}"
            impact = duty_impact(rate)
        clauses.append(
            Clause(
                id=f"duty:{p}",
                title=text.title,
                clause=text.clause or rule.clause,
                verdict=verdict,
                reason=reason,
                params=uses,
                missing=missing,
                unconfirmed=marks,
                outcome=outcome,
                impact=impact,
            )
        )
    top = max(clauses, key=lambda c: c.impact)
    return finish(rule, clauses, impact=top.impact, outcome=top.outcome, fact_sources=used)
