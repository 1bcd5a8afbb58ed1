"""Statistics of a finished run: daily returns, drawdown, Sharpe, CAGR, ex-post neutrality.

Pure functions over numpy arrays (no I/O, no logging). ``agent.reporting.report`` reads the
journal's
equity snapshots and calls :func:`performance_stats`; ``zerobeta run`` / ``zerobeta summary``
print the result with ``agent.reporting.summary.format_summary`` or ``summary_to_dict``
(``--json``).

Conventions: timestamps are epoch ms UTC; returns are simple returns as fractions
(``0.01`` = 1 %); a year is 365 days (crypto trades every day); annualization multiplies a
daily mean by 365 and a daily standard deviation by √365.

Degenerate runs (no snapshots, fewer than :data:`MIN_DAYS` UTC days, constant equity from a
strategy that never traded, constant market prices) never raise: the affected statistics are
NaN and a ``reason`` field says why; the summary prints them as ``n/a``.
Malformed input (mismatched lengths, NaN/inf, non-positive equity or prices, unsorted
timestamps) raises :class:`ValueError` naming the problem. A NaN BTC price is not malformed: it
marks a snapshot taken before the reference instrument had a price (its data starts after the
window's first step); the equity statistics use every snapshot, the neutrality only those with
a BTC price.

Formulas (SEEDS.md "Measuring neutrality after the fact"): ex-post beta is the OLS slope of
daily portfolio returns on daily BTC returns, ``r_p = α + β r_m + ε``, with the classical
(non-robust) standard error, a two-sided Student-t test on ``n − 2`` degrees of freedom and a
t-based 95 % interval; these equal ``statsmodels.api.OLS(r_p, add_constant(r_m)).fit()``'s
``params``, ``bse``, ``tvalues``, ``pvalues`` and ``conf_int()`` (checked by the unit tests).
The closed form (with ``scipy.special.stdtr``/``stdtrit``, the Student-t CDF and its inverse
that ``scipy.stats.t`` wraps) avoids importing statsmodels or scipy.stats (~1 s) in the CLI.

This module is the public face of the statistics and holds :func:`performance_stats`; the
value types, constants and input checks live in ``agent.reporting.analysis_types``, the equity-curve
statistics in ``agent.reporting.series``, the neutrality regression in
``agent.reporting.neutrality``; import them all from here.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from agent.reporting.analysis_types import (
    DAYS_PER_YEAR,
    DEFAULT_THRESHOLDS,
    MIN_DAYS,
    MIN_REGRESSION_OBS,
    MS_PER_DAY,
    NO_PRICED_SNAPSHOTS,
    PNL_STREAMS,
    DailySeries,
    FloatArray,
    IntArray,
    NeutralityStats,
    NeutralityThresholds,
    PerformanceStats,
    snapshot_arrays,
)
from agent.reporting.neutrality import ex_post_beta, rolling_beta
from agent.reporting.series import (
    annualized_return,
    calmar,
    daily_series,
    max_drawdown,
    sharpe_annualized,
)

__all__ = [
    "DAYS_PER_YEAR",
    "DEFAULT_THRESHOLDS",
    "MIN_DAYS",
    "MIN_REGRESSION_OBS",
    "MS_PER_DAY",
    "NO_PRICED_SNAPSHOTS",
    "PNL_STREAMS",
    "DailySeries",
    "FloatArray",
    "IntArray",
    "NeutralityStats",
    "NeutralityThresholds",
    "PerformanceStats",
    "annualized_return",
    "calmar",
    "daily_series",
    "ex_post_beta",
    "max_drawdown",
    "performance_stats",
    "rolling_beta",
    "sharpe_annualized",
]


def performance_stats(
    ts_ms: npt.ArrayLike,
    equity_usd: npt.ArrayLike,
    btc_price_usd: npt.ArrayLike,
    *,
    risk_free_annual: float = 0.0,
    rolling_window: int = 21,
    thresholds: NeutralityThresholds = DEFAULT_THRESHOLDS,
) -> PerformanceStats:
    """All run statistics from equity snapshots; never raises on a degenerate run.

    Drawdown uses the raw snapshots; Sharpe, CAGR, Calmar and neutrality use UTC-day
    closes (:func:`daily_series`). With fewer than :data:`MIN_DAYS` days Sharpe, CAGR and
    Calmar are NaN; with constant equity Sharpe, Calmar and neutrality are NaN; ``reason``
    says which applies.

    The equity statistics (``n_days``, total return, drawdown, Sharpe, CAGR, Calmar) use every
    snapshot. The neutrality uses only the snapshots with a BTC price — their UTC-day closes
    and returns, as ``zerobeta report``'s portfolio entry
    (:mod:`agent.reporting.neutrality_report`) — so snapshots taken before the reference
    instrument had a price are left out of the beta, not refused; with snapshots but none
    priced it is unavailable with reason :data:`NO_PRICED_SNAPSHOTS`.

    Parameters
    ----------
    ts_ms, equity_usd : array_like, shape (n,)
        As for :func:`daily_series` (``n`` may be 0).
    btc_price_usd : array_like, shape (n,), float64
        BTC (reference) price at each snapshot, USD, > 0, or NaN where unknown.
    risk_free_annual : float
        Risk-free rate for the Sharpe ratio, fraction per year.
    rolling_window : int
        Rolling-beta window, days.
    thresholds : NeutralityThresholds
        Neutrality verdict and diagnosis limits.

    Returns
    -------
    PerformanceStats

    Raises
    ------
    ValueError
        Malformed snapshots (see :func:`daily_series`): mismatched lengths, times going back,
        NaN/inf or <= 0 equity, inf or <= 0 BTC price.
    """
    ts, eq, btc = snapshot_arrays(ts_ms, equity_usd, btc_price_usd)
    daily = daily_series(ts, eq, btc)
    n_days = int(daily.ts_day_ms.size)
    priced = np.isfinite(btc)
    if n_days and not priced.any():
        neutrality = NeutralityStats.unavailable(NO_PRICED_SNAPSHOTS, 0, rolling_window)
    else:
        market = daily_series(ts[priced], eq[priced], btc[priced])
        neutrality = ex_post_beta(
            market.equity_returns_frac,
            market.btc_returns_frac,
            rolling_window=rolling_window,
            thresholds=thresholds,
        )
    if n_days == 0:
        nan = math.nan
        return PerformanceStats(
            0, nan, nan, nan, None, None, nan, nan, neutrality, reason="no equity snapshots"
        )
    dd_frac, peak_i, trough_i = max_drawdown(eq)
    reason = None
    cagr = sharpe = calmar_ratio = math.nan
    if n_days < MIN_DAYS:
        reason = f"fewer than {MIN_DAYS} UTC days of equity snapshots (got {n_days})"
    else:
        cagr = annualized_return(float(eq[0]), float(eq[-1]), int(ts[-1] - ts[0]))
        sharpe = sharpe_annualized(daily.equity_returns_frac, DAYS_PER_YEAR, risk_free_annual)
        calmar_ratio = calmar(cagr, dd_frac)
        if np.ptp(eq) == 0.0:
            reason = "equity is constant (the strategies never traded?)"
    return PerformanceStats(
        n_days=n_days,
        total_return_frac=float(eq[-1] / eq[0] - 1.0),
        annualized_return_frac=cagr,
        max_drawdown_frac=dd_frac,
        drawdown_peak_ts_ms=int(ts[peak_i]),
        drawdown_trough_ts_ms=int(ts[trough_i]),
        sharpe=sharpe,
        calmar=calmar_ratio,
        neutrality=neutrality,
        reason=reason,
    )
