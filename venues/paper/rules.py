"""Order rules of the paper venue: Binance error codes, the form and filter checks, and the
taker price (slippage, then rounding to the tick against the taker).

Moved from :mod:`venues.paper.venue` (see its "Execution model" section). The codes are those
Binance returns in ``OrderRejected.code`` (Binance spot and USD-M "Error Codes" pages); the
client order id rule is Binance's ``newClientOrderId`` pattern; the filters are its
``LOT_SIZE``, ``PRICE_FILTER`` and ``NOTIONAL``. Pure functions: no venue state.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from venues.model import Instrument, OrderRequest, OrderType, Side, TimeInForce

BPS = Decimal("0.0001")
# Binance's client order id rule (spot and USD-M ``newClientOrderId``).
CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")

# Binance error codes mirrored in ``OrderRejected.code``.
CODE_ILLEGAL_CHARS = "-1100"
CODE_MANDATORY_PARAM = "-1102"
CODE_NOT_REQUIRED = "-1106"
CODE_BAD_TIF = "-1115"
CODE_BAD_SYMBOL = "-1121"
CODE_FILTER = "-1013"  # filter failure: LOT_SIZE / PRICE_FILTER / NOTIONAL
CODE_BALANCE = "-2010"  # spot: account has insufficient balance
CODE_MARGIN = "-2019"  # futures: margin is insufficient
CODE_REDUCE_ONLY = "-2022"
CODE_DUPLICATE_ID = "-4116"
CODE_POST_ONLY_CROSS = "-5022"  # USD-M: GTX (post-only) order would take liquidity


def shape_problem(request: OrderRequest, inst: Instrument) -> tuple[str, str] | None:
    """First violation of the order's form or the instrument's filters: ``(code, reason)``."""
    if not CLIENT_ID_RE.match(request.client_order_id):
        return CODE_ILLEGAL_CHARS, "client order id must match ^[.A-Z:/a-z0-9_-]{1,36}$"
    if request.order_type is OrderType.MARKET and request.limit_price is not None:
        return CODE_NOT_REQUIRED, "limit_price sent with a market order"
    if request.order_type is OrderType.LIMIT:
        if request.time_in_force is TimeInForce.GTC:
            return CODE_BAD_TIF, "GTC is not supported: the paper venue rests post-only orders only"
        if request.limit_price is None:
            return CODE_MANDATORY_PARAM, "limit order without limit_price"
        if request.limit_price <= 0 or request.limit_price % inst.tick_size != 0:
            return CODE_FILTER, f"PRICE_FILTER: {request.limit_price} off tick {inst.tick_size}"
    if request.qty < inst.min_qty or request.qty <= 0:
        return CODE_FILTER, f"LOT_SIZE: qty {request.qty} below min qty {inst.min_qty}"
    if request.qty % inst.lot_step != 0:
        return CODE_FILTER, f"LOT_SIZE: qty {request.qty} off lot step {inst.lot_step}"
    return None


def notional_problem(
    request: OrderRequest, inst: Instrument, price: Decimal
) -> tuple[str, str] | None:
    """``(code, reason)`` if ``qty × (limit or current price)`` is below the min notional."""
    notional = request.qty * (request.limit_price or price)
    if notional < inst.min_notional_usd:
        return CODE_FILTER, f"NOTIONAL: {notional} below min notional {inst.min_notional_usd}"
    return None


def reduce_only_problem(request: OrderRequest, held_qty: Decimal) -> tuple[str, str] | None:
    """``(code, reason)`` if a reduce-only order would increase or flip the signed position
    ``held_qty`` (base units); None for orders that are not reduce-only."""
    if not request.reduce_only:
        return None
    if held_qty * request.side.sign >= 0 or request.qty > abs(held_qty):
        reason = f"reduce-only {request.side} {request.qty} would increase position {held_qty}"
        return CODE_REDUCE_ONLY, reason
    return None


def taker_price(side: Side, ref_price: Decimal, slippage_bps: Decimal, tick: Decimal) -> Decimal:
    """``ref × (1 ± slippage)`` rounded to ``tick`` against the taker (up for buys, down for
    sells), quote units; never below one tick."""
    slipped = ref_price * (1 + side.sign * slippage_bps * BPS)
    rounding = ROUND_CEILING if side is Side.BUY else ROUND_FLOOR
    ticks = (slipped / tick).to_integral_value(rounding=rounding)
    return max(ticks, Decimal(1)) * tick


def post_only_crosses(request: OrderRequest, price: Decimal) -> bool:
    """Whether a post-only ``request`` would take liquidity at the current ``price`` (the
    paper book has no spread: bid = ask = price): a buy limit above it, a sell limit below
    it. A limit at the price joins the touch."""
    assert request.limit_price is not None  # checked by shape_problem
    if request.side is Side.BUY:
        return request.limit_price > price
    return request.limit_price < price


def maker_fill_qty(
    request: OrderRequest,
    remaining_qty: Decimal,
    low: Decimal,
    high: Decimal,
    capacity_qty: Decimal,
    inst: Instrument,
) -> Decimal:
    """Base units a resting limit ``request`` fills from one later bar: none unless the bar
    traded THROUGH the limit by more than one tick (``low < limit − tick`` for a buy,
    ``high > limit + tick`` for a sell); then ``min(remaining_qty, capacity_qty)`` rounded
    down to the lot step (``capacity_qty``: the bar's volume share still free for makers)."""
    limit = request.limit_price
    assert limit is not None
    tick = inst.tick_size
    through = low < limit - tick if request.side is Side.BUY else high > limit + tick
    if not through or capacity_qty <= 0:
        return Decimal(0)
    qty = min(remaining_qty, capacity_qty)
    return (qty / inst.lot_step).to_integral_value(rounding=ROUND_FLOOR) * inst.lot_step


def within_limit(request: OrderRequest, price: Decimal) -> bool:
    """Whether a fill at ``price`` respects the request's limit (always for market orders)."""
    if request.limit_price is None:
        return True
    limit = request.limit_price
    return price <= limit if request.side is Side.BUY else price >= limit
