"""Memory and start-up benchmark: peak RSS of load + graph by size; ``georisk serve`` to SERVING,
cold (validate the files, write the snapshot) and warm (open the snapshot).

For each size a synthetic dataset is generated (in this process) into a temporary directory,
with its own empty snapshot directory (``GEORISK_SNAPSHOT_DIR``, docs/snapshot.md). Then, each
time in a fresh process (so the high-water mark is its own):

* ``cold``: ``georisk serve`` with ``GEORISK_DATA=<dir>`` on a free 127.0.0.1 port, polled with
  the standard health Check (in this process, every 0.1 s; the ``georisk health`` command line
  used before started a Python process per poll, which competed with the server for the two
  cores) until SERVING: time to SERVING, the server's CPU seconds by then (user + system: less
  noisy than wall time on a shared machine) and its peak RSS (``VmHWM``); the server validates
  the files and writes the snapshot;
* ``serve`` (warm): the same server started again: it opens the snapshot;
* a child that loads the dataset (:meth:`.engine.Engine.from_dir`; no ``policies/`` in the
  directory, so the shipped packs are used) from the snapshot, builds ``Engine.graph(date)`` and
  its ``.equity`` and ``.control`` matrices: the time of each step and its peak RSS (top-level
  fields, as before the snapshot);
* with ``--baseline``, ``no_snapshot``: the server with ``GEORISK_SNAPSHOT_DIR=off`` (validation
  only, the figures before the snapshot), for the ratio in the same session.

With ``--profile`` the child runs under cProfile and the top functions by cumulative and own time
go into the JSON. ``targets`` holds the issue-16 rows at the largest size (``met`` is null when
that is below 1M entities).

    .venv/bin/python bench/startup_bench.py --quick
    .venv/bin/python bench/startup_bench.py --sizes 1000000 --baseline    # the 1M figures
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

from _common import (
    RESULTS,
    ROOT,
    cpu_seconds,
    free_port,
    georisk_cmd,
    rss_mb,
    write_json,
)

from georisk.client import health_check

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
    after_load = _vmhwm_mb(os.getpid())
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
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child's would include
        # the parent's RSS at fork (the bench process holding a freshly generated 1M dataset)
        "peak_rss_mb": _vmhwm_mb(os.getpid()),
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


def serve_start(data: Path, timeout: float, snapshots: str | None = None) -> dict[str, Any]:
    """Start ``georisk serve`` on ``data`` and poll the health Check until SERVING;
    ``snapshots`` is its ``GEORISK_SNAPSHOT_DIR`` (None: this process's environment)."""
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "GEORISK_ADDRESS": address, "GEORISK_DATA": str(data)}
    if snapshots is not None:
        env["GEORISK_SNAPSHOT_DIR"] = snapshots
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
            if health_check(address, timeout=1.0) == "SERVING":
                res["serving_s"] = round(time.perf_counter() - t0, 2)
                res["server_cpu_s"] = round(cpu_seconds(proc.pid), 2)
                res["load_average"] = round(os.getloadavg()[0], 2)  # a shared machine
                break
            time.sleep(0.1)
        res["server_peak_rss_mb"] = _vmhwm_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return res


def _snapshot_mb(snapshots: Path) -> float:
    return round(sum(f.stat().st_size for f in snapshots.rglob("*") if f.is_file()) / 2**20, 1)


def bench_size(
    n: int, serve: bool, profile: bool, timeout: float, baseline: bool
) -> dict[str, Any]:
    from georisk.synth import SynthSpec, generate

    out = Path(tempfile.mkdtemp(prefix=f"georisk-start-{n}-"))
    snaps = Path(tempfile.mkdtemp(prefix=f"georisk-snap-{n}-"))
    res: dict[str, Any] = {"entities": n}
    try:
        t = time.perf_counter()
        stats = generate(SynthSpec(entities=n, arrangements=max(1_000, n // 10)), out)
        res["generate_s"] = round(time.perf_counter() - t, 2)
        res["dataset_mb"] = round(stats.bytes / 2**20, 1)
        if baseline and serve:
            res["no_snapshot"] = {"serve": serve_start(out, timeout, "off")}
            print(f"  {n:,}: serve without snapshot {res['no_snapshot']}", file=sys.stderr)
        if serve:
            res["cold"] = {"serve": serve_start(out, timeout, str(snaps))}
            res["cold"]["snapshot_mb"] = _snapshot_mb(snaps)
            print(f"  {n:,}: serve cold {res['cold']}", file=sys.stderr)
            res["serve"] = serve_start(out, timeout, str(snaps))
            print(f"  {n:,}: serve warm {res['serve']}", file=sys.stderr)
        cmd = [sys.executable, __file__, "--child", str(out)] + (["--profile"] if profile else [])
        t = time.perf_counter()
        env = {**os.environ, "GEORISK_SNAPSHOT_DIR": str(snaps)}
        cp = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        res["child_wall_s"] = round(time.perf_counter() - t, 2)
        res.update(json.loads(cp.stdout))
        print(f"  {n:,}: load+graph {json.dumps(res)[:300]}", file=sys.stderr)
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(snaps, ignore_errors=True)
    return res


def _target(name: str, target: str, value: Any, met: bool | None) -> dict[str, Any]:
    return {"name": name, "target": target, "value": value, "met": met}


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue-16 start-up rows at the largest size (``met`` null below 1M entities)."""
    big = max(rows, key=lambda r: r["entities"])
    at_1m = big["entities"] >= 1_000_000
    n = f"{big['entities']:,} entities"
    warm = big.get("serve", {})
    cold = big.get("cold", {}).get("serve", {})
    serving, rss = warm.get("serving_s"), warm.get("server_peak_rss_mb")

    def ok(v: float | None, limit: float) -> bool | None:
        return (v is not None and v <= limit) if at_1m else None

    out = [
        _target(
            f"SERVING after start, from the snapshot ({n})", "<= 10 s", serving, ok(serving, 10)
        ),
        _target(
            f"server peak RSS, from the snapshot ({n})",
            "<= 2 GiB (2048 MB)",
            rss,
            ok(rss, 2048),
        ),
        _target(
            f"SERVING after start, cold: validate + write the snapshot ({n})",
            "<= 10 s",
            cold.get("serving_s"),
            ok(cold.get("serving_s"), 10),
        ),
        _target(
            f"server peak RSS, cold ({n})",
            "<= 2 GiB (2048 MB)",
            cold.get("server_peak_rss_mb"),
            ok(cold.get("server_peak_rss_mb"), 2048),
        ),
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true", help="also 1M entities")
    ap.add_argument("--sizes", type=int, nargs="+", help="entity counts (overrides the modes)")
    ap.add_argument("--profile", action="store_true", help="cProfile the load of the largest size")
    ap.add_argument("--serve-timeout", type=float, default=600.0)
    ap.add_argument(
        "--baseline", action="store_true", help="also serve without a snapshot (the old path)"
    )
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS / "startup.json")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.profile)))
        return 0
    sizes = args.sizes or ([10_000, 100_000, 1_000_000] if args.full else [10_000, 100_000])
    rows = [
        bench_size(n, True, args.profile and n == max(sizes), args.serve_timeout, args.baseline)
        for n in sizes
    ]
    write_json(
        args.out,
        {
            "benchmark": "startup",
            "mode": "full" if args.full else "quick" if args.quick else "default",
            "sizes": rows,
            "targets": targets(rows),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
