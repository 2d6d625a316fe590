"""Evaluating a policy pack: each rule instance by the code of its kind.

:data:`EVALUATORS` maps a rule kind to its evaluation (one module per kind);
:func:`evaluate_pack` runs every rule of the context's pack, through a :class:`RuleCache` when
given one.

>>> sorted(EVALUATORS)[:3]
['acquisition_screening', 'countervailing_duty', 'fsr_concentration']
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from georisk.scoring.policy import ParameterMissing, RuleInstance
from georisk.scoring.rules import (
    acquisition_screening,
    countervailing_duty,
    foreign_subsidies,
    list_effects,
    market_obligation,
    origin_share,
    production_credit,
    rules_of_origin,
    tariff,
    vehicle_credit,
)
from georisk.scoring.rules.cache import RuleCache
from georisk.scoring.rules.context import EvalContext
from georisk.scoring.rules.outcome import RuleOutcome, not_applicable

__all__ = ["EVALUATORS", "Evaluator", "evaluate_pack", "evaluate_rule"]

Evaluator = Callable[[EvalContext, RuleInstance], RuleOutcome]

#: the rule kinds a pack may instantiate, and the code of each
EVALUATORS: dict[str, Evaluator] = {
    "production_credit": production_credit.evaluate,
    "vehicle_credit": vehicle_credit.evaluate,
    "list_effects": list_effects.evaluate,
    "tariff": tariff.evaluate,
    "acquisition_screening": acquisition_screening.evaluate,
    "fsr_concentration": foreign_subsidies.evaluate_concentration,
    "fsr_procurement": foreign_subsidies.evaluate_procurement,
    "market_obligation": market_obligation.evaluate,
    "origin_share": origin_share.evaluate,
    "countervailing_duty": countervailing_duty.evaluate,
    "rules_of_origin": rules_of_origin.evaluate,
}


def evaluate_pack(ctx: EvalContext, cache: RuleCache | None = None) -> list[RuleOutcome]:
    """Every rule of the pack for the context's arrangement and date (reusing outcomes from
    ``cache`` where the rule read the same parameter values)."""
    out = []
    for rule in ctx.pack.rules:
        fn = EVALUATORS.get(rule.kind)
        if fn is None:
            raise KeyError(
                f"policy pack {ctx.pack.pack.id!r}: rule {rule.id!r} has unknown kind "
                f"{rule.kind!r}; known kinds: {sorted(EVALUATORS)}"
            )
        if cache is None:
            out.append(evaluate_rule(ctx, rule, fn))
        else:
            ctx.parts = cache.part
            out.append(cache.outcome(ctx, rule, partial(evaluate_rule, ctx, rule, fn)))
    return out


def evaluate_rule(ctx: EvalContext, rule: RuleInstance, fn: Evaluator) -> RuleOutcome:
    """``fn(ctx, rule)``; a parameter the pack has no value for makes the rule not applicable.

    Only :class:`~georisk.scoring.policy.ParameterMissing` is caught: the outcome names the
    parameter and the date. Every other exception (a ``KeyError`` from a bug included)
    propagates.
    """
    try:
        return fn(ctx, rule)
    except ParameterMissing as exc:
        return not_applicable(rule, f"the pack records no rule in force: {exc}")
