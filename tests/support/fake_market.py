"""An in-memory ``MarketDataSource`` and a fake wall clock for live-feed and supervisor tests.

Prices follow a closed-form path (``price_at``) so tests compute expected closes themselves;
funding settlements and marks are whatever the test puts in. Nothing sleeps: ``FakeWall.sleep``
moves the clock and yields to the event loop once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal

from venues.model import (
    HOUR_MS,
    Bar,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
)


def price_at(iid: InstrumentId, ts_close_ms: int) -> float:
    """Close of ``iid``'s 1h bar ending at ``ts_close_ms``: a base level per symbol plus one
    unit per hour since the epoch hour 480,000 (exactly representable)."""
    base = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "BTC": 60_000.0}.get(iid.symbol, 100.0)
    if iid.kind is InstrumentKind.SPOT:
        base -= 10.0
    return base + float(ts_close_ms // HOUR_MS - 480_000)


def instrument(iid: InstrumentId, interval_s: int | None = 28_800) -> Instrument:
    """Binance-like rules: tick 0.1, lot 0.001, min notional 5 USDT."""
    return Instrument(
        iid,
        iid.symbol.removesuffix("USDT"),
        "USDT",
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal(5),
        funding_interval_s=interval_s if iid.kind is InstrumentKind.PERP else None,
    )


class FakeMarketData:
    """In-memory market data of one venue.

    Attributes
    ----------
    settlements : list[FundingRate]
        Returned by ``fetch_funding_history`` once ``published(rate)`` says so.
    marks : asyncio.Queue[MarkPrice | FundingRate | None]
        ``stream_market`` yields what the test puts here — marks and predicted funding rates
        (``stream_marks`` the marks only); ``None`` ends the stream.
    missing_bars : set[tuple[InstrumentId, int]]
        ``(instrument, ts_close_ms)`` bars the venue does not return.
    calls : list[str]
        Method names in call order.
    """

    def __init__(
        self,
        name: str,
        instruments: Mapping[InstrumentId, Instrument],
        *,
        now_ms: Callable[[], int],
    ) -> None:
        self._name = name
        self._instruments = dict(instruments)
        self._now_ms = now_ms
        self.settlements: list[FundingRate] = []
        self.publish_delay_ms = 0
        self.marks: asyncio.Queue[MarkPrice | FundingRate | None] = asyncio.Queue()
        self.missing_bars: set[tuple[InstrumentId, int]] = set()
        self.calls: list[str] = []
        self.opened = self.closed = False

    @property
    def name(self) -> str:
        return self._name

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.closed = True

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        self.calls.append("load_instruments")
        return dict(self._instruments)

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        self.calls.append("fetch_funding")
        return []

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        self.calls.append("fetch_funding_history")
        now = self._now_ms()
        return [
            r
            for r in self.settlements
            if r.instrument_id == instrument_id
            and start_ms <= r.ts_funding_ms < end_ms
            and r.ts_funding_ms + self.publish_delay_ms <= now
        ]

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        self.calls.append("fetch_bars")
        assert interval_s == 3600
        first = -(-start_ms // HOUR_MS) * HOUR_MS
        bars = []
        for ts_open in range(first, end_ms, HOUR_MS):
            ts_close = ts_open + HOUR_MS
            if ts_close > self._now_ms() or (instrument_id, ts_close) in self.missing_bars:
                continue
            close = price_at(instrument_id, ts_close)
            bars.append(Bar(instrument_id, ts_open, ts_close, close, close, close, close, 1.0))
        return bars

    async def stream_marks(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncIterator[MarkPrice]:
        self.calls.append("stream_marks")
        while (update := await self.marks.get()) is not None:
            if isinstance(update, MarkPrice):
                yield update

    async def stream_market(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        self.calls.append("stream_market")
        while (update := await self.marks.get()) is not None:
            yield update


class FakeWall:
    """A wall clock that only moves when ``sleep`` is awaited.

    ``sleep`` records each delay, advances the clock by it, yields to the event loop, and
    calls ``on_sleep`` (tests stop the run from there).
    """

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms
        self.sleeps_s: list[float] = []
        self.on_sleep: Callable[[FakeWall], None] | None = None

    def now_ms(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        self.now += round(seconds * 1000)
        await asyncio.sleep(0)
        if self.on_sleep is not None:
            self.on_sleep(self)
