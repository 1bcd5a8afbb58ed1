"""Selection bias of a parameter sweep: the deflated Sharpe ratio and the probability of
backtest overfitting.

Pure functions over numpy arrays (no I/O). Sharpe ratios here are **per observation** (a daily
return series gives a daily Sharpe ratio, ``mean / std`` with ``ddof = 1``, not annualized);
multiply by √365 to compare with the summary's annualized figure.

Sources
-------
- Bailey, D. H. and López de Prado, M. (2012), "The Sharpe Ratio Efficient Frontier",
  Journal of Risk 15(2), 3-44, https://doi.org/10.21314/JOR.2012.255 — the probabilistic
  Sharpe ratio (PSR).
- Bailey, D. H. and López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for
  Selection Bias, Backtest Overfitting, and Non-Normality", Journal of Portfolio Management
  40(5), 94-107, https://doi.org/10.3905/jpm.2014.40.5.094 — the deflated Sharpe ratio (DSR).
- Bailey, D. H., Borwein, J. M., López de Prado, M. and Zhu, Q. J. (2017), "The Probability
  of Backtest Overfitting", Journal of Computational Finance 20(4), 39-69,
  https://doi.org/10.21314/JCF.2016.322 — combinatorially symmetric cross-validation (CSCV)
  and the probability of backtest overfitting (PBO).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri

FloatArray = npt.NDArray[np.float64]

EULER_GAMMA = 0.5772156649015329
"""The Euler-Mascheroni constant γ of the expected-maximum formula."""
DEFAULT_PBO_BLOCKS = 16
"""S of CSCV: the paper's example (16 blocks, C(16, 8) = 12,870 train/test splits)."""
_CONSTANT_STD_REL = 1e-12  # a std this small relative to the values is rounding noise
_COMBOS_PER_BATCH = 1024  # bounds the (splits × trials) arrays held at once


@dataclass(frozen=True, slots=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of a run selected among ``n_trials``.

    Attributes
    ----------
    dsr : float
        Probability (0..1) that the selected run's true Sharpe ratio exceeds the maximum
        expected from ``n_trials`` trials with no skill; NaN when ``reason`` says why.
    sharpe : float
        The selected run's Sharpe ratio, per observation.
    expected_max_sharpe : float
        SR0, the expected maximum Sharpe ratio of ``n_trials`` unskilled trials, per
        observation.
    n_trials : int
        Trials the selection was made among (N).
    sharpe_variance : float
        Variance (``ddof = 1``) of the trials' Sharpe ratios, per observation squared.
    n_obs : int
        Returns of the selected run (T).
    skewness, kurtosis : float
        Of the selected run's returns (kurtosis not in excess: 3 for a normal law).
    reason : str or None
        Why ``dsr`` is NaN, else None.
    """

    dsr: float
    sharpe: float
    expected_max_sharpe: float
    n_trials: int
    sharpe_variance: float
    n_obs: int
    skewness: float
    kurtosis: float
    reason: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class BacktestOverfitting:
    """The probability of backtest overfitting of a set of trials, by CSCV.

    Attributes
    ----------
    pbo : float
        Share (0..1) of train/test splits in which the trial best in-sample ranks at or below
        the median out of sample; NaN when ``reason`` says why.
    n_blocks : int
        S, the blocks the observations were cut into (even; fewer than asked when there are
        fewer observations).
    n_combinations : int
        Train/test splits evaluated, C(S, S/2).
    logits : ndarray, shape (n_combinations,), float64
        λ = ln(ω / (1 − ω)) of each split, ω the relative out-of-sample rank of the in-sample
        best; empty when ``pbo`` is NaN.
    reason : str or None
        Why ``pbo`` is NaN, else None.
    """

    pbo: float
    n_blocks: int
    n_combinations: int
    logits: FloatArray
    reason: str | None = None


def sharpe_ratio(returns: npt.ArrayLike) -> float:
    """Sharpe ratio of a return series per observation: ``mean(r) / std(r, ddof=1)``.

    Parameters
    ----------
    returns : array_like, shape (t,), float64
        Simple returns per period (fractions), finite.

    Returns
    -------
    float
        The ratio; 0.0 for a constant series with mean 0 (a run that never traded), ±inf for
        a constant non-zero one; NaN for fewer than 2 returns.

    Raises
    ------
    ValueError
        Not 1-D, or a non-finite value.
    """
    r = _as_finite(returns, 1, "returns")
    if r.size < 2:
        return math.nan
    return float(_sharpe(np.mean(r), np.std(r, ddof=1), np.max(np.abs(r))))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """SR0: the expected maximum Sharpe ratio of ``n_trials`` independent trials whose true
    Sharpe ratio is 0 (Bailey & López de Prado 2014, eq. for SR0, from the false strategy
    theorem):

        SR0 = √V · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)))

    with V the variance of the trials' Sharpe ratios, γ the Euler-Mascheroni constant and
    Φ⁻¹ the standard normal quantile.

    Parameters
    ----------
    n_trials : int
        N ≥ 1; a single trial selects nothing (SR0 = 0).
    sharpe_variance : float
        V ≥ 0, per observation squared.

    Returns
    -------
    float
        SR0, per observation.

    Raises
    ------
    ValueError
        ``n_trials < 1``, or ``sharpe_variance`` negative or not finite.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if not (math.isfinite(sharpe_variance) and sharpe_variance >= 0.0):
        raise ValueError(f"sharpe_variance must be finite and >= 0, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    z_n = float(ndtri(1.0 - 1.0 / n_trials))
    z_ne = float(ndtri(1.0 - 1.0 / (n_trials * math.e)))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * z_n + EULER_GAMMA * z_ne)


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark_sharpe: float, n_obs: int, skewness: float, kurtosis: float
) -> float:
    """PSR: the probability that the true Sharpe ratio exceeds ``benchmark_sharpe``, given an
    estimate from ``n_obs`` returns that need not be normal (Bailey & López de Prado 2012):

        PSR(SR*) = Φ( (SR − SR*) √(T − 1) / √(1 − γ₃ SR + (γ₄ − 1)/4 · SR²) )

    Parameters
    ----------
    sharpe : float
        SR, the estimate, per observation.
    benchmark_sharpe : float
        SR*, per observation.
    n_obs : int
        T ≥ 2 returns behind the estimate.
    skewness, kurtosis : float
        γ₃ and γ₄ of the returns (γ₄ = 3 for a normal law, not the excess).

    Returns
    -------
    float
        A probability in [0, 1]; NaN when the variance term ``1 − γ₃ SR + (γ₄ − 1)/4 SR²``
        is not positive (moments inconsistent with the estimate).

    Raises
    ------
    ValueError
        ``n_obs < 2`` or a non-finite input.
    """
    if n_obs < 2:
        raise ValueError(f"n_obs must be >= 2, got {n_obs}")
    for name, value in (
        ("sharpe", sharpe),
        ("benchmark_sharpe", benchmark_sharpe),
        ("skewness", skewness),
        ("kurtosis", kurtosis),
    ):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    var_term = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not var_term > 0.0:
        return math.nan
    z = (sharpe - benchmark_sharpe) * math.sqrt(n_obs - 1) / math.sqrt(var_term)
    return float(ndtr(z))


def deflated_sharpe_ratio(
    selected_returns: npt.ArrayLike, trial_sharpes: npt.ArrayLike
) -> DeflatedSharpe:
    """DSR of the run selected among trials (Bailey & López de Prado 2014):

        DSR = PSR(SR0) = Φ( (SR − SR0) √(T − 1) / √(1 − γ₃ SR + (γ₄ − 1)/4 · SR²) )

    SR, γ₃, γ₄ and T come from the selected run's returns; SR0 is :func:`expected_max_sharpe`
    of N = every trial (``trial_sharpes``, the selected run's included) with V the sample
    variance of their finite Sharpe ratios. Grid points of one sweep are correlated, so N
    overstates the number of independent trials and the DSR errs on the conservative side.

    Parameters
    ----------
    selected_returns : array_like, shape (t,), float64
        Returns per period of the selected run, finite.
    trial_sharpes : array_like, shape (n,), float64
        Sharpe ratio per observation of every trial (NaN allowed: counted in N, left out of
        V).

    Returns
    -------
    DeflatedSharpe
        ``dsr`` NaN (with ``reason``) for fewer than 2 returns, constant returns or moments
        the PSR cannot use.

    Raises
    ------
    ValueError
        Not 1-D, a non-finite return, or no trial.
    """
    r = _as_finite(selected_returns, 1, "selected_returns")
    sharpes = np.asarray(trial_sharpes, dtype=np.float64)
    if sharpes.ndim != 1 or sharpes.size == 0:
        raise ValueError(f"trial_sharpes must be a non-empty 1-D array, got shape {sharpes.shape}")
    n_trials = int(sharpes.size)
    finite = sharpes[np.isfinite(sharpes)]
    variance = float(np.var(finite, ddof=1)) if finite.size >= 2 else 0.0
    sr0 = expected_max_sharpe(n_trials, variance)
    nan = math.nan
    if r.size < 2:
        return DeflatedSharpe(
            nan, nan, sr0, n_trials, variance, int(r.size), nan, nan, "fewer than 2 returns"
        )
    sr = sharpe_ratio(r)
    skewness, kurtosis = _moments(r)
    if not (math.isfinite(sr) and math.isfinite(skewness)):
        constant = "the selected run's returns are constant"
        return DeflatedSharpe(nan, sr, sr0, n_trials, variance, int(r.size), nan, nan, constant)
    dsr = probabilistic_sharpe_ratio(sr, sr0, int(r.size), skewness, kurtosis)
    why = None if math.isfinite(dsr) else "1 − skewness·SR + (kurtosis − 1)/4·SR² ≤ 0"
    return DeflatedSharpe(dsr, sr, sr0, n_trials, variance, int(r.size), skewness, kurtosis, why)


def probability_of_backtest_overfitting(
    returns: npt.ArrayLike, n_blocks: int = DEFAULT_PBO_BLOCKS
) -> BacktestOverfitting:
    """PBO of the trials whose returns are the columns of ``returns``, by combinatorially
    symmetric cross-validation (Bailey, Borwein, López de Prado & Zhu 2017):

    1. cut the T rows (observations, in time order) into S blocks of (nearly) equal size —
       ``numpy.array_split``: when S does not divide T the first T mod S blocks hold one row
       more, and no row is dropped;
    2. for each of the C(S, S/2) ways to pick S/2 blocks as the training set J (the other
       blocks, J̄, are the test set), compute every trial's Sharpe ratio on J and on J̄;
    3. take n* = the trial best on J (the first one on a tie), its rank ω̄ among the trials'
       Sharpe ratios on J̄ as a fraction, ω̄ = rank / (N + 1) (rank 1 = worst, ties share
       their average rank), and the logit λ = ln(ω̄ / (1 − ω̄));
    4. PBO = the share of splits with λ ≤ 0: the in-sample best did no better than the
       median trial out of sample.

    Pure noise gives a PBO near 0.5; a trial with real skill that is also the best in-sample
    drives it toward 0.

    Parameters
    ----------
    returns : array_like, shape (t, n), float64
        Returns per period of n ≥ 2 trials over the same t periods, finite.
    n_blocks : int
        S, even and ≥ 2; lowered to the largest even number ≤ t when t < S.

    Returns
    -------
    BacktestOverfitting
        ``pbo`` NaN (with ``reason``) for fewer than 2 trials, or when a training or test set
        would hold fewer than 2 observations.

    Raises
    ------
    ValueError
        Not 2-D, a non-finite value, or ``n_blocks`` odd or < 2.
    """
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"n_blocks must be an even number >= 2, got {n_blocks}")
    m = _as_finite(returns, 2, "returns")
    t_obs, n_trials = m.shape
    blocks = min(n_blocks, t_obs - t_obs % 2)
    empty = np.empty(0, dtype=np.float64)
    if n_trials < 2:
        return BacktestOverfitting(math.nan, blocks, 0, empty, "fewer than 2 trials")
    block_rows = np.array_split(np.arange(t_obs), blocks) if blocks >= 2 else []
    min_half = sum(sorted(len(rows) for rows in block_rows)[: blocks // 2])
    if blocks < 2 or min_half < 2:
        reason = f"too few observations ({t_obs}) for train and test sets of 2 or more"
        return BacktestOverfitting(math.nan, blocks, 0, empty, reason)
    logits = _cscv_logits(m, block_rows)
    return BacktestOverfitting(float(np.mean(logits <= 0.0)), blocks, int(logits.size), logits)


def _cscv_logits(m: FloatArray, block_rows: list[npt.NDArray[np.intp]]) -> FloatArray:
    """λ of every train/test split (see :func:`probability_of_backtest_overfitting`).

    Sharpe ratios of each half come from per-block sums of the column-centred returns (the
    centring keeps the variance from cancelling; the column mean is added back to the mean).
    """
    col_mean = m.mean(axis=0)
    centred = m - col_mean
    scale = np.max(np.abs(m), axis=0)
    n = np.array([len(rows) for rows in block_rows], dtype=np.float64)
    sums = np.stack([centred[rows].sum(axis=0) for rows in block_rows])
    squares = np.stack([(centred[rows] ** 2).sum(axis=0) for rows in block_rows])
    n_blocks = len(block_rows)
    splits = np.array(list(combinations(range(n_blocks), n_blocks // 2)), dtype=np.intp)
    out: list[FloatArray] = []
    for start in range(0, len(splits), _COMBOS_PER_BATCH):
        train = np.zeros((len(splits[start : start + _COMBOS_PER_BATCH]), n_blocks))
        np.put_along_axis(train, splits[start : start + _COMBOS_PER_BATCH], 1.0, axis=1)
        sr_in = _half_sharpes(train, n, sums, squares, col_mean, scale)
        sr_out = _half_sharpes(1.0 - train, n, sums, squares, col_mean, scale)
        best = np.argmax(sr_in, axis=1)
        best_out = np.take_along_axis(sr_out, best[:, None], axis=1)
        below = (sr_out < best_out).sum(axis=1)
        equal = (sr_out == best_out).sum(axis=1)
        omega = (below + (equal + 1) / 2.0) / (sr_out.shape[1] + 1)
        out.append(np.log(omega / (1.0 - omega)))
    return np.concatenate(out)


def _half_sharpes(
    weights: FloatArray,
    n: FloatArray,
    sums: FloatArray,
    squares: FloatArray,
    col_mean: FloatArray,
    scale: FloatArray,
) -> FloatArray:
    """Sharpe ratio (ddof = 1) of each trial over the blocks ``weights`` selects.

    ``weights`` (splits, blocks) of 0/1; ``sums``/``squares`` (blocks, trials) of the centred
    returns; returns (splits, trials)."""
    count = (weights @ n)[:, None]
    s1 = weights @ sums
    s2 = weights @ squares
    var = np.maximum(s2 - s1**2 / count, 0.0) / (count - 1.0)
    return _sharpe(s1 / count + col_mean, np.sqrt(var), scale)


def _sharpe(mean: npt.ArrayLike, std: npt.ArrayLike, scale: npt.ArrayLike) -> FloatArray:
    """``mean / std`` element-wise; where the std is rounding noise relative to ``scale``
    (the largest ``|return|``): 0 when the mean is rounding noise too (returns all 0, as
    before a strategy's first trade), else ±inf."""
    mean_a = np.asarray(mean, dtype=np.float64)
    std_a = np.asarray(std, dtype=np.float64)
    tol = _CONSTANT_STD_REL * np.asarray(scale, dtype=np.float64)
    flat = ~(std_a > tol)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean_a / std_a
    degenerate = np.where(mean_a > tol, np.inf, np.where(mean_a < -tol, -np.inf, 0.0))
    return np.asarray(np.where(flat, degenerate, ratio), dtype=np.float64)


def _moments(r: FloatArray) -> tuple[float, float]:
    """Sample skewness and kurtosis (not in excess) from the biased central moments:
    ``m3 / m2^1.5`` and ``m4 / m2²``; NaN for a constant series."""
    d = r - r.mean()
    m2 = float(np.mean(d**2))
    if not m2 > (_CONSTANT_STD_REL * float(np.max(np.abs(r)))) ** 2:
        return math.nan, math.nan
    return float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / m2**2


def _as_finite(values: npt.ArrayLike, ndim: int, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has a non-finite value")
    return arr
