"""What a rule evaluation returns: verdicts, clauses, outcomes, and how clauses make an outcome.

A rule kind (:mod:`.production_credit`, :mod:`.vehicle_credit`, :mod:`.list_effects`,
:mod:`.tariff`) checks its clauses one by one; each :class:`Clause` carries its verdict, the
pack parameters it read (:class:`ParamUse`), the evidence and the facts it misses. :func:`finish`
turns the clauses into the rule's :class:`RuleOutcome` (the worst decisive verdict, the open
conditions, the sources); :func:`not_applicable` is the outcome of a rule that does not reach the
arrangement.

>>> worst([Verdict.ELIGIBLE, Verdict.AT_RISK, Verdict.NOT_APPLICABLE])
<Verdict.AT_RISK: 'at_risk'>
>>> RETAINED[Verdict.AT_RISK]
0.5
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from georisk.scoring.control import RuleTest
from georisk.scoring.model import ReportedCredit
from georisk.scoring.policy import RuleInstance

__all__ = [
    "RETAINED",
    "Amount",
    "Clause",
    "ParamUse",
    "RuleOutcome",
    "Verdict",
    "finish",
    "not_applicable",
    "worst",
]


class Verdict(StrEnum):
    ELIGIBLE = "eligible"  # passes: the credit is kept / no restriction applies
    AT_RISK = "at_risk"  # undetermined: depends on missing or unconfirmed facts (named)
    NOT_ELIGIBLE = "not_eligible"  # fails: credit lost / restriction applies
    NOT_APPLICABLE = "not_applicable"  # no nexus: the rule does not reach the arrangement


#: share of a rule's benefit kept under each verdict (used for the policy-sensitivity impact)
RETAINED: dict[Verdict, float] = {
    Verdict.ELIGIBLE: 1.0,
    Verdict.AT_RISK: 0.5,
    Verdict.NOT_ELIGIBLE: 0.0,
    Verdict.NOT_APPLICABLE: 1.0,
}
_SEVERITY = {
    Verdict.NOT_APPLICABLE: 0,
    Verdict.ELIGIBLE: 1,
    Verdict.AT_RISK: 2,
    Verdict.NOT_ELIGIBLE: 3,
}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The most severe verdict (not applicable < eligible < at risk < not eligible).

    An empty list is eligible: no clause fails.

    >>> worst([Verdict.NOT_ELIGIBLE, Verdict.AT_RISK])
    <Verdict.NOT_ELIGIBLE: 'not_eligible'>
    >>> worst([])
    <Verdict.ELIGIBLE: 'eligible'>
    """
    vs = list(verdicts)
    return max(vs, key=_SEVERITY.__getitem__) if vs else Verdict.ELIGIBLE


class ParamUse(BaseModel):
    """A pack parameter as read for a verdict: value, validity and marks."""

    id: str
    value: Any
    effective_from: dt.date | None
    sources: list[str]
    unconfirmed: bool = False
    conflict: str | None = None


class Amount(BaseModel):
    """An estimated amount (a range), how it was estimated, and a figure the sources report."""

    min: float
    max: float
    unit: str
    basis: str | None = Field(default=None, description="how the estimate was made, in words")
    reported: ReportedCredit | None = Field(
        default=None,
        description="a figure the sources report, beside (not instead of) the estimate",
    )


class Clause(BaseModel):
    id: str
    title: str
    clause: str
    verdict: Verdict
    reason: str
    decisive: bool = Field(default=True, description="false: reported, but not in the verdict")
    params: list[ParamUse] = Field(default_factory=list)
    evidence: list[RuleTest] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="facts that would decide it")
    unconfirmed: list[str] = Field(default_factory=list, description="unconfirmed facts used")
    impact: float = Field(default=0.0, description="adverse impact 0..1 (list effects)")
    outcome: str | None = Field(
        default=None,
        description="what the clause means in the rule's own words (EU/UK kinds): mandatory "
        "filing, voluntary filing advisable, no filing, required, not yet required, duty 17%, …",
    )


class RuleOutcome(BaseModel):
    rule: str
    kind: str
    title: str
    clause: str
    verdict: Verdict
    reason: str
    clauses: list[Clause]
    impact: float = Field(description="adverse impact 0..1 of this rule in this scenario")
    credit: Amount | None = Field(default=None, description="estimated annual credit if eligible")
    open_conditions: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    unconfirmed: list[str] = Field(default_factory=list)
    unconfirmed_params: list[str] = Field(default_factory=list)
    sources: list[str]
    outcome: str | None = Field(
        default=None,
        description="the rule's outcome in its own words (EU/UK kinds: mandatory filing, "
        "voluntary filing advisable, no filing, required, …); None for the US kinds",
    )


def not_applicable(rule: RuleInstance, reason: str, outcome: str | None = None) -> RuleOutcome:
    """The outcome of a rule that does not reach the arrangement (no nexus, not in force…)."""
    return RuleOutcome(
        outcome=outcome,
        rule=rule.id,
        kind=rule.kind,
        title=rule.title,
        clause=rule.clause,
        verdict=Verdict.NOT_APPLICABLE,
        reason=reason,
        clauses=[],
        impact=0.0,
        sources=list(rule.sources),
    )


def finish(
    rule: RuleInstance,
    clauses: list[Clause],
    impact: float,
    credit: Amount | None = None,
    reason: str | None = None,
    outcome: str | None = None,
    fact_sources: Iterable[str] = (),
) -> RuleOutcome:
    """The rule's outcome from its clauses: the worst decisive verdict and why.

    Non-decisive clauses at risk become open conditions; missing and unconfirmed facts, the
    unconfirmed or conflicting parameters read and the sources are gathered from the clauses;
    ``fact_sources`` adds the dataset sources of the facts the clauses read (EU/UK kinds).
    """
    decisive = [c for c in clauses if c.decisive]
    verdict = worst(c.verdict for c in decisive) if decisive else Verdict.ELIGIBLE
    open_conditions = [
        f"{c.title}: {c.reason}" for c in clauses if not c.decisive and c.verdict is Verdict.AT_RISK
    ]
    missing = sorted({m for c in clauses for m in c.missing})
    unconfirmed = sorted({u for c in clauses if c.decisive for u in c.unconfirmed})
    uparams = sorted(
        {p.id for c in clauses if c.decisive for p in c.params if p.unconfirmed or p.conflict}
    )
    if reason is None:
        bad = [c for c in decisive if c.verdict is verdict]
        reason = "; ".join(f"{c.title}: {c.reason}" for c in bad) or "all clauses pass"
    srcs = sorted(
        {*rule.sources, *(s for c in clauses for p in c.params for s in p.sources), *fact_sources}
    )
    return RuleOutcome(
        outcome=outcome,
        rule=rule.id,
        kind=rule.kind,
        title=rule.title,
        clause=rule.clause,
        verdict=verdict,
        reason=reason,
        clauses=clauses,
        impact=impact,
        credit=credit,
        open_conditions=open_conditions,
        missing=missing,
        unconfirmed=unconfirmed,
        unconfirmed_params=uparams,
        sources=srcs,
    )
