"""Order-size and price rules of one replay instrument (:class:`LotRules`) and Hyperliquid's
price-dependent tick (:func:`hyperliquid_rules`).

The rules themselves live in each data folder's ``<venue>/instruments.csv``
(:mod:`venues.replay.instruments_file`), written by ``zerobeta data download`` from the venue's
instrument endpoint; the bundled data's files and their sources are described in
``venues/replay/data/PROVENANCE.md`` ("Trading rules").

Hyperliquid "Tick and lot size"
(https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/tick-and-lot-size): sizes
have at most ``szDecimals`` decimals, prices at most 5 significant figures and at most
``6 - szDecimals`` decimals, orders at least $10.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

HYPERLIQUID_MIN_NOTIONAL_USD: Final = Decimal(10)
_HYPERLIQUID_MAX_PERP_DECIMALS: Final = 6
_HYPERLIQUID_SIG_FIGS: Final = 5


@dataclass(frozen=True, slots=True)
class LotRules:
    """Order-size and price rules of one instrument.

    Attributes
    ----------
    tick_size : Decimal
        Price increment, quote units.
    lot_step : Decimal
        Quantity increment, base units.
    min_qty : Decimal
        Smallest order quantity, base units.
    min_notional_usd : Decimal
        Smallest order notional, USD (USDT/USDC 1:1).
    """

    tick_size: Decimal
    lot_step: Decimal
    min_qty: Decimal
    min_notional_usd: Decimal


def hyperliquid_rules(sz_decimals: int, ref_price: float) -> LotRules:
    """Hyperliquid perp rules at a reference price.

    Sizes have at most ``sz_decimals`` decimals; prices at most 5 significant figures and at
    most ``6 - sz_decimals`` decimals (Hyperliquid "Tick and lot size", module docstring), so
    the effective tick depends on the price:
    ``max(10**-(6 - sz_decimals), 10**(floor(log10(price)) - 4))``.
    ``Instrument`` has one fixed tick, so this returns the tick at ``ref_price``.

    Parameters
    ----------
    sz_decimals : int
        The coin's ``szDecimals`` from ``meta``, 0..6.
    ref_price : float
        Price the tick is evaluated at, quote units (USDC), positive.

    Returns
    -------
    LotRules
        Min notional $10 (``HYPERLIQUID_MIN_NOTIONAL_USD``).

    Raises
    ------
    ValueError
        If ``sz_decimals`` is outside 0..6 or ``ref_price`` is not positive and finite.
    """
    if not 0 <= sz_decimals <= _HYPERLIQUID_MAX_PERP_DECIMALS:
        raise ValueError(f"szDecimals must be in 0..6, got {sz_decimals}")
    price = Decimal(repr(ref_price))
    if not price.is_finite() or price <= 0:
        raise ValueError(f"reference price must be positive and finite, got {ref_price}")
    by_decimals = Decimal(1).scaleb(sz_decimals - _HYPERLIQUID_MAX_PERP_DECIMALS)
    by_sig_figs = Decimal(1).scaleb(price.adjusted() + 1 - _HYPERLIQUID_SIG_FIGS)
    step = Decimal(1).scaleb(-sz_decimals)
    return LotRules(max(by_decimals, by_sig_figs), step, step, HYPERLIQUID_MIN_NOTIONAL_USD)
