"""A parameter the pack has no value for makes a rule not applicable; a bug never does.

The rule evaluation catches only :class:`ParameterMissing` (raised by the pack's lookup), and
reports the parameter and the date; a ``KeyError`` raised anywhere else (a bug, or the
engine's ``NotFoundError``, which is a ``KeyError``) propagates.
"""

from __future__ import annotations

import datetime as dt

import pytest

from georisk.scoring.engine import Engine, NotFoundError
from georisk.scoring.policy import ParameterMissing
from georisk.scoring.rules import (
    EvalContext,
    RuleCache,
    Verdict,
    evaluate_pack,
    production_credit,
    tariff,
)
from tests.conftest import TODAY

BEFORE_THE_PACK = dt.date(2022, 6, 1)  # 45x.in_force and 30d.available start 2023-01-01


def _context(engine: Engine, on: dt.date, aid: str = "ford-marshall") -> EvalContext:
    return EvalContext(engine.graph(on), engine.pack, engine.dataset.arrangements[aid], on)


def test_parameter_missing_is_a_lookup_error_but_not_a_key_error() -> None:
    exc = ParameterMissing("45x.in_force", BEFORE_THE_PACK, pack="us")
    assert isinstance(exc, LookupError) and not isinstance(exc, KeyError)
    assert (exc.name, exc.on, exc.pack) == ("45x.in_force", BEFORE_THE_PACK, "us")


def test_the_pack_lookup_raises_parameter_missing_naming_parameter_and_date(
    engine: Engine,
) -> None:
    with pytest.raises(ParameterMissing) as info:
        engine.pack.param("45x.in_force", BEFORE_THE_PACK)
    assert info.value.name == "45x.in_force" and info.value.on == BEFORE_THE_PACK
    with pytest.raises(ParameterMissing) as undefined:
        engine.pack.param("no.such", TODAY)
    assert str(undefined.value) == "policy pack 'us' has no parameter 'no.such'"
    assert engine.pack.maybe("45x.in_force", BEFORE_THE_PACK) is None


@pytest.mark.parametrize("cache", [None, RuleCache()])
def test_a_missing_parameter_makes_the_rule_not_applicable_with_its_name_and_date(
    engine: Engine, cache: RuleCache | None
) -> None:
    out = {r.rule: r for r in evaluate_pack(_context(engine, BEFORE_THE_PACK), cache)}
    assert out["us-45x"].verdict is Verdict.NOT_APPLICABLE
    assert out["us-45x"].reason == (
        "the pack records no rule in force: "
        "parameter '45x.in_force' of pack 'us' has no value on 2022-06-01"
    )
    assert out["us-30d"].reason == (
        "the pack records no rule in force: "
        "parameter '30d.available' of pack 'us' has no value on 2022-06-01"
    )


def test_a_parameter_the_pack_does_not_define_is_reported_too(engine: Engine) -> None:
    params = {k: v for k, v in engine.pack.parameters.items() if k != "45x.phase_down"}
    pack = engine.pack.model_copy(update={"parameters": params})
    arr = engine.dataset.arrangements["ford-marshall"]
    ctx = EvalContext(engine.graph(TODAY), pack, arr, TODAY)
    out = {r.rule: r for r in evaluate_pack(ctx)}
    assert out["us-45x"].verdict is Verdict.NOT_APPLICABLE
    assert out["us-45x"].reason == (
        "the pack records no rule in force: policy pack 'us' has no parameter '45x.phase_down'"
    )
    # the same arrangement with the whole pack: the rule applies
    full = {r.rule: r for r in evaluate_pack(_context(engine, TODAY))}
    assert full["us-45x"].verdict is not Verdict.NOT_APPLICABLE


@pytest.mark.parametrize("error", [KeyError("licensing.mode"), NotFoundError("entity", "x")])
@pytest.mark.parametrize("cache", [None, RuleCache()])
def test_a_key_error_from_a_bug_propagates(
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    error: KeyError,
    cache: RuleCache | None,
) -> None:
    def broken(ctx: EvalContext) -> object:
        raise error

    monkeypatch.setattr(production_credit, "_licensing_clause", broken)
    with pytest.raises(KeyError) as info:
        evaluate_pack(_context(engine, TODAY), cache)
    assert info.value is error


def test_a_key_error_inside_another_rule_kind_propagates(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("a bug")

    monkeypatch.setattr(tariff, "finish", broken)
    monkeypatch.setattr(tariff, "not_applicable", broken)
    with pytest.raises(KeyError, match="a bug"):
        evaluate_pack(_context(engine, TODAY))
