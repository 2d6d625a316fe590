"""Control, covered-nation exposure and the 2025 PFE tests on small hand-made graphs."""

from __future__ import annotations

import datetime as dt

from georisk.scoring.control import (
    PfeParams,
    covered_exposure,
    foreign_influenced,
    ownership_report,
    specified_foreign_entity,
    ultimate_controllers,
)
from georisk.scoring.dataset import load_dataset
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.interval import Tri
from tests.conftest import WriteDataset

DAY = dt.date(2026, 11, 22)
HEAD = """
sources: [{id: s1, title: Example, url: "https://example.org"}]
"""


def ent(eid: str, country: str, kind: str = "company", extra: str = "") -> str:
    return f"  - {{id: {eid}, name: {eid}, kind: {kind}, country: {country}{extra}}}\n"


def link(
    lid: str, src: str, dst: str, share: float | str, kind: str = "equity", extra: str = ""
) -> str:
    return (
        f"  - {{id: {lid}, kind: {kind}, source: {src}, target: {dst}, share: {share}, "
        f"sources: [s1]{extra}}}\n"
    )


def graph(
    write_dataset: WriteDataset, entities: str, links: str, on: dt.date = DAY
) -> ArrangementGraph:
    text = HEAD + "entities:\n" + entities + ("links:\n" + links if links else "")
    return ArrangementGraph.build(load_dataset(write_dataset({"d.yaml": text})), on)


def test_envision_aesc_chain_makes_us_subsidiary_an_sfe(write_dataset: WriteDataset) -> None:
    # examples.md 9: >50% owned by an entity organized in China → foreign-controlled → SFE,
    # and so is its wholly owned US subsidiary.
    g = graph(
        write_dataset,
        ent("envision", "CN") + ent("nissan", "JP") + ent("aesc", "JP") + ent("aesc-us", "US"),
        link("e-a", "envision", "aesc", 0.75)
        + link("n-a", "nissan", "aesc", 0.25)
        + link("a-u", "aesc", "aesc-us", 1.0),
    )
    res = specified_foreign_entity(g, "aesc-us")
    assert res.verdict is Tri.TRUE
    fc = next(t for t in res.tests if t.test == "foreign_controlled")
    assert fc.paths is not None
    assert fc.paths.paths[0].entities == ["envision", "aesc", "aesc-us"]
    assert fc.paths.paths[0].product.min == 0.75
    assert specified_foreign_entity(g, "nissan").verdict is Tri.FALSE
    # covered-nation exposure of the US subsidiary: 75% through AESC
    exp = covered_exposure(g, "aesc-us")
    assert exp.share.min == exp.share.max == 0.75
    assert exp.direct.max == 0.0


def test_ranged_share_straddling_50_is_undetermined(write_dataset: WriteDataset) -> None:
    g = graph(
        write_dataset,
        ent("cn-parent", "CN") + ent("target", "US"),
        link("p-t", "cn-parent", "target", "{minimum: 0.4, maximum: 0.6}"),
    )
    assert specified_foreign_entity(g, "target").verdict is Tri.UNDETERMINED


def test_exactly_50_is_not_more_than_50(write_dataset: WriteDataset) -> None:
    g = graph(write_dataset, ent("cn", "CN") + ent("t", "US"), link("p", "cn", "t", 0.5))
    assert specified_foreign_entity(g, "t").verdict is Tri.FALSE
    # …but a 50% SFE holder makes it foreign-influenced (≥ 25%)
    assert foreign_influenced(g, "t").verdict is Tri.TRUE


def test_listing_counts_only_from_its_date(write_dataset: WriteDataset) -> None:
    lists = ", lists: [{list: dod-1260h, since: 2025-01-07, sources: [s1]}]"
    ents = ent("listed", "HK", extra=lists) + ent("t", "US")
    links = link("l-t", "listed", "t", 0.3)
    before = graph(write_dataset, ents, links, dt.date(2024, 6, 1))
    assert specified_foreign_entity(before, "listed").verdict is Tri.FALSE
    assert foreign_influenced(before, "t").verdict is Tri.FALSE
    after = graph(write_dataset, ents, links, DAY)
    assert specified_foreign_entity(after, "listed").verdict is Tri.TRUE
    fie = foreign_influenced(after, "t")
    assert fie.verdict is Tri.TRUE
    assert fie.sfe_holders == ["listed"]


def test_fie_aggregate_39_passes_40_fails(write_dataset: WriteDataset) -> None:
    # examples.md 8: 24% + 15% = 39% passes; 24% + 16% = 40% fails
    ents = ent("a", "CN") + ent("b", "CN") + ent("t", "US")
    ok = graph(write_dataset, ents, link("a-t", "a", "t", 0.24) + link("b-t", "b", "t", 0.15))
    res = foreign_influenced(ok, "t")
    agg = next(x for x in res.tests if x.test == "aggregate_sfe_ownership")
    assert agg.verdict is Tri.FALSE and agg.value is not None and abs(agg.value.max - 0.39) < 1e-9
    assert res.verdict is Tri.FALSE
    bad = graph(write_dataset, ents, link("a-t", "a", "t", 0.24) + link("b-t", "b", "t", 0.16))
    assert foreign_influenced(bad, "t").verdict is Tri.TRUE


def test_fie_indirect_single_sfe_and_debt_and_appointment(write_dataset: WriteDataset) -> None:
    ents = ent("cn", "CN") + ent("hold", "SG") + ent("t", "US") + ent("lender", "CN")
    # 50% of a Singapore holding that owns 60% of t: integrated 30% ≥ 25%
    g = graph(write_dataset, ents, link("c-h", "cn", "hold", 0.5) + link("h-t", "hold", "t", 0.6))
    single = next(x for x in foreign_influenced(g, "t").tests if x.test == "single_sfe_ownership")
    assert single.verdict is Tri.TRUE and single.value is not None
    assert abs(single.value.min - 0.30) < 1e-9
    debt = graph(write_dataset, ents, link("d", "lender", "t", 0.15, kind="debt"))
    assert foreign_influenced(debt, "t").verdict is Tri.TRUE
    small_debt = graph(write_dataset, ents, link("d", "lender", "t", 0.14, kind="debt"))
    assert foreign_influenced(small_debt, "t").verdict is Tri.FALSE
    appt = graph(
        write_dataset,
        ents,
        "  - {id: ap, kind: appointment, source: cn, target: t, role: officer, sources: [s1]}\n",
    )
    test = next(x for x in foreign_influenced(appt, "t").tests if x.test == "sfe_appointment")
    assert test.verdict is Tri.TRUE and test.links == ["ap"]


def test_chain_versus_integrated_semantics_are_configurable(write_dataset: WriteDataset) -> None:
    # CN → 60% of H → 60% of T: chain control (H controlled, H holds 60%) vs integrated 36%
    g = graph(
        write_dataset,
        ent("cn", "CN") + ent("h", "SG") + ent("t", "US"),
        link("c-h", "cn", "h", 0.6) + link("h-t", "h", "t", 0.6),
    )
    assert specified_foreign_entity(g, "t").verdict is Tri.TRUE
    integ = PfeParams(fce_semantics="integrated")
    assert specified_foreign_entity(g, "t", integ).verdict is Tri.FALSE


def test_votes_decide_control_over_equity(write_dataset: WriteDataset) -> None:
    # VW-style: 55% of equity but only 30% of votes → no control
    g = graph(
        write_dataset,
        ent("holder", "DE") + ent("t", "CN"),
        link("e", "holder", "t", 0.55) + link("v", "holder", "t", 0.30, kind="voting"),
    )
    res = ultimate_controllers(g, "t")
    assert res.controllers == [] and res.widely_held


def test_ultimate_controller_through_aggregated_subsidiaries(write_dataset: WriteDataset) -> None:
    # Eurostat example 5 in a dataset: A controls C through B1 and B2 together
    g = graph(
        write_dataset,
        ent("a", "FR") + ent("b1", "FR") + ent("b2", "FR") + ent("c", "FR"),
        link("a-b1", "a", "b1", 1.0)
        + link("a-b2", "a", "b2", 0.8)
        + link("b1-c", "b1", "c", 0.2)
        + link("b2-c", "b2", "c", 0.4),
    )
    res = ultimate_controllers(g, "c")
    assert res.ultimate == ["a"]
    assert "b1" not in res.controllers and "b2" not in res.controllers
    exp_paths = {tuple(p.entities) for p in res.paths.paths}
    assert ("a", "b1", "c") in exp_paths and ("a", "b2", "c") in exp_paths


def test_links_outside_their_dates_are_not_in_the_graph(write_dataset: WriteDataset) -> None:
    ents = ent("cn", "CN") + ent("t", "US")
    links = link("p", "cn", "t", 0.8, extra=", valid_from: 2025-07-01")
    assert (
        specified_foreign_entity(
            graph(write_dataset, ents, links, dt.date(2025, 6, 30)), "t"
        ).verdict
        is Tri.FALSE
    )
    assert (
        specified_foreign_entity(
            graph(write_dataset, ents, links, dt.date(2025, 7, 1)), "t"
        ).verdict
        is Tri.TRUE
    )


def test_path_listing_is_capped_and_flags_truncation(write_dataset: WriteDataset) -> None:
    # a 30-deep chain and 40 parallel holders: listings end within their caps
    chain_ents = "".join(ent(f"c{i}", "CN" if i == 0 else "US") for i in range(31))
    chain_links = "".join(link(f"l{i}", f"c{i}", f"c{i + 1}", 0.9) for i in range(30))
    g = graph(write_dataset, chain_ents, chain_links)
    listing = g.share_paths("c30", holders={"c0"}, max_depth=8)
    assert listing.truncated and listing.paths == []
    wide_ents = "".join(ent(f"h{i}", "CN") for i in range(40)) + ent("t", "US")
    wide_links = "".join(link(f"w{i}", f"h{i}", "t", 0.02) for i in range(40))
    g2 = graph(write_dataset, wide_ents, wide_links)
    listing2 = g2.share_paths("t", holders={f"h{i}" for i in range(40)}, max_paths=10)
    assert listing2.truncated and len(listing2.paths) == 10
    exp = covered_exposure(g2, "t")
    assert abs(exp.share.min - 0.8) < 1e-9


def test_ownership_report_json_is_complete(write_dataset: WriteDataset) -> None:
    g = graph(write_dataset, ent("cn", "CN") + ent("t", "US"), link("p", "cn", "t", 0.3))
    doc = ownership_report(g, "t").model_dump(mode="json", by_alias=True)
    assert doc["schema"] == "georisk.ownership/v1"
    assert {
        "dataset_version",
        "as_of",
        "entity",
        "direct_holders",
        "control",
        "covered_nation_exposure",
        "specified_foreign_entity",
        "foreign_influenced_entity",
    } <= set(doc)
    assert doc["direct_holders"][0]["holder"] == "cn"
    assert doc["direct_holders"][0]["sources"] == ["s1"]
    assert doc["foreign_influenced_entity"]["verdict"] == "true"
