"""The words and policy numbers the rule kinds quote come from the policy pack, not the code.

Pinned here with the shipped US pack: the §301 tariff finding and the OFAC 50% affiliates
effect, which the shipped dataset does not exercise (no recorded import from a covered nation,
no listed owner), keep the texts and numbers they had when these were constants in the code;
and a pack that says otherwise changes them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from georisk.scoring.dataset import DatasetError, load_dataset
from georisk.scoring.engine import Engine
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.policy import ParamVariant, PolicyPack, load_pack
from georisk.scoring.rules import EvalContext, RuleOutcome, Verdict, evaluate_pack
from tests.conftest import DATA, TODAY, WriteDataset

US = DATA / "policies" / "us.yaml"

DATASET = """
sources: [{id: s1, title: Example, url: "https://example.org"}]
entities:
  - {id: maker, name: Maker, kind: company, country: US, sources: [s1]}
  - {id: plant, name: Plant, kind: facility, country: US, sources: [s1]}
  - {id: cn-supplier, name: CN supplier, kind: company, country: CN, sources: [s1]}
  - id: blocked
    name: Blocked Co
    kind: company
    country: AE
    sources: [s1]
    lists: [{list: ofac-sdn, since: 2020-01-01, sources: [s1]}]
  - {id: other, name: Other, kind: company, country: FR, sources: [s1]}
links:
  - {id: maker-plant, kind: equity, source: maker, target: plant, share: 1.0, sources: [s1]}
  - {id: op, kind: operation, source: maker, target: plant, sources: [s1]}
  - {id: cells-in, kind: supply, source: cn-supplier, target: maker, sources: [s1]}
  - {id: blocked-maker, kind: equity, source: blocked, target: maker, share: SHARE, sources: [s1]}
  - {id: other-maker, kind: equity, source: other, target: maker, share: REST, sources: [s1]}
arrangements:
  - id: deal
    name: Deal
    focal: plant
    parties: [{entity: maker, role: operator}, {entity: cn-supplier, role: supplier}]
    taxpayer: maker
    country: US
    products: [cells]
    status: [{status: announced, date: 2024-01-01, sources: [s1]}]
    sources: [s1]
"""


def _outcomes(
    write_dataset: WriteDataset, pack: PolicyPack, blocked_share: float = 0.5
) -> dict[str, RuleOutcome]:
    text = DATASET.replace("REST", str(round(1 - blocked_share, 4))).replace(
        "SHARE", str(blocked_share)
    )
    ds = load_dataset(write_dataset({"d.yaml": text}))
    g = ArrangementGraph.build(ds, TODAY)
    return {r.rule: r for r in evaluate_pack(EvalContext(g, pack, ds.arrangements["deal"], TODAY))}


def _with(pack: PolicyPack, pid: str, value: Any) -> PolicyPack:
    params = dict(pack.parameters)
    params[pid] = [ParamVariant(value=value, sources=["test"])]
    return pack.model_copy(update={"parameters": params})


def test_the_tariff_finding_quotes_the_pack(write_dataset: WriteDataset) -> None:
    pack = load_pack(US)
    tariff = _outcomes(write_dataset, pack)["us-301"]
    (c,) = tariff.clauses
    assert (c.id, c.title, c.verdict) == ("section_301", "§301 tariff on imports", Verdict.AT_RISK)
    assert c.reason == "imports from a covered nation pay 25.0% (§301)"
    assert c.links == ["cells-in"] and tariff.impact == pytest.approx(0.5)
    other = _with(pack, "tariff.text.section_301", {"title": "duty on imports", "cite": "X"})
    (c,) = _outcomes(write_dataset, other)["us-301"].clauses
    assert (c.title, c.reason) == ("duty on imports", "imports from a covered nation pay 25.0% (X)")


def test_the_affiliates_threshold_is_the_packs(write_dataset: WriteDataset) -> None:
    pack = load_pack(US)
    assert pack.param("lists.affiliates_threshold", TODAY).value == 0.5

    def blocked(out: dict[str, RuleOutcome]) -> list[str]:
        return [c.id for c in out["us-lists"].clauses if c.id.startswith("ofac-sdn:blocked")]

    # 50% held by a blocked person: the maker is blocked too (at least 50%, OFAC FAQ 401)
    assert blocked(_outcomes(write_dataset, pack, 0.5)) == ["ofac-sdn:blocked:maker"]
    assert blocked(_outcomes(write_dataset, pack, 0.49)) == []
    # the number is the pack's: at 40% the same 49% holding blocks
    lower = _with(pack, "lists.affiliates_threshold", 0.4)
    assert blocked(_outcomes(write_dataset, lower, 0.49)) == ["ofac-sdn:blocked:maker"]


def test_the_45x_clause_texts_are_the_packs(write_dataset: WriteDataset) -> None:
    pack = load_pack(US)
    clauses = {c.id: c for c in _outcomes(write_dataset, pack)["us-45x"].clauses}
    assert clauses["licensing"].title == "no effective control by an SFE through a licence"
    assert clauses["taxpayer_pfe"].clause == "§45X as amended by P.L. 119-21; §7701(a)(51)"
    other = _with(pack, "45x.text.taxpayer_pfe", {"title": "T", "clause": "C"})
    clauses = {c.id: c for c in _outcomes(write_dataset, other)["us-45x"].clauses}
    assert (clauses["taxpayer_pfe"].title, clauses["taxpayer_pfe"].clause) == ("T", "C")


def test_the_vehicle_termination_date_is_the_packs(engine: Engine) -> None:
    arr = engine.dataset.arrangements["ford-marshall"]
    ctx = EvalContext(engine.graph(TODAY), engine.pack, arr, TODAY)
    out = {r.rule: r for r in evaluate_pack(ctx)}
    assert out["us-30d"].reason == (
        f"the credit is terminated on {TODAY} (vehicles acquired after 2025-09-30)"
    )
    later = [
        ParamVariant(value=True, effective_to=dt.date(2026, 3, 31), sources=["test"]),
        ParamVariant(value=False, effective_from=dt.date(2026, 4, 1), sources=["test"]),
    ]
    params = {**engine.pack.parameters, "30d.available": later}
    pack = engine.pack.model_copy(update={"parameters": params})
    out = {r.rule: r for r in evaluate_pack(EvalContext(engine.graph(TODAY), pack, arr, TODAY))}
    assert out["us-30d"].reason.endswith("(vehicles acquired after 2026-03-31)")


def test_a_clause_text_without_a_title_is_refused_naming_the_field(tmp_path: Path) -> None:
    doc = yaml.safe_load(US.read_text())
    doc["parameters"]["45x.text.licensing"][0]["value"].pop("title")
    p = tmp_path / "pack.yaml"
    p.write_text(yaml.safe_dump(doc, allow_unicode=True))
    with pytest.raises(DatasetError) as info:
        load_pack(p)
    assert "parameters.45x.text.licensing.0.value.title" in str(info.value)
