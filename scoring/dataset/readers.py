"""Readers of the record files of a dataset directory: YAML, CSV (row by row, the reference
path; bulk files go column-wise through :mod:`.bulkcsv` first) and JSONL; each yields
(kind, where, raw record) and reports what it cannot read as :class:`.core.DatasetIssue`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model

from georisk.scoring.dataset.bulkcsv import FastLinks, read_entities, read_links, split_list
from georisk.scoring.dataset.core import _LIST_FIELDS, _PLURAL, RECORD_KINDS, DatasetIssue
from georisk.scoring.dataset.linkstore import build
from georisk.scoring.dataset.yamlio import YamlError, load_yaml

__all__ = ["READERS", "dataset_files", "identifier_item", "read_bulk_csv", "validate_record"]

# --------------------------------------------------------------------------- file readers


def _yaml_records(
    path: Path, text: str, issues: list[DatasetIssue]
) -> Iterator[tuple[str, str, Any]]:
    try:
        data = load_yaml(text)  # depth-guarded, duplicate keys refused
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except YamlError as exc:
        issues.append(DatasetIssue(path.name, "", "", str(exc)))
        return
    except yaml.YAMLError as exc:  # pragma: no cover - load_yaml parsed it already
        issues.append(DatasetIssue(path.name, "", "", f"unparsable YAML: {exc}"))
        return
    if data is None:
        return
    if not isinstance(data, dict):
        issues.append(
            DatasetIssue(path.name, "", "", "top level must be a mapping of record lists")
        )
        return
    lines: dict[str, list[int]] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(value_node, yaml.SequenceNode):
                lines[str(key_node.value)] = [n.start_mark.line + 1 for n in value_node.value]
    for key, items in data.items():
        if key not in _PLURAL:
            issues.append(
                DatasetIssue(
                    path.name, "", str(key), f"unknown key; expected one of {sorted(_PLURAL)}"
                )
            )
            continue
        if items is None:
            continue
        if not isinstance(items, list):
            issues.append(DatasetIssue(path.name, "", str(key), "must be a list of records"))
            continue
        for i, item in enumerate(items):
            ln = lines.get(key, [])
            at = f" line {ln[i]}" if i < len(ln) else ""
            rid = item.get("id") if isinstance(item, dict) else None
            yield _PLURAL[key], f"{key}[{i}]{at}" + (f" (id={rid})" if rid else ""), item


def _csv_row_to_record(kind: str, row: dict[str, str | None]) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    share_range: dict[str, Any] = {}
    licence: dict[str, Any] = {}
    for key, raw in row.items():
        if key is None:
            raise ValueError("row has more cells than the header")
        value = (raw or "").strip()
        if value == "":
            continue
        if key in _LIST_FIELDS:
            rec[key] = split_list(value)
        elif key in ("share_min", "share_max"):
            share_range["minimum" if key == "share_min" else "maximum"] = value
        elif key in ("share_exclusive_min", "share_exclusive_max"):
            flag = value.lower() in ("1", "true", "yes")
            share_range["exclusive_minimum" if key.endswith("min") else "exclusive_maximum"] = flag
        elif key.startswith("licence_"):
            sub = key.removeprefix("licence_")
            licence[sub] = split_list(value) if sub == "licensor_controls" else value
        elif key == "lists" and kind == "entity":
            rec["lists"] = [_list_item(item) for item in split_list(value)]
        elif key == "identifiers" and kind == "entity":
            rec["identifiers"] = [identifier_item(item) for item in split_list(value)]
        else:
            rec[key] = value
    if share_range:
        if "share" in rec:
            raise ValueError("give either share or share_min/share_max, not both")
        rec["share"] = share_range
    if licence:
        rec["licence"] = licence
    for ident in rec.get("identifiers", []):  # a CSV identifier is sourced by its row
        ident["sources"] = list(rec.get("sources", []))
    return rec


def identifier_item(item: str) -> dict[str, Any]:
    """One ``SCHEME:ID`` item of an entities CSV ``identifiers`` cell (split at the first colon:
    schemes have none, ids may).

    >>> identifier_item("XI-LEI:5493001KJTIIGC8Y1R12")
    {'scheme': 'XI-LEI', 'id': '5493001KJTIIGC8Y1R12'}
    """
    scheme, sep, ident = item.partition(":")
    if not sep or not scheme.strip() or not ident.strip():
        raise ValueError(f"identifier {item!r} is not SCHEME:ID")
    return {"scheme": scheme, "id": ident}


def _list_item(item: str) -> dict[str, Any]:
    parts = item.split("@")
    if len(parts) != 3:
        raise ValueError(f"list membership {item!r} is not LIST@SINCE@SOURCE[+SOURCE…]")
    list_id, since, srcs = parts
    out: dict[str, Any] = {"list": list_id, "sources": [s for s in srcs.split("+") if s]}
    if since:
        out["since"] = since
    return out


def _csv_records(
    path: Path, text: str, issues: list[DatasetIssue]
) -> Iterator[tuple[str, str, Any]]:
    stem_kind = path.name.rsplit(".", 2)
    plural = stem_kind[-2] if len(stem_kind) == 3 else ""
    if plural not in ("sources", "entities", "links"):
        issues.append(
            DatasetIssue(
                path.name,
                "",
                "",
                "CSV files must be named NAME.sources.csv, NAME.entities.csv or NAME.links.csv",
            )
        )
        return
    kind = _PLURAL[plural]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            where = f"row {reader.line_num}"
            try:
                rec = _csv_row_to_record(kind, row)
            except ValueError as exc:
                issues.append(DatasetIssue(path.name, where, "", str(exc)))
                continue
            yield kind, where + (f" (id={rec['id']})" if "id" in rec else ""), rec
    except csv.Error as exc:
        issues.append(
            DatasetIssue(path.name, f"row {reader.line_num}", "", f"unparsable CSV: {exc}")
        )


@cache
def _line_models() -> TypeAdapter[Any]:
    """One JSONL line → a record, validated from JSON text in one pydantic-core call: each kind's
    model plus its ``record`` tag, as a discriminated union."""
    lines = [
        create_model(f"_{kind}_line", __base__=model, record=(Literal[kind], ...))  # type: ignore[arg-type]
        for kind, (_, model) in RECORD_KINDS.items()
    ]
    union: Any = Annotated[Union[tuple(lines)], Field(discriminator="record")]  # noqa: UP007
    return TypeAdapter(union)


def _fast_line(line: str) -> tuple[str, BaseModel] | None:
    """The record of a JSONL line validated straight from JSON (4-6x faster than json.loads and
    a model validation), or None: then the reference path reads the line and reports problems.
    Only a line whose ``id`` appears verbatim is taken, so its location reads the same."""
    try:
        rec = _line_models().validate_json(line)
    except (ValidationError, ValueError):
        return None
    kind = str(rec.record)
    rid = rec.id
    if f'"id":"{rid}"' not in line and f'"id": "{rid}"' not in line:
        return None
    base = RECORD_KINDS[kind][1]
    fields = {f: rec.__dict__[f] for f in base.model_fields}
    return kind, build(base, fields, rec.model_fields_set - {"record"})


def _jsonl_records(
    path: Path, text: str, issues: list[DatasetIssue]
) -> Iterator[tuple[str, str, Any]]:
    # lines end at "\n" (or "\r\n") only, as JSON Lines says: not at the other characters
    # str.splitlines breaks at (U+0085, U+2028, U+2029), which JSON strings may hold as they are
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        fast = _fast_line(line)
        if fast is not None:  # a validated record: load_dataset takes it as it is
            yield fast[0], f"line {n} (id={getattr(fast[1], 'id')})", fast[1]  # noqa: B009
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(DatasetIssue(path.name, f"line {n}", "", f"unparsable JSON: {exc.msg}"))
            continue
        except (ValueError, RecursionError) as exc:  # huge ints, deep nesting
            issues.append(
                DatasetIssue(path.name, f"line {n}", "", f"unreadable JSON: {str(exc)[:200]}")
            )
            continue
        if not isinstance(obj, dict):
            issues.append(DatasetIssue(path.name, f"line {n}", "", "each line must be an object"))
            continue
        kind = obj.pop("record", None)
        if not isinstance(kind, str) or kind not in RECORD_KINDS:
            issues.append(
                DatasetIssue(
                    path.name,
                    f"line {n}",
                    "record",
                    f"unknown record kind {kind!r}; expected one of {sorted(RECORD_KINDS)}",
                )
            )
            continue
        yield str(kind), f"line {n}" + (f" (id={obj['id']})" if "id" in obj else ""), obj


READERS = {
    ".yaml": _yaml_records,
    ".yml": _yaml_records,
    ".csv": _csv_records,
    ".jsonl": _jsonl_records,
}


def dataset_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.iterdir()
        if p.is_file() and p.suffix in READERS and not p.name.startswith(".")
    )


_UNION_TAGS = ("constrained-float", "function-after", "float", "int", "ShareRange", "str")


def _loc(err: Any) -> str:
    """Dotted field path of a pydantic error, without the union-branch tags pydantic adds."""
    parts = [
        str(p)
        for p in err["loc"]
        if not (isinstance(p, str) and (p.startswith(_UNION_TAGS) or "[" in p))
    ]
    return ".".join(parts)


def validate_record(
    kind: str, raw: Any, file: str, where: str, issues: list[DatasetIssue]
) -> BaseModel | None:
    model = RECORD_KINDS[kind][1]
    if not isinstance(raw, dict):
        issues.append(DatasetIssue(file, where, "", "a record must be a mapping"))
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        seen: set[str] = set()
        for err in exc.errors(include_url=False):
            loc, msg = _loc(err), str(err["msg"]).removeprefix("Value error, ")
            if loc not in seen:  # one message per field: the first union branch's
                seen.add(loc)
                issues.append(DatasetIssue(file, where, loc, msg))
        return None


def read_bulk_csv(
    f: Path,
    data: bytes,
    issues: list[DatasetIssue],
    located: list[tuple[str, BaseModel, str, str]],
    blocks: list[FastLinks],
) -> bool:
    """Read a bulk links/entities CSV column-wise (:mod:`.bulkcsv`); False when the file must
    take the reference path. Rows the strict checks refuse are validated here, one by
    one, exactly as the reference path does."""
    parts = f.name.rsplit(".", 2)
    plural = parts[-2] if len(parts) == 3 else ""
    rows: list[tuple[int, str, BaseModel | None, dict[str, str] | None]] = []
    if plural == "links":
        fl = read_links(f.name, data)
        if fl is None:
            return False
        blocks.append(fl)
        kind, slow = "link", fl.slow
    elif plural == "entities":
        fe = read_entities(f.name, data)
        if fe is None:
            return False
        kind, slow = "entity", fe.slow
        name = f.name
        if not slow:  # the common case: every row passed, already in file order
            located += [("entity", e, name, f"row {line} (id={e.id})") for line, e in fe.entities]
            return True
        rows = [(line, f"row {line} (id={e.id})", e, None) for line, e in fe.entities]
    else:
        return False
    rows += [(line, f"row {line}", None, row) for line, row in slow]
    rows.sort(key=lambda x: x[0])
    for _, where, rec, raw in rows:
        if rec is None:
            assert raw is not None
            try:
                rec_raw = _csv_row_to_record(kind, dict(raw))
            except ValueError as exc:
                issues.append(DatasetIssue(f.name, where, "", str(exc)))
                continue
            if "id" in rec_raw:
                where += f" (id={rec_raw['id']})"
            rec = validate_record(kind, rec_raw, f.name, where, issues)
        if rec is not None:
            located.append((kind, rec, f.name, where))
    return True
