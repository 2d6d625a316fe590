"""Input rows of ``georisk batch``: CSV or JSONL records parsed into :class:`Job` objects.

A record names an arrangement and/or carries an overlay (inline, or an ``overlay_file`` beside
the input), and may set its own ``as_of`` and ``scenario``. A record that cannot be scored
becomes a job with ``error`` set: it is written to the errors file, never scored, and never
stops the batch.

>>> import datetime as dt
>>> d = Defaults(dt.date(2026, 11, 22), ("current-law",), frozenset({"current-law"}))
>>> files = OverlayFiles(Path("."))
>>> job = job_from_record(0, 2, {"arrangement": "casip"}, d, files)
>>> job.arrangement, job.as_of, job.scenarios, job.error
('casip', datetime.date(2026, 11, 22), ('current-law',), None)
>>> job_from_record(1, 3, {"as_of": "2026-02-30"}, d, files).error
'no arrangement and no overlay'
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from georisk.batch.errors import EXIT_DATA, EXIT_USAGE, BatchError
from georisk.scoring.dataset import DatasetError, DatasetIssue
from georisk.scoring.overlay import Overlay, parse_overlay

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
    "memo_name",
    "overlay_reason",
    "read_jobs",
]


@dataclass(frozen=True)
class Job:
    """One input row, parsed. ``error`` set: the row is refused without scoring."""

    seq: int  # 0-based index of the input record (what the journal counts)
    row: int  # line number in the input file where the record starts (CSV header = line 1)
    row_id: str
    arrangement: str
    overlay: Overlay | None = None
    as_of: dt.date | None = None
    scenarios: tuple[str, ...] = ()
    error: str | None = None
    #: ``scenarios`` is the default, every scenario the batch knows (no ``--scenario(s)``, no
    #: ``scenario`` in the row): a row is then scored under those of them that apply to its
    #: arrangement (with several packs, a pack's scenarios apply where the pack does)
    every_scenario: bool = False


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
    #: the row's memo (HTML) when the batch writes memos (``--memos``)
    memo: str | None = None

    @classmethod
    def of(cls, job: Job) -> JobResult:
        """An empty result for ``job`` (carrying the job's own error, if it has one)."""
        return cls(job.seq, job.row, job.row_id, job.arrangement, error=job.error)


def lead_columns(job: Job, scenario: str) -> dict[str, str]:
    """The output columns that come from the input row rather than from the score."""
    return {"row": str(job.row), "row_id": job.row_id, "scenario": scenario}


def memo_name(row: int, arrangement: str) -> str:
    """The file name of a row's memo: ``memo-<input line>-<arrangement>.html``.

    >>> memo_name(7, "casip")
    'memo-000007-casip.html'
    """
    return f"memo-{row:06d}-{arrangement}.html"


def explanation_line(job: Job, doc: dict[str, Any]) -> str:
    """One line of the explanations file: the row, its id and the full score document."""
    return json.dumps({"row": job.row, "row_id": job.row_id, "score": doc}, sort_keys=False)


@dataclass(frozen=True)
class Defaults:
    """What a row leaves out: the batch's date and scenarios, and the scenarios the pack knows."""

    as_of: dt.date
    scenarios: tuple[str, ...]
    known_scenarios: frozenset[str]
    #: ``scenarios`` was asked for (``--scenario(s)``), not every scenario by default
    explicit: bool = True


def input_format(path: Path) -> str:
    """``csv`` or ``jsonl``, from the file name (:class:`BatchError` for anything else)."""
    ext = path.suffix.lower()
    if ext == ".csv":
        return "csv"
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    raise BatchError(EXIT_USAGE, f"{path}: input must be .csv or .jsonl")


class OverlayFiles:
    """The ``overlay_file`` documents of a batch, relative to the input file.

    Each file is read once; each (file, row arrangement) pair is parsed once, by
    :func:`~georisk.scoring.overlay.parse_overlay` like every other overlay.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.texts: dict[str, str | DatasetError] = {}
        self.parsed: dict[tuple[str, str], Overlay | DatasetError] = {}

    def parse(self, name: str, arrangement: str) -> Overlay:
        """The overlay in file ``name``; the row's ``arrangement`` fills in or must agree."""
        key = (name, arrangement)
        if key not in self.parsed:
            if name not in self.texts:
                try:
                    self.texts[name] = (self.base / name).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    self.texts[name] = DatasetError(
                        [DatasetIssue(name, "", "", f"unreadable overlay: {exc}")]
                    )
            text = self.texts[name]
            try:
                if isinstance(text, DatasetError):
                    raise text
                self.parsed[key] = parse_overlay(text, origin=name, arrangement=arrangement)
            except DatasetError as exc:
                self.parsed[key] = exc
        got = self.parsed[key]
        if isinstance(got, DatasetError):
            raise got
        return got


def overlay_reason(exc: DatasetError, file: str | None = None) -> str:
    """A row's reason for a refused overlay: the file (if any), then each field and problem.

    >>> from georisk.scoring.overlay import parse_overlay
    >>> try:
    ...     parse_overlay("{arrangement: casip, bogus: 1}", origin="ov.yaml")
    ... except DatasetError as exc:
    ...     print(overlay_reason(exc, "ov.yaml"))
    ...     print(overlay_reason(exc))
    bad overlay ov.yaml: bogus: Extra inputs are not permitted
    bad overlay: bogus: Extra inputs are not permitted
    """
    parts = []
    for i in exc.issues[:5]:
        where = ": ".join(x for x in (i.record, i.field) if x)
        parts.append(f"{where}: {i.message}" if where else i.message)
    more = len(exc.issues) - 5
    tail = f"; and {more} more" if more > 0 else ""
    return f"bad overlay{' ' + file if file else ''}: " + "; ".join(parts) + tail


def job_from_record(
    seq: int, row: int, rec: dict[str, Any], d: Defaults, files: OverlayFiles
) -> Job:
    """The job of one input record (a CSV row as a dict of cells, or a JSONL object).

    An ``overlay`` (a mapping, or YAML/JSON text as in a CSV cell) or an ``overlay_file`` goes
    through :func:`~georisk.scoring.overlay.parse_overlay`, with the row's ``arrangement``
    filling in the document's or having to agree with it.
    """
    rid = rec.get("row_id")
    row_id = "" if rid is None else str(rid)
    aid = rec.get("arrangement")
    arrangement = "" if aid is None else str(aid).strip()

    def bad(reason: str) -> Job:
        return Job(seq, row, row_id, arrangement, error=reason)

    raw: Any = rec.get("overlay")
    if isinstance(raw, str):
        raw = raw.strip() or None
    ofile = rec.get("overlay_file")
    overlay: Overlay | None = None
    if raw is not None:
        try:
            overlay = parse_overlay(raw, origin="overlay", arrangement=arrangement or None)
        except DatasetError as exc:
            return bad(overlay_reason(exc))
    elif ofile not in (None, ""):
        try:
            overlay = files.parse(str(ofile), arrangement)
        except DatasetError as exc:
            return bad(overlay_reason(exc, str(ofile)))
    if overlay is not None:
        arrangement = overlay.arrangement
    if not arrangement:
        return bad("no arrangement and no overlay")
    as_of = d.as_of
    val = rec.get("as_of")
    if val not in (None, ""):
        try:
            as_of = dt.date.fromisoformat(str(val).strip())
        except ValueError:
            return bad(f"bad date {val!r} (expected YYYY-MM-DD)")
    scenarios, every = d.scenarios, not d.explicit
    sc = rec.get("scenario")
    if sc not in (None, ""):
        if str(sc) not in d.known_scenarios:
            return bad(f"unknown scenario {sc!r}")
        scenarios, every = (str(sc),), False
    return Job(seq, row, row_id, arrangement, overlay, as_of, scenarios, every_scenario=every)


#: the characters ``errors="surrogateescape"`` gives undecodable bytes
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


#: a JSON escape of a UTF-16 surrogate (``\ud800``): JSON text may hold one alone, which
#: decodes to a string no UTF-8 output can hold
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _check_unicode(rec: dict[str, Any]) -> None:
    """ValueError when a string of ``rec`` holds a lone surrogate (``"\ud800"`` in the JSON):
    the row would otherwise stop the batch when its output or error line is written."""
    try:
        json.dumps(rec, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end].encode("unicode_escape").decode("ascii")
        raise ValueError(f"not valid Unicode: a lone surrogate ({bad})") from None


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
                    if _SURROGATE_ESCAPE.search(line):
                        _check_unicode(rec)
                except (ValueError, UnicodeDecodeError) as exc:
                    yield Job(seq, lineno, "", "", error=f"unparsable line: {exc}")
                else:
                    yield job_from_record(seq, lineno, rec, d, files)
                seq += 1
        return
    # surrogateescape: bytes that are not UTF-8 make their row an error, not the whole file
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            return
        if any(_NOT_UTF8.search(h) for h in header):
            raise BatchError(EXIT_DATA, f"{path}: line 1: the CSV header is not UTF-8 text")
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
                if any(_NOT_UTF8.search(c) for c in cells):
                    yield Job(seq, start, "", "", error="unparsable line: not UTF-8 text")
                elif len(cells) > len(header):
                    yield Job(
                        seq,
                        start,
                        "",
                        "",
                        error=f"unparsable line: {len(cells)} fields, the header has {len(header)}",
                    )
                else:
                    rec = dict(zip(header, cells, strict=False))
                    yield job_from_record(seq, start, rec, d, files)
            seq += 1
            start = reader.line_num + 1


def count_records(path: Path) -> int:
    """Input records counted by line, for the progress total (the CSV header not counted)."""
    n, last = 0, b"\n"
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    n += last != b"\n"
    return max(0, n - (input_format(path) == "csv"))
