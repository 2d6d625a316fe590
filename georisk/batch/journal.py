"""The batch journal: what a crash or ``kill -9`` of ``georisk batch`` cannot lose.

After each chunk the sink flushes and fsyncs its files, then appends one JSON line here with
the byte offsets of the output, errors and explanations files (and, for Parquet, the number of
part files committed) and fsyncs it. ``--resume`` reads the last complete line, checks that the
input and options are those of the interrupted run (the *fingerprint*), and the sink truncates
every file back to those offsets: nothing is lost and nothing is written twice. A torn last line
(the crash came while it was written) was never committed and is skipped.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as tmp:
...     j = Journal(pathlib.Path(tmp) / "out.csv.journal", {"input": "in.csv"})
...     j.append(State(rows_done=500, output_bytes=81920))
...     with j.path.open("ab") as f:
...         _ = f.write(b'{"v": 1, "rows_d')  # torn by a crash
...     j.read().rows_done
500
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from georisk.batch.errors import EXIT_USAGE, BatchError

__all__ = ["JOURNAL_VERSION", "Journal", "State", "fsync", "fsync_dir"]

JOURNAL_VERSION = 1


def fsync(f: BinaryIO) -> None:
    """Flush ``f`` and force it to disk."""
    f.flush()
    os.fsync(f.fileno())


def fsync_dir(d: Path) -> None:
    """Force a directory's entries (new, renamed or removed files) to disk, where supported."""
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


@dataclass
class State:
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
        """The journal line of this state."""
        return {"v": JOURNAL_VERSION, **self.__dict__, "fingerprint": fingerprint}


class Journal:
    """The append-only journal at ``path``; ``fingerprint`` names the run's input and options."""

    def __init__(self, path: Path, fingerprint: dict[str, Any]) -> None:
        self.path, self.fingerprint = path, fingerprint

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> State:
        """The last committed state; :class:`BatchError` if there is none or the run differs."""
        last: dict[str, Any] | None = None
        with self.path.open("rb") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:  # a torn last line: the record was never committed
                    continue
                if isinstance(rec, dict):
                    last = rec
        if last is None or last.get("v") != JOURNAL_VERSION:
            raise BatchError(EXIT_USAGE, f"{self.path}: no usable journal record")
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
        fields = {k: last[k] for k in State().__dict__ if k in last}
        return State(**fields)

    def append(self, state: State) -> None:
        """Commit ``state``: append its record and fsync (the directory too, the first time)."""
        new = not self.path.exists()
        with self.path.open("ab") as j:
            j.write(json.dumps(state.record(self.fingerprint)).encode() + b"\n")
            fsync(j)
        if new:
            fsync_dir(self.path.parent)
