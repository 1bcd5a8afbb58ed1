"""OKX websocket streams against a real local server on 127.0.0.1 replaying recorded frames.

Frames are the recorded pushes of ``tests/fixtures/okx-v5/`` (``ws_mark_price_push.json``,
``ws_subscribe_ack.json``, ``ws_login_*.json``, ``order_details.json`` as an ``orders`` row)
with instrument, price and time replaced; the REST resync is served by the stateful fake.
Backoff sleeps go through a recorder that never waits; the only real waits are the streams'
own short watchdog / ping timers (fractions of a second).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import aclosing, suppress
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.fakes.okx import API_KEY, API_PASSPHRASE, API_SECRET, BASE_URL, NOW_MS, OkxFake, load
from tests.support.ws_server import ScriptedServer, running
from venues.base import Credentials
from venues.errors import AuthError, VenueError
from venues.model import InstrumentId, InstrumentKind, MarkPrice, OrderAck, OrderStatus
from venues.okx.client import OkxVenue, create_venue
from venues.okx.orders import encode_client_order_id
from venues.okx.streams import StreamSettings
from venues.ws import Backoff

pytestmark = pytest.mark.timeout(10)

PERP = InstrumentId("okx", InstrumentKind.PERP, "BTC-USDT-SWAP")
SUBSCRIBE_MARKS = {
    "op": "subscribe",
    "args": [{"channel": "mark-price", "instId": "BTC-USDT-SWAP"}],
}
FAST = Backoff(initial_s=0.01, max_s=0.05, factor=2.0, jitter=0.0)


def mark_push(ts_ms: int, price: str) -> str:
    push = load("ws_mark_price_push.json")
    push["arg"]["instId"] = "BTC-USDT-SWAP"
    push["data"][0].update(instType="SWAP", instId="BTC-USDT-SWAP", markPx=price, ts=str(ts_ms))
    return json.dumps(push)


def subscribe_ack() -> str:
    ack = load("ws_subscribe_ack.json")
    ack["arg"] = {"channel": "mark-price", "instId": "BTC-USDT-SWAP"}
    return json.dumps(ack)


class Recorder:
    """Fake backoff sleep: records the delay and only yields to the loop."""

    def __init__(self) -> None:
        self.sleeps_s: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        await asyncio.sleep(0)


def make_venue(fake: OkxFake, url: str, recorder: Recorder, **settings: Any) -> OkxVenue:
    options: dict[str, Any] = {
        "watchdog_s": 5.0, "ping_interval_s": 5.0, "backoff": FAST,
        "protocol_ping_interval_s": None, "proxy": None, "open_timeout_s": 5.0,
    }  # fmt: skip
    options.update(settings)
    creds = Credentials(SecretStr(API_KEY), SecretStr(API_SECRET), SecretStr(API_PASSPHRASE))
    return create_venue(
        creds,
        rest_url=BASE_URL,
        ws_url=url,
        private_ws_url=url,
        transport=fake.transport,
        sleep=recorder.sleep,
        stream_settings=StreamSettings(**options),
    )


async def take(updates: AsyncIterator[Any], count: int) -> list[Any]:
    async with aclosing(updates) as items:  # type: ignore[type-var]
        return [await anext(items) for _ in range(count)]


async def idle_until_closed(ws: ServerConnection, server: ScriptedServer) -> None:
    """Read (and record) what the client sends, never answering: a silent server."""
    with suppress(ConnectionClosed):
        while True:
            await server.recv(ws)


@pytest.fixture
def fake() -> OkxFake:
    fake = OkxFake()
    fake.seed_price("BTC-USDT-SWAP", Decimal(60_000))
    return fake


async def test_drop_mid_stream_resubscribes_resyncs_without_duplicates(fake: OkxFake) -> None:
    base_ms = NOW_MS - 10_000

    async def first(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(subscribe_ack())
        for ts_ms, price in ((1_000, "100"), (1_000, "100"), (900, "99"), (2_000, "101")):
            await ws.send(mark_push(base_ms + ts_ms, price))
        ws.transport.abort()  # TCP reset mid-stream

    async def second(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(subscribe_ack())
        await ws.send("pong")  # heartbeat answer: skipped, not JSON-decoded
        await ws.send(mark_push(base_ms + 2_000, "101"))  # replayed: older than the resync
        await ws.send(mark_push(NOW_MS + 5_000, "102"))
        await idle_until_closed(ws, server)

    server = ScriptedServer([first, second])
    recorder = Recorder()
    async with running(server, "/ws/v5/public") as url:
        venue = make_venue(fake, url, recorder)
        got = await take(venue.stream_marks([PERP]), 4)
        await venue.close()
    resyncs = [r for r in fake.requests if r.url.path.endswith("/public/mark-price")]
    assert len(resyncs) == 1  # one REST resync, after the reconnect
    assert [(m.ts_event_ms, m.mark_price) for m in got[:2]] == [
        (base_ms + 1_000, 100.0),
        (base_ms + 2_000, 101.0),
    ]
    resynced = got[2]
    assert (resynced.mark_price, resynced.ts_event_ms > base_ms + 2_000) == (60_000.0, True)
    assert (got[3].ts_event_ms, got[3].mark_price) == (NOW_MS + 5_000, 102.0)
    assert all(isinstance(m, MarkPrice) and m.instrument_id == PERP for m in got)
    # resubscribed: both connections received exactly the subscribe op first
    assert [json.loads(frames[0]) for frames in server.received[:2]] == [SUBSCRIBE_MARKS] * 2
    assert recorder.sleeps_s[:1] == [0.01]


async def test_silent_stream_pings_then_reconnects(fake: OkxFake) -> None:
    async def silent(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(mark_push(NOW_MS - 5_000, "100"))
        await idle_until_closed(ws, server)

    async def talking(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(mark_push(NOW_MS + 9_000, "103"))
        await idle_until_closed(ws, server)

    server = ScriptedServer([silent, talking])
    recorder = Recorder()
    async with running(server, "/ws/v5/public") as url:
        venue = make_venue(fake, url, recorder, watchdog_s=0.4, ping_interval_s=0.1)
        got = await take(venue.stream_marks([PERP]), 3)
        await venue.close()
    assert [m.mark_price for m in got] == [100.0, 60_000.0, 103.0]  # push, resync, push
    assert server.connections == 2
    assert "ping" in server.received[0]  # text heartbeat while nothing arrived
    assert json.loads(server.received[1][0]) == SUBSCRIBE_MARKS


async def test_error_event_is_raised(fake: OkxFake) -> None:
    async def refuse(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(json.dumps({"event": "error", "code": "60018", "msg": "Wrong URL"}))
        await idle_until_closed(ws, server)

    server = ScriptedServer([refuse])
    async with running(server, "/ws/v5/public") as url:
        venue = make_venue(fake, url, Recorder())
        with pytest.raises(VenueError) as info:
            await take(venue.stream_marks([PERP]), 1)
        await venue.close()
    assert info.value.code == "60018"


def orders_push(cl_ord_id: str, trade_id: str) -> str:
    row = load("order_details.json")["data"][0]
    row.update(
        instType="SWAP", instId="BTC-USDT-SWAP", clOrdId=cl_ord_id, ordType="market",
        side="sell", sz="2", accFillSz="2", avgPx="60000", fillSz="2", fillPx="60000",
        tradeId=trade_id, fillFee="-0.6", fillFeeCcy="USDT", execType="T", state="filled",
        tdMode="cross", tgtCcy="", fillTime=str(NOW_MS), uTime=str(NOW_MS),
    )  # fmt: skip
    return json.dumps({"arg": {"channel": "orders", "instType": "ANY"}, "data": [row]})


async def test_account_stream_logs_in_subscribes_and_converts_contracts(fake: OkxFake) -> None:
    escaped = encode_client_order_id("contract-1")

    async def private(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)  # login
        # Like OKX: a subscribe before the login answer would be refused (60011), so the
        # client must wait for this ack; nothing else has arrived yet.
        assert len(server.received[-1]) == 1
        await ws.send(json.dumps(load("ws_login_success.json")))
        await server.recv(ws)  # subscribe, only after the ack
        await ws.send(orders_push(escaped, "744876980"))
        await ws.send(orders_push(escaped, "744876980"))  # duplicate push: dropped
        await idle_until_closed(ws, server)

    server = ScriptedServer([private])
    async with running(server, "/ws/v5/private") as url:
        venue = make_venue(fake, url, Recorder())
        await venue.open()
        [ack] = await take(venue.stream_account(), 1)
        await venue.close()
    assert isinstance(ack, OrderAck)
    assert (ack.client_order_id, ack.status, ack.qty, ack.filled_qty) == (
        "contract-1",
        OrderStatus.FILLED,
        Decimal("0.02"),  # 2 contracts × 0.01 BTC
        Decimal("0.02"),
    )
    [fill] = ack.fills
    assert (fill.qty, fill.price, fill.fee_usd, fill.trade_id) == (
        Decimal("0.02"), Decimal(60_000), Decimal("0.6"), "744876980",
    )  # fmt: skip
    login, subscribe = (json.loads(frame) for frame in server.received[0][:2])
    arg = login["args"][0]
    prehash = arg["timestamp"] + "GET/users/self/verify"
    digest = hmac.new(API_SECRET.encode(), prehash.encode(), hashlib.sha256).digest()
    assert (login["op"], arg["apiKey"], arg["passphrase"]) == ("login", API_KEY, API_PASSPHRASE)
    assert arg["sign"] == base64.b64encode(digest).decode()
    assert subscribe == {"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}


async def test_account_login_failure_is_auth_error(fake: OkxFake) -> None:
    async def refuse(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(json.dumps(load("ws_login_error.json")))
        await idle_until_closed(ws, server)

    server = ScriptedServer([refuse])
    async with running(server, "/ws/v5/private") as url:
        venue = make_venue(fake, url, Recorder())
        with pytest.raises(AuthError) as info:
            await take(venue.stream_account(), 1)
        await venue.close()
    assert info.value.code == "60009"
