"""OKX v5 in the contract suite, behind the stateful respx fake of ``tests/fakes/okx.py``, as
the agent builds it (``venues.registry``: instruments renamed to ``BTCUSDT``, the venue
receiving its own ``BTC-USDT-SWAP`` / ``BTC-USDT``)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import SecretStr

from tests.contract.harness import BarWindow, VenueHarness, hourly_rows, window_of
from tests.fakes.okx import API_KEY, API_PASSPHRASE, API_SECRET, BASE_URL, OkxFake
from venues.base import Credentials
from venues.model import InstrumentId, InstrumentKind
from venues.registry import create_trading_venue

NAME = "okx"


async def make_harness() -> VenueHarness:
    """``BTC-USDT-SWAP`` (1 contract = 0.01 BTC) and ``BTC-USDT`` spot, BTC at 60,000 USDT;
    orders of 0.01 BTC (one contract)."""
    fake = OkxFake()
    credentials = Credentials(SecretStr(API_KEY), SecretStr(API_SECRET), SecretStr(API_PASSPHRASE))
    venue = create_trading_venue(
        "okx", credentials, rest_url=BASE_URL, transport=fake.transport, sleep=fake.sleep
    )
    perp = InstrumentId("okx", InstrumentKind.PERP, "BTCUSDT")
    spot = InstrumentId("okx", InstrumentKind.SPOT, "BTCUSDT")
    for inst_id in ("BTC-USDT-SWAP", "ETH-USDT-SWAP"):
        fake.seed_price(inst_id, Decimal(60_000) if inst_id.startswith("BTC") else Decimal(3_000))

    async def seed_market() -> None:
        fake.seed_price("BTC-USDT-SWAP", Decimal(60_000))
        fake.seed_price("BTC-USDT", Decimal(59_990))

    async def settle_funding() -> None:
        fake.settle_funding()

    async def seed_bars() -> BarWindow:
        """Hourly ``history-candles`` rows ``[ts, o, h, l, c, vol (contracts), volCcy (BTC),
        volCcyQuote, confirm]`` of the swap (1 contract = ``ctVal`` BTC)."""
        ct_val = Decimal(fake.instruments["BTC-USDT-SWAP"]["ctVal"])
        rows = hourly_rows(48, Decimal(60_000))
        fake.candles["BTC-USDT-SWAP"] = [
            [str(r.ts_open_ms), str(r.open), str(r.high), str(r.low), str(r.close),
             str(r.volume / ct_val), str(r.volume), str(r.volume * r.close), "1"]
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
