"""Bybit v5 (unified account: USDT linear perps + spot) as a :class:`~venues.base.Venue`.

Built on :class:`~venues.bybit.rest.BybitRest` (endpoints, signing, error mapping), the parse
modules (payload → value types; units and times converted only there) and
:class:`~venues.bybit.streams.BybitStreams` (websockets). Source: Bybit v5 API docs
https://bybit-exchange.github.io/docs/v5 (market, order, position and account pages); fixtures
``tests/fixtures/bybit-v5/``.

Orders carry our client order id in ``orderLinkId`` (``[0-9A-Za-z_-]{1,36}``). Bybit answers a
create/cancel with an acknowledgement only, so :meth:`BybitVenue.place_order` and
:meth:`BybitVenue.cancel_order` look the order up (``GET /v5/order/realtime``, then
``/v5/order/history``) and, for a placed order with fills, its executions
(``GET /v5/execution/list``); the answer is the state right after the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TypeVar

import httpx

from venues.base import AccountEvent, Credentials
from venues.bybit import constants as c
from venues.bybit import history
from venues.bybit.account_setup import prepare_account
from venues.bybit.orders import category_of, order_body
from venues.bybit.parse import (
    next_page_cursor,
    parse_instruments,
    parse_linear_tickers,
    parse_quotes,
)
from venues.bybit.parse_account import (
    parse_create_order,
    parse_funding_payments,
    parse_orders,
    parse_positions,
    parse_wallet_balance,
)
from venues.bybit.parse_exec import parse_executions, parse_spot_marks
from venues.bybit.rest import BybitRest, make_rest_client
from venues.bybit.streams import BybitStreams, StreamSettings
from venues.errors import OrderNotFound, ProtocolError, VenueError, is_retryable
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

SleepFn = Callable[[float], Awaitable[None]]
_T = TypeVar("_T")
FUNDING_LOG_HISTORY_MS = 730 * 24 * 3_600_000
"""How far back the transaction log goes (2 years, Bybit v5 "Get Transaction Log"
https://bybit-exchange.github.io/docs/v5/account/transaction-log), ms."""


class BybitVenue:
    """Bybit v5 unified account, venue name ``bybit`` (USDT linear perps and spot).

    Parameters
    ----------
    rest : BybitRest
        Endpoint layer (owns the transport; closed by :meth:`close`).
    streams : BybitStreams
        Websocket endpoints and settings.
    """

    def __init__(self, rest: BybitRest, streams: BybitStreams) -> None:
        self._rest = rest
        self._streams = streams
        self._intervals_s: dict[str, int] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"BybitVenue(rest={self._rest!r})"

    @property
    def name(self) -> str:
        """``bybit``."""
        return c.VENUE

    async def open(self) -> None:
        """Sync the clock offset with ``GET /v5/market/time``."""
        await self._rest.sync_time()

    async def close(self) -> None:
        """Close the transport; idempotent."""
        if not self._closed:
            self._closed = True
            await self._rest.aclose()

    # --- market data --------------------------------------------------------------------

    async def _instruments(self, category: str) -> list[Instrument]:
        out: list[Instrument] = []
        cursor: str | None = None
        while True:
            payload = await self._rest.get_instruments_info(category, cursor)
            page, cursor = parse_instruments(payload, category)
            out.extend(page)
            if cursor is None:
                return out

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """Trading linear perpetuals and spot pairs of ``GET /v5/market/instruments-info``,
        every page (``nextPageCursor``) of each category; perps carry ``fundingInterval``
        minutes as seconds. Fixtures ``instruments_linear_btcusdt.json``,
        ``instruments_spot_btcusdt.json``."""
        linear = await self._instruments(c.CATEGORY_LINEAR)
        spot = await self._instruments(c.CATEGORY_SPOT)
        self._intervals_s = {
            i.id.symbol: i.funding_interval_s for i in linear if i.funding_interval_s is not None
        }
        return {i.id: i for i in (*linear, *spot)}

    async def _funding_intervals_s(self) -> dict[str, int]:
        if self._intervals_s is None:
            linear = await self._instruments(c.CATEGORY_LINEAR)
            self._intervals_s = {
                i.id.symbol: i.funding_interval_s
                for i in linear
                if i.funding_interval_s is not None
            }
        return self._intervals_s

    async def _tickers(self, category: str, ids: Sequence[InstrumentId]) -> object:
        return await self._rest.get_tickers(category, ids[0].symbol if len(ids) == 1 else None)

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Best bid/ask (``bid1Price``/``ask1Price``) per instrument from
        ``GET /v5/market/tickers``, in the order asked. Raises ``ProtocolError`` if an
        instrument has no row. Fixture ``tickers_spot_btcusdt.json``."""
        by_id: dict[InstrumentId, Quote] = {}
        for category in (c.CATEGORY_LINEAR, c.CATEGORY_SPOT):
            ids = [i for i in instrument_ids if category_of(i) == category]
            if ids:
                payload = await self._tickers(category, ids)
                by_id.update((q.instrument_id, q) for q in parse_quotes(payload, category))
        return [_pick(by_id, i, "tickers") for i in instrument_ids]

    async def _linear_tickers(
        self, ids: Sequence[InstrumentId]
    ) -> dict[InstrumentId, tuple[FundingRate, MarkPrice]]:
        payload = await self._tickers(c.CATEGORY_LINEAR, ids)
        return {f.instrument_id: (f, m) for f, m in parse_linear_tickers(payload)}

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """Predicted ``fundingRate`` settling at ``nextFundingTime`` per perp (spot ids are
        skipped), interval ``fundingIntervalHour``, from ``GET /v5/market/tickers``."""
        perps = [i for i in instrument_ids if i.kind is InstrumentKind.PERP]
        if not perps:
            return []
        by_id = await self._linear_tickers(perps)
        return [_pick(by_id, i, "tickers")[0] for i in perps]

    async def fetch_marks(self, instrument_ids: Sequence[InstrumentId]) -> list[MarkPrice]:
        """Mark price per instrument over REST (the stream's resync): linear ``markPrice``;
        spot has none, its ``lastPrice`` stands in (see :mod:`venues.bybit.streams`)."""
        by_id: dict[InstrumentId, MarkPrice] = {}
        perps = [i for i in instrument_ids if i.kind is InstrumentKind.PERP]
        if perps:
            by_id.update((i, m) for i, (_, m) in (await self._linear_tickers(perps)).items())
        spots = [i for i in instrument_ids if i.kind is InstrumentKind.SPOT]
        if spots:
            payload = await self._tickers(c.CATEGORY_SPOT, spots)
            by_id.update((m.instrument_id, m) for m in parse_spot_marks(payload))
        return [_pick(by_id, i, "tickers") for i in instrument_ids]

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Settled rates with ``start_ms <= ts_funding_ms < end_ms`` (epoch ms), oldest first,
        from ``GET /v5/market/funding/history`` paged backwards by ``endTime`` (200 a page).
        The interval is the instrument's current ``fundingInterval`` (Bybit's history does
        not carry it). Fixture ``funding_history.json``."""
        interval_s = (await self._funding_intervals_s()).get(instrument_id.symbol)
        if interval_s is None:
            raise ProtocolError(f"bybit: no linear instrument {instrument_id}", venue=c.VENUE)
        return await history.funding_history(
            self._rest, instrument_id, start_ms, end_ms, interval_s
        )

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Klines with ``start_ms <= ts_open_ms < end_ms`` (epoch ms), oldest first, from
        ``GET /v5/market/kline`` paged backwards by ``end`` (1000 a page: Bybit returns the
        newest first). Raises ``ValueError`` for an interval Bybit does not offer."""
        return await history.bars(self._rest, instrument_id, start_ms, end_ms, interval_s)

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        """Mark prices from the public ``tickers.<symbol>`` topics (linear and spot
        endpoints), see :meth:`venues.bybit.streams.BybitStreams.marks`."""
        return self._streams.marks(instrument_ids, self.fetch_marks)

    def stream_market(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        """:meth:`stream_marks` with the linear tickers' predicted funding interleaved
        (:class:`~venues.base.MarketStreamSource`), see
        :meth:`venues.bybit.streams.BybitStreams.market`."""
        return self._streams.market(instrument_ids, self.fetch_marks)

    def stream_account(self) -> AsyncIterator[AccountEvent]:
        """Order updates and fills from the private stream, see
        :meth:`venues.bybit.streams.BybitStreams.account`."""
        return self._streams.account(self._rest, self.fetch_open_orders)

    # --- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order (``POST /v5/order/create``) exactly once, then look it up.

        Returns the order as ``GET /v5/order/realtime`` shows it right after (with its fills
        from ``/v5/execution/list`` when any), or the NEW acknowledgement if that lookup does
        not find it yet or fails with a retryable error (the order was placed either way).

        Raises
        ------
        InvalidOrder
            Before sending (see :func:`order_body`) or from the venue (110094, 170140 ...).
        OrderRejected
            ``InsufficientMargin`` (110007 ...), ``DuplicateClientOrderId`` (110072/170141).
        TransportError, VenueUnavailable, VenueError
            Outcome unknown (timeout, 5xx, clock skew 10002): call :meth:`fetch_order`.
        """
        category = category_of(request.instrument_id)
        payload = await self._rest.post_order_create(category, order_body(request))
        ack = parse_create_order(payload, request)
        try:
            order = await self.fetch_order(request.instrument_id, request.client_order_id)
        except VenueError as e:
            if isinstance(e, OrderNotFound) or is_retryable(e):
                return ack  # placed for sure; its state comes with the next lookup / stream
            raise
        if order.filled_qty <= 0:
            return order
        fills = await self._rest.get_execution_list(
            category, request.instrument_id.symbol, request.client_order_id
        )
        ref = request.reference_price
        own = [replace(f, reference_price=ref) for f in parse_executions(fills, category)]
        return replace(order, fills=tuple(own))

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``GET /v5/order/realtime`` by ``orderLinkId`` (open and recently closed), then
        ``/v5/order/history``. Raises ``OrderNotFound`` when neither knows it."""
        category, symbol = category_of(instrument_id), instrument_id.symbol
        payload = await self._rest.get_order_realtime(
            category, symbol=symbol, order_link_id=client_order_id
        )
        orders = parse_orders(payload, category)
        if not orders:
            history = await self._rest.get_order_history(category, symbol, client_order_id)
            orders = parse_orders(history, category)
        for order in orders:
            if order.client_order_id == client_order_id:
                return order
        raise OrderNotFound(f"bybit: no order {client_order_id!r} on {symbol}", venue=c.VENUE)

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``POST /v5/order/cancel`` by ``orderLinkId``, then the order as looked up. An order
        already final (110001/170213) is looked up and returned as is; ``OrderNotFound`` if
        the venue does not know it at all."""
        with contextlib.suppress(OrderNotFound):  # already gone: the lookup tells how it ended
            await self._rest.post_order_cancel(
                category_of(instrument_id), instrument_id.symbol, client_order_id
            )
        return await self.fetch_order(instrument_id, client_order_id)

    async def fetch_open_orders(self) -> list[OrderAck]:
        """Open orders of ``GET /v5/order/realtime``: linear (``settleCoin=USDT``) and spot,
        every page."""
        out: list[OrderAck] = []
        for category, settle in ((c.CATEGORY_LINEAR, "USDT"), (c.CATEGORY_SPOT, None)):
            cursor: str | None = None
            while True:
                payload = await self._rest.get_order_realtime(
                    category, settle_coin=settle, cursor=cursor
                )
                out.extend(o for o in parse_orders(payload, category) if not o.status.is_final)
                cursor = next_page_cursor(payload)
                if cursor is None:
                    break
        return out

    # --- account ------------------------------------------------------------------------

    async def fetch_positions(self) -> list[Position]:
        """Non-zero USDT-perp positions (``GET /v5/position/list``), signed base units."""
        out: list[Position] = []
        cursor: str | None = None
        while True:
            payload = await self._rest.get_position_list(cursor)
            out.extend(parse_positions(payload))
            cursor = next_page_cursor(payload)
            if cursor is None:
                return out

    async def fetch_balances(self) -> list[Balance]:
        """Per-coin balances of the unified account (``GET /v5/account/wallet-balance``)."""
        return parse_wallet_balance(await self._rest.get_wallet_balance())

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """Funding settled since ``since_ms`` (epoch ms, clamped to the log's 2 years), oldest
        first: ``SETTLEMENT`` rows of ``GET /v5/account/transaction-log`` in 7-day windows,
        every page; rate ``feeRate``, interval from the instruments."""
        intervals = await self._funding_intervals_s()
        now_ms = self._rest.server_now_ms()
        window_ms = c.TRANSACTION_LOG_MAX_WINDOW_MS
        payments: list[FundingPayment] = []
        start_ms = max(since_ms, now_ms - FUNDING_LOG_HISTORY_MS)
        while start_ms <= now_ms:
            end_ms = min(start_ms + window_ms - 1, now_ms)
            cursor: str | None = None
            while True:
                payload = await self._rest.get_transaction_log(start_ms, end_ms, cursor)
                payments.extend(parse_funding_payments(payload, intervals))
                cursor = next_page_cursor(payload)
                if cursor is None:
                    break
            start_ms = end_ms + 1
        return sorted(payments, key=lambda p: p.ts_funding_ms)

    async def prepare_account(
        self, instrument_ids: Sequence[InstrumentId], leverage: Decimal
    ) -> list[str]:
        """One-way mode, cross margin and ``leverage`` for the perps; see
        :func:`venues.bybit.account_setup.prepare_account`."""
        return await prepare_account(self._rest, instrument_ids, leverage)


def _pick(by_id: Mapping[InstrumentId, _T], iid: InstrumentId, where: str) -> _T:
    if iid not in by_id:
        raise ProtocolError(f"bybit {where}: no row for {iid}", venue=c.VENUE)
    return by_id[iid]


def create_venue(
    credentials: Credentials | None = None,
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: SleepFn | None = None,
) -> BybitVenue:
    """Build the Bybit venue (the agent's registry calls this).

    Parameters
    ----------
    credentials : Credentials | None
        API key and secret; ``None`` = public market data only (private calls raise
        ``AuthError``).
    rest_url : str | None
        REST base URL; ``None`` = ``https://api.bybit.com``.
    ws_url : str | None
        Websocket base (``wss://host`` or ``ws://127.0.0.1:port``) under which
        ``/v5/public/linear``, ``/v5/public/spot`` and ``/v5/private`` live; ``None`` =
        ``wss://stream.bybit.com``.
    transport : httpx.AsyncBaseTransport | None
        Replaces the network (respx in tests).
    sleep : Callable[[float], Awaitable[None]] | None
        Async sleep in seconds for retries, rate limits and reconnect backoff. ``None`` =
        :func:`asyncio.sleep`; an injected sleep is taken to be a fake: the rate limiters'
        clock advances by what it is asked to wait.
    """
    if sleep is None:
        sleep_fn: SleepFn = asyncio.sleep
        clock: Callable[[], float] = time.monotonic
    else:
        fake = SleptClock(sleep)
        sleep_fn, clock = fake.sleep, fake

    def now_ms() -> int:
        return time.time_ns() // 1_000_000

    def limiter(capacity: float, window_s: float) -> RateLimiter:
        return RateLimiter(capacity, window_s, clock=clock, sleep=sleep_fn)

    built: list[BybitRest] = []  # the classifier reads the server-corrected clock of `rest`

    def server_now_ms() -> int:
        return built[0].server_now_ms() if built else now_ms()

    client = make_rest_client(
        rest_url or c.REST_BASE_URL,
        now_ms=server_now_ms,
        transport=transport,
        limiter=limiter(c.IP_LIMIT_REQUESTS, c.IP_LIMIT_WINDOW_S),
        sleep=sleep_fn,
    )
    order_limiters = {
        c.CATEGORY_LINEAR: limiter(c.ORDER_CREATE_PER_S_LINEAR, 1.0),
        c.CATEGORY_SPOT: limiter(c.ORDER_CREATE_PER_S_SPOT, 1.0),
    }
    key = credentials.api_key if credentials is not None else None
    secret = credentials.api_secret if credentials is not None else None
    rest = BybitRest(client, key, secret, now_ms, order_limiters=order_limiters)
    built.append(rest)
    streams = BybitStreams(StreamSettings.for_base(ws_url), sleep=sleep_fn)
    return BybitVenue(rest, streams)
