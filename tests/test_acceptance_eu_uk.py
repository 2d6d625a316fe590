"""shared/domain/expected.md, "European and UK rules", on the shipped dataset and packs.

What an analyst concludes for the European and UK seed arrangements under the EU and UK packs
(data/policies/eu.yaml, uk.yaml), evaluated together with the US pack as the CLI and the server
do: the verdict, the rule's outcome in its own words, the clause (the transaction or market it
judged), the open conditions and missing facts it names, and the sources it cites. A verdict that
rests on a point eu-uk.md marks UNCONFIRMED is an open condition naming that point, never a yes
or no.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from georisk.scoring.countries import ISO_3166_ALPHA2
from georisk.scoring.engine import ArrangementScore, Engine
from georisk.scoring.policy import load_pack, load_scenarios
from georisk.scoring.rules import Clause, RuleOutcome, Verdict
from georisk.scoring.timeline import timeline
from tests.conftest import DATA, TODAY

NA, OK, RISK, NO = (Verdict.NOT_APPLICABLE, Verdict.ELIGIBLE, Verdict.AT_RISK, Verdict.NOT_ELIGIBLE)

#: the arrangements of issue 18's "Done when", and CATL's German plant
EUROPEAN = (
    "stellantis-catl-zaragoza",
    "aesc-sunderland-2",
    "cosmx-jlr",
    "catl-hungary-debrecen",
    "catl-germany-arnstadt",
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    """Every shipped pack, US first (what `georisk score` and the server use by default)."""
    return Engine.from_dir(DATA, pack="us,eu,uk")


@pytest.fixture(scope="module")
def us_only() -> Engine:
    return Engine.from_dir(DATA, pack="us")


def score(engine: Engine, aid: str, on: dt.date, scenario: str = "current-law") -> ArrangementScore:
    return engine.score(aid, on, scenario=scenario, remedies=False)


def clause_of(v: RuleOutcome, cid: str) -> Clause:
    return next(c for c in v.clauses if c.id == cid)


def applied(s: ArrangementScore) -> set[str]:
    return {p.id for p in s.packs if p.applied}


# ---- which packs reach which arrangement ------------------------------------------------------


@pytest.mark.parametrize(
    ("aid", "packs"),
    [
        ("stellantis-catl-zaragoza", {"us", "eu"}),  # located in ES
        ("catl-hungary-debrecen", {"us", "eu"}),  # located in HU
        ("catl-germany-arnstadt", {"us", "eu"}),  # located in DE
        ("aesc-sunderland-2", {"us", "uk"}),  # located in GB
        ("cosmx-jlr", {"us", "uk"}),  # JLR [jlr], the buyer, is organized in GB
        ("ford-marshall", {"us"}),
        ("aesc-florence-sc", {"us"}),  # BMW (DE) is only its offtaker: no EU deal
        ("gotion-manteno-il", {"us"}),
    ],
)
def test_each_arrangement_gets_the_packs_of_its_nexus(
    engine: Engine, aid: str, packs: set[str]
) -> None:
    s = score(engine, aid, TODAY)
    assert applied(s) == packs, [(p.id, p.applied, p.reason) for p in s.packs]
    assert all(p.reason for p in s.packs)  # applied or not, the reason is said


def test_european_arrangements_get_european_verdicts_with_clauses_and_sources(
    engine: Engine,
) -> None:
    """Issue 18, "Done when": each gets EU or UK verdicts, with clauses and sources; and the US
    pack still says explicitly that it has no nexus."""
    for aid in EUROPEAN:
        s = score(engine, aid, TODAY)
        ours = [v for v in s.verdicts if not v.rule.startswith("us-")]
        decided = [v for v in ours if v.verdict is not NA]
        assert decided, (aid, [(v.rule, v.reason) for v in ours])
        for v in decided:
            assert v.clauses and v.sources and v.outcome, (aid, v.rule)
            assert any(c.startswith(("eu-", "es-", "de-", "hu-", "uk-")) for c in v.sources)
        us45x = s.verdict("us-45x")
        assert us45x.verdict is NA and "no nexus" in us45x.reason
        # no longer "not applicable, which is not the same as no risk": the packs that applied
        assert not any("not the same as no risk" in n for n in s.policy.notes), s.policy.notes
        assert any("policy packs applied" in n for n in s.policy.notes), s.policy.notes
    # a deal no pack reaches keeps the warning
    casip = score(engine, "casip", TODAY)
    assert any("not the same as no risk" in n for n in casip.policy.notes)


def test_us_arrangements_score_as_under_the_us_pack_alone(engine: Engine, us_only: Engine) -> None:
    """Adding the EU and UK packs changes nothing for a deal with no European nexus."""
    for aid in ("ford-marshall", "aesc-florence-sc", "gotion-manteno-il", "tesla-nevada-lfp"):
        a, b = score(engine, aid, TODAY), score(us_only, aid, TODAY)
        assert [(v.rule, v.verdict, v.reason) for v in a.verdicts] == [
            (v.rule, v.verdict, v.reason) for v in b.verdicts
        ]
        assert (a.technology.score, a.equity.score, a.policy.score, a.overall.score) == (
            b.technology.score,
            b.equity.score,
            b.policy.score,
            b.overall.score,
        )


# ---- Stellantis-CATL Zaragoza ------------------------------------------------------------------


def test_zaragoza_fsr_no_notification_for_the_new_jv(engine: Engine) -> None:
    """expected.md: no FSR notification: the new JV's EU turnover is below EUR 500m, whatever the
    parents' foreign financial contributions; the Commission may still ask for one (said)."""
    v = score(engine, "stellantis-catl-zaragoza", dt.date(2025, 1, 1)).verdict(
        "eu-fsr-concentration"
    )
    assert v.verdict is OK and v.outcome == "no filing", v.reason
    assert [c.id for c in v.clauses] == ["zaragoza-jv-creation"]
    assert "stellantis-catl-jv" in v.reason and "500m" in v.reason
    assert "may still request" in v.reason
    assert not v.missing  # FFCs of other years are unknown but cannot change the answer
    # ... "whatever the parents' FFCs": CATL's recorded 2023 state subsidies alone exceed EUR 50m
    catl = engine.dataset.entities["catl"].facts
    assert catl is not None
    assert any(
        f.country == "CN" and (f.minimum or 0) > 50e6 for f in catl.foreign_financial_contributions
    )
    assert {"eu-fsr-pfp", "eu-fsr-redeker"} <= set(v.sources)


def test_zaragoza_spain_filing_likely_with_the_sector_open(engine: Engine) -> None:
    """expected.md: CATL (non-EU) takes 50% and joint control; whether LFP cell making is in a
    listed sector is UNCONFIRMED, named as the open condition."""
    v = score(engine, "stellantis-catl-zaragoza", dt.date(2025, 1, 1)).verdict("es-fdi-screening")
    assert v.verdict is RISK, v.reason
    assert v.outcome is not None and v.outcome.startswith("mandatory filing likely")
    catl = next(c for c in v.clauses if c.id == "zaragoza-jv-creation:catl")
    assert catl.verdict is RISK and "battery_cell_manufacturing" in (catl.outcome or "")
    assert "UNCONFIRMED" in (catl.outcome or "")
    assert "Contemporary Amperex Technology Co., Limited [catl]" in v.reason and "50%" in v.reason
    assert "voluntary-consultation" in v.reason
    assert "es.fdi.sectors" in v.unconfirmed_params
    # Stellantis is an EU investor: no filing for its half
    stellantis = next(c for c in v.clauses if c.id == "zaragoza-jv-creation:stellantis")
    assert stellantis.verdict is OK and stellantis.outcome == "no filing"
    # the small-target exemption (turnover below EUR 5m) cannot be decided: no figure published
    assert any("stellantis-catl-jv" in m and "turnover" in m for m in v.missing)
    assert {"es-fdi-cms", "es-fdi-mondaq-sectors"} <= set(v.sources)


def test_zaragoza_spain_transitional_regime_for_stellantis_half_is_open(engine: Engine) -> None:
    """Spain's EU/EFTA transitional regime (to 2026-12-31) covers Stellantis (NL), not CATL: its
    half needs authorisation only if the sector is listed (UNCONFIRMED) and the investment is
    above EUR 500m ("up to EUR 4.1bn" for both partners does not settle it) - both named."""
    v = score(engine, "stellantis-catl-zaragoza", dt.date(2025, 1, 1)).verdict(
        "es-fdi-transitional"
    )
    assert v.verdict is RISK, v.reason
    stellantis = clause_of(v, "zaragoza-jv-creation:stellantis")
    assert stellantis.verdict is RISK and "Stellantis N.V. [stellantis]" in stellantis.reason
    catl = clause_of(v, "zaragoza-jv-creation:catl")
    assert (catl.verdict, catl.outcome) == (OK, "no filing")  # not an EU/EFTA investor
    assert any("zaragoza-jv-creation" in m and "value" in m for m in v.missing)
    assert {"es-fdi-birdbird", "es-fdi-garrigues"} <= set(v.sources)
    after = score(engine, "stellantis-catl-zaragoza", dt.date(2027, 1, 1)).verdict(
        "es-fdi-transitional"
    )
    assert after.verdict is NA and "2026-12-31" in after.reason


def test_zaragoza_no_bev_countervailing_duty(engine: Engine) -> None:
    """expected.md: not applicable: cells made in the EU, no China-origin BEV."""
    v = score(engine, "stellantis-catl-zaragoza", dt.date(2026, 6, 1)).verdict("eu-bev-cvd")
    assert v.verdict is NA and "cells" in v.reason and "vehicles" in v.reason, v.reason


@pytest.mark.parametrize(
    ("on", "verdict", "outcome"),
    [
        (dt.date(2027, 1, 1), NA, "not yet required (from 2027-08-18)"),
        (dt.date(2027, 9, 1), RISK, None),
    ],
)
def test_zaragoza_battery_due_diligence_by_date(
    engine: Engine, on: dt.date, verdict: Verdict, outcome: str | None
) -> None:
    """expected.md: not yet in force on 2027-01-01; from 2027-08-18 in force for the operator
    placing the batteries on the EU market if its group turnover is at least EUR 40m: the JV's
    turnover is not published, so it is named as the missing fact."""
    v = score(engine, "stellantis-catl-zaragoza", on).verdict("eu-battery-due-diligence")
    assert v.verdict is verdict, v.reason
    if outcome:
        assert v.outcome == outcome
    else:
        assert "stellantis-catl-jv" in v.reason and "40m" in v.reason
        assert any("turnover" in m and "stellantis-catl-jv" in m for m in v.missing)
        assert "battreg.due_diligence.exemption" in v.unconfirmed_params  # EUR 40m: SECONDARY
        assert {"eu-batt-reg-2025-1561", "eu-batt-sorena-art47"} <= set(v.sources)


def test_zaragoza_industrial_accelerator_act_is_never_current_law(engine: Engine) -> None:
    """expected.md: the IAA is a scenario only, never a verdict under current law; and the
    scenario applies it only from its assumed adoption date."""
    on = dt.date(2026, 12, 1)
    s = score(engine, "stellantis-catl-zaragoza", on)
    v = s.verdict("eu-iaa-screening")
    assert v.verdict is NA and v.outcome == "not in force", v.reason
    assert "iaa.in_force" in v.reason
    zaragoza = engine.dataset.arrangements["stellantis-catl-zaragoza"]
    assert "iaa-adopted" in {sc.id for sc in engine.scenario_list(zaragoza)}
    day_by_day = engine.score(
        "stellantis-catl-zaragoza",
        on,
        scenario="iaa-adopted",
        remedies=False,
        scenario_in_force_only=True,
    )
    assert day_by_day.verdict("eu-iaa-screening").verdict is NA


# ---- CATL Hungary (Debrecen) and Germany (Arnstadt) ---------------------------------------------


@pytest.mark.parametrize(
    ("on", "verdict", "outcome"),
    [
        (dt.date(2027, 1, 1), NA, "not yet required (from 2027-02-18)"),
        (dt.date(2027, 3, 1), NO, "required"),
    ],
)
def test_debrecen_battery_passport_by_date(
    engine: Engine, on: dt.date, verdict: Verdict, outcome: str
) -> None:
    """expected.md: not yet required on 2027-01-01, required from 2027-02-18 (EV modules placed
    on the market by CATL's Hungarian company)."""
    v = score(engine, "catl-hungary-debrecen", on).verdict("eu-battery-passport")
    assert (v.verdict, v.outcome) == (verdict, outcome), v.reason
    if verdict is NO:
        assert "catl-hungary" in v.reason and "2027-02-18" in v.reason
        assert "eu-batt-collectadpp-art77" in v.sources
        assert v.unconfirmed  # who places the modules on which market is assumed, and said


def test_debrecen_greenfield_is_no_hungarian_filing(engine: Engine) -> None:
    s = score(engine, "catl-hungary-debrecen", dt.date(2026, 6, 1))
    for rule in ("hu-fdi-screening-2018", "hu-fdi-strategic"):
        v = s.verdict(rule)
        assert v.verdict is OK and v.outcome == "no filing", (rule, v.reason)
        assert "greenfield" in v.reason
    # Act L of 2025 chapter IV applies only until 2026-12-31
    later = score(engine, "catl-hungary-debrecen", dt.date(2027, 1, 1)).verdict("hu-fdi-strategic")
    assert later.verdict is NA and "2026-12-31" in later.reason


def test_arnstadt_greenfield_is_no_german_filing_but_says_it_is_a_reading(engine: Engine) -> None:
    s = score(engine, "catl-germany-arnstadt", TODAY)
    v = s.verdict("de-fdi-screening")
    assert v.verdict is OK and v.outcome == "no filing", v.reason
    assert "greenfield" in v.reason and "UNCONFIRMED" in v.reason
    assert "arnstadt-build" in v.unconfirmed or any("arnstadt" in u for u in v.unconfirmed)


def test_catl_plants_carbon_footprint_date_is_named_not_guessed(engine: Engine) -> None:
    """eu-uk.md: the EV declaration's date (delegated act + 12 months) is UNCONFIRMED: never
    "not required" once the earliest date (2025-02-18) has passed."""
    v = score(engine, "catl-germany-arnstadt", TODAY).verdict("eu-battery-carbon-footprint")
    assert v.verdict is RISK, v.reason
    assert "battreg.carbon_footprint.ev_applies_from" in v.reason + " ".join(v.missing) + " ".join(
        v.unconfirmed_params
    )


# ---- AESC Sunderland 2 and COSMX -> JLR (UK) ----------------------------------------------------


def test_sunderland_nsia_no_mandatory_notification_and_what_would_be(engine: Engine) -> None:
    """expected.md: a plant built by its existing owner is no acquisition of control; a later
    acquisition of more than 25% would be notifiable only if the company carries on a listed
    activity (UNCONFIRMED for cell making) - said."""
    v = score(engine, "aesc-sunderland-2", dt.date(2026, 6, 1)).verdict("uk-nsia")
    assert v.verdict is OK and v.outcome == "no filing", v.reason
    assert [c.id for c in v.clauses][:1] == ["sunderland-2-build"]
    assert "existing owner" in v.reason and "more than 25%" in v.reason
    assert "UNCONFIRMED" in v.reason
    assert {"uk-nsia-act", "uk-nsia-wilkes"} <= set(v.sources)


def test_cosmx_jlr_gets_uk_verdicts(engine: Engine) -> None:
    s = score(engine, "cosmx-jlr", TODAY)
    rules = {v.rule for v in s.verdicts}
    assert {"uk-nsia", "uk-tca-rules-of-origin"} <= rules
    assert "eu-fsr-concentration" not in rules  # the EU pack does not reach it
    # China-made 12 V batteries bought in the UK cross no EU-UK border: the TCA does not apply
    tca = s.verdict("uk-tca-rules-of-origin")
    assert tca.verdict is NA and "made in CN" in tca.reason, tca.reason
    # a supply contract acquires no shares, votes or assets: no NSIA filing, said why
    nsia = s.verdict("uk-nsia")
    assert (nsia.verdict, nsia.outcome) == (OK, "no filing"), nsia.reason
    assert [c.id for c in nsia.clauses] == ["cosmx-jlr-supply"]
    assert "supply agreement" in nsia.reason and "qualifying assets" in nsia.reason


# ---- the packs' own data -----------------------------------------------------------------------


def _walk(x: object, key: str) -> list[object]:
    """Every value under ``key`` anywhere in a parsed YAML document."""
    if isinstance(x, dict):
        return [v for k, v in x.items() if k == key] + [
            y for k, v in x.items() if k != key for y in _walk(v, key)
        ]
    if isinstance(x, list):
        return [y for v in x for y in _walk(v, key)]
    return []


@pytest.mark.parametrize("name", ["eu", "uk"])
def test_pack_cites_sources_of_the_dataset_and_writes_countries_as_iso_codes(
    engine: Engine, name: str
) -> None:
    """Every value is sourced from data/sources.yaml (with a URL), and every country list holds
    ISO codes: a bare NO (Norway) is YAML's false and would silently drop Norway."""
    doc = yaml.safe_load((DATA / "policies" / f"{name}.yaml").read_text())
    cited = {s for v in _walk(doc, "sources") for s in v}  # type: ignore[attr-defined]
    known = engine.dataset.sources
    assert cited and cited <= set(known), sorted(cited - set(known))
    assert all(known[s].url for s in cited)
    for key in ("countries", "markets", "home", "origin"):
        for v in _walk(doc, key):
            if isinstance(v, list):
                assert all(isinstance(c, str) and c in ISO_3166_ALPHA2 for c in v), (key, v)


def test_debrecen_timeline_shows_when_the_european_obligations_start(engine: Engine) -> None:
    """`georisk timeline`: the dates an analyst would put in the diary - Hungary's strategic-
    company regime ends after 2026-12-31, the passport starts 2027-02-18, due diligence 2027-08-18
    (the Hungarian company's turnover is not published: at risk, not required for sure)."""
    t = timeline(engine, "catl-hungary-debrecen", dt.date(2026, 1, 1), dt.date(2027, 12, 31))
    changed = {(c.date, ch.subject, ch.after) for c in t.changes for ch in c.changed}
    assert (dt.date(2027, 1, 1), "hu-fdi-strategic", "not_applicable") in changed
    assert (dt.date(2027, 2, 18), "eu-battery-passport", "not_eligible") in changed
    assert (dt.date(2027, 8, 18), "eu-battery-due-diligence", "at_risk") in changed
    passport = next(c for c in t.changes if c.date == dt.date(2027, 2, 18))
    assert any(e.ref == "battreg.passport.applies_from" for e in passport.events), passport.events


@pytest.mark.parametrize("name", ["eu", "uk"])
def test_a_rule_in_force_finds_every_value_it_reads(name: str) -> None:
    """No gap in the dated values: on every month from 2019 to 2031 when a rule instance is in
    force (its own dates and its `in_force` switch), every parameter it maps has a value, so it
    never answers "no rule in force" by accident. Checked under every scenario of the pack."""
    pack = load_pack(DATA / "policies" / f"{name}.yaml")
    scenarios = load_scenarios(DATA / "policies" / f"{name}.scenarios.yaml", pack)
    months = [dt.date(y, m, 1) for y in range(2019, 2032) for m in range(1, 13)]
    for sc in scenarios.scenarios:
        p = pack.with_overrides(list(sc.overrides), sc.id) if sc.overrides else pack
        for rule in p.rules:
            for d in months:
                if (rule.effective_from and d < rule.effective_from) or (
                    rule.effective_to and d > rule.effective_to
                ):
                    continue
                switch = rule.params.get("in_force")
                on = p.maybe(switch, d) if switch else None
                if switch and (on is None or on.value is not True):
                    continue
                gaps = [pid for pid in rule.params.values() if p.maybe(pid, d) is None]
                assert not gaps, (sc.id, rule.id, d, gaps)
