"""Purple Flea order bodies and our own record of the orders sent.

Bodies follow the Purple Flea API (as described in the project's SEEDS, see
``venues/purpleflea/API_NOTES.md``) field for field:

- ``POST /orders``: ``ticker, side (buy/sell), quantity, order_type (market/limit),
  limit_price, metadata``;
- ``POST /perps/order``: ``symbol, side, type, size, venue, reduce_only, leverage, metadata``;
- ``POST /orders/pair``: ``execution_mode: "atomic_pair"``, a strategy tag and two legs
  ``{ticker, side, quantity, order_type, pair_leg: long/short}``.

No client order id field is documented, so ours goes in ``metadata.client_order_id`` (the
pair body has no ``metadata`` at all). Numbers are sent as JSON numbers, base units
(ASSUMPTION, API_NOTES.md §3). What the documented fields cannot express is refused with
``InvalidOrder`` before sending: a perp LIMIT order (no price field), a spot LIMIT order
with IOC (no time-in-force field), ``reduce_only`` on ``/orders``, limit legs in a pair.

Purple Flea documents no order lookup, so :class:`OrderRecord` keeps what we sent and what
came back; a client order id is unique within it (``DuplicateClientOrderId`` otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InvalidOrder,
    OrderRejected,
    RateLimited,
    UnsupportedByVenue,
    VenueError,
)
from venues.model import (
    InstrumentId,
    InstrumentKind,
    OrderAck,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)
from venues.pairs import PairAck
from venues.purpleflea import constants as c

_SIDES = {Side.BUY: c.SIDE_BUY, Side.SELL: c.SIDE_SELL}
_TYPES = {OrderType.MARKET: c.ORDER_TYPE_MARKET, OrderType.LIMIT: c.ORDER_TYPE_LIMIT}


def unsupported(what: str) -> UnsupportedByVenue:
    """The error for an operation the documented API cannot do."""
    return UnsupportedByVenue(
        f"purpleflea: {what}: Purple Flea's API has no such endpoint (SEEDS.md)",
        venue=c.VENUE,
        code="unsupported",
    )


def _invalid(client_order_id: str, reason: str) -> InvalidOrder:
    return InvalidOrder(
        f"purpleflea: {reason}", venue=c.VENUE, client_order_id=client_order_id, reason=reason
    )


def _check_common(request: OrderRequest, kind: InstrumentKind) -> None:
    cid = request.client_order_id
    if not cid:
        raise _invalid(cid, "client order id must not be empty")
    if request.instrument_id.venue != c.VENUE or request.instrument_id.kind is not kind:
        raise _invalid(cid, f"{request.instrument_id} is not a purpleflea {kind.value} instrument")
    if request.qty <= 0:
        raise _invalid(cid, f"quantity must be positive, got {request.qty}")


def spot_order_body(request: OrderRequest) -> dict[str, Any]:
    """``OrderRequest`` (spot) → ``POST /orders`` body.

    Raises ``InvalidOrder`` (never sent) for a non-positive quantity, a LIMIT order without
    a positive price or with IOC, or ``reduce_only``.
    """
    _check_common(request, InstrumentKind.SPOT)
    cid = request.client_order_id
    if request.reduce_only:
        raise _invalid(cid, "POST /orders has no reduce_only field")
    body: dict[str, Any] = {
        "ticker": request.instrument_id.symbol,
        "side": _SIDES[request.side],
        "quantity": float(request.qty),
        "order_type": _TYPES[request.order_type],
    }
    if request.order_type is OrderType.LIMIT:
        if request.limit_price is None or request.limit_price <= 0:
            raise _invalid(cid, "a limit order needs a positive limit_price")
        if request.time_in_force is TimeInForce.IOC:
            raise _invalid(cid, "POST /orders has no time-in-force field: IOC cannot be sent")
        body["limit_price"] = float(request.limit_price)
    body["metadata"] = {c.METADATA_CLIENT_ORDER_ID: cid}
    return body


def perp_order_body(request: OrderRequest, venue: str, leverage: Decimal) -> dict[str, Any]:
    """``OrderRequest`` (perp) → ``POST /perps/order`` body, routed to ``venue`` at
    ``leverage`` ×.

    Raises ``InvalidOrder`` (never sent) for a non-positive quantity or a LIMIT order (the
    endpoint documents ``type`` but no price field).
    """
    _check_common(request, InstrumentKind.PERP)
    if request.order_type is not OrderType.MARKET:
        raise _invalid(request.client_order_id, "POST /perps/order has no price field: market only")
    return {
        "symbol": request.instrument_id.symbol,
        "side": _SIDES[request.side],
        "type": c.ORDER_TYPE_MARKET,
        "size": float(request.qty),
        "venue": venue,
        "reduce_only": request.reduce_only,
        "leverage": float(leverage),
        "metadata": {c.METADATA_CLIENT_ORDER_ID: request.client_order_id},
    }


def pair_legs(
    pair_client_id: str, legs: Sequence[OrderRequest]
) -> tuple[OrderRequest, OrderRequest]:
    """``(long, short)`` of two legs: one BUY (long) and one SELL (short), spot tickers,
    MARKET, positive quantity, distinct client order ids, no ``reduce_only``.

    Raises ``InvalidOrder`` (``client_order_id`` = ``pair_client_id``) otherwise.
    """
    if len(legs) != 2:
        raise _invalid(pair_client_id, f"a pair has exactly two legs, got {len(legs)}")
    by_side = {leg.side: leg for leg in legs}
    if set(by_side) != {Side.BUY, Side.SELL}:
        raise _invalid(pair_client_id, "a pair needs one buy (long) and one sell (short) leg")
    if legs[0].client_order_id == legs[1].client_order_id:
        raise _invalid(pair_client_id, "the two legs need distinct client order ids")
    for leg in legs:
        _check_common(leg, InstrumentKind.SPOT)
        if leg.order_type is not OrderType.MARKET or leg.reduce_only:
            raise _invalid(pair_client_id, "pair legs have no price or reduce_only field")
    return by_side[Side.BUY], by_side[Side.SELL]


def pair_order_body(
    long_leg: OrderRequest, short_leg: OrderRequest, strategy_tag: str
) -> dict[str, Any]:
    """Two checked legs (:func:`pair_legs`) → ``POST /orders/pair`` body."""

    def leg(request: OrderRequest, pair_leg: str) -> dict[str, Any]:
        return {
            "ticker": request.instrument_id.symbol,
            "side": _SIDES[request.side],
            "quantity": float(request.qty),
            "order_type": c.ORDER_TYPE_MARKET,
            "pair_leg": pair_leg,
        }

    return {
        "execution_mode": c.EXECUTION_MODE_ATOMIC_PAIR,
        c.STRATEGY_TAG_FIELD: strategy_tag,
        "legs": [leg(long_leg, c.PAIR_LEG_LONG), leg(short_leg, c.PAIR_LEG_SHORT)],
    }


def provably_not_executed(error: BaseException) -> bool:
    """True when a failed write certainly did not execute: the connection was never made
    (``httpx.ConnectError``: no byte of the request was sent), or the venue answered with
    a refusal (429, 401/403) before acting."""
    if isinstance(error, RateLimited | AuthError):
        return True
    return isinstance(error, VenueError) and isinstance(error.__cause__, httpx.ConnectError)


@dataclass(frozen=True, slots=True)
class Pending:
    """A write whose outcome is unknown: the position change it makes if it executed
    (signed base units per instrument) and the positions we knew before sending it."""

    expected_qty: Mapping[InstrumentId, Decimal]
    baseline_qty: Mapping[InstrumentId, Decimal] | None


class OrderRecord:
    """Our record of the orders and pairs sent to Purple Flea in this process.

    ``acks`` by client order id, ``pairs`` by pair client id, ``pending`` (outcome unknown)
    by client order id or pair client id, and the position per instrument as last read from
    ``/portfolio/positions`` plus our fills since (``None`` before the first read).
    """

    def __init__(self) -> None:
        self.acks: dict[str, OrderAck] = {}
        self.pairs: dict[str, PairAck] = {}
        self.pair_client_ids: dict[str, str] = {}  # venue pair id → our pair client id
        self.pending: dict[str, Pending] = {}
        self.positions_qty: dict[InstrumentId, Decimal] | None = None

    def claim(self, ids: Sequence[str]) -> None:
        """Raise ``DuplicateClientOrderId`` if any id was used before in this record."""
        for cid in ids:
            if cid in self.acks or cid in self.pending or cid in self.pairs:
                raise DuplicateClientOrderId(
                    f"purpleflea: client order id {cid!r} was already sent",
                    venue=c.VENUE,
                    client_order_id=cid,
                    reason="duplicate client order id (checked locally: the API has none)",
                )

    def begin(self, key: str, expected_qty: Mapping[InstrumentId, Decimal]) -> None:
        """Mark ``key`` pending before its write is sent."""
        known = self.positions_qty
        baseline = None if known is None else {i: known.get(i, Decimal(0)) for i in expected_qty}
        self.pending[key] = Pending(dict(expected_qty), baseline)

    def failed(self, key: str, error: VenueError) -> None:
        """The write of ``key`` raised ``error``: forget it when it provably did not execute
        (refused, or never sent: its id is free again); keep it pending otherwise (timeout,
        5xx, an answer we could not parse, a cancellation: the outcome is unknown)."""
        if isinstance(error, OrderRejected) or provably_not_executed(error):
            self.pending.pop(key, None)

    def acked(self, ack: OrderAck) -> None:
        """Store an order's answer and apply its fills to the known positions."""
        self.pending.pop(ack.client_order_id, None)
        self.acks[ack.client_order_id] = ack
        self._apply(ack)

    def pair_acked(self, pair: PairAck) -> None:
        """Store a pair's answer (open or close) and apply both legs' fills; the first answer
        for a venue pair id (the open) names it in ``pair_client_ids``."""
        self.pending.pop(pair.pair_client_id, None)
        self.pairs[pair.pair_client_id] = pair
        self.pair_client_ids.setdefault(pair.pair_id, pair.pair_client_id)
        for leg in pair.legs:
            self.acks[leg.client_order_id] = leg
            self._apply(leg)

    def sync_positions(self, positions: Mapping[InstrumentId, Decimal]) -> None:
        """Adopt the venue's positions (signed base units) as the known state."""
        self.positions_qty = dict(positions)

    def _apply(self, ack: OrderAck) -> None:
        if self.positions_qty is None:
            return
        delta = ack.side.sign * ack.filled_qty
        iid = ack.instrument_id
        self.positions_qty[iid] = self.positions_qty.get(iid, Decimal(0)) + delta


def positions_finding(pending: Pending, now_qty: Mapping[InstrumentId, Decimal]) -> str:
    """What the positions say about a write of unknown outcome (for the error message)."""
    if not pending.expected_qty:
        return "its legs are not in our record"
    now = {i: now_qty.get(i, Decimal(0)) for i in pending.expected_qty}
    if pending.baseline_qty is None:
        return f"positions now {_fmt(now)}, before it unknown"
    base = pending.baseline_qty
    if all(now[i] == base[i] + d for i, d in pending.expected_qty.items()):
        return f"positions moved by exactly its quantity {_fmt(now)}: it very likely filled"
    if all(now[i] == base[i] for i in now):
        return f"positions unchanged {_fmt(now)}: not executed yet, but it may still be"
    return f"positions {_fmt(base)} → {_fmt(now)} match neither outcome"


def _fmt(qty: Mapping[InstrumentId, Decimal]) -> str:
    return ", ".join(f"{i.symbol}={q}" for i, q in sorted(qty.items()))
