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


def predicted_snap(
    settled: FundingRate | None, predicted: FundingRate, now_ms: int
) -> MarketSnapshot:
    """A live view at ``now_ms``: the last settled rate and the venue's predicted rate."""
    return MarketSnapshot(
        ts_ms=now_ms,
        instruments={},
        prices={PERP: PRICE, SPOT: PRICE, HL: PRICE},
        funding={} if settled is None else {PERP: settled},
        closes={},
        predicted_funding={PERP: predicted},
    )


def _rate(rate: float, ts_ms: int) -> FundingRate:
    return FundingRate(PERP, rate, H8, ts_ms, ts_ms + H8 * 1000)


def test_a_predicted_adverse_rate_closes_before_the_settlement_once() -> None:
    """The short perp last settled at +1 bp (favourable); the venue's prediction of the next
    settlement (T0 + 8h) turns to -0.001 per 8h, beyond the 0.0005 threshold. Expected adverse
    funding over 24 h: 0.001/8 × 24 × 60,000 = 180 USD > 84 USD to close: the monitor closes
    at the prediction, 2 h before the settlement, and not again on later predictions of it."""
    m = monitor()
    settled = _rate(0.0001, T0)
    state = m.initial_state()
    snapshot = predicted_snap(settled, _rate(-0.0004, T0 + 8 * HOUR_MS), T0)
    calm = m.review(HARVEST, snapshot, state, T0)
    assert calm.closes == ()  # -0.0004 is not beyond the threshold
    now = T0 + 6 * HOUR_MS
    decision = m.review(
        HARVEST, predicted_snap(settled, _rate(-0.001, T0 + 8 * HOUR_MS), now), calm.state, now
    )
    ((owner, intent),) = decision.closes
    assert owner == "funding_harvester"
    assert {leg.instrument_id: leg.target_qty for leg in intent.legs} == {SPOT: 0.0, PERP: 0.0}
    (alert,) = decision.alerts
    assert alert.kind == "funding_flip_close"
    assert alert.fields["policy"] == "predicted_adverse_rate"
    assert alert.fields["expected_adverse_usd"] == pytest.approx(0.001 / 8 * 24 * PRICE)
    # the settled count is untouched: the prediction is not a settlement
    (record,) = decision.state.counts.values()
    assert (record.last_ms, record.adverse, record.predicted_ms) == (T0, 0, T0 + 8 * HOUR_MS)
    later = now + HOUR_MS
    again = m.review(
        HARVEST, predicted_snap(settled, _rate(-0.002, T0 + 8 * HOUR_MS), later), decision.state,
        later,
    )  # fmt: skip
    assert again.closes == ()
    assert again.alerts == ()


def test_a_predicted_rate_that_costs_less_than_closing_is_held_once() -> None:
    # -0.00052/8h is beyond the 0.0005 threshold; over a 12 h horizon the adverse funding
    # expected is 0.00052/8 × 12 × 60,000 = 46.8 USD < 84 USD to close: held, said once for
    # this settlement although three hourly predictions show it.
    m = monitor(horizon_h=12.0)
    settled = _rate(0.0001, T0)
    state = m.initial_state()
    alerts = []
    for hour in (5, 6, 7):
        now = T0 + hour * HOUR_MS
        snapshot = predicted_snap(settled, _rate(-0.00052, T0 + 8 * HOUR_MS), now)
        decision = m.review(HARVEST, snapshot, state, now)
        state = decision.state
        assert decision.closes == ()
        alerts.extend(decision.alerts)
    assert [a.kind for a in alerts] == ["funding_flip_hold"]
    assert alerts[0].fields["expected_adverse_usd"] == pytest.approx(0.00052 / 8 * 12 * PRICE)


def test_a_prediction_of_a_settlement_already_past_is_ignored() -> None:
    """At T0 + 8h + 10 s the venue still shows its prediction of the T0 + 8h settlement (the
    settled rate is not published yet): the settlement is past, so the settled rate decides
    when it arrives."""
    m = monitor()
    now = T0 + 8 * HOUR_MS + 10_000
    decision = m.review(
        HARVEST, predicted_snap(_rate(0.0001, T0), _rate(-0.01, T0 + 8 * HOUR_MS), now),
        m.initial_state(), now,
    )  # fmt: skip
    assert decision.closes == ()
    assert decision.alerts == ()


def test_settled_rates_are_counted_as_before_when_predictions_are_present() -> None:
    """Predictions do not count as settlements: two adverse *settled* rates still close under
    ``adverse_settlements = 2`` (-0.0005/8h is not beyond the predicted-rate threshold)."""
    m = monitor(adverse_settlements=2)
    state = m.initial_state()
    closes = []
    for k in (0, 1):
        ts = T0 + k * H8 * 1000
        snapshot = predicted_snap(_rate(-0.0005, ts), _rate(-0.0004, ts + H8 * 1000), ts + 1)
        decision = m.review(HARVEST, snapshot, state, ts + 1)
        state = decision.state
        closes.append(decision.closes)
    assert closes[0] == ()
    assert len(closes[1]) == 1
    assert closes[1][0][1].reason == "exit_funding_flip_monitor"
