"""georisk.store on SQLite and on a real PostgreSQL server (tests/pg_harness.py): the store
holds what the directory holds, records who changed what and why, refuses what the loader
refuses, lets exactly one of racing writers win, and gives back the dataset (and so the
scores) as known at any earlier version."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from georisk.cli import main
from georisk.scoring.dataset import Dataset, load_dataset
from georisk.scoring.engine import Engine
from georisk.scoring.policy import load_pack, load_scenarios
from georisk.store import (
    AlreadyExists,
    Conflict,
    IdempotencyMismatch,
    InvalidWrite,
    NotFound,
    SchemaOutdated,
    Store,
    StoreNotEmpty,
    migrate,
    open_store,
)
from tests.conftest import DATA, TODAY
from tests.pg_harness import PgServer, create_database

WHO = {"actor": "analyst@example.org", "reason": "test"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated store URL of each backend."""
    if request.param == "sqlite":
        u = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        u = create_database(request.getfixturevalue("pg_url"))
    assert migrate(u) == "0002"
    return u


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    """A store seeded from data/."""
    with open_store(url) as s:
        s.init_from(DATA, actor="ops", reason="seed from data/")
        yield s


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One store seeded from data/ per backend, shared by the tests whose writes are refused
    (each checks that nothing changed)."""
    if request.param == "sqlite":
        u = f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'store.db'}"
    else:
        u = create_database(request.getfixturevalue("pg_url"))
    migrate(u)
    with open_store(u) as s:
        s.init_from(DATA, actor="ops", reason="seed from data/")
        yield s


def _same_records(a: Dataset, b: Dataset) -> None:
    for kind in ("source", "entity", "link", "arrangement"):
        ta, tb = a.table(kind), b.table(kind)
        assert list(ta) == list(tb), kind  # same ids, same order
        assert all(ta[i] == tb[i] for i in tb), kind


def test_a_store_of_the_previous_schema_is_refused_until_migrated(url: str) -> None:
    """Schema revisions are Alembic's: a store taken back to 0001 (what an older release
    reads) is refused by this code with the command to run, and `migrate` brings it to 0002
    (the dataset-version index) with every record and change kept."""
    with open_store(url) as s:
        s.init_from(DATA, actor="ops", reason="seed")
        before, seq = s.snapshot()
    assert migrate(url, to="0001") == "0001"
    with pytest.raises(SchemaOutdated, match="run georisk store migrate"):
        open_store(url)
    assert migrate(url) == "0002"
    with open_store(url) as s:
        after, again = s.snapshot()
        assert again == seq and after.version == before.version
        assert s.seq_of_version(load_dataset(DATA).version) == seq
    _same_records(after, before)


def test_init_then_snapshot_is_the_directory(url: str) -> None:
    directory = load_dataset(DATA)
    with open_store(url) as s:
        assert s.version() == 0
        seq = s.init_from(DATA, actor="ops", reason="seed")
        n = sum(len(directory.table(k)) for k in ("source", "entity", "link", "arrangement"))
        assert seq == n == s.version()
        ds, at = s.snapshot()
        assert at == seq
        assert ds.version == directory.version  # scores carry the same dataset version
        _same_records(ds, directory)
        with pytest.raises(StoreNotEmpty):
            s.init_from(DATA, actor="ops", reason="again")
        assert s.version() == seq


def test_writes_are_logged_with_actor_reason_before_and_after(store: Store) -> None:
    v0 = store.version()
    w1 = store.create(
        "entity",
        {"id": "acme", "name": "Acme Cells", "kind": "company", "country": "cn", "sources": ["a1"]},
        actor="alice",
        reason="A1 names Acme",
    )
    assert w1.version == v0 + 1 and w1.doc["country"] == "CN"  # stored as the loader reads it
    link = {"id": "acme-owns-ford", "kind": "equity", "source": "acme", "target": "ford",
            "share": 0.05, "valid_from": "2025-01-01", "sources": ["a1"]}  # fmt: skip
    w2 = store.create("link", link, actor="alice", reason="A1: 5% stake")
    w3 = store.update(
        "link", "acme-owns-ford", {"share": {"minimum": 0.05, "maximum": 0.08}, "note": "x"},
        update_mask=["share"], etag=w2.etag, actor="bob", reason="range per A2",
    )  # fmt: skip
    assert w3.doc["share"] == {"minimum": 0.05, "maximum": 0.08} and "note" not in w3.doc
    w4 = store.end(
        "link", "acme-owns-ford", valid_to=dt.date(2025, 6, 30), etag=w3.etag,
        actor="carol", reason="sold, A3",
    )  # fmt: skip
    assert store.get("link", "acme-owns-ford") == (w4.doc, w4.etag)
    assert w4.doc["valid_to"] == "2025-06-30"
    got, nxt = store.changes(after_seq=v0)
    assert nxt is None
    assert [(c.op, c.kind, c.id, c.actor, c.reason) for c in got] == [
        ("create", "entity", "acme", "alice", "A1 names Acme"),
        ("create", "link", "acme-owns-ford", "alice", "A1: 5% stake"),
        ("update", "link", "acme-owns-ford", "bob", "range per A2"),
        ("end", "link", "acme-owns-ford", "carol", "sold, A3"),
    ]
    assert got[0].before is None and got[2].before == w2.doc and got[2].after == w3.doc
    assert got[3].before == w3.doc and got[3].after == w4.doc
    page, nxt = store.changes(after_seq=v0, page_size=3, kind="link", id="acme-owns-ford")
    assert [c.seq for c in page] == [v0 + 2, v0 + 3, v0 + 4] and nxt is None
    page, nxt = store.changes(after_seq=0, page_size=2)
    assert nxt == 2 and [c.seq for c in page] == [1, 2]
    # the list memberships are part of the entity: end one, then it is history
    _doc, tag = store.get("entity", "catl")
    w5 = store.end("entity", "catl", list_id="dod-1260h", valid_to=dt.date(2026, 1, 31),
                   etag=tag, **WHO)  # fmt: skip
    assert [m.get("until") for m in w5.doc["lists"] if m["list"] == "dod-1260h"] == ["2026-01-31"]
    ds, _ = store.snapshot()
    assert "catl" in ds.listed_on("dod-1260h", dt.date(2026, 1, 31))
    assert "catl" not in ds.listed_on("dod-1260h", dt.date(2026, 2, 1))
    with pytest.raises(AlreadyExists):
        store.create("entity", {"id": "acme", "name": "A", "kind": "company"}, **WHO)
    with pytest.raises(NotFound):
        store.get("link", "no-such-link")


def test_a_stale_etag_is_refused_and_changes_nothing(store: Store) -> None:
    _doc, tag = store.get("link", "vw-owns-gotion")
    store.update("link", "vw-owns-gotion", {"share": 0.3}, update_mask=["share"], etag=tag, **WHO)
    v = store.version()
    with pytest.raises(Conflict) as err:
        store.update("link", "vw-owns-gotion", {"share": 0.29}, update_mask=["share"],
                     etag=tag, **WHO)  # fmt: skip
    assert err.value.status == "ABORTED" and err.value.field == "link.etag"
    assert store.version() == v and store.get("link", "vw-owns-gotion")[0]["share"] == 0.3


def test_racing_writers_on_one_etag_exactly_one_wins(store: Store) -> None:
    n = 8
    _, tag = store.get("link", "vw-owns-gotion")
    v = store.version()
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def write(i: int) -> None:
        barrier.wait()
        try:
            results[i] = store.update(
                "link", "vw-owns-gotion", {"share": 0.27 + i / 1000}, update_mask=["share"],
                etag=tag, actor=f"writer-{i}", reason="race",
            )  # fmt: skip
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1, results
    assert all(isinstance(r, Conflict) for r in results if r is not wins[0]), results
    assert store.version() == v + 1
    assert store.get("link", "vw-owns-gotion")[0]["share"] == wins[0].doc["share"]


def test_a_retried_request_id_writes_once(store: Store) -> None:
    _, tag = store.get("link", "vw-owns-gotion")
    args: dict[str, Any] = dict(update_mask=["share"], etag=tag, request_id="req-1", **WHO)
    first = store.update("link", "vw-owns-gotion", {"share": 0.3}, **args)
    again = store.update("link", "vw-owns-gotion", {"share": 0.3}, **args)
    assert again == first and store.version() == first.version
    assert len(store.changes(kind="link", id="vw-owns-gotion")[0]) == 2  # init, one update
    with pytest.raises(IdempotencyMismatch) as err:
        store.update("link", "vw-owns-gotion", {"share": 0.31}, **args)
    assert err.value.field == "request_id" and store.version() == first.version


@pytest.mark.parametrize(
    ("write", "field", "words"),
    [
        (lambda s: s.create("link", {"id": "x", "kind": "equity", "source": "ford",
                                     "target": "catl", "share": 1.5, "sources": ["a1"]}, **WHO),
         "link.share", "less than or equal to 1"),
        (lambda s: s.create("entity", {"id": "x", "name": "X", "kind": "company",
                                       "sources": ["a1", "no-such-source"]}, **WHO),
         "entity.sources[1]", "unknown source 'no-such-source'"),
        (lambda s: s.create("link", {"id": "x", "kind": "equity", "source": "catl",
                                     "target": "gotion-high-tech", "share": 0.9,
                                     "sources": ["a1"]}, **WHO),
         "link.share", "adds up to"),
        (lambda s: s.create("link", {"id": "x", "kind": "equity", "source": "ford",
                                     "target": "nobody", "share": 0.1, "sources": ["a1"]}, **WHO),
         "link.target", "unknown entity 'nobody'"),
        (lambda s: s.update("entity", "catl", {}, update_mask=["sources"], etag=None, **WHO),
         "entity.sources", "every fact needs a source"),
        (lambda s: s.update("link", "vw-owns-gotion", {"share": 0.3}, update_mask=["share"],
                            etag=None, actor="x", reason="  "),
         "reason", "non-empty reason"),
        (lambda s: s.update("link", "vw-owns-gotion", {"shares": 0.3},
                            update_mask=["shares", "licence.colour", "note"], etag=None, **WHO),
         "update_mask", "shares, licence.colour"),
        (lambda s: s.end("link", "vw-owns-gotion", valid_to=dt.date(2020, 1, 1), etag=None,
                         **WHO),
         "link.valid_to", "before valid_from"),
        (lambda s: s.end("source", "a1", valid_to=dt.date(2020, 1, 1), etag=None, **WHO),
         "kind", "no valid time"),
    ],
    ids=["bad-share", "unknown-source", "equity-over-100", "unknown-target", "unsourced",
         "no-reason", "unknown-mask-path", "end-before-start", "end-a-source"],
)  # fmt: skip
def test_an_invalid_write_names_the_field_and_changes_nothing(
    seeded: Store, write: Any, field: str, words: str
) -> None:
    store = seeded
    v = store.version()
    with pytest.raises(InvalidWrite) as err:
        write(store)
    assert err.value.field == field and err.value.status == "INVALID_ARGUMENT"
    assert words in err.value.reason, err.value.reason
    assert err.value.violations[0] == (err.value.field, err.value.reason)
    assert store.version() == v
    assert store.get("link", "vw-owns-gotion")[0]["valid_from"] == "2021-12-15"


def _engine(ds: Dataset) -> Engine:
    pack = load_pack(DATA / "policies" / "us.yaml")
    return Engine(ds, pack, load_scenarios(DATA / "policies" / "us.scenarios.yaml", pack))


def test_a_snapshot_as_known_at_an_earlier_version_scores_as_then(store: Store) -> None:
    before, v0 = store.snapshot()
    then = _engine(before).score("ford-marshall", TODAY).model_dump()
    at0 = store.changes(after_seq=v0 - 1)[0][0].at
    _, tag = store.get("link", "catl-licence-ford-marshall")
    store.end("link", "catl-licence-ford-marshall", valid_to=dt.date(2024, 1, 1), etag=tag,
              actor="analyst", reason="licence terminated (hypothetical)")  # fmt: skip
    _, tag = store.get("link", "ford-owns-blueoval-mi")
    w = store.update("link", "ford-owns-blueoval-mi", {"share": 0.49}, update_mask=["share"],
                 etag=tag, actor="analyst", reason="stake sold down (hypothetical)")  # fmt: skip
    now_ds, v2 = store.snapshot()
    assert v2 == v0 + 2 and now_ds.version != before.version
    assert (
        now_ds.version == w.dataset_version == store.changes(after_seq=v0 + 1)[0][0].dataset_version
    )
    now = _engine(now_ds).score("ford-marshall", TODAY).model_dump()
    assert now != then  # the writes matter to this score
    for known_at in (v0, at0):
        again_ds, seq = store.snapshot(as_known_at=known_at)
        assert seq == v0 and again_ds.version == before.version
        _same_records(again_ds, before)
        assert _engine(again_ds).score("ford-marshall", TODAY).model_dump() == then


def test_export_round_trips(store: Store, tmp_path: Path) -> None:
    _, tag = store.get("link", "vw-owns-gotion")
    store.update("link", "vw-owns-gotion", {"share": 0.3}, update_mask=["share"], etag=tag, **WHO)
    out = tmp_path / "exported"
    assert store.export(out) == store.version()
    _same_records(load_dataset(out), store.snapshot()[0])
    first = tmp_path / "first"
    store.export(first, as_known_at=1)
    assert [p.name for p in sorted(first.iterdir())] == [
        "arrangements.yaml", "entities.yaml", "links.yaml", "sources.yaml",
    ]  # fmt: skip
    assert len(load_dataset(first).sources) == 1
    with pytest.raises(Exception, match="not an empty directory"):
        store.export(out)


def test_an_unmigrated_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaOutdated, match="georisk store migrate"):
        open_store(f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(ValueError, match="sqlite:///PATH"):
        open_store("sqlite://")


def test_the_store_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["store", "init", url, "--from", str(DATA), "--reason", "seed"]) == 0
    assert main(["store", "init", url, "--from", str(DATA)]) == 3  # not empty
    assert "not empty" in capsys.readouterr().err
    assert main(["store", "migrate", url]) == 0
    assert main(["store", "export", url, "-o", str(tmp_path / "out")]) == 0
    _same_records(load_dataset(tmp_path / "out"), load_dataset(DATA))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.yaml").write_text("links: [{id: a}]\n")
    assert main(["store", "init", f"sqlite:///{tmp_path / 't.db'}", "--from", str(bad)]) == 3
    assert main(["store", "export", "mysql://x/y", "-o", str(tmp_path / "o2")]) == 2
    with open_store(url) as s:
        assert s.changes(page_size=1)[0][0].reason == "seed"


def test_writes_valid_alone_but_not_together_cannot_both_commit(store: Store) -> None:
    """Two new stakes into one company, each fitting alone, together over 100%: the writes are
    serialized and validated against the dataset as committed, so exactly one lands."""
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def write(i: int) -> None:
        link = {"id": f"stake-{i}", "kind": "equity", "source": ["catl", "ford"][i],
                "target": "gotion-high-tech", "share": 0.5, "sources": ["a1"]}  # fmt: skip
        barrier.wait()
        try:
            results[i] = store.create("link", link, **WHO)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    refused = [r for r in results if isinstance(r, InvalidWrite)]
    assert len(refused) == 1 and refused[0].field == "link.share", results
    assert "adds up to" in refused[0].reason


def test_update_mask_forms(store: Store) -> None:
    doc, tag = store.get("link", "catl-licence-ford-marshall")
    w = store.update("link", doc["id"], {"licence": {"chemistry": "LMFP"}},
                     update_mask=["licence.chemistry"], etag=tag, **WHO)  # fmt: skip
    assert w.doc["licence"] == {**doc["licence"], "chemistry": "LMFP"}  # the rest kept
    w = store.update("link", doc["id"], {"status": "reported"}, update_mask=None,
                     etag=w.etag, **WHO)  # fmt: skip
    assert w.doc["status"] == "reported" and w.doc["note"] == doc["note"]
    whole = {k: v for k, v in doc.items() if k not in ("note", "licence")}
    w = store.update("link", doc["id"], whole, update_mask=["*"], etag=w.etag, **WHO)
    assert w.doc == whole
    with pytest.raises(InvalidWrite, match="cannot change"):
        store.update("link", doc["id"], {"id": "other"}, update_mask=["id"], etag=None, **WHO)


def test_a_postgresql_restart_is_survived(pg_server: PgServer) -> None:
    """The server goes down (as in a crash) and comes back: the store reconnects, every
    acknowledged write is there, and the next write lands."""
    url = create_database(pg_server.url)
    migrate(url)
    with open_store(url) as s:
        s.init_from(DATA, **WHO)
        _, tag = s.get("link", "vw-owns-gotion")
        w = s.update("link", "vw-owns-gotion", {"share": 0.3}, update_mask=["share"], etag=tag,
                     **WHO)  # fmt: skip
        pg_server.restart()
        assert s.get("link", "vw-owns-gotion") == (w.doc, w.etag)
        w2 = s.update("link", "vw-owns-gotion", {"share": 0.29}, update_mask=["share"],
                      etag=w.etag, **WHO)  # fmt: skip
        assert w2.version == w.version + 1 and s.snapshot()[1] == w2.version


_WRITER = """
import sys
from georisk.store import open_store
s = open_store(sys.argv[1])
for i in range(100000):
    w = s.update("link", "vw-owns-gotion", {"note": f"write {i}"}, update_mask=["note"],
                 etag=None, actor="storm", reason=f"write {i}")
    print(w.version, flush=True)
"""


def test_sigkill_during_a_write_storm_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """SQLite runs inside the writing process: kill -9 it mid-storm; every write it had
    acknowledged is there, none is half there (each change has its record version), and the
    store still loads."""
    import signal
    import subprocess
    import sys

    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate(url)
    with open_store(url) as s:
        base = s.init_from(DATA, **WHO)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, url], stdout=subprocess.PIPE, text=True, cwd=DATA.parent
    )
    assert proc.stdout is not None
    acked = [int(proc.stdout.readline()) for _ in range(40)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with open_store(url) as s:
        last = s.version()
        assert last >= acked[-1] == base + 40
        assert s.snapshot()[1] == last  # loads, through the loader's checks
        assert len(s.changes(after_seq=base, page_size=10_000)[0]) == last - base
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM changes c LEFT JOIN records r ON r.recorded_from = c.seq"
                " WHERE r.recorded_from IS NULL"
            )
        ).scalar()
        assert orphans == 0
    engine.dispose()


def test_the_change_log_times_never_go_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    migrate(url)
    times = iter(
        [dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC), dt.datetime(2026, 11, 1, tzinfo=dt.UTC)]
    )
    with open_store(url, now=lambda: next(times)) as s:
        v = s.init_from(DATA, **WHO)
        _, tag = s.get("link", "vw-owns-gotion")
        s.update("link", "vw-owns-gotion", {"share": 0.3}, update_mask=["share"], etag=tag, **WHO)
        last = s.changes(after_seq=v)[0][0]
        assert last.at == dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)  # not 1 November
        assert s.seq_at(dt.datetime(2026, 12, 1, 12)) == v + 1
        assert s.seq_at(dt.datetime(2026, 11, 30, tzinfo=dt.UTC)) == 0


def test_the_migrations_make_the_schema_the_code_uses(url: str) -> None:
    """schema.py (what the code reads and writes) and the migrations (what makes the database)
    agree: Alembic's autogenerate comparison finds no difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from georisk.store.db import normalize_url
    from georisk.store.schema import metadata

    engine = create_engine(normalize_url(url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_every_problem_of_a_refused_write_is_a_field_violation(seeded: Store) -> None:
    link = {"id": "x", "kind": "equity", "source": "nobody", "target": "ford", "share": 0.1,
            "sources": ["a1", "nowhere"]}  # fmt: skip
    with pytest.raises(InvalidWrite) as err:
        seeded.create("link", link, **WHO)
    assert [f for f, _ in err.value.violations] == ["link.source", "link.sources[1]"]
    assert len(err.value.issues) == 2


def test_a_replica_waiting_for_a_change_wakes_at_the_write(url: str) -> None:
    """PostgreSQL: a write NOTIFYs (at commit), and a replica's wait_for_change returns at once
    instead of at its next poll; SQLite has no notifications, so the wait is the poll's."""
    import threading
    import time

    with open_store(url) as writer, open_store(url) as replica:
        writer.init_from(DATA, actor="ops", reason="seed")
        pg = url.startswith("postgresql")
        if pg:  # listening from before the write, as a replica in service is
            assert replica.wait_for_change(0.05) is False
        woke: list[float] = []

        def wait() -> None:
            t = time.monotonic()
            if replica.wait_for_change(10.0 if pg else 0.2):
                woke.append(time.monotonic() - t)

        th = threading.Thread(target=wait)
        th.start()
        time.sleep(0.3)
        _, etag = writer.get("link", "vw-owns-gotion")
        writer.update("link", "vw-owns-gotion", {"share": 0.3}, update_mask=["share"],
                      etag=etag, **WHO)  # fmt: skip
        th.join(15)
        if pg:
            assert len(woke) == 1 and woke[0] < 5.0, woke  # not the 10 s timeout
        else:
            assert woke == []
