"""Overlay benchmark: the cost of scoring with a what-if overlay against the base score.

For each size a synthetic dataset is generated (``georisk.synth``, temporary directory) and
loaded once in this process. Every figure is a median of a few repetitions, and the verdict is a
ratio of two figures measured in the same process:

* **base score, cold**: a fresh :class:`~georisk.scoring.engine.Engine` on the loaded dataset
  scores one arrangement (BASIC view, no remedies): the graph of the date, its whole-graph
  analytics (ultimate controllers, SFE sets, exposure) and the rules;
* **base score, warm**: the same engine scores another arrangement (graph and analytics cached:
  the per-arrangement cost of a batch);
* **overlay score**: the warm engine (base graph cached) scores the arrangement with an overlay
  that cuts a stake in its focal facility and adds a holder, a new overlay each repetition:
  :func:`~georisk.scoring.overlay.apply_overlay` (incremental), the variant's graph derived from
  the base graph, its analytics, the rules;
* apart: ``apply_overlay`` alone, the variant's graph derived vs built anew, and (up to 100k
  entities, or ``--reference``) the reference path that dumps and re-validates the dataset.

    .venv/bin/python bench/overlay_bench.py --quick     # 100k entities
    .venv/bin/python bench/overlay_bench.py --full      # 100k and 1M (~45 min, ~8 GB)
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from _common import RESULTS, peak_rss_mb, write_json

ON = dt.date(2026, 11, 22)


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _median(xs: list[float]) -> float:
    return round(statistics.median(xs), 4)


def bench_size(n: int, reps: int, reference: bool) -> dict[str, Any]:
    from georisk.scoring.engine import Engine, View
    from georisk.scoring.graph import ArrangementGraph
    from georisk.scoring.model import LinkKind
    from georisk.scoring.overlay import Overlay, apply_overlay, apply_overlay_reference
    from georisk.synth import SynthSpec, generate

    out = Path(tempfile.mkdtemp(prefix=f"georisk-overlay-{n}-"))
    res: dict[str, Any] = {"entities": n, "reps": reps}
    try:
        generate(SynthSpec(entities=n, arrangements=max(1_000, n // 10)), out)
        t = time.perf_counter()
        first = Engine.from_dir(out)
        res["load_s"] = round(time.perf_counter() - t, 2)
        ds = first.dataset
        res["links"] = len(ds.links)
        # arrangements whose focal facility has an equity holder: the overlay cuts that stake
        picks: list[tuple[str, str]] = []
        g0 = first.graph(ON)
        for aid, a in ds.arrangements.items():
            stakes = g0.links_into(a.focal, [LinkKind.EQUITY])
            if stakes:
                picks.append((aid, stakes[0].id))
            if len(picks) > 2 * reps + 2:
                break
        pack, scenarios = first.pack, first.scenarios
        del g0, first
        arr, lid = picks[0]
        holder = next(iter(ds.entities))

        def overlay(k: int) -> Overlay:
            return Overlay.model_validate(
                {
                    "arrangement": arr,
                    "add": {
                        "entities": [
                            {
                                "id": f"bench-holder-{k}",
                                "name": "Bench holder",
                                "kind": "company",
                                "country": "CN",
                                "sources": ["synth"],
                            }
                        ],
                        "links": [
                            {
                                "id": f"bench-stake-{k}",
                                "kind": "equity",
                                "source": f"bench-holder-{k}",
                                "target": holder,
                                "share": 0.001,
                                "sources": ["synth"],
                            }
                        ],
                    },
                    "change": {"links": [{"id": lid, "share": round(0.2 + k / 1000, 4)}]},
                }
            )

        def score(e: Engine, a: str, ov: Overlay | None = None) -> None:
            e.score(a, ON, view=View.BASIC, overlay=ov, remedies=False)

        cold: list[float] = []
        warm: list[float] = []
        over: list[float] = []
        for k in range(reps):
            eng = Engine(ds, pack, scenarios)  # fresh: no graph cached
            cold.append(_timed(partial(score, eng, arr)))
            warm.append(_timed(partial(score, eng, picks[1 + k][0])))
            over.append(_timed(partial(score, eng, arr, overlay(k))))
            print(
                f"  {n:,} rep {k}: cold {cold[-1]:.2f} s, warm {warm[-1]:.3f} s, "
                f"overlay {over[-1]:.2f} s",
                file=sys.stderr,
                flush=True,
            )
        applies = [_timed(partial(apply_overlay, ds, overlay(100 + k))) for k in range(reps)]
        base_graph = ArrangementGraph.build(ds, ON)
        variant = apply_overlay(ds, overlay(200))
        derive = [_timed(lambda: base_graph.derive(variant)) for _ in range(reps)]
        build = [_timed(lambda: ArrangementGraph.build(variant, ON)) for _ in range(reps)]
        res.update(
            base_score_cold_s=_median(cold),
            base_score_warm_s=_median(warm),
            overlay_score_s=_median(over),
            apply_overlay_s=_median(applies),
            graph_derive_s=_median(derive),
            graph_build_s=_median(build),
        )
        res["ratio_overlay_vs_cold"] = round(
            statistics.median(o / c for o, c in zip(over, cold, strict=True)), 2
        )
        res["ratio_overlay_vs_warm"] = round(
            statistics.median(o / w for o, w in zip(over, warm, strict=True)), 2
        )
        if reference:
            res["apply_reference_s"] = round(
                _timed(lambda: apply_overlay_reference(ds, overlay(300))), 2
            )
        res["peak_rss_mb"] = peak_rss_mb()
        print(f"  {n:,}: {res}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="100k entities")
    ap.add_argument("--full", action="store_true", help="100k and 1M entities")
    ap.add_argument("--sizes", type=int, nargs="+", help="entity counts (overrides the modes)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--reference",
        action="store_true",
        help="also time the reference path at every size (minutes at 1M)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "overlay.json")
    args = ap.parse_args(argv)
    sizes = args.sizes or ([100_000, 1_000_000] if args.full else [100_000])
    rows = [bench_size(n, args.reps, args.reference or n <= 100_000) for n in sizes]
    big = max(rows, key=lambda r: r["entities"])
    doc = {
        "mode": "full" if args.full else "quick" if args.quick else "custom",
        "date": ON.isoformat(),
        "sizes": rows,
        "targets": [
            {
                "target": f"overlay score <= 2 x base score at {big['entities']:,} entities",
                "measured": (
                    f"{big['ratio_overlay_vs_cold']} x the cold base score, "
                    f"{big['ratio_overlay_vs_warm']} x the warm one"
                ),
                "met": big["ratio_overlay_vs_cold"] <= 2.0
                if big["entities"] >= 1_000_000
                else None,
            }
        ],
    }
    write_json(args.out, doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
