"""The uncached score's shortcuts give the answers of the long way (issue 16, bench/score_bench.py).

* A stake remedy's bisection confirmed from the pack's thresholds (two evaluations) ends on the
  share the plain bisection (twelve) finds, for any threshold-shaped rule and on the shipped data.
* A remedy candidate evaluates only the failing rule (``Engine.rule_outcome``): the same outcome
  as that rule in the whole scenario's evaluation.
* Scoring's PFE parameters are memoized per (pack, date) and unexplained (``explain=False``),
  while the ownership report still explains every test.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace

import pytest

from georisk.scoring import remedies, score
from georisk.scoring.control import foreign_influenced
from georisk.scoring.engine import DEFAULT_DATA, Engine, View
from georisk.scoring.interval import Tri
from georisk.scoring.overlay import Overlay
from georisk.scoring.rules import pfe_params

ON = dt.date(2026, 11, 22)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_dir(DEFAULT_DATA)


def test_hinted_bisection_ends_where_the_bisection_ends() -> None:
    rng = random.Random(16)
    for _ in range(400):
        current = rng.choice([1.0, 0.75, rng.uniform(0.01, 1.0)])
        t = rng.choice([0.25, 0.4, 0.5, rng.uniform(0.0, current)])
        inclusive = rng.random() < 0.5

        def passes(x: float, t: float = t, inclusive: bool = inclusive) -> bool:
            return x <= t if inclusive else x < t

        calls: list[float] = []

        def counted(x: float, calls: list[float] = calls) -> bool:
            calls.append(x)
            return passes(x)

        hints = rng.sample([0.15, 0.25, 0.4, 0.5, t], k=rng.randint(1, 5))
        got = remedies._hinted_bisect(counted, current, hints)
        if got is not None:  # confirmed: exactly the bisection's answer
            assert got == remedies._bisect(passes, current)
        if t in hints:  # the right hint is always confirmed, with two evaluations each try
            assert got is not None
            assert len(calls) <= 4 * hints.index(t) + 4


def test_stake_remedies_match_the_plain_bisection(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrs = ["aesc-florence-sc", "gotion-manteno-il"]
    fast = {a: engine.score(a, ON, view=View.FULL).remedies for a in arrs}
    assert all(fast.values())  # both have stake remedies ("to at most 24.97%")
    assert any("to at most 24.97%" in r.change for r in fast["gotion-manteno-il"])
    monkeypatch.setattr(remedies, "_hinted_bisect", lambda *a, **k: None)
    plain = Engine.from_dir(DEFAULT_DATA)
    for a in arrs:
        assert [r.model_dump() for r in plain.score(a, ON, view=View.FULL).remedies] == [
            r.model_dump() for r in fast[a]
        ]


def test_a_stake_remedy_costs_a_few_candidates(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = remedies._verdict

    def counting(*args: object) -> object:
        seen.append(str(args[2].change))  # type: ignore[attr-defined]
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(remedies, "_verdict", counting)
    fresh = Engine(engine.dataset, engine.pack, engine.scenarios)
    got = fresh.score("gotion-manteno-il", ON, view=View.FULL).remedies
    assert len(got) == 1
    assert len(seen) <= 4  # hint confirmed (2) + the share reported (1); the bisection took 14


def test_rule_outcome_is_the_scenario_evaluations_rule(engine: Engine) -> None:
    for scenario in ("current-law", "repeal-45x-batteries"):
        whole = engine.evaluate("aesc-florence-sc", ON, scenario)
        for r in whole.rules:
            alone = engine.rule_outcome("aesc-florence-sc", ON, scenario, r.rule)
            assert alone.model_dump() == r.model_dump()


def test_scoring_pfe_params_are_memoized_and_unexplained(engine: Engine) -> None:
    p = pfe_params(engine.pack, ON)
    assert p is pfe_params(engine.pack, ON)
    assert p.explain is False
    assert pfe_params(engine.scenario_pack("house-2025-licensing"), ON) is not p
    # GetOwnership (Engine.ownership, on the same parameters) explains every test all the same
    g = engine.graph(ON)
    for entity in ("catl", "aesc-us", "gotion-inc"):
        report = engine.ownership(entity, ON).foreign_influenced_entity
        explained = foreign_influenced(g, entity, replace(p, explain=True))
        assert report.model_dump() == explained.model_dump()
    lean = foreign_influenced(g, "catl", p)  # what scoring reads: the same verdicts
    assert [t.verdict for t in lean.tests] == [
        t.verdict for t in engine.ownership("catl", ON).foreign_influenced_entity.tests
    ]
    assert any(t.verdict is Tri.FALSE for t in lean.tests)


def test_the_equity_axis_scores_sfe_debt_only_where_there_is_debt(engine: Engine) -> None:
    """The equity axis reads the FIE debt test only for a subject with debt in-links (the
    shipped data has none): an SFE lender still adds its line, scaled to the pack's 15%."""
    ov = Overlay.model_validate(
        {
            "id": "catl-lends-to-ford",
            "arrangement": "ford-marshall",
            "add": {
                "links": [
                    {
                        "id": "catl-ford-debt",
                        "kind": "debt",
                        "source": "catl",
                        "target": "ford",
                        "share": 0.06,
                        "sources": ["d1"],
                    }
                ]
            },
        }
    )
    before = engine.score("ford-marshall", ON, view=View.FULL, remedies=False).equity
    after = engine.score("ford-marshall", ON, view=View.FULL, overlay=ov, remedies=False).equity
    assert not [c for c in before.contributions if c.label == "debt held by SFEs"]
    (debt,) = [c for c in after.contributions if c.label == "debt held by SFEs"]
    assert debt.links == ["catl-ford-debt"]
    assert "SFEs hold up to 6% of Ford Motor Company [ford]'s debt" in debt.detail
    assert debt.points == pytest.approx(score.EQUITY_POINTS["debt"] * 0.06 / 0.15)
