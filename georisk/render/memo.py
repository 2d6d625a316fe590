"""The one-page memo of an arrangement: HTML (self-contained: inline CSS and SVG, no script,
nothing fetched) and Markdown.

Sections, in reading order: what the deal is; the verdict of each rule under each scenario
(the chosen scenario's reasons in full); the three axes and the overall score as bars of their
contributions; the ownership-and-technology chart; the timeline of verdicts and bands (when
one was computed); missing facts and UNCONFIRMED points; the sources, linked; the dataset,
pack and scenario-set versions. Every entity is named "Name [id]", as in the score's own
findings, which the memo quotes rather than rewords.

>>> from georisk.scoring.engine import DEFAULT_DATA, Engine
>>> import datetime as dt
>>> engine = Engine.from_dir(DEFAULT_DATA)
>>> s = engine.score("ford-marshall", dt.date(2026, 11, 22), remedies=False)
>>> md = memo_markdown(MemoParts(s))
>>> md.splitlines()[0]
'# Ford BlueOval Battery Park Michigan (Marshall) - CATL-licensed LFP cells [ford-marshall]'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from georisk.render.bands import timeline_svg
from georisk.render.bars import axis_bars_svg, segment_colour
from georisk.render.chart import Chart
from georisk.render.dot import direction
from georisk.render.style import BAND_COLOURS, VERDICT_COLOURS
from georisk.scoring.engine import ArrangementScore, UnconfirmedFact
from georisk.scoring.rules import RuleOutcome
from georisk.scoring.timeline import Timeline
from georisk.scoring.wording import usd_range

__all__ = [
    "MemoParts",
    "decisive_caption",
    "inline_svg",
    "memo_html",
    "memo_markdown",
    "pack_lines",
    "verdict_words",
]


@dataclass(frozen=True)
class MemoParts:
    """What a memo shows: the score (FULL view), the chart and its drawing, the timeline."""

    score: ArrangementScore
    chart: Chart | None = None
    #: the chart drawn as SVG (None: not drawn; ``chart_note`` says why)
    chart_svg: str | None = None
    chart_note: str = ""
    timeline: Timeline | None = None
    timeline_note: str = ""


def verdict_words(v: str) -> str:
    """``not_eligible`` → ``not eligible``."""
    return v.replace("_", " ")


def inline_svg(svg: str) -> str:
    """A standalone SVG document (``dot -Tsvg``) as an element to put in HTML: no XML prolog,
    doctype or comments, and scaled to the page's width."""
    start = svg.find("<svg")
    body = re.sub(r"<!--.*?-->", "", svg[start:] if start >= 0 else svg, flags=re.S)
    return re.sub(
        r"<svg\b([^>]*?)\swidth=\"[^\"]*\"\s+height=\"[^\"]*\"",
        r'<svg\1 class="chart" style="max-width:100%;height:auto"',
        body,
        count=1,
    ).strip()


def decisive_caption(c: Chart | None) -> str:
    """What red means in this chart: the links and entities the failing clauses rest on."""
    if c is None or not c.decisive_rules:
        return ""
    rules = ", ".join(c.decisive_rules)
    out = ""
    if any(e.decisive for e in c.edges):
        out += f" Red, thick lines: the links the failing clauses of {rules} rest on."
    if any(n.decisive for n in c.nodes):
        out += f" Red borders: the entities those clauses ({rules}) name."
    return out


def _scenario_rules(score: ArrangementScore) -> list[str]:
    """Every rule id of any scenario (several packs' rules keep their own ids)."""
    ids = [v.rule for v in score.verdicts]
    ids += [r.rule for o in score.scenarios for r in o.rules]
    return list(dict.fromkeys(ids))


def _credit(v: RuleOutcome) -> str:
    if v.credit is None:
        return ""
    text = f"≈ {usd_range(v.credit.min, v.credit.max)}/yr estimated"
    if v.credit.reported is not None:
        r = v.credit.reported
        mark = ", UNCONFIRMED" if r.unconfirmed else ""
        text += f"; reported {usd_range(r.usd_per_year, r.usd_per_year)}/yr{mark}"
    return text


def _status(score: ArrangementScore) -> str:
    a = score.arrangement
    parts = [a.country, ", ".join(p.replace("_", " ") for p in a.products)]
    if a.status:
        parts.append(f"{a.status} since {a.status_date}" if a.status_date else a.status)
    if a.capacity_gwh:
        lo, hi = a.capacity_gwh
        parts.append(f"{lo:g} GWh/yr" if lo == hi else f"{lo:g}–{hi:g} GWh/yr")
    if a.template:
        parts.append("a template deal")
    return " · ".join(parts)


def _versions(score: ArrangementScore) -> str:
    text = (
        f"dataset {score.dataset_version}; pack {score.pack_version}; "
        f"scenario set {score.scenario_set_version}"
    )
    extra = [p.version for p in score.packs if p.applied and p.version != score.pack_version]
    if extra:
        text += "; further packs " + ", ".join(extra)
    return text + (f"; overlay {score.overlay}" if score.overlay else "")


def pack_lines(score: ArrangementScore) -> list[str]:
    """Each selected policy pack, whether it applied to the deal, and why (several packs)."""
    return [
        f"{p.id}: {'applied' if p.applied else 'not applied'} — {p.reason}" for p in score.packs
    ]


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;color:#212121;max-width:60rem;margin:1.2rem auto;
padding:0 1rem;font-size:14px;line-height:1.4}
h1{font-size:1.35rem;margin:0 0 .2rem}h2{font-size:1.05rem;margin:1.1rem 0 .4rem;
border-bottom:1px solid #e0e0e0}
.sub{color:#616161;margin:0 0 .6rem}.headline{font-size:1.05rem;margin:.4rem 0}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #e0e0e0;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#fafafa}
.verdict{font-weight:bold;white-space:nowrap;border-radius:3px;padding:1px 5px}
.v-eligible{background:#c8e6c9}.v-at_risk{background:#ffe082}.v-not_eligible{background:#ef9a9a}
.v-not_applicable{background:#eeeeee;color:#616161}
.band{border-radius:3px;padding:1px 5px}
.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.3em;vertical-align:middle}
ul{margin:.2rem 0;padding-left:1.2rem}li{margin:.1rem 0}.small{font-size:12px;color:#616161}
figure{margin:.4rem 0}figcaption{font-size:12px;color:#616161}
.unconfirmed{color:#b71c1c;font-weight:bold}
@media print{body{margin:0;max-width:none;font-size:11px}h2{break-after:avoid}}
"""


def _verdict_span(v: str) -> str:
    return f'<span class="verdict v-{escape(v)}">{escape(verdict_words(v))}</span>'


def _band_span(band: str) -> str:
    colour = BAND_COLOURS.get(band, "#eeeeee")
    return f'<span class="band" style="background:{colour}">{escape(band)}</span>'


def _split_rules(score: ArrangementScore) -> tuple[list[str], list[str]]:
    """(rules that apply under some scenario, rules not applicable under every scenario)."""
    idle = {
        rid
        for rid in _scenario_rules(score)
        if all(r.verdict.value == "not_applicable" for o in score.scenarios for r in o.rules
               if r.rule == rid)
        and all(v.verdict.value == "not_applicable" for v in score.verdicts if v.rule == rid)
    }  # fmt: skip
    rules = _scenario_rules(score)
    return [r for r in rules if r not in idle], [r for r in rules if r in idle]


def _reason_item(v: RuleOutcome) -> str:
    credit = _credit(v)
    extra = "".join(f'<li class="small">open: {escape(c)}</li>' for c in v.open_conditions)
    return (
        f'<li data-rule="{escape(v.rule)}"><b>{escape(v.rule)}</b> '
        f"{_verdict_span(v.verdict.value)} {escape(v.title)}: {escape(v.reason)}"
        + (f" <i>({escape(credit)})</i>" if credit else "")
        + (f"<ul>{extra}</ul>" if extra else "")
        + "</li>"
    )


def _html_verdicts(score: ArrangementScore) -> str:
    live, idle = _split_rules(score)
    outcomes = score.scenarios or []
    head = "".join(
        f'<th title="{escape(o.title)}">{escape(o.scenario)}'
        + ("" if o.evaluated_on == score.as_of else f"<br/><small>on {o.evaluated_on}</small>")
        + "</th>"
        for o in outcomes
    )
    rows = []
    for rid in live:
        cells = []
        for o in outcomes:
            got = next((r for r in o.rules if r.rule == rid), None)
            cells.append(f"<td>{_verdict_span(got.verdict.value) if got else '—'}</td>")
        title = next((v.title for v in score.verdicts if v.rule == rid), "")
        rows.append(f'<tr><th title="{escape(title)}">{escape(rid)}</th>{"".join(cells)}</tr>')
    table = (
        '<div style="overflow-x:auto"><table class="verdicts">'
        f"<tr><th>rule</th>{head}</tr>{''.join(rows)}</table></div>"
        if outcomes and rows
        else ""
    )
    if outcomes and not rows:
        names = ", ".join(o.scenario for o in outcomes)
        table += f"<p>No rule applies under any scenario weighed ({escape(names)}).</p>"
    if idle:
        table += (
            f'<p class="small">Not applicable under every scenario: {escape(", ".join(idle))}'
            " (why: below).</p>"
        )
    shown = [_reason_item(v) for v in score.verdicts if v.rule not in idle]
    hidden = [_reason_item(v) for v in score.verdicts if v.rule in idle]
    more = (
        f"<details><summary>{len(hidden)} rules not applicable: why</summary>"
        f'<ul class="reasons">{"".join(hidden)}</ul></details>'
        if hidden
        else ""
    )
    packs = "".join(f"<li>{escape(x)}</li>" for x in pack_lines(score))
    packs_html = f'<ul class="packs small">{packs}</ul>' if len(score.packs) > 1 else ""
    return (
        f'<h2 id="verdicts">Verdicts</h2>{packs_html}{table}'
        '<p class="small">Reasons under the scenario '
        f'<b>{escape(score.scenario)}</b>:</p><ul class="reasons">{"".join(shown)}</ul>{more}'
    )


def _html_axes(score: ArrangementScore) -> str:
    axes = [score.technology, score.equity, score.policy, score.overall]
    items = []
    for a in axes[:3]:
        for i, c in enumerate(a.contributions):
            mark = ' <span class="unconfirmed">UNCONFIRMED</span>' if c.unconfirmed else ""
            items.append(
                f'<li><span class="swatch" style="background:{segment_colour(i)}"></span>'
                f"<b>{escape(a.axis)}</b> {c.points:.1f} — {escape(c.label)}{mark}: "
                f'<span class="small">{escape(c.detail)}</span></li>'
            )
        for n in a.notes:
            items.append(f'<li class="small">{escape(a.axis)}: {escape(n)}</li>')
    return (
        '<h2 id="scores">Scores</h2>'
        f"<figure>{axis_bars_svg(axes)}<figcaption>Each bar is an axis score (0–100) cut into "
        "its contributions; band limits at 34 and 67; overall = 0.35 technology + 0.35 equity "
        f'+ 0.30 policy.</figcaption></figure><ul class="contributions">{"".join(items)}</ul>'
    )


def _html_chart(parts: MemoParts) -> str:
    c = parts.chart
    if parts.chart_svg:
        where = (
            "Holders on the left, the plant and its operator on the right"
            if c is not None and direction(c) == "LR"
            else "Owners above, the plant and its operator at the bottom"
        )
        cap = f"{where}; the legend is in the chart."
        cap += decisive_caption(c)
        body = (
            f"<figure>{inline_svg(parts.chart_svg)}<figcaption>{escape(cap)}</figcaption></figure>"
        )
    else:
        body = f'<p class="small">Chart not drawn: {escape(parts.chart_note or "not asked")}</p>'
    return f'<section id="chart"><h2>Who sits where</h2>{body}</section>'


def _html_timeline(parts: MemoParts) -> str:
    t = parts.timeline
    if t is None:
        note = parts.timeline_note or "no timeline computed"
        return f'<h2 id="timeline">When it changes</h2><p class="small">{escape(note)}</p>'
    changes = []
    for c in t.changes:
        what = "; ".join(
            f"{ch.subject} {verdict_words(ch.before or '—')} → {verdict_words(ch.after or '—')}"
            for ch in c.changed
        )
        why = "; ".join(e.text for e in c.events[:3])
        changes.append(
            f"<li><b>{c.date}</b>: {escape(what)}"
            + (f' <span class="small">— {escape(why)}</span>' if why else "")
            + "</li>"
        )
    trunc = (
        f'<p class="small">Stopped early ({escape(t.truncated_by or "")}): covered to '
        f"{t.covered_to}.</p>"
        if t.truncated
        else ""
    )
    legend = (
        " ".join(
            f'<span class="swatch" style="background:{col}"></span>{escape(verdict_words(v))}'
            for v, col in VERDICT_COLOURS.items()
        )
        + " · bands: "
        + " ".join(
            f'<span class="swatch" style="background:{col}"></span>{escape(b)}'
            for b, col in BAND_COLOURS.items()
        )
    )
    return (
        f'<h2 id="timeline">When it changes ({t.from_}'
        f" to {t.to}, scenario {escape(t.scenario)})</h2>"
        f"<figure>{timeline_svg(t, parts.score.as_of)}<figcaption>{legend}</figcaption></figure>"
        f'{trunc}<ul class="changes">{"".join(changes) or "<li>no change in the window</li>"}'
        "</ul>"
    )


def _html_list(items: Iterable[str], cls: str, empty: str) -> str:
    lis = "".join(f"<li>{x}</li>" for x in items)
    return f'<ul class="{cls}">{lis}</ul>' if lis else f'<p class="small">{escape(empty)}</p>'


def _unconfirmed_item(u: UnconfirmedFact) -> str:
    rests = ", ".join(u.rests_on_it)
    tail = f' <span class="small">(rests on it: {escape(rests)})</span>' if rests else ""
    return f'<span class="unconfirmed">UNCONFIRMED</span> {escape(u.line())}{tail}'


def _html_gaps(score: ArrangementScore) -> str:
    missing = _html_list((escape(m) for m in score.missing_facts), "missing", "none recorded")
    unconf = _html_list((_unconfirmed_item(u) for u in score.unconfirmed), "unconfirmed", "none")
    warn = _html_list((escape(w) for w in score.warnings), "warnings", "")
    return (
        '<h2 id="gaps">What is missing or unconfirmed</h2>'
        f"<p><b>Missing facts</b></p>{missing}"
        f"<p><b>UNCONFIRMED points</b> (confidence {score.confidence:.2f})</p>{unconf}"
        + (f"<p><b>Warnings</b></p>{warn}" if score.warnings else "")
    )


def _html_sources(score: ArrangementScore) -> str:
    items = []
    for s in score.sources:
        title = escape(s.title)
        link = f'<a href="{escape(s.url)}">{title}</a>' if s.url else title
        extra = " (secondary)" if s.secondary else ""
        items.append(f'<li id="src-{escape(s.id)}">[{escape(s.id)}] {link}{extra}</li>')
    return '<h2 id="sources">Sources</h2>' + _html_list(items, "sources", "none cited")


def memo_html(parts: MemoParts) -> str:
    """The memo as one self-contained HTML document."""
    s = parts.score
    a = s.arrangement
    title = f"{a.name} [{a.id}]"
    headline = (
        f"Overall {s.overall.score:.1f} {_band_span(s.overall.band)} · technology "
        f"{s.technology.score:.1f} · equity {s.equity.score:.1f} · policy {s.policy.score:.1f}"
        f" · confidence {s.confidence:.2f}"
    )
    sub = f"{_status(s)} · as of {s.as_of} · scenario {s.scenario}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
        f"<title>{escape(title)} — georisk memo</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f"<style>{_CSS}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="sub">{escape(sub)}</p>'
        f'<p class="headline">{headline}</p>'
        + _html_verdicts(s)
        + _html_axes(s)
        + _html_chart(parts)
        + _html_timeline(parts)
        + _html_gaps(s)
        + _html_sources(s)
        + f'<p class="small versions">{escape(_versions(s))}. Generated by georisk explain; '
        "every figure is recomputable from the score's JSON (georisk score --format json).</p>"
        "</body></html>\n"
    )


# --------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    """Text safe in a Markdown table cell or line (pipes and newlines)."""
    return " ".join(text.replace("|", "\\|").split())


def _md_bar(points: float, width: int = 20) -> str:
    n = round(max(0.0, min(points, 100.0)) / 100 * width)
    return "█" * n + "░" * (width - n)


def memo_markdown(parts: MemoParts, chart_file: str | None = None) -> str:
    """The memo as Markdown; the chart is the image ``chart_file`` (an SVG beside it) when
    given, else a note."""
    s = parts.score
    a = s.arrangement
    out = [
        f"# {a.name} [{a.id}]",
        "",
        f"{_md(_status(s))} · as of {s.as_of} · scenario {s.scenario}",
        "",
        f"**Overall {s.overall.score:.1f} ({s.overall.band})** · technology "
        f"{s.technology.score:.1f} · equity {s.equity.score:.1f} · policy {s.policy.score:.1f} "
        f"· confidence {s.confidence:.2f}",
        "",
        "## Verdicts",
        "",
    ]
    if len(s.packs) > 1:
        out += [f"- {_md(x)}" for x in pack_lines(s)] + [""]
    outcomes = s.scenarios or []
    live, idle = _split_rules(s)
    if outcomes and live:
        out.append("| rule | " + " | ".join(o.scenario for o in outcomes) + " |")
        out.append("|---" * (len(outcomes) + 1) + "|")
        for rid in live:
            cells = []
            for o in outcomes:
                got = next((r for r in o.rules if r.rule == rid), None)
                cells.append(verdict_words(got.verdict.value) if got else "—")
            out.append(f"| {rid} | " + " | ".join(cells) + " |")
        out.append("")
    if outcomes:
        if not live:
            names = ", ".join(o.scenario for o in outcomes)
            out += [f"No rule applies under any scenario weighed ({names}).", ""]
        if idle:
            out += [f"Not applicable under every scenario: {', '.join(idle)}.", ""]
    out.append(f"Reasons under the scenario **{s.scenario}**:")
    out.append("")
    for v in s.verdicts:
        credit = _credit(v)
        line = f"- **{v.rule}** {verdict_words(v.verdict.value)}: {_md(v.reason)}"
        out.append(line + (f" *({credit})*" if credit else ""))
        out += [f"  - open: {_md(c)}" for c in v.open_conditions]
    out += ["", "## Scores", "", "| axis | score | band | |", "|---|---|---|---|"]
    for ax in (s.technology, s.equity, s.policy, s.overall):
        out.append(f"| {ax.axis} | {ax.score:.1f} | {ax.band} | `{_md_bar(ax.score)}` |")
    out.append("")
    for ax in (s.technology, s.equity, s.policy):
        for c in ax.contributions:
            mark = " **UNCONFIRMED**" if c.unconfirmed else ""
            out.append(f"- {ax.axis} {c.points:.1f} — {_md(c.label)}{mark}: {_md(c.detail)}")
    out += ["", "## Who sits where", ""]
    if chart_file:
        out.append(f"![Ownership and technology chart of {a.name} [{a.id}]]({chart_file})")
        if decisive_caption(parts.chart):
            out += ["", decisive_caption(parts.chart).strip()]
    else:
        out.append(f"Chart not drawn: {parts.chart_note or 'not asked'}")
    if parts.chart is not None:
        out.append("")
        for e in parts.chart.edges:
            if e.kind == "more":
                continue
            marks = " **decisive**" * e.decisive + " *(dashed: unconfirmed/reported)*" * e.dashed
            out.append(f"- {_md(e.text)}{marks}")
    out += ["", "## When it changes", ""]
    t = parts.timeline
    if t is None:
        out.append(parts.timeline_note or "no timeline computed")
    else:
        out.append(f"From {t.from_} to {t.to}, scenario {t.scenario}:")
        out.append("")
        rules = [
            r
            for r in dict.fromkeys(r for p in t.intervals for r in p.verdicts)
            if any(p.verdicts.get(r, "not_applicable") != "not_applicable" for p in t.intervals)
        ]
        out.append("| from | to | " + " | ".join(rules) + " | overall |")
        out.append("|---" * (len(rules) + 3) + "|")
        for p in t.intervals:
            cells = [verdict_words(p.verdicts.get(r, "")) for r in rules]
            out.append(
                f"| {p.from_} | {p.to} | " + " | ".join(cells) + f" | {p.bands.get('overall')} |"
            )
        if t.truncated:
            out += ["", f"Stopped early ({t.truncated_by}): covered to {t.covered_to}."]
        out.append("")
        for cp in t.changes:
            what = "; ".join(
                f"{ch.subject} {verdict_words(ch.before or '—')} → {verdict_words(ch.after or '—')}"
                for ch in cp.changed
            )
            why = "; ".join(e.text for e in cp.events[:3])
            out.append(f"- **{cp.date}**: {_md(what)}" + (f" — {_md(why)}" if why else ""))
    out += ["", "## What is missing or unconfirmed", "", "Missing facts:", ""]
    out += [f"- {_md(m)}" for m in s.missing_facts] or ["- none recorded"]
    out += ["", f"UNCONFIRMED points (confidence {s.confidence:.2f}):", ""]
    out += [f"- UNCONFIRMED {_md(u.line())}" for u in s.unconfirmed] or ["- none"]
    if s.warnings:
        out += ["", "Warnings:", ""] + [f"- {_md(w)}" for w in s.warnings]
    out += ["", "## Sources", ""]
    for src in s.sources:
        title = _md(src.title)
        out.append(f"- [{src.id}] " + (f"[{title}]({src.url})" if src.url else title))
    out += ["", f"*{_versions(s)}.*", ""]
    return "\n".join(out)
