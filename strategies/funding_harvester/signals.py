"""Pure signal math of the funding harvester (cash-and-carry): carry, costs, basis, exits.

The trade is long spot + short perp of the same asset on the same venue, equal base quantity
on both legs, so the position is delta-neutral and earns the funding the short perp receives
while the rate is positive (longs pay shorts) plus any basis compression.

Every funding rate enters here already normalized per hour through
:func:`venues.model.funding_rate_per_hour` (the one normalization helper), so 1h, 4h and 8h
intervals compare directly. APRs are simple (not compounded) over a 365-day year, as in
:func:`venues.model.funding_apr`.

Sources: the perpetual-futures hedging guide digested in ``SEEDS.md`` ("Perpetual funding,
basis and cash-and-carry": enter only if expected funding over the holding horizon covers
round-trip fees and slippage; exit on funding flip, basis widened beyond 2× entry, or a
maximum holding period).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

from venues.model import HOUR_MS, HOUR_S, YEAR_S, funding_rate_per_hour

HOURS_PER_YEAR = YEAR_S / HOUR_S  # 8760.0, 365-day year
BPS_PER_UNIT = 1e4


@dataclass(frozen=True, slots=True)
class LegCosts:
    """Trading costs of one cash-and-carry round trip, per leg and per fill.

    Attributes
    ----------
    spot_taker_fee_bps : float
        Taker fee on the spot leg, basis points of notional per fill.
    perp_taker_fee_bps : float
        Taker fee on the perp leg, basis points of notional per fill.
    slippage_bps : float
        Expected slippage per fill (either leg), basis points of notional.

    Raises
    ------
    ValueError
        If any cost is negative or not finite.
    """

    spot_taker_fee_bps: float
    perp_taker_fee_bps: float
    slippage_bps: float

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"LegCosts.{f.name} must be finite and >= 0, got {value!r}")


def _require_positive(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


def mean_rate_per_hour(rates_per_hour: Sequence[float]) -> float:
    """Carry estimate: the average of recent settled funding rates, each already per hour.

    Parameters
    ----------
    rates_per_hour : Sequence[float]
        Settled rates normalized per hour (fraction / h), any order, length ≥ 1.

    Returns
    -------
    float
        Arithmetic mean, fraction per hour.

    Raises
    ------
    ValueError
        If the sequence is empty or holds a non-finite value.
    """
    if not rates_per_hour:
        raise ValueError("rates_per_hour is empty: no settled funding rate to average")
    if not all(map(math.isfinite, rates_per_hour)):
        raise ValueError(f"rates_per_hour holds a non-finite value: {list(rates_per_hour)!r}")
    return math.fsum(rates_per_hour) / len(rates_per_hour)


def expected_carry_frac(rate_per_hour: float, horizon_h: float) -> float:
    """Funding a short perp expects to collect over ``horizon_h`` if the rate persists.

    Parameters
    ----------
    rate_per_hour : float
        Funding rate normalized per hour, fraction of notional / h (positive: shorts receive).
    horizon_h : float
        Holding horizon, hours, > 0.

    Returns
    -------
    float
        Carry as a fraction of position notional (simple, not compounded).

    Raises
    ------
    ValueError
        If ``horizon_h`` is not a positive finite number.
    """
    _require_positive("horizon_h", horizon_h)
    return rate_per_hour * horizon_h


def round_trip_cost_frac(costs: LegCosts) -> float:
    """Cost of entering and exiting both legs, as a fraction of one leg's notional.

    Four fills (spot buy, perp sell, then spot sell, perp buy), each paying its taker fee and
    the slippage: ``(2 × (spot fee + perp fee) + 4 × slippage) / 1e4``. E.g. 10 bps spot,
    5 bps perp, 2 bps slippage → 38 bps = 0.0038.

    Parameters
    ----------
    costs : LegCosts
        Fees and slippage, basis points.

    Returns
    -------
    float
        Fraction of notional.
    """
    fees_bps = 2.0 * (costs.spot_taker_fee_bps + costs.perp_taker_fee_bps)
    return (fees_bps + 4.0 * costs.slippage_bps) / BPS_PER_UNIT


def annualize_frac(return_frac: float, horizon_h: float) -> float:
    """Annualize a return earned over ``horizon_h`` hours: simple, 365-day year.

    Raises
    ------
    ValueError
        If ``horizon_h`` is not a positive finite number.
    """
    _require_positive("horizon_h", horizon_h)
    return return_frac * HOURS_PER_YEAR / horizon_h


def net_carry_apr(rate_per_hour: float, horizon_h: float, costs: LegCosts) -> float:
    """Funding carry net of round-trip costs, annualized over the holding horizon.

    ``(rate_per_hour × horizon_h − round_trip_cost_frac(costs)) × 8760 / horizon_h``.
    Basis compression is not counted: a perp need not converge to spot, so it is upside,
    not an expectation.

    Parameters
    ----------
    rate_per_hour : float
        Expected funding rate, fraction / h.
    horizon_h : float
        Holding horizon over which the costs are amortized, hours, > 0.
    costs : LegCosts

    Returns
    -------
    float
        Net APR, fraction per year (0.05 = 5 %).

    Raises
    ------
    ValueError
        If ``horizon_h`` is not a positive finite number.
    """
    carry = expected_carry_frac(rate_per_hour, horizon_h)
    return annualize_frac(carry - round_trip_cost_frac(costs), horizon_h)


def basis_frac(perp_price: float, spot_price: float) -> float:
    """Perp premium over spot, ``(perp − spot) / spot``, fraction (0.004 = 0.4 %).

    Raises
    ------
    ValueError
        If either price is not a positive finite number.
    """
    _require_positive("perp_price", perp_price)
    _require_positive("spot_price", spot_price)
    return (perp_price - spot_price) / spot_price


def convergence_return_frac(
    entry_basis_frac: float, rate: float, interval_s: int, holding_h: float
) -> float:
    """Gross return of a cash-and-carry held ``holding_h`` hours if the basis closes to 0.

    ``entry_basis + funding_rate_per_hour(rate, interval_s) × holding_h``, as a fraction of
    the spot notional; funding is taken on the spot notional, as the source's worked example
    does (on the perp mark it is larger by the factor ``1 + basis``). Before costs. SEEDS
    example: basis 0.4 % + 0.01 %/8h for 30 days → 0.004 + 0.009 = 0.013 (≈ 15.8 % APR via
    :func:`annualize_frac`).

    Parameters
    ----------
    entry_basis_frac : float
        ``(perp − spot) / spot`` at entry, fraction.
    rate : float
        Funding rate per interval, fraction (positive: the short perp receives).
    interval_s : int
        Funding interval of ``rate``, seconds.
    holding_h : float
        Holding period, hours, > 0.

    Raises
    ------
    ValueError
        If ``interval_s`` or ``holding_h`` is not positive.
    """
    rate_per_hour = funding_rate_per_hour(rate, interval_s)
    return entry_basis_frac + expected_carry_frac(rate_per_hour, holding_h)


def should_enter(latest_rate_per_hour: float, net_apr_frac: float, min_net_apr_frac: float) -> bool:
    """Whether a cash-and-carry is worth opening.

    Requires the latest settled rate to be positive (the short perp is being paid now) and the
    net carry APR (see :func:`net_carry_apr`, from the averaged rate) to reach the minimum, so
    expected funding over the horizon covers round-trip fees and slippage with a margin.

    Parameters
    ----------
    latest_rate_per_hour : float
        The most recent settled rate, fraction / h.
    net_apr_frac : float
        Net carry APR from the averaged rate, fraction / year.
    min_net_apr_frac : float
        Minimum net APR, fraction / year.
    """
    return latest_rate_per_hour > 0.0 and net_apr_frac >= min_net_apr_frac


def flip_exit(adverse_count: int, policy_n: int) -> bool:
    """Whether funding has turned against the short perp for long enough to close.

    Fee-aware: one noisy negative settlement does not close the trade; ``policy_n``
    consecutive adverse settlements do (SEEDS: "do not churn on one noisy settlement").

    Raises
    ------
    ValueError
        If ``policy_n`` < 1.
    """
    if policy_n < 1:
        raise ValueError(f"flip exit policy_n must be >= 1, got {policy_n}")
    return adverse_count >= policy_n


def basis_stop_level(entry_basis_frac: float, mult: float, floor_bps: float) -> float:
    """Basis above which the carry trade is stopped out, fraction.

    ``entry_basis + max((mult − 1) × |entry_basis|, floor_bps / 1e4)``.

    Why not simply ``mult × entry_basis`` (the source's "basis widened beyond 2× entry"):
    a long-spot/short-perp position loses when the basis *rises*. For a clearly positive entry
    basis both forms agree (``b + (mult − 1)·b = mult·b``). For an entry basis near 0 the
    plain product is ≈ 0, so ordinary noise would trigger the stop; for a negative entry basis
    ``mult × b`` lies *below* the entry, so the stop would fire at once. Measuring the
    widening from the entry level, by ``|entry_basis|``, with a floor of ``floor_bps``, keeps
    the stop above the entry and at least ``floor_bps`` away from it.

    Parameters
    ----------
    entry_basis_frac : float
        Basis at entry, fraction.
    mult : float
        Widening multiple, ≥ 1 (2.0 = basis doubled).
    floor_bps : float
        Minimum distance from the entry basis to the stop, basis points, ≥ 0.

    Raises
    ------
    ValueError
        If ``mult`` < 1, ``floor_bps`` < 0 or any input is not finite.
    """
    if not math.isfinite(entry_basis_frac):
        raise ValueError(f"entry_basis_frac must be finite, got {entry_basis_frac!r}")
    if not math.isfinite(mult) or mult < 1.0:
        raise ValueError(f"basis stop mult must be finite and >= 1, got {mult!r}")
    if not math.isfinite(floor_bps) or floor_bps < 0.0:
        raise ValueError(f"basis stop floor_bps must be finite and >= 0, got {floor_bps!r}")
    widening = max((mult - 1.0) * abs(entry_basis_frac), floor_bps / BPS_PER_UNIT)
    return entry_basis_frac + widening


def basis_stop(entry_basis_frac: float, basis: float, mult: float, floor_bps: float) -> bool:
    """Whether the current basis (fraction) is beyond :func:`basis_stop_level`.

    Raises
    ------
    ValueError
        As :func:`basis_stop_level`.
    """
    return basis > basis_stop_level(entry_basis_frac, mult, floor_bps)


def max_holding_exit(entry_ms: int, now_ms: int, max_holding_h: float) -> bool:
    """Whether a position opened at ``entry_ms`` has been held ``max_holding_h`` hours or more.

    Parameters
    ----------
    entry_ms, now_ms : int
        Epoch ms UTC.
    max_holding_h : float
        Maximum holding period, hours, > 0.

    Raises
    ------
    ValueError
        If ``max_holding_h`` is not a positive finite number.
    """
    _require_positive("max_holding_h", max_holding_h)
    return now_ms - entry_ms >= max_holding_h * HOUR_MS


def basis_converged(
    entry_basis_frac: float, basis: float, take_frac: float, round_trip_cost: float
) -> bool:
    """Whether a cash-and-carry's basis has converged enough to take (SEEDS: "earn basis
    compression"; exit when the basis compressed).

    True when the entry basis was positive, the basis is at or below ``take_frac`` × entry
    (``take_frac`` 0.25: three quarters of the premium captured) and the compression
    ``entry − basis`` exceeds ``round_trip_cost`` (the whole round trip's fees and slippage,
    :func:`round_trip_cost_frac`), so taking it pays for the trade.

    Parameters
    ----------
    entry_basis_frac, basis : float
        Basis at entry and now, fraction of spot.
    take_frac : float
        In ``[0, 1)``.
    round_trip_cost : float
        Fraction of notional, ≥ 0.

    Raises
    ------
    ValueError
        If ``take_frac`` is outside ``[0, 1)`` or an input is not finite.
    """
    isfinite = math.isfinite
    if not (
        isfinite(entry_basis_frac)
        and isfinite(basis)
        and isfinite(take_frac)
        and isfinite(round_trip_cost)
    ):
        values = (entry_basis_frac, basis, take_frac, round_trip_cost)
        raise ValueError(f"basis_converged inputs must be finite, got {values!r}")
    if not 0.0 <= take_frac < 1.0:
        raise ValueError(f"take_frac must be in [0, 1), got {take_frac!r}")
    if entry_basis_frac <= 0:
        return False
    return basis <= take_frac * entry_basis_frac and entry_basis_frac - basis > round_trip_cost


def normalized_rate_level(normal_rate_per_hour: float, mult: float) -> float:
    """Rate (fraction / h) at or below which funding counts as normalized:
    ``mult × max(normal, 0)`` (a negative trailing median counts as 0: funding has normalized
    once the short perp is no longer paid more than nothing).

    Raises
    ------
    ValueError
        If an input is not finite or ``mult`` < 0.
    """
    if not (math.isfinite(normal_rate_per_hour) and math.isfinite(mult)) or mult < 0:
        raise ValueError(
            f"need finite normal rate and mult >= 0, got {normal_rate_per_hour!r}, {mult!r}"
        )
    return mult * max(normal_rate_per_hour, 0.0)
