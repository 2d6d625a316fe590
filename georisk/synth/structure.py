"""The synthetic world: entities (:func:`build_world`) and their links (:func:`build_links`).

Everything is drawn as NumPy index arrays from one ``Generator``, so a seed gives the same world
on every machine: state-owned chains, corporate trees with majority and minority stakes,
person and fund holdings, cross-holdings, technology licences and the facilities the
arrangements are about. Equity held in any entity is fitted to at most 100% (in basis points).

>>> rng = np.random.default_rng(0)
>>> w = build_world(SynthSpec(entities=400, arrangements=10), rng)
>>> w.n, int(w.kind[0]) == GOV, COUNTRIES[int(w.country[0])]
(400, True, 'CN')
>>> links, facts = build_links(SynthSpec(entities=400, arrangements=10), w, rng)
>>> len(facts["fac"]) == len(facts["owner"]) == 10
True
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse import csgraph

from georisk.synth.spec import SOURCE_ID, SynthSpec
from georisk.synth.tables import (
    APPT,
    BP,
    CHEM_P,
    CHEMISTRY,
    CIDX,
    COMP,
    CONTROLS,
    COUNTRIES,
    COVERED,
    COVERED_MIX,
    DATE_STR,
    DEBT,
    EQ,
    EQUIP,
    F64,
    FAC,
    FACILITY_MIX,
    FUND,
    GOV,
    I64,
    LIC,
    NO_DATE,
    OFFT,
    OPER,
    OTHER_MIX,
    PERSON,
    SB,
    SERV,
    SUPP,
    TECH_BIAS,
    TECHNOLOGY,
    VOTE,
    day_code,
)

__all__ = ["Links", "World", "build_links", "build_world", "date_links", "norm", "uniform_int"]


def norm(weights: Sequence[float] | F64) -> F64:
    w: F64 = np.asarray(weights, dtype=np.float64)
    out: F64 = w / w.sum()
    return out


def uniform_int(rng: np.random.Generator, lo: int, hi: int, n: int) -> I64:
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
        c = CIDX[country]
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


class Links:
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
class World:
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


def build_world(spec: SynthSpec, rng: np.random.Generator) -> World:
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
    other_p = norm([w for _, w in OTHER_MIX])

    def mix(m: int, covered: float) -> I64:
        cov = rng.random(m) < covered
        c_cov = rng.choice(n_cov, size=m, p=norm(COVERED_MIX))
        c_oth = n_cov + rng.choice(len(OTHER_MIX), size=m, p=other_p)
        return np.where(cov, c_cov, c_oth).astype(np.int64)

    country = np.empty(n, dtype=np.int64)
    country[:n_gov] = np.arange(n_gov)
    country[starts[SB] : starts[SB + 1]] = sb_country
    country[starts[COMP] : starts[COMP + 1]] = mix(n_comp, spec.covered_share)
    country[starts[FUND] : starts[FUND + 1]] = mix(n_fund, 0.2)
    country[starts[PERSON] : starts[PERSON + 1]] = mix(n_person, spec.covered_share)
    fac_codes = np.array([CIDX[c] for c, _ in FACILITY_MIX], dtype=np.int64)
    fac_p = norm([w for _, w in FACILITY_MIX])
    country[starts[FAC] : starts[FAC + 1]] = fac_codes[rng.choice(len(fac_codes), n_fac, p=fac_p)]

    principal = np.full(n, -1, dtype=np.int64)
    hk = (kind == COMP) & (country == CIDX["HK"]) & (rng.random(n) < 0.4)
    principal[hk] = CIDX["CN"]
    unconfirmed = ((rng.random(n) < spec.unconfirmed_share / 3) & (kind >= COMP)).astype(np.int64)
    return World(
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


def _idx(w: World, k: int) -> I64:
    a, b = w.ranges[k]
    return np.arange(a, b, dtype=np.int64)


def _share_draw(rng: np.random.Generator, n: int, lo: int, hi: int) -> I64:
    return uniform_int(rng, lo, hi, n)


def _majority_or_minority(rng: np.random.Generator, n: int) -> I64:
    """Subsidiary stakes: wholly owned, majority, or minority (basis points)."""
    r = rng.random(n)
    return np.where(
        r < 0.35,
        BP,
        np.where(r < 0.72, _share_draw(rng, n, 5100, 9900), _share_draw(rng, n, 500, 4900)),
    ).astype(np.int64)


# ---- realistic mode: registry-like ownership (figures and sources: georisk/synth/__init__.py)

Mask = npt.NDArray[np.bool_]

# levels below the group's head company of a company that has a corporate parent: 1, 2, … 11
LEVEL_P = (0.78, 0.11, 0.045, 0.025, 0.015, 0.01, 0.008, 0.006, 0.004, 0.003, 0.002)
# steps up to the ancestor a company holds, closing a cycle of that many + 1 companies (2…5)
CYCLE_STEPS_P = (0.6, 0.25, 0.1, 0.05)
CYCLE_SHARE = 0.002  # cross-holding cycles per company (an assumption; see the module doc)
MAX_CYCLE = 5  # no strongly connected ownership component larger than this


def _skewed(rng: np.random.Generator, pool: I64, n: int) -> I64:
    """Members of ``pool``, the first ones far more often (a few parents with many children)."""
    return pool[(rng.random(n) ** 2 * len(pool)).astype(np.int64)]


def _tree_parents(
    rng: np.random.Generator, comp: I64, kids: I64, country: I64, n: int
) -> tuple[I64, I64, I64]:
    """Parents of ``kids`` one level up: (parent, child, level of every entity).

    Each child draws a level from :data:`LEVEL_P` (clamped below the first empty level) and a
    parent at the level above, in its own country mostly (12% abroad, a third of those in
    China; 5% of covered-nation children through Hong Kong) — so the parent links form a
    forest whose depth is the level.
    """
    level = np.zeros(n, dtype=np.int64)
    lv = 1 + rng.choice(len(LEVEL_P), size=len(kids), p=norm(LEVEL_P)).astype(np.int64)
    counts = np.bincount(lv, minlength=len(LEVEL_P) + 2)
    empty = np.flatnonzero(counts[1:] == 0)
    lv = np.minimum(lv, int(empty[0]) if len(empty) else len(LEVEL_P))
    level[kids] = lv
    src: list[I64] = []
    tgt: list[I64] = []
    hk, cn = CIDX["HK"], CIDX["CN"]
    for lvl in range(1, int(lv.max(initial=0)) + 1):
        child = kids[lv == lvl]
        above = comp[level[comp] == lvl - 1]
        # by country, then a skewed draw within the country (few parents with many children)
        order = np.argsort(country[above], kind="stable")
        above = above[order]
        cnt = np.bincount(country[above], minlength=len(COUNTRIES)).astype(np.int64)
        start = np.concatenate([[0], np.cumsum(cnt)[:-1]]).astype(np.int64)
        want = country[child].copy()
        r = rng.random(len(child))
        abroad = r < 0.12
        want = np.where(abroad & (r < 0.04), cn, want)
        covered = want < len(COVERED)
        want = np.where(covered & (rng.random(len(child)) < 0.05), hk, want)
        has = cnt[want] > 0
        u = rng.random(len(child)) ** 2
        pos = start[want] + (u * np.maximum(cnt[want], 1)).astype(np.int64)
        anywhere = _skewed(rng, above, len(child))
        parent = np.where(
            has & ~(abroad & (r >= 0.04)), above[np.minimum(pos, len(above) - 1)], anywhere
        )
        src.append(parent)
        tgt.append(child)
    p_src = np.concatenate(src) if src else np.zeros(0, np.int64)
    p_tgt = np.concatenate(tgt) if tgt else np.zeros(0, np.int64)
    return p_src, p_tgt, level


def _downward_pairs(rng: np.random.Generator, comp: I64, level: I64, m: int) -> tuple[I64, I64]:
    """``m`` minority stakes (holder, held) between companies, the holder at a shallower level.

    Links that always go down a level cannot close a cycle and cannot make a chain longer
    than the deepest level.
    """
    deep = comp[level[comp] >= 1]
    if m == 0 or len(deep) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tgt = _pick(rng, deep, m)
    by_level = comp[np.argsort(level[comp], kind="stable")]
    below = np.cumsum(np.bincount(level[comp], minlength=int(level.max()) + 1))
    n_above = np.concatenate([[0], below])[level[tgt]]  # companies at a level < the target's
    src = by_level[(rng.random(m) * n_above).astype(np.int64)]
    return src, tgt


def _small_cycles(rng: np.random.Generator, p_tgt: I64, parent_of: I64, m: int) -> tuple[I64, I64]:
    """About ``m`` cross-holdings: a company holds its ancestor 1–4 parent links up.

    Candidates whose cycles would share a company are dropped, so each closes its own cycle
    of 2–5 companies.
    """
    if m == 0 or len(p_tgt) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    child = np.unique(_pick(rng, p_tgt, 2 * m))[: 2 * m]
    child = child[rng.permutation(len(child))][:m]
    steps = 1 + rng.choice(len(CYCLE_STEPS_P), size=len(child), p=norm(CYCLE_STEPS_P))
    chain = np.full((len(child), len(CYCLE_STEPS_P) + 1), -1, dtype=np.int64)
    chain[:, 0] = child
    for j in range(1, chain.shape[1]):
        prev = chain[:, j - 1]
        up = np.where(prev >= 0, parent_of[np.maximum(prev, 0)], -1)
        chain[:, j] = np.where(j <= steps, up, -1)
    top = chain[np.arange(len(child)), steps]
    ok = top >= 0
    members = chain[chain >= 0]
    seen = np.bincount(members, minlength=int(members.max(initial=0)) + 1)
    shared = ((chain >= 0) & (seen[np.maximum(chain, 0)] > 1)).any(axis=1)
    ok &= ~shared
    return child[ok], top[ok]


def _cap_components(src: I64, tgt: I64, up: Mask, n: int, cap: int) -> Mask:
    """A keep mask: drop the ``up`` links of strongly connected components above ``cap``."""
    keep = np.ones(len(src), dtype=bool)
    for _ in range(5):
        g = sparse.csr_matrix(
            (np.ones(int(keep.sum()), dtype=np.int8), (src[keep], tgt[keep])), shape=(n, n)
        )
        _, label = csgraph.connected_components(g, directed=True, connection="strong")
        size = np.bincount(label)
        bad = keep & up & (size[label[src]] > cap)
        if not bad.any():
            break
        keep &= ~bad
    return keep


def build_links(
    spec: SynthSpec, w: World, rng: np.random.Generator
) -> tuple[Links, dict[str, Any]]:
    """All links, plus what the arrangements need (facility owners, operators, …)."""
    links = Links()
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
    bias: F64 = np.array([TECH_BIAS.get(c, 0.2) for c in COUNTRIES])[w.country[comp]]
    n_tech = max(10, len(comp) // 50)
    tech = rng.choice(comp, size=min(n_tech, len(comp)), replace=False, p=norm(bias))

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
    kids: list[I64] = []
    realistic = spec.mode == "realistic"
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
        if realistic:  # parents are drawn level by level below, once every child is known
            kids.append(group[k])
            continue
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
    level = np.zeros(n, dtype=np.int64)  # realistic: levels below the group's head company
    if realistic:
        kid = np.concatenate(kids) if kids else np.zeros(0, np.int64)
        p_src, p_tgt, level = _tree_parents(rng, comp, kid, w.country, n)
        p_bp = _majority_or_minority(rng, len(p_src))
    else:
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
    if realistic:  # few cross-holdings (small cycles); the rest of their budget: minority stakes
        few = round(CYCLE_SHARE * len(comp))
        cnt["minority"] += max(0, cnt["cross"] - few)
        cnt["cross"] = min(cnt["cross"], few)

    # minority stakes, fund and person holdings
    if realistic:  # downward only: from a company at a shallower level than the target
        m_src, m_tgt = _downward_pairs(rng, comp, level, cnt["minority"])
    else:
        m_src = _pick(rng, comp, cnt["minority"])
        m_tgt = _pick(rng, comp, cnt["minority"])
    f_src = _pick(rng, fund, cnt["fund_eq"])
    f_tgt = _pick(rng, comp, cnt["fund_eq"])
    pe_tgt = _pick(rng, comp, cnt["person_eq"])
    pe_src = person_pools.draw(rng, w.country[pe_tgt])
    if realistic:  # cross-holdings: disjoint small cycles, a company holds an ancestor
        c_child, c_tgt = _small_cycles(rng, p_tgt, parent_of, cnt["cross"])
    else:  # cross-holdings closing cycles: a subsidiary holds its parent or its grandparent
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
    if realistic:  # a guarantee, not a likelihood: no strongly connected component above 5
        up = np.isin(eq_src * n + eq_tgt, c_child * n + c_tgt)
        keep = _cap_components(eq_src, eq_tgt, up, n, MAX_CYCLE)
        eq_src, eq_tgt, eq_bp, eq_firm = eq_src[keep], eq_tgt[keep], eq_bp[keep], eq_firm[keep]
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
        since_uflpa = uniform_int(
            rng, day_code(dt.date(2022, 6, 21)), day_code(dt.date(2026, 6, 30)), len(uflpa)
        )
        members: dict[int, list[str]] = {}
        for e in dod.tolist():
            members.setdefault(e, []).append(f"dod-1260h@2025-01-07@{SOURCE_ID}")
        for e in sorted(set(ndaa.tolist())):
            members.setdefault(e, []).append(f"ndaa-fy2024-154@@{SOURCE_ID}")
        for e, d in zip(uflpa.tolist(), since_uflpa.tolist(), strict=True):
            members.setdefault(e, []).append(f"uflpa-entity-list@{DATE_STR[d]}@{SOURCE_ID}")
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
    signed = uniform_int(rng, day_code(dt.date(2021, 1, 1)), day_code(dt.date(2026, 10, 31)), n)
    modified = np.where(rng.random(n) < 0.15, signed + uniform_int(rng, 90, 700, n), NO_DATE)
    modified = np.minimum(modified, NO_DATE)
    chem = rng.choice(len(CHEMISTRY), size=n, p=norm(CHEM_P)).astype(np.int64)
    r = rng.random(n)
    terms = {
        "technology": rng.integers(0, len(TECHNOLOGY), n, dtype=np.int64),
        "chemistry": chem,
        "signed": signed,
        "modified": modified,
        "core_ip": np.where(r < 0.75, 1, np.where(r < 0.85, 2, 0)).astype(np.int64),
        "royalty_years": np.where(rng.random(n) < 0.5, uniform_int(rng, 3, 15, n), -1),
        "service_years": np.where(rng.random(n) < 0.4, uniform_int(rng, 1, 10, n), -1),
        "know_how_transfer": rng.choice(4, size=n, p=[0.15, 0.3, 0.15, 0.4]).astype(np.int64),
        "licensor_controls": np.where(
            rng.random(n) < 0.2, rng.integers(0, len(CONTROLS), n, dtype=np.int64), -1
        ),
    }
    return {"vfrom": signed, "licence": terms}


def date_links(spec: SynthSpec, cols: dict[str, I64], rng: np.random.Generator) -> dict[str, I64]:
    """Dates, statuses and confirmation of the non-structural links, then a shuffled order.

    ``cols`` are the columns of :meth:`Links.arrays`; the result adds ``vto``, ``status`` and
    ``unc`` and gives every column in the order the links are written.
    """
    m = len(cols["kind"])
    firm = cols["firm"] == 1
    dated = (rng.random(m) < 0.4) & ~firm & (cols["vfrom"] < 0)
    vfrom = np.where(
        dated,
        uniform_int(rng, day_code(dt.date(2000, 1, 1)), day_code(dt.date(2026, 6, 30)), m),
        cols["vfrom"],
    )
    ended = (vfrom >= 0) & (rng.random(m) < 0.08) & ~firm
    vto = np.where(ended, vfrom + uniform_int(rng, 180, 3650, m), NO_DATE)
    cols["vto"] = vto
    cols["vfrom"] = np.where(vfrom < 0, NO_DATE, vfrom)
    r = rng.random(m)
    cols["status"] = np.where(firm, 0, np.where(r < 0.88, 0, np.where(r < 0.96, 1, 2)))
    cols["unc"] = ((rng.random(m) < spec.unconfirmed_share) & ~firm).astype(np.int64)
    order = rng.permutation(m)
    cols = {k: v[order] for k, v in cols.items()}
    return cols
