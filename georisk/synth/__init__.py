"""Realistic, large, **synthetic** datasets for benchmarks and tests (``georisk synth``).

:func:`generate` writes a dataset directory in the bulk formats of ``data/README.md``
(``synth.sources.csv``, ``synth.entities.csv``, ``synth.links.csv`` and
``synth.arrangements.jsonl``) that :func:`georisk.scoring.dataset.load_dataset` accepts as it is:

* a country mix (about a quarter of companies organized in covered nations, mostly CN), one
  government per country, state bodies in the covered nations, persons, funds, companies and
  the facilities the arrangements are about;
* state-owned chains (government → state body → SOE holding → subsidiaries → …), domestic and
  cross-border corporate trees with majority and minority stakes, person and fund holdings,
  cross-holdings that close ownership cycles, some ranged (BODS-style) shares;
* votes, debt, board/officer appointments, technology licences (with terms), equipment,
  services, operation, material supply and offtake links; some dated, reported, proposed or
  unconfirmed;
* restricted-party list members (``dod-1260h``, ``ndaa-fy2024-154``, ``uflpa-entity-list``);
* arrangements around facilities (mostly in the US) with parties, a status history, capacity
  and, for US plants, the US owner as taxpayer.

Every record cites one source, ``synth``, whose note says the data is synthetic. Equity (and
votes) held in any entity add up to at most 100% (share minimums, in whole basis points), so
the loader's check passes on every date. Output is deterministic for a seed (NumPy
``Generator``); the generator works on index arrays and writes rows with the ``csv`` module in
chunks, never building pydantic objects or a graph: a million entities and three million links
take about 20 s and < 1 GB RSS (loading them with the pydantic loader: about 3 min and 9 GB).

The package reads top-down: :mod:`georisk.synth.spec` (what to generate, what was written),
:mod:`georisk.synth.tables` (country mixes, kinds, name parts, date and share cells),
:mod:`georisk.synth.structure` (the world: entities and links as index arrays) and
:mod:`georisk.synth.writers` (bulk CSV and JSONL); :func:`generate` runs them in that order.

>>> import tempfile, pathlib
>>> from georisk.scoring.dataset import load_dataset
>>> with tempfile.TemporaryDirectory() as tmp:
...     stats = generate(SynthSpec(entities=400, arrangements=20, seed=1), pathlib.Path(tmp))
...     ds = load_dataset(tmp)
>>> len(ds.entities) == stats.entities == 400, len(ds.arrangements)
(True, 20)
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from georisk.synth.spec import SOURCE_ID, SynthSpec, SynthStats
from georisk.synth.structure import build_links, build_world, date_links
from georisk.synth.tables import (
    COUNTRIES,
    COVERED,
    KINDS,
    LINK_KINDS,
)
from georisk.synth.writers import write_arrangements, write_entities, write_links, write_sources

__all__ = ["COVERED", "SOURCE_ID", "SynthSpec", "SynthStats", "generate"]


def generate(spec: SynthSpec, out_dir: Path) -> SynthStats:
    """Write a synthetic dataset directory for ``spec`` into ``out_dir`` and return its counts.

    ``out_dir`` is created if needed; the four ``synth.*`` files in it are overwritten. The
    result loads with :func:`.dataset.load_dataset` and is the same, byte for byte, for
    the same spec.
    """
    spec.check()
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    w = build_world(spec, rng)
    links, facts = build_links(spec, w, rng)
    cols = date_links(spec, links.arrays(), rng)
    lic = links.licence_table()
    m = len(cols["kind"])
    width = max(7, len(str(max(m - 1, 0))))

    files = {
        "sources": out / "synth.sources.csv",
        "entities": out / "synth.entities.csv",
        "links": out / "synth.links.csv",
        "arrangements": out / "synth.arrangements.jsonl",
    }
    write_sources(files["sources"], spec)
    write_entities(files["entities"], w)
    write_links(files["links"], cols, lic, width)
    n_arr = write_arrangements(spec, w, facts, rng, files["arrangements"])

    kind_counts = np.bincount(cols["kind"], minlength=len(LINK_KINDS))
    ent_counts = np.bincount(w.kind, minlength=len(KINDS))
    c_counts = np.bincount(w.country, minlength=len(COUNTRIES))
    return SynthStats(
        sources=1,
        entities=w.n,
        links=m,
        arrangements=n_arr,
        entities_by_kind={k: int(c) for k, c in zip(KINDS, ent_counts, strict=True)},
        links_by_kind={k: int(c) for k, c in zip(LINK_KINDS, kind_counts, strict=True)},
        entities_by_country={k: int(c) for k, c in zip(COUNTRIES, c_counts, strict=True) if c},
        listed=sum(v.count("@") // 2 for v in w.lists.values()),
        ranged_shares=int(((cols["lo"] >= 0) & (cols["hi"] != cols["lo"])).sum()),
        unconfirmed_links=int(cols["unc"].sum()),
        files=[p.name for p in files.values()],
        bytes=sum(p.stat().st_size for p in files.values()),
        seconds=round(time.perf_counter() - t0, 3),
        spec=asdict(spec),
    )
