"""A georisk dataset → BODS 0.4 statements (``georisk export bods``).

Entities and persons become entity and person statements, each carrying its georisk id as an
identifier (``schemeName: georisk``), so that ``georisk import bods FILE -o DATA --merge`` lands
on the dataset's own entities (:data:`georisk.interop.core.GEORISK_SCHEME`). Equity, voting,
appointment and control links become direct relationships (``shareholding``, ``votingRights``,
``appointmentOfBoard``, ``otherInfluenceOrControl``). The statements validate against the
vendored schema (:data:`georisk.interop.bods.SCHEMA_DIR`), and importing them back with
:func:`georisk.interop.bods.import_bods` gives the same ownership (``docs/import.md``, Export).

What BODS has no form for is left out and counted in :func:`left_out`: arrangements, list
memberships, links of other kinds (debt, licence, supply, …), and the status (reported,
proposed) and ``unconfirmed`` mark of an exported link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from georisk.interop import Exported
from georisk.interop.bods import ANNOTATION_KEY, INTEREST_KINDS, RECORD_SCHEME
from georisk.interop.core import GEORISK_SCHEME, identifier_key, json_line
from georisk.scoring.dataset import Dataset
from georisk.scoring.model import Entity, EntityKind, Link, LinkKind, LinkStatus, ShareRange

__all__ = ["carried", "export_bods", "iter_bods", "left_out", "write_bods"]

_EXPORT_INTERESTS = {kind: itype for itype, kind in INTEREST_KINDS.items()}
_EXPORT_ENTITY_TYPES = {EntityKind.GOVERNMENT: "state", EntityKind.STATE_BODY: "stateBody"}
_GEORISK_KEY = identifier_key(GEORISK_SCHEME, "")[0]


def carried(link: Link) -> bool:
    """Whether a BODS export and import gives ``link`` back whole: an exported kind (equity,
    voting, a board appointment, control of role ``influence``), confirmed, not marked
    unconfirmed, and not tied to one arrangement (BODS has no form for status, the mark or the
    arrangement). Such a link may be left to the export in a round trip (docs/import.md)."""
    if link.kind not in _EXPORT_INTERESTS:
        return False
    if link.kind is LinkKind.APPOINTMENT and (link.role == "officer" or link.share is not None):
        return False
    if link.kind is LinkKind.CONTROL and link.role not in (None, "influence"):
        return False
    return link.status is LinkStatus.CONFIRMED and not link.unconfirmed and link.arrangement is None


def left_out(ds: Dataset) -> list[str]:
    """What a BODS export of ``ds`` does not carry, one line each (the CLI prints them as
    ``note:`` lines): counted, with the reason."""
    notes: list[str] = []
    if ds.arrangements:
        notes.append(f"{len(ds.arrangements)} arrangements not exported: BODS has no form for them")
    members = sum(len(e.lists) for e in ds.entities.values())
    if members:
        notes.append(
            f"{members} list memberships not exported: BODS has no form for sanctions or "
            "restricted-party lists"
        )
    other = Counter(l.kind.value for l in ds.links.values() if l.kind not in _EXPORT_INTERESTS)
    if other:
        kinds = ", ".join(f"{k} ({n})" for k, n in sorted(other.items()))
        notes.append(f"links not exported (BODS interests are ownership and control): {kinds}")
    lost = [l.id for l in ds.links.values() if l.kind in _EXPORT_INTERESTS and not carried(l)]
    if lost:
        notes.append(
            f"{len(lost)} exported links lose what BODS cannot say (status reported/proposed, "
            "unconfirmed, arrangement, officer role, appointment share, consolidation role): "
            + ", ".join(sorted(lost)[:10])
            + (" …" if len(lost) > 10 else "")
        )
    return notes


def _record_id(e: Entity) -> str:
    for i in e.identifiers:
        if i.scheme == RECORD_SCHEME:
            return i.id
    return e.id


def _statement_id(record_id: str, details: dict[str, Any]) -> str:
    body = json.dumps([record_id, details], sort_keys=True, ensure_ascii=False)
    return "georisk-" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:40]


def _share_out(link: Link) -> dict[str, Any] | None:
    s = link.share
    if s is None:
        return None
    if isinstance(s, ShareRange):
        out: dict[str, Any] = {}
        out["exclusiveMinimum" if s.exclusive_minimum else "minimum"] = round(s.minimum * 100, 10)
        out["exclusiveMaximum" if s.exclusive_maximum else "maximum"] = round(s.maximum * 100, 10)
        return out
    return {"exact": round(float(s) * 100, 10)}


def export_bods(ds: Dataset, on: dt.date) -> list[dict[str, Any]]:
    """The entities and the equity, voting, appointment and control links of ``ds`` as BODS 0.4
    statements (entities and persons first, then relationships), dated ``on``. Other link kinds
    (supply, licences, …) and arrangements have no BODS form and are left out; an entity keeps
    its BODS record id when it has one (scheme ``BODS-record``), so a round trip keeps ids."""
    return list(iter_bods(ds, on))


def iter_bods(ds: Dataset, on: dt.date) -> Iterator[dict[str, Any]]:
    """:func:`export_bods` one statement at a time (what :func:`write_bods` writes)."""
    pub = {
        "publicationDate": on.isoformat(),
        "bodsVersion": "0.4",
        "publisher": {"name": "georisk export"},
    }
    rid = {e.id: _record_id(e) for e in ds.entities.values()}

    def statement(
        record_id: str, rtype: str, subject: str, details: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "statementId": _statement_id(record_id, details),
            "declarationSubject": subject,
            "statementDate": on.isoformat(),
            "publicationDetails": pub,
            "recordId": record_id,
            "recordStatus": "new",
            "recordType": rtype,
            "recordDetails": details,
        }

    for e in ds.entities.values():
        r = rid[e.id]
        idents: list[dict[str, str]] = [
            {"id": i.id, "scheme": i.scheme}
            for i in e.identifiers
            if i.scheme != RECORD_SCHEME and identifier_key(i.scheme, i.id)[0] != _GEORISK_KEY
        ]
        # its own id: the key `import --merge` matches. An entity's goes last among its
        # identifiers (not an org-id.guide list: schemeName only); a person's identifiers must
        # be JURISDICTION-TYPE schemes (passport, tax id, id card: libcovebods checks it), so a
        # person's goes in an "identifying" annotation of the statement, as a custom property
        person = e.kind is EntityKind.PERSON
        if not person:
            idents.append({"id": e.id, "schemeName": GEORISK_SCHEME})
        country = {"name": e.country, "code": e.country} if e.country else None
        if e.kind is EntityKind.PERSON:
            d: dict[str, Any] = {
                "isComponent": False,
                "personType": "knownPerson",
                "names": [
                    {"type": "legal", "fullName": e.name},
                    *({"type": "alternative", "fullName": a} for a in e.aliases),
                ],
            }
            if country:
                d["nationalities"] = [country]
        else:
            d = {
                "isComponent": False,
                "entityType": {"type": _EXPORT_ENTITY_TYPES.get(e.kind, "registeredEntity")},
                "name": e.name,
            }
            if country:
                d["jurisdiction"] = country
            if e.aliases:
                d["alternateNames"] = list(e.aliases)
        if idents:
            d["identifiers"] = idents
        st = statement(r, "person" if person else "entity", r, d)
        if person:
            st["annotations"] = [
                {
                    "motivation": "identifying",
                    "statementPointerTarget": "/recordDetails",
                    "description": f"georisk entity id {e.id}",
                    ANNOTATION_KEY: e.id,
                }
            ]
        yield st
    for link in ds.links.values():
        itype = _EXPORT_INTERESTS.get(link.kind)
        if itype is None:
            continue
        interest: dict[str, Any] = {
            "type": itype,
            "directOrIndirect": "direct",
            "beneficialOwnershipOrControl": False,
        }
        if link.kind is LinkKind.APPOINTMENT and link.role == "officer":
            # BODS has board appointment rights only: officers are other influence or control
            interest["type"] = "otherInfluenceOrControl"
            interest["details"] = "appoints officers (georisk appointment link, role officer)"
        elif link.kind is LinkKind.CONTROL and link.role:
            interest["details"] = f"georisk control link, role {link.role}"
        share = _share_out(link)
        if share is not None and link.kind in (LinkKind.EQUITY, LinkKind.VOTING):
            interest["share"] = share
        if link.valid_from:
            interest["startDate"] = link.valid_from.isoformat()
        if link.valid_to:
            interest["endDate"] = link.valid_to.isoformat()
        d = {
            "isComponent": False,
            "subject": rid[link.target],
            "interestedParty": rid[link.source],
            "interests": [interest],
        }
        yield statement(link.id, "relationship", rid[link.target], d)


def write_bods(ds: Dataset, on: dt.date, path: Path) -> Exported:
    """Write :func:`export_bods` of ``ds`` to ``path`` as a JSON array (one statement per
    line of the array), the form ``georisk import bods`` reads."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[\n")
        for n, st in enumerate(iter_bods(ds, on), 1):
            fh.write(("," if n > 1 else "") + json_line(st) + "\n")
        fh.write("]\n")
        fh.flush()
        os.fsync(fh.fileno())
    return Exported(n, "BODS 0.4 statements", left_out(ds))
