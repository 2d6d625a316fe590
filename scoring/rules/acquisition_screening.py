"""The ``acquisition_screening`` rule kind: foreign-investment screening of an acquisition.

One kind for the national regimes of ``eu-uk.md`` §4 and §7, each instance reading its own
values through ``params``: Spain (Law 19/2003 art. 7 bis: a non-EU/EFTA investor reaching 10% or
control in a listed sector), Germany (AWV §§ 55–59: 10% / 20% / 25%), Hungary (Act LVII of 2018;
Act L of 2025 ch. IV), the UK (NSIA 2021 s. 6 and s. 8: more than 25%, more than 50%, 75% or
more in one of the 17 sectors, no nationality test).

For each transaction of the arrangement (``transactions``) and each acquirer:

1. a ``greenfield`` build by the existing owner is no acquisition: *no filing*;
2. **who is foreign** (``investor``: ``home`` countries, and ``look_through``: a home investor
   whose non-home holders exceed the boundary, or who is controlled from outside, is foreign);
   with no home list (the UK) every acquirer is tested; ``only`` instead names the countries
   whose investors a regime covers (Spain's transitional regime for EU/EFTA investors);
3. **what is crossed**: each tier's condition (``tiers``) is judged on the acquirer's stake
   after (``stake``: its equity or votes in the target, the larger, from the arrangement's
   links, its own and those of entities it controls) and, for a crossing, before
   (``stake_before``); ``control``; the target's turnover and the investment's value;
4. **where**: a tier's ``sectors`` (``listed``, a list of sector ids, or ``any``) against the
   target's activities (``facts.activities`` of the target and of the focal entity); an
   activity a sector holds only in ``unconfirmed_activities`` leaves the tier open;
5. an **exemption** (``exemptions``: conditions on the target) turns a filing into *no filing*;
6. after a (possible) mandatory filing the text's ``phrases.conditions`` is quoted: what an
   approval would be conditioned on (the IAA proposal: foreign ownership at most 49%, …).

The outcome is the most severe tier met: *mandatory filing* (verdict not eligible: the deal
needs prior approval), *voluntary filing advisable* (at risk), *no filing* (eligible). A tier that
may be met (an UNCONFIRMED sector reading, a fact not recorded) makes it *mandatory filing
likely* / undetermined (at risk), naming what decides it; a missing fact never reads as no filing.

Worked example (``expected.md``): CATL [catl] (CN) takes 50% and joint control of the
Stellantis–CATL JV (ES) in 2024; Spain's tier "10% or control" is met; LFP cell making is in a
listed sector only per an UNCONFIRMED reading, so the outcome is "mandatory filing likely (open:
…)", at risk, with the open condition named.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from georisk.scoring.control import controllers_of
from georisk.scoring.model import LinkKind, Transaction, TransactionKind, TurnoverScope
from georisk.scoring.policy import RuleInstance
from georisk.scoring.rules.conditions import (
    ConditionError,
    FactValue,
    Judgement,
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

__all__ = ["IMPACT", "LOOK_THROUGH_DEPTH", "NO_ACQUISITION", "OUTCOMES", "evaluate"]

#: outcome id -> words, from most to least severe
OUTCOMES: dict[str, str] = {
    "mandatory_filing": "mandatory filing",
    "voluntary_filing_advisable": "voluntary filing advisable",
    "no_filing": "no filing",
}
_VERDICT = {
    "mandatory_filing": Verdict.NOT_ELIGIBLE,
    "voluntary_filing_advisable": Verdict.AT_RISK,
    "no_filing": Verdict.ELIGIBLE,
}
#: scoring scale, not policy: a mandatory filing delays the deal and may block or condition it;
#: a voluntary one is a call-in risk
IMPACT = {"mandatory_filing": 0.5, "voluntary_filing_advisable": 0.25, "no_filing": 0.0}
_RANK = {k: i for i, k in enumerate(OUTCOMES)}
#: transactions that acquire no shares or votes, and how a finding says so (the pack's text may
#: add a sentence under the kind's name in ``phrases``: e.g. that an asset acquisition is
#: call-in only under the NSIA)
NO_ACQUISITION = {
    TransactionKind.GREENFIELD: "no acquisition of control: {target} is built by its existing "
    "owner (greenfield)",
    TransactionKind.SUPPLY: "no acquisition: a supply agreement of {acquirers} with {target} "
    "transfers no shares or votes",
    TransactionKind.LICENCE: "no acquisition of shares or votes: a technology licence from "
    "{acquirers} to {target}",
}


def evaluate(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """The screening outcome of each acquisition of the arrangement (the most severe wins)."""
    uses: list[ParamUse] = []
    out = gate(ctx, rule, uses)
    if out is not None:
        return out
    text = kind_text(ctx, rule)
    tiers = kind_param(ctx, rule, "tiers", uses)
    sectors = kind_param(ctx, rule, "sectors", uses)
    investor = kind_param(ctx, rule, "investor", uses)
    exemptions = kind_param(ctx, rule, "exemptions", uses) if _has(ctx, rule, "exemptions") else []
    ents = ctx.g.dataset.entities
    clauses: list[Clause] = []
    if not ctx.arr.transactions:
        clauses.append(
            Clause(
                id="transaction",
                title=text.title,
                clause=text.clause or rule.clause,
                verdict=Verdict.AT_RISK,
                params=uses,
                reason="no acquisition, joint venture or greenfield build of the arrangement is "
                "recorded: the screening cannot be decided",
                missing=[
                    f"the transaction of arrangement {ctx.arr.id} (acquisition, joint "
                    "venture or greenfield build; acquirers and target)"
                ],
                outcome="undetermined",
            )
        )
    used: set[str] = set()  # the dataset sources of the facts read
    start, set_by = regime_start(rule, uses)
    before = [t for t in ctx.arr.transactions if _before(t, start)]
    if before and len(before) == len(ctx.arr.transactions):
        return not_applicable(rule, _before_words(before, start, set_by), "not caught")
    for tx in ctx.arr.transactions:
        used.update(tx.sources)
        if _before(tx, start):
            clauses.append(
                Clause(
                    id=tx.id,
                    title=text.title,
                    clause=text.clause or rule.clause,
                    verdict=Verdict.ELIGIBLE,
                    params=uses,
                    reason=_before_words([tx], start, set_by),
                    outcome="not caught",
                )
            )
            continue
        if tx.kind in NO_ACQUISITION:
            said = text.phrases.get(tx.kind.value)
            clauses.append(
                Clause(
                    id=f"{tx.id}",
                    title=text.title,
                    clause=text.clause or rule.clause,
                    verdict=Verdict.ELIGIBLE,
                    params=uses,
                    reason=NO_ACQUISITION[tx.kind].format(
                        target=named(ents, tx.target),
                        acquirers=prose_list(named(ents, a) for a in tx.acquirers),
                    )
                    + (f"; {said}" if said else ""),
                    outcome=OUTCOMES["no_filing"],
                    unconfirmed=[tx.id] if tx.unconfirmed else [],
                )
            )
            continue
        if not tx.acquirers:
            clauses.append(
                Clause(
                    id=tx.id,
                    title=text.title,
                    clause=text.clause or rule.clause,
                    verdict=Verdict.AT_RISK,
                    params=uses,
                    reason=f"{tx.kind.value.replace('_', ' ')} {tx.id}: its acquirers are not "
                    "recorded",
                    missing=[f"the acquirers of {tx.id}"],
                    outcome="undetermined",
                    impact=IMPACT["mandatory_filing"] / 2,
                )
            )
        for acq in tx.acquirers:
            clauses.append(
                _acquirer_clause(
                    ctx,
                    rule,
                    text.title,
                    text.clause or rule.clause,
                    text.phrases,
                    uses,
                    tx,
                    acq,
                    tiers,
                    sectors,
                    investor,
                    exemptions,
                    used,
                )
            )
    decisive = [c for c in clauses if c.decisive]
    top = max(decisive, key=lambda c: (_sev(c), c.verdict is Verdict.AT_RISK)) if decisive else None
    outcome = top.outcome if top else None
    impact = max((c.impact for c in clauses), default=0.0)
    return finish(rule, clauses, impact=impact, outcome=outcome, fact_sources=used)


def _before(tx: Transaction, start: dt.date | None) -> bool:
    """Whether the acquisition ``tx`` was signed (else closed) before the regime's start (a
    greenfield build, a supply or a licence is no acquisition whenever it was made)."""
    when = tx.signed or tx.closed
    return tx.kind not in NO_ACQUISITION and start is not None and when is not None and when < start


def _before_words(txs: list[Transaction], start: dt.date | None, set_by: str) -> str:
    said = prose_list(f"{t.id} was signed {t.signed or t.closed}" for t in txs)
    return f"{said}, before the regime applied (from {start}, {set_by}): not caught"


def _sev(c: Clause) -> int:
    order = {Verdict.ELIGIBLE: 0, Verdict.AT_RISK: 1, Verdict.NOT_ELIGIBLE: 2}
    return order.get(c.verdict, 0)


def _has(ctx: EvalContext, rule: RuleInstance, name: str) -> bool:
    return rule.params.get(name, f"{rule.kind}.{name}") in ctx.pack.parameters


def _foreign(
    ctx: EvalContext, acq: str, investor: Mapping[str, Any]
) -> tuple[bool | None, str, list[str]]:
    """Whether ``acq`` is a foreign investor under ``investor`` (home countries, look-through),
    why, and the facts missing."""
    ents = ctx.g.dataset.entities
    home = set(investor.get("home") or [])
    only = investor.get("only")
    e = ents.get(acq)
    if not home and only is None:
        return True, "the regime tests every acquirer, whatever its nationality", []
    if e is None or e.country is None:
        return (
            None,
            f"the country of {named(ents, acq)} is not recorded",
            [f"country of {named(ents, acq)}"],
        )
    if only is not None:  # a regime for some investors only (Spain's EU/EFTA transitional one)
        if e.country in set(only):
            return True, f"{named(ents, acq)} is organized in {e.country}, which it covers", []
        return False, f"{named(ents, acq)} is organized in {e.country}, which it does not cover", []
    if e.country not in home:
        return True, f"{named(ents, acq)} is organized in {e.country}, outside the home area", []
    ctrl = [c for c in controllers_of(ctx.g, acq) if c != acq]
    outside = [c for c in ctrl if (ents[c].country if c in ents else None) not in home]
    if outside:
        return (
            True,
            (
                f"{named(ents, acq)} (organized in {e.country}) is controlled by "
                f"{prose_list(named(ents, c) for c in outside)}, outside the home area"
            ),
            [],
        )
    look = investor.get("look_through")
    if isinstance(look, Mapping):
        lo, hi = _outside_share(ctx, acq, home, (acq,))
        fact = FactValue.bounded(
            min(lo, 1.0),
            min(hi, 1.0),
            f"holdings from outside the home area in {named(ents, acq)} (direct and indirect)",
            unit="share",
        )
        j = judge({**look, "fact": "holders"}, lambda _b: fact)
        if j.met:
            return True, j.reasons[0], []
        if j.met is None:
            return None, j.reasons[0], j.missing
    return False, f"{named(ents, acq)} is organized in {e.country}, in the home area", []


#: how far up the holders of an acquirer the look-through walks
LOOK_THROUGH_DEPTH = 8


def _outside_share(
    ctx: EvalContext, eid: str, home: set[str], path: tuple[str, ...]
) -> tuple[float, float]:
    """The share of ``eid`` held, directly or indirectly, by holders organized outside
    ``home`` (bounds): each chain multiplied up to its first outside holder, chains added, a
    holder counted once per link kind (the larger of its equity and its votes), no chain through
    an entity twice; a holder of unknown country counts in the upper bound only.

    Spain's beneficial-owner test: an EU investor more than 25% held or controlled, directly or
    indirectly, from outside the EU/EFTA is a foreign investor.
    """
    ents = ctx.g.dataset.entities
    best: dict[str, tuple[float, float]] = {}
    for l in ctx.g.links_into(eid, [LinkKind.EQUITY, LinkKind.VOTING]):
        a, b = l.share_bounds()
        got = best.get(l.source, (0.0, 0.0))
        best[l.source] = (max(got[0], a), max(got[1], b))
    lo = hi = 0.0
    for h, (a, b) in best.items():
        if h in path:
            continue
        e = ents.get(h)
        country = e.country if e is not None else None
        if country is None:
            hi += b
        elif country not in home:
            lo, hi = lo + a, hi + b
        elif len(path) < LOOK_THROUGH_DEPTH:
            x, y = _outside_share(ctx, h, home, (*path, h))
            lo, hi = lo + a * x, hi + b * y
    return lo, hi


def _stake(ctx: EvalContext, tx: Transaction, acq: str) -> tuple[FactValue, list[str]]:
    """The acquirer's stake in the target after the transaction, and the links it rests on."""
    ents = ctx.g.dataset.entities
    # the acquirer's own holdings and those of the entities it controls (majority chain); its
    # parents' holdings are theirs, not the acquirer's
    links = [
        l
        for l in ctx.links_into(tx.target, [LinkKind.EQUITY, LinkKind.VOTING])
        if l.source == acq or acq in controllers_of(ctx.g, l.source)
    ]
    what = f"stake of {named(ents, acq)} in {named(ents, tx.target)}"
    if not links:
        return FactValue.unknown(what, unit="share"), []
    best = (0.0, 0.0)
    for kind in (LinkKind.EQUITY, LinkKind.VOTING):
        ks = [l for l in links if l.kind is kind]
        lo = sum(l.share_bounds()[0] for l in ks)
        hi = min(1.0, sum(l.share_bounds()[1] for l in ks))
        best = max(best, (lo, hi))
    marks = [l.id for l in links if l.uncertain]
    srcs = sorted({x for l in links for x in l.sources})
    return FactValue.bounded(
        best[0], best[1], what, unit="share", unconfirmed=marks, sources=srcs
    ), [l.id for l in links]


def _activities(ctx: EvalContext, tx: Transaction, used: set[str]) -> tuple[set[str], list[str]]:
    """The activities of the target (and the focal entity) on the date, and the entities with
    none; their sources go into ``used``."""
    ents = ctx.g.dataset.entities
    acts: set[str] = set()
    none: list[str] = []
    for eid in dict.fromkeys([tx.target, ctx.arr.focal]):
        e = ents.get(eid)
        got = [a for a in (e.facts.activities if e and e.facts else []) if a.active(ctx.on)]
        acts |= {a.activity for a in got}
        used.update(x for a in got for x in a.sources)
        if not got:
            none.append(eid)
    return acts, none


def _in_sectors(
    wanted: Any, sectors: Mapping[str, Any], acts: set[str], none_recorded: bool, target: str
) -> tuple[bool | None, str]:
    """Whether the target's activities fall in the tier's sectors: True, False, or None (open)."""
    if wanted == "any":
        return True, "whatever its activity"
    ids = list(sectors) if wanted == "listed" else list(wanted or [])
    confirmed, maybe = [], []
    for sid in ids:
        s = sectors.get(sid)
        if not isinstance(s, Mapping):
            raise ConditionError(f"unknown sector {sid!r}")
        title = str(s.get("title", sid))
        if acts & set(s.get("activities") or []):
            confirmed.append(title)
        elif acts & set(s.get("unconfirmed_activities") or []):
            hit = sorted(acts & set(s.get("unconfirmed_activities") or []))
            maybe.append(f"whether {prose_list(hit)} is in {title} is UNCONFIRMED")
    if confirmed:
        return True, f"{target} carries on an activity in {prose_list(confirmed)}"
    if maybe:
        return None, prose_list(maybe)
    if not acts and none_recorded:
        return None, f"the activities of {target} are not recorded"
    return False, f"{target}'s activities ({prose_list(sorted(acts))}) are in no listed sector"


def _acquirer_clause(
    ctx: EvalContext,
    rule: RuleInstance,
    title: str,
    clause: str,
    phrases: Mapping[str, str],
    uses: list[ParamUse],
    tx: Transaction,
    acq: str,
    tiers: Any,
    sectors: Any,
    investor: Any,
    exemptions: Any,
    used: set[str],
) -> Clause:
    ents = ctx.g.dataset.entities
    target = named(ents, tx.target)
    base: dict[str, Any] = {
        "id": f"{tx.id}:{acq}",
        "title": title,
        "clause": clause,
        "params": uses,
    }
    foreign, why_f, miss_f = _foreign(ctx, acq, investor)
    if foreign is False:
        return Clause(
            **base,
            verdict=Verdict.ELIGIBLE,
            reason=f"not a foreign investor: {why_f}",
            outcome=OUTCOMES["no_filing"],
        )
    stake, links = _stake(ctx, tx, acq)
    before = (
        FactValue.exact(tx.stake_before, f"stake before of {named(ents, acq)}", unit="share")
        if tx.stake_before is not None
        else FactValue.exact(0.0, f"stake before of {named(ents, acq)}", unit="share")
        if tx.kind is TransactionKind.JOINT_VENTURE
        else FactValue.unknown(f"stake of {named(ents, acq)} before {tx.id}", unit="share")
    )
    control_after = (
        FactValue.exact(1.0 if tx.control else 0.0, f"control of {target}", unit="bool")
        if tx.control is not None
        else FactValue.exact(1.0, f"control of {target}", unit="bool")
        if stake.known and stake.lo > 0.5
        else FactValue.exact(0.0, f"control of {target}", unit="bool")
        if stake.known and stake.hi <= 0.5
        else FactValue.unknown(
            f"whether {named(ents, acq)} acquires control of {target}", unit="bool"
        )
    )
    control_before = FactValue.exact(
        1.0 if before.known and before.lo > 0.5 else 0.0, f"control before of {target}", unit="bool"
    )
    tmark = [tx.id] if tx.unconfirmed else []

    def facts(after: bool) -> Any:
        def read(b: Mapping[str, Any]) -> FactValue:
            f = str(b["fact"])
            if f == "stake":
                return stake if after else before
            if f == "stake_before":
                return before
            if f == "control":
                return control_after if after else control_before
            if f == "investment_value":
                return money_fact(tx.value, f"value of {tx.id}", tmark, tx.sources)
            return _target_fact(ctx, f, tx.target, b)

        def get(b: Mapping[str, Any]) -> FactValue:
            fv = read(b)
            used.update(fv.sources)
            return fv

        return get

    acts, none = _activities(ctx, tx, used)
    # (outcome id, met, reasons, missing, unconfirmed, what leaves it open)
    results: list[tuple[str, bool | None, list[str], list[str], list[str], str]] = []
    if not isinstance(tiers, list):
        raise ConditionError("tiers is a list of {when, sectors, outcome}")
    for tier in tiers:
        out_id = str(tier.get("outcome"))
        if out_id not in OUTCOMES:
            raise ConditionError(f"tier outcome must be one of {sorted(OUTCOMES)}: {out_id!r}")
        after_j = judge(tier["when"], facts(True))
        crossed: bool | None = after_j.met
        reasons = list(after_j.reasons)
        missing = list(after_j.missing)
        if crossed and tier.get("crossing", True):
            before_j = judge(tier["when"], facts(False))
            if before_j.met:
                crossed = False
                reasons = [f"already met before {tx.id}: {before_j.reasons[0]}"]
            elif before_j.met is None:
                crossed = None
                missing += before_j.missing
        insec, why_s = _in_sectors(tier.get("sectors", "listed"), sectors, acts, bool(none), target)
        met = _and(crossed, insec)
        reasons.append(why_s)
        if insec is None and not acts:
            missing.append(f"activities of {_named_ids(ents, none)}")
        open_why = "; ".join(
            [*([why_s] if insec is None else []), *(missing if crossed is None else [])]
        )
        results.append((out_id, met, reasons, missing, after_j.unconfirmed, open_why))
    certain = [r for r in results if r[1] is True]
    best = min(certain, key=lambda r: _RANK[r[0]]) if certain else None
    best_id = best[0] if best else "no_filing"
    open_ = [r for r in results if r[1] is None and _RANK[r[0]] < _RANK[best_id]]
    exempt = (
        _exemption(ctx, exemptions, tx, facts(True)) if best_id != "no_filing" or open_ else None
    )
    unconf = sorted({*(u for r in results for u in r[4]), *tmark})
    head = why_f
    if foreign is None:
        return Clause(
            **base,
            verdict=Verdict.AT_RISK,
            reason=f"whether {why_f}",
            missing=miss_f,
            links=links,
            outcome="undetermined",
            unconfirmed=unconf,
            impact=IMPACT["mandatory_filing"] * 0.5,
        )
    if exempt is not None and exempt.met:
        return Clause(
            **base,
            verdict=Verdict.ELIGIBLE,
            links=links,
            unconfirmed=unconf,
            reason=f"{head}: exempt: {'; '.join(exempt.reasons)}",
            outcome=f"{OUTCOMES['no_filing']} (exempt)",
        )
    if open_:
        top = min(open_, key=lambda r: _RANK[r[0]])
        words = OUTCOMES[top[0]]
        why_open = "; ".join(top[2])
        advice = phrases.get("open")
        exempt_note = (
            f"; exemption open: {'; '.join(exempt.reasons)}"
            if exempt and exempt.met is None
            else ""
        )
        fallback = OUTCOMES[best_id]
        return Clause(
            **base,
            verdict=Verdict.AT_RISK,
            links=links,
            unconfirmed=unconf,
            missing=sorted({m for m in top[3]} | set(exempt.missing if exempt else [])),
            reason=f"{head}: {why_open}{exempt_note}; if so {words}, else {fallback}"
            + (f" ({advice})" if advice else "")
            + _conditions(phrases, top[0]),
            outcome=f"{words} likely (open: {top[5]})"
            if not top[3]
            else f"undetermined: {words} or {fallback}",
            impact=IMPACT[top[0]],
        )
    if best is None:
        return Clause(
            **base,
            verdict=Verdict.ELIGIBLE,
            links=links,
            unconfirmed=unconf,
            reason=f"{head}: no threshold crossed in a covered sector ("
            + "; ".join(r for res in results for r in res[2][:1])
            + ")",
            outcome=OUTCOMES["no_filing"],
        )
    return Clause(
        **base,
        verdict=_VERDICT[best_id],
        links=links,
        unconfirmed=unconf,
        reason=f"{head}: {'; '.join(best[2])}: {OUTCOMES[best_id]}"
        + (f" ({stake.words()} of {target})" if stake.known else "")
        + _conditions(phrases, best_id),
        outcome=OUTCOMES[best_id],
        impact=IMPACT[best_id],
    )


def _conditions(phrases: Mapping[str, str], outcome_id: str) -> str:
    """The text's ``phrases.conditions`` (what approval would be conditioned on, e.g. the
    Industrial Accelerator Act's "foreign ownership at most 49%") after a mandatory filing."""
    said = phrases.get("conditions")
    return f"; {said}" if said and outcome_id == "mandatory_filing" else ""


def _named_ids(ents: Mapping[str, Any], ids: list[str]) -> str:
    return prose_list(named(ents, i) for i in ids)


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _exemption(ctx: EvalContext, exemptions: Any, tx: Transaction, facts: Any) -> Judgement | None:
    """The first exemption that holds (or may hold) for the target, else None."""
    found: Judgement | None = None
    for ex in exemptions or []:
        j = judge(ex["when"], facts)
        label = str(ex.get("label", "exemption"))
        j.reasons = [f"{label}: {'; '.join(j.reasons)}"]
        if j.met and tx.kind.value in (ex.get("unconfirmed_for") or []):
            j.met = None
            j.reasons = [f"{label} (UNCONFIRMED for a {tx.kind.value.replace('_', ' ')})"]
        if j.met:
            return j
        if j.met is None and found is None:
            found = j
    return found


def _target_fact(ctx: EvalContext, fact: str, target: str, b: Mapping[str, Any]) -> FactValue:
    ents = ctx.g.dataset.entities
    scopes = {
        "turnover": TurnoverScope.WORLDWIDE,
        "eu_turnover": TurnoverScope.EU,
        "group_turnover": TurnoverScope.GROUP,
        "national_turnover": TurnoverScope.NATIONAL,
    }
    if fact not in scopes:
        raise ConditionError(f"acquisition_screening cannot read fact {fact!r}")
    country = ctx.arr.country if fact == "national_turnover" else None
    return turnover_fact(ents, target, scopes[fact], ctx.on, country)
