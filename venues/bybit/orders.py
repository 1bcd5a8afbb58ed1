"""Bybit v5 order requests: our ``OrderRequest`` → the ``POST /v5/order/create`` body.

Source: Bybit v5 "Place Order" https://bybit-exchange.github.io/docs/v5/order/create-order, which
also states the ``orderLinkId`` rules (``[0-9A-Za-z_-]``, ≤ 36 chars).
"""

from __future__ import annotations

from decimal import Decimal

from venues.bybit import constants as c
from venues.bybit.auth import ParamValue
from venues.errors import InvalidOrder
from venues.model import InstrumentId, InstrumentKind, OrderRequest, OrderType, Side, TimeInForce

_SIDES = {Side.BUY: "Buy", Side.SELL: "Sell"}


# Post-only is ``timeInForce=PostOnly`` (linear and spot); Bybit accepts such an order and
# cancels it at once when it would take liquidity ("Place Order",
# https://bybit-exchange.github.io/docs/v5/order/create-order).
_TIME_IN_FORCE = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.POST_ONLY: "PostOnly"}


def category_of(instrument_id: InstrumentId) -> str:
    """``linear`` for a perp, ``spot`` for spot."""
    return c.CATEGORY_LINEAR if instrument_id.kind is InstrumentKind.PERP else c.CATEGORY_SPOT


def _decimal_text(value: Decimal) -> str:
    """Plain notation (``0.001``, never ``1E-3``) for order fields."""
    return format(value.normalize(), "f")


def order_body(request: OrderRequest) -> dict[str, ParamValue]:
    """``OrderRequest`` → ``POST /v5/order/create`` body ("Place Order", module docstring).

    ``qty`` base units (spot market orders say so with ``marketUnit=baseCoin``; spot market
    buys would otherwise be a quote amount); ``Limit`` orders carry ``price`` and
    ``timeInForce`` (``IOC``/``GTC``/``PostOnly``); linear orders ``positionIdx=0`` (one-way
    mode) and ``reduceOnly``; ``orderLinkId`` = our client order id.

    Raises
    ------
    InvalidOrder
        If the client order id breaks ``[0-9A-Za-z_-]{1,36}``, the quantity is not positive or
        a LIMIT order has no positive price (checked here, never sent).
    """
    cid = request.client_order_id

    def invalid(reason: str) -> InvalidOrder:
        return InvalidOrder(f"bybit: {reason}", venue=c.VENUE, client_order_id=cid, reason=reason)

    if not c.ORDER_LINK_ID_RE.match(cid):
        raise invalid("client order id does not match ^[0-9A-Za-z_-]{1,36}$")
    if request.qty <= 0:
        raise invalid(f"quantity must be positive, got {request.qty}")
    category = category_of(request.instrument_id)
    body: dict[str, ParamValue] = {
        "category": category,
        "symbol": request.instrument_id.symbol,
        "side": _SIDES[request.side],
        "orderType": "Market" if request.order_type is OrderType.MARKET else "Limit",
        "qty": _decimal_text(request.qty),
    }
    if request.order_type is OrderType.LIMIT:
        if request.limit_price is None or request.limit_price <= 0:
            raise invalid("LIMIT order needs a positive limit_price")
        body["price"] = _decimal_text(request.limit_price)
        body["timeInForce"] = _TIME_IN_FORCE[request.time_in_force]
    elif category == c.CATEGORY_SPOT:
        body["marketUnit"] = "baseCoin"
    if category == c.CATEGORY_LINEAR:
        body["positionIdx"] = 0
        body["reduceOnly"] = request.reduce_only
    body["orderLinkId"] = cid
    return body
