"""The ``tariff`` rule kind: Section 301-style tariffs on imports from covered nations.

Applies when the data records an import (supply or offtake link) from a covered nation into the
producer side; the rate read depends on whether the arrangement makes only storage systems.
"""

from __future__ import annotations

from georisk.scoring.model import LinkKind
from georisk.scoring.policy import RuleInstance
from georisk.scoring.rules.context import EvalContext, nexus
from georisk.scoring.rules.outcome import (
    Clause,
    ParamUse,
    RuleOutcome,
    Verdict,
    finish,
    not_applicable,
)

__all__ = ["FULL_IMPACT_RATE", "MAX_IMPACT", "duty_impact", "evaluate"]

#: scoring scale, not policy: a tariff is an adverse cost, never a lost credit, so its impact
#: is at most MAX_IMPACT, reached at FULL_IMPACT_RATE and proportional below it
MAX_IMPACT = 0.5
FULL_IMPACT_RATE = 0.25


def duty_impact(rate: float) -> float:
    """The impact of paying ``rate`` on imports (a tariff or a duty): proportional up to
    :data:`MAX_IMPACT`, reached at :data:`FULL_IMPACT_RATE`.

    >>> duty_impact(0.125), duty_impact(0.353)
    (0.25, 0.5)
    """
    return min(1.0, rate / FULL_IMPACT_RATE) * MAX_IMPACT


def evaluate(ctx: EvalContext, rule: RuleInstance) -> RuleOutcome:
    """The tariff the arrangement's recorded imports from covered nations pay."""
    why = nexus(ctx, rule)
    if why:
        return not_applicable(rule, why)
    covered = ctx.pfe.covered_nations
    side = set(ctx.producer_side())
    imports = [
        l
        for x in sorted(side)
        for l in ctx.links_into(x, [LinkKind.SUPPLY, LinkKind.OFFTAKE])
        if ctx.g.entity(l.source).country in covered
    ]
    if not imports:
        return not_applicable(
            rule, "no import of batteries from a covered nation recorded for the producer side"
        )
    uses: list[ParamUse] = []
    text = ctx.text("tariff.text.section_301")
    storage_only = {p.value for p in ctx.arr.products} <= {"storage"}
    rate = float(
        ctx.param(
            "tariff.301.non_ev_batteries" if storage_only else "tariff.301.ev_batteries", uses
        )
    )
    c = Clause(
        id="section_301",
        title=text.title,
        clause=text.clause or rule.clause,
        verdict=Verdict.AT_RISK,
        params=uses,
        links=[l.id for l in imports],
        reason=f"imports from a covered nation pay {rate:.1%}"
        + (f" ({text.cite})" if text.cite else ""),
        impact=duty_impact(rate),
    )
    return finish(rule, [c], impact=c.impact)
