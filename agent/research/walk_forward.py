"""Walk-forward folds: train on the past, test the pick on what follows.

``--walk-forward K`` cuts the span ``[start, end)`` into K + 1 consecutive segments of whole
UTC days (as equal as whole days allow: segment i starts ``floor(i · D / (K + 1))`` days
after ``start``, D the span's days). Fold k (1..K) tests on segment k and trains on:

- **rolling** (the default): segment k − 1 only, so every training set has the same length
  and old regimes drop out;
- **anchored** (``--anchored``): segments 0..k − 1, from ``start`` up to the test segment
  (an expanding window).

On each training set every grid point runs; the best by the grid's metric is run on the test
segment, which starts flat with the configured capital, as a ``zerobeta backtest`` of that
window would. The out-of-sample result is the test runs' daily returns end to end
(:func:`concatenate_returns`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from agent.reporting.analysis import (
    DAYS_PER_YEAR,
    MIN_DAYS,
    max_drawdown,
    sharpe_annualized,
)
from agent.research.grid import Window

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Fold:
    """One walk-forward fold: ``index`` 1..K, its training and test windows."""

    index: int
    train: Window
    test: Window


@dataclass(frozen=True, slots=True, eq=False)
class OutOfSample:
    """The test runs' daily returns end to end.

    Attributes
    ----------
    ts_day_ms : ndarray, shape (d,), int64
        Each UTC day (00:00, epoch ms) of every test run, in fold order.
    returns_frac : ndarray, shape (d,), float64
        That day's return (close over the previous close; a fold's first day over its
        initial equity).
    fold : ndarray, shape (d,), int64
        The fold each day belongs to.
    total_return_frac : float
        Compounded: ``prod(1 + r) − 1``.
    sharpe : float
        Annualized (365 days) Sharpe ratio of ``returns_frac``; NaN under 3 days or for
        constant returns.
    max_drawdown_frac : float
        Of the compounded daily equity index (day closes; intraday troughs are not seen).
    """

    ts_day_ms: npt.NDArray[np.int64]
    returns_frac: FloatArray
    fold: npt.NDArray[np.int64]
    total_return_frac: float
    sharpe: float
    max_drawdown_frac: float


def split_folds(start: date, end: date, folds: int, *, anchored: bool) -> list[Fold]:
    """The K = ``folds`` walk-forward folds of ``[start, end)`` (module docstring).

    Raises
    ------
    ValueError
        ``folds < 1``, ``start >= end``, or a segment shorter than
        :data:`agent.reporting.analysis.MIN_DAYS` days (no Sharpe ratio could be computed on
        it).
    """
    if folds < 1:
        raise ValueError(f"--walk-forward needs at least 1 fold, got {folds}")
    days = (end - start).days
    if days <= 0:
        raise ValueError(f"the walk-forward span {start}..{end} is empty")
    edges = [start + timedelta(days=i * days // (folds + 1)) for i in range(folds + 2)]
    shortest = min((b - a).days for a, b in itertools.pairwise(edges))
    if shortest < MIN_DAYS:
        raise ValueError(
            f"{folds} folds cut {start}..{end} ({days} days) into {folds + 1} segments of "
            f"{shortest} days or more; each needs {MIN_DAYS} days at least"
        )
    return [
        Fold(
            index=k,
            train=Window(edges[0] if anchored else edges[k - 1], edges[k]),
            test=Window(edges[k], edges[k + 1]),
        )
        for k in range(1, folds + 1)
    ]


def concatenate_returns(
    series: list[tuple[int, npt.ArrayLike, npt.ArrayLike]],
) -> OutOfSample:
    """The test runs' daily returns end to end.

    Parameters
    ----------
    series : list of (fold, ts_day_ms, returns_frac)
        One entry per fold in fold order: its test run's UTC days (shape (d,), int64 epoch
        ms) and daily returns (shape (d,), float64 fractions).

    Returns
    -------
    OutOfSample

    Raises
    ------
    ValueError
        Mismatched lengths, non-finite returns, or days that go backwards across folds.
    """
    folds: list[npt.NDArray[np.int64]] = []
    days: list[npt.NDArray[np.int64]] = []
    rets: list[FloatArray] = []
    for fold, ts, r in series:
        ts_a = np.asarray(ts, dtype=np.int64)
        r_a = np.asarray(r, dtype=np.float64)
        if ts_a.shape != r_a.shape or ts_a.ndim != 1:
            raise ValueError(f"fold {fold}: {ts_a.shape} days but {r_a.shape} returns")
        days.append(ts_a)
        rets.append(r_a)
        folds.append(np.full(ts_a.shape, fold, dtype=np.int64))
    ts_all = np.concatenate(days) if days else np.empty(0, dtype=np.int64)
    r_all = np.concatenate(rets) if rets else np.empty(0, dtype=np.float64)
    if np.any(np.diff(ts_all) <= 0):
        raise ValueError("out-of-sample days must increase from fold to fold")
    if not np.all(np.isfinite(r_all)):
        raise ValueError("out-of-sample returns hold a non-finite value")
    index = np.cumprod(1.0 + r_all)
    total = float(index[-1] - 1.0) if index.size else 0.0
    sharpe = sharpe_annualized(r_all, DAYS_PER_YEAR) if r_all.size >= MIN_DAYS else math.nan
    drawdown = max_drawdown(np.concatenate([[1.0], index]))[0] if index.size else 0.0
    return OutOfSample(
        ts_day_ms=ts_all,
        returns_frac=r_all,
        fold=np.concatenate(folds) if folds else np.empty(0, dtype=np.int64),
        total_return_frac=total,
        sharpe=sharpe,
        max_drawdown_frac=float(drawdown),
    )
