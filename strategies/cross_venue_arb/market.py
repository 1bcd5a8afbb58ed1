"""One cycle's view of the cross-venue arbitrage's market: per symbol, per venue, the perp's
price and funding forecast, and the best pair to trade.

Pure helpers of :mod:`strategies.cross_venue_arb.strategy`; no state is modified here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Final

from strategies.base import MarketSnapshot
from strategies.common import funding_is_stale
from strategies.cross_venue_arb import rates, signals
from strategies.cross_venue_arb.state import PerpRates
from venues.model import FundingRate, InstrumentId, InstrumentKind, funding_rate_per_hour

HYPERLIQUID: Final = "hyperliquid"
BINANCE: Final = "binance"
_USDT: Final = "USDT"


@functools.cache
def perp_id(venue: str, base: str) -> InstrumentId:
    """The perp of ``base`` on ``venue``: Hyperliquid coin names (``BTC``), else ``BTCUSDT``.

    Memoized (ids are immutable): every cycle asks for every symbol on every venue.
    """
    symbol = base if venue == HYPERLIQUID else base + _USDT
    return InstrumentId(venue, InstrumentKind.PERP, symbol)


@dataclass(frozen=True, slots=True)
class LegView:
    """One venue's perp of one symbol this cycle.

    ``latest_rate_per_hour`` is set when the funding is fresh; ``forecast`` (and its mean)
    when it is also ready (a full lookback recorded); ``price`` when usable, quote units.
    """

    venue: str
    instrument_id: InstrumentId
    latest_rate_per_hour: float | None
    forecast: signals.LegForecast | None
    price: float | None

    @property
    def mean_rate_per_hour(self) -> float | None:
        """Carry estimate, fraction / h, or ``None`` when not fresh or not ready."""
        return None if self.forecast is None else self.forecast.mean_rate_per_hour


@dataclass(frozen=True, slots=True)
class Candidate:
    """The pair a symbol would be entered with this cycle and the numbers behind the decision.

    ``funding_frac`` is :func:`signals.expected_pair_funding_frac` over the horizon,
    ``naive_funding_frac`` the mean spread × horizon (no settlement timing), both fractions of
    one leg's notional; ``net_apr_frac`` is from ``funding_frac``.
    """

    symbol: str
    long: LegView
    short: LegView
    spread_8h_frac: float
    funding_frac: float
    naive_funding_frac: float
    cost_frac: float
    net_apr_frac: float


def usable_price(snapshot: MarketSnapshot, instrument_id: InstrumentId) -> float | None:
    """Latest price of ``instrument_id`` if present, not stale, finite and > 0, quote units."""
    price = snapshot.prices.get(instrument_id)
    if price is None or instrument_id in snapshot.stale:
        return None
    return price if math.isfinite(price) and price > 0 else None


def fresh_funding(
    snapshot: MarketSnapshot, instrument_id: InstrumentId, now_ms: int
) -> FundingRate | None:
    """The perp's latest funding if it is usable: finite, positive interval, not stale."""
    funding = snapshot.funding.get(instrument_id)
    if funding is None or instrument_id in snapshot.stale:
        return None
    if not math.isfinite(funding.rate) or funding.interval_s <= 0:
        return None
    if funding_is_stale(funding.ts_funding_ms, funding.interval_s, now_ms):
        return None
    return funding


def leg_view(
    snapshot: MarketSnapshot,
    book: Mapping[str, PerpRates],
    venue: str,
    base: str,
    now_ms: int,
    lookback_ms: int,
) -> LegView:
    """Build the :class:`LegView` of ``base`` on ``venue`` from the snapshot and rate book.

    The forecast's spacing is the announced gap ``ts_next_funding_ms − ts_funding_ms`` (it
    reflects an interval change before the next settlement), else ``interval_s``. The
    strategy keeps these views across cycles in a
    :class:`~strategies.cross_venue_arb.legs.LegBoard`, which gives exactly this view.
    """
    iid = perp_id(venue, base)
    price = usable_price(snapshot, iid)
    funding = fresh_funding(snapshot, iid, now_ms)
    if funding is None:
        return LegView(venue, iid, None, None, price)
    mean = rates.mean_rate_per_hour(book, iid, now_ms, lookback_ms)
    latest, forecast = leg_forecast(funding, mean)
    return LegView(venue, iid, latest, forecast, price)


def leg_forecast(
    funding: FundingRate, mean: float | None
) -> tuple[float, signals.LegForecast | None]:
    """``(latest rate, forecast)`` of a perp with fresh ``funding`` and carry estimate ``mean``
    (fraction / h; ``None``: not ready, no forecast), as :func:`leg_view` puts in its view.

    Raises
    ------
    ValueError
        If the rate or ``mean`` is not finite or the interval is not positive.
    """
    latest = funding_rate_per_hour(funding.rate, funding.interval_s)
    if mean is None:
        return latest, None
    gap_s = (funding.ts_next_funding_ms - funding.ts_funding_ms) // 1000
    interval_s = gap_s if gap_s > 0 else funding.interval_s
    return latest, signals.LegForecast(latest, mean, funding.ts_next_funding_ms, interval_s)


def extreme_legs(legs: Sequence[LegView]) -> tuple[LegView, LegView] | None:
    """``(long, short)``: the ready leg with the lowest mean rate and, among the others, the
    one with the highest (:func:`extreme_indices` of their means).

    Ties go to the venue listed first; equal means give a pair with a zero spread. ``None``
    with fewer than two ready legs.
    """
    pair = extreme_indices([leg.mean_rate_per_hour for leg in legs])
    return None if pair is None else (legs[pair[0]], legs[pair[1]])


def extreme_indices(means: Sequence[float | None]) -> tuple[int, int] | None:
    """``(long, short)`` positions in ``means`` (fraction / h; ``None``: leg not ready): the
    lowest mean and, among the others, the highest; ties to the first listed. ``None`` with
    fewer than two ready legs."""
    # One pass (every symbol with a changed leg, every cycle): strict comparisons keep the
    # first listed of equal means. Forecast means are finite (LegForecast checks), so this is
    # a total order. The first highest mean is the short leg unless it is the long leg
    # itself, which happens only when every ready mean is equal: the short leg is then the
    # first ready leg after it (the first ready leg other than the long one).
    long = short = second = -1
    long_mean = short_mean = 0.0
    for k, mean in enumerate(means):
        if mean is None:
            continue
        if long < 0:
            long = short = k
            long_mean = short_mean = mean
            continue
        if second < 0:
            second = k
        if mean < long_mean:
            long, long_mean = k, mean
        elif mean > short_mean:
            short, short_mean = k, mean
    if second < 0:
        return None
    return long, (second if short == long else short)


def common_lot_qty(snapshot: MarketSnapshot, ids: Sequence[InstrumentId], raw_qty: float) -> float:
    """Round ``raw_qty`` (base units) down to the coarsest lot step of ``ids``.

    Both legs then trade the same base quantity after execution rounds each to its own step
    (steps are powers of ten on the venues traded, so the coarsest is a multiple of the
    others). Instruments missing from the snapshot are ignored; no step means no rounding.
    """
    steps = [snapshot.instruments[i].lot_step for i in ids if i in snapshot.instruments]
    step = max(steps, default=Decimal(0))
    if step <= 0:
        return raw_qty
    lots = (Decimal(repr(raw_qty)) / step).to_integral_value(rounding=ROUND_DOWN)
    return float(lots * step)
