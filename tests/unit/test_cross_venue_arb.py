"""Cross-venue funding arbitrage: signal math against hand-computed values, decide() on
hand-built settlement sequences, and a smoke run over the real bundled funding.

Units: ``U = 1e-5`` per hour. Costs used throughout (perp taker fee + slippage per fill, bps):
Binance 5 + 2, Bybit 5.5 + 2, Hyperliquid 4.5 + 2, so a round trip (two fills per venue) costs
Binance/Bybit 2 × (7 + 7.5) = 29 bps, Binance/Hyperliquid 2 × (7 + 6.5) = 27 bps.
"""

from __future__ import annotations

import copy
import csv
import gzip
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic
import pytest

from strategies.base import Decision, MarketSnapshot, PairIntent, PortfolioView, Strategy
from strategies.cross_venue_arb import (
    CrossVenueArbConfig,
    CrossVenueArbState,
    CrossVenueArbStrategy,
    VenueCosts,
    rates,
    signals,
)
from strategies.cross_venue_arb.state import ArbPosition
from venues.model import FundingRate, Instrument, InstrumentId, InstrumentKind
from venues.replay.loader import bundled_data_dir
from venues.replay.source import ReplayDataset

H_MS = 3_600_000
H8_S = 28_800
T_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC, a multiple of 8 h
U = 1e-5
COSTS = {
    "binance": VenueCosts(taker_fee_bps=5.0, slippage_bps=2.0),
    "bybit": VenueCosts(taker_fee_bps=5.5, slippage_bps=2.0),
    "hyperliquid": VenueCosts(taker_fee_bps=4.5, slippage_bps=2.0),
}
FREE = {v: VenueCosts(0.0, 0.0) for v in COSTS}


def pid(venue: str, base: str = "BTC") -> InstrumentId:
    symbol = base if venue == "hyperliquid" else base + "USDT"
    return InstrumentId(venue, InstrumentKind.PERP, symbol)


def instrument(iid: InstrumentId, lot_step: str) -> Instrument:
    base = iid.symbol.removesuffix("USDT")
    step = Decimal(lot_step)
    return Instrument(iid, base, "USDT", Decimal("0.1"), step, step, Decimal(5))


def settlements(
    iid: InstrumentId, rates_: Sequence[float], first_ms: int, interval_s: int
) -> list[FundingRate]:
    """Consecutive settlements of ``iid`` every ``interval_s`` from ``first_ms``."""
    step_ms = interval_s * 1000
    return [
        FundingRate(iid, r, interval_s, first_ms + k * step_ms, first_ms + (k + 1) * step_ms)
        for k, r in enumerate(rates_)
    ]


def steady(iid: InstrumentId, rate: float, interval_s: int, hours: int = 400) -> list[FundingRate]:
    """A constant rate settling every ``interval_s`` from ``T_MS − 200 h`` for ``hours``."""
    first_ms = T_MS - 200 * H_MS
    return settlements(iid, [rate] * (hours * 3600 // interval_s), first_ms, interval_s)


@dataclass
class Market:
    """Hand-built funding history; a snapshot at ``t`` shows each perp's latest settlement at
    or before ``t`` and a price of every perp (Bybit/Hyperliquid priced like Binance)."""

    funding: list[FundingRate]
    prices: dict[str, float] = field(default_factory=lambda: {"BTC": 50_000.0})
    lots: dict[InstrumentId, str] = field(default_factory=dict)
    stale: frozenset[InstrumentId] = frozenset()

    def snapshot(self, ts_ms: int) -> MarketSnapshot:
        latest: dict[InstrumentId, FundingRate] = {}
        for f in sorted(self.funding, key=lambda f: f.ts_funding_ms):
            if f.ts_funding_ms <= ts_ms:
                latest[f.instrument_id] = f
        prices = {pid(v, base): p for base, p in self.prices.items() for v in COSTS}
        instruments = {i: instrument(i, lot) for i, lot in self.lots.items()}
        return MarketSnapshot(ts_ms, instruments, prices, latest, {}, self.stale)


def book(positions: Mapping[InstrumentId, float] | None = None) -> PortfolioView:
    return PortfolioView(100_000.0, 100_000.0, dict(positions or {}))


def filled(state: CrossVenueArbState) -> PortfolioView:
    """A portfolio holding both legs of every position in ``state`` (its entries filled)."""
    held: dict[InstrumentId, float] = {}
    for base, p in state.positions.items():
        held[pid(p.long, base)] = p.qty
        held[pid(p.short, base)] = -p.qty
    return book(held)


def make(costs: Mapping[str, VenueCosts] = COSTS, **overrides: Any) -> CrossVenueArbStrategy:
    settings: dict[str, Any] = {"symbols": ["BTC"], "rate_lookback_h": 8.0}
    settings.update(overrides)
    return CrossVenueArbStrategy(CrossVenueArbConfig(**settings), costs)


def run(
    strategy: CrossVenueArbStrategy,
    market: Market,
    times_ms: Iterable[int],
    state: CrossVenueArbState | None = None,
    *,
    fill: bool = True,
) -> list[Decision[CrossVenueArbState]]:
    """Decide at each time, feeding back the state; entries fill unless ``fill`` is False."""
    current = strategy.initial_state() if state is None else state
    decisions = []
    for ts_ms in times_ms:
        portfolio = filled(current) if fill else book()
        decision = strategy.decide(market.snapshot(ts_ms), portfolio, current, ts_ms)
        decisions.append(decision)
        current = decision.state
    return decisions


def hours(start_ms: int, end_ms: int) -> range:
    """Hourly times from ``start_ms`` to ``end_ms`` inclusive."""
    return range(start_ms, end_ms + 1, H_MS)


def only(decision: Decision[CrossVenueArbState]) -> PairIntent:
    assert len(decision.intents) == 1, decision.intents
    return decision.intents[0]


def legs_of(intent: PairIntent) -> dict[InstrumentId, float]:
    return {leg.instrument_id: leg.target_qty for leg in intent.legs}


# -- signals ------------------------------------------------------------------------------


def test_one_hour_venue_equals_eight_hour_venue_after_normalization() -> None:
    # 0.0000125 per 1 h and 0.0001 per 8 h are both 1.25e-5 per hour.
    one_h = signals.weighted_mean_rate_per_hour([0.0000125], [1.0])
    eight_h = signals.weighted_mean_rate_per_hour([0.0001 / 8], [8.0])
    assert one_h == pytest.approx(1.25e-5, rel=1e-12)
    assert eight_h == pytest.approx(1.25e-5, rel=1e-12)
    assert signals.spread_8h_frac(one_h, eight_h) == pytest.approx(0.0, abs=1e-18)


def test_weighted_mean_over_an_interval_change() -> None:
    # One 8 h settlement of 0.0008 (1e-4 / h) then eight hourly settlements of 0: 0.0008 paid
    # over 16 h = 5e-5 / h (a plain mean of the nine per-hour rates would say 1.1e-5).
    mean = signals.weighted_mean_rate_per_hour([1e-4] + [0.0] * 8, [8.0] + [1.0] * 8)
    assert mean == pytest.approx(5e-5, rel=1e-12)


def test_weighted_mean_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="need n >= 1"):
        signals.weighted_mean_rate_per_hour([], [])
    with pytest.raises(ValueError, match="interval_h"):
        signals.weighted_mean_rate_per_hour([1e-5], [0.0])
    with pytest.raises(ValueError, match="rate_per_hour"):
        signals.weighted_mean_rate_per_hour([float("nan")], [1.0])


def test_round_trip_cost_by_hand() -> None:
    assert signals.round_trip_cost_frac(COSTS["binance"], COSTS["bybit"]) == pytest.approx(
        0.0029, rel=1e-12
    )
    assert signals.round_trip_cost_frac(COSTS["hyperliquid"], COSTS["binance"]) == pytest.approx(
        0.0027, rel=1e-12
    )
    with pytest.raises(ValueError, match="taker_fee_bps"):
        VenueCosts(-1.0, 0.0)


def test_first_settlement_rolls_forward_past_now() -> None:
    assert signals.first_settlement_ms(T_MS + H_MS, H8_S, T_MS) == T_MS + H_MS
    # A settlement at now has already been paid: the next one is an interval later.
    assert signals.first_settlement_ms(T_MS, H8_S, T_MS) == T_MS + 8 * H_MS
    # Two intervals missed.
    assert signals.first_settlement_ms(T_MS - 10 * H_MS, H8_S, T_MS) == T_MS + 6 * H_MS
    with pytest.raises(ValueError, match="interval_s"):
        signals.first_settlement_ms(T_MS, 0, T_MS)


def test_leg_funding_counts_settlements_inside_the_window() -> None:
    leg = signals.LegForecast(3e-4, 5e-5, T_MS + H_MS, H8_S)
    # Settlements at +1, +9, ..., +65 h inside (T, T+72h]: 1 at the latest rate, 8 at the mean.
    assert signals.expected_leg_funding_frac(leg, T_MS, T_MS + 72 * H_MS) == pytest.approx(
        (3e-4 + 8 * 5e-5) * 8, rel=1e-12
    )
    # The end is inclusive: a window ending exactly at +9 h holds +1 h and +9 h.
    assert signals.expected_leg_funding_frac(leg, T_MS, T_MS + 9 * H_MS) == pytest.approx(
        (3e-4 + 5e-5) * 8, rel=1e-12
    )
    assert signals.expected_leg_funding_frac(leg, T_MS, T_MS + H_MS - 1) == 0.0


def test_pair_funding_of_the_adverse_settlement_case_by_hand() -> None:
    # Long Binance 8 h: next settlement in 1 h at its latest 30 U/h (0.24 %/8h), later ones at
    # its mean 5 U/h; short Hyperliquid 1 h: latest 31 U, mean 10.875 U.
    # Long pays 8 × (30 + 8 × 5) U = 560 U; short receives 31 + 71 × 10.875 = 803.125 U.
    long = signals.LegForecast(30 * U, 5 * U, T_MS + H_MS, H8_S)
    short = signals.LegForecast(31 * U, 10.875 * U, T_MS + H_MS, 3600)
    funding = signals.expected_pair_funding_frac(long, short, T_MS, 72.0)
    assert funding == pytest.approx(243.125 * U, rel=1e-12)
    assert signals.net_apr_frac(funding, 0.0027, 72.0) == pytest.approx(
        (243.125 * U - 0.0027) * 8760 / 72, rel=1e-12
    )


def test_exit_reason_order_and_missing_inputs() -> None:
    ok = {"exit_spread_8h_frac": 5e-5, "held_h": 1.0, "max_holding_h": 168.0}
    assert signals.exit_reason(2 * U, 1 * U, 0.0, **ok) == "exit_spread_flipped"
    assert signals.exit_reason(1 * U, 2 * U, 4.9e-5, **ok) == "exit_spread_collapsed"
    assert signals.exit_reason(1 * U, 2 * U, 5.1e-5, **ok) is None
    assert signals.exit_reason(None, 2 * U, None, **ok) is None
    late = {**ok, "held_h": 168.0}
    assert signals.exit_reason(1 * U, 2 * U, 1e-3, **late) == "exit_max_holding"


# -- rate book -----------------------------------------------------------------------------


def test_rate_book_counts_each_settlement_once_and_waits_for_a_full_lookback() -> None:
    iid = pid("bybit", "INJ")
    lookback = rates.lookback_ms(16.0)
    book_: rates.Book = {}
    eight_h = FundingRate(iid, 0.0008, H8_S, T_MS, T_MS + H_MS)
    assert rates.record(book_, eight_h, T_MS, lookback)
    assert not rates.record(book_, eight_h, T_MS + H_MS, lookback)  # seen again: ignored
    # History starts at T − 8 h: not a full 16 h lookback yet at T + 7 h.
    key = str(iid)
    assert rates.mean_rate_per_hour(book_, key, T_MS + 7 * H_MS, lookback) is None
    for k, f in enumerate(settlements(iid, [0.0] * 8, T_MS + H_MS, 3600)):
        assert rates.record(book_, f, T_MS + (k + 1) * H_MS, lookback)
    assert len(book_[key].settlements) == 9
    mean = rates.mean_rate_per_hour(book_, key, T_MS + 8 * H_MS, lookback)
    assert mean == pytest.approx(0.0008 / 16, rel=1e-12)
    json.dumps(CrossVenueArbState(rates=book_).to_json(), allow_nan=False)


# -- decide: entries -------------------------------------------------------------------------


def three_venue_market(hl_rate_1h: float = 8 * U) -> Market:
    # Binance 0.0001/8h = 1.25 U/h, Bybit 0.00015/8h = 1.875 U/h, Hyperliquid 8 U/h.
    return Market(
        steady(pid("binance"), 0.0001, H8_S)
        + steady(pid("bybit"), 0.00015, H8_S)
        + steady(pid("hyperliquid"), hl_rate_1h, 3600),
        lots={pid("binance"): "0.001", pid("bybit"): "0.001", pid("hyperliquid"): "0.00001"},
    )


def test_enters_long_lowest_short_highest_with_equal_base_qty() -> None:
    # Hyperliquid's 8 h lookback is full at T (first seen at T − 7 h); before that the
    # Binance/Bybit spread (1.875 − 1.25) U × 8 = 5e-5 is below the 3e-4 entry threshold.
    decisions = run(make(), three_venue_market(), hours(T_MS - 7 * H_MS, T_MS))
    assert all(not d.intents for d in decisions[:-1])
    intent = only(decisions[-1])
    assert intent.reason == "enter"
    assert intent.opening
    # 4000 USD at the Binance price 50 000 = 0.08 BTC on both legs.
    assert legs_of(intent) == {pid("binance"): 0.08, pid("hyperliquid"): -0.08}
    position = decisions[-1].state.positions["BTC"]
    assert (position.long, position.short) == ("binance", "hyperliquid")
    assert position.entry_spread_8h_frac == pytest.approx((8 - 1.25) * U * 8, rel=1e-9)
    # Over (T, T+72h]: Hyperliquid 72 × 8 U = 5.76e-3 received; Binance 9 × 1e-4 paid;
    # minus 27 bps: (0.00486 − 0.0027) × 8760 / 72.
    assert position.entry_net_apr_frac == pytest.approx(0.00216 * 8760 / 72, rel=1e-9)
    assert decisions[-1].diagnostics["best_symbol"] == "BTC"
    json.dumps(decisions[-1].state.to_json(), allow_nan=False)


def test_quantity_rounds_down_to_the_coarser_lot_step() -> None:
    market = three_venue_market()
    market.prices = {"BTC": 30_000.0}
    market.lots = {pid("binance"): "0.001", pid("hyperliquid"): "0.01"}
    intent = only(run(make(), market, hours(T_MS - 7 * H_MS, T_MS))[-1])
    # 4000 / 30 000 = 0.1333... → 0.13 on the 0.01 step, the same on both legs.
    assert legs_of(intent) == {pid("binance"): 0.13, pid("hyperliquid"): -0.13}


def test_strategy_normalizes_one_hour_against_eight_hour_rates() -> None:
    # Hyperliquid 0.0000125/1h and Binance 0.0001/8h are the same 1.25 U/h: no spread.
    market = Market(
        steady(pid("binance"), 0.0001, H8_S) + steady(pid("hyperliquid"), 0.0000125, 3600)
    )
    strategy = make(
        FREE, venues=["binance", "hyperliquid"], entry_spread_8h_frac=1e-9, exit_spread_8h_frac=0.0
    )
    decision = run(strategy, market, hours(T_MS - 7 * H_MS, T_MS))[-1]
    assert decision.intents == ()
    assert decision.diagnostics["best_spread_8h_frac"] == pytest.approx(0.0, abs=1e-15)


def two_venue_decision(
    bybit_rate_8h: float, costs: Mapping[str, VenueCosts], **cfg: Any
) -> Decision:
    """Binance at 0 and Bybit at ``bybit_rate_8h`` per 8 h, one decision at T."""
    market = Market(steady(pid("binance"), 0.0, H8_S) + steady(pid("bybit"), bybit_rate_8h, H8_S))
    strategy = make(costs, venues=["binance", "bybit"], **cfg)
    return run(strategy, market, [T_MS])[0]


@pytest.mark.parametrize(("factor", "enters"), [(1 - 1e-6, False), (1 + 1e-6, True)])
def test_spread_threshold_edge(factor: float, enters: bool) -> None:
    # No costs: only the 0.03 %/8h spread threshold decides.
    decision = two_venue_decision(0.0003 * factor, FREE)
    assert bool(decision.intents) is enters


@pytest.mark.parametrize("min_net_apr", [0.0, 0.05])
@pytest.mark.parametrize(("factor", "enters"), [(1 - 1e-6, False), (1 + 1e-6, True)])
def test_fee_threshold_edge(min_net_apr: float, factor: float, enters: bool) -> None:
    # Entered at T (a settlement time): Bybit pays the short 9 settlements (T+8h … T+72h) of
    # r, Binance charges nothing. Break-even: 9 r = 0.0029 + min_net_apr × 72 / 8760.
    # (0.0029 / 9 = 3.22e-4 per 8 h is above the 3e-4 spread threshold: costs bind.)
    breakeven = (0.0029 + min_net_apr * 72 / 8760) / 9
    decision = two_venue_decision(breakeven * factor, COSTS, min_net_apr_frac=min_net_apr)
    assert bool(decision.intents) is enters
    assert decision.diagnostics["refused_settlement"] == 0  # naive and settled carry agree


def adverse_market(binance_rates_8h: Sequence[float]) -> Market:
    """Binance settles at N−23, N−15, N−7 h (next at N+1 h); Hyperliquid hourly N−23 … N:
    23 × 10 U then 31 U."""
    n_ms = T_MS + 7 * H_MS
    binance = settlements(pid("binance"), binance_rates_8h, T_MS - 16 * H_MS, H8_S)
    hl = settlements(pid("hyperliquid"), [10 * U] * 23 + [31 * U], n_ms - 23 * H_MS, 3600)
    return Market(binance + hl)


def test_refuses_entry_just_before_a_large_adverse_settlement() -> None:
    # Long leg Binance: −0.06 %, −0.06 %, then +0.24 %/8h (30 U/h) — about to settle again at
    # that rate in 1 h. Mean over 24 h: 0.0012 / 24 = 5 U/h. Short leg Hyperliquid: mean
    # 261/24 = 10.875 U/h, latest 31 U/h ≥ 30 U/h (not flipped). Mean spread 5.875 U/h
    # (4.7e-4 per 8 h) and the naive carry 72 × 5.875 U = 0.00423 both clear the threshold and
    # the 27 bps costs, but settlement by settlement (see the signals test) the pair expects
    # 803.125 − 560 = 243.125 U = 0.00243 < 0.0027: refused.
    n_ms = T_MS + 7 * H_MS
    strategy = make(venues=["binance", "hyperliquid"], rate_lookback_h=24.0)
    market = adverse_market([-0.0006, -0.0006, 0.0024])
    decisions = run(strategy, market, hours(n_ms - 23 * H_MS, n_ms))
    assert all(not d.intents for d in decisions)
    last = decisions[-1].diagnostics
    assert last["refused_settlement"] == 1
    assert last["best_spread_8h_frac"] == pytest.approx(5.875 * U * 8, rel=1e-9)


def test_same_spread_without_the_adverse_settlement_enters() -> None:
    # Binance flat at 0.0004/8h: the same 5 U/h mean, but its next settlement costs 40 U, not
    # 240 U: 803.125 − 9 × 40 = 443.125 U ≥ 270 U.
    n_ms = T_MS + 7 * H_MS
    strategy = make(venues=["binance", "hyperliquid"], rate_lookback_h=24.0)
    market = adverse_market([0.0004] * 3)
    decision = run(strategy, market, hours(n_ms - 23 * H_MS, n_ms))[-1]
    assert only(decision).reason == "enter"
    expected_apr = (443.125 * U - 0.0027) * 8760 / 72
    net_apr = decision.state.positions["BTC"].entry_net_apr_frac
    assert net_apr == pytest.approx(expected_apr, rel=1e-9)


def test_ranks_by_spread_and_respects_max_positions() -> None:
    # Bybit 8h rates 4, 5, 6, 7 bps against Binance 0 (no costs): the 3 widest enter.
    bases = {"BTC": 0.0004, "ETH": 0.0005, "SOL": 0.0006, "XRP": 0.0007}
    funding: list[FundingRate] = []
    for base, rate in bases.items():
        funding += steady(pid("binance", base), 0.0, H8_S) + steady(pid("bybit", base), rate, H8_S)
    market = Market(funding, prices={b: 100.0 for b in bases})
    strategy = make(FREE, venues=["binance", "bybit"], symbols=list(bases))
    decision = run(strategy, market, [T_MS])[0]
    assert [i.intent_id.split("-")[0] for i in decision.intents] == ["XRP", "SOL", "ETH"]
    assert decision.diagnostics["candidates"] == 4
    assert decision.diagnostics["best_symbol"] == "XRP"


def test_disabled_does_not_enter() -> None:
    decisions = run(make(enabled=False), three_venue_market(), hours(T_MS - 7 * H_MS, T_MS))
    assert all(not d.intents for d in decisions)


def test_stale_funding_leg_is_not_used() -> None:
    # Bybit's last settlement 24 h before T (three 8 h intervals): stale, so only Binance is
    # ready and no pair exists.
    bybit = settlements(pid("bybit"), [0.0005], T_MS - 24 * H_MS, H8_S)
    market = Market(steady(pid("binance"), 0.0, H8_S) + bybit)
    decision = run(make(venues=["binance", "bybit"]), market, [T_MS])[0]
    assert decision.intents == ()
    assert "best_spread_8h_frac" not in decision.diagnostics


# -- decide: holds, exits, unfilled entries ----------------------------------------------------


def entered_state() -> tuple[CrossVenueArbStrategy, CrossVenueArbState]:
    strategy = make()
    decision = run(strategy, three_venue_market(), hours(T_MS - 7 * H_MS, T_MS))[-1]
    assert only(decision).reason == "enter"
    return strategy, decision.state


def test_hold_reemits_the_same_qty_each_cycle() -> None:
    strategy, state = entered_state()
    for d in run(strategy, three_venue_market(), hours(T_MS + H_MS, T_MS + 3 * H_MS), state):
        intent = only(d)
        assert intent.reason == "hold"
        assert not intent.opening
        assert legs_of(intent) == {pid("binance"): 0.08, pid("hyperliquid"): -0.08}
    # Half of the long leg filled: the hold still targets 0.08 and counts as opening.
    partial = book({pid("binance"): 0.04, pid("hyperliquid"): -0.08})
    decision = strategy.decide(
        three_venue_market().snapshot(T_MS + H_MS), partial, state, T_MS + H_MS
    )
    assert only(decision).opening


def test_exit_on_spread_flip() -> None:
    strategy, state = entered_state()
    market = three_venue_market()
    # Hyperliquid's next hour settles at 1 U/h, below Binance's 1.25 U/h: flipped. The 8 h
    # mean spread stays (7 × 8 + 1)/8 − 1.25 = 5.875 U/h, so it is not a collapse.
    market.funding = [
        f
        for f in market.funding
        if not (f.instrument_id == pid("hyperliquid") and f.ts_funding_ms == T_MS + H_MS)
    ]
    market.funding += settlements(pid("hyperliquid"), [1 * U], T_MS + H_MS, 3600)
    decision = run(strategy, market, [T_MS + H_MS], state)[0]
    intent = only(decision)
    assert intent.reason == "exit_spread_flipped"
    assert not intent.opening
    assert legs_of(intent) == {pid("binance"): 0.0, pid("hyperliquid"): 0.0}
    assert [a.kind for a in decision.alerts] == ["cross_venue_spread_flip"]
    assert decision.state.positions == {}


@pytest.mark.parametrize(
    ("bybit_next", "reason"), [(0.000151, "hold"), (0.000149, "exit_spread_collapsed")]
)
def test_exit_on_spread_collapse_edge(bybit_next: float, reason: str) -> None:
    # Entered at T: Binance 0.0001, Bybit 0.0005 per 8 h (spread 4e-4; 9 × 4e-4 ≥ 29 bps).
    # At T+8h Bybit settles at bybit_next: the 8 h lookback holds only that settlement, so the
    # spread is bybit_next − 0.0001 = 5.1e-5 (hold) or 4.9e-5 (< 5e-5: collapse); Bybit's rate
    # stays above Binance's, so it is never a flip.
    bybit = settlements(pid("bybit"), [0.0005] * 26, T_MS - 200 * H_MS, H8_S)
    bybit += settlements(pid("bybit"), [bybit_next] * 5, T_MS + 8 * H_MS, H8_S)
    market = Market(steady(pid("binance"), 0.0001, H8_S) + bybit)
    strategy = make(venues=["binance", "bybit"])
    decisions = run(strategy, market, hours(T_MS, T_MS + 8 * H_MS))
    assert only(decisions[0]).reason == "enter"
    assert all(only(d).reason == "hold" for d in decisions[1:-1])
    assert only(decisions[-1]).reason == reason


def test_exit_on_max_holding_without_reentry_in_the_same_cycle() -> None:
    strategy = make(max_holding_h=10.0)
    market = three_venue_market()
    decisions = run(strategy, market, hours(T_MS - 7 * H_MS, T_MS + 11 * H_MS))
    by_time = dict(zip(hours(T_MS - 7 * H_MS, T_MS + 11 * H_MS), decisions, strict=True))
    assert only(by_time[T_MS]).reason == "enter"
    assert only(by_time[T_MS + 9 * H_MS]).reason == "hold"
    # Held 10 h: closed; the spread is still wide but the symbol is not re-entered this cycle.
    assert only(by_time[T_MS + 10 * H_MS]).reason == "exit_max_holding"
    assert by_time[T_MS + 10 * H_MS].diagnostics["entries"] == 0
    # The next cycle evaluates it afresh.
    assert only(by_time[T_MS + 11 * H_MS]).reason == "enter"


def test_drops_an_entry_that_never_filled() -> None:
    strategy = make()
    market = three_venue_market()
    decisions = run(strategy, market, hours(T_MS - 7 * H_MS, T_MS + 2 * H_MS), fill=False)
    entry, dropped, retried = decisions[-3], decisions[-2], decisions[-1]
    assert only(entry).reason == "enter"
    assert dropped.intents == ()  # neither held nor re-sent in the same cycle
    assert [a.kind for a in dropped.alerts] == ["cross_venue_arb_entry_unfilled"]
    assert dropped.state.positions == {}
    assert only(retried).reason == "enter"


def test_keeps_a_position_with_one_leg_filled() -> None:
    strategy, state = entered_state()
    one_leg = book({pid("binance"): 0.08})
    decision = strategy.decide(
        three_venue_market().snapshot(T_MS + H_MS), one_leg, state, T_MS + H_MS
    )
    # Kept (not dropped); one leg alone is a net delta of the whole position value, beyond the
    # 5 % band: its targets are re-sent as a delta rebalance.
    intent = only(decision)
    assert intent.reason == "rebalance_delta"
    assert [leg.target_qty for leg in intent.legs] == [state.positions["BTC"].qty, -0.08]
    assert [a.kind for a in decision.alerts] == ["delta_rebalance"]


def test_decide_does_not_modify_the_input_state() -> None:
    strategy, state = entered_state()
    before = copy.deepcopy(state.to_json())
    run(strategy, three_venue_market(), [T_MS + H_MS], state)
    assert state.to_json() == before


def test_settlements_recorded_once() -> None:
    market = Market(steady(pid("binance"), 0.0, H8_S) + steady(pid("bybit"), 0.0, H8_S))
    decisions = run(make(venues=["binance", "bybit"]), market, hours(T_MS, T_MS + 8 * H_MS))
    recorded = [d.diagnostics["settlements_recorded"] for d in decisions]
    assert recorded == [2, 0, 0, 0, 0, 0, 0, 0, 2]


# -- protocol and config -----------------------------------------------------------------------


def test_satisfies_strategy_protocol_and_lists_instruments() -> None:
    strategy: Strategy = make(symbols=["BTC", "ETH"])
    assert strategy.instruments() == [
        pid("binance", "BTC"),
        pid("bybit", "BTC"),
        pid("hyperliquid", "BTC"),
        pid("binance", "ETH"),
        pid("bybit", "ETH"),
        pid("hyperliquid", "ETH"),
    ]
    assert strategy.cadence_s == 3600
    assert strategy.refit_every_s is None


def test_binance_perp_is_listed_for_pricing_even_when_not_a_leg() -> None:
    strategy = make(venues=["bybit", "hyperliquid"])
    assert strategy.instruments() == [pid("binance"), pid("bybit"), pid("hyperliquid")]


def test_defaults() -> None:
    cfg = CrossVenueArbConfig()
    assert cfg.venues == ["binance", "bybit", "hyperliquid"]
    assert cfg.symbols == ["BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "AVAX", "LINK", "LTC", "TRX"]
    assert (cfg.entry_spread_8h_frac, cfg.exit_spread_8h_frac) == (0.0003, 0.00005)
    assert (cfg.holding_horizon_h, cfg.max_holding_h, cfg.rate_lookback_h) == (72, 168, 24)
    assert (cfg.position_notional_usd, cfg.max_positions, cfg.cadence_s) == (4000, 3, 3600)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"venues": ["binance"]}, "at least 2"),
        ({"venues": ["binance", "kraken"]}, "unknown venue"),
        ({"venues": ["binance", "binance"]}, "more than once"),
        ({"symbols": ["BTCUSDT"]}, "base assets"),
        ({"symbols": ["BTC", "BTC"]}, "more than once"),
        ({"symbols": [" "]}, "blank"),
        ({"exit_spread_8h_frac": 0.0003}, "must be below"),
        ({"holding_horizon_h": 0}, "greater than 0"),
        ({"min_net_apr_frac": -0.1}, "greater than or equal to 0"),
        ({"rate_lookback_settlements": 9}, "Extra inputs are not permitted"),
    ],
)
def test_config_rejects_bad_values(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        CrossVenueArbConfig(**settings)


def test_config_is_frozen() -> None:
    with pytest.raises(pydantic.ValidationError):
        CrossVenueArbConfig().max_positions = 5  # type: ignore[misc]


def test_missing_costs_are_refused() -> None:
    with pytest.raises(ValueError, match="hyperliquid"):
        CrossVenueArbStrategy(
            CrossVenueArbConfig(), {"binance": COSTS["binance"], "bybit": COSTS["bybit"]}
        )


# -- smoke run over the real bundled funding ---------------------------------------------------


def _raw_funding(venue: str, base: str) -> list[tuple[int, float, float]]:
    """(ts_ms rounded to the hour, rate, interval_h) of one raw funding file, read with csv."""
    name = base if venue == "hyperliquid" else base + "USDT"
    path = Path(bundled_data_dir()) / venue / "funding" / f"{name}.csv.gz"
    with gzip.open(path, "rt", newline="") as fh:
        rows = [(int(r["funding_time_ms"]), float(r["funding_rate"])) for r in csv.DictReader(fh)]
    ts = [(t + H_MS // 2) // H_MS * H_MS for t, _ in rows]
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    gaps = [gaps[0], *gaps]  # the first row's interval is the time to the next one
    return [(t, r, g / H_MS) for t, (_, r), g in zip(ts, rows, gaps, strict=True)]


def _independent_mean_per_hour(raw: list[tuple[int, float, float]], now_ms: int) -> float:
    window = [(r, h) for t, r, h in raw if now_ms - 24 * H_MS < t <= now_ms]
    return sum(r for r, _ in window) / sum(h for _, h in window)


@pytest.mark.slow
def test_smoke_over_real_funding_enters_with_defaults() -> None:
    cfg = CrossVenueArbConfig()
    strategy = CrossVenueArbStrategy(cfg, COSTS)
    start_ms, end_ms = 1_755_734_400_000, 1_773_946_800_000  # 2025-08-21 → 2026-03-19 19:00
    data = ReplayDataset.load(
        perp_symbols=cfg.symbols, spot_symbols=[], start_ms=start_ms, end_ms=end_ms
    )
    ids = list(strategy.instruments())
    source = {i: data.price_source(i) for i in ids}
    instruments = {i: data.instruments()[i] for i in ids}
    funding: dict[InstrumentId, FundingRate] = {}
    prices: dict[InstrumentId, float] = {}
    state = strategy.initial_state()
    entries: list[tuple[int, PairIntent, ArbPosition]] = []
    exits: list[str] = []
    for step in data.steps():
        funding.update((f.instrument_id, f) for f in step.funding)
        prices.update((i, step.closes[s]) for i, s in source.items() if s in step.closes)
        snapshot = MarketSnapshot(step.ts_ms, instruments, dict(prices), dict(funding), {})
        decision = strategy.decide(snapshot, filled(state), state, step.ts_ms)
        state = decision.state
        for intent in decision.intents:
            if intent.reason == "enter":
                base = intent.intent_id.split("-")[0]
                entries.append((step.ts_ms, intent, state.positions[base]))
            elif intent.reason != "hold":
                exits.append(intent.reason)
    assert entries, "no entry over 2025-08-21 → 2026-03-19 with default parameters"
    assert len(exits) >= len(entries) - cfg.max_positions
    for ts_ms, intent, position in entries:
        base = intent.intent_id.split("-")[0]
        means = {v: _independent_mean_per_hour(_raw_funding(v, base), ts_ms) for v in cfg.venues}
        assert position.long == min(means, key=lambda v: means[v])
        assert position.short == max(means, key=lambda v: means[v])
        spread = (means[position.short] - means[position.long]) * 8
        assert spread > cfg.entry_spread_8h_frac
        assert position.entry_spread_8h_frac == pytest.approx(spread, rel=1e-9)
        qtys = legs_of(intent)
        assert qtys[pid(position.long, base)] == -qtys[pid(position.short, base)] > 0


def test_blocked_base_is_not_entered() -> None:
    """A base the funding-flip monitor holds in cooldown is skipped like an exited one."""
    strategy, market = make(), three_venue_market()
    warmup = run(strategy, market, hours(T_MS - 7 * H_MS, T_MS - H_MS))
    state = warmup[-1].state
    blocked = PortfolioView(100_000.0, 100_000.0, {}, {}, frozenset({"BTC"}))
    assert strategy.decide(market.snapshot(T_MS), blocked, state, T_MS).intents == ()
    assert only(strategy.decide(market.snapshot(T_MS), book(), state, T_MS)).reason == "enter"
