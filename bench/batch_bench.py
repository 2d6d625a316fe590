"""Batch benchmark: arrangements scored per second, the engine against a naive NetworkX baseline.

For each size, a synthetic dataset (:func:`georisk.synth.generate`) is written to a temporary
directory (deleted afterwards) and loaded once. Then, on the same sample of arrangements and the
same date:

* **engine** — the in-process batch path (:func:`georisk.batch.score_jobs` on
  :func:`georisk.batch.engine_for`: the full rule pack, every scenario for the policy axis, the
  BASIC view, one output scenario), after the graph of the date is built (timed apart);
* **naive** — what a notebook would do: a NetworkX DiGraph of the equity links (built once, timed
  apart), then per arrangement, for its taxpayer (or focal entity) and every covered-nation
  (CN/RU/IR/KP) entity upstream of it, ``nx.all_simple_paths`` with a depth cutoff, multiplying
  the shares along each path and summing. It answers one question (covered-nation exposure),
  the engine about thirty, so the ratio flatters the baseline.

Both are bounded by a count and a time budget; the rates come from what finished.

With ``--engines``, the batch engines themselves on further arrangements (never the ones
scored above, whose results the engine caches): local worker processes
(:class:`georisk.batch.engines.Processes`) with 1 and then 2 workers, and with ``--dask`` a
local Dask cluster (:class:`georisk.batch.engines.Dask`) with 1 and then 2 workers, each fed
partitions of 50 rows as ``georisk batch`` feeds them; the rate is taken after the pool is up
and warm (start-up timed apart). The 100k-arrangements figure is extrapolated from the
2-worker rate when measured (else the in-process rate), and said so in the output: a
cross-check, not a target (the 100k portfolios, realistic and adversarial, are measured end to
end by ``bench/portfolio_bench.py``).

With ``--merge`` the rows of the results file this run does not measure (another generator or
size) are kept, and ``runs`` lists every run's command line: ``run_all.py --full`` makes issue
16's batch rows in three runs (``run_all.FULL_BATCH``) into one ``results/batch.json``.

    .venv/bin/python bench/batch_bench.py --quick --mode realistic
    .venv/bin/python bench/batch_bench.py --sizes 1000000 --mode realistic --engines --dask --merge
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
from _common import RESULTS, cpu_seconds, machine, peak_rss_mb, write_json

from georisk.batch import Job, engine_for, score_jobs
from georisk.batch.engines import _ENGINES, Backend, Dask, Processes, prepare
from georisk.scoring.dataset import Dataset
from georisk.scoring.model import LinkKind
from georisk.synth import SynthSpec, generate

COVERED = frozenset({"CN", "RU", "IR", "KP"})
ON = dt.date(2026, 11, 22)
CUTOFF = 6
MAX_PATHS = 100_000  # per arrangement; the baseline stops there (makes it faster, not slower)


def naive_graph(ds: Dataset, on: dt.date) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(ds.entities)
    for l in ds.links.values():
        if l.kind is LinkKind.EQUITY and l.active(on):
            lo, hi = l.share_bounds()
            w = g.get_edge_data(l.source, l.target, {"w": 0.0})["w"]
            g.add_edge(l.source, l.target, w=min(1.0, w + (lo + hi) / 2))
    return g


def naive_exposure(g: nx.DiGraph, covered: set[str], target: str) -> tuple[float, int]:
    """Sum over simple paths (at most CUTOFF links) from covered entities of the share product."""
    total, paths = 0.0, 0
    for src in covered & nx.ancestors(g, target):
        for path in nx.all_simple_paths(g, src, target, cutoff=CUTOFF):
            prod = 1.0
            for u, v in itertools.pairwise(path):
                prod *= g[u][v]["w"]
            total += prod
            paths += 1
            if paths >= MAX_PATHS:
                return total, paths
    return total, paths


PART = 50  # rows per partition fed to the engines


def _jobs(ids: list[str]) -> list[Job]:
    return [Job(i, i + 2, str(i), a, None, ON, ("current-law",)) for i, a in enumerate(ids)]


def _rate(backend: Backend, warm: list[str], ids: list[str], budget: float) -> dict[str, Any]:
    """Rows/s of ``backend`` on ``ids`` (partitions of :data:`PART`) after one warm-up
    partition per worker; stops submitting after ``budget`` seconds."""
    list(backend.run([[j] for j in _jobs(warm)]))
    jobs = _jobs(ids)
    pids = [*_pids(backend), os.getpid()]
    cpu0 = [cpu_seconds(p) for p in pids]
    t = time.perf_counter()

    def parts() -> Any:
        for i in range(0, len(jobs), PART):
            if time.perf_counter() - t > budget:
                return
            yield jobs[i : i + PART]

    done = errors = 0
    for res in backend.run(parts()):
        done += len(res)
        errors += sum(1 for r in res if r.error)
    el = time.perf_counter() - t
    cpu = [cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
    return {
        "scored": done,
        "errors": errors,
        "seconds": round(el, 2),
        "per_s": round(done / el, 2),
        # CPU per arrangement in the workers (and in this process: the feeding and the
        # results): what the rate would be on cores of our own, whatever else runs
        "worker_cpu_ms_per_arr": round(1000 * sum(cpu[:-1]) / max(done, 1), 2),
        "parent_cpu_ms_per_arr": round(1000 * cpu[-1] / max(done, 1), 2),
        "worker_cpu_share": round(sum(cpu[:-1]) / el / max(len(cpu) - 1, 1), 2),
        "load_average": round(os.getloadavg()[0], 1),
    }


def _pids(backend: Backend) -> list[int]:
    """The worker processes of a :class:`Processes` or :class:`Dask` backend."""
    if isinstance(backend, Processes):
        return list(backend.pool._processes)
    if isinstance(backend, Dask):
        return list(backend.client.run(os.getpid).values())
    return []


def _engines(out: Path, ids: list[str], budget: float, dask: bool) -> dict[str, Any]:
    """1 and 2 local worker processes (and Dask workers), each on arrangements of its own."""
    res: dict[str, Any] = {}

    def processes(k: int) -> Backend:
        return Processes(k, str(out), "us", False, ON)

    def cluster(k: int) -> Backend:
        return Dask(None, k, str(out), "us", False, ON)

    kinds: list[tuple[str, Callable[[int], Backend]]] = [("workers", processes)]
    if dask:
        kinds.append(("dask", cluster))
    # each run scores arrangements of its own: at most 4,000, and no fewer for a later run
    # (fast workers used to eat the sample, leaving the last run nothing to score)
    per_run = max(1, min(4000, (len(ids) - 3 * len(kinds)) // (2 * len(kinds))))
    pos = 0
    for name, make in kinds:
        if name == "dask":  # the workers load the dataset themselves: free this copy first
            _ENGINES.clear()
            gc.unfreeze()
            gc.collect()
        for k in (1, 2):
            warm, take = ids[pos : pos + k], ids[pos + k : pos + k + per_run]
            t = time.perf_counter()
            backend = make(k)
            start = time.perf_counter() - t
            try:
                r = _rate(backend, warm, take, budget)
            finally:
                backend.close()
            pos += k + per_run
            r["start_s"] = round(start, 2)
            res[f"{name}_{k}"] = r
            print(f"  {name} {k}: {r}", file=sys.stderr)
        res[f"{name}_2_vs_1"] = round(res[f"{name}_2"]["per_s"] / res[f"{name}_1"]["per_s"], 2)
        # on cores of their own (the machine is shared: see load_average), k workers score
        # k / (CPU per arrangement) rows a second: the ratio the CPU figures give
        per_core = [res[f"{name}_{k}"]["worker_cpu_ms_per_arr"] for k in (1, 2)]
        res[f"{name}_2_vs_1_by_cpu"] = round(2 * per_core[0] / per_core[1], 2)
        res[f"{name}_2_by_cpu_per_s"] = round(2000 / per_core[1], 1)
    return res


def bench_size(
    n: int,
    arrangements: int,
    sample: int,
    budget: float,
    seed: int,
    mode: str = "adversarial",
    engines: bool = False,
    dask: bool = False,
) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix=f"georisk-bench-{n}-"))
    res: dict[str, Any] = {"entities": n, "mode": mode}
    try:
        t = time.perf_counter()
        spec = SynthSpec(entities=n, arrangements=arrangements, seed=seed, mode=mode)
        stats = generate(spec, out)
        res["generate_s"] = round(time.perf_counter() - t, 2)
        res["links"] = stats.links
        t = time.perf_counter()
        engine = engine_for(out)
        res["load_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        gr = engine.graph(ON)
        _ = gr.equity, gr.control
        res["graph_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        prepare(engine, ON)  # every scenario date's graph and whole-graph screens
        res["prepare_s"] = round(time.perf_counter() - t, 2)
        every = sorted(engine.dataset.arrangements)
        ids = every[:sample]
        jobs = _jobs(ids)
        score_jobs(engine, jobs[:1])  # warm-up: scenario dates' graph views and packs
        done, errors = 0, 0
        t = time.perf_counter()
        for j in jobs[1:]:
            errors += sum(1 for r in score_jobs(engine, [j]) if r.error)
            done += 1
            if time.perf_counter() - t > budget:
                break
        eng_s = time.perf_counter() - t
        res["engine"] = {
            "scored": done,
            "errors": errors,
            "seconds": round(eng_s, 2),
            "per_s": round(done / eng_s, 2),
        }
        print(f"  {n:,}: engine {res['engine']}", file=sys.stderr)

        ds = engine.dataset
        t = time.perf_counter()
        g = naive_graph(ds, ON)
        covered = {e.id for e in ds.entities.values() if e.country in COVERED}
        res["naive_graph_s"] = round(time.perf_counter() - t, 2)
        ndone, capped, npaths = 0, 0, 0
        t = time.perf_counter()
        for a in ids[1 : 1 + done]:  # the same arrangements the engine scored
            arr = ds.arrangements[a]
            _, p = naive_exposure(g, covered, arr.taxpayer or arr.focal)
            npaths += p
            capped += p >= MAX_PATHS
            ndone += 1
            if time.perf_counter() - t > budget:
                break
        nv_s = time.perf_counter() - t
        res["naive"] = {
            "scored": ndone,
            "seconds": round(nv_s, 2),
            "per_s": round(ndone / nv_s, 2) if nv_s else None,
            "paths": npaths,
            "capped_at_max_paths": capped,
            "cutoff": CUTOFF,
        }
        print(f"  {n:,}: naive {res['naive']}", file=sys.stderr)
        ratio = res["engine"]["per_s"] / res["naive"]["per_s"] if res["naive"]["per_s"] else None
        res["speedup_vs_naive"] = round(ratio, 2) if ratio else None
        del g, ds, engine
        _ENGINES.clear()  # the engines below load their own (or inherit the parent's: again)
        gc.unfreeze()  # engine_for froze it out of the collector
        gc.collect()
        rate, basis = res["engine"]["per_s"], "in-process"
        if engines:
            res["engines"] = _engines(out, every[sample:], budget, dask)
            rate, basis = res["engines"]["workers_2"]["per_s"], "--workers 2"
            res["extrapolated_100k_arrangements_s_by_cpu"] = round(
                100_000 / res["engines"]["workers_2_by_cpu_per_s"], 1
            )
        res["extrapolated_100k_arrangements_s"] = round(100_000 / rate, 1)
        res["extrapolated_from"] = basis
        res["peak_rss_mb"] = peak_rss_mb()
        _ENGINES.clear()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return res


def merge(
    doc: dict[str, Any], rows: list[dict[str, Any]], run: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The size rows of an earlier ``batch.json`` (``doc``) with this run's ``rows`` in place
    of those of the same mode and size (the others kept, in their order; new ones appended),
    and the list of runs that made them (``run`` last).

    >>> old = {"sizes": [{"mode": "a", "entities": 1, "x": 0}, {"mode": "r", "entities": 1}],
    ...        "runs": [{"git": "g0"}]}
    >>> rows, runs = merge(old, [{"mode": "a", "entities": 1, "x": 1}], {"git": "g1"})
    >>> [(r["mode"], r.get("x")) for r in rows], [r["git"] for r in runs]
    ([('a', 1), ('r', None)], ['g0', 'g1'])
    """
    new = {(r["mode"], r["entities"]): r for r in rows}
    kept = []
    for r in doc.get("sizes", []):
        key = (r.get("mode", "adversarial"), r["entities"])
        kept.append(new.pop(key, r))
    earlier = doc.get("runs")
    if not isinstance(earlier, list):  # a file from before runs were listed
        mc = doc.get("machine", {})
        earlier = [{"when": mc.get("when"), "git": mc.get("git"), "mode": doc.get("mode")}]
    return [*kept, *new.values()], [*earlier, run]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true", help="also 1M entities")
    ap.add_argument("--sizes", type=int, nargs="+", help="entity counts (overrides the modes)")
    ap.add_argument("--sample", type=int, default=200, help="arrangements timed at most")
    ap.add_argument("--budget", type=float, help="seconds per side and size (15 quick, 60 full)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--mode",
        choices=["adversarial", "realistic"],
        default="adversarial",
        help="the generator's mode (georisk synth --mode): adversarial, the stress case the "
        "earlier figures used (one giant cycle), or realistic (registry-like trees)",
    )
    ap.add_argument(
        "--modes", nargs="+", choices=["adversarial", "realistic"], help="several modes in turn"
    )
    ap.add_argument("--engines", action="store_true", help="also 1 and 2 local worker processes")
    ap.add_argument("--dask", action="store_true", help="with --engines: also Dask, 1 and 2")
    ap.add_argument("--out", type=Path, default=RESULTS / "batch.json")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of --out this run does not measure (another mode or size); a row "
        "of the same mode and size is replaced; the targets are made from all rows",
    )
    args = ap.parse_args(argv)
    sizes = args.sizes or ([10_000, 100_000, 1_000_000] if args.full else [10_000, 100_000])
    budget = args.budget or (15.0 if args.quick else 60.0)
    run_mode = "full" if args.full else "quick" if args.quick else "default"
    rows = []
    for mode in args.modes or [args.mode]:
        for n in sizes:  # each size in this process: RSS is a high-water mark (startup_bench)
            print(f"batch: {n:,} entities, {mode}", file=sys.stderr)
            arrangements = max(1_000, args.sample + (12_000 if args.engines else 0))
            rows.append(
                bench_size(
                    n, arrangements, args.sample, budget, args.seed, mode, args.engines, args.dask
                )
            )
    made = machine()
    run = {
        "when": made["when"],
        "git": made["git"],
        "args": list(argv if argv is not None else sys.argv[1:]),
        "budget_s": budget,
        "sizes": [(r["mode"], r["entities"]) for r in rows],
    }
    runs = [run]
    if args.merge and args.out.exists():
        rows, runs = merge(json.loads(args.out.read_text()), rows, run)
    targets = []
    for r in rows:
        targets.append(
            {
                "target": f"batch >= 20x naive at {r['entities']:,} entities ({r['mode']})",
                "measured": r["speedup_vs_naive"],
                "met": bool(r["speedup_vs_naive"] and r["speedup_vs_naive"] >= 20),
            }
        )
    # the 100k-arrangements rows (realistic and adversarial) are measured end to end, not
    # extrapolated: bench/portfolio_bench.py (--mode adversarial); each size's extrapolation
    # stays in its row ("extrapolated_100k_arrangements_s") as a cross-check
    for r in rows:
        e = r.get("engines", {})
        if "dask_2_vs_1" in e and r["entities"] >= 1_000_000:
            targets.append(
                {
                    "target": f"Dask 2 workers vs 1 on the 1M portfolio ({r['mode']}) >= 1.7x",
                    "measured": f"{e['dask_2_vs_1']} wall (load average "
                    f"{e['dask_2']['load_average']}); {e['dask_2_vs_1_by_cpu']} by CPU",
                    "met": e["dask_2_vs_1"] >= 1.7,
                }
            )
    write_json(
        args.out,
        {
            "benchmark": "batch",
            "mode": "merged" if len(runs) > 1 else run_mode,
            "as_of": ON.isoformat(),
            "budget_s": budget,
            "runs": runs,
            "sizes": rows,
            "targets": targets,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
