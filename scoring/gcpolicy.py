"""The cyclic garbage collector's settings for a process that scores many arrangements.

Scoring one arrangement makes a few thousand short-lived container objects (rule outcomes,
clauses, path listings) and leaves a few in the engine's bounded caches. With CPython's
default thresholds (700, 10, 10) a collection of the youngest generation runs every 700
allocations, and the older generations are walked again and again as the caches fill: on the
1M-entity realistic graph (``bench/batch_bench.py``) that was about half of the CPU of a
batch worker (5.5 ms per arrangement, 2.9 ms with the collector off). Reference counting
frees nearly all of that garbage anyway; the collector is only needed for reference cycles,
and scoring makes few.

:func:`tune` keeps the collector on (cycles still get collected) but lets the youngest
generation grow to :data:`GEN0` objects before a collection, as long-running Python services
commonly do. The loaded dataset is frozen out of the collector's sight separately
(``gc.freeze``: :func:`georisk.server.state.load_warm_engine`, :func:`georisk.batch.engine_for`).

:func:`settle` is for a batch, between partitions of rows: what the engine's bounded caches
hold then (records, results of entities met so far) is frozen too, so that a full collection
walks only what later partitions add. Without it the third 500 rows of a 1M-entity batch cost
a quarter more CPU than the first (a full collection over ~700,000 cached objects). The
cached records hold no reference cycles, so reference counting still frees them when a cache
lets them go (a full collection between partitions found none to free).

>>> import gc
>>> old = gc.get_threshold()
>>> tune()
>>> gc.get_threshold()[0] == GEN0
True
>>> gc.set_threshold(*old)
"""

from __future__ import annotations

import gc

__all__ = ["GEN0", "GEN1", "GEN2", "settle", "tune"]

#: objects allocated (net) before the youngest generation is collected (CPython: 700)
GEN0 = 50_000
#: young collections before the middle generation's (CPython: 10)
GEN1 = 20
#: middle collections before a full one (CPython: 10; a full one also waits until the
#: objects that survived since the last grow the old generation by a quarter)
GEN2 = 10


def tune() -> None:
    """Set the collector's thresholds for scoring (idempotent; the collector stays on)."""
    gc.set_threshold(GEN0, GEN1, GEN2)


def settle() -> None:
    """Freeze what is alive now out of the collector's sight (``gc.freeze``): call it between
    partitions of a batch, when what is alive is the engine and its caches.

    No collection first: at 1M entities it walked the ~250,000 objects a partition of 500
    rows leaves in the caches (~0.2 s, 0.4 ms a row) and found no garbage in any of six
    partitions; the young generation's own collections still free any cycle a row makes."""
    gc.freeze()
