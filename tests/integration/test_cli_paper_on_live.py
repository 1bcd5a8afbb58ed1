"""``zerobeta run`` on live data from the command line: ``agent.cli.main(["run", ...])`` parses
the arguments, loads ``agent.toml`` from disk, builds the real Binance and Bybit clients through
the venue registry (default httpx transports, answered by respx routing each host to its fake),
connects to a websocket server on 127.0.0.1 served from another thread, runs two hourly cycles
through the supervisor and prints the run summary.

Only the wall clock is replaced (``agent.supervisor.LiveClock`` → a fake that moves when the
supervisor waits); the run stops the way SIGTERM stops it (``request_stop``). Nothing sleeps
and nothing touches the network.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import respx

from agent import cli
from agent.supervisor import Supervisor
from tests.support.fake_market import FakeWall
from tests.support.live_venues import (
    BINANCE_URL,
    BYBIT_URL,
    MARK_AT_T,
    RATE,
    H,
    T,
    WsVenues,
    binance_settles_at_t,
    live_toml,
    make_fakes,
)
from tests.support.ws_server import ScriptedServer, running_in_thread

pytestmark = pytest.mark.timeout(60)


def _printed_count(output: str, label: str) -> int:
    match = re.search(rf"^\s+{label}\s+([\d,]+)$", output, flags=re.MULTILINE)
    assert match is not None, f"no {label!r} line in:\n{output}"
    return int(match.group(1).replace(",", ""))


def test_zerobeta_run_paper_on_live_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wall = FakeWall(T - H + 5_000)  # warm-up ends at T - 2h; steps at T - 1h and T
    binance, bybit = make_fakes(wall)
    binance_settles_at_t(binance)
    ws_venues = WsVenues(wall)
    journal = tmp_path / "live.sqlite"
    waits: list[float] = []

    async def fake_wait(supervisor: Supervisor, seconds: float) -> None:
        # The supervisor's wait between events. Before the clock first moves, every public
        # stream has subscribed (the server thread says so); past T + 1h the run is stopped
        # like SIGTERM stops it.
        if not waits:
            assert await asyncio.to_thread(ws_venues.all_subscribed.wait, 20)
        waits.append(seconds)
        await FakeWall.sleep(wall, seconds)
        if wall.now >= T + H:
            supervisor.request_stop()

    monkeypatch.setattr("agent.supervisor.LiveClock", lambda: wall)
    monkeypatch.setattr(Supervisor, "_sleep_unless_stopped", fake_wait)

    with (
        running_in_thread(ScriptedServer([ws_venues.handler])) as ws_url,
        respx.mock(assert_all_mocked=True, assert_all_called=False) as http,
    ):
        http.route(url__startswith=BINANCE_URL).mock(side_effect=binance.router.handler)
        http.route(url__startswith=BYBIT_URL).mock(side_effect=bybit.router.handler)
        config_path = tmp_path / "agent.toml"
        config_path.write_text(live_toml(journal, ws_url), encoding="utf-8")
        exit_code = cli.main(["run", "--config", str(config_path)])

    output = capsys.readouterr().out
    assert exit_code == 0
    assert set(ws_venues.subscribed) == {"/market/stream", "/stream", "/v5/public/linear"}
    with sqlite3.connect(journal) as conn:
        fills = conn.execute("SELECT ts_ms, strategy, instrument, side, qty FROM fills").fetchall()
        payments = conn.execute(
            "SELECT instrument, ts_funding_ms, position_qty, mark_price, amount_usd"
            " FROM funding_payments"
        ).fetchall()
        steps = conn.execute("SELECT COUNT(DISTINCT ts_ms) FROM equity_snapshots").fetchone()[0]
    assert steps >= 2
    harvest = {(f[0], f[2], f[3]) for f in fills if f[1] == "funding_harvester"}
    assert harvest == {
        (T - H, "binance:spot:BTCUSDT", "buy"),
        (T - H, "binance:perp:BTCUSDT", "sell"),
    }
    # Binance settles at T at the rate and settlement mark price served above.
    binance_payments = [p for p in payments if p[0] == "binance:perp:BTCUSDT"]
    assert len(binance_payments) == 1
    _, ts_funding, qty, mark, amount = binance_payments[0]
    assert (ts_funding, Decimal(mark)) == (T, MARK_AT_T)
    assert Decimal(amount) == -RATE * Decimal(qty) * Decimal(mark)
    # The printed summary counts what the journal holds.
    assert _printed_count(output, "fills") == len(fills)
    assert _printed_count(output, "funding payments") == len(payments)
    assert "stopped early by signal" in output
