"""Options delta hedger decisions: opening the structure, rolling before expiry, hedging
outside the band, skipping a hedge below the minimum trade, the greeks attribution.

Deltas are recomputed here with the Black-76 formula (``strategies.options.black_scholes``)
from the chain's terms; quantities and targets are worked out in the comments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from strategies.base import MarketSnapshot, PortfolioView
from strategies.options.black_scholes import delta, years_to_expiry
from strategies.options.chain import ChainListing, OptionChain, model_chain
from strategies.options.vol_input import FlatVol
from strategies.options_hedger import (
    OptionsDeltaHedgerStrategy,
    OptionsHedgerConfig,
    OptionsHedgerState,
)
from venues.model import Instrument, InstrumentId, InstrumentKind, OptionSpec

PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
IV = 0.55


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


NOW_MS = _ms(2025, 1, 1)


def _opt(symbol: str) -> InstrumentId:
    return InstrumentId("binance", InstrumentKind.OPTION, symbol)


def _perp(min_qty: str = "0.001") -> Instrument:
    return Instrument(PERP, "BTC", "USDT", D("0.1"), D("0.001"), D(min_qty), D("0"))


def _snapshot(
    forward: float, now_ms: int = NOW_MS, min_qty: str = "0.001"
) -> tuple[MarketSnapshot, OptionChain]:
    chain = model_chain(
        PERP, "binance", "BTC", now_ms, forward, FlatVol(IV), ChainListing(1000.0, 0.3, 60)
    )
    prices: dict[InstrumentId, float] = {PERP: forward}
    for k in range(len(chain)):  # the listed options a strategy holds are priced in snapshots
        spec = chain.spec(k)
        if spec.expiry_ms in (_ms(2025, 1, 3, 8), _ms(2025, 1, 31, 8)):
            prices[chain.instrument_id(k)] = float(chain.price_usd[k])
    snapshot = MarketSnapshot(
        ts_ms=now_ms,
        instruments={PERP: _perp(min_qty)},
        prices=prices,
        funding={},
        closes={},
        option_chains={PERP: chain},
    )
    return snapshot, chain


def _strategy(**params: Any) -> OptionsDeltaHedgerStrategy:
    base: dict[str, Any] = {"enabled": True, "qty_coin": 1.0, "delta_band_coin": 0.05}
    return OptionsDeltaHedgerStrategy(OptionsHedgerConfig(**(base | params)))


def _view(positions: dict[InstrumentId, float]) -> PortfolioView:
    return PortfolioView(100_000.0, 100_000.0, positions, positions)


def _bs_delta(symbol: str, forward: float, now_ms: int) -> float:
    spec = OptionSpec.parse(symbol)
    t = float(years_to_expiry(now_ms, spec.expiry_ms))
    return float(delta(forward, float(spec.strike_usd), t, IV, spec.is_call))


def test_with_nothing_held_it_opens_the_straddle_at_the_target_expiry() -> None:
    strategy = _strategy(qty_coin=0.25)  # rounded down to the 0.1 lot: 0.2
    snapshot, _ = _snapshot(94_321.0)
    decision = strategy.decide(snapshot, _view({}), strategy.initial_state(), NOW_MS)
    (intent,) = decision.intents
    assert intent.reason == "open_structure"
    legs = {leg.instrument_id: leg.target_qty for leg in intent.legs}
    call, put = "BTC-31JAN25-94000-C", "BTC-31JAN25-94000-P"
    # 0.2 × (Δcall + Δput) = 0.2 × (2 N(d1) − 1), small for a straddle struck at the forward
    book = 0.2 * (_bs_delta(call, 94_321.0, NOW_MS) + _bs_delta(put, 94_321.0, NOW_MS))
    assert abs(book) < 0.05
    assert legs == {_opt(call): 0.2, _opt(put): 0.2}  # inside the band: no hedge leg
    assert decision.diagnostics["book_delta_before_coin"] == pytest.approx(book, abs=1e-6)


def test_a_short_strangle_sells_both_wings_and_hedges_its_delta() -> None:
    strategy = _strategy(structure="strangle", side="short", qty_coin=2.0)
    snapshot, _ = _snapshot(94_321.0)
    decision = strategy.decide(snapshot, _view({}), strategy.initial_state(), NOW_MS)
    (intent,) = decision.intents
    legs = {leg.instrument_id: leg.target_qty for leg in intent.legs}
    call, put = "BTC-31JAN25-104000-C", "BTC-31JAN25-85000-P"  # 1.1 and 0.9 × 94 321
    book = -2.0 * (_bs_delta(call, 94_321.0, NOW_MS) + _bs_delta(put, 94_321.0, NOW_MS))
    hedge = float(round(D(repr(-book)), 3))
    assert abs(book) > 0.05
    assert legs == {_opt(call): -2.0, _opt(put): -2.0, PERP: pytest.approx(hedge, abs=1e-12)}


def test_it_rolls_the_structure_before_expiry() -> None:
    strategy = _strategy(roll_before_expiry_h=48)
    now = _ms(2025, 1, 1, 17)  # the 3 Jan 08:00 legs are 39 h from expiry: inside 48 h
    snapshot, _ = _snapshot(94_000.0, now)
    old_c, old_p = _opt("BTC-3JAN25-94000-C"), _opt("BTC-3JAN25-94000-P")
    held = {old_c: 1.0, old_p: 1.0, PERP: -0.03}
    decision = strategy.decide(snapshot, _view(held), strategy.initial_state(), now)
    (intent,) = decision.intents
    assert intent.reason == "roll_structure"
    legs = {leg.instrument_id: leg.target_qty for leg in intent.legs}
    assert legs[old_c] == 0.0
    assert legs[old_p] == 0.0
    new = {i for i, q in legs.items() if i.kind is InstrumentKind.OPTION and q}
    assert {i.symbol for i in new} == {"BTC-31JAN25-94000-C", "BTC-31JAN25-94000-P"}
    # 49 h before expiry nothing rolls
    early = _ms(2025, 1, 1, 7)
    snapshot, _ = _snapshot(94_000.0, early)
    quiet = strategy.decide(snapshot, _view(held), strategy.initial_state(), early)
    assert all(leg.instrument_id == PERP for i in quiet.intents for leg in i.legs)


def test_a_hedge_below_the_perps_minimum_trade_is_skipped() -> None:
    symbols = ("BTC-31JAN25-94000-C", "BTC-31JAN25-94000-P")
    held = {_opt(s): 1.0 for s in symbols}
    forward = 97_000.0  # the straddle gained delta as the price rose
    book = sum(_bs_delta(s, forward, NOW_MS) for s in symbols)
    assert 0.05 < abs(book) < 0.5  # outside the band, below a 0.5 BTC minimum
    strategy = _strategy()
    snapshot, _ = _snapshot(forward, min_qty="0.5")
    skipped = strategy.decide(snapshot, _view(held), strategy.initial_state(), NOW_MS)
    assert skipped.intents == ()
    assert skipped.diagnostics["hedge"] == "below_min_trade"
    # the same book with a 0.001 minimum is hedged back to within half a lot of zero
    snapshot, _ = _snapshot(forward)
    hedged = strategy.decide(snapshot, _view(held), strategy.initial_state(), NOW_MS)
    (intent,) = hedged.intents
    (leg,) = intent.legs
    assert leg.instrument_id == PERP
    assert leg.target_qty == pytest.approx(float(round(D(repr(-book)), 3)), abs=1e-12)
    assert abs(book + leg.target_qty) <= 0.0005 + 1e-12


def test_inside_the_band_nothing_is_traded() -> None:
    symbols = ("BTC-31JAN25-94000-C", "BTC-31JAN25-94000-P")
    forward = 94_500.0
    book = sum(_bs_delta(s, forward, NOW_MS) for s in symbols)
    held = {_opt(s): 1.0 for s in symbols} | {PERP: round(-book, 3) + 0.02}
    strategy = _strategy()
    snapshot, _ = _snapshot(forward)
    decision = strategy.decide(snapshot, _view(held), strategy.initial_state(), NOW_MS)
    assert decision.intents == ()
    assert decision.diagnostics["hedge"] == "inside_band"


def test_the_attribution_of_a_step_adds_up_and_the_state_round_trips() -> None:
    strategy = _strategy()
    symbols = ("BTC-31JAN25-94000-C", "BTC-31JAN25-94000-P")
    held = {_opt(s): 1.0 for s in symbols} | {PERP: -0.05}
    snapshot, _ = _snapshot(94_000.0)
    first = strategy.decide(snapshot, _view(held), strategy.initial_state(), NOW_MS).state
    later = NOW_MS + 3_600_000
    snapshot, chain = _snapshot(95_000.0, later)
    second = strategy.decide(snapshot, _view(held), first, later).state
    last = second.last
    actual = sum(
        float(chain.price_usd[chain.find(_opt(s))]) - first.marks[s].price_usd for s in symbols
    ) + (-0.05 * 1000.0)  # the options' value change + the hedge's 1 000 USD move
    assert last["actual_usd"] == pytest.approx(actual, abs=1e-9)
    parts = ("delta_usd", "gamma_usd", "theta_usd", "vega_usd", "residual_usd")
    assert last["actual_usd"] == pytest.approx(sum(last[k] for k in parts), abs=1e-9)
    assert last["gamma_usd"] > 0 > last["theta_usd"]
    assert last["vega_usd"] == 0.0
    assert OptionsHedgerState.from_json(second.to_json()) == second
    with pytest.raises(ValueError, match="marks"):
        OptionsHedgerState.from_json({**second.to_json(), "marks": []})


def test_a_configuration_that_could_leave_the_band_is_refused() -> None:
    with pytest.raises(ValueError, match="min_hedge_qty_coin must be below delta_band_coin"):
        OptionsHedgerConfig(delta_band_coin=0.01, min_hedge_qty_coin=0.02)
    with pytest.raises(ValueError, match="roll_before_expiry_h"):
        OptionsHedgerConfig(target_expiry_days=1, roll_before_expiry_h=30)
