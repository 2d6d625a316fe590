"""Official lists published as documents (the DoD §1260H list, the UFLPA Entity List, the BIS
Entity List), typed up as a plain CSV, in.

Columns (a header row names them, in any order):

========================  ===================================================================
``name``                  required: the listed party as the list names it
``list``                  required: the list id of the policy pack (``dod-1260h``,
                          ``uflpa-entity-list``, ``bis-entity-list``, ``ofac-sdn``, …)
``source``                required: where the listing is published, a URL or a title (a
                          Federal Register notice, the list's PDF)
``listed_since``          the listing date (ISO ``YYYY-MM-DD``), empty when not known
``listed_until``          optional: the removal date
``identifiers``           optional: ``scheme:id`` pairs separated by ``;`` (``XI-LEI:5493…``,
                          ``CN-USCC:9144…``); the scheme is everything before the first ``:``
``country``               optional: ISO 3166-1 alpha-2
``aliases``               optional: other names separated by ``;``
``kind``                  optional: ``company`` (default), ``person``, ``government``,
                          ``state_body``, ``academic``, ``fund``
========================  ===================================================================

Rows naming the same party (the same ``scheme:id``, or else the same name, case and spacing
aside) become one entity with one membership per list; its id is ``list:<name slug>``. Each
distinct ``source`` value becomes one Source (a URL as its url, a title with a note naming the
file). A row that cannot be read (no name, list or source; a bad date, country, kind or
identifier) becomes a :class:`.core.Rejected` naming the file and its row (the line number in the
file, the header being line 1); the other rows import. A row also matches a party by one of its
other names (``aliases``: a renamed company).

Published transcriptions with columns of their own are read as they are when their header has
every column of one of :data:`LAYOUTS` (and not this reader's three required ones): OpenSanctions'
hand-kept transcription of the DoD 1260H list (``Name, Clean Name, Alias, Previous Name, Parent
Name, Note, Start date, End date, Source Url``) is the list ``dod-1260h``, ``Clean Name`` the
name, ``Alias``/``Previous Name`` aliases, ``End date`` (the edition that removed the entry) the
day after the membership's last day; the name as printed, the note and the parent go to the
membership's note (a ``note`` column in this reader's own layout).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from georisk.interop.core import Imported, Rejected, csv_rows, slug
from georisk.scoring.countries import ISO_3166_ALPHA2
from georisk.scoring.model import ID_PATTERN, Entity, EntityKind, Identifier, ListMembership, Source

__all__ = ["COLUMNS", "LAYOUTS", "REQUIRED", "Layout", "read_lists_csv"]

FORMAT = "lists"
REQUIRED = ("name", "list", "source")
COLUMNS = (
    *REQUIRED,
    "listed_since",
    "listed_until",
    "identifiers",
    "country",
    "aliases",
    "kind",
    "note",
)
_ID_RE = re.compile(ID_PATTERN)
_URL = re.compile(r"^https?://\S+$", re.I)


class _RowError(ValueError):
    pass


@dataclass(frozen=True)
class Layout:
    """A published transcription of a list whose columns are not this reader's own: recognised
    by its header (``signature``, every column present), each row translated to the reader's
    columns by ``translate``.

    >>> row = {"Name": "BYD Company Limited (BYD)", "Clean Name": "BYD Company Limited"}
    >>> got = LAYOUTS[0].translate({**row, "Alias": "BYD", "Start date": "2026-06-08"})
    >>> got["name"], got["list"], got["listed_since"], got["note"]
    ('BYD Company Limited', 'dod-1260h', '2026-06-08', 'as printed: BYD Company Limited (BYD)')
    """

    name: str
    signature: frozenset[str]
    translate: Callable[[dict[str, str]], dict[str, str]]


def _cells(row: dict[str, str]) -> Callable[[str], str]:
    return lambda col: (row.get(col) or "").strip()


def _note(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _day_before(day: str) -> str:
    """``day`` less one day (ISO), or ``day`` unchanged when it is not a date."""
    with contextlib.suppress(ValueError):  # empty, or not a date: read_row rejects the latter
        return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
    return day


_MILCORPS_TITLE = (
    "DoD Section 1260H list of Chinese military companies, as transcribed by OpenSanctions "
    "(datasets/us/dod_chinese_milcorps/sanctions.csv)"
)


def _milcorps_row(row: dict[str, str]) -> dict[str, str]:
    """OpenSanctions' transcription of the DoD 1260H list, one row per listing and edition."""
    cell = _cells(row)
    printed, clean, removed = cell("Name"), cell("Clean Name"), cell("End date")
    # "End date" is the date of the edition that removed the entry: its first day off the list,
    # so the membership (whose `until` is its last day) ends the day before
    until = _day_before(removed)
    return {
        "name": clean or printed,
        "list": "dod-1260h",
        "source": cell("Source Url") or _MILCORPS_TITLE,
        "listed_since": cell("Start date"),
        "listed_until": until,
        "aliases": ";".join(x for x in (cell("Alias"), cell("Previous Name")) if x),
        "note": _note(
            f"as printed: {printed}" if printed and printed != clean else "",
            cell("Note"),
            f"listed under {cell('Parent Name')}" if cell("Parent Name") else "",
            f"removed by the edition of {removed}" if removed and until != removed else "",
        ),
    }


#: programs of OpenSanctions' special_leg files that are lists of the scoring pack
_PROGRAM_LISTS = (
    (re.compile(r"\bSection 154\b.*\bFiscal Year 2024\b", re.I), "ndaa-fy2024-154"),
    (re.compile(r"\b1260H\b"), "dod-1260h"),
)
_KINDS = {"company": "company", "organization": "company", "legalentity": "company"}
_KINDS |= {"person": "person", "publicbody": "state_body"}


def _loose_date(raw: str, *, end: bool = False) -> tuple[str, str]:
    """(ISO date or the text unchanged, a note when it was read loosely): ``2023-12-22``,
    ``October 1, 2027`` → ``2027-10-01``; a month or a year alone reads as its first day, or its
    last when ``end`` (``December 2023`` → ``2023-12-31``), with a note.

    >>> _loose_date("October 1, 2027"), _loose_date("December 2023", end=True)[0]
    (('2027-10-01', ''), '2023-12-31')
    """
    raw = raw.strip()
    for fmt in ("%B %d, %Y", "%b %d, %Y", "%d %B %Y"):
        with contextlib.suppress(ValueError):
            return dt.datetime.strptime(raw, fmt).date().isoformat(), ""
    first: dt.date | None = None
    with contextlib.suppress(ValueError):
        first = dt.datetime.strptime(raw, "%B %Y").date()
    if first is None and re.fullmatch(r"\d{4}", raw):
        first = dt.date(int(raw), 1, 1)
    if first is None:
        return raw, ""  # ISO, empty, or unreadable: read_row decides
    day = first
    if end:
        nxt = (
            dt.date(first.year + 1, 1, 1)
            if len(raw) == 4 or first.month == 12
            else dt.date(first.year, first.month + 1, 1)
        )
        day = nxt - dt.timedelta(days=1)
    return day.isoformat(), f"dated {raw!r}, read as {day.isoformat()}"


def _special_leg_row(row: dict[str, str]) -> dict[str, str]:
    """OpenSanctions' transcriptions of lists named in US laws (datasets/us/special_leg)."""
    cell = _cells(row)
    program = cell("program")
    list_id = next((lid for rx, lid in _PROGRAM_LISTS if rx.search(program)), "")
    since, since_note = _loose_date(cell("report-date"))
    start, _ = _loose_date(cell("start-date"))
    until, until_note = _loose_date(cell("end-date"), end=True)
    country = cell("country")
    iso = country.upper() if country.upper() in ISO_3166_ALPHA2 else ""
    sources = [u.strip() for u in cell("source_url").split(";") if u.strip()]
    return {
        "name": cell("name"),
        "list": list_id or slug("program", program) if program else "",
        "source": sources[0] if sources else cell("authority"),
        "listed_since": since,
        "listed_until": until,
        "aliases": cell("aliases"),
        "country": iso,
        "kind": _KINDS.get(cell("schema").lower(), cell("schema").lower()),
        "note": _note(
            program,
            f"named in a report of {cell('report-date')}" if cell("report-date") else "",
            since_note,
            until_note,
            f"in force from {start}" if start and start != since else "",
            cell("reason"),
            cell("notes"),
            f"country as given: {country}" if country and not iso else "",
            f"also published at {'; '.join(sources[1:])}" if len(sources) > 1 else "",
        ),
    }


#: published transcriptions read as they are (docs/import.md, "Official lists as CSV")
LAYOUTS = (
    Layout(
        name="OpenSanctions us_dod_chinese_milcorps",
        signature=frozenset(
            {"Name", "Clean Name", "Alias", "Previous Name", "Parent Name", "Note"}
            | {"Start date", "End date", "Source Url"}
        ),
        translate=_milcorps_row,
    ),
    Layout(
        name="OpenSanctions special_leg",
        signature=frozenset(
            {"schema", "name", "aliases", "program", "authority", "reason", "report-date"}
            | {"start-date", "end-date", "country", "notes", "source_url"}
        ),
        translate=_special_leg_row,
    ),
)


def _layout(path: str | os.PathLike[str]) -> Layout | None:
    """The published layout whose columns the file's header has, if any (else None: the
    reader's own columns; a file that cannot be read is reported by :func:`.core.csv_rows`)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = {h.strip() for h in next(csv.reader(fh), [])}
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if set(REQUIRED) <= header:
        return None
    return next((lay for lay in LAYOUTS if lay.signature <= header), None)


def _norm(name: str) -> str:
    return " ".join(name.casefold().split())


def _date(raw: str, column: str) -> dt.date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise _RowError(f"{column} {raw!r} is not an ISO date (YYYY-MM-DD)") from None


def _split(raw: str) -> list[str]:
    return [p.strip() for p in raw.split(";") if p.strip()]


@dataclass
class _Party:
    name: str
    kind: EntityKind
    country: str | None = None
    aliases: list[str] = field(default_factory=list)
    identifiers: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    lists: list[ListMembership] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)
    rows: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self) -> None:
        self.out = Imported(format=FORMAT)
        self.parties: list[_Party] = []
        self.by_ident: dict[tuple[str, str], _Party] = {}
        self.by_name: dict[str, _Party] = {}

    def source(self, value: str, file: str) -> str:
        sid = slug("list-src", value)
        if sid not in self.out.sources:
            if _URL.match(value):
                src = Source(id=sid, title=f"List published at {value}", url=value)
            else:
                src = Source(id=sid, title=value, note=f"named in the list file {file}")
            self.out.sources[sid] = src
        return sid

    def read_file(self, path: str | os.PathLike[str]) -> None:
        layout = _layout(path)
        required = tuple(sorted(layout.signature)) if layout else REQUIRED
        noted = False
        for name, where, row in csv_rows(path, required, self.out):
            if not noted:  # once per file: the layout, columns this reader ignores
                noted = True
                known = layout.signature if layout else set(COLUMNS)
                extra = [h for h in row if h not in known]
                if layout:
                    self.out.notes.append(f"{name}: read as {layout.name}")
                if extra:
                    self.out.notes.append(f"{name}: columns not read: {', '.join(extra)}")
            if layout:
                row = layout.translate(row)
            try:
                self.read_row(name, where, row)
            except _RowError as exc:
                self.out.rejected.append(Rejected(name, where, row.get("name") or None, str(exc)))

    def read_row(self, file: str, where: str, row: dict[str, str]) -> None:
        def cell(col: str) -> str:
            return row.get(col, "")

        name, list_id, source = cell("name"), cell("list"), cell("source")
        for col, v in (("name", name), ("list", list_id), ("source", source)):
            if not v:
                raise _RowError(f"no {col}")
        if not _ID_RE.match(list_id):
            raise _RowError(f"list {list_id!r} is not a list id (lower-case a-z 0-9 . _ : -)")
        since = _date(cell("listed_since"), "listed_since")
        until = _date(cell("listed_until"), "listed_until")
        if since and until and until < since:
            raise _RowError(f"listed_until {until} is before listed_since {since}")
        country = cell("country").upper() or None
        if country is not None and country not in ISO_3166_ALPHA2:
            raise _RowError(f"country {cell('country')!r} is not an ISO 3166-1 alpha-2 code")
        kind_raw = cell("kind").lower() or EntityKind.COMPANY.value
        try:
            kind = EntityKind(kind_raw)
        except ValueError:
            kinds = ", ".join(k.value for k in EntityKind)
            raise _RowError(f"kind {kind_raw!r} is not one of {kinds}") from None
        idents: list[tuple[str, str]] = []
        for part in _split(cell("identifiers")):
            scheme, sep, ident = part.partition(":")
            if not sep or not scheme.strip() or not ident.strip():
                raise _RowError(f"identifier {part!r} is not scheme:id")
            idents.append((scheme.strip(), ident.strip()))
        # the party: by identifier, else by name, else by one of the row's other names (a
        # renamed company: the 1260H list prints "X (formerly Y)")
        party = next((self.by_ident[i] for i in idents if i in self.by_ident), None)
        for other in (name, *_split(cell("aliases"))):
            party = party or self.by_name.get(_norm(other))
        if party is not None:
            if party.kind is not kind and cell("kind"):
                raise _RowError(
                    f"kind {kind.value} conflicts with {party.kind.value} given in {party.rows[0]}"
                )
            if country and party.country and country != party.country:
                raise _RowError(
                    f"country {country} conflicts with {party.country} given in {party.rows[0]}"
                )
        sid = self.source(source, file)
        try:
            membership = ListMembership(
                list_id=list_id,
                since=since,
                until=until,
                sources=[sid],
                note=f"{file} {where}" + (f": {cell('note')}" if cell("note") else ""),
            )
        except ValidationError as exc:  # pragma: no cover - checked above
            raise _RowError(str(exc)) from None
        if party is None:
            party = _Party(name=name, kind=kind)
            self.parties.append(party)
            self.by_name[_norm(name)] = party
        party.country = party.country or country
        for alias in [name, *_split(cell("aliases"))]:
            if _norm(alias) != _norm(party.name) and alias not in party.aliases:
                party.aliases.append(alias)
            self.by_name.setdefault(_norm(alias), party)
        for i in idents:
            party.identifiers.setdefault(i, set()).add(sid)
            self.by_ident[i] = party
        if any(
            (m.list_id, m.since, m.until) == (list_id, since, until) and m.sources == [sid]
            for m in party.lists
        ):
            self.out.notes.append(f"{file} {where}: repeats {party.rows[0]}; kept once")
        else:
            party.lists.append(membership)
        party.sources.add(sid)
        party.rows.append(f"{file} {where}")

    def finish(self) -> Imported:
        for party in self.parties:
            eid = slug("list", party.name)
            n = 2
            while eid in self.out.entities:
                eid = slug("list", f"{party.name} {n}")
                n += 1
            self.out.entities[eid] = Entity(
                id=eid,
                name=party.name,
                kind=party.kind,
                country=party.country,
                aliases=party.aliases,
                lists=party.lists,
                sources=sorted(party.sources),
                identifiers=[
                    Identifier(scheme=s, id=i, sources=sorted(srcs))
                    for (s, i), srcs in party.identifiers.items()
                ],
                note="from " + ", ".join(party.rows),
            )
        return self.out


def read_lists_csv(paths: Iterable[str | os.PathLike[str]]) -> Imported:
    """Read list CSV files (columns: see the module docstring) into one :class:`.core.Imported`."""
    reader = _Reader()
    for path in paths:
        reader.read_file(path)
    return reader.finish()
