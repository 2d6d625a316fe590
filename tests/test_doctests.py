"""The worked examples in the library's docstrings are tests too."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "scoring.interval",
    "scoring.model",
    "scoring.dataset",
    "scoring.graph",
    "scoring.policy",
    "scoring.overlay",
    "scoring.score",
    "scoring.engine",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
