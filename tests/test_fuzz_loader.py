"""Fuzzing the dataset loader: random and mutated YAML / CSV / JSONL datasets.

The contract (scoring/dataset.py, data/README.md): loading is all-or-nothing. Whatever the
bytes, ``load_dataset`` returns a complete, consistent :class:`Dataset` or raises
:class:`DatasetError` whose issues each name a file of the directory; never another exception,
never a half-built result.

Inputs start from small valid datasets (``tests.conftest.BASE_YAML`` and its CSV/JSONL
equivalents) and are mutated structurally (keys deleted, records duplicated, values replaced by
other types, NaN/inf, huge numbers, extreme dates, deep nesting, unknown kinds, YAML
anchors/aliases incl. recursive ones, ownership cycles) and textually (truncation, random bytes,
other encodings). Inputs that once broke the contract are kept at the end as regression tests.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from georisk.scoring.dataset import Dataset, DatasetError, load_dataset
from tests.conftest import BASE_YAML

#: GEORISK_FUZZ_EXAMPLES raises the example count for a long offline run (RELIABILITY.md)
EXAMPLES = int(os.environ.get("GEORISK_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

BASE: dict[str, Any] = yaml.safe_load(BASE_YAML)
KINDS = ("sources", "entities", "links", "arrangements")

BASE_ENTITIES_CSV = (
    "id,name,kind,country,sources,lists\n"
    "holder,Holder Ltd,company,HK,s1,dod-1260h@2025-01-07@s1\n"
    "person,Jane Doe,person,CN,s1,\n"
)
BASE_LINKS_CSV = (
    "id,kind,source,target,share,share_min,share_max,sources,status\n"
    "h-sub,equity,holder,us-sub,,0.1,0.2,s1,reported\n"
    "p-h,equity,person,holder,0.9,,,s1;s1,confirmed\n"
)
BASE_JSONL = (
    json.dumps(
        {
            "record": "link",
            "id": "lic",
            "kind": "licence",
            "source": "parent",
            "target": "us-sub",
            "sources": ["s1"],
            "licence": {"chemistry": "LFP", "signed": "2023-02-13"},
        }
    )
    + "\n"
)


# --------------------------------------------------------------------------- the contract


def check_contract(d: Path) -> Dataset | DatasetError:
    """Load ``d``; a Dataset must be consistent, a DatasetError must name files of ``d``."""
    names = {p.name for p in d.iterdir()}
    try:
        ds = load_dataset(d)
    except DatasetError as exc:
        assert exc.issues, "a DatasetError without issues"
        for issue in exc.issues:
            assert issue.file in names or issue.file == str(d), issue
            assert str(issue).startswith(issue.file), issue
            assert issue.message, issue
        return exc
    # a returned dataset is whole: every reference resolves
    for l in ds.links.values():
        assert l.source in ds.entities and l.target in ds.entities, l.id
        assert all(s in ds.sources for s in l.sources), l.id
    for a in ds.arrangements.values():
        assert a.focal in ds.entities and all(p.entity in ds.entities for p in a.parties)
    for e in ds.entities.values():
        assert all(s in ds.sources for s in e.sources), e.id
    assert ds.version.startswith("sha256:")
    return ds


def write_dir(root: Path, files: dict[str, bytes]) -> Path:
    d = root / "ds"
    d.mkdir()
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


def contract_on(files: dict[str, bytes]) -> Dataset | DatasetError:
    with tempfile.TemporaryDirectory() as tmp:
        return check_contract(write_dir(Path(tmp), files))


# --------------------------------------------------------------------------- strategies

DATES = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, 1.0000001, -0.0, 1e-320, 1e308, math.nan, math.inf, -math.inf]),
    st.text(max_size=30),
    st.sampled_from(["", "parent", "us-sub", "s1", "equity", "company", "CN", "XX", "spaceship"]),
    DATES,
    DATES.map(lambda d: d.isoformat()),
    st.sampled_from(["2024-02-30", "24-01-01", "9999-12-31", "0001-01-01", "2024-13-01"]),
)


def _nested(depth: int) -> st.SearchStrategy[Any]:
    return st.integers(min_value=1, max_value=depth).map(lambda n: _wrap(n))


def _wrap(n: int) -> Any:
    v: Any = "x"
    for i in range(n):
        v = [v] if i % 2 else {"k": v}
    return v


VALUES: st.SearchStrategy[Any] = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=4),
    st.dictionaries(st.text(max_size=8), SCALARS, max_size=3),
    _nested(300),
)


def _links(doc: dict[str, Any]) -> list[Any]:
    if not isinstance(doc.get("links"), list):
        doc["links"] = []
    links: list[Any] = doc["links"]
    return links


@st.composite
def mutated_doc(draw: st.DrawFn) -> dict[str, Any]:
    """BASE_YAML as data, with a few structural mutations."""
    doc: dict[str, Any] = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(
            st.sampled_from(
                [
                    "set",
                    "set",
                    "delete",
                    "duplicate",
                    "not-a-record",
                    "unknown-key",
                    "drop-kind",
                    "kind-not-list",
                    "cycle",
                    "many-links",
                ]
            )
        )
        kind = draw(st.sampled_from([k for k in KINDS if doc.get(k)] or ["sources"]))
        got = doc.get(kind)
        records: list[Any] = got if isinstance(got, list) else []
        if op in ("set", "delete", "duplicate", "not-a-record") and not records:
            continue
        if op == "set":
            rec = draw(st.sampled_from(records))
            if isinstance(rec, dict):
                key = draw(st.sampled_from([*rec, "share", "valid_to", "lists", "bogus"]))
                rec[key] = draw(VALUES)
        elif op == "delete":
            rec = draw(st.sampled_from(records))
            if isinstance(rec, dict) and rec:
                del rec[draw(st.sampled_from(sorted(rec)))]
        elif op == "duplicate":
            records.append(copy.deepcopy(draw(st.sampled_from(records))))
        elif op == "not-a-record":
            records[draw(st.integers(0, len(records) - 1))] = draw(SCALARS)
        elif op == "unknown-key":
            doc[draw(st.sampled_from(["widgets", "entity", "Links", ""]))] = []
        elif op == "drop-kind":
            doc.pop(kind, None)
        elif op == "kind-not-list":
            doc[kind] = draw(SCALARS)
        elif op == "cycle":  # an ownership cycle is legal data: the loader must accept it
            _links(doc).append(
                {
                    "id": "cyc",
                    "kind": "equity",
                    "source": "us-sub",
                    "target": "parent",
                    "share": draw(st.floats(0, 1)),
                    "sources": ["s1"],
                }
            )
        elif op == "many-links":
            n = draw(st.integers(1, 40))
            share = draw(st.sampled_from([0.0, 1e-6, 0.01, 0.05, 0.4]))
            _links(doc).extend(
                {
                    "id": f"m{i}",
                    "kind": "equity",
                    "source": "gov-cn",
                    "target": "plant",
                    "share": share,
                    "sources": ["s1"],
                }
                for i in range(n)
            )
    return doc


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


def to_yaml(doc: dict[str, Any]) -> bytes:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode()


def to_jsonl(doc: dict[str, Any]) -> bytes:
    plural = {
        "sources": "source",
        "entities": "entity",
        "links": "link",
        "arrangements": "arrangement",
    }
    out = io.StringIO()
    for key, records in doc.items():
        for rec in records if isinstance(records, list) else [records]:
            obj = _jsonable(rec)
            if isinstance(obj, dict):
                obj = {"record": plural.get(key, key), **obj}
            out.write(json.dumps(obj, allow_nan=True) + "\n")
    return out.getvalue().encode()


def text_mutation(data: bytes, draw: Callable[[st.SearchStrategy[Any]], Any]) -> bytes:
    op = draw(st.sampled_from(["none", "truncate", "insert", "flip", "utf16", "latin1", "bom"]))
    if op == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if op == "insert":
        at = draw(st.integers(0, len(data)))
        junk: bytes = draw(st.binary(min_size=1, max_size=8))
        return data[:at] + junk + data[at:]
    if op == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if op == "utf16":
        return data.decode("utf-8", "replace").encode("utf-16")
    if op == "latin1":
        return data.decode("utf-8", "replace").replace("Co", "Société").encode("latin-1", "replace")
    if op == "bom":
        return b"\xef\xbb\xbf" + data
    return data


# --------------------------------------------------------------------------- properties


def test_the_base_datasets_are_valid() -> None:
    files = {
        "base.yaml": BASE_YAML.encode(),
        "x.entities.csv": BASE_ENTITIES_CSV.encode(),
        "x.links.csv": BASE_LINKS_CSV.encode(),
        "x.jsonl": BASE_JSONL.encode(),
    }
    assert isinstance(contract_on(files), Dataset)
    assert isinstance(contract_on({"a.jsonl": to_jsonl(BASE)}), Dataset)
    assert isinstance(contract_on({"a.yaml": to_yaml(BASE)}), Dataset)


@FUZZ
@given(doc=mutated_doc(), fmt=st.sampled_from(["yaml", "jsonl"]), data=st.data())
def test_mutated_documents_load_or_are_refused_with_located_issues(
    doc: dict[str, Any], fmt: str, data: st.DataObject
) -> None:
    raw = to_yaml(doc) if fmt == "yaml" else to_jsonl(doc)
    raw = text_mutation(raw, data.draw)
    contract_on({f"a.{fmt}": raw})


@FUZZ
@given(data=st.data())
def test_mutated_csv_bulk_files(data: st.DataObject) -> None:
    files: dict[str, bytes] = {"base.yaml": BASE_YAML.encode()}
    for name, text in (("x.entities.csv", BASE_ENTITIES_CSV), ("x.links.csv", BASE_LINKS_CSV)):
        rows = list(csv.reader(io.StringIO(text)))
        for _ in range(data.draw(st.integers(0, 4))):
            op = data.draw(
                st.sampled_from(["cell", "drop-cell", "extra-cell", "dup-row", "header"])
            )
            r = data.draw(st.integers(0, len(rows) - 1))
            c = data.draw(st.integers(0, len(rows[r]) - 1)) if rows[r] else 0
            if op == "cell" and rows[r]:
                rows[r][c] = str(data.draw(SCALARS))
            elif op == "drop-cell" and rows[r]:
                del rows[r][c]
            elif op == "extra-cell":
                rows[r].append(data.draw(st.text(max_size=5)))
            elif op == "dup-row":
                rows.append(list(rows[r]))
            elif op == "header" and rows[0]:
                h = data.draw(st.integers(0, len(rows[0]) - 1))
                rows[0][h] = data.draw(
                    st.sampled_from(["", "id", "bogus", "share_min", "licence_x"])
                )
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        files[name] = text_mutation(out.getvalue().encode(), data.draw)
    if data.draw(st.booleans()):
        files[data.draw(st.sampled_from(["stuff.csv", "a.b.c.d.csv", "x.arrangements.csv"]))] = (
            b"id\nx\n"
        )
    contract_on(files)


@FUZZ
@given(
    name=st.sampled_from(["a.yaml", "a.yml", "a.jsonl", "a.entities.csv", "a.links.csv"]),
    blob=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
)
def test_random_bytes_in_any_format(name: str, blob: bytes) -> None:
    contract_on({"base.yaml": BASE_YAML.encode(), name: blob})


ALIASES = [
    # shared (non-recursive) anchors: a record reused, a list reused
    "sources: [&s {id: s1, title: T, url: 'https://e.org'}]\nentities:\n"
    "  - &e {id: a, name: A, kind: company, sources: [s1]}\n  - *e\n",
    # recursive sequence and mapping aliases
    "sources: &a [*a]\n",
    "entities:\n  - &e {id: x, name: X, kind: company, aliases: *e}\n",
    "entities:\n  - &e {id: x, name: X, kind: company, note: [*e]}\n",
    "entities:\n  - &e [{id: x, name: X, kind: company, lists: *e}]\n",
    # merge keys, billion laughs (shared references: must not expand)
    "entities:\n  - {<<: {id: x, name: X}, kind: company}\n",
    "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "entities:\n  - {id: x, name: X, kind: company, aliases: *f}\n",
    # tags a safe loader must refuse or keep inert
    "entities: !!python/object/apply:os.system ['true']\n",
    "entities:\n  - {id: x, name: !!binary aGVsbG8=, kind: company}\n",
    "? [a, b]\n: []\n",
    "entities: []\nentities: []\n",
]


@pytest.mark.parametrize("text", ALIASES)
def test_anchors_aliases_and_tags(text: str) -> None:
    contract_on({"a.yaml": text.encode()})


@pytest.mark.parametrize("depth", [10, 500, 1_000, 5_000, 20_000])
def test_moderately_deep_yaml_nesting_is_refused(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    contract_on({"a.yaml": f"entities:\n  - {nested}\n".encode()})


@pytest.mark.parametrize("depth", [10, 500])
def test_moderately_deep_jsonl_nesting_is_refused(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    contract_on({"a.yaml": BASE_YAML.encode(), "b.jsonl": (nested + "\n").encode()})


@pytest.mark.parametrize(
    "edit",
    [
        ("share: 0.6", "share: .nan"),
        ("share: 0.6", "share: .inf"),
        ("share: 0.6", "share: -.inf"),
        ("share: 0.6", "share: 1e999999"),
        ("share: 0.6", "share: 0." + "6" * 5000),
        ("share: 0.6", "share: {minimum: .nan, maximum: .nan}"),
        ("share: 0.6", "share: {minimum: 0.7, maximum: 0.2}"),
        ("gwh: 10", "gwh: .nan"),
        ("gwh: 10", "gwh: " + "9" * 4000),
        ("date: 2024-01-01", "date: 9999-12-31"),
        ("date: 2024-01-01", "date: 0001-01-01"),
        ("date: 2024-01-01", "date: 10000-01-01"),
        ("date: 2024-01-01", "date: 2024-01-01 10:00:00"),
        ("share: 0.6,", "share: 0.6, valid_from: 9999-12-31, valid_to: 9999-12-31,"),
        ("share: 0.6,", "share: 0.6, valid_from: 0001-01-01, valid_to: 0001-01-01,"),
        ("kind: facility", "kind: [facility]"),
        ("id: deal", "id: {deal: 1}"),
    ],
)
def test_extreme_values(edit: tuple[str, str]) -> None:
    contract_on({"a.yaml": BASE_YAML.replace(*edit).encode()})


# ------------------------------------------------------------- formerly escaping inputs
# (bugs found by this file, fixed in scoring/dataset/yamlio.py and scoring/dataset/core.py;
# kept as regressions)


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"a.yaml": BASE_YAML.replace("gwh: 10", "gwh: " + "9" * 5000)}, id="yaml-int"),
        pytest.param(
            {"a.yaml": BASE_YAML.replace("date: 2024-01-01", "date: 0000-01-01")}, id="yaml-year0"
        ),
        pytest.param(
            {"a.yaml": BASE_YAML, "b.jsonl": '{"record": "entity", "id": ' + "9" * 5000 + "}\n"},
            id="jsonl-int",
        ),
        pytest.param(
            {"a.yaml": BASE_YAML, "b.jsonl": "[" * 1_000 + "]" * 1_000 + "\n"},
            id="jsonl-deep-1000",
        ),
        pytest.param(
            {"a.yaml": BASE_YAML, "b.jsonl": '{"record": ["entity"], "id": "z"}\n'},
            id="jsonl-record-list",
        ),
    ],
)
def test_known_escapes(files: dict[str, str]) -> None:
    contract_on({k: v.encode() for k, v in files.items()})


def test_deeply_nested_yaml_does_not_crash_the_process(tmp_path: Path) -> None:
    n = 100_000
    d = tmp_path / "ds"
    d.mkdir()
    (d / "a.yaml").write_text("entities:\n  - " + "[" * n + "]" * n + "\n")
    georisk = Path(sys.executable).with_name("georisk")
    r = subprocess.run(
        [str(georisk), "validate", str(d)], capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 3, (r.returncode, r.stderr[-500:])


def test_duplicate_yaml_keys_are_refused() -> None:
    twice = BASE_YAML + "\nlinks: []\n"
    result = contract_on({"a.yaml": twice.encode()})
    assert isinstance(result, DatasetError)
