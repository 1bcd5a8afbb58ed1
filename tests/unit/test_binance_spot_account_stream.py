"""Binance spot account stream (WebSocket API ``userDataStream.subscribe.signature``) against a
real local websocket server replaying the recorded frames; REST resync on respx.

The signature is checked here with ``hmac`` over the documented payload (sorted params,
unencoded); expected acks and fills are read off the recorded ``executionReport``.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
from contextlib import aclosing
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr
from websockets.asyncio.server import ServerConnection

from tests.support.ws_server import ScriptedServer, running
from venues.binance.spot_client import BinanceSpotVenue
from venues.binance.spot_rest import BinanceSpotRest, make_spot_rest_client
from venues.binance.streams import WsSettings
from venues.errors import AuthError
from venues.model import Fill, InstrumentId, InstrumentKind, OrderAck, OrderStatus
from venues.ws import Backoff

pytestmark = pytest.mark.timeout(10)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "binance-spot"
BASE_URL = "https://api.binance.test"
API_KEY = "spot-KEY-never-logged-0123456789"
API_SECRET = "spot-SECRET-fedcba9876543210"
NOW_MS = 1_747_385_641_636
ETHUSDT = InstrumentId("binance", InstrumentKind.SPOT, "ETHUSDT")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def report(**changes: Any) -> dict[str, Any]:
    """The recorded executionReport (moved to ETHUSDT) with fields changed."""
    frame: dict[str, Any] = copy.deepcopy(load("user_data_execution_report.json"))
    frame["event"].update(s="ETHUSDT", p="3000.00", **changes)
    return frame


class Sleep:
    async def __call__(self, seconds: float) -> None:
        await asyncio.sleep(0)


def make_venue(router: respx.MockRouter, ws_url: str) -> BinanceSpotVenue:
    rest = make_spot_rest_client(BASE_URL, transport=httpx.MockTransport(router.handler))
    settings = WsSettings(
        base_url=ws_url,
        user_watchdog_s=5.0,
        backoff=Backoff(initial_s=0.01, max_s=0.05, jitter=0.0),
        open_timeout_s=5.0,
        protocol_ping_interval_s=None,
        proxy=None,
    )
    return BinanceSpotVenue(
        BinanceSpotRest(rest, SecretStr(API_KEY), SecretStr(API_SECRET), lambda: NOW_MS),
        ws=settings,
        sleep=Sleep(),
        ws_api_url=f"{ws_url}/ws-api/v3",
    )


def check_subscription(frame: str) -> dict[str, Any]:
    request = json.loads(frame)
    assert request["method"] == "userDataStream.subscribe.signature"
    params = request["params"]
    payload = f"apiKey={API_KEY}&timestamp={params['timestamp']}"
    expected = hmac.new(API_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    assert (params["apiKey"], params["signature"]) == (API_KEY, expected)
    assert params["timestamp"] == NOW_MS
    return request


def answer(request: dict[str, Any]) -> str:
    return json.dumps(
        {**load("wsapi_user_data_subscribe_signature_response.json"), "id": request["id"]}
    )


async def test_account_stream_subscribes_signed_yields_fills_then_acks_and_resyncs() -> None:
    router = respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)
    resync = router.get("/api/v3/openOrders").respond(json=load("open_orders.json"))
    trade = report(x="TRADE", X="FILLED", l="1.00000000", z="1.00000000", L="3000.00",
                   Z="3000.00", n="0.00100000", N="ETH", t=77, T=1_499_405_658_700)  # fmt: skip
    ids: list[str] = []

    async def first(ws: ServerConnection, server: ScriptedServer) -> None:
        request = check_subscription(await server.recv(ws))
        ids.append(request["id"])
        await ws.send(answer(request))
        await ws.send(json.dumps(report()))  # NEW
        await ws.send(json.dumps(load("user_data_outbound_account_position.json")))  # skipped
        await ws.send(json.dumps(trade))
        await ws.send(json.dumps(report()))  # the NEW again (older than FILLED): dropped
        ws.transport.abort()

    async def second(ws: ServerConnection, server: ScriptedServer) -> None:
        request = check_subscription(await server.recv(ws))  # signed again on reconnect
        ids.append(request["id"])
        await ws.send(answer(request))
        await ws.wait_closed()

    server = ScriptedServer([first, second])
    async with running(server, "") as url:
        venue = make_venue(router, url)
        async with aclosing(venue.stream_account()) as events:
            got = [await anext(events) for _ in range(4)]
        await venue.close()

    new, fill, filled, resynced = got
    assert isinstance(new, OrderAck)
    assert (new.client_order_id, new.instrument_id, new.status) == (
        "mUvoqJxFIILMdfAW5iGSOW", ETHUSDT, OrderStatus.NEW,
    )  # fmt: skip
    assert isinstance(fill, Fill)
    # commission 0.001 ETH, the base of ETHUSDT: valued at the fill price, 3 USDT
    assert (fill.qty, fill.price, fill.fee_usd, fill.trade_id) == (
        Decimal(1), Decimal("3000.00"), Decimal("3.00000000"), "77",
    )  # fmt: skip
    assert isinstance(filled, OrderAck)
    assert (filled.status, filled.filled_qty) == (OrderStatus.FILLED, Decimal(1))
    assert isinstance(resynced, OrderAck)
    assert (resynced.client_order_id, resynced.status) == ("myOrder1", OrderStatus.NEW)
    assert resync.call_count == 1
    assert len(ids) == 2
    assert ids[0] != ids[1]


async def test_a_refused_subscription_is_an_auth_error_not_a_reconnect() -> None:
    router = respx.MockRouter(assert_all_mocked=True, base_url=BASE_URL)

    async def refuse(ws: ServerConnection, server: ScriptedServer) -> None:
        request = json.loads(await server.recv(ws))
        error = {"code": -2015, "msg": "Invalid API-key, IP, or permissions."}
        body = {"id": request["id"], "status": 401, "error": error}
        await ws.send(json.dumps(body))
        await ws.wait_closed()

    server = ScriptedServer([refuse])
    async with running(server, "") as url:
        venue = make_venue(router, url)
        with pytest.raises(AuthError, match="Invalid API-key") as info:
            async with aclosing(venue.stream_account()) as events:
                await anext(events)
        await venue.close()
    assert info.value.code == "-2015"
    assert API_SECRET not in str(info.value)
    assert server.connections == 1


async def test_a_fill_charged_in_bnb_is_priced_at_the_bnbusdt_book_mid() -> None:
    router = respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)
    book = {"symbol": "BNBUSDT", "bidPrice": "600.10000000", "bidQty": "3.0",
            "askPrice": "600.30000000", "askQty": "2.0"}  # fmt: skip
    books = router.get("/api/v3/ticker/bookTicker").respond(json=[book])
    trade = report(x="TRADE", X="FILLED", l="1.00000000", z="1.00000000", L="3000.00",
                   Z="3000.00", n="0.00375000", N="BNB", t=78, T=1_499_405_658_700)  # fmt: skip

    async def bnb_fill(ws: ServerConnection, server: ScriptedServer) -> None:
        request = check_subscription(await server.recv(ws))
        await ws.send(answer(request))
        await ws.send(json.dumps(trade))
        await ws.wait_closed()

    async with running(ScriptedServer([bnb_fill]), "") as url:
        venue = make_venue(router, url)
        async with aclosing(venue.stream_account()) as events:
            fill, filled = [await anext(events) for _ in range(2)]
        await venue.close()

    assert isinstance(fill, Fill)
    mid = (Decimal("600.10000000") + Decimal("600.30000000")) / 2
    assert fill.fee_usd == Decimal("0.00375000") * mid
    assert isinstance(filled, OrderAck)
    assert filled.status is OrderStatus.FILLED
    assert "BNBUSDT" in books.calls.last.request.url.query.decode()
