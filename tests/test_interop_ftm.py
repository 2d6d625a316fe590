"""FollowTheMoney import (georisk.interop.ftm), read with the followthemoney library.

The fixture tests/data/ftm/opensanctions-sample.ftm.jsonl is hand-written in the shape
OpenSanctions publishes (https://www.opensanctions.org/docs/bulk/json/: one FtM entity a line,
``id``, ``schema``, ``properties``, ``datasets``) with schemata and properties of the FtM model
(https://followthemoney.tech/explorer/: Company, PublicBody, Person, Ownership, Directorship,
Sanction): a sanctioned company with a 60% owner, a ranged state holding, a director, a
percentage nobody can read, a link to an entity not in the file, and a broken line.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

pytest.importorskip(
    "followthemoney",
    reason="FOLLOWTHEMONEY IS NOT INSTALLED: the FtM import tests are skipped (pip install -e "
    "'.[ftm]' needs g++ and libicu-dev to build PyICU; .ci/run installs them and requires it)",
)

from georisk.interop.core import ShareError
from georisk.interop.ftm import list_id_for, parse_percentage, read_ftm
from georisk.scoring.model import EntityKind, LinkKind, ShareRange

DATA = Path(__file__).parent / "data" / "ftm"
SAMPLE = DATA / "opensanctions-sample.ftm.jsonl"


def test_sanctioned_company_with_its_60_percent_owner() -> None:
    out = read_ftm([SAMPLE])
    acme = out.entities["ftm:nk-acme-battery"]
    assert acme.name == "Acme Battery Co., Ltd."
    assert acme.kind is EntityKind.COMPANY and acme.country == "CN"
    # the OFAC Sanction record puts it on the pack's ofac-sdn list from its start date
    sdn = acme.listed_on("ofac-sdn", dt.date(2025, 1, 1))
    assert sdn is not None and sdn.since == dt.date(2024, 1, 7)
    assert acme.listed_on("ofac-sdn", dt.date(2023, 12, 31)) is None
    own = out.links["ftm:ofac-own-1"]
    assert own.kind is LinkKind.EQUITY
    assert (own.source, own.target) == ("ftm:nk-holding-group", "ftm:nk-acme-battery")
    assert own.share == pytest.approx(0.6)
    # "2019" is a year: read as its first day, and the note says so
    assert own.valid_from == dt.date(2019, 1, 1)
    assert own.note is not None and "given to the year" in own.note


def test_every_fact_has_the_file_source_naming_the_datasets() -> None:
    out = read_ftm([SAMPLE])
    assert list(out.sources) == ["ftm-file:opensanctions-sample.ftm.jsonl"]
    src = out.sources["ftm-file:opensanctions-sample.ftm.jsonl"]
    assert src.note is not None and "opensanctions-sample.ftm.jsonl" in src.note
    assert "us_ofac_sdn" in src.note and "wd_peps" in src.note
    for e in out.entities.values():
        assert e.sources == [src.id]
        assert all(m.sources == [src.id] for m in e.lists)
    assert all(l.sources == [src.id] for l in out.links.values())


def test_ranged_percentage_and_end_date_given_to_the_month() -> None:
    out = read_ftm([SAMPLE])
    state = out.links["ftm:own-state-range"]
    assert state.share == ShareRange(minimum=0.25, maximum=0.5)
    assert state.valid_to == dt.date(2025, 6, 30)
    body = out.entities["ftm:q1234-state-assets"]
    assert body.kind is EntityKind.STATE_BODY


def test_identifiers_kinds_countries_and_topics() -> None:
    out = read_ftm([SAMPLE])
    acme = out.entities["ftm:nk-acme-battery"]
    ids = {(i.scheme, i.id) for i in acme.identifiers}
    assert ("OpenSanctions", "NK-acme-battery") in ids
    assert ("XI-LEI", "5493001KJTIIGC8Y1R12") in ids
    assert ("FtM:registrationNumber", "91320000MA1MXXXX1X") in ids
    holding = out.entities["ftm:nk-holding-group"]
    assert ("FtM:ogrnCode", "1027700132195") in {(i.scheme, i.id) for i in holding.identifiers}
    # a second sanction, by another authority, with both dates
    hmt = holding.listed_on("ftm-sanction-hm-treasury", dt.date(2023, 1, 1))
    assert hmt is not None and (hmt.since, hmt.until) == (
        dt.date(2022, 3, 15),
        dt.date(2025, 12, 31),
    )
    # 'suhh' (the Soviet Union) is an FtM territory, not ISO: skipped with a note
    assert holding.country == "CN"
    assert any("suhh" in n for n in out.notes)
    jane = out.entities["ftm:nk-jane-doe"]
    assert jane.kind is EntityKind.PERSON and jane.country == "DE"
    assert jane.listed_on("ftm-topic-role-pep", dt.date(2026, 1, 1)) is not None
    assert acme.listed_on("ftm-topic-export-control", dt.date(2026, 1, 1)) is not None
    d = out.links["ftm:dir-jane"]
    assert d.kind is LinkKind.APPOINTMENT and d.role == "board"
    assert any("Address (1)" in n for n in out.notes)


def test_bad_lines_are_rejected_with_line_and_reason_and_the_rest_imports() -> None:
    out = read_ftm([SAMPLE])
    got = [(r.where, r.record_id) for r in out.rejected]
    assert got == [("line 10", "own-bad-pct"), ("line 11", "own-dangling"), ("line 12", None)]
    reasons = [r.reason for r in out.rejected]
    assert "about half" in reasons[0]
    assert "NK-not-in-input" in reasons[1]
    assert reasons[2].startswith("not JSON")
    assert all(r.file == "opensanctions-sample.ftm.jsonl" for r in out.rejected)
    assert len(out.entities) == 4 and len(out.links) == 3


def test_same_entity_in_two_files_is_one_entity_with_both_sources(tmp_path: Path) -> None:
    extra = tmp_path / "more.jsonl"
    rows = [
        {
            "id": "NK-acme-battery",
            "schema": "Company",
            "properties": {"name": ["Acme Battery"], "leiCode": ["5493001KJTIIGC8Y1R12"]},
            "datasets": ["us_trade_csl"],
        },
        {
            "id": "csl-1",
            "schema": "Sanction",
            "properties": {
                "entity": ["NK-acme-battery"],
                "authority": ["Bureau of Industry and Security"],
                "program": ["Entity List"],
                "startDate": ["2025-09"],
            },
            "datasets": ["us_trade_csl"],
        },
    ]
    extra.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = read_ftm([SAMPLE, extra])
    acme = out.entities["ftm:nk-acme-battery"]
    assert acme.sources == ["ftm-file:more.jsonl", "ftm-file:opensanctions-sample.ftm.jsonl"]
    bis = acme.listed_on("bis-entity-list", dt.date(2025, 9, 1))
    assert bis is not None and bis.sources == ["ftm-file:more.jsonl"]
    assert [i.scheme for i in acme.identifiers].count("XI-LEI") == 1


@pytest.mark.parametrize(
    ("raw", "share"),
    [
        ("51", 0.51),
        ("51%", 0.51),
        ("51,5 %", 0.515),
        ("100", 1.0),
        ("25-50%", ShareRange(minimum=0.25, maximum=0.5)),
        ("50 to 75", ShareRange(minimum=0.5, maximum=0.75)),
        ("more than 75%", ShareRange(minimum=0.75, maximum=1.0, exclusive_minimum=True)),
        ("<= 10", ShareRange(minimum=0.0, maximum=0.1)),
    ],
)
def test_parse_percentage(raw: str, share: float | ShareRange) -> None:
    got = parse_percentage(raw)
    if isinstance(share, float):
        assert got == pytest.approx(share)
    else:
        assert got == share


@pytest.mark.parametrize("raw", ["about half", "", "120%", "60-40", "-5"])
def test_parse_percentage_rejects(raw: str) -> None:
    with pytest.raises(ShareError):
        parse_percentage(raw)


def test_list_ids_map_only_unambiguous_authorities_to_the_pack() -> None:
    assert list_id_for("Department of Defense", "Section 1260H") == "dod-1260h"
    assert list_id_for(None, "UFLPA Entity List") == "uflpa-entity-list"
    assert list_id_for("Office of Foreign Assets Control", "SDN List") == "ofac-sdn"
    # an OFAC program alone does not say which OFAC list
    assert list_id_for("Office of Foreign Assets Control", "SDGT") == (
        "ftm-sanction-office-of-foreign-assets-control"
    )
    # 'Entity List' from another authority is not the BIS list
    assert list_id_for("Some Ministry", "Entity List") == "ftm-sanction-some-ministry"
    assert list_id_for(None, None) == "ftm-sanction-unknown"


def test_imported_dataset_loads_and_the_engine_reads_the_owner(tmp_path: Path) -> None:
    from georisk.interop.write import write_dataset
    from georisk.scoring.dataset import load_dataset
    from georisk.scoring.engine import Engine

    out = tmp_path / "ftm"
    write_dataset(read_ftm([SAMPLE]), out)
    ds = load_dataset(out)
    assert set(ds.entities) == {
        "ftm:nk-acme-battery",
        "ftm:nk-holding-group",
        "ftm:q1234-state-assets",
        "ftm:nk-jane-doe",
    }
    # identifiers survive the write (they are excluded from ordinary dumps)
    acme = ds.entities["ftm:nk-acme-battery"]
    assert ("XI-LEI", "5493001KJTIIGC8Y1R12") in {(i.scheme, i.id) for i in acme.identifiers}
    rep = Engine.from_dir(out).ownership("ftm:nk-acme-battery", dt.date(2024, 6, 1))
    holders = {h.holder: (round(h.share.min, 9), round(h.share.max, 9)) for h in rep.direct_holders}
    assert holders == {"ftm:nk-holding-group": (0.6, 0.6)}


def test_links_to_a_rejected_entity_are_rejected_and_the_rest_writes(tmp_path: Path) -> None:
    from georisk.interop.write import write_dataset

    f = tmp_path / "noname.jsonl"
    rows = [
        {"id": "a", "schema": "Company", "properties": {"name": ["A Co"]}},
        {"id": "b", "schema": "Company", "properties": {"country": ["cn"]}},
        {
            "id": "o1",
            "schema": "Ownership",
            "properties": {"owner": ["b"], "asset": ["a"], "percentage": ["30"]},
        },
        {"id": "s1", "schema": "Sanction", "properties": {"entity": ["b"], "authority": ["X"]}},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = read_ftm([f])
    got = [(r.where, r.record_id) for r in out.rejected]
    assert got == [("line 2", "b"), ("line 3", "o1"), ("line 4", "s1")]
    assert "no name" in out.rejected[0].reason
    assert "line 2" in out.rejected[1].reason and "line 2" in out.rejected[2].reason
    write_dataset(out, tmp_path / "ds")  # loads: no link to a missing entity


def test_values_the_library_cannot_read_are_named_not_dropped_silently(tmp_path: Path) -> None:
    f = tmp_path / "unreadable.jsonl"
    rows = [
        {
            "id": "a",
            "schema": "Company",
            "properties": {"name": ["A Co"], "leiCode": ["not an lei"], "colour": ["red"]},
        },
        {"id": "b", "schema": "Company", "properties": {"name": ["B Co"]}},
        {
            "id": "o1",
            "schema": "Ownership",
            "properties": {
                "owner": ["b"],
                "asset": ["a"],
                "percentage": ["30"],
                "startDate": ["sometime in 2020"],
            },
        },
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = read_ftm([f])
    assert out.rejected == []
    a = out.entities["ftm:a"]
    assert [i.scheme for i in a.identifiers] == ["OpenSanctions"]
    text = "\n".join(out.notes)
    assert "unreadable.jsonl line 1 (id=a): Company.leiCode 'not an lei'" in text
    assert "unreadable.jsonl line 1 (id=a): Company.colour 'red' (no such property)" in text
    assert "unreadable.jsonl line 3 (id=o1): Ownership.startDate 'sometime in 2020'" in text
    link = out.links["ftm:o1"]
    assert link.valid_from is None
    assert link.note is not None and "startDate 'sometime in 2020' unreadable" in link.note


def test_hostile_lines_are_rejected_with_reasons_not_crashes(tmp_path: Path) -> None:
    f = tmp_path / "hostile.jsonl"
    f.write_text(
        "\n".join(
            [
                '{"id": "a", "schema": "Company", "properties": {"name": ["A"]}, '
                '"datasets": "us_ofac_sdn"}',
                '{"id": "b", "schema": "Company", "properties": "nope"}',
                '{"id": "c", "schema": "Company", "properties": {"name": [1, null, {"x": 1}]}}',
                '{"id": 5, "schema": "Company"}',
                '{"id": "d", "schema": ["Company"]}',
                "[1, 2]",
                '{"id": "e", "schema": "Ownership", "properties": {"owner": ["a"], '
                '"asset": ["a"], "percentage": ["50"]}}',
                '{"id": "f", "schema": "Ownership", "properties": {"owner": ["a"], '
                '"asset": ["a"], "percentage": ["1e309"]}}',
                '{"id": "g", "schema": "Sanction", "properties": {"entity": ["a"], '
                '"startDate": ["2025-01-01"], "endDate": ["2024-01-01"]}}',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes(
        '{"id": "x", "schema": "Company", "properties": {"name": ["Soci\xe9t\xe9"]}}\n'.encode(
            "latin-1"
        )
    )
    out = read_ftm([f, latin])
    assert list(out.entities) == ["ftm:a"]
    where = [(r.file, r.where, r.record_id) for r in out.rejected]
    assert where == [
        ("hostile.jsonl", "line 2", "b"),
        ("hostile.jsonl", "line 3", "c"),
        ("hostile.jsonl", "line 4", None),
        ("hostile.jsonl", "line 5", "d"),
        ("hostile.jsonl", "line 6", None),
        ("hostile.jsonl", "line 7", "e"),
        ("hostile.jsonl", "line 8", "f"),
        ("hostile.jsonl", "line 9", "g"),
        ("latin1.jsonl", "line 1", None),
    ]
    assert all(r.reason for r in out.rejected)
    # a datasets value that is not a list is not read letter by letter
    assert out.entities["ftm:a"].note == "FtM Company a"
