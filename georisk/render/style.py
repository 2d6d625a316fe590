"""How the chart looks: a shape per entity kind, a fill per covered-nation status, a line per
link kind, and the legend that says so. One table, read by the DOT writer (:mod:`.dot`) and
by the memo's legend (:mod:`.memo`), so the picture and its key cannot disagree.

>>> SHAPES["facility"], FILLS["covered"].colour
('box3d', '#f4a6a6')
>>> EDGES["licence"].colour
'#1b7f3b'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BAND_COLOURS",
    "DASHED",
    "DECISIVE",
    "EDGES",
    "FILLS",
    "LISTED",
    "SHAPES",
    "VERDICT_COLOURS",
    "EdgeStyle",
    "Fill",
]

#: Graphviz node shapes by entity kind (``more``: a group of holders not drawn one by one)
SHAPES: dict[str, str] = {
    "company": "box",
    "government": "house",
    "state_body": "octagon",
    "person": "ellipse",
    "facility": "box3d",
    "consortium": "hexagon",
    "academic": "note",
    "fund": "cylinder",
    "more": "folder",
}


@dataclass(frozen=True)
class Fill:
    colour: str
    meaning: str


#: node fill by covered-nation status (:attr:`.chart.ChartNode.covered`)
FILLS: dict[str, Fill] = {
    "covered": Fill("#f4a6a6", "covered-nation party (government, state body, or organized there)"),
    "controlled": Fill("#f8c99b", "controlled from a covered nation (majority chain)"),
    "partial": Fill("#fbe7a1", "partly owned from a covered nation"),
    "none": Fill("#e8eef7", "no covered-nation ownership found"),
    "more": Fill("#f2f2f2", "holders not drawn one by one"),
}
#: the border of an entity on a restricted-party list in force on the date
LISTED = "#7b1fa2"


@dataclass(frozen=True)
class EdgeStyle:
    colour: str
    meaning: str
    style: str = "solid"
    penwidth: float = 1.2


#: edge look by link kind
EDGES: dict[str, EdgeStyle] = {
    "equity": EdgeStyle("#333333", "equity holding (share)", penwidth=1.6),
    "voting": EdgeStyle("#1f4e9c", "votes held (share)", penwidth=1.6),
    "control": EdgeStyle("#555555", "control without a share (consolidation, influence)"),
    "appointment": EdgeStyle("#6a3d9a", "appoints board members or officers"),
    "debt": EdgeStyle("#8c564b", "debt held"),
    "licence": EdgeStyle("#1b7f3b", "technology licence (terms)", penwidth=2.0),
    "operation": EdgeStyle("#0f7c8c", "operates the plant", penwidth=1.6),
    "services": EdgeStyle("#0f7c8c", "services"),
    "equipment": EdgeStyle("#7f7f7f", "equipment supply"),
    "supply": EdgeStyle("#7f7f7f", "material supply"),
    "offtake": EdgeStyle("#9e9e9e", "buys the output"),
    "membership": EdgeStyle("#9e9e9e", "member of"),
    "more": EdgeStyle("#9e9e9e", "holdings not drawn one by one", style="dotted"),
}
#: the look of a link the failing clause rests on
DECISIVE = EdgeStyle("#c62828", "decisive: the failing clause rests on it", penwidth=3.4)
#: the line style of an UNCONFIRMED, only reported or proposed link
DASHED = "dashed"

#: verdict colours of the memo (tables and the timeline)
VERDICT_COLOURS: dict[str, str] = {
    "eligible": "#4caf50",
    "at_risk": "#ffb300",
    "not_eligible": "#e53935",
    "not_applicable": "#bdbdbd",
}
#: band colours of the memo (bars and the timeline)
BAND_COLOURS: dict[str, str] = {"low": "#81c784", "medium": "#ffca28", "high": "#ef5350"}
