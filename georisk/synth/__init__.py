"""Realistic, large, **synthetic** datasets for benchmarks and tests (``georisk synth``).

:func:`generate` writes a dataset directory in the bulk formats of ``data/README.md``
(``synth.sources.csv``, ``synth.entities.csv``, ``synth.links.csv`` and
``synth.arrangements.jsonl``) that :func:`georisk.scoring.dataset.load_dataset` accepts as it is:

* a country mix (about a quarter of companies organized in covered nations, mostly CN), one
  government per country, state bodies in the covered nations, persons, funds, companies and
  the facilities the arrangements are about;
* state-owned chains (government → state body → SOE holding → subsidiaries → …), domestic and
  cross-border corporate trees with majority and minority stakes, person and fund holdings,
  cross-holdings that close ownership cycles, some ranged (BODS-style) shares;
* votes, debt, board/officer appointments, technology licences (with terms), equipment,
  services, operation, material supply and offtake links; some dated, reported, proposed or
  unconfirmed;
* restricted-party list members (``dod-1260h``, ``ndaa-fy2024-154``, ``uflpa-entity-list``);
* arrangements around facilities (mostly in the US) with parties, a status history, capacity
  and, for US plants, the US owner as taxpayer.

Every record cites one source, ``synth``, whose note says the data is synthetic. Equity (and
votes) held in any entity add up to at most 100% (share minimums, in whole basis points), so
the loader's check passes on every date. Output is deterministic for a seed (NumPy
``Generator``); the generator works on index arrays and writes rows with the ``csv`` module in
chunks, never building pydantic objects or a graph: a million entities and three million links
take about 20 s and < 1 GB RSS (loading them with the pydantic loader: about 3 min and 9 GB).

>>> import tempfile, pathlib
>>> from georisk.scoring.dataset import load_dataset
>>> with tempfile.TemporaryDirectory() as tmp:
...     stats = generate(SynthSpec(entities=400, arrangements=20, seed=1), pathlib.Path(tmp))
...     ds = load_dataset(tmp)
>>> len(ds.entities) == stats.entities == 400, len(ds.arrangements)
(True, 20)
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["SOURCE_ID", "SynthSpec", "SynthStats", "generate"]

SOURCE_ID = "synth"
SOURCE_URL = "https://example.invalid/georisk-synth"

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Arr = npt.NDArray[Any]


@dataclass(frozen=True)
class SynthSpec:
    """What to generate. Counts are targets; the links actually written are within a few %."""

    entities: int = 10_000
    links_per_entity: float = 3.0  # total links ≈ entities × this
    arrangements: int = 1_000
    seed: int = 0
    covered_share: float = 0.25  # fraction of companies organized in CN/RU/IR/KP (mostly CN)
    ranged_share: float = 0.05  # fraction of equity links with a ranged share (BODS min/max)
    unconfirmed_share: float = 0.03

    def check(self) -> None:
        if self.entities < 200:
            raise ValueError("entities must be at least 200")
        if self.links_per_entity < 0 or self.arrangements < 0:
            raise ValueError("links_per_entity and arrangements must not be negative")
        for name in ("covered_share", "ranged_share", "unconfirmed_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")


@dataclass(frozen=True)
class SynthStats:
    """Counts of what :func:`generate` wrote, and how long it took."""

    sources: int
    entities: int
    links: int
    arrangements: int
    entities_by_kind: dict[str, int]
    links_by_kind: dict[str, int]
    entities_by_country: dict[str, int]
    listed: int  # list memberships
    ranged_shares: int
    unconfirmed_links: int
    files: list[str]
    bytes: int
    seconds: float
    spec: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- reference tables


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


COVERED = ("CN", "RU", "IR", "KP")
_COVERED_MIX = (0.94, 0.04, 0.015, 0.005)
# companies outside the covered nations (weights, normalized below)
_OTHER = (
    ("US", 33),
    ("JP", 8),
    ("KR", 8),
    ("DE", 7),
    ("GB", 5),
    ("FR", 4),
    ("NL", 3),
    ("ES", 2),
    ("IT", 2),
    ("SE", 2),
    ("PL", 2),
    ("HU", 2),
    ("CH", 1),
    ("IN", 4),
    ("SG", 3),
    ("HK", 4),
    ("TW", 4),
    ("CA", 3),
    ("MX", 2),
    ("AU", 2),
    ("ID", 2),
    ("VN", 2),
    ("TH", 1),
    ("MA", 1),
    ("CL", 1),
    ("BR", 1),
)
COUNTRIES: tuple[str, ...] = COVERED + tuple(c for c, _ in _OTHER)
_CIDX = {c: i for i, c in enumerate(COUNTRIES)}
_COUNTRY_NAMES = {
    "CN": "the People's Republic of China",
    "RU": "the Russian Federation",
    "IR": "the Islamic Republic of Iran",
    "KP": "the Democratic People's Republic of Korea",
    "US": "the United States",
    "JP": "Japan",
    "KR": "the Republic of Korea",
    "DE": "Germany",
    "GB": "the United Kingdom",
    "FR": "France",
    "NL": "the Netherlands",
    "ES": "Spain",
    "IT": "Italy",
    "SE": "Sweden",
    "PL": "Poland",
    "HU": "Hungary",
    "CH": "Switzerland",
    "IN": "India",
    "SG": "Singapore",
    "HK": "Hong Kong SAR",
    "TW": "Taiwan",
    "CA": "Canada",
    "MX": "Mexico",
    "AU": "Australia",
    "ID": "Indonesia",
    "VN": "Viet Nam",
    "TH": "Thailand",
    "MA": "Morocco",
    "CL": "Chile",
    "BR": "Brazil",
}
# facility locations: mostly US plants (the rules are US rules), some in Europe and Asia
_FACILITY_MIX = (
    ("US", 65),
    ("DE", 5),
    ("HU", 4),
    ("ES", 3),
    ("GB", 3),
    ("FR", 2),
    ("PL", 2),
    ("SE", 1),
    ("MX", 3),
    ("CA", 3),
    ("KR", 2),
    ("JP", 2),
    ("CN", 3),
    ("MA", 1),
    ("ID", 1),
)
# licensors / equipment makers / material suppliers lean on CN, KR and JP battery makers
_TECH_BIAS = {"CN": 6.0, "KR": 3.0, "JP": 3.0, "US": 1.0, "DE": 0.5, "TW": 0.5, "HK": 0.5}

KINDS = (
    "government",
    "state_body",
    "company",
    "fund",
    "person",
    "facility",
)
GOV, SB, COMP, FUND, PERSON, FAC = range(6)

LINK_KINDS = (
    "equity",
    "voting",
    "appointment",
    "debt",
    "licence",
    "equipment",
    "services",
    "operation",
    "offtake",
    "supply",
)
EQ, VOTE, APPT, DEBT, LIC, EQUIP, SERV, OPER, OFFT, SUPP = range(10)

_STATE_BODY_NAMES = {
    "CN": (
        "State-owned Assets Supervision and Administration Commission of the State Council",
        "Ministry of Industry and Information Technology",
        "National Development and Reform Commission",
        "Ministry of Finance",
        "Central Huijin Investment",
    ),
    "RU": ("Federal Agency for State Property Management", "Ministry of Energy"),
    "IR": ("Industrial Development and Renovation Organization", "Ministry of Industry"),
    "KP": ("Ministry of Electronics Industry",),
}
_PINYIN = _words(
    "Hua Zhong Guo Xin Tian Long Feng Hai Jin Yuan Rui Sheng Tong Da Kai Heng Bao Chang Ning "
    "Shan Dong Xi Nan Bei Hong Ming Yang An Jia Li Hui Xing Fu Cheng Wei De Zhi Yu Qing"
)
_JAPANESE = _words("Toyo Nihon Yama Kawa Fuji Sumi Mitsu Hoku Tai Asa Naka Shin Kyo Hiro Ota")
_KOREAN = _words("Han Dae Sam Hyun Kum Seo Jin Woo Sung Kyung Hae Chung Il Yeong")
_RUSSIAN = _words("Ros Sib Ural Volga Neva Sever Tech Energo Prom Don Baikal Amur")
_IRANIAN = _words("Pars Sepahan Khazar Alborz Kavir Zagros Iran Mehr Arya")
_GENERIC = _words(
    "North Star Blue River Summit Granite Pioneer Atlas Keystone Vector Horizon Meridian "
    "Lakeshore Redwood Harbor Crescent Liberty Beacon Sterling Cardinal Everest Orion Apex "
    "Silverline Ironwood Clearwater Highland Prairie Coastal Frontier Union"
)
_SECTOR = (
    "Battery",
    "Energy",
    "New Energy",
    "Lithium",
    "Power Systems",
    "Materials",
    "Advanced Materials",
    "Cathode",
    "Anode",
    "Electrolyte",
    "Mining",
    "Automotive",
    "Motors",
    "Storage",
    "Electronics",
    "Technology",
    "Industrial",
    "Holdings",
    "Capital",
    "Equipment",
)
_SUFFIX = {
    "CN": ("Co., Ltd.", "Group Co., Ltd.", "Technology Co., Ltd.", "Holdings Ltd."),
    "HK": ("Holdings Ltd.", "International Ltd.", "Ltd."),
    "TW": ("Corp.", "Co., Ltd."),
    "JP": ("Corporation", "Co., Ltd.", "K.K."),
    "KR": ("Co., Ltd.", "Corp.", "Solutions"),
    "DE": ("GmbH", "AG", "SE"),
    "FR": ("SAS", "SA"),
    "NL": ("B.V.", "N.V."),
    "ES": ("S.A.", "S.L."),
    "IT": ("S.p.A.", "S.r.l."),
    "SE": ("AB",),
    "PL": ("Sp. z o.o.", "S.A."),
    "HU": ("Kft.", "Zrt."),
    "CH": ("AG", "SA"),
    "RU": ("JSC", "PJSC", "LLC"),
    "IR": ("Co.", "Industrial Group"),
    "KP": ("Corporation", "General Bureau"),
    "GB": ("Ltd", "plc"),
    "SG": ("Pte. Ltd.",),
    "IN": ("Pvt. Ltd.", "Ltd."),
    "ID": ("PT", "Tbk"),
    "VN": ("JSC", "Co., Ltd."),
    "TH": ("Public Co., Ltd.",),
    "MX": ("S.A. de C.V.",),
    "BR": ("S.A.", "Ltda."),
    "CL": ("S.A.", "SpA"),
}
_DEFAULT_SUFFIX = ("Inc.", "Corp.", "LLC", "Holdings Inc.")
_FUND_WORDS = ("Capital Partners", "Investment Fund", "Growth Fund", "Industrial Fund", "Ventures")
_FAMILY = {
    "CN": "Wang Li Zhang Liu Chen Yang Zhao Huang Zhou Wu Xu Sun Hu Zhu Gao Lin He Guo Ma Luo",
    "JP": "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato",
    "KR": "Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim",
    "RU": "Ivanov Smirnov Kuznetsov Popov Vasiliev Petrov Sokolov Mikhailov",
    "IR": "Hosseini Mohammadi Rezaei Ahmadi Karimi Moradi Jafari",
    "KP": "Kim Ri Pak Choe Jong Kang",
    "XX": "Smith Johnson Miller Garcia Brown Martin Muller Schmidt Rossi Dubois Novak Patel "
    "Singh Nguyen Tan Lopez Silva Jensen Andersson Kowalski",
}
_GIVEN = {
    "CN": "Wei Fang Min Jing Lei Yan Jun Hua Ming Xia Qiang Lin Hao Jie Bin Yun",
    "JP": "Hiroshi Takeshi Yuki Kenji Akira Naoko Satoshi Yoko",
    "KR": "Min-jun Seo-yeon Ji-ho Ha-eun Jae-won Soo-jin",
    "RU": "Alexei Dmitri Sergei Olga Natalia Ivan Mikhail",
    "IR": "Ali Reza Mehdi Maryam Zahra Hossein",
    "KP": "Chol Song Myong Hyok Yong",
    "XX": "James Maria David Anna Michael Laura Thomas Sofia Daniel Emma Lucas Priya Omar Elena",
}
_US_REGIONS = _words(
    "Michigan Kentucky Tennessee Georgia Ohio Indiana Nevada Arizona Texas South-Carolina "
    "North-Carolina Kansas Illinois New-York Alabama Mississippi Oklahoma West-Virginia"
)
_FACILITY_TYPES = ("Battery Plant", "Gigafactory", "Cell Plant", "Battery Park", "Pack Plant")
_CHEMISTRY = ("LFP", "NMC", "LMFP", "NCA", "sodium-ion", "LMR")
_CHEM_P = (0.45, 0.25, 0.1, 0.05, 0.1, 0.05)
_TECHNOLOGY = (
    "battery cell technology",
    "cell manufacturing process",
    "cell-to-pack integration",
    "cathode material process",
    "energy-storage system design",
)
_KNOW_HOW = ("full", "partial", "none", "unknown")
_CONTROLS = ("component_sourcing", "operations", "ip_use", "component_sourcing;operations")
_PRODUCTS = ("cells", "modules", "packs", "storage")
_STAGES = ("talks", "announced", "construction", "producing")

_EPOCH = dt.date(1990, 1, 1)
_DAYS = (dt.date(2041, 1, 1) - _EPOCH).days


def _day(d: dt.date) -> int:
    return (d - _EPOCH).days


# string tables: index code → cell text; the last entry is the empty cell
_DATE_STR = [(_EPOCH + dt.timedelta(days=i)).isoformat() for i in range(_DAYS)] + [""]
NO_DATE = _DAYS
_SHARE_STR = ["0"] + [f"0.{i:04d}".rstrip("0") for i in range(1, 10000)] + ["1", ""]
NO_SHARE = 10001
BP = 10000  # shares are drawn and checked in whole basis points


# --------------------------------------------------------------------------- helpers


def _norm(weights: Sequence[float] | F64) -> F64:
    w: F64 = np.asarray(weights, dtype=np.float64)
    out: F64 = w / w.sum()
    return out


def _uniform_int(rng: np.random.Generator, lo: int, hi: int, n: int) -> I64:
    """Integers in [lo, hi] (inclusive)."""
    return rng.integers(lo, hi + 1, size=n, dtype=np.int64)


def _pick(rng: np.random.Generator, pool: I64, n: int) -> I64:
    if len(pool) == 0:
        raise ValueError("empty pool")
    return pool[rng.integers(0, len(pool), size=n)]


class _CountryPools:
    """Members of a pool grouped by country, to draw e.g. a US company for a US plant."""

    def __init__(self, members: I64, countries: I64) -> None:
        order = np.argsort(countries[members], kind="stable")
        self.sorted = members[order]
        counts = np.bincount(countries[members], minlength=len(COUNTRIES))
        self.count = counts.astype(np.int64)
        self.start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def draw(self, rng: np.random.Generator, want: I64) -> I64:
        """One member per requested country; any member where the country has none."""
        cnt = self.count[want]
        u = rng.random(len(want))
        has = cnt > 0
        pos = np.where(has, self.start[want] + (u * np.maximum(cnt, 1)).astype(np.int64), 0)
        anyone = (u * len(self.sorted)).astype(np.int64)
        return np.where(has, self.sorted[pos], self.sorted[anyone])

    def members(self, country: str) -> I64:
        c = _CIDX[country]
        return self.sorted[self.start[c] : self.start[c] + self.count[c]]


def _fit_shares(target: I64, lo: I64, hi: I64, n_entities: int) -> tuple[I64, I64]:
    """Scale share minimums (basis points) so that every target's total is ≤ 100%.

    Targets over 100% get every holder's share scaled by the same factor (rounded down, at
    least 1 bp, with room kept for that rounding); the maximum of a range follows its minimum.
    """
    total = np.bincount(target, weights=lo, minlength=n_entities)
    count = np.bincount(target, minlength=n_entities)
    over = total > BP
    if not over.any():
        return lo, hi
    room = np.maximum(BP - count, 1).astype(np.float64)
    factor = np.where(over, room / np.maximum(total, 1.0), 1.0)[target]
    new_lo = np.where(factor < 1.0, np.maximum(np.floor(lo * factor), 1), lo).astype(np.int64)
    new_hi = np.maximum(np.where(factor < 1.0, np.floor(hi * factor), hi), new_lo)
    check = np.bincount(target, weights=new_lo, minlength=n_entities)
    if (check > BP).any():  # only when a target has > 5,000 holders: spread evenly
        bad = (check > BP)[target]
        even = np.maximum(BP // np.maximum(count[target], 1), 0)
        new_lo = np.where(bad, even, new_lo)
        new_hi = np.where(bad, even, new_hi)
    return new_lo, new_hi.astype(np.int64)


class _Links:
    """Column chunks of the links being generated (entity indexes, codes, basis points)."""

    COLS = ("kind", "src", "tgt", "lo", "hi", "vfrom", "role", "firm", "lic")

    def __init__(self) -> None:
        self.chunks: dict[str, list[I64]] = {c: [] for c in self.COLS}
        self.lic_rows: list[dict[str, I64]] = []
        self.n_lic = 0

    def add(
        self,
        kind: int,
        src: I64,
        tgt: I64,
        lo: I64 | None = None,
        hi: I64 | None = None,
        vfrom: I64 | None = None,
        role: I64 | None = None,
        firm: bool = False,
        licence: dict[str, I64] | None = None,
    ) -> None:
        ok = src != tgt  # no self-links
        if not ok.all():
            src, tgt = src[ok], tgt[ok]
            lo, hi, vfrom, role = (None if a is None else a[ok] for a in (lo, hi, vfrom, role))
            if licence is not None:
                licence = {k: v[ok] for k, v in licence.items()}
        n = len(src)
        if n == 0:
            return
        none = np.full(n, -1, dtype=np.int64)
        lo_ = none if lo is None else lo
        self.chunks["kind"].append(np.full(n, kind, dtype=np.int64))
        self.chunks["src"].append(src.astype(np.int64))
        self.chunks["tgt"].append(tgt.astype(np.int64))
        self.chunks["lo"].append(lo_)
        self.chunks["hi"].append(lo_ if hi is None else hi)
        self.chunks["vfrom"].append(none if vfrom is None else vfrom)
        self.chunks["role"].append(np.zeros(n, dtype=np.int64) if role is None else role)
        self.chunks["firm"].append(np.full(n, int(firm), dtype=np.int64))
        if licence is not None:
            self.chunks["lic"].append(np.arange(self.n_lic, self.n_lic + n, dtype=np.int64))
            self.lic_rows.append(licence)
            self.n_lic += n
        else:
            self.chunks["lic"].append(none)

    def arrays(self) -> dict[str, I64]:
        return {
            c: np.concatenate(v) if v else np.zeros(0, np.int64) for c, v in self.chunks.items()
        }

    def licence_table(self) -> dict[str, I64]:
        keys = self.lic_rows[0].keys() if self.lic_rows else ()
        return {k: np.concatenate([r[k] for r in self.lic_rows]) for k in keys}


# --------------------------------------------------------------------------- the generator


@dataclass
class _World:
    n: int
    kind: I64
    country: I64
    principal: I64  # country index or -1
    unconfirmed: I64
    name_a: I64
    name_b: I64
    name_c: I64
    lists: dict[int, str]
    ranges: dict[int, tuple[int, int]]  # kind → [start, end)


def _entities(spec: SynthSpec, rng: np.random.Generator) -> _World:
    n = spec.entities
    n_gov = len(COUNTRIES)
    n_cn_sb = max(3, min(60, n // 20_000))
    sb_country = [0] * n_cn_sb + [1, 1, 2, 2, 3]
    n_sb = len(sb_country)
    n_fac = min(spec.arrangements, int(0.3 * n)) if spec.arrangements else max(1, n // 100)
    n_person = int(0.15 * n)
    n_fund = max(5, int(0.02 * n))
    n_comp = n - n_gov - n_sb - n_fac - n_person - n_fund
    if n_comp < 50:
        raise ValueError("too few entities for the requested arrangements")
    sizes = [n_gov, n_sb, n_comp, n_fund, n_person, n_fac]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ranges = {k: (int(starts[k]), int(starts[k + 1])) for k in range(6)}
    kind = np.repeat(np.arange(6, dtype=np.int64), sizes)

    n_cov = len(COVERED)
    other_p = _norm([w for _, w in _OTHER])

    def mix(m: int, covered: float) -> I64:
        cov = rng.random(m) < covered
        c_cov = rng.choice(n_cov, size=m, p=_norm(_COVERED_MIX))
        c_oth = n_cov + rng.choice(len(_OTHER), size=m, p=other_p)
        return np.where(cov, c_cov, c_oth).astype(np.int64)

    country = np.empty(n, dtype=np.int64)
    country[:n_gov] = np.arange(n_gov)
    country[starts[SB] : starts[SB + 1]] = sb_country
    country[starts[COMP] : starts[COMP + 1]] = mix(n_comp, spec.covered_share)
    country[starts[FUND] : starts[FUND + 1]] = mix(n_fund, 0.2)
    country[starts[PERSON] : starts[PERSON + 1]] = mix(n_person, spec.covered_share)
    fac_codes = np.array([_CIDX[c] for c, _ in _FACILITY_MIX], dtype=np.int64)
    fac_p = _norm([w for _, w in _FACILITY_MIX])
    country[starts[FAC] : starts[FAC + 1]] = fac_codes[rng.choice(len(fac_codes), n_fac, p=fac_p)]

    principal = np.full(n, -1, dtype=np.int64)
    hk = (kind == COMP) & (country == _CIDX["HK"]) & (rng.random(n) < 0.4)
    principal[hk] = _CIDX["CN"]
    unconfirmed = ((rng.random(n) < spec.unconfirmed_share / 3) & (kind >= COMP)).astype(np.int64)
    return _World(
        n=n,
        kind=kind,
        country=country,
        principal=principal,
        unconfirmed=unconfirmed,
        name_a=rng.integers(0, 1 << 30, n, dtype=np.int64),
        name_b=rng.integers(0, 1 << 30, n, dtype=np.int64),
        name_c=rng.integers(0, 1 << 30, n, dtype=np.int64),
        lists={},
        ranges=ranges,
    )


def _idx(w: _World, k: int) -> I64:
    a, b = w.ranges[k]
    return np.arange(a, b, dtype=np.int64)


def _share_draw(rng: np.random.Generator, n: int, lo: int, hi: int) -> I64:
    return _uniform_int(rng, lo, hi, n)


def _majority_or_minority(rng: np.random.Generator, n: int) -> I64:
    """Subsidiary stakes: wholly owned, majority, or minority (basis points)."""
    r = rng.random(n)
    return np.where(
        r < 0.35,
        BP,
        np.where(r < 0.72, _share_draw(rng, n, 5100, 9900), _share_draw(rng, n, 500, 4900)),
    ).astype(np.int64)


def _structure(
    spec: SynthSpec, w: _World, rng: np.random.Generator
) -> tuple[_Links, dict[str, Any]]:
    """All links, plus what the arrangements need (facility owners, operators, …)."""
    links = _Links()
    n = w.n
    total_target = round(n * spec.links_per_entity)
    comp, fund, person, fac = (_idx(w, k) for k in (COMP, FUND, PERSON, FAC))
    sbs, govs = _idx(w, SB), _idx(w, GOV)
    comp_pools = _CountryPools(comp, w.country)
    person_pools = _CountryPools(person, w.country)

    # equity is collected (source, target, basis points, firm) and fitted to 100% at the end
    eq: list[tuple[I64, I64, I64, bool]] = []
    # governments hold their state bodies
    eq.append((govs[w.country[sbs]], sbs, np.full(len(sbs), BP, np.int64), True))

    # technology companies: licensors, equipment makers, suppliers (biased to CN/KR/JP)
    bias: F64 = np.array([_TECH_BIAS.get(c, 0.2) for c in COUNTRIES])[w.country[comp]]
    n_tech = max(10, len(comp) // 50)
    tech = rng.choice(comp, size=min(n_tech, len(comp)), replace=False, p=_norm(bias))

    # facilities: owners (US owner for US plants), JV partners, operators, licensors, offtakers
    n_fac = len(fac)
    owner = comp_pools.draw(rng, w.country[fac])
    jv = rng.random(n_fac) < 0.15
    partner = _pick(rng, tech, n_fac)
    jv &= partner != owner
    own_bp = np.where(jv, _share_draw(rng, n_fac, 5000, 8000), BP)
    eq.append((owner, fac, own_bp, True))
    eq.append((partner[jv], fac[jv], BP - own_bp[jv], True))
    has_lic = rng.random(n_fac) < 0.5
    licensor = _pick(rng, tech, n_fac)
    has_lic &= licensor != owner
    r = rng.random(n_fac)
    operator = np.where(r < 0.7, owner, np.where(has_lic & (r < 0.9), licensor, owner))
    other_op = r >= 0.93
    operator = np.where(other_op, _pick(rng, comp, n_fac), operator)
    links.add(OPER, operator, fac)
    has_off = rng.random(n_fac) < 0.65
    offtaker = _pick(rng, comp, n_fac)
    has_off &= offtaker != owner
    links.add(
        OFFT, fac[has_off], offtaker[has_off], lo=_share_draw(rng, int(has_off.sum()), 2000, BP)
    )
    fixed = len(sbs) + n_fac + int(jv.sum()) + n_fac + int(has_off.sum())
    lic_from, lic_to = licensor[has_lic], owner[has_lic]

    # ---- corporate trees: state-owned chains in covered nations, domestic and foreign parents
    rest = max(0, total_target - fixed - int(has_lic.sum()))
    eq_budget = 0.62 * rest
    cand = 0.95 * len(comp)
    p_scale = min(1.0, 0.55 * eq_budget / max(cand * 0.62, 1.0))
    par_src: list[I64] = []
    par_tgt: list[I64] = []
    par_bp: list[I64] = []
    soe_all: list[I64] = []
    cn = comp_pools.members("CN")
    for ci, code in enumerate(COUNTRIES):
        group = comp_pools.members(code)
        m = len(group)
        if m == 0:
            continue
        covered = code in COVERED
        n_top = max(1, int(np.ceil((0.04 if covered else 0.02) * m)))
        if covered:
            soe = group[:n_top]
            soe_all.append(soe)
            nation_sbs = sbs[w.country[sbs] == ci]
            holder = _pick(rng, nation_sbs, n_top)
            stake = np.where(rng.random(n_top) < 0.6, BP, _share_draw(rng, n_top, 5100, 9000))
            eq.append((holder, soe, stake, True))
            second = rng.random(n_top) < 0.15
            n_second = int(second.sum())
            extra = _share_draw(rng, n_second, 300, 1500)
            eq.append((govs[np.full(n_second, ci)], soe[second], extra, True))
            links.add(
                APPT,
                holder,
                soe,
                lo=_share_draw(rng, n_top, 5000, BP),
                role=np.ones(n_top, np.int64),
            )
        k = np.arange(n_top, m)
        has_parent = rng.random(len(k)) < (0.78 if covered else 0.6) * p_scale
        k = k[has_parent]
        parent_pos = (k * rng.random(len(k)) ** 2).astype(np.int64)
        parent = group[parent_pos]
        child = group[k]
        if not covered:  # some foreign parents, a share of them Chinese
            foreign = rng.random(len(k)) < 0.12
            chinese = foreign & (rng.random(len(k)) < 0.3) & (len(cn) > 0)
            parent = np.where(foreign, _pick(rng, comp, len(k)), parent)
            if len(cn):
                parent = np.where(chinese, _pick(rng, cn, len(k)), parent)
        else:  # covered groups held through Hong Kong vehicles now and then
            via_hk = rng.random(len(k)) < 0.05
            hk = comp_pools.members("HK")
            if len(hk):
                parent = np.where(via_hk, _pick(rng, hk, len(k)), parent)
        ok = parent != child
        par_src.append(parent[ok])
        par_tgt.append(child[ok])
        par_bp.append(_majority_or_minority(rng, int(ok.sum())))
    p_src = np.concatenate(par_src) if par_src else np.zeros(0, np.int64)
    p_tgt = np.concatenate(par_tgt) if par_tgt else np.zeros(0, np.int64)
    p_bp = np.concatenate(par_bp) if par_bp else np.zeros(0, np.int64)
    soes = np.concatenate(soe_all) if soe_all else np.zeros(0, np.int64)
    parent_of = np.full(n, -1, dtype=np.int64)
    parent_of[p_tgt] = p_src

    used = len(p_src) + 2 * len(soes)
    rest = max(0, rest - used)
    weights = {
        "minority": 0.17,
        "fund_eq": 0.12,
        "person_eq": 0.06,
        "cross": 0.03,
        "state_fund": 0.005,
        "voting": 0.05,
        "debt": 0.06,
        "appointment": 0.125,
        "licence": 0.03,
        "equipment": 0.06,
        "services": 0.08,
        "supply": 0.14,
        "offtake": 0.07,
    }
    cnt = {k: round(v / sum(weights.values()) * rest) for k, v in weights.items()}

    # minority stakes, fund and person holdings
    m_src = _pick(rng, comp, cnt["minority"])
    m_tgt = _pick(rng, comp, cnt["minority"])
    f_src = _pick(rng, fund, cnt["fund_eq"])
    f_tgt = _pick(rng, comp, cnt["fund_eq"])
    pe_tgt = _pick(rng, comp, cnt["person_eq"])
    pe_src = person_pools.draw(rng, w.country[pe_tgt])
    # cross-holdings closing cycles: a subsidiary holds its parent or its grandparent
    c_child = _pick(rng, p_tgt, cnt["cross"]) if len(p_tgt) else np.zeros(0, np.int64)
    c_par = parent_of[c_child]
    grand = parent_of[c_par]
    use_grand = (grand >= 0) & (rng.random(len(c_child)) < 0.5) & (grand != c_child)
    c_tgt = np.where(use_grand, grand, c_par)
    # state funds: covered-nation funds held by state bodies
    cov_funds = fund[np.isin(w.country[fund], np.arange(len(COVERED)))]
    sf_tgt = cov_funds[rng.random(len(cov_funds)) < 0.5]
    sf_src = sbs[rng.integers(0, len(sbs), len(sf_tgt))]

    eq.append((p_src, p_tgt, p_bp, False))
    eq.append((m_src, m_tgt, _share_draw(rng, len(m_src), 100, 2500), False))
    eq.append((f_src, f_tgt, _share_draw(rng, len(f_src), 30, 800), False))
    eq.append((pe_src, pe_tgt, _share_draw(rng, len(pe_src), 100, 3000), False))
    eq.append((c_child, c_tgt, _share_draw(rng, len(c_child), 100, 1500), False))
    eq.append((sf_src, sf_tgt, _share_draw(rng, len(sf_src), 2000, BP), True))
    eq_src = np.concatenate([e[0] for e in eq]).astype(np.int64)
    eq_tgt = np.concatenate([e[1] for e in eq]).astype(np.int64)
    eq_bp = np.concatenate([e[2] for e in eq]).astype(np.int64)
    eq_firm = np.concatenate([np.full(len(e[0]), e[3]) for e in eq])
    keep = eq_src != eq_tgt
    eq_src, eq_tgt, eq_bp, eq_firm = eq_src[keep], eq_tgt[keep], eq_bp[keep], eq_firm[keep]
    _, first = np.unique(eq_src * n + eq_tgt, return_index=True)
    first.sort()
    eq_src, eq_tgt, eq_bp, eq_firm = eq_src[first], eq_tgt[first], eq_bp[first], eq_firm[first]
    # some ranged shares (not on structural links); then every target's equity fits in 100%
    ranged = (rng.random(len(eq_tgt)) < spec.ranged_share) & ~eq_firm
    eq_lo = np.where(ranged & (eq_bp >= BP), BP - 500, eq_bp)
    eq_hi = np.where(ranged, np.minimum(eq_lo + _share_draw(rng, len(eq_lo), 100, 1200), BP), eq_lo)
    fit_lo, fit_hi = _fit_shares(eq_tgt, eq_lo, eq_hi, n)
    links.add(
        EQ, eq_src[eq_firm], eq_tgt[eq_firm], lo=fit_lo[eq_firm], hi=fit_hi[eq_firm], firm=True
    )
    loose = ~eq_firm
    links.add(EQ, eq_src[loose], eq_tgt[loose], lo=fit_lo[loose], hi=fit_hi[loose])

    # votes: some parents hold more votes than equity (dual-class, voting agreements)
    n_vote = min(cnt["voting"], len(p_src))
    vi = rng.choice(len(p_src), size=n_vote, replace=False) if n_vote else np.zeros(0, np.int64)
    v_bp = np.minimum(p_bp[vi] * rng.uniform(1.0, 1.6, n_vote), BP).astype(np.int64)
    v_lo, _ = _fit_shares(p_tgt[vi], v_bp, v_bp, n)
    links.add(VOTE, p_src[vi], p_tgt[vi], lo=v_lo)

    # appointments: parents and persons appoint boards and officers
    n_app = cnt["appointment"]
    from_parent = rng.random(n_app) < 0.4
    a_tgt = _pick(rng, comp, n_app)
    a_src = np.where(
        from_parent & (parent_of[a_tgt] >= 0),
        parent_of[a_tgt],
        person_pools.draw(rng, w.country[a_tgt]),
    )
    role = np.where(rng.random(n_app) < 0.75, 1, 2).astype(np.int64)
    a_bp = np.where(role == 1, _share_draw(rng, n_app, 1000, 6000), -1).astype(np.int64)
    links.add(APPT, a_src, a_tgt, lo=a_bp, role=role)

    # debt: funds and (state) banks lend
    n_debt = cnt["debt"]
    d_src = np.where(rng.random(n_debt) < 0.4, _pick(rng, fund, n_debt), _pick(rng, comp, n_debt))
    links.add(DEBT, d_src, _pick(rng, comp, n_debt), lo=_share_draw(rng, n_debt, 200, 6000))

    # licences: those to facility owners plus others between companies
    n_l2 = cnt["licence"]
    l_src = np.concatenate([lic_from, _pick(rng, tech, n_l2)])
    l_tgt = np.concatenate([lic_to, _pick(rng, comp, n_l2)])
    links.add(LIC, l_src, l_tgt, **_licence_terms(rng, len(l_src)))

    # equipment, services, supply, offtake
    for kind, key, src_pool, lo_hi, to_fac in (
        (EQUIP, "equipment", tech, (500, 8000), 0.4),
        (SERV, "services", comp, None, 0.3),
        (SUPP, "supply", tech, (100, 4000), 0.0),
        (OFFT, "offtake", comp, (500, BP), 0.0),
    ):
        k_n = cnt[key]
        s = _pick(rng, src_pool, k_n)
        t = np.where(rng.random(k_n) < to_fac, _pick(rng, fac, k_n), _pick(rng, comp, k_n))
        lo = None if lo_hi is None else _share_draw(rng, k_n, *lo_hi)
        links.add(kind, s, t, lo=lo)

    # restricted-party lists: large CN companies (SOEs and the head of CN groups)
    n_list = max(2, round(n * 1e-4))
    big_cn = cn[: max(n_list * 4, len(cn) // 10)] if len(cn) else soes
    if len(big_cn):
        dod = rng.choice(big_cn, size=min(n_list, len(big_cn)), replace=False)
        ndaa = np.concatenate(
            [dod[: len(dod) // 2], rng.choice(big_cn, size=min(n_list // 2, len(big_cn)))]
        )
        uflpa = rng.choice(cn, size=min(n_list, len(cn)), replace=False)
        since_uflpa = _uniform_int(
            rng, _day(dt.date(2022, 6, 21)), _day(dt.date(2026, 6, 30)), len(uflpa)
        )
        members: dict[int, list[str]] = {}
        for e in dod.tolist():
            members.setdefault(e, []).append(f"dod-1260h@2025-01-07@{SOURCE_ID}")
        for e in sorted(set(ndaa.tolist())):
            members.setdefault(e, []).append(f"ndaa-fy2024-154@@{SOURCE_ID}")
        for e, d in zip(uflpa.tolist(), since_uflpa.tolist(), strict=True):
            members.setdefault(e, []).append(f"uflpa-entity-list@{_DATE_STR[d]}@{SOURCE_ID}")
        w.lists = {e: ";".join(v) for e, v in members.items()}

    facts = {
        "fac": fac,
        "owner": owner,
        "partner": np.where(jv, partner, -1),
        "operator": operator,
        "licensor": np.where(has_lic, licensor, -1),
        "offtaker": np.where(has_off, offtaker, -1),
    }
    return links, facts


def _licence_terms(rng: np.random.Generator, n: int) -> dict[str, Any]:
    signed = _uniform_int(rng, _day(dt.date(2021, 1, 1)), _day(dt.date(2026, 10, 31)), n)
    modified = np.where(rng.random(n) < 0.15, signed + _uniform_int(rng, 90, 700, n), NO_DATE)
    modified = np.minimum(modified, NO_DATE)
    chem = rng.choice(len(_CHEMISTRY), size=n, p=_norm(_CHEM_P)).astype(np.int64)
    r = rng.random(n)
    terms = {
        "technology": rng.integers(0, len(_TECHNOLOGY), n, dtype=np.int64),
        "chemistry": chem,
        "signed": signed,
        "modified": modified,
        "core_ip": np.where(r < 0.75, 1, np.where(r < 0.85, 2, 0)).astype(np.int64),
        "royalty_years": np.where(rng.random(n) < 0.5, _uniform_int(rng, 3, 15, n), -1),
        "service_years": np.where(rng.random(n) < 0.4, _uniform_int(rng, 1, 10, n), -1),
        "know_how_transfer": rng.choice(4, size=n, p=[0.15, 0.3, 0.15, 0.4]).astype(np.int64),
        "licensor_controls": np.where(
            rng.random(n) < 0.2, rng.integers(0, len(_CONTROLS), n, dtype=np.int64), -1
        ),
    }
    return {"vfrom": signed, "licence": terms}


# --------------------------------------------------------------------------- writers


def _eid(i: int) -> str:
    return f"e{i:07d}"


def _entity_name(w: _World, i: int, kind: int, c: str) -> str:
    a, b, s = int(w.name_a[i]), int(w.name_b[i]), int(w.name_c[i])
    if kind == GOV:
        return f"Government of {_COUNTRY_NAMES[c]}"
    if kind == SB:
        names = _STATE_BODY_NAMES[c]
        base = names[a % len(names)]
        return base if i % 7 == 0 else f"{base} (branch {i})"
    if kind == PERSON:
        key = c if c in _FAMILY else ("CN" if c in ("HK", "TW", "SG") else "XX")
        fam, giv = _FAMILY[key].split(), _GIVEN[key].split()
        return f"{giv[a % len(giv)]} {fam[b % len(fam)]}"
    if kind == FAC:
        where = _US_REGIONS[a % len(_US_REGIONS)].replace("-", " ") if c == "US" else c
        return f"{where} {_FACILITY_TYPES[b % len(_FACILITY_TYPES)]} {i}"
    if c in ("CN", "HK", "TW"):
        stem = _PINYIN[a % len(_PINYIN)] + _PINYIN[b % len(_PINYIN)].lower()
    elif c == "JP":
        stem = _JAPANESE[a % len(_JAPANESE)] + _JAPANESE[b % len(_JAPANESE)].lower()
    elif c == "KR":
        stem = _KOREAN[a % len(_KOREAN)] + _KOREAN[b % len(_KOREAN)].lower()
    elif c in ("RU", "KP"):
        stem = _RUSSIAN[a % len(_RUSSIAN)] + _RUSSIAN[b % len(_RUSSIAN)].lower()
    elif c == "IR":
        stem = _IRANIAN[a % len(_IRANIAN)] + " " + _IRANIAN[b % len(_IRANIAN)]
    else:
        stem = _GENERIC[a % len(_GENERIC)] + " " + _GENERIC[b % len(_GENERIC)]
    if kind == FUND:
        return f"{stem} {_FUND_WORDS[s % len(_FUND_WORDS)]}"
    suffixes = _SUFFIX.get(c, _DEFAULT_SUFFIX)
    return f"{stem} {_SECTOR[s % len(_SECTOR)]} {suffixes[(s >> 8) % len(suffixes)]}"


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


def _write_entities(path: Path, w: _World) -> None:
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
    us = _CIDX["US"]
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


def _write_links(path: Path, cols: dict[str, I64], lic: dict[str, I64], width: int) -> None:
    status_s = ("confirmed", "reported", "proposed")
    role_s = ("", "board", "officer")
    core_s = ("", "true", "false")
    unc_note = "synthetic: no authority confirmed this link"
    empty_lic = ("",) * 9

    def lic_cells(j: int) -> tuple[str, ...]:
        chem = _CHEMISTRY[int(lic["chemistry"][j])]
        ry, sy, ctl = (
            int(lic[k][j]) for k in ("royalty_years", "service_years", "licensor_controls")
        )
        return (
            f"{chem} {_TECHNOLOGY[int(lic['technology'][j])]}",
            chem,
            _DATE_STR[int(lic["signed"][j])],
            _DATE_STR[int(lic["modified"][j])],
            core_s[int(lic["core_ip"][j])],
            str(ry) if ry >= 0 else "",
            str(sy) if sy >= 0 else "",
            _KNOW_HOW[int(lic["know_how_transfer"][j])],
            _CONTROLS[ctl] if ctl >= 0 else "",
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
                share, smin, smax = "", _SHARE_STR[lo], _SHARE_STR[hi]
            else:
                share, smin, smax = _SHARE_STR[lo], "", ""
            yield (
                f"l{a + off:0{width}d}",
                LINK_KINDS[k],
                _eid(s),
                _eid(t),
                share,
                smin,
                smax,
                _DATE_STR[vf],
                _DATE_STR[vt],
                status_s[st],
                "true" if u else "",
                unc_note if u else "",
                role_s[ro],
                *(lic_cells(li) if li >= 0 else empty_lic),
                SOURCE_ID,
            )

    _write_csv(path, _LINK_HEADER, rows, len(cols["kind"]))


def _arrangements(
    spec: SynthSpec, w: _World, facts: dict[str, I64], rng: np.random.Generator, path: Path
) -> int:
    fac = facts["fac"]
    n_arr = spec.arrangements
    if n_arr == 0 or len(fac) == 0:
        path.write_text("", encoding="utf-8")
        return 0
    which = np.arange(n_arr) % len(fac)
    n_products = rng.integers(1, 4, n_arr)
    prod_perm = np.argsort(rng.random((n_arr, len(_PRODUCTS))), axis=1)
    chem = rng.choice(len(_CHEMISTRY), size=n_arr, p=_norm(_CHEM_P))
    gwh = np.round(np.clip(rng.lognormal(np.log(10.0), 0.9, n_arr), 0.5, 200.0), 1)
    ranged = rng.random(n_arr) < 0.25
    n_events = rng.integers(1, 5, n_arr)
    first_stage = (rng.random(n_arr) < 0.6).astype(np.int64)  # talks or announced
    start = _uniform_int(rng, _day(dt.date(2019, 1, 1)), _day(dt.date(2025, 6, 30)), n_arr)
    steps = _uniform_int(rng, 60, 540, n_arr * 4).reshape(n_arr, 4)
    ending = rng.random(n_arr)
    unc = rng.random(n_arr) < spec.unconfirmed_share
    us = _CIDX["US"]
    src = [SOURCE_ID]
    last = _day(dt.date(2026, 11, 30))
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
                stage = min(stage0 + j, len(_STAGES) - 1)
                if j and _STAGES[stage] == events[-1]["status"]:
                    break
                events.append(
                    {"status": _STAGES[stage], "date": _DATE_STR[min(day, last)], "sources": src}
                )
                day += int(steps[i, j])
            if ending[i] < 0.06 and day <= last:
                events.append({"status": "cancelled", "date": _DATE_STR[day], "sources": src})
            elif ending[i] < 0.12 and day <= last:
                events.append({"status": "paused", "date": _DATE_STR[day], "sources": src})
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
                        _PRODUCTS[p] for p in prod_perm[i, : int(n_products[i])].tolist()
                    ),
                    "chemistry": _CHEMISTRY[int(chem[i])],
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


def generate(spec: SynthSpec, out_dir: Path) -> SynthStats:
    """Write a synthetic dataset directory for ``spec`` into ``out_dir`` and return its counts.

    ``out_dir`` is created if needed; the four ``synth.*`` files in it are overwritten. The
    result loads with :func:`.dataset.load_dataset` and is the same, byte for byte, for
    the same spec.
    """
    spec.check()
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    w = _entities(spec, rng)
    links, facts = _structure(spec, w, rng)
    cols = links.arrays()
    lic = links.licence_table()

    # dates, statuses and confirmation on the non-structural links; then a shuffled order
    m = len(cols["kind"])
    firm = cols["firm"] == 1
    dated = (rng.random(m) < 0.4) & ~firm & (cols["vfrom"] < 0)
    vfrom = np.where(
        dated,
        _uniform_int(rng, _day(dt.date(2000, 1, 1)), _day(dt.date(2026, 6, 30)), m),
        cols["vfrom"],
    )
    ended = (vfrom >= 0) & (rng.random(m) < 0.08) & ~firm
    vto = np.where(ended, vfrom + _uniform_int(rng, 180, 3650, m), NO_DATE)
    cols["vto"] = vto
    cols["vfrom"] = np.where(vfrom < 0, NO_DATE, vfrom)
    r = rng.random(m)
    cols["status"] = np.where(firm, 0, np.where(r < 0.88, 0, np.where(r < 0.96, 1, 2)))
    cols["unc"] = ((rng.random(m) < spec.unconfirmed_share) & ~firm).astype(np.int64)
    order = rng.permutation(m)
    cols = {k: v[order] for k, v in cols.items()}
    width = max(7, len(str(max(m - 1, 0))))

    files = {
        "sources": out / "synth.sources.csv",
        "entities": out / "synth.entities.csv",
        "links": out / "synth.links.csv",
        "arrangements": out / "synth.arrangements.jsonl",
    }
    with files["sources"].open("w", newline="", encoding="utf-8") as fh:
        sw = csv.writer(fh, lineterminator="\n")
        sw.writerow(("id", "title", "url", "note"))
        sw.writerow(
            (
                SOURCE_ID,
                "Synthetic dataset (georisk synth)",
                SOURCE_URL,
                f"synthetic data generated by georisk synth, seed {spec.seed}",
            )
        )
    _write_entities(files["entities"], w)
    _write_links(files["links"], cols, lic, width)
    n_arr = _arrangements(spec, w, facts, rng, files["arrangements"])

    kind_counts = np.bincount(cols["kind"], minlength=len(LINK_KINDS))
    ent_counts = np.bincount(w.kind, minlength=len(KINDS))
    c_counts = np.bincount(w.country, minlength=len(COUNTRIES))
    return SynthStats(
        sources=1,
        entities=w.n,
        links=m,
        arrangements=n_arr,
        entities_by_kind={k: int(c) for k, c in zip(KINDS, ent_counts, strict=True)},
        links_by_kind={k: int(c) for k, c in zip(LINK_KINDS, kind_counts, strict=True)},
        entities_by_country={k: int(c) for k, c in zip(COUNTRIES, c_counts, strict=True) if c},
        listed=sum(v.count("@") // 2 for v in w.lists.values()),
        ranged_shares=int(((cols["lo"] >= 0) & (cols["hi"] != cols["lo"])).sum()),
        unconfirmed_links=int(cols["unc"].sum()),
        files=[p.name for p in files.values()],
        bytes=sum(p.stat().st_size for p in files.values()),
        seconds=round(time.perf_counter() - t0, 3),
        spec=asdict(spec),
    )
