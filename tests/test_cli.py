"""The georisk command line: outputs users script against, exit codes, and error lines."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from georisk.cli import main
from georisk.scoring import clock
from georisk.scoring.dataset import load_dataset
from tests.conftest import BASE_YAML, DATA, REPO, WriteDataset


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_validate_shipped_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(DATA))
    assert code == 0 and out.startswith("ok: ") and "version sha256:" in out


def test_validate_broken_dataset_names_file_and_exits_3(
    capsys: pytest.CaptureFixture[str], write_dataset: WriteDataset
) -> None:
    d = write_dataset({"a.yaml": BASE_YAML.replace("share: 0.6", "share: 1.6")})
    code, out, err = run(capsys, "validate", str(d))
    assert code == 3 and out == ""
    assert "error: a.yaml: links[0] line 10 (id=parent-sub): share:" in err


def test_ownership_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "ownership", str(DATA), "aesc-us", "--format", "json", "--as-of", "2026-11-22"
    )
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == "georisk.ownership/v1"
    assert doc["specified_foreign_entity"]["verdict"] == "true"
    assert doc["covered_nation_exposure"]["share"]["min"] == pytest.approx(0.75)
    assert doc["control"]["ultimate"] == ["envision-group"]


def test_ownership_table_and_unknown_entity(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ownership", str(DATA), "gotion-inc")
    assert code == 0 and "Specified foreign entity: TRUE" in out
    code, _, err = run(capsys, "ownership", str(DATA), "no-such-entity")
    assert code == 4 and "no-such-entity" in err


def test_score_json_csv_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "score",
        str(DATA),
        "--arrangement",
        "ford-marshall",
        "--as-of",
        "2026-11-22",
        "--format",
        "json",
        "--view",
        "basic",
    )
    doc = json.loads(out)
    r = doc["results"][0]
    assert code == 0 and doc["schema"] == "georisk.scores/v1" and r["schema"] == "georisk.score/v1"
    assert r["technology"]["band"] == "high" and r["scenarios"] == []
    code, out, _ = run(capsys, "score", str(DATA), "--format", "csv", "--as-of", "2026-11-22")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 17  # every shipped arrangement (15 + CATL DE and HU)
    assert {r["arrangement"] for r in rows} >= {"gotion-manteno-il", "casip"}
    code, out, _ = run(capsys, "score", str(DATA), "--arrangement", "gotion-manteno-il")
    assert code == 0 and "not_eligible" in out


def test_score_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "score", str(DATA), "--arrangement", "nope")
    assert code == 4 and "unknown arrangement 'nope'" in err
    code, _, err = run(capsys, "score", str(DATA), "--scenario", "nope")
    assert code == 4 and "unknown scenario 'nope'" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("arrangement: catl-lrs\nremove: {links: [ghost]}\n")
    code, _, err = run(capsys, "score", str(DATA), "--overlay", str(bad))
    assert code == 3 and "no link 'ghost' to remove" in err
    with pytest.raises(SystemExit) as info:
        main(["score", str(DATA), "--as-of", "yesterday"])
    assert info.value.code == 2


def test_score_overlay_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "score",
        str(DATA),
        "--overlay",
        str(REPO / "examples" / "overlays" / "catl-lrs-us-carmaker.yaml"),
        "--as-of",
        "2026-11-22",
    )
    assert code == 0 and "at_risk" in out and "lrs-us-carmaker-2026" in out


# --------------------------------------------------------------------------- one clock


def test_as_of_defaults_to_the_utc_clock_when_the_command_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from georisk.cli import _parser

    # the parser leaves the date open: it is resolved when the command runs, not at build time
    for cmd in (["score"], ["ownership", "catl"], ["batch", "in.csv", "-o", "o.csv"]):
        assert _parser().parse_args(cmd).as_of is None
    day = dt.date(2025, 3, 1)
    with clock.frozen(day):
        code, out, _ = run(
            capsys, "score", "--arrangement", "casip", "--format", "json", "--view", "basic"
        )
        assert code == 0 and json.loads(out)["results"][0]["as_of"] == day.isoformat()
        code, out, _ = run(capsys, "ownership", "catl", "--format", "json")
        assert code == 0 and json.loads(out)["as_of"] == day.isoformat()
        inp = tmp_path / "in.csv"
        inp.write_text("arrangement\ncasip\n")
        out_csv = tmp_path / "o.csv"
        argv = ["batch", str(inp), "-o", str(out_csv), "--scenario", "current-law"]
        assert main([*argv, "--progress", "none"]) == 0
        with out_csv.open(newline="") as f:
            assert [r["as_of"] for r in csv.DictReader(f)] == [day.isoformat()]


# --------------------------------------------------------------------------- from any directory


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory outside the checkout, with no GEORISK_DATA."""
    d = tmp_path / "elsewhere"
    d.mkdir()
    monkeypatch.chdir(d)
    monkeypatch.delenv("GEORISK_DATA", raising=False)
    return d


def test_commands_without_a_data_argument_use_the_shipped_dataset(
    capsys: pytest.CaptureFixture[str], elsewhere: Path
) -> None:
    version = load_dataset(DATA).version
    code, out, _ = run(capsys, "validate")
    assert code == 0 and out.startswith("ok: ") and out.rstrip().endswith(f"version {version}")

    score = ["--arrangement", "ford-marshall", "--as-of", "2026-11-22", "--format", "json"]
    code, here, _ = run(capsys, "score", *score)
    assert code == 0 and (code, here) == run(capsys, "score", str(DATA), *score)[:2]
    assert json.loads(here)["results"][0]["dataset_version"] == version

    own = ["aesc-us", "--as-of", "2026-11-22", "--format", "json"]
    code, here, _ = run(capsys, "ownership", *own)
    assert code == 0 and here == run(capsys, "ownership", str(DATA), *own)[1]
    assert json.loads(here)["specified_foreign_entity"]["verdict"] == "true"

    Path("in.csv").write_text("arrangement\nford-marshall\n")
    batch = ["in.csv", "--as-of", "2026-11-22", "--scenario", "current-law", "--progress", "none"]
    assert main(["batch", *batch, "-o", "here.csv"]) == 0
    assert main(["batch", *batch, "-o", "there.csv", "--data", str(DATA)]) == 0
    assert Path("here.csv").read_bytes() == Path("there.csv").read_bytes()
    with Path("here.csv").open(newline="") as f:
        assert [r["dataset_version"] for r in csv.DictReader(f)] == [version]


def test_serve_refuses_a_bad_data_dir_naming_the_file(
    elsewhere: Path, write_dataset: WriteDataset
) -> None:
    """In a subprocess: serve sets up logging. (test_packaging runs the installed script from
    outside the checkout; the in-process tests above cover the other commands.)"""
    georisk = Path(sys.executable).with_name("georisk")
    env = {k: v for k, v in os.environ.items() if k != "GEORISK_DATA"}

    def script(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(georisk), *argv],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    bad = write_dataset({"a.yaml": BASE_YAML.replace("share: 0.6", "share: 1.6")})
    out = script("serve", "--data", str(bad), "--address", "127.0.0.1:0")
    assert out.returncode == 3, out.stderr
    assert "error: a.yaml: links[0] line 10 (id=parent-sub): share:" in out.stderr


def test_a_bad_dataset_exits_3_naming_the_file(
    capsys: pytest.CaptureFixture[str],
    elsewhere: Path,
    write_dataset: WriteDataset,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = write_dataset({"a.yaml": BASE_YAML.replace("share: 0.6", "share: 1.6")})
    where = "a.yaml: links[0] line 10 (id=parent-sub): share:"
    Path("in.csv").write_text("arrangement\nx\n")
    commands = [
        ["validate", str(bad)],
        ["score", str(bad)],
        ["ownership", str(bad), "parent"],
        ["batch", "in.csv", "-o", "o.csv", "--data", str(bad), "--progress", "none"],
    ]
    for argv in commands:
        code, _, err = run(capsys, *argv)
        assert code == 3 and f"error: {where}" in err, (argv, err)
    # $GEORISK_DATA is the default when no directory is given
    monkeypatch.setenv("GEORISK_DATA", str(bad))
    for argv in (["validate"], ["score"], ["ownership", "parent"]):
        code, _, err = run(capsys, *argv)
        assert code == 3 and f"error: {where}" in err, (argv, err)
    code, _, err = run(capsys, "validate", str(elsewhere / "no-such-dir"))
    assert code == 3 and "no-such-dir" in err


def test_ownership_with_overlay_reports_the_what_if(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`ownership --overlay` answers for the overlaid dataset: a what-if 30% stake of CATL in
    Ford makes Ford a foreign-influenced entity; without the overlay it is not one."""
    ov = tmp_path / "stake.yaml"
    ov.write_text(
        "arrangement: ford-marshall\n"
        "add:\n  links:\n"
        "    - {id: catl-holds-ford, kind: equity, source: catl, target: ford, share: 0.3,\n"
        "       valid_from: 2026-01-01, status: confirmed, sources: [a1]}\n",
        encoding="utf-8",
    )
    argv = ["ownership", str(DATA), "ford", "--format", "json", "--as-of", "2026-11-22"]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and json.loads(out)["foreign_influenced_entity"]["verdict"] == "false"
    code, out, _ = run(capsys, *argv, "--overlay", str(ov))
    doc = json.loads(out)
    assert code == 0 and doc["foreign_influenced_entity"]["verdict"] == "true"
    assert "catl" in [h["holder"] for h in doc["direct_holders"]]
    bad = tmp_path / "bad.yaml"
    bad.write_text("arrangement: ford-marshall\nadd: {links: [{id: x, kind: equity}]}\n")
    code, _, err = run(capsys, *argv, "--overlay", str(bad))
    assert code == 3 and "bad.yaml" in err


def test_score_past_the_packs_review_date_warns_in_table_and_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`score` as of a date after the pack's review_by says so: a WARNING line in the table
    (which fits 120 columns, names first), the same words in the JSON's overall notes."""
    argv = ["score", str(DATA), "--arrangement", "ford-kentucky-storage", "--as-of", "2027-06-01"]
    code, out, _ = run(capsys, *argv, "--format", "table")
    assert code == 0 and "WARNING: as of 2027-06-01, past the review date" in out, out
    assert out.startswith("Ford energy-storage business") and "[ford-kentucky-storage]" in out
    assert all(len(line) <= 120 for line in out.splitlines()), out
    code, out, _ = run(capsys, *argv, "--format", "json", "--view", "basic")
    (r,) = json.loads(out)["results"]
    assert code == 0 and any("past the review date" in n for n in r["overall"]["notes"])
    code, out, _ = run(capsys, *argv[:-1], "2026-11-22", "--format", "table")
    assert code == 0 and "WARNING" not in out
