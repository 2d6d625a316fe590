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

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from georisk.scoring.dataset import (
    RECORD_KINDS,
    Dataset,
    DatasetError,
    DatasetIssue,
    assemble,
)
from georisk.scoring.yamlio import YamlError, load_yaml

__all__ = ["Overlay", "apply_overlay", "load_overlay", "parse_overlay"]

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


def load_overlay(path: str | Path) -> Overlay:
    """:func:`parse_overlay` of a YAML or JSON file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError([DatasetIssue(p.name, "", "", f"unreadable overlay: {exc}")]) from None
    return parse_overlay(text, origin=p.name)


def apply_overlay(ds: Dataset, ov: Overlay, name: str = "overlay") -> Dataset:
    """The dataset with the overlay applied, validated whole (DatasetError if it breaks it)."""
    issues: list[DatasetIssue] = []
    tables: dict[str, dict[str, dict[str, Any]]] = {
        "source": {
            k: v.model_dump(by_alias=True, exclude_defaults=True) for k, v in ds.sources.items()
        },
        "entity": {
            k: v.model_dump(by_alias=True, exclude_defaults=True) for k, v in ds.entities.items()
        },
        "link": {
            k: v.model_dump(by_alias=True, exclude_defaults=True) for k, v in ds.links.items()
        },
        "arrangement": {
            k: v.model_dump(by_alias=True, exclude_defaults=True)
            for k, v in ds.arrangements.items()
        },
    }
    for plural in ("sources", "entities", "links", "arrangements"):
        kind = _PLURALS[plural]
        for rid in getattr(ov.remove, plural):
            if tables[kind].pop(rid, None) is None:
                issues.append(
                    DatasetIssue(name, f"remove.{plural}", rid, f"no {kind} {rid!r} to remove")
                )
        if kind == "entity":
            gone = set(ov.remove.entities)
            tables["link"] = {
                k: v
                for k, v in tables["link"].items()
                if v["source"] not in gone and v["target"] not in gone
            }
        for i, rec in enumerate(getattr(ov.change, plural)):
            rid = rec.get("id")
            if rid not in tables[kind]:
                issues.append(
                    DatasetIssue(
                        name, f"change.{plural}[{i}]", "id", f"no {kind} {rid!r} to change"
                    )
                )
                continue
            tables[kind][rid] = {**tables[kind][rid], **rec}
    located: list[tuple[str, BaseModel, str, str]] = []
    for kind, recs in tables.items():
        model = RECORD_KINDS[kind][1]
        for rid, raw in recs.items():
            try:
                located.append(
                    (kind, model.model_validate(raw), ds.origin_of(kind, rid) or "dataset", rid)
                )
            except ValidationError as exc:  # only a changed record can fail here
                issues += [
                    DatasetIssue(
                        name,
                        f"change {kind} {rid}",
                        ".".join(str(x) for x in e["loc"]),
                        str(e["msg"]),
                    )
                    for e in exc.errors(include_url=False)
                ]
    for plural in ("sources", "entities", "links", "arrangements"):
        kind = _PLURALS[plural]
        model = RECORD_KINDS[kind][1]
        for i, raw in enumerate(getattr(ov.add, plural)):
            where = f"add.{plural}[{i}]" + (f" (id={raw.get('id')})" if raw.get("id") else "")
            try:
                located.append((kind, model.model_validate(raw), name, where))
            except ValidationError as exc:
                issues += [
                    DatasetIssue(name, where, ".".join(str(x) for x in e["loc"]), str(e["msg"]))
                    for e in exc.errors(include_url=False)
                ]
    return assemble(located, issues, f"{ds.version}+{ov.id or 'overlay'}:{ov.digest()}", ds.path)
