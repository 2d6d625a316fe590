"""Realistic, large, **synthetic** datasets for benchmarks and tests (``georisk synth``).

:func:`generate` writes a dataset directory in the bulk formats of ``data/README.md``
(``synth.sources.csv``, ``synth.entities.csv``, ``synth.links.csv`` and
``synth.arrangements.jsonl``) that :func:`georisk.scoring.dataset.load_dataset` accepts as it is:

* a country mix (about a quarter of companies organized in covered nations, mostly CN), one
  government per country, state bodies in the covered nations, persons, funds, companies and
  the facilities the arrangements are about;
* state-owned chains (government → state body → SOE holding → subsidiaries → …), domestic and
  cross-border corporate trees with majority and minority stakes, person and fund holdings,
  cross-holdings that close ownership cycles (their shape depends on the mode, below), some
  ranged (BODS-style) shares;
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

Modes (``SynthSpec.mode``, ``georisk synth --mode``) shape the equity and voting links:

* ``adversarial`` (the default, so that every earlier dataset, seed and benchmark figure stays
  the same, byte for byte): minority stakes between any two companies, foreign parents drawn
  from any company and cross-holdings from random subsidiaries close one giant strongly
  connected component (SCC) — 8–9% of all entities at 20k–100k entities, 16–17% of entities
  on some cycle — and chains of 20–40 links. A stress case for cycle handling and the
  solvers, not a picture of a registry.
* ``realistic``: ownership as registries show it, mostly trees. A company with a corporate
  parent sits 1–11 levels below its group's head (P = .78, .11, .045, .025, .015, .01, .008,
  .006, .004, .003, .002 for levels 1…11; the parent is one level up, in the same country
  mostly, a few parents with many children); minority stakes between companies go only down the
  levels, so they close no cycle and lengthen no chain; cross-holdings are disjoint cycles of
  2–5 companies (a company holds its parent, or an ancestor up to 4 links up) for 0.2% of
  companies, and the generator drops any cycle link whose SCC would exceed 5 entities (a
  guarantee, checked with ``scipy.sparse.csgraph``). Persons, funds and governments hold as
  before. Links of other kinds (licences, supply, debt, …) are the same in both modes.

  Where the figures come from. *Depth:* Knobel & Seabarron (Tax Justice Network with CORPNET,
  2020, Orbis data on UK companies, "Exploring UK companies' legal ownership chains to detect
  red flags…: Part 1", taxjustice.net, 2020-07-06): 74% of UK companies have a natural person as
  direct owner or one intermediary between, 5% more than 5 layers, 0.5% more than 10, the
  deepest 23; Open Ownership's red-flag notebook on the UK PSC register in BODS: most
  relationships direct, the longest chain 12 links. *Parents:* GLEIF's Level 2 report of Q2
  2017: about half of the LEI entities report no accounting parent, 14% a parent with an LEI,
  33% one without; the largest ultimate parent has 619 children. *Cycles:* Vitali, Glattfelder &
  Battiston (2011), "The network of global corporate control" (PLoS ONE 6(10) e25995,
  https://arxiv.org/abs/1107.5728): among the 43,060 transnational corporations of Orbis 2007
  and the firms they own and are owned by, the one dominant SCC holds 1,347 firms — ~3% of the
  *transnational* sample and a far smaller share of the whole network (about 600,000 nodes: the
  paper's count as we recall it, not re-checked here); cross-holdings are a feature of the
  largest firms, not of registry companies at large. Global Witness' analysis of the UK PSC
  register (2018, "The Companies We Keep") treats circular ownership as a red flag, i.e. rare.
  *Assumptions* (no published figure found): the level probabilities above, fitted to the TJN
  shares (the measured result, with SCCs condensed, at 100k entities — 65% of held entities at
  most 2 links below a root, 5% more than 5, 0.6% more than 10, at most 14: see
  ``bench/README.md``), and the 0.2% of companies in cross-holding cycles with the 2–5 size mix
  (.6, .25, .1, .05 for 2, 3, 4, 5).

:func:`georisk.synth.shape.ownership_shape` (and ``shape_of_dir`` for a written directory)
reports the largest SCC, the entities in SCCs and the depth below a root owner (shortest and
longest, SCCs condensed), the figures the two modes are compared by.

The package reads top-down: :mod:`georisk.synth.spec` (what to generate, what was written),
:mod:`georisk.synth.tables` (country mixes, kinds, name parts, date and share cells),
:mod:`georisk.synth.structure` (the world: entities and links as index arrays) and
:mod:`georisk.synth.writers` (bulk CSV and JSONL); :func:`generate` runs them in that order.
:mod:`georisk.synth.shape` measures a result; :mod:`georisk.synth.foreign` rewrites one as
BODS or FollowTheMoney.

>>> import tempfile, pathlib
>>> from georisk.scoring.dataset import load_dataset
>>> with tempfile.TemporaryDirectory() as tmp:
...     stats = generate(SynthSpec(entities=400, arrangements=20, seed=1), pathlib.Path(tmp))
...     ds = load_dataset(tmp)
>>> len(ds.entities) == stats.entities == 400, len(ds.arrangements)
(True, 20)
>>> with tempfile.TemporaryDirectory() as tmp:
...     _ = generate(SynthSpec(entities=3000, seed=1, mode="realistic"), pathlib.Path(tmp))
...     shape = shape_of_dir(pathlib.Path(tmp))
>>> shape["largest_scc"] <= 5, 1 <= shape["depth_longest"]["median"] <= 3
(True, True)
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from georisk.synth.shape import ownership_shape, shape_of_dir
from georisk.synth.spec import MODES, SOURCE_ID, SynthSpec, SynthStats
from georisk.synth.structure import build_links, build_world, date_links
from georisk.synth.tables import (
    COUNTRIES,
    COVERED,
    KINDS,
    LINK_KINDS,
)
from georisk.synth.writers import write_arrangements, write_entities, write_links, write_sources

__all__ = [
    "COVERED",
    "MODES",
    "SOURCE_ID",
    "SynthSpec",
    "SynthStats",
    "generate",
    "ownership_shape",
    "shape_of_dir",
]


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
