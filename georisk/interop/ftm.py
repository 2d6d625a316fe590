"""FollowTheMoney (FtM) entities in, as OpenSanctions publishes them: JSON lines, one entity a
line (https://www.opensanctions.org/docs/bulk/json/, schema https://followthemoney.tech/explorer/).

Every line is read with the ``followthemoney`` library (``model.get_proxy``), never by hand:

* ``Person`` → a ``person``; ``PublicBody`` → a ``state_body``; ``Company``, ``Organization``,
  ``LegalEntity`` → a ``company``. The FtM id becomes the entity id through :func:`.core.slug`
  (prefix ``ftm``) and is kept as ``Identifier(scheme="OpenSanctions")``; ``leiCode`` is kept as
  ``XI-LEI`` (the org-id.guide scheme the BODS and GLEIF importers use), ``wikidataId`` as
  ``Wikidata`` and every other identifier property as ``FtM:<property>`` (``FtM:ogrnCode``,
  ``FtM:registrationNumber``, …). ``jurisdiction`` (else ``country``; persons: ``nationality``,
  ``citizenship``, ``country``) → ``country``, ISO 3166-1 alpha-2 only: FtM's other territory
  codes (``suhh``, ``ge-ab``, …) are skipped with a note.
* ``Ownership`` (owner → asset) → an ``equity`` link (``voting`` when ``ownershipType`` names
  votes) with the share read from ``percentage`` (see :func:`parse_percentage`); no percentage →
  an open share (more than 0, up to 100 %) with a note; an unreadable one rejects the line.
* ``Directorship`` (director → organization) → an ``appointment`` link (role ``board`` for
  directors and board members, ``officer`` for executives and secretaries).
* ``Sanction`` (entity, authority, program, startDate/listingDate, endDate) → a list membership
  of the sanctioned entity, dated; ``topics`` (``sanction``, ``debarment``, ``export.control``,
  ``role.pep``, …) → an undated membership of ``ftm-topic-<topic>``. List ids: see
  :func:`list_id_for`.

Dates given to the month or year (``2020``, ``2020-05``) are read as the first day of the period
for a start and the last day for an end, with a note. Every fact carries the Source made for its
input file (its note names the file and the FtM datasets seen in it). A line that cannot be read
(bad JSON, no id, unknown schema, an unreadable percentage, a link to an entity not in the
input) becomes a :class:`.core.Rejected` with its line number and the reason; the rest imports.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from georisk.interop.core import Imported, Rejected, ShareError, share_range, slug
from georisk.scoring.countries import ISO_3166_ALPHA2
from georisk.scoring.model import (
    Entity,
    EntityKind,
    Identifier,
    Link,
    LinkKind,
    ListMembership,
    ShareRange,
    Source,
)

if TYPE_CHECKING:
    from followthemoney.proxy import EntityProxy

__all__ = ["list_id_for", "parse_percentage", "read_ftm"]

FORMAT = "ftm"
_PREFIX = "ftm"

# FtM identifier properties whose scheme other importers share
_SCHEMES = {"leiCode": "XI-LEI", "wikidataId": "Wikidata"}

# the scoring pack's list ids (data/policies/us.yaml) for authorities and programs that name them
# unambiguously; anything else becomes ftm-sanction-<authority or program>
_PACK_LISTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"1260\s*h|chinese military compan", re.I), "dod-1260h"),
    (re.compile(r"uflpa|uyghur forced labor", re.I), "uflpa-entity-list"),
    (re.compile(r"\bentity list\b|military end[- ]user", re.I), "bis-entity-list"),
    (re.compile(r"\bsdn\b|specially designated nationals", re.I), "ofac-sdn"),
)
# OpenSanctions dataset names that are one list of the pack
_PACK_DATASETS = {
    "us_ofac_sdn": "ofac-sdn",
    "us_dod_chinese_milcorp": "dod-1260h",
    "us_dhs_uflpa": "uflpa-entity-list",
}
_OFAC = re.compile(r"office of foreign assets control|\bofac\b", re.I)
_BIS = re.compile(r"bureau of industry and security|\bbis\b", re.I)


def _list_slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:80].rstrip("-") or "unnamed"


def list_id_for(authority: str | None, program: str | None, datasets: Iterable[str] = ()) -> str:
    """The list id for an FtM ``Sanction``: the pack's id where the dataset, or the authority and
    program together, name one of its lists unambiguously; else ``ftm-sanction-<authority>``
    (``ftm-sanction-<program>`` without an authority).

    >>> list_id_for("Office of Foreign Assets Control", "SDGT", ["us_ofac_sdn"])
    'ofac-sdn'
    >>> list_id_for("Bureau of Industry and Security", "Entity List")
    'bis-entity-list'
    >>> list_id_for("Office of Foreign Assets Control", "Non-SDN Menu-Based Sanctions")
    'ftm-sanction-office-of-foreign-assets-control'
    >>> list_id_for("HM Treasury", "Russia")
    'ftm-sanction-hm-treasury'
    """
    for d in datasets:
        if d in _PACK_DATASETS:
            return _PACK_DATASETS[d]
    auth, prog = authority or "", program or ""
    text = f"{auth} {prog}"
    if "non-sdn" not in text.lower():
        for pattern, list_id in _PACK_LISTS:
            if not pattern.search(text):
                continue
            if list_id == "ofac-sdn" and not _OFAC.search(text):
                continue
            if list_id == "bis-entity-list" and not _BIS.search(text):
                continue
            return list_id
    return "ftm-sanction-" + _list_slug(auth or prog or "unknown")


_NUM = r"(\d+(?:\.\d+)?)"
_RANGE = re.compile(rf"^{_NUM}\s*%?\s*(?:-|–|—|to)\s*{_NUM}\s*%?$")
_BOUND = re.compile(
    rf"^(>=|≥|<=|≤|>|<|more than|over|at least|less than|under|up to)\s*{_NUM}\s*%?$", re.I
)
_EXACT = re.compile(rf"^{_NUM}\s*%?$")


def parse_percentage(raw: str) -> float | ShareRange:
    """An FtM ``percentage`` value (a percent) as a share fraction or range; ShareError when it
    cannot be read.

    >>> parse_percentage("51")
    0.51
    >>> parse_percentage("51 %")
    0.51
    >>> parse_percentage("25-50%")
    ShareRange(minimum=0.25, maximum=0.5, exclusive_minimum=False, exclusive_maximum=False)
    >>> parse_percentage("> 50%")
    ShareRange(minimum=0.5, maximum=1.0, exclusive_minimum=True, exclusive_maximum=False)
    """
    text = raw.strip().replace(",", ".")
    share: float | ShareRange | None = None
    if m := _EXACT.match(text):
        share = share_range(exact=float(m.group(1)))
    elif m := _RANGE.match(text):
        share = share_range(minimum=float(m.group(1)), maximum=float(m.group(2)))
    elif m := _BOUND.match(text):
        op, v = m.group(1).lower(), float(m.group(2))
        if op in (">", "more than", "over"):
            share = share_range(exclusive_minimum=v)
        elif op in (">=", "≥", "at least"):
            share = share_range(minimum=v)
        elif op in ("<", "less than", "under"):
            share = share_range(exclusive_maximum=v)
        else:
            share = share_range(maximum=v)
    else:
        raise ShareError(f"percentage {raw!r} is not a number, a range or a bound")
    if share is None:  # pragma: no cover - every branch above gives a value or raises
        raise ShareError(f"percentage {raw!r} gives no share")
    return share


def _date(raw: str | None, *, end: bool) -> tuple[dt.date | None, str | None]:
    """An FtM date (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, possibly with a time) as a date and,
    when it was given to the month or year, a note saying how it was read."""
    if not raw:
        return None, None
    text = raw.strip()[:10]
    parts = text.split("-")
    try:
        if len(parts) == 3:
            return dt.date(int(parts[0]), int(parts[1]), int(parts[2])), None
        if len(parts) == 2:
            y, m = int(parts[0]), int(parts[1])
            d = dt.date(y, m, calendar.monthrange(y, m)[1] if end else 1)
        elif len(parts) == 1:
            y = int(parts[0])
            d = dt.date(y, 12, 31) if end else dt.date(y, 1, 1)
        else:
            raise ValueError(text)
    except ValueError as exc:
        raise ValueError(f"date {raw!r} is not a date") from exc
    return d, f"{raw} given to the {'month' if len(parts) == 2 else 'year'}; read as {d}"


@dataclass
class _Pending:
    """An FtM record held until every entity of the input is known."""

    proxy: EntityProxy
    file: str
    line: int
    datasets: list[str]
    source_ids: set[str] = field(default_factory=set)
    unread: list[str] = field(default_factory=list)  # "prop 'value'" the library dropped


def _ftm_model() -> Any:
    try:
        from followthemoney import model
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "reading FollowTheMoney needs the followthemoney package: pip install followthemoney"
        ) from exc
    return model


_ENTITY_SCHEMATA = {"Person", "PublicBody", "Company", "Organization", "LegalEntity"}
_LINK_SCHEMATA = {"Ownership", "Directorship", "Sanction"}


class _Reader:
    def __init__(self) -> None:
        self.model = _ftm_model()
        self.out = Imported(format=FORMAT)
        self.entities: dict[str, _Pending] = {}
        self.records: list[_Pending] = []
        self.file_datasets: dict[str, set[str]] = {}
        self.file_source: dict[str, str] = {}
        self.skipped: Counter[str] = Counter()
        self.countries_skipped: Counter[str] = Counter()
        self.dropped: dict[str, str] = {}  # FtM id of a rejected entity -> where it was

    def reject(self, file: str, line: int, rid: str | None, reason: str) -> None:
        self.out.rejected.append(Rejected(file, f"line {line}", rid, reason))

    def read_file(self, path: str | os.PathLike[str]) -> None:
        name = os.path.basename(os.fspath(path))
        src = slug("ftm-file", name)
        n = 2
        while src in self.out.sources or src in self.file_source.values():
            src = slug("ftm-file", f"{name}-{n}")
            n += 1
        self.file_source[name] = src
        self.file_datasets[src] = set()
        with open(path, "rb") as fh:
            for lineno, raw_bytes in enumerate(fh, 1):
                try:
                    raw = raw_bytes.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self.reject(name, lineno, None, f"not UTF-8 text: {exc.reason}")
                    continue
                if raw.strip():
                    self.read_line(name, src, lineno, raw)
        datasets = sorted(self.file_datasets[src])
        ds = f"; datasets: {', '.join(datasets)}" if datasets else ""
        self.out.sources[src] = Source(
            id=src,
            title=f"FollowTheMoney entities in {name}",
            note=f"file {name}{ds}",
        )

    def read_line(self, file: str, src: str, lineno: int, raw: str) -> None:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            self.reject(file, lineno, None, f"not JSON: {exc.msg} (column {exc.colno})")
            return
        if not isinstance(data, dict):
            self.reject(file, lineno, None, "not a JSON object")
            return
        rid = data.get("id") if isinstance(data.get("id"), str) else None
        if not rid:
            self.reject(file, lineno, None, "no id")
            return
        if problem := _shape_problem(data):
            self.reject(file, lineno, rid, problem)
            return
        try:
            proxy = self.model.get_proxy(data, cleaned=False)
        except Exception as exc:  # the library's InvalidData and its type errors
            self.reject(file, lineno, rid, f"not an FtM entity: {exc}")
            return
        schema = proxy.schema.name
        raw_ds = data.get("datasets")
        datasets = [d for d in raw_ds if isinstance(d, str)] if isinstance(raw_ds, list) else []
        self.file_datasets[src].update(datasets)
        rec = _Pending(proxy, file, lineno, datasets, {src})
        rec.unread = self.unread(proxy, data.get("properties"))
        for u in rec.unread:
            self.out.notes.append(f"{file} line {lineno} (id={rid}): {schema}.{u}")
        if schema in _ENTITY_SCHEMATA:
            old = self.entities.get(rid)
            if old is None:
                self.entities[rid] = rec
            else:  # the same entity again (another file or dataset): one entity, all its facts
                try:
                    old.proxy.merge(proxy)
                except Exception as exc:
                    self.reject(file, lineno, rid, f"cannot merge with line {old.line}: {exc}")
                    return
                old.source_ids.add(src)
                old.datasets.extend(d for d in datasets if d not in old.datasets)
        elif schema in _LINK_SCHEMATA:
            self.records.append(rec)
        else:
            self.skipped[schema] += 1

    @staticmethod
    def unread(proxy: EntityProxy, props: Any) -> list[str]:
        """Property values the library drops when it cleans them (an unreadable date, an LEI
        that fails its check, a property the schema does not have), so that they are named."""
        out: list[str] = []
        if not isinstance(props, dict):
            return out
        for name, values in props.items():
            prop = proxy.schema.get(name)
            kept = set(proxy.get(name)) if prop is not None else set()
            for v in values if isinstance(values, list) else [values]:
                if prop is None:
                    out.append(f"{name} {v!r} (no such property)")
                elif isinstance(v, str) and v not in kept:
                    clean = prop.type.clean(v, format=prop.format)
                    if clean is None or clean not in kept:
                        out.append(f"{name} {v!r} unreadable, dropped by followthemoney")
        return out

    # ---- after all input is read ------------------------------------------------------------

    def finish(self) -> Imported:
        # entities that cannot be records go first, so that no link or list points at them
        for rid, rec in list(self.entities.items()):
            if not any(n.strip() for n in rec.proxy.get("name")):
                self.reject(rec.file, rec.line, rid, f"{rec.proxy.schema.name} has no name")
                self.dropped[rid] = f"{rec.file} line {rec.line}"
                del self.entities[rid]
        ids = {rid: slug(_PREFIX, rid) for rid in self.entities}
        lists: dict[str, list[ListMembership]] = {rid: [] for rid in self.entities}
        for rec in self.records:
            name = rec.proxy.schema.name
            if name == "Sanction":
                self.sanction(rec, lists)
            else:
                self.link(rec, ids)
        for rid, rec in self.entities.items():
            self.entity(rid, ids[rid], rec, lists[rid])
        if self.skipped:
            kinds = ", ".join(f"{k} ({n})" for k, n in sorted(self.skipped.items()))
            self.out.notes.append(f"FtM records of schemata not imported: {kinds}")
        if self.countries_skipped:
            codes = ", ".join(f"{k} ({n})" for k, n in sorted(self.countries_skipped.items()))
            self.out.notes.append(f"FtM country codes that are not ISO 3166-1 alpha-2: {codes}")
        self.out.rejected.sort(key=lambda r: (r.file, int(r.where.split()[-1])))
        return self.out

    def sources(self, rec: _Pending) -> list[str]:
        return sorted(rec.source_ids)

    def country(self, values: list[str]) -> tuple[str | None, list[str]]:
        iso = []
        for v in values:
            code = v.strip().upper()
            if code in ISO_3166_ALPHA2:
                if code not in iso:
                    iso.append(code)
            else:
                self.countries_skipped[v] += 1
        return (iso[0] if iso else None), iso[1:]

    def entity(self, rid: str, eid: str, rec: _Pending, lists: list[ListMembership]) -> None:
        p = rec.proxy
        schema = p.schema.name
        names = [n for n in p.get("name") if n.strip()]
        if not names:
            self.reject(rec.file, rec.line, rid, f"{schema} has no name")
            return
        name = names[0]
        aliases: list[str] = []
        for a in [*names[1:], *p.get("alias"), *p.get("previousName"), *p.get("weakAlias")]:
            if a.strip() and a != name and a not in aliases:
                aliases.append(a)
        if schema == "Person":
            kind = EntityKind.PERSON
            cvals = [*p.get("nationality"), *p.get("citizenship"), *p.get("country")]
        else:
            kind = EntityKind.STATE_BODY if schema == "PublicBody" else EntityKind.COMPANY
            cvals = [*p.get("jurisdiction"), *p.get("country")]
        country, other = self.country(cvals)
        srcs = self.sources(rec)
        idents = [Identifier(scheme="OpenSanctions", id=rid, sources=srcs)]
        for prop in p.schema.properties.values():
            if prop.type.name != "identifier" or prop.name == "programId":
                continue
            for v in p.get(prop.name):
                scheme = _SCHEMES.get(prop.name, f"FtM:{prop.name}")
                if v.strip() and not any(i.scheme == scheme and i.id == v for i in idents):
                    idents.append(Identifier(scheme=scheme, id=v.strip(), sources=srcs))
        topics = sorted(set(p.get("topics")))
        memberships = list(lists)
        for t in topics:
            memberships.append(
                ListMembership(
                    list_id="ftm-topic-" + _list_slug(t),
                    sources=srcs,
                    note=f"FtM topic {t}",
                )
            )
        notes = [f"FtM {schema} {rid}"]
        if rec.datasets:
            notes.append(f"datasets: {', '.join(rec.datasets)}")
        if other:
            notes.append(f"other countries: {', '.join(other)}")
        try:
            ent = Entity(
                id=eid,
                name=name,
                kind=kind,
                country=country,
                aliases=aliases,
                lists=memberships,
                sources=srcs,
                identifiers=idents,
                note="; ".join(notes),
            )
        except ValidationError as exc:
            self.reject(rec.file, rec.line, rid, _why(exc))
            return
        self.out.entities[eid] = ent

    def missing(self, ftm_id: str) -> str:
        if ftm_id in self.dropped:
            return f"{ftm_id} was rejected ({self.dropped[ftm_id]})"
        return f"{ftm_id} is not an imported entity of the input"

    def ends(self, rec: _Pending, rid: str, props: tuple[str, str]) -> tuple[str, str] | None:
        p = rec.proxy
        a, b = p.first(props[0]), p.first(props[1])
        for prop, v in ((props[0], a), (props[1], b)):
            if not v:
                self.reject(rec.file, rec.line, rid, f"{p.schema.name} has no {prop}")
                return None
            if v not in self.entities:
                self.reject(rec.file, rec.line, rid, f"{p.schema.name} {prop} {self.missing(v)}")
                return None
        assert a is not None and b is not None
        return a, b

    def dates(
        self, rec: _Pending, rid: str, start_props: tuple[str, ...]
    ) -> tuple[dt.date | None, dt.date | None, list[str]] | None:
        p = rec.proxy
        start_raw = next((p.first(s) for s in start_props if p.first(s)), None)
        try:
            start, n1 = _date(start_raw, end=False)
            end, n2 = _date(p.first("endDate"), end=True)
        except ValueError as exc:
            self.reject(rec.file, rec.line, rid, str(exc))
            return None
        return start, end, [n for n in (n1, n2) if n]

    def link(self, rec: _Pending, ids: dict[str, str]) -> None:
        p = rec.proxy
        rid = str(p.id)
        schema = p.schema.name
        props = ("owner", "asset") if schema == "Ownership" else ("director", "organization")
        ends = self.ends(rec, rid, props)
        got = self.dates(rec, rid, ("startDate", "date"))
        if ends is None or got is None:
            return
        start, end, notes = got
        notes.extend(u for u in rec.unread if u.startswith(("startDate", "endDate", "date")))
        kind: LinkKind
        share: float | ShareRange | None = None
        role: str | None = None
        if schema == "Ownership":
            otype = " ".join(p.get("ownershipType")).lower()
            kind = LinkKind.VOTING if "vot" in otype else LinkKind.EQUITY
            raw = [v for v in p.get("percentage") if v.strip()]
            try:
                shares = [parse_percentage(v) for v in raw]
            except ShareError as exc:
                self.reject(rec.file, rec.line, rid, str(exc))
                return
            share = _envelope(shares)
            if not shares:
                share = ShareRange(minimum=0.0, maximum=1.0, exclusive_minimum=True)
                notes.append("no percentage given: an open share (more than 0 %, up to 100 %)")
            elif len(set(map(repr, shares))) > 1:
                notes.append(f"several percentages given ({', '.join(raw)}): their range kept")
        else:
            kind = LinkKind.APPOINTMENT
            text = " ".join(p.get("role")).lower()
            if re.search(r"director|board|chair|supervis", text):
                role = "board"
            elif re.search(r"officer|secretar|executive|ceo|cfo|manag|president|head", text):
                role = "officer"
            if text:
                notes.append(f"role: {' / '.join(p.get('role'))}")
        lid = slug(_PREFIX, rid)
        try:
            link = Link(
                id=lid,
                kind=kind,
                source=ids[ends[0]],
                target=ids[ends[1]],
                share=share,
                valid_from=start,
                valid_to=end,
                role=role,
                sources=self.sources(rec),
                note="; ".join([f"FtM {schema} {rid}", *notes]),
            )
        except ValidationError as exc:
            self.reject(rec.file, rec.line, rid, _why(exc))
            return
        self.out.links[lid] = link

    def sanction(self, rec: _Pending, lists: dict[str, list[ListMembership]]) -> None:
        p = rec.proxy
        rid = str(p.id)
        target = p.first("entity")
        if not target:
            self.reject(rec.file, rec.line, rid, "Sanction has no entity")
            return
        if target not in self.entities:
            self.reject(rec.file, rec.line, rid, f"Sanction entity {self.missing(target)}")
            return
        got = self.dates(rec, rid, ("startDate", "listingDate", "date"))
        if got is None:
            return
        since, until, notes = got
        authority, program = p.first("authority"), p.first("program")
        datasets = rec.datasets or self.entities[target].datasets
        list_id = list_id_for(authority, program, datasets)
        what = ", ".join(x for x in (authority, program) if x)
        try:
            m = ListMembership(
                list_id=list_id,
                since=since,
                until=until,
                sources=self.sources(rec),
                note="; ".join([f"FtM Sanction {rid}" + (f": {what}" if what else ""), *notes]),
            )
        except ValidationError as exc:
            self.reject(rec.file, rec.line, rid, _why(exc))
            return
        lists[target].append(m)


def _shape_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with the shape of an FtM record the library would take on trust."""
    if not isinstance(data.get("schema"), str):
        return "schema is not a string"
    props = data.get("properties", {})
    if not isinstance(props, dict):
        return "properties is not an object"
    for k, vs in props.items():
        if isinstance(vs, str):
            continue
        if not isinstance(vs, list) or not all(isinstance(v, str) for v in vs):
            return f"properties.{k} is not a list of strings"
    return None


def _envelope(shares: list[float | ShareRange]) -> float | ShareRange | None:
    """One share for several reported values: the value when they agree, else the range that
    holds them all (a conflict is kept as a range, never overwritten)."""
    if not shares:
        return None
    if len({repr(s) for s in shares}) == 1:
        return shares[0]
    lo = min(s.minimum if isinstance(s, ShareRange) else s for s in shares)
    hi = max(s.maximum if isinstance(s, ShareRange) else s for s in shares)
    return ShareRange(minimum=lo, maximum=hi)


def _why(exc: ValidationError) -> str:
    errs = exc.errors()
    return "; ".join(
        f"{'.'.join(str(x) for x in e['loc']) or 'record'}: {e['msg']}" for e in errs[:3]
    )


def read_ftm(paths: Iterable[str | os.PathLike[str]]) -> Imported:
    """Read FollowTheMoney JSON-lines files (OpenSanctions' ``entities.ftm.json`` shape) into
    one :class:`.core.Imported`; see the module docstring for the mapping."""
    reader = _Reader()
    for path in paths:
        reader.read_file(path)
    return reader.finish()
