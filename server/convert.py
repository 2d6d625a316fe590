"""Translation between scoring's pydantic results and the georisk.v1 protobuf messages.

The proto messages mirror the domain models field for field (see proto/georisk/v1); the few
differences are renames (enum values get their proto prefixes, free-form values become
``*_json`` strings, ranges are split into min/max, ``from``/``to`` become ``from_date``/
``to_date``).

The hot results — scores, ownership reports, timelines — are built directly from the pydantic
objects (:func:`build`: a compiled plan per domain class and message type, nested messages
built in place), ~9× faster than ``json_format`` (bench/convert_bench.py, bench/README.md
"Protobuf conversion"); a domain field the message lacks is refused when the plan is compiled.
The other converters (entities, arrangements, scenarios, packs) still dump the model to JSON
data and parse it strictly into the message, and so does the ``_*_reference`` path of each
direct one, kept as the reference its tests compare byte for byte (tests/test_convert.py).
"""

from __future__ import annotations

import datetime as dt
import json
import keyword
import operator
import re
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar, cast

from google.protobuf import json_format, message_factory
from google.protobuf.message import Message
from pydantic import BaseModel, TypeAdapter

from georisk.scoring.control import OwnershipReport
from georisk.scoring.engine import ArrangementScore
from georisk.scoring.model import Arrangement, Entity
from georisk.scoring.policy import PolicyPack, Scenario
from georisk.scoring.timeline import Timeline
from georisk.v1 import graph_pb2, scoring_pb2, types_pb2

__all__ = [
    "arrangement_to_proto",
    "build",
    "entity_to_proto",
    "ownership_to_proto",
    "pack_to_proto",
    "scenario_to_proto",
    "score_to_proto",
    "timeline_to_proto",
]

M = TypeVar("M", bound=Message)
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


# --------------------------------------------------------------------------- direct construction
#
# json_format.ParseDict walks a dict through protobuf's pure-Python descriptors and costs more
# than a BASIC score; building the messages with their constructors from the domain objects'
# attributes costs a small fraction of it. A plan per (domain class, message type) is compiled
# once: for each proto field, where its value comes from (the attribute of the same name as the
# JSON dump would key it, a rename, a derivation, or a ``*_json`` text) and how it converts
# (dates as ISO strings, enum values to their prefixed proto enum, nested models to messages).
# ``None`` leaves a field unset, as the dump's nulls did.

_Conv = Callable[[Any], Any]
#: (proto field, getter, converter or sub-plan chooser, domain attribute or None)
_Step = tuple[str, _Conv, Any, str | None]
#: messages already built in one conversion: (id of the domain object, the plan chooser of the
#: message type, one per type: :func:`_plans_of`) → message
_Memo = dict[tuple[int, Any], Any]

#: proto fields filled from a domain attribute of another name: message → {field: attribute}
_RENAMED: dict[str, dict[str, str]] = {
    "georisk.v1.ListEntry": {"list_id": "list"},
    "georisk.v1.Timeline": {"arrangement_id": "arrangement", "from_date": "from", "to_date": "to"},
    "georisk.v1.TimelineInterval": {"from_date": "from", "to_date": "to", "credits": "credit"},
}


def _capacity(i: int) -> _Conv:
    def get(a: Any) -> Any:
        cap = a.capacity_gwh
        return None if cap is None else cap[i]

    return get


def _report_truncated(r: OwnershipReport) -> bool:
    listings = [r.control.paths, r.covered_nation_exposure.paths] + [
        t.paths
        for res in (r.specified_foreign_entity, r.foreign_influenced_entity)
        for t in res.tests
        if t.paths is not None
    ]
    return any(p.truncated for p in listings)


#: proto fields computed from the whole domain object: message → {field: function}
_DERIVED: dict[str, dict[str, _Conv]] = {
    "georisk.v1.ArrangementInfo": {
        "capacity_gwh_min": _capacity(0),
        "capacity_gwh_max": _capacity(1),
    },
    "georisk.v1.OwnershipReport": {"truncated": _report_truncated},
}
#: domain attributes read by a derivation (so not "unknown" to the message)
_CONSUMED: dict[str, set[str]] = {"georisk.v1.ArrangementInfo": {"capacity_gwh"}}
#: domain keys the wire form leaves out
_DROPPED = {"schema"}

_PLANS: dict[tuple[type, str], _Plan] = {}


def build(obj: BaseModel, message_class: type[M]) -> M:
    """The ``message_class`` message of the pydantic object ``obj``, as json_format would parse
    its JSON dump (by alias, nulls dropped) with the renames of this module.

    >>> from georisk.scoring.graph import ShareValue
    >>> build(ShareValue(min=0.25, max=0.5), types_pb2.ShareValue).max
    0.5
    """
    return cast(M, _plan(type(obj), message_class.DESCRIPTOR).make(obj))


def _plan(model: type, desc: Any) -> _Plan:
    key = (model, desc.full_name)
    got = _PLANS.get(key)
    if got is None:
        got = _PLANS[key] = _compile(model, desc)
    return got


class _Plan:
    """How to build one message type from one domain class.

    Nested messages are built in place, top-down (a repeated field's ``add(**scalars)``, a
    singular field's sub-message filled), never built apart and copied into their parent: a
    FULL score nests eight levels deep, and each copy would copy the whole subtree again.
    ``kwargs`` (the scalar fields of one object) and ``nested`` (its message fields, into a
    message) are generated Python functions, one statement per field (see :func:`_generate`).

    An object met again in the same tree (the engine shares rule outcomes between the reported
    verdicts and the scenarios that leave a rule's inputs unchanged: 8–12 distinct of 28 in a
    FULL score) is built once and copied (``CopyFrom``, in C) where it recurs; ``memo`` maps
    (its ``id``, the message type's plan chooser) to its first message. The objects live for the
    whole call, so their ids are not reused within it.
    """

    __slots__ = ("cls", "kwargs", "nested")

    def __init__(
        self,
        cls: Any,
        scalars: list[_Step],
        singles: list[_Step],
        repeats: list[_Step],
    ) -> None:
        self.cls = cls
        self.kwargs, self.nested = _generate(cls.DESCRIPTOR.full_name, scalars, singles, repeats)

    def make(self, obj: Any) -> Any:
        msg = self.cls(**self.kwargs(obj))
        self.nested(obj, msg, {})
        return msg

    def fill(self, obj: Any, msg: Any, memo: _Memo) -> None:
        for name, v in self.kwargs(obj).items():
            if isinstance(v, list):
                getattr(msg, name).extend(v)
            elif isinstance(v, dict):
                target = getattr(msg, name)
                for key, item in v.items():
                    if isinstance(item, Message):
                        target[key].CopyFrom(item)
                    else:
                        target[key] = item
            else:
                setattr(msg, name, v)
        self.nested(obj, msg, memo)


def _generate(
    where: str, scalars: list[_Step], singles: list[_Step], repeats: list[_Step]
) -> tuple[Callable[[Any], dict[str, Any]], Callable[[Any, Any, _Memo], None]]:
    """The ``kwargs`` and ``nested`` functions of a plan, as straight-line Python source.

    A loop over (field, getter, converter) triples costs several times the work it does on the
    ~250 messages of a FULL score; one statement per field, the attribute read inline, does not.
    Names in the source are the proto fields' (``repr``'d as keys) and the domain attributes'
    (read with ``getattr`` when not identifiers); getters and converters are passed in by name.
    """
    env: dict[str, Any] = {"_str": _str}  # _strs is inlined

    def read(i: int, get: _Conv, attr: str | None) -> str:
        if attr is not None and attr.isidentifier() and not keyword.iskeyword(attr):
            return f"obj.{attr}"
        env[f"g{i}"] = get
        return f"g{i}(obj)"

    lines = ["def kwargs(obj):", "    kw = {}"]
    for i, (name, get, conv, attr) in enumerate(scalars):
        lines += [f"    v = {read(i, get, attr)}", "    if v is not None:"]
        if conv is None:
            lines.append(f"        kw[{name!r}] = v")
        elif conv is _str:
            lines.append(f"        kw[{name!r}] = v if v.__class__ is str else _str(v)")
        elif conv is _strs:
            lines.append(
                f"        kw[{name!r}] = [x if x.__class__ is str else _str(x) for x in v]"
            )
        else:
            env[f"c{i}"] = conv
            lines.append(f"        kw[{name!r}] = c{i}(v)")
    lines += ["    return kw", "", "def nested(obj, msg, memo):"]
    for i, (name, get, sub, attr) in enumerate(singles, start=len(scalars)):
        env[f"s{i}"] = sub
        lines += [
            f"    v = {read(i, get, attr)}",
            "    if v is not None:",
            f"        child = getattr(msg, {name!r})",
            "        child.SetInParent()",
            f"        s{i}(v).fill(v, child, memo)",
        ]
    for i, (name, get, sub, attr) in enumerate(repeats, start=len(scalars) + len(singles)):
        env[f"s{i}"] = sub
        lines += [
            f"    v = {read(i, get, attr)}",
            "    if v:",
            f"        add = getattr(msg, {name!r}).add",
            "        for x in v:",
            f"            key = (id(x), s{i})",
            "            m = memo.get(key)",
            "            if m is None:",
            f"                p = s{i}(x)",
            "                m = add(**p.kwargs(x))",
            "                p.nested(x, m, memo)",
            "                memo[key] = m",
            "            else:",
            "                add().CopyFrom(m)",
        ]
    lines.append("    return None")
    exec(compile("\n".join(lines), f"<georisk.server.convert plan of {where}>", "exec"), env)
    return env["kwargs"], env["nested"]


def _compile(model: type, desc: Any) -> _Plan:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{desc.full_name}: cannot build from a {model.__name__}")
    attrs = {(f.alias or name): name for name, f in model.model_fields.items()}
    renamed = _RENAMED.get(desc.full_name, {})
    derived = _DERIVED.get(desc.full_name, {})
    used = set(_CONSUMED.get(desc.full_name, ())) | _DROPPED
    scalars: list[_Step] = []
    singles: list[_Step] = []
    repeats: list[_Step] = []
    for field in desc.fields:
        name = field.name
        get: _Conv
        attr: str | None = None
        if name in derived:
            get = derived[name]
        elif renamed.get(name, name) in attrs:
            used.add(renamed.get(name, name))
            attr = attrs[renamed.get(name, name)]
            get = operator.attrgetter(attr)
        elif name.endswith("_json") and name[:-5] in attrs:
            used.add(name[:-5])
            get = _json_getter(attrs[name[:-5]], model.model_fields[attrs[name[:-5]]].annotation)
        else:
            continue
        if field.type == field.TYPE_MESSAGE and not field.message_type.GetOptions().map_entry:
            sub = _plans_of(field.message_type)
            (repeats if field.is_repeated else singles).append((name, get, sub, attr))
        else:
            scalars.append((name, get, _converter(field), attr))
    unknown = sorted(set(attrs) - used)
    if unknown:
        raise ValueError(f"{desc.full_name} has no field for {model.__name__}.{unknown}")
    return _Plan(message_factory.GetMessageClass(desc), scalars, singles, repeats)


_CHOOSERS: dict[str, Callable[[Any], _Plan]] = {}


def _plans_of(mdesc: Any) -> Callable[[Any], _Plan]:
    """The plan of message type ``mdesc`` for a domain object (by its class); one chooser per
    message type (it is also the type's key in a :data:`_Memo`)."""
    got = _CHOOSERS.get(mdesc.full_name)
    if got is None:
        got = _CHOOSERS[mdesc.full_name] = _new_chooser(mdesc)
    return got


def _new_chooser(mdesc: Any) -> Callable[[Any], _Plan]:
    plans: dict[type, _Plan] = {}

    def of(v: Any) -> _Plan:
        plan = plans.get(type(v))
        if plan is None:
            plan = plans[type(v)] = _plan(type(v), mdesc)
        return plan

    return of


def _json_getter(attr: str, annotation: Any) -> _Conv:
    """``attr``'s JSON dump as text (``null`` for None), as the ``*_json`` fields carry it.

    A value of an ``Any`` field made of JSON types only (str, int, float, bool, None, lists and
    str-keyed dicts of them) dumps as itself, so it is written directly; anything else goes
    through pydantic's JSON-mode dump of the field.
    """

    def get(obj: Any) -> str:
        v = getattr(obj, attr)
        if annotation is not Any or not _plain(v):
            dumped = obj.model_dump(mode="json", by_alias=True, include={attr})
            v = next(iter(dumped.values()), None)
        return _JSON.encode(v)

    return get


#: json.dumps(v, default=str) without a new encoder per call (the same options)
_JSON = json.JSONEncoder(default=str)
#: JSON types, and dates (``default=str`` writes a date as its ISO form, as pydantic dumps it)
_PLAIN = (str, int, float, bool, type(None), dt.date)


def _plain(v: Any) -> bool:
    """Whether ``v`` is made of JSON types and dates only (exact types: no subclasses, such as
    enums or datetimes)."""
    if type(v) in _PLAIN:
        return True
    if type(v) is list:
        return all(_plain(x) for x in v)
    if type(v) is dict:
        return all(type(k) is str and _plain(x) for k, x in v.items())
    return False


def _str(v: Any) -> Any:
    if type(v) is str:
        return v
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, dt.datetime):
        return _DATETIME.dump_python(v, mode="json")
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


_DATETIME: TypeAdapter[dt.datetime] = TypeAdapter(dt.datetime)


def _enum_values(enum: Any) -> dict[str, int]:
    """The numbers of an enum's values by domain value: ``TestVerdict`` → {"true": 1, ...}."""
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
    return {
        v.name[len(prefix) :].lower(): v.number for v in enum.values if v.name.startswith(prefix)
    }


def _converter(field: Any) -> _Conv | None:
    """How a domain value becomes the value of proto ``field`` (None: as it is)."""
    repeated = field.is_repeated
    one: _Conv | None
    if field.type == field.TYPE_MESSAGE:
        mdesc = field.message_type
        if mdesc.GetOptions().map_entry:
            key, value = (
                _converter(mdesc.fields_by_name["key"]),
                _converter(mdesc.fields_by_name["value"]),
            )
            kc, vc = key or _same, value or _same
            return lambda d: {kc(k): vc(v) for k, v in d.items() if v is not None}
        of = _plans_of(mdesc)

        def one(v: Any) -> Any:
            return of(v).make(v)

    elif field.type == field.TYPE_ENUM:
        numbers = _enum_values(field.enum_type)
        where = f"{field.containing_type.name}.{field.name}"

        def one(v: Any) -> int:
            try:
                return numbers[getattr(v, "value", v)]
            except KeyError:
                raise ValueError(f"{where}: no {field.enum_type.name} for {v!r}") from None

    elif field.type == field.TYPE_STRING:
        one = _str
    else:
        one = None
    if not repeated:
        return one
    if one is None:
        return list
    if one is _str:
        return _strs
    each = one
    return lambda xs: [each(x) for x in xs]


def _strs(xs: Any) -> list[Any]:
    """A repeated string field's values (the generated plans inline this)."""
    return [x if x.__class__ is str else _str(x) for x in xs]


def _same(v: Any) -> Any:
    return v


def score_to_proto(s: ArrangementScore) -> types_pb2.ArrangementScore:
    """``s`` as a ``georisk.v1.ArrangementScore``, built field by field (see :func:`build`).

    The wire form is byte for byte that of the json_format path it replaced
    (:func:`_score_to_proto_reference`, kept for tests/test_convert.py), at a fraction of the
    cost (bench/convert_bench.py).

    >>> from georisk.scoring.engine import DEFAULT_DATA, Engine, View
    >>> score = Engine.from_dir(DEFAULT_DATA).score("gotion-manteno-il", view=View.BASIC)
    >>> msg = score_to_proto(score)
    >>> msg.SerializeToString() == _score_to_proto_reference(score).SerializeToString()
    True
    """
    msg: types_pb2.ArrangementScore = build(s, types_pb2.ArrangementScore)
    return msg


def _date(d: dt.date | None) -> str:
    return d.isoformat() if d else ""


def entity_to_proto(e: Entity, on: dt.date) -> graph_pb2.Entity:
    d = e.model_dump(mode="json", by_alias=False, exclude={"facts"})  # not in graph.proto
    for m, model in zip(d["lists"], e.lists, strict=True):
        m["active"] = model.active(on)
    msg: graph_pb2.Entity = _parse(_clean(d), graph_pb2.Entity())
    return msg


#: Arrangement fields graph.proto does not carry (issue 18's facts; the score cites them)
_ARRANGEMENT_FACTS = {"markets", "origins", "transactions", "tenders"}


def arrangement_to_proto(a: Arrangement) -> graph_pb2.Arrangement:
    # the EU/UK facts (markets, origins, transactions, tenders) have no field in graph.proto
    d = a.model_dump(mode="json", exclude=_ARRANGEMENT_FACTS)
    d["parties"] = [{"entity_id": p["entity"], "role": p["role"]} for p in d["parties"]]
    d["status"] = sorted(d["status"], key=lambda ev: ev["date"])
    msg: graph_pb2.Arrangement = _parse(_clean(d), graph_pb2.Arrangement())
    return msg


def ownership_to_proto(r: OwnershipReport) -> graph_pb2.OwnershipReport:
    """``r`` as a ``georisk.v1.OwnershipReport``, built field by field (see :func:`build`);
    the wire form is that of :func:`_ownership_to_proto_reference`."""
    msg: graph_pb2.OwnershipReport = build(r, graph_pb2.OwnershipReport)
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


def pack_to_proto(p: PolicyPack, *, summary: bool = False) -> scoring_pb2.PolicyPack:
    """``p`` as a ``georisk.v1.PolicyPack``; with ``summary`` its identity, title, sources,
    review date and nexus only (ListPolicyPacks), without parameters, rules and lists."""
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
    d: dict[str, Any] = {
        "id": info.id,
        "jurisdiction": info.jurisdiction,
        "version": info.version,
        "version_label": p.version_label,
        "content_hash": p.content_hash,
        "title": info.title,
        "description": info.description,
        "sources": info.sources,
        "parameters": [] if summary else params,
        "rules": [] if summary else [r.model_dump(mode="json") for r in p.rules],
        "lists": [] if summary else [lst.model_dump(mode="json") for lst in p.lists],
        "review_by": info.review_by.isoformat() if info.review_by else None,
    }
    if info.nexus is not None:
        nx = info.nexus
        d["nexus"] = {
            "countries": nx.countries,
            "markets": nx.markets,
            "party_countries": nx.parties.countries if nx.parties else [],
            "party_roles": nx.parties.roles if nx.parties else [],
        }
    msg: scoring_pb2.PolicyPack = _parse(_clean(d), scoring_pb2.PolicyPack())
    return msg


def timeline_to_proto(t: Timeline) -> scoring_pb2.Timeline:
    """``t`` as a ``georisk.v1.Timeline``, built field by field (see :func:`build`); the wire
    form is that of :func:`_timeline_to_proto_reference`."""
    msg: scoring_pb2.Timeline = build(t, scoring_pb2.Timeline)
    return msg


# --------------------------------------------------------------------------- references


def _score_to_proto_reference(s: ArrangementScore) -> types_pb2.ArrangementScore:
    """The json_format path :func:`score_to_proto` replaced: the reference of its tests."""
    d = s.model_dump(mode="json", by_alias=True)
    d.pop("schema", None)
    info = d["arrangement"]
    cap = info.pop("capacity_gwh", None)
    if cap is not None:
        info["capacity_gwh_min"], info["capacity_gwh_max"] = cap
    msg: types_pb2.ArrangementScore = _parse(_clean(d), types_pb2.ArrangementScore())
    return msg


def _ownership_to_proto_reference(r: OwnershipReport) -> graph_pb2.OwnershipReport:
    """The json_format path :func:`ownership_to_proto` replaced: the reference of its tests."""
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


def _timeline_to_proto_reference(t: Timeline) -> scoring_pb2.Timeline:
    """The json_format path :func:`timeline_to_proto` replaced: the reference of its tests."""
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
                "packs_applied": d["packs_applied"],
            }
        ),
        scoring_pb2.Timeline(),
    )
    return msg
