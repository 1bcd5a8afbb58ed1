"""Binance USDⓈ-M websocket streams against a real local server on 127.0.0.1 + respx for REST.

The server replays recorded frames (``ws_mark_price_combined.json``,
``ws_subscribe_response.json``, ``ws_user_order_update_new.json``,
``ws_user_account_update.json``) with times and prices changed per scenario, drops the
connection mid-stream and goes silent; REST resyncs are served from ``premium_index_*.json``,
``query_order.json``, ``income_history.json``, ``funding_rate_history.json`` and
``listen_key.json``. Expected sequences are written by hand from the frames each scenario
sends. The only real waits are the watchdog / lifetime of a fraction of a second.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from pydantic import SecretStr
from structlog.testing import capture_logs
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from tests.support.ws_server import Script, ScriptedServer, running
from venues.binance.client import BinanceUsdmVenue
from venues.binance.rest import BinanceUsdmRest, make_rest_client
from venues.binance.streams import WsSettings
from venues.binance.user_stream import UserDataStream
from venues.errors import ProtocolError
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
from venues.ratelimit import RateLimiter
from venues.ws import Backoff

pytestmark = pytest.mark.timeout(10)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "binance-usdm"
BASE_URL = "https://fapi.example.test"
API_KEY = "k3y-VALUE-never-shown-0123456789"
API_SECRET = "s3cret-VALUE-never-shown-9876543210"
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
T0_MS = 1_562_305_380_000  # ``E`` of the recorded mark price frame
FAST_BACKOFF = Backoff(initial_s=0.01, max_s=0.08, factor=2.0, jitter=0.0)
KEY_1 = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"  # listen_key.json
KEY_2 = "second-listen-key-0123456789abcdef0123456789abcdef0123456789abcd"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class PathServer(ScriptedServer):
    """A :class:`ScriptedServer` that also records each handshake's path (with query)."""

    def __init__(self, scripts: list[Script]) -> None:
        super().__init__(scripts)
        self.paths: list[str] = []

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        return super().process_request(connection, request)


class Recorder:
    """Fake backoff sleep: records the delay, only yields to the loop."""

    def __init__(self) -> None:
        self.sleeps_s: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        await asyncio.sleep(0)


def settings(ws_url: str, **overrides: Any) -> WsSettings:
    values: dict[str, Any] = {
        "base_url": ws_url,
        "mark_watchdog_s": 5.0,
        "user_watchdog_s": 5.0,
        "backoff": FAST_BACKOFF,
        "protocol_ping_interval_s": None,
        "proxy": None,
        "open_timeout_s": 5.0,
    }
    values.update(overrides)
    return WsSettings(**values)


def make_venue(
    router: respx.MockRouter, ws: WsSettings, recorder: Recorder, now_ms: int = T0_MS
) -> BinanceUsdmVenue:
    client = make_rest_client(
        BASE_URL,
        transport=httpx.MockTransport(router.handler),
        limiter=RateLimiter(2400, 60.0, sleep=recorder.sleep),
        sleep=recorder.sleep,
    )
    rest = BinanceUsdmRest(client, SecretStr(API_KEY), SecretStr(API_SECRET), lambda: now_ms)
    return BinanceUsdmVenue(rest, ws=ws, sleep=recorder.sleep, now_ms=lambda: now_ms)


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)


def mark_frame(symbol: str, ts_ms: int, price: str, rate: str = "0.00038167") -> dict[str, Any]:
    frame = load("ws_mark_price_combined.json")
    frame["stream"] = f"{symbol.lower()}@markPrice@1s"
    frame["data"].update(s=symbol, E=ts_ms, p=price, r=rate)
    return frame


def premium_row(symbol: str, ts_ms: int, price: str) -> dict[str, Any]:
    return {
        **load("premium_index_btcusdt.json"),
        "symbol": symbol,
        "time": ts_ms,
        "markPrice": price,
    }


async def send(ws: ServerConnection, *frames: Any) -> None:
    for frame in frames:
        await ws.send(json.dumps(frame))


async def subscribed(ws: ServerConnection, server: ScriptedServer) -> None:
    """Read the SUBSCRIBE, answer it as recorded."""
    await server.recv(ws)
    await send(ws, load("ws_subscribe_response.json"))


async def take(
    iterator: AsyncGenerator[Any, None], count: int, on_item: Callable[[int], None]
) -> list[Any]:
    """Collect ``count`` items, calling ``on_item(n)`` after the n-th; closes the stream."""
    out = []
    async with aclosing(iterator) as items:
        async for item in items:
            out.append(item)
            on_item(len(out))
            if len(out) == count:
                break
    return out


# --- marks -------------------------------------------------------------------------------------


async def test_marks_drop_silence_resubscribe_resync_no_duplicates(
    router: respx.MockRouter,
) -> None:
    three_seen = asyncio.Event()

    async def drops_mid_stream(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribed(ws, server)
        await send(
            ws,
            mark_frame("BTCUSDT", T0_MS + 1000, "100.1"),
            mark_frame("ETHUSDT", T0_MS + 1000, "10.1"),
            mark_frame("BTCUSDT", T0_MS + 2000, "100.2"),
        )
        await three_seen.wait()
        ws.transport.abort()  # TCP reset, no close frame

    async def goes_silent(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribed(ws, server)  # the unrouted-path symptom: subscribed, then nothing
        await ws.wait_closed()

    async def replays_old_then_new(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribed(ws, server)
        await send(
            ws,
            mark_frame("BTCUSDT", T0_MS + 2000, "100.2"),  # duplicate
            mark_frame("BTCUSDT", T0_MS + 1500, "100.15"),  # older
            mark_frame("ETHUSDT", T0_MS + 3000, "10.3"),
            mark_frame("BTCUSDT", T0_MS + 4000, "100.4"),
        )
        await ws.wait_closed()

    premium = router.get("/fapi/v1/premiumIndex").mock(
        side_effect=[
            # After connection 2: BTC older than yielded (dropped), ETH newer (yielded).
            httpx.Response(
                200,
                json=[
                    premium_row("BTCUSDT", T0_MS + 1500, "100.15"),
                    premium_row("ETHUSDT", T0_MS + 2500, "10.25"),
                ],
            ),
            # After connection 3: BTC newer (yielded), ETH unchanged (dropped).
            httpx.Response(
                200,
                json=[
                    premium_row("BTCUSDT", T0_MS + 3000, "100.3"),
                    premium_row("ETHUSDT", T0_MS + 2500, "10.25"),
                ],
            ),
        ]
    )
    router.get("/fapi/v1/fundingInfo").respond(json=load("funding_info.json"))
    server = PathServer([drops_mid_stream, goes_silent, replays_old_then_new])
    recorder = Recorder()
    async with running(server, "") as url:
        venue = make_venue(router, settings(url, mark_watchdog_s=0.3), recorder)
        marks = await take(
            venue.stream_marks([BTC, ETH]), 7, lambda n: three_seen.set() if n == 3 else None
        )
        await venue.close()
    assert [(m.instrument_id.symbol, m.ts_event_ms - T0_MS, m.mark_price) for m in marks] == [
        ("BTCUSDT", 1000, 100.1),
        ("ETHUSDT", 1000, 10.1),
        ("BTCUSDT", 2000, 100.2),
        ("ETHUSDT", 2500, 10.25),  # resync after the drop
        ("BTCUSDT", 3000, 100.3),  # resync after the silent connection
        ("ETHUSDT", 3000, 10.3),
        ("BTCUSDT", 4000, 100.4),
    ]
    assert marks[0].index_price == 11784.62659091  # ``i`` of the recorded frame
    subscribe = load("ws_subscribe_request.json")  # btcusdt + ethusdt @markPrice@1s, id 1
    assert [[json.loads(f) for f in frames] for frames in server.received] == [[subscribe]] * 3
    assert server.paths == ["/market/stream"] * 3
    assert premium.call_count == 2
    assert "symbol" not in dict(parse_qsl(premium.calls.last.request.url.query.decode()))
    # Each connection delivered something (at least the subscription answer): backoff reset.
    assert recorder.sleeps_s == [0.01, 0.01]


async def test_marks_lifetime_reconnect_has_no_gap_or_backoff(router: respx.MockRouter) -> None:
    async def one_then_idle(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribed(ws, server)
        await send(ws, mark_frame("BTCUSDT", T0_MS + 1000, "100.1"))
        await ws.wait_closed()

    async def replay_then_new(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribed(ws, server)
        await send(
            ws,
            mark_frame("BTCUSDT", T0_MS + 1000, "100.1"),
            mark_frame("BTCUSDT", T0_MS + 3000, "100.3"),
        )
        await ws.wait_closed()

    premium = router.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).respond(
        json=premium_row("BTCUSDT", T0_MS + 2000, "100.2")
    )
    router.get("/fapi/v1/fundingInfo").respond(json=[])
    server = PathServer([one_then_idle, replay_then_new])
    recorder = Recorder()
    async with running(server, "") as url:
        venue = make_venue(router, settings(url, max_lifetime_s=0.3), recorder)
        marks = await take(venue.stream_marks([BTC]), 3, lambda n: None)
        await venue.close()
    assert [(m.ts_event_ms - T0_MS, m.mark_price) for m in marks] == [
        (1000, 100.1),
        (2000, 100.2),  # REST covers the switch-over
        (3000, 100.3),
    ]
    assert recorder.sleeps_s == [0.0]
    assert premium.call_count == 1


async def test_funding_from_mark_stream_only_on_change(router: respx.MockRouter) -> None:
    async def rates(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribed(ws, server)
        await send(
            ws,
            mark_frame("BTCUSDT", T0_MS + 1000, "100.1", rate="0.00010000"),
            mark_frame("BTCUSDT", T0_MS + 2000, "100.2", rate="0.00010000"),
            mark_frame("BTCUSDT", T0_MS + 3000, "100.3", rate="0.00020000"),
        )
        await ws.wait_closed()

    router.get("/fapi/v1/fundingInfo").respond(json=[])
    server = PathServer([rates])
    async with running(server, "") as url:
        venue = make_venue(router, settings(url), Recorder())
        funding = await take(venue.stream_funding([BTC]), 2, lambda n: None)
        await venue.close()
    next_funding_ms = 1_562_306_400_000  # ``T`` of the recorded frame
    assert [(f.rate, f.ts_funding_ms) for f in funding] == [
        (0.0001, next_funding_ms),
        (0.0002, next_funding_ms),
    ]
    assert funding[0].ts_next_funding_ms == next_funding_ms + 8 * 3_600_000


async def test_market_stream_interleaves_marks_and_predicted_funding_from_one_connection(
    router: respx.MockRouter,
) -> None:
    """``stream_market``: every mark, each followed by its frame's predicted funding when the
    rate changed — from one connection (one subscription), not two."""

    async def rates(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribed(ws, server)
        await send(
            ws,
            mark_frame("BTCUSDT", T0_MS + 1000, "100.1", rate="0.00010000"),
            mark_frame("BTCUSDT", T0_MS + 2000, "100.2", rate="0.00010000"),
            mark_frame("BTCUSDT", T0_MS + 3000, "100.3", rate="-0.00030000"),
        )
        await ws.wait_closed()

    router.get("/fapi/v1/fundingInfo").respond(json=[])
    server = PathServer([rates])
    async with running(server, "") as url:
        venue = make_venue(router, settings(url), Recorder())
        updates = await take(venue.stream_market([BTC]), 5, lambda n: None)
        await venue.close()
    next_funding_ms = 1_562_306_400_000  # ``T`` of the recorded frame
    shown = [
        ("mark", u.mark_price) if isinstance(u, MarkPrice) else ("funding", u.rate) for u in updates
    ]
    assert shown == [
        ("mark", 100.1),
        ("funding", 0.0001),
        ("mark", 100.2),  # same rate: no funding update
        ("mark", 100.3),
        ("funding", -0.0003),
    ]
    assert {u.ts_funding_ms for u in updates if isinstance(u, FundingRate)} == {next_funding_ms}
    assert server.connections == 1


async def test_malformed_mark_frame_is_protocol_error_naming_the_field(
    router: respx.MockRouter,
) -> None:
    """The live mark stream decodes with the typed decoder (venues.binance.decode): a good
    frame is yielded, a malformed one stops the stream with the parser's ProtocolError."""

    async def good_then_bad(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribed(ws, server)
        await send(
            ws,
            mark_frame("BTCUSDT", T0_MS + 1000, "100.1"),
            mark_frame("BTCUSDT", T0_MS + 2000, "1O0.2"),  # letter O
        )
        await ws.wait_closed()

    router.get("/fapi/v1/fundingInfo").respond(json=[])
    seen: list[MarkPrice] = []

    async def collect(marks: AsyncGenerator[MarkPrice, None]) -> None:
        async with aclosing(marks) as items:
            async for mark in items:
                seen.append(mark)  # noqa: PERF401 -- kept when the stream then raises

    message = r"markPriceUpdate\[BTCUSDT\]: field 'p' is not a finite decimal number: '1O0.2'"
    async with running(PathServer([good_then_bad]), "") as url:
        venue = make_venue(router, settings(url), Recorder())
        with pytest.raises(ProtocolError, match=message):
            await collect(venue.stream_marks([BTC]))
        await venue.close()
    assert [(m.ts_event_ms - T0_MS, m.mark_price) for m in seen] == [(1000, 100.1)]


async def test_refused_subscription_is_protocol_error(router: respx.MockRouter) -> None:
    async def refuse(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await send(ws, {"error": {"code": 2, "msg": "Invalid request"}, "id": 1})
        await ws.wait_closed()

    router.get("/fapi/v1/fundingInfo").respond(json=[])
    async with running(PathServer([refuse]), "") as url:
        venue = make_venue(router, settings(url), Recorder())
        with pytest.raises(ProtocolError, match="refused"):
            await take(venue.stream_marks([BTC]), 1, lambda n: None)
        await venue.close()


# --- user data stream --------------------------------------------------------------------------


def order_event(cid: str, status: str, ts_ms: int, filled: str = "0") -> dict[str, Any]:
    event = load("ws_user_order_update_new.json")
    event["o"].update(c=cid, X=status, x=status, T=ts_ms, z=filled)
    return event


def listen_key_answers(*keys: str) -> list[httpx.Response]:
    return [httpx.Response(200, json={**load("listen_key.json"), "listenKey": k}) for k in keys]


async def test_listen_key_expiry_renews_key_reconnects_and_resyncs(
    router: respx.MockRouter,
) -> None:
    new_ms = 1_568_879_465_651  # ``T`` of the recorded ORDER_TRADE_UPDATE
    filled = {**load("query_order.json"), "clientOrderId": "TEST", "status": "FILLED"}
    filled.update(executedQty="0.40", avgPrice="9000.5", updateTime=new_ms + 500)

    async def new_then_expired(ws: ServerConnection, server: ScriptedServer) -> None:
        expired = {"e": "listenKeyExpired", "E": new_ms + 100, "listenKey": KEY_1}
        await send(ws, order_event("TEST", "NEW", new_ms), expired)
        await ws.wait_closed()

    async def replay_then_next(ws: ServerConnection, server: ScriptedServer) -> None:
        await send(
            ws,
            order_event("TEST", "FILLED", new_ms + 500, filled="0.40"),  # already resynced
            order_event("NEXT", "NEW", new_ms + 900),
        )
        await ws.wait_closed()

    keys = router.post("/fapi/v1/listenKey").mock(side_effect=listen_key_answers(KEY_1, KEY_2))
    router.get("/fapi/v1/openOrders").respond(json=[])
    lookup = router.get("/fapi/v1/order").respond(json=filled)
    trade = {
        "symbol": "BTCUSDT", "id": 7, "orderId": 1917641, "side": "BUY", "price": "9000.5",
        "qty": "0.40", "commission": "1.80010", "commissionAsset": "USDT",
        "time": new_ms + 500, "maker": False,
    }  # fmt: skip
    router.get("/fapi/v1/userTrades").respond(json=[trade])
    income = router.get("/fapi/v1/income").respond(json=load("income_history.json"))
    server = PathServer([new_then_expired, replay_then_next])
    async with running(server, "") as url:
        venue = make_venue(router, settings(url), Recorder(), now_ms=new_ms)
        with capture_logs() as logs:
            events = await take(venue.stream_account(), 4, lambda n: None)
        await venue.close()
    # the resynced order filled while the stream was down: its fill (from userTrades) comes
    # first, then the order update
    assert [type(e).__name__ for e in events] == ["OrderAck", "Fill", "OrderAck", "OrderAck"]
    fill = events[1]
    assert isinstance(fill, Fill)
    expected = (Decimal("0.40"), Decimal("9000.5"), Decimal("1.80010"))
    assert (fill.qty, fill.price, fill.fee_usd) == expected
    acks = [e for e in events if isinstance(e, OrderAck)]
    assert [(a.client_order_id, a.status, a.ts_event_ms - new_ms) for a in acks] == [
        ("TEST", OrderStatus.NEW, 0),
        ("TEST", OrderStatus.FILLED, 500),  # from GET /fapi/v1/order after the new key
        ("NEXT", OrderStatus.NEW, 900),
    ]
    assert str(acks[1].filled_qty) == "0.40"
    assert server.paths == [f"/private/ws?listenKey={KEY_1}", f"/private/ws?listenKey={KEY_2}"]
    assert server.received == [[], []]  # nothing to subscribe on /private
    assert keys.call_count == 2
    assert keys.calls.last.request.headers["X-MBX-APIKEY"] == API_KEY
    assert "signature" not in keys.calls.last.request.url.query.decode()
    assert (
        dict(parse_qsl(lookup.calls.last.request.url.query.decode()))["origClientOrderId"] == "TEST"
    )
    assert income.call_count == 1
    assert KEY_1 not in str(logs)
    assert KEY_2 not in str(logs)


def bnb_fee_fill(cid: str, ts_ms: int) -> dict[str, Any]:
    """A TRADE update: 0.002 BTC at 60,000, commission 0.00012 BNB (the BNB fee discount)."""
    event = order_event(cid, "FILLED", ts_ms, filled="0.002")
    event["o"].update(x="TRADE", q="0.002", l="0.002", L="60000", ap="60000", n="0.00012",
                      N="BNB", t=88, m=False)  # fmt: skip
    return event


async def test_a_fill_charged_in_bnb_is_priced_at_the_bnbusdt_mark(
    router: respx.MockRouter,
) -> None:
    ts_ms = 1_568_879_465_651

    async def bnb_fill(ws: ServerConnection, server: ScriptedServer) -> None:
        await send(ws, bnb_fee_fill("BNBFEE", ts_ms))
        await ws.wait_closed()

    router.post("/fapi/v1/listenKey").mock(side_effect=listen_key_answers(KEY_1))
    bnb = router.get("/fapi/v1/premiumIndex", params={"symbol": "BNBUSDT"}).respond(
        json=premium_row("BNBUSDT", ts_ms, "612.50000000")
    )
    async with running(PathServer([bnb_fill]), "") as url:
        venue = make_venue(router, settings(url), Recorder(), now_ms=ts_ms)
        fill, ack = await take(venue.stream_account(), 2, lambda n: None)
        await venue.close()
    assert isinstance(fill, Fill)
    assert isinstance(ack, OrderAck)
    assert (fill.qty, fill.price) == (Decimal("0.002"), Decimal("60000"))
    assert fill.fee_usd == Decimal("0.00012") * Decimal("612.50000000")
    assert ack.status is OrderStatus.FILLED
    assert bnb.call_count == 1


async def test_a_bnb_price_that_cannot_be_read_delays_the_fill_to_the_resync(
    router: respx.MockRouter,
) -> None:
    ts_ms = 1_568_879_465_651

    async def new_then_bnb_fill(ws: ServerConnection, server: ScriptedServer) -> None:
        await send(ws, order_event("BNBFEE", "NEW", ts_ms), bnb_fee_fill("BNBFEE", ts_ms + 5))
        await ws.wait_closed()

    async def quiet(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.wait_closed()

    filled = {**load("query_order.json"), "clientOrderId": "BNBFEE", "status": "FILLED"}
    filled.update(origQty="0.002", executedQty="0.002", avgPrice="60000", updateTime=ts_ms + 5)
    trade = {
        "symbol": "BTCUSDT", "id": 88, "orderId": filled["orderId"], "side": "BUY",
        "price": "60000", "qty": "0.002", "commission": "0.00012", "commissionAsset": "BNB",
        "time": ts_ms + 5, "maker": False,
    }  # fmt: skip
    router.post("/fapi/v1/listenKey").mock(side_effect=listen_key_answers(KEY_1, KEY_1))
    # Down for the stream's read (and the REST client's own retries), back for the resync.
    premium_answers = [httpx.Response(503, text="busy")] * 3
    premium_answers.append(httpx.Response(200, json=premium_row("BNBUSDT", ts_ms, "612.5")))
    bnb = router.get("/fapi/v1/premiumIndex", params={"symbol": "BNBUSDT"}).mock(
        side_effect=premium_answers
    )
    router.get("/fapi/v1/openOrders").respond(json=[])
    router.get("/fapi/v1/order").respond(json=filled)
    router.get("/fapi/v1/userTrades").respond(json=[trade])
    router.get("/fapi/v1/income").respond(json=[])
    server = PathServer([new_then_bnb_fill, quiet])
    async with running(server, "") as url:
        venue = make_venue(router, settings(url), Recorder(), now_ms=ts_ms)
        with capture_logs() as logs:
            new, fill, done = await take(venue.stream_account(), 3, lambda n: None)
        await venue.close()
    assert isinstance(new, OrderAck)
    assert new.status is OrderStatus.NEW
    assert isinstance(fill, Fill)
    assert fill.trade_id == "88"
    assert fill.fee_usd == Decimal("0.00012") * Decimal("612.5")
    assert isinstance(done, OrderAck)
    assert done.status is OrderStatus.FILLED
    assert bnb.call_count == 4
    assert len(server.paths) == 2  # reconnected, then resynced over REST
    assert any(entry["event"] == "fee_price_unavailable" for entry in logs)


async def test_funding_fee_event_yields_payment_once(router: respx.MockRouter) -> None:
    settled = load("funding_rate_history.json")[1]  # 0.0001 at mark 34287.54619963
    update = load("ws_user_account_update.json")
    update["a"]["m"] = "FUNDING_FEE"
    del update["a"]["P"]  # cross margin: balance only (USD-M "Event: Balance and Position Update")
    update["a"]["B"][0]["bc"] = "-1.71437731"
    fee_row = {
        "symbol": "BTCUSDT", "incomeType": "FUNDING_FEE", "income": "-1.71437731",
        "asset": "USDT", "info": "FUNDING_FEE", "time": settled["fundingTime"],
        "tranId": 7, "tradeId": "",
    }  # fmt: skip

    async def funding_twice(ws: ServerConnection, server: ScriptedServer) -> None:
        await send(ws, update, update, order_event("AFTER", "NEW", settled["fundingTime"] + 9))
        await ws.wait_closed()

    router.post("/fapi/v1/listenKey").mock(side_effect=listen_key_answers(KEY_1))
    income = router.get("/fapi/v1/income").respond(json=[*load("income_history.json"), fee_row])
    router.get("/fapi/v1/fundingRate").respond(json=load("funding_rate_history.json"))
    router.get("/fapi/v1/fundingInfo").respond(json=[])
    start_ms = settled["fundingTime"] - 3_600_000
    async with running(PathServer([funding_twice]), "") as url:
        venue = make_venue(router, settings(url), Recorder(), now_ms=start_ms)
        events = await take(venue.stream_account(), 2, lambda n: None)
        await venue.close()
    payment, ack = events
    assert isinstance(payment, FundingPayment)
    assert isinstance(ack, OrderAck)
    # A 0.5 BTC long paid 0.5 × 0.0001 × 34287.54619963 ≈ 1.71437731 USDT.
    assert (payment.instrument_id, payment.ts_funding_ms) == (BTC, settled["fundingTime"])
    assert str(payment.position_qty) == "0.50000000"
    assert str(payment.amount_usd) == "-1.71437731"
    assert ack.client_order_id == "AFTER"
    assert income.call_count == 2  # one fetch per FUNDING_FEE event, the second deduplicated
    assert dict(parse_qsl(income.calls[0].request.url.query.decode()))["startTime"] == str(start_ms)


async def test_keepalive_put_on_schedule(router: respx.MockRouter) -> None:
    now_s = [0.0]
    put_seen = asyncio.Event()

    def on_put(request: httpx.Request) -> httpx.Response:
        put_seen.set()
        return httpx.Response(200, json={})

    async def two_events(ws: ServerConnection, server: ScriptedServer) -> None:
        await send(ws, order_event("A", "NEW", 1_000))
        await put_seen.wait()
        await send(ws, order_event("B", "NEW", 2_000))
        await ws.wait_closed()

    router.post("/fapi/v1/listenKey").mock(side_effect=listen_key_answers(KEY_1))
    put = router.put("/fapi/v1/listenKey").mock(side_effect=on_put)

    def advance(count: int) -> None:
        if count == 1:
            now_s[0] = 30 * 60.0  # the keepalive is due

    recorder = Recorder()
    async with running(PathServer([two_events]), "") as url:
        venue = make_venue(router, settings(url), recorder)
        rest = venue._rest  # the stream shares the venue's REST layer
        user = UserDataStream(
            rest, venue, settings(url), recorder.sleep, lambda: 0, lambda: now_s[0]
        )
        events = await take(user.events(), 2, advance)
        await venue.close()
    assert [e.client_order_id for e in events if isinstance(e, OrderAck)] == ["A", "B"]
    assert put.call_count == 1
    assert put.calls.last.request.headers["X-MBX-APIKEY"] == API_KEY


async def test_keepalive_on_missing_key_switches_to_a_new_one(router: respx.MockRouter) -> None:
    now_s = [0.0]

    async def one_event(ws: ServerConnection, server: ScriptedServer) -> None:
        await send(ws, order_event("A", "NEW", 1_000))
        await ws.wait_closed()

    async def next_event(ws: ServerConnection, server: ScriptedServer) -> None:
        await send(ws, order_event("B", "NEW", 2_000))
        await ws.wait_closed()

    router.post("/fapi/v1/listenKey").mock(side_effect=listen_key_answers(KEY_1, KEY_2))
    missing = {"code": -1125, "msg": "This listenKey does not exist."}
    router.put("/fapi/v1/listenKey").respond(400, json=missing)
    still_open = {**load("query_order.json"), "clientOrderId": "A", "updateTime": 1_000}
    router.get("/fapi/v1/openOrders").respond(json=[still_open])  # same state: not repeated
    router.get("/fapi/v1/income").respond(json=[])
    server = PathServer([one_event, next_event])
    recorder = Recorder()

    def advance(count: int) -> None:
        now_s[0] = 31 * 60.0

    async with running(server, "") as url:
        venue = make_venue(router, settings(url), recorder)
        user = UserDataStream(
            venue._rest, venue, settings(url), recorder.sleep, lambda: 0, lambda: now_s[0]
        )
        events = await take(user.events(), 2, advance)
        await venue.close()
    assert [e.client_order_id for e in events if isinstance(e, OrderAck)] == ["A", "B"]
    assert server.paths == [f"/private/ws?listenKey={KEY_1}", f"/private/ws?listenKey={KEY_2}"]


async def test_failed_resync_reconnects_after_backoff_and_resyncs_again(
    router: respx.MockRouter,
) -> None:
    async def new_then_expired(ws: ServerConnection, server: ScriptedServer) -> None:
        expired = {"e": "listenKeyExpired", "E": 1_100, "listenKey": KEY_1}
        await send(ws, order_event("TEST", "NEW", 1_000), expired)
        await ws.wait_closed()

    async def idle(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.wait_closed()

    async def next_order(ws: ServerConnection, server: ScriptedServer) -> None:
        await send(ws, order_event("NEXT", "NEW", 3_000))
        await ws.wait_closed()

    router.post("/fapi/v1/listenKey").mock(side_effect=listen_key_answers(KEY_1, KEY_2))
    unavailable = httpx.Response(503, text="Service Unavailable.")
    still_open = {**load("query_order.json"), "clientOrderId": "TEST", "updateTime": 2_000}
    open_orders = router.get("/fapi/v1/openOrders").mock(
        side_effect=[unavailable] * 3 + [httpx.Response(200, json=[still_open])]
    )
    router.get("/fapi/v1/income").respond(json=[])
    server = PathServer([new_then_expired, idle, next_order])
    recorder = Recorder()
    async with running(server, "") as url:
        venue = make_venue(router, settings(url), recorder)
        events = await take(venue.stream_account(), 3, lambda n: None)
        await venue.close()
    assert [(e.client_order_id, e.ts_event_ms) for e in events if isinstance(e, OrderAck)] == [
        ("TEST", 1_000),
        ("TEST", 2_000),  # the open order as resynced on the third connection
        ("NEXT", 3_000),
    ]
    assert server.paths == [f"/private/ws?listenKey={k}" for k in (KEY_1, KEY_2, KEY_2)]
    assert open_orders.call_count == 4  # 3 attempts (REST retries), then the resync again
    assert 0.01 in recorder.sleeps_s  # the stream's own backoff before reconnecting
