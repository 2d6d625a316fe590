"""The ``market_obligation`` rule kind: a dated obligation of whoever places a product on a
market (Battery Regulation (EU) 2023/1542: supply-chain due diligence arts 47–52 from
2027-08-18, the battery passport art. 77 from 2027-02-18, the carbon-footprint declaration
art. 7, date UNCONFIRMED; ``eu-uk.md`` §2).

It reaches the arrangement's ``markets`` entries in the instance's ``markets`` countries for its
``products`` (and, with a ``categories`` parameter, those categories). On the date:

* before ``applies_from``: *not yet required (from DATE)* — not applicable;
* not yet placed on the market (its ``since`` later): *not yet required (first placing DATE)*;
* an ``exemption`` (a condition on the economic operator: e.g. turnover below EUR 40m) met:
  *not required (exempt: …)*; undetermined: at risk naming the operator's turnover;
* otherwise *required* (verdict not eligible: a market-access condition applies); when
  ``applies_from`` itself is UNCONFIRMED, *required if the date holds* (at risk).

A date the pack does not know is never "not required": the clause is at risk and names the
parameter.

Worked example (``eu-uk.md`` example 5): CATL Hungary places EV batteries on the EU market on
2027-09-01: passport required (since 2027-02-18), due diligence required (since 2027-08-18);
on 2027-01-01 neither is required yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from georisk.scoring.model import MarketPlacement, TurnoverScope
from georisk.scoring.policy import ParameterMissing, RuleInstance
from georisk.scoring.rules.conditions import ConditionError, FactValue, judge, turnover_fact
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
from georisk.scoring.wording import named, prose_list

__all__ = ["IMPACT", "evaluate"]

#: scoring scale, not policy: a compliance obligation is a cost and a market-access condition,
#: not a lost credit
IMPACT = 0.2


def _is_iso(v: Any) -> bool:
    try:
        dt.date.fromisoformat(str(v))
    except ValueError:
        return False
    return True


def _date(v: Any) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))


def _placements(ctx: EvalContext, rule: RuleInstance) -> list[MarketPlacement]:
    products = {p.value for p in ctx.arr.products}
    out = []
    for m in ctx.arr.markets:
        if rule.markets and not set(m.countries) & set(rule.markets):
            continue
        made = {p.value for p in m.products} or products
        if rule.products and not made & set(rule.products):
            continue
        out.append(m)
    return out


def evaluate(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """Whether the obligation binds the arrangement's placings on the market on the date."""
    uses: list[ParamUse] = []
    out = gate(ctx, rule, uses)
    if out is not None:
        return out
    text = kind_text(ctx, rule)
    title, clause = text.title, text.clause or rule.clause
    placements = _placements(ctx, rule)
    if not placements:
        return not_applicable(
            rule,
            f"no placing of {prose_list(rule.products) if rule.products else 'its products'} on "
            f"the markets of the rule ({prose_list(rule.markets)}) recorded",
        )
    later = [m.since for m in placements if m.since is not None and ctx.on < m.since]
    if len(later) == len(placements):  # nothing placed on the market yet: nothing to oblige
        first = min(later)
        return not_applicable(
            rule,
            f"nothing placed on the market yet on {ctx.on}: first placing {first}",
            outcome=f"not yet required (first placing {first})",
        )
    pid = rule.params.get("applies_from", f"{rule.kind}.applies_from")
    try:
        raw = ctx.param(pid, uses)
        start = _date(raw) if isinstance(raw, dt.date) or _is_iso(raw) else None
    except ParameterMissing as exc:
        start, raw = None, exc
    if start is None:
        known = isinstance(raw, ParameterMissing)
        why = str(raw) if known else f"{pid} is {raw!r} in the pack"
        c = Clause(
            id="applies_from",
            title=title,
            clause=clause,
            verdict=Verdict.AT_RISK,
            params=uses,
            reason=f"the date the obligation applies from is not known ({why}): required "
            "from that date, which no source settles",
            missing=[f"parameter {pid}: the date {title} applies from"],
            outcome="undetermined: date not known",
            impact=IMPACT / 2,
        )
        return finish(rule, [c], impact=c.impact, outcome=c.outcome)
    date_use = uses[-1]
    shaky = date_use.unconfirmed or bool(date_use.conflict)
    mark = " (UNCONFIRMED)" if shaky else ""
    if ctx.on < start:
        out = not_applicable(
            rule,
            f"not yet in force on {ctx.on}: applies from {start}{mark}",
            outcome=f"not yet required (from {start}{mark})",
        )
        out.sources = sorted({*out.sources, *date_use.sources})
        return out
    if "categories" in rule.params:
        cats = set(kind_param(ctx, rule, "categories", uses))
        placements = [m for m in placements if not m.categories or set(m.categories) & cats]
        if not placements:
            return not_applicable(rule, f"no placing of a covered category ({prose_list(cats)})")
    used = {x for m in placements for x in m.sources}
    clauses = [
        _placement_clause(ctx, rule, title, clause, uses, m, i, start, shaky, used)
        for i, m in enumerate(placements)
    ]
    top = max(clauses, key=lambda c: (c.impact, c.verdict is Verdict.NOT_ELIGIBLE))
    return finish(rule, clauses, impact=top.impact, outcome=top.outcome, fact_sources=used)


def _placement_clause(
    ctx: EvalContext,
    rule: RuleInstance,
    title: str,
    clause: str,
    uses: list[ParamUse],
    m: MarketPlacement,
    i: int,
    start: dt.date,
    shaky: bool,
    used: set[str],
) -> Clause:
    ents = ctx.g.dataset.entities
    operator = m.operator or (ctx.producers()[0] if ctx.producers() else ctx.arr.focal)
    where = prose_list(m.countries)
    base: dict[str, Any] = {
        "id": f"market-{i}",
        "title": title,
        "clause": clause,
        "params": uses,
        "unconfirmed": [f"markets.{i} of {ctx.arr.id}"] if m.unconfirmed else [],
    }
    if m.since is not None and ctx.on < m.since:
        return Clause(
            **base,
            verdict=Verdict.ELIGIBLE,
            reason=f"{named(ents, operator)} first places products on the market in "
            f"{where} on {m.since}",
            outcome=f"not yet required (first placing {m.since})",
        )
    if "exemption" in rule.params or f"{rule.kind}.exemption" in ctx.pack.parameters:
        cond = kind_param(ctx, rule, "exemption", uses)

        def fact(b: Mapping[str, Any]) -> FactValue:
            f = str(b["fact"])
            scope = {
                "turnover": TurnoverScope.WORLDWIDE,
                "group_turnover": TurnoverScope.GROUP,
                "eu_turnover": TurnoverScope.EU,
            }.get(f)
            if scope is None:
                raise ConditionError(f"market_obligation cannot read fact {f!r}")
            return turnover_fact(ents, operator, scope, ctx.on)

        j = judge(cond, fact)
        used.update(j.sources)
        label = str(cond.get("label", "")) if isinstance(cond, Mapping) else ""
        paren = f" ({label})" if label else ""
        if j.met:
            return Clause(
                **base,
                verdict=Verdict.ELIGIBLE,
                reason=f"{named(ents, operator)} is exempt: {'; '.join(j.reasons)}",
                outcome=f"not required (exempt{': ' + label if label else ''})",
            )
        if j.met is None:
            return Clause(
                **base,
                verdict=Verdict.AT_RISK,
                missing=j.missing,
                reason=f"required for {named(ents, operator)} placing products on the "
                f"market in {where} since {start}, unless exempt{paren}: " + "; ".join(j.reasons),
                outcome=f"required unless exempt{paren}: undetermined",
                impact=IMPACT,
            )
    if shaky:
        return Clause(
            **base,
            verdict=Verdict.AT_RISK,
            reason=f"required of {named(ents, operator)} in {where} if it applies from "
            f"{start} (the date is UNCONFIRMED)",
            missing=[f"the date {title} applies from (UNCONFIRMED: {start})"],
            outcome=f"required if the date holds ({start}, UNCONFIRMED)",
            impact=IMPACT,
        )
    return Clause(
        **base,
        verdict=Verdict.NOT_ELIGIBLE,
        reason=f"{named(ents, operator)} places products on the market in {where}: "
        f"required since {start}",
        outcome="required",
        impact=IMPACT,
    )
