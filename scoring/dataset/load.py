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

import gc
import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from georisk.scoring.dataset.bulkcsv import FastLinks
from georisk.scoring.dataset.core import Dataset, DatasetError, DatasetIssue
from georisk.scoring.dataset.linkstore import LinkStore
from georisk.scoring.dataset.readers import READERS, dataset_files, read_bulk_csv, validate_record
from georisk.scoring.dataset.validate import (
    _check_references,
    _check_share_totals,
    _resolve_blocks,
    merge_records,
)

__all__ = ["assemble", "load_dataset"]


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
    files = dataset_files(root)
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
        if f.suffix == ".csv" and read_bulk_csv(f, data, issues, located, blocks):
            continue
        for kind, where, raw in READERS[f.suffix](f, text, issues):
            rec = (
                raw
                if isinstance(raw, BaseModel)
                else validate_record(kind, raw, f.name, where, issues)
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
