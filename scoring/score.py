"""Scores: technology exposure, equity structure and policy sensitivity, with explanations.

Each axis is a 0–100 score that is the sum of listed contributions (scaled down together when
the raw sum exceeds 100, so that contributions always add up to the score). Bands: low < 34,
medium 34–66, high ≥ 67. The design, weights and their reasons are in ``scoring/README.md``.

>>> band(85.0), band(57.9), band(0.0)
('high', 'medium', 'low')
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from georisk.scoring.control import (
    PfeParams,
    covered_exposure,
    covered_parties,
    covered_share,
    foreign_influenced,
)
from georisk.scoring.graph import ArrangementGraph, ShareValue
from georisk.scoring.model import Arrangement, EntityKind, Link, LinkKind, LinkStatus
from georisk.scoring.policy import BasisKind, Scenario
from georisk.scoring.rules import EvalContext, RuleOutcome, Verdict, links_into
from georisk.scoring.wording import named, named_list, pct, pct_range, prose_list

__all__ = [
    "AXIS_WEIGHTS",
    "BANDS",
    "AxisScore",
    "Contribution",
    "ScenarioOutcome",
    "band",
    "equity_axis",
    "policy_axis",
    "technology_axis",
    "unconfirmed_facts",
]

BANDS = ((67.0, "high"), (34.0, "medium"), (0.0, "low"))
AXIS_WEIGHTS = {"technology": 0.35, "equity": 0.35, "policy": 0.30}

#: technology points per link kind from a fully covered-nation-controlled provider
TECH_POINTS = {
    "licence_core": 70.0,  # core cell/process IP: the plant cannot run without it
    "licence": 35.0,  # peripheral IP
    "in_house": 70.0,  # the producer itself is covered-controlled and owns the technology
    "operation": 30.0,  # the provider runs the plant
    "services": 15.0,
    "equipment": 15.0,
    "supply": 15.0,  # material/component supply of unknown cost share
    "supplied_product": 70.0,  # the arrangement's product itself, from its designated supplier
    "supply_per_cost": 60.0,  # × the buyer's direct-material cost share when known
    "membership": 20.0,  # joint R&D consortium membership of a covered party
}
#: × per binding licence term (royalties and services beyond the pack's licensing.indicators,
#: licensor controls, know-how withheld, licensor operating the plant)
BINDING_BONUS = 0.15
DOUBTFUL_EXISTENCE = 0.5  # a link only reported and marked unconfirmed counts half

EQUITY_POINTS = {
    "ownership": 100.0,  # × integrated covered-nation ownership (lower bound), capped at 70
    "ownership_cap": 70.0,
    "majority_control": 25.0,  # > 50% controlled by covered-nation parties (chain)
    "joint_control": 20.0,  # one covered holder with ≥ 50% (a 50/50 JV)
    "blocking_minority": 10.0,  # one covered holder with ≥ 25%
    "debt": 10.0,  # × SFE debt share / 15%, capped
    "appointment": 10.0,  # a covered party can appoint board members or officers
    "opacity_width": 30.0,  # × width of the ownership range
    "opacity_unconfirmed": 5.0,  # per unconfirmed holding on the paths, capped at 15
}


def band(score: float) -> str:
    return next(name for floor, name in BANDS if score >= floor)


class Contribution(BaseModel):
    """One additive part of an axis score and what it rests on."""

    label: str
    points: float
    detail: str
    links: list[str] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    unconfirmed: bool = False


class AxisScore(BaseModel):
    axis: str
    score: float = Field(ge=0, le=100)
    band: str
    contributions: list[Contribution] = Field(description="points add up to the score")
    scale: float = Field(description="factor applied to raw points (< 1 when capped at 100)")
    notes: list[str] = Field(default_factory=list)


def _axis(name: str, parts: list[Contribution], notes: list[str] | None = None) -> AxisScore:
    raw = sum(c.points for c in parts)
    scale = 100.0 / raw if raw > 100.0 else 1.0
    scaled = [
        c
        if (pts := round(c.points * scale, 6)) == c.points
        else c.model_copy(update={"points": pts})
        for c in parts
    ]
    score = round(sum(c.points for c in scaled), 6)
    return AxisScore(
        axis=name,
        score=min(100.0, score),
        band=band(score),
        contributions=scaled,
        scale=round(scale, 6),
        notes=notes or [],
    )


# --------------------------------------------------------------------------- subjects


def subjects(g: ArrangementGraph, arr: Arrangement) -> list[str]:
    """Whose ownership the equity axis examines: the taxpayer, and the focal facility and its
    owners (or the focal entity itself when it is not a facility). Operators are not subjects:
    an LRS licensor running a carmaker's plant owns none of it (it counts on the technology
    axis)."""
    out = set()
    focal = g.entity(arr.focal)
    if focal.kind is EntityKind.FACILITY:
        out.add(arr.focal)
        out |= {l.source for l in links_into(g, arr.focal, [LinkKind.EQUITY])}
    else:
        out.add(arr.focal)
    if arr.taxpayer:
        out.add(arr.taxpayer)
    return sorted(out)


@dataclass(frozen=True)
class _Control:
    """How far an entity is controlled from a covered nation (0..1) and why."""

    degree: float
    why: str


def covered_control(g: ArrangementGraph, params: PfeParams, eid: str) -> _Control:
    who = named(g.dataset.entities, eid)
    seeds = _seeds(g, params)
    i = g.index[eid]
    if seeds[i]:
        e = g.entity(eid)
        return _Control(1.0, f"{who} is a covered-nation party ({e.kind.value}, {e.country})")
    certain, possible = _fce(g, params)
    if certain[i]:
        op = "≥" if params.fce_inclusive else ">"
        return _Control(
            1.0, f"{who} is {op} {pct(params.fce_threshold)} controlled from a covered nation"
        )
    share = covered_share(g, eid, params)  # the whole-graph vector: no path listing read here
    deg = share.min
    if possible[i]:
        deg = max(deg, 0.5)
    return _Control(deg, f"{who}: covered-nation ownership {pct_range(share.min, share.max)}")


def _unsure(l: Link) -> bool:
    """UNCONFIRMED, or only reported or proposed."""
    return l.unconfirmed or l.status is not LinkStatus.CONFIRMED


def _unsure_links(g: ArrangementGraph, links: Iterable[str]) -> list[str]:
    """The links among ``links`` that are UNCONFIRMED or only reported or proposed."""
    ls = g.dataset.links
    return [i for i in links if (l := ls.get(i)) is not None and _unsure(l)]


def _unsure_entities(g: ArrangementGraph, entities: Iterable[str]) -> list[str]:
    es = g.dataset.entities
    return [e for e in entities if e in es and es[e].unconfirmed]


def _rests_on(
    g: ArrangementGraph, links: Iterable[str], entities: Iterable[str]
) -> tuple[list[str], bool]:
    """What a contribution resting on ``links`` and ``entities`` cites and whether it is
    unconfirmed: the sources of its links (of its entities when it has no link), and true when
    any of them is UNCONFIRMED or (a link) only reported or proposed."""
    links, entities = list(links), list(entities)
    ls, es = g.dataset.links, g.dataset.entities
    cited: set[str] = set()
    unsure = False
    for i in links:  # each link read once (a columnar store materializes it)
        l = ls.get(i)
        if l is not None:
            cited.update(l.sources)
            unsure = unsure or _unsure(l)
    for eid in entities:
        e = es.get(eid)
        if e is not None:
            if not links:
                cited.update(e.sources)
            unsure = unsure or e.unconfirmed
    return sorted(cited), unsure


def unconfirmed_facts(g: ArrangementGraph, axes: Iterable[AxisScore]) -> set[str]:
    """The UNCONFIRMED (or only reported/proposed) links and entities the flagged
    contributions of ``axes`` rest on: what the confidence counts. A flagged contribution's
    confirmed links are not among them."""
    out: set[str] = set()
    for a in axes:
        for c in a.contributions:
            if c.unconfirmed:
                out |= set(_unsure_links(g, c.links)) | set(_unsure_entities(g, c.entities))
    return out


def _seeds(g: ArrangementGraph, params: PfeParams) -> np.ndarray:
    return covered_parties(g, params)


def _fce(g: ArrangementGraph, params: PfeParams) -> tuple[np.ndarray, np.ndarray]:
    """Controlled from a covered nation by majority chain at the pack's FCE threshold
    (``pfe.fce_threshold``: more than 50%): (certain, possible) masks."""
    t, inclusive = params.fce_threshold, params.fce_inclusive

    # the same closure as the SFE test's foreign-controlled chain (one computation per graph)
    key = f"fce-chain:{sorted(params.covered_nations)}:{t}:{inclusive}"
    c = g.closure(key, _seeds(g, params), t, inclusive=inclusive, control=True)
    return c.certain, c.possible


# --------------------------------------------------------------------------- technology


def _binding_terms(l: Link, operators: set[str], indicators: dict[str, Any]) -> list[str]:
    """The licence terms that bind the licensee to the licensor; royalty and service terms
    count beyond the pack's effective-control indicators (``licensing.indicators``:
    royalties beyond 10 years, services beyond 2), not at all when the pack has none."""
    t = l.licence
    terms = []
    roy_max, svc_max = indicators.get("royalty_years_max"), indicators.get("service_years_max")
    if t is not None:
        if roy_max is not None and t.royalty_years is not None and t.royalty_years > float(roy_max):
            terms.append(f"royalties {t.royalty_years:g} y")
        if svc_max is not None and t.service_years is not None and t.service_years > float(svc_max):
            terms.append(f"services {t.service_years:g} y")
        terms += [f"licensor controls {c}" for c in t.licensor_controls]
        if t.know_how_transfer.value in ("partial", "none"):
            terms.append(f"know-how transfer {t.know_how_transfer.value}")
    if l.source in operators:
        terms.append("licensor operates the plant")
    return terms


def _makers(ctx: EvalContext) -> tuple[list[str], bool]:
    """Who makes the product, for the in-house technology line: the producers
    (:meth:`EvalContext.producers`), or the taxpayer when the focal facility has no owner or
    operator on the date (e.g. an abandoned project whose ownership link has ended): the
    production credit's claimant is by definition its producer. The flag says which."""
    producers = ctx.producers()
    focal = ctx.arr.focal
    if (
        producers == [focal]
        and ctx.g.entity(focal).kind is EntityKind.FACILITY
        and ctx.arr.taxpayer
        and ctx.arr.taxpayer != focal
    ):
        return [ctx.arr.taxpayer], True
    return producers, False


def technology_axis(ctx: EvalContext) -> AxisScore:
    """Technology flowing into the arrangement from covered-nation-controlled providers.

    points = base(kind, criticality) × (1 + 0.15 × binding terms) × control(provider)
    × 0.5 if the link's existence is doubtful (reported and UNCONFIRMED).
    """
    g, params = ctx.g, ctx.pfe
    recv = ctx.receivers()
    operators = {l.source for l in ctx.links_into(ctx.arr.focal, [LinkKind.OPERATION])}
    ind = ctx.pack.maybe("licensing.indicators", ctx.on)
    indicators: dict[str, Any] = ind.value if ind is not None else {}
    parts: list[Contribution] = []
    seen: set[str] = set()
    kinds = [
        LinkKind.LICENCE,
        LinkKind.OPERATION,
        LinkKind.SERVICES,
        LinkKind.EQUIPMENT,
        LinkKind.SUPPLY,
        LinkKind.MEMBERSHIP,
    ]
    licensed = set()
    suppliers = {p.entity for p in ctx.arr.parties if p.role == "supplier"}
    for r in sorted(recv):
        for l in ctx.links_into(r, kinds):
            if l.id in seen:
                continue
            seen.add(l.id)
            ctrl = covered_control(g, params, l.source)
            if ctrl.degree <= 0:
                continue
            if l.kind is LinkKind.LICENCE:
                licensed.add(l.target)
                core = l.licence is None or l.licence.core_ip
                base = TECH_POINTS["licence_core" if core else "licence"]
                terms = _binding_terms(l, operators, indicators)
                mult = 1.0 + BINDING_BONUS * len(terms)
                label = f"{'core ' if core else ''}technology licence"
            elif l.kind is LinkKind.SUPPLY and l.source in suppliers:
                base = TECH_POINTS["supplied_product"]
                terms, mult, label = [], 1.0, "the arrangement's product, made by the supplier"
            elif l.kind is LinkKind.SUPPLY and l.share is not None:
                base = TECH_POINTS["supply_per_cost"] * l.share_interval().lo
                terms, mult, label = [], 1.0, "material supply (cost share)"
            else:
                base = TECH_POINTS[l.kind.value]
                terms, mult, label = [], 1.0, l.kind.value
            doubt = l.unconfirmed and l.status is LinkStatus.REPORTED
            pts = base * mult * ctrl.degree * (DOUBTFUL_EXISTENCE if doubt else 1.0)
            cited, unsure = _rests_on(g, [l.id], [l.source, l.target])
            parts.append(
                Contribution(
                    label=label,
                    points=pts,
                    links=[l.id],
                    entities=[l.source, l.target],
                    sources=cited,
                    unconfirmed=unsure or l.uncertain,
                    detail=f"{named(g.dataset.entities, l.source)} → "
                    f"{named(g.dataset.entities, l.target)}: base {base:g} × binding {mult:.2f}"
                    + (f" ({', '.join(terms)})" if terms else "")
                    + f" × control {ctrl.degree:.2f} [{ctrl.why}]"
                    + (f" × {DOUBTFUL_EXISTENCE} (existence unconfirmed)" if doubt else ""),
                )
            )
    producers, by_taxpayer = _makers(ctx)
    for p in producers:
        if p in licensed:
            continue
        ctrl = covered_control(g, params, p)
        if ctrl.degree > 0:
            who = named(g.dataset.entities, p)
            parts.append(
                Contribution(
                    label="in-house technology of a covered-controlled producer",
                    points=TECH_POINTS["in_house"] * ctrl.degree,
                    entities=[p],
                    sources=list(g.entity(p).sources),
                    unconfirmed=g.entity(p).unconfirmed,
                    detail=f"{who} makes the product with its own technology"
                    + (
                        f" (the taxpayer: no owner or operator of "
                        f"{named(g.dataset.entities, ctx.arr.focal)} is recorded on {ctx.on})"
                        if by_taxpayer
                        else ""
                    )
                    + f": base {TECH_POINTS['in_house']:g} × control {ctrl.degree:.2f} "
                    f"[{ctrl.why}]",
                )
            )
    notes = [] if parts else ["no technology from covered-nation-controlled providers recorded"]
    return _axis("technology", parts, notes)


# --------------------------------------------------------------------------- equity


def equity_axis(ctx: EvalContext) -> AxisScore:
    """Covered-nation ownership and control of the taxpayer and the facility (the worst subject).

    Every contribution cites the sources of the links it rests on (the ownership paths for the
    ownership and control lines) and is ``unconfirmed`` when any of those links, or any entity
    on them, is UNCONFIRMED or only reported or proposed.
    """
    g, params = ctx.g, ctx.pfe
    names = g.dataset.entities
    best: AxisScore | None = None
    subs = subjects(g, ctx.arr)
    for s in subs:
        parts: list[Contribution] = []
        e = g.entity(s)
        who = named(names, s)
        seeds = _seeds(g, params)
        if seeds[g.index[s]] and e.kind is not EntityKind.FACILITY:
            cited, unsure = _rests_on(g, [], [s])
            parts.append(
                Contribution(
                    label="organized in a covered nation",
                    points=EQUITY_POINTS["ownership_cap"] + EQUITY_POINTS["majority_control"],
                    entities=[s],
                    sources=cited,
                    unconfirmed=unsure,
                    detail=f"{who} is a {e.kind.value} of {e.country}: "
                    "wholly within covered-nation jurisdiction",
                )
            )
        else:
            exp = covered_exposure(g, s, params)
            own = min(EQUITY_POINTS["ownership_cap"], EQUITY_POINTS["ownership"] * exp.share.min)
            path_links = sorted({st.link for p in exp.paths.paths for st in p.steps})
            path_entities = sorted({x for p in exp.paths.paths for x in p.entities} | {s})
            unconf = sorted(
                {
                    st.link
                    for p in exp.paths.paths
                    for st in p.steps
                    if st.unconfirmed or st.status != "confirmed"
                }
            )
            path_cited, path_unsure = _rests_on(g, path_links, path_entities)
            if own > 0:
                parts.append(
                    Contribution(
                        label="integrated covered-nation ownership",
                        points=own,
                        entities=[s],
                        links=path_links,
                        sources=path_cited,
                        unconfirmed=path_unsure,
                        detail=f"{who}: {pct(exp.share.min)} owned directly or indirectly by "
                        f"covered-nation parties × {EQUITY_POINTS['ownership']:g} "
                        f"(cap {EQUITY_POINTS['ownership_cap']:g})",
                    )
                )
            certain, possible = _fce(g, params)
            i = g.index[s]
            direct = [
                (l, l.share_interval())
                for l in links_into(g, s, [LinkKind.EQUITY, LinkKind.VOTING])
                if covered_control(g, params, l.source).degree >= 1.0
            ]
            top = max((iv.lo for _, iv in direct), default=0.0)
            holders = named_list(names, sorted({l.source for l, _ in direct}))
            direct_ids = [l.id for l, _ in direct]
            if certain[i]:
                parts.append(
                    Contribution(
                        label="majority control from a covered nation",
                        points=EQUITY_POINTS["majority_control"],
                        entities=[s],
                        links=path_links,
                        sources=path_cited,
                        unconfirmed=path_unsure,
                        detail=f"{who} is {'≥' if params.fce_inclusive else '>'} "
                        f"{pct(params.fce_threshold)} controlled from a covered nation "
                        "by majority chain",
                    )
                )
            elif possible[i] or top >= 0.5 - 1e-9:
                cited, unsure = _rests_on(g, direct_ids, [s, *(l.source for l, _ in direct)])
                parts.append(
                    Contribution(
                        label="joint control by a covered holder",
                        points=EQUITY_POINTS["joint_control"],
                        entities=[s],
                        links=direct_ids,
                        sources=cited or path_cited,
                        unconfirmed=unsure or (not direct_ids and path_unsure),
                        detail=(
                            f"{holders} holds 50% of {who} (joint control)"
                            if top >= 0.5 - 1e-9
                            else f"ranged shares may give covered-nation holders control of {who}"
                        ),
                    )
                )
            elif top >= 0.25 - 1e-9:
                cited, unsure = _rests_on(g, direct_ids, [s, *(l.source for l, _ in direct)])
                parts.append(
                    Contribution(
                        label="blocking minority of a covered holder",
                        points=EQUITY_POINTS["blocking_minority"],
                        entities=[s],
                        links=direct_ids,
                        sources=cited,
                        unconfirmed=unsure,
                        detail=f"{holders} holds at least {pct(top)} of {who} "
                        "(a blocking minority, ≥ 25%)",
                    )
                )
            # the SFE debt test reads only the subject's debt in-links: without any, it holds
            # no debt (and the FIE tests' walk up the subject's holders is not needed here)
            if links_into(g, s, [LinkKind.DEBT]):
                fie = foreign_influenced(g, s, params)
                debt = next(t for t in fie.tests if t.test == "sfe_debt")
                if debt.value is not None and debt.value.max > 0:
                    cited, unsure = _rests_on(g, debt.links, [s])
                    parts.append(
                        Contribution(
                            label="debt held by SFEs",
                            links=debt.links,
                            entities=[s],
                            sources=cited,
                            unconfirmed=unsure,
                            points=EQUITY_POINTS["debt"]
                            * min(1.0, debt.value.max / max(params.fie_debt, 1e-9)),
                            detail=f"SFEs hold up to {pct(debt.value.max)} of {who}'s debt",
                        )
                    )
            appts = [
                l
                for l in links_into(g, s, [LinkKind.APPOINTMENT])
                if covered_control(g, params, l.source).degree > 0
            ]
            if appts:
                cited, unsure = _rests_on(g, [l.id for l in appts], [s])
                parts.append(
                    Contribution(
                        label="appointment rights of covered parties",
                        points=EQUITY_POINTS["appointment"],
                        entities=[s],
                        links=[l.id for l in appts],
                        sources=cited,
                        unconfirmed=unsure,
                        detail=f"{named_list(names, sorted({l.source for l in appts}))} "
                        f"appoint board members or officers of {who}",
                    )
                )
            width = exp.share.max - exp.share.min
            opacity = EQUITY_POINTS["opacity_width"] * width + min(
                15.0, EQUITY_POINTS["opacity_unconfirmed"] * len(unconf)
            )
            if opacity > 0 and (own > 0 or width > 0):
                cited, _ = _rests_on(g, unconf or path_links, [s])
                parts.append(
                    Contribution(
                        label="opacity",
                        points=opacity,
                        entities=[s],
                        links=unconf,
                        sources=cited,
                        unconfirmed=True,
                        detail=f"{who}: ownership range width {pct(width)} × "
                        f"{EQUITY_POINTS['opacity_width']:g}"
                        f" + {len(unconf)} unconfirmed/reported holdings × "
                        f"{EQUITY_POINTS['opacity_unconfirmed']:g} (cap 15)",
                    )
                )
        axis = _axis(
            "equity",
            parts,
            [f"subject: {who} (the highest-scoring of {named_list(names, subs)})"],
        )
        if best is None or axis.score > best.score:
            best = axis
    assert best is not None
    return best


# --------------------------------------------------------------------------- policy


class ScenarioOutcome(BaseModel):
    scenario: str
    title: str
    probability: float
    evaluated_on: dt.date = Field(
        description="scoring date, or the date the scenario's changes take effect if later"
    )
    impact: float = Field(description="adverse impact 0..1: the worst rule impact")
    rules: list[RuleOutcome]


def _verdicts(o: ScenarioOutcome) -> str:
    return prose_list(f"{r.rule} {r.verdict.value.replace('_', ' ')}" for r in o.rules)


def policy_axis(
    outcomes: list[ScenarioOutcome], scenarios: Sequence[Scenario] | None = None
) -> AxisScore:
    """100 × min(1, E[I] + SD[I]), I = the worst rule impact of the world that comes about.

    The enacted current-law scenario is the baseline (impact I₀). Every other scenario is a
    change that happens with its probability ``p``; scenarios of different events (``event``)
    are independent, scenarios of one event are exclusive alternatives. A world is current law
    plus the changes that happen; its impact is that of its worst change (the one with the
    highest impact), or I₀ when none of the changes that move the impact happens. Changes whose
    impact equals I₀ do not move it. Hence, with ``above(e, s)`` the probability that event
    ``e`` yields a change ranked above ``s`` (higher impact, or equal and listed first):

        P(s decides) = p_s × Π over the other events e of (1 − above(e, s))
        P(no change) = Π over the events e of (1 − Σ p of its alternatives that move I)

    and E[I], SD[I] are taken over that distribution (worked example in ``scoring/README.md``).
    Contributions: 100 × P(no change) × I₀ for current law, 100 × P(s decides) × I_s per
    scenario, and one line for the dispersion; they add up to the score.

    Without ``scenarios`` (their events and bases), the baseline is the outcome with
    probability 1 and each other scenario is its own event.
    """
    meta = {s.id: s for s in scenarios or ()}

    def is_base(o: ScenarioOutcome) -> bool:
        sc = meta.get(o.scenario)
        if sc is not None:
            return sc.basis.kind is BasisKind.ENACTED
        return o.probability >= 1.0 - 1e-9

    base = next((o for o in outcomes if is_base(o)), None)
    i0 = base.impact if base is not None else 0.0
    changes = [o for o in outcomes if o is not base]
    event = {
        o.scenario: meta[o.scenario].event if o.scenario in meta else o.scenario for o in changes
    }
    movers = sorted(
        (o for o in changes if abs(o.impact - i0) > 1e-12), key=lambda o: -o.impact
    )  # stable: ties keep the file's order
    rank = {o.scenario: r for r, o in enumerate(movers)}
    events = sorted({event[o.scenario] for o in movers})

    def above(e: str, o: ScenarioOutcome) -> float:
        return sum(
            k.probability
            for k in movers
            if event[k.scenario] == e and rank[k.scenario] < rank[o.scenario]
        )

    decides = {
        o.scenario: o.probability
        * math.prod(max(0.0, 1.0 - above(e, o)) for e in events if e != event[o.scenario])
        for o in movers
    }
    p_none = math.prod(
        max(0.0, 1.0 - sum(k.probability for k in movers if event[k.scenario] == e)) for e in events
    )
    dist = [(p_none, i0)] + [(decides[o.scenario], o.impact) for o in movers]
    mean = sum(p * i for p, i in dist)
    var = sum(p * (i - mean) ** 2 for p, i in dist)
    sd = math.sqrt(max(var, 0.0))
    adverse = 1.0 - math.prod(
        max(
            0.0,
            1.0 - sum(k.probability for k in movers if event[k.scenario] == e and k.impact > i0),
        )
        for e in events
    )

    def basis(sid: str) -> str:
        sc = meta.get(sid)
        if sc is None:
            return ""
        return f" ({sc.basis.kind.value.replace('_', ' ')}: {sc.basis.reference.strip()})"

    parts: list[Contribution] = []
    if base is not None and p_none * i0 > 0:
        parts.append(
            Contribution(
                label=f"scenario {base.scenario}",
                points=100.0 * p_none * i0,
                sources=sorted(meta[base.scenario].basis.sources) if base.scenario in meta else [],
                detail=f"{base.title}{basis(base.scenario)}: no change that moves the outcome "
                f"happens, probability {p_none:.3f} (the product of 1 − p over the events); "
                f"impact {i0:.2f} ({_verdicts(base)})",
            )
        )
    for o in movers:
        if decides[o.scenario] * o.impact <= 0:
            continue
        sc = meta.get(o.scenario)
        parts.append(
            Contribution(
                label=f"scenario {o.scenario}",
                points=100.0 * decides[o.scenario] * o.impact,
                sources=sorted(sc.basis.sources) if sc is not None else [],
                detail=f"{o.title}{basis(o.scenario)}: p={o.probability:g} assumed; the worst "
                f"change in force with probability {decides[o.scenario]:.3f} (events independent, "
                f"alternatives of one event exclusive); impact {o.impact:.2f} ({_verdicts(o)})",
            )
        )
    if sd > 0:
        parts.append(
            Contribution(
                label="dispersion across scenarios",
                points=100.0 * sd,
                detail=f"standard deviation of impact {sd:.3f} over the combined outcomes",
            )
        )
    notes = []
    if movers:
        notes.append(
            "scenarios combine as independent events (alternatives of one event exclusive): "
            f"probability of at least one change worse than current law {pct(adverse)} "
            "(1 − Π(1 − p) over the events); of no change that moves the outcome "
            f"{pct(p_none)}"
        )
    still = [o.scenario for o in changes if abs(o.impact - i0) <= 1e-12]
    if still and movers:
        notes.append(f"same impact as current law: {prose_list(still)}")
    if all(r.verdict is Verdict.NOT_APPLICABLE for o in outcomes for r in o.rules):
        notes.append(
            "no rule of the pack reaches this arrangement (no nexus): "
            "not applicable, which is not the same as no risk"
        )
    return _axis("policy", parts, notes)


def overall(tech: AxisScore, eq: AxisScore, pol: AxisScore) -> AxisScore:
    parts = [
        Contribution(
            label=f"{a.axis} × {AXIS_WEIGHTS[a.axis]:g}",
            points=a.score * AXIS_WEIGHTS[a.axis],
            detail=f"{a.axis} {a.score:.1f}",
        )
        for a in (tech, eq, pol)
    ]
    return _axis("overall", parts)


def confidence_of(values: list[str], params: list[str], proposed: bool) -> tuple[float, list[str]]:
    """1.0 less 10% per unconfirmed fact and 5% per unconfirmed/conflicting parameter relied on
    (multiplicative, floor 0.2); × 0.8 for a deal only in talks or proposed."""
    c = 0.9 ** len(values) * 0.95 ** len(params) * (0.8 if proposed else 1.0)
    why = [f"unconfirmed fact: {v}" for v in values] + [
        f"unconfirmed or conflicting parameter: {p}" for p in params
    ]
    if proposed:
        why.append("the arrangement is in talks or proposed")
    return max(0.2, round(c, 4)), why


def shares_json(v: ShareValue) -> str:
    return f"{v.min:.2%}" if v.min == v.max else f"{v.min:.2%}–{v.max:.2%}"
