"""Hyperliquid in the contract suite: :class:`HyperliquidVenue` against the stateful respx fake
of ``tests/fakes/hyperliquid.py`` (perps only: ``spot_id=None``)."""

from __future__ import annotations

from decimal import Decimal

import httpx
from pydantic import SecretStr

from tests.contract.harness import BarWindow, ExpectedBar, VenueHarness
from tests.fakes.hyperliquid import (
    ACCOUNT_ADDRESS,
    API_WALLET_KEY,
    BASE_URL,
    FakeHyperliquid,
    FakeTime,
    load,
)
from venues.base import Credentials
from venues.hyperliquid.client import create_venue
from venues.model import InstrumentId, InstrumentKind
from venues.ratelimit import RateLimiter

NAME = "hyperliquid"


async def make_harness() -> VenueHarness:
    """BTC perp at 84,000 USDC; orders of 0.001 BTC ($84, above the $10 minimum)."""
    time = FakeTime()
    fake = FakeHyperliquid(time)
    venue = create_venue(
        Credentials(SecretStr(ACCOUNT_ADDRESS), SecretStr(API_WALLET_KEY)),
        rest_url=BASE_URL,
        ws_url="ws://127.0.0.1:1/ws",  # streams are tested against a local server elsewhere
        transport=httpx.MockTransport(fake.router.handler),
        sleep=time.sleep,
        now_ms=time.now_ms,
        limiter=RateLimiter(1_200, 60.0, clock=time.monotonic_s, sleep=time.sleep),
    )
    perp = InstrumentId("hyperliquid", InstrumentKind.PERP, "BTC")

    async def seed_market() -> None:
        fake.seed("BTC", Decimal(84_000))

    async def settle_funding() -> None:
        fake.settle(Decimal("0.0000125"))

    async def seed_bars() -> BarWindow:
        """The recorded ``candle_snapshot_btc_1h.json`` (five 1 h candles) the fake serves;
        the window leaves out the first and the last."""
        rows = load("candle_snapshot_btc_1h.json")
        expected = tuple(
            ExpectedBar(r["t"], float(r["o"]), float(r["h"]), float(r["l"]), float(r["c"]),
                        float(r["v"]))
            for r in rows[1:4]
        )  # fmt: skip
        return BarWindow(rows[1]["t"], rows[4]["t"], expected)

    return VenueHarness(
        venue=venue,
        perp_id=perp,
        spot_id=None,
        order_qty=Decimal("0.001"),
        seed_market=seed_market,
        settle_funding=settle_funding,
        fail_next=fake.fail_next,
        slept_s=time.slept_s,
        seed_bars=seed_bars,
    )
