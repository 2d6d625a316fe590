"""What a rule is evaluated against: one arrangement, one graph of a date, one policy pack.

:class:`EvalContext` reads the pack's parameters in force on the date (recording which, for
:class:`~georisk.scoring.rules.cache.RuleCache`), the PFE test parameters (:func:`pfe_params`),
and answers the questions every rule kind asks of the arrangement: who produces, who is on the
producer side, where technology flows to, whether the rule reaches it at all (:func:`nexus`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from georisk.scoring.control import PfeParams, controllers_of
from georisk.scoring.control.params import PFE_TEXT_KEYS
from georisk.scoring.graph import ENTITY_MEMO_LIMIT, ArrangementGraph
from georisk.scoring.model import Arrangement, EntityKind, Link, LinkKind
from georisk.scoring.policy import ClauseText, ParamVariant, PolicyPack, RuleInstance
from georisk.scoring.rules.outcome import ParamUse, RuleOutcome, not_applicable
from georisk.scoring.wording import prose_list

__all__ = [
    "PFE_PARAMS",
    "EvalContext",
    "gate",
    "kind_param",
    "kind_text",
    "links_into",
    "nexus",
    "not_in_force",
    "pfe_params",
    "regime_start",
    "year_table",
]

#: the pack parameters :func:`pfe_params` reads (besides the lists' ``sfe`` effects)
PFE_PARAMS = (
    "covered_nations",
    "pfe.fce_threshold",
    "pfe.fce_semantics",
    "pfe.fie_single",
    "pfe.fie_aggregate",
    "pfe.fie_debt",
)


T = TypeVar("T")

#: ``(ctx, name, make) -> value``: a part of a rule reused across scenarios
#: (:meth:`georisk.scoring.rules.cache.RuleCache.part`)
PartMemo = Callable[["EvalContext", str, Callable[[], Any]], Any]


@dataclass
class EvalContext:
    """One arrangement, one graph (as of ``on``), one pack (possibly with scenario overrides)."""

    g: ArrangementGraph
    pack: PolicyPack
    arr: Arrangement
    on: dt.date
    _pfe: PfeParams | None = field(default=None, repr=False)
    #: ids of the pack parameters read, while a :class:`RuleCache` records a rule's evaluation
    _reads: set[str] | None = field(default=None, repr=False)
    _producers: list[str] | None = field(default=None, repr=False)
    #: reuses parts of rules across scenarios (set by ``evaluate_pack`` from its RuleCache)
    parts: PartMemo | None = field(default=None, repr=False)

    def part(self, name: str, make: Callable[[], T]) -> T:
        """``make()``: a part of a rule (a clause) that reads only this context. With
        :attr:`parts` set, the value an earlier scenario's context got, when its pack gave
        every parameter ``make`` read the same variant (the rule-level argument of
        :class:`~georisk.scoring.rules.cache.RuleCache`, clause by clause: a scenario that
        changes the licensing test reuses the taxpayer's PFE clause). The value is shared:
        do not modify it."""
        if self.parts is None:
            return make()
        got: T = self.parts(self, name, make)
        return got

    def links_into(self, eid: str, kinds: Iterable[LinkKind]) -> list[Link]:
        """Links into ``eid`` that belong to this arrangement (or to no particular one)."""
        return [l for l in links_into(self.g, eid, kinds) if l.arrangement in (None, self.arr.id)]

    def param(self, pid: str, uses: list[ParamUse] | None = None) -> Any:
        """The value of pack parameter ``pid`` in force on the context's date.

        Appends what was read (value, date, sources, marks) to ``uses`` when given. Raises
        :class:`~georisk.scoring.policy.ParameterMissing` when the pack has no value on the date.
        """
        if self._reads is not None:
            self._reads.add(pid)
        v, use = _param_use(self.pack, pid, self.on)
        if uses is not None:
            uses.append(use)
        return v.value

    def text(self, pid: str) -> ClauseText:
        """The clause text ``pid`` of the pack (title, statutory clause, citation, phrases).

        Read like a parameter (the :class:`RuleCache` records it), but not listed among a
        clause's parameters: the words decide no verdict.
        """
        return _clause_text(self.param(pid))

    def record(self, make: Callable[[], T]) -> tuple[T, set[str]]:
        """``make()`` and the ids of the pack parameters it read.

        Records nest: the reads of an inner record are added to the outer one when it ends. (A
        plain call, not a context manager: the rule cache makes ~14 of them a score.)
        """
        reads: set[str] = set()
        outer, self._reads = self._reads, reads
        try:
            value = make()
        finally:
            self._reads = outer
        if outer is not None:
            outer |= reads
        return value, reads

    @property
    def pfe(self) -> PfeParams:
        """The PFE test parameters of the pack on the context's date (:func:`pfe_params`)."""
        if self._reads is not None:
            self._reads.update(PFE_PARAMS)
        if self._pfe is None:
            self._pfe = pfe_params(self.pack, self.on)
        return self._pfe

    # the producer side: who makes the product, who claims the credit, who controls them
    def producers(self) -> list[str]:
        """Who makes the product: the operators of the focal facility, else its owners, else
        the focal entity itself (found once per context)."""
        if self._producers is None:
            self._producers = self._find_producers()
        return list(self._producers)

    def _find_producers(self) -> list[str]:
        focal = self.arr.focal
        ops = [l.source for l in self.links_into(focal, [LinkKind.OPERATION])]
        if ops:
            return sorted(set(ops))
        if self.g.entity(focal).kind is not EntityKind.FACILITY:
            return [focal]
        owners = [l.source for l in self.links_into(focal, [LinkKind.EQUITY])]
        return sorted(set(owners)) or [focal]

    def producer_side(self) -> list[str]:
        """The producers, the taxpayer, and their controllers."""
        side = set(self.producers())
        if self.arr.taxpayer:
            side.add(self.arr.taxpayer)
        for x in list(side):
            side |= set(controllers_of(self.g, x))
        return sorted(side)

    def contracting_parties(self) -> list[str]:
        """Who sells what the plant makes, and so would contract with a buyer such as DoD: the
        owners of the focal facility (else its producers), or the focal entity itself, and the
        taxpayer. An operator or licensor that owns nothing of the plant (CATL under its LRS
        model) is not one: it reaches a contracting ban only indirectly."""
        focal = self.arr.focal
        if self.g.entity(focal).kind is EntityKind.FACILITY:
            owners = {l.source for l in self.links_into(focal, [LinkKind.EQUITY])}
            side = owners or set(self.producers())
        else:
            side = {focal}
        if self.arr.taxpayer:
            side.add(self.arr.taxpayer)
        return sorted(side)

    def contracting_side(self) -> list[str]:
        """The contracting parties and their controllers."""
        side = set(self.contracting_parties())
        for x in list(side):
            side |= set(controllers_of(self.g, x))
        return sorted(side)

    def receivers(self) -> set[str]:
        """Where technology, licences and supplies flow to: the producers, the focal entity and
        the taxpayer."""
        out = set(self.producers()) | {self.arr.focal}
        if self.arr.taxpayer:
            out.add(self.arr.taxpayer)
        return out

    def first_reported(self) -> dt.date | None:
        """The date of the arrangement's first recorded status."""
        return min((e.date for e in self.arr.status), default=None)


def links_into(g: ArrangementGraph, eid: str, kinds: Iterable[LinkKind]) -> list[Link]:
    """``g.links_into(eid, kinds)``, memoized per set of links (``g.shared``, bounded).

    The rules of every scenario and the axes ask for the links into the same few entities
    (focal entity, producers, taxpayer) dozens of times per score; the graph filters an
    entity's in-links anew on each call. The list returned is shared: do not modify it.
    """
    memo: dict[tuple[str, tuple[LinkKind, ...]], list[Link]] = g.shared("links-into", dict)
    key = (eid, tuple(kinds))
    hit = memo.get(key)
    if hit is None:
        if len(memo) >= ENTITY_MEMO_LIMIT:  # a batch meets new entities with every row
            memo.clear()
        hit = memo[key] = g.links_into(eid, key[1])
    return hit


#: (pack, date) entries a memo keeps before it starts again
_MEMO_MAX = 256
#: per (pack, date): the variant in force of each parameter read and what a clause lists of
#: it; the pack is held, so its id is not reused
_PARAM_MEMO: dict[
    tuple[int, dt.date], tuple[PolicyPack, dict[str, tuple[ParamVariant, ParamUse]]]
] = {}


#: :class:`ClauseText` per parameter value (the value is held, so its id is not reused): the
#: same few texts are read by every scenario's context of every score
_TEXT_MEMO: dict[int, tuple[Any, ClauseText]] = {}


def _clause_text(value: Any) -> ClauseText:
    """``ClauseText.model_validate(value)``, once per value object."""
    got = _TEXT_MEMO.get(id(value))
    if got is None or got[0] is not value:
        if len(_TEXT_MEMO) >= _MEMO_MAX:
            _TEXT_MEMO.clear()
        got = _TEXT_MEMO[id(value)] = (value, ClauseText.model_validate(value))
    return got[1]


def _param_use(pack: PolicyPack, pid: str, on: dt.date) -> tuple[ParamVariant, ParamUse]:
    """The variant of ``pid`` in force on ``on`` and its :class:`ParamUse`, memoized per
    (pack, date): a pack is immutable, and the rules of every scenario read the same few dozen
    parameters per score. The :class:`ParamUse` is shared by the clauses that list it (it is
    never modified). Raises :class:`~georisk.scoring.policy.ParameterMissing` as
    :meth:`PolicyPack.param` does (a miss is not memoized)."""
    key = (id(pack), on)
    got = _PARAM_MEMO.get(key)
    if got is None or got[0] is not pack:
        if len(_PARAM_MEMO) >= _MEMO_MAX:
            _PARAM_MEMO.clear()
        got = _PARAM_MEMO[key] = (pack, {})
    hit = got[1].get(pid)
    if hit is None:
        v = pack.param(pid, on)
        use = ParamUse(
            id=pid,
            value=v.value,
            effective_from=v.effective_from,
            sources=list(v.sources),
            unconfirmed=v.unconfirmed,
            conflict=v.conflict,
        )
        hit = got[1][pid] = (v, use)
    return hit


#: :func:`pfe_params` per (pack, date); the pack is held, so its id is not reused
_PFE_MEMO: dict[tuple[int, dt.date], tuple[PolicyPack, PfeParams]] = {}


def pfe_params(pack: PolicyPack, on: dt.date) -> PfeParams:
    """The 2025 PFE test parameters in force on ``on`` (defaults where the pack is silent).

    The titles and citations of the tests are the pack's ``pfe.text.<key>`` clause texts
    (:data:`~georisk.scoring.control.params.PFE_TEXT_KEYS`); where the pack has none, the
    neutral default of :class:`PfeParams` (the section, no sub-clause). They decide no
    verdict, so they are not among :data:`PFE_PARAMS`.

    The parameters are those of scoring: ``explain=False`` (a test that comes out FALSE is
    not explained; rules and scores read only the others; the ownership report asks for every
    explanation itself). A pack is immutable, so the answer is memoized per (pack, date): the
    rules of every scenario and the axes ask for it several times per score.

    >>> pack = PolicyPack.model_validate({"pack": {"id": "p", "jurisdiction": "us",
    ...     "version": "1", "title": "a pack"}, "parameters": {}, "rules": []})
    >>> p = pfe_params(pack, dt.date(2026, 1, 1))
    >>> p.fie_single, p.explain, pfe_params(pack, dt.date(2026, 1, 1)) is p
    (0.25, False, True)
    """
    key = (id(pack), on)
    got = _PFE_MEMO.get(key)
    if got is not None and got[0] is pack:
        return got[1]
    params = _pfe_params(pack, on)
    if len(_PFE_MEMO) >= _MEMO_MAX:
        _PFE_MEMO.clear()
    _PFE_MEMO[key] = (pack, params)
    return params


def _pfe_params(pack: PolicyPack, on: dt.date) -> PfeParams:
    d = PfeParams()
    texts = []
    for key in PFE_TEXT_KEYS:
        v = pack.maybe(f"pfe.text.{key}", on)
        if v is not None:
            t = ClauseText.model_validate(v.value)
            texts.append((key, t.title, t.clause or d.text(key)[1]))

    def get(pid: str, default: Any) -> Any:
        assert pid in PFE_PARAMS  # what RuleCache records as read through EvalContext.pfe
        v = pack.maybe(pid, on)
        return default if v is None else v.value

    sfe_lists = frozenset(
        lst.id for lst in pack.lists for e in lst.effects if e.effect == "sfe" and e.active(on)
    )
    return PfeParams(
        covered_nations=frozenset(get("covered_nations", sorted(d.covered_nations))),
        sfe_lists=sfe_lists or d.sfe_lists,
        fce_threshold=float(get("pfe.fce_threshold", d.fce_threshold)),
        fce_semantics=get("pfe.fce_semantics", d.fce_semantics),
        fie_single=float(get("pfe.fie_single", d.fie_single)),
        fie_aggregate=float(get("pfe.fie_aggregate", d.fie_aggregate)),
        fie_debt=float(get("pfe.fie_debt", d.fie_debt)),
        texts=tuple(texts) or d.texts,
        explain=False,
    )


def year_table(table: dict[Any, Any], year: int) -> tuple[int, float] | None:
    """Value for ``year`` in a year-keyed table: the latest key ≤ year (None before the first).

    Keys may be integers or strings (as YAML gives them).

    >>> year_table({2026: 0.6, "2027": 0.65}, 2031)
    (2027, 0.65)
    >>> year_table({2026: 0.6}, 2025) is None
    True
    """
    keys = sorted(int(k) for k in table)
    past = [k for k in keys if k <= year]
    if not past:
        return None
    k = past[-1]
    return k, float(table[k] if k in table else table[str(k)])


def nexus(ctx: EvalContext, rule: RuleInstance) -> str | None:
    """None if the rule instance reaches the arrangement on the date, else why not.

    Located in one of the rule's ``countries``, or (rules with ``markets``) placing products on
    one of its markets (the arrangement's ``markets``): either suffices.
    """
    if rule.markets:
        placed = sorted({c for m in ctx.arr.markets for c in m.countries} & set(rule.markets))
        located = ctx.arr.country in rule.countries
        if not placed and not located:
            markets = f"no placing on the rule's markets recorded ({prose_list(rule.markets)})"
            if not rule.countries:
                return f"no nexus: {markets}"
            return (
                f"no nexus: located in {ctx.arr.country} (the rule covers "
                f"{prose_list(rule.countries)}) and {markets}"
            )
    elif rule.countries and ctx.arr.country not in rule.countries:
        return (
            f"no nexus: located in {ctx.arr.country}, the rule covers {prose_list(rule.countries)}"
        )
    if rule.products and not set(p.value for p in ctx.arr.products) & set(rule.products):
        return (
            f"no nexus: its products ({prose_list([p.value for p in ctx.arr.products])}) are "
            f"outside the rule's ({prose_list(rule.products)})"
        )
    if rule.effective_from and ctx.on < rule.effective_from:
        return f"not in force on {ctx.on} (from {rule.effective_from})"
    if rule.effective_to and ctx.on > rule.effective_to:
        return f"no longer in force on {ctx.on} (ended {rule.effective_to})"
    return None


def kind_param(
    ctx: EvalContext, rule: RuleInstance, name: str, uses: list[ParamUse] | None = None
) -> Any:
    """The value of the kind parameter ``name`` for ``rule``: the pack parameter the instance
    maps it to in ``params``, else ``<kind>.<name>`` (raises ParameterMissing as
    :meth:`EvalContext.param`).

    This is how several instances of one kind (Spain's, Germany's, Hungary's screening) each
    read their own values.
    """
    return ctx.param(rule.params.get(name, f"{rule.kind}.{name}"), uses)


def kind_text(ctx: EvalContext, rule: RuleInstance) -> ClauseText:
    """The clause text of ``rule`` (its ``params.text``, else ``<kind>.text.main``)."""
    return ctx.text(rule.params.get("text", f"{rule.kind}.text.main"))


def not_in_force(ctx: EvalContext, rule: RuleInstance, uses: list[ParamUse]) -> str | None:
    """Why the rule is not in force on the date (its optional ``in_force`` switch is false,
    e.g. a proposal that only a scenario adopts), else None."""
    pid = rule.params.get("in_force", f"{rule.kind}.in_force")
    if pid not in ctx.pack.parameters:
        return None
    if ctx.param(pid, uses):
        return None
    use = uses[-1]
    return f"not in force on {ctx.on} ({pid} is false" + (
        f" since {use.effective_from})" if use.effective_from else ")"
    )


def gate(ctx: EvalContext, rule: RuleInstance, uses: list[ParamUse]) -> RuleOutcome | None:
    """The outcome of a rule that does not reach the arrangement: not applicable outside its
    nexus (:func:`nexus`), or "not in force" when its ``in_force`` switch is off
    (:func:`not_in_force`, the switch read into ``uses``); None when the rule must be judged.
    The first step of every EU/UK kind."""
    why = nexus(ctx, rule)
    if why:
        return not_applicable(rule, why)
    off = not_in_force(ctx, rule, uses)
    if off:
        return not_applicable(rule, off, outcome="not in force")
    return None


def regime_start(
    rule: RuleInstance, uses: list[ParamUse], *pids: str
) -> tuple[dt.date | None, str]:
    """The first day a regime is in force as its rule read it, and what sets it: the latest of
    the instance's ``effective_from``, the start of its ``in_force`` switch's variant (when read
    and true: a proposal a scenario adopts from a date) and of the variants of ``pids`` read
    (e.g. a notification test in force from 2023-10-12). None: no start recorded.

    A transaction signed before it is not caught by the regime (screening and FSR kinds).
    """
    switch = rule.params.get("in_force", f"{rule.kind}.in_force")
    found: list[tuple[dt.date, str]] = []
    if rule.effective_from:
        found.append((rule.effective_from, f"rule {rule.id}"))
    for u in uses:
        if u.effective_from is None:
            continue
        if (u.id == switch and u.value is True) or u.id in pids:
            found.append((u.effective_from, u.id))
    if not found:
        return None, ""
    return max(found)
