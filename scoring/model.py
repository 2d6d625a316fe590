"""The georisk domain model: sources, entities, typed links and arrangements (pydantic v2).

Every record kind is a frozen pydantic model. Field names are the on-disk names of the dataset
format documented in ``data/README.md``; the same model validates YAML, CSV and JSONL input.

Conventions
-----------
* Shares are **fractions in [0, 1]** (BODS 0.4 uses 0–100; we divide by 100). A share is either an
  exact number or a range ``{minimum, maximum, exclusive_minimum, exclusive_maximum}`` as in
  BODS 0.4 ``share`` objects.
* A link points from the party that *holds or provides* to the party that *is held or receives*:
  owner → owned (equity, votes), lender → borrower (debt), appointer → entity (appointment),
  licensor → licensee, supplier → buyer (equipment, services, material supply), operator →
  facility (operation), producer → buyer (offtake), member → consortium (membership),
  controller → controlled (control: consolidation or other influence, never a share).
* Dates are ISO dates; ``valid_from``/``valid_to`` are inclusive. A missing bound is open.
* ``unconfirmed: true`` marks a fact that no authority confirmed (the brief's UNCONFIRMED);
  ``unconfirmed_note`` says what exactly is unconfirmed.

Example
-------
>>> link = Link(id="ford-owns-blueoval", kind=LinkKind.EQUITY, source="ford",
...             target="blueoval-battery-park-mi", share=1.0, sources=["a1"])
>>> link.share_interval().lo
1.0
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from georisk.scoring.countries import ISO_3166_ALPHA2
from georisk.scoring.interval import Interval

__all__ = [
    "APPOINTMENT_ROLES",
    "CONTROL_ROLES",
    "ID_PATTERN",
    "ROLES_OF",
    "Activity",
    "Arrangement",
    "ArrangementStatus",
    "Capacity",
    "DutyGroup",
    "Entity",
    "EntityFacts",
    "EntityKind",
    "ForeignFinancialContribution",
    "Identifier",
    "KnowHowTransfer",
    "LicenceTerms",
    "Link",
    "LinkKind",
    "LinkStatus",
    "ListMembership",
    "MarketPlacement",
    "Money",
    "Origin",
    "Party",
    "Product",
    "ReportedCredit",
    "Share",
    "ShareRange",
    "Source",
    "StatusEvent",
    "Tender",
    "Transaction",
    "TransactionKind",
    "Turnover",
    "TurnoverScope",
    "Undertaking",
]

ID_PATTERN = r"^[a-z0-9][a-z0-9._:-]{0,127}$"
_ID_RE = re.compile(ID_PATTERN)
Id = Annotated[str, Field(pattern=ID_PATTERN, description="lower-case slug: a-z 0-9 . _ : -")]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Source(_Record):
    """Where a fact comes from: a URL, a seed file, or a secondary synthesis."""

    id: Id
    title: str
    url: str | None = None
    seed: str | None = Field(default=None, description="file name under shared/seeds/")
    published: dt.date | None = None
    secondary: bool = Field(
        default=False, description="only a secondary synthesis supports it: treat as a lead"
    )
    note: str | None = None

    @model_validator(mode="after")
    def _located(self) -> Self:
        if not (self.url or self.seed or self.note):
            raise ValueError("a source needs a url, a seed file name or a note saying what it is")
        return self


class EntityKind(StrEnum):
    COMPANY = "company"
    GOVERNMENT = "government"
    STATE_BODY = "state_body"  # ministries, SASAC, state-owned asset agencies, state academies
    PERSON = "person"
    FACILITY = "facility"
    CONSORTIUM = "consortium"
    ACADEMIC = "academic"  # universities and non-state research institutes
    FUND = "fund"


class ListMembership(_Record):
    """Membership of a restricted-party list, e.g. ``dod-1260h`` since 2025-01-07."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    list_id: Id = Field(alias="list", description="list id from the policy pack, e.g. dod-1260h")
    since: dt.date | None = None
    until: dt.date | None = None
    sources: list[Id] = Field(min_length=1)
    unconfirmed: bool = False
    note: str | None = None

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.since and self.until and self.until < self.since:
            raise ValueError(f"until {self.until} is before since {self.since}")
        return self

    def active(self, on: dt.date) -> bool:
        return (self.since is None or self.since <= on) and (self.until is None or on <= self.until)


class Identifier(_Record):
    """A foreign identifier of an entity, with its scheme: ``XI-LEI`` (an LEI), ``GB-COH`` (a
    register number, org-id.guide list codes), ``OpenSanctions``, ``BODS-record``, …; imports
    match entities on (scheme, id)."""

    scheme: str = Field(min_length=1)
    id: str = Field(min_length=1)
    sources: list[Id] = Field(default_factory=list)


class _Fact(_Record):
    """What every fact of the EU/UK rules carries: sources and the UNCONFIRMED marks."""

    sources: list[Id] = Field(min_length=1)
    unconfirmed: bool = False
    unconfirmed_note: str | None = None
    note: str | None = None


def _iso_code(v: str) -> str:
    v = v.upper()
    if v not in ISO_3166_ALPHA2:
        raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 country code")
    return v


class Money(_Record):
    """An amount of money, exact (``amount``) or known within inclusive bounds.

    "Well below EUR 500m" is ``Money(maximum=499_999_999)``; no FX conversion is ever made, so a
    test in another currency than the fact's cannot be decided from it.

    >>> Money(maximum=499_999_999).bounds()
    (0.0, 499999999.0)
    >>> Money(amount=4.1e9).bounds()
    (4100000000.0, 4100000000.0)
    """

    amount: float | None = Field(default=None, ge=0)
    minimum: float | None = Field(default=None, ge=0)
    maximum: float | None = Field(default=None, ge=0)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217")

    @model_validator(mode="after")
    def _given(self) -> Self:
        if self.amount is None and self.minimum is None and self.maximum is None:
            raise ValueError("an amount needs amount, or minimum/maximum")
        if self.amount is not None and (self.minimum is not None or self.maximum is not None):
            raise ValueError("give amount or minimum/maximum, not both")
        if self.minimum is not None and self.maximum is not None and self.maximum < self.minimum:
            raise ValueError("maximum is below minimum")
        return self

    def bounds(self) -> tuple[float, float]:
        """(lower, upper); an open upper bound is infinity."""
        if self.amount is not None:
            return float(self.amount), float(self.amount)
        lo = float(self.minimum) if self.minimum is not None else 0.0
        hi = float(self.maximum) if self.maximum is not None else float("inf")
        return lo, hi


class Activity(_Fact):
    """An activity an entity carries on (matched against the packs' sector maps), e.g.
    ``battery_cell_manufacturing`` since 2024-12-10."""

    activity: Id
    since: dt.date | None = None
    until: dt.date | None = None

    def active(self, on: dt.date) -> bool:
        return (self.since is None or self.since <= on) and (self.until is None or on <= self.until)


class TurnoverScope(StrEnum):
    WORLDWIDE = "worldwide"
    EU = "eu"  # turnover in the European Union (FSR art. 20)
    GROUP = "group"  # consolidated turnover of the group (Battery Regulation art. 47)
    NATIONAL = "national"  # in one country (``country``)


class Turnover(_Fact, Money):
    """An entity's turnover of one financial year in one scope (money fields inline)."""

    scope: TurnoverScope
    year: int = Field(ge=1900, le=2100, description="financial year")
    country: str | None = Field(default=None, description="scope national: ISO alpha-2")

    @field_validator("country")
    @classmethod
    def _iso(cls, v: str | None) -> str | None:
        return None if v is None else _iso_code(v)

    @model_validator(mode="after")
    def _national(self) -> Self:
        if (self.scope is TurnoverScope.NATIONAL) != (self.country is not None):
            raise ValueError("country is given exactly for scope national")
        return self


class ForeignFinancialContribution(_Fact, Money):
    """Foreign financial contributions (FSR art. 3) from one third country over a period."""

    country: str = Field(description="the granting third country, ISO alpha-2")
    period_from: dt.date | None = None
    period_to: dt.date | None = None
    kind: str = Field(
        default="other", pattern=r"^(grant|loan|guarantee|tax|equity|other)$", description="form"
    )

    @field_validator("country")
    @classmethod
    def _iso(cls, v: str) -> str:
        return _iso_code(v)

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.period_from and self.period_to and self.period_to < self.period_from:
            raise ValueError("period_to is before period_from")
        return self


class DutyGroup(_Fact):
    """The rate group of a producer under a trade measure (e.g. ``byd`` under
    ``eu-bev-cvd``); the pack holds each group's rate."""

    measure: Id
    group: Id
    since: dt.date | None = None
    until: dt.date | None = None

    def active(self, on: dt.date) -> bool:
        return (self.since is None or self.since <= on) and (self.until is None or on <= self.until)


class Undertaking(_Fact):
    """A price undertaking accepted under a trade measure, for some models (all when empty)."""

    measure: Id
    models: list[str] = Field(default_factory=list)
    accepted: dt.date
    withdrawn: dt.date | None = None

    def active(self, on: dt.date) -> bool:
        return self.accepted <= on and (self.withdrawn is None or on < self.withdrawn)


class EntityFacts(_Record):
    """Facts about an entity that the EU/UK rules read (``facts:`` of an entity record)."""

    activities: list[Activity] = Field(default_factory=list)
    turnover: list[Turnover] = Field(default_factory=list)
    foreign_financial_contributions: list[ForeignFinancialContribution] = Field(
        default_factory=list
    )
    duty_groups: list[DutyGroup] = Field(default_factory=list)
    undertakings: list[Undertaking] = Field(default_factory=list)

    def fact_sources(self) -> list[tuple[str, list[str]]]:
        """(field path, sources) of every fact, for the loader's reference check."""
        out: list[tuple[str, list[str]]] = []
        for name in (
            "activities",
            "turnover",
            "foreign_financial_contributions",
            "duty_groups",
            "undertakings",
        ):
            for i, f in enumerate(getattr(self, name)):
                out.append((f"facts.{name}.{i}.sources", list(f.sources)))
        return out


class Entity(_Record):
    """A company, government, state body, person, facility, consortium, …"""

    id: Id
    name: str = Field(min_length=1)
    kind: EntityKind
    country: str | None = Field(
        default=None, description="ISO 3166-1 alpha-2: where it is organized (or nationality)"
    )
    principal_place: str | None = Field(
        default=None, description="ISO 3166-1 alpha-2 of the principal place of business"
    )
    us_person: bool | None = Field(
        default=None, description="persons: US citizen or lawful permanent resident (if known)"
    )
    aliases: list[str] = Field(default_factory=list)
    lists: list[ListMembership] = Field(default_factory=list)
    sources: list[Id] = Field(default_factory=list)
    unconfirmed: bool = False
    unconfirmed_note: str | None = None
    note: str | None = None
    identifiers: list[Identifier] = Field(
        default_factory=list,
        description="foreign identifiers (LEI, register numbers, …)",
    )
    facts: EntityFacts | None = Field(
        default=None,
        description="activities, turnover, foreign financial contributions, duty groups and "
        "undertakings (the EU/UK rules' facts)",
    )

    @field_validator("country", "principal_place")
    @classmethod
    def _iso(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.upper()
        if v not in ISO_3166_ALPHA2:
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 country code")
        return v

    def listed_on(self, list_id: str, on: dt.date) -> ListMembership | None:
        for m in self.lists:
            if m.list_id == list_id and m.active(on):
                return m
        return None


class ShareRange(_Record):
    """A share known only within bounds (BODS 0.4 ``share`` object, as fractions)."""

    minimum: float = Field(default=0.0, ge=0.0, le=1.0)
    maximum: float = Field(default=1.0, ge=0.0, le=1.0)
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.maximum < self.minimum:
            raise ValueError(f"maximum {self.maximum} is below minimum {self.minimum}")
        return self


Share = Annotated[float, Field(ge=0.0, le=1.0)] | ShareRange


class LinkKind(StrEnum):
    EQUITY = "equity"
    VOTING = "voting"
    APPOINTMENT = "appointment"  # board seat or officer appointment rights
    DEBT = "debt"
    LICENCE = "licence"  # technology licence
    EQUIPMENT = "equipment"
    SERVICES = "services"
    OPERATION = "operation"
    OFFTAKE = "offtake"
    SUPPLY = "supply"  # material supply
    MEMBERSHIP = "membership"  # consortium membership
    # control without a share: accounting consolidation (GLEIF Level 2), other influence or
    # control (BODS); never multiplied or summed as a share (its ``role`` says what it is)
    CONTROL = "control"


OWNERSHIP_KINDS = frozenset({LinkKind.EQUITY, LinkKind.VOTING})
SHARE_MEANING: dict[LinkKind, str] = {
    LinkKind.EQUITY: "fraction of the target's equity held",
    LinkKind.VOTING: "fraction of the target's votes held",
    LinkKind.APPOINTMENT: "fraction of the target's board seats appointed",
    LinkKind.DEBT: "fraction of the target's outstanding debt held",
    LinkKind.SUPPLY: "fraction of the buyer's direct material cost",
    LinkKind.OFFTAKE: "fraction of the producer's output bought",
    LinkKind.EQUIPMENT: "fraction of the buyer's production equipment (by cost)",
}


class LinkStatus(StrEnum):
    CONFIRMED = "confirmed"  # the parties or an authority said so
    REPORTED = "reported"  # press reports, not confirmed by the parties
    PROPOSED = "proposed"  # talks, plans, announced but not concluded


class KnowHowTransfer(StrEnum):
    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"
    UNKNOWN = "unknown"


class LicenceTerms(_Record):
    """Terms of a technology licence (and its attached service agreement)."""

    technology: str | None = None
    chemistry: str | None = None
    signed: dt.date | None = None
    modified: dt.date | None = Field(default=None, description="last material modification")
    core_ip: bool = Field(default=True, description="core cell/process IP (vs. peripheral)")
    royalty_years: float | None = Field(default=None, ge=0)
    service_years: float | None = Field(default=None, ge=0)
    know_how_transfer: KnowHowTransfer = KnowHowTransfer.UNKNOWN
    licensor_controls: list[str] = Field(
        default_factory=list,
        description="what the licensor can direct: component_sourcing, operations, ip_use",
    )
    ip_purchase: bool = Field(default=False, description="outright IP purchase, not a licence")


APPOINTMENT_ROLES = frozenset({"board", "officer"})
#: what a ``control`` link records: the parent that consolidates the entity's accounts directly
#: or ultimately (GLEIF Level 2 "IS_DIRECTLY/ULTIMATELY_CONSOLIDATED_BY"; IFRS 10 / US GAAP
#: control), or another influence or control (BODS ``otherInfluenceOrControl``)
CONTROL_ROLES = frozenset({"direct_consolidation", "ultimate_consolidation", "influence"})
ROLES_OF: dict[LinkKind, frozenset[str]] = {
    LinkKind.APPOINTMENT: APPOINTMENT_ROLES,
    LinkKind.CONTROL: CONTROL_ROLES,
}


class Link(_Record):
    """A typed, dated, sourced relation between two entities."""

    id: Id
    kind: LinkKind
    source: Id = Field(description="holder / provider (see module docstring)")
    target: Id = Field(description="held / receiver")
    share: Share | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    status: LinkStatus = LinkStatus.CONFIRMED
    unconfirmed: bool = False
    unconfirmed_note: str | None = None
    role: str | None = Field(
        default=None,
        description="appointment links: board or officer; control links: direct_consolidation, "
        "ultimate_consolidation or influence",
    )
    licence: LicenceTerms | None = None
    arrangement: Id | None = Field(
        default=None,
        description="the arrangement this link belongs to, when its parties have several deals "
        "(e.g. two CATL licences to Ford); links without it count for every arrangement",
    )
    sources: list[Id] = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        if self.source == self.target:
            raise ValueError("a link cannot point from an entity to itself")
        if self.licence is not None and self.kind is not LinkKind.LICENCE:
            raise ValueError("licence terms belong on a link of kind 'licence'")
        if self.role is not None:
            roles = ROLES_OF.get(self.kind)
            if roles is None:
                raise ValueError("role belongs on a link of kind 'appointment' or 'control'")
            if self.role not in roles:
                raise ValueError(f"role of a {self.kind.value} link must be one of {sorted(roles)}")
        if self.kind is LinkKind.CONTROL and self.share is not None:
            raise ValueError("a control link carries no share (record equity or votes instead)")
        if self.kind in OWNERSHIP_KINDS and self.share is None:
            raise ValueError(f"a {self.kind.value} link needs a share (exact or range)")
        return self

    def active(self, on: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_to is None or on <= self.valid_to
        )

    def share_interval(self) -> Interval:
        """The share as an interval; an unknown share is [0, 1] (fully open)."""
        if self.share is None:
            return Interval.unknown()
        if isinstance(self.share, ShareRange):
            return Interval(
                self.share.minimum,
                self.share.maximum,
                self.share.exclusive_minimum,
                self.share.exclusive_maximum,
            )
        return Interval.exact(float(self.share))

    def share_bounds(self) -> tuple[float, float]:
        """(lower, upper) share without building an Interval (hot path of matrix building)."""
        sh = self.share
        if sh is None:
            return 0.0, 1.0
        if isinstance(sh, ShareRange):
            return sh.minimum, sh.maximum
        return float(sh), float(sh)

    @property
    def uncertain(self) -> bool:
        """True when the link is unconfirmed, only reported/proposed, or its share is ranged."""
        return (
            self.unconfirmed
            or self.status is not LinkStatus.CONFIRMED
            or isinstance(self.share, ShareRange)
        )


class Product(StrEnum):
    CELLS = "cells"
    MODULES = "modules"
    PACKS = "packs"
    STORAGE = "storage"  # energy-storage systems
    VEHICLES = "vehicles"
    ELECTRODE_MATERIALS = "electrode_materials"
    CRITICAL_MINERALS = "critical_minerals"
    RESEARCH = "research"
    OTHER = "other"


class ArrangementStatus(StrEnum):
    TALKS = "talks"
    ANNOUNCED = "announced"
    CONSTRUCTION = "construction"
    PRODUCING = "producing"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class StatusEvent(_Record):
    status: ArrangementStatus
    date: dt.date
    sources: list[Id] = Field(min_length=1)
    note: str | None = None


class Party(_Record):
    entity: Id
    role: str = Field(
        min_length=1,
        description="owner, operator, licensor, licensee, offtaker, supplier, financier, "
        "jv_partner, member, taxpayer, …",
    )


class Capacity(_Record):
    """Capacity in GWh per year, exact or a range, with its source."""

    gwh: float | None = Field(default=None, ge=0)
    minimum_gwh: float | None = Field(default=None, ge=0)
    maximum_gwh: float | None = Field(default=None, ge=0)
    sources: list[Id] = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _given(self) -> Self:
        if self.gwh is None and self.minimum_gwh is None and self.maximum_gwh is None:
            raise ValueError("capacity needs gwh, or minimum_gwh/maximum_gwh")
        if (
            self.minimum_gwh is not None
            and self.maximum_gwh is not None
            and self.maximum_gwh < self.minimum_gwh
        ):
            raise ValueError("maximum_gwh is below minimum_gwh")
        return self

    def bounds(self) -> tuple[float, float]:
        if self.gwh is not None:
            return self.gwh, self.gwh
        lo = self.minimum_gwh if self.minimum_gwh is not None else 0.0
        hi = self.maximum_gwh if self.maximum_gwh is not None else lo
        return lo, hi


class ReportedCredit(_Record):
    """A credit figure reported for the arrangement (e.g. "about $900M a year" for Ford
    Marshall's §45X), shown beside the engine's estimate, never in its place."""

    usd_per_year: float = Field(ge=0, description="the reported annual amount, US dollars")
    credit: str = Field(default="45X", min_length=1, description="which credit, e.g. 45X")
    sources: list[Id] = Field(min_length=1, description="among the arrangement's sources")
    unconfirmed: bool = False
    note: str | None = None


class MarketPlacement(_Fact):
    """Where the arrangement's products are placed on the market, by whom, from when."""

    countries: list[str] = Field(min_length=1)
    products: list[Product] = Field(default_factory=list, description="[] = all its products")
    categories: list[str] = Field(
        default_factory=list, description="e.g. ev, industrial_2kwh, lmt ([] = not stated)"
    )
    operator: Id | None = Field(default=None, description="the economic operator placing them")
    since: dt.date | None = Field(default=None, description="first placing on the market")
    until: dt.date | None = None

    @field_validator("countries")
    @classmethod
    def _iso(cls, v: list[str]) -> list[str]:
        return [_iso_code(c) for c in v]


class Origin(_Fact):
    """The value share of a product coming from one origin country."""

    product: Product
    country: str
    share: Share
    assembled_from_cells: bool | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    @field_validator("country")
    @classmethod
    def _iso(cls, v: str) -> str:
        return _iso_code(v)

    def active(self, on: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_to is None or on <= self.valid_to
        )

    def bounds(self) -> tuple[float, float]:
        sh = self.share
        if isinstance(sh, ShareRange):
            return sh.minimum, sh.maximum
        return float(sh), float(sh)


class TransactionKind(StrEnum):
    ACQUISITION = "acquisition"
    JOINT_VENTURE = "joint_venture"
    GREENFIELD = "greenfield"  # a new plant by its existing owner: no acquisition of control
    SUPPLY = "supply"  # a supply agreement: no acquisition of shares, votes or assets
    LICENCE = "licence"  # a technology licence: no acquisition of shares or votes


class Transaction(_Fact):
    """What the arrangement does to a target's ownership (screening and FSR concentrations)."""

    id: Id
    kind: TransactionKind
    target: Id
    acquirers: list[Id] = Field(default_factory=list)
    signed: dt.date | None = None
    closed: dt.date | None = None
    control: bool | None = Field(default=None, description="acquires control or joint control")
    stake_before: float | None = Field(default=None, ge=0.0, le=1.0)
    value: Money | None = None


class Tender(_Fact):
    """A public tender the arrangement bids in (FSR art. 28, NZIA art. 25)."""

    id: Id
    authority_country: str
    date: dt.date
    value: Money | None = None
    lots_value: Money | None = None
    net_zero: bool = True
    central_purchasing_body: bool | None = None
    bidder: Id
    origins: list[Origin] = Field(default_factory=list)

    @field_validator("authority_country")
    @classmethod
    def _iso(cls, v: str) -> str:
        return _iso_code(v)


class Arrangement(_Record):
    """A named deal around a focal facility or entity."""

    id: Id
    name: str = Field(min_length=1)
    focal: Id = Field(description="the facility or entity the deal is about")
    parties: list[Party] = Field(min_length=1)
    taxpayer: Id | None = Field(default=None, description="who would claim the credits")
    country: str = Field(description="ISO 3166-1 alpha-2 of the location")
    region: str | None = None
    products: list[Product] = Field(min_length=1)
    chemistry: str | None = None
    capacity: Capacity | None = None
    reported_credit: ReportedCredit | None = Field(
        default=None, description="a credit figure reported in the sources, with them"
    )
    status: list[StatusEvent] = Field(min_length=1, description="status history, any order")
    template: bool = Field(
        default=False, description="a model deal (e.g. CATL LRS) scored through what-if overlays"
    )
    sources: list[Id] = Field(min_length=1)
    unconfirmed: bool = False
    unconfirmed_note: str | None = None
    note: str | None = None
    markets: list[MarketPlacement] = Field(
        default_factory=list, description="where its products are placed on the market"
    )
    origins: list[Origin] = Field(
        default_factory=list, description="value shares of its products by origin country"
    )
    transactions: list[Transaction] = Field(
        default_factory=list, description="acquisitions, joint ventures, greenfield builds"
    )
    tenders: list[Tender] = Field(default_factory=list, description="public tenders it bids in")

    @field_validator("country")
    @classmethod
    def _iso(cls, v: str) -> str:
        v = v.upper()
        if v not in ISO_3166_ALPHA2:
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 country code")
        return v

    @model_validator(mode="after")
    def _reported_sources(self) -> Self:
        # the loader checks the arrangement's own sources exist: the figure cites among them
        if self.reported_credit is not None:
            extra = sorted(set(self.reported_credit.sources) - set(self.sources))
            if extra:
                raise ValueError(
                    f"reported_credit cites {', '.join(extra)}, not among the arrangement's sources"
                )
        return self

    def status_on(self, on: dt.date) -> StatusEvent | None:
        """The latest status event dated on or before ``on`` (None if the deal is not yet known)."""
        past = [e for e in self.status if e.date <= on]
        return max(past, key=lambda e: e.date) if past else None

    def party_ids(self) -> list[str]:
        return [p.entity for p in self.parties]


def is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_ID_RE.match(value))
