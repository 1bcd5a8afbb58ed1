"""The cross-venue arbitrage's issue-14 fast paths give exactly the straightforward results.

* ``extreme_indices`` in one pass against the two-pass version it replaced (kept here);
* a window of equal intervals summed as ``n × interval_h`` against ``math.fsum`` (bits);
* the mean memo kept in a perp's columns: dropped when a settlement is recorded, when the
  interval of the window changes, and left unset by a sum that raised;
* the board's expiry instants: legs recomputed before their instant are skipped there, legs
  still due are refreshed (views against ``leg_view`` every cycle).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from strategies.base import MarketSnapshot
from strategies.cross_venue_arb import rates
from strategies.cross_venue_arb.legs import LegBoard
from strategies.cross_venue_arb.market import extreme_indices, leg_view, perp_id
from strategies.cross_venue_arb.state import PerpRates, Settlement
from venues.model import FundingRate

H_MS = 3_600_000
T0_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC
VENUES = ("binance", "bybit", "hyperliquid")


def _hex(value: float | None) -> str | None:
    return None if value is None else float.hex(value)


# ------------------------------------------------------------------------ extreme_indices


def _two_pass_extreme_indices(means: Sequence[float | None]) -> tuple[int, int] | None:
    """``market.extreme_indices`` before issue 14's one-pass version."""
    ready = [(k, mean) for k, mean in enumerate(means) if mean is not None]
    if len(ready) < 2:
        return None
    long, long_mean = ready[0]
    for k, mean in ready[1:]:
        if mean < long_mean:
            long, long_mean = k, mean
    short = -1
    short_mean = -math.inf
    for k, mean in ready:
        if k != long and (short < 0 or mean > short_mean):
            short, short_mean = k, mean
    return long, short


# Few distinct values (ties, 0.0 against -0.0) and any finite ones.
_MEAN = st.one_of(
    st.none(),
    st.sampled_from([0.0, -0.0, 1e-5, -1e-5, 2e-5]),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(means=st.lists(_MEAN, max_size=7))
@example(means=[1e-5, 1e-5, 1e-5])  # all equal: the short leg is the second ready one
@example(means=[None, 0.0, -0.0, None, 0.0])
@example(means=[2e-5, None, -1e-5, 2e-5])
def test_extreme_indices_is_the_two_pass_choice(means: list[float | None]) -> None:
    """The lowest mean long, the first highest of the others short, ties to the first
    listed, None with fewer than two ready legs: the two-pass result for any means."""
    assert extreme_indices(means) == _two_pass_extreme_indices(means)


# --------------------------------------------------------------- equal intervals: n × h


@given(
    interval_h=st.floats(min_value=0.0, exclude_min=True, allow_infinity=False),
    n=st.integers(1, 5_000),
)
@example(interval_h=5e-324, n=3)  # subnormal
@example(interval_h=1 / 3, n=4_097)  # inexact: rounded once, as fsum rounds
@example(interval_h=1.7e308, n=2)  # the product overflows: fsum raises
def test_n_equal_intervals_sum_as_fsum_does(interval_h: float, n: int) -> None:
    """``n × h`` is the correctly rounded sum of ``n`` copies of ``h`` (what ``fsum`` gives,
    same bits) whenever it is finite; when it overflows ``fsum`` raises, which the columns
    then fall back to (the product is not used)."""
    product = n * interval_h
    if product == math.inf:
        with pytest.raises(OverflowError):
            math.fsum([interval_h] * n)
    else:
        assert _hex(product) == _hex(math.fsum([interval_h] * n))


def _record_twins(
    cache: rates.MeanRateCache,
    fast: dict[str, PerpRates],
    plain: dict[str, PerpRates],
    funding: FundingRate,
    now_ms: int,
    lookback_ms: int,
) -> None:
    assert cache.record(fast, funding, now_ms, lookback_ms) == rates.record(
        plain, funding, now_ms, lookback_ms
    )


@pytest.mark.parametrize("seed", range(4))
def test_interval_changes_inside_the_window_keep_the_plain_bits(seed: int) -> None:
    """Hourly settlements whose interval changes now and then (1 h, 8 h, 4 h, 1/3 h: sums
    that round), through the in-place columns and their deletions at the front: every mean
    has the plain bits, both inside a run of equal intervals (``n × h``) and across a change
    (``fsum``) — a run start not moved on a change would sum the wrong hours."""
    rng = random.Random(seed)
    iid = perp_id("hyperliquid", "ETH")
    key = str(iid)
    lookback_ms = 10 * H_MS
    cache = rates.MeanRateCache()
    fast: dict[str, PerpRates] = {}
    plain: dict[str, PerpRates] = {}
    interval_s = 3600
    mixed = equal = 0
    for h in range(1_500):
        now_ms = T0_MS + h * H_MS
        if rng.random() < 0.05:
            interval_s = rng.choice([3600, 28_800, 14_400, 1200])
        funding = FundingRate(
            iid, rng.uniform(-1e-4, 1e-4), interval_s, now_ms, now_ms + interval_s * 1000
        )
        _record_twins(cache, fast, plain, funding, now_ms, lookback_ms)
        expected = rates.mean_rate_per_hour(plain, key, now_ms, lookback_ms)
        assert _hex(cache.mean_rate_per_hour(fast, key, now_ms, lookback_ms)) == _hex(expected)
        cut_ms = now_ms - lookback_ms
        window = [s for s in plain[key].settlements if s.ts_funding_ms > cut_ms]
        if len({s.interval_h for s in window}) > 1:
            mixed += 1
        else:
            equal += 1
    assert mixed > 100  # both sums were taken many times
    assert equal > 100


def test_a_changed_interval_is_not_summed_as_the_run_before_it() -> None:
    """Eleven 1-h settlements, then an 8-h one: the window of twelve rows holds 19 hours, not
    twelve (the run of equal intervals restarts at the new row)."""
    iid = perp_id("bybit", "SOL")
    key = str(iid)
    lookback_ms = 100 * H_MS
    cache = rates.MeanRateCache()
    first = Settlement(T0_MS - H_MS, 1e-4, 1.0)
    book: dict[str, PerpRates] = {key: PerpRates(T0_MS - H_MS, T0_MS - 200 * H_MS, (first,))}
    for h in range(10):
        now_ms = T0_MS + h * H_MS
        funding = FundingRate(iid, 1e-4, 3600, now_ms, now_ms + H_MS)
        assert cache.record(book, funding, now_ms, lookback_ms)
        assert cache.mean_rate_per_hour(book, key, now_ms, lookback_ms) is not None  # columns
    now_ms = T0_MS + 10 * H_MS
    funding = FundingRate(iid, 8e-4, 28_800, now_ms, now_ms + 8 * H_MS)
    assert cache.record(book, funding, now_ms, lookback_ms)
    assert len(book[key].settlements) == 12
    one_h_paid = (1e-4 * 3600 / 3600) * 1.0  # rate per hour × hours
    eight_h_paid = (8e-4 * 3600 / 28_800) * 8.0
    expected = math.fsum([1e-4 * 1.0] + [one_h_paid] * 10 + [eight_h_paid]) / 19.0
    assert _hex(cache.mean_rate_per_hour(book, key, now_ms, lookback_ms)) == _hex(expected)


# ------------------------------------------------------- the entry MeanRateCache.record writes


@given(
    rates_ph=st.lists(st.floats(-1e-3, 1e-3, allow_nan=False), min_size=1, max_size=60),
    interval_h=st.sampled_from([1, 4, 8]),
)
def test_mean_cache_record_builds_the_named_tuples_record_builds(
    rates_ph: list[float], interval_h: int
) -> None:
    """The entries the columns' path writes (built by ``tuple.__new__``, the window sliced and
    extended) are ``PerpRates`` of ``Settlement`` rows, equal field for field to those
    ``rates.record`` writes, with the same JSON text."""
    iid = perp_id("hyperliquid", "BTC")
    key = str(iid)
    lookback_ms = 10 * H_MS
    cache = rates.MeanRateCache()
    ready = PerpRates(T0_MS, T0_MS - 100 * H_MS, (Settlement(T0_MS, 1e-5, float(interval_h)),))
    fast: dict[str, PerpRates] = {key: ready}  # ready: each mean builds or keeps the columns
    plain: dict[str, PerpRates] = {key: ready}
    for h, rate in enumerate(rates_ph, start=1):
        now_ms = T0_MS + h * interval_h * H_MS
        funding = FundingRate(iid, rate, interval_h * 3600, now_ms, now_ms + interval_h * H_MS)
        assert cache.record(fast, funding, now_ms, lookback_ms)
        assert rates.record(plain, funding, now_ms, lookback_ms)
        assert cache.mean_rate_per_hour(fast, key, now_ms, lookback_ms) is not None  # columns
        entry = fast[key]
        assert type(entry) is PerpRates
        assert all(type(s) is Settlement for s in entry.settlements)
        assert type(entry.settlements) is tuple
        assert entry == plain[key]
        assert json.dumps(entry.to_json()) == json.dumps(plain[key].to_json())


# ----------------------------------------------------------------- the memo in the columns


def test_a_recorded_settlement_drops_the_memo_of_the_entry_it_replaces() -> None:
    """The same cut before and after a settlement is recorded (the window's oldest row
    stays): the mean follows the new row, not the memo of the replaced entry."""
    iid = perp_id("hyperliquid", "BTC")
    key = str(iid)
    lookback_ms = 24 * H_MS
    cache = rates.MeanRateCache()
    book: dict[str, PerpRates] = {
        key: PerpRates(T0_MS, T0_MS - 48 * H_MS, (Settlement(T0_MS, 1e-5, 1.0),))
    }
    now_ms = T0_MS + H_MS
    assert cache.mean_rate_per_hour(book, key, now_ms, lookback_ms) == 1e-5
    funding = FundingRate(iid, 3e-5, 3600, now_ms, now_ms + H_MS)
    assert cache.record(book, funding, now_ms, lookback_ms)
    assert len(book[key].settlements) == 2
    assert _hex(cache.mean_rate_per_hour(book, key, now_ms, lookback_ms)) == _hex(
        math.fsum([1e-5, 3e-5]) / 2.0
    )


def test_a_sum_that_raised_leaves_no_memo_behind() -> None:
    """A window whose paid fractions overflow to +inf and -inf (finite rates, 8-h intervals)
    makes ``fsum`` raise; asked again at that cut it raises again — the memo of the cut taken
    before (a later one, without those rows) is not returned for it."""
    iid = perp_id("binance", "ETH")
    key = str(iid)
    lookback_ms = 10 * H_MS
    settlements = (
        Settlement(T0_MS, 1e308, 8.0),  # paid_frac +inf
        Settlement(T0_MS + H_MS, -1e308, 8.0),  # paid_frac -inf
        Settlement(T0_MS + 2 * H_MS, 1e-4, 8.0),
    )
    book = {key: PerpRates(T0_MS + 2 * H_MS, T0_MS - 100 * H_MS, settlements)}
    cache = rates.MeanRateCache()
    late_ms = T0_MS + lookback_ms + 90 * 60_000  # cut past the two huge rows
    assert cache.mean_rate_per_hour(book, key, late_ms, lookback_ms) == 1e-4
    early_ms = T0_MS + 5 * H_MS  # all three rows in the window
    with pytest.raises(ValueError, match=r"-inf \+ inf in fsum"):
        rates.mean_rate_per_hour(book, key, early_ms, lookback_ms)
    for _ in range(2):
        with pytest.raises(ValueError, match=r"-inf \+ inf in fsum"):
            cache.mean_rate_per_hour(book, key, early_ms, lookback_ms)
    assert cache.mean_rate_per_hour(book, key, late_ms, lookback_ms) == 1e-4


# ------------------------------------------------------------------- the expiry instants


def test_legs_expire_at_their_instant_unless_recomputed_since() -> None:
    """Perps settling at several instants (hourly, 8-hourly, 4-hourly offset), feeds that go
    quiet (funding turns stale by time alone) and settlements leaving the window with no new
    one (a mean that changes by time alone): every cycle, each view equals ``leg_view``."""
    rng = random.Random(3)
    symbols = ["BTC", "ETH", "SOL"]
    lookback_ms = 6 * H_MS
    board = LegBoard(symbols, VENUES, lookback_ms, 1e-4)
    ids = [perp_id(v, b) for b in symbols for v in VENUES]
    every_h = {iid: rng.choice([1, 4, 8]) for iid in ids}
    quiet_until: dict[str, int] = {}
    current: dict[str, FundingRate] = {}
    book: dict[str, PerpRates] = {}
    changed_by_time = 0
    for h in range(300):
        now_ms = T0_MS + h * H_MS
        for iid in ids:
            if quiet_until.get(iid, -1) > h:
                continue
            if rng.random() < 0.03:
                quiet_until[iid] = h + rng.randint(3, 20)  # no settlement for a while
            elif h % every_h[iid] == 0:
                interval_s = every_h[iid] * 3600
                current[iid] = FundingRate(
                    iid, rng.uniform(-2e-4, 2e-4), interval_s, now_ms, now_ms + interval_s * 1000
                )
        snapshot = MarketSnapshot(now_ms, {}, {i: 100.0 for i in ids}, dict(current), {})
        previous = book
        book = dict(previous)
        before = [board.view(snapshot, b, v) for b in symbols for v in VENUES] if h else []
        board.advance(snapshot, previous, book, now_ms)
        for k, iid in enumerate(ids):
            base, venue = symbols[k // len(VENUES)], VENUES[k % len(VENUES)]
            expected = leg_view(snapshot, book, venue, base, now_ms, lookback_ms)
            got = board.view(snapshot, base, venue)
            assert got is not None
            assert (_hex(got.latest_rate_per_hour), got.forecast) == (
                _hex(expected.latest_rate_per_hour),
                expected.forecast,
            ), (h, iid)
            if before and previous.get(iid) is book.get(iid) and got != before[k]:
                changed_by_time += 1  # the same entry and funding: changed by the clock
    assert changed_by_time > 20
