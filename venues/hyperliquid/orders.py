"""The order boundary: our ``OrderRequest`` → a Hyperliquid order wire, checked and rounded here.

Client order ids (Hyperliquid "Exchange endpoint" → "Place an order",
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint): a cloid is
``"0x"`` + 32 hex digits (16 bytes). The agent's ids are 32 hex digits
(``agent.execution.executor.client_order_id``) and map one-to-one (``0x`` + the id, lower case). Any
other id (``"contract-1"``) is hashed: ``0x`` + the first 32 hex digits of its SHA-256 —
deterministic, so a lookup after a restart finds the same order, but one-way: the venue echoes only
the cloid, so the venue client keeps the reverse map for ids it has seen (:class:`CloidMap`).

Tick and lot ("Tick and lot size"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/tick-and-lot-size): a size has at
most ``szDecimals`` decimals; a price at most 5 significant figures and ``6 − szDecimals`` decimals
(integers always allowed); order value ≥ $10. Sizes and limit prices off those rules raise
:class:`~venues.errors.InvalidOrder` before anything is sent (sizes are never rounded silently: the
caller sized the hedge).

Market orders do not exist on Hyperliquid (the order types of "Place an order" are limit and
trigger orders): like the official SDK we send an **IOC limit
order at mid × (1 ± slippage)**, rounded to the price rule towards the mid, so a market order
never fills worse than ``slippage_frac`` from the mid it was priced from (default 5 %, the
SDK's ``DEFAULT_SLIPPAGE``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Final

from venues.errors import InvalidOrder
from venues.hyperliquid import constants as c
from venues.hyperliquid.auth import Tif, order_wire, to_cloid
from venues.hyperliquid.parse import PerpAsset, price_tick, round_price
from venues.model import OrderAck, OrderRequest, OrderType, Side, TimeInForce

DEFAULT_MARKET_SLIPPAGE_FRAC: Final = Decimal("0.05")
"""Bound of a market order's IOC limit price from the mid, fraction (SDK default 5 %)."""

_HEX32_RE = re.compile(r"^(0x)?[0-9a-fA-F]{32}$")


_TIFS: dict[TimeInForce, Tif] = {
    TimeInForce.GTC: "Gtc",
    TimeInForce.IOC: "Ioc",
    TimeInForce.POST_ONLY: "Alo",
}


def cloid_for(client_order_id: str) -> str:
    """The cloid (``"0x"`` + 32 lower-case hex digits) sent for ``client_order_id``.

    32 hex digits (optionally ``0x``-prefixed) map one-to-one; any other non-empty id is
    hashed (first 16 bytes of SHA-256 of its UTF-8 bytes).

    Raises
    ------
    ValueError
        If ``client_order_id`` is empty.
    """
    if not client_order_id:
        raise ValueError("client order id must not be empty")
    if _HEX32_RE.match(client_order_id):
        return to_cloid(client_order_id)
    digest = hashlib.sha256(client_order_id.encode()).hexdigest()
    return c.CLOID_PREFIX + digest[: c.CLOID_HEX_DIGITS]


class CloidMap:
    """Reverse map cloid hex digits → our client order id, for ids hashed by :func:`cloid_for`.

    The parsers give ``client_order_id`` as the cloid's 32 hex digits; :meth:`restore` turns
    them back into the id the caller used, when this process has seen it (else unchanged).
    """

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def cloid(self, client_order_id: str) -> str:
        """:func:`cloid_for`, remembering the reverse mapping."""
        cloid = cloid_for(client_order_id)
        self._ids[cloid.removeprefix(c.CLOID_PREFIX)] = client_order_id
        return cloid

    def our_id(self, hex_digits: str) -> str:
        """Our id for the cloid digits of a payload (the digits themselves if unknown)."""
        return self._ids.get(hex_digits, hex_digits)

    def restore(self, ack: OrderAck) -> OrderAck:
        """``ack`` with our client order id on it and on its fills."""
        our = self.our_id(ack.client_order_id)
        fills = tuple(replace(f, client_order_id=our) for f in ack.fills)
        return replace(ack, client_order_id=our, fills=fills)


def _invalid(request: OrderRequest, reason: str) -> InvalidOrder:
    return InvalidOrder(
        f"hyperliquid: {reason}",
        venue=c.VENUE,
        client_order_id=request.client_order_id,
        reason=reason,
        code="invalid_order",
    )


def check_size(request: OrderRequest, asset: PerpAsset) -> None:
    """Raise :class:`InvalidOrder` unless ``request.qty`` is positive with at most
    ``szDecimals`` decimals (coins)."""
    lot = Decimal(1).scaleb(-asset.sz_decimals)
    if request.qty <= 0:
        raise _invalid(request, f"size must be positive, got {request.qty}")
    if request.qty % lot != 0:
        raise _invalid(
            request,
            f"size {request.qty} is not a multiple of {lot} (szDecimals {asset.sz_decimals})",
        )


def check_price(request: OrderRequest, price: Decimal, asset: PerpAsset) -> None:
    """Raise :class:`InvalidOrder` unless ``price`` (USDC) follows the price rule."""
    if not price.is_finite() or price <= 0:
        raise _invalid(request, f"price must be positive, got {price}")
    tick = price_tick(price, asset.sz_decimals)
    if price % tick != 0:
        raise _invalid(
            request,
            f"price {price} breaks the 5 significant figures / {6 - asset.sz_decimals} "
            f"decimals rule (tick {tick} at this price)",
        )


def market_price(side: Side, mid: Decimal, asset: PerpAsset, slippage_frac: Decimal) -> Decimal:
    """IOC limit price of a market order: ``mid × (1 ± slippage_frac)`` on the price rule,
    rounded towards the mid (down for a buy, up for a sell), USDC."""
    bound = mid * (1 + side.sign * slippage_frac)
    return round_price(bound, asset.sz_decimals, ROUND_FLOOR if side is Side.BUY else ROUND_CEILING)


def build_order_wire(
    request: OrderRequest,
    asset: PerpAsset,
    cloid: str,
    *,
    mid: Decimal | None,
    slippage_frac: Decimal = DEFAULT_MARKET_SLIPPAGE_FRAC,
) -> dict[str, Any]:
    """Check ``request`` and build its order wire (``{"a","b","p","s","r","t","c"}``).

    Parameters
    ----------
    request : OrderRequest
        MARKET (sent as IOC at the slippage bound) or LIMIT (IOC, GTC or post-only ``Alo``,
        "add liquidity only", at ``limit_price``; "Exchange endpoint",
        https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint).
    asset : PerpAsset
        The coin's universe entry (asset index, ``szDecimals``).
    cloid : str
        From :func:`cloid_for`.
    mid : Decimal | None
        Current mid, USDC; required for MARKET orders.
    slippage_frac : Decimal
        Market order bound from ``mid``, fraction.

    Raises
    ------
    InvalidOrder
        Size off the lot, price off the rule, order value below $10 (at the mid for a
        market order; not checked for reduce-only orders, which the venue judges), LIMIT
        without price.
    ValueError
        If a MARKET order comes without ``mid``.
    """
    check_size(request, asset)
    tif: Tif
    if request.order_type is OrderType.MARKET:
        if mid is None:
            raise ValueError("a market order needs the current mid")
        price, tif, value_px = market_price(request.side, mid, asset, slippage_frac), "Ioc", mid
    else:
        if request.limit_price is None:
            raise _invalid(request, "a LIMIT order needs limit_price")
        price = value_px = request.limit_price
        tif = _TIFS[request.time_in_force]
    check_price(request, price, asset)
    if request.qty * value_px < c.MIN_ORDER_NOTIONAL_USD and not request.reduce_only:
        raise _invalid(
            request,
            f"order value {request.qty * value_px:.2f} USDC is below the $10 minimum",
        )
    return order_wire(
        asset.asset,
        request.side is Side.BUY,
        price,
        request.qty,
        reduce_only=request.reduce_only,
        tif=tif,
        cloid=cloid,
    )
