"""The one-page memo of every seed arrangement: the HTML parses, is self-contained, names every
member of the deal, marks the decisive links in its chart, and carries the verdicts of every
scenario, the bars of the axes, the timeline, what is missing or unconfirmed, the sources and
the versions; the Markdown says the same in text.

Needs the system Graphviz ``dot`` for the HTML (skips loudly without it; fails under
``GEORISK_REQUIRE_BROWSER=1``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from georisk.render import ExplainOptions, Rendered, explain
from georisk.render.chart import decisive_links
from georisk.scoring.engine import Engine
from tests.conftest import DATA

ON = dt.date(2026, 11, 22)
SVG = "{http://www.w3.org/2000/svg}"
REQUIRED = os.environ.get("GEORISK_REQUIRE_BROWSER") == "1"
SEEDS = sorted(Engine.from_dir(DATA).dataset.arrangements)


class Page(HTMLParser):
    """Tags, ids, links and the visible text of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "a" and a.get("href"):
            self.hrefs.append(str(a["href"]))
        if a.get("src"):
            self.srcs.append(str(a["src"]))
        if tag in ("style", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)

    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture(scope="module")
def memos(engine: Engine) -> dict[str, Rendered]:
    if shutil.which("dot") is None:
        msg = "Graphviz `dot` not found on PATH (Debian: apt-get install graphviz)"
        if REQUIRED:
            pytest.fail(f"{msg}, and GEORISK_REQUIRE_BROWSER=1 requires it")
        pytest.skip(f"!!! SKIPPED: {msg} !!!")
    return {aid: explain(engine, aid, as_of=ON, fmt="html") for aid in SEEDS}


def inline_svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


@pytest.mark.parametrize("aid", SEEDS)
def test_memo_parses_and_says_what_a_reader_needs(
    engine: Engine, memos: dict[str, Rendered], aid: str
) -> None:
    r = memos[aid]
    html = r.data.decode("utf-8")
    page = Page()
    page.feed(html)
    page.close()
    words = page.words()
    s = r.score
    a = engine.dataset.arrangements[aid]
    # self-contained: nothing is fetched (no script, no image or stylesheet from elsewhere)
    assert "script" not in page.tags and not page.srcs and "<link" not in html
    assert {"verdicts", "scores", "chart", "timeline", "gaps", "sources"} <= page.ids
    assert f"{a.name} [{aid}]" in words
    # the verdict of every rule under every scenario
    for o in s.scenarios:
        assert o.scenario in words
        for rule in o.rules:
            assert rule.rule in words
    # a table row per rule that applies under some scenario (the others named in one line)
    live = {r.rule for o in s.scenarios for r in o.rules if r.verdict.value != "not_applicable"}
    assert len(re.findall(r'class="verdict v-', html)) >= len(s.scenarios) * len(live)
    # every inline SVG is well-formed XML: bars, chart, timeline
    svgs = inline_svgs(html)
    classes = [x.get("class", "") for x in svgs]
    assert classes[:1] == ["axis-bars"] and "chart" in classes and "timeline" in classes
    bars = svgs[0]
    axes = [g.get("data-axis") for g in bars.iter(f"{SVG}g") if g.get("class") == "axis-bar"]
    assert axes == ["technology", "equity", "policy", "overall"]
    segments = sum(1 for x in bars.iter(f"{SVG}rect") if x.get("class") == "segment")
    positive = sum(
        1
        for ax in (s.technology, s.equity, s.policy, s.overall)
        for c in ax.contributions
        if c.points > 0
    )
    assert segments == positive
    # the chart names every member of the deal and marks the decisive links
    chart = next(x for x in svgs if x.get("class") == "chart")
    groups = {g.get("id", ""): g for g in chart.iter(f"{SVG}g")}
    for eid in dict.fromkeys([a.focal, *([a.taxpayer] if a.taxpayer else []), *a.party_ids()]):
        text = " ".join(" ".join(t.text or "" for t in groups[f"entity:{eid}"].iter()).split())
        assert engine.dataset.entities[eid].name in text and f"[{eid}]" in text
    links, _, _ = decisive_links(s)
    marked = {
        k[len("link:") :]
        for k, g in groups.items()
        if k.startswith("link:") and "decisive" in g.get("class", "").split()
    }
    assert marked == links
    # what is missing or unconfirmed, the sources with their links, the versions
    for m in s.missing_facts:
        assert " ".join(m.split()) in words
    assert words.count("UNCONFIRMED") >= len(s.unconfirmed)
    for src in s.sources:
        if src.url:
            assert src.url in page.hrefs
    assert s.dataset_version in words and s.pack_version in words


def test_the_timeline_shows_the_changes_of_the_window(memos: dict[str, Rendered]) -> None:
    html = memos["gotion-manteno-il"].data.decode()
    tl = next(x for x in inline_svgs(html) if x.get("class") == "timeline")
    periods = [x for x in tl.iter(f"{SVG}rect") if x.get("class") == "period"]
    changes = [x for x in tl.iter(f"{SVG}line") if x.get("class") == "change"]
    assert periods and changes
    # us-45x is eligible before the PFE rules apply (2026-01-01) and not eligible after
    row = [p for p in periods if p.get("data-row") == "us-45x"]
    titles = [" ".join(t.text or "" for t in p.iter(f"{SVG}title")) for p in row]
    assert any("eligible from" in t and "not" not in t for t in titles)
    assert any("not eligible from 2026-01-01" in t for t in titles)


def test_markdown_memo_and_its_chart_file(engine: Engine) -> None:
    opts = ExplainOptions(chart_file="memo-ford-marshall.svg")
    r = explain(engine, "ford-marshall", as_of=ON, fmt="md", options=opts)
    md = r.data.decode()
    assert md.startswith("# Ford BlueOval Battery Park Michigan")
    for head in ("## Verdicts", "## Scores", "## Who sits where", "## When it changes",
                 "## What is missing or unconfirmed", "## Sources"):  # fmt: skip
        assert head in md
    assert "| us-45x | eligible |" in md
    if r.chart_svg is not None:  # dot installed: the chart is an SVG file beside the memo
        assert "](memo-ford-marshall.svg)" in md
        ET.fromstring(r.chart_svg)
    else:
        assert "Chart not drawn" in md
    assert "Contemporary Amperex Technology" in md and "[catl]" in md
