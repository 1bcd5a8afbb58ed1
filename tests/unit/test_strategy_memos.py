"""The strategies' per-cycle memos give exactly what the computation they shortcut gives.

Each memo (issue 14: the hourly decisions of a replay) reuses a value while its inputs are the
very same objects, or extends a previous value instead of rebuilding it. Decisions must stay
bit-identical (the default replay's journal is compared row by row), so each memo is checked
here against the plain computation on sequences that exercise its edges, with equality of the
floats' bits (``float.hex``), never an approximation; and whole strategies carried across
cycles (memos warm) are checked against fresh instances at every cycle (memos cold).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from strategies.base import Decision, MarketSnapshot, PortfolioView
from strategies.cross_venue_arb import (
    CrossVenueArbConfig,
    CrossVenueArbState,
    CrossVenueArbStrategy,
    VenueCosts,
    rates,
    signals,
)
from strategies.cross_venue_arb.market import (
    LegView,
    extreme_legs,
    perp_id,
)
from strategies.cross_venue_arb.state import PerpRates, Settlement
from strategies.funding_harvester import (
    FundingHarvesterConfig,
    FundingHarvesterState,
    FundingHarvesterStrategy,
    LegCosts,
)
from venues.model import FundingRate, InstrumentId, InstrumentKind

H_MS = 3_600_000
T0_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC, a multiple of 8 h


def _bits(value: float | None) -> str | None:
    return None if value is None else float.hex(value)


def _rate(rng: random.Random) -> float:
    """A funding rate per settlement: mostly small, sometimes exactly zero or −0.0."""
    roll = rng.random()
    if roll < 0.05:
        return 0.0
    if roll < 0.08:
        return -0.0
    return rng.uniform(-3e-4, 3e-4)


# ------------------------------------------------------------- cross-venue mean-rate memo


def _settlement_plan(rng: random.Random, hours: int) -> dict[int, tuple[float, int]]:
    """Hour -> (rate, interval_s) of one perp: 8 h settlements switching to hourly (and back)
    at random hours, with gaps (missed settlements) now and then."""
    plan: dict[int, tuple[float, int]] = {}
    interval_h = rng.choice([1, 8])
    h = rng.randint(0, 8)
    while h < hours:
        if rng.random() < 0.02:
            interval_h = 9 - interval_h  # 1 <-> 8
        if rng.random() > 0.03:  # else a missed settlement
            plan[h] = (_rate(rng), interval_h * 3600)
        h += interval_h
    return plan


@pytest.mark.parametrize("seed", range(4))
def test_mean_rate_cache_along_recorded_books_equals_the_plain_mean_bitwise(seed: int) -> None:
    """Books written by ``rates.record`` hour by hour (the arbitrage's own use: entries
    replaced every settlement, hourly and 8 h venues, an interval change, missed settlements),
    an entry now and then replaced by its JSON round trip (a resume: new objects), several
    lookbacks: the memo's mean has the bits of ``rates.mean_rate_per_hour`` at every hour."""
    rng = random.Random(seed)
    hours = 600
    keys = [str(perp_id(v, "BTC")) for v in ("binance", "bybit", "hyperliquid")]
    plans = {key: _settlement_plan(rng, hours) for key in keys}
    lookbacks_ms = [rates.lookback_ms(h) for h in (8.0, 24.0, 72.0, 168.0)]
    books: list[dict[str, PerpRates]] = [{} for _ in lookbacks_ms]
    caches = [rates.MeanRateCache() for _ in lookbacks_ms]
    compared = 0
    for h in range(hours):
        now_ms = T0_MS + h * H_MS
        for book, lookback_ms, cache in zip(books, lookbacks_ms, caches, strict=True):
            for key in keys:
                if h in plans[key]:
                    rate, interval_s = plans[key][h]
                    iid = InstrumentId.parse(key)
                    funding = FundingRate(iid, rate, interval_s, now_ms, now_ms + interval_s * 1000)
                    rates.record(book, funding, now_ms, lookback_ms)
                if key in book and rng.random() < 0.01:
                    book[key] = PerpRates.from_json(book[key].to_json(), key)
                expected = rates.mean_rate_per_hour(book, key, now_ms, lookback_ms)
                got = cache.mean_rate_per_hour(book, key, now_ms, lookback_ms)
                assert _bits(got) == _bits(expected), (seed, h, key, lookback_ms)
                compared += expected is not None
    assert compared > 2_000  # most hours had a ready estimate


def test_mean_rate_cache_over_arbitrary_entries_equals_the_plain_mean_bitwise() -> None:
    """Entries the book never writes (unsorted or repeated stamps, empty, sharing settlement
    objects with the previous entry but not as a shifted window) and cycles moving back and
    forth: the memo still gives the plain function's bits."""
    rng = random.Random(7)
    cache = rates.MeanRateCache()
    book: dict[str, PerpRates] = {}
    lookback_ms = 24 * H_MS
    previous: dict[str, PerpRates] = {}
    for cycle in range(4_000):
        key = rng.choice(["a", "b"])
        roll = rng.random()
        old = book.get(key)
        if old is None or roll < 0.3:
            stamps = sorted(rng.sample(range(0, 300), rng.randint(0, 25)))
            if rng.random() < 0.15:
                rng.shuffle(stamps)
            if stamps and rng.random() < 0.1:
                stamps.append(stamps[-1])  # a repeated stamp
            settlements = tuple(
                Settlement(t * H_MS, _rate(rng), rng.choice([1.0, 8.0])) for t in stamps
            )
            book[key] = PerpRates(0, -1_000 * H_MS, settlements)
        elif roll < 0.45 and old.settlements:
            # Same objects, reordered or trimmed at the wrong end: not what record writes.
            kept = list(old.settlements[:-1])
            rng.shuffle(kept)
            book[key] = PerpRates(0, -1_000 * H_MS, (*kept, old.settlements[-1]))
        elif roll < 0.5 and key in previous:
            book[key] = previous[key]  # an older entry comes back
        previous[key] = old if old is not None else book[key]
        now_ms = rng.randint(-10, 330) * H_MS
        expected = rates.mean_rate_per_hour(book, key, now_ms, lookback_ms)
        got = cache.mean_rate_per_hour(book, key, now_ms, lookback_ms)
        assert _bits(got) == _bits(expected), cycle


def test_mean_rate_cache_raises_as_the_plain_mean_on_a_bad_rate() -> None:
    """A non-finite rate (a hand-edited journal) is not summed silently: the same error."""
    good = Settlement(0, 1e-5, 8.0)
    bad = Settlement(H_MS, math.nan, 1.0)
    book = {"x": PerpRates(H_MS, -100 * H_MS, (good,))}
    cache = rates.MeanRateCache()
    assert cache.mean_rate_per_hour(book, "x", 2 * H_MS, 24 * H_MS) == 1e-5
    book["x"] = PerpRates(H_MS, -100 * H_MS, (good, bad))  # shifted window + one: extended
    with pytest.raises(ValueError, match="rate_per_hour must be finite"):
        rates.mean_rate_per_hour(book, "x", 2 * H_MS, 24 * H_MS)
    with pytest.raises(ValueError, match="rate_per_hour must be finite"):
        cache.mean_rate_per_hour(book, "x", 2 * H_MS, 24 * H_MS)


# ------------------------------------------------------------------------ extreme legs


def _reference_extreme_legs(legs: Sequence[LegView]) -> tuple[LegView, LegView] | None:
    """The definition: the lowest mean (first listed on ties) long, the highest of the
    others (first listed on ties) short, with ``min``/``max`` over (mean, listing order)."""
    ready = [leg for leg in legs if leg.forecast is not None]
    if len(ready) < 2:
        return None
    order = {id(leg): k for k, leg in enumerate(ready)}

    def mean(leg: LegView) -> float:
        assert leg.forecast is not None
        return leg.forecast.mean_rate_per_hour

    long = min(ready, key=lambda leg: (mean(leg), order[id(leg)]))
    others = [leg for leg in ready if leg is not long]
    short = max(others, key=lambda leg: (mean(leg), -order[id(leg)]))
    return long, short


def test_extreme_legs_picks_what_the_definition_picks() -> None:
    rng = random.Random(3)
    venues = ["binance", "bybit", "hyperliquid", "okx", "dydx"]
    for _ in range(3_000):
        legs = []
        for venue in venues[: rng.randint(0, 5)]:
            forecast = None
            if rng.random() < 0.8:
                mean = rng.choice([0.0, -0.0, 1e-5, -1e-5, 2e-5, rng.uniform(-1e-4, 1e-4)])
                forecast = signals.LegForecast(1e-5, mean, T0_MS, 3_600)
            legs.append(LegView(venue, perp_id(venue, "BTC"), 1e-5, forecast, 1.0))
        got, expected = extreme_legs(legs), _reference_extreme_legs(legs)
        if expected is None:
            assert got is None
        else:
            assert got is not None
            assert got[0] is expected[0]
            assert got[1] is expected[1]


# -------------------------------------------------- whole strategies: warm against cold


def _same(a: Decision[Any], b: Decision[Any]) -> None:
    assert a.intents == b.intents
    assert a.state == b.state
    assert a.alerts == b.alerts
    assert repr(a.diagnostics) == repr(b.diagnostics)  # repr: the floats' exact digits


def test_cross_venue_arb_decides_the_same_with_warm_memos() -> None:
    """Hourly decisions over random funding on three venues (hourly Hyperliquid, 8 h others):
    one instance carried across the cycles decides exactly as a fresh instance each cycle."""
    rng = random.Random(11)
    bases = ["BTC", "ETH", "SOL"]
    venues = ["binance", "bybit", "hyperliquid"]
    costs = {v: VenueCosts(taker_fee_bps=4.0, slippage_bps=1.0) for v in venues}
    config = CrossVenueArbConfig(
        symbols=bases, rate_lookback_h=24.0, entry_spread_8h_frac=1e-4, min_net_apr_frac=0.0
    )
    warm = CrossVenueArbStrategy(config, costs)
    state_warm = warm.initial_state()
    state_cold: CrossVenueArbState = state_warm
    bias = {(b, v): rng.uniform(-1e-4, 1e-4) for b in bases for v in venues}
    funding: dict[InstrumentId, FundingRate] = {}
    held: dict[InstrumentId, float] = {}
    entered = 0
    for h in range(400):
        now_ms = T0_MS + h * H_MS
        for base in bases:
            for venue in venues:
                interval_h = 1 if venue == "hyperliquid" else 8
                if h % interval_h == 0:
                    iid = perp_id(venue, base)
                    rate = (bias[base, venue] + rng.gauss(0.0, 3e-5)) * interval_h
                    funding[iid] = FundingRate(
                        iid, rate, interval_h * 3600, now_ms, now_ms + interval_h * H_MS
                    )
        prices = {perp_id(v, b): 100.0 + rng.random() for b in bases for v in venues}
        snapshot = MarketSnapshot(now_ms, {}, prices, dict(funding), {})
        portfolio = PortfolioView(100_000.0, 100_000.0, dict(held))
        a = warm.decide(snapshot, portfolio, state_warm, now_ms)
        b = CrossVenueArbStrategy(config, costs).decide(snapshot, portfolio, state_cold, now_ms)
        _same(a, b)
        state_warm, state_cold = a.state, b.state
        for intent in a.intents:
            entered += intent.reason == "enter"
            for leg in intent.legs:
                held[leg.instrument_id] = leg.target_qty
    assert entered > 0  # the cycles traded, not only waited


def test_funding_harvester_decides_the_same_with_warm_memos() -> None:
    rng = random.Random(5)
    symbols = ["BTCUSDT", "ETHUSDT"]
    config = FundingHarvesterConfig(symbols=symbols, rate_lookback_settlements=3)
    costs = LegCosts(spot_taker_fee_bps=1.0, perp_taker_fee_bps=1.0, slippage_bps=0.5)
    warm = FundingHarvesterStrategy(config, costs)
    state_warm: FundingHarvesterState = warm.initial_state()
    state_cold = state_warm
    funding: dict[InstrumentId, FundingRate] = {}
    held: dict[InstrumentId, float] = {}
    entered = 0
    for h in range(300):
        now_ms = T0_MS + h * H_MS
        prices: dict[InstrumentId, float] = {}
        for symbol in symbols:
            spot = InstrumentId("binance", InstrumentKind.SPOT, symbol)
            perp = InstrumentId("binance", InstrumentKind.PERP, symbol)
            if h % 8 == 0:
                rate = rng.uniform(-1e-4, 6e-4)
                funding[perp] = FundingRate(perp, rate, 28_800, now_ms, now_ms + 8 * H_MS)
            price = 100.0 * (1 + rng.uniform(-0.01, 0.01))
            prices[spot], prices[perp] = price, price * (1 + rng.uniform(0, 1e-3))
        closes = {i: np.array([p, p]) for i, p in prices.items()}
        snapshot = MarketSnapshot(now_ms, {}, prices, dict(funding), closes)
        portfolio = PortfolioView(100_000.0, 100_000.0, dict(held))
        a = warm.decide(snapshot, portfolio, state_warm, now_ms)
        b = FundingHarvesterStrategy(config, costs).decide(snapshot, portfolio, state_cold, now_ms)
        _same(a, b)
        state_warm, state_cold = a.state, b.state
        for intent in a.intents:
            entered += intent.reason == "enter"
            for leg in intent.legs:
                held[leg.instrument_id] = leg.target_qty
    assert entered > 0
