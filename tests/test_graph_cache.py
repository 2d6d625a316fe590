"""The engine's graph cache: a bounded LRU that overlay churn cannot empty of base graphs."""

from __future__ import annotations

import datetime as dt

import pytest

from georisk.scoring.engine import Engine, View
from georisk.scoring.graph import GraphCache
from georisk.scoring.overlay import Overlay

ON = dt.date(2026, 11, 22)


def stake(x: float) -> Overlay:
    return Overlay.model_validate(
        {
            "arrangement": "gm-tdk-catl",
            "change": {"links": [{"id": "tdk-funds-gm-tdk-plant", "share": x}]},
        }
    )


def test_overlay_scores_leave_the_base_graph_cached(engine: Engine) -> None:
    eng = Engine(engine.dataset, engine.pack, engine.scenarios)
    eng.score("gm-tdk-catl", ON, view=View.BASIC, remedies=False)
    base = eng.cached_graph(ON)
    assert base is not None
    for i in range(100):
        eng.score("gm-tdk-catl", ON, view=View.BASIC, overlay=stake(i / 200), remedies=False)
        assert eng.cached_graph(ON) is base
    n_base, n_overlay = eng.graphs.sizes()
    assert n_overlay <= eng.graphs.overlay_limit and n_base <= eng.graphs.base_limit
    assert n_overlay > 0  # the variants' graphs were cached too, apart from the base's
    # the latest variant's graph is cached and derived from the base graph of the same date
    last = eng.overlaid(eng.dataset, stake(99 / 200))
    g = eng.cached_graph(ON, last)
    assert g is not None and g.dataset.base is eng.dataset


def test_cache_is_a_bounded_lru_with_separate_bounds(engine: Engine) -> None:
    cache = GraphCache(base_limit=4, overlay_limit=2)
    ds = engine.dataset
    dates = [ON - dt.timedelta(days=400 * k) for k in range(4)]
    graphs = [cache.graph(ds, d) for d in dates]
    assert cache.sizes()[0] <= 4
    # the most recent base dates survive, the oldest went first
    assert cache.get((ds.version, "", dates[-1])) is graphs[-1]
    assert cache.get((ds.version, "", dates[0])) is None
    from georisk.scoring.overlay import apply_overlay

    for i in range(10):
        cache.graph(apply_overlay(ds, stake(i / 20)), dates[-1])
        assert cache.sizes()[1] <= 2
    assert cache.get((ds.version, "", dates[-1])) is graphs[-1]


def test_cache_bounds_must_hold_a_graph_and_a_view() -> None:
    with pytest.raises(ValueError, match="at least"):
        GraphCache(base_limit=1)
