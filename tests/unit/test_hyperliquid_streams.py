"""Hyperliquid streams against a real local websocket server (127.0.0.1) replaying recorded
frames from ``tests/fixtures/hyperliquid/``, with the REST resync served by the respx fake.

Each server script plays one connection: it checks what the client subscribed, sends frames,
then drops the connection (close 1011) or goes silent (the watchdog, a fraction of a second
here, replaces it). Backoff sleeps go through :class:`FakeTime` (recorded, never waited).
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr
from websockets.asyncio.server import ServerConnection

from tests.fakes.hyperliquid import (
    ACCOUNT_ADDRESS,
    API_WALLET_KEY,
    BASE_URL,
    START_MS,
    FakeHyperliquid,
    FakeTime,
    load,
)
from tests.support.ws_server import ScriptedServer, running
from venues.base import Credentials
from venues.errors import ProtocolError
from venues.hyperliquid.client import HyperliquidVenue, create_venue
from venues.hyperliquid.streams import StreamSettings
from venues.model import (
    Fill,
    FundingPayment,
    FundingRate,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    OrderAck,
    OrderStatus,
)
from venues.ws import Backoff

pytestmark = pytest.mark.timeout(10)

BTC = InstrumentId("hyperliquid", InstrumentKind.PERP, "BTC")
SETTINGS = StreamSettings(
    ping_interval_s=30.0,
    watchdog_s=0.3,
    backoff=Backoff(initial_s=0.01, max_s=0.08, jitter=0.0),
    open_timeout_s=5.0,
    protocol_ping_interval_s=None,
    proxy=None,
)
T = TypeVar("T")


def frame(name: str) -> str:
    return json.dumps(load(name))


def ctx_frame(mark: str) -> str:
    body = copy.deepcopy(load("ws_active_asset_ctx_btc.json"))
    body["data"]["ctx"]["markPx"] = mark
    return json.dumps(body)


def subscription(kind: str, **fields: str) -> dict[str, Any]:
    return {"method": "subscribe", "subscription": {"type": kind, **fields}}


def make_venue(
    url: str, time: FakeTime, fake: FakeHyperliquid, **settings: Any
) -> HyperliquidVenue:
    return create_venue(
        Credentials(SecretStr(ACCOUNT_ADDRESS), SecretStr(API_WALLET_KEY)),
        rest_url=BASE_URL,
        ws_url=url,
        transport=httpx.MockTransport(fake.router.handler),
        sleep=time.sleep,
        now_ms=time.now_ms,
        stream_settings=StreamSettings(**{**SETTINGS.__dict__, **settings}),
    )


async def take(items: AsyncIterator[T], count: int) -> list[T]:
    async with aclosing(items) as stream:  # type: ignore[type-var]
        return [await anext(stream) for _ in range(count)]


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def fake(time: FakeTime) -> FakeHyperliquid:
    venue_fake = FakeHyperliquid(time)
    venue_fake.seed("BTC", Decimal(84_000))
    return venue_fake


# --- marks -----------------------------------------------------------------------------------


async def test_marks_reconnect_resubscribe_resync_and_never_repeat(
    time: FakeTime, fake: FakeHyperliquid
) -> None:
    async def dropped(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.send("Websocket connection established.")  # not JSON: skipped
        await server.recv(ws)
        await ws.send(frame("ws_subscription_response.json"))
        await ws.send(ctx_frame("83757.0"))
        await ws.send(ctx_frame("83757.0"))  # same values again: not yielded
        await ws.send(frame("ws_pong.json"))
        await ws.close(code=1011, reason="dropped mid-stream")

    async def silent(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(frame("ws_subscription_response.json"))
        await ws.send(ctx_frame("83800.0"))
        await ws.wait_closed()  # silence: the client's watchdog replaces the connection

    async def last(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(frame("ws_subscription_response.json"))
        await ws.send(ctx_frame("83900.0"))
        await ws.wait_closed()

    server = ScriptedServer([dropped, silent, last])
    async with running(server, "/ws") as url:
        venue = make_venue(url, time, fake)
        marks = await take(venue.stream_marks([BTC]), 5)
    # recorded 83757.0, REST resync (seeded 84000), 83800.0, resync again, 83900.0
    assert [m.mark_price for m in marks] == [83757.0, 84000.0, 83800.0, 84000.0, 83900.0]
    assert [m.index_price for m in marks][:2] == [83778.1, 84000.0]  # oracle as index
    assert all(m.instrument_id == BTC for m in marks)
    times = [m.ts_event_ms for m in marks]
    assert times == sorted(times)
    subscribe = subscription("activeAssetCtx", coin="BTC")
    assert [[json.loads(f) for f in frames] for frames in server.received] == [[subscribe]] * 3
    assert [b for _, b in fake.requests] == [{"type": "metaAndAssetCtxs"}] * 2
    assert time.slept_s == [0.01, 0.01]  # backoff reset after connections that delivered


async def test_marks_send_ping_and_accept_pong(time: FakeTime, fake: FakeHyperliquid) -> None:
    async def pinged(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        ping = await server.recv(ws)
        assert json.loads(ping) == load("ws_ping.json")
        await ws.send(frame("ws_pong.json"))
        await ws.send(ctx_frame("83757.0"))
        await ws.wait_closed()

    server = ScriptedServer([pinged])
    async with running(server, "/ws") as url:
        venue = make_venue(url, time, fake, ping_interval_s=0.05, watchdog_s=5.0)
        [mark] = await take(venue.stream_marks([BTC]), 1)
    assert mark.mark_price == 83757.0
    assert json.loads(server.received[0][1]) == {"method": "ping"}


async def test_error_frame_is_fatal_protocol_error(time: FakeTime, fake: FakeHyperliquid) -> None:
    async def refused(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(frame("ws_error.json"))
        await ws.wait_closed()

    server = ScriptedServer([refused])
    async with running(server, "/ws") as url:
        venue = make_venue(url, time, fake)
        with pytest.raises(ProtocolError, match="error frame"):
            await take(venue.stream_marks([BTC]), 1)
    assert server.connections == 1


# --- account ---------------------------------------------------------------------------------


def user_fills_frame(rows: list[dict[str, Any]]) -> str:
    data = {"isSnapshot": True, "user": ACCOUNT_ADDRESS, "fills": rows}
    return json.dumps({"channel": "userFills", "data": data})


# userEvents funding shape of Hyperliquid "Subscriptions" (no recorded frame):
# https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions
FUNDING_EVENT = {
    "channel": "user",
    "data": {"funding": {"time": 1_785_261_600_000, "coin": "BTC", "usdc": "-0.0105",
                         "szi": "0.01", "fundingRate": "0.0000125"}},
}  # fmt: skip


async def test_account_stream_dedupes_and_resyncs_after_a_drop(
    time: FakeTime, fake: FakeHyperliquid
) -> None:
    history, missed = load("user_fills.json")
    event_fill = load("ws_user_events_fills.json")["data"]["fills"][0]

    async def first(ws: ServerConnection, server: ScriptedServer) -> None:
        for _ in range(3):
            await server.recv(ws)
        await ws.send(user_fills_frame([history]))  # snapshot on first connect: history
        await ws.send(frame("ws_order_updates_open.json"))
        await ws.send(frame("ws_order_updates_open.json"))  # repeated: not yielded
        await ws.send(frame("ws_user_events_fills.json"))
        await ws.send(json.dumps(FUNDING_EVENT))
        await ws.close(code=1011, reason="dropped mid-stream")

    async def second(ws: ServerConnection, server: ScriptedServer) -> None:
        for _ in range(3):
            await server.recv(ws)
        # snapshot after the reconnect: seen fills again plus one missed while away
        await ws.send(user_fills_frame([history, event_fill, missed]))
        await ws.send(frame("ws_order_updates_canceled.json"))
        await ws.wait_closed()

    server = ScriptedServer([first, second])
    async with running(server, "/ws") as url:
        venue = make_venue(url, time, fake)
        events = await take(venue.stream_account(), 5)
    opened, fill, funding, missed_fill, canceled = events
    assert isinstance(opened, OrderAck)
    assert opened.status is OrderStatus.NEW
    assert opened.client_order_id == "a1f0cddc17303d07f3fd128d5b35071d"
    assert isinstance(fill, Fill)
    assert fill.trade_id == str(event_fill["tid"])
    assert isinstance(funding, FundingPayment)
    assert (funding.amount_usd, funding.position_qty) == (Decimal("-0.0105"), Decimal("0.01"))
    assert funding.mark_price == Decimal(84_000)  # 0.0105 / (0.0000125 × 0.01)
    assert isinstance(missed_fill, Fill)
    assert missed_fill.trade_id == str(missed["tid"])
    assert isinstance(canceled, OrderAck)
    assert canceled.status is OrderStatus.CANCELED
    expected = [subscription(kind, user=ACCOUNT_ADDRESS)
                for kind in ("orderUpdates", "userFills", "userEvents")]  # fmt: skip
    assert [[json.loads(f) for f in frames] for frames in server.received] == [expected] * 2
    # REST resync after the reconnect: open orders
    assert [b for _, b in fake.requests] == [{"type": "openOrders", "user": ACCOUNT_ADDRESS}]


async def test_marks_stream_ignores_other_coins(time: FakeTime, fake: FakeHyperliquid) -> None:
    eth = copy.deepcopy(load("ws_active_asset_ctx_btc.json"))
    eth["data"]["coin"] = "ETH"

    async def mixed(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(json.dumps(eth))
        await ws.send(ctx_frame("83757.0"))
        await ws.wait_closed()

    server = ScriptedServer([mixed])
    async with running(server, "/ws") as url:
        venue = make_venue(url, time, fake)
        marks: list[MarkPrice] = await take(venue.stream_marks([BTC]), 1)
    assert [(m.instrument_id, m.mark_price, m.ts_event_ms) for m in marks] == [
        (BTC, 83757.0, START_MS)
    ]


async def test_market_stream_adds_the_hours_predicted_funding_on_change(
    time: FakeTime, fake: FakeHyperliquid
) -> None:
    """``stream_market``: each ``activeAssetCtx`` mark, followed by the hour's predicted funding
    (settling at the next full UTC hour, 1 h interval) when it changed."""
    changed = copy.deepcopy(load("ws_active_asset_ctx_btc.json"))
    changed["data"]["ctx"].update(markPx="83760.0", funding="-0.0000400")

    async def frames(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send(ctx_frame("83757.0"))
        await ws.send(ctx_frame("83758.0"))  # same funding
        await ws.send(json.dumps(changed))
        await ws.wait_closed()

    server = ScriptedServer([frames])
    async with running(server, "/ws") as url:
        venue = make_venue(url, time, fake)
        updates = await take(venue.stream_market([BTC]), 5)
    shown = [
        ("mark", u.mark_price) if isinstance(u, MarkPrice) else ("funding", u.rate) for u in updates
    ]
    assert shown == [
        ("mark", 83757.0),
        ("funding", 0.0000125),
        ("mark", 83758.0),
        ("mark", 83760.0),
        ("funding", -0.00004),
    ]
    next_hour_ms = (START_MS // 3_600_000 + 1) * 3_600_000
    assert {(u.ts_funding_ms, u.interval_s) for u in updates if isinstance(u, FundingRate)} == {
        (next_hour_ms, 3600)
    }
