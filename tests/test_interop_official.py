"""Real published records through ``georisk import``: what an analyst would check.

* GLEIF: tests/data/gleif/gleif-{lei,rr}-records.csv, real LEI and relationship records
  (Bloomberg, Apple, Amazon, Fraport, Shell; GLEIF golden copy of 2025-05-15, CC0) in the
  golden-copy CSV columns. No golden-copy CSV file could be had offline: the values come from
  GLEIF API responses, transcribed field by field (tests/data/gleif/README.md says how).
* FollowTheMoney: tests/data/ftm/opensanctions-zala-excerpt.ftm.jsonl, 27 real OpenSanctions
  entities (LLC CST / Zala Aero, the Russian drone maker, its owners, directors and sanctions),
  whole lines of opensanctions/yente's test fixture (tests/data/ftm/README.md).

The BODS 0.4 official examples (openownership/data-standard) are imported by
tests/test_interop_bods.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from georisk.cli import main
from georisk.interop.core import Imported
from georisk.interop.gleif import read_gleif_files
from georisk.scoring.dataset import load_dataset
from georisk.scoring.engine import Engine
from georisk.scoring.interval import Tri
from georisk.scoring.model import EntityKind, LinkKind

DATA = Path(__file__).parent / "data"
GLEIF_LEI = DATA / "gleif" / "gleif-lei-records.csv"
GLEIF_RR = DATA / "gleif" / "gleif-rr-records.csv"
ZALA = DATA / "ftm" / "opensanctions-zala-excerpt.ftm.jsonl"

BLOOMBERG_FINANCE = "lei:5493001kjtiigc8y1r12"
BLOOMBERG_LP = "lei:549300b56md0zc402l06"
BLOOMBERG_INC = "lei:549300rmudwphcuqne66"
APPLE_ENERGY = "lei:549300yx4s1llsmk2627"
APPLE = "lei:hwupkr0mpou8fgxbt394"
FRAPORT = "lei:5299001erx0k10izul40"


# ---------------------------------------------------------------------------------- GLEIF


@pytest.fixture(scope="module")
def gleif_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``georisk import gleif`` of the real records (files given RR first: told apart by header)."""
    out = tmp_path_factory.mktemp("gleif") / "ds"
    assert main(["import", "gleif", str(GLEIF_RR), str(GLEIF_LEI), "-o", str(out)]) == 1
    return out


def test_gleif_lei_records_give_legal_and_headquarters_countries(gleif_dir: Path) -> None:
    ds = load_dataset(gleif_dir)
    assert len(ds.entities) == 11
    bf = ds.entities[BLOOMBERG_FINANCE]
    assert bf.name == "Bloomberg Finance L.P." and bf.kind is EntityKind.COMPANY
    # organised in Delaware (US-DE), headquartered in New York
    assert (bf.country, bf.principal_place) == ("US", "US")
    assert [(i.scheme, i.id) for i in bf.identifiers] == [("XI-LEI", "5493001KJTIIGC8Y1R12")]
    assert ds.entities["lei:254900rx3nw13ddg3905"].country == "PE"  # Lima Airport Partners
    assert ds.entities["lei:529900yr7eorvq2u3353"].country == "MT"  # Fraport Malta
    assert ds.entities["lei:21380068p1drhmj8ku70"].aliases == ["ROYAL DUTCH SHELL PLC"]
    assert ds.entities[APPLE].aliases == ["Apple Computer, Inc."]


def test_gleif_who_consolidates_whom_with_relationship_periods(gleif_dir: Path) -> None:
    ds = load_dataset(gleif_dir)
    got = sorted(
        (l.source, l.target, l.role, l.valid_from, l.valid_to)
        for l in ds.links.values()
        if l.kind is LinkKind.CONTROL
    )
    assert len(got) == len(ds.links) == 7
    # the RELATIONSHIP_PERIOD is the validity, never the accounting period (2016, 2019, …)
    assert (
        BLOOMBERG_LP,
        BLOOMBERG_FINANCE,
        "direct_consolidation",
        dt.date(2007, 6, 5),
        None,
    ) in got
    assert (
        BLOOMBERG_INC,
        BLOOMBERG_FINANCE,
        "ultimate_consolidation",
        dt.date(2007, 6, 5),
        None,
    ) in got
    # Apple is both direct and ultimate parent of Apple Energy, from different dates
    assert [(r, f) for s, t, r, f, _ in got if (s, t) == (APPLE, APPLE_ENERGY)] == [
        ("direct_consolidation", dt.date(2018, 4, 10)),
        ("ultimate_consolidation", dt.date(2018, 11, 3)),
    ]
    assert sorted(t for s, t, *_ in got if s == FRAPORT) == [
        "lei:254900rx3nw13ddg3905",
        "lei:529900yr7eorvq2u3353",
    ]
    assert all(l.share is None for l in ds.links.values())  # consolidation is not a share


def test_gleif_rows_outside_the_extract_are_rejected_with_the_missing_lei(gleif_dir: Path) -> None:
    errors = [
        json.loads(x) for x in gleif_dir.with_name("ds.errors.jsonl").read_text().split("\n") if x
    ]
    assert [(e["file"], e["where"], e["id"]) for e in errors] == [
        ("gleif-rr-records.csv", "row 9", "2138009AGE4DW1J76R35>21380068P1DRHMJ8KU70"),
        ("gleif-rr-records.csv", "row 10", "213800C2Y6KDQCD2WZ09>21380068P1DRHMJ8KU70"),
    ]
    assert errors[0]["reason"] == (
        "start node (child) 2138009AGE4DW1J76R35 is not in the LEI records read"
    )


def test_gleif_import_scores_consolidation_as_other_control(gleif_dir: Path) -> None:
    report = Engine.from_dir(gleif_dir).ownership(BLOOMBERG_FINANCE, dt.date(2025, 1, 1))
    assert report.direct_holders == []  # no share is invented
    assert sorted((c.holder, c.role) for c in report.other_control) == [
        (BLOOMBERG_LP, "direct_consolidation"),
        (BLOOMBERG_INC, "ultimate_consolidation"),
    ]
    assert report.specified_foreign_entity.verdict is Tri.FALSE
    assert report.covered_nation_exposure.share.max == 0


def test_gleif_reader_keeps_every_record_of_the_real_files() -> None:
    out = read_gleif_files([GLEIF_LEI, GLEIF_RR])
    assert len(out.entities) == 11 and len(out.links) == 7 and len(out.rejected) == 2
    assert not any("not imported" in n for n in out.notes)  # no unknown relationship type


# ------------------------------------------------------------------------- FollowTheMoney

CST = "ftm:nk-abdzbebkqyt29gyrebiurz"  # LLC CST (Zala Aero's predecessor)
ZAKHAROV = "ftm:nk-au5ybkbrfjucf8ymwsjvdw"
IZHMASH = "ftm:nk-nr5axm9avpq4pqaspsavam"  # JSC NPO Izhmash / Kalashnikov Concern


@pytest.fixture(scope="module")
def zala() -> Imported:
    pytest.importorskip("followthemoney", reason="FOLLOWTHEMONEY IS NOT INSTALLED")
    from georisk.interop.ftm import read_ftm

    return read_ftm([ZALA])


def test_ftm_real_entities_read_with_kinds_countries_and_identifiers(zala: Imported) -> None:
    assert zala.rejected == []
    assert len(zala.entities) == 7
    assert {e.kind for e in zala.entities.values()} == {EntityKind.COMPANY, EntityKind.PERSON}
    assert all(e.country == "RU" for e in zala.entities.values())
    izh = zala.entities[IZHMASH]
    assert "CONCERN KALASHNIKOV JSC" in izh.aliases
    assert ("FtM:innCode", "1832090230") in [(i.scheme, i.id) for i in izh.identifiers]
    assert any("Address (1), Family (1), Passport (1)" in n for n in zala.notes)


def test_ftm_real_sanctions_become_dated_list_memberships(zala: Imported) -> None:
    cst = zala.entities[CST]
    lists = {(m.list_id, m.since, m.until) for m in cst.lists}
    # the BIS Entity List through the US consolidated screening list, from 2023-11-02
    assert ("bis-entity-list", dt.date(2023, 11, 2), None) in lists
    # OFAC's SDN entry carries no date in the data: an undated membership, not an invented one
    assert ("ofac-sdn", None, None) in lists
    # Ukraine's NSDC sanction ran 2021-10-30 to 2024-10-30
    nsdc = [
        m for m in cst.lists if m.list_id == "ftm-sanction-national-security-and-defense-council"
    ]
    assert [(m.since, m.until) for m in nsdc] == [(dt.date(2021, 10, 30), dt.date(2024, 10, 30))]
    assert cst.listed_on("bis-entity-list", dt.date(2023, 11, 1)) is None
    # an OFAC-sourced SAM exclusion ("Reciprocal") is not the SDN list
    assert ("ftm-sanction-ofac", dt.date(2023, 11, 2), None) in lists
    assert {m.list_id for m in zala.entities[ZAKHAROV].lists} >= {"ofac-sdn", "ftm-topic-sanction"}


def test_ftm_real_ownership_and_directorships(zala: Imported) -> None:
    into_cst = [l for l in zala.links.values() if l.target == CST and l.kind is LinkKind.EQUITY]
    got = {(l.source, l.share, l.valid_from, l.valid_to) for l in into_cst}
    assert (
        "ftm:nk-dsxj9zzhxbbmyemnntbhai",
        0.02,
        dt.date(2019, 5, 24),
        dt.date(2023, 12, 21),
    ) in got
    assert ("ftm:nk-dq98gpmgdvh8dszd8g9xtc", 0.01, dt.date(2022, 1, 17), dt.date(2023, 3, 2)) in got
    # the register's records of Zakharov's holding: 50 %, 48 %, 51 %, all from 2015-11-25
    zak = [l for l in into_cst if l.source == ZAKHAROV]
    assert zak and all(l.valid_from == dt.date(2015, 11, 25) for l in zak)
    for l in zak:
        share = l.share
        assert share is not None
        lo, hi = (share, share) if isinstance(share, float) else (share.minimum, share.maximum)
        assert 0.48 <= lo <= hi <= 0.51, share
    assert any(l.source == IZHMASH for l in into_cst)  # Kalashnikov's Izhmash holds CST
    directors = {
        l.source for l in zala.links.values() if l.target == CST and l.kind is LinkKind.APPOINTMENT
    }
    assert directors == {ZAKHAROV, "ftm:nk-mcemxffuhfdjpc8gsxh74o"}


def test_ftm_real_file_imports_and_scores(tmp_path: Path) -> None:
    """The register's overlapping records of one holding (Zakharov's 50 %, 48 % and 51 % of CST,
    all from 2015-11-25) are one holding of 48-51 %: the file imports whole (it was refused,
    149 %, before the FtM reader merged them) and scores."""
    pytest.importorskip("followthemoney", reason="FOLLOWTHEMONEY IS NOT INSTALLED")
    out = tmp_path / "zala"
    assert main(["import", "ftm", str(ZALA), "-o", str(out)]) == 0
    report = Engine.from_dir(out).ownership(CST, dt.date(2024, 1, 1))
    assert {h.holder for h in report.direct_holders} >= {ZAKHAROV, IZHMASH}
    (zak,) = [h for h in report.direct_holders if h.holder == ZAKHAROV]
    assert (zak.share.min, zak.share.max, zak.unconfirmed) == (0.48, 0.51, True)
    assert {"bis-entity-list", "ofac-sdn"} <= {e.list for e in report.entity.lists}


# ------------------------------------------------------------------- official lists (CSV)

#: Whole lines (1, 6, 12, 13, 151, 224, 247, 343) of OpenSanctions' transcription of the DoD
#: Section 1260H list, opensanctions/opensanctions datasets/us/dod_chinese_milcorps/sanctions.csv
#: at commit dd4f7d35145097d25835ebc72dfa7617742165e6 (2026-08-20): "maintained by hand" from the
#: DoD PDFs, one row per listing (MAINTENANCE.md beside it). Repository MIT; OpenSanctions data
#: CC BY-NC 4.0. The list is published only as PDF editions: this is the transcription in use.
OPENSANCTIONS_1260H = (
    "Name,Clean Name,Alias,Previous Name,Parent Name,Note,Start date,End date,Source Url",
    "AVIC Aviation High-Technology Company Limited (AVIC Aviation Hi-Tech)*,AVIC Aviation High-Technology Company Limited,AVIC Aviation Hi-Tech,,Aviation Industry Corporation of China Ltd.,,2021-06-03,,",  # noqa: E501
    "Zhonghang Electronic Measuring Instruments Company Limited (ZEMIC)*,Zhonghang Electronic Measuring Instruments Company Limited,ZEMIC,,Aviation Industry Corporation of China Ltd.,,2021-06-03,,",  # noqa: E501
    '"Beijing Megvii Technology Co., Ltd. (Megvii)","Beijing Megvii Technology Co., Ltd.",Megvii,,,,2024-01-31,2025-01-07,',  # noqa: E501
    '"Contemporary Amperex Technology Co., Ltd. (CATL)","Contemporary Amperex Technology Co., Ltd.",CATL,,,,2025-01-07,,https://media.defense.gov/2025/Jan/07/2003625471/-1/-1/1/ENTITIES-IDENTIFIED-AS-CHINESE-MILITARY-COMPANIES-OPERATING-IN-THE-UNITED-STATES.PDF',
    '"AVIC Chengdu Aircraft Co., Ltd. (formerly Zhonghang Electronic Measuring Instruments Company Limited (ZEMIC))","AVIC Chengdu Aircraft Co., Ltd.",,Zhonghang Electronic Measuring Instruments Company Limited; ZEMIC,"Aviation Industry Corporation of China, Ltd.",,2026-06-08,,https://media.defense.gov/2026/Jun/08/2003945537/-1/-1/1/ENTITIES-IDENTIFIED-AS-CHINESE-MILITARY-COMPANIES-OPERATING-IN-THE-UNITED-STATES-IN-ACCORDANCE-WITH-SECTION-1260H.PDF',  # noqa: E501
    "BYD Company Limited (BYD),BYD Company Limited,BYD,,,BYD is directly and indirectly affiliated with SASAC and is indirectly affiliated with MIIT (Section 1260H(g)(2)(B)(i)(I)). BYD is a military-civil fusion contributor to the Chinese defense industrial base because it is affiliated with MIIT and because it resides in or is affiliated with a military-civil fusion enterprise zone (Sections 1260H(g)(3)(B)(i) and (g)(3)(E)).,2026-06-08,,https://media.defense.gov/2026/Jun/08/2003945537/-1/-1/1/ENTITIES-IDENTIFIED-AS-CHINESE-MILITARY-COMPANIES-OPERATING-IN-THE-UNITED-STATES-IN-ACCORDANCE-WITH-SECTION-1260H.PDF",  # noqa: E501
    '"Contemporary Amperex Technology Co., Ltd. (CATL)","Contemporary Amperex Technology Co., Ltd.",CATL,,,CATL is indirectly affiliated with MIIT and is directly and indirectly affiliated with SASAC (Section 1260H(g)(2)(B)(i)(I)).,2026-06-08,,https://media.defense.gov/2026/Jun/08/2003945537/-1/-1/1/ENTITIES-IDENTIFIED-AS-CHINESE-MILITARY-COMPANIES-OPERATING-IN-THE-UNITED-STATES-IN-ACCORDANCE-WITH-SECTION-1260H.PDF',  # noqa: E501
)


@pytest.fixture(scope="module")
def milcorps_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("milcorps")
    src = base / "sanctions.csv"
    src.write_text("\n".join(OPENSANCTIONS_1260H) + "\n", encoding="utf-8")
    assert main(["import", "lists", str(src), "-o", str(base / "ds")]) == 0
    return base / "ds"


def _named(ds_dir: Path, name: str) -> str:
    return next(e.id for e in load_dataset(ds_dir).entities.values() if e.name == name)


def test_the_published_1260h_transcription_imports_as_the_1260h_list(milcorps_dir: Path) -> None:
    ds = load_dataset(milcorps_dir)
    assert len(ds.entities) == 5  # 7 rows; CATL twice, ZEMIC renamed AVIC Chengdu Aircraft
    catl = ds.entities[_named(milcorps_dir, "Contemporary Amperex Technology Co., Ltd.")]
    assert catl.aliases == ["CATL"]
    assert [(m.list_id, m.since, m.until) for m in catl.lists] == [
        ("dod-1260h", dt.date(2025, 1, 7), None),
        ("dod-1260h", dt.date(2026, 6, 8), None),  # the 2026 edition lists it again
    ]
    src = ds.sources[catl.lists[0].sources[0]]
    assert src.url is not None and src.url.startswith("https://media.defense.gov/2025/Jan/07/")
    assert (
        catl.lists[1].note is not None and "indirectly affiliated with MIIT" in catl.lists[1].note
    )
    megvii = ds.entities[_named(milcorps_dir, "Beijing Megvii Technology Co., Ltd.")]
    assert megvii.listed_on("dod-1260h", dt.date(2024, 6, 1)) is not None
    # "End date" 2025-01-07 is the edition that removed it: listed through 2025-01-06
    assert megvii.listed_on("dod-1260h", dt.date(2025, 1, 6)) is not None
    assert megvii.listed_on("dod-1260h", dt.date(2025, 1, 7)) is None
    assert megvii.lists[0].note is not None
    assert "removed by the edition of 2025-01-07" in megvii.lists[0].note


def test_the_1260h_transcription_keeps_renames_parents_and_undated_sources(
    milcorps_dir: Path,
) -> None:
    ds = load_dataset(milcorps_dir)
    # the 2026 edition lists "AVIC Chengdu Aircraft Co., Ltd. (formerly Zhonghang Electronic
    # Measuring Instruments Company Limited (ZEMIC))": one company under both names
    zemic = ds.entities[
        _named(milcorps_dir, "Zhonghang Electronic Measuring Instruments Company Limited")
    ]
    assert "AVIC Chengdu Aircraft Co., Ltd." in zemic.aliases and "ZEMIC" in zemic.aliases
    assert [m.since for m in zemic.lists] == [dt.date(2021, 6, 3), dt.date(2026, 6, 8)]
    first = zemic.lists[0]
    assert first.note is not None
    assert "as printed: Zhonghang Electronic Measuring Instruments Company Limited (ZEMIC)*" in (
        first.note
    )
    assert "listed under Aviation Industry Corporation of China Ltd." in first.note
    # a 2021 row names no PDF: the source is the transcription itself, by title
    src = ds.sources[first.sources[0]]
    assert src.url is None and "1260H" in src.title and "OpenSanctions" in src.title


def test_a_listed_1260h_company_is_a_specified_foreign_entity(milcorps_dir: Path) -> None:
    engine = Engine.from_dir(milcorps_dir)
    byd = _named(milcorps_dir, "BYD Company Limited")
    assert engine.ownership(byd, dt.date(2026, 7, 1)).specified_foreign_entity.verdict is Tri.TRUE
    assert engine.ownership(byd, dt.date(2026, 6, 1)).specified_foreign_entity.verdict is Tri.FALSE


#: The header and rows 2-3 of OpenSanctions' transcription of the FY2024 NDAA §154 list
#: (datasets/us/special_leg/source_files/section_154.csv, commit
#: 7ccd1f43f96d062ff530bf82ef2751c8f8ed6692, 2026-08-18), and Huawei's row of section_889.csv
#: (same layout): the laws name the parties; OpenSanctions types them up.
OPENSANCTIONS_SECTION_154 = (
    "schema,name,aliases,topics,program,authority,reason,report-date,start-date,end-date,country,notes,source_url",
    'Company,"BYD Company, Limited",,,Section 154 of the United States National Defense Authorization Act for Fiscal Year 2024,United States Congress,,2023-12-22,"October 1, 2027",,,"Beginning on October 1, 2027, none of the funds authorized to be appropriated or otherwise made available for the Department of Defense may be obligated or expended to procure a battery produced by the entity.",https://www.congress.gov/118/plaws/publ31/PLAW-118publ31.pdf',  # noqa: E501
    'Company,"Contemporary Amperex Technology Company, Limited",CATL,,Section 154 of the United States National Defense Authorization Act for Fiscal Year 2024,United States Congress,,2023-12-22,"October 1, 2027",,,"Beginning on October 1, 2027, none of the funds authorized to be appropriated or otherwise made available for the Department of Defense may be obligated or expended to procure a battery produced by the entity.",https://www.congress.gov/118/plaws/publ31/PLAW-118publ31.pdf',  # noqa: E501
    "Company,Huawei Technologies Company,,debarment,Section 889 of the John S. McCain National Defense Authorization Act for Fiscal Year 2019 (Public Law 115 - 232),United States Congress,,,,,,,https://www.congress.gov/115/plaws/publ232/PLAW-115publ232.pdf",  # noqa: E501
)


def test_the_published_section_154_list_imports_as_the_packs_list(tmp_path: Path) -> None:
    src = tmp_path / "section_154.csv"
    src.write_text("\n".join(OPENSANCTIONS_SECTION_154) + "\n", encoding="utf-8")
    assert main(["import", "lists", str(src), "-o", str(tmp_path / "ds")]) == 0
    ds = load_dataset(tmp_path / "ds")
    catl = ds.entities[_named(tmp_path / "ds", "Contemporary Amperex Technology Company, Limited")]
    assert catl.aliases == ["CATL"]
    (m,) = catl.lists
    # listed by the law of 2023-12-22; its procurement ban starts on 2027-10-01 (the pack's
    # effect dates), which the note keeps
    assert (m.list_id, m.since, m.until) == ("ndaa-fy2024-154", dt.date(2023, 12, 22), None)
    assert m.note is not None and "in force from 2027-10-01" in m.note
    assert (
        ds.sources[m.sources[0]].url
        == "https://www.congress.gov/118/plaws/publ31/PLAW-118publ31.pdf"
    )
    # a law's list the pack does not have keeps its program as the list id
    huawei = ds.entities[_named(tmp_path / "ds", "Huawei Technologies Company")]
    assert huawei.lists[0].list_id.startswith("program:section-889-of-the-john-s.-mccain")
    # the pack makes a §154 battery maker a specified foreign entity
    engine = Engine.from_dir(tmp_path / "ds")
    assert (
        engine.ownership(catl.id, dt.date(2025, 8, 1)).specified_foreign_entity.verdict is Tri.TRUE
    )
