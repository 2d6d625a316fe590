"""A replica follows the store: the changes since the version it serves, applied in memory
(georisk.store.follow), give the same dataset and the same scores as a fresh snapshot."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from georisk.scoring.dataset import Dataset
from georisk.scoring.engine import DEFAULT_DATA, Engine
from georisk.store import Store, migrate, open_store
from georisk.store.follow import follow, overlay_of

ON = dt.date(2026, 11, 22)


def _tables(ds: Dataset) -> dict[str, Any]:
    return {
        kind: {rid: rec.model_dump() for rid, rec in ds.table(kind).items()}
        for kind in ("source", "entity", "link", "arrangement")
    }


def _writes(store: Store) -> None:
    """A day of an analyst's writes: a source, a company, a stake, a share corrected with a
    note cleared, a stake ended, a list membership ended."""
    kw: dict[str, Any] = {"actor": "analyst", "reason": "test"}
    store.create(
        "source", {"id": "t-src", "title": "test filing", "url": "https://example.org/f"}, **kw
    )
    store.create(
        "entity",
        {
            "id": "t-fund",
            "name": "Test Fund",
            "kind": "fund",
            "country": "CN",
            "sources": ["t-src"],
        },
        **kw,
    )
    store.create(
        "link",
        {
            "id": "t-fund-owns-gotion",
            "kind": "equity",
            "source": "t-fund",
            "target": "gotion-high-tech",
            "share": 0.05,
            "sources": ["t-src"],
        },
        **kw,
    )
    _, etag = store.get("link", "vw-owns-gotion")
    store.update(
        "link", "vw-owns-gotion", {"share": 0.3}, update_mask=["share", "note"], etag=etag, **kw
    )
    _, etag = store.get("link", "t-fund-owns-gotion")
    store.end("link", "t-fund-owns-gotion", valid_to=dt.date(2026, 6, 30), etag=etag, **kw)
    doc, etag = store.get("entity", "catl")
    listed = [m["list"] for m in doc.get("lists", []) if not m.get("until")]
    store.end("entity", "catl", valid_to=dt.date(2026, 12, 31), etag=etag, list_id=listed[0], **kw)


def test_following_the_changes_gives_the_snapshot(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    migrate(url)
    store = open_store(url)
    seq = store.init_from(DEFAULT_DATA, actor="ops", reason="seed")
    served, _ = store.snapshot()
    _writes(store)
    page, _ = store.changes(after_seq=seq)
    assert [c.op for c in page] == ["create", "create", "create", "update", "end", "end"]
    # all at once, and one change at a time (as a replica polling often would)
    at_once = follow(served, page)
    one_by_one = served
    for c in page:
        one_by_one = follow(one_by_one, [c])
    snap, _ = store.snapshot()
    for got in (at_once, one_by_one):
        assert got.version == snap.version
        assert _tables(got) == _tables(snap)
        assert got.base is served  # the edits share the served dataset's unchanged parts
    assert "note" not in store.get("link", "vw-owns-gotion")[0]
    assert at_once.links["vw-owns-gotion"].note is None
    base = Engine.from_dir(DEFAULT_DATA)
    followed, fresh = base.with_dataset(at_once), base.with_dataset(snap)
    # the followed dataset's graph is derived from the served one's (arrays patched, the
    # base's analytics reused), not built again: what keeps a replica's cost to the change
    for got in (at_once, one_by_one):
        assert followed.with_dataset(got).graph(ON).derivation is not None
    for aid in sorted(snap.arrangements):
        a = followed.score(aid, ON, "current-law").model_dump()
        b = fresh.score(aid, ON, "current-law").model_dump()
        assert a == b, aid
    store.close()


def test_a_record_created_and_changed_in_one_batch_is_added_as_it_ends() -> None:
    from georisk.store.store import Change

    ds = Engine.from_dir(DEFAULT_DATA).dataset
    at = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
    doc = {"id": "t-src", "title": "a", "url": "https://example.org/a"}

    def change(seq: int, op: str, after: dict[str, Any]) -> Change:
        return Change(seq, at, "a", "r", None, op, "source", "t-src", None, after, f"v@{seq}")

    ov = overlay_of(ds, [change(1, "create", doc), change(2, "update", {**doc, "title": "b"})])
    assert [s["title"] for s in ov.add.sources] == ["b"] and not ov.change.sources


def test_writes_are_checked_incrementally_and_refusals_worded_by_the_loader(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """With a dataset adopted, a valid write is checked against it incrementally (the whole-
    dataset check never runs); a refused one too, in the words of the whole check (the
    loader's); a write of another process is caught up with, not missed."""
    import pytest

    import georisk.store.store as store_mod
    from georisk.store import InvalidWrite

    url = f"sqlite:///{tmp_path / 'g.db'}"
    migrate(url)
    store, other = open_store(url), open_store(url)
    seq = store.init_from(DEFAULT_DATA, actor="ops", reason="seed")
    store.adopt(seq, store.snapshot()[0])
    other.adopt(seq, other.snapshot()[0])  # (else its first write is checked whole, counted)
    whole = []
    real = store_mod._validated

    def counted(*a: Any, **k: Any) -> Any:
        whole.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(store_mod, "_validated", counted)
    kw: dict[str, Any] = {"actor": "a", "reason": "r"}
    _, etag = store.get("link", "vw-owns-gotion")
    store.update("link", "vw-owns-gotion", {"share": 0.3}, update_mask=["share"], etag=etag, **kw)
    assert whole == []
    big = {
        "id": "t-big",
        "kind": "equity",
        "source": "volkswagen",
        "target": "gotion-high-tech",
        "share": 0.9,
        "sources": ["a21"],
    }
    with pytest.raises(InvalidWrite) as exc:  # Gotion's owners already hold most of it
        store.create("link", big, **kw)
    assert whole == [] and "100%" in exc.value.reason.replace(" %", "%")
    # the same refusal as the whole check's, field, reason and every issue (a third store
    # that has adopted nothing checks whole), without its cost (minutes at 1M entities)
    third = open_store(url)
    with pytest.raises(InvalidWrite) as exc_whole:
        third.create("link", big, **kw)
    third.close()
    assert whole == ["link"]
    assert exc.value.violations == exc_whole.value.violations
    assert exc.value.issues == exc_whole.value.issues
    # a changed link that pushes a total over 100%: refused incrementally, on the written link
    _, etag = store.get("link", "vw-owns-gotion")
    with pytest.raises(InvalidWrite) as exc:
        store.update(
            "link", "vw-owns-gotion", {"share": 0.99}, update_mask=["share"], etag=etag, **kw
        )
    assert whole == ["link"] and exc.value.field == "link.share"
    assert (
        "(links/vw-owns-gotion)" in exc.value.reason and "li-zhen-owns-gotion" in exc.value.reason
    )
    # a record refused on its own (a share above 1) is answered from the record check alone,
    # in the loader's words, without the whole-dataset check (minutes at 1M entities)
    _, etag = store.get("link", "vw-owns-gotion")
    with pytest.raises(InvalidWrite) as exc:
        store.update(
            "link", "vw-owns-gotion", {"share": 1.5}, update_mask=["share"], etag=etag, **kw
        )
    assert whole == ["link"] and exc.value.field == "link.share"
    # another process (another Store on the same database) writes; this one catches up
    _, etag = other.get("link", "vw-owns-gotion")
    other.update("link", "vw-owns-gotion", {"share": 0.28}, update_mask=["share"], etag=etag, **kw)
    _, etag = store.get("link", "vw-votes-gotion")
    store.update(
        "link", "vw-votes-gotion", {"note": "checked"}, update_mask=["note"], etag=etag, **kw
    )
    assert whole == ["link"]
    checked = store._checked
    assert checked is not None
    snap = store.snapshot()[0]
    assert checked[0] == store.version() and checked[1].version == snap.version
    assert _tables(checked[1]) == _tables(snap)
    store.close()
    other.close()


def test_export_from_a_store_as_known_at_a_version(tmp_path: Path) -> None:
    """`georisk export FORMAT --store URL [--known-at V]`: the store's dataset, now or as it
    was, in any export format (here GraphML, read back with NetworkX)."""
    import networkx as nx

    from georisk.cli import main

    url = f"sqlite:///{tmp_path / 'g.db'}"
    migrate(url)
    store = open_store(url)
    seq = store.init_from(DEFAULT_DATA, actor="ops", reason="seed")
    _, etag = store.get("link", "vw-owns-gotion")
    store.update(
        "link",
        "vw-owns-gotion",
        {"share": 0.3},
        update_mask=["share"],
        etag=etag,
        actor="a",
        reason="A21",
    )
    store.close()

    def vw_share(path: Path) -> Any:
        g = nx.read_graphml(path)
        (d,) = [d for _, _, k, d in g.edges(keys=True, data=True) if k == "vw-owns-gotion"]
        return d["share_text"]

    now, then = tmp_path / "now.graphml", tmp_path / "then.graphml"
    assert main(["export", "graphml", "--store", url, "-o", str(now), "--as-of", "2026-11-22"]) == 0
    assert (
        main(
            [
                "export",
                "graphml",
                "--store",
                url,
                "--known-at",
                str(seq),
                "-o",
                str(then),
                "--as-of",
                "2026-11-22",
            ]
        )
        == 0
    )
    assert (vw_share(now), vw_share(then)) == ("30%", "26.47–30%")
    assert main(["export", "graphml", "data", "--store", url, "-o", str(now)]) == 2
    assert main(["export", "graphml", "--known-at", "1", "-o", str(now)]) == 2


def test_a_long_run_of_followed_writes_stays_one_level_deep() -> None:
    """A store-backed server applies one overlay per write to the dataset it serves; 1,200 of
    them in a row (more than Python's recursion limit) still say where each record was read
    (the soak found a chain of origins that recursed once per write)."""
    from georisk.scoring.dataset import load_dataset
    from georisk.scoring.overlay import apply_overlay, parse_overlay

    ds = load_dataset(DEFAULT_DATA)
    cur = ds
    for i in range(1200):
        cur = apply_overlay(
            cur,
            parse_overlay(
                {
                    "arrangement": "ford-marshall",
                    "change": {"links": [{"id": "vw-owns-gotion", "note": f"write {i}"}]},
                    "add": {"sources": [{"id": f"s-{i}", "title": "t", "url": "https://x.org"}]},
                }
            ),
        )
    assert cur.links["vw-owns-gotion"].note == "write 1199"
    assert len(cur.overlay_digest) <= 160 and len(cur.version) < 400  # keys do not grow
    assert cur.origin_of("source", "s-1199") == "overlay: add.sources[0] (id=s-1199)"
    assert cur.origin_of("source", "a20") == ds.origin_of("source", "a20")
    gone = apply_overlay(cur, parse_overlay({"arrangement": "x", "remove": {"sources": ["s-5"]}}))
    assert gone.origin_of("source", "s-5") is None and len(gone.origin) == len(cur.origin) - 1


def test_a_replica_starts_from_the_directory_the_store_was_seeded_from(tmp_path: Path) -> None:
    """A server with `--store` whose data directory is the one the store was seeded from loads
    that directory (the loader, or its columnar snapshot) and follows the changes since, rather
    than parsing every stored record; it serves exactly the store's newest snapshot. A store
    seeded from another directory is served from its snapshot."""
    import shutil

    import pytest

    from georisk.scoring.dataset import load_dataset
    from georisk.server.settings import Settings
    from georisk.store import Store as StoreClass
    from tests.server_harness import ServerThread

    url = f"sqlite:///{tmp_path / 'g.db'}"
    migrate(url)
    store = open_store(url)
    seq = store.init_from(DEFAULT_DATA, actor="ops", reason="seed")
    assert store.seq_of_version(load_dataset(DEFAULT_DATA).version) == seq
    assert store.seq_of_version("sha256:nothing") is None
    _writes(store)
    snap, last = store.snapshot()
    calls: list[str] = []
    real = StoreClass.snapshot

    def counting(self: StoreClass, **kw: Any) -> Any:
        calls.append("snapshot")
        return real(self, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(StoreClass, "snapshot", counting)
    try:
        srv = ServerThread(Settings.from_env({}, address="127.0.0.1:0", store_url=url)).start()
        try:
            assert srv.app is not None
            state = srv.app.state
            assert state.store_version == last and state.version == snap.version
            assert calls == []  # followed from the directory, no snapshot parsed
            assert _tables(state.engine.dataset) == _tables(snap)
            got = state.engine.score("gotion-manteno-il", ON, "current-law").model_dump()
            fresh = Engine.from_dir(DEFAULT_DATA, "all").with_dataset(snap)  # the server default
            assert got == fresh.score("gotion-manteno-il", ON, "current-law").model_dump()
        finally:
            srv.stop()
        # another directory (one source's title differs): the store's own snapshot is served
        other = tmp_path / "other"
        shutil.copytree(DEFAULT_DATA, other)
        text = (other / "sources.yaml").read_text()
        (other / "sources.yaml").write_text(text.replace("  title: '", "  title: 'x", 1))
        assert load_dataset(other).version != load_dataset(DEFAULT_DATA).version
        settings = Settings.from_env({}, address="127.0.0.1:0", store_url=url, data_dir=other)
        srv = ServerThread(settings).start()
        try:
            assert srv.app is not None
            assert calls == ["snapshot"] and srv.app.state.version == snap.version
        finally:
            srv.stop()
    finally:
        mp.undo()
        store.close()
