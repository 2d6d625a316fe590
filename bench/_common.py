"""Shared helpers of the bench scripts: paths, peak RSS, JSON output, machine facts."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def peak_rss_mb() -> float:
    """Process-wide high-water mark of resident memory, MiB (``ru_maxrss`` is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float:
    """Current resident memory of this process, MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, Any]:
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        rev = ""
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": rev,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **doc}, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def georisk_cmd() -> list[str]:
    """The ``georisk`` CLI of this interpreter's environment."""
    exe = Path(sys.executable).parent / "georisk"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "georisk.cli"]


def reps_main(doc: str, bench: Callable[[int], dict[str, Any]], name: str) -> None:
    """The command line of a benchmark run ``--reps`` times (``--quick`` 3, ``--full`` 9, else
    5, as ``run_all.py`` passes them): print its targets, write ``results/<name>.json``."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=None, help="repetitions per arrangement and view")
    ap.add_argument("--quick", action="store_true", help="3 repetitions (bench/run_all.py)")
    ap.add_argument("--full", action="store_true", help="9 repetitions (bench/run_all.py)")
    args = ap.parse_args()
    got = bench(args.reps or (3 if args.quick else 9 if args.full else 5))
    for t in got["targets"]:
        print(f"{'met   ' if t['met'] else 'MISSED'} {t['name']}: {t['value']} ({t['detail']})")
    write_json(RESULTS / f"{name}.json", got)
