"""Bybit v5 in the contract suite: :class:`~venues.bybit.client.BybitVenue` built by
``create_venue`` against the stateful respx fake of ``tests/fakes/bybit.py``."""

from __future__ import annotations

from decimal import Decimal

from pydantic import SecretStr

from tests.contract.harness import BarWindow, VenueHarness, hourly_rows, window_of
from tests.fakes.bybit import API_KEY, API_SECRET, BASE_URL, FakeBybit
from venues.base import Credentials
from venues.bybit.client import create_venue
from venues.model import InstrumentId, InstrumentKind

NAME = "bybit"


async def make_harness() -> VenueHarness:
    """BTCUSDT perp at 60,000 and spot at 59,990 USDT; 0.01 BTC orders (min 0.001, 5 USDT)."""
    fake = FakeBybit()
    venue = create_venue(
        Credentials(SecretStr(API_KEY), SecretStr(API_SECRET)),
        rest_url=BASE_URL,
        ws_url="ws://127.0.0.1:9",  # streams are tested in tests/unit/test_bybit_streams.py
        transport=fake.transport(),
        sleep=fake.sleep,
    )
    perp = InstrumentId("bybit", InstrumentKind.PERP, "BTCUSDT")
    spot = InstrumentId("bybit", InstrumentKind.SPOT, "BTCUSDT")

    async def seed_market() -> None:
        fake.seed_price("linear", "BTCUSDT", Decimal(60_000))
        fake.seed_price("spot", "BTCUSDT", Decimal(59_990))

    async def settle_funding() -> None:
        fake.settle_funding("BTCUSDT", "0.0001")

    async def seed_bars() -> BarWindow:
        rows = hourly_rows(48, Decimal(60_000))
        fake.klines[("linear", "BTCUSDT", "60")] = [
            [str(r.ts_open_ms), str(r.open), str(r.high), str(r.low), str(r.close),
             str(r.volume), str(r.volume * r.close)]
            for r in rows
        ]  # fmt: skip
        return window_of(rows, rows[12].ts_open_ms, rows[36].ts_open_ms)

    return VenueHarness(
        venue,
        perp,
        spot,
        Decimal("0.01"),
        seed_market,
        settle_funding,
        fail_next=fake.fail_next,
        slept_s=fake.slept_s,
        seed_bars=seed_bars,
    )
