"""The run loop of ``georisk batch``: :func:`run_batch` reads, scores and commits chunk by chunk.

Rows are read lazily from the input (:mod:`georisk.batch.jobs`), cut into chunks of
``chunk_size`` and each chunk into as many partitions as the engine has workers
(:mod:`georisk.batch.engines`); results come back in input order and the sink commits each chunk
(:mod:`georisk.batch.sink`, :mod:`georisk.batch.journal`). A resumed run skips the input records
the journal counts as committed.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from georisk.batch.engines import (
    Backend,
    Dask,
    InProcess,
    Processes,
    RemoteFactory,
    RemoteRunner,
    engine_for,
    rule_ids,
)
from georisk.batch.errors import EXIT_DATA, EXIT_FAILED_ROWS, EXIT_OK, EXIT_USAGE, BatchError
from georisk.batch.jobs import (
    Defaults,
    Job,
    JobResult,
    count_records,
    input_format,
    memo_name,
    read_jobs,
)
from georisk.batch.progress import Progress
from georisk.batch.sink import COLUMNS, Sink, output_format
from georisk.scoring import clock
from georisk.scoring.dataset import DatasetError
from georisk.scoring.engine import DEFAULT_DATA, load_pack_sets
from georisk.scoring.packs import merged_scenarios

__all__ = ["BatchOptions", "BatchSummary", "run_batch"]


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
    #: write one memo (HTML) per scored row into this directory (georisk.render; needs dot)
    memos: Path | None = None


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
    """Scenario and rule ids of the packs ``pack`` (ids as ``georisk score --pack`` takes
    them), without loading the dataset (as Engine.from_dir): every pack's scenarios, the
    primary's first, and every pack's rules."""
    sets = load_pack_sets(data_dir, pack)
    scenarios = merged_scenarios(sets[0].scenarios, sets[1:])
    return [s.id for s in scenarios], [r.id for ps in sets for r in ps.pack.rules]


def _check_memos(opts: BatchOptions) -> None:
    """``--memos``: Graphviz ``dot`` here (a local engine draws them; with ``--target`` the
    server does, through RenderService) and a directory (made if missing)."""
    from georisk.render import dot_available
    from georisk.render.dot import DOT_HINT

    if opts.memos is None:
        return
    if opts.remote is None and not dot_available():
        raise BatchError(EXIT_USAGE, f"--memos: {DOT_HINT}")
    try:
        opts.memos.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(EXIT_USAGE, f"--memos: {exc}") from None


def _write_memos(where: Path | None, results: list[JobResult]) -> None:
    """Each result's memo as ``memo-<line>-<arrangement>.html`` in ``where``, atomically (a
    resumed batch writes the memos of an uncommitted chunk again: the same files)."""
    if where is None:
        return
    for r in results:
        if r.memo is None:
            continue
        path = where / memo_name(r.row, r.arrangement)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_text(r.memo, encoding="utf-8")
        os.replace(tmp, path)


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
    _check_memos(opts)
    memos = opts.memos is not None
    remote: RemoteRunner | None = None
    if opts.remote is not None:
        remote = opts.remote.open(explain, opts.memos is not None)
        known, rules = remote.scenarios, remote.rules
        engine_id = f"remote:{opts.remote.target}"
    else:
        try:
            if opts.dask_scheduler or opts.dask_local:
                known, rules = _policies(data_dir, opts.pack)
            else:  # in-process and forked workers: load once here (workers inherit it)
                eng = engine_for(data_dir, opts.pack)
                known = [s.id for s in merged_scenarios(eng.scenarios, eng.extra)]
                rules = rule_ids(eng)
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
            # only when asked: a batch started before --memos existed resumes as it was
            **({"memos": str(opts.memos.resolve())} if opts.memos else {}),
        }
        errors = opts.errors or opts.output.with_name(opts.output.name + ".errors.csv")
        sink = Sink(
            opts.output, errors, opts.explanations, columns, fingerprint, opts.resume, opts.force
        )
    except BaseException:
        if remote is not None:
            remote.close()
        raise
    backend: Backend
    try:
        if remote is not None:
            backend = remote
        elif opts.workers:
            backend = Processes(opts.workers, str(data_dir), opts.pack, explain, as_of, memos)
        elif opts.dask_scheduler or opts.dask_local:
            backend = Dask(
                opts.dask_scheduler,
                opts.dask_local,
                str(data_dir),
                opts.pack,
                explain,
                as_of,
                memos,
            )
        else:
            backend = InProcess(engine_for(data_dir, opts.pack), explain, memos)
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
    defaults = Defaults(as_of, tuple(wanted), frozenset(known), explicit=bool(opts.scenarios))
    progress = Progress(count_records(opts.input), done, opts.progress)

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
                _write_memos(opts.memos, pending)  # before the chunk is committed
                sink.write_chunk(pending, last)
                progress.update(len(pending), sink.state.errors)
                pending = []
        if pending:
            _write_memos(opts.memos, pending)
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
