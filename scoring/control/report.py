"""The ownership report of one entity (``georisk ownership``, ``GetOwnership``): its direct
holders, controllers, covered-nation exposure and the SFE/FIE tests, on the graph's date."""

from __future__ import annotations

import builtins

from pydantic import BaseModel, Field

from georisk.scoring.control.controllers import ControlResult, ultimate_controllers
from georisk.scoring.control.exposure import ExposureResult, covered_exposure
from georisk.scoring.control.params import PfeParams
from georisk.scoring.control.pfe import (
    FieResult,
    SfeResult,
    foreign_influenced,
    specified_foreign_entity,
)
from georisk.scoring.graph import ArrangementGraph, ShareValue
from georisk.scoring.model import OWNERSHIP_KINDS, EntityKind, LinkKind

__all__ = [
    "DirectHolder",
    "EntitySummary",
    "ListEntry",
    "OwnershipReport",
    "entity_summary",
    "ownership_report",
]


class DirectHolder(BaseModel):
    holder: str
    name: str
    country: str | None
    kind: LinkKind
    share: ShareValue
    link: str
    status: str
    unconfirmed: bool
    sources: list[str]


class ListEntry(BaseModel):
    list: str
    since: str | None
    sources: builtins.list[str]
    unconfirmed: bool


class EntitySummary(BaseModel):
    id: str
    name: str
    kind: EntityKind
    country: str | None
    lists: list[ListEntry]
    unconfirmed: bool


class OwnershipReport(BaseModel):
    """The ``georisk ownership`` result (JSON schema ``georisk.ownership/v1``)."""

    schema_: str = Field(default="georisk.ownership/v1", alias="schema")
    dataset_version: str
    as_of: str
    entity: EntitySummary
    direct_holders: list[DirectHolder]
    control: ControlResult
    covered_nation_exposure: ExposureResult
    specified_foreign_entity: SfeResult
    foreign_influenced_entity: FieResult

    model_config = {"populate_by_name": True}


def entity_summary(g: ArrangementGraph, entity_id: str) -> EntitySummary:
    e = g.dataset.entities[entity_id]
    return EntitySummary(
        id=e.id,
        name=e.name,
        kind=e.kind,
        country=e.country,
        unconfirmed=e.unconfirmed,
        lists=[
            ListEntry(
                list=m.list_id,
                since=m.since.isoformat() if m.since else None,
                sources=list(m.sources),
                unconfirmed=m.unconfirmed,
            )
            for m in e.lists
            if m.active(g.as_of)
        ],
    )


def ownership_report(
    g: ArrangementGraph, entity_id: str, params: PfeParams | None = None
) -> OwnershipReport:
    """Everything georisk knows about who owns and controls ``entity_id`` on the graph's date."""
    params = params or PfeParams()
    holders = [
        DirectHolder(
            holder=l.source,
            name=g.dataset.entities[l.source].name,
            country=g.dataset.entities[l.source].country,
            kind=l.kind,
            share=ShareValue.of(l.share_interval()),
            link=l.id,
            status=l.status.value,
            unconfirmed=l.unconfirmed,
            sources=list(l.sources),
        )
        for l in sorted(
            g.links_into(entity_id, OWNERSHIP_KINDS), key=lambda l: -l.share_interval().hi
        )
    ]
    return OwnershipReport(
        dataset_version=g.dataset.version,
        as_of=g.as_of.isoformat(),
        entity=entity_summary(g, entity_id),
        direct_holders=holders,
        control=ultimate_controllers(g, entity_id, params),
        covered_nation_exposure=covered_exposure(g, entity_id, params),
        specified_foreign_entity=specified_foreign_entity(g, entity_id, params),
        foreign_influenced_entity=foreign_influenced(g, entity_id, params),
    )
