"""A real, throwaway PostgreSQL server for tests (no Docker): ``initdb`` in a temp directory,
``pg_ctl start`` on 127.0.0.1 and a free port (sockets in the temp directory), trust auth, one
superuser ``georisk``; stopped and removed at the end of the session.

PostgreSQL refuses to run as root: as root, the temp directory is given to the ``postgres``
user and the binaries run through ``runuser -u postgres``. The binaries are found on PATH or
in ``/usr/lib/postgresql/*/bin`` (Debian: ``apt-get install postgresql``). When they are
missing the tests that need the server skip with a loud reason, unless
``GEORISK_REQUIRE_PG=1`` (CI), where they fail.

>>> free_port() > 0
True
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "PgServer",
    "create_database",
    "find_bin",
    "free_port",
    "pg_server",
    "pg_url",
    "start_postgres",
]

REQUIRE_ENV = "GEORISK_REQUIRE_PG"
#: no fsync: a commit still reaches the operating system before it is acknowledged, so a crash
#: of the server (``restart``: ``pg_ctl -m immediate``) loses nothing; only a crash of the
#: machine could, and tests do not crash the machine
FAST = "-c fsync=off"


def find_bin() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl`` (the newest Debian version), or None."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running throwaway server: ``url`` reaches its ``postgres`` database."""

    root: Path
    bindir: Path
    port: int
    as_postgres: bool

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://georisk@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)

    def restart(self) -> None:
        """Stop the server at once (``-m immediate``: as a crash would) and start it again on
        the same port and data."""
        data = str(self.root / "data")
        self.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        opts = f"-k {self.root} -c listen_addresses=127.0.0.1 -p {self.port} {FAST}"
        got = self.run(
            "pg_ctl", "-D", data, "-o", opts, "-l", str(self.root / "log"), "-w", "start"
        )
        if got.returncode:
            raise RuntimeError(f"PostgreSQL did not restart: {got.stderr}")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(bindir: Path) -> PgServer:
    """initdb and start a server in a new temp directory; raises RuntimeError (with the log)
    when it does not come up."""
    root = Path(tempfile.mkdtemp(prefix="georisk-pg-"))
    as_postgres = os.geteuid() == 0
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
    srv = PgServer(root, bindir, 0, as_postgres)
    init = srv.run("initdb", "-D", str(root / "data"), "-A", "trust", "-U", "georisk", "-N")
    if init.returncode:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr or init.stdout}")
    for _ in range(3):  # a port taken between free_port() and the start: try another
        srv.port = free_port()
        opts = f"-k {root} -c listen_addresses=127.0.0.1 -p {srv.port} {FAST}"
        log = root / "log"
        got = srv.run("pg_ctl", "-D", str(root / "data"), "-o", opts, "-l", str(log), "-w", "start")
        if got.returncode == 0:
            return srv
    text = log.read_text(errors="replace") if log.exists() else got.stderr
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start: {text[-2000:]}")


def create_database(server_url: str, name: str | None = None) -> str:
    """A new empty database on the server; its URL."""
    import psycopg  # only where PostgreSQL runs

    name = name or f"t_{uuid.uuid4().hex[:12]}"
    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def _missing(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 and {reason}", pytrace=False)
    warnings.warn(f"PostgreSQL tests SKIPPED: {reason}", stacklevel=2)
    pytest.skip(f"PostgreSQL tests SKIPPED: {reason} (apt-get install postgresql)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A throwaway PostgreSQL server for the session."""
    bindir = find_bin()
    if bindir is None:
        _missing("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql")
    assert bindir is not None
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _missing("running as root and runuser is missing (PostgreSQL refuses to run as root)")
    try:
        srv = start_postgres(bindir)
    except RuntimeError as exc:
        _missing(str(exc))
        raise
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    """The URL of the session's throwaway PostgreSQL server (its ``postgres`` database)."""
    return pg_server.url
