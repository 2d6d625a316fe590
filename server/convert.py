"""Translation between scoring's pydantic results and the georisk.v1 protobuf messages.

The proto messages mirror the domain models field for field (see proto/georisk/v1), so the
translation is: dump the model to JSON-compatible data, rename the few fields that differ
(enum values get their proto prefixes, free-form values become ``*_json`` strings, ranges are
split into min/max), and parse strictly into the message — an unknown field is a bug caught by
the tests, not silently dropped.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from google.protobuf import json_format

from georisk.scoring.control import OwnershipReport
from georisk.scoring.engine import ArrangementScore
from georisk.scoring.model import Arrangement, Entity
from georisk.scoring.policy import PolicyPack, Scenario
from georisk.scoring.timeline import Timeline
from georisk.v1 import graph_pb2, scoring_pb2, types_pb2

__all__ = [
    "arrangement_to_proto",
    "entity_to_proto",
    "ownership_to_proto",
    "pack_to_proto",
    "scenario_to_proto",
    "score_to_proto",
    "timeline_to_proto",
]

_VERDICTS = {"eligible", "at_risk", "not_eligible", "not_applicable"}
_TRI = {"true", "false", "undetermined"}


def _enum(key: str, value: Any) -> Any:
    if key in ("verdict", "verdict_after") and isinstance(value, str):
        if value in _VERDICTS:
            return f"VERDICT_{value.upper()}"
        if value in _TRI:
            return f"TEST_VERDICT_{value.upper()}"
    if key == "band" and isinstance(value, str):
        return f"SCORE_BAND_{value.upper()}"
    return value


def _clean(obj: Any) -> Any:
    """Drop nulls, apply enum prefixes and the field renames shared by several messages."""
    if isinstance(obj, list):
        return [_clean(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if value is None:
            continue
        if key == "params" and isinstance(value, list):
            value = [
                {
                    **{k: v for k, v in p.items() if k != "value"},
                    "value_json": json.dumps(p.get("value"), default=str),
                }
                for p in value
            ]
        elif key == "remedies" and isinstance(value, list):
            value = [
                {
                    **{k: v for k, v in r.items() if k != "overlay"},
                    "overlay_json": json.dumps(r.get("overlay"), default=str),
                }
                for r in value
            ]
        out[key] = _enum(key, _clean(value))
    return out


def _parse(data: dict[str, Any], message: Any) -> Any:
    return json_format.ParseDict(data, message, ignore_unknown_fields=False)


def score_to_proto(s: ArrangementScore) -> types_pb2.ArrangementScore:
    d = s.model_dump(mode="json", by_alias=True)
    d.pop("schema", None)
    info = d["arrangement"]
    cap = info.pop("capacity_gwh", None)
    if cap is not None:
        info["capacity_gwh_min"], info["capacity_gwh_max"] = cap
    msg: types_pb2.ArrangementScore = _parse(_clean(d), types_pb2.ArrangementScore())
    return msg


def _date(d: dt.date | None) -> str:
    return d.isoformat() if d else ""


def entity_to_proto(e: Entity, on: dt.date) -> graph_pb2.Entity:
    d = e.model_dump(mode="json", by_alias=False)
    for m, model in zip(d["lists"], e.lists, strict=True):
        m["active"] = model.active(on)
    msg: graph_pb2.Entity = _parse(_clean(d), graph_pb2.Entity())
    return msg


def arrangement_to_proto(a: Arrangement) -> graph_pb2.Arrangement:
    d = a.model_dump(mode="json")
    d["parties"] = [{"entity_id": p["entity"], "role": p["role"]} for p in d["parties"]]
    d["status"] = sorted(d["status"], key=lambda ev: ev["date"])
    msg: graph_pb2.Arrangement = _parse(_clean(d), graph_pb2.Arrangement())
    return msg


def ownership_to_proto(r: OwnershipReport) -> graph_pb2.OwnershipReport:
    d = r.model_dump(mode="json", by_alias=True)
    d.pop("schema", None)
    d["entity"]["lists"] = [{"list_id": m.pop("list"), **m} for m in d["entity"]["lists"]]
    listings = [d["control"]["paths"], d["covered_nation_exposure"]["paths"]] + [
        t["paths"]
        for res in ("specified_foreign_entity", "foreign_influenced_entity")
        for t in d[res]["tests"]
        if t.get("paths")
    ]
    d["truncated"] = any(p["truncated"] for p in listings)
    for h in d["foreign_influenced_entity"]["holders"]:  # Tri values, as the test verdicts
        h["sfe"] = f"TEST_VERDICT_{h['sfe'].upper()}"
        h["meets"] = f"TEST_VERDICT_{h['meets'].upper()}"
    msg: graph_pb2.OwnershipReport = _parse(_clean(d), graph_pb2.OwnershipReport())
    return msg


def scenario_to_proto(s: Scenario) -> scoring_pb2.Scenario:
    d = s.model_dump(mode="json")
    d["overrides"] = [
        {
            **{k: v for k, v in o.items() if k != "value"},
            "value_json": json.dumps(o["value"], default=str),
        }
        for o in d["overrides"]
    ]
    msg: scoring_pb2.Scenario = _parse(_clean(d), scoring_pb2.Scenario())
    return msg


def pack_to_proto(p: PolicyPack) -> scoring_pb2.PolicyPack:
    info = p.pack
    params = [
        {
            **{k: v for k, v in var.model_dump(mode="json").items() if k != "value"},
            "id": pid,
            "value_json": json.dumps(var.value, default=str),
        }
        for pid, variants in sorted(p.parameters.items())
        for var in variants
    ]
    d = {
        "id": info.id,
        "jurisdiction": info.jurisdiction,
        "version": info.version,
        "version_label": p.version_label,
        "content_hash": p.content_hash,
        "title": info.title,
        "description": info.description,
        "sources": info.sources,
        "parameters": params,
        "rules": [r.model_dump(mode="json") for r in p.rules],
        "lists": [lst.model_dump(mode="json") for lst in p.lists],
    }
    msg: scoring_pb2.PolicyPack = _parse(_clean(d), scoring_pb2.PolicyPack())
    return msg


def timeline_to_proto(t: Timeline) -> scoring_pb2.Timeline:
    d = t.model_dump(mode="json", by_alias=True)
    intervals = [
        {
            "from_date": p["from"],
            "to_date": p["to"],
            "verdicts": {r: _enum("verdict", v) for r, v in p["verdicts"].items()},
            "bands": {a: _enum("band", b) for a, b in p["bands"].items()},
            "credits": p["credit"] or {},
        }
        for p in d["intervals"]
    ]
    msg: scoring_pb2.Timeline = _parse(
        _clean(
            {
                "arrangement_id": d["arrangement"],
                "name": d["name"],
                "scenario": d["scenario"],
                "from_date": d["from"],
                "to_date": d["to"],
                "dataset_version": d["dataset_version"],
                "pack_version": d["pack_version"],
                "scenario_set_version": d["scenario_set_version"],
                "intervals": intervals,
                "changes": d["changes"],
                "candidates": d["candidates"],
                "evaluated": d["evaluated"],
                "truncated": d["truncated"],
                "covered_to": d["covered_to"],
                "truncated_by": d["truncated_by"],
            }
        ),
        scoring_pb2.Timeline(),
    )
    return msg
