"""The serving state: the engine in force, a result cache per dataset version, and reload.

Reload builds and validates a complete new :class:`.engine.Engine` off the event loop;
only a good one replaces the old (one reference swap, so calls in flight finish on the engine
they started with). A bad dataset is refused with a log line naming every problem, and the old
one keeps serving.

A cache hit is answered on the event loop (no thread hop). A cached response message may keep
its wire bytes (``encode``), so that a hit is sent without being encoded again
(:meth:`ServingState.serialized`, used by the response serializer).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from georisk.scoring import clock, gcpolicy
from georisk.scoring.dataset import DatasetError
from georisk.scoring.engine import Engine

if TYPE_CHECKING:
    from georisk.store import Store

__all__ = [
    "FOLLOW_AT_MOST",
    "ReloadResult",
    "ServingState",
    "load_warm",
    "load_warm_engine",
    "warm",
]

log = logging.getLogger("georisk.server")
T = TypeVar("T")
_MISS = object()
#: threads for store reads (:meth:`ServingState.run_store_read`)
STORE_READERS = 2
#: engines on past store versions kept for ``known_at`` requests
PAST_ENGINES = 4
#: at most this many changes are applied by following at once (more: a full snapshot)
FOLLOW_AT_MOST = 1000
#: a full snapshot after this many followed changes (the edits over the loaded dataset grow)
REBASE_AFTER = 5000


def warm(engine: Engine) -> Engine:
    """Build today's graph and its share matrices, so that SERVING means the first score call
    does not pay for them (seconds on a 1M-entity dataset: bench/README.md)."""
    g = engine.graph(clock.today())
    _ = g.equity, g.control
    return engine


def load_warm(data_dir: Path, pack: str) -> Engine:
    """Load and validate the dataset, then :func:`warm` it (runs off the event loop).

    The loaded objects are then moved out of the cyclic garbage collector's sight
    (``gc.freeze``): they live as long as the engine, and a full collection would otherwise walk
    millions of them while calls wait. After a reload the previous dataset is still freed by
    reference counting (its records hold no reference cycles)."""
    return load_warm_engine(Engine.from_dir(data_dir, pack))


def load_warm_engine(engine: Engine) -> Engine:
    """:func:`warm` a loaded engine and freeze its objects out of the collector's sight (see
    :func:`load_warm`)."""
    engine = warm(engine)
    gc.freeze()  # no collect first: it costs ~4 s on a 1M dataset, and loading leaves no cycles
    gcpolicy.tune()  # the young generation collected every 50,000 allocations, not 700
    return engine


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    version: str
    message: str


@dataclass
class ServingState:
    engine: Engine
    data_dir: Path
    pack: str
    workers: int = 2
    cache_size: int = 4096
    _cache: OrderedDict[Hashable, object] = field(default_factory=OrderedDict, repr=False)
    # id(cached value) → (that value, its wire bytes); holding the value keeps its id unique
    _wire: dict[int, tuple[object, bytes]] = field(default_factory=dict, repr=False)
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _store_pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _store_read_pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    #: the durable store served from (None: the directory ``data_dir``), and the store version
    #: (change seq) of the dataset in ``engine``
    store: Store | None = field(default=None, repr=False)
    store_version: int = 0
    #: engines on past store versions (``known_at``), most recently used last
    _past: OrderedDict[int, Engine] = field(default_factory=OrderedDict, repr=False)
    #: changes applied by following since the last full snapshot
    _followed: int = 0

    @property
    def version(self) -> str:
        return self.engine.dataset.version

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="georisk-score")
        return self._pool

    async def run(self, fn: Callable[[], T]) -> T:
        """Run CPU-bound domain work off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn)

    async def run_store(self, fn: Callable[[], T]) -> T:
        """Run a store call (a write, a read of the log, a refresh) off the event loop, on its
        own thread: it must not queue behind the scores waiting for the scoring pool (under a
        read load a write would wait seconds), and writes are serialized by the store anyway."""
        if self._store_pool is None:
            self._store_pool = ThreadPoolExecutor(1, thread_name_prefix="georisk-store")
        return await asyncio.get_running_loop().run_in_executor(self._store_pool, fn)

    async def run_store_read(self, fn: Callable[[], T]) -> T:
        """Run a store read that changes nothing the server serves (GetRecord, ListChanges, a
        past snapshot) on a small pool of its own: reads must not queue behind the writes and
        refreshes of :meth:`run_store` (a 10-minute PostgreSQL soak with both on one thread
        gave GetRecord a p50 of ~1 s), and the database serves them concurrently."""
        if self._store_read_pool is None:
            self._store_read_pool = ThreadPoolExecutor(
                STORE_READERS, thread_name_prefix="georisk-store-read"
            )
        return await asyncio.get_running_loop().run_in_executor(self._store_read_pool, fn)

    async def cached(
        self, key: Hashable, fn: Callable[[], T], encode: Callable[[T], bytes] | None = None
    ) -> T:
        """``fn()`` (off the loop), memoized under ``key`` (which must include the version).

        With ``encode``, the value's wire bytes are computed with it (off the loop, once) and
        kept while the value is cached: see :meth:`serialized`.
        """
        cache = self._cache
        if self.cache_size:
            hit = cache.get(key, _MISS)
            if hit is not _MISS:
                cache.move_to_end(key)
                return hit  # type: ignore[return-value]
        if not self.cache_size:
            return await self.run(fn)
        if encode is None:
            value, data = await self.run(fn), None
        else:
            enc = encode

            def both() -> tuple[T, bytes]:
                v = fn()
                return v, enc(v)

            value, data = await self.run(both)
        self._forget(cache.get(key))  # a concurrent miss of the same key stored one already
        cache[key] = value
        if data is not None:
            self._wire[id(value)] = (value, data)
        while len(cache) > self.cache_size:
            self._forget(cache.popitem(last=False)[1])
        return value

    def _forget(self, value: object) -> None:
        if value is not None:
            self._wire.pop(id(value), None)

    def serialized(self, message: object) -> bytes | None:
        """The wire bytes kept with ``message`` if it is a cached value stored with them."""
        entry = self._wire.get(id(message))
        return entry[1] if entry is not None and entry[0] is message else None

    async def engine_known_at(
        self, seq: int | None = None, at: dt.datetime | None = None
    ) -> tuple[Engine, int]:
        """The engine on the data as the store knew it at store version ``seq`` or instant
        ``at`` (neither: the engine served now), and that store version. Past engines are
        rebuilt from the store's snapshot and a few are kept (bounded)."""
        store = self.store
        if store is None:
            raise LookupError("not serving a store")
        if seq is None and at is not None:
            seq = await self.run_store_read(lambda: store.seq_at(at))
        engine, now = self.engine, self.store_version
        if seq is None or seq == now:
            return engine, now
        if seq < 1 or seq > now:
            raise ValueError(f"store version {seq} is not between 1 and {now}")
        past = self._past.get(seq)
        if past is None:
            ds, _ = await self.run_store_read(lambda: store.snapshot(as_known_at=seq))
            past = engine.with_dataset(ds)
            self._past[seq] = past
            while len(self._past) > PAST_ENGINES:
                self._past.popitem(last=False)
        self._past.move_to_end(seq)
        return past, seq

    async def refresh(self) -> ReloadResult:
        """Serve the store's newest version if it is newer than the one served: a snapshot
        validated by the loader, warmed, then swapped in as :meth:`reload` does. Called after a
        write of this server and by the poll loop for writes of other replicas."""
        store = self.store
        if store is None:
            return ReloadResult(False, self.version, "not serving a store")
        async with self._reload_lock:
            since = self.store_version
            try:
                if await self.run_store(store.version) == since:
                    return ReloadResult(True, self.version, f"serving {self.version}")
                new, seq, how = await self.run_store(lambda: self._newer(store, since))
            except Exception as exc:  # a store that cannot be read keeps the old data serving
                log.exception("store refresh failed: %s; still serving %s", exc, self.version)
                return ReloadResult(False, self.version, f"{type(exc).__name__}: {exc}")
            if seq <= self.store_version:  # a concurrent refresh got here first
                return ReloadResult(True, self.version, f"serving {self.version}")
            old = self.version
            self.engine, self.store_version = new, seq
            self._cache.clear()
            self._wire.clear()
            log.info("store version %d (%s): dataset %s (was %s)", seq, how, self.version, old)
            return ReloadResult(True, self.version, f"serving {self.version}")

    def _newer(self, store: Store, since: int) -> tuple[Engine, int, str]:
        """The engine on the store's newest version (off the loop): the changes since
        ``since`` applied to the served dataset (:func:`georisk.store.follow.follow`: the cost
        follows the change; the graph cache is shared, so graphs are derived from the served
        ones), or a full snapshot when there are many or they do not apply."""
        from georisk.store.follow import follow

        old = self.engine
        page, more = store.changes(after_seq=since, page_size=FOLLOW_AT_MOST)
        if page and more is None and self._followed + len(page) <= REBASE_AFTER:
            try:
                ds = follow(old.dataset, page)
            except DatasetError as exc:  # cannot happen for a consistent store: say so, rebase
                log.warning(
                    "store changes %d..%d did not apply (%s); full snapshot",
                    since + 1,
                    page[-1].seq,
                    exc,
                )
            else:
                self._followed += len(page)
                store.adopt(page[-1].seq, ds)  # the store checks the next write against it
                new = old.with_dataset(ds, share_graphs=True)
                # the graphs of the versions no longer served (and their what-ifs) go: the
                # loaded dataset's stay, the new version's are derived from them
                new.graphs.drop_overlays(keep=ds.overlay_digest)
                return new, page[-1].seq, "followed"
        ds, seq = store.snapshot()
        self._followed = 0
        store.adopt(seq, ds)
        return warm(old.with_dataset(ds)), seq, "snapshot"

    async def reload(self, data_dir: Path | None = None) -> ReloadResult:
        if self.store is not None:
            return await self.refresh()
        async with self._reload_lock:
            target = data_dir or self.data_dir
            try:
                new = await self.run(lambda: load_warm(target, self.pack))
            except DatasetError as exc:
                log.error("reload refused: %s; still serving %s", exc, self.version)
                return ReloadResult(False, self.version, str(exc))
            except Exception as exc:
                log.exception("reload refused: %s; still serving %s", exc, self.version)
                return ReloadResult(False, self.version, f"{type(exc).__name__}: {exc}")
            old = self.version
            self.engine, self.data_dir = new, target
            self._cache.clear()
            self._wire.clear()
            log.info("reloaded dataset %s (was %s)", self.version, old)
            return ReloadResult(True, self.version, f"serving {self.version}")

    def close(self) -> None:
        for pool in (self._pool, self._store_pool, self._store_read_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
