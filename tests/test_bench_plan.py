"""``bench/run_all.py --full`` reproduces every batch row of issue 16 in one results file.

The batch rows (the engine against the naive walk at 10k, 100k and 1M entities on both
generators; Dask 2 workers vs 1 on the 1M realistic graph) come from several
``batch_bench.py`` runs merged into ``bench/results/batch.json`` (``--merge``): a row of the
same mode and size is replaced, the others kept.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def bench_modules() -> tuple[Any, Any]:
    sys.path.insert(0, str(BENCH))
    try:
        import batch_bench
        import run_all
    finally:
        sys.path.remove(str(BENCH))
    return batch_bench, run_all


def _values(argv: list[str], flag: str) -> list[str]:
    """The values given after ``flag`` (up to the next option)."""
    rest = argv[argv.index(flag) + 1 :]
    end = next((i for i, a in enumerate(rest) if a.startswith("--")), len(rest))
    return rest[:end]


def _plan(argvs: list[list[str]]) -> dict[tuple[str, int], set[str]]:
    """(mode, size) → the extras measured for it, by the runs' command lines."""
    got: dict[tuple[str, int], set[str]] = {}
    for argv in argvs:
        for m in _values(argv, "--modes"):
            for n in _values(argv, "--sizes"):
                extras = {a for a in argv if a in ("--engines", "--dask")}
                got.setdefault((m, int(n)), set()).update(extras)
    return got


def test_the_full_run_measures_every_batch_row_of_issue_16(bench_modules: tuple[Any, Any]) -> None:
    _, run_all = bench_modules
    plan = _plan(run_all.FULL_BATCH)
    sizes = {10_000, 100_000, 1_000_000}
    assert set(plan) == {(m, n) for m in ("adversarial", "realistic") for n in sizes}
    assert plan[("realistic", 1_000_000)] == {"--engines", "--dask"}
    # every run after the first merges into the file the first one wrote
    assert ["--merge" in a for a in run_all.FULL_BATCH] == [False, True, True]


def test_merge_replaces_a_row_of_the_same_mode_and_size_and_keeps_the_others(
    bench_modules: tuple[Any, Any],
) -> None:
    batch_bench, _ = bench_modules
    old = {
        "machine": {"when": "t0", "git": "g0"},
        "mode": "default",
        "sizes": [
            {"mode": "adversarial", "entities": 10_000, "speedup_vs_naive": 50},
            {"mode": "realistic", "entities": 10_000, "speedup_vs_naive": 0.5},
        ],
    }
    new = [
        {"mode": "realistic", "entities": 10_000, "speedup_vs_naive": 0.6},
        {"mode": "realistic", "entities": 1_000_000, "speedup_vs_naive": 29},
    ]
    rows, runs = batch_bench.merge(old, new, {"git": "g1"})
    assert [(r["mode"], r["entities"], r["speedup_vs_naive"]) for r in rows] == [
        ("adversarial", 10_000, 50),
        ("realistic", 10_000, 0.6),
        ("realistic", 1_000_000, 29),
    ]
    assert [r["git"] for r in runs] == ["g0", "g1"]
