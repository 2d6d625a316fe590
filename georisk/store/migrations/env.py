"""Alembic's environment: runs the migrations on the connection :func:`georisk.store.migrate`
passes in ``config.attributes["connection"]``, or on ``sqlalchemy.url`` when Alembic's own
command line runs it. Importing it outside Alembic (doctest collection) does nothing."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Upgrade on the given connection (or a new one to ``sqlalchemy.url``)."""
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


try:
    _in_alembic = context.config is not None
except (NameError, AttributeError):  # imported outside an Alembic run: nothing to do
    _in_alembic = False
if _in_alembic:
    run()
