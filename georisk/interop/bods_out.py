"""A georisk dataset → BODS 0.4 statements (``georisk export bods``).

Entities and persons become entity and person statements; equity, voting and board-appointment
links become direct relationships. The statements validate against the vendored schema
(:data:`georisk.interop.bods.SCHEMA_DIR`), and importing them back with
:func:`georisk.interop.bods.import_bods` gives the same ownership (``docs/import.md``, Export).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from georisk.interop.bods import INTEREST_KINDS, RECORD_SCHEME
from georisk.scoring.dataset import Dataset
from georisk.scoring.model import Entity, EntityKind, Link, LinkKind, ShareRange

__all__ = ["export_bods"]

_EXPORT_INTERESTS = {kind: itype for itype, kind in INTEREST_KINDS.items()}
_EXPORT_ENTITY_TYPES = {EntityKind.GOVERNMENT: "state", EntityKind.STATE_BODY: "stateBody"}


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
    """The entities and the equity, voting and board-appointment links of ``ds`` as BODS 0.4
    statements (entities and persons first, then relationships), dated ``on``. Other link kinds
    (supply, licences, …) and arrangements have no BODS form and are left out; an entity keeps
    its BODS record id when it has one (scheme ``BODS-record``), so a round trip keeps ids."""
    pub = {
        "publicationDate": on.isoformat(),
        "bodsVersion": "0.4",
        "publisher": {"name": "georisk export"},
    }
    rid = {e.id: _record_id(e) for e in ds.entities.values()}
    out: list[dict[str, Any]] = []

    def statement(record_id: str, rtype: str, subject: str, details: dict[str, Any]) -> None:
        out.append(
            {
                "statementId": _statement_id(record_id, details),
                "declarationSubject": subject,
                "statementDate": on.isoformat(),
                "publicationDetails": pub,
                "recordId": record_id,
                "recordStatus": "new",
                "recordType": rtype,
                "recordDetails": details,
            }
        )

    for e in ds.entities.values():
        r = rid[e.id]
        idents = [
            {"id": i.id, "scheme": i.scheme} for i in e.identifiers if i.scheme != RECORD_SCHEME
        ]
        country = {"name": e.country, "code": e.country} if e.country else None
        if e.kind is EntityKind.PERSON:
            d: dict[str, Any] = {
                "isComponent": False,
                "personType": "knownPerson",
                "names": [{"type": "legal", "fullName": e.name}],
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
        statement(r, "person" if e.kind is EntityKind.PERSON else "entity", r, d)
    for link in ds.links.values():
        itype = _EXPORT_INTERESTS.get(link.kind)
        if itype is None:
            continue
        interest: dict[str, Any] = {
            "type": itype,
            "directOrIndirect": "direct",
            "beneficialOwnershipOrControl": False,
        }
        share = _share_out(link)
        if share is not None and link.kind is not LinkKind.APPOINTMENT:
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
        statement(link.id, "relationship", rid[link.target], d)
    return out
