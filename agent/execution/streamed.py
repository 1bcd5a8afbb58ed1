"""Fills and order updates of the venues' account streams, booked as they arrive — each trade
once, whichever way it came first.

A live order's fills reach the agent up to three ways: the venue's answer to the order, the
lookup of an order whose outcome was unknown (:mod:`agent.execution.unresolved`), and the
account stream (:mod:`agent.live.account_feed`). :class:`BookedTrades` is the one guard: a fill
is booked (ledger + journal) only the first time its ``(instrument, trade id)`` is seen — by
this run, or by the run whose journal it resumes. The key is the instrument's, not only the
venue's: Binance numbers trades per symbol and product (``t`` of ``ORDER_TRADE_UPDATE`` and
``executionReport``, ``id`` of ``userTrades``, ``tradeId`` of a ``FULL`` order answer: one
number per trade of one symbol), so two instruments of one venue may reuse a trade id.

:func:`book_account_events` books a batch of stream events for the order desk:

- a :class:`~venues.model.Fill` of an order the journal knows is booked for the strategy that
  sent it (its ``reference_price`` taken from the order when the stream has none); a fill of
  an order the journal does not know (placed by someone else on the account) is not booked but
  logged (``account_fill_unknown_order``): the hourly position check reports the difference;
- an :class:`~venues.model.OrderAck` is journaled when it moves the order forward (status, then
  filled quantity) past what was journaled, from the answer or an earlier update (the streams
  re-send, and the answer usually came first);
- funding payments are left to the hourly collection of each venue's payment history
  (:class:`agent.engine.funding.FundingDesk`), which reconciles them too.

Events about an unresolved order are reported back (``touched``): its outcome is probably known
now, so the engine looks it up at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

import structlog

from agent.execution.unresolved import UnresolvedOrder, UnresolvedOrders
from agent.journal.journal import Journal
from venues.base import AccountEvent
from venues.model import Fill, InstrumentId, OrderAck, OrderStatus

log = structlog.get_logger("zerobeta.execution")

_RANK = {OrderStatus.NEW: 0, OrderStatus.PARTIALLY_FILLED: 1}


class BookedTrades:
    """The trades booked so far, by ``(instrument, trade id)`` (see the module docstring)."""

    def __init__(self) -> None:
        self._seen: set[tuple[InstrumentId, str]] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def first_time(self, fill: Fill) -> bool:
        """Record ``fill``'s trade; True if it was not booked before (book it now)."""
        key = (fill.instrument_id, fill.trade_id)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def booked(self, fill: Fill) -> bool:
        """Whether ``fill``'s trade was booked already."""
        return (fill.instrument_id, fill.trade_id) in self._seen

    def remember(self, fills: Iterable[Fill]) -> None:
        """Trades a resumed journal booked: never book them again."""
        self._seen.update((f.instrument_id, f.trade_id) for f in fills)


class OrderStates:
    """The last journaled state of each order: ``(rank of the status, filled qty)``, where
    ``new`` < ``partially_filled`` < any final status."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, Decimal]] = {}

    def note(self, ack: OrderAck) -> None:
        """``ack`` was journaled."""
        self._last[ack.client_order_id] = _state(ack)

    def moves_forward(self, ack: OrderAck) -> bool:
        """Whether ``ack`` says more than what was journaled of its order."""
        last = self._last.get(ack.client_order_id)
        return last is None or _state(ack) > last


def _state(ack: OrderAck) -> tuple[int, Decimal]:
    return (_RANK.get(ack.status, 2), ack.filled_qty)


class StreamDesk(Protocol):
    """What booking stream events needs of the order desk
    (:class:`agent.execution.desk.OrderDesk`)."""

    unresolved: UnresolvedOrders
    booked_trades: BookedTrades
    order_states: OrderStates

    @property
    def journal(self) -> Journal: ...

    def book_fill(self, strategy: str, fill: Fill, ts_ms: int) -> bool: ...

    def record_update(self, strategy: str, ack: OrderAck, ts_ms: int) -> None: ...


@dataclass
class StreamBooking:
    """What one batch of account-stream events did.

    Attributes
    ----------
    fills_booked, fills_known, fills_unknown : int
        Fills booked now; fills already booked (from an answer or a lookup, or sent twice);
        fills of orders the journal does not know (not booked).
    updates_journaled : int
        Order updates that moved an order forward (journaled).
    touched : set[str]
        Client order ids of unresolved orders the batch was about.
    """

    fills_booked: int = 0
    fills_known: int = 0
    fills_unknown: int = 0
    updates_journaled: int = 0
    touched: set[str] = field(default_factory=set)


def book_account_events(
    desk: StreamDesk, events: Iterable[AccountEvent], ts_ms: int
) -> StreamBooking:
    """Book ``events`` (see the module docstring) at agent time ``ts_ms``; returns what was
    done."""
    booking = StreamBooking()
    unresolved = {o.client_order_id: o for o in desk.unresolved}
    with desk.journal.atomic():  # an order update and the fills of the batch: one commit
        for event in events:
            if isinstance(event, Fill | OrderAck) and event.client_order_id in unresolved:
                booking.touched.add(event.client_order_id)
            if isinstance(event, Fill):
                _book_fill(desk, event, unresolved, booking, ts_ms)
            elif isinstance(event, OrderAck):
                strategy = desk.journal.order_strategy(event.client_order_id)
                if strategy is not None and desk.order_states.moves_forward(event):
                    desk.record_update(strategy, event, ts_ms)
                    booking.updates_journaled += 1
    return booking


def _book_fill(
    desk: StreamDesk,
    fill: Fill,
    unresolved: Mapping[str, UnresolvedOrder],
    booking: StreamBooking,
    ts_ms: int,
) -> None:
    if desk.booked_trades.booked(fill):
        booking.fills_known += 1
        return
    strategy = desk.journal.order_strategy(fill.client_order_id)
    if strategy is None:
        booking.fills_unknown += 1
        log.warning(
            "account_fill_unknown_order",
            client_order_id=fill.client_order_id,
            instrument=str(fill.instrument_id),
            trade_id=fill.trade_id,
            qty=str(fill.qty),
        )
        return
    order = unresolved.get(fill.client_order_id)
    if fill.reference_price is None and order is not None:
        # the stream does not know the price the agent saw; the unresolved order does
        fill = replace(fill, reference_price=order.request.reference_price)
    if desk.book_fill(strategy, fill, ts_ms):
        booking.fills_booked += 1
