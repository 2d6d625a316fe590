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
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from georisk.scoring.dataset.bulkcsv import FastLinks
from georisk.scoring.dataset.core import Dataset, DatasetError, DatasetIssue
from georisk.scoring.dataset.linkstore import LinkStore
from georisk.scoring.dataset.readers import READERS, dataset_files, read_bulk_csv, validate_record
from georisk.scoring.dataset.snapshot import (
    SnapshotError,
    find_snapshot,
    open_snapshot,
    prune,
    snapshot_dirs,
    snapshot_key,
    snapshot_wanted,
    write_snapshot,
)
from georisk.scoring.dataset.validate import (
    _check_references,
    _check_share_totals,
    _resolve_blocks,
    merge_records,
)

__all__ = ["assemble", "load_dataset"]

log = logging.getLogger("georisk.scoring.dataset")


def load_dataset(path: str | Path, *, snapshot: bool | None = None) -> Dataset:
    """Read, validate and merge every record file of a dataset directory.

    Raises :class:`DatasetError` listing every problem (file, record, field) if anything is wrong.
    The cyclic garbage collector is paused while loading: the load makes millions of objects
    and no cycles, and each full collection would walk all of them (it doubled the time of a
    1M-entity load; ``bench/README.md``).

    A large dataset (``snapshot=None``: by its size and the environment, see
    :func:`.snapshot.snapshot_wanted`; True: always; False: never) is opened from its columnar
    snapshot when one was made from the same files by the same code (:mod:`.snapshot`);
    otherwise it is validated, the snapshot is written, and the dataset is opened from it.
    Either way the records, version and error messages are those of the validated files.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_dataset(Path(path), snapshot)
    finally:
        if enabled:
            gc.enable()


def _content_digest(files: list[Path]) -> bytes:
    """The digest behind ``Dataset.version``: file names and the SHA-256 of their contents."""
    digest = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            digest.update(f.name.encode() + b"\0" + hashlib.file_digest(fh, "sha256").digest())
    return digest.digest()


def _load_dataset(root: Path, snapshot: bool | None) -> Dataset:
    if not root.is_dir():
        raise DatasetError([DatasetIssue(str(root), "", "", "not a directory")])
    files = dataset_files(root)
    if not files:
        raise DatasetError([DatasetIssue(str(root), "", "", "no *.yaml, *.csv or *.jsonl files")])
    if snapshot is None:
        snapshot = snapshot_wanted(sum(f.stat().st_size for f in files))
    if not snapshot:
        return _validate(root, files)[0]
    t = time.perf_counter()
    key = snapshot_key(_content_digest(files))
    found = find_snapshot(root, key)
    if found is not None:
        try:
            ds = open_snapshot(found)
        except SnapshotError as exc:
            log.warning("snapshot not used, validating the files: %s", exc)
            shutil.rmtree(found, ignore_errors=True)
        else:
            log.info(
                "dataset %s opened from its snapshot %s in %.2f s",
                root,
                found,
                time.perf_counter() - t,
            )
            return ds
    ds, full = _validate(root, files)
    where = _save(ds, root, snapshot_key(full), full)
    if where is None:
        return ds
    del ds  # the validated objects go before the snapshot's columns come
    return open_snapshot(where, verify=False)


def _save(ds: Dataset, root: Path, key: str, digest: bytes) -> Path | None:
    """Write the snapshot of ``ds`` into the first snapshot directory that takes it."""
    for d in snapshot_dirs(root):
        try:
            d.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            where = write_snapshot(ds, d / key, digest)
        except OSError as exc:
            log.info("no snapshot in %s: %s", d, exc)
            continue
        except SnapshotError as exc:
            log.warning("dataset %s has no snapshot: %s", root, exc)
            return None
        log.info("snapshot of %s written to %s in %.2f s", root, where, time.perf_counter() - t)
        prune(d)
        return where
    return None


def _validate(root: Path, files: list[Path]) -> tuple[Dataset, bytes]:
    """Read and validate ``files``; the dataset and the digest of what was read."""
    issues: list[DatasetIssue] = []
    digest = hashlib.sha256()
    located: list[tuple[str, BaseModel, str, str]] = []
    blocks: list[FastLinks] = []
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
    version = "sha256:" + digest.hexdigest()[:16]
    return assemble(located, issues, version, str(root), blocks), digest.digest()


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
