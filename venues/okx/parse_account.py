"""OKX order and account payloads → ``venues.model`` types: write results, orders,
positions, balances, funding payments. SWAP sizes are converted from contracts to base units.
Re-exported by :mod:`venues.okx.parse`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from venues.errors import VenueError
from venues.model import (
    Balance,
    FundingPayment,
    FundingRate,
    InstrumentId,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
    liquidation_price_or_none,
)
from venues.okx import constants as c
from venues.okx.fields import (
    ZERO,
    Row,
    as_object,
    base_qty_field,
    data_rows,
    dec_field,
    digits_field,
    first_data_row,
    opt_dec_field,
    payload_error,
    row_instrument_id,
    str_field,
    text_field,
)
from venues.okx.parse_errors import error_from_payload

#: A funding bill is booked within this many ms of its settlement ``fundingTime``.
FUNDING_MATCH_TOLERANCE_MS = 60_000
_STATUS = {
    "live": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "mmp_canceled": OrderStatus.CANCELED,
}

# --- orders ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriteResult:
    """One accepted item of place / batch / cancel (``sCode == "0"``): accepted, not done."""

    venue_order_id: str
    client_order_id: str
    ts_event_ms: int


def parse_write_results(
    payload: object, client_order_ids: Sequence[str] = ()
) -> list[WriteResult | VenueError]:
    """Per-item results of ``POST /api/v5/trade/order|batch-orders|cancel-order``.

    Top-level ``code`` "0"/"1"/"2" (all ok / all failed / partial) defers to each item's
    ``sCode``; a failed item becomes its classified error (not raised), carrying the item's
    ``clOrdId`` or, when OKX echoes ``""``, the one at its index in ``client_order_ids``. Fixtures
    ``place_order.json``, ``batch_orders.json``, ``cancel_order.json``, ``errors.json``.

    Raises
    ------
    ProtocolError
        Malformed item; any other top-level code raises its venue error.
    """
    envelope = as_object(payload, "payload")
    data = envelope.get("data")
    if envelope.get("code") not in c.WRITE_RESULT_CODES:
        raise error_from_payload(envelope, c.VENUE)
    if not isinstance(data, list) or not data:
        raise payload_error(
            f"field 'data' of a write result is {data!r}, expected a non-empty array"
        )
    results: list[WriteResult | VenueError] = []
    for i, item in enumerate(data):
        row = as_object(item, f"data[{i}]")
        if text_field(row, "sCode") == c.CODE_OK:
            ts_ms = digits_field(row, "ts")
            results.append(WriteResult(text_field(row, "ordId"), str_field(row, "clOrdId"), ts_ms))
        else:
            sent = client_order_ids[i] if i < len(client_order_ids) else ""
            single = {"code": str_field(row, "sCode"), "msg": str_field(row, "sMsg"), "data": []}
            results.append(error_from_payload(single, c.VENUE, str_field(row, "clOrdId") or sent))
    return results


def _new_ack(result: WriteResult, request: OrderRequest) -> OrderAck:
    if result.client_order_id not in ("", request.client_order_id):
        raise payload_error(f"field 'clOrdId' is {result.client_order_id!r}, sent a different id")
    return OrderAck(
        client_order_id=request.client_order_id,
        venue_order_id=result.venue_order_id,
        instrument_id=request.instrument_id,
        side=request.side,
        status=OrderStatus.NEW,
        qty=request.qty,
        filled_qty=ZERO,
        avg_price=None,
        ts_event_ms=result.ts_event_ms,
    )


def parse_place_order(payload: object, request: OrderRequest) -> OrderAck:
    """Ack of ``POST /api/v5/trade/order``: status NEW (accepted; fills come later).

    Raises
    ------
    OrderRejected, RateLimited, AuthError, VenueUnavailable, VenueError
        The item's ``sCode`` or the top-level ``code`` (see :func:`error_from_payload`).
    ProtocolError
        Malformed payload, or not exactly one item.
    """
    results = parse_write_results(payload, [request.client_order_id])
    (result,) = _exactly(results, 1)
    if isinstance(result, VenueError):
        raise result
    return _new_ack(result, request)


def _exactly(results: list[WriteResult | VenueError], n: int) -> list[WriteResult | VenueError]:
    if len(results) != n:
        raise payload_error(f"field 'data' has {len(results)} items, expected {n}")
    return results


def parse_batch_orders(
    payload: object, requests: Sequence[OrderRequest]
) -> list[OrderAck | VenueError]:
    """Results of ``POST /api/v5/trade/batch-orders`` in request order (not atomic).

    Raises
    ------
    ProtocolError
        Item count differs from ``requests`` or an item's ``clOrdId`` does not match.
    """
    ids = [r.client_order_id for r in requests]
    results = _exactly(parse_write_results(payload, ids), len(requests))
    return [
        r if isinstance(r, VenueError) else _new_ack(r, req)
        for r, req in zip(results, requests, strict=True)
    ]


def parse_cancel_order(payload: object) -> WriteResult:
    """Result of ``POST /api/v5/trade/cancel-order``: the cancel was accepted, not done.

    Raises
    ------
    OrderNotFound
        ``51400``/``51503``/``51603``: already final or unknown (query the order).
    VenueError
        Other codes; ``ProtocolError`` for a malformed payload.
    """
    (result,) = _exactly(parse_write_results(payload), 1)
    if isinstance(result, VenueError):
        raise result
    return result


def order_from_row(row: Row, multipliers: Mapping[str, Decimal]) -> OrderAck:
    """One order (``GET /api/v5/trade/order`` row or ``orders`` channel push) → ``OrderAck``.

    ``sz``/``accFillSz`` are converted to base units. A SPOT order sized in quote currency
    (``tgtCcy == "quote_ccy"``, the default for market buys) has ``qty = accFillSz``: its base
    quantity is only known from fills. ``fills`` is empty (``fillSz`` is the last fill only).

    Raises
    ------
    ProtocolError
        Missing or malformed field, unknown ``state``/``side``.
    """
    iid, state, side = row_instrument_id(row), str_field(row, "state"), str_field(row, "side")
    if state not in _STATUS or side not in ("buy", "sell"):
        raise payload_error(f"field 'state'/'side' is {state!r}/{side!r}")
    filled = base_qty_field(row, "accFillSz", multipliers)
    quote_sized = row.get("tgtCcy") == "quote_ccy" and row.get("instType") == c.INST_TYPE_SPOT
    return OrderAck(
        client_order_id=str_field(row, "clOrdId"),
        venue_order_id=text_field(row, "ordId"),
        instrument_id=iid,
        side=Side(side),
        status=_STATUS[state],
        qty=filled if quote_sized else base_qty_field(row, "sz", multipliers),
        filled_qty=filled,
        avg_price=opt_dec_field(row, "avgPx"),
        ts_event_ms=digits_field(row, "uTime"),
    )


def parse_order(payload: object, multipliers: Mapping[str, Decimal]) -> OrderAck:
    """``GET /api/v5/trade/order`` → ``OrderAck``. Fixture ``order_details.json``.

    Raises
    ------
    ProtocolError
        See :func:`order_from_row`; error envelope → its venue error (``51603`` not found).
    """
    return order_from_row(first_data_row(payload), multipliers)


# --- account -----------------------------------------------------------------------------


def _position(row: Row, multipliers: Mapping[str, Decimal]) -> Position:
    iid = row_instrument_id(row)
    qty = base_qty_field(row, "pos", multipliers)
    pos_side = str_field(row, "posSide")
    if pos_side not in ("net", "long", "short"):
        raise payload_error(f"field 'posSide' is {pos_side!r}")
    if pos_side != "net":
        qty = abs(qty) if pos_side == "long" else -abs(qty)
    return Position(
        instrument_id=iid,
        qty=qty,
        entry_price=opt_dec_field(row, "avgPx") or ZERO,
        mark_price=opt_dec_field(row, "markPx") or ZERO,
        ts_event_ms=digits_field(row, "uTime"),
        liquidation_price=liquidation_price_or_none(opt_dec_field(row, "liqPx")),
    )


def parse_positions(payload: object, multipliers: Mapping[str, Decimal]) -> list[Position]:
    """``GET /api/v5/account/positions`` → signed base-unit positions.

    ``pos`` counts contracts (signed in net mode); in long/short mode the sign comes from
    ``posSide``. Empty ``avgPx``/``markPx`` (flat) give 0; ``liqPx`` is the estimated
    liquidation price (quote units; ``""`` → None). Fixture ``positions.json`` (doc sample is
    a FUTURES row; SWAP rows share the keys; OKX "Get positions",
    https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-positions).

    Raises
    ------
    ProtocolError
        Missing or malformed field, unsupported ``instType``, unknown contract multiplier.
    """
    return [_position(row, multipliers) for row in data_rows(payload)]


def parse_balances(payload: object) -> list[Balance]:
    """``GET /api/v5/account/balance`` ``details[]`` → one ``Balance`` per currency.

    ``total`` = ``cashBal``; ``available`` = ``availBal`` (``availEq`` when empty, as in
    some account modes). Fixture ``balance.json``.

    Raises
    ------
    ProtocolError
        Missing or malformed field.
    """
    details = first_data_row(payload).get("details")
    if not isinstance(details, list):
        raise payload_error("field 'details' is not an array")
    out = []
    for i, item in enumerate(details):
        row = as_object(item, f"details[{i}]")
        available = opt_dec_field(row, "availBal")
        out.append(
            Balance(
                venue=c.VENUE,
                asset=text_field(row, "ccy"),
                total=dec_field(row, "cashBal"),
                available=available if available is not None else dec_field(row, "availEq"),
                ts_event_ms=digits_field(row, "uTime"),
            )
        )
    return out


def _find_rate(iid: InstrumentId, ts_ms: int, rates: Sequence[FundingRate]) -> FundingRate:
    for rate in rates:
        near = abs(rate.ts_funding_ms - ts_ms) <= FUNDING_MATCH_TOLERANCE_MS
        if rate.instrument_id == iid and near:
            return rate
    raise payload_error(f"no funding rate of {iid} settled near bill 'ts' {ts_ms}")


def _funding_payment(
    row: Row, multipliers: Mapping[str, Decimal], rates: Sequence[FundingRate]
) -> FundingPayment:
    sub_type, iid, ts_ms = (
        str_field(row, "subType"),
        row_instrument_id(row),
        digits_field(row, "ts"),
    )
    if sub_type not in (c.BILL_SUBTYPE_FUNDING_EXPENSE, c.BILL_SUBTYPE_FUNDING_INCOME):
        raise payload_error(f"field 'subType' is {sub_type!r} on a funding bill")
    amount = abs(dec_field(row, "pnl"))
    amount = -amount if sub_type == c.BILL_SUBTYPE_FUNDING_EXPENSE else amount
    rate = _find_rate(iid, ts_ms, rates)
    size = abs(base_qty_field(row, "sz", multipliers))
    rate_dec = Decimal(repr(rate.rate))
    # longs pay when the rate is positive: the position's sign is −sign(amount × rate)
    qty = -size if amount * rate_dec > 0 else size
    mark = abs(amount) / (abs(rate_dec) * size) if rate_dec and size else dec_field(row, "px")
    return FundingPayment(iid, ts_ms, rate.rate, rate.interval_s, qty, mark, amount)


def parse_funding_payments(
    payload: object, multipliers: Mapping[str, Decimal], rates: Sequence[FundingRate]
) -> list[FundingPayment]:
    """Funding bills of ``GET /api/v5/account/bills?type=8`` (other bill types skipped).

    Amount from ``pnl``, signed by ``subType`` (173 expense → negative, 174 income →
    positive). Bills carry no rate: it is taken from ``rates`` (funding-rate history) by
    instrument and settlement time (±60 s). ``sz`` is the position in contracts; the
    position's sign and the settlement mark price follow from
    ``amount = −rate × qty × mark`` (``px`` when the rate is zero). Dedupe on ``billId``
    upstream. Fixture ``bills.json`` (a trade bill; funding bills share the shape).

    Raises
    ------
    ProtocolError
        Malformed field, or no matching rate in ``rates``.
    """
    return [
        _funding_payment(row, multipliers, rates)
        for row in data_rows(payload)
        if row.get("type") == c.BILL_TYPE_FUNDING
    ]


def parse_spot_holdings(payload: object, spot_ids: Mapping[str, InstrumentId]) -> list[Position]:
    """Non-zero ``details[]`` of ``GET /api/v5/account/balance`` whose currency has a spot
    instrument in ``spot_ids`` (currency → ``okx:spot:<CCY>-USDT``) as long positions.

    ``qty`` = ``cashBal`` (base units); ``mark_price`` = ``eqUsd / eq`` (USD per unit, 0 when
    ``eq`` is 0); ``entry_price`` = ``accAvgPx`` (OKX's average spot cost) when given, else
    the mark. Fixture ``balance.json`` (its only row is USDT, the quote: no holding).

    Raises
    ------
    ProtocolError
        Missing or malformed field.
    """
    details = first_data_row(payload).get("details")
    if not isinstance(details, list):
        raise payload_error("field 'details' is not an array")
    out = []
    for i, item in enumerate(details):
        row = as_object(item, f"details[{i}]")
        iid = spot_ids.get(text_field(row, "ccy"))
        qty = dec_field(row, "cashBal") if iid is not None else ZERO
        if iid is None or qty == 0:
            continue
        equity = dec_field(row, "eq")
        mark = dec_field(row, "eqUsd") / equity if equity else ZERO
        entry = opt_dec_field(row, "accAvgPx") if "accAvgPx" in row else None
        out.append(Position(iid, qty, entry or mark, mark, digits_field(row, "uTime")))
    return out
