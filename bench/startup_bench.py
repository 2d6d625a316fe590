"""Memory and start-up benchmark: peak RSS of load + graph by size; ``georisk serve`` to SERVING.

For each size a synthetic dataset is generated (in this process) into a temporary directory,
then a fresh child process (so the high-water mark is its own) loads it
(:meth:`.engine.Engine.from_dir`; the synthetic directory has no ``policies/``, so the
shipped packs are used), builds ``Engine.graph(date)`` and its ``.equity`` and ``.control``
matrices, and reports the time of each step and its peak RSS. Then ``georisk serve`` is started
with ``GEORISK_DATA=<dir>`` on a free 127.0.0.1 port and ``georisk health`` is polled until it
exits 0: the time to SERVING and the server's peak RSS (``VmHWM``). With ``--profile`` the child
runs under cProfile and the top functions by cumulative and own time go into the JSON.

    .venv/bin/python bench/startup_bench.py --quick
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, free_port, georisk_cmd, peak_rss_mb, rss_mb, write_json

ON = dt.date(2026, 11, 22)


def child(data: Path, profile: bool) -> dict[str, Any]:
    """Runs in a fresh process: load, graph, matrices; times and RSS."""
    from georisk.scoring.engine import Engine

    prof = cProfile.Profile() if profile else None
    base = rss_mb()
    if prof:
        prof.enable()
    t = time.perf_counter()
    engine = Engine.from_dir(data)
    load = time.perf_counter() - t
    after_load = peak_rss_mb()
    t = time.perf_counter()
    g = engine.graph(ON)
    graph = time.perf_counter() - t
    t = time.perf_counter()
    _ = g.equity, g.control
    mats = time.perf_counter() - t
    if prof:
        prof.disable()
    out: dict[str, Any] = {
        "load_s": round(load, 2),
        "graph_s": round(graph, 2),
        "matrices_s": round(mats, 2),
        "rss_before_mb": base,
        "peak_rss_after_load_mb": after_load,
        "peak_rss_mb": peak_rss_mb(),
        "entities": len(engine.dataset.entities),
        "links": len(engine.dataset.links),
    }
    if prof:
        out["profile"] = {}
        for key in ("cumulative", "tottime"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(25)
            out["profile"][key] = [
                l.rstrip() for l in buf.getvalue().splitlines() if "(" in l and "}" not in l[:3]
            ][:25]
    return out


def _vmhwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def serve_start(data: Path, timeout: float) -> dict[str, Any]:
    """Start ``georisk serve`` on ``data`` and poll ``georisk health`` until SERVING."""
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "GEORISK_ADDRESS": address, "GEORISK_DATA": str(data)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*georisk_cmd(), "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    res: dict[str, Any] = {"timeout_s": timeout}
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                res["exited"] = proc.returncode
                break
            hc = subprocess.run(
                [*georisk_cmd(), "health", "--address", address, "--timeout", "1"],
                capture_output=True,
                check=False,
            )
            if hc.returncode == 0:
                res["serving_s"] = round(time.perf_counter() - t0, 2)
                break
            time.sleep(0.5)
        res["server_peak_rss_mb"] = _vmhwm_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return res


def bench_size(n: int, serve: bool, profile: bool, timeout: float) -> dict[str, Any]:
    from georisk.synth import SynthSpec, generate

    out = Path(tempfile.mkdtemp(prefix=f"georisk-start-{n}-"))
    res: dict[str, Any] = {"entities": n}
    try:
        t = time.perf_counter()
        stats = generate(SynthSpec(entities=n, arrangements=max(1_000, n // 10)), out)
        res["generate_s"] = round(time.perf_counter() - t, 2)
        res["dataset_mb"] = round(stats.bytes / 2**20, 1)
        cmd = [sys.executable, __file__, "--child", str(out)] + (["--profile"] if profile else [])
        t = time.perf_counter()
        cp = subprocess.run(cmd, capture_output=True, text=True, check=True)
        res["child_wall_s"] = round(time.perf_counter() - t, 2)
        res.update(json.loads(cp.stdout))
        print(f"  {n:,}: load+graph {json.dumps(res)[:300]}", file=sys.stderr)
        if serve:
            res["serve"] = serve_start(out, timeout)
            print(f"  {n:,}: serve {res['serve']}", file=sys.stderr)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true", help="also 1M entities")
    ap.add_argument("--sizes", type=int, nargs="+", help="entity counts (overrides the modes)")
    ap.add_argument("--profile", action="store_true", help="cProfile the load of the largest size")
    ap.add_argument("--serve-timeout", type=float, default=600.0)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS / "startup.json")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.profile)))
        return 0
    sizes = args.sizes or ([10_000, 100_000, 1_000_000] if args.full else [10_000, 100_000])
    rows = [
        bench_size(n, True, args.profile and n == max(sizes), args.serve_timeout) for n in sizes
    ]
    big = max(rows, key=lambda r: r["entities"])
    rss = max(big["peak_rss_mb"], big.get("serve", {}).get("server_peak_rss_mb") or 0)
    serving = big.get("serve", {}).get("serving_s")
    at_1m = big["entities"] >= 1_000_000
    targets = [
        {
            "target": "1M graph served in <= 8 GiB RSS",
            "measured": f"{rss / 1024:.2f} GiB at {big['entities']:,} entities",
            "met": bool(rss <= 8 * 1024) if at_1m else None,  # None: not measured at 1M
        },
        {
            "target": "SERVING within 60 s with the 1M graph",
            "measured": f"{serving} s at {big['entities']:,} entities",
            "met": bool(serving is not None and serving <= 60) if at_1m else None,
        },
    ]
    write_json(
        args.out,
        {
            "benchmark": "startup",
            "mode": "full" if args.full else "quick" if args.quick else "default",
            "sizes": rows,
            "targets": targets,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
