"""Properties of the threshold conditions the EU/UK kinds read (scoring/rules/conditions.py):
a condition judged on a fact known within bounds agrees with every exact value inside them
(met or not met only when all of them agree; undetermined otherwise), and all/any compose
three-valued logic."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from georisk.scoring.rules.conditions import OPS, FactValue, judge

values = st.integers(min_value=0, max_value=20).map(lambda x: x / 20)
ops = st.sampled_from(sorted(OPS))


def exact(op: str, x: float, v: float) -> bool:
    return {">": x > v, ">=": x >= v, "<": x < v, "<=": x <= v, "=": x == v}[op]


@settings(max_examples=400, deadline=None)
@given(op=ops, v=values, a=values, b=values)
@example(op="<", v=0.85, a=0.2, b=0.85)  # the upper bound itself decides "<"
def test_bounds_agree_with_every_value_inside(op: str, v: float, a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    cond = {"fact": "stake", "op": op, "value": v}
    got = judge(cond, lambda _b: FactValue.bounded(lo, hi, "stake", unit="share")).met
    grid = [lo, hi, *(lo + (hi - lo) * i / 20 for i in range(1, 20))]  # the bounds exactly
    answers = {exact(op, x, v) for x in grid}
    if got is None:
        assert answers == {True, False} or (op == "=" and lo < hi)
    else:
        assert answers == {got}


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(st.sampled_from([True, False, None]), min_size=1, max_size=4),
    key=st.sampled_from(["all", "any"]),
)
def test_all_and_any_are_three_valued(parts: list[bool | None], key: str) -> None:
    facts = {
        f"f{i}": (
            FactValue.unknown(f"f{i}")
            if p is None
            else FactValue.exact(1.0 if p else 0.0, f"f{i}", unit="bool")
        )
        for i, p in enumerate(parts)
    }
    cond: dict[str, Any] = {
        key: [{"fact": f"f{i}", "op": "=", "value": True} for i in range(len(parts))]
    }
    got = judge(cond, lambda b: facts[str(b["fact"])]).met
    if key == "all":
        want = False if False in parts else None if None in parts else True
    else:
        want = True if True in parts else None if None in parts else False
    assert got is want


def test_an_unknown_fact_is_named_never_read_as_not_met() -> None:
    j = judge(
        {"fact": "eu_turnover", "op": ">=", "value": 5e8, "currency": "EUR"},
        lambda _b: FactValue.unknown("EU turnover of JV [jv]", unit="EUR"),
    )
    assert j.met is None and j.missing == ["EU turnover of JV [jv]"]
    other = judge(
        {"fact": "investment_value", "op": ">=", "value": 3.5e8, "currency": "HUF"},
        lambda _b: FactValue.exact(4e8, "value of the deal", unit="EUR"),
    )
    assert other.met is None and other.missing == ["value of the deal in HUF"]
