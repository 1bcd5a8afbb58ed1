"""The cross-venue arbitrage's incremental leg board gives exactly the straightforward views.

:class:`strategies.cross_venue_arb.legs.LegBoard` (issue 14) records only the perps whose
funding object changed and recomputes only the legs whose inputs changed (new funding, a
replaced book entry, a stale flag flipped, a validity instant passed), starting over when the
state is not the one it produced or time goes back. Each of these invalidations is exercised
below against the plain computation kept here (every perp recorded with ``rates.record``, every
view from ``leg_view``), compared bit for bit (``float.hex``) at every cycle.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies.base import MarketSnapshot, PortfolioView
from strategies.common import funding_is_stale
from strategies.cross_venue_arb import (
    CrossVenueArbConfig,
    CrossVenueArbStrategy,
    VenueCosts,
    rates,
    signals,
)
from strategies.cross_venue_arb.legs import LegBoard, funding_stale_from_ms
from strategies.cross_venue_arb.market import LegView, extreme_legs, leg_view, perp_id
from strategies.cross_venue_arb.state import CrossVenueArbState, PerpRates, Settlement
from venues.model import FundingRate, InstrumentId

H_MS = 3_600_000
T0_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC
VENUES = ("binance", "bybit", "hyperliquid")


def _hex(value: float | None) -> str | None:
    return None if value is None else float.hex(value)


def _view_bits(view: LegView | None) -> tuple[object, ...] | None:
    """Everything in a view, floats as their bits."""
    if view is None:
        return None
    f = view.forecast
    forecast = (
        None
        if f is None
        else (
            _hex(f.latest_rate_per_hour),
            _hex(f.mean_rate_per_hour),
            f.ts_next_funding_ms,
            f.interval_s,
        )
    )
    return (
        view.venue,
        str(view.instrument_id),
        _hex(view.latest_rate_per_hour),
        forecast,
        _hex(view.price),
    )


def _book_json(book: Mapping[str, PerpRates]) -> dict[str, object]:
    return {k: repr(v.to_json()) for k, v in book.items()}


def _plain_record(
    book: dict[str, PerpRates], snapshot: MarketSnapshot, ids: Sequence[InstrumentId], now_ms: int
) -> int:
    """The arbitrage's recording before the board: every perp, in grid order."""
    lookback_ms = LOOKBACK_MS
    recorded = 0
    for iid in ids:
        funding = snapshot.funding.get(iid)
        if funding is None or funding.interval_s <= 0 or not math.isfinite(funding.rate):
            continue
        recorded += rates.record(book, funding, now_ms, lookback_ms)
    return recorded


LOOKBACK_MS = 20 * H_MS  # not a multiple of 8 h: 8 h legs' windows move between settlements


def _check_cycle(
    board: LegBoard,
    symbols: Sequence[str],
    snapshot: MarketSnapshot,
    book: Mapping[str, PerpRates],
    now_ms: int,
    threshold: float,
) -> None:
    """Every view, extreme pair, wide symbol and the best spread against ``leg_view``."""
    best: tuple[float, str] | None = None
    wide: list[str] = []
    for base in symbols:
        views = [leg_view(snapshot, book, v, base, now_ms, LOOKBACK_MS) for v in VENUES]
        for venue, expected in zip(VENUES, views, strict=True):
            assert _view_bits(board.view(snapshot, base, venue)) == _view_bits(expected), (
                base,
                venue,
                now_ms,
            )
        extremes = extreme_legs(views)
        got = board.extreme_pair(snapshot, base)
        if extremes is None:
            assert got is None
            continue
        long, short = extremes
        assert long.forecast is not None
        assert short.forecast is not None
        spread = signals.spread_8h_frac(
            short.forecast.mean_rate_per_hour, long.forecast.mean_rate_per_hour
        )
        assert got is not None
        assert (_hex(got[0]), _view_bits(got[1]), _view_bits(got[2])) == (
            _hex(spread),
            _view_bits(long),
            _view_bits(short),
        )
        if spread > threshold:
            wide.append(base)
        if best is None or (spread, base) > best:
            best = (spread, base)
    assert board.wide_symbols() == wide
    got_best = board.best_spread()
    assert (None if got_best is None else (_hex(got_best[0]), got_best[1])) == (
        None if best is None else (_hex(best[0]), best[1])
    )


Plan = dict[int, tuple[float, int, int] | None]
"""Hour -> (rate, interval_h, announced gap_h) of a settlement shown from then on, or None:
the funding withdrawn."""


def _funding_plan(rng: random.Random, hours: int) -> Plan:
    """One perp's plan (see :data:`Plan`)."""
    plan: Plan = {}
    interval_h = rng.choice([1, 8])
    h = rng.randint(0, 8)
    while h < hours:
        roll = rng.random()
        if roll < 0.02:
            interval_h = 9 - interval_h  # an interval change
        if roll < 0.06:
            h += rng.randint(1, 30)  # a feed gap: the last funding goes stale by time
            continue
        rate = rng.choice([0.0, -0.0, rng.uniform(-3e-4, 3e-4), rng.uniform(-3e-4, 3e-4)])
        if rng.random() < 0.01:
            rate = math.nan  # not recorded, not fresh
        gap_h = interval_h if rng.random() > 0.05 else rng.choice([1, 4])  # announced gap
        plan[h] = (rate, interval_h, gap_h)
        if rng.random() < 0.01:
            plan[h + 1] = None  # withdrawn for an hour
        h += interval_h
    return plan


def _snapshot_funding(
    rng: random.Random,
    plans: Mapping[InstrumentId, Plan],
    current: dict[InstrumentId, FundingRate | None],
    h: int,
) -> None:
    now_ms = T0_MS + h * H_MS
    for iid, plan in plans.items():
        if h in plan:
            item = plan[h]
            if item is None:
                current[iid] = None
            else:
                rate, interval_h, gap_h = item
                current[iid] = FundingRate(
                    iid, rate, interval_h * 3600, now_ms, now_ms + gap_h * H_MS
                )
        elif current.get(iid) is not None and rng.random() < 0.02:
            old = current[iid]
            assert old is not None
            # The same settlement re-sent: a new object, nothing new to record.
            current[iid] = FundingRate(
                old.instrument_id, old.rate, old.interval_s, old.ts_funding_ms,
                old.ts_next_funding_ms,
            )  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_board_matches_the_plain_views_every_cycle(seed: int) -> None:
    """Hourly cycles over random funding (hourly and 8 h perps, interval changes, feed gaps,
    re-sent settlements, NaN rates, withdrawn funding), random stale flags and missing
    prices, with the state now and then replaced by its JSON round trip (new objects) or an
    older state decided again (time going back): the board's views, pairs, wide symbols, best
    spread, recorded count and book are the plain computation's at every cycle."""
    rng = random.Random(seed)
    symbols = ["BTC", "ETH", "SOL", "XRP"]
    threshold = 1e-4
    board = LegBoard(symbols, VENUES, LOOKBACK_MS, threshold)
    ids = [perp_id(v, b) for b in symbols for v in VENUES]
    hours = 400
    plans = {iid: _funding_plan(rng, hours) for iid in ids}
    current: dict[InstrumentId, FundingRate | None] = {}
    state = CrossVenueArbState()
    history: list[tuple[int, CrossVenueArbState]] = []
    stale: frozenset[InstrumentId] = frozenset()
    restarts = 0
    h = 0
    while h < hours:
        now_ms = T0_MS + h * H_MS
        _snapshot_funding(rng, plans, current, h)
        if rng.random() < 0.1:
            flip = rng.choice(ids)
            stale = stale ^ {flip}
        funding = {i: f for i, f in current.items() if f is not None}
        prices = {i: 100.0 + rng.random() for i in ids if rng.random() > 0.03}
        snapshot = MarketSnapshot(now_ms, {}, prices, funding, {}, stale=stale)
        expected_book = dict(state.rates)
        expected_recorded = _plain_record(expected_book, snapshot, ids, now_ms)
        book = dict(state.rates)
        recorded = board.advance(snapshot, state.rates, book, now_ms)
        assert recorded == expected_recorded
        assert _book_json(book) == _book_json(expected_book)
        _check_cycle(board, symbols, snapshot, book, now_ms, threshold)
        history.append((h, state))
        state = CrossVenueArbState(rates=book)
        roll = rng.random()
        if roll < 0.03:
            state = CrossVenueArbState.from_json(state.to_json())  # a resume: new objects
            restarts += 1
        elif roll < 0.05 and len(history) > 5:
            h, state = history[-rng.randint(2, 5)]  # an older state, earlier time
            restarts += 1
            continue
        elif roll < 0.07 and h > 30:
            h -= rng.randint(1, 30)  # this state decided again at an earlier time
            restarts += 1
            continue
        h += 1
    assert restarts > 5


def test_board_follows_an_entry_replaced_through_another_perps_funding() -> None:
    """A funding whose ``instrument_id`` is another perp's (a venue mislabelling) records into
    that perp's entry: that perp's view is recomputed too."""
    board = LegBoard(["BTC"], VENUES, LOOKBACK_MS, 1e-4)
    a, b = perp_id("binance", "BTC"), perp_id("bybit", "BTC")
    state = CrossVenueArbState()
    funding: dict[InstrumentId, FundingRate] = {}
    for h in range(60):
        now_ms = T0_MS + h * H_MS
        if h % 8 == 0:
            funding[b] = FundingRate(b, 1e-4, 28_800, now_ms, now_ms + 8 * H_MS)
        if h >= 30 and h % 8 == 3:  # an hour when no settlement leaves b's 20 h window
            # Listed under a, labelled b: it lands in b's entry.
            funding[a] = FundingRate(b, 5e-4, 28_800, now_ms, now_ms + 8 * H_MS)
        snapshot = MarketSnapshot(now_ms, {}, {a: 1.0, b: 1.0}, dict(funding), {})
        book = dict(state.rates)
        board.advance(snapshot, state.rates, book, now_ms)
        for venue in ("binance", "bybit"):
            expected = leg_view(snapshot, book, venue, "BTC", now_ms, LOOKBACK_MS)
            assert _view_bits(board.view(snapshot, "BTC", venue)) == _view_bits(expected)
        state = CrossVenueArbState(rates=book)


def test_board_raises_as_leg_view_on_an_overflowing_rate() -> None:
    """A rate whose per-hour value is infinite fails the cycle as ``leg_view`` does, though
    the board builds views only when asked."""
    iid = perp_id("bybit", "ETH")
    board = LegBoard(["ETH"], VENUES, LOOKBACK_MS, 1e-4)
    book: dict[str, PerpRates] = {}
    book[str(iid)] = PerpRates(T0_MS, T0_MS - 30 * H_MS, (Settlement(T0_MS, 1e-5, 1.0),))
    funding = FundingRate(iid, 1e308, 1, T0_MS, T0_MS + 1000)  # 1e308 per second
    snapshot = MarketSnapshot(T0_MS, {}, {}, {iid: funding}, {})
    with pytest.raises(ValueError, match="must be finite") as expected:
        leg_view(snapshot, dict(book), "bybit", "ETH", T0_MS, LOOKBACK_MS)
    with pytest.raises(ValueError, match="must be finite") as got:
        board.advance(snapshot, book, dict(book), T0_MS)
    assert str(got.value) == str(expected.value)


@given(
    ts_ms=st.integers(0, 2**45),
    interval_s=st.sampled_from([1, 3600, 14_400, 28_800]),
    offset_ms=st.integers(-(10**8), 10**8),
)
def test_funding_stale_from_ms_is_the_first_stale_instant(
    ts_ms: int, interval_s: int, offset_ms: int
) -> None:
    funding = FundingRate(perp_id("binance", "BTC"), 1e-4, interval_s, ts_ms, ts_ms + 1)
    first_ms = funding_stale_from_ms(funding)
    assert funding_is_stale(ts_ms, interval_s, first_ms)
    assert not funding_is_stale(ts_ms, interval_s, first_ms - 1)
    now_ms = first_ms + offset_ms
    assert funding_is_stale(ts_ms, interval_s, now_ms) == (now_ms >= first_ms)


# ---------------------------------------------------------------- the mean-rate cache's parts


def _random_entry(rng: random.Random) -> PerpRates:
    stamps = sorted(rng.sample(range(0, 200), rng.randint(0, 12)))
    if rng.random() < 0.2:
        rng.shuffle(stamps)
    settlements = tuple(Settlement(t * H_MS, rng.uniform(-1e-4, 1e-4), 1.0) for t in stamps)
    return PerpRates(max(stamps, default=0) * H_MS, rng.randint(-50, 150) * H_MS, settlements)


def test_mean_until_holds_over_its_whole_interval() -> None:
    """For any entry: the plain mean at every hour of ``[now, until)`` has the bits of the one
    given at ``now`` (the board reuses it that long), and differs at ``until`` or is the
    first hour it could (a settlement leaves the window, or the estimate becomes ready)."""
    rng = random.Random(4)
    lookback_ms = 20 * H_MS
    for _ in range(1_500):
        entry = _random_entry(rng)
        book = {"x": entry}
        now_ms = rng.randint(-60, 260) * H_MS
        mean, until_ms = rates.MeanRateCache().mean_until(book, "x", now_ms, lookback_ms)
        assert _hex(mean) == _hex(rates.mean_rate_per_hour(book, "x", now_ms, lookback_ms))
        assert until_ms > now_ms
        t_ms = now_ms
        while t_ms < min(until_ms, now_ms + 300 * H_MS):
            assert _hex(rates.mean_rate_per_hour(book, "x", t_ms, lookback_ms)) == _hex(mean)
            t_ms += rng.choice([1, 1000, H_MS // 2])
        if until_ms < rates.NEVER_MS:
            # The instant is one where the window or readiness changes.
            cut_ms = until_ms - lookback_ms
            stamps = {s.ts_funding_ms for s in entry.settlements}
            assert cut_ms in stamps or until_ms == entry.history_start_ms + lookback_ms


def test_mean_cache_record_writes_what_record_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``MeanRateCache.record`` against ``rates.record`` on twin books: hourly and 8 h
    settlements, late (older) and repeated ones, non-finite rates, an entry now and then
    replaced by its JSON round trip or by an unsorted one; same result, same entry, and the
    mean taken right after has the plain bits."""
    rng = random.Random(9)
    lookback_ms = 20 * H_MS
    iid = perp_id("hyperliquid", "SOL")
    key = str(iid)
    plain: dict[str, PerpRates] = {}
    fast: dict[str, PerpRates] = {}
    cache = rates.MeanRateCache()
    plain_record = rates.record
    fallbacks: list[None] = []

    def counted(*args: object) -> bool:
        fallbacks.append(None)
        return plain_record(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(rates, "record", counted)
    for h in range(3_000):
        now_ms = T0_MS + h * H_MS
        interval_h = rng.choice([1, 1, 1, 8])
        ts_ms = now_ms - rng.choice([0, 0, 0, 0, 0, H_MS, 3 * H_MS, 30 * H_MS])  # some late
        rate = rng.choice([rng.uniform(-1e-4, 1e-4)] * 30 + [math.inf, 1e308])
        funding = FundingRate(iid, rate, interval_h * 3600, ts_ms, ts_ms + interval_h * H_MS)
        assert cache.record(fast, funding, now_ms, lookback_ms) == plain_record(
            plain, funding, now_ms, lookback_ms
        )
        assert _book_json(fast) == _book_json(plain)
        if rng.random() < 0.9 and math.isfinite(rate) and abs(rate) < 1:
            expected = rates.mean_rate_per_hour(plain, key, now_ms, lookback_ms)
            assert _hex(cache.mean_rate_per_hour(fast, key, now_ms, lookback_ms)) == _hex(expected)
        roll = rng.random()
        if roll < 0.02 and key in fast:
            fast[key] = PerpRates.from_json(fast[key].to_json(), key)
            plain[key] = fast[key]
        elif roll < 0.03 and key in fast and len(fast[key].settlements) > 1:
            shuffled = list(fast[key].settlements)
            rng.shuffle(shuffled)
            replaced = PerpRates(fast[key].last_funding_ms, fast[key].history_start_ms,
                                 tuple(shuffled))  # fmt: skip
            fast[key] = plain[key] = replaced
        elif roll < 0.05 and key in fast:
            # Hand-edited: the last recorded stamp below the entry's newest settlement, so a
            # settlement older than that one can still be recorded (out of order).
            entry = fast[key]
            lowered = entry.last_funding_ms - rng.randint(1, 6) * H_MS
            fast[key] = plain[key] = PerpRates(lowered, entry.history_start_ms, entry.settlements)
        if key in fast and not all(math.isfinite(s.rate_per_hour) for s in fast[key].settlements):
            del fast[key], plain[key]  # start the perp over: its means would raise
    assert 3_000 - len(fallbacks) > 800  # many records took the columns' path


def test_mean_cache_record_takes_the_plain_path_for_an_out_of_order_settlement() -> None:
    """An entry whose last recorded stamp (hand-edited) is below its newest settlement takes a
    settlement older than that one: the entry is then out of order, so the cache must not
    keep columns of it; every later mean is the plain one."""
    iid = perp_id("binance", "BTC")
    key = str(iid)
    lookback_ms = 20 * H_MS
    settlements = tuple(Settlement(t * H_MS, (t + 1) * 1e-6, 1.0) for t in range(11))
    edited = PerpRates(5 * H_MS, -30 * H_MS, settlements)  # last recorded 5 h, newest 10 h
    cache = rates.MeanRateCache()
    fast: dict[str, PerpRates] = {key: edited}
    plain: dict[str, PerpRates] = {key: edited}
    now_ms = 11 * H_MS
    assert cache.mean_rate_per_hour(fast, key, now_ms, lookback_ms) is not None  # columns kept
    late = FundingRate(iid, 5e-4, 3600, 7 * H_MS, 8 * H_MS)
    assert cache.record(fast, late, now_ms, lookback_ms)
    assert rates.record(plain, late, now_ms, lookback_ms)
    assert _book_json(fast) == _book_json(plain)
    for t_ms in range(now_ms, now_ms + 32 * H_MS, H_MS // 2):
        expected = rates.mean_rate_per_hour(plain, key, t_ms, lookback_ms)
        assert _hex(cache.mean_rate_per_hour(fast, key, t_ms, lookback_ms)) == _hex(expected)


_STEP = st.tuples(
    st.sampled_from(["record", "record", "record", "record", "older", "mean", "json"]),
    st.integers(0, 40),  # how late the settlement is, hours (0: on time), or which older entry
    st.sampled_from([1, 1, 1, 8]),  # interval, hours
    st.floats(-1e-4, 1e-4, allow_nan=False),
)


@given(steps=st.lists(_STEP, min_size=1, max_size=400), lookback_h=st.sampled_from([2, 20, 90]))
def test_mean_cache_columns_advanced_in_place_match_the_plain_book(
    steps: list[tuple[str, int, int, float]], lookback_h: int
) -> None:
    """``MeanRateCache.record`` advances a perp's columns in place (rows appended, the front
    skipped, deleted once 64 pile up): on twin books — the plain one written by
    ``rates.record`` — the same entries and the plain mean's bits after any sequence of on-time
    and late settlements, entries replaced by their JSON round trip, and an *older* entry of
    the perp coming back (an earlier state decided again) after the columns moved past it:
    the cache must then not use the columns it advanced (they belong to the newest entry)."""
    iid = perp_id("hyperliquid", "SOL")
    key = str(iid)
    lookback_ms = lookback_h * H_MS
    cache = rates.MeanRateCache()
    fast: dict[str, PerpRates] = {}
    plain: dict[str, PerpRates] = {}
    seen: list[PerpRates] = []
    now_ms = T0_MS
    for op, n, interval_h, rate in steps:
        now_ms += H_MS
        if op == "older" and seen:
            fast[key] = plain[key] = seen[-1 - n % len(seen)]
        elif op == "json" and key in fast:
            fast[key] = plain[key] = PerpRates.from_json(fast[key].to_json(), key)
        elif op == "record":
            ts_ms = now_ms - (n * H_MS if n > 30 else 0)
            funding = FundingRate(iid, rate, interval_h * 3600, ts_ms, ts_ms + interval_h * H_MS)
            assert cache.record(fast, funding, now_ms, lookback_ms) == rates.record(
                plain, funding, now_ms, lookback_ms
            )
            assert _book_json(fast) == _book_json(plain)
        if key in fast:
            seen.append(fast[key])
        if key in fast and op != "older":  # (a mean would rebuild the older entry's columns)
            expected = rates.mean_rate_per_hour(plain, key, now_ms, lookback_ms)
            got = cache.mean_rate_per_hour(fast, key, now_ms, lookback_ms)
            assert _hex(got) == _hex(expected)


def test_mean_cache_columns_compact_and_stay_exact_over_a_long_run() -> None:
    """Thousands of hourly settlements through the in-place columns: the rows skipped at the
    front are deleted (the columns stay a bounded multiple of the window: memory does not
    grow with the run) and every mean keeps the plain bits, across the deletions."""
    iid = perp_id("hyperliquid", "ETH")
    key = str(iid)
    lookback_ms = 24 * H_MS
    rng = random.Random(11)
    cache = rates.MeanRateCache()
    fast: dict[str, PerpRates] = {}
    plain: dict[str, PerpRates] = {}
    longest = 0
    for h in range(3_000):
        now_ms = T0_MS + h * H_MS
        funding = FundingRate(iid, rng.uniform(-1e-4, 1e-4), 3600, now_ms, now_ms + H_MS)
        assert cache.record(fast, funding, now_ms, lookback_ms)
        rates.record(plain, funding, now_ms, lookback_ms)
        expected = rates.mean_rate_per_hour(plain, key, now_ms, lookback_ms)
        assert _hex(cache.mean_rate_per_hour(fast, key, now_ms, lookback_ms)) == _hex(expected)
        columns = cache._columns.get(key)  # none until a mean was taken (24 h: ready)
        longest = max(longest, 0 if columns is None else len(columns.ts_ms))
    assert fast == plain
    assert 24 < longest <= 2 * 64 + 24  # compacted, never the whole history


def test_strategy_with_its_board_decides_as_a_fresh_instance_every_cycle() -> None:
    """Hourly decisions (hourly Hyperliquid, 8 h others, feed gaps, stale flags, missing
    prices) with the state now and then resumed from its JSON (new objects) or decided again
    at an earlier time: one instance carried across the cycles decides exactly as a fresh
    instance each cycle (intents, state, alerts, diagnostics with their floats' digits)."""
    rng = random.Random(21)
    bases = ["BTC", "ETH", "SOL", "DOGE"]
    costs = {v: VenueCosts(taker_fee_bps=4.0, slippage_bps=1.0) for v in VENUES}
    config = CrossVenueArbConfig(
        symbols=bases, rate_lookback_h=20.0, entry_spread_8h_frac=1e-4, min_net_apr_frac=0.0
    )
    warm = CrossVenueArbStrategy(config, costs)
    state = warm.initial_state()
    bias = {(b, v): rng.uniform(-1e-4, 1e-4) for b in bases for v in VENUES}
    funding: dict[InstrumentId, FundingRate] = {}
    held: dict[InstrumentId, float] = {}
    stale: frozenset[InstrumentId] = frozenset()
    entered = exited = 0
    h = 0
    while h < 500:
        now_ms = T0_MS + h * H_MS
        for base in bases:
            for venue in VENUES:
                interval_h = 1 if venue == "hyperliquid" else 8
                if h % interval_h == 0 and rng.random() > 0.03:
                    iid = perp_id(venue, base)
                    rate = (bias[base, venue] + rng.gauss(0.0, 5e-5)) * interval_h
                    funding[iid] = FundingRate(
                        iid, rate, interval_h * 3600, now_ms, now_ms + interval_h * H_MS
                    )
        if rng.random() < 0.05:
            stale = stale ^ {perp_id(rng.choice(VENUES), rng.choice(bases))}
        prices = {
            perp_id(v, b): 100.0 + rng.random()
            for b in bases
            for v in VENUES
            if rng.random() > 0.02
        }
        snapshot = MarketSnapshot(now_ms, {}, prices, dict(funding), {}, stale=stale)
        portfolio = PortfolioView(100_000.0, 100_000.0, dict(held))
        a = warm.decide(snapshot, portfolio, state, now_ms)
        b = CrossVenueArbStrategy(config, costs).decide(snapshot, portfolio, state, now_ms)
        assert a.intents == b.intents
        assert a.state == b.state
        assert a.alerts == b.alerts
        assert repr(a.diagnostics) == repr(b.diagnostics)
        for intent in a.intents:
            entered += intent.reason == "enter"
            exited += intent.reason.startswith("exit")
            for leg in intent.legs:
                held[leg.instrument_id] = leg.target_qty
        roll = rng.random()
        if roll < 0.03:
            state = CrossVenueArbState.from_json(a.state.to_json())
        elif roll < 0.05 and h > 10:
            h -= rng.randint(1, 10)  # the same state decided again, earlier
            state = a.state
            continue
        else:
            state = a.state
        h += 1
    assert entered > 0
    assert exited > 0


# ------------------------------------------------------------- the state's JSON (journaled)


def _journal_text(value: object) -> str:
    """What the journal writes for a state (``agent.journal``'s lenient canonical JSON)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _old_state_json(state: CrossVenueArbState) -> dict[str, object]:
    """``CrossVenueArbState.to_json`` before settlements were tuples: a list per row."""
    return {
        "rates": {
            key: {
                "last_funding_ms": entry.last_funding_ms,
                "history_start_ms": entry.history_start_ms,
                "settlements": [
                    [s.ts_funding_ms, s.rate_per_hour, s.interval_h] for s in entry.settlements
                ],
            }
            for key, entry in state.rates.items()
        },
        "positions": {base: p.to_json() for base, p in state.positions.items()},
    }


_RATE = st.one_of(st.floats(-1e-3, 1e-3), st.floats(allow_nan=True, allow_infinity=True))
_SETTLEMENT = st.builds(
    Settlement, st.integers(-(2**62), 2**62), _RATE, st.sampled_from([0.5, 1.0, 4.0, 8.0, 1.5])
)
_ENTRY = st.builds(
    PerpRates, st.integers(0, 2**60), st.integers(-(2**60), 2**60), st.lists(_SETTLEMENT).map(tuple)
)


@given(book=st.dictionaries(st.sampled_from(["a:perp:X", "b:perp:Y", "c:perp:Z"]), _ENTRY))
def test_state_json_text_is_the_list_layouts_text(book: dict[str, PerpRates]) -> None:
    """A settlement is its own JSON array (a tuple): the journaled text is byte for byte the
    one of the list-per-row layout, for any book (non-finite rates, −0.0, big stamps), and
    the state read back writes it again (NaN: equal text, not equal values)."""
    state = CrossVenueArbState(rates=book)
    assert _journal_text(state.to_json()) == _journal_text(_old_state_json(state))
    text = _journal_text(state.to_json())
    assert _journal_text(CrossVenueArbState.from_json(json.loads(text)).to_json()) == text
