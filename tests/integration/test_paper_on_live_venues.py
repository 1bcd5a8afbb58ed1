"""Paper trading on live data end to end: the real Binance and Bybit clients (built by the
venue registry from the config's URLs) behind respx fakes and a local websocket server, run
by the ``Supervisor`` from a TOML config for a few hourly cycles.

REST: ``tests/fakes/binance.py`` / ``tests/fakes/bybit.py`` serve recorded payload shapes
(instruments, funding) plus 1h klines generated here from a closed-form price path; every
request must match a route (``assert_all_mocked``). Websocket: one server on 127.0.0.1 answers
Binance's ``/market/stream`` (mark price) and ``/stream`` (spot klines) and Bybit's
``/v5/public/linear`` (tickers) like the venues do. The wall clock is fake; nothing sleeps.
The funding payment is checked against the rate and mark price written into the fake here.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from agent.config import load_config
from agent.supervisor import Supervisor
from tests.fakes.binance import BinanceFake
from tests.fakes.bybit import FakeBybit
from tests.support.fake_market import FakeWall
from tests.support.ws_server import ScriptedServer, running
from venues.base import MarketDataSource
from venues.model import HOUR_MS, MarkPrice
from venues.registry import create_market_data

pytestmark = pytest.mark.timeout(60)

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

    async def handler(self, ws: ServerConnection, server: ScriptedServer) -> None:
        path = ws.request.path if ws.request is not None else ""
        request = json.loads(await server.recv(ws))
        self.subscribed.setdefault(path.split("?")[0], []).append(request)
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


def _toml(journal: Path, ws_url: str) -> str:
    return f"""
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


async def test_zerobeta_runs_paper_on_live_binance_and_bybit(tmp_path: Path) -> None:
    wall = FakeWall(T - H + 5_000)  # warm-up ends at T - 2h; steps at T - 1h and T
    binance = BinanceFake(BINANCE_URL, BINANCE_URL, now_ms=wall.now_ms)
    hours = range(T - 100 * H, T + 2 * H, H)
    binance.perp_klines = [binance_kline(ts, 0.0) for ts in hours]
    binance.spot_klines = [binance_kline(ts, -10.0) for ts in hours]
    binance.seed({"BTCUSDT": Decimal(60_100)}, {"BTCUSDT": (Decimal(60_090), Decimal(60_091))})
    mark_at_t = Decimal("60098.12345678")
    binance.funding.rows["BTCUSDT"] = [
        {"symbol": "BTCUSDT", "fundingRate": str(RATE), "fundingTime": ts, "markPrice": mark}
        for ts, mark in ((T - 16 * H, "60080.0"), (T - 8 * H, "60090.0"), (T, str(mark_at_t)))
    ]
    bybit = FakeBybit(base_url=BYBIT_URL, now_ms=wall.now_ms)
    bybit.router.get("/v5/market/kline").mock(side_effect=bybit_klines)
    bybit.funding["BTCUSDT"] = [(T - 16 * H, "0.0001"), (T - 8 * H, "0.0001"), (T, "0.0001")]
    bybit.seed_price("linear", "BTCUSDT", Decimal(60_105))

    ws_venues = WsVenues(wall)
    seen: asyncio.Queue[MarkPrice] = asyncio.Queue()
    transports = {"binance": binance.transport, "bybit": bybit.transport()}
    journal = tmp_path / "live.sqlite"

    async with running(ScriptedServer([ws_venues.handler]), "") as ws_url:
        config_path = tmp_path / "agent.toml"
        config_path.write_text(_toml(journal, ws_url), encoding="utf-8")
        config = load_config(config_path, env={})

        async def no_wait(_: float) -> None:
            await asyncio.sleep(0)

        def factory(name: str) -> MarketDataSource:
            venue = config.venues[name]
            client = create_market_data(
                name,
                rest_url=venue.rest_url,
                ws_url=venue.ws_url,
                transport=transports[name],
                sleep=no_wait,
            )
            return SeenMarks(client, seen)  # type: ignore[return-value]

        first_marks: set[str] = set()

        async def wait_for_marks(clock: FakeWall) -> None:
            # Before the clock moves past the first step, the three streams have delivered.
            while len(first_marks) < 3:
                mark = await asyncio.wait_for(seen.get(), timeout=20)
                first_marks.add(str(mark.instrument_id))

        sleeps = 0

        async def sleep(seconds: float) -> None:
            nonlocal sleeps
            sleeps += 1
            if sleeps == 1:
                await wait_for_marks(wall)
            await FakeWall.sleep(wall, seconds)
            if wall.now >= T + H:
                supervisor.request_stop()

        supervisor = Supervisor(config, market_data_factory=factory, clock=wall, sleep=sleep)
        result = await supervisor.run()

    assert result.steps == 2
    assert first_marks == {"binance:perp:BTCUSDT", "binance:spot:BTCUSDT", "bybit:perp:BTCUSDT"}
    assert result.counters["marks_received"] >= 3
    # Each venue was subscribed like the real one expects.
    perp_sub = ws_venues.subscribed["/market/stream"][0]
    assert (perp_sub["method"], perp_sub["params"]) == ("SUBSCRIBE", ["btcusdt@markPrice@1s"])
    assert ws_venues.subscribed["/stream"][0]["params"] == ["btcusdt@kline_1s"]
    assert ws_venues.subscribed["/v5/public/linear"][0]["args"] == ["tickers.BTCUSDT"]

    with sqlite3.connect(journal) as conn:
        fills = conn.execute("SELECT ts_ms, strategy, instrument, side, qty FROM fills").fetchall()
        payments = conn.execute(
            "SELECT instrument, ts_funding_ms, rate, position_qty, mark_price, amount_usd"
            " FROM funding_payments"
        ).fetchall()
        meta = dict(conn.execute("SELECT key, value FROM run_meta").fetchall())
    harvest = [f for f in fills if f[1] == "funding_harvester"]
    assert {(f[0], f[2], f[3]) for f in harvest} == {
        (T - H, "binance:spot:BTCUSDT", "buy"),
        (T - H, "binance:perp:BTCUSDT", "sell"),
    }
    short_qty = sum(
        (Decimal(f[4]) for f in fills if f[2] == "binance:perp:BTCUSDT" and f[3] == "sell"),
        Decimal(0),
    ) - sum(
        (Decimal(f[4]) for f in fills if f[2] == "binance:perp:BTCUSDT" and f[3] == "buy"),
        Decimal(0),
    )
    binance_payments = [p for p in payments if p[0] == "binance:perp:BTCUSDT"]
    assert len(binance_payments) == 1
    _, ts_funding, rate, qty, mark, amount = binance_payments[0]
    assert (ts_funding, Decimal(repr(rate))) == (T, RATE)
    assert Decimal(qty) == -short_qty
    assert Decimal(mark) == mark_at_t  # Binance's settlement mark price, as served
    assert Decimal(amount) == RATE * short_qty * mark_at_t
    assert meta["source"] == "live"
