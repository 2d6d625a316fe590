"""The dataset and its problems: :class:`Dataset`, :class:`DatasetIssue`, :class:`DatasetError`,
the record kinds (:data:`RECORD_KINDS`) and where each record was read (:class:`Origins`)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel

from georisk.scoring.dataset.linkstore import (
    NO_DATE,
    LinkStore,
)
from georisk.scoring.model import (
    Arrangement,
    Entity,
    Link,
    ListMembership,
    Source,
)

__all__ = ["RECORD_KINDS", "Dataset", "DatasetError", "DatasetIssue", "Origins"]

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
    #: entity id → Entity: a dict, or for a dataset opened from a snapshot an
    #: :class:`.snapshot.EntityTable` (columns; each entity built when read)
    entities: Mapping[str, Entity]
    #: link id → Link: a :class:`LinkStore` (bulk CSV links held as columns; a dict is wrapped)
    links: Mapping[str, Link]
    #: arrangement id → Arrangement (a snapshot's: validated from its JSON when read)
    arrangements: Mapping[str, Arrangement]
    version: str
    #: (kind, id) → "file: record" for records read as objects (bulk links: ``origin_of``)
    origin: Mapping[tuple[str, str], str] = field(default_factory=dict)
    path: str | None = None
    #: for a what-if variant (:func:`.overlay.apply_overlay`): the loaded dataset it varies,
    #: whose unchanged parts it shares; None for a loaded dataset
    base: Dataset | None = None
    #: the digests of the overlays applied to :attr:`base`, joined by "+" ("" for a loaded one)
    overlay_digest: str = ""
    #: the snapshot directory this dataset was opened from (:mod:`.snapshot`; another process
    #: opens the same with :func:`.snapshot.open_snapshot`), None when it was not
    snapshot: str | None = None

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
        return {
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
        rows_with = getattr(self.entities, "rows_with", None)  # a snapshot's EntityTable
        listed = (
            ((e.id, e) for e in map(self.entities.at, rows_with("lists")))  # type: ignore[attr-defined]
            if rows_with is not None
            else self.entities.items()
        )
        for eid, e in listed:
            for m in e.lists:
                out[m.list_id].append((eid, m))
        return dict(out)

    def entity_field(self, name: str) -> list[Any]:
        """One field of every entity, in entity order (``store.entity_ids``): e.g.
        ``entity_field("country")``; a snapshot's entities answer from their columns without
        building 1M Entity objects.

        >>> from georisk.scoring.model import Entity
        >>> ds = Dataset({}, {"a": Entity(id="a", name="A", kind="company", country="CN")},
        ...              {}, {}, "v")
        >>> ds.entity_field("country")
        ['CN']
        """
        field_of = getattr(self.entities, "field", None)
        if field_of is not None:
            return list(field_of(name))
        return [getattr(e, name) for e in self.entities.values()]

    def listed_on(self, list_id: str, on: dt.date) -> frozenset[str]:
        """Entities on ``list_id`` on ``on`` (remembered: every rule of every scenario asks)."""
        memo = self._listed_memo
        got = memo.get((list_id, on))
        if got is None:
            if len(memo) >= 4096:
                memo.clear()
            got = memo[(list_id, on)] = frozenset(
                eid for eid, m in self.listed.get(list_id, ()) if m.active(on)
            )
        return got

    @cached_property
    def _listed_memo(self) -> dict[tuple[str, dt.date], frozenset[str]]:
        return {}

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
