"""OKX v5 USDT-margined perpetual swaps and spot as a :class:`~venues.base.Venue`.

Built on :class:`~venues.okx.rest.OkxRest` (endpoints, signing, error mapping),
:mod:`venues.okx.parse` (payload → value types), :mod:`venues.okx.orders` (order boundary, contracts
↔ base units), :mod:`venues.okx.history` (paging) and :mod:`venues.okx.streams`. Source: OKX API v5
docs https://www.okx.com/docs-v5/en/ (the section of each endpoint is cited where it is used);
fixtures ``tests/fixtures/okx-v5/``.

Symbols: our instrument symbol **is OKX's ``instId``** (``okx:perp:BTC-USDT-SWAP``,
``okx:spot:BTC-USDT``). Quantities are base units everywhere in our model; SWAP sizes (which
OKX counts in contracts of ``ctVal × ctMult`` base units) are converted at this boundary, and an
order must be a whole multiple of ``lotSz × ctVal`` base units (else ``InvalidOrder``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import TypeVar

import httpx
import structlog

from venues.base import AccountEvent, Credentials
from venues.errors import (
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    ProtocolError,
    RateLimited,
    TransportError,
    VenueUnavailable,
)
from venues.model import (
    Balance,
    Bar,
    Fill,
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
from venues.okx import constants as c
from venues.okx import history
from venues.okx.fields import data_rows, digits_field, str_field
from venues.okx.orders import (
    decoded,
    encode_client_order_id,
    order_body,
    parse_fills,
    with_client_order_id,
)
from venues.okx.parse import (
    FUNDING_MATCH_TOLERANCE_MS,
    contract_multipliers,
    order_from_row,
    parse_balances,
    parse_cancel_order,
    parse_funding_payments,
    parse_funding_rates,
    parse_instruments,
    parse_order,
    parse_place_order,
    parse_positions,
    parse_tickers,
)
from venues.okx.parse_account import parse_spot_holdings
from venues.okx.rest import OkxRest, make_rest_client
from venues.okx.setup import prepare_account
from venues.okx.streams import OkxStreams, StreamSettings
from venues.ratelimit import RateLimiter, SleptClock
from venues.streams import merge

log = structlog.get_logger("zerobeta.venues.okx")

SleepFn = Callable[[float], Awaitable[None]]
_UNSETTLED = (TransportError, VenueUnavailable, RateLimited, OrderNotFound)


def _kind_inst_type(iid: InstrumentId) -> str:
    return c.INST_TYPE_SWAP if iid.kind is InstrumentKind.PERP else c.INST_TYPE_SPOT


class OkxVenue:
    """OKX v5 SWAP perps and SPOT, venue name ``okx`` (see the module docstring).

    Parameters
    ----------
    rest : OkxRest
        Endpoint layer (owns the transport; closed by :meth:`close`).
    streams : OkxStreams
        Websocket streams (public marks/funding, private orders).
    """

    def __init__(self, rest: OkxRest, streams: OkxStreams) -> None:
        self._rest = rest
        self._streams = streams
        self._instruments: dict[InstrumentId, Instrument] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"OkxVenue(rest={self._rest!r})"

    @property
    def name(self) -> str:
        """``okx``."""
        return c.VENUE

    async def open(self) -> None:
        """Sync the clock offset (``GET /api/v5/public/time``) and load the instruments,
        whose contract sizes every order and position conversion needs."""
        await self._rest.sync_time()
        await self.load_instruments()

    async def close(self) -> None:
        """Close the transport; idempotent."""
        if not self._closed:
            self._closed = True
            await self._rest.aclose()

    # --- instruments and market data ----------------------------------------------------

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """Linear SWAPs and SPOT pairs of ``GET /api/v5/public/instruments``; each swap's
        funding interval is ``nextFundingTime − fundingTime`` of ``GET
        /api/v5/public/funding-rate?instId=ANY``. Sizes in base units (``lotSz × ctVal``).
        Fixtures ``instruments_swap_btc_eth.json``, ``instruments_spot_btc_usdt.json``,
        ``funding_rate_btc_usdt_swap.json``."""
        funding = parse_funding_rates(await self._rest.get_funding_rate("ANY"))
        intervals = {r.instrument_id.symbol: r.interval_s for r in funding}
        instruments = parse_instruments(
            await self._rest.get_instruments(c.INST_TYPE_SWAP), intervals
        )
        instruments.update(parse_instruments(await self._rest.get_instruments(c.INST_TYPE_SPOT)))
        self._instruments = instruments
        return dict(instruments)

    async def _instrument_map(self) -> dict[InstrumentId, Instrument]:
        if self._instruments is None:
            await self.load_instruments()
        return self._instruments or {}

    async def _multipliers(self) -> dict[str, Decimal]:
        return contract_multipliers((await self._instrument_map()).values())

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Best bid/ask per instrument from ``GET /api/v5/market/ticker``. Fixture
        ``ticker.json``. Raises ``ProtocolError`` if the answer names another instrument."""
        quotes = []
        for iid in instrument_ids:
            rows = parse_tickers(await self._rest.get_ticker(iid.symbol))
            quotes.append(_only(rows, iid, "ticker"))
        return quotes

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """Upcoming rate per perp (``GET /api/v5/public/funding-rate``): settles at
        ``fundingTime``, interval ``nextFundingTime − fundingTime``. Fixture
        ``funding_rate_btc_usdt_swap.json``."""
        rates = []
        for iid in instrument_ids:
            rows = parse_funding_rates(await self._rest.get_funding_rate(iid.symbol))
            rates.append(_only(rows, iid, "funding-rate"))
        return rates

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Settled rates (``realizedRate``) with ``start_ms <= ts_funding_ms < end_ms``,
        oldest first, paged by 400 (see :func:`venues.okx.history.funding_history`)."""
        fallback_s = None
        instrument = (await self._instrument_map()).get(instrument_id)
        if instrument is not None:
            fallback_s = instrument.funding_interval_s
        return await history.funding_history(
            self._rest, instrument_id, start_ms, end_ms, fallback_s
        )

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Closed candles, oldest first (see :func:`venues.okx.history.bars`)."""
        return await history.bars(self._rest, instrument_id, start_ms, end_ms, interval_s)

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        """Mark prices of ``instrument_ids`` (public ``mark-price`` channel); see
        :meth:`venues.okx.streams.OkxStreams.marks`."""
        return self._streams.marks(instrument_ids)

    def stream_funding(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[FundingRate]:
        """Upcoming funding of ``instrument_ids`` (public ``funding-rate`` channel); see
        :meth:`venues.okx.streams.OkxStreams.funding`."""
        return self._streams.funding(instrument_ids)

    def stream_market(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        """:meth:`stream_marks` and :meth:`stream_funding` of the perps among
        ``instrument_ids`` interleaved as they arrive (:class:`~venues.base.MarketStreamSource`;
        OKX sends funding on its own ``funding-rate`` channel, so two connections)."""
        perps = [i for i in instrument_ids if i.kind is InstrumentKind.PERP]
        sources: list[AsyncIterator[MarkPrice | FundingRate]] = [self.stream_marks(instrument_ids)]
        if perps:
            sources.append(self.stream_funding(perps))
        return sources[0] if len(sources) == 1 else merge(sources, name="okx.ws.market")

    def stream_account(self) -> AsyncIterator[AccountEvent]:
        """Order updates with their latest fill (private ``orders`` channel after login);
        see :meth:`venues.okx.streams.OkxStreams.account`."""
        return self._streams.account(self._multipliers)

    # --- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order (``POST /api/v5/trade/order``) exactly once, then look it up.

        The body is built by :func:`venues.okx.orders.order_body` (contracts for a SWAP).
        OKX acknowledges acceptance only (``sCode 0``), so the order is then read back by
        client order id with its fills (:meth:`fetch_order`); if that lookup fails, the NEW
        acknowledgement is returned.

        Raises
        ------
        InvalidOrder
            Off the lot step, below the minimum, bad client order id (never sent), or an
            unknown instrument.
        OrderRejected
            The item's ``sCode`` (``51008`` → ``InsufficientMargin``, ``51016`` →
            ``DuplicateClientOrderId`` ...), carrying our client order id.
        TransportError, VenueUnavailable, AuthError
            Outcome unknown (a timeout, 5xx, ``50102`` clock skew): call :meth:`fetch_order`.
        """
        instrument = (await self._instrument_map()).get(request.instrument_id)
        if instrument is None:
            reason = f"unknown instrument {request.instrument_id}"
            raise InvalidOrder(
                f"okx: {reason}",
                venue=c.VENUE,
                client_order_id=request.client_order_id,
                reason=reason,
            )
        body = order_body(request, instrument)
        sent = _with_id(request, body["clOrdId"])
        try:
            ack = parse_place_order(await self._rest.post_order(body), sent)
        except OrderRejected as e:
            e.client_order_id = request.client_order_id
            raise
        ack = with_client_order_id(ack, request.client_order_id)
        try:
            return await self.fetch_order(request.instrument_id, request.client_order_id)
        except _UNSETTLED as e:
            log.warning(
                "order_lookup_failed",
                venue=c.VENUE,
                client_order_id=request.client_order_id,
                error_type=type(e).__name__,
            )
            return ack

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``GET /api/v5/trade/order`` by client order id, with its fills (``GET
        /api/v5/trade/fills`` by ``ordId``) when it has any. Base units. Unknown →
        ``OrderNotFound`` (``51603``). Fixture ``order_details.json``."""
        cl_ord_id = _lookup_id(client_order_id)
        instruments = await self._instrument_map()
        payload = await self._rest.get_order(instrument_id.symbol, cl_ord_id)
        ack = parse_order(payload, contract_multipliers(instruments.values()))
        instrument = instruments.get(instrument_id)
        if ack.filled_qty > 0 and instrument is not None:
            fills_payload = await self._rest.get_fills(
                _kind_inst_type(instrument_id), instrument_id.symbol, ack.venue_order_id
            )
            ack = _with_fills(ack, parse_fills(fills_payload, instrument))
        return with_client_order_id(ack, client_order_id)

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``POST /api/v5/trade/cancel-order`` by client order id, then the order as it now
        stands (:meth:`fetch_order`). An order already final (``51400``/``51503``) is
        returned as is; one the venue does not know raises ``OrderNotFound``."""
        cl_ord_id = _lookup_id(client_order_id)
        with contextlib.suppress(OrderNotFound):  # already final or unknown: the lookup tells
            parse_cancel_order(await self._rest.post_cancel_order(instrument_id.symbol, cl_ord_id))
        return await self.fetch_order(instrument_id, client_order_id)

    async def fetch_open_orders(self) -> list[OrderAck]:
        """``GET /api/v5/trade/orders-pending`` (all types, first 100), base units, without
        fills."""
        payload = await self._rest.get_orders_pending()
        multipliers = await self._multipliers()
        return [decoded(order_from_row(row, multipliers)) for row in data_rows(payload)]

    # --- account ------------------------------------------------------------------------

    async def fetch_positions(self) -> list[Position]:
        """Non-zero SWAP positions of ``GET /api/v5/account/positions`` (signed base units),
        then spot holdings (``GET /api/v5/account/balance``) of every currency with a loaded
        ``<CCY>-USDT`` spot instrument (see
        :func:`~venues.okx.parse_account.parse_spot_holdings`). Fixtures ``positions.json``,
        ``balance.json``."""
        payload = await self._rest.get_positions(c.INST_TYPE_SWAP)
        positions = [p for p in parse_positions(payload, await self._multipliers()) if p.qty]
        spot_ids = {
            i.base: i.id
            for i in (await self._instrument_map()).values()
            if i.id.kind is InstrumentKind.SPOT and i.quote == "USDT"
        }
        return positions + parse_spot_holdings(await self._rest.get_balance(), spot_ids)

    async def fetch_balances(self) -> list[Balance]:
        """``details[]`` of ``GET /api/v5/account/balance``. Fixture ``balance.json``."""
        return parse_balances(await self._rest.get_balance())

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """Funding fees (bills ``type=8``) booked since ``since_ms`` (epoch ms), oldest first.

        Each bill is paired with the settled rate of ``GET
        /api/v5/public/funding-rate-history`` at the same time (±60 s); position size and
        mark follow from ``amount = −rate × qty × mark`` (see
        :func:`~venues.okx.parse.parse_funding_payments`).

        Raises ``ProtocolError`` if a bill has no settled rate.
        """
        rows = await history.funding_bills(self._rest, since_ms, self._rest.server_now_ms())
        if not rows:
            return []
        rates: list[FundingRate] = []
        multipliers = await self._multipliers()
        for symbol in sorted({str_field(row, "instId") for row in rows}):
            times = [digits_field(r, "ts") for r in rows if r.get("instId") == symbol]
            iid = InstrumentId(c.VENUE, InstrumentKind.PERP, symbol)
            rates += await self.fetch_funding_history(
                iid,
                min(times) - FUNDING_MATCH_TOLERANCE_MS,
                max(times) + FUNDING_MATCH_TOLERANCE_MS + 1,
            )
        envelope = {"code": c.CODE_OK, "msg": "", "data": rows}
        payments = parse_funding_payments(envelope, multipliers, rates)
        return sorted(payments, key=lambda p: p.ts_funding_ms)

    async def prepare_account(
        self, instrument_ids: Sequence[InstrumentId], leverage: Decimal
    ) -> list[str]:
        """Account level, ``net_mode`` and cross leverage (see
        :func:`venues.okx.setup.prepare_account`)."""
        return await prepare_account(self._rest, instrument_ids, leverage)


_Row = TypeVar("_Row", Quote, FundingRate)


def _only(rows: list[_Row], iid: InstrumentId, where: str) -> _Row:
    for row in rows:
        if row.instrument_id == iid:
            return row
    raise ProtocolError(f"{where}: no row for {iid}", venue=c.VENUE)


def _lookup_id(client_order_id: str) -> str:
    """``clOrdId`` to look an order up by; an id that cannot be encoded was never placed."""
    try:
        return encode_client_order_id(client_order_id)
    except InvalidOrder as e:
        raise OrderNotFound(f"okx: no order {client_order_id!r}: {e.reason}", venue=c.VENUE) from e


def _with_id(request: OrderRequest, cl_ord_id: str) -> OrderRequest:
    return dataclasses.replace(request, client_order_id=cl_ord_id)


def _with_fills(ack: OrderAck, fills: tuple[Fill, ...]) -> OrderAck:
    return dataclasses.replace(ack, fills=fills)


def create_venue(
    credentials: Credentials | None = None,
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: SleepFn | None = None,
    private_ws_url: str | None = None,
    stream_settings: StreamSettings | None = None,
) -> OkxVenue:
    """Build an :class:`OkxVenue` (the agent's venue registry calls this).

    Parameters
    ----------
    credentials : Credentials | None
        ``api_key``, ``api_secret`` and ``api_passphrase``; ``None`` = market data only
        (private methods raise ``AuthError`` naming what is missing).
    rest_url, ws_url : str | None
        REST base and public websocket URL; ``None`` = production
        (``https://www.okx.com``, ``wss://ws.okx.com:8443/ws/v5/public``).
    transport : httpx.AsyncBaseTransport | None
        Replaces the network (respx / ``MockTransport`` in tests).
    sleep : Callable[[float], Awaitable[None]] | None
        Async sleep (s) for retries, rate limits and reconnect backoff. When injected (tests),
        the rate limiters run on a virtual clock advanced by it (``venues.ratelimit.SleptClock``).
    private_ws_url : str | None
        Private websocket URL; ``None`` = production.
    stream_settings : StreamSettings | None
        Watchdog / ping / backoff of the streams (defaults follow OKX's "WebSocket" section,
        https://www.okx.com/docs-v5/en/#overview-websocket).
    """
    clock: Callable[[], float]
    wait: SleepFn
    if sleep is None:
        clock, wait = time.monotonic, asyncio.sleep
    else:
        virtual = SleptClock(sleep)
        clock, wait = virtual, virtual.sleep
    capacity, window_s = c.GLOBAL_LIMIT
    client = make_rest_client(
        rest_url or c.REST_BASE_URL,
        transport=transport,
        limiter=RateLimiter(capacity, window_s, clock=clock, sleep=wait),
        sleep=wait,
    )
    creds = credentials
    rest = OkxRest(
        client,
        creds.api_key if creds else None,
        creds.api_secret if creds else None,
        creds.api_passphrase if creds else None,
        lambda: time.time_ns() // 1_000_000,
        clock=clock,
        sleep=wait,
    )
    streams = OkxStreams(
        rest,
        public_url=ws_url or c.WS_PUBLIC_URL,
        private_url=private_ws_url or c.WS_PRIVATE_URL,
        settings=stream_settings or StreamSettings(),
        sleep=wait,
    )
    return OkxVenue(rest, streams)
