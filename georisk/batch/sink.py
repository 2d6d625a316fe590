"""Where batch results go: the output (CSV, JSONL or Parquet), errors and explanations files.

The :class:`Sink` writes a chunk of results at a time, then commits it: it flushes and fsyncs
its files and appends their offsets to the :class:`~georisk.batch.journal.Journal`. Parquet
output is written as one part file per chunk (each written to a temporary name, fsynced and
renamed) and merged into the output file when the batch completes; the journal and the parts
are then removed.

Output columns: :data:`COLUMNS`, then one column per rule of the pack (its verdict). CSV cells
are text; JSONL and Parquet type them (``row`` an integer, scores and credits numbers):

>>> COLUMNS[:6]
['row', 'row_id', 'arrangement', 'overlay', 'scenario', 'as_of']
>>> typed_row({"row": "7", "overall": "41.5", "credit_usd_min": ""}, ["row", "overall"])
{'row': 7, 'overall': 41.5}
>>> typed_row({"credit_usd_min": "", "status": "announced"}, ["credit_usd_min", "status"])
{'credit_usd_min': None, 'status': 'announced'}
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from georisk.batch.errors import EXIT_USAGE, BatchError
from georisk.batch.jobs import JobResult
from georisk.batch.journal import Journal, State, fsync, fsync_dir
from georisk.scoring.report import CSV_COLUMNS

__all__ = [
    "COLUMNS",
    "ERROR_COLUMNS",
    "FLOAT_COLUMNS",
    "Sink",
    "csv_bytes",
    "output_format",
    "typed_row",
]

_LEAD = ["row", "row_id", "arrangement", "overlay", "scenario", "as_of"]
#: output columns before the one-column-per-rule verdicts (rule ids of the pack, in pack order)
COLUMNS = _LEAD + [c for c in CSV_COLUMNS if c not in _LEAD]
#: columns written as numbers in JSONL and Parquet
FLOAT_COLUMNS = {
    "technology",
    "equity",
    "policy",
    "overall",
    "confidence",
    "credit_usd_min",
    "credit_usd_max",
}
#: columns of the errors file (CSV)
ERROR_COLUMNS = ["row", "row_id", "arrangement", "reason"]


def output_format(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in (".csv", ".jsonl", ".parquet"):
        return ext[1:]
    if ext == ".ndjson":
        return "jsonl"
    raise BatchError(EXIT_USAGE, f"{path}: output must be .csv, .jsonl or .parquet")


def typed_row(row: dict[str, str], columns: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in columns:
        v = row.get(c, "")
        if c == "row":
            out[c] = int(v)
        elif c in FLOAT_COLUMNS:
            out[c] = float(v) if v != "" else None
        else:
            out[c] = v
    return out


def csv_bytes(rows: Iterable[dict[str, Any]], columns: Sequence[str], header: bool) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\r\n", extrasaction="ignore")
    if header:
        w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


class Sink:
    """Output, errors and explanations files plus the journal; commits a chunk at a time."""

    def __init__(
        self,
        output: Path,
        errors: Path,
        explanations: Path | None,
        columns: list[str],
        fingerprint: dict[str, Any],
        resume: bool,
        force: bool,
    ) -> None:
        self.output, self.errors_path, self.expl_path = output, errors, explanations
        self.fmt = output_format(output)
        self.columns, self.fingerprint = columns, fingerprint
        self.journal = Journal(output.with_name(output.name + ".journal"), fingerprint)
        self.parts_dir = output.with_name(output.name + ".parts")
        self.state = State()
        paths = [output, errors, self.journal.path, self.parts_dir] + (
            [explanations] if explanations else []
        )
        if resume and self.journal.exists():
            self.state = self.journal.read()
        elif resume and output.exists():
            raise BatchError(
                EXIT_USAGE,
                f"nothing to resume: {self.journal.path} does not exist (the batch that wrote "
                f"{output} finished); use --force to start over",
            )
        else:
            existing = [p for p in paths if p.exists()]
            if existing and not force:
                raise BatchError(
                    EXIT_USAGE,
                    f"{existing[0]} exists; use --resume to continue an interrupted batch "
                    "or --force to start over",
                )
            for p in existing:
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
        try:
            self._open(fresh=self.state.rows_done == 0 and not self.journal.exists())
        except OSError as exc:
            raise BatchError(EXIT_USAGE, f"cannot write output: {exc}") from None

    def _file(self, path: Path, offset: int, fresh: bool) -> BinaryIO:
        f: BinaryIO
        if fresh or not path.exists():
            f = path.open("wb")
        else:
            f = path.open("r+b")
            f.truncate(offset)  # drop whatever a crashed run wrote after the last commit
            f.seek(offset)
        return f

    def _open(self, fresh: bool) -> None:
        st = self.state
        if self.fmt == "parquet":
            self.out: BinaryIO | None = None
            self.parts_dir.mkdir(exist_ok=True)
            for p in self.parts_dir.glob("part-*.parquet"):
                if int(p.stem.split("-")[1]) >= st.parts:
                    p.unlink()
        else:
            self.out = self._file(self.output, st.output_bytes, fresh)
        self.err = self._file(self.errors_path, st.errors_bytes, fresh)
        self.expl = (
            self._file(self.expl_path, st.explanations_bytes, fresh) if self.expl_path else None
        )
        if fresh:
            if self.out is not None and self.fmt == "csv":
                self.out.write(csv_bytes([], self.columns, header=True))
            self.err.write(csv_bytes([], ERROR_COLUMNS, header=True))
            self._commit()

    def _commit(self) -> None:
        st = self.state
        for f in (self.out, self.err, self.expl):
            if f is not None:
                fsync(f)
        if self.out is not None:
            st.output_bytes = self.out.tell()
        st.errors_bytes = self.err.tell()
        st.explanations_bytes = self.expl.tell() if self.expl else 0
        self.journal.append(st)

    def write_chunk(self, results: Sequence[JobResult], rows_done: int) -> None:
        st = self.state
        rows = [r for res in results for r in res.rows]
        bad = [res for res in results if res.error]
        if rows:
            if self.fmt == "csv":
                assert self.out is not None
                self.out.write(csv_bytes(rows, self.columns, header=False))
            elif self.fmt == "jsonl":
                assert self.out is not None
                self.out.write(
                    b"".join(json.dumps(typed_row(r, self.columns)).encode() + b"\n" for r in rows)
                )
            else:
                self._write_part(rows, st.parts)
                st.parts += 1
        if bad:
            self.err.write(
                csv_bytes(
                    (
                        {
                            "row": r.row,
                            "row_id": r.row_id,
                            "arrangement": r.arrangement,
                            "reason": r.error,
                        }
                        for r in bad
                    ),
                    ERROR_COLUMNS,
                    header=False,
                )
            )
        if self.expl is not None:
            lines = [e for res in results for e in res.explanations]
            if lines:
                self.expl.write("".join(e + "\n" for e in lines).encode())
        st.rows_done = rows_done
        st.scored += sum(1 for r in results if not r.error)
        st.errors += len(bad)
        st.output_rows += len(rows)
        self._commit()

    def _write_part(self, rows: list[dict[str, str]], n: int) -> None:
        pa, pq = _arrow()
        path = self.parts_dir / f"part-{n:05d}.parquet"
        tmp = path.with_suffix(".tmp")
        table = pa.Table.from_pylist(
            [typed_row(r, self.columns) for r in rows], schema=self._schema()
        )
        pq.write_table(table, tmp)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        tmp.replace(path)
        fsync_dir(self.parts_dir)

    def _schema(self) -> Any:
        pa, _ = _arrow()
        return pa.schema(
            [
                (
                    c,
                    pa.int64()
                    if c == "row"
                    else pa.float64()
                    if c in FLOAT_COLUMNS
                    else pa.string(),
                )
                for c in self.columns
            ]
        )

    def finish(self, elapsed: float) -> None:
        """Merge Parquet parts, close everything and drop the journal (the batch is complete)."""
        if self.fmt == "parquet":
            _, pq = _arrow()
            tmp = self.output.with_name(self.output.name + ".tmp")
            with pq.ParquetWriter(tmp, self._schema()) as w:
                for i in range(self.state.parts):
                    w.write_table(pq.read_table(self.parts_dir / f"part-{i:05d}.parquet"))
            with tmp.open("rb+") as f:
                os.fsync(f.fileno())
            tmp.replace(self.output)
            fsync_dir(self.output.parent)
        self.close()
        self.journal.path.unlink(missing_ok=True)
        if self.fmt == "parquet":
            shutil.rmtree(self.parts_dir, ignore_errors=True)
        fsync_dir(self.output.parent)

    def close(self) -> None:
        for f in (self.out, self.err, self.expl):
            if f is not None and not f.closed:
                f.close()


def _arrow() -> tuple[Any, Any]:
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise BatchError(EXIT_USAGE, "Parquet output needs pyarrow: pip install pyarrow") from None
