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

Ownership records of one holding whose periods overlap (a register keeping one record per change
of a holding) are one link, the range of their figures (:func:`_overlaps`).

At scale (:func:`stream_ftm`): each line is read by the library in a worker process and drafted
there; the drafts are spooled to a temporary file, and only a few facts per entity id stay in
memory until links, sanctions and entities are written to the sink
(:class:`~georisk.interop.write.BulkSink`: bulk CSV). :func:`read_ftm` is the same reader into
memory.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import os
import pickle
import re
import sys
import tempfile
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError

from georisk.interop.core import (
    GEORISK_SCHEME,
    Imported,
    Rejected,
    ShareError,
    share_range,
    slug,
)
from georisk.interop.ftm_out import georisk_id_of
from georisk.interop.write import RecordSink
from georisk.scoring.countries import ISO_3166_ALPHA2
from georisk.scoring.model import (
    ID_PATTERN,
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

__all__ = ["list_id_for", "parse_percentage", "read_ftm", "stream_ftm"]

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


# --------------------------------------------------------------------------- one line at a time
# What a line gives is worked out from that line alone (in a worker process at scale): the
# library's proxy, the values it drops, and a draft of the record. Only what needs the other
# lines (do the ends of a link exist, a Sanction's list, an entity met on several lines) waits.


@dataclass
class _Line:
    """What one input line gives: a reject, or a record's draft and what the reader keeps."""

    lineno: int
    rid: str | None = None
    reject: str | None = None
    kind: str = "skip"  # entity, link, sanction or skip
    schema: str = ""
    datasets: tuple[str, ...] = ()
    unread: list[str] = field(default_factory=list)  # "prop 'value'" the library dropped
    has_name: bool = False
    #: the pickled draft (_EntityDraft, _LinkDraft, _SanctionDraft) as the spool holds it, made
    #: in the worker so that the reader only writes bytes
    blob: bytes = b""
    #: an equity or voting link's holding (owner, asset, kind) as a short hash, so that the
    #: reader can tell which holdings several Ownership records describe (see _overlaps)
    holding: int | None = None


@dataclass
class _EntityDraft:
    """An entity as its line(s) give it, list memberships of Sanctions aside."""

    entity: Entity | None
    reason: str | None  # why the model refused it
    countries_skipped: list[str]


@dataclass
class _LinkDraft:
    ends: tuple[str | None, str | None]
    props: tuple[str, str]
    date_error: str | None
    link: Link | None = None
    reason: str | None = None  # a percentage that cannot be read, a record the model refuses


@dataclass
class _SanctionDraft:
    target: str | None
    date_error: str | None
    since: dt.date | None = None
    until: dt.date | None = None
    notes: list[str] = field(default_factory=list)
    authority: str | None = None
    program: str | None = None
    program_id: str | None = None


def _unread(proxy: EntityProxy, props: Any) -> list[str]:
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


def _read_line(model: Any, file: str, src: str, lineno: int, raw_bytes: bytes) -> _Line | None:
    """One input line (None when blank)."""
    try:
        raw = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Line(lineno, reject=f"not UTF-8 text: {exc.reason}")
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return _Line(lineno, reject=f"not JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return _Line(lineno, reject="not JSON this reader can take: nested too deeply")
    try:
        return _read_object(model, file, src, lineno, data)
    except (ValidationError, RecursionError) as exc:  # e.g. a lone surrogate (\ud800) in a text
        rid = data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None
        why = _why(exc) if isinstance(exc, ValidationError) else "nested too deeply"
        return _Line(lineno, rid, reject=f"cannot be read: {why}")


def _read_object(model: Any, file: str, src: str, lineno: int, data: Any) -> _Line:
    """One parsed input line."""
    if not isinstance(data, dict):
        return _Line(lineno, reject="not a JSON object")
    rid = data.get("id") if isinstance(data.get("id"), str) else None
    if not rid:
        return _Line(lineno, reject="no id")
    if problem := _shape_problem(data):
        return _Line(lineno, rid, reject=problem)
    try:
        proxy = model.get_proxy(data, cleaned=False)
    except Exception as exc:  # the library's InvalidData and its type errors
        return _Line(lineno, rid, reject=f"not an FtM entity: {exc}")
    schema = proxy.schema.name
    raw_ds = data.get("datasets")
    datasets = [d for d in raw_ds if isinstance(d, str)] if isinstance(raw_ds, list) else []
    line = _Line(lineno, rid, schema=schema, datasets=tuple(datasets))
    line.unread = _unread(proxy, data.get("properties"))
    if schema in _ENTITY_SCHEMATA:
        line.kind = "entity"
        line.has_name = any(n.strip() for n in proxy.get("name"))
        caption = data.get("caption") if isinstance(data.get("caption"), str) else None
        draft = _entity_draft(proxy, rid, [src], datasets, caption) if line.has_name else None
        line.blob = pickle.dumps((rid, lineno, draft), protocol=pickle.HIGHEST_PROTOCOL)
        return line
    if schema in _LINK_SCHEMATA:
        line.kind = "sanction" if schema == "Sanction" else "link"
        link = (
            _sanction_draft(proxy, rid)
            if schema == "Sanction"
            else _link_draft(proxy, rid, [src], line.unread)
        )
        spooled = (file, src, lineno, rid, line.kind, line.datasets, link)
        line.blob = pickle.dumps(spooled, protocol=pickle.HIGHEST_PROTOCOL)
        if isinstance(link, _LinkDraft) and link.link is not None:
            line.holding = _holding_hash(link.link)
    return line


def _read_chunk(args: tuple[str, str, list[tuple[int, bytes]]]) -> list[_Line]:
    """The lines of one chunk of a file (a worker's task)."""
    file, src, lines = args
    model = _ftm_model()
    return [x for n, raw in lines if (x := _read_line(model, file, src, n, raw)) is not None]


def _country(values: list[str]) -> tuple[str | None, list[str], list[str]]:
    """(country, other countries, values that are not ISO 3166-1 alpha-2)."""
    iso: list[str] = []
    skipped: list[str] = []
    for v in values:
        code = v.strip().upper()
        if code in ISO_3166_ALPHA2:
            if code not in iso:
                iso.append(code)
        else:
            skipped.append(v)
    return (iso[0] if iso else None), iso[1:], skipped


def _entity_draft(
    p: EntityProxy, rid: str, srcs: list[str], datasets: list[str], caption: str | None = None
) -> _EntityDraft:
    """The entity of one proxy, list memberships of Sanctions aside. Its name is the line's
    ``caption`` (OpenSanctions' chosen display name) when that is one of its names, else the
    first name; the other names are aliases."""
    schema = p.schema.name
    names = [n for n in p.get("name") if n.strip()]
    name = caption if caption is not None and caption in names else names[0]
    aliases: list[str] = []
    for a in [*names, *p.get("alias"), *p.get("previousName"), *p.get("weakAlias")]:
        if a.strip() and a != name and a not in aliases:
            aliases.append(a)
    if schema == "Person":
        kind = EntityKind.PERSON
        cvals = [*p.get("nationality"), *p.get("citizenship"), *p.get("country")]
    else:
        kind = EntityKind.STATE_BODY if schema == "PublicBody" else EntityKind.COMPANY
        cvals = [*p.get("jurisdiction"), *p.get("country")]
    country, other, skipped = _country(cvals)
    idents = [Identifier(scheme="OpenSanctions", id=rid, sources=srcs)]
    if (own := georisk_id_of(rid)) is not None:  # written by georisk export ftm: that entity
        idents.append(Identifier(scheme=GEORISK_SCHEME, id=own, sources=srcs))
    for prop in p.schema.properties.values():
        if prop.type.name != "identifier" or prop.name == "programId":
            continue
        for v in p.get(prop.name):
            scheme = _SCHEMES.get(prop.name, f"FtM:{prop.name}")
            if v.strip() and not any(i.scheme == scheme and i.id == v for i in idents):
                idents.append(Identifier(scheme=scheme, id=v.strip(), sources=srcs))
    memberships = [
        ListMembership(list_id="ftm-topic-" + _list_slug(t), sources=srcs, note=f"FtM topic {t}")
        for t in sorted(set(p.get("topics")))
    ]
    notes = [f"FtM {schema} {rid}"]
    if datasets:
        notes.append(f"datasets: {', '.join(datasets)}")
    if other:
        notes.append(f"other countries: {', '.join(other)}")
    try:
        ent = Entity(
            id=slug(_PREFIX, rid),
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
        return _EntityDraft(None, _why(exc), skipped)
    return _EntityDraft(ent, None, skipped)


def _dates(
    p: EntityProxy, start_props: tuple[str, ...]
) -> tuple[dt.date | None, dt.date | None, list[str]]:
    """(start, end, notes); ValueError for a date that cannot be read."""
    start_raw = next((p.first(s) for s in start_props if p.first(s)), None)
    start, n1 = _date(start_raw, end=False)
    end, n2 = _date(p.first("endDate"), end=True)
    return start, end, [n for n in (n1, n2) if n]


def _link_draft(p: EntityProxy, rid: str, srcs: list[str], unread: list[str]) -> _LinkDraft:
    schema = p.schema.name
    props = ("owner", "asset") if schema == "Ownership" else ("director", "organization")
    a, b = p.first(props[0]), p.first(props[1])
    try:
        start, end, notes = _dates(p, ("startDate", "date"))
    except ValueError as exc:
        return _LinkDraft((a, b), props, str(exc))
    out = _LinkDraft((a, b), props, None)
    if not a or not b:
        return out  # rejected for the missing end, once the entities are known
    notes.extend(u for u in unread if u.startswith(("startDate", "endDate", "date")))
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
            out.reason = str(exc)
            return out
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
    try:
        out.link = Link(
            id=slug(_PREFIX, rid),
            kind=kind,
            source=slug(_PREFIX, a),
            target=slug(_PREFIX, b),
            share=share,
            valid_from=start,
            valid_to=end,
            role=role,
            sources=srcs,
            note="; ".join([f"FtM {schema} {rid}", *notes]),
        )
    except ValidationError as exc:
        out.reason = _why(exc)
    return out


def _sanction_draft(p: EntityProxy, rid: str) -> _SanctionDraft:
    target = p.first("entity")
    try:
        since, until, notes = _dates(p, ("startDate", "listingDate", "date"))
    except ValueError as exc:
        return _SanctionDraft(target, str(exc))
    return _SanctionDraft(
        target,
        None,
        since,
        until,
        notes,
        p.first("authority"),
        p.first("program"),
        p.first("programId"),
    )


# --------------------------------------------------------------------------- the whole input


@dataclass(slots=True)
class _Seen:
    """An FtM entity id met in the input: its schema so far, where, and with what."""

    schema: str
    file: str
    line: int
    has_name: bool
    sources: list[str]
    datasets: list[str]
    refs: list[tuple[int, int, int]]  # (file number, offset, length) of each of its lines


class _Reader:
    def __init__(self, sink: RecordSink, workers: int) -> None:
        self.model = _ftm_model()
        self.sink = sink
        self.workers = workers
        self.entities: dict[str, _Seen] = {}
        self.rejected: list[Rejected] = []
        self.file_datasets: dict[str, set[str]] = {}
        self.file_source: dict[str, str] = {}
        self.paths: list[str] = []
        self.skipped: Counter[str] = Counter()
        self.countries_skipped: Counter[str] = Counter()
        self.dropped: dict[str, str] = {}  # FtM id of a rejected entity -> where it was
        # drafts of links and sanctions (line order), and of entities, pickled to disk
        self.link_spool: IO[bytes] = tempfile.TemporaryFile(prefix="georisk-ftm-")  # noqa: SIM115
        self.entity_spool: IO[bytes] = tempfile.TemporaryFile(prefix="georisk-ftm-")  # noqa: SIM115
        self.sources_of: list[str] = []
        self.holdings: Counter[int] = Counter()  # holding hash → Ownership records of it
        self.several: dict[tuple[str, str, str], list[Link]] = {}  # held back: see _overlaps

    def reject(self, file: str, line: int, rid: str | None, reason: str) -> None:
        self.rejected.append(Rejected(file, f"line {line}", rid, reason))

    def read(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        pool = None
        try:
            if self.workers > 1:
                import multiprocessing

                pool = multiprocessing.get_context("fork").Pool(self.workers)
            for path in paths:
                self.read_file(path, pool)
        finally:
            if pool is not None:
                pool.close()
                pool.join()

    def read_file(self, path: str | os.PathLike[str], pool: Any) -> None:
        name = os.path.basename(os.fspath(path))
        src = slug("ftm-file", name)
        n = 2
        while src in self.file_source.values():
            src = slug("ftm-file", f"{name}-{n}")
            n += 1
        self.file_source[name] = src
        self.file_datasets[src] = set()
        fno = len(self.paths)
        self.paths.append(os.fspath(path))
        self.sources_of.append(src)
        pending: deque[Any] = deque()
        for chunk in _chunks(path):
            offsets = {n: (off, ln) for n, off, ln, _ in chunk}
            task = (name, src, [(n, raw) for n, _, _, raw in chunk])
            if pool is None:
                self.take(name, src, fno, _read_chunk(task), offsets)
                continue
            pending.append((pool.apply_async(_read_chunk, (task,)), offsets))
            if len(pending) >= 2 * self.workers:
                res, offs = pending.popleft()
                self.take(name, src, fno, res.get(), offs)
        while pending:
            res, offs = pending.popleft()
            self.take(name, src, fno, res.get(), offs)
        datasets = sorted(self.file_datasets[src])
        ds = f"; datasets: {', '.join(datasets)}" if datasets else ""
        self.sink.source(
            Source(id=src, title=f"FollowTheMoney entities in {name}", note=f"file {name}{ds}")
        )

    def take(
        self,
        file: str,
        src: str,
        fno: int,
        lines: list[_Line],
        offsets: dict[int, tuple[int, int]],
    ) -> None:
        """Keep what the lines of one chunk gave (in line order)."""
        for x in lines:
            if x.reject is not None:
                self.reject(file, x.lineno, x.rid, x.reject)
                continue
            assert x.rid is not None
            self.file_datasets[src].update(x.datasets)
            for u in x.unread:
                self.sink.note(f"{file} line {x.lineno} (id={x.rid}): {x.schema}.{u}")
            if x.kind == "entity":
                self.entity_line(file, src, fno, x, offsets[x.lineno])
            elif x.kind in ("link", "sanction"):
                self.link_spool.write(x.blob)
                if x.holding is not None:
                    self.holdings[x.holding] += 1
            else:
                self.skipped[x.schema] += 1

    def entity_line(self, file: str, src: str, fno: int, x: _Line, where: tuple[int, int]) -> None:
        assert x.rid is not None
        old = self.entities.get(x.rid)
        ref = (fno, where[0], where[1])
        if old is None:
            self.entities[x.rid] = _Seen(
                sys.intern(x.schema), file, x.lineno, x.has_name, [src], list(x.datasets), [ref]
            )
            self.entity_spool.write(x.blob)
            return
        # the same entity again (another file or dataset): one entity, all its facts
        try:
            common = self.model.common_schema(old.schema, x.schema)
        except Exception as exc:
            self.reject(file, x.lineno, x.rid, f"cannot merge with line {old.line}: {exc}")
            return
        old.schema = common.name
        old.has_name = old.has_name or x.has_name
        old.refs.append(ref)
        if src not in old.sources:
            old.sources.append(src)
        old.datasets.extend(d for d in x.datasets if d not in old.datasets)

    # ---- after all input is read ------------------------------------------------------------

    def finish(self) -> None:
        # entities that cannot be records go first, so that no link or list points at them
        for rid, first in list(self.entities.items()):
            if not first.has_name:
                self.reject(first.file, first.line, rid, f"{first.schema} has no name")
                self.dropped[rid] = f"{first.file} line {first.line}"
                del self.entities[rid]
        lists: dict[str, list[ListMembership]] = {}
        for file, src, lineno, rid, kind, datasets, draft in _spooled(self.link_spool):
            if kind == "sanction":
                self.sanction(file, src, lineno, rid, datasets, draft, lists)
            else:
                self.link(file, lineno, rid, draft)
        for group in self.several.values():
            for link in _overlaps(group):
                self.sink.link(link)
        for rid, lineno, draft in _spooled(self.entity_spool):
            seen = self.entities.get(rid)
            if seen is None or seen.line != lineno:
                continue  # rejected, or a line after its first (merged below)
            if len(seen.refs) > 1:
                draft = self.merged(rid, seen)
            self.entity(rid, seen, draft, lists.get(rid, []))
        if self.skipped:
            kinds = ", ".join(f"{k} ({n})" for k, n in sorted(self.skipped.items()))
            self.sink.note(f"FtM records of schemata not imported: {kinds}")
        if self.countries_skipped:
            codes = ", ".join(f"{k} ({n})" for k, n in sorted(self.countries_skipped.items()))
            self.sink.note(f"FtM country codes that are not ISO 3166-1 alpha-2: {codes}")
        self.rejected.sort(key=lambda r: (r.file, int(r.where.split()[-1])))
        for r in self.rejected:
            self.sink.reject(r)

    def merged(self, rid: str, seen: _Seen) -> _EntityDraft:
        """The draft of an entity met on several lines: their proxies merged by the library."""
        proxy = None
        caption = None
        for fno, off, ln in seen.refs:
            with open(self.paths[fno], "rb") as fh:
                fh.seek(off)
                data = json.loads(fh.read(ln).decode("utf-8"))
            p = self.model.get_proxy(data, cleaned=False)
            if proxy is None:
                proxy = p
                caption = data.get("caption") if isinstance(data.get("caption"), str) else None
            else:
                try:
                    proxy.merge(p)
                except Exception:
                    continue
        assert proxy is not None
        return _entity_draft(proxy, rid, sorted(seen.sources), seen.datasets, caption)

    def entity(
        self, rid: str, seen: _Seen, draft: _EntityDraft, lists: list[ListMembership]
    ) -> None:
        self.countries_skipped.update(draft.countries_skipped)
        if draft.entity is None:
            self.reject(seen.file, seen.line, rid, draft.reason or "refused")
            return
        ent = draft.entity
        if lists:
            ent = ent.model_copy(update={"lists": [*lists, *ent.lists]})
        self.sink.entity(ent)

    def missing(self, ftm_id: str) -> str:
        if ftm_id in self.dropped:
            return f"{ftm_id} was rejected ({self.dropped[ftm_id]})"
        return f"{ftm_id} is not an imported entity of the input"

    def ends_ok(self, file: str, lineno: int, rid: str, schema: str, d: _LinkDraft) -> bool:
        for prop, v in zip(d.props, d.ends, strict=True):
            if not v:
                self.reject(file, lineno, rid, f"{schema} has no {prop}")
                return False
            if v not in self.entities:
                self.reject(file, lineno, rid, f"{schema} {prop} {self.missing(v)}")
                return False
        return True

    def link(self, file: str, lineno: int, rid: str, d: _LinkDraft) -> None:
        schema = "Ownership" if d.props[0] == "owner" else "Directorship"
        ok = self.ends_ok(file, lineno, rid, schema, d)
        if d.date_error is not None:
            self.reject(file, lineno, rid, d.date_error)
            return
        if not ok:
            return
        if d.reason is not None or d.link is None:
            self.reject(file, lineno, rid, d.reason or "refused")
            return
        link = d.link
        if link.kind in _OWNERSHIP and self.holdings[_holding_hash(link)] > 1:
            key = (link.source, link.target, link.kind.value)
            self.several.setdefault(key, []).append(link)
            return
        self.sink.link(link)

    def sanction(
        self,
        file: str,
        src: str,
        lineno: int,
        rid: str,
        datasets: tuple[str, ...],
        d: _SanctionDraft,
        lists: dict[str, list[ListMembership]],
    ) -> None:
        target = d.target
        if not target:
            self.reject(file, lineno, rid, "Sanction has no entity")
            return
        if target not in self.entities:
            self.reject(file, lineno, rid, f"Sanction entity {self.missing(target)}")
            return
        if d.date_error is not None:
            self.reject(file, lineno, rid, d.date_error)
            return
        own = (d.program_id or "").removeprefix(_OWN_PROGRAM)
        list_id = (  # a georisk export names its list (ftm_out: programId georisk:<list id>)
            own
            if d.program_id and d.program_id.startswith(_OWN_PROGRAM) and _LIST_ID.match(own)
            else list_id_for(d.authority, d.program, datasets or self.entities[target].datasets)
        )
        what = ", ".join(x for x in (d.authority, d.program) if x)
        try:
            m = ListMembership(
                list_id=list_id,
                since=d.since,
                until=d.until,
                sources=[src],
                note="; ".join([f"FtM Sanction {rid}" + (f": {what}" if what else ""), *d.notes]),
            )
        except ValidationError as exc:
            self.reject(file, lineno, rid, _why(exc))
            return
        lists.setdefault(target, []).append(m)

    def close(self) -> None:
        self.link_spool.close()
        self.entity_spool.close()


_OWNERSHIP = (LinkKind.EQUITY, LinkKind.VOTING)
_OWN_PROGRAM = "georisk:"
_LIST_ID = re.compile(ID_PATTERN)


def _holding_hash(link: Link) -> int:
    key = f"{link.source}\0{link.target}\0{link.kind.value}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


_OPEN = ShareRange(minimum=0.0, maximum=1.0, exclusive_minimum=True)  # no percentage given


def _bounds(link: Link) -> tuple[float, bool, float, bool]:
    """(low, low exclusive, high, high exclusive) of a link's share."""
    s = link.share
    if isinstance(s, ShareRange):
        return s.minimum, s.exclusive_minimum, s.maximum, s.exclusive_maximum
    assert s is not None  # equity and voting links have a share
    return float(s), False, float(s), False


def _overlaps(links: list[Link]) -> list[Link]:
    """Ownership records of one holding (owner, asset, kind) whose periods overlap are one
    holding, not several: a register such as the Russian EGRUL keeps one record per change of a
    holding (50 %, then 48 %, then 51 %, each from the same date), which as separate links would
    count the holding two or three times. Each run of overlapping periods becomes one link: the
    first record's id; the share the range of the figures given (exact when they agree; a record
    without a percentage adds no figure when another gives one) and the period of those records;
    marked unconfirmed when the figures disagree; a note naming each record and its figure.
    Records whose periods do not overlap stay links of their own.

    >>> from georisk.scoring.model import Link
    >>> a = Link(id="a", kind="equity", source="x", target="y", share=0.5, sources=["s"])
    >>> b = a.model_copy(update={"id": "b", "share": 0.48})
    >>> (one,) = _overlaps([a, b])
    >>> (one.id, one.share.minimum, one.share.maximum, one.unconfirmed)
    ('a', 0.48, 0.5, True)
    """
    lo_day, hi_day = dt.date.min, dt.date.max
    ordered = sorted(links, key=lambda x: x.valid_from or lo_day)
    runs: list[list[Link]] = []
    end = lo_day
    for link in ordered:
        if runs and (link.valid_from or lo_day) <= end:
            runs[-1].append(link)
        else:
            runs.append([link])
            end = lo_day
        end = max(end, link.valid_to or hi_day)
    return [run[0] if len(run) == 1 else _one_holding(run) for run in runs]


def _one_holding(run: list[Link]) -> Link:
    basis = [x for x in run if x.share != _OPEN] or run
    bounds = [_bounds(x) for x in basis]
    lo, lo_x = min((b[0], b[1]) for b in bounds)
    hi, hi_neg_x = max((b[2], not b[3]) for b in bounds)
    share: float | ShareRange = (
        lo
        if (lo, lo_x, hi, not hi_neg_x) == (hi, False, lo, False)
        else ShareRange(
            minimum=lo, maximum=hi, exclusive_minimum=lo_x, exclusive_maximum=not hi_neg_x
        )
    )
    disagree = len({b for b in bounds}) > 1
    starts = [x.valid_from for x in basis]
    ends = [x.valid_to for x in basis]
    figures = ", ".join(
        f"{x.id} ({_pct_text(x)}, {x.valid_from or '…'}–{x.valid_to or '…'})" for x in run
    )
    what = f"{len(run)} FtM Ownership records of one holding with overlapping periods: {figures}"
    first = basis[0]
    update: dict[str, Any] = {
        "share": share,
        "valid_from": None if None in starts else min(d for d in starts if d),
        "valid_to": None if None in ends else max(d for d in ends if d),
        "sources": list(dict.fromkeys(s for x in run for s in x.sources)),
        "note": "; ".join([*(x.note for x in run if x.note), f"{what}; taken as one holding"]),
    }
    if disagree:
        update["unconfirmed"] = True
        update["unconfirmed_note"] = f"{what}: their figures disagree, the range of them is kept"
    return first.model_copy(update=update)


def _pct_text(link: Link) -> str:
    if link.share == _OPEN:
        return "no percentage"
    lo, _, hi, _ = _bounds(link)
    return f"{lo * 100:.4g} %" if lo == hi else f"{lo * 100:.4g}–{hi * 100:.4g} %"


_CHUNK_LINES = 2000


def _chunks(path: str | os.PathLike[str]) -> Iterator[list[tuple[int, int, int, bytes]]]:
    """(line number, offset, length, bytes) of the lines of a file, in chunks."""
    chunk: list[tuple[int, int, int, bytes]] = []
    off = 0
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            chunk.append((n, off, len(raw), raw))
            off += len(raw)
            if len(chunk) >= _CHUNK_LINES:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _spooled(fh: IO[bytes]) -> Iterator[Any]:
    fh.flush()
    fh.seek(0)
    while True:
        try:
            yield pickle.load(fh)
        except EOFError:
            return


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


def stream_ftm(
    paths: Iterable[str | os.PathLike[str]], sink: RecordSink, *, workers: int | None = None
) -> None:
    """Read FollowTheMoney JSON-lines files into ``sink``, streaming: each line is read by the
    library in a worker process (``workers``, default: one per CPU; 1: in this process), its
    record drafted and spooled to a temporary file; only a few facts per entity id stay in
    memory. Then links and sanctions are checked against the entities read, and the entities
    (with their list memberships) are written."""
    if workers is None:
        workers = os.cpu_count() or 1
    reader = _Reader(sink, workers)
    try:
        reader.read(paths)
        reader.finish()
    finally:
        reader.close()


def read_ftm(paths: Iterable[str | os.PathLike[str]], *, workers: int = 1) -> Imported:
    """Read FollowTheMoney JSON-lines files (OpenSanctions' ``entities.ftm.json`` shape) into
    one :class:`.core.Imported`, in memory; see the module docstring for the mapping."""
    sink = RecordSink(FORMAT)
    stream_ftm(paths, sink, workers=workers)
    return sink.imported
