"""Binance and Bybit standing in for the real venues in live-data tests: respx fakes with 1h
klines from a closed-form price path, and a websocket script that answers like the venues'
public streams (Binance ``/market/stream`` mark price and ``/stream`` spot klines, Bybit
``/v5/public/linear`` tickers). Used by the paper-on-live and live-mode integration tests.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from agent.config import AgentConfig
from agent.live.account import credentials_for
from tests.fakes.binance import BinanceFake
from tests.fakes.bybit import FakeBybit
from tests.support.fake_market import FakeWall
from tests.support.ws_server import ScriptedServer
from venues.base import Venue
from venues.model import HOUR_MS, Fill, FundingRate, MarkPrice
from venues.registry import create_trading_venue

H = HOUR_MS
T = 480_100 * H  # a whole hour
BINANCE_URL = "https://binance.test"
BYBIT_URL = "https://bybit.test"
RATE = Decimal("0.00100000")  # per 8 h on Binance: the harvester enters
_T = TypeVar("_T")


def close_at(ts_close_ms: int, offset: float = 0.0) -> float:
    """1h close ending at ``ts_close_ms``: 60,000 + 1 per hour since hour 480,000."""
    return 60_000.0 + offset + float(ts_close_ms // H - 480_000)


def binance_kline(ts_open_ms: int, offset: float) -> list[Any]:
    close = f"{close_at(ts_open_ms + H, offset):.2f}"
    return [ts_open_ms, close, close, close, close, "10.0", ts_open_ms + H - 1,
            "600000.0", 100, "5.0", "300000.0", "0"]  # fmt: skip


def bybit_klines(request: httpx.Request) -> httpx.Response:
    """``GET /v5/market/kline``: rows in the window, newest first (as Bybit returns them)."""
    params = request.url.params
    start, end = int(params["start"]), int(params.get("end", str(2**62)))
    limit = int(params.get("limit", "200"))
    first = -(-start // H) * H
    rows = [
        [str(ts), *([f"{close_at(ts + H, 5.0):.1f}"] * 4), "10", "600000"]
        for ts in range(first, min(end + 1, T + 3 * H), H)
    ]
    rows = list(reversed(rows))[:limit]
    body = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "symbol":
            params["symbol"], "list": rows}, "retExtInfo": {}, "time": T}  # fmt: skip
    return httpx.Response(200, json=body)


class WsVenues:
    """Websocket script per path: the public streams (subscribe ack, then one update per
    subscribed stream) and the account streams — Binance USD-M ``/private/ws?listenKey=``
    (no subscribe; the ``binance`` fake's ``user_events`` as they come), the spot WebSocket API
    ``/ws-api/v3`` (``userDataStream.subscribe.signature`` acknowledged, then the fake's
    ``spot_user_events``) and Bybit ``/v5/private`` (``auth`` and ``subscribe`` acknowledged,
    pings answered)."""

    def __init__(self, wall: FakeWall, binance: BinanceFake | None = None) -> None:
        self.wall = wall
        self.binance = binance
        self.subscribed: dict[str, list[Any]] = {}
        #: Set once each of the three public streams has subscribed (thread-safe: a test may
        #: serve from another thread, see ``tests.support.ws_server.running_in_thread``).
        self.all_subscribed = threading.Event()
        #: Path (with query) of every account-stream connection, and what each sent first.
        self.account_paths: list[str] = []
        self.account_requests: list[Any] = []
        #: Set when the predicted funding of the Binance mark stream should change (the next
        #: ``markPriceUpdate`` carries ``binance_rate``, settling at ``binance_funding_ms``).
        self.binance_rate = "0.00100000"
        self.binance_funding_ms = T + 8 * H
        self.mark_updates: asyncio.Queue[bool] = asyncio.Queue()
        """Put ``True``: every open Binance mark stream sends one more update now."""

    async def handler(self, ws: ServerConnection, server: ScriptedServer) -> None:
        path = ws.request.path if ws.request is not None else ""
        if path.startswith(("/private/ws", "/ws-api/v3", "/v5/private")):
            self.account_paths.append(path)
            await self._account(path, ws, server)
            return
        request = json.loads(await server.recv(ws))
        self.subscribed.setdefault(path.split("?")[0], []).append(request)
        if len(self.subscribed) == 3:
            self.all_subscribed.set()
        now = self.wall.now_ms()
        if path.startswith("/market/stream"):
            await ws.send(json.dumps({"result": None, "id": request["id"]}))
            await self._binance_marks(ws, request["params"], now)
            # a new update whenever the test asks for one, until the client leaves
            while await _next_or_closed(ws, self.mark_updates) is not None:
                await self._binance_marks(ws, request["params"], self.wall.now_ms())
            return
        elif path.startswith("/stream"):
            await ws.send(json.dumps({"result": None, "id": request["id"]}))
            for name in request["params"]:
                symbol = name.split("@")[0].upper()
                price = "60090.00"
                kline = {"t": now - 1_000, "T": now - 1, "s": symbol, "i": "1s", "f": 1,
                         "L": 2, "o": price, "c": price, "h": price, "l": price, "v": "1",
                         "n": 1, "x": True, "q": price, "V": "0", "Q": "0", "B": "0"}  # fmt: skip
                data = {"e": "kline", "E": now, "s": symbol, "k": kline}
                await ws.send(json.dumps({"stream": name, "data": data}))
        elif path.startswith("/v5/public/linear"):
            await ws.send(json.dumps({"success": True, "ret_msg": "", "conn_id": "c1",
                                      "req_id": "", "op": "subscribe"}))  # fmt: skip
            for topic in request["args"]:
                data = {"symbol": topic.split(".")[1], "markPrice": "60105.00",
                        "lastPrice": "60105.00", "indexPrice": "60100.00",
                        "fundingRate": "0.0001", "nextFundingTime": str(T + 8 * H),
                        "fundingIntervalHour": "8",
                        "bid1Price": "60104.90", "ask1Price": "60105.10"}  # fmt: skip
                frame = {"topic": topic, "type": "snapshot", "data": data, "cs": 1, "ts": now}
                await ws.send(json.dumps(frame))
        await _answer_pings(ws)

    async def _binance_marks(self, ws: ServerConnection, streams: list[str], now: int) -> None:
        for name in streams:
            data = {"e": "markPriceUpdate", "E": now, "s": name.split("@")[0].upper(),
                    "p": "60100.50000000", "i": "60100.0", "P": "60100.0",
                    "r": self.binance_rate, "T": self.binance_funding_ms}  # fmt: skip
            await ws.send(json.dumps({"stream": name, "data": data}))

    async def _account(self, path: str, ws: ServerConnection, server: ScriptedServer) -> None:
        binance = self.binance
        if path.startswith("/private/ws"):  # no subscribe: the listenKey is in the URL
            await _send_each(ws, None if binance is None else binance.user_events)
        elif path.startswith("/ws-api/v3"):
            request = json.loads(await server.recv(ws))
            self.account_requests.append(request)
            answer = {"id": request["id"], "status": 200, "result": {"subscriptionId": 0}}
            await ws.send(json.dumps(answer))
            await _send_each(ws, None if binance is None else binance.spot_user_events)
        else:  # Bybit /v5/private: auth, then the subscription
            for op in ("auth", "subscribe"):
                self.account_requests.append(json.loads(await server.recv(ws)))
                await ws.send(json.dumps({"success": True, "ret_msg": "", "op": op,
                                          "conn_id": "p1"}))  # fmt: skip
            await _answer_pings(ws)


async def _send_each(ws: ServerConnection, events: asyncio.Queue[dict[str, Any]] | None) -> None:
    """Send each event of ``events`` as it comes (none: keep the connection open) until the
    connection closes."""
    with suppress(ConnectionClosed):
        while (event := await _next_or_closed(ws, events)) is not None:
            await ws.send(json.dumps(event))


async def _next_or_closed(ws: ServerConnection, queue: asyncio.Queue[_T] | None) -> _T | None:
    """The next item of ``queue``, or None once the connection closed first (so the server
    can shut down while a handler waits for something to send)."""
    closed = asyncio.ensure_future(ws.wait_closed())
    tasks: set[asyncio.Future[Any]] = {closed}
    if queue is not None:
        tasks.add(asyncio.ensure_future(queue.get()))
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    got = [t for t in done if t is not closed]
    if got:
        result: _T = got[0].result()
        return result
    return None


async def _answer_pings(ws: ServerConnection) -> None:
    """Answer Bybit's application pings (public and private shapes) until the client leaves."""
    with suppress(ConnectionClosed):
        async for raw in ws:
            message = json.loads(raw)
            if isinstance(message, dict) and message.get("op") == "ping":
                await ws.send(json.dumps({"success": True, "ret_msg": "pong",
                                          "conn_id": "c1", "op": "ping"}))  # fmt: skip


class SeenMarks:
    """A venue client whose mark stream reports each mark to the test (and, with
    ``fills_seen``, whose account stream reports each fill)."""

    def __init__(
        self,
        inner: Any,
        seen: asyncio.Queue[MarkPrice],
        fills_seen: asyncio.Queue[Fill] | None = None,
    ) -> None:
        self._inner = inner
        self._seen = seen
        self._fills_seen = fills_seen

    async def stream_account(self) -> AsyncIterator[Any]:
        async for event in self._inner.stream_account():
            if isinstance(event, Fill) and self._fills_seen is not None:
                self._fills_seen.put_nowait(event)
            yield event

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def stream_marks(self, instrument_ids: Sequence[Any]) -> AsyncIterator[MarkPrice]:
        async for mark in self._inner.stream_marks(instrument_ids):
            self._seen.put_nowait(mark)
            yield mark

    async def stream_market(
        self, instrument_ids: Sequence[Any]
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        async for update in self._inner.stream_market(instrument_ids):
            if isinstance(update, MarkPrice):
                self._seen.put_nowait(update)
            yield update


def live_toml(journal: Path, ws_url: str, *, mode: str = "paper") -> str:
    """The run's config: Binance + Bybit (URLs pointed at the fakes), harvester, cross-venue
    arb and beta hedger on BTC only."""
    return f"""
mode = "{mode}"
[market_data]
source = "live"
live_bar_delay_s = 15
live_mark_every_s = 60
live_funding_history_days = 2
[venues.binance]
collateral_frac = 0.6
rest_url = "{BINANCE_URL}"
ws_url = "{ws_url}"
[venues.bybit]
collateral_frac = 0.4
rest_url = "{BYBIT_URL}"
ws_url = "{ws_url}"
[venues.hyperliquid]
enabled = false
collateral_frac = 0.0
[journal]
path = "{journal}"
[logging]
level = "warning"
[control]
# any free port: a fixed one (9108) could be taken on the machine running the tests
http_port = 0
[strategies.stat_arb]
enabled = false
[strategies.factor_neutral]
enabled = false
[strategies.funding_harvester]
symbols = ["BTCUSDT"]
rate_lookback_settlements = 1
[strategies.beta_hedger]
universe = ["BTC"]
inventory_usd = {{}}
[strategies.cross_venue_arb]
symbols = ["BTC"]
venues = ["binance", "bybit"]
"""


def make_fakes(wall: FakeWall) -> tuple[BinanceFake, FakeBybit]:
    """Binance (perp + spot klines for 100 h around ``T``, BTCUSDT at 60,100) and Bybit
    (klines, BTCUSDT at 60,105, 1 bp funding every 8 h) on the fake wall clock."""
    binance = BinanceFake(BINANCE_URL, BINANCE_URL, now_ms=wall.now_ms)
    hours = range(T - 100 * H, T + 2 * H, H)
    binance.perp_klines = [binance_kline(ts, 0.0) for ts in hours]
    binance.spot_klines = [binance_kline(ts, -10.0) for ts in hours]
    binance.seed(
        {"BTCUSDT": Decimal(60_100)},
        {"BTCUSDT": (Decimal(60_090), Decimal(60_091))},
        funding_rate=RATE,
    )
    bybit = FakeBybit(base_url=BYBIT_URL, now_ms=wall.now_ms)
    bybit.router.get("/v5/market/kline").mock(side_effect=bybit_klines)
    bybit.funding["BTCUSDT"] = [(T - 16 * H, "0.0001"), (T - 8 * H, "0.0001"), (T, "0.0001")]
    bybit.seed_price("linear", "BTCUSDT", Decimal(60_105))
    return binance, bybit


MARK_AT_T = Decimal("60098.12345678")
"""Binance's settlement mark price of the funding at ``T`` (:func:`binance_settles_at_t`)."""


def binance_settles_at_t(binance: BinanceFake) -> None:
    """Binance's BTCUSDT funding history: ``RATE`` settled at T - 16h and T - 8h, and at T
    (mark price :data:`MARK_AT_T`) once the clock passes it."""
    binance.funding.rows["BTCUSDT"] = [
        {"symbol": "BTCUSDT", "fundingRate": str(RATE), "fundingTime": ts, "markPrice": mark}
        for ts, mark in ((T - 16 * H, "60080.0"), (T - 8 * H, "60090.0"), (T, str(MARK_AT_T)))
    ]


async def no_wait(_: float) -> None:
    """The venue clients' retry/limiter sleep: yields only."""
    await asyncio.sleep(0)


def venue_factory(
    config: AgentConfig, transports: Mapping[str, httpx.AsyncBaseTransport]
) -> Callable[[str], Venue]:
    """The supervisor's ``venue_factory`` for a live config: each enabled venue's real
    client with the config's credentials and URLs, over the given fake transport, without
    waiting on retries."""

    def factory(name: str) -> Venue:
        venue = config.venues[name]
        return create_trading_venue(
            name,
            credentials_for(name, venue),
            rest_url=venue.rest_url,
            ws_url=venue.ws_url,
            transport=transports[name],
            sleep=no_wait,
        )

    return factory
