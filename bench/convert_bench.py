"""Conversion benchmark: the CPU of turning a score into protobuf against the score itself.

Issue 16's row "protobuf conversion of a FULL result ≤ 10% of the score". For every shipped
arrangement on 2026-11-22, BASIC and FULL view, per repetition (process CPU time, same process):

* **score, warm**: ``Engine.score`` on an engine that has scored it before: what a server with
  the result cache off (``GEORISK_CACHE_SIZE=0``) pays for a repeated call — graph, analytics
  and the rule outcomes shared by scenarios (``RuleCache``) already cached; the smallest, so the
  strictest denominator;
* **score, cold**: a fresh :class:`~georisk.scoring.engine.Engine` on the loaded dataset, with
  the date's graph and matrices built beforehand (untimed, as ``georisk serve`` does before
  SERVING): every rule, analytics and (FULL) the remedies search from scratch;
* **convert**: ``score_to_proto(result)`` (direct construction) and the json_format path it
  replaced (``_score_to_proto_reference``), each repeated until ≥ 20 ms and divided;
* **serialize**: ``SerializeToString()`` of the message.

Ratios are per repetition (conversion / score), median over repetitions; per view the median
and the largest over the 15 arrangements are reported. The targets hold the median against the
cold score (nothing of the arrangement cached: the issue's "uncached score"), and, stricter,
against the warm one.

    .venv/bin/python bench/convert_bench.py            # 5 repetitions (~1 min)
    .venv/bin/python bench/convert_bench.py --reps 3
"""

from __future__ import annotations

import datetime as dt
import gc
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from _common import reps_main

ON = dt.date(2026, 11, 22)
TARGET = 0.10  # conversion CPU ≤ 10% of the score's


def _cpu(fn: Callable[[], object]) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def _cpu_each(fn: Callable[[], object], at_least: float = 0.02) -> float:
    """CPU seconds of one ``fn()``: repeated until ``at_least`` seconds, divided."""
    n, t0 = 0, time.process_time()
    while True:
        fn()
        n += 1
        spent = time.process_time() - t0
        if spent >= at_least:
            return spent / n


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def bench(reps: int) -> dict[str, Any]:
    from georisk.scoring.engine import DEFAULT_DATA, Engine, View
    from georisk.server.convert import _score_to_proto_reference, score_to_proto
    from georisk.server.state import warm

    base = Engine.from_dir(DEFAULT_DATA)
    ds, pack, scenarios = base.dataset, base.pack, base.scenarios
    rows: list[dict[str, Any]] = []
    for view in (View.BASIC, View.FULL):
        for aid in sorted(ds.arrangements):
            per: dict[str, list[float]] = {
                k: [] for k in ("cold", "warm", "convert", "reference", "serialize")
            }
            size = 0
            for _ in range(reps):
                gc.collect()
                fresh = Engine(ds, pack, scenarios)
                warm(fresh)  # the date's graph and matrices, as a server has them at SERVING
                fresh.graph(ON)
                per["cold"].append(_cpu(partial(fresh.score, aid, ON, view=view)))
                per["warm"].append(_cpu(partial(fresh.score, aid, ON, view=view)))
                result = fresh.score(aid, ON, view=view)
                per["convert"].append(_cpu_each(partial(score_to_proto, result)))
                per["reference"].append(_cpu_each(partial(_score_to_proto_reference, result)))
                msg = score_to_proto(result)
                per["serialize"].append(_cpu_each(msg.SerializeToString))
                size = len(msg.SerializeToString())
            ms = {k: round(_median(v) * 1e3, 4) for k, v in per.items()}

            def ratio(num: str, den: str, per: dict[str, list[float]] = per) -> float:
                return round(_median([n / d for n, d in zip(per[num], per[den], strict=True)]), 4)

            rows.append(
                {
                    "arrangement": aid,
                    "view": view.value,
                    "bytes": size,
                    **{f"{k}_ms": v for k, v in ms.items()},
                    "convert_vs_warm": ratio("convert", "warm"),
                    "convert_vs_cold": ratio("convert", "cold"),
                    "reference_vs_warm": ratio("reference", "warm"),
                    "reference_vs_cold": ratio("reference", "cold"),
                    "serialize_vs_warm": ratio("serialize", "warm"),
                    "speedup": round(_median(per["reference"]) / _median(per["convert"]), 2),
                }
            )
            print(
                f"{view.value:5} {aid:26} warm {ms['warm']:8.2f} ms  cold {ms['cold']:8.2f} ms  "
                f"convert {ms['convert']:6.3f} ms (json_format {ms['reference']:6.3f})  "
                f"serialize {ms['serialize']:6.3f} ms  {size} B",
                flush=True,
            )
    summary: dict[str, Any] = {}
    for vname in ("basic", "full"):
        vr = [r for r in rows if r["view"] == vname]
        summary[vname] = {
            k: {
                "median": round(_median([r[k] for r in vr]), 4),
                "max": round(max(r[k] for r in vr), 4),
            }
            for k in (
                "convert_vs_warm",
                "convert_vs_cold",
                "reference_vs_warm",
                "reference_vs_cold",
                "serialize_vs_warm",
                "speedup",
                "warm_ms",
                "cold_ms",
                "convert_ms",
                "reference_ms",
            )
        }
    basic_cold = _median([r["cold_ms"] for r in rows if r["view"] == "basic"])
    targets = []
    for name in ("full", "basic"):
        s = summary[name]
        targets.append(
            {
                "name": f"protobuf conversion of a {name.upper()} result ≤ 10% of the uncached "
                "score (fresh engine; median over the 15 shipped arrangements)",
                "target": TARGET,
                "value": s["convert_vs_cold"]["median"],
                "met": s["convert_vs_cold"]["median"] <= TARGET,
                "detail": f"largest {s['convert_vs_cold']['max']}; json_format path (before): "
                f"median {s['reference_vs_cold']['median']}, largest "
                f"{s['reference_vs_cold']['max']}; {s['speedup']['median']}x faster "
                f"(conversion median {s['convert_ms']['median']} ms, was "
                f"{s['reference_ms']['median']} ms)",
            }
        )
    for name in ("full", "basic"):
        s = summary[name]
        targets.append(
            {
                "name": f"stricter: {name.upper()} conversion ≤ 10% of a repeated score on a "
                "warm engine (result cache off; rule outcomes and remedy variants cached)",
                "target": TARGET,
                "value": s["convert_vs_warm"]["median"],
                "met": s["convert_vs_warm"]["median"] <= TARGET,
                "detail": f"largest {s['convert_vs_warm']['max']}; json_format path (before): "
                f"median {s['reference_vs_warm']['median']}",
            }
        )
    full_conv = summary["full"]["convert_ms"]["median"]
    targets.append(
        {
            "name": "a FULL conversion costs less than an uncached BASIC score (json_format: more)",
            "target": "< 1.0",
            "value": round(full_conv / basic_cold, 4),
            "met": full_conv < basic_cold,
            "detail": f"FULL conversion median {full_conv} ms (json_format "
            f"{summary['full']['reference_ms']['median']} ms); uncached BASIC score median "
            f"{round(basic_cold, 4)} ms",
        }
    )
    return {
        "date": ON.isoformat(),
        "reps": reps,
        "rows": rows,
        "summary": summary,
        "targets": targets,
    }


def main() -> None:
    reps_main(__doc__ or "", bench, "convert")


if __name__ == "__main__":
    main()
