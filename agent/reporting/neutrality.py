"""Ex-post market neutrality: OLS beta on BTC returns, rolling beta, SEEDS.md diagnoses.

Formulas (SEEDS.md "Measuring neutrality after the fact"): ex-post beta is the OLS slope of
daily portfolio returns on daily BTC returns, ``r_p = α + β r_m + ε``, with the classical
(non-robust) standard error, a two-sided Student-t test on ``n − 2`` degrees of freedom and a
t-based 95 % interval; these equal ``statsmodels.api.OLS(r_p, add_constant(r_m)).fit()``'s
``params``, ``bse``, ``tvalues``, ``pvalues`` and ``conf_int()`` (checked by the unit tests).
The closed form (with ``scipy.special.stdtr``/``stdtrit``, the Student-t CDF and its inverse
that ``scipy.stats.t`` wraps) avoids importing statsmodels or scipy.stats (~1 s) in the CLI.
Re-exported by :mod:`agent.reporting.analysis`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special

from agent.reporting.analysis_types import (
    DAYS_PER_YEAR,
    DEFAULT_THRESHOLDS,
    MIN_REGRESSION_OBS,
    FloatArray,
    NeutralityStats,
    NeutralityThresholds,
    paired_returns,
)


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
    rp, rm = paired_returns(portfolio_returns, market_returns)
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
    rp, rm = paired_returns(portfolio_returns, market_returns)
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
