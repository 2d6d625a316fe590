"""Ownership data in and out of georisk: foreign formats (BODS 0.4, FollowTheMoney, GLEIF,
official lists) imported as the project's dataset format, and exported back.

* :mod:`.core`: the common shape of an import (:class:`Imported`, :class:`Rejected`, ids, shares);
* :mod:`.write`: the atomic writer of an imported dataset (and merging into an existing one);
* :mod:`.bods`: BODS 0.4 statements in (validated with the official schema), :mod:`.bods_out` out;

:data:`IMPORTERS` names the reader of each format ``georisk import`` accepts (a function of the
source paths returning an :class:`~georisk.interop.core.Imported`); a new format is one line.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from georisk.interop.core import Imported

__all__ = ["IMPORTERS", "importer"]

#: format → "module:function" (imported only when the format is used)
IMPORTERS: dict[str, str] = {
    "bods": "georisk.interop.bods:import_bods",
    "ftm": "georisk.interop.ftm:read_ftm",
    "gleif": "georisk.interop.gleif:read_gleif_files",
    "lists": "georisk.interop.lists:read_lists_csv",
}


def importer(fmt: str) -> Callable[[Sequence[Path]], Imported]:
    """The reader of format ``fmt`` (a key of :data:`IMPORTERS`)."""
    module, _, name = IMPORTERS[fmt].partition(":")
    return cast(
        "Callable[[Sequence[Path]], Imported]", getattr(importlib.import_module(module), name)
    )
