"""Cointegration health of stat-arb pairs between the weekly re-tests.

The re-test (:mod:`.fit`) qualifies a pair once every ``retest_every_h`` hours; in between
the relationship can break. Every bar, each open pair (and a candidate about to be entered)
is checked on the last ``calibration_bars`` closes, the same window length as the fit:

1. **Rolling Engle–Granger p-value** (:func:`rolling_engle_granger`): γ re-estimated by OLS
   on the window, ADF t-statistic on the residual with the number of lags the re-test chose
   (fixed: the AIC search over 0..maxlag is what makes the full scan cost ~0.6 ms a pair;
   with the lag fixed a batch of pairs costs ~0.1 ms), MacKinnon p-value. It is exactly
   ``statsmodels.tsa.stattools.coint(y, x, maxlag=lags, autolag=None)``, built from the
   project's kernels (:mod:`.adf`).
2. **Half-life drift**: the OU half-life of the *held* spread ``log A − γ_fit log B`` over
   the window against the half-life the re-test measured
   (:func:`~strategies.stat_arb.adf.half_life_bars`); ``inf`` when it no longer reverts.
3. **Hedge-ratio stability**: a Kalman-filtered hedge ratio (:mod:`.kalman`) against γ_fit,
   as :func:`~strategies.stat_arb.kalman.hedge_drift_sigma`.

A pair breaches when ``p > health_p_value_max``, when ``half-life > health_half_life_ratio_max
× fitted half-life`` (or infinite), or when the hedge drift exceeds
``health_hedge_drift_max_sigma``; :mod:`.strategy` then closes it (``exit_health``) or does
not enter it, and drops it from the candidates until the next re-test, with an alert
carrying these numbers. Pure; no state is modified here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from strategies.base import FloatArray
from strategies.common import all_true
from strategies.stat_arb.adf import adf_tstat, half_life_bars, mackinnon_pvalue_coint
from strategies.stat_arb.config import StatArbConfig
from strategies.stat_arb.kalman import KalmanHedge, hedge_drift_sigma
from strategies.stat_arb.signals import COLLINEAR_RSQ
from strategies.state_json import JsonObject

_WATCH_KEYS = ("lags", "half_life_bars", "kalman")

_add_reduce = np.add.reduce  # the pairwise sum behind ndarray.mean, without its wrapper


@dataclass(frozen=True, slots=True)
class PairWatch:
    """What an open pair's health is judged against, and its hedge-ratio filter.

    Attributes
    ----------
    lags : int
        ADF lags of the rolling test (the re-test's choice), ``≥ 0``.
    half_life_bars : float
        Fitted OU half-life of the spread, hourly bars (finite, > 0).
    kalman : KalmanHedge
        The filter, advanced every bar.
    """

    lags: int
    half_life_bars: float
    kalman: KalmanHedge

    def to_json(self) -> dict[str, Any]:
        """``{"lags": int, "half_life_bars": float, "kalman": {...}}``."""
        return {
            "lags": self.lags,
            "half_life_bars": self.half_life_bars,
            "kalman": self.kalman.to_json(),
        }

    @classmethod
    def from_json(cls, data: object, path: str) -> Self:
        """Decode a record at ``path``; ``ValueError`` naming the field if malformed."""
        obj = JsonObject(data, path, _WATCH_KEYS)
        return cls(
            lags=obj.int_field("lags"),
            half_life_bars=obj.float_field("half_life_bars"),
            kalman=KalmanHedge.from_json(obj.raw("kalman"), obj.field_path("kalman")),
        )


@dataclass(frozen=True, slots=True)
class RollingTest:
    """Rolling Engle–Granger results; every field has shape ``(n_pairs,)``.

    Attributes
    ----------
    hedge_ratio : FloatArray
        γ re-estimated on the window (OLS of log A on log B with a constant).
    adf_stat : FloatArray
        ADF t-statistic of its residual at the given lags (``-inf`` when collinear).
    p_value : FloatArray
        MacKinnon p-value (N = 2, constant), in ``[0, 1]``.
    half_life_bars : FloatArray
        OU half-life of the held spread ``log A − γ_fit log B``, bars (``inf``: no reversion).
    """

    hedge_ratio: FloatArray
    adf_stat: FloatArray
    p_value: FloatArray
    half_life_bars: FloatArray


def rolling_engle_granger(
    log_a: FloatArray, log_b: FloatArray, lags: Sequence[int], gamma_fit: Sequence[float]
) -> RollingTest:
    """Engle–Granger test at fixed lags and held-spread half-life of a batch of pairs.

    Parameters
    ----------
    log_a, log_b : FloatArray
        Windows of log closes, shape ``(n_pairs, n_bars)``, finite, oldest first;
        ``n_bars`` large enough for the largest lag (``n_bars − 2 − 2·lags ≥ 1``).
    lags : Sequence[int]
        ADF lags per pair, ``≥ 0``.
    gamma_fit : Sequence[float]
        Hedge ratio each pair is held at (for the half-life).

    Returns
    -------
    RollingTest
        Statistic and p-value equal to ``statsmodels.tsa.stattools.coint(log_a[k],
        log_b[k], trend="c", maxlag=lags[k], autolag=None)`` to rounding error.

    Raises
    ------
    ValueError
        On mismatched shapes, non-finite input, a negative lag or a window too short.
    """
    a = np.asarray(log_a, dtype=np.float64)
    b = np.asarray(log_b, dtype=np.float64)
    lag_arr = np.asarray(lags, dtype=np.intp)
    gam = np.asarray(gamma_fit, dtype=np.float64)
    n_pairs = (a.shape[0],) if a.ndim == 2 else (-1,)
    if a.ndim != 2 or a.shape != b.shape or lag_arr.shape != n_pairs or gam.shape != n_pairs:
        raise ValueError(
            f"need log_a, log_b of one shape (n_pairs, n_bars) and n_pairs lags and gammas, "
            f"got {a.shape}, {b.shape}, {lag_arr.shape}, {gam.shape}"
        )
    finite = all_true(np.isfinite(a)) and all_true(np.isfinite(b))
    if not (finite and all_true(np.isfinite(gam))):
        raise ValueError("rolling_engle_granger: log closes or hedge ratios are not finite")
    lag_list: list[int] = lag_arr.tolist()
    if lag_list and (min(lag_list) < 0 or a.shape[1] - 2 - 2 * max(lag_list) < 1):
        raise ValueError(f"lags {lag_list} do not fit a window of {a.shape[1]} bars")
    # a.mean(axis=1, keepdims=True) without its wrapper: the same sum, then / n_bars.
    ya = a - _add_reduce(a, axis=1, keepdims=True) / a.shape[1]
    xb = b - _add_reduce(b, axis=1, keepdims=True) / b.shape[1]
    sxx = np.einsum("pt,pt->p", xb, xb)
    gamma = np.einsum("pt,pt->p", ya, xb) / sxx
    resid = ya - gamma[:, None] * xb
    rsq = 1.0 - np.einsum("pt,pt->p", resid, resid) / np.einsum("pt,pt->p", ya, ya)
    distinct = set(lag_list)
    if len(distinct) == 1:  # the usual batch: one test, no gather and scatter of rows
        stat = adf_tstat(resid, lag_list[0])
    else:
        stat = np.empty(a.shape[0])
        for lag in sorted(distinct):
            rows = np.flatnonzero(lag_arr == lag)
            stat[rows] = adf_tstat(resid[rows], lag)
    stat = np.where(rsq >= COLLINEAR_RSQ, -np.inf, stat)
    return RollingTest(
        hedge_ratio=gamma,
        adf_stat=stat,
        p_value=mackinnon_pvalue_coint(stat),
        half_life_bars=half_life_bars(a - gam[:, None] * b),
    )


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One pair's health this bar, and the thresholds it breached (empty: healthy)."""

    p_value: float
    half_life_bars: float
    half_life_fit_bars: float
    hedge_ratio_rolling: float
    hedge_ratio_kalman: float
    hedge_ratio_fit: float
    hedge_drift_sigma: float
    breaches: tuple[str, ...]

    def alert_fields(self, pair: str) -> dict[str, float | str]:
        """The numbers behind a retirement, for an ``Alert`` (finite or a word)."""
        return {
            "pair": pair,
            "breaches": ",".join(self.breaches),
            "p_value": round(self.p_value, 6),
            "half_life_bars": _finite_or_word(self.half_life_bars),
            "half_life_fit_bars": round(self.half_life_fit_bars, 4),
            "hedge_ratio_rolling": round(self.hedge_ratio_rolling, 6),
            "hedge_ratio_kalman": round(self.hedge_ratio_kalman, 6),
            "hedge_ratio_fit": round(self.hedge_ratio_fit, 6),
            "hedge_drift_sigma": round(self.hedge_drift_sigma, 4),
        }


def health_report(
    config: StatArbConfig,
    test: RollingTest,
    k: int,
    watch: PairWatch,
    gamma_fit: float,
) -> HealthReport:
    """Health of pair ``k`` of ``test`` against ``watch`` and the configured thresholds.

    Breaches, in this order: ``p_value`` (``p > health_p_value_max``), ``half_life``
    (half-life above ``health_half_life_ratio_max ×`` the fitted one, or not reverting) and
    ``hedge_ratio`` (:func:`hedge_drift_sigma` above ``health_hedge_drift_max_sigma``).
    """
    p = float(test.p_value[k])
    hl = float(test.half_life_bars[k])
    drift = hedge_drift_sigma(watch.kalman, gamma_fit)
    breaches: list[str] = []
    if p > config.health_p_value_max:
        breaches.append("p_value")
    if not hl <= config.health_half_life_ratio_max * watch.half_life_bars:
        breaches.append("half_life")
    if drift > config.health_hedge_drift_max_sigma:
        breaches.append("hedge_ratio")
    return HealthReport(
        p_value=p,
        half_life_bars=hl,
        half_life_fit_bars=watch.half_life_bars,
        hedge_ratio_rolling=float(test.hedge_ratio[k]),
        hedge_ratio_kalman=watch.kalman.gamma,
        hedge_ratio_fit=gamma_fit,
        hedge_drift_sigma=drift,
        breaches=tuple(breaches),
    )


def _finite_or_word(value: float) -> float | str:
    """A half-life for an alert field: ``"inf"`` when the spread does not revert."""
    return round(value, 4) if math.isfinite(value) else "inf"
