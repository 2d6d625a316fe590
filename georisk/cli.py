"""``georisk`` command line.

Exit codes: 0 success; 2 usage error; 3 the dataset (or another input file) was refused;
4 an id named on the command line is not in the dataset.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from georisk.interop import EXPORTERS, IMPORTERS, exporter, importer
from georisk.render.command import add_explain_parser, run_explain
from georisk.scoring import clock
from georisk.scoring.control.report import render_ownership_table
from georisk.scoring.dataset import DatasetError, load_dataset
from georisk.scoring.engine import DEFAULT_DATA, Engine, NotFoundError, View
from georisk.scoring.overlay import load_overlay
from georisk.scoring.packs import ALL_PACKS
from georisk.scoring.report import render_score_table, write_scores_csv
from georisk.scoring.timeline import (
    MAX_POINTS,
    default_end,
    render_timeline_table,
    timeline,
    write_timeline_csv,
)

__all__ = ["default_data_dir", "main"]

EXIT_OK, EXIT_USAGE, EXIT_DATA, EXIT_NOT_FOUND = 0, 2, 3, 4


def default_data_dir() -> Path:
    """``$GEORISK_DATA`` if set, else the dataset embedded in the package (``data/``)."""
    env = os.environ.get("GEORISK_DATA")
    return Path(env) if env else DEFAULT_DATA


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="georisk",
        description="Geopolitical risk scoring for industrial deals (battery/EV arrangements).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="validate a dataset directory; print its version")
    v.add_argument("data_dir", type=Path, nargs="?", help=_DATA_HELP)

    o = sub.add_parser("ownership", help="ownership, control and PFE tests of one entity")
    o.add_argument("data_dir", type=Path, nargs="?", help=_DATA_HELP)
    o.add_argument("entity_id")
    o.add_argument("--as-of", type=_date, help=_AS_OF_HELP)
    o.add_argument("--format", choices=["json", "table"], default="table")
    o.add_argument("--pack", default="us", help="policy pack id (default us)")
    o.add_argument(
        "--overlay",
        type=Path,
        help="what-if overlay file (YAML/JSON): report ownership in the overlaid dataset",
    )

    sc = sub.add_parser("score", help="score arrangements on the three axes, with rule verdicts")
    sc.add_argument("data_dir", type=Path, nargs="?", help=_DATA_HELP)
    sc.add_argument(
        "--arrangement",
        action="append",
        default=[],
        metavar="ID",
        help="arrangement id (repeatable; default: all)",
    )
    sc.add_argument("--as-of", type=_date, help=_AS_OF_HELP)
    sc.add_argument(
        "--scenario",
        default="current-law",
        help="scenario whose verdicts are reported (default current-law)",
    )
    sc.add_argument(
        "--overlay",
        type=Path,
        help="what-if overlay file (YAML/JSON); an --arrangement fills in its arrangement or "
        "must agree with it",
    )
    sc.add_argument("--format", choices=["json", "table", "csv"], default="table")
    sc.add_argument(
        "--view",
        choices=["basic", "full"],
        default="full",
        help="json detail: basic (scores, verdicts) or full (contributions, paths, "
        "scenarios, remedies)",
    )
    sc.add_argument("--pack", action="append", metavar="IDS", help=_PACKS_HELP)

    tl = sub.add_parser(
        "timeline",
        help="the dates on which an arrangement's verdicts, bands or credit change, and why",
    )
    tl.add_argument("data_dir", type=Path, nargs="?", help=_DATA_HELP)
    tl.add_argument("--arrangement", required=True, metavar="ID", help="arrangement id")
    tl.add_argument(
        "--from", dest="start", type=_date, help="first day, YYYY-MM-DD (default today, in UTC)"
    )
    tl.add_argument(
        "--to", dest="end", type=_date, help="last day, YYYY-MM-DD (default FROM + 5 years)"
    )
    tl.add_argument(
        "--scenario",
        default="current-law",
        help="scenario whose verdicts are followed (default current-law)",
    )
    tl.add_argument("--format", choices=["json", "table", "csv"], default="table")
    tl.add_argument("--pack", action="append", metavar="IDS", help=_PACKS_HELP)
    tl.add_argument(
        "--max-points",
        type=int,
        default=MAX_POINTS,
        help=f"scores computed at most (default {MAX_POINTS}); past it the timeline says "
        "where it stopped",
    )

    add_explain_parser(sub)

    sv = sub.add_parser("serve", help="serve scores over gRPC (settings from GEORISK_* variables)")
    sv.add_argument("--data", type=Path, help=_DATA_HELP)
    sv.add_argument(
        "--address", help="HOST:PORT to bind (default $GEORISK_ADDRESS or 127.0.0.1:50051)"
    )
    sv.add_argument(
        "--store",
        metavar="URL",
        help="serve from a durable store and accept writes (sqlite:///PATH, seeded from --data "
        "when empty; postgresql://…): docs/store.md (default $GEORISK_STORE)",
    )

    h = sub.add_parser("health", help="exit 0 if a georisk server answers SERVING (for probes)")
    h.add_argument("--address", default=os.environ.get("GEORISK_HEALTH_ADDRESS", "127.0.0.1:50051"))
    h.add_argument("--service", default="", help="service name (default: the whole server)")
    h.add_argument("--timeout", type=float, default=3.0)
    h.add_argument(
        "--ca",
        type=Path,
        default=_env_path("GEORISK_HEALTH_CA"),
        help="CA bundle to verify a TLS server (default $GEORISK_HEALTH_CA)",
    )
    h.add_argument(
        "--cert",
        type=Path,
        default=_env_path("GEORISK_HEALTH_CERT"),
        help="client certificate for mutual TLS",
    )
    h.add_argument("--key", type=Path, default=_env_path("GEORISK_HEALTH_KEY"))

    b = sub.add_parser(
        "batch",
        help="score a CSV/JSONL file of arrangements and overlays into CSV/JSONL/Parquet "
        "(resumable; see docs/batch.md)",
    )
    b.add_argument("input", type=Path, help="input rows (.csv or .jsonl)")
    b.add_argument(
        "-o", "--output", type=Path, required=True, help="output (.csv, .jsonl or .parquet)"
    )
    b.add_argument(
        "--as-of", type=_date, help="date for rows without as_of (default today, in UTC)"
    )
    sg = b.add_mutually_exclusive_group()
    sg.add_argument(
        "--scenarios", help="comma-separated scenario ids (default: every scenario of the pack)"
    )
    sg.add_argument("--scenario", help="a single scenario id, e.g. current-law")
    b.add_argument("--data", type=Path, help=_DATA_HELP)
    b.add_argument(
        "--pack",
        help="policy pack ids, comma-separated (us,eu,uk, or all); default us: one column per "
        "rule of every pack, the further packs evaluated where the arrangement has their nexus "
        "(with --target, the server's packs)",
    )
    b.add_argument("--explanations", type=Path, help="also write each score's full JSON here")
    b.add_argument(
        "--memos",
        type=Path,
        metavar="DIR",
        help="also write one memo (HTML) per scored row into DIR (needs Graphviz dot; "
        "docs/explain.md)",
    )
    b.add_argument("--errors", type=Path, help="errors file (default OUTPUT.errors.csv)")
    b.add_argument(
        "--chunk-size", type=int, default=500, help="input rows per commit (default 500)"
    )
    eg = b.add_mutually_exclusive_group()
    eg.add_argument("--workers", type=int, help="score in N local worker processes")
    eg.add_argument("--target", help="score on a georisk server at HOST:PORT")
    eg.add_argument("--dask-scheduler", metavar="ADDRESS", help="score on a Dask cluster")
    eg.add_argument(
        "--dask-local", type=int, metavar="N", help="start a local Dask cluster of N workers"
    )
    b.add_argument(
        "--token", default=os.environ.get("GEORISK_TOKEN"), help="bearer token for --target"
    )
    b.add_argument("--ca", type=Path, help="CA bundle to verify a TLS server (--target)")
    b.add_argument("--cert", type=Path, help="client certificate for mutual TLS (--target)")
    b.add_argument("--key", type=Path, help="client key for mutual TLS (--target)")
    b.add_argument("--resume", action="store_true", help="continue an interrupted batch")
    b.add_argument("--force", action="store_true", help="overwrite an earlier batch's files")
    b.add_argument(
        "--progress",
        choices=["auto", "bar", "plain", "none"],
        default="auto",
        help="progress display (default: a bar on a terminal, else a line every ~5 s)",
    )

    sy = sub.add_parser("synth", help="write a synthetic dataset (for benchmarks and tests)")
    sy.add_argument("out_dir", type=Path)
    sy.add_argument("--entities", type=int, default=10_000)
    sy.add_argument("--links-per-entity", type=float, default=3.0)
    sy.add_argument("--arrangements", type=int, default=1_000)
    sy.add_argument("--seed", type=int, default=0)
    sy.add_argument(
        "--mode",
        choices=["realistic", "adversarial"],
        default="adversarial",
        help="ownership shape: realistic (registry-like trees, cycles of 2-5 companies) or "
        "adversarial (random stakes, one giant strongly connected component: a stress case; "
        "the default, as in every earlier dataset and benchmark)",
    )
    sy.add_argument(
        "--bods",
        type=Path,
        metavar="FILE",
        help="also write the world as BODS 0.4 statements, JSON lines (for georisk import bods)",
    )
    sy.add_argument(
        "--ftm",
        type=Path,
        metavar="FILE",
        help="also write the world as FollowTheMoney entities, JSON lines (needs the ftm extra)",
    )

    im = sub.add_parser(
        "import",
        help="import ownership data as a dataset directory (docs/import.md)",
        description="Exit status: 0 all imported, 1 some statements rejected (listed in "
        "OUT_DIR.errors.jsonl; the rest imported), 2 usage, 3 the result or the dataset to "
        "merge into was refused (the previous dataset is left as it was).",
    )
    im.add_argument(
        "format",
        choices=sorted(IMPORTERS),
        help="bods: BODS 0.4 JSON or JSON lines; ftm: FollowTheMoney JSON lines; gleif: GLEIF "
        "LEI and relationship-record CSV; lists: official lists as CSV",
    )
    im.add_argument("sources", type=Path, nargs="+", metavar="SOURCE")
    im.add_argument("-o", "--out", type=Path, required=True, metavar="DATASET_DIR")
    im.add_argument(
        "--merge",
        action="store_true",
        help="merge into the dataset at DATASET_DIR (match on identifiers) instead of replacing it",
    )
    ex = sub.add_parser(
        "export",
        help="export a dataset as BODS 0.4, FollowTheMoney, GraphML or GEXF (docs/import.md)",
        description="Exit status: 0 written, 2 usage (the ftm extra missing, no such output "
        "directory), 3 the dataset was refused. FILE is replaced atomically.",
    )
    ex.add_argument(
        "format",
        choices=sorted(EXPORTERS),
        help="bods: BODS 0.4 JSON; ftm: FollowTheMoney JSON lines; graphml, gexf: the graph of "
        "the --as-of date for Gephi, yEd, NetworkX",
    )
    ex.add_argument("data_dir", type=Path, metavar="DATA", nargs="?", default=None)
    ex.add_argument("-o", "--out", type=Path, required=True, metavar="FILE")
    ex.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="statement date (bods, ftm) or the graph's date (graphml, gexf); default today",
    )
    ex.add_argument(
        "--store",
        metavar="URL",
        help="export the dataset held in a store (docs/store.md) instead of a directory DATA",
    )
    ex.add_argument(
        "--known-at",
        type=int,
        default=None,
        metavar="VERSION",
        help="with --store: the dataset as the store knew it at this store version",
    )
    _store_parser(sub)
    return p


def _env_path(name: str) -> Path | None:
    v = os.environ.get(name)
    return Path(v) if v else None


_PACKS_HELP = (
    "policy packs under DATA_DIR/policies, comma-separated or repeated (us,eu,uk): the first is "
    "evaluated for every arrangement, the others for those within their nexus (location, "
    "markets, parties); default all: every pack there (else the shipped ones), us first. "
    "--pack us: the US pack alone"
)
_DATA_HELP = "dataset directory (default $GEORISK_DATA, else the embedded dataset)"
_AS_OF_HELP = "date, YYYY-MM-DD (default today, in UTC)"


def _load(data_dir: Path) -> Any:
    try:
        return load_dataset(data_dir)
    except DatasetError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        print(f"error: dataset {data_dir} refused ({len(exc.issues)} problems)", file=sys.stderr)
        return None


def _cmd_validate(args: argparse.Namespace) -> int:
    ds = _load(args.data_dir)
    if ds is None:
        return EXIT_DATA
    print(
        f"ok: {args.data_dir}: {len(ds.entities)} entities, {len(ds.links)} links, "
        f"{len(ds.arrangements)} arrangements, {len(ds.sources)} sources; version {ds.version}"
    )
    return EXIT_OK


def _engine(args: argparse.Namespace) -> Engine | None:
    """The engine of ``args.data_dir`` and ``args.pack``; None (with one ``error:`` line per
    problem on stderr) when the dataset is refused."""
    try:
        return Engine.from_dir(args.data_dir, pack=args.pack or ALL_PACKS)
    except DatasetError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        return None


def _cmd_ownership(args: argparse.Namespace) -> int:
    # the engine: the PFE tests use the pack's parameters on that date, as the rules do
    engine = _engine(args)
    if engine is None:
        return EXIT_DATA
    try:
        overlay = load_overlay(args.overlay, None) if args.overlay else None
        report = engine.ownership(args.entity_id, args.as_of, overlay=overlay)
    except DatasetError as exc:
        for issue in exc.issues:
            print(f"error: {args.overlay}: {issue}", file=sys.stderr)
        return EXIT_DATA
    except NotFoundError:
        where = f"{args.data_dir or 'the dataset'}" + (
            f" with {args.overlay}" if args.overlay else ""
        )
        print(f"error: entity {args.entity_id!r} is not in {where}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.format == "json":
        print(json.dumps(report.model_dump(mode="json", by_alias=True), indent=2))
    else:
        print(render_ownership_table(report))
    return EXIT_OK


def _cmd_score(args: argparse.Namespace) -> int:
    if args.overlay and len(args.arrangement) > 1:
        print(
            "error: --overlay scores one arrangement: give at most one --arrangement",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        engine = Engine.from_dir(args.data_dir, pack=args.pack or ALL_PACKS)
        overlay = (
            load_overlay(args.overlay, args.arrangement[0] if args.arrangement else None)
            if args.overlay
            else None
        )
    except DatasetError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        return EXIT_DATA
    ids = (
        [overlay.arrangement]
        if overlay
        else (args.arrangement or sorted(engine.dataset.arrangements))
    )
    view = View(args.view)
    results = []
    try:
        for aid in ids:
            results.append(
                engine.score(
                    aid,
                    args.as_of,
                    args.scenario,
                    view=view,
                    overlay=overlay,
                    remedies=view is View.FULL and args.format == "json",
                )
            )
    except NotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except DatasetError as exc:
        for issue in exc.issues:
            print(f"error: {args.overlay}: {issue}", file=sys.stderr)
        return EXIT_DATA
    if args.format == "json":
        doc = {
            "schema": "georisk.scores/v1",
            "results": [r.model_dump(mode="json", by_alias=True) for r in results],
        }
        print(json.dumps(doc, indent=2))
    elif args.format == "csv":
        write_scores_csv(results, sys.stdout)
    else:
        print(render_score_table(results))
    return EXIT_OK


def _cmd_timeline(args: argparse.Namespace) -> int:
    start = args.start or clock.today()
    end = args.end or default_end(start)
    if start > end:
        print(f"error: --from {start} is after --to {end}", file=sys.stderr)
        return EXIT_USAGE
    if args.max_points < 1:
        print("error: --max-points must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    engine = _engine(args)
    if engine is None:
        return EXIT_DATA
    try:
        t = timeline(
            engine, args.arrangement, start, end, args.scenario, max_points=args.max_points
        )
    except NotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.format == "json":
        print(json.dumps(t.model_dump(mode="json", by_alias=True), indent=2))
    elif args.format == "csv":
        write_timeline_csv(t, sys.stdout)
    else:
        print(render_timeline_table(t))
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from georisk.server.app import LOG_FORMAT, serve
    from georisk.server.settings import Settings, SettingsError

    logging.basicConfig(level=os.environ.get("GEORISK_LOG_LEVEL", "INFO"), format=LOG_FORMAT)
    overrides: dict[str, object] = {}
    if args.data:
        overrides["data_dir"] = args.data
    if args.address:
        overrides["address"] = args.address
    if args.store:
        overrides["store_url"] = args.store
    try:
        settings = Settings.from_env(None, **overrides)
        return asyncio.run(serve(settings))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DatasetError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        return EXIT_DATA


def _cmd_health(args: argparse.Namespace) -> int:
    from georisk.client import health_check

    status = health_check(
        args.address,
        service=args.service,
        timeout=args.timeout,
        ca=args.ca,
        cert=args.cert,
        key=args.key,
    )
    print(status)
    return EXIT_OK if status == "SERVING" else 1


def _cmd_batch(args: argparse.Namespace) -> int:
    from georisk.batch import BatchError, BatchOptions, run_batch

    for name in ("workers", "dask_local"):
        n = getattr(args, name)
        if n is not None and n < 1:
            print(f"error: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return EXIT_USAGE
    if args.target is None and (args.ca or args.cert or args.key):
        print("error: --ca, --cert and --key go with --target", file=sys.stderr)
        return EXIT_USAGE
    if args.target is not None and (args.data or args.pack):
        given = "--data" if args.data else "--pack"
        print(
            f"error: {given} does not go with --target: a remote batch scores with the "
            "server's dataset and packs (GEORISK_DATA, GEORISK_PACK of `georisk serve`)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    scenarios = (
        [s.strip() for s in args.scenarios.split(",") if s.strip()]
        if args.scenarios
        else [args.scenario]
        if args.scenario
        else None
    )
    remote = _remote_options(args) if args.target else None
    opts = BatchOptions(
        input=args.input,
        output=args.output,
        data_dir=args.data or default_data_dir(),
        pack=args.pack or "us",
        as_of=args.as_of,
        scenarios=scenarios,
        explanations=args.explanations,
        memos=args.memos,
        errors=args.errors,
        chunk_size=args.chunk_size,
        workers=args.workers,
        remote=remote,
        dask_scheduler=args.dask_scheduler,
        dask_local=args.dask_local,
        resume=args.resume,
        force=args.force,
        progress=args.progress,
    )
    try:
        summary = run_batch(opts)
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    print(summary.line(), file=sys.stderr)
    return summary.exit_code


def _cmd_synth(args: argparse.Namespace) -> int:
    from georisk.synth import SynthSpec, generate

    try:
        stats = generate(
            SynthSpec(
                entities=args.entities,
                links_per_entity=args.links_per_entity,
                arrangements=args.arrangements,
                seed=args.seed,
                mode=args.mode,
            ),
            args.out_dir,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    doc = stats.to_dict()
    if args.bods or args.ftm:
        from georisk.synth.foreign import write_bods, write_ftm

        try:
            if args.bods:
                doc["bods_statements"] = write_bods(args.out_dir, args.bods)
            if args.ftm:
                doc["ftm_entities"] = write_ftm(args.out_dir, args.ftm)
        except (RuntimeError, OSError) as exc:  # no followthemoney; an unwritable FILE
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    print(json.dumps(doc, indent=2))
    return EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    from georisk.interop.write import STREAMERS, stream_dataset, write_dataset

    missing = [str(p) for p in args.sources if not p.is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    if args.merge and not args.out.is_dir():
        print(f"error: --merge: {args.out} is not a dataset directory", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.format in STREAMERS and not args.merge:  # streaming, bulk CSV out (at scale)
            got = stream_dataset(args.format, args.sources, args.out)
            res, notes, rejected = got.written, got.notes, got.rejected
        else:
            imported = importer(args.format)(args.sources)
            notes, rejected = imported.notes, imported.rejected
            res = write_dataset(imported, args.out, merge_into=args.out if args.merge else None)
    except RuntimeError as exc:  # a format whose library is not installed (ftm: an extra)
        if isinstance(exc, RecursionError):  # a bug, not a usage error: say so loudly
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DatasetError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        print(
            f"error: import refused ({len(exc.issues)} problems); {args.out} left as it was",
            file=sys.stderr,
        )
        return EXIT_DATA
    for line in res.merged:
        print(f"merge: {line}", file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    for r in rejected[:20]:
        print(f"rejected: {r.line()}", file=sys.stderr)
    c = res.counts
    print(
        f"ok: {args.out}: {c['entity']} entities, {c['link']} links, {c['source']} sources; "
        f"{len(rejected)} rejected" + (f" (all in {res.errors_file})" if res.errors_file else ""),
        file=sys.stderr,
    )
    return 1 if rejected else EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.is_dir() or not out.absolute().parent.is_dir():
        print(f"error: {out}: not a file in an existing directory", file=sys.stderr)
        return EXIT_USAGE
    try:
        write = exporter(args.format)
    except RuntimeError as exc:  # a format whose library is not installed (ftm: an extra)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.store is not None:
        if args.data_dir is not None:
            print("error: give DATA or --store, not both", file=sys.stderr)
            return EXIT_USAGE
        from georisk.store import StoreError, open_store

        try:
            with open_store(args.store) as store:
                ds, seq = store.snapshot(as_known_at=args.known_at)
        except StoreError as exc:
            print(f"error: {args.store.split('@')[-1]}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"note: store version {seq}, dataset {ds.version}", file=sys.stderr)
    elif args.known_at is not None:
        print("error: --known-at goes with --store", file=sys.stderr)
        return EXIT_USAGE
    else:
        loaded = _load(args.data_dir or default_data_dir())
        if loaded is None:
            return EXIT_DATA
        ds = loaded
    tmp = out.with_name(f".{out.name}.part")
    try:
        res = write(ds, args.as_of or clock.today(), tmp)
        os.replace(tmp, out)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        tmp.unlink(missing_ok=True)
    for note in res.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"ok: {out}: {res.count} {res.what}", file=sys.stderr)
    return EXIT_OK


def _store_parser(sub: Any) -> None:
    st = sub.add_parser(
        "store",
        help="the durable store: init from a dataset directory, migrate, export (docs/store.md)",
        description="URL is sqlite:///PATH or postgresql://USER@HOST:PORT/DB. Exit status: 0 ok, "
        "2 usage (a bad URL, an unreachable or unmigrated store), 3 refused (the dataset, or "
        "init into a store that is not empty).",
    )
    ss = st.add_subparsers(dest="store_command", required=True)
    si = ss.add_parser("init", help="migrate, then fill an empty store from a dataset directory")
    si.add_argument("url", metavar="URL")
    si.add_argument("--from", dest="from_dir", type=Path, required=True, metavar="DIR")
    si.add_argument("--actor", default=None, help="who (default: the login name)")
    si.add_argument("--reason", default=None, help="why (default: 'init from DIR')")
    si.add_argument(
        "--if-empty",
        action="store_true",
        help="a store that holds data already is left as it is, exit 0 (for a seed job that "
        "runs on every deploy)",
    )
    sm = ss.add_parser("migrate", help="create or upgrade the store's schema (Alembic)")
    sm.add_argument("url", metavar="URL")
    se = ss.add_parser("export", help="write the store as a dataset directory")
    se.add_argument("url", metavar="URL")
    se.add_argument("-o", "--out", type=Path, required=True, metavar="DIR")


def _login_name() -> str:
    """Who runs the command, for the change log (``cli`` when the system cannot say)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no USER/LOGNAME and no passwd entry (some containers)
        return "cli"


def _cmd_store(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from georisk.store import StoreError, StoreNotEmpty, migrate, open_store

    try:
        if args.store_command == "migrate":
            print(f"ok: {args.url}: schema revision {migrate(args.url)}", file=sys.stderr)
            return EXIT_OK
        if args.store_command == "init":
            migrate(args.url)
            with open_store(args.url) as s:
                seq = s.init_from(
                    args.from_dir,
                    actor=args.actor or _login_name(),
                    reason=args.reason or f"init from {args.from_dir}",
                )
            print(f"ok: {args.url}: {seq} records from {args.from_dir}; version {seq}",
                  file=sys.stderr)  # fmt: skip
            return EXIT_OK
        with open_store(args.url) as s:
            seq = s.export(args.out)
        print(f"ok: {args.out}: the store at version {seq}", file=sys.stderr)
        return EXIT_OK
    except DatasetError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        print(f"error: dataset {args.from_dir} refused ({len(exc.issues)} problems)",
              file=sys.stderr)  # fmt: skip
        return EXIT_DATA
    except StoreNotEmpty as exc:
        if args.store_command == "init" and args.if_empty:
            print(f"ok: {args.url}: not empty, left as it is (--if-empty)", file=sys.stderr)
            return EXIT_OK
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except (StoreError, ValueError, SQLAlchemyError, OSError) as exc:
        print(f"error: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_USAGE


def _remote_options(args: argparse.Namespace) -> Any:
    from georisk.batch.remote import RemoteOptions  # gRPC only for --target

    return RemoteOptions(args.target, token=args.token, ca=args.ca, cert=args.cert, key=args.key)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # defaults that depend on when and where the command runs are resolved now, not when the
    # parser is built: the dataset ($GEORISK_DATA, else the embedded one) and today (UTC)
    if "data_dir" in args and args.data_dir is None and args.command != "export":
        args.data_dir = default_data_dir()
    if args.command in ("ownership", "score") and args.as_of is None:
        args.as_of = clock.today()
    handlers = {
        "validate": _cmd_validate,
        "ownership": _cmd_ownership,
        "score": _cmd_score,
        "timeline": _cmd_timeline,
        "explain": run_explain,
        "serve": _cmd_serve,
        "health": _cmd_health,
        "batch": _cmd_batch,
        "synth": _cmd_synth,
        "import": _cmd_import,
        "export": _cmd_export,
        "store": _cmd_store,
    }
    try:
        return handlers[args.command](args)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
