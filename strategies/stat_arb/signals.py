"""Pure signal math of the cointegration stat-arb strategy.

The centre piece is :func:`scan_pairs`, an Engle–Granger (augmented, two-step) scan of every
pair of a price panel at once that reproduces ``statsmodels.tsa.stattools.coint(y, x,
trend="c", autolag="aic")`` (statsmodels 0.15) to rounding error:

1. cointegrating regression ``y = c + γ x + ε`` by OLS (one Gram matrix of the centred panel
   gives γ of every pair);
2. ADF regression on ε without deterministic terms (``adfuller(ε, regression="n")``)::

       Δε_t = ρ ε_{t-1} + Σ_{l=1..p} φ_l Δε_{t-l} + u_t

   with ``p`` chosen by AIC over ``0..maxlag`` on the common sample of the ``maxlag`` model
   (``maxlag = ceil(12 (n/100)^{1/4})`` capped at ``n // 2 - 1``), then refitted on its own,
   longer sample; the statistic is the t-value of ρ;
3. MacKinnon (1994, 2010 tables) approximate p-value for ``N = 2`` series with a constant
   (``mackinnonp(stat, regression="c", N=2)``).

How the batch stays cheap (no array of size pairs × bars is formed): the Gram matrix of every
pair's ADF design is a quadratic form in γ of per-asset moments (one BLAS product of the
panel's lagged differences, :func:`~strategies.stat_arb.adf.lagged_moments`) plus, along each
diagonal, the products entering and leaving the sample
(:func:`~strategies.stat_arb.adf.pair_grams`); a Cholesky factorization vectorized across the
pairs gives the residual sum of squares of all nested lag models (the AIC comparison); the
chosen model's Gram on its own, longer sample is the matching block plus the few rows it
adds, and its t-statistic comes from that Gram's Cholesky factor (the normal equations).
Pairs are processed in chunks whose Grams stay in cache. Pairs whose two best AIC values lie
within :data:`AIC_TIE_TOL` are re-scored exactly with QR before the choice, so rounding
cannot change a lag statsmodels would pick; pairs with ``1 − R² <``
:data:`EXACT_BELOW_1_MINUS_RSQ` (where the quadratic forms lose digits to cancellation) get
their statistic from a QR of their actual design. :func:`refit_exact` recomputes chosen
pairs by QR from the residuals themselves, for values that are stored.

This module holds the pair-level work: :class:`PairScan`, the scan itself (validation, the
cointegrating regressions, lag selection, chunking of the pairs), the selection of tradable
pairs (:func:`select_pairs`) and the spread z-score (:func:`spread_zscore`). The per-series
kernels (ADF designs, nested RSS, information criteria, t-statistic, MacKinnon p-value, OU
half-life) live in :mod:`strategies.stat_arb.adf` and are re-exported here where public.

References
----------
Engle, R. F. and Granger, C. W. J. (1987), "Co-integration and error correction",
Econometrica 55(2). MacKinnon, J. G. (1994), "Approximate asymptotic distribution functions
for unit-root and cointegration tests", JBES 12(2); MacKinnon (2010), "Critical values for
cointegration tests", Queen's University WP 1227. statsmodels 0.15 ``tsa.stattools.coint``,
``adfuller``, ``_autolag`` and ``tsa.adfvalues.mackinnonp``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

import numpy as np

from strategies.stat_arb.adf import (
    FloatArray,
    IntArray,
    adf_default_maxlag,
    adf_tstat,
    adf_tstat_from_gram,
    half_life_bars,
    information_criterion,
    lagged_design,
    lagged_moments,
    mackinnon_pvalue_coint,
    nested_rss_from_grams,
    nested_rss_from_r,
    pair_grams,
    qr_r,
    residuals,
)

__all__ = [
    "AIC_TIE_TOL",
    "COLLINEAR_RSQ",
    "EXACT_BELOW_1_MINUS_RSQ",
    "FloatArray",
    "IntArray",
    "PairScan",
    "adf_default_maxlag",
    "half_life_bars",
    "mackinnon_pvalue_coint",
    "refit_exact",
    "sample_std",
    "scan_pairs",
    "select_pairs",
    "spread_zscore",
]

#: Pairs whose two best AIC values differ by less than this are re-scored exactly (QR).
AIC_TIE_TOL = 1e-6
#: statsmodels' collinearity cut: R² ≥ 1 − 100·sqrt(eps) gives statistic −inf, p-value 0.
COLLINEAR_RSQ = 1.0 - 100.0 * math.sqrt(float(np.finfo(np.float64).eps))
#: Pairs with ``1 − R² <`` this get their ADF statistic by QR, not from the Gram matrices.
EXACT_BELOW_1_MINUS_RSQ = 1e-4
#: Upper bound on floats held per chunk of pairs (about 32 MB).
_CHUNK_FLOATS = 4_000_000
#: Upper bound on the floats of one chunk of design Grams (about 4 MB: stays in cache).
_GRAM_CHUNK_FLOATS = 500_000
#: The pairwise sum behind ``ndarray.sum``/``mean``/``std``, called without their wrappers.
_add_reduce = np.add.reduce


@dataclass(frozen=True, slots=True)
class PairScan:
    """Engle–Granger results for a set of pairs; every field has shape ``(n_pairs,)``.

    Attributes
    ----------
    i, j : IntArray
        Column indices of the dependent asset ``y`` (A) and the regressor ``x`` (B); ``i < j``
        in a full scan.
    hedge_ratio : FloatArray
        γ of ``log A = c + γ log B + ε`` (units of log B per unit of log A).
    intercept : FloatArray
        c, log-price units.
    adf_stat : FloatArray
        ADF t-statistic on ε; ``-inf`` when A and B are (almost) perfectly collinear
        (statsmodels' rule, R² ≥ 1 − 100·sqrt(eps)); ``0.0`` if the ADF regression was rank
        deficient (no evidence of cointegration).
    p_value : FloatArray
        MacKinnon approximate asymptotic p-value (N = 2, constant), in ``[0, 1]``.
    lags : IntArray
        Lagged differences in the ADF regression; ``-1`` where no ADF ran (collinear).
    half_life_bars : FloatArray
        OU half-life of ε in bars (``inf`` when ε does not mean-revert).
    """

    i: IntArray
    j: IntArray
    hedge_ratio: FloatArray
    intercept: FloatArray
    adf_stat: FloatArray
    p_value: FloatArray
    lags: IntArray
    half_life_bars: FloatArray

    def __post_init__(self) -> None:
        """Check that every field is 1-D with one common length and freeze the arrays."""
        lengths = {getattr(self, f.name).shape for f in fields(self)}
        if len(lengths) != 1 or len(next(iter(lengths))) != 1:
            raise ValueError(f"PairScan fields must be 1-D of one length, got shapes {lengths}")
        for f in fields(self):
            getattr(self, f.name).setflags(write=False)

    def __len__(self) -> int:
        """Number of pairs."""
        return int(self.i.shape[0])

    def take(self, index: IntArray) -> PairScan:
        """Return the pairs at ``index`` (integer positions, in that order)."""
        return PairScan(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def scan_pairs(
    log_prices: FloatArray, maxlag: int | None = None, autolag: str | None = "aic"
) -> PairScan:
    """Engle–Granger test of every pair ``(i, j)``, ``i < j``, of a log-price panel.

    For each pair ``y = log_prices[:, i]``, ``x = log_prices[:, j]``: equals
    ``statsmodels.tsa.stattools.coint(y, x, trend="c", maxlag=maxlag, autolag=autolag)``
    (statistic and p-value) and the lag ``adfuller`` chose; see the module docstring.

    Parameters
    ----------
    log_prices : FloatArray
        Shape ``(n_bars, n_assets)``, float64, finite, oldest first, ``n_assets ≥ 2``.
    maxlag : int | None
        Largest (``autolag`` set) or fixed (``autolag=None``) number of lagged differences;
        default :func:`adf_default_maxlag` of ``n_bars``.
    autolag : {"aic", "bic", None}
        Lag selection criterion (case-insensitive); None uses ``maxlag`` lags.

    Returns
    -------
    PairScan
        ``n_assets (n_assets − 1) / 2`` pairs in ``np.triu_indices`` order.

    Raises
    ------
    ValueError
        On a non-2-D or non-finite panel, fewer than 2 assets, a constant column, too few
        bars for ``maxlag``, a negative or too large ``maxlag`` or an unknown ``autolag``.
    """
    panel = _validate_panel(log_prices)
    n_bars = panel.shape[0]
    maxlag = _validate_maxlag(maxlag, n_bars)
    criterion = _validate_autolag(autolag)
    centred = panel - panel.mean(axis=0)
    gram = centred.T @ centred
    ii, jj = np.triu_indices(panel.shape[1], k=1)
    gamma = gram[ii, jj] / gram[jj, jj]
    # Row sums of the transposed panel: the summation order of the column means of panel[:, ii].
    means = np.ascontiguousarray(panel.T).mean(axis=1)
    intercept = means[ii] - gamma * means[jj]
    rsq = (gamma * gram[ii, jj]) / gram[ii, ii]  # 1 − RSS/TSS with RSS = G_ii − γ G_ij
    moments = lagged_moments(centred, maxlag)
    lags = np.full(ii.shape, maxlag, dtype=np.intp)
    stat = np.empty(ii.shape)
    # Pairs in chunks whose Grams stay in cache between their three passes.
    for chunk in _pair_chunks(ii.shape[0], (maxlag + 2) ** 2, _GRAM_CHUNK_FLOATS):
        c_ii, c_jj, c_gamma = ii[chunk], jj[chunk], gamma[chunk]
        design_grams = pair_grams(centred, moments, c_ii, c_jj, c_gamma)
        if criterion is not None:
            lags[chunk] = _select_lags(centred, c_ii, c_jj, c_gamma, design_grams, criterion)
        stat[chunk] = _adf_stats(
            centred, c_ii, c_jj, c_gamma, design_grams, lags[chunk], rsq[chunk]
        )
    collinear = rsq >= COLLINEAR_RSQ
    stat = np.where(collinear, -np.inf, stat)
    lags = np.where(collinear, -1, lags).astype(np.intp)
    return PairScan(
        i=ii.astype(np.intp),
        j=jj.astype(np.intp),
        hedge_ratio=gamma,
        intercept=intercept,
        adf_stat=stat,
        p_value=mackinnon_pvalue_coint(stat),
        lags=lags,
        half_life_bars=_half_lives(centred, ii, jj, gamma),
    )


def refit_exact(log_prices: FloatArray, pairs: PairScan) -> PairScan:
    """The pairs of a scan with ADF statistic, p-value and half-life recomputed by QR.

    :func:`scan_pairs` gets every statistic from Gram matrices (equal to statsmodels within
    1e-8); this recomputes the given pairs (same panel, hedge ratios and lags) from the
    residual series themselves: a QR of each pair's ADF design and the half-life regression
    on ε, with the summation order of one batch of at least two pairs, so the values a
    strategy stores do not depend on how many pairs are refitted with them.

    Parameters
    ----------
    log_prices : FloatArray
        The panel the scan ran on, shape ``(n_bars, n_assets)``.
    pairs : PairScan
        Pairs of that scan (any subset, any order).

    Returns
    -------
    PairScan
        ``pairs`` with ``adf_stat``, ``p_value`` and ``half_life_bars`` replaced.

    Raises
    ------
    ValueError
        On an invalid panel (see :func:`scan_pairs`).
    """
    if len(pairs) == 0:
        return pairs
    panel = _validate_panel(log_prices)
    centred = panel - panel.mean(axis=0)
    # One pair alone would be summed pairwise (a contiguous row), a batch row by row.
    take = np.r_[np.arange(len(pairs)), 0] if len(pairs) == 1 else np.arange(len(pairs))
    ii, jj, gamma = pairs.i[take], pairs.j[take], pairs.hedge_ratio[take]
    lags = np.maximum(pairs.lags[take], 0)
    stat, half_life = _exact_adf_and_half_life(centred, ii, jj, gamma, lags)
    stat = np.where(pairs.lags[take] < 0, -np.inf, stat)[: len(pairs)]
    return replace(
        pairs,
        adf_stat=stat,
        p_value=mackinnon_pvalue_coint(stat),
        half_life_bars=half_life[: len(pairs)],
    )


def _validate_panel(log_prices: FloatArray) -> FloatArray:
    """Return the panel as float64 or raise ``ValueError`` naming the problem."""
    panel = np.asarray(log_prices, dtype=np.float64)
    if panel.ndim != 2 or panel.shape[1] < 2:
        raise ValueError(f"log_prices must have shape (n_bars, n_assets >= 2), got {panel.shape}")
    if not np.all(np.isfinite(panel)):
        bad = np.flatnonzero(~np.all(np.isfinite(panel), axis=0)).tolist()
        raise ValueError(f"log_prices has NaN or inf in columns {bad}")
    constant = np.flatnonzero(np.ptp(panel, axis=0) == 0).tolist()
    if constant:
        raise ValueError(f"log_prices columns {constant} are constant; cannot regress on them")
    return panel


def _validate_maxlag(maxlag: int | None, n_bars: int) -> int:
    """Resolve the default ``maxlag`` and check it against the sample size."""
    if maxlag is None:
        maxlag = adf_default_maxlag(n_bars)
    elif not 0 <= maxlag <= n_bars // 2 - 1:
        raise ValueError(
            f"maxlag must be in [0, n_bars // 2 - 1 = {n_bars // 2 - 1}], got {maxlag}"
        )
    if n_bars - 2 - 2 * maxlag < 1:
        raise ValueError(f"{n_bars} bars leave no residual degree of freedom at maxlag {maxlag}")
    return maxlag


def _validate_autolag(autolag: str | None) -> str | None:
    """Lower-case the criterion; only AIC/BIC (or None) are supported."""
    if autolag is None:
        return None
    criterion = autolag.lower()
    if criterion not in ("aic", "bic"):
        raise ValueError(f"autolag must be 'aic', 'bic' or None, got {autolag!r}")
    return criterion


def _pair_chunks(n_pairs: int, floats_per_pair: int, max_floats: int = 0) -> Iterator[slice]:
    """Slices of pair indices whose working arrays stay under ``max_floats`` (default
    ``_CHUNK_FLOATS``)."""
    size = max(1, (max_floats or _CHUNK_FLOATS) // max(1, floats_per_pair))
    for start in range(0, n_pairs, size):
        yield slice(start, min(start + size, n_pairs))


def _select_lags(
    centred: FloatArray,
    ii: IntArray,
    jj: IntArray,
    gamma: FloatArray,
    design_grams: FloatArray,
    criterion: str,
) -> IntArray:
    """Lag minimizing AIC/BIC over ``0..maxlag`` on the common sample (statsmodels _autolag).

    Cheap path: batched Cholesky of the design Grams, nested RSS. Pairs with a near tie or a
    non-finite criterion (a Gram not numerically positive definite) are re-scored with QR.
    """
    maxlag = design_grams.shape[1] - 2
    nobs = centred.shape[0] - 1 - maxlag
    ic = information_criterion(nested_rss_from_grams(design_grams), nobs, criterion)
    refine = _near_ties(ic)
    if refine.size:
        ic[refine] = _exact_criterion(
            centred, ii[refine], jj[refine], gamma[refine], maxlag, criterion
        )
    # argmin returns the first minimum: ties go to the smaller lag, as min((ic, lag)) does.
    return np.asarray(np.argmin(ic, axis=1), dtype=np.intp)


def _near_ties(ic: FloatArray) -> IntArray:
    """Pairs with a non-finite criterion or whose best two values differ by less than
    :data:`AIC_TIE_TOL`."""
    bad = ~np.all(np.isfinite(ic), axis=1)
    if ic.shape[1] >= 2:
        best_two = np.partition(ic, 1, axis=1)[:, :2]
        # inf - inf (two lags with an infinite criterion, e.g. -inf: a perfect fit) is NaN,
        # which the comparison sends to the exact re-scoring like any non-finite value
        with np.errstate(invalid="ignore"):
            gap = best_two[:, 1] - best_two[:, 0]
        bad |= ~(gap >= AIC_TIE_TOL)
    return np.flatnonzero(bad).astype(np.intp)


def _exact_criterion(
    centred: FloatArray, ii: IntArray, jj: IntArray, gamma: FloatArray, maxlag: int, criterion: str
) -> FloatArray:
    """AIC/BIC of every nested lag model from a QR of each pair's actual design."""
    n_bars = centred.shape[0]
    out = np.empty((ii.shape[0], maxlag + 1))
    for chunk in _pair_chunks(ii.shape[0], n_bars * (maxlag + 3)):
        resid = residuals(centred, ii[chunk], jj[chunk], gamma[chunk])
        design = lagged_design(resid, maxlag, maxlag, level_first=True)
        r_factor = qr_r(design)
        out[chunk] = information_criterion(nested_rss_from_r(r_factor), design.shape[1], criterion)
    return out


def _adf_stats(
    centred: FloatArray,
    ii: IntArray,
    jj: IntArray,
    gamma: FloatArray,
    design_grams: FloatArray,
    lags: IntArray,
    rsq: FloatArray,
) -> FloatArray:
    """ADF statistic of every pair refitted at its lag on its own sample, from the Grams.

    The lag-``p`` model's sample is the common one plus the rows ``t = p .. maxlag − 1``:
    its Gram is the matching block of ``design_grams`` plus the Gram of those rows, built
    from the first ``maxlag + 1`` residuals only. Pairs with ``R² > 1 −``
    :data:`EXACT_BELOW_1_MINUS_RSQ` (where the Gram loses digits to cancellation) and lag
    groups whose Gram is not numerically positive definite are refitted by QR instead.
    """
    n_bars = centred.shape[0]
    maxlag = design_grams.shape[1] - 2
    stat = np.empty(ii.shape[0])
    exact = ~(1.0 - rsq >= EXACT_BELOW_1_MINUS_RSQ)
    head = (centred[: maxlag + 1, ii] - gamma * centred[: maxlag + 1, jj]).T
    for lag in np.unique(lags[~exact]).tolist():
        rows = np.flatnonzero((lags == lag) & ~exact)
        order = [*range(1, lag + 1), 0, maxlag + 1]
        gram = design_grams[rows[:, None, None], order, np.asarray(order)[:, None]]
        extra = lagged_design(head[rows], lag, lag, level_first=False)
        gram += np.einsum("prk,prl->pkl", extra, extra)
        try:
            stat[rows] = adf_tstat_from_gram(gram, lag, n_bars - 1 - lag)
        except np.linalg.LinAlgError:
            exact[rows] = True
    refit = np.flatnonzero(exact)
    if refit.size:
        stat[refit] = _exact_adf_and_half_life(
            centred, ii[refit], jj[refit], gamma[refit], lags[refit]
        )[0]
    return stat


def _half_lives(centred: FloatArray, ii: IntArray, jj: IntArray, gamma: FloatArray) -> FloatArray:
    """OU half-life of every pair's ε (:func:`half_life_bars`) from per-asset moments."""
    lagged = centred[:-1] - centred[:-1].mean(axis=0)
    delta = np.diff(centred, axis=0)
    delta -= delta.mean(axis=0)
    lag_lag = lagged.T @ lagged
    lag_delta = lagged.T @ delta
    g, g2 = gamma, gamma * gamma
    sxx = lag_lag[ii, ii] - 2.0 * g * lag_lag[ii, jj] + g2 * lag_lag[jj, jj]
    sxy = lag_delta[ii, ii] - g * (lag_delta[ii, jj] + lag_delta[jj, ii]) + g2 * lag_delta[jj, jj]
    kappa = -np.divide(sxy, sxx, out=np.zeros_like(sxy), where=sxx > 0)
    out = np.full_like(kappa, np.inf)
    np.divide(math.log(2.0), kappa, out=out, where=kappa > 0)
    return np.asarray(out, dtype=np.float64)


def _exact_adf_and_half_life(
    centred: FloatArray, ii: IntArray, jj: IntArray, gamma: FloatArray, lags: IntArray
) -> tuple[FloatArray, FloatArray]:
    """ADF statistic (QR of each pair's design at its lag) and OU half-life, from ε itself."""
    n_pairs, n_bars = ii.shape[0], centred.shape[0]
    stat = np.empty(n_pairs)
    half_life = np.empty(n_pairs)
    for chunk in _pair_chunks(n_pairs, n_bars * (int(lags.max()) + 3)):
        resid = residuals(centred, ii[chunk], jj[chunk], gamma[chunk])
        half_life[chunk] = half_life_bars(resid)
        for lag in np.unique(lags[chunk]).tolist():
            rows = np.flatnonzero(lags[chunk] == lag)
            stat[chunk.start + rows] = adf_tstat(resid[rows], int(lag))
    return stat, half_life


def select_pairs(
    scan: PairScan,
    p_max: float = 0.05,
    half_life_min: float = 5.0,
    half_life_max: float = 120.0,
    max_pairs: int = 20,
    one_pair_per_asset: bool = True,
) -> PairScan:
    """Tradable pairs of a scan, best first.

    Keeps pairs with a finite statistic, ``p_value < p_max`` and
    ``half_life_min < half_life_bars < half_life_max``; ranks them by ADF statistic, most
    negative first (ties keep scan order); takes at most ``max_pairs``, skipping a pair whose
    asset is already used when ``one_pair_per_asset`` (SEEDS.md, "Statistical arbitrage").

    Parameters
    ----------
    scan : PairScan
    p_max : float
        Largest p-value accepted (strict), in ``(0, 1]``.
    half_life_min, half_life_max : float
        Open interval of accepted half-lives, bars.
    max_pairs : int
        Most pairs returned, ``≥ 0``.
    one_pair_per_asset : bool
        Each asset in at most one selected pair.

    Returns
    -------
    PairScan
        The selected pairs in rank order.

    Raises
    ------
    ValueError
        If ``p_max`` is outside ``(0, 1]``, ``half_life_min ≥ half_life_max`` or
        ``max_pairs < 0``.
    """
    if not 0.0 < p_max <= 1.0:
        raise ValueError(f"p_max must be in (0, 1], got {p_max}")
    if not half_life_min < half_life_max:
        raise ValueError(f"half_life_min {half_life_min} must be < half_life_max {half_life_max}")
    if max_pairs < 0:
        raise ValueError(f"max_pairs must be >= 0, got {max_pairs}")
    ok = np.isfinite(scan.adf_stat) & (scan.p_value < p_max)
    ok &= (scan.half_life_bars > half_life_min) & (scan.half_life_bars < half_life_max)
    ranked = np.flatnonzero(ok)[np.argsort(scan.adf_stat[ok], kind="stable")]
    chosen: list[int] = []
    used: set[int] = set()
    for k in ranked.tolist():
        if len(chosen) >= max_pairs:
            break
        a, b = int(scan.i[k]), int(scan.j[k])
        if one_pair_per_asset and (a in used or b in used):
            continue
        chosen.append(k)
        used.update((a, b))
    return scan.take(np.asarray(chosen, dtype=np.intp))


def spread_zscore(log_a: FloatArray, log_b: FloatArray, hedge_ratio: float, window: int) -> float:
    """z-score of the latest spread value against the last ``window`` values.

    ``S = log A − γ log B``; ``z = (S[-1] − mean(S_w)) / std(S_w, ddof=1)`` where ``S_w`` is
    the last ``window`` values (including the latest). A constant window gives ``0.0``.

    Parameters
    ----------
    log_a, log_b : FloatArray
        Log prices, shape ``(n,)``, float64, finite, oldest first, same length.
    hedge_ratio : float
        γ, finite.
    window : int
        Values in the z-score window, ``2 ≤ window ≤ n``.

    Returns
    -------
    float
        The z-score, dimensionless.

    Raises
    ------
    ValueError
        On mismatched shapes, non-finite input or an invalid window.
    """
    a = np.asarray(log_a, dtype=np.float64)
    b = np.asarray(log_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"log_a and log_b must be 1-D of one length, got {a.shape}, {b.shape}")
    if not 2 <= window <= a.shape[0]:
        raise ValueError(f"window must be in [2, {a.shape[0]}], got {window}")
    spread = a[-window:] - hedge_ratio * b[-window:]
    # np.std(spread, ddof=1) and spread.mean() without their wrappers, the same float
    # operations in the same order (one pairwise sum shared by both; tests check the bits).
    total = float(_add_reduce(spread))
    if not math.isfinite(total) and not np.all(np.isfinite(spread)):
        raise ValueError("spread_zscore: log prices or hedge ratio are not finite")
    mean = total / window
    std = _sample_std_about(spread, mean)
    if std == 0.0:
        return 0.0
    return (float(spread[-1]) - mean) / std


def sample_std(values: FloatArray) -> float:
    """``float(np.std(values, ddof=1))`` of a 1-D float64 array: the same float operations in
    the same order (pairwise sum, mean, squared deviations, pairwise sum), without the
    wrappers of ``np.std`` (a few µs a call, on the hourly path).

    Raises
    ------
    ValueError
        If ``values`` holds fewer than 2 values (``np.std`` would warn and give NaN).
    """
    n = values.shape[0]
    if n < 2:
        raise ValueError(f"sample_std needs at least 2 values, got {n}")
    return _sample_std_about(values, float(_add_reduce(values)) / n)


def _sample_std_about(values: FloatArray, mean: float) -> float:
    """Sample standard deviation of ``values`` about their ``mean`` (computed as np.std does)."""
    dev = values - mean
    return math.sqrt(float(_add_reduce(dev * dev)) / (values.shape[0] - 1))
