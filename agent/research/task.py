"""One backtest of a sweep: a grid point on a window → its figures and daily returns.

:func:`run_backtest` is a pure function of its :class:`BacktestSpec` (the configuration file,
the overrides, the window; the replay is deterministic), run as one Ray task by
:mod:`agent.research.ray_runner` or directly: it loads the configuration with the spec's
overrides, replays it through the supervisor exactly as ``zerobeta backtest`` does
(``asyncio.run(Supervisor(config).run())``), builds the summary from the journal
(:func:`agent.reporting.report.build_summary`) and reads the journal's daily returns. The
journal goes to a temporary directory removed afterwards unless the spec names a path.

:func:`run_pick` is the test run of a walk-forward fold: it picks the best training run
(:func:`select_best`) and runs its grid point on the test window.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agent.config import load_config
from agent.errors import AgentError
from agent.journal.journal import Journal
from agent.reporting.analysis import MS_PER_DAY
from agent.reporting.report import build_summary
from agent.reporting.summary import RunSummary
from agent.research.grid import LOWER_IS_BETTER, GridPoint, Window
from agent.supervisor import Supervisor

Phase = Literal["grid", "train", "test"]
MetricValue = float | int | Decimal | str | None
"""A table cell: ratios and fractions as float, USD amounts as Decimal (exact), counts as int,
``reason`` as text or None."""


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    """One backtest of a sweep.

    Attributes
    ----------
    run_id : int
        Row of the run table, 0-based, in plan order.
    phase : {"grid", "train", "test"}
        A plain sweep's run, or a walk-forward training run or test run.
    fold : int or None
        Walk-forward fold (1..K), None for a plain sweep.
    window : Window
        The replay window.
    point : GridPoint
        The grid point (parameter values); empty for a walk-forward test run until picked.
    config_path : Path
        ``agent.toml``, absolute.
    base_overrides : Mapping[str, Any]
        Overrides common to the sweep's runs (replay source, strategies on/off, data
        directory, no progress bar), nested as for :func:`agent.config.load_config`.
    journal_path : Path or None
        Where the run's journal is kept (``--keep-journals``); None = a temporary directory.
    """

    run_id: int
    phase: Phase
    fold: int | None
    window: Window
    point: GridPoint
    config_path: Path
    base_overrides: Mapping[str, Any] = field(default_factory=dict)
    journal_path: Path | None = None

    def overrides(self, journal_path: Path) -> dict[str, Any]:
        """The configuration overrides of this run with its journal at ``journal_path``."""
        out = _merge({}, self.base_overrides)
        market: dict[str, Any] = {}
        if self.window.start is not None:
            market["start"] = self.window.start.isoformat()
        if self.window.end is not None:
            market["end"] = self.window.end.isoformat()
        params: dict[str, Any] = {}
        for strategy, key, value in self.point:
            params.setdefault(strategy, {})[key] = value
        layer = {
            "market_data": market,
            "journal": {"path": str(journal_path), "overwrite": True},
            "strategies": params,
        }
        return _merge(out, layer)

    def with_point(self, point: GridPoint) -> BacktestSpec:
        """This spec with another grid point."""
        return dataclasses.replace(self, point=point)


@dataclass(frozen=True, slots=True)
class PickSpec:
    """A walk-forward test run: pick among ``train_run_ids`` by ``metric``, run on ``test``.

    Attributes
    ----------
    test : BacktestSpec
        The test run, its point empty until picked.
    train_run_ids : tuple[int, ...]
        The fold's training runs.
    metric : str
        The table column that picks (:data:`agent.research.grid.METRICS`).
    """

    test: BacktestSpec
    train_run_ids: tuple[int, ...]
    metric: str


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one backtest gives the sweep.

    Attributes
    ----------
    spec : BacktestSpec
        The run (for a test run, with the picked point).
    metrics : Mapping[str, MetricValue]
        The summary's figures by table column (:func:`summary_metrics`).
    ts_day_ms : tuple[int, ...]
        Each UTC day of the run (00:00, epoch ms; :func:`daily_returns`).
    returns_frac : tuple[float, ...]
        That day's return: the day's close over the previous day's (the first day's over the
        initial equity), minus 1; compounded they give ``total_return_frac``.
    picked_from : int or None
        For a walk-forward test run, the training run whose point was picked.
    """

    spec: BacktestSpec
    metrics: Mapping[str, MetricValue]
    ts_day_ms: tuple[int, ...]
    returns_frac: tuple[float, ...]
    picked_from: int | None = None

    def metric(self, name: str) -> float:
        """Column ``name`` as a float (NaN when empty)."""
        return metric_float(self.metrics.get(name))


class RunInterrupted(AgentError):
    """A backtest stopped before the end of its window (a stop signal reached the worker):
    its figures would be those of a shorter window, so the sweep refuses them."""


def run_backtest(spec: BacktestSpec) -> RunOutcome:
    """Replay ``spec`` and summarize it (module docstring).

    Raises
    ------
    agent.errors.ConfigError
        The configuration refuses the overrides, or the window holds no data.
    venues.replay.loader.DataFileError
        A malformed data file.
    RunInterrupted
        A stop signal ended the replay early.
    agent.errors.AgentError
        Any other failure of the run.
    """
    with _journal_location(spec) as journal:
        config = load_config(spec.config_path, env={}, overrides=spec.overrides(journal))
        result = asyncio.run(Supervisor(config).run())
        if result.stopped_early:
            raise RunInterrupted(f"run {spec.run_id} was stopped before the end of its window")
        summary = build_summary(result.journal_path)
        days, returns = daily_returns(result.journal_path, summary.initial_equity_usd)
    return RunOutcome(spec, summary_metrics(summary), days, returns)


def run_pick(pick: PickSpec, *train: RunOutcome) -> RunOutcome:
    """The test run of a walk-forward fold: the best of ``train`` (:func:`select_best`) run
    on ``pick.test``'s window.

    Raises
    ------
    ValueError
        If ``train`` is empty or not the runs ``pick`` names.
    As :func:`run_backtest` otherwise.
    """
    if sorted(o.spec.run_id for o in train) != sorted(pick.train_run_ids):
        raise ValueError(f"test run {pick.test.run_id} was handed the wrong training runs")
    best = select_best(train, pick.metric)
    outcome = run_backtest(pick.test.with_point(best.spec.point))
    return dataclasses.replace(outcome, picked_from=best.spec.run_id)


def select_best(outcomes: Sequence[RunOutcome], metric: str) -> RunOutcome:
    """The run best by ``metric``: highest (lowest for ``max_drawdown_frac``), an empty or
    NaN value counting as the worst, ties to the lowest ``run_id``.

    Raises
    ------
    ValueError
        If ``outcomes`` is empty.
    """
    if not outcomes:
        raise ValueError("no run to pick from")
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0

    def key(o: RunOutcome) -> tuple[bool, float, int]:
        value = o.metric(metric)
        return (math.isnan(value), sign * value if not math.isnan(value) else 0.0, o.spec.run_id)

    return min(outcomes, key=key)


def summary_metrics(summary: RunSummary) -> dict[str, MetricValue]:
    """The table columns of a run summary, in table order.

    ``n_days`` … ``beta`` from the performance statistics (``beta``: ex-post beta of daily
    returns to BTC), the equity and P&L by stream (``pnl_<stream>``, costs negative), each
    strategy's total P&L (``pnl_<strategy>_total_usd``), gross fees and funding, the counts,
    and ``reason`` (why some ratios are empty)."""
    perf = summary.performance
    row: dict[str, MetricValue] = {
        "n_days": perf.n_days,
        "total_return_frac": perf.total_return_frac,
        "annualized_return_frac": perf.annualized_return_frac,
        "sharpe": perf.sharpe,
        "max_drawdown_frac": perf.max_drawdown_frac,
        "calmar": perf.calmar,
        "beta": perf.neutrality.beta,
        "initial_equity_usd": summary.initial_equity_usd,
        "final_equity_usd": summary.final_equity_usd,
    }
    row.update({f"pnl_{stream}": v for stream, v in summary.pnl_usd.items()})
    row.update(
        {f"pnl_{name}_total_usd": s["total_usd"] for name, s in summary.pnl_by_strategy_usd.items()}
    )
    counts = summary.counts
    row.update(
        {
            "fees_paid_usd": summary.fees_paid_usd,
            "funding_received_usd": summary.funding_received_usd,
            "funding_paid_usd": summary.funding_paid_usd,
            "orders": counts.orders,
            "fills": counts.fills,
            "rejected_orders": counts.rejected_orders,
            "risk_rejections": counts.risk_rejections,
            "funding_payments": counts.funding_payments,
            "reason": perf.reason,
        }
    )
    return row


def daily_returns(
    journal_path: Path, initial_equity_usd: Decimal
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """UTC days and daily returns of the run journaled at ``journal_path``.

    A replay steps at the close of each hourly bar, so a snapshot at 00:00 UTC closes the day
    before: a day's close is its last snapshot in ``(00:00, 24:00]``. The snapshot a run
    takes at the 00:00 that starts its window closes the day before the window and is not a
    day of the run. A day's return is its close over the previous day's close (the first
    day's over ``initial_equity_usd``), minus 1, so two consecutive windows give consecutive,
    non-overlapping days and the returns compound to the run's total return.

    Returns
    -------
    tuple
        ``(ts_day_ms, returns_frac)``: days as epoch ms at 00:00 UTC, returns as fractions;
        both empty without snapshots.
    """
    with Journal.open(journal_path) as journal:
        points = journal.equity_series()
    ts = np.array([p.ts_ms for p in points], dtype=np.int64)
    equity = np.array([float(p.equity_usd) for p in points])
    day = (ts - 1) // MS_PER_DAY * MS_PER_DAY
    in_run = day >= ts[:1] // MS_PER_DAY * MS_PER_DAY  # drops a 00:00 start snapshot
    day, equity = day[in_run], equity[in_run]
    if day.size == 0:
        return (), ()
    last = np.flatnonzero(np.append(day[1:] != day[:-1], True))
    closes = equity[last]
    previous = np.concatenate([[float(initial_equity_usd)], closes[:-1]])
    returns = closes / previous - 1.0
    return tuple(int(d) for d in day[last]), tuple(float(r) for r in returns)


def metric_float(value: MetricValue) -> float:
    """A table cell as a float: NaN for None or text."""
    if value is None or isinstance(value, str):
        return math.nan
    return float(value)


@contextmanager
def _journal_location(spec: BacktestSpec) -> Iterator[Path]:
    if spec.journal_path is not None:
        yield spec.journal_path
        return
    with tempfile.TemporaryDirectory(prefix="zerobeta-sweep-") as tmp:
        yield Path(tmp) / "journal.sqlite"


def _merge(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """``layer`` merged into a copy of ``base``, tables recursively."""
    out = dict(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        elif isinstance(value, Mapping):
            out[key] = _merge({}, value)
        else:
            out[key] = value
    return out
