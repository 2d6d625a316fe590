"""The remote engine of ``georisk batch --target``: a georisk server over gRPC.

The only module of :mod:`georisk.batch` that imports gRPC (the CLI loads it for ``--target``
only); the run loop sees it through the :class:`georisk.batch.engines.RemoteFactory` protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from georisk.batch.engines import ordered
from georisk.batch.errors import EXIT_DATA, BatchError
from georisk.batch.jobs import Job, JobResult, explanation_line, lead_columns
from georisk.client import GeoriskClient, GeoriskError
from georisk.v1 import types_pb2


@dataclass(frozen=True)
class RemoteOptions:
    target: str
    token: str | None = None
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    timeout: float = 300.0

    def open(self, explain: bool, memos: bool = False) -> _Remote:
        return _Remote(self, explain, memos)


class _Remote:
    """A georisk server: StreamScoreArrangements for plain ids, SimulateOverlay for overlays,
    RenderArrangement for the memos (``--memos``: the server draws them)."""

    parts = 2

    def __init__(self, opts: RemoteOptions, explain: bool, memos: bool = False) -> None:

        self.error_type = GeoriskError
        self.client = GeoriskClient(
            opts.target,
            token=opts.token,
            ca=opts.ca,
            cert=opts.cert,
            key=opts.key,
            timeout=opts.timeout,
        )
        self.opts, self.explain, self.memos = opts, explain, memos
        #: every scenario the server knows, the primary pack's first, then each further pack's
        #: changes (its current law is the primary's), as a local batch lists them
        #: (:func:`georisk.scoring.packs.merged_scenarios`); the rule ids of every pack
        self.scenarios: list[str] = []
        self.rules: list[str] = []
        #: a further pack's scenario → that pack's id: it applies where the pack does
        self.pack_of: dict[str, str] = {}
        try:
            packs = [p.id for p in self.client.policy_packs()] or [""]
            for i, pid in enumerate(packs):
                for sc in self.client.scenarios(pid):
                    if i and sc.basis.kind == "enacted":
                        continue
                    if sc.id not in self.scenarios:
                        self.scenarios.append(sc.id)
                        if i:
                            self.pack_of[sc.id] = pid
                self.rules += [r.id for r in self.client.policy_pack(pack_id=pid).rules]
        except GeoriskError as exc:
            self.client.close()
            raise BatchError(EXIT_DATA, f"server {opts.target}: {exc}") from None
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="georisk-remote")

    def run(self, parts: Iterable[list[Job]]) -> Iterator[list[JobResult]]:
        return ordered(lambda p: self.pool.submit(self._score, p), parts, 4)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    def _row(self, job: Job, s: Any) -> tuple[dict[str, str], str]:

        def band(a: Any) -> str:
            return str(types_pb2.ScoreBand.Name(a.band)).removeprefix("SCORE_BAND_").lower()

        def verdict(v: Any) -> str:
            return str(types_pb2.Verdict.Name(v.verdict)).removeprefix("VERDICT_").lower()

        credit = next((v.credit for v in s.verdicts if v.HasField("credit")), None)
        row = {
            "arrangement": s.arrangement.id,
            "as_of": s.as_of,
            "status": s.arrangement.status,
            "verdicts": ";".join(f"{v.rule}={verdict(v)}" for v in s.verdicts),
            "confidence": f"{s.confidence:.2f}",
            "credit_usd_min": f"{credit.min:.0f}" if credit else "",
            "credit_usd_max": f"{credit.max:.0f}" if credit else "",
            "missing_facts": ";".join(s.missing_facts),
            "dataset_version": s.dataset_version,
            "pack_version": s.pack_version,
            "overlay": s.overlay if s.HasField("overlay") else "",
            **lead_columns(job, s.scenario),
        }
        for axis in ("technology", "equity", "policy", "overall"):
            a = getattr(s, axis)
            row[axis], row[f"{axis}_band"] = f"{a.score:.1f}", band(a)
        got = {v.rule: verdict(v) for v in s.verdicts}
        for r in self.rules:
            row[r] = got.get(r, "")
        expl = ""
        if self.explain:
            doc = json_format.MessageToDict(s, preserving_proto_field_name=True)
            expl = explanation_line(job, doc)
        return row, expl

    def _fail(self, exc: Any, aid: str) -> str:
        """The row's error for the server's refusal ``exc`` of arrangement ``aid`` (as a local
        engine words it); a refusal that is not about the row stops the batch."""
        if exc.code == grpc.StatusCode.NOT_FOUND:
            kind, name = exc.resource or ("arrangement", aid)
            if kind == "scenario" and name in self.pack_of:
                return (
                    f"scenario {name!r} does not apply to arrangement {aid!r}: "
                    f"policy pack {self.pack_of[name]!r} has no nexus with it"
                )
            return f"unknown {kind} {name!r}"
        if exc.code == grpc.StatusCode.INVALID_ARGUMENT:
            detail = "; ".join(f"{f}: {d}" for f, d in exc.violations) or exc.message
            return f"bad overlay: {detail}" if "overlay" in detail else f"refused: {detail}"
        raise BatchError(EXIT_DATA, f"server {self.opts.target}: {exc}")

    def _score(self, jobs: list[Job]) -> list[JobResult]:
        """Score a partition. A row with the default scenarios (``every_scenario``) gets those
        that apply to its arrangement, as a local batch gives them
        (:meth:`georisk.scoring.engine.Engine.scenario_list`): the primary pack's first; then a
        further pack's, when the score under the primary's said that pack applied
        (``ArrangementScore.packs``)."""
        results = [JobResult.of(j) for j in jobs]
        got: dict[tuple[int, str], tuple[dict[str, str], str]] = {}
        applied: dict[int, set[str]] = {}  # job → the further packs that applied to it
        first: dict[int, list[str]] = {}
        later: dict[int, list[str]] = {}
        for i, j in enumerate(jobs):
            if j.error:
                continue
            if j.every_scenario and self.pack_of:
                first[i] = [sc for sc in j.scenarios if sc not in self.pack_of]
                later[i] = [sc for sc in j.scenarios if sc in self.pack_of]
            else:
                first[i] = list(j.scenarios)
        self._scenarios(jobs, first, results, got, applied)
        then = {
            i: [sc for sc in scs if self.pack_of[sc] in applied.get(i, ())]
            for i, scs in later.items()
            if not results[i].error
        }
        self._scenarios(jobs, then, results, got, applied)
        for i, j in enumerate(jobs):
            r = results[i]
            if r.error:
                continue
            for sc in j.scenarios:
                if (i, sc) not in got:  # a further pack's scenario that does not apply
                    continue
                row, expl = got[i, sc]
                r.rows.append(row)
                if expl:
                    r.explanations.append(expl)
            if self.memos:
                r.memo = self._memo(j)
        return results

    def _scenarios(
        self,
        jobs: list[Job],
        wanted: dict[int, list[str]],
        results: list[JobResult],
        got: dict[tuple[int, str], tuple[dict[str, str], str]],
        applied: dict[int, set[str]],
    ) -> None:
        """Score job ``i`` under each scenario of ``wanted[i]`` into ``got``: overlays one by
        one (SimulateOverlay), plain ids in one stream per (date, scenario); a refused job's
        reason goes to ``results``, the further packs that applied to it to ``applied``."""
        view = "full" if self.explain else "basic"
        groups: dict[tuple[str, str], list[int]] = {}

        def keep(i: int, sc: str, s: Any) -> None:
            got[i, sc] = self._row(jobs[i], s)
            applied.setdefault(i, set()).update(p.id for p in s.packs if p.applied)

        for i, scenarios in wanted.items():
            j = jobs[i]
            assert j.as_of is not None
            for sc in scenarios:
                if j.overlay is not None:
                    try:
                        s = self.client.simulate(
                            j.overlay.model_dump_json(exclude_defaults=True),
                            arrangement_id=j.arrangement,
                            as_of=j.as_of.isoformat(),
                            scenario=sc,
                            view=view,
                        )
                    except self.error_type as exc:
                        results[i].error = self._fail(exc, j.arrangement)
                        break
                    keep(i, sc, s)
                else:
                    groups.setdefault((j.as_of.isoformat(), sc), []).append(i)
        for (on, sc), idx in groups.items():
            try:
                stream = self.client.stream_score(
                    [jobs[i].arrangement for i in idx],
                    as_of=on,
                    scenario=sc,
                    view=view,
                    timeout=self.opts.timeout,
                )
                for i, item in zip(idx, stream, strict=True):
                    if item.HasField("score"):
                        keep(i, sc, item.score)
                    elif not results[i].error:
                        err = self.error_type.from_status(item.error)
                        results[i].error = self._fail(err, item.error_arrangement_id)
            except self.error_type as exc:
                raise BatchError(EXIT_DATA, f"server {self.opts.target}: {exc}") from None
            except ValueError as exc:  # zip(strict): the stream ended early
                raise BatchError(EXIT_DATA, f"server {self.opts.target}: {exc}") from None

    def _memo(self, job: Job) -> str:
        """The row's memo (HTML) as the server renders it, for its first scenario (as a local
        engine's memo is)."""
        assert job.as_of is not None
        try:
            got = self.client.render(
                job.arrangement,
                "html",
                as_of=job.as_of.isoformat(),
                scenario=job.scenarios[0],
                overlay_document=(
                    job.overlay.model_dump_json(exclude_defaults=True) if job.overlay else ""
                ),
            )
        except self.error_type as exc:
            raise BatchError(EXIT_DATA, f"server {self.opts.target}: memo: {exc}") from None
        return got.data.decode("utf-8")
