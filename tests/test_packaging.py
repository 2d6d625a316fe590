"""georisk installs like any Python service: a wheel, a venv, the ``georisk`` command.

From a clean copy of the checkout (the files git tracks, so an untracked file cannot help), the
wheel is built offline with the dev venv's setuptools; its file list is checked; it is installed
with ``--no-deps`` into a fresh venv that sees its dependencies (not georisk) through a ``.pth``
file naming the dev venv's site-packages (``.pth`` lines are not scanned for further ``.pth``
files, so the dev venv's editable install does not come along). Then, from a directory outside
the checkout: ``georisk validate``, ``score``, ``batch``, ``serve`` on 127.0.0.1 port 0, and a
health check and a ScoreArrangement through the installed ``georisk.client``; every georisk
module loaded must come from the fresh venv. Offline, loopback only, every wait bounded.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # ~15 s: a wheel build, a venv, five processes

AS_OF = "2026-11-22"
DEAL = "gotion-manteno-il"


@dataclass(frozen=True)
class Installed:
    src: Path  # the clean copy the wheel was built from
    wheel: Path
    venv: Path
    site: Path  # the fresh venv's site-packages (where georisk must come from)
    work: Path  # a directory outside the checkout, the cwd of every command
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "georisk"), *args],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def python(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code, *args],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def _clean_copy(dst: Path) -> None:
    """The files git tracks (symbolic links kept as links), as they are in the work tree."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.fail("tests/test_packaging.py needs the git checkout (git ls-files)")
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=30
    ).stdout.decode()
    for name in filter(None, names.split("\0")):
        src, out = REPO / name, dst / name
        if not os.path.lexists(src):  # deleted in the work tree, not yet committed
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            out.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, out)


def _pip(*args: str) -> None:
    """The dev venv's pip, offline (``--no-index``), quiet unless it fails."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-m", "pip", *args, "--no-index", "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert r.returncode == 0, f"{' '.join(cmd)}: {r.stdout}{r.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("packaging")
    src, dist, venv, work = base / "src", base / "dist", base / "venv", base / "work"
    _clean_copy(src)
    assert (src / "georisk" / "scoring").is_symlink(), "git ls-files lost the package links"
    _pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dist), str(src))
    [wheel] = dist.glob("georisk-*.whl")

    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    site = Path(
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    )
    # The dependencies, and nothing of georisk: the dev venv's site-packages as a plain path.
    dev = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "georisk-test-deps.pth").write_text("".join(f"{p}\n" for p in sorted(dev)))
    _pip("--python", str(venv / "bin" / "python"), "install", "--no-deps", str(wheel))

    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GEORISK_", "PYTHON", "VIRTUAL_ENV"))
    }
    env |= {"PYTHONNOUSERSITE": "1", "PATH": f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"}
    return Installed(src, wheel, venv, site, work, env)


def test_the_wheel_holds_one_package_with_stubs_and_the_dataset(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as z:
        names = set(z.namelist())
        top = z.read(next(n for n in names if n.endswith(".dist-info/top_level.txt")))
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"georisk"}, tops  # no top-level scoring/, server/, tests/, data/
    assert top.decode().split() == ["georisk"]
    expected = {
        "georisk/py.typed",
        "georisk/cli.py",
        "georisk/client.py",
        "georisk/scoring/__init__.py",
        "georisk/scoring/engine.py",
        "georisk/server/__init__.py",
        "georisk/server/app.py",
        "georisk/data/entities.yaml",
        "georisk/data/links.yaml",
        "georisk/data/arrangements.yaml",
        "georisk/data/sources.yaml",
        "georisk/data/policies/us.yaml",
        "georisk/data/policies/us.scenarios.yaml",
    }
    for proto in ("types", "graph", "scoring"):
        expected |= {f"georisk/v1/{proto}_pb2{s}" for s in (".py", ".pyi", "_grpc.py", "_grpc.pyi")}
    assert expected <= names, sorted(expected - names)
    # every module of the checkout's package, through its links (scoring/, server/), is in the
    # wheel: a subpackage without __init__.py would be left out by the package finder
    walk = os.walk(installed.src / "georisk", followlinks=True)
    here = {
        Path(d, f).relative_to(installed.src).as_posix()
        for d, _, fs in walk
        for f in fs
        if f.endswith(".py")
    }
    assert len(here) > 30 and here <= names, sorted(here - names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_cli_validate_score_and_batch(installed: Installed) -> None:
    inp = installed.work / "in.jsonl"
    inp.write_text(
        json.dumps({"row_id": "a", "arrangement": DEAL})
        + "\n"
        + json.dumps({"row_id": "b", "arrangement": "casip", "scenario": "current-law"})
        + "\n"
    )
    commands = [
        ["validate"],
        ["score", "--arrangement", DEAL, "--format", "json", "--as-of", AS_OF],
        ["batch", str(inp), "-o", "out.csv", "--as-of", AS_OF],
    ]
    # three independent processes (only batch writes, to its own file): run side by side
    with ThreadPoolExecutor(len(commands)) as pool:
        v, s, b = pool.map(lambda argv: installed.run(*argv), commands)

    assert v.returncode == 0, v.stderr
    assert v.stdout.startswith(f"ok: {installed.site / 'georisk' / 'data'}:"), v.stdout
    assert "arrangements" in v.stdout

    assert s.returncode == 0, s.stderr
    [res] = json.loads(s.stdout)["results"]
    assert res["arrangement"]["id"] == DEAL and res["as_of"] == AS_OF
    assert res["dataset_version"].startswith("sha256:")

    assert b.returncode == 0, b.stderr
    assert "2 rows in, 2 scored" in b.stderr, b.stderr
    rows = (installed.work / "out.csv").read_text().splitlines()
    assert rows[0].startswith("row,row_id,arrangement,")
    assert {r.split(",")[1] for r in rows[1:]} == {"a", "b"}


def _serving_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0 and sel.select(left):
        line = proc.stdout.readline()
        if line.startswith("georisk serving on "):
            return line.split()[-1]
        if not line:  # stdout closed: the server exited
            break
    proc.kill()
    _, err = proc.communicate(timeout=10)
    raise AssertionError(f"georisk serve did not start: {err[-2000:]}")


def test_serve_and_call_it_with_the_installed_client(installed: Installed) -> None:
    proc = subprocess.Popen(
        [str(installed.venv / "bin" / "georisk"), "serve", "--address", "127.0.0.1:0"],
        cwd=installed.work,
        env={**installed.env, "GEORISK_GRACE_SECONDS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        target = _serving_line(proc, timeout=60)
        assert target.startswith("127.0.0.1:") and not target.endswith(":0"), target
        # one process: the calls, then where every georisk module it loaded comes from
        code = (
            "import json, sys\n"
            "import georisk.client as gc\n"
            "import georisk.cli, georisk.batch, georisk.server.app\n"
            "from georisk.scoring.engine import DEFAULT_DATA\n"
            "status = gc.health_check(sys.argv[1], timeout=10)\n"
            "with gc.GeoriskClient(sys.argv[1], timeout=30) as c:\n"
            "    s = c.score(sys.argv[2], as_of=sys.argv[3])\n"
            "mods = {n: getattr(m, '__file__', None) for n, m in sys.modules.items()\n"
            "        if n == 'georisk' or n.startswith('georisk.')}\n"
            "bare = sorted(n for n in sys.modules if n.split('.')[0] in ('scoring', 'server'))\n"
            "print(json.dumps({'status': status, 'id': s.arrangement.id,\n"
            "                  'overall': s.overall.score, 'mods': mods,\n"
            "                  'data': str(DEFAULT_DATA), 'bare': bare}))\n"
        )
        r = installed.python(code, target, DEAL, AS_OF)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert got["status"] == "SERVING"
        assert got["id"] == DEAL and 0 <= got["overall"] <= 100
        files = {n: f for n, f in got["mods"].items() if f is not None}
        loaded = {
            "georisk.client",
            "georisk.scoring.engine",
            "georisk.server.app",
            "georisk.v1.scoring_pb2",
        }
        assert loaded <= set(files), sorted(files)
        outside = {n: f for n, f in files.items() if not Path(f).is_relative_to(installed.site)}
        assert not outside, outside  # nothing from the checkout, nothing from the dev venv
        assert Path(got["data"]) == installed.site / "georisk" / "data"
        assert got["bare"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=10)
            raise
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
