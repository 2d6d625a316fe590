"""A georisk dataset → FollowTheMoney entities, one JSON object a line (``georisk export ftm``).

Every entity is built with the ``followthemoney`` library's model (``model.make_entity``, the
values cleaned by the library), never by hand, in the shape OpenSanctions publishes
(``entities.ftm.json``) and :func:`georisk.interop.ftm.read_ftm` reads back:

* a ``company`` → ``Company``; a ``government`` or ``state_body`` → ``PublicBody`` (as
  OpenSanctions models a state owner: ``datasets/ru/egrul/crawler.py`` of opensanctions/
  opensanctions makes the Russian Federation and its agencies ``PublicBody`` owners of the
  companies they hold); a ``person`` → ``Person``; a ``facility`` or ``fund`` → ``Company`` (an
  FtM ``Asset``, so that it can be the ``asset`` of an ``Ownership``: a plant is owned; FtM's
  ``RealEstate`` is not a party the FtM importer reads); a ``consortium`` or ``academic`` →
  ``Organization``. The georisk kind is kept in ``classification`` when the schema does not say
  it.
* ``equity``/``voting`` → ``Ownership`` (``percentage`` written as the reader parses it back:
  ``51``, ``26.47-30``, ``>0``, ``<50``; ``ownershipType`` ``shares`` or ``voting rights``);
  ``appointment`` → ``Directorship`` (``role`` board/officer); ``debt`` → ``Debt``;
  ``membership`` → ``Membership`` (FtM has that relation); every other kind (licence, supply,
  offtake, equipment, services, operation, control) → ``UnknownLink`` whose ``role`` names the
  georisk kind (``georisk licence``). Dates → ``startDate``/``endDate``; a status other than
  confirmed → ``status``; the unconfirmed mark and shares FtM has no field for → ``summary``.
* a list membership → a ``Sanction`` (``authority``, ``program`` as the reader recognises the
  pack's lists, ``programId`` ``georisk:<list>``, ``startDate``/``endDate``) and, when it is in
  force on the export date, the FtM topic of the list on the entity (``mil`` for the 1260H list,
  ``forced.labor`` for UFLPA, ``export.control`` for the BIS Entity List, ``sanction`` for SDN,
  ``debarment`` for the §154 procurement ban).

Ids are stable, made from georisk ids (:func:`ftm_id`): an entity keeps its ``OpenSanctions``
identifier when it has one, else ``georisk-<id>`` (``:`` written ``C``, ``_`` ``U``; FtM ids
allow neither), which :func:`georisk_id_of` reads back. Arrangements have no FtM form and are
not exported. What each record loses is in ``docs/import.md`` (Export, FollowTheMoney).

>>> ftm_id("bods:05ce06ec97b1")
'georisk-bodsC05ce06ec97b1'
>>> georisk_id_of("georisk-bodsC05ce06ec97b1")
'bods:05ce06ec97b1'
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from georisk.interop import Exported
from georisk.interop.core import identifier_key, json_line
from georisk.scoring.dataset import Dataset
from georisk.scoring.model import (
    Entity,
    EntityKind,
    Link,
    LinkKind,
    LinkStatus,
    ListMembership,
    ShareRange,
    Source,
)

__all__ = [
    "carried",
    "export_ftm",
    "ftm_id",
    "georisk_id_of",
    "left_out",
    "percentage",
    "write_ftm",
]

_PREFIX = "georisk-"
_ESCAPES = {":": "C", "_": "U"}
_ENDS = {".": "D", "-": "H"}
_UNESCAPE = {v: k for k, v in {**_ESCAPES, **_ENDS}.items()}
_FTM_ID = re.compile(r"^[0-9a-zA-Z]([0-9a-zA-Z.-]*[0-9a-zA-Z])?$")

_SCHEMA = {
    EntityKind.COMPANY: "Company",
    EntityKind.GOVERNMENT: "PublicBody",
    EntityKind.STATE_BODY: "PublicBody",
    EntityKind.PERSON: "Person",
    EntityKind.FACILITY: "Company",
    EntityKind.FUND: "Company",
    EntityKind.CONSORTIUM: "Organization",
    EntityKind.ACADEMIC: "Organization",
}
#: kinds the schema does not name: kept in ``classification``
_CLASSIFIED = frozenset(
    {
        EntityKind.GOVERNMENT,
        EntityKind.FACILITY,
        EntityKind.FUND,
        EntityKind.CONSORTIUM,
        EntityKind.ACADEMIC,
    }
)
#: the pack's lists as ``Sanction`` authority, program and FtM topic; the authority and program
#: are worded so that ``ftm.list_id_for`` gives the list id back (ndaa-fy2024-154 has no pattern
#: there: it comes back as ftm-sanction-us-congress)
_LISTS: dict[str, tuple[str, str, str]] = {
    "dod-1260h": (
        "US Department of Defense",
        "Section 1260H list of Chinese military companies",
        "mil",
    ),
    "uflpa-entity-list": (
        "US Department of Homeland Security (Forced Labor Enforcement Task Force)",
        "UFLPA Entity List",
        "forced.labor",
    ),
    "bis-entity-list": ("Bureau of Industry and Security", "Entity List", "export.control"),
    "ofac-sdn": (
        "Office of Foreign Assets Control",
        "Specially Designated Nationals (SDN) List",
        "sanction",
    ),
    "ndaa-fy2024-154": (
        "US Congress",
        "FY2024 NDAA section 154: DoD battery procurement ban",
        "debarment",
    ),
}
#: identifier schemes with an FtM property of their own
_PROPS = {"XI-LEI": "leiCode", "WIKIDATA": "wikidataId"}
_REGISTER = re.compile(r"^[A-Z]{2}-[A-Z0-9]+$")  # org-id.guide register lists: GB-COH, FI-PRO


def ftm_id(georisk_id: str) -> str:
    """The FtM id of a georisk id: ``georisk-`` and the id, with ``:`` as ``C`` and ``_`` as
    ``U`` (georisk ids are lower-case, so upper-case letters are free to mark them) and a final
    ``.`` or ``-`` as ``D`` or ``H`` (an FtM id ends with a letter or digit)."""
    body = "".join(_ESCAPES.get(c, c) for c in georisk_id)
    if body and body[-1] in _ENDS:
        body = body[:-1] + _ENDS[body[-1]]
    return _PREFIX + body


def georisk_id_of(ftm: str) -> str | None:
    """The georisk id an FtM id written by :func:`ftm_id` stands for; None for any other id."""
    if not ftm.startswith(_PREFIX) or len(ftm) == len(_PREFIX):
        return None
    return "".join(_UNESCAPE.get(c, c) for c in ftm[len(_PREFIX) :])


def _num(v: float) -> str:
    text = repr(round(v * 100, 10))
    return text[:-2] if text.endswith(".0") else text


def percentage(share: float | ShareRange) -> tuple[str, bool]:
    """A share as an FtM ``percentage`` that :func:`georisk.interop.ftm.parse_percentage` reads
    back, and whether it is exact (False when an open end of a two-sided range had to be
    written closed: ``a-b`` has no open ends).

    >>> percentage(0.51)
    ('51', True)
    >>> percentage(ShareRange(minimum=0.2647, maximum=0.3))
    ('26.47-30', True)
    >>> percentage(ShareRange(minimum=0.0, maximum=1.0, exclusive_minimum=True))
    ('>0', True)
    """
    if not isinstance(share, ShareRange):
        return _num(float(share)), True
    lo, hi = share.minimum, share.maximum
    if hi == 1.0 and not share.exclusive_maximum and (lo > 0.0 or share.exclusive_minimum):
        return (">" if share.exclusive_minimum else ">=") + _num(lo), True
    if lo == 0.0 and not share.exclusive_minimum and share.exclusive_maximum:
        return "<" + _num(hi), True
    exact = not (share.exclusive_minimum or share.exclusive_maximum)
    return f"{_num(lo)}-{_num(hi)}", exact


def carried(link: Link) -> bool:
    """Whether an FtM export and ``georisk import ftm`` give ``link`` back whole: equity or
    voting (``Ownership``) or an appointment without a share (``Directorship``), confirmed, not
    marked unconfirmed, not tied to one arrangement, its share written exactly. The reader
    skips ``Debt``, ``Membership`` and ``UnknownLink``, so those kinds stay in the dataset."""
    if link.kind in (LinkKind.EQUITY, LinkKind.VOTING):
        if link.share is None or not percentage(link.share)[1]:
            return False
    elif link.kind is not LinkKind.APPOINTMENT or link.share is not None:
        return False
    return link.status is LinkStatus.CONFIRMED and not link.unconfirmed and link.arrangement is None


def left_out(ds: Dataset) -> list[str]:
    """What ``georisk import ftm`` will not read back from an FtM export of ``ds``, one line each
    (the CLI prints them as ``note:`` lines)."""
    notes: list[str] = []
    if ds.arrangements:
        notes.append(
            f"{len(ds.arrangements)} arrangements not exported: FollowTheMoney has no form for them"
        )
    unread = Counter(
        l.kind.value
        for l in ds.links.values()
        if l.kind not in (LinkKind.EQUITY, LinkKind.VOTING, LinkKind.APPOINTMENT)
    )
    if unread:
        kinds = ", ".join(f"{k} ({n})" for k, n in sorted(unread.items()))
        notes.append(
            f"links written as Debt, Membership or UnknownLink, which georisk import ftm does "
            f"not read back (licence terms and shares only in their summary): {kinds}"
        )
    lost = [
        l.id
        for l in ds.links.values()
        if l.kind in (LinkKind.EQUITY, LinkKind.VOTING, LinkKind.APPOINTMENT) and not carried(l)
    ]
    if lost:
        notes.append(
            f"{len(lost)} Ownership/Directorship records lose what the FtM reader does not read "
            "(status, unconfirmed, arrangement, an open end of a share range, an appointment "
            "share): " + ", ".join(sorted(lost)[:10]) + (" …" if len(lost) > 10 else "")
        )
    classified = Counter(e.kind.value for e in ds.entities.values() if e.kind in _CLASSIFIED)
    if classified:
        text = ", ".join(f"{k} ({n})" for k, n in sorted(classified.items()))
        notes.append(
            f"entity kinds FtM has no schema for, kept in classification (read back as "
            f"company, a government as state_body): {text}"
        )
    return notes


def _model() -> Any:
    try:
        from followthemoney import model
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "writing FollowTheMoney needs the followthemoney package: pip install 'georisk[ftm]'"
        ) from exc
    return model


class _Writer:
    def __init__(self, ds: Dataset, on: dt.date) -> None:
        self.model = _model()
        self.ds = ds
        self.on = on
        self.ids: dict[str, str] = {}
        taken: set[str] = set()
        for e in ds.entities.values():  # an OpenSanctions id is kept, once
            own = next(
                (
                    i.id
                    for i in e.identifiers
                    if identifier_key(i.scheme, i.id)[0] == "OPENSANCTIONS"
                ),
                None,
            )
            fid = own if own and _FTM_ID.match(own) and own not in taken else ftm_id(e.id)
            self.ids[e.id] = fid
            taken.add(fid)

    def proxy(self, schema: str, fid: str, sources: list[str]) -> Any:
        p = self.model.make_entity(schema)
        p.id = fid
        urls = [u for u in (_url(self.ds.sources.get(x)) for x in sources) if u]
        p.add("sourceUrl", urls, quiet=True)
        return p

    def entity(self, e: Entity) -> Any:
        p = self.proxy(_SCHEMA[e.kind], self.ids[e.id], e.sources)
        p.add("name", e.name)
        p.add("alias", e.aliases)
        if e.kind is EntityKind.PERSON:
            p.add("nationality", e.country)
        else:
            p.add("jurisdiction", e.country)
            p.add("mainCountry", e.principal_place)
            if e.kind in _CLASSIFIED:
                p.add("classification", e.kind.value)
        for i in e.identifiers:
            key = identifier_key(i.scheme, i.id)[0]
            prop = _PROPS.get(key)
            if prop is None and i.scheme.startswith("FtM:"):
                prop = i.scheme[4:]  # back to the property it was read from
            elif prop is None and _REGISTER.match(key):
                prop = "registrationNumber"
            if prop is not None and p.schema.get(prop) is not None:
                p.add(prop, i.id, quiet=True)
        p.add(
            "topics",
            sorted(
                {_LISTS[m.list_id][2] for m in e.lists if m.list_id in _LISTS and m.active(self.on)}
            ),
        )
        notes = [x for x in (e.note, e.unconfirmed_note) if x]
        if e.unconfirmed:
            notes.insert(0, "unconfirmed")
        p.add("notes", "; ".join(notes) if notes else None)
        return p

    def sanction(self, e: Entity, n: int, m: ListMembership) -> Any:
        p = self.proxy("Sanction", f"georisk.sanction-{self.ids[e.id]}-{n}", m.sources)
        p.add("entity", self.ids[e.id])
        authority, program, _topic = _LISTS.get(m.list_id, ("", m.list_id, ""))
        p.add("authority", authority or None)
        p.add("program", program)
        p.add("programId", f"georisk:{m.list_id}")
        p.add("startDate", m.since.isoformat() if m.since else None)
        p.add("endDate", m.until.isoformat() if m.until else None)
        if m.unconfirmed:
            p.add("status", "unconfirmed")
        p.add("summary", m.note)
        return p

    def link(self, link: Link) -> Any:
        src, tgt = self.ids[link.source], self.ids[link.target]
        fid = f"georisk.link-{ftm_id(link.id)[len(_PREFIX) :]}"
        summary: list[str] = []
        if link.kind in (LinkKind.EQUITY, LinkKind.VOTING):
            p = self.proxy("Ownership", fid, link.sources)
            p.add("owner", src)
            p.add("asset", tgt)
            assert link.share is not None  # the model requires it for these kinds
            text, exact = percentage(link.share)
            p.add("percentage", text)
            if not exact:
                summary.append(f"share {_share_text(link.share)} (open ends written closed)")
            p.add("ownershipType", "voting rights" if link.kind is LinkKind.VOTING else "shares")
        elif link.kind is LinkKind.APPOINTMENT:
            p = self.proxy("Directorship", fid, link.sources)
            p.add("director", src)
            p.add("organization", tgt)
            p.add("role", link.role)
        elif link.kind is LinkKind.DEBT:
            p = self.proxy("Debt", fid, link.sources)
            p.add("creditor", src)
            p.add("debtor", tgt)
        elif link.kind is LinkKind.MEMBERSHIP:
            p = self.proxy("Membership", fid, link.sources)
            p.add("member", src)
            p.add("organization", tgt)
        else:
            p = self.proxy("UnknownLink", fid, link.sources)
            p.add("subject", src)
            p.add("object", tgt)
            p.add("role", f"georisk {link.kind.value}" + (f" ({link.role})" if link.role else ""))
        if link.share is not None and link.kind not in (LinkKind.EQUITY, LinkKind.VOTING):
            summary.append(f"share {_share_text(link.share)}")
        if link.licence is not None:
            terms = link.licence.model_dump(mode="json", exclude_defaults=True)
            summary.append("licence " + json.dumps(terms, sort_keys=True, ensure_ascii=False))
        if link.arrangement:
            summary.append(f"arrangement {link.arrangement}")
        if link.unconfirmed:
            summary.append(
                "unconfirmed" + (f": {link.unconfirmed_note}" if link.unconfirmed_note else "")
            )
        p.add("startDate", link.valid_from.isoformat() if link.valid_from else None)
        p.add("endDate", link.valid_to.isoformat() if link.valid_to else None)
        if link.status is not LinkStatus.CONFIRMED:
            if p.schema.get("status") is not None:
                p.add("status", link.status.value)
            else:  # Debt has no status property
                summary.insert(0, f"status {link.status.value}")
        p.add("summary", "; ".join(summary) if summary else None)
        p.add("description", link.note)
        return p

    def records(self) -> Iterator[dict[str, Any]]:
        for e in self.ds.entities.values():
            yield self.entity(e).to_dict()
        for e in self.ds.entities.values():
            for n, m in enumerate(e.lists, 1):
                yield self.sanction(e, n, m).to_dict()
        for link in self.ds.links.values():
            yield self.link(link).to_dict()


def _url(s: Source | None) -> str | None:
    return s.url if s is not None else None


def _share_text(share: float | ShareRange) -> str:
    if isinstance(share, ShareRange):
        lo = ("(" if share.exclusive_minimum else "[") + _num(share.minimum)
        hi = _num(share.maximum) + (")" if share.exclusive_maximum else "]")
        return f"{lo}, {hi} %"
    return f"{_num(float(share))} %"


def export_ftm(ds: Dataset, on: dt.date) -> Iterator[dict[str, Any]]:
    """The FtM records of ``ds`` (entities, then sanctions, then links), each with
    ``datasets: ["georisk"]``; topics are those of the lists in force on ``on``."""
    for rec in _Writer(ds, on).records():
        rec["datasets"] = ["georisk"]
        yield rec


def write_ftm(ds: Dataset, on: dt.date, path: Path) -> Exported:
    """Write :func:`export_ftm` of ``ds`` to ``path`` as JSON lines (``georisk import ftm``
    reads them); RuntimeError when followthemoney is not installed."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for rec in export_ftm(ds, on):
            fh.write(json_line(rec, sort_keys=True) + "\n")
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    return Exported(n, "FollowTheMoney entities", left_out(ds))
