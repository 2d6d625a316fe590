"""Reliability of a store-backed server, measured through the real server (issue 15, point 7).

- **kill -9 in a write storm**: ``georisk serve --store URL`` (a subprocess) is killed with
  SIGKILL while several client threads write through gRPC with request ids; after a restart every
  acknowledged write is in the store and in ListChanges, the log and the records agree (no partial
  write), and every write that got no answer is either wholly there or wholly absent, and lands
  exactly once when retried with its request id. On SQLite and on a real PostgreSQL.
- **racing writers**: N clients update one link with one etag at once: exactly one OK, the rest
  ABORTED, and the record is the winner's (no lost update).
- **a PostgreSQL outage**: while the database is down two replicas keep scoring from the data they
  serve (the same answers, byte for byte), writes and log reads fail fast with UNAVAILABLE, and
  after the restart writes land again and the other replica serves them.

Everything binds 127.0.0.1 port 0 and is bounded in count and time (RELIABILITY.md, "Store").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from georisk.server.settings import Settings
from georisk.v1 import (
    graph_pb2,
    graph_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
)
from tests.pg_harness import FAST, PgServer, create_database
from tests.server_harness import ServerThread

READER, WRITER = "reader-token", "writer-token"
TOKENS = f"{READER},{WRITER} analyst@example.org writer"
ON = "2026-11-22"
GEORISK = Path(sys.executable).with_name("georisk")
REPO = Path(__file__).resolve().parents[1]
LINK = "links/vw-owns-gotion"


def _md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _struct(doc: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(doc)
    return s


def _seeded_pg(pg: PgServer) -> str:
    """A new database on the throwaway server, migrated and seeded from ``data/``."""
    from georisk.scoring.engine import DEFAULT_DATA
    from georisk.store import migrate, open_store

    url = create_database(pg.url)
    migrate(url)
    with open_store(url) as store:
        store.init_from(DEFAULT_DATA, actor="test", reason="seed")
    return url


def _store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'georisk.db'}"  # seeded by the server on first start
    return _seeded_pg(request.getfixturevalue("pg_server"))


# ---------------------------------------------------------------- a `georisk serve` subprocess


def _serve(url: str, log: Path) -> tuple[subprocess.Popen[str], str]:
    """``georisk serve --store URL`` on a free 127.0.0.1 port: the process and its target."""
    env = {
        **os.environ,
        "GEORISK_AUTH_TOKENS": TOKENS,
        "GEORISK_STORE_POLL_SECONDS": "0.2",
        "GEORISK_GRACE_SECONDS": "0",
    }
    proc = subprocess.Popen(
        [str(GEORISK), "serve", "--store", url, "--address", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=log.open("a"),
        text=True,
        env=env,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server is bound (or has died)
    if not line.startswith("georisk serving on 127.0.0.1:"):
        proc.kill()
        proc.wait(10)
        pytest.fail(f"server did not start: {line!r}; log:\n{log.read_text()[-3000:]}")
    return proc, line.split()[-1]


@dataclass
class Storm:
    """What the writers of a storm were told: acknowledged writes (request id → store version)
    and the writes sent that got no answer (request id → the request, to retry)."""

    acked: dict[str, int] = field(default_factory=dict)
    acked_names: dict[str, str] = field(default_factory=dict)
    unanswered: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


def _source_writer(target: str, k: int, storm: Storm) -> None:
    """Create sources ``storm-K-I`` with request ids until the server stops answering."""
    with grpc.insecure_channel(target) as ch:
        stub = records_pb2_grpc.RecordServiceStub(ch)
        for i in range(10_000):
            if storm.stop.is_set():
                return
            rid = f"storm-{k}-{i}"
            req = records_pb2.CreateRecordRequest(
                parent="sources",
                record=records_pb2.Record(
                    document=_struct(
                        {"id": rid, "title": f"Storm source {k}/{i}", "url": f"https://x/{rid}"}
                    )
                ),
                reason=f"storm write {k}/{i}",
                request_id=rid,
            )
            try:
                got = stub.CreateRecord(req, metadata=_md(WRITER), timeout=10)
            except grpc.RpcError:
                with storm.lock:
                    storm.unanswered[rid] = ("create", req)
                return
            with storm.lock:
                storm.acked[rid] = got.store_version
                storm.acked_names[rid] = got.record.name


def _link_writer(target: str, storm: Storm) -> None:
    """Update one link's note (no etag: last writer wins) with request ids."""
    with grpc.insecure_channel(target) as ch:
        stub = records_pb2_grpc.RecordServiceStub(ch)
        for i in range(10_000):
            if storm.stop.is_set():
                return
            rid = f"storm-note-{i}"
            req = records_pb2.UpdateRecordRequest(
                record=records_pb2.Record(name=LINK, document=_struct({"note": f"storm {i}"})),
                update_mask=field_mask_pb2.FieldMask(paths=["note"]),
                reason=f"storm note {i}",
                request_id=rid,
            )
            try:
                got = stub.UpdateRecord(req, metadata=_md(WRITER), timeout=10)
            except grpc.RpcError:
                with storm.lock:
                    storm.unanswered[rid] = ("update", req)
                return
            with storm.lock:
                storm.acked[rid] = got.store_version
                storm.acked_names[rid] = got.record.name


def _all_changes(stub: Any) -> list[Any]:
    out: list[Any] = []
    token = ""
    while True:
        page = stub.ListChanges(
            records_pb2.ListChangesRequest(page_size=1000, page_token=token),
            metadata=_md(READER),
            timeout=30,
        )
        out += page.changes
        token = page.next_page_token
        if not token:
            return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_in_a_write_storm_loses_no_acknowledged_write(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = _store_url(backend, tmp_path, request)
    log = tmp_path / "server.log"
    proc, target = _serve(url, log)
    storm = Storm()
    threads = [
        threading.Thread(target=_source_writer, args=(target, k, storm)) for k in range(3)
    ] + [threading.Thread(target=_link_writer, args=(target, storm))]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(storm.acked) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # writes are in flight: the writers never stop
        proc.wait(10)
    finally:
        storm.stop.set()
        for t in threads:
            t.join(15)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert len(storm.acked) >= 40, f"only {len(storm.acked)} writes acknowledged in 20 s"
    assert storm.unanswered, "the kill hit no write in flight"

    proc, target = _serve(url, log)  # the restarted server loads the store through the loader
    try:
        with grpc.insecure_channel(target) as ch:
            stub = records_pb2_grpc.RecordServiceStub(ch)
            log_ = _all_changes(stub)
            seqs = [c.store_version for c in log_]
            assert seqs == list(range(1, len(seqs) + 1)), "the change log has gaps"
            by_rid = {c.request_id: c for c in log_ if c.request_id}
            # every acknowledged write is there, at the version it was acknowledged with
            for rid, version in storm.acked.items():
                assert rid in by_rid, f"acknowledged write {rid} lost"
                assert by_rid[rid].store_version == version
                assert by_rid[rid].name == storm.acked_names[rid]
            # no partial write: every source the log created loads, as the log says it is
            for c in log_:
                if c.operation == "create" and c.name.startswith("sources/storm-"):
                    got = stub.GetRecord(
                        records_pb2.GetRecordRequest(name=c.name), metadata=_md(READER)
                    )
                    assert got.record.document == c.after
            note = stub.GetRecord(records_pb2.GetRecordRequest(name=LINK), metadata=_md(READER))
            last_note = [c for c in log_ if c.name == LINK][-1]
            assert note.record.document == last_note.after
            # an unanswered write is all there or not at all; retried, it lands exactly once
            for rid, (op, req) in storm.unanswered.items():
                if op == "create":
                    name = f"sources/{rid}"
                    try:
                        stub.GetRecord(
                            records_pb2.GetRecordRequest(name=name), metadata=_md(READER)
                        )
                        present = True
                    except grpc.RpcError as err:
                        assert err.code() is grpc.StatusCode.NOT_FOUND
                        present = False
                    assert present == (rid in by_rid), rid
                    version = stub.CreateRecord(req, metadata=_md(WRITER), timeout=10).store_version
                else:
                    version = stub.UpdateRecord(req, metadata=_md(WRITER), timeout=10).store_version
                if rid in by_rid:  # the retry is answered from the log: nothing new written
                    assert version == by_rid[rid].store_version
            after = _all_changes(stub)
            assert len(after) == len(log_) + sum(rid not in by_rid for rid in storm.unanswered)
            rids = [c.request_id for c in after if c.request_id]
            assert len(rids) == len(set(rids)), "a request id was written twice"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    _assert_log_and_records_agree(url)


def _assert_log_and_records_agree(url: str) -> None:
    """Straight in the database: every change has the record version it wrote, every record
    version its change, one current version per record; the store loads through the loader."""
    from sqlalchemy import create_engine, text

    from georisk.store import open_store
    from georisk.store.db import normalize_url

    with open_store(url) as store:
        _, seq = store.snapshot()
        assert seq == store.version()
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            one = conn.execute
            orphan_changes = one(
                text(
                    "SELECT count(*) FROM changes c LEFT JOIN records r"
                    " ON r.recorded_from = c.seq AND r.kind = c.kind AND r.id = c.id"
                    " WHERE r.recorded_from IS NULL"
                )
            ).scalar()
            orphan_rows = one(
                text(
                    "SELECT count(*) FROM records r LEFT JOIN changes c ON c.seq = r.recorded_from"
                    " WHERE c.seq IS NULL"
                )
            ).scalar()
            closed_wrong = one(
                text(
                    "SELECT count(*) FROM records r WHERE r.recorded_to IS NOT NULL AND NOT EXISTS"
                    " (SELECT 1 FROM records n WHERE n.kind = r.kind AND n.id = r.id"
                    " AND n.recorded_from = r.recorded_to)"
                )
            ).scalar()
            if engine.dialect.name == "sqlite":
                assert one(text("PRAGMA integrity_check")).scalar() == "ok"
        assert (orphan_changes, orphan_rows, closed_wrong) == (0, 0, 0)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- racing writers, one etag


def _settings(store_url: str) -> Settings:
    env = {"GEORISK_AUTH_TOKENS": TOKENS, "GEORISK_STORE_POLL_SECONDS": "0.1"}
    return Settings.from_env(env, address="127.0.0.1:0", store_url=store_url)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_racing_writers_with_one_etag_exactly_one_wins(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    n = 8
    srv = ServerThread(_settings(_store_url(backend, tmp_path, request))).start()
    try:
        with grpc.insecure_channel(srv.target) as ch:
            stub = records_pb2_grpc.RecordServiceStub(ch)
            got = stub.GetRecord(records_pb2.GetRecordRequest(name=LINK), metadata=_md(READER))
            barrier = threading.Barrier(n)
            results: dict[int, Any] = {}

            def write(k: int) -> None:
                req = records_pb2.UpdateRecordRequest(
                    record=records_pb2.Record(
                        name=LINK, document=_struct({"note": f"writer {k}"}), etag=got.record.etag
                    ),
                    update_mask=field_mask_pb2.FieldMask(paths=["note"]),
                    reason=f"race: writer {k}",
                )
                barrier.wait(10)
                try:
                    results[k] = stub.UpdateRecord(req, metadata=_md(WRITER), timeout=20)
                except grpc.RpcError as err:
                    results[k] = err

            threads = [threading.Thread(target=write, args=(k,)) for k in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            won = [k for k, r in results.items() if isinstance(r, records_pb2.UpdateRecordResponse)]
            lost = [r.code() for r in results.values() if isinstance(r, grpc.RpcError)]
            assert len(won) == 1, results
            assert lost == [grpc.StatusCode.ABORTED] * (n - 1)
            winner = results[won[0]]
            now = stub.GetRecord(records_pb2.GetRecordRequest(name=LINK), metadata=_md(READER))
            assert now.record.document["note"] == f"writer {won[0]}"
            assert now.record.etag == winner.record.etag
            changes = stub.ListChanges(
                records_pb2.ListChangesRequest(name=LINK), metadata=_md(READER)
            ).changes
            assert [c.operation for c in changes] == ["create", "update"]
            assert changes[-1].reason == f"race: writer {won[0]}"
    finally:
        srv.stop()


# ---------------------------------------------------------------- a PostgreSQL outage


def _pg_ctl(pg: PgServer, action: str) -> None:
    data = str(pg.root / "data")
    if action == "stop":
        got = pg.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    else:
        opts = f"-k {pg.root} -c listen_addresses=127.0.0.1 -p {pg.port} {FAST}"
        got = pg.run("pg_ctl", "-D", data, "-o", opts, "-l", str(pg.root / "log"), "-w", "start")
    assert got.returncode == 0, got.stderr


def _score(target: str) -> bytes:
    with grpc.insecure_channel(target) as ch:
        r = scoring_pb2_grpc.ScoringServiceStub(ch).ScoreArrangement(
            scoring_pb2.ScoreArrangementRequest(arrangement_id="gotion-manteno-il", as_of=ON),
            metadata=_md(READER),
            timeout=10,
        )
        own = graph_pb2_grpc.GraphServiceStub(ch).GetOwnership(
            graph_pb2.GetOwnershipRequest(entity_id="gotion-high-tech", as_of=ON),
            metadata=_md(READER),
            timeout=10,
        )
    return bytes(r.SerializeToString() + own.SerializeToString())


def _note_write(stub: Any, note: str, **kw: Any) -> Any:
    return stub.UpdateRecord(
        records_pb2.UpdateRecordRequest(
            record=records_pb2.Record(name=LINK, document=_struct({"note": note})),
            update_mask=field_mask_pb2.FieldMask(paths=["note"]),
            reason=f"outage test: {note}",
            **kw,
        ),
        metadata=_md(WRITER),
        timeout=15,
    )


@pytest.fixture
def two_replicas(pg_server: PgServer) -> Iterator[tuple[ServerThread, ServerThread]]:
    url = _seeded_pg(pg_server)
    a = ServerThread(_settings(url)).start()
    b = ServerThread(_settings(url)).start()
    yield a, b
    a.stop()
    b.stop()


def test_a_postgresql_restart_is_survived_by_serving_replicas(
    pg_server: PgServer, two_replicas: tuple[ServerThread, ServerThread]
) -> None:
    a, b = two_replicas
    before = _score(a.target)
    assert _score(b.target) == before
    with grpc.insecure_channel(a.target) as ch:
        stub = records_pb2_grpc.RecordServiceStub(ch)
        _pg_ctl(pg_server, "stop")
        try:
            time.sleep(0.5)  # a few failed polls on both replicas
            # reads answer from the data served: the same answers, never a wrong one
            assert _score(a.target) == before and _score(b.target) == before
            # writes and log reads fail fast and say why
            for call in (
                lambda: _note_write(stub, "during the outage", request_id="outage-1"),
                lambda: stub.GetRecord(
                    records_pb2.GetRecordRequest(name=LINK), metadata=_md(READER), timeout=15
                ),
                lambda: stub.ListChanges(
                    records_pb2.ListChangesRequest(), metadata=_md(READER), timeout=15
                ),
                # a score as known at a past version needs that version's snapshot
                lambda: scoring_pb2_grpc.ScoringServiceStub(ch).ScoreArrangement(
                    scoring_pb2.ScoreArrangementRequest(
                        arrangement_id="gotion-manteno-il", as_of=ON, known_at_version=1
                    ),
                    metadata=_md(READER),
                    timeout=15,
                ),
            ):
                start = time.monotonic()
                with pytest.raises(grpc.RpcError) as exc:
                    call()
                assert exc.value.code() is grpc.StatusCode.UNAVAILABLE, exc.value.details()
                assert "store" in (exc.value.details() or "")
                assert time.monotonic() - start < 5
            assert _score(a.target) == before
            hstub: Any = health_pb2_grpc.HealthStub(ch)  # the typeshed stub lacks the methods
            health = hstub.Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert health.status == health_pb2.HealthCheckResponse.SERVING  # it still scores
        finally:
            _pg_ctl(pg_server, "start")
        # back: the write, retried as a client retries UNAVAILABLE, lands (once), and the other
        # replica serves it within 2 s
        start = time.monotonic()
        while True:
            try:
                w = _note_write(stub, "after the outage", request_id="outage-1")
                break
            except grpc.RpcError as err:  # the database may still be finishing its recovery
                assert err.code() is grpc.StatusCode.UNAVAILABLE, err.details()
                assert time.monotonic() - start < 10, "writes did not come back within 10 s"
                time.sleep(0.2)
        again = _note_write(stub, "after the outage", request_id="outage-1")
        assert again.store_version == w.store_version
    start = time.monotonic()
    with grpc.insecure_channel(b.target) as ch:
        stub_b = records_pb2_grpc.RecordServiceStub(ch)
        while True:
            got = stub_b.ListChanges(
                records_pb2.ListChangesRequest(name=LINK), metadata=_md(READER), timeout=10
            )
            if got.store_version >= w.store_version:
                break
            assert time.monotonic() - start < 2, "replica B did not follow within 2 s"
            time.sleep(0.05)
        assert got.changes[-1].after["note"] == "after the outage"
    with grpc.insecure_channel(b.target) as ch:
        r = scoring_pb2_grpc.ScoringServiceStub(ch).ScoreArrangement(
            scoring_pb2.ScoreArrangementRequest(arrangement_id="gotion-manteno-il", as_of=ON),
            metadata=_md(READER),
            timeout=10,
        )
    assert r.store_version == w.store_version and r.dataset_version == w.dataset_version
