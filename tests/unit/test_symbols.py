"""venues.symbols: OKX names ↔ the common names, both ways (the full adapter runs in the
contract suite: tests/contract/harnesses/okx.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from venues.model import FundingRate, InstrumentId, InstrumentKind, MarkPrice
from venues.symbols import RenamedVenue, okx_common, okx_native

PERP, SPOT = InstrumentKind.PERP, InstrumentKind.SPOT


@pytest.mark.parametrize(
    ("kind", "common", "native"),
    [
        (PERP, "BTCUSDT", "BTC-USDT-SWAP"),
        (SPOT, "BTCUSDT", "BTC-USDT"),
        (PERP, "ETHUSDC", "ETH-USDC-SWAP"),
        (SPOT, "1000SATSUSDT", "1000SATS-USDT"),
    ],
)
def test_okx_names_round_trip(kind: InstrumentKind, common: str, native: str) -> None:
    assert okx_native(InstrumentId("okx", kind, common)) == InstrumentId("okx", kind, native)
    assert okx_common(InstrumentId("okx", kind, native)) == InstrumentId("okx", kind, common)


def test_names_already_native_or_unknown_pass_through() -> None:
    native = InstrumentId("okx", PERP, "BTC-USDT-SWAP")
    assert okx_native(native) == native
    odd = InstrumentId("okx", PERP, "BTC-USD-250328")  # a dated future: not renamed
    assert okx_common(odd) == odd
    assert okx_native(InstrumentId("okx", PERP, "XYZ")) == InstrumentId("okx", PERP, "XYZ")


class _Inner:
    """A venue client in OKX names whose market stream yields what it is given."""

    name = "okx"

    def __init__(self, updates: list[MarkPrice | FundingRate], with_funding: bool) -> None:
        self.updates = updates
        self.asked: list[list[InstrumentId]] = []
        if with_funding:
            self.stream_market = self._stream

    async def _stream(self, ids: list[InstrumentId]) -> AsyncIterator[MarkPrice | FundingRate]:
        self.asked.append(ids)
        for update in self.updates:
            yield update

    async def stream_marks(self, ids: list[InstrumentId]) -> AsyncIterator[MarkPrice]:
        self.asked.append(ids)
        for update in self.updates:
            if isinstance(update, MarkPrice):
                yield update


async def test_a_renamed_market_stream_speaks_common_names_both_ways() -> None:
    """``stream_market`` asks the inner venue in its own names and hands marks and predicted
    funding back in the common ones; an inner venue without predicted funding gives marks."""
    native = InstrumentId("okx", InstrumentKind.PERP, "BTC-USDT-SWAP")
    common = InstrumentId("okx", InstrumentKind.PERP, "BTCUSDT")
    updates: list[MarkPrice | FundingRate] = [
        MarkPrice(native, 60_000.0, 1),
        FundingRate(native, -0.0002, 28_800, 8 * 3_600_000, 16 * 3_600_000),
    ]
    for with_funding, kinds in ((True, ["MarkPrice", "FundingRate"]), (False, ["MarkPrice"])):
        inner = _Inner(updates, with_funding)
        venue = RenamedVenue(inner, okx_native, okx_common)  # type: ignore[arg-type]
        got = [u async for u in venue.stream_market([common])]
        assert inner.asked == [[native]]
        assert [type(u).__name__ for u in got] == kinds
        assert {u.instrument_id for u in got} == {common}
