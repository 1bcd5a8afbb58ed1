"""The stat-arb decision's fast paths give the very bits of the computation they replace.

Issue 14: the hourly :meth:`StatArbStrategy.decide` was made cheaper without changing the
journal. Each shortcut — ``np.add.reduce`` in place of the ``mean``/``std`` wrappers
(``sample_std`` for ``np.std(ddof=1)``), the Horner steps in place of ``np.polyval``, one
ADF test for a batch that shares its lag, betas computed only when read — is checked here
against the former code, written out in the test, on random inputs that reach its edges.
Equality is of the bits (``float.hex`` / raw bytes), never approximate; then whole decisions
along real bars are compared with the former code patched in.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.base import MarketSnapshot, PortfolioView
from strategies.stat_arb import adf, fit, health, market, strategy, watch
from strategies.stat_arb.adf import adf_tstat, half_life_bars, mackinnon_pvalue_coint
from strategies.stat_arb.config import StatArbConfig
from strategies.stat_arb.health import RollingTest, rolling_engle_granger
from strategies.stat_arb.market import LazyBetas, market_view
from strategies.stat_arb.signals import (
    COLLINEAR_RSQ,
    PairScan,
    refit_exact,
    sample_std,
    scan_pairs,
    spread_zscore,
)
from strategies.stat_arb.state import PairCandidate, StatArbState
from strategies.stat_arb.strategy import StatArbStrategy
from tests.support.adf_oracle import former_adf_tstat, former_tstat_of_r
from venues.model import InstrumentId, InstrumentKind
from venues.replay.loader import load_klines

DATA = Path(__file__).parents[2] / "venues" / "replay" / "data" / "binance" / "perp"


def bits(x: Any) -> bytes:
    """The exact bytes of a float or float64 array (distinguishes −0.0, NaN payloads)."""
    return np.asarray(x, dtype=np.float64).tobytes()


# ------------------------------------------------------------ the former code, verbatim


def former_spread_zscore(a: np.ndarray, b: np.ndarray, gamma: float, window: int) -> float:
    spread = a[-window:] - gamma * b[-window:]
    std = float(np.std(spread, ddof=1))
    if std == 0.0:
        return 0.0
    return float((spread[-1] - spread.mean()) / std)


def former_half_life_bars(s: np.ndarray) -> np.ndarray:
    lagged = s[..., :-1] - s[..., :-1].mean(axis=-1, keepdims=True)
    delta = np.diff(s, axis=-1)
    delta = delta - delta.mean(axis=-1, keepdims=True)
    sxx = np.einsum("...t,...t->...", lagged, lagged)
    sxy = np.einsum("...t,...t->...", lagged, delta)
    kappa = -np.divide(sxy, sxx, out=np.zeros_like(sxy), where=sxx > 0)
    out = np.full_like(kappa, np.inf)
    np.divide(math.log(2.0), kappa, out=out, where=kappa > 0)
    return np.asarray(out, dtype=np.float64)


def former_mackinnon(stat: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    stat = np.asarray(stat, dtype=np.float64)
    inside = np.clip(stat, -18.86, 0.92)
    small_p = np.array([2.92, 1.5012, 3.9796]) * np.array([1, 1, 1e-2])
    large_p = np.array([2.1945, 6.4695, -2.9198, -4.2377]) * np.array([1, 1e-1, 1e-1, 1e-2])
    small = ndtr(np.polyval(small_p[::-1], inside))
    large = ndtr(np.polyval(large_p[::-1], inside))
    p = np.where(stat <= -2.62, small, large)
    p = np.where(stat < -18.86, 0.0, p)
    return np.asarray(np.where(stat > 0.92, 1.0, p), dtype=np.float64)


def former_rolling_engle_granger(
    a: np.ndarray, b: np.ndarray, lags: list[int], gamma_fit: list[float]
) -> RollingTest:
    lag_arr = np.asarray(lags, dtype=np.intp)
    gam = np.asarray(gamma_fit, dtype=np.float64)
    ya = a - a.mean(axis=1, keepdims=True)
    xb = b - b.mean(axis=1, keepdims=True)
    sxx = np.einsum("pt,pt->p", xb, xb)
    gamma = np.einsum("pt,pt->p", ya, xb) / sxx
    resid = ya - gamma[:, None] * xb
    rsq = 1.0 - np.einsum("pt,pt->p", resid, resid) / np.einsum("pt,pt->p", ya, ya)
    stat = np.empty(a.shape[0])
    for lag in np.unique(lag_arr).tolist():
        rows = np.flatnonzero(lag_arr == lag)
        stat[rows] = former_adf_tstat(resid[rows], int(lag))
    stat = np.where(rsq >= COLLINEAR_RSQ, -np.inf, stat)
    return RollingTest(
        hedge_ratio=gamma,
        adf_stat=stat,
        p_value=former_mackinnon(stat),
        half_life_bars=former_half_life_bars(a - gam[:, None] * b),
    )


# ------------------------------------------------------------------ kernels, bit for bit


def _walks(rng: np.random.Generator, n_pairs: int, n_bars: int) -> tuple[np.ndarray, ...]:
    """Log-price windows of ``n_pairs`` pairs at random levels and volatilities, some
    cointegrated (B = A / γ + noise), some not."""
    scale = rng.choice([1e-5, 1e-3, 0.02, 0.08], size=(n_pairs, 1))
    level = rng.choice([-3.0, 0.5, 11.0], size=(n_pairs, 1))
    log_a = level + np.cumsum(rng.normal(0.0, 1.0, (n_pairs, n_bars)) * scale, axis=1)
    gamma = rng.uniform(-2.0, 3.0, n_pairs)
    noise = rng.normal(0.0, 1.0, (n_pairs, n_bars)) * scale * rng.uniform(0.1, 3.0)
    walk = np.cumsum(rng.normal(0.0, 1.0, (n_pairs, n_bars)) * scale, axis=1)
    follower = log_a / gamma[:, None]
    mixed = np.where(rng.random((n_pairs, 1)) < 0.5, follower, walk)
    return log_a, mixed + noise + level, gamma


def test_spread_zscore_is_the_former_computation_bit_for_bit() -> None:
    rng = np.random.default_rng(14)
    constant_seen = 0
    for _ in range(400):
        n = int(rng.integers(2, 420))
        log_a, log_b, gammas = _walks(rng, 1, n)
        window = int(rng.integers(2, n + 1))
        gamma = float(gammas[0])
        if rng.random() < 0.05:  # a constant spread: z is 0.0
            log_a[0, :], log_b[0, :], gamma = 1.25, 0.5, 0.5
            constant_seen += 1
        got = spread_zscore(log_a[0], log_b[0], gamma, window)
        want = former_spread_zscore(log_a[0], log_b[0], gamma, window)
        assert type(got) is float
        assert got.hex() == want.hex(), (n, window, gamma)
    assert constant_seen > 0


def test_sample_std_is_np_std_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    for _ in range(500):
        n = int(rng.integers(3, 600))
        scale = float(rng.choice([1e-9, 1e-4, 0.02, 3.0, 1e6]))
        x = rng.normal(float(rng.choice([0.0, -7.5, 11.0])), scale, n)
        if rng.random() < 0.5:
            x = np.diff(np.cumsum(x))  # hourly returns, as the drift class feeds it
        got, want = sample_std(x), float(np.std(x, ddof=1))
        assert type(got) is float
        assert got.hex() == want.hex(), n
    assert sample_std(np.full(7, 0.3)) == 0.0
    assert sample_std(np.array([1.0, 2.0])).hex() == float(np.std([1.0, 2.0], ddof=1)).hex()
    with pytest.raises(ValueError, match="at least 2 values"):
        sample_std(np.array([1.0]))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_spread_zscore_still_rejects_non_finite_input(bad: float) -> None:
    a = np.linspace(1.0, 2.0, 50)
    b = np.linspace(3.0, 2.0, 50)
    a[-3] = bad
    with pytest.raises(ValueError, match="not finite"):
        spread_zscore(a, b, 1.0, 20)
    with pytest.raises(ValueError, match="not finite"):
        spread_zscore(np.linspace(1.0, 2.0, 50), b, bad, 20)


def test_half_life_is_the_former_computation_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    infinite_seen = finite_seen = 0
    for trial in range(200):
        n_pairs = int(rng.integers(1, 6)) if trial % 3 else int(rng.integers(7, 16))
        n_bars = int(rng.integers(3, 400))
        log_a, log_b, gamma = _walks(rng, n_pairs, n_bars)
        spread = log_a - gamma[:, None] * log_b
        if rng.random() < 0.1:
            spread[0] = 2.0  # constant: no regressor variation, inf
        for s in (spread, spread[0]):
            got, want = half_life_bars(s), former_half_life_bars(s)
            assert got.shape == want.shape
            assert bits(got) == bits(want)
            infinite_seen += int(np.isinf(got).sum())
            finite_seen += int(np.isfinite(got).sum())
    assert infinite_seen > 0
    assert finite_seen > 0


def test_half_life_batches_reverting_or_not_are_the_former_computation() -> None:
    """Every spread reverting (the unmasked divisions), one flat or drifting away (the masked
    ones), alone and in a batch: the same bits either way."""
    rng = np.random.default_rng(11)
    t = np.arange(200.0)
    reverting = np.zeros((3, 200))
    for row in range(3):  # AR(1), phi 0.9: κ > 0
        for k in range(1, 200):
            reverting[row, k] = 0.9 * reverting[row, k - 1] + rng.normal(0.0, 0.01)
    exploding = 1e-3 * 1.05**t  # ΔS grows with S: κ < 0
    flat = np.full(200, 0.7)  # no variation of S_{t-1}: sxx 0
    batches = [
        reverting,
        reverting[0],
        np.vstack([reverting[:2], exploding]),
        np.vstack([flat, reverting[1]]),
        exploding,
        flat,
        np.vstack([reverting, reverting, reverting]),  # above the float path: array division
        np.vstack([reverting, reverting, flat, exploding, reverting]),  # ... and masked ones
    ]
    for spread in batches:
        got, want = half_life_bars(spread), former_half_life_bars(spread)
        assert got.shape == want.shape
        assert bits(got) == bits(want)
    assert np.isfinite(half_life_bars(reverting)).all()
    assert np.isinf(half_life_bars(np.vstack([flat, exploding]))).all()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_half_life_and_rolling_test_still_reject_non_finite_input(bad: float) -> None:
    rng = np.random.default_rng(2)
    log_a, log_b, gamma = _walks(rng, 2, 60)
    spoilt = log_a.copy()
    spoilt[1, 7] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        half_life_bars(spoilt)
    with pytest.raises(ValueError, match="not finite"):
        rolling_engle_granger(spoilt, log_b, [1, 1], gamma.tolist())
    with pytest.raises(ValueError, match="not finite"):
        rolling_engle_granger(log_a, spoilt, [1, 1], gamma.tolist())
    with pytest.raises(ValueError, match="not finite"):
        rolling_engle_granger(log_a, log_b, [1, 1], [1.0, bad])


def test_mackinnon_p_value_is_the_former_computation_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    edges = [-np.inf, -100.0, -18.86, -18.859, -2.62, -2.6199, 0.0, 0.92, 0.9201, 5.0, np.inf]
    stats = np.concatenate([edges, [np.nan], rng.uniform(-25.0, 3.0, 5000)])
    assert bits(mackinnon_pvalue_coint(stats)) == bits(former_mackinnon(stats))
    for k, s in enumerate(stats[:600]):  # one at a time (a float path), as the watch asks
        one = np.array([s]).reshape([(), (1,), (1, 1)][k % 3])
        got = mackinnon_pvalue_coint(one)
        assert got.shape == one.shape
        assert got.dtype == np.float64
        assert bits(got) == bits(former_mackinnon(one)), s
    # a few at a time (the float path up to 8, the array path above), in several shapes
    for size in range(2, 12):
        for start in range(0, 400, size):
            few = stats[start : start + size]
            shaped = few.reshape((1, -1)) if start % 2 else few
            got = mackinnon_pvalue_coint(shaped)
            assert got.shape == shaped.shape
            assert bits(got) == bits(former_mackinnon(shaped)), few


def test_adf_tstat_is_the_former_computation_bit_for_bit() -> None:
    """One to a dozen series (the float path up to 8, the array path above), at every lag the
    watch uses, with rank-deficient rows (all zero: 0/0; a straight line: a zero residual)."""
    rng = np.random.default_rng(31)
    zero_seen = 0
    for trial in range(300):
        n_pairs, lags = int(rng.integers(1, 13)), int(rng.integers(0, 6))
        n_bars = int(rng.integers(2 * lags + 4, 300))
        resid = np.cumsum(rng.normal(size=(n_pairs, n_bars)), axis=1) * rng.choice([1e-6, 0.01])
        if trial % 4 == 0:
            resid[int(rng.integers(n_pairs))] = 0.0
        if trial % 4 == 1:
            resid[int(rng.integers(n_pairs))] = np.linspace(-1.0, 1.0, n_bars)
        got, want = adf_tstat(resid, lags), former_adf_tstat(resid, lags)
        assert got.shape == want.shape == (n_pairs,)
        assert bits(got) == bits(want), (trial, n_pairs, lags)
        zero_seen += int((got == 0.0).sum())
    assert zero_seen > 0


_EDGES = [0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, -1e-300, 1e300, -2.5, 0.75]


@settings(max_examples=400, deadline=None)
@given(
    r_kk=st.one_of(st.sampled_from(_EDGES), st.floats(allow_nan=True, allow_infinity=True)),
    r_ky=st.one_of(st.sampled_from(_EDGES), st.floats(allow_nan=True, allow_infinity=True)),
    r_yy=st.one_of(st.sampled_from(_EDGES), st.floats(allow_nan=True, allow_infinity=True)),
    lags=st.integers(0, 3),
    nobs=st.integers(6, 400),
)
def test_tstat_of_one_pair_is_the_array_arithmetic_on_any_r(
    r_kk: float, r_ky: float, r_yy: float, lags: int, nobs: int
) -> None:
    """The float path's sign, division by zero (±inf, NaN) and NaN-to-0 are numpy's."""
    r_factor = np.zeros((1, lags + 2, lags + 2))
    r_factor[0, lags, lags], r_factor[0, lags, lags + 1] = r_kk, r_ky
    r_factor[0, lags + 1, lags + 1] = r_yy
    df_resid = nobs - lags - 1
    got = adf._tstat_one(r_kk, r_ky, r_yy, math.sqrt(df_resid))
    with np.errstate(all="ignore"):  # inf · 0 (R of a finite design is finite)
        want = former_tstat_of_r(r_factor, lags, df_resid)
    assert bits(got) == bits(want)


@settings(max_examples=400, deadline=None)
@given(
    sxx=st.one_of(st.sampled_from(_EDGES), st.floats(min_value=0.0, allow_infinity=True)),
    sxy=st.one_of(st.sampled_from(_EDGES), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_half_life_of_one_spread_is_the_array_arithmetic_on_any_sums(
    sxx: float, sxy: float
) -> None:
    """The float path's κ (−0.0 when S does not vary) and ``ln 2 / κ`` or inf are numpy's."""
    xx, xy = np.array([sxx]), np.array([sxy])
    with np.errstate(all="ignore"):
        kappa = -np.divide(xy, xx, out=np.zeros_like(xy), where=xx > 0)
        want = np.full_like(kappa, np.inf)
        np.divide(math.log(2.0), kappa, out=want, where=kappa > 0)
    assert bits(adf._half_life_one(sxx, sxy)) == bits(want)


def test_rolling_engle_granger_is_the_former_computation_bit_for_bit() -> None:
    rng = np.random.default_rng(21)
    for trial in range(150):
        n_pairs = int(rng.integers(1, 5)) if trial % 3 else int(rng.integers(6, 14))
        n_bars = int(rng.integers(30, 300))
        log_a, log_b, gamma = _walks(rng, n_pairs, n_bars)
        same_lag = trial % 2 == 0  # one lag for the batch (the fast path) or mixed lags
        lags = [int(rng.integers(0, 5))] * n_pairs if same_lag else rng.integers(0, 5, n_pairs)
        lags = [int(x) for x in lags]
        if trial % 10 == 0:
            log_b[0] = 0.25 + 2.0 * log_a[0]  # collinear: -inf statistic, p 0
        got = rolling_engle_granger(log_a, log_b, lags, gamma.tolist())
        want = former_rolling_engle_granger(log_a, log_b, lags, gamma.tolist())
        for field in ("hedge_ratio", "adf_stat", "p_value", "half_life_bars"):
            assert bits(getattr(got, field)) == bits(getattr(want, field)), (trial, field)


def test_rolling_engle_granger_still_rejects_lags_that_do_not_fit() -> None:
    a = np.cumsum(np.ones((2, 12)), axis=1)
    with pytest.raises(ValueError, match="do not fit"):
        rolling_engle_granger(a, a * 0.5 + 1.0, [0, 5], [1.0, 1.0])
    with pytest.raises(ValueError, match="do not fit"):
        rolling_engle_granger(a, a * 0.5 + 1.0, [-1, 0], [1.0, 1.0])


# --------------------------------------------------------------------- lazy betas


def _snapshot(rng: np.random.Generator, lengths: dict[str, int], depth: int) -> Any:
    ids = {s: InstrumentId("binance", InstrumentKind.PERP, s) for s in lengths}
    closes = {
        ids[s]: np.exp(np.cumsum(rng.normal(0.0, 0.01, n))) * (10 + k)
        for k, (s, n) in enumerate(lengths.items())
    }
    snap = MarketSnapshot(
        ts_ms=0,
        instruments={},
        prices={i: float(c[-1]) for i, c in closes.items()},
        funding={},
        closes={i: c[-depth:] for i, c in closes.items()},
    )
    return snap, ids


@pytest.mark.parametrize("beta_window_bars", [63, 300])
def test_lazy_betas_are_the_eager_ones_and_wait_to_be_read(beta_window_bars: int) -> None:
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]
    config = StatArbConfig(
        symbols=symbols, calibration_bars=252, beta_window_bars=beta_window_bars, beta_min_obs=20
    )
    depth = max(config.calibration_bars, beta_window_bars) + 1
    lengths = dict(zip(symbols, [2_000, 252, 260, 280, 1_000], strict=True))
    snap, ids = _snapshot(np.random.default_rng(5), lengths, depth)
    view = market_view(snap, ids, config, depth)
    assert isinstance(view.betas, LazyBetas)
    assert not view.betas.computed
    # The former eager computation, from the same panel the view was built on.
    logs_panel = np.full((depth, len(symbols)), np.nan)
    for k, s in enumerate(symbols):
        logs = view.log_closes[s]
        logs_panel[depth - len(logs) :, k] = logs
    if beta_window_bars + 1 <= depth:
        usable = np.ones(len(symbols), dtype=bool)
        window = logs_panel[-(beta_window_bars + 1) :, usable]
        want = market._panel_betas(window, symbols, config)
    else:
        want = market._betas(view.log_closes, config)
    got = dict(view.betas)
    assert view.betas.computed
    assert list(got) == symbols
    assert all(bits(got[s]) == bits(want[s]) for s in symbols)
    assert math.isfinite(got["ETHUSDT"])
    assert len(view.betas) == len(symbols)
    assert view.betas["SOLUSDT"] == got["SOLUSDT"]


# ------------------------------------------------------ whole decisions along real bars


def _real_closes(symbols: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    series = {s: load_klines(DATA / f"{s}_1h.csv.gz") for s in symbols}
    ts = np.asarray(series[symbols[0]].ts_open_ms)
    return ts, {s: np.asarray(k.close, dtype=np.float64) for s, k in series.items()}


def _bar_snapshot(
    closes: dict[InstrumentId, np.ndarray], t: int, depth: int, ts_ms: int
) -> MarketSnapshot:
    """The market at bar ``t`` of ``closes`` (quote units, hourly): each instrument's close
    at ``t`` as its price and its last ``depth`` closes up to ``t`` as its history."""
    return MarketSnapshot(
        ts_ms=ts_ms,
        instruments={},
        prices={i: float(c[t]) for i, c in closes.items()},
        funding={},
        closes={i: c[max(0, t + 1 - depth) : t + 1] for i, c in closes.items()},
    )


def _walk_decisions(
    config: StatArbConfig, ts: np.ndarray, closes: dict[str, np.ndarray]
) -> list[str]:
    """Refit weekly and decide hourly over 5 weeks; the repr of every decision."""
    strat = StatArbStrategy(config)
    ids = {s: InstrumentId("binance", InstrumentKind.PERP, s) for s in closes}
    by_id = {ids[s]: c for s, c in closes.items()}
    state = StatArbState()
    out: list[str] = []
    depth = strat.history_bars
    start = config.calibration_bars + 24
    for t in range(start, start + 5 * 168):
        now = int(ts[t])
        snap = _bar_snapshot(by_id, t, depth, now)
        if (t - start) % 168 == 0:
            state = strat.refit(snap, state, now)
        positions: dict[InstrumentId, float] = {}
        for r in state.open.values():
            positions[ids[r.a]] = r.direction * r.qty_a
            positions[ids[r.b]] = -r.direction * r.qty_b
        decision = strat.decide(snap, PortfolioView(1e5, 5e4, positions), state, now)
        state = decision.state
        out.append(repr((decision.intents, decision.alerts, decision.diagnostics, state)))
    return out


REAL_PERPS = (
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "BNBUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "ADAUSDT",
    "LTCUSDT",
)
"""Eight bundled Binance perps whose real hourly closes the decision walks replay."""


def test_decisions_along_real_bars_equal_those_of_the_former_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five weeks of hourly decisions with weekly re-tests on eight real perps, once with the
    fast paths and once with the former code patched in (eager betas included): the same
    intents, alerts, diagnostics and states, to the last bit of every float."""
    symbols = list(REAL_PERPS)
    ts, closes = _real_closes(symbols)
    config = StatArbConfig(symbols=symbols, entry_z=1.5, exit_z=0.3, max_pairs=2)
    fast = _walk_decisions(config, ts, closes)

    real_market_view = market.market_view

    def eager_view(*args: Any) -> Any:
        view = real_market_view(*args)
        dict(view.betas)  # computed at once, as before
        return view

    monkeypatch.setattr(strategy, "market_view", eager_view)
    monkeypatch.setattr(strategy, "spread_zscore", former_spread_zscore)
    monkeypatch.setattr(watch, "rolling_engle_granger", former_rolling_engle_granger)
    monkeypatch.setattr(adf, "mackinnon_pvalue_coint", former_mackinnon)
    monkeypatch.setattr(health, "mackinnon_pvalue_coint", former_mackinnon)
    former = _walk_decisions(config, ts, closes)
    assert fast == former
    held = sum("'hold'" in d for d in fast)
    entered = sum("'enter'" in d for d in fast)
    assert held > 50
    assert entered > 2


def test_an_idle_hour_reads_no_market_and_later_views_stay_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a fit but no open pair and no candidate, ``decide`` builds no market view (its
    log-close panel skips those hours); its decisions, idle or not, are those of a new
    strategy (a new panel) every hour, over three weeks of real bars with idle stretches."""
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT"]
    ts, closes = _real_closes(symbols)
    config = StatArbConfig(symbols=symbols, entry_z=1.5, exit_z=0.3, max_pairs=2)
    ids = {s: InstrumentId("binance", InstrumentKind.PERP, s) for s in symbols}
    viewed: list[int] = []
    real_market_view = strategy.market_view

    def counting_view(snapshot: MarketSnapshot, *args: Any) -> Any:
        viewed.append(snapshot.ts_ms)
        return real_market_view(snapshot, *args)

    monkeypatch.setattr(strategy, "market_view", counting_view)
    by_id = {ids[s]: c for s, c in closes.items()}
    kept = StatArbStrategy(config)
    state = StatArbState()
    start = config.calibration_bars + 24
    idle_hours = busy_hours = 0
    for t in range(start, start + 3 * 168):
        now = int(ts[t])
        snap = _bar_snapshot(by_id, t, kept.history_bars, now)
        if (t - start) % 168 == 0:
            state = kept.refit(snap, state, now)
        assert state.fit is not None
        idle = (t // 9) % 3 == 0  # stretches of 9 idle hours
        given = replace(state, fit=replace(state.fit, pairs=()), open={}) if idle else state
        positions: dict[InstrumentId, float] = {}
        for r in given.open.values():
            positions[ids[r.a]] = r.direction * r.qty_a
            positions[ids[r.b]] = -r.direction * r.qty_b
        portfolio = PortfolioView(1e5, 5e4, positions)
        viewed.clear()
        got = kept.decide(snap, portfolio, given, now)
        assert given.fit is not None
        assert (viewed == []) is (not given.open and not given.fit.pairs)
        want = StatArbStrategy(config).decide(snap, portfolio, given, now)
        assert repr(got) == repr(want)
        if idle:
            idle_hours += 1
            assert got.intents == ()
            assert got.alerts == ()
            assert got.diagnostics == {
                "fitted": 1,
                "candidate_pairs": 0,
                "open_pairs": 0,
                "open_pairs_unfilled": 0,
                "beta_exposure_usd": 0.0,
            }
        else:
            busy_hours += 1
            state = got.state
    assert idle_hours > 100
    assert busy_hours > 100


def former_candidates(
    config: StatArbConfig,
    scan: PairScan,
    symbols: list[str],
    busy: set[str],
    log_panel: np.ndarray,
) -> tuple[PairCandidate, ...]:
    """stat_arb.fit._candidates before issue 14 (a set per pair)."""
    free = [k for k in range(len(scan)) if not {symbols[scan.i[k]], symbols[scan.j[k]]} & busy]
    chosen = fit._select(
        config,
        scan.take(np.asarray(free, dtype=np.intp)),
        max_pairs=config.max_pairs,
        one_per_asset=config.one_pair_per_asset,
    )
    chosen = refit_exact(log_panel, chosen)
    return tuple(fit._pair_record(chosen, k, symbols) for k in range(len(chosen)))


@pytest.mark.parametrize("seed", range(8))
def test_candidates_skip_busy_symbols_as_the_former_code(seed: int) -> None:
    """The free pairs found by one look-up per symbol are those of the former set test, in
    the same order: the same candidates for random busy sets (none, some, all symbols)."""
    rng = np.random.default_rng(seed)
    n_assets = int(rng.integers(2, 14))
    symbols = [f"S{k}USDT" for k in range(n_assets)]
    common = np.cumsum(rng.normal(0.0, 0.01, (300, 1)), axis=0)
    log_panel = np.cumsum(rng.normal(0.0, 0.01, (300, n_assets)), axis=0) + common
    config = StatArbConfig(symbols=symbols, market_symbol=symbols[0], p_value_max=0.5, max_pairs=4)
    scan = scan_pairs(log_panel)
    assert fit._candidates(config, scan, symbols, set(), log_panel)  # there are some
    for size in {0, 1, n_assets // 2, n_assets}:
        busy = {*rng.choice(symbols, size=size, replace=False).tolist(), "OTHERUSDT"}
        got = fit._candidates(config, scan, symbols, busy, log_panel)
        want = former_candidates(config, scan, symbols, busy, log_panel)
        assert repr(got) == repr(want)
        assert not {s for c in got for s in (c.a, c.b)} & busy


@pytest.mark.parametrize("seed", range(10))
def test_a_view_of_some_symbols_is_the_full_view_of_them(seed: int) -> None:
    """Prices, log closes and (lazy) betas of a symbol do not depend on which other symbols
    the view holds: a view of a random subset (with or without the market symbol, some
    symbols unusable) against the view of every symbol, bit for bit."""
    rng = np.random.default_rng(seed)
    n_symbols = int(rng.integers(2, 25))
    symbols = [f"S{k}USDT" for k in range(n_symbols)]
    window = int(rng.choice([20, 63, 80]))  # 80: beyond the panel (the per-column path)
    config = StatArbConfig(
        symbols=symbols, market_symbol=symbols[0], calibration_bars=60, beta_window_bars=window
    )
    depth = 61
    ids = {s: InstrumentId("binance", InstrumentKind.PERP, s) for s in symbols}
    history = np.exp(np.cumsum(rng.normal(0.0, 0.01, (n_symbols, 200)), axis=1)) * 30.0
    history *= rng.choice([1e-4, 1.0, 1e4], size=(n_symbols, 1))
    for k in rng.choice(n_symbols, size=n_symbols // 4, replace=False).tolist():
        history[k, int(rng.integers(140, 200))] = np.nan  # unusable for a while
    closes = {ids[s]: history[k] for k, s in enumerate(symbols)}
    for t in range(120, 200, 7):
        snap = _bar_snapshot(closes, t, depth, t * 3_600_000)
        full = market_view(snap, ids, config, depth)
        chosen = sorted(rng.choice(n_symbols, size=int(rng.integers(1, n_symbols + 1))))
        some = {symbols[k]: ids[symbols[k]] for k in chosen}
        part = market_view(snap, some, config, depth)
        assert list(part.prices) == [s for s in full.prices if s in some]
        assert all(part.prices[s] == full.prices[s] for s in part.prices)
        assert all(bits(part.log_closes[s]) == bits(full.log_closes[s]) for s in part.prices)
        if symbols[0] in part.prices:
            assert bits([part.betas[s] for s in part.prices]) == bits(
                [full.betas[s] for s in part.prices]
            )
        else:
            assert all(math.isnan(part.betas[s]) for s in part.prices)


def test_decisions_reading_only_their_symbols_equal_those_reading_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five weeks of decisions on eight real perps with the view limited to the pairs' legs
    and the market (the panel rebuilt as the set changes), and with every symbol in it."""
    symbols = list(REAL_PERPS)
    ts, closes = _real_closes(symbols)
    config = StatArbConfig(symbols=symbols, entry_z=1.5, exit_z=0.3, max_pairs=2)
    widths: list[int] = []
    real_market_view = strategy.market_view

    def counting_view(snapshot: MarketSnapshot, ids: dict[str, Any], *args: Any) -> Any:
        widths.append(len(ids))
        return real_market_view(snapshot, ids, *args)

    monkeypatch.setattr(strategy, "market_view", counting_view)
    limited = _walk_decisions(config, ts, closes)
    assert widths
    assert max(widths) < len(symbols)  # the view does leave symbols out
    widths.clear()

    def every_symbol(self: StatArbStrategy, opened: Any, candidates: Any) -> dict[str, Any]:
        pairs = [*opened, *candidates]
        return dict(self._ids) if pairs else {}

    monkeypatch.setattr(StatArbStrategy, "_view_ids", every_symbol)
    every = _walk_decisions(config, ts, closes)
    assert set(widths) == {len(symbols)}
    assert limited == every
    assert sum("'enter'" in d for d in limited) > 2
