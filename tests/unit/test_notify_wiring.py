"""Every place that raises an alert a person must see hands it to the dispatcher: exactly one
notification per trigger and dedup window, and never a delay to the engine's step.

Real parts throughout: an :class:`~agent.engine.engine.Engine` from ``build_engine`` on paper
venues (breakers, margin watch, funding desk, the funding-flip monitor), the live position check
against a fake venue, the executor on the scripted paper venue of ``test_execution``. The
dispatcher is the real one; its sender records (a fake) or posts to a real local webhook.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.config import AgentConfig, AlertsConfig, ExecutionConfig, RiskConfig
from agent.engine.builder import build_engine, claim_journal
from agent.engine.engine import Engine
from agent.execution.unresolved import STUCK_AFTER_LOOKUPS
from agent.journal.journal import Journal
from agent.live.reconcile import PositionCheck
from agent.notify import AlertDispatcher, AppriseSender, Severity
from agent.portfolio.ledger import Portfolio
from agent.risk import RiskEngine
from strategies.base import PairIntent, TargetPosition
from tests.support.webhook import WebhookServer
from tests.unit.conftest import FakeClock
from tests.unit.test_execution import ETH, PRICES, T0_MS, make_rig, pair
from tests.unit.test_notify import FakeSender, kinds_of
from venues.model import FundingRate, Instrument, InstrumentId, InstrumentKind, Position

pytestmark = pytest.mark.timeout(60)

H = 3_600_000
T = 1_760_000_400_000  # a whole hour, UTC
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
SOL = InstrumentId("binance", InstrumentKind.PERP, "SOLUSDT")
INSTRUMENTS = {
    i: Instrument(i, i.symbol[:3], "USDT", D("0.01"), D("0.001"), D("0.001"), D(5), D(1), 28_800)
    for i in (BTC, SOL)
}
LOOSE = {"max_position_frac": 1.0, "max_leverage": 10.0, "max_venue_frac": 1.0}
TOKEN = "tok-wiring-77aa01"


@dataclass(frozen=True, slots=True)
class Step:
    """One hourly step (``MarketStep``)."""

    ts_ms: int
    closes: Mapping[InstrumentId, float]
    funding: Sequence[FundingRate] = ()
    volumes: Mapping[InstrumentId, float] = field(default_factory=dict)


def prices(ts_ms: int, btc: float = 60_000.0) -> Step:
    return Step(ts_ms, {BTC: btc, SOL: 150.0})


def settled(iid: InstrumentId, ts_ms: int, rate: float, interval_s: int) -> FundingRate:
    return FundingRate(iid, rate, interval_s, ts_ms, ts_ms + interval_s * 1000)


def fake_dispatcher(clock: FakeClock) -> tuple[FakeSender, AlertDispatcher]:
    sender = FakeSender()
    return sender, AlertDispatcher(sender, AlertsConfig(), clock=clock)


@asynccontextmanager
async def engine_with(
    tmp_path: Path, alerts: AlertDispatcher, **risk: Any
) -> AsyncIterator[Engine]:
    """A paper engine on BTC and SOL perps (listed 8h funding), no strategies, the funding-flip
    monitor on, its clock at T - 1h."""
    cfg = AgentConfig(
        journal={"path": str(tmp_path / "journal.sqlite")},
        risk={**LOOSE, "max_order_notional_usd": 1e9, **risk},
    )
    async with AsyncExitStack() as stack:
        lock = claim_journal(cfg, stack)
        yield await build_engine(
            cfg,
            [],
            stack,
            instruments=INSTRUMENTS,
            first_ms=T - H,
            journal_lock=lock,
            alerts=alerts,
        )


async def trade(engine: Engine, strategy: str, btc_qty: float, ts_ms: int) -> None:
    intent = PairIntent(f"{strategy}-{ts_ms}", (TargetPosition(BTC, btc_qty),), "test")
    outcome = await engine.executor.execute(strategy, intent, engine.market.prices, ts_ms)
    assert outcome.status == "filled"


def alert_rows(engine: Engine) -> list[str]:
    return [row[3] for row in engine.journal.dump_rows("alerts")]


# ---- the engine: breakers, margin, funding intervals, the funding-flip monitor --------------


async def test_breakers_and_low_margin_notify_once_each(tmp_path: Path, clock: FakeClock) -> None:
    sender, alerts = fake_dispatcher(clock)
    async with engine_with(tmp_path, alerts) as engine:
        await engine.step(prices(T))
        await trade(engine, "manual", 1.5, T)  # 90k notional on 50k collateral at 3×
        await engine.step(prices(T + H, btc=52_000.0))  # -12 % of equity
        await engine.step(prices(T + 2 * H, btc=51_000.0))
        await alerts.flush()
        sent = sender.taken()
        risk_rows = [row[2] for row in engine.journal.dump_rows("risk_events")]
        alerts_journaled = alert_rows(engine)
    assert sorted(kinds_of(sent)) == ["circuit_breaker_tripped"] * 2 + ["margin_low"]
    breakers = [body.split("\n")[0] for title, body, _ in sent if "breaker" in title]
    assert [b.split(" ")[0] for b in breakers] == ["daily_drawdown", "total_drawdown"]
    assert all(severity is Severity.ERROR for t, _, severity in sent if "breaker" in t)
    # the journal is the record: its rows are what they were
    assert risk_rows == ["daily_drawdown", "total_drawdown"]
    assert alerts_journaled == ["margin_low"]


async def test_a_funding_interval_change_notifies_once_per_dedup_window(
    tmp_path: Path, clock: FakeClock
) -> None:
    sender, alerts = fake_dispatcher(clock)
    async with engine_with(tmp_path, alerts) as engine:
        await engine.step(Step(T, prices(T).closes, [settled(BTC, T, 1e-5, 3600)]))  # 8h → 1h
        await engine.step(Step(T + H, prices(T).closes, [settled(BTC, T + H, 1e-5, 3600)]))
        await engine.step(Step(T + 9 * H, prices(T).closes, [settled(BTC, T + 9 * H, 1e-5, 3600)]))
        await alerts.flush()
        first = sender.taken()  # 8h → 1h sent; 1h → 8h (same key, same hour) deduplicated
        clock.now_s += 3600
        await engine.step(
            Step(T + 10 * H, prices(T).closes, [settled(BTC, T + 10 * H, 1e-5, 3600)])
        )
        await alerts.flush()
        second = sender.taken()
        journaled = alert_rows(engine)
    assert kinds_of(first) == ["funding_interval_changed"]
    assert "BTCUSDT funding interval 8h -> 1h" in first[0][1]
    assert kinds_of(second) == ["funding_interval_changed"]
    assert "8h -> 1h" in second[0][1]
    assert "(1 more since the last notification of this key)" in second[0][1]
    assert journaled == ["funding_interval_changed"] * 3  # every change journaled


async def test_the_funding_flip_monitor_closing_a_position_notifies_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    sender, alerts = fake_dispatcher(clock)
    async with engine_with(tmp_path, alerts) as engine:
        await engine.step(prices(T))
        await trade(engine, "funding_harvester", -0.5, T)  # short perp: paid when rates > 0
        for hour in range(1, 18):
            ts = T + hour * H
            funding = [settled(BTC, ts, -0.001, 28_800)] if hour in (1, 9, 17) else []
            await engine.step(Step(ts, prices(ts).closes, funding))
        await alerts.flush()
        sent = sender.taken()
        journaled = alert_rows(engine)
        held = engine.portfolio.positions("funding_harvester")
    assert kinds_of(sent) == ["funding_flip_close"]
    assert "funding_harvester BTC: funding turned against the position; closing" in sent[0][1]
    assert held == {}
    assert "funding_flip_close" in journaled


async def test_a_hanging_notification_service_never_delays_a_step(tmp_path: Path) -> None:
    async with WebhookServer(status=500, hang=True) as server:
        sender = AppriseSender(SecretStr(server.url(TOKEN)))
        alerts = AlertDispatcher(sender, AlertsConfig(send_timeout_s=60))
        try:
            async with engine_with(tmp_path, alerts) as engine, asyncio.TaskGroup() as group:
                group.create_task(alerts.run(), name="alerts.dispatcher")
                await engine.step(Step(T, prices(T).closes, [settled(BTC, T, 1e-5, 3600)]))
                first = await server.received.get()  # sent; the service does not answer
                # The next step runs to its end while that send is still pending:
                await engine.step(Step(T + H, prices(T).closes, [settled(SOL, T + H, 1e-5, 3600)]))
                assert alerts.counts.sent + alerts.counts.failed == 0
                assert alerts.queued == 1  # the SOL notice, behind the pending one
                assert not server.release.is_set()
                server.release.set()  # now it answers: 500
                second = await server.received.get()
                alerts.close()
        finally:
            alerts.shutdown()
    assert [first.kind, second.kind] == ["funding_interval_changed"] * 2
    assert "SOLUSDT" in second.message
    assert alerts.counts.failed == 2  # logged, counted; the engine never waited


# ---- the live position check -------------------------------------------------------------


class HeldVenue:
    """A live venue reporting ``qty`` of BTC."""

    name = "binance"

    def __init__(self) -> None:
        self.qty = D(0)

    async def fetch_positions(self) -> list[Position]:
        return [Position(BTC, self.qty, D(60_000), D(60_000), T)]


async def test_a_position_mismatch_notifies_once_per_dedup_window(clock: FakeClock) -> None:
    sender, alerts = fake_dispatcher(clock)
    venue = HeldVenue()
    journal = Journal.open(":memory:")
    risk = RiskEngine(RiskConfig(), {"binance": 3.0}, 100_000.0)
    check = PositionCheck(
        {"binance": venue},  # type: ignore[dict-item]  # what PositionCheck calls
        {BTC: INSTRUMENTS[BTC]},
        Portfolio({"binance": D(100_000)}),
        journal,
        risk,
        alerts,
    )
    for qty in ("0.1", "0.1", "0.2"):  # a new difference, same instrument: deduplicated
        venue.qty = D(qty)
        await check.check(T)
    await alerts.flush()
    assert kinds_of(sender.taken()) == ["position_mismatch"]
    assert risk.halted
    clock.now_s += 3600
    venue.qty = D("0.3")
    await check.check(T + H)
    await alerts.flush()
    [(title, body, severity)] = sender.taken()
    assert (title, severity) == ("zerobeta ERROR: position_mismatch", Severity.ERROR)
    assert "venue holds 0.3, the ledger 0; opening halted" in body
    assert [r[3] for r in journal.dump_rows("alerts")] == ["position_mismatch"] * 3


# ---- the order desk: pair unwinds, unresolved orders ------------------------------------------


async def test_a_pair_whose_unwind_failed_notifies_once(clock: FakeClock) -> None:
    sender, alerts = fake_dispatcher(clock)
    rig = make_rig()
    rig.executor.desk.alerts = alerts  # what Executor(..., alerts=) does
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout"]
    outcome = await rig.run(pair(0.1, -2.0))
    await alerts.flush()
    assert outcome.status == "partial"
    [(title, body, _)] = sender.taken()
    assert title.endswith("pair_unwind_failed")
    assert "stat_arb i-1: a leg failed and the unwind did not finish (binance:perp:ETHUSDT)" in body


async def test_an_order_stuck_for_a_day_notifies_once(clock: FakeClock) -> None:
    sender, alerts = fake_dispatcher(clock)
    rig = make_rig()
    rig.executor.desk.alerts = alerts
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout"] * (1 + STUCK_AFTER_LOOKUPS + 3)
    await rig.run(pair(0.1, -2.0))
    sender.taken()
    await alerts.flush()
    sender.taken()  # the pair_unwind_failed of the intent itself
    for hour in range(1, STUCK_AFTER_LOOKUPS + 4):
        await rig.executor.follow_up(T0_MS + hour * H, PRICES)
    await alerts.flush()
    [(title, body, severity)] = sender.taken()
    assert (title, severity) == ("zerobeta ERROR: unresolved_order_stuck", Severity.ERROR)
    assert f"after {STUCK_AFTER_LOOKUPS} lookups" in body


async def test_a_late_fill_that_cannot_be_reversed_notifies(clock: FakeClock) -> None:
    sender, alerts = fake_dispatcher(clock)
    rig = make_rig()
    rig.executor.desk.alerts = alerts
    attempts = ExecutionConfig().max_attempts
    # the reverse is refused at every attempt (a refusal alone is tried again)
    rig.venue.place[ETH] = ["timeout_after_fill"] + ["reject"] * attempts
    rig.venue.lookup[ETH] = ["timeout"]
    await rig.run(pair(0.1, -2.0))
    await alerts.flush()
    sender.taken()
    for k in range(attempts):
        await rig.executor.follow_up(T0_MS + H + k * 1_000, PRICES)
        await alerts.flush()
        if k + 1 < attempts:
            assert sender.taken() == []  # not yet: tried again at the next follow-up
    [(title, body, _)] = sender.taken()
    assert title.endswith("unresolved_order_reverse_incomplete")
    assert "binance:perp:ETHUSDT: 2.0 of a late fill could not be reversed" in body


async def test_an_instrument_with_an_unresolved_order_is_compared_once_resolved() -> None:
    """The venue holds the fill of an order whose answer was lost: no halt while the order
    is unresolved; the same difference once it is resolved (and still unbooked) halts."""
    venue = HeldVenue()
    venue.qty = D("0.1")
    journal = Journal.open(":memory:")
    risk = RiskEngine(RiskConfig(), {"binance": 3.0}, 100_000.0)
    pending: set[InstrumentId] = {BTC}
    check = PositionCheck(
        {"binance": venue},  # type: ignore[dict-item]  # what PositionCheck calls
        {BTC: INSTRUMENTS[BTC]},
        Portfolio({"binance": D(100_000)}),
        journal,
        risk,
        pending=lambda: pending,
    )
    await check.check(T)
    assert not risk.halted
    assert journal.dump_rows("reconciliation") == []
    pending.clear()
    await check.check(T + H)
    assert risk.halted
    assert [r[6] for r in journal.dump_rows("reconciliation")] == ["halted_opening"]
