"""Merging an import into a dataset: identifiers compared in a normalised form, and a
``georisk`` identifier (an export of georisk's own ids) naming the entity of that id."""

from __future__ import annotations

from pathlib import Path

from georisk.interop.core import GEORISK_SCHEME, Imported, identifier_key
from georisk.interop.write import write_dataset
from georisk.scoring.dataset import load_dataset
from georisk.scoring.model import Entity, EntityKind, Identifier, Link, LinkKind, Source

BASE = """\
sources:
  - {id: s1, title: test register, url: "https://example.org/register"}
entities:
  - {id: acme, name: Acme Cells Co., kind: company, country: CN, sources: [s1],
     identifiers: [{scheme: XI-LEI, id: 5493001KJTIIGC8Y1R12}, {scheme: GB-COH, id: "01234567"}]}
  - {id: holdco, name: Holdco, kind: company, country: US, sources: [s1]}
"""


def _base(tmp_path: Path) -> Path:
    d = tmp_path / "ds"
    d.mkdir()
    (d / "base.yaml").write_text(BASE)
    return d


def _import(*entities: Entity, links: tuple[Link, ...] = ()) -> Imported:
    out = Imported(format="test")
    out.sources["imp"] = Source(id="imp", title="an import", url="https://example.org/import")
    for e in entities:
        out.entities[e.id] = e
    for link in links:
        out.links[link.id] = link
    return out


def test_identifiers_match_whatever_their_spelling(tmp_path: Path) -> None:
    """``lei`` / lower case / blanks for an LEI, an unpadded Companies House number: the same
    company, so its holding lands on the dataset's entity and no duplicate appears."""
    base = _base(tmp_path)
    cases = [
        Identifier(scheme="lei", id="5493001kjtiigc8y1r12 ", sources=["imp"]),
        Identifier(scheme="GB-COH", id="1234567", sources=["imp"]),
    ]
    for n, ident in enumerate(cases):
        twin = Entity(
            id=f"imp:acme-{n}",
            name="ACME CELLS",
            kind=EntityKind.COMPANY,
            identifiers=[ident],
            sources=["imp"],
        )
        stake = Link(
            id=f"imp:stake-{n}",
            kind=LinkKind.EQUITY,
            source="holdco",
            target=twin.id,
            share=0.3,
            sources=["imp"],
        )
        out = tmp_path / f"out{n}"
        res = write_dataset(_import(twin, links=(stake,)), out, merge_into=base)
        ds = load_dataset(out)
        assert twin.id not in ds.entities
        assert [(l.source, l.target) for l in ds.links.values()] == [("holdco", "acme")]
        assert any("matched on" in m and "[acme]" in m for m in res.merged)


def test_a_georisk_identifier_names_the_entity_of_that_id(tmp_path: Path) -> None:
    base = _base(tmp_path)
    exported = Entity(
        id="bods:holdco",
        name="Holdco",
        kind=EntityKind.COMPANY,
        identifiers=[Identifier(scheme=GEORISK_SCHEME, id="holdco", sources=["imp"])],
        sources=["imp"],
    )
    write_dataset(_import(exported), tmp_path / "out", merge_into=base)
    ds = load_dataset(tmp_path / "out")
    assert "bods:holdco" not in ds.entities and "holdco" in ds.entities


def test_different_identifiers_stay_different() -> None:
    assert identifier_key("XI-LEI", "5493001KJTIIGC8Y1R12") != identifier_key(
        "XI-LEI", "5493001KJTIIGC8Y1R13"
    )
    # a register number is compared as written in other schemes (no padding, case kept)
    assert identifier_key("FI-PRO", "3007894-1") != identifier_key("FI-PRO", "03007894-1")
    assert identifier_key("OpenSanctions", "NK-abc") == identifier_key("opensanctions", "NK-abc")
    assert identifier_key("OpenSanctions", "NK-abc") != identifier_key("OpenSanctions", "nk-abc")


def test_an_empty_import_never_replaces_a_dataset(tmp_path: Path) -> None:
    """An empty BODS file, or one whose every statement is refused, leaves the dataset as it
    was (exit 3), and the refused statements are still in the errors file."""
    import json

    from georisk.cli import main

    base = _base(tmp_path)
    before = {p.name: p.read_bytes() for p in base.iterdir()}
    empty, bad = tmp_path / "empty.json", tmp_path / "bad.json"
    empty.write_text("[]")
    bad.write_text(json.dumps([{"statementId": "s1", "recordType": "nonsense"}]))
    assert main(["import", "bods", str(empty), "-o", str(base)]) == 3
    assert main(["import", "bods", str(bad), "-o", str(base)]) == 3
    assert {p.name: p.read_bytes() for p in base.iterdir()} == before
    errors = (tmp_path / "ds.errors.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in errors] == ["s1"]
    # merging nothing is no change, not an error
    assert main(["import", "bods", str(empty), "-o", str(base), "--merge"]) == 0
