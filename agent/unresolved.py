"""Orders whose outcome stayed unknown, kept until a later lookup tells what happened.

An order is *unresolved* when neither its answer nor the lookup by client order id that
followed could say whether it filled (both timed out, a 5xx), or when the venue answered that
it is still working (``NEW`` / ``PARTIALLY_FILLED`` after an IOC should have ended). The
executor never re-sends such an order; the intent ends ``partial`` with the known fills
unwound. :meth:`agent.execution.Executor.follow_up` then looks each one up again every step:

- the venue never took it (``OrderNotFound``) → dropped;
- still working → canceled (an already-gone order is success), then as below;
- final → the fills not booked yet are booked (ledger + journal), and the position they left
  is reversed with a reduce-only order: a late fill of an opening leg is unwound; an unwind
  order that filled less than it should have is completed (the *reverse* left to send);
- the lookup fails again → kept for the next step.

The legs of a native pair order whose outcome stayed unknown are kept the same way and looked
up with their pair (``fetch_pair``): both filled or neither.

The set is part of the resume checkpoint, so a restart keeps following up (and books late
fills before the live position reconciliation, which would otherwise refuse a position the
journal does not know).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from venues.model import Fill, InstrumentId, OrderRequest, OrderType, Side, TimeInForce

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class UnresolvedOrder:
    """One order with an unknown outcome, or a reverse still to send after it resolved.

    Attributes
    ----------
    strategy, intent_id, leg : str
        Where the order came from (``leg`` as in its client order id: ``"1"``, ``"0u"``).
    request : OrderRequest
        The order as sent; ``request.reduce_only`` marks an unwind order.
    booked_trade_ids : frozenset[str]
        Fills of this order already in the ledger (booked from an earlier answer).
    booked_qty : Decimal
        Signed base units of those fills.
    since_ms : int
        Step time the outcome became unknown, epoch ms.
    lookups : int
        Follow-up lookups that failed so far.
    reverse_qty : Decimal | None
        Once resolved: signed base units still to send reduce-only (None while unresolved).
    reverse_attempt : int
        Attempts of the reverse order so far (its client order id's ``attempt``).
    pair_client_id : str | None
        Set for a leg of a native pair order (:mod:`venues.pairs`): looked up with the pair.
    """

    strategy: str
    intent_id: str
    leg: str
    request: OrderRequest
    booked_trade_ids: frozenset[str]
    booked_qty: Decimal
    since_ms: int
    lookups: int = 0
    reverse_qty: Decimal | None = None
    reverse_attempt: int = 0
    pair_client_id: str | None = None

    @property
    def client_order_id(self) -> str:
        """The unresolved order's client order id."""
        return self.request.client_order_id

    @property
    def ordered_qty(self) -> Decimal:
        """Signed base units the order asked for."""
        return self.request.side.sign * self.request.qty

    def reverse_after(self, late_fills: Iterable[Fill]) -> Decimal:
        """Signed qty to send reduce-only once the order is final and ``late_fills`` (its
        fills not booked before) are booked: an opening/adjusting leg's late fills are
        unwound (``-late``); an unwind order is completed (``ordered - booked - late``)."""
        late = sum((f.side.sign * f.qty for f in late_fills), ZERO)
        if self.request.reduce_only:
            return self.ordered_qty - self.booked_qty - late
        return -late

    def to_json(self) -> dict[str, Any]:
        """JSON-able form for the resume checkpoint (decimals as strings)."""
        r = self.request
        return {
            "strategy": self.strategy,
            "intent_id": self.intent_id,
            "leg": self.leg,
            "client_order_id": r.client_order_id,
            "instrument": str(r.instrument_id),
            "side": r.side.value,
            "qty": str(r.qty),
            "order_type": r.order_type.value,
            "limit_price": None if r.limit_price is None else str(r.limit_price),
            "time_in_force": r.time_in_force.value,
            "reduce_only": r.reduce_only,
            "reference_price": None if r.reference_price is None else str(r.reference_price),
            "booked_trade_ids": sorted(self.booked_trade_ids),
            "booked_qty": str(self.booked_qty),
            "since_ms": self.since_ms,
            "lookups": self.lookups,
            "reverse_qty": None if self.reverse_qty is None else str(self.reverse_qty),
            "reverse_attempt": self.reverse_attempt,
            "pair_client_id": self.pair_client_id,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> UnresolvedOrder:
        """Inverse of :meth:`to_json`.

        Raises
        ------
        KeyError, ValueError
            If ``raw`` is not what :meth:`to_json` wrote (the checkpoint loader reports it).
        """
        request = OrderRequest(
            client_order_id=str(raw["client_order_id"]),
            instrument_id=InstrumentId.parse(str(raw["instrument"])),
            side=Side(raw["side"]),
            qty=Decimal(raw["qty"]),
            order_type=OrderType(raw["order_type"]),
            limit_price=None if raw["limit_price"] is None else Decimal(raw["limit_price"]),
            time_in_force=TimeInForce(raw["time_in_force"]),
            reduce_only=bool(raw["reduce_only"]),
            reference_price=(
                None if raw["reference_price"] is None else Decimal(raw["reference_price"])
            ),
        )
        reverse = raw["reverse_qty"]
        return cls(
            strategy=str(raw["strategy"]),
            intent_id=str(raw["intent_id"]),
            leg=str(raw["leg"]),
            request=request,
            booked_trade_ids=frozenset(str(t) for t in raw["booked_trade_ids"]),
            booked_qty=Decimal(raw["booked_qty"]),
            since_ms=int(raw["since_ms"]),
            lookups=int(raw["lookups"]),
            reverse_qty=None if reverse is None else Decimal(reverse),
            reverse_attempt=int(raw["reverse_attempt"]),
            pair_client_id=raw.get("pair_client_id"),
        )


class UnresolvedOrders:
    """The executor's unresolved orders by client order id, oldest first."""

    def __init__(self) -> None:
        self._orders: dict[str, UnresolvedOrder] = {}

    def __len__(self) -> int:
        return len(self._orders)

    def __iter__(self) -> Iterator[UnresolvedOrder]:
        return iter(list(self._orders.values()))

    def add(self, order: UnresolvedOrder) -> None:
        """Keep ``order`` (replacing an entry with the same client order id)."""
        self._orders[order.client_order_id] = order

    def drop(self, client_order_id: str) -> None:
        """Forget an order (resolved and reversed, or never placed)."""
        self._orders.pop(client_order_id, None)

    def failed_lookup(self, client_order_id: str) -> int:
        """Count one more failed lookup; returns the count."""
        order = self._orders[client_order_id]
        self._orders[client_order_id] = replace(order, lookups=order.lookups + 1)
        return order.lookups + 1

    def state(self) -> list[dict[str, Any]]:
        """Checkpoint form, oldest first."""
        return [o.to_json() for o in self._orders.values()]

    def restore(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace the set with a checkpoint's (see :meth:`state`)."""
        self._orders = {o.client_order_id: o for o in map(UnresolvedOrder.from_json, rows)}
