"""When does it break: the dates on which an arrangement's verdicts, bands or credit change.

:func:`timeline` scores an arrangement at the start of a window and at each *candidate change
date* inside it, never day by day, and keeps the dates on which something an analyst reads
changed: a rule's verdict (in the chosen scenario), an axis band (technology, equity, policy,
overall) or an estimated credit. Each change carries the events of its date that can cause it.

Candidate dates are the days on which an input of a score can change (a missing bound is open;
an end date ``to`` makes ``to + 1 day`` a candidate):

* the dataset, bounded to what can reach the arrangement: its parties, focal entity and
  taxpayer and everything *upstream* of them over links of any kind and any date (owners,
  licensors, suppliers, operators and their owners, …; every rule and axis looks only
  upstream of those entities): the ``valid_from`` / ``valid_to`` of links into that set, the
  list memberships (``since`` / ``until``) of its entities, licence signing and modification
  dates, and the arrangement's own status dates;
* the pack: every parameter variant's ``effective_from`` / ``effective_to``, dates held as
  parameter values (``licensing.cutoff``, ``30d.feoc_components_from``, …), the first day of
  each year of a year-keyed table (``45x.phase_down``, ``macr.45x_battery``), the rules' and
  the list effects' dates;
* the scenarios: every override's ``effective_from`` (the policy axis weighs every scenario, so
  all scenarios' dates count, whichever scenario's verdicts are shown).

Between two consecutive candidates no input of the score changes, so the score is the one of
the earlier candidate: evaluating at change points gives the same verdicts as a day-by-day scan
(``tests/test_timeline.py`` checks it against random days and a day-by-day window). The
number of scores is bounded (``max_points``, default :data:`MAX_POINTS`, and optionally a
``time_budget``): past it the timeline stops at the day before the first candidate not
evaluated and says so (``truncated``, ``truncated_by``, ``covered_to``).

>>> from georisk.scoring.engine import DEFAULT_DATA, Engine
>>> engine = Engine.from_dir(DEFAULT_DATA)
>>> t = timeline(engine, "gotion-manteno-il", dt.date(2025, 1, 1), dt.date(2027, 12, 31))
>>> [(c.date.isoformat(), [x.subject for x in c.changed]) for c in t.changes][-2:]
[('2026-01-01', ['us-45x']), ('2027-10-01', ['us-lists'])]
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import textwrap
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from functools import partial
from typing import Any, TextIO

import numpy as np
from pydantic import BaseModel, Field
from scipy import sparse
from scipy.sparse import csgraph

from georisk.scoring.dataset import Dataset
from georisk.scoring.dataset.linkstore import KIND_CODES, NO_DATE
from georisk.scoring.engine import Engine, NotFoundError, View
from georisk.scoring.graph import GraphCache
from georisk.scoring.model import LinkKind
from georisk.scoring.policy import PolicyPack
from georisk.scoring.rules import EVALUATORS, PFE_PARAMS, EvalContext, evaluate_rule
from georisk.scoring.rules.outcome import Amount
from georisk.scoring.wording import named, usd_range

__all__ = [
    "AXES",
    "CSV_COLUMNS",
    "MAX_POINTS",
    "SCHEMA",
    "Change",
    "ChangePoint",
    "Period",
    "Timeline",
    "TimelineEvent",
    "TimelineRangeError",
    "candidates",
    "default_end",
    "render_timeline_table",
    "timeline",
    "write_timeline_csv",
]

SCHEMA = "georisk.timeline/v1"
#: scores a timeline computes at most (the window start included)
MAX_POINTS = 500
AXES = ("technology", "equity", "policy", "overall")
#: graphs the walk keeps (the date scored and the one before it, each with its date view)
WALK_GRAPHS = 4
ONE_DAY = dt.timedelta(days=1)


class TimelineRangeError(ValueError):
    """The window is empty: ``from`` is after ``to``."""


class TimelineEvent(BaseModel):
    """Something dated that can change a score: a link, a listing, a pack value, a scenario."""

    kind: str = Field(
        description="link | list | status | licence | parameter | rule | list_effect | scenario"
    )
    ref: str = Field(description="id of the link, list, parameter, rule or scenario")
    text: str = Field(description="what happens on the date, for an analyst")


class Change(BaseModel):
    """One thing that differs from the previous interval."""

    what: str = Field(description="verdict | band | credit")
    subject: str = Field(description="the rule id (verdict, credit) or the axis (band)")
    before: str | None
    after: str | None
    reason: str | None = Field(default=None, description="verdicts: the rule's reason after")


class ChangePoint(BaseModel):
    """A date on which something changes: what changed, and the events of that date that can
    cause it (``events``) apart from those that cannot (``other_events``: a parameter no changed
    rule reads, another scenario's override, …)."""

    date: dt.date
    events: list[TimelineEvent]
    changed: list[Change]
    other_events: list[TimelineEvent] = Field(default_factory=list)


class Period(BaseModel):
    """An interval ``[from, to]`` (inclusive) over which nothing read changes."""

    from_: dt.date = Field(alias="from")
    to: dt.date
    verdicts: dict[str, str] = Field(description="rule id → verdict, in the chosen scenario")
    bands: dict[str, str] = Field(description="technology, equity, policy, overall → band")
    credit: dict[str, Amount] | None = Field(
        description="rule id → estimated annual credit (if eligible); null: no estimate"
    )

    model_config = {"populate_by_name": True}


class Timeline(BaseModel):
    """The result contract of :func:`timeline` (JSON schema ``georisk.timeline/v1``)."""

    schema_: str = Field(default=SCHEMA, alias="schema")
    arrangement: str
    name: str
    scenario: str
    from_: dt.date = Field(alias="from")
    to: dt.date
    dataset_version: str
    pack_version: str
    scenario_set_version: str
    packs_applied: list[str] = Field(
        default_factory=list,
        description="version labels of the packs evaluated for the arrangement, the primary "
        "first (more than one: several packs at once, scoring/packs.py)",
    )
    intervals: list[Period]
    changes: list[ChangePoint]
    candidates: int = Field(description="candidate change dates inside the window")
    evaluated: int = Field(description="scores computed (the window start included)")
    truncated: bool = Field(description="true: stopped at a bound, before `to`")
    truncated_by: str | None = Field(
        default=None, description="the bound that stopped it: max_points or time_budget"
    )
    covered_to: dt.date = Field(description="last day the intervals cover (`to` unless truncated)")

    model_config = {"populate_by_name": True}


def default_end(start: dt.date, years: int = 5) -> dt.date:
    """The last day of a window of ``years`` years from ``start`` (the default ``to``).

    >>> default_end(dt.date(2024, 1, 1)), default_end(dt.date(2024, 2, 29))
    (datetime.date(2028, 12, 31), datetime.date(2029, 2, 27))
    >>> default_end(dt.date(9998, 1, 1))
    datetime.date(9999, 12, 31)
    """
    if start.year + years > dt.MAXYEAR:
        return dt.date.max
    try:
        return start.replace(year=start.year + years) - ONE_DAY
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28) - ONE_DAY


# --------------------------------------------------------------------------- candidates

_UPSTREAM: OrderedDict[tuple[str, str], sparse.csr_matrix] = OrderedDict()
_UPSTREAM_LOCK = threading.Lock()
_UPSTREAM_KEPT = 4


def _reverse_graph(ds: Dataset) -> sparse.csr_matrix:
    """target → source adjacency of every link on any date (built once per dataset)."""
    key = (ds.version, ds.overlay_digest)
    with _UPSTREAM_LOCK:
        got = _UPSTREAM.get(key)
        if got is not None:
            _UPSTREAM.move_to_end(key)
            return got
    a = ds.store.arrays()
    keep = np.ones(len(a), dtype=bool) if a.alive is None else a.alive
    n = len(ds.store.entity_ids)
    m = sparse.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.int8), (a.target[keep], a.source[keep])), shape=(n, n)
    )
    with _UPSTREAM_LOCK:
        _UPSTREAM[key] = m
        while len(_UPSTREAM) > _UPSTREAM_KEPT:
            _UPSTREAM.popitem(last=False)
    return m


def upstream(ds: Dataset, seeds: Iterable[str]) -> np.ndarray:
    """Boolean mask over entity indices: the seeds and every entity with a path of links (any
    kind, any date) to one of them."""
    ix = ds.store.entity_index
    rev = _reverse_graph(ds)
    mask = np.zeros(rev.shape[0], dtype=bool)
    for s in seeds:
        i = ix.get(s)
        if i is None or mask[i]:
            continue
        mask[csgraph.breadth_first_order(rev, i, directed=True, return_predecessors=False)] = True
    return mask


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "…"


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _years(value: Any) -> list[int]:
    """The years of a year-keyed table (``{2030: 0.75, …}``), else []."""
    if not isinstance(value, dict) or not value:
        return []
    try:
        years = [int(k) for k in value]
    except (TypeError, ValueError):
        return []
    return years if all(1900 <= y <= 2300 for y in years) else []


def _after(d: dt.date | None) -> dt.date | None:
    return None if d is None or d == dt.date.max else d + ONE_DAY


class _Collector:
    def __init__(self, start: dt.date, end: dt.date) -> None:
        self.start, self.end = start, end
        self.by_date: dict[dt.date, list[TimelineEvent]] = defaultdict(list)

    def add(self, d: dt.date | None, kind: str, ref: str, text: str) -> None:
        if d is not None and self.start < d <= self.end:
            ev = TimelineEvent(kind=kind, ref=ref, text=text)
            if ev not in self.by_date[d]:
                self.by_date[d].append(ev)

    def value_dates(
        self, kind: str, ref: str, label: str, value: Any, since: dt.date | None = None
    ) -> None:
        """Dates held in a value: a date, or the years of a year-keyed table (not the year in
        which the value itself starts, ``since``: that date has its own event)."""
        d = _as_date(value)
        if d is not None:
            self.add(d, kind, ref, f"{label}: the date it sets, {d}, is reached")
        for y in _years(value):
            if since is None or dt.date(y, 1, 1) != since:
                self.add(
                    dt.date(y, 1, 1), kind, ref, f"{label}: the {y} row of its year table applies"
                )


def _pack_events(c: _Collector, pack: PolicyPack) -> None:
    for pid, variants in pack.parameters.items():
        if ".text." in pid:
            continue  # clause words decide no verdict
        bounds = {v.effective_from for v in variants} | {_after(v.effective_to) for v in variants}
        for d in sorted(b for b in bounds if b is not None and b > dt.date.min):
            was, now = pack.maybe(pid, d - ONE_DAY), pack.maybe(pid, d)
            if was is None and now is None:
                continue
            if was is not None and now is not None and was.value == now.value:
                text = f"parameter {pid}: {_short(now.value)}, newly sourced"
            else:
                before = "no value" if was is None else _short(was.value)
                after = "no value" if now is None else _short(now.value)
                text = f"parameter {pid}: {before} → {after}"
            c.add(d, "parameter", pid, text)
        for v in variants:
            c.value_dates("parameter", pid, f"parameter {pid}", v.value, v.effective_from)
    for r in pack.rules:
        c.add(r.effective_from, "rule", r.id, f"rule {r.id} ({r.title}) in force")
        c.add(_after(r.effective_to), "rule", r.id, f"rule {r.id} ended on {r.effective_to}")
    for lst in pack.lists:
        for e in lst.effects:
            c.add(
                e.effective_from,
                "list_effect",
                lst.id,
                f"list {lst.id}: effect {e.effect} in force ({e.clause})",
            )
            c.add(
                _after(e.effective_to),
                "list_effect",
                lst.id,
                f"list {lst.id}: effect {e.effect} ended on {e.effective_to}",
            )


def _scenario_events(c: _Collector, engine: Engine, arrangement: str | None = None) -> None:
    arr = engine.dataset.arrangements[arrangement] if arrangement else None
    scenarios = engine.scenario_list(arr) if arr else engine.scenarios.scenarios
    for s in scenarios:
        for o in s.overrides:
            c.add(
                o.effective_from,
                "scenario",
                s.id,
                f"scenario {s.id}: {o.param} = {_short(o.value)} from {o.effective_from}",
            )
            c.value_dates(
                "scenario", s.id, f"scenario {s.id}: {o.param}", o.value, o.effective_from
            )


def _dataset_events(c: _Collector, ds: Dataset, arrangement: str) -> None:
    arr = ds.arrangements[arrangement]
    seeds = {*arr.party_ids(), arr.focal, *([arr.taxpayer] if arr.taxpayer else [])}
    mask = upstream(ds, seeds)
    ents = ds.entities
    for st in arr.status:
        c.add(st.date, "status", arr.id, f"{arr.name} [{arr.id}]: status {st.status.value}")
    for j, mk in enumerate(arr.markets):  # the EU/UK facts' own dates
        c.add(
            mk.since,
            "market",
            arr.id,
            f"{arr.name} [{arr.id}]: placing on the market (markets.{j})",
        )
        c.add(_after(mk.until), "market", arr.id, f"{arr.name} [{arr.id}]: markets.{j} ended")
    for tx in arr.transactions:
        c.add(tx.signed, "transaction", tx.id, f"transaction {tx.id} signed")
    for tn in arr.tenders:
        c.add(tn.date, "tender", tn.id, f"tender {tn.id}")
    a = ds.store.arrays()
    lo, hi = c.start.toordinal(), c.end.toordinal()
    vf, vt = a.valid_from.astype(np.int64), a.valid_to.astype(np.int64)
    dated = ((vf != NO_DATE) & (vf > lo) & (vf <= hi)) | (
        (vt != NO_DATE) & (vt + 1 > lo) & (vt + 1 <= hi)
    )
    touches = mask[a.target]
    if a.alive is not None:
        touches &= a.alive
    for k in np.flatnonzero(touches & dated):
        link = ds.store.at(int(k))
        what = (
            f"link {link.id} ({link.kind.value}: {named(ents, link.source)} → "
            f"{named(ents, link.target)})"
        )
        c.add(link.valid_from, "link", link.id, f"{what} valid from {link.valid_from}")
        c.add(_after(link.valid_to), "link", link.id, f"{what} ended on {link.valid_to}")
    # licence dates: recorded as events (the licensing test compares them with its cut-off)
    for k in np.flatnonzero(touches & (a.kind == KIND_CODES[LinkKind.LICENCE])):
        link = ds.store.at(int(k))
        t = link.licence
        if t is None:
            continue
        who = f"licence {link.id} ({named(ents, link.source)} → {named(ents, link.target)})"
        c.add(t.signed, "licence", link.id, f"{who} signed")
        c.add(t.modified, "licence", link.id, f"{who} modified")
    for i in np.flatnonzero(mask):
        eid = ds.store.entity_ids[int(i)]
        e = ents.get(eid)
        for m in e.lists if e is not None else ():
            c.add(m.since, "list", m.list_id, f"list {m.list_id}: {named(ents, eid)} listed")
            c.add(
                _after(m.until),
                "list",
                m.list_id,
                f"list {m.list_id}: {named(ents, eid)} delisted (listed until {m.until})",
            )


def candidates(
    engine: Engine, arrangement: str, start: dt.date, end: dt.date
) -> dict[dt.date, list[TimelineEvent]]:
    """Candidate change dates in ``(start, end]`` with the events of each (see the module)."""
    c = _Collector(start, end)
    _dataset_events(c, engine.dataset, arrangement)
    _pack_events(c, engine.pack)
    for ps in engine.applied_extras(engine.dataset.arrangements[arrangement]):
        _pack_events(c, ps.pack)
    _scenario_events(c, engine, arrangement)
    return dict(sorted(c.by_date.items()))


# --------------------------------------------------------------------------- evaluation

_State = tuple[dict[str, str], dict[str, str], dict[str, Amount], dict[str, str]]


def _state(engine: Engine, arrangement: str, on: dt.date, scenario: str) -> _State:
    s = engine.score(
        arrangement, on, scenario, view=View.BASIC, remedies=False, scenario_in_force_only=True
    )
    verdicts = {v.rule: v.verdict.value for v in s.verdicts}
    bands = {a: getattr(s, a).band for a in AXES}
    credit = {v.rule: v.credit for v in s.verdicts if v.credit is not None}
    reasons = {v.rule: v.reason for v in s.verdicts}
    return verdicts, bands, credit, reasons


def _credit_text(a: Amount | None) -> str | None:
    if a is None:
        return None
    unit = "/yr" if a.unit == "USD/year" else f" {a.unit}"
    return usd_range(a.min, a.max) + unit


def _diff(prev: _State, cur: _State) -> list[Change]:
    out: list[Change] = []
    for rule in dict.fromkeys([*prev[0], *cur[0]]):
        b, a = prev[0].get(rule), cur[0].get(rule)
        if a != b:
            out.append(
                Change(what="verdict", subject=rule, before=b, after=a, reason=cur[3].get(rule))
            )
    for axis in AXES:
        b, a = prev[1].get(axis), cur[1].get(axis)
        if a != b:
            out.append(Change(what="band", subject=axis, before=b, after=a))
    for rule in dict.fromkeys([*prev[2], *cur[2]]):
        bc, ac = prev[2].get(rule), cur[2].get(rule)
        if bc != ac:
            out.append(
                Change(what="credit", subject=rule, before=_credit_text(bc), after=_credit_text(ac))
            )
    return out


class _Causes:
    """Which events of a change date can explain its changes.

    A band can move with anything (the policy axis weighs every rule in every scenario): every
    event explains a band change. A verdict or credit change of rule R is explained by a
    dataset event (link, listing, licence, status), by R's own dates, by a list effect when R
    judges lists or runs the PFE tests, and by a pack parameter (or an override of the chosen
    scenario) that R reads on the date of the change or on the evaluated date before it.
    """

    def __init__(
        self, engine: Engine, arrangement: str, scenario: str, days: tuple[dt.date, dt.date]
    ) -> None:
        self.engine, self.arrangement, self.scenario, self.days = (
            engine,
            arrangement,
            scenario,
            days,
        )
        self._reads: dict[str, set[str]] = {}

    def reads(self, rule_id: str) -> set[str]:
        """Ids of the pack parameters rule ``rule_id`` reads on either day (chosen scenario)."""
        got = self._reads.get(rule_id)
        if got is None:
            got = set()
            e = self.engine
            own = any(s.id == self.scenario for s in e.scenarios.scenarios)
            packs = [e.scenario_pack(self.scenario) if own else e.pack]
            packs += [ps.pack for ps in e.extra]  # further packs: their current law
            pack, rule = next(
                ((pk, r) for pk in packs for r in pk.rules if r.id == rule_id), (e.pack, None)
            )
            for day in self.days if rule is not None else ():
                assert rule is not None
                # the day itself: the timeline shows a scenario's changes from their dates
                on = day
                ctx = EvalContext(e.graph(on), pack, e.dataset.arrangements[self.arrangement], on)
                _, reads = ctx.record(partial(evaluate_rule, ctx, rule, EVALUATORS[rule.kind]))
                got |= reads
            self._reads[rule_id] = got
        return got

    def kind(self, rule_id: str) -> str:
        packs = [self.engine.pack, *(ps.pack for ps in self.engine.extra)]
        rule = next((r for pk in packs for r in pk.rules if r.id == rule_id), None)
        return rule.kind if rule else ""

    def explains(self, ev: TimelineEvent, day: dt.date, changed: list[Change]) -> bool:
        for x in changed:
            dataset = ("link", "list", "licence", "status", "market", "transaction", "tender")
            if x.what == "band" or ev.kind in dataset:
                return True
            reads = self.reads(x.subject)
            if ev.kind == "rule" and ev.ref == x.subject:
                return True
            if ev.kind == "parameter" and ev.ref in reads:
                return True
            if ev.kind == "list_effect" and (
                self.kind(x.subject) == "list_effects" or reads & set(PFE_PARAMS)
            ):
                return True
            if ev.kind == "scenario" and ev.ref == self.scenario:
                sc = self.engine.scenarios.get(self.scenario)
                if any(o.param in reads for o in sc.overrides if o.effective_from == day):
                    return True
        return False


def _period(start: dt.date, end: dt.date, st: _State) -> Period:
    return Period(
        from_=start, to=end, verdicts=dict(st[0]), bands=dict(st[1]), credit=dict(st[2]) or None
    )


def timeline(
    engine: Engine,
    arrangement: str,
    start: dt.date,
    end: dt.date,
    scenario: str = "current-law",
    *,
    max_points: int = MAX_POINTS,
    time_budget: float | None = None,
) -> Timeline:
    """The intervals of ``[start, end]`` over which ``arrangement``'s verdicts (in
    ``scenario``), bands and credit estimates hold, and the dated changes between them.

    At most ``max_points`` scores are computed, and with ``time_budget`` (seconds) no new score
    is started once that much time has passed (the first is always computed); either way the
    timeline then ends on the day before the first candidate not evaluated (``truncated``,
    ``truncated_by``, ``covered_to``).

    Raises :class:`~georisk.scoring.engine.NotFoundError` for an unknown arrangement or
    scenario, :class:`TimelineRangeError` when ``start`` is after ``end``, and ``ValueError``
    when ``max_points`` is below 1.
    """
    if start > end:
        raise TimelineRangeError(f"from {start} is after to {end}")
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    began = time.monotonic()
    ds = engine.dataset
    if arrangement not in ds.arrangements:
        raise NotFoundError("arrangement", arrangement, sorted(ds.arrangements))
    known = [s.id for s in engine.scenario_list(ds.arrangements[arrangement])]
    if scenario not in known:
        raise NotFoundError("scenario", scenario, known)
    cands = candidates(engine, arrangement, start, end)
    days = list(cands)
    # the walk builds a graph per new date: in a cache of its own, so that it never evicts
    # the graphs the caller's engine keeps for its own scores (a server's hot dates)
    engine = Engine(
        engine.dataset,
        engine.pack,
        engine.scenarios,
        graphs=GraphCache(base_limit=WALK_GRAPHS, overlay_limit=2),
        extra=engine.extra,
    )
    prev = _state(engine, arrangement, start, scenario)
    opened = last = start
    periods: list[Period] = []
    changes: list[ChangePoint] = []
    stop: str | None = None
    evaluated = 1
    for d in days:
        if evaluated >= max_points:
            stop = "max_points"
        elif time_budget is not None and time.monotonic() - began > time_budget:
            stop = "time_budget"
        if stop:
            break
        cur = _state(engine, arrangement, d, scenario)
        evaluated += 1
        changed = _diff(prev, cur)
        if changed:
            periods.append(_period(opened, d - ONE_DAY, prev))
            why = _Causes(engine, arrangement, scenario, (last, d))
            related = [e for e in cands[d] if why.explains(e, d, changed)]
            others = [e for e in cands[d] if e not in related]
            if not related:  # never claim a change without a cause: show them all
                related, others = others, []
            changes.append(
                ChangePoint(date=d, events=related, changed=changed, other_events=others)
            )
            opened = d
        prev, last = cur, d
    covered_to = days[evaluated - 1] - ONE_DAY if stop else end
    periods.append(_period(opened, covered_to, prev))
    arr = ds.arrangements[arrangement]
    return Timeline(
        arrangement=arrangement,
        name=arr.name,
        scenario=scenario,
        from_=start,
        to=end,
        dataset_version=ds.version,
        pack_version=engine.pack.version_label,
        packs_applied=[
            ps.pack.version_label
            for ps in [engine.packs[0], *engine.applied_extras(ds.arrangements[arrangement])]
        ],
        scenario_set_version=engine.scenarios.content_hash,
        intervals=periods,
        changes=changes,
        candidates=len(cands),
        evaluated=evaluated,
        truncated=stop is not None,
        truncated_by=stop,
        covered_to=covered_to,
    )


# --------------------------------------------------------------------------- renderings

#: the CSV columns besides one per rule (``verdict:<rule>``), in order
CSV_COLUMNS = [
    "arrangement",
    "scenario",
    "from",
    "to",
    "technology_band",
    "equity_band",
    "policy_band",
    "overall_band",
    "credit_rule",
    "credit_usd_min",
    "credit_usd_max",
    "changed",
    "events",
    "dataset_version",
    "pack_version",
]
WIDTH = 120


def _change_text(c: Change) -> str:
    return f"{c.what} {c.subject}: {c.before or '—'} → {c.after or '—'}"


def _rules(t: Timeline) -> list[str]:
    return list(dict.fromkeys(r for p in t.intervals for r in p.verdicts))


def write_timeline_csv(t: Timeline, out: TextIO) -> None:
    """One row per interval: its verdicts (a column per rule), bands, credit, and what changed
    on its first day and why (empty for the first interval)."""
    rules = _rules(t)
    cols = [*CSV_COLUMNS[:4], *(f"verdict:{r}" for r in rules), *CSV_COLUMNS[4:]]
    w = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    at = {c.date: c for c in t.changes}
    for p in t.intervals:
        cp = at.get(p.from_)
        rule, amount = next(iter((p.credit or {}).items()), ("", None))
        w.writerow(
            {
                "arrangement": t.arrangement,
                "scenario": t.scenario,
                "from": p.from_.isoformat(),
                "to": p.to.isoformat(),
                **{f"verdict:{r}": p.verdicts.get(r, "") for r in rules},
                **{f"{a}_band": p.bands.get(a, "") for a in AXES},
                "credit_rule": rule,
                "credit_usd_min": f"{amount.min:.0f}" if amount else "",
                "credit_usd_max": f"{amount.max:.0f}" if amount else "",
                "changed": "; ".join(_change_text(c) for c in cp.changed) if cp else "",
                "events": "; ".join(e.text for e in cp.events) if cp else "",
                "dataset_version": t.dataset_version,
                "pack_version": t.pack_version,
            }
        )


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def render_timeline_table(t: Timeline, width: int = WIDTH) -> str:
    """The intervals as a table and the changes with their events, wrapped to ``width``."""
    lines = [
        f"{t.name} [{t.arrangement}] · scenario {t.scenario} · {t.from_} … {t.to}",
        f"dataset {t.dataset_version} · "
        + (
            f"packs {', '.join(t.packs_applied)}"
            if len(t.packs_applied) > 1
            else f"pack {t.pack_version}"
        ),
        f"{len(t.changes)} change date(s) among {t.candidates} candidate date(s); "
        f"{t.evaluated} score(s) computed",
    ]
    if t.truncated:
        why = {"max_points": "the bound on scores", "time_budget": "the time budget"}
        lines.append(
            f"TRUNCATED by {why.get(t.truncated_by or '', t.truncated_by)}: stopped after "
            f"{t.evaluated} scores; covered up to {t.covered_to}, not to {t.to}"
        )
    lines.append("")
    rules = _rules(t)
    bands = "tech/equity/policy/overall"
    rows = [
        [
            p.from_.isoformat(),
            p.to.isoformat(),
            *(p.verdicts.get(r, "—") for r in rules),
            "/".join(p.bands.get(a, "—") for a in AXES),
            "; ".join(f"{_credit_text(a)}" for a in (p.credit or {}).values()) or "—",
        ]
        for p in t.intervals
    ]
    table = _grid(["from", "to", *rules, bands, "credit"], rows)
    if max(len(x) for x in table) > width:  # too many rules for a column each: one cell
        head = f"{'from':<10}  {'to':<10}  {bands:<{len(bands)}}  "
        table = [head + "verdicts and credit"]
        for p in t.intervals:
            cell = "  ".join(f"{r}={p.verdicts.get(r, '—')}" for r in rules)
            for rule, a in (p.credit or {}).items():
                cell += f"  credit:{rule}={(_credit_text(a) or '').replace(' ', '')}"
            first = (
                f"{p.from_.isoformat():<10}  {p.to.isoformat():<10}  "
                f"{'/'.join(p.bands.get(a, '—') for a in AXES):<{len(bands)}}  "
            )
            table += textwrap.wrap(
                cell,
                max(40, width),
                initial_indent=first,
                subsequent_indent=" " * len(head),
                break_on_hyphens=False,
            )
    lines += table
    if t.changes:
        lines += ["", "changes:"]
    for c in t.changes:
        lines.append(f"{c.date}")
        for x in c.changed:
            lines += textwrap.wrap(
                _change_text(x), width, initial_indent="  ", subsequent_indent="    "
            )
        for e in c.events:
            lines += textwrap.wrap(
                e.text, width, initial_indent="  because: ", subsequent_indent="    "
            )
        if c.other_events:
            lines += textwrap.wrap(
                "; ".join(e.text for e in c.other_events),
                width,
                initial_indent="  also that day, not read by what changed: ",
                subsequent_indent="    ",
            )
    return "\n".join(lines)
