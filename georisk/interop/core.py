"""The common shape of an import: validated records, the rejected input, and notes.

Every importer (:mod:`.bods`, and the FtM, GLEIF and list importers beside it) turns foreign
records into an :class:`Imported`: the project's own pydantic records
(:mod:`georisk.scoring.model`), so every check of the loader already holds for them, plus one
:class:`Rejected` per input record that could not be taken, with where it was and why.
:func:`.write.write_dataset` writes it as a dataset directory.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from georisk.scoring.model import ID_PATTERN, Entity, Link, ShareRange, Source

__all__ = [
    "GEORISK_SCHEME",
    "Imported",
    "Rejected",
    "ShareError",
    "csv_rows",
    "identifier_key",
    "json_line",
    "share_range",
    "slug",
]

_ID_RE = re.compile(ID_PATTERN)
_MAX_ID = 128
_HASH = 10  # hex digits of the hash suffix


#: characters that some line readers take for a line break inside a JSON string: NEL, LINE
#: SEPARATOR, PARAGRAPH SEPARATOR (``str.splitlines``, editors); written as escapes
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_line(obj: Any, **kwargs: Any) -> str:
    """``obj`` as one JSON Lines line (no newline): UTF-8 text as it is, but the characters some
    readers split lines at (U+0085, U+2028, U+2029) escaped, so that a file of such lines reads
    back one record per line whatever splits it (the same values: ``json.loads`` undoes the
    escapes). Foreign names and rejected records' ids reach these files as they came.

    >>> json_line({"name": "A\u2028B", "city": "Zürich"})
    '{"name": "A\\\\u2028B", "city": "Zürich"}'
    >>> json.loads(json_line({"id": "x\x85y"}))["id"] == "x\x85y"
    True
    """
    return json.dumps(obj, ensure_ascii=False, **kwargs).translate(_LINE_BREAKS)


@dataclass(frozen=True)
class Rejected:
    """An input record that was not imported: the file, where in it, its own id, and why."""

    file: str
    where: str
    record_id: str | None
    reason: str

    def line(self) -> str:
        """One line an analyst reads: ``FILE: WHERE (id=ID): REASON``."""
        rid = f" (id={self.record_id})" if self.record_id else ""
        return f"{self.file}: {self.where}{rid}: {self.reason}"

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "where": self.where, "id": self.record_id, "reason": self.reason}


@dataclass
class Imported:
    """What one import produced: records keyed by id, the rejected input, and notes (facts kept
    but not turned into records, choices made) for the analyst."""

    format: str
    sources: dict[str, Source] = field(default_factory=dict)
    entities: dict[str, Entity] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def slug(prefix: str, raw_id: str) -> str:
    """A valid, lower-case record id made deterministically from a foreign id.

    Characters outside ``a-z 0-9 . _ : -`` become ``-``; when anything was changed (other than
    lower-casing) or the id must be shortened, a hash of the raw id is appended so that two
    foreign ids never share a slug. ``prefix`` (itself a slug, e.g. ``bods``) names the scheme.

    >>> slug("bods", "openownership-register-123")
    'bods:openownership-register-123'
    >>> slug("bods", "A b/c")[:10]
    'bods:a-b-c'
    """
    if not prefix or not _ID_RE.match(prefix):
        raise ValueError(f"prefix {prefix!r} is not a valid id")
    low = raw_id.strip().lower()
    clean = re.sub(r"[^a-z0-9._:-]+", "-", low).strip("-._:")
    changed = clean != low
    head = f"{prefix}:{clean}" if clean else prefix
    if changed or len(head) > _MAX_ID:
        digest = hashlib.sha256(raw_id.encode("utf-8")).hexdigest()[:_HASH]
        head = f"{head[: _MAX_ID - _HASH - 1].rstrip('-._:')}-{digest}"
    if not _ID_RE.match(head):  # cannot happen: kept as a guard for the loader's sake
        raise ValueError(f"cannot make an id from {raw_id!r}")
    return head


class ShareError(ValueError):
    """A share that cannot be read (out of range, bounds crossed)."""


def share_range(
    *,
    exact: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    exclusive_maximum: float | None = None,
    scale: float = 100.0,
) -> float | ShareRange | None:
    """A BODS-style share (percentages by default; ``scale=1`` for fractions) as the model's
    share: an exact fraction, a :class:`ShareRange`, or None when nothing is given.

    ``exact`` wins when given with bounds that contain it; bounds that exclude it are a
    :class:`ShareError`. An exclusive bound replaces an inclusive one on the same side.

    >>> share_range(exact=51)
    0.51
    >>> share_range(minimum=25, exclusive_maximum=50)
    ShareRange(minimum=0.25, maximum=0.5, exclusive_minimum=False, exclusive_maximum=True)
    """

    def frac(v: float | None, what: str) -> float | None:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ShareError(f"share {what} {v!r} is not a number")
        f = float(v) / scale
        if not 0.0 <= f <= 1.0:
            raise ShareError(f"share {what} {v} is outside 0–{scale:g}")
        return round(f, 12)

    ex = frac(exact, "exact")
    lo, hi = frac(minimum, "minimum"), frac(maximum, "maximum")
    xlo, xhi = (
        frac(exclusive_minimum, "exclusiveMinimum"),
        frac(exclusive_maximum, "exclusiveMaximum"),
    )
    low, low_x = (xlo, True) if xlo is not None else (lo, False)
    high, high_x = (xhi, True) if xhi is not None else (hi, False)
    if ex is not None:
        if (low is not None and (ex < low or (low_x and ex == low))) or (
            high is not None and (ex > high or (high_x and ex == high))
        ):
            raise ShareError(f"share exact {exact} is outside its own bounds")
        return ex
    if low is None and high is None:
        return None
    lo_v = 0.0 if low is None else low
    hi_v = 1.0 if high is None else high
    if hi_v < lo_v or (hi_v == lo_v and (low_x or high_x)):
        raise ShareError(f"share bounds cross: {lo_v * scale:g} to {hi_v * scale:g}")
    if lo_v == hi_v:
        return lo_v
    return ShareRange(minimum=lo_v, maximum=hi_v, exclusive_minimum=low_x, exclusive_maximum=high_x)


#: C0 control characters (and DEL) other than tab, line feed and carriage return: no name,
#: date or identifier holds one; a cell with one is a damaged file, not data
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def csv_rows(
    path: str | os.PathLike[str], required: Sequence[str], out: Imported, *, kind: str = ""
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """The rows of a UTF-8 CSV file as ``(file name, "row N", {column: stripped cell})``.

    What cannot be read is rejected into ``out``, never raised: an unreadable or non-UTF-8 file
    or one the CSV parser gives up on (rows read before stay), a header without a ``required``
    column or naming a column twice (the whole file; ``kind`` names what the file should have
    been), a row with more cells than the header or a control character in a cell.
    """
    name = os.path.basename(os.fspath(path))
    where = "row 1 (header)"
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in required if c not in header]
            twice = sorted({h for h in header if h and header.count(h) > 1})
            if missing or twice:
                what = f"not {kind} file: " if kind and missing else ""
                why = (
                    f"{what}the header lacks column(s) {', '.join(missing)}"
                    if missing
                    else f"the header names column(s) twice: {', '.join(twice)}"
                )
                out.rejected.append(Rejected(name, where, None, why))
                return
            reader.fieldnames = header
            for row in reader:
                where = f"row {reader.line_num}"
                first = (row.get(required[0]) or "").strip() if required else ""
                if None in row:
                    why = "more cells than the header has columns"
                    out.rejected.append(Rejected(name, where, first or None, why))
                    continue
                bad = [(k, m.group()) for k, v in row.items() if v and (m := _CONTROL.search(v))]
                if bad:
                    col, char = bad[0]
                    why = f"column {col} has a control character (U+{ord(char):04X})"
                    out.rejected.append(Rejected(name, where, _CONTROL.sub("", first) or None, why))
                    continue
                yield name, where, {k: (v or "").strip() for k, v in row.items()}
    except OSError as exc:
        out.rejected.append(Rejected(name, "file", None, f"cannot read: {exc.strerror}"))
    except UnicodeDecodeError as exc:
        why = f"not UTF-8 text: {exc.reason} at byte {exc.start} (rows before it are read)"
        out.rejected.append(Rejected(name, "file", None, why))
    except csv.Error as exc:
        text = str(exc)
        limit = re.search(r"field larger than field limit \((\d+)\)", text)
        if limit:
            text = f"a cell is longer than {int(limit.group(1)):,} characters"
        why = f"not readable as CSV after {where}: {text} (rows before it are read)"
        out.rejected.append(Rejected(name, "file", None, why))


#: scheme spellings met in the wild → the org-id.guide code the importers write
_SCHEME_ALIASES = {"LEI": "XI-LEI", "GLEIF": "XI-LEI", "OPENSANCTIONS": "OPENSANCTIONS"}
#: georisk's own ids, as an export writes them: they match the entity of that id on merge
GEORISK_SCHEME = "georisk"


def identifier_key(scheme: str, ident: str) -> tuple[str, str]:
    """The form two identifiers are compared in when imports are merged: the scheme upper-cased
    (``LEI`` is ``XI-LEI``), the id without surrounding or inner blanks; an LEI upper-cased, an
    all-digit UK Companies House number zero-padded to its 8 characters. The records keep the
    spelling their source gave; only the comparison is normalised.

    >>> identifier_key("lei", " 5493001kjtiigc8y1r12 ")
    ('XI-LEI', '5493001KJTIIGC8Y1R12')
    >>> identifier_key("GB-COH", "1234567")
    ('GB-COH', '01234567')
    >>> identifier_key("FI-PRO", "3007894-1")
    ('FI-PRO', '3007894-1')
    """
    s = re.sub(r"\s+", "", scheme).upper()
    s = _SCHEME_ALIASES.get(s, s)
    i = re.sub(r"\s+", "", ident)
    if s == "XI-LEI":
        i = i.upper()
    elif s == "GB-COH":
        i = i.upper()
        if i.isdigit() and len(i) < 8:
            i = i.zfill(8)
    return s, i
