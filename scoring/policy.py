"""Policy packs and scenarios: a jurisdiction's rules as versioned, dated, sourced data.

A pack (``data/policies/<id>.yaml``) holds

* ``pack``: id, jurisdiction, version, title, sources;
* ``parameters``: every number, date and switch the rules read, each a list of dated
  *variants* ``{value, effective_from, effective_to, sources, unconfirmed, conflict, note}``;
  the variant in force on the scoring date is used;
* ``lists``: restricted-party lists and their dated effects (e.g. 1260H → SFE status from
  2025-07-04, DoD contracting ban from 2026-06-30);
* ``rules``: rule instances: a ``kind`` implemented once in :mod:`georisk.scoring.rules`
  (production_credit, vehicle_credit, list_effects, tariff; for the EU/UK packs
  acquisition_screening, fsr_concentration, fsr_procurement, origin_share, countervailing_duty,
  rules_of_origin, market_obligation), the countries, markets and products that give an
  arrangement a nexus, dates, the statutory clause and sources, and ``params``: a mapping from
  the kind's parameter names to pack parameter ids (defaults: the kind's standard ids);
* ``pack.nexus`` (optional): which arrangements the pack is evaluated for when several packs
  score together (:mod:`georisk.scoring.packs`).

A scenario file (``data/policies/<id>.scenarios.yaml``) holds named sets of overrides of pack
parameters. Each scenario says what it rests on (``basis``: the law in force, a bill, a
proposal, or a stated hypothetical, with its reference and sources), which question it answers
(``event``), and how likely it is (``probability``, an assumption to replace). Scenarios of
different events are independent; scenarios sharing an event are alternative answers to it and
exclusive; the one ``enacted`` scenario (current law) has no overrides and probability 1. The
policy axis combines them (``scoring/README.md``, "Policy sensitivity").

Adding a jurisdiction is a new pack file with its own parameters and lists, using the existing
rule kinds; no code changes unless it needs a new kind of rule.

>>> import pathlib
>>> pack = load_pack(pathlib.Path(__file__).parents[1] / "data" / "policies" / "us.yaml")
>>> pack.param("covered_nations", dt.date(2026, 11, 22)).value
['CN', 'RU', 'IR', 'KP']
"""

from __future__ import annotations

import datetime as dt
import hashlib
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from georisk.scoring.dataset import DatasetError, DatasetIssue
from georisk.scoring.dataset.yamlio import YamlError, load_yaml
from georisk.scoring.model import Id

__all__ = [
    "TEXT_PART",
    "BasisKind",
    "ClauseText",
    "ListDefinition",
    "ListEffect",
    "Override",
    "PackInfo",
    "PackNexus",
    "ParamVariant",
    "ParameterMissing",
    "PartyNexus",
    "PolicyPack",
    "RuleInstance",
    "Scenario",
    "ScenarioBasis",
    "ScenarioSet",
    "load_pack",
    "load_scenarios",
]


class ParameterMissing(LookupError):
    """A policy pack has no value of a parameter on a date.

    Either the pack does not define the parameter (``defined`` false), or none of its variants
    is in force on ``on``. A rule that needs the value reports itself not applicable, naming
    the parameter and the date; it is deliberately not a :class:`KeyError`, so that a
    ``KeyError`` from a bug is never mistaken for a gap in the pack.

    >>> str(ParameterMissing("45x.in_force", dt.date(2022, 6, 1), pack="us"))
    "parameter '45x.in_force' of pack 'us' has no value on 2022-06-01"
    >>> str(ParameterMissing("x.rate", dt.date(2026, 1, 1), pack="us", defined=False))
    "policy pack 'us' has no parameter 'x.rate'"
    """

    def __init__(self, name: str, on: dt.date, *, pack: str, defined: bool = True) -> None:
        super().__init__(name, on)
        self.name = name
        self.on = on
        self.pack = pack
        self.defined = defined

    def __str__(self) -> str:
        if not self.defined:
            return f"policy pack {self.pack!r} has no parameter {self.name!r}"
        return f"parameter {self.name!r} of pack {self.pack!r} has no value on {self.on}"


class _Rec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamVariant(_Rec):
    """One dated value of a parameter."""

    value: Any
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    sources: list[str] = Field(min_length=1)
    unconfirmed: bool = False
    conflict: str | None = Field(default=None, description="how the sources disagree")
    note: str | None = None

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self

    def active(self, on: dt.date) -> bool:
        return (self.effective_from is None or self.effective_from <= on) and (
            self.effective_to is None or on <= self.effective_to
        )


class ListEffect(_Rec):
    effect: str = Field(
        description="e.g. sfe, dod_contracting_ban_direct, dod_battery_ban, "
        "import_ban, export_licence_affiliates"
    )
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    scope: str = Field(
        default="party",
        description="party: the listed entity itself; affiliates_50: also entities ≥ 50% owned "
        "(aggregated) by listed entities (OFAC/BIS-style)",
    )
    clause: str
    sources: list[str] = Field(min_length=1)
    unconfirmed: bool = False
    note: str | None = None
    switch: str | None = Field(
        default=None, description="parameter id of a boolean that turns the effect on/off"
    )

    def active(self, on: dt.date) -> bool:
        return (self.effective_from is None or self.effective_from <= on) and (
            self.effective_to is None or on <= self.effective_to
        )


class ListDefinition(_Rec):
    id: Id
    title: str
    authority: str
    sources: list[str] = Field(min_length=1)
    effects: list[ListEffect] = Field(default_factory=list)
    note: str | None = None


class ClauseText(_Rec):
    """The words a rule kind quotes in a finding: the value of a ``<kind>.text.<clause>``
    parameter (e.g. ``45x.text.licensing``).

    The legal text lives in the pack, dated and sourced like any value, not in the rule code.

    >>> ClauseText(title="§301 tariff on imports", cite="§301").cite
    '§301'
    """

    title: str = Field(min_length=1, description="what the clause requires, in a few words")
    clause: str | None = Field(default=None, description="the statutory clause it applies")
    cite: str | None = Field(default=None, description="short citation quoted in reasons")
    phrases: dict[str, str] = Field(
        default_factory=dict, description="named sentences the rule kind quotes in its reasons"
    )


def _mixed_bools(value: Any, at: str = "") -> str | None:
    """Where in ``value`` a list holds both booleans and strings (YAML's bare ``NO`` for
    Norway in a country list), else None.

    >>> _mixed_bools({"home": ["IS", False, "CH"]})
    '.home'
    >>> _mixed_bools([True, False]) is None
    True
    """
    if isinstance(value, dict):
        for k, v in value.items():
            got = _mixed_bools(v, f"{at}.{k}")
            if got is not None:
                return got
    elif isinstance(value, list):
        if any(isinstance(x, bool) for x in value) and any(isinstance(x, str) for x in value):
            return at
        for j, x in enumerate(value):
            got = _mixed_bools(x, f"{at}.{j}")
            if got is not None:
                return got
    return None


#: parameters whose id has this part hold a :class:`ClauseText` (checked when the pack loads)
TEXT_PART = ".text."


class RuleInstance(_Rec):
    id: Id
    kind: str
    title: str
    clause: str
    countries: list[str] = Field(default_factory=list, description="nexus: arrangement location")
    markets: list[str] = Field(
        default_factory=list,
        description="nexus: a country where the arrangement places products on the market (with "
        "countries: either suffices)",
    )
    products: list[str] = Field(default_factory=list, description="nexus: arrangement products")
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    params: dict[str, str] = Field(default_factory=dict)
    sources: list[str] = Field(min_length=1)
    note: str | None = None


class PartyNexus(_Rec):
    """A pack's nexus through the parties: a party with one of ``roles`` (any role when empty)
    organized in one of ``countries``."""

    countries: list[str] = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)


class PackNexus(_Rec):
    """Which arrangements a pack is evaluated for: located in ``countries``, placing products
    on a market in ``markets``, or with a party as ``parties`` says (any one suffices).

    >>> PackNexus(countries=["ES"]).countries
    ['ES']
    """

    countries: list[str] = Field(default_factory=list)
    markets: list[str] = Field(default_factory=list)
    parties: PartyNexus | None = None


class PackInfo(_Rec):
    id: Id
    jurisdiction: str
    version: str
    title: str
    description: str | None = None
    sources: list[str] = Field(default_factory=list)
    review_by: dt.date | None = Field(
        default=None,
        description="the pack's values were reviewed for use until this date; a score as of a "
        "later date warns that laws, lists and rates may have changed since",
    )
    nexus: PackNexus | None = Field(
        default=None,
        description="which arrangements the pack is evaluated for when several packs are "
        "selected; absent: every arrangement",
    )


class PolicyPack(_Rec):
    pack: PackInfo
    parameters: dict[str, list[ParamVariant]]
    lists: list[ListDefinition] = Field(default_factory=list)
    rules: list[RuleInstance]
    content_hash: str = ""

    @model_validator(mode="after")
    def _texts(self) -> Self:
        for pid, variants in self.parameters.items():
            for i, v in enumerate(variants):
                where = _mixed_bools(v.value)
                if where is not None:
                    raise ValueError(
                        f"parameters.{pid}.{i}.value{where}: a list mixing true/false with text "
                        '(a bare NO, YES, ON or OFF is a YAML boolean: quote it, e.g. "NO")'
                    )
            if TEXT_PART not in pid:
                continue
            for i, v in enumerate(variants):
                try:
                    ClauseText.model_validate(v.value)
                except ValidationError as exc:
                    e = exc.errors(include_url=False)[0]
                    where = ".".join(str(p) for p in ("parameters", pid, i, "value", *e["loc"]))
                    raise ValueError(f"{where}: {e['msg']} (a clause text)") from None
        return self

    def text(self, pid: str, on: dt.date) -> ClauseText:
        """The clause text ``pid`` in force on ``on`` (raises :class:`ParameterMissing`)."""
        return ClauseText.model_validate(self.param(pid, on).value)

    def param(self, pid: str, on: dt.date) -> ParamVariant:
        """The variant of parameter ``pid`` in force on ``on``.

        Raises :class:`ParameterMissing` naming the parameter and the date when the pack does
        not define it or none of its variants is in force on that date.
        """
        variants = self.parameters.get(pid)
        if not variants:
            raise ParameterMissing(pid, on, pack=self.pack.id, defined=False)
        active = [v for v in variants if v.active(on)]
        if not active:
            raise ParameterMissing(pid, on, pack=self.pack.id)
        return max(active, key=lambda v: v.effective_from or dt.date.min)

    def maybe(self, pid: str, on: dt.date) -> ParamVariant | None:
        """The variant of ``pid`` in force on ``on``, or None where :meth:`param` raises
        :class:`ParameterMissing`."""
        try:
            return self.param(pid, on)
        except ParameterMissing:
            return None

    def in_force(self, on: dt.date) -> PolicyPack:
        """The pack as in force on ``on``: what the rules read on that date, nothing else.

        Each parameter keeps only the value :meth:`param` picks on ``on``, and a parameter with
        no value on that date is left out; only the rules in force on ``on`` are kept; every
        list is kept, with only its effects in force on ``on``. Identity (``pack``,
        ``content_hash``) is unchanged: this is a view of the same pack.

        >>> import pathlib
        >>> pack = load_pack(pathlib.Path(__file__).parents[1] / "data" / "policies" / "us.yaml")
        >>> "pfe.in_force" in pack.in_force(dt.date(2026, 11, 22)).parameters
        True
        >>> "covered_nations" in pack.in_force(dt.date(2020, 1, 1)).parameters
        False
        """
        params = {pid: [v] for pid in self.parameters if (v := self.maybe(pid, on)) is not None}
        rules = [
            r
            for r in self.rules
            if (r.effective_from is None or r.effective_from <= on)
            and (r.effective_to is None or on <= r.effective_to)
        ]
        lists = [
            d.model_copy(update={"effects": [e for e in d.effects if e.active(on)]})
            for d in self.lists
        ]
        return self.model_copy(update={"parameters": params, "rules": rules, "lists": lists})

    def list_def(self, list_id: str) -> ListDefinition | None:
        return next((d for d in self.lists if d.id == list_id), None)

    @property
    def version_label(self) -> str:
        return f"{self.pack.id}@{self.pack.version} ({self.content_hash})"

    def with_overrides(self, overrides: list[Override], scenario: str) -> PolicyPack:
        """A copy of the pack with scenario overrides in force from their dates."""
        params = dict(self.parameters)
        for o in overrides:
            if o.param not in params:
                raise KeyError(f"scenario {scenario!r} overrides unknown parameter {o.param!r}")
            variant = ParamVariant(
                value=o.value,
                effective_from=o.effective_from,
                sources=o.sources or [f"scenario:{scenario}"],
                unconfirmed=True,
                note=f"scenario {scenario}: {o.note or 'assumed change'}",
            )
            # the override replaces every variant from its date on
            keep = [
                v
                for v in params[o.param]
                if o.effective_from is not None
                and (v.effective_from or dt.date.min) < o.effective_from
            ]
            keep = [
                v.model_copy(update={"effective_to": o.effective_from - dt.timedelta(days=1)})
                if o.effective_from
                and (v.effective_to is None or v.effective_to >= o.effective_from)
                else v
                for v in keep
            ]
            params[o.param] = [*keep, variant]
        return self.model_copy(update={"parameters": params})


class Override(_Rec):
    param: str
    value: Any
    effective_from: dt.date | None = None
    sources: list[str] = Field(default_factory=list)
    note: str | None = None


class BasisKind(StrEnum):
    """What a scenario rests on, from firmest to loosest; its default weight follows it."""

    ENACTED = "enacted"  # the law in force as the pack records it (the current-law scenario)
    BILL = "bill"  # a legislative text: introduced, passed a chamber, or dropped in conference
    PROPOSAL = "proposal"  # a stated plan or draft with no bill (a party's plan, a draft rule)
    STATED_HYPOTHETICAL = "stated_hypothetical"  # a possibility stated with no bill or plan


class ScenarioBasis(_Rec):
    """What a scenario models: the bill, proposal or statement behind it, with its sources.

    >>> ScenarioBasis(kind="bill", reference="H.R. 1 as passed by the House", sources=["p10"]).kind
    <BasisKind.BILL: 'bill'>
    """

    kind: BasisKind
    reference: str = Field(min_length=1, description="the bill, proposal or statement, in words")
    sources: list[Id] = Field(min_length=1)


class Scenario(_Rec):
    """A named set of overrides of pack parameters, what it rests on and how likely it is."""

    id: Id
    title: str
    probability: float = Field(
        ge=0.0,
        le=1.0,
        description="the assumed probability that the change happens (independent of other "
        "events); 1 for the enacted current-law scenario",
    )
    assumption: str = Field(description="why this probability: always an assumption to replace")
    event: Id = Field(
        description="the question the scenario answers (e.g. licensing-test); scenarios "
        "sharing an event are exclusive alternatives, different events are independent",
    )
    basis: ScenarioBasis = Field(description="what the scenario rests on")
    overrides: list[Override] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    note: str | None = None


class ScenarioSet(_Rec):
    pack: str
    version: str
    scenarios: list[Scenario] = Field(min_length=1)
    content_hash: str = ""

    @model_validator(mode="after")
    def _probabilities(self) -> Self:
        ids = [s.id for s in self.scenarios]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate scenario ids")
        enacted = [s for s in self.scenarios if s.basis.kind is BasisKind.ENACTED]
        for s in enacted:
            if s.overrides:
                raise ValueError(
                    f"scenario {s.id!r}: enacted law belongs in the pack, not in overrides"
                )
        if len(enacted) != 1:
            raise ValueError(
                f"a scenario set needs exactly one scenario with basis kind 'enacted' (current "
                f"law), has {len(enacted)}"
            )
        (base,) = enacted
        if abs(base.probability - 1.0) > 1e-9:
            raise ValueError(
                f"scenario {base.id!r}: the enacted current law has probability 1, not "
                f"{base.probability:g} (the other scenarios are changes to it, each with its own "
                "probability)"
            )
        events: dict[str, float] = {}
        for s in self.scenarios:
            if s is base:
                continue
            if s.event == base.event:
                raise ValueError(f"scenario {s.id!r} shares the current-law event {s.event!r}")
            events[s.event] = events.get(s.event, 0.0) + s.probability
        for event, total in events.items():
            if total > 1.0 + 1e-6:
                raise ValueError(
                    f"the alternatives of event {event!r} are exclusive: their probabilities "
                    f"add up to {total:.4f}, more than 1"
                )
        return self

    @property
    def baseline(self) -> Scenario:
        """The enacted current-law scenario."""
        return next(s for s in self.scenarios if s.basis.kind is BasisKind.ENACTED)

    def get(self, sid: str) -> Scenario:
        for s in self.scenarios:
            if s.id == sid:
                return s
        raise KeyError(f"no scenario {sid!r}; known: {[s.id for s in self.scenarios]}")


def _read(path: Path) -> tuple[Any, str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError([DatasetIssue(str(path), "", "", f"cannot read: {exc}")]) from None
    try:
        return load_yaml(data.decode("utf-8")), "sha256:" + hashlib.sha256(data).hexdigest()[:16]
    except (YamlError, UnicodeDecodeError) as exc:
        raise DatasetError([DatasetIssue(path.name, "", "", str(exc))]) from None


def _refuse(path: Path, exc: ValidationError) -> DatasetError:
    return DatasetError(
        [
            DatasetIssue(
                path.name,
                "",
                ".".join(str(p) for p in e["loc"]),
                str(e["msg"]).removeprefix("Value error, "),
            )
            for e in exc.errors(include_url=False)
        ]
    )


def load_pack(path: str | Path) -> PolicyPack:
    """Load and validate a policy pack; errors name the file and the field."""
    p = Path(path)
    raw, digest = _read(p)
    if not isinstance(raw, dict):
        raise DatasetError([DatasetIssue(p.name, "", "", "a policy pack is a mapping")])
    try:
        return PolicyPack.model_validate({**raw, "content_hash": digest})
    except ValidationError as exc:
        raise _refuse(p, exc) from None


def load_scenarios(path: str | Path, pack: PolicyPack) -> ScenarioSet:
    """Load a scenario set and check every override names a parameter of ``pack``."""
    p = Path(path)
    raw, digest = _read(p)
    if not isinstance(raw, dict):
        raise DatasetError([DatasetIssue(p.name, "", "", "a scenario file is a mapping")])
    try:
        ss = ScenarioSet.model_validate({**raw, "content_hash": digest})
    except ValidationError as exc:
        raise _refuse(p, exc) from None
    issues = [
        DatasetIssue(
            p.name,
            f"scenario {s.id}",
            f"overrides.{i}.param",
            f"unknown parameter {o.param!r} of pack {pack.pack.id!r}",
        )
        for s in ss.scenarios
        for i, o in enumerate(s.overrides)
        if o.param not in pack.parameters
    ]
    if issues:
        raise DatasetError(issues)
    return ss
