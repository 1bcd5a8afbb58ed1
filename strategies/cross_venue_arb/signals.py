"""Pure signal math of the cross-venue funding arbitrage: carry, costs, settlement-by-settlement
expected funding, entry and exit rules.

The trade holds the same asset's perpetual on two venues, **long where funding is lowest and
short where it is highest**, equal base quantity, so price moves cancel (up to the venues'
price differences) and the pair earns the funding difference: with a positive rate longs pay
shorts, so the short leg receives its venue's rate and the long leg pays its own.

Every rate enters here normalized per hour through :func:`venues.model.funding_rate_per_hour`
(the one normalization helper); a spread is shown as an 8 h equivalent (per hour × 8) only
because that is how venues quote funding. Nothing assumes an interval: Hyperliquid settles
hourly, Binance and Bybit every 8 h, some symbols every 4 h, and intervals change.

Expected funding is counted **settlement by settlement**: a perp pays the whole interval's
funding to whoever holds it at the settlement instant, however briefly, so what a pair earns
over a horizon depends on which settlements of each leg fall inside it, not only on the rates.
See :func:`expected_pair_funding_frac` for the exact rule.

Sources: the perpetual-futures guide digested in ``SEEDS.md`` (cross-venue funding arbitrage;
enter only when expected funding over the holding horizon covers round-trip fees and
slippage); settlement mechanics from the venues' funding docs (Binance "Introduction to
Funding Rates", Bybit "Funding Fee Calculation", Hyperliquid "Funding").
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, fields

from venues.model import HOUR_MS, HOUR_S, YEAR_S

HOURS_PER_YEAR = YEAR_S / HOUR_S  # 8760.0, 365-day year
HOURS_PER_8H = 8.0
BPS_PER_UNIT = 1e4
EXIT_SPREAD_FLIPPED = "exit_spread_flipped"
EXIT_SPREAD_COLLAPSED = "exit_spread_collapsed"
EXIT_MAX_HOLDING = "exit_max_holding"


def _require_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


def _require_positive(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class VenueCosts:
    """Trading costs of one perp fill on one venue.

    Attributes
    ----------
    taker_fee_bps : float
        Perp taker fee, basis points of notional per fill.
    slippage_bps : float
        Expected slippage per fill, basis points of notional.

    Raises
    ------
    ValueError
        If either cost is negative or not finite.
    """

    taker_fee_bps: float
    slippage_bps: float

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"VenueCosts.{f.name} must be finite and >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class LegForecast:
    """What is known about one leg's funding when deciding.

    Attributes
    ----------
    latest_rate_per_hour : float
        The latest known rate (the venue's prediction live, the last settled rate in replay),
        fraction / h; the forecast of the leg's next settlement.
    mean_rate_per_hour : float
        Carry estimate (interval-weighted mean of recent settlements), fraction / h; the
        forecast of every later settlement.
    ts_next_funding_ms : int
        The leg's next settlement, epoch ms UTC (rolled forward by ``interval_s`` if already
        past at decision time).
    interval_s : int
        Spacing of the leg's settlements from ``ts_next_funding_ms`` on, seconds, > 0.

    Raises
    ------
    ValueError
        If a rate is not finite or ``interval_s`` is not positive.
    """

    latest_rate_per_hour: float
    mean_rate_per_hour: float
    ts_next_funding_ms: int
    interval_s: int

    def __post_init__(self) -> None:
        _require_finite("latest_rate_per_hour", self.latest_rate_per_hour)
        _require_finite("mean_rate_per_hour", self.mean_rate_per_hour)
        if self.interval_s <= 0:
            raise ValueError(f"funding interval_s must be positive, got {self.interval_s}")


def weighted_mean_rate_per_hour(
    rates_per_hour: Sequence[float], intervals_h: Sequence[float]
) -> float:
    """Carry estimate of one venue: recent settled rates averaged, weighted by their interval.

    ``Σ rᵢ·hᵢ / Σ hᵢ`` = funding paid over the covered hours / those hours. Equal intervals
    give the plain mean; weighting keeps a window that mixes intervals (an 8 h settlement
    followed by hourly ones) from over-counting the short intervals.

    Parameters
    ----------
    rates_per_hour : Sequence[float]
        Settled rates normalized per hour, fraction / h, length n ≥ 1.
    intervals_h : Sequence[float]
        Interval of each settlement, hours, > 0, length n.

    Returns
    -------
    float
        Fraction / h.

    Raises
    ------
    ValueError
        If the sequences are empty or of different lengths, a rate is not finite or an
        interval not positive.
    """
    if not rates_per_hour or len(rates_per_hour) != len(intervals_h):
        raise ValueError(
            f"need n >= 1 rates and as many intervals, got {len(rates_per_hour)} rates and "
            f"{len(intervals_h)} intervals"
        )
    if not (
        all(map(math.isfinite, rates_per_hour))
        and all(map(math.isfinite, intervals_h))
        and min(intervals_h) > 0
    ):  # the slow path names the first bad value
        for rate, hours in zip(rates_per_hour, intervals_h, strict=True):
            _require_finite("rate_per_hour", rate)
            _require_positive("interval_h", hours)
    paid = math.fsum(map(operator.mul, rates_per_hour, intervals_h))
    return paid / math.fsum(intervals_h)


def spread_8h_frac(short_rate_per_hour: float, long_rate_per_hour: float) -> float:
    """Funding spread of a pair as an 8 h equivalent: ``(short − long) × 8``, fraction.

    Positive when the short leg's venue charges longs more than the long leg's venue.
    """
    return (short_rate_per_hour - long_rate_per_hour) * HOURS_PER_8H


def round_trip_cost_frac(long_costs: VenueCosts, short_costs: VenueCosts) -> float:
    """Cost of opening and closing both legs, as a fraction of one leg's notional.

    Four fills, two per venue, each paying that venue's taker fee and slippage:
    ``2 × (fee_long + slip_long + fee_short + slip_short) / 1e4``. E.g. Binance 5 + 2 bps and
    Bybit 5.5 + 2 bps → 29 bps = 0.0029.
    """
    per_fill_bps = (
        long_costs.taker_fee_bps
        + long_costs.slippage_bps
        + short_costs.taker_fee_bps
        + short_costs.slippage_bps
    )
    return 2.0 * per_fill_bps / BPS_PER_UNIT


def first_settlement_ms(ts_next_funding_ms: int, interval_s: int, now_ms: int) -> int:
    """The leg's first settlement strictly after ``now_ms``, epoch ms.

    ``ts_next_funding_ms`` itself when in the future, else rolled forward by whole intervals
    (a settlement at ``now_ms`` has already been paid when ``decide`` runs).

    Raises
    ------
    ValueError
        If ``interval_s`` is not positive.
    """
    if interval_s <= 0:
        raise ValueError(f"funding interval_s must be positive, got {interval_s}")
    if ts_next_funding_ms > now_ms:
        return ts_next_funding_ms
    step_ms = interval_s * 1000
    return ts_next_funding_ms + ((now_ms - ts_next_funding_ms) // step_ms + 1) * step_ms


def expected_leg_funding_frac(leg: LegForecast, now_ms: int, end_ms: int) -> float:
    """Funding a long position of one unit of notional pays over ``(now_ms, end_ms]``.

    Settlements at ``t₀ = first_settlement_ms(...)`` and every ``interval_s`` after, up to and
    including ``end_ms``; the first pays ``latest_rate_per_hour × interval_h``, each later one
    ``mean_rate_per_hour × interval_h``. A short position receives the same amount.

    Returns
    -------
    float
        Fraction of notional (positive: a long pays); 0 when no settlement falls inside.
    """
    t0_ms = first_settlement_ms(leg.ts_next_funding_ms, leg.interval_s, now_ms)
    if t0_ms > end_ms:
        return 0.0
    later = (end_ms - t0_ms) // (leg.interval_s * 1000)
    interval_h = leg.interval_s / HOUR_S
    return (leg.latest_rate_per_hour + later * leg.mean_rate_per_hour) * interval_h


def expected_pair_funding_frac(
    long_leg: LegForecast, short_leg: LegForecast, now_ms: int, horizon_h: float
) -> float:
    """Expected funding P&L of the pair entered at ``now_ms`` and held ``horizon_h`` hours.

    The rule, settlement by settlement: over ``(now_ms, now_ms + horizon_h]`` the short leg
    receives and the long leg pays each of its own settlements (:func:`expected_leg_funding_frac`
    — each leg's next settlement at its latest known rate, the later ones at its mean rate,
    each with its own next settlement time and interval). Entering just before a large adverse
    settlement therefore books it in full, even though the position held it for minutes.

    Parameters
    ----------
    long_leg, short_leg : LegForecast
    now_ms : int
        Entry time, epoch ms UTC.
    horizon_h : float
        Expected holding period, hours, > 0.

    Returns
    -------
    float
        Fraction of one leg's notional (positive: the pair earns).

    Raises
    ------
    ValueError
        If ``horizon_h`` is not a positive finite number.
    """
    _require_positive("horizon_h", horizon_h)
    end_ms = now_ms + math.floor(horizon_h * HOUR_MS)
    paid = expected_leg_funding_frac(long_leg, now_ms, end_ms)
    received = expected_leg_funding_frac(short_leg, now_ms, end_ms)
    return received - paid


def net_apr_frac(funding_frac: float, cost_frac: float, horizon_h: float) -> float:
    """Expected funding net of round-trip costs, annualized: ``(funding − cost) × 8760 / h``.

    Raises
    ------
    ValueError
        If ``horizon_h`` is not a positive finite number.
    """
    _require_positive("horizon_h", horizon_h)
    return (funding_frac - cost_frac) * HOURS_PER_YEAR / horizon_h


def is_flipped(latest_long_rate_per_hour: float, latest_short_rate_per_hour: float) -> bool:
    """Whether the long leg's latest rate is now above the short leg's (the pair pays)."""
    return latest_long_rate_per_hour > latest_short_rate_per_hour


def exit_reason(
    latest_long_rate_per_hour: float | None,
    latest_short_rate_per_hour: float | None,
    mean_spread_8h_frac: float | None,
    exit_spread_8h_frac: float,
    held_h: float,
    max_holding_h: float,
) -> str | None:
    """Why an open pair should close now, or ``None`` to keep it.

    Checked in this order: ``exit_spread_flipped`` (the long leg's latest rate above the short
    leg's), ``exit_spread_collapsed`` (mean spread below ``exit_spread_8h_frac``),
    ``exit_max_holding`` (held ``max_holding_h`` hours or more). A rate-based rule is skipped
    when its input is ``None`` (no fresh funding for a leg).

    Parameters
    ----------
    latest_long_rate_per_hour, latest_short_rate_per_hour : float | None
        Latest rate of each leg, fraction / h.
    mean_spread_8h_frac : float | None
        :func:`spread_8h_frac` of the legs' mean rates, fraction per 8 h.
    exit_spread_8h_frac : float
        Collapse threshold, fraction per 8 h.
    held_h, max_holding_h : float
        Time held and the maximum, hours.
    """
    if (
        latest_long_rate_per_hour is not None
        and latest_short_rate_per_hour is not None
        and is_flipped(latest_long_rate_per_hour, latest_short_rate_per_hour)
    ):
        return EXIT_SPREAD_FLIPPED
    if mean_spread_8h_frac is not None and mean_spread_8h_frac < exit_spread_8h_frac:
        return EXIT_SPREAD_COLLAPSED
    if held_h >= max_holding_h:
        return EXIT_MAX_HOLDING
    return None
