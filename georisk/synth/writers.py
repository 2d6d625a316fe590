"""Writing the synthetic dataset: entities and links as bulk CSV, arrangements as JSONL.

Rows are built from the index arrays in chunks of 200,000 and written with the ``csv`` module;
names are composed from the tables (:mod:`georisk.synth.tables`) when a row is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from georisk.synth.spec import SOURCE_ID, SOURCE_URL, SynthSpec
from georisk.synth.structure import World, norm, uniform_int
from georisk.synth.tables import (
    CHEM_P,
    CHEMISTRY,
    CIDX,
    CONTROLS,
    COUNTRIES,
    COUNTRY_NAMES,
    DATE_STR,
    DEFAULT_SUFFIX,
    FAC,
    FACILITY_TYPES,
    FAMILY,
    FUND,
    FUND_WORDS,
    GENERIC,
    GIVEN,
    GOV,
    I64,
    IRANIAN,
    JAPANESE,
    KINDS,
    KNOW_HOW,
    KOREAN,
    LINK_KINDS,
    PERSON,
    PINYIN,
    PRODUCTS,
    RUSSIAN,
    SB,
    SECTOR,
    SHARE_STR,
    STAGES,
    STATE_BODY_NAMES,
    SUFFIX,
    TECHNOLOGY,
    US_REGIONS,
    day_code,
)

__all__ = ["write_arrangements", "write_entities", "write_links", "write_sources"]


def _eid(i: int) -> str:
    return f"e{i:07d}"


def _entity_name(w: World, i: int, kind: int, c: str) -> str:
    a, b, s = int(w.name_a[i]), int(w.name_b[i]), int(w.name_c[i])
    if kind == GOV:
        return f"Government of {COUNTRY_NAMES[c]}"
    if kind == SB:
        names = STATE_BODY_NAMES[c]
        base = names[a % len(names)]
        return base if i % 7 == 0 else f"{base} (branch {i})"
    if kind == PERSON:
        key = c if c in FAMILY else ("CN" if c in ("HK", "TW", "SG") else "XX")
        fam, giv = FAMILY[key].split(), GIVEN[key].split()
        return f"{giv[a % len(giv)]} {fam[b % len(fam)]}"
    if kind == FAC:
        where = US_REGIONS[a % len(US_REGIONS)].replace("-", " ") if c == "US" else c
        return f"{where} {FACILITY_TYPES[b % len(FACILITY_TYPES)]} {i}"
    if c in ("CN", "HK", "TW"):
        stem = PINYIN[a % len(PINYIN)] + PINYIN[b % len(PINYIN)].lower()
    elif c == "JP":
        stem = JAPANESE[a % len(JAPANESE)] + JAPANESE[b % len(JAPANESE)].lower()
    elif c == "KR":
        stem = KOREAN[a % len(KOREAN)] + KOREAN[b % len(KOREAN)].lower()
    elif c in ("RU", "KP"):
        stem = RUSSIAN[a % len(RUSSIAN)] + RUSSIAN[b % len(RUSSIAN)].lower()
    elif c == "IR":
        stem = IRANIAN[a % len(IRANIAN)] + " " + IRANIAN[b % len(IRANIAN)]
    else:
        stem = GENERIC[a % len(GENERIC)] + " " + GENERIC[b % len(GENERIC)]
    if kind == FUND:
        return f"{stem} {FUND_WORDS[s % len(FUND_WORDS)]}"
    suffixes = SUFFIX.get(c, DEFAULT_SUFFIX)
    return f"{stem} {SECTOR[s % len(SECTOR)]} {suffixes[(s >> 8) % len(suffixes)]}"


_CHUNK = 200_000


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    for a in range(0, n, _CHUNK):
        yield a, min(n, a + _CHUNK)


def _write_csv(path: Path, header: Sequence[str], rows: Callable[[int, int], Any], n: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(header)
        for a, b in _chunks(n):
            out.writerows(rows(a, b))


def write_entities(path: Path, w: World) -> None:
    header = (
        "id",
        "name",
        "kind",
        "country",
        "principal_place",
        "us_person",
        "lists",
        "sources",
        "unconfirmed",
        "unconfirmed_note",
    )
    us = CIDX["US"]
    note = "synthetic: this entity's existence is not confirmed"

    def rows(a: int, b: int) -> Iterator[tuple[str, ...]]:
        kinds = w.kind[a:b].tolist()
        countries = w.country[a:b].tolist()
        principal = w.principal[a:b].tolist()
        unc = w.unconfirmed[a:b].tolist()
        for off, (k, c, p, u) in enumerate(zip(kinds, countries, principal, unc, strict=True)):
            i = a + off
            code = COUNTRIES[c]
            yield (
                _eid(i),
                _entity_name(w, i, k, code),
                KINDS[k],
                code,
                COUNTRIES[p] if p >= 0 else "",
                ("true" if c == us else "false") if k == PERSON else "",
                w.lists.get(i, ""),
                SOURCE_ID,
                "true" if u else "",
                note if u else "",
            )

    _write_csv(path, header, rows, w.n)


_LINK_HEADER = (
    "id",
    "kind",
    "source",
    "target",
    "share",
    "share_min",
    "share_max",
    "valid_from",
    "valid_to",
    "status",
    "unconfirmed",
    "unconfirmed_note",
    "role",
    "licence_technology",
    "licence_chemistry",
    "licence_signed",
    "licence_modified",
    "licence_core_ip",
    "licence_royalty_years",
    "licence_service_years",
    "licence_know_how_transfer",
    "licence_licensor_controls",
    "sources",
)


def write_links(path: Path, cols: dict[str, I64], lic: dict[str, I64], width: int) -> None:
    status_s = ("confirmed", "reported", "proposed")
    role_s = ("", "board", "officer")
    core_s = ("", "true", "false")
    unc_note = "synthetic: no authority confirmed this link"
    empty_lic = ("",) * 9

    def lic_cells(j: int) -> tuple[str, ...]:
        chem = CHEMISTRY[int(lic["chemistry"][j])]
        ry, sy, ctl = (
            int(lic[k][j]) for k in ("royalty_years", "service_years", "licensor_controls")
        )
        return (
            f"{chem} {TECHNOLOGY[int(lic['technology'][j])]}",
            chem,
            DATE_STR[int(lic["signed"][j])],
            DATE_STR[int(lic["modified"][j])],
            core_s[int(lic["core_ip"][j])],
            str(ry) if ry >= 0 else "",
            str(sy) if sy >= 0 else "",
            KNOW_HOW[int(lic["know_how_transfer"][j])],
            CONTROLS[ctl] if ctl >= 0 else "",
        )

    def rows(a: int, b: int) -> Iterator[tuple[str, ...]]:
        it = zip(
            *(
                cols[c][a:b].tolist()
                for c in (
                    "kind",
                    "src",
                    "tgt",
                    "lo",
                    "hi",
                    "vfrom",
                    "vto",
                    "status",
                    "unc",
                    "role",
                    "lic",
                )
            ),
            strict=True,
        )
        for off, (k, s, t, lo, hi, vf, vt, st, u, ro, li) in enumerate(it):
            if lo < 0:
                share = smin = smax = ""
            elif hi != lo:
                share, smin, smax = "", SHARE_STR[lo], SHARE_STR[hi]
            else:
                share, smin, smax = SHARE_STR[lo], "", ""
            yield (
                f"l{a + off:0{width}d}",
                LINK_KINDS[k],
                _eid(s),
                _eid(t),
                share,
                smin,
                smax,
                DATE_STR[vf],
                DATE_STR[vt],
                status_s[st],
                "true" if u else "",
                unc_note if u else "",
                role_s[ro],
                *(lic_cells(li) if li >= 0 else empty_lic),
                SOURCE_ID,
            )

    _write_csv(path, _LINK_HEADER, rows, len(cols["kind"]))


def write_arrangements(
    spec: SynthSpec, w: World, facts: dict[str, I64], rng: np.random.Generator, path: Path
) -> int:
    fac = facts["fac"]
    n_arr = spec.arrangements
    if n_arr == 0 or len(fac) == 0:
        path.write_text("", encoding="utf-8")
        return 0
    which = np.arange(n_arr) % len(fac)
    n_products = rng.integers(1, 4, n_arr)
    prod_perm = np.argsort(rng.random((n_arr, len(PRODUCTS))), axis=1)
    chem = rng.choice(len(CHEMISTRY), size=n_arr, p=norm(CHEM_P))
    gwh = np.round(np.clip(rng.lognormal(np.log(10.0), 0.9, n_arr), 0.5, 200.0), 1)
    ranged = rng.random(n_arr) < 0.25
    n_events = rng.integers(1, 5, n_arr)
    first_stage = (rng.random(n_arr) < 0.6).astype(np.int64)  # talks or announced
    start = uniform_int(rng, day_code(dt.date(2019, 1, 1)), day_code(dt.date(2025, 6, 30)), n_arr)
    steps = uniform_int(rng, 60, 540, n_arr * 4).reshape(n_arr, 4)
    ending = rng.random(n_arr)
    unc = rng.random(n_arr) < spec.unconfirmed_share
    us = CIDX["US"]
    src = [SOURCE_ID]
    last = day_code(dt.date(2026, 11, 30))
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n_arr):
            f = int(which[i])
            focal = int(fac[f])
            country = int(w.country[focal])
            owner = int(facts["owner"][f])
            parties = [{"entity": _eid(owner), "role": "owner"}]
            for key, role in (
                ("partner", "jv_partner"),
                ("operator", "operator"),
                ("licensor", "licensor"),
                ("offtaker", "offtaker"),
            ):
                e = int(facts[key][f])
                if e >= 0:
                    parties.append({"entity": _eid(e), "role": role})
            stage0 = int(first_stage[i])
            day = int(start[i])
            events: list[dict[str, Any]] = []
            for j in range(int(n_events[i])):
                stage = min(stage0 + j, len(STAGES) - 1)
                if j and STAGES[stage] == events[-1]["status"]:
                    break
                events.append(
                    {"status": STAGES[stage], "date": DATE_STR[min(day, last)], "sources": src}
                )
                day += int(steps[i, j])
            if ending[i] < 0.06 and day <= last:
                events.append({"status": "cancelled", "date": DATE_STR[day], "sources": src})
            elif ending[i] < 0.12 and day <= last:
                events.append({"status": "paused", "date": DATE_STR[day], "sources": src})
            cap: dict[str, Any]
            g = float(gwh[i])
            if ranged[i]:
                cap = {"minimum_gwh": round(g * 0.6, 1), "maximum_gwh": g, "sources": src}
            else:
                cap = {"gwh": g, "sources": src}
            phase = i // len(fac)
            rec: dict[str, Any] = {
                "record": "arrangement",
                "id": f"a{i:06d}",
                "name": _entity_name(w, focal, FAC, COUNTRIES[country])
                + (f" phase {phase + 1}" if phase else ""),
                "focal": _eid(focal),
                "parties": parties,
            }
            if country == us and w.country[owner] == us:
                rec["taxpayer"] = _eid(owner)
            rec.update(
                {
                    "country": COUNTRIES[country],
                    "products": sorted(
                        PRODUCTS[p] for p in prod_perm[i, : int(n_products[i])].tolist()
                    ),
                    "chemistry": CHEMISTRY[int(chem[i])],
                    "capacity": cap,
                    "status": events,
                    "sources": src,
                }
            )
            if unc[i]:
                rec["unconfirmed"] = True
                rec["unconfirmed_note"] = "synthetic: the deal's terms are not confirmed"
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    return n_arr


def write_sources(path: Path, spec: SynthSpec) -> None:
    """The one source every synthetic record cites; its note says the data is synthetic."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        sw = csv.writer(fh, lineterminator="\n")
        sw.writerow(("id", "title", "url", "note"))
        sw.writerow(
            (
                SOURCE_ID,
                "Synthetic dataset (georisk synth)",
                SOURCE_URL,
                f"synthetic data generated by georisk synth, seed {spec.seed}"
                + (", realistic ownership" if spec.mode == "realistic" else ""),
            )
        )
