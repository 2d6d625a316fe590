"""Issue 13, data and explanation defects on the shipped dataset: licences tagged to their
deal, facts cited to sources that carry them, UNCONFIRMED marks that reach the contributions,
and every contribution citing the sources of the links it rests on."""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest

from georisk.scoring.engine import ArrangementScore, Engine
from georisk.scoring.model import LinkKind, LinkStatus
from georisk.scoring.policy import Scenario
from georisk.scoring.score import ScenarioOutcome, policy_axis
from tests.conftest import REPO, TODAY


@pytest.fixture(scope="module")
def today(engine: Engine) -> dict[str, ArrangementScore]:
    return {a: engine.score(a, TODAY, remedies=False) for a in engine.dataset.arrangements}


# --------------------------------------------------------------------------- item 1


def test_gotion_licence_belongs_to_manteno_not_big_rapids(
    engine: Engine, today: dict[str, ArrangementScore]
) -> None:
    """The Gotion licence is the Manteno plant's (the brief lists no licensor for Big Rapids):
    the cancelled materials plant is not scored, questioned or discounted for it."""
    lic = "gotion-licence-gotion-inc"
    rapids = today["gotion-big-rapids-mi"]
    for axis in (rapids.technology, rapids.equity):
        assert all(lic not in c.links for c in axis.contributions), axis.contributions
    assert not any(lic in m for m in rapids.missing_facts), rapids.missing_facts
    assert not any(lic in r for r in rapids.confidence_reasons), rapids.confidence_reasons
    assert all(lic not in v.unconfirmed for v in rapids.verdicts)
    assert all(lic not in c.links for v in rapids.verdicts for c in v.clauses)
    # Manteno keeps it
    manteno = today["gotion-manteno-il"]
    assert any(lic in c.links for c in manteno.technology.contributions)
    assert engine.dataset.links[lic].arrangement == "gotion-manteno-il"


def test_big_rapids_technology_is_gotions_own(today: dict[str, ArrangementScore]) -> None:
    """With the Manteno licence gone, Big Rapids' technology exposure is what expected.md
    says ("as above": high): Gotion Inc. [gotion-inc], a US subsidiary of Chinese Gotion,
    would have made the materials with its own technology. After the abandonment no owner of
    the plant is recorded, so the taxpayer is the producer the axis names."""
    tech = today["gotion-big-rapids-mi"].technology
    assert tech.band == "high", tech
    (c,) = tech.contributions
    assert c.entities == ["gotion-inc"] and c.unconfirmed  # gotion-inc is itself unconfirmed
    assert "Gotion Inc. [gotion-inc]" in c.detail and "taxpayer" in c.detail, c.detail


# --------------------------------------------------------------------------- item 2

SEEDS = REPO.parent / "shared" / "seeds"


def _carries(engine: Engine, sid: str, words: tuple[str, ...]) -> bool:
    """Whether source ``sid`` (its title, note or seed text) mentions one of ``words``."""
    s = engine.dataset.sources[sid]
    text = " ".join(x for x in (s.title, s.note) if x)
    if s.seed and (SEEDS / s.seed).exists():
        text += (SEEDS / s.seed).read_text(encoding="utf-8")
    return any(w.lower() in text.lower() for w in words)


def test_tata_ownership_of_jlr_cites_no_source_that_lacks_it(engine: Engine) -> None:
    """No brief source or seed says Tata Motors owns JLR (A27 is COSMX's supply deal): the
    link and Tata's entity cite only a record that says so, and stay UNCONFIRMED with a note
    saying the fact is general knowledge, not in the project's sources."""
    link = engine.dataset.links["tata-motors-owns-jlr"]
    tata = engine.dataset.entities["tata-motors"]
    for what, sources in (("link", link.sources), ("entity", tata.sources)):
        lacking = [s for s in sources if not _carries(engine, s, ("Tata",))]
        assert not lacking, f"{what} cites {lacking}, which do not mention Tata"
    assert link.unconfirmed and tata.unconfirmed
    note = (link.unconfirmed_note or "").lower()
    assert "general knowledge" in note and "not in the project's sources" in note, note


# --------------------------------------------------------------------------- item 3

DATES = (TODAY, dt.date(2025, 6, 1))


def _unsure_link(engine: Engine, lid: str) -> bool:
    l = engine.dataset.links[lid]
    return l.unconfirmed or l.status is not LinkStatus.CONFIRMED


@pytest.fixture(scope="module")
def scored(engine: Engine) -> list[ArrangementScore]:
    return [
        engine.score(a, on, remedies=False)
        for a in sorted(engine.dataset.arrangements)
        for on in DATES
    ]


def test_every_contribution_cites_the_sources_of_its_links(
    engine: Engine, scored: list[ArrangementScore]
) -> None:
    """A contribution resting on links cites their sources (majority-control lines cited
    none); one resting only on an entity cites the entity's."""
    bare = []
    for s in scored:
        for axis in (s.technology, s.equity):
            for c in axis.contributions:
                want = {src for l in c.links for src in engine.dataset.links[l].sources}
                if not c.links:
                    want = {src for e in c.entities for src in engine.dataset.entities[e].sources}
                if not c.sources or not want <= set(c.sources):
                    bare.append(
                        (s.arrangement.id, str(s.as_of), c.label, sorted(want - set(c.sources)))
                    )
    assert not bare, bare


def test_contributions_resting_on_unconfirmed_facts_say_so(
    engine: Engine, scored: list[ArrangementScore]
) -> None:
    """Any contribution whose links include one marked UNCONFIRMED or only reported/proposed,
    or whose entities include an UNCONFIRMED one, is flagged ``unconfirmed``."""
    wrong = []
    for s in scored:
        for axis in (s.technology, s.equity):
            for c in axis.contributions:
                unsure = [l for l in c.links if _unsure_link(engine, l)] + [
                    e for e in c.entities if engine.dataset.entities[e].unconfirmed
                ]
                if unsure and not c.unconfirmed:
                    wrong.append((s.arrangement.id, str(s.as_of), c.label, unsure))
    assert not wrong, wrong


def test_flagged_contributions_add_no_confirmed_link_to_the_unconfirmed_facts(
    engine: Engine, scored: list[ArrangementScore]
) -> None:
    """A contribution flagged because an entity it rests on is UNCONFIRMED (AESC US runs the
    Florence plant: the operation is confirmed, the company's details are not) must not make
    its confirmed links 'unconfirmed facts' that lower the confidence."""
    confirmed = [
        (s.arrangement.id, str(s.as_of), u.id)
        for s in scored
        for u in s.unconfirmed
        if u.kind == "link" and not engine.dataset.links[u.id].uncertain
    ]
    assert not confirmed, confirmed


def test_contribution_details_name_entities_and_hold_no_python_reprs(
    engine: Engine, scored: list[ArrangementScore]
) -> None:
    for s in scored:
        for axis in (s.technology, s.equity, s.policy, s.overall):
            for text in [c.detail for c in axis.contributions] + axis.notes:
                assert "['" not in text and "{'" not in text, text
            for c in axis.contributions:
                for e in c.entities:
                    name = engine.dataset.entities[e].name
                    assert f"{name} [{e}]" in c.detail, (c.label, c.detail)


# --------------------------------------------------------------------------- item 4


def _outcome(sid: str, p: float, impact: float) -> ScenarioOutcome:
    return ScenarioOutcome(
        scenario=sid, title=sid, probability=p, evaluated_on=TODAY, impact=impact, rules=[]
    )


def _scenario(sid: str, event: str, p: float, kind: str) -> Scenario:
    return Scenario.model_validate(
        {
            "id": sid,
            "title": sid,
            "probability": p,
            "event": event,
            "basis": {"kind": kind, "reference": "ref", "sources": ["p10"]},
            "assumption": "assumed",
        }
    )


def test_policy_axis_combines_independent_events() -> None:
    """Two independent adverse changes (20% and 10%) that each remove the credit: the chance
    that at least one happens is 1 − 0.8 × 0.9 = 28%, not a share of a 100% pie; the axis is
    E[I] + SD[I] over the combined outcomes: 0.28 + √(0.28 × 0.72) = 0.729."""
    scen = [
        _scenario("current-law", "current-law", 1.0, "enacted"),
        _scenario("a", "ea", 0.2, "bill"),
        _scenario("b", "eb", 0.1, "proposal"),
    ]
    outs = [_outcome("current-law", 1.0, 0.0), _outcome("a", 0.2, 1.0), _outcome("b", 0.1, 1.0)]
    axis = policy_axis(outs, scen)
    assert axis.score == pytest.approx(100 * (0.28 + math.sqrt(0.28 * 0.72)), abs=1e-6)
    assert sum(c.points for c in axis.contributions) == pytest.approx(axis.score)
    assert any("28%" in n and "at least one" in n for n in axis.notes), axis.notes
    # the same two as alternative answers to one question cannot both happen: 30%
    alt = [scen[0], _scenario("a", "e", 0.2, "bill"), _scenario("b", "e", 0.1, "proposal")]
    axis = policy_axis(outs, alt)
    assert axis.score == pytest.approx(100 * (0.3 + math.sqrt(0.3 * 0.7)), abs=1e-6)


def test_policy_axis_counts_a_favourable_change_against_the_baseline() -> None:
    """Current law at risk (0.5); a 10% chance the test goes away (0.25) and an independent
    20% chance of losing the credit (1): the 'no change' world keeps 0.5."""
    scen = [
        _scenario("current-law", "current-law", 1.0, "enacted"),
        _scenario("off", "lic", 0.1, "stated_hypothetical"),
        _scenario("bar", "bar", 0.2, "bill"),
    ]
    outs = [_outcome("current-law", 1.0, 0.5), _outcome("off", 0.1, 0.25), _outcome("bar", 0.2, 1)]
    axis = policy_axis(outs, scen)
    # worlds: bar (0.2) → 1; off without bar (0.1 × 0.8) → 0.25; neither (0.9 × 0.8) → 0.5
    dist = [(0.2, 1.0), (0.08, 0.25), (0.72, 0.5)]
    mean = sum(p * i for p, i in dist)
    sd = math.sqrt(sum(p * (i - mean) ** 2 for p, i in dist))
    assert axis.score == pytest.approx(100 * (mean + sd), abs=1e-6)


def test_a_hypothetical_repeal_weighs_far_less_than_the_house_text(
    engine: Engine, today: dict[str, ArrangementScore]
) -> None:
    """Ford Marshall loses §45X under both the House 2025 licensing bar (a bill that passed
    the House) and a §45X repeal nobody has proposed: they no longer weigh the same."""
    pol = policy_axis(today["ford-marshall"].scenarios, engine.scenarios.scenarios)
    by = {c.label: c for c in pol.contributions}
    house, repeal = by["scenario house-2025-licensing"], by["scenario repeal-45x-batteries"]
    assert repeal.points < house.points / 4, (house, repeal)
    assert "(bill: H.R. 1" in house.detail and "(stated hypothetical:" in repeal.detail
    assert house.sources and repeal.sources
    assert pol.band == "high"  # expected.md: the House text removes the credit


def test_the_engine_weighs_scenarios_by_their_events_and_bases(
    engine: Engine, today: dict[str, ArrangementScore]
) -> None:
    """No licensing test and the House bar answer one question (they cannot both happen);
    the score's policy axis is the one computed with the scenarios' events and bases."""
    for aid in ("ford-marshall", "ford-kentucky-storage", "tesla-nevada-lfp"):
        s = today[aid]
        assert s.policy == policy_axis(s.scenarios, engine.scenarios.scenarios), aid


# --------------------------------------------------------------------------- item 5

_ASSUMED = re.compile(r"modell?ed as|\bassum", re.IGNORECASE)


def test_facts_whose_note_says_assumed_or_unconfirmed_are_marked(engine: Engine) -> None:
    """A holding the note calls 'modelled as' or assumed (Gotion Inc. owning Manteno and Big
    Rapids outright, the Zaragoza JV owning its plant outright), or a record whose note says
    UNCONFIRMED, carries ``unconfirmed: true`` so that the verdicts resting on it say so."""
    ds = engine.dataset
    unmarked = [
        l.id
        for l in ds.links.values()
        if l.kind in (LinkKind.EQUITY, LinkKind.VOTING)
        and not l.unconfirmed
        and _ASSUMED.search(l.note or "")
    ] + [
        r.id
        for rs in (ds.links.values(), ds.entities.values())
        for r in rs
        if not r.unconfirmed and "UNCONFIRMED" in (r.note or "")
    ]
    assert not unmarked, unmarked
