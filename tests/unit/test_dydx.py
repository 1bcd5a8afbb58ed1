"""DydxMarketData + DydxIndexerRest against recorded Indexer payloads served by respx.

Payloads come from ``tests/fixtures/dydx-v4/`` (Indexer recordings and doc samples). Expected values
are written by hand from the fixture (times converted to epoch ms by hand; tick/step from the
quantum fields as the dYdX docs "Quantums" define them, https://docs.dydx.exchange). Paging tests
build pages of the recorded row shape.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.unit.conftest import FakeClock
from venues.base import MarketDataSource, Venue
from venues.dydx.client import DydxMarketData, create_venue
from venues.dydx.rest import DydxIndexerRest
from venues.errors import ProtocolError, RateLimited, VenueError, VenueUnavailable
from venues.model import HOUR_MS, InstrumentId, InstrumentKind, base_asset

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dydx-v4"
BASE_URL = "https://indexer.example.test"
MARKETS = "/v4/perpetualMarkets"
FUNDING = "/v4/historicalFunding/BTC-USD"
CANDLES = "/v4/candles/perpetualMarkets/BTC-USD"
NOW_MS = 1_765_210_290_000  # 2025-12-08T16:11:30Z
BTC = InstrumentId("dydx", InstrumentKind.PERP, "BTC-USD")
ETH = InstrumentId("dydx", InstrumentKind.PERP, "ETH-USD")
SOL = InstrumentId("dydx", InstrumentKind.PERP, "SOL-USD")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)


@pytest.fixture
async def venue(router: respx.MockRouter, clock: FakeClock) -> AsyncIterator[DydxMarketData]:
    rest = DydxIndexerRest.create(
        BASE_URL, transport=httpx.MockTransport(router.handler), clock=clock, sleep=clock.sleep
    )
    market_data = DydxMarketData(rest, now_ms=lambda: NOW_MS, sleep=clock.sleep)
    yield market_data
    await market_data.close()


def params_of(route: respx.Route, call: int = 0) -> dict[str, str]:
    return dict(route.calls[call].request.url.params)


# --- factory and protocol ------------------------------------------------------------------


async def test_create_venue_is_a_market_data_source_not_a_venue() -> None:
    source = create_venue()
    try:
        assert source.name == "dydx"
        assert isinstance(source, MarketDataSource)
        assert not isinstance(source, Venue)
    finally:
        await source.close()
        await source.close()  # idempotent


def test_ticker_symbol_maps_to_its_base_asset() -> None:
    assert base_asset("BTC-USD") == "BTC"
    assert str(BTC) == "dydx:perp:BTC-USD"


# --- instruments and current funding -------------------------------------------------------


async def test_load_instruments_derives_tick_and_step_from_quantums(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    router.get(MARKETS).respond(json=load("perpetual_markets_btc_eth_sol.json"))
    instruments = await venue.load_instruments()
    assert set(instruments) == {BTC, ETH, SOL}
    btc, eth, sol = instruments[BTC], instruments[ETH], instruments[SOL]
    # BTC: 100000 × 10^(−9 + 10 − 6) = 1; 1000000 × 10^−10 = 0.0001 (dYdX docs "Quantums").
    assert (btc.tick_size, btc.lot_step, btc.min_qty) == (
        Decimal(1),
        Decimal("0.0001"),
        Decimal("0.0001"),
    )
    assert (eth.tick_size, eth.lot_step) == (Decimal("0.1"), Decimal("0.001"))
    assert (sol.tick_size, sol.lot_step) == (Decimal("0.01"), Decimal("0.1"))
    assert (btc.base, btc.quote, btc.funding_interval_s) == ("BTC", "USDC", 3600)
    assert btc.min_notional_usd == 0
    assert btc.is_perp


async def test_load_instruments_skips_markets_not_listed(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    payload = load("perpetual_markets_btc_eth_sol.json")
    payload["markets"]["ETH-USD"]["status"] = "FINAL_SETTLEMENT"
    router.get(MARKETS).respond(json=payload)
    assert set(await venue.load_instruments()) == {BTC, SOL}


async def test_fetch_funding_one_ticker_uses_the_ticker_filter(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    payload = load("perpetual_markets_btc_eth_sol.json")
    route = router.get(MARKETS).respond(
        json={"markets": {"BTC-USD": payload["markets"]["BTC-USD"]}}
    )
    (rate,) = await venue.fetch_funding([BTC])
    assert params_of(route) == {"ticker": "BTC-USD"}
    assert rate.instrument_id == BTC
    assert rate.rate == pytest.approx(0.00000254545454545455, rel=1e-15)
    assert rate.interval_s == 3600
    assert rate.ts_funding_ms == 1_765_213_200_000  # 17:00 UTC, the next hourly tick
    assert rate.ts_next_funding_ms == 1_765_213_200_000 + HOUR_MS
    assert rate.mark_price == 89919.2


async def test_fetch_funding_several_and_missing_ticker(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    route = router.get(MARKETS).respond(json=load("perpetual_markets_btc_eth_sol.json"))
    rates = await venue.fetch_funding([SOL, ETH])
    assert params_of(route) == {}
    assert [r.rate for r in rates] == [-0.00000143181818181818, 0.00000125]
    doge = InstrumentId("dydx", InstrumentKind.PERP, "DOGE-USD")
    with pytest.raises(ProtocolError, match="DOGE-USD"):
        await venue.fetch_funding([BTC, doge])


# --- funding history -----------------------------------------------------------------------


async def test_fetch_funding_history_recorded_page_oldest_first(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    route = router.get(FUNDING).respond(json=load("historical_funding_btc.json"))
    start_ms = 1_765_202_400_000  # 14:00
    end_ms = 1_765_211_400_000  # 16:30
    rates = await venue.fetch_funding_history(BTC, start_ms, end_ms)
    assert params_of(route) == {"limit": "1000", "effectiveBeforeOrAt": "2025-12-08T16:29:59.999Z"}
    assert [r.ts_funding_ms for r in rates] == [
        1_765_202_400_112,
        1_765_206_000_586,
        1_765_209_600_219,
    ]
    assert [r.rate for r in rates] == [0.000000625, 0.000000375, 0.000002375]
    assert [r.mark_price for r in rates] == [91459.59191, 90860.48604, 89993.8]
    assert {r.interval_s for r in rates} == {3600}
    assert rates[0].ts_next_funding_ms == 1_765_206_000_000  # 15:00


async def test_fetch_funding_history_window_is_half_open(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    router.get(FUNDING).respond(json=load("historical_funding_btc.json"))
    rates = await venue.fetch_funding_history(BTC, 1_765_202_400_113, 1_765_209_600_219)
    assert [r.ts_funding_ms for r in rates] == [1_765_206_000_586]


def funding_rows(first_height: int, first_ms: int, count: int) -> list[dict[str, Any]]:
    """``count`` rows of the recorded shape, newest first, one per hour going back."""
    template = load("historical_funding_btc.json")["historicalFunding"][0]
    rows = []
    for k in range(count):
        row = copy.deepcopy(template)
        ts_ms = first_ms - k * HOUR_MS
        seconds, millis = divmod(ts_ms, 1000)
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        row["effectiveAt"] = f"{stamp}.{millis:03d}Z"
        row["effectiveAtHeight"] = str(first_height - k * 5000)
        rows.append(row)
    return rows


async def test_fetch_funding_history_pages_back_by_height(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    newest_ms = 1_765_209_600_219
    page1 = funding_rows(66_622_979, newest_ms, 1000)
    page2 = funding_rows(66_622_979 - 1000 * 5000, newest_ms - 1000 * HOUR_MS, 300)
    route = router.get(FUNDING).mock(
        side_effect=[
            httpx.Response(200, json={"historicalFunding": page1}),
            httpx.Response(200, json={"historicalFunding": page2}),
        ]
    )
    start_ms = newest_ms - 1299 * HOUR_MS
    rates = await venue.fetch_funding_history(BTC, start_ms, newest_ms + 1)
    assert len(rates) == 1300
    assert rates[0].ts_funding_ms == start_ms
    assert rates[-1].ts_funding_ms == newest_ms
    oldest_height_page1 = 66_622_979 - 999 * 5000
    assert params_of(route, 1) == {
        "limit": "1000",
        "effectiveBeforeOrAtHeight": str(oldest_height_page1 - 1),
    }


# --- candles -------------------------------------------------------------------------------


async def test_fetch_bars_recorded_candles_oldest_first(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    route = router.get(CANDLES).respond(json=load("candles_btc_1min.json"))
    start_ms, end_ms = 1_765_210_140_000, 1_765_210_320_000  # 16:09, 16:12
    bars = await venue.fetch_bars(BTC, start_ms, end_ms, 60)
    assert params_of(route) == {
        "resolution": "1MIN",
        "limit": "1000",
        "fromISO": "2025-12-08T16:09:00.000Z",
        "toISO": "2025-12-08T16:12:00.000Z",
    }
    assert [b.ts_open_ms for b in bars] == [start_ms, start_ms + 60_000, start_ms + 120_000]
    first = bars[0]
    assert (first.open, first.high, first.low, first.close) == (90002, 90035, 89922, 90035)
    assert first.volume == 1.2221
    assert first.ts_close_ms == start_ms + 60_000


def hourly_candles(newest_open_ms: int, count: int) -> list[dict[str, Any]]:
    template = load("candles_btc_1min.json")["candles"][0]
    rows = []
    for k in range(count):
        row = dict(template, resolution="1HOUR")
        ts_s = (newest_open_ms - k * HOUR_MS) // 1000
        row["startedAt"] = datetime.fromtimestamp(ts_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        rows.append(row)
    return rows


async def test_fetch_bars_pages_back_with_to_iso(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    end_ms = 1_765_209_600_000  # 2025-12-08T16:00Z, exclusive
    start_ms = end_ms - 1200 * HOUR_MS
    route = router.get(CANDLES).mock(
        side_effect=[
            httpx.Response(200, json={"candles": hourly_candles(end_ms - HOUR_MS, 1000)}),
            httpx.Response(200, json={"candles": hourly_candles(end_ms - 1001 * HOUR_MS, 200)}),
        ]
    )
    bars = await venue.fetch_bars(BTC, start_ms, end_ms, 3600)
    assert len(bars) == 1200
    assert [b.ts_open_ms for b in bars] == [start_ms + k * HOUR_MS for k in range(1200)]
    # The second page ends where the first one's oldest candle started (toISO exclusive).
    oldest_ms = end_ms - 1000 * HOUR_MS  # 2025-10-28T00:00Z
    assert params_of(route, 1)["toISO"] == "2025-10-28T00:00:00.000Z"
    assert oldest_ms == 1_761_609_600_000


async def test_fetch_bars_rejects_spot_and_unknown_resolution(venue: DydxMarketData) -> None:
    spot = InstrumentId("dydx", InstrumentKind.SPOT, "BTC-USD")
    with pytest.raises(VenueError, match="perpetuals only"):
        await venue.fetch_bars(spot, 0, HOUR_MS, 3600)
    with pytest.raises(VenueError, match="no candle resolution of 7200"):
        await venue.fetch_bars(BTC, 0, HOUR_MS, 7200)


# --- errors (errors.json) ------------------------------------------------------------------


async def test_invalid_ticker_400_is_a_venue_error_with_the_message(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    body = load("errors.json")["http_400_invalid_ticker"]
    router.get("/v4/candles/perpetualMarkets/FOO-USD").respond(400, json=body)
    foo = InstrumentId("dydx", InstrumentKind.PERP, "FOO-USD")
    with pytest.raises(VenueError) as info:
        await venue.fetch_bars(foo, 0, HOUR_MS, 3600)
    assert type(info.value) is VenueError
    assert info.value.code == "HTTP 400"
    assert "ticker must be a valid ticker (BTC-USD, etc)" in str(info.value)
    assert "param ticker='FOO-USD'" in str(info.value)


async def test_429_retry_after_is_milliseconds_then_success(
    router: respx.MockRouter, venue: DydxMarketData, clock: FakeClock
) -> None:
    body = load("errors.json")["http_429_rate_limited"]
    route = router.get(MARKETS).mock(
        side_effect=[
            httpx.Response(429, json=body, headers={"Retry-After": "2500"}),
            httpx.Response(200, json=load("perpetual_markets_btc_eth_sol.json")),
        ]
    )
    assert len(await venue.load_instruments()) == 3
    assert route.call_count == 2
    assert clock.sleeps_s  # waited before the retry ...
    assert sum(clock.sleeps_s) >= 2.5  # ... 2500 ms, not 2500 s
    assert sum(clock.sleeps_s) < 60


async def test_429_exhausted_raises_rate_limited(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    body = load("errors.json")["http_429_rate_limited"]
    router.get(MARKETS).respond(429, json=body, headers={"Retry-After": "1200"})
    with pytest.raises(RateLimited) as info:
        await venue.load_instruments()
    assert info.value.retry_after_s == 1.2
    assert "Too many requests" in str(info.value)


async def test_500_then_success_and_500_exhausted(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    body = load("errors.json")["http_500"]
    route = router.get(FUNDING).mock(
        side_effect=[
            httpx.Response(500, json=body),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=load("historical_funding_btc.json")),
        ]
    )
    assert len(await venue.fetch_funding_history(BTC, 0, 1_765_209_600_220)) == 3
    assert route.call_count == 3
    router.get(MARKETS).respond(500, json=body)
    with pytest.raises(VenueUnavailable, match="Internal Server Error"):
        await venue.load_instruments()


async def test_limit_400_is_not_retried(router: respx.MockRouter, venue: DydxMarketData) -> None:
    route = router.get(FUNDING).respond(400, json=load("errors.json")["http_400_limit"])
    with pytest.raises(VenueError, match="not greater than max: 1000"):
        await venue.fetch_funding_history(BTC, 0, HOUR_MS)
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("path", "payload", "call"),
    [
        (MARKETS, {"markets": []}, "instruments"),
        (
            MARKETS,
            {"markets": {"BTC-USD": {"ticker": "BTC-USD", "status": "ACTIVE"}}},
            "instruments",
        ),
        (FUNDING, {"historicalFunding": [{"rate": "x"}]}, "funding"),
        (FUNDING, {"oops": []}, "funding"),
        (CANDLES, {"candles": [{"startedAt": "yesterday", "open": "1"}]}, "bars"),
        (CANDLES, [1, 2, 3], "bars"),
    ],
)
async def test_malformed_payloads_raise_protocol_error(
    router: respx.MockRouter, venue: DydxMarketData, path: str, payload: Any, call: str
) -> None:
    router.get(path).respond(json=payload)
    calls = {
        "instruments": venue.load_instruments,
        "funding": lambda: venue.fetch_funding_history(BTC, 0, HOUR_MS),
        "bars": lambda: venue.fetch_bars(BTC, 0, HOUR_MS, 3600),
    }
    with pytest.raises(ProtocolError):
        await calls[call]()


async def test_inconsistent_candle_is_protocol_error(
    router: respx.MockRouter, venue: DydxMarketData
) -> None:
    payload = load("candles_btc_1min.json")
    payload["candles"][0]["high"] = "1"
    router.get(CANDLES).respond(json=payload)
    with pytest.raises(ProtocolError, match="inconsistent OHLC"):
        await venue.fetch_bars(BTC, 1_765_210_140_000, 1_765_210_320_000, 60)
