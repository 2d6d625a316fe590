"""Server interceptors: auth, one structured log line per call, metrics, and error mapping.

Order (outermost first): observe (request id, log line, metrics, error mapping, response size)
→ auth. The error mapping turns a :class:`.errors.ServiceError` raised anywhere in a handler into
a rich ``google.rpc.Status`` (``grpc-status-details-bin`` trailer) with its code; an unexpected
exception becomes INTERNAL with the request id, and its traceback is logged, never sent.

Each call is logged once, when it has ended, with the code it ended with: OK, the handler's
error, DEADLINE_EXCEEDED or CANCELLED (also when the call ended before its handler ran).

The interceptors run on every call, so they are built for it: the wrapped method handlers are
made once per method (not per call) and find the per-call facts (request id, peer, deadline) in
a context variable of the call's task; metric children are looked up once per method and code;
the JSON log line is assembled from pre-escaped parts (the same bytes as ``json.dumps`` of the
record); a response is encoded once (cached responses not at all).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from georisk.server.errors import (
    DeadlineExceeded,
    InvalidArgument,
    ResourceExhausted,
    to_service_error,
)

__all__ = ["PUBLIC_METHODS", "AuthInterceptor", "Metrics", "ObserveInterceptor"]

log = logging.getLogger("georisk.server")

#: callable without a token: probes must reach health; nothing else is public
PUBLIC_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})

if TYPE_CHECKING:
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class Metrics:
    """Prometheus metrics: calls and errors by method and code, latency histogram by method."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.calls = Counter(
            "georisk_grpc_calls", "gRPC calls handled", ["method", "code"], registry=self.registry
        )
        self.errors = Counter(
            "georisk_grpc_errors",
            "gRPC calls ending in a non-OK status",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "georisk_grpc_latency_seconds",
            "gRPC call latency",
            ["method"],
            registry=self.registry,
            buckets=(
                0.0005,
                0.001,
                0.0025,
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                0.5,
                1,
                2.5,
                5,
                10,
            ),
        )
        # (method, code) → the calls, errors (None for OK) and latency children of that label set
        self._children: dict[tuple[str, grpc.StatusCode], tuple[Any, Any, Any]] = {}

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        children = self._children.get((method, code))
        if children is None:  # first call of this method with this code
            children = self._children[(method, code)] = (
                self.calls.labels(method, code.name),
                None if code is grpc.StatusCode.OK else self.errors.labels(method, code.name),
                self.latency.labels(method),
            )
        calls, errors, latency = children
        calls.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)


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

    __slots__ = ("code", "deadline", "method", "peer", "rid", "slack", "start", "wire")

    def __init__(self, method: str, rid: str) -> None:
        self.method, self.rid, self.start = method, rid, time.perf_counter()
        self.peer = ""
        #: the final status code, once the handler knows it; None: cancelled or expired
        self.code: grpc.StatusCode | None = None
        self.deadline: float | None = None  # time.monotonic() of the deadline; None: none
        self.slack = 0.0  # how long before ``deadline`` an end still counts as expired
        self.wire: tuple[object, bytes] | None = None  # (response, its bytes) to send next

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


#: the call being served by the current task (each call runs in its own asyncio task)
_CALL: ContextVar[_Call | None] = ContextVar("georisk_call", default=None)


class _PerHandler:
    """Wrapped handlers, made once per (method, handler) instead of once per call."""

    LIMIT = 4096  # methods are few; the bound only guards against a misbehaving generic handler

    def __init__(self) -> None:
        self._made: dict[tuple[str, int], tuple[Handler, Handler]] = {}

    def get(self, method: str, handler: Handler, make: Callable[[], Handler]) -> Handler:
        hit = self._made.get((method, id(handler)))
        if hit is not None and hit[0] is handler:  # the entry keeps ``handler`` (so its id) alive
            return hit[1]
        made = make()
        if len(self._made) >= self.LIMIT:
            self._made.clear()
        self._made[(method, id(handler))] = (handler, made)
        return made


def _request_id(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return os.urandom(8).hex()


#: the string encoder ``json.dumps`` uses (ensure_ascii): the log line is assembled from parts
_json_str: Callable[[str], str] = json.encoder.encode_basestring_ascii


class ObserveInterceptor(grpc.aio.ServerInterceptor):
    """Request id, one JSON log line per call with its final code, metrics, and
    ServiceError → rich status.

    Every call is served by its own asyncio task, in which :meth:`intercept_service` runs first:
    it records the call and logs it when that task ends, after the status was sent, whatever
    ended it: the handler's answer or error, its deadline (DEADLINE_EXCEEDED) or the client
    going away (CANCELLED), even before the handler started. So that the handler holds the
    call's context before any request bytes are read, handlers are served through the
    request-streaming API (one message read for a unary request: the same bytes on the wire).

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
    ) -> None:
        self.metrics = metrics
        self._serialized = serialized
        self._max_response = max_response_bytes
        self._handlers = _PerHandler()
        # json.dumps({"event": "rpc", "method": ..., "code": ..., "duration_ms": ...,
        # "request_id": ..., "peer": ...}), built from parts: the same text, less work per call
        self._heads: dict[str, str] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = details.method
        call = _Call(method, _request_id(details.invocation_metadata))
        _CALL.set(call)
        task = asyncio.current_task()
        if task is not None:
            task.add_done_callback(lambda _task: self._finish(call))
        handler = await continuation(details)
        if handler is None:
            call.code = grpc.StatusCode.UNIMPLEMENTED
            return handler
        return self._handlers.get(method, handler, lambda: self._wrap(handler))

    def _finish(self, call: _Call) -> None:
        """Log and count a call whose task has ended (never touches its context: gone)."""
        elapsed = time.perf_counter() - call.start
        code = call.ended()
        self.metrics.observe(call.method, code, elapsed)
        if log.isEnabledFor(logging.INFO):
            head = self._heads.get(call.method)
            if head is None:
                head = '{"event": "rpc", "method": ' + _json_str(call.method) + ', "code": "'
                if len(self._heads) < _PerHandler.LIMIT:
                    self._heads[call.method] = head
            log.info(
                f'{head}{code.name}", "duration_ms": {round(elapsed * 1000, 3)!r}, '
                f'"request_id": {_json_str(call.rid)}, "peer": {_json_str(call.peer)}}}'
            )

    def _wrap(self, handler: Handler) -> Handler:
        max_response = self._max_response
        lookup = self._serialized
        encode = handler.response_serializer

        def begin(context: Ctx) -> _Call:
            call = _CALL.get()
            if call is None:  # not through intercept_service: cannot happen in a grpc.aio server
                call = _Call("?", _request_id(context.invocation_metadata()))
            # read the peer and deadline now: touching the context after a cancelled call has
            # ended crashes grpc.aio (segfault seen under the RPC fuzz tests)
            call.peer = context.peer()
            remaining = context.time_remaining()
            if remaining is not None:
                call.expires(remaining)
            context.set_trailing_metadata((("x-request-id", call.rid),))
            return call

        async def fail(context: Ctx, call: _Call, exc: Exception) -> None:
            if isinstance(exc, grpc.aio.AbortError):  # aborted by an inner layer (auth)
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

        unary_request = not handler.request_streaming
        fn: Any = (
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
            call = begin(context)
            try:
                response = await fn(await request_of(requests, context), context)
                stage(call, response)
                call.code = grpc.StatusCode.OK
                return response
            except Exception as exc:
                await fail(context, call, exc)

        async def stream_response(requests: AsyncIterator[Any], context: Ctx) -> AsyncIterator[Any]:
            call = begin(context)
            try:
                async for item in fn(await request_of(requests, context), context):
                    stage(call, item)
                    yield item
                call.code = grpc.StatusCode.OK
            except Exception as exc:
                await fail(context, call, exc)

        deserializer = _tolerant(handler.request_deserializer)
        serializer = serialize if encode is not None else None
        if handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(stream_response, deserializer, serializer)
        return grpc.stream_unary_rpc_method_handler(unary_response, deserializer, serializer)


def _code_of(context: Ctx) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    return grpc.StatusCode.OK


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Bearer-token auth: ``authorization: Bearer <token>``, compared in constant time.

    Health checks stay public (orchestrator probes); everything else, reflection included,
    needs a token. Tokens are never logged.
    """

    def __init__(self, tokens: tuple[str, ...]) -> None:
        self._tokens = [t.encode() for t in tokens]
        self._denials = _PerHandler()

    def _ok(self, details: grpc.HandlerCallDetails) -> bool:
        if details.method in PUBLIC_METHODS:
            return True
        for key, value in details.invocation_metadata or ():
            if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
                given = value[len("Bearer ") :].encode()
                # compare with every token, without early exit, in constant time each
                return any([hmac.compare_digest(given, t) for t in self._tokens])
        return False

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        if self._ok(details):
            return await continuation(details)
        handler = await continuation(details)
        if handler is None:
            return handler
        return self._denials.get(details.method, handler, lambda: _denied(handler))


async def _deny(request: Any, context: Ctx) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")


async def _deny_stream(request: Any, context: Ctx) -> AsyncIterator[Any]:
    await _deny(request, context)
    yield None  # pragma: no cover - abort raises


def _denied(handler: Handler) -> Handler:
    """A handler of the same kind as ``handler`` that answers UNAUTHENTICATED."""
    de, ser = handler.request_deserializer, handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(_deny_stream, de, ser)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(_deny, de, ser)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(_deny_stream, de, ser)
    return grpc.unary_unary_rpc_method_handler(_deny, de, ser)
