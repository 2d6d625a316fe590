"""The chart as GraphML or GEXF (Gephi, yEd, Cytoscape): the neighbourhood that is drawn, as
``georisk export graphml|gexf`` writes a whole dataset.

The drawn entities and links are put in a small dataset of their own and written by the
exporter of :mod:`georisk.interop.graph_out`, so nodes and edges carry the same attributes as a
full export (names, kinds, countries, lists, shares, status, sources, …). The chart adds its
own: ``decisive``, ``dashed``, ``axes`` and ``roles`` (``covered`` on nodes), and the "N more
holders" groups as nodes of kind ``more`` with their ``count``.

>>> from georisk.scoring.engine import DEFAULT_DATA, Engine
>>> import datetime as dt
>>> from georisk.render.chart import build_chart
>>> engine = Engine.from_dir(DEFAULT_DATA)
>>> s = engine.score("gotion-manteno-il", dt.date(2026, 11, 22), remedies=False)
>>> g = chart_graph(engine.dataset, build_chart(engine, s))
>>> g.edges["gotion-high-tech", "gotion-inc", "gotion-owns-gotion-inc"]["decisive"]
True
"""

from __future__ import annotations

import io
from typing import Any

import networkx as nx

from georisk.interop.graph_out import export_graph
from georisk.render.chart import Chart
from georisk.scoring.dataset import Dataset

__all__ = ["chart_graph", "graph_bytes"]


def chart_graph(ds: Dataset, chart: Chart) -> nx.MultiDiGraph:
    """The drawn neighbourhood of ``chart`` (of dataset ``ds``) as the exporter's graph."""
    ids = [n.id for n in chart.nodes if n.kind != "more"]
    links = {e.id: ds.links[e.id] for e in chart.edges if e.kind != "more" and e.id in ds.links}
    arr = ds.arrangements.get(chart.arrangement)
    small = Dataset(
        sources={},
        entities={i: ds.entities[i] for i in ids},
        links=links,
        arrangements={arr.id: arr} if arr is not None else {},
        version=ds.version,
    )
    g = export_graph(small, chart.as_of)
    g.graph.update(arrangement=chart.arrangement, scenario=chart.scenario, hidden=chart.hidden)
    for n in chart.nodes:
        if n.kind == "more":
            attrs: dict[str, Any] = {"label": n.name, "name": n.name, "kind": "more"}
            attrs["count"] = n.count
            if n.share:
                attrs["share"] = n.share
            g.add_node(n.id, **attrs)
            continue
        g.nodes[n.id].update(
            covered=n.covered,
            decisive=n.decisive,
            **({"roles": ";".join(n.roles)} if n.roles else {}),
            **({"hidden_holders": n.hidden_holders} if n.hidden_holders else {}),
        )
    for e in chart.edges:
        if e.kind == "more":
            g.add_edge(e.source, e.target, e.id, label=e.label or "more", kind="more")
            continue
        if g.has_edge(e.source, e.target, e.id):
            d = g.edges[e.source, e.target, e.id]
            d.update(decisive=e.decisive, dashed=e.dashed)
            if e.axes:
                d["axes"] = ";".join(e.axes)
    return g


def graph_bytes(ds: Dataset, chart: Chart, fmt: str) -> bytes:
    """:func:`chart_graph` as ``graphml`` or ``gexf`` bytes."""
    g = chart_graph(ds, chart)
    buf = io.BytesIO()
    if fmt == "graphml":
        nx.write_graphml(g, buf)
    elif fmt == "gexf":
        for _u, _v, k, d in g.edges(keys=True, data=True):
            d["id"] = k  # the GEXF edge id (else a counter), as georisk export gexf
        nx.write_gexf(g, buf)
    else:
        raise ValueError(f"not a graph file format: {fmt!r}")
    return buf.getvalue()
