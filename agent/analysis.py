"""Statistics of a finished run: daily returns, drawdown, Sharpe, CAGR, ex-post neutrality.

Pure functions over numpy arrays (no I/O, no logging). ``agent.report`` reads the journal's
equity snapshots and calls :func:`performance_stats`; ``zerobeta run`` / ``zerobeta summary``
print the result with ``agent.summary.format_summary`` or ``summary_to_dict`` (``--json``).

Conventions: timestamps are epoch ms UTC; returns are simple returns as fractions
(``0.01`` = 1 %); a year is 365 days (crypto trades every day); annualization multiplies a
daily mean by 365 and a daily standard deviation by √365.

Degenerate runs (no snapshots, fewer than :data:`MIN_DAYS` UTC days, constant equity from a
strategy that never traded, constant market prices) never raise: the affected statistics are
NaN and a ``reason`` field says why; the summary prints them as ``n/a``.
Malformed input (mismatched lengths, NaN/inf, non-positive equity or prices, unsorted
timestamps) raises :class:`ValueError` naming the problem.

Formulas (SEEDS.md "Measuring neutrality after the fact"): ex-post beta is the OLS slope of
daily portfolio returns on daily BTC returns, ``r_p = α + β r_m + ε``, with the classical
(non-robust) standard error, a two-sided Student-t test on ``n − 2`` degrees of freedom and a
t-based 95 % interval; these equal ``statsmodels.api.OLS(r_p, add_constant(r_m)).fit()``'s
``params``, ``bse``, ``tvalues``, ``pvalues`` and ``conf_int()`` (checked by the unit tests).
The closed form (with ``scipy.special.stdtr``/``stdtrit``, the Student-t CDF and its inverse
that ``scipy.stats.t`` wraps) avoids importing statsmodels or scipy.stats (~1 s) in the CLI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_ArrayT = TypeVar("_ArrayT", FloatArray, IntArray)

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
_CONSTANT_STD_REL = 1e-12  # a std this small relative to the values is rounding noise
_MAX_EXP_ARG = 709.0  # math.exp overflows above ~709.78


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
        BTC price at that same snapshot, USD.
    equity_returns_frac, btc_returns_frac : ndarray, shape (d - 1,), float64
        Simple returns between consecutive day closes (``x[i+1] / x[i] − 1``). Days without a
        snapshot are skipped, so a return can span more than one calendar day.
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


def _as_float_1d(values: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} has a non-finite value at index {bad[0]}: {arr[bad[0]]}")
    return arr


def _as_positive_1d(values: npt.ArrayLike, name: str) -> FloatArray:
    arr = _as_float_1d(values, name)
    bad = np.flatnonzero(arr <= 0.0)
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


def _paired_returns(
    portfolio_returns: npt.ArrayLike, market_returns: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    rp = _as_float_1d(portfolio_returns, "portfolio_returns")
    rm = _as_float_1d(market_returns, "market_returns")
    if rp.shape != rm.shape:
        raise ValueError(f"portfolio_returns {rp.shape} and market_returns {rm.shape} differ")
    return rp, rm


# ---------------------------------------------------------------------------------------------
# Series statistics


def _snapshot_arrays(
    ts_ms: npt.ArrayLike, equity_usd: npt.ArrayLike, btc_price_usd: npt.ArrayLike
) -> tuple[IntArray, FloatArray, FloatArray]:
    ts = _as_ts_ms(ts_ms)
    eq = _as_positive_1d(equity_usd, "equity_usd")
    btc = _as_positive_1d(btc_price_usd, "btc_price_usd")
    if not ts.shape == eq.shape == btc.shape:
        raise ValueError(
            f"ts_ms {ts.shape}, equity_usd {eq.shape} and btc_price_usd {btc.shape} differ"
        )
    return ts, eq, btc


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
        BTC price at each snapshot, USD, finite and > 0.

    Returns
    -------
    DailySeries
        The last snapshot of each UTC day and simple returns between consecutive days;
        empty arrays for ``n == 0``.

    Raises
    ------
    ValueError
        Mismatched lengths, non-integer or decreasing timestamps, NaN/inf or values <= 0.
    """
    ts, eq, btc = _snapshot_arrays(ts_ms, equity_usd, btc_price_usd)
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
    eq = _as_float_1d(equity_usd, "equity_usd")
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
    excess = _as_float_1d(daily_returns, "daily_returns") - risk_free_annual / periods_per_year
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


# ---------------------------------------------------------------------------------------------
# Neutrality


class _OLSFit(NamedTuple):
    alpha: float
    beta: float
    se_beta: float
    residuals: FloatArray
    r_squared: float


def _regression_problem(rp: FloatArray, rm: FloatArray) -> str | None:
    """Why an OLS of ``rp`` on ``rm`` is not meaningful, or None."""
    if rp.size < MIN_REGRESSION_OBS:
        return f"need at least {MIN_REGRESSION_OBS} daily returns for a regression, got {rp.size}"
    if np.ptp(rp) == 0.0:
        return "portfolio returns are constant (the strategies never traded?)"
    if np.ptp(rm) == 0.0:
        return "market returns are constant"
    return None


def _ols_fit(rp: FloatArray, rm: FloatArray) -> _OLSFit | None:
    """Closed-form simple OLS with intercept; None when the residuals are exactly zero."""
    xc, yc = rm - rm.mean(), rp - rp.mean()
    sxx, syy = float(xc @ xc), float(yc @ yc)
    beta = float(xc @ yc) / sxx
    alpha = float(rp.mean()) - beta * float(rm.mean())
    residuals = rp - alpha - beta * rm
    ssr = float(residuals @ residuals)
    se_beta = math.sqrt(ssr / (rp.size - 2) / sxx)
    if se_beta == 0.0:  # exact fit (or underflow): t-statistic undefined
        return None
    return _OLSFit(alpha, beta, se_beta, residuals, 1.0 - ssr / syy)


def rolling_beta(
    portfolio_returns: npt.ArrayLike, market_returns: npt.ArrayLike, window: int = 21
) -> FloatArray:
    """Rolling OLS beta ``cov(r_p, r_m) / var(r_m)`` over trailing windows.

    Parameters
    ----------
    portfolio_returns, market_returns : array_like, shape (n,), float64
        Aligned simple returns per period, finite.
    window : int
        Window length, periods (``>= 2``); SEEDS.md uses 21.

    Returns
    -------
    ndarray, shape (n,), float64
        Element ``i`` is the beta of returns ``[i − window + 1, i]``; NaN for
        ``i < window − 1`` and where the market returns are constant within the window.

    Raises
    ------
    ValueError
        ``window < 2``, mismatched shapes, or NaN/inf returns.
    """
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    rp, rm = _paired_returns(portfolio_returns, market_returns)
    out = np.full(rp.size, np.nan)
    if rp.size < window:
        return out
    xw, yw = sliding_window_view(rm, window), sliding_window_view(rp, window)
    xc = xw - xw.mean(axis=1, keepdims=True)
    yc = yw - yw.mean(axis=1, keepdims=True)
    sxx, sxy = (xc * xc).sum(axis=1), (xc * yc).sum(axis=1)
    np.divide(sxy, sxx, out=out[window - 1 :], where=sxx > 0)
    return out


def _rolling_summary(betas: FloatArray) -> tuple[float, float, float]:
    """Mean, std (ddof=1) and max |β| of the finite rolling betas; NaN where too few."""
    finite = betas[np.isfinite(betas)]
    if finite.size == 0:
        return math.nan, math.nan, math.nan
    std = float(np.std(finite, ddof=1)) if finite.size >= 2 else math.nan
    return float(finite.mean()), std, float(np.max(np.abs(finite)))


def _diagnose(
    beta: float, rolling_std: float, r_squared: float, alpha_ann: float, th: NeutralityThresholds
) -> tuple[str, ...]:
    """SEEDS.md diagnoses; NaN inputs trigger nothing (comparisons with NaN are False)."""
    found: list[str] = []
    if abs(beta) > th.lag_beta_abs:
        found.append(
            f"|beta| {abs(beta):.2f} > {th.lag_beta_abs:.2f}: estimation lag or sizing error"
            " (shorten the beta window, rebalance more often)"
        )
    if rolling_std > th.unstable_rolling_std:
        found.append(
            f"rolling beta std {rolling_std:.2f} > {th.unstable_rolling_std:.2f}:"
            " unstable betas (hedge at index level)"
        )
    if r_squared > th.factor_r_squared:
        found.append(
            f"R² {r_squared:.2f} > {th.factor_r_squared:.2f}: factor exposure"
            " (add factor constraints)"
        )
    if alpha_ann < 0:
        found.append(f"annualized alpha {alpha_ann:.2%} < 0: signal decay")
    return tuple(found)


def ex_post_beta(
    portfolio_returns: npt.ArrayLike,
    market_returns: npt.ArrayLike,
    periods_per_year: int = DAYS_PER_YEAR,
    *,
    rolling_window: int = 21,
    thresholds: NeutralityThresholds = DEFAULT_THRESHOLDS,
) -> NeutralityStats:
    """Regress portfolio returns on market returns: ``r_p = α + β r_m + ε`` (OLS).

    Parameters
    ----------
    portfolio_returns, market_returns : array_like, shape (n,), float64
        Aligned simple returns per period (daily portfolio and BTC returns), finite.
    periods_per_year : int
        Annualization factor (365 for daily crypto returns).
    rolling_window : int
        Window of the rolling beta summary, periods (``>= 2``).
    thresholds : NeutralityThresholds
        Limits of the neutrality verdict and diagnoses.

    Returns
    -------
    NeutralityStats
        All regression fields NaN with ``reason`` set when ``n < 3``, either series is
        constant, or the residuals are exactly zero (t-statistic undefined).

    Raises
    ------
    ValueError
        Mismatched shapes, NaN/inf, ``periods_per_year <= 0`` or ``rolling_window < 2``.
    """
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year}")
    rp, rm = _paired_returns(portfolio_returns, market_returns)
    roll = rolling_beta(rp, rm, rolling_window)
    problem = _regression_problem(rp, rm)
    fit = _ols_fit(rp, rm) if problem is None else None
    if fit is None:
        problem = problem or "residuals are exactly zero: beta's t-statistic is undefined"
        return NeutralityStats.unavailable(problem, rp.size, rolling_window)
    df_resid = rp.size - 2
    tstat = fit.beta / fit.se_beta
    half_width = float(special.stdtrit(df_resid, 0.975)) * fit.se_beta
    alpha_ann = fit.alpha * periods_per_year
    te_ann = float(np.std(fit.residuals, ddof=1)) * math.sqrt(periods_per_year)
    pvalue = float(2.0 * special.stdtr(df_resid, -abs(tstat)))
    r_mean, r_std, r_max = _rolling_summary(roll)
    return NeutralityStats(
        beta=fit.beta,
        beta_tstat=tstat,
        beta_pvalue=pvalue,
        beta_ci95=(fit.beta - half_width, fit.beta + half_width),
        alpha_annualized=alpha_ann,
        r_squared=fit.r_squared,
        tracking_error_annualized=te_ann,
        information_ratio=alpha_ann / te_ann if te_ann > 0 else math.nan,
        n_obs=int(rp.size),
        rolling_window=rolling_window,
        rolling_beta_mean=r_mean,
        rolling_beta_std=r_std,
        rolling_beta_max_abs=r_max,
        truly_neutral=abs(fit.beta) < thresholds.neutral_beta_abs
        and pvalue > thresholds.neutral_pvalue,
        diagnoses=_diagnose(fit.beta, r_std, fit.r_squared, alpha_ann, thresholds),
    )


# ---------------------------------------------------------------------------------------------
# Whole-run statistics


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

    Parameters
    ----------
    ts_ms, equity_usd, btc_price_usd : array_like, shape (n,)
        As for :func:`daily_series` (``n`` may be 0).
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
        Malformed snapshots (see :func:`daily_series`).
    """
    ts, eq, btc = _snapshot_arrays(ts_ms, equity_usd, btc_price_usd)
    daily = daily_series(ts, eq, btc)
    n_days = int(daily.ts_day_ms.size)
    neutrality = ex_post_beta(
        daily.equity_returns_frac,
        daily.btc_returns_frac,
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
