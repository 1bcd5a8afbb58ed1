"""The funding harvester's per-cycle fast paths (issue 14) decide exactly as before.

``decide`` builds market views only for the symbols it reads, skips recording when the perps'
settled rates and the rate histories are the ones of its last cycle, reuses the carry
estimates while the rate histories are the same mapping, and keeps each symbol's holding legs
and basis-stop level while their inputs are the same. The straightforward implementation of
HEAD f6fff63 is kept as :mod:`tests.unit.reference.funding_harvester_f6fff63`: random
sequences of cycles run through both must give the same decisions, bit for bit (``repr`` of
every intent, alert and diagnostic, the state's JSON). The named tests below each fail if one
cache's invalidation is removed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.base import Decision, MarketSnapshot, PortfolioView
from strategies.funding_harvester.config import FundingHarvesterConfig
from strategies.funding_harvester.signals import LegCosts
from strategies.funding_harvester.state import (
    FundingHarvesterState,
    HarvestPosition,
    RateHistory,
)
from strategies.funding_harvester.strategy import FundingHarvesterStrategy
from tests.support.harvester import COSTS, H8_S, H_MS, T0_MS, pid, sid
from tests.unit.reference.funding_harvester_f6fff63 import (
    FundingHarvesterStrategy as ReferenceHarvester,
)
from venues.model import FundingRate, InstrumentId, funding_rate_per_hour

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def settlement(symbol: str, rate: float, ts_ms: int) -> FundingRate:
    return FundingRate(pid(symbol), rate, H8_S, ts_ms, ts_ms + H8_S * 1000)


def snap(
    ts_ms: int,
    prices: Mapping[str, tuple[float, float]],
    funding: Mapping[str, FundingRate],
    stale: frozenset[InstrumentId] = frozenset(),
) -> MarketSnapshot:
    flat: dict[InstrumentId, float] = {}
    for symbol, (spot, perp) in prices.items():
        flat[sid(symbol)] = spot
        flat[pid(symbol)] = perp
    rates = {pid(s): f for s, f in funding.items()}
    closes = {i: np.array([p, p], dtype=np.float64) for i, p in flat.items()}
    return MarketSnapshot(ts_ms, {}, flat, rates, closes, stale)


def config(**overrides: Any) -> FundingHarvesterConfig:
    settings_: dict[str, Any] = {
        "symbols": list(SYMBOLS),
        "rate_lookback_settlements": 2,
        "funding_median_settlements": 3,
        "min_net_apr_frac": 0.0,
        "max_positions": 2,
        "flip_exit_settlements": 1,
        "high_funding_8h_frac": 0.0003,
        "max_holding_h": 6.0,
    }
    settings_.update(overrides)
    return FundingHarvesterConfig(**settings_)


def held_legs(state: FundingHarvesterState) -> dict[InstrumentId, float]:
    held: dict[InstrumentId, float] = {}
    for symbol, position in state.positions.items():
        held[sid(symbol)] = position.qty
        held[pid(symbol)] = -position.qty
    return held


def exact(decision: Decision[FundingHarvesterState]) -> tuple[str, str, str, str]:
    """Everything a decision says, floats by ``repr`` (shortest round-trip: equal bits)."""
    return (
        repr(decision.intents),
        repr(decision.alerts),
        repr(sorted(decision.diagnostics.items())),
        decision.state.to_json(),
    )


# -- the fast paths against the code they replace ----------------------------------------------

prices_st = st.one_of(
    st.none(),
    st.tuples(
        st.floats(50.0, 150.0),
        st.floats(-0.01, 0.02),
    ),
)
rate_st = st.one_of(
    st.floats(-2e-4, 6e-4),
    st.sampled_from([0.0, 1e-3, -3e-3, math.nan]),
)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n_steps=st.integers(5, 36),
    flip_n=st.integers(1, 2),
    basis_take=st.booleans(),
)
def test_random_cycles_decide_as_the_reference(
    data: st.DataObject, n_steps: int, flip_n: int, basis_take: bool
) -> None:
    cfg = config(flip_exit_settlements=flip_n, basis_take_enabled=basis_take)
    fast = FundingHarvesterStrategy(cfg, COSTS)
    reference = ReferenceHarvester(cfg, COSTS)
    fast_state, ref_state = fast.initial_state(), reference.initial_state()
    funding: dict[str, FundingRate] = {}
    for step in range(n_steps):
        now_ms = T0_MS + step * H_MS
        prices: dict[str, tuple[float, float]] = {}
        for symbol in SYMBOLS:
            drawn = data.draw(prices_st)
            if drawn is not None:
                spot, basis = drawn
                prices[symbol] = (spot, spot * (1.0 + basis))
            event = data.draw(st.sampled_from(["same", "same", "settle", "equal_copy", "drop"]))
            if event == "settle" or (event != "drop" and symbol not in funding):
                funding[symbol] = settlement(symbol, data.draw(rate_st), now_ms)
            elif event == "equal_copy":  # an equal rate in a new object
                f = funding[symbol]
                funding[symbol] = FundingRate(
                    f.instrument_id, f.rate, f.interval_s, f.ts_funding_ms, f.ts_next_funding_ms
                )
            elif event == "drop":
                funding.pop(symbol, None)
        stale = frozenset(
            i for s in SYMBOLS for i in (sid(s), pid(s)) if data.draw(st.integers(0, 19)) == 0
        )
        snapshot = snap(now_ms, prices, dict(funding), stale)
        held = held_legs(ref_state)
        fill = data.draw(st.sampled_from(["filled", "filled", "drift", "empty"]))
        if fill == "drift" and held:
            leg = data.draw(st.sampled_from(sorted(held, key=str)))
            held[leg] *= data.draw(st.floats(0.8, 1.2))
        elif fill == "empty":
            held = {}
        blocked = frozenset(data.draw(st.sets(st.sampled_from(["BTC", "ETH", "SOL"]), max_size=1)))
        view = PortfolioView(100_000.0, 100_000.0, held, blocked_bases=blocked)
        if data.draw(st.integers(0, 9)) == 0:  # resumed from the journal: new objects
            fast_state = fast.load_state(json.loads(fast_state.to_json()))
        got = fast.decide(snapshot, view, fast_state, now_ms)
        want = reference.decide(snapshot, view, ref_state, now_ms)
        assert exact(got) == exact(want), f"step {step}"
        assert got.state == want.state
        fast_state, ref_state = got.state, want.state


# -- each cache's invalidation ------------------------------------------------------------------

PRICES = {s: (100.0, 100.1) for s in SYMBOLS}


def funding_at(rate_8h: float, ts_ms: int) -> dict[str, FundingRate]:
    return {s: settlement(s, rate_8h, ts_ms) for s in SYMBOLS}


def test_the_same_settlements_into_another_history_are_recorded() -> None:
    """The record memo holds only for the histories it returned: the same settlement objects
    with an older state (e.g. a resumed journal) are recorded again."""
    strategy = FundingHarvesterStrategy(config(), COSTS)
    empty = PortfolioView(100_000.0, 100_000.0, {})
    snapshot = snap(T0_MS, PRICES, funding_at(1e-4, T0_MS))
    first = strategy.decide(snapshot, empty, strategy.initial_state(), T0_MS)
    assert first.diagnostics["settlements_recorded"] == len(SYMBOLS)
    again = strategy.decide(snapshot, empty, first.state, T0_MS + H_MS)
    assert again.diagnostics["settlements_recorded"] == 0
    assert again.state.rates is first.state.rates  # nothing recorded: the same mapping
    replayed = strategy.decide(snapshot, empty, strategy.initial_state(), T0_MS + H_MS)
    assert replayed.diagnostics["settlements_recorded"] == len(SYMBOLS)
    expected = funding_rate_per_hour(1e-4, H8_S)
    assert replayed.state.rates["BTCUSDT"].rates_per_hour == (expected,)


def test_a_new_settlement_after_the_memo_is_recorded() -> None:
    """Same histories, new settlement objects: recorded (the memo compares the rates)."""
    strategy = FundingHarvesterStrategy(config(), COSTS)
    empty = PortfolioView(100_000.0, 100_000.0, {})
    first = strategy.decide(
        snap(T0_MS, PRICES, funding_at(1e-4, T0_MS)), empty, strategy.initial_state(), T0_MS
    )
    later_ms = T0_MS + 8 * H_MS
    second = strategy.decide(
        snap(later_ms, PRICES, funding_at(3e-4, later_ms)), empty, first.state, later_ms
    )
    assert second.diagnostics["settlements_recorded"] == len(SYMBOLS)
    per_hour = (funding_rate_per_hour(1e-4, H8_S), funding_rate_per_hour(3e-4, H8_S))
    assert second.state.rates["ETHUSDT"].rates_per_hour == per_hour


def test_estimates_follow_a_new_rate_history() -> None:
    """The estimates memo holds for one rates mapping: a state with other histories gets its
    own estimates (best net APR worked out here from the rates)."""
    cfg = config(rate_lookback_settlements=1, symbols=["BTCUSDT"])
    strategy = FundingHarvesterStrategy(cfg, COSTS)
    empty = PortfolioView(100_000.0, 100_000.0, {})
    snapshot = snap(T0_MS, {}, {})  # no settlement to record: the state's histories are used
    cost = (2 * (10.0 + 5.0) + 4 * 2.0) / 1e4
    for rate_per_hour in (1e-5, 4e-5, -2e-5):
        state = FundingHarvesterState(rates={"BTCUSDT": RateHistory(T0_MS, (rate_per_hour,))})
        decision = strategy.decide(snapshot, empty, state, T0_MS)
        horizon_h = cfg.holding_horizon_h
        expected = (rate_per_hour * horizon_h - cost) * 8760.0 / horizon_h
        assert decision.diagnostics["best_net_apr_frac"] == pytest.approx(expected, rel=1e-12)


def test_holding_legs_follow_the_position_quantity() -> None:
    strategy = FundingHarvesterStrategy(config(symbols=["BTCUSDT"]), COSTS)
    position = HarvestPosition(T0_MS, 0.001, 2.0, 0.1)
    for qty in (2.0, 3.5, 2.0):
        state = FundingHarvesterState(positions={"BTCUSDT": replace(position, qty=qty)})
        held = held_legs(state)
        view = PortfolioView(100_000.0, 100_000.0, held)
        snapshot = snap(T0_MS + H_MS, {"BTCUSDT": (100.0, 100.1)}, {})
        decision = strategy.decide(snapshot, view, state, T0_MS + H_MS)
        (intent,) = decision.intents
        assert intent.reason == "hold"
        assert {leg.instrument_id: leg.target_qty for leg in intent.legs} == {
            sid("BTCUSDT"): qty,
            pid("BTCUSDT"): -qty,
        }


def test_basis_stop_follows_the_entry_basis() -> None:
    """The stop level is kept per symbol for one entry basis: another entry, another level.
    Stop = entry + max((2 − 1)·|entry|, 10 bps): entry 0.1 % → 0.2 %, entry 0.3 % → 0.6 %."""
    cfg = config(symbols=["BTCUSDT"], basis_stop_mult=2.0, basis_stop_floor_bps=10.0)
    strategy = FundingHarvesterStrategy(cfg, COSTS)
    basis = 0.004  # between the two stops
    snapshot = snap(T0_MS + H_MS, {"BTCUSDT": (100.0, 100.0 * (1 + basis))}, {})
    reasons = []
    for entry_basis in (0.001, 0.003, 0.001):
        position = HarvestPosition(T0_MS, entry_basis, 1.0, 0.1)
        state = FundingHarvesterState(positions={"BTCUSDT": position})
        view = PortfolioView(100_000.0, 100_000.0, held_legs(state))
        (intent,) = strategy.decide(snapshot, view, state, T0_MS + H_MS).intents
        reasons.append(intent.reason)
    assert reasons == ["exit_basis_stop", "hold", "exit_basis_stop"]


def test_costs_are_read_only() -> None:
    """The round-trip cost and the estimates are derived from the costs once: replacing them
    later is refused rather than silently ignored."""
    strategy = FundingHarvesterStrategy(config(), COSTS)
    assert strategy.costs is COSTS
    with pytest.raises(AttributeError):
        strategy.costs = LegCosts(1.0, 1.0, 1.0)  # type: ignore[misc]
