"""Following a store: the changes since a served version applied to the dataset in memory, so
that a replica's cost follows the size of the change, not of the dataset.

A store's writes are validated against the whole dataset when they are committed
(:mod:`.store`), and change seqs are gapless and committed in order; so the changes after a
version, applied to the dataset of that version, give the dataset of the newer one.
:func:`follow` applies them with :func:`georisk.scoring.overlay.apply_overlay` (which
re-checks only what they touch and shares everything else with the dataset it varies) and
gives the result the store's own dataset version, the one :meth:`.Store.snapshot` gives: so a
score of a followed replica and of a fresh snapshot carry the same version and are the same.

>>> import os, tempfile
>>> from georisk.scoring.engine import DEFAULT_DATA
>>> from georisk.store import migrate, open_store
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "g.db")
>>> _ = migrate(url); store = open_store(url)
>>> seq = store.init_from(DEFAULT_DATA, actor="ops", reason="seed")
>>> served, _ = store.snapshot()
>>> doc, etag = store.get("link", "vw-owns-gotion")
>>> w = store.update("link", "vw-owns-gotion", {"share": 0.3}, update_mask=["share"],
...                  etag=etag, actor="a", reason="A21")
>>> new = follow(served, store.changes(after_seq=seq)[0])
>>> new.links["vw-owns-gotion"].share, new.version == store.snapshot()[0].version
(0.3, True)
>>> store.close()
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from georisk.scoring.dataset import RECORD_KINDS, Dataset
from georisk.scoring.overlay import Overlay, apply_overlay

if TYPE_CHECKING:  # the store imports this module (its incremental check): no cycle at run time
    from georisk.store.store import Change

__all__ = ["follow", "overlay_of", "records_overlay", "versioned"]

_PLURAL = {kind: plural for kind, (plural, _) in RECORD_KINDS.items()}


def _defaults(kind: str, keys: set[str]) -> dict[str, Any]:
    """The model's default of each field in ``keys`` (what a field absent from a record is)."""
    fields = RECORD_KINDS[kind][1].model_fields
    return {k: fields[k].get_default(call_default_factory=True) for k in keys if k in fields}


def overlay_of(ds: Dataset, changes: Sequence[Change]) -> Overlay:
    """The changes as one overlay of ``ds``: a record created by them is added with its last
    document; a record of ``ds`` they change is changed to its last document (the fields it no
    longer has set back to their defaults)."""
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for c in changes:
        last[(c.kind, c.id)] = c.after
    seqs = f"{changes[0].seq}-{changes[-1].seq}" if changes else "none"
    return records_overlay(ds, last.items(), f"store-changes-{seqs}")


def records_overlay(
    ds: Dataset, docs: Iterable[tuple[tuple[str, str], dict[str, Any]]], name: str
) -> Overlay:
    """Records given whole (``((kind, id), document)``) as an overlay of ``ds`` that makes
    them so: added when ``ds`` lacks them, else changed, the fields a document no longer has
    set back to their defaults (an overlay's change only replaces the fields it names)."""
    add: dict[str, list[dict[str, Any]]] = {p: [] for p in _PLURAL.values()}
    change: dict[str, list[dict[str, Any]]] = {p: [] for p in _PLURAL.values()}
    for (kind, rid), doc in docs:
        have = ds.table(kind).get(rid)
        if have is None:
            add[_PLURAL[kind]].append(doc)
            continue
        gone = set(have.model_dump(exclude_unset=True)) - set(doc)
        change[_PLURAL[kind]].append({**_defaults(kind, gone), **doc})
    return Overlay.model_validate({"id": name, "arrangement": "", "add": add, "change": change})


def follow(ds: Dataset, changes: Sequence[Change]) -> Dataset:
    """``ds`` (the dataset of the store version just before ``changes[0]``) with ``changes``
    applied, versioned as the store versions it (the last change's ``dataset_version``).
    Raises :class:`~georisk.scoring.dataset.DatasetError` if they do not apply (then take a
    snapshot instead)."""
    if not changes:
        return ds
    out = apply_overlay(ds, overlay_of(ds, changes), name="store")
    return versioned(out, changes[-1].dataset_version)


def versioned(ds: Dataset, version: str) -> Dataset:
    """``ds`` under another version, otherwise the same object graph. A variant made by
    :func:`~georisk.scoring.overlay.apply_overlay` notes beside its fields which entities it
    edits (:func:`~georisk.scoring.overlay.edited_entities`), and that note is what lets the
    graph cache *derive* the variant's graph from its base's (patching arrays, reusing the
    base's analytics); ``dataclasses.replace`` copies fields only, so it is copied too.
    Without it every followed write rebuilt the graph and every whole-graph analytic (a
    second and a half per first ownership report at 100k entities)."""
    out = dataclasses.replace(ds, version=version)
    names = {f.name for f in dataclasses.fields(ds)}
    for k, v in vars(ds).items():
        if k not in names:
            object.__setattr__(out, k, v)
    return out
