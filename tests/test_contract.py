"""The promises of proto/georisk/v1 that the server keeps, each asserted for its meaning.

One in-process server (127.0.0.1:0) on the shared engine; raw stubs, so that what is checked is
what any client sees on the wire (fields, codes, rich status details).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from georisk.scoring.engine import Engine
from georisk.server.settings import Settings
from georisk.v1 import graph_pb2, graph_pb2_grpc, scoring_pb2, scoring_pb2_grpc, types_pb2
from tests.conftest import DATA, REPO
from tests.server_harness import ServerThread

TODAY = "2026-11-22"


def settings(**kw: object) -> Settings:
    return Settings.from_env({}, **{"address": "127.0.0.1:0", "data_dir": DATA, **kw})


@pytest.fixture(scope="module")
def srv(engine: Engine) -> Iterator[ServerThread]:
    t = ServerThread(settings(), engine).start()
    yield t
    t.stop()


@pytest.fixture(scope="module")
def channel(srv: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(
        srv.target, options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)]
    ) as ch:
        yield ch


@pytest.fixture(scope="module")
def scoring(channel: grpc.Channel) -> scoring_pb2_grpc.ScoringServiceStub:
    return scoring_pb2_grpc.ScoringServiceStub(channel)


def rich_status(err: grpc.RpcError) -> status_pb2.Status:
    """The ``google.rpc.Status`` of a failed call (from the grpc-status-details-bin trailer)."""
    assert isinstance(err, grpc.Call)
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert isinstance(raw, bytes), "no rich status details"
    return status_pb2.Status.FromString(raw)


def violations(err: grpc.RpcError) -> dict[str, str]:
    """The BadRequest field violations of an INVALID_ARGUMENT, field → description."""
    out: dict[str, str] = {}
    for d in rich_status(err).details:
        br = error_details_pb2.BadRequest()
        if d.Unpack(br):
            out.update({v.field: v.description for v in br.field_violations})
    return out


# --------------------------------------------------------------------------- GetPolicyPack as_of


def test_policy_pack_as_of_gives_the_values_in_force_on_that_date(
    scoring: scoring_pb2_grpc.ScoringServiceStub, engine: Engine
) -> None:
    def get(as_of: str) -> scoring_pb2.PolicyPack:
        req = scoring_pb2.GetPolicyPackRequest(as_of=as_of)
        return scoring.GetPolicyPack(req, timeout=30).pack

    whole = get("")
    assert len(whole.parameters) == sum(len(v) for v in engine.pack.parameters.values())
    seen: dict[str, list[str]] = {}
    for on in ("2020-01-01", "2024-06-01", TODAY):
        day = dt.date.fromisoformat(on)
        pack = get(on)
        ids = [p.id for p in pack.parameters]
        assert len(ids) == len(set(ids)), "one value per parameter on a date"
        # every parameter with a value on that day, and only those, with the value the rules read
        expected = {pid for pid in engine.pack.parameters if engine.pack.maybe(pid, day)}
        assert set(ids) == expected
        for p in pack.parameters:
            variant = engine.pack.param(p.id, day)
            assert json.loads(p.value_json) == json.loads(json.dumps(variant.value, default=str))
            assert p.effective_from == (
                variant.effective_from.isoformat() if variant.effective_from else ""
            )
        assert all(
            (not r.effective_from or r.effective_from <= on)
            and (not r.effective_to or on <= r.effective_to)
            for r in pack.rules
        )
        assert [lst.id for lst in pack.lists] == [lst.id for lst in whole.lists]
        for lst in pack.lists:
            assert all(
                (not e.effective_from or e.effective_from <= on)
                and (not e.effective_to or on <= e.effective_to)
                for e in lst.effects
            )
        seen[on] = sorted(f"{p.id}={p.value_json}" for p in pack.parameters)
        assert pack.content_hash == whole.content_hash  # the same pack, seen on a date
    # the dates differ: 2020 has no covered nations yet, the current law has them
    assert seen["2020-01-01"] != seen[TODAY]
    assert not any(s.startswith("covered_nations=") for s in seen["2020-01-01"])
    assert any(s.startswith("covered_nations=") for s in seen[TODAY])
    sfe_2024 = [e for lst in get("2024-06-01").lists for e in lst.effects if e.effect == "sfe"]
    sfe_now = [e for lst in get(TODAY).lists for e in lst.effects if e.effect == "sfe"]
    assert len(sfe_2024) < len(sfe_now)


def test_policy_pack_as_of_must_be_a_date(scoring: scoring_pb2_grpc.ScoringServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        scoring.GetPolicyPack(scoring_pb2.GetPolicyPackRequest(as_of="22/11/2026"), timeout=30)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert set(violations(info.value)) == {"as_of"}


# --------------------------------------------------------------------------- SimulateOverlay fields

OVERLAY_DOC = (REPO / "examples" / "overlays" / "catl-lrs-us-carmaker.yaml").read_text()


def simulate(
    scoring: scoring_pb2_grpc.ScoringServiceStub, **overlay: str
) -> scoring_pb2.SimulateOverlayResponse:
    req = scoring_pb2.SimulateOverlayRequest(overlay=scoring_pb2.Overlay(**overlay), as_of=TODAY)
    r: scoring_pb2.SimulateOverlayResponse = scoring.SimulateOverlay(req, timeout=60)
    return r


@pytest.mark.parametrize(
    ("field", "value", "violation"),
    [
        ("arrangement_id", "ford-marshall", "overlay.arrangement_id"),
        ("id", "another-name", "overlay.id"),
        ("description", "another description", "overlay.description"),
    ],
)
def test_simulate_refuses_request_fields_that_contradict_the_document(
    scoring: scoring_pb2_grpc.ScoringServiceStub, field: str, value: str, violation: str
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        simulate(scoring, document=OVERLAY_DOC, **{field: value})
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    found = violations(info.value)
    assert list(found) == [violation]
    assert repr(value) in found[violation]  # names what was asked for, against the document


def test_simulate_request_fields_that_agree_or_fill_in(
    scoring: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    plain = simulate(scoring, document=OVERLAY_DOC).score
    agree = simulate(
        scoring, document=OVERLAY_DOC, arrangement_id="catl-lrs", id="lrs-us-carmaker-2026"
    ).score
    assert agree == plain and plain.overlay == "lrs-us-carmaker-2026"
    # the document without its id and arrangement: the request's fields fill them in
    bare = "\n".join(
        line for line in OVERLAY_DOC.splitlines() if not line.startswith(("id:", "arrangement:"))
    )
    filled = simulate(
        scoring, document=bare, arrangement_id="catl-lrs", id="lrs-us-carmaker-2026"
    ).score
    assert filled == plain
    # only the request's arrangement, and an empty document: the base arrangement, unchanged
    only = simulate(scoring, arrangement_id="casip").score
    assert only.arrangement.id == "casip" and only.overlay  # named by its digest


def test_simulate_names_the_document_path_of_a_bad_value(
    scoring: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        simulate(scoring, document="arrangement: casip\nremove: {links: 3}\nnonsense: 1\n")
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert set(violations(info.value)) == {
        "overlay.document.remove.links",
        "overlay.document.nonsense",
    }
    with pytest.raises(grpc.RpcError) as info:
        simulate(scoring, document="remove: {links: [x]}")  # no arrangement anywhere
    assert set(violations(info.value)) == {"overlay.arrangement_id"}
    with pytest.raises(grpc.RpcError) as info:
        simulate(scoring, document="arrangement: casip\nremove: {links: [ghost]}")
    found = violations(info.value)
    assert (
        list(found) == ["overlay.document.remove.links"]
        and "ghost" in found["overlay.document.remove.links"]
    )


# --------------------------------------------------------------------------- GetOwnership = Score

_ARTICLE = {"an": 1, "possibly an": 3, "not an": 2}  # TestVerdict: TRUE, UNDETERMINED, FALSE
PFE_DATES = ("2026-01-01", TODAY, "2027-06-30")  # the PFE rules are in force from 2026


def stated_pfe(reason: str, entity: str) -> dict[str, int]:
    """The SFE/FIE verdicts a taxpayer_pfe clause states: ``"x is an SFE, possibly an FIE"``."""
    assert reason.startswith(f"{entity} is "), reason
    out: dict[str, int] = {}
    for part in reason[len(entity) + 4 :].split(", "):
        article, _, what = part.rpartition(" ")
        out[what] = _ARTICLE[article]
    return out


def assert_ownership_agrees_with_score(
    channel: grpc.Channel, engine: Engine, aid: str, on: str
) -> int:
    """GetOwnership's SFE/FIE verdicts and tests of the arrangement's taxpayer equal those of
    the taxpayer_pfe clauses of ScoreArrangement (full view); the number of clauses compared."""
    scoring = scoring_pb2_grpc.ScoringServiceStub(channel)
    graph = graph_pb2_grpc.GraphServiceStub(channel)
    arr = engine.dataset.arrangements[aid]
    req = scoring_pb2.ScoreArrangementRequest(
        arrangement_id=aid, as_of=on, view=types_pb2.EXPLANATION_VIEW_FULL
    )
    score = scoring.ScoreArrangement(req, timeout=60).score
    clauses = [
        c
        for v in score.verdicts
        for c in v.clauses
        if c.id == "taxpayer_pfe" and arr.taxpayer and " is " in c.reason
    ]
    if not clauses:
        return 0
    assert arr.taxpayer is not None and arr.taxpayer in arr.party_ids()
    report = graph.GetOwnership(
        graph_pb2.GetOwnershipRequest(entity_id=arr.taxpayer, as_of=on), timeout=60
    ).report
    sfe, fie = report.specified_foreign_entity, report.foreign_influenced_entity
    for c in clauses:
        stated = stated_pfe(c.reason, arr.taxpayer)
        assert stated["SFE"] == sfe.verdict, (aid, on, c.reason)
        tests = [t for t in sfe.tests if t.verdict != 2]
        if "FIE" in stated:
            assert stated["FIE"] == fie.verdict, (aid, on, c.reason)
            tests += [t for t in fie.tests if t.verdict != 2]
        assert [(t.test, t.verdict) for t in c.evidence] == [(t.test, t.verdict) for t in tests]
    return len(clauses)


def test_get_ownership_agrees_with_score_on_sfe_and_fie(
    channel: grpc.Channel, engine: Engine
) -> None:
    compared = sum(
        assert_ownership_agrees_with_score(channel, engine, aid, on)
        for aid in sorted(engine.dataset.arrangements)
        for on in PFE_DATES
    )
    assert compared >= 10  # the taxpayers of the shipped arrangements, on each date


def test_get_ownership_uses_the_packs_parameters_on_that_date(
    tmp_path: Path, channel: grpc.Channel
) -> None:
    """A pack whose PFE parameters differ from the defaults (covered nations without CN):
    GetOwnership follows the pack, as the rules do, and so still agrees with ScoreArrangement."""
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    pack = data / "policies" / "us.yaml"
    text = pack.read_text()
    assert text.count("- value: [CN, RU, IR, KP]") == 1
    pack.write_text(text.replace("- value: [CN, RU, IR, KP]", "- value: [RU, IR, KP]"))
    eng = Engine.from_dir(data)
    t = ServerThread(settings(data_dir=data), eng).start()
    try:
        with grpc.insecure_channel(t.target) as ch:
            assert assert_ownership_agrees_with_score(ch, eng, "gotion-manteno-il", TODAY) > 0
            graph = graph_pb2_grpc.GraphServiceStub(ch)
            mine = graph.GetOwnership(
                graph_pb2.GetOwnershipRequest(entity_id="gotion-inc", as_of=TODAY), timeout=60
            ).report
    finally:
        t.stop()
    shipped = graph_pb2_grpc.GraphServiceStub(channel).GetOwnership(
        graph_pb2.GetOwnershipRequest(entity_id="gotion-inc", as_of=TODAY), timeout=60
    )
    assert shipped.report.specified_foreign_entity.verdict == 1  # TRUE with CN covered
    assert mine.specified_foreign_entity.verdict != 1  # not with the changed pack
