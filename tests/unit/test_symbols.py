"""venues.symbols: OKX names ↔ the common names, both ways (the full adapter runs in the
contract suite: tests/contract/harnesses/okx.py)."""

from __future__ import annotations

import pytest

from venues.model import InstrumentId, InstrumentKind
from venues.symbols import okx_common, okx_native

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
