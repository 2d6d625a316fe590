"""Run every benchmark, then write ``bench/results/latest.md`` and ``bench/results/scaling.png``.

    .venv/bin/python bench/run_all.py --quick     # a few minutes: 10k and 100k entities
    .venv/bin/python bench/run_all.py --full      # real sizes: 1M entities (~30 min, ~10 GB)
    .venv/bin/python bench/run_all.py --report    # only rebuild the table and plot from JSON

Each benchmark runs in its own process (``bench/<name>_bench.py``) and writes
``bench/results/<name>.json``; ``--only serve batch`` picks some. The plot needs the ``bench``
extra (``pip install -e '.[bench]'``: matplotlib); without it the table is still written.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT

NAMES = [
    "serve",
    "h2load",
    "score",
    "batch",
    "portfolio",
    "analytics",
    "startup",
    "overlay",
    "import",
    "convert",
]


#: ``--full``'s batch runs, into one ``results/batch.json`` (``--merge``): issue 16's rows, the
#: engine against the naive walk at 10k, 100k and 1M entities on both generators, and the
#: batch engines (worker processes, Dask) on the 1M realistic portfolio graph
FULL_BATCH = [
    ["--sizes", "10000", "100000", "1000000", "--modes", "adversarial", "--budget", "45"],
    ["--sizes", "10000", "100000", "--modes", "realistic", "--budget", "45", "--merge"],
    [
        "--sizes",
        "1000000",
        "--modes",
        "realistic",
        "--engines",
        "--dask",
        "--budget",
        "45",
        "--merge",
    ],
]


def _load(name: str) -> dict[str, Any] | None:
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _yes(met: object) -> str:
    if met is None:
        return "not measured at this size (run --full)"
    return "met" if met else "**missed**"


def _serve_md(doc: dict[str, Any]) -> list[str]:
    lines = [
        f"### Serving ({doc.get('mode')}; {doc['machine']['when']}, git {doc['machine']['git']})",
        "",
        "QPS and latency of ScoreArrangement against the health Check on the same server in the "
        "same run (ratio = score QPS / Check QPS). Python grpc.aio client on the same 2 cores.",
        "",
        "| processes | cache | call | in flight | QPS | ratio vs Check | p50 ms | p99 ms "
        "| server CPU µs/call | client CPU µs/call |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cfg in doc["configs"]:
        for p in cfg["points"]:
            lines.append(
                f"| {cfg['processes']} | {cfg['cache']} | {p['call']} | {p['inflight']} "
                f"| {p['qps']:,.0f} | {p['qps_ratio_vs_check']:.2f} | {p['p50_ms']} "
                f"| {p['p99_ms']} | {p['server_cpu_us_per_call']:,.0f} "
                f"| {p['client_cpu_us_per_call']:,.0f} |"
            )
    return lines


def _batch_md(doc: dict[str, Any]) -> list[str]:
    runs = doc.get("runs")
    made = (
        "; ".join(f"`{' '.join(r.get('args') or [])}` at {r['when']}, git {r['git']}" for r in runs)
        if isinstance(runs, list) and all("args" in r for r in runs)
        else doc.get("mode")
    )
    lines = [
        f"### Batch ({made}; budget {doc['budget_s']} s per side and size)",
        "",
        "| graph | entities | links | load s | graph s | engine arr/s | naive arr/s "
        "| engine / naive | 100k arrangements (extrapolated) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["sizes"]:
        lines.append(
            f"| {r.get('mode', 'adversarial')} | {r['entities']:,} | {r['links']:,} "
            f"| {r['load_s']} | {r['graph_s']} "
            f"| {r['engine']['per_s']} ({r['engine']['scored']} scored) "
            f"| {r['naive']['per_s']} ({r['naive']['scored']}) | {r['speedup_vs_naive']}× "
            f"| {r['extrapolated_100k_arrangements_s'] / 60:,.1f} min |"
        )
    return lines


def _portfolio_md(doc: dict[str, Any]) -> list[str]:
    r = doc["run"]
    lines = [
        f"### Portfolio end to end ({doc['machine']['when']}, git {doc['machine']['git']})",
        "",
        f"`georisk batch` over {r['arrangements']:,} arrangements of "
        f"{'an' if r['mode'][:1] in 'aeiou' else 'a'} {r['mode']} graph of "
        f"{r['entities']:,} entities / {r['links']:,} links (`portfolio_bench.py`); scoring = "
        "rows ÷ the final progress rate (from the workers being up), command = the whole "
        f"command's wall time, from the snapshot (cold start {r['cold_start_s']} s apart).",
        "",
        "| engine | rows | scoring s | rows/s | command s | CPU s | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("workers_2", "dask_2"):
        e = r.get(name)
        if e:
            lines.append(
                f"| {name.replace('_', ' ')} | {e['rows']:,} | {e['scoring_s']} "
                f"| {e['scoring_rows_per_s']:,} | {e['command_s']} | {e['cpu_s']} "
                f"| {e['peak_rss_mb']:,} |"
            )
    return lines


def _analytics_md(doc: dict[str, Any]) -> list[str]:
    lines = [
        f"### Analytics ({doc.get('mode')}; {doc['matrix']})",
        "",
        "| entities | links | one mat-vec ms | operation | s | ratio vs mat-vec | detail |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc["sizes"]:
        for op, v in r["ops"].items():
            detail = (
                f"work of {v['matvecs_per_bound']} mat-vecs per bound, 2 bounds"
                + (
                    f"; first call (plan) {v['cold_ratio_vs_matvec']}×; plain series "
                    f"{v['reference_ratio_vs_matvec']}×, max diff {v['max_abs_diff']}"
                    if "cold_ratio_vs_matvec" in v
                    else ""
                )
                if "matvecs_per_bound" in v
                else f"{v.get('rounds')} rounds, {v.get('in_closure'):,} entities"
            )
            lines.append(
                f"| {r['entities']:,} | {r['links']:,} | {r['floor_matvec_ms']} | {op} "
                f"| {v['seconds']} | {v['ratio_vs_matvec']}× | {detail} |"
            )
    return lines


def _startup_md(doc: dict[str, Any]) -> list[str]:
    lines = [
        f"### Memory and start-up ({doc.get('mode')})",
        "",
        "| entities | dataset MB | load s | graph s | matrices s | peak RSS MB (load+graph) "
        "| serve → SERVING s | server peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["sizes"]:
        s = r.get("serve", {})
        lines.append(
            f"| {r['entities']:,} | {r['dataset_mb']} | {r['load_s']} | {r['graph_s']} "
            f"| {r['matrices_s']} | {r['peak_rss_mb']:,.0f} | {s.get('serving_s')} "
            f"| {s.get('server_peak_rss_mb')} |"
        )
    return lines


def _overlay_md(doc: dict[str, Any]) -> list[str]:
    lines = [
        f"### Overlays ({doc.get('mode')}; date {doc['date']}; medians of the reps)",
        "",
        "Score with an overlay (stake cut + a new holder; apply, graph derived from the base "
        "graph, the variant's analytics, rules) against the base score of the same arrangement "
        "on a fresh engine (cold: graph and whole-graph analytics built) and of another "
        "arrangement on the warm engine, same process.",
        "",
        "| entities | links | base cold s | base warm s | overlay s | overlay / cold "
        "| overlay / warm | apply s | reference apply s | graph derive s | graph build s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["sizes"]:
        lines.append(
            f"| {r['entities']:,} | {r['links']:,} | {r['base_score_cold_s']} "
            f"| {r['base_score_warm_s']} | {r['overlay_score_s']} "
            f"| {r['ratio_overlay_vs_cold']}× | {r['ratio_overlay_vs_warm']}× "
            f"| {r['apply_overlay_s']} | {r.get('apply_reference_s', 'not run')} "
            f"| {r['graph_derive_s']} | {r['graph_build_s']} |"
        )
    return lines


def _import_md(doc: dict[str, Any]) -> list[str]:
    sy = doc["synth"]
    lines = [
        f"### Import at scale ({doc.get('mode')}; synthetic world of {sy['entities']:,} "
        f"entities: {sy['bods_statements']:,} BODS statements, {sy['ftm_entities']:,} FtM "
        "entities)",
        "",
        "| format | records | wall s | CPU s | peak RSS MB (tree) | load average before |",
        "|---|---|---|---|---|---|",
    ]
    for fmt, r in doc["imports"].items():
        lines.append(
            f"| {fmt} | {r['records']:,} | {r['wall_s']} | {r['cpu_s']} "
            f"| {r['peak_rss_tree_mb']:,.0f} | {r['load_before'][0]} |"
        )
    lines += [
        "",
        "| dataset | entities | links | load s | peak RSS MB | serve → SERVING s "
        "| server peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in doc["startup"].items():
        s = r.get("serve", {})
        lines.append(
            f"| {name} | {r['entities']:,} | {r['links']:,} | {r['load_s']} "
            f"| {r['peak_rss_mb']:,.0f} | {s.get('serving_s')} | {s.get('server_peak_rss_mb')} |"
        )
    return lines


def _convert_md(doc: dict[str, Any]) -> list[str]:
    """bench/convert_bench.py: protobuf conversion against the score it converts."""
    rows = [f"| {t['name']} | {t['value']} | {t.get('detail', '')} |" for t in doc["targets"]]
    return ["## Protobuf conversion", "", "| what | ratio | detail |", "|---|---|---|", *rows]


def _score_md(doc: dict[str, Any]) -> list[str]:
    """bench/score_bench.py: CPU of an uncached BASIC and FULL score of each shipped
    arrangement (a fresh engine primed with the other arrangements)."""
    lines = [
        f"### Uncached score ({doc['machine']['when']}, git {doc['machine']['git']}; "
        f"{doc.get('reps')} reps)",
        "",
        "| view | median ms | largest ms (arrangement) | cold median ms | cold largest ms |",
        "|---|---|---|---|---|",
    ]
    for view, s in doc["summary"].items():
        lines.append(
            f"| {view.upper()} | {s['uncached_median_ms']} | {s['uncached_max_ms']} "
            f"({s['uncached_max_arrangement']}) | {s['cold_median_ms']} | {s['cold_max_ms']} |"
        )
    return lines


def _h2load_md(doc: dict[str, Any]) -> list[str]:
    """bench/h2load_bench.py: serving measured with h2load against a bare grpc.aio server."""
    m = doc["method"]
    lines = [
        f"### Native load client: h2load ({doc.get('mode')}; {doc['machine']['when']}, "
        f"git {doc['machine']['git']}; medians of {m['reps']} reps)",
        "",
        f"`{m['client']}`; paced: {m.get('paced', 'not run')}. Server CPU per call from "
        "/proc/PID/stat; the bare server is grpc.aio with only the health service, run beside "
        "georisk in the same session.",
        "",
        "| server | call | QPS | p50 ms | p99 ms | server CPU µs/call |",
        "|---|---|---|---|---|---|",
    ]
    for name, p in doc["points"].items():
        server, call = name.split(" ", 1)
        lines.append(
            f"| {server} | {call} | {p['qps']:,.0f} | {p['p50_ms']} | {p['p99_ms']} "
            f"| {p['server_cpu_us_per_call']:,.0f} |"
        )
    return lines


def report() -> str:
    parts = ["# Latest benchmark figures", ""]
    targets: list[str] = []
    makers = {
        "serve": _serve_md,
        "h2load": _h2load_md,
        "score": _score_md,
        "batch": _batch_md,
        "portfolio": _portfolio_md,
        # the same on the adversarial graph (run_all.py --full: portfolio_bench.py --mode
        # adversarial, ~20 min)
        "portfolio-adversarial": _portfolio_md,
        "analytics": _analytics_md,
        "startup": _startup_md,
        "overlay": _overlay_md,
        "import": _import_md,
        "convert": _convert_md,
    }
    for name, make in makers.items():
        doc = _load(name)
        if doc is None:
            continue
        parts += [*make(doc), ""]
        for t in doc.get("targets", []):
            label = t.get("target") or t.get("config")
            measured = (
                t.get("measured")
                or t.get("value")
                or f"ratio {t.get('qps_ratio')}, p99 {t.get('p99_ms')} ms"
            )
            if name == "serve":
                label = f"serve {label} at 64 in flight: >= 0.70 × Check QPS, p99 <= 25 ms"
            if name in ("convert", "h2load", "score"):
                label = t.get("name") or label
            elif name == "startup" and t.get("name"):
                label = f"{t['name']}: {label}"
            targets.append(f"| {label} | {measured} | {_yes(t.get('met'))} |")
    parts += ["### Targets", "", "| target | measured | |", "|---|---|---|", *targets, ""]
    md = "\n".join(parts)
    (RESULTS / "latest.md").write_text(md)
    return md


def plot() -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return None
    st, ba = _load("startup"), _load("batch")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    if st:
        xs = [r["entities"] for r in st["sizes"]]
        for key, label in (("load_s", "load dataset"), ("graph_s", "build graph")):
            ax1.plot(xs, [r[key] for r in st["sizes"]], "o-", label=label)
        serve = [(r["entities"], r.get("serve", {}).get("serving_s")) for r in st["sizes"]]
        serve = [(x, y) for x, y in serve if y is not None]
        if serve:
            ax1.plot(*zip(*serve, strict=True), "s--", label="serve → SERVING")
        ax2.plot(xs, [r["peak_rss_mb"] / 1024 for r in st["sizes"]], "o-", label="load + graph")
        srv = [(r["entities"], r.get("serve", {}).get("server_peak_rss_mb")) for r in st["sizes"]]
        srv = [(x, y / 1024) for x, y in srv if y]
        if srv:
            ax2.plot(*zip(*srv, strict=True), "s--", label="server")
        ax2.axhline(8, color="red", lw=0.8, ls=":", label="8 GiB target")
    if ba:
        xs = [r["entities"] for r in ba["sizes"]]
        ax1.plot(
            xs,
            [1000 / r["engine"]["per_s"] for r in ba["sizes"]],
            "^-",
            label="score 1,000 arrangements",
        )
    ax1.axhline(60, color="red", lw=0.8, ls=":", label="60 s target")
    for ax, title, unit in ((ax1, "time", "seconds"), (ax2, "peak RSS", "GiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("entities")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = RESULTS / "scaling.png"
    fig.savefig(out, dpi=110)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="short version (a few minutes)")
    mode.add_argument("--full", action="store_true", help="real sizes, 1M entities")
    mode.add_argument("--report", action="store_true", help="only rebuild table and plot")
    ap.add_argument("--only", nargs="+", choices=NAMES, default=NAMES)
    args = ap.parse_args(argv)
    failed = []
    if not args.report:
        flag = ["--quick"] if args.quick else ["--full"] if args.full else []
        for name in args.only:
            extra = ["--profile"] if name == "startup" else []
            if name == "portfolio" and args.full:
                extra = ["--dask"]  # the 100k portfolio on Dask too (2 more minutes)
            script = str(ROOT / "bench" / f"{name}_bench.py")
            runs = [[script, *flag, *extra]]
            if name == "batch" and args.full:
                runs = [[script, *more] for more in FULL_BATCH]
            for cmd in runs:
                print(f"== {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
                t = time.perf_counter()
                rc = subprocess.run([sys.executable, *cmd], check=False, cwd=ROOT).returncode
                print(f"== {name}: exit {rc} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
                if rc:
                    failed.append(name)
                    break
            if name == "portfolio" and args.full:  # issue 16's adversarial row, end to end
                adv = RESULTS / "portfolio-adversarial.json"
                cmd = [script, "--mode", "adversarial", "--out", str(adv)]
                print(f"== {name} (adversarial): {' '.join(cmd)}", file=sys.stderr, flush=True)
                rc = subprocess.run([sys.executable, *cmd], check=False, cwd=ROOT).returncode
                if rc:
                    failed.append(f"{name} (adversarial)")
    print(report())
    png = plot()
    if png:
        print(f"wrote {png}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
