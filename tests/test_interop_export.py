"""georisk export bods|ftm|graphml|gexf, and the round trip: the embedded dataset exported, its
links rebuilt from the export, scores the same (docs/import.md, "Round trip").

The rebuild (:func:`_rebuild`): a copy of ``data/`` loses the links the format gives back whole
(``bods_out.carried`` / ``ftm_out.carried``: ownership kinds, confirmed, not unconfirmed, the
share exactly expressible); the export is merged back into it with ``import --merge``, whose
entities land on the copy's own (the ``georisk`` identifier). Everything the format cannot carry
(arrangements, licence terms, statuses, FtM's unread link kinds) stays in the hand-written part.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml

from georisk.cli import main
from georisk.interop import EXPORTERS
from georisk.interop.core import GEORISK_SCHEME, slug
from georisk.scoring.dataset import load_dataset
from georisk.scoring.engine import DEFAULT_DATA, Engine
from georisk.scoring.model import ShareRange

ON = dt.date(2026, 11, 22)
FTM_MISSING = "FOLLOWTHEMONEY IS NOT INSTALLED (pip install -e '.[ftm]')"


def _needs_ftm(fmt: str) -> None:
    if fmt == "ftm":
        pytest.importorskip("followthemoney", reason=FTM_MISSING)


def _export(fmt: str, data: Path, out: Path, on: dt.date = ON) -> None:
    assert main(["export", fmt, str(data), "-o", str(out), "--as-of", on.isoformat()]) == 0


def _scores(engine: Engine) -> dict[str, Any]:
    """Per shipped arrangement: the four axes (score, band), and every scenario's verdicts with
    their impact, plus the confidence, on :data:`ON`."""
    out: dict[str, Any] = {}
    for aid in sorted(engine.dataset.arrangements):
        s = engine.score(aid, ON, remedies=False)
        out[aid] = {
            "axes": [
                (a.axis, round(a.score, 9), a.band)
                for a in (s.technology, s.equity, s.policy, s.overall)
            ],
            "verdicts": [(v.rule, v.verdict, round(v.impact, 9)) for v in s.verdicts],
            "scenarios": [
                (sc.scenario, [(r.rule, r.verdict, round(r.impact, 9)) for r in sc.rules])
                for sc in s.scenarios
            ],
            "confidence": round(s.confidence, 9),
        }
    return out


def _carried(fmt: str) -> Any:
    if fmt == "bods":
        from georisk.interop.bods_out import carried
    else:
        from georisk.interop.ftm_out import carried
    return carried


def _strip(copy: Path, fmt: str) -> list[str]:
    """Remove from the copy's link files (YAML ``links:`` lists, ``*.links.csv`` rows) the links
    the format gives back whole; their ids."""
    carried = _carried(fmt)
    gone = {l.id for l in load_dataset(copy).links.values() if carried(l)}
    for path in sorted(copy.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and doc.get("links"):
            doc["links"] = [r for r in doc["links"] if r["id"] not in gone]
            path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), "utf-8")
    for path in sorted(copy.glob("*.links.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            header, rows = list(reader.fieldnames or []), list(reader)
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, header)
            writer.writeheader()
            writer.writerows(r for r in rows if r["id"] not in gone)
    assert gone and not gone & set(load_dataset(copy).links)
    return sorted(gone)


def _rebuild(fmt: str, data: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    exported = tmp_path / f"export.{fmt}"
    _export(fmt, copy, exported)
    gone = _strip(copy, fmt)
    assert main(["import", fmt, str(exported), "-o", str(copy), "--merge"]) == 0
    return copy, gone


def _synthetic(tmp_path: Path) -> Path:
    """A synthetic dataset (georisk synth): 250 entities, state chains, cross-holdings, ranged
    shares, appointments, debt; 20 arrangements."""
    from georisk.synth import SynthSpec, generate

    out = tmp_path / "synth"
    generate(SynthSpec(entities=250, links_per_entity=3.0, arrangements=20, seed=3), out)
    return out


# --------------------------------------------------------------------------- the round trip


@pytest.mark.parametrize("fmt", ["bods", "ftm"])
def test_the_embedded_dataset_round_trips_with_the_same_scores(fmt: str, tmp_path: Path) -> None:
    """Every shipped arrangement on 2026-11-22: same axes, bands, verdicts in every scenario and
    confidence, with the ownership links (VW's 26.47–30 % range and its votes, the 50/50
    Zaragoza JV, Ford's plants) coming from the export alone, onto the same entity ids (the
    ``georisk`` identifier: BODS ``schemeName``, FtM ``georisk-…`` ids)."""
    _needs_ftm(fmt)
    copy, gone = _rebuild(fmt, DEFAULT_DATA, tmp_path)
    assert {"vw-owns-gotion", "vw-votes-gotion", "catl-owns-zaragoza-jv"} <= set(gone)
    rebuilt, original = Engine.from_dir(copy), Engine.from_dir(DEFAULT_DATA)
    assert set(rebuilt.dataset.entities) == set(original.dataset.entities)
    holding = {
        (l.source, l.target, l.kind, l.share, l.valid_from, l.valid_to)
        for l in original.dataset.links.values()
        if l.id in gone
    }
    back = {
        (l.source, l.target, l.kind, l.share, l.valid_from, l.valid_to)
        for l in rebuilt.dataset.links.values()
        if l.id.startswith(f"{fmt}:")
    }
    assert back == holding  # each carried link once, on the same ids, nothing else
    assert _scores(rebuilt) == _scores(original)


@pytest.mark.parametrize("fmt", ["bods", "ftm"])
def test_a_synthetic_dataset_round_trips_with_the_same_scores(fmt: str, tmp_path: Path) -> None:
    """The same on ``georisk synth`` output (CSV link files): hundreds of exact and ranged
    holdings, state chains and cross-holdings come back from the export."""
    _needs_ftm(fmt)
    data = _synthetic(tmp_path)
    copy, gone = _rebuild(fmt, data, tmp_path)
    assert len(gone) > 300
    rebuilt, original = Engine.from_dir(copy), Engine.from_dir(data)
    assert set(rebuilt.dataset.entities) == set(original.dataset.entities)
    assert _scores(rebuilt) == _scores(original)


def test_what_each_format_gives_back_of_an_entity(tmp_path: Path) -> None:
    """A fresh import of each export: names, countries and aliases of all 52 entities come back;
    kinds as far as the format has them; FtM sanctions come back as the pack's lists, by the
    programId a georisk export writes (georisk:<list id>), the §154 ban included."""
    pytest.importorskip("followthemoney", reason=FTM_MISSING)
    from georisk.interop.ftm_out import ftm_id

    original = load_dataset(DEFAULT_DATA)
    back: dict[str, Any] = {}
    for fmt in ("bods", "ftm"):
        _export(fmt, DEFAULT_DATA, tmp_path / f"x.{fmt}")
        assert main(["import", fmt, str(tmp_path / f"x.{fmt}"), "-o", str(tmp_path / fmt)]) == 0
        back[fmt] = load_dataset(tmp_path / fmt).entities
    ids = {"bods": lambda i: slug("bods", i), "ftm": lambda i: slug("ftm", ftm_id(i))}
    kinds = {
        "bods": {"government": "government", "state_body": "state_body", "person": "person"},
        "ftm": {"government": "state_body", "state_body": "state_body", "person": "person"},
    }
    for fmt, entities in back.items():
        for e in original.entities.values():
            got = entities[ids[fmt](e.id)]
            assert (got.name, got.country, got.aliases) == (e.name, e.country, e.aliases), e.id
            assert got.kind.value == kinds[fmt].get(e.kind.value, "company"), e.id
            assert any(i.scheme == GEORISK_SCHEME and i.id == e.id for i in got.identifiers)
    catl = back["ftm"][ids["ftm"]("catl")]
    lists = {(m.list_id, m.since) for m in catl.lists}
    assert {("dod-1260h", dt.date(2025, 1, 7)), ("ndaa-fy2024-154", None)} <= lists
    camel = back["ftm"][ids["ftm"]("camel-group")]
    assert ("uflpa-entity-list", dt.date(2023, 8, 2)) in {(m.list_id, m.since) for m in camel.lists}
    assert all(not e.lists for e in back["bods"].values())  # BODS has no lists


def test_ftm_topics_are_the_lists_in_force_on_the_export_date(tmp_path: Path) -> None:
    """BYD is on the 1260H list from 2026-06-08: topic ``mil`` on 2026-11-22, not on
    2026-01-01; its Sanction record carries the dates either way."""
    pytest.importorskip("followthemoney", reason=FTM_MISSING)
    from georisk.interop.ftm_out import ftm_id

    def records(on: dt.date) -> dict[str, Any]:
        _export("ftm", DEFAULT_DATA, tmp_path / "t.jsonl", on)
        lines = (tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()
        return {r["id"]: r for r in map(json.loads, lines)}

    late, early = records(ON), records(dt.date(2026, 1, 1))
    byd = ftm_id("byd")
    assert late[byd]["properties"]["topics"] == ["debarment", "mil"]
    assert early[byd]["properties"]["topics"] == ["debarment"]
    sanction = next(
        r["properties"]
        for r in early.values()
        if r["schema"] == "Sanction"
        and r["properties"]["entity"] == [byd]
        and r["properties"].get("startDate")
    )
    assert sanction["startDate"] == ["2026-06-08"] and sanction["programId"] == [
        "georisk:dod-1260h"
    ]


# --------------------------------------------------------------------------- BODS


def _small(tmp_path: Path) -> Path:
    """A dataset with what the embedded one lacks: a control link (consolidation), an officer and
    a board appointment, an entity with an LEI and an id that FtM ids cannot hold."""
    d = tmp_path / "small"
    d.mkdir()
    (d / "small.yaml").write_text(
        """
sources: [{id: s1, title: test, note: test}]
entities:
  - {id: parent_co, name: Parent Co, kind: company, country: CN, sources: [s1],
     identifiers: [{scheme: XI-LEI, id: 5493001KJTIIGC8Y1R12}]}
  - {id: "child:1", name: Child Ltd, kind: company, country: GB, sources: [s1]}
  - {id: ann, name: Ann Lee, kind: person, country: CN, sources: [s1]}
links:
  - {id: c1, kind: control, source: parent_co, target: "child:1", role: direct_consolidation,
     valid_from: 2020-01-01, sources: [s1]}
  - {id: c2, kind: control, source: ann, target: "child:1", role: influence, sources: [s1]}
  - {id: a1, kind: appointment, source: parent_co, target: "child:1", role: board, sources: [s1]}
  - {id: a2, kind: appointment, source: ann, target: "child:1", role: officer, sources: [s1]}
  - {id: e1, kind: equity, source: parent_co, target: "child:1", valid_to: 2030-12-31,
     share: {minimum: 0.5, maximum: 0.75, exclusive_minimum: true}, sources: [s1]}
  - {id: d1, kind: debt, source: parent_co, target: "child:1", share: 0.2, status: reported,
     sources: [s1]}
  - {id: m1, kind: membership, source: ann, target: "child:1", status: proposed, sources: [s1]}
""",
        encoding="utf-8",
    )
    load_dataset(d)
    return d


def test_bods_export_validates_and_carries_control_and_the_georisk_id(tmp_path: Path) -> None:
    from georisk.interop.bods import statement_errors

    for data in (DEFAULT_DATA, _small(tmp_path)):
        _export("bods", data, tmp_path / "out.json")
        sts = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
        assert [e for s in sts for e in statement_errors(s)] == [], data
    # the small dataset's relationships: control → otherInfluenceOrControl, the role in details
    rel = {
        s["recordId"]: s["recordDetails"]["interests"][0]
        for s in sts
        if s["recordType"] == "relationship"
    }
    assert rel["c1"]["type"] == "otherInfluenceOrControl"
    assert "direct_consolidation" in rel["c1"]["details"]
    assert rel["a1"]["type"] == "appointmentOfBoard"
    assert rel["a2"]["type"] == "otherInfluenceOrControl"  # BODS appoints boards, not officers
    assert rel["e1"]["share"] == {"exclusiveMinimum": 50.0, "maximum": 75.0}
    ents = {s["recordId"]: s["recordDetails"] for s in sts if s["recordType"] != "relationship"}
    assert {"id": "child:1", "schemeName": "georisk"} in ents["child:1"]["identifiers"]
    # a person's georisk id is not a person identifier (those are JURISDICTION-TYPE schemes:
    # passport, tax id, id card; libcovebods checks it) but an "identifying" annotation
    embedded = {
        s["recordId"]: s
        for s in json.loads(_export_text("bods", DEFAULT_DATA, tmp_path / "embedded.json"))
    }
    person = embedded["li-zhen"]
    assert person["recordType"] == "person" and "identifiers" not in person["recordDetails"]
    assert person["annotations"] == [
        {
            "motivation": "identifying",
            "statementPointerTarget": "/recordDetails",
            "description": "georisk entity id li-zhen",
            "georiskId": "li-zhen",
        }
    ]
    from georisk.interop.bods import import_bods

    back = import_bods([tmp_path / "embedded.json"]).entities["bods:li-zhen"]
    assert ("georisk", "li-zhen") in {(i.scheme, i.id) for i in back.identifiers}
    # and back: control links (role influence: BODS does not say consolidation), the range kept
    assert main(["import", "bods", str(tmp_path / "out.json"), "-o", str(tmp_path / "back")]) == 0
    links = {l.id: l for l in load_dataset(tmp_path / "back").links.values()}
    assert (links["bods:c1"].kind.value, links["bods:c1"].role) == ("control", "influence")
    assert links["bods:c1"].valid_from == dt.date(2020, 1, 1)
    assert links["bods:e1"].share == ShareRange(minimum=0.5, maximum=0.75, exclusive_minimum=True)
    assert links["bods:e1"].valid_to == dt.date(2030, 12, 31)


def _export_text(fmt: str, data: Path, out: Path) -> str:
    _export(fmt, data, out)
    return out.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- FtM


def test_ftm_export_is_valid_ftm_with_stable_ids_and_reads_back(tmp_path: Path) -> None:
    pytest.importorskip("followthemoney", reason=FTM_MISSING)
    from followthemoney import model

    from georisk.interop.ftm import parse_percentage
    from georisk.interop.ftm_out import ftm_id, georisk_id_of, percentage

    data = _small(tmp_path)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _export("ftm", data, a)
    _export("ftm", data, b)
    assert a.read_bytes() == b.read_bytes()  # reproducible: ids from georisk ids, no clock
    recs = [json.loads(line) for line in a.read_text(encoding="utf-8").splitlines()]
    ftm_re = re.compile(r"^[0-9a-zA-Z]([0-9a-zA-Z\.\-]*[0-9a-zA-Z])?$")
    for r in recs:
        assert ftm_re.match(r["id"]), r["id"]
        proxy = model.get_proxy(r, cleaned=False)  # the library takes every record
        assert proxy.schema.name == r["schema"]
    roles = {r["id"]: r["properties"].get("role") for r in recs}
    assert roles["georisk.link-c1"] == ["georisk control (direct_consolidation)"]
    assert roles["georisk.link-c2"] == ["georisk control (influence)"]
    assert (roles["georisk.link-a1"], roles["georisk.link-a2"]) == (["board"], ["officer"])
    props = {r["id"]: r["properties"] for r in recs}
    assert props["georisk.link-d1"]["summary"] == ["status reported; share 20 %"]  # Debt: no status
    assert props["georisk.link-m1"]["status"] == ["proposed"]
    own = next(r for r in recs if r["schema"] == "Ownership")["properties"]
    assert (own["percentage"], own["ownershipType"]) == (["50-75"], ["shares"])
    assert "open ends written closed" in own["summary"][0]
    parent = next(r for r in recs if r["id"] == ftm_id("parent_co"))
    assert parent["properties"]["leiCode"] == ["5493001KJTIIGC8Y1R12"]
    for gid in ("parent_co", "child:1", "x.", "a-", "bods:05ce06ec97b1", "a_b:c.d-e"):
        assert georisk_id_of(ftm_id(gid)) == gid and ftm_re.match(ftm_id(gid)), gid
    assert georisk_id_of("NK-abc") is None
    for share in (0.51, 0.1817, 1.0, ShareRange(minimum=0.2647, maximum=0.3),
                  ShareRange(minimum=0.0, maximum=1.0, exclusive_minimum=True),
                  ShareRange(minimum=0.25, maximum=1.0),
                  ShareRange(minimum=0.0, maximum=0.1, exclusive_maximum=True)):  # fmt: skip
        text, exact = percentage(share)
        assert exact and parse_percentage(text) == share, (share, text)
    # the two-sided range with an open end is written closed, and says so
    text, exact = percentage(ShareRange(minimum=0.5, maximum=0.75, exclusive_minimum=True))
    assert (text, exact) == ("50-75", False)


def test_export_ftm_without_the_library_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "followthemoney", None)  # import fails as if not installed
    out = tmp_path / "x.jsonl"
    assert main(["export", "ftm", str(DEFAULT_DATA), "-o", str(out)]) == 2
    assert "pip install 'georisk[ftm]'" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())  # no partial file either


# --------------------------------------------------------------------------- GraphML / GEXF


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_graph_files_read_back_with_networkx(fmt: str, tmp_path: Path) -> None:
    """What a Gephi or yEd user looks at: one node per entity with its name, kind, country and
    lists in force; one edge per link valid on the date, keyed by link id, with kind, share or
    share range, status and dates; no link outside its validity."""
    out = tmp_path / f"g.{fmt}"
    _export(fmt, DEFAULT_DATA, out)
    g = nx.read_graphml(out) if fmt == "graphml" else nx.read_gexf(out)
    if fmt == "graphml":  # key ids are unique in the document (node and edge keys apart)
        keys = re.findall(r'<key id="([^"]+)"', out.read_text(encoding="utf-8"))
        assert len(keys) == len(set(keys))
    ds = load_dataset(DEFAULT_DATA)
    assert set(g.nodes) == set(ds.entities)
    valid = {l.id for l in ds.links.values() if l.active(ON)}
    assert {k for _u, _v, k in g.edges(keys=True)} == valid
    assert "gotion-inc-owns-big-rapids" not in valid  # ended 2025-10-31
    catl = g.nodes["catl"]
    assert (catl["label"], catl["kind"], catl["country"]) == (
        ds.entities["catl"].name,
        "company",
        "CN",
    )
    assert catl["lists"] == "dod-1260h;ndaa-fy2024-154"
    assert "stellantis-catl-zaragoza" in catl["arrangements"].split(";")
    edges = {k: (u, v, d) for u, v, k, d in g.edges(keys=True, data=True)}
    u, v, vw = edges["vw-owns-gotion"]
    assert (u, v, vw["kind"], vw["status"]) == (
        "volkswagen",
        "gotion-high-tech",
        "equity",
        "confirmed",
    )
    assert (vw["share_min"], vw["share_max"], vw["share_text"]) == (0.2647, 0.3, "26.47–30%")
    assert vw["valid_from"] == "2021-12-15"
    _u, _v, ford = edges["ford-owns-blueoval-mi"]
    assert (ford["share"], ford["weight"]) == (1.0, 1.0)
    _u, _v, lic = edges["catl-licence-ford-marshall"]
    assert lic["kind"] == "licence" and "share" not in lic
    for _n, d in g.nodes(data=True):
        assert all(isinstance(x, str | bool | int | float) for x in d.values())
    # an earlier date: VW's stake (from 2021-12-15) is not an edge yet
    _export(fmt, DEFAULT_DATA, out, dt.date(2021, 1, 1))
    g = nx.read_graphml(out) if fmt == "graphml" else nx.read_gexf(out)
    assert "vw-owns-gotion" not in {k for _u, _v, k in g.edges(keys=True)}


# --------------------------------------------------------------------------- the command


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_every_format_exports_atomically_with_exit_codes(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0 and the file (no temporary left), 3 for a refused dataset (FILE left as it was), 2 for
    an output in a directory that does not exist."""
    _needs_ftm(fmt)
    out = tmp_path / "out"
    _export(fmt, DEFAULT_DATA, out)
    assert out.stat().st_size > 0 and {p.name for p in tmp_path.iterdir()} == {"out"}
    assert f"ok: {out}:" in capsys.readouterr().err
    before = out.read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.yaml").write_text("entities: [{id: Bad Id, name: x, kind: company}]\n", "utf-8")
    assert main(["export", fmt, str(bad), "-o", str(out)]) == 3
    assert out.read_bytes() == before
    assert main(["export", fmt, str(DEFAULT_DATA), "-o", str(tmp_path / "no" / "x")]) == 2
