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
* the statements of one record are ordered by ``statementDate``, then input order (files in
  the order given, statements in file order): the last one stands and replaces the earlier
  ones; ``recordStatus: closed`` ends a relationship on the statement date (when no endDate
  says otherwise) and marks a closed entity in its note.

At scale (:func:`stream_bods`): the input is read once, streaming; per record only where its
statements are is kept, and the one that stands is read again and mapped, its records going to
a sink as they are made (:class:`~georisk.interop.write.BulkSink`: bulk CSV). Every statement is
validated, with ``jsonschema-rs`` (the reasons of a refused one worded by ``jsonschema``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any

from georisk.interop.core import GEORISK_SCHEME, Imported, Rejected, ShareError, share_range, slug
from georisk.interop.write import RecordSink
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
    "ANNOTATION_KEY",
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
#: the custom property of an "identifying" annotation holding a person's georisk id (bods_out)
ANNOTATION_KEY = "georiskId"
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


def _registry_docs() -> list[tuple[str, Any]]:
    out = []
    for name in _SCHEMA_FILES:
        doc = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
        out.append((doc["$id"], doc))
    return out


@cache
def _validator() -> Any:
    """A Draft 2020-12 validator of one statement (the Python ``jsonschema`` package), with the
    schema's ``urn:`` references resolved from the vendored files (never fetched). It words the
    reasons of a rejected statement."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from referencing import Registry, Resource

    resources = [(uri, Resource.from_contents(doc)) for uri, doc in _registry_docs()]
    registry: Registry[Any] = Registry().with_resources(resources)
    return Draft202012Validator({"$ref": "urn:statement#/$defs/Statement"}, registry=registry)


@cache
def _fast_validator() -> Any:
    """The same schema compiled by ``jsonschema-rs`` (Rust; ~2 µs a statement against ~400 µs):
    it decides whether every statement is valid; None when the package is not installed. Formats
    are not asserted, as the Python validator does not assert them either."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - a dependency; kept optional for odd platforms
        return None
    registry = jsonschema_rs.Registry(_registry_docs())
    return jsonschema_rs.Draft202012Validator(
        {"$ref": "urn:statement#/$defs/Statement"}, registry=registry, validate_formats=False
    )


def statement_errors(statement: Any) -> list[str]:
    """What the BODS 0.4 schema finds wrong with one statement (empty when valid), each as
    ``path: message``, shortest paths first.

    Every statement is validated (no caching by shape): by ``jsonschema-rs`` when it is
    installed, and a statement it refuses is validated again by ``jsonschema`` for the wording.
    """
    fast = _fast_validator()
    if fast is not None and fast.is_valid(statement):
        return []
    errors = sorted(_validator().iter_errors(statement), key=lambda e: (len(e.path), str(e.path)))
    out = []
    for e in errors[:5]:
        path = "/".join(str(p) for p in e.path) or "statement"
        out.append(f"{path}: {e.message[:200]}")
    if not out and fast is not None:  # the two validators disagree: say what the fast one saw
        for err in list(fast.iter_errors(statement))[:5]:
            path = "/".join(str(p) for p in err.instance_path) or "statement"
            out.append(f"{path}: {err.message[:200]}")
    return out


_CHUNK = 1 << 20


def _array_items(fh: IO[str]) -> Iterator[tuple[str, Any, str]]:
    """(where, statement or exception, its JSON text) for each item of the JSON array read from
    ``fh``, streaming (a buffer of about a megabyte; an item larger than the buffer grows it)."""
    dec = json.JSONDecoder()
    buf, pos, eof = "", 0, False

    def fill() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        more = fh.read(_CHUNK)
        if not more:
            eof = True
            return False
        buf, pos = buf[pos:] + more, 0
        return True

    def skip_ws() -> bool:  # False at the end of the input
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf):
                return True
            if not fill():
                return False

    fill()
    skip_ws()
    pos += 1  # the "[" the caller saw
    n = 0
    while True:
        if not skip_ws():
            yield f"statement {n}", ValueError("unparsable JSON: the array is not closed"), ""
            return
        if buf[pos] == "]":
            pos += 1
            if skip_ws():
                yield "file", ValueError("unparsable JSON: text after the array"), ""
            return
        if n:
            if buf[pos] != ",":
                yield f"statement {n}", ValueError("unparsable JSON: ',' expected"), ""
                return
            pos += 1
            if not skip_ws():
                continue
        while True:
            try:
                obj, end = dec.raw_decode(buf, pos)
            except ValueError as exc:
                if fill():
                    continue
                yield f"statement {n}", ValueError(f"unparsable JSON: {str(exc)[:200]}"), ""
                return
            except RecursionError:
                yield f"statement {n}", ValueError("unparsable JSON: nested too deeply"), ""
                return
            if end >= len(buf) and fill():  # a number may go on in the next chunk
                continue
            break
        yield f"statement {n}", obj, buf[pos:end]
        pos, n = end, n + 1


def _is_array(path: Path) -> bool:
    with path.open("rb") as fh:
        while head := fh.read(4096):
            rest = head.lstrip(b" \t\r\n")
            if rest:
                return rest.startswith(b"[")
    return False


def read_statements(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, statement) for every statement of a file, streaming: a JSON array (``statement
    N``, from 0), or JSON lines (``line N``). What is not JSON or not UTF-8 yields (where, an
    :class:`Exception`); the statements before it are read."""
    for where, st, _off, _len in _read_raw(path, None):
        yield where, st


def _read_raw(path: Path, spill: IO[bytes] | None) -> Iterator[tuple[str, Any, int, int]]:
    """(where, statement or exception, offset, length): where the statement's JSON text can be
    read again — in ``path`` itself for JSON lines, in ``spill`` (appended) for an array."""
    if _is_array(path):
        try:
            with path.open(encoding="utf-8") as fh:
                for where, st, text in _array_items(fh):
                    off = ln = 0
                    if spill is not None and not isinstance(st, Exception):
                        data = text.encode("utf-8")
                        off, ln = spill.seek(0, 2), len(data)
                        spill.write(data)
                    yield where, st, off, ln
        except UnicodeDecodeError as exc:
            yield "file", ValueError(f"not UTF-8 text: {exc.reason} at byte {exc.start}"), 0, 0
        return
    off = 0
    with path.open("rb") as fb:
        for n, raw in enumerate(fb, start=1):
            here, off = off, off + len(raw)
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield f"line {n}", ValueError(f"not UTF-8 text: {exc.reason}"), here, 0
                continue
            try:
                yield f"line {n}", json.loads(line), here, len(raw)
            except (ValueError, RecursionError) as exc:
                yield f"line {n}", ValueError(f"unparsable JSON: {str(exc)[:200]}"), here, 0


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


def _source_for(file: Path, publisher: Any) -> Source:
    """The Source of one input file, named after the first publisher its statements give."""
    publisher = publisher if isinstance(publisher, dict) else {}
    name = publisher.get("name")
    url = publisher.get("url")
    try:
        return Source(
            id=slug("bods-file", file.stem),
            title=f"BODS 0.4 statements {file.name}" + (f" published by {name}" if name else ""),
            url=url if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
            note=f"imported from {file.name} by georisk import bods",
        )
    except ValueError:  # a publisher the model refuses (a lone surrogate): the file names it
        return _source_for(file, None)


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
    for a in st.get("annotations") or []:  # a person's georisk id (bods_out): a custom property
        gid = a.get(ANNOTATION_KEY) if isinstance(a, dict) else None
        if isinstance(gid, str) and gid and a.get("motivation") == "identifying":
            idents.append(Identifier(scheme=GEORISK_SCHEME, id=gid, sources=[rec.source]))
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
    names: dict[str, str],
    sink: RecordSink,
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
    if not isinstance(subject, str) or slug("bods", subject) not in names:
        raise ValueError(f"subject {subject!r} is not an imported entity or person record")
    if not isinstance(party, str):
        reason = (party or {}).get("reason", "not given") if isinstance(party, dict) else party
        sink.note(
            f"relationship {rid}: interested party of {subject} unspecified ({reason}); no link"
        )
        return []
    if slug("bods", party) not in names:
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
        fact = f"{names[src]} [{src}] → {names[tgt]} [{tgt}]: {itype}"
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
            sink.note(
                f"relationship {rid}: {fact} kept as reported, not a link "
                "(georisk has no link kind for this interest)"
            )
            continue
        if how == "indirect":
            sink.note(
                f"relationship {rid}: {fact} is indirect: kept as reported, not a link "
                "(the direct links of the chain carry it; counted once)"
            )
            continue
        if kind not in _NO_SHARE and share is None:
            sink.note(f"relationship {rid}: {fact} has no share; not a link")
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


_TYPES = ("entity", "person", "relationship")


class _Statements:
    """Where the statements of the input are, so that only the chosen one of each record is
    read again: JSON lines in their own file, the items of an array in a spill file."""

    def __init__(self) -> None:
        self.spill: IO[bytes] = tempfile.TemporaryFile(prefix="georisk-bods-")  # noqa: SIM115
        self.names: list[str] = []  # file name per file number
        self.sources: list[str] = []  # Source id per file number
        self.data: list[IO[bytes]] = []  # where the JSON text of the file's statements is

    def add(self, path: Path, source_id: str, array: bool) -> int:
        self.names.append(path.name)
        self.sources.append(source_id)
        self.data.append(self.spill if array else path.open("rb"))
        return len(self.names) - 1

    def read(self, fno: int, off: int, ln: int) -> dict[str, Any]:
        fh = self.data[fno]
        fh.seek(off)
        st: dict[str, Any] = json.loads(fh.read(ln))
        return st

    def close(self) -> None:
        for fh in {id(f): f for f in self.data}.values():
            fh.close()
        self.spill.close()


def _where(entry: tuple[Any, ...], files: _Statements) -> str:
    return f"{'statement' if files.data[entry[2]] is files.spill else 'line'} {entry[3]}"


def stream_bods(paths: Iterable[Path], sink: RecordSink) -> None:
    """Read the BODS 0.4 statements of ``paths`` into ``sink``, streaming.

    Pass 1 reads each file once (a JSON array item by item, or JSON lines), validates every
    statement and keeps, per record, only (statementDate, order, where its text is) of each
    statement. Pass 2 orders the statements of each record by ``statementDate``, then input
    order, reads the last one again and maps it: entities and persons first, then
    relationships. Memory: a few hundred bytes per record, plus a name per entity.
    """
    files = _Statements()
    # recordId → [(statementDate, order, file number, position, offset, length, recordType)]
    records: dict[str, list[tuple[Any, ...]]] = {}
    seq = 0
    try:
        for path in paths:
            array = _is_array(path)
            publisher: Any = None
            fno = files.add(path, slug("bods-file", path.stem), array)
            for where, st, off, ln in _read_raw(path, files.spill if array else None):
                if isinstance(st, Exception):
                    sink.reject(Rejected(path.name, where, None, str(st)))
                    continue
                sid = st.get("statementId") if isinstance(st, dict) else None
                errs = statement_errors(st)
                if errs:
                    reason = "not a valid BODS 0.4 statement: " + "; ".join(errs)
                    sink.reject(Rejected(path.name, where, sid, reason))
                    continue
                if publisher is None:
                    publisher = (st.get("publicationDetails") or {}).get("publisher") or None
                pos = int(where.split()[-1])
                date = sys.intern(str(st["statementDate"]))
                entry = (date, seq, fno, pos, off, ln, sys.intern(st["recordType"]))
                seq += 1
                records.setdefault(str(st["recordId"]), []).append(entry)
            sink.source(_source_for(path, publisher))
        names = _entities(records, files, sink)
        reported: dict[str, list[str]] = {}
        for rid, entries in records.items():
            if _first_type(entries) != "relationship":
                continue
            got = _chosen(rid, entries, files, sink)
            try:
                links = _links(got, names, sink, reported)
            except ValueError as exc:
                sink.reject(
                    Rejected(got.file, got.where, got.statement.get("statementId"), str(exc))
                )
                continue
            for link in links:
                sink.link(link)
        sink.add_notes(reported)  # kept in the dataset, on the entity held
    finally:
        files.close()


def _chosen(
    rid: str, entries: list[tuple[Any, ...]], files: _Statements, sink: RecordSink
) -> _Record:
    """The statement of record ``rid`` that stands (the last by statementDate, then input
    order) with the ids of those it replaces; statements that change the record's type (the
    type of its first statement in that order) are rejected into ``sink``."""
    if len(entries) == 1:
        (e,) = entries
        st = files.read(e[2], e[4], e[5])
        return _Record(st, files.names[e[2]], _where(e, files), files.sources[e[2]])
    ordered = sorted(entries, key=lambda e: (e[0], e[1]))
    rtype = ordered[0][6]
    history: list[str] = []
    last: tuple[Any, ...] | None = None
    for e in ordered:
        if e[6] != rtype:
            st = files.read(e[2], e[4], e[5])
            sink.reject(
                Rejected(
                    files.names[e[2]],
                    _where(e, files),
                    st.get("statementId"),
                    f"record {rid} was a {rtype}, this statement makes it a {e[6]}",
                )
            )
            continue
        if last is not None:
            history.append(str(files.read(last[2], last[4], last[5])["statementId"]))
        last = e
    assert last is not None
    st = files.read(last[2], last[4], last[5])
    return _Record(st, files.names[last[2]], _where(last, files), files.sources[last[2]], history)


def _entities(
    records: dict[str, list[tuple[Any, ...]]], files: _Statements, sink: RecordSink
) -> dict[str, str]:
    """Map the entity and person records into ``sink``; their names by georisk id."""
    names: dict[str, str] = {}
    for rid, entries in records.items():
        if _first_type(entries) == "relationship":
            continue
        rec = _chosen(rid, entries, files, sink)
        try:
            e = _entity(rec)
        except ValueError as exc:
            sink.reject(Rejected(rec.file, rec.where, rec.statement.get("statementId"), str(exc)))
            continue
        other = names.get(e.id)
        if other is not None:
            sink.reject(
                Rejected(
                    rec.file,
                    rec.where,
                    rec.statement.get("statementId"),
                    f"record {rec.statement['recordId']} would have the same georisk id {e.id} "
                    f"as {other} (record ids that differ only in case)",
                )
            )
            continue
        names[e.id] = e.name
        sink.entity(e)
    return names


def _first_type(entries: list[tuple[Any, ...]]) -> str:
    return str(min(entries, key=lambda e: (e[0], e[1]))[6])


def import_bods(paths: Iterable[Path]) -> Imported:
    """BODS 0.4 statements of ``paths`` (in order) → :class:`Imported`, in memory (small
    inputs, ``--merge``); :func:`stream_bods` with a :class:`~.write.BulkSink` at scale."""
    sink = RecordSink("bods")
    stream_bods(paths, sink)
    return sink.imported


# --------------------------------------------------------------------------- export
