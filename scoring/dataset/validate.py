"""The checks of a dataset as a whole: duplicate ids (:func:`merge_records`), references
(:func:`reference_issues`), bulk links' references and ids, and equity/vote totals
(:func:`share_total_issues`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from georisk.scoring.dataset.bulkcsv import FastLinks
from georisk.scoring.dataset.core import RECORD_KINDS, DatasetIssue, Origins, _Located
from georisk.scoring.dataset.linkstore import (
    KIND_CODES,
    LINK_KINDS,
    NO_DATE,
    LinkColumns,
)
from georisk.scoring.interval import EPS
from georisk.scoring.model import (
    OWNERSHIP_KINDS,
    Arrangement,
    Entity,
    Link,
)

__all__ = ["merge_records", "reference_issues", "share_total_issues"]


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
        if rec.facts is not None:
            for fld, srcs in rec.facts.fact_sources():
                for s in srcs:
                    need("source", s, fld)
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
        _arrangement_fact_refs(rec, need)
    return out


def _arrangement_fact_refs(rec: Arrangement, need: Callable[[str, str, str], None]) -> None:
    """The references of an arrangement's EU/UK facts: markets, origins, transactions,
    tenders (entities and sources)."""
    for i, m in enumerate(rec.markets):
        if m.operator is not None:
            need("entity", m.operator, f"markets.{i}.operator")
        for s in m.sources:
            need("source", s, f"markets.{i}.sources")
    for i, o in enumerate(rec.origins):
        for s in o.sources:
            need("source", s, f"origins.{i}.sources")
    for i, t in enumerate(rec.transactions):
        need("entity", t.target, f"transactions.{i}.target")
        for j, a in enumerate(t.acquirers):
            need("entity", a, f"transactions.{i}.acquirers.{j}")
        for s in t.sources:
            need("source", s, f"transactions.{i}.sources")
    for i, tn in enumerate(rec.tenders):
        need("entity", tn.bidder, f"tenders.{i}.bidder")
        for s in tn.sources:
            need("source", s, f"tenders.{i}.sources")
        for j, o in enumerate(tn.origins):
            for s in o.sources:
                need("source", s, f"tenders.{i}.origins.{j}.sources")


def _check_references(by_kind: dict[str, dict[str, _Located]], issues: list[DatasetIssue]) -> None:
    def known(what: str, ref: str) -> bool:
        return ref in by_kind[what]

    sources = by_kind["source"]
    known_sets: set[tuple[str, ...]] = set()  # entity source lists already found all known
    for loc in by_kind["entity"].values():
        ent = loc.record
        assert isinstance(ent, Entity)
        if not ent.lists and ent.facts is None:
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
