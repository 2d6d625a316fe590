"""Remedies: the smallest structural changes that make a failing credit rule pass.

For each credit rule that is *not eligible* or *at risk* in the chosen scenario, candidate
changes are built from the clauses that fail — stakes on the ownership paths that make the
taxpayer an SFE/FIE, SFE debt and appointment rights, and the licence terms that indicate
effective control — and each is tried as a what-if overlay. A stake is lowered by bisection to
the largest value that passes (e.g. "cut X's stake in Y from 100% to 24.99%"). Remedies that
pass are ranked by size: share points moved, or number of terms changed.

Nothing here is legal advice: a remedy is a structural counterfactual under the pack's
parameters, including their UNCONFIRMED marks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from georisk.scoring.dataset import Dataset, DatasetError
from georisk.scoring.model import KnowHowTransfer, Link, LinkKind
from georisk.scoring.overlay import Overlay
from georisk.scoring.rules import RuleOutcome, Verdict, pfe_params
from georisk.scoring.score import ScenarioOutcome
from georisk.scoring.wording import named, prose_list

if TYPE_CHECKING:
    from georisk.scoring.policy import PolicyPack

__all__ = ["Remedy", "Scorer", "find_remedies"]

CREDIT_KINDS = {"production_credit", "vehicle_credit"}
MAX_REMEDIES = 6
BISECT_STEPS = 12


class Remedy(BaseModel):
    """A smallest structural change found that makes a failing rule pass."""

    rule: str
    change: str
    overlay: Overlay
    size: float = Field(description="share points moved, or number of terms changed")
    verdict_after: Verdict


class Scorer(Protocol):
    """What the search needs of an engine (:class:`.engine.Engine` is one)."""

    def rule_outcome(
        self, arrangement: str, on: dt.date, scenario: str, rule: str, ds: Dataset | None = None
    ) -> RuleOutcome:
        """The outcome of one rule of one scenario for an arrangement of ``ds`` on ``on``."""
        ...

    def scenario_pack(self, sid: str) -> PolicyPack:
        """The policy pack as the scenario ``sid`` changes it."""
        ...

    def overlaid(self, ds: Dataset, ov: Overlay) -> Dataset:
        """``ds`` with ``ov`` applied incrementally (:func:`.overlay.apply_overlay`)."""
        ...


def _verdict(
    engine: Scorer, ds: Dataset, ov: Overlay, on: dt.date, scenario: str, rule: str
) -> Verdict | None:
    try:
        ds2 = engine.overlaid(ds, ov)
    except DatasetError:
        return None
    return engine.rule_outcome(ov.arrangement, on, scenario, rule, ds2).verdict


def _passes(v: Verdict | None) -> bool:
    return v in (Verdict.ELIGIBLE, Verdict.NOT_APPLICABLE)


def _bisect(passes: Callable[[float], bool], current: float) -> float:
    """The bisection of ``[0, current]`` (:data:`BISECT_STEPS` halvings; 0 is known to pass):
    the largest share tried that passes."""
    lo, hi = 0.0, current
    for _ in range(BISECT_STEPS):
        mid = (lo + hi) / 2
        if passes(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _hinted_bisect(
    passes: Callable[[float], bool], current: float, hints: Iterable[float]
) -> float | None:
    """:func:`_bisect`'s answer from two evaluations of ``passes`` instead of twelve, or None
    when no hint is confirmed.

    The bisection assumes what it finds is a threshold: a share passes when it is below the
    share at which the rule starts to fail. For a hinted threshold ``t`` (the pack's
    thresholds, at which a stake usually starts to fail), the bisection is played against
    "passes iff below ``t``" (and "iff at most ``t``"); that gives the shares it would try,
    the largest passing one ``a`` and the smallest failing one ``b``. Two real evaluations
    confirm the hint: if ``a`` passes and ``b`` fails, every share the bisection tries below
    ``a`` passes and every one above ``b`` fails, so it takes the same steps and ends on ``a``.
    (``a`` passing, so does 0.) An unconfirmed hint costs those evaluations (``passes``
    should memoize: the bisection may try the same shares) and the next is tried.

    >>> calls = []
    >>> def passes(x):
    ...     calls.append(x)
    ...     return x < 0.3
    >>> _hinted_bisect(passes, 1.0, [0.3]) == _bisect(lambda x: x < 0.3, 1.0), len(calls)
    (True, 2)
    >>> _hinted_bisect(passes, 1.0, [0.5]) is None
    True
    """
    for t in hints:
        for below in (True, False):
            tried: list[float] = []

            def played(
                x: float, t: float = t, below: bool = below, tried: list[float] = tried
            ) -> bool:
                tried.append(x)
                return x < t if below else x <= t

            a = _bisect(played, current)
            failing = [x for x in tried if (x >= t if below else x > t)]
            if passes(a) and (not failing or not passes(min(failing))):
                return a
    return None


def _stake_remedy(
    engine: Scorer,
    ds: Dataset,
    arr: str,
    on: dt.date,
    scenario: str,
    rule: str,
    link: Link,
    hints: list[float],
) -> Remedy | None:
    def ov(x: float) -> Overlay:
        return Overlay(
            id=f"cut-{link.id}",
            arrangement=arr,
            change={"links": [{"id": link.id, "share": round(x, 6)}]},
        )

    verdicts: dict[float, Verdict | None] = {}  # by the share the overlay sets

    def verdict(x: float) -> Verdict | None:
        key = round(x, 6)
        if key not in verdicts:
            verdicts[key] = _verdict(engine, ds, ov(x), on, scenario, rule)
        return verdicts[key]

    current = link.share_interval().hi
    lo = _hinted_bisect(lambda x: _passes(verdict(x)), current, hints)
    if lo is None:  # no hint confirmed: the bisection, if the stake's removal passes at all
        if not _passes(verdict(0.0)):
            return None
        lo = _bisect(lambda x: _passes(verdict(x)), current)
    best = int(lo * 10_000) / 10_000  # round down to 0.01 percentage point
    ents = ds.entities
    change = (
        f"reduce {named(ents, link.source)}'s {link.kind.value} in {named(ents, link.target)} "
        f"({link.id}) from {current:.2%} to at most {best:.2%}"
    )
    return Remedy(
        rule=rule,
        change=change,
        overlay=ov(best),
        size=round((current - best) * 100, 2),
        verdict_after=verdict(best) or Verdict.AT_RISK,
    )


def _thresholds(pack: PolicyPack, on: dt.date, kind: LinkKind) -> list[float]:
    """The pack's ownership thresholds in force on ``on``, hints for the bisection of a stake
    of ``kind``: the one SFE share (the debt share for debt) first, then the others."""
    p = pfe_params(pack, on)
    first = p.fie_debt if kind is LinkKind.DEBT else p.fie_single
    rest = sorted({p.fie_single, p.fie_aggregate, p.fie_debt, p.fce_threshold} - {first})
    return [first, *rest]


def _compliant_licence(link: Link, ind: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    t = link.licence.model_dump(mode="json", exclude_defaults=True) if link.licence else {}
    changes = []
    roy, svc = ind.get("royalty_years_max", 10), ind.get("service_years_max", 2)
    if (
        link.licence is None
        or link.licence.royalty_years is None
        or link.licence.royalty_years > roy
    ):
        t["royalty_years"] = roy
        changes.append(f"royalties for at most {roy} years")
    if (
        link.licence is None
        or link.licence.service_years is None
        or link.licence.service_years > svc
    ):
        t["service_years"] = svc
        changes.append(f"services for at most {svc} years")
    if link.licence is not None and link.licence.licensor_controls:
        t["licensor_controls"] = []
        changes.append(
            "licensor gives up control of "
            + prose_list(c.replace("_", " ") for c in link.licence.licensor_controls)
        )
    if link.licence is None or link.licence.know_how_transfer is not KnowHowTransfer.FULL:
        t["know_how_transfer"] = "full"
        changes.append("full transfer of technical data and know-how")
    return t, changes


def _licence_remedies(
    engine: Scorer, ds: Dataset, arr: str, on: dt.date, scenario: str, rule: RuleOutcome, link: Link
) -> list[Remedy]:
    out = []
    pack = engine.scenario_pack(scenario)
    ind_v = pack.maybe("licensing.indicators", on)
    ind = ind_v.value if ind_v is not None and isinstance(ind_v.value, dict) else {}
    terms, changes = _compliant_licence(link, ind)
    focal, st = ds.arrangements[arr].focal, ds.store
    remove = [
        l.id
        for l in map(st.at, st.where(targets=[focal], kinds=[LinkKind.OPERATION]).tolist())
        if l.source == link.source
    ]
    if remove:
        changes.append(f"{named(ds.entities, link.source)} no longer operates the plant")
    candidates = [
        (
            Overlay(
                id=f"terms-{link.id}",
                arrangement=arr,
                change={"links": [{"id": link.id, "licence": terms}]},
                remove={"links": remove},
            ),
            "; ".join(changes),
            float(len(changes)),
        ),
        (
            Overlay(
                id=f"buy-{link.id}",
                arrangement=arr,
                change={"links": [{"id": link.id, "licence": {**terms, "ip_purchase": True}}]},
            ),
            f"buy the technology outright instead of licensing it from "
            f"{named(ds.entities, link.source)} ({link.id})",
            3.0,
        ),
    ]
    for ov, text, size in candidates:
        v = _verdict(engine, ds, ov, on, scenario, rule.rule)
        if _passes(v) and changes:
            out.append(
                Remedy(
                    rule=rule.rule,
                    change=text,
                    overlay=ov,
                    size=size,
                    verdict_after=v or Verdict.AT_RISK,
                )
            )
            break  # the terms fix is smaller than a purchase: report the purchase only if it fails
        if _passes(v):
            out.append(
                Remedy(
                    rule=rule.rule,
                    change=text,
                    overlay=ov,
                    size=size,
                    verdict_after=v or Verdict.AT_RISK,
                )
            )
    return out


def find_remedies(
    engine: Scorer, ds: Dataset, arr: str, on: dt.date, scenario: str, outcome: ScenarioOutcome
) -> list[Remedy]:
    """Remedies for the credit rules of ``outcome`` that fail, smallest first per rule (at most
    :data:`MAX_REMEDIES`). Each candidate is a what-if overlay of ``ds`` applied incrementally
    through ``engine.overlaid`` (a stake is bisected over :data:`BISECT_STEPS` overlays)."""
    remedies: list[Remedy] = []
    for rule in outcome.rules:
        if rule.kind not in CREDIT_KINDS or rule.verdict not in (
            Verdict.NOT_ELIGIBLE,
            Verdict.AT_RISK,
        ):
            continue
        seen: set[str] = set()
        for c in rule.clauses:
            if not c.decisive or c.verdict in (Verdict.ELIGIBLE, Verdict.NOT_APPLICABLE):
                continue
            link_ids = [
                st.link for t in c.evidence if t.paths for p in t.paths.paths for st in p.steps
            ]
            link_ids += [*(t_l for t in c.evidence for t_l in t.links), *c.links]
            for lid in link_ids:
                if lid in seen or lid not in ds.links:
                    continue
                seen.add(lid)
                link = ds.links[lid]
                if (
                    link.kind in (LinkKind.EQUITY, LinkKind.VOTING, LinkKind.DEBT)
                    and link.share is not None
                ):
                    hints = _thresholds(engine.scenario_pack(scenario), on, link.kind)
                    r = _stake_remedy(engine, ds, arr, on, scenario, rule.rule, link, hints)
                    if r is not None:
                        remedies.append(r)
                elif link.kind is LinkKind.LICENCE and c.id == "licensing":
                    remedies += _licence_remedies(engine, ds, arr, on, scenario, rule, link)
                elif link.kind is LinkKind.APPOINTMENT:
                    ov = Overlay(id=f"drop-{lid}", arrangement=arr, remove={"links": [lid]})
                    v = _verdict(engine, ds, ov, on, scenario, rule.rule)
                    if _passes(v):
                        remedies.append(
                            Remedy(
                                rule=rule.rule,
                                overlay=ov,
                                size=1.0,
                                verdict_after=v or Verdict.AT_RISK,
                                change=f"remove {named(ds.entities, link.source)}'s "
                                f"appointment right ({lid})",
                            )
                        )
    remedies.sort(key=lambda r: (r.rule, r.size))
    return remedies[:MAX_REMEDIES]
