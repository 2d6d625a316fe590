"""``georisk explain``: an arrangement's chart or memo, written to a file.

    georisk explain [DATA] --arrangement ID [--as-of DATE] [--scenario ID] [--overlay FILE]
                    --format svg|png|dot|graphml|gexf|html|md -o FILE

Exit status: 0 written; 2 usage (a bad option, an output directory that does not exist, or
Graphviz ``dot`` missing for svg, png and html); 3 the dataset or overlay was refused; 4 an
unknown arrangement or scenario. A Markdown memo writes its chart beside it as ``FILE.svg``
(``memo.md`` → ``memo.svg``) and links it. ``FILE`` is replaced atomically.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from georisk.render.chart import MAX_NODES
from georisk.render.dot import DotMissing
from georisk.render.explain import FORMATS, ExplainOptions, explain
from georisk.scoring import clock
from georisk.scoring.dataset import DatasetError
from georisk.scoring.engine import Engine, NotFoundError
from georisk.scoring.overlay import load_overlay
from georisk.scoring.packs import ALL_PACKS

__all__ = ["add_explain_parser", "run_explain"]

EXIT_OK, EXIT_USAGE, EXIT_DATA, EXIT_NOT_FOUND = 0, 2, 3, 4


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


def add_explain_parser(sub: Any) -> None:
    """Add ``explain`` to the ``georisk`` subcommands ``sub``."""
    p = sub.add_parser(
        "explain",
        help="draw an arrangement: its ownership-and-technology chart or a one-page memo "
        "(docs/explain.md)",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
    )
    p.add_argument(
        "data_dir",
        type=Path,
        nargs="?",
        help="dataset directory (default $GEORISK_DATA, else the embedded dataset)",
    )
    p.add_argument("--arrangement", required=True, metavar="ID", help="arrangement id")
    p.add_argument("--as-of", type=_date, help="date, YYYY-MM-DD (default today, in UTC)")
    p.add_argument(
        "--scenario",
        default="current-law",
        help="scenario whose verdicts are shown (default current-law)",
    )
    p.add_argument("--overlay", type=Path, help="what-if overlay file (YAML/JSON)")
    p.add_argument("--format", choices=FORMATS, required=True, help="what to write")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="FILE")
    p.add_argument(
        "--pack",
        action="append",
        metavar="IDS",
        help="policy packs, comma-separated or repeated (us,eu,uk); default all: every pack of "
        "DATA/policies (else the shipped ones), us first",
    )
    p.add_argument(
        "--max-nodes",
        type=int,
        default=MAX_NODES,
        help=f"nodes drawn at most (default {MAX_NODES}); the rest become 'N more holders'",
    )
    p.add_argument("--no-timeline", action="store_true", help="memo without the timeline (faster)")


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run_explain(args: argparse.Namespace) -> int:
    """Run ``georisk explain`` (see the module docstring)."""
    out: Path = args.out
    if out.is_dir() or not out.absolute().parent.is_dir():
        print(f"error: {out}: not a file in an existing directory", file=sys.stderr)
        return EXIT_USAGE
    if args.max_nodes < 1:
        print("error: --max-nodes must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        engine = Engine.from_dir(args.data_dir, pack=args.pack or ALL_PACKS)
        overlay = load_overlay(args.overlay, args.arrangement) if args.overlay else None
        chart_file = out.with_suffix(".svg").name if args.format == "md" else None
        opts = ExplainOptions(
            max_nodes=args.max_nodes, timeline=not args.no_timeline, chart_file=chart_file
        )
        r = explain(
            engine,
            args.arrangement,
            as_of=args.as_of or clock.today(),
            scenario=args.scenario,
            overlay=overlay,
            fmt=args.format,
            options=opts,
        )
    except DotMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except DatasetError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        return EXIT_DATA
    _write(out, r.data)
    if r.chart_svg is not None:
        _write(out.with_suffix(".svg"), r.chart_svg)
    c = r.chart
    drawn = sum(1 for n in c.nodes if n.kind != "more")
    note = f"; {c.hidden:,} further holders not drawn" if c.hidden else ""
    print(
        f"ok: {out}: {r.format} ({r.media_type}), {drawn} entities and {len(c.edges)} links "
        f"drawn{note}",
        file=sys.stderr,
    )
    return EXIT_OK
