"""Binance spot as a :class:`~venues.base.Venue` (REST), instruments ``binance:spot:<SYMBOL>``.

Built on :class:`~venues.binance.spot_rest.BinanceSpotRest` (endpoints, signing, error mapping) and
the parsers of :mod:`venues.binance.parse` / :mod:`venues.binance.parse_spot`. Source: Binance spot
API docs https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md; fixtures
``tests/fixtures/binance-spot/``.

How spot maps onto the model:

* **Quotes** come from ``GET /api/v3/ticker/bookTicker``, which carries no time: they are
  stamped with the local clock corrected by the server offset (epoch ms).
* **Orders** are sent with ``newOrderRespType=FULL``, so a MARKET (or marketable IOC) order's
  answer carries its fills. ``Fill.qty`` is the **traded** base quantity as Binance reports it;
  the commission is ``Fill.fee_usd`` (USD stables 1:1, the base asset × fill price, BNB × the
  BNBUSDT mid fetched for the purpose). On a BUY whose commission is charged in the base asset
  the wallet therefore grows by ``qty − commission``, not ``qty``: the difference is the fee,
  already counted once in ``fee_usd``. Positions (below) read the wallet, so they show the
  net amount; reconciling fills against positions must allow for it.
* **Positions**: spot has none; holdings other than USD assets (USDT/USDC/FDUSD/BUSD) count
  as long positions (``venues.base.Venue.fetch_positions``), valued at the book mid of
  ``<ASSET>USDT`` (else USDC, FDUSD), with ``entry_price = mark_price`` (no cost basis).
* **Funding**: none on spot; the funding methods return ``[]``.
* ``reduce_only``: spot cannot go short, so a reduce-only SELL is sent as a plain SELL (the
  venue refuses to sell more than the wallet holds); a reduce-only BUY is refused as
  ``InvalidOrder`` before sending.
* **Marks**: spot has no mark price; :meth:`BinanceSpotVenue.stream_marks` streams the last
  trade price (1 s kline close, :mod:`venues.binance.spot_streams`). The spot account stream
  (WebSocket API) is not implemented.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Mapping, Sequence
from contextlib import aclosing
from decimal import Decimal

from venues.base import AccountEvent
from venues.binance import constants as c
from venues.binance.auth import ParamValue
from venues.binance.fields import USD_ASSETS
from venues.binance.parse import parse_exchange_info, parse_klines, parse_spot_balances
from venues.binance.parse_spot import (
    commission_assets,
    holding_instrument,
    holdings_as_positions,
    mid_price,
    parse_book_tickers,
    parse_kline_mark,
    parse_spot_order,
    parse_spot_orders,
)
from venues.binance.spot_rest import BinanceSpotRest
from venues.binance.spot_streams import SPOT_MARK_KLINE_INTERVAL, spot_marks
from venues.binance.spot_user_stream import spot_account_events
from venues.binance.streams import WsSettings
from venues.errors import InvalidOrder, OrderNotFound, ProtocolError, VenueError
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
    OrderType,
    Position,
    Quote,
    Side,
    TimeInForce,
    base_asset,
)
from venues.ws import SleepFn

SPOT = InstrumentKind.SPOT
_SIDES = {Side.BUY: "BUY", Side.SELL: "SELL"}
_MS_PER_S = 1_000
SPOT_KLINE_INTERVALS_S = {**c.KLINE_INTERVALS_S, **c.SPOT_ONLY_KLINE_INTERVALS_S}
"""Kline interval seconds → Binance code on spot (adds ``1s``; rest-api.md "Kline/Candlestick
data")."""
RESYNC_WINDOW_S = 60
"""Seconds of 1 s klines fetched to resync a spot mark after a reconnect (one page)."""
FEE_PRICE_QUOTE = "USDT"
"""Quote of the book used to value a commission asset that is neither USD nor the base."""


def _decimal_text(value: Decimal) -> str:
    """Plain notation (``0.001``, never ``1E-3``) for order params."""
    return format(value.normalize(), "f")


def spot_order_params(request: OrderRequest) -> dict[str, ParamValue]:
    """``OrderRequest`` → ``POST /api/v3/order`` params (Binance spot "New order (TRADE)",
    https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md).

    MARKET, or LIMIT with ``timeInForce`` (IOC/GTC) and ``price``; a post-only order
    (``TimeInForce.POST_ONLY``) is ``type=LIMIT_MAKER`` with ``price`` and no
    ``timeInForce`` (refused with ``-2010`` "Order would immediately match and take." when it
    would take); ``quantity`` base units; ``newClientOrderId`` = our id;
    ``newOrderRespType=FULL`` (fills with commissions).

    Raises
    ------
    InvalidOrder
        If the client order id breaks the spot charset ``^[a-zA-Z0-9-_]{1,36}$`` (no ``.``,
        ``:`` or ``/``, unlike fapi), the quantity is not positive, a LIMIT order has no
        positive price, or a BUY is reduce-only (checked here, never sent).
    """
    cid = request.client_order_id

    def invalid(reason: str) -> InvalidOrder:
        return InvalidOrder(
            f"binance spot: {reason}", venue=c.VENUE, client_order_id=cid, reason=reason
        )

    if not c.SPOT_CLIENT_ORDER_ID_RE.match(cid):
        raise invalid("client order id does not match ^[a-zA-Z0-9-_]{1,36}$")
    if request.qty <= 0:
        raise invalid(f"quantity must be positive, got {request.qty}")
    if request.reduce_only and request.side is Side.BUY:
        raise invalid("a spot BUY cannot be reduce-only (spot holds no short to reduce)")
    params: dict[str, ParamValue] = {
        "symbol": request.instrument_id.symbol,
        "side": _SIDES[request.side],
        "type": "MARKET" if request.order_type is OrderType.MARKET else "LIMIT",
        "quantity": _decimal_text(request.qty),
    }
    if request.order_type is OrderType.LIMIT:
        if request.limit_price is None or request.limit_price <= 0:
            raise invalid("LIMIT order needs a positive limit_price")
        if request.time_in_force is TimeInForce.POST_ONLY:
            params["type"] = "LIMIT_MAKER"
        else:
            params["timeInForce"] = request.time_in_force.value.upper()
        params["price"] = _decimal_text(request.limit_price)
    params["newClientOrderId"] = cid
    params["newOrderRespType"] = "FULL"
    return params


def _require_spot(instrument_id: InstrumentId) -> str:
    if instrument_id.kind is not SPOT or instrument_id.venue != c.VENUE:
        raise VenueError(f"binance spot: {instrument_id!r} is not a spot instrument", venue=c.VENUE)
    return instrument_id.symbol


class BinanceSpotVenue:
    """Binance spot, venue name ``binance`` (see the module docstring for the mapping).

    Parameters
    ----------
    rest : BinanceSpotRest
        Endpoint layer (owns the transport; closed by :meth:`close`).
    ws : WsSettings | None
        Websocket base URL (default ``wss://stream.binance.com:9443``) and timeouts.
    sleep : Callable[[float], Awaitable[None]]
        Reconnect backoff sleep, seconds (tests inject a fake).
    """

    def __init__(
        self,
        rest: BinanceSpotRest,
        *,
        ws: WsSettings | None = None,
        sleep: SleepFn = asyncio.sleep,
        ws_api_url: str = c.SPOT_WS_API_URL,
    ) -> None:
        self._rest = rest
        self._ws_api_url = ws_api_url
        self._ws = ws or WsSettings(base_url=c.SPOT_WS_URL)
        self._sleep = sleep
        self._instruments: dict[InstrumentId, Instrument] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"BinanceSpotVenue(rest={self._rest!r})"

    @property
    def name(self) -> str:
        """``binance``."""
        return c.VENUE

    async def open(self) -> None:
        """Sync the clock offset with ``GET /api/v3/time``."""
        await self._rest.sync_time()

    async def close(self) -> None:
        """Close the transport; idempotent."""
        if not self._closed:
            self._closed = True
            await self._rest.aclose()

    # --- market data --------------------------------------------------------------------

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """``TRADING`` symbols of ``GET /api/v3/exchangeInfo`` (``funding_interval_s`` None).
        Fixture ``exchange_info_btc_eth.json``."""
        info = await self._rest.get_exchange_info()
        self._instruments = {i.id: i for i in parse_exchange_info(info, SPOT)}
        return self._instruments

    async def _books(self, symbols: Sequence[str]) -> dict[str, tuple[float, float]]:
        books = parse_book_tickers(await self._rest.get_book_ticker(symbols))
        missing = [s for s in symbols if s not in books]
        if missing:
            raise ProtocolError(f"bookTicker: no row for {missing}", venue=c.VENUE)
        return books

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Best bid/ask per instrument (``GET /api/v3/ticker/bookTicker``), stamped with the
        server-corrected local clock, epoch ms. Raises ``ProtocolError`` if a row is
        missing."""
        if not instrument_ids:
            return []
        symbols = [_require_spot(i) for i in instrument_ids]
        books = await self._books(list(dict.fromkeys(symbols)))
        now_ms = self._rest.server_now_ms()
        return [Quote(i, *books[i.symbol], now_ms) for i in instrument_ids]

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """Spot has no funding: always ``[]``."""
        return []

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Spot has no funding: always ``[]``."""
        return []

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Klines with ``start_ms <= ts_open_ms < end_ms`` (epoch ms), oldest first, paged by
        1000 (``GET /api/v3/klines``). Raises ``VenueError`` for an interval spot lacks."""
        symbol = _require_spot(instrument_id)
        code = SPOT_KLINE_INTERVALS_S.get(interval_s)
        if code is None:
            raise VenueError(f"binance spot: no kline interval of {interval_s} s", venue=c.VENUE)
        bars: list[Bar] = []
        cursor_ms = start_ms
        limit = c.SPOT_KLINES_MAX_LIMIT
        while cursor_ms < end_ms:
            payload = await self._rest.get_klines(symbol, code, cursor_ms, end_ms - 1, limit)
            page = [b for b in parse_klines(payload, instrument_id) if b.ts_open_ms < end_ms]
            bars.extend(b for b in page if b.ts_open_ms >= cursor_ms)
            if len(page) < limit:
                break
            cursor_ms = page[-1].ts_open_ms + interval_s * _MS_PER_S
        return bars

    async def stream_marks(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncGenerator[MarkPrice, None]:
        """Spot marks: the last trade price (close of the running ``<symbol>@kline_1s``)
        stamped with the event time, reconnecting and resyncing over ``GET /api/v3/klines``
        on its own; per instrument strictly newer ``ts_event_ms`` only (see
        :mod:`venues.binance.spot_streams`).

        Raises ``ProtocolError`` (malformed frame, refused subscription) or a fatal
        websocket error."""
        for iid in instrument_ids:
            _require_spot(iid)
        ids = list(instrument_ids)

        async def resync() -> list[MarkPrice]:
            return [await self._last_close(i) for i in ids]

        marks = spot_marks(ids, settings=self._ws, resync=resync, sleep=self._sleep)
        async with aclosing(marks) as updates:
            async for mark in updates:
                yield mark

    async def _last_close(self, instrument_id: InstrumentId) -> MarkPrice:
        """Close of the newest 1 s kline of the last minute (ascending rows: the last one)."""
        now_ms = self._rest.server_now_ms()
        payload = await self._rest.get_klines(
            instrument_id.symbol,
            SPOT_MARK_KLINE_INTERVAL,
            now_ms - RESYNC_WINDOW_S * _MS_PER_S,
            now_ms,
            RESYNC_WINDOW_S,
        )
        return parse_kline_mark(payload, instrument_id, now_ms)

    def stream_account(self) -> AsyncIterator[AccountEvent]:
        """Fills and order updates over the WebSocket API user data subscription
        (:mod:`venues.binance.spot_user_stream`); open orders resynced over REST after a
        reconnect. Raises ``AuthError`` without credentials or when the subscription is
        refused."""
        return spot_account_events(
            self._rest,
            url=self._ws_api_url,
            settings=self._ws,
            open_orders=self.fetch_open_orders,
            sleep=self._sleep,
            fee_prices=self.fee_asset_prices_usd,
        )

    # --- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order (``POST /api/v3/order``, ``newOrderRespType=FULL``) exactly once.

        Returns the ack with its fills (see the module docstring for qty and fee).

        Raises
        ------
        InvalidOrder
            Before sending (see :func:`spot_order_params`) or from the venue (``-1013``
            filter failure, ``-1100``).
        DuplicateClientOrderId, InsufficientMargin, OrderRejected
            Spot ``-2010`` by message.
        TransportError, VenueUnavailable, VenueError
            Outcome unknown (timeout, 5xx, ``-1007``, clock skew): call :meth:`fetch_order`.
        """
        _require_spot(request.instrument_id)
        payload = await self._rest.post_order(spot_order_params(request))
        prices = await self._fee_prices(payload, request.instrument_id.symbol)
        ack = parse_spot_order(payload, prices)
        if ack.client_order_id != request.client_order_id:
            raise ProtocolError(
                f"order: answer is for {ack.client_order_id!r}, not the order sent",
                venue=c.VENUE,
            )
        return ack

    async def _fee_prices(self, payload: object, symbol: str) -> dict[str, Decimal]:
        """USD price of commission assets that are neither USD nor the base (BNB discount),
        from the ``<ASSET>USDT`` book mid; ``{}`` when none is needed."""
        base = base_asset(symbol)
        needed = {a for a in commission_assets(payload) if a not in USD_ASSETS | {base}}
        return await self.fee_asset_prices_usd(needed)

    async def fee_asset_prices_usd(self, assets: Collection[str]) -> dict[str, Decimal]:
        """USD price of each commission asset (BNB for the fee discount): the mid of its
        ``<ASSET>USDT`` book (``GET /api/v3/ticker/bookTicker``); ``{}`` for no assets.
        Raises ``ProtocolError`` if a book is missing, ``VenueError`` from the REST call."""
        needed = sorted(assets)
        if not needed:
            return {}
        books = await self._books([f"{a}{FEE_PRICE_QUOTE}" for a in needed])
        return {a: mid_price(*books[f"{a}{FEE_PRICE_QUOTE}"]) for a in needed}

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``GET /api/v3/order`` by client order id (no fills: the query has none); unknown →
        ``OrderNotFound``."""
        payload = await self._rest.get_order(_require_spot(instrument_id), client_order_id)
        return parse_spot_order(payload)

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``DELETE /api/v3/order``; an order already final (``-2011``) is looked up and
        returned as is (``OrderNotFound`` if the venue does not know it at all)."""
        symbol = _require_spot(instrument_id)
        try:
            payload = await self._rest.delete_order(symbol, client_order_id)
        except OrderNotFound:
            return await self.fetch_order(instrument_id, client_order_id)
        return parse_spot_order(payload)

    async def fetch_open_orders(self) -> list[OrderAck]:
        """``GET /api/v3/openOrders`` for all symbols (weight 80)."""
        return parse_spot_orders(await self._rest.get_open_orders())

    # --- account ------------------------------------------------------------------------

    async def fetch_balances(self) -> list[Balance]:
        """Spot wallet (``GET /api/v3/account``): ``total`` = free + locked, ``available`` =
        free, asset units."""
        return parse_spot_balances(await self._rest.get_account())

    async def fetch_positions(self) -> list[Position]:
        """Non-USD holdings as long positions valued at the book mid (module docstring).

        Loads instruments on first use (``exchangeInfo``), then one ``bookTicker`` request
        for the held assets."""
        balances = await self.fetch_balances()
        instruments = self._instruments or await self.load_instruments()
        held = [b for b in balances if b.total != 0]
        symbols = sorted(
            {inst.id.symbol for b in held if (inst := holding_instrument(b.asset, instruments))}
        )
        if not symbols:
            return []
        books = await self._books(symbols)
        mids = {s: (bid + ask) / 2.0 for s, (bid, ask) in books.items()}
        return holdings_as_positions(held, instruments, mids)

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """Spot has no funding: always ``[]``."""
        return []
