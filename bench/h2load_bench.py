"""Serving measured with a native load client: h2load against georisk and a bare grpc.aio server.

The Python load client of ``serve_bench.py`` costs about as much CPU per call as the server it
measures, on the same 2 cores. ``h2load`` (Debian ``nghttp2-client``, C) costs little: it sends
one pre-framed unary gRPC request body over and over on one HTTP/2 connection (h2c), ``-m``
streams in flight, and this script reads the server's CPU from ``/proc/PID/stat`` around each
run. So the figures are the server's.

Two servers run side by side, started here on 127.0.0.1 (free ports):

* ``bare``: a grpc.aio server with only the standard health service (this file, ``--bare``);
* ``georisk``: ``georisk serve`` on the embedded dataset, logs to a file, result cache on.

Each point (same h2load command for both where both apply) is run ``--reps`` times, interleaved
(bare Check, georisk Check, BASIC, FULL, then Check paced on both, ...), medians kept: the health
Check on both (the ratio of georisk's CPU per call to the bare server's), and ScoreArrangement
BASIC and FULL on georisk, cache-hot (one arrangement and date, warmed first: every call is a
cache hit). At 64 in flight each server answers as fast as it can, and its CPU per call falls
as its QPS rises (more calls per wake-up), so on a shared machine the ratio also measures how
much CPU each got; the paced Check runs (``--rps``, both servers at the same rate, well below
either's maximum) measure CPU per call at equal load. Ratios are taken per rep (runs made one
after the other) and their median kept. h2load sees HTTP
statuses only (a gRPC error is HTTP 200 with a ``grpc-status`` trailer), so before any load each
request is sent once with ``nghttp -v`` and its ``grpc-status: 0`` checked, and afterwards the
server's Prometheus counter of non-OK calls is required to be 0 (``georisk_grpc_errors``).

    .venv/bin/python bench/h2load_bench.py --quick      # ~1 minute
    .venv/bin/python bench/h2load_bench.py              # 5 reps of 20,000 calls per point

Bounded: only 127.0.0.1, at most ``--calls`` calls per run and ``--timeout`` seconds per h2load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, cpu_seconds, free_port, georisk_cmd, write_json

CHECK = "/grpc.health.v1.Health/Check"
SCORE = "/georisk.v1.ScoringService/ScoreArrangement"
ARRANGEMENT = "gotion-manteno-il"
AS_OF = "2026-11-22"
INFLIGHT = 64
HEADERS = ("content-type: application/grpc", "te: trailers")

#: the issue's targets (issue 16)
CPU_RATIO_TARGET = 1.1  # georisk Check CPU per call / the bare server's, at most
QPS_RATIO_TARGET = 0.9  # cache-hot ScoreArrangement QPS / georisk Check QPS, at least
P99_TARGET_MS = 20.0  # cache-hot ScoreArrangement p99 at 64 in flight, at most


def grpc_frame(message: bytes) -> bytes:
    """The body of a unary gRPC request: flag 0 (uncompressed), 4-byte big-endian length.

    >>> grpc_frame(b"ab").hex()
    '00000000026162'
    """
    return b"\x00" + len(message).to_bytes(4, "big") + message


def parse_h2load(text: str) -> dict[str, float]:
    """Requests done/succeeded, wall seconds and req/s from h2load's summary.

    >>> parse_h2load("finished in 2.00s, 5000.00 req/s, 1MB/s\\n"
    ...              "requests: 10000 total, 10000 started, 10000 done, 9999 succeeded, 1 failed")
    {'seconds': 2.0, 'qps': 5000.0, 'done': 10000, 'succeeded': 9999}
    """
    fin = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", text)
    req = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", text)
    if fin is None or req is None:
        raise RuntimeError(f"cannot read h2load's output:\n{text[-2000:]}")
    secs = float(fin.group(1)) / (1000 if fin.group(2) == "ms" else 1)
    return {
        "seconds": secs,
        "qps": float(fin.group(3)),
        "done": int(req.group(1)),
        "succeeded": int(req.group(2)),
    }


def latencies_us(log: Path) -> list[int]:
    """Per-request times (µs) of an h2load ``--log-file`` (start, status, elapsed µs)."""
    out = []
    for line in log.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1] == "200":
            out.append(int(parts[2]))
    return out


def pct(xs: list[int], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def url(self, method: str) -> str:
        return f"http://127.0.0.1:{self.port}{method}"


def _wait_port(proc: subprocess.Popen[bytes], port: int, body: Path, timeout: float) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode} during start-up")
        if grpc_status(f"http://127.0.0.1:{port}{CHECK}", body, quiet=True) == 0:
            return
        time.sleep(0.1)
    raise TimeoutError(f"no answer on 127.0.0.1:{port} within {timeout} s")


@contextmanager
def start(
    name: str, cmd: list[str], env: dict[str, str], port: int, check_body: Path, log: Path
) -> Iterator[Server]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, cwd=ROOT)
    try:
        _wait_port(proc, port, check_body, 120)
        yield Server(name, proc, port)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _bare(port: int) -> None:
    """A bare grpc.aio server: the standard health service only, SERVING (the baseline)."""
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.aio.server()
    hs = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise SystemExit(f"cannot bind 127.0.0.1:{port}")
    await server.start()
    await hs.set("", health_pb2.HealthCheckResponse.SERVING)
    await server.wait_for_termination()


# --------------------------------------------------------------------------- clients


def grpc_status(url: str, body: Path, quiet: bool = False) -> int | None:
    """The ``grpc-status`` of one call sent with ``nghttp -v`` (None: no answer)."""
    cmd = ["nghttp", "-v", "-n", "-t", "10", "-d", str(body)]
    for h in HEADERS:
        cmd += ["-H", h]
    try:
        out = subprocess.run(
            [*cmd, url], capture_output=True, text=True, errors="replace", timeout=20, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    m = re.search(r"recv \(stream_id=\d+\) grpc-status: (\d+)", out.stdout)
    if m is None and not quiet:
        print(out.stdout[-1500:], out.stderr[-500:], file=sys.stderr)
    return int(m.group(1)) if m else None


def h2load(
    url: str, body: Path, calls: int, inflight: int, timeout: float, rps: int = 0
) -> dict[str, Any]:
    """One h2load run: ``calls`` calls, ``inflight`` streams on one connection (at most ``rps``
    calls a second when given)."""
    with tempfile.NamedTemporaryFile(prefix="h2load-", suffix=".tsv") as f:
        cmd = ["h2load", "-n", str(calls), "-c", "1", "-t", "1", "-m", str(inflight)]
        cmd += [f"--rps={rps}"] if rps else []
        cmd += ["-d", str(body), f"--log-file={f.name}"]
        for h in HEADERS:
            cmd += ["-H", h]
        out = subprocess.run(
            [*cmd, url], capture_output=True, text=True, timeout=timeout, check=False
        )
        if out.returncode:
            raise RuntimeError(f"h2load failed ({out.returncode}): {out.stderr[-1000:]}")
        res = parse_h2load(out.stdout)
        lat = latencies_us(Path(f.name))
    if res["succeeded"] != calls:
        raise RuntimeError(f"h2load: {res['succeeded']} of {calls} calls succeeded")
    return {**res, "p50_ms": pct(lat, 0.50) / 1000, "p99_ms": pct(lat, 0.99) / 1000}


def point(
    srv: Server, method: str, body: Path, args: argparse.Namespace, paced: bool = False
) -> dict[str, Any]:
    """h2load against ``srv`` with the server's CPU seconds read around it: as fast as it
    answers with ``INFLIGHT`` calls in flight, or ``paced`` at ``args.rps`` calls a second."""
    rps = args.rps if paced else 0
    calls = int(args.rps * args.paced_seconds) if paced else args.calls
    h2load(srv.url(method), body, max(100, calls // 10), INFLIGHT, args.timeout, rps)  # warm-up
    c0, t0 = srv.cpu(), time.perf_counter()
    r = h2load(srv.url(method), body, calls, INFLIGHT, args.timeout, rps)
    cpu, wall = srv.cpu() - c0, time.perf_counter() - t0
    return {
        "qps": round(r["qps"], 1),
        "p50_ms": round(r["p50_ms"], 2),
        "p99_ms": round(r["p99_ms"], 2),
        "server_cpu_us_per_call": round(cpu / r["done"] * 1e6, 1),
        "server_cpu_share": round(cpu / wall, 3),  # of one core
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("qps", "p50_ms", "p99_ms", "server_cpu_us_per_call", "server_cpu_share")
    out: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 2) for k in keys}
    out["runs"] = {k: [r[k] for r in runs] for k in ("qps", "p99_ms", "server_cpu_us_per_call")}
    return out


def _errors_counted(metrics_port: int) -> float:
    """Non-OK calls georisk counted (its Prometheus endpoint)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("georisk_grpc_errors_total{")
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from grpc_health.v1 import health_pb2

    from georisk.v1 import scoring_pb2, types_pb2

    for tool in ("h2load", "nghttp"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install nghttp2-client")
    tmp = Path(tempfile.mkdtemp(prefix="h2load-bench-"))
    bodies = {"check": tmp / "check.bin"}
    bodies["check"].write_bytes(grpc_frame(health_pb2.HealthCheckRequest().SerializeToString()))
    for kind, view in (
        ("basic", types_pb2.EXPLANATION_VIEW_BASIC),
        ("full", types_pb2.EXPLANATION_VIEW_FULL),
    ):
        req = scoring_pb2.ScoreArrangementRequest(
            arrangement_id=ARRANGEMENT, as_of=AS_OF, view=view
        )
        bodies[kind] = tmp / f"{kind}.bin"
        bodies[kind].write_bytes(grpc_frame(req.SerializeToString()))
    bare_port, geo_port, metrics_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "GEORISK_ADDRESS": f"127.0.0.1:{geo_port}",
        "GEORISK_DATA": str(args.data),
        "GEORISK_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
    }
    bare_cmd = [sys.executable, str(Path(__file__).resolve()), "--bare", str(bare_port)]
    with ExitStack() as stack:
        bare = stack.enter_context(
            start("bare", bare_cmd, dict(os.environ), bare_port, bodies["check"], tmp / "bare.log")
        )
        geo = stack.enter_context(
            start(
                "georisk",
                [*georisk_cmd(), "serve"],
                env,
                geo_port,
                bodies["check"],
                tmp / "georisk.log",
            )
        )
        plan = [(bare, "check", CHECK), (geo, "check", CHECK)]
        plan += [(geo, "basic", SCORE), (geo, "full", SCORE)]
        for srv, kind, method in plan:  # every request answered with grpc-status 0 (and warmed)
            status = grpc_status(srv.url(method), bodies[kind])
            if status != 0:
                raise RuntimeError(f"{srv.name} {kind}: grpc-status {status}, expected 0")
        runs: dict[str, list[dict[str, Any]]] = {f"{s.name} {k}": [] for s, k, _ in plan}
        runs |= {"bare check paced": [], "georisk check paced": []}
        for rep in range(args.reps):
            for srv, kind, method in plan:
                p = point(srv, method, bodies[kind], args)
                runs[f"{srv.name} {kind}"].append(p)
                print(f"rep {rep} {srv.name} {kind}: {p}", file=sys.stderr, flush=True)
            for srv in (bare, geo):  # the same fixed rate: CPU per call at equal load
                p = point(srv, CHECK, bodies["check"], args, paced=True)
                runs[f"{srv.name} check paced"].append(p)
                print(f"rep {rep} {srv.name} check paced: {p}", file=sys.stderr, flush=True)
        errors = _errors_counted(metrics_port)
        if errors:
            raise RuntimeError(f"georisk counted {errors:.0f} calls that did not end OK")
        log_lines = sum(1 for _ in (tmp / "georisk.log").open("rb"))
    shutil.rmtree(tmp, ignore_errors=True)
    points = {name: _median(rs) for name, rs in runs.items()}
    # ratios of runs made one after the other (the machine's load drifts): median over reps
    ratios = {
        "check_cpu_vs_bare": _ratios(runs["georisk check"], runs["bare check"], "cpu"),
        "check_cpu_vs_bare_paced": _ratios(
            runs["georisk check paced"], runs["bare check paced"], "cpu"
        ),
        "basic_qps_vs_check": _ratios(runs["georisk basic"], runs["georisk check"], "qps"),
        "full_qps_vs_check": _ratios(runs["georisk full"], runs["georisk check"], "qps"),
    }
    return {
        "benchmark": "h2load",
        "method": {
            "client": f"h2load -n {args.calls} -c 1 -t 1 -m {INFLIGHT} -d <framed request> "
            f"-H '{HEADERS[0]}' -H '{HEADERS[1]}' http://127.0.0.1:PORT/<method> (h2c; a "
            f"warm-up run of {max(100, args.calls // 10)} calls first)",
            "paced": f"the same with --rps={args.rps} and -n {int(args.rps * args.paced_seconds)} "
            "(Check on both servers at one fixed rate: CPU per call at equal load, which does not "
            "depend on how much CPU each server got from a shared machine)",
            "h2load": subprocess.run(
                ["h2load", "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
            "servers": "bare: grpc.aio + grpc_health only (bench/h2load_bench.py --bare); "
            "georisk: `georisk serve` on the embedded dataset, defaults (log lines to a file, "
            "Prometheus metrics, cache on), in the same session",
            "score_request": {"arrangement_id": ARRANGEMENT, "as_of": AS_OF},
            "cpu": "utime+stime of the server process from /proc/PID/stat around the run / calls",
            "reps": args.reps,
            "georisk_log_lines": log_lines,
        },
        "points": points,
        "ratios": ratios,
        "targets": targets(points, ratios),
    }


def _ratios(runs: list[dict[str, Any]], base: list[dict[str, Any]], what: str) -> dict[str, Any]:
    """Per-rep ratios of ``runs`` to ``base`` (CPU per call or QPS) and their median.

    >>> _ratios([{"qps": 90.0}, {"qps": 40.0}], [{"qps": 100.0}, {"qps": 50.0}], "qps")
    {'median': 0.85, 'runs': [0.9, 0.8]}
    """
    key = "server_cpu_us_per_call" if what == "cpu" else "qps"
    rs = [round(r[key] / b[key], 3) for r, b in zip(runs, base, strict=True)]
    return {"median": round(statistics.median(rs), 3), "runs": rs}


def targets(
    points: dict[str, dict[str, Any]], ratios: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The issue's rows, on the median of the per-rep ratios (runs made one after another)."""
    check = points["georisk check"]
    out = []
    for suffix, how in (("", f"{INFLIGHT} in flight"), (" paced", "paced")):
        r = ratios[f"check_cpu_vs_bare{suffix.replace(' ', '_')}"]
        bare_us = points[f"bare check{suffix}"]["server_cpu_us_per_call"]
        geo_us = points[f"georisk check{suffix}"]["server_cpu_us_per_call"]
        out.append(
            {
                "name": f"georisk Check CPU per call / bare grpc.aio health server's (h2load, "
                f"{how})",
                "target": f"<= {CPU_RATIO_TARGET}",
                "value": r["median"],
                "met": r["median"] <= CPU_RATIO_TARGET,
                "detail": f"median of per-rep ratios {r['runs']}; medians {geo_us} vs "
                f"{bare_us} µs/call",
            }
        )
    for kind in ("basic", "full"):
        p = points[f"georisk {kind}"]
        q = ratios[f"{kind}_qps_vs_check"]["median"]
        out.append(
            {
                "name": f"cache-hot ScoreArrangement {kind.upper()} at {INFLIGHT} in flight "
                "(h2load)",
                "target": f"QPS >= {QPS_RATIO_TARGET} x Check, p99 <= {P99_TARGET_MS:g} ms",
                "value": f"{q} x Check ({p['qps']:,.0f} vs {check['qps']:,.0f} QPS), "
                f"p99 {p['p99_ms']} ms",
                "met": q >= QPS_RATIO_TARGET and p["p99_ms"] <= P99_TARGET_MS,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="3 reps of 10,000 calls")
    mode.add_argument("--full", action="store_true", help="5 reps of 20,000 calls (default)")
    ap.add_argument("--calls", type=int, help="calls per h2load run (at most 200,000)")
    ap.add_argument("--reps", type=int, help="repetitions per point, median kept")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per h2load run at most")
    ap.add_argument(
        "--rps", type=int, default=1000, help="calls a second of the paced Check runs (1000)"
    )
    ap.add_argument(
        "--paced-seconds", type=float, default=5.0, help="seconds of each paced run (5)"
    )
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--out", type=Path, default=RESULTS / "h2load.json")
    args = ap.parse_args(argv)
    if args.bare is not None:
        asyncio.run(_bare(args.bare))
        return 0
    args.calls = min(200_000, args.calls or (10_000 if args.quick else 20_000))
    args.reps = args.reps or (3 if args.quick else 5)
    doc = run(args)
    doc["mode"] = "quick" if args.quick else "full"
    write_json(args.out, doc)
    for t in doc["targets"]:
        print(f"{'met' if t['met'] else 'MISSED'}: {t['name']}: {t['value']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
