"""The bottom-up controller search agrees with the fixed-point definition of control."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from georisk.scoring.control.controllers import _controllers
from georisk.scoring.dataset import Dataset
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.model import Entity, EntityKind, Link, LinkKind
from georisk.scoring.ownership import threshold_closure


@st.composite
def ownership_graphs(draw: st.DrawFn) -> Dataset:
    n = draw(st.integers(2, 9))
    budget = [1.0] * n
    links: dict[str, Link] = {}
    for k in range(draw(st.integers(1, 3 * n))):
        a, b = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        if a == b or budget[b] <= 0.01:
            continue
        share = round(draw(st.floats(0.01, 1.0)) * budget[b], 4)
        if share <= 0:
            continue
        budget[b] -= share
        links[f"l{k}"] = Link(
            id=f"l{k}",
            kind=LinkKind.EQUITY,
            source=f"e{a}",
            target=f"e{b}",
            share=share,
            sources=["s"],
        )
    ents = {
        f"e{i}": Entity(id=f"e{i}", name=f"e{i}", kind=EntityKind.COMPANY, country="FR")
        for i in range(n)
    }
    return Dataset(sources={}, entities=ents, links=links, arrangements={}, version="t")


@settings(max_examples=100, deadline=None)
@given(ownership_graphs())
def test_controllers_match_single_seed_closures(ds: Dataset) -> None:
    g = ArrangementGraph.build(ds, dt.date(2026, 1, 1))
    n = len(g.ids)
    for t in range(n):
        cert, _ = _controllers(g, t, depth=n + 1)
        truth = set()
        for c in range(n):
            if c == t:
                continue
            seeds = np.zeros(n, dtype=bool)
            seeds[c] = True
            if threshold_closure(g.control, seeds, 0.5, inclusive=False).certain[t]:
                truth.add(c)
        assert cert == truth, (t, cert, truth)
