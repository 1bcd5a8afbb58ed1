"""Deribit API v2 in the contract suite, behind the stateful respx fake of
``tests/fakes/deribit.py``, as the agent builds it (``venues.registry``): the linear
``BTC_USDC-PERPETUAL`` (amounts in BTC); Deribit lists no spot pair here."""

from __future__ import annotations

from decimal import Decimal

from pydantic import SecretStr

from tests.contract.harness import BarWindow, VenueHarness, hourly_rows, window_of
from tests.fakes.deribit import BASE_URL, CLIENT_ID, CLIENT_SECRET, PERP, DeribitFake
from venues.base import Credentials
from venues.model import InstrumentId, InstrumentKind
from venues.registry import create_trading_venue

NAME = "deribit"


async def make_harness() -> VenueHarness:
    """``BTC_USDC-PERPETUAL`` at 60,000 USDC; orders of 0.01 BTC (min 0.001)."""
    fake = DeribitFake()
    credentials = Credentials(SecretStr(CLIENT_ID), SecretStr(CLIENT_SECRET))
    venue = create_trading_venue(
        "deribit",
        credentials,
        rest_url=BASE_URL,
        ws_url="ws://127.0.0.1:9",  # streams are tested in tests/unit/test_deribit_streams.py
        transport=fake.transport,
        sleep=fake.sleep,
    )
    perp = InstrumentId("deribit", InstrumentKind.PERP, PERP)
    fake.seed_price(PERP, Decimal(60_000))
    fake.seed_price("BTC-PERPETUAL", Decimal(60_000))  # sizes the inverse perp's lot step

    async def seed_market() -> None:
        fake.seed_price(PERP, Decimal(60_000))

    async def settle_funding() -> None:
        fake.settle_funding()

    async def seed_bars() -> BarWindow:
        rows = hourly_rows(48, Decimal(60_000))
        fake.candles[PERP] = [
            (r.ts_open_ms, float(r.open), float(r.high), float(r.low), float(r.close),
             float(r.volume))
            for r in rows
        ]  # fmt: skip
        return window_of(rows, rows[12].ts_open_ms, rows[36].ts_open_ms)

    return VenueHarness(
        venue,
        perp,
        None,
        Decimal("0.01"),
        seed_market,
        settle_funding,
        fail_next=fake.fail_next,
        slept_s=fake.slept_s,
        seed_bars=seed_bars,
    )
