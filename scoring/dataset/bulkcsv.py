"""Column-wise reading of bulk CSV files (``NAME.links.csv``, ``NAME.entities.csv``).

The reference reader (:mod:`.dataset`) turns each CSV row into a dict and validates it
with pydantic: exact, and ~70 µs a row, i.e. minutes for a 1M-entity / 3M-link dataset. This
module parses the file once with Apache Arrow's CSV reader and checks each column with strict,
vectorized rules. A row that passes every rule is valid for the pydantic model too (the rules
accept a subset of what the model accepts: canonical ids, ``0.xx`` shares, ISO dates, known enum
words, no stray whitespace); any other row — unusual but maybe valid, or invalid — is handed back
to the reference path, which accepts it or reports it exactly as before. So the result and the
error messages do not depend on which path a row took (``tests/test_bulkcsv.py`` compares both
paths row by row, including on fuzzed rows).

A whole file goes the reference way when Arrow and Python's ``csv`` module could disagree on
rows or line numbers: a byte-order mark, a carriage return, a blank line, a quoted newline, a
duplicate or unknown header, or a row Arrow cannot parse.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pydantic import ValidationError

from georisk.scoring.countries import ISO_3166_ALPHA2
from georisk.scoring.dataset.linkstore import (
    LINK_KINDS,
    LINK_STATUSES,
    NO_DATE,
    ROLES,
    LinkColumns,
    build,
)
from georisk.scoring.model import (
    OWNERSHIP_KINDS,
    ROLES_OF,
    Entity,
    EntityKind,
    Identifier,
    LicenceTerms,
    Link,
    LinkKind,
)

__all__ = ["FastEntities", "FastLinks", "read_entities", "read_links", "split_list"]

_ID = r"[a-z0-9][a-z0-9._:-]{0,127}"
ID_RE = f"^{_ID}$"
SOURCES_RE = f"^{_ID}(;{_ID})*$"
SHARE_RE = r"^(0(\.[0-9]{1,17})?|1(\.0{1,17})?)$"
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
BLANK_RE = r"^[ \t]*$"
# an identifiers cell the column reader takes: SCHEME:ID items, no blanks, no stray separators
_IDENT = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}:[^;\s]+"
IDENTIFIERS_RE = f"^{_IDENT}(;{_IDENT})*$"
_IDENT_FIELDS = {"scheme", "id", "sources"}
# pydantic's lax bool strings (case-insensitive)
TRUE_WORDS = ("1", "on", "t", "true", "y", "yes")
FALSE_WORDS = ("0", "off", "f", "false", "n", "no")
_EPOCH = dt.date(1970, 1, 1).toordinal()

#: the columns of a links CSV: the Link fields, licence terms as ``licence_*`` columns (checked
#: apart) and a ranged share as four columns (data/README.md)
LINK_COLUMNS = (frozenset(Link.model_fields) - {"licence"}) | {
    "share_min",
    "share_max",
    "share_exclusive_min",
    "share_exclusive_max",
}
#: entity fields a CSV may carry (``facts`` are nested records: YAML or JSONL only)
ENTITY_COLUMNS = frozenset(Entity.model_fields) - {"facts"}


@dataclass
class FastLinks:
    """Rows of a links CSV that passed the strict checks, as columns, and the rest as dicts.

    ``columns.source``/``target`` are not resolved yet: ``source_ids``/``target_ids`` hold the
    entity ids (resolved against the dataset's entities when it is assembled).
    """

    columns: LinkColumns
    source_ids: pa.Array
    target_ids: pa.Array
    slow: list[tuple[int, dict[str, str]]]  # (line, raw row) for the reference path


@dataclass
class FastEntities:
    entities: list[tuple[int, Entity]]  # (line, entity)
    slow: list[tuple[int, dict[str, str]]]


# --------------------------------------------------------------------------- table reading


def _table(data: bytes, allowed: frozenset[str], extra_prefix: str | None) -> pa.Table | None:
    """All-string Arrow table of ``data``, or None when the reference reader must do it."""
    if data.startswith(b"\xef\xbb\xbf") or b"\r" in data or b"\n\n" in data:
        return None
    first = data.split(b"\n", 1)[0]
    try:
        header = first.decode("utf-8").split(",")
    except UnicodeDecodeError:
        return None
    if not header or len(set(header)) != len(header) or b'"' in first:
        return None
    if any(h not in allowed and not (extra_prefix and h.startswith(extra_prefix)) for h in header):
        return None
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException, ValueError):
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if table.num_rows != lines - 1 or table.column_names != header:
        return None  # a quoted newline or an unexpected row split: line numbers would drift
    return table.combine_chunks()


def _col(t: pa.Table, name: str) -> pa.Array:
    if name in t.column_names:
        return t.column(name).combine_chunks()
    return pa.array([""] * t.num_rows, type=pa.string())


def _np(a: pa.Array) -> np.ndarray[Any, Any]:
    return np.asarray(a.to_numpy(zero_copy_only=False))


def _match(a: pa.Array, pattern: str) -> np.ndarray[Any, Any]:
    return _np(pc.match_substring_regex(a, pattern))


def _blank(a: pa.Array) -> np.ndarray[Any, Any]:
    return _match(a, BLANK_RE)


def _is_in(a: pa.Array, words: tuple[str, ...] | list[str]) -> np.ndarray[Any, Any]:
    return _np(pc.is_in(a, value_set=pa.array(list(words), type=pa.string())))


def _codes(a: pa.Array, words: list[str]) -> np.ndarray[Any, Any]:
    """Index of each cell in ``words`` (-1 when absent)."""
    ix = pc.index_in(a, value_set=pa.array(words, type=pa.string()))
    return np.asarray(ix.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _shares(a: pa.Array, ok: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Floats of cells matching :data:`SHARE_RE` (others 0)."""
    safe = pc.if_else(pa.array(ok), a, pa.scalar("0"))
    return np.asarray(pc.cast(safe, pa.float64()).to_numpy(zero_copy_only=False))


def _dates(a: pa.Array, blank: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], Any]:
    """(ordinals with NO_DATE for blanks, mask of cells that are blank or a valid ISO date)."""
    shaped = _match(a, DATE_RE)
    safe = pc.if_else(pa.array(shaped), a, pa.scalar("1970-01-01"))
    ts = pc.strptime(safe, format="%Y-%m-%d", unit="s", error_is_null=True)
    days = pc.cast(pc.cast(ts, pa.date32()), pa.int32())
    # a cell that has the shape but is no date gives null (2023-13-01) or, in Arrow's strptime,
    # the date its day rolls over to (2023-02-30 → 2023-03-02): only a date whose day of the
    # month is the cell's is taken; the others take the reference path (which refuses them)
    same = pc.equal(pc.day(ts), pc.cast(pc.utf8_slice_codeunits(safe, 8, 10), pa.int64()))
    ords = np.asarray(days.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64) + _EPOCH
    # year 0000 parses in Arrow but is no Python date (ordinal < 1): reference path too
    valid = shaped & ~_np(pc.is_null(days)) & _np(pc.fill_null(same, False)) & (ords >= 1)
    ok = blank | valid
    ords = np.where(valid, ords, NO_DATE).astype(np.int32)
    return ords, ok


def _bools(a: pa.Array, blank: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], Any]:
    low = pc.utf8_lower(a)
    t, f = _is_in(low, TRUE_WORDS), _is_in(low, FALSE_WORDS)
    return t, blank | t | f


def _bool_col(t: pa.Table, name: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], Any]:
    """(true, blank, ok) masks of a boolean column: ok where blank or a pydantic bool word."""
    col = _col(t, name)
    blank = _blank(col)
    true, ok = _bools(col, blank)
    return true, blank, ok


def _identifiers(cell: str, srcs: str) -> list[Identifier]:
    """A plain ``identifiers`` cell (matched by IDENTIFIERS_RE) as Identifier records sourced by
    the row's sources (as the reference reader makes them)."""
    if not cell:
        return []
    sources = srcs.split(";") if srcs else []
    out = []
    for item in cell.split(";"):
        scheme, _, ident = item.partition(":")
        out.append(
            Identifier.model_construct(
                _fields_set=_IDENT_FIELDS, scheme=scheme, id=ident, sources=list(sources)
            )
        )
    return out


def split_list(value: str) -> list[str]:
    """A ``;``-separated list cell (data/README.md) as its stripped, non-empty items."""
    return [p.strip() for p in value.split(";") if p.strip()]


def _tri(value: np.ndarray[Any, Any], blank: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """0 where not given, 1 for false, 2 for true (so a given default stays "set")."""
    return np.where(blank, 0, np.where(value, 2, 1)).astype(np.int8)


def _texts(a: pa.Array, blank: np.ndarray[Any, Any]) -> dict[int, str]:
    """Sparse row → stripped text for non-blank cells (Python's strip, as the model does)."""
    rows = np.flatnonzero(~blank)
    if not rows.size:
        return {}
    vals = a.take(pa.array(rows)).to_pylist()
    return {int(r): v.strip() for r, v in zip(rows.tolist(), vals, strict=True) if v.strip()}


def _slow_rows(t: pa.Table, rows: np.ndarray[Any, Any]) -> list[tuple[int, dict[str, str]]]:
    if not rows.size:
        return []
    sub = t.take(pa.array(rows)).to_pylist()
    return [(int(r) + 2, row) for r, row in zip(rows.tolist(), sub, strict=True)]


# --------------------------------------------------------------------------- links


def read_links(file: str, data: bytes) -> FastLinks | None:
    """Column-wise read of a links CSV; None when the whole file must take the reference path."""
    t = _table(data, LINK_COLUMNS, "licence_")
    if t is None:
        return None
    n = t.num_rows
    ok = np.ones(n, dtype=bool)
    ids = _col(t, "id")
    ok &= _match(ids, ID_RE)
    kind = _codes(_col(t, "kind"), [k.value for k in LINK_KINDS])
    ok &= kind >= 0
    lic_cols = [c for c in t.column_names if c.startswith("licence_")]
    has_lic = np.zeros(n, dtype=bool)
    for c in lic_cols:
        has_lic |= ~_blank(_col(t, c))
    ok &= ~has_lic | (kind == LINK_KINDS.index(LinkKind.LICENCE))
    src, dst = _col(t, "source"), _col(t, "target")
    ok &= _match(src, ID_RE) & _match(dst, ID_RE)
    ok &= ~_np(pc.equal(src, dst))

    share, smin, smax = _col(t, "share"), _col(t, "share_min"), _col(t, "share_max")
    b_share, b_min, b_max = _blank(share), _blank(smin), _blank(smax)
    ok_share, ok_min = _match(share, SHARE_RE), _match(smin, SHARE_RE)
    ok_max = _match(smax, SHARE_RE)
    ok &= b_share | ok_share
    ok &= b_min | ok_min
    ok &= b_max | ok_max
    ranged = ~b_min | ~b_max
    ok &= ~(ranged & ~b_share)  # both a share and a range: an error for the reference path
    v_share = _shares(share, ok_share & ~b_share)
    lo = np.where(ranged, np.where(b_min, 0.0, _shares(smin, ok_min & ~b_min)), v_share)
    hi = np.where(ranged, np.where(b_max, 1.0, _shares(smax, ok_max & ~b_max)), v_share)
    ok &= hi >= lo
    xmin_c, xmax_c = _col(t, "share_exclusive_min"), _col(t, "share_exclusive_max")
    b_xmin, b_xmax = _blank(xmin_c), _blank(xmax_c)
    ok &= (b_xmin & b_xmax) | ranged  # flags alone (no bounds) take the reference path
    ok &= _match(xmin_c, r"^[^ \t]*$") & _match(xmax_c, r"^[^ \t]*$")
    true3 = ("1", "true", "yes")
    xmin = _is_in(pc.utf8_lower(xmin_c), true3)
    xmax = _is_in(pc.utf8_lower(xmax_c), true3)
    has_share = ~b_share | ranged
    ownership = np.isin(kind, [LINK_KINDS.index(k) for k in OWNERSHIP_KINDS])
    ok &= ~ownership | has_share
    ok &= ~(has_share & (kind == LINK_KINDS.index(LinkKind.CONTROL)))  # an error: reference path

    vf_c, vt_c = _col(t, "valid_from"), _col(t, "valid_to")
    vf, ok_vf = _dates(vf_c, _blank(vf_c))
    vt, ok_vt = _dates(vt_c, _blank(vt_c))
    ok &= ok_vf & ok_vt
    ok &= (vf == NO_DATE) | (vt == NO_DATE) | (vt >= vf)

    st_c = _col(t, "status")
    b_st = _blank(st_c)
    status = _codes(st_c, [s.value for s in LINK_STATUSES])
    ok &= b_st | (status >= 0)
    status = np.where(b_st, 0, status + 1)  # 0: not given (the default), else code + 1

    unconfirmed, b_un, ok_un = _bool_col(t, "unconfirmed")
    ok &= ok_un

    role_c = _col(t, "role")
    b_role = _blank(role_c)
    role = _codes(role_c, [r for r in ROLES if r])
    role_fits = np.zeros(n, dtype=bool)
    for k, allowed in ROLES_OF.items():  # a role is valid only on its kind (Link._consistent)
        codes = [i for i, r in enumerate(ROLES[1:]) if r in allowed]
        role_fits |= (kind == LINK_KINDS.index(k)) & np.isin(role, codes)
    ok &= b_role | role_fits
    role = np.where(b_role, 0, role + 1)

    arr_c = _col(t, "arrangement")
    b_arr = _blank(arr_c)
    ok &= b_arr | _match(arr_c, ID_RE)
    srcs_c = _col(t, "sources")
    ok &= _match(srcs_c, SOURCES_RE)

    licences = _licences(t, lic_cols, np.flatnonzero(has_lic & ok), ok)  # may clear ok
    fast = np.flatnonzero(ok)
    slow = _slow_rows(t, np.flatnonzero(~ok))
    take = pa.array(fast)

    def sub(a: pa.Array) -> pa.Array:
        return a.take(take)

    sets = pc.dictionary_encode(sub(srcs_c))
    remap = {int(r): i for i, r in enumerate(fast.tolist())}

    def sparse(a: pa.Array, blank: np.ndarray[Any, Any]) -> dict[int, str]:
        return {remap[r]: v for r, v in _texts(a, blank | ~ok).items()}

    cols = LinkColumns(
        file=file,
        ids=sub(ids).to_pylist(),
        line=(fast + 2).astype(np.int32),
        source=np.zeros(len(fast), dtype=np.int32),  # resolved at assembly
        target=np.zeros(len(fast), dtype=np.int32),
        kind=kind[fast].astype(np.int8),
        share=np.where(ranged, 2, np.where(b_share, 0, 1))[fast].astype(np.int8),
        lo=lo[fast],
        hi=hi[fast],
        excl_min=_tri(xmin, b_xmin | ~ranged)[fast],
        excl_max=_tri(xmax, b_xmax | ~ranged)[fast],
        valid_from=vf[fast],
        valid_to=vt[fast],
        status=status[fast].astype(np.int8),
        unconfirmed=_tri(unconfirmed, b_un)[fast],
        role=role[fast].astype(np.int8),
        source_sets=[tuple(s.split(";")) for s in sets.dictionary.to_pylist()],
        source_set=np.asarray(sets.indices.to_numpy(zero_copy_only=False), dtype=np.int32),
        arrangement=sparse(arr_c, b_arr),
        unconfirmed_note=sparse(_col(t, "unconfirmed_note"), _blank(_col(t, "unconfirmed_note"))),
        note=sparse(_col(t, "note"), _blank(_col(t, "note"))),
        licence={remap[r]: v for r, v in licences.items() if ok[r]},
    )
    return FastLinks(cols, sub(src), sub(dst), slow)


def _licences(
    t: pa.Table, cols: list[str], rows: np.ndarray[Any, Any], ok: np.ndarray[Any, Any]
) -> dict[int, LicenceTerms]:
    """Licence terms of ``rows``, validated by pydantic one small record at a time (a few % of
    the links); a row whose terms do not validate is marked not ``ok`` (reference path)."""
    if not rows.size:
        return {}
    take = pa.array(rows)
    values = {c.removeprefix("licence_"): _col(t, c).take(take).to_pylist() for c in cols}
    out: dict[int, LicenceTerms] = {}
    for j, r in enumerate(rows.tolist()):
        rec: dict[str, Any] = {}
        for sub, vals in values.items():
            v = vals[j].strip()
            if v:
                rec[sub] = (
                    [p.strip() for p in v.split(";") if p.strip()]
                    if sub == ("licensor_controls")
                    else v
                )
        try:
            out[r] = LicenceTerms.model_validate(rec)
        except ValidationError:
            ok[r] = False
    return out


# --------------------------------------------------------------------------- entities


def read_entities(file: str, data: bytes) -> FastEntities | None:
    """Column-wise read of an entities CSV; None when the whole file takes the reference path.

    Entities stay pydantic objects (a few per link, and read everywhere); rows that pass the
    strict checks are built as ``model_construct`` would (all fields in declaration order, the
    given ones marked set) instead of being validated one by one.
    Rows with aliases or list memberships take the reference path; identifiers written plainly
    (``SCHEME:ID;…``, no blanks) are read here.
    """
    t = _table(data, ENTITY_COLUMNS, None)
    if t is None:
        return None
    ids = _col(t, "id")
    ok = _match(ids, ID_RE)
    for name in ("aliases", "lists"):
        ok &= _blank(_col(t, name))
    idents_c = _col(t, "identifiers")
    b_idents = _blank(idents_c)
    ok &= b_idents | _match(idents_c, IDENTIFIERS_RE)
    name_c = _col(t, "name")
    names = name_c.to_pylist()
    # Python's strip, as the model applies it: a name that begins and ends with a printable
    # ASCII character, a letter or a digit is cleared by one vectorized regex; any other
    # (rare) name is compared with its strip() one by one
    ok &= ~_blank(name_c)
    safe = r"[!-~\p{L}\p{N}]"
    for r in np.flatnonzero(~_match(name_c, f"^{safe}(.*{safe})?$")).tolist():
        ok[r] = ok[r] and names[r] == names[r].strip()
    kinds = [k.value for k in EntityKind]
    kind = _codes(_col(t, "kind"), kinds)
    ok &= kind >= 0
    countries = sorted(ISO_3166_ALPHA2)
    cc: dict[str, np.ndarray[Any, Any]] = {}
    for c in ("country", "principal_place"):
        col = _col(t, c)
        blank = _blank(col)
        code = _codes(col, countries)  # upper-case codes only; others take the reference path
        ok &= blank | (code >= 0)
        cc[c] = np.where(blank, -1, code)
    us_true, b_us, ok_us = _bool_col(t, "us_person")
    unconfirmed, b_un, ok_un = _bool_col(t, "unconfirmed")
    ok &= ok_us & ok_un
    srcs_c = _col(t, "sources")
    b_srcs = _blank(srcs_c)
    ok &= b_srcs | _match(srcs_c, SOURCES_RE)

    fast = np.flatnonzero(ok)
    notes = {c: _texts(_col(t, c), _blank(_col(t, c)) | ~ok) for c in ("unconfirmed_note", "note")}
    noted = set().union(*notes.values())
    take = pa.array(fast)
    f_ids = ids.take(take).to_pylist()
    f_srcs = pc.if_else(pa.array(b_srcs), pa.scalar(""), srcs_c).take(take).to_pylist()
    kind_of = [EntityKind(k) for k in kinds]
    kind_l = kind[fast].tolist()
    us_l = np.where(b_us, 0, np.where(us_true, 2, 1))[fast].tolist()
    un_l = _tri(unconfirmed, b_un)[fast].tolist()
    names_f = [names[r] for r in fast.tolist()]
    idents_f = pc.if_else(pa.array(b_idents), pa.scalar(""), idents_c).take(take).to_pylist()
    cn = [None, *countries]  # code + 1 → country (None when blank)
    country_l = (cc["country"][fast] + 1).tolist()
    place_l = (cc["principal_place"][fast] + 1).tolist()
    fieldsets: dict[tuple[bool, ...], set[str]] = {}  # shared: entities are frozen
    out: list[tuple[int, Entity]] = []
    for j, r in enumerate(fast.tolist()):
        us, un, srcs, ct, pl = us_l[j], un_l[j], f_srcs[j], country_l[j], place_l[j]
        d = {
            "id": f_ids[j],
            "name": names_f[j],
            "kind": kind_of[kind_l[j]],
            "country": cn[ct],
            "principal_place": cn[pl],
            "us_person": None if us == 0 else us == 2,
            "aliases": [],
            "lists": [],
            "sources": srcs.split(";") if srcs else [],
            "unconfirmed": un == 2,
            "unconfirmed_note": None,
            "note": None,
            "identifiers": _identifiers(idents_f[j], srcs),
            "facts": None,
        }
        if r in noted:  # rare: notes are sparse
            for c, texts in notes.items():
                if (v := texts.get(r)) is not None:
                    d[c] = v
        noted_r = r in noted
        key = (
            ct > 0,
            pl > 0,
            us > 0,
            bool(srcs),
            un > 0,
            noted_r and r in notes["unconfirmed_note"],
            noted_r and r in notes["note"],
            bool(idents_f[j]),
        )
        fs = fieldsets.get(key)
        if fs is None:
            fs = fieldsets[key] = {"id", "name", "kind"} | {
                f
                for f, given in zip(
                    (
                        "country",
                        "principal_place",
                        "us_person",
                        "sources",
                        "unconfirmed",
                        *notes,
                        "identifiers",
                    ),
                    key,
                    strict=True,
                )
                if given
            }
        out.append((r + 2, build(Entity, d, fs)))
    return FastEntities(out, _slow_rows(t, np.flatnonzero(~ok)))
