"""Issue 13, "language an analyst reads" and the confidence of a score: what the engine assembles
(confidence and its reasons, warnings) and how the table renders it."""

from __future__ import annotations

import datetime as dt

from georisk.scoring.engine import Engine
from tests.conftest import BASE_YAML, DATA, WriteDataset

ON = dt.date(2026, 11, 22)

# a second deal of the same party (us-sub), only proposed, on another plant
OTHER_DEAL = """
entities:
  - {id: other-plant, name: Other Plant, kind: facility, country: US, sources: [s1]}
links:
  - {id: sub-other-plant, kind: equity, source: us-sub, target: other-plant, share: 1.0,
     status: proposed, arrangement: other-deal, sources: [s1]}
arrangements:
  - id: other-deal
    name: Other deal
    focal: other-plant
    parties: [{entity: us-sub, role: owner}]
    taxpayer: us-sub
    country: US
    products: [cells]
    status: [{status: talks, date: 2024-01-01, sources: [s1]}]
    sources: [s1]
"""


def _engine(write_dataset: WriteDataset, files: dict[str, str]) -> Engine:
    return Engine.from_dir(write_dataset(files), policies=DATA / "policies")


# ------------------------------------------------------------------ 1. confidence leak


def test_a_proposed_link_in_another_deal_leaves_this_deals_confidence(
    write_dataset: WriteDataset,
) -> None:
    alone = _engine(write_dataset, {"a.yaml": BASE_YAML}).score("deal", ON, remedies=False)
    both = _engine(write_dataset, {"a.yaml": BASE_YAML, "b.yaml": OTHER_DEAL}).score(
        "deal", ON, remedies=False
    )
    assert both.confidence == alone.confidence, both.confidence_reasons
    assert not any("in talks or proposed" in r for r in both.confidence_reasons)


def test_an_untagged_proposed_link_to_an_outsider_leaves_the_confidence(
    write_dataset: WriteDataset,
) -> None:
    untagged = OTHER_DEAL.replace("arrangement: other-deal, ", "")
    alone = _engine(write_dataset, {"a.yaml": BASE_YAML}).score("deal", ON, remedies=False)
    both = _engine(write_dataset, {"a.yaml": BASE_YAML, "b.yaml": untagged}).score(
        "deal", ON, remedies=False
    )
    assert both.confidence == alone.confidence, both.confidence_reasons


def test_the_deals_own_proposed_link_still_counts(write_dataset: WriteDataset) -> None:
    own = OTHER_DEAL.replace("arrangement: other-deal", "arrangement: deal")
    s = _engine(write_dataset, {"a.yaml": BASE_YAML, "b.yaml": own}).score(
        "deal", ON, remedies=False
    )
    assert any("in talks or proposed" in r for r in s.confidence_reasons), s.confidence_reasons
    # and the other deal, only in talks with its own proposed link, is penalised too
    o = _engine(write_dataset, {"a.yaml": BASE_YAML, "b.yaml": OTHER_DEAL}).score(
        "other-deal", ON, remedies=False
    )
    assert any("in talks or proposed" in r for r in o.confidence_reasons), o.confidence_reasons


def test_shipped_announced_deals_are_not_penalised_for_catls_other_talks(engine: Engine) -> None:
    # Ford Kentucky and Stellantis–CATL Zaragoza have no proposed link of their own; CATL's
    # proposed links belong to GM–TDK, the LRS template, Huawei and Chery
    for aid in ("ford-kentucky-storage", "stellantis-catl-zaragoza"):
        s = engine.score(aid, ON, remedies=False)
        assert not any("in talks or proposed" in r for r in s.confidence_reasons), (aid, s)
    gm = engine.score("gm-tdk-catl", ON, remedies=False)
    assert any("in talks or proposed" in r for r in gm.confidence_reasons)


# ------------------------------------------------------------------ 2. reasons carry the notes

# the CN parent's 60% of the taxpayer is unconfirmed: the SFE verdict and the equity axis rest on it
UNCONFIRMED_PARENT = BASE_YAML.replace(
    "share: 0.6, sources: [s1]}",
    'share: 0.6, sources: [s1], unconfirmed: true,\n     unconfirmed_note: "The 60% is from a'
    ' 2019 filing. Later changes are not known."}',
)


def test_confidence_reasons_name_the_fact_and_say_why_it_is_unconfirmed(
    write_dataset: WriteDataset,
) -> None:
    s = _engine(write_dataset, {"a.yaml": UNCONFIRMED_PARENT}).score("deal", ON, remedies=False)
    facts = [r for r in s.confidence_reasons if r.startswith("unconfirmed fact")]
    (fact,) = [r for r in facts if "parent-sub" in r]
    assert "Parent Co [parent]" in fact and "US Sub [us-sub]" in fact, fact
    assert "The 60% is from a 2019 filing." in fact, fact
    params = [r for r in s.confidence_reasons if "parameter" in r]
    assert params, s.confidence_reasons
    pack = _engine(write_dataset, {"a.yaml": UNCONFIRMED_PARENT}).pack
    for r in params:
        pid = next(p for p in pack.parameters if p in r)
        v = pack.param(pid, ON)
        why = v.conflict or v.note
        assert why is not None and why.split(";")[0][:40] in r, r


def test_shipped_reasons_name_entities_first_with_their_notes(engine: Engine) -> None:
    s = engine.score("aesc-florence-sc", ON, remedies=False)
    by_id = {
        i: r
        for r in s.confidence_reasons
        for i in ("envision-group-owns-aesc", "aesc-us")
        if f"[{i}]" in r or f"link {i})" in r
    }
    assert "Envision" in by_id["envision-group-owns-aesc"], by_id
    assert "current split is unconfirmed" in by_id["envision-group-owns-aesc"], by_id
    assert by_id["aesc-us"].startswith("unconfirmed fact: AESC US operating company"), by_id
    for r in s.confidence_reasons:
        assert not r.rstrip().endswith(("aesc-us", "envision-group-owns-aesc")), r
