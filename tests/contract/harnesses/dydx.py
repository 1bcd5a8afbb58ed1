"""dYdX v4 (market data only) in the contract suite: :class:`DydxMarketData`, built by the
registry's factory ``venues.dydx.client.create_venue``, against the stateful respx fake of
``tests/fakes/dydx.py`` (perps only: ``spot_id=None``; no trading scenarios)."""

from __future__ import annotations

from decimal import Decimal

from tests.contract.harness import BarWindow, MarketDataHarness, hourly_rows, window_of
from tests.fakes.dydx import BASE_URL, HOUR_MS, FakeDydx
from venues.dydx.client import create_venue
from venues.model import InstrumentId, InstrumentKind

NAME = "dydx"
MARKET_DATA_ONLY = True


async def make_harness() -> MarketDataHarness:
    """BTC-USD with its recorded market (oracle 89,919.2 → seeded 90,000) and funding rows;
    1,500 hourly candles up to the one still forming, so a window pages (1,000 a page)."""
    fake = FakeDydx()
    venue = create_venue(
        rest_url=BASE_URL,
        ws_url="ws://127.0.0.1:9/v4/ws",  # streams are tested against a local server elsewhere
        transport=fake.transport,
        sleep=fake.sleep,
    )
    perp = InstrumentId("dydx", InstrumentKind.PERP, "BTC-USD")

    async def seed_market() -> None:
        fake.seed_price("BTC-USD", Decimal(90_000), Decimal("0.0000025"))

    async def settle_funding() -> None:
        fake.settle_funding("BTC-USD")

    async def seed_bars() -> BarWindow:
        forming_ms = fake.now_ms // HOUR_MS * HOUR_MS  # the candle still forming
        rows = hourly_rows(1_500, Decimal(90_000), first_ms=forming_ms - 1_499 * HOUR_MS)
        fake.set_candles("BTC-USD", "1HOUR", rows)
        return window_of(rows, rows[100].ts_open_ms, forming_ms)  # 1,399 closed bars

    return MarketDataHarness(
        venue=venue,
        perp_id=perp,
        spot_id=None,
        seed_market=seed_market,
        settle_funding=settle_funding,
        fail_next=fake.fail_next,
        slept_s=fake.slept_s,
        seed_bars=seed_bars,
    )
