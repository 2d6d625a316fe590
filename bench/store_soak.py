"""Soak of a store-backed ``georisk serve``: mixed reads and writes; errors, throughput, RSS.

    .venv/bin/python bench/store_soak.py                          # SQLite, 600 s
    .venv/bin/python bench/store_soak.py --seconds 60             # a short run
    .venv/bin/python bench/store_soak.py --backend postgresql     # two replicas on one PostgreSQL
    .venv/bin/python bench/store_soak.py --backend both           # one after the other

**SQLite**: one ``georisk serve --store sqlite:///TMP/georisk.db`` (seeded from ``data/`` on its
first start). **PostgreSQL**: a throwaway server (``tests/pg_harness.py``: ``initdb`` in a temp
directory, 127.0.0.1, a free port; needs the server binaries, ``apt-get install postgresql``),
one database migrated and seeded with ``georisk store init``, and two ``georisk serve`` replicas
on it; the load is spread over both, so each replica serves the other's writes by following the
store. Only 127.0.0.1 is contacted; the temp directories are removed at the end.

The load: one ``grpc.aio`` client keeps ``--concurrency`` calls in flight (default 64): a fixed
share of them (``--writers``, default 8) are writers, the rest readers.

- a **writer** owns a disjoint set of the dataset's links and updates their ``note`` through
  ``UpdateRecord``, each write with the etag of the last one it made to that link and a request id
  (so a stale etag, ABORTED, would be a real error: no two writers share a link). The dataset
  keeps its size: the soak measures the store and the follow path, not a growing dataset.
- a **reader** rotates over ScoreArrangement (BASIC and FULL), GetOwnership, GetRecord and
  ListChanges of one link (the first page of 20).

Every 5 s the servers' resident set sizes are sampled (VmRSS). At the end: every acknowledged
write is in the store (the store version moved by exactly the writes acknowledged) and every
replica serves the last version; the servers get SIGTERM and must exit 0. It writes
``bench/results/store_soak.json`` (``--out``): per run the errors by code, write and read
throughput, latency percentiles by kind and method, RSS at the start and the end (mean of the
first and the last minute; thirds for runs under three minutes) and ``targets``: a list of
{name, target, value, met}. Exit status 1 if a target is not met.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from _common import RESULTS, ROOT, georisk_cmd, write_json
from google.protobuf import field_mask_pb2, struct_pb2

from georisk.v1 import (
    graph_pb2,
    graph_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
    types_pb2,
)

READER, WRITER = "soak-reader", "soak-writer"
TOKENS = f"{READER},{WRITER} soak@example.org writer"
CALL_TIMEOUT = 30.0
SAMPLE_EVERY = 5.0
RSS_GROWTH_MAX_PCT = 10.0
CONVERGE_S = 2.0


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def lat_ms(values: list[float]) -> dict[str, float | int]:
    return {
        "calls": len(values),
        "p50_ms": round(pct(values, 0.50) * 1000, 2),
        "p90_ms": round(pct(values, 0.90) * 1000, 2),
        "p99_ms": round(pct(values, 0.99) * 1000, 2),
        "max_ms": round(max(values, default=0.0) * 1000, 2),
    }


# ---------------------------------------------------------------- servers


def start_server(url: str, log: Path, workers: int) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "GEORISK_AUTH_TOKENS": TOKENS,
        "GEORISK_WORKERS": str(workers),
        "GEORISK_GRACE_SECONDS": "30",
        "GEORISK_STORE_POLL_SECONDS": "0.5",
    }
    proc = subprocess.Popen(
        [*georisk_cmd(), "serve", "--store", url, "--address", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("georisk serving on 127.0.0.1:"):
        proc.kill()
        proc.wait(10)
        raise SystemExit(f"server did not start ({line!r}); log:\n{log.read_text()[-3000:]}")
    return proc, line.split()[-1]


@contextmanager
def store_url(backend: str, tmp: Path) -> Iterator[str]:
    """A store URL for the run: a SQLite file (seeded by the server), or a database on a
    throwaway PostgreSQL server, migrated and seeded here with ``georisk store init``."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'georisk.db'}"
        return
    sys.path.insert(0, str(ROOT))
    from tests.pg_harness import find_bin, start_postgres

    bindir = find_bin()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries (apt-get install postgresql)")
    pg = start_postgres(bindir)
    try:
        url = f"postgresql://georisk@127.0.0.1:{pg.port}/postgres"
        init = subprocess.run(
            [*georisk_cmd(), "store", "init", url, "--from", str(ROOT / "data")],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if init.returncode:
            raise SystemExit(f"georisk store init failed: {init.stderr}")
        yield url
    finally:
        pg.stop()


# ---------------------------------------------------------------- the load


class Load:
    """The client side of one run: calls, latencies by method, errors by code."""

    def __init__(self, targets: list[str], writers: int, seed: int = 7) -> None:
        self.targets = targets
        self.writers = writers
        self.rnd = random.Random(seed)
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.acked_writes = 0
        self.arrangements: list[str] = []
        self.entities: list[str] = []
        self.links: list[str] = []

    async def prepare(self, ch: grpc.aio.Channel) -> None:
        graph = graph_pb2_grpc.GraphServiceStub(ch)
        md = (("authorization", f"Bearer {READER}"),)
        arrs = await graph.ListArrangements(
            graph_pb2.ListArrangementsRequest(page_size=1000), metadata=md
        )
        ents = await graph.ListEntities(graph_pb2.ListEntitiesRequest(page_size=1000), metadata=md)
        self.arrangements = [a.id for a in arrs.arrangements]
        self.entities = [e.id for e in ents.entities]
        records = records_pb2_grpc.RecordServiceStub(ch)
        page = await records.ListChanges(
            records_pb2.ListChangesRequest(page_size=1000), metadata=md
        )
        self.links = sorted({c.name for c in page.changes if c.name.startswith("links/")})

    async def timed(self, method: str, call: Awaitable[Any]) -> Any:
        start = time.perf_counter()
        try:
            got = await call
        except grpc.aio.AioRpcError as err:
            self.errors[f"{method}:{err.code().name}"] += 1
            return None
        self.lat[method].append(time.perf_counter() - start)
        return got

    async def reader(self, ch: grpc.aio.Channel, k: int, end: float) -> None:
        scoring = scoring_pb2_grpc.ScoringServiceStub(ch)
        graph = graph_pb2_grpc.GraphServiceStub(ch)
        records = records_pb2_grpc.RecordServiceStub(ch)
        md = (("authorization", f"Bearer {READER}"),)
        rnd = random.Random(k)
        dates = ["2024-06-30", "2025-06-30", "2026-11-22", "2027-06-30"]
        full, basic = types_pb2.EXPLANATION_VIEW_FULL, types_pb2.EXPLANATION_VIEW_BASIC

        def score() -> Awaitable[Any]:
            view = full if rnd.random() < 0.3 else basic
            req = scoring_pb2.ScoreArrangementRequest(
                arrangement_id=rnd.choice(self.arrangements), as_of=rnd.choice(dates), view=view
            )
            return scoring.ScoreArrangement(req, metadata=md, timeout=CALL_TIMEOUT)

        def ownership() -> Awaitable[Any]:
            req = graph_pb2.GetOwnershipRequest(
                entity_id=rnd.choice(self.entities), as_of=rnd.choice(dates)
            )
            return graph.GetOwnership(req, metadata=md, timeout=CALL_TIMEOUT)

        def get_record() -> Awaitable[Any]:
            req = records_pb2.GetRecordRequest(name=rnd.choice(self.links))
            return records.GetRecord(req, metadata=md, timeout=CALL_TIMEOUT)

        def list_changes() -> Awaitable[Any]:
            req = records_pb2.ListChangesRequest(name=rnd.choice(self.links), page_size=20)
            return records.ListChanges(req, metadata=md, timeout=CALL_TIMEOUT)

        calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("ScoreArrangement", score),
            ("ScoreArrangement", score),
            ("GetOwnership", ownership),
            ("GetRecord", get_record),
            ("ListChanges", list_changes),
        ]
        i = k
        while time.monotonic() < end:
            method, fn = calls[i % len(calls)]
            i += 1
            await self.timed(method, fn())

    async def writer(self, ch: grpc.aio.Channel, k: int, end: float) -> None:
        records = records_pb2_grpc.RecordServiceStub(ch)
        md = (("authorization", f"Bearer {WRITER}"),)
        mine = self.links[k :: self.writers]
        etags: dict[str, str] = {}
        for name in mine:
            got = await self.timed(
                "GetRecord",
                records.GetRecord(
                    records_pb2.GetRecordRequest(name=name), metadata=md, timeout=CALL_TIMEOUT
                ),
            )
            if got is not None:
                etags[name] = got.record.etag
        i = 0
        while time.monotonic() < end and etags:
            name = mine[i % len(mine)]
            i += 1
            doc = struct_pb2.Struct()
            doc.update({"note": f"soak writer {k}, write {i}"})
            req = records_pb2.UpdateRecordRequest(
                record=records_pb2.Record(name=name, document=doc, etag=etags[name]),
                update_mask=field_mask_pb2.FieldMask(paths=["note"]),
                reason=f"store soak: writer {k}, write {i}",
                request_id=uuid.uuid4().hex,
            )
            got = await self.timed(
                "UpdateRecord", records.UpdateRecord(req, metadata=md, timeout=CALL_TIMEOUT)
            )
            if got is None:  # the error is counted; read the etag again and go on
                again = await self.timed(
                    "GetRecord",
                    records.GetRecord(
                        records_pb2.GetRecordRequest(name=name), metadata=md, timeout=CALL_TIMEOUT
                    ),
                )
                if again is not None:
                    etags[name] = again.record.etag
                continue
            self.acked_writes += 1
            etags[name] = got.record.etag


async def served_version(target: str) -> int:
    async with grpc.aio.insecure_channel(target) as ch:
        records = records_pb2_grpc.RecordServiceStub(ch)
        got = await records.ListChanges(
            records_pb2.ListChangesRequest(page_size=1),
            metadata=(("authorization", f"Bearer {READER}"),),
            timeout=CALL_TIMEOUT,
        )
        return int(got.store_version)


async def run_load(
    targets: list[str], pids: list[int], seconds: float, concurrency: int, writers: int
) -> dict[str, Any]:
    load = Load(targets, writers)
    channels = [grpc.aio.insecure_channel(t) for t in targets]
    try:
        await load.prepare(channels[0])
        start_version = await served_version(targets[0])
        samples: dict[int, list[tuple[float, int]]] = {p: [] for p in pids}
        t0 = time.monotonic()
        end = t0 + seconds

        async def sampler() -> None:
            while time.monotonic() < end:
                for p in pids:
                    r = rss_kib(p)
                    if r is not None:
                        samples[p].append((round(time.monotonic() - t0, 1), r))
                await asyncio.sleep(SAMPLE_EVERY)

        tasks = [sampler()]
        for k in range(concurrency):
            ch = channels[k % len(channels)]
            if k < writers:
                tasks.append(load.writer(ch, k, end))
            else:
                tasks.append(load.reader(ch, k, end))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - t0
        for p in pids:
            r = rss_kib(p)
            if r is not None:
                samples[p].append((round(elapsed, 1), r))
        # every replica serves the last version: the poll interval plus the follow
        last = await served_version(targets[0])
        converge_start = time.monotonic()
        served = [await served_version(t) for t in targets]
        while min(served) < last and time.monotonic() - converge_start < 30:
            await asyncio.sleep(0.05)
            served = [await served_version(t) for t in targets]
        converged_s = time.monotonic() - converge_start
    finally:
        for ch in channels:
            await ch.close()
    window = 60.0 if seconds >= 180 else seconds / 3
    rss: dict[str, Any] = {}
    for n, p in enumerate(pids):
        s = samples[p]
        first = [m for t, m in s if t <= window]
        final = [m for t, m in s if t >= elapsed - window]
        a = sum(first) / len(first) if first else 0.0
        b = sum(final) / len(final) if final else 0.0
        rss[f"replica_{n}"] = {
            "start_kib": round(a),
            "end_kib": round(b),
            "growth_pct": round(100 * (b - a) / a, 2) if a else None,
            "samples": s,
        }
    reads = [x for m, v in load.lat.items() if m != "UpdateRecord" for x in v]
    writes = load.lat.get("UpdateRecord", [])
    return {
        "seconds": round(elapsed, 1),
        "concurrency": concurrency,
        "writers_in_flight": writers,
        "replicas": len(targets),
        "errors": sum(load.errors.values()),
        "errors_by_code": dict(load.errors),
        "writes_acknowledged": load.acked_writes,
        "store_version_start": start_version,
        "store_version_end": last,
        "replicas_served_versions": served,
        "replicas_converged_s": round(converged_s, 2),
        "write_qps": round(len(writes) / elapsed, 1),
        "read_qps": round(len(reads) / elapsed, 1),
        "writes": lat_ms(writes),
        "reads": lat_ms(reads),
        "by_method": {m: lat_ms(v) for m, v in sorted(load.lat.items())},
        "rss_window_s": round(window, 1),
        "rss": rss,
    }


def targets_of(r: dict[str, Any]) -> list[dict[str, Any]]:
    backend = r["backend"]
    out: list[dict[str, Any]] = [
        {"name": f"{backend}: errors", "target": "== 0", "value": r["errors"]},
        {
            "name": f"{backend}: acknowledged writes all in the store",
            "target": "== store_version_end - store_version_start",
            "value": r["writes_acknowledged"],
            "met": r["writes_acknowledged"] == r["store_version_end"] - r["store_version_start"],
        },
        {
            "name": f"{backend}: every replica serves the last version",
            "target": f"within {CONVERGE_S} s",
            "value": r["replicas_converged_s"],
            "met": min(r["replicas_served_versions"]) == r["store_version_end"]
            and r["replicas_converged_s"] <= CONVERGE_S,
        },
        {
            "name": f"{backend}: servers exit 0 after SIGTERM",
            "target": "== [0]",
            "value": r["server_exit_codes"],
            "met": all(c == 0 for c in r["server_exit_codes"]),
        },
    ]
    out[0]["met"] = r["errors"] == 0
    for name, m in r["rss"].items():
        g = m["growth_pct"]
        out.append(
            {
                "name": f"{backend}: {name} RSS growth, first vs last window, %",
                "target": f"< {RSS_GROWTH_MAX_PCT}",
                "value": g,
                "met": g is not None and g < RSS_GROWTH_MAX_PCT,
            }
        )
    return out


def soak(
    backend: str, seconds: float, concurrency: int, writers: int, workers: int
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="georisk-store-soak-"))
    procs: list[subprocess.Popen[str]] = []
    logs: list[Path] = []
    load_start = os.getloadavg()
    try:
        with store_url(backend, tmp) as url:
            replicas = 1 if backend == "sqlite" else 2
            targets = []
            for n in range(replicas):
                logs.append(tmp / f"server-{n}.log")
                proc, target = start_server(url, logs[-1], workers)
                procs.append(proc)
                targets.append(target)
            print(f"{backend}: {replicas} server(s) on {', '.join(targets)}", file=sys.stderr)
            result = asyncio.run(
                run_load(targets, [p.pid for p in procs], seconds, concurrency, writers)
            )
            for p in procs:
                p.send_signal(signal.SIGTERM)
            result["server_exit_codes"] = [p.wait(60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        problems = 0
        for log in logs:
            if log.exists():
                text = log.read_text(errors="replace")
                problems += text.count("Traceback") + text.count(" ERROR ")
        shutil.rmtree(tmp, ignore_errors=True)
    result["backend"] = backend
    result["server_log_errors"] = problems
    result["cpus"] = os.cpu_count()
    # the machine is shared: the load average says how busy it was besides this run
    result["loadavg_1_5_15_start"] = [round(x, 2) for x in load_start]
    result["loadavg_1_5_15_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=600.0, help="per backend (default 600)")
    p.add_argument(
        "--backend", choices=["sqlite", "postgresql", "both"], default="sqlite", help="(sqlite)"
    )
    p.add_argument("--concurrency", type=int, default=64, help="calls in flight (default 64)")
    p.add_argument("--writers", type=int, default=8, help="of them writers (default 8)")
    p.add_argument("--workers", type=int, default=2, help="server scoring threads (default 2)")
    p.add_argument("--note", default="", help="a remark stored with the results")
    p.add_argument("--out", type=Path, default=RESULTS / "store_soak.json")
    args = p.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    runs = []
    for b in backends:
        r = soak(b, args.seconds, args.concurrency, args.writers, args.workers)
        runs.append(r)
        short = {k: v for k, v in r.items() if k not in ("by_method", "rss")}
        print(short, file=sys.stderr)
    targets = [t for r in runs for t in targets_of(r)]
    write_json(
        args.out,
        {
            "benchmark": "store_soak",
            "command": "bench/store_soak.py " + " ".join(argv or sys.argv[1:]),
            "note": args.note,
            "targets": targets,
            "runs": runs,
        },
    )
    for t in targets:
        print(f"{'ok ' if t['met'] else 'NOT'} {t['name']}: {t['value']} ({t['target']})")
    return 0 if all(t["met"] for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
