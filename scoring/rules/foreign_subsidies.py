"""The ``fsr_concentration`` and ``fsr_procurement`` rule kinds: notification under the EU
Foreign Subsidies Regulation (Reg. (EU) 2022/2560; ``eu-uk.md`` §3).

**Concentrations and joint ventures (art. 20).** For each acquisition or joint venture of the
arrangement (``transactions``), the pack's ``test`` (a condition) is judged with

* ``eu_turnover``: the EU turnover of the target — for a joint venture, the JV itself — when it
  is established in the Union (``home``: the member states), else 0;
* ``ffc_combined``: the foreign financial contributions received by the undertakings concerned
  (the acquirers and the target) in the ``years`` before signing.

Met: *mandatory filing* (standstill; verdict not eligible). Not met: *no filing*, with the
text's ``phrases.below`` ("the Commission may still request notification …"). Undetermined: at
risk, naming the facts. A greenfield build is no concentration.

**Public procurement (art. 28).** For each tender of the arrangement (``tenders``): the contract
or lots value and ``ffc_per_country``, the largest total from one third country received by the
bidder and its controllers in the ``years`` before the tender date.

Worked example (``eu-uk.md`` example 3): the Stellantis–CATL JV's EU turnover at creation is
recorded below EUR 500m, so "EU turnover … is not at least EUR 500m" and the outcome is *no
filing* whatever the parents' contributions — none of which need be recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from georisk.scoring.control import controllers_of
from georisk.scoring.model import LinkKind, TransactionKind, TurnoverScope
from georisk.scoring.policy import RuleInstance
from georisk.scoring.rules.conditions import (
    ConditionError,
    FactValue,
    Judgement,
    ffc_fact,
    judge,
    money_fact,
    turnover_fact,
)
from georisk.scoring.rules.context import (
    EvalContext,
    gate,
    kind_param,
    kind_text,
    regime_start,
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

__all__ = ["IMPACT", "evaluate_concentration", "evaluate_procurement"]

#: scoring scale, not policy: a notifiable deal waits for review and may be prohibited
IMPACT = 0.5


def _clause(
    cid: str, title: str, clause: str, uses: list[ParamUse], j: Judgement, below: str | None
) -> Clause:
    if j.met:
        verdict, outcome, impact = Verdict.NOT_ELIGIBLE, "mandatory filing", IMPACT
        reason = "; ".join(j.reasons) + ": notification required, no closing or award before"
    elif j.met is False:
        verdict, outcome, impact = Verdict.ELIGIBLE, "no filing", 0.0
        reason = "; ".join(j.reasons) + (f" ({below})" if below else "")
    else:
        verdict, outcome, impact = Verdict.AT_RISK, "undetermined", IMPACT / 2
        reason = "; ".join(j.reasons)
    return Clause(
        id=cid,
        title=title,
        clause=clause,
        verdict=verdict,
        reason=reason,
        params=uses,
        missing=j.missing,
        unconfirmed=j.unconfirmed,
        outcome=outcome,
        impact=impact,
    )


def _signed_before(when: dt.date | None, start: dt.date | None) -> bool:
    return when is not None and start is not None and when < start


def _years(b: Mapping[str, Any]) -> int:
    y = b.get("years", 3)
    if not isinstance(y, int) or y < 1:
        raise ConditionError(f"years must be a positive integer: {b!r}")
    return y


def evaluate_concentration(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """FSR art. 20: whether each concentration of the arrangement must be notified."""
    uses: list[ParamUse] = []
    out = gate(ctx, rule, uses)
    if out is not None:
        return out
    text = kind_text(ctx, rule)
    test = kind_param(ctx, rule, "test", uses)
    home = set(kind_param(ctx, rule, "home", uses))
    ents = ctx.g.dataset.entities
    concentrations = (TransactionKind.ACQUISITION, TransactionKind.JOINT_VENTURE)
    start, set_by = regime_start(rule, uses, rule.params.get("test", f"{rule.kind}.test"))
    txs = [t for t in ctx.arr.transactions if t.kind in concentrations]
    early = [t for t in txs if _signed_before(t.signed or t.closed, start)]
    if txs and len(early) == len(txs):
        said = prose_list(f"{t.id} was signed {t.signed or t.closed}" for t in early)
        return not_applicable(
            rule, f"{said}, before notification applied (from {start}, {set_by})", "not caught"
        )
    txs = [t for t in txs if t not in early]
    if not txs:
        if ctx.arr.transactions:
            kinds = prose_list(
                sorted({t.kind.value.replace("_", " ") for t in ctx.arr.transactions})
            )
            return not_applicable(rule, f"no concentration: {kinds} only", "no filing")
        c = Clause(
            id="transaction",
            title=text.title,
            clause=text.clause or rule.clause,
            verdict=Verdict.AT_RISK,
            params=uses,
            reason="no acquisition or joint venture of the arrangement is recorded",
            missing=[f"the transaction of arrangement {ctx.arr.id} (acquirers, target, signing)"],
            outcome="undetermined",
        )
        return finish(rule, [c], impact=c.impact, outcome=c.outcome)
    clauses = []
    used: set[str] = set()  # the dataset sources of the facts read
    for tx in txs:
        used.update(tx.sources)
        end = tx.signed or ctx.on
        concerned = [*tx.acquirers, tx.target]
        target = ents.get(tx.target)

        def fact(
            b: Mapping[str, Any],
            tx_target: str = tx.target,
            end: dt.date = end,
            concerned: list[str] = concerned,
            established: bool = bool(target and target.country in home),
        ) -> FactValue:
            f = str(b["fact"])
            if f == "eu_turnover":
                if not established:
                    return FactValue.exact(
                        0.0,
                        f"EU turnover of {named(ents, tx_target)} (not established in the Union)",
                        unit="EUR",
                    )
                return turnover_fact(ents, tx_target, TurnoverScope.EU, end)
            if f in ("ffc_combined", "ffc_per_country"):
                return ffc_fact(
                    ents,
                    concerned,
                    end,
                    _years(b),
                    per_country=f == "ffc_per_country",
                    third_countries=lambda c: c not in home,
                )
            raise ConditionError(f"fsr_concentration cannot read fact {f!r}")

        j = judge(test, fact)
        used.update(j.sources)
        clauses.append(
            _clause(
                tx.id, text.title, text.clause or rule.clause, uses, j, text.phrases.get("below")
            )
        )
    top = max(clauses, key=lambda c: c.impact)
    return finish(rule, clauses, impact=top.impact, outcome=top.outcome, fact_sources=used)


def _bidder_side(ctx: EvalContext, bidder: str) -> list[str]:
    """The bidder, its controllers and the holders with joint control (50% or more): the
    holding companies whose contributions art. 28 counts with the bidder's."""
    side = [bidder, *controllers_of(ctx.g, bidder)]
    for l in ctx.links_into(bidder, [LinkKind.EQUITY, LinkKind.VOTING]):
        if l.share_bounds()[1] >= 0.5 and l.source not in side:
            side.append(l.source)
    return side


def evaluate_procurement(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """FSR art. 28: whether each public tender bid of the arrangement must be notified."""
    uses: list[ParamUse] = []
    out = gate(ctx, rule, uses)
    if out is not None:
        return out
    if not ctx.arr.tenders:
        return not_applicable(rule, "no public tender recorded for the arrangement")
    text = kind_text(ctx, rule)
    test = kind_param(ctx, rule, "test", uses)
    home = set(kind_param(ctx, rule, "home", uses))
    ents = ctx.g.dataset.entities
    clauses = []
    used: set[str] = set()
    for tn in ctx.arr.tenders:
        used.update(tn.sources)
        bidder_side = _bidder_side(ctx, tn.bidder)
        marks = [tn.id] if tn.unconfirmed else []

        def fact(
            b: Mapping[str, Any],
            tn: Any = tn,
            side: list[str] = bidder_side,
            marks: list[str] = marks,
        ) -> FactValue:
            f = str(b["fact"])
            if f == "contract_value":
                return money_fact(tn.value, f"estimated value of tender {tn.id}", marks)
            if f == "lots_value":
                if tn.lots_value is None:
                    return FactValue.exact(
                        0.0, f"lots applied for in tender {tn.id} (none)", unit="EUR"
                    )
                return money_fact(tn.lots_value, f"lots applied for in tender {tn.id}", marks)
            if f in ("ffc_per_country", "ffc_combined"):
                return ffc_fact(
                    ents,
                    side,
                    tn.date,
                    _years(b),
                    per_country=f == "ffc_per_country",
                    third_countries=lambda c: c not in home,
                )
            raise ConditionError(f"fsr_procurement cannot read fact {f!r}")

        j = judge(test, fact)
        used.update(j.sources)
        clauses.append(
            _clause(
                tn.id,
                text.title,
                text.clause or rule.clause,
                uses,
                j,
                text.phrases.get("below_procurement"),
            )
        )
    top = max(clauses, key=lambda c: c.impact)
    return finish(rule, clauses, impact=top.impact, outcome=top.outcome, fact_sources=used)
