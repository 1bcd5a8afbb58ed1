"""Tests of the stat-arb config and strategy on hand-built snapshots and real closes."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import statsmodels.api as sm
from pydantic import ValidationError
from statsmodels.tsa.stattools import coint

from strategies.base import Decision, MarketSnapshot, PairIntent, PortfolioView
from strategies.stat_arb.config import DEFAULT_SYMBOLS, StatArbConfig
from strategies.stat_arb.state import StatArbState
from strategies.stat_arb.strategy import StatArbStrategy
from tests.unit.test_stat_arb_signals import load_fixture_closes
from venues.model import HOUR_MS, InstrumentId, InstrumentKind

NOW_MS = 1_750_000_000_000
CAL = 60  # calibration bars in the hand-built cases
BETA_WINDOW = 30


def iid(symbol: str) -> InstrumentId:
    return InstrumentId("binance", InstrumentKind.PERP, symbol)


def small_config(**overrides: Any) -> StatArbConfig:
    base: dict[str, Any] = {
        "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"],
        "calibration_bars": CAL,
        "beta_window_bars": BETA_WINDOW,
        "beta_min_obs": 20,
        "max_pairs": 2,
    }
    return StatArbConfig(**{**base, **overrides})


def snapshot_of(
    closes: dict[str, np.ndarray], stale: frozenset[str] = frozenset()
) -> MarketSnapshot:
    return MarketSnapshot(
        ts_ms=NOW_MS,
        instruments={},
        prices={iid(s): float(c[-1]) for s, c in closes.items()},
        funding={},
        closes={iid(s): c for s, c in closes.items()},
        stale=frozenset(iid(s) for s in stale),
    )


FLAT = PortfolioView(equity_usd=100_000.0, strategy_capital_usd=50_000.0, positions={})


def z_of(log_a: np.ndarray, log_b: np.ndarray, gamma: float) -> float:
    """Independent z-score: last spread value vs the last CAL values, sample std."""
    s = (log_a - gamma * log_b)[-CAL:]
    return float((s[-1] - s.mean()) / s.std(ddof=1))


def beta_of(closes: np.ndarray, market: np.ndarray) -> float:
    """Independent beta over the last BETA_WINDOW log returns."""
    r = np.diff(np.log(closes))[-BETA_WINDOW:]
    m = np.diff(np.log(market))[-BETA_WINDOW:]
    return float(np.cov(r, m)[0, 1] / np.var(m, ddof=1))


def market_closes(
    target_z: float, n: int = CAL + 1, sol_beta: float = 1.0, gamma: float = 1.0
) -> dict[str, np.ndarray]:
    """BTC, SOL (beta ≈ sol_beta to BTC), ETH = SOL × 30 × exp(spread), XRP unrelated.

    The spread ``log ETH − log SOL`` is small noise whose last value is set (by bisection)
    so that its z-score over the last CAL bars equals ``target_z``.
    """
    rng = np.random.default_rng(11)
    log_btc = math.log(50_000.0) + np.cumsum(rng.normal(0, 0.01, n))
    log_sol = (
        math.log(100.0) + sol_beta * (log_btc - log_btc[0]) + np.cumsum(rng.normal(0, 0.004, n))
    )
    spread = rng.normal(0, 0.01, n)
    lo, hi = -1.0, 1.0
    for _ in range(200):  # z is increasing in the last spread value
        spread[-1] = (lo + hi) / 2
        if z_of(spread, np.zeros(n), 1.0) < target_z:
            lo = spread[-1]
        else:
            hi = spread[-1]
    log_eth = gamma * log_sol + math.log(30.0) + spread
    log_xrp = math.log(2.0) + np.cumsum(rng.normal(0, 0.01, n))
    return {
        "BTCUSDT": np.exp(log_btc),
        "ETHUSDT": np.exp(log_eth),
        "SOLUSDT": np.exp(log_sol),
        "XRPUSDT": np.exp(log_xrp),
    }


def candidate(a: str = "ETHUSDT", b: str = "SOLUSDT") -> dict[str, Any]:
    return {
        "a": a,
        "b": b,
        "hedge_ratio": 1.0,
        "intercept": math.log(30.0),
        "adf_stat": -4.0,
        "p_value": 0.01,
        "half_life_bars": 10.0,
        "lags": 1,
    }


def fitted_state(pairs: list[dict[str, Any]] | None = None, open_: dict | None = None) -> dict:
    fit = {
        "fitted_at_ms": NOW_MS - HOUR_MS,
        "n_tested": 6,
        "n_qualified": 1,
        "excluded": {},
        "pairs": [candidate()] if pairs is None else pairs,
    }
    return {"fit": fit, "open": open_ or {}}


def open_record(direction: int = 1, age_h: int = 1, retire: bool = False) -> dict[str, Any]:
    return {
        "a": "ETHUSDT",
        "b": "SOLUSDT",
        "direction": direction,
        "entry_z": -2.5 * direction,
        "entry_ms": NOW_MS - age_h * HOUR_MS,
        "qty_a": 1.0,
        "qty_b": 30.0,
        "hedge_ratio": 1.0,
        "intercept": math.log(30.0),
        "beta_a": 1.0,
        "beta_b": 1.0,
        "retire": retire,
    }


def typed(state: dict[str, Any]) -> StatArbState:
    """The typed state of a version-1 JSON layout (what a journal holds)."""
    return StatArbState.from_json(state)


def decide(
    state: dict, closes: dict[str, np.ndarray], config: StatArbConfig | None = None
) -> Decision[StatArbState]:
    strategy = StatArbStrategy(config or small_config())
    given = typed(state)
    decision = strategy.decide(snapshot_of(closes), holding(state), given, NOW_MS)
    assert given.to_json() == state, "decide mutated its input state"
    json.dumps(decision.state.to_json(), allow_nan=False)  # JSON-able, finite numbers only
    return decision


def holding(state: dict) -> PortfolioView:
    """A portfolio holding the legs of every open pair in ``state`` (entries that filled)."""
    positions: dict[InstrumentId, float] = {}
    for record in state.get("open", {}).values():
        d = int(record["direction"])
        positions[iid(record["a"])] = d * float(record["qty_a"])
        positions[iid(record["b"])] = -d * float(record["qty_b"])
    return PortfolioView(equity_usd=100_000.0, strategy_capital_usd=50_000.0, positions=positions)


def legs(intent: PairIntent) -> dict[str, float]:
    return {leg.instrument_id.symbol: leg.target_qty for leg in intent.legs}


# ------------------------------------------------------------------------------- config


def test_config_defaults_follow_the_brief() -> None:
    c = StatArbConfig()
    assert c.symbols == DEFAULT_SYMBOLS
    assert len(c.symbols) == 12
    assert (c.entry_z, c.exit_z, c.stop_z, c.p_value_max) == (2.0, 0.5, 3.5, 0.05)
    assert (c.calibration_bars, c.max_pairs, c.retest_every_h, c.max_holding_h) == (
        252,
        3,
        168,
        240,
    )
    assert all(f.description for f in StatArbConfig.model_fields.values())


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"exit_z": 2.0}, "exit_z < entry_z < stop_z"),
        ({"stop_z": 1.5}, "exit_z < entry_z < stop_z"),
        ({"market_symbol": "TONUSDT"}, "market_symbol"),
        ({"symbols": ["BTCUSDT", "BTCUSDT"]}, "more than once"),
        ({"half_life_min_bars": 200}, "half_life_min_bars"),
        ({"beta_min_obs": 100}, "beta_min_obs"),
        ({"surprise": 1}, "Extra inputs"),
        ({"leg_notional_usd": 0}, "greater than 0"),
    ],
)
def test_config_rejects_bad_values(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        StatArbConfig(**overrides)


def test_strategy_declares_its_needs() -> None:
    s = StatArbStrategy(StatArbConfig())
    assert s.name == "stat_arb"
    assert s.cadence_s == 3600
    assert s.refit_every_s == 168 * 3600
    assert s.history_bars == 253  # adv_window_h (168) of the short leg's ADV fits within
    assert s.instruments()[0] == iid("BTCUSDT")
    assert len(s.instruments()) == 12


# ------------------------------------------------------------------------------- entries


def test_no_intents_before_the_first_fit() -> None:
    closes = market_closes(-2.5)
    decision = decide({"fit": None, "open": {}}, closes)
    assert decision.intents == ()


@pytest.mark.parametrize(
    ("threshold", "want"), [(1e-9, 0.005), (0.5, 0.012), (0.0, None)]
)  # fmt: skip
def test_entry_carries_the_pairs_drift_class(threshold: float, want: float | None) -> None:
    """The spread's hourly volatility (std of ΔS over the calibration window, computed here)
    against drift_noisy_spread_vol_h_frac picks the intent's drift_frac (0: the global one)."""
    closes = market_closes(-2.5)
    spread = np.log(closes["ETHUSDT"][-CAL:]) - np.log(closes["SOLUSDT"][-CAL:])
    vol = float(np.std(np.diff(spread), ddof=1))
    assert 1e-9 < vol < 0.5
    config = small_config(drift_noisy_spread_vol_h_frac=threshold)
    decision = decide(fitted_state(pairs=[candidate()]), closes, config)
    (intent,) = decision.intents
    assert intent.drift_frac == want
    (sizing,) = [a for a in decision.alerts if a.kind == "stat_arb_entry_sizing"]
    assert sizing.fields["spread_vol_h"] == pytest.approx(vol, rel=1e-9)


@pytest.mark.parametrize(
    ("target_z", "direction", "gamma"), [(-2.5, 1, 1.0), (2.5, -1, 1.0), (-2.5, 1, 1.6)]
)
def test_entry_holds_the_traded_spread(target_z: float, direction: int, gamma: float) -> None:
    closes = market_closes(target_z, gamma=gamma)
    decision = decide(fitted_state(pairs=[{**candidate(), "hedge_ratio": gamma}]), closes)
    (intent,) = decision.intents
    assert intent.reason == "enter"
    assert intent.opening
    assert intent.intent_id == f"ETHUSDT-SOLUSDT-{NOW_MS}"
    qty = legs(intent)
    price = {s: float(c[-1]) for s, c in closes.items()}
    notional = {s: q * price[s] for s, q in qty.items()}
    # Dollar notional of B = γ × that of A, opposite sides: the position is N_A·(log A − γ log B).
    assert notional["SOLUSDT"] == pytest.approx(-gamma * notional["ETHUSDT"], rel=1e-12)
    assert np.sign(qty["ETHUSDT"]) == direction
    # The larger leg carries leg_notional_usd (B when γ > 1) times the stressed-correlation
    # scale σ(ρ)/σ(0.4) of the legs' hourly log returns over the calibration window.
    ra = np.diff(np.log(closes["ETHUSDT"][-CAL:]))
    rb = np.diff(np.log(closes["SOLUSDT"][-CAL:]))
    sa, sb, rho = np.std(ra, ddof=1), np.std(rb, ddof=1), np.corrcoef(ra, rb)[0, 1]
    wa = direction * 3000.0 / max(1.0, abs(gamma))
    wb = -gamma * wa

    def var(r: float) -> float:
        return float(wa**2 * sa**2 + wb**2 * sb**2 + 2 * r * wa * wb * sa * sb)

    scale = min(1.0, math.sqrt(var(rho) / var(0.4)))
    assert max(abs(n) for n in notional.values()) == pytest.approx(3000.0 * scale, rel=1e-9)
    (sizing,) = [a for a in decision.alerts if a.kind == "stat_arb_entry_sizing"]
    assert sizing.fields["stress_scale"] == pytest.approx(scale, abs=1e-6)
    record = decision.state.open["ETHUSDT-SOLUSDT"]
    assert record.direction == direction
    assert record.entry_z == pytest.approx(
        z_of(np.log(closes["ETHUSDT"]), np.log(closes["SOLUSDT"]), gamma)
    )
    assert record.entry_z == pytest.approx(target_z, abs=1e-6)
    assert decision.diagnostics["open_pairs"] == 1
    # The residual beta exposure left to the beta hedger: d·(β_A N_A − β_B N_B) at entry betas.
    beta = {s: beta_of(closes[s], closes["BTCUSDT"]) for s in ("ETHUSDT", "SOLUSDT")}
    exposure = sum(notional[s] * beta[s] for s in notional)
    assert decision.diagnostics["beta_exposure_usd"] == pytest.approx(exposure, abs=0.01)
    assert record.watch is not None  # the health watch starts at entry


@pytest.mark.parametrize("target_z", [-1.9, 1.9, -3.6, 3.6])
def test_no_entry_inside_entry_band_or_beyond_stop(target_z: float) -> None:
    decision = decide(fitted_state(), market_closes(target_z))
    assert decision.intents == ()
    assert decision.state.open == {}
    assert decision.diagnostics["z:ETHUSDT-SOLUSDT"] == pytest.approx(target_z, abs=1e-5)


def test_no_entry_when_a_beta_is_too_low() -> None:
    closes = market_closes(-2.5, sol_beta=0.0)
    assert beta_of(closes["SOLUSDT"], closes["BTCUSDT"]) <= 0.1  # precondition
    decision = decide(fitted_state(), closes)
    assert decision.intents == ()
    (alert,) = decision.alerts
    assert alert.kind == "stat_arb_beta_unusable"
    assert alert.fields["pair"] == "ETHUSDT-SOLUSDT"


def test_no_entry_when_betas_are_unknown() -> None:
    closes = market_closes(-2.5)
    closes["BTCUSDT"][-5] = np.nan  # market unusable → every beta unknown, never 1.0
    decision = decide(fitted_state(), closes)
    assert decision.intents == ()
    (alert,) = decision.alerts
    assert alert.fields["beta_ETHUSDT"] == "unknown"


def _held_pair(a: str, b: str, closes: dict[str, np.ndarray]) -> dict[str, Any]:
    """An open (a, b) record whose direction makes it neither exit nor stop (|z| > 0)."""
    z = z_of(np.log(closes[a]), np.log(closes[b]), 1.0)
    return {**open_record(direction=1 if z < 0 else -1), "a": a, "b": b}


def test_no_entry_when_slots_or_symbols_are_taken() -> None:
    closes = market_closes(-2.5)
    # BTC-XRP is unrelated noise: its health watch would retire it; this test is about slots.
    wide = small_config(max_pairs=1, stop_z=100.0, exit_z=0.0, health_check=False)
    # BTC-XRP is open; max_pairs 1 leaves no slot for ETH-SOL.
    state = fitted_state(open_={"BTCUSDT-XRPUSDT": _held_pair("BTCUSDT", "XRPUSDT", closes)})
    full = decide(state, closes, wide)
    assert [(i.intent_id, i.reason) for i in full.intents] == [
        (f"BTCUSDT-XRPUSDT-{NOW_MS}", "hold")
    ]
    # With a free slot ETH-SOL enters: the same set-up is otherwise valid.
    roomy = decide(
        state, closes, small_config(max_pairs=2, stop_z=100.0, exit_z=0.0, health_check=False)
    )
    assert sorted(i.reason for i in roomy.intents) == ["enter", "hold"]
    # A candidate sharing SOL with an open pair is skipped even with free slots.
    state = fitted_state(open_={"SOLUSDT-XRPUSDT": _held_pair("SOLUSDT", "XRPUSDT", closes)})
    shared = decide(
        state, closes, small_config(max_pairs=2, stop_z=100.0, exit_z=0.0, health_check=False)
    )
    assert [i.intent_id for i in shared.intents] == [f"SOLUSDT-XRPUSDT-{NOW_MS}"]
    assert "ETHUSDT-SOLUSDT" not in shared.state.open


def test_stale_leg_blocks_entry() -> None:
    closes = market_closes(-2.5)
    strategy = StatArbStrategy(small_config())
    decision = strategy.decide(
        snapshot_of(closes, stale=frozenset({"SOLUSDT"})), FLAT, typed(fitted_state()), NOW_MS
    )
    assert decision.intents == ()


# -------------------------------------------------------------------------- open pairs


def test_hold_re_emits_targets_holding_the_spread() -> None:
    closes = market_closes(-1.5)
    # Betas 2 and 1: beta-neutral sizing would differ from the spread's γ = 1 sizing.
    record = {**open_record(), "qty_b": 20.0, "beta_a": 2.0}  # far outside the resize band
    decision = decide(fitted_state(open_={"ETHUSDT-SOLUSDT": record}), closes)
    (intent,) = decision.intents
    assert intent.reason == "hold"
    qty = legs(intent)
    assert qty["ETHUSDT"] == 1.0  # qty_a fixed at entry
    price = {s: float(c[-1]) for s, c in closes.items()}
    # N_B = γ N_A at the current prices (γ = 1.0 in open_record), whatever the betas.
    expected_b = 1.0 * 1.0 * price["ETHUSDT"] / price["SOLUSDT"]
    assert qty["SOLUSDT"] == pytest.approx(-expected_b, rel=1e-9)
    assert decision.state.open["ETHUSDT-SOLUSDT"].qty_b == pytest.approx(expected_b, rel=1e-9)


def test_hold_keeps_leg_b_inside_the_resize_band() -> None:
    closes = market_closes(-1.5)
    price = {s: float(c[-1]) for s, c in closes.items()}
    neutral_b = price["ETHUSDT"] / price["SOLUSDT"]  # γ = 1.0: N_B = N_A
    inside = {**open_record(), "qty_b": neutral_b * 1.04}  # 4 % off: inside the 5 % band
    (intent,) = decide(fitted_state(open_={"ETHUSDT-SOLUSDT": inside}), closes).intents
    assert legs(intent)["SOLUSDT"] == -neutral_b * 1.04
    outside = {**open_record(), "qty_b": neutral_b * 1.06}
    (intent,) = decide(fitted_state(open_={"ETHUSDT-SOLUSDT": outside}), closes).intents
    assert legs(intent)["SOLUSDT"] == pytest.approx(-neutral_b, rel=1e-9)


def test_entry_refused_earlier_is_dropped_not_resent() -> None:
    closes = market_closes(-1.5)
    state = fitted_state(open_={"ETHUSDT-SOLUSDT": open_record(age_h=1)})
    strategy = StatArbStrategy(small_config())
    decision = strategy.decide(snapshot_of(closes), FLAT, typed(state), NOW_MS)
    assert "ETHUSDT-SOLUSDT" not in decision.state.open
    assert [a.kind for a in decision.alerts] == ["stat_arb_entry_unfilled"]
    assert all(i.reason != "hold" for i in decision.intents)
    # Entered this very cycle: not judged yet (execution runs after decide).
    fresh = fitted_state(open_={"ETHUSDT-SOLUSDT": open_record(age_h=0)})
    decision = strategy.decide(snapshot_of(closes), FLAT, typed(fresh), NOW_MS)
    assert "ETHUSDT-SOLUSDT" in decision.state.open


@pytest.mark.parametrize(
    ("direction", "target_z", "age_h", "retire", "reason"),
    [
        (1, -0.3, 1, False, "exit_mean_reverted"),
        (1, 1.0, 1, False, "exit_mean_reverted"),  # overshoot past the mean
        (-1, 0.3, 1, False, "exit_mean_reverted"),
        (1, -3.8, 1, False, "exit_stop_loss"),
        (-1, 3.8, 1, False, "exit_stop_loss"),
        (1, -1.5, 240, False, "exit_max_holding"),
        (1, -1.5, 1, True, "exit_retired"),
        (1, -3.8, 240, True, "exit_stop_loss"),  # stop wins over the other reasons
    ],
)
def test_exits(direction: int, target_z: float, age_h: int, retire: bool, reason: str) -> None:
    state = fitted_state(pairs=[], open_={"ETHUSDT-SOLUSDT": open_record(direction, age_h, retire)})
    decision = decide(state, market_closes(target_z))
    (intent,) = decision.intents
    assert intent.reason == reason
    assert not intent.opening
    assert legs(intent) == {"ETHUSDT": 0.0, "SOLUSDT": 0.0}
    assert decision.state.open == {}


@pytest.mark.parametrize(
    ("direction", "target_z", "age_h"), [(1, -1.5, 239), (-1, 1.5, 1), (1, -3.4, 1)]
)
def test_holds_between_thresholds(direction: int, target_z: float, age_h: int) -> None:
    state = fitted_state(pairs=[], open_={"ETHUSDT-SOLUSDT": open_record(direction, age_h)})
    (intent,) = decide(state, market_closes(target_z)).intents
    assert intent.reason == "hold"
    assert intent.opening
    assert legs(intent)["ETHUSDT"] == direction * 1.0


def test_missing_data_keeps_open_pair_and_alerts() -> None:
    closes = market_closes(-1.5)
    del closes["SOLUSDT"]
    state = fitted_state(pairs=[], open_={"ETHUSDT-SOLUSDT": open_record()})
    decision = decide(state, closes)
    assert decision.intents == ()
    assert decision.state.to_json()["open"] == state["open"]
    assert [a.kind for a in decision.alerts] == ["stat_arb_data_missing"]


def test_exit_then_no_reentry_in_same_cycle() -> None:
    # A short spread that overshot to z = −2.5 exits as mean reverted; the same z would be a
    # long-spread entry, but a pair exiting this cycle must not re-enter in the same cycle.
    state = fitted_state(open_={"ETHUSDT-SOLUSDT": open_record(direction=-1)})
    decision = decide(state, market_closes(-2.5))
    assert [i.reason for i in decision.intents] == ["exit_mean_reverted"]
    assert decision.state.open == {}
    assert decide(fitted_state(), market_closes(-2.5)).intents[0].reason == "enter"


# -------------------------------------------------------------------------------- refit


def _independent_selection(log_panel: np.ndarray, p_max: float) -> list[tuple[int, int]]:
    """Selection rebuilt from statsmodels coint + OLS half-life, one pair per asset."""
    rows = []
    for i in range(log_panel.shape[1]):
        for j in range(i + 1, log_panel.shape[1]):
            y, x = log_panel[:, i], log_panel[:, j]
            stat, pvalue, _ = coint(y, x)
            resid = sm.OLS(y, sm.add_constant(x)).fit().resid
            b = sm.OLS(np.diff(resid), sm.add_constant(resid[:-1])).fit().params[1]
            half_life = math.log(2) / -b if b < 0 else math.inf
            if pvalue < p_max and 5 < half_life < 120:
                rows.append((stat, i, j))
    chosen, used = [], set()
    for _, i, j in sorted(rows):
        if i not in used and j not in used:
            chosen.append((i, j))
            used.update((i, j))
    return chosen[:3]


def test_refit_on_real_closes_matches_independent_selection() -> None:
    symbols, closes = load_fixture_closes()
    config = StatArbConfig(symbols=symbols, calibration_bars=720, p_value_max=0.1)
    strategy = StatArbStrategy(config)
    snapshot = snapshot_of({s: closes[:, k] for k, s in enumerate(symbols)})
    state = strategy.refit(snapshot, strategy.initial_state(), NOW_MS)
    json.dumps(state.to_json(), allow_nan=False)
    expected = _independent_selection(np.log(closes), p_max=0.1)
    assert len(expected) >= 2  # the fixture window has cointegrated pairs
    assert state.fit is not None
    got = [(p.a, p.b) for p in state.fit.pairs]
    assert got == [(symbols[i], symbols[j]) for i, j in expected]
    assert state.fit.n_tested == 15
    assert state.fit.fitted_at_ms == NOW_MS


def test_refit_retires_open_pairs_that_no_longer_qualify() -> None:
    symbols, closes = load_fixture_closes()
    config = StatArbConfig(symbols=symbols, calibration_bars=720, p_value_max=0.1)
    strategy = StatArbStrategy(config)
    snapshot = snapshot_of({s: closes[:, k] for k, s in enumerate(symbols)})
    keep = {**open_record(), "a": "BNBUSDT", "b": "DOGEUSDT"}  # p ≈ 0.02, half-life ≈ 18
    drop = {**open_record(), "a": "BTCUSDT", "b": "ETHUSDT"}  # p ≈ 0.91
    state = {"fit": None, "open": {"BNBUSDT-DOGEUSDT": keep, "BTCUSDT-ETHUSDT": drop}}
    new = strategy.refit(snapshot, typed(state), NOW_MS)
    assert new.open["BNBUSDT-DOGEUSDT"].retire is False
    assert new.open["BTCUSDT-ETHUSDT"].retire is True
    # BNB and DOGE are busy, so the best pair BNB-XRP is not a candidate; BTC-SOL is.
    assert new.fit is not None
    assert [(p.a, p.b) for p in new.fit.pairs] == [("BTCUSDT", "SOLUSDT")]


def test_refit_excludes_unusable_symbols() -> None:
    closes = market_closes(0.0, n=CAL + 1)
    closes["XRPUSDT"] = closes["XRPUSDT"][-10:]
    closes["SOLUSDT"] = np.full(CAL + 1, 100.0)
    strategy = StatArbStrategy(small_config())
    state = strategy.refit(snapshot_of(closes), strategy.initial_state(), NOW_MS)
    assert state.fit is not None
    assert state.fit.excluded == {"SOLUSDT": "constant", "XRPUSDT": "short_history"}
    assert state.fit.n_tested == 1


def test_refit_without_enough_history_keeps_the_state() -> None:
    closes = {s: c[-20:] for s, c in market_closes(0.0).items()}  # fewer than CAL bars
    strategy = StatArbStrategy(small_config())
    state = strategy.refit(snapshot_of(closes), strategy.initial_state(), NOW_MS)
    assert state == strategy.initial_state()
    decision = strategy.decide(snapshot_of(closes), FLAT, state, NOW_MS)
    assert decision.intents == ()
    assert decision.diagnostics["fitted"] == 0
