"""An index on ``changes.dataset_version``: a replica that loads the dataset directory the store
was seeded from finds the seq that directory is (:meth:`georisk.store.Store.seq_of_version`)
without reading the log, and follows the changes after it instead of parsing every record."""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_changes_dataset_version", "changes", ["dataset_version"])


def downgrade() -> None:
    op.drop_index("ix_changes_dataset_version", table_name="changes")
