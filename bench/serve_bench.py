"""Serving benchmark: QPS and p50/p99 of ScoreArrangement against the trivial health Check.

Starts ``georisk serve`` on 127.0.0.1 (a free port) on the embedded dataset, as one process and
as two processes sharing the port (``GEORISK_REUSEPORT=true``), each with the result cache on
(default size; warmed first, so every score call is a cache hit: "cache-hot") and off
(``GEORISK_CACHE_SIZE=0``: every call scores). A bounded ``grpc.aio`` load client (at most
``--max-calls`` calls and ``--seconds`` seconds per point) drives, at 1, 16 and 64 calls in
flight: the health Check (the floor), ScoreArrangement in the BASIC view and in the FULL view
("with explanations"), rotating over every arrangement and several ``as_of`` dates. The figure
is the ratio score/Check measured against the same server in the same run.

The load client is Python too (``--client-procs`` worker processes apart from this one, lean:
requests serialized once, response bytes not parsed) and costs a good part of what the server
costs per call, on the same 2 cores, so the figures measure client + server; the CPU seconds of
each are recorded. ``bench/h2load_bench.py`` measures the server alone with a native client
(h2load) against a bare grpc.aio server; these Python-client figures are kept beside it.

    .venv/bin/python bench/serve_bench.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import grpc
from _common import RESULTS, ROOT, cpu_seconds, free_port, georisk_cmd, write_json
from grpc_health.v1 import health_pb2, health_pb2_grpc

from georisk.v1 import scoring_pb2, types_pb2

DATES = ["2024-06-30", "2025-06-30", "2026-11-22", "2027-06-30"]
CONCURRENCY = [1, 16, 64]
CHANNELS = 8  # separate connections, so that SO_REUSEPORT can spread them over processes
CHECK = "/grpc.health.v1.Health/Check"
SCORE = "/georisk.v1.ScoringService/ScoreArrangement"


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


# --------------------------------------------------------------------------- the load client
#
# The client runs in worker processes (``--client-procs``), apart from this one (which holds the
# dataset and does the bookkeeping): each has its own event loop, channels and GIL. It is kept
# lean, because on 2 cores every µs it spends is taken from the server: requests are serialized
# once, and a call sends those bytes and keeps the response bytes without parsing them (one
# response of each kind is parsed and checked before the measuring starts).


def _requests(ids: list[str]) -> dict[str, tuple[str, list[bytes]]]:
    """Method path and the serialized requests (rotated over) of each kind of call."""
    views = {"basic": types_pb2.EXPLANATION_VIEW_BASIC, "full": types_pb2.EXPLANATION_VIEW_FULL}
    out = {"check": (CHECK, [health_pb2.HealthCheckRequest().SerializeToString()])}
    for name, view in views.items():
        out[name] = (
            SCORE,
            [
                scoring_pb2.ScoreArrangementRequest(
                    arrangement_id=a, as_of=d, view=view
                ).SerializeToString()
                for d in DATES
                for a in ids
            ],
        )
    return out


async def _drive(
    call: Callable[[int], Awaitable[object]],
    inflight: int,
    seconds: float,
    max_calls: int,
    start: int = 0,
) -> tuple[list[float], int, float]:
    """Keep ``inflight`` calls going until ``max_calls`` calls or ``seconds`` elapse.

    ``call(i)`` makes call number ``i`` (``start``, ``start + 1``, ...). Returns the latencies
    (seconds) of the calls that succeeded, the number that failed, and the wall time.
    """
    lat: list[float] = []
    record = lat.append
    errors = 0
    counter = itertools.count(start)
    stop = start + max_calls
    clock = time.perf_counter
    deadline = clock() + seconds

    async def worker() -> None:
        nonlocal errors
        t = clock()
        while t < deadline:
            i = next(counter)
            if i >= stop:
                return
            try:
                await call(i)
            except grpc.RpcError:
                errors += 1
                t = clock()
                continue
            end = clock()
            record(end - t)
            t = end

    t0 = clock()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return lat, errors, clock() - t0


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _check_response(kind: str, request: bytes, response: bytes) -> None:
    """One parsed response per kind: the raw bytes the load sends and keeps are real answers."""
    if kind == "check":
        status = health_pb2.HealthCheckResponse.FromString(response).status
        if status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError(f"health check answered {status}")
        return
    req = scoring_pb2.ScoreArrangementRequest.FromString(request)
    got = scoring_pb2.ScoreArrangementResponse.FromString(response)
    if got.score.arrangement.id != req.arrangement_id or not got.dataset_version:
        raise RuntimeError(f"unexpected score response for {req.arrangement_id}")
    if (req.view == types_pb2.EXPLANATION_VIEW_FULL) != bool(got.score.sources):
        raise RuntimeError(f"{kind}: the response does not have the view asked for")


async def _client_loop(
    conn: Connection, address: str, channels: int, requests: dict[str, tuple[str, list[bytes]]]
) -> None:
    opts = [("grpc.use_local_subchannel_pool", 1)]
    chans = [grpc.aio.insecure_channel(address, options=opts) for _ in range(channels)]
    try:
        calls: dict[str, Callable[[int], Awaitable[object]]] = {}
        for kind, (method, reqs) in requests.items():
            # bytes in, bytes out (no (de)serializer); registered like the generated stubs do
            stubs = [cast(Any, c).unary_unary(method, _registered_method=True) for c in chans]
            response = await stubs[0](reqs[0], timeout=60)
            _check_response(kind, reqs[0], response)

            def call(
                i: int, stubs: list[Any] = stubs, reqs: list[bytes] = reqs, n: int = len(chans)
            ) -> Awaitable[object]:
                r: Awaitable[object] = stubs[i % n](reqs[i % len(reqs)], timeout=60)
                return r

            calls[kind] = call
        conn.send("ready")
        loop = asyncio.get_running_loop()
        while True:
            cmd = await loop.run_in_executor(None, conn.recv)
            if cmd is None:
                return
            kind, inflight, seconds, max_calls, start = cmd
            gc.collect()
            gc.disable()  # no collector pauses inside the timed window (a few seconds, bounded)
            try:
                c0 = _cpu_self()
                lat, errors, wall = await _drive(calls[kind], inflight, seconds, max_calls, start)
                cpu = _cpu_self() - c0
            finally:
                gc.enable()
            conn.send((array("d", lat).tobytes(), errors, wall, cpu))
    finally:
        for c in chans:
            await c.close()


def _client_main(
    conn: Connection, address: str, channels: int, requests: dict[str, tuple[str, list[bytes]]]
) -> None:
    try:
        asyncio.run(_client_loop(conn, address, channels, requests))
    except BaseException as exc:
        conn.send(f"client failed: {type(exc).__name__}: {exc}")
        raise
    finally:
        conn.close()


class LoadClient:
    """``procs`` worker processes sharing the calls in flight and the ``CHANNELS`` connections."""

    def __init__(self, address: str, procs: int, ids: list[str]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.requests = _requests(ids)
        self.procs: list[tuple[Any, Connection]] = []
        per = max(1, CHANNELS // procs)
        try:
            for _ in range(procs):
                mine, theirs = ctx.Pipe()
                p = ctx.Process(
                    target=_client_main, args=(theirs, address, per, self.requests), daemon=True
                )
                p.start()
                theirs.close()
                self.procs.append((p, mine))
            for _, conn in self.procs:
                if not conn.poll(120):
                    raise TimeoutError("a load client did not start within 120 s")
                msg = conn.recv()
                if msg != "ready":
                    raise RuntimeError(str(msg))
        except BaseException:
            self.close()
            raise

    def run(
        self, kind: str, inflight: int, seconds: float, max_calls: int
    ) -> tuple[list[float], int, float, float]:
        """``inflight`` calls spread over the workers; latencies, errors, wall s, client CPU s."""
        n = len(self.procs)
        shares = [inflight // n + (1 if k < inflight % n else 0) for k in range(n)]
        nreq = len(self.requests[kind][1])
        busy = []
        for k, ((_, conn), share) in enumerate(zip(self.procs, shares, strict=True)):
            if share:  # each worker starts elsewhere in the rotation
                calls = max(1, max_calls * share // inflight)
                conn.send((kind, share, seconds, calls, k * nreq // n))
                busy.append(conn)
        lat: list[float] = []
        errors, wall, cpu = 0, 0.0, 0.0
        for conn in busy:
            if not conn.poll(seconds + 300):
                raise TimeoutError("a load client did not answer")
            msg = conn.recv()
            if isinstance(msg, str):
                raise RuntimeError(msg)
            data, err, w, c = msg
            lat.extend(array("d", data))
            errors, wall, cpu = errors + err, max(wall, w), cpu + c
        return lat, errors, wall, cpu

    def close(self) -> None:
        for _, conn in self.procs:
            with suppress(OSError):
                conn.send(None)
        for p, conn in self.procs:
            p.join(15)
            if p.is_alive():
                p.kill()
                p.join()
            conn.close()
        self.procs = []


def _point(
    client: LoadClient, srv: Servers, kind: str, inflight: int, seconds: float, max_calls: int
) -> dict[str, float]:
    s0 = srv.cpu()
    lat, errors, wall, client_cpu = client.run(kind, inflight, seconds, max_calls)
    server_cpu = srv.cpu() - s0
    n = max(1, len(lat))
    return {
        "calls": len(lat),
        "errors": errors,
        "seconds": round(wall, 3),
        "qps": round(len(lat) / wall, 1) if wall else 0.0,
        "p50_ms": round(_pct(lat, 0.50) * 1000, 2),
        "p99_ms": round(_pct(lat, 0.99) * 1000, 2),
        "client_cpu_us_per_call": round(client_cpu / n * 1e6, 1),
        "server_cpu_us_per_call": round(server_cpu / n * 1e6, 1),
    }


def _bench_server(
    srv: Servers,
    ids: list[str],
    seconds: float,
    max_calls: int,
    reps: int,
    warm_all: bool,
    client_procs: int,
) -> list[dict[str, Any]]:
    client = LoadClient(srv.address, client_procs, ids)
    try:
        keys = len(DATES) * len(ids)
        kinds = ["check", "basic", "full"]
        if warm_all:  # fill the cache: every (arrangement, date, view) once
            for kind in ("basic", "full"):
                client.run(kind, 4, 120, keys)
        else:  # graphs per date built, so that the first points don't pay for it
            client.run("basic", 2, 60, keys)
        points: list[dict[str, Any]] = []
        for inflight in CONCURRENCY:
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
            for _ in range(reps):
                for kind in kinds:  # interleaved, so drift hits all alike
                    client.run(kind, inflight, min(0.5, seconds / 4), max_calls // 4)  # warm-up
                    runs[kind].append(_point(client, srv, kind, inflight, seconds, max_calls))
            for kind, rs in runs.items():
                med = sorted(rs, key=lambda r: r["qps"])[len(rs) // 2]
                points.append(
                    {"call": kind, "inflight": inflight, **med, "qps_runs": [r["qps"] for r in rs]}
                )
        by = {(p["call"], p["inflight"]): p for p in points}
        for p in points:
            base = by[("check", p["inflight"])]["qps"]
            p["qps_ratio_vs_check"] = round(p["qps"] / base, 3) if base else None
        return points
    finally:
        client.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from georisk.scoring.dataset import load_dataset

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
            points = _bench_server(
                srv, ids, args.seconds, args.max_calls, args.reps, cache == "hot", args.client_procs
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
            "client": f"python grpc.aio in {args.client_procs} worker process(es) apart from the "
            f"bench, {CHANNELS} channels (connections) in all, calls spread round-robin; requests "
            "serialized once, responses kept as bytes (one per kind parsed and checked)",
            "arrangements": len(ids),
            "dates": DATES,
            "seconds_per_point": args.seconds,
            "max_calls_per_point": args.max_calls,
            "reps": args.reps,
            "workers": os.environ.get("GEORISK_WORKERS", "2 (default)"),
            "note": "client and server share 2 cores; the Python client costs a good part of the "
            "server's CPU per call, so QPS measures both",
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
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="short points, one repetition")
    mode.add_argument("--full", action="store_true", help="long points, 3 repetitions (default)")
    ap.add_argument("--seconds", type=float, help="seconds per point (default 2 quick, 8 full)")
    ap.add_argument("--max-calls", type=int, default=50_000, help="calls per point at most")
    ap.add_argument("--reps", type=int, help="repetitions per point, median kept (1 / 3)")
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--only-hot", action="store_true", help="skip the cache-off servers")
    ap.add_argument(
        "--client-procs",
        type=int,
        default=1,
        choices=range(1, 9),
        metavar="N",
        help="load client worker processes (1-8, default 1); the calls in flight are shared",
    )
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
