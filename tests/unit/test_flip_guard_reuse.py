"""The runner's funding-flip guard skips a review that would change nothing again.

:meth:`StrategyRunner.guard_funding_flips` keeps a quiet review (no close, no alert, state
unchanged) and does not review again while its inputs stand. Each test below changes one
input the kept review depends on and checks the guard reviews again (it fails if that
invalidation is removed); the property test drives random sequences through the guard and
through the guard as it was before (kept below, reviewing every call) and compares every
journaled state, alert, close, blocked set and return value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.engine.marketdata import MarketData
from agent.engine.runner import StrategyRunner
from agent.notify import Notice
from strategies.base import Alert, MarketSnapshot, PairIntent
from strategies.flip_monitor import (
    FlipMonitorConfig,
    FlipMonitorState,
    FundingFlipMonitor,
    MonitorDecision,
)
from venues.model import HOUR_MS, FundingRate, Instrument, InstrumentId, InstrumentKind

T0 = 1_760_000_000_000
H1_S = 3600
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
HL = InstrumentId("hyperliquid", InstrumentKind.PERP, "BTC")
ETH_PERP = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
IDS = (PERP, SPOT, HL, ETH_PERP)
HARVESTER, ARB = "funding_harvester", "cross_venue_arb"
COST_BPS = {"binance": 7.0, "hyperliquid": 6.5}
ADVERSE_FOR_SHORT = -0.002  # per hour: far beyond 0.0005/8h, worth closing on any notional
FAVOURABLE_FOR_SHORT = 0.0001


def _instrument(iid: InstrumentId) -> Instrument:
    base = "ETH" if "ETH" in iid.symbol else "BTC"
    one = Decimal("0.001")
    return Instrument(iid, base, "USDT", one, one, one, Decimal(5))


class FakePortfolio:
    """Positions per strategy, exact; closes zero the legs they name."""

    def __init__(self) -> None:
        self.held: dict[str, dict[InstrumentId, Decimal]] = {}

    def positions(self, strategy: str) -> dict[InstrumentId, Decimal]:
        return {i: q for i, q in self.held.get(strategy, {}).items() if q}

    def set(self, strategy: str, iid: InstrumentId, qty: Decimal) -> None:
        self.held.setdefault(strategy, {})[iid] = qty


class FakeExecutor:
    def __init__(self, portfolio: FakePortfolio) -> None:
        self.portfolio = portfolio
        self.executed: list[tuple[str, str, tuple[InstrumentId, ...]]] = []

    async def execute(
        self,
        owner: str,
        intent: PairIntent,
        prices: Mapping[InstrumentId, float],
        ts_ms: int,
        *,
        urgent: bool = False,
    ) -> None:
        legs = tuple(leg.instrument_id for leg in intent.legs)
        self.executed.append((owner, intent.intent_id, legs))
        for iid in legs:
            self.portfolio.set(owner, iid, Decimal(0))


class FakeJournal:
    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def record_strategy_state(self, ts_ms: int, name: str, state: Mapping[str, Any]) -> None:
        self.rows.append(("state", ts_ms, name, state))

    def record_alert(self, ts_ms: int, name: str, alert: Alert) -> None:
        self.rows.append(("alert", ts_ms, name, alert.kind, alert.message, dict(alert.fields)))


class FakeAlerts:
    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)


class CountingMonitor(FundingFlipMonitor):
    """The monitor, counting its reviews."""

    def __init__(self, config: FlipMonitorConfig) -> None:
        super().__init__(config, COST_BPS)
        self.reviews = 0

    def review(
        self,
        positions: Mapping[str, Mapping[InstrumentId, float]],
        snapshot: MarketSnapshot,
        state: FlipMonitorState,
        now_ms: int,
    ) -> MonitorDecision:
        self.reviews += 1
        return super().review(positions, snapshot, state, now_ms)


class Setup:
    """A runner with a real MarketData and the fakes above."""

    def __init__(self, cooldown_h: float = 3.0) -> None:
        self.market = MarketData({i: _instrument(i) for i in IDS}, 2 * HOUR_MS)
        for iid in IDS:
            self.market.on_price(iid, 60_000.0, T0)
        self.portfolio = FakePortfolio()
        self.executor = FakeExecutor(self.portfolio)
        self.journal = FakeJournal()
        self.alerts = FakeAlerts()
        self.monitor = CountingMonitor(
            FlipMonitorConfig(guarded_strategies=[HARVESTER, ARB], cooldown_h=cooldown_h)
        )
        self.runner = StrategyRunner(
            [],
            self.monitor,
            market=self.market,
            portfolio=self.portfolio,  # type: ignore[arg-type]
            executor=self.executor,  # type: ignore[arg-type]
            journal=self.journal,  # type: ignore[arg-type]
            risk=None,  # type: ignore[arg-type]
            state_every_s=3600,
            alerts=self.alerts,
        )

    def guard(self, ts_ms: int) -> bool:
        return asyncio.run(self.runner.guard_funding_flips(ts_ms))

    def settle(self, iid: InstrumentId, rate: float, ts_ms: int) -> None:
        self.market.on_funding(FundingRate(iid, rate, H1_S, ts_ms, ts_ms + HOUR_MS))

    def predict(self, iid: InstrumentId, rate: float, ts_funding_ms: int) -> None:
        self.market.on_predicted_funding(
            FundingRate(iid, rate, H1_S, ts_funding_ms, ts_funding_ms + HOUR_MS)
        )


def _quiet(setup: Setup, ts_ms: int) -> int:
    """Two guard calls at ``ts_ms`` that change nothing; the reviews they ran."""
    before = setup.monitor.reviews
    rows = len(setup.journal.rows)
    assert setup.guard(ts_ms) is False
    assert setup.guard(ts_ms + HOUR_MS // 2) is False
    assert len(setup.journal.rows) == rows
    return setup.monitor.reviews - before


def test_unchanged_inputs_are_not_reviewed_again() -> None:
    s = Setup()
    s.portfolio.set(HARVESTER, PERP, Decimal("-1"))
    s.settle(PERP, FAVOURABLE_FOR_SHORT, T0)
    assert s.guard(T0) is True  # first settlement counted
    assert s.monitor.reviews == 1
    assert _quiet(s, T0 + HOUR_MS) == 1  # the first quiet review runs, the next is skipped
    assert s.guard(T0 + 2 * HOUR_MS) is False
    assert s.monitor.reviews == 2


def test_no_positions_is_not_reviewed_again() -> None:
    s = Setup()
    assert s.guard(T0) is False
    for k in range(1, 5):
        assert s.guard(T0 + k * HOUR_MS) is False
    assert s.monitor.reviews == 1
    assert s.journal.rows == []


def test_a_new_settlement_is_reviewed() -> None:
    s = Setup()
    s.portfolio.set(HARVESTER, PERP, Decimal("-1"))
    s.settle(PERP, FAVOURABLE_FOR_SHORT, T0)
    s.guard(T0)
    _quiet(s, T0 + HOUR_MS)
    s.settle(PERP, FAVOURABLE_FOR_SHORT, T0 + 3 * HOUR_MS)
    assert s.guard(T0 + 3 * HOUR_MS) is True
    state = s.journal.rows[-1][3]
    assert state["counts"][f"{HARVESTER}|{PERP}"] == {"last_ms": T0 + 3 * HOUR_MS, "adverse": 0}


def test_a_changed_position_is_reviewed() -> None:
    s = Setup()
    s.portfolio.set(HARVESTER, PERP, Decimal("-1"))
    s.settle(PERP, FAVOURABLE_FOR_SHORT, T0)
    s.settle(HL, FAVOURABLE_FOR_SHORT, T0)
    s.guard(T0)
    _quiet(s, T0 + HOUR_MS)
    s.portfolio.set(ARB, HL, Decimal("-2"))  # the arb's new perp: its settlement is counted
    assert s.guard(T0 + 3 * HOUR_MS) is True
    assert f"{ARB}|{HL}" in s.journal.rows[-1][3]["counts"]


def test_a_changed_quantity_is_reviewed() -> None:
    s = Setup()
    s.portfolio.set(HARVESTER, PERP, Decimal("-1"))
    s.settle(PERP, FAVOURABLE_FOR_SHORT, T0)
    s.predict(PERP, -ADVERSE_FOR_SHORT, T0 + 4 * HOUR_MS)  # adverse for a long only
    s.guard(T0)
    _quiet(s, T0 + HOUR_MS)
    s.portfolio.set(HARVESTER, PERP, Decimal("1"))  # same instrument, now long
    assert s.guard(T0 + 3 * HOUR_MS) is True
    assert [r[3] for r in s.journal.rows if r[0] == "alert"] == ["funding_flip_close"]


def test_a_new_prediction_is_reviewed() -> None:
    s = Setup()
    s.portfolio.set(HARVESTER, PERP, Decimal("-1"))
    s.settle(PERP, FAVOURABLE_FOR_SHORT, T0)
    s.guard(T0)
    _quiet(s, T0 + HOUR_MS)
    s.predict(PERP, ADVERSE_FOR_SHORT, T0 + 4 * HOUR_MS)
    assert s.guard(T0 + 3 * HOUR_MS) is True
    assert s.journal.rows[-1][:4] == (
        "alert",
        T0 + 3 * HOUR_MS,
        s.monitor.name,
        "funding_flip_close",
    )
    assert s.executor.executed[-1][0] == HARVESTER
    assert s.runner.blocked == {HARVESTER: frozenset({"BTC"})}


def test_a_cooldown_end_is_reviewed() -> None:
    s = Setup(cooldown_h=3.0)
    s.portfolio.set(HARVESTER, PERP, Decimal("-1"))
    s.settle(PERP, ADVERSE_FOR_SHORT, T0)
    assert s.guard(T0) is True  # closes at once, blocks BTC for 3 h
    assert s.runner.blocked == {HARVESTER: frozenset({"BTC"})}
    assert s.guard(T0 + HOUR_MS // 4) is True  # the closed perp's count is dropped
    assert _quiet(s, T0 + HOUR_MS) == 1
    assert s.runner.blocked == {HARVESTER: frozenset({"BTC"})}
    assert s.guard(T0 + 3 * HOUR_MS) is True  # the cooldown ends: state changed
    assert s.journal.rows[-1][3]["cooldowns"] == {HARVESTER: {}}
    assert s.runner.blocked == {}


def test_a_replaced_state_is_reviewed() -> None:
    s = Setup()
    s.portfolio.set(HARVESTER, PERP, Decimal("-1"))
    s.settle(PERP, FAVOURABLE_FOR_SHORT, T0)
    s.guard(T0)
    _quiet(s, T0 + HOUR_MS)
    s.runner.monitor_state = s.monitor.initial_state()  # as a resume may put it
    assert s.guard(T0 + 3 * HOUR_MS) is True  # the settlement is counted anew
    assert f"{HARVESTER}|{PERP}" in s.journal.rows[-1][3]["counts"]


def test_time_going_back_is_reviewed() -> None:
    s = Setup()
    s.portfolio.set(HARVESTER, PERP, Decimal("-1"))
    s.settle(PERP, FAVOURABLE_FOR_SHORT, T0)
    s.guard(T0)
    s.predict(PERP, ADVERSE_FOR_SHORT, T0 + 2 * HOUR_MS)
    _quiet(s, T0 + 2 * HOUR_MS)  # the prediction's settlement is not after now: ignored
    assert s.guard(T0 + HOUR_MS) is True  # earlier: it is ahead again and acted on
    assert s.executor.executed


# ---- against the guard as it was (reviewing every call) -----------------------------------


class Reference:
    """``guard_funding_flips`` of f6fff63, on the same fakes."""

    def __init__(self, setup: Setup) -> None:
        self.s = setup
        self.state = setup.monitor.initial_state()
        self.blocked: Mapping[str, frozenset[str]] = {}

    def guard(self, ts_ms: int) -> bool:
        monitor, s = self.s.monitor, self.s
        positions = {
            name: {i: float(q) for i, q in s.portfolio.positions(name).items() if q}
            for name in monitor.config.guarded_strategies
        }
        held = {i for p in positions.values() for i in p}
        snapshot = s.market.snapshot(ts_ms, held, 1)
        decision = monitor.review(positions, snapshot, self.state, ts_ms)
        changed = decision.state != self.state
        if changed:
            s.journal.record_strategy_state(ts_ms, monitor.name, decision.state.to_json())
        self.state = decision.state
        self.blocked = decision.blocked
        for alert in decision.alerts:
            s.journal.record_alert(ts_ms, monitor.name, alert)
        for owner, intent in decision.closes:
            asyncio.run(s.executor.execute(owner, intent, snapshot.prices, ts_ms, urgent=True))
        return changed


_OWNERS = st.sampled_from([HARVESTER, ARB])
_PERPS = st.sampled_from([PERP, HL, ETH_PERP])
_RATES = st.sampled_from([ADVERSE_FOR_SHORT, -0.00001, 0.0, FAVOURABLE_FOR_SHORT, 0.002])
_OPS = st.one_of(
    st.tuples(
        st.just("position"), _OWNERS, st.sampled_from(IDS), st.sampled_from(["-1", "0", "2"])
    ),
    st.tuples(st.just("settle"), _PERPS, _RATES, st.integers(0, 3)),
    st.tuples(st.just("predict"), _PERPS, _RATES, st.integers(-1, 3)),
    st.tuples(st.just("advance"), st.integers(0, 3)),
    st.tuples(st.just("reload_state")),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_OPS, max_size=40))
def test_same_journal_closes_and_blocked_as_reviewing_every_call(
    ops: list[tuple[Any, ...]],
) -> None:
    fast, slow = Setup(cooldown_h=2.0), Setup(cooldown_h=2.0)
    reference = Reference(slow)
    ts_ms = T0
    for op in ops:
        kind = op[0]
        for s in (fast, slow):
            if kind == "position":
                s.portfolio.set(op[1], op[2], Decimal(op[3]))
            elif kind == "settle":
                s.settle(op[1], op[2], ts_ms - op[3] * HOUR_MS)
            elif kind == "predict":
                s.predict(op[1], op[2], ts_ms + op[3] * HOUR_MS)
        if kind == "advance":
            ts_ms += op[1] * HOUR_MS
        if kind == "reload_state":
            fast.runner.monitor_state = FlipMonitorState.from_json(
                fast.runner.monitor_state.to_json()
            )
            reference.state = FlipMonitorState.from_json(reference.state.to_json())
        assert fast.guard(ts_ms) == reference.guard(ts_ms)
        assert fast.journal.rows == slow.journal.rows
        assert fast.executor.executed == slow.executor.executed
        assert fast.runner.blocked == reference.blocked
        assert fast.runner.monitor_state == reference.state
        assert fast.portfolio.held == slow.portfolio.held


def test_another_monitor_is_reviewed() -> None:
    s = Setup()
    s.portfolio.set(HARVESTER, PERP, Decimal("-1"))
    s.settle(PERP, FAVOURABLE_FOR_SHORT, T0)
    # -0.00005/h = 0.0004/8h against the short: within the default 0.0005/8h threshold
    s.predict(PERP, -0.00005, T0 + 4 * HOUR_MS)
    s.guard(T0)
    _quiet(s, T0 + HOUR_MS)
    config = FlipMonitorConfig(guarded_strategies=[HARVESTER, ARB], predicted_adverse_8h_frac=1e-4)
    other = CountingMonitor(config)
    s.runner.monitor = other  # a stricter monitor: the same prediction is beyond its threshold
    assert s.guard(T0 + 3 * HOUR_MS) is True
    assert other.reviews == 1
    assert s.journal.rows[-1][3] == "funding_flip_close"


def test_a_skipped_review_still_sets_blocked() -> None:
    s = Setup(cooldown_h=5.0)
    s.portfolio.set(HARVESTER, PERP, Decimal("-1"))
    s.settle(PERP, ADVERSE_FOR_SHORT, T0)
    s.guard(T0)
    s.guard(T0 + HOUR_MS // 4)
    assert _quiet(s, T0 + HOUR_MS) == 1
    s.runner.blocked = {}  # as a resume from a checkpoint without them may leave it
    assert s.guard(T0 + 2 * HOUR_MS) is False
    assert s.runner.blocked == {HARVESTER: frozenset({"BTC"})}
