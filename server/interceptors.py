"""Server interceptors: auth, one structured log line per call, metrics, and error mapping.

Order (outermost first): observe (request id, log line, metrics, error mapping) → auth. The
error mapping turns a :class:`~server.errors.ServiceError` raised anywhere in a handler into a
rich ``google.rpc.Status`` (``grpc-status-details-bin`` trailer) with its code; an unexpected
exception becomes INTERNAL with the request id, and its traceback is logged, never sent.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from server.errors import InvalidArgument, to_service_error

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

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self.calls.labels(method, code.name).inc()
        if code is not grpc.StatusCode.OK:
            self.errors.labels(method, code.name).inc()
        self.latency.labels(method).observe(seconds)


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


def _rebuild(
    handler: Handler, wrap_unary: Callable[..., Any], wrap_stream: Callable[..., Any]
) -> Handler:
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap_unary(handler.unary_unary),
            _tolerant(handler.request_deserializer),
            handler.response_serializer,
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            wrap_stream(handler.unary_stream),
            _tolerant(handler.request_deserializer),
            handler.response_serializer,
        )
    return handler  # no client-streaming methods in this API


def _request_id(details: grpc.HandlerCallDetails) -> str:
    for key, value in details.invocation_metadata or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return uuid.uuid4().hex[:16]


class ObserveInterceptor(grpc.aio.ServerInterceptor):
    """Request id, one JSON log line per call, metrics, and ServiceError → rich status."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method
        rid = _request_id(details)
        metrics = self.metrics

        async def fail(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> None:
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

        def finish(context: grpc.aio.ServicerContext[Any, Any], start: float, peer: str) -> None:
            elapsed = time.perf_counter() - start
            code = _code_of(context)
            metrics.observe(method, code, elapsed)
            log.info(
                json.dumps(
                    {
                        "event": "rpc",
                        "method": method,
                        "code": code.name,
                        "duration_ms": round(elapsed * 1000, 3),
                        "request_id": rid,
                        "peer": peer,
                    }
                )
            )

        def wrap_unary(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                start = time.perf_counter()
                # read the peer now: touching the context after a cancelled call has ended
                # crashes grpc.aio (segfault seen under the RPC fuzz tests)
                peer = context.peer()
                context.set_trailing_metadata((("x-request-id", rid),))
                try:
                    if isinstance(request, _Undecodable):
                        raise InvalidArgument(
                            [("request", f"undecodable message: {request.error}")]
                        )
                    return await fn(request, context)
                except Exception as exc:
                    if isinstance(exc, grpc.aio.AbortError):
                        raise
                    await fail(context, exc)
                finally:
                    finish(context, start, peer)

            return call

        def wrap_stream(fn: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
            async def call(
                request: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                start = time.perf_counter()
                # read the peer now: touching the context after a cancelled call has ended
                # crashes grpc.aio (segfault seen under the RPC fuzz tests)
                peer = context.peer()
                context.set_trailing_metadata((("x-request-id", rid),))
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
                    await fail(context, exc)
                finally:
                    finish(context, start, peer)

            return call

        return _rebuild(handler, wrap_unary, wrap_stream)


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
        return _rebuild(handler, lambda _fn: deny_unary, lambda _fn: deny_stream)
