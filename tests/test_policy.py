"""Policy packs and scenarios: dated parameters, overrides, marks, and refusal of bad packs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from georisk.scoring.dataset import DatasetError
from georisk.scoring.policy import load_pack, load_scenarios
from tests.conftest import DATA

US = DATA / "policies" / "us.yaml"


def test_parameter_in_force_depends_on_date() -> None:
    pack = load_pack(US)
    assert pack.param("tariff.301.ev_batteries", dt.date(2024, 9, 26)).value == pytest.approx(0.075)
    assert pack.param("tariff.301.ev_batteries", dt.date(2024, 9, 27)).value == pytest.approx(0.25)
    assert pack.param("30d.available", dt.date(2025, 9, 30)).value is True
    assert pack.param("30d.available", dt.date(2025, 10, 1)).value is False
    assert pack.param("pfe.in_force", dt.date(2025, 12, 31)).value is False
    assert pack.param("pfe.in_force", dt.date(2026, 1, 1)).value is True


def test_unconfirmed_and_conflicting_parameters_keep_their_marks() -> None:
    pack = load_pack(US)
    on = dt.date(2026, 11, 22)
    assert pack.param("licensing.cutoff", on).unconfirmed
    assert pack.param("licensing.indicators", on).unconfirmed
    assert pack.param("pfe.fie_bar_in_force", on).conflict
    assert pack.param("tariff.301.ev_batteries", on).conflict  # a broker summary says 20%
    macr = pack.param("macr.45x_battery", on)
    assert macr.unconfirmed or macr.conflict or "secondary" in (macr.note or "").lower()


def test_every_parameter_variant_has_a_source() -> None:
    pack = load_pack(US)
    assert all(v.sources for vs in pack.parameters.values() for v in vs)
    assert all(e.sources for lst in pack.lists for e in lst.effects)


def test_scenarios_sum_to_one_and_override_from_their_date() -> None:
    pack = load_pack(US)
    ss = load_scenarios(DATA / "policies" / "us.scenarios.yaml", pack)
    assert sum(s.probability for s in ss.scenarios) == pytest.approx(1.0)
    assert {
        "current-law",
        "house-2025-licensing",
        "repeal-45x-batteries",
        "vehicle-credits-restored",
        "bis-affiliates-back",
    } <= {s.id for s in ss.scenarios}
    assert all(
        "assum" in s.assumption.lower() or "placeholder" in s.assumption.lower()
        for s in ss.scenarios
    )
    restored = pack.with_overrides(list(ss.get("vehicle-credits-restored").overrides), "restored")
    assert restored.param("30d.available", dt.date(2026, 12, 31)).value is False
    assert restored.param("30d.available", dt.date(2027, 1, 1)).value is True
    assert restored.param("30d.available", dt.date(2025, 1, 1)).value is True  # history kept
    bis = pack.with_overrides(list(ss.get("bis-affiliates-back").overrides), "bis")
    assert bis.param("bis.affiliates_rule", dt.date(2026, 11, 22)).value is True


def _write(tmp_path: Path, doc: object, name: str = "pack.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc))
    return p


def test_bad_pack_is_refused_naming_the_field(tmp_path: Path) -> None:
    doc = yaml.safe_load(US.read_text())
    doc["parameters"]["covered_nations"][0].pop("sources")
    with pytest.raises(DatasetError) as info:
        load_pack(_write(tmp_path, doc))
    assert any("parameters.covered_nations.0.sources" in str(i) for i in info.value.issues)


def test_scenario_overriding_unknown_parameter_is_refused(tmp_path: Path) -> None:
    pack = load_pack(US)
    doc = {
        "pack": "us",
        "version": "x",
        "scenarios": [
            {
                "id": "a",
                "title": "A",
                "probability": 1.0,
                "assumption": "assumed",
                "overrides": [{"param": "no.such.param", "value": 1}],
            }
        ],
    }
    with pytest.raises(DatasetError) as info:
        load_scenarios(_write(tmp_path, doc, "s.yaml"), pack)
    assert "unknown parameter 'no.such.param'" in str(info.value)


def test_probabilities_must_sum_to_one(tmp_path: Path) -> None:
    pack = load_pack(US)
    doc = {
        "pack": "us",
        "version": "x",
        "scenarios": [{"id": "a", "title": "A", "probability": 0.5, "assumption": "assumed"}],
    }
    with pytest.raises(DatasetError) as info:
        load_scenarios(_write(tmp_path, doc, "s.yaml"), pack)
    assert "add up to 0.5000" in str(info.value)


def test_another_jurisdiction_needs_no_code(tmp_path: Path) -> None:
    """A minimal UK-style pack using the list_effects kind loads and evaluates."""
    from georisk.scoring.dataset import load_dataset
    from georisk.scoring.engine import Engine

    pack = {
        "pack": {"id": "uk", "jurisdiction": "GB", "version": "1", "title": "UK example"},
        "parameters": {"covered_nations": [{"value": ["CN"], "sources": ["a17"]}]},
        "lists": [
            {
                "id": "dod-1260h",
                "title": "example",
                "authority": "example",
                "sources": ["l1"],
                "effects": [{"effect": "procurement_flag", "clause": "ex.", "sources": ["l1"]}],
            }
        ],
        "rules": [
            {
                "id": "uk-lists",
                "kind": "list_effects",
                "title": "UK lists",
                "clause": "ex.",
                "countries": ["GB"],
                "sources": ["a17"],
            }
        ],
    }
    scen = {
        "pack": "uk",
        "version": "1",
        "scenarios": [
            {"id": "current-law", "title": "now", "probability": 1.0, "assumption": "assumed"}
        ],
    }
    pdir = tmp_path / "policies"
    pdir.mkdir()
    _write(pdir, pack, "uk.yaml")
    _write(pdir, scen, "uk.scenarios.yaml")
    engine = Engine(
        load_dataset(DATA),
        load_pack(pdir / "uk.yaml"),
        load_scenarios(pdir / "uk.scenarios.yaml", load_pack(pdir / "uk.yaml")),
    )
    s = engine.score("aesc-sunderland-2", dt.date(2026, 11, 22), remedies=False)
    assert [v.rule for v in s.verdicts] == ["uk-lists"]
    assert s.verdicts[0].verdict.value == "eligible"  # no listed party in the Sunderland deal
