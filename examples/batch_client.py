"""Score a CSV of arrangement ids on a running georisk server; write a CSV of the results.

A starting point for your own batch job (``georisk batch`` does the same and more: overlays,
scenarios, Parquet, resumption). Usage::

    python examples/batch_client.py 127.0.0.1:50051 ids.csv results.csv [--token TOKEN]

``ids.csv`` has an ``arrangement`` column (or the ids in its first column). The output has
``arrangement, overall, overall_band, technology_band, equity_band, policy_band, us_45x`` and
``error`` (set when the server could not score that id; the other ids go on). Exit code 0 when
every id was scored, 1 when some failed, 2 for a usage or input error, 3 when the server
failed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

# isort: split
from georisk.client import GeoriskClient, GeoriskError
from georisk.v1 import types_pb2

COLUMNS = [
    "arrangement",
    "overall",
    "overall_band",
    "technology_band",
    "equity_band",
    "policy_band",
    "us_45x",
    "error",
]


def read_ids(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    col = header.index("arrangement") if "arrangement" in header else 0
    return [r[col].strip() for r in rows[1:] if len(r) > col and r[col].strip()]


def _band(value: types_pb2.ScoreBand.ValueType) -> str:
    return types_pb2.ScoreBand.Name(value).removeprefix("SCORE_BAND_").lower()


def _verdict(value: types_pb2.Verdict.ValueType) -> str:
    return types_pb2.Verdict.Name(value).removeprefix("VERDICT_").lower()


def run(target: str, ids_csv: Path, out_csv: Path, token: str | None = None) -> int:
    try:
        ids = read_ids(ids_csv)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"error: {ids_csv}: {exc}", file=sys.stderr)
        return 2
    failed = 0
    try:
        with (
            GeoriskClient(target, token=token) as client,
            out_csv.open("w", newline="", encoding="utf-8") as f,
        ):
            w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            w.writeheader()
            if not ids:
                return 0
            # one stream for every id: the server answers in request order, one item per id
            for aid, item in zip(ids, client.stream_score(ids, timeout=600), strict=True):
                if not item.HasField("score"):
                    failed += 1
                    w.writerow({"arrangement": aid, "error": item.error.message or "failed"})
                    continue
                s = item.score
                v45 = next((_verdict(v.verdict) for v in s.verdicts if v.rule == "us-45x"), "")
                w.writerow(
                    {
                        "arrangement": s.arrangement.id,
                        "overall": f"{s.overall.score:.1f}",
                        "overall_band": _band(s.overall.band),
                        "technology_band": _band(s.technology.band),
                        "equity_band": _band(s.equity.band),
                        "policy_band": _band(s.policy.band),
                        "us_45x": v45,
                        "error": "",
                    }
                )
    except GeoriskError as exc:
        print(f"error: server {target}: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"error: {out_csv}: {exc}", file=sys.stderr)
        return 2
    print(f"{len(ids) - failed} scored, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("target", help="HOST:PORT of a georisk server")
    p.add_argument("input", type=Path, help="CSV with an 'arrangement' column")
    p.add_argument("output", type=Path, help="CSV to write")
    p.add_argument("--token", help="bearer token, if the server wants one")
    a = p.parse_args(argv)
    return run(a.target, a.input, a.output, a.token)


if __name__ == "__main__":
    sys.exit(main())
