"""Tests of strategies.stat_arb.signals against statsmodels (real data) and hand computations."""

from __future__ import annotations

import csv
import gzip
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from statsmodels.tsa.adfvalues import mackinnonp
from statsmodels.tsa.stattools import adfuller, coint

from strategies.common import betas_to_market
from strategies.stat_arb import signals
from strategies.stat_arb.adf import lagged_moments, pair_grams
from strategies.stat_arb.signals import (
    EXACT_BELOW_1_MINUS_RSQ,
    PairScan,
    adf_default_maxlag,
    half_life_bars,
    mackinnon_pvalue_coint,
    refit_exact,
    scan_pairs,
    select_pairs,
    spread_zscore,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "stat_arb" / "closes_720x6.csv.gz"


def load_fixture_closes() -> tuple[list[str], np.ndarray]:
    """Real Binance perp 1h closes, shape (720, 6), and their symbols (see fixture README)."""
    with gzip.open(FIXTURE, "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0][1:], np.array([[float(v) for v in r[1:]] for r in rows[1:]])


@pytest.fixture(scope="module")
def log_closes() -> np.ndarray:
    symbols, closes = load_fixture_closes()
    assert closes.shape == (720, 6)
    assert symbols[0] == "BTCUSDT"
    return np.log(closes)


# ----------------------------------------------------------------- equality with statsmodels


def _statsmodels_pair(y: np.ndarray, x: np.ndarray, maxlag: int | None, autolag: str | None):
    """Statistic, p-value, γ, intercept and ADF lag as statsmodels computes them."""
    stat, pvalue, _ = coint(y, x, trend="c", maxlag=maxlag, autolag=autolag)
    ols = sm.OLS(y, sm.add_constant(x, prepend=False)).fit()
    adf = adfuller(ols.resid, maxlag=maxlag, regression="n", autolag=autolag, result_object=True)
    return stat, pvalue, ols.params[0], ols.params[1], adf.lags


@pytest.mark.parametrize(
    ("rows", "maxlag", "autolag"),
    [
        (slice(None), None, "aic"),
        (slice(-252, None), None, "aic"),
        (slice(-100, None), None, "aic"),
        (slice(None), 6, "aic"),
        (slice(None), 4, None),
        (slice(-252, None), 0, None),
    ],
    ids=["720-aic", "252-aic", "100-aic", "720-aic-maxlag6", "720-fixed4", "252-fixed0"],
)
def test_scan_equals_statsmodels_coint_on_real_data(
    log_closes: np.ndarray, rows: slice, maxlag: int | None, autolag: str | None
) -> None:
    panel = log_closes[rows]
    scan = scan_pairs(panel, maxlag=maxlag, autolag=autolag)
    expected_pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    assert list(zip(scan.i.tolist(), scan.j.tolist(), strict=True)) == expected_pairs
    for k, (i, j) in enumerate(expected_pairs):
        stat, pvalue, gamma, intercept, lag = _statsmodels_pair(
            panel[:, i], panel[:, j], maxlag, autolag
        )
        assert abs(scan.adf_stat[k] - stat) < 1e-8, (i, j)
        assert abs(scan.p_value[k] - pvalue) < 1e-10, (i, j)
        assert scan.hedge_ratio[k] == pytest.approx(gamma, rel=1e-10, abs=1e-12)
        assert scan.intercept[k] == pytest.approx(intercept, rel=1e-10, abs=1e-12)
        assert scan.lags[k] == lag, (i, j)


def test_real_data_exercises_many_lags(log_closes: np.ndarray) -> None:
    # Guards the value of the equality test: the fixture must make AIC pick varied lags.
    lags = scan_pairs(log_closes).lags
    assert len(set(lags.tolist())) >= 6
    assert 10 <= lags.max() <= adf_default_maxlag(720)


def test_fixed_lags_are_maxlag(log_closes: np.ndarray) -> None:
    assert set(scan_pairs(log_closes, maxlag=3, autolag=None).lags.tolist()) == {3}


def test_bic_equals_statsmodels(log_closes: np.ndarray) -> None:
    panel = log_closes[-252:, :4]
    scan = scan_pairs(panel, autolag="BIC")
    for k in range(len(scan)):
        stat, _, _ = coint(panel[:, scan.i[k]], panel[:, scan.j[k]], autolag="bic")
        assert abs(scan.adf_stat[k] - stat) < 1e-8


def test_chunking_and_exact_rescoring_do_not_change_results(
    log_closes: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = scan_pairs(log_closes)
    monkeypatch.setattr(signals, "_CHUNK_FLOATS", 1)  # one pair per chunk
    monkeypatch.setattr(signals, "_GRAM_CHUNK_FLOATS", 1)  # and per chunk of Grams
    monkeypatch.setattr(signals, "AIC_TIE_TOL", math.inf)  # every pair re-scored by QR
    other = scan_pairs(log_closes)
    np.testing.assert_array_equal(other.lags, reference.lags)
    np.testing.assert_allclose(other.adf_stat, reference.adf_stat, rtol=0, atol=1e-12)
    np.testing.assert_allclose(other.half_life_bars, reference.half_life_bars, rtol=1e-12)


def test_collinear_pair_gives_minus_inf_like_statsmodels() -> None:
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=200)) * 0.01 + 5.0
    y = 2.0 * x + 1.0 + rng.normal(size=200) * 1e-12
    scan = scan_pairs(np.column_stack([y, x]))
    with pytest.warns(Warning, match="colinear"):
        stat, pvalue, _ = coint(y, x)
    assert stat == scan.adf_stat[0] == -np.inf
    assert pvalue == scan.p_value[0] == 0.0
    assert scan.lags[0] == -1


def test_mackinnon_pvalue_equals_statsmodels_on_a_grid() -> None:
    stats = np.concatenate(
        [np.linspace(-25.0, 3.0, 561), [-18.86, -2.62, 0.92, -np.inf, np.inf, -2.6200001]]
    )
    expected = np.array([mackinnonp(s, regression="c", N=2) for s in stats])
    np.testing.assert_allclose(mackinnon_pvalue_coint(stats), expected, rtol=0, atol=1e-15)


def test_default_maxlag_matches_schwert_rule() -> None:
    assert adf_default_maxlag(252) == math.ceil(12 * (252 / 100) ** 0.25) == 16
    assert adf_default_maxlag(720) == math.ceil(12 * 7.2**0.25) == 20
    assert adf_default_maxlag(10) == 4  # capped at n // 2 - 1


@pytest.mark.parametrize(
    ("panel", "kwargs", "match"),
    [
        (np.ones((50, 1)), {}, "n_assets >= 2"),
        (np.column_stack([np.arange(50.0), np.full(50, np.nan)]), {}, "NaN or inf"),
        (np.column_stack([np.arange(50.0), np.ones(50)]), {}, r"columns \[1\] are constant"),
        (np.random.default_rng(0).normal(size=(50, 2)), {"maxlag": 25}, "maxlag must be"),
        (np.random.default_rng(0).normal(size=(50, 2)), {"autolag": "t-stat"}, "autolag"),
        (np.random.default_rng(0).normal(size=(6, 2)), {}, "degree of freedom"),
    ],
)
def test_scan_rejects_bad_input(panel: np.ndarray, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        scan_pairs(panel, **kwargs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=arrays(
        np.float64,
        st.tuples(st.integers(24, 90), st.integers(2, 4)),
        elements=st.floats(-0.05, 0.05, allow_nan=False, allow_infinity=False),
    ),
    autolag=st.sampled_from(["aic", None]),
)
def test_finite_input_gives_no_nan(steps: np.ndarray, autolag: str | None) -> None:
    panel = np.cumsum(steps, axis=0) + 3.0
    assume(np.all(np.ptp(panel, axis=0) > 1e-6))
    scan = scan_pairs(panel, autolag=autolag)
    for name in ("hedge_ratio", "intercept", "adf_stat", "p_value", "half_life_bars"):
        assert not np.any(np.isnan(getattr(scan, name))), name
    assert np.all(np.isfinite(scan.hedge_ratio))
    assert np.all(np.isfinite(scan.intercept))
    assert np.all((scan.p_value >= 0) & (scan.p_value <= 1))
    assert np.all(scan.half_life_bars > 0)  # inf allowed: no mean reversion


# ---------------------------------------------------------------------------- half-life


def test_half_life_of_exact_ar1() -> None:
    b = -0.1  # ΔS_t = b S_{t-1} exactly, so OLS recovers b with no noise
    spread = (1.0 + b) ** np.arange(60)
    assert float(half_life_bars(spread)) == pytest.approx(math.log(2) / 0.1, rel=1e-9)


def test_half_life_equals_ols_on_noisy_ar1_and_batches() -> None:
    rng = np.random.default_rng(7)
    spreads = np.zeros((3, 500))
    for t in range(1, 500):
        spreads[:, t] = spreads[:, t - 1] * (1 - np.array([0.05, 0.2, 0.01])) + rng.normal(size=3)
    batched = half_life_bars(spreads)
    assert batched.shape == (3,)
    for k in range(3):
        s = spreads[k]
        fit = sm.OLS(np.diff(s), sm.add_constant(s[:-1])).fit()
        expected = math.log(2) / -fit.params[1]
        assert batched[k] == pytest.approx(expected, rel=1e-10)
        assert float(half_life_bars(s)) == batched[k]


def test_half_life_inf_without_mean_reversion() -> None:
    assert float(half_life_bars(1.1 ** np.arange(30))) == math.inf  # b = +0.1
    assert float(half_life_bars(np.full(30, 2.0))) == math.inf  # constant spread


def test_half_life_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        half_life_bars(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="NaN or inf"):
        half_life_bars(np.array([1.0, np.nan, 2.0, 3.0]))


# ------------------------------------------------------------------------------ z-score


def test_spread_zscore_by_hand() -> None:
    log_a = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    log_b = np.array([0.0, 1.0, 1.0, 1.0, 2.0])
    # S = a − 0.5 b = [1, 1.5, 2.5, 3.5, 5]; window 4 → [1.5, 2.5, 3.5, 5]: mean 3.125,
    # squared deviations 2.640625 + 0.390625 + 0.140625 + 3.515625 = 6.6875, ddof=1.
    expected = (5.0 - 3.125) / math.sqrt(6.6875 / 3)
    assert spread_zscore(log_a, log_b, 0.5, window=4) == pytest.approx(expected, rel=1e-14)


def test_spread_zscore_constant_window_is_zero() -> None:
    assert spread_zscore(np.full(5, 2.0), np.full(5, 1.0), 1.0, window=5) == 0.0


@pytest.mark.parametrize(
    ("a", "b", "window", "match"),
    [
        (np.ones(5), np.ones(4), 3, "one length"),
        (np.ones(5), np.ones(5), 1, "window"),
        (np.ones(5), np.ones(5), 6, "window"),
        (np.array([1.0, np.inf, 1.0]), np.ones(3), 3, "not finite"),
    ],
)
def test_spread_zscore_rejects_bad_input(
    a: np.ndarray, b: np.ndarray, window: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        spread_zscore(a, b, 1.0, window)


# -------------------------------------------------------------------------------- betas


def test_betas_on_constructed_returns() -> None:
    n = 40
    market = np.tile([0.01, -0.01], n // 2)  # mean 0
    noise = np.tile([0.003, 0.003, -0.003, -0.003], n // 4)  # mean 0, orthogonal to market
    assert abs(market @ noise) < 1e-18
    partial = 2.0 * market + noise
    partial[:20] = np.nan  # 20 joint observations left: exactly min_obs
    too_few = 2.0 * market
    too_few[:21] = np.nan  # 19 left
    returns = np.column_stack([2.0 * market, 2.0 * market + noise, -0.5 * market, partial, too_few])
    betas = betas_to_market(returns, market, min_obs=20)
    np.testing.assert_allclose(betas[:4], [2.0, 2.0, -0.5, 2.0], rtol=1e-12)
    assert math.isnan(betas[4])


def test_betas_unknown_when_market_is_flat_or_missing() -> None:
    returns = np.random.default_rng(1).normal(size=(30, 2))
    assert np.all(np.isnan(betas_to_market(returns, np.zeros(30))))
    market = np.random.default_rng(2).normal(size=30)
    market[:15] = np.nan
    assert np.all(np.isnan(betas_to_market(returns, market, min_obs=20)))


def test_betas_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match="need log_returns"):
        betas_to_market(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="min_obs"):
        betas_to_market(np.zeros((5, 2)), np.zeros(5), min_obs=1)


# ------------------------------------------------------------------------- select_pairs


def _scan(rows: list[tuple[int, int, float, float, float]]) -> PairScan:
    """PairScan from (i, j, adf_stat, p_value, half_life) rows."""
    cols = list(zip(*rows, strict=True))
    n = len(rows)
    return PairScan(
        i=np.array(cols[0], dtype=np.intp),
        j=np.array(cols[1], dtype=np.intp),
        hedge_ratio=np.ones(n),
        intercept=np.zeros(n),
        adf_stat=np.array(cols[2]),
        p_value=np.array(cols[3]),
        lags=np.zeros(n, dtype=np.intp),
        half_life_bars=np.array(cols[4]),
    )


SCAN_ROWS = [
    (0, 1, -3.5, 0.030, 20.0),  # ok
    (0, 2, -4.5, 0.004, 30.0),  # ok, best
    (1, 2, -4.0, 0.010, 10.0),  # ok, second; shares asset 2 with the best
    (1, 3, -3.8, 0.020, 5.0),  # half-life not > 5
    (2, 3, -5.0, 0.001, 120.0),  # half-life not < 120
    (3, 4, -3.0, 0.050, 50.0),  # p not < 0.05
    (4, 5, -3.2, 0.040, math.inf),  # no mean reversion
    (3, 5, -math.inf, 0.0, 40.0),  # collinear
    (4, 6, -3.3, 0.045, 119.0),  # ok, fourth
]


def test_select_pairs_filters_and_ranks() -> None:
    chosen = select_pairs(_scan(SCAN_ROWS), max_pairs=10, one_pair_per_asset=False)
    assert list(zip(chosen.i.tolist(), chosen.j.tolist(), strict=True)) == [
        (0, 2),
        (1, 2),
        (0, 1),
        (4, 6),
    ]


def test_select_pairs_one_per_asset_and_cap() -> None:
    scan = _scan(SCAN_ROWS)
    chosen = select_pairs(scan, max_pairs=10)
    assert list(zip(chosen.i.tolist(), chosen.j.tolist(), strict=True)) == [(0, 2), (4, 6)]
    capped = select_pairs(scan, max_pairs=1)
    assert capped.i.tolist() == [0]
    assert capped.j.tolist() == [2]
    assert len(select_pairs(scan, max_pairs=0)) == 0


def test_select_pairs_rejects_bad_arguments() -> None:
    scan = _scan(SCAN_ROWS)
    with pytest.raises(ValueError, match="p_max"):
        select_pairs(scan, p_max=0.0)
    with pytest.raises(ValueError, match="half_life_min"):
        select_pairs(scan, half_life_min=10, half_life_max=10)
    with pytest.raises(ValueError, match="max_pairs"):
        select_pairs(scan, max_pairs=-1)


def test_pair_scan_is_read_only_and_checked() -> None:
    scan = _scan(SCAN_ROWS)
    with pytest.raises(ValueError, match="read-only"):
        scan.adf_stat[0] = 0.0
    with pytest.raises(ValueError, match="one length"):
        PairScan(*(np.zeros(2),) * 7, np.zeros(3))


def test_scan_equals_statsmodels_on_every_bundled_perp() -> None:
    """All 105 pairs of the 15 bundled Binance perps over their last 720 hourly bars: test
    statistic, p-value and AIC-chosen lag equal statsmodels ``coint`` (trend "c", autolag
    "aic", default maxlag)."""
    from statsmodels.tsa.stattools import coint

    from venues.model import InstrumentId, InstrumentKind
    from venues.replay.source import ReplayDataset

    symbols = [
        "BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT",
        "AVAXUSDT", "LINKUSDT", "LTCUSDT", "DOTUSDT", "TRXUSDT", "INJUSDT", "TIAUSDT", "TONUSDT",
    ]  # fmt: skip
    data = ReplayDataset.load(perp_symbols=symbols, spot_symbols=[], funding_venues=())
    ids = [InstrumentId("binance", InstrumentKind.PERP, s) for s in symbols]
    panel = np.log(data.closes_matrix(ids)[-720:])
    scan = scan_pairs(panel)
    assert scan.adf_stat.shape == (105,)
    for k, (i, j) in enumerate(zip(scan.i.tolist(), scan.j.tolist(), strict=True)):
        stat, pvalue, _ = coint(panel[:, i], panel[:, j], trend="c", autolag="aic")
        assert abs(scan.adf_stat[k] - stat) < 1e-8, (symbols[i], symbols[j])
        assert abs(scan.p_value[k] - pvalue) < 1e-10, (symbols[i], symbols[j])


# ------------------------------------------------- Gram formulation vs QR, refit for records


@pytest.mark.parametrize("maxlag", [0, 1, 2, 7, 20])
def test_pair_grams_equal_the_gram_of_each_pairs_design(
    log_closes: np.ndarray, maxlag: int
) -> None:
    # Independent: the Gram of the explicit ADF design of ε = (y − ȳ) − γ (x − x̄).
    centred = log_closes - log_closes.mean(axis=0)
    ii, jj = np.triu_indices(6, k=1)
    gamma = np.linspace(-1.5, 2.5, ii.shape[0])
    grams = pair_grams(centred, lagged_moments(centred, maxlag), ii, jj, gamma)
    for k, (i, j) in enumerate(zip(ii.tolist(), jj.tolist(), strict=True)):
        eps = centred[:, i] - gamma[k] * centred[:, j]
        d_eps = np.diff(eps)
        rows = range(maxlag, 719)
        design = np.array(
            [[eps[t], *(d_eps[t - lag] for lag in range(1, maxlag + 1)), d_eps[t]] for t in rows]
        )
        expected = design.T @ design
        np.testing.assert_allclose(grams[k], expected, rtol=1e-10, atol=1e-12 * expected.max())


def test_gram_statistics_equal_qr_statistics_on_every_bundled_perp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batched Gram path against the QR path on all 105 pairs of the bundled perps (the
    QR path is itself equal to statsmodels, test_scan_equals_statsmodels_on_every_bundled_perp)."""
    panel = _bundled_panel()
    fast = scan_pairs(panel)
    monkeypatch.setattr(signals, "EXACT_BELOW_1_MINUS_RSQ", math.inf)  # every pair by QR
    exact = scan_pairs(panel)
    np.testing.assert_array_equal(fast.lags, exact.lags)
    np.testing.assert_allclose(fast.adf_stat, exact.adf_stat, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fast.half_life_bars, exact.half_life_bars, rtol=1e-9)
    refit = refit_exact(panel, fast)
    np.testing.assert_array_equal(refit.adf_stat, exact.adf_stat)
    np.testing.assert_array_equal(refit.half_life_bars, _qr_half_lives(panel, fast))


def test_refit_exact_does_not_depend_on_how_many_pairs_are_refitted() -> None:
    # The journal stores refitted records: one pair alone must give the bits of a batch.
    panel = _bundled_panel()
    scan = scan_pairs(panel)
    batch = refit_exact(panel, scan)
    for k in (0, 17, 104):
        alone = refit_exact(panel, scan.take(np.array([k])))
        assert alone.adf_stat[0] == batch.adf_stat[k]
        assert alone.half_life_bars[0] == batch.half_life_bars[k]
        assert alone.p_value[0] == batch.p_value[k]
    pair = refit_exact(panel, scan.take(np.array([104, 3])))
    assert pair.adf_stat.tolist() == [batch.adf_stat[104], batch.adf_stat[3]]
    assert len(refit_exact(panel, scan.take(np.zeros(0, dtype=np.intp)))) == 0


def test_nearly_collinear_pairs_take_the_qr_path_and_equal_statsmodels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_gram_path(*args: object) -> None:
        raise AssertionError("a nearly collinear pair must not take the Gram path")

    monkeypatch.setattr(signals, "adf_tstat_from_gram", no_gram_path)
    rng = np.random.default_rng(11)
    x = math.log(100.0) + np.cumsum(rng.normal(0.0, 0.01, 720))
    noise = np.zeros(720)
    for t in range(1, 720):
        noise[t] = 0.9 * noise[t - 1] + rng.normal(0.0, 1e-4)  # 1 − R² ≈ 6e-6
    y = 1.5 * x + 0.3 + noise
    scan = scan_pairs(np.column_stack([y, x]))
    centred = np.column_stack([y - y.mean(), x - x.mean()])
    eps = centred[:, 0] - scan.hedge_ratio[0] * centred[:, 1]
    assert 1.5e-6 < (eps @ eps) / (centred[:, 0] @ centred[:, 0]) < EXACT_BELOW_1_MINUS_RSQ
    stat, pvalue, _ = coint(y, x, trend="c", autolag="aic")
    assert abs(scan.adf_stat[0] - stat) < 1e-8
    assert abs(scan.p_value[0] - pvalue) < 1e-10


def _bundled_panel() -> np.ndarray:
    """Log closes of the 15 bundled Binance perps over their last 720 hourly bars."""
    from venues.model import InstrumentId, InstrumentKind
    from venues.replay.source import ReplayDataset

    symbols = [
        "BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT",
        "AVAXUSDT", "LINKUSDT", "LTCUSDT", "DOTUSDT", "TRXUSDT", "INJUSDT", "TIAUSDT", "TONUSDT",
    ]  # fmt: skip
    data = ReplayDataset.load(perp_symbols=symbols, spot_symbols=[], funding_venues=())
    ids = [InstrumentId("binance", InstrumentKind.PERP, s) for s in symbols]
    return np.asarray(np.log(data.closes_matrix(ids)[-720:]), dtype=np.float64)


def _qr_half_lives(panel: np.ndarray, scan: PairScan) -> np.ndarray:
    """half_life_bars of every pair's ε as one batch (the reference the records store)."""
    centred = panel - panel.mean(axis=0)
    resid = centred[:, scan.i].T - scan.hedge_ratio[:, None] * centred[:, scan.j].T
    return np.asarray(half_life_bars(resid))


def test_two_step_panel_with_perfect_fits_gives_no_warning_or_nan() -> None:
    """Found by the property above: two lags fitting the spread exactly give an information
    criterion of -inf twice, and their gap (-inf - -inf) was a NaN raising a RuntimeWarning;
    such pairs are re-scored exactly like any non-finite criterion."""
    steps = np.zeros((71, 2))
    steps[1, 0] = steps[12, 1] = 0.03125
    panel = np.cumsum(steps, axis=0) + 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scan = scan_pairs(panel, autolag="aic")
    assert not np.any(np.isnan(scan.p_value))
    assert np.all((scan.p_value >= 0) & (scan.p_value <= 1))
