"""``georisk batch --memos DIR``: one memo (HTML) per scored row, none for a refused row; a
resumed batch writes the same files; drawn by a local engine (with Graphviz ``dot``) or, with
``--target``, by the server."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from georisk.batch import BatchOptions, run_batch
from georisk.scoring.engine import Engine
from tests.conftest import DATA

ON = dt.date(2026, 11, 22)
REQUIRED = os.environ.get("GEORISK_REQUIRE_BROWSER") == "1"


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def need_dot() -> None:
    if shutil.which("dot") is None:
        msg = "Graphviz `dot` not found on PATH (Debian: apt-get install graphviz)"
        if REQUIRED:
            pytest.fail(f"{msg}, and GEORISK_REQUIRE_BROWSER=1 requires it")
        pytest.skip(f"!!! SKIPPED: {msg} !!!")


def test_one_memo_per_scored_row(tmp_path: Path) -> None:
    need_dot()
    rows = tmp_path / "in.csv"
    rows.write_text("arrangement,row_id\ncatl-lrs,a\nno-such-deal,b\nford-marshall,c\n")
    memos = tmp_path / "memos"
    opts = BatchOptions(
        input=rows,
        output=tmp_path / "out.csv",
        data_dir=DATA,
        as_of=ON,
        scenarios=["current-law", "repeal-45x-batteries"],
        memos=memos,
        progress="none",
    )
    summary = run_batch(opts)
    assert (summary.rows_scored, summary.errors) == (2, 1)
    assert sorted(p.name for p in memos.iterdir()) == [
        "memo-000002-catl-lrs.html",
        "memo-000004-ford-marshall.html",
    ]
    page = Text()
    page.feed((memos / "memo-000004-ford-marshall.html").read_text(encoding="utf-8"))
    words = " ".join(" ".join(page.parts).split())
    assert "Ford BlueOval Battery Park Michigan (Marshall)" in words and "[ford-marshall]" in words
    assert "repeal-45x-batteries" in words  # every scenario's verdicts, not only the first
    # the memos go with the committed rows: a forced rerun writes the same files again
    before = (memos / "memo-000002-catl-lrs.html").read_bytes()
    run_batch(BatchOptions(**{**opts.__dict__, "force": True}))
    assert (memos / "memo-000002-catl-lrs.html").read_bytes() == before


def test_memos_from_a_server(tmp_path: Path, engine: Engine) -> None:
    """With ``--target`` the server draws the memos (RenderService): the same files, one per
    scored row, none for a refused one."""
    need_dot()
    from georisk.batch.remote import RemoteOptions
    from georisk.server.settings import Settings
    from tests.server_harness import ServerThread

    srv = ServerThread(Settings.from_env({}, address="127.0.0.1:0", data_dir=DATA), engine).start()
    try:
        rows = tmp_path / "in.csv"
        rows.write_text("arrangement\nford-marshall\nno-such-deal\n")
        memos = tmp_path / "memos"
        summary = run_batch(
            BatchOptions(
                input=rows,
                output=tmp_path / "out.csv",
                as_of=ON,
                scenarios=["current-law"],
                memos=memos,
                remote=RemoteOptions(srv.target),
                progress="none",
            )
        )
    finally:
        srv.stop()
    assert (summary.rows_scored, summary.errors) == (1, 1)
    assert [p.name for p in memos.iterdir()] == ["memo-000002-ford-marshall.html"]
    page = Text()
    page.feed((memos / "memo-000002-ford-marshall.html").read_text(encoding="utf-8"))
    words = " ".join(" ".join(page.parts).split())
    assert "Ford BlueOval Battery Park Michigan (Marshall)" in words and "[ford-marshall]" in words
