"""The log-close panel kept between cycles and the other shortcuts of issue 14 (stat arb, beta
hedger, ``strategies.common``) give the very bits of the computation they replace.

:class:`~strategies.common.LogClosePanel` logs only the new hour's closes when the others did
not change; it is compared here, bit for bit, with the former batch computation (written out
in the test) along walks that append bars, rewrite old ones, change the set of series, shorten
histories and carry non-finite or non-positive closes, for longer than its buffer. The masked
beta estimator's all-observed shortcut, the ADF factor read from numpy's raw QR output and the
strategies' whole decisions (kept panel against a fresh one every hour) are checked the same
way. Equality is of the raw bytes, never approximate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.base import MarketSnapshot, PortfolioView
from strategies.beta_hedger import strategy as hedger_module
from strategies.beta_hedger.config import BetaHedgerConfig
from strategies.beta_hedger.state import BetaHedgerState
from strategies.beta_hedger.strategy import BetaHedgerStrategy
from strategies.common import (
    LogClosePanel,
    _moved_on_by_one_bar,
    all_true,
    betas_to_column,
    betas_to_market,
    net_delta_frac,
    usable_logs,
)
from strategies.stat_arb import market as stat_arb_market
from strategies.stat_arb.adf import adf_tstat, lagged_design, qr_r, qr_upper
from strategies.stat_arb.config import StatArbConfig
from strategies.stat_arb.market import market_view
from tests.support.adf_oracle import former_adf_tstat
from venues.model import InstrumentId, InstrumentKind


def bits(x: Any) -> bytes:
    """The exact bytes of a float or float64 array (distinguishes −0.0, NaN payloads)."""
    return np.asarray(x, dtype=np.float64).tobytes()


# ------------------------------------------------------------ the former code, verbatim


def former_log_panel(tails: list[np.ndarray], depth: int) -> np.ndarray:
    """stat_arb.market.market_view's panel before issue 14."""
    panel = np.full((depth, len(tails)), np.nan)
    for k, tail in enumerate(tails):
        if len(tail):
            panel[depth - len(tail) :, k] = tail
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(np.isfinite(panel) & (panel > 0), panel, np.nan))


def former_betas_to_market(r: np.ndarray, m: np.ndarray, min_obs: int) -> np.ndarray:
    mask = np.isfinite(r) & np.isfinite(m)[:, None]
    count = mask.sum(axis=0)
    safe_count = np.maximum(count, 1)
    r0 = np.where(mask, r, 0.0)
    m0 = np.where(mask, m[:, None], 0.0)
    rc = np.where(mask, r0 - r0.sum(axis=0) / safe_count, 0.0)
    mc = np.where(mask, m0 - m0.sum(axis=0) / safe_count, 0.0)
    cov = np.einsum("tk,tk->k", rc, mc)
    var = np.einsum("tk,tk->k", mc, mc)
    known = (count >= min_obs) & (var > 0)
    beta = np.full(r.shape[1], np.nan)
    np.divide(cov, var, out=beta, where=known)
    return beta


def former_hedger_betas(
    closes: dict[InstrumentId, np.ndarray], ids: list[InstrumentId], window: int, min_obs: int
) -> np.ndarray:
    """beta_hedger.strategy.BetaHedgerStrategy._betas before issue 14 (market in column 0)."""
    panel = np.full((window + 1, len(ids)), np.nan)
    for k, iid in enumerate(ids):
        c = closes.get(iid)
        if c is not None and len(c) > 0:
            tail = c[-(window + 1) :]
            panel[window + 1 - len(tail) :, k] = tail
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.diff(np.log(np.where(panel > 0, panel, np.nan)), axis=0)
    return former_betas_to_market(returns, returns[:, 0], min_obs)


# -------------------------------------------------------------------- LogClosePanel


def _walk_histories(
    rng: np.random.Generator, n_series: int, n_bars: int, dirty: bool
) -> np.ndarray:
    """Random-walk closes, shape (n_series, n_bars); ``dirty`` sprinkles NaN, ±inf, 0 and
    negative closes."""
    closes = np.exp(np.cumsum(rng.normal(0.0, 0.01, (n_series, n_bars)), axis=1)) * 50.0
    if dirty:
        spots = rng.random(closes.shape) < 0.01
        closes[spots] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -1.0], size=int(spots.sum()))
    return closes


@pytest.mark.parametrize("seed", range(6))
def test_panel_is_the_former_batch_panel_along_a_walk(seed: int) -> None:
    """Appends, rewrites, new series, short histories and bad closes, over 2.5 buffers."""
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(2, 40))
    n_series = int(rng.integers(1, 7))
    steps = 2 * (depth + LogClosePanel._SPARE_ROWS) + 50
    history = _walk_histories(rng, n_series + 1, steps + depth, dirty=seed % 2 == 1)
    panel = LogClosePanel(depth)
    held: list[tuple[np.ndarray, bytes]] = []
    columns = list(range(n_series))
    appended = 0
    previous = panel.update([history[j, :1] for j in columns])
    for t in range(1, steps):
        event = rng.random()
        if event < 0.02:  # an old bar of one series is corrected
            j = int(rng.integers(0, n_series + 1))
            history[j, max(0, t - int(rng.integers(1, depth + 1)))] *= 1.001
        elif event < 0.03:  # another set (or order) of series
            columns = list(rng.permutation(n_series + 1)[: int(rng.integers(1, n_series + 2))])
        ends = [t if rng.random() > 0.01 else max(0, t - 1) for _ in columns]
        tails = [
            history[j, max(0, end - depth) : end] for j, end in zip(columns, ends, strict=True)
        ]
        got = panel.update(tails)
        appended += np.shares_memory(got, previous)  # one row appended to the same buffer
        previous = got
        want = former_log_panel(tails, depth)
        assert got.shape == want.shape
        assert bits(got) == bits(want), t
        for rows in {1, depth, int(rng.integers(1, depth + 1))}:
            assert bits(panel.finite_rows(rows)) == bits(np.isfinite(want[-rows:]).all(axis=0))
        if t % 37 == 0:
            held.append((got, bits(got)))
    assert appended > steps // 2  # the walk does exercise the one-row path
    assert all(bits(p) == b for p, b in held)  # a panel handed out is never written again


def test_a_rewritten_bar_rebuilds_the_panel() -> None:
    """The shift check is what keeps the panel exact: a history corrected one bar back (with
    the newest bar appended as usual) must show the corrected close."""
    closes = np.array([[10.0, 11.0, 12.0, 13.0, 14.0]])
    panel = LogClosePanel(3)
    panel.update([closes[0, :3]])
    corrected = closes.copy()
    corrected[0, 2] = 20.0  # the bar before the new one was rewritten
    got = panel.update([corrected[0, 1:4]])
    assert bits(got) == bits(former_log_panel([corrected[0, 1:4]], 3))
    assert got[1, 0] == np.log(20.0)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 9),
    st.integers(2, 12),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["none", "kept", "newest", "last_kept"]),
)
def test_the_shift_check_compares_exactly_the_closes_kept(
    k: int, depth: int, seed: int, change: str
) -> None:
    """The shift check reads the ``(k, depth)`` closes as one run, whose entries at the row
    junctions pair the newest close with the next series' dropped oldest one: neither is
    compared. A change in any kept close must rebuild (new buffer), while the newest closes are
    free (one row appended); the panel is the batch one either way."""
    rng = np.random.default_rng(seed)
    history = np.exp(rng.normal(0.0, 0.01, (k, depth + 1)).cumsum(axis=1)) * 50.0
    panel = LogClosePanel(depth)
    before = panel.update(list(history[:, :depth]))
    new = history[:, 1:].copy()
    j = int(rng.integers(0, k))
    if change == "kept":  # any close both windows hold
        new[j, int(rng.integers(0, depth - 1))] *= 1.001
    elif change == "last_kept":  # the one next to a junction
        new[j, depth - 2] *= 1.001
    elif change == "newest":
        new[j, depth - 1] = -new[j, depth - 1]  # even a bad newest close appends
    got = panel.update(list(new))
    assert bits(got) == bits(former_log_panel(list(new), depth))
    rebuilt = change in ("kept", "last_kept")
    assert np.shares_memory(got, before) is not rebuilt


def test_the_same_tails_again_give_the_same_panel() -> None:
    panel = LogClosePanel(4)
    tails = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([5.0, 6.0])]
    first = panel.update(tails).copy()
    assert bits(panel.update(tails)) == bits(first) == bits(former_log_panel(tails, 4))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 6),
    st.integers(2, 9),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["shifted", "one_kept_changed", "newest_changed", "specials"]),
)
def test_the_shift_check_is_the_array_comparison(k: int, depth: int, seed: int, case: str) -> None:
    """_moved_on_by_one_bar (one contiguous run, the row junctions set true) against the
    comparison it stands for, on panels that did move on by one bar, that differ in one kept
    close or in a newest one only, and on closes drawn from NaN, ±inf, ±0.0 and two plain
    values (NaN equals nothing, -0.0 equals 0.0)."""
    rng = np.random.default_rng(seed)
    history = rng.normal(50.0, 1.0, (k, depth + 1))
    if case == "specials":
        specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 2.0])
        history = specials[rng.integers(0, len(specials), (k, depth + 1))]
    previous, closes = history[:, :-1].copy(), history[:, 1:].copy()
    if k and case == "one_kept_changed":
        closes[int(rng.integers(0, k)), int(rng.integers(0, depth - 1))] += 1.0
    elif k and case == "newest_changed":
        closes[int(rng.integers(0, k)), depth - 1] += 1.0
    want = bool((closes[:, :-1] == previous[:, 1:]).all())
    assert _moved_on_by_one_bar(closes, previous) is want
    if case in ("shifted", "newest_changed"):
        assert want
    elif case == "one_kept_changed":
        assert want is (k == 0)


def test_panel_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="depth"):
        LogClosePanel(1)
    panel = LogClosePanel(3)
    with pytest.raises(ValueError, match="tail 0"):
        panel.update([np.ones(4)])
    with pytest.raises(ValueError, match="one-dimensional"):
        panel.update([np.ones((3, 2))])
    panel.update([np.ones(3)])
    with pytest.raises(ValueError, match="rows"):
        panel.finite_rows(4)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(min_value=1e-300, max_value=1e300),
        ),
        min_size=1,
        max_size=70,
    )
)
def test_one_row_logs_are_the_batch_logs(values: list[float]) -> None:
    """The appended row (np.log of a contiguous row, or usable_logs when a close is bad) has
    the bits of the same closes logged inside a whole panel."""
    row = np.array(values)
    panel = LogClosePanel(2)
    previous = np.full(len(values), 3.0)
    panel.update(list(np.column_stack([np.full(len(values), 2.0), previous])))
    got = panel.update(list(np.column_stack([previous, row])))
    whole = former_log_panel(list(np.column_stack([previous, row])), 2)
    assert bits(got) == bits(whole)
    assert bits(got[-1]) == bits(usable_logs(row))


# ------------------------------------------------------------------- betas_to_market


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 80),
    st.integers(1, 20),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["finite", "nan", "fortran", "constant_market", "still_market"]),
)
def test_betas_are_the_former_masked_computation(n: int, k: int, seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.02, (n, k)) * rng.choice([1e-8, 1.0, 1e6])
    m = rng.normal(0.0, 0.02, n)
    if kind == "nan":
        r[rng.random((n, k)) < 0.1] = np.nan
        m[rng.random(n) < 0.05] = np.inf
    elif kind == "fortran":
        r = np.asfortranarray(r)
    elif kind == "constant_market":
        m[:] = 0.01
    elif kind == "still_market":  # var exactly 0: every beta unknown, the masked division
        m[:] = 0.0
    min_obs = int(rng.integers(2, n + 2))
    assert bits(betas_to_market(r, m, min_obs)) == bits(former_betas_to_market(r, m, min_obs))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 80),
    st.integers(1, 20),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["finite", "nan", "fortran", "still_market", "nan_market", "huge"]),
)
def test_betas_to_a_column_are_the_former_masked_computation(
    n: int, k: int, seed: int, kind: str
) -> None:
    """betas_to_column (no (n, k) market copy, one einsum, var read off the market's own
    covariance) against the former code handed the market column, bit for bit: every path,
    a market that did not move (0 / 0 would be another NaN), sums that overflow."""
    rng = np.random.default_rng(seed)
    column = int(rng.integers(0, k))
    r = rng.normal(0.0, 0.02, (n, k)) * rng.choice([1e-8, 1.0, 1e6])
    if kind == "nan":
        r[rng.random((n, k)) < 0.1] = np.nan
    elif kind == "fortran":
        r = np.asfortranarray(r)
    elif kind == "still_market":  # var exactly 0: every beta unknown
        r[:, column] = 0.01
    elif kind == "nan_market":
        r[int(rng.integers(0, n)), column] = np.inf
    elif kind == "huge":  # squares and sums overflow to inf (and inf - inf to NaN)
        r *= 1e160
    min_obs = int(rng.integers(2, n + 2))
    with np.errstate(all="ignore"):
        got = betas_to_column(r, column, min_obs)
        want = former_betas_to_market(r, r[:, column].copy(), min_obs)
    assert bits(got) == bits(want)


@pytest.mark.parametrize(("n", "k"), [(63, 200), (1000, 250), (300, 1), (9, 2), (2, 17)])
def test_betas_to_a_column_of_large_and_thin_panels(n: int, k: int) -> None:
    """Shapes past the hypothesis ranges (numpy's loops may change with the size: a single
    column reduces pairwise, many columns row by row): still the former bits, every column."""
    r = np.random.default_rng(n * k).normal(0.0, 0.02, (n, k))
    for column in sorted({0, k // 2, k - 1}):
        got = betas_to_column(r, column, 2)
        assert bits(got) == bits(former_betas_to_market(r, r[:, column].copy(), 2))


def former_panel_betas(
    logs_window: np.ndarray, symbols: list[str], config: StatArbConfig
) -> dict[str, float]:
    """stat_arb.market._panel_betas before it called betas_to_column (the market handed to
    betas_to_market as a C-contiguous copy of its column)."""
    if config.market_symbol not in symbols:
        return {sym: math.nan for sym in symbols}
    returns = np.ascontiguousarray(np.diff(logs_window, axis=0))
    market = np.ascontiguousarray(returns[:, symbols.index(config.market_symbol)])
    betas = betas_to_market(returns, market, min_obs=config.beta_min_obs)
    return {sym: float(b) for sym, b in zip(symbols, betas, strict=True)}


@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 70),
    st.integers(1, 8),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["finite", "short_histories", "nan", "still_market", "no_market"]),
)
def test_stat_arb_panel_betas_are_the_former_ones(rows: int, k: int, seed: int, kind: str) -> None:
    """stat arb's betas of the log panel's window (the market one of its columns, found by
    name, anywhere): the former betas_to_market call's bits, NaN-padded histories (the masked
    path), a market that did not move, no market column at all."""
    rng = np.random.default_rng(seed)
    names = [f"S{j}USDT" for j in range(k)]
    market_col = int(rng.integers(0, k))
    names[market_col] = "BTCUSDT"
    if kind == "no_market":
        names[market_col] = "ZZZUSDT"
    logs = np.cumsum(rng.normal(0.0, 0.01, (rows, k)), axis=0) + rng.uniform(0, 5, k)
    if kind == "short_histories":  # some columns' rows before their history are NaN
        for j in range(k):
            logs[: int(rng.integers(0, rows)), j] = np.nan
    elif kind == "nan":
        logs[rng.random((rows, k)) < 0.05] = np.nan
    elif kind == "still_market":
        logs[:, market_col] = 1.5
    config = StatArbConfig(
        symbols=["BTCUSDT", "ETHUSDT"],
        market_symbol="BTCUSDT",
        beta_window_bars=80,
        beta_min_obs=int(rng.integers(2, rows + 2)),
    )
    with np.errstate(all="ignore"):
        got = stat_arb_market._panel_betas(logs, names, config)
        want = former_panel_betas(logs, names, config)
    assert list(got) == list(want) == names
    assert all(bits(got[s]) == bits(want[s]) for s in names)


def test_betas_to_column_rejects_bad_arguments() -> None:
    r = np.ones((30, 3))
    for column in (-1, 3):
        with pytest.raises(ValueError, match="column"):
            betas_to_column(r, column)
    with pytest.raises(ValueError, match="column"):
        betas_to_column(np.ones(30), 0)
    with pytest.raises(ValueError, match="min_obs"):
        betas_to_column(r, 0, min_obs=1)


def test_betas_of_a_market_that_did_not_move_are_unknown() -> None:
    r = np.random.default_rng(5).normal(0.0, 0.02, (30, 4))
    assert np.isnan(betas_to_market(r, np.zeros(30), 20)).all()
    assert not np.isnan(betas_to_market(r, r[:, 0].copy(), 20)).any()


# ------------------------------------------------------------------------- all_true


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 5), max_size=3),
    st.floats(0.0, 1.0),
    st.integers(0, 2**32 - 1),
)
def test_all_true_is_ndarray_all(shape: list[int], p_false: float, seed: int) -> None:
    flags = np.random.default_rng(seed).random(shape) >= p_false
    assert all_true(flags) is bool(flags.all())
    assert all_true(flags.T) is bool(flags.all())  # any memory order
    assert all_true(np.bool_(True))
    assert not all_true(np.bool_(False))
    assert all_true(np.ones((3, 0), dtype=bool))  # nothing to be false


# ------------------------------------------------------------------- net_delta_frac


def former_net_delta_frac(legs: list[tuple[float, float]]) -> tuple[float, float]:
    pairs = list(legs)
    delta = math.fsum(q * p for q, p in pairs)
    if not pairs:
        return 0.0, 0.0
    value = math.fsum(abs(q * p) for q, p in pairs) / len(pairs)
    return delta, (abs(delta) / value if value > 0 else 0.0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-1e9, 1e9, allow_subnormal=True), st.floats(0.0, 1e7, allow_subnormal=True)
        ),
        max_size=5,
    )
)
def test_net_delta_frac_is_the_former_computation(legs: list[tuple[float, float]]) -> None:
    got, want = net_delta_frac(iter(legs)), former_net_delta_frac(legs)
    assert [x.hex() for x in got] == [x.hex() for x in want]


# ------------------------------------------------------------- the hedger's exposure


def former_exposure(
    positions: dict[InstrumentId, float],
    betas: dict[str, float],
    prices: dict[str, float],
    option_deltas: dict[InstrumentId, float],
) -> tuple[float, float, list[str]]:
    exposure = gross = 0.0
    unknown: set[str] = set()
    for iid, qty in positions.items():
        if not qty:
            continue
        base = hedger_module._base_of(iid)
        price, beta = prices.get(base, math.nan), betas.get(base, math.nan)
        unit_delta = 1.0
        if iid.kind is InstrumentKind.OPTION:
            if iid not in option_deltas:
                unknown.add(iid.symbol)
                continue
            unit_delta = option_deltas[iid]
        if not (price > 0 and math.isfinite(beta)):
            unknown.add(base)
            continue
        exposure += qty * unit_delta * price * beta
        gross += abs(qty * unit_delta) * price
    return exposure, gross, sorted(unknown)


@pytest.mark.parametrize("seed", range(40))
def test_hedger_exposure_is_the_former_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bases = ["BTC", "ETH", "SOL", "XRP"]
    ids = [
        *(InstrumentId("binance", InstrumentKind.PERP, f"{b}USDT") for b in bases),
        *(InstrumentId("bybit", InstrumentKind.SPOT, f"{b}USDT") for b in bases),
        InstrumentId("deribit", InstrumentKind.OPTION, "BTC-27JUN25-60000-C"),
        InstrumentId("deribit", InstrumentKind.OPTION, "ETH-27JUN25-3000-P"),
        InstrumentId("deribit", InstrumentKind.OPTION, "not-an-option-name"),
    ]
    chosen = rng.permutation(len(ids))[: rng.integers(0, len(ids) + 1)]
    positions = {ids[k]: float(rng.choice([0.0, rng.normal(0.0, 5.0)])) for k in chosen}
    betas = {b: float(rng.choice([math.nan, rng.normal(1.0, 0.5)])) for b in bases[:3]}
    prices = {b: float(rng.choice([math.nan, 0.0, rng.uniform(0.5, 9e4)])) for b in bases}
    deltas = {ids[8]: float(rng.uniform(0.0, 1.0))} if rng.random() < 0.5 else {}
    got = hedger_module._exposure(positions, betas, prices, deltas)
    want = former_exposure(positions, betas, prices, deltas)
    assert (got[0].hex(), got[1].hex(), got[2]) == (want[0].hex(), want[1].hex(), want[2])


# ------------------------------------------------------------------------ ADF factor


@pytest.mark.parametrize("lags", [0, 1, 3])
def test_adf_tstat_reads_the_same_r_as_qr_mode_r(lags: int) -> None:
    rng = np.random.default_rng(lags)
    for n_pairs, n_bars in [(1, 30), (3, 252), (2, 12)]:
        resid = np.cumsum(rng.normal(size=(n_pairs, n_bars)), axis=1) * 0.01
        design = lagged_design(resid, lags, lags, level_first=False)
        upper = np.triu(np.ones((lags + 2, lags + 2), dtype=bool))
        assert bits(qr_upper(design)[:, upper]) == bits(qr_r(design)[:, upper])
        assert bits(adf_tstat(resid, lags)) == bits(former_adf_tstat(resid, lags))


# --------------------------------------------------- whole computations, kept vs fresh


def _snapshot(closes: dict[InstrumentId, np.ndarray], t: int, depth: int) -> MarketSnapshot:
    return MarketSnapshot(
        ts_ms=t * 3_600_000,
        instruments={},
        prices={i: float(c[t]) for i, c in closes.items()},
        funding={},
        closes={i: c[max(0, t + 1 - depth) : t + 1] for i, c in closes.items()},
    )


def test_market_view_with_a_kept_panel_is_the_fresh_view() -> None:
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    config = StatArbConfig(symbols=symbols, calibration_bars=60, beta_window_bars=20)
    depth = 61
    ids = {s: InstrumentId("binance", InstrumentKind.PERP, s) for s in symbols}
    rng = np.random.default_rng(3)
    history = _walk_histories(rng, len(symbols), 500, dirty=False)
    history[2, 200] = np.nan  # SOL unusable for calibration_bars hours
    closes = {ids[s]: history[k] for k, s in enumerate(symbols)}
    panel = LogClosePanel(depth)
    for t in range(40, 500):
        snap = _snapshot(closes, t, depth)
        kept, fresh = (
            market_view(snap, ids, config, depth, panel),
            market_view(snap, ids, config, depth),
        )
        assert kept.prices == fresh.prices
        assert list(kept.log_closes) == list(fresh.log_closes)
        assert all(bits(kept.log_closes[s]) == bits(fresh.log_closes[s]) for s in kept.prices)
        assert all(kept.log_closes[s].strides == fresh.log_closes[s].strides for s in kept.prices)
        assert bits([kept.betas[s] for s in kept.betas]) == bits(list(fresh.betas.values()))
    assert "SOLUSDT" in kept.prices


def test_beta_hedger_decisions_with_a_kept_panel_are_the_former_ones() -> None:
    """The hedger along 700 hours (the buffer rolls over): one instance against a fresh one
    every hour, and its betas against the former batch computation."""
    universe = ["BTC", "ETH", "SOL", "XRP"]
    config = BetaHedgerConfig(universe=universe, beta_window_bars=30, beta_min_obs=10)
    ids = [InstrumentId("binance", InstrumentKind.PERP, f"{b}USDT") for b in universe]
    rng = np.random.default_rng(11)
    history = _walk_histories(rng, len(universe), 700, dirty=True)
    history[0] = np.exp(np.cumsum(rng.normal(0.0, 0.01, 700))) * 50.0  # BTC stays clean
    closes = {iid: history[k] for k, iid in enumerate(ids)}
    closes.pop(ids[3])  # XRP has no closes: unknown beta
    kept = BetaHedgerStrategy(config)
    positions = {ids[1]: 2.0, ids[2]: -3.0, ids[3]: 1.0}
    portfolio = PortfolioView(1e5, 5e4, {}, net_positions=positions)
    for t in range(1, 700):
        snap = _snapshot(closes, t, kept.history_bars)
        got = kept.decide(snap, portfolio, BetaHedgerState(), t * 3_600_000)
        fresh = BetaHedgerStrategy(config).decide(snap, portfolio, BetaHedgerState(), t * 3_600_000)
        assert repr(got) == repr(fresh)
        want = former_hedger_betas(snap.closes, ids, 30, 10)
        assert bits(list(kept._betas(snap).values())) == bits(want)


def test_beta_hedger_reading_only_held_bases_decides_as_reading_all() -> None:
    """The hedger estimates the betas of the bases held (and the market) only: along 600
    hours of changing holdings (some bases outside the universe, one without closes, an
    inventory perp), its decisions equal those of a hedger estimating every base's beta,
    and its betas are those of the former batch computation."""
    universe = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC"]
    config = BetaHedgerConfig(
        universe=universe,
        beta_window_bars=30,
        beta_min_obs=10,
        inventory_usd={"ADAUSDT": 500.0},
    )
    ids = [InstrumentId("binance", InstrumentKind.PERP, f"{b}USDT") for b in universe]
    rng = np.random.default_rng(5)
    history = _walk_histories(rng, len(universe), 600, dirty=True)
    history[0] = np.exp(np.cumsum(rng.normal(0.0, 0.01, 600))) * 50.0  # BTC stays clean
    closes = {iid: history[k] for k, iid in enumerate(ids)}
    closes.pop(ids[3])  # XRP has no closes: unknown beta
    outside = InstrumentId("bybit", InstrumentKind.PERP, "TONUSDT")  # not in the universe
    limited, every = BetaHedgerStrategy(config), BetaHedgerStrategy(config)
    all_bases = sorted(universe)
    widths: set[int] = set()
    positions: dict[InstrumentId, float] = {}
    for t in range(1, 600):
        if t % 17 == 1:  # holdings change
            held = rng.choice(len(ids), size=int(rng.integers(0, len(ids))), replace=False)
            positions = {ids[k]: float(rng.normal()) for k in held.tolist()}
            if rng.random() < 0.5:
                positions[outside] = 1.0
        snap = _snapshot(closes, t, limited.history_bars)
        portfolio = PortfolioView(1e5, 5e4, {}, net_positions=positions)
        now = t * 3_600_000
        got = limited.decide(snap, portfolio, BetaHedgerState(), now)
        read = limited._read_bases({**positions}, {ids[4]: 1.0})
        widths.add(len(read))
        want = _decide_reading_every_base(every, all_bases, snap, portfolio, now)
        assert repr(got) == repr(want), t
        betas = limited._betas(snap, read)
        former = former_hedger_betas(snap.closes, ids, 30, 10)
        assert bits([betas[b] for b in read]) == bits([former[universe.index(b)] for b in read])
    assert len(widths) > 3  # the panel did change its width with the holdings
    assert min(widths) < len(universe)  # and it did leave bases out


def _decide_reading_every_base(
    hedger: BetaHedgerStrategy,
    all_bases: list[str],
    snap: MarketSnapshot,
    portfolio: PortfolioView,
    now_ms: int,
) -> Any:
    """``hedger.decide`` with every base of the universe read (the former rule)."""
    original = hedger._read_bases
    hedger._read_bases = lambda held, inventory: all_bases  # type: ignore[method-assign]
    try:
        return hedger.decide(snap, portfolio, BetaHedgerState(), now_ms)
    finally:
        hedger._read_bases = original  # type: ignore[method-assign]
