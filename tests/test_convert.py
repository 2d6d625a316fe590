"""The direct protobuf conversion (server/convert.py ``build``) gives the json_format path's bytes.

``score_to_proto`` and ``ownership_to_proto`` build the messages from the pydantic objects'
attributes; the json_format path they replaced is kept as ``_score_to_proto_reference`` and
``_ownership_to_proto_reference``. A client sees the same wire form either way: compared here
byte for byte (deterministic serialization) on every shipped arrangement, scenario and view,
and on the ownership report of every entity of every arrangement.
"""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel

from georisk.scoring.control import OwnershipReport
from georisk.scoring.engine import ArrangementScore, Engine, View
from georisk.scoring.graph import PathListing, ShareValue
from georisk.scoring.overlay import load_overlay
from georisk.scoring.timeline import default_end, timeline
from georisk.server.convert import (
    _ownership_to_proto_reference,
    _score_to_proto_reference,
    _timeline_to_proto_reference,
    build,
    ownership_to_proto,
    score_to_proto,
    timeline_to_proto,
)
from georisk.v1 import types_pb2
from tests.conftest import REPO, TODAY


def _wire(msg: object) -> bytes:
    data: bytes = msg.SerializeToString(deterministic=True)  # type: ignore[attr-defined]
    return data


def _same_score(s: ArrangementScore) -> None:
    new, old = score_to_proto(s), _score_to_proto_reference(s)
    assert _wire(new) == _wire(old), f"{s.arrangement.id} {s.scenario}"
    assert new == old


@pytest.mark.parametrize("view", [View.BASIC, View.FULL])
def test_every_shipped_score_has_the_reference_wire_form(engine: Engine, view: View) -> None:
    """Every arrangement, every scenario, both views, on the issue-16 date; FULL with remedies
    computed for the reported scenario (the expensive part, so under current law only)."""
    checked = 0
    for aid in sorted(engine.dataset.arrangements):
        for sc in engine.scenarios.scenarios:
            remedies = view is View.FULL and sc.id == "current-law"
            s = engine.score(aid, TODAY, sc.id, view=view, remedies=remedies)
            _same_score(s)
            checked += 1
    assert checked == len(engine.dataset.arrangements) * len(engine.scenarios.scenarios)


def test_scores_with_remedies_and_other_dates_have_the_reference_wire_form(
    engine: Engine,
) -> None:
    """Remedies carry an overlay as JSON text (``overlay_json``), parameters their value
    (``value_json``): the texts must be those of the JSON dump, key order included."""
    with_remedies = 0
    for aid in sorted(engine.dataset.arrangements):
        s = engine.score(aid, TODAY, view=View.FULL)
        with_remedies += bool(s.remedies)
        _same_score(s)
    assert with_remedies > 0  # the shipped data has failing rules with a fix
    for on in (dt.date(2024, 1, 1), dt.date(2030, 6, 1)):
        for aid in sorted(engine.dataset.arrangements):
            _same_score(engine.score(aid, on, view=View.BASIC, remedies=False))


def test_overlay_scores_have_the_reference_wire_form(engine: Engine) -> None:
    """A what-if score (SimulateOverlay) names its overlay (an optional string, set)."""
    for path in sorted((REPO / "examples" / "overlays").glob("*.yaml")):
        ov = load_overlay(path)
        for view in (View.BASIC, View.FULL):
            s = engine.score(ov.arrangement, TODAY, view=view, overlay=ov, remedies=False)
            assert s.overlay
            _same_score(s)
            assert score_to_proto(s).overlay == s.overlay


def test_every_ownership_report_has_the_reference_wire_form(engine: Engine) -> None:
    """Every entity that is a party of an arrangement, and every entity of the dataset."""
    parties = {p.entity for a in engine.dataset.arrangements.values() for p in a.parties}
    assert parties
    for eid in sorted(engine.dataset.entities):
        for depth, paths in ((None, None), (2, 1)):
            r: OwnershipReport = engine.ownership(eid, TODAY, max_depth=depth, max_paths=paths)
            new, old = ownership_to_proto(r), _ownership_to_proto_reference(r)
            assert _wire(new) == _wire(old), eid
            assert new.truncated == old.truncated


def test_every_timeline_has_the_reference_wire_form(engine: Engine) -> None:
    """Intervals (maps of verdict and band enums, credit amounts), change points, and a
    timeline cut short (``truncated_by``) or not (unset)."""
    start = dt.date(2024, 1, 1)
    with_credits = cut = 0
    for aid in sorted(engine.dataset.arrangements):
        for t in (
            timeline(engine, aid, start, default_end(start)),
            timeline(engine, aid, start, default_end(start), "repeal-45x-batteries", max_points=1),
        ):
            new, old = timeline_to_proto(t), _timeline_to_proto_reference(t)
            assert _wire(new) == _wire(old), (aid, t.scenario)
            with_credits += any(i.credits for i in new.intervals)
            cut += new.truncated_by == "max_points"
    assert with_credits > 0 and cut > 0


def test_unset_optional_fields_stay_unset(engine: Engine) -> None:
    """None leaves a field unset (no presence), a zero that was given is present."""
    s = engine.score("gotion-manteno-il", TODAY, view=View.BASIC)
    msg = score_to_proto(s)
    assert s.overlay is None and not msg.HasField("overlay")
    info = s.arrangement.model_copy(update={"capacity_gwh": [0.0, 0.0]})
    got = score_to_proto(s.model_copy(update={"arrangement": info}))
    assert got.arrangement.HasField("capacity_gwh_min") and got.arrangement.capacity_gwh_max == 0
    none = s.arrangement.model_copy(update={"capacity_gwh": None})
    got = score_to_proto(s.model_copy(update={"arrangement": none}))
    assert not got.arrangement.HasField("capacity_gwh_min")


def test_enums_get_their_proto_values(engine: Engine) -> None:
    s = engine.score("gotion-manteno-il", TODAY, view=View.BASIC)
    msg = score_to_proto(s)
    assert msg.equity.band == types_pb2.SCORE_BAND_HIGH
    assert (
        types_pb2.Verdict.Name(msg.verdicts[0].verdict)
        .lower()
        .endswith(s.verdicts[0].verdict.value)
    )


def test_build_refuses_a_model_field_the_message_lacks() -> None:
    """A domain field with no proto field is a bug, as json_format's unknown field was."""

    class Wider(BaseModel):
        min: float
        max: float
        extra_bound: float = 0.0

    with pytest.raises(ValueError, match="extra_bound"):
        build(Wider(min=0, max=1), types_pb2.ShareValue)


def test_build_keeps_nested_repeated_messages() -> None:
    listing = PathListing(paths=[], truncated=True, max_depth=3, max_paths=2)
    got = build(listing, types_pb2.PathListing)
    assert (got.truncated, got.max_depth, got.max_paths) == (True, 3, 2)
    assert build(ShareValue(min=0.1, max=0.2, exclusive_min=True), types_pb2.ShareValue) == (
        types_pb2.ShareValue(min=0.1, max=0.2, exclusive_min=True)
    )
