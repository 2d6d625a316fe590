"""RenderService.RenderArrangement keeps the promises of proto/georisk/v1/render.proto: bytes with
their media type, INVALID_ARGUMENT naming the field, NOT_FOUND naming the arrangement,
FAILED_PRECONDITION when the server has no Graphviz ``dot`` (DOT and GraphML still served), a
reader may render, and reflection lists the service. One server on 127.0.0.1:0.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from georisk.scoring.engine import Engine
from georisk.server.settings import Settings
from georisk.v1 import render_pb2, render_pb2_grpc, scoring_pb2
from tests.conftest import DATA
from tests.server_harness import ServerThread

TODAY = "2026-11-22"
REQUIRED = os.environ.get("GEORISK_REQUIRE_BROWSER") == "1"


def settings(**kw: object) -> Settings:
    return Settings.from_env({}, **{"address": "127.0.0.1:0", "data_dir": DATA, **kw})


@pytest.fixture(scope="module")
def srv(engine: Engine) -> Iterator[ServerThread]:
    t = ServerThread(settings(auth_tokens=("reader-token",)), engine).start()
    yield t
    t.stop()


@pytest.fixture(scope="module")
def stub(srv: ServerThread) -> Iterator[render_pb2_grpc.RenderServiceStub]:
    with grpc.insecure_channel(srv.target) as ch:
        yield render_pb2_grpc.RenderServiceStub(ch)


AUTH = (("authorization", "Bearer reader-token"),)


def call(
    stub: render_pb2_grpc.RenderServiceStub, **kw: object
) -> render_pb2.RenderArrangementResponse:
    req = render_pb2.RenderArrangementRequest(as_of=TODAY, **kw)  # type: ignore[arg-type]
    out: render_pb2.RenderArrangementResponse = stub.RenderArrangement(
        req, metadata=AUTH, timeout=60
    )
    return out


def failure(stub: render_pb2_grpc.RenderServiceStub, **kw: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(stub, **kw)
    return info.value


def violations(err: grpc.RpcError) -> dict[str, str]:
    assert isinstance(err, grpc.Call)
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert isinstance(raw, bytes)
    out: dict[str, str] = {}
    for d in status_pb2.Status.FromString(raw).details:
        br = error_details_pb2.BadRequest()
        if d.Unpack(br):
            out.update({v.field: v.description for v in br.field_violations})
    return out


def need_dot() -> None:
    if shutil.which("dot") is None:
        msg = "Graphviz `dot` not found on PATH (Debian: apt-get install graphviz)"
        if REQUIRED:
            pytest.fail(f"{msg}, and GEORISK_REQUIRE_BROWSER=1 requires it")
        pytest.skip(f"!!! SKIPPED: {msg} !!!")


def test_a_reader_gets_svg_bytes_with_their_media_type(
    stub: render_pb2_grpc.RenderServiceStub,
) -> None:
    need_dot()
    r = call(stub, arrangement_id="gotion-manteno-il", format=render_pb2.RENDER_FORMAT_SVG)
    assert r.media_type == "image/svg+xml" and r.file_name == "gotion-manteno-il.svg"
    root = ET.fromstring(r.data)
    ids = {g.get("id") for g in root.iter("{http://www.w3.org/2000/svg}g")}
    assert {
        "entity:gotion-inc",
        "entity:gotion-manteno-plant",
        "link:gotion-owns-gotion-inc",
    } <= ids
    assert r.entities_drawn == 5 and r.links_drawn == 7 and r.dataset_version
    html = call(stub, arrangement_id="catl-lrs", format=render_pb2.RENDER_FORMAT_HTML)
    assert html.media_type == "text/html; charset=utf-8"
    assert b"<!DOCTYPE html>" in html.data and b"catl-licence-lrs" in html.data
    png = call(stub, arrangement_id="catl-lrs", format=render_pb2.RENDER_FORMAT_PNG)
    assert png.media_type == "image/png" and png.data[:4] == b"\x89PNG"


def test_dot_and_graphml_need_no_graphviz(
    stub: render_pb2_grpc.RenderServiceStub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # the server's thread sees no `dot` from now on
    err = failure(stub, arrangement_id="casip", format=render_pb2.RENDER_FORMAT_SVG)
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "Graphviz" in (err.details() or "") and "apt-get install graphviz" in (
        err.details() or ""
    )
    dot = call(stub, arrangement_id="casip", format=render_pb2.RENDER_FORMAT_DOT)
    assert dot.media_type == "text/vnd.graphviz" and b"entity:casip" in dot.data
    gml = call(stub, arrangement_id="casip", format=render_pb2.RENDER_FORMAT_GRAPHML)
    assert gml.media_type == "application/graphml+xml"
    ET.fromstring(gml.data)


def test_bad_input_names_the_field(stub: render_pb2_grpc.RenderServiceStub) -> None:
    err = failure(stub, arrangement_id="casip")
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "required" in violations(err)["format"]
    err = failure(stub, arrangement_id="casip", format=99)
    assert "unknown format 99" in violations(err)["format"]
    err = failure(
        stub,
        arrangement_id="Not An Id",
        format=render_pb2.RENDER_FORMAT_DOT,
        scenario="no-such",
        max_nodes=500,
    )
    v = violations(err)
    assert set(v) == {"arrangement_id", "scenario", "max_nodes"}
    req = render_pb2.RenderArrangementRequest(
        arrangement_id="casip", as_of="2026-02-30", format=render_pb2.RENDER_FORMAT_DOT
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.RenderArrangement(req, metadata=AUTH, timeout=60)
    assert set(violations(info.value)) == {"as_of"}


def test_unknown_arrangement_and_missing_token(stub: render_pb2_grpc.RenderServiceStub) -> None:
    err = failure(stub, arrangement_id="no-such-deal", format=render_pb2.RENDER_FORMAT_DOT)
    assert err.code() is grpc.StatusCode.NOT_FOUND and "no-such-deal" in (err.details() or "")
    req = render_pb2.RenderArrangementRequest(
        arrangement_id="casip", format=render_pb2.RENDER_FORMAT_DOT
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.RenderArrangement(req, timeout=60)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_max_nodes_bounds_the_drawing(stub: render_pb2_grpc.RenderServiceStub) -> None:
    full = call(stub, arrangement_id="casip", format=render_pb2.RENDER_FORMAT_DOT)
    small = call(stub, arrangement_id="casip", format=render_pb2.RENDER_FORMAT_DOT, max_nodes=3)
    # the arrangement's members are drawn whatever the bound; their holders are not walked
    assert small.entities_drawn <= full.entities_drawn
    assert small.holders_not_drawn > 0 and full.holders_not_drawn == 0


def test_known_at_needs_a_store(stub: render_pb2_grpc.RenderServiceStub) -> None:
    err = failure(
        stub, arrangement_id="casip", format=render_pb2.RENDER_FORMAT_DOT, known_at_version=3
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "store" in (err.details() or "")


OVERLAY = """
arrangement: gotion-manteno-il
add:
  entities:
    - {id: new-holder, name: New Holder GmbH, kind: company, country: DE, sources: [a20]}
  links:
    - {id: new-holder-owns-ght, kind: equity, source: new-holder, target: gotion-high-tech,
       share: 0.05, sources: [a20]}
"""


def test_a_what_if_overlay_is_rendered(stub: render_pb2_grpc.RenderServiceStub) -> None:
    r = call(
        stub,
        format=render_pb2.RENDER_FORMAT_DOT,
        overlay=scoring_pb2.Overlay(document=OVERLAY, id="new-holder"),
    )
    assert b'id="entity:new-holder"' in r.data and b"New Holder GmbH" in r.data
    plain = call(stub, arrangement_id="gotion-manteno-il", format=render_pb2.RENDER_FORMAT_DOT)
    assert b"new-holder" not in plain.data
    err = failure(
        stub,
        format=render_pb2.RENDER_FORMAT_DOT,
        overlay=scoring_pb2.Overlay(
            document="arrangement: gotion-manteno-il\nadd: {links: [{id: x}]}"
        ),
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert all(f.startswith("overlay.document") for f in violations(err)), violations(err)
    err = failure(
        stub,
        arrangement_id="casip",
        format=render_pb2.RENDER_FORMAT_DOT,
        overlay=scoring_pb2.Overlay(document=OVERLAY),
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_the_typed_client_renders(srv: ServerThread) -> None:
    """georisk.client.GeoriskClient.render: the bytes, their media type and file name; an
    unknown format is refused naming the field, before any call."""
    from georisk.client import GeoriskClient, GeoriskError

    with GeoriskClient(srv.target, token="reader-token") as c:
        got = c.render("ford-marshall", "dot", as_of="2026-11-22")
        assert got.media_type == "text/vnd.graphviz" and got.file_name.endswith(".dot")
        assert b"ford" in got.data and got.entities_drawn >= 3
        with pytest.raises(GeoriskError) as err:
            c.render("ford-marshall", "pdf")
        assert err.value.violations[0][0] == "format"
