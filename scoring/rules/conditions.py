"""Threshold tests as data: a boundary with its own direction, combined with all/any.

The EU/UK packs write each threshold as a *condition* (``data/policies/README.md``;
``/work/notes/eu-format.md`` §3): ``{fact: stake, op: ">", value: 0.25}``, or ``{all: [...]}`` /
``{any: [...]}`` of conditions. A condition is judged on facts known within bounds
(:class:`FactValue`), so the answer is three-valued: met, not met, or undetermined — and an
undetermined answer names the facts that would decide it. A missing fact never reads as "not
met".

>>> facts = {"stake": FactValue.exact(0.5, "stake of CATL [catl]", unit="share")}
>>> r = judge({"fact": "stake", "op": ">", "value": 0.25}, lambda b: facts[b["fact"]])
>>> r.met, r.reasons
(True, ['stake of CATL [catl] 50% is more than 25%'])
>>> turnover = FactValue.bounded(0, 499_999_999, "EU turnover of JV [jv]", unit="EUR")
>>> ffc = FactValue.unknown("FFCs of CATL [catl]", unit="EUR")
>>> cond = {"all": [{"fact": "eu_turnover", "op": ">=", "value": 500e6},
...                 {"fact": "ffc_combined", "op": ">", "value": 50e6}]}
>>> known = {"eu_turnover": turnover, "ffc_combined": ffc}
>>> r = judge(cond, lambda b: known[b["fact"]])
>>> r.met, r.missing
(False, [])
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from georisk.scoring.model import Entity, Money, TurnoverScope
from georisk.scoring.wording import named, pct, prose_list

__all__ = [
    "OPS",
    "ConditionError",
    "FactValue",
    "Judgement",
    "boundary_words",
    "ffc_fact",
    "fmt_value",
    "judge",
    "money_fact",
    "turnover_fact",
]

#: the comparison operators a boundary may use, and how a finding words them
OPS: dict[str, str] = {
    ">": "more than",
    ">=": "at least",
    "<": "below",
    "<=": "at most",
    "=": "",
}


class ConditionError(ValueError):
    """A pack condition that is not of the documented shape (a pack error, not a fact gap)."""


@dataclass(frozen=True)
class FactValue:
    """A fact a condition reads, known within inclusive bounds ``[lo, hi]`` (``hi`` may be
    infinite), or unknown (``known`` false: it names what is missing)."""

    lo: float
    hi: float
    what: str
    unit: str = ""  # share, EUR, HUF, bool, ""
    known: bool = True
    unconfirmed: tuple[str, ...] = ()
    note: str = ""
    sources: tuple[str, ...] = ()  # the dataset sources of the records it was read from

    @staticmethod
    def exact(
        v: float,
        what: str,
        *,
        unit: str = "",
        unconfirmed: Sequence[str] = (),
        sources: Sequence[str] = (),
    ) -> FactValue:
        return FactValue(
            float(v), float(v), what, unit, True, tuple(unconfirmed), "", tuple(sources)
        )

    @staticmethod
    def bounded(
        lo: float,
        hi: float,
        what: str,
        *,
        unit: str = "",
        unconfirmed: Sequence[str] = (),
        sources: Sequence[str] = (),
    ) -> FactValue:
        return FactValue(
            float(lo), float(hi), what, unit, True, tuple(unconfirmed), "", tuple(sources)
        )

    @staticmethod
    def unknown(what: str, *, unit: str = "", note: str = "") -> FactValue:
        return FactValue(0.0, math.inf, what, unit, False, (), note)

    def words(self) -> str:
        """The value in words: "50%", "EUR 120m", "at most EUR 499,999,999", "unknown"."""
        if not self.known:
            return "unknown"
        if self.lo == self.hi:
            return fmt_value(self.lo, self.unit)
        money = self.unit.isupper() and len(self.unit) == 3
        if math.isinf(self.hi):
            return (
                f"at least {fmt_value(self.lo, self.unit)}"
                if money
                else (f"{fmt_value(self.lo, self.unit)} or more")
            )
        if money and self.lo == 0:
            return f"at most {fmt_value(self.hi, self.unit)}"
        return f"{fmt_value(self.lo, self.unit)} to {fmt_value(self.hi, self.unit)}"


@dataclass
class Judgement:
    """A condition's answer: ``met`` True / False / None (undetermined), with the sentences
    that say why, the facts that would decide it and the unconfirmed facts it rests on."""

    met: bool | None
    reasons: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def fmt_value(v: float, unit: str) -> str:
    """A threshold or fact value in words.

    >>> fmt_value(0.25, "share"), fmt_value(5e8, "EUR"), fmt_value(3.5e8, "HUF")
    ('25%', 'EUR 500m', 'HUF 350m')
    >>> fmt_value(4e6, "EUR"), fmt_value(1.5e9, "EUR"), fmt_value(499_999_999, "EUR")
    ('EUR 4m', 'EUR 1.5bn', 'EUR 499,999,999')
    """
    if unit == "share":
        return pct(v)
    if unit == "bool":
        return "yes" if v else "no"
    if unit.isupper() and len(unit) == 3:
        for div, suffix in ((1e9, "bn"), (1e6, "m")):
            if v >= div:
                short = f"{v / div:.4g}"
                if math.isclose(float(short) * div, v, rel_tol=1e-12):
                    return f"{unit} {short}{suffix}"
                break  # not a round figure: every digit, never rounded up to a threshold
        return f"{unit} {v:,.0f}"
    return f"{v:g}"


def boundary_words(cond: Mapping[str, Any], unit: str = "") -> str:
    """How a finding words a boundary: its ``label``, else "more than 25%", "at least EUR 500m".

    >>> boundary_words({"fact": "stake", "op": ">=", "value": 0.75}, "share")
    'at least 75%'
    >>> boundary_words({"fact": "stake", "op": ">", "value": 0.25, "label": "more than 25%"})
    'more than 25%'
    """
    if cond.get("label"):
        return str(cond["label"])
    op = str(cond.get("op", ""))
    v = cond.get("value")
    if isinstance(v, bool):
        return "yes" if v else "no"
    if op not in OPS or not isinstance(v, int | float):
        raise ConditionError(f"a boundary needs op (one of {sorted(OPS)}) and a number: {cond!r}")
    cur = cond.get("currency")
    shown = fmt_value(float(v), str(cur) if cur else unit)
    return f"{OPS[op]} {shown}".strip()


def _boundary(cond: Mapping[str, Any], fact: FactValue) -> Judgement:
    op = str(cond.get("op", ""))
    raw = cond.get("value")
    if op not in OPS or not isinstance(raw, int | float):
        raise ConditionError(f"a boundary needs op (one of {sorted(OPS)}) and a value: {cond!r}")
    v = float(raw)
    cur = cond.get("currency")
    words = boundary_words(cond, fact.unit)
    if not fact.known:
        why = f" ({fact.note})" if fact.note else ""
        return Judgement(
            None, [f"{fact.what} is not recorded{why}: {words} undetermined"], [fact.what]
        )
    if cur and fact.unit and fact.unit != cur:
        return Judgement(
            None,
            [f"{fact.what} is recorded in {fact.unit}, the threshold in {cur} (no conversion)"],
            [f"{fact.what} in {cur}"],
        )
    lo, hi = fact.lo, fact.hi
    if op == ">":
        met = True if lo > v else False if hi <= v else None
    elif op == ">=":
        met = True if lo >= v else False if hi < v else None
    elif op == "<":
        met = True if hi < v else False if lo >= v else None
    elif op == "<=":
        met = True if hi <= v else False if lo > v else None
    else:
        met = True if lo == hi == v else False if (v < lo or v > hi) else None
    verb = {True: "is", False: "is not", None: "may or may not be"}[met]
    reason = f"{fact.what} {fact.words()} {verb} {words}"
    if fact.unit == "bool":
        reason = f"{fact.what}: {fact.words()}"
    missing = [f"{fact.what} (known only as {fact.words()})"] if met is None else []
    return Judgement(met, [reason], missing, list(fact.unconfirmed), list(fact.sources))


def judge(cond: Mapping[str, Any], facts: Callable[[Mapping[str, Any]], FactValue]) -> Judgement:
    """Judge a condition; ``facts(boundary)`` gives the fact a boundary names (it sees the whole
    boundary, so it can read ``years`` or ``currency``).

    ``all``: not met as soon as one part is not met (its reasons alone), met when every part is;
    ``any``: met as soon as one part is (its reasons alone), not met when none is; otherwise
    undetermined, with the undetermined parts' missing facts.

    >>> f = {"control": FactValue.exact(1, "control of the JV", unit="bool"),
    ...      "stake": FactValue.unknown("stake of CATL [catl]", unit="share")}
    >>> c = {"any": [{"fact": "stake", "op": ">=", "value": 0.1},
    ...              {"fact": "control", "op": "=", "value": True}]}
    >>> judge(c, lambda b: f[b["fact"]]).met
    True
    """
    if not isinstance(cond, Mapping):
        raise ConditionError(f"a condition is a mapping, not {cond!r}")
    for key in ("all", "any"):
        if key in cond:
            parts = cond[key]
            if not isinstance(parts, list) or not parts:
                raise ConditionError(f"{key!r} needs a non-empty list of conditions")
            subs = [judge(p, facts) for p in parts]
            decided = key == "any"  # the answer one part settles
            hit = [s for s in subs if s.met is decided]
            if hit:
                return Judgement(
                    decided,
                    [r for s in hit for r in s.reasons],
                    [],
                    sorted({u for s in hit for u in s.unconfirmed}),
                    sorted({x for s in hit for x in s.sources}),
                )
            open_ = [s for s in subs if s.met is None]
            if open_:
                return Judgement(
                    None,
                    [r for s in subs for r in s.reasons],
                    sorted({m for s in open_ for m in s.missing}),
                    sorted({u for s in subs for u in s.unconfirmed}),
                    sorted({x for s in subs for x in s.sources}),
                )
            return Judgement(
                not decided,
                [r for s in subs for r in s.reasons],
                [],
                sorted({u for s in subs for u in s.unconfirmed}),
                sorted({x for s in subs for x in s.sources}),
            )
    if "fact" not in cond:
        raise ConditionError(f"a boundary names its fact: {cond!r}")
    value = cond.get("value")
    if isinstance(value, bool):
        cond = {**cond, "op": "=", "value": 1.0 if value else 0.0}
    return _boundary(cond, facts(cond))


_SCOPE_WORDS = {
    TurnoverScope.EU: "EU turnover",
    TurnoverScope.WORLDWIDE: "turnover",
    TurnoverScope.GROUP: "group turnover",
    TurnoverScope.NATIONAL: "turnover in {country}",
}


def money_fact(
    m: Money | None, what: str, unconfirmed: Sequence[str] = (), sources: Sequence[str] = ()
) -> FactValue:
    """A recorded amount as a fact (unknown when not recorded)."""
    if m is None:
        return FactValue.unknown(what, unit="EUR")
    lo, hi = m.bounds()
    return FactValue.bounded(
        lo, hi, what, unit=m.currency, unconfirmed=unconfirmed, sources=sources
    )


def turnover_fact(
    entities: Mapping[str, Entity],
    eid: str,
    scope: TurnoverScope,
    on: dt.date,
    country: str | None = None,
) -> FactValue:
    """The entity's turnover in ``scope`` for the latest financial year recorded before the
    year of ``on`` (or of it, when nothing earlier is recorded); unknown when none is.

    >>> from georisk.scoring.model import Entity
    >>> e = Entity.model_validate({"id": "jv", "name": "JV", "kind": "company", "facts":
    ...     {"turnover": [{"scope": "eu", "year": 2024, "maximum": 1e8, "sources": ["s"]}]}})
    >>> turnover_fact({"jv": e}, "jv", TurnoverScope.EU, dt.date(2025, 1, 1)).words()
    'at most EUR 100m'
    >>> turnover_fact({"jv": e}, "jv", TurnoverScope.GROUP, dt.date(2025, 1, 1)).known
    False
    """
    e = entities.get(eid)
    label = _SCOPE_WORDS[scope].format(country=country or "")
    what = f"{label} of {named(entities, eid)}"
    rows = [
        t
        for t in (e.facts.turnover if e is not None and e.facts is not None else [])
        if t.scope is scope and (country is None or t.country == country)
    ]
    if not rows:
        return FactValue.unknown(what, unit="EUR")
    past = [t for t in rows if t.year < on.year] or [t for t in rows if t.year == on.year]
    if not past:
        return FactValue.unknown(what, unit="EUR", note=f"only years after {on.year} recorded")
    t = max(past, key=lambda t: t.year)
    lo, hi = t.bounds()
    marks = [f"{what} ({t.year})"] if t.unconfirmed else []
    return FactValue.bounded(
        lo, hi, f"{what} ({t.year})", unit=t.currency, unconfirmed=marks, sources=t.sources
    )


def ffc_fact(
    entities: Mapping[str, Entity],
    eids: Sequence[str],
    end: dt.date,
    years: int,
    *,
    per_country: bool,
    third_countries: Callable[[str], bool] = lambda c: True,
) -> FactValue:
    """Foreign financial contributions received by ``eids`` in the ``years`` before ``end``:
    their sum (``per_country`` false), or the largest sum from one third country.

    An entity with no contribution recorded makes the upper bound open (unknown, named as
    missing, never zero); record ``amount: 0`` for "none received". A record whose period
    straddles the window counts in the upper bound only.
    """
    start = end.replace(year=end.year - years)
    names = [named(entities, x) for x in eids]
    what = (
        f"foreign financial contributions from one third country to {prose_list(names)}"
        if per_country
        else f"foreign financial contributions to {prose_list(names)}"
    ) + f" ({start} to {end})"
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    unknown: list[str] = []
    marks: list[str] = []
    srcs: set[str] = set()
    cur = "EUR"
    for x in eids:
        e = entities.get(x)
        rows = [
            f
            for f in (e.facts.foreign_financial_contributions if e and e.facts else [])
            if third_countries(f.country)
        ]
        if not rows:
            unknown.append(named(entities, x))
            continue
        for f in rows:
            a, b = f.bounds()
            cur = f.currency
            inside = (f.period_from or dt.date.min) >= start and (f.period_to or dt.date.max) <= end
            overlaps = (f.period_from or dt.date.min) <= end and (
                f.period_to or dt.date.max
            ) >= start
            if not overlaps:
                continue
            key = f.country if per_country else "all"
            srcs.update(f.sources)
            lo[key] = lo.get(key, 0.0) + (a if inside else 0.0)
            hi[key] = hi.get(key, 0.0) + b
            if f.unconfirmed:
                marks.append(
                    f"foreign financial contributions of {named(entities, x)} ({f.country})"
                )
    if unknown and not hi:
        return FactValue.unknown(what, unit=cur, note=f"none recorded for {prose_list(unknown)}")
    best_lo = max(lo.values(), default=0.0)
    best_hi = math.inf if unknown else max(hi.values(), default=0.0)
    return FactValue.bounded(
        best_lo, best_hi, what, unit=cur, unconfirmed=marks, sources=sorted(srcs)
    )
