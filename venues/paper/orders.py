"""Order pipeline of the paper venue: checks, fill, acks and the book of client order ids.

Moved from :mod:`venues.paper.venue` (see its "Execution model" section and
:meth:`PaperVenue.place_order`, which documents every rejection and its Binance code).
:class:`OrderDesk` keeps every order ever sent, by client order id, rejected ones included,
and the order and trade id counters; it checks an order with :mod:`venues.paper.rules` and
the venue's :class:`~venues.paper.ledger.Ledger`, books the fill in that ledger and hands
fills and acks to the venue's ``publish`` callback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import NoReturn

from venues.base import AccountEvent
from venues.errors import (
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RequestTimeout,
)
from venues.model import (
    Bar,
    Fill,
    Instrument,
    InstrumentId,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Side,
    TimeInForce,
    VenueFees,
)
from venues.paper.config import PaperVenueConfig
from venues.paper.ledger import Ledger
from venues.paper.rules import (
    CODE_BAD_SYMBOL,
    CODE_BALANCE,
    CODE_DUPLICATE_ID,
    CODE_MARGIN,
    CODE_POST_ONLY_CROSS,
    maker_fill_qty,
    notional_problem,
    post_only_crosses,
    reduce_only_problem,
    shape_problem,
    taker_price,
    within_limit,
)

__all__ = ["OrderDesk", "RestingOrder"]

_ZERO = Decimal(0)


@dataclass(slots=True)
class RestingOrder:
    """A post-only order resting on the paper book: its request, when it was placed (epoch
    ms; only bars opening at or after it can fill it), its venue order id and its fills."""

    request: OrderRequest
    placed_ms: int
    venue_order_id: str
    fills: list[Fill] = field(default_factory=list)

    @property
    def filled_qty(self) -> Decimal:
        """Filled so far, base units."""
        return sum((f.qty for f in self.fills), _ZERO)


class OrderDesk:
    """Executes paper orders at once and remembers them by client order id.

    Parameters
    ----------
    config : PaperVenueConfig
        Fees, slippage and leverage.
    instruments : Mapping[InstrumentId, Instrument]
        The venue's instruments (read, not copied).
    prices : Mapping[InstrumentId, Decimal]
        The venue's current prices, quote units (read, not copied).
    ledger : Ledger
        The venue's account, checked for funds and booked on each fill.
    now_ms : Callable[[], int]
        The venue's clock, epoch ms UTC.
    publish : Callable[[AccountEvent], None]
        Hands a fill or an accepted order's ack to the venue's account streams.
    error_venue : str
        Venue name carried by the errors raised.
    """

    def __init__(
        self,
        config: PaperVenueConfig,
        instruments: Mapping[InstrumentId, Instrument],
        prices: Mapping[InstrumentId, Decimal],
        ledger: Ledger,
        *,
        now_ms: Callable[[], int],
        publish: Callable[[AccountEvent], None],
        error_venue: str,
    ) -> None:
        self._config = config
        self._instruments = instruments
        self._prices = prices
        self._ledger = ledger
        self._now_ms = now_ms
        self._publish = publish
        self._error_venue = error_venue
        self.orders: dict[str, OrderAck] = {}
        self.resting: dict[str, RestingOrder] = {}
        self.order_seq = 0
        self.trade_seq = 0

    def place(self, request: OrderRequest) -> OrderAck:
        """Execute ``request`` and remember it (see :meth:`PaperVenue.place_order`)."""
        if request.client_order_id in self.orders:
            raise DuplicateClientOrderId(
                f"client order id {request.client_order_id!r} already used",
                venue=self._error_venue,
                client_order_id=request.client_order_id,
                reason="duplicate client order id",
                code=CODE_DUPLICATE_ID,
            )
        faults = self._config.faults
        fault = None if faults is None else faults.fault_for(request.client_order_id)
        if fault == "reject":
            err = OrderRejected(
                "injected rejection ([venues] fault_reject_frac)",
                venue=self._error_venue,
                client_order_id=request.client_order_id,
                reason="injected fault",
                code="fault",
            )
            self.orders[request.client_order_id] = self._ack(
                request, OrderStatus.REJECTED, reject=err
            )
            raise err
        try:
            ack = self._execute_faulted(request, fault)
        except OrderRejected as err:
            self.orders[request.client_order_id] = self._ack(
                request, OrderStatus.REJECTED, reject=err
            )
            raise
        self.orders[request.client_order_id] = ack
        self._publish(ack)
        if fault == "unknown":  # executed; the answer is lost on its way back
            raise RequestTimeout(
                f"injected: the answer to {request.client_order_id} was lost "
                "([venues] fault_unknown_frac)",
                venue=self._error_venue,
            )
        return ack

    def _execute_faulted(self, request: OrderRequest, fault: str | None) -> OrderAck:
        """Execute ``request`` (a post-only one rests, :meth:`_rest`); a ``partial`` fault
        fills half of it (rounded down to the lot step; nothing below the instrument's
        minimums) and expires the rest."""
        if request.time_in_force is TimeInForce.POST_ONLY:
            return self._rest(request)
        if fault != "partial":
            return self._execute(request)
        step = self._instruments[request.instrument_id].lot_step
        half = (request.qty / 2 // step) * step
        if half > 0:
            try:
                part = self._execute(replace(request, qty=half))
            except InvalidOrder:  # half is below a minimum: nothing fills
                pass
            else:
                return replace(part, qty=request.qty, status=OrderStatus.EXPIRED)
        return self._ack(request, OrderStatus.EXPIRED)

    def _rest(self, request: OrderRequest) -> OrderAck:
        """Check a post-only ``request`` like any order and put it on the book (``NEW``);
        refused with ``PostOnlyWouldCross`` (``-5022``) when its limit is through the current
        price. Funds are checked when it fills (:meth:`fill_from_bar`)."""
        inst = self._instrument_for(request)
        self._check(InvalidOrder, request, shape_problem(request, inst))
        ref_price = self._price_for(request)
        self._check(InvalidOrder, request, notional_problem(request, inst, ref_price))
        held = self._ledger.qty(request.instrument_id)
        self._check(InvalidOrder, request, reduce_only_problem(request, held))
        if post_only_crosses(request, ref_price):
            reason = f"post-only {request.side} at {request.limit_price} would take at {ref_price}"
            self._reject(PostOnlyWouldCross, request, CODE_POST_ONLY_CROSS, reason)
        order = RestingOrder(request, self._now_ms(), self._next_order_id())
        self.resting[request.client_order_id] = order
        return self._resting_ack(order, OrderStatus.NEW)

    def cancel(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """Cancel a resting order (``CANCELED``, its fills kept) and publish the ack; an order
        no longer resting is returned unchanged. ``OrderNotFound`` if unknown."""
        ack = self.find(instrument_id, client_order_id)
        order = self.resting.pop(client_order_id, None)
        if order is None:
            return ack
        ack = self._resting_ack(order, OrderStatus.CANCELED)
        self.orders[client_order_id] = ack
        self._publish(ack)
        return ack

    def fill_from_bar(self, bar: Bar, volume_frac: Decimal) -> None:
        """Fill the resting orders of ``bar.instrument_id`` placed at or before the bar opened
        (:func:`~venues.paper.rules.maker_fill_qty`: only through the limit by more than a
        tick), at their limit, as maker, oldest first, together at most ``volume_frac`` of
        the bar's volume (base units, rounded down to the lot step). A fill the account cannot
        fund ends the order ``EXPIRED``."""
        waiting = [
            o
            for o in self.resting.values()
            if o.request.instrument_id == bar.instrument_id and o.placed_ms <= bar.ts_open_ms
        ]
        if not waiting:
            return
        inst = self._instruments[bar.instrument_id]
        capacity = Decimal(repr(float(bar.volume))) * volume_frac
        low, high = Decimal(repr(float(bar.low))), Decimal(repr(float(bar.high)))
        for order in waiting:
            request = order.request
            remaining = request.qty - order.filled_qty
            qty = maker_fill_qty(request, remaining, low, high, capacity, inst)
            if qty <= 0:
                continue
            price = request.limit_price
            assert price is not None
            fee = self._fees(inst).maker_frac * qty * price
            part = replace(request, qty=qty)
            try:
                self._check_funds(part, inst, price, fee)
            except OrderRejected:
                del self.resting[request.client_order_id]
                ack = self._resting_ack(order, OrderStatus.EXPIRED)
                self.orders[request.client_order_id] = ack
                self._publish(ack)
                continue
            capacity -= qty
            ref = request.reference_price if request.reference_price is not None else price
            fill = self._fill(part, price, ref, fee, Liquidity.MAKER, order.venue_order_id)
            order.fills.append(fill)
            done = order.filled_qty == request.qty
            status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
            ack = self._resting_ack(order, status)
            self.orders[request.client_order_id] = ack
            if done:
                del self.resting[request.client_order_id]
            self._publish(ack)

    def _resting_ack(self, order: RestingOrder, status: OrderStatus) -> OrderAck:
        filled = order.filled_qty
        avg = sum((f.qty * f.price for f in order.fills), _ZERO) / filled if filled > 0 else None
        return OrderAck(
            client_order_id=order.request.client_order_id,
            venue_order_id=order.venue_order_id,
            instrument_id=order.request.instrument_id,
            side=order.request.side,
            status=status,
            qty=order.request.qty,
            filled_qty=filled,
            avg_price=avg,
            ts_event_ms=self._now_ms(),
            fills=tuple(order.fills),
        )

    def find(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """The order with this client order id; ``OrderNotFound`` if none on ``instrument_id``."""
        ack = self.orders.get(client_order_id)
        if ack is None or ack.instrument_id != instrument_id:
            raise OrderNotFound(
                f"no order {client_order_id!r} on {instrument_id}", venue=self._error_venue
            )
        return ack

    def restore_fill(self, fill: Fill) -> None:
        """Book a journaled fill as :meth:`place` booked it and advance both id counters."""
        self._ledger.book(fill.instrument_id, fill.side.sign * fill.qty, fill.price, fill.fee_usd)
        self.trade_seq += 1
        self.order_seq += 1

    def restore_resting(self, request: OrderRequest, placed_ms: int, fills: list[Fill]) -> None:
        """Rest a post-only order again after a restart (its ``fills`` so far already booked by
        :meth:`restore_fill`): on the book as placed at ``placed_ms``, its venue order id that
        of its fills (a new one without)."""
        order_id = fills[0].venue_order_id if fills else self._next_order_id()
        order = RestingOrder(request, placed_ms, order_id, list(fills))
        self.resting[request.client_order_id] = order
        status = OrderStatus.PARTIALLY_FILLED if fills else OrderStatus.NEW
        self.orders[request.client_order_id] = self._resting_ack(order, status)

    def _execute(self, request: OrderRequest) -> OrderAck:
        inst = self._instrument_for(request)
        self._check(InvalidOrder, request, shape_problem(request, inst))
        ref_price = self._price_for(request)
        self._check(InvalidOrder, request, notional_problem(request, inst, ref_price))
        held = self._ledger.qty(request.instrument_id)
        self._check(InvalidOrder, request, reduce_only_problem(request, held))
        price = taker_price(request.side, ref_price, self._config.slippage_bps, inst.tick_size)
        if not within_limit(request, price):
            return self._ack(request, OrderStatus.EXPIRED)
        fee = self._fees(inst).taker_frac * request.qty * price
        self._check_funds(request, inst, price, fee)
        fill = self._fill(request, price, ref_price, fee, Liquidity.TAKER, self._next_order_id())
        return self._ack(request, OrderStatus.FILLED, fill=fill)

    def _instrument_for(self, request: OrderRequest) -> Instrument:
        inst = self._instruments.get(request.instrument_id)
        if inst is None:
            self._reject(InvalidOrder, request, CODE_BAD_SYMBOL, "unknown instrument")
        return inst

    def _check(
        self, error: type[OrderRejected], request: OrderRequest, problem: tuple[str, str] | None
    ) -> None:
        if problem is not None:
            self._reject(error, request, *problem)

    def _price_for(self, request: OrderRequest) -> Decimal:
        price = self._prices.get(request.instrument_id)
        if price is None:
            self._reject(InvalidOrder, request, None, "no price for the instrument yet")
        return price

    def _check_funds(
        self, request: OrderRequest, inst: Instrument, price: Decimal, fee: Decimal
    ) -> None:
        if inst.is_perp:
            self._check_perp_margin(request, price, fee)
        elif request.side is Side.SELL and not inst.is_option:  # options may be sold short
            held = self._ledger.qty(inst.id)
            if request.qty > held:
                reason = f"insufficient {inst.base}: sell {request.qty} > held {held} (no short)"
                self._reject(InsufficientMargin, request, CODE_BALANCE, reason)
        else:
            required, available = request.qty * price + fee, self._ledger.available_usd()
            if required > available:
                reason = f"insufficient USD: cost + fee {required} > available {available}"
                self._reject(InsufficientMargin, request, CODE_BALANCE, reason)

    def _check_perp_margin(self, request: OrderRequest, price: Decimal, fee: Decimal) -> None:
        """Only orders that grow |position| need margin: added notional / leverage + fee."""
        held = self._ledger.qty(request.instrument_id)
        added_qty = abs(held + request.side.sign * request.qty) - abs(held)
        if added_qty <= 0:
            return
        required = added_qty * price / self._config.perp_leverage + fee
        available = self._ledger.available_usd()
        if required > available:
            reason = f"insufficient margin: initial margin + fee {required} > available {available}"
            self._reject(InsufficientMargin, request, CODE_MARGIN, reason)

    def _fill(
        self,
        request: OrderRequest,
        price: Decimal,
        ref_price: Decimal,
        fee: Decimal,
        liquidity: Liquidity,
        venue_order_id: str,
    ) -> Fill:
        self._ledger.book(request.instrument_id, request.side.sign * request.qty, price, fee)
        self.trade_seq += 1
        fill = Fill(
            request.instrument_id,
            request.client_order_id,
            venue_order_id,
            str(self.trade_seq),
            request.side,
            request.qty,
            price,
            fee,
            liquidity,
            self._now_ms(),
            reference_price=ref_price,
        )
        self._publish(fill)
        return fill

    def _next_order_id(self) -> str:
        self.order_seq += 1
        return str(self.order_seq)

    def _fees(self, inst: Instrument) -> VenueFees:
        return self._config.perp_fees if inst.is_perp else self._config.spot_fees

    def _ack(
        self,
        request: OrderRequest,
        status: OrderStatus,
        *,
        fill: Fill | None = None,
        reject: OrderRejected | None = None,
    ) -> OrderAck:
        return OrderAck(
            client_order_id=request.client_order_id,
            venue_order_id=fill.venue_order_id if fill else self._next_order_id(),
            instrument_id=request.instrument_id,
            side=request.side,
            status=status,
            qty=request.qty,
            filled_qty=fill.qty if fill else _ZERO,
            avg_price=fill.price if fill else None,
            ts_event_ms=self._now_ms(),
            fills=(fill,) if fill else (),
            reject_code=reject.code if reject else None,
            reject_reason=reject.reason if reject else None,
        )

    def _reject(
        self,
        error: type[OrderRejected],
        request: OrderRequest,
        code: str | None,
        reason: str,
    ) -> NoReturn:
        raise error(
            f"order {request.client_order_id!r} on {request.instrument_id} rejected: {reason}",
            venue=self._error_venue,
            client_order_id=request.client_order_id,
            reason=reason,
            code=code,
        )
