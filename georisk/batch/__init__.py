"""Batch scoring of many arrangements and what-if overlays (``georisk batch``).

Input rows (CSV or JSONL) name an arrangement and/or carry an overlay; each row is scored under
one or more scenarios and written as one output row per (input row, scenario) to CSV, JSONL or
Parquet. Rows are read and committed in chunks: after each chunk the output, errors and
explanations files are flushed and fsynced, then a journal record with the byte offsets (and,
for Parquet, the number of part files) is appended and fsynced. ``resume`` truncates the files
back to the last record and carries on, so a crash or ``kill -9`` loses and duplicates nothing.
See ``docs/batch.md``.

One module per job:

- :mod:`georisk.batch.jobs`: input rows (CSV/JSONL) parsed into :class:`Job` objects;
- :mod:`georisk.batch.engines`: where jobs are scored: in-process (default), local worker
  processes (``workers``: the engine is loaded once per process), Dask (``dask_scheduler`` /
  ``dask_local``) or a remote server (``remote``: a :class:`RemoteFactory`); work always goes out
  in partitions of a chunk, never one task per row, and results come back in input order;
- :mod:`georisk.batch.remote`: the remote engine, a georisk server over gRPC (the only module
  here that imports gRPC, loaded only for ``--target``);
- :mod:`georisk.batch.sink` and :mod:`georisk.batch.journal`: output files and the fsync journal;
- :mod:`georisk.batch.progress`: the progress bar or lines;
- :mod:`georisk.batch.run`: :func:`run_batch`, the loop that ties them together.

>>> COLUMNS[:6]
['row', 'row_id', 'arrangement', 'overlay', 'scenario', 'as_of']
"""

from __future__ import annotations

from georisk.batch.engines import RemoteFactory, RemoteRunner, engine_for, score_jobs
from georisk.batch.errors import EXIT_DATA, EXIT_FAILED_ROWS, EXIT_OK, EXIT_USAGE, BatchError
from georisk.batch.jobs import Job, JobResult, read_jobs
from georisk.batch.run import BatchOptions, BatchSummary, run_batch
from georisk.batch.sink import COLUMNS

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
    "RemoteFactory",
    "RemoteRunner",
    "engine_for",
    "read_jobs",
    "run_batch",
    "score_jobs",
]
