"""Market data: close-history views, staleness, funding bookkeeping, snapshot scope."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest

from agent.engine.marketdata import MarketData
from venues.model import FundingRate, Instrument, InstrumentId, InstrumentKind

BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
UNTRACKED = InstrumentId("bybit", InstrumentKind.PERP, "SOLUSDT")
INSTRUMENTS = {
    BTC: Instrument(BTC, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("100"), D(1), 28_800),
    ETH: Instrument(ETH, "ETH", "USDT", D("0.01"), D("0.001"), D("0.001"), D("20"), D(1), 14_400),
}
T0_MS = 1_700_006_400_000
HOUR_MS = 3_600_000
STALE_AFTER_MS = 2 * HOUR_MS


def feed(md: MarketData, iid: InstrumentId, closes: list[float]) -> None:
    for i, close in enumerate(closes):
        md.on_close(iid, close, T0_MS + i * HOUR_MS)


def rate(iid: InstrumentId, value: float, ts_funding_ms: int) -> FundingRate:
    return FundingRate(iid, value, 28_800, ts_funding_ms, ts_funding_ms + 28_800_000)


def test_history_tail_is_the_latest_n_closes_oldest_first() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    feed(md, BTC, [100.0, 101.0, 102.0, 103.0, 104.0])
    snap = md.snapshot(T0_MS + 4 * HOUR_MS, [BTC], history_bars=3)
    closes = snap.closes[BTC]
    assert closes.dtype == np.float64
    assert closes.shape == (3,)
    assert closes.tolist() == [102.0, 103.0, 104.0]
    assert snap.prices[BTC] == 104.0


def test_history_tail_longer_than_history_returns_everything() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    feed(md, BTC, [1.0, 2.0])
    snap = md.snapshot(T0_MS + HOUR_MS, [BTC, ETH], history_bars=10)
    assert snap.closes[BTC].tolist() == [1.0, 2.0]
    assert snap.closes[ETH].shape == (0,)  # tracked but no data yet


def test_history_tail_is_a_read_only_view() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    feed(md, BTC, [1.0, 2.0, 3.0])
    closes = md.snapshot(T0_MS + 2 * HOUR_MS, [BTC], history_bars=2).closes[BTC]
    assert not closes.flags.writeable
    assert not closes.flags.owndata  # a view into the buffer, not a copy
    with pytest.raises(ValueError, match="read-only"):
        closes[0] = 99.0


def test_an_earlier_snapshot_is_unchanged_by_later_closes_and_buffer_growth() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    feed(md, BTC, [float(i) for i in range(10)])
    early = md.snapshot(T0_MS + 9 * HOUR_MS, [BTC], history_bars=5).closes[BTC]
    # 3,000 more closes force the buffer (initially 1,024 slots) to grow twice.
    for i in range(10, 3_010):
        md.on_close(BTC, float(i), T0_MS + i * HOUR_MS)
    assert early.tolist() == [5.0, 6.0, 7.0, 8.0, 9.0]
    late = md.snapshot(T0_MS + 3_009 * HOUR_MS, [BTC], history_bars=3_010).closes[BTC]
    np.testing.assert_array_equal(late, np.arange(3_010, dtype=np.float64))


def test_on_price_moves_the_price_but_not_the_history() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    feed(md, BTC, [100.0, 101.0])
    md.on_price(BTC, 101.5, T0_MS + HOUR_MS + 60_000)
    snap = md.snapshot(T0_MS + HOUR_MS + 60_000, [BTC], history_bars=5)
    assert snap.prices[BTC] == 101.5
    assert md.price(BTC) == 101.5
    assert snap.closes[BTC].tolist() == [100.0, 101.0]


def test_stale_when_the_latest_price_is_older_than_the_limit() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    md.on_close(BTC, 100.0, T0_MS)
    md.on_close(ETH, 10.0, T0_MS + HOUR_MS)
    # BTC exactly 2 h old is still fresh (stale means older than the limit); ETH is 1 h old.
    assert md.snapshot(T0_MS + STALE_AFTER_MS, [BTC, ETH], 1).stale == frozenset()
    # One ms past 2 h: BTC is stale, ETH (1 h + 1 ms old) is not.
    assert md.snapshot(T0_MS + STALE_AFTER_MS + 1, [BTC, ETH], 1).stale == {BTC}
    # A new price makes BTC fresh again.
    md.on_price(BTC, 100.5, T0_MS + STALE_AFTER_MS + 1)
    assert md.snapshot(T0_MS + STALE_AFTER_MS + 1, [BTC, ETH], 1).stale == frozenset()


def test_an_instrument_without_any_price_is_stale_and_has_no_price() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    md.on_close(BTC, 100.0, T0_MS)
    snap = md.snapshot(T0_MS, [BTC, ETH], 1)
    assert snap.stale == {ETH}
    assert ETH not in snap.prices
    assert md.price(ETH) is None


def test_funding_keeps_the_newest_settlement() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    newer = rate(BTC, 0.0003, T0_MS + 8 * HOUR_MS)
    older = rate(BTC, -0.0001, T0_MS)
    md.on_funding(newer)
    md.on_funding(older)  # arrives late: must not replace the newer settlement
    assert md.snapshot(T0_MS + 9 * HOUR_MS, [BTC], 1).funding[BTC] is newer
    newest = rate(BTC, 0.0001, T0_MS + 16 * HOUR_MS)
    md.on_funding(newest)
    assert md.snapshot(T0_MS + 17 * HOUR_MS, [BTC], 1).funding[BTC] is newest


def test_funding_is_kept_per_instrument() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    btc = rate(BTC, 0.0002, T0_MS)
    eth = rate(ETH, -0.0004, T0_MS - 4 * HOUR_MS)
    md.on_funding(btc)
    md.on_funding(eth)
    snap = md.snapshot(T0_MS, [BTC, ETH], 1)
    assert dict(snap.funding) == {BTC: btc, ETH: eth}


def test_snapshot_is_restricted_to_requested_tracked_instruments() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    feed(md, BTC, [100.0])
    feed(md, ETH, [10.0])
    md.on_funding(rate(ETH, 0.0001, T0_MS))
    snap = md.snapshot(T0_MS, [BTC, UNTRACKED], 1)
    assert snap.ts_ms == T0_MS
    assert set(snap.instruments) == {BTC}
    assert snap.instruments[BTC] is INSTRUMENTS[BTC]
    assert dict(snap.prices) == {BTC: 100.0}
    assert set(snap.closes) == {BTC}
    assert dict(snap.funding) == {}


def test_snapshot_prices_do_not_follow_later_updates() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    md.on_close(BTC, 100.0, T0_MS)
    snap = md.snapshot(T0_MS, [BTC], 1)
    md.on_close(BTC, 200.0, T0_MS + HOUR_MS)
    assert snap.prices[BTC] == 100.0
    assert md.prices[BTC] == 200.0


def test_prices_view_is_read_only() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    md.on_close(BTC, 100.0, T0_MS)
    with pytest.raises(TypeError):
        md.prices[BTC] = 1.0  # type: ignore[index]


def test_a_close_for_an_untracked_instrument_is_refused_without_side_effects() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    with pytest.raises(ValueError, match="bybit:perp:SOLUSDT"):
        md.on_close(UNTRACKED, 5.0, T0_MS)
    assert md.price(UNTRACKED) is None
    with pytest.raises(ValueError, match="bybit:perp:SOLUSDT"):
        md.on_price(UNTRACKED, 5.0, T0_MS)
    assert md.price(UNTRACKED) is None
    assert md.snapshot(T0_MS, [UNTRACKED], 1).prices == {}


def test_an_hour_without_a_close_repeats_the_previous_close_and_the_price_ages() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    feed(md, BTC, [100.0, 101.0, 102.0, 103.0])
    feed(md, ETH, [10.0, 11.0])  # ETH's bars stop after T0 + 1h
    for hour in (2, 3):
        assert md.carry_closes(T0_MS + hour * HOUR_MS) == [ETH]
    snap = md.snapshot(T0_MS + 3 * HOUR_MS, [BTC, ETH], history_bars=4)
    # Both tails cover the same four hours: ETH's last two are its 11.0 repeated.
    assert snap.closes[BTC].tolist() == [100.0, 101.0, 102.0, 103.0]
    assert snap.closes[ETH].tolist() == [10.0, 11.0, 11.0, 11.0]
    # The price is still the one at T0 + 1h: two hours old is fresh, a ms more is stale.
    assert snap.stale == frozenset()
    assert md.snapshot(T0_MS + 3 * HOUR_MS + 1, [ETH], 1).stale == {ETH}


def test_carrying_is_once_per_hour_and_skips_instruments_without_history() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    md.on_close(BTC, 100.0, T0_MS)
    assert md.carry_closes(T0_MS) == []  # BTC has its close for this hour; ETH has none ever
    assert md.carry_closes(T0_MS + HOUR_MS) == [BTC]
    assert md.carry_closes(T0_MS + HOUR_MS) == []  # the same hour again appends nothing
    md.on_close(BTC, 104.0, T0_MS + 2 * HOUR_MS)
    assert md.carry_closes(T0_MS + 2 * HOUR_MS) == []
    snap = md.snapshot(T0_MS + 2 * HOUR_MS, [BTC, ETH], history_bars=10)
    assert snap.closes[BTC].tolist() == [100.0, 100.0, 104.0]
    assert snap.closes[ETH].shape == (0,)


def test_on_closes_records_each_close_as_on_close_does() -> None:
    one_by_one, batched = (
        MarketData(INSTRUMENTS, STALE_AFTER_MS),
        MarketData(INSTRUMENTS, STALE_AFTER_MS),
    )
    for hour in range(3):
        closes = [(BTC, 100.0 + hour), (ETH, 10.0 + hour)]
        for iid, close in closes:
            one_by_one.on_close(iid, close, T0_MS + hour * HOUR_MS)
        batched.on_closes(closes, T0_MS + hour * HOUR_MS)
    for md in (one_by_one, batched):
        snap = md.snapshot(T0_MS + 2 * HOUR_MS, (BTC, ETH), 5)
        assert snap.closes[BTC].tolist() == [100.0, 101.0, 102.0]
        assert snap.closes[ETH].tolist() == [10.0, 11.0, 12.0]
        assert dict(snap.prices) == {BTC: 102.0, ETH: 12.0}
        assert md.carry_closes(T0_MS + 2 * HOUR_MS) == []  # both closed this hour


def test_on_closes_refuses_an_untracked_instrument_after_recording_those_before() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    with pytest.raises(ValueError, match="bybit:perp:SOLUSDT"):
        md.on_closes([(BTC, 100.0), (UNTRACKED, 5.0), (ETH, 10.0)], T0_MS)
    assert md.price(BTC) == 100.0
    assert md.price(UNTRACKED) is None
    assert md.price(ETH) is None


def test_on_volumes_adds_to_the_hour_as_on_volume_does_and_checks_each() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    md.on_closes([(BTC, 100.0), (ETH, 10.0)], T0_MS)
    md.on_volumes([(BTC, 2.0), (BTC, 3.5), (ETH, 1.0)])
    md.close_volumes()
    snap = md.snapshot(T0_MS, (BTC, ETH), 3)
    assert snap.volumes[BTC].tolist() == [5.5]
    assert snap.volumes[ETH].tolist() == [1.0]
    with pytest.raises(ValueError, match="finite and >= 0"):
        md.on_volumes([(BTC, -1.0)])
    with pytest.raises(ValueError, match="bybit:perp:SOLUSDT"):
        md.on_volumes([(UNTRACKED, 1.0)])


def test_a_repeated_request_sees_volume_histories_and_options_added_since() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    ids = (BTC, ETH)
    md.on_closes([(BTC, 100.0), (ETH, 10.0)], T0_MS)
    md.close_volumes()
    assert dict(md.snapshot(T0_MS, ids, 2).volumes) == {}
    md.on_closes([(BTC, 101.0), (ETH, 11.0)], T0_MS + HOUR_MS)
    md.on_volume(ETH, 4.0)  # ETH's first volume: a new volume history
    md.close_volumes()
    snap = md.snapshot(T0_MS + HOUR_MS, ids, 2)
    assert set(snap.volumes) == {ETH}
    assert np.isnan(snap.volumes[ETH][0])
    assert snap.volumes[ETH][1] == 4.0
    assert snap.closes[BTC].tolist() == [100.0, 101.0]
    option = InstrumentId("deribit", InstrumentKind.OPTION, "BTC-27DEC24-100000-C")
    listed = Instrument(option, "BTC", "USD", D("0.1"), D("0.1"), D("0.1"), D("0"), D(1), 0)
    md.list_option(BTC, listed)
    with_option = md.snapshot(T0_MS + HOUR_MS, ids, 2)
    assert set(with_option.instruments) == {BTC, ETH, option}
    assert set(with_option.closes) == {BTC, ETH, option}


def test_closes_read_after_later_closes_and_buffer_growth_are_those_of_the_snapshot() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    for hour in range(10):
        md.on_closes([(BTC, float(hour))], T0_MS + hour * HOUR_MS)
        md.on_volumes([(BTC, 100.0 + hour)])
        md.close_volumes()
    snap = md.snapshot(T0_MS + 9 * HOUR_MS, (BTC, ETH), history_bars=4)
    for hour in range(10, 3_010):  # the buffers (1,024 slots at first) grow twice
        md.on_closes([(BTC, float(hour))], T0_MS + hour * HOUR_MS)
        md.on_volumes([(BTC, 1.0)])
        md.close_volumes()
    assert snap.closes[BTC].tolist() == [6.0, 7.0, 8.0, 9.0]  # read only now
    assert snap.volumes[BTC].tolist() == [106.0, 107.0, 108.0, 109.0]
    assert not snap.closes[BTC].flags.writeable
    assert snap.closes[ETH].shape == (0,)
    assert snap.closes.get(UNTRACKED) is None
    assert snap.volumes.get(ETH) is None  # ETH has no volume history
    assert (list(snap.closes), len(snap.closes), BTC in snap.closes) == ([BTC, ETH], 2, True)
    assert list(snap.volumes) == [BTC]
    with pytest.raises(KeyError):
        snap.closes[UNTRACKED]


def test_fresh_price_is_none_before_the_first_price_and_while_stale() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    assert md.fresh_price(BTC, T0_MS) is None  # no price yet
    assert md.fresh_price(UNTRACKED, T0_MS) is None
    feed(md, BTC, [100.0, 101.0])  # last close at T0 + 1 h
    last_ms = T0_MS + HOUR_MS
    assert md.fresh_price(BTC, last_ms + STALE_AFTER_MS) == 101.0  # exactly stale_after: fresh
    assert md.fresh_price(BTC, last_ms + STALE_AFTER_MS + 1) is None
    assert BTC in md.snapshot(last_ms + STALE_AFTER_MS + 1, [BTC], 1).stale  # the same rule
    assert BTC not in md.snapshot(last_ms + STALE_AFTER_MS, [BTC], 1).stale
    assert md.price(BTC) == 101.0  # the latest price is still known
    md.on_price(BTC, 102.0, last_ms + 3 * HOUR_MS)
    assert md.fresh_price(BTC, last_ms + 3 * HOUR_MS) == 102.0
