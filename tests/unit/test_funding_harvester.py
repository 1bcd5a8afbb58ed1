"""Funding harvester: signal math against hand-computed values and decide() on hand-built
sequences of snapshots.

Cost figures used throughout: 10 bps spot taker, 5 bps perp taker, 2 bps slippage →
round trip 2 × (10 + 5) + 4 × 2 = 38 bps = 0.0038 of notional. Over a 720 h horizon this
costs 0.0038 × 8760 / 720 = 0.046233... APR, so a 5 % net APR needs a carry of
0.096233... APR = 1.0985540e-5 per hour = 8.788432e-5 per 8 h.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies.base import Decision, MarketSnapshot, PairIntent, PortfolioView, Strategy
from strategies.common import funding_is_stale
from strategies.funding_harvester import signals
from strategies.funding_harvester.config import FundingHarvesterConfig
from strategies.funding_harvester.signals import LegCosts
from strategies.funding_harvester.state import FundingHarvesterState
from strategies.funding_harvester.strategy import FundingHarvesterStrategy
from venues.model import (
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    funding_apr,
    funding_rate_per_hour,
)

VENUE = "binance"
T0_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC
H_MS = 3_600_000
H8_S = 28_800
COSTS = LegCosts(spot_taker_fee_bps=10.0, perp_taker_fee_bps=5.0, slippage_bps=2.0)
# 5 % net APR threshold with COSTS over 720 h, per 8 h (module docstring): 8.788432e-5.
THRESHOLD_8H = (0.05 * 720 / 8760 + 0.0038) / 720 * 8


def sid(symbol: str) -> InstrumentId:
    return InstrumentId(VENUE, InstrumentKind.SPOT, symbol)


def pid(symbol: str) -> InstrumentId:
    return InstrumentId(VENUE, InstrumentKind.PERP, symbol)


def snap(
    ts_ms: int,
    prices: Mapping[str, tuple[float, float]],
    funding: Mapping[str, tuple[float, int, int]],
    *,
    stale: frozenset[InstrumentId] = frozenset(),
    instruments: Mapping[InstrumentId, Instrument] | None = None,
) -> MarketSnapshot:
    """prices: symbol -> (spot, perp); funding: symbol -> (rate, interval_s, ts_funding_ms)."""
    flat: dict[InstrumentId, float] = {}
    for symbol, (spot, perp) in prices.items():
        flat[sid(symbol)] = spot
        flat[pid(symbol)] = perp
    rates = {
        pid(s): FundingRate(pid(s), rate, interval_s, ts_f, ts_f + interval_s * 1000)
        for s, (rate, interval_s, ts_f) in funding.items()
    }
    closes = {i: np.array([p, p], dtype=np.float64) for i, p in flat.items()}
    return MarketSnapshot(ts_ms, instruments or {}, flat, rates, closes, stale)


def book(positions: Mapping[InstrumentId, float] | None = None) -> PortfolioView:
    return PortfolioView(100_000.0, 100_000.0, dict(positions or {}))


def filled(state: FundingHarvesterState) -> PortfolioView:
    """A portfolio holding both legs of every position in ``state`` (its entries filled)."""
    held: dict[InstrumentId, float] = {}
    for symbol, position in state.positions.items():
        held[sid(symbol)] = position.qty
        held[pid(symbol)] = -position.qty
    return book(held)


def make(**overrides: Any) -> FundingHarvesterStrategy:
    settings: dict[str, Any] = {"symbols": ["BTCUSDT"], "rate_lookback_settlements": 1}
    settings.update(overrides)
    return FundingHarvesterStrategy(FundingHarvesterConfig(**settings), COSTS)


def only(decision: Decision[FundingHarvesterState]) -> PairIntent:
    assert len(decision.intents) == 1, decision.intents
    return decision.intents[0]


def legs_of(intent: PairIntent) -> dict[InstrumentId, float]:
    return {leg.instrument_id: leg.target_qty for leg in intent.legs}


# -- APR normalization ------------------------------------------------------------------------


def test_apr_of_seed_rates() -> None:
    assert funding_apr(0.0001, H8_S) == pytest.approx(0.1095, rel=1e-12)  # × 3 × 365
    assert funding_apr(0.0002, H8_S) == pytest.approx(0.219, rel=1e-12)  # not "~9 %"


def test_same_carry_on_1h_4h_8h_gives_same_apr() -> None:
    # 0.0001 per 8 h = 0.00005 per 4 h = 0.0000125 per 1 h = 1.25e-5 per hour.
    for rate, interval_s in ((0.0001, 28_800), (0.00005, 14_400), (0.0000125, 3_600)):
        assert funding_apr(rate, interval_s) == pytest.approx(0.1095, rel=1e-12)
        per_hour = funding_rate_per_hour(rate, interval_s)
        assert per_hour == pytest.approx(1.25e-5, rel=1e-12)
        assert signals.net_carry_apr(per_hour, 720, COSTS) == pytest.approx(
            0.1095 - 0.0038 * 8760 / 720, rel=1e-12
        )


@given(rate_per_hour=st.floats(min_value=-1e-3, max_value=1e-3, allow_nan=False))
def test_apr_independent_of_interval(rate_per_hour: float) -> None:
    expected = rate_per_hour * 8760
    for hours in (1, 4, 8):
        assert funding_apr(rate_per_hour * hours, hours * 3600) == pytest.approx(
            expected, rel=1e-12, abs=1e-15
        )


@given(rate_per_hour=st.floats(min_value=1e-6, max_value=1e-3, allow_nan=False))
def test_strategy_estimate_independent_of_interval(rate_per_hour: float) -> None:
    aprs = []
    for hours in (1, 4, 8):
        decision = make().decide(
            snap(
                T0_MS,
                {"BTCUSDT": (100.0, 100.1)},
                {"BTCUSDT": (rate_per_hour * hours, hours * 3600, T0_MS)},
            ),
            book(),
            make().initial_state(),
            T0_MS,
        )
        aprs.append(decision.diagnostics["best_net_apr_frac"])
    expected = rate_per_hour * 8760 - 0.0038 * 8760 / 720
    assert aprs == pytest.approx([expected] * 3, rel=1e-9, abs=1e-12)


# -- SEEDS worked example and cost arithmetic ----------------------------------------------


def test_seeds_cash_and_carry_worked_example() -> None:
    spot, perp, qty = 95_000.0, 95_380.0, 1.0
    basis = signals.basis_frac(perp, spot)
    assert basis == pytest.approx(0.004, rel=1e-12)
    assert basis * spot * qty == pytest.approx(380.0, rel=1e-12)
    assert 0.0001 * spot * qty == pytest.approx(9.50, rel=1e-12)  # per 8 h settlement
    per_hour = funding_rate_per_hour(0.0001, H8_S)
    assert signals.expected_carry_frac(per_hour, 720) * spot == pytest.approx(855.0, rel=1e-12)
    total_frac = signals.convergence_return_frac(basis, 0.0001, H8_S, 720)
    assert total_frac * spot * qty == pytest.approx(1235.0, rel=1e-12)
    apr = signals.annualize_frac(total_frac, 720)
    assert apr == pytest.approx(1235 / 95_000 * 365 / 30, rel=1e-12)  # 0.158166...
    assert round(apr, 3) == 0.158  # the source's 15.6 % is an arithmetic slip


def test_round_trip_cost_is_38_bps() -> None:
    assert signals.round_trip_cost_frac(COSTS) == pytest.approx(0.0038, rel=1e-12)
    assert signals.round_trip_cost_frac(LegCosts(0, 0, 0)) == 0.0


def test_net_carry_apr_by_hand() -> None:
    # 0.0001 / 8 h over 720 h: carry 0.009, cost 0.0038 → 0.0052 × 8760 / 720 = 0.063267.
    per_hour = 0.0001 / 8
    assert signals.net_carry_apr(per_hour, 720, COSTS) == pytest.approx(
        0.0052 * 8760 / 720, rel=1e-12
    )


def test_should_enter_threshold_between_hand_bounds() -> None:
    assert pytest.approx(8.788432e-5, rel=1e-6) == THRESHOLD_8H
    above = signals.net_carry_apr(8.80e-5 / 8, 720, COSTS)
    below = signals.net_carry_apr(8.77e-5 / 8, 720, COSTS)
    assert signals.should_enter(8.80e-5 / 8, above, 0.05)
    assert not signals.should_enter(8.77e-5 / 8, below, 0.05)
    assert not signals.should_enter(-1e-5, 1.0, 0.05)  # latest rate negative


def test_mean_rate_per_hour() -> None:
    assert signals.mean_rate_per_hour([1e-5, 2e-5, 6e-5]) == pytest.approx(3e-5, rel=1e-12)
    with pytest.raises(ValueError, match="empty"):
        signals.mean_rate_per_hour([])
    with pytest.raises(ValueError, match="non-finite"):
        signals.mean_rate_per_hour([1e-5, math.nan])


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="slippage_bps"):
        LegCosts(10, 5, -1)
    with pytest.raises(ValueError, match="spot_price"):
        signals.basis_frac(100.0, 0.0)
    with pytest.raises(ValueError, match="horizon_h"):
        signals.net_carry_apr(1e-5, 0, COSTS)
    with pytest.raises(ValueError, match="mult"):
        signals.basis_stop_level(0.001, 0.5, 50)
    with pytest.raises(ValueError, match="policy_n"):
        signals.flip_exit(3, 0)


# -- exit rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry_basis", "level"),
    [
        (0.004, 0.009),  # 0.004 + max(0.004, 0.005): the 50 bps floor binds
        (0.01, 0.02),  # 0.01 + max(0.01, 0.005) = 2 × entry
        (0.0, 0.005),  # ~0 entry basis: the floor alone
        (-0.002, 0.003),  # negative entry: stop stays above entry, -0.002 + 0.005
        (-0.01, 0.0),  # -0.01 + max(0.01, 0.005)
    ],
)
def test_basis_stop_level(entry_basis: float, level: float) -> None:
    assert signals.basis_stop_level(entry_basis, 2.0, 50) == pytest.approx(level, abs=1e-15)
    assert not signals.basis_stop(entry_basis, level - 1e-9, 2.0, 50)
    assert signals.basis_stop(entry_basis, level + 1e-9, 2.0, 50)


def test_flip_exit_and_max_holding() -> None:
    assert not signals.flip_exit(2, 3)
    assert signals.flip_exit(3, 3)
    assert not signals.max_holding_exit(T0_MS, T0_MS + 24 * H_MS - 1, 24)
    assert signals.max_holding_exit(T0_MS, T0_MS + 24 * H_MS, 24)


def test_funding_staleness() -> None:
    assert not funding_is_stale(T0_MS - 16 * H_MS, H8_S, T0_MS)
    assert funding_is_stale(T0_MS - 16 * H_MS - 1, H8_S, T0_MS)
    assert not funding_is_stale(T0_MS + H_MS, H8_S, T0_MS)  # predicted rate


# -- decide: entries ---------------------------------------------------------------------------


def enter_once(
    strategy: FundingHarvesterStrategy, rate_8h: float, **kw: Any
) -> Decision[FundingHarvesterState]:
    return strategy.decide(
        snap(T0_MS, {"BTCUSDT": (95_000.0, 95_380.0)}, {"BTCUSDT": (rate_8h, H8_S, T0_MS)}, **kw),
        book(),
        strategy.initial_state(),
        T0_MS,
    )


def test_entry_only_above_cost_and_min_apr_threshold() -> None:
    assert enter_once(make(), 8.77e-5).intents == ()
    intent = only(enter_once(make(), 8.80e-5))
    assert intent.reason == "enter"
    assert intent.opening
    assert intent.intent_id == f"BTCUSDT-{T0_MS}"


def test_no_entry_on_negative_or_stale_funding_or_missing_price() -> None:
    assert enter_once(make(), -0.0005).intents == ()
    assert enter_once(make(), 0.001, stale=frozenset({pid("BTCUSDT")})).intents == ()
    assert enter_once(make(), 0.001, stale=frozenset({sid("BTCUSDT")})).intents == ()
    old = snap(
        T0_MS, {"BTCUSDT": (95_000.0, 95_380.0)}, {"BTCUSDT": (0.001, H8_S, T0_MS - 17 * H_MS)}
    )
    assert make().decide(old, book(), make().initial_state(), T0_MS).intents == ()
    no_perp = snap(T0_MS, {}, {"BTCUSDT": (0.001, H8_S, T0_MS)})
    no_perp = MarketSnapshot(T0_MS, {}, {sid("BTCUSDT"): 95_000.0}, no_perp.funding, {})
    assert make().decide(no_perp, book(), make().initial_state(), T0_MS).intents == ()


def test_disabled_strategy_opens_nothing() -> None:
    assert enter_once(make(enabled=False), 0.001).intents == ()


def test_equal_base_qty_is_delta_neutral() -> None:
    decision = enter_once(make(), 0.0003)
    legs = legs_of(only(decision))
    q = 4000 / 95_000
    assert legs[sid("BTCUSDT")] == pytest.approx(q, rel=1e-12)
    assert legs[pid("BTCUSDT")] == pytest.approx(-q, rel=1e-12)
    # Net delta = q × 95,000 − q × 95,380 = −q × 380 = −4000 × 0.004 = −16 USD: basis only.
    delta_usd = legs[sid("BTCUSDT")] * 95_000 + legs[pid("BTCUSDT")] * 95_380
    assert delta_usd == pytest.approx(-16.0, rel=1e-9)
    position = decision.state.positions["BTCUSDT"]
    assert position.entry_basis_frac == pytest.approx(0.004, rel=1e-9)
    assert position.entry_ms == T0_MS


def test_qty_rounded_to_coarser_lot_step_of_both_legs() -> None:
    def instrument(i: InstrumentId, step: str) -> Instrument:
        return Instrument(
            i, "BTC", "USDT", Decimal("0.01"), Decimal(step), Decimal(step), Decimal(5)
        )

    instruments = {
        sid("BTCUSDT"): instrument(sid("BTCUSDT"), "0.00001"),
        pid("BTCUSDT"): instrument(pid("BTCUSDT"), "0.001"),
    }
    legs = legs_of(only(enter_once(make(), 0.0003, instruments=instruments)))
    assert legs == {sid("BTCUSDT"): 0.042, pid("BTCUSDT"): -0.042}  # floor(0.0421053, 0.001)


def test_max_positions_respected_and_ranked_by_normalized_apr() -> None:
    symbols = ["AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT"]
    strategy = make(symbols=symbols, max_positions=2)
    funding = {
        "AAAUSDT": (0.0003, 28_800, T0_MS),  # 3.75e-5 / h
        "BBBUSDT": (0.0001, 3_600, T0_MS),  # 1.0e-4 / h: best, though the smallest raw rate
        "CCCUSDT": (0.0002, 14_400, T0_MS),  # 5.0e-5 / h
        "DDDUSDT": (0.00015, 28_800, T0_MS),  # 1.875e-5 / h
    }
    prices = {s: (10.0, 10.01) for s in symbols}
    decision = strategy.decide(
        snap(T0_MS, prices, funding), book(), strategy.initial_state(), T0_MS
    )
    assert [i.intent_id.split("-")[0] for i in decision.intents] == ["BBBUSDT", "CCCUSDT"]
    assert decision.diagnostics["best_symbol"] == "BBBUSDT"
    assert decision.diagnostics["best_net_apr_frac"] == pytest.approx(
        1e-4 * 8760 - 0.0038 * 8760 / 720, rel=1e-12
    )
    assert decision.diagnostics["candidates"] == 4
    assert decision.diagnostics["open_positions"] == 2
    # Next cycle (new settlements, same rates): both held, still no third entry.
    t1 = T0_MS + H_MS
    funding1 = {s: (r, i, t1) for s, (r, i, _) in funding.items()}
    later = strategy.decide(snap(t1, prices, funding1), filled(decision.state), decision.state, t1)
    assert sorted((i.intent_id, i.reason) for i in later.intents) == [
        (f"BBBUSDT-{t1}", "hold"),
        (f"CCCUSDT-{t1}", "hold"),
    ]


def test_entry_uses_average_of_last_n_settlements() -> None:
    strategy = make(rate_lookback_settlements=3, funding_median_settlements=3)
    state = strategy.initial_state()
    prices = {"BTCUSDT": (100.0, 100.1)}
    # 0.00001, 0.00001, 0.0002 per 8 h: mean 7.33e-5 < threshold 8.79e-5, latest alone above.
    for k, rate in enumerate((0.00001, 0.00001, 0.0002)):
        ts = T0_MS + k * 8 * H_MS
        decision = strategy.decide(
            snap(ts, prices, {"BTCUSDT": (rate, H8_S, ts)}), book(), state, ts
        )
        assert decision.intents == ()
        state = decision.state
    assert state.rates["BTCUSDT"].rates_per_hour == pytest.approx(
        [0.00001 / 8, 0.00001 / 8, 0.0002 / 8], rel=1e-12
    )
    # A 4th settlement of 0.0002 drops the oldest: mean (0.00001 + 0.0002 + 0.0002) / 3 above.
    ts = T0_MS + 24 * H_MS
    decision = strategy.decide(snap(ts, prices, {"BTCUSDT": (0.0002, H8_S, ts)}), book(), state, ts)
    assert only(decision).reason == "enter"
    assert len(decision.state.rates["BTCUSDT"].rates_per_hour) == 3


def test_no_entry_before_lookback_is_full() -> None:
    assert enter_once(make(rate_lookback_settlements=2), 0.001).intents == ()


# -- decide: exits and holds --------------------------------------------------------------------


def step(
    strategy: FundingHarvesterStrategy,
    state: FundingHarvesterState,
    ts_ms: int,
    rate_8h: float,
    ts_funding_ms: int,
    perp: float = 95_380.0,
    positions: Mapping[InstrumentId, float] | None = None,
    spot: float = 95_000.0,
) -> Decision[FundingHarvesterState]:
    market = snap(ts_ms, {"BTCUSDT": (spot, perp)}, {"BTCUSDT": (rate_8h, H8_S, ts_funding_ms)})
    book_ = filled(state) if positions is None else book(positions)
    return strategy.decide(market, book_, state, ts_ms)


def test_flip_exit_after_exactly_n_adverse_settlements() -> None:
    # A 720 h horizon makes the adverse funding (0.0001/8h × 720 h = 0.9 %) outweigh the close
    # (2 legs: 12 + 7 bps = 0.19 %), so the fee-aware rule closes at exactly N.
    strategy = make(flip_exit_settlements=3, flip_exit_horizon_h=720.0)
    decision = step(strategy, strategy.initial_state(), T0_MS, 0.0003, T0_MS)
    assert only(decision).reason == "enter"
    # (cycle hour, rate, settlement hour, adverse count after, expected reason)
    script = [
        (8, -0.0001, 8, 1, "hold"),
        (9, -0.0001, 8, 1, "hold"),  # same settlement seen again: counted once
        (16, -0.0001, 16, 2, "hold"),
        (24, 0.0001, 24, 0, "hold"),  # a positive settlement resets the count
        (32, -0.0001, 32, 1, "hold"),
        (40, 0.0, 40, 1, "hold"),  # zero: no evidence either way, count unchanged
        (48, -0.0001, 48, 2, "hold"),  # N − 1 adverse: still held
        (56, -0.0001, 56, 3, "exit_funding_flip"),  # exactly N
    ]
    state = decision.state
    for hour, rate, settle_hour, count, reason in script:
        ts = T0_MS + hour * H_MS
        decision = step(strategy, state, ts, rate, T0_MS + settle_hour * H_MS)
        intent = only(decision)
        assert intent.reason == reason, hour
        state = decision.state
        if reason == "hold":
            assert state.positions["BTCUSDT"].adverse_count == count
    assert not intent.opening
    assert set(legs_of(intent).values()) == {0.0}
    assert state.positions == {}
    assert [a.kind for a in decision.alerts] == ["funding_flip", "funding_flip_close"]
    flip = decision.alerts[0]
    assert flip.fields["rate_per_hour"] == pytest.approx(-0.0001 / 8, rel=1e-12)
    assert flip.fields["apr_frac"] == pytest.approx(-0.1095, rel=1e-12)
    assert flip.fields["adverse_count"] == 3


def test_adverse_alert_on_each_new_adverse_settlement_only() -> None:
    strategy = make(flip_exit_settlements=3)
    state = step(strategy, strategy.initial_state(), T0_MS, 0.0003, T0_MS).state
    first = step(strategy, state, T0_MS + 8 * H_MS, -0.0001, T0_MS + 8 * H_MS)
    assert [a.kind for a in first.alerts] == ["funding_flip"]
    again = step(strategy, first.state, T0_MS + 9 * H_MS, -0.0001, T0_MS + 8 * H_MS)
    assert again.alerts == ()
    assert again.diagnostics["settlements_recorded"] == 0


def test_basis_stop_exit_with_alert_numbers() -> None:
    strategy = make()
    # Entry basis 0.01 (spot 95,000, perp 95,950) → stop level 0.02 (perp 96,900).
    state = step(strategy, strategy.initial_state(), T0_MS, 0.0003, T0_MS, perp=95_950.0).state
    assert state.positions["BTCUSDT"].entry_basis_frac == pytest.approx(0.01, rel=1e-12)
    held = step(strategy, state, T0_MS + H_MS, 0.0003, T0_MS, perp=96_890.0)  # basis 0.019895
    assert only(held).reason == "hold"
    assert held.alerts == ()
    stopped = step(strategy, held.state, T0_MS + 2 * H_MS, 0.0003, T0_MS, perp=96_995.0)
    intent = only(stopped)
    assert intent.reason == "exit_basis_stop"
    assert not intent.opening
    (alert,) = stopped.alerts
    assert alert.kind == "basis_stop"
    assert alert.fields["basis_frac"] == pytest.approx(1_995 / 95_000, rel=1e-12)  # 0.021
    assert alert.fields["threshold_frac"] == pytest.approx(0.02, rel=1e-12)
    assert alert.fields["entry_basis_frac"] == pytest.approx(0.01, rel=1e-12)


def test_max_holding_exit_and_no_same_cycle_reentry() -> None:
    strategy = make(max_holding_h=24)
    state = step(strategy, strategy.initial_state(), T0_MS, 0.0003, T0_MS).state
    held = step(strategy, state, T0_MS + 23 * H_MS, 0.0003, T0_MS + 16 * H_MS)
    assert only(held).reason == "hold"
    ts = T0_MS + 24 * H_MS
    done = step(strategy, held.state, ts, 0.0003, ts)
    intent = only(done)  # exited, and not re-entered in the same cycle
    assert intent.reason == "exit_max_holding"
    assert intent.intent_id == f"BTCUSDT-{ts}"
    assert done.state.positions == {}


def test_hold_reemits_same_qty_and_flags_opening_only_when_adding() -> None:
    strategy = make()
    entered = step(strategy, strategy.initial_state(), T0_MS, 0.0003, T0_MS)
    q = 4000 / 95_000
    on_target = {sid("BTCUSDT"): q, pid("BTCUSDT"): -q}
    # Prices move (spot 97,000, perp 97,300: basis 0.0031, below the 0.009 stop): same q.
    moved = step(strategy, entered.state, T0_MS + H_MS, 0.0003, T0_MS, 97_300, on_target, 97_000)
    hold = only(moved)
    assert hold.reason == "hold"
    assert legs_of(hold) == pytest.approx(on_target, rel=1e-12)
    assert not hold.opening
    short_leg_missing = {sid("BTCUSDT"): q}
    hold = only(
        step(strategy, entered.state, T0_MS + H_MS, 0.0003, T0_MS, 95_380, short_leg_missing)
    )
    assert hold.opening


# -- protocol, purity, state, config ---------------------------------------------------------


def test_protocol_surface_and_instruments() -> None:
    strategy: Strategy = make(symbols=["BTCUSDT", "ETHUSDT"], cadence_s=900)
    assert strategy.name == "funding_harvester"
    assert strategy.cadence_s == 900
    assert strategy.refit_every_s is None
    assert strategy.history_bars == 168  # adv_window_h of volume and closes for the ADV cap
    assert list(strategy.instruments()) == [
        sid("BTCUSDT"),
        pid("BTCUSDT"),
        sid("ETHUSDT"),
        pid("ETHUSDT"),
    ]
    state = FundingHarvesterState()
    assert strategy.refit(snap(T0_MS, {}, {}), state, T0_MS) is state


def test_decide_does_not_mutate_input_and_state_is_json() -> None:
    strategy = make()
    state = step(strategy, strategy.initial_state(), T0_MS, 0.0003, T0_MS).state
    frozen = copy.deepcopy(state.to_json())
    decision = step(strategy, state, T0_MS + 8 * H_MS, -0.0001, T0_MS + 8 * H_MS)
    assert state.to_json() == frozen
    data = json.loads(decision.state.to_json())
    json.dumps(data, allow_nan=False)  # finite numbers only
    assert FundingHarvesterState.from_json(data) == decision.state


def test_config_defaults_and_validation() -> None:
    cfg = FundingHarvesterConfig()
    assert cfg.symbols == [
        "BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT",
        "DOGEUSDT", "ADAUSDT", "AVAXUSDT", "LINKUSDT", "LTCUSDT",
    ]  # fmt: skip
    assert (cfg.position_notional_usd, cfg.max_positions, cfg.min_net_apr_frac) == (4000, 3, 0.05)
    assert (cfg.rate_lookback_settlements, cfg.flip_exit_settlements) == (9, 3)
    assert (cfg.basis_stop_mult, cfg.basis_stop_floor_bps, cfg.max_holding_h) == (2.0, 50, 720)
    assert all(f.description for f in FundingHarvesterConfig.model_fields.values())
    with pytest.raises(pydantic.ValidationError, match="unknown_key"):
        FundingHarvesterConfig(unknown_key=1)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError, match="more than once"):
        FundingHarvesterConfig(symbols=["BTCUSDT", "BTCUSDT"])
    with pytest.raises(pydantic.ValidationError, match="max_positions"):
        FundingHarvesterConfig(max_positions=0)
    with pytest.raises(pydantic.ValidationError, match="basis_stop_mult"):
        FundingHarvesterConfig(basis_stop_mult=0.5)
    with pytest.raises(pydantic.ValidationError):
        cfg.max_positions = 5  # type: ignore[misc]


def test_entry_refused_earlier_is_dropped_not_resent() -> None:
    strategy = make()
    entered = step(strategy, strategy.initial_state(), T0_MS, 0.0003, T0_MS)
    assert only(entered).reason == "enter"
    # Next cycle the portfolio holds neither leg: risk or the venue refused the entry.
    later = step(strategy, entered.state, T0_MS + H_MS, 0.0003, T0_MS, positions={})
    assert "funding_harvester_entry_unfilled" in [a.kind for a in later.alerts]
    assert all(i.reason != "hold" for i in later.intents)
    # It may enter again (a fresh entry, not a hold of a position it does not have).
    assert [i.reason for i in later.intents] == ["enter"]


def test_blocked_base_is_not_entered() -> None:
    strategy = make()
    market = snap(T0_MS, {"BTCUSDT": (95_000.0, 95_380.0)}, {"BTCUSDT": (0.0003, H8_S, T0_MS)})
    blocked = PortfolioView(100_000.0, 100_000.0, {}, {}, frozenset({"BTC"}))
    assert strategy.decide(market, blocked, strategy.initial_state(), T0_MS).intents == ()
    free = strategy.decide(market, book(), strategy.initial_state(), T0_MS)
    assert [i.reason for i in free.intents] == ["enter"]


@given(
    lookback=st.integers(1, 4),
    median=st.integers(1, 4),
    rates_8h=st.lists(st.floats(-1e-3, 1e-3), min_size=1, max_size=9),
)
def test_history_keeps_the_last_settlements_in_order(
    lookback: int, median: int, rates_8h: list[float]
) -> None:
    """Each symbol's history is the last ``max(rate_lookback_settlements,
    funding_median_settlements)`` rates per hour, oldest first — ``(*history, rate)[-keep:]``,
    what the recording wrote before it copied the kept rates once."""
    strategy = make(rate_lookback_settlements=lookback, funding_median_settlements=median)
    state = strategy.initial_state()
    per_hour: list[float] = []
    for k, rate in enumerate(rates_8h):
        ts_ms = T0_MS + k * 8 * H_MS
        state = step(strategy, state, ts_ms, rate, ts_ms).state
        per_hour.append(rate * 3600 / H8_S)  # venues.model.funding_rate_per_hour
        expected = tuple(per_hour)[-max(lookback, median) :]
        assert state.rates["BTCUSDT"].rates_per_hour == expected
