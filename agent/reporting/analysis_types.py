"""Value types, constants and input checks of the run statistics in :mod:`agent.reporting.analysis`.

The frozen results (:class:`DailySeries`, :class:`NeutralityStats`, :class:`PerformanceStats`),
the neutrality thresholds (SEEDS.md defaults), the unit constants (epoch ms, 365-day year) and
the validation that turns malformed input (mismatched lengths, NaN/inf, non-positive equity or
prices, unsorted timestamps) into a :class:`ValueError` naming the problem. A snapshot's BTC
(reference) price may be NaN: the reference instrument had no price yet at that step (its data
starts after the window's first step); the statistics then measure neutrality on the
snapshots that have one (:data:`NO_PRICED_SNAPSHOTS` when none has).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MS_PER_DAY = 86_400_000
DAYS_PER_YEAR = 365
MIN_DAYS = 3
"""Fewer UTC days than this and Sharpe, CAGR and Calmar are reported as NaN."""
MIN_REGRESSION_OBS = 3
"""An OLS with an intercept needs at least 3 returns to have a residual degree of freedom."""
PNL_STREAMS = (
    "price_spot_usd",
    "price_perp_usd",
    "funding_usd",
    "fees_usd",
    "slippage_usd",
    "total_usd",
)
"""P&L stream names, in the order the summary prints them."""
NO_PRICED_SNAPSHOTS = "no equity snapshots with a BTC price in the journal"
"""Why neutrality is unavailable when no equity snapshot has a BTC (reference) price."""


# ---------------------------------------------------------------------------------------------
# Value types


@dataclass(frozen=True, slots=True, eq=False)
class DailySeries:
    """Equity and BTC price at each UTC day's close, and their daily simple returns.

    Attributes
    ----------
    ts_day_ms : ndarray, shape (d,), int64
        Start of each UTC day that has at least one snapshot, epoch ms (00:00 UTC).
    equity_usd : ndarray, shape (d,), float64
        Last equity snapshot of each day, USD.
    btc_price_usd : ndarray, shape (d,), float64
        BTC price at that same snapshot, USD; NaN where that snapshot has none.
    equity_returns_frac, btc_returns_frac : ndarray, shape (d - 1,), float64
        Simple returns between consecutive day closes (``x[i+1] / x[i] − 1``). Days without a
        snapshot are skipped, so a return can span more than one calendar day. A BTC return
        next to a close without a BTC price is NaN.
    """

    ts_day_ms: IntArray
    equity_usd: FloatArray
    btc_price_usd: FloatArray
    equity_returns_frac: FloatArray
    btc_returns_frac: FloatArray


@dataclass(frozen=True, slots=True)
class NeutralityThresholds:
    """Thresholds for the neutrality verdict and diagnoses (SEEDS.md defaults).

    Attributes
    ----------
    neutral_beta_abs : float
        Truly neutral needs ``|β| <`` this (0.10).
    neutral_pvalue : float
        ... and β not significant: p-value ``>`` this (0.05).
    lag_beta_abs : float
        ``|β| >`` this (0.15) → estimation lag or sizing error.
    unstable_rolling_std : float
        Rolling-β standard deviation ``>`` this (0.20) → unstable betas.
    factor_r_squared : float
        ``R² >`` this (0.30) → unhedged factor exposure.
    """

    neutral_beta_abs: float = 0.10
    neutral_pvalue: float = 0.05
    lag_beta_abs: float = 0.15
    unstable_rolling_std: float = 0.20
    factor_r_squared: float = 0.30


DEFAULT_THRESHOLDS = NeutralityThresholds()


@dataclass(frozen=True, slots=True)
class NeutralityStats:
    """Ex-post market neutrality: OLS of daily portfolio returns on daily BTC returns.

    Attributes
    ----------
    beta : float
        OLS slope β (dimensionless).
    beta_tstat, beta_pvalue : float
        t-statistic of β against 0 and its two-sided p-value (Student t, ``n_obs − 2`` df).
    beta_ci95 : tuple[float, float]
        95 % confidence interval of β, ``β ± t₀.₉₇₅(n−2) · se(β)``.
    alpha_annualized : float
        Intercept α × periods per year (fraction per year; daily α × 365).
    r_squared : float
        Coefficient of determination of the regression.
    tracking_error_annualized : float
        Standard deviation (ddof=1) of the regression residuals × √periods per year, i.e. the
        annualized volatility of the return not explained by BTC (fraction per year).
    information_ratio : float
        ``alpha_annualized / tracking_error_annualized``.
    n_obs : int
        Number of return pairs used.
    rolling_window : int
        Window of the rolling beta, periods.
    rolling_beta_mean, rolling_beta_std, rolling_beta_max_abs : float
        Mean, standard deviation (ddof=1) and max ``|β|`` of the full-window rolling betas;
        NaN when fewer than ``rolling_window`` returns (std: fewer than 2 rolling values).
    truly_neutral : bool
        ``|β| < 0.10`` and ``p > 0.05`` (thresholds configurable); False when β is NaN.
    diagnoses : tuple[str, ...]
        Human-readable findings (SEEDS.md): estimation lag / sizing error, unstable betas,
        factor exposure, signal decay. Empty when none applies.
    reason : str or None
        Why the regression fields are NaN (too few returns, constant series), else None.
    """

    beta: float
    beta_tstat: float
    beta_pvalue: float
    beta_ci95: tuple[float, float]
    alpha_annualized: float
    r_squared: float
    tracking_error_annualized: float
    information_ratio: float
    n_obs: int
    rolling_window: int
    rolling_beta_mean: float
    rolling_beta_std: float
    rolling_beta_max_abs: float
    truly_neutral: bool
    diagnoses: tuple[str, ...] = ()
    reason: str | None = None

    @classmethod
    def unavailable(cls, reason: str, n_obs: int, rolling_window: int) -> NeutralityStats:
        """All-NaN statistics carrying ``reason`` (a degenerate input, not an error)."""
        nan = math.nan
        return cls(
            nan,
            nan,
            nan,
            (nan, nan),
            nan,
            nan,
            nan,
            nan,
            n_obs,
            rolling_window,
            nan,
            nan,
            nan,
            truly_neutral=False,
            reason=reason,
        )


@dataclass(frozen=True, slots=True)
class PerformanceStats:
    """Risk and return of a run's equity curve, with its neutrality against BTC.

    Attributes
    ----------
    n_days : int
        UTC days with at least one equity snapshot.
    total_return_frac : float
        Last equity / first equity − 1 (NaN without snapshots).
    annualized_return_frac : float
        CAGR over the snapshot span, 365-day year (:func:`annualized_return`).
    max_drawdown_frac : float
        Largest fall from a running peak, fraction of that peak, from the raw (e.g. hourly)
        snapshots, so intraday troughs count (:func:`max_drawdown`).
    drawdown_peak_ts_ms, drawdown_trough_ts_ms : int or None
        When that peak and trough were recorded, epoch ms UTC.
    sharpe : float
        Annualized Sharpe ratio of daily returns (:func:`sharpe_annualized`).
    calmar : float
        CAGR / max drawdown (:func:`calmar`).
    neutrality : NeutralityStats
        Ex-post beta and friends from daily returns (:func:`ex_post_beta`).
    reason : str or None
        Why some fields are NaN (no snapshots, too few days, constant equity), else None.
    """

    n_days: int
    total_return_frac: float
    annualized_return_frac: float
    max_drawdown_frac: float
    drawdown_peak_ts_ms: int | None
    drawdown_trough_ts_ms: int | None
    sharpe: float
    calmar: float
    neutrality: NeutralityStats
    reason: str | None = None


# ---------------------------------------------------------------------------------------------
# Input validation


def as_float_1d(values: npt.ArrayLike, name: str, *, allow_nan: bool = False) -> FloatArray:
    """``values`` as a 1-D float64 array; ValueError naming ``name`` and the first bad index
    if not 1-D or holding inf (or NaN, unless ``allow_nan``)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = np.flatnonzero(np.isinf(arr) if allow_nan else ~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} has a non-finite value at index {bad[0]}: {arr[bad[0]]}")
    return arr


def _as_positive_1d(values: npt.ArrayLike, name: str, *, allow_nan: bool = False) -> FloatArray:
    arr = as_float_1d(values, name, allow_nan=allow_nan)
    bad = np.flatnonzero(arr <= 0.0)  # NaN <= 0 is False: a missing price passes here
    if bad.size:
        raise ValueError(f"{name} must be > 0; index {bad[0]} holds {arr[bad[0]]}")
    return arr


def _as_ts_ms(values: npt.ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"ts_ms must be one-dimensional, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"ts_ms must hold integer epoch milliseconds, got dtype {arr.dtype}")
    ts = arr.astype(np.int64)
    back = np.flatnonzero(np.diff(ts) < 0)
    if back.size:
        raise ValueError(f"ts_ms must be non-decreasing; index {back[0] + 1} goes back in time")
    return ts


def paired_returns(
    portfolio_returns: npt.ArrayLike, market_returns: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    rp = as_float_1d(portfolio_returns, "portfolio_returns")
    rm = as_float_1d(market_returns, "market_returns")
    if rp.shape != rm.shape:
        raise ValueError(f"portfolio_returns {rp.shape} and market_returns {rm.shape} differ")
    return rp, rm


def snapshot_arrays(
    ts_ms: npt.ArrayLike, equity_usd: npt.ArrayLike, btc_price_usd: npt.ArrayLike
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Checked equity snapshots: times (int64 epoch ms, non-decreasing), equity (USD, finite,
    > 0) and BTC price (USD, > 0, or NaN where unknown), all shape (n,).

    Raises
    ------
    ValueError
        Mismatched lengths, non-integer or decreasing times, NaN/inf or <= 0 equity, inf or
        <= 0 BTC price.
    """
    ts = _as_ts_ms(ts_ms)
    eq = _as_positive_1d(equity_usd, "equity_usd")
    btc = _as_positive_1d(btc_price_usd, "btc_price_usd", allow_nan=True)
    if not ts.shape == eq.shape == btc.shape:
        raise ValueError(
            f"ts_ms {ts.shape}, equity_usd {eq.shape} and btc_price_usd {btc.shape} differ"
        )
    return ts, eq, btc
