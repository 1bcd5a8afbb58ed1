"""Binance spot payloads that :mod:`venues.binance.parse` does not cover: book tickers, the
cancel response's original client order id, wallet holdings as positions, and the kline
close used as a spot mark price.

Units as everywhere in the package: quantities base units, prices quote units, times epoch ms UTC.
Every parser raises :class:`~venues.errors.ProtocolError` naming the field when a payload does not
match. Source: Binance spot API docs
https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md (market data, trading and
account endpoints).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from venues.binance.constants import VENUE
from venues.binance.fields import (
    USD_ASSETS,
    as_array,
    as_object,
    float_field,
    int_field,
    payload_error,
    text_field,
    unwrap_stream,
)
from venues.binance.parse_account import parse_order
from venues.model import (
    Balance,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    OrderAck,
    Position,
)

SPOT = InstrumentKind.SPOT
QUOTE_PREFERENCE = ("USDT", "USDC", "FDUSD")
"""Quote assets tried, in order, when a holding is mapped to the spot instrument that values it."""


def parse_book_tickers(payload: object) -> dict[str, tuple[float, float]]:
    """``GET /api/v3/ticker/bookTicker`` (one object, or an array for ``symbols``) → symbol →
    (best bid, best ask), quote units.

    The payload carries no timestamp; callers stamp quotes with their own clock.

    Raises
    ------
    ProtocolError
        If a row is not an object or ``symbol``/``bidPrice``/``askPrice`` is missing or not a
        decimal string.

    Source: ``GET /api/v3/ticker/bookTicker`` best bid/ask; shape per
    https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md "Symbol order book
    ticker" (``symbol, bidPrice, bidQty, askPrice, askQty``).
    """
    rows = [payload] if isinstance(payload, Mapping) else as_array(payload, "bookTicker")
    out: dict[str, tuple[float, float]] = {}
    for item in rows:
        row = as_object(item, "bookTicker[]")
        symbol = text_field(row, "symbol", "bookTicker[]")
        where = f"bookTicker[{symbol}]"
        out[symbol] = (float_field(row, "bidPrice", where), float_field(row, "askPrice", where))
    return out


def parse_spot_order(
    raw: object, asset_prices_usd: Mapping[str, Decimal] | None = None
) -> OrderAck:
    """Spot new/query/cancel order → :class:`OrderAck`, keyed by **our** client order id.

    A cancel response (``DELETE /api/v3/order``) puts the id of the *cancel request* in
    ``clientOrderId`` and ours in ``origClientOrderId``; the latter wins when present. All
    else as :func:`venues.binance.parse.parse_order` (``fills[]`` of a FULL response become
    :class:`~venues.model.Fill` rows, commissions converted to USD).

    Raises
    ------
    ProtocolError
        As :func:`~venues.binance.parse.parse_order`.

    Source: https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md "New order
    (TRADE)", "Query order (USER_DATA)", "Cancel order (TRADE)"; fixtures ``new_order_full.json``,
    ``query_order.json``, ``cancel_order.json``.
    """
    row = as_object(raw, "order")
    original = row.get("origClientOrderId")
    if isinstance(original, str) and original:
        row = {**row, "clientOrderId": original}
    return parse_order(row, SPOT, asset_prices_usd)


def parse_spot_orders(payload: object) -> list[OrderAck]:
    """``GET /api/v3/openOrders`` → acks. Fixture ``open_orders.json``."""
    return [parse_spot_order(row) for row in as_array(payload, "openOrders")]


def holding_instrument(
    asset: str, instruments: Mapping[InstrumentId, Instrument]
) -> Instrument | None:
    """The spot instrument that values a holding of ``asset``: base ``asset`` quoted in the
    first of :data:`QUOTE_PREFERENCE` that is listed; ``None`` when there is none (or the
    asset is itself a USD asset, which is cash, not a position)."""
    if asset in USD_ASSETS:
        return None
    by_pair = {(i.base, i.quote): i for i in instruments.values() if i.id.kind is SPOT}
    for quote in QUOTE_PREFERENCE:
        found = by_pair.get((asset, quote))
        if found is not None:
            return found
    return None


def holdings_as_positions(
    balances: Sequence[Balance],
    instruments: Mapping[InstrumentId, Instrument],
    mid_prices: Mapping[str, float],
) -> list[Position]:
    """Spot wallet holdings (non-USD assets with a non-zero ``total``) → long positions.

    ``qty`` = the wallet total (free + locked), base units, so it is what the wallet really
    holds: net of any commission charged in the base asset. Spot has no cost basis, so
    ``entry_price`` and ``mark_price`` are both the book mid of the valuing instrument
    (unrealized P&L 0 in this view; P&L comes from fills). Holdings without a USD-quoted
    instrument or without a price in ``mid_prices`` (symbol → mid, quote units) are skipped.

    Raises
    ------
    ProtocolError
        If a mid price is not positive.
    """
    out = []
    for balance in balances:
        inst = holding_instrument(balance.asset, instruments)
        if balance.total == 0 or inst is None or inst.id.symbol not in mid_prices:
            continue
        mid = mid_prices[inst.id.symbol]
        if not mid > 0:
            raise payload_error(f"bookTicker[{inst.id.symbol}]", f"mid price {mid} is not positive")
        price = Decimal(str(mid))
        out.append(Position(inst.id, balance.total, price, price, balance.ts_event_ms))
    return out


def commission_assets(payload: object) -> set[str]:
    """Commission assets named in a FULL order response's ``fills[]`` (``BNB`` when the
    account pays fees in BNB); empty for RESULT/ACK responses or malformed rows (the order
    parser reports those)."""
    if not isinstance(payload, Mapping):
        return set()
    fills: Any = payload.get("fills")
    if not isinstance(fills, list):
        return set()
    return {
        f["commissionAsset"]
        for f in fills
        if isinstance(f, Mapping) and isinstance(f.get("commissionAsset"), str)
    }


def mid_price(bid: float, ask: float) -> Decimal:
    """Book mid as ``Decimal`` (quote units) for order-boundary math (fee conversion)."""
    return Decimal(str((bid + ask) / 2.0))


def parse_ws_kline_mark(frame: object) -> MarkPrice | None:
    """A spot ``kline`` event (raw or in the combined-stream envelope) → the running kline's
    close ``k.c`` as a mark price, quote units, stamped with the event time ``E`` (ms);
    ``None`` for ``serverShutdown`` (the close that follows is handled by reconnecting).

    Raises
    ------
    ProtocolError
        If the frame is another event or a field is missing or malformed.

    Source: https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md
    "Kline/Candlestick Streams"; fixtures ``ws_kline.json``, ``ws_server_shutdown.json``.
    """
    event = as_object(unwrap_stream(frame), "kline event")
    name = event.get("e")
    if name == "serverShutdown":
        return None
    if name != "kline":
        raise payload_error("kline event", f"field 'e' is {name!r}, not 'kline'")
    symbol = text_field(event, "s", "kline event")
    where = f"kline[{symbol}]"
    kline = as_object(event.get("k"), f"{where}.k")
    return MarkPrice(
        instrument_id=InstrumentId(VENUE, SPOT, symbol),
        mark_price=float_field(kline, "c", f"{where}.k"),
        ts_event_ms=int_field(event, "E", where),
    )


def parse_kline_mark(payload: object, instrument_id: InstrumentId, ts_ms: int) -> MarkPrice:
    """Last row of ``GET /api/v3/klines`` → its close as a mark, stamped ``ts_ms`` (the
    caller's server-corrected clock, epoch ms: the running kline has no event time).

    Raises ``ProtocolError`` if the payload is empty or malformed. Fixture ``klines.json``.
    """
    rows = as_array(payload, "klines")
    if not rows:
        raise payload_error("klines", f"no row for {instrument_id.symbol}")
    row = as_array(rows[-1], "klines[]")
    if len(row) < 5:
        raise payload_error("klines[]", f"row has {len(row)} columns, expected ≥ 5")
    return MarkPrice(instrument_id, float_field({"close": row[4]}, "close", "klines[]"), ts_ms)
