"""Writing an :class:`~georisk.interop.core.Imported` as a dataset directory, atomically.

The dataset is built in a temporary directory beside ``out_dir``, validated by loading it with
:func:`georisk.scoring.dataset.load_dataset`, and only then swapped in: if anything fails, the
previous dataset at ``out_dir`` stays as it was. The imported records go to one JSONL file,
``import-FORMAT.jsonl`` (data/README.md "JSONL"); the rejected input goes to
``OUT_DIR.errors.jsonl`` *beside* the directory (inside it, a ``.jsonl`` would be read as records).

Merging (``merge_into``, usually ``out_dir`` itself): the existing dataset's files are kept;
an imported entity is matched to an existing one on an identifier (scheme and id) or its id, and
its links then point at the existing entity. Entities and links of earlier imports
(``import-*.jsonl``) are merged in place: identifiers, sources and aliases are added; a link for
the same holding (holder, held, kind) with another share becomes one link whose share is the
range of both, marked unconfirmed with a note naming each figure and its source. Records of
hand-written files are never rewritten: a conflicting imported share for one of their holdings
is reported and not written (the dataset's figure stands), never silently replacing it.

At scale (:func:`stream_dataset`): a streaming reader (:data:`STREAMERS`: BODS, FtM) gives its
records to a :class:`BulkSink`, which writes them as they come as bulk CSV
(``import-FMT.entities.csv``, ``import-FMT.links.csv``, read column-wise by the loader) and
``import-FMT.jsonl`` for the sources and what CSV cannot say; the result is loaded and swapped
in as above. :class:`RecordSink` collects the same records into an :class:`Imported` instead.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from georisk.interop.core import GEORISK_SCHEME, Imported, Rejected, identifier_key, json_line
from georisk.scoring.dataset import DatasetError, DatasetIssue, load_dataset
from georisk.scoring.model import Entity, Identifier, Link, ListMembership, ShareRange, Source

__all__ = [
    "STREAMERS",
    "BulkSink",
    "RecordSink",
    "StreamResult",
    "WriteResult",
    "errors_path",
    "import_file_name",
    "record_line",
    "stream_dataset",
    "write_dataset",
]

_IMPORT_PREFIX = "import-"


@dataclass
class WriteResult:
    """What was written: counts by kind, the errors file (None when nothing was rejected), and
    one line per merge decision for the analyst."""

    out_dir: Path
    errors_file: Path | None
    counts: dict[str, int] = field(default_factory=dict)
    merged: list[str] = field(default_factory=list)


def errors_path(out_dir: Path) -> Path:
    """``OUT_DIR.errors.jsonl``, beside the dataset directory."""
    return out_dir.with_name(out_dir.name + ".errors.jsonl")


def import_file_name(fmt: str) -> str:
    return f"{_IMPORT_PREFIX}{fmt}.jsonl"


def record_line(kind: str, rec: Source | Entity | Link) -> str:
    """One JSONL record line: the record's fields (defaults left out) and its ``record`` kind."""
    d: dict[str, Any] = {"record": kind}
    d.update(rec.model_dump(mode="json", by_alias=True, exclude_defaults=True))
    return json_line(d)


def _union(a: Iterable[str], b: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))


def _idents(a: list[Identifier], b: list[Identifier]) -> list[Identifier]:
    out: dict[tuple[str, str], Identifier] = {}
    for i in [*a, *b]:
        key = identifier_key(i.scheme, i.id)
        prev = out.get(key)
        out[key] = (
            i
            if prev is None
            else prev.model_copy(update={"sources": _union(prev.sources, i.sources)})
        )
    return list(out.values())


def _listing_key(m: ListMembership) -> tuple[str, Any, Any]:
    return (m.list_id, m.since, m.until)


def _new_lists(have: list[ListMembership], said: list[ListMembership]) -> list[ListMembership]:
    keys = {_listing_key(m) for m in have}
    return [m for m in said if _listing_key(m) not in keys]


def _lists(have: list[ListMembership], said: list[ListMembership]) -> list[ListMembership]:
    """List memberships of both: one per (list, since, until), the sources of both."""
    out: dict[tuple[str, Any, Any], ListMembership] = {}
    for m in [*have, *said]:
        key = _listing_key(m)
        prev = out.get(key)
        out[key] = (
            m
            if prev is None
            else prev.model_copy(update={"sources": _union(prev.sources, m.sources)})
        )
    return list(out.values())


def _listing(m: ListMembership) -> str:
    since = f" since {m.since}" if m.since else ""
    return f"{m.list_id} listing{since} (sources {', '.join(m.sources)})"


def _share_text(link: Link) -> str:
    s = link.share
    if s is None:
        return "no share"
    if isinstance(s, ShareRange):
        return f"{s.minimum:.4g}–{s.maximum:.4g}"
    return f"{float(s):.4g}"


class _Merger:
    """The records of the merged dataset: fixed ones (hand-written files, only read) and the
    pool (earlier imports plus this one, rewritten)."""

    def __init__(self, base: Path) -> None:
        ds = load_dataset(base)
        # the pool: records read from earlier imports' files (import-*.jsonl, and the bulk CSV
        # of a streaming import, import-FMT.entities.csv / .links.csv)
        self.pool: dict[str, dict[str, Any]] = {"source": {}, "entity": {}, "link": {}}
        tables: dict[str, Any] = {"source": ds.sources, "entity": ds.entities, "link": ds.links}
        for kind, table in tables.items():
            for rid, rec in table.items():
                if os.path.basename(ds.locate(kind, rid)[0]).startswith(_IMPORT_PREFIX):
                    self.pool[kind][rid] = rec
        self.fixed_entities = {k: v for k, v in ds.entities.items() if k not in self.pool["entity"]}
        self.fixed_sources = set(ds.sources) - set(self.pool["source"])
        self.fixed_links = {k: v for k, v in ds.links.items() if k not in self.pool["link"]}
        # (normalised scheme, id) → entity id; an entity's own id is its `georisk` identifier
        self.by_ident: dict[tuple[str, str], str] = {}
        for e in [*self.fixed_entities.values(), *self.pool["entity"].values()]:
            self.by_ident[identifier_key(GEORISK_SCHEME, e.id)] = e.id
        for e in [*self.fixed_entities.values(), *self.pool["entity"].values()]:
            for i in e.identifiers:
                self.by_ident.setdefault(identifier_key(i.scheme, i.id), e.id)
        self.holdings: dict[tuple[str, str, str], str] = {}
        for link in [*self.fixed_links.values(), *self.pool["link"].values()]:
            self.holdings.setdefault((link.source, link.target, link.kind.value), link.id)
        self.messages: list[str] = []

    def _name(self, eid: str) -> str:
        e = self.pool["entity"].get(eid) or self.fixed_entities.get(eid)
        return f"{e.name} [{eid}]" if e is not None else f"[{eid}]"

    def add(self, imported: Imported) -> None:
        for s in imported.sources.values():
            if s.id not in self.fixed_sources:
                self.pool["source"][s.id] = s
        id_map: dict[str, str] = {}
        for e in imported.entities.values():
            match, how = None, ""
            for i in e.identifiers:
                if (ik := identifier_key(i.scheme, i.id)) in self.by_ident:
                    match, how = self.by_ident[ik], f"{i.scheme} {i.id}"
                    break
            if match is None and (e.id in self.pool["entity"] or e.id in self.fixed_entities):
                match, how = e.id, "its id"
            if match is None:
                self.pool["entity"][e.id] = e
                for i in e.identifiers:
                    self.by_ident.setdefault(identifier_key(i.scheme, i.id), e.id)
                continue
            id_map[e.id] = match
            old = self.pool["entity"].get(match)
            if old is None:
                fixed = self.fixed_entities[match]
                unsaid = [f"its {_listing(m)}" for m in _new_lists(fixed.lists, e.lists)]
                self.messages.append(
                    f"{e.name} [{e.id}] is {self._name(match)} (matched on {how}); that entity "
                    "is in a hand-written file and is left as it is"
                    + (
                        f": not added, edit the hand-written record: {', '.join(unsaid)}"
                        if unsaid
                        else ""
                    )
                )
                continue
            aliases = _union(old.aliases, [e.name] if e.name != old.name else [])
            update: dict[str, Any] = {
                "identifiers": _idents(old.identifiers, e.identifiers),
                "sources": _union(old.sources, e.sources),
                "aliases": _union(aliases, e.aliases),
                "lists": _lists(old.lists, e.lists),
            }
            for fld in ("country", "principal_place"):  # filled when missing, never overwritten
                have, said = getattr(old, fld), getattr(e, fld)
                if have is None and said is not None:
                    update[fld] = said
                elif have is not None and said is not None and have != said:
                    self.messages.append(
                        f"conflict: {fld} of {self._name(match)}: the dataset says {have}, "
                        f"{e.name} [{e.id}] (sources {', '.join(e.sources)}) says {said}; "
                        f"{have} stands"
                    )
            self.pool["entity"][match] = old.model_copy(update=update)
            for i in e.identifiers:
                self.by_ident.setdefault(identifier_key(i.scheme, i.id), match)
            if e.id != match or set(e.sources) - set(old.sources):
                self.messages.append(
                    f"merged {e.name} [{e.id}] into {self._name(match)} (matched on {how})"
                )
        for link in imported.links.values():
            src, tgt = id_map.get(link.source, link.source), id_map.get(link.target, link.target)
            new = link.model_copy(update={"source": src, "target": tgt})
            key = (src, tgt, link.kind.value)
            have = self.holdings.get(key)
            if have is None:
                lid = link.id
                n = 2
                while lid in self.pool["link"] or lid in self.fixed_links:
                    lid, n = f"{link.id}-{n}", n + 1
                self.pool["link"][lid] = new.model_copy(update={"id": lid})
                self.holdings[key] = lid
                continue
            self._merge_link(have, new)

    def _merge_link(self, have: str, new: Link) -> None:
        old = self.pool["link"].get(have) or self.fixed_links[have]
        what = f"{new.kind.value} of {self._name(new.source)} in {self._name(new.target)}"
        same = old.share == new.share
        if have not in self.pool["link"]:
            if not same:
                self.messages.append(
                    f"conflict: {what}: the dataset says {_share_text(old)} ({have}, sources "
                    f"{', '.join(old.sources)}), the import says {_share_text(new)} (sources "
                    f"{', '.join(new.sources)}); the dataset's hand-written figure stands"
                )
            return
        update: dict[str, Any] = {"sources": _union(old.sources, new.sources)}
        if not same:
            a, b = old.share_interval(), new.share_interval()
            lo, hi = min(a.lo, b.lo), max(a.hi, b.hi)
            update["share"] = ShareRange(minimum=lo, maximum=hi) if lo < hi else lo
            update["unconfirmed"] = True
            note = (
                f"sources disagree: {_share_text(old)} ({', '.join(old.sources)}) and "
                f"{_share_text(new)} ({', '.join(new.sources)}); the range of both is kept"
            )
            update["unconfirmed_note"] = note
            self.messages.append(f"conflict: {what}: {note}")
        elif set(new.sources) - set(old.sources):
            self.messages.append(f"{what}: already present; source added")
        self.pool["link"][have] = old.model_copy(update=update)


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    # a lone surrogate (a JSON escape such as \ud800 in the input) is written back as that
    # escape, which reads back as the same text, instead of failing the write
    with path.open("w", encoding="utf-8", errors="backslashreplace") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _swap(tmp: Path, out_dir: Path) -> None:
    """``tmp`` becomes ``out_dir``; the previous ``out_dir`` is removed only once it is."""
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
    old.rmdir()
    os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _refuse_empty(counts: dict[str, int], out_dir: Path, rejected: Sequence[Rejected]) -> None:
    """An import that gave no entity must not replace a dataset with an empty one (an empty or
    wholly refused file): refused, its rejects still written to the errors file."""
    if counts.get("entity", 0):
        return
    why = "nothing to import: no entity or person came out of the sources"
    if rejected:
        errs = errors_path(out_dir)
        part = errs.with_name(f".{errs.name}.part")
        _write_lines(part, (json_line(r.as_json()) for r in rejected))
        os.replace(part, errs)
        why += f" ({len(rejected)} rejected: {errs})"
    raise DatasetError([DatasetIssue(out_dir.name, "", "", why)])


def write_dataset(
    imported: Imported, out_dir: Path, *, merge_into: Path | None = None
) -> WriteResult:
    """Write ``imported`` (merged into the dataset at ``merge_into`` when given) as the dataset
    directory ``out_dir``, atomically; raises :class:`~georisk.scoring.dataset.DatasetError` (and
    leaves ``out_dir`` as it was) when the result does not load."""
    out_dir = Path(out_dir).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new.", dir=out_dir.parent))
    result = WriteResult(out_dir, None)
    try:
        if merge_into is not None:
            merger = _Merger(Path(merge_into))
            merger.add(imported)
            for f in sorted(Path(merge_into).iterdir()):  # all but earlier imports (in pool)
                if f.name.startswith(".") or (f.is_file() and f.name.startswith(_IMPORT_PREFIX)):
                    continue
                if f.is_dir():  # e.g. policies/: the dataset's own packs
                    shutil.copytree(f, tmp / f.name, symlinks=True)
                else:
                    shutil.copy2(f, tmp / f.name)
            pool = merger.pool
            result.merged = merger.messages
        else:
            pool = {"source": imported.sources, "entity": imported.entities, "link": imported.links}
        _write_lines(
            tmp / import_file_name("merged" if merge_into is not None else imported.format),
            (
                record_line(kind, rec)
                for kind in ("source", "entity", "link")
                for rec in pool[kind].values()
            ),
        )
        result.counts = {kind: len(pool[kind]) for kind in ("source", "entity", "link")}
        if merge_into is None:
            _refuse_empty(result.counts, out_dir, imported.rejected)
        load_dataset(tmp)  # the loader's checks: a refused dataset is never swapped in
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    errs = errors_path(out_dir)
    if imported.rejected:
        part = errs.with_name(f".{errs.name}.part")
        _write_lines(part, (json_line(r.as_json()) for r in imported.rejected))
        os.replace(part, errs)
        result.errors_file = errs
    elif errs.exists():
        errs.unlink()  # a stale errors file would describe another import
    return result


# --------------------------------------------------------------------------- streaming, at scale

#: formats ``georisk import`` reads streaming (``FORMAT:function(paths, sink)``): bounded memory,
#: bulk CSV out (docs/import.md "At scale")
STREAMERS: dict[str, str] = {
    "bods": "georisk.interop.bods:stream_bods",
    "ftm": "georisk.interop.ftm:stream_ftm",
}

_ENTITY_CSV = (
    "id",
    "name",
    "kind",
    "country",
    "principal_place",
    "us_person",
    "aliases",
    "identifiers",
    "sources",
    "unconfirmed",
    "unconfirmed_note",
    "note",
)
_LINK_CSV = (
    "id",
    "kind",
    "source",
    "target",
    "share",
    "share_min",
    "share_max",
    "share_exclusive_min",
    "share_exclusive_max",
    "valid_from",
    "valid_to",
    "status",
    "role",
    "arrangement",
    "unconfirmed",
    "unconfirmed_note",
    "note",
    "sources",
)
_SCHEME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PLAIN_ID = re.compile(r"^[^;\s]+$")


def _plain(text: str | None) -> bool:
    """Text a CSV cell holds on one line (a quoted newline sends a whole file the slow way)."""
    return text is None or ("\n" not in text and "\r" not in text)


def _entity_row(e: Entity) -> list[str] | None:
    """``e`` as a row of ``_ENTITY_CSV``, or None when CSV cannot say it exactly (list
    memberships, an alias holding ``;``, an identifier whose scheme holds ``:`` or whose id holds
    ``;`` or blanks, or sources of its own, a line break in a text): JSONL then."""
    if e.lists or not all(_plain(t) for t in (e.name, e.note, e.unconfirmed_note)):
        return None
    if any(";" in a or not a or not _plain(a) for a in e.aliases):
        return None
    for i in e.identifiers:
        if not _SCHEME_OK.match(i.scheme) or not _PLAIN_ID.match(i.id) or i.sources != e.sources:
            return None
    return [
        e.id,
        e.name,
        e.kind.value,
        e.country or "",
        e.principal_place or "",
        "" if e.us_person is None else str(e.us_person).lower(),
        ";".join(e.aliases),
        ";".join(f"{i.scheme}:{i.id}" for i in e.identifiers),
        ";".join(e.sources),
        "true" if e.unconfirmed else "",
        e.unconfirmed_note or "",
        e.note or "",
    ]


def _num(x: float) -> str:
    return repr(float(x))


def _link_row(link: Link) -> list[str] | None:
    """``link`` as a row of ``_LINK_CSV``, or None when CSV cannot say it (licence terms, a line
    break in a text): JSONL then."""
    if link.licence is not None or not all(_plain(t) for t in (link.note, link.unconfirmed_note)):
        return None
    s = link.share
    share = smin = smax = xmin = xmax = ""
    if isinstance(s, ShareRange):
        smin, smax = _num(s.minimum), _num(s.maximum)
        xmin = "true" if s.exclusive_minimum else ""
        xmax = "true" if s.exclusive_maximum else ""
    elif s is not None:
        share = _num(s)
    return [
        link.id,
        link.kind.value,
        link.source,
        link.target,
        share,
        smin,
        smax,
        xmin,
        xmax,
        link.valid_from.isoformat() if link.valid_from else "",
        link.valid_to.isoformat() if link.valid_to else "",
        link.status.value,
        link.role or "",
        link.arrangement or "",
        "true" if link.unconfirmed else "",
        link.unconfirmed_note or "",
        link.note or "",
        ";".join(link.sources),
    ]


class RecordSink:
    """Where a streaming reader puts what it reads: records, rejects and notes. This one keeps
    them in an :class:`Imported` (small inputs, ``--merge``, tests); :class:`BulkSink` writes
    them out as it goes."""

    def __init__(self, fmt: str) -> None:
        self.imported = Imported(format=fmt)

    def source(self, s: Source) -> None:
        self.imported.sources[s.id] = s

    def entity(self, e: Entity) -> None:
        self.imported.entities[e.id] = e

    def link(self, link: Link) -> None:
        self.imported.links[link.id] = link

    def reject(self, r: Rejected) -> None:
        self.imported.rejected.append(r)

    def note(self, text: str) -> None:
        self.imported.notes.append(text)

    def add_notes(self, notes: dict[str, list[str]]) -> None:
        """Append ``notes`` (entity id → facts) to the notes of entities already given."""
        for eid, facts in notes.items():
            e = self.imported.entities[eid]
            note = "; ".join([e.note, *facts] if e.note else facts)
            self.imported.entities[eid] = e.model_copy(update={"note": note})


class BulkSink(RecordSink):
    """Writes records as they come into ``DIR/import-FMT.entities.csv`` and
    ``import-FMT.links.csv`` (the bulk CSV the loader reads column-wise) and, for the records
    CSV cannot say exactly and the sources, ``import-FMT.jsonl``. Holds only the rejects, the
    notes and counts."""

    def __init__(self, fmt: str, directory: Path) -> None:
        super().__init__(fmt)
        self.dir = directory
        stem = f"{_IMPORT_PREFIX}{fmt}"
        self.paths = {
            "entity": directory / f"{stem}.entities.csv",
            "link": directory / f"{stem}.links.csv",
            "jsonl": directory / f"{stem}.jsonl",
        }
        self._files = {k: p.open("w", encoding="utf-8", newline="") for k, p in self.paths.items()}
        self._csv = {
            "entity": csv.writer(self._files["entity"], lineterminator="\n"),
            "link": csv.writer(self._files["link"], lineterminator="\n"),
        }
        self._csv["entity"].writerow(_ENTITY_CSV)
        self._csv["link"].writerow(_LINK_CSV)
        self.counts = {"source": 0, "entity": 0, "link": 0}

    def _jsonl(self, kind: str, rec: Source | Entity | Link) -> None:
        self._files["jsonl"].write(record_line(kind, rec) + "\n")

    def source(self, s: Source) -> None:
        self._jsonl("source", s)
        self.counts["source"] += 1

    def entity(self, e: Entity) -> None:
        row = _entity_row(e)
        if row is None:
            self._jsonl("entity", e)
        else:
            self._csv["entity"].writerow(row)
        self.counts["entity"] += 1

    def link(self, link: Link) -> None:
        row = _link_row(link)
        if row is None:
            self._jsonl("link", link)
        else:
            self._csv["link"].writerow(row)
        self.counts["link"] += 1

    def add_notes(self, notes: dict[str, list[str]]) -> None:
        """Rewrite the entity rows named in ``notes`` (streamed through once) with the facts
        appended to their note."""
        if not notes:
            return
        self.close()
        ent, js = self.paths["entity"], self.paths["jsonl"]
        part = ent.with_name(ent.name + ".part")
        with (
            ent.open(encoding="utf-8", newline="") as fin,
            part.open("w", encoding="utf-8", newline="") as fout,
        ):
            w = csv.writer(fout, lineterminator="\n")
            col = _ENTITY_CSV.index("note")
            for row in csv.reader(fin):
                facts = notes.get(row[0])
                if facts:
                    row[col] = "; ".join([row[col], *facts] if row[col] else facts)
                w.writerow(row)
        os.replace(part, ent)
        part = js.with_name(js.name + ".part")
        with js.open(encoding="utf-8") as fin, part.open("w", encoding="utf-8") as fout:
            for line in fin:
                obj = json.loads(line)
                facts = notes.get(obj.get("id", "")) if obj.get("record") == "entity" else None
                if facts:
                    obj["note"] = "; ".join([obj["note"], *facts] if obj.get("note") else facts)
                    line = json_line(obj) + "\n"
                fout.write(line)
        os.replace(part, js)
        self._files = {k: p.open("a", encoding="utf-8", newline="") for k, p in self.paths.items()}
        self._csv = {
            "entity": csv.writer(self._files["entity"], lineterminator="\n"),
            "link": csv.writer(self._files["link"], lineterminator="\n"),
        }

    def close(self) -> None:
        for f in self._files.values():
            if not f.closed:
                f.flush()
                os.fsync(f.fileno())
                f.close()


@dataclass
class StreamResult:
    """What a streaming import wrote (:func:`stream_dataset`): the write result, the notes, the
    rejected input (all of it, in the errors file too)."""

    written: WriteResult
    notes: list[str]
    rejected: list[Rejected]


def stream_dataset(fmt: str, paths: Sequence[Path], out_dir: Path) -> StreamResult:
    """Import ``paths`` of format ``fmt`` (a key of :data:`STREAMERS`) into the dataset
    directory ``out_dir``, replacing it atomically, with memory bounded by the number of
    records (not their size): the reader streams the input, the records go to bulk CSV as they
    are made, and the result is loaded (every check of the loader) before it is swapped in.
    Raises :class:`~georisk.scoring.dataset.DatasetError` (``out_dir`` left as it was) when it
    does not load, RuntimeError when the format's library is missing."""
    module, _, name = STREAMERS[fmt].partition(":")
    run = getattr(importlib.import_module(module), name)
    out_dir = Path(out_dir).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new.", dir=out_dir.parent))
    try:
        sink = BulkSink(fmt, tmp)
        try:
            run(paths, sink)
        finally:
            sink.close()
        rejected, notes = sink.imported.rejected, sink.imported.notes
        result = WriteResult(out_dir, None, counts=dict(sink.counts))
        _refuse_empty(result.counts, out_dir, rejected)
        load_dataset(tmp)  # the loader's checks: a refused dataset is never swapped in
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    errs = errors_path(out_dir)
    if rejected:
        part = errs.with_name(f".{errs.name}.part")
        _write_lines(part, (json_line(r.as_json()) for r in rejected))
        os.replace(part, errs)
        result.errors_file = errs
    elif errs.exists():
        errs.unlink()
    return StreamResult(result, notes, rejected)
