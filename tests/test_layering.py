"""scoring/ is the pure domain library: importing all of it never loads gRPC or protobuf."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_scoring_never_imports_grpc() -> None:
    code = (
        "import importlib, pkgutil, sys, scoring\n"
        "for m in pkgutil.iter_modules(scoring.__path__):\n"
        "    importlib.import_module('scoring.' + m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('grpc', 'google', 'server'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
