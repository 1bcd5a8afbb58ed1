"""The order desk: one order at a time — send it, look up an unknown outcome, keep it as
unresolved, book its fills — for the executor's paired legs (:mod:`agent.execution.pairs`) and
the follow-up of unresolved orders (:mod:`agent.execution.unresolved`).

An order whose outcome is unknown (timeout, 5xx) is looked up by client order id before
anything else; it is never re-sent blindly. If the lookup cannot answer either, the order is
kept as *unresolved* and :meth:`OrderDesk.follow_up` looks it up again at every step until its
outcome is known, books what it filled and reverses it reduce-only. Live, the account streams'
fills and order updates are booked through it as they arrive
(:mod:`agent.execution.streamed`); every trade is booked once, whichever way it came first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from decimal import Decimal

import structlog

from agent.config import ExecutionConfig
from agent.execution import events
from agent.execution.exposure import ExposureBook
from agent.execution.plan import PlannedLeg, order_request, reducing
from agent.execution.streamed import (
    BookedTrades,
    OrderStates,
    StreamBooking,
    book_account_events,
)
from agent.execution.unresolved import (
    LegResult,
    UnresolvedOrder,
    UnresolvedOrders,
    follow_up,
)
from agent.journal.journal import Journal
from agent.notify import DISCARD, AlertSink
from agent.portfolio.ledger import Portfolio
from venues.base import AccountEvent, Venue
from venues.errors import (
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RequestTimeout,
    VenueError,
)
from venues.model import Fill, Instrument, InstrumentId, OrderAck, OrderRequest, OrderStatus

log = structlog.get_logger("zerobeta.execution")


class OrderDesk:
    """Sends single orders to the venues and books their fills in the ledger and the journal.

    Parameters
    ----------
    venues : Mapping[str, Venue]
        By venue name.
    instruments : Mapping[InstrumentId, Instrument]
    portfolio : Portfolio
    journal : Journal
    config : ExecutionConfig
        ``leg_timeout_s`` (s, per venue call), ``max_attempts`` (attempts per leg, the first
        included).

    Attributes
    ----------
    orders_sent, orders_rejected : int
        Orders sent (every attempt, unwinds and reverses included) and refused by a venue.
    unresolved : UnresolvedOrders
        Orders whose outcome is still unknown.
    exposure : ExposureBook
        The pairs being sent or still unbalanced: every order sent and every answer booked
        here is reported to it (:mod:`agent.execution.exposure`).
    booked_trades : BookedTrades
        Every trade booked (by ``(instrument, trade id)``): none is booked twice, whether it
        came in an answer, a lookup or the account stream.
    order_states : OrderStates
        The last journaled state of each order (an account-stream update is journaled only
        when it says more).
    alerts : AlertSink
        Where a pair whose unwind failed and an unresolved order that stays stuck are also
        handed, for a person (set by the executor; :data:`agent.notify.DISCARD` by default).
    on_order_latency : Callable[[str, float], None] | None
        Called with the venue name and the seconds from sending an order to the venue's
        answer (accepted or rejected; not when the outcome is unknown); set by the control
        surface's metrics (:mod:`agent.control.metrics`), None = not timed.
    on_venue_result : Callable[[str, BaseException | None], None] | None
        Called with the venue name and None after every order and lookup the venue answered
        (a rejection is an answer), or with the error when it did not (timeout, transport,
        5xx...); set by the engine's venue health (:mod:`agent.engine.venue_health`).
    """

    def __init__(
        self,
        venues: Mapping[str, Venue],
        instruments: Mapping[InstrumentId, Instrument],
        portfolio: Portfolio,
        journal: Journal,
        config: ExecutionConfig,
    ) -> None:
        self._venues = venues
        self._instruments = instruments
        self._portfolio = portfolio
        self._journal = journal
        self._cfg = config
        self.orders_sent = 0
        self.orders_rejected = 0
        self.unresolved = UnresolvedOrders()
        self.exposure = ExposureBook(journal)
        self.booked_trades = BookedTrades()
        self.order_states = OrderStates()
        self.alerts: AlertSink = DISCARD
        self.on_order_latency: Callable[[str, float], None] | None = None
        self.on_venue_result: Callable[[str, BaseException | None], None] | None = None

    async def send_leg(
        self,
        strategy: str,
        intent_id: str,
        leg: str,
        planned: PlannedLeg,
        attempt: int,
        ts_ms: int,
        reduce_only: bool = False,
        post_only_price: Decimal | None = None,
    ) -> LegResult:
        """Send one order; resolve an unknown outcome by lookup; book fills. Never raises
        ``VenueError`` (returned instead).

        With ``post_only_price`` (quote units) the order is a post-only limit there
        (:mod:`agent.execution.maker`): it may rest (not kept as unresolved), and a
        ``PostOnlyWouldCross`` refusal is journaled but not counted as a rejection (the
        caller re-quotes).

        ``reduce_only`` (the order only shrinks ``strategy``'s own position: an unwind, a
        reverse) goes to the venue only where the venue can honour it: a venue's reduce-only
        check is against its net position, every strategy's together, and refuses an order
        that would not reduce that (Binance ``-2022``) even when it reduces the strategy's own.
        Otherwise the order goes without the flag (logged ``reduce_only_dropped``)."""
        if reduce_only and not self._venue_can_reduce(planned):
            log.info(
                "reduce_only_dropped",
                strategy=strategy,
                intent_id=intent_id,
                instrument=str(planned.instrument.id),
                qty=str(planned.delta_qty),
                reason="the venue's net position (every strategy's) would not shrink",
            )
            reduce_only = False
        request = order_request(
            strategy, intent_id, leg, planned, attempt, reduce_only, post_only_price
        )
        self.exposure.on_order(strategy, intent_id, request.client_order_id)
        # Write-ahead: a durable (live) journal has committed this row when the call returns,
        # so a crash after the order left still finds it; if the commit fails, nothing is sent.
        self._journal.record_order_request(ts_ms, strategy, intent_id, leg, attempt, request)
        events.order_sent(strategy, request, ts_ms)
        self.orders_sent += 1
        venue = self._venues[planned.instrument.id.venue]
        sent_s = time.perf_counter()
        try:
            async with asyncio.timeout(self._cfg.leg_timeout_s):
                ack = await venue.place_order(request)
        except PostOnlyWouldCross as err:
            self._answered(planned.instrument.id.venue, sent_s)
            self._journal.record_order_rejected(ts_ms, request, err.code, err.reason)
            log.info(
                "post_only_would_cross", strategy=strategy, instrument=str(request.instrument_id)
            )
            return err
        except OrderRejected as err:
            self._answered(planned.instrument.id.venue, sent_s)
            self.record_rejection(strategy, request, err, ts_ms)
            return err
        except (VenueError, TimeoutError) as err:
            self._venue_result(planned.instrument.id.venue, err)
            resolved = await self._lookup(venue, request, err)
            if isinstance(resolved, VenueError):
                # An unknown outcome may still have filled. "Not found" right after a failed
                # send is not conclusive: the request may still be processed after the
                # lookup (Binance documents -1007 "execution status unknown"). An opening or
                # adjusting leg is taken as not placed (sent again under the next attempt's
                # id) and watched until ``not_found_grace_s`` has passed, a late fill booked
                # and reversed whole; an order that reduces (an unwind, a reverse) stays an
                # unknown outcome until then: its late fill is what was wanted.
                not_found = isinstance(resolved, OrderNotFound)
                if not_found and self._cfg.not_found_grace_s > 0 and reducing(leg, request):
                    resolved, not_found = _unknown(err, venue.name), False
                if not not_found or self._cfg.not_found_grace_s > 0:
                    self.keep_unresolved(
                        strategy, intent_id, leg, request, None, ts_ms, attempt=attempt,
                        watch_only=not_found,
                    )  # fmt: skip
                return resolved
            ack = resolved
        else:
            self._answered(planned.instrument.id.venue, sent_s)
        self.book(strategy, request, ack, ts_ms)
        if not ack.status.is_final and post_only_price is None:  # an IOC still working
            self.keep_unresolved(strategy, intent_id, leg, request, ack, ts_ms, attempt=attempt)
        return ack

    def keep_unresolved(
        self,
        strategy: str,
        intent_id: str,
        leg: str,
        request: OrderRequest,
        ack: OrderAck | None,
        ts_ms: int,
        pair_client_id: str | None = None,
        attempt: int = 0,
        watch_only: bool = False,
    ) -> None:
        """Keep an order whose outcome is unknown (``ack`` None, or its fills so far booked)
        for :meth:`follow_up`; ``pair_client_id`` for a leg of a native pair order;
        ``attempt`` the order's own (it names the order's reverse); ``watch_only`` for one the
        venue did not know right after its send failed (:attr:`UnresolvedOrder.watch_only`).
        An order of a tracked exit pair is kept to be completed, never reversed
        (:attr:`UnresolvedOrder.completes`)."""
        fills = ack.fills if ack is not None else ()
        pair = self.exposure.get(strategy, intent_id)
        self.unresolved.add(
            UnresolvedOrder(
                strategy=strategy,
                intent_id=intent_id,
                leg=leg,
                request=request,
                booked_trade_ids=frozenset(f.trade_id for f in fills),
                booked_qty=sum((f.side.sign * f.qty for f in fills), Decimal(0)),
                since_ms=ts_ms,
                pair_client_id=pair_client_id,
                attempt=attempt,
                watch_only=watch_only,
                completes=pair is not None and pair.closing,
            )
        )
        log.warning(
            "order_watched" if watch_only else "order_unresolved",
            strategy=strategy,
            intent_id=intent_id,
            client_order_id=request.client_order_id,
            instrument=str(request.instrument_id),
            reduce_only=request.reduce_only,
        )

    async def follow_up(
        self,
        ts_ms: int,
        prices: Mapping[InstrumentId, float] | None = None,
        intent: tuple[str, str] | None = None,
        only: Collection[str] | None = None,
    ) -> None:
        """Look up every unresolved order again (only those of ``intent``, ``(strategy,
        intent_id)``, or of ``only``, client order ids, when given), book what it filled and
        reverse it reduce-only; see :func:`agent.execution.unresolved.follow_up`."""
        await follow_up(self, ts_ms, prices, intent, only)

    @property
    def journal(self) -> Journal:
        """Where orders, fills and rejections are journaled."""
        return self._journal

    @property
    def venues(self) -> Mapping[str, Venue]:
        """The venues orders go to, by name."""
        return self._venues

    @property
    def leg_timeout_s(self) -> float:
        """Deadline of one venue call, s."""
        return self._cfg.leg_timeout_s

    @property
    def not_found_grace_s(self) -> float:
        """Time after an order's send during which a venue's "not found" is not taken as
        never placed, s."""
        return self._cfg.not_found_grace_s

    @property
    def max_attempts(self) -> int:
        """Attempts per leg, the first included."""
        return self._cfg.max_attempts

    def _venue_can_reduce(self, planned: PlannedLeg) -> bool:
        """Whether ``planned`` shrinks the net position of its instrument over every strategy
        (what a venue's reduce-only flag is checked against) without flipping it."""
        net = self._portfolio.positions().get(planned.instrument.id, Decimal(0))
        delta = planned.delta_qty
        return net != 0 and (net > 0) != (delta > 0) and abs(delta) <= abs(net)

    async def send_reduce_only(
        self, order: UnresolvedOrder, qty: Decimal, price: float, ts_ms: int
    ) -> LegResult:
        """Send ``qty`` (signed base units) of ``order``'s instrument reduce-only as leg
        ``order.reverse_leg`` (``<leg>f``; ``<leg>~<attempt>f`` for a later attempt of the
        order), attempt ``order.reverse_attempt``; booked like any leg. Never raises
        ``VenueError`` (returned instead)."""
        instrument = self._instruments[order.request.instrument_id]
        planned = PlannedLeg(0, instrument, qty, price)  # 0: the leg index is not used here
        return await self.send_leg(
            order.strategy,
            order.intent_id,
            order.reverse_leg,
            planned,
            order.reverse_attempt,
            ts_ms,
            reduce_only=True,
        )

    def record_rejection(
        self, strategy: str, request: OrderRequest, err: OrderRejected, ts_ms: int
    ) -> None:
        """Count, journal and log an order the venue refused."""
        self.orders_rejected += 1
        self.exposure.on_rejected(request.client_order_id, request.instrument_id)
        self._journal.record_order_rejected(ts_ms, request, err.code, err.reason)
        log.warning(
            "order_rejected",
            strategy=strategy,
            client_order_id=request.client_order_id,
            instrument=str(request.instrument_id),
            code=err.code,
            reason=err.reason,
        )

    def _answered(self, venue: str, sent_s: float) -> None:
        """Hand the send → answer time to :attr:`on_order_latency`, if set (and the answer to
        :attr:`on_venue_result`)."""
        if self.on_order_latency is not None:
            self.on_order_latency(venue, time.perf_counter() - sent_s)
        self._venue_result(venue, None)

    def _venue_result(self, venue: str, error: BaseException | None) -> None:
        if self.on_venue_result is not None:
            self.on_venue_result(venue, error)

    async def _lookup(self, venue: Venue, request: OrderRequest, cause: Exception) -> LegResult:
        """An order's outcome is unknown: look it up by client order id, never re-send.

        Returns the venue's answer, ``OrderNotFound`` (known not placed), or another
        ``VenueError`` (the lookup failed too: the outcome stays unknown).
        """
        log.warning(
            "order_outcome_unknown",
            client_order_id=request.client_order_id,
            instrument=str(request.instrument_id),
            error=type(cause).__name__,
        )
        try:
            async with asyncio.timeout(self._cfg.leg_timeout_s):
                ack = await venue.fetch_order(request.instrument_id, request.client_order_id)
        except VenueError as err:
            self._venue_result(request.instrument_id.venue, err)  # not found: an answer
            return err
        except TimeoutError:
            timeout = RequestTimeout(
                f"lookup of {request.client_order_id} timed out after {self._cfg.leg_timeout_s} s",
                venue=venue.name,
            )
            self._venue_result(request.instrument_id.venue, timeout)
            return timeout
        self._venue_result(request.instrument_id.venue, None)
        return ack

    def book(self, strategy: str, request: OrderRequest, ack: OrderAck, ts_ms: int) -> None:
        """Journal ``ack`` and book its fills in the ledger and the journal (each trade once:
        one the account stream booked already is skipped), committed together: a kill can not
        leave the order journaled final without its fills."""
        with self._journal.atomic():  # the order's state and its fills: one commit
            self.record_update(strategy, ack, ts_ms)
            self.exposure.on_ack(request.client_order_id, ack, ts_ms)
            for fill in ack.fills:
                self.book_fill(strategy, fill, ts_ms)
        if ack.status is OrderStatus.REJECTED:
            self.orders_rejected += 1

    def record_update(self, strategy: str, ack: OrderAck, ts_ms: int) -> None:
        """Journal and log the venue's word about an order (its fills are booked apart)."""
        self._journal.record_order_ack(ts_ms, ack)
        self.order_states.note(ack)
        events.order_updated(strategy, ack, ts_ms)

    def book_fill(self, strategy: str, fill: Fill, ts_ms: int) -> bool:
        """Book ``fill`` for ``strategy`` in the ledger and the journal unless its trade was
        booked before (:class:`~agent.execution.streamed.BookedTrades`); True if booked now."""
        if not self.booked_trades.first_time(fill):
            return False
        iid = fill.instrument_id
        before = self._portfolio.position_qty(strategy, iid)
        self._portfolio.apply_fill(strategy, fill, iid.kind)
        self._journal.record_fill(ts_ms, strategy, fill)
        self.exposure.on_fill(fill, ts_ms)
        events.order_filled(strategy, fill, ts_ms)
        after = self._portfolio.position_qty(strategy, iid)
        events.position_changed(strategy, iid, before, after, fill.price, ts_ms)
        return True

    def book_streamed(self, stream_events: Iterable[AccountEvent], ts_ms: int) -> StreamBooking:
        """Book a batch of account-stream events as they arrived (fills once, order updates
        that move an order forward); see :func:`agent.execution.streamed.book_account_events`."""
        return book_account_events(self, stream_events, ts_ms)


def _unknown(cause: BaseException, venue: str) -> VenueError:
    """The send's own failure as the unknown outcome (a deadline becomes ``RequestTimeout``)."""
    if isinstance(cause, VenueError):
        return cause
    return RequestTimeout(f"no answer: {type(cause).__name__}", venue=venue)
