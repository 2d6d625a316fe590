"""Record documents: canonical JSON, etags, update masks (AIP-134) and end dates (pure
functions; the store calls them inside its write transaction).

A record's document is the JSON object the dataset's JSONL format writes for it (field names
as on disk, defaults left out; ``interop.write.record_line`` without the ``record`` key).

>>> doc = {"id": "a-b", "kind": "equity", "source": "a", "target": "b", "share": 0.6,
...        "sources": ["s1"]}
>>> apply_mask("link", doc, {"share": 0.4, "note": "x"}, ["share"])["share"]
0.4
>>> check_mask("link", ["share", "licence.chemistry", "colour"])
['colour']
>>> field_path("link", "lists.0.sources")
'link.lists[0].sources'
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from georisk.scoring.dataset import RECORD_KINDS

__all__ = [
    "KINDS",
    "apply_end",
    "apply_mask",
    "canonical",
    "check_mask",
    "etag",
    "field_path",
    "fingerprint",
    "plural",
]

#: the record kinds a store holds, in the order ``init_from`` writes them (references first)
KINDS = ("source", "entity", "arrangement", "link")


def plural(kind: str) -> str:
    """``links`` for ``link``: the collection name in resource names (``links/ID``)."""
    return RECORD_KINDS[kind][0]


def canonical(rec: BaseModel) -> str:
    """The record's canonical JSON text (on-disk names, defaults left out)."""
    return json.dumps(
        rec.model_dump(mode="json", by_alias=True, exclude_defaults=True), ensure_ascii=False
    )


def etag(seq: int, doc: str) -> str:
    """The etag of a record version: changes whenever the record is written.

    >>> etag(3, "{}") == etag(3, "{}") != etag(4, "{}")
    True
    """
    return hashlib.sha256(f"{seq}\0{doc}".encode()).hexdigest()[:20]


def fingerprint(request: Mapping[str, Any]) -> str:
    """A digest of a write request (everything but its request id), to tell a retry (same
    digest) from a reuse of the request id for another request."""
    text = json.dumps(request, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def field_path(kind: str, loc: str) -> str:
    """The user-facing path of a loader field location: ``kind.`` prefix, list indices in
    brackets (``sources.0`` → ``entity.sources[0]``)."""
    out = ""
    for part in loc.split(".") if loc else []:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return kind + out


def refine_reference(kind: str, doc: Mapping[str, Any], loc: str, message: str) -> str:
    """The field path of an unknown reference, down to the list item when the loader names
    only the list (``sources`` + "unknown source 's9'" → ``entity.sources[1]``)."""
    m = re.fullmatch(r"unknown \w+ '(.*)'", message)
    node: Any = doc
    for part in loc.split(".") if loc else []:
        node = node[int(part)] if isinstance(node, list) else (node or {}).get(part)
    if m and isinstance(node, list) and m.group(1) in node:
        loc = f"{loc}.{node.index(m.group(1))}"
    return field_path(kind, loc)


# --------------------------------------------------------------------------- update masks


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class a field holds (``X | None`` included), None for anything else (scalars,
    lists, unions of a number and a model such as ``share``)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return _model_of(args[0]) if len(args) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """On-disk field name (alias) → annotation."""
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


def check_mask(kind: str, mask: Sequence[str]) -> list[str]:
    """The paths of ``mask`` that name no field of the kind's record (dotted paths reach into
    nested objects such as ``licence.chemistry``; list items and ``share`` bounds are replaced
    whole, as AIP-134 has it). ``*`` names every field."""
    bad = []
    for path in mask:
        if path == "*":
            continue
        model: type[BaseModel] | None = RECORD_KINDS[kind][1]
        for part in path.split("."):
            fields = _fields(model) if model is not None else {}
            if part not in fields:
                bad.append(path)
                break
            model = _model_of(fields[part])
    return bad


def apply_mask(
    kind: str, doc: Mapping[str, Any], patch: Mapping[str, Any], mask: Sequence[str]
) -> dict[str, Any]:
    """``doc`` with the fields of ``mask`` taken from ``patch`` (AIP-134): a path in the mask
    and absent from the patch is cleared (back to its default); fields of the patch outside the
    mask are ignored; ``*`` replaces the whole record. The mask must pass :func:`check_mask`."""
    if "*" in mask:
        return dict(copy.deepcopy(patch))
    out = copy.deepcopy(dict(doc))
    for path in mask:
        *head, last = path.split(".")
        src: Any = patch
        dst: Any = out
        for part in head:
            src = src.get(part) if isinstance(src, Mapping) else None
            if not isinstance(dst.get(part), dict):
                dst[part] = {}
            dst = dst[part]
        if isinstance(src, Mapping) and last in src:
            dst[last] = copy.deepcopy(src[last])
        else:
            dst.pop(last, None)
    return out


def apply_end(
    kind: str, doc: Mapping[str, Any], valid_to: dt.date, list_id: str | None
) -> tuple[dict[str, Any], str]:
    """``doc`` end-dated on ``valid_to`` (inclusive) and the field set: a link's ``valid_to``,
    or the ``until`` of an entity's open memberships of ``list_id``. Raises ``LookupError``
    (field, reason) when there is nothing to end."""
    out = copy.deepcopy(dict(doc))
    day = valid_to.isoformat()
    if kind == "link":
        if list_id is not None:
            raise LookupError("list_id", "list_id applies to an entity's list membership")
        out["valid_to"] = day
        return out, "link.valid_to"
    if kind == "entity":
        if list_id is None:
            raise LookupError(
                "list_id", "an entity has no valid time: name the list membership to end"
            )
        hits = [
            i
            for i, m in enumerate(out.get("lists", []))
            if m.get("list") == list_id and m.get("until") is None
        ]
        if not hits:
            raise LookupError("list_id", f"no open membership of list {list_id!r}")
        for i in hits:
            out["lists"][i]["until"] = day
        return out, f"entity.lists[{hits[0]}].until"
    raise LookupError("kind", f"a {kind} has no valid time: end applies to links and lists")
