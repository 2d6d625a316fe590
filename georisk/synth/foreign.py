"""The synthetic world in the field's formats: BODS 0.4 statements and FollowTheMoney entities,
for measuring ``georisk import`` at real size (``georisk synth DIR --bods FILE --ftm FILE``).

Both writers stream the bulk CSV :func:`georisk.synth.generate` wrote (``synth.entities.csv``,
``synth.links.csv``) row by row into JSON lines, one statement or FtM entity a line, so a
million records take seconds of CPU and little memory. What the formats carry:

* every entity: BODS an entity statement (``state`` for a government, ``stateBody``,
  ``registeredEntity`` otherwise) or a person statement (``knownPerson``); FtM a ``Person``,
  ``PublicBody`` (governments and state bodies), ``Company`` (companies, facilities, funds) or
  ``Organization`` (consortia, academia), made with the library's model (``make_entity``);
* equity and voting links: BODS ``shareholding`` / ``votingRights`` relationships (direct, the
  share exact or a range, ``startDate``/``endDate``); FtM ``Ownership`` (``percentage`` as
  :func:`georisk.interop.ftm_out.percentage` writes it, ``ownershipType``);
* board appointments: BODS ``appointmentOfBoard``; FtM ``Directorship`` (role ``board``);
* list memberships: FtM ``Sanction`` entities worded as ``georisk export ftm`` words them (BODS
  has no form for them);
* not carried: the other link kinds (debt, licences, supply, …), officer appointments, the
  status and unconfirmed mark of a link, arrangements.

So ``georisk import`` of either file gives back every entity and the same direct holders
(holder, kind, share, dates) of every entity (``tests/test_interop_scale.py``). Record ids are
the synthetic ids (BODS ``recordId`` ``e0000001``; FtM id ``synth-e0000001``); statement ids are
a hash of the record id, so the output is the same for the same dataset.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "FTM_PREFIX",
    "STATEMENT_DATE",
    "bods_statements",
    "ftm_entities",
    "write_bods",
    "write_ftm",
]

#: the statementDate (and publication date) of every synthetic statement
STATEMENT_DATE = "2026-11-30"
#: FtM ids are the synthetic ids with this prefix
FTM_PREFIX = "synth-"

_BODS_ENTITY_TYPE = {"government": "state", "state_body": "stateBody"}
_BODS_INTEREST = {"equity": "shareholding", "voting": "votingRights"}
_FTM_SCHEMA = {
    "person": "Person",
    "government": "PublicBody",
    "state_body": "PublicBody",
    "company": "Company",
    "facility": "Company",
    "fund": "Company",
    "consortium": "Organization",
    "academic": "Organization",
}
#: list id → (authority, program) worded so that ``georisk.interop.ftm.list_id_for`` names the
#: list again (as ``georisk export ftm`` words them)
_FTM_LISTS = {
    "dod-1260h": ("US Department of Defense", "Section 1260H list of Chinese military companies"),
    "uflpa-entity-list": (
        "US Department of Homeland Security (Forced Labor Enforcement Task Force)",
        "UFLPA Entity List",
    ),
    "ndaa-fy2024-154": ("US Congress", "FY2024 NDAA section 154: DoD battery procurement ban"),
}


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def _sid(*parts: str) -> str:
    """A statement id (32–64 characters) made from the record it states."""
    return "synth-" + hashlib.sha1("/".join(parts).encode("utf-8")).hexdigest()


def _pct(text: str) -> float:
    """A share cell (a fraction) as a percentage, rounded as an export rounds it."""
    return round(float(text) * 100, 10)


def _bods_share(row: dict[str, str]) -> dict[str, Any]:
    if row["share"]:
        return {"exact": _pct(row["share"])}
    return {"minimum": _pct(row["share_min"]), "maximum": _pct(row["share_max"])}


def bods_statements(dataset: Path) -> Iterator[dict[str, Any]]:
    """The BODS 0.4 statements of the synthetic dataset at ``dataset``: entities and persons
    first, then relationships, in file order."""
    pub = {
        "publicationDate": STATEMENT_DATE,
        "bodsVersion": "0.4",
        "publisher": {"name": "georisk synth", "url": "https://example.invalid/georisk-synth"},
    }

    def statement(
        rid: str, rtype: str, details: dict[str, Any], subject: str | None = None
    ) -> dict[str, Any]:
        return {
            "statementId": _sid(rtype, rid),
            # the entity or person the declaration is about: a relationship's subject
            "declarationSubject": subject or rid,
            "statementDate": STATEMENT_DATE,
            "publicationDetails": pub,
            "recordId": rid,
            "recordStatus": "new",
            "recordType": rtype,
            "recordDetails": details,
        }

    for row in _rows(dataset / "synth.entities.csv"):
        country = {"name": row["country"], "code": row["country"]} if row["country"] else None
        if row["kind"] == "person":
            details: dict[str, Any] = {
                "isComponent": False,
                "personType": "knownPerson",
                "names": [{"type": "legal", "fullName": row["name"]}],
            }
            if country:
                details["nationalities"] = [country]
            yield statement(row["id"], "person", details)
            continue
        details = {
            "isComponent": False,
            "entityType": {"type": _BODS_ENTITY_TYPE.get(row["kind"], "registeredEntity")},
            "name": row["name"],
        }
        if country:
            details["jurisdiction"] = country
        yield statement(row["id"], "entity", details)
    for row in _rows(dataset / "synth.links.csv"):
        kind = row["kind"]
        if kind in _BODS_INTEREST:
            interest: dict[str, Any] = {
                "type": _BODS_INTEREST[kind],
                "directOrIndirect": "direct",
                "beneficialOwnershipOrControl": False,
                "share": _bods_share(row),
            }
        elif kind == "appointment" and row["role"] == "board":
            interest = {
                "type": "appointmentOfBoard",
                "directOrIndirect": "direct",
                "beneficialOwnershipOrControl": False,
            }
        else:
            continue
        if row["valid_from"]:
            interest["startDate"] = row["valid_from"]
        if row["valid_to"]:
            interest["endDate"] = row["valid_to"]
        yield statement(
            row["id"],
            "relationship",
            {
                "isComponent": False,
                "subject": row["target"],
                "interestedParty": row["source"],
                "interests": [interest],
            },
            subject=row["target"],
        )


def _write_lines(out: Path, records: Iterator[dict[str, Any]]) -> int:
    n = 0
    with out.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
            n += 1
    return n


def write_bods(dataset: Path, out: Path) -> int:
    """Write :func:`bods_statements` of ``dataset`` to ``out`` as JSON lines; the count."""
    return _write_lines(out, bods_statements(dataset))


def ftm_entities(dataset: Path) -> Iterator[dict[str, Any]]:
    """The FollowTheMoney entities of the synthetic dataset at ``dataset`` (each made with the
    library's model, so valid): entities (and a Sanction per list membership), then Ownership
    and Directorship."""
    from georisk.interop.ftm_out import percentage
    from georisk.scoring.model import ShareRange

    try:
        from followthemoney import model
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "writing FollowTheMoney needs the followthemoney package: pip install 'georisk[ftm]'"
        ) from exc

    def make(schema: str, fid: str) -> Any:
        p = model.make_entity(schema)
        p.id = fid
        p.add("sourceUrl", "https://example.invalid/georisk-synth")
        return p

    for row in _rows(dataset / "synth.entities.csv"):
        fid = FTM_PREFIX + row["id"]
        kind = row["kind"]
        p = make(_FTM_SCHEMA[kind], fid)
        p.add("name", row["name"])
        if kind == "person":
            p.add("nationality", row["country"] or None)
        else:
            p.add("jurisdiction", row["country"] or None)
            p.add("mainCountry", row["principal_place"] or None)
            if kind not in ("company", "state_body", "person"):
                p.add("classification", kind)
        d = p.to_dict()
        d["datasets"] = ["georisk_synth"]
        yield d
        for n, item in enumerate(x for x in row["lists"].split(";") if x):
            list_id, since, _srcs = item.split("@")
            authority, program = _FTM_LISTS.get(list_id, ("", list_id))
            s = make("Sanction", f"{fid}-sanction-{n}")
            s.add("entity", fid)
            s.add("authority", authority or None)
            s.add("program", program)
            s.add("startDate", since or None)
            d = s.to_dict()
            d["datasets"] = ["georisk_synth"]
            yield d
    for row in _rows(dataset / "synth.links.csv"):
        kind = row["kind"]
        fid = f"{FTM_PREFIX}link-{row['id']}"
        if kind in ("equity", "voting"):
            p = make("Ownership", fid)
            p.add("owner", FTM_PREFIX + row["source"])
            p.add("asset", FTM_PREFIX + row["target"])
            share: float | ShareRange = (
                float(row["share"])
                if row["share"]
                else ShareRange(minimum=float(row["share_min"]), maximum=float(row["share_max"]))
            )
            p.add("percentage", percentage(share)[0])
            p.add("ownershipType", "voting rights" if kind == "voting" else "shares")
        elif kind == "appointment" and row["role"] == "board":
            p = make("Directorship", fid)
            p.add("director", FTM_PREFIX + row["source"])
            p.add("organization", FTM_PREFIX + row["target"])
            p.add("role", "board")
        else:
            continue
        p.add("startDate", row["valid_from"] or None)
        p.add("endDate", row["valid_to"] or None)
        d = p.to_dict()
        d["datasets"] = ["georisk_synth"]
        yield d


def write_ftm(dataset: Path, out: Path) -> int:
    """Write :func:`ftm_entities` of ``dataset`` to ``out`` as JSON lines; the count."""
    return _write_lines(out, ftm_entities(dataset))
