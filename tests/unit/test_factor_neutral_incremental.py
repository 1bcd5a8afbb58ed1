"""The factor-neutral book's per-cycle fast paths (issue 14) decide exactly as before.

``decide`` keeps what it derives from the stored book (non-zero weights, sorted legs) while the
state holds the same book, the target legs while it holds the same sizing, and the legs'
funding rates per hour while the same perps have the same settled rates. The straightforward
implementation of HEAD f6fff63 is kept as :mod:`tests.unit.reference.factor_neutral_f6fff63`:
random sequences of cycles (refits, re-sizings, held perps outside the book, missing and stale
prices, new and unchanged settlements) run through both must give the same decisions, bit for
bit. The named tests below each fail if one cache's invalidation is removed.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.base import Alert, Decision, MarketSnapshot, PortfolioView
from strategies.factor_neutral import FactorNeutralConfig, FactorNeutralStrategy
from strategies.factor_neutral.state import Book, FactorNeutralState, SizedBook
from tests.unit.reference.factor_neutral_f6fff63 import (
    FactorNeutralStrategy as ReferenceBook,
)
from venues.model import FundingRate, InstrumentId, InstrumentKind, funding_rate_per_hour

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")
T0_MS = 1_750_000_000_000
H_MS = 3_600_000


def iid(symbol: str) -> InstrumentId:
    return InstrumentId("binance", InstrumentKind.PERP, symbol)


def settlement(symbol: str, rate: float, interval_s: int, ts_ms: int) -> FundingRate:
    return FundingRate(iid(symbol), rate, interval_s, ts_ms, ts_ms + interval_s * 1000)


def make_config(**overrides: Any) -> FactorNeutralConfig:
    settings_: dict[str, Any] = {
        "symbols": list(SYMBOLS),
        "capital_usd": 50_000.0,
        "delta_rebalance_frac": 0.05,
        "max_weight_frac": 0.5,
    }
    settings_.update(overrides)
    return FactorNeutralConfig(**settings_)


def make_book(fitted_at_ms: int, weights: dict[str, float], betas: dict[str, float]) -> Book:
    return Book(fitted_at_ms, weights, betas, 0.0123456789123, "lp", True)


def snap(
    ts_ms: int,
    prices: dict[str, float],
    funding: dict[str, FundingRate],
    stale: frozenset[str] = frozenset(),
) -> MarketSnapshot:
    closes = {iid(s): np.array([p, p], dtype=np.float64) for s, p in prices.items()}
    return MarketSnapshot(
        ts_ms,
        {},
        {iid(s): p for s, p in prices.items()},
        {iid(s): f for s, f in funding.items()},
        closes,
        frozenset(iid(s) for s in stale),
    )


def exact(decision: Decision[FactorNeutralState]) -> tuple[str, str, str, str]:
    """Everything a decision says, floats by ``repr`` (shortest round-trip: equal bits)."""
    return (
        repr(decision.intents),
        repr(decision.alerts),
        repr(sorted(decision.diagnostics.items())),
        json.dumps(decision.state.to_json(), sort_keys=True),
    )


def targets_of(decision: Decision[FactorNeutralState]) -> dict[str, float]:
    (intent,) = decision.intents
    return {leg.instrument_id.symbol: leg.target_qty for leg in intent.legs}


# -- the fast paths against the code they replace ----------------------------------------------

weight_st = st.one_of(st.just(0.0), st.floats(-0.4, 0.4))
price_st = st.one_of(
    st.floats(0.5, 500.0),
    st.sampled_from([math.nan, 0.0, -1.0, math.inf]),
    st.none(),
)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n_steps=st.integers(3, 30), band=st.sampled_from([0.0, 0.05]))
def test_random_cycles_decide_as_the_reference(
    data: st.DataObject, n_steps: int, band: float
) -> None:
    cfg = make_config(delta_rebalance_frac=band)
    fast, reference = FactorNeutralStrategy(cfg), ReferenceBook(cfg)
    fast_state, ref_state = fast.initial_state(), reference.initial_state()
    funding: dict[str, FundingRate] = {}
    held: dict[InstrumentId, float] = {}
    for step in range(n_steps):
        now_ms = T0_MS + step * H_MS
        if step == 0 or data.draw(st.integers(0, 5)) == 0:  # a refit: a new book, or none
            members = data.draw(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=5))
            book = (
                None
                if data.draw(st.integers(0, 7)) == 0
                else make_book(
                    now_ms,
                    {s: data.draw(weight_st) for s in members},
                    {s: data.draw(st.floats(0.2, 2.0)) for s in members},
                )
            )
            pending = (
                (Alert("factor_neutral_excluded", "x", {"n_excluded": 1}),)
                if data.draw(st.booleans())
                else ()
            )
            fast_state = replace(fast_state, book=book, pending_alerts=pending)
            ref_state = replace(ref_state, book=book, pending_alerts=pending)
        prices: dict[str, float] = {}
        for symbol in SYMBOLS:
            price = data.draw(price_st) if data.draw(st.integers(0, 9)) == 0 else None
            prices[symbol] = data.draw(st.floats(0.5, 500.0)) if price is None else price
            event = data.draw(st.sampled_from(["same", "same", "settle", "equal_copy", "drop"]))
            if event == "settle" or (event != "drop" and symbol not in funding):
                rate = data.draw(st.floats(-5e-4, 5e-4))
                interval_s = data.draw(st.sampled_from([3_600, 14_400, 28_800]))
                funding[symbol] = settlement(symbol, rate, interval_s, now_ms)
            elif event == "equal_copy":
                f = funding[symbol]
                funding[symbol] = FundingRate(
                    f.instrument_id, f.rate, f.interval_s, f.ts_funding_ms, f.ts_next_funding_ms
                )
            elif event == "drop":
                funding.pop(symbol, None)
        prices = {s: p for s, p in prices.items() if p is not None}
        stale = frozenset(s for s in SYMBOLS if data.draw(st.integers(0, 14)) == 0)
        snapshot = snap(now_ms, prices, dict(funding), stale)
        fill = data.draw(st.sampled_from(["as_is", "as_is", "drift", "outside", "zero"]))
        if fill == "drift" and held:
            leg = data.draw(st.sampled_from(sorted(held, key=str)))
            held[leg] *= data.draw(st.floats(0.5, 1.5))
        elif fill == "outside":  # a perp the book does not hold, or another venue's
            held[iid(data.draw(st.sampled_from(SYMBOLS)))] = data.draw(st.floats(-3.0, 3.0))
            held[InstrumentId("bybit", InstrumentKind.PERP, "BTCUSDT")] = 1.0
        elif fill == "zero" and held:
            held[data.draw(st.sampled_from(sorted(held, key=str)))] = 0.0
        view = PortfolioView(100_000.0, 100_000.0, dict(held))
        if data.draw(st.integers(0, 9)) == 0:  # resumed from the journal: new objects
            fast_state = fast.load_state(fast_state.to_json())
        got = fast.decide(snapshot, view, fast_state, now_ms)
        want = reference.decide(snapshot, view, ref_state, now_ms)
        assert exact(got) == exact(want), f"step {step}"
        assert got.state == want.state
        fast_state, ref_state = got.state, want.state
        for intent in want.intents:  # filled as targeted
            held.update({leg.instrument_id: leg.target_qty for leg in intent.legs})


# -- each cache's invalidation ------------------------------------------------------------------

PRICES = {s: 100.0 for s in SYMBOLS}
FLAT = PortfolioView(100_000.0, 100_000.0, {})


def test_a_new_book_replaces_the_legs() -> None:
    """Book-derived legs are kept per book object: a refit's book brings its own weights."""
    strategy = FactorNeutralStrategy(make_config(capital_usd=10_000.0))
    snapshot = snap(T0_MS, PRICES, {})
    first = make_book(T0_MS, {"BTCUSDT": 0.5, "ETHUSDT": -0.5}, {})
    second = make_book(T0_MS + H_MS, {"SOLUSDT": 0.25, "ETHUSDT": -0.25, "BTCUSDT": 0.0}, {})
    state = FactorNeutralState(book=first)
    decision = strategy.decide(snapshot, FLAT, state, T0_MS)
    assert targets_of(decision) == {"BTCUSDT": 50.0, "ETHUSDT": -50.0}  # 0.5 × 10k / 100
    decision = strategy.decide(snapshot, FLAT, replace(decision.state, book=second), T0_MS)
    assert targets_of(decision) == {"ETHUSDT": -25.0, "SOLUSDT": 25.0}


def test_a_new_sizing_replaces_the_targets() -> None:
    """Target legs are kept per sizing object: a re-sized book brings its own quantities."""
    strategy = FactorNeutralStrategy(make_config())
    book = make_book(T0_MS, {"BTCUSDT": 0.5, "ETHUSDT": -0.5}, {})
    snapshot = snap(T0_MS, PRICES, {})
    for qty in ({"BTCUSDT": 3.0, "ETHUSDT": -3.0}, {"BTCUSDT": 7.0, "ETHUSDT": -7.0}):
        state = FactorNeutralState(book=book, sized=SizedBook(T0_MS, qty))
        assert targets_of(strategy.decide(snapshot, FLAT, state, T0_MS)) == qty


def test_a_held_perp_outside_the_book_gets_a_flat_leg() -> None:
    """The book's legs are reused only while everything held is in the book."""
    strategy = FactorNeutralStrategy(make_config(capital_usd=10_000.0))
    snapshot = snap(T0_MS, PRICES, {})
    state = FactorNeutralState(book=make_book(T0_MS, {"BTCUSDT": 0.5, "ETHUSDT": -0.5}, {}))
    decision = strategy.decide(snapshot, FLAT, state, T0_MS)
    assert targets_of(decision) == {"BTCUSDT": 50.0, "ETHUSDT": -50.0}
    holding = PortfolioView(100_000.0, 100_000.0, {iid("XRPUSDT"): 4.0})
    decision = strategy.decide(snapshot, holding, decision.state, T0_MS + H_MS)
    assert targets_of(decision) == {"BTCUSDT": 50.0, "ETHUSDT": -50.0, "XRPUSDT": 0.0}
    decision = strategy.decide(snapshot, FLAT, decision.state, T0_MS + 2 * H_MS)
    assert targets_of(decision) == {"BTCUSDT": 50.0, "ETHUSDT": -50.0}


def test_carry_follows_new_settlements() -> None:
    """Rates per hour are kept while the legs' settled rates are the same: a new settlement
    changes the carry diagnostic (−Σ notional · r/h, worked out here), an equal one does not."""
    strategy = FactorNeutralStrategy(make_config(capital_usd=10_000.0))
    state = FactorNeutralState(book=make_book(T0_MS, {"BTCUSDT": 0.5, "ETHUSDT": -0.5}, {}))
    carries = []
    for btc_rate, eth_rate in ((1e-4, 2e-4), (1e-4, 2e-4), (-3e-4, 2e-4), (-3e-4, 5e-4)):
        funding = {
            "BTCUSDT": settlement("BTCUSDT", btc_rate, 28_800, T0_MS),
            "ETHUSDT": settlement("ETHUSDT", eth_rate, 14_400, T0_MS),
        }
        decision = strategy.decide(snap(T0_MS, PRICES, funding), FLAT, state, T0_MS)
        state = decision.state
        expected = -(
            5_000.0 * funding_rate_per_hour(btc_rate, 28_800)
            - 5_000.0 * funding_rate_per_hour(eth_rate, 14_400)
        )
        assert math.isclose(
            float(decision.diagnostics["target_funding_usd_per_h"]), expected, rel_tol=1e-9
        )
        carries.append(decision.diagnostics["target_funding_usd_per_h"])
    assert carries[0] == carries[1] != carries[2] != carries[3]
    without = strategy.decide(snap(T0_MS, PRICES, {}), FLAT, state, T0_MS)
    assert "target_funding_usd_per_h" not in without.diagnostics
