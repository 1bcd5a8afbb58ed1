"""Bybit v5 executions (REST ``/v5/execution/list`` and the private ``execution`` topic) → fills,
and the spot ``tickers`` row → a mark price.

Execution rows (``docs/v5/order/execution.mdx``, ``docs/v5/websocket/private/execution.mdx``):
``symbol, orderId, orderLinkId, side, execId, execPrice, execQty, execFee, feeCurrency,
execType, execTime (ms string), isMaker``. Only ``execType == "Trade"`` rows are fills
(``Funding``, ``AdlTrade``, ``BustTrade``, ``Settle`` are not orders of ours). The shared
fixture pack has no execution payload; the tests build rows with exactly these documented keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from venues.bybit.constants import CATEGORY_LINEAR, CATEGORY_SPOT, WS_TOPIC_EXECUTION
from venues.bybit.fields import (
    Row,
    as_array,
    as_object,
    dec_field,
    float_field,
    instrument_id,
    int_field,
    payload_error,
    side_field,
    text_field,
)
from venues.bybit.parse import unwrap_result
from venues.model import Fill, Liquidity, MarkPrice

EXEC_TYPE_TRADE = "Trade"
_USD_COINS = frozenset({"", "USDT", "USDC", "USD"})


def _fee_usd(row: Row, price: Decimal, where: str) -> Decimal:
    # Spot buys pay the fee in the base coin: value it at the execution price.
    fee = dec_field(row, "execFee", where)
    coin = row.get("feeCurrency", "")
    if not isinstance(coin, str):
        raise payload_error(where, f"field 'feeCurrency' must be a string, got {coin!r}")
    return fee if coin in _USD_COINS else fee * price


def fill_from_execution(row: Row, category: str, where: str = "execution") -> Fill:
    """One ``Trade`` execution row → :class:`Fill`.

    ``execQty`` base units, ``execPrice`` quote units, ``execFee`` positive when paid
    (negative maker rebate) → ``fee_usd`` (a base-coin fee is valued at ``execPrice``),
    ``isMaker`` → liquidity, ``execTime`` ms.

    Raises
    ------
    ProtocolError
        If a field is missing or malformed, or ``isMaker`` is not a boolean.
    """
    price = dec_field(row, "execPrice", where)
    maker = row.get("isMaker")
    if not isinstance(maker, bool):
        raise payload_error(where, f"field 'isMaker' must be a boolean, got {maker!r}")
    link_id = row.get("orderLinkId")
    return Fill(
        instrument_id=instrument_id(category, text_field(row, "symbol", where)),
        client_order_id=link_id if isinstance(link_id, str) else "",
        venue_order_id=text_field(row, "orderId", where),
        trade_id=text_field(row, "execId", where),
        side=side_field(row, "side", where),
        qty=dec_field(row, "execQty", where),
        price=price,
        fee_usd=_fee_usd(row, price, where),
        liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
        ts_event_ms=int_field(row, "execTime", where),
    )


def _trade_fills(rows: Sequence[object], category: str | None, where: str) -> list[Fill]:
    fills = []
    for i, raw in enumerate(rows):
        row = as_object(raw, f"{where}[{i}]")
        row_category = category if category is not None else row.get("category")
        if row.get("execType") != EXEC_TYPE_TRADE:
            continue
        if row_category not in (CATEGORY_LINEAR, CATEGORY_SPOT):
            continue  # inverse / option executions of the same account
        fills.append(fill_from_execution(row, str(row_category), f"{where}[{i}]"))
    return sorted(fills, key=lambda f: (f.ts_event_ms, f.trade_id))


def parse_executions(payload: object, category: str) -> list[Fill]:
    """``GET /v5/execution/list`` → ``Trade`` fills, oldest first (the venue sends newest
    first).

    Raises
    ------
    VenueError
        If ``retCode != 0``.
    ProtocolError
        If a kept row is malformed.
    """
    rows = as_array(unwrap_result(payload).get("list"), "result.list")
    return _trade_fills(rows, category, "executions")


def parse_ws_executions(message: object) -> list[Fill]:
    """A private ``execution`` frame → ``Trade`` fills of linear/spot rows, oldest first.

    Raises
    ------
    ProtocolError
        If the frame is not an ``execution`` frame or a kept row is malformed.
    """
    frame = as_object(message, "ws.execution")
    if frame.get("topic") != WS_TOPIC_EXECUTION:
        raise payload_error("ws.execution", f"field 'topic' is {frame.get('topic')!r}")
    return _trade_fills(as_array(frame.get("data"), "ws.execution.data"), None, "ws.execution")


def spot_mark_from_ticker(row: Row, where: str, ts_event_ms: int) -> MarkPrice:
    """A spot ticker (REST row or WS snapshot ``data``) → :class:`MarkPrice`.

    Spot has no mark price: ``lastPrice`` stands in for it, and ``usdIndexPrice`` (when
    present and not blank) is the index. Fixture ``ws_tickers_spot_snapshot.json``.
    """
    index = row.get("usdIndexPrice")
    return MarkPrice(
        instrument_id=instrument_id(CATEGORY_SPOT, text_field(row, "symbol", where)),
        mark_price=float_field(row, "lastPrice", where),
        ts_event_ms=ts_event_ms,
        index_price=float_field(row, "usdIndexPrice", where) if index not in (None, "") else None,
    )


def parse_spot_marks(payload: object) -> list[MarkPrice]:
    """``GET /v5/market/tickers?category=spot`` → one :class:`MarkPrice` per row
    (``lastPrice``, see :func:`spot_mark_from_ticker`), stamped with the envelope ``time``.

    Fixture ``tickers_spot_btcusdt.json``.
    """
    ts_ms = int_field(as_object(payload, "envelope"), "time", "envelope")
    rows = as_array(unwrap_result(payload).get("list"), "result.list")
    return [
        spot_mark_from_ticker(as_object(raw, f"tickers[{i}]"), f"tickers[{i}]", ts_ms)
        for i, raw in enumerate(rows)
    ]
