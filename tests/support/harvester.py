"""What the funding harvester's tests share: one Binance spot/perp book at a fixed start and
its leg costs."""

from __future__ import annotations

from strategies.funding_harvester.signals import LegCosts
from venues.model import InstrumentId, InstrumentKind

VENUE = "binance"
T0_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC
H_MS = 3_600_000
H8_S = 28_800
COSTS = LegCosts(spot_taker_fee_bps=10.0, perp_taker_fee_bps=5.0, slippage_bps=2.0)


def sid(symbol: str) -> InstrumentId:
    """The Binance spot of ``symbol`` (``BTCUSDT``)."""
    return InstrumentId(VENUE, InstrumentKind.SPOT, symbol)


def pid(symbol: str) -> InstrumentId:
    """The Binance perp of ``symbol``."""
    return InstrumentId(VENUE, InstrumentKind.PERP, symbol)
