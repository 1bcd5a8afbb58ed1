"""Run statistics: expected values are hand-computed or come from statsmodels, never from
the code under test."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
import statsmodels.api as sm

from agent.reporting.analysis import (
    NeutralityStats,
    PerformanceStats,
    annualized_return,
    calmar,
    daily_series,
    ex_post_beta,
    max_drawdown,
    performance_stats,
    rolling_beta,
    sharpe_annualized,
)
from agent.reporting.summary import RunCounts, RunSummary, format_summary, summary_to_dict

HOUR_MS = 3_600_000


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


# --- daily_series ----------------------------------------------------------------------------


def test_daily_series_takes_last_snapshot_of_each_utc_day_across_midnight() -> None:
    ts = [
        _ms(2024, 1, 1, 22),
        _ms(2024, 1, 1, 23),
        _ms(2024, 1, 2, 0),  # exactly midnight belongs to the new day
        _ms(2024, 1, 2, 13),
        _ms(2024, 1, 2, 0) + 86_400_000 - 1,  # 23:59:59.999
        _ms(2024, 1, 3, 0),
        _ms(2024, 1, 3, 5),
        _ms(2024, 1, 5, 7),  # Jan 4 has no snapshot
    ]
    equity = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0, 110.0]
    btc = [40_000.0, 40_100.0, 40_200.0, 40_300.0, 40_400.0, 40_500.0, 40_600.0, 39_000.0]
    d = daily_series(np.array(ts, dtype=np.int64), equity, btc)
    assert d.ts_day_ms.tolist() == [
        _ms(2024, 1, 1),
        _ms(2024, 1, 2),
        _ms(2024, 1, 3),
        _ms(2024, 1, 5),
    ]
    assert d.equity_usd.tolist() == [101.0, 104.0, 106.0, 110.0]
    assert d.btc_price_usd.tolist() == [40_100.0, 40_400.0, 40_600.0, 39_000.0]
    np.testing.assert_allclose(
        d.equity_returns_frac, [104 / 101 - 1, 106 / 104 - 1, 110 / 106 - 1], rtol=1e-14
    )
    np.testing.assert_allclose(
        d.btc_returns_frac,
        [40_400 / 40_100 - 1, 40_600 / 40_400 - 1, 39_000 / 40_600 - 1],
        rtol=1e-14,
    )


def test_daily_series_hourly_grid_from_noon() -> None:
    start = _ms(2024, 3, 10, 12)
    ts = start + HOUR_MS * np.arange(48, dtype=np.int64)  # Mar 10 12:00 .. Mar 12 11:00
    equity = 1_000.0 + np.arange(48.0)
    d = daily_series(ts, equity, np.full(48, 60_000.0))
    assert d.ts_day_ms.tolist() == [_ms(2024, 3, 10), _ms(2024, 3, 11), _ms(2024, 3, 12)]
    # closes at Mar 10 23:00 (index 11), Mar 11 23:00 (35), Mar 12 11:00 (47)
    assert d.equity_usd.tolist() == [1_011.0, 1_035.0, 1_047.0]
    assert d.btc_returns_frac.tolist() == [0.0, 0.0]
    assert not d.equity_usd.flags.writeable


def test_daily_series_empty_input_gives_empty_series() -> None:
    d = daily_series(np.array([], dtype=np.int64), [], [])
    assert d.ts_day_ms.size == 0
    assert d.equity_returns_frac.size == 0


@pytest.mark.parametrize(
    ("ts", "equity", "btc", "match"),
    [
        ([2, 1], [1.0, 1.0], [1.0, 1.0], "non-decreasing"),
        ([1, 2], [1.0], [1.0, 1.0], "differ"),
        ([1.5, 2.5], [1.0, 1.0], [1.0, 1.0], "integer"),
        ([1, 2], [1.0, math.nan], [1.0, 1.0], "equity_usd has a non-finite"),
        ([1, 2], [1.0, 1.0], [1.0, 0.0], "btc_price_usd must be > 0"),
    ],
)
def test_daily_series_rejects_bad_input(
    ts: list[float], equity: list[float], btc: list[float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        daily_series(ts, equity, btc)


# --- drawdown, Sharpe, CAGR, Calmar ----------------------------------------------------------


def test_max_drawdown_hand_made_curve() -> None:
    # running peaks 100 110 110 120 120 120 130 130; worst fall 120 -> 90 = 25 %
    equity = [100.0, 110.0, 105.0, 120.0, 90.0, 95.0, 130.0, 117.0]
    assert max_drawdown(equity) == (0.25, 3, 4)


def test_max_drawdown_rising_curve_is_zero() -> None:
    assert max_drawdown([1.0, 2.0, 3.0]) == (0.0, 0, 0)


@pytest.mark.parametrize(("equity", "match"), [([], "empty"), ([0.0, 1.0], r"\[0\] must be > 0")])
def test_max_drawdown_rejects_bad_input(equity: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        max_drawdown(equity)


def test_sharpe_hand_computed() -> None:
    r = [0.01, -0.02, 0.03, 0.00]
    # mean 0.005; deviations .005 -.025 .025 -.005; squares sum 0.0013; var = 0.0013 / 3
    expected = 0.005 / math.sqrt(0.0013 / 3) * math.sqrt(365)
    assert sharpe_annualized(r) == pytest.approx(expected, rel=1e-12)
    # risk-free 3.65 %/yr = 0.0001/day shifts the mean only
    expected_rf = 0.0049 / math.sqrt(0.0013 / 3) * math.sqrt(365)
    assert sharpe_annualized(r, risk_free_annual=0.0365) == pytest.approx(expected_rf, rel=1e-12)


@pytest.mark.parametrize("r", [[], [0.01], [0.0, 0.0, 0.0], [0.001] * 7])
def test_sharpe_is_nan_when_undefined(r: list[float]) -> None:
    assert math.isnan(sharpe_annualized(r))


def test_annualized_return_and_calmar() -> None:
    assert annualized_return(100.0, 121.0, 730 * 86_400_000) == pytest.approx(0.1, rel=1e-12)
    assert annualized_return(100.0, 90.0, 365 * 86_400_000) == pytest.approx(-0.1, rel=1e-12)
    assert math.isnan(annualized_return(100.0, 121.0, 0))
    assert annualized_return(100.0, 0.0, 86_400_000) == -1.0
    assert annualized_return(100.0, 200.0, HOUR_MS) == math.inf  # 2 ** 8760 overflows
    with pytest.raises(ValueError, match="initial_equity_usd"):
        annualized_return(0.0, 1.0, 1)
    assert calmar(0.2, 0.1) == pytest.approx(2.0)
    assert math.isnan(calmar(0.2, 0.0))
    assert math.isnan(calmar(math.nan, 0.1))


# --- ex-post beta ----------------------------------------------------------------------------


def _returns(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.03, n), rng.normal(0.0, 0.005, n)


def test_ex_post_beta_matches_statsmodels_ols() -> None:
    rm, noise = _returns(250, seed=7)
    rp = 0.001 + 0.5 * rm + noise
    res = sm.OLS(rp, sm.add_constant(rm)).fit()
    s = ex_post_beta(rp, rm)
    assert s.reason is None
    assert s.n_obs == 250
    assert s.beta == pytest.approx(res.params[1], rel=1e-10)
    assert abs(s.beta - 0.5) < 0.05
    assert s.beta_tstat == pytest.approx(res.tvalues[1], rel=1e-9)
    assert s.beta_pvalue == pytest.approx(res.pvalues[1], rel=1e-9, abs=1e-300)
    ci = res.conf_int(alpha=0.05)[1]
    assert s.beta_ci95 == pytest.approx((ci[0], ci[1]), rel=1e-9)
    assert s.beta_ci95[0] < 0.5 < s.beta_ci95[1]
    assert s.alpha_annualized == pytest.approx(res.params[0] * 365, rel=1e-9)
    assert s.r_squared == pytest.approx(res.rsquared, rel=1e-10)
    te = np.std(res.resid, ddof=1) * math.sqrt(365)
    assert s.tracking_error_annualized == pytest.approx(te, rel=1e-9)
    assert s.information_ratio == pytest.approx(res.params[0] * 365 / te, rel=1e-9)
    assert s.truly_neutral is False
    joined = " | ".join(s.diagnoses)
    assert "estimation lag" in joined
    assert "factor exposure" in joined  # R² ≈ 0.9 here
    assert "signal decay" not in joined


def test_ex_post_beta_pvalue_for_weak_beta_matches_statsmodels() -> None:
    rm, noise = _returns(120, seed=11)
    rp = -0.002 + noise  # no market exposure at all
    res = sm.OLS(rp, sm.add_constant(rm)).fit()
    s = ex_post_beta(rp, rm)
    assert s.beta_pvalue == pytest.approx(res.pvalues[1], rel=1e-9)
    assert abs(res.params[1]) < 0.10
    assert res.pvalues[1] > 0.05
    assert s.truly_neutral is True
    # a significant small beta is not "truly neutral" even though |beta| < 0.10
    rp_tilted = rp + 0.05 * rm
    res_tilted = sm.OLS(rp_tilted, sm.add_constant(rm)).fit()
    assert abs(res_tilted.params[1]) < 0.10
    assert res_tilted.pvalues[1] < 0.05
    assert ex_post_beta(rp_tilted, rm).truly_neutral is False
    assert any("signal decay" in d for d in s.diagnoses)  # alpha -0.002/day


def test_rolling_beta_equals_manual_window_regression() -> None:
    rm, noise = _returns(100, seed=3)
    rp = 0.3 * rm + noise
    betas = rolling_beta(rp, rm, window=21)
    assert betas.shape == (100,)
    assert np.isnan(betas[:20]).all()
    for i in (20, 57, 99):
        x, y = rm[i - 20 : i + 1], rp[i - 20 : i + 1]
        manual = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
        assert betas[i] == pytest.approx(manual, rel=1e-10)


def test_rolling_beta_summary_and_unstable_diagnosis() -> None:
    rm, noise = _returns(180, seed=5)
    beta_t = np.where((np.arange(180) // 30) % 2 == 0, 0.6, -0.6)  # flips every 30 days
    rp = beta_t * rm + noise
    s = ex_post_beta(rp, rm, rolling_window=21)
    manual = np.array(
        [np.cov(rp[i - 20 : i + 1], rm[i - 20 : i + 1])[0, 1] / np.var(rm[i - 20 : i + 1], ddof=1)
         for i in range(20, 180)]
    )  # fmt: skip
    assert s.rolling_beta_mean == pytest.approx(manual.mean(), rel=1e-9)
    assert s.rolling_beta_std == pytest.approx(manual.std(ddof=1), rel=1e-9)
    assert s.rolling_beta_max_abs == pytest.approx(np.abs(manual).max(), rel=1e-9)
    assert any("unstable betas" in d for d in s.diagnoses)


def test_rolling_beta_rejects_bad_window_and_shapes() -> None:
    with pytest.raises(ValueError, match="window"):
        rolling_beta([0.1, 0.2], [0.1, 0.2], window=1)
    with pytest.raises(ValueError, match="differ"):
        rolling_beta([0.1, 0.2], [0.1], window=2)
    assert np.isnan(rolling_beta([0.1, 0.2], [0.3, 0.1], window=21)).all()


@pytest.mark.parametrize(
    ("rp", "rm", "match"),
    [
        ([0.01, 0.02], [0.01, 0.03], "at least 3"),
        ([0.0, 0.0, 0.0, 0.0], [0.01, -0.02, 0.03, 0.0], "portfolio returns are constant"),
        ([0.01, -0.02, 0.03, 0.0], [0.01, 0.01, 0.01, 0.01], "market returns are constant"),
        ([0.5, 1.0, 1.5, -1.0], [1.0, 2.0, 3.0, -2.0], "residuals are exactly zero"),
    ],
)
def test_ex_post_beta_degenerate_gives_nan_with_reason(
    rp: list[float], rm: list[float], match: str
) -> None:
    s = ex_post_beta(rp, rm)
    assert s.reason is not None
    assert match in s.reason
    assert math.isnan(s.beta)
    assert math.isnan(s.beta_pvalue)
    assert s.truly_neutral is False
    assert s.diagnoses == ()


def test_ex_post_beta_rejects_non_finite() -> None:
    with pytest.raises(ValueError, match="market_returns has a non-finite value at index 1"):
        ex_post_beta([0.1, 0.2, 0.3], [0.1, math.inf, 0.2])


# --- whole-run statistics --------------------------------------------------------------------


def _hourly(days: int) -> np.ndarray:
    return _ms(2024, 1, 1) + HOUR_MS * np.arange(24 * days, dtype=np.int64)


def test_performance_stats_constant_equity_does_not_raise() -> None:
    ts = _hourly(10)
    btc = 40_000.0 + 10.0 * np.sin(np.arange(ts.size))
    p = performance_stats(ts, np.full(ts.size, 10_000.0), btc)
    assert p.n_days == 10
    assert p.max_drawdown_frac == 0.0
    assert p.annualized_return_frac == 0.0
    assert math.isnan(p.sharpe)
    assert math.isnan(p.calmar)
    assert p.reason is not None
    assert "constant" in p.reason
    assert p.neutrality.reason is not None
    assert "constant" in p.neutrality.reason


def test_performance_stats_too_few_days() -> None:
    ts = _hourly(2)
    equity = 10_000.0 + np.arange(ts.size, dtype=float)
    p = performance_stats(ts, equity, np.full(ts.size, 50_000.0))
    assert p.n_days == 2
    assert p.reason is not None
    assert "fewer than 3" in p.reason
    assert math.isnan(p.sharpe)
    assert math.isnan(p.annualized_return_frac)
    assert p.total_return_frac == pytest.approx(47 / 10_000)


def test_performance_stats_no_snapshots() -> None:
    p = performance_stats(np.array([], dtype=np.int64), [], [])
    assert p.n_days == 0
    assert p.reason == "no equity snapshots"
    assert p.drawdown_peak_ts_ms is None


def test_performance_stats_uses_raw_drawdown_and_daily_sharpe() -> None:
    ts = _hourly(5)
    equity = np.full(ts.size, 1_000.0)
    equity[23], equity[47], equity[71], equity[95], equity[119] = 1_010, 1_000, 1_030, 1_020, 1_050
    equity[30] = 800.0  # intraday trough on day 2, recovered by the close
    p = performance_stats(ts, equity, 30_000.0 + np.arange(ts.size, dtype=float))
    assert p.max_drawdown_frac == pytest.approx((1_010 - 800) / 1_010)
    assert p.drawdown_peak_ts_ms == int(ts[23])
    assert p.drawdown_trough_ts_ms == int(ts[30])
    r = np.array([1_000 / 1_010, 1_030 / 1_000, 1_020 / 1_030, 1_050 / 1_020]) - 1
    assert p.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365), rel=1e-12)
    span_days = (ts[-1] - ts[0]) / 86_400_000
    assert p.annualized_return_frac == pytest.approx(1.05 ** (365 / span_days) - 1, rel=1e-9)


# --- snapshots without a BTC (reference) price ------------------------------------------------


def _day_closes(ts: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    """Each column at the last snapshot of each UTC day (a plain loop over the days)."""
    day = ts // 86_400_000
    last = [int(np.flatnonzero(day == d)[-1]) for d in np.unique(day)]
    return [c[last] for c in columns]


def _late_reference_snapshots() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """40 days hourly: no BTC price for the first 5 days and 3 hours (the reference's data
    starts late), nor at the last hour of day 20 (a gap), so that day's priced close is
    22:00."""
    rng = np.random.default_rng(7)
    ts = _hourly(40)
    btc = 40_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, ts.size)))
    equity = 100_000.0 * np.exp(np.cumsum(0.1 * np.diff(np.log(btc), prepend=np.log(btc[0]))))
    equity *= np.exp(np.cumsum(rng.normal(0.0, 0.001, ts.size)))
    btc[: 5 * 24 + 3] = math.nan
    btc[20 * 24 + 23] = math.nan
    return ts, equity, btc


def test_performance_stats_equity_from_every_snapshot_beta_from_the_priced_ones() -> None:
    ts, equity, btc = _late_reference_snapshots()
    p = performance_stats(ts, equity, btc)
    # equity statistics: every snapshot
    assert p.n_days == 40
    assert p.total_return_frac == pytest.approx(equity[-1] / equity[0] - 1, rel=1e-12)
    peak = np.maximum.accumulate(equity)
    assert p.max_drawdown_frac == pytest.approx(float(np.max((peak - equity) / peak)), rel=1e-12)
    (eq_close,) = _day_closes(ts, equity)
    r = eq_close[1:] / eq_close[:-1] - 1
    assert p.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365), rel=1e-9)
    span_days = (ts[-1] - ts[0]) / 86_400_000
    cagr = (equity[-1] / equity[0]) ** (365 / span_days) - 1
    assert p.annualized_return_frac == pytest.approx(cagr, rel=1e-9)
    # neutrality: the snapshots with a BTC price only, their own day closes
    keep = np.isfinite(btc)
    e_close, b_close = _day_closes(ts[keep], equity[keep], btc[keep])
    assert e_close.size == 35
    rp, rm = e_close[1:] / e_close[:-1] - 1, b_close[1:] / b_close[:-1] - 1
    fit = sm.OLS(rp, sm.add_constant(rm)).fit()
    n = p.neutrality
    assert n.reason is None
    assert n.n_obs == 34
    assert n.beta == pytest.approx(fit.params[1], rel=1e-9)
    assert n.beta_pvalue == pytest.approx(fit.pvalues[1], rel=1e-6)
    assert n.r_squared == pytest.approx(fit.rsquared, rel=1e-9)
    assert n.alpha_annualized == pytest.approx(fit.params[0] * 365, rel=1e-9)
    rolling = [
        np.cov(rp[i - 20 : i + 1], rm[i - 20 : i + 1])[0, 1] / np.var(rm[i - 20 : i + 1], ddof=1)
        for i in range(20, rp.size)
    ]
    assert n.rolling_beta_mean == pytest.approx(float(np.mean(rolling)), rel=1e-9)


def test_performance_stats_with_no_priced_snapshot_has_equity_stats_and_no_beta() -> None:
    ts = _hourly(5)
    equity = 10_000.0 + np.arange(ts.size, dtype=float)
    p = performance_stats(ts, equity, np.full(ts.size, math.nan))
    assert p.n_days == 5
    assert p.total_return_frac == pytest.approx((equity[-1] - 10_000.0) / 10_000.0)
    assert p.max_drawdown_frac == 0.0
    (eq_close,) = _day_closes(ts, equity)
    r = eq_close[1:] / eq_close[:-1] - 1
    assert p.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365), rel=1e-9)
    assert p.neutrality.reason == "no equity snapshots with a BTC price in the journal"
    assert p.neutrality.n_obs == 0
    assert math.isnan(p.neutrality.beta)


def test_daily_series_nan_btc_price_gives_nan_btc_returns_next_to_it() -> None:
    ts = np.array([_ms(2024, 1, d, 12) for d in (1, 2, 3, 4)], dtype=np.int64)
    d = daily_series(ts, [100.0, 110.0, 99.0, 99.0], [math.nan, 40_000.0, 44_000.0, math.nan])
    assert d.equity_returns_frac.tolist() == pytest.approx([0.1, -0.1, 0.0])
    assert math.isnan(d.btc_returns_frac[0])
    assert d.btc_returns_frac[1] == pytest.approx(0.1)
    assert math.isnan(d.btc_returns_frac[2])


@pytest.mark.parametrize(
    ("equity", "btc", "match"),
    [
        ([1.0, 1.0, 1.0], [1.0, math.inf, 1.0], "btc_price_usd has a non-finite value at index 1"),
        ([1.0, 1.0, 1.0], [math.nan, -math.inf, 1.0], "btc_price_usd has a non-finite"),
        ([1.0, 1.0, 1.0], [math.nan, 0.0, 1.0], "btc_price_usd must be > 0; index 1"),
        ([1.0, math.nan, 1.0], [1.0, 1.0, 1.0], "equity_usd has a non-finite value at index 1"),
    ],
)
def test_performance_stats_still_refuses_inf_and_non_positive_prices(
    equity: list[float], btc: list[float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        performance_stats(np.array([1, 2, 3], dtype=np.int64), equity, btc)


# --- formatting ------------------------------------------------------------------------------


def _neutrality() -> NeutralityStats:
    return NeutralityStats(
        beta=0.0312,
        beta_tstat=0.84,
        beta_pvalue=0.4021,
        beta_ci95=(-0.0421, 0.1045),
        alpha_annualized=0.048,
        r_squared=0.0081,
        tracking_error_annualized=0.026,
        information_ratio=1.846,
        n_obs=90,
        rolling_window=21,
        rolling_beta_mean=0.028,
        rolling_beta_std=0.061,
        rolling_beta_max_abs=0.152,
        truly_neutral=True,
        diagnoses=("R² 0.31 > 0.30: factor exposure (add factor constraints)",),
    )


def _summary(neutrality: NeutralityStats | None = None) -> RunSummary:
    streams = {
        "price_spot_usd": Decimal("1500.5"),
        "price_perp_usd": Decimal("-1234.567"),
        "funding_usd": Decimal("1000"),
        "fees_usd": Decimal("-30.4"),
        "slippage_usd": Decimal("-1.0049"),
        "total_usd": Decimal("1234.5281"),
    }
    perf = PerformanceStats(
        n_days=91,
        total_return_frac=0.012345,
        annualized_return_frac=0.0502,
        max_drawdown_frac=0.0523,
        drawdown_peak_ts_ms=_ms(2024, 2, 1),
        drawdown_trough_ts_ms=_ms(2024, 2, 10, 6),
        sharpe=1.8765,
        calmar=0.96,
        neutrality=neutrality or _neutrality(),
    )
    return RunSummary(
        ts_start_ms=_ms(2024, 1, 1),
        ts_end_ms=_ms(2024, 3, 31, 23),
        initial_equity_usd=Decimal("100000"),
        final_equity_usd=Decimal("101234.5281"),
        pnl_usd=streams,
        pnl_by_strategy_usd={"stat_arb": {"total_usd": Decimal("-12.5")}, "funding": streams},
        pnl_by_venue_usd={"binance": streams},
        counts=RunCounts(
            orders=1234, fills=1200, rejected_orders=4, risk_rejections=30, funding_payments=540
        ),
        fees_paid_usd=Decimal("30.4"),
        funding_received_usd=Decimal("1100"),
        funding_paid_usd=Decimal("100"),
        performance=perf,
        wall_time_s=12.34,
    )


def test_format_summary_contains_the_numbers() -> None:
    text = format_summary(_summary())
    for expected in [
        "100,000.00 USD",
        "101,234.53 USD",  # final equity, 2 decimals, thousands separator
        "+1,234.53 USD (+1.23%)",  # change and its fraction of initial equity
        "2024-01-01 00:00 → 2024-03-31 23:00 UTC",
        "-1,234.57",  # price perp stream
        "1,500.50",
        "1,234",  # orders count
        "5.23% (2024-02-01 00:00 → 2024-02-10 06:00 UTC)",
        "1.88",  # Sharpe
        "5.02%",  # CAGR
        "0.031 (t 0.84, p 0.402, 95% CI -0.042 … 0.104)",
        "4.80%",  # alpha annualized
        "2.60%",  # tracking error
        "max |β| 0.152",
        "truly neutral",
        "factor exposure",
        "12.3 s",
    ]:
        assert expected in text, expected
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)


def test_format_summary_pnl_table_is_aligned() -> None:
    lines = format_summary(_summary()).split("\n\n")[1].splitlines()
    assert lines[0].startswith("P&L (USD)")
    assert len({len(line) for line in lines}) == 1  # fixed width
    stat_arb = next(line for line in lines if line.startswith("strategy stat_arb"))
    assert stat_arb.split()[-1] == "-12.50"
    assert stat_arb.split().count("-") == 5  # streams it does not have


def test_format_and_dict_for_degenerate_run_have_no_nan() -> None:
    unavailable = NeutralityStats.unavailable("portfolio returns are constant", 2, 21)
    summary = _summary(unavailable)
    text = format_summary(summary)
    assert "n/a: portfolio returns are constant" in text
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    d = summary_to_dict(summary)
    encoded = json.dumps(d, allow_nan=False)  # raises on NaN
    perf = d["performance"]
    assert isinstance(perf, dict)
    assert perf["neutrality"]["beta"] is None
    assert perf["neutrality"]["beta_ci95"] == [None, None]
    assert '"final_equity_usd": "101234.5281"' in encoded


def test_summary_to_dict_round_trips_decimals_as_strings() -> None:
    d = summary_to_dict(_summary())
    assert d["initial_equity_usd"] == "100000"
    assert d["pnl_usd"]["price_perp_usd"] == "-1234.567"  # type: ignore[index]
    assert d["counts"] == {
        "orders": 1234,
        "fills": 1200,
        "rejected_orders": 4,
        "risk_rejections": 30,
        "funding_payments": 540,
        "unresolved_orders": 0,
    }
    assert d["performance"]["sharpe"] == 1.8765  # type: ignore[index]
    assert d["wall_time_s"] == 12.34


def test_format_summary_signs_of_loss_and_rounding_to_zero() -> None:
    summary = dataclasses.replace(
        _summary(),
        final_equity_usd=Decimal("98765.4321"),
        pnl_usd={"total_usd": Decimal("-1234.5679"), "fees_usd": Decimal("-0.001")},
    )
    text = format_summary(summary)
    # 98,765.4321 - 100,000 = -1,234.5679 → -1,234.57 USD, -1.23 % of initial equity
    assert "-1,234.57 USD (-1.23%)" in text
    total_row = next(line for line in text.splitlines() if line.startswith("total "))
    assert "-0.00" not in total_row
    assert " 0.00 " in total_row + " "
