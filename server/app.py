"""The georisk gRPC server: app factory, TLS and auth, health, reflection, reload and drain.

>>> import asyncio
>>> async def demo() -> str:
...     app = await create_app(Settings.from_env({}, address="127.0.0.1:0"))
...     await app.start()
...     try:
...         return "bound" if app.port > 0 else "not bound"
...     finally:
...         await app.stop(0)
>>> asyncio.run(demo())
'bound'
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from georisk.scoring.dataset import Dataset, DatasetError
from georisk.scoring.engine import Engine
from georisk.server.interceptors import Metrics, Observer
from georisk.server.records import RecordServicer
from georisk.server.reflection import enable_reflection
from georisk.server.render import RenderServicer
from georisk.server.service import GraphServicer, ScoringServicer
from georisk.server.settings import Settings, SettingsError
from georisk.server.state import (
    FOLLOW_AT_MOST,
    ReloadResult,
    ServingState,
    load_warm,
    load_warm_engine,
)
from georisk.v1 import (
    graph_pb2,
    graph_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
    render_pb2,
    render_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
)

if TYPE_CHECKING:
    from georisk.store import Store

__all__ = ["GeoriskApp", "create_app", "create_server", "serve"]

log = logging.getLogger("georisk.server")

#: the format of ``georisk serve``'s log lines (``logging.basicConfig`` in the command line)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

SERVICE_NAMES = (
    scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name,
    graph_pb2.DESCRIPTOR.services_by_name["GraphService"].full_name,
    records_pb2.DESCRIPTOR.services_by_name["RecordService"].full_name,
    render_pb2.DESCRIPTOR.services_by_name["RenderService"].full_name,
)


@dataclass
class GeoriskApp:
    settings: Settings
    state: ServingState
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    metrics: Metrics
    port: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.server.start()
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        if self.state.store is not None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_store())
        log.info(
            "serving %s on port %d (dataset %s, pack %s)",
            self.settings.address,
            self.port,
            self.state.version,
            self.state.engine.pack.version_label,
        )

    async def _set_health(self, status: int) -> None:
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, status)

    async def reload(self) -> ReloadResult:
        return await self.state.reload()

    async def _poll_store(self) -> None:
        """Serve what other replicas write: wait for a write's notification (PostgreSQL
        LISTEN/NOTIFY, :meth:`georisk.store.Store.wait_for_change`) or ``store_poll_seconds``,
        then refresh when the store's version moved (a failed look keeps the data served and
        is retried: a database restart is survived)."""
        store = self.state.store
        assert store is not None
        wait = self.settings.store_poll_seconds
        while True:
            await asyncio.to_thread(store.wait_for_change, wait)
            try:
                await self.state.refresh()
            except Exception:  # refresh logs and keeps serving; never let the loop die
                log.exception("store poll failed; still serving %s", self.state.version)

    async def stop(self, grace: float | None = None) -> None:
        """Health NOT_SERVING, refuse new calls, let calls in flight finish within ``grace``."""
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        if self._poller is not None:
            self._poller.cancel()
        g = self.settings.grace_seconds if grace is None else grace
        await self.server.stop(g)  # then counts and logs the last calls (Observer.instrument)
        self.state.close()
        if self.state.store is not None:
            self.state.store.close()
        self._stopping.set()

    async def wait(self) -> None:
        await self._stopping.wait()


def _credentials(s: Settings) -> grpc.ServerCredentials | None:
    if not s.tls:
        return None
    assert s.tls_cert is not None and s.tls_key is not None
    try:
        cert, key = s.tls_cert.read_bytes(), s.tls_key.read_bytes()
        ca = s.tls_client_ca.read_bytes() if s.tls_client_ca else None
    except OSError as exc:
        raise SettingsError(f"cannot read TLS files: {exc}") from None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )


def _open_store(settings: Settings, engine: Engine | None) -> tuple[Store, Engine, int]:
    """Open the store of ``settings.store_url`` and build the engine on its newest snapshot
    (packs from the dataset directory's ``policies/``). An empty SQLite store is first seeded
    from ``settings.data_dir`` (the quick start); an empty PostgreSQL store is refused (seed it
    once with ``georisk store init``, not from every replica)."""
    from georisk.store import StoreError, migrate, open_store

    url = settings.store_url
    assert url is not None
    try:
        if url.startswith("sqlite"):
            migrate(url)  # the embedded store creates and upgrades itself
        store = open_store(url)
        if store.version() == 0:
            if not url.startswith("sqlite"):
                store.close()
                raise SettingsError(
                    "GEORISK_STORE: the store is empty; seed it once with "
                    "`georisk store init URL --from DIR`"
                )
            store.init_from(
                settings.data_dir, actor="georisk serve", reason="seeded on first start"
            )
            log.info("seeded the empty store from %s", settings.data_dir)
        base = engine or Engine.from_dir(settings.data_dir, settings.pack)
        ds, seq, how = _store_dataset(store, base.dataset)
        store.adopt(seq, ds)  # writes are checked against the served dataset, incrementally
    except StoreError as exc:
        raise SettingsError(f"GEORISK_STORE: {exc}") from None
    log.info("serving store version %d (%s): dataset %s", seq, how, ds.version)
    return store, load_warm_engine(base.with_dataset(ds)), seq


def _store_dataset(store: Store, local: Dataset) -> tuple[Dataset, int, str]:
    """The dataset to serve from ``store`` and its store version. When the store was seeded
    from the directory the server loaded (``local``: its version is a store version's,
    :meth:`~georisk.store.Store.seq_of_version`), that dataset — validated by the loader, or
    opened from its columnar snapshot — with the changes since followed in memory
    (:func:`georisk.store.follow.follow`, at most FOLLOW_AT_MOST of them); else the store's
    snapshot, every record parsed and checked (~45 µs a record: minutes at 1M entities)."""
    from georisk.store.follow import follow

    since = store.seq_of_version(local.version)
    if since is not None:
        page, more = store.changes(after_seq=since, page_size=FOLLOW_AT_MOST)
        if more is None:
            try:
                followed = follow(local, page)
            except DatasetError as exc:  # cannot happen for a consistent store: say so
                log.warning("the changes after store version %d did not apply: %s", since, exc)
            else:
                seq = page[-1].seq if page else since
                return followed, seq, f"the directory's version {since}, {len(page)} followed"
    ds, seq = store.snapshot()
    return ds, seq, "snapshot"


async def create_app(settings: Settings, engine: Engine | None = None) -> GeoriskApp:
    """Build (not start) the server: load and validate the dataset, bind the address."""
    if not settings.tls and not settings.loopback:
        if not settings.allow_insecure_remote:
            raise SettingsError(
                f"refusing to serve plaintext on non-loopback address {settings.address}: set "
                "GEORISK_TLS_CERT/GEORISK_TLS_KEY, or GEORISK_ALLOW_INSECURE_REMOTE=true behind a "
                "TLS-terminating proxy or mesh"
            )
        log.warning(
            "!!! SERVING PLAINTEXT gRPC ON NON-LOOPBACK ADDRESS %s: no TLS, traffic and "
            "bearer tokens are readable on the network !!!",
            settings.address,
        )
    store, seq = None, 0
    if settings.store_url is not None:
        store, engine, seq = await asyncio.to_thread(_open_store, settings, engine)
    eng = (
        engine
        if engine is not None
        else await asyncio.to_thread(load_warm, settings.data_dir, settings.pack)
    )
    state = ServingState(
        eng,
        settings.data_dir,
        settings.pack,
        workers=settings.workers,
        cache_size=settings.cache_size,
        store=store,
        store_version=seq,
    )
    metrics = Metrics()
    observer = Observer(
        metrics,
        serialized=state.serialized,
        max_response_bytes=settings.max_response_bytes,
        tokens=settings.auth_tokens,
        flush_seconds=settings.log_flush_seconds,
    )
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_response_bytes),
            ("grpc.so_reuseport", 1 if settings.reuseport else 0),
        ],
    )
    observer.instrument(server)  # every handler registered below is observed (and authorized)
    scoring_pb2_grpc.add_ScoringServiceServicer_to_server(ScoringServicer(state, settings), server)
    graph_pb2_grpc.add_GraphServiceServicer_to_server(GraphServicer(state, settings), server)
    records_pb2_grpc.add_RecordServiceServicer_to_server(RecordServicer(state, settings), server)
    render_pb2_grpc.add_RenderServiceServicer_to_server(RenderServicer(state, settings), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if settings.reflection:
        enable_reflection(
            (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name), server
        )
    creds = _credentials(settings)
    port = (
        server.add_secure_port(settings.address, creds)
        if creds
        else server.add_insecure_port(settings.address)
    )
    if port == 0:
        raise SettingsError(f"cannot bind {settings.address}")
    app = GeoriskApp(settings, state, server, health_servicer, metrics, port)
    await app._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
    return app


async def create_server(
    address: str, settings: Settings | None = None
) -> tuple[grpc.aio.Server, int]:
    """grpc examples style: a started server and its bound port (``address`` may use port 0)."""
    s = settings or Settings.from_env(address=address)
    if s.address != address:
        s = Settings(**{**s.__dict__, "address": address})
    app = await create_app(s)
    await app.start()
    return app.server, app.port


class BatchedLines(logging.Handler):
    """Writes the lines of a stream handler (``target``) in batches instead of one write and
    flush per line: a line logged on the event loop's thread is kept and written with the
    others at most ``interval`` seconds later; a WARNING or worse, a line logged on another
    thread, or 256 lines waiting write everything at once (in order). ``close`` writes what is
    left. Formatting, level and filters stay the target's.

    A write to stderr is a system call, and the call's log line was the largest part of the
    server's own CPU per call (bench/h2load_bench.py): batched, it is a small one.

    >>> import io
    >>> out = io.StringIO()
    >>> h = BatchedLines(logging.StreamHandler(out), interval=60)
    >>> rec = logging.LogRecord("georisk.server", logging.INFO, "", 0, "a line", (), None)
    >>> h.handle(rec)  # not on an event loop: written at once
    True
    >>> print(out.getvalue(), end="")
    a line
    """

    def __init__(self, target: logging.StreamHandler[Any], interval: float) -> None:
        super().__init__(target.level)
        self.target, self.interval = target, interval
        self.filters = list(target.filters)
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1  # the whole second ``_stamp`` was made for
        self._stamp = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.target.format(record) + self.target.terminator)
        except Exception:
            self.handleError(record)
            return
        self._written(record.levelno)

    def _written(self, level: int) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or level >= logging.WARNING or len(self._lines) >= 256:
            self.flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.interval, self._due)

    def info_line(self, created: float, name: str, msg: str) -> bool:
        """Keep the INFO line of logger ``name`` with message ``msg``, made at ``created``
        (``time.time()``), as the target's formatter would write it, without a record: only
        when that formatter is the command line's (``LOG_FORMAT``, default dates), and
        the handler has no filters and lets INFO through; False otherwise (the caller then
        makes a record). The per-call log line of the server (``interceptors._Lines``) takes
        this path: the same bytes at a fraction of the work (no record, no formatter).

        >>> import io
        >>> out = io.StringIO()
        >>> target = logging.StreamHandler(out)
        >>> target.setFormatter(logging.Formatter(LOG_FORMAT))
        >>> h = BatchedLines(target, interval=60)
        >>> rec = logging.LogRecord("georisk.server", logging.INFO, "", 0, "a line", (), None)
        >>> h.handle(rec)  # not on an event loop: written at once
        True
        >>> h.info_line(rec.created, "georisk.server", "a line")
        True
        >>> first, second = out.getvalue().splitlines()
        >>> first == second and first.endswith(" INFO georisk.server a line")
        True
        """
        fmt = self.target.formatter
        if not (
            type(fmt) is logging.Formatter
            and fmt._fmt == LOG_FORMAT
            and type(fmt._style) is logging.PercentStyle
            and fmt.datefmt is None
            and fmt.default_time_format == "%Y-%m-%d %H:%M:%S"
            and fmt.default_msec_format == "%s,%03d"
            and logging.getLevelName(logging.INFO) == "INFO"
            and self.level <= logging.INFO
            and not self.filters
            and not self.target.filters
            and self.target.level <= logging.INFO
        ):
            return False
        second = int(created)
        if second != self._second:  # Formatter.formatTime, once a second
            self._stamp = time.strftime(fmt.default_time_format, fmt.converter(created))
            self._second = second
        line = f"{self._stamp},{int((created - second) * 1000):03d} INFO {name} {msg}"
        with self.lock:  # type: ignore[union-attr]  # made by Handler.__init__
            self._lines.append(line + self.target.terminator)
            self._written(logging.INFO)
        return True

    def _due(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # made by Handler.__init__
            self._timer = None
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        data = "".join(self._lines)
        self._lines.clear()
        try:
            self.target.stream.write(data)
            self.target.flush()
        except Exception:
            pass  # as logging does when a stream fails: never take the server down

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self.flush()
        super().close()


def _batch_log_writes(interval: float) -> list[tuple[logging.Handler, BatchedLines]]:
    """Put the root logger's stream handlers (the CLI's ``basicConfig``) behind
    :class:`BatchedLines`; returns what was replaced, for :func:`_unbatch_log_writes`."""
    root = logging.getLogger()
    swapped: list[tuple[logging.Handler, BatchedLines]] = []
    if interval <= 0:
        return swapped
    for h in list(root.handlers):
        if type(h) in (logging.StreamHandler, logging.FileHandler):
            b = BatchedLines(h, interval)  # type: ignore[arg-type]
            root.removeHandler(h)
            root.addHandler(b)
            swapped.append((h, b))
    return swapped


def _unbatch_log_writes(swapped: list[tuple[logging.Handler, BatchedLines]]) -> None:
    root = logging.getLogger()
    for h, b in swapped:
        root.removeHandler(b)
        b.close()
        root.addHandler(h)


async def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT (drain, exit 0); SIGHUP reloads the dataset."""
    app = await create_app(settings)
    if settings.metrics_address:
        from prometheus_client import start_http_server

        host, _, mport = settings.metrics_address.rpartition(":")
        start_http_server(int(mport), addr=host or "127.0.0.1", registry=app.metrics.registry)
        log.info("metrics on http://%s/metrics", settings.metrics_address)
    await app.start()
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[object]] = set()

    def spawn(coro: Any) -> None:
        task = loop.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def on_term(sig: signal.Signals) -> None:
        log.info("%s: draining (grace %.1fs)", sig.name, settings.grace_seconds)
        spawn(app.stop())

    def on_hup() -> None:
        log.info("SIGHUP: reloading %s", settings.data_dir)
        spawn(app.reload())

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_term, sig)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    print(f"georisk serving on {settings.address.rsplit(':', 1)[0]}:{app.port}", flush=True)
    swapped = _batch_log_writes(settings.log_flush_seconds)
    try:
        await app.wait()
    finally:
        _unbatch_log_writes(swapped)  # every line written before the process ends
    log.info("stopped")
    return 0
