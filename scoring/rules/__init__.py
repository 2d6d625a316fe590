"""Rule kinds: how a policy pack's rules are evaluated for one arrangement on one date.

A pack (:mod:`georisk.scoring.policy`) is data; the *kinds* of rule it may instantiate are code,
one module each. The US kinds: :mod:`.production_credit` (§45X), :mod:`.vehicle_credit` (§30D),
:mod:`.list_effects` (restricted-party lists) and :mod:`.tariff` (Section 301). The EU/UK kinds:
:mod:`.acquisition_screening` (FDI screening, UK NSIA), :mod:`.foreign_subsidies` (FSR
concentrations and tenders), :mod:`.origin_share` (NZIA resilience), :mod:`.countervailing_duty`
(duties by producer, undertakings), :mod:`.rules_of_origin` (EU–UK TCA) and
:mod:`.market_obligation` (Battery Regulation obligations by date), whose thresholds are
:mod:`.conditions` (a boundary with its own direction, three-valued). The package's other modules
are what they share: :mod:`.outcome` (verdicts, clauses, outcomes), :mod:`.context` (the
arrangement, graph, pack and date a rule reads; a kind's parameters through the instance's
``params``), :mod:`.cache` (outcomes reused across scenarios) and :mod:`.evaluate` (the kinds'
table and :func:`evaluate_pack`).

Every clause reports its verdict, the parameters it read (value, date, sources, UNCONFIRMED and
conflict marks), the evidence (ownership tests with paths), the facts it is missing and the
unconfirmed facts it rests on.

A new rule kind is a new module here with an ``evaluate(ctx, rule)`` function, registered in
:data:`EVALUATORS`.
"""

from __future__ import annotations

from georisk.scoring.rules.cache import RuleCache
from georisk.scoring.rules.context import (
    PFE_PARAMS,
    EvalContext,
    links_into,
    nexus,
    pfe_params,
    year_table,
)
from georisk.scoring.rules.evaluate import EVALUATORS, Evaluator, evaluate_pack, evaluate_rule
from georisk.scoring.rules.outcome import (
    RETAINED,
    Amount,
    Clause,
    ParamUse,
    RuleOutcome,
    Verdict,
    finish,
    not_applicable,
    worst,
)

__all__ = [
    "EVALUATORS",
    "PFE_PARAMS",
    "RETAINED",
    "Amount",
    "Clause",
    "EvalContext",
    "Evaluator",
    "ParamUse",
    "RuleCache",
    "RuleOutcome",
    "Verdict",
    "evaluate_pack",
    "evaluate_rule",
    "finish",
    "links_into",
    "nexus",
    "not_applicable",
    "pfe_params",
    "worst",
    "year_table",
]
