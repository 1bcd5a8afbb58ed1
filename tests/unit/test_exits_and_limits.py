"""The exits and limits of issue 13 item 4, on the bundled data where it can show them.

Expected values are computed here from the raw CSV files (``csv`` + ``gzip``, not the
project's loader) or by hand from the SEEDS numbers, never read back from what the code
printed.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import statistics
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.engine.marketdata import MarketData
from strategies.base import MarketSnapshot, PairIntent, PortfolioView
from strategies.common import (
    adv_usd,
    flip_close_check,
    net_delta_frac,
    short_qty_cap,
    stressed_corr_scale,
)
from strategies.funding_harvester import (
    FundingHarvesterConfig,
    FundingHarvesterState,
    FundingHarvesterStrategy,
    LegCosts,
    signals,
)
from venues.model import FundingRate, Instrument, InstrumentId, InstrumentKind
from venues.replay.source import ReplayDataset

DATA = Path(__file__).parents[2] / "venues" / "replay" / "data" / "binance"
COSTS = LegCosts(spot_taker_fee_bps=10.0, perp_taker_fee_bps=5.0, slippage_bps=2.0)
H_MS = 3_600_000
H8_S = 28_800


def perp(symbol: str) -> InstrumentId:
    return InstrumentId("binance", InstrumentKind.PERP, symbol)


def spot(symbol: str) -> InstrumentId:
    return InstrumentId("binance", InstrumentKind.SPOT, symbol)


def read_klines(kind: str, symbol: str) -> list[tuple[int, float, float]]:
    """(open_time_ms, close, volume) rows of a bundled kline file."""
    with gzip.open(DATA / kind / f"{symbol}_1h.csv.gz", "rt") as f:
        rows = list(csv.DictReader(f))
    return [(int(r["open_time_ms"]), float(r["close"]), float(r["volume"])) for r in rows]


def read_funding(symbol: str) -> list[tuple[int, float]]:
    """(funding_time_ms, rate per 8h) rows of a bundled Binance funding file."""
    with gzip.open(DATA / "funding" / f"{symbol}.csv.gz", "rt") as f:
        return [(int(r["funding_time_ms"]), float(r["funding_rate"])) for r in csv.DictReader(f)]


def harvester(**overrides: Any) -> FundingHarvesterStrategy:
    settings: dict[str, Any] = {"symbols": ["BTCUSDT"], "rate_lookback_settlements": 1}
    settings.update(overrides)
    return FundingHarvesterStrategy(FundingHarvesterConfig(**settings), COSTS)


def held(state: FundingHarvesterState) -> dict[InstrumentId, float]:
    out: dict[InstrumentId, float] = {}
    for symbol, position in state.positions.items():
        out[spot(symbol)] = position.qty
        out[perp(symbol)] = -position.qty
    return out


def snap(
    ts_ms: int,
    symbol: str,
    spot_price: float,
    perp_price: float,
    rate: float | None,
    funding_ms: int,
    **extra: Any,
) -> MarketSnapshot:
    funding = {}
    if rate is not None:
        funding = {perp(symbol): FundingRate(perp(symbol), rate, H8_S, funding_ms, funding_ms)}
    return MarketSnapshot(
        ts_ms=ts_ms,
        instruments=extra.pop("instruments", {}),
        prices={spot(symbol): spot_price, perp(symbol): perp_price},
        funding=funding,
        closes=extra.pop("closes", {}),
        volumes=extra.pop("volumes", {}),
    )


def only(intents: tuple[PairIntent, ...]) -> PairIntent:
    (intent,) = intents
    return intent


# ---- volume reaches the strategies -----------------------------------------------------------


def test_replay_steps_carry_the_klines_volume_column() -> None:
    raw = {(spot("BTCUSDT"), t): v for t, _, v in read_klines("spot", "BTCUSDT")}
    raw |= {(perp("BTCUSDT"), t): v for t, _, v in read_klines("perp", "BTCUSDT")}
    dataset = ReplayDataset.load(perp_symbols=["BTCUSDT"], spot_symbols=["BTCUSDT"])
    checked = 0
    for k, step in enumerate(dataset.steps()):
        if k % 997:
            continue
        for iid, volume in step.volumes.items():
            assert volume == raw[(iid, step.ts_ms - H_MS)]  # the bar opened an hour earlier
            checked += 1
    assert checked > 20


def test_market_data_volume_history_sums_bars_pads_and_counts_missing_hours_as_zero() -> None:
    btc = perp("BTCUSDT")
    inst = Instrument(
        btc, "BTC", "USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("5"),
        Decimal(1), H8_S,
    )  # fmt: skip
    md = MarketData({btc: inst}, stale_after_ms=10 * H_MS)
    md.on_close(btc, 100.0, H_MS)  # an hour before any volume
    md.close_volumes()
    md.on_volume(btc, 2.0)  # two sub-hour bars of the second hour
    md.on_volume(btc, 3.5)
    md.on_close(btc, 101.0, 2 * H_MS)
    md.close_volumes()
    md.carry_closes(3 * H_MS)  # no bar in the third hour
    md.close_volumes()
    volumes = md.snapshot(3 * H_MS, [btc], 10).volumes[btc]
    assert np.isnan(volumes[0])
    assert volumes[1:].tolist() == [5.5, 0.0]
    assert len(volumes) == len(md.snapshot(3 * H_MS, [btc], 10).closes[btc])
    with pytest.raises(ValueError, match="volume"):
        md.on_volume(btc, -1.0)


# ---- ADV cap on shorts -----------------------------------------------------------------------


def test_adv_of_real_klines_and_the_harvester_short_capped_at_its_share() -> None:
    rows = read_klines("perp", "LTCUSDT")[:1000]
    closes = np.array([c for _, c, _ in rows])
    volumes = np.array([v for _, _, v in rows])
    expected_adv = math.fsum(c * v for _, c, v in rows[-720:]) * 24 / 720
    assert adv_usd(closes, volumes, 720) == pytest.approx(expected_adv, rel=1e-12)
    assert adv_usd(closes[:719], volumes[:719], 720) is None  # too short: unknown, no cap

    # A realistic change: a book 4,000 USD a leg on a coin whose ADV is ~1e8 USD never binds
    # at 2 %; at 2e-6 of ADV (a thin market) the short is cut to 2e-6 × ADV / price.
    frac = 2e-6
    price = float(closes[-1])
    lot = Decimal("0.001")
    inst = {
        i: Instrument(i, "LTC", "USDT", Decimal("0.01"), lot, lot, Decimal("5"), Decimal(1), H8_S)
        for i in (spot("LTCUSDT"), perp("LTCUSDT"))
    }
    strategy = harvester(
        symbols=["LTCUSDT"], max_short_adv_frac=frac, high_funding_8h_frac=1.0, adv_window_h=720
    )
    ts = rows[-1][0] + H_MS
    snapshot = snap(
        ts, "LTCUSDT", price, price, 0.0003, ts, instruments=inst,
        closes={perp("LTCUSDT"): closes}, volumes={perp("LTCUSDT"): volumes},
    )  # fmt: skip
    decision = strategy.decide(snapshot, PortfolioView(1e5, 1e5, {}), strategy.initial_state(), ts)
    entry = only(decision.intents)
    cap = frac * expected_adv / price
    want = float((Decimal(repr(cap)) / lot).to_integral_value(rounding=ROUND_DOWN) * lot)
    assert [leg.target_qty for leg in entry.legs] == [want, -want]
    assert want < 4000.0 / price
    (alert,) = [a for a in decision.alerts if a.kind == "short_adv_cap"]
    assert alert.fields["adv_usd"] == pytest.approx(expected_adv, rel=1e-12)
    assert alert.fields["cap_qty"] == pytest.approx(cap, rel=1e-12)


def test_short_qty_cap_by_hand() -> None:
    assert short_qty_cap(5e7, 100.0, 0.02) == pytest.approx(10_000.0)  # 2 % of 50 M / 100
    with pytest.raises(ValueError, match="price"):
        short_qty_cap(5e7, 0.0, 0.02)


# ---- stressed correlation --------------------------------------------------------------------


def test_stressed_correlation_scale_is_the_seed_example() -> None:
    # Equal ±1 weights and vols, ρ 0.8 → 0.4: σ² 2(1 − 0.8) = 0.4 → 2(1 − 0.4) = 1.2.
    assert stressed_corr_scale((1.0, -1.0), (0.01, 0.01), 0.8, 0.4) == pytest.approx(
        math.sqrt(0.4 / 1.2), rel=1e-12
    )
    # A measured correlation already below the stressed one: no enlargement.
    assert stressed_corr_scale((1.0, -1.0), (0.01, 0.01), 0.2, 0.4) == 1.0
    with pytest.raises(ValueError, match="corr"):
        stressed_corr_scale((1.0, -1.0), (0.01, 0.01), 1.2, 0.4)


# ---- the harvester's fee-aware flip exit (the monitor's rule) -----------------------------


def run_adverse(strategy: FundingHarvesterStrategy, rate: float) -> Any:
    """Enter BTC at 0.0003/8h, then three adverse settlements of ``rate``: the last decision."""
    state = strategy.initial_state()
    decision = strategy.decide(
        snap(0, "BTCUSDT", 100.0, 100.0, 0.0003, 0), PortfolioView(1e5, 1e5, {}), state, 0
    )
    for k in (1, 2, 3):
        ts = k * 8 * H_MS
        view = PortfolioView(1e5, 1e5, held(decision.state))
        decision = strategy.decide(
            snap(ts, "BTCUSDT", 100.0, 100.2, rate, ts), view, decision.state, ts
        )
    return decision


def test_flip_exit_holds_when_closing_costs_more_than_the_adverse_funding() -> None:
    decision = run_adverse(harvester(flip_exit_settlements=3), -0.0001)
    assert only(decision.intents).reason == "hold"
    (hold,) = [a for a in decision.alerts if a.kind == "funding_flip_hold"]
    qty = 4000.0 / 100.0
    # 0.0001/8h over 24 h on the perp notional vs spot 12 bps + perp 7 bps of the legs.
    assert hold.fields["expected_adverse_usd"] == pytest.approx(0.0001 / 8 * 24 * qty * 100.2)
    assert hold.fields["close_cost_usd"] == pytest.approx(qty * 100 * 12e-4 + qty * 100.2 * 7e-4)


def test_flip_exit_closes_when_the_adverse_funding_outweighs_the_close() -> None:
    decision = run_adverse(harvester(flip_exit_settlements=3), -0.001)  # 0.3 % over 24 h
    assert only(decision.intents).reason == "exit_funding_flip"
    (close,) = [a for a in decision.alerts if a.kind == "funding_flip_close"]
    assert close.fields["expected_adverse_usd"] > close.fields["close_cost_usd"]


def test_flip_close_check_is_one_rule_for_both_callers() -> None:
    check = flip_close_check([(-1e-5, 1000.0)], 24.0, [(1000.0, 7.0), (1000.0, 12.0)])
    assert (check.expected_adverse_usd, check.close_cost_usd) == pytest.approx((0.24, 1.9))
    assert not check.close


# ---- basis converged ---------------------------------------------------------------------


def test_basis_converged_exit_takes_the_compression_net_of_the_round_trip() -> None:
    strategy = harvester()
    # Enter at the seed's premium scaled up: spot 95,000, perp +0.6 %.
    enter = strategy.decide(
        snap(0, "BTCUSDT", 95_000.0, 95_570.0, 0.0003, 0),
        PortfolioView(1e5, 1e5, {}),
        strategy.initial_state(),
        0,
    )
    state = enter.state
    assert state.positions["BTCUSDT"].entry_basis_frac == pytest.approx(0.006)
    view = PortfolioView(1e5, 1e5, held(state))
    cost = signals.round_trip_cost_frac(COSTS)  # 38 bps
    # Basis 0.25 %: above 0.25 × 0.6 % = 0.15 %: held.
    kept = strategy.decide(snap(H_MS, "BTCUSDT", 95_000.0, 95_237.5, None, 0), view, state, H_MS)
    assert only(kept.intents).reason == "hold"
    # Basis 0.1 %: converged, compression 0.5 % > 0.38 %: taken.
    taken = strategy.decide(snap(H_MS, "BTCUSDT", 95_000.0, 95_095.0, None, 0), view, state, H_MS)
    assert only(taken.intents).reason == "exit_basis_converged"
    (alert,) = [a for a in taken.alerts if a.kind == "basis_converged"]
    assert alert.fields["round_trip_cost_frac"] == pytest.approx(cost)
    assert alert.fields["basis_frac"] == pytest.approx(0.001)
    # Same convergence from a 0.4 % entry: compression 0.3 % does not pay the 0.38 % trip.
    assert not signals.basis_converged(0.004, 0.001, 0.25, cost)
    assert not signals.basis_converged(-0.001, -0.005, 0.25, cost)  # negative entry: never


# ---- funding normalized, on the bundled DOGEUSDT funding -----------------------------------


def test_funding_normalized_exit_on_real_xrpusdt_funding() -> None:
    """The bundled XRPUSDT funding of Nov 2024: entered with the latest rate above 0.05 %/8h
    (defaults), closed at the first settlement whose 3-rate carry is back at 1.5 × the
    trailing median recorded at entry."""
    closes = {t + H_MS: c for t, c, _ in read_klines("perp", "XRPUSDT")}
    fed = [(t, r) for t, r in read_funding("XRPUSDT") if t - t % H_MS in closes]
    cfg: dict[str, Any] = {
        "symbols": ["XRPUSDT"],
        "rate_lookback_settlements": 3,
        "min_net_apr_frac": 0.25,
        "max_positions": 1,
    }
    strategy = harvester(**cfg)
    state = strategy.initial_state()
    entry_k = -1
    exits: list[tuple[int, int, dict[str, Any]]] = []
    for k, (ts, rate) in enumerate(fed):
        price = closes[ts - ts % H_MS]
        view = PortfolioView(1e5, 1e5, held(state))
        decision = strategy.decide(snap(ts, "XRPUSDT", price, price, rate, ts), view, state, ts)
        for intent in decision.intents:
            if intent.reason == "enter" and decision.state.positions["XRPUSDT"].high_funding:
                entry_k = k
            if intent.reason == "exit_funding_normalized":
                (alert,) = [a for a in decision.alerts if a.kind == "funding_normalized"]
                exits.append((entry_k, k, dict(alert.fields)))
        state = decision.state
    assert exits, "no high-funding entry normalized on the bundled XRPUSDT funding"
    per_h = [r / 8 for _, r in fed]
    for entry_k, exit_k, fields in exits:
        assert fed[entry_k][1] > 0.0005  # entered on an unusually high rate
        normal = statistics.median(per_h[max(0, entry_k - 89) : entry_k + 1])
        assert fields["normal_rate_per_hour"] == pytest.approx(normal, rel=1e-12)
        level = 1.5 * max(normal, 0.0)

        def carry(j: int) -> float:
            return sum(per_h[j - 2 : j + 1]) / 3

        assert carry(exit_k) <= level
        assert all(carry(j) > level for j in range(entry_k + 1, exit_k))  # the first time


# ---- |delta| > 5 % rebalance -----------------------------------------------------------------


def test_delta_rebalance_beyond_five_percent_only() -> None:
    strategy = harvester()
    enter = strategy.decide(
        snap(0, "BTCUSDT", 100.0, 100.0, 0.0003, 0),
        PortfolioView(1e5, 1e5, {}),
        strategy.initial_state(),
        0,
    )
    state = enter.state
    qty = state.positions["BTCUSDT"].qty  # 40
    # The perp leg 4 % short of target: net delta 1.6 of ~39.2 mean leg value → 4.08 %: hold,
    # carrying the 5 % band as its drift threshold.
    within = {spot("BTCUSDT"): qty, perp("BTCUSDT"): -qty * 0.96}
    kept = strategy.decide(
        snap(H_MS, "BTCUSDT", 100.0, 100.0, None, 0), PortfolioView(1e5, 1e5, within), state, H_MS
    )
    intent = only(kept.intents)
    assert (intent.reason, intent.drift_frac) == ("hold", 0.05)
    # 7 % short: delta 2.8 / 38.6 = 7.25 %: rebalanced at the global threshold, alerted.
    beyond = {spot("BTCUSDT"): qty, perp("BTCUSDT"): -qty * 0.93}
    moved = strategy.decide(
        snap(H_MS, "BTCUSDT", 100.0, 100.0, None, 0), PortfolioView(1e5, 1e5, beyond), state, H_MS
    )
    intent = only(moved.intents)
    assert (intent.reason, intent.drift_frac) == ("rebalance_delta", None)
    (alert,) = [a for a in moved.alerts if a.kind == "delta_rebalance"]
    delta = qty * 100 - qty * 0.93 * 100
    assert alert.fields["net_delta_usd"] == pytest.approx(delta)
    assert alert.fields["net_delta_frac"] == pytest.approx(delta / ((qty + qty * 0.93) * 50))
    assert net_delta_frac([]) == (0.0, 0.0)


def test_a_high_rate_without_a_lower_history_is_an_ordinary_entry() -> None:
    """0.1 %/8h settled twice: above 0.05 %/8h, but its trailing median is itself, so funding
    has nothing to normalize to — an ordinary entry (else it would exit at once)."""
    strategy = harvester()
    state = strategy.initial_state()
    view = PortfolioView(1e5, 1e5, {})
    first = strategy.decide(snap(0, "BTCUSDT", 100.0, 100.0, 0.001, 0), view, state, 0)
    assert not first.state.positions["BTCUSDT"].high_funding
    # With a history at 0.01 %/8h, the same rate is unusual: median 0.01 %/8h recorded.
    strategy = harvester(rate_lookback_settlements=1, max_positions=1)
    state = strategy.initial_state()
    for k in range(5):
        ts = k * 8 * H_MS
        state = strategy.decide(
            snap(ts, "BTCUSDT", 100.0, 100.0, 0.00001, ts), view, state, ts
        ).state
    ts = 5 * 8 * H_MS
    entered = strategy.decide(snap(ts, "BTCUSDT", 100.0, 100.0, 0.001, ts), view, state, ts)
    position = entered.state.positions["BTCUSDT"]
    assert position.normal_rate_per_hour == pytest.approx(0.00001 / 8)
    assert position.entry_rate_per_hour == pytest.approx(0.001 / 8)
    again = FundingHarvesterState.from_json(json.loads(entered.state.to_json()))  # version 2
    assert again == entered.state
    assert json.loads(entered.state.to_json())["version"] == 2
