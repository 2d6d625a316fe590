"""Load and validate a georisk dataset directory (YAML curated files, CSV/JSONL bulk files).

A dataset is a directory. Every top-level ``*.yaml``/``*.yml`` file (keys ``sources``,
``entities``, ``links``, ``arrangements``), ``NAME.<kind>.csv`` file (kind = sources, entities,
links) and ``*.jsonl`` file (one object per line with ``"record"``) is read and merged.
Sub-directories (e.g. ``policies/``) and other files are not records.

Loading is all-or-nothing: every problem is collected and reported together as a
:class:`DatasetError` whose issues name the file, the record and the field; nothing is returned
half-loaded.

>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "x.yaml").write_text('''
... sources: [{id: s1, title: Example, url: "https://example.org"}]
... entities:
...   - {id: a, name: A, kind: company, country: CN, sources: [s1]}
...   - {id: b, name: B, kind: company, country: US, sources: [s1]}
... links:
...   - {id: a-b, kind: equity, source: a, target: b, share: 0.6, sources: [s1]}
... ''')
>>> ds = load_dataset(d)
>>> sorted(ds.entities), ds.links["a-b"].share
(['a', 'b'], 0.6)
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import hashlib
import io
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model

from georisk.scoring.dataset.bulkcsv import FastLinks, read_entities, read_links, split_list
from georisk.scoring.dataset.linkstore import (
    KIND_CODES,
    LINK_KINDS,
    NO_DATE,
    LinkColumns,
    LinkStore,
    build,
)
from georisk.scoring.dataset.yamlio import YamlError, load_yaml
from georisk.scoring.interval import EPS
from georisk.scoring.model import (
    OWNERSHIP_KINDS,
    Arrangement,
    Entity,
    Link,
    ListMembership,
    Source,
)

__all__ = [
    "RECORD_KINDS",
    "Dataset",
    "DatasetError",
    "DatasetIssue",
    "assemble",
    "load_dataset",
    "merge_records",
    "reference_issues",
    "share_total_issues",
]

#: record kind → (plural key in YAML, model class)
RECORD_KINDS: dict[str, tuple[str, type[BaseModel]]] = {
    "source": ("sources", Source),
    "entity": ("entities", Entity),
    "link": ("links", Link),
    "arrangement": ("arrangements", Arrangement),
}
_PLURAL = {plural: kind for kind, (plural, _) in RECORD_KINDS.items()}
_LIST_FIELDS = {"sources", "aliases", "products"}


@dataclass(frozen=True)
class DatasetIssue:
    """One problem in a dataset, located as precisely as the input allows."""

    file: str
    record: str  # e.g. "links[3] (id=ford-owns-plant)", "row 12", "line 7"
    field: str  # dotted field path, or "" for the whole record/file
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.record}" if self.record else self.file
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message}"


class DatasetError(Exception):
    """The dataset was refused; ``issues`` lists every problem found."""

    def __init__(self, issues: list[DatasetIssue]) -> None:
        self.issues = issues
        head = f"dataset refused: {len(issues)} problem{'s' if len(issues) != 1 else ''}"
        super().__init__(head + "".join(f"\n  {i}" for i in issues[:50]))


class _Located(NamedTuple):  # a tuple: built a million times for a bulk dataset
    record: BaseModel
    file: str
    where: str


class Origins(Mapping[tuple[str, str], str]):
    """(kind, id) → ``"file: record"``, formatted on lookup from the records' locations."""

    def __init__(self, by_kind: dict[str, dict[str, _Located]] | None = None) -> None:
        self._by_kind = by_kind or {}

    def __getitem__(self, key: tuple[str, str]) -> str:
        loc = self._by_kind.get(key[0], {}).get(key[1])
        if loc is None:
            raise KeyError(key)
        return f"{loc.file}: {loc.where}"

    def locate(self, kind: str, rid: str) -> tuple[str, str] | None:
        """(file, record) where a record was read, None when not known here."""
        loc = self._by_kind.get(kind, {}).get(rid)
        return None if loc is None else (loc.file, loc.where)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((k, rid) for k, table in self._by_kind.items() for rid in table)

    def __len__(self) -> int:
        return sum(len(t) for t in self._by_kind.values())


@dataclass(frozen=True)
class Dataset:
    """A validated dataset: records by id, their origin, and a content hash as its version."""

    sources: dict[str, Source]
    entities: dict[str, Entity]
    #: link id → Link: a :class:`LinkStore` (bulk CSV links held as columns; a dict is wrapped)
    links: Mapping[str, Link]
    arrangements: dict[str, Arrangement]
    version: str
    #: (kind, id) → "file: record" for records read as objects (bulk links: ``origin_of``)
    origin: Mapping[tuple[str, str], str] = field(default_factory=dict)
    path: str | None = None
    #: for a what-if variant (:func:`.overlay.apply_overlay`): the loaded dataset it varies,
    #: whose unchanged parts it shares; None for a loaded dataset
    base: Dataset | None = None
    #: the digests of the overlays applied to :attr:`base`, joined by "+" ("" for a loaded one)
    overlay_digest: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.links, LinkStore):  # a plain dict of links (tests, tools)
            index = {e: i for i, e in enumerate(self.entities)}
            object.__setattr__(self, "links", LinkStore.of_objects(dict(self.links), index))

    @property
    def store(self) -> LinkStore:
        """The links as a :class:`LinkStore` (columns and positions for whole-graph work)."""
        assert isinstance(self.links, LinkStore)
        return self.links

    def origin_of(self, kind: str, rid: str) -> str | None:
        """Where a record was read: ``"file: record"`` (None for an unknown record)."""
        got = self.origin.get((kind, rid))
        if got is None and kind == "link":
            got = self.store.origin_of(rid)
        return got

    def locate(self, kind: str, rid: str) -> tuple[str, str]:
        """(file, record) where a record was read, for issues about it: e.g.
        ``("x.yaml", "links[3] line 9 (id=a-b)")``; ``("dataset", rid)`` when not known."""
        find = getattr(self.origin, "locate", None)
        got = find(kind, rid) if find is not None else None
        if got is None and kind == "link":
            got = self.store.locate(rid)
        if got is None:
            text = self.origin.get((kind, rid))
            got = (text or "dataset", rid)
        return got

    def table(self, kind: str) -> Mapping[str, BaseModel]:
        """The records of ``kind`` (a key of :data:`RECORD_KINDS`) by id."""
        return {  # type: ignore[return-value]
            "source": self.sources,
            "entity": self.entities,
            "link": self.links,
            "arrangement": self.arrangements,
        }[kind]

    def position(self, kind: str, rid: str) -> int:
        """Position of a record in its table's order (the order of checks and issues)."""
        if kind == "entity":
            return self.store.entity_index[rid]
        if kind == "link":
            p = self.store.position(rid)
            if p is None:
                raise KeyError(rid)
            return p
        key = f"_positions_{kind}"
        got = self.__dict__.get(key)
        if got is None:
            got = self.__dict__[key] = {k: i for i, k in enumerate(self.table(kind))}
        return int(got[rid])

    @cached_property
    def listed(self) -> dict[str, list[tuple[str, ListMembership]]]:
        """list id → [(entity id, membership)], built once (list checks scan no entities)."""
        out: dict[str, list[tuple[str, ListMembership]]] = defaultdict(list)
        for eid, e in self.entities.items():
            for m in e.lists:
                out[m.list_id].append((eid, m))
        return dict(out)

    def listed_on(self, list_id: str, on: dt.date) -> set[str]:
        """Entities on ``list_id`` on ``on``."""
        return {eid for eid, m in self.listed.get(list_id, ()) if m.active(on)}

    @cached_property
    def link_boundaries(self) -> list[dt.date]:
        """Sorted dates on which the set of valid links changes (valid_from, valid_to + 1 day)."""
        a = self.store.arrays()
        last = dt.date.max.toordinal()
        vf = a.valid_from[a.valid_from != NO_DATE]
        vt = a.valid_to[(a.valid_to != NO_DATE) & (a.valid_to < last)].astype(np.int64) + 1
        days = np.unique(np.concatenate([vf.astype(np.int64), vt]))
        return [dt.date.fromordinal(int(d)) for d in days]

    def source_urls(self, ids: Iterable[str]) -> list[str]:
        out = []
        for i in ids:
            s = self.sources.get(i)
            out.append(s.url or (f"seed:{s.seed}" if s.seed else s.title) if s else i)
        return out


# --------------------------------------------------------------------------- file readers


def _yaml_records(
    path: Path, text: str, issues: list[DatasetIssue]
) -> Iterator[tuple[str, str, Any]]:
    try:
        data = load_yaml(text)  # depth-guarded, duplicate keys refused
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except YamlError as exc:
        issues.append(DatasetIssue(path.name, "", "", str(exc)))
        return
    except yaml.YAMLError as exc:  # pragma: no cover - load_yaml parsed it already
        issues.append(DatasetIssue(path.name, "", "", f"unparsable YAML: {exc}"))
        return
    if data is None:
        return
    if not isinstance(data, dict):
        issues.append(
            DatasetIssue(path.name, "", "", "top level must be a mapping of record lists")
        )
        return
    lines: dict[str, list[int]] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(value_node, yaml.SequenceNode):
                lines[str(key_node.value)] = [n.start_mark.line + 1 for n in value_node.value]
    for key, items in data.items():
        if key not in _PLURAL:
            issues.append(
                DatasetIssue(
                    path.name, "", str(key), f"unknown key; expected one of {sorted(_PLURAL)}"
                )
            )
            continue
        if items is None:
            continue
        if not isinstance(items, list):
            issues.append(DatasetIssue(path.name, "", str(key), "must be a list of records"))
            continue
        for i, item in enumerate(items):
            ln = lines.get(key, [])
            at = f" line {ln[i]}" if i < len(ln) else ""
            rid = item.get("id") if isinstance(item, dict) else None
            yield _PLURAL[key], f"{key}[{i}]{at}" + (f" (id={rid})" if rid else ""), item


def _csv_row_to_record(kind: str, row: dict[str, str | None]) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    share_range: dict[str, Any] = {}
    licence: dict[str, Any] = {}
    for key, raw in row.items():
        if key is None:
            raise ValueError("row has more cells than the header")
        value = (raw or "").strip()
        if value == "":
            continue
        if key in _LIST_FIELDS:
            rec[key] = split_list(value)
        elif key in ("share_min", "share_max"):
            share_range["minimum" if key == "share_min" else "maximum"] = value
        elif key in ("share_exclusive_min", "share_exclusive_max"):
            flag = value.lower() in ("1", "true", "yes")
            share_range["exclusive_minimum" if key.endswith("min") else "exclusive_maximum"] = flag
        elif key.startswith("licence_"):
            sub = key.removeprefix("licence_")
            licence[sub] = split_list(value) if sub == "licensor_controls" else value
        elif key == "lists" and kind == "entity":
            rec["lists"] = [_list_item(item) for item in split_list(value)]
        else:
            rec[key] = value
    if share_range:
        if "share" in rec:
            raise ValueError("give either share or share_min/share_max, not both")
        rec["share"] = share_range
    if licence:
        rec["licence"] = licence
    return rec


def _list_item(item: str) -> dict[str, Any]:
    parts = item.split("@")
    if len(parts) != 3:
        raise ValueError(f"list membership {item!r} is not LIST@SINCE@SOURCE[+SOURCE…]")
    list_id, since, srcs = parts
    out: dict[str, Any] = {"list": list_id, "sources": [s for s in srcs.split("+") if s]}
    if since:
        out["since"] = since
    return out


def _csv_records(
    path: Path, text: str, issues: list[DatasetIssue]
) -> Iterator[tuple[str, str, Any]]:
    stem_kind = path.name.rsplit(".", 2)
    plural = stem_kind[-2] if len(stem_kind) == 3 else ""
    if plural not in ("sources", "entities", "links"):
        issues.append(
            DatasetIssue(
                path.name,
                "",
                "",
                "CSV files must be named NAME.sources.csv, NAME.entities.csv or NAME.links.csv",
            )
        )
        return
    kind = _PLURAL[plural]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            where = f"row {reader.line_num}"
            try:
                rec = _csv_row_to_record(kind, row)
            except ValueError as exc:
                issues.append(DatasetIssue(path.name, where, "", str(exc)))
                continue
            yield kind, where + (f" (id={rec['id']})" if "id" in rec else ""), rec
    except csv.Error as exc:
        issues.append(
            DatasetIssue(path.name, f"row {reader.line_num}", "", f"unparsable CSV: {exc}")
        )


@cache
def _line_models() -> TypeAdapter[Any]:
    """One JSONL line → a record, validated from JSON text in one pydantic-core call: each kind's
    model plus its ``record`` tag, as a discriminated union."""
    lines = [
        create_model(f"_{kind}_line", __base__=model, record=(Literal[kind], ...))  # type: ignore[arg-type]
        for kind, (_, model) in RECORD_KINDS.items()
    ]
    union: Any = Annotated[Union[tuple(lines)], Field(discriminator="record")]  # noqa: UP007
    return TypeAdapter(union)


def _fast_line(line: str) -> tuple[str, BaseModel] | None:
    """The record of a JSONL line validated straight from JSON (4-6x faster than json.loads and
    a model validation), or None: then the reference path reads the line and reports problems.
    Only a line whose ``id`` appears verbatim is taken, so its location reads the same."""
    try:
        rec = _line_models().validate_json(line)
    except (ValidationError, ValueError):
        return None
    kind = str(rec.record)
    rid = rec.id
    if f'"id":"{rid}"' not in line and f'"id": "{rid}"' not in line:
        return None
    base = RECORD_KINDS[kind][1]
    fields = {f: rec.__dict__[f] for f in base.model_fields}
    return kind, build(base, fields, rec.model_fields_set - {"record"})


def _jsonl_records(
    path: Path, text: str, issues: list[DatasetIssue]
) -> Iterator[tuple[str, str, Any]]:
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fast = _fast_line(line)
        if fast is not None:  # a validated record: load_dataset takes it as it is
            yield fast[0], f"line {n} (id={getattr(fast[1], 'id')})", fast[1]  # noqa: B009
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(DatasetIssue(path.name, f"line {n}", "", f"unparsable JSON: {exc.msg}"))
            continue
        except (ValueError, RecursionError) as exc:  # huge ints, deep nesting
            issues.append(
                DatasetIssue(path.name, f"line {n}", "", f"unreadable JSON: {str(exc)[:200]}")
            )
            continue
        if not isinstance(obj, dict):
            issues.append(DatasetIssue(path.name, f"line {n}", "", "each line must be an object"))
            continue
        kind = obj.pop("record", None)
        if not isinstance(kind, str) or kind not in RECORD_KINDS:
            issues.append(
                DatasetIssue(
                    path.name,
                    f"line {n}",
                    "record",
                    f"unknown record kind {kind!r}; expected one of {sorted(RECORD_KINDS)}",
                )
            )
            continue
        yield str(kind), f"line {n}" + (f" (id={obj['id']})" if "id" in obj else ""), obj


_READERS = {
    ".yaml": _yaml_records,
    ".yml": _yaml_records,
    ".csv": _csv_records,
    ".jsonl": _jsonl_records,
}


def _dataset_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.iterdir()
        if p.is_file() and p.suffix in _READERS and not p.name.startswith(".")
    )


# --------------------------------------------------------------------------- validation


_UNION_TAGS = ("constrained-float", "function-after", "float", "int", "ShareRange", "str")


def _loc(err: Any) -> str:
    """Dotted field path of a pydantic error, without the union-branch tags pydantic adds."""
    parts = [
        str(p)
        for p in err["loc"]
        if not (isinstance(p, str) and (p.startswith(_UNION_TAGS) or "[" in p))
    ]
    return ".".join(parts)


def _validate_record(
    kind: str, raw: Any, file: str, where: str, issues: list[DatasetIssue]
) -> BaseModel | None:
    model = RECORD_KINDS[kind][1]
    if not isinstance(raw, dict):
        issues.append(DatasetIssue(file, where, "", "a record must be a mapping"))
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        seen: set[str] = set()
        for err in exc.errors(include_url=False):
            loc, msg = _loc(err), str(err["msg"]).removeprefix("Value error, ")
            if loc not in seen:  # one message per field: the first union branch's
                seen.add(loc)
                issues.append(DatasetIssue(file, where, loc, msg))
        return None


def merge_records(
    located: Iterable[tuple[str, BaseModel, str, str]], issues: list[DatasetIssue]
) -> tuple[dict[str, dict[str, _Located]], Origins]:
    """Index records by kind and id, reporting duplicate ids with both locations."""
    by_kind: dict[str, dict[str, _Located]] = {k: {} for k in RECORD_KINDS}
    for kind, rec, file, where in located:
        rid = str(getattr(rec, "id"))  # noqa: B009 - every record kind has an id
        table = by_kind[kind]
        if rid in table:
            first = table[rid]
            issues.append(
                DatasetIssue(
                    file,
                    where,
                    "id",
                    f"duplicate {kind} id {rid!r} (first defined in {first.file}: {first.where})",
                )
            )
            continue
        table[rid] = _Located(rec, file, where)
    return by_kind, Origins(by_kind)


def reference_issues(
    kind: str,
    rec: BaseModel,
    file: str,
    where: str,
    known: Callable[[str, str], bool],
) -> list[DatasetIssue]:
    """The references of one record (sources, entities, arrangements) that ``known(kind, id)``
    does not know, as issues located at ``file``/``where``, in field order."""
    out: list[DatasetIssue] = []

    def need(what: str, ref: str, fld: str) -> None:
        if not known(what, ref):
            out.append(DatasetIssue(file, where, fld, f"unknown {what} {ref!r}"))

    if isinstance(rec, Entity):
        for s in rec.sources:
            need("source", s, "sources")
        for i, m in enumerate(rec.lists):
            for s in m.sources:
                need("source", s, f"lists.{i}.sources")
    elif isinstance(rec, Link):
        need("entity", rec.source, "source")
        need("entity", rec.target, "target")
        if rec.arrangement is not None:
            need("arrangement", rec.arrangement, "arrangement")
        for s in rec.sources:
            need("source", s, "sources")
    elif isinstance(rec, Arrangement):
        need("entity", rec.focal, "focal")
        if rec.taxpayer is not None:
            need("entity", rec.taxpayer, "taxpayer")
        for i, p in enumerate(rec.parties):
            need("entity", p.entity, f"parties.{i}.entity")
        for s in rec.sources:
            need("source", s, "sources")
        for i, ev in enumerate(rec.status):
            for s in ev.sources:
                need("source", s, f"status.{i}.sources")
        if rec.capacity is not None:
            for s in rec.capacity.sources:
                need("source", s, "capacity.sources")
    return out


def _check_references(by_kind: dict[str, dict[str, _Located]], issues: list[DatasetIssue]) -> None:
    def known(what: str, ref: str) -> bool:
        return ref in by_kind[what]

    sources = by_kind["source"]
    known_sets: set[tuple[str, ...]] = set()  # entity source lists already found all known
    for loc in by_kind["entity"].values():
        ent = loc.record
        assert isinstance(ent, Entity)
        if not ent.lists:
            key = tuple(ent.sources)
            if key in known_sets:
                continue
            if all(s in sources for s in key):
                known_sets.add(key)
                continue
        issues += reference_issues("entity", ent, loc.file, loc.where, known)
    for kind in ("link", "arrangement"):
        for loc in by_kind[kind].values():
            issues += reference_issues(kind, loc.record, loc.file, loc.where, known)


def _check_share_totals(
    by_kind: dict[str, dict[str, _Located]],
    columns: list[LinkColumns],
    dropped: list[np.ndarray],
    entity_index: dict[str, int],
    issues: list[DatasetIssue],
) -> None:
    """Equity (and votes) held in one entity may not exceed 100% on any date
    (:func:`share_total_issues`), over the object links and the bulk columns."""
    own = sorted(KIND_CODES[k] for k in OWNERSHIP_KINDS)
    objs = [
        (loc, l)
        for loc in by_kind["link"].values()
        if isinstance(l := loc.record, Link) and l.kind in OWNERSHIP_KINDS
    ]
    unknown: dict[str, int] = {}  # targets that are not entities (reported elsewhere)
    n_ent = len(entity_index)

    def key(t: str) -> int:
        i = entity_index.get(t)
        return i if i is not None else n_ent + unknown.setdefault(t, len(unknown))

    tkey = [np.fromiter((key(l.target) for _, l in objs), np.int64, len(objs))]
    kind = [np.fromiter((KIND_CODES[l.kind] for _, l in objs), np.int64, len(objs))]
    lo = [np.fromiter((l.share_bounds()[0] for _, l in objs), np.float64, len(objs))]
    vf = [np.fromiter((_day(l.valid_from) for _, l in objs), np.int64, len(objs))]
    vt = [np.fromiter((_day(l.valid_to) for _, l in objs), np.int64, len(objs))]
    block = [np.full(len(objs), -1, np.int64)]
    row = [np.arange(len(objs), dtype=np.int64)]
    for b, col in enumerate(columns):
        m = np.flatnonzero(np.isin(col.kind, own) & ~dropped[b])
        tkey.append(col.target[m].astype(np.int64))
        kind.append(col.kind[m].astype(np.int64))
        lo.append(col.lo[m])
        vf.append(col.valid_from[m].astype(np.int64))
        vt.append(col.valid_to[m].astype(np.int64))
        block.append(np.full(len(m), b, np.int64))
        row.append(m.astype(np.int64))
    BL, RW = np.concatenate(block), np.concatenate(row)
    ent_ids: list[str] | None = None

    def locate(m: int) -> tuple[str, str, str]:
        if BL[m] < 0:
            loc, link = objs[int(RW[m])]
            return loc.file, loc.where, link.id
        col = columns[int(BL[m])]
        rid = col.ids[int(RW[m])]
        return col.file, f"row {int(col.line[int(RW[m])])} (id={rid})", rid

    def target(t: int) -> str:
        nonlocal ent_ids
        if t < n_ent:
            if ent_ids is None:
                ent_ids = list(entity_index)
            return ent_ids[t]
        return next(k for k, v in unknown.items() if v == t - n_ent)

    issues += share_total_issues(
        *(np.concatenate(x) for x in (tkey, kind, lo, vf, vt)), locate=locate, target=target
    )


def _day(d: dt.date | None) -> int:
    return d.toordinal() if d else NO_DATE


def share_total_issues(
    T: np.ndarray,
    K: np.ndarray,
    L: np.ndarray,
    VF: np.ndarray,
    VT: np.ndarray,
    *,
    locate: Callable[[int], tuple[str, str, str]],
    target: Callable[[int], str],
) -> list[DatasetIssue]:
    """Equity (and votes) held in one entity may not exceed 100% on any date.

    The arrays describe ownership links, one element each, in table order: target key (entity
    position, then unknown targets), kind code, minimum share and day ordinals of validity
    (:data:`~.linkstore.NO_DATE` when open). Ranged shares count with their minimum: a range
    that could fit is accepted. Totals over all dates are summed per (target, kind) with one
    ``bincount``; only a group whose all-dates total exceeds 100% can fail on some date, and
    only those are checked date by date. An issue is located at the last link active on the
    first failing date (``locate(i)`` → file, record, link id) and names the target
    (``target(key)``).
    """
    out: list[DatasetIssue] = []
    if not len(T):
        return out
    _, inv = np.unique(T * len(LINK_KINDS) + K, return_inverse=True)
    totals = np.bincount(inv, weights=L)
    for g in np.flatnonzero(totals > 1.0 + EPS):
        members = np.flatnonzero(inv == g)
        for day in sorted({int(VF[m]) if VF[m] != NO_DATE else 1 for m in members}):
            active = [
                m
                for m in members
                if (VF[m] == NO_DATE or VF[m] <= day) and (VT[m] == NO_DATE or day <= VT[m])
            ]
            total = float(sum(L[m] for m in active))
            if total <= 1.0 + EPS:
                continue
            file, where, _ = locate(int(active[-1]))
            ids = ", ".join(locate(int(m))[2] for m in active)
            out.append(
                DatasetIssue(
                    file,
                    where,
                    "share",
                    f"{LINK_KINDS[int(K[members[0]])].value} held in "
                    f"{target(int(T[members[0]]))!r} adds up to "
                    f"{total:.2%} (> 100%) on "
                    f"{'any date' if day == 1 else dt.date.fromordinal(day).isoformat()}: {ids}",
                )
            )
            break
    return out


def _order(file: str, where: str) -> tuple[str, int]:
    """Reading order of a record: files by name, then line (the reference path's order)."""
    m = re.search(r"(?:row|line) (\d+)", where)
    return file, int(m.group(1)) if m else 0


def _resolve_blocks(
    blocks: list[FastLinks],
    by_kind: dict[str, dict[str, _Located]],
    entity_ids: list[str],
    issues: list[DatasetIssue],
) -> tuple[list[LinkColumns], dict[str, int], list[np.ndarray]]:
    """Resolve bulk links' entity references to positions; report duplicate ids and unknown
    references (entities, sources, arrangements) with file and row, as the reference path does:
    of two records with one id the one read later is reported (and left out of the other
    checks), naming where the first was defined."""
    columns = [fl.columns for fl in blocks]
    dropped = [np.zeros(len(c), dtype=bool) for c in columns]
    positions: dict[str, int] = {}
    clash = False
    for col in columns:
        base = len(positions)
        positions.update(zip(col.ids, range(base, base + len(col)), strict=True))
        clash |= len(positions) != base + len(col)
    if clash:  # duplicate ids among bulk rows (error path: a plain scan finds them)
        first: dict[str, str] = {}
        for b, col in enumerate(columns):
            for r, rid in enumerate(col.ids):
                where = f"row {int(col.line[r])} (id={rid})"
                if rid in first:
                    dropped[b][r] = True
                    issues.append(
                        DatasetIssue(
                            col.file,
                            where,
                            "id",
                            f"duplicate link id {rid!r} (first defined in {first[rid]})",
                        )
                    )
                else:
                    first[rid] = f"{col.file}: {where}"
    objs = by_kind["link"]
    offsets = np.cumsum([0, *(len(c) for c in columns)])
    for oid, loc in list(objs.items()):
        p = positions.get(oid)
        if p is None:
            continue
        b = int(np.searchsorted(offsets, p, side="right")) - 1
        col, r = columns[b], p - int(offsets[b])
        where = f"row {int(col.line[r])} (id={oid})"
        if _order(loc.file, loc.where) < _order(col.file, where):
            dropped[b][r] = True
            file, at, earlier = col.file, where, f"{loc.file}: {loc.where}"
        else:
            del objs[oid]
            file, at, earlier = loc.file, loc.where, f"{col.file}: {where}"
        issues.append(
            DatasetIssue(file, at, "id", f"duplicate link id {oid!r} (first defined in {earlier})")
        )

    ent = pa.array(entity_ids, type=pa.string())
    known_sources, known_arr = by_kind["source"], by_kind["arrangement"]
    for fl, col, drop in zip(blocks, columns, dropped, strict=True):

        def at_row(r: int, col: LinkColumns = col) -> str:
            return f"row {int(col.line[r])} (id={col.ids[r]})"

        unknown: list[tuple[int, str, str]] = []  # (row, field, message)
        for name, ids in (("source", fl.source_ids), ("target", fl.target_ids)):
            ix = pc.index_in(ids, value_set=ent)
            miss = np.asarray(ix.is_null().to_numpy(zero_copy_only=False)) & ~drop
            for r_ in np.flatnonzero(miss):
                r = int(r_)
                unknown.append((r, name, f"unknown entity {ids[r].as_py()!r}"))
            setattr(col, name, np.asarray(ix.fill_null(0).to_numpy(), dtype=np.int32))
        for r, a in col.arrangement.items():
            if a not in known_arr and not drop[r]:
                unknown.append((r, "arrangement", f"unknown arrangement {a!r}"))
        for k, srcs in enumerate(col.source_sets):
            for s_id in srcs:
                if s_id not in known_sources:
                    for r_ in np.flatnonzero((col.source_set == k) & ~drop):
                        unknown.append((int(r_), "sources", f"unknown source {s_id!r}"))
        field_order = {"source": 0, "target": 1, "arrangement": 2, "sources": 3}
        unknown.sort(key=lambda u: (u[0], field_order[u[1]]))
        issues += [DatasetIssue(col.file, at_row(r), f, msg) for r, f, msg in unknown]
    return columns, positions, dropped


def _bulk_csv(
    f: Path,
    data: bytes,
    issues: list[DatasetIssue],
    located: list[tuple[str, BaseModel, str, str]],
    blocks: list[FastLinks],
) -> bool:
    """Read a bulk links/entities CSV column-wise (:mod:`.bulkcsv`); False when the file must
    take the reference path. Rows the strict checks refuse are validated here, one by
    one, exactly as the reference path does."""
    parts = f.name.rsplit(".", 2)
    plural = parts[-2] if len(parts) == 3 else ""
    rows: list[tuple[int, str, BaseModel | None, dict[str, str] | None]] = []
    if plural == "links":
        fl = read_links(f.name, data)
        if fl is None:
            return False
        blocks.append(fl)
        kind, slow = "link", fl.slow
    elif plural == "entities":
        fe = read_entities(f.name, data)
        if fe is None:
            return False
        kind, slow = "entity", fe.slow
        name = f.name
        if not slow:  # the common case: every row passed, already in file order
            located += [("entity", e, name, f"row {line} (id={e.id})") for line, e in fe.entities]
            return True
        rows = [(line, f"row {line} (id={e.id})", e, None) for line, e in fe.entities]
    else:
        return False
    rows += [(line, f"row {line}", None, row) for line, row in slow]
    rows.sort(key=lambda x: x[0])
    for _, where, rec, raw in rows:
        if rec is None:
            assert raw is not None
            try:
                rec_raw = _csv_row_to_record(kind, dict(raw))
            except ValueError as exc:
                issues.append(DatasetIssue(f.name, where, "", str(exc)))
                continue
            if "id" in rec_raw:
                where += f" (id={rec_raw['id']})"
            rec = _validate_record(kind, rec_raw, f.name, where, issues)
        if rec is not None:
            located.append((kind, rec, f.name, where))
    return True


def load_dataset(path: str | Path) -> Dataset:
    """Read, validate and merge every record file of a dataset directory.

    Raises :class:`DatasetError` listing every problem (file, record, field) if anything is wrong.
    The cyclic garbage collector is paused while loading: the load makes millions of objects
    and no cycles, and each full collection would walk all of them (it doubled the time of a
    1M-entity load; ``bench/README.md``).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_dataset(Path(path))
    finally:
        if enabled:
            gc.enable()


def _load_dataset(root: Path) -> Dataset:
    issues: list[DatasetIssue] = []
    if not root.is_dir():
        raise DatasetError([DatasetIssue(str(root), "", "", "not a directory")])
    digest = hashlib.sha256()
    located: list[tuple[str, BaseModel, str, str]] = []
    blocks: list[FastLinks] = []
    files = _dataset_files(root)
    if not files:
        raise DatasetError([DatasetIssue(str(root), "", "", "no *.yaml, *.csv or *.jsonl files")])
    for f in files:
        data = f.read_bytes()
        digest.update(f.name.encode() + b"\0" + hashlib.sha256(data).digest())
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            issues.append(DatasetIssue(f.name, "", "", f"not UTF-8 text: {exc}"))
            continue
        if f.suffix == ".csv" and _bulk_csv(f, data, issues, located, blocks):
            continue
        for kind, where, raw in _READERS[f.suffix](f, text, issues):
            rec = (
                raw
                if isinstance(raw, BaseModel)
                else _validate_record(kind, raw, f.name, where, issues)
            )
            if rec is not None:
                located.append((kind, rec, f.name, where))
        del text
    return assemble(located, issues, "sha256:" + digest.hexdigest()[:16], str(root), blocks)


def assemble(
    located: list[tuple[str, BaseModel, str, str]],
    issues: list[DatasetIssue],
    version: str,
    path: str | None,
    blocks: list[FastLinks] | None = None,
) -> Dataset:
    """Index validated records, check references and share totals, and build the Dataset.

    ``located`` holds (kind, record, file, where). Raises :class:`DatasetError` with every issue
    (those passed in and those found here); nothing is returned half-built.
    """
    by_kind, origin = merge_records(located, issues)
    entity_ids = list(by_kind["entity"])
    entity_index = {e: i for i, e in enumerate(entity_ids)}
    columns, positions, dropped = _resolve_blocks(blocks or [], by_kind, entity_ids, issues)
    _check_references(by_kind, issues)
    _check_share_totals(by_kind, columns, dropped, entity_index, issues)
    if issues:
        raise DatasetError(issues)

    def table(kind: str) -> dict[str, Any]:
        return {k: v.record for k, v in by_kind[kind].items()}

    return Dataset(
        sources=table("source"),
        entities=table("entity"),
        links=LinkStore(table("link"), columns, entity_ids, entity_index, positions),
        arrangements=table("arrangement"),
        version=version,
        origin=origin,
        path=path,
    )
