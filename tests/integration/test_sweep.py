"""``zerobeta sweep`` on a local Ray: a 2x2 grid and a 3-fold walk-forward of the funding
harvester on short windows of the bundled data, through the command line (``agent.cli.main``)
and through the library.

One local Ray of two CPUs serves the module: started by the sweep's own ``ray_session`` (what
the command does), used by every sweep of the module (a process already connected to Ray
keeps its connection) and shut down at the end, with a check that none of its processes
outlives it.

What is compared is computed without the sweep code: the same configurations run directly
(``load_config`` with overrides written out here + ``Supervisor`` + ``build_summary``, as
``zerobeta backtest`` does), the best training run found by a plain ``max`` over the table,
the out-of-sample return compounded here from the test rows.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import io
import json
import math
import re
import shutil
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.config import load_config
from agent.reporting.report import build_summary
from agent.reporting.summary import RunSummary
from agent.research.grid import load_grid
from agent.research.plan import build_plan
from agent.research.ray_runner import execute, ray_session
from agent.research.table import run_rows, write_table
from agent.supervisor import Supervisor
from tests.support.processes import alive, descendants

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT_TOML = REPO_ROOT / "agent.toml"
SECTIONS = (
    "funding_harvester",
    "stat_arb",
    "factor_neutral",
    "cross_venue_arb",
    "beta_hedger",
    "funding_flip_monitor",
)
GRID = """
[sweep]
strategies = ["funding_harvester"]
start = {start}
end = {end}
metric = "{metric}"
pbo_blocks = 4

[grid.funding_harvester]
min_net_apr_frac = [0.02, 0.05]
max_positions = [1, 3]
"""
PARAMS = ("funding_harvester.min_net_apr_frac", "funding_harvester.max_positions")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray of 2 CPUs for the module; afterwards none of its processes is alive."""
    before = set(descendants())
    session = ray_session(workers=2)
    session.__enter__()
    try:
        yield
    finally:
        started = set(descendants()) - before
        session.__exit__(None, None, None)
    assert started, "Ray started no process?"
    assert alive(started) == set()


def _grid(tmp_path: Path, start: str, end: str, metric: str) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(GRID.format(start=start, end=end, metric=metric), encoding="utf-8")
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _sweep(tmp_path: Path, grid: Path, *args: str) -> int:
    argv = ["sweep", "--grid", str(grid), "--config", str(AGENT_TOML), *args]
    return main([*argv, "--out", str(tmp_path / "sweep.csv")])


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _direct(tmp_path: Path, start: date, end: date, row: dict[str, str]) -> RunSummary:
    """The run of ``row``'s grid point on ``[start, end)``, without the sweep: only the
    funding harvester enabled (as ``zerobeta backtest --strategy funding_harvester``)."""
    strategies: dict[str, Any] = {name: {"enabled": False} for name in SECTIONS}
    strategies["funding_harvester"] = {
        "enabled": True,
        "min_net_apr_frac": float(row[PARAMS[0]]),
        "max_positions": int(row[PARAMS[1]]),
    }
    journal = tmp_path / f"direct-{row['run_id']}.sqlite"
    overrides = {
        "market_data": {"start": start.isoformat(), "end": end.isoformat()},
        "journal": {"path": str(journal)},
        "strategies": strategies,
    }
    config = load_config(AGENT_TOML, env={}, overrides=overrides)
    result = asyncio.run(Supervisor(config).run())
    return build_summary(result.journal_path)


def _float(cell: str) -> float:
    return float(cell) if cell else math.nan


def _assert_row_is(row: dict[str, str], summary: RunSummary) -> None:
    perf = summary.performance
    assert Decimal(row["final_equity_usd"]) == summary.final_equity_usd
    assert Decimal(row["pnl_total_usd"]) == summary.pnl_usd["total_usd"]
    assert Decimal(row["pnl_funding_usd"]) == summary.pnl_usd["funding_usd"]
    assert Decimal(row["fees_paid_usd"]) == summary.fees_paid_usd
    assert int(row["fills"]) == summary.counts.fills
    assert int(row["n_days"]) == perf.n_days
    assert _float(row["total_return_frac"]) == perf.total_return_frac
    assert _float(row["max_drawdown_frac"]) == perf.max_drawdown_frac
    sharpe = _float(row["sharpe"])
    assert sharpe == perf.sharpe or (math.isnan(sharpe) and math.isnan(perf.sharpe))


def test_a_2x2_grid_gives_the_rows_of_the_same_backtests_run_directly(
    local_ray: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grid = _grid(tmp_path, "2025-09-01", "2025-09-15", "sharpe")
    terminal = Tty()
    monkeypatch.setattr(sys, "stderr", terminal)

    assert _sweep(tmp_path, grid, "--json", "--html", str(tmp_path / "sweep.html")) == 0

    rows = _read(tmp_path / "sweep.csv")
    assert [r["run_id"] for r in rows] == ["0", "1", "2", "3"]
    assert [(r[PARAMS[0]], r[PARAMS[1]]) for r in rows] == [
        ("0.02", "1"),
        ("0.02", "3"),
        ("0.05", "1"),
        ("0.05", "3"),
    ]
    assert len({r["final_equity_usd"] for r in rows}) > 1  # the parameters do change the runs
    for row in (rows[0], rows[3]):  # both parameters differ between these two
        _assert_row_is(row, _direct(tmp_path, date(2025, 9, 1), date(2025, 9, 15), row))
    report = json.loads(capsys.readouterr().out)
    (window,) = report["windows"]
    best = max(rows, key=lambda r: (_float(r["sharpe"]), -int(r["run_id"])))
    assert window["best_run_id"] == int(best["run_id"])
    assert window["window"] == {"start": "2025-09-01", "end": "2025-09-15"}
    assert window["deflated_sharpe_ratio"]["n_trials"] == 4
    assert window["deflated_sharpe_ratio"]["n_obs"] == 14  # days of the window
    assert window["probability_of_backtest_overfitting"]["n_combinations"] == 6
    assert report["tables"] == [str(tmp_path / "sweep.csv"), str(tmp_path / "sweep.html")]
    _assert_page_shows_the_table(tmp_path / "sweep.html", rows)
    drawn = terminal.getvalue()  # the progress bar, on a terminal
    assert "sweep" in drawn
    assert "100%" in drawn


def _screenshot_script() -> Any:
    """``benchmarks/tearsheet_screenshot.py`` as a module (benchmarks/ is not a package)."""
    path = REPO_ROOT / "benchmarks" / "tearsheet_screenshot.py"
    spec = importlib.util.spec_from_file_location("tearsheet_screenshot", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_page_shows_the_table(page: Path, rows: list[dict[str, str]]) -> None:
    """``sweep --html``: the heatmap's grid table holds each run's Sharpe ratio at its
    parameters, every number cell equals the table (the screenshot script's check), and,
    where Chromium is installed, the page renders without console messages."""
    html = page.read_text(encoding="utf-8")
    by_id = {r["run_id"]: r for r in rows}
    grid = html[html.index('<table class="grid">') : html.index("</table>")]
    cells = re.findall(r'data-run-id="(\d+)" data-column="sharpe" data-value="([^"]*)"', grid)
    assert sorted(run_id for run_id, _ in cells) == sorted(by_id)
    for run_id, value in cells:
        assert value == by_id[run_id]["sharpe"]
    # across: min_net_apr_frac 0.02, 0.05; down: max_positions=1, max_positions=3
    assert [run_id for run_id, _ in cells] == ["0", "2", "1", "3"]
    module = _screenshot_script()
    assert module.check_sweep_page(html, page.with_suffix(".csv")) == []
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return
    code, stderr = module.screenshot(chromium, page, page.with_suffix(".png"), "1200,900")
    assert code == 0
    assert module.console_messages(stderr) == []
    assert page.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_the_same_grid_gives_the_same_table(local_ray: None, tmp_path: Path) -> None:
    grid = load_grid(_grid(tmp_path, "2025-09-01", "2025-09-15", "sharpe"))
    tables = []
    for name in ("first.csv", "second.csv"):
        outcomes = execute(build_plan(AGENT_TOML, grid))
        write_table(tmp_path / name, run_rows(outcomes, grid.columns()))
        tables.append((tmp_path / name).read_bytes())
    assert tables[0] == tables[1]
    assert tables[0].count(b"\n") == 5


def test_a_3_fold_walk_forward_tests_the_best_training_run_of_each_fold(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = _grid(tmp_path, "2025-09-01", "2025-10-01", "total_return_frac")
    journals = tmp_path / "journals"

    code = _sweep(tmp_path, grid, "--walk-forward", "3", "--keep-journals", str(journals))

    assert code == 0
    rows = _read(tmp_path / "sweep.csv")
    assert [r["phase"] for r in rows] == ["train"] * 12 + ["test"] * 3
    tests = rows[12:]
    for fold, test in enumerate(tests, start=1):
        train = [r for r in rows if r["phase"] == "train" and r["fold"] == str(fold)]
        best = max(train, key=lambda r: (float(r["total_return_frac"]), -int(r["run_id"])))
        assert test["picked_from"] == best["run_id"]
        assert (test[PARAMS[0]], test[PARAMS[1]]) == (best[PARAMS[0]], best[PARAMS[1]])
        assert test["window_start"] == train[0]["window_end"]  # rolling: the next segment
        # Each run's journal is kept; the summary of the test run's is its row.
        _assert_row_is(test, build_summary(journals / f"run-{int(test['run_id']):04d}.sqlite"))
    first = tests[0]  # and the first fold's test run, run directly
    start, end = (date.fromisoformat(first[k]) for k in ("window_start", "window_end"))
    _assert_row_is(first, _direct(tmp_path, start, end, first))

    folds = _read(tmp_path / "sweep.folds.csv")
    assert [f["picked_from"] for f in folds] == [t["picked_from"] for t in tests]
    assert [f["test_run_id"] for f in folds] == ["12", "13", "14"]
    daily = _read(tmp_path / "sweep.oos_returns.csv")
    days = [date(2025, 9, 8) + timedelta(days=i) for i in range(23)]  # test segments 9/8..10/1
    assert [date.fromisoformat(d["day"]) for d in daily] == days
    compounded = math.prod(1 + float(t["total_return_frac"]) for t in tests)
    assert float(daily[-1]["equity_index"]) == pytest.approx(compounded, rel=1e-9)
    out = capsys.readouterr().out
    assert "walk-forward: 3 folds, rolling" in out
    oos_line = next(line for line in out.splitlines() if line.startswith("out of sample"))
    assert f"total return {compounded - 1:.2%}" in oos_line
    assert "23 days" in oos_line


def test_a_window_without_data_exits_2_naming_the_run(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = _grid(tmp_path, "2031-01-01", "2031-01-10", "sharpe")
    assert _sweep(tmp_path, grid) == 2
    err = capsys.readouterr().err
    # The first run to fail stops the sweep (which of the 4 depends on the workers' timing).
    assert re.search(r"\nrun [0-3] \(grid, window 2031-01-01\.\.2031-01-10\): market_data", err)
    assert "Unhandled error" not in err  # the other runs' failures were collected
    assert not (tmp_path / "sweep.csv").exists()
