"""IntentPlanner's arithmetic (agent.execution.plan) against the straightforward computation
kept here (the planner as it was before issue 14's fast paths: every target converted to a
Decimal, ``Decimal(0)`` for a flat position, the notional always computed). The orders must be
the same to the Decimal's digits and exponent (the journal writes ``str(qty)``: ``1.5`` and
``1.500`` are different rows) and the prices to the bit."""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal
from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.execution.plan import IntentPlanner, _surely_within
from strategies.base import PairIntent, TargetPosition
from venues.model import Instrument, InstrumentId, InstrumentKind

BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
DOGE = InstrumentId("binance", InstrumentKind.PERP, "DOGEUSDT")
INSTRUMENTS = {
    BTC: Instrument(BTC, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("100"), D(1), 28_800),
    ETH: Instrument(ETH, "ETH", "USDT", D("0.01"), D("0.01"), D("0.05"), D("20"), D(1), 28_800),
    # lot 1, no minimum notional: every order of at least one coin goes
    DOGE: Instrument(DOGE, "DOGE", "USDT", D("0.00001"), D("1"), D("1"), D("0"), D(1), 28_800),
}
STRATEGY = "factor_neutral"


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def reference_plan(
    intent: PairIntent,
    positions: dict[InstrumentId, Decimal],
    prices: dict[InstrumentId, float],
    drift_frac: float,
) -> list[tuple[int, InstrumentId, Decimal, float]]:
    """The planning rule written out without a fast path."""
    drift = _dec(drift_frac if intent.drift_frac is None else intent.drift_frac)
    out: list[tuple[int, InstrumentId, Decimal, float]] = []
    for index, leg in enumerate(intent.legs):
        instrument = INSTRUMENTS[leg.instrument_id]
        target = _dec(leg.target_qty)
        current = positions.get(leg.instrument_id, Decimal(0)) or Decimal(0)
        off = current != 0 if target == 0 else abs(target - current) > drift * abs(target)
        if not off:
            continue
        price = prices.get(leg.instrument_id)
        if price is None or not math.isfinite(price) or price <= 0:
            return []
        if target == 0:
            delta = -current
        else:
            step = instrument.lot_step
            change = target - current
            rounded = (abs(change) / step).to_integral_value(rounding=ROUND_DOWN) * step
            notional = rounded * _dec(price)
            if rounded < instrument.min_qty or notional < instrument.min_notional_usd:
                delta = Decimal(0)
            else:
                delta = rounded if change > 0 else -rounded
        if delta:
            out.append((index, leg.instrument_id, delta, float(price)))
    return out


class _Positions:
    def __init__(self, qty: dict[InstrumentId, Decimal]) -> None:
        self.qty = qty

    def position_qty(self, strategy: str, instrument_id: InstrumentId) -> Decimal:
        return self.qty.get(instrument_id, Decimal(0))


_TARGETS = st.one_of(
    st.sampled_from([0.0, -0.0, 0.001, -0.0105, 1.0, 1.05, -2.0, 12.5, 1e-9]),
    st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False),
)
_POSITIONS = st.one_of(
    st.sampled_from([D(0), D("0E-8"), D("-0.000"), D("0.01"), D("-0.0100"), D("1.00000000")]),
    st.decimals(-50, 50, places=8, allow_nan=False, allow_infinity=False),
)
_PRICES = st.one_of(
    st.sampled_from([50_000.0, 2_500.0, 0.1, 0.0, -1.0, math.nan, math.inf]),
    st.floats(1e-3, 1e5, allow_nan=False),
)


@settings(max_examples=500, deadline=None)
@given(
    legs=st.lists(
        st.tuples(st.sampled_from([BTC, ETH, DOGE]), _TARGETS, _POSITIONS, _PRICES),
        min_size=1,
        max_size=3,
        unique_by=lambda leg: leg[0],
    ),
    drift=st.sampled_from([None, 1e-9, 0.05, 0.1, 0.5, 0.999]),
)
def test_plans_are_the_straightforward_computation_to_the_digit(
    legs: list[tuple[InstrumentId, float, Decimal, float]], drift: float | None
) -> None:
    intent = PairIntent(
        "i", tuple(TargetPosition(iid, target) for iid, target, _, _ in legs), "enter",
        drift_frac=drift,
    )  # fmt: skip
    positions = {iid: qty for iid, _, qty, _ in legs}
    prices = {iid: price for iid, _, _, price in legs}
    planner: Any = IntentPlanner(INSTRUMENTS, _Positions(positions), 0.1)  # type: ignore[arg-type]
    got = [
        (p.leg, p.instrument.id, p.delta_qty, p.price)
        for p in planner.plan(STRATEGY, intent, prices)
    ]
    expected = reference_plan(intent, positions, prices, 0.1)
    assert [(i, iid, str(q), q.as_tuple(), p.hex()) for i, iid, q, p in got] == [
        (i, iid, str(q), q.as_tuple(), p.hex()) for i, iid, q, p in expected
    ]


# ---- the float fast path of the drift check (plan._surely_within) ------------------------------


def test_a_leg_off_target_by_less_than_a_float_can_tell_still_trades() -> None:
    """0.89999999999999999999 is off a target of 1 by just over 10 %: in floats (0.9) it looks
    within, so only the margin of the fast path sends it to the exact check."""
    current = D("0.89999999999999999999")
    assert abs(D("1.0") - current) > D("0.1") * D("1.0")  # off target, exactly
    assert 1.0 - float(current) < 0.1  # within, in floats
    assert not _surely_within(float(current), 1.0, 0.1)
    intent = PairIntent("i", (TargetPosition(BTC, 1.0),), "enter")
    planner: Any = IntentPlanner(INSTRUMENTS, _Positions({BTC: current}), 0.1)  # type: ignore[arg-type]
    planned = planner.plan(STRATEGY, intent, {BTC: 50_000.0})
    assert [(p.instrument.id, str(p.delta_qty)) for p in planned] == [(BTC, "0.100")]


_DRIFTS = st.one_of(
    st.sampled_from([1e-9, 0.05, 0.1, 0.5, 0.999, 1.0, 2.0]),
    st.floats(1e-12, 10.0, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=2000, deadline=None)
@given(
    target=st.one_of(
        st.sampled_from([1.0, -1.0, 0.1, 1e-9, -12.5, 1e12, 5e-324, 1e-310]),
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != 0),
    ),
    drift=_DRIFTS,
    side=st.sampled_from([-1, 1]),
    nudge_digits=st.integers(-30, 30),
    nudge_places=st.integers(10, 40),
)
def test_surely_within_only_when_exactly_within(
    target: float, drift: float, side: int, nudge_digits: int, nudge_places: int
) -> None:
    """Positions at the very edge of the drift band (target × (1 ± drift), nudged in the
    20th-40th significant digit): the fast path never calls within what is exactly off."""
    exact_target, exact_drift = _dec(target), _dec(drift)
    edge = exact_target - side * exact_drift * abs(exact_target)
    if edge == 0:
        nudge = Decimal(nudge_digits).scaleb(-nudge_places)
    else:
        nudge = edge * Decimal(nudge_digits).scaleb(-nudge_places)
    current = edge + nudge
    if _surely_within(float(current), target, drift):
        assert not (abs(exact_target - current) > exact_drift * abs(exact_target))


@settings(max_examples=1000, deadline=None)
@given(
    target=st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: x != 0),
    current=st.decimals(-2e6, 2e6, places=12, allow_nan=False, allow_infinity=False),
    drift=_DRIFTS,
)
def test_surely_within_agrees_with_the_exact_check(
    target: float, current: Decimal, drift: float
) -> None:
    exact_target, exact_drift = _dec(target), _dec(drift)
    off = abs(exact_target - current) > exact_drift * abs(exact_target)
    if _surely_within(float(current), target, drift):
        assert not off
