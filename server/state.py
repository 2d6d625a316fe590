"""The serving state: the engine in force, a result cache per dataset version, and reload.

Reload builds and validates a complete new :class:`~scoring.engine.Engine` off the event loop;
only a good one replaces the old (one reference swap, so calls in flight finish on the engine
they started with). A bad dataset is refused with a log line naming every problem, and the old
one keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from scoring.dataset import DatasetError
from scoring.engine import Engine

__all__ = ["ReloadResult", "ServingState"]

log = logging.getLogger("georisk.server")
T = TypeVar("T")


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
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

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

    async def cached(self, key: Hashable, fn: Callable[[], T]) -> T:
        """``fn()`` (off the loop), memoized under ``key`` (which must include the version)."""
        if self.cache_size and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]  # type: ignore[return-value]
        value = await self.run(fn)
        if self.cache_size:
            self._cache[key] = value
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return value

    async def reload(self, data_dir: Path | None = None) -> ReloadResult:
        async with self._reload_lock:
            target = data_dir or self.data_dir
            try:
                new = await self.run(lambda: Engine.from_dir(target, pack=self.pack))
            except DatasetError as exc:
                log.error("reload refused: %s; still serving %s", exc, self.version)
                return ReloadResult(False, self.version, str(exc))
            except Exception as exc:
                log.exception("reload refused: %s; still serving %s", exc, self.version)
                return ReloadResult(False, self.version, f"{type(exc).__name__}: {exc}")
            old = self.version
            self.engine, self.data_dir = new, target
            self._cache.clear()
            log.info("reloaded dataset %s (was %s)", self.version, old)
            return ReloadResult(True, self.version, f"serving {self.version}")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
