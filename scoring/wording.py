"""How findings name things for an analyst: names first with ids in brackets, lists as prose,
ranges that are never degenerate, shares as percentages.

Every reason, clause finding and table line that names an entity, a link or an amount goes
through these helpers, so one wording holds across the rules, the ownership tests and the
renderings (issue "Every line an analyst can defend").

>>> usd_range(7.0e8, 7.0e8), usd_range(3.5e8, 7.0e8)
('$700M', '$350–700M')
>>> pct_range(0.25, 0.25), pct_range(0.2, 0.3), pct_range(0.5, 1.0, lo_open=True)
('25%', '20–30%', 'more than 50%, up to 100%')
>>> prose_list(["a", "b", "c"]), prose_list(["a"]), prose_list([])
('a, b and c', 'a', 'none')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

__all__ = [
    "named",
    "named_list",
    "pct",
    "pct_range",
    "prose_list",
    "usd",
    "usd_range",
]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def named(entities: Mapping[str, _Named], eid: str) -> str:
    """``Name [id]``; the bare id when the entity is not known (or its name is its id).

    >>> class E:
    ...     name = "Contemporary Amperex Technology"
    >>> named({"catl": E()}, "catl"), named({}, "x")
    ('Contemporary Amperex Technology [catl]', 'x')
    """
    e = entities.get(eid)
    if e is None or not e.name or e.name == eid:
        return eid
    return f"{e.name} [{eid}]"


def named_list(entities: Mapping[str, _Named], ids: Iterable[str]) -> str:
    """Several entities as prose: ``A [a], B [b] and C [c]``."""
    return prose_list([named(entities, i) for i in ids])


def prose_list(items: Iterable[str], conj: str = "and") -> str:
    """``a, b and c``; ``none`` for no items (never a Python list repr)."""
    xs = [str(x) for x in items]
    if not xs:
        return "none"
    if len(xs) == 1:
        return xs[0]
    return f"{', '.join(xs[:-1])} {conj} {xs[-1]}"


def _trim(x: float, digits: int) -> str:
    s = f"{x:,.{digits}f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def pct(x: float) -> str:
    """A fraction as a percentage with at most two decimals: ``0.255`` → ``25.5%``."""
    return f"{_trim(x * 100, 2)}%"


def pct_range(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> str:
    """A share range as an analyst reads it; one figure when the bounds read the same (as
    :func:`usd_range`: a range narrower than the figures' last digit reads as that figure).

    >>> pct_range(0.2, 0.25), pct_range(0.8172, 0.8172 + 1e-13), pct_range(0.78331, 0.78334)
    ('20–25%', '81.72%', '78.33%')
    """
    if not (lo_open or hi_open) and (abs(hi - lo) < 1e-12 or pct(lo) == pct(hi)):
        return pct(lo)
    if lo_open or hi_open:
        left = f"more than {pct(lo)}" if lo_open else f"at least {pct(lo)}"
        right = f"less than {pct(hi)}" if hi_open else f"up to {pct(hi)}"
        return f"{left}, {right}"
    return f"{_trim(lo * 100, 2)}–{pct(hi)}"


def usd(x: float) -> str:
    """US dollars in millions (or billions from $10bn): ``$700M``, ``$1,800M``."""
    if abs(x) >= 1e10:
        return f"${_trim(x / 1e9, 1)}bn"
    return f"${_trim(x / 1e6, 0 if abs(x) >= 1e7 else 1)}M"


def usd_range(lo: float, hi: float) -> str:
    """A dollar range; one figure when the bounds round to the same amount."""
    a, b = usd(lo), usd(hi)
    if a == b:
        return a
    unit = a[-1] if a[-1] == b[-1] else ""
    return f"{a[:-1] if unit else a}–{b[1:]}"
