"""The ``list_effects`` rule kind: what the pack's restricted-party lists do to an arrangement.

Every effect of every list in the pack (1260H contracting bans, §154 DoD battery ban, UFLPA
import ban, BIS affiliates, OFAC 50%) on the parties it reaches directly (impact 1 when in
force, 0.5 when dated in the future) and on the arrangement's other parties (licensor,
supplier, operator for fees: indirect, impact 0.25). Who is reached directly depends on the
effect: a DoD contracting ban reaches the *contracting side* (the owner of the plant, the
taxpayer and their controllers: the carmaker under CATL's LRS model, not CATL as licensor and
operator); every other effect reaches the *producer side* (also the plant's operator). The
``sfe`` effects are not judged here: they feed the PFE tests of :mod:`.production_credit`.

An entity reached only through an ``affiliates_50`` scope (OFAC 50 Percent Rule, BIS
Affiliates Rule) is said to be covered *as an affiliate* of the listed parties upstream, with
the share listed or covered holders own of it together and the ownership paths from the listed
parties in the clause's evidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

from georisk.scoring.control import RuleTest
from georisk.scoring.graph import PathListing, SharePath, ShareValue
from georisk.scoring.interval import Interval, Tri
from georisk.scoring.model import Entity, LinkKind
from georisk.scoring.policy import ListDefinition, ListEffect, RuleInstance
from georisk.scoring.rules.context import EvalContext, nexus
from georisk.scoring.rules.outcome import (
    Clause,
    ParamUse,
    RuleOutcome,
    Verdict,
    finish,
    not_applicable,
)
from georisk.scoring.wording import named, named_list, pct, pct_range, prose_list

__all__ = ["CONTRACTING_EFFECTS", "evaluate"]

#: effects that reach the contracting party (who sells to DoD), not the plant's operator
CONTRACTING_EFFECTS = frozenset({"dod_contracting_ban_direct", "dod_contracting_ban_indirect"})

#: how an affiliate is said to be reached, by effect (default: "covered")
_AFFILIATE_VERB = {"blocked": "blocked"}


def evaluate(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """Every effect of the pack's lists on the arrangement's parties on the context's date."""
    why = nexus(ctx, rule)
    if why:
        return not_applicable(rule, why)
    producer_side = set(ctx.producer_side())
    contracting_side = set(ctx.contracting_side())
    parties = {p.entity for p in ctx.arr.parties}
    ents = ctx.g.dataset.entities
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
            certain, possible = set(listed), set(listed)
            if eff.scope == "affiliates_50":
                certain, possible = _affiliates(ctx, lst.id, listed)
            future = eff.effective_from is not None and eff.effective_from > ctx.on
            when = f"from {eff.effective_from}" if future else "in force"
            contracting = eff.effect in CONTRACTING_EFFECTS
            direct = contracting_side if contracting else producer_side
            others = (parties | producer_side) - direct
            sets = (listed, certain, possible)
            for x in sorted(possible & direct):
                side = "contracting side" if contracting else "producer side"
                who, evidence = _who(ctx, lst, eff, x, side, sets)
                sure = x in certain
                clauses.append(
                    Clause(
                        id=f"{lst.id}:{eff.effect}:{x}",
                        title=f"{lst.id} {eff.effect}",
                        clause=eff.clause,
                        verdict=Verdict.AT_RISK if future or not sure else Verdict.NOT_ELIGIBLE,
                        params=uses,
                        reason=f"{who}; {eff.effect} {when}",
                        evidence=evidence,
                        impact=(0.5 if future else 1.0) * (1.0 if sure else 0.5),
                        unconfirmed=sorted(
                            {*([x] if eff.unconfirmed else []), *_uncertain(evidence)}
                        ),
                        missing=[] if sure else [f"the exact holdings in {named(ents, x)}"],
                    )
                )
            for x in sorted(possible & others):
                who, evidence = _who(ctx, lst, eff, x, _roles(ctx, x), sets)
                reach = f"{eff.effect} {when} reaches the arrangement only indirectly"
                if contracting:
                    party = named_list(ents, ctx.contracting_parties())
                    reach += f": the contracting party is {party}"
                clauses.append(
                    Clause(
                        id=f"{lst.id}:{eff.effect}:{x}",
                        title=f"{lst.id} {eff.effect}",
                        clause=eff.clause,
                        verdict=Verdict.AT_RISK,
                        params=uses,
                        impact=0.25,
                        evidence=evidence,
                        unconfirmed=_uncertain(evidence),
                        reason=f"{who}; {reach}",
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


def _since(ctx: EvalContext, list_id: str, eid: str) -> str:
    m = ctx.g.entity(eid).listed_on(list_id, ctx.on)
    return f" since {m.since}" if m is not None and m.since else ""


def _who(
    ctx: EvalContext,
    lst: ListDefinition,
    eff: ListEffect,
    x: str,
    role: str,
    sets: tuple[frozenset[str], set[str], set[str]],
) -> tuple[str, list[RuleTest]]:
    """How ``x`` (in ``role``) is reached by the list: ``"X [x] (role) is on L since …"``, or
    covered as an affiliate of the listed parties upstream, with the share listed or covered
    holders own of it together and the paths from the listed parties (the evidence).

    ``sets``: the listed entities, and the certain and possible members of the closure."""
    listed, certain, possible = sets
    ents = ctx.g.dataset.entities
    if x in listed:
        return f"{named(ents, x)} ({role}) is on {lst.id}{_since(ctx, lst.id, x)}", []
    threshold = float(ctx.param("lists.affiliates_threshold"))
    holdings = sorted(
        (l for l in ctx.g.links_into(x, [LinkKind.EQUITY]) if l.source in possible and l.share),
        key=lambda l: (-l.share_bounds()[1], l.source),
    )
    total = Interval.zero()
    for l in holdings:
        iv = l.share_interval()
        total = total + (iv if l.source in certain else Interval(0.0, iv.hi, False, iv.hi_open))
    total = total.clamp()
    listing = ctx.g.share_paths(x, holders=listed, stop_at_holders=True)
    # the chains that make the aggregation: from a listed party through covered entities only
    chains = [p for p in listing.paths if all(e in possible for e in p.entities)]
    roots = sorted({p.holder for p in chains})
    verb = _AFFILIATE_VERB.get(eff.effect, "covered")
    held = prose_list(
        f"{named(ents, l.source)} holds {pct_range(*l.share_bounds())}"
        + ("" if l.source in listed else f" ({_chain(ents, chains, l.source, verb)})")
        for l in holdings
    )
    sure = x in certain
    what = (
        f"{'is' if sure else 'may be'} {verb} as an affiliate of "
        + prose_list(f"{named(ents, r)} (on {lst.id}{_since(ctx, lst.id, r)})" for r in roots)
        + f": listed or {verb} holders own {pct_range(total.lo, total.hi)} of it together "
        f"({pct(threshold)} or more {'blocks' if verb == 'blocked' else 'covers'}): {held}"
    )
    test = RuleTest(
        test=f"{lst.id}:affiliates_50",
        clause=eff.clause,
        verdict=Tri.TRUE if sure else Tri.UNDETERMINED,
        value=ShareValue.of(total),
        threshold=threshold,
        inclusive=True,
        reason=f"{named(ents, x)} {what}",
        paths=PathListing(
            paths=chains,
            truncated=listing.truncated,
            max_depth=listing.max_depth,
            max_paths=listing.max_paths,
        ),
        links=[l.id for l in holdings],
        depends_on_unconfirmed=sorted(
            {l.id for l in holdings if l.uncertain}
            | {s.link for p in chains for s in p.steps if s.unconfirmed or s.status != "confirmed"}
        ),
    )
    return f"{named(ents, x)} ({role}) {what}", [test]


def _chain(ents: Mapping[str, Entity], chains: list[SharePath], holder: str, verb: str) -> str:
    """``itself covered: A [a] → B [b]``: the strongest chain from a listed party to ``holder``."""
    for p in chains:
        if holder in p.entities:
            upto = p.entities[: p.entities.index(holder) + 1]
            return f"itself {verb}: " + " → ".join(named(ents, e) for e in upto)
    return f"itself {verb}"


def _uncertain(evidence: list[RuleTest]) -> list[str]:
    return sorted({u for t in evidence for u in t.depends_on_unconfirmed})


def _affiliates(
    ctx: EvalContext, list_id: str, listed: frozenset[str]
) -> tuple[set[str], set[str]]:
    """Listed entities and those owned at least ``lists.affiliates_threshold`` (50%: OFAC FAQ
    401 / BIS 2025) by them, aggregated and through tiers: (certain, possible) members."""
    threshold = float(ctx.param("lists.affiliates_threshold"))

    def make() -> tuple[set[str], set[str]]:
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
        ids = ctx.g.ids
        return {ids[i] for i in np.flatnonzero(c.certain)}, {
            ids[i] for i in np.flatnonzero(c.possible)
        }

    return ctx.g.cached(f"affiliates:{list_id}:{threshold}:both", make)


def _roles(ctx: EvalContext, eid: str) -> str:
    roles = sorted({p.role.replace("_", " ") for p in ctx.arr.parties if p.entity == eid})
    return prose_list(roles) if roles else "party"
