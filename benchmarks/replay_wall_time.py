"""Wall time of the default replay (``zerobeta run`` with the shipped ``agent.toml``).

Usage (from the repository root)::

    .venv/bin/python benchmarks/replay_wall_time.py               # one run
    .venv/bin/python benchmarks/replay_wall_time.py --repeat 3    # three runs, best and median

Each run loads the configuration (``agent.toml``; the process environment is not read), with
two overrides only: the journal goes to a fresh temporary directory and logs are written at
``warning`` to a throwaway sink, so the figure measures the engine, not a terminal. It then
replays the whole bundled window through the supervisor exactly as ``zerobeta run`` does
(``asyncio.run(Supervisor(config).run())``) and builds the summary from the journal
(``agent.reporting.report.build_summary``), as the CLI does before printing.

With ``--compare REV`` it measures this tree and git revision ``REV`` (checked out in a
temporary worktree) in the same run, alternating, each as a ``zerobeta run`` process of its own
tree on its own shipped ``agent.toml`` (journal in a temporary directory, logs at ``warning``):
a before/after of a change on the same machine state, e.g. ``--compare 6c79ba9 --repeat 3``.

Printed per run: total wall time (load data + replay + journal flush), the process CPU time
over the same span (on a shared machine, wall − CPU is time spent waiting for a core), the
replay loop's own time (``RunResult.wall_time_s``), the summary build time, hourly steps per
second (steps over the total), the journal's row count and the peak RSS of the process; then
the best and median total against the goal of issue 14 (< 10 s wall on a 2-core machine) and
the figure measured before the speed-ups of that issue (:data:`BEFORE_S`). With ``--compare``
each run's wall, CPU and peak RSS (of its own process) are printed for both trees.

To check that a change left the results alone, compare the journals row by row
(``benchmarks/journal_diff.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.config import load_config  # noqa: E402
from agent.journal.journal import TABLES  # noqa: E402
from agent.logs import configure_logging  # noqa: E402
from agent.reporting.report import build_summary  # noqa: E402
from agent.supervisor import Supervisor  # noqa: E402

TARGET_S = 10.0
"""Goal of issue 14: wall time of the full default replay on a 2-core machine, seconds."""

BEFORE_S = 31.6
"""The default replay before issue 14's speed-ups (commit 1fada51), wall seconds on the 2-core
development machine unloaded, 198 MB peak RSS (the issue's figure). On a shared machine compare
in the same minute instead: ``--compare 1fada51``."""


@dataclass(frozen=True, slots=True)
class RunFigures:
    """Figures of one replay run.

    Attributes
    ----------
    total_s : float
        Wall time of ``Supervisor.run`` (data load, replay, journal flush and close), seconds.
    cpu_s : float
        CPU time of the process (all threads) over the same span, seconds; on a shared
        machine it shows how much of ``total_s`` was waiting for a core.
    loop_s : float
        Wall time of the replay loop alone, as the supervisor measured it, seconds.
    summary_s : float
        Wall time of building the summary from the journal, seconds.
    steps : int
        Hourly steps replayed.
    journal_rows : int
        Rows over every journal table.
    peak_rss_mb : float
        Peak resident set size of the benchmark process so far, MiB.
    """

    total_s: float
    cpu_s: float
    loop_s: float
    summary_s: float
    steps: int
    journal_rows: int
    peak_rss_mb: float

    @property
    def steps_per_s(self) -> float:
        """Hourly steps per second of total wall time."""
        return self.steps / self.total_s if self.total_s > 0 else float("nan")


def journal_row_count(path: Path) -> int:
    """Rows over every journal table of the file at ``path``."""
    conn = sqlite3.connect(path)
    try:
        return sum(
            int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in TABLES
        )
    finally:
        conn.close()


def run_once(config_path: Path) -> RunFigures:
    """Replay the default configuration once with the journal in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="zerobeta-bench-") as tmp:
        journal = Path(tmp) / "journal.sqlite"
        config = load_config(
            config_path,
            env={},
            overrides={
                "journal": {"path": str(journal)},
                "logging": {"level": "warning", "progress": False},
            },
        )
        # lines are rendered and written, not held (a StringIO would count in the RSS)
        sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
        configure_logging("warning", "json", sink)
        start, cpu_start = time.perf_counter(), time.process_time()
        result = asyncio.run(Supervisor(config).run())
        total_s = time.perf_counter() - start
        cpu_s = time.process_time() - cpu_start
        start = time.perf_counter()
        build_summary(result.journal_path, wall_time_s=result.wall_time_s)
        summary_s = time.perf_counter() - start
        rows = journal_row_count(journal)
        return RunFigures(
            total_s, cpu_s, result.wall_time_s, summary_s, result.steps, rows, _peak_rss_mb()
        )


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak RSS of this process (or of its largest waited-for child), MiB (Linux: KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A detached git worktree of ``rev`` in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="zerobeta-rev-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree), rev],
            check=True,
        )
        try:
            yield tree
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )


def run_process(tree: Path) -> tuple[float, float, float]:
    """Wall and CPU time (s) and peak RSS (MiB) of one ``zerobeta run`` of ``tree``'s code on
    its ``agent.toml``, in a process of its own (``PYTHONPATH`` = the tree, journal in a
    temporary directory)."""
    with tempfile.TemporaryDirectory(prefix="zerobeta-bench-") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(tree),
            "ZEROBETA_JOURNAL__PATH": str(Path(tmp) / "journal.sqlite"),
            "ZEROBETA_LOGGING__LEVEL": "warning",
        }
        cmd = [sys.executable, "-m", "agent.cli", "run", "--config", str(tree / "agent.toml")]
        start = time.perf_counter()
        child = subprocess.Popen(
            cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU time and peak RSS
        wall_s = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise subprocess.CalledProcessError(child.returncode, cmd)
        return wall_s, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def compare(rev: str, repeat: int) -> None:
    """Alternate runs of this tree and of ``rev``; print each pair and the medians."""
    this: list[tuple[float, float, float]] = []
    other: list[tuple[float, float, float]] = []
    with worktree(rev) as tree:
        for k in range(1, repeat + 1):
            this.append(run_process(ROOT))
            other.append(run_process(tree))
            print(
                f"run {k}: this tree {this[-1][0]:6.2f} s wall ({this[-1][1]:6.2f} s cpu, "
                f"{this[-1][2]:4.0f} MiB)   {rev} {other[-1][0]:6.2f} s wall "
                f"({other[-1][1]:6.2f} s cpu, {other[-1][2]:4.0f} MiB)"
            )
    for label, runs in (("this tree", this), (rev, other)):
        walls, cpus = [w for w, _, _ in runs], [c for _, c, _ in runs]
        print(
            f"{label}: median {statistics.median(walls):.2f} s wall, "
            f"{statistics.median(cpus):.2f} s cpu, best {min(walls):.2f} s, "
            f"peak RSS {max(r for _, _, r in runs):.0f} MiB"
        )
    ratio = statistics.median(w for w, _, _ in this) / statistics.median(w for w, _, _ in other)
    cpu_ratio = statistics.median(c for _, c, _ in this) / statistics.median(c for _, c, _ in other)
    print(f"this tree / {rev}: {ratio:.3f} median wall, {cpu_ratio:.3f} median cpu (< 1 faster)")
    _verdict(statistics.median(w for w, _, _ in this))


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="number of runs (default 1)")
    parser.add_argument(
        "--config", type=Path, default=ROOT / "agent.toml", help="config file (default agent.toml)"
    )
    parser.add_argument(
        "--compare",
        metavar="REV",
        help="also time git revision REV (a temporary worktree), alternating with this tree",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; returns the process exit code (always 0)."""
    args = _parse_args(argv)
    print(
        f"replay wall time: {args.config}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.machine()}"
    )
    if args.compare:
        compare(args.compare, args.repeat)
        return 0
    runs: list[RunFigures] = []
    for k in range(1, args.repeat + 1):
        fig = run_once(args.config)
        runs.append(fig)
        print(
            f"run {k}: total {fig.total_s:7.2f} s  (cpu {fig.cpu_s:6.2f} s, "
            f"replay loop {fig.loop_s:6.2f} s, "
            f"summary {fig.summary_s:5.2f} s)  {fig.steps:,} steps  "
            f"{fig.steps_per_s:7.1f} steps/s  {fig.journal_rows:,} journal rows  "
            f"peak RSS {fig.peak_rss_mb:.0f} MiB"
        )
    totals = [r.total_s for r in runs]
    best, median = min(totals), statistics.median(totals)
    print(f"best {best:.2f} s, median {median:.2f} s over {len(runs)} run(s)")
    _verdict(median)
    return 0


def _verdict(median_s: float) -> None:
    """The median against the goal and the figure before the speed-ups."""
    verdict = "within" if median_s < TARGET_S else "OVER"
    print(
        f"goal < {TARGET_S:.0f} s wall: {verdict} ({median_s / TARGET_S:.0%} of it); before the "
        f"speed-ups {BEFORE_S:.1f} s ({median_s / BEFORE_S:.0%} of it, same machine unloaded)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
