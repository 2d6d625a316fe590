"""The screened (``explain=False``) SFE/FIE tests and covered-nation listings agree with the
full ones (issue 16): the same verdicts, the same tests wherever a test is not FALSE, the same
sentences, and FALSE ownership tests valued within their whole-graph bound; the whole-graph
screens themselves (reach, holder masks, the exposure lookup) agree with their definitions;
and whole scores come out the same with the scoring parameters screened."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import georisk.scoring.rules.context as rules_context
from georisk.scoring.control import (
    PfeParams,
    covered_exposure,
    covered_parties,
    covered_paths,
    covered_share,
    foreign_influenced,
    pfe_sentence,
    specified_foreign_entity,
)
from georisk.scoring.dataset import Dataset
from georisk.scoring.engine import DEFAULT_DATA, Engine, View
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.interval import Tri
from georisk.scoring.model import OWNERSHIP_KINDS, Entity, Link, LinkKind

ON = dt.date(2026, 1, 1)
FULL = PfeParams()
LEAN = dataclasses.replace(FULL, explain=False)


@st.composite
def pfe_graphs(draw: st.DrawFn) -> Dataset:
    """Random cross-holdings between covered (CN) and other (US) companies, some listed, with
    equity (ranged or exact, some unconfirmed), voting, debt and appointment links; the
    shares into each entity sum to at most 1."""
    n = draw(st.integers(2, 9))
    budget = {"equity": [20] * n, "voting": [20] * n, "debt": [20] * n}  # in 5% units
    links: dict[str, Link] = {}
    for k in range(draw(st.integers(1, 4 * n))):
        a, b = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        kind = draw(st.sampled_from(["equity", "equity", "equity", "voting", "debt", "appt"]))
        if a == b:
            continue
        doc: dict[str, Any] = {"id": f"l{k}", "source": f"e{a}", "target": f"e{b}"}
        doc |= {"sources": ["s"], "unconfirmed": draw(st.booleans()) and k % 3 == 0}
        if kind == "appt":
            doc |= {"kind": "appointment", "role": "officer"}
        else:
            left = budget[kind][b]
            if left <= 0:
                continue
            hi = draw(st.integers(1, left))
            lo = draw(st.integers(0, hi)) if draw(st.booleans()) else hi
            budget[kind][b] -= hi
            doc |= {
                "kind": kind,
                "share": hi * 0.05 if lo == hi else {"minimum": lo * 0.05, "maximum": hi * 0.05},
            }
        links[f"l{k}"] = Link.model_validate(doc)
    covered = draw(st.sets(st.integers(0, n - 1), max_size=max(1, n // 3)))
    listed = draw(st.sets(st.integers(0, n - 1), max_size=2))
    ents = {
        f"e{i}": Entity.model_validate(
            {
                "id": f"e{i}",
                "name": f"E{i}",
                "kind": "company",
                "country": "CN" if i in covered else "US",
                "lists": [{"list": "dod-1260h", "since": "2025-01-07", "sources": ["s"]}]
                if i in listed
                else [],
            }
        )
        for i in range(n)
    }
    return Dataset(sources={}, entities=ents, links=links, arrangements={}, version="t")


def _shown(tests: list[Any]) -> list[dict[str, Any]]:
    """The tests scoring reads: those that are not FALSE."""
    return [t.model_dump() for t in tests if t.verdict is not Tri.FALSE]


@settings(max_examples=120, deadline=None)
@given(pfe_graphs())
def test_screened_pfe_tests_agree_with_the_full_ones(ds: Dataset) -> None:
    g = ArrangementGraph.build(ds, ON)
    for eid in g.ids:
        full, lean = specified_foreign_entity(g, eid, FULL), specified_foreign_entity(g, eid, LEAN)
        assert lean.verdict is full.verdict
        assert _shown(lean.tests) == _shown(full.tests), eid

        full_f, lean_f = foreign_influenced(g, eid, FULL), foreign_influenced(g, eid, LEAN)
        assert lean_f.verdict is full_f.verdict, eid
        assert _shown(lean_f.tests) == _shown(full_f.tests), eid
        assert pfe_sentence(g, eid, LEAN) == pfe_sentence(g, eid, FULL)
        by_test = {t.test: t for t in full_f.tests}
        for t in lean_f.tests:  # a FALSE test's value: the full one, or a bound of it
            ref = by_test[t.test]
            assert t.verdict is ref.verdict
            if t.value is not None and ref.value is not None:
                assert t.value.min <= ref.value.min + 1e-9, (eid, t.test, t.value, ref.value)
                assert ref.value.max <= t.value.max + 1e-9, (eid, t.test, t.value, ref.value)
                if t.test == "aggregate_sfe_ownership" and t.value.min > 0:
                    assert abs(t.value.max - ref.value.max) <= 1e-9  # off a cycle: exact


@settings(max_examples=120, deadline=None)
@given(pfe_graphs())
def test_covered_listings_and_shares_agree_with_their_definitions(ds: Dataset) -> None:
    g = ArrangementGraph.build(ds, ON)
    covered = covered_parties(g, FULL)
    nx_g = nx.DiGraph()
    nx_g.add_nodes_from(range(len(g.ids)))
    for kinds in (frozenset({LinkKind.EQUITY}), OWNERSHIP_KINDS):
        nx_k = nx_g.copy()
        for l in ds.links.values():
            if l.kind in kinds:
                nx_k.add_edge(g.index[l.source], g.index[l.target])
        reach = g.reached("covered-test", covered, kinds)
        truth = set().union(  # one link or more from a covered party (itself, on a cycle)
            *(
                {s} | nx.descendants(nx_k, s)
                for c in np.flatnonzero(covered).tolist()
                for s in nx_k.successors(c)
            )
        )
        assert set(np.flatnonzero(reach).tolist()) == truth
        for eid in g.ids:
            # the old listing: the holders were the covered parties upstream of the entity
            up = g.upstream(eid)
            old = g.share_paths(
                eid,
                holders={g.ids[k] for k in up[covered[up]].tolist()},
                kinds=kinds,
                max_depth=FULL.max_depth,
                max_paths=FULL.max_paths,
            )
            assert covered_paths(g, eid, FULL, kinds) == old
            lean = covered_paths(g, eid, LEAN, kinds)
            assert lean.paths == old.paths
    for eid in g.ids:
        assert covered_share(g, eid, LEAN) == covered_exposure(g, eid, FULL).share
        assert covered_exposure(g, eid, LEAN).model_dump(exclude={"paths"}) == covered_exposure(
            g, eid, FULL
        ).model_dump(exclude={"paths"})


def _scores(engine: Engine, on: dt.date, ids: list[str]) -> list[str]:
    return [
        engine.score(a, on, "current-law", view=View.FULL, remedies=False).model_dump_json()
        for a in ids
    ]


@pytest.mark.parametrize("which", ["shipped", "synthetic"])
def test_whole_scores_are_the_same_with_screened_parameters(
    which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if which == "shipped":
        data, on = DEFAULT_DATA, dt.date(2026, 11, 22)
    else:
        from georisk.synth import SynthSpec, generate

        data, on = tmp_path, dt.date(2026, 11, 22)
        generate(SynthSpec(entities=600, arrangements=12, seed=3, mode="adversarial"), data)
    ids = sorted(Engine.from_dir(data).dataset.arrangements)[:12]
    reference = _scores(Engine.from_dir(data), on, ids)
    plain = rules_context.pfe_params
    monkeypatch.setattr(
        rules_context,
        "pfe_params",
        lambda pack, day: dataclasses.replace(plain(pack, day), explain=False),
    )
    assert not rules_context.pfe_params(Engine.from_dir(DEFAULT_DATA).pack, on).explain
    assert _scores(Engine.from_dir(data), on, ids) == reference


def test_covered_parties_from_a_snapshots_columns_equal_the_entities(tmp_path: Path) -> None:
    from georisk.scoring.dataset import load_dataset
    from georisk.synth import SynthSpec, generate

    generate(SynthSpec(entities=400, arrangements=4, seed=5, mode="realistic"), tmp_path)
    snap = load_dataset(tmp_path, snapshot=True)
    assert getattr(snap.entities, "field", None) is not None  # the columns path is taken
    plain = load_dataset(tmp_path, snapshot=False)
    masks = [covered_parties(ArrangementGraph.build(ds, ON), FULL) for ds in (snap, plain)]
    assert masks[0].any() and np.array_equal(masks[0], masks[1])
