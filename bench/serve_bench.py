"""Serving benchmark: QPS and p50/p99 of ScoreArrangement against the trivial health Check.

Starts ``georisk serve`` on 127.0.0.1 (a free port) on the embedded dataset, as one process and
as two processes sharing the port (``GEORISK_REUSEPORT=true``), each with the result cache on
(default size; warmed first, so every score call is a cache hit: "cache-hot") and off
(``GEORISK_CACHE_SIZE=0``: every call scores). A bounded ``grpc.aio`` load client (at most
``--max-calls`` calls and ``--seconds`` seconds per point) drives, at 1, 16 and 64 calls in
flight: the health Check (the floor), ScoreArrangement in the BASIC view and in the FULL view
("with explanations"), rotating over every arrangement and several ``as_of`` dates. The figure
is the ratio score/Check measured against the same server in the same run.

The load client is Python too and costs about as much CPU per call as the server (both share
the 2 cores), so the figures measure client + server; the CPU seconds of each are recorded.

    .venv/bin/python bench/serve_bench.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from _common import RESULTS, ROOT, cpu_seconds, free_port, georisk_cmd, write_json
from georisk.v1 import scoring_pb2, scoring_pb2_grpc, types_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

DATES = ["2024-06-30", "2025-06-30", "2026-11-22", "2027-06-30"]
CONCURRENCY = [1, 16, 64]
CHANNELS = 8  # separate connections, so that SO_REUSEPORT can spread them over processes


@dataclass
class Servers:
    procs: list[subprocess.Popen[bytes]]
    address: str
    log: Path

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)


def _wait_serving(address: str, procs: list[subprocess.Popen[bytes]], timeout: float) -> float:
    t0 = time.perf_counter()
    stub: Any = None
    ch = grpc.insecure_channel(address)
    try:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.perf_counter() - t0 < timeout:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a server exited during start-up")
            try:
                r = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if r.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.perf_counter() - t0
            except grpc.RpcError:
                pass
            time.sleep(0.05)
    finally:
        ch.close()
    raise TimeoutError(f"no SERVING from {address} within {timeout} s")


@contextmanager
def start_servers(
    n: int, env_extra: dict[str, str], data: Path, timeout: float = 120.0
) -> Iterator[Servers]:
    """``n`` ``georisk serve`` processes on one free 127.0.0.1 port (SO_REUSEPORT when n > 1)."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = {
        **os.environ,
        "GEORISK_ADDRESS": address,
        "GEORISK_DATA": str(data),
        "GEORISK_REUSEPORT": "true" if n > 1 else "false",
        **env_extra,
    }
    log = Path(tempfile.mkstemp(prefix="georisk-serve-", suffix=".log")[1])
    procs: list[subprocess.Popen[bytes]] = []
    with log.open("ab") as out:
        try:
            for _ in range(n):
                procs.append(
                    subprocess.Popen(
                        [*georisk_cmd(), "serve"], env=env, stdout=out, stderr=out, cwd=ROOT
                    )
                )
                _wait_serving(address, procs, timeout)  # one at a time: both must bind
            yield Servers(procs, address, log)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.unlink(missing_ok=True)


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _drive(
    call: Callable[[int], Awaitable[object]], inflight: int, seconds: float, max_calls: int
) -> dict[str, float]:
    """Keep ``inflight`` calls going until ``max_calls`` calls or ``seconds`` elapse."""
    lat: list[float] = []
    errors = 0
    counter = itertools.count()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            i = next(counter)
            if i >= max_calls:
                return
            t = time.perf_counter()
            try:
                await call(i)
            except grpc.RpcError:
                errors += 1
                continue
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    wall = time.perf_counter() - t0
    return {
        "calls": len(lat),
        "errors": errors,
        "seconds": round(wall, 3),
        "qps": round(len(lat) / wall, 1) if wall else 0.0,
        "p50_ms": round(_pct(lat, 0.50) * 1000, 2),
        "p99_ms": round(_pct(lat, 0.99) * 1000, 2),
    }


def _client_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _bench_server(
    srv: Servers, ids: list[str], seconds: float, max_calls: int, reps: int, warm_all: bool
) -> list[dict[str, Any]]:
    opts = [("grpc.use_local_subchannel_pool", 1)]
    chans = [grpc.aio.insecure_channel(srv.address, options=opts) for _ in range(CHANNELS)]
    try:
        health: list[Any] = [health_pb2_grpc.HealthStub(c) for c in chans]
        scoring = [scoring_pb2_grpc.ScoringServiceStub(c) for c in chans]
        keys = [(a, d) for d in DATES for a in ids]
        views = {"basic": types_pb2.EXPLANATION_VIEW_BASIC, "full": types_pb2.EXPLANATION_VIEW_FULL}
        check_req = health_pb2.HealthCheckRequest()
        score_reqs = {
            v: [
                scoring_pb2.ScoreArrangementRequest(arrangement_id=a, as_of=d, view=code)
                for a, d in keys
            ]
            for v, code in views.items()
        }

        def check(i: int) -> Awaitable[object]:
            r: Awaitable[object] = health[i % CHANNELS].Check(check_req, timeout=60)
            return r

        def scorer(view: str) -> Callable[[int], Awaitable[object]]:
            reqs = score_reqs[view]

            def call(i: int) -> Awaitable[object]:
                return scoring[i % CHANNELS].ScoreArrangement(reqs[i % len(reqs)], timeout=60)

            return call

        calls = {"check": check, "basic": scorer("basic"), "full": scorer("full")}
        if warm_all:  # fill the cache: every (arrangement, date, view) once
            for v in views:
                await _drive(calls[v], 4, 120, len(keys))
        else:  # graphs per date built, so that the first points don't pay for it
            await _drive(calls["basic"], 2, 60, len(keys))
        points: list[dict[str, Any]] = []
        for inflight in CONCURRENCY:
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in calls}
            for _ in range(reps):
                for name, call in calls.items():  # interleaved, so drift hits all alike
                    await _drive(call, inflight, min(0.5, seconds / 4), max_calls // 4)  # warm-up
                    c0, s0 = _client_cpu(), srv.cpu()
                    r = await _drive(call, inflight, seconds, max_calls)
                    n = max(1.0, r["calls"])
                    r["client_cpu_us_per_call"] = round((_client_cpu() - c0) / n * 1e6, 1)
                    r["server_cpu_us_per_call"] = round((srv.cpu() - s0) / n * 1e6, 1)
                    runs[name].append(r)
            for name, rs in runs.items():
                med = sorted(rs, key=lambda r: r["qps"])[len(rs) // 2]
                points.append(
                    {"call": name, "inflight": inflight, **med, "qps_runs": [r["qps"] for r in rs]}
                )
        by = {(p["call"], p["inflight"]): p for p in points}
        for p in points:
            base = by[("check", p["inflight"])]["qps"]
            p["qps_ratio_vs_check"] = round(p["qps"] / base, 3) if base else None
        return points
    finally:
        for c in chans:
            await c.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from scoring.dataset import load_dataset

    data = Path(args.data)
    ids = sorted(load_dataset(data).arrangements)
    configs = [
        (procs, cache)
        for procs in args.processes
        for cache in ("hot", "off")
        if not (args.only_hot and cache == "off")
    ]
    results: list[dict[str, Any]] = []
    for procs, cache in configs:
        env = {"GEORISK_CACHE_SIZE": "0"} if cache == "off" else {}
        t0 = time.perf_counter()
        with start_servers(procs, env, data) as srv:
            print(f"serve: {procs} process(es), cache {cache} on {srv.address}", file=sys.stderr)
            points = asyncio.run(
                _bench_server(srv, ids, args.seconds, args.max_calls, args.reps, cache == "hot")
            )
        for p in points:
            print(f"  {p}", file=sys.stderr)
        results.append(
            {
                "processes": procs,
                "cache": cache,
                "points": points,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    targets = _targets(results)
    return {
        "benchmark": "serve",
        "method": {
            "client": "python grpc.aio, one process, "
            f"{CHANNELS} channels (connections), calls spread round-robin",
            "arrangements": len(ids),
            "dates": DATES,
            "seconds_per_point": args.seconds,
            "max_calls_per_point": args.max_calls,
            "reps": args.reps,
            "workers": os.environ.get("GEORISK_WORKERS", "2 (default)"),
            "note": "client and server share 2 cores; the Python client costs about as much CPU "
            "per call as the server, so QPS measures both",
        },
        "configs": results,
        "targets": targets,
    }


def _targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Score call >= 70 % of the Check QPS with p99 <= 25 ms at 64 in flight."""
    out = []
    for cfg in results:
        for p in cfg["points"]:
            if p["call"] == "check" or p["inflight"] != 64:
                continue
            out.append(
                {
                    "config": f"{cfg['processes']}p cache-{cfg['cache']} {p['call']}",
                    "qps_ratio": p["qps_ratio_vs_check"],
                    "p99_ms": p["p99_ms"],
                    "met": bool((p["qps_ratio_vs_check"] or 0) >= 0.70 and p["p99_ms"] <= 25.0),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="short points, one repetition")
    ap.add_argument("--seconds", type=float, help="seconds per point (default 2 quick, 8 full)")
    ap.add_argument("--max-calls", type=int, default=50_000, help="calls per point at most")
    ap.add_argument("--reps", type=int, help="repetitions per point, median kept (1 / 3)")
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--only-hot", action="store_true", help="skip the cache-off servers")
    ap.add_argument("--data", default=str(ROOT / "data"))
    ap.add_argument("--out", type=Path, default=RESULTS / "serve.json")
    args = ap.parse_args(argv)
    args.seconds = args.seconds or (2.0 if args.quick else 8.0)
    args.reps = args.reps or (1 if args.quick else 3)
    doc = run(args)
    doc["mode"] = "quick" if args.quick else "full"
    write_json(args.out, doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
