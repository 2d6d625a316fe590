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
        try:
            self.scenarios = [s.id for s in self.client.scenarios()]
            self.rules = [r.id for r in self.client.policy_pack().rules]
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

        if exc.code == grpc.StatusCode.NOT_FOUND:
            return f"unknown arrangement {aid!r}"
        if exc.code == grpc.StatusCode.INVALID_ARGUMENT:
            detail = "; ".join(f"{f}: {d}" for f, d in exc.violations) or exc.message
            return f"bad overlay: {detail}" if "overlay" in detail else f"refused: {detail}"
        raise BatchError(EXIT_DATA, f"server {self.opts.target}: {exc}")

    def _score(self, jobs: list[Job]) -> list[JobResult]:

        view = "full" if self.explain else "basic"
        results = [JobResult.of(j) for j in jobs]
        got: dict[tuple[int, str], tuple[dict[str, str], str]] = {}
        groups: dict[tuple[str, str], list[int]] = {}
        for i, j in enumerate(jobs):
            if j.error:
                continue
            assert j.as_of is not None
            for sc in j.scenarios:
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
                    got[i, sc] = self._row(j, s)
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
                        got[i, sc] = self._row(jobs[i], item.score)
                    elif not results[i].error:
                        code = grpc.StatusCode.NOT_FOUND
                        err = self.error_type(
                            next(
                                (c for c in grpc.StatusCode if c.value[0] == item.error.code), code
                            ),
                            item.error.message,
                        )
                        results[i].error = self._fail(err, item.error_arrangement_id)
            except self.error_type as exc:
                raise BatchError(EXIT_DATA, f"server {self.opts.target}: {exc}") from None
            except ValueError as exc:  # zip(strict): the stream ended early
                raise BatchError(EXIT_DATA, f"server {self.opts.target}: {exc}") from None
        for i, j in enumerate(jobs):
            r = results[i]
            if r.error:
                continue
            for sc in j.scenarios:
                row, expl = got[i, sc]
                r.rows.append(row)
                if expl:
                    r.explanations.append(expl)
            if self.memos:
                r.memo = self._memo(j)
        return results

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
