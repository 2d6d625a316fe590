"""Issue 13, "language an analyst reads" and the confidence of a score: what the engine assembles
(confidence and its reasons, warnings) and how the table renders it."""

from __future__ import annotations

import datetime as dt
import re

from georisk.scoring.engine import Engine
from georisk.scoring.report import render_score_table
from georisk.scoring.wording import usd_range
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


# ------------------------------------------------------------------ 3. UNCONFIRMED in the table


def _blocks(table: str) -> dict[str, list[str]]:
    """The table's lines under each rule id (its verdict line and the lines indented under it)."""
    out: dict[str, list[str]] = {}
    cur = None
    for line in table.splitlines():
        head = line[2:].split(" ", 1)[0] if line.startswith("  ") and line[2] != " " else None
        if head is not None:
            cur = head
            out.setdefault(cur, [])
        if cur is not None:
            out[cur].append(line)
    return out


def _flat(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


def test_the_table_shows_unconfirmed_inline_with_its_note(write_dataset: WriteDataset) -> None:
    s = _engine(write_dataset, {"a.yaml": UNCONFIRMED_PARENT}).score("deal", ON, remedies=False)
    assert "parent-sub" in s.verdict("us-45x").unconfirmed  # the SFE verdict rests on it
    table = render_score_table([s])
    blocks = _blocks(table)
    under_45x = _flat(blocks["us-45x"])
    assert "UNCONFIRMED: Parent Co [parent] holds 60% of US Sub [us-sub]" in under_45x, under_45x
    # the note saying why, once in the arrangement's block (later mentions say "see above")
    assert _flat(table.splitlines()).count("The 60% is from a 2019 filing.") == 1, table
    assert "The 60% is from a 2019 filing." in under_45x or "(see above)" in under_45x
    # the equity axis rests on it too, and says so beside the scores
    lines = table.splitlines()
    before_verdicts = _flat(lines[: next(i for i, x in enumerate(lines) if "us-45x" in x)])
    assert "equity rests on UNCONFIRMED: Parent Co [parent]" in before_verdicts, before_verdicts
    # the pack parameters the verdict rests on are named inline and explained once
    for p in s.verdict("us-45x").unconfirmed_params:
        assert p in under_45x, (p, under_45x)


# ------------------------------------------------------------------ 5. the table fits a terminal


def test_the_table_of_every_shipped_arrangement_fits_120_columns(engine: Engine) -> None:
    scores = [engine.score(a, ON, remedies=False) for a in sorted(engine.dataset.arrangements)]
    table = render_score_table(scores)
    for line in table.splitlines():
        assert len(line) <= 120, line
        assert not re.search(r"\$(\d[\d,.]*)–\1M", line), line  # "$700–700M" reads "$700M"
    # names first, ids in brackets, on each arrangement's first line
    for s in scores:
        a = s.arrangement
        assert f"\n{a.name} [{a.id}] — " in f"\n{table}", a.id
    # each credit estimate reads as wording.usd_range gives it (one figure when the bounds agree)
    flat = _flat(table.splitlines())
    for s in scores:
        for v in s.verdicts:
            if v.credit is not None:
                assert f"(≈ {usd_range(v.credit.min, v.credit.max)}/yr estimated" in flat, v


def test_the_table_shows_the_reported_credit_beside_the_estimate(engine: Engine) -> None:
    s = engine.score("ford-marshall", ON, remedies=False)
    v = s.verdict("us-45x")
    assert v.credit is not None
    table = render_score_table([s])
    estimate = f"≈ {usd_range(v.credit.min, v.credit.max)}/yr estimated"
    assert estimate in _flat(table.splitlines()), table
    # the data has one (Ford Marshall: about $900M, read as annual, UNCONFIRMED [p11])
    assert v.credit.reported is not None
    flat = _flat(table.splitlines())
    assert f"{estimate}; reported $900M/yr [p11], UNCONFIRMED)" in flat, table
    assert "UNCONFIRMED: the reported credit: Reported July 2025" in flat, table


def test_the_table_holds_no_python_repr(engine: Engine) -> None:
    scores = [engine.score(a, ON, remedies=False) for a in sorted(engine.dataset.arrangements)]
    reprs = [x for x in render_score_table(scores).splitlines() if "['" in x or "']" in x]
    assert not reprs, reprs


# ------------------------------------------------------------------ 4. the pack's review date


def test_a_date_past_the_packs_review_date_says_so(engine: Engine) -> None:
    review = engine.pack.pack.review_by
    version = dt.date.fromisoformat(engine.pack.pack.version[:10].replace(".", "-"))
    assert review is not None and review > version
    on_time = engine.score("ford-marshall", review, remedies=False)
    assert on_time.warnings == [] and not any("review" in n for n in on_time.overall.notes)
    late = engine.score("ford-marshall", review + dt.timedelta(days=1), remedies=False)
    (w,) = late.warnings
    assert str(review) in w and "review" in w, w
    # the JSON (and gRPC) carry it, also in the overall axis' notes; the table at the top
    doc = late.model_dump(mode="json")
    assert doc["warnings"] == [w] and w in doc["overall"]["notes"]
    assert f"WARNING: {w}"[:60] in _flat(render_score_table([late]).splitlines())
