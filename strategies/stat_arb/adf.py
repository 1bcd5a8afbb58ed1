"""Unit-root statistics of batches of cointegration residuals, for :mod:`.signals`.

Building blocks of the Engle–Granger scan in :func:`strategies.stat_arb.signals.scan_pairs`,
each working on a batch of residual series ε (shape ``(n_pairs, n_bars)``) at once:

- the ADF regression without deterministic terms (``adfuller(ε, regression="n")``)::

      Δε_t = ρ ε_{t-1} + Σ_{l=1..p} φ_l Δε_{t-l} + u_t

  its design (:func:`lagged_design`), the Gram of every pair's design from per-asset moments
  (:func:`lagged_moments`, :func:`pair_grams`), the RSS of every nested lag model from one
  triangular factor (:func:`nested_rss_from_r`; batched over Grams,
  :func:`nested_rss_from_grams`), their AIC/BIC as statsmodels' OLS results compute them
  (:func:`information_criterion`) and the t-value of ρ (:func:`adf_tstat` by QR,
  :func:`adf_tstat_from_gram` from the normal equations);
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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from strategies.common import all_true

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# MacKinnon (1994) p-value surface, N = 2 series, constant ("c"), as in statsmodels
# tsa/adfvalues.py (tau_c_smallp[1], tau_c_largep[1] with their scalings, cut-offs).
_TAU_MAX = 0.92
_TAU_MIN = -18.86
_TAU_STAR = -2.62
_TAU_SMALLP = np.array([2.92, 1.5012, 3.9796]) * np.array([1, 1, 1e-2])
_TAU_LARGEP = np.array([2.1945, 6.4695, -2.9198, -4.2377]) * np.array([1, 1e-1, 1e-1, 1e-2])


#: Batches up to this size get their p-values, ADF t-values and half-lives one float at a
#: time once the sums are in (:func:`_mackinnon_one`, :func:`_tstat_one`,
#: :func:`_half_life_one`): a few µs less each than the array path for the few open pairs of
#: the hourly watch, the same float operations (tests compare the bits).
_FEW_STATS = 8

_SMALLP_HIGH_FIRST = tuple(_TAU_SMALLP[::-1].tolist())
_LARGEP_HIGH_FIRST = tuple(_TAU_LARGEP[::-1].tolist())


def _horner(coeffs: tuple[float, ...], x: FloatArray) -> FloatArray:
    """``np.polyval(coeffs, x)`` for finite ``x`` (highest degree first), without its wrapper:
    polyval starts from ``0·x + c₀ = c₀`` and steps ``y·x + c``, the same float operations."""
    y = coeffs[0] * x + coeffs[1]
    for c in coeffs[2:]:
        y = y * x + c
    return np.asarray(y, dtype=np.float64)


def _mackinnon_one(stat: float, ndtr: Callable[[float], float]) -> float:
    """:func:`mackinnon_pvalue_coint` of one statistic (NaN gives NaN, as there); ``ndtr`` is
    ``scipy.special.ndtr``, imported once by the caller for its whole batch."""
    if stat > _TAU_MAX:
        return 1.0
    if stat < _TAU_MIN:
        return 0.0
    coeffs = _SMALLP_HIGH_FIRST if stat <= _TAU_STAR else _LARGEP_HIGH_FIRST
    y = coeffs[0] * stat + coeffs[1]
    for c in coeffs[2:]:
        y = y * stat + c
    return float(ndtr(y))


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
    from scipy import special  # at first use: a run without p-values never loads it

    stat = np.asarray(adf_stat, dtype=np.float64)
    if stat.size <= _FEW_STATS:  # the hourly health watch: the same operations on floats
        p_values = [_mackinnon_one(value, special.ndtr) for value in stat.reshape(-1).tolist()]
        return np.array(p_values, dtype=np.float64).reshape(stat.shape)
    # Clipping only affects values the cut-offs below override; it keeps ±inf out of polyval.
    inside = np.clip(stat, _TAU_MIN, _TAU_MAX)
    small = special.ndtr(_horner(_SMALLP_HIGH_FIRST, inside))
    large = special.ndtr(_horner(_LARGEP_HIGH_FIRST, inside))
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
    if not all_true(np.isfinite(s)):
        raise ValueError("half_life_bars: spread contains NaN or inf")
    # x.mean(axis=-1, keepdims=True) without its wrapper: the same sum, then / count.
    head = s[..., :-1]
    lagged = head - np.add.reduce(head, axis=-1, keepdims=True) / head.shape[-1]
    delta = s[..., 1:] - head  # np.diff(s, axis=-1)
    delta = delta - np.add.reduce(delta, axis=-1, keepdims=True) / delta.shape[-1]
    sxx = np.einsum("...t,...t->...", lagged, lagged)
    sxy = np.einsum("...t,...t->...", lagged, delta)
    if sxx.size <= _FEW_STATS:  # the hourly health watch: the same operations on floats
        pairs = zip(sxx.reshape(-1).tolist(), sxy.reshape(-1).tolist(), strict=True)
        values = [_half_life_one(xx, xy) for xx, xy in pairs]
        return np.array(values, dtype=np.float64).reshape(sxx.shape)
    varies = sxx > 0
    if all_true(varies):  # the usual spread: the masked divisions, nothing masked
        kappa = -(sxy / sxx)
    else:
        kappa = -np.divide(sxy, sxx, out=np.zeros_like(sxy), where=varies)
    reverts = kappa > 0
    if all_true(reverts):
        return np.asarray(math.log(2.0) / kappa, dtype=np.float64)
    out = np.full_like(kappa, np.inf)
    np.divide(math.log(2.0), kappa, out=out, where=reverts)
    return np.asarray(out, dtype=np.float64)


def _half_life_one(sxx: float, sxy: float) -> float:
    """:func:`half_life_bars` of one spread from its ``Σ x²`` and ``Σ x y`` (centred ``S_{t-1}``
    and ``ΔS_t``), the array path's operations on floats: ``κ = −(sxy / sxx)`` (``−0.0`` when
    ``S_{t-1}`` does not vary), ``ln 2 / κ`` when ``κ > 0``, else ``inf``."""
    kappa = -(sxy / sxx) if sxx > 0.0 else -0.0
    return math.log(2.0) / kappa if kappa > 0.0 else math.inf


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
    diff = resid[:, 1:] - resid[:, :-1]  # np.diff(resid, axis=1) without its wrapper
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


def qr_upper(design: FloatArray) -> FloatArray:
    """The factor R of :func:`qr_r` in the upper triangle of a batch of designs, shape
    ``(n_pairs, width, width)`` (for ``nobs ≥ width``), without zeroing what lies below it.

    The same LAPACK factorization as ``np.linalg.qr(design, mode="r")`` (numpy runs one
    ``geqrf`` for every mode and ``"r"`` only applies ``triu`` to its output): ``mode="raw"``
    returns that output transposed (``h``, shape ``(..., width, nobs)``), whose upper
    triangle, transposed back, is R to the bit. Entries below the diagonal are Householder
    reflector data, not zeros: read only ``[i, j]`` with ``i ≤ j``.
    """
    h, _ = np.linalg.qr(design, mode="raw")
    width = design.shape[-1]
    return np.asarray(np.swapaxes(h, -1, -2)[..., :width, :], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class LaggedMoments:
    """Per-asset moments :func:`pair_grams` builds every pair's design Gram from.

    Attributes
    ----------
    diff_diff : FloatArray
        ``[s, j, i] = Σ_t Δc_i[t] Δc_j[t − s]``, shape ``(maxlag + 1, n_assets, n_assets)``.
    level_level : FloatArray
        ``[i, j] = Σ_t c_i[t] c_j[t]``, shape ``(n_assets, n_assets)``.
    level_diff : FloatArray
        ``[i, j] = Σ_t c_i[t] Δc_j[t]``, shape ``(n_assets, n_assets)``.

    Sums over the common sample ``t = maxlag .. n_bars − 2`` of the centred panel ``c``.
    """

    diff_diff: FloatArray
    level_level: FloatArray
    level_diff: FloatArray


def lagged_moments(centred: FloatArray, maxlag: int) -> LaggedMoments:
    """The :class:`LaggedMoments` of a centred panel, shape ``(n_bars, n_assets)``: one
    ``((maxlag + 1) n_assets, nobs) @ (nobs, n_assets)`` product and two ``n_assets²`` ones."""
    n_bars, n_assets = centred.shape
    nobs = n_bars - 1 - maxlag
    diff = np.diff(centred, axis=0)  # diff[t] = Δc[t] = c[t + 1] − c[t]
    level, dep = centred[maxlag : n_bars - 1], diff[maxlag:]
    windows = np.lib.stride_tricks.sliding_window_view(diff.T, nobs, axis=1)[:, ::-1]
    lagged = np.ascontiguousarray(windows.transpose(1, 0, 2))  # [s, j, t] = Δc_j[t − s]
    cross = (lagged.reshape(-1, nobs) @ dep).reshape(maxlag + 1, n_assets, n_assets)
    return LaggedMoments(cross, level.T @ level, level.T @ dep)


def pair_grams(
    centred: FloatArray,
    moments: LaggedMoments,
    ii: IntArray,
    jj: IntArray,
    gamma: FloatArray,
) -> FloatArray:
    """Gram ``DᵀD`` of every pair's ADF design on the common (``maxlag``) sample.

    ``D`` is :func:`lagged_design` of ``ε = c_i − γ c_j`` with ``maxlag`` lags, ``level_first``:
    columns ``ε_t``, ``Δε_{t−1} .. Δε_{t−maxlag}``, ``Δε_t`` over the rows
    ``t = maxlag .. n_bars − 2``. Nothing of size ``n_pairs × n_bars`` is formed:

    - the entries ``Σ_t Δε_t Δε_{t−s}`` (``s = 0..maxlag``), ``Σ_t ε_t²`` and ``Σ_t ε_t Δε_t``
      are quadratic forms in γ of the per-asset :class:`LaggedMoments`;
    - every other difference–difference entry follows along its diagonal:
      ``Σ_t Δε_{t−a−1} Δε_{t−b−1} = Σ_t Δε_{t−a} Δε_{t−b}`` plus the product entering at the
      head of the sample minus the one leaving at its tail;
    - the level–difference entries the same way from ``ε_t = ε_{t−1} + Δε_{t−1}``.

    Parameters
    ----------
    centred : FloatArray
        Column-centred log prices, shape ``(n_bars, n_assets)``, ``n_bars ≥ 2 maxlag + 3``.
    moments : LaggedMoments
        :func:`lagged_moments` of ``centred``; its ``maxlag`` is the design's.
    ii, jj : IntArray
        Columns of y and x of each pair, shape ``(n_pairs,)``.
    gamma : FloatArray
        Hedge ratio of each pair, shape ``(n_pairs,)``.

    Returns
    -------
    FloatArray
        Shape ``(n_pairs, maxlag + 2, maxlag + 2)``, symmetric (a view of a
        ``(maxlag + 2, maxlag + 2, n_pairs)`` array).
    """
    cross = moments.diff_diff
    maxlag, n_assets = cross.shape[0] - 1, cross.shape[1]
    y_col = maxlag + 1
    g, g2 = gamma, gamma * gamma
    # Built as (w, w, n_pairs) so that every step below works on contiguous rows of pairs.
    out = np.empty((maxlag + 2, maxlag + 2, ii.shape[0]))
    own = cross[:, np.arange(n_assets), np.arange(n_assets)]
    # Σ_t Δε_t Δε_{t−s}, shape (maxlag + 1, n_pairs)
    root = own[:, ii] - g * (cross[:, jj, ii] + cross[:, ii, jj]) + g2 * own[:, jj]
    out[y_col, y_col] = root[0]
    out[y_col, 1:y_col] = out[1:y_col, y_col] = root[1:]
    lev_lev, lev_dep = moments.level_level, moments.level_diff
    out[0, 0] = lev_lev[ii, ii] - 2.0 * g * lev_lev[ii, jj] + g2 * lev_lev[jj, jj]
    level_diff = lev_dep[ii, ii] - g * (lev_dep[ii, jj] + lev_dep[jj, ii]) + g2 * lev_dep[jj, jj]
    out[0, y_col] = out[y_col, 0] = level_diff
    if maxlag > 0:
        _diagonal_recurrences(centred, ii, jj, gamma, maxlag, out, level_diff)
    return out.transpose(2, 0, 1)


def _diagonal_recurrences(
    centred: FloatArray,
    ii: IntArray,
    jj: IntArray,
    gamma: FloatArray,
    maxlag: int,
    out: FloatArray,
    level_diff: FloatArray,
) -> None:
    """Fill the lagged-difference rows of :func:`pair_grams`' ``out`` (shape ``(w, w, n)``)."""
    n_bars, y_col = centred.shape[0], maxlag + 1
    edge = np.r_[0 : maxlag + 1, n_bars - 1 - maxlag : n_bars]
    eps = centred[edge][:, ii] - gamma * centred[edge][:, jj]  # (2 maxlag + 2, n_pairs)
    d_head = np.diff(eps[: maxlag + 1], axis=0)  # Δε[0 .. maxlag − 1]
    d_tail = np.diff(eps[maxlag + 1 :], axis=0)  # Δε[n − 1 − maxlag .. n − 2]
    head, tail = d_head[::-1], d_tail[::-1]  # head[a] = Δε[maxlag − 1 − a], tail[a] = Δε[n − 2 − a]
    entering = np.empty((maxlag, ii.shape[0]))
    leaving = np.empty((maxlag, ii.shape[0]))
    for a in range(1, maxlag + 1):
        n_cols = y_col - a
        step = np.multiply(head[a - 1], head[a - 1 :], out=entering[:n_cols])
        step -= np.multiply(tail[a - 1], tail[a - 1 :], out=leaving[:n_cols])
        row = out[a, a:y_col]
        if a == 1:
            np.add(out[y_col, y_col], step[0], out=row[0])
            np.add(out[y_col, 1:maxlag], step[1:], out=row[1:])
        else:
            np.add(out[a - 1, a - 1 : maxlag], step, out=row)
        out[a + 1 : y_col, a] = row[1:]
    # Σ_t ε_t Δε_{t−s} = Σ_t ε_{t−1} Δε_{t−s} + Σ_t Δε_{t−1} Δε_{t−s}, the first sum one shift
    # lower on a sample moved back by one row.
    eps_first, eps_last = eps[maxlag - 1], eps[2 * maxlag]  # ε[maxlag − 1], ε[n − 2]
    for shift in range(1, maxlag + 1):
        level_diff = level_diff + out[1, shift]
        level_diff += eps_first * d_head[maxlag - shift]
        level_diff -= eps_last * d_tail[maxlag - shift]
        out[0, shift] = out[shift, 0] = level_diff


def nested_rss_from_grams(grams: FloatArray) -> FloatArray:
    """RSS of every nested lag model from the design Grams of :func:`pair_grams`.

    A Cholesky factorization ``G = C Cᵀ`` vectorized across the pairs (column by column,
    each step one ``einsum`` over every pair; faster than a LAPACK call per 22 × 22 matrix);
    the RSS of ``y`` on the first ``l + 1`` columns is ``Σ_{r > l} C[y, r]²``
    (:func:`nested_rss_from_r` with ``R = Cᵀ``).

    Parameters
    ----------
    grams : FloatArray
        Shape ``(n_pairs, w, w)``, columns ``[level, lags 1..w − 2, y]``.

    Returns
    -------
    FloatArray
        Shape ``(n_pairs, w − 1)``; NaN or ``−inf`` entries where a Gram is not numerically
        positive definite.
    """
    grams_wwp = grams.transpose(1, 2, 0)
    width = grams_wwp.shape[0]
    chol = np.empty_like(grams_wwp)  # only the lower triangle is written and read
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in range(width):
            col = chol[k:, k]
            if k:
                np.subtract(
                    grams_wwp[k:, k], np.einsum("jmp,mp->jp", chol[k:, :k], chol[k, :k]), out=col
                )
            else:
                col[...] = grams_wwp[k:, k]
            np.sqrt(col[0], out=col[0])
            col[1:] /= col[0]
    tail = chol[-1, 1:] ** 2  # C[y, r]², r = 1 .. w − 1 (the last is C[y, y])
    rss = np.cumsum(tail[::-1], axis=0)[::-1]
    return np.ascontiguousarray(rss.T)


def adf_tstat_from_gram(gram: FloatArray, lags: int, nobs: int) -> FloatArray:
    """t-value of ρ from the Gram of ADF designs ordered ``[lags, level, y]``, via Cholesky.

    ``gram`` has shape ``(n_pairs, lags + 2, lags + 2)``: the Gram of the design
    :func:`adf_tstat` factors by QR (``lagged_design(..., level_first=False)``, ``nobs``
    rows). With the lower Cholesky factor ``C`` (``Cᵀ`` is that QR's ``R`` with a positive
    diagonal) the t-value is ``C[y, k] / (C[y, y] / sqrt(nobs − lags − 1))``, ``k = lags``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a Gram is not numerically positive definite.
    """
    chol = np.linalg.cholesky(gram)
    sigma = chol[:, lags + 1, lags + 1] / math.sqrt(nobs - lags - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = chol[:, lags + 1, lags] / sigma
    return np.asarray(np.where(np.isnan(stat), 0.0, stat), dtype=np.float64)


def adf_tstat(resid: FloatArray, lags: int) -> FloatArray:
    """t-value of ρ in the ADF regression with ``lags`` lags on its own sample, via QR.

    With the level ordered last among the regressors, its t-value is
    ``R[k, y] sign(R[k, k]) / σ`` with ``σ = |R[y, y]| / sqrt(nobs − lags − 1)``.
    """
    design = lagged_design(resid, lags, lags, level_first=False)
    r_factor = qr_upper(design)  # the entries read below are on or above the diagonal
    df_resid = design.shape[1] - lags - 1
    if r_factor.shape[0] <= _FEW_STATS:  # the hourly health watch: the same operations on floats
        level_row: list[list[float]] = r_factor[:, lags, lags : lags + 2].tolist()
        r_yy: list[float] = r_factor[:, lags + 1, lags + 1].tolist()
        root_df = math.sqrt(df_resid)
        rows = zip(level_row, r_yy, strict=True)
        stats = [_tstat_one(kk, ky, yy, root_df) for (kk, ky), yy in rows]
        return np.array(stats, dtype=np.float64)
    num = r_factor[:, lags, lags + 1] * np.sign(r_factor[:, lags, lags])
    sigma = np.abs(r_factor[:, lags + 1, lags + 1]) / math.sqrt(df_resid)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = num / sigma
    # 0/0 means a rank-deficient regression: report no evidence of cointegration.
    return np.asarray(np.where(np.isnan(stat), 0.0, stat), dtype=np.float64)


def _tstat_one(r_kk: float, r_ky: float, r_yy: float, root_df: float) -> float:
    """:func:`adf_tstat`'s statistic of one pair from its ``R[k, k]``, ``R[k, y]``, ``R[y, y]``
    and ``sqrt(nobs − lags − 1)``, the array path's operations on floats: ``np.sign`` (``+0.0``
    for ``±0``, NaN for NaN), ``|R[y, y]| / root_df``, IEEE division (``±inf`` or NaN by zero,
    where Python would raise) and NaN reported as 0."""
    if r_kk > 0.0:
        sign = 1.0
    elif r_kk < 0.0:
        sign = -1.0
    else:
        sign = 0.0 if r_kk == 0.0 else math.nan
    num = r_ky * sign
    sigma = abs(r_yy) / root_df
    if math.isnan(num) or (num == 0.0 and sigma == 0.0):  # NaN, or numpy's 0 / 0
        return 0.0
    if sigma == 0.0:  # +0.0 (an absolute value): numpy's x / +0.0
        return math.copysign(math.inf, num)
    stat = num / sigma
    return 0.0 if math.isnan(stat) else stat
