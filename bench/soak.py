"""Bounded soak test of ``georisk serve`` on 127.0.0.1: errors, QPS, latency and RSS growth.

    .venv/bin/python bench/soak.py --short              # 30 s
    .venv/bin/python bench/soak.py --duration 240       # 4 minutes
    .venv/bin/python bench/soak.py                      # 10 minutes (the default)

Starts ``georisk serve --address 127.0.0.1:0`` (a free port) on the shipped dataset, then runs a
grpc.aio client with ``--concurrency`` calls in flight (default 64) for ``--duration`` seconds,
rotating over ScoreArrangement (basic and full views, 40 dates), BatchScoreArrangements (5 ids),
GetOwnership, ListEntities and ListArrangements. Every 5 s it samples the server's resident set
size (VmRSS in /proc/PID/status). At the end it sends SIGTERM (the server must drain and exit 0)
and prints one JSON document: calls, errors by code (must be none), QPS, p50/p99 overall and by
method, the RSS samples, and RSS growth (mean of the first minute vs the last minute; for runs
shorter than three minutes, the first vs the last third). Exit status 1 on any error.
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parents[1]

from georisk.v1 import (  # noqa: E402
    graph_pb2,
    graph_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
    types_pb2,
)

GEORISK = Path(sys.executable).with_name("georisk")
CALL_TIMEOUT = 30.0


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def start_server(data: Path, log: Path, workers: int) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "GEORISK_DATA": str(data),
        "GEORISK_GRACE_SECONDS": "30",
        "GEORISK_WORKERS": str(workers),
    }
    proc = subprocess.Popen(
        [str(GEORISK), "serve", "--address", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("georisk serving on "):
            target = line.split()[-1]
            assert target.startswith("127.0.0.1:"), target
            return proc, target
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit(f"server did not start; see {log}")


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def soak(target: str, pid: int, duration: float, concurrency: int) -> dict[str, Any]:
    opts = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(target, options=opts) as ch:
        sc = scoring_pb2_grpc.ScoringServiceStub(ch)
        gr = graph_pb2_grpc.GraphServiceStub(ch)
        arrs = [
            a.id
            for a in (
                await gr.ListArrangements(graph_pb2.ListArrangementsRequest(page_size=1000))
            ).arrangements
        ]
        ents = [
            e.id
            for e in (await gr.ListEntities(graph_pb2.ListEntitiesRequest(page_size=1000))).entities
        ]
        dates = [(dt.date(2025, 1, 1) + dt.timedelta(days=30 * i)).isoformat() for i in range(40)]
        rnd = random.Random(7)
        full, basic = types_pb2.EXPLANATION_VIEW_FULL, types_pb2.EXPLANATION_VIEW_BASIC

        def score() -> Awaitable[Any]:
            return sc.ScoreArrangement(
                scoring_pb2.ScoreArrangementRequest(
                    arrangement_id=rnd.choice(arrs),
                    as_of=rnd.choice(dates),
                    view=full if rnd.random() < 0.3 else basic,
                ),
                timeout=CALL_TIMEOUT,
            )

        def batch() -> Awaitable[Any]:
            return sc.BatchScoreArrangements(
                scoring_pb2.BatchScoreArrangementsRequest(
                    arrangement_ids=rnd.sample(arrs, 5), as_of=rnd.choice(dates)
                ),
                timeout=CALL_TIMEOUT,
            )

        def ownership() -> Awaitable[Any]:
            return gr.GetOwnership(
                graph_pb2.GetOwnershipRequest(entity_id=rnd.choice(ents), as_of=rnd.choice(dates)),
                timeout=CALL_TIMEOUT,
            )

        def list_entities() -> Awaitable[Any]:
            return gr.ListEntities(
                graph_pb2.ListEntitiesRequest(page_size=rnd.choice([5, 20, 100])),
                timeout=CALL_TIMEOUT,
            )

        def list_arrangements() -> Awaitable[Any]:
            return gr.ListArrangements(
                graph_pb2.ListArrangementsRequest(country=rnd.choice(["", "US", "CN", "DE"])),
                timeout=CALL_TIMEOUT,
            )

        calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("score", score),
            ("batch", batch),
            ("ownership", ownership),
            ("list_entities", list_entities),
            ("list_arrangements", list_arrangements),
        ]
        lat: dict[str, list[float]] = defaultdict(list)
        errors: Counter[str] = Counter()
        t0 = time.monotonic()
        end = t0 + duration
        samples: list[tuple[float, int]] = []

        async def worker(k: int) -> None:
            i = k
            while time.monotonic() < end:
                name, fn = calls[i % len(calls)]
                i += 1
                s = time.perf_counter()
                try:
                    await fn()
                except grpc.aio.AioRpcError as err:
                    errors[f"{name}:{err.code().name}"] += 1
                    continue
                lat[name].append(time.perf_counter() - s)

        async def sampler() -> None:
            while time.monotonic() < end:
                r = rss_kib(pid)
                if r is not None:
                    samples.append((round(time.monotonic() - t0, 1), r))
                await asyncio.sleep(5)

        await asyncio.gather(sampler(), *(worker(k) for k in range(concurrency)))
        elapsed = time.monotonic() - t0
    r = rss_kib(pid)
    if r is not None:
        samples.append((round(elapsed, 1), r))
    everything = [x for v in lat.values() for x in v]
    window = 60.0 if duration >= 180 else duration / 3
    first = [m for t, m in samples if t <= window]
    last = [m for t, m in samples if t >= elapsed - window]
    first_mean = sum(first) / len(first) if first else 0.0
    last_mean = sum(last) / len(last) if last else 0.0
    return {
        "duration_s": round(elapsed, 1),
        "concurrency": concurrency,
        "calls_ok": len(everything),
        "errors": sum(errors.values()),
        "errors_by_code": dict(errors),
        "qps": round(len(everything) / elapsed, 1),
        "p50_ms": round(pct(everything, 0.50) * 1000, 2),
        "p99_ms": round(pct(everything, 0.99) * 1000, 2),
        "by_method": {
            k: {
                "calls": len(v),
                "p50_ms": round(pct(v, 0.5) * 1000, 2),
                "p99_ms": round(pct(v, 0.99) * 1000, 2),
            }
            for k, v in sorted(lat.items())
        },
        "rss_kib_samples": samples,
        "rss_window_s": round(window, 1),
        "rss_first_window_mean_kib": round(first_mean),
        "rss_last_window_mean_kib": round(last_mean),
        "rss_growth_kib": round(last_mean - first_mean),
        "rss_growth_pct": round(100 * (last_mean - first_mean) / first_mean, 2)
        if first_mean
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    p.add_argument("--short", action="store_true", help="30 s")
    p.add_argument("--concurrency", type=int, default=64, help="calls in flight (default 64)")
    p.add_argument("--workers", type=int, default=2, help="server scoring threads (default 2)")
    p.add_argument("--data", type=Path, default=ROOT / "data")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args(argv)
    duration = 30.0 if args.short else args.duration
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        proc, target = start_server(args.data, log, args.workers)
        try:
            result = asyncio.run(soak(target, proc.pid, duration, args.concurrency))
            proc.send_signal(signal.SIGTERM)
            result["server_exit_code"] = proc.wait(60)
            result["server_log_lines"] = sum(1 for _ in log.open())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    result["target"] = target
    result["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result["cpus"] = os.cpu_count()
    doc = json.dumps(result, indent=2)
    print(doc)
    if args.out:
        args.out.write_text(doc + "\n")
    return 1 if result["errors"] or result["server_exit_code"] != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
