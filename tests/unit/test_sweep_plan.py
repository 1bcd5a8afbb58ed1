"""``zerobeta sweep`` before anything runs: the grid file, its check against the configuration
(exit 2 naming the bad key), the runs planned, walk-forward folds, the pick of the best run,
the out-of-sample concatenation and the run table's cells. No Ray, no backtest."""

from __future__ import annotations

import csv
import io
import math
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from agent.cli import main
from agent.errors import ConfigError
from agent.logs import configure_logging
from agent.research.grid import Window, load_grid
from agent.research.plan import WalkForward, build_plan
from agent.research.table import run_rows, write_table
from agent.research.task import BacktestSpec, RunOutcome, select_best
from agent.research.walk_forward import concatenate_returns, split_folds

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT_TOML = REPO_ROOT / "agent.toml"
DAY_MS = 86_400_000


@pytest.fixture(autouse=True)
def _logs_to_a_sink() -> object:
    yield
    configure_logging("warning", "json", io.StringIO())


def _grid(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text, encoding="utf-8")
    return path


GRID_2X2 = """
[sweep]
strategies = ["stat_arb"]
start = 2025-09-01
end = 2025-10-01
metric = "total_return_frac"

[grid.stat_arb]
entry_z = [1.5, 2.5]
exit_z = [0.25, 0.5]
"""


# --------------------------------------------------------------------------------------------
# The grid file
# --------------------------------------------------------------------------------------------


def test_a_grid_runs_the_cartesian_product_last_parameter_fastest(tmp_path: Path) -> None:
    grid = load_grid(_grid(tmp_path, GRID_2X2))
    assert grid.strategies == ("stat_arb",)
    assert grid.windows == (Window(date(2025, 9, 1), date(2025, 10, 1)),)
    assert grid.metric == "total_return_frac"
    assert grid.pbo_blocks == 16
    assert grid.columns() == ["stat_arb.entry_z", "stat_arb.exit_z"]
    assert grid.points() == [
        (("stat_arb", "entry_z", 1.5), ("stat_arb", "exit_z", 0.25)),
        (("stat_arb", "entry_z", 1.5), ("stat_arb", "exit_z", 0.5)),
        (("stat_arb", "entry_z", 2.5), ("stat_arb", "exit_z", 0.25)),
        (("stat_arb", "entry_z", 2.5), ("stat_arb", "exit_z", 0.5)),
    ]


def test_an_empty_grid_is_one_run_of_the_configuration(tmp_path: Path) -> None:
    grid = load_grid(_grid(tmp_path, "[sweep]\nwindows = [{start = 2025-09-01, end = 2025-09-08}]"))
    assert grid.points() == [()]
    assert grid.strategies is None
    assert grid.metric == "sharpe"


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("[sweep]\nmetrc = 'sharpe'", "sweep.metrc", "unknown key"),
        ("[sweep]\nmetric = 'profit'", "sweep.metric", "sharpe"),
        ("[sweep]\npbo_blocks = 7", "sweep.pbo_blocks", "even"),
        ("[sweep]\nstart = 2025-09-02\nend = 2025-09-01", "sweep", "before end"),
        (
            "[sweep]\nstart = 2025-09-01\nwindows = [{start = 2025-09-01, end = 2025-09-05}]",
            "sweep",
            "not both",
        ),
        ("[sweep]\nwindows = [{start = 2025-09-01}]", "sweep.windows[0].end", "missing"),
        ("[grid.stat_arb]\nentry_z = []", "grid.stat_arb.entry_z", "at least 1"),
        ("[grid.stat_arb]\nentry_z = 2.0", "grid.stat_arb.entry_z", "list"),
        ("[grid.stat_arb]\nentry_z = [2.0, 2.0]", "grid.stat_arb.entry_z", "more than once"),
        ("[sweep]\nwindows = [{start = 2025-09-01, end = 2025-09-05}, "
         "{start = 2025-09-01, end = 2025-09-05}]", "sweep.windows", "more than once"),
        ("[sweep\n", "grid.toml", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_malformed_grid_file_names_the_key(
    tmp_path: Path, text: str, path: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_grid(_grid(tmp_path, text))
    paths = [p for p, _ in caught.value.errors]
    assert any(p == path or p.endswith(path) for p in paths), caught.value.errors
    assert words in str(caught.value)


def test_a_missing_grid_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="grid file not found"):
        load_grid(tmp_path / "nope.toml")


# --------------------------------------------------------------------------------------------
# The grid against the configuration: `zerobeta sweep` exits 2 naming the key
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grid_text", "key", "words"),
    [
        ("[grid.stat_arb]\nentry_zz = [1.0]", "grid.stat_arb.entry_zz", "not a parameter"),
        ("[grid.stat_arb]\nentry_z = [-1.0, 2.0]", "grid.stat_arb.entry_z", "greater than 0"),
        ("[grid.stat_arb]\nentry_z = [2.0, 4.0]", "grid.stat_arb", "exit_z < entry_z < stop_z"),
        ("[grid.stat_arb]\nenabled = [true, false]", "grid.stat_arb.enabled", "not swept"),
        ("[grid.no_such]\nx = [1]", "grid.no_such", "not a strategy section"),
        (
            "[sweep]\nstrategies = ['stat_arb']\n[grid.funding_harvester]\nmax_positions = [1, 2]",
            "grid.funding_harvester",
            "does not run in this sweep",
        ),
        ("[sweep]\nstrategies = ['stat_arb', 'nope']", "sweep.strategies", "unknown strategy nope"),
    ],
)
def test_a_grid_the_configuration_refuses_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], grid_text: str, key: str, words: str
) -> None:
    grid = _grid(tmp_path, grid_text)
    out = tmp_path / "sweep.csv"
    code = main(["sweep", "--grid", str(grid), "--config", str(AGENT_TOML), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"\n{key}: " in err
    assert words in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["--walk-forward", "0"], "--walk-forward"),
        (["--walk-forward", "40"], "--walk-forward"),  # 41 segments of a 30-day span
        (["--anchored"], "--anchored"),
        (["--workers", "0"], "--workers"),
        (["--out", "table.xlsx"], "--out"),
    ],
)
def test_bad_sweep_options_exit_2_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], key: str
) -> None:
    grid = _grid(tmp_path, GRID_2X2)
    argv = ["sweep", "--grid", str(grid), "--config", str(AGENT_TOML)]
    if "--out" not in args:
        argv += ["--out", str(tmp_path / "sweep.csv")]
    code = main([*argv, *args])
    assert code == 2
    assert f"\n{key}: " in capsys.readouterr().err


def test_a_walk_forward_needs_one_span(tmp_path: Path) -> None:
    grid = load_grid(
        _grid(
            tmp_path,
            "[sweep]\nwindows = [{start = 2025-09-01, end = 2025-09-20}, "
            "{start = 2025-10-01, end = 2025-10-20}]",
        )
    )
    with pytest.raises(ConfigError) as caught:
        build_plan(AGENT_TOML, grid, walk_forward=WalkForward(2))
    assert caught.value.errors[0][0] == "sweep.windows"


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------


def test_a_plain_plan_runs_every_point_on_every_window(tmp_path: Path) -> None:
    text = GRID_2X2.replace(
        "start = 2025-09-01\nend = 2025-10-01",
        "windows = [{start = 2025-09-01, end = 2025-09-15},"
        " {start = 2025-10-01, end = 2025-10-15}]",
    )
    grid = load_grid(_grid(tmp_path, text))
    plan = build_plan(AGENT_TOML, grid, keep_journals=tmp_path / "journals")
    assert plan.size == 8
    assert [r.run_id for r in plan.runs] == list(range(8))
    assert [r.window.start for r in plan.runs] == [date(2025, 9, 1)] * 4 + [date(2025, 10, 1)] * 4
    assert [r.point for r in plan.runs[:4]] == grid.points()
    assert {r.phase for r in plan.runs} == {"grid"}
    assert plan.runs[5].journal_path == tmp_path / "journals" / "run-0005.sqlite"
    overrides = plan.runs[5].overrides(Path("/j.sqlite"))
    assert overrides["market_data"] == {
        "source": "replay",
        "start": "2025-10-01",
        "end": "2025-10-15",
    }
    assert overrides["journal"] == {"path": "/j.sqlite", "overwrite": True}
    strategies = overrides["strategies"]
    assert strategies["stat_arb"] == {"enabled": True, "entry_z": 1.5, "exit_z": 0.5}
    assert strategies["funding_harvester"] == {"enabled": False}
    assert strategies["funding_flip_monitor"] == {"enabled": False}


def test_a_walk_forward_plan_trains_every_point_then_tests_one_per_fold(tmp_path: Path) -> None:
    grid = load_grid(_grid(tmp_path, GRID_2X2))
    plan = build_plan(AGENT_TOML, grid, walk_forward=WalkForward(3))
    assert plan.size == 3 * 4 + 3
    assert [r.fold for r in plan.runs] == [1] * 4 + [2] * 4 + [3] * 4
    assert [p.train_run_ids for p in plan.picks] == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11)]
    assert [p.test.run_id for p in plan.picks] == [12, 13, 14]
    assert all(p.test.point == () and p.metric == "total_return_frac" for p in plan.picks)
    # 30 days in 4 segments of 7, 8, 7, 8 days (floor(i · 30 / 4)); rolling: train on the
    # segment before each test segment.
    d = date
    assert [(f.train, f.test) for f in plan.folds] == [
        (Window(d(2025, 9, 1), d(2025, 9, 8)), Window(d(2025, 9, 8), d(2025, 9, 16))),
        (Window(d(2025, 9, 8), d(2025, 9, 16)), Window(d(2025, 9, 16), d(2025, 9, 23))),
        (Window(d(2025, 9, 16), d(2025, 9, 23)), Window(d(2025, 9, 23), d(2025, 10, 1))),
    ]
    assert plan.runs[4].window == plan.folds[1].train


def test_anchored_folds_train_from_the_start() -> None:
    folds = split_folds(date(2025, 1, 1), date(2025, 1, 31), 2, anchored=True)
    assert [f.train for f in folds] == [
        Window(date(2025, 1, 1), date(2025, 1, 11)),
        Window(date(2025, 1, 1), date(2025, 1, 21)),
    ]
    assert [f.test for f in folds] == [
        Window(date(2025, 1, 11), date(2025, 1, 21)),
        Window(date(2025, 1, 21), date(2025, 1, 31)),
    ]


def test_folds_shorter_than_three_days_are_refused() -> None:
    with pytest.raises(ValueError, match="3 days at least"):
        split_folds(date(2025, 1, 1), date(2025, 1, 9), 3, anchored=False)  # 2-day segments


# --------------------------------------------------------------------------------------------
# Picking, concatenating, tabulating
# --------------------------------------------------------------------------------------------


def _outcome(run_id: int, **metrics: object) -> RunOutcome:
    spec = BacktestSpec(run_id, "train", 1, Window(None, None), (("s", "k", run_id),), AGENT_TOML)
    return RunOutcome(spec, metrics, (), ())  # type: ignore[arg-type]


def test_the_best_run_is_the_highest_ties_to_the_lowest_id_nan_last() -> None:
    runs = [
        _outcome(0, sharpe=math.nan, max_drawdown_frac=0.01),
        _outcome(1, sharpe=1.5, max_drawdown_frac=0.03),
        _outcome(2, sharpe=2.0, max_drawdown_frac=0.02),
        _outcome(3, sharpe=2.0, max_drawdown_frac=None),
    ]
    assert select_best(runs, "sharpe").spec.run_id == 2
    assert select_best(runs, "max_drawdown_frac").spec.run_id == 0  # lower is better
    assert select_best(runs[:1], "sharpe").spec.run_id == 0  # NaN, but the only one
    with pytest.raises(ValueError, match="no run"):
        select_best([], "sharpe")


def test_out_of_sample_returns_compound_across_folds() -> None:
    d0 = 20_000 * DAY_MS
    oos = concatenate_returns(
        [
            (1, [d0, d0 + DAY_MS], [0.01, -0.02]),
            (2, [d0 + 2 * DAY_MS, d0 + 3 * DAY_MS, d0 + 4 * DAY_MS], [0.03, 0.0, -0.01]),
        ]
    )
    returns = np.array([0.01, -0.02, 0.03, 0.0, -0.01])
    assert oos.total_return_frac == pytest.approx(np.prod(1 + returns) - 1, rel=1e-12)
    assert list(oos.fold) == [1, 1, 2, 2, 2]
    expected_sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(365)
    assert oos.sharpe == pytest.approx(expected_sharpe, rel=1e-12)
    # Index 1.01 → 0.9898 (peak 1.01): drawdown 2 %.
    assert oos.max_drawdown_frac == pytest.approx(0.02, rel=1e-9)
    with pytest.raises(ValueError, match="increase"):
        concatenate_returns([(1, [d0, d0 + DAY_MS], [0.0, 0.0]), (2, [d0 + DAY_MS], [0.0])])


def test_the_run_table_writes_exact_cells(tmp_path: Path) -> None:
    spec = BacktestSpec(
        7,
        "grid",
        None,
        Window(date(2025, 9, 1), date(2025, 9, 15)),
        (("stat_arb", "entry_z", 2.0), ("stat_arb", "symbols", ["BTCUSDT", "ETHUSDT"])),
        AGENT_TOML,
    )
    metrics = {
        "sharpe": 0.1 + 0.2,
        "calmar": math.nan,
        "pnl_total_usd": Decimal("-1.10"),
        "fills": 3,
    }
    rows = run_rows([RunOutcome(spec, metrics, (), ())], ["stat_arb.entry_z", "stat_arb.symbols"])
    path = tmp_path / "t.csv"
    write_table(path, rows)
    with path.open(newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert row["run_id"] == "7"
    assert row["window_start"] == "2025-09-01"
    assert row["fold"] == ""
    assert row["stat_arb.entry_z"] == "2.0"
    assert row["stat_arb.symbols"] == '["BTCUSDT", "ETHUSDT"]'
    assert float(row["sharpe"]) == 0.1 + 0.2  # round-trips exactly
    assert row["calmar"] == ""
    assert row["pnl_total_usd"] == "-1.10"
    assert row["fills"] == "3"


def test_the_parquet_table_has_the_csv_columns(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")  # optional: Parquet output only
    spec = BacktestSpec(3, "test", 2, Window(date(2025, 9, 8), date(2025, 9, 16)), (), AGENT_TOML)
    metrics = {"sharpe": 1.25, "calmar": math.nan, "pnl_total_usd": Decimal("2.50"), "fills": 4}
    rows = run_rows([RunOutcome(spec, metrics, (), (), picked_from=1)], [])
    write_table(tmp_path / "t.parquet", rows)
    (row,) = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert row == {
        "run_id": 3,
        "phase": "test",
        "fold": 2,
        "window_start": "2025-09-08",
        "window_end": "2025-09-16",
        "picked_from": 1,
        "sharpe": 1.25,
        "calmar": None,
        "pnl_total_usd": 2.5,
        "fills": 4,
    }


def test_the_readme_grid_example_is_a_valid_grid(tmp_path: Path) -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Sweeps and walk-forward") :]
    block = section[section.index("```toml\n") + len("```toml\n") :]
    grid = load_grid(_grid(tmp_path, block[: block.index("```")]))
    plan = build_plan(AGENT_TOML, grid, walk_forward=WalkForward(3))
    assert grid.columns() == ["stat_arb.entry_z", "stat_arb.exit_z"]
    assert plan.size == 3 * 6 + 3
