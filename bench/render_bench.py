"""Render benchmark: drawing an arrangement's chart stays bounded on large datasets (issue 17).

For each dataset (the shipped one, and synthetic ones given with ``--data`` or made with
``--generate N``, realistic mode), in one process per dataset, as of 2026-11-22, for up to
``--arrangements`` arrangements (sorted ids): the FULL score without remedies (the baseline,
measured in the same process), then the render of that score (:func:`georisk.render.
render_score`) as SVG — the bounded neighbourhood (:func:`~georisk.render.chart.build_chart`),
its DOT source and Graphviz ``dot`` — and the HTML memo without its timeline. Reported per
dataset: the median and largest render time (wall seconds), the nodes and links drawn, the
holders left out, and the render/score ratio (noise falls on both alike). The target of the
issue: rendering stays under 2 s at 1M entities (``max_nodes`` 60).

    .venv/bin/python bench/render_bench.py                                # shipped data only
    .venv/bin/python bench/render_bench.py --generate 100000             # + a 100k synthetic set
    .venv/bin/python bench/render_bench.py --data /tmp/synth-1m          # + a dataset directory
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, peak_rss_mb, write_json

ON = dt.date(2026, 11, 22)
TARGET_S = 2.0


def one(data: str, n_arr: int, reps: int) -> dict[str, Any]:
    """Measure one dataset (in this process): see the module docstring."""
    from georisk.render import ExplainOptions, render_score
    from georisk.scoring.engine import DEFAULT_DATA, Engine, View

    t0 = time.perf_counter()
    engine = Engine.from_dir(data or DEFAULT_DATA)
    load_s = time.perf_counter() - t0
    gc.collect()
    gc.freeze()
    ds = engine.dataset
    arrs = sorted(ds.arrangements)[:n_arr]
    no_tl = ExplainOptions(timeline=False)
    rows: list[dict[str, Any]] = []
    for aid in arrs:
        score_s, render_s, memo_s = [], [], []
        r = None
        for _ in range(reps):
            engine.graphs.clear()  # each repetition builds the date's graph again: uncached
            t = time.perf_counter()
            s = engine.score(aid, ON, view=View.FULL, remedies=False)
            score_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            r = render_score(engine, s, "svg")
            render_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            render_score(engine, s, "html", options=no_tl)
            memo_s.append(time.perf_counter() - t)
        assert r is not None
        c = r.chart
        rows.append(
            {
                "arrangement": aid,
                "score_s": round(statistics.median(score_s), 4),  # cold: the graph is built
                "render_s": round(statistics.median(render_s), 4),
                "render_max_s": round(max(render_s), 4),
                "chart_s": round(r.seconds.get("chart", 0.0), 4),
                "draw_s": round(r.seconds.get("draw", 0.0), 4),
                "memo_html_s": round(statistics.median(memo_s), 4),
                "nodes": sum(1 for x in c.nodes if x.kind != "more"),
                "more_nodes": sum(1 for x in c.nodes if x.kind == "more"),
                "links": len(c.edges),
                "holders_not_drawn": c.hidden,
                "svg_bytes": len(r.data),
            }
        )
    render = [x["render_s"] for x in rows]
    score = [x["score_s"] for x in rows]
    return {
        "data": data or "shipped",
        "entities": len(ds.entities),
        "links": len(ds.links),
        "load_s": round(load_s, 1),
        "peak_rss_mb": peak_rss_mb(),
        "arrangements": len(rows),
        "reps": reps,
        "render_median_s": round(statistics.median(render), 4),
        "render_max_s": round(max(x["render_max_s"] for x in rows), 4),
        "score_median_s": round(statistics.median(score), 4),
        "render_over_score": round(
            statistics.median(render) / max(statistics.median(score), 1e-9), 3
        ),
        "nodes_max": max(x["nodes"] + x["more_nodes"] for x in rows),
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", default=[], help="a dataset directory (repeatable)")
    ap.add_argument("--generate", type=int, action="append", default=[], metavar="N",
                    help="also generate a realistic synthetic dataset of N entities")  # fmt: skip
    ap.add_argument("--arrangements", type=int, default=10, help="arrangements per dataset")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 repetition (bench/run_all.py)")
    ap.add_argument("--full", action="store_true", help="5 repetitions")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a child process: measure one dataset
    args = ap.parse_args()
    reps = 1 if args.quick else 5 if args.full else args.reps
    if args.one is not None:
        print(json.dumps(one(args.one, args.arrangements, reps)))
        return
    datasets = ["", *args.data]
    tmp = tempfile.TemporaryDirectory(prefix="georisk-render-bench-")
    for n in args.generate:
        out = Path(tmp.name) / f"synth-{n}"
        from georisk.synth import SynthSpec, generate

        generate(SynthSpec(entities=n, arrangements=200, seed=0, mode="realistic"), out)
        datasets.append(str(out))
    results = []
    for d in datasets:  # one process each: a 1M dataset's memory is given back between them
        cmd = [sys.executable, __file__, "--one", d, "--arrangements", str(args.arrangements)]
        cmd += ["--reps", str(reps)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        got = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{got['data']}: {got['entities']:,} entities; render median "
            f"{got['render_median_s']} s, "
            f"max {got['render_max_s']} s (score median {got['score_median_s']} s; "
            f"render/score {got['render_over_score']}); at most {got['nodes_max']} nodes",
            file=sys.stderr,
        )
        results.append(got)
    tmp.cleanup()
    largest = max(results, key=lambda r: r["entities"])
    targets = [
        {
            "name": "render of one arrangement (chart: neighbourhood + dot SVG) under 2 s",
            "value": f"{largest['render_max_s']} s",
            "detail": f"largest of {largest['arrangements']} arrangements × {reps} reps on "
            f"{largest['entities']:,} entities",
            "met": largest["render_max_s"] < TARGET_S,
        }
    ]
    for t in targets:
        print(f"{'met   ' if t['met'] else 'MISSED'} {t['name']}: {t['value']} ({t['detail']})")
    write_json(
        RESULTS / "render.json", {"on": ON.isoformat(), "targets": targets, "datasets": results}
    )


if __name__ == "__main__":
    main()
