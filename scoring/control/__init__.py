"""Control, covered-nation exposure and the US 2025 prohibited-foreign-entity (PFE) tests.

Each function answers one question about one entity on the graph's date and returns its
explanation with it: the paths (links, shares, products, sources) that decide it, the
unconfirmed facts it rests on, and whether a listing was truncated.

Semantics, stated and configurable (:class:`PfeParams`):

* **Owned, multiplicative** ("integrated"): multiply shares along a path, add across paths
  (Vitali, Glattfelder & Battiston 2011, Appendix S1 §3). Used for covered-nation exposure and
  the FIE single-SFE (≥ 25%) and aggregate (≥ 40%) ownership tests, which the sources word as
  ownership "directly or indirectly" (foreign-influenced entity, 26 U.S.C. §7701(a)(51), as
  reported in brief.md §3). In the FIE tests each chain counts once and no chain passes
  through the subject itself (:mod:`.pfe`): one SFE never exceeds all SFEs together, and the
  subject's own stake in itself never counts.
* **Controlled, by chain** ("chain"): a threshold fixed point — an entity is controlled by a
  set when the set's members and what they already control together hold more than 50% of it
  (Eurostat 2010 majority-chain control; the OFAC 50% rule uses the same fixed point with ≥ 50%).
  Used by default for the foreign-controlled-entity test ("more than 50% owned or controlled
  by"; a foreign-controlled entity is an SFE, §7701(a)(51)(B)): with
  ``fce_semantics="integrated"`` it uses multiplied ownership instead.

The tests' titles and citations are the policy pack's (``pfe.text.*``, carried in
:class:`PfeParams`); their findings name entities first with ids in brackets and say why each
SFE is one (:func:`sfe_basis`, :func:`pfe_sentence`).

Covered-nation parties (the seeds of the foreign-controlled test) are: governments and state
bodies of a covered nation; persons whose nationality is a covered nation and who are not known
to be US citizens or permanent residents; and entities organized in, or with their principal
place of business in, a covered nation. Facilities are assets, never seeds.

Worked example (brief.md §3, examples.md 8–9): Envision Group (organized in CN) holds 75% of AESC
(JP) → AESC is foreign-controlled (> 50%) → a specified foreign entity, and so is AESC's wholly
owned US subsidiary.

The package, by responsibility: :mod:`.params` (:class:`PfeParams`), :mod:`.exposure`
(covered-nation parties and exposure), :mod:`.controllers` (majority-chain control),
:mod:`.pfe` (the SFE and FIE tests) and :mod:`.report` (the ownership report of one entity).
"""

from __future__ import annotations

from georisk.scoring.control.controllers import (
    CONTROL_DEPTH,
    ControlResult,
    controllers_of,
    ultimate_controllers,
)
from georisk.scoring.control.exposure import (
    ExposureResult,
    covered_exposure,
    covered_parties,
    covered_paths,
    covered_share,
)
from georisk.scoring.control.params import PfeParams, Semantics
from georisk.scoring.control.pfe import (
    FieResult,
    RuleTest,
    SfeHolder,
    SfeResult,
    foreign_influenced,
    pfe_sentence,
    prepare_screens,
    sfe_basis,
    specified_foreign_entity,
)
from georisk.scoring.control.report import (
    DirectHolder,
    EntitySummary,
    ListEntry,
    OwnershipReport,
    entity_summary,
    ownership_report,
)

__all__ = [
    "CONTROL_DEPTH",
    "ControlResult",
    "DirectHolder",
    "EntitySummary",
    "ExposureResult",
    "FieResult",
    "ListEntry",
    "OwnershipReport",
    "PfeParams",
    "RuleTest",
    "Semantics",
    "SfeHolder",
    "SfeResult",
    "controllers_of",
    "covered_exposure",
    "covered_parties",
    "covered_paths",
    "covered_share",
    "entity_summary",
    "foreign_influenced",
    "ownership_report",
    "pfe_sentence",
    "prepare_screens",
    "sfe_basis",
    "specified_foreign_entity",
    "ultimate_controllers",
]
