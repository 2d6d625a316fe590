"""Server call handling: auth, one structured log line per call, metrics, and error mapping.

:class:`Observer` wraps every method handler of the server when it is registered (no
``grpc.aio`` interceptor chain runs per call): request id, auth, the log line, metrics, error
mapping and the response size limit. The error mapping turns a :class:`.errors.ServiceError`
raised anywhere in a handler into a rich ``google.rpc.Status`` (``grpc-status-details-bin``
trailer) with its code; an unexpected exception becomes INTERNAL with the request id, and its
traceback is logged, never sent.

Each call is logged once, when it has ended, with the code it ended with: OK, the handler's
error, DEADLINE_EXCEEDED or CANCELLED (also when the call ended before its request arrived).

This runs on every call, so it is built for it (bench/h2load_bench.py measures it against a bare
``grpc.aio`` server): handlers are wrapped once per method, and the per-call facts (request id,
peer, deadline) live in a context variable of the call's task; ended calls are counted and
logged in batches (:meth:`Observer.flush`, every ``flush_seconds``), not one by one; metrics
are plain integer adds into per-(method, code) cells, turned into Prometheus families only when
scraped; the JSON log line is assembled from pre-escaped parts (the same bytes as
``json.dumps`` of the record) and its ``LogRecord`` is copied from a template
(:class:`_Lines`); a response is encoded once (cached responses not at all).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
import threading
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable, Iterable
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from georisk.server.errors import (
    DeadlineExceeded,
    InvalidArgument,
    ResourceExhausted,
    to_service_error,
)

__all__ = ["PUBLIC_METHODS", "Metrics", "Observer"]

log = logging.getLogger("georisk.server")

#: callable without a token: probes must reach health; nothing else is public
PUBLIC_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})

if TYPE_CHECKING:
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]


#: latency histogram bounds, seconds (Prometheus ``le``)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LE = (*(repr(float(b)) for b in LATENCY_BUCKETS), "+Inf")  # as prometheus_client writes them


class Metrics:
    """Prometheus metrics: calls and errors by method and code, latency histogram by method.

    Exposed as ``georisk_grpc_calls_total``, ``georisk_grpc_errors_total`` (method, code) and
    ``georisk_grpc_latency_seconds`` (method) through :attr:`registry`. A call is counted with
    plain integer adds into per-(method, code) cells (no lock: :meth:`observe` runs on the
    server's event loop thread only); the families are built when the registry is scraped.

    >>> m = Metrics()
    >>> m.observe("/a.B/C", grpc.StatusCode.NOT_FOUND, 0.003)
    >>> got = {(s.name, s.labels.get("le")): s.value for f in m.registry.collect()
    ...        for s in f.samples if s.labels.get("le") in (None, "0.0025", "0.005")}
    >>> bucket = "georisk_grpc_latency_seconds_bucket"
    >>> got[("georisk_grpc_errors_total", None)], got[(bucket, "0.0025")], got[(bucket, "0.005")]
    (1.0, 0.0, 1.0)
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        # (method, code) → [calls]; method → [count per bucket (+Inf last)..., sum of seconds]
        self._calls: dict[tuple[str, grpc.StatusCode], list[int]] = {}
        self._latency: dict[str, list[float]] = {}
        self.registry.register(_MetricsCollector(self))

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        cell = self._calls.get((method, code))
        if cell is None:  # first call of this method with this code
            cell = self._calls[(method, code)] = [0]
        cell[0] += 1
        hist = self._latency.get(method)
        if hist is None:
            hist = self._latency[method] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        hist[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        hist[-1] += seconds

    def families(self) -> list[Metric]:
        """The three metric families as they stand (read from another thread: copies)."""
        calls = CounterMetricFamily(
            "georisk_grpc_calls", "gRPC calls handled", labels=["method", "code"]
        )
        errors = CounterMetricFamily(
            "georisk_grpc_errors", "gRPC calls ending in a non-OK status", labels=["method", "code"]
        )
        for (method, code), cell in list(self._calls.items()):
            calls.add_metric([method, code.name], float(cell[0]))
            if code is not grpc.StatusCode.OK:
                errors.add_metric([method, code.name], float(cell[0]))
        latency = HistogramMetricFamily(
            "georisk_grpc_latency_seconds", "gRPC call latency", labels=["method"]
        )
        for method, hist in list(self._latency.items()):
            counts, total = hist[:-1], hist[-1]
            cumulative, buckets = 0.0, []
            for le, n in zip(_LE, counts, strict=True):
                cumulative += n
                buckets.append((le, cumulative))
            latency.add_metric([method], buckets, total)
        return [calls, errors, latency]


class _MetricsCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics.families()


class _Undecodable:
    """Stands in for a request whose bytes the generated deserializer could not parse."""

    def __init__(self, error: str) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:
            return _Undecodable(f"{type(exc).__name__}: {str(exc)[:200]}")

    return parse


def _decoded(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise InvalidArgument([("request", f"undecodable message: {request.error}")])
    return request


async def _checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _decoded(request)


class _Call:
    """The facts of one call, from its first step to its end (see :class:`ObserveInterceptor`)."""

    __slots__ = (
        "code",
        "deadline",
        "elapsed",
        "ended_at",
        "method",
        "peer",
        "rid",
        "slack",
        "start",
        "wire",
    )

    def __init__(self, method: str, rid: str) -> None:
        self.method, self.rid, self.start = method, rid, time.perf_counter()
        self.peer = ""
        #: the final status code, once the handler knows it; None: cancelled or expired
        self.code: grpc.StatusCode | None = None
        self.deadline: float | None = None  # time.monotonic() of the deadline; None: none
        self.slack = 0.0  # how long before ``deadline`` an end still counts as expired
        self.wire: tuple[object, bytes] | None = None  # (response, its bytes) to send next
        self.elapsed = 0.0  # seconds from the call's first step to its end (once ended)
        self.ended_at = 0.0  # time.time() of its end (the log line's time)

    def expires(self, timeout: float) -> None:
        """Note the call's deadline, ``timeout`` seconds from now.

        The client's deadline runs ahead of the server's by the request's transit time: when
        it expires, the client cancels the call, which reaches the server before the server's
        own deadline. Both look alike here, so an end within ``slack`` of the deadline (10% of
        the timeout, 50 ms to 1 s) counts as DEADLINE_EXCEEDED, an earlier one as CANCELLED.
        """
        self.deadline = time.monotonic() + timeout
        self.slack = min(1.0, max(0.05, 0.1 * timeout))

    def ended(self) -> grpc.StatusCode:
        """The code the call ended with: the one its handler gave, or else the end's cause."""
        if self.code is not None:
            return self.code
        if self.deadline is not None and time.monotonic() >= self.deadline - self.slack:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED


#: a flush is made at once when this many calls wait for one (bounds the memory they hold)
_MAX_ENDED = 4096

#: the call being served by the current task (each call runs in its own asyncio task)
_CALL: ContextVar[_Call | None] = ContextVar("georisk_call", default=None)


_random_bits = random.getrandbits


def _request_id(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return f"{_random_bits(64):016x}"  # an id for the logs, not a secret: no syscall


#: the string encoder ``json.dumps`` uses (ensure_ascii): the log line is assembled from parts
_json_str: Callable[[str], str] = json.encoder.encode_basestring_ascii


class _Lines:
    """INFO records of one logger, made cheaply: ``emit(msg)`` is ``logger.info(msg)``.

    ``Logger.info`` spends more on making the record (caller lookup, thread and process names)
    than the handlers spend writing it. The calls' lines are all made on one thread (the
    server's event loop) with no arguments, so the record differs from the previous one only in
    its message and time: it is a copy of a record made once by ``Logger.makeRecord`` with
    those set, handed to ``Logger.handle`` (filters, handlers and propagation as usual). Another
    thread, or a custom record factory, takes the ordinary path. And when the records would
    reach one handler that can keep the line itself (:class:`~georisk.server.app.BatchedLines`
    with the command line's format, what ``georisk serve`` sets up), no record is made at all.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._proto: dict[str, Any] | None = None

    def _sole_handler(self) -> Any:
        """The one handler the logger's records reach, when no logger on the way filters
        them; None otherwise (a few attribute reads: logging may be configured at any time)."""
        found = None
        c: logging.Logger | None = self._logger
        while c is not None:
            if c.filters or c.disabled:
                return None
            for h in c.handlers:
                if found is not None:
                    return None
                found = h
            if not c.propagate:
                break
            c = c.parent
        return found

    def emit(self, msg: str, created: float) -> None:
        """``logger.info(msg)``, as if logged at ``created`` (``time.time()``: a call's end)."""
        # the server's own configuration (one batching handler, the command line's format):
        # the line itself, without a record (``BatchedLines.info_line``: the same bytes)
        sole = self._sole_handler()
        info_line = getattr(sole, "info_line", None)
        if info_line is not None and info_line(created, self._logger.name, msg):
            return
        proto = self._proto
        if (
            proto is None
            or proto["thread"] != threading.get_ident()
            or logging.getLogRecordFactory() is not logging.LogRecord
        ):
            logger = self._logger
            fn, lno, func, _ = logger.findCaller(stacklevel=2)  # as info() finds it
            rec = logger.makeRecord(logger.name, logging.INFO, fn, lno, msg, (), None, func)
            _set_time(rec.__dict__, created)
            logger.handle(rec)
            if logging.getLogRecordFactory() is logging.LogRecord:
                self._proto = dict(rec.__dict__)
            return
        record = logging.LogRecord.__new__(logging.LogRecord)
        d = record.__dict__
        d.update(proto)
        _set_time(d, created)
        d["msg"] = msg
        self._logger.handle(record)


def _set_time(d: dict[str, Any], created: float) -> None:
    """Give a record's ``__dict__`` the time ``created``, as ``LogRecord.__init__`` sets it
    (``msecs`` as it computes them)."""
    d["relativeCreated"] += (created - d["created"]) * 1000
    d["created"] = created
    d["msecs"] = int((created - int(created)) * 1000) + 0.0


class Observer:
    """Request id, one JSON log line per call with its final code, metrics, bearer-token auth
    and ServiceError → rich status, wrapped around every method handler of a server.

    :meth:`instrument` makes the server wrap each handler once, when it is registered (the
    generated ``add_*_to_server``, health, reflection): a call then runs the wrapped handler
    straight away, with no interceptor chain to await on each call. Methods nobody registered
    get a handler too (UNIMPLEMENTED, logged and counted like any call).

    Every call is served by its own asyncio task, in which the wrapped handler starts at once:
    it records the call and counts and logs it when it ends, whatever ended it: the handler's
    answer or error, its deadline (DEADLINE_EXCEEDED) or the client going away (CANCELLED),
    even before the request arrived. A unary call ends when its handler returns or raises (its
    answer encoded: the duration is the server's work, as a gRPC interceptor would time it),
    a streaming one when its task ends. So that the handler holds the call's context before
    any request bytes are read, handlers are served through the request-streaming API (one
    message read for a unary request: the same bytes on the wire).

    With ``flush_seconds`` > 0 (``georisk serve``: ``GEORISK_LOG_FLUSH_SECONDS``), ended calls
    are counted and logged together at most that long after the first of them ended (and at
    :meth:`flush`, which the server's stop calls): each line keeps its call's end time, and a
    metrics scrape may lag the calls by as much.

    With ``tokens``, every method but health (:data:`PUBLIC_METHODS`), reflection included,
    needs ``authorization: Bearer <token>``, compared in constant time; a call without one
    ends UNAUTHENTICATED before its handler runs. Tokens are never logged.

    A response larger than ``max_response_bytes`` is refused with RESOURCE_EXHAUSTED and a
    QuotaFailure (gRPC would otherwise fail the send with a bare status after the call was
    counted as OK). Responses are encoded once: ``serialized`` (optional) returns the wire
    bytes kept with a cached response, or ``None``.
    """

    def __init__(
        self,
        metrics: Metrics,
        serialized: Callable[[Any], bytes | None] | None = None,
        max_response_bytes: int | None = None,
        tokens: tuple[str, ...] = (),
        flush_seconds: float = 0.0,
    ) -> None:
        self.metrics = metrics
        self._flush_seconds = flush_seconds
        self._ended: list[_Call] = []  # calls ended, not yet counted and logged
        self._timer: asyncio.TimerHandle | None = None
        self._serialized = serialized
        self._max_response = max_response_bytes
        self._tokens = [t.encode() for t in tokens]
        # json.dumps({"event": "rpc", "method": ..., "code": ..., "duration_ms": ...,
        # "request_id": ..., "peer": ...}), built from parts: the same text, less work per call
        self._heads: dict[str, str] = {}
        self._lines = _Lines(log)

    def instrument(self, server: grpc.aio.Server) -> None:
        """Wrap every handler registered on ``server`` from now on, and answer methods that no
        handler serves; ``server.stop`` then ends with :meth:`flush`. Call it before
        registering any servicer."""
        generic = _Generic(self)
        register = server.add_registered_method_handlers
        server.add_generic_rpc_handlers((generic,))

        def add_generic(handlers: Any) -> None:
            generic.inner.extend(handlers)

        def add_registered(service: str, handlers: dict[str, Handler]) -> None:
            register(service, {m: self.wrap(f"/{service}/{m}", h) for m, h in handlers.items()})

        # the generated add_*_to_server functions (and reflection's) call these two
        server.add_generic_rpc_handlers = add_generic  # type: ignore[method-assign,assignment]
        server.add_registered_method_handlers = add_registered  # type: ignore[method-assign,assignment]
        stop = server.stop

        async def stop_then_flush(grace: float | None) -> None:
            await stop(grace)
            await asyncio.sleep(0)  # the done callbacks of the last streaming calls run
            self.flush()  # the calls that ended since the last batch: counted and logged

        server.stop = stop_then_flush  # type: ignore[method-assign]

    def _allowed(self, method: str, metadata: Any) -> bool:
        if not self._tokens or method in PUBLIC_METHODS:
            return True
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
                given = value[len("Bearer ") :].encode()
                # compare with every token, without early exit, in constant time each
                return any([hmac.compare_digest(given, t) for t in self._tokens])
        return False

    def _finish(self, call: _Call, _task: object = None) -> None:
        """Note that ``call`` has ended (never touches its context: gone): counted and logged
        at once, or with the calls that end within ``flush_seconds`` of it (:meth:`flush`)."""
        call.elapsed = time.perf_counter() - call.start
        call.code = call.ended()
        call.ended_at = time.time()
        ended = self._ended
        ended.append(call)
        if self._timer is not None and len(ended) < _MAX_ENDED:
            return  # a flush is due
        if self._flush_seconds > 0 and len(ended) < _MAX_ENDED:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                self._timer = loop.call_later(self._flush_seconds, self.flush)
                return
        self.flush()

    def flush(self) -> None:
        """Count and log every call that has ended, in the order they ended (on the server's
        event loop; the instrumented server's ``stop`` calls it last). A batch of calls costs
        less per call than the same work done call by call (bench/h2load_bench.py): their
        lines are made in one pass."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        ended = self._ended
        if not ended:
            return
        self._ended = []
        observe = self.metrics.observe
        for call in ended:
            observe(call.method, call.code, call.elapsed)  # type: ignore[arg-type]  # set
        if not log.isEnabledFor(logging.INFO):
            return
        heads, emit = self._heads, self._lines.emit
        for call in ended:
            method, code = call.method, call.code
            assert code is not None  # set by _finish
            head = heads.get(method)
            if head is None:
                head = '{"event": "rpc", "method": ' + _json_str(method) + ', "code": "'
                if len(heads) < _Generic.LIMIT:
                    heads[method] = head
            emit(
                f'{head}{code.name}", "duration_ms": {round(call.elapsed * 1000, 3)!r}, '
                f'"request_id": {_json_str(call.rid)}, "peer": {_json_str(call.peer)}}}',
                call.ended_at,
            )

    def wrap(self, method: str, handler: Handler | None) -> Handler:
        """The observed handler of ``method`` (``None``: a method nobody serves)."""
        max_response = self._max_response
        lookup = self._serialized
        encode = handler.response_serializer if handler is not None else None
        finish = self._finish
        allowed = self._allowed

        def begin(context: Ctx, streaming: bool) -> _Call:
            metadata = context.invocation_metadata()
            call = _Call(method, _request_id(metadata))
            _CALL.set(call)
            if streaming:  # ends when its task does (a unary call: when its handler does)
                task = asyncio.current_task()
                if task is not None:
                    task.add_done_callback(partial(finish, call))
            # read the peer and deadline now: touching the context after a cancelled call has
            # ended crashes grpc.aio (segfault seen under the RPC fuzz tests)
            call.peer = context.peer()
            remaining = context.time_remaining()
            if remaining is not None:
                call.expires(remaining)
            context.set_trailing_metadata((("x-request-id", call.rid),))
            return call

        async def admit(context: Ctx, call: _Call) -> None:
            if handler is None:
                call.code = grpc.StatusCode.UNIMPLEMENTED
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
            if not allowed(method, context.invocation_metadata()):
                call.code = grpc.StatusCode.UNAUTHENTICATED
                await context.abort(
                    grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token"
                )

        async def fail(context: Ctx, call: _Call, exc: Exception) -> None:
            if isinstance(exc, grpc.aio.AbortError):  # aborted already (auth, unknown method)
                if call.code is None:
                    call.code = _code_of(context)
                raise exc
            err = to_service_error(exc)
            if err is None:
                call.code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error in %s (request %s)", call.method, call.rid)
                await context.abort(
                    grpc.StatusCode.INTERNAL, f"internal error (request {call.rid})"
                )
            else:
                call.code = err.code
                st = err.to_status()
                await context.abort(
                    err.code,
                    err.message,
                    trailing_metadata=(("grpc-status-details-bin", st.SerializeToString()),),
                )

        def stage(call: _Call, message: Any) -> None:
            """Encode ``message`` now (or take its cached bytes), refuse it when too large,
            and keep the bytes for the response serializer. An answer ready after the call's
            deadline is not sent: the client has stopped waiting (DEADLINE_EXCEEDED)."""
            if call.deadline is not None and time.monotonic() >= call.deadline:
                raise DeadlineExceeded("the deadline passed before the answer was ready")
            if encode is None:
                return
            data = lookup(message) if lookup is not None else None
            if data is None:
                data = encode(message)
            if max_response is not None and len(data) > max_response:
                raise ResourceExhausted(
                    "response",
                    f"the response is {len(data)} bytes, over the server's limit of "
                    f"{max_response} bytes (GEORISK_MAX_RESPONSE_BYTES); ask for less",
                )
            call.wire = (message, data)

        def serialize(message: Any) -> bytes:
            call = _CALL.get()
            wire = call.wire if call is not None else None
            if wire is not None and wire[0] is message:
                call.wire = None  # type: ignore[union-attr]
                return wire[1]
            assert encode is not None
            return encode(message)

        unary_request = handler is None or not handler.request_streaming
        #: a call that must pass :meth:`_allowed` first (or the method is unknown)
        guarded = handler is None or (bool(self._tokens) and method not in PUBLIC_METHODS)
        fn: Any = handler and (
            handler.unary_unary
            or handler.unary_stream
            or handler.stream_unary
            or handler.stream_stream
        )

        async def request_of(requests: AsyncIterator[Any], context: Ctx) -> Any:
            if not unary_request:
                return _checked(requests)
            request = await context.read()
            if request is grpc.aio.EOF:  # cancelled before its request arrived
                raise asyncio.CancelledError
            return _decoded(request)

        async def unary_response(requests: AsyncIterator[Any], context: Ctx) -> Any:
            call = begin(context, False)
            try:
                if guarded:
                    await admit(context, call)
                if unary_request:  # request_of, inline: this runs on every call
                    request = await context.read()
                    if request is grpc.aio.EOF:  # cancelled before its request arrived
                        raise asyncio.CancelledError
                    response = await fn(_decoded(request), context)
                else:
                    response = await fn(_checked(requests), context)
                stage(call, response)
                call.code = grpc.StatusCode.OK
                return response
            except Exception as exc:
                await fail(context, call, exc)
            finally:  # also when the call is cancelled or expires (CancelledError)
                finish(call)

        async def stream_response(requests: AsyncIterator[Any], context: Ctx) -> AsyncIterator[Any]:
            call = begin(context, True)
            try:
                if guarded:
                    await admit(context, call)
                async for item in fn(await request_of(requests, context), context):
                    stage(call, item)
                    yield item
                call.code = grpc.StatusCode.OK
            except Exception as exc:
                await fail(context, call, exc)

        deserializer = _tolerant(handler.request_deserializer if handler else None)
        serializer = serialize if encode is not None else None
        if handler is not None and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(stream_response, deserializer, serializer)
        return grpc.stream_unary_rpc_method_handler(unary_response, deserializer, serializer)


class _Generic(grpc.GenericRpcHandler):
    """The generic handlers registered through :meth:`Observer.instrument`, asked in turn, and
    their answers wrapped once per method; a method none of them serves is answered
    UNIMPLEMENTED by an observed handler."""

    LIMIT = 4096  # methods are few; the bound only guards against calls to made-up methods

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.inner: list[grpc.GenericRpcHandler] = []
        self._made: dict[str, tuple[Handler | None, Handler]] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        found: Handler | None = None
        for generic in self.inner:
            found = generic.service(handler_call_details)
            if found is not None:
                break
        method = handler_call_details.method
        hit = self._made.get(method)
        if hit is not None and hit[0] is found:
            return hit[1]
        made = self.observer.wrap(method, found)
        if len(self._made) >= self.LIMIT:
            self._made.clear()
        self._made[method] = (found, made)
        return made


def _code_of(context: Ctx) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    return grpc.StatusCode.OK
