"""The ``origin_share`` rule kind: the NZIA resilience criterion in public procurement
(Regulation (EU) 2024/1735 art. 25; ``eu-uk.md`` §1).

Where the Commission's supply data put more than 50% of the Union's supply of a net-zero
technology or component with one third country (the ``trigger``), a tender must not take more
than 50% of the value of that technology from a single third country (the ``limit``, a
condition on ``value_share_one_country``). For each net-zero tender of the arrangement
(``tenders``), the bid's value shares by origin (the tender's ``origins``, else the
arrangement's) give the largest share from one country outside ``home`` (the member states).

* before ``operative_from`` (30-12-2025): not yet operative;
* ``transitional`` (``{until, min_value}``): until then only tenders of central purchasing
  bodies of at least ``min_value`` are caught;
* trigger on and limit met: *fails* (not eligible; the text's ``phrases.derogation`` says the
  authority may still invoke the disproportionate-cost derogation); trigger ``unconfirmed``
  (whether batteries are above 50% is UNCONFIRMED): *fails if the criterion is triggered* (at
  risk, naming it); limit not met: *passes*.

Cells made in the EU count as EU-origin whoever owns the plant: the test keys on where goods are
made, not on ownership.

Worked example (``eu-uk.md`` example 2): a Spanish storage tender in July 2026, 70% of the value
from China: "value share from one third country CN 70% is more than 50%", trigger UNCONFIRMED
for batteries → at risk, "fails if the resilience criterion is triggered".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from georisk.scoring.model import Origin, Tender
from georisk.scoring.policy import RuleInstance
from georisk.scoring.rules.conditions import ConditionError, FactValue, judge
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
from georisk.scoring.wording import prose_list

__all__ = ["IMPACT", "evaluate", "largest_third_country_share"]

#: scoring scale, not policy: a bid excluded from (or marked down in) public demand
IMPACT = 0.5


def largest_third_country_share(
    origins: list[Origin], home: set[str], on: dt.date
) -> tuple[str | None, float, float]:
    """The third country with the largest value share (summed per country) and its bounds.

    >>> o = [Origin(product="storage", country="CN", share=0.7, sources=["s"]),
    ...      Origin(product="storage", country="ES", share=0.3, sources=["s"])]
    >>> largest_third_country_share(o, {"ES"}, dt.date(2026, 7, 1))
    ('CN', 0.7, 0.7)
    """
    per: dict[str, tuple[float, float]] = {}
    for o in origins:
        if o.country in home or not o.active(on):
            continue
        lo, hi = o.bounds()
        a, b = per.get(o.country, (0.0, 0.0))
        per[o.country] = (a + lo, min(1.0, b + hi))
    if not per:
        return None, 0.0, 0.0
    c = max(per, key=lambda k: (per[k][1], per[k][0]))
    return c, per[c][0], per[c][1]


def _trigger(value: Any, products: set[str]) -> tuple[bool | None, str]:
    if isinstance(value, bool):
        return value, "triggered" if value else "not triggered"
    if value == "unconfirmed":
        return None, "whether the criterion is triggered is UNCONFIRMED"
    if isinstance(value, Mapping):
        got = [value.get(p) for p in sorted(products) if p in value]
        if any(g is True for g in got):
            return True, "triggered"
        if any(g == "unconfirmed" for g in got):
            hit = [p for p in sorted(products) if value.get(p) == "unconfirmed"]
            return None, f"whether the criterion is triggered for {prose_list(hit)} is UNCONFIRMED"
        if got and all(g is False for g in got):
            return False, "not triggered"
        return None, f"no trigger recorded for {prose_list(sorted(products))}"
    raise ConditionError(f"trigger is true, false, 'unconfirmed' or a mapping: {value!r}")


def evaluate(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """The resilience criterion for each net-zero tender the arrangement bids in."""
    uses: list[ParamUse] = []
    out = gate(ctx, rule, uses)
    if out is not None:
        return out
    tenders = [t for t in ctx.arr.tenders if t.net_zero]
    if not tenders:
        return not_applicable(rule, "no net-zero public tender recorded for the arrangement")
    text = kind_text(ctx, rule)
    start = kind_param(ctx, rule, "operative_from", uses)
    start_d = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
    limit = kind_param(ctx, rule, "limit", uses)
    home = set(kind_param(ctx, rule, "home", uses))
    trig = kind_param(ctx, rule, "trigger", uses)
    trans = (
        kind_param(ctx, rule, "transitional", uses)
        if rule.params.get("transitional", f"{rule.kind}.transitional") in ctx.pack.parameters
        else None
    )
    clauses = [
        _tender_clause(
            ctx,
            text.title,
            text.clause or rule.clause,
            text.phrases,
            uses,
            t,
            start_d,
            limit,
            home,
            trig,
            trans,
        )
        for t in tenders
    ]
    top = max(clauses, key=lambda c: (c.impact, c.verdict is Verdict.NOT_ELIGIBLE))
    used = {
        x
        for t in tenders
        for x in (*t.sources, *(s for o in (t.origins or ctx.arr.origins) for s in o.sources))
    }
    if all(c.outcome and c.outcome.startswith("not yet") for c in clauses):
        return not_applicable(rule, "; ".join(c.reason for c in clauses), clauses[0].outcome)
    return finish(rule, clauses, impact=top.impact, outcome=top.outcome, fact_sources=used)


def _tender_clause(
    ctx: EvalContext,
    title: str,
    clause: str,
    phrases: Mapping[str, str],
    uses: list[ParamUse],
    t: Tender,
    start: dt.date,
    limit: Any,
    home: set[str],
    trig: Any,
    trans: Any,
) -> Clause:
    base: dict[str, Any] = {"id": t.id, "title": title, "clause": clause, "params": uses}
    marks = [t.id] if t.unconfirmed else []
    if t.date < start:
        return Clause(
            **base,
            verdict=Verdict.ELIGIBLE,
            reason=f"tender {t.id} of {t.date} is before the criterion is operative ({start})",
            outcome=f"not yet operative (from {start})",
        )
    if isinstance(trans, Mapping) and "until" in trans:
        until = trans["until"]
        until_d = until if isinstance(until, dt.date) else dt.date.fromisoformat(str(until))
        if t.date <= until_d:
            lo = t.value.bounds()[0] if t.value else 0.0
            hi = t.value.bounds()[1] if t.value else float("inf")
            need = float(trans.get("min_value", 0))
            if t.central_purchasing_body is False or hi < need:
                return Clause(
                    **base,
                    verdict=Verdict.ELIGIBLE,
                    unconfirmed=marks,
                    reason=f"until {until_d} only tenders of central purchasing bodies "
                    f"of at least EUR {need / 1e6:g}m are caught; tender {t.id} is not",
                    outcome="not caught (transitional period)",
                )
            if t.central_purchasing_body is None or lo < need:
                return Clause(
                    **base,
                    verdict=Verdict.AT_RISK,
                    unconfirmed=marks,
                    reason=f"until {until_d} only central purchasing bodies' tenders "
                    f"of at least EUR {need / 1e6:g}m are caught",
                    missing=[
                        f"whether tender {t.id} is a central purchasing body's of "
                        f"at least EUR {need / 1e6:g}m"
                    ],
                    outcome="undetermined (transitional period)",
                    impact=IMPACT / 2,
                )
    origins = t.origins or ctx.arr.origins
    products = {o.product.value for o in origins} or {p.value for p in ctx.arr.products}
    country, lo, hi = largest_third_country_share(origins, home, t.date)
    what = f"value share from one third country{f' ({country})' if country else ''} in {t.id}"
    fact = (
        FactValue.unknown(what, unit="share")
        if not origins
        else FactValue.bounded(
            lo,
            hi,
            what,
            unit="share",
            unconfirmed=[f"origins of {t.id}"] if any(o.unconfirmed for o in origins) else [],
        )
    )

    def facts(b: Mapping[str, Any]) -> FactValue:
        if b["fact"] != "value_share_one_country":
            raise ConditionError(f"origin_share cannot read fact {b['fact']!r}")
        return fact

    j = judge(limit, facts)
    on, why_t = _trigger(trig, products)
    derog = phrases.get("derogation")
    tail = f" ({derog})" if derog else ""
    if j.met is False:
        return Clause(
            **base,
            verdict=Verdict.ELIGIBLE,
            reason="; ".join(j.reasons),
            unconfirmed=marks + j.unconfirmed,
            outcome="passes",
        )
    if j.met is None:
        return Clause(
            **base,
            verdict=Verdict.AT_RISK,
            reason="; ".join(j.reasons),
            missing=j.missing,
            unconfirmed=marks + j.unconfirmed,
            outcome="undetermined",
            impact=IMPACT / 2,
        )
    if on is False:
        return Clause(
            **base,
            verdict=Verdict.ELIGIBLE,
            reason=f"{'; '.join(j.reasons)}, but the criterion is {why_t}",
            unconfirmed=marks + j.unconfirmed,
            outcome="passes (not triggered)",
        )
    if on is None:
        return Clause(
            **base,
            verdict=Verdict.AT_RISK,
            reason=f"{'; '.join(j.reasons)}: the bid fails the resilience requirement "
            f"if the criterion is triggered, and {why_t}{tail}",
            missing=[why_t],
            unconfirmed=marks + j.unconfirmed,
            outcome="fails if the resilience criterion is triggered",
            impact=IMPACT,
        )
    return Clause(
        **base,
        verdict=Verdict.NOT_ELIGIBLE,
        reason=f"{'; '.join(j.reasons)}: the bid fails the resilience requirement{tail}",
        unconfirmed=marks + j.unconfirmed,
        outcome="fails",
        impact=IMPACT,
    )
