"""Order boundary of the OKX adapter: client order ids, base units ↔ contracts, fills.

* ``clOrdId`` allows only ``[A-Za-z0-9]{1,32}`` (OKX API v5 "Place order"
  https://www.okx.com/docs-v5/en/#order-book-trading-trade-post-place-order). zerobeta's ids (32
  lowercase hex, ``agent.execution.executor.client_order_id``) are sent as they are; any other id is
  sent as ``"Z" + base62(0x01 + utf-8)`` (:func:`encode_client_order_id`), which
  :func:`decode_client_order_id` reverses, so every order the venue reports maps back to the
  id the caller chose. Ids too long for that escape are refused before sending.
* Our quantities are base units; an order on a SWAP sends ``sz`` in contracts
  (``qty / (ctVal × ctMult)``), and must be a whole multiple of the lot step ``lotSz × ctVal``
  base units and at least ``minSz × ctVal``, else :class:`~venues.errors.InvalidOrder` names
  the step. SPOT orders send base units (``tgtCcy=base_ccy`` so market buys are sized in
  base currency, not the quote default).
* Fills come from ``GET /api/v5/trade/fills`` (``fillSz`` contracts for SWAP).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from venues.errors import InvalidOrder
from venues.model import (
    Fill,
    Instrument,
    InstrumentKind,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
    base_asset,
)
from venues.okx import constants as c
from venues.okx.fields import (
    base_qty_field,
    data_rows,
    dec_field,
    digits_field,
    payload_error,
    row_instrument_id,
    str_field,
    text_field,
)

_ESCAPE = "Z"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SENTINEL = b"\x01"  # keeps leading zero bytes through the integer conversion
_QUOTE_ASSETS = frozenset({"USDT", "USDC", "USD"})


def _base62(raw: bytes) -> str:
    number, digits = int.from_bytes(_SENTINEL + raw, "big"), []
    while number:
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def _unbase62(text: str) -> bytes | None:
    number = 0
    for char in text:
        index = _BASE62.find(char)
        if index < 0:
            return None
        number = number * 62 + index
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return raw[1:] if raw.startswith(_SENTINEL) else None


def encode_client_order_id(client_order_id: str) -> str:
    """Our client order id → an OKX ``clOrdId`` (see module docstring).

    Raises
    ------
    InvalidOrder
        If the id is empty or its escaped form exceeds 32 characters (ids of up to 22
        UTF-8 bytes always fit).
    """
    valid = c.CLIENT_ORDER_ID_PATTERN.match(client_order_id) is not None
    if valid and not client_order_id.startswith(_ESCAPE):
        return client_order_id
    escaped = _ESCAPE + _base62(client_order_id.encode())
    if not client_order_id or len(escaped) > c.CLIENT_ORDER_ID_MAX_LEN:
        reason = (
            f"client order id {client_order_id!r} is neither 1-32 alphanumerics nor short "
            "enough to escape into 32"
        )
        raise InvalidOrder(
            f"okx: {reason}", venue=c.VENUE, client_order_id=client_order_id, reason=reason
        )
    return escaped


def decode_client_order_id(cl_ord_id: str) -> str:
    """An OKX ``clOrdId`` → our client order id (inverse of :func:`encode_client_order_id`;
    an id set outside zerobeta that merely looks escaped is returned unchanged)."""
    if not cl_ord_id.startswith(_ESCAPE):
        return cl_ord_id
    raw = _unbase62(cl_ord_id[len(_ESCAPE) :])
    try:
        return cl_ord_id if raw is None else raw.decode()
    except UnicodeDecodeError:
        return cl_ord_id


def with_client_order_id(ack: OrderAck, client_order_id: str) -> OrderAck:
    """``ack`` and its fills carrying our ``client_order_id``."""
    fills = tuple(dataclasses.replace(f, client_order_id=client_order_id) for f in ack.fills)
    return dataclasses.replace(ack, client_order_id=client_order_id, fills=fills)


def decoded(ack: OrderAck) -> OrderAck:
    """``ack`` with its venue ``clOrdId`` decoded (see :func:`decode_client_order_id`)."""
    return with_client_order_id(ack, decode_client_order_id(ack.client_order_id))


_ORD_TYPES = {TimeInForce.GTC: "limit", TimeInForce.IOC: "ioc", TimeInForce.POST_ONLY: "post_only"}


def _text(value: Decimal) -> str:
    """Plain notation (``0.001``, never ``1E-3``)."""
    return format(value.normalize(), "f")


def _invalid(request: OrderRequest, reason: str) -> InvalidOrder:
    return InvalidOrder(
        f"okx: {reason}", venue=c.VENUE, client_order_id=request.client_order_id, reason=reason
    )


def order_size(request: OrderRequest, instrument: Instrument) -> Decimal:
    """``sz`` to send: contracts for a SWAP, base units for SPOT.

    Raises
    ------
    InvalidOrder
        If ``qty`` is not positive, not a whole multiple of ``instrument.lot_step`` (base
        units; ``lotSz × ctVal`` on a SWAP) or below ``instrument.min_qty``.
    """
    qty, step = request.qty, instrument.lot_step
    if qty <= 0:
        raise _invalid(request, f"quantity must be positive, got {qty}")
    if qty % step != 0:
        raise _invalid(
            request, f"quantity {qty} is not a multiple of the lot step {step} base units"
        )
    if qty < instrument.min_qty:
        raise _invalid(
            request, f"quantity {qty} is below the minimum {instrument.min_qty} base units"
        )
    if instrument.id.kind is InstrumentKind.PERP:
        return qty / instrument.contract_multiplier
    return qty


def order_body(request: OrderRequest, instrument: Instrument) -> dict[str, Any]:
    """``OrderRequest`` → ``POST /api/v5/trade/order`` body ("Place order", module docstring).

    SWAP: ``tdMode=cross``, ``sz`` contracts, ``reduceOnly`` when set (net mode). SPOT:
    ``tdMode=cash``, ``sz`` base units with ``tgtCcy=base_ccy``. MARKET → ``market``; LIMIT
    GTC → ``limit``, LIMIT IOC → ``ioc``, LIMIT post-only → ``post_only`` (OKX cancels it at
    once when it would take liquidity, "Place order",
    https://www.okx.com/docs-v5/en/#order-book-trading-trade-post-place-order), each with
    ``px``. ``clOrdId`` per
    :func:`encode_client_order_id`.

    Raises
    ------
    InvalidOrder
        See :func:`order_size` and :func:`encode_client_order_id`; a LIMIT order without a
        positive price; reduce-only on SPOT.
    """
    is_perp = instrument.id.kind is InstrumentKind.PERP
    body: dict[str, Any] = {
        "instId": request.instrument_id.symbol,
        "tdMode": c.MGN_MODE_CROSS if is_perp else c.TD_MODE_CASH,
        "clOrdId": encode_client_order_id(request.client_order_id),
        "side": request.side.value,
        "ordType": "market",
        "sz": _text(order_size(request, instrument)),
    }
    if not is_perp:
        body["tgtCcy"] = "base_ccy"
    if request.order_type is OrderType.LIMIT:
        if request.limit_price is None or request.limit_price <= 0:
            raise _invalid(request, "LIMIT order needs a positive limit_price")
        body["ordType"] = _ORD_TYPES[request.time_in_force]
        body["px"] = _text(request.limit_price)
    if request.reduce_only:
        if not is_perp:
            raise _invalid(request, "reduce-only applies to SWAP orders only")
        body["reduceOnly"] = True
    return body


def _fee_usd(row: Mapping[str, Any], base: str) -> Decimal:
    """Fee paid in USD (positive = paid). OKX ``fee`` is negative when charged."""
    fee, ccy = dec_field(row, "fee"), text_field(row, "feeCcy")
    if ccy in _QUOTE_ASSETS:
        return -fee
    if ccy == base:
        return -fee * dec_field(row, "fillPx")
    raise payload_error(
        f"field 'feeCcy' is {ccy!r}; expected a USD asset or the base asset {base!r}"
    )


def push_fill(row: Mapping[str, Any], multipliers: Mapping[str, Decimal]) -> Fill | None:
    """The latest fill carried by an ``orders`` channel push row (``tradeId``, ``fillSz``,
    ``fillPx``, ``fillFee``/``fillFeeCcy``, ``execType``, ``fillTime``), or ``None`` when the
    push reports no fill. Base units; fee positive USD paid.

    Raises
    ------
    ProtocolError
        Malformed fill fields.
    """
    trade_id = row.get("tradeId")
    if not trade_id or not row.get("fillSz") or dec_field(row, "fillSz") == 0:
        return None
    fee_row = {
        "fee": row.get("fillFee"),
        "feeCcy": row.get("fillFeeCcy"),
        "fillPx": row.get("fillPx"),
    }
    side = str_field(row, "side")
    if side not in ("buy", "sell"):
        raise payload_error(f"field 'side' is {side!r}")
    iid = row_instrument_id(row)
    return Fill(
        instrument_id=iid,
        client_order_id=decode_client_order_id(str_field(row, "clOrdId")),
        venue_order_id=text_field(row, "ordId"),
        trade_id=text_field(row, "tradeId"),
        side=Side(side),
        qty=base_qty_field(row, "fillSz", multipliers),
        price=dec_field(row, "fillPx"),
        fee_usd=_fee_usd(fee_row, base_asset(iid.symbol)),
        liquidity=Liquidity.MAKER if row.get("execType") == "M" else Liquidity.TAKER,
        ts_event_ms=digits_field(row, "fillTime"),
    )


def parse_fills(payload: object, instrument: Instrument) -> tuple[Fill, ...]:
    """``GET /api/v5/trade/fills`` rows → fills in base units, oldest first.

    ``fillSz`` × contract multiplier for a SWAP; ``execType`` ``M`` maker, ``T`` taker; the
    fee (``fee``, negative when charged, in ``feeCcy``) → positive USD paid, valued at
    ``fillPx`` when charged in the base asset. ``client_order_id`` is the decoded
    ``clOrdId``.

    Raises
    ------
    ProtocolError
        Missing or malformed field, a row of another instrument.
    """
    multipliers = {instrument.id.symbol: instrument.contract_multiplier}
    fills = []
    for row in data_rows(payload):
        iid = row_instrument_id(row)
        if iid != instrument.id:
            raise payload_error(f"fill of {iid} in the fills of {instrument.id}")
        side = str_field(row, "side")
        if side not in ("buy", "sell"):
            raise payload_error(f"field 'side' is {side!r}")
        liquidity = Liquidity.MAKER if str_field(row, "execType") == "M" else Liquidity.TAKER
        fills.append(
            Fill(
                instrument_id=iid,
                client_order_id=decode_client_order_id(str_field(row, "clOrdId")),
                venue_order_id=text_field(row, "ordId"),
                trade_id=text_field(row, "tradeId"),
                side=Side(side),
                qty=base_qty_field(row, "fillSz", multipliers),
                price=dec_field(row, "fillPx"),
                fee_usd=_fee_usd(row, instrument.base),
                liquidity=liquidity,
                ts_event_ms=digits_field(row, "ts"),
            )
        )
    return tuple(sorted(fills, key=lambda f: (f.ts_event_ms, f.trade_id)))
