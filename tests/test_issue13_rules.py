"""Issue 13 ("Every line an analyst can defend"), the rule defects: each test failed before its fix.

Items: the OFAC/BIS 50% clause names the affiliation and carries the aggregation paths; the
1260H contracting ban reaches the contracting party (the carmaker that owns the plant), not
CATL as LRS operator; a licence with an unknown signing date is tested on its terms; a proposed
licence is said to be proposed; §30D FEOC parameters are dated from when the component rule
applies; the §45X module rate and the reported credit figure; the BIS Affiliates Rule after its
suspension ended.
"""

from __future__ import annotations

import datetime as dt

import pytest

from georisk.scoring.dataset import load_dataset
from georisk.scoring.engine import Engine
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.overlay import Overlay, load_overlay
from georisk.scoring.policy import load_pack
from georisk.scoring.rules import EvalContext, RuleOutcome, Verdict, evaluate_pack
from tests.conftest import DATA, REPO, TODAY, WriteDataset

US = DATA / "policies" / "us.yaml"
BIS = "bis-entity-list:export_licence_affiliates"
NA, OK, RISK, NO = (Verdict.NOT_APPLICABLE, Verdict.ELIGIBLE, Verdict.AT_RISK, Verdict.NOT_ELIGIBLE)

#: a US maker owned through a holding by a listed party (LIST and SHARE filled in per test)
TIERED = """
sources: [{id: s1, title: Example, url: "https://example.org"}]
entities:
  - id: listed
    name: Listed Co
    kind: company
    country: AE
    sources: [s1]
    lists: [{list: LIST, since: 2020-01-01, sources: [s1]}]
  - {id: holdco, name: Holding Co, kind: company, country: AE, sources: [s1]}
  - {id: other, name: Other Co, kind: company, country: FR, sources: [s1]}
  - {id: maker, name: Maker Inc, kind: company, country: US, sources: [s1]}
  - {id: plant, name: Plant, kind: facility, country: US, sources: [s1]}
links:
  - {id: listed-holdco, kind: equity, source: listed, target: holdco, share: 0.6, sources: [s1]}
  - {id: other-holdco, kind: equity, source: other, target: holdco, share: 0.4, sources: [s1]}
  - {id: holdco-maker, kind: equity, source: holdco, target: maker, share: SHARE, sources: [s1]}
  - {id: other-maker, kind: equity, source: other, target: maker, share: REST, sources: [s1]}
  - {id: maker-plant, kind: equity, source: maker, target: plant, share: 1.0, sources: [s1]}
  - {id: op, kind: operation, source: maker, target: plant, sources: [s1]}
arrangements:
  - id: deal
    name: Deal
    focal: plant
    parties: [{entity: maker, role: owner}, {entity: maker, role: operator}]
    taxpayer: maker
    country: US
    products: [PRODUCTS]
    capacity: {gwh: 10, sources: [s1]}
    status: [{status: announced, date: 2024-01-01, sources: [s1]}]
    sources: [s1]
"""


def _tiered(
    write_dataset: WriteDataset,
    on: dt.date = TODAY,
    *,
    lst: str = "ofac-sdn",
    share: float = 0.7,
    products: str = "cells",
) -> dict[str, RuleOutcome]:
    text = (
        TIERED.replace("LIST", lst)
        .replace("REST", str(round(1 - share, 4)))
        .replace("SHARE", str(share))
        .replace("PRODUCTS", products)
    )
    ds = load_dataset(write_dataset({"d.yaml": text}))
    g = ArrangementGraph.build(ds, on)
    ctx = EvalContext(g, load_pack(US), ds.arrangements["deal"], on)
    return {r.rule: r for r in evaluate_pack(ctx)}


# ---- item 1: the OFAC/BIS 50% clause -----------------------------------------------------------


def test_an_affiliate_is_said_to_be_blocked_as_an_affiliate_with_its_aggregation_paths(
    write_dataset: WriteDataset,
) -> None:
    lists = _tiered(write_dataset)["us-lists"]
    by_id = {c.id: c for c in lists.clauses}
    c = by_id["ofac-sdn:blocked:maker"]
    assert c.verdict is NO
    # the maker is not on the list: it is blocked because blocked persons own >= 50% of it
    assert "Maker Inc [maker] (producer side) is on" not in c.reason
    assert "is on ofac-sdn" not in c.reason.split(":")[0]
    assert c.reason.startswith(
        "Maker Inc [maker] (producer side) is blocked as an affiliate of Listed Co [listed] "
        "(on ofac-sdn since 2020-01-01)"
    ), c.reason
    assert "Holding Co [holdco] holds 70%" in c.reason
    assert "[" in c.reason and "['" not in c.reason  # no Python list reprs
    (t,) = c.evidence
    assert t.value is not None and t.value.min == t.value.max == pytest.approx(0.7)
    assert t.threshold == pytest.approx(0.5)
    assert t.paths is not None
    assert [p.entities for p in t.paths.paths] == [["listed", "holdco", "maker"]]
    assert t.links == ["holdco-maker"]
    # the holding company controls the maker: it is reached too, as an affiliate
    assert by_id["ofac-sdn:blocked:holdco"].reason.startswith(
        "Holding Co [holdco] (producer side) is blocked as an affiliate of Listed Co [listed]"
    )
    assert "(50% or more blocks)" in c.reason


def test_a_listed_party_is_said_to_be_on_the_list_since_its_date(
    write_dataset: WriteDataset,
) -> None:
    text = TIERED.replace("id: maker, name: Maker Inc", "id: maker, name: Maker Inc").replace(
        "LIST", "ofac-sdn"
    )
    # the maker itself listed: the reason says so, with the date
    text = text.replace(
        "  - {id: maker, name: Maker Inc, kind: company, country: US, sources: [s1]}",
        "  - id: maker\n    name: Maker Inc\n    kind: company\n    country: US\n"
        "    sources: [s1]\n    lists: [{list: ofac-sdn, since: 2021-05-01, sources: [s1]}]",
    )
    text = text.replace("REST", "0.7").replace("SHARE", "0.3").replace("PRODUCTS", "cells")
    ds = load_dataset(write_dataset({"d.yaml": text}))
    ctx = EvalContext(
        ArrangementGraph.build(ds, TODAY), load_pack(US), ds.arrangements["deal"], TODAY
    )
    out = {r.rule: r for r in evaluate_pack(ctx)}
    c = next(c for c in out["us-lists"].clauses if c.id == "ofac-sdn:blocked:maker")
    assert c.reason.startswith(
        "Maker Inc [maker] (producer side) is on ofac-sdn since 2021-05-01"
    ), c.reason
    assert c.evidence == []


# ---- item 2: CATL as LRS operator and the 1260H contracting ban ---------------------------------


def test_the_lrs_operator_reaches_the_contracting_ban_only_indirectly(engine: Engine) -> None:
    ov = load_overlay(REPO / "examples" / "overlays" / "catl-lrs-us-carmaker.yaml")
    s = engine.score("catl-lrs", TODAY, overlay=ov, remedies=False)
    lists = s.verdict("us-lists")
    ban = next(c for c in lists.clauses if c.id == "dod-1260h:dod_contracting_ban_direct:catl")
    assert ban.verdict is RISK and ban.impact == pytest.approx(0.25), ban.reason
    assert "producer side" not in ban.reason
    assert "only indirectly" in ban.reason
    # the contracting party is the carmaker that owns the plant
    assert "lrs-template-carmaker]" in ban.reason
    assert lists.verdict is not NO
    # unchanged: §45X still at risk through the licensor operating the plant (expected.md)
    assert s.verdict("us-45x").verdict is RISK


# ---- items 3 and 4: licences with an unknown date, proposed licences --------------------------

KENTUCKY_LICENCE = "catl-licence-ford-kentucky-storage"


def _terms(**licence: object) -> Overlay:
    base = {"technology": "LFP cell technology for energy storage", "chemistry": "LFP"}
    return Overlay(
        id="terms",
        arrangement="ford-kentucky-storage",
        change={"links": [{"id": KENTUCKY_LICENCE, "licence": {**base, **licence}}]},
    )


def test_a_licence_with_unknown_date_and_compliant_terms_passes_the_licensing_clause(
    engine: Engine,
) -> None:
    ov = _terms(royalty_years=5, service_years=1, know_how_transfer="full")
    s = engine.score("ford-kentucky-storage", TODAY, overlay=ov, remedies=False)
    lic = next(c for c in s.verdict("us-45x").clauses if c.id == "licensing")
    assert lic.verdict is OK, lic.reason
    assert "terms pass" in lic.reason
    assert s.verdict("us-45x").verdict is OK


def test_a_licence_with_unknown_date_and_failing_terms_is_at_risk_naming_the_date(
    engine: Engine,
) -> None:
    ov = _terms(royalty_years=15, service_years=1, know_how_transfer="full")
    s = engine.score("ford-kentucky-storage", TODAY, overlay=ov, remedies=False)
    v = s.verdict("us-45x")
    lic = next(c for c in v.clauses if c.id == "licensing")
    assert lic.verdict is RISK
    assert "royalties for 15 years" in lic.reason
    assert f"signing or modification date of {KENTUCKY_LICENCE}" in lic.missing


def test_a_licence_with_unknown_date_and_unknown_terms_gets_a_remedy(engine: Engine) -> None:
    s = engine.score("ford-kentucky-storage", TODAY)
    v = s.verdict("us-45x")
    assert v.verdict is RISK and "on or after 2025-07-04 is unknown" in v.reason
    assert any(f"royalty term of {KENTUCKY_LICENCE}" in m for m in v.missing)
    fixes = [r for r in s.remedies if r.rule == "us-45x"]
    assert fixes and fixes[0].verdict_after is OK, s.remedies
    assert "royalties for at most 10 years" in fixes[0].change


def test_a_proposed_licence_is_said_to_be_proposed_not_entered(engine: Engine) -> None:
    v = engine.score("gm-tdk-catl", TODAY, remedies=False).verdict("us-45x")
    lic = next(c for c in v.clauses if c.id == "licensing")
    assert lic.verdict is RISK
    assert "an SFE entered after the cut-off" not in lic.reason  # the old wording
    assert "proposed, not yet entered" in lic.reason
    assert "would be entered after the cut-off 2025-07-04" in lic.reason


# ---- item 5: §30D between 2024-01-01 and 2024-05-05 --------------------------------------------


def test_30d_in_march_2024_gives_a_real_verdict(engine: Engine) -> None:
    v = engine.score("gotion-manteno-il", dt.date(2024, 3, 1), remedies=False).verdict("us-30d")
    assert v.verdict is NO, v.reason
    (c,) = v.clauses
    gov = next(p for p in c.params if p.id == "feoc.gov_threshold")
    assert gov.value == pytest.approx(0.25) and gov.unconfirmed
    assert "feoc.gov_threshold" in v.unconfirmed_params
    # from the final interpretation on, the same verdict without the mark
    later = engine.score("gotion-manteno-il", dt.date(2024, 6, 1), remedies=False)
    assert later.verdict("us-30d").verdict is NO
    assert "feoc.gov_threshold" not in later.verdict("us-30d").unconfirmed_params


# ---- item 6: §45X amounts ----------------------------------------------------------------------


def test_packs_from_bought_in_cells_earn_the_module_rate(write_dataset: WriteDataset) -> None:
    v = _tiered(write_dataset, share=0.0, products="packs")["us-45x"]
    assert v.credit is not None
    assert v.credit.min == v.credit.max == pytest.approx(10 * 1e6 * 10)  # 10 GWh × $10
    assert "$100M" in v.reason and "$100–100M" not in v.reason


def test_cells_and_packs_on_site_count_the_module_rate_only_on_modules_made_there(
    write_dataset: WriteDataset,
) -> None:
    v = _tiered(write_dataset, share=0.0, products="cells, packs")["us-45x"]
    assert v.credit is not None
    assert v.credit.min == pytest.approx(10 * 1e6 * 35)  # cells only
    assert v.credit.max == pytest.approx(10 * 1e6 * 45)  # every cell also in a module on site
    assert "$350–450M" in v.reason


def test_ford_marshall_shows_the_reported_credit_beside_the_estimate(engine: Engine) -> None:
    v = engine.score("ford-marshall", TODAY, remedies=False).verdict("us-45x")
    assert v.credit is not None and v.credit.min == pytest.approx(20 * 1e6 * 35)
    assert v.credit.reported is not None
    assert v.credit.reported.usd_per_year == pytest.approx(900e6)
    assert set(v.credit.reported.sources) >= {"p11"}
    assert "$700M" in v.reason and "$900M" in v.reason
    assert "$700–700M" not in v.reason


# ---- item 7: the BIS Affiliates Rule after its suspension ----------------------------------------


def test_the_bis_affiliates_rule_applies_again_after_the_suspension(
    write_dataset: WriteDataset,
) -> None:
    def clause(on: dt.date) -> list[str]:
        out = _tiered(write_dataset, on, lst="bis-entity-list")["us-lists"]
        # the maker: owned 70% by a holding that the listed party owns 60% of
        return [c.verdict.value for c in out.clauses if c.id == f"{BIS}:maker"]

    assert clause(dt.date(2026, 6, 1)) == []  # suspended
    assert clause(dt.date(2026, 11, 9)) == []  # the last day of the suspension
    assert clause(dt.date(2026, 11, 10)) == ["not_eligible"]
    assert clause(TODAY) == ["not_eligible"]
    v = load_pack(US).param("bis.affiliates_rule", dt.date(2026, 11, 10))
    assert v.value is True and v.unconfirmed and v.note


# ---- language in the rule kinds and remedies: names first, ids in brackets, no reprs -----------


def test_rule_and_remedy_texts_name_entities_first_without_python_reprs(engine: Engine) -> None:
    then = engine.score("ford-marshall", dt.date(2024, 6, 1), remedies=False).verdict("us-30d")
    assert "licence catl-licence-ford-marshall from Contemporary Amperex" in then.reason
    assert "[catl]" in then.reason
    gotion = engine.score("gotion-manteno-il", TODAY)
    stake = next(r for r in gotion.remedies if "gotion-owns-gotion-inc" in r.change)
    assert "[gotion-high-tech]'s equity in " in stake.change and "[gotion-inc]" in stake.change
    for aid in ("cosmx-jlr", "casip"):
        for v in engine.score(aid, TODAY, remedies=False).verdicts:
            assert "['" not in v.reason and "[]" not in v.reason, v.reason
    casip = engine.score("casip", TODAY, remedies=False).verdict("us-45x")
    assert casip.reason == "no nexus: located in CN, the rule covers US"


def test_an_affiliate_by_ranged_holdings_may_be_blocked_and_is_at_risk(
    write_dataset: WriteDataset,
) -> None:
    text = (
        TIERED.replace("LIST", "ofac-sdn")
        .replace("share: SHARE", "share: {minimum: 0.4, maximum: 0.6}")
        .replace("share: REST", "share: 0.4")
        .replace("PRODUCTS", "cells")
    )
    ds = load_dataset(write_dataset({"d.yaml": text}))
    ctx = EvalContext(
        ArrangementGraph.build(ds, TODAY), load_pack(US), ds.arrangements["deal"], TODAY
    )
    out = {r.rule: r for r in evaluate_pack(ctx)}
    c = next(c for c in out["us-lists"].clauses if c.id == "ofac-sdn:blocked:maker")
    assert c.verdict is RISK, c.reason
    assert "Maker Inc [maker] (producer side) may be blocked as an affiliate of" in c.reason
    assert "own 40–60% of it together" in c.reason
    assert "holdco-maker" in c.unconfirmed  # the ranged holding it rests on
