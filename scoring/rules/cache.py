"""Rule outcomes reused across scenarios whose overrides leave a rule's inputs unchanged.

The one job of this module is :class:`RuleCache`; its docstring states why a reused outcome is
the outcome a fresh evaluation would give.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from georisk.scoring.policy import PolicyPack, RuleInstance
from georisk.scoring.rules.context import EvalContext
from georisk.scoring.rules.outcome import RuleOutcome

__all__ = ["RuleCache"]


# tuples, not frozen dataclasses: one is made for every rule and part evaluated, and a frozen
# dataclass sets each field through object.__setattr__
class _Recorded(NamedTuple):
    rule: RuleInstance
    lists: list[Any]
    pids: tuple[str, ...]  # the parameters read, sorted
    variants: tuple[Any, ...]  # the variant in force of each (or None)
    outcome: RuleOutcome


class _Part(NamedTuple):
    lists: list[Any]
    pids: tuple[str, ...]
    variants: tuple[Any, ...]
    value: Any


@dataclass
class RuleCache:
    """Rule outcomes reused across scenarios whose overrides leave a rule's inputs unchanged.

    A rule's outcome is a function of the graph (dataset version and date), the arrangement,
    the date, the rule instance, the pack's lists and the pack parameters it reads — and of
    nothing else of the pack. While a rule is evaluated its context records the ids of the
    parameters it reads (:meth:`EvalContext.param`, and :data:`~.context.PFE_PARAMS` through
    :attr:`EvalContext.pfe`); the outcome is stored with the variants in force of those
    parameters. A scenario's pack that has the same rule instance and lists and the same
    variants of every recorded parameter (value, dates, sources, marks) follows the same path
    through the rule's code, so it gets the stored outcome. Of the 24 rule evaluations of a
    score under the six shipped scenarios, about half are reused (a scenario overrides one or
    two parameters, which most rules do not read).

    :meth:`part` applies the same argument to a part of a rule (a clause that reads only the
    context, :meth:`EvalContext.part`): a scenario that changes the licensing parameters
    re-evaluates the production credit, but reuses its taxpayer and MACR clauses.
    """

    max_keys: int = 4096
    _entries: dict[tuple[str, str, dt.date, str], list[_Recorded]] = field(
        default_factory=dict, repr=False
    )
    #: variants in force per (pack, date), memoized: (the pack, parameter id → variant or
    #: None, parameter ids read together → their variants)
    _variants: dict[
        tuple[int, dt.date],
        tuple[PolicyPack, dict[str, Any], dict[tuple[str, ...], tuple[Any, ...]]],
    ] = field(default_factory=dict, repr=False)

    _parts: dict[tuple[str, str, dt.date, str], list[_Part]] = field(
        default_factory=dict, repr=False
    )

    def _in_force(self, pack: PolicyPack, pids: tuple[str, ...], on: dt.date) -> tuple[Any, ...]:
        """The variants of ``pids`` in force in ``pack`` on ``on`` (memoized per read set: a
        stored entry matches when this tuple equals its own, element by element, ``is`` or
        ``==``, in C)."""
        got = self._variants.get((id(pack), on))
        if got is None or got[0] is not pack:  # the pack is held: its id is not reused
            got = self._variants[(id(pack), on)] = (pack, {}, {})
        sets = got[2]
        hit = sets.get(pids)
        if hit is None:
            memo = got[1]
            for pid in pids:
                if pid not in memo:
                    memo[pid] = pack.maybe(pid, on)
            hit = sets[pids] = tuple(memo[pid] for pid in pids)
        return hit

    def outcome(
        self, ctx: EvalContext, rule: RuleInstance, evaluate: Callable[[], RuleOutcome]
    ) -> RuleOutcome:
        """The outcome of ``rule`` in ``ctx``: stored, or ``evaluate()`` while recording reads."""
        key = (ctx.g.dataset.version, ctx.arr.id, ctx.on, rule.id)
        pack, on = ctx.pack, ctx.on
        recorded = self._entries.get(key)
        for r in recorded or ():
            if (
                r.rule is rule
                and r.lists is pack.lists
                and self._in_force(pack, r.pids, on) == r.variants
            ):
                return r.outcome
        out, reads = ctx.record(evaluate)
        pids = tuple(sorted(reads))
        self._keep(
            self._entries,
            key,
            _Recorded(rule, pack.lists, pids, self._in_force(pack, pids, on), out),
        )
        return out

    def part(self, ctx: EvalContext, name: str, make: Callable[[], Any]) -> Any:
        """The value of part ``name`` of a rule in ``ctx``: stored, or ``make()`` while
        recording reads. A stored value's reads count as read by the rule around it (its
        outcome is stored with them)."""
        key = (ctx.g.dataset.version, ctx.arr.id, ctx.on, name)
        pack, on = ctx.pack, ctx.on
        recorded = self._parts.get(key)
        for r in recorded or ():
            if r.lists is pack.lists and self._in_force(pack, r.pids, on) == r.variants:
                if ctx._reads is not None:
                    ctx._reads.update(r.pids)
                return r.value
        value, reads = ctx.record(make)
        pids = tuple(sorted(reads))
        self._keep(self._parts, key, _Part(pack.lists, pids, self._in_force(pack, pids, on), value))
        return value

    def _keep(self, table: dict[Any, list[Any]], key: Any, entry: Any) -> None:
        """Store ``entry`` under ``key``; with :attr:`max_keys` keys stored (outcomes and parts
        together) everything starts again."""
        got = table.get(key)
        if got is None:
            if len(self._entries) + len(self._parts) >= self.max_keys:
                self._entries.clear()
                self._parts.clear()
                self._variants.clear()
            got = table[key] = []
        got.append(entry)
