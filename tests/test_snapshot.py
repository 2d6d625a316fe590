"""The columnar snapshot (docs/snapshot.md): a dataset opened from it is the validated dataset,
record for record; it is used only for the very files it was made from; a corrupt one is
replaced; a read-only data directory still gets one; and scores do not change."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

import georisk.scoring.dataset.load as load_mod
from georisk.scoring.dataset import Dataset, DatasetError, load_dataset
from georisk.scoring.dataset.snapshot import (
    EntityTable,
    JsonTable,
    PatchedTable,
    SnapshotError,
    SortedIdIndex,
    StrColumn,
    open_snapshot,
    snapshot_wanted,
)
from georisk.scoring.engine import DEFAULT_DATA, Engine
from georisk.scoring.overlay import apply_overlay, parse_overlay
from georisk.synth import SynthSpec, generate

ON = dt.date(2026, 11, 22)


def _fields(x: Any) -> Any:
    """A record's values and which fields were given, nested models included."""
    if isinstance(x, BaseModel):
        return (sorted(x.model_fields_set), {k: _fields(v) for k, v in x.__dict__.items()})
    if isinstance(x, list):
        return [_fields(v) for v in x]
    return x


def same(got: Dataset, ref: Dataset) -> None:
    """Every record equal field by field (and given the same fields), in the same order, read
    from the same place; the same version, link arrays, date boundaries and list members."""
    assert got.version == ref.version
    for kind in ("source", "entity", "link", "arrangement"):
        a, b = ref.table(kind), got.table(kind)
        assert list(b) == list(a), kind
        assert len(b) == len(a), kind
        for k, rec in a.items():
            assert k in b
            assert b[k] == rec, (kind, k)
            assert _fields(b[k]) == _fields(rec), (kind, k)
            assert got.origin_of(kind, k) == ref.origin_of(kind, k), (kind, k)
            assert got.locate(kind, k) == ref.locate(kind, k), (kind, k)
            assert got.position(kind, k) == ref.position(kind, k), (kind, k)
        assert "no-such-id" not in b
    x, y = ref.store.arrays(), got.store.arrays()
    for f in ("source", "target", "kind", "lo", "hi", "valid_from", "valid_to"):
        assert np.array_equal(getattr(x, f), getattr(y, f)), f
    assert list(got.store.entity_ids) == list(ref.store.entity_ids)
    assert got.link_boundaries == ref.link_boundaries
    assert got.listed == ref.listed
    for f in ("kind", "country", "principal_place", "us_person", "unconfirmed", "sources"):
        assert got.entity_field(f) == ref.entity_field(f), f


@pytest.fixture
def snapdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "snapshots"
    monkeypatch.setenv("GEORISK_SNAPSHOT_DIR", str(d))
    return d


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small bulk dataset with the rarer fields too: rows the column readers hand to the
    reference path, entities with lists, aliases, identifiers and notes, YAML links."""
    d = tmp_path_factory.mktemp("synth")
    generate(SynthSpec(entities=400, arrangements=40, seed=5), d)
    links = (d / "synth.links.csv").read_text().splitlines()
    header = links[0].split(",")
    row = dict.fromkeys(header, "")
    row |= {"id": "odd-1", "kind": "supply", "source": "e0000010", "target": "e0000011"}
    row |= {"share": " 0.25", "sources": "synth", "note": "a note"}  # a blank: reference path
    links.append(",".join(row[h] for h in header))
    # two bulk link files: two column blocks in the snapshot
    (d / "synth.links.csv").write_text("\n".join(links[:-150]) + "\n")
    (d / "b.links.csv").write_text("\n".join([links[0], *links[-150:]]) + "\n")
    (d / "extra.yaml").write_text(
        """
entities:
  - id: x-listed
    name: "  Listed Co  "
    kind: company
    country: cn
    aliases: ["Listed; Co", "L C"]
    lists: [{list: dod-1260h, since: 2024-01-31, sources: [synth], note: n}]
    identifiers: [{scheme: XI-LEI, id: "5493001KJTIIGC8Y1R12"}]
    unconfirmed: true
    unconfirmed_note: which
  - {id: x-person, name: P, kind: person, country: US, us_person: false}
links:
  - id: x-l1
    kind: licence
    source: x-listed
    target: e0000012
    licence: {technology: LFP, signed: 2023-05-01, licensor_controls: [operations]}
    sources: [synth]
  - {id: x-l2, kind: equity, source: x-person, target: x-listed,
     share: {minimum: 0.1, exclusive_minimum: true}, valid_to: 2030-01-01, sources: [synth]}
"""
    )
    return d


def test_small_datasets_get_no_snapshot_unless_asked(
    snapdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not snapshot_wanted(1 << 20) and snapshot_wanted(1 << 30)
    ds = load_dataset(DEFAULT_DATA)
    assert ds.snapshot is None and not snapdir.exists()
    monkeypatch.setenv("GEORISK_SNAPSHOT_MIN_BYTES", "1")
    assert load_dataset(DEFAULT_DATA).snapshot is not None
    monkeypatch.setenv("GEORISK_SNAPSHOT_DIR", "off")
    assert not snapshot_wanted(1 << 30)
    assert load_dataset(DEFAULT_DATA).snapshot is None
    # "off" is off even for a load that asks for one: nothing written into ./off
    monkeypatch.chdir(snapdir.parent)
    assert load_dataset(DEFAULT_DATA, snapshot=True).snapshot is None
    assert not (snapdir.parent / "off").exists()


def test_shipped_dataset_through_the_snapshot_is_the_same(
    snapdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = load_dataset(DEFAULT_DATA, snapshot=False)
    cold = load_dataset(DEFAULT_DATA, snapshot=True)  # validates, writes, opens the snapshot
    assert cold.snapshot is not None and Path(cold.snapshot).parent == snapdir
    same(cold, ref)
    # the second load opens the snapshot and validates nothing
    monkeypatch.setattr(load_mod, "_validate", lambda *a: pytest.fail("validated again"))
    warm = load_dataset(DEFAULT_DATA, snapshot=True)
    assert isinstance(warm.entities, EntityTable) and isinstance(warm.arrangements, JsonTable)
    same(warm, ref)
    # another process needs only the path (the key is the directory's name)
    same(open_snapshot(warm.snapshot or ""), ref)


def test_bulk_dataset_with_rare_fields_is_the_same(
    synth: Path, synth_ref: Dataset, snapdir: Path
) -> None:
    ref = synth_ref
    assert len(ref.store.columns) == 2 and ref.entities["x-listed"].lists  # columns, objects
    load_dataset(synth, snapshot=True)
    warm = load_dataset(synth, snapshot=True)
    assert all(isinstance(c.ids, StrColumn) for c in warm.store.columns)  # ids left in the file
    same(warm, ref)
    assert (
        warm.entities["x-listed"].name == "Listed Co" and warm.entities["x-listed"].country == "CN"
    )
    assert warm.links["odd-1"].share == 0.25 and warm.origin_of("link", "odd-1") == ref.origin_of(
        "link", "odd-1"
    )


def test_changed_files_are_validated_again_never_served_stale(
    synth: Path, tmp_path: Path, snapdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "data"
    shutil.copytree(synth, d)
    first = load_dataset(d, snapshot=True)
    f = d / "synth.entities.csv"
    f.write_text(f.read_text().replace("e0000005,", "e0000005,Renamed ", 1))
    again = load_dataset(d, snapshot=True)
    assert again.version != first.version and again.snapshot != first.snapshot
    assert again.entities["e0000005"].name.startswith("Renamed")
    same(again, load_dataset(d, snapshot=False))
    # a change that breaks the dataset is refused, not answered from an older snapshot
    (d / "bad.yaml").write_text(
        "links:\n  - {id: x, kind: equity, source: nobody, target: e0000001, share: 0.1,"
        " sources: [synth]}\n"
    )
    with pytest.raises(DatasetError, match="unknown entity 'nobody'"):
        load_dataset(d, snapshot=True)
    # a removed file changes the key too
    (d / "bad.yaml").unlink()
    (d / "extra.yaml").unlink()
    assert "x-listed" not in load_dataset(d, snapshot=True).entities


@pytest.fixture(scope="module")
def synth_ref(synth: Path) -> Dataset:
    return load_dataset(synth, snapshot=False)


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest", "other-key"])
def test_corrupt_snapshot_is_ignored_and_replaced(
    damage: str, synth: Path, synth_ref: Dataset, snapdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ref = synth_ref
    where = Path(load_dataset(synth, snapshot=True).snapshot or "")
    target = where / "entities.arrow"
    if damage == "flip":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "manifest":
        (where / "manifest.json").write_text("{not json")
    else:
        m = json.loads((where / "manifest.json").read_text())
        m["key"] = "0" * 40
        (where / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(SnapshotError):
        open_snapshot(where)
    with caplog.at_level(logging.WARNING, logger="georisk.scoring.dataset"):
        got = load_dataset(synth, snapshot=True)
    assert "snapshot not used" in caplog.text
    assert got.snapshot == str(where)  # rewritten whole
    same(open_snapshot(where), ref)


def test_read_only_data_directory_uses_the_cache_directory(
    synth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "data"
    shutil.copytree(synth, d)
    (d / ".georisk-snapshots").write_text("")  # cannot become a directory: as if read-only
    monkeypatch.delenv("GEORISK_SNAPSHOT_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    ds = load_dataset(d, snapshot=True)
    assert ds.snapshot and Path(ds.snapshot).parent == tmp_path / "cache" / "georisk" / "snapshots"
    assert load_dataset(d, snapshot=True).snapshot == ds.snapshot
    # beside a writable data directory by default
    shutil.rmtree(tmp_path / "cache")
    (d / ".georisk-snapshots").unlink()
    ds = load_dataset(d, snapshot=True)
    assert ds.snapshot and Path(ds.snapshot).parent == d / ".georisk-snapshots"
    same(load_dataset(d, snapshot=True), load_dataset(d, snapshot=False))


def test_scores_and_overlays_are_the_same_on_the_snapshot(snapdir: Path) -> None:
    ref_ds = load_dataset(DEFAULT_DATA, snapshot=False)
    load_dataset(DEFAULT_DATA, snapshot=True)
    snap_ds = load_dataset(DEFAULT_DATA, snapshot=True)
    base = Engine.from_dir(DEFAULT_DATA)
    ref = Engine(ref_ds, base.pack, base.scenarios)
    snap = Engine(snap_ds, base.pack, base.scenarios)
    for aid in ref_ds.arrangements:
        a = ref.score(aid, as_of=ON).model_dump(mode="json")
        assert snap.score(aid, as_of=ON).model_dump(mode="json") == a, aid
    # an overlay that changes and adds entities: the same variant (tables patched, not copied)
    first = next(iter(ref_ds.entities))
    aid = next(iter(ref_ds.arrangements))
    changed = ref_ds.entities[first].model_dump(mode="json", by_alias=True, exclude_defaults=True)
    ov = parse_overlay(
        {
            "arrangement": aid,
            "change": {"entities": [{**changed, "note": "edited"}]},
            "add": {
                "entities": [{"id": "new-co", "name": "New Co", "kind": "company", "country": "CN"}]
            },
        }
    )
    va, vb = apply_overlay(ref_ds, ov), apply_overlay(snap_ds, ov)
    same(vb, va)
    assert vb.entities[first].note == "edited" and "new-co" in vb.entities
    a = ref.score(aid, as_of=ON, overlay=ov).model_dump(mode="json")
    assert snap.score(aid, as_of=ON, overlay=ov).model_dump(mode="json") == a


class _Rec:
    def __init__(self, id: str) -> None:
        self.id = id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Rec) and other.id == self.id

    def __repr__(self) -> str:
        return self.id


def test_patched_table_is_a_dict_edit() -> None:
    base = {k: _Rec(k) for k in "abcdef"}
    t: PatchedTable[Any] = PatchedTable(base, {}, {}, {})
    ref: dict[str, Any] = dict(base)
    steps: list[tuple[str, dict[str, Any], list[str]]] = [
        ("b", {"c": _Rec("c2")}, ["g"]),
        ("g", {"a": _Rec("a2")}, ["h", "i"]),
        ("ha", {"i": _Rec("i2"), "d": _Rec("d2")}, ["b"]),
    ]
    for gone, changed, added in steps:
        t = t.patched(dict.fromkeys(gone), changed, [_Rec(k) for k in added])
        for k in gone:
            del ref[k]
        ref.update(changed)
        ref.update((k, _Rec(k)) for k in added)
        assert list(t.items()) == list(ref.items()) and len(t) == len(ref)
        assert all(k in t for k in ref) and not any(k in t for k in "abcdefghi" if k not in ref)
    assert t.base is base  # flattened: one level over the loaded table


def test_sorted_id_index_finds_every_id_and_nothing_else() -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pa.array(["l3", "a", "l10", "b-2", "l1", "zz"])
    order = np.asarray(pc.sort_indices(ids).to_numpy())
    ix = SortedIdIndex(ids, order)
    assert {k: ix[k] for k in ids.to_pylist()} == {k: i for i, k in enumerate(ids.to_pylist())}
    assert ix.get("l2") is None and "" not in ix and "zzz" not in ix and 3 not in ix  # type: ignore[comparison-overlap]
    assert len(ix) == 6 and list(ix) == ids.to_pylist()
