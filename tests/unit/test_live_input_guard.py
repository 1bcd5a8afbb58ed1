"""Live inputs through the replay's plausibility rules (agent/live/input_guard.py): implausible
funding rates and prices are dropped and reported to the venue's health, and a venue whose data
stays implausible turns unhealthy like one whose API is down."""

from __future__ import annotations

import math

from agent.engine.venue_health import VenueHealth
from agent.live.input_guard import LiveInputGuard
from agent.live.steps import FundingTick, LiveStep, MarkTick
from venues.model import HOUR_MS, FundingRate, InstrumentId, InstrumentKind
from venues.replay.guards import DataGuards

BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
HL_BTC = InstrumentId("hyperliquid", InstrumentKind.PERP, "BTC")
T = 480_000 * HOUR_MS


def _history(n: int = 100) -> list[float]:
    """Hourly closes moving ±0.5 % alternately: median |log return| = log(1.005 / 0.995)
    (about 1 %), so sigma = 1.4826 × that."""
    return [60_000.0 * (1.005 if i % 2 else 0.995) for i in range(n)]


def _guard(report: list[tuple[str, object, str]] | None = None) -> LiveInputGuard:
    out = report if report is not None else []
    guard = LiveInputGuard(
        DataGuards(funding_cap_default_frac=0.05, price_jump_max_sigmas=100.0),
        report=lambda venue, error, channel: out.append((venue, error, channel)),
    )
    for close in _history():
        guard.learn({BTC: close})
    return guard


def test_a_funding_rate_beyond_the_cap_is_dropped_and_reported() -> None:
    report: list[tuple[str, object, str]] = []
    guard = _guard(report)
    good = FundingRate(BTC, 0.0001, 28_800, T, T + 8 * HOUR_MS)
    bad = FundingRate(ETH, 5.0, 28_800, T, T + 8 * HOUR_MS)  # 500 % per interval
    hl_bad = FundingRate(HL_BTC, 0.045, 3_600, T, T + HOUR_MS)  # over Hyperliquid's 4 %/h
    tick = guard.funding(FundingTick(T, (good, bad, hl_bad)))
    assert tick.rates == (good,)
    assert guard.rejected == 2
    failures = [(v, c) for v, e, c in report if e is not None]
    assert failures == [("binance", f"data:{ETH}"), ("hyperliquid", f"data:{HL_BTC}")]
    assert guard.cap_frac(HL_BTC) == 0.04  # the venue's documented cap
    assert guard.cap_frac(ETH) == 0.05  # [market_data] funding_cap_default_frac


def test_a_100x_mark_is_dropped_and_the_next_plausible_one_accepted() -> None:
    guard = _guard()
    last = _history()[-1]
    sigma = 1.4826 * math.log(1.005 / 0.995)
    within = last * math.exp(90 * sigma)  # 90 sigmas: a crash, not an error
    spike = guard.marks(MarkTick(T, {BTC: last * 100}))
    assert spike.prices == {}
    assert guard.marks(MarkTick(T + 1, {BTC: within})).prices == {BTC: within}
    # judged from the last *accepted* price: back from 90 to 0 sigmas is fine
    assert guard.marks(MarkTick(T + 2, {BTC: last})).prices == {BTC: last}
    assert guard.rejected == 1


def test_a_step_keeps_its_plausible_closes_and_rates() -> None:
    guard = _guard()
    rate = FundingRate(BTC, 0.0001, 28_800, T, T + 8 * HOUR_MS)
    step = LiveStep(T, {BTC: _history()[-2], ETH: 3_000.0}, (rate,))
    assert guard.step(step) is step  # nothing to drop: the same step
    bad = LiveStep(T + HOUR_MS, {BTC: -1.0, ETH: 3_001.0}, ())
    assert guard.step(bad).closes == {ETH: 3_001.0}


def test_without_history_a_price_is_not_judged() -> None:
    guard = LiveInputGuard(DataGuards(), report=None)
    assert guard.marks(MarkTick(T, {BTC: 60_000.0})).prices == {BTC: 60_000.0}
    assert guard.marks(MarkTick(T + 1, {BTC: 6_000_000.0})).prices == {BTC: 6_000_000.0}


def test_a_venue_whose_data_stays_implausible_turns_unhealthy_then_recovers() -> None:
    now = [T]
    health = VenueHealth(120.0, lambda: now[0])
    guard = LiveInputGuard(DataGuards(), report=health.record)
    for close in _history():
        guard.learn({BTC: close})
    for seconds in range(0, 181, 30):  # a 100× mark every 30 s for 3 minutes
        now[0] = T + seconds * 1000
        guard.marks(MarkTick(now[0], {BTC: _history()[-1] * 100, ETH: 3_000.0}))
    changes = health.review()
    assert [(c.venue, c.unhealthy, c.channel) for c in changes] == [
        ("binance", True, f"data:{BTC}")
    ]
    assert changes[0].failing_s == 180.0
    now[0] += 1_000
    guard.marks(MarkTick(now[0], {BTC: _history()[-1]}))  # plausible again
    assert [(c.venue, c.unhealthy) for c in health.review()] == [("binance", False)]


def test_marks_are_judged_against_the_newest_closes_learned_or_stepped() -> None:
    # sigma is computed once per history (not per mark) — and again after every new close:
    # 25 moves of ~1 % (sigma 1.47 %, limit 3 sigmas = 4.4 %) refuse a 10 % mark; once the
    # history holds mostly ~6 % moves (sigma 8.9 %) the same mark is within the limit.
    guard = LiveInputGuard(DataGuards(price_jump_max_sigmas=3.0), report=None)
    for close in _history(26):
        guard.learn({BTC: close})
    last = _history(26)[-1]
    assert guard.marks(MarkTick(T, {BTC: last * 1.10})).prices == {}
    wide = [60_000.0 * (1.03 if i % 2 else 0.97) for i in range(40)]  # |log move| ~6 %
    for close in wide[:30]:
        guard.learn({BTC: close})
    assert guard.marks(MarkTick(T + 1, {BTC: wide[29] * 1.10})).prices == {BTC: wide[29] * 1.10}
    # a stepped close counts too: back to calm closes, the limit tightens again
    calm = LiveInputGuard(DataGuards(price_jump_max_sigmas=3.0), report=None)
    for close in wide[:26]:
        calm.learn({BTC: close})
    assert calm.marks(MarkTick(T, {BTC: wide[25] * 1.10})).prices == {BTC: wide[25] * 1.10}
    for k, close in enumerate(_history(60)):  # ~1 % moves, each within 3 × the wide sigma
        assert calm.step(LiveStep(T + k * HOUR_MS, {BTC: close}, ())).closes == {BTC: close}
    last = _history(60)[-1]
    assert calm.marks(MarkTick(T + 61 * HOUR_MS, {BTC: last * 1.10})).prices == {}
    assert calm.rejected == 1
