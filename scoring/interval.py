"""Closed/open intervals of shares and three-valued threshold tests.

Ranged shares (BODS 0.4 ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``)
propagate as intervals: products and sums of non-negative intervals are intervals, and a
threshold test on an interval is TRUE (every value passes), FALSE (none does) or UNDETERMINED.

Openness is tracked conservatively: a bound computed from an open bound is open.

>>> a = Interval(0.26, 0.30)          # VW's stake in Gotion High-Tech, "26.47% … about 30%"
>>> (a * Interval.exact(0.5)).hi
0.15
>>> Interval(0.24, 0.24).meets(0.25, inclusive=True)
<Tri.FALSE: 'false'>
>>> Interval(0.20, 0.30).meets(0.25, inclusive=True)
<Tri.UNDETERMINED: 'undetermined'>
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["EPS", "Interval", "Tri"]

#: Tolerance for comparing floating-point shares with thresholds (24% + 16% must equal 40%).
EPS = 1e-9


class Tri(StrEnum):
    """Three-valued truth for tests on uncertain shares."""

    TRUE = "true"
    FALSE = "false"
    UNDETERMINED = "undetermined"

    @staticmethod
    def any_of(values: list[Tri]) -> Tri:
        if Tri.TRUE in values:
            return Tri.TRUE
        if Tri.UNDETERMINED in values:
            return Tri.UNDETERMINED
        return Tri.FALSE


@dataclass(frozen=True, slots=True)
class Interval:
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def __post_init__(self) -> None:
        if self.hi < self.lo - EPS:
            raise ValueError(f"interval upper bound {self.hi} is below lower bound {self.lo}")

    @staticmethod
    def exact(value: float) -> Interval:
        return Interval(value, value)

    @staticmethod
    def zero() -> Interval:
        return Interval(0.0, 0.0)

    @staticmethod
    def unknown() -> Interval:
        return Interval(0.0, 1.0)

    @property
    def is_exact(self) -> bool:
        return abs(self.hi - self.lo) <= EPS and not (self.lo_open or self.hi_open)

    @property
    def width(self) -> float:
        return self.hi - self.lo

    def __mul__(self, other: Interval) -> Interval:
        # shares are non-negative, so the product's bounds are the products of the bounds
        return Interval(
            self.lo * other.lo,
            self.hi * other.hi,
            self.lo_open or other.lo_open,
            self.hi_open or other.hi_open,
        )

    def __add__(self, other: Interval) -> Interval:
        return Interval(
            self.lo + other.lo,
            self.hi + other.hi,
            self.lo_open or other.lo_open,
            self.hi_open or other.hi_open,
        )

    def clamp(self, lo: float = 0.0, hi: float = 1.0) -> Interval:
        return Interval(
            min(max(self.lo, lo), hi),
            min(max(self.hi, lo), hi),
            self.lo_open and self.lo > lo,
            self.hi_open and self.hi < hi,
        )

    def meets(self, threshold: float, *, inclusive: bool) -> Tri:
        """Is the share ``>= threshold`` (inclusive) or ``> threshold`` (strict)?

        >>> half = Interval.exact(0.5)
        >>> half.meets(0.5, inclusive=True), half.meets(0.5, inclusive=False)
        (<Tri.TRUE: 'true'>, <Tri.FALSE: 'false'>)
        """
        return (
            Tri.TRUE
            if self._all_meet(threshold, inclusive)
            else (Tri.FALSE if not self._some_meet(threshold, inclusive) else Tri.UNDETERMINED)
        )

    def _all_meet(self, t: float, inclusive: bool) -> bool:
        if self.lo > t + EPS:
            return True
        if abs(self.lo - t) <= EPS:
            return inclusive or self.lo_open
        return False

    def _some_meet(self, t: float, inclusive: bool) -> bool:
        if self.hi > t + EPS:
            return True
        if abs(self.hi - t) <= EPS:
            return inclusive and not self.hi_open
        return False

    def to_json(self) -> dict[str, float | bool]:
        out: dict[str, float | bool] = {"min": round(self.lo, 12), "max": round(self.hi, 12)}
        if self.lo_open:
            out["exclusive_min"] = True
        if self.hi_open:
            out["exclusive_max"] = True
        return out

    def __str__(self) -> str:
        if self.is_exact:
            return f"{self.lo:.2%}"
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"{left}{self.lo:.2%}, {self.hi:.2%}{right}"
