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
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from georisk.interop.core import GEORISK_SCHEME, Imported, identifier_key
from georisk.scoring.dataset import load_dataset
from georisk.scoring.model import Entity, Identifier, Link, ShareRange, Source

__all__ = ["WriteResult", "errors_path", "import_file_name", "record_line", "write_dataset"]

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
    return json.dumps(d, ensure_ascii=False, sort_keys=False)


def _read_import_file(path: Path) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    models: dict[str, Any] = {"source": Source, "entity": Entity, "link": Link}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            kind = obj.pop("record")
            out.append((kind, models[kind].model_validate(obj)))
    return out


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
        self.pool: dict[str, dict[str, Any]] = {"source": {}, "entity": {}, "link": {}}
        for f in sorted(base.glob(f"{_IMPORT_PREFIX}*.jsonl")):
            for kind, rec in _read_import_file(f):
                self.pool[kind][rec.id] = rec
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
                self.messages.append(
                    f"{e.name} [{e.id}] is {self._name(match)} (matched on {how}); that entity "
                    "is in a hand-written file and is left as it is"
                )
                continue
            aliases = _union(old.aliases, [e.name] if e.name != old.name else [])
            self.pool["entity"][match] = old.model_copy(
                update={
                    "identifiers": _idents(old.identifiers, e.identifiers),
                    "sources": _union(old.sources, e.sources),
                    "aliases": _union(aliases, e.aliases),
                }
            )
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
    with path.open("w", encoding="utf-8") as f:
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
        load_dataset(tmp)  # the loader's checks: a refused dataset is never swapped in
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    errs = errors_path(out_dir)
    if imported.rejected:
        part = errs.with_name(f".{errs.name}.part")
        _write_lines(part, (json.dumps(r.as_json(), ensure_ascii=False) for r in imported.rejected))
        os.replace(part, errs)
        result.errors_file = errs
    elif errs.exists():
        errs.unlink()  # a stale errors file would describe another import
    return result
