"""A Binance paper venue over chosen USDT instruments, for tests of what reads its ledger.

Each instrument: base asset the symbol without ``USDT``, tick 0.01, lot step and min qty 0.001
(base units), min notional 5 USD, funding every 28,800 s. The venue: 20,000 USD collateral,
perp fees 2 / 5 bps (maker / taker), spot 10 / 10 bps, no slippage, perp leverage 5,
maintenance margin 0.5 %, a clock fixed at 1,700,000,000,000 ms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal as D

from venues.model import Instrument, InstrumentId, InstrumentKind, VenueFees
from venues.paper import PaperVenue, PaperVenueConfig

NOW_MS = 1_700_000_000_000

BINANCE_IDS = [
    InstrumentId("binance", kind, symbol)
    for kind in (InstrumentKind.PERP, InstrumentKind.SPOT)
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT")
]
"""Binance's BTC, ETH and SOL perps, then their spots: the instruments the order-path tests
trade on :func:`binance_paper_venue`."""


def binance_paper_venue(
    ids: Iterable[InstrumentId], prices: Mapping[InstrumentId, float]
) -> PaperVenue:
    """The paper venue of the module docstring over ``ids``, its prices set to ``prices``
    (quote units)."""
    instruments = {
        i: Instrument(i, i.symbol.removesuffix("USDT"), "USDT", D("0.01"), D("0.001"),
                      D("0.001"), D(5), D(1), 28_800)
        for i in ids
    }  # fmt: skip
    config = PaperVenueConfig(
        name="binance",
        initial_collateral_usd=D(20_000),
        perp_fees=VenueFees(D("0.0002"), D("0.0005")),
        spot_fees=VenueFees(D("0.001"), D("0.001")),
        slippage_bps=D(0),
        perp_leverage=D(5),
        maintenance_margin_frac=D("0.005"),
    )
    venue = PaperVenue(config, instruments, lambda: NOW_MS)
    venue.update_prices(prices.items())
    return venue
