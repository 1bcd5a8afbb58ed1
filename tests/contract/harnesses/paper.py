"""The paper venue in the contract suite."""

from __future__ import annotations

from decimal import Decimal

from tests.contract.harness import BARS_FROM_MS, BarWindow, VenueHarness
from venues.model import HOUR_MS, FundingRate, Instrument, InstrumentId, InstrumentKind, VenueFees
from venues.paper import PaperVenue, PaperVenueConfig

NAME = "paper"


async def make_harness() -> VenueHarness:
    """Paper venue with Binance-like BTCUSDT rules, BTC at 60,000 USDT."""
    perp = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    spot = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
    instruments = {
        perp: Instrument(
            perp, "BTC", "USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(100),
            funding_interval_s=28_800,
        ),
        spot: Instrument(
            spot, "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"),
            Decimal(5),
        ),
    }  # fmt: skip
    now_ms = 1_700_000_000_000
    config = PaperVenueConfig(
        name="binance",
        initial_collateral_usd=Decimal(100_000),
        perp_fees=VenueFees(Decimal("0.0002"), Decimal("0.0005")),
        spot_fees=VenueFees(Decimal("0.001"), Decimal("0.001")),
        slippage_bps=Decimal(1),
        perp_leverage=Decimal(2),
    )
    venue = PaperVenue(config, instruments, lambda: now_ms)

    async def seed_market() -> None:
        venue.update_price(perp, 60_000.0)
        venue.update_price(spot, 59_990.0)

    async def settle_funding() -> None:
        venue.settle_funding(FundingRate(perp, 0.0001, 28_800, now_ms, now_ms + 28_800_000))

    async def seed_bars() -> BarWindow:
        """None: the paper venue keeps no history (``fetch_bars`` is always ``[]``; bars come
        from the replay source or the real venue), so a window holds no bar."""
        return BarWindow(BARS_FROM_MS, BARS_FROM_MS + 24 * HOUR_MS, ())

    return VenueHarness(
        venue, perp, spot, Decimal("0.01"), seed_market, settle_funding, seed_bars=seed_bars
    )
