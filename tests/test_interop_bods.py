"""georisk.interop: the common shape of an import (core), the atomic writer, and BODS 0.4.

The BODS fixtures in tests/data/bods/ are the official examples of Open Ownership's
data-standard repository (examples/*.json at commit d97e79829b3bbdc759bc35c814b002c65ff75e95,
Apache-2.0): the Finnish state-owned enterprise (bods-package-fi-soe.json), an entity owning an
entity, joint ownership and indirect ownership.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from georisk.interop.core import Rejected, ShareError, share_range, slug
from georisk.scoring.dataset import load_dataset
from georisk.scoring.model import ID_PATTERN, Entity, EntityKind, ShareRange

DATA = Path(__file__).parent / "data" / "bods"


# --------------------------------------------------------------------------- core


def test_slug_is_a_valid_deterministic_id_and_keeps_distinct_ids_apart() -> None:
    import re

    pat = re.compile(ID_PATTERN)
    assert slug("bods", "19f1c5afe9d7") == "bods:19f1c5afe9d7"
    assert slug("bods", "ABC") == "bods:abc"  # lower-casing alone needs no hash
    odd = ["a b", "a/b", "a%b", "É", "x" * 300, "", "--"]
    made = [slug("bods", r) for r in odd]
    assert all(pat.match(m) for m in made), made
    assert len(set(made)) == len(odd)  # characters dropped → a hash keeps them apart
    assert made == [slug("bods", r) for r in odd]  # deterministic
    assert len(slug("bods", "x" * 300)) <= 128
    with pytest.raises(ValueError):
        slug("Not A Prefix", "x")


def test_share_range_reads_bods_shares_as_fractions() -> None:
    assert share_range(exact=76.5) == pytest.approx(0.765)
    assert share_range() is None
    r = share_range(minimum=25, exclusive_maximum=50)
    assert isinstance(r, ShareRange)
    assert (r.minimum, r.maximum, r.exclusive_minimum, r.exclusive_maximum) == (
        0.25,
        0.5,
        False,
        True,
    )
    r = share_range(exclusive_minimum=75)
    assert isinstance(r, ShareRange) and r.maximum == 1.0 and r.exclusive_minimum
    assert share_range(minimum=30, maximum=30) == pytest.approx(0.3)
    assert share_range(exact=40, minimum=30, maximum=50) == pytest.approx(0.4)
    for bad in (
        {"exact": 120},
        {"minimum": 60, "maximum": 40},
        {"exact": 20, "minimum": 30},
        {"exclusive_minimum": 50, "maximum": 50},
    ):
        with pytest.raises(ShareError):
            share_range(**bad)


def test_rejected_reads_as_one_line() -> None:
    r = Rejected("a.json", "statement 3", "st-1", "recordType 'x' is not one of …")
    assert r.line() == "a.json: statement 3 (id=st-1): recordType 'x' is not one of …"
    assert Rejected("a.json", "line 2", None, "unparsable JSON").line() == (
        "a.json: line 2: unparsable JSON"
    )


def test_entities_carry_identifiers_and_csv_entities_have_none(tmp_path: Path) -> None:
    e = Entity.model_validate(
        {
            "id": "gasgrid",
            "name": "Gasgrid Finland Oy",
            "kind": "company",
            "identifiers": [{"scheme": "FI-PRO", "id": "3007894-1"}],
        }
    )
    assert e.identifiers[0].scheme == "FI-PRO"
    (tmp_path / "sources.yaml").write_text(
        'sources:\n- {id: s1, title: T, url: "https://example.org"}\n'
    )
    (tmp_path / "x.entities.csv").write_text("id,name,kind,sources\nacme,Acme,company,s1\n")
    (tmp_path / "y.jsonl").write_text(
        '{"record": "entity", "id": "b", "name": "B", "kind": "company",'
        ' "identifiers": [{"scheme": "XI-LEI", "id": "5493001KJTIIGC8Y1R12"}]}\n'
    )
    ds = load_dataset(tmp_path)
    assert ds.entities["acme"].identifiers == []
    assert ds.entities["b"].identifiers[0].id == "5493001KJTIIGC8Y1R12"


# --------------------------------------------------------------------------- BODS → dataset


def _statements(name: str) -> list[dict[str, Any]]:
    doc: list[dict[str, Any]] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return doc


def test_official_examples_validate_against_the_vendored_schema() -> None:
    from georisk.interop.bods import statement_errors

    for f in sorted(DATA.glob("*.json")):
        for st in _statements(f.name):
            assert statement_errors(st) == [], (f.name, st["statementId"])


def test_state_owned_enterprise_imports_loads_and_has_the_expected_holders(
    tmp_path: Path,
) -> None:
    """bods-package-fi-soe.json: Gasgrid Finland Oy is 76.5 % held by Suomen Kaasuverkko Oy and
    23.5 % by the Ministry of Finance, which holds all of Kaasuverkko; the Republic of Finland
    holds Gasgrid indirectly (100 %) and influences the ministry otherwise."""
    from georisk.interop.bods import import_bods
    from georisk.interop.write import write_dataset
    from georisk.scoring.engine import Engine

    imported = import_bods([DATA / "bods-package-fi-soe.json"])
    assert imported.rejected == []
    out = tmp_path / "fi"
    write_dataset(imported, out)
    ds = load_dataset(out)
    gasgrid = ds.entities["bods:19f1c5afe9d7"]
    assert gasgrid.name == "Gasgrid Finland Oy" and gasgrid.country == "FI"
    assert ("FI-PRO", "3007894-1") in {(i.scheme, i.id) for i in gasgrid.identifiers}
    assert ("BODS-record", "19f1c5afe9d7") in {(i.scheme, i.id) for i in gasgrid.identifiers}
    assert ds.entities["bods:05ce06ec97b1"].kind == EntityKind.GOVERNMENT
    assert ds.entities["bods:7ff95ba3682c"].kind == EntityKind.STATE_BODY
    # the indirect 100 % of the state is a reported fact, not a fourth link into Gasgrid
    into = sorted(
        (link.source, link.share) for link in ds.links.values() if link.target == gasgrid.id
    )
    assert into == [("bods:0199c515a699", 0.765), ("bods:7ff95ba3682c", 0.235)]
    assert any("e8ddaee2a7a4" in n and "indirect" in n for n in imported.notes)
    # the state's other influence over the ministry is a control link: no share, never summed
    (ctl,) = [link for link in ds.links.values() if link.kind == "control"]
    assert (ctl.source, ctl.target, ctl.role, ctl.share) == (
        "bods:05ce06ec97b1",
        "bods:7ff95ba3682c",
        "influence",
        None,
    )
    assert "e8ddaee2a7a4" in (gasgrid.note or "") and "(indirect)" in (gasgrid.note or "")
    rep = Engine.from_dir(out).ownership(gasgrid.id, dt.date(2024, 1, 1))
    holders = {h.holder: h.share for h in rep.direct_holders}
    assert set(holders) == {"bods:0199c515a699", "bods:7ff95ba3682c"}
    # the ministry controls Gasgrid: directly 23.5 % and through its 100 % of Kaasuverkko
    assert "bods:7ff95ba3682c" in rep.control.controllers
    ministry = Engine.from_dir(out).ownership("bods:7ff95ba3682c", dt.date(2024, 1, 1))
    assert [(o.holder, o.role) for o in ministry.other_control] == [
        ("bods:05ce06ec97b1", "influence")
    ]
    assert ministry.direct_holders == []  # the influence is not a holding


def test_a_malformed_statement_is_rejected_with_its_id_and_the_rest_imports(
    tmp_path: Path,
) -> None:
    from georisk.interop.bods import import_bods
    from georisk.interop.write import errors_path, write_dataset

    sts = _statements("bods-package-fi-soe.json")
    bad_id = sts[0]["statementId"]  # Gasgrid's entity statement
    sts[0]["recordType"] = "company"  # not in the recordType codelist
    sts[4]["recordDetails"]["interests"][0]["share"] = {"exact": 130}  # the schema's maximum: 100
    src = tmp_path / "soe.jsonl"
    src.write_text("\n".join(json.dumps(s) for s in sts) + "\nnot json\n", encoding="utf-8")
    imported = import_bods([src])
    ids = {r.record_id: r for r in imported.rejected}
    assert bad_id in ids and "recordType" in ids[bad_id].reason
    assert any(r.where == f"line {len(sts) + 1}" and "JSON" in r.reason for r in imported.rejected)
    assert "maximum of 100" in ids[sts[4]["statementId"]].reason
    # the relationships into the rejected Gasgrid record are rejected, each with its reason
    assert all(r.line().startswith("soe.jsonl: ") for r in imported.rejected)
    assert "bods:0199c515a699" in imported.entities  # the rest imported
    assert "bods:e34164e75ac3" in imported.links
    res = write_dataset(imported, tmp_path / "out")
    lines = errors_path(tmp_path / "out").read_text(encoding="utf-8").splitlines()
    assert res.errors_file is not None and len(lines) == len(imported.rejected)
    assert {json.loads(x)["id"] for x in lines} >= {bad_id}
    load_dataset(tmp_path / "out")


def test_text_with_unicode_line_breaks_stays_on_its_line(tmp_path: Path) -> None:
    """A statement id or a name holding NEL, LINE SEPARATOR or PARAGRAPH SEPARATOR (which
    ``str.splitlines`` and some editors take for line breaks) is written escaped: the errors
    file and the dataset's JSON Lines read back one record per line however they are split,
    with the same text. (A fuzzed BODS file once gave an errors line that split in two.)"""
    from georisk.interop.bods import import_bods
    from georisk.interop.write import errors_path, write_dataset

    odd = "\x85\u2028\u2029"
    sts = _statements("bods-package-fi-soe.json")
    sts[0]["statementId"] = f"bad{odd}id"
    sts[0]["recordType"] = "company"  # not in the recordType codelist: rejected
    named = next(s for s in sts if s["recordType"] == "entity" and s is not sts[0])
    named["recordDetails"]["name"] = f"Line{odd}Break Oy"
    src = tmp_path / "soe.jsonl"
    src.write_text("\n".join(json.dumps(s) for s in sts) + "\n", encoding="utf-8")
    imported = import_bods([src])
    write_dataset(imported, tmp_path / "out")
    for path in [errors_path(tmp_path / "out"), *(tmp_path / "out").glob("*.jsonl")]:
        text = path.read_text(encoding="utf-8")
        assert text.splitlines() == text.split("\n")[:-1], path.name
        assert all(json.loads(line) for line in text.splitlines())
    ids = [json.loads(x)["id"] for x in errors_path(tmp_path / "out").read_text().splitlines()]
    assert f"bad{odd}id" in ids
    names = {e.name for e in load_dataset(tmp_path / "out").entities.values()}
    assert f"Line{odd}Break Oy" in names


def test_later_statements_replace_earlier_ones_and_closed_ends_validity(tmp_path: Path) -> None:
    from georisk.interop.bods import import_bods

    sts = _statements("bods-package-fi-soe.json")
    rel = next(s for s in sts if s["recordId"] == "87ed6d1daf8f")
    upd = json.loads(json.dumps(rel))
    upd["statementId"] = "xregi-es-updated-000000000000000000001"
    upd["recordStatus"] = "updated"
    upd["recordDetails"]["interests"][0]["share"] = {"minimum": 70, "maximum": 80}
    closed = json.loads(json.dumps(upd))
    closed["statementId"] = "xregi-es-closed-0000000000000000000001"
    closed["recordStatus"] = "closed"
    closed["statementDate"] = "2023-06-30"
    src = tmp_path / "s.json"
    src.write_text(json.dumps([*sts, upd, closed]), encoding="utf-8")
    link = import_bods([src]).links["bods:87ed6d1daf8f"]
    assert isinstance(link.share, ShareRange) and (link.share.minimum, link.share.maximum) == (
        0.7,
        0.8,
    )
    assert link.valid_to == dt.date(2023, 6, 30)
    assert link.note is not None and rel["statementId"] in link.note


def test_a_crash_while_writing_leaves_the_previous_dataset_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from georisk.interop import write
    from georisk.interop.bods import import_bods

    out = tmp_path / "ds"
    write.write_dataset(import_bods([DATA / "joint-ownership.json"]), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = 0
    real = write.record_line

    def boom(kind: str, rec: Any) -> str:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise OSError("disk full")
        return real(kind, rec)

    monkeypatch.setattr(write, "record_line", boom)
    with pytest.raises(OSError, match="disk full"):
        write.write_dataset(import_bods([DATA / "bods-package-fi-soe.json"]), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temporary left behind
    load_dataset(out)


def test_merging_matches_on_identifiers_and_keeps_conflicting_shares_as_a_range(
    tmp_path: Path,
) -> None:
    from georisk.interop.bods import import_bods
    from georisk.interop.write import write_dataset

    out = tmp_path / "ds"
    write_dataset(import_bods([DATA / "bods-package-fi-soe.json"]), out)
    # another file: new record ids for the companies, found by their register numbers (FI-PRO),
    # the same record ids for the ministry and the state (which have no register number), and
    # another share for Kaasuverkko's holding in Gasgrid
    sts = _statements("bods-package-fi-soe.json")
    shared = {"7ff95ba3682c", "05ce06ec97b1"}
    for s in sts:
        s["statementId"] = "other-" + s["statementId"]
        d = s["recordDetails"]
        if s["recordId"] not in shared:
            s["recordId"] = "o" + s["recordId"]
        for k in ("subject", "interestedParty"):
            if isinstance(d.get(k), str) and d[k] not in shared:
                d[k] = "o" + d[k]
        if "componentRecords" in d:
            d["componentRecords"] = [c if c in shared else "o" + c for c in d["componentRecords"]]
        if s["recordId"] == "o87ed6d1daf8f":
            d["interests"][0]["share"] = {"exact": 80}
    src = tmp_path / "other.json"
    src.write_text(json.dumps(sts), encoding="utf-8")
    res = write_dataset(import_bods([src]), out, merge_into=out)
    ds = load_dataset(out)
    gasgrid = ds.entities["bods:19f1c5afe9d7"]
    assert "bods:o19f1c5afe9d7" not in ds.entities  # one entity, not two
    assert ("BODS-record", "o19f1c5afe9d7") in {(i.scheme, i.id) for i in gasgrid.identifiers}
    assert len(gasgrid.sources) == 2
    link = ds.links["bods:87ed6d1daf8f"]
    assert isinstance(link.share, ShareRange)
    assert (link.share.minimum, link.share.maximum) == (0.765, 0.8)
    assert link.unconfirmed and link.unconfirmed_note and "disagree" in link.unconfirmed_note
    assert len([x for x in ds.links.values() if x.target == gasgrid.id]) == 2
    assert any("merged Gasgrid Finland Oy" in m for m in res.merged)
    assert any(m.startswith("conflict:") for m in res.merged)


# --------------------------------------------------------------------------- command line


def test_cli_import_exit_codes_and_errors_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from georisk.cli import main

    out = tmp_path / "ds"
    assert main(["import", "bods", str(DATA / "bods-package-fi-soe.json"), "-o", str(out)]) == 0
    assert not (tmp_path / "ds.errors.jsonl").exists()
    assert main(["validate", str(out)]) == 0
    # a malformed statement: exit 1, the rest imported, the reject in the errors file
    sts = _statements("joint-ownership.json")
    bad = sts[-1]["statementId"]
    sts[-1]["recordDetails"]["interests"][0]["share"] = {"exact": "half"}
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(sts), encoding="utf-8")
    capsys.readouterr()
    assert main(["import", "bods", str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"rejected: bad.json: statement {len(sts) - 1} (id={bad}):" in err
    rows = [json.loads(x) for x in (tmp_path / "ds.errors.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [bad]
    assert len(load_dataset(out).entities) == 4
    # usage: no such file; --merge into nothing
    assert main(["import", "bods", str(tmp_path / "nope.json"), "-o", str(out)]) == 2
    assert main(["import", "bods", str(src), "-o", str(tmp_path / "new"), "--merge"]) == 2
    # a result the loader refuses (equity of one holding over 100 %): exit 3, old dataset kept
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    sts = _statements("bods-package-fi-soe.json")
    for s in sts:
        if s["recordId"] == "87ed6d1daf8f":
            s["recordDetails"]["interests"][0]["share"] = {"exact": 90}
    over = tmp_path / "over.json"
    over.write_text(json.dumps(sts), encoding="utf-8")
    assert main(["import", "bods", str(over), "-o", str(out)]) == 3
    assert "adds up to 113.50%" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_export_validates_and_the_round_trip_keeps_ownership(tmp_path: Path) -> None:
    from georisk.cli import main
    from georisk.interop.bods import statement_errors
    from georisk.scoring.engine import Engine

    first = tmp_path / "first"
    srcs = [DATA / "bods-package-fi-soe.json", DATA / "joint-ownership.json"]
    assert main(["import", "bods", *map(str, srcs), "-o", str(first)]) == 0
    exported = tmp_path / "out.json"
    assert main(["export", "bods", str(first), "-o", str(exported), "--as-of", "2024-01-01"]) == 0
    sts = json.loads(exported.read_text(encoding="utf-8"))
    assert [e for s in sts for e in statement_errors(s)] == []
    second = tmp_path / "second"
    assert main(["import", "bods", str(exported), "-o", str(second)]) == 0
    a, b = Engine.from_dir(first), Engine.from_dir(second)
    assert set(a.dataset.entities) == set(b.dataset.entities)
    on = dt.date(2024, 1, 1)
    for eid in a.dataset.entities:
        ra, rb = a.ownership(eid, on), b.ownership(eid, on)
        assert [(h.holder, h.kind, h.share) for h in ra.direct_holders] == [
            (h.holder, h.kind, h.share) for h in rb.direct_holders
        ], eid
        assert ra.control.controllers == rb.control.controllers, eid
        assert ra.covered_nation_exposure.share == rb.covered_nation_exposure.share, eid


def test_hostile_files_give_clear_rejects_not_crashes(tmp_path: Path) -> None:
    from georisk.interop.bods import import_bods

    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe[\x00")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000, encoding="utf-8")
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps([5, None, "x", {"statementId": 7}]), encoding="utf-8")
    # two records whose ids differ only in case would share one georisk id: the second is refused
    sts = _statements("joint-ownership.json")
    twin = json.loads(json.dumps(sts[0]))
    twin["recordId"] = twin["recordId"].upper()
    twin["statementId"] = "twin-" + twin["statementId"]
    case = tmp_path / "case.json"
    case.write_text(json.dumps([*sts, twin]), encoding="utf-8")
    imported = import_bods([binary, deep, odd, case])
    by_file: dict[str, list[str]] = {}
    for r in imported.rejected:
        by_file.setdefault(r.file, []).append(r.reason)
    assert "UTF-8" in by_file["binary.json"][0]
    assert "JSON" in by_file["deep.json"][0]
    assert len(by_file["odd.json"]) == 4
    assert any("same georisk id" in x for x in by_file["case.json"])
    assert len(imported.entities) == 4


def test_merging_into_a_hand_written_dataset_keeps_its_files_and_policies(tmp_path: Path) -> None:
    """The embedded dataset (YAML, with its policies/ directory) merged with a BODS file: every
    file and directory is kept byte for byte, the import is added, re-merging changes nothing."""
    import shutil

    from georisk.cli import main
    from georisk.scoring.engine import DEFAULT_DATA

    out = tmp_path / "ds"
    shutil.copytree(DEFAULT_DATA, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    src = str(DATA / "bods-package-fi-soe.json")
    assert main(["import", "bods", src, "-o", str(out), "--merge"]) == 0
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {Path("import-merged.jsonl")}
    merged = load_dataset(out)
    assert len(merged.entities) == len(load_dataset(DEFAULT_DATA).entities) + 4
    assert main(["import", "bods", src, "-o", str(out), "--merge"]) == 0
    assert load_dataset(out).version == merged.version


def test_the_embedded_dataset_round_trips_through_bods(tmp_path: Path) -> None:
    """All 52 hand-written entities exported and imported back: every entity has the same
    direct holders, controllers and covered-nation exposure (ids gain the ``bods:`` prefix).
    List memberships have no BODS form, so SFE verdicts are not expected to survive."""
    from georisk.cli import main
    from georisk.scoring.engine import DEFAULT_DATA, Engine

    out = tmp_path / "emb.json"
    assert main(["export", "bods", str(DEFAULT_DATA), "-o", str(out), "--as-of", "2025-06-01"]) == 0
    assert main(["import", "bods", str(out), "-o", str(tmp_path / "emb")]) == 0
    a, b = Engine.from_dir(DEFAULT_DATA), Engine.from_dir(tmp_path / "emb")
    assert len(b.dataset.entities) == len(a.dataset.entities)
    on = dt.date(2025, 6, 1)
    for eid in a.dataset.entities:
        ra, rb = a.ownership(eid, on), b.ownership(slug("bods", eid), on)
        assert sorted((slug("bods", h.holder), h.kind, h.share) for h in ra.direct_holders) == (
            sorted((h.holder, h.kind, h.share) for h in rb.direct_holders)
        ), eid
        assert sorted(slug("bods", c) for c in ra.control.controllers) == sorted(
            rb.control.controllers
        ), eid
        assert ra.covered_nation_exposure.share == rb.covered_nation_exposure.share, eid


@pytest.mark.parametrize(
    ("fmt", "files"),
    [
        ("ftm", ["ftm/opensanctions-sample.ftm.jsonl"]),
        ("lists", ["lists/restricted-parties.csv"]),
        ("gleif", ["lists/gleif-rr-sample.csv", "lists/gleif-lei-sample.csv"]),
    ],
)
def test_cli_imports_every_registered_format(
    fmt: str, files: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``georisk import FORMAT``: the other formats' sample files (helper-written fixtures beside
    their own tests) import through the same atomic writer into a dataset that loads; exit 0, or
    1 when the sample holds deliberately bad rows (then the errors file lists them)."""
    from georisk.cli import main

    if fmt == "ftm":
        pytest.importorskip(
            "followthemoney", reason="FOLLOWTHEMONEY IS NOT INSTALLED (pip install -e '.[ftm]')"
        )
    out = tmp_path / fmt
    code = main(["import", fmt, *(str(DATA.parent / f) for f in files), "-o", str(out)])
    assert code in (0, 1), capsys.readouterr().err
    assert (code == 1) == (tmp_path / f"{fmt}.errors.jsonl").exists()
    assert load_dataset(out).entities
