"""Path listings: ranking the chains from the link arrays picks what ranking built paths picks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from georisk.scoring.dataset import load_dataset
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.model import OWNERSHIP_KINDS
from georisk.synth import SynthSpec, generate


def _reference_best(
    self: ArrangementGraph, found: list[tuple[int, list[int]]], k: int
) -> list[tuple[int, list[int]]]:
    at = self.dataset.store.at
    built = [
        (self._path(self.ids[h], [at(int(self.adj.link[j])) for j in chain]), (h, chain))
        for h, chain in found
    ]
    built.sort(key=lambda x: (-x[0].product.max, -x[0].product.min, x[0].entities))
    return [hc for _, hc in built[:k]]


def test_truncated_listings_equal_the_built_and_sorted_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate(SynthSpec(entities=800, arrangements=40, seed=5, ranged_share=0.3), tmp_path)
    g = ArrangementGraph.build(load_dataset(tmp_path), dt.date(2026, 11, 22))
    truncated = 0
    for eid in g.ids[::3]:
        for max_paths in (1, 2, 5):
            kw = {"max_paths": max_paths, "kinds": OWNERSHIP_KINDS, "stop_at_holders": False}
            fast = g.share_paths(eid, **kw)  # type: ignore[arg-type]
            with monkeypatch.context() as m:
                m.setattr(ArrangementGraph, "_best", _reference_best)
                ref = g.share_paths(eid, **kw)  # type: ignore[arg-type]
            assert fast == ref, eid
            truncated += fast.truncated
    assert truncated > 50  # the comparison exercised the ranking
