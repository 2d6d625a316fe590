"""The store's tables (SQLAlchemy Core), as the migrations create them.

The code reads and writes through these ``Table`` objects; the schema itself is made only by the
Alembic migrations (``migrations/versions/``), never by ``metadata.create_all``. A change here
goes with a new migration.

``changes``: the append-only log, one row per write (``seq`` 1, 2, …, gapless and in commit
order: writes are serialized). ``records``: every version of every record; a row is the
record's document as written by change ``recorded_from`` and superseded by ``recorded_to``
(NULL while current). The store as known at seq *N* is the rows with
``recorded_from <= N`` and (``recorded_to`` NULL or ``> N``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["HEAD", "changes", "metadata", "records"]

#: the schema revision this code reads and writes (the newest migration)
HEAD = "0002"

metadata = MetaData()

changes = Table(
    "changes",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("request_id", String(200), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    Column("op", String(8), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("id", String(128), nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=False),
    Column("dataset_version", String(96), nullable=False),
    CheckConstraint("op IN ('create', 'update', 'end')", name="ck_changes_op"),
    Index("ix_changes_record", "kind", "id", "seq"),
    Index("ix_changes_at", "at"),
    Index("ix_changes_dataset_version", "dataset_version"),
)

records = Table(
    "records",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("recorded_from", BigInteger, primary_key=True, autoincrement=False),
    Column("recorded_to", BigInteger, nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("doc", Text, nullable=False),
    Index(
        "ux_records_current",
        "kind",
        "id",
        unique=True,
        sqlite_where=Column("recorded_to").is_(None),
        postgresql_where=Column("recorded_to").is_(None),
    ),
    Index("ix_records_known", "recorded_from", "recorded_to"),
)
