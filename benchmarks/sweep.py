"""Wall time of a parameter sweep on a local Ray with 1 and with 2 workers.

Usage (from the repository root)::

    .venv/bin/python benchmarks/sweep.py                       # 3x3 stat-arb grid, 3 months
    .venv/bin/python benchmarks/sweep.py --workers 1,2,4 --start 2025-03-01 --end 2025-09-01

The grid: stat arb alone, ``entry_z`` × ``exit_z`` = {1.5, 2.0, 2.5} × {0.25, 0.5, 0.75}
(9 backtests) on one window, picked by Sharpe. For each worker count a fresh local Ray is
started (``agent.research.ray_runner.ray_session``, what ``zerobeta sweep`` does), the plan's
backtests run as Ray tasks (``execute``) and Ray is shut down; the journal of each run goes
to a temporary directory. Printed per worker count: Ray's start-up time, the wall time of the
9 backtests, the speed-up over the first count, and whether the run table is byte-identical
to the first count's (a sweep's table must not depend on how many workers ran it), and
the 1-minute load average after the run.

The speed-up only shows on cores no other process is using, so the benchmark first measures
how many cores are free: the same pure-Python loop in 1 process and in 2 processes at once
(``free cores ≈ 2 × time alone / time side by side``: 2.0 on an idle 2-core machine, 1.0 when
something else holds a core).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.logs import configure_logging  # noqa: E402
from agent.research.grid import load_grid  # noqa: E402
from agent.research.plan import build_plan  # noqa: E402
from agent.research.ray_runner import execute, ray_session  # noqa: E402
from agent.research.table import run_rows, write_table  # noqa: E402

GRID = """
[sweep]
strategies = ["stat_arb"]
start = {start}
end = {end}
metric = "sharpe"

[grid.stat_arb]
entry_z = [1.5, 2.0, 2.5]
exit_z = [0.25, 0.5, 0.75]
"""


_BURN = (
    "import time\nt = time.perf_counter()\nsum(range(20_000_000))\nprint(time.perf_counter() - t)"
)


def free_cores() -> float:
    """About how many cores two CPU-bound processes get at once (see the module docstring)."""
    alone = _burn(1)[0]
    side_by_side = max(_burn(2))
    return 2.0 * alone / side_by_side


def _burn(n: int) -> list[float]:
    procs = [
        subprocess.Popen([sys.executable, "-c", _BURN], stdout=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    return [float(p.communicate()[0]) for p in procs]


def run_once(grid_path: Path, config: Path, workers: int, table: Path) -> tuple[float, float]:
    """(Ray start-up s, backtests s) of one sweep on a local Ray of ``workers`` CPUs."""
    grid = load_grid(grid_path)
    plan = build_plan(config, grid)
    start = time.perf_counter()
    session = ray_session(workers=workers)
    session.__enter__()
    try:
        started = time.perf_counter()
        outcomes = execute(plan)
        done = time.perf_counter()
    finally:
        session.__exit__(None, None, None)
    write_table(table, run_rows(outcomes, grid.columns()))
    return started - start, done - started


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--start", default="2025-06-01", help="window start (UTC date)")
    parser.add_argument("--end", default="2025-09-01", help="window end, exclusive")
    parser.add_argument("--config", type=Path, default=ROOT / "agent.toml")
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; returns the process exit code."""
    args = _parse_args(argv)
    configure_logging("warning", "json", io.StringIO())
    print(
        f"sweep wall time: 3x3 stat_arb grid, {args.start}..{args.end}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.machine()}"
    )
    print(f"free cores: {free_cores():.2f} (2 CPU-bound processes at once)")
    with tempfile.TemporaryDirectory(prefix="zerobeta-bench-") as tmp:
        grid_path = Path(tmp) / "grid.toml"
        grid_path.write_text(GRID.format(start=args.start, end=args.end), encoding="utf-8")
        first: tuple[float, bytes] | None = None
        for workers in args.workers:
            table = Path(tmp) / f"sweep-{workers}.csv"
            startup_s, runs_s = run_once(grid_path, args.config, workers, table)
            content = table.read_bytes()
            if first is None:
                first = (runs_s, content)
            speedup = first[0] / runs_s
            same = "identical" if content == first[1] else "DIFFERENT"
            load = os.getloadavg()[0]
            print(
                f"{workers} worker(s): 9 backtests in {runs_s:6.2f} s (Ray start-up "
                f"{startup_s:5.2f} s), speed-up {speedup:4.2f}x, table {same}; "
                f"load average {load:.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
