"""Shared fixtures: the shipped dataset and small hand-made datasets."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from georisk.scoring.dataset import Dataset, load_dataset
from georisk.scoring.engine import Engine
from tests.pg_harness import pg_server, pg_url

# the throwaway PostgreSQL server: one per session for every test module that asks for it
__all__ = ["pg_server", "pg_url"]

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
TODAY = dt.date(2026, 11, 22)  # "current law" date of shared/domain/expected.md


@pytest.fixture(scope="session")
def shipped() -> Dataset:
    return load_dataset(DATA)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The one engine on the shipped dataset and packs, shared by the whole session.

    Tests only read it (score, graph, ownership): a test that needs another dataset, pack or a
    mutated engine builds its own.
    """
    return Engine.from_dir(DATA)


WriteDataset = Callable[..., Path]


@pytest.fixture
def write_dataset(tmp_path: Path) -> WriteDataset:
    """Write files into a fresh dataset directory: ``write_dataset(a_yaml="...", ...)``.

    Keyword names map to file names with the last underscore turned into a dot
    (``bulk_links_csv`` → ``bulk.links.csv``? no: pass ``files={"bulk.links.csv": "..."}``).
    """

    def write(files: dict[str, str]) -> Path:
        d = tmp_path / "ds"
        d.mkdir(exist_ok=True)
        for name, text in files.items():
            (d / name).write_text(textwrap.dedent(text))
        return d

    return write


BASE_YAML = """
sources:
  - {id: s1, title: Example source, url: "https://example.org/1"}
entities:
  - {id: gov-cn, name: PRC government, kind: government, country: CN, sources: [s1]}
  - {id: parent, name: Parent Co, kind: company, country: CN, sources: [s1]}
  - {id: us-sub, name: US Sub, kind: company, country: US, sources: [s1]}
  - {id: plant, name: Plant, kind: facility, country: US, sources: [s1]}
links:
  - {id: parent-sub, kind: equity, source: parent, target: us-sub, share: 0.6, sources: [s1]}
  - {id: sub-plant, kind: equity, source: us-sub, target: plant, share: 1.0, sources: [s1]}
arrangements:
  - id: deal
    name: Deal
    focal: plant
    parties: [{entity: us-sub, role: owner}]
    taxpayer: us-sub
    country: US
    products: [cells]
    capacity: {gwh: 10, sources: [s1]}
    status: [{status: announced, date: 2024-01-01, sources: [s1]}]
    sources: [s1]
"""
