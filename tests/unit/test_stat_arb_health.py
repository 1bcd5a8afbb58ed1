"""Stat arb on the bundled real Binance closes: the held position is the traded spread, and
the between-re-test health watch (rolling Engle–Granger, half-life drift, Kalman hedge ratio)
keeps a healthy pair and retires a broken one."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.tsa.stattools import coint

from strategies.base import MarketSnapshot, PortfolioView
from strategies.stat_arb.config import StatArbConfig
from strategies.stat_arb.kalman import start_filter
from strategies.stat_arb.market import market_view
from strategies.stat_arb.state import OpenPair, StatArbState
from strategies.stat_arb.strategy import StatArbStrategy
from strategies.stat_arb.watch import check_candidate, watch_open_pairs
from venues.model import HOUR_MS, InstrumentId, InstrumentKind
from venues.replay.loader import load_klines

DATA = Path(__file__).parents[2] / "venues" / "replay" / "data" / "binance" / "perp"
CAL = 252


def iid(symbol: str) -> InstrumentId:
    return InstrumentId("binance", InstrumentKind.PERP, symbol)


def real_closes(symbols: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Open times (ms) and 1h closes of the bundled perps."""
    series = {s: load_klines(DATA / f"{s}_1h.csv.gz") for s in symbols}
    ts = np.asarray(series[symbols[0]].ts_open_ms)
    return ts, {s: np.asarray(k.close, dtype=np.float64) for s, k in series.items()}


def snapshot_at(closes: dict[str, np.ndarray], t: int, now_ms: int) -> MarketSnapshot:
    """The market after bar ``t`` closed (bars ``t − CAL .. t``)."""
    hist = {s: c[max(0, t - CAL) : t + 1] for s, c in closes.items()}
    return MarketSnapshot(
        ts_ms=now_ms,
        instruments={},
        prices={iid(s): float(c[-1]) for s, c in hist.items()},
        funding={},
        closes={iid(s): c for s, c in hist.items()},
    )


def positions_of(state: StatArbState) -> PortfolioView:
    pos: dict[InstrumentId, float] = {}
    for r in state.open.values():
        pos[iid(r.a)] = r.direction * r.qty_a
        pos[iid(r.b)] = -r.direction * r.qty_b
    return PortfolioView(equity_usd=1e5, strategy_capital_usd=5e4, positions=pos)


# ------------------------------------------------------------ position = traded spread


@pytest.mark.parametrize("band", [0.0, 0.05])
def test_position_pnl_is_the_spread_pnl_on_real_bars(band: float) -> None:
    """SOL-BNB, fitted on the first 252 bars (γ ≈ 1.46), traded hourly for 6 weeks.

    Per held bar ``t → t+1`` the test computes the legs' P&L from the targets and the bars,
    ``Σ qty · ΔP``, and the spread's, ``d · N_A,t · ΔS`` with ``S = log A − γ log B`` and
    ``N_A,t = qty_a · P_A,t``. With ``N_B = γ N_A`` they differ by the linearisation
    ``N_A (e^{Δa} − 1 − Δa) − γ N_A (e^{Δb} − 1 − Δb)``, bounded by
    ``N_A (Δa² e^{|Δa|} + |γ| Δb² e^{|Δb|}) / 2``, plus (with a resize band) leg B's
    deviation from γ N_A / P_B, at most ``band · |qty_b| · |ΔP_B|`` per bar.
    """
    symbols = ["BTCUSDT", "SOLUSDT", "BNBUSDT"]
    ts, closes = real_closes(symbols)
    config = StatArbConfig(
        symbols=symbols,
        resize_band_frac=band,
        health_check=False,
        max_pairs=1,
        stress_sizing=False,  # full spread size: the bound below is for that notional
    )
    strategy = StatArbStrategy(config)
    t0 = CAL - 1
    state = strategy.refit(snapshot_at(closes, t0, int(ts[t0])), StatArbState(), int(ts[t0]))
    assert state.fit is not None
    assert [(p.a, p.b) for p in state.fit.pairs] == [("SOLUSDT", "BNBUSDT")]
    gamma = state.fit.pairs[0].hedge_ratio
    assert 1.3 < gamma < 1.6
    a, b = closes["SOLUSDT"], closes["BNBUSDT"]
    pnl_legs = pnl_spread = bound = pnl_beta_neutral = gross = 0.0
    held_bars = 0
    for t in range(t0, t0 + 6 * 168):
        now = int(ts[t])
        decision = strategy.decide(snapshot_at(closes, t, now), positions_of(state), state, now)
        state = decision.state
        if not state.open:
            continue
        (r,) = state.open.values()
        qa, qb = r.direction * r.qty_a, -r.direction * r.qty_b
        da, db = a[t + 1] - a[t], b[t + 1] - b[t]
        la, lb = math.log(a[t + 1] / a[t]), math.log(b[t + 1] / b[t])
        notional_a = r.qty_a * a[t]
        pnl_legs += qa * da + qb * db
        pnl_spread += r.direction * notional_a * (la - r.hedge_ratio * lb)
        curvature = la**2 * math.exp(abs(la)) + abs(gamma) * lb**2 * math.exp(abs(lb))
        bound += notional_a * curvature / 2 + band * r.qty_b * abs(db)
        gross += abs(notional_a * (la - r.hedge_ratio * lb))
        # What the former beta-neutral sizing would have earned on the same A leg.
        qb_neutral = -r.direction * r.qty_a * r.beta_a * a[t] / (r.beta_b * b[t])
        pnl_beta_neutral += qa * da + qb_neutral * db
        held_bars += 1
    assert held_bars >= 100
    assert abs(pnl_legs - pnl_spread) <= bound
    assert bound < 0.1 * gross  # the tolerance is small against what the spread moved
    # Measured: legs −8.47 vs spread +8.02 USD over 529 held bars, bound 93 USD (band 0),
    # gross |N ΔS| 6,725 USD; beta-neutral legs would have made +127 USD.
    # The check can fail: beta-neutral legs did not earn the spread's P&L.
    if band == 0.0:
        assert abs(pnl_beta_neutral - pnl_spread) > bound


# ------------------------------------------------------------------------ health


def _open_pair(
    config: StatArbConfig, closes: dict[str, np.ndarray], ts: np.ndarray, t0: int, a: str, b: str
) -> tuple[StatArbStrategy, StatArbState]:
    """Refit on bars up to t0 and open (a, b) at t0 with its watch, as an entry would."""
    strategy = StatArbStrategy(config)
    state = strategy.refit(snapshot_at(closes, t0, int(ts[t0])), StatArbState(), int(ts[t0]))
    assert state.fit is not None
    (cand,) = [p for p in state.fit.pairs if (p.a, p.b) == (a, b)]
    view = _view(config, snapshot_at(closes, t0, int(ts[t0])))
    watch, report = check_candidate(config, cand, view, int(ts[t0]) // HOUR_MS)
    assert report.breaches == ()  # healthy when entered
    record = OpenPair(
        a, b, 1, -2.5, int(ts[t0]), 1.0, cand.hedge_ratio, cand.hedge_ratio, cand.intercept,
        1.0, 1.0, False, watch,
    )  # fmt: skip
    return strategy, StatArbState(fit=state.fit, open={f"{a}-{b}": record})


def _view(config: StatArbConfig, snap: MarketSnapshot) -> Any:
    return market_view(snap, {s: iid(s) for s in config.symbols}, config, CAL + 1)


def _z(closes: dict[str, np.ndarray], t: int, a: str, b: str, gamma: float) -> float:
    """Independent z-score of the spread's last value over the last CAL bars."""
    s = np.log(closes[a][t - CAL + 1 : t + 1]) - gamma * np.log(closes[b][t - CAL + 1 : t + 1])
    return float((s[-1] - s.mean()) / s.std(ddof=1))


def _independent_health(
    closes: dict[str, np.ndarray], t: int, a: str, b: str, lags: int, gamma: float
) -> tuple[float, float]:
    """statsmodels' Engle–Granger p-value at fixed lags and the held spread's OLS half-life."""
    y, x = np.log(closes[a][t - CAL + 1 : t + 1]), np.log(closes[b][t - CAL + 1 : t + 1])
    _, p_value, _ = coint(y, x, trend="c", maxlag=lags, autolag=None)
    s = y - gamma * x
    slope = sm.OLS(np.diff(s), sm.add_constant(s[:-1])).fit().params[1]
    return float(p_value), (math.log(2) / -slope if slope < 0 else math.inf)


def _walk(
    config: StatArbConfig, closes: dict[str, np.ndarray], ts: np.ndarray, t0: int, a: str, b: str
) -> tuple[StatArbStrategy, StatArbState, int | None, Any]:
    """Advance the open pair's watch bar by bar for a week; the first breaching bar."""
    strategy, state = _open_pair(config, closes, ts, t0, a, b)
    opened = dict(state.open)
    for t in range(t0 + 1, t0 + 169):
        view = _view(config, snapshot_at(closes, t, int(ts[t])))
        opened, reports = watch_open_pairs(config, opened, view, int(ts[t]) // HOUR_MS)
        report = reports[f"{a}-{b}"]
        record = opened[f"{a}-{b}"]
        assert record.watch is not None
        assert record.watch.kalman.bar_h == int(ts[t]) // HOUR_MS
        if t in (t0 + 1, t0 + 60) or report.breaches:
            p_value, half_life = _independent_health(
                closes, t, a, b, record.watch.lags, record.hedge_ratio
            )
            assert report.p_value == pytest.approx(p_value, rel=1e-8, abs=1e-10)
            assert report.half_life_bars == pytest.approx(half_life, rel=1e-8)
        if report.breaches:
            return strategy, StatArbState(fit=state.fit, open=opened), t, report
    return strategy, StatArbState(fit=state.fit, open=opened), None, None


def test_health_retires_a_pair_whose_relationship_broke_on_real_data() -> None:
    """SOL-BNB qualifies on bars 0..251 (p ≈ 0.02, half-life ≈ 6 h) and breaks ~3 days later:
    the rolling p-value passes 0.5 and the held spread stops mean-reverting."""
    symbols = ["BTCUSDT", "SOLUSDT", "BNBUSDT"]
    ts, closes = real_closes(symbols)
    config = StatArbConfig(symbols=symbols, stop_z=100.0, exit_z=0.0)
    t0 = CAL - 1
    strategy, state, t_break, report = _walk(config, closes, ts, t0, "SOLUSDT", "BNBUSDT")
    assert t_break is not None
    assert 24 < t_break - t0 < 168  # before the weekly re-test
    assert "p_value" in report.breaches or "half_life" in report.breaches
    # decide at that bar closes it (direction set against z so no other exit rule fires),
    # journals the numbers and drops it from the candidates until the next re-test.
    record = state.open["SOLUSDT-BNBUSDT"]
    snap = snapshot_at(closes, t_break, int(ts[t_break]))
    z = _z(closes, t_break, "SOLUSDT", "BNBUSDT", record.hedge_ratio)
    state = StatArbState(
        fit=state.fit, open={"SOLUSDT-BNBUSDT": OpenPair(**{
            **{f: getattr(record, f) for f in OpenPair.__dataclass_fields__},
            "direction": -1 if z > 0 else 1, "entry_ms": int(ts[t_break]) - HOUR_MS,
        })},
    )  # fmt: skip
    # The watch already consumed this bar: decide re-tests the same window, same breach.
    decision = strategy.decide(snap, positions_of(state), state, int(ts[t_break]))
    (intent,) = [i for i in decision.intents if i.intent_id.startswith("SOLUSDT-BNBUSDT")]
    assert intent.reason == "exit_health"
    assert not intent.opening
    (alert,) = [al for al in decision.alerts if al.kind == "stat_arb_pair_retired"]
    assert alert.fields["pair"] == "SOLUSDT-BNBUSDT"
    assert alert.fields["p_value"] == pytest.approx(report.p_value, abs=1e-6)
    assert alert.fields["breaches"] == ",".join(report.breaches)
    assert decision.state.open == {}
    assert decision.state.fit is not None
    assert ("SOLUSDT", "BNBUSDT") not in [(p.a, p.b) for p in decision.state.fit.pairs]


def test_health_keeps_a_healthy_pair_on_real_data() -> None:
    """BTC-ETH qualified on bars 840..1091 (p ≈ 0.002) stays cointegrated all week."""
    symbols = ["BTCUSDT", "ETHUSDT"]
    ts, closes = real_closes(symbols)
    config = StatArbConfig(symbols=symbols, stop_z=100.0, exit_z=0.0)
    strategy, state, t_break, _ = _walk(config, closes, ts, 1091, "BTCUSDT", "ETHUSDT")
    assert t_break is None
    t = 1091 + 168
    record = state.open["BTCUSDT-ETHUSDT"]
    snap = snapshot_at(closes, t, int(ts[t]))
    z = _z(closes, t, "BTCUSDT", "ETHUSDT", record.hedge_ratio)
    held = StatArbState(fit=state.fit, open={"BTCUSDT-ETHUSDT": OpenPair(**{
        **{f: getattr(record, f) for f in OpenPair.__dataclass_fields__},
        "direction": -1 if z > 0 else 1,
    })})  # fmt: skip
    decision = strategy.decide(snap, positions_of(held), held, int(ts[t]))
    assert [i.reason for i in decision.intents] == ["hold"]
    assert not [al for al in decision.alerts if al.kind == "stat_arb_pair_retired"]


# ------------------------------------------------------------------------ Kalman


@pytest.mark.parametrize("memory_bars", [1, 72])
def test_kalman_filter_equals_discounted_least_squares(memory_bars: int) -> None:
    """The filter's (α, γ) after a window is the closed-form posterior of a regression whose
    bar t weighs δ^(n−t) and whose prior weighs δ^n (West & Harrison's discount model)."""
    _, closes = real_closes(["ETHUSDT", "SOLUSDT"])
    y, x = np.log(closes["ETHUSDT"][:CAL]), np.log(closes["SOLUSDT"][:CAL])
    gamma_fit = 0.8
    kalman = start_filter(y, x, gamma_fit, memory_bars, bar_h=7)
    c = x.mean()
    r = np.var((y - y.mean()) - gamma_fit * (x - c), ddof=2)
    delta = 1.0 - 1.0 / memory_bars if memory_bars > 1 else 1.0
    n = y.shape[0]
    h = np.column_stack([np.ones(n), x - c])
    w = delta ** np.arange(n - 1, -1, -1)
    prior_prec = np.diag([1 / r, np.var(x) / r]) * delta**n
    prec = prior_prec + (h * w[:, None]).T @ h / r
    mean = np.linalg.solve(prec, prior_prec @ np.array([y.mean(), gamma_fit]) + h.T @ (w * y) / r)
    assert kalman.alpha == pytest.approx(mean[0], rel=1e-9)
    assert kalman.gamma == pytest.approx(mean[1], rel=1e-7)
    cov = np.linalg.inv(prec)
    assert kalman.p_gg == pytest.approx(cov[1, 1], rel=1e-6)
    assert kalman.bar_h == 7
    # advance: one new bar → one more step, same as starting over a one-bar-longer window.
    y2, x2 = np.log(closes["ETHUSDT"][: CAL + 1]), np.log(closes["SOLUSDT"][: CAL + 1])
    stepped = kalman.advance(y2, x2, bar_h=8)
    assert stepped.bar_h == 8
    assert stepped.gamma != kalman.gamma
    assert kalman.advance(y2, x2, bar_h=7) is kalman  # no new bar
