"""Bybit streams against a real local websocket server on 127.0.0.1 (no network).

The server (``tests/support/ws_server.py``) replays recorded frames from
``tests/fixtures/bybit-v5/`` per connection and records what the client sends; the REST resync
after a reconnect is served by the stateful fake (``tests/fakes/bybit.py``) at a fixed clock.
Backoff sleeps go through a recorder that only yields to the loop; the only real waits are the
stream's own fractions of a second (ping period, watchdog).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr
from websockets.asyncio.server import ServerConnection

from tests.fakes.bybit import API_KEY, API_SECRET, BASE_URL, FakeBybit, load
from tests.support.ws_server import ScriptedServer, running
from venues.bybit.client import BybitVenue
from venues.bybit.rest import BybitRest, make_rest_client
from venues.bybit.streams import BybitStreams, StreamSettings, subscribe_messages
from venues.errors import AuthError
from venues.model import (
    Fill,
    FundingRate,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    OrderAck,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from venues.ws import Backoff

pytestmark = pytest.mark.timeout(10)

T = TypeVar("T")
PERP = InstrumentId("bybit", InstrumentKind.PERP, "BTCUSDT")
SPOT = InstrumentId("bybit", InstrumentKind.SPOT, "BTCUSDT")
SNAPSHOT = load("ws_tickers_linear_snapshot.json")  # markPrice 66666.60, indexPrice 115418.19
T0 = SNAPSHOT["ts"]  # 1760325052630
FAST = Backoff(initial_s=0.01, max_s=0.05, factor=2.0, jitter=0.0)


class Recorder:
    """Fake backoff sleep: records the delay, only yields to the loop."""

    def __init__(self) -> None:
        self.sleeps_s: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        await asyncio.sleep(0)


def make_venue(url: str, fake: FakeBybit, recorder: Recorder, **settings: Any) -> BybitVenue:
    client = make_rest_client(
        BASE_URL, now_ms=fake.now_ms, transport=fake.transport(), sleep=recorder.sleep
    )
    rest = BybitRest(client, SecretStr(API_KEY), SecretStr(API_SECRET), fake.now_ms)
    options: dict[str, Any] = {
        "watchdog_s": 5.0, "backoff": FAST, "proxy": None, "protocol_ping_interval_s": None,
        "open_timeout_s": 5.0,
    }  # fmt: skip
    options.update(settings)
    return BybitVenue(
        rest, BybitStreams(StreamSettings.for_base(url, **options), sleep=recorder.sleep)
    )


def delta(ts_ms: int, **fields: str) -> dict[str, Any]:
    """A linear ``tickers`` delta: only the changed fields (ticker.mdx)."""
    data = {"symbol": "BTCUSDT", **fields}
    return {"topic": "tickers.BTCUSDT", "type": "delta", "data": data, "cs": 1, "ts": ts_ms}


def snapshot(ts_ms: int, mark: str | None = None) -> dict[str, Any]:
    frame = copy.deepcopy(SNAPSHOT)
    frame["ts"] = ts_ms
    if mark is not None:
        frame["data"]["markPrice"] = mark
    return frame


async def send(ws: ServerConnection, *frames: Any) -> None:
    for frame in frames:
        await ws.send(json.dumps(frame))


async def take(iterator: AsyncIterator[T], count: int) -> list[T]:
    async with aclosing(iterator) as items:  # type: ignore[type-var]
        return [await anext(items) for _ in range(count)]


def assert_strictly_newer(marks: list[MarkPrice]) -> None:
    """Per instrument: never a duplicate, never an older update."""
    last: dict[InstrumentId, int] = {}
    for mark in marks:
        assert mark.ts_event_ms > last.get(mark.instrument_id, -1)
        last[mark.instrument_id] = mark.ts_event_ms


def sent(server: ScriptedServer, connection: int) -> list[Any]:
    return [json.loads(frame) for frame in server.received[connection]]


SUBSCRIBE_BTC = {"req_id": "sub-0", "op": "subscribe", "args": ["tickers.BTCUSDT"]}


async def test_recorded_snapshot_and_deltas_merge() -> None:
    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send(
            ws,
            load("ws_subscribe_ack_public_linear.json"),
            SNAPSHOT,
            delta(T0 + 100, lastPrice="66667.00"),  # mark unchanged: nothing to yield
            load("ws_pong_public_linear.json"),
            delta(T0 + 200, markPrice="66670.10"),
        )
        await ws.wait_closed()  # stay open until the client goes

    server, recorder, fake = ScriptedServer([script]), Recorder(), FakeBybit()
    async with running(server, "") as url:
        venue = make_venue(url, fake, recorder)
        marks = await take(venue.stream_marks([PERP]), 2)
        await venue.close()
    assert [(m.mark_price, m.index_price, m.ts_event_ms) for m in marks] == [
        (66666.60, 115418.19, T0),
        (66670.10, 115418.19, T0 + 200),  # index kept from the snapshot
    ]
    assert sent(server, 0) == [SUBSCRIBE_BTC]


async def test_market_stream_adds_the_tickers_predicted_funding_on_change() -> None:
    """``stream_market``: the recorded snapshot's ``fundingRate`` -0.005 settling at
    ``nextFundingTime`` (8 h interval) comes after its mark; a delta moving only the mark
    brings no funding, one moving ``fundingRate`` brings the new rate after its mark."""

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send(
            ws,
            load("ws_subscribe_ack_public_linear.json"),
            SNAPSHOT,
            delta(T0 + 100, markPrice="66670.10"),
            delta(T0 + 200, markPrice="66671.20", fundingRate="-0.0061"),
        )
        await ws.wait_closed()

    server, recorder, fake = ScriptedServer([script]), Recorder(), FakeBybit()
    async with running(server, "") as url:
        venue = make_venue(url, fake, recorder)
        updates = await take(venue.stream_market([PERP]), 5)
        await venue.close()
    settles_ms = int(SNAPSHOT["data"]["nextFundingTime"])
    shown = [
        (type(u).__name__, u.mark_price if isinstance(u, MarkPrice) else u.rate) for u in updates
    ]
    assert shown == [
        ("MarkPrice", 66666.60),
        ("FundingRate", -0.005),
        ("MarkPrice", 66670.10),
        ("MarkPrice", 66671.20),
        ("FundingRate", -0.0061),
    ]
    funding = [u for u in updates if isinstance(u, FundingRate)]
    assert {(f.ts_funding_ms, f.interval_s, f.instrument_id) for f in funding} == {
        (settles_ms, 8 * 3600, PERP)
    }


async def test_drop_reconnects_resubscribes_resyncs_without_duplicates() -> None:
    async def first(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send(ws, load("ws_subscribe_ack_public_linear.json"), SNAPSHOT,
                   delta(T0 + 200, markPrice="66670.10"))  # fmt: skip
        await asyncio.sleep(0.05)  # let the client read them before the reset
        ws.transport.abort()  # TCP reset mid-stream, no close frame

    async def second(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send(
            ws,
            load("ws_subscribe_ack_public_linear.json"),
            SNAPSHOT,  # replayed after the reconnect: older than the resync → dropped
            delta(T0 + 250, markPrice="66690.00"),  # older than the resync → dropped
            delta(T0 + 400, markPrice="66700.00"),
        )
        await ws.wait_closed()

    fake = FakeBybit(now_ms=lambda: T0 + 300)
    fake.seed_price("linear", "BTCUSDT", Decimal("66680.5"))
    server, recorder = ScriptedServer([first, second]), Recorder()
    async with running(server, "") as url:
        venue = make_venue(url, fake, recorder)
        marks = await take(venue.stream_marks([PERP]), 4)
        await venue.close()
    assert [(m.mark_price, m.ts_event_ms) for m in marks] == [
        (66666.60, T0), (66670.10, T0 + 200), (66680.5, T0 + 300), (66700.00, T0 + 400),
    ]  # fmt: skip
    assert_strictly_newer(marks)
    assert server.connections == 2
    assert sent(server, 1) == [SUBSCRIBE_BTC]  # resubscribed
    resync = [r for r in fake.requests if r.url.path == "/v5/market/tickers"]
    assert [r.url.query.decode() for r in resync] == ["category=linear&symbol=BTCUSDT"]
    assert len(recorder.sleeps_s) == 1


async def test_silence_is_detected_and_pings_are_sent() -> None:
    async def silent(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send(ws, load("ws_subscribe_ack_public_linear.json"), SNAPSHOT)
        while True:  # record pings, answer nothing
            await server.recv(ws)

    async def alive(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send(ws, snapshot(T0 + 1_000, mark="66999.90"))
        await ws.wait_closed()

    fake = FakeBybit(now_ms=lambda: T0 + 500)
    fake.seed_price("linear", "BTCUSDT", Decimal("66800"))
    server, recorder = ScriptedServer([silent, alive]), Recorder()
    async with running(server, "") as url:
        venue = make_venue(url, fake, recorder, watchdog_s=0.3, ping_interval_s=0.05)
        marks = await take(venue.stream_marks([PERP]), 3)
        await venue.close()
    assert [(m.mark_price, m.ts_event_ms) for m in marks] == [
        (66666.60, T0), (66800.0, T0 + 500), (66999.90, T0 + 1_000),
    ]  # fmt: skip
    first = sent(server, 0)
    assert first[0] == SUBSCRIBE_BTC
    assert len(first) > 1
    assert all(f == {"req_id": "ping", "op": "ping"} for f in first[1:])
    assert server.connections == 2


async def test_linear_and_spot_in_one_stream() -> None:
    async def by_path(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        if ws.request is not None and ws.request.path == "/v5/public/spot":
            await send(ws, load("ws_subscribe_ack_public_spot.json"),
                       load("ws_tickers_spot_snapshot.json"))  # fmt: skip
        else:
            await send(ws, load("ws_subscribe_ack_public_linear.json"), SNAPSHOT)
        await ws.wait_closed()

    server, recorder, fake = ScriptedServer([by_path]), Recorder(), FakeBybit()
    async with running(server, "") as url:
        venue = make_venue(url, fake, recorder)
        marks = await take(venue.stream_marks([PERP, SPOT]), 2)
        await venue.close()
    by_id = {m.instrument_id: m for m in marks}
    # spot snapshot: lastPrice 21109.77 stands in for the mark, usdIndexPrice 21120.2400136
    assert (by_id[SPOT].mark_price, by_id[SPOT].index_price) == (21109.77, 21120.2400136)
    assert (by_id[SPOT].ts_event_ms, by_id[PERP].mark_price) == (1673853746003, 66666.60)


def test_spot_subscriptions_are_chunked_by_ten() -> None:
    topics = [f"tickers.C{i}USDT" for i in range(11)]
    messages = subscribe_messages(topics, 10)
    assert [len(m["args"]) for m in messages if isinstance(m, dict)] == [10, 1]
    assert subscribe_messages(topics, None) == [
        {"req_id": "sub-0", "op": "subscribe", "args": topics}
    ]


def order_frame(status: str, filled: str, updated_ms: int) -> dict[str, Any]:
    row = copy.deepcopy(load("order_realtime.json")["result"]["list"][0])
    row.update(category="linear", orderStatus=status, cumExecQty=filled, avgPrice="1600.00",
               updatedTime=str(updated_ms))  # fmt: skip
    return {"id": "o1", "topic": "order", "creationTime": updated_ms, "data": [row]}


EXECUTION = {
    "id": "e1", "topic": "execution", "creationTime": 1684738540600,
    "data": [{
        "category": "linear", "symbol": "ETHUSDT",
        "orderId": "fd4300ae-7847-404e-b947-b46980a4d140",
        "orderLinkId": "test-000005", "side": "Buy", "orderPrice": "1600.00", "orderQty": "0.10",
        "leavesQty": "0", "orderType": "Limit", "execFee": "0.096", "execId": "exec-1",
        "execPrice": "1600.00", "execQty": "0.10", "execType": "Trade", "execValue": "160",
        "execTime": "1684738540600", "feeCurrency": "USDT", "isMaker": True, "feeRate": "0.0006",
    }],
}  # fmt: skip


async def test_account_stream_auths_subscribes_and_dedupes() -> None:
    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)  # auth
        await server.recv(ws)  # subscribe
        await send(
            ws,
            load("ws_auth_success.json"),
            load("ws_subscribe_ack_private.json"),
            order_frame("New", "0", 1684738540561),
            EXECUTION,
            EXECUTION,  # the same execId again: not a second fill
            load("ws_pong_private.json"),
            order_frame("Filled", "0.10", 1684738540600),
        )
        await ws.wait_closed()

    fake = FakeBybit(now_ms=lambda: 1_700_000_000_000)
    server, recorder = ScriptedServer([script]), Recorder()
    async with running(server, "") as url:
        venue = make_venue(url, fake, recorder)
        events = await take(venue.stream_account(), 3)
        await venue.close()
    new, fill, filled = events
    assert isinstance(new, OrderAck)
    assert isinstance(fill, Fill)
    assert isinstance(filled, OrderAck)
    assert (new.status, filled.status, filled.filled_qty) == (
        OrderStatus.NEW, OrderStatus.FILLED, Decimal("0.10"),
    )  # fmt: skip
    assert (fill.trade_id, fill.qty, fill.price, fill.fee_usd) == (
        "exec-1", Decimal("0.10"), Decimal("1600.00"), Decimal("0.096"),
    )  # fmt: skip
    auth, subscribe = sent(server, 0)
    key, expires_ms, signature = auth["args"]
    assert (auth["op"], key, expires_ms) == ("auth", API_KEY, 1_700_000_000_000 + 10_000)
    expected = hmac.new(API_SECRET.encode(), f"GET/realtime{expires_ms}".encode(), hashlib.sha256)
    assert signature == expected.hexdigest()
    assert subscribe["args"] == ["order", "execution", "wallet"]


async def test_refused_auth_is_an_auth_error() -> None:
    refused = {"success": False, "ret_msg": "Invalid apikey", "op": "auth", "conn_id": "x"}

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send(ws, refused)
        await ws.wait_closed()

    server, recorder, fake = ScriptedServer([script]), Recorder(), FakeBybit()
    async with running(server, "") as url:
        venue = make_venue(url, fake, recorder)
        with pytest.raises(AuthError, match="Invalid apikey"):
            await take(venue.stream_account(), 1)
        await venue.close()
    assert server.connections == 1  # fatal: no reconnect


async def test_account_reconnect_resyncs_open_orders() -> None:
    async def first(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await server.recv(ws)
        await send(ws, load("ws_auth_success.json"), order_frame("New", "0", 1684738540561))
        await asyncio.sleep(0.05)
        ws.transport.abort()

    async def second(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await server.recv(ws)
        await send(ws, load("ws_auth_success.json"), load("ws_subscribe_ack_private.json"))
        await ws.wait_closed()

    fake = FakeBybit(now_ms=lambda: 1_700_000_000_000)
    fake.seed_price("linear", "BTCUSDT", Decimal(60_000))
    server, recorder = ScriptedServer([first, second]), Recorder()
    async with running(server, "") as url:
        venue = make_venue(url, fake, recorder)
        resting = OrderRequest(
            "rest-1", PERP, Side.BUY, Decimal("0.01"), OrderType.LIMIT, Decimal(50_000)
        )
        await venue.place_order(resting)
        events = await take(venue.stream_account(), 2)
        await venue.close()
    assert [(e.client_order_id, e.status) for e in events if isinstance(e, OrderAck)] == [
        ("test-000005", OrderStatus.NEW),  # from the stream
        ("rest-1", OrderStatus.NEW),  # from GET /v5/order/realtime after the reconnect
    ]
    assert server.connections == 2
    assert [f["op"] for f in sent(server, 1)] == ["auth", "subscribe"]  # re-authed, resubscribed
