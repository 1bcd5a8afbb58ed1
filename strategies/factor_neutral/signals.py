"""Pure signal math of the factor-neutral strategy: alphas and factor exposures per asset.

Everything is cross-sectional over ``k`` assets observed on the same hourly bars:

- **funding carry alpha** ``z(−r)``, with ``r`` each perp's funding rate normalized per hour
  (:func:`venues.model.funding_rate_per_hour`, the one normalization helper): short the perps
  whose longs pay the most, long those whose longs are paid;
- **momentum** ``log P[t − s] − log P[t − s − L]`` (lookback ``L`` bars, the most recent ``s``
  bars skipped, as in Jegadeesh & Titman's skip-a-period momentum, so short-term reversal does
  not contaminate it), used both as an alpha and as a factor exposure;
- **volatility** the sample standard deviation of hourly log returns;
- **beta** to the market (BTC): ``cov(r_i, r_m) / var(r_m)`` of hourly log returns
  (:func:`strategies.common.betas_to_market`, the repository's one beta estimator),
  NaN ("unknown") below ``min_obs`` observations — never a silent 1.0.

Alphas and factor exposures are z-scored across the assets (population standard deviation,
``ddof = 0``, so ``Σ z = 0`` and ``Σ z² = k``); beta is not, because the beta constraint
``w·β = 0`` is meant in market units. A *size* factor is not computed: the market snapshot
carries closes only, no volumes (SEEDS.md lists size among the factors; it needs volume or
market-cap data the agent does not have yet).

Sources: SEEDS.md "Neutrality", "Beta estimation and hedging", "Factor-neutral long/short
construction". Jegadeesh, N. and Titman, S. (1993), "Returns to buying winners and selling
losers", Journal of Finance 48(1).
"""

from __future__ import annotations

import numpy as np

from strategies.base import FloatArray
from strategies.common import betas_to_market


def zscore(values: FloatArray) -> FloatArray:
    """Cross-sectional z-score ``(x − mean) / std`` with the population std (``ddof = 0``).

    Parameters
    ----------
    values : FloatArray
        Shape ``(k,)`` float64, one value per asset, all finite, ``k ≥ 1``.

    Returns
    -------
    FloatArray
        Shape ``(k,)``; all zeros when the values are all equal (no cross-sectional
        information, so no preference).

    Raises
    ------
    ValueError
        If ``values`` is not a non-empty 1-D array of finite numbers.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"zscore needs a non-empty 1-D array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"zscore input holds a non-finite value: {x.tolist()!r}")
    centred = x - x.mean()
    std = float(np.sqrt(np.mean(centred * centred)))
    if std <= 1e-12 * max(1.0, float(np.max(np.abs(x)))):
        return np.zeros_like(x)
    return np.asarray(centred / std, dtype=np.float64)


def funding_carry_alpha(rates_per_hour: FloatArray) -> FloatArray:
    """Funding carry alpha ``z(−r)``: high where holding the perp long earns funding.

    Parameters
    ----------
    rates_per_hour : FloatArray
        Shape ``(k,)`` float64, each perp's funding rate per hour (fraction of notional / h;
        positive: longs pay shorts), already normalized by its own interval.

    Returns
    -------
    FloatArray
        Shape ``(k,)``, z-scores (see :func:`zscore`).

    Raises
    ------
    ValueError
        As :func:`zscore`.
    """
    return zscore(-np.asarray(rates_per_hour, dtype=np.float64))


def _check_panel(log_closes: FloatArray, need_rows: int, what: str) -> FloatArray:
    panel = np.asarray(log_closes, dtype=np.float64)
    if panel.ndim != 2:
        raise ValueError(f"{what}: log_closes must be 2-D (n_bars, k), got shape {panel.shape}")
    if panel.shape[0] < need_rows:
        raise ValueError(f"{what}: needs {need_rows} bars, got {panel.shape[0]}")
    return panel


def log_momentum(log_closes: FloatArray, momentum_bars: int, skip_bars: int) -> FloatArray:
    """Skip-period momentum ``log P[t − s] − log P[t − s − L]`` per asset.

    Parameters
    ----------
    log_closes : FloatArray
        Shape ``(n_bars, k)`` float64 natural logs of hourly closes, oldest first, last row
        the latest bar ``t``.
    momentum_bars : int
        Lookback ``L`` in bars, ≥ 1.
    skip_bars : int
        Most recent bars ``s`` left out, ≥ 0.

    Returns
    -------
    FloatArray
        Shape ``(k,)``, log returns (fraction, continuously compounded).

    Raises
    ------
    ValueError
        If the panel is not 2-D, has fewer than ``L + s + 1`` rows, or ``L < 1`` / ``s < 0``.
    """
    if momentum_bars < 1 or skip_bars < 0:
        raise ValueError(f"need momentum_bars >= 1, skip_bars >= 0: {momentum_bars}, {skip_bars}")
    panel = _check_panel(log_closes, momentum_bars + skip_bars + 1, "log_momentum")
    end = panel.shape[0] - 1 - skip_bars
    return np.asarray(panel[end] - panel[end - momentum_bars], dtype=np.float64)


def _tail_returns(log_closes: FloatArray, window_bars: int, what: str) -> FloatArray:
    """Last ``window_bars`` hourly log returns, shape ``(window_bars, k)``."""
    if window_bars < 2:
        raise ValueError(f"{what}: window_bars must be >= 2, got {window_bars}")
    panel = _check_panel(log_closes, window_bars + 1, what)
    return np.diff(panel[-(window_bars + 1) :], axis=0)


def realized_vol(log_closes: FloatArray, window_bars: int, min_obs: int = 2) -> FloatArray:
    """Sample std (``ddof = 1``) of the last ``window_bars`` hourly log returns per asset.

    Returns involving a NaN close are left out of that asset's estimate.

    Parameters
    ----------
    log_closes : FloatArray
        Shape ``(n_bars, k)`` float64 log closes, oldest first, ``n_bars ≥ window_bars + 1``;
        NaN marks a missing close.
    window_bars : int
        Returns in the window, ≥ 2.
    min_obs : int
        Fewest finite returns for an estimate, ≥ 2.

    Returns
    -------
    FloatArray
        Shape ``(k,)``, fraction per hour (not annualized); NaN ("unknown") where fewer than
        ``min_obs`` finite returns.

    Raises
    ------
    ValueError
        On a bad shape, window or ``min_obs < 2``.
    """
    if min_obs < 2:
        raise ValueError(f"realized_vol: min_obs must be >= 2, got {min_obs}")
    returns = _tail_returns(log_closes, window_bars, "realized_vol")
    finite = np.isfinite(returns)
    count = finite.sum(axis=0)
    safe = np.maximum(count, 1)
    mean = np.where(finite, returns, 0.0).sum(axis=0) / safe
    dev = np.where(finite, returns - mean, 0.0)
    var = (dev * dev).sum(axis=0) / np.maximum(count - 1, 1)
    return np.where(count >= min_obs, np.sqrt(var), np.nan)


def market_betas(
    log_closes: FloatArray, market_col: int, window_bars: int, min_obs: int
) -> FloatArray:
    """Beta of each asset to column ``market_col`` over the last ``window_bars`` log returns.

    Parameters
    ----------
    log_closes : FloatArray
        Shape ``(n_bars, k)`` float64 log closes, oldest first, ``n_bars ≥ window_bars + 1``;
        NaN marks a missing close (its returns are left out of that asset's beta).
    market_col : int
        Column of the market (BTC), whose own beta is 1.
    window_bars : int
        Returns in the window, ≥ 2.
    min_obs : int
        Fewest joint observations for a beta, ≥ 2.

    Returns
    -------
    FloatArray
        Shape ``(k,)``; NaN where the beta is unknown (fewer than ``min_obs`` observations,
        or the market did not move).

    Raises
    ------
    ValueError
        On a bad shape, window or ``market_col`` out of range.
    """
    returns = _tail_returns(log_closes, window_bars, "market_betas")
    if not 0 <= market_col < returns.shape[1]:
        raise ValueError(f"market_col {market_col} out of range for {returns.shape[1]} assets")
    return betas_to_market(returns, returns[:, market_col], min_obs=min_obs)


def blend_alpha(carry_z: FloatArray, momentum_z: FloatArray, carry_weight: float) -> FloatArray:
    """``w · carry + (1 − w) · momentum`` of two z-scored alphas (shape ``(k,)`` each).

    Raises
    ------
    ValueError
        If the shapes differ or ``carry_weight`` is outside ``[0, 1]``.
    """
    c = np.asarray(carry_z, dtype=np.float64)
    m = np.asarray(momentum_z, dtype=np.float64)
    if c.shape != m.shape:
        raise ValueError(f"alpha shapes differ: {c.shape} vs {m.shape}")
    if not 0.0 <= carry_weight <= 1.0:
        raise ValueError(f"carry_weight must be in [0, 1], got {carry_weight}")
    return np.asarray(carry_weight * c + (1.0 - carry_weight) * m, dtype=np.float64)
