"""``georisk explain``: the file written for each format, the Markdown memo's chart beside it,
and the exit status of each kind of failure (docs/explain.md)."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from georisk.cli import main

REQUIRED = os.environ.get("GEORISK_REQUIRE_BROWSER") == "1"
ARGS = ["--arrangement", "gotion-manteno-il", "--as-of", "2026-11-22"]


def need_dot() -> None:
    if shutil.which("dot") is None:
        msg = "Graphviz `dot` not found on PATH (Debian: apt-get install graphviz)"
        if REQUIRED:
            pytest.fail(f"{msg}, and GEORISK_REQUIRE_BROWSER=1 requires it")
        pytest.skip(f"!!! SKIPPED: {msg} !!!")


def test_each_format_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", *ARGS, "--format", "dot", "-o", str(tmp_path / "c.dot")]) == 0
    assert 'id="link:gotion-owns-gotion-inc"' in (tmp_path / "c.dot").read_text()
    assert "ok:" in capsys.readouterr().err
    assert main(["explain", *ARGS, "--format", "graphml", "-o", str(tmp_path / "c.graphml")]) == 0
    ET.parse(tmp_path / "c.graphml")
    need_dot()
    assert main(["explain", *ARGS, "--format", "svg", "-o", str(tmp_path / "c.svg")]) == 0
    ET.parse(tmp_path / "c.svg")
    assert main(["explain", *ARGS, "--format", "md", "--no-timeline",
                 "-o", str(tmp_path / "memo.md")]) == 0  # fmt: skip
    md = (tmp_path / "memo.md").read_text()
    assert "](memo.svg)" in md and (tmp_path / "memo.svg").exists()
    assert "no timeline asked for" in md
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c.dot", "c.graphml", "c.svg", "memo.md", "memo.svg"
    ]  # fmt: skip


def test_failures_have_their_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = str(tmp_path / "x.dot")
    assert main(["explain", "--arrangement", "no-such", "--format", "dot", "-o", out]) == 4
    assert "no-such" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("arrangement: gotion-manteno-il\nadd: {links: [{id: x}]}\n")
    assert main(["explain", *ARGS, "--overlay", str(bad), "--format", "dot", "-o", out]) == 3
    assert main(["explain", *ARGS, "--format", "dot", "-o", str(tmp_path / "no/x.dot")]) == 2
    monkeypatch.setenv("PATH", str(tmp_path))  # no Graphviz
    assert main(["explain", *ARGS, "--format", "svg", "-o", str(tmp_path / "x.svg")]) == 2
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert main(["explain", *ARGS, "--format", "gexf", "-o", str(tmp_path / "x.gexf")]) == 0
    assert not (tmp_path / "x.svg").exists()
