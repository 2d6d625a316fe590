"""Plain renderings of scores: a table for analysts and a CSV row per arrangement for sheets."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import TextIO

from georisk.scoring.engine import ArrangementScore

__all__ = ["CSV_COLUMNS", "csv_row", "render_score_table", "write_scores_csv"]

CSV_COLUMNS = [
    "arrangement",
    "as_of",
    "scenario",
    "status",
    "technology",
    "technology_band",
    "equity",
    "equity_band",
    "policy",
    "policy_band",
    "overall",
    "overall_band",
    "confidence",
    "verdicts",
    "credit_usd_min",
    "credit_usd_max",
    "missing_facts",
    "dataset_version",
    "pack_version",
    "overlay",
]


def csv_row(r: ArrangementScore) -> dict[str, str]:
    credit = next((v.credit for v in r.verdicts if v.credit is not None), None)
    return {
        "arrangement": r.arrangement.id,
        "as_of": r.as_of.isoformat(),
        "scenario": r.scenario,
        "status": r.arrangement.status or "",
        "technology": f"{r.technology.score:.1f}",
        "technology_band": r.technology.band,
        "equity": f"{r.equity.score:.1f}",
        "equity_band": r.equity.band,
        "policy": f"{r.policy.score:.1f}",
        "policy_band": r.policy.band,
        "overall": f"{r.overall.score:.1f}",
        "overall_band": r.overall.band,
        "confidence": f"{r.confidence:.2f}",
        "verdicts": ";".join(f"{v.rule}={v.verdict.value}" for v in r.verdicts),
        "credit_usd_min": f"{credit.min:.0f}" if credit else "",
        "credit_usd_max": f"{credit.max:.0f}" if credit else "",
        "missing_facts": ";".join(r.missing_facts),
        "dataset_version": r.dataset_version,
        "pack_version": r.pack_version,
        "overlay": r.overlay or "",
    }


def write_scores_csv(results: Sequence[ArrangementScore], out: TextIO) -> None:
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in results:
        w.writerow(csv_row(r))


def render_score_table(results: Sequence[ArrangementScore]) -> str:
    lines = []
    for r in results:
        a = r.arrangement
        lines.append(
            f"{a.id} — {a.name} [{a.country}, {a.status or 'no status'}"
            f"{', template' if a.template else ''}]"
        )
        lines.append(
            f"  technology {r.technology.score:5.1f} {r.technology.band:<6}  "
            f"equity {r.equity.score:5.1f} {r.equity.band:<6}  "
            f"policy {r.policy.score:5.1f} {r.policy.band:<6}  "
            f"overall {r.overall.score:5.1f} {r.overall.band:<6}  confidence {r.confidence:.2f}"
        )
        for v in r.verdicts:
            credit = (
                f" (≈ ${v.credit.min / 1e6:,.0f}–{v.credit.max / 1e6:,.0f}M/yr)" if v.credit else ""
            )
            lines.append(f"  {v.rule:<8} {v.verdict.value:<15}{credit} {v.reason}")
            for oc in v.open_conditions:
                lines.append(f"  {'':<8} open: {oc}")
        if r.missing_facts:
            lines.append(f"  missing: {'; '.join(r.missing_facts)}")
        lines.append(
            f"  as of {r.as_of}, scenario {r.scenario}; dataset {r.dataset_version}; "
            f"pack {r.pack_version}"
        )
        lines.append("")
    return "\n".join(lines)
