"""Binance (USD-M perps + spot under one venue) in the contract suite, against the stateful
respx fake of ``tests/fakes/binance.py``, built through the registry's ``create_venue``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from tests.contract.harness import BarWindow, OhlcvRow, VenueHarness, hourly_rows, window_of
from tests.fakes.binance import (
    API_KEY,
    API_SECRET,
    DEFAULT_URL,
    BinanceFake,
    FakeSleep,
    load_fixture,
)
from venues.base import Credentials
from venues.binance.venue import create_venue
from venues.model import HOUR_MS, InstrumentId, InstrumentKind

NAME = "binance"


async def make_harness() -> VenueHarness:
    """``binance`` with BTCUSDT perp marked at 60,000 and the spot book 59,990 / 60,010.

    Order size 0.01 BTC: on the 0.001 lot step, above min qty and the 5 USDT min notional.
    """
    fake = BinanceFake()
    sleep = FakeSleep()
    venue = create_venue(
        Credentials(SecretStr(API_KEY), SecretStr(API_SECRET)),
        rest_url=DEFAULT_URL,
        transport=fake.transport,
        sleep=sleep,
    )

    async def seed_market() -> None:
        fake.seed(
            marks={"BTCUSDT": Decimal(60_000), "ETHUSDT": Decimal(3_000)},
            books={"BTCUSDT": (Decimal(59_990), Decimal(60_010))},
        )

    async def settle_funding() -> None:
        fake.settle_funding("BTCUSDT")

    async def seed_bars() -> BarWindow:
        rows = hourly_rows(48, Decimal(60_000))
        fake.perp_klines = [_kline(row) for row in rows]
        return window_of(rows, rows[12].ts_open_ms, rows[36].ts_open_ms)

    return VenueHarness(
        venue=venue,
        perp_id=InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT"),
        spot_id=InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT"),
        order_qty=Decimal("0.01"),
        seed_market=seed_market,
        settle_funding=settle_funding,
        fail_next=fake.fail_next,
        slept_s=sleep.slept_s,
        seed_bars=seed_bars,
    )


def _kline(row: OhlcvRow) -> list[Any]:
    """``row`` as a ``/fapi/v1/klines`` row (the recorded ``klines.json`` row as template):
    ``[openTime, open, high, low, close, volume, closeTime (last ms), quoteVolume, ...]``."""
    kline: list[Any] = list(load_fixture("usdm", "klines.json")[0])
    kline[0:7] = [row.ts_open_ms, str(row.open), str(row.high), str(row.low), str(row.close),
                  str(row.volume), row.ts_open_ms + HOUR_MS - 1]  # fmt: skip
    kline[7] = str(row.volume * row.close)
    return kline
