"""The scoring engine: dataset + policy pack + scenarios → explained arrangement scores.

>>> engine = Engine.from_dir(DEFAULT_DATA)
>>> s = engine.score("gotion-manteno-il")
>>> s.verdict("us-45x").verdict.value, s.equity.band
('not_eligible', 'high')
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field

from georisk.scoring import clock
from georisk.scoring.control import OwnershipReport, ownership_report
from georisk.scoring.dataset import Dataset, DatasetError, DatasetIssue, load_dataset
from georisk.scoring.graph import ArrangementGraph, GraphCache
from georisk.scoring.model import (
    Arrangement,
    ArrangementStatus,
    Link,
    LinkKind,
    LinkStatus,
    ShareRange,
)
from georisk.scoring.overlay import Overlay, apply_overlay
from georisk.scoring.packs import (
    ALL_PACKS,
    PackApplied,
    PackSet,
    merged_scenarios,
    pack_nexus,
    parse_pack_ids,
    shipped_pack_ids,
)
from georisk.scoring.policy import (
    BasisKind,
    PolicyPack,
    Scenario,
    ScenarioSet,
    load_pack,
    load_scenarios,
)
from georisk.scoring.remedies import Remedy, find_remedies
from georisk.scoring.rules import (
    EVALUATORS,
    EvalContext,
    RuleCache,
    RuleOutcome,
    evaluate_pack,
    evaluate_rule,
    pfe_params,
)
from georisk.scoring.score import (
    AxisScore,
    ScenarioOutcome,
    confidence_of,
    equity_axis,
    overall,
    policy_axis,
    technology_axis,
    unconfirmed_facts,
)
from georisk.scoring.wording import named, pct, pct_range

__all__ = [
    "DEFAULT_DATA",
    "ArrangementScore",
    "Engine",
    "NotFoundError",
    "Remedy",
    "SourceRef",
    "UnconfirmedFact",
    "View",
    "describe_fact",
    "describe_link",
    "describe_param",
    "first_sentence",
    "load_pack_set",
    "load_pack_sets",
    "own_links",
    "proposed_own_link",
]

# The embedded default dataset: package data of `georisk` (the repository's data/ directory,
# linked into the package; a wheel holds a copy).
DEFAULT_DATA = Path(str(importlib.resources.files("georisk") / "data"))
#: overlaid datasets an engine keeps (:meth:`Engine.overlaid`)
VARIANTS_KEPT = 16
#: unconfirmed facts whose words an engine keeps (:meth:`Engine._describe_fact`)
FACTS_KEPT = 20_000


class NotFoundError(KeyError):
    """An arrangement, entity or scenario named by the caller is not known."""

    def __init__(self, what: str, key: str, known: list[str] | None = None) -> None:
        self.what, self.key = what, key
        hint = f"; known: {', '.join(known[:20])}" if known else ""
        super().__init__(f"unknown {what} {key!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class View(StrEnum):
    BASIC = "basic"  # scores, bands, verdicts and reasons
    FULL = "full"  # plus contributions, clause evidence with paths, every scenario, remedies


class SourceRef(BaseModel):
    id: str
    title: str
    url: str | None = None
    seed: str | None = None
    secondary: bool = False


class ArrangementInfo(BaseModel):
    id: str
    name: str
    country: str
    products: list[str]
    status: str | None
    status_date: dt.date | None
    template: bool
    capacity_gwh: list[float] | None


class UnconfirmedFact(BaseModel):
    """A fact or pack parameter a score rests on that no authority confirmed (or whose sources
    disagree), named for an analyst, with the note that says why."""

    id: str
    kind: str = Field(description="entity, link, parameter, or fact (an id the dataset lacks)")
    text: str = Field(description="what it is: 'Name [id]', a link in words, a parameter id")
    why: str = Field(default="", description="why it is unconfirmed: from the record's note")
    rests_on_it: list[str] = Field(
        default_factory=list, description="the rules (ids) and axes whose findings rest on it"
    )

    def line(self) -> str:
        """``text: why`` (the text alone when no note says why)."""
        return f"{self.text}: {self.why}" if self.why else self.text


class ArrangementScore(BaseModel):
    """The result contract of scoring one arrangement (JSON schema ``georisk.score/v1``)."""

    schema_: str = Field(default="georisk.score/v1", alias="schema")
    arrangement: ArrangementInfo
    as_of: dt.date
    scenario: str = Field(description="the scenario whose verdicts are in `verdicts`")
    dataset_version: str
    pack_version: str
    scenario_set_version: str
    technology: AxisScore
    equity: AxisScore
    policy: AxisScore
    overall: AxisScore
    verdicts: list[RuleOutcome]
    confidence: float = Field(ge=0, le=1)
    confidence_reasons: list[str]
    missing_facts: list[str]
    scenarios: list[ScenarioOutcome] = Field(default_factory=list)
    remedies: list[Remedy] = Field(default_factory=list)
    sources: list[SourceRef] = Field(default_factory=list)
    overlay: str | None = None
    unconfirmed: list[UnconfirmedFact] = Field(
        default_factory=list,
        description="the unconfirmed facts and parameters the score rests on, with why "
        "(confidence_reasons says the same in sentences)",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="what the reader must know about the result as a whole (e.g. a pack past "
        "its review date); also in overall.notes",
    )
    packs: list[PackApplied] = Field(
        default_factory=list,
        description="every selected policy pack, whether it applied to the arrangement (its "
        "nexus) and why; `verdicts` holds the rules of those that applied, in this order",
    )

    model_config = {"populate_by_name": True}

    def verdict(self, rule: str) -> RuleOutcome:
        return next(v for v in self.verdicts if v.rule == rule)


@dataclass
class Engine:
    """Holds a validated dataset, a policy pack and its scenarios; scores arrangements."""

    dataset: Dataset
    pack: PolicyPack
    scenarios: ScenarioSet
    #: graphs by (dataset version, overlay digest, date): base and overlay entries bounded apart
    graphs: GraphCache = field(default_factory=GraphCache, repr=False)
    #: overlaid datasets by (dataset version, overlay digest): remedies apply one overlay often
    _variants: OrderedDict[tuple[str, str], Dataset] = field(
        default_factory=OrderedDict, repr=False
    )
    _variants_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _packs: dict[str, PolicyPack] = field(default_factory=dict, repr=False)
    #: rule outcomes shared by the scenarios that leave a rule's parameters unchanged
    _rules: RuleCache = field(default_factory=RuleCache, repr=False)
    #: further packs, each evaluated only for the arrangements within its nexus (.packs)
    extra: tuple[PackSet, ...] = field(default=(), repr=False)
    #: the further packs that apply, by (arrangement, entities) (:meth:`applied_extras`)
    _nexus: dict[tuple[int, int], tuple[object, object, tuple[PackSet, ...]]] = field(
        default_factory=dict, repr=False
    )
    #: :func:`describe_fact`'s words by (dataset version, overlay chain, fact id)
    _facts: dict[tuple[str, str, str], tuple[str, str, str]] = field(
        default_factory=dict, repr=False
    )

    def with_dataset(self, dataset: Dataset, *, share_graphs: bool = False) -> Engine:
        """A new engine on ``dataset`` with this engine's pack and scenarios: what a
        store-backed server builds after a write. Its caches are fresh, except, with
        ``share_graphs``, the graph cache, for a ``dataset`` that varies this engine's (its
        graphs are then derived from the cached graphs of their base)."""
        graphs = self.graphs if share_graphs else GraphCache()
        return Engine(dataset, self.pack, self.scenarios, graphs=graphs, extra=self.extra)

    @staticmethod
    def from_dir(
        data_dir: str | Path,
        pack: str | Sequence[str] = "us",
        policies: str | Path | None = None,
    ) -> Engine:
        """Load ``data_dir`` and its packs ``policies/<pack>.yaml`` with ``<pack>.scenarios.yaml``.

        ``pack`` is one id, several (``"us,eu,uk"`` or a list: the first is the primary pack,
        evaluated for every arrangement; the others only within their nexus), or ``"all"``:
        every pack of the policies directory, ``us`` first (:mod:`.packs`).
        """
        sets = load_pack_sets(data_dir, pack, policies)
        first = sets[0]
        return Engine(load_dataset(data_dir), first.pack, first.scenarios, extra=tuple(sets[1:]))

    # ------------------------------------------------------------------ packs

    @property
    def packs(self) -> list[PackSet]:
        """Every pack of the engine, the primary first."""
        return [PackSet(self.pack, self.scenarios), *self.extra]

    def applied_extras(self, arr: Arrangement, ds: Dataset | None = None) -> list[PackSet]:
        """The further packs whose nexus ``arr`` has (:func:`.packs.pack_nexus`), found once per
        (arrangement, entities) pair: a score asks for every scenario."""
        if not self.extra:
            return []
        ents = (ds or self.dataset).entities
        key = (id(arr), id(ents))
        got = self._nexus.get(key)
        if got is not None and got[0] is arr and got[1] is ents:
            return list(got[2])
        out = [ps for ps in self.extra if pack_nexus(ps.pack, arr, ents)[0]]
        if len(self._nexus) >= 1024:
            self._nexus.clear()
        self._nexus[key] = (arr, ents, tuple(out))  # both held: their ids are not reused
        return out

    def pack_report(self, arr: Arrangement, ds: Dataset | None = None) -> list[PackApplied]:
        """Every pack, whether it applies to ``arr`` and why (the primary always does)."""
        ents = (ds or self.dataset).entities
        out = []
        for i, ps in enumerate(self.packs):
            ok, why = pack_nexus(ps.pack, arr, ents) if i else (True, "the primary pack")
            out.append(
                PackApplied(
                    id=ps.id,
                    version=ps.pack.version_label,
                    scenario_set_version=ps.scenarios.content_hash,
                    applied=ok,
                    reason=why,
                )
            )
        return out

    def scenario_list(
        self, arrangement: Arrangement | ArrangementInfo | str, ds: Dataset | None = None
    ) -> list[Scenario]:
        """The scenarios an arrangement (a record, a score's ``arrangement``, or an id) is scored
        under: the primary pack's, then those of the other packs that apply to it
        (:func:`.packs.merged_scenarios`)."""
        d = ds or self.dataset
        aid = arrangement if isinstance(arrangement, str) else arrangement.id
        if aid not in d.arrangements:
            raise NotFoundError("arrangement", aid, sorted(d.arrangements))
        extras = self.applied_extras(d.arrangements[aid], d)
        if not extras:
            return list(self.scenarios.scenarios)
        return merged_scenarios(self.scenarios, extras)

    # ------------------------------------------------------------------ caches

    def graph(self, on: dt.date, ds: Dataset | None = None) -> ArrangementGraph:
        """The graph as of ``on`` of the engine's dataset or of a variant of it (an overlay,
        derived from the base graph of that date); see :class:`.graph.GraphCache`."""
        return self.graphs.graph(ds or self.dataset, on)

    def cached_graph(self, on: dt.date, ds: Dataset | None = None) -> ArrangementGraph | None:
        """The graph as of ``on`` if it is cached (nothing is built)."""
        d = ds or self.dataset
        return self.graphs.get(((d.base or d).version, d.overlay_digest, on))

    def overlaid(self, ds: Dataset, ov: Overlay) -> Dataset:
        """``ds`` with ``ov`` applied (:func:`.overlay.apply_overlay`), kept for the next call
        with the same overlay (a few variants, least recently used dropped first)."""
        key = (ds.version, ov.digest())
        got = self._variants.get(key)
        if got is None:
            got = apply_overlay(ds, ov)
        with self._variants_lock:  # server threads share one engine
            self._variants[key] = got
            self._variants.move_to_end(key)
            while len(self._variants) > VARIANTS_KEPT:
                self._variants.popitem(last=False)
        return got

    def scenario_pack(self, sid: str) -> PolicyPack:
        if sid not in self._packs:
            sc = self.scenarios.get(sid)
            self._packs[sid] = self.pack.with_overrides(list(sc.overrides), sid)
        return self._packs[sid]

    def _pack_under(self, ps: PackSet, sc: Scenario) -> PolicyPack:
        """The pack of ``ps`` under its scenario ``sc`` (the primary's: :meth:`scenario_pack`)."""
        if ps.pack is self.pack:
            return self.scenario_pack(sc.id)
        key = f"{ps.id}\x00{sc.id}"
        got = self._packs.get(key)
        if got is None:
            got = self._packs[key] = ps.pack.with_overrides(list(sc.overrides), sc.id)
        return got

    def _joint(
        self, sid: str, extras: list[PackSet]
    ) -> tuple[Scenario, list[tuple[PackSet, Scenario]]]:
        """The scenario ``sid`` (of the primary or of an applied pack) and, per pack in order,
        the scenario it is judged under: ``sid`` in its own pack, current law in the others."""
        sets = [PackSet(self.pack, self.scenarios), *extras]
        owner = next((ps for ps in sets if any(s.id == sid for s in ps.scenarios.scenarios)), None)
        if owner is None:
            known = [s.id for s in merged_scenarios(self.scenarios, extras)]
            raise NotFoundError("scenario", sid, known)
        chosen = owner.scenarios.get(sid)
        if chosen.basis.kind is BasisKind.ENACTED and owner.pack is not self.pack:
            chosen = self.scenarios.baseline  # the packs' current laws are one baseline
        # current law: every pack at its own current law; a change: its pack under it, the
        # others at current law
        enacted = chosen.basis.kind is BasisKind.ENACTED
        out = [(ps, ps.scenarios.baseline if enacted or ps is not owner else chosen) for ps in sets]
        return chosen, out

    # ------------------------------------------------------------------ ownership

    def ownership(
        self,
        entity: str,
        on: dt.date | None = None,
        *,
        max_depth: int | None = None,
        max_paths: int | None = None,
        overlay: Overlay | None = None,
    ) -> OwnershipReport:
        """Who owns and controls ``entity`` on ``on`` (default today), and its PFE tests.

        The tests use the PFE parameters of the pack in force on that date (covered nations,
        thresholds, the lists whose members are SFEs), exactly as the rules do
        (:func:`~georisk.scoring.rules.pfe_params`), so with the default ``max_depth`` and
        ``max_paths`` its SFE/FIE verdicts are those of :meth:`score`'s explanation; the two
        bounds only limit the path listings and their search. With ``overlay`` the report is
        of the what-if dataset (its ``dataset_version`` says so), as :meth:`score` would see
        it. Raises :class:`NotFoundError` for an unknown entity.

        >>> engine = Engine.from_dir(DEFAULT_DATA)
        >>> engine.ownership("aesc-us", dt.date(2026, 11, 22)).specified_foreign_entity.verdict
        <Tri.TRUE: 'true'>
        """
        day = on or clock.today()
        ds = self.overlaid(self.dataset, overlay) if overlay else self.dataset
        if entity not in ds.entities:
            raise NotFoundError("entity", entity)
        params = pfe_params(self.pack, day)
        if max_depth is not None:
            params = replace(params, max_depth=max_depth)
        if max_paths is not None:
            params = replace(params, max_paths=max_paths)
        return ownership_report(self.graph(day, ds), entity, params)

    # ------------------------------------------------------------------ scoring

    def evaluate(
        self,
        arrangement: str,
        on: dt.date,
        scenario: str,
        ds: Dataset | None = None,
        *,
        in_force_only: bool = False,
    ) -> ScenarioOutcome:
        """The rule outcomes of ``arrangement`` under ``scenario``.

        By default a scenario is judged when its changes are in force (on the latest of ``on``
        and its overrides' start dates: the policy axis asks "if this happens, how does the
        deal fare"). With ``in_force_only`` it is judged on ``on`` itself, its overrides
        applying only from their dates (what a timeline shows day by day).

        With further packs whose nexus the arrangement has (:meth:`applied_extras`), the rules
        of every such pack follow the primary's, each pack under its part of the scenario
        (``scenario`` in the pack it belongs to, current law in the others).
        """
        d = ds or self.dataset
        extras = self.applied_extras(d.arrangements[arrangement], d)
        if extras:
            return self._evaluate_joint(arrangement, on, scenario, d, extras, in_force_only)
        sc = self._scenario(scenario)
        when = _judged_on(sc, on, in_force_only)
        ctx = EvalContext(
            self.graph(when, d), self.scenario_pack(sc.id), d.arrangements[arrangement], when
        )
        rules = evaluate_pack(ctx, self._rules)
        return ScenarioOutcome(
            scenario=sc.id,
            title=sc.title,
            probability=sc.probability,
            evaluated_on=when,
            impact=max((r.impact for r in rules), default=0.0),
            rules=rules,
        )

    def _evaluate_joint(
        self,
        arrangement: str,
        on: dt.date,
        scenario: str,
        d: Dataset,
        extras: list[PackSet],
        in_force_only: bool,
    ) -> ScenarioOutcome:
        """:meth:`evaluate` with further packs applying: every pack's rules, each pack under
        its part of the scenario, all on the date the scenario is judged on."""
        sc, parts = self._joint(scenario, extras)
        when = _judged_on(sc, on, in_force_only)
        g, arr = self.graph(when, d), d.arrangements[arrangement]
        rules = [
            r
            for ps, psc in parts
            for r in evaluate_pack(
                EvalContext(g, self._pack_under(ps, psc), arr, when), self._rules
            )
        ]
        return ScenarioOutcome(
            scenario=sc.id,
            title=sc.title,
            probability=sc.probability,
            evaluated_on=when,
            impact=max((r.impact for r in rules), default=0.0),
            rules=rules,
        )

    def rule_outcome(
        self, arrangement: str, on: dt.date, scenario: str, rule: str, ds: Dataset | None = None
    ) -> RuleOutcome:
        """The outcome of the one rule ``rule`` of :meth:`evaluate`'s (the same date, pack and
        graph), evaluated alone: what the remedies search asks of each candidate overlay. Not
        kept in the rule cache (each candidate is a dataset of its own)."""
        d = ds or self.dataset
        extras = self.applied_extras(d.arrangements[arrangement], d)
        if extras and not any(r.id == rule for r in self.pack.rules):
            sc, parts = self._joint(scenario, extras)
            when = _judged_on(sc, on, False)
            for ps, psc in parts:
                pk = self._pack_under(ps, psc)
                for inst in pk.rules:
                    if inst.id == rule:
                        ctx = EvalContext(
                            self.graph(when, d), pk, d.arrangements[arrangement], when
                        )
                        return evaluate_rule(ctx, inst, EVALUATORS[inst.kind])
            raise KeyError(f"no rule {rule!r} in the packs applied to {arrangement!r}")
        sc = self._scenario(scenario)
        when = _judged_on(sc, on, False)
        pack = self.scenario_pack(sc.id)
        inst = next(r for r in pack.rules if r.id == rule)
        ctx = EvalContext(self.graph(when, d), pack, d.arrangements[arrangement], when)
        return evaluate_rule(ctx, inst, EVALUATORS[inst.kind])

    def _scenario(self, sid: str) -> Scenario:
        try:
            return self.scenarios.get(sid)
        except KeyError:
            raise NotFoundError("scenario", sid, [s.id for s in self.scenarios.scenarios]) from None

    def score(
        self,
        arrangement: str,
        as_of: dt.date | None = None,
        scenario: str = "current-law",
        view: View = View.FULL,
        overlay: Overlay | None = None,
        remedies: bool | None = None,
        scenario_in_force_only: bool = False,
    ) -> ArrangementScore:
        """Score one arrangement as of a date (default today) under every scenario.

        ``scenario`` picks whose verdicts are reported; the policy axis always uses them all
        (with further packs applying, their scenarios too: :meth:`scenario_list`; the result's
        ``packs`` says which packs applied).
        The reported verdicts of a scenario whose changes start later than ``as_of`` are those
        of its first day in force, unless ``scenario_in_force_only`` (then those of ``as_of``,
        with only the changes in force on it: :meth:`evaluate`).
        """
        on = as_of or clock.today()
        ds = self.overlaid(self.dataset, overlay) if overlay else self.dataset
        if overlay is not None:
            arrangement = overlay.arrangement
        if arrangement not in ds.arrangements:
            raise NotFoundError("arrangement", arrangement, sorted(ds.arrangements))
        arr = ds.arrangements[arrangement]
        extras = self.applied_extras(arr, ds)
        scenario_list = self.scenario_list(arr, ds)
        if extras:
            self._joint(scenario, extras)  # NotFoundError for an unknown scenario
        else:
            self._scenario(scenario)
        g = self.graph(on, ds)
        ctx = EvalContext(g, self.pack, arr, on)
        outcomes = [self.evaluate(arrangement, on, s.id, ds) for s in scenario_list]
        chosen = next(o for o in outcomes if o.scenario == scenario)
        if scenario_in_force_only and chosen.evaluated_on != on:
            chosen = self.evaluate(arrangement, on, scenario, ds, in_force_only=True)
        tech, eq, pol = (
            technology_axis(ctx),
            equity_axis(ctx),
            policy_axis(outcomes, scenario_list),
        )
        if extras:
            applied = ", ".join(ps.pack.version_label for ps in [*self.packs[:1], *extras])
            pol = pol.model_copy(update={"notes": [*pol.notes, f"policy packs applied: {applied}"]})
        status = arr.status_on(on)
        uses: dict[str, list[str]] = {}  # fact or parameter id → rules and axes resting on it
        for r in chosen.rules:
            for u in (*r.unconfirmed, *r.unconfirmed_params):
                uses.setdefault(u, []).append(r.rule)
        for a in (tech, eq):  # only the unconfirmed links and entities of flagged contributions
            for f in sorted(unconfirmed_facts(g, [a])):
                uses.setdefault(f, []).append(a.axis)
        params = sorted({p for r in chosen.rules for p in r.unconfirmed_params})
        facts = sorted(set(uses) - set(params))
        if extras:
            spacks = [self._pack_under(ps, psc) for ps, psc in self._joint(scenario, extras)[1]]
        else:
            spacks = [self.scenario_pack(chosen.scenario)]
        unconfirmed = [self._describe_fact(ds, f, uses[f]) for f in facts] + [
            describe_param(
                next((sp for sp in spacks if p in sp.parameters), spacks[0]),
                p,
                chosen.evaluated_on,
                uses[p],
            )
            for p in params
        ]
        proposed = status is None or (
            status.status in (ArrangementStatus.TALKS, ArrangementStatus.ANNOUNCED)
            and proposed_own_link(g, arr)
        )
        conf, why = confidence_of(
            [u.line() for u in unconfirmed[: len(facts)]],
            [u.line() for u in unconfirmed[len(facts) :]],
            bool(proposed) or arr.template,
        )
        cited = (  # the BASIC view drops the sources (basic()): not gathered for it
            sorted(
                {s for r in chosen.rules for s in r.sources}
                | {s for a in (tech, eq) for c in a.contributions for s in c.sources}
                | set(arr.sources)
            )
            if view is View.FULL
            else []
        )
        warnings = self.review_warnings(on)
        for ps in extras:
            warnings += _review_warning(ps.pack, on)
        total = overall(tech, eq, pol)
        result = ArrangementScore(
            arrangement=ArrangementInfo(
                id=arr.id,
                name=arr.name,
                country=arr.country,
                products=[p.value for p in arr.products],
                status=status.status.value if status else None,
                status_date=status.date if status else None,
                template=arr.template,
                capacity_gwh=list(arr.capacity.bounds()) if arr.capacity else None,
            ),
            as_of=on,
            scenario=scenario,
            dataset_version=ds.version,
            pack_version=self.pack.version_label,
            scenario_set_version=self.scenarios.content_hash,
            technology=tech,
            equity=eq,
            policy=pol,
            overall=total.model_copy(update={"notes": [*total.notes, *warnings]}),
            verdicts=chosen.rules,
            confidence=conf,
            confidence_reasons=why,
            missing_facts=sorted({m for r in chosen.rules for m in r.missing}),
            scenarios=outcomes,
            sources=[self._ref(ds, s) for s in cited],
            overlay=overlay.id or overlay.digest() if overlay else None,
            unconfirmed=unconfirmed,
            warnings=warnings,
            packs=self.pack_report(arr, ds),
        )
        if remedies if remedies is not None else view is View.FULL:
            result.remedies = find_remedies(self, ds, arrangement, on, scenario, chosen)
        return result if view is View.FULL else basic(result)

    def _describe_fact(self, ds: Dataset, fid: str, uses: list[str]) -> UnconfirmedFact:
        """:func:`describe_fact`, its words kept per (dataset version, overlay chain, id)
        (bounded: the table starts again when full)."""
        key = (ds.version, ds.overlay_digest, fid)
        got = self._facts.get(key)
        if got is None:
            if len(self._facts) >= FACTS_KEPT:
                self._facts.clear()
            got = self._facts[key] = _fact_words(ds, fid)
        return _fact(got, fid, uses)

    def review_warnings(self, on: dt.date) -> list[str]:
        """A warning when ``on`` is past the pack's review date (``pack.review_by``): its
        values were not reviewed for that date.

        >>> engine = Engine.from_dir(DEFAULT_DATA)
        >>> engine.review_warnings(dt.date(2026, 11, 22))
        []
        >>> engine.review_warnings(dt.date(2028, 1, 1))[0][:48]
        'as of 2028-01-01, past the review date of policy'
        """
        return _review_warning(self.pack, on)

    @staticmethod
    def _ref(ds: Dataset, sid: str) -> SourceRef:
        s = ds.sources.get(sid)
        if s is None:
            return SourceRef(id=sid, title=sid)
        return SourceRef(id=s.id, title=s.title, url=s.url, seed=s.seed, secondary=s.secondary)


def _review_warning(pack: PolicyPack, on: dt.date) -> list[str]:
    """The warning of :meth:`Engine.review_warnings` for one pack (none before its review)."""
    info = pack.pack
    if info.review_by is None or on <= info.review_by:
        return []
    return [
        f"as of {on}, past the review date of policy pack {info.id}@{info.version} "
        f"({info.review_by}): its values were not reviewed for this date; statutes, "
        "guidance, lists and rates may have changed since"
    ]


def load_pack_sets(
    data_dir: str | Path, pack: str | Sequence[str] = "us", policies: str | Path | None = None
) -> list[PackSet]:
    """The packs ``pack`` (as :meth:`Engine.from_dir` takes them), with their scenario sets,
    the primary first, from ``policies`` or ``data_dir/policies`` (the shipped ones for a
    dataset without its own), without loading the dataset. An unknown id, no id, or a scenario
    id shared by two packs is a :class:`DatasetError` naming ``pack``."""
    pdir = Path(policies) if policies else Path(data_dir) / "policies"
    ids = parse_pack_ids(pack)
    if ids == [ALL_PACKS]:
        if not shipped_pack_ids(pdir):
            pdir = DEFAULT_DATA / "policies"
        ids = shipped_pack_ids(pdir)
    elif not any((pdir / f"{i}.yaml").exists() for i in ids):
        pdir = DEFAULT_DATA / "policies"  # a user dataset without its own packs: the shipped
    unknown = [i for i in ids if not (pdir / f"{i}.yaml").exists()]
    if unknown or not ids:
        known = ", ".join(shipped_pack_ids(pdir)) or "none"
        what = (
            f"unknown policy pack {', '.join(map(repr, unknown))}"
            if unknown
            else "no policy pack selected"
        )
        raise DatasetError([DatasetIssue(str(pdir), "", "pack", f"{what}; known: {known}")])
    sets = [load_pack_set(pdir, i) for i in ids]
    merged_scenarios(sets[0].scenarios, sets[1:])  # refuses scenario ids shared by packs
    return sets


def load_pack_set(pdir: Path, pack_id: str) -> PackSet:
    """The pack ``<pdir>/<pack_id>.yaml`` and its ``<pack_id>.scenarios.yaml``."""
    p = load_pack(pdir / f"{pack_id}.yaml")
    return PackSet(p, load_scenarios(pdir / f"{pack_id}.scenarios.yaml", p))


def _judged_on(sc: Scenario, on: dt.date, in_force_only: bool) -> dt.date:
    """The date a scenario is judged on (:meth:`Engine.evaluate`): ``on``, or the latest start
    of its overrides when later, unless ``in_force_only``."""
    starts = () if in_force_only else (o.effective_from for o in sc.overrides)
    return max([on, *(x for x in starts if x)])


_ABBREVIATIONS = frozenset(
    {
        *("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
        *("no", "nos", "inc", "co", "corp", "ltd", "st", "mr", "ms", "dr", "vs", "cf", "art"),
        *("para", "e.g", "i.e", "u.s", "approx", "fig"),
    }
)


def first_sentence(text: str | None) -> str:
    """The first sentence of a note (abbreviations such as "Dec." and "e.g." do not end one).

    >>> first_sentence("Signed Dec. 14 (2022 inferred). Terms not reported.")
    'Signed Dec. 14 (2022 inferred).'
    >>> first_sentence("No full stop here")
    'No full stop here'
    """
    t = " ".join((text or "").split())
    for m in re.finditer(r"[.!?](?=\s+[A-Z(\[\"'])", t):
        word = t[: m.start()].rsplit(" ", 1)[-1].lower()
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            continue
        return t[: m.end()]
    return t


_LINK_VERBS = {
    LinkKind.EQUITY: "holds {share} of",
    LinkKind.VOTING: "holds {share} of the votes in",
    LinkKind.APPOINTMENT: "appoints {role} of",
    LinkKind.DEBT: "holds {share} of the debt of",
    LinkKind.LICENCE: "licenses technology to",
    LinkKind.EQUIPMENT: "supplies equipment to",
    LinkKind.SERVICES: "provides services to",
    LinkKind.OPERATION: "operates",
    LinkKind.OFFTAKE: "sells its output to",
    LinkKind.SUPPLY: "supplies",
    LinkKind.MEMBERSHIP: "is a member of",
    LinkKind.CONTROL: "{control}",
}
_CONTROL_VERBS = {
    "direct_consolidation": "consolidates the accounts of",
    "ultimate_consolidation": "is the ultimate consolidating parent of",
    "influence": "has influence or control (no share) over",
}


def describe_link(ds: Dataset, l: Link) -> str:
    """A link in words, names first: ``Envision Group [envision-group] holds 75% of AESC
    [aesc] (link envision-group-owns-aesc)``."""
    if l.share is None:
        share = "a share"
    elif isinstance(l.share, ShareRange):
        iv = l.share_interval()
        share = pct_range(iv.lo, iv.hi, lo_open=iv.lo_open, hi_open=iv.hi_open)
    else:
        share = pct(float(l.share))
    verb = _LINK_VERBS[l.kind].format(
        share=share,
        role=f"{l.role or 'board'} members",
        control=_CONTROL_VERBS.get(l.role or "", "controls (no share)"),
    )
    if l.kind in (LinkKind.SUPPLY, LinkKind.OFFTAKE) and l.share is not None:
        verb += f" ({share})"
    return f"{named(ds.entities, l.source)} {verb} {named(ds.entities, l.target)} (link {l.id})"


def _link_why(l: Link) -> str:
    parts = []
    if l.status is LinkStatus.REPORTED:
        parts.append("only reported, not confirmed by the parties")
    elif l.status is LinkStatus.PROPOSED:
        parts.append("only proposed, not concluded")
    if isinstance(l.share, ShareRange):
        parts.append("the share is known only as a range")
    note = first_sentence(l.unconfirmed_note) or (
        first_sentence(l.note) if parts or l.unconfirmed else ""
    )
    if l.unconfirmed and not l.unconfirmed_note:
        parts.insert(0, "marked unconfirmed")
    return "; ".join(parts) + (f" — {note}" if parts and note else note)


def describe_fact(ds: Dataset, fid: str, rests_on_it: list[str] | None = None) -> UnconfirmedFact:
    """An unconfirmed fact named by id (a link or an entity of ``ds``) as an analyst reads it,
    with why it is unconfirmed (its ``unconfirmed_note``, else its note, first sentence).

    The words depend on the dataset and the id only: :meth:`Engine.score` keeps them per
    (dataset version, id), since every arrangement that rests on a fact asks for them."""
    return _fact(_fact_words(ds, fid), fid, rests_on_it)


def _fact(words: tuple[str, str, str], fid: str, rests_on_it: list[str] | None) -> UnconfirmedFact:
    kind, text, why = words
    return UnconfirmedFact(
        id=fid, kind=kind, text=text, why=why, rests_on_it=list(rests_on_it or [])
    )


def _fact_words(ds: Dataset, fid: str) -> tuple[str, str, str]:
    """(kind, text, why) of :func:`describe_fact`."""
    if fid in ds.links:
        l = ds.links[fid]
        return "link", describe_link(ds, l), _link_why(l)
    e = ds.entities.get(fid)
    if e is None:
        return "fact", fid, ""
    if e.unconfirmed:
        why = first_sentence(e.unconfirmed_note or e.note) or "marked unconfirmed"
    else:
        listed = [m for m in e.lists if m.unconfirmed]
        why = "; ".join(
            f"its listing on {m.list_id} is unconfirmed"
            + (f" — {first_sentence(m.note)}" if m.note else "")
            for m in listed
        )
        if not why:
            why = "a list effect that reaches it is unconfirmed in the policy pack"
    return "entity", named(ds.entities, fid), why


def describe_param(
    pack: PolicyPack, pid: str, on: dt.date, rests_on_it: list[str] | None = None
) -> UnconfirmedFact:
    """An unconfirmed or conflicting pack parameter with why: how its sources disagree
    (``conflict``), else its note (first sentence)."""
    v = pack.maybe(pid, on)
    if v is None:
        return UnconfirmedFact(
            id=pid, kind="parameter", text=pid, rests_on_it=list(rests_on_it or [])
        )
    label = "unconfirmed" if v.unconfirmed else "sources conflict"
    why = first_sentence(v.conflict) or first_sentence(v.note)
    return UnconfirmedFact(
        id=pid,
        kind="parameter",
        text=pid,
        why=f"{label}: {why}" if why else label,
        rests_on_it=list(rests_on_it or []),
    )


def proposed_own_link(g: ArrangementGraph, arr: Arrangement) -> bool:
    """``any(l.status is PROPOSED for l in own_links(g, arr))``, building only the proposed
    links of the members (a member may have hundreds of links in other deals)."""
    st = g.dataset.store
    if not st.columns:  # every link is an object already (curated files): read them
        return any(l.status is LinkStatus.PROPOSED for l in own_links(g, arr))
    members = {*arr.party_ids(), arr.focal, *([arr.taxpayer] if arr.taxpayer else [])}
    for e in sorted(members):
        if e not in g.index:
            continue
        ks = g.link_positions(e)
        for k in ks[st.proposed(ks)].tolist():
            l = st.at(k)
            if l.arrangement == arr.id or (
                l.arrangement is None and l.source in members and l.target in members
            ):
                return True
    return False


def own_links(g: ArrangementGraph, arr: Arrangement) -> list[Link]:
    """The links of ``g`` that are part of ``arr``: those tagged ``arrangement: <arr.id>``, and
    untagged links between two of its members (parties, focal entity, taxpayer). A party's
    links in its other deals (tagged with another arrangement, or to an entity outside this
    one) are not this arrangement's."""
    members = {*arr.party_ids(), arr.focal, *([arr.taxpayer] if arr.taxpayer else [])}
    seen: dict[str, Link] = {}
    for e in sorted(members):
        if e not in g.index:
            continue
        for l in (*g.links_from(e), *g.links_into(e)):
            if l.arrangement == arr.id or (
                l.arrangement is None and l.source in members and l.target in members
            ):
                seen.setdefault(l.id, l)
    return list(seen.values())


def basic(r: ArrangementScore) -> ArrangementScore:
    """The BASIC view: scores, bands, verdicts with reasons; no evidence, paths or scenarios."""
    slim = [
        v.model_copy(
            update={
                "clauses": [c.model_copy(update={"evidence": [], "params": []}) for c in v.clauses]
            }
        )
        for v in r.verdicts
    ]
    return r.model_copy(
        update={
            "verdicts": slim,
            "scenarios": [],
            "remedies": [],
            "sources": [],
            **{
                a: getattr(r, a).model_copy(update={"contributions": []})
                for a in ("technology", "equity", "policy", "overall")
            },
        }
    )
