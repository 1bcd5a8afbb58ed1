"""Funding-flip monitor on hand-built settlement sequences."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from strategies.base import MarketSnapshot
from strategies.flip_monitor import FlipMonitorConfig, FundingFlipMonitor, MonitorDecision
from venues.model import HOUR_MS, FundingRate, InstrumentId, InstrumentKind

T0 = 1_760_000_000_000
H8 = 28_800
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
HL = InstrumentId("hyperliquid", InstrumentKind.PERP, "BTC")
PRICE = 60_000.0
COST_BPS = {"binance": 7.0, "hyperliquid": 6.5}  # taker + slippage per closing order
HARVEST = {"funding_harvester": {SPOT: 1.0, PERP: -1.0}}


def snap(
    rate: float, ts_funding_ms: int, interval_s: int = H8, iid: InstrumentId = PERP
) -> MarketSnapshot:
    funding = FundingRate(iid, rate, interval_s, ts_funding_ms, ts_funding_ms + interval_s * 1000)
    return MarketSnapshot(
        ts_ms=ts_funding_ms,
        instruments={},
        prices={PERP: PRICE, SPOT: PRICE, HL: PRICE},
        funding={iid: funding},
        closes={},
    )


def monitor(**kw: Any) -> FundingFlipMonitor:
    return FundingFlipMonitor(FlipMonitorConfig(**kw), COST_BPS)


def run(
    m: FundingFlipMonitor,
    rates: list[float],
    positions: Mapping[str, Mapping[InstrumentId, float]] = HARVEST,
) -> list[MonitorDecision]:
    state = m.initial_state()
    out = []
    for k, rate in enumerate(rates):
        ts = T0 + k * H8 * 1000
        decision = m.review(positions, snap(rate, ts), state, ts)
        state = decision.state
        out.append(decision)
    return out


def test_closes_after_n_adverse_settlements_when_worth_it() -> None:
    # The short perp pays a negative rate. Closing costs 2 legs × 60,000 × 7 bps = 84 USD.
    # -0.00045/8h: expected adverse over 24h = 0.00045/8 × 24 × 60,000 = 81 USD < 84: hold.
    # -0.0005/8h: 90 USD > 84: close (0.0005 is not *beyond* the predicted-rate threshold,
    # so the consecutive-settlements policy is the one deciding).
    held = run(monitor(adverse_settlements=2), [-0.00045, -0.00045])
    assert [d.closes for d in held] == [(), ()]
    assert held[1].alerts[0].kind == "funding_flip_hold"
    assert held[1].alerts[0].fields["expected_adverse_usd"] == pytest.approx(81.0)
    assert held[1].alerts[0].fields["close_cost_usd"] == pytest.approx(84.0)
    closed = run(monitor(adverse_settlements=2), [-0.0005, -0.0005])
    assert closed[0].closes == ()  # one adverse settlement is not enough
    ((owner, intent),) = closed[1].closes
    assert owner == "funding_harvester"
    assert {leg.instrument_id: leg.target_qty for leg in intent.legs} == {SPOT: 0.0, PERP: 0.0}
    assert not intent.opening
    assert closed[1].alerts[0].fields["expected_adverse_usd"] == pytest.approx(90.0)


def test_favourable_settlement_resets_the_count() -> None:
    decisions = run(monitor(adverse_settlements=2), [-0.0005, 0.0001, -0.0005])
    assert all(d.closes == () for d in decisions)


def test_same_settlement_counts_once() -> None:
    m = monitor(adverse_settlements=2)
    state = m.initial_state()
    for _ in range(3):  # reviewed every hour, one settlement
        decision = m.review(HARVEST, snap(-0.0005, T0), state, T0 + HOUR_MS)
        state = decision.state
        assert decision.closes == ()


def test_large_adverse_rate_closes_at_once_and_normalizes_the_interval() -> None:
    # Hyperliquid hourly rate 0.0001/h = 0.0008 per 8h > 0.0005 threshold; a LONG pays it.
    positions = {"cross_venue_arb": {HL: 1.0, PERP: -1.0}}
    m = monitor()
    decision = m.review(positions, snap(0.0001, T0, 3_600, HL), m.initial_state(), T0)
    ((owner, _),) = decision.closes
    assert owner == "cross_venue_arb"
    assert decision.alerts[0].fields["policy"] == "adverse_rate_beyond_threshold"
    # The same 0.0001 per 8h would be 1/8 of that: no close.
    decision = m.review(positions, snap(0.0001, T0, H8, HL), m.initial_state(), T0)
    assert decision.closes == ()


def test_cooldown_blocks_the_owner_then_expires() -> None:
    m = monitor(adverse_settlements=1, cooldown_h=24)
    decision = m.review(HARVEST, snap(-0.001, T0), m.initial_state(), T0)
    assert decision.closes
    assert decision.blocked == {"funding_harvester": frozenset({"BTC"})}
    later = m.review({}, snap(-0.001, T0), decision.state, T0 + 23 * HOUR_MS)
    assert later.blocked == {"funding_harvester": frozenset({"BTC"})}
    expired = m.review({}, snap(-0.001, T0), later.state, T0 + 24 * HOUR_MS)
    assert expired.blocked == {}


def test_unguarded_strategies_are_left_alone() -> None:
    positions = {"stat_arb": {PERP: -1.0}}
    assert all(d.closes == () for d in run(monitor(adverse_settlements=1), [-0.01], positions))
