"""Server interceptors: auth, one structured log line per call, metrics, and error mapping.

Order (outermost first): observe (request id, log line, metrics, error mapping) → auth. The
error mapping turns a :class:`.errors.ServiceError` raised anywhere in a handler into a
rich ``google.rpc.Status`` (``grpc-status-details-bin`` trailer) with its code; an unexpected
exception becomes INTERNAL with the request id, and its traceback is logged, never sent.

The interceptors run on every call, so they are built for it: the wrapped method handlers are
made once per method (not per call) and read the per-call facts (request id, peer) from the
call's context; metric children are looked up once per method and code; the JSON log line is
assembled from pre-escaped parts (the same bytes as ``json.dumps`` of the record).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from georisk.server.errors import InvalidArgument, to_service_error

__all__ = ["PUBLIC_METHODS", "AuthInterceptor", "Metrics", "ObserveInterceptor"]

log = logging.getLogger("georisk.server")

#: callable without a token: probes must reach health; nothing else is public
PUBLIC_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})

if TYPE_CHECKING:
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler


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


def _preserialized(
    serializer: Callable[[Any], bytes] | None, lookup: Callable[[Any], bytes | None] | None
) -> Callable[[Any], bytes] | None:
    """``serializer``, but a response whose bytes ``lookup`` already knows is not re-encoded."""
    if serializer is None or lookup is None:
        return serializer
    encode = serializer

    def dump(message: Any) -> bytes:
        data = lookup(message)
        return encode(message) if data is None else data

    return dump


def _rebuild(
    handler: Handler,
    wrap_unary: Callable[..., Any],
    wrap_stream: Callable[..., Any],
    serialized: Callable[[Any], bytes | None] | None = None,
) -> Handler:
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap_unary(handler.unary_unary),
            _tolerant(handler.request_deserializer),
            _preserialized(handler.response_serializer, serialized),
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            wrap_stream(handler.unary_stream),
            _tolerant(handler.request_deserializer),
            handler.response_serializer,
        )
    return handler  # no client-streaming methods in this API


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
    """Request id, one JSON log line per call, metrics, and ServiceError → rich status.

    ``serialized`` (optional) returns the wire bytes of a response message that were kept with
    it (cached responses), or ``None``; such a response is sent without being encoded again.
    """

    def __init__(
        self, metrics: Metrics, serialized: Callable[[Any], bytes | None] | None = None
    ) -> None:
        self.metrics = metrics
        self._serialized = serialized
        self._handlers = _PerHandler()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method
        return self._handlers.get(method, handler, lambda: self._wrap(method, handler))

    def _wrap(self, method: str, handler: Handler) -> Handler:
        metrics = self.metrics
        # json.dumps({"event": "rpc", "method": ..., "code": ..., "duration_ms": ...,
        # "request_id": ..., "peer": ...}), built from parts: the same text, less work per call
        head = '{"event": "rpc", "method": ' + _json_str(method) + ', "code": "'

        async def fail(
            context: grpc.aio.ServicerContext[Any, Any], exc: BaseException, rid: str
        ) -> None:
            err = to_service_error(exc)
            if err is None:
                log.exception("unhandled error in %s (request %s)", method, rid)
                await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request {rid})")
            else:
                st = err.to_status()
                await context.abort(
                    err.code,
                    err.message,
                    trailing_metadata=(("grpc-status-details-bin", st.SerializeToString()),),
                )

        def begin(context: grpc.aio.ServicerContext[Any, Any]) -> tuple[str, str]:
            # read the peer now: touching the context after a cancelled call has ended
            # crashes grpc.aio (segfault seen under the RPC fuzz tests)
            peer = context.peer()
            rid = _request_id(context.invocation_metadata())
            context.set_trailing_metadata((("x-request-id", rid),))
            return peer, rid

        def finish(
            context: grpc.aio.ServicerContext[Any, Any], start: float, peer: str, rid: str
        ) -> None:
            elapsed = time.perf_counter() - start
            code = _code_of(context)
            metrics.observe(method, code, elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    f'{head}{code.name}", "duration_ms": {round(elapsed * 1000, 3)!r}, '
                    f'"request_id": {_json_str(rid)}, "peer": {_json_str(peer)}}}'
                )

        def wrap_unary(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                start = time.perf_counter()
                peer, rid = begin(context)
                try:
                    if isinstance(request, _Undecodable):
                        raise InvalidArgument(
                            [("request", f"undecodable message: {request.error}")]
                        )
                    return await fn(request, context)
                except Exception as exc:
                    if isinstance(exc, grpc.aio.AbortError):
                        raise
                    await fail(context, exc, rid)
                finally:
                    finish(context, start, peer, rid)

            return call

        def wrap_stream(fn: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
            async def call(
                request: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                start = time.perf_counter()
                peer, rid = begin(context)
                try:
                    if isinstance(request, _Undecodable):
                        raise InvalidArgument(
                            [("request", f"undecodable message: {request.error}")]
                        )
                    async for item in fn(request, context):
                        yield item
                except Exception as exc:
                    if isinstance(exc, grpc.aio.AbortError):
                        raise
                    await fail(context, exc, rid)
                finally:
                    finish(context, start, peer, rid)

            return call

        return _rebuild(handler, wrap_unary, wrap_stream, self._serialized)


def _code_of(context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
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

        async def deny_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

        async def deny_stream(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
            yield None  # pragma: no cover - abort raises

        if handler is None:
            return handler
        return self._denials.get(
            details.method,
            handler,
            lambda: _rebuild(handler, lambda _fn: deny_unary, lambda _fn: deny_stream),
        )
