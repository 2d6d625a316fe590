"""BODS 0.4 (Open Ownership's Beneficial Ownership Data Standard) statements → :class:`Imported`.

Input: JSON files holding an array of statements, or JSON lines (one statement a line). Each
statement is validated against the official BODS 0.4 schema (vendored in ``schema/bods-0.4/``);
a statement that does not validate, or cannot be mapped, becomes a :class:`Rejected` with its
``statementId`` and the reason, and the rest imports. The mapping is documented field by field in
``docs/import.md``; in short:

* entity and person records → entities (``state`` → government, ``stateBody`` → state_body,
  persons → person, other entity types → company); jurisdiction (entities) or the first
  nationality (persons) → country; ``recordId`` and the record's identifiers kept as
  :class:`~georisk.scoring.model.Identifier` (scheme ``BODS-record`` for the record id);
* relationship records → one link per direct interest: shareholding → equity, votingRights →
  voting, appointmentOfBoard → appointment (role board), otherInfluenceOrControl → control (role
  influence, no share); ``share`` → share (fractions) or range;
  startDate/endDate → valid_from/valid_to;
* ``directOrIndirect: indirect`` interests are kept as reported facts in the notes, never as
  links: the chain of direct links already carries them, and a second, direct-looking link would
  count the same holding twice;
* other interests (senior managing official, trusts, contracts, …) have no link kind in
  georisk: they are kept as reported facts (notes), not links;
* statements are taken in file order: a later statement of a record replaces the earlier one;
  ``recordStatus: closed`` ends a relationship on the statement date (when no endDate says
  otherwise) and marks a closed entity in its note.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from georisk.interop.core import Imported, Rejected, ShareError, share_range, slug
from georisk.scoring.countries import ISO_3166_ALPHA2
from georisk.scoring.model import (
    Entity,
    EntityKind,
    Identifier,
    Link,
    LinkKind,
    Source,
)

__all__ = [
    "INTEREST_KINDS",
    "RECORD_SCHEME",
    "SCHEMA_DIR",
    "import_bods",
    "read_statements",
    "statement_errors",
]

SCHEMA_DIR = Path(__file__).parent / "schema" / "bods-0.4"
_SCHEMA_FILES = ("statement", "entity-record", "person-record", "relationship-record", "components")

#: BODS interest type → link kind (the others are kept as reported facts, not links)
INTEREST_KINDS: dict[str, LinkKind] = {
    "shareholding": LinkKind.EQUITY,
    "votingRights": LinkKind.VOTING,
    "appointmentOfBoard": LinkKind.APPOINTMENT,
    "otherInfluenceOrControl": LinkKind.CONTROL,
}
#: the role a link of these kinds gets (a control link from BODS is "influence": BODS does not
#: say it is accounting consolidation)
_ROLE = {LinkKind.APPOINTMENT: "board", LinkKind.CONTROL: "influence"}
_NO_SHARE = frozenset(_ROLE)
_ENTITY_KINDS = {"state": EntityKind.GOVERNMENT, "stateBody": EntityKind.STATE_BODY}
RECORD_SCHEME = "BODS-record"
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


@cache
def _validator() -> Any:
    """A Draft 2020-12 validator of one statement, with the schema's ``urn:`` references
    resolved from the vendored files (never fetched)."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from referencing import Registry, Resource

    resources = []
    for name in _SCHEMA_FILES:
        doc = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
        resources.append((doc["$id"], Resource.from_contents(doc)))
    registry: Registry[Any] = Registry().with_resources(resources)
    return Draft202012Validator({"$ref": "urn:statement#/$defs/Statement"}, registry=registry)


def statement_errors(statement: Any) -> list[str]:
    """What the BODS 0.4 schema finds wrong with one statement (empty when valid), each as
    ``path: message``, shortest paths first."""
    errors = sorted(_validator().iter_errors(statement), key=lambda e: (len(e.path), str(e.path)))
    out = []
    for e in errors[:5]:
        path = "/".join(str(p) for p in e.path) or "statement"
        out.append(f"{path}: {e.message[:200]}")
    return out


def read_statements(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, statement) for every statement of a file: a JSON array, or JSON lines. A line or
    file that is not JSON yields (where, an :class:`Exception`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        yield "file", ValueError(f"not UTF-8 text: {exc.reason} at byte {exc.start}")
        return
    if text.lstrip().startswith("["):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError) as exc:
            yield "file", ValueError(f"unparsable JSON: {str(exc)[:200]}")
            return
        for i, st in enumerate(doc):
            yield f"statement {i}", st
        return
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {n}", json.loads(line)
        except (ValueError, RecursionError) as exc:
            yield f"line {n}", ValueError(f"unparsable JSON: {str(exc)[:200]}")


@dataclass
class _Record:
    """The latest statement of one BODS record, and the earlier statement ids."""

    statement: dict[str, Any]
    file: str
    where: str
    source: str
    history: list[str] = field(default_factory=list)


def _date(value: Any, what: str) -> dt.date | None:
    if value is None:
        return None
    s = str(value)
    m = _PARTIAL_DATE.match(s)
    if m:  # BODS allows a year or year-month: the first day of it
        return dt.date(int(m[1]), int(m[2] or 1), 1)
    try:
        return dt.date.fromisoformat(s[:10])
    except ValueError:
        raise ValueError(f"{what} {s!r} is not a date") from None


def _country(code: Any) -> str | None:
    if not isinstance(code, str):
        return None
    c = code.strip().upper()[:2]
    return c if c in ISO_3166_ALPHA2 else None


def _person_name(details: dict[str, Any]) -> str | None:
    for n in details.get("names") or []:
        full = n.get("fullName") or " ".join(
            p for p in (n.get("givenName"), n.get("familyName")) if p
        )
        if full and full.strip():
            return str(full).strip()
    return None


def _source_for(file: Path, statements: Iterable[Any]) -> Source:
    publisher = None
    for st in statements:
        if isinstance(st, dict):
            publisher = (st.get("publicationDetails") or {}).get("publisher") or None
            if publisher:
                break
    name = (publisher or {}).get("name")
    url = (publisher or {}).get("url")
    return Source(
        id=slug("bods-file", file.stem),
        title=f"BODS 0.4 statements {file.name}" + (f" published by {name}" if name else ""),
        url=url if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
        note=f"imported from {file.name} by georisk import bods",
    )


def _entity(rec: _Record) -> Entity:
    st = rec.statement
    d = st.get("recordDetails") or {}
    rid = str(st["recordId"])
    notes: list[str] = [f"BODS record {rid}, statement {st['statementId']}"]
    if rec.history:
        notes.append(f"replaces statements {', '.join(rec.history)}")
    if st.get("recordStatus") == "closed":
        notes.append(f"record closed on {st.get('statementDate')}")
    unconfirmed_note = None
    aliases: list[str] = []
    if st["recordType"] == "person":
        kind = EntityKind.PERSON
        name = _person_name(d)
        nats = [c for c in (_country(n.get("code")) for n in d.get("nationalities") or []) if c]
        country = nats[0] if nats else None
        if len(nats) > 1:
            notes.append(f"nationalities {', '.join(nats)}")
        for n in (d.get("names") or [])[1:]:
            if n.get("fullName"):
                aliases.append(str(n["fullName"]))
        ptype = d.get("personType")
        if ptype and ptype != "knownPerson":
            unconfirmed_note = f"BODS personType {ptype}"
    else:
        et = d.get("entityType") or {}
        etype = et.get("type")
        kind = _ENTITY_KINDS.get(str(etype), EntityKind.COMPANY)
        name = d.get("name")
        country = _country((d.get("jurisdiction") or {}).get("code"))
        aliases = [str(a) for a in d.get("alternateNames") or [] if a]
        if etype and etype not in ("registeredEntity", "legalEntity", "state", "stateBody"):
            notes.append(f"BODS entityType {etype}")
            if etype in ("anonymousEntity", "unknownEntity"):
                unconfirmed_note = f"BODS entityType {etype}"
        if et.get("subtype"):
            notes.append(f"subtype {et['subtype']}")
    if not name:
        name = f"Unnamed BODS {st['recordType']} {rid}"
        unconfirmed_note = unconfirmed_note or "no name given"
    idents = [Identifier(scheme=RECORD_SCHEME, id=rid, sources=[rec.source])]
    for i in d.get("identifiers") or []:
        scheme = i.get("scheme") or i.get("schemeName")
        if scheme and i.get("id"):
            idents.append(Identifier(scheme=str(scheme), id=str(i["id"]), sources=[rec.source]))
    return Entity(
        id=slug("bods", rid),
        name=str(name).strip() or rid,
        kind=kind,
        country=country,
        aliases=aliases,
        sources=[rec.source],
        unconfirmed=unconfirmed_note is not None,
        unconfirmed_note=unconfirmed_note,
        note="; ".join(notes),
        identifiers=idents,
    )


def _links(
    rec: _Record,
    entities: dict[str, Entity],
    imported: Imported,
    reported: dict[str, list[str]],
) -> list[Link]:
    """The direct, scorable interests of one relationship record as links; raises ValueError
    (the statement is rejected) when a party is unknown or a share or date cannot be read.
    Interests that are not links are added to ``reported`` (by the held entity's id)."""
    st = rec.statement
    d = st.get("recordDetails") or {}
    rid = str(st["recordId"])
    party = d.get("interestedParty")
    subject = d.get("subject")
    if not isinstance(subject, str) or slug("bods", subject) not in entities:
        raise ValueError(f"subject {subject!r} is not an imported entity or person record")
    if not isinstance(party, str):
        reason = (party or {}).get("reason", "not given") if isinstance(party, dict) else party
        imported.notes.append(
            f"relationship {rid}: interested party of {subject} unspecified ({reason}); no link"
        )
        return []
    if slug("bods", party) not in entities:
        raise ValueError(f"interestedParty {party!r} is not an imported entity or person record")
    src, tgt = slug("bods", party), slug("bods", subject)
    closed = st.get("recordStatus") == "closed"
    closed_on = _date(st.get("statementDate"), "statementDate") if closed else None
    out: list[Link] = []
    for n, it in enumerate(d.get("interests") or []):
        itype = it.get("type")
        share_obj = it.get("share") or {}
        try:
            share = share_range(
                exact=share_obj.get("exact"),
                minimum=share_obj.get("minimum"),
                maximum=share_obj.get("maximum"),
                exclusive_minimum=share_obj.get("exclusiveMinimum"),
                exclusive_maximum=share_obj.get("exclusiveMaximum"),
            )
        except ShareError as exc:
            raise ValueError(f"interests/{n}: {exc}") from None
        start = _date(it.get("startDate"), f"interests/{n}/startDate")
        end = _date(it.get("endDate"), f"interests/{n}/endDate")
        if closed_on is not None and (end is None or closed_on < end):
            end = closed_on
        fact = f"{entities[src].name} [{src}] → {entities[tgt].name} [{tgt}]: {itype}"
        if share_obj:
            fact += f" {json.dumps(share_obj, sort_keys=True)}"
        kind = INTEREST_KINDS.get(itype) if isinstance(itype, str) else None
        how = it.get("directOrIndirect", "unknown")
        if kind is None or how == "indirect":
            reported.setdefault(tgt, []).append(
                f"reported in BODS relationship {rid}: {fact}"
                + (" (indirect)" if how == "indirect" else "")
            )
        if kind is None:
            imported.notes.append(
                f"relationship {rid}: {fact} kept as reported, not a link "
                "(georisk has no link kind for this interest)"
            )
            continue
        if how == "indirect":
            imported.notes.append(
                f"relationship {rid}: {fact} is indirect: kept as reported, not a link "
                "(the direct links of the chain carry it; counted once)"
            )
            continue
        if kind not in _NO_SHARE and share is None:
            imported.notes.append(f"relationship {rid}: {fact} has no share; not a link")
            continue
        note = f"BODS relationship {rid}, statement {st['statementId']}"
        if rec.history:
            note += f" (replaces {', '.join(rec.history)})"
        if it.get("details"):
            note += f"; {it['details']}"
        if kind in _NO_SHARE and share_obj:
            note += f"; share {json.dumps(share_obj, sort_keys=True)} as reported (not used)"
        if start and end and end < start:
            raise ValueError(f"interests/{n}: ends {end} before it starts {start}")
        out.append(
            Link(
                id=slug("bods", f"{rid}-{n}" if len(d.get("interests") or []) > 1 else rid),
                kind=kind,
                source=src,
                target=tgt,
                share=share if kind not in _NO_SHARE else None,
                valid_from=start,
                valid_to=end,
                role=_ROLE.get(kind),
                unconfirmed=how != "direct",
                unconfirmed_note=(
                    "BODS directOrIndirect unknown: taken as direct" if how != "direct" else None
                ),
                sources=[rec.source],
                note=note,
            )
        )
    return out


def import_bods(paths: Iterable[Path]) -> Imported:
    """BODS 0.4 statements of ``paths`` (in order) → :class:`Imported`."""
    imported = Imported(format="bods")
    records: dict[str, _Record] = {}
    for path in paths:
        stmts = list(read_statements(path))
        source = _source_for(path, (s for _, s in stmts))
        imported.sources[source.id] = source
        for where, st in stmts:
            if isinstance(st, Exception):
                imported.rejected.append(Rejected(path.name, where, None, str(st)))
                continue
            sid = st.get("statementId") if isinstance(st, dict) else None
            errs = statement_errors(st)
            if errs:
                reason = "not a valid BODS 0.4 statement: " + "; ".join(errs)
                imported.rejected.append(Rejected(path.name, where, sid, reason))
                continue
            rid = str(st["recordId"])
            prev = records.get(rid)
            if prev is not None and prev.statement["recordType"] != st["recordType"]:
                imported.rejected.append(
                    Rejected(
                        path.name,
                        where,
                        sid,
                        f"record {rid} was a {prev.statement['recordType']}, "
                        f"this statement makes it a {st['recordType']}",
                    )
                )
                continue
            history = [*prev.history, str(prev.statement["statementId"])] if prev else []
            records[rid] = _Record(st, path.name, where, source.id, history)
    for rec in records.values():
        if rec.statement["recordType"] == "relationship":
            continue
        try:
            e = _entity(rec)
        except ValueError as exc:
            imported.rejected.append(
                Rejected(rec.file, rec.where, rec.statement.get("statementId"), str(exc))
            )
            continue
        other = imported.entities.get(e.id)
        if other is not None:
            imported.rejected.append(
                Rejected(
                    rec.file,
                    rec.where,
                    rec.statement.get("statementId"),
                    f"record {rec.statement['recordId']} would have the same georisk id {e.id} "
                    f"as {other.name} (record ids that differ only in case)",
                )
            )
            continue
        imported.entities[e.id] = e
    reported: dict[str, list[str]] = {}
    for rec in records.values():
        if rec.statement["recordType"] != "relationship":
            continue
        try:
            links = _links(rec, imported.entities, imported, reported)
        except ValueError as exc:
            imported.rejected.append(
                Rejected(rec.file, rec.where, rec.statement.get("statementId"), str(exc))
            )
            continue
        for link in links:
            imported.links[link.id] = link
    for eid, facts in reported.items():  # kept in the dataset, on the entity held
        e = imported.entities[eid]
        note = "; ".join([e.note, *facts] if e.note else facts)
        imported.entities[eid] = e.model_copy(update={"note": note})
    return imported


# --------------------------------------------------------------------------- export
