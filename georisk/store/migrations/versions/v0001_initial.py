"""The first schema: ``changes`` (the append-only log) and ``records`` (every version of every
record, bitemporal by change seq). See :mod:`georisk.store.schema`."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(200), nullable=True, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=False),
        sa.Column("dataset_version", sa.String(96), nullable=False),
        sa.CheckConstraint("op IN ('create', 'update', 'end')", name="ck_changes_op"),
    )
    op.create_index("ix_changes_record", "changes", ["kind", "id", "seq"])
    op.create_index("ix_changes_at", "changes", ["at"])
    op.create_table(
        "records",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("recorded_from", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("recorded_to", sa.BigInteger, nullable=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    current = sa.text("recorded_to IS NULL")
    op.create_index(
        "ux_records_current",
        "records",
        ["kind", "id"],
        unique=True,
        sqlite_where=current,
        postgresql_where=current,
    )
    op.create_index("ix_records_known", "records", ["recorded_from", "recorded_to"])


def downgrade() -> None:
    op.drop_table("records")
    op.drop_table("changes")
