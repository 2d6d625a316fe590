"""Errors that know their gRPC status, and their rich ``google.rpc.Status`` form.

The servicers raise :class:`ServiceError` subclasses (or let domain errors through, which
:func:`to_service_error` maps); the interceptor layer turns them into a ``google.rpc.Status``
with details (``BadRequest`` field violations, ``ResourceInfo``, ``QuotaFailure``), so that
clients in any language can read the field and the reason. A bad request never yields INTERNAL.
"""

from __future__ import annotations

import logging
import sys

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from georisk.scoring.dataset import DatasetError
from georisk.scoring.engine import NotFoundError

__all__ = [
    "AlreadyExists",
    "DeadlineExceeded",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "ServiceError",
    "StaleEtag",
    "Unavailable",
    "store_unavailable",
    "to_service_error",
]

log = logging.getLogger("georisk.server")


class ServiceError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        return []

    def to_status(self) -> status_pb2.Status:
        st = status_pb2.Status(code=self.code.value[0], message=self.message)
        for d in self.details():
            st.details.append(d)
        return st


def _pack(msg: object) -> any_pb2.Any:
    a = any_pb2.Any()
    a.Pack(msg)  # type: ignore[arg-type]
    return a


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        self.violations = violations
        super().__init__("; ".join(f"{f}: {d}" for f, d in violations))

    def details(self) -> list[any_pb2.Any]:
        br = error_details_pb2.BadRequest()
        for f, d in self.violations:
            br.field_violations.add(field=f, description=d)
        return [_pack(br)]


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, resource_type: str, name: str, message: str | None = None) -> None:
        self.resource_type, self.name = resource_type, name
        super().__init__(message or f"{resource_type} {name!r} not found")

    def details(self) -> list[any_pb2.Any]:
        return [
            _pack(
                error_details_pb2.ResourceInfo(
                    resource_type=self.resource_type, resource_name=self.name
                )
            )
        ]


class AlreadyExists(NotFound):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class StaleEtag(ServiceError):
    """ABORTED: the record changed since its etag was read (AIP-154); read it again."""

    code = grpc.StatusCode.ABORTED

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.ErrorInfo(
            reason="STALE_ETAG", domain="georisk.v1", metadata={"field": self.field}
        )
        return [_pack(info)]


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str, violations: list[tuple[str, str, str]] | None = None) -> None:
        self.violations = violations or []
        super().__init__(message)

    def details(self) -> list[any_pb2.Any]:
        if not self.violations:
            return []
        pf = error_details_pb2.PreconditionFailure()
        for t, s, d in self.violations:
            pf.violations.add(type=t, subject=s, description=d)
        return [_pack(pf)]


class DeadlineExceeded(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, subject: str, description: str) -> None:
        self.subject = subject
        super().__init__(f"{subject}: {description}")

    def details(self) -> list[any_pb2.Any]:
        qf = error_details_pb2.QuotaFailure()
        qf.violations.add(subject=self.subject, description=self.message)
        return [_pack(qf)]


class Unavailable(ServiceError):
    """UNAVAILABLE: the store's database cannot be reached right now (down, restarting, locked);
    the client should retry with backoff. Carries ``ErrorInfo(reason="STORE_UNAVAILABLE")``."""

    code = grpc.StatusCode.UNAVAILABLE

    def details(self) -> list[any_pb2.Any]:
        return [_pack(error_details_pb2.ErrorInfo(reason="STORE_UNAVAILABLE", domain="georisk.v1"))]


#: what a client is told when the store's database cannot be reached (the driver's own message,
#: which names hosts and ports, is logged, not sent)
STORE_UNAVAILABLE = (
    "the store is unavailable: its database cannot be reached right now; retry with backoff "
    "(a write retried with the same request_id is made at most once)"
)


def store_unavailable(exc: BaseException) -> Unavailable | None:
    """:class:`Unavailable` for a database error that means "cannot reach the database now"
    (a refused or lost connection, a server restarting, a pool timeout, SQLite's lock timeout),
    None for any other error (a bug stays INTERNAL).

    >>> from sqlalchemy.exc import OperationalError
    >>> store_unavailable(OperationalError("SELECT 1", {}, ConnectionRefusedError())).code.name
    'UNAVAILABLE'
    >>> store_unavailable(ValueError("x")) is None
    True
    """
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is None:  # no store in this process (SQLAlchemy never imported): no database error
        return None
    down = isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)
    if not down and isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        down = True
    if not down:
        return None
    first = (str(exc).splitlines() or [""])[0][:300]
    log.warning("store unavailable: %s: %s", type(exc).__name__, first)
    return Unavailable(STORE_UNAVAILABLE)


def to_service_error(exc: BaseException) -> ServiceError | None:
    """Map a domain error to its service error (None: not a known error; a bug)."""
    if isinstance(exc, ServiceError):
        return exc
    down = store_unavailable(exc)
    if down is not None:
        return down
    if isinstance(exc, NotFoundError):
        return NotFound(exc.what, exc.key, str(exc))
    if isinstance(exc, DatasetError):
        return InvalidArgument([(i.field or i.record or i.file, str(i)) for i in exc.issues[:50]])
    return None


assert grpc.StatusCode.INVALID_ARGUMENT.value[0] == code_pb2.INVALID_ARGUMENT
