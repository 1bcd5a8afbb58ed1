"""Unit-root statistics of batches of cointegration residuals, for :mod:`.signals`.

Building blocks of the Engle–Granger scan in :func:`strategies.stat_arb.signals.scan_pairs`,
each working on a batch of residual series ε (shape ``(n_pairs, n_bars)``) at once:

- the ADF regression without deterministic terms (``adfuller(ε, regression="n")``)::

      Δε_t = ρ ε_{t-1} + Σ_{l=1..p} φ_l Δε_{t-l} + u_t

  its design (:func:`lagged_design`, and the per-asset cross-moments of that design,
  :func:`lagged_moments`), the RSS of every nested lag model from one triangular factor
  (:func:`nested_rss_from_r`), their AIC/BIC as statsmodels' OLS results compute them
  (:func:`information_criterion`) and the t-value of ρ (:func:`adf_tstat`);
- the default largest lag of ``adfuller`` (:func:`adf_default_maxlag`);
- the MacKinnon approximate p-value for ``N = 2`` series with a constant
  (:func:`mackinnon_pvalue_coint`);
- the Ornstein–Uhlenbeck half-life, from the Dickey–Fuller regression with a constant
  ``ΔS_t = a + b S_{t-1}`` (:func:`half_life_bars`).

References
----------
MacKinnon, J. G. (1994), "Approximate asymptotic distribution functions for unit-root and
cointegration tests", JBES 12(2); MacKinnon (2010), "Critical values for cointegration
tests", Queen's University WP 1227. statsmodels 0.15 ``tsa.stattools.adfuller``,
``_autolag`` and ``tsa.adfvalues.mackinnonp``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# MacKinnon (1994) p-value surface, N = 2 series, constant ("c"), as in statsmodels
# tsa/adfvalues.py (tau_c_smallp[1], tau_c_largep[1] with their scalings, cut-offs).
_TAU_MAX = 0.92
_TAU_MIN = -18.86
_TAU_STAR = -2.62
_TAU_SMALLP = np.array([2.92, 1.5012, 3.9796]) * np.array([1, 1, 1e-2])
_TAU_LARGEP = np.array([2.1945, 6.4695, -2.9198, -4.2377]) * np.array([1, 1e-1, 1e-1, 1e-2])


def adf_default_maxlag(n_obs: int) -> int:
    """Default largest ADF lag of ``adfuller`` for a series of ``n_obs`` values.

    ``min(ceil(12 (n_obs/100)^{1/4}), n_obs // 2 - 1)`` (Schwert 1989 via Greene; the cap is
    statsmodels' for ``regression="n"``).

    Raises
    ------
    ValueError
        If the result would be negative (``n_obs < 2``).
    """
    maxlag = int(np.ceil(12.0 * np.power(n_obs / 100.0, 1 / 4.0)))
    maxlag = min(n_obs // 2 - 1, maxlag)
    if maxlag < 0:
        raise ValueError(f"series of {n_obs} values is too short for an ADF test")
    return maxlag


def mackinnon_pvalue_coint(adf_stat: FloatArray) -> FloatArray:
    """MacKinnon approximate p-value of an Engle–Granger statistic, two series, constant.

    Vectorized ``statsmodels.tsa.adfvalues.mackinnonp(stat, regression="c", N=2)``: a normal
    CDF of a polynomial in the statistic (small-p branch at or below −2.62), 0 below −18.86
    and 1 above 0.92.

    Parameters
    ----------
    adf_stat : FloatArray
        Statistics, any shape; ``±inf`` allowed.

    Returns
    -------
    FloatArray
        p-values in ``[0, 1]``, same shape.
    """
    stat = np.asarray(adf_stat, dtype=np.float64)
    # Clipping only affects values the cut-offs below override; it keeps ±inf out of polyval.
    inside = np.clip(stat, _TAU_MIN, _TAU_MAX)
    small = ndtr(np.polyval(_TAU_SMALLP[::-1], inside))
    large = ndtr(np.polyval(_TAU_LARGEP[::-1], inside))
    p = np.where(stat <= _TAU_STAR, small, large)
    p = np.where(stat < _TAU_MIN, 0.0, p)
    return np.asarray(np.where(stat > _TAU_MAX, 1.0, p), dtype=np.float64)


def half_life_bars(spread: FloatArray) -> FloatArray:
    """Ornstein–Uhlenbeck half-life of a spread, in bars.

    Fits ``ΔS_t = a + b S_{t-1}`` by OLS along the last axis; ``κ = −b``, half-life
    ``ln 2 / κ`` (SEEDS.md, "Statistical arbitrage"). ``inf`` when ``b ≥ 0`` (no mean
    reversion) or when ``S_{t-1}`` is constant.

    Parameters
    ----------
    spread : FloatArray
        Shape ``(n,)`` or ``(..., n)``, float64, ``n ≥ 3``, oldest first.

    Returns
    -------
    FloatArray
        Half-life in bars, shape ``spread.shape[:-1]`` (a 0-d array for 1-D input).

    Raises
    ------
    ValueError
        If the last axis has fewer than 3 values or the spread is not finite.
    """
    s = np.asarray(spread, dtype=np.float64)
    if s.ndim == 0 or s.shape[-1] < 3:
        raise ValueError(f"half_life_bars needs at least 3 values per spread, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("half_life_bars: spread contains NaN or inf")
    lagged = s[..., :-1] - s[..., :-1].mean(axis=-1, keepdims=True)
    delta = np.diff(s, axis=-1)
    delta = delta - delta.mean(axis=-1, keepdims=True)
    sxx = np.einsum("...t,...t->...", lagged, lagged)
    sxy = np.einsum("...t,...t->...", lagged, delta)
    kappa = -np.divide(sxy, sxx, out=np.zeros_like(sxy), where=sxx > 0)
    out = np.full_like(kappa, np.inf)
    np.divide(math.log(2.0), kappa, out=out, where=kappa > 0)
    return np.asarray(out, dtype=np.float64)


def residuals(centred: FloatArray, ii: IntArray, jj: IntArray, gamma: FloatArray) -> FloatArray:
    """Cointegration residuals ε = (y − ȳ) − γ (x − x̄), shape ``(n_pairs, n_bars)``."""
    return np.asarray(centred[:, ii].T - gamma[:, None] * centred[:, jj].T, dtype=np.float64)


def lagged_design(resid: FloatArray, lags: int, sample_lags: int, level_first: bool) -> FloatArray:
    """ADF design of each residual series, shape ``(n_pairs, n_bars − 1 − sample_lags, lags + 2)``.

    Rows are ``t = sample_lags .. n_bars − 2`` (index of Δε); columns are the level
    ``ε_t``, the lagged differences ``Δε_{t-1} .. Δε_{t-lags}`` and, last, the dependent
    ``Δε_t``. ``level_first`` puts the level before the lags (nested-AIC order), else after.
    """
    n_pairs, n_bars = resid.shape
    diff = np.diff(resid, axis=1)
    nobs = n_bars - 1 - sample_lags
    design = np.empty((n_pairs, nobs, lags + 2))
    first_lag = 1 if level_first else 0
    design[:, :, 0 if level_first else lags] = resid[:, sample_lags : n_bars - 1]
    for lag in range(1, lags + 1):
        design[:, :, first_lag + lag - 1] = diff[:, sample_lags - lag : n_bars - 1 - lag]
    design[:, :, lags + 1] = diff[:, sample_lags:]
    return design


def information_criterion(rss: FloatArray, nobs: int, criterion: str) -> FloatArray:
    """AIC or BIC of nested models exactly as statsmodels' OLS results compute them.

    ``rss`` has shape ``(n_pairs, maxlag + 1)``; column ``l`` is the model with the level and
    ``l`` lagged differences (``l + 1`` parameters, no constant).
    """
    nobs2 = nobs / 2.0
    with np.errstate(divide="ignore"):
        llf = -nobs2 * np.log(2 * np.pi) - nobs2 * np.log(rss / nobs) - nobs2
    k_params = np.arange(1, rss.shape[1] + 1, dtype=np.float64)
    penalty = 2.0 * k_params if criterion == "aic" else np.log(nobs) * k_params
    return np.asarray(-2 * llf + penalty, dtype=np.float64)


def nested_rss_from_r(r_factor: FloatArray) -> FloatArray:
    """RSS of every nested model from the upper triangular factor of ``[level, lags, y]``.

    Column ``l`` of the result: regression of ``y`` on the first ``l + 1`` columns,
    ``Σ_{r > l} R[r, y]²``; shape ``(n_pairs, maxlag + 1)``.
    """
    tail = r_factor[:, 1:, -1] ** 2
    return np.asarray(np.cumsum(tail[:, ::-1], axis=1)[:, ::-1], dtype=np.float64)


def qr_r(design: FloatArray) -> FloatArray:
    """Upper triangular factor R of a batch of designs, shape ``(n_pairs, width, width)``."""
    return np.asarray(np.linalg.qr(design, mode="r"), dtype=np.float64)


def lagged_moments(centred: FloatArray, maxlag: int) -> FloatArray:
    """Cross-moments of every asset's ADF design on the common (``maxlag``) sample.

    Returns shape ``(n_assets, maxlag + 2, n_assets, maxlag + 2)``; the Gram of pair
    ``(i, j)``'s design is ``M_ii − γ (M_ij + M_ji) + γ² M_jj`` because every column of the
    pair's design is (column of i) − γ (column of j).
    """
    per_asset = lagged_design(centred.T, maxlag, maxlag, level_first=True)
    n_assets, nobs, width = per_asset.shape
    flat = per_asset.transpose(1, 0, 2).reshape(nobs, n_assets * width)
    return np.asarray((flat.T @ flat).reshape(n_assets, width, n_assets, width), dtype=np.float64)


def adf_tstat(resid: FloatArray, lags: int) -> FloatArray:
    """t-value of ρ in the ADF regression with ``lags`` lags on its own sample, via QR.

    With the level ordered last among the regressors, its t-value is
    ``R[k, y] sign(R[k, k]) / σ`` with ``σ = |R[y, y]| / sqrt(nobs − lags − 1)``.
    """
    design = lagged_design(resid, lags, lags, level_first=False)
    r_factor = qr_r(design)
    df_resid = design.shape[1] - lags - 1
    num = r_factor[:, lags, lags + 1] * np.sign(r_factor[:, lags, lags])
    sigma = np.abs(r_factor[:, lags + 1, lags + 1]) / math.sqrt(df_resid)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = num / sigma
    # 0/0 means a rank-deficient regression: report no evidence of cointegration.
    return np.asarray(np.where(np.isnan(stat), 0.0, stat), dtype=np.float64)
