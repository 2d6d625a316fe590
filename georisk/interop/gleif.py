"""GLEIF LEI records (Level 1, "who is who") and relationship records (Level 2, "who owns whom")
in, from the golden-copy CSV files GLEIF publishes (LEI-CDF and RR-CDF, one record a row, the
column names as in the files: ``LEI``, ``Entity.LegalName``, ``Relationship.StartNode.NodeID``,
``Relationship.Period.1.startDate``, …).

* An LEI record → a ``company`` entity, id ``lei:<lei>`` (lower-case), the LEI kept as
  ``Identifier(scheme="XI-LEI")`` (the org-id.guide scheme the BODS and FtM importers also use, so
  the same company merges across them). ``country`` is the legal jurisdiction's country
  (``US-DE`` → ``US``), else the legal address's country; ``principal_place`` is the headquarters
  address's country. Other names (``Entity.OtherEntityNames.*``) become aliases.
* A relationship record ``IS_DIRECTLY_CONSOLIDATED_BY`` / ``IS_ULTIMATELY_CONSOLIDATED_BY``
  (start node = the child, end node = the parent) says that the parent consolidates the child in
  its accounts. That is accounting control, **not a share**: it becomes a ``control`` link
  parent → child with role ``direct_consolidation`` or ``ultimate_consolidation`` and no share
  (no share test reads it; ``georisk ownership`` shows it as "Other control"), valid over the
  record's ``RELATIONSHIP_PERIOD`` (not its accounting period). An ``INACTIVE`` relationship with
  no end date has no period to give a link: it is kept as a reported fact (a note) instead.
  Every consolidation is also a line in :attr:`.core.Imported.notes` and in the child's note.
  Other relationship types (``IS_INTERNATIONAL_BRANCH_OF``, fund relations) are counted in a note.

A row that cannot be read (no or malformed LEI, no name, a node not in the LEI files, a bad date)
becomes a :class:`.core.Rejected` naming the file and the row; the rest imports. One Source per
input file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from georisk.interop.core import Imported, Rejected, csv_rows, slug
from georisk.scoring.countries import ISO_3166_ALPHA2
from georisk.scoring.model import Entity, EntityKind, Identifier, Link, LinkKind, Source

__all__ = ["CONSOLIDATION_TYPES", "Consolidation", "read_gleif", "read_gleif_files"]

FORMAT = "gleif"
CONSOLIDATION_TYPES = {
    "IS_DIRECTLY_CONSOLIDATED_BY": "direct",
    "IS_ULTIMATELY_CONSOLIDATED_BY": "ultimate",
}
#: relationship records GLEIF no longer vouches for: annulled or duplicate (no link), and not
#: renewed or retired (an unconfirmed link)
_VOID_REGISTRATIONS = frozenset({"ANNULLED", "DUPLICATE"})
_STALE_REGISTRATIONS = frozenset({"LAPSED", "RETIRED"})
_LEI = re.compile(r"^[A-Z0-9]{18}[0-9]{2}$")


class _RowError(ValueError):
    pass


@dataclass(frozen=True)
class Consolidation:
    """A Level 2 accounting-consolidation relationship (a ``control`` link, see :meth:`link`)."""

    child: str  # entity id
    parent: str  # entity id
    level: str  # direct | ultimate
    start: dt.date | None
    end: dt.date | None
    status: str
    source: str
    #: the relationship record's own registration status (Registration.RegistrationStatus)
    registration: str = ""

    def sentence(self, names: dict[str, str]) -> str:
        period = ""
        if self.start or self.end:
            period = f" from {self.start or '?'}" + (f" to {self.end}" if self.end else "")
        status = f" ({self.status.lower()})" if self.status and self.status != "ACTIVE" else ""
        if self.registration and self.registration != "PUBLISHED":
            status += f" (registration {self.registration.lower()})"
        return (
            f"{names.get(self.child, self.child)} [{self.child}] is {self.level}ly consolidated by "
            f"{names.get(self.parent, self.parent)} [{self.parent}]{period}{status} "
            "(GLEIF Level 2: accounting consolidation, not a share)"
        )

    def link(self) -> Link | None:
        """The ``control`` link parent → child, or None when the relationship is inactive and
        has no end date (no period to give a link) or its record was annulled or is a
        duplicate. A record not renewed (``LAPSED``) or ``RETIRED`` gives an unconfirmed link."""
        if self.status not in ("", "ACTIVE") and self.end is None:
            return None
        if self.registration in _VOID_REGISTRATIONS:
            return None
        stale = self.registration in _STALE_REGISTRATIONS
        return Link(
            unconfirmed=stale,
            unconfirmed_note=(
                f"GLEIF registration status {self.registration}: the record is no longer kept "
                "up to date, so the relationship may have ended or changed"
                if stale
                else None
            ),
            id=slug("gleif", f"{self.child}-{self.level}-{self.parent}".replace("lei:", "")),
            kind=LinkKind.CONTROL,
            role=f"{self.level}_consolidation",
            source=self.parent,
            target=self.child,
            valid_from=self.start,
            valid_to=self.end,
            sources=[self.source],
            note=f"GLEIF Level 2 relationship record, {self.level} accounting consolidation"
            + (f", status {self.status}" if self.status else ""),
        )


def _date(raw: str, column: str) -> dt.date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        raise _RowError(f"{column} {raw!r} is not a date") from None


def _iso(raw: str) -> str | None:
    code = raw.strip().upper().split("-")[0]
    return code if code in ISO_3166_ALPHA2 else None


class _Reader:
    def __init__(self) -> None:
        self.out = Imported(format=FORMAT)
        self.leis: dict[str, Entity] = {}
        self.consolidations: list[Consolidation] = []
        self.other_types: Counter[str] = Counter()

    def source(self, name: str, what: str) -> str:
        sid = slug("gleif-file", name)
        self.out.sources.setdefault(
            sid, Source(id=sid, title=f"GLEIF {what} in {name}", note=f"file {name}")
        )
        return sid

    def each_row(
        self, path: str | os.PathLike[str], required: tuple[str, ...], what: str
    ) -> Iterable[tuple[str, str, str, dict[str, str]]]:
        """``(file, "row N", source id, row)`` of a GLEIF CSV file (:func:`.core.csv_rows`)."""
        for name, where, row in csv_rows(path, required, self.out, kind=f"a GLEIF {what}"):
            yield name, where, self.source(name, what), row

    def lei_file(self, path: str | os.PathLike[str]) -> None:
        for file, where, sid, row in self.each_row(
            path, ("LEI", "Entity.LegalName"), "LEI records"
        ):
            lei = row["LEI"].upper()
            try:
                self.lei_row(lei, sid, row)
            except _RowError as exc:
                self.out.rejected.append(Rejected(file, where, lei or None, str(exc)))

    def lei_row(self, lei: str, sid: str, row: dict[str, str]) -> None:
        if not _LEI.match(lei):
            raise _RowError(f"LEI {lei!r} is not 20 characters of A-Z 0-9 ending in two digits")
        if lei in self.leis:
            raise _RowError("LEI repeated: the first record is kept")
        name = row["Entity.LegalName"]
        if not name:
            raise _RowError("no Entity.LegalName")
        jur = row.get("Entity.LegalJurisdiction", "")
        legal = row.get("Entity.LegalAddress.Country", "")
        hq = row.get("Entity.HeadquartersAddress.Country", "")
        country = _iso(jur) or _iso(legal)
        notes = [f"GLEIF LEI {lei}"]
        if jur and not _iso(jur):
            notes.append(f"legal jurisdiction {jur} is not an ISO country")
        status = row.get("Entity.EntityStatus", "")
        if status and status != "ACTIVE":
            notes.append(f"entity status {status}")
        reg = row.get("Registration.RegistrationStatus", "")
        if reg:
            notes.append(f"registration status {reg}")
        aliases = [
            v
            for k, v in row.items()
            if k.startswith("Entity.OtherEntityNames.") and not k.endswith(("type", "xmllang"))
            if v and v != name
        ]
        try:
            ent = Entity(
                id=slug("lei", lei),
                name=name,
                kind=EntityKind.COMPANY,
                country=country,
                principal_place=_iso(hq),
                aliases=aliases,
                sources=[sid],
                identifiers=[Identifier(scheme="XI-LEI", id=lei, sources=[sid])],
                note="; ".join(notes),
            )
        except ValidationError as exc:
            raise _RowError(str(exc.errors()[0]["msg"])) from None
        self.leis[lei] = ent

    def rr_file(self, path: str | os.PathLike[str]) -> None:
        required = (
            "Relationship.StartNode.NodeID",
            "Relationship.EndNode.NodeID",
            "Relationship.RelationshipType",
        )
        for file, where, sid, row in self.each_row(path, required, "relationship records"):
            try:
                self.rr_row(sid, row)
            except _RowError as exc:
                rid = f"{row['Relationship.StartNode.NodeID']}>{row['Relationship.EndNode.NodeID']}"
                self.out.rejected.append(Rejected(file, where, rid, str(exc)))

    def rr_row(self, sid: str, row: dict[str, str]) -> None:
        rtype = row["Relationship.RelationshipType"]
        if rtype not in CONSOLIDATION_TYPES:
            self.other_types[rtype or "(none)"] += 1
            return
        child = row["Relationship.StartNode.NodeID"].upper()
        parent = row["Relationship.EndNode.NodeID"].upper()
        for role, lei in (("start node (child)", child), ("end node (parent)", parent)):
            if lei not in self.leis:
                raise _RowError(f"{role} {lei or '(none)'} is not in the LEI records read")
        start = end = None
        for n in range(1, 6):  # Relationship.Period.N.* (RELATIONSHIP_PERIOD is the validity)
            key = f"Relationship.Period.{n}."
            if row.get(key + "periodType") == "RELATIONSHIP_PERIOD":
                start = _date(row.get(key + "startDate", ""), key + "startDate")
                end = _date(row.get(key + "endDate", ""), key + "endDate")
        if start and end and end < start:
            raise _RowError(f"relationship period ends {end} before it starts {start}")
        self.consolidations.append(
            Consolidation(
                child=self.leis[child].id,
                parent=self.leis[parent].id,
                level=CONSOLIDATION_TYPES[rtype],
                start=start,
                end=end,
                status=row.get("Relationship.RelationshipStatus", ""),
                source=sid,
                registration=row.get("Registration.RegistrationStatus", "").strip().upper(),
            )
        )

    def finish(self) -> Imported:
        names = {e.id: e.name for e in self.leis.values()}
        by_child: dict[str, list[Consolidation]] = {}
        for c in self.consolidations:
            by_child.setdefault(c.child, []).append(c)
            link = c.link()
            if link is not None:
                self.out.links[link.id] = link
            self.out.notes.append(c.sentence(names) + ("" if link else "; inactive, no link"))
        for ent in self.leis.values():
            cs = by_child.get(ent.id, [])
            if cs:
                extra = "; ".join(c.sentence(names) for c in cs)
                srcs = sorted({*ent.sources, *(c.source for c in cs)})
                ent = ent.model_copy(update={"note": f"{ent.note}; {extra}", "sources": srcs})
            self.out.entities[ent.id] = ent
        if self.other_types:
            kinds = ", ".join(f"{k} ({n})" for k, n in sorted(self.other_types.items()))
            self.out.notes.append(f"GLEIF relationship types not imported: {kinds}")
        return self.out


def read_gleif(
    lei_paths: Iterable[str | os.PathLike[str]],
    rr_paths: Iterable[str | os.PathLike[str]] = (),
) -> Imported:
    """Read GLEIF golden-copy CSV files: LEI records first, then relationship records (whose
    nodes must be among the LEI records read); see the module docstring."""
    reader = _Reader()
    for p in lei_paths:
        reader.lei_file(p)
    for p in rr_paths:
        reader.rr_file(p)
    return reader.finish()


def read_gleif_files(paths: Iterable[str | os.PathLike[str]]) -> Imported:
    """:func:`read_gleif` for files given in any order: a file whose header names
    ``Relationship.StartNode.NodeID`` is read as relationship records (after all LEI files), any
    other as LEI records (a file that is neither is rejected by its header check)."""
    lei: list[str | os.PathLike[str]] = []
    rr: list[str | os.PathLike[str]] = []
    for p in paths:
        try:
            with open(p, encoding="utf-8-sig", errors="replace") as fh:
                head = fh.readline()
        except OSError:
            head = ""
        (rr if "Relationship.StartNode.NodeID" in head else lei).append(p)
    return read_gleif(lei, rr)
