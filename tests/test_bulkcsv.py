"""The column-wise bulk CSV reader agrees with the reference (row-by-row pydantic) reader.

Every test loads the same directory twice — once as shipped, once with the column-wise readers
switched off — and requires the same dataset (every record, equal field by field, same version,
same link date boundaries, same origins) or the same list of problems.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import georisk.scoring.dataset as D
import georisk.scoring.dataset.readers as readers
from georisk.scoring.dataset.bulkcsv import read_links
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.model import LinkKind
from georisk.synth import SynthSpec, generate

Outcome = D.Dataset | list[str]
#: examples per hypothesis test; GEORISK_FUZZ_EXAMPLES raises it for a long run, as in the fuzz
#: tests (RELIABILITY.md)
EXAMPLES = int(os.environ.get("GEORISK_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _load(d: Path, reference: bool, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    with monkeypatch.context() as m:
        if reference:
            m.setattr(readers, "read_links", lambda *a: None)
            m.setattr(readers, "read_entities", lambda *a: None)
            m.setattr(readers, "_fast_line", lambda line: None)
        try:
            return D.load_dataset(d)
        except D.DatasetError as exc:
            return sorted(str(i) for i in exc.issues)


def _same(fast: Outcome, ref: Outcome) -> None:
    if isinstance(ref, list) or isinstance(fast, list):
        assert fast == ref
        return
    assert fast.version == ref.version
    assert list(fast.entities) == list(ref.entities)
    for k, e in ref.entities.items():
        assert fast.entities[k] == e, k
        assert fast.entities[k].model_fields_set == e.model_fields_set, k
        assert list(fast.entities[k].__dict__) == list(e.__dict__), k
    assert sorted(fast.links) == sorted(ref.links)
    for k, l in ref.links.items():
        got = fast.links[k]
        assert got == l, k
        assert got.model_dump(exclude_unset=True) == l.model_dump(exclude_unset=True), k
        assert list(got.__dict__) == list(l.__dict__), k
        assert fast.origin_of("link", k) == ref.origin_of("link", k)
    assert fast.link_boundaries == ref.link_boundaries
    assert list(fast.arrangements) == list(ref.arrangements)
    for k, a in ref.arrangements.items():
        assert fast.arrangements[k] == a and type(fast.arrangements[k]) is type(a), k
        assert fast.arrangements[k].model_fields_set == a.model_fields_set, k
        assert fast.origin_of("arrangement", k) == ref.origin_of("arrangement", k), k


def _both(d: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Outcome, Outcome]:
    fast, ref = _load(d, False, monkeypatch), _load(d, True, monkeypatch)
    _same(fast, ref)
    if isinstance(ref, D.Dataset):
        _same(_through_snapshot(d, monkeypatch), ref)
    return fast, ref


def _through_snapshot(d: Path, monkeypatch: pytest.MonkeyPatch) -> D.Dataset:
    """The dataset as a server opens it from its columnar snapshot (docs/snapshot.md; a first
    load validates, writes the snapshot and opens it): the columns and objects of the fast path
    written and read back must give the same records."""
    with monkeypatch.context() as m:
        m.setenv("GEORISK_SNAPSHOT_DIR", str(d.parent / f"{d.name}-snapshots"))
        got = D.load_dataset(d, snapshot=True)
    assert got.snapshot is not None
    return got


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("synth")
    generate(SynthSpec(entities=600, arrangements=60, seed=3), d)
    return d


def test_synthetic_dataset_loads_the_same(synth_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, ref = _both(synth_dir, monkeypatch)
    assert isinstance(fast, D.Dataset) and isinstance(ref, D.Dataset)
    assert fast.store.columns and len(fast.store.columns[0]) > 0.9 * len(fast.links)
    assert not ref.store.columns  # the reference path holds objects only


def test_graph_over_columns_matches_graph_over_objects(
    synth_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, ref = _both(synth_dir, monkeypatch)
    assert isinstance(fast, D.Dataset) and isinstance(ref, D.Dataset)
    on = dt.date(2026, 11, 22)
    gf, gr = ArrangementGraph.build(fast, on), ArrangementGraph.build(ref, on)
    for m1, m2 in ((gf.equity.lo, gr.equity.lo), (gf.control.hi, gr.control.hi)):
        assert abs(m1 - m2).max() == 0.0
    for eid in list(fast.entities)[::7]:
        assert sorted(l.id for l in gf.links_into(eid)) == sorted(l.id for l in gr.links_into(eid))
        assert sorted(l.id for l in gf.links_from(eid, [LinkKind.EQUITY])) == sorted(
            l.id for l in gr.links_from(eid, [LinkKind.EQUITY])
        )
        a = gf.share_paths(eid, max_paths=10)
        b = gr.share_paths(eid, max_paths=10)
        assert [p.product for p in a.paths] == [p.product for p in b.paths]
        assert {tuple(p.entities) for p in a.paths} == {tuple(p.entities) for p in b.paths}
    assert sorted(gf.graph.edges(keys=True)) == sorted(gr.graph.edges(keys=True))


BASE_YAML = """
sources:
  - {id: s1, title: One, url: "https://example.org/1"}
  - {id: s2, title: Two, url: "https://example.org/2"}
entities:
  - {id: a, name: A, kind: company, country: CN, sources: [s1]}
  - {id: b, name: B, kind: company, country: US, sources: [s1]}
  - {id: c, name: C, kind: facility, country: US, sources: [s2]}
links:
  - {id: l1, kind: equity, source: b, target: c, share: 0.2, sources: [s1]}
"""

LINK_CELLS: dict[str, list[str]] = {
    "id": ["l1", "l2", "l3", "l4", "l5", "L6", " l7", ""],
    "kind": [
        "equity",
        "voting",
        "licence",
        "appointment",
        "supply",
        "control",
        "Equity",
        "",
        "bogus",
    ],
    "source": ["a", "b", "c", "zz", " a", "A"],
    "target": ["a", "b", "c", "zz"],
    "share": ["", "0.5", "0.25", "1", "1.0", "0.7", ".5", "5e-1", "1.5", "-0.1", "x", " 0.3"],
    "share_min": ["", "", "0.1", "0.6", "1.2", "x"],
    "share_max": ["", "", "0.9", "0.3", "1"],
    "share_exclusive_min": ["", "", "true", "0", "yes", " TRUE"],
    "valid_from": ["", "", "2020-01-01", "2024-06-30", "2023-02-30", "2020-1-1", " 2021-01-01"],
    "valid_to": ["", "", "2022-12-31", "2019-01-01", "x", "2023-04-31", "0000-01-01"],
    "status": ["", "confirmed", "reported", "proposed", "Confirmed", "x"],
    "unconfirmed": ["", "true", "false", "1", "0", "yes", "TRUE", "maybe"],
    "unconfirmed_note": ["", "", "not confirmed", "  padded  "],
    "role": ["", "", "", "board", "officer", "ceo", "direct_consolidation", "influence"],
    "licence_royalty_years": ["", "", "", "5", "-1", "x"],
    "licence_licensor_controls": ["", "", "component_sourcing; operations"],
    "arrangement": ["", "", "", "nope"],
    "sources": ["s1", "s1;s2", "s1; s2", "", "s9", "S1"],
    "note": ["", "", "a note", " x "],
}

ENTITY_CELLS: dict[str, list[str]] = {
    "id": ["e1", "e2", "e3", "E4", " e5", "a"],
    "name": ["X", "Y", " Y", "", "Z ", "Zoë", "W\u00a0", "\u2003V", "é", "x\x1f", "\u00a0"],
    "kind": ["company", "person", "facility", "Company", ""],
    "country": ["", "CN", "cn", "US", "XX"],
    "principal_place": ["", "", "CN", "zz"],
    "us_person": ["", "", "true", "no", "maybe"],
    "lists": ["", "", "", "dod-1260h@2024-01-31@s1", "broken"],
    "identifiers": [
        "",
        "",
        "XI-LEI:5493001KJTIIGC8Y1R12",
        "XI-LEI:ABC;GB-COH:01234567",
        "BODS-record:a:b",
        " XI-LEI:x",
        "XI-LEI: x",
        "nocolon",
        ":x",
        "S:",
        "a:b;;c:d",
    ],
    "sources": ["", "s1", "s1;s2", "s3"],
    "unconfirmed": ["", "", "1", "nah"],
    "note": ["", "", "n"],
}


def _fresh(tmp_path: Path, yaml_name: str = "0.yaml") -> Path:
    """An empty dataset directory holding only BASE_YAML (hypothesis reuses ``tmp_path``)."""
    d = tmp_path / "ds"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    (d / yaml_name).write_text(BASE_YAML)
    return d


def _rows(cells: dict[str, list[str]]) -> st.SearchStrategy[list[dict[str, str]]]:
    row = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in cells.items()})
    return st.lists(row, min_size=1, max_size=8)


def _csv_text(cells: dict[str, list[str]], rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(cells), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


@FUZZ
@given(rows=_rows(LINK_CELLS), yaml_name=st.sampled_from(["0.yaml", "zz.yaml"]))
def test_fuzzed_link_rows_give_the_same_dataset_or_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[dict[str, str]], yaml_name: str
) -> None:
    d = _fresh(tmp_path, yaml_name)
    (d / "m.links.csv").write_text(_csv_text(LINK_CELLS, rows))
    _both(d, monkeypatch)


@FUZZ
@given(rows=_rows(ENTITY_CELLS))
def test_fuzzed_entity_rows_give_the_same_dataset_or_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[dict[str, str]]
) -> None:
    d = _fresh(tmp_path)
    (d / "m.entities.csv").write_text(_csv_text(ENTITY_CELLS, rows))
    _both(d, monkeypatch)


GOOD = "id,kind,source,target,share,sources\nx1,equity,a,c,0.5,s1\nx2,supply,a,b,,s2\n"


@pytest.mark.parametrize(
    "text",
    [
        "\ufeff" + GOOD,  # byte-order mark
        GOOD.replace("\n", "\r\n"),  # CRLF
        GOOD + "\n",  # blank line
        GOOD + 'x3,supply,a,b,,"s1\n"\n',  # quoted newline
        GOOD + "x3,supply,a,b\n",  # short row
        GOOD + "x3,supply,a,b,,s1,extra\n",  # long row
        "id,kind,source,target,share,sources,colour\nx1,equity,a,c,0.5,s1,red\n",  # unknown
        "id,id,kind,source,target,share,sources\nx1,x1,equity,a,c,0.5,s1\n",  # duplicate header
    ],
)
def test_files_the_column_reader_declines_take_the_reference_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    assert read_links("m.links.csv", text.encode()) is None
    (tmp_path / "0.yaml").write_text(BASE_YAML)
    (tmp_path / "m.links.csv").write_text(text, newline="")
    _both(tmp_path, monkeypatch)


@pytest.mark.parametrize(
    "day", ["2023-02-30", "2023-02-29", "2023-04-31", "2023-06-31", "0000-01-01"]
)
def test_a_date_that_does_not_exist_is_refused_not_rolled_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, day: str
) -> None:
    """A date with the shape but no such day (Arrow's ``strptime`` rolls 2023-02-30 over to
    2023-03-02, and reads year 0, which Python's dates do not have) is refused as the reference
    path refuses it, never loaded as another day nor a crash; a real leap day loads. (The
    fuzzer found the column reader taking such dates.)"""
    text = (
        "id,kind,source,target,share,valid_from,valid_to,sources\n"
        f"x1,equity,a,c,0.5,{day},,s1\n"
        "x2,equity,a,b,0.5,2024-02-29,2024-12-31,s1\n"
    )
    fl = read_links("m.links.csv", text.encode())
    assert fl is not None and fl.columns.ids == ["x2"] and [r for r, _ in fl.slow] == [2]
    (tmp_path / "0.yaml").write_text(BASE_YAML)
    (tmp_path / "m.links.csv").write_text(text)
    fast, _ = _both(tmp_path, monkeypatch)
    assert isinstance(fast, list) and len(fast) == 1  # the same as the reference's (_both)
    assert fast[0].startswith(
        "m.links.csv: row 2 (id=x1): valid_from: Input should be a valid date"
    )


def test_problems_name_file_row_and_field(tmp_path: Path) -> None:
    (tmp_path / "0.yaml").write_text(BASE_YAML)
    (tmp_path / "m.links.csv").write_text(
        "id,kind,source,target,share,sources\n"
        "x1,equity,a,c,0.5,s1\n"
        "x2,equity,a,nobody,0.5,s1\n"
        "x3,equity,b,c,0.6,s1\n"  # with l1 (0.2) and x1 (0.5): 130% of c
        "l1,supply,a,b,,s1\n"  # l1 is already defined in 0.yaml
        "x5,equity,a,b,0.5,s7\n"
    )
    with pytest.raises(D.DatasetError) as ei:
        D.load_dataset(tmp_path)
    got = {str(i) for i in ei.value.issues}
    assert got == {
        "m.links.csv: row 3 (id=x2): target: unknown entity 'nobody'",
        "m.links.csv: row 5 (id=l1): id: duplicate link id 'l1' (first defined in 0.yaml: "
        "links[0] line 10 (id=l1))",
        "m.links.csv: row 6 (id=x5): sources: unknown source 's7'",
        "m.links.csv: row 4 (id=x3): share: equity held in 'c' adds up to 130.00% (> 100%) on "
        "any date: l1, x1, x3",
    }


def test_materialized_links_are_independent_objects(synth_dir: Path) -> None:
    ds = D.load_dataset(synth_dir)
    store = ds.store
    some = next(iter(store.columns[0].ids))
    a, b = store[some], store[some]
    assert a == b and a.sources is not None
    e1, e2 = list(ds.entities.values())[:2]
    assert e1.aliases is not e2.aliases  # no default list shared between entities


ARRANGEMENT = {
    "record": "arrangement",
    "id": "a1",
    "name": "Plant",
    "focal": "c",
    "parties": [{"entity": "b", "role": "owner"}, {"entity": "a", "role": "licensor"}],
    "taxpayer": "b",
    "country": "US",
    "products": ["cells"],
    "capacity": {"gwh": 20, "sources": ["s1"]},
    "status": [{"status": "announced", "date": "2023-02-01", "sources": ["s1"]}],
    "sources": ["s1"],
}
VARIANTS: dict[str, list[Any]] = {
    "id": ["a1", "a2", " a3", "A4", 5],
    "name": ["Plant", "", "  Padded  "],
    "focal": ["c", "zz", "C"],
    "country": ["US", "us", "XX", None],
    "products": [["cells"], ["modules", "packs"], ["bogus"], "cells", []],
    "capacity": [{"gwh": 20, "sources": ["s1"]}, {"gwh": "25.5", "sources": ["s1"]}, {"gwh": -1}],
    "status": [
        [{"status": "announced", "date": "2023-02-01", "sources": ["s1"]}],
        [{"status": "talks", "date": "2023-13-01", "sources": ["s1"]}],
        [{"status": "announced", "date": 1675209600, "sources": ["s1"]}],
    ],
    "taxpayer": ["b", None, "zz"],
    "record": ["arrangement", "arrangement", "entity", "nope"],
    "extra": [None, None, "x"],
}


@FUZZ
@given(
    recs=st.lists(
        st.fixed_dictionaries({k: st.sampled_from(v) for k, v in VARIANTS.items()}),
        min_size=1,
        max_size=5,
    ),
    raw_tail=st.sampled_from(["", "{", "[1]", '{"record": "arrangement", "id": "a1", "id": "a9"}']),
)
def test_fuzzed_jsonl_lines_give_the_same_dataset_or_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recs: list[dict[str, Any]], raw_tail: str
) -> None:
    d = _fresh(tmp_path)
    lines = []
    for r in recs:
        obj = {**ARRANGEMENT, **{k: v for k, v in r.items() if k != "extra"}}
        if r["extra"] is not None:
            obj["extra"] = r["extra"]
        lines.append(json.dumps(obj))
    (d / "m.jsonl").write_text("\n".join([*lines, raw_tail]) + "\n")
    _both(d, monkeypatch)


def test_identifiers_in_an_entities_csv_carry_the_rows_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``identifiers`` cells (``SCHEME:ID;…``) read the same on both paths, each identifier
    sourced by its row; a malformed item names the file, the row and the item."""
    d = _fresh(tmp_path)
    (d / "m.entities.csv").write_text(
        "id,name,kind,country,identifiers,sources\n"
        "e1,One,company,CN,XI-LEI:5493001KJTIIGC8Y1R12;GB-COH:01234567,s1;s2\n"
        "e2,Two,company,US, BODS-record:abc:1 ,s1\n"
    )
    fast, _ = _both(d, monkeypatch)
    assert isinstance(fast, D.Dataset)
    one = fast.entities["e1"].identifiers
    assert [(i.scheme, i.id, i.sources) for i in one] == [
        ("XI-LEI", "5493001KJTIIGC8Y1R12", ["s1", "s2"]),
        ("GB-COH", "01234567", ["s1", "s2"]),
    ]
    assert [(i.scheme, i.id) for i in fast.entities["e2"].identifiers] == [("BODS-record", "abc:1")]
    (d / "m.entities.csv").write_text("id,name,kind,identifiers,sources\ne3,Three,company,LEI,s1\n")
    with pytest.raises(D.DatasetError) as exc:
        D.load_dataset(d)
    assert "m.entities.csv" in str(exc.value) and "row 2" in str(exc.value)
    assert "identifier 'LEI' is not SCHEME:ID" in str(exc.value)
