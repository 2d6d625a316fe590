"""Several policy packs over gRPC (issue 18): ListPolicyPacks (AIP-132 paging), GetPolicyPack
and ListScenarios by ``pack_id``, and the packs a score applied, on a server started with
GEORISK_PACK=us,eu,uk-style selection (here the fixture pack beside the shipped US pack)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from georisk.scoring.engine import DEFAULT_DATA, Engine
from georisk.server.settings import Settings
from georisk.v1 import scoring_pb2, scoring_pb2_grpc
from tests.server_harness import ServerThread
from tests.test_contract import rich_status, violations

FIXTURE = Path(__file__).parent / "fixtures" / "eu_data" / "policies"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    pdir = tmp_path_factory.mktemp("policies")
    for f in ("us.yaml", "us.scenarios.yaml"):
        shutil.copy(DEFAULT_DATA / "policies" / f, pdir / f)
    for f in ("xeu.yaml", "xeu.scenarios.yaml"):
        shutil.copy(FIXTURE / f, pdir / f)
    engine = Engine.from_dir(DEFAULT_DATA, "us,xeu", policies=pdir)
    settings = Settings.from_env({}, address="127.0.0.1:0", data_dir=DEFAULT_DATA)
    t = ServerThread(settings, engine).start()
    yield t
    t.stop()


@pytest.fixture(scope="module")
def stub(server: ServerThread) -> Iterator[scoring_pb2_grpc.ScoringServiceStub]:
    with grpc.insecure_channel(server.target) as ch:
        yield scoring_pb2_grpc.ScoringServiceStub(ch)


def test_list_policy_packs_pages_through_every_pack(
    stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    first = stub.ListPolicyPacks(scoring_pb2.ListPolicyPacksRequest(page_size=1), timeout=30)
    assert [p.id for p in first.policy_packs] == ["us"]
    assert first.next_page_token
    second = stub.ListPolicyPacks(
        scoring_pb2.ListPolicyPacksRequest(page_size=1, page_token=first.next_page_token),
        timeout=30,
    )
    (xeu,) = second.policy_packs
    assert (xeu.id, xeu.jurisdiction, second.next_page_token) == ("xeu", "EU", "")
    assert xeu.HasField("nexus") and list(xeu.nexus.countries) == ["ES", "DE", "HU", "FR"]
    assert list(xeu.nexus.party_roles) == ["owner", "operator", "jv_partner"]
    assert not xeu.parameters and not xeu.rules  # a summary: GetPolicyPack has them
    assert not first.policy_packs[0].HasField("nexus")  # the US pack applies everywhere


def test_list_policy_packs_refuses_a_bad_page_token(
    stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.ListPolicyPacks(scoring_pb2.ListPolicyPacksRequest(page_token="nope"), timeout=30)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(info.value)) == {"page_token"}


def test_get_policy_pack_and_scenarios_by_pack_id(
    stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    us = stub.GetPolicyPack(scoring_pb2.GetPolicyPackRequest(), timeout=30).pack
    assert us.id == "us"
    xeu = stub.GetPolicyPack(scoring_pb2.GetPolicyPackRequest(pack_id="xeu"), timeout=30).pack
    assert xeu.id == "xeu" and any(r.kind == "acquisition_screening" for r in xeu.rules)
    passport = next(r for r in xeu.rules if r.id == "xeu-battery-passport")
    assert list(passport.markets) == ["ES", "DE", "HU", "FR"]
    sc = stub.ListScenarios(scoring_pb2.ListScenariosRequest(pack_id="xeu"), timeout=30)
    assert [s.id for s in sc.scenarios] == ["current-law", "iaa-adopted"]


@pytest.mark.parametrize(
    ("pack_id", "code", "field"),
    [
        ("nope", grpc.StatusCode.NOT_FOUND, None),
        ("Bad Id", grpc.StatusCode.INVALID_ARGUMENT, "pack_id"),
    ],
)
def test_unknown_or_bad_pack_id(
    stub: scoring_pb2_grpc.ScoringServiceStub,
    pack_id: str,
    code: grpc.StatusCode,
    field: str | None,
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.GetPolicyPack(scoring_pb2.GetPolicyPackRequest(pack_id=pack_id), timeout=30)
    assert info.value.code() is code
    if field:
        assert set(violations(info.value)) == {field}
    else:
        assert "policy_pack" in str(rich_status(info.value))


def test_a_score_says_which_packs_applied(stub: scoring_pb2_grpc.ScoringServiceStub) -> None:
    def score(arr: str, scenario: str = "") -> scoring_pb2.ScoreArrangementResponse:
        req = scoring_pb2.ScoreArrangementRequest(
            arrangement_id=arr, as_of="2025-01-01", scenario=scenario
        )
        return stub.ScoreArrangement(req, timeout=60)

    eu = score("stellantis-catl-zaragoza").score
    assert [(p.id, p.applied, p.reason) for p in eu.packs] == [
        ("us", True, "the primary pack"),
        ("xeu", True, "located in ES"),
    ]
    fsr = next(v for v in eu.verdicts if v.rule == "xeu-fsr-concentration")
    assert fsr.outcome == "no filing"
    us = score("ford-marshall").score
    assert [(p.id, p.applied) for p in us.packs] == [("us", True), ("xeu", False)]
    assert all(not v.outcome for v in us.verdicts)
    # a further pack's scenario is known, and chosen where its pack applies
    assert score("stellantis-catl-zaragoza", "iaa-adopted").score.scenario == "iaa-adopted"
    with pytest.raises(grpc.RpcError) as info:
        score("ford-marshall", "iaa-adopted")
    assert info.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("env", "packs"),
    [({}, ["us", "eu", "uk"]), ({"GEORISK_PACK": "us"}, ["us"])],
)
def test_the_server_serves_every_shipped_pack_by_default(
    env: dict[str, str], packs: list[str]
) -> None:
    settings = Settings.from_env(env, address="127.0.0.1:0", data_dir=DEFAULT_DATA)
    t = ServerThread(settings).start()
    try:
        with grpc.insecure_channel(t.target) as ch:
            stub = scoring_pb2_grpc.ScoringServiceStub(ch)
            got = stub.ListPolicyPacks(scoring_pb2.ListPolicyPacksRequest(), timeout=30)
            assert [p.id for p in got.policy_packs] == packs
            req = scoring_pb2.ScoreArrangementRequest(
                arrangement_id="stellantis-catl-zaragoza", as_of="2025-01-01"
            )
            score = stub.ScoreArrangement(req, timeout=60).score
            assert [p.id for p in score.packs if p.applied] == packs[:2]
    finally:
        t.stop()


def test_the_client_lists_each_packs_scenarios_and_names_what_was_not_found(
    server: ServerThread,
) -> None:
    """`GeoriskClient.policy_packs()` pages through ListPolicyPacks, `scenarios(pack_id)` and
    `policy_pack(pack_id=…)` read one pack, and a NOT_FOUND error carries its ResourceInfo as
    `GeoriskError.resource` (what the remote batch engine words its row errors with)."""
    from georisk.client import GeoriskClient, GeoriskError

    with GeoriskClient(server.target) as c:
        assert [p.id for p in c.policy_packs()] == ["us", "xeu"]
        want = [s.id for s in Engine.from_dir(DEFAULT_DATA, "us").scenarios.scenarios]
        assert [s.id for s in c.scenarios()] == [s.id for s in c.scenarios("us")] == want
        xeu = c.scenarios("xeu")
        assert xeu and [s.id for s in xeu] != want
        assert c.policy_pack(pack_id="xeu").id == "xeu"
        with pytest.raises(GeoriskError) as err:
            c.score("no-such-deal")
        assert err.value.code is grpc.StatusCode.NOT_FOUND
        assert err.value.resource == ("arrangement", "no-such-deal")
        # a further pack's scenario on a deal outside that pack's nexus: not found for it
        change = next(s.id for s in xeu if s.id not in want)
        with pytest.raises(GeoriskError) as err:
            c.score("ford-marshall", scenario=change)
        assert err.value.code is grpc.StatusCode.NOT_FOUND
        assert err.value.resource == ("scenario", change)
        # an unknown one: the request is refused, naming every scenario once
        with pytest.raises(GeoriskError) as err:
            c.score("ford-marshall", scenario="no-such-scenario")
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        ((field, why),) = err.value.violations
        known = why.split("; known: ")[1].split(", ")
        assert field == "scenario" and known == list(dict.fromkeys([*want, *(s.id for s in xeu)]))
        assert len(known) == len(set(known))
