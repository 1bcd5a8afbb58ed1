"""Pure helpers shared by several strategies (one place, so each estimate means the same
thing everywhere): rolling beta to the market and funding-rate staleness."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def betas_to_market(
    log_returns: FloatArray, market_log_returns: FloatArray, min_obs: int = 20
) -> FloatArray:
    """Beta of each asset to the market: ``cov(r_i, r_m) / var(r_m)`` over the given rows.

    Uses, per asset, the rows where both its return and the market return are finite
    (SEEDS.md, "Beta estimation": rolling window of log returns, at least 20 observations).

    Parameters
    ----------
    log_returns : FloatArray
        Shape ``(n, k)``, float64 log returns (NaN marks a missing observation).
    market_log_returns : FloatArray
        Shape ``(n,)``, float64 log returns of the market (BTC).
    min_obs : int
        Fewest joint observations for a beta, ``≥ 2``.

    Returns
    -------
    FloatArray
        Shape ``(k,)``; NaN ("unknown") where fewer than ``min_obs`` observations or the
        market did not move over them. Never a silent 1.0.

    Raises
    ------
    ValueError
        On mismatched shapes or ``min_obs < 2``.
    """
    r = np.asarray(log_returns, dtype=np.float64)
    m = np.asarray(market_log_returns, dtype=np.float64)
    if r.ndim != 2 or m.ndim != 1 or r.shape[0] != m.shape[0]:
        raise ValueError(f"need log_returns (n, k) and market (n,), got {r.shape}, {m.shape}")
    if min_obs < 2:
        raise ValueError(f"min_obs must be >= 2, got {min_obs}")
    mask = np.isfinite(r) & np.isfinite(m)[:, None]
    count = mask.sum(axis=0)
    safe_count = np.maximum(count, 1)
    r0 = np.where(mask, r, 0.0)
    m0 = np.where(mask, m[:, None], 0.0)
    rc = np.where(mask, r0 - r0.sum(axis=0) / safe_count, 0.0)
    mc = np.where(mask, m0 - m0.sum(axis=0) / safe_count, 0.0)
    cov = np.einsum("tk,tk->k", rc, mc)
    var = np.einsum("tk,tk->k", mc, mc)
    known = (count >= min_obs) & (var > 0)
    beta = np.full(r.shape[1], np.nan)
    np.divide(cov, var, out=beta, where=known)
    return beta


def funding_is_stale(ts_funding_ms: int, interval_s: int, now_ms: int) -> bool:
    """Whether a funding rate is too old to trade on.

    A settled rate is normally at most one interval old; older than two intervals means at
    least one settlement was missed (feed gap). A predicted rate (settlement in the future)
    is fresh.

    Raises
    ------
    ValueError
        If ``interval_s`` is not positive.
    """
    if interval_s <= 0:
        raise ValueError(f"funding interval_s must be positive, got {interval_s}")
    return now_ms - ts_funding_ms > 2 * interval_s * 1000
