"""Input rows of ``georisk batch``: CSV or JSONL records parsed into :class:`Job` objects.

A record names an arrangement and/or carries an overlay (inline, or an ``overlay_file`` beside
the input), and may set its own ``as_of`` and ``scenario``. A record that cannot be scored
becomes a job with ``error`` set: it is written to the errors file, never scored, and never
stops the batch.

>>> import datetime as dt
>>> d = Defaults(dt.date(2026, 11, 22), ("current-law",), frozenset({"current-law"}))
>>> files = OverlayFiles(Path("."))
>>> job = job_from_record(0, 2, {"arrangement": "casip"}, d, files, csv_mode=True)
>>> job.arrangement, job.as_of, job.scenarios, job.error
('casip', datetime.date(2026, 11, 22), ('current-law',), None)
>>> job_from_record(1, 3, {"as_of": "2026-02-30"}, d, files, csv_mode=True).error
'no arrangement and no overlay'
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from georisk.batch.errors import EXIT_DATA, EXIT_USAGE, BatchError
from georisk.scoring.overlay import Overlay

__all__ = [
    "Defaults",
    "Job",
    "JobResult",
    "OverlayFiles",
    "count_records",
    "explanation_line",
    "input_format",
    "job_from_record",
    "lead_columns",
    "pydantic_reason",
    "read_jobs",
]


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
    """What scoring a job gave: one output row per scenario, or the reason it was refused."""

    seq: int
    row: int
    row_id: str
    arrangement: str
    rows: list[dict[str, str]] = field(default_factory=list)
    explanations: list[str] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def of(cls, job: Job) -> JobResult:
        """An empty result for ``job`` (carrying the job's own error, if it has one)."""
        return cls(job.seq, job.row, job.row_id, job.arrangement, error=job.error)


def lead_columns(job: Job, scenario: str) -> dict[str, str]:
    """The output columns that come from the input row rather than from the score."""
    return {"row": str(job.row), "row_id": job.row_id, "scenario": scenario}


def explanation_line(job: Job, doc: dict[str, Any]) -> str:
    """One line of the explanations file: the row, its id and the full score document."""
    return json.dumps({"row": job.row, "row_id": job.row_id, "score": doc}, sort_keys=False)


def pydantic_reason(exc: ValidationError) -> str:
    """The first five problems of a validation error, as ``field.path: message``."""
    return "; ".join(
        f"{'.'.join(str(x) for x in e['loc']) or '(document)'}: {e['msg']}"
        for e in exc.errors(include_url=False)[:5]
    )


@dataclass(frozen=True)
class Defaults:
    """What a row leaves out: the batch's date and scenarios, and the scenarios the pack knows."""

    as_of: dt.date
    scenarios: tuple[str, ...]
    known_scenarios: frozenset[str]


def input_format(path: Path) -> str:
    """``csv`` or ``jsonl``, from the file name (:class:`BatchError` for anything else)."""
    ext = path.suffix.lower()
    if ext == ".csv":
        return "csv"
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    raise BatchError(EXIT_USAGE, f"{path}: input must be .csv or .jsonl")


class OverlayFiles:
    """The ``overlay_file`` documents of a batch, read once each, relative to the input file."""

    def __init__(self, base: Path) -> None:
        self.base, self.cache = base, dict[str, Any]()

    def load(self, name: str) -> Any:
        if name not in self.cache:
            try:
                self.cache[name] = yaml.safe_load((self.base / name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                self.cache[name] = ValueError(f"overlay_file {name!r} unreadable: {exc}")
        return self.cache[name]


def job_from_record(
    seq: int, row: int, rec: dict[str, Any], d: Defaults, files: OverlayFiles, csv_mode: bool
) -> Job:
    """The job of one input record (a CSV row as a dict of cells, or a JSONL object)."""
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
            return bad("bad overlay: " + pydantic_reason(exc))
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


def read_jobs(path: Path, d: Defaults) -> Iterator[Job]:
    """Parse the input into jobs, in order; a bad record becomes a job with ``error`` set."""
    files = OverlayFiles(path.parent)
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
                    yield job_from_record(seq, lineno, rec, d, files, csv_mode=False)
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
                    yield job_from_record(seq, start, rec, d, files, csv_mode=True)
            seq += 1
            start = reader.line_num + 1


def count_records(path: Path) -> int:
    n, last = 0, b"\n"
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    n += last != b"\n"
    return max(0, n - (input_format(path) == "csv"))
