"""Orders whose outcome stayed unknown, kept until a later lookup tells what happened.

An order is *unresolved* when neither its answer nor the lookup by client order id that
followed could say whether it filled (both timed out, a 5xx), or when the venue answered that
it is still working (``NEW`` / ``PARTIALLY_FILLED`` after an IOC should have ended). The
executor never re-sends such an order; the intent ends ``partial`` with the known fills
unwound. :meth:`agent.execution.executor.Executor.follow_up` then looks each one up again every
step (and live within seconds, on the follow-up timers of :mod:`agent.live.timers`):

- the venue never took it (``OrderNotFound`` once ``[execution] not_found_grace_s`` has
  passed since the send; earlier, the request may still be on its way) → dropped;
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

import asyncio
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

import structlog

from agent.execution.plan import client_order_id, reducing
from agent.journal.journal import OpenOrderRow, OrderRecord
from agent.notify import AlertSink, reverse_incomplete_notice, stuck_order_notice
from venues.base import Venue
from venues.errors import OrderNotFound, OrderRejected, VenueError
from venues.model import (
    Fill,
    InstrumentId,
    OrderAck,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from venues.pairs import PairAck, PairOrderVenue

log = structlog.get_logger("zerobeta.execution")

ZERO = Decimal(0)
STUCK_AFTER_LOOKUPS = 24
"""Failed follow-up lookups after which an order is reported stuck: one per hourly step, and
live also one per follow-up timer between steps (:mod:`agent.live.timers`: 1, 2, 4 ... 60 s
apart), so about 20 minutes of a venue that cannot answer."""

LegResult = OrderAck | VenueError
FINAL_STATES = frozenset(s.value for s in OrderStatus if s.is_final)
"""Journaled statuses that end an order (``pending_new``, ``new``, ``partially_filled`` do
not)."""
"""What one order attempt ended with: the venue's answer, or the error that stands for it."""


@dataclass(frozen=True, slots=True)
class UnresolvedOrder:
    """One order with an unknown outcome, or a reverse still to send after it resolved.

    Attributes
    ----------
    strategy, intent_id, leg : str
        Where the order came from (``leg`` as in its client order id: ``"1"``, ``"0u"``).
    request : OrderRequest
        The order as sent; ``request.reduce_only`` or an unwind/reverse leg (``u``/``f``,
        :func:`agent.execution.plan.reducing`) marks an order that reduces.
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
    attempt : int
        The order's own attempt (its client order id's): with ``leg`` it names the reverse
        (:attr:`reverse_leg`), so two attempts of one leg never share a reverse's id.
    watch_only : bool
        The venue said it does not know the order right after its send failed: execution
        took it as not placed (and may have sent the leg again), but the request may still be
        processed late, so it is looked up until ``[execution] not_found_grace_s`` has passed.
        Not an unknown outcome for the pair's decisions (:meth:`UnresolvedOrders.intents`);
        a late fill is reversed whole (:meth:`reverse_after_qty`).
    completes : bool
        The order belongs to an intent that is only ever completed, never unwound: an exit
        (every order shrinks the strategy's position; undoing one leg of a close would reopen
        it while the other stays closed) or, on resume, any intent the strategy did not flag
        opening that the killed run was still sending. Its outcome is completed like an
        unwind's (:meth:`reverse_after_qty`), not reversed.
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
    attempt: int = 0
    watch_only: bool = False
    completes: bool = False

    @property
    def reverse_leg(self) -> str:
        """The leg of the reduce-only order that reverses this one: ``<leg>f`` for an attempt
        0 (as before), ``<leg>~<attempt>f`` for a later attempt."""
        return f"{self.leg}f" if self.attempt == 0 else f"{self.leg}~{self.attempt}f"

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
        unwound (``-late``); an unwind order, or one of an intent that only completes
        (:attr:`completes`: an exit), is completed (``ordered - booked - late``)."""
        return self.reverse_after_qty(sum((f.side.sign * f.qty for f in late_fills), ZERO))

    def reverse_after_qty(self, late_qty: Decimal) -> Decimal:
        """:meth:`reverse_after` from the signed base units of the late fills (a watched
        order's late fill is reversed whole: execution already acted as if it was not
        placed)."""
        if (self.completes or reducing(self.leg, self.request)) and not self.watch_only:
            return self.ordered_qty - self.booked_qty - late_qty
        return -late_qty

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
            "attempt": self.attempt,
            "watch_only": self.watch_only,
            "completes": self.completes,
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
            attempt=int(raw.get("attempt", 0)),  # a checkpoint written before it: 0
            watch_only=bool(raw.get("watch_only", False)),
            completes=bool(raw.get("completes", False)),  # a checkpoint written before it
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

    def intents(self) -> set[tuple[str, str]]:
        """``(strategy, intent_id)`` of every order kept (watched ones aside: their pair went
        on as if they were never placed)."""
        return {(o.strategy, o.intent_id) for o in self._orders.values() if not o.watch_only}

    def pending_instruments(self, strategy: str, intent_id: str) -> set[InstrumentId]:
        """Instruments of ``intent_id``'s orders still kept: outcome unknown (they may still
        fill) or resolved with a reverse still to send (the follow-up sends it; an order sent
        beside it for the same leg would move the leg twice). Watched orders aside."""
        return {
            o.request.instrument_id
            for o in self._orders.values()
            if (o.strategy, o.intent_id) == (strategy, intent_id) and not o.watch_only
        }

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


# ---- resuming: what the killed run did after its checkpoint -------------------------------


class OrderRecords(Protocol):
    """The journal's word on one order (:meth:`agent.journal.journal.Journal.order_record`)."""

    def order_record(self, client_order_id: str) -> OrderRecord | None: ...


class IntentBooked(Protocol):
    """What :func:`cut_intent_reverses` reads of the journal."""

    def intent_booked(
        self, strategy: str, intent_id: str
    ) -> tuple[bool, dict[str, tuple[InstrumentId, Decimal]]]: ...


class UnansweredRows(Protocol):
    """What :func:`unanswered_orders` reads of the journal
    (:class:`agent.journal.journal.Journal`)."""

    def orders_without_outcome(self) -> list[OpenOrderRow]: ...

    def intent_opening(self, strategy: str, intent_id: str) -> bool | None: ...


def unanswered_orders(
    journal: UnansweredRows, known: Collection[str], last_step_ms: int
) -> list[tuple[UnresolvedOrder, str]]:
    """The orders a killed run journaled (written ahead) but never saw answered, as unresolved
    orders for the restart to look up, each with its latest journaled status.

    An order of an intent the strategy flagged opening keeps the usual rule: its late fill is
    reversed (and the rest of its intent abandoned, :func:`cut_intent_reverses`). An order of
    any other intent the journal holds — an exit, an adjustment, a drift re-hedge, whose other
    legs the killed run may already have sent — is completed to what it asked
    (:attr:`UnresolvedOrder.completes`): reversing one leg of a close would reopen it while
    the other stays closed, and the pairs the killed run was tracking are not in the
    checkpoint. Skipped: client order ids in ``known`` (already followed).

    ``since_ms`` is the later of the order's journaled time and ``last_step_ms`` (epoch ms):
    the not-found grace counts from the restart's view of the send.
    """
    out: list[tuple[UnresolvedOrder, str]] = []
    opening: dict[tuple[str, str], bool | None] = {}
    for row in journal.orders_without_outcome():
        if row.client_order_id in known:
            continue
        key = (row.strategy, row.intent_id)
        if key not in opening:
            opening[key] = journal.intent_opening(*key)
        request = OrderRequest(
            client_order_id=row.client_order_id,
            instrument_id=row.instrument_id,
            side=row.side,
            qty=row.qty,
            order_type=OrderType(row.order_type),
            limit_price=row.limit_price,
            time_in_force=TimeInForce.IOC,  # every order the agent sends is IOC
            reduce_only=row.reduce_only,
        )
        order = UnresolvedOrder(
            strategy=row.strategy,
            intent_id=row.intent_id,
            leg=row.leg,
            request=request,
            booked_trade_ids=row.booked_trade_ids,
            booked_qty=row.booked_qty,
            since_ms=max(row.ts_ms, last_step_ms),
            attempt=row.attempt,
            completes=opening[key] is False,
        )
        out.append((order, row.status))
    return out


def cut_intent_reverses(
    unanswered: Iterable[UnresolvedOrder],
    journal: IntentBooked,
    known: Collection[str],
    instruments: Collection[InstrumentId],
    since_ms: int,
) -> list[UnresolvedOrder]:
    """Reverses owed for the opening intents a killed run was still sending, so each is
    abandoned whole as the run would have abandoned it (:func:`agent.execution.pairs.
    abandon_legs`).

    A restart reverses the late fill of an unanswered opening leg (:meth:`UnresolvedOrder.
    reverse_after_qty`); what the intent's other orders booked must then come back too, else
    the leg answered before the kill stays alone (open pairs are not in the checkpoint). Per
    instrument the reverse owed is minus what the intent will hold once its ``unanswered``
    orders resolve: an unwind or reverse among them completes to what it asked, an opening
    order keeps only what it had booked. Skipped: an intent whose unanswered orders all reduce
    (it completes on its own), one the strategy did not flag opening (an exit is never
    unwound), one with an order in ``known`` (the checkpoint already follows it), an
    instrument not in ``instruments``.

    Returns
    -------
    list[UnresolvedOrder]
        One per (intent, instrument) with something to reverse: leg ``r<i>`` (its reverse is
        sent reduce-only as ``r<i>f``), ``reverse_qty`` set, ``since_ms``.
    """
    by_intent: dict[tuple[str, str], list[UnresolvedOrder]] = {}
    for order in unanswered:
        by_intent.setdefault((order.strategy, order.intent_id), []).append(order)
    owed: list[UnresolvedOrder] = []
    for (strategy, intent_id), orders in sorted(by_intent.items()):
        if all(reducing(o.leg, o.request) for o in orders):
            continue
        opening, booked = journal.intent_booked(strategy, intent_id)
        if not opening or any(cid in known for cid in booked):
            continue
        cut = {o.client_order_id: o for o in orders}
        held: dict[InstrumentId, Decimal] = {}
        for cid, (iid, qty) in booked.items():
            cut_order = cut.get(cid)
            if cut_order is not None and reducing(cut_order.leg, cut_order.request):
                qty = cut_order.ordered_qty
            held[iid] = held.get(iid, ZERO) + qty
        for index, (iid, qty) in enumerate(sorted(held.items(), key=lambda h: str(h[0]))):
            if qty == 0 or iid not in instruments:
                continue
            leg = f"r{index}"
            side = Side.SELL if qty > 0 else Side.BUY
            request = OrderRequest(
                client_order_id(strategy, intent_id, leg, 0), iid, side, abs(qty)
            )
            entry = UnresolvedOrder(strategy, intent_id, leg, request, frozenset(), ZERO, since_ms)
            owed.append(replace(entry, reverse_qty=-qty))
    return owed


def settle_with_journal(orders: UnresolvedOrders, records: OrderRecords, max_attempts: int) -> None:
    """Bring a resumed checkpoint's unresolved orders up to what the journal says happened.

    The checkpoint is written once per step, the journal row by row (durable, live): a run
    killed after its checkpoint may have resolved an order, booked its late fills and sent
    the reverse — under a client order id that is a function of (strategy, intent, leg,
    attempt), so sending it again would be a duplicate the venue refuses (Binance ``-4116``)
    and its fill would not be reversed twice anyway. For each order kept:

    - still without a final state in the journal → kept, looked up as before;
    - final in the journal (resolved after the checkpoint) → its reverse is owed: the
      order's fills journaled since the checkpoint are its late fills
      (:meth:`UnresolvedOrder.reverse_after_qty`); nothing to reverse → dropped;
    - an owed reverse whose client order id the journal holds was sent: not final there →
      dropped here (it is followed up under its own id, :meth:`Journal.orders_without_outcome`);
      final (refused included) → what it filled is taken off, the rest owed as the next
      attempt (as :func:`_send_reverse` does), or reported incomplete when out of attempts;
    - an owed reverse the journal does not know → kept, sent at the first step with a price.
    """
    for order in list(orders):
        settled = _settled(order, records, max_attempts)
        if settled is None:
            orders.drop(order.client_order_id)
        elif settled is not order:
            orders.add(settled)
            log.warning(
                "unresolved_order_settled_from_journal",
                strategy=order.strategy,
                client_order_id=order.client_order_id,
                reverse_qty=str(settled.reverse_qty),
                reverse_attempt=settled.reverse_attempt,
            )


def _settled(
    order: UnresolvedOrder, records: OrderRecords, max_attempts: int
) -> UnresolvedOrder | None:
    if order.reverse_qty is None:
        record = records.order_record(order.client_order_id)
        if record is None or record.status not in FINAL_STATES:
            return order
        late_qty = sum(
            (q for t, q in record.fills_by_trade.items() if t not in order.booked_trade_ids), ZERO
        )
        reverse_qty = order.reverse_after_qty(late_qty)
        if reverse_qty == 0:
            log.warning(
                "unresolved_order_resolved_before_restart",
                client_order_id=order.client_order_id,
                status=record.status,
            )
            return None
        order = replace(order, reverse_qty=reverse_qty)
    while True:
        assert order.reverse_qty is not None
        reverse_id = client_order_id(
            order.strategy, order.intent_id, order.reverse_leg, order.reverse_attempt
        )
        record = records.order_record(reverse_id)
        if record is None:
            return order
        if record.status not in FINAL_STATES:
            return None
        left = order.reverse_qty - record.filled_qty
        attempt = order.reverse_attempt + 1
        if left == 0:
            return None
        if attempt >= max_attempts:
            log.error(
                "unresolved_order_reverse_incomplete",
                strategy=order.strategy,
                client_order_id=order.client_order_id,
                instrument=str(order.request.instrument_id),
                left_qty=str(left),
            )
            return None
        order = replace(order, reverse_qty=left, reverse_attempt=attempt)


# ---- following up -------------------------------------------------------------------------


class FollowUpDesk(Protocol):
    """What the follow-up needs of the order desk (:class:`agent.execution.desk.OrderDesk`)."""

    unresolved: UnresolvedOrders
    alerts: AlertSink

    @property
    def venues(self) -> Mapping[str, Venue]: ...

    @property
    def leg_timeout_s(self) -> float: ...

    @property
    def max_attempts(self) -> int: ...

    @property
    def not_found_grace_s(self) -> float: ...

    def book(self, strategy: str, request: OrderRequest, ack: OrderAck, ts_ms: int) -> None: ...

    async def send_reduce_only(
        self, order: UnresolvedOrder, qty: Decimal, price: float, ts_ms: int
    ) -> LegResult: ...


async def follow_up(
    desk: FollowUpDesk,
    ts_ms: int,
    prices: Mapping[InstrumentId, float] | None = None,
    intent: tuple[str, str] | None = None,
    only: Collection[str] | None = None,
) -> None:
    """Look up every unresolved order of ``desk`` again — only those of ``intent``
    (``(strategy, intent_id)``, the naked budget) or whose client order id is in ``only`` (the
    live follow-up timers, :mod:`agent.live.timers`) when given: book the fills it got since,
    then send the reduce-only order that reverses what it left (unwinding a late fill of an
    opening leg, completing an unwind order). Without ``prices`` (live start-up, before the
    position reconciliation) only lookups and booking happen; a reverse waits for a step with a
    price (quote units). Never raises ``VenueError``: a failed lookup or reverse is logged and
    tried again at the next follow-up."""
    for unresolved in desk.unresolved:
        if intent is not None and (unresolved.strategy, unresolved.intent_id) != intent:
            continue
        if only is not None and unresolved.client_order_id not in only:
            continue
        venue = desk.venues.get(unresolved.request.instrument_id.venue)
        if venue is None:
            continue  # the venue is not configured any more; kept in the checkpoint
        order: UnresolvedOrder | None = unresolved
        if unresolved.reverse_qty is None:
            order = await _resolve(desk, venue, unresolved, ts_ms)
        if order is None:
            continue
        price = None if prices is None else prices.get(order.request.instrument_id)
        if price is not None:
            await _send_reverse(desk, order, price, ts_ms)


async def _resolve(
    desk: FollowUpDesk, venue: Venue, order: UnresolvedOrder, ts_ms: int
) -> UnresolvedOrder | None:
    """The order's final answer booked; returns it with ``reverse_qty`` set, or None
    (dropped: never placed or nothing to reverse; kept: the venue could not answer)."""
    iid, cid = order.request.instrument_id, order.client_order_id
    try:
        async with asyncio.timeout(desk.leg_timeout_s):
            if order.pair_client_id is not None and isinstance(venue, PairOrderVenue):
                ack = _pair_leg(await venue.fetch_pair(order.pair_client_id), cid, venue.name)
            else:
                ack = await venue.fetch_order(iid, cid)
            if not ack.status.is_final:
                ack = await venue.cancel_order(iid, cid)
    except OrderNotFound:  # never placed: nothing filled (an unwind is still owed)
        if ts_ms - order.since_ms < desk.not_found_grace_s * 1000:
            # too early to tell: the request may still be on its way (see OrderDesk.send_leg)
            desk.unresolved.failed_lookup(cid)
            return None
        if order.watch_only:  # its pair went on without it; nothing to journal but the end
            log.info("watched_order_never_placed", client_order_id=cid, instrument=str(iid))
        # journaled as final (expired, nothing filled), so a restart does not take the order
        # for one sent without an answer and resolve it — and send its reverse — again
        req = order.request
        never = OrderAck(
            cid, "", iid, req.side, OrderStatus.EXPIRED, req.qty, Decimal(0), None, ts_ms,
            reject_reason="not found at the venue: never placed",
        )  # fmt: skip
        desk.book(order.strategy, req, never, ts_ms)
        return _resolved(desk, order, None, [])
    except (VenueError, TimeoutError) as err:
        failures = desk.unresolved.failed_lookup(cid)
        log.warning(
            "unresolved_order_lookup_failed",
            client_order_id=cid,
            instrument=str(iid),
            lookups=failures,
            error=type(err).__name__,
        )
        if failures == STUCK_AFTER_LOOKUPS:  # once (see STUCK_AFTER_LOOKUPS)
            log.error(
                "unresolved_order_stuck",
                strategy=order.strategy,
                client_order_id=cid,
                instrument=str(iid),
                since_ms=order.since_ms,
                message=f"no answer about {cid} after {failures} lookups; check it on the venue",
            )
            desk.alerts.notify(stuck_order_notice(order.strategy, cid, str(iid), failures, ts_ms))
        return None
    if not ack.status.is_final:  # the cancel answered without ending it: next step
        desk.unresolved.failed_lookup(cid)
        return None
    late = [f for f in ack.fills if f.trade_id not in order.booked_trade_ids]
    desk.book(order.strategy, order.request, replace(ack, fills=tuple(late)), ts_ms)
    return _resolved(desk, order, ack, late)


def _resolved(
    desk: FollowUpDesk, order: UnresolvedOrder, ack: OrderAck | None, late: list[Fill]
) -> UnresolvedOrder | None:
    """Record the outcome: dropped when nothing is left to reverse, else kept with
    ``reverse_qty``."""
    reverse_qty = order.reverse_after(late)
    log.warning(
        "unresolved_order_resolved",
        strategy=order.strategy,
        client_order_id=order.client_order_id,
        instrument=str(order.request.instrument_id),
        status="never_placed" if ack is None else ack.status.value,
        late_fills=len(late),
        reverse_qty=str(reverse_qty),
    )
    if reverse_qty == 0:
        desk.unresolved.drop(order.client_order_id)
        return None
    resolved = replace(order, reverse_qty=reverse_qty)
    desk.unresolved.add(resolved)
    return resolved


async def _send_reverse(
    desk: FollowUpDesk, order: UnresolvedOrder, price: float, ts_ms: int
) -> None:
    """Send ``order.reverse_qty`` reduce-only (leg ``<leg>f``); what it does not fill is
    sent again at the next follow-up (live: within seconds, on the follow-up timers; a replay:
    the next step), up to ``max_attempts`` — also after the venue refused it: a reverse only
    takes risk off, and a refusal may pass (margin freed, a transient reject); a chaos run
    left a pair one-legged for an hour behind one refused reverse."""
    assert order.reverse_qty is not None
    result = await desk.send_reduce_only(order, order.reverse_qty, price, ts_ms)
    desk.unresolved.drop(order.client_order_id)
    if outcome_unknown(result):
        return  # the reverse is unresolved itself: followed up under its own id
    filled = result.side.sign * result.filled_qty if isinstance(result, OrderAck) else ZERO
    left = order.reverse_qty - filled
    attempt = order.reverse_attempt + 1
    again = retryable(result) or isinstance(result, OrderRejected)
    if left != 0 and again and attempt < desk.max_attempts:
        desk.unresolved.add(replace(order, reverse_qty=left, reverse_attempt=attempt))
    elif left != 0:  # out of attempts: the position check reports the rest
        log.error(
            "unresolved_order_reverse_incomplete",
            strategy=order.strategy,
            client_order_id=order.client_order_id,
            instrument=str(order.request.instrument_id),
            left_qty=str(left),
        )
        iid, cid = str(order.request.instrument_id), order.client_order_id
        desk.alerts.notify(reverse_incomplete_notice(order.strategy, cid, iid, str(left), ts_ms))


def _pair_leg(pair: PairAck, client_order_id: str, venue: str) -> OrderAck:
    """The leg of ``pair`` sent with ``client_order_id``.

    Raises
    ------
    OrderNotFound
        If the pair has no such leg (then it is not the pair that was sent).
    """
    for ack in pair.legs:
        if ack.client_order_id == client_order_id:
            return ack
    raise OrderNotFound(f"pair {pair.pair_id} has no leg {client_order_id}", venue=venue)


def retryable(result: LegResult | None) -> bool:
    """Safe to send the rest of a leg again: the venue never took the order, or the order
    is final (an IOC that expired / was canceled, unfilled or part-filled)."""
    if isinstance(result, OrderNotFound):
        return True
    return (
        isinstance(result, OrderAck)
        and result.status.is_final
        and result.status is not OrderStatus.REJECTED
    )


def outcome_unknown(result: LegResult | None) -> bool:
    """The order may still fill: a lookup that failed, or an order not yet final."""
    if isinstance(result, OrderAck):
        return not result.status.is_final
    return isinstance(result, VenueError) and not isinstance(result, OrderRejected | OrderNotFound)
