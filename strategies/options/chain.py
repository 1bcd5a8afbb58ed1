"""An option chain: the options listed on one underlying at one time, with their prices.

:class:`OptionChain` is what a strategy reads (``MarketSnapshot.option_chains``, keyed by the
underlying's perpetual): for each listed option its expiry, strike, call/put, implied
volatility and price in USD per coin. :func:`venue_chain` builds one from a venue's own option
tickers (paper-on-live and live with Deribit: its marks, mark IVs and greeks, no model);
:func:`model_chain` builds one the way a replay does — there are no recorded option prices in
the bundled history, so every price is **model-priced**: Black-76
(:mod:`strategies.options.black_scholes`) with the forward = the underlying perp's price, rate
0, and an implied volatility from :mod:`strategies.options.vol_input`.

Listing rule of a model chain (:class:`ChainListing`), after Deribit's BTC/ETH listings
(https://docs.deribit.com/, ``public/get_instruments``): weekly expiries on one weekday at
08:00 UTC out to ``listing_days``; strikes on a grid of ``strike_step_usd`` within
``±strike_range_frac`` of the forward. Prices are rounded to ``price_tick_usd`` and never quote
below one tick (a listed option always has a price; expiry settles at intrinsic value instead,
:meth:`venues.model.OptionSpec.intrinsic_usd`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt

from strategies.options.black_scholes import MS_PER_DAY, price_usd, years_to_expiry
from venues.model import (
    OPTION_EXPIRY_HOUR_UTC,
    InstrumentId,
    InstrumentKind,
    OptionSpec,
    OptionTicker,
    OptionType,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_MS_PER_HOUR = 3_600_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


class VolInput(Protocol):
    """An implied-volatility input: volatility (fraction) per time to expiry (years)."""

    def iv_at(self, t_years: npt.ArrayLike) -> FloatArray:
        """Volatility per time to expiry, fraction; the shape of ``t_years``."""
        ...


@dataclass(frozen=True, slots=True, eq=False)
class VenueGreeks:
    """Greeks of a chain's options **as the venue reports them** (Deribit: Black–Scholes on
    each expiry's forward ``underlying_price``, per 1 coin, not premium-adjusted;
    https://docs.deribit.com/#public-ticker), aligned with the chain's arrays, shape ``(n,)``.

    Attributes
    ----------
    delta : FloatArray
        Coins of underlying per coin of option.
    gamma : FloatArray
        Change of delta per 1 USD of the underlying.
    vega_usd : FloatArray
        USD per 1 volatility point.
    theta_usd_per_day : FloatArray
        USD per day.
    underlying_usd : FloatArray
        The forward each option was valued on (its expiry's future, or the index), USD.
    """

    delta: FloatArray
    gamma: FloatArray
    vega_usd: FloatArray
    theta_usd_per_day: FloatArray
    underlying_usd: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class OptionChain:
    """Options listed on one underlying at ``ts_ms``; the arrays are aligned, shape ``(n,)``.

    Attributes
    ----------
    underlying : InstrumentId
        The perpetual whose price is the forward (and that hedges the options).
    venue : str
        Venue the options are listed on (their :class:`InstrumentId`'s venue).
    base : str
        Underlying asset (``BTC``).
    ts_ms : int
        Time of the prices, epoch ms UTC.
    forward_usd : float
        Forward the prices were computed on, USD.
    expiry_ms : IntArray
        Expiry of each option, epoch ms UTC.
    strike_usd : FloatArray
        Strike, USD.
    is_call : BoolArray
        True for a call.
    iv_frac : FloatArray
        Implied volatility, fraction.
    price_usd : FloatArray
        Price, USD per coin.
    lot_step_coin : float
        Quantity step (= minimum) of every option, coins.
    greeks : VenueGreeks | None
        The venue's own greeks of each option (a live chain, :func:`venue_chain`); None for a
        model chain.
    """

    underlying: InstrumentId
    venue: str
    base: str
    ts_ms: int
    forward_usd: float
    expiry_ms: IntArray
    strike_usd: FloatArray
    is_call: BoolArray
    iv_frac: FloatArray
    price_usd: FloatArray
    lot_step_coin: float = 0.1
    greeks: VenueGreeks | None = None

    def __len__(self) -> int:
        return int(self.expiry_ms.shape[0])

    def spec(self, k: int) -> OptionSpec:
        """Terms of option ``k``."""
        kind = OptionType.CALL if bool(self.is_call[k]) else OptionType.PUT
        strike = Decimal(repr(float(self.strike_usd[k]))).normalize()
        return OptionSpec(self.base, int(self.expiry_ms[k]), strike, kind)

    def instrument_id(self, k: int) -> InstrumentId:
        """Instrument id of option ``k`` (kind ``OPTION``, Deribit-style symbol)."""
        return InstrumentId(self.venue, InstrumentKind.OPTION, self.spec(k).symbol)

    def find(self, instrument_id: InstrumentId) -> int | None:
        """Index of a listed option by id, or None when it is not in the chain (another venue
        or kind, an unreadable symbol, or terms the chain does not list)."""
        if instrument_id.venue != self.venue or instrument_id.kind is not InstrumentKind.OPTION:
            return None
        try:
            spec = OptionSpec.parse(instrument_id.symbol)
        except ValueError:
            return None
        if spec.base != self.base:
            return None
        hits = np.flatnonzero(
            (self.expiry_ms == spec.expiry_ms)
            & (self.strike_usd == float(spec.strike_usd))
            & (self.is_call == spec.is_call)
        )
        return int(hits[0]) if hits.size else None

    def expiries_ms(self) -> list[int]:
        """The listed expiries, ascending, epoch ms UTC."""
        return sorted({int(e) for e in self.expiry_ms})


@dataclass(frozen=True, slots=True)
class ChainListing:
    """Which options a model chain lists (see the module docstring).

    Attributes
    ----------
    strike_step_usd : float
        Strike grid, USD, > 0.
    strike_range_frac : float
        Strikes within ``forward × (1 ± strike_range_frac)``, in (0, 1).
    listing_days : float
        Expiries listed up to this many days ahead, > 0.
    expiry_weekday : int
        Weekday of the expiries, Monday = 0 (Deribit: Friday = 4).
    price_tick_usd : float
        Price increment, USD, > 0; the lowest price quoted.
    lot_step_coin : float
        Quantity step (= minimum) of every option, coins, > 0 (Deribit BTC options: 0.1).
    """

    strike_step_usd: float
    strike_range_frac: float = 0.5
    listing_days: float = 120.0
    expiry_weekday: int = 4
    price_tick_usd: float = 0.01
    lot_step_coin: float = 0.1

    def __post_init__(self) -> None:
        checks = {
            "strike_step_usd": self.strike_step_usd > 0,
            "strike_range_frac": 0 < self.strike_range_frac < 1,
            "listing_days": self.listing_days > 0,
            "expiry_weekday": 0 <= self.expiry_weekday <= 6,
            "price_tick_usd": self.price_tick_usd > 0,
            "lot_step_coin": self.lot_step_coin > 0,
        }
        for name, ok in checks.items():
            if not (ok and math.isfinite(float(getattr(self, name)))):
                raise ValueError(f"chain listing {name} is invalid: {getattr(self, name)!r}")


def listed_expiries_ms(ts_ms: int, listing: ChainListing) -> list[int]:
    """Expiries listed at ``ts_ms``: every ``expiry_weekday`` at 08:00 UTC strictly after
    ``ts_ms`` and at most ``listing_days`` ahead, ascending (epoch ms UTC)."""
    day = ts_ms // MS_PER_DAY
    first = day + (listing.expiry_weekday - (day + _EPOCH_WEEKDAY) % 7) % 7
    expiries = []
    expiry = first * MS_PER_DAY + OPTION_EXPIRY_HOUR_UTC * _MS_PER_HOUR
    if expiry <= ts_ms:
        expiry += 7 * MS_PER_DAY
    limit = ts_ms + listing.listing_days * MS_PER_DAY
    while expiry <= limit:
        expiries.append(expiry)
        expiry += 7 * MS_PER_DAY
    return expiries


def listed_strikes_usd(forward_usd: float, listing: ChainListing) -> FloatArray:
    """Strikes listed around ``forward_usd``: multiples of the step within the range, > 0."""
    step = listing.strike_step_usd
    low = max(math.ceil(forward_usd * (1 - listing.strike_range_frac) / step), 1)
    high = math.floor(forward_usd * (1 + listing.strike_range_frac) / step)
    return np.arange(low, high + 1, dtype=np.float64) * step


def model_chain(
    underlying: InstrumentId,
    venue: str,
    base: str,
    ts_ms: int,
    forward_usd: float,
    vol: VolInput,
    listing: ChainListing,
) -> OptionChain:
    """The chain a replay lists at ``ts_ms``, priced by Black-76 (rate 0) on ``forward_usd``.

    Parameters
    ----------
    underlying : InstrumentId
        The perpetual whose price ``forward_usd`` is.
    venue, base : str
        Venue the options are listed on; underlying asset code.
    ts_ms : int
        Valuation time, epoch ms UTC.
    forward_usd : float
        Forward, USD, > 0.
    vol : VolInput
        Implied volatility per time to expiry.
    listing : ChainListing

    Returns
    -------
    OptionChain
        Calls and puts of every listed (expiry, strike), expiries ascending, then strikes,
        calls before puts.

    Raises
    ------
    ValueError
        A forward that is not finite and > 0, or a volatility input that gives one that is not.
    """
    if not (math.isfinite(forward_usd) and forward_usd > 0):
        raise ValueError(f"forward_usd must be finite and > 0, got {forward_usd!r}")
    expiries = np.asarray(listed_expiries_ms(ts_ms, listing), dtype=np.int64)
    strikes = listed_strikes_usd(forward_usd, listing)
    grid_e, grid_k, grid_c = np.meshgrid(expiries, strikes, np.array([True, False]), indexing="ij")
    expiry_ms = grid_e.ravel().astype(np.int64)
    strike_usd = grid_k.ravel().astype(np.float64)
    is_call = grid_c.ravel().astype(np.bool_)
    t_years = years_to_expiry(ts_ms, expiry_ms)
    iv = np.asarray(vol.iv_at(t_years), dtype=np.float64)
    if len(expiry_ms) == 0:
        price = np.empty(0, dtype=np.float64)
    else:
        raw = price_usd(forward_usd, strike_usd, t_years, iv, is_call)
        tick = listing.price_tick_usd
        price = np.maximum(np.round(raw / tick), 1.0) * tick
    return OptionChain(
        underlying, venue, base, ts_ms, float(forward_usd), expiry_ms, strike_usd, is_call, iv,
        np.asarray(price, dtype=np.float64), listing.lot_step_coin,
    )  # fmt: skip


def venue_chain(
    underlying: InstrumentId,
    venue: str,
    base: str,
    ts_ms: int,
    forward_usd: float,
    tickers: Sequence[OptionTicker],
    lot_step_coin: float,
) -> OptionChain:
    """A live chain from the venue's option tickers (Deribit: ``public/ticker`` of each
    listed option, :class:`venues.base.OptionChainSource`): no model anywhere.

    Each option's price is the venue's **mark** in USD per coin — ``mark_price`` × the
    ticker's ``index_price`` for an inverse (coin-quoted) option, the USD value of the coin
    premium; its implied volatility the venue's ``mark_iv`` (a fraction); its greeks the
    venue's (:class:`VenueGreeks`). ``forward_usd`` is the underlying perpetual's price (what
    the strategy hedges with); each option's own forward is in ``greeks.underlying_usd``.

    Parameters
    ----------
    underlying : InstrumentId
        The perpetual the chain is keyed by.
    venue, base : str
        Venue of the options; underlying coin (``BTC``).
    ts_ms : int
        Time of the chain, epoch ms UTC (the step's).
    forward_usd : float
        The underlying perpetual's price, USD, > 0.
    tickers : Sequence[OptionTicker]
        One per option, symbols ``BASE-DMMMYY-STRIKE-C|P``; ordered here by expiry, strike,
        calls first.
    lot_step_coin : float
        Quantity step (= minimum) of the options, coins.

    Raises
    ------
    ValueError
        A ticker whose symbol is not an option of ``base`` or whose price is not finite and
        > 0, or a forward that is not.
    """
    if not (math.isfinite(forward_usd) and forward_usd > 0):
        raise ValueError(f"forward_usd must be finite and > 0, got {forward_usd!r}")
    rows = []
    for ticker in tickers:
        spec = OptionSpec.parse(ticker.symbol)
        if spec.base != base:
            raise ValueError(f"option {ticker.symbol} is not on {base}")
        price = ticker.mark_price * ticker.index_price
        if not (math.isfinite(price) and price > 0):
            raise ValueError(f"option {ticker.symbol} has no positive mark: {price!r}")
        rows.append((spec.expiry_ms, float(spec.strike_usd), not spec.is_call, price, ticker))
    rows.sort(key=lambda r: r[:3])

    def column(values: list[float]) -> FloatArray:
        return np.asarray(values, dtype=np.float64)

    greeks = [r[4].greeks for r in rows]
    return OptionChain(
        underlying,
        venue,
        base,
        ts_ms,
        float(forward_usd),
        np.asarray([r[0] for r in rows], dtype=np.int64),
        column([r[1] for r in rows]),
        np.asarray([not r[2] for r in rows], dtype=np.bool_),
        column([r[4].mark_iv_frac for r in rows]),
        column([r[3] for r in rows]),
        lot_step_coin,
        VenueGreeks(
            delta=column([g.delta for g in greeks]),
            gamma=column([g.gamma for g in greeks]),
            vega_usd=column([g.vega for g in greeks]),
            theta_usd_per_day=column([g.theta for g in greeks]),
            underlying_usd=column([r[4].underlying_price for r in rows]),
        ),
    )


def model_price_usd(
    spec: OptionSpec, ts_ms: int, forward_usd: float, vol: VolInput, price_tick_usd: float
) -> float:
    """One option's model price (as :func:`model_chain` prices it), USD per coin: Black-76 at
    rate 0 on ``forward_usd``, rounded to ``price_tick_usd``, at least one tick. For an option
    the chain no longer lists (its strike left the range) that is still held.

    Raises
    ------
    ValueError
        An expired option (``ts_ms >= spec.expiry_ms``), or a forward that is not > 0.
    """
    t_years = float(years_to_expiry(ts_ms, spec.expiry_ms))
    if not t_years > 0:
        raise ValueError(f"{spec.symbol} expired at {spec.expiry_ms}, priced at {ts_ms}")
    iv = float(np.asarray(vol.iv_at(t_years)))
    raw = float(price_usd(forward_usd, float(spec.strike_usd), t_years, iv, spec.is_call))
    return max(round(raw / price_tick_usd), 1) * price_tick_usd
