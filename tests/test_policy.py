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


def test_scenarios_validate_and_override_from_their_date() -> None:
    pack = load_pack(US)
    ss = load_scenarios(DATA / "policies" / "us.scenarios.yaml", pack)
    by_event: dict[str, float] = {}
    for s in ss.scenarios:
        by_event[s.event] = by_event.get(s.event, 0.0) + s.probability
    assert all(p <= 1.0 + 1e-9 for p in by_event.values()), by_event
    assert {
        "current-law",
        "house-2025-licensing",
        "repeal-45x-batteries",
        "vehicle-credits-restored",
        "bis-affiliates-extended",
    } <= {s.id for s in ss.scenarios}
    assert all(
        "assum" in s.assumption.lower() or "placeholder" in s.assumption.lower()
        for s in ss.scenarios
    )
    restored = pack.with_overrides(list(ss.get("vehicle-credits-restored").overrides), "restored")
    assert restored.param("30d.available", dt.date(2026, 12, 31)).value is False
    assert restored.param("30d.available", dt.date(2027, 1, 1)).value is True
    assert restored.param("30d.available", dt.date(2025, 1, 1)).value is True  # history kept
    # the pack now reads the BIS Affiliates Rule as back from 2026-11-10 (UNCONFIRMED); the
    # scenario is the other reading: the suspension was extended
    assert pack.param("bis.affiliates_rule", dt.date(2026, 11, 22)).value is True
    ext = pack.with_overrides(list(ss.get("bis-affiliates-extended").overrides), "ext")
    assert ext.param("bis.affiliates_rule", dt.date(2026, 11, 22)).value is False
    assert ext.param("bis.affiliates_rule", dt.date(2025, 10, 1)).value is True  # history kept


def test_every_scenario_has_a_basis_and_a_weight_that_reflects_it() -> None:
    """Each scenario says what it rests on (the law in force, a bill, a proposal, or a stated
    hypothetical), citing sources the dataset has, and its default weight follows: a
    hypothetical with no bill weighs far less than the text that passed the House."""
    from georisk.scoring.dataset import load_dataset

    sources = load_dataset(DATA).sources
    pack = load_pack(US)
    ss = load_scenarios(DATA / "policies" / "us.scenarios.yaml", pack)
    for s in ss.scenarios:
        assert s.basis.reference and s.basis.sources, s.id
        assert set(s.basis.sources) <= set(sources), (s.id, s.basis.sources)
        assert s.basis.kind.value in s.assumption or s.basis.kind.value.replace("_", " ") in (
            s.assumption
        ), (s.id, s.assumption)  # the weight's reason names the basis
    current = ss.get("current-law")
    assert current.basis.kind.value == "enacted" and current.probability == 1.0
    assert not current.overrides
    house, repeal = ss.get("house-2025-licensing"), ss.get("repeal-45x-batteries")
    assert house.basis.kind.value == "bill"
    assert repeal.basis.kind.value == "stated_hypothetical"
    assert repeal.probability <= house.probability / 4
    restored = ss.get("vehicle-credits-restored")
    assert restored.basis.kind.value == "proposal"
    assert repeal.probability < restored.probability < house.probability
    # alternative answers to one question are one event (they cannot both happen)
    assert ss.get("no-licensing-test").event == house.event


def _write(tmp_path: Path, doc: object, name: str = "pack.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc))
    return p


BASELINE = {
    "id": "current-law",
    "title": "now",
    "probability": 1.0,
    "event": "current-law",
    "basis": {"kind": "enacted", "reference": "the pack as written", "sources": ["a17"]},
    "assumption": "assumed: the law in force",
}


def _scen(sid: str, event: str, p: float, kind: str = "bill") -> dict[str, object]:
    return {
        "id": sid,
        "title": sid,
        "probability": p,
        "event": event,
        "basis": {"kind": kind, "reference": "H.R. x", "sources": ["p10"]},
        "assumption": "assumed",
        "overrides": [{"param": "licensing.mode", "value": "off"}],
    }


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
            BASELINE,
            {
                **_scen("a", "e", 0.2),
                "overrides": [{"param": "no.such.param", "value": 1}],
            },
        ],
    }
    with pytest.raises(DatasetError) as info:
        load_scenarios(_write(tmp_path, doc, "s.yaml"), pack)
    assert "unknown parameter 'no.such.param'" in str(info.value)


@pytest.mark.parametrize(
    ("scenarios", "message"),
    [
        # alternatives of one event are exclusive: their probabilities cannot exceed 1
        ([BASELINE, _scen("a", "e", 0.7), _scen("b", "e", 0.5)], "event 'e'"),
        ([_scen("a", "e", 0.5)], "one scenario with basis kind 'enacted'"),
        ([{**BASELINE, "probability": 0.45}], "probability 1"),
        ([BASELINE, _scen("a", "e", 0.2, kind="enacted")], "enacted law belongs in the pack"),
        ([BASELINE, {**_scen("a", "e", 0.2), "basis": None}], "basis"),
    ],
)
def test_scenario_sets_that_do_not_validate(
    tmp_path: Path, scenarios: list[object], message: str
) -> None:
    pack = load_pack(US)
    doc = {"pack": "us", "version": "x", "scenarios": scenarios}
    with pytest.raises(DatasetError) as info:
        load_scenarios(_write(tmp_path, doc, "s.yaml"), pack)
    assert message in str(info.value), info.value


def test_independent_events_may_add_up_past_one(tmp_path: Path) -> None:
    """Scenarios of different events are independent: 0.7 and 0.6 can both hold."""
    pack = load_pack(US)
    doc = {
        "pack": "us",
        "version": "x",
        "scenarios": [BASELINE, _scen("a", "e1", 0.7), _scen("b", "e2", 0.6)],
    }
    ss = load_scenarios(_write(tmp_path, doc, "s.yaml"), pack)
    assert [s.event for s in ss.scenarios] == ["current-law", "e1", "e2"]


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
            {
                "id": "current-law",
                "title": "now",
                "probability": 1.0,
                "event": "current-law",
                "basis": {"kind": "enacted", "reference": "example", "sources": ["a17"]},
                "assumption": "assumed",
            }
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
