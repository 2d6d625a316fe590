"""The shape of an ownership graph: strongly connected components and depth below a root owner.

:func:`ownership_shape` takes equity and voting links as (holder, held) index arrays and says
what a user compares between the two modes of ``georisk synth``: the largest strongly connected
component (SCC), the share of entities in any SCC of two or more, and the depth of each owned
entity below its roots (entities no one holds), counted on the graph with every SCC condensed
to one node: *shortest* (fewest links from any root) and *longest* (most links from any root).
:func:`shape_of_dir` reads a written dataset directory.

>>> import numpy as np
>>> s = ownership_shape(np.array([0, 1, 2, 3]), np.array([1, 2, 3, 2]), 5)
>>> s["largest_scc"], s["entities_in_sccs"], s["depth_shortest"]["max"]
(2, 2, 2)
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from georisk.synth.tables import I64

__all__ = ["ownership_shape", "shape_of_dir"]

_MAX_ROUNDS = 1_000  # relaxation rounds for the longest path (more: reported as a lower bound)


def _summary(depth: I64) -> dict[str, Any]:
    if len(depth) == 0:
        return {"median": 0, "p90": 0, "p99": 0, "max": 0, "share_1_to_3": 0.0, "histogram": {}}
    hist = np.bincount(depth)
    return {
        "median": int(np.median(depth)),
        "p90": int(np.quantile(depth, 0.9)),
        "p99": int(np.quantile(depth, 0.99)),
        "max": int(depth.max()),
        "share_1_to_3": round(float(((depth >= 1) & (depth <= 3)).mean()), 4),
        "histogram": {str(d): int(c) for d, c in enumerate(hist) if c},
    }


def ownership_shape(src: I64, tgt: I64, n: int) -> dict[str, Any]:
    """SCC sizes and depth figures of the ownership graph ``src[i] → tgt[i]`` on ``n`` nodes."""
    g = sparse.csr_matrix((np.ones(len(src), dtype=np.int8), (src, tgt)), shape=(n, n))
    k, label = csgraph.connected_components(g, directed=True, connection="strong")
    size = np.bincount(label, minlength=k)
    cs, ct = label[src], label[tgt]
    cross = cs != ct
    cs, ct = cs[cross], ct[cross]
    indeg = np.bincount(ct, minlength=k)
    inf = np.iinfo(np.int64).max // 2
    shortest = np.where(indeg == 0, 0, inf).astype(np.int64)
    longest = np.zeros(k, dtype=np.int64)
    rounds = 0
    while rounds < _MAX_ROUNDS:  # Bellman-Ford style relaxation; rounds = the longest chain
        rounds += 1
        new_s = shortest.copy()
        np.minimum.at(new_s, ct, shortest[cs] + 1)
        new_l = longest.copy()
        np.maximum.at(new_l, ct, longest[cs] + 1)
        if (new_s == shortest).all() and (new_l == longest).all():
            break
        shortest, longest = new_s, new_l
    owned = np.bincount(tgt, minlength=n) > 0
    held = (indeg[label] > 0) & owned  # held, and not only from inside its own SCC
    s_depth = shortest[label][held]
    s_depth = s_depth[s_depth < inf]
    return {
        "entities": n,
        "links": len(src),
        "largest_scc": int(size.max(initial=0)),
        "sccs_of_2_or_more": int((size > 1).sum()),
        "entities_in_sccs": int(size[size > 1].sum()),
        "scc_sizes": {str(s): int(c) for s, c in enumerate(np.bincount(size)) if c and s > 1},
        "depth_shortest": _summary(s_depth),
        "depth_longest": {
            **_summary(longest[label][held]),
            "complete": rounds < _MAX_ROUNDS,
        },
    }


def shape_of_dir(path: Path) -> dict[str, Any]:
    """:func:`ownership_shape` of the equity and voting links of a ``georisk synth`` directory."""
    index: dict[str, int] = {}
    with (Path(path) / "synth.entities.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            index[row["id"]] = len(index)
    src: list[int] = []
    tgt: list[int] = []
    with (Path(path) / "synth.links.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] in ("equity", "voting"):
                src.append(index[row["source"]])
                tgt.append(index[row["target"]])
    return ownership_shape(np.array(src, np.int64), np.array(tgt, np.int64), len(index))
