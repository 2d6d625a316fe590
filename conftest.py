"""Pytest guard for the whole checkout: every module is imported once, under its georisk.* name.

``scoring/``, ``server/`` and ``data/`` are linked into the package as ``georisk.scoring``,
``georisk.server`` and ``georisk.data`` (ARCHITECTURE.md). Given the real path of a module
(``pytest scoring/engine.py``), pytest would import it as ``scoring.engine``: a second copy with
its own classes and state beside ``georisk.scoring.engine``. This file sits at the root so that
pytest loads it for any path it is given; the fixtures live in ``tests/conftest.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
BARE = ("scoring", "server", "data")


def modules_under_two_names() -> list[str]:
    """The checkout's modules loaded under two names, or under a bare ``scoring``/``server`` name.

    Installed packages (``.venv``, any dot-directory) are not looked at.
    """
    by_file: dict[Path, list[str]] = {}
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if f is None:
            continue
        path = Path(f).resolve()
        if path.is_relative_to(REPO) and not path.relative_to(REPO).parts[0].startswith("."):
            by_file.setdefault(path, []).append(name)
    return sorted(
        f"{path.relative_to(REPO)} as {' and '.join(sorted(names))}"
        for path, names in by_file.items()
        if len(names) > 1 or any(n.split(".")[0] in BARE for n in names)
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """After collection (doctests included): refuse a module imported under a second name."""
    twice = modules_under_two_names()
    if twice:
        raise pytest.UsageError(
            "modules imported under a second or bare name: "
            + "; ".join(twice)
            + " (give pytest georisk/scoring/…, georisk/server/…, not scoring/…, server/…)"
        )
