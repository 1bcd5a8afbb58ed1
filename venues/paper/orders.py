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
from dataclasses import replace
from decimal import Decimal
from typing import NoReturn

from venues.base import AccountEvent
from venues.errors import (
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    RequestTimeout,
)
from venues.model import (
    Fill,
    Instrument,
    InstrumentId,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Side,
    VenueFees,
)
from venues.paper.config import PaperVenueConfig
from venues.paper.ledger import Ledger
from venues.paper.rules import (
    CODE_BAD_SYMBOL,
    CODE_BALANCE,
    CODE_DUPLICATE_ID,
    CODE_MARGIN,
    notional_problem,
    reduce_only_problem,
    shape_problem,
    taker_price,
    within_limit,
)

__all__ = ["OrderDesk"]

_ZERO = Decimal(0)


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
        """Execute ``request``; a ``partial`` fault fills half of it (rounded down to the lot
        step; nothing below the instrument's minimums) and expires the rest."""
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
        fill = self._fill(request, price, ref_price, fee)
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
        self, request: OrderRequest, price: Decimal, ref_price: Decimal, fee: Decimal
    ) -> Fill:
        self._ledger.book(request.instrument_id, request.side.sign * request.qty, price, fee)
        self.trade_seq += 1
        fill = Fill(
            request.instrument_id,
            request.client_order_id,
            self._next_order_id(),
            str(self.trade_seq),
            request.side,
            request.qty,
            price,
            fee,
            Liquidity.TAKER,
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
