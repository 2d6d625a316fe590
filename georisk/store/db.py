"""Database engines and migrations: one schema on SQLite (embedded) and PostgreSQL.

``sqlite:///PATH`` is a file (WAL journal, ``synchronous=FULL``: a committed write survives a
crash of the process or the machine); a write transaction starts with ``BEGIN IMMEDIATE`` (the
database's one write lock, taken before anything is read). ``postgresql://…`` (or
``postgres://``, ``postgresql+psycopg://``) uses psycopg 3; a write transaction starts by
taking one transaction-scoped advisory lock. Either way writes are serialized, so change
seqs are gapless and commit in seq order, and reads never wait for a write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url

from georisk.store.errors import SchemaOutdated
from georisk.store.schema import HEAD

__all__ = ["WRITE", "connect", "lock_for_write", "migrate", "normalize_url", "revision"]

MIGRATIONS = Path(__file__).with_name("migrations")
#: the execution option that marks a write transaction (SQLite: BEGIN IMMEDIATE)
WRITE = "georisk_write"
#: the PostgreSQL advisory lock that serializes writes ("georisk" in ASCII)
PG_WRITE_LOCK = 0x67656F7269736B


def normalize_url(url: str) -> str:
    """The SQLAlchemy URL of a store URL: PostgreSQL through psycopg 3.

    >>> normalize_url("postgresql://u@127.0.0.1:5432/db")
    'postgresql+psycopg://u@127.0.0.1:5432/db'
    >>> normalize_url("sqlite:///store.db")
    'sqlite:///store.db'
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def connect(url: str) -> Engine:
    """An engine for a store URL (SQLite file or PostgreSQL); raises ``ValueError`` for any
    other URL (an in-memory SQLite database is one per connection: not a store)."""
    u = make_url(normalize_url(url))
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            raise ValueError(f"{url}: a SQLite store needs a file path (sqlite:///PATH)")
        engine = create_engine(u, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if u.get_backend_name() == "postgresql":
        return create_engine(u, pool_pre_ping=True)
    raise ValueError(f"{url}: a store URL is sqlite:///PATH or postgresql://…")


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # the driver's own BEGIN off: ours is in _sqlite_begin
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def lock_for_write(conn: Connection) -> None:
    """Serialize this write transaction with every other (PostgreSQL: an advisory lock held
    until commit; SQLite holds its write lock since ``BEGIN IMMEDIATE``)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_WRITE_LOCK})


def _config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def migrate(url: str, to: str = "head") -> str:
    """Create or upgrade the store's schema at ``url`` to the newest revision (Alembic), or to
    revision ``to`` (up or down: e.g. back to the revision an older release reads), and
    return it. A fresh store (an empty or missing SQLite file, an empty database) is made this
    way; running it again changes nothing. Records and changes are kept either way.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "s.db")
    >>> migrate(f"sqlite:///{path}")
    '0002'
    """
    engine = connect(url)
    try:
        with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            lock_for_write(conn)  # two migrating processes: one migrates, the other finds it done
            have = revision(conn)
            if to != "head" and have is not None and have > to:
                command.downgrade(_config(conn), to)
            else:
                command.upgrade(_config(conn), to)
        with engine.connect() as conn:
            return revision(conn) or ""
    finally:
        engine.dispose()


def revision(conn: Connection) -> str | None:
    """The schema revision of the database (None for an empty one)."""
    return MigrationContext.configure(conn).get_current_revision()


def check_revision(conn: Connection, url: str) -> None:
    """Raise :class:`SchemaOutdated` unless the database is at :data:`HEAD`."""
    have = revision(conn)
    if have != HEAD:
        what = "has no schema" if have is None else f"is at schema revision {have}"
        raise SchemaOutdated(
            "", f"the store {url} {what}, this code needs {HEAD}: run georisk store migrate URL"
        )
