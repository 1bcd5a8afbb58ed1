"""Paper trading on live data through the whole supervisor, with in-memory venues.

The venues are ``tests.support.fake_market.FakeMarketData`` (closed-form prices) on a fake wall
clock; the run is the real ``Supervisor`` with ``[market_data] source = "live"``. Expected
fills and the funding payment are recomputed here from the price formula and the journal's
raw rows (sqlite3), not taken from the code under test.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.supervisor import Supervisor, build_strategies
from tests.support.fake_market import FakeMarketData, FakeWall, instrument, price_at
from venues.model import HOUR_MS, FundingRate, InstrumentId, InstrumentKind, MarkPrice

pytestmark = pytest.mark.timeout(30)

H = HOUR_MS
T = 480_100 * H
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
RATE = 0.001  # per 8 h: far above the harvester's cost hurdle


def _config(journal: Path) -> Any:
    return load_config(None, env={}, overrides=_overrides(journal))


def _overrides(journal: Path) -> dict[str, Any]:
    return {
        "market_data": {"source": "live", "live_bar_delay_s": 15, "live_mark_every_s": 60},
        "venues": {
            "bybit": {"enabled": False, "collateral_frac": 0.0},
            "hyperliquid": {"enabled": False, "collateral_frac": 0.0},
        },
        "journal": {"path": str(journal)},
        "control": {"http_port": 0},  # any free port: 9108 could be taken here
        "strategies": {
            "stat_arb": {"enabled": False},
            "factor_neutral": {"enabled": False},
            "cross_venue_arb": {"enabled": False},
            "beta_hedger": {"enabled": False},
            "funding_harvester": {
                "symbols": ["BTCUSDT"],
                "rate_lookback_settlements": 1,
                "position_notional_usd": 4000.0,
                "adv_window_h": 0,  # live steps carry no volume: no ADV cap, warm-up as before
            },
        },
    }


def _rows(journal: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(journal) as conn:
        return conn.execute(sql).fetchall()


async def test_paper_on_live_trades_settles_funding_and_marks(tmp_path: Path) -> None:
    journal = tmp_path / "live.sqlite"
    # Start 5 s into hour T - 1h: warm-up ends at T - 2h, steps at T - 1h and T follow.
    wall = FakeWall(T - H + 5_000)
    binance = FakeMarketData(
        "binance", {PERP: instrument(PERP), SPOT: instrument(SPOT)}, now_ms=wall.now_ms
    )
    binance.settlements = [
        FundingRate(PERP, RATE, 28_800, T - 16 * H, T - 8 * H),
        FundingRate(PERP, RATE, 28_800, T - 8 * H, T),
        FundingRate(PERP, RATE, 28_800, T, T + 8 * H),
    ]
    supervisor = Supervisor(
        _config(journal),
        market_data_factory=lambda name: {"binance": binance}[name],
        clock=wall,
        sleep=wall.sleep,
    )

    def stop_after_two_steps(clock: FakeWall) -> None:
        if clock.now >= T + H:
            supervisor.request_stop()

    wall.on_sleep = stop_after_two_steps
    result = await supervisor.run()

    assert result.steps == 2
    assert binance.opened
    assert binance.closed
    # The harvester entered at T - 1h: long spot, short perp, at that hour's closes.
    fills = _rows(journal, "SELECT ts_ms, instrument, side, qty, price FROM fills ORDER BY seq")
    assert {(r[0], r[1], r[2]) for r in fills} == {
        (T - H, str(SPOT), "buy"),
        (T - H, str(PERP), "sell"),
    }
    perp_qty = sum((Decimal(r[3]) for r in fills if r[1] == str(PERP)), Decimal(0))
    spot_price = Decimal(repr(price_at(SPOT, T - H)))
    assert abs(perp_qty * spot_price - Decimal(4000)) < spot_price * Decimal("0.001")
    # The settlement at T paid the short: amount = -rate × (-qty) × mark(T).
    payments = _rows(
        journal,
        "SELECT ts_funding_ms, rate, position_qty, mark_price, amount_usd FROM funding_payments",
    )
    assert len(payments) == 1
    ts_funding, rate, position_qty, mark, amount = payments[0]
    assert (ts_funding, rate) == (T, RATE)
    assert Decimal(position_qty) == -perp_qty
    assert Decimal(mark) == Decimal(repr(price_at(PERP, T)))
    expected = Decimal(repr(RATE)) * perp_qty * Decimal(repr(price_at(PERP, T)))
    assert Decimal(amount) == expected > 0
    # The last snapshot's equity, rebuilt from fills, fees, funding and T's closes.
    fills = _rows(journal, "SELECT instrument, side, qty, price, fee_usd FROM fills")
    mtm = Decimal(0)
    for instrument_text, side, qty, price, _ in fills:
        last = Decimal(repr(price_at(InstrumentId.parse(instrument_text), T)))
        sign = 1 if side == "buy" else -1
        mtm += sign * Decimal(qty) * (last - Decimal(price))
    fees = sum((Decimal(r[4]) for r in fills), Decimal(0))
    last_equity = Decimal(
        _rows(journal, "SELECT equity_usd FROM equity_snapshots ORDER BY id DESC LIMIT 1")[0][0]
    )
    assert last_equity == Decimal(100_000) + mtm - fees + expected
    meta = dict(_rows(journal, "SELECT key, value FROM run_meta"))
    assert meta["source"] == "live"


async def test_a_restart_resumes_positions_and_settles_the_funding_missed(tmp_path: Path) -> None:
    journal = tmp_path / "live.sqlite"
    settlements = [
        FundingRate(PERP, RATE, 28_800, T + k * 8 * H, T + (k + 1) * 8 * H) for k in (-2, -1, 0, 1)
    ]

    async def run(start_ms: int, stop_at_ms: int) -> Any:
        wall = FakeWall(start_ms)
        binance = FakeMarketData(
            "binance", {PERP: instrument(PERP), SPOT: instrument(SPOT)}, now_ms=wall.now_ms
        )
        binance.settlements = settlements
        supervisor = Supervisor(
            _config(journal), market_data_factory=lambda _: binance, clock=wall, sleep=wall.sleep
        )
        wall.on_sleep = lambda clock: supervisor.request_stop() if clock.now >= stop_at_ms else None
        return await supervisor.run()

    await run(T - H + 5_000, T + H)  # entry at T - 1h, settlement at T; then down
    entry = _rows(journal, "SELECT instrument, side, qty, price, fee_usd FROM fills")
    # Back 10 h later: hours T+1h … T+9h are caught up (T+8h settles), T+10h runs live.
    second = await run(T + 10 * H + 5_000, T + 11 * H)

    assert second.steps == 1
    assert _rows(journal, "SELECT instrument, side, qty, price, fee_usd FROM fills") == entry
    perp_qty = sum((Decimal(r[2]) for r in entry if r[0] == str(PERP)), Decimal(0))
    payments = _rows(
        journal, "SELECT ts_funding_ms, position_qty, mark_price, amount_usd FROM funding_payments"
    )
    assert [p[0] for p in payments] == [T, T + 8 * H]  # T once, T+8h from the catch-up
    _, qty, mark, amount = payments[1]
    assert Decimal(qty) == -perp_qty
    assert Decimal(mark) == Decimal(repr(price_at(PERP, T + 8 * H)))
    assert Decimal(amount) == Decimal(repr(RATE)) * perp_qty * Decimal(mark)
    funding_total = sum((Decimal(p[3]) for p in payments), Decimal(0))
    mtm = Decimal(0)
    for instrument_text, side, qty_text, price, _ in entry:
        last = Decimal(repr(price_at(InstrumentId.parse(instrument_text), T + 10 * H)))
        mtm += (1 if side == "buy" else -1) * Decimal(qty_text) * (last - Decimal(price))
    fees = sum((Decimal(r[4]) for r in entry), Decimal(0))
    last_equity = Decimal(
        _rows(journal, "SELECT equity_usd FROM equity_snapshots ORDER BY id DESC LIMIT 1")[0][0]
    )
    assert last_equity == Decimal(100_000) + mtm - fees + funding_total


class _SeenHistories:
    """Wraps a strategy; records the close history of every instrument it is shown."""

    def __init__(self, inner: Any, history_bars: int) -> None:
        self._inner = inner
        self.history_bars = history_bars
        self.seen: list[tuple[int, dict[InstrumentId, list[float]]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def decide(self, snapshot: Any, portfolio: Any, state: Any, now_ms: int) -> Any:
        closes = {i: c.tolist() for i, c in snapshot.closes.items()}
        self.seen.append((snapshot.ts_ms, closes))
        return self._inner.decide(snapshot, portfolio, state, now_ms)


async def test_hours_without_a_bar_keep_every_history_hour_aligned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wall = FakeWall(T - H + 5_000)  # warm-up ends at T - 2h; steps at T - 1h and T
    binance = FakeMarketData(
        "binance", {PERP: instrument(PERP), SPOT: instrument(SPOT)}, now_ms=wall.now_ms
    )
    # The spot has no bar at T - 4h (in the start-up history) nor at T (a live step, no mark).
    binance.missing_bars = {(SPOT, T - 4 * H), (SPOT, T)}
    spies: list[_SeenHistories] = []

    def strategies(config: Any) -> list[Any]:
        built = build_strategies(config)
        spies.extend(_SeenHistories(s, 6) for s in built if s.name == "funding_harvester")
        return [spies[0] if s.name == "funding_harvester" else s for s in built]

    monkeypatch.setattr("agent.supervisor.build_strategies", strategies)
    supervisor = Supervisor(
        _config(tmp_path / "live.sqlite"),
        market_data_factory=lambda _: binance,
        clock=wall,
        sleep=wall.sleep,
    )
    wall.on_sleep = lambda clock: supervisor.request_stop() if clock.now >= T + H else None
    await supervisor.run()

    (ts_first, first), (ts_second, second) = spies[0].seen
    assert (ts_first, ts_second) == (T - H, T)
    # Six hours ending at each step; the spot's missing hours repeat its previous close.
    for ts, closes in ((T - H, first), (T, second)):
        hours = [ts - k * H for k in range(5, -1, -1)]
        assert closes[PERP] == [price_at(PERP, h) for h in hours]
        expected_spot = [
            price_at(SPOT, h - H) if (SPOT, h) in binance.missing_bars else price_at(SPOT, h)
            for h in hours
        ]
        assert closes[SPOT] == expected_spot


def _positions(journal: Path) -> dict[str, Decimal]:
    """Net position per instrument from the journal's fills, base units."""
    held: dict[str, Decimal] = {}
    for name, side, qty in _rows(journal, "SELECT instrument, side, qty FROM fills"):
        held[name] = held.get(name, Decimal(0)) + (Decimal(qty) if side == "buy" else -Decimal(qty))
    return held


async def test_a_predicted_adverse_rate_closes_the_position_before_the_settlement(
    tmp_path: Path,
) -> None:
    """The harvester shorts the perp at T - 1h (settled rate +0.001 per 8 h). Two minutes later
    Binance's mark stream predicts -0.003 for the settlement at T: the short would pay
    0.003/8 × 24 h × ~4,000 USD = ~36 USD over the monitor's horizon, far more than the ~5.6 USD
    it costs to close both legs. The funding-flip monitor closes the pair at once, between the
    hourly steps, and nothing is paid at T; the prediction itself is never booked."""
    journal = tmp_path / "live.sqlite"
    wall = FakeWall(T - H + 5_000)
    binance = FakeMarketData(
        "binance", {PERP: instrument(PERP), SPOT: instrument(SPOT)}, now_ms=wall.now_ms
    )
    binance.settlements = [
        FundingRate(PERP, RATE, 28_800, T - 16 * H, T - 8 * H),
        FundingRate(PERP, RATE, 28_800, T - 8 * H, T),
        FundingRate(PERP, RATE, 28_800, T, T + 8 * H),  # what T settles at: never paid here
    ]
    predicted = FundingRate(PERP, -0.003, 28_800, T, T + 8 * H)
    injected: list[int] = []
    supervisor = Supervisor(
        _config(journal),
        market_data_factory=lambda name: {"binance": binance}[name],
        clock=wall,
        sleep=wall.sleep,
    )

    def predict_then_stop(clock: FakeWall) -> None:
        if clock.now >= T - H + 120_000 and not injected:
            injected.append(clock.now)
            binance.marks.put_nowait(predicted)
        if clock.now >= T + H:
            supervisor.request_stop()

    wall.on_sleep = predict_then_stop
    await supervisor.run()

    entry = _rows(journal, "SELECT ts_ms FROM intents WHERE reason = 'enter'")
    closes = _rows(
        journal, "SELECT ts_ms, legs_json FROM intents WHERE reason = 'exit_funding_flip_monitor'"
    )
    assert [ts for (ts,) in entry] == [T - H]
    assert [ts for ts, _ in closes] == injected  # at the prediction, before the settlement
    assert injected[0] < T
    fills = _rows(journal, "SELECT ts_ms, instrument, side FROM fills ORDER BY seq")
    assert {(ts, i, s) for ts, i, s in fills if ts == injected[0]} == {
        (injected[0], str(SPOT), "sell"),
        (injected[0], str(PERP), "buy"),
    }
    assert all(qty == 0 for qty in _positions(journal).values())
    assert _rows(journal, "SELECT count(*) FROM funding_payments") == [(0,)]
    alerts = _rows(
        journal, "SELECT ts_ms, kind, fields_json FROM alerts WHERE kind LIKE 'funding_flip%'"
    )
    assert [(ts, kind) for ts, kind, _ in alerts] == [(injected[0], "funding_flip_close")]
    fields = json.loads(alerts[0][2])
    assert fields["policy"] == "predicted_adverse_rate"
    (perp_qty,) = (
        Decimal(q)
        for i, side, q in _rows(journal, "SELECT instrument, side, qty FROM fills")
        if i == str(PERP) and side == "sell"
    )
    short_usd = float(perp_qty) * price_at(PERP, T - H)
    assert fields["expected_adverse_usd"] == pytest.approx(0.003 / 8 * 24 * short_usd, rel=1e-6)


async def test_a_favourable_prediction_is_not_booked_the_settled_rate_is(tmp_path: Path) -> None:
    """A predicted +0.002 (favourable to the short) streams before T: nothing closes, and the
    payment at T is booked at the settled rate (+0.001), never at the prediction."""
    journal = tmp_path / "live.sqlite"
    wall = FakeWall(T - H + 5_000)
    binance = FakeMarketData(
        "binance", {PERP: instrument(PERP), SPOT: instrument(SPOT)}, now_ms=wall.now_ms
    )
    binance.settlements = [
        FundingRate(PERP, RATE, 28_800, T + k * 8 * H, T + (k + 1) * 8 * H) for k in (-2, -1, 0)
    ]
    supervisor = Supervisor(
        _config(journal), market_data_factory=lambda _: binance, clock=wall, sleep=wall.sleep
    )
    sent: list[int] = []

    def predict_then_stop(clock: FakeWall) -> None:
        if clock.now >= T - H + 120_000 and not sent:
            sent.append(clock.now)
            binance.marks.put_nowait(FundingRate(PERP, 0.002, 28_800, T, T + 8 * H))
        if clock.now >= T + H:
            supervisor.request_stop()

    wall.on_sleep = predict_then_stop
    result = await supervisor.run()

    assert result.counters["predicted_funding"] == 1  # it reached the engine
    assert _rows(journal, "SELECT count(*) FROM intents WHERE reason LIKE 'exit%'") == [(0,)]
    payments = _rows(journal, "SELECT ts_funding_ms, rate FROM funding_payments")
    assert payments == [(T, RATE)]


async def test_a_breaker_tripped_by_a_mark_flattens_at_once_when_configured(
    tmp_path: Path,
) -> None:
    """``[risk] flatten_on_breaker = true`` with a 0.1 % total-drawdown breaker: a mark of the
    spot 6 % down between steps (the perp's unchanged) costs the long spot leg ~240 USD, 0.24 %
    of equity. The breaker trips on that mark tick and every position is closed right there,
    not at the next step."""
    journal = tmp_path / "live.sqlite"
    config = load_config(
        None,
        env={},
        overrides={
            **_overrides(journal),
            "risk": {"flatten_on_breaker": True, "total_drawdown_frac": 0.001,
                     "daily_drawdown_frac": 0.001},
        },
    )  # fmt: skip
    wall = FakeWall(T - H + 5_000)
    binance = FakeMarketData(
        "binance", {PERP: instrument(PERP), SPOT: instrument(SPOT)}, now_ms=wall.now_ms
    )
    binance.settlements = [
        FundingRate(PERP, RATE, 28_800, T + k * 8 * H, T + (k + 1) * 8 * H) for k in (-2, -1)
    ]
    supervisor = Supervisor(
        config, market_data_factory=lambda _: binance, clock=wall, sleep=wall.sleep
    )
    marked: list[int] = []

    def drop_then_stop(clock: FakeWall) -> None:
        if clock.now >= T - H + 120_000 and not marked:
            marked.append(clock.now)
            spot_price = price_at(SPOT, T - H) * 0.94
            binance.marks.put_nowait(MarkPrice(SPOT, spot_price, clock.now))
        if clock.now >= T + H:
            supervisor.request_stop()

    wall.on_sleep = drop_then_stop
    await supervisor.run()

    breakers = _rows(journal, "SELECT ts_ms FROM risk_events WHERE detail = 'breaker'")
    assert breakers, "the breaker did not trip"
    tripped_ms = breakers[0][0]
    assert marked[0] <= tripped_ms < T  # on a mark tick between the steps
    flattened = _rows(journal, "SELECT ts_ms, reason FROM intents WHERE opening = 0")
    assert flattened == [(tripped_ms, "breaker_flatten")]
    assert all(qty == 0 for qty in _positions(journal).values())
    last_fill_ms = _rows(journal, "SELECT max(ts_ms) FROM fills")[0][0]
    assert last_fill_ms == tripped_ms


async def test_a_mark_stream_gone_silent_marks_the_venue_unhealthy(tmp_path: Path) -> None:
    """The feed's marks and REST reads reach the engine's venue health: a stream that stops
    after one mark is judged at the next step (no mark tick comes while every stream is
    silent) and alerted once, with what failed."""
    journal = tmp_path / "live.sqlite"
    wall = FakeWall(T - H + 5_000)
    binance = FakeMarketData(
        "binance", {PERP: instrument(PERP), SPOT: instrument(SPOT)}, now_ms=wall.now_ms
    )
    binance.marks.put_nowait(MarkPrice(PERP, price_at(PERP, T - H), T - H + 6_000))
    supervisor = Supervisor(
        _config(journal), market_data_factory=lambda _: binance, clock=wall, sleep=wall.sleep
    )
    wall.on_sleep = lambda clock: supervisor.request_stop() if clock.now >= T + H else None
    await supervisor.run()

    alerts = _rows(journal, "SELECT ts_ms, kind, fields_json FROM alerts WHERE kind LIKE 'venue_%'")
    assert [(ts, kind) for ts, kind, _ in alerts] == [(T, "venue_unhealthy")]
    fields = json.loads(alerts[0][2])
    assert (fields["venue"], fields["channel"]) == ("binance", "marks")
    # Silent since the mark at T - 1h + 6 s, judged at the step at T (its bar 15 s late).
    assert fields["failing_s"] == pytest.approx((T + 15_000 - (T - H + 6_000)) / 1000, abs=1)
