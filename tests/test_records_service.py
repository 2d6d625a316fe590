"""RecordService over the real network path: writes through gRPC into a store-backed server
(SQLite, and two replicas on a real PostgreSQL), field-level errors, etags, roles, the change log,
and scores that follow a write."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from google.rpc import error_details_pb2, status_pb2

from georisk.server.settings import Settings
from georisk.v1 import graph_pb2, graph_pb2_grpc, records_pb2, records_pb2_grpc
from tests.pg_harness import PgServer, create_database
from tests.server_harness import ServerThread

READER, WRITER = "reader-token", "writer-token"
TOKENS = f"{READER},{WRITER} analyst@example.org writer"
ON = "2026-11-22"


def _settings(store_url: str, **kw: Any) -> Settings:
    env = {"GEORISK_AUTH_TOKENS": TOKENS, "GEORISK_STORE_POLL_SECONDS": "0.1"}
    return Settings.from_env(env, address="127.0.0.1:0", store_url=store_url, **kw)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    srv = ServerThread(_settings(f"sqlite:///{tmp_path / 'georisk.db'}")).start()
    yield srv
    srv.stop()


def _stubs(srv: ServerThread) -> tuple[Any, Any, grpc.Channel]:
    ch = grpc.insecure_channel(srv.target)
    return records_pb2_grpc.RecordServiceStub(ch), graph_pb2_grpc.GraphServiceStub(ch), ch


def _md(token: str) -> tuple[tuple[str, str | bytes], ...]:
    return (("authorization", f"Bearer {token}"),)


def _struct(doc: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(doc)
    return s


def _violations(err: grpc.RpcError) -> list[tuple[str, str]]:
    """The BadRequest field violations of a failed call's rich status."""
    assert isinstance(err, grpc.Call)
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert isinstance(raw, bytes), "no rich status details"
    out: list[tuple[str, str]] = []
    for d in status_pb2.Status.FromString(raw).details:
        br = error_details_pb2.BadRequest()
        if d.Unpack(br):
            out += [(v.field, v.description) for v in br.field_violations]
    return out


def _gotion_holders(graph: Any, token: str) -> dict[str, tuple[float, float]]:
    rep = graph.GetOwnership(
        graph_pb2.GetOwnershipRequest(entity_id="gotion-high-tech", as_of=ON), metadata=_md(token)
    ).report
    return {h.holder: (h.share.min, h.share.max) for h in rep.direct_holders if h.kind == "equity"}


def _update_share(records: Any, etag: str, share: Any, token: str = WRITER, **kw: Any) -> Any:
    return records.UpdateRecord(
        records_pb2.UpdateRecordRequest(
            record=records_pb2.Record(
                name="links/vw-owns-gotion", document=_struct({"share": share}), etag=etag
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["share"]),
            reason=kw.pop("reason", "A21: about 30% after the October 2025 placement"),
            **kw,
        ),
        metadata=_md(token),
    )


def test_a_write_is_recorded_and_scores_follow_it(server: ServerThread) -> None:
    records, graph, ch = _stubs(server)
    with ch:
        before = _gotion_holders(graph, READER)
        assert before["volkswagen"] == pytest.approx((0.2647, 0.30))
        got = records.GetRecord(
            records_pb2.GetRecordRequest(name="links/vw-owns-gotion"), metadata=_md(READER)
        )
        first = _update_share(records, got.record.etag, 0.3)
        assert first.record.document["share"] == 0.3
        assert first.store_version > got.store_version
        # read-your-writes: the answer came after the server served the new version
        assert _gotion_holders(graph, READER)["volkswagen"] == pytest.approx((0.3, 0.3))
        assert first.dataset_version.endswith(f"@{first.store_version}")
        # the change log says who, why, before and after
        log = records.ListChanges(
            records_pb2.ListChangesRequest(name="links/vw-owns-gotion"), metadata=_md(READER)
        )
        seed, change = log.changes  # the record's creation by the seed, then the update
        assert (seed.operation, seed.actor) == ("create", "georisk serve")
        assert (change.actor, change.operation, change.store_version) == (
            "analyst@example.org",
            "update",
            first.store_version,
        )
        assert change.reason.startswith("A21")
        assert dict(change.before["share"]) == {"minimum": 0.2647, "maximum": 0.3}
        assert change.after["share"] == 0.3
        # the same etag again is stale: ABORTED, and nothing changes
        with pytest.raises(grpc.RpcError) as exc:
            _update_share(records, got.record.etag, 0.31)
        assert exc.value.code() is grpc.StatusCode.ABORTED
        assert _gotion_holders(graph, READER)["volkswagen"] == pytest.approx((0.3, 0.3))


def test_bad_writes_name_the_field_and_change_nothing(server: ServerThread) -> None:
    records, graph, ch = _stubs(server)
    with ch:
        etag = records.GetRecord(
            records_pb2.GetRecordRequest(name="links/vw-owns-gotion"), metadata=_md(READER)
        ).record.etag
        cases: list[tuple[float, dict[str, str], str]] = [
            (1.5, {}, "record.document.share"),
            (0.3, {"reason": ""}, "reason"),
        ]
        for share, kw, field in cases:
            with pytest.raises(grpc.RpcError) as exc:
                _update_share(records, etag, share, **kw)
            assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT, field
            assert field in [f for f, _ in _violations(exc.value)], _violations(exc.value)
        # a reader may read but not write
        with pytest.raises(grpc.RpcError) as exc:
            _update_share(records, etag, 0.3, token=READER)
        assert exc.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "role reader" in (exc.value.details() or "")
        log = records.ListChanges(records_pb2.ListChangesRequest(), metadata=_md(READER))
        assert all(c.operation == "create" for c in log.changes)  # only the seed
        assert _gotion_holders(graph, READER)["volkswagen"] == pytest.approx((0.2647, 0.30))


def test_create_and_end_a_link_with_an_idempotent_retry(server: ServerThread) -> None:
    records, graph, ch = _stubs(server)
    with ch:
        link = {
            "id": "test-fund-owns-gotion",
            "kind": "equity",
            "source": "volkswagen",
            "target": "gotion-high-tech",
            "share": 0.01,
            "valid_from": "2026-01-01",
            "sources": ["a21"],
        }
        req = records_pb2.CreateRecordRequest(
            parent="links",
            record=records_pb2.Record(document=_struct(link)),
            reason="test: a second small stake",
            request_id="req-1",
        )
        a = records.CreateRecord(req, metadata=_md(WRITER))
        b = records.CreateRecord(req, metadata=_md(WRITER))  # a retry: the same answer
        assert (a.record.name, a.store_version) == ("links/test-fund-owns-gotion", b.store_version)
        again = records_pb2.CreateRecordRequest()
        again.CopyFrom(req)
        again.reason = "another request under the same id"
        with pytest.raises(grpc.RpcError) as exc:
            records.CreateRecord(again, metadata=_md(WRITER))
        assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        ended = records.EndRecord(
            records_pb2.EndRecordRequest(
                name="links/test-fund-owns-gotion",
                valid_to="2026-06-30",
                etag=a.record.etag,
                reason="test: sold",
            ),
            metadata=_md(WRITER),
        )
        assert ended.record.document["valid_to"] == "2026-06-30"
        # ended before ON: not a holder on ON; the record stays for earlier dates
        assert "volkswagen" in _gotion_holders(graph, READER)
        log = records.ListChanges(
            records_pb2.ListChangesRequest(name="links/test-fund-owns-gotion"),
            metadata=_md(READER),
        )
        assert [c.operation for c in log.changes] == ["create", "end"]


def test_a_directory_server_refuses_writes(tmp_path: Path) -> None:
    srv = ServerThread(Settings.from_env({}, address="127.0.0.1:0")).start()
    try:
        with grpc.insecure_channel(srv.target) as ch:
            stub = records_pb2_grpc.RecordServiceStub(ch)
            with pytest.raises(grpc.RpcError) as exc:
                stub.GetRecord(records_pb2.GetRecordRequest(name="entities/catl"))
            assert exc.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert "--store" in (exc.value.details() or "")
    finally:
        srv.stop()


def _converge(srv_b: ServerThread, want: tuple[float, float], timeout: float = 2.0) -> float:
    """Seconds until replica B serves ``want`` as VW's share of Gotion (fails after timeout)."""
    start = time.monotonic()
    with grpc.insecure_channel(srv_b.target) as ch:
        graph = graph_pb2_grpc.GraphServiceStub(ch)
        while True:
            if _gotion_holders(graph, READER)["volkswagen"] == pytest.approx(want):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                pytest.fail(f"replica B did not serve {want} within {timeout} s")
            time.sleep(0.05)


def test_two_replicas_on_postgresql_converge(pg_server: PgServer) -> None:
    """Two servers on one PostgreSQL: a write through A is served by B within 2 s."""
    from georisk.scoring.engine import DEFAULT_DATA
    from georisk.store import migrate, open_store

    url = create_database(pg_server.url)
    migrate(url)
    store = open_store(url)
    store.init_from(DEFAULT_DATA, actor="test", reason="seed")
    store.close()
    a = ServerThread(_settings(url)).start()
    b = ServerThread(_settings(url)).start()
    try:
        with grpc.insecure_channel(a.target) as ch:
            records = records_pb2_grpc.RecordServiceStub(ch)
            etag = records.GetRecord(
                records_pb2.GetRecordRequest(name="links/vw-owns-gotion"), metadata=_md(READER)
            ).record.etag
            _update_share(records, etag, 0.3)
        assert _converge(b, (0.3, 0.3)) < 2.0
    finally:
        a.stop()
        b.stop()


def test_the_typed_client_writes_and_reads_the_log(server: ServerThread) -> None:
    from georisk.client import GeoriskClient, GeoriskError

    with GeoriskClient(server.target, token=WRITER) as c:
        rec = c.record("links/vw-owns-gotion")
        assert rec.document["share"] == {"minimum": 0.2647, "maximum": 0.3}
        new = c.update_record(
            "links/vw-owns-gotion",
            {"share": 0.3},
            etag=rec.etag,
            reason="A21: about 30%",
            clear=["note"],
        )
        assert new.document["share"] == 0.3 and "note" not in new.document
        assert new.store_version == rec.store_version + 1
        with pytest.raises(GeoriskError) as exc:
            c.update_record("links/vw-owns-gotion", {"share": 0.2}, etag=rec.etag, reason="x")
        assert exc.value.code is grpc.StatusCode.ABORTED
        log = list(c.changes("links/vw-owns-gotion", page_size=1))  # pages of one, all followed
        assert [ch.operation for ch in log] == ["create", "update"]
        assert c.ownership("gotion-high-tech", as_of=ON).direct_holders
    with GeoriskClient(server.target, token=READER) as c, pytest.raises(GeoriskError) as exc:
        c.create_record("sources", {"id": "s-new", "title": "t", "url": "https://x"}, reason="r")
    assert exc.value.code is grpc.StatusCode.PERMISSION_DENIED


def test_a_past_score_is_given_again_exactly(server: ServerThread) -> None:
    """Every score carries its store version; asking with that version after later writes
    gives the same score, byte for byte (FULL view, with its evidence)."""
    from georisk.v1 import scoring_pb2, scoring_pb2_grpc, types_pb2

    with grpc.insecure_channel(server.target) as ch:
        scoring = scoring_pb2_grpc.ScoringServiceStub(ch)
        records = records_pb2_grpc.RecordServiceStub(ch)

        def score(**kw: Any) -> scoring_pb2.ScoreArrangementResponse:
            req = scoring_pb2.ScoreArrangementRequest(
                arrangement_id="gotion-manteno-il",
                as_of=ON,
                view=types_pb2.EXPLANATION_VIEW_FULL,
                **kw,
            )
            r: scoring_pb2.ScoreArrangementResponse = scoring.ScoreArrangement(
                req, metadata=_md(READER)
            )
            return r

        then = score()
        assert then.store_version > 0
        etag = records.GetRecord(
            records_pb2.GetRecordRequest(name="links/vw-owns-gotion"), metadata=_md(READER)
        ).record.etag
        w = _update_share(records, etag, 0.6)
        now = score()
        assert now.store_version == w.store_version and now.dataset_version != then.dataset_version
        again = score(known_at_version=then.store_version)
        assert again.SerializeToString() == then.SerializeToString()
        # batch and stream too: the same past score, their store version the one asked for
        full = types_pb2.EXPLANATION_VIEW_FULL
        batch = scoring.BatchScoreArrangements(
            scoring_pb2.BatchScoreArrangementsRequest(
                arrangement_ids=["gotion-manteno-il"],
                as_of=ON,
                view=full,
                known_at_version=then.store_version,
            ),
            metadata=_md(READER),
        )
        assert batch.store_version == then.store_version
        assert batch.scores[0].SerializeToString() == then.score.SerializeToString()
        (item,) = scoring.StreamScoreArrangements(
            scoring_pb2.StreamScoreArrangementsRequest(
                arrangement_ids=["gotion-manteno-il"],
                as_of=ON,
                view=full,
                known_at_version=then.store_version,
            ),
            metadata=_md(READER),
        )
        assert item.store_version == then.store_version
        assert item.score.SerializeToString() == then.score.SerializeToString()
        with pytest.raises(grpc.RpcError) as exc:
            score(known_at_version=w.store_version + 5)
        assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert (
            "known_at_version",
            f"store version {w.store_version + 5} is not between 1 and {w.store_version}",
        ) in _violations(exc.value)


def test_the_graph_methods_answer_as_the_store_knew_it(server: ServerThread) -> None:
    """GetOwnership, GetEntity, GetArrangement and the lists take known_at_version / known_at
    like the scores: an ownership report given before a write is given again, byte for byte,
    after it; every answer says the store version it used."""
    from google.protobuf import timestamp_pb2

    from georisk.v1 import graph_pb2

    records, graph, ch = _stubs(server)
    with ch:

        def ownership(**kw: Any) -> graph_pb2.GetOwnershipResponse:
            r: graph_pb2.GetOwnershipResponse = graph.GetOwnership(
                graph_pb2.GetOwnershipRequest(entity_id="gotion-high-tech", as_of=ON, **kw),
                metadata=_md(READER),
            )
            return r

        then = ownership()
        assert then.store_version > 0
        before_write = timestamp_pb2.Timestamp()
        before_write.GetCurrentTime()
        etag = records.GetRecord(
            records_pb2.GetRecordRequest(name="links/vw-owns-gotion"), metadata=_md(READER)
        ).record.etag
        w = _update_share(records, etag, 0.45)
        now = ownership()
        assert now.store_version == w.store_version
        vw = {h.link: h.share for h in now.report.direct_holders}["vw-owns-gotion"]
        assert (vw.min, vw.max) == (0.45, 0.45)
        for kw in ({"known_at_version": then.store_version}, {"known_at": before_write}):
            again = ownership(**kw)
            assert again.store_version == then.store_version
            assert again.SerializeToString() == then.SerializeToString()
        ent = graph.GetEntity(
            graph_pb2.GetEntityRequest(entity_id="volkswagen", known_at_version=then.store_version),
            metadata=_md(READER),
        )
        assert ent.store_version == then.store_version and ent.entity.id == "volkswagen"
        page = graph.ListArrangements(
            graph_pb2.ListArrangementsRequest(page_size=2, known_at_version=then.store_version),
            metadata=_md(READER),
        )
        assert page.store_version == then.store_version and len(page.arrangements) == 2
        arr = graph.GetArrangement(
            graph_pb2.GetArrangementRequest(arrangement_id="gotion-manteno-il"),
            metadata=_md(READER),
        )
        assert arr.store_version == w.store_version
        with pytest.raises(grpc.RpcError) as exc:
            graph.ListEntities(
                graph_pb2.ListEntitiesRequest(known_at_version=1, known_at=before_write),
                metadata=_md(READER),
            )
        assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert ("known_at", "give known_at or known_at_version, not both") in _violations(exc.value)


def test_a_directory_server_has_no_past_to_score_on() -> None:
    from georisk.v1 import scoring_pb2, scoring_pb2_grpc

    srv = ServerThread(Settings.from_env({}, address="127.0.0.1:0")).start()
    try:
        with grpc.insecure_channel(srv.target) as ch:
            stub = scoring_pb2_grpc.ScoringServiceStub(ch)
            ok = stub.ScoreArrangement(
                scoring_pb2.ScoreArrangementRequest(arrangement_id="ford-marshall", as_of=ON)
            )
            assert ok.store_version == 0
            with pytest.raises(grpc.RpcError) as exc:
                stub.ScoreArrangement(
                    scoring_pb2.ScoreArrangementRequest(
                        arrangement_id="ford-marshall", known_at_version=1
                    )
                )
            assert exc.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            graph = graph_pb2_grpc.GraphServiceStub(ch)
            with pytest.raises(grpc.RpcError) as exc:
                graph.GetOwnership(
                    graph_pb2.GetOwnershipRequest(entity_id="ford", known_at_version=1)
                )
            assert exc.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert "keeps no history" in (exc.value.details() or "")
    finally:
        srv.stop()
