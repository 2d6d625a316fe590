"""georisk.interop: the common shape of an import (core), the atomic writer, and BODS 0.4.

The BODS fixtures in tests/data/bods/ are the official examples of Open Ownership's
data-standard repository (examples/*.json at commit d97e79829b3bbdc759bc35c814b002c65ff75e95,
Apache-2.0): the Finnish state-owned enterprise (bods-package-fi-soe.json), an entity owning an
entity, joint ownership and indirect ownership.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from georisk.interop.core import Rejected, ShareError, share_range, slug
from georisk.scoring.model import ID_PATTERN, Entity, ShareRange

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
    from georisk.scoring.dataset import load_dataset

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
