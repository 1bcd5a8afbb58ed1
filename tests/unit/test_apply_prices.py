"""Engine._apply_prices (agent.engine.engine): a step's closes, the closes of the instruments
priced by another's (``price_source``), each paper venue's prices and the hour's volumes,
against the straightforward bookkeeping of the same step, on random sequences of steps (some
sources without a close, some instruments without a paper venue, venues' instruments
interleaved or in runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal as D
from types import MappingProxyType
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.engine.engine import CloseColumns, Engine, PaperOf
from agent.engine.marketdata import MarketData
from venues.model import Instrument, InstrumentId, InstrumentKind

HOUR_MS = 3_600_000
T0_MS = 1_700_006_400_000
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
RECORDED = [
    InstrumentId("binance", kind, symbol)
    for symbol in SYMBOLS
    for kind in (InstrumentKind.PERP, InstrumentKind.SPOT)
]
SOURCED = {  # priced by the Binance perp of the same symbol; bybit's and dydx's interleaved
    InstrumentId(venue, InstrumentKind.PERP, symbol): InstrumentId(
        "binance", InstrumentKind.PERP, symbol
    )
    for symbol in SYMBOLS
    for venue in ("bybit", "dydx")
}
UNTRACKED = InstrumentId("binance", InstrumentKind.PERP, "DOGEUSDT")
INSTRUMENTS = {
    i: Instrument(i, i.symbol[:3], "USDT", D("0.1"), D("0.001"), D("0.001"), D("5"), D(1), 28_800)
    for i in [*RECORDED, *SOURCED]
}


@dataclass(eq=False)
class _Venue:
    """A paper venue that records what it is given."""

    name: str
    received: list[list[tuple[InstrumentId, float]]] = field(default_factory=list)

    def update_price_columns(self, ids: tuple[InstrumentId, ...], prices: list[float]) -> None:
        assert type(ids) is tuple
        assert len(ids) == len(prices)
        self.received.append(list(zip(ids, prices, strict=True)))


@dataclass(frozen=True)
class _Step:
    ts_ms: int
    closes: MappingProxyType[InstrumentId, float]
    volumes: MappingProxyType[InstrumentId, float]


@dataclass(frozen=True)
class _ColumnsStep(_Step):
    """A step that also gives its volumes as two columns, as ``ReplayStep`` does."""

    ids: tuple[InstrumentId, ...]

    def volume_columns(self) -> tuple[tuple[InstrumentId, ...], np.ndarray]:
        return self.ids, np.array([self.volumes[i] for i in self.ids], dtype=np.float64)


def _engine(paper: dict[str, Any], price_source: dict[InstrumentId, InstrumentId]) -> Any:
    """An engine holding only what applying a step's prices reads (no venues, no journal)."""
    engine = Engine.__new__(Engine)
    parts = {
        "market": MarketData(INSTRUMENTS, 2 * HOUR_MS),
        "price_source": price_source,
        "_paper_of": PaperOf(paper),
        "_close_columns": CloseColumns(price_source),
        "instruments": INSTRUMENTS,
        "closes_carried": 0,
        "_carried_last_step": frozenset(),
        "_tracked_ids": None,
    }
    for name, value in parts.items():
        setattr(engine, name, value)
    return engine


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_step_prices_the_market_and_each_paper_venue_as_the_plain_bookkeeping(
    data: st.DataObject,
) -> None:
    # binance and bybit paper venues (dydx has none: its instruments are left out)
    paper = {"binance": _Venue("binance"), "bybit": _Venue("bybit")}
    price_source = dict(SOURCED)
    if data.draw(st.booleans()):  # a recorded instrument priced by another too: two calls
        price_source[RECORDED[1]] = RECORDED[2]
    engine = _engine(paper, price_source)
    prices: dict[InstrumentId, float] = {}
    closes_of: dict[InstrumentId, list[float]] = {}
    price = st.floats(min_value=0.01, max_value=1e6)
    for hour in range(data.draw(st.integers(1, 6))):
        ts_ms = T0_MS + hour * HOUR_MS
        # every recorded instrument (in one order or another) or some of them
        chosen = data.draw(
            st.one_of(
                st.just(RECORDED), st.permutations(RECORDED), st.lists(st.sampled_from(RECORDED))
            )
        )
        closes = {i: data.draw(price) for i in chosen}
        volumes = {i: data.draw(price) for i in chosen}
        if data.draw(st.booleans()):  # a volume of an instrument the run does not track
            volumes[UNTRACKED] = data.draw(price)
        for venue in paper.values():
            venue.received.clear()
        step = _Step(ts_ms, MappingProxyType(closes), MappingProxyType(volumes))
        if data.draw(st.booleans()):  # the volumes as columns too (the replay's step)
            step = _ColumnsStep(step.ts_ms, step.closes, step.volumes, tuple(volumes))
        Engine._apply_prices(engine, step)

        # the straightforward bookkeeping: the closes, then the sourced ones with a close
        sourced = [(i, closes[s]) for i, s in price_source.items() if s in closes]
        items = [*closes.items(), *sourced]
        for iid, close in items:
            prices[iid] = close
            closes_of.setdefault(iid, []).append(close)
        for iid, history in closes_of.items():  # an hour without a close repeats the last
            if iid not in dict(items):
                history.append(history[-1])
        for name, venue in paper.items():
            wanted = [(i, p) for i, p in items if i.venue == name]
            assert venue.received == ([wanted] if wanted else [])
        market = engine.market
        assert dict(market.prices) == prices
        snap = market.snapshot(ts_ms, tuple(INSTRUMENTS), 10)
        for iid, history in closes_of.items():
            assert snap.closes[iid].tolist() == history[-10:]
        for iid in RECORDED:
            if iid in volumes:
                assert snap.volumes[iid].tolist()[-1] == volumes[iid]
            elif iid in snap.volumes:
                assert snap.volumes[iid].tolist()[-1] == 0.0
        assert UNTRACKED not in snap.volumes
