"""IntentPlanner's memory of its last plans (agent.execution.plan): an intent restating
targets at unchanged positions plans from it (nothing to do when every leg is within drift;
else each leg off target priced again, without the drift check and rounding); any change
(position, even to an equal one of other digits, target, threshold, instrument unloaded or
replaced) plans in full. Every answer is compared, to the Decimal's digits and the price's
bits, with a planner that has never planned before (no memory: the straightforward
computation)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.execution.plan import IntentPlanner, PlannedLeg
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


_TARGETS = st.sampled_from([0.0, 0.01, -0.01, 0.0105, 1.0, 1.05, -2.0, 0.3, -0.3])
_POSITIONS = st.sampled_from(
    [D(0), D("0E-8"), D("0.01"), D("-0.01"), D("0.0100"), D("0.011"), D("1"), D("1.00"),
     D("1.05"), D("-0.3"), D("-0.30")]
)  # fmt: skip
# BTC re-listed with another lot step and minimum notional (a venue changed its rules)
_BTC_RELISTED = Instrument(
    BTC, "BTC", "USDT", D("0.1"), D("0.01"), D("0.01"), D("1000"), D(1), 28_800
)
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("position"), st.sampled_from([BTC, ETH]), _POSITIONS),
        st.tuples(st.just("equal position"), st.sampled_from([BTC, ETH])),
        st.tuples(st.just("relist"), st.sampled_from([INSTRUMENTS[BTC], _BTC_RELISTED])),
        st.tuples(
            st.just("plan"),
            st.sampled_from(["stat_arb", "beta_hedger"]),
            st.tuples(_TARGETS, _TARGETS, st.sampled_from([None, 0.05, 0.5])),
            st.sampled_from(
                [
                    PRICES,
                    {BTC: 49_000.0, ETH: 2_600.0},
                    {BTC: 50_000.0},
                    {BTC: 1.0, ETH: 1.0},
                    {BTC: 50_000.0, ETH: float("nan")},
                ]
            ),
        ),
    ),
    max_size=40,
)


def _exact(planned: list[PlannedLeg]) -> list[tuple[Any, ...]]:
    """A plan to the Decimal's digits and exponent (the journal writes ``str(qty)``) and the
    price's bits, with the very instrument object."""
    return [
        (p.leg, id(p.instrument), str(p.delta_qty), p.delta_qty.as_tuple(), p.price.hex())
        for p in planned
    ]


@settings(max_examples=500, deadline=None)
@given(steps=_STEPS)
def test_plans_are_those_of_a_planner_without_memory(steps: list[tuple[Any, ...]]) -> None:
    positions = _Positions()
    instruments = dict(INSTRUMENTS)
    planner = _planner(positions, instruments)
    for step in steps:
        if step[0] == "position":
            _, iid, qty = step
            positions.qty[(STRATEGY, iid)] = qty
            continue
        if step[0] == "equal position":  # equal, of more digits (1 → 1.000)
            key = (STRATEGY, step[1])
            positions.qty[key] = positions.qty.get(key, D(0)) + D("0.000")
            continue
        if step[0] == "relist":
            instruments[BTC] = step[1]
            continue
        _, strategy, (btc, eth, drift), prices = step
        intent = _intent(btc, eth, drift)
        expected = _planner(positions, instruments).plan(strategy, intent, prices)
        assert _exact(planner.plan(strategy, intent, prices)) == _exact(expected)


@settings(max_examples=200, deadline=None)
@given(
    btc=st.tuples(_TARGETS, _POSITIONS),
    eth=st.tuples(_TARGETS, _POSITIONS),
    more_digits=st.sampled_from([D("0.000"), D("0E-12")]),
)
def test_a_restated_intent_at_equal_positions_of_more_digits_plans_them(
    btc: tuple[float, D], eth: tuple[float, D], more_digits: D
) -> None:
    positions = _Positions()
    planner = _planner(positions, INSTRUMENTS)
    intent = _intent(btc[0], eth[0])
    positions.qty[(STRATEGY, BTC)], positions.qty[(STRATEGY, ETH)] = btc[1], eth[1]
    planner.plan(STRATEGY, intent, PRICES)
    for key, qty in list(positions.qty.items()):
        positions.qty[key] = qty + more_digits  # equal (1 and 1.000): other orders' digits
    expected = _planner(positions, INSTRUMENTS).plan(STRATEGY, intent, PRICES)
    assert _exact(planner.plan(STRATEGY, intent, PRICES)) == _exact(expected)


def test_a_restated_intent_off_target_is_priced_again() -> None:
    """While the same orders are planned hour after hour (a halt refuses them), each plan
    takes the prices of its hour: the price sent, the minimum notional, a missing price."""
    positions = _Positions()
    planner = _planner(positions, INSTRUMENTS)
    intent = _intent(0.3, -2.0)
    first = planner.plan(STRATEGY, intent, PRICES)
    assert [(p.instrument.id, str(p.delta_qty), p.price) for p in first] == [
        (BTC, "0.3", 50_000.0),
        (ETH, "-2.0", 2_500.0),
    ]
    again = planner.plan(STRATEGY, intent, {BTC: 51_000.0, ETH: 2_400.0})
    assert [(p.instrument.id, str(p.delta_qty), p.price) for p in again] == [
        (BTC, "0.3", 51_000.0),
        (ETH, "-2.0", 2_400.0),
    ]
    cheap = planner.plan(STRATEGY, intent, {BTC: 100.0, ETH: 2_400.0})  # 30 USD < 100 USD
    assert [(p.instrument.id, str(p.delta_qty)) for p in cheap] == [(ETH, "-2.0")]
    assert planner.plan(STRATEGY, intent, {BTC: 50_000.0}) == []  # ETH unpriced: neither


def test_an_equal_position_of_other_digits_plans_its_own_digits() -> None:
    """A close sends the position itself: ``-1.0`` and ``-1.00`` are different orders."""
    positions = _Positions()
    planner = _planner(positions, INSTRUMENTS)
    intent = _intent(0.0, 0.0)
    positions.qty[(STRATEGY, BTC)] = D("1.0")
    assert [str(p.delta_qty) for p in planner.plan(STRATEGY, intent, PRICES)] == ["-1.0"]
    positions.qty[(STRATEGY, BTC)] = D("1.00")  # equal: the targets and positions compare equal
    assert [str(p.delta_qty) for p in planner.plan(STRATEGY, intent, PRICES)] == ["-1.00"]


def test_a_relisted_instrument_plans_on_its_rules() -> None:
    positions = _Positions()
    instruments = dict(INSTRUMENTS)
    planner = _planner(positions, instruments)
    intent = _intent(0.305, 0.0)
    assert [str(p.delta_qty) for p in planner.plan(STRATEGY, intent, PRICES)] == ["0.305"]
    instruments[BTC] = _BTC_RELISTED  # lot 0.01
    assert [str(p.delta_qty) for p in planner.plan(STRATEGY, intent, PRICES)] == ["0.30"]


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


def test_an_unpriced_leg_skips_the_intent_before_a_later_leg_is_looked_at() -> None:
    planner = _planner(_Positions(), {BTC: INSTRUMENTS[BTC]})  # ETH not loaded
    assert planner.plan(STRATEGY, _intent(1.0, 1.0), {}) == []  # BTC unpriced: skipped
    with pytest.raises(ValueError, match="not loaded"):
        planner.plan(STRATEGY, _intent(1.0, 1.0), PRICES)
