"""The ADF t-statistic as stat arb computed it before its fast paths (``np.linalg.qr`` in mode
``"r"``, array arithmetic): the oracle the fast-path tests compare ``adf_tstat`` with, bit for
bit."""

from __future__ import annotations

import math

import numpy as np


def former_adf_tstat(resid: np.ndarray, lags: int) -> np.ndarray:
    """t-value of ρ in ``Δε_t = ρ ε_{t-1} + Σ φ_i Δε_{t-i}`` per row of ``resid``
    (``(n_pairs, n_bars)``), no constant; 0 where the regression is rank-deficient (0/0)."""
    n_pairs, n_bars = resid.shape
    diff = np.diff(resid, axis=1)
    design = np.empty((n_pairs, n_bars - 1 - lags, lags + 2))
    design[:, :, lags] = resid[:, lags : n_bars - 1]
    for lag in range(1, lags + 1):
        design[:, :, lag - 1] = diff[:, lags - lag : n_bars - 1 - lag]
    design[:, :, lags + 1] = diff[:, lags:]
    r_factor = np.linalg.qr(design, mode="r")
    return former_tstat_of_r(r_factor, lags, design.shape[1] - lags - 1)


def former_tstat_of_r(r_factor: np.ndarray, lags: int, df_resid: int) -> np.ndarray:
    """The statistic from the factor R of the design (``(n_pairs, lags + 2, lags + 2)``)."""
    num = r_factor[:, lags, lags + 1] * np.sign(r_factor[:, lags, lags])
    sigma = np.abs(r_factor[:, lags + 1, lags + 1]) / math.sqrt(df_resid)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = num / sigma
    return np.where(np.isnan(stat), 0.0, stat)
