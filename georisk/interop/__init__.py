"""Ownership data in and out of georisk: foreign formats (BODS 0.4, FollowTheMoney, GLEIF,
official lists) imported as the project's dataset format, and exported back.

* :mod:`.core`: the common shape of an import (:class:`Imported`, :class:`Rejected`, ids, shares);
* :mod:`.write`: the atomic writer of an imported dataset (and merging into an existing one);
* :mod:`.bods`: BODS 0.4 statements in (validated with the official schema), :mod:`.bods_out` out;
* :mod:`.ftm_out`: FollowTheMoney entities out; :mod:`.graph_out`: GraphML and GEXF out.

:data:`IMPORTERS` names the reader of each format ``georisk import`` accepts (a function of the
source paths returning an :class:`~georisk.interop.core.Imported`); a new format is one line.
:data:`EXPORTERS` names the writer of each format ``georisk export`` writes (a function of the
dataset, the date and the output path returning an :class:`Exported`).
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from georisk.interop.core import Imported
    from georisk.scoring.dataset import Dataset

__all__ = ["EXPORTERS", "IMPORTERS", "Exported", "exporter", "importer"]

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


#: format → "module:function" of its writer (imported only when the format is used)
EXPORTERS: dict[str, str] = {
    "bods": "georisk.interop.bods_out:write_bods",
    "ftm": "georisk.interop.ftm_out:write_ftm",
    "gexf": "georisk.interop.graph_out:write_gexf",
    "graphml": "georisk.interop.graph_out:write_graphml",
}


@dataclass
class Exported:
    """What one export wrote: how many records of what (``12 BODS 0.4 statements``) and notes on
    what the format could not carry (kept in the dataset, not in the file)."""

    count: int
    what: str
    notes: list[str] = field(default_factory=list)


def exporter(fmt: str) -> Callable[[Dataset, dt.date, Path], Exported]:
    """The writer of format ``fmt`` (a key of :data:`EXPORTERS`): ``(dataset, date, path)``;
    raises RuntimeError when the library it needs is not installed (ftm: an extra)."""
    module, _, name = EXPORTERS[fmt].partition(":")
    return cast(
        "Callable[[Dataset, dt.date, Path], Exported]",
        getattr(importlib.import_module(module), name),
    )
