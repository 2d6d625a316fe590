"""Benchmark: generate a large synthetic dataset (georisk.synth), then optionally load it.

Prints one JSON object: generation seconds and peak RSS, counts and bytes written, and — unless
``--no-load`` — how long :func:`georisk.scoring.dataset.load_dataset` takes on the directory and the
peak RSS after it (``ru_maxrss`` is a process-wide high-water mark, so the load figure includes
generation; the generator's own peak is reported before loading starts).

    .venv/bin/python bench/synth_scale.py --entities 1000000 --links-per-entity 3 \\
        --arrangements 100000 --out /tmp/synth-1m
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from georisk.synth import SynthSpec, generate


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--links-per-entity", type=float, default=3.0)
    ap.add_argument("--arrangements", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="dataset directory (default: a temporary one)")
    ap.add_argument("--no-load", action="store_true", help="skip load_dataset")
    ap.add_argument("--keep", action="store_true", help="keep the output directory")
    args = ap.parse_args(argv)

    out: Path = args.out or Path(tempfile.mkdtemp(prefix="georisk-synth-"))
    spec = SynthSpec(
        entities=args.entities,
        links_per_entity=args.links_per_entity,
        arrangements=args.arrangements,
        seed=args.seed,
    )
    result: dict[str, Any] = {"spec": spec.__dict__, "out": str(out)}
    try:
        t0 = time.perf_counter()
        stats = generate(spec, out)
        result["generate"] = {
            "seconds": round(time.perf_counter() - t0, 2),
            "peak_rss_mb": _peak_rss_mb(),
            "entities": stats.entities,
            "links": stats.links,
            "arrangements": stats.arrangements,
            "listed": stats.listed,
            "ranged_shares": stats.ranged_shares,
            "bytes": stats.bytes,
            "links_by_kind": stats.links_by_kind,
        }
        print(json.dumps(result), file=sys.stderr, flush=True)  # progress, in case load is slow
        if not args.no_load:
            from georisk.scoring.dataset import load_dataset

            t1 = time.perf_counter()
            ds = load_dataset(out)
            result["load"] = {
                "seconds": round(time.perf_counter() - t1, 2),
                "peak_rss_mb": _peak_rss_mb(),
                "records": len(ds.sources)
                + len(ds.entities)
                + len(ds.links)
                + len(ds.arrangements),
            }
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
