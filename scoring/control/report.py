"""The ownership report of one entity (``georisk ownership``, ``GetOwnership``): its direct
holders, controllers, covered-nation exposure and the SFE/FIE tests, on the graph's date."""

from __future__ import annotations

import builtins
import textwrap
from dataclasses import replace

from pydantic import BaseModel, Field

from georisk.scoring.control.controllers import ControlResult, ultimate_controllers
from georisk.scoring.control.exposure import ExposureResult, covered_exposure
from georisk.scoring.control.params import PfeParams
from georisk.scoring.control.pfe import (
    LIST_NAMES,
    NAMED_AT_MOST,
    FieResult,
    SfeResult,
    foreign_influenced,
    named_holders,
    pfe_sentence,
    sfe_basis,
    specified_foreign_entity,
)
from georisk.scoring.graph import ArrangementGraph, PathListing, ShareValue
from georisk.scoring.interval import Tri
from georisk.scoring.model import OWNERSHIP_KINDS, EntityKind, LinkKind
from georisk.scoring.wording import pct_range, prose_list

__all__ = [
    "ControlHolder",
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


class ControlHolder(BaseModel):
    """A controller recorded without a share (a ``control`` link): the parent that consolidates
    the entity's accounts (GLEIF Level 2) or another influence or control (BODS). Shown beside
    the holders, never counted in the share arithmetic."""

    holder: str
    name: str
    country: str | None
    role: str | None
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
    other_control: list[ControlHolder] = Field(
        default_factory=list,
        description="controllers recorded without a share (consolidation, other influence)",
    )
    covered_nation_exposure: ExposureResult
    specified_foreign_entity: SfeResult
    foreign_influenced_entity: FieResult
    summary: str = Field(
        default="",
        description="the SFE/FIE verdict as one sentence, with why each SFE is one",
    )
    sfe_basis: dict[str, str] = Field(
        default_factory=dict,
        description="why the entity and each SFE holder the findings name is an SFE, by id",
    )
    names: dict[str, str] = Field(
        default_factory=dict, description="the names of the entities it mentions"
    )

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
    """Everything georisk knows about who owns and controls ``entity_id`` on the graph's date
    (with every explanation, whatever ``params.explain`` says)."""
    params = replace(params, explain=True) if params else PfeParams()
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
    ents = g.dataset.entities
    others = [
        ControlHolder(
            holder=l.source,
            name=ents[l.source].name,
            country=ents[l.source].country,
            role=l.role,
            link=l.id,
            status=l.status.value,
            unconfirmed=l.unconfirmed,
            sources=list(l.sources),
        )
        for l in sorted(g.links_into(entity_id, [LinkKind.CONTROL]), key=lambda l: l.id)
    ]
    control = ultimate_controllers(g, entity_id, params)
    exposure = covered_exposure(g, entity_id, params)
    sfe = specified_foreign_entity(g, entity_id, params)
    fie = foreign_influenced(g, entity_id, params)
    basis = {
        eid: why
        for eid in [
            entity_id,
            *(h.holder for h in named_holders(fie)),
            *[h.holder for h in fie.holders if h.sfe is Tri.TRUE][:NAMED_AT_MOST],
            *[h.holder for h in fie.holders if h.sfe is not Tri.TRUE][:NAMED_AT_MOST],
            *(o.holder for o in others),
        ]
        if (why := sfe_basis(g, eid, params)) is not None
    }
    listings: list[PathListing | None] = [control.paths, exposure.paths]
    listings += [t.paths for t in (*sfe.tests, *fie.tests)]
    mentioned = {entity_id, *fie.sfe_holders, *control.controllers, *control.undetermined}
    mentioned |= {e for p in listings if p is not None for x in p.paths for e in x.entities}
    mentioned |= {o.holder for o in others}
    return OwnershipReport(
        dataset_version=g.dataset.version,
        as_of=g.as_of.isoformat(),
        entity=entity_summary(g, entity_id),
        direct_holders=holders,
        control=control,
        other_control=others,
        covered_nation_exposure=exposure,
        specified_foreign_entity=sfe,
        foreign_influenced_entity=fie,
        summary=pfe_sentence(g, entity_id, params),
        sfe_basis=basis,
        names={e: ents[e].name for e in sorted(mentioned) if e in ents},
    )


def _share(s: ShareValue) -> str:
    return pct_range(s.min, s.max, lo_open=s.exclusive_min, hi_open=s.exclusive_max)


#: the width the table is wrapped to
WIDTH = 120


def render_ownership_table(r: OwnershipReport) -> str:
    """A plain-text report an analyst can read and check against the JSON: names first with
    ids in brackets, shares as percentages, the verdict as a sentence, and why each SFE holder
    is an SFE; wrapped to 120 columns."""

    def nm(eid: str) -> str:
        name = r.names.get(eid)
        return f"{name} [{eid}]" if name and name != eid else eid

    out: list[tuple[str, str]] = []  # (first-line text, indent of the continuation lines)

    def line(text: str, indent: str = "") -> None:
        out.append((text, indent))

    e = r.entity
    line(
        f"{nm(e.id) if e.id in r.names else f'{e.name} [{e.id}]'} — {e.kind.value}, "
        f"{e.country or 'country unknown'}" + ("  UNCONFIRMED" if e.unconfirmed else "")
    )
    line(f"as of {r.as_of}; dataset {r.dataset_version}")
    for m in e.lists:
        name = LIST_NAMES.get(m.list, f"the {m.list} list")
        line(
            f"  listed: on {name} [{m.list}] since {m.since or 'its enactment'}"
            + (" UNCONFIRMED" if m.unconfirmed else "")
            + f" (sources {', '.join(m.sources)})",
            "    ",
        )
    if r.summary:
        line("")
        line(r.summary, "  ")
    line("")
    line("Direct holders:")
    if not r.direct_holders:
        line("  none recorded")
    for h in r.direct_holders:
        flag = ", UNCONFIRMED" if h.unconfirmed else ""
        line(
            f"  {_share(h.share):>10}  {h.kind.value:<11} {nm(h.holder)}, "
            f"{h.country or 'country unknown'}  {h.status}{flag} "
            f"[{h.link}] (sources {', '.join(h.sources) or 'none'})",
            " " * 26,
        )
    if r.other_control:
        line("")
        line("Other control (recorded without a share; not counted in the share tests):")
    for o in r.other_control:
        flag = ", UNCONFIRMED" if o.unconfirmed else ""
        why = r.sfe_basis.get(o.holder)
        line(
            f"  {(o.role or 'control').replace('_', ' '):<22} {nm(o.holder)}, "
            f"{o.country or 'country unknown'}  {o.status}{flag} [{o.link}] "
            f"(sources {', '.join(o.sources) or 'none'})" + (f"; an SFE: {why}" if why else ""),
            " " * 26,
        )
    c = r.control
    line("")
    line(
        "Control (majority chain): "
        + (
            prose_list(nm(x) for x in c.ultimate) + " (ultimate)"
            if c.ultimate
            else "no controller, widely held"
        )
        + (
            f"; undetermined: {prose_list(nm(x) for x in c.undetermined)}" if c.undetermined else ""
        ),
        "  ",
    )
    x = r.covered_nation_exposure
    line(
        f"Covered-nation exposure: {_share(x.share)} (direct {_share(x.direct)})"
        + ("" if x.converged else "; the series did not converge"),
        "  ",
    )
    for p in x.paths.paths:
        line(f"  {_share(p.product):>10}  " + " → ".join(nm(i) for i in p.entities), " " * 14)
    if x.paths.truncated:
        line("  … more paths (listing truncated)")
    line("")
    for title, res in (
        ("Specified foreign entity", r.specified_foreign_entity),
        ("Foreign-influenced entity", r.foreign_influenced_entity),
    ):
        line(f"{title}: {res.verdict.value.upper()}")
        for t in res.tests:
            line(f"  [{t.verdict.value:^12}] {t.test.replace('_', ' ')}: {t.reason}", " " * 17)
            line(f"  {'':14} {t.clause}", " " * 17)
            if t.depends_on_unconfirmed:
                line(
                    f"  {'':14} rests on UNCONFIRMED: {prose_list(t.depends_on_unconfirmed)}",
                    " " * 17,
                )
    upstream = [h.holder for h in r.foreign_influenced_entity.holders if h.holder in r.sfe_basis]
    if upstream:
        line("")
        line("Why each SFE holder named is an SFE:")
        for sid in upstream:
            line(f"  {nm(sid)}: {r.sfe_basis[sid]}", "    ")
    text: list[str] = []
    for first, indent in out:
        if len(first) <= WIDTH:
            text.append(first)
            continue
        lead = first[: len(first) - len(first.lstrip())]
        text += textwrap.wrap(
            first,
            WIDTH,
            initial_indent="",
            subsequent_indent=indent or lead,
            break_on_hyphens=False,
            drop_whitespace=True,
        ) or [first]
    return "\n".join(text)
