"""Binance USDⓈ-M perps as a :class:`~venues.base.Venue` (REST; websocket streams next).

Built on :class:`~venues.binance.rest.BinanceUsdmRest` (endpoints, signing, error mapping) and
:mod:`venues.binance.parse` (payload → value types; units and times converted only there).
Source: ``/work/shared/venues/binance-usdm.md`` §3–§6; fixtures ``tests/fixtures/binance-usdm/``.

Quotes: Binance has no bid/ask in ``premiumIndex`` and no ``bookTicker`` fixture was recorded,
so :meth:`BinanceUsdmVenue.fetch_quotes` returns the **mark price as bid = ask** (stamped with
the premiumIndex ``time``). Replace with ``GET /fapi/v1/ticker/bookTicker`` once recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from venues.base import AccountEvent
from venues.binance import constants as c
from venues.binance.auth import ParamValue
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
from venues.binance.rest import BinanceUsdmRest
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
)

PERP = InstrumentKind.PERP
_SIDES = {Side.BUY: "BUY", Side.SELL: "SELL"}
_MS_PER_S = 1_000
FUNDING_MATCH_TOLERANCE_MS = 60_000
"""An income row is paired with the settled rate whose ``fundingTime`` is within this, ms."""


def _decimal_text(value: Decimal) -> str:
    """Plain notation (``0.001``, never ``1E-3``) for order params."""
    return format(value.normalize(), "f")


def order_params(request: OrderRequest) -> dict[str, ParamValue]:
    """``OrderRequest`` → ``POST /fapi/v1/order`` params (binance-usdm.md §4 "New order").

    MARKET, or LIMIT with ``timeInForce`` (IOC/GTC) and ``price``; ``quantity`` base units;
    ``newClientOrderId`` = our id; ``newOrderRespType=RESULT`` so the answer carries status,
    filled quantity and average price.

    Raises
    ------
    InvalidOrder
        If the client order id breaks the fapi pattern, the quantity is not positive, or a
        LIMIT order has no positive price (checked here, never sent).
    """
    cid = request.client_order_id

    def invalid(reason: str) -> InvalidOrder:
        return InvalidOrder(f"binance: {reason}", venue=c.VENUE, client_order_id=cid, reason=reason)

    if not c.USDM_CLIENT_ORDER_ID_RE.match(cid):
        raise invalid("client order id does not match ^[.A-Z:/a-z0-9_-]{1,36}$")
    if request.qty <= 0:
        raise invalid(f"quantity must be positive, got {request.qty}")
    params: dict[str, ParamValue] = {
        "symbol": request.instrument_id.symbol,
        "side": _SIDES[request.side],
        "type": "MARKET" if request.order_type is OrderType.MARKET else "LIMIT",
        "quantity": _decimal_text(request.qty),
    }
    if request.order_type is OrderType.LIMIT:
        if request.limit_price is None or request.limit_price <= 0:
            raise invalid("LIMIT order needs a positive limit_price")
        params["timeInForce"] = request.time_in_force.value.upper()
        params["price"] = _decimal_text(request.limit_price)
    if request.reduce_only:
        params["reduceOnly"] = True
    params["newClientOrderId"] = cid
    params["newOrderRespType"] = "RESULT"
    return params


def _nearest_rate(rates: Sequence[FundingRate], ts_ms: int, where: str) -> FundingRate:
    best = min(rates, key=lambda r: abs(r.ts_funding_ms - ts_ms), default=None)
    if best is None or abs(best.ts_funding_ms - ts_ms) > FUNDING_MATCH_TOLERANCE_MS:
        raise ProtocolError(f"{where}: no settled funding rate at {ts_ms} ms", venue=c.VENUE)
    return best


class BinanceUsdmVenue:
    """Binance USDⓈ-M perpetual futures, venue name ``binance``.

    Parameters
    ----------
    rest : BinanceUsdmRest
        Endpoint layer (owns the transport; closed by :meth:`close`).
    """

    def __init__(self, rest: BinanceUsdmRest) -> None:
        self._rest = rest
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
            cursor_ms = page[-1].ts_open_ms + interval_s * _MS_PER_S
        return bars

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        """Not yet: raises ``NotImplementedError`` (websocket streams are the next step)."""
        raise NotImplementedError("websocket streams: next step")

    def stream_account(self) -> AsyncIterator[AccountEvent]:
        """Not yet: raises ``NotImplementedError`` (websocket streams are the next step)."""
        raise NotImplementedError("websocket streams: next step")

    # --- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order (``POST /fapi/v1/order``) exactly once.

        Raises ``InvalidOrder`` before sending (see :func:`order_params`), an
        ``OrderRejected`` subclass from the venue, or a transport error / ``VenueUnavailable``
        / clock-skew ``VenueError`` whose outcome is unknown: call :meth:`fetch_order`.
        """
        payload = await self._rest.post_order(order_params(request))
        return parse_order(payload, PERP)

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``GET /fapi/v1/order`` by client order id; unknown → ``OrderNotFound``."""
        payload = await self._rest.get_order(instrument_id.symbol, client_order_id)
        return parse_order(payload, PERP)

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
                rate = _nearest_rate(rates, _row_time_ms(row), f"income[{symbol}]")
                payments.append(parse_funding_fee(row, rate))
        return sorted(payments, key=lambda p: p.ts_funding_ms)

    async def _settled_rates(
        self, symbol: str, rows: Sequence[Mapping[str, Any]]
    ) -> list[FundingRate]:
        times_ms = [_row_time_ms(row) for row in rows]
        payload = await self._rest.get_funding_rate(
            symbol,
            min(times_ms) - FUNDING_MATCH_TOLERANCE_MS,
            max(times_ms) + FUNDING_MATCH_TOLERANCE_MS,
        )
        intervals = await self._funding_intervals_s()
        return parse_funding_history(payload, intervals.get(symbol, c.DEFAULT_FUNDING_INTERVAL_S))


def _row_time_ms(row: Mapping[str, Any]) -> int:
    value = row.get("time")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(
            f"income: field 'time' must be integer ms, got {value!r}", venue=c.VENUE
        )
    return value
