"""Kalman-filtered hedge ratio of a stat-arb pair, the drift monitor of :mod:`.health`.

Model (a dynamic linear regression, West & Harrison 1997, ch. 3 and §6.3), one step per
hourly bar ``t``:

- state ``x_t = (α_t, γ_t)ᵀ``: intercept and hedge ratio of ``log A`` on ``log B``;
- state equation ``x_t = x_{t-1} + w_t``, ``w_t ~ N(0, W_t)`` (a random walk);
- observation equation ``y_t = log A_t = h_tᵀ x_t + v_t``, ``h_t = (1, log B_t − c)ᵀ``,
  ``v_t ~ N(0, R)``. The regressor is centred on ``c``, the mean of ``log B`` over the
  window the filter was started on, so α and γ are nearly uncorrelated (``log B`` itself is
  far from 0: about 11 for BTC), which keeps the 2×2 algebra well conditioned.

Noise settings:

- ``R = σ_ε²``, the variance of the residual ``ε = log A − α − γ_fit (log B − c)`` of the
  fitted relationship over the starting window (the spread's own variance: what the
  observation equation cannot explain);
- ``W_t = (1/δ − 1) P_{t-1}`` with a discount factor ``δ = 1 − 1/memory_bars``: the state
  loses the fraction ``1 − δ`` of its information every bar, so the filtered ``γ_t`` is a
  least-squares estimate whose observations weigh ``δ^age``: its memory is about
  ``memory_bars`` bars (discounted Kalman filter, West & Harrison §6.3). A discount instead
  of a fixed ``W`` keeps the noise in the units of the pair's own uncertainty, with one
  interpretable setting.

Start (:func:`start_filter`): prior mean ``(mean log A, γ_fit)`` over the starting window,
prior covariance ``diag(R, R / var(log B))``, i.e. the information of a single bar (vague,
so the window's data, not the prior, sets the estimate), then one filter step per bar of
the window. Afterwards :meth:`KalmanHedge.advance` steps once per new bar.

The recursion per bar (predict, then update with the scalar innovation ``e``)::

    P⁻ = P / δ
    S  = h P⁻ hᵀ + R,   K = P⁻ h / S,   e = y − h m
    m ← m + K e,        P ← P⁻ − K Kᵀ S

The 2×2 algebra is written out on floats: with 2-element arrays numpy's per-call overhead
costs about five times the arithmetic, and the filter runs every bar for every open pair.
Inputs and window statistics are numpy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from strategies.base import FloatArray
from strategies.state_json import JsonObject

_KEYS = (
    "bar_h", "alpha", "gamma", "p_aa", "p_ag", "p_gg", "center_log_b", "obs_var",
    "sd_log_b", "discount",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class KalmanHedge:
    """Filtered ``(α, γ)`` of one pair after the bar ``bar_h``.

    Attributes
    ----------
    bar_h : int
        Last bar consumed, hours since the epoch (``now_ms // HOUR_MS``).
    alpha, gamma : float
        Filtered intercept (log price units, centred regressor) and hedge ratio
        (dimensionless).
    p_aa, p_ag, p_gg : float
        Posterior covariance of ``(α, γ)``: var α, cov, var γ.
    center_log_b : float
        ``c``: the regressor's centre, log price units.
    obs_var : float
        ``R``, variance of the observation noise, log price units squared.
    sd_log_b : float
        Standard deviation of ``log B`` over the starting window (scales γ drift into
        spread units, :func:`hedge_drift_sigma`).
    discount : float
        ``δ`` in ``(0, 1]``.
    """

    bar_h: int
    alpha: float
    gamma: float
    p_aa: float
    p_ag: float
    p_gg: float
    center_log_b: float
    obs_var: float
    sd_log_b: float
    discount: float

    def advance(self, log_a: FloatArray, log_b: FloatArray, bar_h: int) -> KalmanHedge:
        """The filter after the bars since ``self.bar_h`` up to ``bar_h``.

        ``log_a``/``log_b`` are the pair's recent log closes, oldest first, ending at the
        bar ``bar_h``; the last ``bar_h − self.bar_h`` of them (all of them, when fewer) are
        new. Returns ``self`` when no bar is new.
        """
        new = min(bar_h - self.bar_h, int(log_a.shape[0]))
        if new <= 0:
            return self
        return self._run(log_a[-new:], log_b[-new:], bar_h)

    def _run(self, log_a: FloatArray, log_b: FloatArray, bar_h: int) -> KalmanHedge:
        """Filter steps over ``log_a``/``log_b`` (oldest first); see the module docstring."""
        a, g = self.alpha, self.gamma
        paa, pag, pgg = self.p_aa, self.p_ag, self.p_gg
        inv_d, r, c = 1.0 / self.discount, self.obs_var, self.center_log_b
        for y, x in zip(log_a.tolist(), log_b.tolist(), strict=True):
            paa, pag, pgg = paa * inv_d, pag * inv_d, pgg * inv_d
            h = x - c
            pa = paa + pag * h  # P⁻ h, first component
            pg = pag + pgg * h  # P⁻ h, second component
            s = pa + h * pg + r
            ka, kg = pa / s, pg / s
            e = y - a - g * h
            a, g = a + ka * e, g + kg * e
            paa, pag, pgg = paa - ka * ka * s, pag - ka * kg * s, pgg - kg * kg * s
        return KalmanHedge(bar_h, a, g, paa, pag, pgg, c, r, self.sd_log_b, self.discount)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (keys as the attributes)."""
        return {k: getattr(self, k) for k in _KEYS}

    @classmethod
    def from_json(cls, data: object, path: str) -> Self:
        """Decode a record at ``path``; ``ValueError`` naming the field if malformed."""
        obj = JsonObject(data, path, _KEYS)
        return cls(obj.int_field("bar_h"), *(obj.float_field(k) for k in _KEYS[1:]))


def start_filter(
    log_a: FloatArray, log_b: FloatArray, gamma_fit: float, memory_bars: int, bar_h: int
) -> KalmanHedge:
    """A filter started on a window and run through it (see the module docstring).

    Parameters
    ----------
    log_a, log_b : FloatArray
        Log closes of legs A and B, shape ``(n,)``, ``n ≥ 3``, finite, oldest first, the
        last one at the bar ``bar_h``.
    gamma_fit : float
        The fitted hedge ratio: prior mean of γ and the slope of the residual whose
        variance is ``R``.
    memory_bars : int
        ``≥ 1``; discount ``δ = 1 − 1/memory_bars``, (``memory_bars = 1``: no discount).
    bar_h : int
        Hours since the epoch of the window's last bar.

    Raises
    ------
    ValueError
        On mismatched or too short windows, non-finite input, a constant ``log B`` window
        or ``memory_bars < 1``.
    """
    a = np.asarray(log_a, dtype=np.float64)
    b = np.asarray(log_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.shape[0] < 3:
        raise ValueError(f"start_filter needs two 1-D windows of >= 3 bars, got {a.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and math.isfinite(gamma_fit)):
        raise ValueError("start_filter: log closes or gamma_fit are not finite")
    if memory_bars < 1:
        raise ValueError(f"memory_bars must be >= 1, got {memory_bars}")
    center = float(b.mean())
    var_b = float(b.var())
    if var_b == 0.0:
        raise ValueError("start_filter: log B is constant over the window")
    resid = (a - a.mean()) - gamma_fit * (b - center)
    obs_var = max(float(resid.var(ddof=2)), 1e-12)
    discount = 1.0 - 1.0 / memory_bars if memory_bars > 1 else 1.0
    prior = KalmanHedge(
        bar_h=bar_h,
        alpha=float(a.mean()),
        gamma=float(gamma_fit),
        p_aa=obs_var,
        p_ag=0.0,
        p_gg=obs_var / var_b,
        center_log_b=center,
        obs_var=obs_var,
        sd_log_b=math.sqrt(var_b),
        discount=discount,
    )
    return prior._run(a, b, bar_h)


def hedge_drift_sigma(kalman: KalmanHedge, gamma_fit: float) -> float:
    """Drift of the filtered hedge ratio from the fitted one, in spread standard deviations.

    ``|γ_kalman − γ_fit| · sd(log B) / sqrt(R)``: a hedge ratio off by ``Δγ`` adds
    ``Δγ (log B − c)`` to the held spread, whose typical size over the window is
    ``Δγ · sd(log B)``; dividing by the spread's own standard deviation ``sqrt(R)`` makes the
    drift scale-free (1.0: the mis-hedge alone moves the spread as much as the spread
    itself moves). A relative drift ``Δγ/γ`` would explode for pairs fitted with γ near 0.
    """
    return abs(kalman.gamma - gamma_fit) * kalman.sd_log_b / math.sqrt(kalman.obs_var)
