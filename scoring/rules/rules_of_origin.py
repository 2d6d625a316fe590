"""The ``rules_of_origin`` rule kind: preferential origin under a trade agreement, by date
(the EU–UK Trade and Cooperation Agreement's product-specific rules for electric accumulators and
electrified vehicles, Annex 5; ``eu-uk.md`` §8d).

It reaches an arrangement located in one of the instance's ``countries`` that places products on
one of its ``markets`` (the other party). For each of its products with a requirement (the
``requirements`` parameter: product -> condition, dated by variants: the interim rules to
2026-12-31, the final rules from 2027-01-01), the condition is judged on

* ``originating_share``: the value share of the product from the ``area`` (EU and UK cumulate);
* ``assembled_from_cells``: packs assembled on site from cells (``origins[].assembled_from_cells``).

Met: *originating*: zero tariff; not met: *tariff 10%* (the ``tariff`` parameter; not eligible);
undetermined (no origins recorded): at risk, naming the value shares.

Worked example: a UK pack assembled from Chinese cells exported to the EU is originating until
2026-12-31 (assembly from non-originating cells suffices) and pays 10% from 2027-01-01 unless 70%
of its value is originating (SECONDARY).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from georisk.scoring.policy import RuleInstance
from georisk.scoring.rules.conditions import ConditionError, FactValue, judge
from georisk.scoring.rules.context import EvalContext, kind_param, kind_text, nexus, not_in_force
from georisk.scoring.rules.outcome import (
    Clause,
    ParamUse,
    RuleOutcome,
    Verdict,
    finish,
    not_applicable,
)
from georisk.scoring.wording import pct, prose_list

__all__ = ["MAX_IMPACT", "evaluate"]

#: scoring scale, not policy: losing preferential origin costs the tariff, not market access
MAX_IMPACT = 0.4


def evaluate(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """Whether each product the arrangement ships across is originating on the date."""
    why = nexus(ctx, rule)
    if why:
        return not_applicable(rule, why)
    placed = sorted({c for m in ctx.arr.markets for c in m.countries} & set(rule.markets))
    if (rule.countries and ctx.arr.country not in rule.countries) or not placed:
        return not_applicable(
            rule,
            f"no trade across the agreement recorded: made in {ctx.arr.country}, no placing on "
            f"the markets of the rule ({prose_list(rule.markets)}) recorded",
        )
    uses: list[ParamUse] = []
    off = not_in_force(ctx, rule, uses)
    if off:
        return not_applicable(rule, off, outcome="not in force")
    text = kind_text(ctx, rule)
    area = set(kind_param(ctx, rule, "area", uses))
    reqs = kind_param(ctx, rule, "requirements", uses)
    tariff = float(kind_param(ctx, rule, "tariff", uses))
    if not isinstance(reqs, Mapping):
        raise ConditionError("requirements map a product to a condition")
    clauses = []
    for p in ctx.arr.products:
        cond = reqs.get(p.value)
        if cond is None:
            continue
        origins = [o for o in ctx.arr.origins if o.product is p and o.active(ctx.on)]
        if not origins and p.value == "packs":  # a pack's origin follows its cells'
            origins = [
                o for o in ctx.arr.origins if o.product.value == "cells" and o.active(ctx.on)
            ]
        marks = (
            [f"origins of {p.value} in {ctx.arr.id}"] if any(o.unconfirmed for o in origins) else []
        )
        lo = sum(o.bounds()[0] for o in origins if o.country in area)
        hi = min(1.0, sum(o.bounds()[1] for o in origins if o.country in area))
        share = (
            FactValue.bounded(
                lo, hi, f"originating value share of {p.value}", unit="share", unconfirmed=marks
            )
            if origins
            else FactValue.unknown(f"value shares by origin of {p.value}", unit="share")
        )
        assembled = any(o.assembled_from_cells for o in ctx.arr.origins if o.product is p)
        asm = FactValue.exact(
            1.0 if assembled else 0.0, f"{p.value} assembled from cells on site", unit="bool"
        )

        def facts(
            b: Mapping[str, Any], share: FactValue = share, asm: FactValue = asm
        ) -> FactValue:
            f = b["fact"]
            if f == "originating_share":
                return share
            if f == "assembled_from_cells":
                return asm
            raise ConditionError(f"rules_of_origin cannot read fact {f!r}")

        j = judge(cond, facts)
        if j.met:
            v, out, imp = Verdict.ELIGIBLE, "originating: no tariff", 0.0
        elif j.met is False:
            v, out, imp = Verdict.NOT_ELIGIBLE, f"tariff {pct(tariff)}", MAX_IMPACT
        else:
            v, out, imp = (
                Verdict.AT_RISK,
                f"undetermined: tariff {pct(tariff)} if not originating",
                MAX_IMPACT / 2,
            )
        clauses.append(
            Clause(
                id=f"origin:{p.value}",
                title=text.title,
                clause=text.clause or rule.clause,
                verdict=v,
                params=uses,
                reason=f"{p.value} to {prose_list(placed)}: " + "; ".join(j.reasons),
                missing=j.missing,
                unconfirmed=j.unconfirmed,
                outcome=out,
                impact=imp,
            )
        )
    if not clauses:
        return not_applicable(
            rule, "no product of the arrangement has a rule of origin in the pack"
        )
    top = max(clauses, key=lambda c: c.impact)
    used = {
        x for r in (*ctx.arr.markets, *ctx.arr.origins) for x in r.sources
    }  # the dataset sources of the facts read
    return finish(rule, clauses, impact=top.impact, outcome=top.outcome, fact_sources=used)
