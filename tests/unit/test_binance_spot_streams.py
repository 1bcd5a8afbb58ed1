"""Spot marks (``kline_1s``) and the composite perp + spot mark stream against a real local
websocket server on 127.0.0.1 replaying recorded frames, with REST on the stateful fake.

Frames are the recorded ``ws_kline.json`` (spot) and ``ws_mark_price_combined.json``
(USD-M) with symbol, price and time changed per test; the only waits are the stream's own
short timeouts; backoff sleeps go through a recorder that only yields to the event loop.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from websockets.asyncio.server import ServerConnection

from tests.fakes.binance import API_KEY, API_SECRET, DEFAULT_URL, BinanceFake
from tests.support.ws_server import ScriptedServer, running
from venues.binance.client import BinanceUsdmVenue
from venues.binance.rest import BinanceUsdmRest, make_rest_client
from venues.binance.spot_client import BinanceSpotVenue
from venues.binance.spot_rest import BinanceSpotRest, make_spot_rest_client
from venues.binance.streams import WsSettings
from venues.binance.venue import BinanceVenue
from venues.errors import ProtocolError
from venues.model import InstrumentId, InstrumentKind, MarkPrice
from venues.streams import merge
from venues.ws import Backoff

pytestmark = pytest.mark.timeout(10)

FIXTURES = Path(__file__).parent.parent / "fixtures"
NOW_MS = 1_700_000_000_000
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
SUBSCRIBE_SPOT = {"method": "SUBSCRIBE", "params": ["btcusdt@kline_1s"], "id": 1}


def load(product: str, name: str) -> Any:
    return json.loads((FIXTURES / f"binance-{product}" / name).read_text())


def kline(close: str, event_ms: int) -> dict[str, Any]:
    """The recorded kline event for BTCUSDT in the combined envelope."""
    data = copy.deepcopy(load("spot", "ws_kline.json"))
    data.update(s="BTCUSDT", E=event_ms)
    data["k"].update(s="BTCUSDT", c=close, i="1s")
    return {"stream": "btcusdt@kline_1s", "data": data}


def mark_frame(mark: str, event_ms: int) -> dict[str, Any]:
    frame: dict[str, Any] = copy.deepcopy(load("usdm", "ws_mark_price_combined.json"))
    frame["data"].update(p=mark, E=event_ms)
    return frame


class Recorder:
    """Backoff sleep that records the delay and only yields to the event loop."""

    def __init__(self) -> None:
        self.sleeps_s: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        await asyncio.sleep(0)


def ws_settings(url: str) -> WsSettings:
    return WsSettings(
        base_url=url,
        mark_watchdog_s=5.0,
        backoff=Backoff(initial_s=0.01, max_s=0.05, jitter=0.0),
        open_timeout_s=5.0,
        protocol_ping_interval_s=None,
        proxy=None,
    )


def make_venue(fake: BinanceFake, ws_url: str, sleep: Recorder) -> BinanceVenue:
    key, secret = SecretStr(API_KEY), SecretStr(API_SECRET)
    usdm = make_rest_client(DEFAULT_URL, transport=fake.transport, sleep=sleep)
    spot = make_spot_rest_client(DEFAULT_URL, transport=fake.transport, sleep=sleep)
    settings = ws_settings(ws_url)
    return BinanceVenue(
        BinanceUsdmVenue(
            BinanceUsdmRest(usdm, key, secret, lambda: NOW_MS), ws=settings, sleep=sleep
        ),
        BinanceSpotVenue(
            BinanceSpotRest(spot, key, secret, lambda: NOW_MS), ws=settings, sleep=sleep
        ),
    )


async def take(stream: Any, count: int) -> list[MarkPrice]:
    async with aclosing(stream) as marks:
        return [await anext(marks) for _ in range(count)]


async def test_spot_marks_reconnect_resync_and_never_go_back() -> None:
    fake = BinanceFake(now_ms=lambda: NOW_MS)
    # REST resync after the reconnect: the newest 1 s kline closes at 60,005 (fixture row)
    row = load("spot", "klines.json")[0]
    fake.spot_klines = [[NOW_MS - 1_000, *row[1:4], "60005", *row[5:]]]

    async def first(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(json.dumps(load("spot", "ws_subscribe_response.json")))
        for frame in (
            kline("60000", NOW_MS - 3_000),
            kline("60001", NOW_MS - 2_000),
            kline("60001", NOW_MS - 2_000),  # duplicate
            kline("59000", NOW_MS - 2_500),  # older
            load("spot", "ws_server_shutdown.json"),
        ):
            await ws.send(json.dumps(frame))
        ws.transport.abort()  # dropped without a close frame

    async def second(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(json.dumps(load("spot", "ws_subscribe_response.json")))
        await ws.send(json.dumps(kline("60010", NOW_MS + 1_000)))
        await ws.wait_closed()

    server = ScriptedServer([first, second])
    sleep = Recorder()
    async with running(server, "") as url:
        venue = make_venue(fake, url, sleep)
        marks = await take(venue.stream_marks([SPOT]), 4)
        await venue.close()
    assert [(m.instrument_id, m.mark_price, m.ts_event_ms) for m in marks] == [
        (SPOT, 60_000.0, NOW_MS - 3_000),
        (SPOT, 60_001.0, NOW_MS - 2_000),
        (SPOT, 60_005.0, NOW_MS),  # REST resync, stamped with the server clock
        (SPOT, 60_010.0, NOW_MS + 1_000),
    ]
    assert [json.loads(r[0]) for r in server.received] == [SUBSCRIBE_SPOT, SUBSCRIBE_SPOT]
    assert sleep.sleeps_s == [0.01]  # one backoff before the reconnect


async def test_composite_interleaves_perp_and_spot_marks() -> None:
    fake = BinanceFake(now_ms=lambda: NOW_MS)
    fake.seed(marks={"BTCUSDT": Decimal(60_000)})
    paths: list[str] = []

    async def by_path(ws: ServerConnection, server: ScriptedServer) -> None:
        paths.append(ws.request.path if ws.request else "")
        await server.recv(ws)
        await ws.send(json.dumps({"result": None, "id": 1}))
        spot = ws.request is not None and not ws.request.path.startswith("/market")
        for i in range(2):
            frame = kline(f"6000{i}", NOW_MS + i) if spot else mark_frame(f"6010{i}", NOW_MS + i)
            await ws.send(json.dumps(frame))
        await ws.wait_closed()

    server = ScriptedServer([by_path])
    sleep = Recorder()
    async with running(server, "") as url:
        venue = make_venue(fake, url, sleep)
        marks = await take(venue.stream_marks([PERP, SPOT]), 4)
        await venue.close()
    assert sorted((str(m.instrument_id), m.mark_price) for m in marks) == [
        (str(PERP), 60_100.0), (str(PERP), 60_101.0), (str(SPOT), 60_000.0), (str(SPOT), 60_001.0),
    ]  # fmt: skip
    assert sorted(paths) == ["/market/stream", "/stream"]
    assert sleep.sleeps_s == []


async def _numbers(
    start: int, closed: list[int], fail_at: int | None = None
) -> AsyncGenerator[int, None]:
    try:
        for n in range(start, start + 3):
            if n == fail_at:
                raise ProtocolError("bad frame", venue="binance")
            yield n
            await asyncio.sleep(0)
    finally:
        closed.append(start)


async def test_merge_streams_yields_all_and_closes_sources() -> None:
    closed: list[int] = []
    got = [
        n async for n in merge([_numbers(0, closed), _numbers(10, closed)], name="binance.merge")
    ]
    assert sorted(got) == [0, 1, 2, 10, 11, 12]
    assert sorted(closed) == [0, 10]


async def test_merge_streams_raises_the_first_error_unwrapped() -> None:
    closed: list[int] = []

    async def drain() -> list[int]:
        merged = merge(
            [_numbers(0, closed), _numbers(10, closed, fail_at=11)], name="binance.merge"
        )
        async with aclosing(merged) as numbers:
            return [n async for n in numbers]

    with pytest.raises(ProtocolError, match="bad frame"):
        await drain()
    assert sorted(closed) == [0, 10]
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_merge_streams_stopped_early_leaves_no_task() -> None:
    closed: list[int] = []
    async with aclosing(
        merge([_numbers(0, closed), _numbers(10, closed)], name="binance.merge")
    ) as merged:
        await anext(merged)
    assert sorted(closed) == [0, 10]
    assert asyncio.all_tasks() == {asyncio.current_task()}
