"""Progress of ``georisk batch`` on stderr (``--progress auto|bar|plain|none``)."""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any

__all__ = ["Progress", "hms"]


class Progress:
    """Progress on stderr: a tqdm bar (``bar``), a line every ~5 s (``plain``) or nothing.

    ``auto`` is a bar on a terminal, else plain lines; without tqdm a bar falls back to lines.
    """

    def __init__(self, total: int, initial: int, mode: str) -> None:
        self.total, self.done, self.t0 = total, initial, time.monotonic()
        self.start, self.last = initial, 0.0
        self.bar: Any = None
        tty = sys.stderr.isatty()
        self.mode = "bar" if mode == "bar" or (mode == "auto" and tty) else mode
        if self.mode == "auto":
            self.mode = "plain"
        if self.mode == "bar":
            try:
                tqdm: Any = importlib.import_module("tqdm")
                self.bar = tqdm.tqdm(
                    total=total or None,
                    initial=initial,
                    unit="row",
                    file=sys.stderr,
                    dynamic_ncols=True,
                    smoothing=0.1,
                )
            except ImportError:
                self.mode = "plain"

    def update(self, n: int, errors: int, final: bool = False) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(errors=errors, refresh=False)
            return
        now = time.monotonic()
        if self.mode != "plain" or (now - self.last < 5.0 and not final):
            return
        self.last = now
        rate = (self.done - self.start) / max(now - self.t0, 1e-9)
        left = max(self.total - self.done, 0)
        eta = f", ETA {hms(left / rate)}" if rate > 0 and self.total else ""
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        print(
            f"progress: {self.done:,}/{self.total:,} rows{pct}, {rate:,.1f} rows/s{eta}, "
            f"{errors} errors",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def hms(s: float) -> str:
    """Seconds as ``1h05m`` or ``4m07s`` (for the ETA).

    >>> hms(247), hms(3900)
    ('4m07s', '1h05m')
    """
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
