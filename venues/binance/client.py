"""Binance USDⓈ-M perps as a :class:`~venues.base.Venue`, :class:`~venues.base.MarketDataSource`
and :class:`~venues.base.AccountSetup`; :func:`create_venue` builds one.

Built on :class:`~venues.binance.rest.BinanceUsdmRest` (endpoints, signing, error mapping),
:mod:`venues.binance.parse` (payload → value types; units and times converted only there),
:mod:`venues.binance.streams` (mark price + funding websocket), :mod:`venues.binance.user_stream`
(listenKey user data stream) and :mod:`venues.binance.account_setup`. Source: Binance USDⓈ-M futures
API docs https://developers.binance.com/docs/derivatives/usds-margined-futures (the page of each
endpoint is cited where it is used); fixtures ``tests/fixtures/binance-usdm/``.

Quotes: Binance has no bid/ask in ``premiumIndex`` and no ``bookTicker`` fixture was recorded,
so :meth:`BinanceUsdmVenue.fetch_quotes` returns the **mark price as bid = ask** (stamped with
the premiumIndex ``time``). Replace with ``GET /fapi/v1/ticker/bookTicker`` once recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import aclosing, suppress
from decimal import Decimal
from typing import Any

import httpx

from venues.base import AccountEvent, Credentials
from venues.binance import constants as c
from venues.binance.account_setup import prepare_usdm_account
from venues.binance.fields import USD_ASSETS
from venues.binance.funding import (
    FUNDING_MATCH_TOLERANCE_MS,
    funding_rate_rows,
    income_time_ms,
    nearest_rate,
)
from venues.binance.orders import order_params
from venues.binance.parse import (
    funding_fee_rows,
    parse_exchange_info,
    parse_funding_fee,
    parse_funding_history,
    parse_funding_info,
    parse_futures_balances,
    parse_klines,
    parse_order,
    parse_position_risk,
    parse_premium_index_list,
)
from venues.binance.parse_trades import attach_user_trades
from venues.binance.rest import BinanceUsdmRest, make_rest_client
from venues.binance.streams import FundingChanges, MarkUpdate, WsSettings, mark_updates
from venues.binance.user_stream import UserDataStream
from venues.errors import OrderNotFound, ProtocolError, VenueError
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
    Side,
)
from venues.ratelimit import RateLimiter
from venues.ws import SleepFn

PERP = InstrumentKind.PERP
_SIDES = {Side.BUY: "BUY", Side.SELL: "SELL"}
_MS_PER_S = 1_000


def _advance(cursor_ms: int, next_ms: int, where: str) -> int:
    """Next page start; a full page that does not move forward would loop forever."""
    if next_ms <= cursor_ms:
        raise ProtocolError(
            f"{where}: full page did not advance past {cursor_ms} ms", venue=c.VENUE
        )
    return next_ms


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class BinanceUsdmVenue:
    """Binance USDⓈ-M perpetual futures, venue name ``binance``.

    Parameters
    ----------
    rest : BinanceUsdmRest
        Endpoint layer (owns the transport; closed by :meth:`close`).
    ws : WsSettings | None
        Websocket URL and timeouts (default: production, documented limits).
    sleep : Callable[[float], Awaitable[None]]
        Reconnect backoff sleep, seconds (tests inject a fake).
    now_ms : Callable[[], int]
        Wall clock, epoch ms.
    """

    def __init__(
        self,
        rest: BinanceUsdmRest,
        *,
        ws: WsSettings | None = None,
        sleep: SleepFn = asyncio.sleep,
        now_ms: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        self._rest = rest
        self._ws = ws or WsSettings()
        self._sleep = sleep
        self._now_ms = now_ms
        self._intervals_s: dict[str, int] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"BinanceUsdmVenue(rest={self._rest!r})"

    @property
    def name(self) -> str:
        """``binance``."""
        return c.VENUE

    async def open(self) -> None:
        """Sync the clock offset with ``GET /fapi/v1/time``."""
        await self._rest.sync_time()

    async def close(self) -> None:
        """Close the transport; idempotent."""
        if not self._closed:
            self._closed = True
            await self._rest.aclose()

    # --- market data --------------------------------------------------------------------

    async def _funding_intervals_s(self) -> dict[str, int]:
        if self._intervals_s is None:
            self._intervals_s = parse_funding_info(await self._rest.get_funding_info())
        return self._intervals_s

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """TRADING perpetuals of ``exchangeInfo`` with intervals from ``fundingInfo`` (8 h
        default). Fixtures ``exchange_info_btc_eth.json``, ``funding_info.json``."""
        self._intervals_s = None
        intervals = await self._funding_intervals_s()
        info = await self._rest.get_exchange_info()
        return {i.id: i for i in parse_exchange_info(info, PERP, intervals)}

    async def _premium(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> dict[InstrumentId, tuple[FundingRate, MarkPrice]]:
        intervals = await self._funding_intervals_s()
        symbol = instrument_ids[0].symbol if len(instrument_ids) == 1 else None
        pairs = parse_premium_index_list(await self._rest.get_premium_index(symbol), intervals)
        by_id = {funding.instrument_id: (funding, mark) for funding, mark in pairs}
        missing = [str(i) for i in instrument_ids if i not in by_id]
        if missing:
            raise ProtocolError(f"premiumIndex: no row for {missing}", venue=c.VENUE)
        return by_id

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Mark price as bid = ask per perp (``GET /fapi/v1/premiumIndex``; see module doc).

        Raises ``ProtocolError`` if an instrument has no row."""
        if not instrument_ids:
            return []
        by_id = await self._premium(instrument_ids)
        quotes = []
        for iid in instrument_ids:
            mark = by_id[iid][1]
            quotes.append(Quote(iid, mark.mark_price, mark.mark_price, mark.ts_event_ms))
        return quotes

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """Predicted rate settling at ``nextFundingTime`` per perp (``premiumIndex``)."""
        if not instrument_ids:
            return []
        by_id = await self._premium(instrument_ids)
        return [by_id[iid][0] for iid in instrument_ids]

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Klines with ``start_ms <= ts_open_ms < end_ms`` (epoch ms), oldest first, paged by
        1500. Raises ``VenueError`` for an interval Binance does not offer."""
        code = c.KLINE_INTERVALS_S.get(interval_s)
        if code is None:
            raise VenueError(f"binance: no kline interval of {interval_s} s", venue=c.VENUE)
        bars: list[Bar] = []
        cursor_ms = start_ms
        limit = c.USDM_KLINES_MAX_LIMIT
        while cursor_ms < end_ms:
            payload = await self._rest.get_klines(
                instrument_id.symbol, code, cursor_ms, end_ms - 1, limit
            )
            page = [b for b in parse_klines(payload, instrument_id) if b.ts_open_ms < end_ms]
            bars.extend(b for b in page if b.ts_open_ms >= cursor_ms)
            if len(page) < limit:
                break
            cursor_ms = _advance(cursor_ms, page[-1].ts_open_ms + interval_s * _MS_PER_S, "klines")
        return bars

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Settled rates with ``start_ms <= ts_funding_ms < end_ms`` (epoch ms), oldest
        first, no duplicates: ``GET /fapi/v1/fundingRate`` paged forward by ``startTime``
        (1000 rows a page).

        ``interval_s`` is the spacing to the previous settlement (right even where the
        symbol's interval changed inside the window); the first row takes the spacing to the
        second, a lone row the ``fundingInfo`` interval (8 h when not listed). See
        :func:`~venues.binance.parse.parse_funding_history`; fixture
        ``funding_rate_history.json``. Raises ``ProtocolError`` on a malformed page.
        """
        symbol = instrument_id.symbol
        rows: list[Mapping[str, Any]] = []
        cursor_ms = start_ms
        while cursor_ms < end_ms:
            page = funding_rate_rows(
                await self._rest.get_funding_rate(symbol, cursor_ms, end_ms - 1)
            )
            rows.extend(r for r in page if cursor_ms <= r["fundingTime"] < end_ms)
            if len(page) < c.FUNDING_RATE_MAX_LIMIT:
                break
            cursor_ms = _advance(cursor_ms, max(r["fundingTime"] for r in page) + 1, "fundingRate")
        intervals = await self._funding_intervals_s()
        default_s = intervals.get(symbol, c.DEFAULT_FUNDING_INTERVAL_S)
        return parse_funding_history(rows, default_s) if rows else []

    async def _mark_updates(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncGenerator[MarkUpdate, None]:
        ids = list(instrument_ids)
        if not ids:
            return

        async def resync() -> list[MarkUpdate]:
            return [(mark, funding) for funding, mark in (await self._premium(ids)).values()]

        updates = mark_updates(
            ids,
            settings=self._ws,
            funding_intervals_s=await self._funding_intervals_s(),
            resync=resync,
            sleep=self._sleep,
        )
        async with aclosing(updates) as pairs:
            async for pair in pairs:
                yield pair

    async def stream_marks(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncGenerator[MarkPrice, None]:
        """Mark prices from ``<symbol>@markPrice@1s`` on the ``/market`` route, reconnecting
        and resyncing over ``premiumIndex`` on its own; per instrument strictly newer
        ``ts_event_ms`` only. See :mod:`venues.binance.streams`.

        Raises ``ProtocolError`` (malformed frame, refused subscription) or a fatal
        websocket error."""
        async with aclosing(self._mark_updates(instrument_ids)) as pairs:
            async for mark, _ in pairs:
                yield mark

    async def stream_funding(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncGenerator[FundingRate, None]:
        """Predicted funding (rate settling at ``ts_funding_ms``) carried by the same mark
        price stream, yielded when the rate or the settlement time changes."""
        changes = FundingChanges()
        async with aclosing(self._mark_updates(instrument_ids)) as pairs:
            async for _, funding in pairs:
                if changes.accept(funding):
                    yield funding

    async def stream_market(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncGenerator[MarkPrice | FundingRate, None]:
        """:meth:`stream_marks` and :meth:`stream_funding` from **one** connection
        (:class:`~venues.base.MarketStreamSource`): each ``markPriceUpdate`` yields its mark,
        then its predicted funding (``r`` settling at ``T``) when the rate or the settlement
        time changed. "Mark Price Stream"
        https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream"""
        changes = FundingChanges()
        async with aclosing(self._mark_updates(instrument_ids)) as pairs:
            async for mark, funding in pairs:
                yield mark
                if changes.accept(funding):
                    yield funding

    async def stream_account(self) -> AsyncGenerator[AccountEvent, None]:
        """Fills, order updates and funding payments from the listenKey user data stream,
        with keepalive, key renewal and REST resync after reconnects (see
        :mod:`venues.binance.user_stream`). Raises ``AuthError`` without an API key."""
        user = UserDataStream(self._rest, self, self._ws, self._sleep, self._now_ms)
        async with aclosing(user.events()) as events:
            async for event in events:
                yield event

    async def prepare_account(
        self, instrument_ids: Sequence[InstrumentId], leverage: Decimal
    ) -> list[str]:
        """One-way position mode, cross margin and ``leverage`` × for ``instrument_ids``;
        one line per change. Raises ``AccountSetupError`` when Binance refuses a change
        (see :mod:`venues.binance.account_setup`)."""
        return await prepare_usdm_account(self._rest, instrument_ids, leverage)

    # --- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order (``POST /fapi/v1/order``) exactly once.

        Raises ``InvalidOrder`` before sending (see :func:`order_params`), an
        ``OrderRejected`` subclass from the venue, or a transport error / ``VenueUnavailable``
        / clock-skew ``VenueError`` whose outcome is unknown: call :meth:`fetch_order`.
        """
        payload = await self._rest.post_order(order_params(request))
        return await self._with_fills(parse_order(payload, PERP))

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``GET /fapi/v1/order`` by client order id, with its fills; unknown →
        ``OrderNotFound``."""
        payload = await self._rest.get_order(instrument_id.symbol, client_order_id)
        return await self._with_fills(parse_order(payload, PERP))

    async def _with_fills(self, ack: OrderAck) -> OrderAck:
        """fapi order answers carry no fills: read them from ``GET /fapi/v1/userTrades``.

        If that read fails after an order POST, its error surfaces and the caller resolves the
        order with :meth:`fetch_order` (which reads the fills again), so a fill is never
        booked without its price and fee.
        """
        if ack.filled_qty == 0 or ack.fills:
            return ack
        trades = await self._rest.get_user_trades(ack.instrument_id.symbol, ack.venue_order_id)
        return attach_user_trades(ack, trades, await self._commission_prices_usd(trades))

    async def _commission_prices_usd(self, trades: object) -> dict[str, Decimal]:
        """USD price of each commission asset of ``userTrades`` rows that is not a USD stable
        (the BNB fee discount), see :meth:`fee_asset_prices_usd`."""
        assets = {
            str(row.get("commissionAsset"))
            for row in (trades if isinstance(trades, list) else [])
            if isinstance(row, dict) and row.get("commissionAsset") not in USD_ASSETS
        }
        return await self.fee_asset_prices_usd(assets)

    async def fee_asset_prices_usd(self, assets: Collection[str]) -> dict[str, Decimal]:
        """USD price of each commission asset (BNB for the fee discount): the mark of its
        ``<ASSET>USDT`` perp (``GET /fapi/v1/premiumIndex``). An asset without a usable mark
        is left out (the fill's parse then names it). Raises ``VenueError`` from the REST
        call."""
        prices: dict[str, Decimal] = {}
        for asset in sorted(assets):
            payload = await self._rest.get_premium_index(f"{asset}USDT")
            mark = payload.get("markPrice") if isinstance(payload, dict) else None
            with suppress(ArithmeticError, TypeError):  # unpriced: attach_user_trades says so
                prices[asset] = Decimal(mark)  # type: ignore[arg-type]
        return prices

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``DELETE /fapi/v1/order``; an order already final (``-2011``) is looked up and
        returned as is (``OrderNotFound`` if the venue does not know it at all)."""
        try:
            payload = await self._rest.delete_order(instrument_id.symbol, client_order_id)
        except OrderNotFound:
            return await self.fetch_order(instrument_id, client_order_id)
        return parse_order(payload, PERP)

    async def fetch_open_orders(self) -> list[OrderAck]:
        """``GET /fapi/v1/openOrders`` for all symbols."""
        payload = await self._rest.get_open_orders()
        if not isinstance(payload, list):
            raise ProtocolError("openOrders: expected an array", venue=c.VENUE)
        return [parse_order(row, PERP) for row in payload]

    # --- account ------------------------------------------------------------------------

    async def fetch_positions(self) -> list[Position]:
        """Non-zero positions of ``GET /fapi/v3/positionRisk`` (signed base units)."""
        return parse_position_risk(await self._rest.get_position_risk())

    async def fetch_balances(self) -> list[Balance]:
        """Wallet balances of ``GET /fapi/v3/balance``."""
        return parse_futures_balances(await self._rest.get_balance())

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """``FUNDING_FEE`` income since ``since_ms`` (epoch ms), oldest first.

        Each row is paired with the settled rate and mark of ``GET /fapi/v1/fundingRate`` at
        the same time (±60 s), from which the position size is derived (see
        :func:`~venues.binance.parse.parse_funding_fee`). One income page (≤ 1000 rows).

        Raises ``ProtocolError`` if a row has no settled rate.
        """
        rows = funding_fee_rows(await self._rest.get_income("FUNDING_FEE", since_ms))
        by_symbol: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            by_symbol.setdefault(str(row.get("symbol")), []).append(row)
        payments = []
        for symbol, symbol_rows in by_symbol.items():
            rates = await self._settled_rates(symbol, symbol_rows)
            for row in symbol_rows:
                rate = nearest_rate(rates, income_time_ms(row), f"income[{symbol}]")
                payments.append(parse_funding_fee(row, rate))
        return sorted(payments, key=lambda p: p.ts_funding_ms)

    async def _settled_rates(
        self, symbol: str, rows: Sequence[Mapping[str, Any]]
    ) -> list[FundingRate]:
        times_ms = [income_time_ms(row) for row in rows]
        payload = await self._rest.get_funding_rate(
            symbol,
            min(times_ms) - FUNDING_MATCH_TOLERANCE_MS,
            max(times_ms) + FUNDING_MATCH_TOLERANCE_MS,
        )
        intervals = await self._funding_intervals_s()
        return parse_funding_history(payload, intervals.get(symbol, c.DEFAULT_FUNDING_INTERVAL_S))


def create_venue(
    credentials: Credentials | None = None,
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> BinanceUsdmVenue:
    """A :class:`BinanceUsdmVenue` on production URLs unless given.

    Parameters
    ----------
    credentials : Credentials | None
        API key + HMAC secret; ``None`` = public market data only (private calls raise
        ``AuthError``).
    rest_url : str | None
        REST base, default ``https://fapi.binance.com``.
    ws_url : str | None
        Websocket base, default ``wss://fstream.binance.com`` (routes appended).
    transport : httpx.AsyncBaseTransport | None
        HTTP transport (tests: respx / ``httpx.MockTransport``).
    sleep : Callable[[float], Awaitable[None]] | None
        Async sleep, seconds, for rate limiting, retries and reconnect backoff.
    """
    sleep_fn = sleep or asyncio.sleep
    client = make_rest_client(
        rest_url or c.USDM_REST_URL,
        transport=transport,
        limiter=RateLimiter(c.USDM_REQUEST_WEIGHT_PER_MIN, 60.0, sleep=sleep_fn),
        sleep=sleep_fn,
    )
    api_key = credentials.api_key if credentials else None
    api_secret = credentials.api_secret if credentials else None
    rest = BinanceUsdmRest(client, api_key, api_secret, _wall_clock_ms)
    ws = WsSettings(base_url=ws_url or c.USDM_WS_URL)
    return BinanceUsdmVenue(rest, ws=ws, sleep=sleep_fn, now_ms=_wall_clock_ms)
