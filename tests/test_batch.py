"""``georisk batch`` and ``georisk synth``: formats, engines, errors, resumption after kill -9."""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from examples.batch_client import run as client_run
from georisk.cli import main
from georisk.scoring.engine import DEFAULT_DATA, Engine, View
from georisk.server.settings import Settings
from georisk.synth import SynthSpec, generate
from tests.conftest import DATA, REPO
from tests.server_harness import ServerThread

AS_OF = "2026-11-22"
OVERLAY = REPO / "examples" / "overlays" / "catl-lrs-us-carmaker.yaml"
GEORISK = Path(sys.executable).with_name("georisk")
GOOD = ["gotion-manteno-il", "ford-marshall", "casip"]
pq: Any = importlib.import_module("pyarrow.parquet")  # pyarrow ships no type information


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("synth")
    generate(SynthSpec(entities=400, arrangements=40, seed=11), d)
    return d


@pytest.fixture(scope="module")
def server(engine: Engine) -> Iterator[ServerThread]:
    s = ServerThread(Settings.from_env({}, address="127.0.0.1:0", data_dir=DATA), engine).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def server_all() -> Iterator[ServerThread]:
    """A server scoring with every shipped pack (what ``georisk serve`` does by default)."""
    s = ServerThread(
        Settings.from_env({}, address="127.0.0.1:0", data_dir=DATA, pack="all"),
        Engine.from_dir(DATA, "all"),
    ).start()
    yield s
    s.stop()


def shipped_input(d: Path) -> Path:
    """Good ids, an inline overlay, an overlay file, and one bad row of each kind."""
    shutil.copy(OVERLAY, d / "ov.yaml")
    inline = {"id": "no-lic", "arrangement": "ford-marshall", "remove": {"links": []}}
    rows: list[Any] = [{"row_id": f"g{i}", "arrangement": a} for i, a in enumerate(GOOD)]
    rows += [
        {"row_id": "ov1", "overlay": inline},
        {"row_id": "ov2", "overlay_file": "ov.yaml", "as_of": "2026-12-01"},
        {"row_id": "x1", "arrangement": "no-such-deal"},
        {"row_id": "x2", "arrangement": "casip", "as_of": "2026-02-30"},
        {"row_id": "x3", "arrangement": "casip", "scenario": "no-such-scenario"},
        {"row_id": "x4", "overlay": {"arrangement": "casip", "remove": {"links": ["nope"]}}},
        {"row_id": "x5", "overlay": {"arrangement": "casip", "bogus": 1}},
        "{not json",
        {"row_id": "c1", "arrangement": "casip", "scenario": "current-law"},
    ]
    p = d / "in.jsonl"
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return p


BAD = {  # input line → reason prefix
    6: "unknown arrangement 'no-such-deal'",
    7: "bad date '2026-02-30'",
    8: "unknown scenario 'no-such-scenario'",
    9: "bad overlay: ",
    10: "bad overlay: bogus",
    11: "unparsable line",
}


def read_csv(p: Path) -> list[dict[str, str]]:
    with p.open(newline="") as f:
        return list(csv.DictReader(f))


def batch(*args: str) -> int:
    return main(["batch", *args, "--as-of", AS_OF, "--progress", "none"])


def test_in_process_csv_jsonl_parquet_match_engine(tmp_path: Path, engine: Engine) -> None:
    inp = shipped_input(tmp_path)
    scen = [s.id for s in engine.scenarios.scenarios]
    rules = [r.id for r in engine.pack.rules]
    outs = {}
    for ext in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"out.{ext}"
        assert batch(str(inp), "-o", str(out)) == 1  # some rows failed
        assert not (tmp_path / f"out.{ext}.journal").exists()
        outs[ext] = out
    rows = read_csv(outs["csv"])
    # 3 ids + 2 overlays under every scenario, plus one row asking for current-law only
    assert len(rows) == 5 * len(scen) + 1
    assert list(rows[0]) == [
        "row",
        "row_id",
        "arrangement",
        "overlay",
        "scenario",
        "as_of",
        "status",
        "technology",
        "technology_band",
        "equity",
        "equity_band",
        "policy",
        "policy_band",
        "overall",
        "overall_band",
        "confidence",
        "verdicts",
        "credit_usd_min",
        "credit_usd_max",
        "missing_facts",
        "dataset_version",
        "pack_version",
        *rules,
    ]
    assert [r["scenario"] for r in rows[: len(scen)]] == scen
    assert {r["row_id"] for r in rows} == {"g0", "g1", "g2", "ov1", "ov2", "c1"}
    on = dt.date.fromisoformat(AS_OF)
    for r in rows:
        if r["overlay"]:
            continue
        s = engine.score(r["arrangement"], on, r["scenario"], view=View.BASIC)
        assert r["verdicts"] == ";".join(f"{v.rule}={v.verdict.value}" for v in s.verdicts)
        assert r["us-45x"] == s.verdict("us-45x").verdict.value
        assert r["overall"] == f"{s.overall.score:.1f}" and r["equity_band"] == s.equity.band
        assert r["dataset_version"] == engine.dataset.version
    ov2 = [r for r in rows if r["row_id"] == "ov2"]
    assert ov2[0]["overlay"] == "lrs-us-carmaker-2026" and ov2[0]["as_of"] == "2026-12-01"
    assert (
        ov2[0]["arrangement"] == "catl-lrs"
        and "+lrs-us-carmaker-2026:" in ov2[0]["dataset_version"]
    )
    # JSONL and Parquet: the same rows, typed
    js = [json.loads(line) for line in outs["jsonl"].read_text().splitlines()]
    table = pq.read_table(outs["parquet"]).to_pylist()
    assert js == table
    assert len(js) == len(rows) and js[0]["row"] == 1 and isinstance(js[0]["overall"], float)
    assert [str(x["row"]) for x in js] == [r["row"] for r in rows]
    assert [x["us-45x"] for x in js] == [r["us-45x"] for r in rows]
    assert not (tmp_path / "out.parquet.parts").exists()


def test_bad_rows_go_to_the_errors_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inp = shipped_input(tmp_path)
    out = tmp_path / "o.csv"
    assert batch(str(inp), "-o", str(out), "--scenario", "current-law") == 1
    err = capsys.readouterr().err
    assert "12 rows in, 6 scored (6 output rows), 6 errors" in err
    errors = read_csv(tmp_path / "o.csv.errors.csv")
    assert [int(e["row"]) for e in errors] == sorted(BAD)
    for e in errors:
        assert e["reason"].startswith(BAD[int(e["row"])]), e
    assert errors[0]["row_id"] == "x1" and errors[0]["arrangement"] == "no-such-deal"
    assert [r["row_id"] for r in read_csv(out)] == ["g0", "g1", "g2", "ov1", "ov2", "c1"]
    # CSV input: an overlay as a JSON string column; a clean batch exits 0
    cin = tmp_path / "in.csv"
    ov = json.dumps({"arrangement": "ford-marshall", "id": "v1"})
    with cin.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerows([["row_id", "arrangement", "overlay"], ["a", "casip", ""], ["b", "", ov]])
    assert batch(str(cin), "-o", str(tmp_path / "c.jsonl"), "--scenario", "current-law") == 0
    got = [json.loads(x) for x in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert [(g["row"], g["arrangement"], g["overlay"]) for g in got] == [
        (2, "casip", ""),
        (3, "ford-marshall", "v1"),
    ]
    assert read_csv(tmp_path / "c.jsonl.errors.csv") == []


def test_usage_and_input_errors(tmp_path: Path) -> None:
    inp = shipped_input(tmp_path)
    out = tmp_path / "o.csv"
    assert batch(str(inp), "-o", str(out), "--scenarios", "current-law,nope") == 2
    assert batch(str(tmp_path / "missing.jsonl"), "-o", str(out)) == 3
    assert batch(str(inp), "-o", str(tmp_path / "o.xlsx")) == 2
    assert batch(str(inp), "-o", str(out), "--data", str(tmp_path / "nodata")) == 3
    assert batch(str(inp), "-o", str(out), "--scenario", "current-law") == 1
    assert batch(str(inp), "-o", str(out)) == 2  # exists: neither --resume nor --force
    assert batch(str(inp), "-o", str(out), "--resume") == 2  # finished: nothing to resume
    assert batch(str(inp), "-o", str(out), "--force", "--scenario", "current-law") == 1


def synth_input(d: Path, data: Path, n: int) -> Path:
    ids = sorted(json.loads(line)["id"] for line in (data / "synth.arrangements.jsonl").open())
    p = d / "synth-in.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row_id", "arrangement"])
        w.writerows([f"r{i}", ids[i % len(ids)]] for i in range(n))
        w.writerow(["bad", "not-there"])
    return p


def sorted_lines(p: Path) -> list[str]:
    return sorted(p.read_text().splitlines())


SYNTH_OPTS = ["--scenarios", "current-law,no-licensing-test"]


@pytest.fixture(scope="module")
def synth_ref(synth: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The synthetic input and its in-process output (the reference for other engines)."""
    d = tmp_path_factory.mktemp("synth-ref")
    inp = synth_input(d, synth, 40)
    ref = d / "ref.csv"
    assert batch(str(inp), "-o", str(ref), "--data", str(synth), *SYNTH_OPTS) == 1
    assert len(read_csv(ref)) == 80
    return inp, ref


@pytest.mark.parametrize("engine_args", [["--workers", "2"], ["--dask-local", "2"]])
def test_workers_and_dask_match_in_process(
    tmp_path: Path, synth: Path, synth_ref: tuple[Path, Path], engine_args: list[str]
) -> None:
    inp, ref = synth_ref
    got = tmp_path / "got.csv"
    args = ["--data", str(synth), *SYNTH_OPTS, *engine_args, "--chunk-size", "7"]
    assert batch(str(inp), "-o", str(got), *args) == 1
    assert sorted_lines(got) == sorted_lines(ref)
    assert got.read_bytes() == ref.read_bytes()  # written in input order whatever the engine
    assert sorted_lines(tmp_path / "got.csv.errors.csv") == sorted_lines(
        ref.with_name("ref.csv.errors.csv")
    )


def test_local_dask_workers_run_without_the_profiler(synth: Path) -> None:
    """``--dask-local`` starts its workers without the statistical profiler and with a slow
    event-loop tick (nothing reads them without a dashboard; both take the GIL from scoring);
    the configuration of the process that started the cluster is left as it was."""
    import dask

    from georisk.batch.engines import LOCAL_DASK_CONFIG, Dask

    before = {k: dask.config.get(k) for k in LOCAL_DASK_CONFIG}
    d = Dask(None, 1, str(synth), "us", False)
    try:
        got = d.client.run(lambda: {k: dask.config.get(k) for k in LOCAL_DASK_CONFIG})
    finally:
        d.close()
    assert list(got.values()) == [LOCAL_DASK_CONFIG]
    assert {k: dask.config.get(k) for k in LOCAL_DASK_CONFIG} == before
    assert before["distributed.worker.profile.enabled"] is True  # dask's default, untouched


def test_remote_engine_matches_in_process(tmp_path: Path, server: ServerThread) -> None:
    inp = shipped_input(tmp_path)
    ref, got = tmp_path / "ref.csv", tmp_path / "got.csv"
    ex = tmp_path / "ex.jsonl"
    assert batch(str(inp), "-o", str(ref)) == 1
    assert batch(str(inp), "-o", str(got), "--target", server.target, "--chunk-size", "4") == 1
    assert sorted_lines(got) == sorted_lines(ref)
    ref_err = read_csv(tmp_path / "ref.csv.errors.csv")
    got_err = read_csv(tmp_path / "got.csv.errors.csv")
    assert [(e["row"], e["reason"].split(":")[0]) for e in got_err] == [
        (e["row"], e["reason"].split(":")[0]) for e in ref_err
    ]
    # explanations: one full score per output row
    out = tmp_path / "one.jsonl"
    assert (
        batch(
            str(inp),
            "-o",
            str(out),
            "--target",
            server.target,
            "--scenario",
            "current-law",
            "--explanations",
            str(ex),
        )
        == 1
    )
    docs = [json.loads(x) for x in ex.read_text().splitlines()]
    assert len(docs) == len(out.read_text().splitlines()) == 6
    assert docs[0]["row_id"] == "g0" and docs[0]["score"]["scenarios"]


def test_resume_after_kill_9(tmp_path: Path) -> None:
    lines = [json.dumps({"row_id": f"r{i}", "arrangement": GOOD[i % 3]}) for i in range(600)]
    lines[77] = "{broken"
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    ref = tmp_path / "ref.csv"
    opts = ["--scenario", "current-law", "--as-of", AS_OF, "--progress", "none"]
    assert main(["batch", str(inp), "-o", str(ref), *opts]) == 1

    out = tmp_path / "out.csv"
    journal = tmp_path / "out.csv.journal"
    cmd = [str(GEORISK), "batch", str(inp), "-o", str(out), *opts, "--chunk-size", "10"]
    env = {**os.environ, "GEORISK_DATA": str(DATA)}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.exists() and any(
                json.loads(x)["rows_done"] > 0 for x in journal.read_text().splitlines()[1:]
            ):
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, "the batch finished before it could be killed"
    last = json.loads(journal.read_text().splitlines()[-1])
    assert 0 < last["rows_done"] < 600
    # a half-written chunk after the last commit (as a crash mid-write leaves it)
    with out.open("ab") as f:
        f.write(b"999,torn,half-written-row")
    assert main(["batch", str(inp), "-o", str(out), *opts]) == 2  # refuses to overwrite
    assert main(["batch", str(inp), "-o", str(out), *opts, "--resume"]) == 1
    assert not journal.exists()
    assert out.read_bytes() == ref.read_bytes()
    rows = read_csv(out)
    assert len(rows) == 599 and len({r["row"] for r in rows}) == 599
    assert (tmp_path / "out.csv.errors.csv").read_bytes() == (
        tmp_path / "ref.csv.errors.csv"
    ).read_bytes()


def test_resume_parquet_parts(tmp_path: Path) -> None:
    """A Parquet batch cut short resumes from its committed part files."""
    lines = [json.dumps({"arrangement": GOOD[i % 3]}) for i in range(30)]
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    opts = ["--scenario", "current-law", "--chunk-size", "4"]
    ref, out = tmp_path / "ref.parquet", tmp_path / "out.parquet"
    assert batch(str(inp), "-o", str(ref), *opts) == 0
    cut = _interrupted_parquet(inp, out, opts, after_chunks=3)
    assert cut["parts"] == 3 and cut["rows_done"] == 12
    assert batch(str(inp), "-o", str(out), *opts, "--resume") == 0
    assert pq.read_table(out).to_pylist() == pq.read_table(ref).to_pylist()
    assert not (tmp_path / "out.parquet.parts").exists()


def _interrupted_parquet(
    inp: Path, out: Path, opts: list[str], after_chunks: int
) -> dict[str, Any]:
    """Run a batch to the end, then rewind its state to the record after ``after_chunks``."""
    journal = out.with_name(out.name + ".journal")
    parts = out.with_name(out.name + ".parts")
    import georisk.batch.sink as b

    real = b.Sink.finish

    def no_finish(self: Any, elapsed: float) -> None:  # crash before the merge
        self.close()

    b.Sink.finish = no_finish  # type: ignore[method-assign]
    try:
        assert batch(str(inp), "-o", str(out), *opts) == 0
    finally:
        b.Sink.finish = real  # type: ignore[method-assign]
    records = [json.loads(x) for x in journal.read_text().splitlines()]
    rec: dict[str, Any] = records[after_chunks]
    journal.write_text("".join(json.dumps(r) + "\n" for r in records[: after_chunks + 1]))
    journal.write_text(journal.read_text() + '{"v": 1, "rows_d')  # a torn record
    assert len(list(parts.glob("*.parquet"))) > rec["parts"]  # later parts get dropped
    return rec


def test_example_batch_client(tmp_path: Path, server: ServerThread) -> None:
    ids = tmp_path / "ids.csv"
    ids.write_text("arrangement\ngotion-manteno-il\nno-such-deal\nford-marshall\n")
    out = tmp_path / "res.csv"
    assert client_run(server.target, ids, out) == 1
    rows = read_csv(out)
    assert [r["arrangement"] for r in rows] == [
        "gotion-manteno-il",
        "no-such-deal",
        "ford-marshall",
    ]
    assert rows[0]["us_45x"] == "not_eligible" and rows[0]["equity_band"] == "high"
    assert rows[1]["error"] and not rows[1]["overall"]
    ids.write_text("arrangement\ncasip\n")
    assert client_run(server.target, ids, out) == 0
    assert client_run("127.0.0.1:1", ids, out) == 3  # nothing listens there


def test_synth_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["synth", str(tmp_path / "s"), "--entities", "300", "--arrangements", "5"])
    stats = json.loads(capsys.readouterr().out)
    assert code == 0 and stats["entities"] == 300 and stats["arrangements"] == 5
    assert main(["synth", str(tmp_path / "t"), "--entities", "10"]) == 2
    assert "at least 200" in capsys.readouterr().err


def test_plain_progress_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default progress (``auto``) on a stderr that is not a terminal: plain lines. In
    process: capsys's stderr is no terminal either, as a pipe from a subprocess was."""
    monkeypatch.setenv("GEORISK_DATA", str(DATA))
    inp = shipped_input(tmp_path)
    assert main(["batch", str(inp), "-o", str(tmp_path / "o.csv"), "--as-of", AS_OF]) == 1
    err = capsys.readouterr().err
    assert "progress: " in err and "rows/s" in err
    assert "done: 12 rows in, 6 scored" in err


# --------------------------------------------------------------------------- one overlay parser

BAD_OVERLAY = "arrangement: casip\nbogus: 1\nremove: {links: not-a-list}\nadd: {plants: []}\n"


def _reasons(text: str) -> list[str]:
    """``field: problem`` parts of a batch reason or of the CLI's error lines."""
    return sorted(p.strip() for p in text.split(";") if p.strip())


def test_a_bad_overlay_gets_the_same_field_reasons_from_the_cli_and_a_batch_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_OVERLAY)
    assert main(["score", str(DATA), "--overlay", str(bad), "--as-of", AS_OF]) == 3
    lines = capsys.readouterr().err.splitlines()
    cli = sorted(line.removeprefix("error: bad.yaml: ") for line in lines)
    assert len(cli) == 3 and all(line.startswith("error: bad.yaml: ") for line in lines), lines
    assert any(c.startswith("bogus: ") for c in cli) and any("remove.links" in c for c in cli)

    inp = tmp_path / "in.csv"
    with inp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row_id", "arrangement", "overlay", "overlay_file"])
        w.writerow(["file", "", "", "bad.yaml"])
        w.writerow(["cell", "", BAD_OVERLAY, ""])
        w.writerow(["json", "", json.dumps(yaml.safe_load(BAD_OVERLAY)), ""])
    assert batch(str(inp), "-o", str(tmp_path / "o.csv")) == 1
    errs = {e["row_id"]: e["reason"] for e in read_csv(tmp_path / "o.csv.errors.csv")}
    assert errs["file"].startswith("bad overlay bad.yaml: ")
    assert _reasons(errs["file"].removeprefix("bad overlay bad.yaml: ")) == cli
    for row in ("cell", "json"):  # inline: YAML or JSON text, the same parser, the same reasons
        assert _reasons(errs[row].removeprefix("bad overlay: ")) == cli, errs[row]


def test_the_row_arrangement_fills_in_or_must_agree_as_on_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ov.yaml").write_text("id: v1\nremove: {links: []}\n")  # no arrangement
    (tmp_path / "casip.yaml").write_text("arrangement: casip\n")
    rows = [
        {"row_id": "fill", "arrangement": "ford-marshall", "overlay_file": "ov.yaml"},
        {"row_id": "clash", "arrangement": "ford-marshall", "overlay_file": "casip.yaml"},
        {"row_id": "inline", "arrangement": "casip", "overlay": "{id: v2}"},
        {"row_id": "none", "overlay_file": "ov.yaml"},
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "o.jsonl"
    assert batch(str(inp), "-o", str(out), "--scenario", "current-law") == 1
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(g["row_id"], g["arrangement"], g["overlay"]) for g in got] == [
        ("fill", "ford-marshall", "v1"),
        ("inline", "casip", "v2"),
    ]
    errs = {e["row_id"]: e["reason"] for e in read_csv(tmp_path / "o.jsonl.errors.csv")}
    clash = "arrangement: the document is for 'casip' but 'ford-marshall' was asked for"
    assert errs["clash"] == f"bad overlay casip.yaml: {clash}"
    assert errs["none"] == "bad overlay ov.yaml: arrangement: Field required"
    # the CLI's --arrangement plays the row's part
    ov = str(tmp_path / "casip.yaml")
    code = main(["score", str(DATA), "--overlay", ov, "--arrangement", "ford-marshall"])
    assert code == 3 and f"error: casip.yaml: {clash}" in capsys.readouterr().err
    code = main(
        [
            "score",
            str(DATA),
            "--overlay",
            str(tmp_path / "ov.yaml"),
            "--as-of",
            AS_OF,
            "--arrangement",
            "ford-marshall",
            "--format",
            "json",
            "--view",
            "basic",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["results"][0]["arrangement"]["id"] == "ford-marshall"


@pytest.mark.parametrize("engine_args", [[], ["--workers", "2"], ["--target"]])
def test_every_pack_scores_each_row_under_the_scenarios_that_apply_to_it(
    tmp_path: Path, engine_args: list[str], request: pytest.FixtureRequest
) -> None:
    """`georisk batch --pack all` without a scenario: a row gets one output row per scenario
    that applies to its arrangement (the primary pack's, then those of the further packs whose
    nexus it has), as `Engine.scenario_list` says; a further pack's scenario asked for on a
    deal it does not reach is that row's error, saying so. (Before: every row failed with
    "unknown scenario", and forked workers crashed preparing the further packs' scenarios.)
    The same from a server scoring with every pack (`--target`; before: the primary pack's
    scenarios only, whatever the server's packs)."""
    pack = ["--pack", "all"]
    if engine_args == ["--target"]:  # the server's packs: every one
        engine_args, pack = ["--target", request.getfixturevalue("server_all").target], []
    ids = ["stellantis-catl-zaragoza", "ford-marshall", "catl-hungary-debrecen"]
    inp = tmp_path / "in.csv"
    inp.write_text("arrangement\n" + "\n".join(ids) + "\n")
    out = tmp_path / "out.csv"
    assert batch(str(inp), "-o", str(out), *pack, *engine_args) == 0
    eng = Engine.from_dir(DEFAULT_DATA, "all")
    got: dict[str, list[str]] = {}
    for r in read_csv(out):
        got.setdefault(r["arrangement"], []).append(r["scenario"])
    assert got == {a: [s.id for s in eng.scenario_list(a)] for a in ids}
    assert len(got["catl-hungary-debrecen"]) > len(got["ford-marshall"])  # the EU pack applies
    assert read_csv(tmp_path / "out.csv.errors.csv") == []
    eu_only = next(
        s.id for s in eng.scenario_list("catl-hungary-debrecen") if s.id not in got["ford-marshall"]
    )
    inp.write_text(f"arrangement,scenario\nford-marshall,{eu_only}\n")
    assert batch(str(inp), "-o", str(out), *pack, "--force", *engine_args) == 1
    (err,) = read_csv(tmp_path / "out.csv.errors.csv")
    assert err["reason"] == (
        f"scenario {eu_only!r} does not apply to arrangement 'ford-marshall': "
        "policy pack 'eu' has no nexus with it"
    )


def test_remote_engine_on_a_server_of_every_pack_matches_in_process(
    tmp_path: Path, server_all: ServerThread
) -> None:
    """`georisk batch --target` against a server scoring with every pack (`georisk serve`'s
    default) writes the rows `georisk batch --pack all` writes in process: every pack's rule
    columns, each row under the scenarios that apply to its arrangement, the same scores.
    (Before: the primary pack's scenarios and rule columns only.)"""
    ids = ["stellantis-catl-zaragoza", "ford-marshall", "catl-hungary-debrecen", "no-such-deal"]
    rows: list[dict[str, Any]] = [{"arrangement": a} for a in ids]
    for a in ("catl-hungary-debrecen", "ford-marshall"):  # what-if rows: SimulateOverlay
        rows.append({"overlay": {"id": f"what-if-{a}", "arrangement": a, "remove": {"links": []}}})
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ref, got = tmp_path / "ref.csv", tmp_path / "got.csv"
    assert batch(str(inp), "-o", str(ref), "--pack", "all") == 1
    assert batch(str(inp), "-o", str(got), "--target", server_all.target) == 1
    assert sorted_lines(got) == sorted_lines(ref)
    head = got.read_text().splitlines()[0].split(",")
    eng = Engine.from_dir(DEFAULT_DATA, "all")
    rule_cols = [r.id for ps in eng.packs for r in ps.pack.rules]  # every pack's rules
    assert head[-len(rule_cols) :] == rule_cols
    assert (
        read_csv(tmp_path / "got.csv.errors.csv")[0]["reason"]
        == "unknown arrangement 'no-such-deal'"
    )


@pytest.mark.parametrize("local", [["--pack", "eu"], ["--data", "x"]])
def test_a_remote_batch_refuses_the_options_of_a_local_dataset(
    tmp_path: Path, local: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--pack` and `--data` choose a local engine's dataset and packs: with `--target` the
    server's are used, so giving them is a usage error (exit 2) saying so, not ignored."""
    inp = tmp_path / "in.csv"
    inp.write_text("arrangement\nford-marshall\n")
    out = tmp_path / "out.csv"
    assert batch(str(inp), "-o", str(out), "--target", "127.0.0.1:1", *local) == 2
    err = capsys.readouterr().err
    assert f"error: {local[0]} does not go with --target" in err and "server's" in err
    assert not out.exists()


def test_several_packs_give_a_column_per_rule_of_each(tmp_path: Path) -> None:
    """`georisk batch --pack us,eu,uk` (as `score --pack`): one column per rule of every pack;
    a European deal gets its EU verdicts there, a US one none (no nexus: not applicable)."""
    inp = tmp_path / "in.csv"
    inp.write_text(
        "arrangement,scenario\nstellantis-catl-zaragoza,current-law\nford-marshall,current-law\n"
    )
    out = tmp_path / "out.csv"
    assert batch(str(inp), "-o", str(out), "--pack", "us,eu,uk") == 0
    rows = {r["arrangement"]: r for r in read_csv(out)}
    eng = Engine.from_dir(DEFAULT_DATA, "us,eu,uk")
    cols = [r.id for ps in eng.packs for r in ps.pack.rules]
    assert list(next(iter(rows.values())))[-len(cols) :] == cols
    want = eng.score("stellantis-catl-zaragoza", dt.date.fromisoformat(AS_OF), "current-law")
    got = {v.rule: v.verdict.value for v in want.verdicts}
    assert rows["stellantis-catl-zaragoza"]["eu-fsr-concentration"] == got["eu-fsr-concentration"]
    assert rows["ford-marshall"]["eu-fsr-concentration"] == ""  # the EU pack did not apply
