"""The replay's fast paths give exactly what the computation they shortcut gives.

Each speed-up of the default replay (issue 14) replaces a recomputation by a memo, a batch or
a cached view; the journal must stay identical row by row, so each is checked here against the
plain computation (kept in the code as the reference, or written out in the test) on inputs
that exercise its edges: equality is exact (``==`` on floats), never approximate.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal as D
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from agent.engine.marketdata import MarketData
from agent.logs import REDACTED, redact_secrets
from agent.portfolio.ledger import Portfolio
from strategies.cross_venue_arb import rates, signals
from strategies.cross_venue_arb.market import perp_id
from strategies.cross_venue_arb.state import PerpRates, Settlement
from strategies.stat_arb import market as stat_arb_market
from strategies.stat_arb.config import StatArbConfig
from venues.model import (
    Fill,
    Instrument,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    Side,
    base_asset,
)
from venues.replay.guards import DataGuards, price_jumps, robust_sigma

H_MS = 3_600_000

# ------------------------------------------------------------- cross-venue rate book memo


def _entry(stamps_h: list[int], rng: random.Random) -> PerpRates:
    settlements = tuple(
        Settlement(h * H_MS, rng.uniform(-1e-4, 1e-4), rng.choice([1.0, 4.0, 8.0]))
        for h in stamps_h
    )
    start = (stamps_h[0] - 8) * H_MS if stamps_h else 0
    last = stamps_h[-1] * H_MS if stamps_h else 0
    return PerpRates(last_funding_ms=last, history_start_ms=start, settlements=settlements)


def test_mean_rate_memo_equals_the_plain_mean_over_any_sequence_of_cycles() -> None:
    """Cycles moving forward and back, entries replaced or kept, windows emptied (the latest
    settlement stands in), unsorted stamps: the memo returns the plain function's float."""
    rng = random.Random(14)
    cache = rates.MeanRateCache()
    lookback_ms = 24 * H_MS
    book: dict[str, PerpRates] = {}
    for cycle in range(3_000):
        key = rng.choice(["a", "b", "c"])
        if key not in book or rng.random() < 0.05:  # a new settlement: the entry is replaced
            n = rng.randint(0, 30)
            stamps = sorted(rng.sample(range(0, 400), n))
            if rng.random() < 0.1:
                rng.shuffle(stamps)
            book[key] = _entry(stamps, rng)
        now_ms = rng.randint(0, 450) * H_MS
        expected = rates.mean_rate_per_hour(book, key, now_ms, lookback_ms)
        before = cache.mean_rate_per_hour(book, key, now_ms, lookback_ms)
        again = cache.mean_rate_per_hour(book, key, now_ms, lookback_ms)
        assert before == expected or (before is expected is None), cycle
        assert again == expected or (again is expected is None), cycle
    assert cache.mean_rate_per_hour(book, "absent", 10 * H_MS, lookback_ms) is None


def test_mean_rate_memo_follows_a_settlement_leaving_the_window() -> None:
    """Hourly cycles over one entry: the value changes exactly when a stamp leaves the window
    (hand-computed means), although the entry object stays the same."""
    entry = PerpRates(
        last_funding_ms=16 * H_MS,
        history_start_ms=-100 * H_MS,
        settlements=(
            Settlement(0, 3e-5, 8.0),
            Settlement(8 * H_MS, 1e-5, 8.0),
            Settlement(16 * H_MS, 2e-5, 8.0),
        ),
    )
    book = {"x": entry}
    cache = rates.MeanRateCache()
    lookback_ms = 20 * H_MS
    # now 17 h: cut −3 h, all three inside: (3 + 1 + 2) / 3 e-5
    assert cache.mean_rate_per_hour(book, "x", 17 * H_MS, lookback_ms) == pytest.approx(2e-5)
    # now 20 h: cut 0 h, the stamp at 0 leaves: (1 + 2) / 2 e-5
    assert cache.mean_rate_per_hour(book, "x", 20 * H_MS, lookback_ms) == pytest.approx(1.5e-5)
    # now 36 h: cut 16 h, none inside: the latest (2e-5) stands in
    assert cache.mean_rate_per_hour(book, "x", 36 * H_MS, lookback_ms) == pytest.approx(2e-5)


def test_weighted_mean_fast_check_still_names_the_bad_value() -> None:
    with pytest.raises(ValueError, match="rate_per_hour must be finite"):
        signals.weighted_mean_rate_per_hour([1e-5, math.inf], [1.0, 1.0])
    with pytest.raises(ValueError, match="interval_h must be finite and > 0"):
        signals.weighted_mean_rate_per_hour([1e-5, 2e-5], [1.0, -8.0])
    with pytest.raises(ValueError, match="interval_h must be finite and > 0"):
        signals.weighted_mean_rate_per_hour([1e-5], [math.nan])
    values, hours = [1e-5, -3e-5, 2.5e-5], [8.0, 1.0, 4.0]
    expected = math.fsum(r * h for r, h in zip(values, hours, strict=True)) / 13.0
    assert signals.weighted_mean_rate_per_hour(values, hours) == expected


def test_memoized_ids_are_the_ids() -> None:
    assert perp_id("hyperliquid", "BTC") is perp_id("hyperliquid", "BTC")
    assert perp_id("bybit", "ETH") == InstrumentId("bybit", InstrumentKind.PERP, "ETHUSDT")
    assert base_asset("ETH-USDT-SWAP") == "ETH"
    assert base_asset("SOL") == "SOL"


# ------------------------------------------------------------------ price-jump guard batch


class _Series:
    """The part of a ``KlineSeries`` the guard reads: its closes and length."""

    def __init__(self, close: np.ndarray) -> None:
        self.close = close

    def __len__(self) -> int:
        return len(self.close)


def _reference_jumps(close: np.ndarray, k: float, window: int) -> list[int]:
    """The guard one row at a time, as written before the batch (robust_sigma per row)."""
    log_close = np.log(close)
    abs_ret = np.abs(np.diff(log_close))
    flagged: list[int] = []
    for row in (np.flatnonzero(abs_ret > k * 1e-4) + 1).tolist():
        if row <= 24:
            continue
        sigma = robust_sigma(abs_ret[max(0, row - 1 - window) : row - 1])
        ref = row - 1
        while ref in flagged:
            ref -= 1
        if abs(float(log_close[row] - log_close[ref])) > k * sigma:
            flagged.append(row)
    return flagged


@pytest.mark.parametrize("window", [5, 30, 168])
def test_batched_price_jump_sigmas_flag_the_same_rows(window: int) -> None:
    rng = np.random.default_rng(window)
    flagged_any = 0
    for _ in range(60):
        n = int(rng.integers(30, 900))
        close = np.exp(np.cumsum(rng.normal(0.0, rng.choice([1e-5, 1e-3, 0.02]), n))) * 100
        for row in rng.integers(0, n, int(rng.integers(0, 4))):
            close[row] *= rng.choice([60.0, 0.02, 1.3])
        for k in (100.0, 5.0):
            expected = _reference_jumps(close, k, window)
            guards = DataGuards(price_jump_max_sigmas=k, vol_window_bars=window)
            got = price_jumps(_Series(close), guards)  # type: ignore[arg-type]
            assert got == expected
            flagged_any += bool(got)
    assert flagged_any > 0  # the comparison saw flagged rows, not only empty lists


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 420),
    window=st.sampled_from([1, 2, 3, 7, 24, 60, 168, 500]),
    k=st.sampled_from([2.0, 5.0, 30.0, 100.0]),
    vol=st.sampled_from([0.0, 1e-5, 1e-3, 0.02]),
    seed=st.integers(0, 2**32 - 1),
    spikes=st.lists(
        st.tuples(st.floats(0, 1), st.integers(1, 4), st.sampled_from([100.0, 0.01, 1.5, 3.0])),
        max_size=4,
    ),
    gaps=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 3)), max_size=3),
)
def test_price_jumps_flag_the_rows_of_the_row_by_row_rule(
    n: int,
    window: int,
    k: float,
    vol: float,
    seed: int,
    spikes: list[tuple[float, int, float]],
    gaps: list[tuple[float, int]],
) -> None:
    """Windows shorter than ``window`` (short files, the first rows), multi-bar spikes (the row
    after a flagged one is judged from an older close), flat series and NaN gaps."""
    rng = np.random.default_rng(seed)
    close = np.exp(np.cumsum(rng.normal(0.0, vol, n))) * 100.0
    for where, length, factor in spikes:
        start = int(where * (n - 1))
        close[start : start + length] *= factor
    for where, length in gaps:
        start = int(where * (n - 1))
        close[start : start + length] = np.nan
    guards = DataGuards(price_jump_max_sigmas=k, vol_window_bars=window)
    got = price_jumps(_Series(close), guards)  # type: ignore[arg-type]
    assert got == _reference_jumps(close, k, window)


def test_a_three_bar_spike_is_flagged_on_every_bar_like_the_rule() -> None:
    """The rows after a flagged one are judged from the close before the spike: each of the
    three 100x bars is flagged (none of them is a reference), the return to the old level is
    not."""
    rng = np.random.default_rng(3)
    close = np.exp(np.cumsum(rng.normal(0.0, 0.01, 400))) * 100.0
    close[300:303] *= 100.0
    expected = _reference_jumps(close, 100.0, 168)
    assert expected == [300, 301, 302]
    assert price_jumps(_Series(close), DataGuards()) == expected  # type: ignore[arg-type]


# ----------------------------------------------------------------- stat-arb betas panel


def _stat_arb_snapshot(lengths: dict[str, int], depth: int) -> tuple[Any, dict[str, Any]]:
    rng = np.random.default_rng(7)
    ids = {s: InstrumentId("binance", InstrumentKind.PERP, s) for s in lengths}
    closes = {
        ids[s]: np.exp(np.cumsum(rng.normal(0.0, 0.01, n))) * (10 + k)
        for k, (s, n) in enumerate(lengths.items())
    }
    snap = SimpleNamespace(
        prices={i: float(c[-1]) for i, c in closes.items()},
        closes={i: c[-depth:] for i, c in closes.items()},
        stale=frozenset(),
    )
    return snap, ids


@pytest.mark.parametrize("beta_window_bars", [63, 300])
def test_panel_betas_equal_the_per_symbol_betas(beta_window_bars: int) -> None:
    """Histories of several lengths (some shorter than the beta window: NaN-padded returns);
    a window longer than the calibration takes the per-symbol path."""
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]
    config = StatArbConfig(
        symbols=symbols, calibration_bars=252, beta_window_bars=beta_window_bars, beta_min_obs=20
    )
    depth = max(config.calibration_bars, beta_window_bars) + 1
    lengths = dict(zip(symbols, [2_000, 252, 260, 280, 1_000], strict=True))
    snap, ids = _stat_arb_snapshot(lengths, depth)
    view = stat_arb_market.market_view(snap, ids, config, depth)
    assert set(view.betas) == set(symbols)
    reference = stat_arb_market._betas(view.log_closes, config)
    assert list(view.betas) == list(reference)
    for sym, beta in view.betas.items():
        assert beta == reference[sym] or (math.isnan(beta) and math.isnan(reference[sym]))
    assert math.isfinite(view.betas["ETHUSDT"])


# ------------------------------------------------------------------- market data and views


def test_history_views_stay_read_only_and_exact_across_buffer_growth() -> None:
    iid = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    inst = Instrument(iid, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("100"))
    md = MarketData({iid: inst}, stale_after_ms=7_200_000)
    for k in range(3_000):  # grows the 1,024 buffer twice
        md.on_close(iid, 100.0 + k, k * H_MS)
        if k in (1_023, 1_024, 2_999):
            closes = md.snapshot(k * H_MS, [iid], 5).closes[iid]
            assert closes.tolist() == [100.0 + j for j in range(k - 4, k + 1)]
            with pytest.raises(ValueError, match="read-only"):
                closes[0] = 0.0


def _fill(iid: InstrumentId, side: Side, qty: str, price: str) -> Fill:
    return Fill(
        instrument_id=iid,
        client_order_id="c",
        venue_order_id="v",
        trade_id="t",
        side=side,
        qty=D(qty),
        price=D(price),
        fee_usd=D(0),
        liquidity=Liquidity.TAKER,
        ts_event_ms=0,
    )


def test_cached_positions_follow_every_trade_and_are_handed_out_as_copies() -> None:
    perp = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    eth = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
    p = Portfolio({"binance": D(100_000)})
    p.apply_fill("a", _fill(perp, Side.BUY, "2", "100"), InstrumentKind.PERP)
    view = p.to_view("a", 1.0)
    assert dict(view.positions) == {perp: 2.0}
    view.positions[eth] = 5.0  # type: ignore[index]  # a careless caller
    p.positions("a")[eth] = D(5)
    assert dict(p.to_view("a", 1.0).positions) == {perp: 2.0}
    assert p.positions("a") == {perp: D(2)}
    p.apply_fill("b", _fill(eth, Side.SELL, "3", "10"), InstrumentKind.PERP)
    p.apply_fill("a", _fill(perp, Side.SELL, "2", "101"), InstrumentKind.PERP)
    assert dict(p.to_view("a", 1.0).positions) == {}
    assert p.positions("a") == {}
    assert dict(p.to_view("b", 0.5).positions) == {eth: -3.0}
    assert dict(p.to_view("a", 1.0).net_positions) == {eth: -3.0}


# ------------------------------------------------------------------------------- logging


def test_redaction_fast_path_keeps_plain_values_and_still_redacts() -> None:
    event: dict[str, Any] = {
        "event": "x",
        "qty": 1.5,
        "n": 3,
        "ok": True,
        "none": None,
        "instrument": "binance:perp:BTCUSDT",
        "api_key": "abc",  # a sensitive key: its value goes, whatever its type
        "nested": {"secret_token": 7, "price": 2.0},
        "items": [SecretStr("s"), "plain", {"password": "p"}],
        "wrapped": SecretStr("hidden"),
    }
    out = redact_secrets(None, "info", event)
    assert (out["qty"], out["n"], out["ok"], out["none"]) == (1.5, 3, True, None)
    assert out["instrument"] == "binance:perp:BTCUSDT"
    assert out["api_key"] == REDACTED
    assert out["nested"] == {"secret_token": REDACTED, "price": 2.0}
    assert out["items"] == [REDACTED, "plain", {"password": REDACTED}]
    assert out["wrapped"] == REDACTED
