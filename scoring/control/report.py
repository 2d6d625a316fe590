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
    "render_ownership_table",
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


def _share(s: ShareValue) -> str:
    return str(s.interval())


def render_ownership_table(r: OwnershipReport) -> str:
    """A plain-text report an analyst can read and check against the JSON."""
    e = r.entity
    out = [
        f"{e.name} ({e.id}) — {e.kind.value}, {e.country or '??'}"
        + ("  [UNCONFIRMED]" if e.unconfirmed else ""),
        f"as of {r.as_of}; dataset {r.dataset_version}",
    ]
    for m in e.lists:
        out.append(f"  listed: {m.list} since {m.since or 'enactment'} [{', '.join(m.sources)}]")
    out.append("")
    out.append("Direct holders:")
    if not r.direct_holders:
        out.append("  (none recorded)")
    for h in r.direct_holders:
        flag = " UNCONFIRMED" if h.unconfirmed else ""
        out.append(
            f"  {_share(h.share):>18}  {h.kind.value:<7} {h.name} ({h.holder}, {h.country or '??'})"
            f"  {h.status}{flag}  [{', '.join(h.sources)}]"
        )
    c = r.control
    out.append("")
    out.append(
        "Control (majority chain): "
        + (", ".join(c.ultimate) + " (ultimate)" if c.ultimate else "no controller — widely held")
        + (f"; undetermined: {', '.join(c.undetermined)}" if c.undetermined else "")
    )
    x = r.covered_nation_exposure
    out.append(
        f"Covered-nation exposure: {_share(x.share)} (direct {_share(x.direct)})"
        + ("" if x.converged else "  [series did not converge]")
    )
    for p in x.paths.paths:
        out.append(f"  {_share(p.product):>18}  " + " → ".join(p.entities))
    if x.paths.truncated:
        out.append("  … (listing truncated)")
    out.append("")
    for title, res in (
        ("Specified foreign entity", r.specified_foreign_entity),
        ("Foreign-influenced entity", r.foreign_influenced_entity),
    ):
        out.append(f"{title}: {res.verdict.value.upper()}")
        for t in res.tests:
            out.append(f"  [{t.verdict.value:^12}] {t.test}: {t.reason}")
            out.append(f"  {'':14} {t.clause}")
            if t.depends_on_unconfirmed:
                out.append(f"  {'':14} rests on unconfirmed: {', '.join(t.depends_on_unconfirmed)}")
    return "\n".join(out)
