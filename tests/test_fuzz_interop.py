"""Fuzzing every importer: mutated and hostile BODS, FtM, GLEIF and list files.

The contract (docs/import.md, "What every import does"):

* a reader never raises: whatever the bytes, every record it cannot take is a ``Rejected`` with
  the file, where in it and a reason (:func:`check_reader`);
* ``georisk import`` exits 0, 1 or 3, never with a traceback, and afterwards the output directory
  is either the previous dataset byte for byte (exit 3) or a complete dataset that
  ``load_dataset`` accepts, its rejects in ``DIR.errors.jsonl`` (exit 1) — never a partial
  dataset, never a temporary file left behind (:func:`check_import`).

Inputs start from the real files the other tests use (the BODS 0.4 official examples, the
OpenSanctions lines, the GLEIF records, the list CSVs) and are mutated structurally (keys
deleted, values of other types, huge numbers, NaN/Infinity, nested values, unicode, duplicated
and dropped records, references to records that are not there) and textually (truncation,
random bytes, Latin-1, a BOM, CRLF). The examples are few (``GEORISK_FUZZ_EXAMPLES``, default
8 a property, half for FtM; raise them for a long run): the file runs in seconds. Inputs that
broke the contract are kept at the end as regression tests (the CSV ones fixed in
``core.csv_rows``; three fixed in write.py, ftm.py and cli.py on request).
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import csv
import functools
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from georisk.cli import main
from georisk.interop import importer
from georisk.interop.core import Imported
from georisk.scoring.dataset import load_dataset

EXAMPLES = int(os.environ.get("GEORISK_FUZZ_EXAMPLES", "8"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
#: the FtM reader starts worker processes on each call: half as many examples
FUZZ_FTM = settings(FUZZ, max_examples=max(3, EXAMPLES // 2))

DATA = Path(__file__).parent / "data"
BODS_FILES = sorted((DATA / "bods").glob("*.json"))
FTM_FILES = [
    DATA / "ftm" / "opensanctions-sample.ftm.jsonl",
    DATA / "ftm" / "opensanctions-zala-excerpt.ftm.jsonl",
]
GLEIF_LEI = DATA / "gleif" / "gleif-lei-records.csv"
GLEIF_RR = DATA / "gleif" / "gleif-rr-records.csv"
LISTS = DATA / "lists" / "restricted-parties.csv"


def _needs(fmt: str) -> None:
    if fmt == "ftm":
        pytest.importorskip("followthemoney", reason="FOLLOWTHEMONEY IS NOT INSTALLED")


# --------------------------------------------------------------------------- the contract


def check_reader(fmt: str, files: list[Path]) -> Imported:
    """The reader of ``fmt`` on ``files``: it returns, and each reject says where and why."""
    out = importer(fmt)(files)
    names = {f.name for f in files}
    for r in out.rejected:
        assert r.file in names, r
        assert r.where and r.reason.strip(), r
    return out


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@functools.cache
def _previous() -> Path:
    """A small dataset (the list CSV imported) that each import replaces or leaves alone."""
    top = Path(tempfile.mkdtemp(prefix="georisk-fuzz-prev-"))
    atexit.register(shutil.rmtree, top, True)  # cached for the session; not left in /tmp
    d = top / "prev"
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["import", "lists", str(LISTS), "-o", str(d)]) == 1
    return d


def check_import(fmt: str, files: list[Path], work: Path) -> int:
    """``georisk import FMT FILES -o work/ds`` over a previous dataset: the exit status is 0, 1
    or 3; after 3 the previous dataset is there byte for byte, after 0/1 a complete one (and the
    rejects of exit 1 in ``ds.errors.jsonl``); no temporary file is left beside it."""
    ds = work / "ds"
    shutil.copytree(_previous(), ds)
    before = _snapshot(ds)
    beside = set(os.listdir(work))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["import", fmt, *map(str, files), "-o", str(ds)])
    assert code in (0, 1, 3), err.getvalue()
    errors = work / "ds.errors.jsonl"
    if code == 3:
        assert _snapshot(ds) == before, err.getvalue()
    else:
        load_dataset(ds)  # complete: the loader accepts it
        assert (code == 1) == errors.exists(), err.getvalue()
        if errors.exists():
            text = errors.read_text(encoding="utf-8")
            # one record per "\n" line, and no other character a reader may split lines at
            assert text.endswith("\n") and text.splitlines() == text.split("\n")[:-1]
            for line in text.split("\n")[:-1]:
                rec = json.loads(line)
                assert rec["file"] and rec["where"] and rec["reason"], rec
    left = set(os.listdir(work)) - beside - {"ds.errors.jsonl"}
    assert not left, f"left behind: {left}"
    shutil.rmtree(ds)
    errors.unlink(missing_ok=True)
    return code


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="georisk-fuzz-") as d:
        yield Path(d)


# --------------------------------------------------------------------------- mutations

#: values no field expects: wrong types, extremes, odd text (no lone surrogates: see the end)
HOSTILE: list[Any] = [
    None,
    True,
    0,
    -1,
    10**30,
    -(10**30),
    1e308,
    -1e-308,
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    "",
    " ",
    "x" * 3000,
    "\u0000",
    "\u202e\u0645\u0631\u062d\u0628\u0627",
    "\U0001f600 \u00e9\u0301 \ufeff",
    "\uff11\uff12",
    "line\nbreak\r\n",
    "2020-13-45",
    "0001-01-01",
    "9999-12-31",
    "-1",
    "NaN",
    "1e400",
    [],
    {},
    [[[[[]]]]],
    {"a": {"b": {"c": {"d": {}}}}},
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
hostile = st.sampled_from(HOSTILE) | json_values


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*here, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*here, i))


def mutate(doc: Any, data: st.DataObject, *, ids: list[str]) -> Any:
    """One structural change at a random place of a JSON document."""
    doc = copy.deepcopy(doc)
    paths = [p for p in _paths(doc) if p]
    if not paths:
        return data.draw(hostile)
    path = data.draw(st.sampled_from(paths))
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    op = data.draw(st.sampled_from(["delete", "replace", "replace", "id", "duplicate", "wrap"]))
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = data.draw(hostile)
    elif op == "id":  # another record's id, or one nobody has
        parent[key] = data.draw(st.sampled_from([*ids, "no-such-record", "R\u00e9c ord/1"]))
    elif op == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    else:
        parent[key] = [parent[key]]
    return doc


def mutate_bytes(raw: bytes, data: st.DataObject) -> bytes:
    """A textual change of a whole file (or none)."""
    op = data.draw(
        st.sampled_from(["none", "none", "truncate", "insert", "latin1", "bom", "crlf", "garbage"])
    )
    if op == "truncate" and raw:
        return raw[: data.draw(st.integers(0, len(raw) - 1))]
    if op == "insert":
        at = data.draw(st.integers(0, len(raw)))
        return raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    if op == "latin1":
        return raw.decode("utf-8").encode("latin-1", errors="replace")
    if op == "bom":
        return b"\xef\xbb\xbf" + raw
    if op == "crlf":
        return raw.replace(b"\n", b"\r\n")
    if op == "garbage":
        return raw + b"\n{not json,,\x00\n"
    return raw


def _dumps(doc: Any) -> str:
    return json.dumps(doc, allow_nan=True, ensure_ascii=False)


# --------------------------------------------------------------------------- BODS 0.4


@functools.cache
def _bods_statements() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in BODS_FILES:
        out.extend(json.loads(f.read_text(encoding="utf-8")))
    return out


def bods_file(data: st.DataObject) -> bytes:
    base = _bods_statements()
    ids = sorted({s.get("recordId", "") for s in base} | {s["statementId"] for s in base})
    stmts: list[Any] = [copy.deepcopy(s) for s in base]
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(stmts) - 1))
        what = data.draw(st.sampled_from(["mutate", "mutate", "drop", "repeat"]))
        if what == "drop" and len(stmts) > 1:
            del stmts[i]
        elif what == "repeat":  # a duplicate statement id
            stmts.insert(i, copy.deepcopy(stmts[i]))
        else:
            stmts[i] = mutate(stmts[i], data, ids=ids)
    as_array = data.draw(st.booleans())
    text = _dumps(stmts) if as_array else "".join(_dumps(s) + "\n" for s in stmts)
    return mutate_bytes(text.encode("utf-8"), data)


@FUZZ
@given(st.data())
def test_mutated_bods_is_read_record_by_record(data: st.DataObject) -> None:
    raw = bods_file(data)
    with workdir() as w:
        f = w / "mutated.json"
        f.write_bytes(raw)
        check_reader("bods", [f])


@FUZZ
@given(st.data())
def test_mutated_bods_imports_whole_or_not_at_all(data: st.DataObject) -> None:
    raw = bods_file(data)
    with workdir() as w:
        f = w / "in" / "mutated.json"
        f.parent.mkdir()
        f.write_bytes(raw)
        check_import("bods", [f], w)


# --------------------------------------------------------------------------- FollowTheMoney

FTM_SCHEMATA = [
    "Company",
    "Person",
    "Ownership",
    "Sanction",
    "Directorship",
    "Vessel",
    "Thing",
    "X",
]


#: of the OpenSanctions excerpt, one line of each kind (kept small: FtM parsing is slow)
ZALA_IDS = (
    "NK-abdzbEBkqyT29GyREbiURZ",
    "NK-mCEmxFfuhfdjpC8gsxH74o",
    "ru-29477727b21c0f44d9c8b2e0c3697b8e028f8f5f",
    "ru-a9285fbd0d02aebe28295dd37885191822789ad8",
    "trade-csl-220a432fb6c7fd3e4d3af470f0f86f1f8e1ca513",
    "ofac-6d023267c742427bc92220ad97daca2e17b136ff",
)


@functools.cache
def _ftm_lines() -> list[str]:
    sample, zala = (f.read_text(encoding="utf-8").splitlines() for f in FTM_FILES)
    return [*filter(None, sample), *(x for x in zala if any(f'"{i}"' in x[:80] for i in ZALA_IDS))]


def ftm_file(data: st.DataObject) -> bytes:
    lines = list(_ftm_lines())
    ids = []
    for line in lines:
        with contextlib.suppress(ValueError):
            ids.append(json.loads(line)["id"])
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        try:
            doc = json.loads(lines[i])
        except ValueError:
            continue  # the hand-written sample's broken line stays broken
        what = data.draw(st.sampled_from(["mutate", "mutate", "schema", "drop", "repeat"]))
        if what == "schema":
            doc["schema"] = data.draw(st.sampled_from(FTM_SCHEMATA))
            lines[i] = _dumps(doc)
        elif what == "drop":
            del lines[i]
        elif what == "repeat":
            lines.insert(i, lines[i])
        else:
            lines[i] = _dumps(mutate(doc, data, ids=ids))
    return mutate_bytes(("\n".join(lines) + "\n").encode("utf-8"), data)


@FUZZ_FTM
@given(st.data())
def test_mutated_ftm_is_read_line_by_line(data: st.DataObject) -> None:
    _needs("ftm")
    raw = ftm_file(data)
    with workdir() as w:
        f = w / "mutated.ftm.jsonl"
        f.write_bytes(raw)
        check_reader("ftm", [f])


@FUZZ_FTM
@given(st.data())
def test_mutated_ftm_imports_whole_or_not_at_all(data: st.DataObject) -> None:
    _needs("ftm")
    raw = ftm_file(data)
    with workdir() as w:
        f = w / "in" / "mutated.ftm.jsonl"
        f.parent.mkdir()
        f.write_bytes(raw)
        check_import("ftm", [f], w)


# --------------------------------------------------------------------------- CSV: GLEIF, lists

cells = (
    st.sampled_from(["", " ", "x" * 300, "2020-13-45", "US-XX", "ZZ", "a;b;;", "x:y", "LEI"])
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
    | st.text(alphabet=',";\n\r\t\x00\x0b\\', max_size=6)
)


def _table(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def mutate_table(table: list[list[str]], data: st.DataObject) -> bytes:
    rows = [list(r) for r in table]
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(rows) - 1))
        what = data.draw(
            st.sampled_from(["cell", "cell", "cell", "swap", "drop", "repeat", "short", "long"])
        )
        row = rows[i]
        if what == "cell" and row:
            row[data.draw(st.integers(0, len(row) - 1))] = data.draw(cells)
        elif what == "swap" and len(rows) > 2:  # another row's cell in the same column
            j = data.draw(st.integers(1, len(rows) - 1))
            c = data.draw(st.integers(0, len(row) - 1))
            if c < len(rows[j]):
                row[c] = rows[j][c]
        elif what == "drop" and len(rows) > 1:
            del rows[i]
        elif what == "repeat":
            rows.insert(i, list(row))
        elif what == "short" and row:
            del row[-1]
        else:
            row.append(data.draw(cells))
    buf = io.StringIO()
    quote_all = data.draw(st.booleans())
    csv.writer(
        buf, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\n"
    ).writerows(rows)
    return mutate_bytes(buf.getvalue().encode("utf-8"), data)


@FUZZ
@given(st.data())
def test_mutated_gleif_files_are_read_row_by_row(data: st.DataObject) -> None:
    lei, rr = mutate_table(_table(GLEIF_LEI), data), mutate_table(_table(GLEIF_RR), data)
    with workdir() as w:
        (w / "lei.csv").write_bytes(lei)
        (w / "rr.csv").write_bytes(rr)
        check_reader("gleif", [w / "rr.csv", w / "lei.csv"])


@FUZZ
@given(st.data())
def test_mutated_gleif_files_import_whole_or_not_at_all(data: st.DataObject) -> None:
    lei, rr = mutate_table(_table(GLEIF_LEI), data), mutate_table(_table(GLEIF_RR), data)
    with workdir() as w:
        (w / "in").mkdir()
        (w / "in" / "lei.csv").write_bytes(lei)
        (w / "in" / "rr.csv").write_bytes(rr)
        check_import("gleif", [w / "in" / "lei.csv", w / "in" / "rr.csv"], w)


@FUZZ
@given(st.data())
def test_mutated_list_files_import_whole_or_not_at_all(data: st.DataObject) -> None:
    raw = mutate_table(_table(LISTS), data)
    with workdir() as w:
        (w / "in").mkdir()
        (w / "in" / "lists.csv").write_bytes(raw)
        check_reader("lists", [w / "in" / "lists.csv"])
        check_import("lists", [w / "in" / "lists.csv"], w)


# --------------------------------------------------------------------------- hostile files

#: a JSON bomb: nesting far deeper than any parser's recursion limit
DEEP = 100_000


def _hostile_bods() -> dict[str, bytes]:
    return {
        "deep-array.json": b"[" * DEEP + b"]" * DEEP,
        "deep-line.json": b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"\n",
        "deep-statement.json": b'[{"statementId":"s","recordDetails":'
        + b"[" * DEEP
        + b"]" * DEEP
        + b"}]",
        "huge-int.json": b'[{"statementId":"s","x":' + b"9" * 10_000 + b"}]",
        "nan.json": b'[{"statementId":"s","recordDetails":{"interests":[{"share":{"exact":NaN}}]'
        b"}}]",
        "not-utf8.json": '[{"statementId":"Soci\xe9t\xe9"}]'.encode("latin-1"),
        "truncated.json": b'[{"statementId": "a", "recordId',
        "empty.json": b"",
        "scalar.json": b"42",
        "object.json": b'{"statementId": "s"}',
    }


@pytest.mark.parametrize("name", sorted(_hostile_bods()))
def test_hostile_bods_files(name: str) -> None:
    with workdir() as w:
        f = w / "in" / name
        f.parent.mkdir()
        f.write_bytes(_hostile_bods()[name])
        check_reader("bods", [f])
        check_import("bods", [f], w)


def _hostile_csv() -> dict[str, bytes]:
    return {
        "nul.csv": b"name,list,source\nA\x00B,bis-entity-list,BIS\n",
        "big-field.csv": b'name,list,source\n"' + b"x" * 200_000 + b'",bis-entity-list,BIS\n',
        "dup-header.csv": b"name,name,list,source\nA,B,bis-entity-list,BIS\n",
        "bad-utf8.csv": b"name,list,source\nA\xed\xa0\x80,bis-entity-list,BIS\n",
        "header-only.csv": b"name,list,source\n",
        "empty.csv": b"",
        "unclosed-quote.csv": b'name,list,source\n"A,bis-entity-list,BIS\n',
    }


@pytest.mark.parametrize("fmt", ["lists", "gleif"])
@pytest.mark.parametrize("name", sorted(_hostile_csv()))
def test_hostile_csv_files(fmt: str, name: str) -> None:
    raw = _hostile_csv()[name]
    if fmt == "gleif":
        raw = raw.replace(b"name,list,source", b"LEI,Entity.LegalName,x").replace(
            b"bis-entity-list", b"5493001KJTIIGC8Y1R12"
        )
    with workdir() as w:
        f = w / "in" / name
        f.parent.mkdir()
        f.write_bytes(raw)
        check_reader(fmt, [f])
        check_import(fmt, [f], w)


# --------------------------------------------------------------------------- regressions
# Inputs that once broke the contract. Fixed here: the CSV readers (core.csv_rows).


def _reasons(fmt: str, name: str, raw: bytes) -> list[str]:
    with workdir() as w:
        f = w / name
        f.write_bytes(raw)
        return [f"{r.where}: {r.reason}" for r in check_reader(fmt, [f]).rejected]


def test_a_repeated_csv_column_is_refused_not_silently_overwritten() -> None:
    # csv.DictReader keeps the last "name" cell: the row would have been the party "B"
    got = _reasons("lists", "dup.csv", _hostile_csv()["dup-header.csv"])
    assert got == ["row 1 (header): the header names column(s) twice: name"]


def test_a_control_character_in_a_cell_rejects_the_row() -> None:
    got = _reasons("lists", "nul.csv", _hostile_csv()["nul.csv"])
    assert got == ["row 2: column name has a control character (U+0000)"]


def test_an_oversized_csv_field_is_named_as_such() -> None:
    # the limit is the csv module's, process-wide (131072 unless a library raised it)
    old = csv.field_size_limit(131_072)
    try:
        got = _reasons("lists", "big.csv", _hostile_csv()["big-field.csv"])
    finally:
        csv.field_size_limit(old)
    assert len(got) == 1 and "longer than" in got[0] and "UTF-8" not in got[0]


# Fixed in other modules on request (write.py, ftm.py, cli.py: commit 89e6ecf).

LONE_SURROGATE_BODS = (
    b'[{"statementId":"s\\ud800","recordId":"r","recordType":"entity","statementDate":'
    b'"2020-01-01","declarationSubject":"r","recordDetails":{"isComponent":false,'
    b'"entityType":{"type":"registeredEntity"},"name":"A\\udc00"}}]'
)


def test_a_lone_surrogate_in_bods_is_rejected_not_a_crash() -> None:
    """A JSON escape of a lone surrogate (\\ud800) in a statement id once crashed the errors file
    writer after the swap (UnicodeEncodeError: a traceback, no errors file, a .part left)."""
    with workdir() as w:
        f = w / "in" / "surrogate.json"
        f.parent.mkdir()
        f.write_bytes(LONE_SURROGATE_BODS)
        # its only statement rejected: nothing to import, so the previous dataset stays (3),
        # the reject in the errors file (tests/test_interop_merge.py reads that file)
        assert check_import("bods", [f], w) == 3


def test_a_lone_surrogate_in_ftm_is_rejected_not_a_crash() -> None:
    """It once raised pydantic's ValidationError out of read_ftm."""
    _needs("ftm")
    raw = b'{"id":"a\\ud800","schema":"Company","properties":{"name":["X\\udc00"]}}\n'
    with workdir() as w:
        f = w / "surrogate.ftm.jsonl"
        f.write_bytes(raw)
        assert [r.where for r in check_reader("ftm", [f]).rejected] == ["line 1"]


def test_a_deeply_nested_ftm_line_is_one_rejected_line() -> None:
    """Its RecursionError was once taken by the CLI for a missing library: exit 2, all lost."""
    _needs("ftm")
    deep = b'{"id":"a","schema":"Company","properties":' + b"[" * DEEP + b"]" * DEEP + b"}\n"
    good = b'{"id":"b","schema":"Company","properties":{"name":["B Ltd"]}}\n'
    with workdir() as w:
        f = w / "in" / "deep.ftm.jsonl"
        f.parent.mkdir()
        f.write_bytes(deep + good)
        assert check_import("ftm", [f], w) == 1
