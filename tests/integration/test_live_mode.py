"""``mode = "live"`` end to end against stateful Binance and Bybit fakes (respx) and a local
websocket server: the registry's real clients with credentials from the environment, account
setup, starting cash from balances, reconciliation, real orders and funding booked from the
venue's own payment history.

Expected values come from the fakes' state (their wallets, positions and income rows), never
from the agent's own output.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from agent.config import AgentConfig, load_config
from agent.errors import LiveSetupError, ReconciliationError
from agent.live.account import credentials_for
from agent.reporting.neutrality_report import (
    build_neutrality_report,
    format_neutrality_report,
    neutrality_report_to_dict,
)
from agent.reporting.report import build_summary
from agent.reporting.summary import format_summary
from agent.supervisor import RunResult, Supervisor
from tests.fakes import binance as binance_fake
from tests.fakes import bybit as bybit_fake
from tests.fakes.binance import BinanceFake
from tests.fakes.bybit import FakeBybit
from tests.support.fake_market import FakeWall
from tests.support.live_venues import (
    RATE,
    H,
    SeenMarks,
    T,
    WsVenues,
    live_toml,
    make_fakes,
    no_wait,
)
from tests.support.ws_server import ScriptedServer, running
from venues.base import Venue
from venues.model import Fill, MarkPrice
from venues.registry import create_trading_venue

pytestmark = pytest.mark.timeout(60)

SYMBOL = "BTCUSDT"
KEYS = {
    "ZEROBETA_VENUES__BINANCE__API_KEY": binance_fake.API_KEY,
    "ZEROBETA_VENUES__BINANCE__API_SECRET": binance_fake.API_SECRET,
    "ZEROBETA_VENUES__BYBIT__API_KEY": bybit_fake.API_KEY,
    "ZEROBETA_VENUES__BYBIT__API_SECRET": bybit_fake.API_SECRET,
}


async def _run_live(
    tmp_path: Path,
    wall: FakeWall,
    binance: BinanceFake,
    bybit: FakeBybit,
    *,
    stop_at_ms: int = T + H,
    settle: bool = True,
    during: Callable[[int], None] | None = None,
    binance_transport: httpx.AsyncBaseTransport | None = None,
    ws_venues: WsVenues | None = None,
) -> tuple[RunResult, Path]:
    """Run ``mode = "live"`` until the wall clock reaches ``stop_at_ms``; with ``settle``,
    Binance settles funding when the clock passes T. Before the clock moves on, every trade
    Binance made has come through its account stream (unless the fake drops them)."""
    journal = tmp_path / "live.sqlite"
    ws_venues = ws_venues or WsVenues(wall, binance)
    seen: asyncio.Queue[MarkPrice] = asyncio.Queue()
    fills_seen: asyncio.Queue[Fill] = asyncio.Queue()
    streamed = venue_trades(binance)  # trades made before this run are not waited for
    transports = {"binance": binance_transport or binance.transport, "bybit": bybit.transport()}
    async with running(ScriptedServer([ws_venues.handler]), "") as ws_url:
        path = tmp_path / "agent.toml"
        path.write_text(live_toml(journal, ws_url, mode="live"), encoding="utf-8")
        config: AgentConfig = load_config(path, env=KEYS)

        def factory(name: str) -> Venue:
            venue = config.venues[name]
            client = create_trading_venue(
                name,
                credentials_for(name, venue),
                rest_url=venue.rest_url,
                ws_url=venue.ws_url,
                transport=transports[name],
                sleep=no_wait,
            )
            return SeenMarks(client, seen, fills_seen)  # type: ignore[return-value]

        marks_seen: set[str] = set()
        settled = False

        async def sleep(seconds: float) -> None:
            nonlocal settled
            while len(marks_seen) < 3:
                marks_seen.add(str((await asyncio.wait_for(seen.get(), timeout=20)).instrument_id))
            if not binance.user_stream_drops and venue_trades(binance) - streamed:
                while venue_trades(binance) - streamed:
                    fill = await asyncio.wait_for(fills_seen.get(), timeout=20)
                    streamed.add((str(fill.instrument_id), fill.trade_id))
                return  # woken by the stream: the loop books it before the clock moves on
            await FakeWall.sleep(wall, seconds)
            if during is not None:
                during(wall.now)
            if settle and wall.now >= T and not settled:  # Binance settles funding at T
                settled = True
                binance.settle_funding(SYMBOL)
            if wall.now >= stop_at_ms:
                supervisor.request_stop()

        supervisor = Supervisor(config, venue_factory=factory, clock=wall, sleep=sleep)
        result = await supervisor.run()
    return result, journal


def venue_trades(binance: BinanceFake) -> set[tuple[str, str]]:
    """``(instrument, trade id)`` of every trade Binance made, perp and spot."""
    perp = {(f"binance:perp:{t['symbol']}", str(t["id"])) for t in binance.perp.trades}
    spot = {
        (f"binance:spot:{o['symbol']}", str(f["tradeId"]))
        for o in binance.spot.orders.values()
        for f in o["fills"]
    }
    return perp | spot


def _settled_history(binance: BinanceFake) -> None:
    """Binance settled RATE at T - 16h and T - 8h (the harvester enters at T - 1h) and settles
    next at T."""
    binance.funding.rows[SYMBOL] = [
        {"symbol": SYMBOL, "fundingRate": str(RATE), "fundingTime": ts, "markPrice": "60090.0"}
        for ts in (T - 16 * H, T - 8 * H)
    ]
    binance.funding.next_ms[SYMBOL] = T


def _rows(journal: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(journal) as conn:
        return conn.execute(sql).fetchall()


async def test_live_mode_sets_accounts_up_trades_and_books_venue_funding(tmp_path: Path) -> None:
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    binance.dual_side_position = True  # hedge mode, no position: switched to one-way
    _settled_history(binance)
    binance_cash = binance.perp.wallet + binance.spot.wallet["USDT"]
    bybit_cash = bybit.wallet_usdt

    result, journal = await _run_live(tmp_path, wall, binance, bybit)

    assert result.steps == 2
    # account setup: one-way mode, 3× leverage on every traded perp
    assert binance.dual_side_position is False
    assert binance.leverage == {SYMBOL: 3}
    assert bybit.leverage == {SYMBOL: "3"}
    # the ledger started from the venues' quote balances, no reserve
    cash = json.loads(dict(_rows(journal, "SELECT key, value FROM run_meta"))["initial_cash_json"])
    assert {k: Decimal(v) for k, v in cash.items()} == {
        "binance": binance_cash,
        "bybit": bybit_cash,
        "reserve": Decimal(0),
    }
    # the harvester's orders reached Binance: the venue's position is the journal's
    sent = {(r.method, r.url.path) for r in binance.requests}
    assert {("POST", "/fapi/v1/order"), ("POST", "/api/v3/order")} <= sent
    fills = _rows(
        journal, "SELECT instrument, side, qty FROM fills WHERE strategy = 'funding_harvester'"
    )
    journal_perp = sum(
        (
            Decimal(q) * (1 if s == "buy" else -1)
            for i, s, q in fills
            if i == f"binance:perp:{SYMBOL}"
        ),
        Decimal(0),
    )
    venue_perp = binance.perp.position_qty(SYMBOL)
    assert journal_perp == venue_perp < 0
    # funding: booked from Binance's income history, exactly the venue's amount
    income = [r for r in binance.funding.income if r["incomeType"] == "FUNDING_FEE"]
    assert len(income) == 1
    expected = (-RATE * venue_perp * Decimal(60_100)).quantize(Decimal("1e-8"))
    assert Decimal(income[0]["income"]) == expected > 0
    payments = _rows(journal, "SELECT instrument, ts_funding_ms, amount_usd FROM funding_payments")
    assert [(i, ts, Decimal(a)) for i, ts, a in payments] == [
        (f"binance:perp:{SYMBOL}", T, expected)
    ]


async def test_live_start_refuses_positions_the_journal_did_not_open(tmp_path: Path) -> None:
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    binance.perp.positions[SYMBOL] = (Decimal("-0.5"), Decimal(60_000), T - 10 * H)
    with pytest.raises(ReconciliationError, match=r"binance:perp:BTCUSDT: the venue holds -0.5"):
        await _run_live(tmp_path, wall, binance, bybit)
    rows = _rows(
        tmp_path / "live.sqlite",
        "SELECT venue, instrument, journal_qty, venue_qty, action FROM reconciliation",
    )
    assert rows == [("binance", "binance:perp:BTCUSDT", "0", "-0.5", "refused_start")]
    assert not [r for r in binance.requests if r.method == "POST" and "order" in r.url.path]


async def test_live_start_refuses_an_account_it_cannot_set_up(tmp_path: Path) -> None:
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    binance.dual_side_position = True  # hedge mode with a position open: cannot switch
    binance.perp.positions[SYMBOL] = (Decimal("0.1"), Decimal(60_000), T - 10 * H)
    with pytest.raises(LiveSetupError, match=r"binance: account cannot trade as configured"):
        await _run_live(tmp_path, wall, binance, bybit)
    assert binance.dual_side_position is True


async def test_a_live_restart_reconciles_and_books_nothing_twice(tmp_path: Path) -> None:
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    _settled_history(binance)
    await _run_live(tmp_path, wall, binance, bybit)
    journal = tmp_path / "live.sqlite"
    fills_before = _rows(journal, "SELECT client_order_id FROM fills")
    # Down for two hours: restarted at T + 3h on the same journal and the same accounts.
    later = FakeWall(T + 3 * H + 5_000)
    binance.now_ms = bybit.now_ms = later.now_ms
    second, _ = await _run_live(tmp_path, later, binance, bybit, stop_at_ms=T + 4 * H, settle=False)
    assert second.steps == 1  # T+1h and T+2h were caught up, T+3h ran live
    assert _rows(journal, "SELECT count(*) FROM reconciliation") == [(0,)]
    fills_after = _rows(journal, "SELECT client_order_id FROM fills")
    assert fills_after[: len(fills_before)] == fills_before
    harvest = {
        ts
        for (ts,) in _rows(journal, "SELECT ts_ms FROM fills WHERE strategy = 'funding_harvester'")
    }
    assert len(harvest) == 1  # one entry, in the first run: the restart did not enter again
    assert max(harvest) <= T
    assert _rows(journal, "SELECT ts_funding_ms FROM funding_payments") == [(T,)]


async def test_a_position_that_drifts_from_the_ledger_halts_opening(tmp_path: Path) -> None:
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    _settled_history(binance)
    touched = False

    def manual_trade(now_ms: int) -> None:
        """Someone trades the account by hand after the harvester's entry at T - 1h."""
        nonlocal touched
        if now_ms >= T - H + 120_000 and not touched:
            touched = True
            qty, entry, ts = binance.perp.positions[SYMBOL]
            binance.perp.positions[SYMBOL] = (qty - Decimal("0.001"), entry, ts)

    _, journal = await _run_live(tmp_path, wall, binance, bybit, during=manual_trade)
    ledger_perp = binance.perp.position_qty(SYMBOL) + Decimal("0.001")
    rows = _rows(
        journal, "SELECT ts_ms, instrument, journal_qty, venue_qty, action FROM reconciliation"
    )
    assert rows == [
        (T, f"binance:perp:{SYMBOL}", str(ledger_perp), str(ledger_perp - Decimal("0.001")),
         "halted_opening"),
    ]  # fmt: skip
    alerts = _rows(journal, "SELECT ts_ms, kind FROM alerts WHERE kind = 'position_mismatch'")
    assert alerts == [(T, "position_mismatch")]  # once, not every hour


class LostPerpAnswer(httpx.AsyncBaseTransport):
    """Binance whose answer to the first perp order is lost after the order executed
    (a 503 instead of it), and whose order lookups fail for the next half hour."""

    def __init__(self, binance: BinanceFake, wall: FakeWall) -> None:
        self.inner = binance.transport
        self.wall = wall
        self.lost: list[str] = []  # client order ids whose answer was lost
        self.lost_at_ms: int | None = None
        self.lookups: list[tuple[str, int]] = []  # (client order id, wall ms) of each lookup

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        is_order = request.url.path == "/fapi/v1/order"
        if is_order and request.method == "GET":
            cid = request.url.params.get("origClientOrderId", "")
            self.lookups.append((cid, self.wall.now))
        if (
            is_order
            and request.method == "GET"
            and self.lost_at_ms is not None
            and self.wall.now < self.lost_at_ms + H // 2
        ):
            return httpx.Response(503, text="lookups down")
        response = await self.inner.handle_async_request(request)
        if is_order and request.method == "POST" and not self.lost:
            await response.aread()
            self.lost.append(str(response.json()["clientOrderId"]))
            self.lost_at_ms = self.wall.now
            return httpx.Response(503, text="answer lost")
        return response


async def test_an_order_whose_outcome_was_unknown_is_booked_before_a_restart_reconciles(
    tmp_path: Path,
) -> None:
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    _settled_history(binance)
    binance.user_stream_drops = True  # the account stream loses the fill too
    lossy = LostPerpAnswer(binance, wall)
    # First run: the harvester's perp short at T - 1h executes on Binance, but neither the
    # answer nor the lookups get through; the run stops within the hour.
    await _run_live(
        tmp_path, wall, binance, bybit, stop_at_ms=T - H + 600_000, binance_transport=lossy
    )
    journal = tmp_path / "live.sqlite"
    (lost_id,) = lossy.lost
    # Looked up again on the follow-up timers, within seconds: 1 s after the answer was lost,
    # then each wait doubled up to 60 s (agent.live.timers), on the fake wall clock.
    # (one lookup is one or more requests at one time: the REST client retries a 503 at once)
    lookups = sorted({ms for cid, ms in lossy.lookups if cid == lost_id})
    assert lookups[0] == lossy.lost_at_ms  # the lookup right after the lost answer
    gaps_s = [(b - a) / 1000 for a, b in itertools.pairwise(lookups)]
    assert gaps_s[:9] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert lookups[-1] > T - H + 500_000  # still asked once a minute when the run stopped
    short_qty = -binance.perp.position_qty(SYMBOL)
    assert short_qty > 0
    assert _rows(journal, f"SELECT count(*) FROM fills WHERE client_order_id = '{lost_id}'") == [
        (0,)
    ]
    first = build_summary(journal)
    assert first.counts.unresolved_orders == 1
    assert re.search(r"\n  unresolved orders +1 \(looked up every step\)\n", format_summary(first))
    # Restart at T + 5 s with the lookups back: the late fill is booked before the
    # reconciliation (which would otherwise refuse a short the journal never saw), and the
    # first step buys it back reduce-only.
    later = FakeWall(T + 5_000)
    binance.now_ms = bybit.now_ms = later.now_ms
    lossy.wall = later
    await _run_live(
        tmp_path,
        later,
        binance,
        bybit,
        stop_at_ms=T + H,
        settle=False,
        binance_transport=lossy,
    )
    booked = _rows(journal, f"SELECT side, qty FROM fills WHERE client_order_id = '{lost_id}'")
    assert [(side, Decimal(qty)) for side, qty in booked] == [("sell", short_qty)]
    # The first run's hourly check saw the unknown short but its order was unresolved: it is
    # compared once resolved (no halt); from the restart on, ledger and venue agree.
    checks = _rows(journal, "SELECT ts_ms, instrument, action FROM reconciliation")
    assert checks == []
    orders = _rows(
        journal,
        "SELECT side, qty, reduce_only FROM orders WHERE instrument = 'binance:perp:BTCUSDT'"
        " AND ts_ms >= " + str(T),
    )
    assert ("buy", str(short_qty), 1) in [(o[0], str(Decimal(o[1])), o[2]) for o in orders]
    second = build_summary(journal)
    assert second.counts.unresolved_orders == 0
    assert "unresolved orders" not in format_summary(second)


class WriteAheadProbe(httpx.AsyncBaseTransport):
    """Binance that, as each order arrives, reads the journal through a connection of its own
    (it sees committed rows only) for the order's ``pending_new`` row and its intent."""

    ORDER_PATHS = ("/fapi/v1/order", "/api/v3/order")

    def __init__(self, binance: BinanceFake, journal: Path) -> None:
        self.inner = binance.transport
        self.journal = journal
        self.seen: list[tuple[str, int, int]] = []  # (client order id, order rows, intent rows)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path in self.ORDER_PATHS:
            params = dict(request.url.params)
            params.update(parse_qsl(request.content.decode()))
            cid = params["newClientOrderId"]
            with sqlite3.connect(self.journal) as conn:
                intents = conn.execute(
                    "SELECT intent_id FROM orders WHERE client_order_id = ?"
                    " AND status = 'pending_new'",
                    (cid,),
                ).fetchall()
                sql = "SELECT count(*) FROM intents WHERE intent_id = ?"
                known = sum(conn.execute(sql, i).fetchone()[0] for i in intents)
            conn.close()
            self.seen.append((cid, len(intents), known))
        return await self.inner.handle_async_request(request)


async def test_live_orders_are_committed_to_the_journal_before_they_reach_the_venue(
    tmp_path: Path,
) -> None:
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    _settled_history(binance)
    probe = WriteAheadProbe(binance, tmp_path / "live.sqlite")

    await _run_live(tmp_path, wall, binance, bybit, binance_transport=probe)

    assert len(probe.seen) >= 2  # the harvester's spot and perp legs
    assert all(rows == 1 and intents >= 1 for _, rows, intents in probe.seen), probe.seen


async def test_each_live_funding_payment_is_reconciled_and_a_gap_alerted(tmp_path: Path) -> None:
    """Binance settles at T (paid as its formula says) and again at T + 30 min, where its
    income row is off by a known 2.5 USD: both settlements are reconciled against −rate ×
    the ledger's position × the settlement mark, and only the second is alerted."""
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    _settled_history(binance)
    off_usd = Decimal("2.5")
    second_ms = T + H // 2
    state = {"second": False}

    def second_settlement(now_ms: int) -> None:
        """Binance settles again at T + 30 min (its settlement at T was made minutes ago)."""
        if now_ms >= second_ms and not state["second"]:
            state["second"] = True
            binance.funding.next_ms[SYMBOL] = second_ms
            binance.settle_funding(SYMBOL)
            row = binance.funding.income[-1]
            row["income"] = str(Decimal(row["income"]) + off_usd)

    _, journal = await _run_live(
        tmp_path, wall, binance, bybit, stop_at_ms=T + 2 * H, during=second_settlement
    )
    venue_perp = binance.perp.position_qty(SYMBOL)
    assert venue_perp < 0
    rows = _rows(
        journal,
        "SELECT instrument, ts_funding_ms, rate, position_qty, mark_price, expected_usd,"
        " paid_usd, gap_usd, gap_bps FROM funding_reconciliation ORDER BY id",
    )
    income = {r["time"]: Decimal(r["income"]) for r in binance.funding.income}
    assert [(r[0], r[1]) for r in rows] == [
        (f"binance:perp:{SYMBOL}", T),
        (f"binance:perp:{SYMBOL}", second_ms),
    ]
    marks = {int(r["fundingTime"]): Decimal(r["markPrice"]) for r in binance.funding.rows[SYMBOL]}
    for _, ts, rate, qty, mark, expected, paid, gap, gap_bps in rows:
        assert Decimal(qty) == venue_perp  # the ledger's position agrees with the venue's
        assert Decimal(mark) == marks[ts]
        assert Decimal(expected) == -Decimal(repr(rate)) * venue_perp * marks[ts]
        assert Decimal(paid) == income[ts]
        assert Decimal(gap) == Decimal(paid) - Decimal(expected)
        assert gap_bps == pytest.approx(float(Decimal(gap) / abs(venue_perp * marks[ts]) * 10_000))
    first_gap, second_gap = (Decimal(r[7]) for r in rows)
    assert abs(first_gap) <= Decimal("5e-9")  # the venue's rounding to 8 dp
    assert abs(second_gap - off_usd) <= Decimal("5e-9")
    alerts = _rows(
        journal, "SELECT ts_ms, kind, fields_json FROM alerts WHERE kind = 'funding_gap'"
    )
    assert len(alerts) == 1
    ts_ms, _, fields_json = alerts[0]
    fields = json.loads(fields_json)
    assert (ts_ms, fields["instrument"], fields["ts_funding_ms"]) == (
        T + H,
        f"binance:perp:{SYMBOL}",
        second_ms,
    )
    assert fields["gap_usd"] == pytest.approx(2.5, abs=1e-6)
    # ``zerobeta report`` (text and JSON) shows them: count, sum and worst per instrument
    report = build_neutrality_report(journal)
    (stats,) = report.funding_gaps
    assert (stats.instrument, stats.count, stats.worst_ts_funding_ms) == (
        f"binance:perp:{SYMBOL}",
        2,
        second_ms,
    )
    assert stats.sum_gap_usd == first_gap + second_gap
    assert stats.worst_gap_usd == second_gap
    assert f"binance:perp:{SYMBOL}" in format_neutrality_report(report).split("funding gaps")[1]
    data = json.loads(json.dumps(neutrality_report_to_dict(report), allow_nan=False))
    assert data["funding_gaps"][f"binance:perp:{SYMBOL}"]["count"] == 2
    assert Decimal(data["funding_gaps"][f"binance:perp:{SYMBOL}"]["worst_gap_usd"]) == second_gap


def _perp_position(journal: Path, strategy: str = "funding_harvester") -> Decimal:
    """The strategy's BTCUSDT perp position from the journal's fills, base units."""
    rows = _rows(
        journal,
        "SELECT side, qty FROM fills WHERE instrument = 'binance:perp:BTCUSDT'"
        f" AND strategy = '{strategy}'",
    )
    return sum((Decimal(q) * (1 if s == "buy" else -1) for s, q in rows), Decimal(0))


async def test_a_live_start_opens_the_account_streams_and_books_each_trade_once(
    tmp_path: Path,
) -> None:
    """The live start opens Binance's listenKey user data stream, the spot WebSocket API
    subscription and Bybit's private stream. Binance reports each fill of the harvester's entry
    twice — in the order's answer and on its account stream (same trade id): each is booked
    once, and the ledger's position is the venue's."""
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    _settled_history(binance)
    ws_venues = WsVenues(wall, binance)

    result, journal = await _run_live(tmp_path, wall, binance, bybit, ws_venues=ws_venues)

    # the account streams: listenKey created, /private/ws on it, spot and Bybit subscribed
    assert binance.listen_keys[0] == "POST"
    paths = ws_venues.account_paths
    assert f"/private/ws?listenKey={BinanceFake.LISTEN_KEY}" in paths
    assert "/ws-api/v3" in paths
    assert "/v5/private" in paths
    methods = [r.get("method") or r.get("op") for r in ws_venues.account_requests]
    assert {"userDataStream.subscribe.signature", "auth", "subscribe"} <= set(methods)
    spot_subscription = next(
        r for r in ws_venues.account_requests if r.get("method", "").startswith("userData")
    )
    assert spot_subscription["params"]["apiKey"] == binance_fake.API_KEY
    bybit_topics = next(r["args"] for r in ws_venues.account_requests if r.get("op") == "subscribe")
    assert {"order", "execution"} <= set(bybit_topics)
    # each trade Binance made is in the journal exactly once
    trades = venue_trades(binance)
    assert len(trades) == 2  # the harvester's spot and perp legs
    booked = _rows(journal, "SELECT instrument, trade_id FROM fills")
    assert sorted(booked) == sorted(trades)
    # ... although each came twice: the answer (booked) and the stream (recognized)
    assert result.counters["account_fills_known"] == len(trades)
    assert result.counters["account_fills_booked"] == 0
    assert _perp_position(journal) == binance.perp.position_qty(SYMBOL) < 0


async def test_a_fill_only_the_stream_reports_is_booked_and_the_drift_rebalanced_at_once(
    tmp_path: Path,
) -> None:
    """Two minutes after the harvester's entry, Binance executes 0.005 BTC more of its perp
    short than the order's answer said and reports it on the user data stream only. The fill
    is booked from the stream; the short is then off its standing target by more than
    ``drift_frac``, and a rebalancing order goes out at once — before the next hourly step."""
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    _settled_history(binance)
    extra = Decimal("0.005")
    late: dict[str, Any] = {}

    def venue_fills_more(now_ms: int) -> None:
        if now_ms >= T - H + 120_000 and not late:
            (cid,) = [c for c, o in binance.perp.orders.items() if o["side"] == "SELL"]
            late["trade"] = binance.perp.fill_again(cid, extra, now_ms)
            late["at_ms"] = now_ms

    result, journal = await _run_live(tmp_path, wall, binance, bybit, during=venue_fills_more)

    trade_id = str(late["trade"]["id"])
    assert _rows(journal, f"SELECT ts_ms, strategy FROM fills WHERE trade_id = '{trade_id}'") == [
        (late["at_ms"], "funding_harvester")
    ]
    (entry,) = _rows(
        journal,
        "SELECT legs_json FROM intents WHERE strategy = 'funding_harvester' AND opening = 1",
    )
    rebalances = _rows(
        journal,
        "SELECT ts_ms, intent_id, legs_json, opening FROM intents WHERE reason = 'drift_rebalance'",
    )
    assert len(rebalances) == 1
    ts_ms, intent_id, legs_json, opening = rebalances[0]
    assert late["at_ms"] <= ts_ms < T  # between the steps at T - 1h and T
    assert json.loads(legs_json) == json.loads(entry[0])  # back to the standing targets
    assert opening == 0
    # the order: the perp short bought back to its target, on the lot step (0.001)
    target = next(
        Decimal(repr(leg["target_qty"]))
        for leg in json.loads(entry[0])
        if leg["instrument"] == f"binance:perp:{SYMBOL}"
    )
    short_before = -(Decimal("0.066") + extra)
    expected_qty = ((target - short_before) / Decimal("0.001")).to_integral_value(
        rounding="ROUND_DOWN"
    ) * Decimal("0.001")
    filled = _rows(
        journal,
        "SELECT instrument, side, qty FROM fills WHERE client_order_id IN (SELECT"
        f" client_order_id FROM orders WHERE intent_id = '{intent_id}')",
    )
    assert [(i, s, Decimal(q)) for i, s, q in filled] == [
        (f"binance:perp:{SYMBOL}", "buy", expected_qty)
    ]
    assert expected_qty > 0
    assert result.counters["drift_rebalances"] == 1
    assert result.counters["account_fills_booked"] == 1
    # ledger and venue agree, and the hourly check at T found nothing to report
    assert _perp_position(journal) == binance.perp.position_qty(SYMBOL)
    assert _rows(journal, "SELECT count(*) FROM reconciliation") == [(0,)]


async def test_a_lost_answer_is_booked_from_the_stream_and_reversed_once_lookups_answer(
    tmp_path: Path,
) -> None:
    """The answer to the harvester's perp short is lost and lookups fail for 30 min, but the
    account stream reports its fill at once: it is booked then (the ledger knows the short
    within the same second), and once a timed lookup answers the order is resolved — its fill
    not booked again — and the unhedged short bought back reduce-only, before the next step."""
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    _settled_history(binance)
    lossy = LostPerpAnswer(binance, wall)

    result, journal = await _run_live(
        tmp_path, wall, binance, bybit, stop_at_ms=T - 600_000, binance_transport=lossy
    )

    (lost_id,) = lossy.lost
    assert lossy.lost_at_ms is not None
    fills = _rows(journal, f"SELECT ts_ms, side FROM fills WHERE client_order_id = '{lost_id}'")
    assert fills == [(lossy.lost_at_ms, "sell")]  # booked once, from the stream, at once
    back_ms = lossy.lost_at_ms + H // 2  # lookups answer again
    reverse = _rows(
        journal,
        "SELECT ts_ms, side, reduce_only FROM orders WHERE status = 'pending_new'"
        f" AND instrument = 'binance:perp:{SYMBOL}' AND ts_ms > {lossy.lost_at_ms}",
    )
    assert len(reverse) == 1
    ts_ms, side, reduce_only = reverse[0]
    assert (side, reduce_only) == ("buy", 1)
    assert back_ms <= ts_ms <= back_ms + 60_000  # the next timed lookup (at most 60 s apart)
    assert binance.perp.position_qty(SYMBOL) == 0 == _perp_position(journal)
    assert result.counters["account_fills_booked"] == 1
    assert result.counters["unresolved_orders"] == 0
