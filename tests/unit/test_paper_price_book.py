"""A paper venue's prices (venues.paper.prices.PriceBook): fed as floats, read as
``Decimal(repr(price))`` — the value the venue always booked with — made at the first read after
a change and kept while the price stands; and ``PaperVenue.update_prices``' batch path against
setting the prices one by one (same readings, same errors)."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_paper_venue import ETH, PERP, SPOT, make_venue, order
from venues.errors import VenueUnavailable
from venues.model import InstrumentId, InstrumentKind, Side
from venues.paper.prices import PriceBook

IDS = [PERP, SPOT, ETH]
PRICES = st.floats(min_value=1e-9, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.lists(st.tuples(st.sampled_from(IDS), PRICES), max_size=4), max_size=12))
def test_each_read_is_the_decimal_of_the_last_price_set(
    steps: list[list[tuple[InstrumentId, float]]],
) -> None:
    """Steps of prices, each read after it (a read between two changes of the same price, a
    change back to an earlier value): always Decimal(repr(the last price set))."""
    book = PriceBook()
    last: dict[InstrumentId, float] = {}
    for step in steps:
        book.set_many(step)
        last.update(step)
        for iid in IDS:
            if iid in last:
                assert iid in book
                assert str(book[iid]) == str(D(repr(last[iid])))
                assert book.get(iid) == D(repr(last[iid]))
            else:
                assert iid not in book
                assert book.get(iid) is None
                with pytest.raises(KeyError):
                    book[iid]
        assert list(book) == list(last)
        assert len(book) == len(last)


def test_a_new_price_is_read_as_its_own_decimal_and_an_equal_one_keeps_the_made_one() -> None:
    book = PriceBook()
    book.set(PERP, 60000.1)
    first = book[PERP]
    assert str(first) == "60000.1"
    book.set(PERP, 60000.2)  # a changed price: its own Decimal, not the one kept
    assert str(book[PERP]) == "60000.2"
    book.set(PERP, 60000.2)
    kept = book[PERP]
    book.set(PERP, float("60000.2"))  # an equal float (another object): the kept Decimal
    assert book[PERP] is kept


def test_update_prices_reads_as_update_price_one_by_one() -> None:
    """The batch (floats checked, set at once) and the one-by-one path (converted with
    ``float``: ints, numpy floats) read the same, and fills price from them the same."""
    values = [(PERP, 60000.1), (SPOT, 59999.0), (ETH, 3000.123456789)]
    batch, single, mixed = make_venue(), make_venue(), make_venue()
    batch.update_prices(values)
    for iid, price in values:
        single.update_price(iid, price)
    mixed.update_prices([(PERP, np.float64(60000.1)), (SPOT, 59999), (ETH, 3000.123456789)])
    for venue in (batch, single, mixed):
        quotes = asyncio.run(venue.fetch_quotes(IDS))
        assert [(q.instrument_id, q.bid) for q in quotes] == values
        fill = asyncio.run(venue.place_order(order(PERP, Side.BUY, "0.01"))).fills[0]
        assert fill.reference_price == D("60000.1")
    assert (
        str(asyncio.run(mixed.place_order(order(SPOT, Side.BUY, "0.01"))).fills[0].reference_price)
        == "59999.0"
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0, -1.0])
def test_a_bad_price_in_a_batch_raises_and_the_prices_before_it_are_set(bad: float) -> None:
    venue = make_venue()
    with pytest.raises(ValueError, match="must be finite and > 0"):
        venue.update_prices([(PERP, 100.0), (SPOT, bad), (ETH, 50.0)])
    assert asyncio.run(venue.fetch_quotes([PERP]))[0].bid == 100.0
    with pytest.raises(VenueUnavailable):  # neither the bad one nor those after it
        asyncio.run(venue.fetch_quotes([SPOT]))
    with pytest.raises(VenueUnavailable):
        asyncio.run(venue.fetch_quotes([ETH]))
    fill = asyncio.run(venue.place_order(order(PERP, Side.BUY, "1.5"))).fills[0]
    assert str(fill.reference_price) == "100.0"


def test_a_price_of_another_venue_in_a_batch_is_refused() -> None:
    venue = make_venue()
    other = InstrumentId("bybit", InstrumentKind.PERP, "BTCUSDT")
    with pytest.raises(Exception, match="bybit"):
        venue.update_prices([(PERP, 100.0), (other, 100.0)])
