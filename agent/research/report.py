"""What a sweep found: the best run of each selection, how much of it is selection bias, and
for a walk-forward how the picks did out of sample; as text or a JSON-ready mapping.

A **selection** is a set of runs the best was picked from: every grid point on one window
(plain sweep) or on one fold's training window (walk-forward). For each, the deflated Sharpe
ratio of the pick (N = the selection's runs) and the probability of backtest overfitting of
the selection (CSCV over the runs' daily returns), both from
:mod:`agent.research.overfitting`, on the runs' daily returns (:attr:`RunOutcome.returns_frac`,
the UTC days every run of the selection has).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.reporting.analysis import DAYS_PER_YEAR
from agent.research.grid import GridSpec, Window, param_text
from agent.research.overfitting import (
    BacktestOverfitting,
    DeflatedSharpe,
    deflated_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_ratio,
)
from agent.research.plan import SweepPlan
from agent.research.task import RunOutcome, select_best
from agent.research.walk_forward import Fold, OutOfSample, concatenate_returns

_ANNUALIZE = math.sqrt(DAYS_PER_YEAR)


@dataclass(frozen=True, slots=True)
class Selection:
    """The pick among one set of runs and its selection-bias statistics.

    Attributes
    ----------
    window : Window
        Where the runs ran.
    run_ids : tuple[int, ...]
        The runs picked among (N trials).
    best : RunOutcome
        The best by the grid's metric (:func:`agent.research.task.select_best`).
    dsr : DeflatedSharpe
        Of ``best`` among the runs; Sharpe ratios per day.
    pbo : BacktestOverfitting
        Of the runs.
    """

    window: Window
    run_ids: tuple[int, ...]
    best: RunOutcome
    dsr: DeflatedSharpe
    pbo: BacktestOverfitting


@dataclass(frozen=True, slots=True)
class FoldResult:
    """A walk-forward fold: its training selection and the pick's test run."""

    fold: Fold
    train: Selection
    test: RunOutcome


@dataclass(frozen=True, slots=True)
class SweepReport:
    """A finished sweep.

    Attributes
    ----------
    grid : GridSpec
    runs : tuple[RunOutcome, ...]
        Every run, by run id.
    selections : tuple[Selection, ...]
        Plain sweep: one per window.
    folds : tuple[FoldResult, ...]
        Walk-forward: one per fold.
    out_of_sample : OutOfSample or None
        Walk-forward: the test runs end to end.
    anchored : bool
        Walk-forward scheme (rolling when False).
    wall_time_s : float
        Wall time of the runs (Ray start-up included), seconds.
    ray : str
        Where they ran (``local Ray, 2 CPUs`` or the cluster address).
    """

    grid: GridSpec
    runs: tuple[RunOutcome, ...]
    selections: tuple[Selection, ...]
    folds: tuple[FoldResult, ...]
    out_of_sample: OutOfSample | None
    anchored: bool
    wall_time_s: float
    ray: str


def build_report(
    plan: SweepPlan,
    outcomes: Sequence[RunOutcome],
    *,
    anchored: bool = False,
    wall_time_s: float = math.nan,
    ray: str = "",
) -> SweepReport:
    """The report of ``plan`` from its runs' ``outcomes`` (by run id).

    Raises
    ------
    ValueError
        If ``outcomes`` are not the plan's runs.
    """
    by_id = {o.spec.run_id: o for o in outcomes}
    if sorted(by_id) != list(range(plan.size)):
        raise ValueError(f"expected runs 0..{plan.size - 1}, got {sorted(by_id)}")
    grid = plan.grid
    if not plan.picks:
        selections = tuple(
            selection([o for o in outcomes if o.spec.window == w], grid) for w in grid.windows
        )
        return SweepReport(grid, tuple(outcomes), selections, (), None, anchored, wall_time_s, ray)
    folds = tuple(
        FoldResult(
            fold=fold,
            train=selection([by_id[i] for i in pick.train_run_ids], grid),
            test=by_id[pick.test.run_id],
        )
        for fold, pick in zip(plan.folds, plan.picks, strict=True)
    )
    oos = concatenate_returns(
        [(f.fold.index, f.test.ts_day_ms, f.test.returns_frac) for f in folds]
    )
    return SweepReport(grid, tuple(outcomes), (), folds, oos, anchored, wall_time_s, ray)


def selection(runs: Sequence[RunOutcome], grid: GridSpec) -> Selection:
    """The best of ``runs`` by the grid's metric, with its DSR and the runs' PBO.

    Raises
    ------
    ValueError
        If ``runs`` is empty.
    """
    best = select_best(runs, grid.metric)
    matrix = returns_matrix(runs)
    column = [o.spec.run_id for o in runs].index(best.spec.run_id)
    sharpes = [sharpe_ratio(matrix[:, j]) for j in range(matrix.shape[1])]
    return Selection(
        window=runs[0].spec.window,
        run_ids=tuple(o.spec.run_id for o in runs),
        best=best,
        dsr=deflated_sharpe_ratio(matrix[:, column], sharpes),
        pbo=probability_of_backtest_overfitting(matrix, grid.pbo_blocks),
    )


def returns_matrix(runs: Sequence[RunOutcome]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Daily returns of ``runs`` on the UTC days they all have: shape (days, runs)."""
    common = set(runs[0].ts_day_ms)
    for o in runs[1:]:
        common &= set(o.ts_day_ms)
    days = sorted(common)
    columns = []
    for o in runs:
        by_day = dict(zip(o.ts_day_ms, o.returns_frac, strict=True))
        columns.append([by_day[d] for d in days])
    return np.array(columns, dtype=np.float64).T.reshape(len(days), len(runs))


# ---------------------------------------------------------------------------------------------
# Output


def format_report(report: SweepReport, tables: Sequence[str]) -> str:
    """The report as text for a person (``tables``: the files written)."""
    n = len(report.runs)
    points = len(report.grid.points())
    lines = [
        f"zerobeta sweep: {n} runs ({points} grid points) in {report.wall_time_s:.1f} s on "
        f"{report.ray}; picked by {report.grid.metric}"
    ]
    for sel in report.selections:
        lines += ["", *_selection_lines(f"window {sel.window.label()}", sel, report.grid.metric)]
    if report.folds:
        lines += ["", *_fold_lines(report)]
    lines += ["", "tables: " + ", ".join(tables)]
    return "\n".join(lines)


def _selection_lines(title: str, sel: Selection, metric: str) -> list[str]:
    best = sel.best
    dsr, pbo = sel.dsr, sel.pbo
    figures = [
        f"{name} {_metric_text(name, best.metric(name))}"
        for name in dict.fromkeys([metric, "sharpe", "total_return_frac", "max_drawdown_frac"])
    ]
    lines = [
        f"{title}: {len(sel.run_ids)} runs, best run {best.spec.run_id}: {_point(best)}",
        "  " + ", ".join(figures),
    ]
    if math.isnan(dsr.dsr):
        lines.append(f"  deflated Sharpe ratio n/a ({dsr.reason})")
    else:
        lines.append(
            f"  deflated Sharpe ratio {dsr.dsr:.3f}: probability that its true Sharpe ratio "
            f"({_num(dsr.sharpe * _ANNUALIZE)} annualized) beats "
            f"{_num(dsr.expected_max_sharpe * _ANNUALIZE)}, the expected best of "
            f"{dsr.n_trials} unskilled trials ({dsr.n_obs} daily returns, skewness "
            f"{dsr.skewness:.2f}, kurtosis {dsr.kurtosis:.2f})"
        )
    if math.isnan(pbo.pbo):
        lines.append(f"  probability of backtest overfitting n/a ({pbo.reason})")
    else:
        lines.append(
            f"  probability of backtest overfitting {pbo.pbo:.3f} (CSCV, {pbo.n_blocks} "
            f"blocks, {pbo.n_combinations:,} train/test splits)"
        )
    return lines


def _fold_lines(report: SweepReport) -> list[str]:
    metric = report.grid.metric
    scheme = "anchored" if report.anchored else "rolling"
    header = ["fold", "train", "test", "pick", f"in-sample {metric}", f"out-of-sample {metric}"]
    header += ["OOS return", "PBO", "DSR"]
    cells = [
        [
            str(f.fold.index),
            f.fold.train.label(),
            f.fold.test.label(),
            str(f.train.best.spec.run_id),
            _metric_text(metric, f.train.best.metric(metric)),
            _metric_text(metric, f.test.metric(metric)),
            _pct(f.test.metric("total_return_frac")),
            _num(f.train.pbo.pbo, 3),
            _num(f.train.dsr.dsr, 3),
        ]
        for f in report.folds
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = [f"walk-forward: {len(report.folds)} folds, {scheme}"]
    lines += ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines += [f"  fold {f.fold.index} pick: {_point(f.test)}" for f in report.folds]
    oos = report.out_of_sample
    if oos is not None:
        lines.append(
            f"out of sample, folds end to end: {oos.returns_frac.size} days, total return "
            f"{_pct(oos.total_return_frac)}, sharpe {_num(oos.sharpe)}, max drawdown "
            f"{_pct(oos.max_drawdown_frac)}"
        )
    return lines


def report_to_dict(report: SweepReport, tables: Sequence[str]) -> dict[str, Any]:
    """The report as a JSON-ready mapping (NaN as None; Sharpe ratios annualized)."""
    out: dict[str, Any] = {
        "runs": len(report.runs),
        "metric": report.grid.metric,
        "wall_time_s": report.wall_time_s,
        "ray": report.ray,
        "tables": list(tables),
        "windows": [_selection_dict(s) for s in report.selections],
    }
    if report.folds:
        out["walk_forward"] = {
            "scheme": "anchored" if report.anchored else "rolling",
            "folds": [
                {
                    "fold": f.fold.index,
                    "train": _window_dict(f.fold.train),
                    "test": _window_dict(f.fold.test),
                    "selection": _selection_dict(f.train),
                    "test_run_id": f.test.spec.run_id,
                    "out_of_sample": {
                        k: _json_num(f.test.metric(k))
                        for k in ("sharpe", "total_return_frac", "max_drawdown_frac")
                    },
                }
                for f in report.folds
            ],
        }
        oos = report.out_of_sample
        if oos is not None:
            out["walk_forward"]["out_of_sample"] = {
                "n_days": int(oos.returns_frac.size),
                "total_return_frac": _json_num(oos.total_return_frac),
                "sharpe": _json_num(oos.sharpe),
                "max_drawdown_frac": _json_num(oos.max_drawdown_frac),
            }
    return out


def _selection_dict(sel: Selection) -> dict[str, Any]:
    dsr, pbo = sel.dsr, sel.pbo
    return {
        "window": _window_dict(sel.window),
        "run_ids": list(sel.run_ids),
        "best_run_id": sel.best.spec.run_id,
        "best_params": {f"{s}.{k}": v for s, k, v in sel.best.spec.point},
        "deflated_sharpe_ratio": {
            "dsr": _json_num(dsr.dsr),
            "sharpe_annualized": _json_num(dsr.sharpe * _ANNUALIZE),
            "expected_max_sharpe_annualized": _json_num(dsr.expected_max_sharpe * _ANNUALIZE),
            "n_trials": dsr.n_trials,
            "n_obs": dsr.n_obs,
            "skewness": _json_num(dsr.skewness),
            "kurtosis": _json_num(dsr.kurtosis),
            "reason": dsr.reason,
        },
        "probability_of_backtest_overfitting": {
            "pbo": _json_num(pbo.pbo),
            "n_blocks": pbo.n_blocks,
            "n_combinations": pbo.n_combinations,
            "reason": pbo.reason,
        },
    }


def _window_dict(window: Window) -> dict[str, str | None]:
    return {
        "start": window.start.isoformat() if window.start else None,
        "end": window.end.isoformat() if window.end else None,
    }


def _point(outcome: RunOutcome) -> str:
    point = outcome.spec.point
    if not point:
        return "(the configuration as written)"
    return ", ".join(f"{s}.{k}={param_text(v)}" for s, k, v in point)


def _metric_text(metric: str, value: float) -> str:
    """A table column's value for people: fractions in %, USD with 2 decimals, ratios with 2."""
    if metric.endswith("_frac"):
        return _pct(value)
    if metric.endswith("_usd"):
        return f"{value:,.2f}" if math.isfinite(value) else "n/a"
    return _num(value)


def _num(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def _pct(frac: float) -> str:
    return f"{frac:.2%}" if math.isfinite(frac) else "n/a"


def _json_num(value: float) -> float | None:
    return value if math.isfinite(value) else None
