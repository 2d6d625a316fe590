"""The arrangement chart (georisk.render): what it draws, what it highlights, how it is bounded,
and that its SVG, DOT, GraphML and GEXF parse and say what the chart says.

The SVG tests need the system Graphviz ``dot``: without it they skip loudly, and fail when
``GEORISK_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import xml.etree.ElementTree as ET

import networkx as nx
import pytest

from georisk.render import ExplainOptions, build_chart, explain, to_dot
from georisk.render.chart import decisive_links
from georisk.scoring.engine import Engine
from georisk.scoring.overlay import parse_overlay

ON = dt.date(2026, 11, 22)
SVG = "{http://www.w3.org/2000/svg}"
REQUIRED = os.environ.get("GEORISK_REQUIRE_BROWSER") == "1"


def need_dot() -> None:
    if shutil.which("dot") is None:
        msg = "Graphviz `dot` not found on PATH (Debian: apt-get install graphviz)"
        if REQUIRED:
            pytest.fail(f"{msg}, and GEORISK_REQUIRE_BROWSER=1 requires it")
        pytest.skip(f"!!! SKIPPED: {msg} !!!")


def members(engine: Engine, aid: str) -> list[str]:
    a = engine.dataset.arrangements[aid]
    return list(dict.fromkeys([a.focal, *([a.taxpayer] if a.taxpayer else []), *a.party_ids()]))


def svg_groups(svg: bytes) -> dict[str, tuple[str, str]]:
    """SVG element id → (class, its text joined by spaces)."""
    root = ET.fromstring(svg)
    out = {}
    for g in root.iter(f"{SVG}g"):
        gid = g.get("id", "")
        text = " ".join(t.text or "" for t in g.iter(f"{SVG}text"))
        out[gid] = (g.get("class", ""), " ".join(text.split()))
    return out


def test_gotion_chart_draws_members_holders_and_the_decisive_holding(engine: Engine) -> None:
    s = engine.score("gotion-manteno-il", ON, remedies=False)
    c = build_chart(engine, s)
    ids = {n.id for n in c.nodes}
    assert set(members(engine, "gotion-manteno-il")) <= ids
    # Gotion High-Tech's own holders are drawn above it (Volkswagen, Li Zhen)
    assert {"volkswagen", "li-zhen"} <= ids
    decisive = {e.id for e in c.edges if e.decisive}
    assert decisive == {"gotion-owns-gotion-inc"}  # the taxpayer clause's ownership path
    assert c.node("gotion-high-tech").covered == "covered"
    assert c.node("gotion-inc").covered == "controlled"
    assert c.node("gotion-high-tech").lists == ("ndaa-fy2024-154",)
    licence = next(e for e in c.edges if e.kind == "licence")
    assert licence.dashed and "licence" in licence.label and "LFP" in licence.label
    assert c.decisive_rules == ("us-45x", "us-lists")


def test_dot_source_marks_decisive_and_dashed_links(engine: Engine) -> None:
    s = engine.score("aesc-florence-sc", ON, remedies=False)
    src = to_dot(build_chart(engine, s))
    links, _, _ = decisive_links(s)
    assert links == {"aesc-owns-aesc-us", "envision-group-owns-aesc"}
    for lid in links:
        line = next(x for x in src.splitlines() if f'id="link:{lid}"' in x)
        assert "decisive" in line and "#c62828" in line
    nissan = next(x for x in src.splitlines() if 'id="link:nissan-owns-aesc"' in x)
    assert "dashed" in nissan and "decisive" not in nissan


def test_svg_names_every_member_and_marks_the_decisive_links(engine: Engine) -> None:
    need_dot()
    for aid in ("gotion-manteno-il", "aesc-florence-sc", "catl-lrs", "ford-marshall"):
        r = explain(engine, aid, as_of=ON, fmt="svg")
        assert r.media_type == "image/svg+xml"
        groups = svg_groups(r.data)
        for eid in members(engine, aid):
            cls, text = groups[f"entity:{eid}"]
            assert f"[{eid}]" in text and engine.dataset.entities[eid].name in text, (aid, eid)
            assert "member" in cls.split()
        links, _, _ = decisive_links(r.score)
        drawn = {k for k, (cls, _) in groups.items() if "decisive" in cls.split() and "link" in cls}
        assert {f"link:{lid}" for lid in links} == drawn, aid
        assert "Legend" in groups["graph0"][1]  # the graph's label: title and legend


def test_png_is_a_png(engine: Engine) -> None:
    need_dot()
    r = explain(engine, "catl-lrs", as_of=ON, fmt="png")
    assert r.data[:8] == b"\x89PNG\r\n\x1a\n" and len(r.data) > 5_000


def wide_overlay(holders: int) -> str:
    """An overlay giving Gotion High-Tech ``holders`` extra small shareholders."""
    ents = "\n".join(
        f"    - {{id: holder-{i:03d}, name: Holder {i:03d}, kind: company, country: DE, "
        "sources: [a20]}"
        for i in range(holders)
    )
    links = "\n".join(
        f"    - {{id: holder-{i:03d}-owns-ght, kind: equity, source: holder-{i:03d}, "
        f"target: gotion-high-tech, share: 0.001, sources: [a20]}}"
        for i in range(holders)
    )
    return (
        f"id: wide\narrangement: gotion-manteno-il\nadd:\n  entities:\n{ents}\n  links:\n{links}\n"
    )


def test_a_wide_neighbourhood_is_bounded_and_collapsed(engine: Engine) -> None:
    ov = parse_overlay(wide_overlay(150), origin="wide")
    r = explain(engine, "gotion-manteno-il", as_of=ON, overlay=ov, fmt="dot",
                options=ExplainOptions(max_nodes=20))  # fmt: skip
    c = r.chart
    assert len(c.nodes) <= 20
    more = [n for n in c.nodes if n.kind == "more"]
    assert [n.id for n in more] == ["more:gotion-high-tech"]
    drawn_holders = {
        e.source for e in c.edges if e.target == "gotion-high-tech" and e.kind == "equity"
    }
    # every holder is drawn or counted: none lost
    assert more[0].count + len(drawn_holders) == 150 + 2  # + Volkswagen and Li Zhen
    assert "volkswagen" in drawn_holders  # larger holders first
    assert more[0].share is not None and more[0].share == pytest.approx(0.001 * more[0].count)
    assert c.hidden == more[0].count
    assert f"{more[0].count} more holders" in r.data.decode()
    # the members and the decisive link are drawn whatever the bound
    tiny = explain(engine, "gotion-manteno-il", as_of=ON, overlay=ov, fmt="dot",
                   options=ExplainOptions(max_nodes=1)).chart  # fmt: skip
    assert set(members(engine, "gotion-manteno-il")) <= {n.id for n in tiny.nodes}
    assert any(e.decisive for e in tiny.edges)


def test_graphml_and_gexf_hold_the_drawn_neighbourhood(engine: Engine) -> None:
    r = explain(engine, "aesc-florence-sc", as_of=ON, fmt="graphml")
    assert r.media_type == "application/graphml+xml"
    g = nx.read_graphml(io.BytesIO(r.data))
    assert set(g.nodes) == {n.id for n in r.chart.nodes}
    assert g.nodes["aesc"]["name"].startswith("AESC")
    decisive = {k for _, _, k, d in g.edges(keys=True, data=True) if d.get("decisive")}
    assert decisive == {"aesc-owns-aesc-us", "envision-group-owns-aesc"}
    x = explain(engine, "aesc-florence-sc", as_of=ON, fmt="gexf")
    root = ET.fromstring(x.data)
    ids = {e.get("id") for e in root.iter() if e.tag.endswith("edge")}
    assert "aesc-owns-aesc-us" in ids


def test_a_link_of_another_deal_is_not_drawn(engine: Engine) -> None:
    """CATL licenses Ford twice: Marshall's cells and Kentucky's storage (a link tagged with
    that arrangement); Marshall's chart draws its own licence only."""
    c = build_chart(engine, engine.score("ford-marshall", ON, remedies=False))
    licences = {e.id for e in c.edges if e.kind == "licence"}
    assert licences == {"catl-licence-ford-marshall"}
    k = build_chart(engine, engine.score("ford-kentucky-storage", ON, remedies=False))
    assert "catl-licence-ford-kentucky-storage" in {e.id for e in k.edges}
    assert "catl-licence-ford-marshall" not in {e.id for e in k.edges}
