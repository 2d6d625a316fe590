"""What-if overlays: a variant of the dataset with records added, removed or changed.

An overlay never touches the dataset on disk: it builds a new, fully validated
:class:`~georisk.scoring.dataset.Dataset` in memory (same reference and share-total checks), whose
version is the base version plus the overlay's hash.

Overlay file (YAML or JSON)::

    id: lrs-acme-ohio                # optional name of the variant
    arrangement: catl-lrs            # the arrangement to score
    description: CATL LRS licence for a US carmaker's plant in Ohio
    add:                             # records, as in a dataset file
      entities: [...]
      links: [...]
      sources: [...]
      arrangements: [...]
    remove:                          # ids; removing an entity removes its links
      links: [catl-operates-lrs-plant]
    change:                          # id + the fields to replace (nested terms replaced whole)
      links:
        - {id: catl-licence-lrs, licence: {royalty_years: 8, service_years: 2}}
      arrangements:
        - {id: catl-lrs, template: false, capacity: {gwh: 30, sources: [a12]}}

Every overlay, from a file (``georisk score --overlay``), a batch row or a gRPC request, goes
through :func:`parse_overlay`, so the same document is accepted or refused the same way
everywhere, with the same field-level reasons:

>>> ov = parse_overlay("{arrangement: x, remove: {links: [l1]}}")
>>> ov.remove.links
['l1']
>>> parse_overlay({"arrangement": "x"}, arrangement="y")
Traceback (most recent call last):
...
georisk.scoring.dataset.DatasetError: dataset refused: 1 problem
  overlay: arrangement: the document is for 'x' but 'y' was asked for
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from georisk.scoring.dataset import (
    RECORD_KINDS,
    Dataset,
    DatasetError,
    DatasetIssue,
    assemble,
    reference_issues,
    share_total_issues,
)
from georisk.scoring.dataset.linkstore import KIND_CODES, NO_DATE, EntityIndex, OverlaidStore
from georisk.scoring.dataset.yamlio import YamlError, load_yaml
from georisk.scoring.model import OWNERSHIP_KINDS, Link, ListMembership

__all__ = [
    "Overlay",
    "OverlayOrigins",
    "apply_overlay",
    "apply_overlay_reference",
    "edited_entities",
    "load_overlay",
    "parse_overlay",
]

_PLURALS = {plural: kind for kind, (plural, _) in RECORD_KINDS.items()}


class _Records(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sources: list[dict[str, Any]] = Field(default_factory=list)
    entities: list[dict[str, Any]] = Field(default_factory=list)
    links: list[dict[str, Any]] = Field(default_factory=list)
    arrangements: list[dict[str, Any]] = Field(default_factory=list)


class _Ids(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sources: list[str] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list)
    arrangements: list[str] = Field(default_factory=list)


class Overlay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    arrangement: str
    description: str | None = None
    add: _Records = Field(default_factory=_Records)
    remove: _Ids = Field(default_factory=_Ids)
    change: _Records = Field(default_factory=_Records)

    def digest(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def parse_overlay(
    document: str | Mapping[str, Any] | None,
    *,
    origin: str = "overlay",
    arrangement: str | None = None,
    id: str | None = None,
    description: str | None = None,
) -> Overlay:
    """The one parser and validator of overlays: YAML/JSON text or an already parsed mapping.

    ``arrangement``, ``id`` and ``description`` come from outside the document (a request's
    fields, a batch row's ``arrangement`` column): each fills in what the document leaves out,
    and one that contradicts the document is refused, never silently preferred. Problems are
    raised together as a :class:`DatasetError` whose issues name the file (``origin``) and the
    dotted field, e.g. ``add.links.0.share``.
    """
    issues: list[DatasetIssue] = []
    raw: Any = document
    if isinstance(document, str):
        try:
            raw = load_yaml(document) if document.strip() else None
        except YamlError as exc:
            raise DatasetError([DatasetIssue(origin, "", "", f"not YAML/JSON: {exc}")]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise DatasetError(
            [DatasetIssue(origin, "", "", "must be a mapping in the overlay format")]
        )
    merged = dict(raw)
    for key, value in (("arrangement", arrangement), ("id", id), ("description", description)):
        if not value:
            continue
        have = merged.get(key)
        if have in (None, ""):
            merged[key] = value
        elif have != value:
            issues.append(
                DatasetIssue(
                    origin, "", key, f"the document is for {have!r} but {value!r} was asked for"
                )
            )
    if issues:
        raise DatasetError(issues)
    try:
        return Overlay.model_validate(merged)
    except ValidationError as exc:
        raise DatasetError(
            [
                DatasetIssue(origin, "", ".".join(str(x) for x in e["loc"]), str(e["msg"]))
                for e in exc.errors(include_url=False)
            ]
        ) from None


def load_overlay(path: str | Path, arrangement: str | None = None) -> Overlay:
    """:func:`parse_overlay` of a YAML or JSON file; ``arrangement`` (e.g. a command's
    ``--arrangement``) fills in the overlay's or must agree with it, as a batch row's does."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError([DatasetIssue(p.name, "", "", f"unreadable overlay: {exc}")]) from None
    return parse_overlay(text, origin=p.name, arrangement=arrangement)


def _dump(rec: BaseModel) -> dict[str, Any]:
    return rec.model_dump(by_alias=True, exclude_defaults=True)


def _model_issues(exc: ValidationError, file: str, where: str) -> list[DatasetIssue]:
    return [
        DatasetIssue(file, where, ".".join(str(x) for x in e["loc"]), str(e["msg"]))
        for e in exc.errors(include_url=False)
    ]


class _Edits:
    """An overlay's removes and changes resolved against a dataset, before validation: the
    ids removed (links of removed entities included) and the merged raw changed records, with
    the "no such record" issues. Shared by the incremental and the reference path, so both
    read an overlay the same way: per kind (sources, entities, links, arrangements) removals,
    then (entities) the links of removed entities, then changes; a change merges its fields
    over the record as it stands (a second change of one record over the first)."""

    def __init__(self, ds: Dataset, ov: Overlay, name: str) -> None:
        self.issues: list[DatasetIssue] = []
        self.removed: dict[str, dict[str, None]] = {k: {} for k in RECORD_KINDS}
        self.changes: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in RECORD_KINDS}
        for plural in ("sources", "entities", "links", "arrangements"):
            kind = _PLURALS[plural]
            table, gone = ds.table(kind), self.removed[kind]
            for rid in getattr(ov.remove, plural):
                if rid not in table or rid in gone:
                    self.issues.append(
                        DatasetIssue(name, f"remove.{plural}", rid, f"no {kind} {rid!r} to remove")
                    )
                    continue
                gone[rid] = None
            if kind == "entity" and gone:
                links, store = self.removed["link"], ds.store
                for p in store.where(entities=gone).tolist():
                    links[store.at(p).id] = None
            for i, rec in enumerate(getattr(ov.change, plural)):
                rid = rec.get("id")
                if not isinstance(rid, str) or rid not in table or rid in gone:
                    self.issues.append(
                        DatasetIssue(
                            name, f"change.{plural}[{i}]", "id", f"no {kind} {rid!r} to change"
                        )
                    )
                    continue
                have = self.changes[kind].get(rid)
                self.changes[kind][rid] = {**(have or _dump(table[rid])), **rec}

    def validated(
        self, ds: Dataset, name: str
    ) -> tuple[dict[str, dict[str, BaseModel]], list[DatasetIssue]]:
        """The changed records that validate, by kind, in table order; and the issues of those
        that do not (a record whose change is refused stays as it was for the other checks)."""
        out: dict[str, dict[str, BaseModel]] = {k: {} for k in RECORD_KINDS}
        issues: list[DatasetIssue] = []
        for kind, (_, model) in RECORD_KINDS.items():
            recs = self.changes[kind]
            for rid in sorted(recs, key=lambda r, k=kind: ds.position(k, r)):  # type: ignore[misc]
                try:
                    out[kind][rid] = model.model_validate(recs[rid])
                except ValidationError as exc:
                    issues += _model_issues(exc, name, f"change {kind} {rid}")
        return out, issues


def _additions(
    ov: Overlay, name: str, issues: list[DatasetIssue]
) -> dict[str, list[tuple[BaseModel, str]]]:
    """The added records that validate, by kind, with where they are in the overlay."""
    out: dict[str, list[tuple[BaseModel, str]]] = {k: [] for k in RECORD_KINDS}
    for plural in ("sources", "entities", "links", "arrangements"):
        kind = _PLURALS[plural]
        model = RECORD_KINDS[kind][1]
        for i, raw in enumerate(getattr(ov.add, plural)):
            where = f"add.{plural}[{i}]" + (f" (id={raw.get('id')})" if raw.get("id") else "")
            try:
                out[kind].append((model.model_validate(raw), where))
            except ValidationError as exc:
                issues += _model_issues(exc, name, where)
    return out


def _chain_digest(before: str, digest: str) -> str:
    """The digests of the overlays applied, joined by "+", folded into one hash once the chain
    is long (a store-backed server applies one overlay per write: the key must not grow with
    them). Equal chains give equal keys either way."""
    joined = "+".join(x for x in (before, digest) if x)
    if len(joined) <= 160:
        return joined
    return "chain:" + hashlib.sha256(joined.encode()).hexdigest()[:24]


def _version(ds: Dataset, ov: Overlay) -> str:
    """The variant's version: its base's plus the overlay's name and digest, the chain folded
    into one hash once it is long (see :func:`_chain_digest`)."""
    joined = f"{ds.version}+{ov.id or 'overlay'}:{ov.digest()}"
    if len(joined) <= 240:
        return joined
    root = (ds.base or ds).version
    return f"{root}+chain:{hashlib.sha256(joined.encode()).hexdigest()[:24]}"


def apply_overlay_reference(ds: Dataset, ov: Overlay, name: str = "overlay") -> Dataset:
    """The dataset with the overlay applied by the slow, obvious route: every record dumped,
    edited and validated again, and the whole dataset checked as a loaded one is
    (:func:`~.dataset.assemble`). The reference that :func:`apply_overlay` must equal (scores
    and issues, ``tests/test_overlay_incremental.py``); minutes at 1M entities."""
    edits = _Edits(ds, ov, name)
    issues = list(edits.issues)
    changed, change_issues = edits.validated(ds, name)
    located: list[tuple[str, BaseModel, str, str]] = []
    for kind, (_, model) in RECORD_KINDS.items():
        gone = edits.removed[kind]
        for rid, rec in ds.table(kind).items():
            if rid in gone:
                continue
            rec = changed[kind].get(rid) or model.model_validate(_dump(rec))
            located.append((kind, rec, *ds.locate(kind, rid)))
    issues += change_issues
    adds = _additions(ov, name, issues)
    located += [(kind, rec, name, where) for kind, recs in adds.items() for rec, where in recs]
    return assemble(located, issues, _version(ds, ov), ds.path)


def apply_overlay(ds: Dataset, ov: Overlay, name: str = "overlay") -> Dataset:
    """The dataset with the overlay applied (DatasetError if it breaks it), incrementally.

    Only the touched records are validated, with the integrity checks they can break: the
    references of added and changed records, the records that cite a removed source or name a
    removed entity or arrangement (the links of a removed entity go with it), duplicate ids,
    and the equity/vote totals of the entities whose incoming links were added or changed. The
    result shares the base's unchanged parts (the link store's columns and objects, untouched
    tables) and knows its base (:attr:`~.dataset.Dataset.base`), so the graph of a date is
    derived from the base's (:meth:`.graph.ArrangementGraph.derive`). Results and issues equal
    :func:`apply_overlay_reference`'s. An overlay of a variant applies to the variant and is
    kept as one set of edits over the loaded dataset.

    >>> from georisk.scoring.dataset import load_dataset
    >>> from georisk.scoring.engine import DEFAULT_DATA
    >>> ds = load_dataset(DEFAULT_DATA)
    >>> ov = parse_overlay({"arrangement": "tesla-nevada-lfp",
    ...                     "remove": {"links": ["catl-licence-tesla"]}})
    >>> out = apply_overlay(ds, ov)
    >>> "catl-licence-tesla" in out.links, out.base is ds, out.entities is ds.entities
    (False, True, True)
    """
    edits = _Edits(ds, ov, name)
    issues = list(edits.issues)
    changed, change_issues = edits.validated(ds, name)
    issues += change_issues
    adds = _additions(ov, name, issues)
    removed = edits.removed

    # duplicate ids: an added record whose id the dataset (as edited) or an earlier addition has
    accepted: dict[str, dict[str, tuple[BaseModel, str]]] = {k: {} for k in RECORD_KINDS}
    for kind, recs in adds.items():
        table, gone, mine = ds.table(kind), removed[kind], accepted[kind]
        for rec, where in recs:
            rid = str(getattr(rec, "id"))  # noqa: B009
            if rid in mine or (rid in table and rid not in gone):
                file, at = (name, mine[rid][1]) if rid in mine else ds.locate(kind, rid)
                issues.append(
                    DatasetIssue(
                        name,
                        where,
                        "id",
                        f"duplicate {kind} id {rid!r} (first defined in {file}: {at})",
                    )
                )
                continue
            mine[rid] = (rec, where)

    def known(kind: str, rid: str) -> bool:
        return rid in accepted[kind] or (rid in ds.table(kind) and rid not in removed[kind])

    # references: (kind order, position) → issues of that record
    kind_rank = {"entity": 0, "link": 1, "arrangement": 2}
    checks: dict[tuple[int, int], tuple[str, BaseModel, str, str]] = {}
    for kind in kind_rank:
        for rid, rec in changed[kind].items():
            checks[(kind_rank[kind], ds.position(kind, rid))] = (kind, rec, *ds.locate(kind, rid))
        for i, (rec, where) in enumerate(accepted[kind].values()):
            checks[(kind_rank[kind], 1 << 40 | i)] = (kind, rec, name, where)

    def recheck(kind: str, rids: Iterable[str]) -> None:
        for rid in rids:
            if rid in removed[kind] or rid in changed[kind]:
                continue
            rec = ds.table(kind)[rid]
            checks.setdefault(
                (kind_rank[kind], ds.position(kind, rid)), (kind, rec, *ds.locate(kind, rid))
            )

    store = ds.store
    if removed["source"]:
        srcs = set(removed["source"])
        recheck(
            "entity",
            (
                k
                for k, e in ds.entities.items()
                if not srcs.isdisjoint(e.sources)
                or any(not srcs.isdisjoint(m.sources) for m in e.lists)
            ),
        )
        recheck("link", (store.at(p).id for p in store.citing(srcs).tolist()))
        recheck(
            "arrangement",
            (
                k
                for k, a in ds.arrangements.items()
                if not srcs.isdisjoint(a.sources)
                or any(not srcs.isdisjoint(e.sources) for e in a.status)
                or (a.capacity is not None and not srcs.isdisjoint(a.capacity.sources))
            ),
        )
    if removed["arrangement"]:
        arrs = set(removed["arrangement"])
        recheck("link", (store.at(p).id for p in store.in_arrangements(arrs).tolist()))
    if removed["entity"]:
        ents = set(removed["entity"])
        recheck(
            "arrangement",
            (
                k
                for k, a in ds.arrangements.items()
                if a.focal in ents or a.taxpayer in ents or any(p.entity in ents for p in a.parties)
            ),
        )
    for key in sorted(checks):
        issues += reference_issues(*checks[key], known=known)

    out = _build(ds, ov, name, removed, changed, accepted)
    issues += _share_totals(out, changed["link"], accepted["link"], name)
    if issues:
        raise DatasetError(issues)
    return out


def _share_totals(
    out: Dataset,
    changed: dict[str, BaseModel],
    added: dict[str, tuple[BaseModel, str]],
    name: str,
) -> list[DatasetIssue]:
    """:func:`~.dataset.share_total_issues` of the targets of changed and added ownership links
    (only their totals can have grown), over every link into them, in store order."""
    targets = {
        l.target
        for l in [*changed.values(), *(r for r, _ in added.values())]
        if isinstance(l, Link) and l.kind in OWNERSHIP_KINDS
    }
    if not targets:
        return []
    st = out.store
    pos = st.where(targets=targets, kinds=OWNERSHIP_KINDS).tolist()
    links = [st.at(p) for p in pos]
    ix, n_ent = st.entity_index, len(st.entity_ids)
    unknown: dict[str, int] = {}

    def key(t: str) -> int:
        i = ix.get(t)
        return i if i is not None else n_ent + unknown.setdefault(t, len(unknown))

    n = len(links)
    T = np.fromiter((key(l.target) for l in links), np.int64, n)
    K = np.fromiter((KIND_CODES[l.kind] for l in links), np.int64, n)
    L = np.fromiter((l.share_bounds()[0] for l in links), np.float64, n)
    VF = np.fromiter(
        (l.valid_from.toordinal() if l.valid_from else NO_DATE for l in links), np.int64, n
    )
    VT = np.fromiter(
        (l.valid_to.toordinal() if l.valid_to else NO_DATE for l in links), np.int64, n
    )
    ent_ids = st.entity_ids

    def locate(m: int) -> tuple[str, str, str]:
        lid = links[m].id
        if lid in added:
            return name, added[lid][1], lid
        file, where = out.locate("link", lid)
        return file, where, lid

    def target(t: int) -> str:
        return ent_ids[t] if t < n_ent else next(k for k, v in unknown.items() if v == t - n_ent)

    return share_total_issues(T, K, L, VF, VT, locate=locate, target=target)


class OverlayOrigins(Mapping[tuple[str, str], str]):
    """Where the records of a variant were read: the added ones in the overlay, the others
    where its base has them (removed ones are not known)."""

    _base: Mapping[tuple[str, str], str]
    _removed: dict[str, dict[str, None]]
    _added: dict[tuple[str, str], tuple[str, str]]

    def __init__(
        self,
        base: Mapping[tuple[str, str], str],
        removed: dict[str, dict[str, None]],
        added: dict[tuple[str, str], tuple[str, str]],
    ) -> None:
        if isinstance(base, OverlayOrigins):  # an overlay of a variant: one level over the
            # loaded dataset's origins (a chain would recurse once per overlay applied, and a
            # store-backed server applies one per write)
            merged = {k: dict(v) for k, v in base._removed.items()}
            for kind, ids in removed.items():
                merged.setdefault(kind, {}).update(ids)
            kept = {
                key: at for key, at in base._added.items() if key[1] not in removed.get(key[0], {})
            }
            base, removed, added = base._base, merged, {**kept, **added}
        self._base, self._removed, self._added = base, removed, added

    def locate(self, kind: str, rid: str) -> tuple[str, str] | None:
        got = self._added.get((kind, rid))
        if got is not None or rid in self._removed.get(kind, {}):
            return got
        find = getattr(self._base, "locate", None)
        return find(kind, rid) if find is not None else None

    def __getitem__(self, key: tuple[str, str]) -> str:
        got = self._added.get(key)
        if got is not None:
            return f"{got[0]}: {got[1]}"
        if key[1] in self._removed.get(key[0], {}):
            raise KeyError(key)
        return self._base[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for key in self._base:
            if key[1] not in self._removed.get(key[0], {}):
                yield key
        yield from self._added

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _patched(
    table: Mapping[str, Any], gone: dict[str, None], changed: dict[str, Any], added: list[Any]
) -> Mapping[str, Any]:
    """``table`` edited (a shallow copy: the records are shared), or ``table`` itself when the
    overlay leaves it alone. A snapshot-loaded dataset's lazy table (records built on access)
    is edited as a view (its ``patched``), not copied: a copy would build every record."""
    if not (gone or changed or added):
        return table
    patch = getattr(table, "patched", None)
    if patch is not None:
        return patch(gone, changed, added)  # type: ignore[no-any-return]
    out = dict(table)
    for rid in gone:
        del out[rid]
    out.update(changed)  # in place: keys exist
    out.update((str(getattr(r, "id")), r) for r in added)  # noqa: B009
    return out


def _build(
    ds: Dataset,
    ov: Overlay,
    name: str,
    removed: dict[str, dict[str, None]],
    changed: dict[str, dict[str, BaseModel]],
    accepted: dict[str, dict[str, tuple[BaseModel, str]]],
) -> Dataset:
    """The variant's Dataset: edited tables, an :class:`~.linkstore.OverlaidStore` over the
    loaded dataset's store (an overlay of a variant is flattened into one set of edits), and
    the derived date boundaries and list members."""
    parent = ds.store
    root_ds = ds.base or ds
    root = root_ds.store
    added_links = [r for r, _ in accepted["link"].values()]
    if isinstance(parent, OverlaidStore):
        p_removed, p_changed, p_added = set(parent.removed), dict(parent.changed), parent.added
        p_map, n_root = parent.entity_map, root.n_positions
    else:
        p_removed, p_changed, p_added, p_map, n_root = set(), {}, [], None, root.n_positions
    gone_links = removed["link"]
    keep_added: list[Link] = []
    for l in p_added:
        if l.id in gone_links:
            continue
        keep_added.append(changed["link"].get(l.id, l))  # type: ignore[arg-type]
    for lid in gone_links:
        p = parent.position(lid)
        assert p is not None
        if p < n_root:
            p_removed.add(p)
            p_changed.pop(p, None)
    for lid, rec in changed["link"].items():
        p = parent.position(lid)
        assert p is not None
        if p < n_root:
            p_changed[p] = rec  # type: ignore[assignment]

    # entities: the parent's order without the removed ones, then the added ones
    gone_ents = removed["entity"]
    new_ents = list(accepted["entity"])
    p_ids = parent.entity_ids
    if not gone_ents and not new_ents:
        ids, index, e_map = p_ids, parent.entity_index, p_map
    else:
        n_root_e = len(root.entity_ids)
        if gone_ents:
            keep = np.ones(len(p_ids), dtype=bool)
            pix = parent.entity_index
            keep[[pix[e] for e in gone_ents]] = False
            newpos = np.where(keep, np.cumsum(keep) - 1, -1).astype(np.int64)
            base_map = np.arange(n_root_e, dtype=np.int64) if p_map is None else p_map
            e_map = np.where(base_map >= 0, newpos[np.maximum(base_map, 0)], -1)
            ids = [e for e, k in zip(p_ids, keep.tolist(), strict=True) if k]
        else:
            e_map = p_map
            ids = list(p_ids)
        ids += new_ents
        root_ix = root.entity_index
        extra = {e: i for i, e in enumerate(ids) if e not in root_ix} if gone_ents else {}
        if not gone_ents:
            prev = parent.entity_index
            extra = dict(prev.extra) if isinstance(prev, EntityIndex) else {}
            extra.update((e, len(p_ids) + i) for i, e in enumerate(new_ents))
        index = EntityIndex(root_ix, e_map, extra, ids)
    store = OverlaidStore(
        root,
        frozenset(p_removed),
        p_changed,
        keep_added + [l for l in added_links if isinstance(l, Link)],
        ids,
        index,
        e_map,
    )
    tables = {
        kind: _patched(
            ds.table(kind),
            removed[kind],
            changed[kind],
            [r for r, _ in accepted[kind].values()],
        )
        for kind in ("source", "entity", "arrangement")
    }
    origins = OverlayOrigins(
        ds.origin,
        removed,
        {
            (k, rid): (name, where)
            for k, recs in accepted.items()
            for rid, (_, where) in recs.items()
        },
    )
    sources = tables["source"]  # a dict: sources are never a lazy table
    out = Dataset(
        sources=sources if isinstance(sources, dict) else dict(sources),
        entities=tables["entity"],
        links=store,
        arrangements=tables["arrangement"],
        version=_version(ds, ov),
        origin=origins,
        path=ds.path,
        base=root_ds,
        overlay_digest=_chain_digest(ds.overlay_digest, ov.digest()),
    )
    _derive_caches(ds, out, removed, changed, accepted)
    return out


def _days(l: Link) -> set[int]:
    """The boundary days a link contributes (see ``Dataset.link_boundaries``)."""
    out = set()
    if l.valid_from is not None:
        out.add(l.valid_from.toordinal())
    if l.valid_to is not None and l.valid_to < dt.date.max:
        out.add(l.valid_to.toordinal() + 1)
    return out


def _derive_caches(
    ds: Dataset,
    out: Dataset,
    removed: dict[str, dict[str, None]],
    changed: dict[str, dict[str, BaseModel]],
    accepted: dict[str, dict[str, tuple[BaseModel, str]]],
) -> None:
    """Fill the variant's ``link_boundaries`` and ``listed`` from the parent's, which a
    whole-store scan would otherwise recompute."""
    old = [ds.links[l] for l in [*removed["link"], *changed["link"]]]
    new = [*changed["link"].values(), *(r for r, _ in accepted["link"].values())]
    days = {d.toordinal() for d in ds.link_boundaries}
    fresh = set().union(*(_days(l) for l in new if isinstance(l, Link)))
    maybe_gone = set().union(*(_days(l) for l in old)) - fresh
    if maybe_gone:
        st = out.store
        assert isinstance(st, OverlaidStore)
        a, touched = st.base.arrays(), st.touched
        last = dt.date.max.toordinal()
        for d in maybe_gone & days:
            hits = np.flatnonzero(
                (a.valid_from == d)
                | ((a.valid_to != NO_DATE) & (a.valid_to < last) & (a.valid_to + 1 == d))
            )
            hits = hits[~np.isin(hits, touched)]
            if a.alive is not None:
                hits = hits[a.alive[hits]]
            if not len(hits) and not any(d in _days(l) for l in [*st.changed.values(), *st.added]):
                days.discard(d)
    out.__dict__["link_boundaries"] = [dt.date.fromordinal(d) for d in sorted(days | fresh)]

    edited = {*removed["entity"], *changed["entity"], *accepted["entity"]}
    if edited:
        listed: dict[str, list[tuple[str, ListMembership]]] = {}
        for lst, members in ds.listed.items():
            kept = [(e, m) for e, m in members if e not in edited]
            if kept:
                listed[lst] = kept
        for eid in sorted(edited):
            e = out.entities.get(eid)
            for m in e.lists if e is not None else ():
                listed.setdefault(m.list_id, []).append((eid, m))
        out.__dict__["listed"] = listed
    else:
        out.__dict__["listed"] = ds.listed
    # the entities this variant edits relative to its base (nested overlays: all of them),
    # for the graph analytics that reuse the base's values elsewhere (graph.Derivation)
    out.__dict__[_EDITED] = frozenset(edited) | (edited_entities(ds) or frozenset())


#: key of the edited entity ids in a variant's ``__dict__`` (set by :func:`apply_overlay`)
_EDITED = "_overlay_edited_entities"


def edited_entities(ds: Dataset) -> frozenset[str] | None:
    """The ids of the entities a variant made by :func:`apply_overlay` adds, removes or
    changes relative to its :attr:`~.dataset.Dataset.base` (all overlays of a nested one
    together); an empty set for a loaded dataset, None when not known (a dataset that
    :func:`apply_overlay` did not make, e.g. the reference path's)."""
    if ds.base is None:
        return frozenset()
    got = ds.__dict__.get(_EDITED)
    return got if isinstance(got, frozenset) else None
