"""Batch scoring of many arrangements and what-if overlays (``georisk batch``).

Input rows (CSV or JSONL) name an arrangement and/or carry an overlay; each row is scored under
one or more scenarios and written as one output row per (input row, scenario) to CSV, JSONL or
Parquet. Rows are read and committed in chunks: after each chunk the output, errors and
explanations files are flushed and fsynced, then a journal record with the byte offsets (and,
for Parquet, the number of part files) is appended and fsynced. ``resume`` truncates the files
back to the last record and carries on, so a crash or ``kill -9`` loses and duplicates nothing.
See ``docs/batch.md``.

Engines: in-process (default), local worker processes (``workers``: the engine is loaded once
per process), a remote georisk server (``remote``: a :class:`RemoteFactory` such as
``georisk.batch_remote.RemoteOptions``, streaming calls — the gRPC side lives in ``server/``, so
``scoring`` never imports it), and Dask (``dask_scheduler`` /
``dask_local``). Work always goes out in partitions of a chunk, never one task per row, and
results are written in input order whatever the engine.

>>> COLUMNS[:6]
['row', 'row_id', 'arrangement', 'overlay', 'scenario', 'as_of']
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import importlib
import io
import json
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import yaml
from pydantic import ValidationError

from georisk.scoring import clock
from georisk.scoring.dataset import DatasetError
from georisk.scoring.engine import DEFAULT_DATA, ArrangementScore, Engine, NotFoundError, View
from georisk.scoring.overlay import Overlay
from georisk.scoring.policy import load_pack, load_scenarios
from georisk.scoring.report import CSV_COLUMNS, csv_row
from georisk.scoring.score import ScenarioOutcome

__all__ = [
    "COLUMNS",
    "EXIT_DATA",
    "EXIT_FAILED_ROWS",
    "EXIT_OK",
    "EXIT_USAGE",
    "BatchError",
    "BatchOptions",
    "BatchSummary",
    "Job",
    "JobResult",
    "engine_for",
    "run_batch",
    "score_jobs",
]

EXIT_OK, EXIT_FAILED_ROWS, EXIT_USAGE, EXIT_DATA = 0, 1, 2, 3

_LEAD = ["row", "row_id", "arrangement", "overlay", "scenario", "as_of"]
#: output columns before the one-column-per-rule verdicts (rule ids of the pack, in pack order)
COLUMNS = _LEAD + [c for c in CSV_COLUMNS if c not in _LEAD]
_FLOATS = {
    "technology",
    "equity",
    "policy",
    "overall",
    "confidence",
    "credit_usd_min",
    "credit_usd_max",
}
ERROR_COLUMNS = ["row", "row_id", "arrangement", "reason"]
JOURNAL_VERSION = 1
log = logging.getLogger(__name__)


class BatchError(Exception):
    """A problem that stops the batch before or while it runs, with the exit code to use."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class Job:
    """One input row, parsed. ``error`` set: the row is refused without scoring."""

    seq: int  # 0-based index of the input record (what the journal counts)
    row: int  # line number in the input file where the record starts (CSV header = line 1)
    row_id: str
    arrangement: str
    overlay: dict[str, Any] | None = None
    as_of: dt.date | None = None
    scenarios: tuple[str, ...] = ()
    error: str | None = None


@dataclass
class JobResult:
    seq: int
    row: int
    row_id: str
    arrangement: str
    rows: list[dict[str, str]] = field(default_factory=list)
    explanations: list[str] = field(default_factory=list)
    error: str | None = None


def _result(job: Job, error: str | None = None) -> JobResult:
    return JobResult(job.seq, job.row, job.row_id, job.arrangement, error=error or job.error)


# --------------------------------------------------------------------------- in-process scoring


@dataclass
class _BatchEngine(Engine):
    """An Engine that memoizes scenario evaluations.

    ``Engine.score`` evaluates every scenario (the policy axis needs them all) whichever scenario
    it reports, so scoring one row under six scenarios would evaluate 36 scenario outcomes;
    with this cache it evaluates six. The results are identical: evaluation is deterministic
    for (dataset version, arrangement, date, scenario).
    """

    _memo: dict[tuple[str, str, dt.date, str], ScenarioOutcome] = field(
        default_factory=dict, repr=False
    )

    def evaluate(
        self, arrangement: str, on: dt.date, scenario: str, ds: Any = None
    ) -> ScenarioOutcome:
        key = ((ds or self.dataset).version, arrangement, on, scenario)
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) > 512:
                self._memo.clear()
            hit = self._memo[key] = super().evaluate(arrangement, on, scenario, ds)
        return hit


_ENGINES: dict[tuple[str, str], _BatchEngine] = {}


def engine_for(data_dir: str | Path, pack: str = "us") -> Engine:
    """The engine of ``data_dir``, loaded once per process (workers call this per partition)."""
    key = (str(Path(data_dir).resolve()), pack)
    e = _ENGINES.get(key)
    if e is None:
        base = Engine.from_dir(data_dir, pack=pack)
        e = _ENGINES[key] = _BatchEngine(base.dataset, base.pack, base.scenarios)
        # The dataset is millions of long-lived objects: keep the cyclic GC from traversing
        # them again and again (~25% of scoring time on a 20k-entity set), and from writing
        # to every page of a forked worker's copy-on-write heap.
        gc.collect()
        gc.freeze()
    return e


def _warm(data_dir: str, pack: str) -> str:
    """Worker initializer / ``client.run`` target: load the engine now; its dataset version."""
    return engine_for(data_dir, pack).dataset.version


def _rule_columns(row: dict[str, str], s: ArrangementScore, rules: Sequence[str]) -> None:
    got = {v.rule: v.verdict.value for v in s.verdicts}
    for r in rules:
        row[r] = got.get(r, "")


def _lead(job: Job, scenario: str) -> dict[str, str]:
    return {"row": str(job.row), "row_id": job.row_id, "scenario": scenario}


def _explanation(job: Job, doc: dict[str, Any]) -> str:
    return json.dumps({"row": job.row, "row_id": job.row_id, "score": doc}, sort_keys=False)


def score_jobs(engine: Engine, jobs: Sequence[Job], explain: bool = False) -> list[JobResult]:
    """Score jobs in-process: every requested scenario of a row, or the row's error."""
    rules = [r.id for r in engine.pack.rules]
    out: list[JobResult] = []
    for job in jobs:
        res = _result(job)
        out.append(res)
        if job.error:
            continue
        try:
            ov = Overlay.model_validate(job.overlay) if job.overlay is not None else None
            for sc in job.scenarios:
                s = engine.score(
                    job.arrangement,
                    job.as_of,
                    sc,
                    view=View.FULL if explain else View.BASIC,
                    overlay=ov,
                    remedies=False,
                )
                row = {**csv_row(s), **_lead(job, sc)}
                _rule_columns(row, s, rules)
                res.rows.append(row)
                if explain:
                    res.explanations.append(
                        _explanation(job, s.model_dump(mode="json", by_alias=True))
                    )
        except NotFoundError as exc:
            res.error = f"unknown {exc.what} {exc.key!r}"
        except DatasetError as exc:
            res.error = "bad overlay: " + "; ".join(str(i) for i in exc.issues[:5])
        except ValidationError as exc:
            res.error = "bad overlay: " + _pydantic_msg(exc)
        except Exception as exc:  # a bad row never stops the batch
            res.error = f"scoring failed: {type(exc).__name__}: {exc}"
        if res.error:
            res.rows, res.explanations = [], []
    return out


def _score_partition(data_dir: str, pack: str, explain: bool, jobs: list[Job]) -> list[JobResult]:
    return score_jobs(engine_for(data_dir, pack), jobs, explain)


def _pydantic_msg(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(x) for x in e['loc']) or '(document)'}: {e['msg']}"
        for e in exc.errors(include_url=False)[:5]
    )


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class _Defaults:
    as_of: dt.date
    scenarios: tuple[str, ...]
    known_scenarios: frozenset[str]


def input_format(path: Path) -> str:
    ext = path.suffix.lower()
    if ext == ".csv":
        return "csv"
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    raise BatchError(EXIT_USAGE, f"{path}: input must be .csv or .jsonl")


def output_format(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in (".csv", ".jsonl", ".parquet"):
        return ext[1:]
    if ext == ".ndjson":
        return "jsonl"
    raise BatchError(EXIT_USAGE, f"{path}: output must be .csv, .jsonl or .parquet")


class _OverlayFiles:
    def __init__(self, base: Path) -> None:
        self.base, self.cache = base, dict[str, Any]()

    def load(self, name: str) -> Any:
        if name not in self.cache:
            try:
                self.cache[name] = yaml.safe_load((self.base / name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                self.cache[name] = ValueError(f"overlay_file {name!r} unreadable: {exc}")
        return self.cache[name]


def _job(
    seq: int, row: int, rec: dict[str, Any], d: _Defaults, files: _OverlayFiles, csv_mode: bool
) -> Job:
    rid = rec.get("row_id")
    row_id = "" if rid is None else str(rid)
    aid = rec.get("arrangement")
    arrangement = "" if aid is None else str(aid).strip()

    def bad(reason: str) -> Job:
        return Job(seq, row, row_id, arrangement, error=reason)

    raw: Any = rec.get("overlay")
    if csv_mode and isinstance(raw, str):
        raw = raw.strip() or None
        if raw is not None:
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as exc:
                return bad(f"bad overlay: not JSON: {exc}")
    ofile = rec.get("overlay_file")
    if raw is None and ofile not in (None, ""):
        raw = files.load(str(ofile))
        if isinstance(raw, ValueError):
            return bad(f"bad overlay: {raw}")
    overlay: dict[str, Any] | None = None
    if raw is not None:
        if not isinstance(raw, dict):
            return bad("bad overlay: must be an object in the overlay format (scoring/overlay.py)")
        raw = dict(raw)
        if arrangement and raw.setdefault("arrangement", arrangement) != arrangement:
            return bad(
                f"bad overlay: it is for {raw['arrangement']!r} but the row names {arrangement!r}"
            )
        try:
            ov = Overlay.model_validate(raw)
        except ValidationError as exc:
            return bad("bad overlay: " + _pydantic_msg(exc))
        overlay = ov.model_dump(mode="json", exclude_defaults=True)
        arrangement = ov.arrangement
    if not arrangement:
        return bad("no arrangement and no overlay")
    as_of = d.as_of
    val = rec.get("as_of")
    if val not in (None, ""):
        try:
            as_of = dt.date.fromisoformat(str(val).strip())
        except ValueError:
            return bad(f"bad date {val!r} (expected YYYY-MM-DD)")
    scenarios = d.scenarios
    sc = rec.get("scenario")
    if sc not in (None, ""):
        if str(sc) not in d.known_scenarios:
            return bad(f"unknown scenario {sc!r}")
        scenarios = (str(sc),)
    return Job(seq, row, row_id, arrangement, overlay, as_of, scenarios)


def read_jobs(path: Path, d: _Defaults) -> Iterator[Job]:
    """Parse the input into jobs, in order; a bad record becomes a job with ``error`` set."""
    files = _OverlayFiles(path.parent)
    seq = 0
    if input_format(path) == "jsonl":
        with path.open("rb") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    if not isinstance(rec, dict):
                        raise ValueError("not a JSON object")
                except (ValueError, UnicodeDecodeError) as exc:
                    yield Job(seq, lineno, "", "", error=f"unparsable line: {exc}")
                else:
                    yield _job(seq, lineno, rec, d, files, csv_mode=False)
                seq += 1
        return
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            return
        header = [h.strip() for h in header]
        if not {"arrangement", "overlay", "overlay_file"} & set(header):
            raise BatchError(
                EXIT_DATA,
                f"{path}: the CSV header needs an 'arrangement', 'overlay' or 'overlay_file' "
                f"column (got {', '.join(header)})",
            )
        start = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Job(seq, start, "", "", error=f"unparsable line: {exc}")
            else:
                if not any(c.strip() for c in cells):
                    start = reader.line_num + 1
                    continue
                if len(cells) > len(header):
                    yield Job(
                        seq,
                        start,
                        "",
                        "",
                        error=f"unparsable line: {len(cells)} fields, the header has {len(header)}",
                    )
                else:
                    rec = dict(zip(header, cells, strict=False))
                    yield _job(seq, start, rec, d, files, csv_mode=True)
            seq += 1
            start = reader.line_num + 1


def _count_records(path: Path) -> int:
    n, last = 0, b"\n"
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    n += last != b"\n"
    return max(0, n - (input_format(path) == "csv"))


# --------------------------------------------------------------------------- engines


class _Backend(Protocol):
    parts: int  # partitions per chunk

    def run(self, parts: Iterable[list[Job]]) -> Iterator[list[JobResult]]: ...

    def close(self) -> None: ...


def _ordered(
    submit: Callable[[list[Job]], Any], parts: Iterable[list[Job]], window: int
) -> Iterator[list[JobResult]]:
    """Results of submitted partitions in submission order, at most ``window`` in flight."""
    pending: deque[Any] = deque()
    try:
        for p in parts:
            pending.append(submit(p))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()


class _InProcess:
    parts = 1

    def __init__(self, engine: Engine, explain: bool) -> None:
        self.engine, self.explain = engine, explain

    def run(self, parts: Iterable[list[Job]]) -> Iterator[list[JobResult]]:
        for p in parts:
            yield score_jobs(self.engine, p, self.explain)

    def close(self) -> None:
        pass


class _Processes:
    """Local worker processes; each loads the engine once (its initializer).

    On Linux the pool forks after the parent has loaded the engine, so the initializer finds
    it in the module cache and the workers share its memory copy-on-write.
    """

    def __init__(self, n: int, data_dir: str, pack: str, explain: bool) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.pool = ProcessPoolExecutor(
            max_workers=n,
            mp_context=multiprocessing.get_context(method),
            initializer=_warm,
            initargs=(data_dir, pack),
        )
        self.parts, self.args = n, (data_dir, pack, explain)

    def run(self, parts: Iterable[list[Job]]) -> Iterator[list[JobResult]]:
        def submit(p: list[Job]) -> Future[list[JobResult]]:
            return self.pool.submit(_score_partition, *self.args, p)

        return _ordered(submit, parts, 2 * self.parts)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Dask:
    """A Dask cluster: a scheduler address, or a LocalCluster on 127.0.0.1 started here."""

    def __init__(
        self, scheduler: str | None, local: int | None, data_dir: str, pack: str, explain: bool
    ) -> None:
        try:
            distributed: Any = importlib.import_module("dask.distributed")
        except ImportError:
            raise BatchError(
                EXIT_USAGE,
                "dask is not installed: pip install 'dask[distributed]' (see docs/batch.md)",
            ) from None
        self.tmp: str | None = None
        self.cluster: Any = None
        if local:
            self.tmp = tempfile.mkdtemp(prefix="georisk-dask-")
            self.cluster = distributed.LocalCluster(
                n_workers=local,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                local_directory=self.tmp,
                silence_logs=logging.ERROR,
            )
        self.client: Any = distributed.Client(self.cluster or scheduler, timeout="30s")
        if scheduler and not local:
            self.client.wait_for_workers(1, timeout=60)
        try:  # load the engine once in every worker, now (a bad dataset fails here)
            versions = self.client.run(_warm, data_dir, pack)
        except DatasetError as exc:
            self.close()
            raise BatchError(
                EXIT_DATA, "dataset refused by a Dask worker: " + "; ".join(map(str, exc.issues))
            ) from None
        except Exception as exc:
            self.close()
            raise BatchError(EXIT_DATA, f"Dask workers could not load {data_dir}: {exc}") from None
        self.parts = max(1, len(versions))
        self.args = (data_dir, pack, explain)

    def run(self, parts: Iterable[list[Job]]) -> Iterator[list[JobResult]]:
        def submit(p: list[Job]) -> Any:
            return self.client.submit(_score_partition, *self.args, p, pure=False)

        return _ordered(submit, parts, 2 * self.parts)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


class RemoteRunner(Protocol):
    """A scoring backend outside this process (implemented in ``georisk.batch_remote``, so that
    this library never imports gRPC)."""

    parts: int
    scenarios: list[str]
    rules: list[str]

    def run(self, parts: Iterable[list[Job]]) -> Iterator[list[JobResult]]: ...

    def close(self) -> None: ...


class RemoteFactory(Protocol):
    target: str

    def open(self, explain: bool) -> RemoteRunner: ...


# --------------------------------------------------------------------------- output


def _fsync(f: BinaryIO) -> None:
    f.flush()
    os.fsync(f.fileno())


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _typed(row: dict[str, str], columns: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in columns:
        v = row.get(c, "")
        if c == "row":
            out[c] = int(v)
        elif c in _FLOATS:
            out[c] = float(v) if v != "" else None
        else:
            out[c] = v
    return out


def _csv_bytes(rows: Iterable[dict[str, Any]], columns: Sequence[str], header: bool) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\r\n", extrasaction="ignore")
    if header:
        w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


@dataclass
class _State:
    """What the journal records after each committed chunk."""

    rows_done: int = 0  # input records committed
    output_bytes: int = 0
    errors_bytes: int = 0
    explanations_bytes: int = 0
    parts: int = 0  # Parquet part files committed
    scored: int = 0  # input rows scored
    output_rows: int = 0
    errors: int = 0

    def record(self, fingerprint: dict[str, Any]) -> dict[str, Any]:
        return {"v": JOURNAL_VERSION, **self.__dict__, "fingerprint": fingerprint}


class _Sink:
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
        self.journal = output.with_name(output.name + ".journal")
        self.parts_dir = output.with_name(output.name + ".parts")
        self.state = _State()
        paths = [output, errors, self.journal, self.parts_dir] + (
            [explanations] if explanations else []
        )
        if resume and self.journal.exists():
            self.state = self._read_journal()
        elif resume and output.exists():
            raise BatchError(
                EXIT_USAGE,
                f"nothing to resume: {self.journal} does not exist (the batch that wrote "
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

    def _read_journal(self) -> _State:
        last: dict[str, Any] | None = None
        with self.journal.open("rb") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:  # a torn last line: the record was never committed
                    continue
                if isinstance(rec, dict):
                    last = rec
        if last is None or last.get("v") != JOURNAL_VERSION:
            raise BatchError(EXIT_USAGE, f"{self.journal}: no usable journal record")
        if last.get("fingerprint") != self.fingerprint:
            theirs = last.get("fingerprint") or {}
            diff = sorted(
                k
                for k in set(theirs) | set(self.fingerprint)
                if theirs.get(k) != self.fingerprint.get(k)
            )
            raise BatchError(
                EXIT_USAGE,
                f"cannot resume: the input or options differ from the interrupted run "
                f"({', '.join(diff)}); use --force to start over",
            )
        fields = {k: last[k] for k in _State().__dict__ if k in last}
        return _State(**fields)

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
                self.out.write(_csv_bytes([], self.columns, header=True))
            self.err.write(_csv_bytes([], ERROR_COLUMNS, header=True))
            self._commit()

    def _commit(self) -> None:
        st = self.state
        for f in (self.out, self.err, self.expl):
            if f is not None:
                _fsync(f)
        if self.out is not None:
            st.output_bytes = self.out.tell()
        st.errors_bytes = self.err.tell()
        st.explanations_bytes = self.expl.tell() if self.expl else 0
        new = not self.journal.exists()
        with self.journal.open("ab") as j:
            j.write(json.dumps(st.record(self.fingerprint)).encode() + b"\n")
            _fsync(j)
        if new:
            _fsync_dir(self.journal.parent)

    def write_chunk(self, results: Sequence[JobResult], rows_done: int) -> None:
        st = self.state
        rows = [r for res in results for r in res.rows]
        bad = [res for res in results if res.error]
        if rows:
            if self.fmt == "csv":
                assert self.out is not None
                self.out.write(_csv_bytes(rows, self.columns, header=False))
            elif self.fmt == "jsonl":
                assert self.out is not None
                self.out.write(
                    b"".join(json.dumps(_typed(r, self.columns)).encode() + b"\n" for r in rows)
                )
            else:
                self._write_part(rows, st.parts)
                st.parts += 1
        if bad:
            self.err.write(
                _csv_bytes(
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
        table = pa.Table.from_pylist([_typed(r, self.columns) for r in rows], schema=self._schema())
        pq.write_table(table, tmp)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        tmp.replace(path)
        _fsync_dir(self.parts_dir)

    def _schema(self) -> Any:
        pa, _ = _arrow()
        return pa.schema(
            [
                (
                    c,
                    pa.int64() if c == "row" else pa.float64() if c in _FLOATS else pa.string(),
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
            _fsync_dir(self.output.parent)
        self.close()
        self.journal.unlink(missing_ok=True)
        if self.fmt == "parquet":
            shutil.rmtree(self.parts_dir, ignore_errors=True)
        _fsync_dir(self.output.parent)

    def close(self) -> None:
        for f in (self.out, self.err, self.expl):
            if f is not None and not f.closed:
                f.close()


def _arrow() -> tuple[Any, Any]:
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise BatchError(EXIT_USAGE, "Parquet output needs pyarrow: pip install pyarrow") from None


# --------------------------------------------------------------------------- progress


class _Progress:
    def __init__(self, total: int, initial: int, mode: str) -> None:
        self.total, self.done, self.t0 = total, initial, time.monotonic()
        self.start, self.last = initial, 0.0
        self.bar: Any = None
        tty = sys.stderr.isatty()
        self.mode = "bar" if mode == "bar" or (mode == "auto" and tty) else mode
        if self.mode == "auto":
            self.mode = "plain"
        if self.mode == "bar":
            try:
                tqdm: Any = importlib.import_module("tqdm")
                self.bar = tqdm.tqdm(
                    total=total or None,
                    initial=initial,
                    unit="row",
                    file=sys.stderr,
                    dynamic_ncols=True,
                    smoothing=0.1,
                )
            except ImportError:
                self.mode = "plain"

    def update(self, n: int, errors: int, final: bool = False) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(errors=errors, refresh=False)
            return
        now = time.monotonic()
        if self.mode != "plain" or (now - self.last < 5.0 and not final):
            return
        self.last = now
        rate = (self.done - self.start) / max(now - self.t0, 1e-9)
        left = max(self.total - self.done, 0)
        eta = f", ETA {_hms(left / rate)}" if rate > 0 and self.total else ""
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        print(
            f"progress: {self.done:,}/{self.total:,} rows{pct}, {rate:,.1f} rows/s{eta}, "
            f"{errors} errors",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _hms(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


# --------------------------------------------------------------------------- driver


@dataclass
class BatchOptions:
    input: Path
    output: Path
    data_dir: Path | None = None
    pack: str = "us"
    as_of: dt.date | None = None
    scenarios: list[str] | None = None  # None: every scenario of the pack
    explanations: Path | None = None
    errors: Path | None = None
    chunk_size: int = 500
    workers: int | None = None
    remote: RemoteFactory | None = None
    dask_scheduler: str | None = None
    dask_local: int | None = None
    resume: bool = False
    force: bool = False
    progress: str = "auto"  # auto | bar | plain | none


@dataclass(frozen=True)
class BatchSummary:
    rows_in: int
    rows_scored: int
    output_rows: int
    errors: int
    seconds: float
    rows_per_second: float
    exit_code: int

    def line(self) -> str:
        return (
            f"done: {self.rows_in:,} rows in, {self.rows_scored:,} scored "
            f"({self.output_rows:,} output rows), {self.errors:,} errors, "
            f"{self.seconds:.1f} s, {self.rows_per_second:,.1f} rows/s"
        )


def _policies(data_dir: Path, pack: str) -> tuple[list[str], list[str]]:
    """Scenario and rule ids of the pack, without loading the dataset (as Engine.from_dir)."""
    pdir = data_dir / "policies"
    if not (pdir / f"{pack}.yaml").exists():
        pdir = DEFAULT_DATA / "policies"
    p = load_pack(pdir / f"{pack}.yaml")
    sc = load_scenarios(pdir / f"{pack}.scenarios.yaml", p)
    return [s.id for s in sc.scenarios], [r.id for r in p.rules]


def _chunks(jobs: Iterator[Job], size: int) -> Iterator[list[Job]]:
    chunk: list[Job] = []
    for j in jobs:
        chunk.append(j)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_batch(opts: BatchOptions) -> BatchSummary:
    """Run a batch; raises :class:`BatchError` for usage, input and dataset problems."""
    t0 = time.monotonic()
    if not opts.input.is_file():
        raise BatchError(EXIT_DATA, f"{opts.input}: no such input file")
    input_format(opts.input)
    output_format(opts.output)
    if opts.chunk_size < 1:
        raise BatchError(EXIT_USAGE, "--chunk-size must be at least 1")
    data_dir = opts.data_dir or DEFAULT_DATA
    explain = opts.explanations is not None
    remote: RemoteRunner | None = None
    if opts.remote is not None:
        remote = opts.remote.open(explain)
        known, rules = remote.scenarios, remote.rules
        engine_id = f"remote:{opts.remote.target}"
    else:
        try:
            if opts.dask_scheduler or opts.dask_local:
                known, rules = _policies(data_dir, opts.pack)
            else:  # in-process and forked workers: load once here (workers inherit it)
                eng = engine_for(data_dir, opts.pack)
                known = [s.id for s in eng.scenarios.scenarios]
                rules = [r.id for r in eng.pack.rules]
        except DatasetError as exc:
            raise BatchError(
                EXIT_DATA,
                f"dataset {data_dir} refused:\n" + "\n".join(f"error: {i}" for i in exc.issues),
            ) from None
        except (OSError, ValueError) as exc:
            raise BatchError(EXIT_DATA, f"dataset {data_dir}: {exc}") from None
        engine_id = f"data:{Path(data_dir).resolve()}#{opts.pack}"
    try:
        wanted = opts.scenarios or known
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise BatchError(
                EXIT_USAGE, f"unknown scenario {unknown[0]!r}; known: {', '.join(known)}"
            )
        as_of = opts.as_of or clock.today()
        columns = COLUMNS + [r for r in rules if r not in COLUMNS]
        fingerprint = {
            "input": str(opts.input.resolve()),
            "input_bytes": opts.input.stat().st_size,
            "columns": columns,
            "scenarios": wanted,
            "as_of": as_of.isoformat(),
            "engine": engine_id,
            "explanations": str(opts.explanations) if opts.explanations else None,
        }
        errors = opts.errors or opts.output.with_name(opts.output.name + ".errors.csv")
        sink = _Sink(
            opts.output, errors, opts.explanations, columns, fingerprint, opts.resume, opts.force
        )
    except BaseException:
        if remote is not None:
            remote.close()
        raise
    backend: _Backend
    try:
        if remote is not None:
            backend = remote
        elif opts.workers:
            backend = _Processes(opts.workers, str(data_dir), opts.pack, explain)
        elif opts.dask_scheduler or opts.dask_local:
            backend = _Dask(opts.dask_scheduler, opts.dask_local, str(data_dir), opts.pack, explain)
        else:
            backend = _InProcess(engine_for(data_dir, opts.pack), explain)
    except BaseException:
        sink.close()
        raise
    done = sink.state.rows_done
    if done:
        print(
            f"resuming after {done:,} committed input rows ({sink.state.output_rows:,} output "
            f"rows, {sink.state.errors:,} errors)",
            file=sys.stderr,
        )
    defaults = _Defaults(as_of, tuple(wanted), frozenset(known))
    progress = _Progress(_count_records(opts.input), done, opts.progress)

    def parts() -> Iterator[list[Job]]:
        jobs = (j for j in read_jobs(opts.input, defaults) if j.seq >= done)
        for chunk in _chunks(jobs, opts.chunk_size):
            n = min(backend.parts, len(chunk))
            size = -(-len(chunk) // n)
            for i in range(0, len(chunk), size):
                yield chunk[i : i + size]

    try:
        pending: list[JobResult] = []
        for res in backend.run(parts()):
            pending += res
            # a chunk is complete when its last job's seq closes a multiple of chunk_size
            last = pending[-1].seq + 1
            if (last - done) % opts.chunk_size == 0:
                sink.write_chunk(pending, last)
                progress.update(len(pending), sink.state.errors)
                pending = []
        if pending:
            sink.write_chunk(pending, pending[-1].seq + 1)
            progress.update(len(pending), sink.state.errors)
        progress.update(0, sink.state.errors, final=True)
        elapsed = time.monotonic() - t0
        sink.finish(elapsed)
    except UnicodeDecodeError as exc:
        raise BatchError(EXIT_DATA, f"{opts.input}: unreadable: {exc}") from None
    except OSError as exc:
        raise BatchError(EXIT_DATA, f"I/O error: {exc}") from None
    finally:
        progress.close()
        sink.close()
        backend.close()
    s = sink.state
    this_run = s.scored + s.errors - done
    return BatchSummary(
        rows_in=s.scored + s.errors,
        rows_scored=s.scored,
        output_rows=s.output_rows,
        errors=s.errors,
        seconds=elapsed,
        rows_per_second=this_run / elapsed if elapsed > 0 else 0.0,
        exit_code=EXIT_FAILED_ROWS if s.errors else EXIT_OK,
    )
