"""The georisk command line: outputs users script against, exit codes, and error lines."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from georisk.cli import main
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
    assert code == 0 and len(rows) == 15
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
