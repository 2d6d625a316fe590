"""Official lists typed up as CSV (georisk.interop.lists).

tests/data/lists/restricted-parties.csv is hand-written: listing dates as recorded in the
scoring pack's list notes (data/policies/us.yaml: CATL on the §1260H list from 2025-01-07; Camel
Group on the UFLPA Entity List from 2023-08-02, Xinjiang Nonferrous Metals from 2024-11-25) and
CATL among the FY2024 NDAA §154 battery makers. ``TEST-ID:catl`` is a placeholder identifier, not
a real register number. Rows 6-10 are broken on purpose.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from georisk.interop.lists import read_lists_csv
from georisk.scoring.model import EntityKind

DATA = Path(__file__).parent / "data" / "lists"
SAMPLE = DATA / "restricted-parties.csv"


def _by_name(name: str) -> str:
    out = read_lists_csv([SAMPLE])
    return next(eid for eid, e in out.entities.items() if e.name == name)


def test_rows_become_listed_entities_with_dates_and_sources() -> None:
    out = read_lists_csv([SAMPLE])
    names = sorted(e.name for e in out.entities.values())
    assert names == [
        "Camel Group Co., Ltd.",
        "Contemporary Amperex Technology Co., Limited",
        "Xinjiang Nonferrous Metals Industry (Group) Co., Ltd.",
    ]
    camel = out.entities[_by_name("Camel Group Co., Ltd.")]
    assert camel.kind is EntityKind.COMPANY and camel.country == "CN"
    m = camel.listed_on("uflpa-entity-list", dt.date(2024, 1, 1))
    assert m is not None and m.since == dt.date(2023, 8, 2)
    assert camel.listed_on("uflpa-entity-list", dt.date(2023, 8, 1)) is None
    # a URL source is a Source with that url; both UFLPA rows share it
    (sid,) = m.sources
    assert out.sources[sid].url == "https://www.dhs.gov/uflpa-entity-list"
    xj = out.entities[_by_name("Xinjiang Nonferrous Metals Industry (Group) Co., Ltd.")]
    assert xj.lists[0].sources == [sid]
    # a title source is kept as the title, with a note naming the file
    catl = out.entities[_by_name("Contemporary Amperex Technology Co., Limited")]
    src = out.sources[catl.lists[0].sources[0]]
    assert src.title.startswith("DoD Section 1260H list") and src.url is None
    assert src.note is not None and "restricted-parties.csv" in src.note


def test_the_same_party_on_two_lists_is_one_entity() -> None:
    out = read_lists_csv([SAMPLE])
    catl = out.entities[_by_name("Contemporary Amperex Technology Co., Limited")]
    # row 5 names it by its alias CATL: the same entity, a second membership, undated
    assert {m.list_id: m.since for m in catl.lists} == {
        "dod-1260h": dt.date(2025, 1, 7),
        "ndaa-fy2024-154": None,
    }
    assert catl.aliases == ["CATL", "宁德时代"]
    assert [(i.scheme, i.id) for i in catl.identifiers] == [("TEST-ID", "catl")]
    assert len(catl.sources) == 2


def test_every_bad_row_is_rejected_naming_file_row_and_reason() -> None:
    out = read_lists_csv([SAMPLE])
    got = [(r.file, r.where, r.record_id) for r in out.rejected]
    assert got == [
        ("restricted-parties.csv", "row 6", "Bad Date Co"),
        ("restricted-parties.csv", "row 7", "No List Co"),
        ("restricted-parties.csv", "row 8", "Wrong Country Co"),
        ("restricted-parties.csv", "row 9", "Bad Identifier Co"),
        ("restricted-parties.csv", "row 10", "Too Many Cells Co"),
    ]
    reasons = [r.reason for r in out.rejected]
    assert "2025-13-01" in reasons[0]
    assert reasons[1] == "no list"
    assert "'China'" in reasons[2]
    assert "nocolon" in reasons[3]
    assert "more cells" in reasons[4]


def test_a_file_without_the_required_columns_is_rejected_whole(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("name,listed_since\nAcme,2025-01-01\n", encoding="utf-8")
    out = read_lists_csv([f, SAMPLE])
    assert out.rejected[0].file == "bad.csv"
    assert out.rejected[0].where == "row 1 (header)"
    assert "list, source" in out.rejected[0].reason
    assert len(out.entities) == 3  # the other file still imports


def test_a_file_that_is_not_utf8_is_rejected_not_a_crash(tmp_path: Path) -> None:
    f = tmp_path / "latin1.csv"
    f.write_bytes("name,list,source\nSoci\xe9t\xe9,bis-entity-list,BIS\n".encode("latin-1"))
    out = read_lists_csv([f])
    assert [(r.file, r.where) for r in out.rejected] == [("latin1.csv", "file")]
    assert "UTF-8" in out.rejected[0].reason


def test_conflicting_country_for_the_same_party_is_rejected(tmp_path: Path) -> None:
    f = tmp_path / "conflict.csv"
    f.write_text(
        "name,list,source,country,identifiers\n"
        "Acme,bis-entity-list,BIS,CN,XI-LEI:123\n"
        "ACME Corp,ofac-sdn,OFAC,HK,XI-LEI:123\n",
        encoding="utf-8",
    )
    out = read_lists_csv([f])
    assert len(out.entities) == 1
    (r,) = out.rejected
    assert r.where == "row 3" and "HK conflicts with CN" in r.reason


def test_imported_lists_write_as_a_dataset_that_loads(tmp_path: Path) -> None:
    from georisk.interop.write import write_dataset
    from georisk.scoring.dataset import load_dataset

    write_dataset(read_lists_csv([SAMPLE]), tmp_path / "lists")
    ds = load_dataset(tmp_path / "lists")
    catl = next(e for e in ds.entities.values() if e.name.startswith("Contemporary"))
    assert catl.listed_on("dod-1260h", dt.date(2025, 6, 1)) is not None


# ---- GLEIF golden-copy CSV (georisk.interop.gleif) ---------------------------------------------
# tests/data/lists/gleif-lei-sample.csv and gleif-rr-sample.csv are hand-written with the column
# names of GLEIF's LEI-CDF and RR-CDF golden-copy CSV files (LEI, Entity.LegalName,
# Entity.LegalJurisdiction, Entity.HeadquartersAddress.Country, Relationship.StartNode.NodeID,
# Relationship.Period.N.startDate/endDate/periodType, …); the LEIs are placeholders (TEST…), not
# real LEIs. Child Cells Inc. is directly consolidated by Parent Battery and ultimately by
# Ultimate Holdings from 2021-06-15; rows 5 (LEI) and 5-6 (RR) are broken on purpose.
GLEIF_LEI = DATA / "gleif-lei-sample.csv"
GLEIF_RR = DATA / "gleif-rr-sample.csv"


def test_gleif_lei_records_become_companies_with_lei_and_countries() -> None:
    from georisk.interop.gleif import read_gleif

    out = read_gleif([GLEIF_LEI])
    child = out.entities["lei:test000000000child02"]
    assert child.name == "Child Cells Inc." and child.kind is EntityKind.COMPANY
    # US-DE (Delaware) is organized in the US
    assert (child.country, child.principal_place) == ("US", "US")
    ult = out.entities["lei:test000000000ultim03"]
    # legal jurisdiction Hong Kong, headquarters in mainland China
    assert (ult.country, ult.principal_place) == ("HK", "CN")
    assert [(i.scheme, i.id) for i in ult.identifiers] == [("XI-LEI", "TEST000000000ULTIM03")]
    assert out.entities["lei:test00000000parent01"].aliases == ["Parent Battery"]
    assert [(r.file, r.where, r.record_id) for r in out.rejected] == [
        ("gleif-lei-sample.csv", "row 5", "SHORT")
    ]


def test_gleif_consolidation_is_a_control_link_never_a_share() -> None:
    from georisk.interop.gleif import read_gleif

    out = read_gleif([GLEIF_LEI], [GLEIF_RR])
    # accounting consolidation is control without a share: control links, no invented share
    got = sorted(
        (l.source, l.target, l.kind.value, l.role, l.share, l.valid_from)
        for l in out.links.values()
    )
    assert got == [
        (
            "lei:test000000000ultim03",
            "lei:test000000000child02",
            "control",
            "ultimate_consolidation",
            None,
            dt.date(2021, 6, 15),
        ),
        (
            "lei:test00000000parent01",
            "lei:test000000000child02",
            "control",
            "direct_consolidation",
            None,
            dt.date(2021, 6, 15),
        ),
    ]
    child = out.entities["lei:test000000000child02"]
    assert child.note is not None
    assert (
        "Child Cells Inc. [lei:test000000000child02] is directly consolidated by "
        "Parent Battery Co. Ltd. [lei:test00000000parent01] from 2021-06-15"
    ) in child.note
    assert "ultimately consolidated by Ultimate Holdings Ltd." in child.note
    # the relationship period is the validity, not the accounting period (2023)
    assert "2023" not in child.note
    assert "gleif-file:gleif-rr-sample.csv" in child.sources
    assert sum("consolidated by" in n for n in out.notes) == 2
    assert any("IS_INTERNATIONAL_BRANCH_OF (1)" in n for n in out.notes)
    rr = [(r.where, r.reason) for r in out.rejected if r.file == "gleif-rr-sample.csv"]
    assert [w for w, _ in rr] == ["row 5", "row 6"]
    assert "NOTREAD0000000000099 is not in the LEI records read" in rr[0][1]
    assert "'not-a-date' is not a date" in rr[1][1]


def test_gleif_import_writes_a_dataset_that_loads(tmp_path: Path) -> None:
    from georisk.interop.gleif import read_gleif
    from georisk.interop.write import write_dataset
    from georisk.scoring.dataset import load_dataset

    write_dataset(read_gleif([GLEIF_LEI], [GLEIF_RR]), tmp_path / "gleif")
    ds = load_dataset(tmp_path / "gleif")
    assert len(ds.entities) == 3
    assert {l.kind.value for l in ds.links.values()} == {"control"} and len(ds.links) == 2


def test_gleif_files_in_any_order_are_told_apart_by_their_header() -> None:
    from georisk.interop.gleif import read_gleif, read_gleif_files

    a = read_gleif_files([GLEIF_RR, GLEIF_LEI])
    b = read_gleif([GLEIF_LEI], [GLEIF_RR])
    assert a.entities == b.entities and a.notes == b.notes and a.rejected == b.rejected


def test_gleif_records_no_longer_kept_give_unconfirmed_or_no_links(tmp_path: Path) -> None:
    """A relationship record whose registration lapsed (not renewed) or retired is not vouched
    for any more: an unconfirmed link saying so; an annulled or duplicate one: no link."""
    from georisk.interop.gleif import read_gleif

    head = (
        "Relationship.StartNode.NodeID,Relationship.EndNode.NodeID,"
        "Relationship.RelationshipType,Relationship.RelationshipStatus,"
        "Relationship.Period.1.startDate,Relationship.Period.1.periodType,"
        "Registration.RegistrationStatus\n"
    )
    rows = [
        ("TEST00000000PARENT01", "LAPSED"),
        ("TEST000000000ULTIM03", "ANNULLED"),
    ]
    rr = tmp_path / "rr.csv"
    rr.write_text(
        head
        + "".join(
            f"TEST000000000CHILD02,{p},IS_DIRECTLY_CONSOLIDATED_BY,ACTIVE,2021-06-15,"
            f"RELATIONSHIP_PERIOD,{reg}\n"
            for p, reg in rows
        )
    )
    out = read_gleif([GLEIF_LEI], [rr])
    (link,) = out.links.values()
    assert link.source == "lei:test00000000parent01" and link.unconfirmed
    assert "LAPSED" in (link.unconfirmed_note or "")
    assert any("(registration annulled)" in n for n in out.notes)
