"""Binance as one :class:`~venues.base.Venue` named ``binance``: USDⓈ-M perps and spot.

:class:`BinanceVenue` routes every call by :attr:`InstrumentId.kind` to
:class:`~venues.binance.client.BinanceUsdmVenue` (``PERP``, ``https://fapi.binance.com``) or
:class:`~venues.binance.spot_client.BinanceSpotVenue` (``SPOT``, ``https://api.binance.com``)
and merges what spans both:

* instruments, open orders: the union (keys differ by kind);
* mark streams: perp ``markPrice@1s`` and spot ``kline_1s`` (last trade price) interleaved
  (:func:`venues.streams.merge`), one connection per product;
* positions: perp positions plus spot holdings other than USD assets (long, see
  :mod:`venues.binance.spot_client`);
* balances: Binance keeps the USD-M futures wallet and the spot wallet **apart** (moving
  funds needs a transfer). :meth:`BinanceVenue.fetch_balances` reports **one row per
  asset summed over both wallets** (``total`` and ``available`` added, the newer timestamp)
  so that equity is complete; ``available`` is then an upper bound for either product. Use
  ``venue.perp.fetch_balances()`` / ``venue.spot.fetch_balances()`` for one wallet;
* funding (current, history, payments, stream) and account setup: the perp side only (spot
  has no funding and no modes);
* the account stream: the USD-M user data stream (listenKey) and the spot one (a WebSocket API
  ``userDataStream.subscribe.signature`` subscription, :mod:`venues.binance.spot_user_stream`)
  interleaved as events arrive.

Sources: Binance USDⓈ-M futures API docs
https://developers.binance.com/docs/derivatives/usds-margined-futures; spot API docs
https://github.com/binance/binance-spot-api-docs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal

import httpx

from venues.base import AccountEvent, Credentials
from venues.binance import constants as c
from venues.binance.client import BinanceUsdmVenue
from venues.binance.rest import BinanceUsdmRest, make_rest_client
from venues.binance.spot_client import BinanceSpotVenue
from venues.binance.spot_rest import BinanceSpotRest, make_spot_rest_client
from venues.binance.streams import WsSettings
from venues.errors import VenueError
from venues.model import (
    Balance,
    Bar,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    OrderAck,
    OrderRequest,
    Position,
    Quote,
)
from venues.ratelimit import RateLimiter, SleptClock
from venues.streams import merge

SleepFn = Callable[[float], Awaitable[None]]
PERP = InstrumentKind.PERP
SPOT = InstrumentKind.SPOT
_MERGE_NAME = "binance.merge"  # reader tasks of the merged streams: binance.merge.<i>


class BinanceVenue:
    """USDⓈ-M perps and spot of one Binance account behind one ``Venue`` (module docstring).

    Parameters
    ----------
    perp : BinanceUsdmVenue
        The ``fapi`` side; closed by :meth:`close`.
    spot : BinanceSpotVenue
        The ``api`` side; closed by :meth:`close`.
    """

    def __init__(self, perp: BinanceUsdmVenue, spot: BinanceSpotVenue) -> None:
        self.perp = perp
        self.spot = spot

    def __repr__(self) -> str:
        return f"BinanceVenue(perp={self.perp!r}, spot={self.spot!r})"

    @property
    def name(self) -> str:
        """``binance``."""
        return c.VENUE

    def _side(self, instrument_id: InstrumentId) -> BinanceUsdmVenue | BinanceSpotVenue:
        if instrument_id.venue != c.VENUE:
            raise VenueError(f"binance: {instrument_id!r} belongs to another venue", venue=c.VENUE)
        return self.perp if instrument_id.kind is PERP else self.spot

    async def open(self) -> None:
        """Sync both products' clock offsets (``/fapi/v1/time``, ``/api/v3/time``)."""
        await self.perp.open()
        await self.spot.open()

    async def close(self) -> None:
        """Close both transports; idempotent."""
        try:
            await self.perp.close()
        finally:
            await self.spot.close()

    # --- market data --------------------------------------------------------------------

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """Perpetuals of ``/fapi/v1/exchangeInfo`` and spot symbols of
        ``/api/v3/exchangeInfo``, ``TRADING`` only."""
        return {**await self.perp.load_instruments(), **await self.spot.load_instruments()}

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Quotes in the order asked: perps from ``premiumIndex`` (mark as bid = ask, see
        :mod:`venues.binance.client`), spot from ``bookTicker``."""
        perps, spots = _split(instrument_ids)
        by_id = {q.instrument_id: q for q in await self.perp.fetch_quotes(perps)}
        by_id.update({q.instrument_id: q for q in await self.spot.fetch_quotes(spots)})
        return [by_id[i] for i in instrument_ids]

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """Predicted funding of the perps among ``instrument_ids`` (spot ids are skipped)."""
        perps, _ = _split(instrument_ids)
        return await self.perp.fetch_funding(perps) if perps else []

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Settled rates of a perp (``/fapi/v1/fundingRate``); ``[]`` for spot."""
        if self._side(instrument_id) is self.spot:
            return []
        return await self.perp.fetch_funding_history(instrument_id, start_ms, end_ms)

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Klines of the instrument's product, ``start_ms <= ts_open_ms < end_ms``."""
        side = self._side(instrument_id)
        return await side.fetch_bars(instrument_id, start_ms, end_ms, interval_s)

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        """Perp marks (``markPrice@1s``, fstream) and spot marks (last trade price from
        ``kline_1s``, stream.binance.com) interleaved as they arrive, one connection per
        product; each side reconnects and resyncs on its own and never yields a duplicate
        or older mark per instrument. Raises the first error of either side."""
        perps, spots = _split(instrument_ids)
        sources = [
            *([self.perp.stream_marks(perps)] if perps else []),
            *([self.spot.stream_marks(spots)] if spots else []),
        ]
        return sources[0] if len(sources) == 1 else merge(sources, name=_MERGE_NAME)

    def stream_market(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        """:meth:`stream_marks` with the perps' predicted funding interleaved
        (:class:`~venues.base.MarketStreamSource`): the USD-M ``markPrice@1s`` connection
        carries both (:meth:`BinanceUsdmVenue.stream_market`), spot marks come as in
        :meth:`stream_marks`."""
        perps, spots = _split(instrument_ids)
        sources: list[AsyncIterator[MarkPrice | FundingRate]] = [
            *([self.perp.stream_market(perps)] if perps else []),
            *([self.spot.stream_marks(spots)] if spots else []),
        ]
        return sources[0] if len(sources) == 1 else merge(sources, name=_MERGE_NAME)

    def stream_funding(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[FundingRate]:
        """Predicted funding of the perps among ``instrument_ids`` as it changes (carried by
        the USD-M mark price stream); spot ids are skipped (no funding)."""
        perps, _ = _split(instrument_ids)
        return self.perp.stream_funding(perps)

    def stream_account(self) -> AsyncIterator[AccountEvent]:
        """The USD-M user data stream (orders, fills, funding of perps) and the spot one
        (WebSocket API subscription) interleaved as they arrive; raises the first error of
        either."""
        return merge([self.perp.stream_account(), self.spot.stream_account()], name=_MERGE_NAME)

    async def prepare_account(
        self, instrument_ids: Sequence[InstrumentId], leverage: Decimal
    ) -> list[str]:
        """:class:`~venues.base.AccountSetup` for the perps among ``instrument_ids``
        (one-way mode, cross margin, ``leverage`` ×); spot has no modes to set. Raises
        ``AccountSetupError`` as the USD-M side does."""
        perps, _ = _split(instrument_ids)
        return await self.perp.prepare_account(perps, leverage) if perps else []

    # --- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order to the instrument's product, exactly once (see the product's
        ``place_order`` for the errors; a transport error means: look it up)."""
        return await self._side(request.instrument_id).place_order(request)

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """Look an order up by client order id on its product; ``OrderNotFound`` if unknown."""
        return await self._side(instrument_id).fetch_order(instrument_id, client_order_id)

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """Cancel by client order id on its product; an order already final is returned."""
        return await self._side(instrument_id).cancel_order(instrument_id, client_order_id)

    async def fetch_open_orders(self) -> list[OrderAck]:
        """Open orders of both products (perps first)."""
        return [*await self.perp.fetch_open_orders(), *await self.spot.fetch_open_orders()]

    # --- account ------------------------------------------------------------------------

    async def fetch_positions(self) -> list[Position]:
        """Perp positions, then spot holdings as long positions."""
        return [*await self.perp.fetch_positions(), *await self.spot.fetch_positions()]

    async def fetch_balances(self) -> list[Balance]:
        """One row per asset summed over the futures and spot wallets (module docstring)."""
        return merge_balances(
            [*await self.perp.fetch_balances(), *await self.spot.fetch_balances()]
        )

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """USD-M ``FUNDING_FEE`` income since ``since_ms`` (spot pays no funding)."""
        return await self.perp.fetch_funding_payments(since_ms)


def _split(
    instrument_ids: Sequence[InstrumentId],
) -> tuple[list[InstrumentId], list[InstrumentId]]:
    for iid in instrument_ids:
        if iid.venue != c.VENUE:
            raise VenueError(f"binance: {iid!r} belongs to another venue", venue=c.VENUE)
    perps = [i for i in instrument_ids if i.kind is PERP]
    return perps, [i for i in instrument_ids if i.kind is SPOT]


def merge_balances(balances: Sequence[Balance]) -> list[Balance]:
    """Sum rows of the same asset (``total``, ``available``; newest ``ts_event_ms``), in the
    order each asset first appears."""
    merged: dict[str, Balance] = {}
    for b in balances:
        seen = merged.get(b.asset)
        merged[b.asset] = (
            b
            if seen is None
            else Balance(
                c.VENUE,
                b.asset,
                total=seen.total + b.total,
                available=seen.available + b.available,
                ts_event_ms=max(seen.ts_event_ms, b.ts_event_ms),
            )
        )
    return list(merged.values())


def _wall_ms() -> int:
    return int(time.time() * 1_000)


def create_venue(
    credentials: Credentials | None = None,
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: SleepFn | None = None,
) -> BinanceVenue:
    """Build the ``binance`` venue (perps + spot) for the agent's venue registry.

    Parameters
    ----------
    credentials : Credentials | None
        API key and HMAC secret, used by both products (one Binance key covers fapi and
        spot when both permissions are enabled); ``None`` = public data only (private
        methods raise ``AuthError``).
    rest_url : str | None
        ``None`` = production (``https://fapi.binance.com`` for perps,
        ``https://api.binance.com`` for spot). A value replaces **both** hosts: the paths
        differ (``/fapi/...`` vs ``/api/...``), so one fake server or proxy answers both.
    ws_url : str | None
        ``None`` = production (``wss://fstream.binance.com`` for perps, routes ``/market``
        and ``/private`` appended; ``wss://stream.binance.com:9443`` for spot, ``/stream``
        appended). A value replaces **both** hosts (the paths differ, so one local server
        answers both).
    transport : httpx.AsyncBaseTransport | None
        Replaces the network for both products (respx in tests).
    sleep : Callable[[float], Awaitable[None]] | None
        Async sleep (seconds) for retries and the rate limiters (6000 weight/min spot,
        2400 fapi); ``None`` = :func:`asyncio.sleep`. An injected sleep also advances the
        limiters' clock, so a fake sleep never spins.

    Returns
    -------
    BinanceVenue
        Not yet opened: call ``await venue.open()`` (clock sync) first.
    """
    key = credentials.api_key if credentials else None
    secret = credentials.api_secret if credentials else None
    clock: Callable[[], float] = time.monotonic
    wait: SleepFn = asyncio.sleep
    if sleep is not None:
        slept = SleptClock(sleep)
        clock, wait = slept, slept.sleep
    usdm = make_rest_client(
        rest_url or c.USDM_REST_URL,
        transport=transport,
        limiter=RateLimiter(c.USDM_REQUEST_WEIGHT_PER_MIN, 60.0, clock=clock, sleep=wait),
        sleep=wait,
    )
    spot = make_spot_rest_client(
        rest_url or c.SPOT_REST_URL,
        transport=transport,
        limiter=RateLimiter(c.SPOT_REQUEST_WEIGHT_PER_MIN, 60.0, clock=clock, sleep=wait),
        sleep=wait,
    )
    perp = BinanceUsdmVenue(
        BinanceUsdmRest(usdm, key, secret, _wall_ms),
        ws=WsSettings(base_url=ws_url or c.USDM_WS_URL),
        sleep=wait,
        now_ms=_wall_ms,
    )
    spot_ws = WsSettings(base_url=ws_url or c.SPOT_WS_URL)
    spot_venue = BinanceSpotVenue(
        BinanceSpotRest(spot, key, secret, _wall_ms),
        ws=spot_ws,
        sleep=wait,
        ws_api_url=f"{ws_url}/ws-api/v3" if ws_url else c.SPOT_WS_API_URL,
    )
    return BinanceVenue(perp, spot_venue)
