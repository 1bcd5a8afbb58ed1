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
)
from venues.okx import constants as c
from venues.okx._fields import (
    _ZERO,
    Row,
    _bad,
    _base_qty,
    _dec,
    _ms,
    _nonempty,
    _one,
    _opt_dec,
    _row,
    _row_id,
    _rows,
    _str,
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
    envelope = _row(payload, "payload")
    data = envelope.get("data")
    if envelope.get("code") not in c.WRITE_RESULT_CODES:
        raise error_from_payload(envelope, c.VENUE)
    if not isinstance(data, list) or not data:
        raise _bad(f"field 'data' of a write result is {data!r}, expected a non-empty array")
    results: list[WriteResult | VenueError] = []
    for i, item in enumerate(data):
        row = _row(item, f"data[{i}]")
        if _nonempty(row, "sCode") == c.CODE_OK:
            ts_ms = _ms(row, "ts")
            results.append(WriteResult(_nonempty(row, "ordId"), _str(row, "clOrdId"), ts_ms))
        else:
            sent = client_order_ids[i] if i < len(client_order_ids) else ""
            single = {"code": _str(row, "sCode"), "msg": _str(row, "sMsg"), "data": []}
            results.append(error_from_payload(single, c.VENUE, _str(row, "clOrdId") or sent))
    return results


def _new_ack(result: WriteResult, request: OrderRequest) -> OrderAck:
    if result.client_order_id not in ("", request.client_order_id):
        raise _bad(f"field 'clOrdId' is {result.client_order_id!r}, sent a different id")
    return OrderAck(
        client_order_id=request.client_order_id,
        venue_order_id=result.venue_order_id,
        instrument_id=request.instrument_id,
        side=request.side,
        status=OrderStatus.NEW,
        qty=request.qty,
        filled_qty=_ZERO,
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
        raise _bad(f"field 'data' has {len(results)} items, expected {n}")
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
    iid, state, side = _row_id(row), _str(row, "state"), _str(row, "side")
    if state not in _STATUS or side not in ("buy", "sell"):
        raise _bad(f"field 'state'/'side' is {state!r}/{side!r}")
    filled = _base_qty(row, "accFillSz", multipliers)
    quote_sized = row.get("tgtCcy") == "quote_ccy" and row.get("instType") == c.INST_TYPE_SPOT
    return OrderAck(
        client_order_id=_str(row, "clOrdId"),
        venue_order_id=_nonempty(row, "ordId"),
        instrument_id=iid,
        side=Side(side),
        status=_STATUS[state],
        qty=filled if quote_sized else _base_qty(row, "sz", multipliers),
        filled_qty=filled,
        avg_price=_opt_dec(row, "avgPx"),
        ts_event_ms=_ms(row, "uTime"),
    )


def parse_order(payload: object, multipliers: Mapping[str, Decimal]) -> OrderAck:
    """``GET /api/v5/trade/order`` → ``OrderAck``. Fixture ``order_details.json``.

    Raises
    ------
    ProtocolError
        See :func:`order_from_row`; error envelope → its venue error (``51603`` not found).
    """
    return order_from_row(_one(payload), multipliers)


# --- account -----------------------------------------------------------------------------


def _position(row: Row, multipliers: Mapping[str, Decimal]) -> Position:
    iid = _row_id(row)
    qty = _base_qty(row, "pos", multipliers)
    pos_side = _str(row, "posSide")
    if pos_side not in ("net", "long", "short"):
        raise _bad(f"field 'posSide' is {pos_side!r}")
    if pos_side != "net":
        qty = abs(qty) if pos_side == "long" else -abs(qty)
    return Position(
        instrument_id=iid,
        qty=qty,
        entry_price=_opt_dec(row, "avgPx") or _ZERO,
        mark_price=_opt_dec(row, "markPx") or _ZERO,
        ts_event_ms=_ms(row, "uTime"),
    )


def parse_positions(payload: object, multipliers: Mapping[str, Decimal]) -> list[Position]:
    """``GET /api/v5/account/positions`` → signed base-unit positions.

    ``pos`` counts contracts (signed in net mode); in long/short mode the sign comes from
    ``posSide``. Empty ``avgPx``/``markPx`` (flat) give 0. Fixture ``positions.json`` (doc
    sample is a FUTURES row; SWAP rows share the keys).

    Raises
    ------
    ProtocolError
        Missing or malformed field, unsupported ``instType``, unknown contract multiplier.
    """
    return [_position(row, multipliers) for row in _rows(payload)]


def parse_balances(payload: object) -> list[Balance]:
    """``GET /api/v5/account/balance`` ``details[]`` → one ``Balance`` per currency.

    ``total`` = ``cashBal``; ``available`` = ``availBal`` (``availEq`` when empty, as in
    some account modes). Fixture ``balance.json``.

    Raises
    ------
    ProtocolError
        Missing or malformed field.
    """
    details = _one(payload).get("details")
    if not isinstance(details, list):
        raise _bad("field 'details' is not an array")
    out = []
    for i, item in enumerate(details):
        row = _row(item, f"details[{i}]")
        available = _opt_dec(row, "availBal")
        out.append(
            Balance(
                venue=c.VENUE,
                asset=_nonempty(row, "ccy"),
                total=_dec(row, "cashBal"),
                available=available if available is not None else _dec(row, "availEq"),
                ts_event_ms=_ms(row, "uTime"),
            )
        )
    return out


def _find_rate(iid: InstrumentId, ts_ms: int, rates: Sequence[FundingRate]) -> FundingRate:
    for rate in rates:
        near = abs(rate.ts_funding_ms - ts_ms) <= FUNDING_MATCH_TOLERANCE_MS
        if rate.instrument_id == iid and near:
            return rate
    raise _bad(f"no funding rate of {iid} settled near bill 'ts' {ts_ms}")


def _funding_payment(
    row: Row, multipliers: Mapping[str, Decimal], rates: Sequence[FundingRate]
) -> FundingPayment:
    sub_type, iid, ts_ms = _str(row, "subType"), _row_id(row), _ms(row, "ts")
    if sub_type not in (c.BILL_SUBTYPE_FUNDING_EXPENSE, c.BILL_SUBTYPE_FUNDING_INCOME):
        raise _bad(f"field 'subType' is {sub_type!r} on a funding bill")
    amount = abs(_dec(row, "pnl"))
    amount = -amount if sub_type == c.BILL_SUBTYPE_FUNDING_EXPENSE else amount
    rate = _find_rate(iid, ts_ms, rates)
    size = abs(_base_qty(row, "sz", multipliers))
    rate_dec = Decimal(repr(rate.rate))
    # longs pay when the rate is positive: the position's sign is −sign(amount × rate)
    qty = -size if amount * rate_dec > 0 else size
    mark = abs(amount) / (abs(rate_dec) * size) if rate_dec and size else _dec(row, "px")
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
        for row in _rows(payload)
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
    details = _one(payload).get("details")
    if not isinstance(details, list):
        raise _bad("field 'details' is not an array")
    out = []
    for i, item in enumerate(details):
        row = _row(item, f"details[{i}]")
        iid = spot_ids.get(_nonempty(row, "ccy"))
        qty = _dec(row, "cashBal") if iid is not None else _ZERO
        if iid is None or qty == 0:
            continue
        equity = _dec(row, "eq")
        mark = _dec(row, "eqUsd") / equity if equity else _ZERO
        entry = _opt_dec(row, "accAvgPx") if "accAvgPx" in row else None
        out.append(Position(iid, qty, entry or mark, mark, _ms(row, "uTime")))
    return out
