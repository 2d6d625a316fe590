"""Fuzzing ``georisk batch`` input, and ``kill -9`` of the server during a remote batch.

Random CSV/JSONL rows (valid ids, unknown ids, bad dates and scenarios, random objects,
overlays, garbage lines): the batch never crashes, exits 0 or 1, and every input record lands
exactly once — in the output (one row per scenario) or in the errors file.

Then a remote batch (``--target``) whose server is killed with SIGKILL mid-way: the batch stops
(exit 3, journal kept), and ``--resume`` against the restarted server finishes with output and
errors identical to an uninterrupted in-process run: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from georisk.cli import main
from tests.conftest import DATA

AS_OF = "2026-11-22"
GEORISK = Path(sys.executable).with_name("georisk")
GOOD = ["gotion-manteno-il", "ford-marshall", "casip", "catl-lrs"]
EXAMPLES = int(os.environ.get("GEORISK_FUZZ_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


#: no carriage returns: a bare CR in a field corrupts the CSV files (test_a_bare_cr_in_a_field)
def _text(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=st.characters(exclude_characters="\r"), max_size=n)


VALUE: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    _text(12),
    st.sampled_from([*GOOD, "", "no-such-deal", "Bad Id", "current-law", "2026-02-30"]),
)
ROW: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {},
    optional={
        "row_id": st.one_of(_text(8), st.integers()),
        "arrangement": st.one_of(st.sampled_from([*GOOD, "no-such-deal", ""]), VALUE),
        # before 2023-01-01 hits the policy-pack bug pinned in test_fuzz_rpc.py
        "as_of": st.one_of(
            st.sampled_from(["", "2026-02-30", "yesterday", "2023-01-01", "2030-06-30"]),
            st.dates(min_value=dt.date(2023, 1, 1)).map(str),
        ),
        "scenario": st.sampled_from(["", "current-law", "no-such-scenario"]),
        "overlay": st.one_of(
            VALUE,
            st.fixed_dictionaries(
                {"arrangement": st.sampled_from(GOOD)},
                optional={
                    "id": st.sampled_from(["v1", "Bad Id", "x"]),
                    "remove": st.dictionaries(
                        st.sampled_from(["links", "bogus"]),
                        st.lists(_text(6), max_size=2),
                        max_size=1,
                    ),
                },
            ),
        ),
        "bogus": VALUE,
    },
)
LINE = st.one_of(
    ROW.map(lambda r: json.dumps(r)),
    ROW.map(lambda r: json.dumps(r)),
    _text(30).filter(lambda s: "\n" not in s),
    st.just("{broken"),
    st.just("[1, 2]"),
)


def read_csv(p: Path) -> list[dict[str, str]]:
    with p.open(newline="") as f:
        return list(csv.DictReader(f))


def run(inp: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "batch",
            str(inp),
            "-o",
            str(out),
            "--scenario",
            "current-law",
            "--as-of",
            AS_OF,
            "--progress",
            "none",
            "--data",
            str(DATA),
            *extra,
        ]
    )


def check_accounting(out: Path, n_records: int) -> None:
    rows = read_csv(out)
    errors = read_csv(out.with_name(out.name + ".errors.csv"))
    scored = [r["row"] for r in rows]
    failed = [e["row"] for e in errors]
    assert len(scored) == len(set(scored)), "an input row was written twice"
    assert not set(scored) & set(failed), "a row is both scored and an error"
    assert len(scored) + len(failed) == n_records, (len(scored), len(failed), n_records)
    assert all(e["reason"] for e in errors)


@FUZZ
@given(lines=st.lists(LINE, min_size=1, max_size=12))
def test_random_jsonl_rows(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.csv"
        inp.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
        code = run(inp, out)
        assert code in (0, 1)
        # a blank line is one the reader skips: ASCII whitespace only, as bytes.strip() has it
        # (str.strip() also drops \x1c-\x1f: a line of '\x1f' is a record, unparsable)
        blank = [not l.encode("utf-8", "surrogatepass").strip() for l in lines]
        check_accounting(out, blank.count(False))


@FUZZ
@given(
    header=st.lists(
        st.sampled_from(["row_id", "arrangement", "as_of", "scenario", "overlay", "bogus"]),
        min_size=1,
        max_size=5,
        unique=True,
    ),
    rows=st.lists(st.lists(VALUE.map(str), max_size=6), max_size=10),
)
def test_random_csv_rows(header: list[str], rows: list[list[str]]) -> None:
    if not {"arrangement", "overlay"} & set(header):
        header = ["arrangement", *header]
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows(rows)
        inp.write_text(buf.getvalue(), encoding="utf-8", errors="surrogatepass")
        code = run(inp, out)
        assert code in (0, 1)
        records = [r for r in csv.reader(io.StringIO(buf.getvalue()))][1:]
        check_accounting(out, sum(1 for r in records if any(c.strip() for c in r)))


def test_binary_garbage_input(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.csv"
    inp.write_bytes(b'{"arrangement": "casip"}\n\xff\xfe\x00garbage\n{"arrangement": "no"}\n')
    assert run(inp, out) == 1
    check_accounting(out, 3)


# --------------------------------------------------------------------------- kill -9 the server


def _serve(address: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(GEORISK), "serve", "--address", address],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "GEORISK_DATA": str(DATA), "GEORISK_LOG_LEVEL": "WARNING"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("georisk serving on "):
            return proc, line.split()[-1]
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"server did not start on {address}")


def test_kill_9_of_the_server_during_a_remote_batch_then_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a different date per row: nothing is cached, so the batch takes a while
    n = 400
    lines = [
        json.dumps(
            {
                "row_id": f"r{i}",
                "arrangement": GOOD[i % 4],
                "as_of": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
            }
        )
        for i in range(n)
    ]
    lines[33] = "{broken"
    lines[77] = json.dumps({"row_id": "x", "arrangement": "no-such-deal"})
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    ref = tmp_path / "ref.csv"
    assert run(inp, ref, "--pack", "all") == 1  # what `georisk serve` scores with by default

    server, target = _serve("127.0.0.1:0")
    out = tmp_path / "out.csv"
    journal = tmp_path / "out.csv.journal"
    opts = ["--scenario", "current-law", "--as-of", AS_OF, "--progress", "none"]
    # the batch runs in process, in a thread (the server is the process killed here)
    argv = ["batch", str(inp), "-o", str(out), *opts, "--chunk-size", "10", "--target", target]
    codes: list[int] = []
    batch = threading.Thread(target=lambda: codes.append(main(argv)), daemon=True)
    batch.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and batch.is_alive():
            if journal.exists() and any(
                json.loads(x).get("rows_done", 0) > 0
                for x in journal.read_text().splitlines()[1:]
                if x.endswith("}")
            ):
                break
            time.sleep(0.005)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        batch.join(60)
    finally:
        if server.poll() is None:
            server.kill()
    err = capsys.readouterr().err
    assert codes == [3], (codes, err[-500:])  # stopped, journal kept
    done = json.loads(journal.read_text().splitlines()[-1])["rows_done"]
    assert 0 < done < n
    # the same address again (the journal's fingerprint names the target)
    server, target2 = _serve(target)
    try:
        assert target2 == target
        code = main(["batch", str(inp), "-o", str(out), *opts, "--target", target, "--resume"])
        assert code == 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert not journal.exists()
    rows = read_csv(out)
    assert len(rows) == n - 2 and len({r["row"] for r in rows}) == n - 2
    assert sorted(out.read_text().splitlines()) == sorted(ref.read_text().splitlines())
    got_err = read_csv(tmp_path / "out.csv.errors.csv")
    ref_err = read_csv(tmp_path / "ref.csv.errors.csv")
    assert [e["row"] for e in got_err] == [e["row"] for e in ref_err] == ["34", "78"]


def test_a_row_dated_before_the_pack_is_scored_not_applicable(tmp_path: Path) -> None:
    """The policy pack has no 45X parameters before 2023: the rules are reported not
    applicable for that date (this once raised KeyError); the batch scores both rows."""
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.csv"
    inp.write_text(
        json.dumps({"arrangement": "ford-marshall", "as_of": "2020-01-01"})
        + "\n"
        + json.dumps({"arrangement": "casip"})
        + "\n"
    )
    assert run(inp, out) == 0
    check_accounting(out, 2)


def test_a_bare_cr_in_a_field_keeps_the_csv_readable(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.csv"
    inp.write_text(
        json.dumps({"row_id": "a\rb", "arrangement": "casip"})
        + "\n"
        + json.dumps({"row_id": "\r"})
        + "\n"
    )
    assert run(inp, out) == 1
    check_accounting(out, 2)


def test_a_csv_row_that_is_not_utf8_is_a_row_error(tmp_path: Path) -> None:
    """Found by test_random_csv_rows: a lone surrogate (bytes that are not UTF-8) in one cell
    made the whole CSV file unreadable (exit 3); like a bad JSONL line, it is one bad row."""
    inp, out = tmp_path / "in.csv", tmp_path / "out.csv"
    inp.write_bytes(b"arrangement,row_id\ncasip,\xed\xa0\x80\nno-such,x\ncasip,ok\n")
    assert run(inp, out) == 1
    check_accounting(out, 3)
    errors = (tmp_path / "out.csv.errors.csv").read_text(encoding="utf-8")
    assert "2,,,unparsable line: not UTF-8 text" in errors.splitlines()


def test_a_jsonl_row_with_a_lone_surrogate_is_a_row_error(tmp_path: Path) -> None:
    """Found by test_random_jsonl_rows: JSON text may escape a lone UTF-16 surrogate
    (``"\\ud800"``), which decodes to a string no UTF-8 file can hold, and writing that row's
    output stopped the batch with a traceback; it is one bad row. A surrogate pair (an
    escaped emoji) is a character like any other."""
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.csv"
    inp.write_text(
        '{"row_id": "\\ud800", "arrangement": "casip"}\n'
        '{"row_id": "ok \\ud83d\\ude00", "arrangement": "casip"}\n'
    )
    assert run(inp, out) == 1
    check_accounting(out, 2)
    (err,) = read_csv(tmp_path / "out.csv.errors.csv")
    assert err["reason"] == "unparsable line: not valid Unicode: a lone surrogate (\\ud800)"
    assert [r["row_id"] for r in read_csv(out)] == ["ok \U0001f600"]
