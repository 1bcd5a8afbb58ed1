"""Deribit's inverse ``BTC-PERPETUAL`` in the contract suite (amounts in USD contracts of
10 USD at the venue, base units here; ``venues.deribit.units``), behind the stateful fake of
``tests/fakes/deribit.py``, as the agent builds it (``venues.registry``)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import SecretStr

from tests.contract.harness import BarWindow, VenueHarness, hourly_rows, window_of
from tests.fakes.deribit import BASE_URL, CLIENT_ID, CLIENT_SECRET, INVERSE, DeribitFake
from venues.base import Credentials
from venues.model import InstrumentId, InstrumentKind
from venues.registry import create_trading_venue

NAME = "deribit_inverse"


async def make_harness() -> VenueHarness:
    """``BTC-PERPETUAL`` at 50,000 USD: lot step 0.0002 BTC (one 10 USD contract is
    0.0002 BTC there, exactly), orders of 0.01 BTC = 500 USD = 50 contracts."""
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
    perp = InstrumentId("deribit", InstrumentKind.PERP, INVERSE)
    fake.seed_price(INVERSE, Decimal(50_000))

    async def seed_market() -> None:
        fake.seed_price(INVERSE, Decimal(50_000))

    async def settle_funding() -> None:
        fake.settle_funding()

    async def seed_bars() -> BarWindow:
        rows = hourly_rows(48, Decimal(50_000))
        fake.candles[INVERSE] = [
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
