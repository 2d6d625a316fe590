"""Import at real size: georisk import bods|ftm of 1M records, and start-up on the result.

1. ``georisk synth DIR --bods F --ftm G`` writes a synthetic world whose BODS file holds about
   ``--statements`` statements (entities, persons, relationships; its FtM file about as many
   entities: parties, Ownership, Directorship, Sanction). Not timed as part of the import.
2. For each format, ``georisk import FMT FILE -o OUT`` runs as a child process: wall time, CPU
   (user + system of the child and its worker processes, from ``wait4``), the child's peak RSS
   (``ru_maxrss``) and the peak of the whole process tree's RSS (the child and its workers,
   sampled from /proc every 0.2 s: the figure the 2 GiB target is held to), and the load
   average around it (the machine is shared).
3. Start-up on each imported dataset and on the synthetic dataset loaded directly (the same
   world with every link kind and the arrangements): a fresh process loads it
   (``Engine.from_dir``), builds the graph and its matrices (``startup_bench.py --child``), then
   ``georisk serve`` is started on it and polled until SERVING (``startup_bench.serve_start``).
   The ratio imported / synthetic is reported beside the absolute targets of start-up
   (SERVING within 60 s, 8 GiB RSS).

    .venv/bin/python bench/import_bench.py --quick      # 50k statements, ~2 min
    .venv/bin/python bench/import_bench.py --full       # 1M statements, ~15 min
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, georisk_cmd, write_json
from startup_bench import serve_start

#: BODS statements per synthetic entity (entities and persons, plus the equity, voting and
#: board-appointment links): measured on `georisk synth --entities 354610` (971,539 statements)
STATEMENTS_PER_ENTITY = 2.74
GIB = 1024.0


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def run_measured(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd``; wall, CPU, peak RSS of the process and of its process tree (sampled)."""
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak_tree = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not stop.is_set():
            peak_tree = max(peak_tree, sum(_rss_mb(p) for p in _tree(proc.pid)))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - t0
    # communicate() reaped the child; its (and its waited-for workers') usage is in CHILDREN
    return {
        "exit": proc.returncode,
        "wall_s": round(wall, 1),
        "peak_rss_tree_mb": round(peak_tree, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "stdout_tail": out.decode("utf-8", "replace")[-500:],
        "stderr_tail": err.decode("utf-8", "replace")[-800:],
    }


def import_once(fmt: str, src: Path, out: Path) -> dict[str, Any]:
    """One ``georisk import`` in a child, with its own rusage (a helper process per run, so
    the CHILDREN usage is this import's alone)."""
    cmd = [sys.executable, __file__, "--measure", "--", *georisk_cmd(), "import", fmt, str(src)]
    cmd += ["-o", str(out)]
    cp = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return dict(json.loads(cp.stdout))


def measure_child(cmd: list[str]) -> dict[str, Any]:
    """In the helper process: run ``cmd`` and add the CPU and ``ru_maxrss`` of its tree."""
    import resource

    res = run_measured(cmd)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    res["cpu_s"] = round(ru.ru_utime + ru.ru_stime, 1)
    res["peak_rss_child_mb"] = round(ru.ru_maxrss / 1024, 1)  # the largest process of the tree
    return res


def startup(data: Path, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(ROOT / "bench" / "startup_bench.py"), "--child", str(data)]
    t = time.perf_counter()
    cp = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    res: dict[str, Any] = {"child_wall_s": round(time.perf_counter() - t, 2)}
    res.update(json.loads(cp.stdout))
    res["serve"] = serve_start(data, timeout)
    res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return res


def _target(name: str, target: str, value: str, met: bool | None) -> dict[str, Any]:
    return {"name": name, "target": target, "value": value, "measured": value, "met": met}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="50k statements")
    ap.add_argument("--full", action="store_true", help="1M statements (the targets' size)")
    ap.add_argument("--statements", type=int, help="BODS statements to aim at (overrides)")
    ap.add_argument("--serve-timeout", type=float, default=600.0)
    ap.add_argument("--keep", type=Path, help="generate and import here, and keep it")
    ap.add_argument("--out", type=Path, default=RESULTS / "import.json")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("cmd", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure_child(args.cmd)))
        return 0
    statements = args.statements or (1_000_000 if args.full else 50_000 if args.quick else 200_000)
    entities = max(200, round(statements / STATEMENTS_PER_ENTITY))
    work = args.keep or Path(tempfile.mkdtemp(prefix="georisk-import-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "benchmark": "import",
        "mode": "full" if args.full else "quick" if args.quick else "default",
        "statements_aimed": statements,
        "synth_entities": entities,
    }
    try:
        synth, bods, ftm = work / "synth", work / "world.bods.jsonl", work / "world.ftm.jsonl"
        t = time.perf_counter()
        cmd = [*georisk_cmd(), "synth", str(synth), "--entities", str(entities)]
        cmd += ["--arrangements", str(max(1_000, entities // 10)), "--bods", str(bods)]
        cmd += ["--ftm", str(ftm)]
        cp = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        stats = json.loads(cp.stdout)
        doc["synth"] = {
            "seconds": round(time.perf_counter() - t, 1),
            "entities": stats["entities"],
            "links": stats["links"],
            "bods_statements": stats["bods_statements"],
            "ftm_entities": stats["ftm_entities"],
            "bods_mb": round(bods.stat().st_size / 2**20, 1),
            "ftm_mb": round(ftm.stat().st_size / 2**20, 1),
        }
        print(f"synth: {doc['synth']}", file=sys.stderr)
        doc["imports"] = {}
        for fmt, src in (("bods", bods), ("ftm", ftm)):
            res = import_once(fmt, src, work / f"imported-{fmt}")
            res["records"] = doc["synth"][f"{fmt}_statements" if fmt == "bods" else "ftm_entities"]
            res["records_per_s"] = round(res["records"] / res["wall_s"]) if res["wall_s"] else None
            doc["imports"][fmt] = res
            print(f"import {fmt}: {json.dumps(res)[:400]}", file=sys.stderr)
        doc["startup"] = {}
        for name, data in (
            ("synth", synth),
            ("imported-bods", work / "imported-bods"),
            ("imported-ftm", work / "imported-ftm"),
        ):
            doc["startup"][name] = startup(data, args.serve_timeout)
            print(f"startup {name}: {json.dumps(doc['startup'][name])[:400]}", file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    at_scale = statements >= 1_000_000
    targets = []
    base = doc["startup"]["synth"]
    for fmt in ("bods", "ftm"):
        r = doc["imports"][fmt]
        what = f"{r['records']:,} {'statements' if fmt == 'bods' else 'FtM entities'}"
        ok = r["exit"] == 0
        targets.append(
            _target(
                f"import {fmt} time",
                f"1M {'BODS statements' if fmt == 'bods' else 'FtM entities'} in <= 5 min on 2 "
                "cores",
                f"{r['wall_s']} s wall, {r['cpu_s']} s CPU for {what} (exit {r['exit']})",
                (ok and r["wall_s"] <= 300) if at_scale else None,
            )
        )
        peak = max(r["peak_rss_tree_mb"], r["peak_rss_child_mb"])
        targets.append(
            _target(
                f"import {fmt} memory",
                "peak RSS <= 2 GiB (the import and its workers together)",
                f"{peak / GIB:.2f} GiB (largest process {r['peak_rss_child_mb'] / GIB:.2f} GiB)",
                (ok and peak <= 2 * GIB) if at_scale else None,
            )
        )
        s = doc["startup"][f"imported-{fmt}"]
        serving, rss = s["serve"].get("serving_s"), s["serve"].get("server_peak_rss_mb") or 0.0
        b_serving = base["serve"].get("serving_s")
        b_rss = base["serve"].get("server_peak_rss_mb") or 0.0
        ratio = f"{serving / b_serving:.2f}" if serving and b_serving else "n/a"
        targets.append(
            _target(
                f"serve imported {fmt}",
                "SERVING within 60 s and in <= 8 GiB RSS (the start-up targets)",
                f"SERVING in {serving} s, {rss / GIB:.2f} GiB ({s['entities']:,} entities, "
                f"{s['links']:,} links); synthetic dataset loaded directly: {b_serving} s, "
                f"{b_rss / GIB:.2f} GiB ({base['entities']:,} entities, {base['links']:,} "
                f"links); ratio {ratio}",
                (serving is not None and serving <= 60 and rss <= 8 * GIB) if at_scale else None,
            )
        )
    doc["targets"] = targets
    write_json(args.out, doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
