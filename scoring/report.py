"""Plain renderings of scores: a table for analysts and a CSV row per arrangement for sheets."""

from __future__ import annotations

import csv
import textwrap
from collections.abc import Sequence
from typing import TextIO

from georisk.scoring.engine import ArrangementScore, UnconfirmedFact, first_sentence
from georisk.scoring.rules import RuleOutcome
from georisk.scoring.wording import prose_list, usd, usd_range

__all__ = ["CSV_COLUMNS", "WIDTH", "csv_row", "render_score_table", "write_scores_csv"]

#: the table's width in columns: every line fits a 120-column terminal
WIDTH = 120
RULE_W = 8
#: where a verdict's reason starts; what belongs to a verdict is indented as far
INDENT = " " * (2 + RULE_W + 1 + 15 + 1)

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


def _credit(v: RuleOutcome) -> tuple[str, str]:
    """(``(≈ $700M/yr estimated; reported $900M/yr [p11], UNCONFIRMED) ``, the reported
    figure's note when it is unconfirmed): one figure when the bounds agree, the figure the
    sources report beside the estimate when the outcome carries one."""
    c = v.credit
    if c is None:
        return "", ""
    text = f"≈ {usd_range(c.min, c.max)}/yr estimated"
    rep, why = c.reported, ""
    if rep is not None:
        text += f"; reported {usd(rep.usd_per_year)}/yr"
        text += f" [{', '.join(rep.sources)}]" if rep.sources else ""
        if rep.unconfirmed:
            text += ", UNCONFIRMED"
            why = first_sentence(rep.note)
    return f"({text}) ", why


def _wrap(text: str, first: str, rest: str | None = None) -> list[str]:
    """``text`` wrapped to :data:`WIDTH` columns after ``first`` (then ``rest``, default as many
    spaces): words are kept whole (ids are not broken at their hyphens) unless one alone is
    wider than a line."""
    lines = textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=first,
        subsequent_indent=" " * len(first) if rest is None else rest,
        break_on_hyphens=False,
    )
    return lines or [first.rstrip()]


def _fact(u: UnconfirmedFact | None, fid: str, shown: set[str]) -> str:
    if u is None:
        return f"UNCONFIRMED: {fid}"
    if fid in shown:
        return f"UNCONFIRMED: {u.text} (see above)"
    shown.add(fid)
    return f"UNCONFIRMED: {u.line()}"


def _arrangement(r: ArrangementScore, params: dict[str, UnconfirmedFact]) -> list[str]:
    a = r.arrangement
    facts = {u.id: u for u in r.unconfirmed}
    since = f" since {a.status_date}" if a.status and a.status_date else ""
    out = _wrap(
        f"{a.name} [{a.id}] — {a.country}, {a.status or 'no status'}{since}"
        + (", template (scored through what-if overlays)" if a.template else ""),
        "",
        "    ",
    )
    out.append(
        f"  technology {r.technology.score:5.1f} {r.technology.band:<6}  "
        f"equity {r.equity.score:5.1f} {r.equity.band:<6}  "
        f"policy {r.policy.score:5.1f} {r.policy.band:<6}  "
        f"overall {r.overall.score:5.1f} {r.overall.band:<6}  confidence {r.confidence:.2f}"
    )
    for w in r.warnings:
        out += _wrap(f"WARNING: {w}", "  ", "      ")
    shown: set[str] = set()
    for u in r.unconfirmed:
        axes = [x for x in u.rests_on_it if x in ("technology", "equity")]
        if axes and u.kind != "parameter":
            out += _wrap(
                f"{prose_list(axes)} rest{'s' if len(axes) == 1 else ''} on "
                + _fact(u, u.id, shown),
                "  ",
                "      ",
            )
    for v in r.verdicts:
        credit, credit_why = _credit(v)
        said = f"[{v.outcome}] " if v.outcome else ""  # the EU/UK kinds' own words
        out += _wrap(
            f"{credit}{said}{v.reason}", f"  {v.rule:<{RULE_W}} {v.verdict.value:<15} ", INDENT
        )
        if credit_why:
            out += _wrap(f"UNCONFIRMED: the reported credit: {credit_why}", INDENT)
        for fid in v.unconfirmed:
            out += _wrap(_fact(facts.get(fid), fid, shown), INDENT)
        if v.unconfirmed_params:
            known = [p for p in v.unconfirmed_params if p in facts]
            for p in known:
                params.setdefault(p, facts[p])
            out += _wrap(
                "UNCONFIRMED or conflicting pack parameters"
                + (" (notes below the table)" if known else "")
                + f": {prose_list(v.unconfirmed_params)}",
                INDENT,
            )
        for oc in v.open_conditions:
            out += _wrap(f"open: {oc}", INDENT, INDENT + "      ")
    if r.missing_facts:
        out += _wrap(f"missing: {'; '.join(r.missing_facts)}", "  ", "    ")
    out += _wrap(
        f"as of {r.as_of}, scenario {r.scenario}; dataset {r.dataset_version}; "
        + _packs_line(r)
        + (f"; overlay {r.overlay}" if r.overlay else ""),
        "  ",
        "    ",
    )
    return out


def render_score_table(results: Sequence[ArrangementScore]) -> str:
    """Scores as an analyst reads them in a terminal: every line at most :data:`WIDTH`
    columns; names first with ids in brackets; dollar ranges that collapse to one figure; each
    verdict followed by the UNCONFIRMED facts it rests on with the note that says why; the
    pack parameters the verdicts rest on (unconfirmed, or their sources conflict) explained
    once below the table."""
    lines: list[str] = []
    params: dict[str, UnconfirmedFact] = {}
    for r in results:
        lines += _arrangement(r, params)
        lines.append("")
    if params:
        lines.append(
            "Pack parameters the verdicts rest on that are unconfirmed or whose sources conflict:"
        )
        for p in sorted(params):
            lines += _wrap(params[p].why, f"  {p}: ", "    ")
        lines.append("")
    return "\n".join(lines)


def _packs_line(r: ArrangementScore) -> str:
    """``pack us@…`` as before; with further packs applied, every pack applied, and those
    selected without a nexus."""
    applied = [p for p in r.packs if p.applied]
    if len(applied) <= 1:
        return f"pack {r.pack_version}"
    idle = [p.id for p in r.packs if not p.applied]
    return f"packs {', '.join(p.version for p in applied)}" + (
        f" (no nexus: {', '.join(idle)})" if idle else ""
    )
