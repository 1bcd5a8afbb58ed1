"""P&L attribution of one step between two marks: delta, gamma, theta, vega and a residual.

Second-order Taylor expansion of the option value in the forward, with first-order time and
volatility terms, greeks taken at the first mark (Hull, *Options, Futures, and Other
Derivatives*, "The Greek letters", Taylor series expansions)::

    ΔV ≈ Δ·dF + ½·Γ·dF² + Θ·dt + ν·dσ
    residual = (V_end − V_start) − (sum of the four terms)

The residual holds what the four terms leave out: cross terms (vanna ``∂²V/∂F∂σ·dF·dσ``, charm
``∂Δ/∂t·dF·dt``), volga ``½·∂²V/∂σ²·dσ²``, third-order moves, and any change of rate or
model. It shrinks with the step; a large residual flags a mark jump or greeks computed on
other inputs than the marks.

Units follow Deribit's greeks (:mod:`strategies.options.black_scholes`): theta per day (so
``dt`` in days), vega per vol point (so ``dσ`` in vol points = 100 × the change of the
fraction). Pass theta without the last-day cap (``remaining_life_cap=False``) — the capped
value is not a rate. Values in USD: for an inverse option, attribute its USD value (coin price
× forward) or, in coin, its coin value with coin greeks — mixing the two leaves the premium's
own delta in the residual (:mod:`strategies.options.inverse`). Greeks and values may be per
contract or per position (all scaled by the same size): the expansion is linear in size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from strategies.options.black_scholes import VOL_POINT_FRAC


@dataclass(frozen=True, slots=True)
class PnlAttribution:
    """One step's value change split by source, USD (or the values' unit).

    Attributes
    ----------
    actual_usd : float
        ``value_end − value_start``.
    delta_usd : float
        ``Δ·dF``.
    gamma_usd : float
        ``½·Γ·dF²``.
    theta_usd : float
        ``Θ·dt``, dt in days.
    vega_usd : float
        ``ν·dσ``, dσ in vol points.
    residual_usd : float
        ``actual − (delta + gamma + theta + vega)``.
    """

    actual_usd: float
    delta_usd: float
    gamma_usd: float
    theta_usd: float
    vega_usd: float
    residual_usd: float


@dataclass(frozen=True, slots=True)
class Mark:
    """One mark of an option (or book) for attribution.

    Attributes
    ----------
    value_usd : float
        Value at this mark, USD.
    forward_usd : float
        Forward (Deribit ``underlying_price``), USD.
    iv_frac : float
        Implied volatility, fraction (Deribit ``mark_iv`` / 100).
    """

    value_usd: float
    forward_usd: float
    iv_frac: float


@dataclass(frozen=True, slots=True)
class StartGreeks:
    """Greeks at the first mark, in Deribit's units.

    Attributes
    ----------
    delta : float
        ∂V/∂F, USD per USD.
    gamma_per_usd : float
        ∂²V/∂F², per USD.
    theta_usd_per_day : float
        ∂V/∂t, USD per calendar day, uncapped.
    vega_usd_per_vol_point : float
        ∂V/∂σ, USD per vol point.
    """

    delta: float
    gamma_per_usd: float
    theta_usd_per_day: float
    vega_usd_per_vol_point: float


def attribute_pnl(
    start: Mark, end: Mark, greeks: StartGreeks, elapsed_days: float
) -> PnlAttribution:
    """Split the value change between two marks into greek terms and a residual.

    Parameters
    ----------
    start, end : Mark
        The two marks, ``end`` ``elapsed_days`` after ``start``.
    greeks : StartGreeks
        Greeks at ``start`` (same scale as the values).
    elapsed_days : float
        Calendar days between the marks, ``≥ 0``.

    Returns
    -------
    PnlAttribution

    Raises
    ------
    ValueError
        A non-finite input or a negative ``elapsed_days``.
    """
    numbers = (
        start.value_usd,
        start.forward_usd,
        start.iv_frac,
        end.value_usd,
        end.forward_usd,
        end.iv_frac,
        greeks.delta,
        greeks.gamma_per_usd,
        greeks.theta_usd_per_day,
        greeks.vega_usd_per_vol_point,
    )
    if not all(math.isfinite(x) for x in numbers):
        raise ValueError(f"attribution inputs must be finite: {start!r}, {end!r}, {greeks!r}")
    if not (math.isfinite(elapsed_days) and elapsed_days >= 0):
        raise ValueError(f"elapsed_days must be finite and >= 0, got {elapsed_days!r}")
    d_forward_usd = end.forward_usd - start.forward_usd
    d_vol_points = (end.iv_frac - start.iv_frac) / VOL_POINT_FRAC
    actual = end.value_usd - start.value_usd
    delta_usd = greeks.delta * d_forward_usd
    gamma_usd = 0.5 * greeks.gamma_per_usd * d_forward_usd * d_forward_usd
    theta_usd = greeks.theta_usd_per_day * elapsed_days
    vega_usd = greeks.vega_usd_per_vol_point * d_vol_points
    residual = actual - (delta_usd + gamma_usd + theta_usd + vega_usd)
    return PnlAttribution(actual, delta_usd, gamma_usd, theta_usd, vega_usd, residual)
