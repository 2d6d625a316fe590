"""The promises of proto/georisk/v1 that the server keeps, each asserted for its meaning.

One in-process server (127.0.0.1:0) on the shared engine; raw stubs, so that what is checked is
what any client sees on the wire (fields, codes, rich status details).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from georisk.scoring.engine import Engine, View
from georisk.server.convert import score_to_proto
from georisk.server.settings import Settings
from georisk.v1 import graph_pb2, graph_pb2_grpc, scoring_pb2, scoring_pb2_grpc, types_pb2
from tests.conftest import DATA, REPO
from tests.server_harness import ServerThread, reflection_info

TODAY = "2026-11-22"
TODAY_D = dt.date.fromisoformat(TODAY)


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


def quota_violations(err: grpc.RpcError) -> list[tuple[str, str]]:
    """The QuotaFailure violations of a RESOURCE_EXHAUSTED, (subject, description)."""
    out: list[tuple[str, str]] = []
    for d in rich_status(err).details:
        qf = error_details_pb2.QuotaFailure()
        if d.Unpack(qf):
            out += [(v.subject, v.description) for v in qf.violations]
    return out


# --------------------------------------------------------------------------- GetTimeline


def test_get_timeline_gives_the_change_dates_of_the_domain_call(
    scoring: scoring_pb2_grpc.ScoringServiceStub, engine: Engine
) -> None:
    from georisk.scoring.timeline import timeline

    req = scoring_pb2.GetTimelineRequest(
        arrangement_id="gotion-manteno-il", from_date="2024-01-01", to_date="2028-12-31"
    )
    r = scoring.GetTimeline(req, timeout=30)
    t = r.timeline
    want = timeline(engine, "gotion-manteno-il", dt.date(2024, 1, 1), dt.date(2028, 12, 31))
    assert r.dataset_version == engine.dataset.version == t.dataset_version
    assert (t.arrangement_id, t.scenario, t.from_date, t.to_date, t.covered_to) == (
        "gotion-manteno-il",
        "current-law",
        "2024-01-01",
        "2028-12-31",
        "2028-12-31",
    )
    assert [c.date for c in t.changes] == [c.date.isoformat() for c in want.changes]
    assert "2027-10-01" in [c.date for c in t.changes]
    ban = next(c for c in t.changes if c.date == "2027-10-01")
    assert ("list_effect", "ndaa-fy2024-154") in {(e.kind, e.ref) for e in ban.events}
    assert any(
        (d.what, d.subject, d.after) == ("verdict", "us-lists", "not_eligible") for d in ban.changed
    )
    # intervals tile the window, with proto enums for verdicts and bands
    assert t.intervals[0].from_date == "2024-01-01" and t.intervals[-1].to_date == "2028-12-31"
    last = t.intervals[-1]
    assert last.verdicts["us-lists"] == types_pb2.VERDICT_NOT_ELIGIBLE
    assert last.bands["equity"] == types_pb2.SCORE_BAND_HIGH
    assert last.credits["us-45x"].unit == "USD/year"
    assert t.evaluated <= t.candidates + 1 and not t.truncated


def test_get_timeline_defaults_to_five_years_from_today(
    scoring: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    from georisk.scoring import clock

    t = scoring.GetTimeline(
        scoring_pb2.GetTimelineRequest(arrangement_id="ford-marshall"), timeout=30
    ).timeline
    today = clock.today()
    assert t.from_date == today.isoformat()
    assert dt.date.fromisoformat(t.to_date) > today.replace(year=today.year + 4)


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"from_date": "2026-13-01"}, "from_date"),
        ({"to_date": "tomorrow"}, "to_date"),
        ({"from_date": "2027-01-01", "to_date": "2026-01-01"}, "to_date"),
        ({"arrangement_id": ""}, "arrangement_id"),
        ({"scenario": "nope"}, "scenario"),
    ],
)
def test_get_timeline_bad_fields_are_invalid_argument_naming_the_field(
    scoring: scoring_pb2_grpc.ScoringServiceStub, fields: dict[str, str], bad: str
) -> None:
    req = scoring_pb2.GetTimelineRequest(**{"arrangement_id": "gotion-manteno-il", **fields})
    with pytest.raises(grpc.RpcError) as e:
        scoring.GetTimeline(req, timeout=30)
    assert e.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert bad in violations(e.value)


def test_get_timeline_unknown_arrangement_is_not_found_with_resource_info(
    scoring: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    req = scoring_pb2.GetTimelineRequest(arrangement_id="no-such-deal", from_date="2026-01-01")
    with pytest.raises(grpc.RpcError) as e:
        scoring.GetTimeline(req, timeout=30)
    assert e.value.code() is grpc.StatusCode.NOT_FOUND
    infos = []
    for d in rich_status(e.value).details:
        ri = error_details_pb2.ResourceInfo()
        if d.Unpack(ri):
            infos.append((ri.resource_type, ri.resource_name))
    assert infos == [("arrangement", "no-such-deal")]


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
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
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
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
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
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
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

_SFE = {"an SFE": 1, "possibly an SFE": 3, "not an SFE": 2}  # TestVerdict: TRUE, UNDET., FALSE
_FIE = {"and an": 1, "and possibly an": 3, "but not an": 2, "but is an": 1, "but possibly an": 3}
PFE_DATES = ("2026-01-01", TODAY, "2027-06-30")  # the PFE rules are in force from 2026


def stated_pfe(reason: str, entity: str) -> dict[str, int]:
    """The SFE/FIE verdicts a taxpayer_pfe clause states: ``"Name [x] is an SFE (why) and
    possibly an FIE: …"``, ``"Name [x] is neither an SFE nor an FIE"``."""
    head = f"[{entity}] is "
    assert head in reason, reason
    rest = reason[reason.index(head) + len(head) :]
    if rest.startswith("neither an SFE nor an FIE"):
        return {"SFE": 2, "FIE": 2}
    out = {
        "SFE": next(
            v for k, v in sorted(_SFE.items(), key=lambda kv: -len(kv[0])) if rest.startswith(k)
        )
    }
    fie = re.search(r"\b(and an|and possibly an|but not an|but is an|but possibly an) FIE\b", rest)
    if fie:
        out["FIE"] = _FIE[fie.group(1)]
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


# --------------------------------------------------------------------------- batch of 1,000 ids

MAX_BATCH = 1000  # the documented maximum of BatchScoreArrangementsRequest.arrangement_ids


def batch(
    stub: scoring_pb2_grpc.ScoringServiceStub,
    ids: list[str],
    view: types_pb2.ExplanationView.ValueType,
) -> scoring_pb2.BatchScoreArrangementsResponse:
    req = scoring_pb2.BatchScoreArrangementsRequest(arrangement_ids=ids, as_of=TODAY, view=view)
    r: scoring_pb2.BatchScoreArrangementsResponse = stub.BatchScoreArrangements(req, timeout=300)
    return r


@pytest.mark.parametrize("view", ["basic", "full"])
def test_batch_of_the_documented_maximum_in_both_views(
    srv: ServerThread, engine: Engine, view: str
) -> None:
    """1,000 ids, the largest score of the shipped data repeated (the worst case) and every
    arrangement in turn, through the CLI's client with its default limits."""
    from georisk.client import GeoriskClient

    largest = max(
        sorted(engine.dataset.arrangements),
        key=lambda a: score_to_proto(engine.score(a, TODAY_D, view=View(view))).ByteSize(),
    )
    every = sorted(engine.dataset.arrangements)
    with GeoriskClient(srv.target, timeout=300) as client:
        for ids in ([largest] * MAX_BATCH, [every[i % len(every)] for i in range(MAX_BATCH)]):
            scores = client.batch_score(ids, as_of=TODAY, view=view)
            assert [s.arrangement.id for s in scores] == ids
            assert all(bool(s.sources) is (view == "full") for s in scores)


def test_batch_larger_than_the_response_limit_is_refused_with_quota_failure(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The response is sized as it is assembled: one byte over the server's limit is
    RESOURCE_EXHAUSTED with a QuotaFailure pointing to the stream (not gRPC's bare 'Sent message
    larger than max'), logged with that code; at the limit exactly, the call succeeds."""
    ids = ["gotion-big-rapids-mi", "ford-marshall", "casip"] * 4
    full = types_pb2.EXPLANATION_VIEW_FULL
    t = ServerThread(settings(), engine).start()
    try:
        with grpc.insecure_channel(t.target) as ch:
            size = batch(scoring_pb2_grpc.ScoringServiceStub(ch), ids, full).ByteSize()
    finally:
        t.stop()
    assert size > 64 * 1024
    caplog.set_level(logging.INFO, logger="georisk.server")
    for limit, ok in ((size, True), (size - 1, False)):
        t = ServerThread(settings(max_response_bytes=limit), engine).start()
        try:
            with grpc.insecure_channel(t.target) as ch:
                stub = scoring_pb2_grpc.ScoringServiceStub(ch)
                if ok:
                    assert batch(stub, ids, full).ByteSize() == limit
                    continue
                with pytest.raises(grpc.RpcError) as info:
                    batch(stub, ids, full)
        finally:
            t.stop()
        err = info.value
        assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        quota = quota_violations(err)
        assert [subject for subject, _ in quota] == ["arrangement_ids"]
        assert "StreamScoreArrangements" in quota[0][1]
        assert f"of {len(ids)} ids" in quota[0][1]
    codes = [
        rpc["code"]
        for rpc in rpc_lines(caplog)
        if rpc["method"].endswith("/BatchScoreArrangements")
    ]
    assert codes[-2:] == ["OK", "RESOURCE_EXHAUSTED"]


def test_any_response_over_the_limit_is_resource_exhausted(engine: Engine) -> None:
    t = ServerThread(settings(max_response_bytes=1024), engine).start()
    try:
        with grpc.insecure_channel(t.target) as ch:
            stub = scoring_pb2_grpc.ScoringServiceStub(ch)
            with pytest.raises(grpc.RpcError) as info:
                stub.GetPolicyPack(scoring_pb2.GetPolicyPackRequest(), timeout=30)
            small = stub.ListScenarios(scoring_pb2.ListScenariosRequest(page_size=1), timeout=30)
    finally:
        t.stop()
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert [subject for subject, _ in quota_violations(info.value)] == ["response"]
    assert small.ByteSize() <= 1024 and len(small.scenarios) == 1


# --------------------------------------------------------------------------- one log line per call


def rpc_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    return [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "georisk.server" and r.getMessage().startswith('{"event": "rpc"')
    ]


def lines_of(caplog: pytest.LogCaptureFixture, rids: set[str]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {rid: [] for rid in rids}
    for line in rpc_lines(caplog):
        if line["request_id"] in out:
            out[line["request_id"]].append(line)
    return out


def wait_for_lines(
    caplog: pytest.LogCaptureFixture, rids: set[str], settle: float = 0.3
) -> dict[str, list[dict[str, str]]]:
    """The log lines of these request ids, once each has one (bounded wait: the server logs a
    call when its task has ended, after the client has its answer), plus ``settle`` seconds for
    any duplicate to show."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if rids <= {line["request_id"] for line in rpc_lines(caplog)}:
            break
        time.sleep(0.02)
    time.sleep(settle)
    return lines_of(caplog, rids)


class _GatedEngine(Engine):
    """An Engine whose scoring waits at a gate: calls are still working when their deadline
    passes or their client cancels them."""

    entered: threading.Event  # set when a score call starts
    gate: threading.Event  # score calls wait for it
    delay: float  # seconds each score call takes at least (after the gate)
    busy: int  # score calls running
    lock: threading.Lock

    def score(self, *args: Any, **kw: Any) -> Any:
        with self.lock:
            self.busy += 1
        try:
            self.entered.set()
            self.gate.wait(60)
            if self.delay:
                time.sleep(self.delay)
            return super().score(*args, **kw)
        finally:
            with self.lock:
                self.busy -= 1

    def settle(self, timeout: float = 30) -> None:
        """Wait until no score call is running (work of calls whose clients have gone)."""
        deadline = time.monotonic() + timeout
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not self.busy, f"{self.busy} score calls still running after {timeout} s"


def gated(engine: Engine) -> _GatedEngine:
    eng = _GatedEngine(**{f: getattr(engine, f) for f in engine.__dataclass_fields__})
    eng.entered, eng.gate = threading.Event(), threading.Event()
    eng.delay, eng.busy, eng.lock = 0.0, 0, threading.Lock()
    eng.gate.set()
    return eng


def ended_with(call: Any) -> grpc.StatusCode:
    """The code a call ended with, as its client saw it (a stream is read to its end)."""
    try:
        r = call() if callable(call) else call
        if isinstance(r, Iterator):
            list(r)
    except grpc.RpcError as err:
        code: grpc.StatusCode = err.code()
        return code
    return grpc.StatusCode.OK


def test_one_log_line_per_call_with_its_final_code(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Calls whose deadline passes while the server works on them and calls cancelled by their
    client give exactly one log line each, with the code the call ended with; so do calls with
    a 1 ms deadline, except that such a call may expire before the server's gRPC core hands it
    to the application (it never reaches Python: no line, and never two). The 1 ms calls are
    made reliably slow (each score takes 50 ms), so that they all end DEADLINE_EXCEEDED, for
    the client and in the server's line alike (a fast score could otherwise be answered OK
    while the client already saw its deadline pass)."""
    caplog.set_level(logging.INFO, logger="georisk.server")
    eng = gated(engine)
    t = ServerThread(settings(cache_size=0), eng).start()
    seen: dict[str, grpc.StatusCode] = {}  # request id → the code the client saw
    reached: set[str] = set()  # the calls known to have reached the handler
    full = types_pb2.EXPLANATION_VIEW_FULL
    try:
        with grpc.insecure_channel(t.target) as ch:
            stub = scoring_pb2_grpc.ScoringServiceStub(ch)
            unary, stream = stub.ScoreArrangement, stub.StreamScoreArrangements

            def start(kind: str, rid: str, on: str, timeout: float, future: bool = False) -> Any:
                md = (("x-request-id", rid),)
                if kind == "unary":
                    req = scoring_pb2.ScoreArrangementRequest(
                        arrangement_id="casip", as_of=on, view=full
                    )
                    return (unary.future if future else unary)(req, timeout=timeout, metadata=md)
                sreq = scoring_pb2.StreamScoreArrangementsRequest(as_of=on, view=full)
                return stream(sreq, timeout=timeout, metadata=md)

            stub.ListScenarios(scoring_pb2.ListScenariosRequest(), timeout=30)  # connected
            eng.delay = 0.05  # 50x the deadline: a 1 ms call cannot be answered in time
            for i in range(7):  # 1 ms deadlines
                for kind in ("unary", "stream"):
                    rid = f"1ms-{kind}-{i}"
                    seen[rid] = ended_with(lambda: start(kind, rid, f"20{10 + i}-01-01", 0.001))  # noqa: B023
            eng.settle()  # their work is done before the next calls look at ``entered``
            eng.delay = 0.0
            for kind in ("unary", "stream"):
                # the deadline passes while the server works on the call
                eng.gate.clear()
                eng.entered.clear()
                rid = f"deadline-{kind}"
                call = start(kind, rid, "2009-01-01", 1.0, future=True)
                assert eng.entered.wait(30)
                seen[rid] = ended_with(call.result if kind == "unary" else call)
                reached.add(rid)
                # the server saw the end before the work did (duplicates are looked for once,
                # at the end, after the server has stopped and every call's task has ended)
                wait_for_lines(caplog, {rid}, settle=0.0)
                eng.gate.set()
                # the client cancels the call while the server works on it
                eng.gate.clear()
                eng.entered.clear()
                rid = f"cancel-{kind}"
                call = start(kind, rid, "2008-01-01", 60, future=True)
                assert eng.entered.wait(30)
                assert call.cancel()
                seen[rid] = grpc.StatusCode.CANCELLED
                reached.add(rid)
                wait_for_lines(caplog, {rid}, settle=0.0)
                eng.gate.set()
    finally:
        eng.gate.set()
        t.stop()
    for rid, code in seen.items():
        expected = (
            grpc.StatusCode.CANCELLED if "cancel" in rid else grpc.StatusCode.DEADLINE_EXCEEDED
        )
        assert code is expected, (rid, code)
    wait_for_lines(caplog, reached)
    lines = lines_of(caplog, set(seen))
    for rid, code in seen.items():
        codes = [line["code"] for line in lines[rid]]
        assert codes == [code.name] or (rid not in reached and codes == []), (rid, codes)
    assert sum(bool(found) for found in lines.values()) > len(reached)  # some 1 ms calls too
    for found in lines.values():
        for line in found:
            assert line["method"].startswith("/georisk.v1.ScoringService/")
            assert line["peer"] == "" or line["peer"].startswith("ipv4:127.0.0.1:")


# --------------------------------------------------------------------------- reflection v1, v1alpha

BUF = shutil.which("buf", path=str(Path(sys.executable).parent)) or shutil.which("buf")


@pytest.mark.skipif(BUF is None, reason="buf (buf-bin) not installed")
@pytest.mark.parametrize("protocol", ["grpc-v1", "grpc-v1alpha"])
def test_reflection_protocols_with_buf_curl(srv: ServerThread, protocol: str) -> None:
    assert BUF is not None
    url = f"http://{srv.target}"

    def curl(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge"]
        cmd += ["--reflect-protocol", protocol, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)

    services = curl("--list-services", url)
    assert services.returncode == 0, services.stderr
    assert set(services.stdout.split()) == {
        "georisk.v1.ScoringService",
        "georisk.v1.GraphService",
        "georisk.v1.RecordService",
        "georisk.v1.RenderService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    methods = curl("--list-methods", url)  # every service described, reflection's own too
    assert methods.returncode == 0, methods.stderr
    assert {
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "georisk.v1.GraphService/GetOwnership",
    } <= set(methods.stdout.split())
    body = json.dumps({"arrangementId": "gotion-manteno-il", "asOf": TODAY})
    score = curl("-d", body, f"{url}/georisk.v1.ScoringService/ScoreArrangement")
    assert score.returncode == 0, score.stderr
    assert json.loads(score.stdout)["score"]["arrangement"]["id"] == "gotion-manteno-il"


def test_reflection_needs_a_token_and_is_logged(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Both reflection services sit behind the bearer token like every non-health method, and
    each reflection call has its log line."""
    from grpc_reflection.v1alpha import reflection_pb2

    caplog.set_level(logging.INFO, logger="georisk.server")
    t = ServerThread(settings(auth_tokens=("tok",)), engine).start()
    try:
        with grpc.insecure_channel(t.target) as ch:
            for version in ("v1", "v1alpha"):
                info = reflection_info(ch, version)
                req = reflection_pb2.ServerReflectionRequest(list_services="")
                anon = (("x-request-id", f"anon-{version}"),)
                with pytest.raises(grpc.RpcError) as denied:
                    list(info(iter([req]), timeout=30, metadata=anon))
                assert denied.value.code() is grpc.StatusCode.UNAUTHENTICATED
                md = (("x-request-id", f"tok-{version}"), ("authorization", "Bearer tok"))
                (answer,) = list(info(iter([req]), timeout=30, metadata=md))
                names = {s.name for s in answer.list_services_response.service}
                assert f"grpc.reflection.{version}.ServerReflection" in names
    finally:
        t.stop()
    lines = wait_for_lines(caplog, {"anon-v1", "anon-v1alpha", "tok-v1", "tok-v1alpha"})
    assert {rid: [line["code"] for line in found] for rid, found in lines.items()} == {
        "anon-v1": ["UNAUTHENTICATED"],
        "anon-v1alpha": ["UNAUTHENTICATED"],
        "tok-v1": ["OK"],
        "tok-v1alpha": ["OK"],
    }


def test_reflection_v1_is_v1alpha_renamed() -> None:
    """The v1 descriptor served is v1alpha's with only the package renamed (the messages are
    wire-identical, so one servicer serves both)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, text_format
    from grpc_reflection.v1alpha import reflection_pb2

    from georisk.server.reflection import V1_FILE

    v1, alpha = descriptor_pb2.FileDescriptorProto(), descriptor_pb2.FileDescriptorProto()
    descriptor_pool.Default().FindFileByName(V1_FILE).CopyToProto(v1)
    reflection_pb2.DESCRIPTOR.CopyToProto(alpha)
    assert v1.package == "grpc.reflection.v1" and alpha.package == "grpc.reflection.v1alpha"
    for f in (v1, alpha):
        f.ClearField("name")
        f.ClearField("options")  # v1alpha's options name its own (Java, C#) packages
    renamed = text_format.Parse(
        text_format.MessageToString(v1).replace("grpc.reflection.v1.", "grpc.reflection.v1alpha."),
        descriptor_pb2.FileDescriptorProto(),
    )
    renamed.package = "grpc.reflection.v1alpha"
    assert renamed == alpha


# --------------------------------------------------------------------------- issue 13's fields
# The fields issue 13 added to the domain results travel over gRPC as they are in the JSON form:
# FIE holders (certain and possible apart), the ownership verdict sentence and why each SFE is
# one, the §45X estimate's basis and reported figure, an arrangement's reported credit, each
# scenario's basis and event, a score's unconfirmed facts and warnings.

_TRI = {"true": types_pb2.TEST_VERDICT_TRUE, "false": types_pb2.TEST_VERDICT_FALSE}
_TRI["undetermined"] = types_pb2.TEST_VERDICT_UNDETERMINED


def _share(s: Any) -> tuple[float, float, bool, bool]:
    return (s.min, s.max, s.exclusive_min, s.exclusive_max)


def test_get_ownership_carries_the_fie_holders_sentence_and_sfe_basis(
    channel: grpc.Channel, engine: Engine
) -> None:
    """GetOwnership's FIE holders (each SFE's own share, SFE for certain or possibly, meets the
    one-SFE threshold for certain or possibly), the verdict sentence, why each SFE is one and the
    names equal Engine.ownership's, for every taxpayer on each date."""
    graph = graph_pb2_grpc.GraphServiceStub(channel)
    taxpayers = sorted({a.taxpayer for a in engine.dataset.arrangements.values() if a.taxpayer})
    holders_seen: set[tuple[str, int]] = set()
    for eid in taxpayers:
        for on in PFE_DATES:
            want = engine.ownership(eid, dt.date.fromisoformat(on))
            got = graph.GetOwnership(
                graph_pb2.GetOwnershipRequest(entity_id=eid, as_of=on), timeout=60
            ).report
            fie = got.foreign_influenced_entity
            assert [(h.holder, h.name, h.sfe, _share(h.share), h.meets) for h in fie.holders] == [
                (h.holder, h.name, _TRI[h.sfe.value], _share(h.share), _TRI[h.meets.value])
                for h in want.foreign_influenced_entity.holders
            ], (eid, on)
            assert got.summary == want.summary and got.summary.startswith(
                f"{want.entity.name} [{eid}] is "
            )
            assert dict(got.sfe_basis) == want.sfe_basis
            assert dict(got.names) == want.names and got.names[eid] == want.entity.name
            holders_seen |= {(h.holder, h.meets) for h in fie.holders}
    # Gotion High-Tech holds 100% of Gotion Inc. (meets for certain); Li Zhen, an SFE for
    # certain, holds 18.17% alone (does not meet 25%)
    assert {("gotion-high-tech", 1), ("li-zhen", 2)} <= holders_seen


def test_ownership_json_carries_the_fie_holders_sentence_and_sfe_basis(engine: Engine) -> None:
    """The JSON form of the ownership report (``georisk ownership --format json``) carries what
    GetOwnership does."""
    d = engine.ownership("gotion-inc", TODAY_D).model_dump(mode="json", by_alias=True)
    holders = {h["holder"]: h for h in d["foreign_influenced_entity"]["holders"]}
    assert holders["li-zhen"]["sfe"] == "true" and holders["li-zhen"]["meets"] == "false"
    assert holders["gotion-high-tech"]["share"]["min"] == 1.0
    assert d["summary"].startswith("Gotion Inc. [gotion-inc] is an SFE (controlled by ")
    assert "gotion-high-tech" in d["sfe_basis"] and d["names"]["li-zhen"]


def test_score_of_ford_marshall_carries_the_reported_credit_with_its_sources(
    scoring: scoring_pb2_grpc.ScoringServiceStub, engine: Engine
) -> None:
    """The §45X estimate of Ford Marshall carries how it was made and, beside it, the reported
    ~$900M a year with its source, in the verdicts and in every scenario's rules."""
    want = engine.score("ford-marshall", TODAY_D).verdict("us-45x").credit
    assert want is not None and want.reported is not None and want.basis
    req = scoring_pb2.ScoreArrangementRequest(
        arrangement_id="ford-marshall", as_of=TODAY, view=types_pb2.EXPLANATION_VIEW_FULL
    )
    score = scoring.ScoreArrangement(req, timeout=60).score
    v45 = next(v for v in score.verdicts if v.rule == "us-45x")
    assert v45.HasField("credit") and v45.credit.HasField("reported")
    got = v45.credit.reported
    assert (got.usd_per_year, got.credit, list(got.sources), got.unconfirmed, got.note) == (
        9e8,
        "45X",
        ["p11"],
        True,
        want.reported.note,
    )
    assert v45.credit.basis == want.basis and "GWh" in v45.credit.basis
    assert (v45.credit.min, v45.credit.max) == (want.min, want.max)
    in_scenarios = [
        r.credit.reported.usd_per_year
        for sc in score.scenarios
        for r in sc.rules
        if r.rule == "us-45x" and r.HasField("credit")
    ]
    assert in_scenarios and set(in_scenarios) == {9e8}
    # the JSON form carries the same
    d = engine.score("ford-marshall", TODAY_D).model_dump(mode="json", by_alias=True)
    credit = next(v for v in d["verdicts"] if v["rule"] == "us-45x")["credit"]
    assert credit["basis"] == want.basis and credit["reported"]["sources"] == ["p11"]


def test_every_streamed_score_converts_with_its_credit_basis(
    scoring: scoring_pb2_grpc.ScoringServiceStub, engine: Engine
) -> None:
    """Every shipped arrangement streams as a score (none fails converting the new fields), and
    each estimated credit says how it was estimated."""
    req = scoring_pb2.StreamScoreArrangementsRequest(as_of=TODAY)
    items = list(scoring.StreamScoreArrangements(req, timeout=120))
    assert len(items) == len(engine.dataset.arrangements)
    assert all(i.WhichOneof("result") == "score" for i in items), [
        i.error.message for i in items if i.HasField("error")
    ]
    credits = [v.credit for i in items for v in i.score.verdicts if v.HasField("credit")]
    assert credits and all(c.basis for c in credits)


def test_get_arrangement_carries_the_reported_credit(channel: grpc.Channel, engine: Engine) -> None:
    """GetArrangement and ListArrangements carry an arrangement's reported credit with its
    sources; the arrangement's JSON form does too."""
    graph = graph_pb2_grpc.GraphServiceStub(channel)
    want = engine.dataset.arrangements["ford-marshall"].reported_credit
    assert want is not None
    got = graph.GetArrangement(
        graph_pb2.GetArrangementRequest(arrangement_id="ford-marshall"), timeout=30
    ).arrangement
    assert got.HasField("reported_credit")
    r = got.reported_credit
    assert (r.usd_per_year, r.credit, list(r.sources), r.unconfirmed, r.note) == (
        want.usd_per_year,
        want.credit,
        want.sources,
        want.unconfirmed,
        want.note,
    )
    listed = graph.ListArrangements(
        graph_pb2.ListArrangementsRequest(page_size=1000), timeout=30
    ).arrangements
    assert len(listed) == len(engine.dataset.arrangements)
    assert {a.id for a in listed if a.HasField("reported_credit")} == {
        a.id for a in engine.dataset.arrangements.values() if a.reported_credit is not None
    }
    d = engine.dataset.arrangements["ford-marshall"].model_dump(mode="json")
    assert d["reported_credit"]["usd_per_year"] == 9e8


def test_list_scenarios_carries_each_scenarios_basis_and_event(
    scoring: scoring_pb2_grpc.ScoringServiceStub, engine: Engine
) -> None:
    """Each scenario says what it rests on (enacted law, a bill, a proposal, a stated
    hypothetical: reference and sources) and which event it is an alternative of."""
    got = scoring.ListScenarios(scoring_pb2.ListScenariosRequest(page_size=1000), timeout=30)
    want = engine.scenarios.scenarios
    assert [
        (s.id, s.event, s.basis.kind, s.basis.reference, list(s.basis.sources))
        for s in got.scenarios
    ] == [(s.id, s.event, s.basis.kind.value, s.basis.reference, s.basis.sources) for s in want]
    kinds = {s.id: s.basis.kind for s in got.scenarios}
    assert kinds["current-law"] == "enacted" and kinds["house-2025-licensing"] == "bill"
    events = {s.id: s.event for s in got.scenarios}
    assert events["house-2025-licensing"] == events["no-licensing-test"]  # exclusive
    d = engine.scenarios.get("house-2025-licensing").model_dump(mode="json")
    assert d["basis"]["kind"] == "bill" and d["event"] == "licensing-test"


def test_unconfirmed_facts_parse_strictly_into_the_proto_message(engine: Engine) -> None:
    """Every unconfirmed fact of the shipped scores has the shape of georisk.v1.UnconfirmedFact:
    once the score's JSON form carries them, the strict conversion takes them as they are."""
    from google.protobuf import json_format

    facts = [
        u
        for aid in sorted(engine.dataset.arrangements)
        for u in engine.score(aid, TODAY_D, view=View.BASIC).unconfirmed
    ]
    assert facts
    for u in facts:
        msg = json_format.ParseDict(
            u.model_dump(mode="json"), types_pb2.UnconfirmedFact(), ignore_unknown_fields=False
        )
        assert (msg.id, msg.kind, msg.text, msg.why, list(msg.rests_on_it)) == (
            u.id,
            u.kind,
            u.text,
            u.why,
            u.rests_on_it,
        )


def test_score_carries_its_unconfirmed_facts_and_warnings(
    scoring: scoring_pb2_grpc.ScoringServiceStub, engine: Engine
) -> None:
    """ScoreArrangement carries the unconfirmed facts the score rests on (with why, and the rules
    resting on each) and the warnings about the result as a whole, as Engine.score does."""
    for on in (TODAY, "2028-01-01"):  # 2028: past the pack's review date, a warning
        want = engine.score("gotion-manteno-il", dt.date.fromisoformat(on))
        got = scoring.ScoreArrangement(
            scoring_pb2.ScoreArrangementRequest(arrangement_id="gotion-manteno-il", as_of=on),
            timeout=60,
        ).score
        assert [(u.id, u.kind, u.text, u.why, list(u.rests_on_it)) for u in got.unconfirmed] == [
            (u.id, u.kind, u.text, u.why, u.rests_on_it) for u in want.unconfirmed
        ]
        assert list(got.warnings) == want.warnings
    assert got.unconfirmed and got.warnings


def test_get_timeline_credits_carry_the_basis_and_reported_figure(
    scoring: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    """A timeline's credit estimates say how they were made and carry the reported figure, as
    the score's do: Ford Marshall's §45X beside the reported $900M a year [p11]."""
    t = scoring.GetTimeline(
        scoring_pb2.GetTimelineRequest(
            arrangement_id="ford-marshall", from_date=TODAY, to_date="2027-12-31"
        ),
        timeout=60,
    ).timeline
    credits = [i.credits["us-45x"] for i in t.intervals if "us-45x" in i.credits]
    assert credits and all(c.basis and c.reported.usd_per_year == 9e8 for c in credits)
    assert {tuple(c.reported.sources) for c in credits} == {("p11",)}


def test_an_entitys_identifiers_reach_the_wire() -> None:
    """An imported entity's identifiers (scheme, id, sources) are on its gRPC Entity, as in the
    JSON form (they were left out of both while the proto had no field)."""
    from georisk.scoring.model import Entity, Identifier
    from georisk.server.convert import entity_to_proto

    e = Entity(
        id="lei:5493001kjtiigc8y1r12",
        name="Example Holding AG",
        kind="company",
        country="DE",
        identifiers=[Identifier(scheme="XI-LEI", id="5493001KJTIIGC8Y1R12", sources=["s1"])],
    )
    assert e.model_dump(mode="json")["identifiers"] == [
        {"scheme": "XI-LEI", "id": "5493001KJTIIGC8Y1R12", "sources": ["s1"]}
    ]
    msg = entity_to_proto(e, dt.date(2026, 11, 22))
    assert [(i.scheme, i.id, list(i.sources)) for i in msg.identifiers] == [
        ("XI-LEI", "5493001KJTIIGC8Y1R12", ["s1"])
    ]
