"""The parameters of the ownership and PFE tests (:class:`PfeParams`), and their defaults.

The policy pack supplies them per jurisdiction and date
(:func:`georisk.scoring.rules.pfe_params`); the defaults are those of brief.md §3.

>>> p = PfeParams()
>>> p.fce_threshold, p.fce_inclusive, p.fie_single
(0.5, False, 0.25)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PfeParams", "Semantics"]

#: how indirect holdings count: "chain" (majority-chain control) or "integrated" (multiplied)
Semantics = Literal["chain", "integrated"]


@dataclass(frozen=True)
class PfeParams:
    """Parameters of the 2025 PFE tests (defaults: brief.md §3 and its rule-parameter table).

    The policy pack (``data/policies/``) supplies these per jurisdiction and date.
    """

    covered_nations: frozenset[str] = frozenset({"CN", "RU", "IR", "KP"})
    #: lists whose members are SFEs per se (§7701(a)(51)(B)): 1260H, UFLPA, NDAA FY2024 §154
    sfe_lists: frozenset[str] = frozenset({"dod-1260h", "uflpa-entity-list", "ndaa-fy2024-154"})
    fce_threshold: float = 0.5
    fce_inclusive: bool = False  # "more than 50 percent"
    fce_semantics: Semantics = "chain"
    fie_single: float = 0.25
    fie_aggregate: float = 0.40
    fie_debt: float = 0.15
    fie_single_semantics: Semantics = "integrated"
    fie_appointment: bool = True
    max_depth: int = 8
    max_paths: int = 25
