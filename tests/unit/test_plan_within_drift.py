"""IntentPlanner's memory of plans within drift (agent.execution.plan): an intent restating
targets already within drift at unchanged positions plans to nothing without the arithmetic;
any change (position, target, threshold, instrument unloaded) plans in full. Every answer is
compared with a planner that has never planned before (no memory: the straightforward
computation)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.execution.plan import IntentPlanner
from strategies.base import PairIntent, TargetPosition
from venues.model import Instrument, InstrumentId, InstrumentKind

BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
INSTRUMENTS = {
    BTC: Instrument(BTC, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("100"), D(1), 28_800),
    ETH: Instrument(ETH, "ETH", "USDT", D("0.01"), D("0.01"), D("0.05"), D("20"), D(1), 28_800),
}
PRICES = {BTC: 50_000.0, ETH: 2_500.0}
STRATEGY = "stat_arb"


class _Positions:
    """The one thing the planner reads of the portfolio: each strategy's position."""

    def __init__(self) -> None:
        self.qty: dict[tuple[str, InstrumentId], D] = {}

    def position_qty(self, strategy: str, instrument_id: InstrumentId) -> D:
        return self.qty.get((strategy, instrument_id), D(0))


def _planner(positions: _Positions, instruments: dict[InstrumentId, Instrument]) -> Any:
    return IntentPlanner(instruments, positions, 0.1)  # type: ignore[arg-type]


def _intent(btc: float, eth: float, drift: float | None = None) -> PairIntent:
    legs = (TargetPosition(BTC, btc), TargetPosition(ETH, eth))
    return PairIntent("i", legs, "enter", drift_frac=drift)


_TARGETS = st.sampled_from([0.0, 0.01, -0.01, 0.0105, 1.0, 1.05, -2.0])
_POSITIONS = st.sampled_from(
    [D(0), D("0.01"), D("-0.01"), D("0.0100"), D("0.011"), D("1"), D("1.05")]
)
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("position"), st.sampled_from([BTC, ETH]), _POSITIONS),
        st.tuples(
            st.just("plan"),
            st.sampled_from(["stat_arb", "beta_hedger"]),
            st.tuples(_TARGETS, _TARGETS, st.sampled_from([None, 0.05, 0.5])),
            st.sampled_from([PRICES, {BTC: 49_000.0, ETH: 2_600.0}, {BTC: 50_000.0}]),
        ),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=_STEPS)
def test_plans_are_those_of_a_planner_without_memory(steps: list[tuple[Any, ...]]) -> None:
    positions = _Positions()
    planner = _planner(positions, INSTRUMENTS)
    for step in steps:
        if step[0] == "position":
            _, iid, qty = step
            positions.qty[(STRATEGY, iid)] = qty
            continue
        _, strategy, (btc, eth, drift), prices = step
        intent = _intent(btc, eth, drift)
        expected = _planner(positions, INSTRUMENTS).plan(strategy, intent, prices)
        assert planner.plan(strategy, intent, prices) == expected


def test_a_changed_position_plans_in_full() -> None:
    positions = _Positions()
    planner = _planner(positions, INSTRUMENTS)
    positions.qty[(STRATEGY, BTC)] = D("0.01")
    positions.qty[(STRATEGY, ETH)] = D("-0.2")
    intent = _intent(0.01, -0.2)
    assert planner.plan(STRATEGY, intent, PRICES) == []  # within drift: remembered
    assert planner.plan(STRATEGY, intent, PRICES) == []
    positions.qty[(STRATEGY, BTC)] = D("0.005")  # a fill moved it off target
    legs = planner.plan(STRATEGY, intent, PRICES)
    assert [(p.instrument.id, p.delta_qty) for p in legs] == [(BTC, D("0.005"))]


def test_a_changed_target_or_threshold_plans_in_full() -> None:
    positions = _Positions()
    planner = _planner(positions, INSTRUMENTS)
    positions.qty[(STRATEGY, BTC)] = D("0.01")
    positions.qty[(STRATEGY, ETH)] = D("-0.2")
    assert planner.plan(STRATEGY, _intent(0.0105, -0.2), PRICES) == []  # 5 % off, within 10 %
    legs = planner.plan(STRATEGY, _intent(0.0105, -0.2, drift=0.01), PRICES)
    assert [(p.instrument.id, p.delta_qty) for p in legs] == []  # 0.0005 BTC: below the lot
    legs = planner.plan(STRATEGY, _intent(0.02, -0.2), PRICES)
    assert [(p.instrument.id, p.delta_qty) for p in legs] == [(BTC, D("0.010"))]
    positions.qty[(STRATEGY, BTC)] = D("1")
    assert planner.plan(STRATEGY, _intent(1.05, -0.2), PRICES) == []  # 5 % off, within 10 %
    legs = planner.plan(STRATEGY, _intent(1.05, -0.2, drift=0.01), PRICES)
    assert [(p.instrument.id, p.delta_qty) for p in legs] == [(BTC, D("0.050"))]


def test_an_unloaded_instrument_is_refused_again() -> None:
    positions = _Positions()
    instruments = dict(INSTRUMENTS)
    planner = _planner(positions, instruments)
    intent = _intent(0.0, 0.0)
    assert planner.plan(STRATEGY, intent, PRICES) == []
    del instruments[ETH]  # e.g. an option that expired
    with pytest.raises(ValueError, match="not loaded"):
        planner.plan(STRATEGY, intent, PRICES)
