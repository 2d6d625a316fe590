"""Issue 13, ownership and control: one semantics for the FIE ownership tests (each chain counted
once, no chain through the subject), certain and possible SFE holders named apart, the
controlled share of the foreign-controlled test, why each holder is an SFE, and citations from
the pack."""

from __future__ import annotations

import datetime as dt

from georisk.scoring.control import foreign_influenced
from georisk.scoring.dataset import load_dataset
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.interval import Tri
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
