"""Incremental overlays equal the reference path (dump and re-validate everything).

`apply_overlay` validates only the touched records and derives the graph of a date from the
base's; `apply_overlay_reference` rebuilds the whole dataset. For a table of overlays (adds,
removes and changes of every record kind, nested overlays) and random overlays of a bulk CSV
dataset, both must give the same dataset, the same graph and the same scores, or refuse with
the same issues in the same order.
"""

from __future__ import annotations

import datetime as dt
import functools
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from georisk.scoring.dataset import RECORD_KINDS, Dataset, DatasetError, load_dataset
from georisk.scoring.engine import Engine, View
from georisk.scoring.graph import ArrangementGraph, GraphCache
from georisk.scoring.overlay import Overlay, apply_overlay, apply_overlay_reference
from tests.conftest import DATA

ON = dt.date(2026, 11, 22)
EARLY = dt.date(2023, 6, 1)


@functools.cache
def shipped() -> Dataset:
    return load_dataset(DATA)


@functools.cache
def synthetic() -> Dataset:
    import tempfile

    from georisk.synth import SynthSpec, generate

    out = Path(tempfile.mkdtemp(prefix="georisk-ov-"))
    try:
        generate(SynthSpec(entities=400, arrangements=20, seed=3), out)
        return load_dataset(out)
    finally:  # the dataset is in memory: the files are not needed (nor left in /tmp)
        shutil.rmtree(out, ignore_errors=True)


def equity(lid: str, src: str, dst: str, share: float, **kw: Any) -> dict[str, Any]:
    return {
        "id": lid,
        "kind": "equity",
        "source": src,
        "target": dst,
        "share": share,
        "sources": ["a14"],
        **kw,
    }


ACME = {"id": "acme", "name": "Acme", "kind": "company", "country": "CN", "sources": ["a14"]}

GOOD: list[dict[str, Any]] = [
    {"change": {"links": [{"id": "tdk-funds-gm-tdk-plant", "share": 0.5}]}},
    {"remove": {"links": ["ford-owns-blueoval-mi", "catl-licence-tesla"]}},
    {
        "add": {
            "entities": [ACME],
            "links": [
                equity("acme-tesla", "acme", "tesla", 0.05),
                {**equity("acme-debt", "acme", "tesla", 0.2), "kind": "debt"},
            ],
        },
        "change": {"links": [{"id": "catl-services-tesla", "status": "confirmed"}]},
    },
    {"remove": {"entities": ["li-zhen"]}},
    {"change": {"entities": [{"id": "catl", "lists": []}]}},
    {
        "add": {"sources": [{"id": "zz", "title": "Z", "url": "https://example.org/z"}]},
        "change": {"links": [{"id": "tesla-owns-sparks-lfp", "sources": ["zz"]}]},
    },
    {
        "change": {
            "arrangements": [
                {"id": "catl-lrs", "template": False, "capacity": {"gwh": 30, "sources": ["a12"]}}
            ]
        }
    },
    {"change": {"links": [{"id": "ford-owns-kentucky-storage-plant", "valid_from": "2030-01-01"}]}},
    {"change": {"links": [{"id": "ford-owns-blueoval-mi", "valid_from": None}]}},
    {
        "add": {
            "links": [equity("z", "catl", "blueoval-battery-park-mi", 0.5, valid_to="2023-01-01")]
        }
    },
    {
        "change": {
            "links": [
                {"id": "tdk-funds-gm-tdk-plant", "share": 0.3},
                {"id": "tdk-funds-gm-tdk-plant", "status": "reported"},
            ]
        }
    },
    {
        "add": {
            "entities": [ACME, {**ACME, "id": "acme-plant", "kind": "facility", "country": "US"}],
            "links": [equity("acme-owns-plant", "acme", "acme-plant", 1.0)],
            "arrangements": [
                {
                    "id": "acme-deal",
                    "name": "Acme deal",
                    "focal": "acme-plant",
                    "parties": [{"entity": "acme", "role": "owner"}],
                    "country": "US",
                    "products": ["cells"],
                    "status": [{"status": "announced", "date": "2025-01-01", "sources": ["a14"]}],
                    "sources": ["a14"],
                }
            ],
        },
        "remove": {"entities": ["li-zhen"], "links": ["catl-licence-tesla"]},
    },
]

BAD: list[dict[str, Any]] = [
    {"remove": {"links": ["nope", "nope"], "entities": ["ghost"]}},
    {"change": {"links": [{"id": "catl-licence-tesla", "share": 2}]}},
    {"add": {"links": [equity("l", "catl", "ghost", 0.1)]}},
    {"add": {"links": [equity("l", "catl", "gotion-inc", 0.5)]}},
    {"add": {"links": [equity("l1", "catl", "ghost", 0.6), equity("l2", "byd", "ghost", 0.6)]}},
    {"remove": {"sources": ["a14"]}},
    {"remove": {"entities": ["catl"]}},
    {"remove": {"arrangements": ["ford-marshall"]}},
    {"add": {"entities": [{**ACME, "id": "catl"}, ACME, ACME]}},
    {"add": {"links": [equity("x", "catl", "tesla", 0.01), equity("x", "byd", "tesla", 0.01)]}},
    {"change": {"entities": [{"id": "catl", "country": "ZZ"}]}},
    {"change": {"links": [{"share": 0.2}, {"id": ["a"], "share": 0.2}]}},
    {
        "remove": {"entities": ["li-zhen"]},
        "change": {"links": [{"id": "li-zhen-owns-gotion", "share": 0.1}]},
    },
    {"change": {"links": [{"id": "ford-operates-blueoval-mi", "kind": "equity"}]}},
    {"remove": {"entities": ["li-zhen"]}, "add": {"links": [equity("y", "li-zhen", "catl", 0.01)]}},
    {"change": {"links": [{"id": "tdk-funds-gm-tdk-plant", "target": "aesc", "share": 0.9}]}},
    {
        "add": {
            "links": [equity("z", "catl", "blueoval-battery-park-mi", 0.5, valid_to="2023-06-01")]
        }
    },
]


def overlay(doc: dict[str, Any], arrangement: str = "tesla-nevada-lfp") -> Overlay:
    return Overlay.model_validate({"arrangement": arrangement, **doc})


def both(ds: Dataset, ov: Overlay) -> tuple[Dataset | list[Any], Dataset | list[Any]]:
    out: list[Dataset | list[Any]] = []
    for apply in (apply_overlay, apply_overlay_reference):
        try:
            out.append(apply(ds, ov))
        except DatasetError as exc:
            out.append(exc.issues)
    return out[0], out[1]


def assert_same_dataset(inc: Dataset, ref: Dataset) -> None:
    assert inc.version == ref.version
    for kind in ("source", "entity", "arrangement"):
        assert list(inc.table(kind).items()) == list(ref.table(kind).items()), kind
    assert list(inc.links) == list(ref.links)
    assert len(inc.links) == len(ref.links)
    assert all(inc.links[k] == ref.links[k] for k in ref.links)
    assert list(inc.store.entity_ids) == list(ref.store.entity_ids)
    assert dict(inc.store.entity_index) == dict(ref.store.entity_index)
    assert inc.link_boundaries == ref.link_boundaries
    members = {k: sorted(e for e, _ in v) for k, v in inc.listed.items()}
    assert members == {k: sorted(e for e, _ in v) for k, v in ref.listed.items()}
    for kind in RECORD_KINDS:
        for rid in list(ref.table(kind))[:: max(1, len(ref.table(kind)) // 50)]:
            assert inc.locate(kind, rid) == ref.locate(kind, rid), (kind, rid)


def assert_same_graph(inc: Dataset, ref: Dataset, on: dt.date) -> None:
    derived = GraphCache().graph(inc, on)
    built = ArrangementGraph.build(inc, on)  # from the variant's own (materialized) arrays
    for name in ("link", "source", "target", "kind", "in_ptr", "in_order", "out_ptr", "out_order"):
        assert np.array_equal(getattr(derived.adj, name), getattr(built.adj, name)), name
    r = ArrangementGraph.build(ref, on)
    ids = [inc.store.at(int(k)).id for k in derived.adj.link]
    assert ids == [ref.store.at(int(k)).id for k in r.adj.link]
    for name in ("source", "target", "kind", "in_ptr", "in_order", "out_ptr", "out_order"):
        assert np.array_equal(getattr(derived.adj, name), getattr(r.adj, name)), name
    for m in ("equity", "control"):
        a, b = getattr(derived, m), getattr(r, m)
        assert (a.lo != b.lo).nnz == 0 and (a.hi != b.hi).nnz == 0, m


@pytest.mark.parametrize("doc", GOOD, ids=[f"good{i}" for i in range(len(GOOD))])
def test_good_overlays_equal_the_reference(doc: dict[str, Any], engine: Engine) -> None:
    ds = engine.dataset
    ov = overlay(doc)
    inc, ref = both(ds, ov)
    assert isinstance(inc, Dataset) and isinstance(ref, Dataset), (inc, ref)
    assert inc.base is ds and ref.base is None
    assert_same_dataset(inc, ref)
    for on in (ON, EARLY):
        assert_same_graph(inc, ref, on)
    plain = Engine(ref, engine.pack, engine.scenarios)
    for arr in ("tesla-nevada-lfp", "gm-tdk-catl", "ford-marshall"):
        if arr not in ref.arrangements:
            continue
        ov_arr = ov.model_copy(update={"arrangement": arr})
        got = engine.score(arr, ON, overlay=ov_arr)
        want = plain.score(arr, ON)
        assert got.dataset_version == f"{ds.version}+overlay:{ov_arr.digest()}"
        skip = {"overlay", "dataset_version"}
        assert got.model_dump(exclude=skip) == want.model_dump(exclude=skip)


@pytest.mark.parametrize("doc", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_overlays_are_refused_with_the_same_issues(doc: dict[str, Any]) -> None:
    inc, ref = both(shipped(), overlay(doc))
    assert isinstance(ref, list) and ref, "the reference path must refuse it"
    assert inc == ref


def test_refused_change_keeps_the_record_for_the_other_checks() -> None:
    """A change that does not validate is reported once, not as dangling references too."""
    issues = both(shipped(), overlay(BAD[10]))[0]
    assert isinstance(issues, list)
    assert [(i.record, i.field) for i in issues] == [("change entity catl", "country")]


def test_issues_locate_base_records_where_they_were_read() -> None:
    issues = both(shipped(), overlay({"remove": {"entities": ["catl"]}}))[0]
    assert isinstance(issues, list)
    first = issues[0]
    assert first.file == "arrangements.yaml" and "(id=" in first.record, first
    assert first.message == "unknown entity 'catl'"


def test_nested_overlays_flatten_onto_the_loaded_dataset(engine: Engine) -> None:
    ds = engine.dataset
    a = overlay(GOOD[2])
    b = overlay(
        {
            "remove": {"entities": ["li-zhen"], "links": ["catl-licence-tesla"]},
            "change": {"entities": [{"id": "acme", "country": "US"}]},
            "add": {
                "entities": [{**ACME, "id": "beta"}],
                "links": [equity("beta-acme", "beta", "acme", 0.5)],
            },
        }
    )
    inc = apply_overlay(apply_overlay(ds, a), b)
    ref = apply_overlay_reference(apply_overlay_reference(ds, a), b)
    assert inc.base is ds and inc.overlay_digest == f"{a.digest()}+{b.digest()}"
    assert_same_dataset(inc, ref)
    assert_same_graph(inc, ref, ON)
    # removing what the first overlay added, and changing it
    c = overlay(
        {
            "remove": {"links": ["acme-debt"]},
            "change": {"links": [{"id": "acme-tesla", "share": 0.07}]},
        }
    )
    inc2, ref2 = apply_overlay(inc, c), apply_overlay_reference(ref, c)
    assert_same_dataset(inc2, ref2)
    assert_same_graph(inc2, ref2, ON)


def test_unchanged_parts_are_shared_not_copied() -> None:
    ds = shipped()
    out = apply_overlay(ds, overlay(GOOD[0]))
    assert out.entities is ds.entities and out.sources is ds.sources
    assert out.arrangements is ds.arrangements
    assert out.store.base is ds.store  # type: ignore[attr-defined]
    assert out.store.entity_ids is ds.store.entity_ids


def test_bulk_columns_are_shared_by_the_variant() -> None:
    ds = synthetic()
    lid = next(iter(ds.store.columns[0].ids))
    out = apply_overlay(ds, overlay({"change": {"links": [{"id": lid, "status": "reported"}]}}))
    assert out.store.columns is ds.store.columns
    assert out.links[lid].status.value == "reported" and ds.links[lid].status.value != "reported"


@st.composite
def synth_overlays(draw: st.DrawFn) -> dict[str, Any]:
    ds = synthetic()
    links, ents = list(ds.links), list(ds.entities)
    pick = st.sampled_from
    doc: dict[str, Any] = {"remove": {}, "change": {}, "add": {}}
    doc["remove"]["links"] = draw(st.lists(pick(links), max_size=3))
    doc["remove"]["entities"] = draw(st.lists(pick(ents), max_size=2))
    changes = []
    for lid in draw(st.lists(pick(links), max_size=3)):
        field = draw(pick(["share", "status", "valid_from", "valid_to", "target"]))
        value: Any = {
            "share": draw(st.floats(0, 1)),
            "status": draw(pick(["reported", "proposed"])),
            "valid_from": draw(pick(["2020-01-01", "2027-06-01", None])),
            "valid_to": draw(pick(["2024-12-31", "2031-01-01", None])),
            "target": draw(pick(ents)),
        }[field]
        changes.append({"id": lid, field: value})
    doc["change"]["links"] = changes
    adds = []
    for i in range(draw(st.integers(0, 3))):
        src, dst = draw(pick(ents)), draw(pick(ents))
        share = draw(st.sampled_from([0.01, 0.3, 0.9]))
        adds.append({**equity(f"new-{i}", src, dst, share), "sources": ["synth"]})
    doc["add"]["links"] = adds
    if draw(st.booleans()):
        doc["add"]["entities"] = [{**ACME, "sources": ["synth"]}]
        doc["add"]["links"].append(
            {**equity("acme-in", "acme", draw(pick(ents)), 0.05), "sources": ["synth"]}
        )
    return doc


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=synth_overlays())
def test_random_overlays_of_bulk_links_equal_the_reference(doc: dict[str, Any]) -> None:
    ds = synthetic()
    arr = next(iter(ds.arrangements))
    inc, ref = both(ds, overlay(doc, arr))
    if isinstance(ref, list):
        assert inc == ref
        return
    assert isinstance(inc, Dataset)
    assert_same_dataset(inc, ref)
    assert_same_graph(inc, ref, ON)


def test_scores_with_remedies_equal_the_reference(engine: Engine) -> None:
    """Remedies bisect with overlays of the variant: the same as on the reference dataset."""
    ov = overlay(GOOD[0], "gm-tdk-catl")
    ref = apply_overlay_reference(engine.dataset, ov)
    got = engine.score("gm-tdk-catl", ON, overlay=ov, view=View.FULL)
    want = Engine(ref, engine.pack, engine.scenarios).score("gm-tdk-catl", ON, view=View.FULL)
    assert got.model_dump(exclude={"overlay"}) == want.model_dump(exclude={"overlay"})


def test_a_variant_graph_goes_when_dropped_without_the_cycle_collector() -> None:
    """A store replica drops the graphs of the versions it no longer serves: each must be
    freed then (reference counting), not at the cyclic collector's next full pass, or a
    replica at 1M entities grows by hundreds of MB per followed write (issue 15)."""
    import gc
    import weakref

    ds = load_dataset(DATA)
    day = dt.date(2026, 11, 22)
    base = ArrangementGraph.build(ds, day)
    _ = base.equity, base.control_columns
    ov = Overlay.model_validate(
        {
            "arrangement": "ford-marshall",
            "change": {"links": [{"id": "vw-owns-gotion", "share": 0.3}]},
        }
    )
    g = base.derive(apply_overlay(ds, ov))
    view = g.at(dt.date(2026, 11, 23))
    assert g.derivation is not None  # patched from the base's, below
    _ = g.equity, g.control_columns, view.control
    refs: list[weakref.ref[Any]] = [
        weakref.ref(g),
        weakref.ref(view),
        weakref.ref(g.derivation),
    ]
    gc.disable()
    try:
        del g, view
        assert [r() for r in refs] == [None, None, None]
    finally:
        gc.enable()
