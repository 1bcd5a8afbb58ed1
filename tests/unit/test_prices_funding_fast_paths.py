"""Fast paths of a step's prices and funding (issue 14, session 16), each against the
straightforward computation it replaces, on random inputs:

- ``MarketData.on_close_columns`` (a step's closes as two columns) against ``on_close`` one by
  one; ``on_volumes`` of a step's mapping into an empty hour (the mapping copied) against
  ``on_volume`` one by one, bit for bit (``-0.0`` sums to ``0.0``);
- the close and volume histories' write through the flat view against plain lists, across
  growth and the ``keep_bars`` compaction (a buffer replaced: the flat view must follow it);
- a snapshot's prices: a dict of its own per snapshot, the priced ids in order;
- ``PaperVenue.update_price_columns`` against ``update_price`` one by one (prices read back
  exactly, the same error at the same instrument), and the ids it found on the venue kept;
- ``PaperVenue.settle_funding``'s perp check from the venue's perps fixed at construction;
  ``FundingBook.settle``'s flat test (any Decimal zero); a known perp's bad settlement times
  refused.
"""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal as D
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.engine.funding_schedule import FundingScheduleRegistry
from agent.engine.marketdata import MarketData
from venues.errors import VenueUnavailable
from venues.model import FundingRate, Instrument, InstrumentId, InstrumentKind, VenueFees
from venues.paper import PaperVenue, PaperVenueConfig
from venues.paper.funding import FundingBook

HOUR_MS = 3_600_000
T0_MS = 1_700_006_400_000
IDS = [InstrumentId("binance", InstrumentKind.PERP, f"S{k}USDT") for k in range(6)]
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "S0USDT")
OTHER = InstrumentId("bybit", InstrumentKind.PERP, "S0USDT")  # on no venue here
INSTRUMENTS = {
    i: Instrument(i, "S", "USDT", D("0.01"), D("0.001"), D("0.001"), D("5"), D(1), 28_800)
    for i in IDS
} | {SPOT: Instrument(SPOT, "S", "USDT", D("0.01"), D("0.001"), D("0.001"), D("5"))}

# prices and volumes as a feed may hand them: good floats, zeros of both signs, ints, bad ones
GOOD = st.floats(min_value=1e-6, max_value=1e9)
ODD = st.sampled_from([0.0, -0.0, 3, 7.5, math.nan, math.inf, -1.0, D("2.5")])


def _venue() -> PaperVenue:
    config = PaperVenueConfig(
        name="binance",
        initial_collateral_usd=D("100000"),
        perp_fees=VenueFees(D("0.0002"), D("0.0005")),
        spot_fees=VenueFees(D("0.001"), D("0.001")),
        slippage_bps=D("2"),
        perp_leverage=D("5"),
    )
    return PaperVenue(config, INSTRUMENTS, lambda: T0_MS)


def _outcome(call: Any) -> str | None:
    """The error ``call()`` raised (its type and message), or None when it returns."""
    try:
        call()
    except (ValueError, TypeError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def _quotes(venue: PaperVenue) -> dict[InstrumentId, float]:
    """Every price the venue holds, read back (``float(Decimal(repr(price)))``)."""
    priced = []
    for iid in INSTRUMENTS:
        try:
            priced.append(asyncio.run(venue.fetch_quotes([iid]))[0])
        except VenueUnavailable:  # not priced yet
            continue
    return {q.instrument_id: q.bid for q in priced}


# ---- market data ---------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_close_columns_record_what_on_close_one_by_one_records(data: st.DataObject) -> None:
    fast, plain = MarketData(INSTRUMENTS, 2 * HOUR_MS), MarketData(INSTRUMENTS, 2 * HOUR_MS)
    tracked = list(INSTRUMENTS)
    for hour in range(data.draw(st.integers(1, 5))):
        ts_ms = T0_MS + hour * HOUR_MS
        ids = data.draw(
            st.one_of(
                st.permutations(tracked),  # every one, distinct (the fast path)
                st.lists(st.sampled_from([*tracked, OTHER]), max_size=8),  # repeats, untracked
            )
        )
        closes = [data.draw(GOOD) for _ in ids]
        got = _outcome(lambda: fast.on_close_columns(tuple(ids), closes, ts_ms))  # noqa: B023

        def one_by_one() -> None:
            for iid, close in zip(ids, closes, strict=True):  # noqa: B023
                plain.on_close(iid, close, ts_ms)  # noqa: B023

        assert got == _outcome(one_by_one)
        fast.carry_closes(ts_ms)
        plain.carry_closes(ts_ms)
        assert dict(fast.prices) == dict(plain.prices)
        a, b = fast.snapshot(ts_ms, tuple(tracked), 8), plain.snapshot(ts_ms, tuple(tracked), 8)
        assert a.stale == b.stale
        for iid in tracked:
            assert a.closes[iid].tolist() == b.closes[iid].tolist()


def test_close_columns_of_different_lengths_are_refused_before_anything_is_recorded() -> None:
    md = MarketData(INSTRUMENTS, 2 * HOUR_MS)
    with pytest.raises(ValueError, match="2 ids but 1 closes"):
        md.on_close_columns((IDS[0], IDS[1]), [1.0], T0_MS)
    assert dict(md.prices) == {}


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_a_steps_volumes_add_up_bit_for_bit_as_on_volume_one_by_one(data: st.DataObject) -> None:
    fast, plain = MarketData(INSTRUMENTS, 2 * HOUR_MS), MarketData(INSTRUMENTS, 2 * HOUR_MS)
    tracked = list(INSTRUMENTS)
    for hour in range(data.draw(st.integers(1, 4))):
        ts_ms = T0_MS + hour * HOUR_MS
        closes = [float(k + 1) for k in range(len(tracked))]
        fast.on_close_columns(tuple(tracked), closes, ts_ms)
        plain.on_close_columns(tuple(tracked), closes, ts_ms)
        for _ in range(data.draw(st.integers(1, 2))):  # a second call adds to the hour
            chosen = data.draw(st.lists(st.sampled_from([*tracked, OTHER]), unique=True))
            volumes = {i: data.draw(st.one_of(GOOD, ODD)) for i in chosen}
            as_proxy = data.draw(st.booleans())
            got = _outcome(
                lambda: fast.on_volumes(
                    MappingProxyType(volumes) if as_proxy else dict(volumes)  # noqa: B023
                )
            )

            def one_by_one() -> None:
                for iid, volume in volumes.items():  # noqa: B023
                    plain.on_volume(iid, volume)

            assert got == _outcome(one_by_one)
        fast.close_volumes()
        plain.close_volumes()
        a, b = fast.snapshot(ts_ms, tuple(tracked), 8), plain.snapshot(ts_ms, tuple(tracked), 8)
        assert set(a.volumes) == set(b.volumes)
        for iid in a.volumes:  # bits: -0.0 and 0.0 differ here, NaN equals NaN
            assert [v.hex() for v in a.volumes[iid].tolist()] == [
                v.hex() for v in b.volumes[iid].tolist()
            ]


def test_a_zero_volume_of_either_sign_is_recorded_as_the_sum_0_0_plus_it() -> None:
    md = MarketData(INSTRUMENTS, 2 * HOUR_MS)
    md.on_close_columns((IDS[0], IDS[1]), [1.0, 2.0], T0_MS)
    md.on_volumes(MappingProxyType({IDS[0]: -0.0, IDS[1]: 4.5}))
    md.close_volumes()
    snap = md.snapshot(T0_MS, (IDS[0], IDS[1]), 4)
    assert snap.volumes[IDS[0]].tolist()[-1].hex() == (0.0 + -0.0).hex() == "0x0.0p+0"
    assert snap.volumes[IDS[1]].tolist() == [4.5]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), keep=st.sampled_from([None, 3, 900]))
def test_histories_written_through_the_flat_view_match_plain_lists(
    data: st.DataObject, keep: int | None
) -> None:
    # past 1024 values a row the buffer grows (keep None or 900) or compacts (keep 3): both
    # replace it, and the flat view written through must be the new buffer's
    md = MarketData(INSTRUMENTS, 10**12, keep_bars=keep)
    tracked = list(INSTRUMENTS)
    hours = data.draw(st.integers(1, 1100))
    order = data.draw(st.permutations(tracked))
    ts_ms = T0_MS
    for hour in range(hours):
        ts_ms = T0_MS + hour * HOUR_MS
        md.on_close_columns(tuple(order), [hour + k / 8 for k in range(len(order))], ts_ms)
    n = min(hours, keep or hours, 8)
    snap = md.snapshot(ts_ms, tuple(tracked), n)
    for k, iid in enumerate(order):
        assert snap.closes[iid].tolist() == [h + k / 8 for h in range(hours - n, hours)]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_snapshot_prices_are_a_fresh_dict_of_the_priced_ids_in_order(data: st.DataObject) -> None:
    md = MarketData(INSTRUMENTS, 2 * HOUR_MS)
    tracked = list(INSTRUMENTS)
    priced = data.draw(st.lists(st.sampled_from(tracked), unique=True, min_size=2))
    wanted = tuple(data.draw(st.permutations(tracked)))
    for hour in range(3):
        closes = [data.draw(GOOD) for _ in priced]
        md.on_close_columns(tuple(priced), closes, T0_MS + hour * HOUR_MS)
        first = md.snapshot(T0_MS + hour * HOUR_MS, wanted, 1)
        expected = {i: md.prices[i] for i in wanted if i in md.prices}  # plain, in order
        assert list(first.prices.items()) == list(expected.items())
        assert isinstance(first.prices, dict)
        first.prices[wanted[0]] = -1.0  # type: ignore[index]  # a pick is its own dict
        second = md.snapshot(T0_MS + hour * HOUR_MS, wanted, 1)
        assert list(second.prices.items()) == list(expected.items())


# ---- paper venue prices ---------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_price_columns_set_what_update_price_one_by_one_sets(data: st.DataObject) -> None:
    fast, plain = _venue(), _venue()
    for _ in range(data.draw(st.integers(1, 4))):
        ids = data.draw(
            st.one_of(
                st.just(tuple(INSTRUMENTS)),  # the same tuple as before: the kept ids
                st.lists(st.sampled_from([*INSTRUMENTS, OTHER]), max_size=8).map(tuple),
            )
        )
        prices = [data.draw(st.one_of(GOOD, GOOD, ODD)) for _ in ids]
        got = _outcome(lambda: fast.update_price_columns(ids, prices))  # noqa: B023

        def one_by_one() -> None:
            for iid, price in zip(ids, prices, strict=True):  # noqa: B023
                plain.update_price(iid, price)

        assert got == _outcome(one_by_one)
        assert _quotes(fast) == _quotes(plain)


def test_ids_found_on_the_venue_are_kept_only_for_that_tuple() -> None:
    venue = _venue()
    venue.update_price_columns((IDS[0], IDS[1]), [10.0, 20.0])  # kept: both on the venue
    # another tuple, one not on the venue: looked at, refused at it, the price before set
    with pytest.raises(ValueError, match="not on venue binance"):
        venue.update_price_columns((IDS[2], OTHER), [30.0, 40.0])
    assert _quotes(venue) == {IDS[0]: 10.0, IDS[1]: 20.0, IDS[2]: 30.0}
    venue.update_price_columns((IDS[0], IDS[1]), [11.0, 21.0])  # the kept tuple again
    assert _quotes(venue)[IDS[1]] == 21.0
    with pytest.raises(ValueError, match="1 ids but 2 prices"):
        venue.update_price_columns((IDS[0],), [1.0, 2.0])


def test_update_prices_of_pairs_is_update_price_columns() -> None:
    venue = _venue()
    venue.update_prices(iter([(IDS[0], 5.0), (SPOT, 6)]))  # an int: converted, as one by one
    assert _quotes(venue) == {IDS[0]: 5.0, SPOT: 6.0}
    with pytest.raises(ValueError, match="must be finite and > 0"):
        venue.update_prices([(IDS[1], 1.0), (IDS[2], math.nan), (IDS[3], 1.0)])
    assert set(_quotes(venue)) == {IDS[0], SPOT, IDS[1]}


# ---- funding --------------------------------------------------------------------------------


def _rate(iid: InstrumentId, ts_ms: int, **changes: Any) -> FundingRate:
    fields: dict[str, Any] = {
        "instrument_id": iid,
        "rate": 1e-4,
        "interval_s": 28_800,
        "ts_funding_ms": ts_ms,
        "ts_next_funding_ms": ts_ms + 8 * HOUR_MS,
        "mark_price": 100.0,
    }
    return FundingRate(**(fields | changes))


def test_funding_settles_on_the_venues_perps_only() -> None:
    venue = _venue()
    assert venue.settle_funding(_rate(IDS[0], T0_MS)) is None  # flat: nothing paid
    with pytest.raises(ValueError, match=f"funding settled on {SPOT}, which is not a perp"):
        venue.settle_funding(_rate(SPOT, T0_MS))
    with pytest.raises(ValueError, match=f"instrument {OTHER} is not on venue binance"):
        venue.settle_funding(_rate(OTHER, T0_MS))
    # an option listed later is on the venue, and still not a perp
    option_id = InstrumentId("binance", InstrumentKind.OPTION, "BTC-20240329-60000-C")
    option = Instrument(option_id, "BTC", "USDT", D("5"), D("0.01"), D("0.01"), D("0"))
    venue.list_option(option)
    with pytest.raises(ValueError, match="which is not a perp"):
        venue.settle_funding(_rate(option_id, T0_MS))


@pytest.mark.parametrize("flat", [D(0), D("-0"), D("0E-8"), D("-0.000")])
def test_any_decimal_zero_is_flat_and_pays_nothing(flat: D) -> None:
    book = FundingBook()
    assert book.settle(_rate(IDS[0], T0_MS), flat, {}) is None
    assert book.last[IDS[0]].ts_funding_ms == T0_MS  # the rate is remembered all the same
    paid = book.settle(_rate(IDS[0], T0_MS + 8 * HOUR_MS), D("-0.5"), {})
    assert paid is not None
    assert paid.amount_usd == -D(repr(1e-4)) * D("-0.5") * D(repr(100.0))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"interval_s": 0}, "interval_s must be positive, got 0"),
        ({"ts_next_funding_ms": T0_MS + 8 * HOUR_MS}, "is not after ts_funding_ms"),
        ({"interval_s": -1, "ts_next_funding_ms": 0}, "interval_s must be positive, got -1"),
    ],
)
def test_a_known_perps_bad_settlement_times_are_refused(
    changes: dict[str, Any], message: str
) -> None:
    schedule = FundingScheduleRegistry()
    schedule.register(INSTRUMENTS[IDS[0]], T0_MS)
    assert schedule.observe(_rate(IDS[0], T0_MS)) is None
    bad = _rate(IDS[0], T0_MS + 8 * HOUR_MS, **changes)
    with pytest.raises(ValueError, match=message):
        schedule.observe(bad)
    assert schedule.next_settlement_ms(IDS[0]) == T0_MS + 8 * HOUR_MS  # nothing recorded


def test_flat_view_is_the_buffer() -> None:
    # the flat write's premise: a C-contiguous buffer's reshape(-1) is a view of it
    buf = np.empty((3, 4))
    flat = buf.reshape(-1)
    flat[1 * 4 + 2] = 7.0
    assert buf[1, 2] == 7.0
