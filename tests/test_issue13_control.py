"""Issue 13, ownership and control: one semantics for the FIE ownership tests (each chain counted
once, no chain through the subject), certain and possible SFE holders named apart, the
controlled share of the foreign-controlled test, why each holder is an SFE, and citations from
the pack."""

from __future__ import annotations

import datetime as dt
import re

from georisk.scoring.control import (
    PfeParams,
    foreign_influenced,
    pfe_sentence,
    specified_foreign_entity,
)
from georisk.scoring.control.params import PFE_TEXT_KEYS
from georisk.scoring.control.report import render_ownership_table
from georisk.scoring.dataset import load_dataset
from georisk.scoring.engine import Engine
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.interval import Tri
from georisk.scoring.rules import pfe_params
from tests.conftest import WriteDataset

DAY = dt.date(2026, 11, 22)
HEAD = """
sources: [{id: s1, title: Example, url: "https://example.org"}]
"""
LISTED = ", lists: [{list: dod-1260h, since: 2025-01-07, sources: [s1]}]"


def ent(eid: str, country: str, extra: str = "", name: str | None = None) -> str:
    return f"  - {{id: {eid}, name: {name or eid}, kind: company, country: {country}{extra}}}\n"


def link(lid: str, src: str, dst: str, share: float | str, kind: str = "equity") -> str:
    return (
        f"  - {{id: {lid}, kind: {kind}, source: {src}, target: {dst}, share: {share}, "
        "sources: [s1]}\n"
    )


def graph(write_dataset: WriteDataset, entities: str, links: str) -> ArrangementGraph:
    text = HEAD + "entities:\n" + entities + ("links:\n" + links if links else "")
    return ArrangementGraph.build(load_dataset(write_dataset({"d.yaml": text})), DAY)


def _test(res: object, name: str) -> object:
    return next(t for t in res.tests if t.test == name)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ 1. one semantics


def test_a_loop_through_the_subject_does_not_count_for_one_sfe(
    write_dataset: WriteDataset,
) -> None:
    # SFE s holds 20% of T; T holds 60% of A, which holds 50% of T. Around the loop through T
    # s's share grew to 20% / (1 - 30%) = 28.6%: above 25%, so T was an FIE. Each chain once,
    # none through T: s holds 20%, and SFEs together 20%.
    g = graph(
        write_dataset,
        ent("s", "US", LISTED) + ent("t", "US") + ent("a", "US"),
        link("s-t", "s", "t", 0.2) + link("t-a", "t", "a", 0.6) + link("a-t", "a", "t", 0.5),
    )
    fie = foreign_influenced(g, "t")
    single = _test(fie, "single_sfe_ownership")
    agg = _test(fie, "aggregate_sfe_ownership")
    assert (single.value.min, single.value.max) == (0.2, 0.2)  # type: ignore[attr-defined]
    assert (agg.value.min, agg.value.max) == (0.2, 0.2)  # type: ignore[attr-defined]
    assert fie.verdict is Tri.FALSE


def test_a_loop_through_the_sfe_does_not_count_twice(write_dataset: WriteDataset) -> None:
    # SFE s holds 20% of T and 50% of X, which holds 50% of s: the single figure was
    # 20% / (1 - 25%) = 26.7% (TRUE at 25%) while SFEs together held 20%.
    g = graph(
        write_dataset,
        ent("s", "US", LISTED) + ent("t", "US") + ent("x", "US"),
        link("s-t", "s", "t", 0.2) + link("s-x", "s", "x", 0.5) + link("x-s", "x", "s", 0.5),
    )
    fie = foreign_influenced(g, "t")
    single = _test(fie, "single_sfe_ownership")
    agg = _test(fie, "aggregate_sfe_ownership")
    assert single.value.max <= agg.value.max + 1e-12  # type: ignore[attr-defined]
    assert single.value.max == 0.2  # type: ignore[attr-defined]
    assert single.verdict is Tri.FALSE  # type: ignore[attr-defined]


def test_an_sfe_is_never_influenced_by_its_own_stake_in_itself(
    write_dataset: WriteDataset,
) -> None:
    # listed T holds all of A (not an SFE: listing does not pass down), A holds 45% of T:
    # the only SFE upstream of T is T itself, whose own stake never counts.
    g = graph(
        write_dataset,
        ent("t", "US", LISTED) + ent("a", "US") + ent("b", "US"),
        link("t-a", "t", "a", 1.0) + link("a-t", "a", "t", 0.45) + link("b-t", "b", "t", 0.55),
    )
    fie = foreign_influenced(g, "t")
    agg = _test(fie, "aggregate_sfe_ownership")
    assert agg.value.max == 0.0  # type: ignore[attr-defined]
    assert "t" not in fie.sfe_holders
    assert fie.verdict is Tri.FALSE


# ------------------------------------------------------------------ 2. certain and possible


def test_a_merely_possible_sfe_is_not_named_the_largest_sfe_holder(
    write_dataset: WriteDataset,
) -> None:
    # c: listed, holds 26% of T (an SFE for certain, meeting 25% for certain).
    # p: 40-60% held by a CN company (possibly foreign-controlled), holds 30% of T.
    # r: listed, holds 20-30% of T (only the upper bound meets 25%).
    g = graph(
        write_dataset,
        ent("c", "US", LISTED, name="Certain Co")
        + ent("cn", "CN", name="CN Parent")
        + ent("p", "US", name="Possible Co")
        + ent("r", "US", LISTED, name="Ranged Co")
        + ent("t", "US", name="Target Inc"),
        link("c-t", "c", "t", 0.26)
        + link("cn-p", "cn", "p", "{minimum: 0.4, maximum: 0.6}")
        + link("p-t", "p", "t", 0.3)
        + link("r-t", "r", "t", "{minimum: 0.2, maximum: 0.3}"),
    )
    fie = foreign_influenced(g, "t")
    single = _test(fie, "single_sfe_ownership")
    assert single.verdict is Tri.TRUE  # type: ignore[attr-defined]
    assert [h.holder for h in fie.certain_holders] == ["c"]
    assert sorted(h.holder for h in fie.possible_holders) == ["p", "r"]
    reason = single.reason  # type: ignore[attr-defined]
    assert reason.startswith("Certain Co [c] holds 26%"), reason
    assert "largest SFE holder" not in reason
    certain_part, _, possible_part = reason.partition("possibly")
    assert "Possible Co [p]" in possible_part and "Possible Co" not in certain_part
    assert "Possible Co [p] (possibly an SFE) holds 30%" in possible_part
    assert "Ranged Co [r] holds 20–30%" in possible_part
    # the value is the certain holder's share, not the merely possible 30%
    assert (single.value.min, single.value.max) == (0.26, 0.26)  # type: ignore[attr-defined]


def test_only_possible_holders_make_the_test_undetermined_and_say_so(
    write_dataset: WriteDataset,
) -> None:
    g = graph(
        write_dataset,
        ent("cn", "CN", name="CN Parent") + ent("p", "US", name="Possible Co") + ent("t", "US"),
        link("cn-p", "cn", "p", "{minimum: 0.4, maximum: 0.6}") + link("p-t", "p", "t", 0.3),
    )
    fie = foreign_influenced(g, "t")
    single = _test(fie, "single_sfe_ownership")
    assert single.verdict is Tri.UNDETERMINED  # type: ignore[attr-defined]
    assert fie.certain_holders == [] and [h.holder for h in fie.possible_holders] == ["p"]
    assert single.reason.startswith("no SFE holds 25% for certain; possibly:")  # type: ignore[attr-defined]


# ------------------------------------------------------------------ 3. controlled share


def test_the_foreign_controlled_test_gives_the_controlled_share(
    write_dataset: WriteDataset,
) -> None:
    # Envision (CN) 75% of AESC, AESC 100% of AESC US: along the chain, covered-nation
    # controlled parties hold 75% of AESC and 100% of AESC US.
    g = graph(
        write_dataset,
        ent("envision", "CN", name="Envision Group")
        + ent("nissan", "JP", name="Nissan")
        + ent("aesc", "JP", name="AESC")
        + ent("aesc-us", "US", name="AESC US"),
        link("e-a", "envision", "aesc", 0.75)
        + link("n-a", "nissan", "aesc", 0.25)
        + link("a-u", "aesc", "aesc-us", 1.0),
    )
    fc = _test(specified_foreign_entity(g, "aesc"), "foreign_controlled")
    assert fc.value is not None and (fc.value.min, fc.value.max) == (0.75, 0.75)  # type: ignore[attr-defined]
    fc_us = _test(specified_foreign_entity(g, "aesc-us"), "foreign_controlled")
    assert (fc_us.value.min, fc_us.value.max) == (1.0, 1.0)  # type: ignore[attr-defined]
    assert (
        "controlled by Envision Group [envision], a company organized in CN, through AESC [aesc]"
        in (
            fc_us.reason  # type: ignore[attr-defined]
        )
    )
    # not controlled: the share held is still given
    fc_n = _test(specified_foreign_entity(g, "nissan"), "foreign_controlled")
    assert (fc_n.value.min, fc_n.value.max) == (0.0, 0.0)  # type: ignore[attr-defined]


def test_a_ranged_controlled_share_is_a_range(write_dataset: WriteDataset) -> None:
    g = graph(
        write_dataset,
        ent("cn", "CN") + ent("t", "US"),
        link("p-t", "cn", "t", "{minimum: 0.4, maximum: 0.6}"),
    )
    fc = _test(specified_foreign_entity(g, "t"), "foreign_controlled")
    assert fc.verdict is Tri.UNDETERMINED  # type: ignore[attr-defined]
    assert (fc.value.min, fc.value.max) == (0.4, 0.6)  # type: ignore[attr-defined]
    assert "40–60%" in fc.reason  # type: ignore[attr-defined]


# ------------------------------------------------------------------ 5. citations from the pack

CITE = re.compile(r"§\s*7701\(a\)((?:\([0-9A-Za-z]+\))+)")


def _clauses(doc: object) -> list[str]:
    """Every ``clause`` string in a dumped score, report or pack (not notes or conflicts)."""
    out: list[str] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "clause" and isinstance(v, str):
                out.append(v)
            else:
                out += _clauses(v)
    elif isinstance(doc, list):
        for v in doc:
            out += _clauses(v)
    return out


def _cited(texts: list[str]) -> set[str]:
    return {m.group(1) for t in texts for m in CITE.finditer(t)}


def test_no_output_cites_a_sub_clause_the_pack_does_not_state(engine: Engine) -> None:
    stated = _cited(_clauses(engine.pack.model_dump(mode="json")))
    assert stated  # the pack cites §7701(a)(51)(B) for its lists, (51) and (52) in its texts
    on = dt.date(2026, 11, 22)
    shown: list[str] = []
    for aid, arr in sorted(engine.dataset.arrangements.items()):
        shown += _clauses(engine.score(aid, on, remedies=False).model_dump(mode="json"))
        if arr.taxpayer:
            shown += _clauses(engine.ownership(arr.taxpayer, on).model_dump(mode="json"))
    for eid in ("gotion-inc", "aesc-us", "catl"):
        shown += _clauses(engine.ownership(eid, on).model_dump(mode="json"))
    cited = _cited(shown)
    assert "(51)" in cited or "(51)(B)" in cited
    assert cited <= stated, sorted(cited - stated)


def test_the_pfe_titles_and_citations_come_from_the_pack(engine: Engine) -> None:
    on = dt.date(2026, 11, 22)
    params = pfe_params(engine.pack, on)
    for key in PFE_TEXT_KEYS:
        v = engine.pack.param(f"pfe.text.{key}", on).value
        assert params.text(key) == (v["title"], v["clause"]), key
    report = engine.ownership("gotion-inc", on)
    fie = {t.test: t for t in report.foreign_influenced_entity.tests}
    _title, cite = params.text("fie_single")
    assert fie["single_sfe_ownership"].clause.startswith(f"{cite}: ")
    assert "25%" in fie["single_sfe_ownership"].clause
    # a pack that words it differently is quoted as it is
    texts = {
        **engine.pack.parameters,
        "pfe.text.fie_single": [
            engine.pack.parameters["pfe.text.fie_single"][0].model_copy(
                update={"value": {"title": "one SFE holds {threshold} or more", "clause": "X"}}
            )
        ],
    }
    other = pfe_params(engine.pack.model_copy(update={"parameters": texts}), on)
    assert other.text("fie_single") == ("one SFE holds {threshold} or more", "X")
    g = engine.graph(on)
    single = next(
        t
        for t in foreign_influenced(g, "gotion-inc", other).tests
        if t.test == "single_sfe_ownership"
    )
    assert single.clause.startswith("X: one SFE holds 25% or more")


def test_without_a_pack_the_tests_cite_no_sub_clause() -> None:
    p = PfeParams()
    assert _cited([p.text(k)[1] for k in PFE_TEXT_KEYS]) == {"(51)"}


# ------------------------------------------------------------------ 4. why each holder is an SFE


def _taxpayer_reason(engine: Engine, aid: str, on: dt.date) -> str:
    v = engine.score(aid, on, remedies=False).verdict("us-45x")
    return next(c.reason for c in v.clauses if c.id == "taxpayer_pfe")


def test_the_taxpayer_clause_says_why_each_holder_is_an_sfe(engine: Engine) -> None:
    on = dt.date(2026, 11, 22)
    gotion = _taxpayer_reason(engine, "gotion-manteno-il", on)
    assert gotion.startswith(
        "Gotion Inc. [gotion-inc] is an SFE (controlled by Gotion High-Tech Co., Ltd. "
        "[gotion-high-tech], a company organized in CN) and an FIE: Gotion High-Tech Co., Ltd. "
        "[gotion-high-tech] holds 100% (on the FY2024 NDAA §154(b) list [ndaa-fy2024-154] since "
        "its enactment"
    ), gotion
    assert _taxpayer_reason(engine, "ford-marshall", on) == (
        "Ford Motor Company [ford] is neither an SFE nor an FIE"
    )
    aesc = _taxpayer_reason(engine, "aesc-florence-sc", on)
    assert (
        "is an SFE (controlled by Envision Group [envision-group], a company organized in CN, "
        "through AESC (Envision AESC) [aesc])"
    ) in aesc
    for reason in (gotion, aesc):
        assert "['" not in reason and "Interval(" not in reason


def test_a_listed_holder_says_which_list_since_when(write_dataset: WriteDataset) -> None:
    g = graph(
        write_dataset,
        ent("s", "HK", LISTED, name="Listed Co") + ent("t", "US", name="Target Inc"),
        link("s-t", "s", "t", 0.3),
    )
    assert pfe_sentence(g, "t") == (
        "Target Inc [t] is not an SFE but is an FIE: Listed Co [s] holds 30% "
        "(on the DoD 1260H list [dod-1260h] since 2025-01-07)"
    )


def test_the_ownership_table_names_first_without_reprs(engine: Engine) -> None:
    on = dt.date(2026, 11, 22)
    table = render_ownership_table(engine.ownership("gotion-inc", on))
    assert table.startswith("Gotion Inc. [gotion-inc] — company, US")
    assert "Gotion Inc. [gotion-inc] is an SFE (controlled by" in table
    assert "100%  equity      Gotion High-Tech Co., Ltd. [gotion-high-tech], CN" in table
    assert "Gotion High-Tech Co., Ltd. [gotion-high-tech] → Gotion Inc. [gotion-inc]" in table
    assert "Why each SFE holder named is an SFE:" in table
    assert "Li Zhen [li-zhen]: a covered-nation party, a national of CN" in table
    assert "100.00%" not in table and "['" not in table and "(gotion-high-tech" not in table
    assert max(len(x) for x in table.splitlines()) <= 120
    catl = render_ownership_table(engine.ownership("catl", on))
    assert "listed: on the DoD 1260H list [dod-1260h] since 2025-01-07" in catl
    ford = render_ownership_table(engine.ownership("ford", on))
    assert "Ford Motor Company [ford] is neither an SFE nor an FIE" in ford
