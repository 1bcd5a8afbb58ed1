"""dYdX ``v4_markets`` oracle-price marks against a real local websocket server (127.0.0.1).

The server replays recorded frames (``tests/fixtures/dydx-v4/ws_*.json``, some with the ticker
or price changed to build a scenario), drops the connection mid-stream, goes silent or sends
an error frame; the REST resync is served by respx. Expected marks are written by hand.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from websockets.asyncio.server import ServerConnection

from tests.support.ws_server import ScriptedServer, running
from venues.dydx.client import DydxMarketData
from venues.dydx.rest import DydxIndexerRest
from venues.dydx.streams import MarkDeduper, frame_marks
from venues.errors import ProtocolError, VenueUnavailable
from venues.model import InstrumentId, InstrumentKind, MarkPrice
from venues.ws import Backoff

pytestmark = pytest.mark.timeout(10)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dydx-v4"
BASE_URL = "https://indexer.example.test"
BTC = InstrumentId("dydx", InstrumentKind.PERP, "BTC-USD")
JASMY = InstrumentId("dydx", InstrumentKind.PERP, "JASMY-USD")
T0_MS = 1_723_915_480_000  # 2024-08-17T17:24:40Z, local clock at the start
JASMY_TS_MS = 1_723_915_476_330  # effectiveAt of ws_markets_channel_data_oracle.json
SUBSCRIBE = {"type": "subscribe", "channel": "v4_markets", "batched": False}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def snapshot(btc_price: str) -> dict[str, Any]:
    frame = load("ws_markets_subscribed.json")
    frame["contents"]["markets"]["BTC-USD"]["oraclePrice"] = btc_price
    return frame


def oracle(ticker: str, price: str, effective_at: str) -> dict[str, Any]:
    frame = load("ws_markets_channel_data_oracle.json")
    row = dict(frame["contents"]["oraclePrices"]["JASMY-USD"])
    row.update(oraclePrice=price, effectiveAt=effective_at)
    frame["contents"]["oraclePrices"] = {ticker: row}
    return frame


class Recorder:
    def __init__(self) -> None:
        self.sleeps_s: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        await asyncio.sleep(0)


async def send_all(ws: ServerConnection, *frames: Any) -> None:
    for frame in frames:
        await ws.send(json.dumps(frame))


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def market_data(
    router: respx.MockRouter, recorder: Recorder, url: str, **ws: Any
) -> DydxMarketData:
    rest = DydxIndexerRest.create(BASE_URL, transport=httpx.MockTransport(router.handler))
    ticks = itertools.count(T0_MS)
    overrides = {
        "proxy": None,
        "protocol_ping_interval_s": None,
        "backoff": Backoff(initial_s=0.01, max_s=0.08, jitter=0.0),
        "watchdog_s": 5.0,
        **ws,
    }
    return DydxMarketData(
        rest, ws_url=url, now_ms=lambda: next(ticks), sleep=recorder.sleep, ws_overrides=overrides
    )


async def take(source: DydxMarketData, ids: list[InstrumentId], count: int) -> list[MarkPrice]:
    marks: AsyncIterator[MarkPrice] = source.stream_marks(ids)
    async with aclosing(marks) as stream:  # type: ignore[type-var]
        return [await anext(stream) for _ in range(count)]


async def test_drop_reconnect_resubscribe_resync_without_duplicates_or_regressions(
    router: respx.MockRouter, recorder: Recorder
) -> None:
    jasmy = oracle("JASMY-USD", "0.02069413882", "2024-08-17T17:24:36.330Z")

    async def first(ws: ServerConnection, server: ScriptedServer) -> None:
        assert json.loads(await server.recv(ws)) == SUBSCRIBE
        older = oracle("JASMY-USD", "0.0205", "2024-08-17T17:24:35.000Z")
        trading = load("ws_markets_channel_data_trading.json")
        await send_all(ws, load("ws_connected.json"), snapshot("27752.92"), jasmy, jasmy, older)
        await send_all(ws, trading)
        ws.transport.abort()  # TCP reset mid-stream, no close frame

    async def second(ws: ServerConnection, server: ScriptedServer) -> None:
        assert json.loads(await server.recv(ws)) == SUBSCRIBE
        await send_all(
            ws,
            load("ws_connected.json"),
            snapshot("27800.5"),  # same price as the REST resync: not yielded twice
            oracle("JASMY-USD", "0.0207", "2024-08-17T17:24:37.330Z"),
            oracle("BTC-USD", "27790", "2024-08-17T17:24:30.000Z"),  # before the resync stamp
            oracle("BTC-USD", "27810", "2024-08-17T17:24:50.000Z"),
        )
        await ws.wait_closed()

    rest_markets = load("perpetual_markets_btc_eth_sol.json")
    rest_markets["markets"]["BTC-USD"]["oraclePrice"] = "27800.5"
    route = router.get("/v4/perpetualMarkets").respond(json=rest_markets)
    server = ScriptedServer([first, second])
    async with running(server, "/v4/ws") as url:
        source = market_data(router, recorder, url)
        got = await take(source, [BTC, JASMY], 5)
        await source.close()

    assert [(m.instrument_id, m.mark_price) for m in got] == [
        (BTC, 27752.92),  # conn 1 snapshot
        (JASMY, 0.02069413882),  # oracle update; its duplicate and an older one dropped
        (BTC, 27800.5),  # REST resync after the reconnect
        (JASMY, 0.0207),
        (BTC, 27810.0),  # the stale 27790 update was dropped
    ]
    assert got[1].ts_event_ms == JASMY_TS_MS
    assert got[3].ts_event_ms == JASMY_TS_MS + 1000
    assert got[4].ts_event_ms == 1_723_915_490_000
    assert got[0].ts_event_ms >= T0_MS
    assert got[2].ts_event_ms > got[0].ts_event_ms
    assert route.call_count == 1
    assert server.connections == 2
    assert [len(frames) for frames in server.received] == [1, 1]  # subscribe on each connect
    assert recorder.sleeps_s == [0.01]
    for instrument in (BTC, JASMY):
        stamps = [m.ts_event_ms for m in got if m.instrument_id == instrument]
        assert stamps == sorted(set(stamps))


async def test_silent_stream_trips_the_watchdog_and_reconnects(
    router: respx.MockRouter, recorder: Recorder
) -> None:
    async def silent(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send_all(ws, snapshot("27752.92"))
        await ws.wait_closed()

    router.get("/v4/perpetualMarkets").respond(json=load("perpetual_markets_btc_eth_sol.json"))
    server = ScriptedServer([silent])
    async with running(server, "/v4/ws") as url:
        source = market_data(router, recorder, url, watchdog_s=0.3)
        got = await take(source, [BTC], 2)
        await source.close()
    assert [m.mark_price for m in got] == [27752.92, 89919.2]  # snapshot, then REST resync
    assert server.connections == 2


async def test_internal_error_frame_restarts_the_connection(
    router: respx.MockRouter, recorder: Recorder
) -> None:
    error = load("errors.json")["ws_error_fetch_failed"]

    async def failing(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send_all(ws, load("ws_connected.json"), error)
        await ws.wait_closed()

    async def healthy(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send_all(ws, snapshot("27752.92"))
        await ws.wait_closed()

    server = ScriptedServer([failing, healthy])
    async with running(server, "/v4/ws") as url:
        source = market_data(router, recorder, url)
        got = await take(source, [BTC], 1)
        await source.close()
    assert [m.mark_price for m in got] == [27752.92]
    assert server.connections == 2
    assert recorder.sleeps_s == [0.01]


async def test_invalid_subscription_error_frame_is_raised(
    router: respx.MockRouter, recorder: Recorder
) -> None:
    async def invalid(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send_all(ws, load("errors.json")["ws_error_invalid_id"])
        await ws.wait_closed()

    server = ScriptedServer([invalid])
    async with running(server, "/v4/ws") as url:
        source = market_data(router, recorder, url)
        with pytest.raises(ProtocolError, match="Invalid subscription id"):
            await take(source, [BTC], 1)
        await source.close()
    assert server.connections == 1


# --- pure parts ----------------------------------------------------------------------------


def test_frame_marks_of_each_frame_type() -> None:
    tickers = ("BTC-USD", "ETH-USD", "TRY-USD")
    assert frame_marks(load("ws_connected.json"), tickers, T0_MS) == []
    assert frame_marks(load("ws_markets_channel_data_trading.json"), tickers, T0_MS) == []
    assert frame_marks(load("ws_markets_channel_data_new_market.json"), tickers, T0_MS) == []
    snap = frame_marks(load("ws_markets_subscribed.json"), tickers, T0_MS)
    assert [(m.instrument_id.symbol, m.mark_price, s) for m, s in snap] == [
        ("BTC-USD", 27752.92, True),
        ("ETH-USD", 1808.2, True),
    ]
    assert {m.ts_event_ms for m, _ in snap} == {T0_MS}
    batch = {
        "type": "channel_batch_data",
        "channel": "v4_markets",
        "contents": [
            oracle("BTC-USD", "1", "2024-08-17T17:24:36.330Z")["contents"],
            oracle("ETH-USD", "2", "2024-08-17T17:24:37.330Z")["contents"],
        ],
    }
    marks = frame_marks(batch, tickers, T0_MS)
    assert [(m.mark_price, m.ts_event_ms, s) for m, s in marks] == [
        (1.0, JASMY_TS_MS, False),
        (2.0, JASMY_TS_MS + 1000, False),
    ]


def test_frame_marks_errors_and_malformed_frames() -> None:
    with pytest.raises(VenueUnavailable, match="could not fetch data"):
        frame_marks(load("errors.json")["ws_error_fetch_failed"], ("BTC-USD",), T0_MS)
    bad = copy.deepcopy(oracle("BTC-USD", "-3", "2024-08-17T17:24:36.330Z"))
    with pytest.raises(ProtocolError, match="oraclePrice"):
        frame_marks(bad, ("BTC-USD",), T0_MS)
    with pytest.raises(ProtocolError):
        frame_marks([1, 2], ("BTC-USD",), T0_MS)


def test_mark_deduper_rules() -> None:
    gate = MarkDeduper()
    assert gate.accept(MarkPrice(BTC, 100.0, 10), snapshot=True)
    assert not gate.accept(MarkPrice(BTC, 100.0, 10), snapshot=False)  # duplicate
    assert not gate.accept(MarkPrice(BTC, 101.0, 9), snapshot=False)  # older
    assert not gate.accept(MarkPrice(BTC, 100.0, 11), snapshot=True)  # same state again
    assert gate.accept(MarkPrice(BTC, 100.0, 12), snapshot=False)  # a new tick, same price
    assert gate.accept(MarkPrice(JASMY, 1.0, 1), snapshot=False)  # per instrument
