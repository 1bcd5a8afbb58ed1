"""Deribit websocket streams against a real local server on 127.0.0.1: subscription, heartbeat
(``test_request`` answered with ``public/test``), ``public/auth`` before private channels, and
a refused subscription."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from websockets.asyncio.server import ServerConnection

from tests.support.ws_server import ScriptedServer, running
from venues.deribit.auth import client_signature
from venues.deribit.rest import DeribitRest, make_rest_client
from venues.deribit.streams import DeribitStreams, StreamSettings
from venues.errors import AuthError, ProtocolError
from venues.model import InstrumentId, InstrumentKind, OrderStatus
from venues.ws import Backoff

FIXTURES = Path(__file__).parent.parent / "fixtures" / "deribit-v2"
PERP = InstrumentId("deribit", InstrumentKind.PERP, "BTC-PERPETUAL")
SECRET = "stream-secret-VALUE"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


async def _no_sleep(_: float) -> None:
    return None


def _streams(url: str) -> DeribitStreams:
    transport = httpx.MockTransport(lambda r: httpx.Response(500))
    client = make_rest_client(
        "https://unused.test", transport=transport, clock=lambda: 0.0, sleep=_no_sleep
    )
    rest = DeribitRest(
        client,
        SecretStr("client-1"),
        SecretStr(SECRET),
        now_ms=lambda: 1_700_000_000_000,
        clock=lambda: 0.0,
        sleep=_no_sleep,
        nonce=lambda: "n0nce",
    )
    settings = StreamSettings(backoff=Backoff(initial_s=0.0, max_s=0.0), proxy=None)
    return DeribitStreams(rest, url=url, settings=settings, sleep=_no_sleep)


async def _answer(ws: ServerConnection, request: dict[str, Any], result: Any) -> None:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}))


async def test_marks_subscribe_set_heartbeat_and_answer_test_request() -> None:
    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        heartbeat = json.loads(await server.recv(ws))
        subscribe = json.loads(await server.recv(ws))
        await _answer(ws, heartbeat, "ok")
        await _answer(ws, subscribe, subscribe["params"]["channels"])
        await ws.send(json.dumps(load("ws_heartbeat_test_request.json")))
        await server.recv(ws)  # the public/test answer
        frame = load("ws_ticker_btc_perpetual.json")
        frame["params"]["channel"] = "ticker.BTC-PERPETUAL.100ms"
        await ws.send(json.dumps(frame))
        await ws.wait_closed()

    server = ScriptedServer([script])
    async with running(server, "/ws/api/v2") as url:
        marks = _streams(url).marks([PERP])
        mark = await anext(marks)
        await marks.aclose()
    assert (mark.instrument_id, mark.mark_price, mark.index_price) == (PERP, 92281.78, 92263.55)
    sent = [json.loads(f) for f in server.received[0]]
    assert [m["method"] for m in sent] == [
        "public/set_heartbeat",
        "public/subscribe",
        "public/test",
    ]
    assert sent[0]["params"] == {"interval": 10}
    assert sent[1]["params"] == {"channels": ["ticker.BTC-PERPETUAL.100ms"]}
    assert sent[2]["id"] not in (sent[0]["id"], sent[1]["id"])


async def test_private_orders_authenticate_first_with_a_signature() -> None:
    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        auth = json.loads(await server.recv(ws))
        await _answer(ws, auth, {"access_token": "tok-9", "expires_in": 900, "scope": "x"})
        heartbeat = json.loads(await server.recv(ws))
        subscribe = json.loads(await server.recv(ws))
        await _answer(ws, heartbeat, "ok")
        await _answer(ws, subscribe, subscribe["params"]["channels"])
        await ws.send(json.dumps(load("ws_user_orders.json")))
        await ws.wait_closed()

    server = ScriptedServer([script])
    async with running(server, "/ws/api/v2") as url:
        orders = _streams(url).orders(
            lambda name: PERP if name == "BTC-PERPETUAL" else None, ["BTC"]
        )
        ack = await anext(orders)
        await orders.aclose()
    assert (ack.status, ack.qty, ack.venue_order_id) == (OrderStatus.NEW, Decimal(200), "4")
    auth, _, subscribe = (json.loads(f) for f in server.received[0][:3])
    params = auth["params"]
    assert params["grant_type"] == "client_signature"
    assert params["signature"] == client_signature(SECRET, params["timestamp"], "n0nce", "")
    assert SECRET not in server.received[0][0]
    assert subscribe["method"] == "private/subscribe"
    assert subscribe["params"] == {
        "channels": ["user.orders.any.any.raw"],
        "access_token": "tok-9",
    }


async def test_refused_auth_is_fatal() -> None:
    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        auth = json.loads(await server.recv(ws))
        error = {"code": 13004, "message": "invalid_credentials"}
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": auth["id"], "error": error}))
        await ws.wait_closed()

    async with running(ScriptedServer([script]), "/ws/api/v2") as url:
        portfolio = _streams(url).portfolio("BTC")
        with pytest.raises(AuthError):
            await anext(portfolio)


async def test_a_channel_missing_from_the_subscribe_answer_is_an_error() -> None:
    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        subscribe = json.loads(await server.recv(ws))
        await _answer(ws, subscribe, [])
        await ws.wait_closed()

    async with running(ScriptedServer([script]), "/ws/api/v2") as url:
        marks = _streams(url).option_marks("btc_usd")
        with pytest.raises(ProtocolError, match=r"markprice\.options\.btc_usd"):
            await anext(marks)
