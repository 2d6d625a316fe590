"""What a store refuses, as exceptions that know their field and their gRPC status.

Every error is a :class:`StoreError` with ``field`` (a path such as ``link.share``,
``entity.sources[0]``, ``reason`` or ``update_mask``; ``""`` when no one field is at fault),
``reason`` (one sentence for the user) and ``status`` (the name of the gRPC status code the
server maps it to; this package imports no gRPC).

>>> err = Conflict("link.etag", "the link was changed since etag 'x' was read")
>>> err.status, err.field, str(err)
('ABORTED', 'link.etag', "link.etag: the link was changed since etag 'x' was read")
"""

from __future__ import annotations

from georisk.scoring.dataset import DatasetIssue

__all__ = [
    "AlreadyExists",
    "Conflict",
    "IdempotencyMismatch",
    "InvalidWrite",
    "NotFound",
    "SchemaOutdated",
    "StoreError",
    "StoreNotEmpty",
]


class StoreError(Exception):
    """A store operation was refused; nothing was written."""

    status = "FAILED_PRECONDITION"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class InvalidWrite(StoreError):
    """The written record, the arguments, or the dataset after the write fail validation (the
    loader's checks). ``issues`` holds every problem found (``DatasetIssue`` as the loader
    reports them, located at ``store``/``links/ID``), ``violations`` each as (field path,
    reason) for the server's field violations; ``field`` and ``reason`` are the first's."""

    status = "INVALID_ARGUMENT"

    def __init__(
        self,
        field: str,
        reason: str,
        issues: list[DatasetIssue] | None = None,
        violations: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(field, reason)
        self.issues = issues or []
        self.violations = violations or [(field, reason)]


class Conflict(StoreError):
    """The etag is stale: the record was written since it was read (optimistic concurrency)."""

    status = "ABORTED"


class NotFound(StoreError):
    """No record of that kind and id."""

    status = "NOT_FOUND"


class AlreadyExists(StoreError):
    """A create named an id its kind already has."""

    status = "ALREADY_EXISTS"


class IdempotencyMismatch(StoreError):
    """A request id was used before with another request (AIP-155)."""

    status = "INVALID_ARGUMENT"


class StoreNotEmpty(StoreError):
    """``init_from`` on a store that already holds changes."""


class SchemaOutdated(StoreError):
    """The database is not at the schema revision this code needs (run ``georisk store
    migrate URL``)."""
