"""The one clock of georisk: "today" is the current date in UTC.

Every default date (a score with no ``as_of``, the graph that SERVING warms, a batch row without
a date, the CLI's ``--as-of``) asks :func:`today`; nothing else reads the system clock for a date.
The proto says dates are UTC calendar dates, so the clock is UTC, never the machine's local zone.

Tests and what-if runs fix the clock with :func:`frozen`:

>>> import datetime as dt
>>> with frozen(dt.date(2024, 6, 1)):
...     today()
datetime.date(2024, 6, 1)
>>> today() == dt.datetime.now(dt.UTC).date()
True
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator

__all__ = ["frozen", "set_clock", "today"]


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


_clock: Callable[[], dt.date] = _utc_today


def today() -> dt.date:
    """The current date in UTC (or the date a test fixed with :func:`frozen`)."""
    return _clock()


def set_clock(clock: Callable[[], dt.date] | None) -> None:
    """Replace the clock process-wide (``None`` restores the UTC system clock)."""
    global _clock
    _clock = clock or _utc_today


@contextlib.contextmanager
def frozen(day: dt.date) -> Iterator[None]:
    """Within the block, :func:`today` answers ``day``."""
    before = _clock
    set_clock(lambda: day)
    try:
        yield
    finally:
        set_clock(before)
