"""Where batch rows are scored: in this process, in local worker processes, on Dask, or remotely.

Every engine takes partitions of a chunk (never one task per row) and gives their results back
in submission order, so the sink writes rows in input order whatever the engine:

* in-process (:class:`InProcess`): :func:`score_jobs` on :func:`engine_for`;
* local processes (:class:`Processes`): each worker loads the engine once (forked after the
  parent loaded it, on Linux, so they share its memory copy-on-write);
* Dask (:class:`Dask`): a scheduler address, or a LocalCluster on 127.0.0.1 started here;
* a remote georisk server: any :class:`RemoteFactory`, such as
  :class:`georisk.batch.remote.RemoteOptions` (gRPC lives there, and only there).

>>> from concurrent.futures import ThreadPoolExecutor
>>> with ThreadPoolExecutor(2) as pool:
...     list(ordered(lambda p: pool.submit(sorted, p), [[3, 1], [2], [5, 4]], window=2))
[[1, 3], [2], [4, 5]]
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import logging
import multiprocessing
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from georisk.batch.errors import EXIT_DATA, EXIT_USAGE, BatchError
from georisk.batch.jobs import Job, JobResult, explanation_line, lead_columns
from georisk.scoring import gcpolicy
from georisk.scoring.control import prepare_screens
from georisk.scoring.dataset import DatasetError
from georisk.scoring.engine import ArrangementScore, Engine, NotFoundError, View
from georisk.scoring.packs import merged_scenarios
from georisk.scoring.report import csv_row
from georisk.scoring.rules import pfe_params
from georisk.scoring.score import ScenarioOutcome

__all__ = [
    "Backend",
    "Dask",
    "InProcess",
    "Processes",
    "RemoteFactory",
    "RemoteRunner",
    "engine_for",
    "ordered",
    "prepare",
    "rule_ids",
    "score_jobs",
]


# --------------------------------------------------------------------------- in-process scoring


@dataclass
class _BatchEngine(Engine):
    """An Engine that memoizes scenario evaluations.

    ``Engine.score`` evaluates every scenario (the policy axis needs them all) whichever scenario
    it reports, so scoring one row under six scenarios would evaluate 36 scenario outcomes;
    with this cache it evaluates six. The results are identical: evaluation is deterministic
    for (dataset version, arrangement, date, scenario).
    """

    _memo: dict[tuple[str, str, dt.date, str, bool], ScenarioOutcome] = field(
        default_factory=dict, repr=False
    )

    def evaluate(
        self,
        arrangement: str,
        on: dt.date,
        scenario: str,
        ds: Any = None,
        *,
        in_force_only: bool = False,
    ) -> ScenarioOutcome:
        key = ((ds or self.dataset).version, arrangement, on, scenario, in_force_only)
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) > 512:
                self._memo.clear()
            hit = self._memo[key] = super().evaluate(
                arrangement, on, scenario, ds, in_force_only=in_force_only
            )
        return hit


_ENGINES: dict[tuple[str, str], _BatchEngine] = {}


def engine_for(data_dir: str | Path, pack: str = "us") -> Engine:
    """The engine of ``data_dir``, loaded once per process (workers call this per partition)."""
    key = (str(Path(data_dir).resolve()), pack)
    e = _ENGINES.get(key)
    if e is None:
        base = Engine.from_dir(data_dir, pack=pack)
        e = _ENGINES[key] = _BatchEngine(base.dataset, base.pack, base.scenarios, extra=base.extra)
        # The dataset is millions of long-lived objects: keep the cyclic GC from traversing
        # them again and again (~25% of scoring time on a 20k-entity set), and from writing
        # to every page of a forked worker's copy-on-write heap.
        gc.collect()
        gc.freeze()
        gcpolicy.tune()  # and collect the young generation less often (about halves a row's CPU)
    return e


def rule_ids(engine: Engine) -> list[str]:
    """The rule ids of every pack of ``engine`` (the primary's first): the batch's columns."""
    return [r.id for ps in engine.packs for r in ps.pack.rules]


def prepare(engine: Engine, on: dt.date) -> None:
    """Build now what every row scored on ``on`` reads: the graph of each date the scenarios
    are evaluated on, and its whole-graph vectors (:func:`georisk.scoring.control.
    prepare_screens`: exposure, SFE sets, aggregate SFE ownership, components), then freeze
    them out of the cyclic GC. The parent of forked workers calls it before the pool forks,
    so the workers inherit them (copy-on-write) instead of each computing them (~10 s at
    1M entities); a Dask worker calls it once when it loads the engine.
    """
    primary = {s.id for s in engine.scenarios.scenarios}
    for sc in merged_scenarios(engine.scenarios, engine.extra):
        starts = [o.effective_from for o in sc.overrides if o.effective_from]
        when = max([on, *starts])
        # a further pack's scenario: the primary pack is judged at its current law on that date
        own = sc.id if sc.id in primary else engine.scenarios.baseline.id
        params = pfe_params(engine.scenario_pack(own), when)
        g = engine.graph(when)
        prepare_screens(g, params)
        prepare_screens(g, replace(params, explain=False))
    gc.collect()
    gc.freeze()


def _warm(data_dir: str, pack: str, on: dt.date | None = None) -> str:
    """Worker initializer / ``client.run`` target: load the engine now (and, given a date,
    :func:`prepare` it); its dataset version."""
    engine = engine_for(data_dir, pack)
    if on is not None:
        prepare(engine, on)
    return engine.dataset.version


def _rule_columns(row: dict[str, str], s: ArrangementScore, rules: Sequence[str]) -> None:
    got = {v.rule: v.verdict.value for v in s.verdicts}
    for r in rules:
        row[r] = got.get(r, "")


#: a batch memo's timeline: at most this many seconds per row (it says where it stopped)
MEMO_TIMELINE_SECONDS = 2.0


def _memo(engine: Engine, job: Job, s: ArrangementScore) -> str:
    """The row's memo (HTML) from its FULL score ``s`` (:func:`georisk.render.render_score`)."""
    from georisk.render import ExplainOptions, render_score

    ds = engine.overlaid(engine.dataset, job.overlay) if job.overlay else engine.dataset
    opts = ExplainOptions(timeline_budget=MEMO_TIMELINE_SECONDS, timeline_points=100)
    return render_score(engine, s, "html", dataset=ds, options=opts).data.decode("utf-8")


def score_jobs(
    engine: Engine, jobs: Sequence[Job], explain: bool = False, memos: bool = False
) -> list[JobResult]:
    """Score jobs in-process: every requested scenario of a row, or the row's error; with
    ``memos``, the row's memo (HTML) from its first scenario's FULL score."""
    rules = rule_ids(engine)
    out: list[JobResult] = []
    for job in jobs:
        res = JobResult.of(job)
        out.append(res)
        if job.error:
            continue
        try:
            for i, sc in enumerate(_scenarios_of(engine, job)):
                full = explain or (memos and i == 0)
                s = engine.score(
                    job.arrangement,
                    job.as_of,
                    sc,
                    view=View.FULL if full else View.BASIC,
                    overlay=job.overlay,
                    remedies=False,
                )
                if memos and i == 0:
                    res.memo = _memo(engine, job, s)
                row = {**csv_row(s), **lead_columns(job, sc)}
                _rule_columns(row, s, rules)
                res.rows.append(row)
                if explain:
                    res.explanations.append(
                        explanation_line(job, s.model_dump(mode="json", by_alias=True))
                    )
        except NotFoundError as exc:
            res.error = _not_found(engine, job, exc)
        except DatasetError as exc:
            res.error = "bad overlay: " + "; ".join(str(i) for i in exc.issues[:5])
        except Exception as exc:  # a bad row never stops the batch
            res.error = f"scoring failed: {type(exc).__name__}: {exc}"
        if res.error:
            res.rows, res.explanations, res.memo = [], [], None
    return out


def _scenarios_of(engine: Engine, job: Job) -> tuple[str, ...]:
    """The scenarios ``job`` is scored under: those asked for; by default (every scenario the
    batch knows) those that apply to its arrangement, in the batch's order (with several packs,
    a further pack's scenarios apply where the pack does: :meth:`Engine.scenario_list`)."""
    if not job.every_scenario or not engine.extra:
        return job.scenarios
    ds = engine.overlaid(engine.dataset, job.overlay) if job.overlay else engine.dataset
    aid = job.overlay.arrangement if job.overlay else job.arrangement
    applies = {s.id for s in engine.scenario_list(aid, ds)}
    return tuple(sc for sc in job.scenarios if sc in applies)


def _not_found(engine: Engine, job: Job, exc: NotFoundError) -> str:
    """The row's error for a :class:`NotFoundError`: what is unknown, or, for a scenario of a
    pack the batch knows, that its pack does not apply to the arrangement."""
    known = {s.id for s in merged_scenarios(engine.scenarios, engine.extra)}
    if exc.what == "scenario" and exc.key in known:
        owner = next(
            ps.id for ps in engine.packs if any(s.id == exc.key for s in ps.scenarios.scenarios)
        )
        return (
            f"scenario {exc.key!r} does not apply to arrangement {job.arrangement!r}: "
            f"policy pack {owner!r} has no nexus with it"
        )
    return f"unknown {exc.what} {exc.key!r}"


def _score_partition(
    data_dir: str, pack: str, explain: bool, jobs: list[Job], memos: bool = False
) -> list[JobResult]:
    out = score_jobs(engine_for(data_dir, pack), jobs, explain, memos)
    gcpolicy.settle()  # the caches' objects out of the collector's sight (scoring.gcpolicy)
    return out


# --------------------------------------------------------------------------- engines


class Backend(Protocol):
    """An engine: scores partitions of jobs, results in submission order."""

    parts: int  # partitions per chunk

    def run(self, parts: Iterable[list[Job]]) -> Iterator[list[JobResult]]: ...

    def close(self) -> None: ...


#: partitions in flight per worker (local processes, Dask): results are written in input
#: order, so a slow partition holds back the ones after it; with four per worker the others
#: keep working meanwhile (rows vary ~30x in cost on a graph with a giant ownership cycle:
#: two per worker left the workers idle ~8% of the time there, bench/batch_bench.py)
IN_FLIGHT_PER_WORKER = 4


def ordered(
    submit: Callable[[list[Job]], Any], parts: Iterable[list[Job]], window: int
) -> Iterator[list[JobResult]]:
    """Results of submitted partitions in submission order, at most ``window`` in flight."""
    pending: deque[Any] = deque()
    try:
        for p in parts:
            pending.append(submit(p))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()


class InProcess:
    parts = 1

    def __init__(self, engine: Engine, explain: bool, memos: bool = False) -> None:
        self.engine, self.explain, self.memos = engine, explain, memos

    def run(self, parts: Iterable[list[Job]]) -> Iterator[list[JobResult]]:
        for p in parts:
            yield score_jobs(self.engine, p, self.explain, self.memos)
            gcpolicy.settle()

    def close(self) -> None:
        pass


class Processes:
    """Local worker processes; each loads the engine once (its initializer).

    On Linux the pool forks after the parent has loaded the engine, so the initializer finds
    it in the module cache and the workers share its memory copy-on-write.
    """

    def __init__(
        self,
        n: int,
        data_dir: str,
        pack: str,
        explain: bool,
        on: dt.date | None = None,
        memos: bool = False,
    ) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        warm: tuple[str, str, dt.date | None] = (data_dir, pack, on)
        if method == "fork" and on is not None:
            # the graphs and whole-graph vectors built once, here, before the pool forks
            prepare(engine_for(data_dir, pack), on)
            warm = (data_dir, pack, None)
        self.pool = ProcessPoolExecutor(
            max_workers=n,
            mp_context=multiprocessing.get_context(method),
            initializer=_warm,
            initargs=warm,
        )
        self.parts, self.args, self.memos = n, (data_dir, pack, explain), memos

    def run(self, parts: Iterable[list[Job]]) -> Iterator[list[JobResult]]:
        def submit(p: list[Job]) -> Future[list[JobResult]]:
            return self.pool.submit(_score_partition, *self.args, p, self.memos)

        return ordered(submit, parts, IN_FLIGHT_PER_WORKER * self.parts)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


#: the Dask configuration of the local cluster ``--dask-local`` starts (docs/batch.md says how to
#: give a real cluster's workers the same)
LOCAL_DASK_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
}


class Dask:
    """A Dask cluster: a scheduler address, or a LocalCluster on 127.0.0.1 started here."""

    def __init__(
        self,
        scheduler: str | None,
        local: int | None,
        data_dir: str,
        pack: str,
        explain: bool,
        on: dt.date | None = None,
        memos: bool = False,
    ) -> None:
        self.memos = memos
        try:
            distributed: Any = importlib.import_module("dask.distributed")
        except ImportError:
            raise BatchError(
                EXIT_USAGE,
                "dask is not installed: pip install 'dask[distributed]' (see docs/batch.md)",
            ) from None
        self.tmp: str | None = None
        self.cluster: Any = None
        if local:
            self.tmp = tempfile.mkdtemp(prefix="georisk-dask-")
            dask: Any = importlib.import_module("dask")
            # no dashboard, so nobody reads the workers' statistical profiler (a stack sample
            # of every thread each 10 ms) or needs the event loop's 20 ms health tick: both
            # take the GIL from the scoring thread (1-7% of the rate, bench/README.md)
            with dask.config.set(LOCAL_DASK_CONFIG):
                self.cluster = distributed.LocalCluster(
                    n_workers=local,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    local_directory=self.tmp,
                    silence_logs=logging.ERROR,
                )
        self.client: Any = distributed.Client(self.cluster or scheduler, timeout="30s")
        if scheduler and not local:
            self.client.wait_for_workers(1, timeout=60)
        try:  # load the engine once in every worker, now (a bad dataset fails here)
            versions = self.client.run(_warm, data_dir, pack, on)
        except DatasetError as exc:
            self.close()
            raise BatchError(
                EXIT_DATA, "dataset refused by a Dask worker: " + "; ".join(map(str, exc.issues))
            ) from None
        except Exception as exc:
            self.close()
            raise BatchError(EXIT_DATA, f"Dask workers could not load {data_dir}: {exc}") from None
        self.parts = max(1, len(versions))
        self.args = (data_dir, pack, explain)

    def run(self, parts: Iterable[list[Job]]) -> Iterator[list[JobResult]]:
        def submit(p: list[Job]) -> Any:
            return self.client.submit(_score_partition, *self.args, p, self.memos, pure=False)

        return ordered(submit, parts, IN_FLIGHT_PER_WORKER * self.parts)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


class RemoteRunner(Protocol):
    """A scoring backend outside this process (:mod:`georisk.batch.remote`: only that module
    imports gRPC)."""

    parts: int
    scenarios: list[str]
    rules: list[str]

    def run(self, parts: Iterable[list[Job]]) -> Iterator[list[JobResult]]: ...

    def close(self) -> None: ...


class RemoteFactory(Protocol):
    """What opens a :class:`RemoteRunner` (``target`` names it in the journal's fingerprint)."""

    @property
    def target(self) -> str: ...

    def open(self, explain: bool, memos: bool = False) -> RemoteRunner: ...
