"""Rule outcomes reused across scenarios (rules.RuleCache) are the outcomes themselves.

The cache must not change a result: every outcome it hands out equals a fresh evaluation of
the rule under that scenario's pack. And it must be used: scoring one arrangement under the six
shipped scenarios evaluates fewer than 6 × 4 rules.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator

import pytest

from georisk.scoring import rules
from georisk.scoring.engine import Engine
from georisk.scoring.policy import RuleInstance
from georisk.scoring.rules import EvalContext, RuleCache, evaluate_pack
from tests.conftest import TODAY


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    calls: Counter[str] = Counter()
    for kind, fn in list(rules.EVALUATORS.items()):

        def wrapped(
            ctx: EvalContext, rule: RuleInstance, fn: rules.Evaluator = fn
        ) -> rules.RuleOutcome:
            calls[rule.kind] += 1
            return fn(ctx, rule)

        monkeypatch.setitem(rules.EVALUATORS, kind, wrapped)
    yield calls


@pytest.mark.parametrize("on", [TODAY, dt.date(2025, 6, 1), dt.date(2027, 3, 1)])
def test_cached_outcomes_equal_fresh_evaluations(engine: Engine, on: dt.date) -> None:
    cache = RuleCache()
    for aid, arr in sorted(engine.dataset.arrangements.items()):
        for sc in engine.scenarios.scenarios:
            when = max([on, *(o.effective_from for o in sc.overrides if o.effective_from)])
            pack = engine.scenario_pack(sc.id)
            g = engine.graph(when)
            fresh = evaluate_pack(EvalContext(g, pack, arr, when))
            reused = evaluate_pack(EvalContext(g, pack, arr, when), cache)
            assert [r.model_dump() for r in reused] == [r.model_dump() for r in fresh], (aid, sc.id)


def test_scenarios_share_the_rules_their_overrides_do_not_reach(
    engine: Engine, counted: Counter[str]
) -> None:
    e = Engine(engine.dataset, engine.pack, engine.scenarios)
    e.score("ford-marshall", TODAY, remedies=False)
    n_rules = len(e.pack.rules) * len(e.scenarios.scenarios)
    assert sum(counted.values()) < n_rules * 0.75, counted
    # the licensing scenarios change what §45X reads: it is evaluated again for them
    assert counted["production_credit"] >= 3, counted
    # scoring again under another reported scenario evaluates nothing new
    before = sum(counted.values())
    e.score("ford-marshall", TODAY, scenario="house-2025-licensing", remedies=False)
    assert sum(counted.values()) == before


def test_a_rule_evaluated_again_reuses_the_clauses_its_scenario_leaves(
    engine: Engine, counted: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The licensing scenarios evaluate §45X again, but its taxpayer (PFE) and MACR clauses
    read no licensing parameter: each is computed once per date, and the outcomes are the
    fresh ones (test above)."""
    from georisk.scoring.rules import production_credit as pc

    clause_calls: Counter[str] = Counter()
    for name in ("_taxpayer_clause", "_licensing_clause", "_macr_clause"):
        orig = getattr(pc, name)

        def wrapped(ctx: EvalContext, orig: object = orig, name: str = name) -> object:
            clause_calls[f"{name}@{ctx.on}"] += 1
            return orig(ctx)  # type: ignore[operator]

        monkeypatch.setattr(pc, name, wrapped)
    e = Engine(engine.dataset, engine.pack, engine.scenarios)
    e.score("ford-marshall", TODAY, remedies=False)
    dates = {k.split("@")[1] for k in clause_calls}
    assert counted["production_credit"] > len(dates), counted  # evaluated again on a date
    for d in dates:
        assert clause_calls[f"_taxpayer_clause@{d}"] == 1, clause_calls
        assert clause_calls[f"_macr_clause@{d}"] == 1, clause_calls
    # the licensing clause reads what the licensing scenarios change: computed per variant
    assert sum(v for k, v in clause_calls.items() if k.startswith("_licensing")) > len(dates)
