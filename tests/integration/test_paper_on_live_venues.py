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
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from agent.config import load_config
from agent.supervisor import Supervisor
from tests.support.fake_market import FakeWall
from tests.support.live_venues import (
    MARK_AT_T,
    RATE,
    H,
    SeenMarks,
    T,
    WsVenues,
    binance_settles_at_t,
    live_toml,
    make_fakes,
    no_wait,
)
from tests.support.ws_server import ScriptedServer, running
from venues.base import MarketDataSource
from venues.model import MarkPrice
from venues.registry import create_market_data

pytestmark = pytest.mark.timeout(60)


async def test_zerobeta_runs_paper_on_live_binance_and_bybit(tmp_path: Path) -> None:
    wall = FakeWall(T - H + 5_000)  # warm-up ends at T - 2h; steps at T - 1h and T
    binance, bybit = make_fakes(wall)
    binance_settles_at_t(binance)

    ws_venues = WsVenues(wall)
    seen: asyncio.Queue[MarkPrice] = asyncio.Queue()
    transports = {"binance": binance.transport, "bybit": bybit.transport()}
    journal = tmp_path / "live.sqlite"

    async with running(ScriptedServer([ws_venues.handler]), "") as ws_url:
        config_path = tmp_path / "agent.toml"
        config_path.write_text(live_toml(journal, ws_url), encoding="utf-8")
        config = load_config(config_path, env={})

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
    assert Decimal(mark) == MARK_AT_T  # Binance's settlement mark price, as served
    assert Decimal(amount) == RATE * short_qty * MARK_AT_T
    assert meta["source"] == "live"
