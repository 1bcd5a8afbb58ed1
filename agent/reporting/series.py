"""Statistics of an equity curve: UTC-day closes, drawdown, Sharpe, CAGR and Calmar.

Pure functions over numpy arrays, re-exported by :mod:`agent.reporting.analysis` (conventions there:
epoch ms UTC, simple returns as fractions, 365-day year, daily mean × 365 and daily standard
deviation × √365 when annualizing). Degenerate inputs give NaN, malformed ones raise
:class:`ValueError`.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from agent.reporting.analysis_types import (
    DAYS_PER_YEAR,
    MS_PER_DAY,
    DailySeries,
    FloatArray,
    IntArray,
    as_float_1d,
    snapshot_arrays,
)

_ArrayT = TypeVar("_ArrayT", FloatArray, IntArray)
_CONSTANT_STD_REL = 1e-12  # a std this small relative to the values is rounding noise
_MAX_EXP_ARG = 709.0  # math.exp overflows above ~709.78


def _readonly(arr: _ArrayT) -> _ArrayT:
    arr.flags.writeable = False
    return arr


def daily_series(
    ts_ms: npt.ArrayLike, equity_usd: npt.ArrayLike, btc_price_usd: npt.ArrayLike
) -> DailySeries:
    """Resample snapshots (hourly or any cadence) to UTC-day closes and daily returns.

    Parameters
    ----------
    ts_ms : array_like, shape (n,), int64
        Snapshot times, epoch ms UTC, non-decreasing.
    equity_usd : array_like, shape (n,), float64
        Portfolio equity at each snapshot, USD, finite and > 0.
    btc_price_usd : array_like, shape (n,), float64
        BTC price at each snapshot, USD, > 0, or NaN where unknown (the reference instrument
        had no price yet); a regression on BTC returns takes the snapshots with a price only
        (as :func:`agent.reporting.analysis.performance_stats` does).

    Returns
    -------
    DailySeries
        The last snapshot of each UTC day and simple returns between consecutive days;
        empty arrays for ``n == 0``.

    Raises
    ------
    ValueError
        Mismatched lengths, non-integer or decreasing timestamps, NaN/inf or <= 0 equity,
        inf or <= 0 BTC price.
    """
    ts, eq, btc = snapshot_arrays(ts_ms, equity_usd, btc_price_usd)
    day_ms = ts // MS_PER_DAY * MS_PER_DAY
    last = np.flatnonzero(np.append(day_ms[1:] != day_ms[:-1], ts.size > 0))
    eq_d, btc_d = eq[last], btc[last]
    return DailySeries(
        ts_day_ms=_readonly(day_ms[last]),
        equity_usd=_readonly(eq_d),
        btc_price_usd=_readonly(btc_d),
        equity_returns_frac=_readonly(eq_d[1:] / eq_d[:-1] - 1.0),
        btc_returns_frac=_readonly(btc_d[1:] / btc_d[:-1] - 1.0),
    )


def max_drawdown(equity_usd: npt.ArrayLike) -> tuple[float, int, int]:
    """Largest peak-to-trough fall of an equity curve, as a fraction of the peak.

    Parameters
    ----------
    equity_usd : array_like, shape (n,), float64
        Equity, USD, ``n >= 1``, finite, first value > 0.

    Returns
    -------
    max_drawdown_frac : float
        ``max_t (peak_t − e_t) / peak_t`` with ``peak_t`` the running maximum; ``>= 0``
        (0.0 for a curve that never falls).
    peak_index : int
        Index of the peak the worst fall started from (its first occurrence).
    trough_index : int
        Index of the trough (first occurrence); equals ``peak_index`` when there is no fall.

    Raises
    ------
    ValueError
        Empty, not 1-D, NaN/inf, or ``equity_usd[0] <= 0`` (a fraction of a non-positive
        peak is meaningless).
    """
    eq = as_float_1d(equity_usd, "equity_usd")
    if eq.size == 0:
        raise ValueError("equity_usd is empty; a drawdown needs at least one value")
    if eq[0] <= 0.0:
        raise ValueError(f"equity_usd[0] must be > 0, got {eq[0]}")
    peak = np.maximum.accumulate(eq)
    drawdown = (peak - eq) / peak
    trough = int(np.argmax(drawdown))
    return float(drawdown[trough]), int(np.argmax(eq[: trough + 1])), trough


def sharpe_annualized(
    daily_returns: npt.ArrayLike,
    periods_per_year: int = DAYS_PER_YEAR,
    risk_free_annual: float = 0.0,
) -> float:
    """Annualized Sharpe ratio: ``mean(r − r_f) / std(r − r_f, ddof=1) × √periods_per_year``.

    Parameters
    ----------
    daily_returns : array_like, shape (n,), float64
        Simple returns per period (fractions), finite.
    periods_per_year : int
        Periods in a year (365 for daily crypto returns).
    risk_free_annual : float
        Risk-free rate, fraction per year; ``r_f = risk_free_annual / periods_per_year`` per
        period (simple, not compounded).

    Returns
    -------
    float
        The ratio, or NaN when ``n < 2`` or the excess returns are constant (std below
        1e-12 of their magnitude, e.g. a strategy that never traded).

    Raises
    ------
    ValueError
        Not 1-D, NaN/inf returns, or ``periods_per_year <= 0``.
    """
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year}")
    excess = as_float_1d(daily_returns, "daily_returns") - risk_free_annual / periods_per_year
    if excess.size < 2:
        return math.nan
    std = float(np.std(excess, ddof=1))
    if not std > _CONSTANT_STD_REL * float(np.max(np.abs(excess))):
        return math.nan
    return float(np.mean(excess)) / std * math.sqrt(periods_per_year)


def annualized_return(initial_equity_usd: float, final_equity_usd: float, period_ms: int) -> float:
    """Compound annual growth rate over a period, 365-day year.

    ``(final / initial) ** (365 days / period) − 1``.

    Parameters
    ----------
    initial_equity_usd, final_equity_usd : float
        Equity at the start and end of the period, USD; initial > 0.
    period_ms : int
        Length of the period, ms.

    Returns
    -------
    float
        CAGR as a fraction per year; NaN for ``period_ms <= 0``; ``-1.0`` when the final
        equity is ``<= 0``; ``inf`` when the growth overflows a float (tiny periods).

    Raises
    ------
    ValueError
        ``initial_equity_usd`` not finite and > 0, or ``final_equity_usd`` not finite.
    """
    if not (math.isfinite(initial_equity_usd) and initial_equity_usd > 0):
        raise ValueError(f"initial_equity_usd must be finite and > 0, got {initial_equity_usd}")
    if not math.isfinite(final_equity_usd):
        raise ValueError(f"final_equity_usd must be finite, got {final_equity_usd}")
    if period_ms <= 0:
        return math.nan
    if final_equity_usd <= 0:
        return -1.0
    exponent = math.log(final_equity_usd / initial_equity_usd) * (
        DAYS_PER_YEAR * MS_PER_DAY / period_ms
    )
    return math.inf if exponent > _MAX_EXP_ARG else math.expm1(exponent)


def calmar(annualized_return_frac: float, max_drawdown_frac: float) -> float:
    """Calmar ratio: CAGR / max drawdown (both fractions).

    Returns
    -------
    float
        The ratio; NaN when the drawdown is not > 0 or either input is not finite.
    """
    if not (math.isfinite(annualized_return_frac) and math.isfinite(max_drawdown_frac)):
        return math.nan
    return annualized_return_frac / max_drawdown_frac if max_drawdown_frac > 0 else math.nan
