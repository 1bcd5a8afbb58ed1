"""``zerobeta sweep``: a parameter grid, or a walk-forward over it, as Ray tasks.

::

    zerobeta sweep --grid GRID.toml [--config agent.toml] [--out runs/sweep.csv]
                   [--walk-forward K [--anchored]] [--workers N | --address ADDR]
                   [--keep-journals DIR] [--html OUT.html] [--json]

Checks the grid against the configuration (exit 2 naming the key), runs every backtest as a
Ray task (:mod:`agent.research.ray_runner`; a progress bar on a terminal), writes the run table
(``--out``, CSV or Parquet; a walk-forward adds ``<out>.folds`` and ``<out>.oos_returns``),
with ``--html`` a page of that table with the heatmap of the grid
(:mod:`agent.research.sweep_page`), and prints the report: the best run of each window or
training fold with its deflated Sharpe ratio and the probability of backtest overfitting, and
the walk-forward's out-of-sample result (:mod:`agent.research.report`).

This module is imported by ``agent.cli`` for every command, so it imports only the standard
library at the top; the sweep's own modules (and Ray) are imported when the command runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from agent.research.plan import SweepPlan, WalkForward
    from agent.research.report import SweepReport
    from agent.research.task import RunOutcome

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_OUT = Path("runs/sweep.csv")


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sweep`` to the ``zerobeta`` sub-commands (``args.command == "sweep"``)."""
    sweep = subparsers.add_parser(
        "sweep", help="backtest a parameter grid (or walk forward over it) as Ray tasks"
    )
    sweep.add_argument("--grid", type=Path, required=True, help="the grid file (TOML)")
    sweep.add_argument("--config", type=Path, default=Path("agent.toml"), help="agent.toml")
    sweep.add_argument("--out", type=Path, default=DEFAULT_OUT, help="run table, .csv or .parquet")
    sweep.add_argument(
        "--walk-forward", dest="walk_forward", type=int, default=None, metavar="K",
        help="K folds: pick on each training window, test the pick on the next",
    )  # fmt: skip
    sweep.add_argument(
        "--anchored", action="store_true",
        help="walk-forward training windows start at the span's start (default: rolling)",
    )  # fmt: skip
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="local Ray CPUs (default: all)")
    where.add_argument("--address", default=None, help="an existing Ray cluster's address")
    sweep.add_argument(
        "--keep-journals", dest="keep_journals", type=Path, default=None, metavar="DIR",
        help="keep each run's journal as DIR/run-NNNN.sqlite",
    )  # fmt: skip
    sweep.add_argument(
        "--html", type=Path, default=None, metavar="OUT.html",
        help="also write a page with the heatmap of the grid and the run table",
    )  # fmt: skip
    sweep.add_argument("--json", action="store_true", help="print the report as JSON")


def run_cli(args: argparse.Namespace, *, stream: TextIO | None = None) -> int:
    """Run ``zerobeta sweep`` from parsed ``args``; returns the exit code (0, or 130 when
    interrupted: Ray is shut down and nothing is written).

    The report goes to ``stream`` (default stdout), the progress bar to stderr on a terminal.

    Raises
    ------
    agent.errors.ConfigError
        The grid, the configuration, ``--out``, ``--workers`` or ``--walk-forward`` refused,
        before anything runs; or a run's window or data refused in its worker (exit 2).
    """
    from agent.research.grid import load_grid
    from agent.research.plan import build_plan
    from agent.research.report import format_report, report_to_dict

    out = stream if stream is not None else sys.stdout
    walk_forward = _check_options(args)
    grid = load_grid(args.grid)
    keep = args.keep_journals.resolve() if args.keep_journals is not None else None
    plan = build_plan(args.config, grid, walk_forward=walk_forward, keep_journals=keep)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    try:
        report = _run(plan, args)
    except KeyboardInterrupt:
        print("zerobeta: sweep interrupted; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    tables = _write_tables(report, args.out)
    if args.html is not None:
        from agent.research.sweep_page import write_sweep_page  # matplotlib: only now

        tables.append(str(write_sweep_page(args.out, args.html, metric=plan.grid.metric)))
    if args.json:
        data = report_to_dict(report, tables)
        print(json.dumps(data, indent=2, sort_keys=True, default=str), file=out)
    else:
        print(format_report(report, tables), file=out)
    return EXIT_OK


def _check_options(args: argparse.Namespace) -> WalkForward | None:
    """The options that need no file, checked; the walk-forward asked for, if any.

    Raises
    ------
    agent.errors.ConfigError
        Ray missing, ``--workers`` < 1, ``--anchored`` without ``--walk-forward``,
        ``--walk-forward`` < 1, ``--out`` neither CSV nor (with pyarrow) Parquet.
    """
    from agent.errors import ConfigError
    from agent.research.plan import WalkForward
    from agent.research.table import check_table_path

    if importlib.util.find_spec("ray") is None:
        reason = "needs Ray, an optional dependency: pip install 'zerobeta[research]'"
        raise ConfigError([("zerobeta sweep", reason)])
    if args.workers is not None and args.workers < 1:
        raise ConfigError([("--workers", f"must be at least 1, got {args.workers}")])
    if args.anchored and args.walk_forward is None:
        raise ConfigError([("--anchored", "only with --walk-forward")])
    if args.walk_forward is not None and args.walk_forward < 1:
        raise ConfigError([("--walk-forward", f"needs at least 1 fold, got {args.walk_forward}")])
    check_table_path(args.out)
    return WalkForward(args.walk_forward, args.anchored) if args.walk_forward else None


def _run(plan: SweepPlan, args: argparse.Namespace) -> SweepReport:
    """Every backtest of ``plan`` on Ray, then the report."""
    from agent.progress import terminal_progress
    from agent.research.ray_runner import execute, ray_session  # Ray: only now
    from agent.research.report import build_report

    start = time.perf_counter()
    with ray_session(address=args.address, workers=args.workers):
        bar = terminal_progress("sweep", plan.size, sys.stderr)

        def progress(done: int, total: int, outcome: RunOutcome) -> None:
            if bar is not None:
                value = outcome.metric(plan.grid.metric)
                bar.update(done, f"run {outcome.spec.run_id}: {plan.grid.metric} {value:.4g}")

        with bar if bar is not None else nullcontext():
            outcomes = execute(plan, progress)
        ray_where = _ray_where(args)
    return build_report(
        plan,
        outcomes,
        anchored=args.anchored,
        wall_time_s=time.perf_counter() - start,
        ray=ray_where,
    )


def _ray_where(args: argparse.Namespace) -> str:
    if args.address is not None:
        return f"the Ray cluster at {args.address}"
    return f"a local Ray with {args.workers or os.cpu_count() or 1} CPUs"


def _write_tables(report: SweepReport, path: Path) -> list[str]:
    """Write the run table (and the walk-forward's) and return their paths."""
    from agent.research.table import (
        fold_rows,
        out_of_sample_rows,
        run_rows,
        sibling,
        write_table,
    )

    write_table(path, run_rows(report.runs, report.grid.columns()))
    written = [str(path)]
    if report.out_of_sample is not None:
        folds, daily = sibling(path, "folds"), sibling(path, "oos_returns")
        write_table(folds, fold_rows(report))
        write_table(daily, out_of_sample_rows(report.out_of_sample))
        written += [str(folds), str(daily)]
    return written
