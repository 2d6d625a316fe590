"""Import at scale (docs/import.md "At scale"): ``georisk synth --bods/--ftm`` writes the
synthetic world as BODS 0.4 and FollowTheMoney; ``georisk import`` reads it back streaming into
bulk CSV, and gives the same direct holders as the synthetic dataset. BODS statements of one
record are ordered by statementDate, then input order.

Memory and time at a million records are measured in ``bench/import_bench.py``, not here.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from georisk.cli import main
from georisk.scoring.dataset import Dataset, load_dataset
from georisk.scoring.model import ShareRange

DATA = Path(__file__).parent / "data" / "bods"

Holding = tuple[str, str, Any, dt.date | None, dt.date | None]


def _share(s: float | ShareRange | None) -> Any:
    if isinstance(s, ShareRange):
        return (s.minimum, s.maximum)
    return s


def _holders(ds: Dataset, prefix: str) -> dict[str, set[Holding]]:
    """Held entity → its direct holders (holder, kind, share, from, to) by equity and votes,
    with the ids of the synthetic dataset (``prefix`` taken off)."""
    out: dict[str, set[Holding]] = {}
    for link in ds.links.values():
        if link.kind.value not in ("equity", "voting"):
            continue
        held = link.target.removeprefix(prefix)
        holding = (
            link.source.removeprefix(prefix),
            link.kind.value,
            _share(link.share),
            link.valid_from,
            link.valid_to,
        )
        out.setdefault(held, set()).add(holding)
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("followthemoney")
    d = tmp_path_factory.mktemp("synth")
    args = ["synth", str(d / "ds"), "--entities", "400", "--arrangements", "10", "--seed", "3"]
    code = main([*args, "--bods", str(d / "w.bods.jsonl"), "--ftm", str(d / "w.ftm.jsonl")])
    assert code == 0
    return d


@pytest.mark.parametrize(("fmt", "prefix"), [("bods", "bods:"), ("ftm", "ftm:synth-")])
def test_synth_to_format_and_back_gives_the_same_holders(
    world: Path, tmp_path: Path, fmt: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = world / f"w.{fmt}.jsonl"
    out = tmp_path / "imported"
    assert main(["import", fmt, str(src), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "0 rejected" in err
    # streamed into bulk CSV (the loader's column-wise path), not one JSONL file of records
    assert (out / f"import-{fmt}.entities.csv").is_file()
    assert (out / f"import-{fmt}.links.csv").is_file()
    synth, back = load_dataset(world / "ds"), load_dataset(out)
    assert {e.removeprefix(prefix) for e in back.entities} == set(synth.entities)
    assert _holders(back, prefix) == _holders(synth, "")
    for eid, e in synth.entities.items():  # names and countries come back too
        got = back.entities[prefix + eid]
        assert (got.name, got.country) == (e.name, e.country)
    if fmt == "ftm":  # list memberships as FtM Sanctions: the pack's lists come back
        listed = {
            (eid, m.list_id) for eid, e in synth.entities.items() for m in e.lists if m.list_id
        }
        back_listed = {
            (eid.removeprefix(prefix), m.list_id)
            for eid, e in back.entities.items()
            for m in e.lists
        }
        pack = {x for x in listed if x[1] in ("dod-1260h", "uflpa-entity-list")}
        assert pack and pack <= back_listed


def test_the_synthetic_bods_validates(world: Path) -> None:
    from georisk.interop.bods import statement_errors

    lines = (world / "w.bods.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) > 400
    assert [statement_errors(json.loads(x)) for x in lines[:: max(1, len(lines) // 200)]] == [
        [] for _ in lines[:: max(1, len(lines) // 200)]
    ]


def test_streamed_csv_and_in_memory_jsonl_give_the_same_dataset(
    world: Path, tmp_path: Path
) -> None:
    from georisk.interop.bods import import_bods
    from georisk.interop.write import stream_dataset, write_dataset

    src = world / "w.bods.jsonl"
    stream_dataset("bods", [src], tmp_path / "csv")
    write_dataset(import_bods([src]), tmp_path / "jsonl")
    a, b = load_dataset(tmp_path / "csv"), load_dataset(tmp_path / "jsonl")
    assert a.entities == b.entities and a.sources == b.sources
    assert dict(a.links) == dict(b.links)


def test_a_json_array_streams_like_json_lines(world: Path, tmp_path: Path) -> None:
    from georisk.interop.bods import import_bods

    lines = (world / "w.bods.jsonl").read_text(encoding="utf-8").splitlines()
    arr = tmp_path / "w.bods.json"
    arr.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    a = import_bods([arr])
    b = import_bods([world / "w.bods.jsonl"])
    assert a.rejected == b.rejected == []
    assert dict(a.links) == {k: v for k, v in b.links.items()}
    assert [e.model_copy(update={"sources": []}) for e in a.entities.values()] == [
        e.model_copy(update={"sources": []}) for e in b.entities.values()
    ]


def _relationship_versions(tmp_path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    sts = json.loads((DATA / "bods-package-fi-soe.json").read_text(encoding="utf-8"))
    rel = next(s for s in sts if s["recordId"] == "87ed6d1daf8f")
    return sts, rel


def _version(rel: dict[str, Any], sid: str, date: str, share: float) -> dict[str, Any]:
    v: dict[str, Any] = json.loads(json.dumps(rel))
    v["statementId"] = sid.ljust(32, "0")
    v["statementDate"] = date
    v["recordStatus"] = "updated"
    v["recordDetails"]["interests"][0]["share"] = {"exact": share}
    return v


def test_statements_of_a_record_are_ordered_by_statement_date_then_input_order(
    tmp_path: Path,
) -> None:
    from georisk.interop.bods import import_bods

    sts, rel = _relationship_versions(tmp_path)
    later = _version(rel, "later-2024", "2024-03-01", 60)
    earlier = _version(rel, "earlier-2023", "2023-03-01", 70)
    # the statement dated 2024 stands although the 2023 one comes after it in the file
    src = tmp_path / "s.jsonl"
    src.write_text("\n".join(json.dumps(s) for s in [*sts, later, earlier]), encoding="utf-8")
    link = import_bods([src]).links["bods:87ed6d1daf8f"]
    assert link.share == 0.6
    assert link.note is not None
    # it replaces the original (2022) and the 2023 statement, named in date order
    assert link.note.index(rel["statementId"]) < link.note.index(earlier["statementId"])
    # the same date: input order decides, across files too
    tie_a = _version(rel, "tie-a", "2024-03-01", 55)
    tie_b = _version(rel, "tie-b", "2024-03-01", 45)
    f1, f2 = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    f1.write_text("\n".join(json.dumps(s) for s in [*sts, tie_b]), encoding="utf-8")
    f2.write_text(json.dumps(tie_a), encoding="utf-8")
    assert import_bods([f1, f2]).links["bods:87ed6d1daf8f"].share == 0.55
    assert import_bods([f2, f1]).links["bods:87ed6d1daf8f"].share == 0.45


def test_a_type_change_is_rejected_in_statement_date_order(tmp_path: Path) -> None:
    from georisk.interop.bods import import_bods

    sts, rel = _relationship_versions(tmp_path)
    ent = next(s for s in sts if s["recordType"] == "entity")
    # an older statement, later in the file, that would make the relationship record an entity
    odd = json.loads(json.dumps(ent))
    odd["recordId"] = rel["recordId"]
    odd["statementId"] = "odd-entity-2020".ljust(32, "0")
    odd["statementDate"] = "2020-01-01"
    src = tmp_path / "s.jsonl"
    src.write_text("\n".join(json.dumps(s) for s in [*sts, odd]), encoding="utf-8")
    imported = import_bods([src])
    # dated first, the entity statement makes the record an entity: the relationship is refused
    assert [r.record_id for r in imported.rejected] == [rel["statementId"]]
    assert "was a entity" in imported.rejected[0].reason
    assert "bods:87ed6d1daf8f" not in imported.links


def test_merging_into_a_streamed_import_keeps_its_records(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert main(["import", "bods", str(DATA / "bods-package-fi-soe.json"), "-o", str(out)]) == 0
    assert (out / "import-bods.entities.csv").is_file()
    before = load_dataset(out)
    assert (
        main(["import", "bods", str(DATA / "joint-ownership.json"), "-o", str(out), "--merge"]) == 0
    )
    after = load_dataset(out)
    assert set(before.entities) <= set(after.entities)
    assert set(before.links) <= set(after.links)
    assert sorted(p.name for p in out.iterdir()) == ["import-merged.jsonl"]


def test_merging_onto_an_earlier_import_keeps_its_lists_and_fills_its_country(
    tmp_path: Path,
) -> None:
    from georisk.interop.core import Imported
    from georisk.interop.write import write_dataset
    from georisk.scoring.model import Entity, EntityKind, Identifier, ListMembership, Source

    lei = Identifier(scheme="XI-LEI", id="5493001KJTIIGC8Y1R12")

    def imported(src: str, e: Entity) -> Imported:
        out = Imported(format="test")
        out.sources[src] = Source(id=src, title=src, url=f"https://example.org/{src}")
        out.entities[e.id] = e
        return out

    gleif = Entity(id="lei:x", name="X Ltd", kind="company", sources=["gleif"], identifiers=[lei])
    sdn = ListMembership(list_id="ofac-sdn", since=dt.date(2024, 5, 1), sources=["os"])
    ftm = Entity(
        id="ftm:x",
        name="X Limited",
        kind=EntityKind.COMPANY,
        country="CN",
        lists=[sdn],
        sources=["os"],
        identifiers=[lei],
    )
    out = tmp_path / "ds"
    write_dataset(imported("gleif", gleif), out)
    write_dataset(imported("os", ftm), out, merge_into=out)
    x = load_dataset(out).entities["lei:x"]
    assert x.country == "CN"  # filled: the dataset had none
    assert [(m.list_id, m.since) for m in x.lists] == [("ofac-sdn", dt.date(2024, 5, 1))]
    # another country is a conflict, said, and the dataset's stands
    ru = ftm.model_copy(update={"id": "ftm:x2", "country": "RU", "lists": []})
    res = write_dataset(imported("os2", ru), out, merge_into=out)
    assert load_dataset(out).entities["lei:x"].country == "CN"
    assert any(m.startswith("conflict: country of X Ltd [lei:x]") for m in res.merged)


def test_an_array_broken_in_the_middle_keeps_the_statements_before_the_break(
    tmp_path: Path,
) -> None:
    from georisk.interop.bods import import_bods

    sts = json.loads((DATA / "joint-ownership.json").read_text(encoding="utf-8"))
    text = json.dumps(sts)
    broken = tmp_path / "broken.json"
    cut = text.index('{"statementId"', len(text) // 2)  # a statement in the second half
    broken.write_text(text[:cut] + '{"statementId": "trunc', encoding="utf-8")
    imported = import_bods([broken])
    (reject,) = imported.rejected
    n = text[:cut].count('{"statementId"')
    assert (reject.where, reject.record_id) == (f"statement {n}", None)
    assert reject.reason.startswith("unparsable JSON")
    entities = [s for s in sts[:n] if s["recordType"] != "relationship"]
    assert len(imported.entities) == len(entities)  # the statements before the break are read
