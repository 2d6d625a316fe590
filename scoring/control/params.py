"""The parameters of the ownership and PFE tests (:class:`PfeParams`), and their defaults.

The policy pack supplies them per jurisdiction and date
(:func:`georisk.scoring.rules.pfe_params`); the defaults are those of brief.md §3.

>>> p = PfeParams()
>>> p.fce_threshold, p.fce_inclusive, p.fie_single
(0.5, False, 0.25)

The titles and citations the tests quote come from the pack too (``pfe.text.*``); without a
pack they cite the section only, no sub-clause:

>>> p.text("fie_single")
('one SFE owns at least {threshold}, directly or indirectly', '§7701(a)(51)')
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

__all__ = ["PFE_TEXT_KEYS", "PfeParams", "Semantics"]

#: how indirect holdings count: "chain" (majority-chain control) or "integrated" (multiplied)
Semantics = Literal["chain", "integrated"]

#: the tests whose title and citation the pack supplies as ``pfe.text.<key>``; a title may hold
#: ``{threshold}`` (the test's threshold as a percentage) and ``{op}`` ("more than"/"at least")
PFE_TEXT_KEYS = (
    "listed",
    "covered_party",
    "foreign_controlled",
    "fie_appointment",
    "fie_single",
    "fie_aggregate",
    "fie_debt",
)

#: neutral defaults (no pack): the section, no sub-clause
_SECTION = "§7701(a)(51)"
DEFAULT_TEXTS: tuple[tuple[str, str, str], ...] = (
    ("listed", "on a list whose members are specified foreign entities", _SECTION),
    (
        "covered_party",
        "a covered-nation government, national, or entity organized or with its principal "
        "place of business in a covered nation",
        _SECTION,
    ),
    (
        "foreign_controlled",
        "{op} {threshold} owned or controlled by covered-nation parties",
        _SECTION,
    ),
    ("fie_appointment", "an SFE has authority to appoint a covered officer", _SECTION),
    ("fie_single", "one SFE owns at least {threshold}, directly or indirectly", _SECTION),
    ("fie_aggregate", "SFEs together own at least {threshold}", _SECTION),
    ("fie_debt", "SFEs hold at least {threshold} of its debt", _SECTION),
)


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
    #: (key, title, citation) of each test (:data:`PFE_TEXT_KEYS`), from the pack's
    #: ``pfe.text.*`` clause texts (:func:`georisk.scoring.rules.pfe_params`)
    texts: tuple[tuple[str, str, str], ...] = DEFAULT_TEXTS
    #: build the explanations of tests that come out FALSE (their path listings, the SFE
    #: holders and their shares). The ownership report (GetOwnership) needs them; scoring reads
    #: only the tests that are not FALSE, so its parameters set ``explain=False`` and the FIE
    #: ownership tests are then first screened by whole-graph vectors (no walk of the
    #: subject's upstream when aggregate SFE ownership is below the thresholds). Verdicts,
    #: and everything of the tests that are not FALSE, are the same either way.
    explain: bool = True

    @cached_property
    def key(self) -> str:
        """The parameters' part of a cache key, computed once (a repr with the pack's texts
        costs ~40 µs, and the tests build several keys per call): every field but
        ``explain``, which changes no whole-graph vector (results add it to their keys)."""
        return repr(replace(self, explain=True))

    def text(self, key: str) -> tuple[str, str]:
        """(title, citation) of test ``key``; the neutral default when the pack has none."""
        for k, title, clause in (*self.texts, *DEFAULT_TEXTS):
            if k == key:
                return title, clause
        raise KeyError(key)
