"""Binance and Bybit standing in for the real venues in live-data tests: respx fakes with 1h
klines from a closed-form price path, and a websocket script that answers like the venues'
public streams (Binance ``/market/stream`` mark price and ``/stream`` spot klines, Bybit
``/v5/public/linear`` tickers). Used by the paper-on-live and live-mode integration tests.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.fakes.binance import BinanceFake
from tests.fakes.bybit import FakeBybit
from tests.support.fake_market import FakeWall
from tests.support.ws_server import ScriptedServer
from venues.model import HOUR_MS, MarkPrice

H = HOUR_MS
T = 480_100 * H  # a whole hour
BINANCE_URL = "https://binance.test"
BYBIT_URL = "https://bybit.test"
RATE = Decimal("0.00100000")  # per 8 h on Binance: the harvester enters


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
    """Websocket script per path: subscribe ack, then one update per subscribed stream."""

    def __init__(self, wall: FakeWall) -> None:
        self.wall = wall
        self.subscribed: dict[str, list[Any]] = {}
        #: Set once each of the three public streams has subscribed (thread-safe: a test may
        #: serve from another thread, see ``tests.support.ws_server.running_in_thread``).
        self.all_subscribed = threading.Event()

    async def handler(self, ws: ServerConnection, server: ScriptedServer) -> None:
        path = ws.request.path if ws.request is not None else ""
        request = json.loads(await server.recv(ws))
        self.subscribed.setdefault(path.split("?")[0], []).append(request)
        if len(self.subscribed) == 3:
            self.all_subscribed.set()
        now = self.wall.now_ms()
        if path.startswith("/market/stream"):
            await ws.send(json.dumps({"result": None, "id": request["id"]}))
            for name in request["params"]:
                data = {"e": "markPriceUpdate", "E": now, "s": name.split("@")[0].upper(),
                        "p": "60100.50000000", "i": "60100.0", "P": "60100.0",
                        "r": "0.00100000", "T": T + 8 * H}  # fmt: skip
                await ws.send(json.dumps({"stream": name, "data": data}))
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
                        "bid1Price": "60104.90", "ask1Price": "60105.10"}  # fmt: skip
                frame = {"topic": topic, "type": "snapshot", "data": data, "cs": 1, "ts": now}
                await ws.send(json.dumps(frame))
        with suppress(ConnectionClosed):
            async for raw in ws:  # answer Bybit's application pings
                message = json.loads(raw)
                if isinstance(message, dict) and message.get("op") == "ping":
                    await ws.send(json.dumps({"success": True, "ret_msg": "pong",
                                              "conn_id": "c1", "op": "ping"}))  # fmt: skip


class SeenMarks:
    """A venue client whose mark stream reports each mark to the test."""

    def __init__(self, inner: Any, seen: asyncio.Queue[MarkPrice]) -> None:
        self._inner = inner
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def stream_marks(self, instrument_ids: Sequence[Any]) -> AsyncIterator[MarkPrice]:
        async for mark in self._inner.stream_marks(instrument_ids):
            self._seen.put_nowait(mark)
            yield mark


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
