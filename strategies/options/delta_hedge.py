"""The delta-hedge decision: trade the perpetual back to zero delta once outside a band.

Rule (a band, or "hedge at a delta tolerance" policy: Hull, *Options, Futures, and Other
Derivatives*, "The Greek letters", delta hedging and its rebalancing cost):

1. inside the band, ``|delta| ≤ band``, do nothing — every trade pays spread and fees;
2. outside it, the hedge is ``−delta`` in coin, converted to the perpetual's order unit and
   rounded to the nearest lot;
3. a rounded quantity below the venue's minimum trade (or zero) is skipped.

Order units differ by venue: Deribit's inverse ``BTC-PERPETUAL`` trades ``amount`` in USD in
multiples of 10 (``qty_per_coin`` = the perpetual's price, ``lot_size`` = ``min_trade_qty`` =
10; https://docs.deribit.com/, ``public/get_instruments``: ``contract_size``,
``min_trade_amount``), a linear perpetual trades coins (``qty_per_coin`` = 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

HedgeReason = Literal["inside_band", "below_min_trade", "hedge"]


@dataclass(frozen=True, slots=True)
class HedgeDecision:
    """What to trade on the perpetual, and why.

    Attributes
    ----------
    trade_qty : Decimal
        Signed order quantity in the perpetual's order unit (positive = buy), a multiple of the
        lot size; ``Decimal(0)`` when skipped.
    reason : {"inside_band", "below_min_trade", "hedge"}
        ``hedge`` when ``trade_qty`` is to be sent.
    delta_after_coin : float
        The book's delta once ``trade_qty`` fills, coins (the lot rounding's leftover).
    """

    trade_qty: Decimal
    reason: HedgeReason
    delta_after_coin: float


def _check(portfolio_delta_coin: float, band_coin: float, qty_per_coin: float) -> None:
    if not math.isfinite(portfolio_delta_coin):
        raise ValueError(f"portfolio_delta_coin must be finite, got {portfolio_delta_coin!r}")
    if not (math.isfinite(band_coin) and band_coin >= 0):
        raise ValueError(f"band_coin must be finite and >= 0, got {band_coin!r}")
    if not (math.isfinite(qty_per_coin) and qty_per_coin > 0):
        raise ValueError(f"qty_per_coin must be finite and > 0, got {qty_per_coin!r}")


def decide_hedge(
    portfolio_delta_coin: float,
    *,
    band_coin: float,
    lot_size: Decimal,
    min_trade_qty: Decimal,
    qty_per_coin: float = 1.0,
) -> HedgeDecision:
    """Decide the perpetual trade that brings the book's delta back to zero.

    Parameters
    ----------
    portfolio_delta_coin : float
        The book's delta including the current hedge, coins
        (:func:`strategies.options.portfolio_greeks.portfolio_greeks` ``delta_coin``).
    band_coin : float
        Half-width of the no-trade band, coins, ``≥ 0``: no trade while ``|delta| ≤ band``.
    lot_size : Decimal
        The perpetual's quantity step, order units, ``> 0`` (Deribit BTC-PERPETUAL: 10 USD).
    min_trade_qty : Decimal
        The smallest order the venue accepts, order units, ``≥ 0``.
    qty_per_coin : float, optional
        Order units per coin of delta: 1 for a perpetual traded in coin (default); the
        perpetual's price in USD for one traded in USD notional (Deribit inverse perpetuals).

    Returns
    -------
    HedgeDecision

    Raises
    ------
    ValueError
        A non-finite delta, a negative or non-finite band, a non-positive ``qty_per_coin`` or
        ``lot_size``, or a negative ``min_trade_qty``.
    """
    _check(portfolio_delta_coin, band_coin, qty_per_coin)
    if not (lot_size.is_finite() and lot_size > 0):
        raise ValueError(f"lot_size must be finite and > 0, got {lot_size!r}")
    if not (min_trade_qty.is_finite() and min_trade_qty >= 0):
        raise ValueError(f"min_trade_qty must be finite and >= 0, got {min_trade_qty!r}")
    if abs(portfolio_delta_coin) <= band_coin:
        return HedgeDecision(Decimal(0), "inside_band", portfolio_delta_coin)
    wanted = Decimal(str(-portfolio_delta_coin * qty_per_coin))
    lots = (wanted / lot_size).to_integral_value(rounding=ROUND_HALF_EVEN)
    trade_qty = lots * lot_size
    if trade_qty == 0 or abs(trade_qty) < min_trade_qty:
        return HedgeDecision(Decimal(0), "below_min_trade", portfolio_delta_coin)
    delta_after = portfolio_delta_coin + float(trade_qty) / qty_per_coin
    return HedgeDecision(trade_qty, "hedge", delta_after)
