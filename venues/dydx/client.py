"""dYdX v4 public market data as a :class:`~venues.base.MarketDataSource` (venue ``dydx``).

Read-only: trading on dYdX v4 is a Cosmos transaction to a validator, not an HTTP API (dYdX docs
https://docs.dydx.exchange, "Trading"; source https://github.com/dydxprotocol/v4-documentation
``docs/pages/interaction/trading/``), so this is not a :class:`~venues.base.Venue`. Built on
:class:`~venues.dydx.rest.DydxIndexerRest` (endpoints, buckets, errors), :mod:`venues.dydx.parse`
(payload → value types) and :mod:`venues.dydx.streams` (``v4_markets``).

Instrument ids keep the dYdX ticker: ``InstrumentId("dydx", PERP, "BTC-USD")`` (see
:mod:`venues.dydx.constants`). Funding is hourly; every rate is a 1-hour rate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx

from venues.base import Credentials
from venues.dydx import constants as c
from venues.dydx.fields import ms_to_iso
from venues.dydx.parse import (
    markets_map,
    parse_candles,
    parse_historical_funding,
    parse_next_funding,
    parse_perpetual_markets,
)
from venues.dydx.rest import DydxIndexerRest
from venues.dydx.streams import markets_stream_config, stream_oracle_marks
from venues.errors import ProtocolError, VenueError
from venues.model import Bar, FundingRate, Instrument, InstrumentId, InstrumentKind, MarkPrice
from venues.ratelimit import SleptClock

SleepFn = Callable[[float], Awaitable[None]]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class DydxMarketData:
    """dYdX v4 Indexer market data: instruments, funding (current and history), candles and
    oracle-price marks.

    Parameters
    ----------
    rest : DydxIndexerRest
        Endpoint layer (owns the transports; closed by :meth:`close`).
    ws_url : str
        Indexer websocket URL.
    now_ms : Callable[[], int]
        Wall clock, epoch ms UTC (next funding time, snapshot stamps).
    sleep : Callable[[float], Awaitable[None]]
        Async sleep in seconds (websocket backoff).
    ws_overrides : Mapping[str, Any] | None
        Fields of the :class:`~venues.ws.StreamConfig` to replace (tests).
    """

    def __init__(
        self,
        rest: DydxIndexerRest,
        *,
        ws_url: str = c.WS_URL,
        now_ms: Callable[[], int] = _wall_ms,
        sleep: SleepFn = asyncio.sleep,
        ws_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self._rest = rest
        self._ws_url = ws_url
        self._now_ms = now_ms
        self._sleep = sleep
        self._ws_overrides = dict(ws_overrides or {})
        self._closed = False

    def __repr__(self) -> str:
        return f"DydxMarketData(rest={self._rest!r})"

    @property
    def name(self) -> str:
        """``dydx``."""
        return c.VENUE

    async def open(self) -> None:
        """Nothing to open: the Indexer needs no session and no clock sync."""

    async def close(self) -> None:
        """Close the REST transports; idempotent."""
        if not self._closed:
            self._closed = True
            await self._rest.aclose()

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """Listed perps of ``GET /v4/perpetualMarkets``: tick and lot step from the quantum
        fields, min qty one step, hourly funding. Fixture ``perpetual_markets_btc_eth_sol.json``.
        """
        payload = await self._rest.get_perpetual_markets()
        return {i.id: i for i in parse_perpetual_markets(payload)}

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """``nextFundingRate`` of each perp (1-hour rate, settling at the next top of the
        hour), oracle price as mark. One ``?ticker=`` request for one id, else the full map.

        Raises ``ProtocolError`` if a ticker is not listed."""
        if not instrument_ids:
            return []
        ticker = instrument_ids[0].symbol if len(instrument_ids) == 1 else None
        markets = markets_map(await self._rest.get_perpetual_markets(ticker))
        now_ms = self._now_ms()
        missing = [i.symbol for i in instrument_ids if i.symbol not in markets]
        if missing:
            raise ProtocolError(f"perpetualMarkets: no market {missing}", venue=c.VENUE)
        return [parse_next_funding(markets[i.symbol], i.symbol, now_ms) for i in instrument_ids]

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Settled hourly rates with ``start_ms <= ts_funding_ms < end_ms`` (epoch ms), oldest
        first, de-duplicated on block height.

        ``GET /v4/historicalFunding/{ticker}`` pages newest first: the first page is bounded by
        ``effectiveBeforeOrAt = end_ms − 1 ms``, the next ones by ``effectiveBeforeOrAtHeight =
        oldest height − 1`` (Indexer API documentation
        https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/public/api-documentation.md,
        GetHistoricalFunding), until a page is short or reaches ``start_ms``."""
        self._check_perp(instrument_id)
        rows: dict[int, FundingRate] = {}
        height: int | None = None
        while start_ms < end_ms:
            payload = await self._rest.get_historical_funding(
                instrument_id.symbol,
                effective_before_or_at=ms_to_iso(end_ms - 1) if height is None else None,
                effective_before_or_at_height=height,
            )
            page = parse_historical_funding(payload, instrument_id)
            for row in page:
                if start_ms <= row.funding.ts_funding_ms < end_ms:
                    rows.setdefault(row.height, row.funding)
            if len(page) < c.PAGE_LIMIT:
                break
            oldest = min(page, key=lambda r: r.height)
            if oldest.funding.ts_funding_ms < start_ms or oldest.height <= 1:
                break
            height = oldest.height - 1
        return sorted(rows.values(), key=lambda r: r.ts_funding_ms)

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Candles with ``start_ms <= ts_open_ms < end_ms`` (epoch ms), oldest first.

        ``GET /v4/candles/perpetualMarkets/{ticker}`` with ``fromISO``/``toISO`` pages newest
        first; the next page ends (``toISO``, exclusive) at the oldest ``startedAt`` seen. The
        newest candle of a window reaching the present is still forming. Raises
        ``VenueError`` for a bar length dYdX does not offer (1MIN … 1DAY)."""
        self._check_perp(instrument_id)
        resolution = c.CANDLE_RESOLUTIONS.get(interval_s)
        if resolution is None:
            raise VenueError(f"dydx: no candle resolution of {interval_s} s", venue=c.VENUE)
        bars: dict[int, Bar] = {}
        cursor_ms = end_ms
        while start_ms < cursor_ms:
            payload = await self._rest.get_candles(
                instrument_id.symbol,
                resolution,
                from_iso=ms_to_iso(start_ms),
                to_iso=ms_to_iso(cursor_ms),
            )
            page = parse_candles(payload, instrument_id, interval_s)
            for bar in page:
                if start_ms <= bar.ts_open_ms < cursor_ms:
                    bars.setdefault(bar.ts_open_ms, bar)
            oldest_ms = min((b.ts_open_ms for b in page), default=start_ms)
            if len(page) < c.PAGE_LIMIT or oldest_ms >= cursor_ms:
                break
            cursor_ms = oldest_ms
        return [bars[ts] for ts in sorted(bars)]

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        """Oracle prices from the ``v4_markets`` channel (see :mod:`venues.dydx.streams`):
        reconnects, resubscribes and resyncs over REST on its own; per instrument never a
        duplicate or an older update."""
        for iid in instrument_ids:
            self._check_perp(iid)
        config = markets_stream_config(self._ws_url, **self._ws_overrides)
        return stream_oracle_marks(
            config,
            instrument_ids,
            fetch_markets=self._rest.get_perpetual_markets,
            now_ms=self._now_ms,
            sleep=self._sleep,
        )

    @staticmethod
    def _check_perp(instrument_id: InstrumentId) -> None:
        if instrument_id.venue != c.VENUE or instrument_id.kind is not InstrumentKind.PERP:
            raise VenueError(
                f"dydx lists perpetuals only; {instrument_id} is not one", venue=c.VENUE
            )


def create_venue(
    credentials: Credentials | None = None,
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: SleepFn | None = None,
) -> DydxMarketData:
    """The venue factory of the registry: a :class:`DydxMarketData` on mainnet by default.

    ``credentials`` are ignored (the Indexer is public; trading is out of scope, see the
    module docstring).
    ``rest_url`` is the Indexer base **without** ``/v4``; ``sleep`` (seconds) is used by the
    rate limiters' retries and the websocket backoff.
    """
    del credentials  # market data only
    if sleep is None:
        rest = DydxIndexerRest.create(rest_url or c.REST_URL, transport=transport)
        return DydxMarketData(rest, ws_url=ws_url or c.WS_URL)
    # An injected (fake) sleep: the rate limiters count the time it "slept" as passed, or a
    # Retry-After penalty would be waited out on the real clock.
    slept = SleptClock(sleep)
    rest = DydxIndexerRest.create(
        rest_url or c.REST_URL, transport=transport, clock=slept, sleep=slept.sleep
    )
    return DydxMarketData(rest, ws_url=ws_url or c.WS_URL, sleep=slept.sleep)
