"""``OrderRequest`` → Binance USDⓈ-M order params ("New Order",
https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api).

A post-only order (``TimeInForce.POST_ONLY``) is ``type=LIMIT`` with ``timeInForce=GTX``
("Good Till Crossing", the USD-M post-only; refused with ``-5022`` when it would take,
https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code)."""

from __future__ import annotations

from decimal import Decimal

from venues.binance import constants as c
from venues.binance.auth import ParamValue
from venues.errors import InvalidOrder
from venues.model import OrderRequest, OrderType, Side, TimeInForce

_SIDES = {Side.BUY: "BUY", Side.SELL: "SELL"}
_TIME_IN_FORCE = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.POST_ONLY: "GTX"}


def _decimal_text(value: Decimal) -> str:
    """Plain notation (``0.001``, never ``1E-3``) for order params."""
    return format(value.normalize(), "f")


def order_params(request: OrderRequest) -> dict[str, ParamValue]:
    """``OrderRequest`` → ``POST /fapi/v1/order`` params ("New Order", module docstring).

    MARKET, or LIMIT with ``timeInForce`` (IOC/GTC; ``GTX`` for post-only) and ``price``;
    ``quantity`` base units; ``newClientOrderId`` = our id; ``newOrderRespType=RESULT`` so
    the answer carries status, filled quantity and average price.

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
        params["timeInForce"] = _TIME_IN_FORCE[request.time_in_force]
        params["price"] = _decimal_text(request.limit_price)
    if request.reduce_only:
        params["reduceOnly"] = True
    params["newClientOrderId"] = cid
    params["newOrderRespType"] = "RESULT"
    return params
