"""The memos that keep a long batch fast stay bounded and never change an answer (issue 16):
the snapshot's id index (fence keys, remembered lookups), the graph's per-entity table, the
controllers the rules read without their path listing, list members per date."""

from __future__ import annotations

import datetime as dt
import random
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import georisk.scoring.dataset.snapshot as snap
import georisk.scoring.graph as graph_mod
import georisk.scoring.rules.context as context_mod
from georisk.scoring.control import controllers_of, ultimate_controllers
from georisk.scoring.control.pfe import DENSE_FROM, _positions, _submatrices, _submatrix
from georisk.scoring.engine import DEFAULT_DATA, Engine, View, own_links, proposed_own_link
from georisk.scoring.graph import ShareValue
from georisk.scoring.interval import Interval, Tri
from georisk.scoring.model import LinkStatus
from georisk.scoring.overlay import Overlay
from georisk.synth import SynthSpec, generate

ON = dt.date(2026, 11, 22)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_dir(DEFAULT_DATA)


def test_sorted_id_index_finds_every_id_across_fence_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rnd = random.Random(7)
    ids = [f"{rnd.choice('abcz')}{rnd.randrange(10**6)}-{i}" for i in range(3000)]
    arr = pa.array(ids)
    ix = snap.SortedIdIndex(arr, pc.sort_indices(arr).to_numpy())
    # every id at its position: first and last of each block of FENCE included
    for k in range(len(ids)):
        assert ix[ids[k]] == k
    ranked = sorted(ids)
    for probe in ("", "0", "zzzzzzzz", ranked[0][:-1], ranked[-1] + "x", ranked[64] + "\x00"):
        assert probe not in ix and ix.get(probe) is None
    # what is remembered is bounded, and answers are the same once forgotten
    monkeypatch.setattr(snap, "MEMO_LIMIT", 10)
    fresh = snap.SortedIdIndex(arr, pc.sort_indices(arr).to_numpy())
    for k in rnd.sample(range(len(ids)), 200):
        assert fresh[ids[k]] == k and len(fresh._memo) <= 10
        assert fresh.get(ids[k] + "-absent") is None
    with pytest.raises(KeyError):
        fresh["absent"]


def test_per_entity_table_is_bounded(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_mod, "ENTITY_MEMO_LIMIT", 3)
    g = Engine(engine.dataset, engine.pack, engine.scenarios).graph(ON)
    for date in (False, True):
        got = [g.per_entity(f"k{i}", partial(int, i * i), date=date) for i in range(10)]
        assert got == [i * i for i in range(10)]
        assert 1 <= len(g._entity_table(date)) <= 3
        assert g.per_entity("k9", lambda: -1, date=date) == 81  # kept: not made again


def test_scores_are_the_same_when_every_memo_is_tiny(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every shipped arrangement's FULL score with the per-entity tables and the links-into
    memo forgetting after two values equals the score with the default bounds."""
    arrs = sorted(engine.dataset.arrangements)
    ref = Engine(engine.dataset, engine.pack, engine.scenarios)
    want = {a: ref.score(a, ON, view=View.FULL).model_dump() for a in arrs}
    monkeypatch.setattr(graph_mod, "ENTITY_MEMO_LIMIT", 2)
    monkeypatch.setattr(context_mod, "ENTITY_MEMO_LIMIT", 2)
    small = Engine(engine.dataset, engine.pack, engine.scenarios)
    for a in arrs:
        assert small.score(a, ON, view=View.FULL).model_dump() == want[a], a
    assert len(small.graph(ON)._entity_table(False)) <= 2


def test_controllers_of_is_ultimate_controllers_controllers(engine: Engine) -> None:
    g = engine.graph(ON)
    checked = 0
    for eid in engine.dataset.entities:
        assert list(controllers_of(g, eid)) == ultimate_controllers(g, eid).controllers, eid
        checked += bool(controllers_of(g, eid))
    assert checked >= 10  # the shipped data has controlled entities to compare


def test_listed_on_is_remembered_per_date_and_the_same(engine: Engine) -> None:
    ds = engine.dataset
    for list_id in ds.listed:
        for on in (dt.date(2020, 1, 1), ON, dt.date(2030, 1, 1)):
            want = {eid for eid, m in ds.listed[list_id] if m.active(on)}
            assert ds.listed_on(list_id, on) == want
            assert ds.listed_on(list_id, on) is ds.listed_on(list_id, on)
    assert any(ds.listed_on(lst, ON) for lst in ds.listed)


@pytest.mark.parametrize(
    "iv",
    [
        Interval(0.1, 0.2),
        Interval(0.25, 0.25, True, False),
        Interval(0.0, 1.0, False, True),
        Interval(1 / 3, 2 / 3),
        Interval(float(np.float64(0.3)), 0.3),
    ],
)
def test_share_value_of_is_the_validated_value(iv: Interval) -> None:
    """:meth:`ShareValue.of` builds without validation what validation would build."""
    built = ShareValue.of(iv)
    want = ShareValue(
        min=round(iv.lo, 12),
        max=round(iv.hi, 12),
        exclusive_min=iv.lo_open,
        exclusive_max=iv.hi_open,
    )
    assert built == want and built.model_fields_set == want.model_fields_set
    assert built.model_dump_json() == want.model_dump_json()
    assert type(built.min) is float and type(built.exclusive_max) is bool


@given(
    n=st.integers(1, 30),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31),
    data=st.data(),
)
@settings(max_examples=150, deadline=None)
def test_submatrix_is_scipys_row_then_column_selection(
    n: int, density: float, seed: int, data: st.DataObject
) -> None:
    """The FIE tests' upstream submatrix, without scipy's O(entities) column selection."""
    rng = np.random.default_rng(seed)
    m = sp.csr_array(rng.random((n, n)) * (rng.random((n, n)) < density))
    idx = np.array(data.draw(st.permutations(range(n)))[: data.draw(st.integers(0, n))], dtype=int)
    want = m[idx][:, idx]
    where = np.full(n, -1)
    where[idx] = np.arange(len(idx))
    # by binary search (a short upstream) and through every entity's position (a long one)
    for got in (_submatrix(m, idx), _submatrix(m, idx, where)):
        assert got.shape == (len(idx), len(idx)) and got.has_sorted_indices
        assert np.array_equal(got.toarray(), want.toarray())
    # a second matrix with the same pattern (the upper bounds): one selection for both
    m2 = m.copy()
    m2.data = m.data + rng.random(m.nnz)
    for w in (None, where):
        lo, hi = _submatrices(m, idx, w, m2.data)
        assert np.array_equal(lo.toarray(), want.toarray())
        assert np.array_equal(hi.toarray(), m2[idx][:, idx].toarray()) and hi.has_sorted_indices


def test_positions_only_for_a_long_selection() -> None:
    idx = np.arange(DENSE_FROM)[::-1]
    where = _positions(DENSE_FROM + 5, idx)
    assert _positions(10, np.array([3, 1])) is None and where is not None
    assert where[idx].tolist() == list(range(DENSE_FROM)) and (where[DENSE_FROM:] == -1).all()


def _proposed_as_built(g: object, arr: object) -> bool:
    return any(l.status is LinkStatus.PROPOSED for l in own_links(g, arr))  # type: ignore[arg-type]


def test_proposed_own_link_reads_the_columns_as_the_links_say(tmp_path: Path) -> None:
    """The score's "proposed" check reads link statuses from the store's columns; it agrees
    with the built links on a synthetic dataset (bulk columns, some links proposed), the
    shipped one and an overlay variant of it."""
    generate(SynthSpec(entities=3000, arrangements=300, seed=3, mode="realistic"), tmp_path)
    found = 0
    for e in (Engine.from_dir(tmp_path), Engine.from_dir(DEFAULT_DATA)):
        st = e.dataset.store
        every = np.arange(st.n_positions)
        assert st.proposed(every).tolist() == [
            st.at(int(k)).status is LinkStatus.PROPOSED for k in every
        ]
        g = e.graph(ON)
        for arr in e.dataset.arrangements.values():
            assert proposed_own_link(g, arr) == _proposed_as_built(g, arr), arr.id
            found += proposed_own_link(g, arr)
    assert found >= 5  # both answers occur
    base = Engine.from_dir(DEFAULT_DATA)
    overlay = Overlay.model_validate(
        {
            "arrangement": "gm-tdk-catl",
            "change": {"links": [{"id": "tdk-funds-gm-tdk-plant", "status": "proposed"}]},
        }
    )
    ds = base.overlaid(base.dataset, overlay)
    g = base.graph(ON, ds)
    arr = ds.arrangements["gm-tdk-catl"]
    assert proposed_own_link(g, arr) == _proposed_as_built(g, arr)


def test_fie_without_explanation_names_the_holders_an_explanation_names(tmp_path: Path) -> None:
    """Scoring's FIE test (no explanation) sorts only the SFE holders its reasons name, out of
    thousands upstream in a large strongly connected component: the same holders, in the same
    order, counted the same, as the explained test that builds every holder."""
    from dataclasses import replace

    from georisk.scoring.control.params import PfeParams
    from georisk.scoring.control.pfe import NAMED_AT_MOST, _fie, _screened

    generate(SynthSpec(entities=4000, arrangements=50, seed=5, mode="adversarial"), tmp_path)
    g = Engine.from_dir(tmp_path).graph(ON)
    full, lean = PfeParams(), replace(PfeParams(), explain=False)
    rnd = random.Random(5)
    compared = many = bounded = 0
    for eid in rnd.sample(sorted(g.dataset.entities), 400):
        if _screened(g, eid, lean) is not None:
            continue  # answered by the whole-graph screens, without a holder list
        a, b = _fie(g, eid, full), _fie(g, eid, lean)
        assert a.verdict is b.verdict and a.sfe_holders == b.sfe_holders
        (sa, aa), (sb, ab) = a.tests[:2], b.tests[:2]
        assert sa.verdict is sb.verdict and sa.reason == sb.reason
        shown = [h for h in a.holders if h.meets is not Tri.FALSE] or a.holders[:1]
        assert shown == b.holders
        assert aa.verdict is ab.verdict
        # the holders named, and how many more, are the same (the share may be a bound)
        assert aa.reason.split(": ", 1)[1] == ab.reason.split(": ", 1)[1]
        compared += 1
        many += len(a.sfe_holders) > NAMED_AT_MOST
        bounded += len(a.holders) < len(a.sfe_holders)  # some only bounded: named after
    assert compared >= 50 and many >= 20 and bounded >= 5, (compared, many, bounded)


def test_ids_at_gathers_the_ids_at_positions(engine: Engine) -> None:
    g = engine.graph(ON)
    for pos in ([], [3], [5, 0, 5, len(g.ids) - 1]):
        assert g.ids_at(np.array(pos, dtype=np.int64)) == [g.ids[k] for k in pos]


def test_fie_through_the_kept_core_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The largest strongly connected component and all that holds it is kept once per graph
    (:func:`pfe._core`), and the integrated shares into every subject it lies above are solved
    through it. Forced on a 4,000-entity adversarial graph (the core there is a few hundred
    entities): the same FIE verdicts, holders and reasons as without it, shares within 1e-9."""
    from dataclasses import replace

    import georisk.scoring.control.pfe as pfe
    import georisk.scoring.ownership as own
    from georisk.scoring.control.params import PfeParams

    generate(SynthSpec(entities=4000, arrangements=50, seed=5, mode="adversarial"), tmp_path)
    engine = Engine.from_dir(tmp_path)
    lean = replace(PfeParams(), explain=False)
    g = engine.graph(ON)
    ids = sorted(g.dataset.entities)
    subjects = [e for e in random.Random(7).sample(ids, 300) if pfe._screened(g, e, lean) is None]
    assert len(subjects) >= 20
    alone = {e: [pfe._fie(g, e, p) for p in (PfeParams(), lean)] for e in subjects}
    assert pfe._core(g) is None  # too small to keep at the default size

    monkeypatch.setattr(pfe, "SHARED_CORE_FROM", 16)
    monkeypatch.setattr(own, "_MIN_GROUP_ROWS", 16)  # and solved by its plan
    used = []
    real = own._integrated_through_core

    def spy(*args: object) -> object:
        got = real(*args)  # type: ignore[arg-type]
        used.append(got is not None)
        return got

    monkeypatch.setattr(own, "_integrated_through_core", spy)
    g = engine.with_dataset(engine.dataset).graph(ON)  # a fresh graph: nothing kept yet
    kept = pfe._core(g)
    assert kept is not None and np.all(np.diff(kept[0]) > 0)
    inside = [bool(kept[1][g.index[e]]) for e in subjects]
    assert any(inside) and not all(inside)  # subjects in the core and below it
    for e in subjects:
        for a, b in zip(alone[e], (pfe._fie(g, e, p) for p in (PfeParams(), lean)), strict=True):
            assert a.verdict is b.verdict and a.sfe_holders == b.sfe_holders
            assert [h.holder for h in a.holders] == [h.holder for h in b.holders]
            for x, y in zip(a.tests, b.tests, strict=True):
                assert (x.test, x.verdict, x.reason) == (y.test, y.verdict, y.reason)
                if x.value is None or y.value is None:
                    assert x.value is y.value
                    continue
                assert abs(x.value.min - y.value.min) <= 1e-9
                assert abs(x.value.max - y.value.max) <= 1e-9
    assert sum(used) >= 10, used
    assert pfe._core(g) is kept  # once per graph
