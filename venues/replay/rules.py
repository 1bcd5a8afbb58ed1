"""Trading rules (tick, lot step, minimums) of the instruments in the bundled replay data.

The replay has no exchange to ask, so these tables stand in for ``exchangeInfo`` /
``instruments-info`` / ``meta``. Sources, in order of preference:

- Binance USD-M BTCUSDT/ETHUSDT tick and lot:
  ``tests/fixtures/binance-usdm/exchange_info_btc_eth.json`` (Binance USD-M "Exchange Information"
  https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information);
  BTCUSDT min notional 100 USDT as traders reported from live ``-4164`` rejections
  (https://github.com/TheFourGreatErrors/alpha-rptr/issues/77) — the stricter of the two published
  values; other symbols 5 USDT, Binance's usual futures minimum.
- Binance spot BTCUSDT/ETHUSDT: ``tests/fixtures/binance-spot/exchange_info_btc_eth.json``
  (Binance spot "Exchange information",
  https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md): tick 0.01, steps
  0.00001 / 0.0001, min notional 5.
- Bybit linear BTCUSDT: ``tests/fixtures/bybit-v5/instruments_linear_btcusdt.json`` (tick 0.10,
  qtyStep 0.001, minNotionalValue 5).
- Hyperliquid: ``szDecimals`` for BTC/ETH/SOL from ``tests/fixtures/hyperliquid/meta.json``;
  price rule (5 significant figures, at most ``6 - szDecimals`` decimals) and the $10 minimum
  from Hyperliquid "Tick and lot size"
  https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/tick-and-lot-size.
- Every other entry is a plausible value consistent with the venue's published conventions and
  with the bundled data: each Binance tick is no coarser than the decimals the recorded prices
  use, each lot step no coarser than the recorded volumes. They are not authoritative; a live
  adapter must read the venue's filters at startup.
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


def _rules(tick: str, step: str, notional: str = "5") -> LotRules:
    return LotRules(Decimal(tick), Decimal(step), Decimal(step), Decimal(notional))


BINANCE_PERP_RULES: Final[dict[str, LotRules]] = {
    "BTCUSDT": _rules("0.1", "0.001", "100"),
    "ETHUSDT": _rules("0.01", "0.001"),
    "SOLUSDT": _rules("0.01", "0.01"),
    "BNBUSDT": _rules("0.01", "0.01"),
    "XRPUSDT": _rules("0.0001", "0.1"),
    "DOGEUSDT": _rules("0.00001", "1"),
    "ADAUSDT": _rules("0.0001", "1"),
    "AVAXUSDT": _rules("0.001", "1"),
    "LINKUSDT": _rules("0.001", "0.01"),
    "LTCUSDT": _rules("0.01", "0.001"),
    "DOTUSDT": _rules("0.001", "0.1"),
    "TRXUSDT": _rules("0.00001", "1"),
    "INJUSDT": _rules("0.001", "0.1"),
    "TIAUSDT": _rules("0.0001", "1"),
    "TONUSDT": _rules("0.0001", "0.1"),
}

BINANCE_SPOT_RULES: Final[dict[str, LotRules]] = {
    "BTCUSDT": _rules("0.01", "0.00001"),
    "ETHUSDT": _rules("0.01", "0.0001"),
    "SOLUSDT": _rules("0.01", "0.001"),
    "BNBUSDT": _rules("0.01", "0.001"),
    "XRPUSDT": _rules("0.0001", "0.1"),
    "DOGEUSDT": _rules("0.00001", "1"),
    "ADAUSDT": _rules("0.0001", "0.1"),
    "AVAXUSDT": _rules("0.01", "0.01"),
    "LINKUSDT": _rules("0.01", "0.01"),
    "LTCUSDT": _rules("0.01", "0.001"),
}

BYBIT_LINEAR_RULES: Final[dict[str, LotRules]] = {
    "BTCUSDT": _rules("0.1", "0.001"),
    "ETHUSDT": _rules("0.01", "0.01"),
    "SOLUSDT": _rules("0.01", "0.1"),
    "BNBUSDT": _rules("0.01", "0.01"),
    "XRPUSDT": _rules("0.0001", "1"),
    "DOGEUSDT": _rules("0.00001", "1"),
    "ADAUSDT": _rules("0.0001", "1"),
    "AVAXUSDT": _rules("0.001", "0.1"),
    "LINKUSDT": _rules("0.001", "0.1"),
    "LTCUSDT": _rules("0.01", "0.1"),
    "DOTUSDT": _rules("0.001", "0.1"),
    "TRXUSDT": _rules("0.00001", "1"),
    "INJUSDT": _rules("0.001", "0.1"),
    "TIAUSDT": _rules("0.0001", "0.1"),
    "TONUSDT": _rules("0.0001", "0.1"),
}

HYPERLIQUID_SZ_DECIMALS: Final[dict[str, int]] = {
    "BTC": 5,
    "ETH": 4,
    "SOL": 2,
    "BNB": 3,
    "XRP": 0,
    "DOGE": 0,
    "ADA": 0,
    "AVAX": 2,
    "LINK": 1,
    "LTC": 2,
    "DOT": 1,
    "TRX": 0,
    "INJ": 1,
    "TIA": 1,
    "TON": 1,
}


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
