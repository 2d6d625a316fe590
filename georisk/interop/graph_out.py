"""The dataset's graph on a date as GraphML or GEXF (``georisk export graphml|gexf``), for Gephi,
yEd, Cytoscape or NetworkX.

The graph is the engine's own NetworkX view of that date (:attr:`ArrangementGraph.graph
<georisk.scoring.graph.ArrangementGraph.graph>`: every entity a node, every link valid on the
date an edge keyed by its id), copied with its records flattened into the scalar attributes
both formats allow: no None (a missing value is no attribute), no lists (joined with ``;``).

Nodes (id = entity id): ``label`` and ``name`` (the entity's name), ``kind``, ``country``,
``principal_place``, ``aliases``, ``identifiers`` (``SCHEME:ID``), ``lists`` (list ids in force
on the date), ``arrangements`` (the arrangements naming it as focal, party or taxpayer),
``unconfirmed``, ``sources``.

Edges (id = link id, holder → held as in the dataset): ``label`` and ``kind``, ``share`` (an
exact share) or ``share_min``/``share_max`` (a range; ``share_exclusive_min``/``_max`` when an
end is open), ``share_text`` (``26.47–30%``), ``weight`` (the share's lower bound, for edge
widths; only on links with a share), ``status``, ``unconfirmed``, ``role``, ``valid_from``,
``valid_to`` (ISO dates), ``arrangement``, ``sources``.

>>> _share_attrs(ShareRange(minimum=0.2647, maximum=0.3))["share_text"]
'26.47–30%'
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import networkx as nx

from georisk.interop import Exported
from georisk.scoring.dataset import Dataset
from georisk.scoring.graph import ArrangementGraph
from georisk.scoring.model import Entity, Link, ShareRange

__all__ = ["export_graph", "write_gexf", "write_graphml"]

_SEP = ";"


def _pct(v: float) -> str:
    return f"{round(v * 100, 6):g}%"


def _share_attrs(share: float | ShareRange) -> dict[str, Any]:
    if not isinstance(share, ShareRange):
        v = float(share)
        return {"share": v, "share_text": _pct(v), "weight": v}
    out: dict[str, Any] = {
        "share_min": float(share.minimum),
        "share_max": float(share.maximum),
        "weight": float(share.minimum),
    }
    if share.exclusive_minimum:
        out["share_exclusive_min"] = True
    if share.exclusive_maximum:
        out["share_exclusive_max"] = True
    lo = (">" if share.exclusive_minimum else "") + _pct(share.minimum)[:-1]
    hi = ("<" if share.exclusive_maximum else "") + _pct(share.maximum)
    out["share_text"] = f"{lo}–{hi}"
    return out


def _node(e: Entity, on: dt.date, arrangements: list[str]) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "label": e.name,
        "name": e.name,
        "kind": e.kind.value,
        "country": e.country,
        "principal_place": e.principal_place,
        "aliases": _SEP.join(e.aliases),
        "identifiers": _SEP.join(f"{i.scheme}:{i.id}" for i in e.identifiers),
        "lists": _SEP.join(dict.fromkeys(m.list_id for m in e.lists if m.active(on))),
        "arrangements": _SEP.join(arrangements),
        "unconfirmed": e.unconfirmed,
        "sources": _SEP.join(e.sources),
    }
    return {k: v for k, v in attrs.items() if v is not None and v != ""}


def _edge(link: Link) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "label": link.kind.value,
        "kind": link.kind.value,
        "status": link.status.value,
        "unconfirmed": link.unconfirmed,
        "role": link.role,
        "valid_from": link.valid_from.isoformat() if link.valid_from else None,
        "valid_to": link.valid_to.isoformat() if link.valid_to else None,
        "arrangement": link.arrangement,
        "sources": _SEP.join(link.sources),
    }
    if link.share is not None:
        attrs.update(_share_attrs(link.share))
    return {k: v for k, v in attrs.items() if v is not None and v != ""}


def export_graph(ds: Dataset, on: dt.date) -> nx.MultiDiGraph:
    """The graph of ``ds`` on ``on`` with GraphML/GEXF-legal attributes (module docstring); the
    graph attributes name the date and the dataset version."""
    view = ArrangementGraph.build(ds, on).graph
    named: dict[str, list[str]] = defaultdict(list)
    for a in ds.arrangements.values():
        for eid in dict.fromkeys([a.focal, *a.party_ids(), *([a.taxpayer] if a.taxpayer else [])]):
            named[eid].append(a.id)
    g = nx.MultiDiGraph(as_of=on.isoformat(), dataset_version=ds.version)
    g.add_nodes_from((n, _node(d["entity"], on, named[n])) for n, d in view.nodes(data=True))
    g.add_edges_from((u, v, k, _edge(d["link"])) for u, v, k, d in view.edges(keys=True, data=True))
    return g


def _write(ds: Dataset, on: dt.date, path: Path, fmt: str) -> Exported:
    g = export_graph(ds, on)
    with open(path, "wb") as fh:
        if fmt == "graphml":
            nx.write_graphml(g, fh)  # key ids d0, d1…: unique, as GraphML requires
        else:
            for _u, _v, k, d in g.edges(keys=True, data=True):
                d["id"] = k  # the GEXF edge id (else a counter); the writer pops it
            nx.write_gexf(g, fh)
        fh.flush()
        os.fsync(fh.fileno())
    notes = [f"arrangements are not nodes: each entity names its own ({len(ds.arrangements)})"]
    left = len(ds.links) - g.number_of_edges()
    if left:
        notes.append(f"{left} links not valid on {on.isoformat()} are not edges")
    what = f"nodes and {g.number_of_edges()} edges ({fmt.upper()}, as of {on.isoformat()})"
    return Exported(g.number_of_nodes(), what, notes)


def write_graphml(ds: Dataset, on: dt.date, path: Path) -> Exported:
    """The graph of ``ds`` on ``on`` as GraphML (``networkx.write_graphml``, for yEd and
    Cytoscape): each attribute a ``<key>`` with its ``attr.name`` and type."""
    return _write(ds, on, path, "graphml")


def write_gexf(ds: Dataset, on: dt.date, path: Path) -> Exported:
    """The graph of ``ds`` on ``on`` as GEXF 1.2 (``networkx.write_gexf``, for Gephi)."""
    return _write(ds, on, path, "gexf")
