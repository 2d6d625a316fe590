"""The layout keeps its layers (ARCHITECTURE.md): checked on the source, module by module.

- ``georisk.scoring`` is the domain: it never imports gRPC, protobuf, the server, the CLI side
  (batch engines, synthetic data), Dask, multiprocessing or tqdm, not even lazily.
- ``georisk.server`` translates between protobuf and the domain; it never imports the CLI side.
- ``georisk.store`` (the durable store) builds on the domain; it never imports gRPC, the server
  or the CLI side, and the domain never imports it.
- Every import names ``georisk.…``: the repository's ``scoring``/``server`` directories are never
  imported under their bare names (one module, one name).
- No module imports a private name (``_x``) from another package, and the imports between
  modules (lazy ones included) form no cycle.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from tests.conftest import REPO

PKG = REPO / "georisk"


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    # os.walk, not Path.rglob: georisk/scoring and georisk/server are links (ARCHITECTURE.md)
    paths = [Path(d, f) for d, _, fs in os.walk(PKG, followlinks=True) for f in fs]
    for path in sorted(p for p in paths if p.suffix == ".py"):
        rel = path.relative_to(PKG).with_suffix("")
        parts = ("georisk", *rel.parts)
        if parts[1] == "v1":  # generated code
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, name: str, is_pkg: bool) -> list[tuple[str, list[str], bool]]:
    """(module, names imported from it, under TYPE_CHECKING) for every import statement."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found: list[tuple[str, list[str], bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], id(node) in typing_only) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name if is_pkg else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{base}" if base else pkg
            found.append((base, [a.name for a in node.names], id(node) in typing_only))
    return found


MODULES = _modules()
IMPORTS = {m: _imports(p, m, p.name == "__init__.py") for m, p in MODULES.items()}


def _resolve(target: str, names: list[str]) -> list[str]:
    """The georisk modules an import statement loads (``from pkg import mod`` loads pkg.mod)."""
    out = [target] if target in MODULES else []
    out += [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
    return out


def test_domain_and_server_stay_in_their_layer() -> None:
    forbidden = {
        "georisk.scoring": (
            "grpc",
            "grpc_health",
            "grpc_reflection",
            "grpc_status",
            "google",
            "georisk.v1",
            "georisk.server",
            "georisk.store",
            "georisk.cli",
            "georisk.client",
            "georisk.batch",
            "georisk.synth",
            "dask",
            "distributed",
            "multiprocessing",
            "concurrent.futures.process",
            "tqdm",
        ),
        "georisk.server": ("georisk.cli", "georisk.batch", "georisk.synth", "dask", "tqdm"),
        # pictures (docs/explain.md): domain-side, beside interop; cli, batch and the server
        # import it, it imports scoring and interop only
        "georisk.render": (
            "grpc",
            "google",
            "georisk.v1",
            "georisk.server",
            "georisk.store",
            "georisk.cli",
            "georisk.client",
            "georisk.batch",
            "georisk.synth",
            "dask",
            "tqdm",
        ),
        # the store: a domain library on SQLAlchemy; the server imports it, never the reverse
        "georisk.store": (
            "grpc",
            "google",
            "georisk.v1",
            "georisk.server",
            "georisk.cli",
            "georisk.client",
            "georisk.batch",
            "georisk.synth",
            "dask",
            "tqdm",
        ),
    }
    bad = []
    for mod, imports in IMPORTS.items():
        for layer, banned in forbidden.items():
            if mod != layer and not mod.startswith(layer + "."):
                continue
            for target, _, _ in imports:
                if any(target == b or target.startswith(b + ".") for b in banned):
                    bad.append(f"{mod} imports {target}")
    assert not bad, bad


def test_everything_is_imported_under_the_georisk_name() -> None:
    bare = [
        f"{mod} imports {target}"
        for mod, imports in IMPORTS.items()
        for target, _, _ in imports
        if target.split(".")[0] in ("scoring", "server")
    ]
    assert not bare, bare


def test_no_private_name_crosses_a_package() -> None:
    bad = []
    for mod, imports in IMPORTS.items():
        here = mod if MODULES[mod].name == "__init__.py" else mod.rpartition(".")[0]
        for target, names, _ in imports:
            if not target.startswith("georisk"):
                continue
            there = (
                target
                if target in MODULES and MODULES[target].name == "__init__.py"
                else (target.rpartition(".")[0])
            )
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            private += [p for p in target.split(".") if p.startswith("_")]
            if private and here != there:
                bad.append(f"{mod} imports {private} from {target}")
    assert not bad, bad


def test_module_imports_form_no_cycle() -> None:
    g = nx.DiGraph()
    g.add_nodes_from(MODULES)
    for mod, imports in IMPORTS.items():
        for target, names, typing_only in imports:
            if typing_only:
                continue
            for dep in _resolve(target, names):
                # a package and its own modules (re-exports, `from pkg import mod`) are one unit
                if not (dep.startswith(mod + ".") or mod.startswith(dep + ".") or dep == mod):
                    g.add_edge(mod, dep)
    cycles = list(nx.simple_cycles(g, length_bound=6))
    assert not cycles, cycles[:5]


def test_importing_the_domain_loads_no_grpc() -> None:
    """What the source check above cannot see: the imports of third-party modules."""
    code = (
        "import importlib, sys\n"
        f"for m in {sorted(m for m in MODULES if m.startswith('georisk.scoring'))!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('grpc', 'google', 'dask', 'distributed', 'tqdm') or n.startswith('georisk.server'))\n"
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


def test_pytest_refuses_a_module_under_its_bare_name() -> None:
    """The root conftest.py: ``pytest scoring/x.py`` would import ``scoring.x`` beside
    ``georisk.scoring.x``; collection stops with a message naming both paths to use. (The same
    guard passing on every run of the suite shows that ``georisk/scoring/x.py`` is fine.)"""
    mod = sorted(p.name for p in (REPO / "scoring").glob("*.py") if p.name != "__init__.py")[0]
    # without the hypothesis plugin (~0.7 s of imports): the guard is the root conftest.py's
    cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    cmd += ["-p", "no:hypothesispytest"]
    bare = subprocess.run(
        [*cmd, f"scoring/{mod}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bare.returncode == pytest.ExitCode.USAGE_ERROR, bare.stdout + bare.stderr
    assert f"scoring/{mod} as scoring.{mod[:-3]}" in bare.stderr
    assert "georisk/scoring/" in bare.stderr


def test_architecture_map_names_every_module() -> None:
    """ARCHITECTURE.md is the map: a module missing from its tree is a module without a place."""
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    missing = [
        m
        for m, p in MODULES.items()
        if p.name != "__init__.py" and m.rpartition(".")[2] not in words
    ]
    missing += [
        m
        for m, p in MODULES.items()
        if p.name == "__init__.py" and m.rpartition(".")[2] not in words
    ]
    assert not missing, f"ARCHITECTURE.md does not place: {missing}"
