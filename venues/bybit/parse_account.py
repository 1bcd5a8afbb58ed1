"""Bybit v5 private REST payloads → order acks, positions, balances and funding payments.

Source: Bybit v5 "Place Order" https://bybit-exchange.github.io/docs/v5/order/create-order,
"Batch Place Order" https://bybit-exchange.github.io/docs/v5/order/batch-place, "Cancel Order"
https://bybit-exchange.github.io/docs/v5/order/cancel-order, "Get Open & Closed Orders"
https://bybit-exchange.github.io/docs/v5/order/open-order, "Get Position Info"
https://bybit-exchange.github.io/docs/v5/position, "Get Wallet Balance"
https://bybit-exchange.github.io/docs/v5/account/wallet-balance, "Get Transaction Log"
https://bybit-exchange.github.io/docs/v5/account/transaction-log; fixtures in
``tests/fixtures/bybit-v5/``. Sizes are base coin (linear has no contract multiplier).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from venues.bybit.constants import CATEGORY_LINEAR, RET_OK, TRANSACTION_TYPE_SETTLEMENT, VENUE
from venues.bybit.fields import (
    STATUS_MAP,
    ZERO,
    Row,
    as_array,
    as_object,
    dec_field,
    dec_or_zero_field,
    instrument_id,
    int_field,
    payload_error,
    side_field,
    text_field,
)
from venues.bybit.parse import error_from_payload, unwrap_result
from venues.errors import VenueError
from venues.model import (
    Balance,
    FundingPayment,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Position,
    liquidation_price_or_none,
)

#: Per-coin amounts not available for new orders (wallet-balance ``coin[]``).
_IN_USE_FIELDS = ("locked", "totalOrderIM", "totalPositionIM")


@dataclass(frozen=True, slots=True)
class CancelAck:
    """Acknowledgement of ``POST /v5/order/cancel``: the cancel was accepted, not done.

    The final state comes from the ``order`` WS topic or ``GET /v5/order/realtime``.
    ``ts_event_ms`` is the envelope ``time``.
    """

    venue_order_id: str
    client_order_id: str
    ts_event_ms: int


def _link_id(row: Row) -> str:
    # orderLinkId is "" when the order was placed without one.
    value = row.get("orderLinkId")
    return value if isinstance(value, str) else ""


def _ack_ids(payload: object) -> tuple[str, str, int]:
    result = unwrap_result(payload)
    ts_ms = int_field(as_object(payload, "envelope"), "time", "envelope")
    return text_field(result, "orderId", "result"), _link_id(result), ts_ms


def parse_create_order(payload: object, request: OrderRequest) -> OrderAck:
    """``POST /v5/order/create`` → a NEW :class:`OrderAck` (the answer is an ack only).

    Fills and the final state come from the ``order`` topic or ``GET /v5/order/realtime``.

    Raises
    ------
    OrderRejected
        Subclass from :func:`~venues.bybit.parse.error_from_payload` if ``retCode != 0``
        (e.g. :class:`~venues.errors.DuplicateClientOrderId` for 110072/170141).
    ProtocolError
        If ``orderId`` is missing or ``orderLinkId`` differs from the request's id.

    Fixture: ``create_order.json``.
    """
    result = unwrap_result(payload, client_order_id=request.client_order_id)
    order_id = text_field(result, "orderId", "result")
    if result.get("orderLinkId") != request.client_order_id:
        raise payload_error(
            "result", f"orderLinkId {result.get('orderLinkId')!r} is not the request's"
        )
    return OrderAck(
        client_order_id=request.client_order_id,
        venue_order_id=order_id,
        instrument_id=request.instrument_id,
        side=request.side,
        status=OrderStatus.NEW,
        qty=request.qty,
        filled_qty=ZERO,
        avg_price=None,
        ts_event_ms=int_field(as_object(payload, "envelope"), "time", "envelope"),
    )


def parse_cancel_order(payload: object) -> CancelAck:
    """``POST /v5/order/cancel`` → :class:`CancelAck`.

    Raises
    ------
    OrderNotFound
        If ``retCode`` is 110001/170213.
    ProtocolError
        If ``orderId`` is missing.

    Fixture: ``cancel_order.json``.
    """
    order_id, link_id, ts_ms = _ack_ids(payload)
    return CancelAck(venue_order_id=order_id, client_order_id=link_id, ts_event_ms=ts_ms)


def parse_create_order_batch(
    payload: object, requests: Sequence[OrderRequest]
) -> list[OrderAck | VenueError]:
    """``POST /v5/order/create-batch`` → one NEW ack or error per request, in request order.

    The batch is **not atomic**: ``result.list[i]`` holds the created order and
    ``retExtInfo.list[i]`` its ``{code, msg}``; a non-zero code is returned (not raised) as the
    error :func:`~venues.bybit.parse.error_from_payload` picks for that request.

    Raises
    ------
    VenueError
        If the whole batch failed (envelope ``retCode != 0``).
    ProtocolError
        If the lists do not match ``requests`` in length or an item is malformed.

    Fixture: ``create_order_batch.json``.
    """
    ts_ms = int_field(as_object(payload, "envelope"), "time", "envelope")
    created = _list(payload)
    ext = as_object(as_object(payload, "envelope").get("retExtInfo"), "retExtInfo")
    codes = as_array(ext.get("list"), "retExtInfo.list")
    if not len(created) == len(codes) == len(requests):
        counts = f"{len(created)} results, {len(codes)} codes, {len(requests)} requests"
        raise payload_error("result.list", f"batch lengths differ: {counts}")
    return [
        _batch_item(as_object(c, f"batch[{i}]"), as_object(s, f"batchCodes[{i}]"), req, ts_ms)
        for i, (c, s, req) in enumerate(zip(created, codes, requests, strict=True))
    ]


def _batch_item(
    created: Row, status: Row, request: OrderRequest, ts_ms: int
) -> OrderAck | VenueError:
    code = int_field(status, "code", "batchCodes")
    if code != RET_OK:
        body = {"retCode": code, "retMsg": str(status.get("msg", ""))}
        return error_from_payload(body, VENUE, request.client_order_id)
    if created.get("orderLinkId") != request.client_order_id:
        raise payload_error(
            "batch", f"orderLinkId {created.get('orderLinkId')!r} out of request order"
        )
    return OrderAck(
        client_order_id=request.client_order_id,
        venue_order_id=text_field(created, "orderId", "batch"),
        instrument_id=request.instrument_id,
        side=request.side,
        status=OrderStatus.NEW,
        qty=request.qty,
        filled_qty=ZERO,
        avg_price=None,
        ts_event_ms=ts_ms,
    )


def _avg_price(row: Row, filled: Decimal, where: str) -> Decimal | None:
    # avgPrice is "0" or "" before the first fill.
    return dec_field(row, "avgPrice", where) if filled > ZERO else None


def _status(row: Row, where: str) -> OrderStatus:
    text = row.get("orderStatus")
    if text not in STATUS_MAP:
        raise payload_error(where, f"field 'orderStatus' has unknown value {text!r}")
    return STATUS_MAP[text]


def order_from_row(row: Row, category: str, where: str = "order") -> OrderAck:
    """One order object (REST ``/v5/order/realtime`` row or WS ``order`` row) → :class:`OrderAck`.

    ``qty``/``cumExecQty`` base units, ``avgPrice`` quote units, stamped ``updatedTime`` (ms).
    ``Cancelled`` may carry fills (``filled_qty > 0``); ``rejectReason`` is kept for
    ``Rejected`` orders.

    Raises
    ------
    ProtocolError
        If a field is missing or malformed, or the status is unknown.
    """
    status = _status(row, where)
    filled = dec_field(row, "cumExecQty", where)
    rejected = status is OrderStatus.REJECTED
    return OrderAck(
        client_order_id=_link_id(row),
        venue_order_id=text_field(row, "orderId", where),
        instrument_id=instrument_id(category, text_field(row, "symbol", where)),
        side=side_field(row, "side", where),
        status=status,
        qty=dec_field(row, "qty", where),
        filled_qty=filled,
        avg_price=_avg_price(row, filled, where),
        ts_event_ms=int_field(row, "updatedTime", where),
        reject_code=str(row.get("rejectReason")) if rejected else None,
        reject_reason=str(row.get("rejectReason")) if rejected else None,
    )


def _list(payload: object) -> Sequence[Any]:
    return as_array(unwrap_result(payload).get("list"), "result.list")


def parse_orders(payload: object, category: str) -> list[OrderAck]:
    """``GET /v5/order/realtime`` (or ``/v5/order/history``) → one :class:`OrderAck` per row.

    An empty list after a lookup by ``orderLinkId`` means: try ``/v5/order/history``.

    Raises
    ------
    ProtocolError
        If a row is malformed.

    Fixture: ``order_realtime.json``.
    """
    rows = _list(payload)
    return [
        order_from_row(as_object(r, f"orders[{i}]"), category, f"orders[{i}]")
        for i, r in enumerate(rows)
    ]


def _position(row: Row, where: str) -> Position | None:
    side = row.get("side")
    if side == "":  # flat (one-way mode keeps an empty row)
        return None
    sign = side_field(row, "side", where).sign
    return Position(
        instrument_id=instrument_id(CATEGORY_LINEAR, text_field(row, "symbol", where)),
        qty=sign * dec_field(row, "size", where),
        entry_price=dec_field(row, "avgPrice", where),
        mark_price=dec_field(row, "markPrice", where),
        ts_event_ms=int_field(row, "updatedTime", where),
        liquidation_price=liquidation_price_or_none(dec_or_zero_field(row, "liqPrice", where)),
    )


def parse_positions(payload: object) -> list[Position]:
    """``GET /v5/position/list?category=linear`` → signed positions (flat rows dropped).

    ``size`` is always positive; ``side`` ``Buy`` → long (``qty > 0``), ``Sell`` → short.
    Hedge mode (two rows per symbol) is not netted here: run one-way mode. ``liqPrice`` is the
    position's liquidation price (USDT; ``""`` when there is none → None; Bybit V5 "Get
    Position Info", https://bybit-exchange.github.io/docs/v5/position).

    Raises
    ------
    ProtocolError
        If a row is malformed.

    Fixture: ``position_list_inverse.json`` (doc sample, inverse; linear rows have the same
    keys and ``size`` in base coin).
    """
    out = []
    for i, raw in enumerate(_list(payload)):
        position = _position(as_object(raw, f"positions[{i}]"), f"positions[{i}]")
        if position is not None:
            out.append(position)
    return out


def _balance(row: Row, where: str, ts_ms: int) -> Balance:
    total = dec_field(row, "walletBalance", where)
    in_use = sum(
        (
            dec_or_zero_field(row, key, where)
            for key in ("locked", "totalOrderIM", "totalPositionIM")
        ),
        ZERO,
    )
    return Balance(
        venue=VENUE,
        asset=text_field(row, "coin", where),
        total=total,
        available=max(total - in_use, ZERO),
        ts_event_ms=ts_ms,
    )


def parse_wallet_balance(payload: object) -> list[Balance]:
    """``GET /v5/account/wallet-balance?accountType=UNIFIED`` → one :class:`Balance` per coin.

    ``total`` = ``walletBalance``; ``available`` = ``walletBalance − locked − totalOrderIM −
    totalPositionIM`` floored at 0 (``availableToWithdraw`` is deprecated on UTA). Stamped
    with the envelope ``time``.

    Raises
    ------
    ProtocolError
        If the account list is empty or a coin row is malformed.

    Fixture: ``wallet_balance.json``.
    """
    accounts = _list(payload)
    if not accounts:
        raise payload_error("result.list", "no account in wallet-balance answer")
    account = as_object(accounts[0], "wallet[0]")
    ts_ms = int_field(as_object(payload, "envelope"), "time", "envelope")
    coins = as_array(account.get("coin"), "wallet[0].coin")
    return [_balance(as_object(c, f"coin[{i}]"), f"coin[{i}]", ts_ms) for i, c in enumerate(coins)]


def _funding_payment(row: Row, where: str, interval_s: int) -> FundingPayment:
    sign = side_field(row, "side", where).sign
    return FundingPayment(
        instrument_id=instrument_id(CATEGORY_LINEAR, text_field(row, "symbol", where)),
        ts_funding_ms=int_field(row, "transactionTime", where),
        rate=float(dec_field(row, "feeRate", where)),
        interval_s=interval_s,
        position_qty=sign * dec_field(row, "size", where),
        mark_price=dec_field(row, "tradePrice", where),
        amount_usd=dec_field(row, "funding", where),
    )


def _interval_for(symbol: str, funding_intervals_s: Mapping[str, int], where: str) -> int:
    if symbol not in funding_intervals_s:
        raise payload_error(where, f"no funding interval known for symbol {symbol!r}")
    return funding_intervals_s[symbol]


def parse_funding_payments(
    payload: object, funding_intervals_s: Mapping[str, int]
) -> list[FundingPayment]:
    """``GET /v5/account/transaction-log?type=SETTLEMENT`` → funding payments, oldest first.

    Only ``type == "SETTLEMENT"`` linear rows are kept (TRADE rows are skipped) and rows are
    deduplicated on ``id`` + ``type``. ``funding`` is signed from the account's view
    (positive = received, the opposite of ``execFee``) → ``amount_usd`` (USDT = USD);
    ``feeRate`` is the funding rate; ``size`` signed by ``side`` → ``position_qty``;
    ``tradePrice`` is the settlement mark; ``transactionTime`` (ms) the settlement time.

    Parameters
    ----------
    funding_intervals_s : Mapping[str, int]
        Symbol → funding interval, seconds (from the instruments), not in this payload.

    Raises
    ------
    ProtocolError
        If a settlement row is malformed or its symbol has no known interval.

    Fixture: ``transaction_log.json`` (one SETTLEMENT and two TRADE rows).
    """
    out: dict[tuple[str, str], FundingPayment] = {}
    for i, raw in enumerate(_list(payload)):
        where = f"transactions[{i}]"
        row = as_object(raw, where)
        if row.get("type") != TRANSACTION_TYPE_SETTLEMENT or row.get("category") != CATEGORY_LINEAR:
            continue
        symbol = text_field(row, "symbol", where)
        interval_s = _interval_for(symbol, funding_intervals_s, where)
        key = (text_field(row, "id", where), TRANSACTION_TYPE_SETTLEMENT)
        out.setdefault(key, _funding_payment(row, where, interval_s))
    return sorted(out.values(), key=lambda payment: payment.ts_funding_ms)
