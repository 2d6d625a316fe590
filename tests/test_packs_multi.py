"""Several policy packs at once (issue 18): each further pack is evaluated only for the
arrangements within its nexus, so US plants score exactly as under the US pack alone, and a
European arrangement gets the further pack's verdicts and scenarios beside the US ones."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from georisk.scoring.dataset import DatasetError
from georisk.scoring.engine import DEFAULT_DATA, Engine
from georisk.scoring.packs import parse_pack_ids

FIXTURE = Path(__file__).parent / "fixtures" / "eu_data" / "policies"
ON = dt.date(2026, 11, 22)


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("policies")
    for f in ("us.yaml", "us.scenarios.yaml"):
        shutil.copy(DEFAULT_DATA / "policies" / f, d / f)
    for f in ("xeu.yaml", "xeu.scenarios.yaml"):
        text = (FIXTURE / f).read_text().replace("sources: [s1]", "sources: [a16]")
        (d / f).write_text(text)
    return d


@pytest.fixture(scope="module")
def both(policies: Path) -> Engine:
    return Engine.from_dir(DEFAULT_DATA, "us,xeu", policies=policies)


@pytest.fixture(scope="module")
def us_only(policies: Path) -> Engine:
    return Engine.from_dir(DEFAULT_DATA, "us", policies=policies)


def test_us_arrangements_score_as_under_the_us_pack_alone(both: Engine, us_only: Engine) -> None:
    us_arrs = [a.id for a in both.dataset.arrangements.values() if a.country == "US"]
    assert len(us_arrs) >= 5
    for arr in us_arrs:
        assert [p.applied for p in both.score(arr, ON, remedies=False).packs] == [True, False]
        a = both.score(arr, ON, remedies=False).model_dump(mode="json", exclude={"packs"})
        b = us_only.score(arr, ON, remedies=False).model_dump(mode="json", exclude={"packs"})
        assert a == b, arr


def test_a_spanish_arrangement_gets_both_packs(both: Engine) -> None:
    s = both.score("stellantis-catl-zaragoza", ON, remedies=False)
    assert [(p.id, p.applied, p.reason) for p in s.packs] == [
        ("us", True, "the primary pack"),
        ("xeu", True, "located in ES"),
    ]
    rules = [v.rule for v in s.verdicts]
    assert rules[:4] == [r.id for r in both.pack.rules]  # the US verdicts first, as before
    assert "xeu-es-fdi" in rules and "xeu-fsr-concentration" in rules
    # the US rules still say "no nexus"; the further pack's scenarios join the policy axis
    assert s.verdict("us-45x").verdict.value == "not_applicable"
    assert [o.scenario for o in s.scenarios][-1] == "iaa-adopted"
    assert any("policy packs applied: us@" in n and "xeu@" in n for n in s.policy.notes)


def test_scenarios_of_further_packs_can_be_chosen(both: Engine) -> None:
    s = both.score("stellantis-catl-zaragoza", ON, scenario="iaa-adopted", remedies=False)
    assert s.scenario == "iaa-adopted"
    # judged under the scenario (the switch on from its adoption), not under current law
    assert s.verdict("xeu-iaa").outcome == "not caught"  # the JV predates the adoption
    now = both.score("stellantis-catl-zaragoza", ON, remedies=False).verdict("xeu-iaa")
    assert now.outcome == "not in force"


def test_scenario_ids_must_differ_across_packs(policies: Path, tmp_path: Path) -> None:
    for f in policies.iterdir():
        shutil.copy(f, tmp_path / f.name)
    sc = tmp_path / "xeu.scenarios.yaml"
    sc.write_text(sc.read_text().replace("id: iaa-adopted", "id: house-2025-licensing"))
    with pytest.raises(DatasetError, match="scenario ids must differ"):
        Engine.from_dir(DEFAULT_DATA, "us,xeu", policies=tmp_path)


def test_all_selects_every_pack_of_the_directory(policies: Path) -> None:
    e = Engine.from_dir(DEFAULT_DATA, "all", policies=policies)
    assert [p.id for p in e.packs] == ["us", "xeu"]
    assert parse_pack_ids(["us", "xeu,us"]) == ["us", "xeu"]


def test_the_shipped_packs_leave_us_plants_as_under_the_us_pack() -> None:
    # the default of the command line is every shipped pack: no European pack may reach a US
    # plant through its nexus (e.g. a German offtaker of a US plant is no nexus)
    both = Engine.from_dir(DEFAULT_DATA, "all")
    alone = Engine.from_dir(DEFAULT_DATA, "us")
    assert both.packs[0].id == "us"
    for arr, a in both.dataset.arrangements.items():
        if a.country != "US":
            continue
        s = both.score(arr, ON, remedies=False)
        assert [p.applied for p in s.packs] == [True] + [False] * (len(both.packs) - 1), arr
        assert s.model_dump(mode="json", exclude={"packs"}) == alone.score(
            arr, ON, remedies=False
        ).model_dump(mode="json", exclude={"packs"}), arr


def test_an_unknown_pack_is_named_with_the_known_ones(policies: Path) -> None:
    with pytest.raises(DatasetError, match=r"unknown policy pack 'nope'; known: us, xeu"):
        Engine.from_dir(DEFAULT_DATA, "us,nope", policies=policies)
