"""The chart as Graphviz DOT (through the ``graphviz`` binding), drawn by the system ``dot``.

:func:`to_dot` writes the source: owners above, the plant and its operator on the bottom rank
(a chart whose widest layer holds more than :data:`WIDE` entities is drawn left to right),
a shape per entity kind, a fill per covered-nation status, a purple border for an entity on a
list in force, an edge colour per link kind with the share (licence terms on a licence) as its
label, dashed edges for UNCONFIRMED or merely reported or proposed links, the decisive links
red and thick, and a legend of what is drawn. Every node and edge carries an SVG ``id``
(``entity:<id>``, ``link:<id>``) and ``class`` (``decisive``, ``dashed``, ``kind-…``,
``covered-…``, ``listed``, ``member``), so a test or a stylesheet can find them.

:func:`draw` runs ``dot`` (SVG, PNG); without it :class:`DotMissing` says what to install.

>>> import datetime as dt
>>> c = Chart("a", "A deal", dt.date(2026, 1, 1), "current-law",
...           (ChartNode("x", "X Co", "company", roles=("focal",)),), ())
>>> "entity:x" in to_dot(c)
True
"""

from __future__ import annotations

import html
import shutil
import textwrap

import graphviz  # type: ignore[import-untyped]

from georisk.render.chart import Chart, ChartEdge, ChartNode
from georisk.render.style import DASHED, DECISIVE, EDGES, FILLS, LISTED, SHAPES

__all__ = ["DOT_HINT", "WIDE", "DotMissing", "direction", "dot_available", "draw", "to_dot"]

FONT = "Helvetica,Arial,sans-serif"
DOT_HINT = (
    "Graphviz `dot` was not found on PATH: install Graphviz (Debian/Ubuntu: apt-get install "
    "graphviz) to draw svg, png and html; dot, graphml and gexf need no Graphviz"
)


class DotMissing(RuntimeError):
    """The system Graphviz ``dot`` is not installed (or not on PATH)."""

    def __init__(self) -> None:
        super().__init__(DOT_HINT)


def dot_available() -> bool:
    """True when the system ``dot`` is on PATH."""
    return shutil.which("dot") is not None


def _lines(text: str, width: int = 30) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False) or [text]


def _node_label(n: ChartNode) -> str:
    esc = html.escape
    if n.kind == "more":
        rows = [f"<b>{esc(n.name)}</b>"]
        if n.share:
            rows.append(f'<font point-size="9">together ≥ {n.share * 100:.4g}%</font>')
        return "<" + "<br/>".join(rows) + ">"
    rows = [f"<b>{esc(x)}</b>" for x in _lines(n.name)]
    facts = [f"[{n.id}]", *(x for x in (n.country, n.kind.replace("_", " ")) if x)]
    rows.append(f'<font point-size="9">{esc(" · ".join(facts))}</font>')
    if n.roles:
        rows.append(f'<font point-size="9"><i>{esc(", ".join(n.roles))}</i></font>')
    if n.lists:
        on = "on " + ", ".join(n.lists)
        rows += [f'<font point-size="9" color="{LISTED}">{esc(x)}</font>' for x in _lines(on, 34)]
    if n.unconfirmed:
        rows.append('<font point-size="9" color="#c62828">UNCONFIRMED</font>')
    if n.hidden_holders:
        more = f"+{n.hidden_holders:,} holders not drawn"
        rows.append(f'<font point-size="9" color="#616161">{more}</font>')
    return "<" + "<br/>".join(rows) + ">"


def _node_classes(n: ChartNode) -> str:
    cls = ["entity", f"kind-{n.kind}", f"covered-{n.covered}"]
    cls += ["listed"] * bool(n.lists)
    cls += ["member"] * bool(n.roles)
    cls += ["decisive"] * n.decisive
    cls += ["unconfirmed"] * n.unconfirmed
    return " ".join(cls)


def _edge_classes(e: ChartEdge) -> str:
    cls = ["link", f"kind-{e.kind}"]
    cls += ["decisive"] * e.decisive
    cls += ["dashed"] * e.dashed
    cls += [f"axis-{a}" for a in e.axes]
    return " ".join(cls)


def _cell(swatch: str, meaning: str) -> str:
    """A legend entry: its swatch, its meaning, and a gap after it (a browser drawing the SVG
    smaller than its size rounds small text wider than ``dot`` measured it)."""
    return (
        f'{swatch}<td align="left"><font point-size="9">{html.escape(meaning)}</font></td>'
        '<td width="18"> </td>'
    )


def _legend_cells(chart: Chart) -> list[str]:
    """(swatch, meaning) cells of what the chart uses: fills, list border, line kinds."""
    cells: list[str] = []
    for c, f in FILLS.items():
        used = [n for n in chart.nodes if (n.kind == "more") == (c == "more")]
        if any(n.kind == "more" or n.covered == c for n in used):
            cells.append(_cell(f'<td bgcolor="{f.colour}" width="14"> </td>', f.meaning))
    if any(n.lists for n in chart.nodes):
        swatch = f'<td border="1" color="{LISTED}" width="14"> </td>'
        cells.append(_cell(swatch, "purple border: on a restricted-party list in force"))
    line = '<td><font color="{}"><b>━━</b></font></td>'
    for k, st in EDGES.items():
        if k != "more" and any(e.kind == k for e in chart.edges):
            cells.append(_cell(line.format(st.colour), st.meaning))
    if any(e.decisive for e in chart.edges):
        cells.append(_cell(line.format(DECISIVE.colour), DECISIVE.meaning))
    if any(e.dashed for e in chart.edges):
        cells.append(_cell("<td>╍╍</td>", "dashed: UNCONFIRMED, or only reported or proposed"))
    return cells


def _label(chart: Chart) -> str:
    """The graph's label: the title, then the legend (three entries a row) and the shapes."""
    esc = html.escape
    head = f"{chart.name} [{chart.arrangement}]"
    sub = f"ownership and technology as of {chart.as_of.isoformat()}, scenario {chart.scenario}"
    if direction(chart) == "LR":
        sub += "; holders on the left, the plant on the right"
    drawn = sum(1 for n in chart.nodes if n.kind != "more")
    tail = f"{drawn} entities drawn (at most {chart.max_nodes} nodes)"
    if chart.hidden:
        tail += f"; {chart.hidden:,} further holders not drawn one by one"
    if chart.decisive_not_drawn:
        tail += f"; {chart.decisive_not_drawn:,} further decisive links not drawn (the bound)"
    cells = _legend_cells(chart)
    per = 3
    rows = "".join(
        "<tr>" + "".join(cells[i : i + per]) + "</tr>" for i in range(0, len(cells), per)
    )
    kinds = sorted({n.kind for n in chart.nodes})
    shapes = "; ".join(f"{k.replace('_', ' ')}: {SHAPES.get(k, 'box')}" for k in kinds)
    span = 3 * per
    return (
        '<<table border="0" cellspacing="1" cellpadding="1">'
        f'<tr><td colspan="{span}"><font point-size="14"><b>{esc(head)}</b></font></td></tr>'
        f'<tr><td colspan="{span}"><font point-size="10">{esc(sub)}; {esc(tail)}</font></td></tr>'
        f'<tr><td colspan="{span}" align="left"><font point-size="9"><b>Legend</b> — shapes: '
        f"{esc(shapes)}</font></td></tr>{rows}</table>>"
    )


#: a chart whose widest layer (entities at one distance from the deal) holds more entities
#: than this is drawn left to right: a tall page reads better than a strip many pages wide
WIDE = 10


def direction(chart: Chart) -> str:
    """``TB`` (holders above, the plant below) or, for a wide chart, ``LR`` (holders on the
    left, the plant on the right).

    >>> import datetime as dt
    >>> direction(Chart("a", "A", dt.date(2026, 1, 1), "s", (), ()))
    'TB'
    """
    layers: dict[int, int] = {}
    for n in chart.nodes:
        layers[n.depth] = layers.get(n.depth, 0) + 1
    return "LR" if max(layers.values(), default=0) > WIDE else "TB"


def to_dot(chart: Chart) -> str:
    """The DOT source of ``chart`` (see the module docstring)."""
    g = graphviz.Digraph(name=chart.arrangement)
    g.attr(
        "graph",
        rankdir=direction(chart),
        label=_label(chart),
        labelloc="t",
        fontname=FONT,
        nodesep="0.3",
        ranksep="0.55",
        bgcolor="white",
        pad="0.2",
    )
    g.attr("node", fontname=FONT, fontsize="11", style="filled", margin="0.12,0.06")
    g.attr("edge", fontname=FONT, fontsize="9", arrowsize="0.7")
    names = {n.id: f"n{i}" for i, n in enumerate(chart.nodes)}
    for n in chart.nodes:
        fill = FILLS["more" if n.kind == "more" else n.covered]
        attrs = {
            "label": _node_label(n),
            "shape": SHAPES.get(n.kind, "box"),
            "fillcolor": fill.colour,
            "id": f"entity:{n.id}",
            "class": _node_classes(n),
            "tooltip": n.label + (f" — {n.covered_why}" if n.covered_why else ""),
        }
        if n.lists:
            attrs.update(color=LISTED, penwidth="2.5")
        if n.decisive:
            attrs.update(color=DECISIVE.colour, penwidth="2.5")
        if n.kind == "more":
            attrs["style"] = "filled,dashed"
        elif n.kind == "company":
            attrs["style"] = "filled,rounded"
        g.node(names[n.id], **attrs)
    bottom = [chart.focal, *chart.operators]
    with g.subgraph() as s:
        s.attr(rank="sink")
        for nid in bottom:
            if nid in names:
                s.node(names[nid])
    minlen = _stagger(chart) if direction(chart) == "TB" else {}
    for e in chart.edges:
        st = DECISIVE if e.decisive else EDGES.get(e.kind, EDGES["supply"])
        style = DASHED if e.dashed else EDGES.get(e.kind, st).style
        attrs = {
            "label": "<" + "<br/>".join(html.escape(x) for x in _lines(e.label, 28)) + ">"
            if e.label and not (e.kind == "membership" and e.label.startswith("membership"))
            else "",
            "color": st.colour,
            "fontcolor": st.colour,
            "penwidth": f"{st.penwidth:g}",
            "style": style,
            "id": f"link:{e.id}",
            "class": _edge_classes(e),
            "tooltip": e.text or e.label or e.kind,
        }
        if e.kind == "offtake":
            attrs["constraint"] = "false"
        if minlen.get(e.id, 1) > 1:
            attrs["minlen"] = str(minlen[e.id])
        g.edge(names[e.source], names[e.target], **{k: v for k, v in attrs.items() if v})
    return str(g.source)


#: an entity with more drawn holders than this has them staggered over several ranks
STAGGER_FROM = 4
#: over at most this many ranks
STAGGER_RANKS = 4


def _stagger(chart: Chart) -> dict[str, int]:
    """``minlen`` of the edges into an entity with many drawn holders: 1, 2, … in turn (at most
    :data:`STAGGER_RANKS`), so that its holders stand on a few rows instead of one very long
    one and the drawing keeps a page's proportions. Edge id → minlen (1 is not listed).

    >>> import datetime as dt
    >>> es = tuple(ChartEdge(f"e{i}", f"h{i}", "t", "equity", "") for i in range(6))
    >>> _stagger(Chart("a", "A", dt.date(2026, 1, 1), "s", (), es))
    {'e1': 2, 'e3': 2, 'e5': 2}
    """
    into: dict[str, list[ChartEdge]] = {}
    for e in chart.edges:
        if e.kind != "offtake":
            into.setdefault(e.target, []).append(e)
    out: dict[str, int] = {}
    for es in into.values():
        if len(es) <= STAGGER_FROM:
            continue
        ranks = min(STAGGER_RANKS, -(-len(es) // STAGGER_FROM))
        for i, e in enumerate(sorted(es, key=lambda x: (not x.decisive, x.id))):
            if i % ranks:
                out[e.id] = 1 + i % ranks
    return out


def draw(source: str, fmt: str) -> bytes:
    """``dot -T<fmt>`` of ``source`` (``svg`` or ``png``); :class:`DotMissing` without it."""
    if not dot_available():
        raise DotMissing()
    try:
        out: bytes = graphviz.pipe("dot", fmt, source.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound:
        raise DotMissing() from None
    return out
