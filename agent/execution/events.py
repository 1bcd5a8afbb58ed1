"""The audit events of trading: one log line at info per order sent, order update, fill,
funding payment and position opened or closed.

Every line has the same keys, whatever the venue: ``venue``, ``instrument`` (the full id,
``binance:perp:BTCUSDT``), ``strategy``, ``side`` (``buy``/``sell``), ``qty`` (base units),
``price`` (quote units = USD), ``fee_usd``, ``client_order_id`` and ``ts_ms`` (the agent's
clock, epoch ms UTC: simulated time in a replay), with numbers as JSON numbers. Decimals
become floats here, for the log only: the journal keeps the exact values.

A key that does not apply to an event (no fee on an order sent) is left out; a value not
known yet (the average price of an order without fills) is null. Each call is cheap: when info
is off the logger's filtered method returns at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import structlog

from venues.model import Fill, FundingPayment, InstrumentId, OrderAck, OrderRequest

log = structlog.get_logger("zerobeta.trades")


def order_sent(strategy: str, request: OrderRequest, ts_ms: int) -> None:
    """``order_sent``: an order leaves for its venue (after its journal row is written)."""
    iid = request.instrument_id
    log.info(
        "order_sent",
        venue=iid.venue,
        instrument=str(iid),
        strategy=strategy,
        side=request.side.value,
        qty=float(request.qty),
        price=_float(request.reference_price),
        client_order_id=request.client_order_id,
        ts_ms=ts_ms,
        order_type=request.order_type.value,
        reduce_only=request.reduce_only,
    )


def order_updated(strategy: str, ack: OrderAck, ts_ms: int) -> None:
    """``order_updated``: the venue's answer about an order (status, filled qty, avg price)."""
    iid = ack.instrument_id
    log.info(
        "order_updated",
        venue=iid.venue,
        instrument=str(iid),
        strategy=strategy,
        side=ack.side.value,
        qty=float(ack.qty),
        price=_float(ack.avg_price),
        client_order_id=ack.client_order_id,
        ts_ms=ts_ms,
        status=ack.status.value,
        filled_qty=float(ack.filled_qty),
        venue_order_id=ack.venue_order_id,
    )


def order_filled(strategy: str, fill: Fill, ts_ms: int) -> None:
    """``order_filled``: one execution booked for ``strategy``."""
    iid = fill.instrument_id
    log.info(
        "order_filled",
        venue=iid.venue,
        instrument=str(iid),
        strategy=strategy,
        side=fill.side.value,
        qty=float(fill.qty),
        price=float(fill.price),
        fee_usd=float(fill.fee_usd),
        client_order_id=fill.client_order_id,
        ts_ms=ts_ms,
        trade_id=fill.trade_id,
        liquidity=fill.liquidity.value,
    )


def position_changed(
    strategy: str, iid: InstrumentId, before: Decimal, after: Decimal, price: Decimal, ts_ms: int
) -> None:
    """``position_opened`` when ``strategy``'s position in ``iid`` leaves zero,
    ``position_closed`` when it returns to zero (both when a fill flips its sign); nothing
    otherwise. ``qty`` is the signed position (opened) or the signed position closed."""
    if before == after or (before != 0 and after != 0 and (before > 0) == (after > 0)):
        return
    if before != 0:
        _position("position_closed", strategy, iid, before, price, ts_ms)
    if after != 0:
        _position("position_opened", strategy, iid, after, price, ts_ms)


def _position(
    event: str, strategy: str, iid: InstrumentId, qty: Decimal, price: Decimal, ts_ms: int
) -> None:
    log.info(
        event,
        venue=iid.venue,
        instrument=str(iid),
        strategy=strategy,
        side="buy" if qty > 0 else "sell",
        qty=float(qty),
        price=float(price),
        ts_ms=ts_ms,
    )


def funding_settled(
    payment: FundingPayment, allocations: Mapping[str, Decimal], ts_ms: int
) -> None:
    """``funding_settled``: one funding payment booked (``amount_usd`` signed: positive
    received, negative paid). ``strategy`` is the holder when one strategy held the position,
    else absent; ``allocations_usd`` is the split per strategy."""
    iid = payment.instrument_id
    holders = [s for s, amount in allocations.items() if amount != 0]
    log.info(
        "funding_settled",
        venue=iid.venue,
        instrument=str(iid),
        strategy=holders[0] if len(holders) == 1 else None,
        qty=float(payment.position_qty),
        price=float(payment.mark_price),
        ts_ms=ts_ms,
        amount_usd=float(payment.amount_usd),
        rate=payment.rate,
        interval_s=payment.interval_s,
        funding_ts_ms=payment.ts_funding_ms,
        allocations_usd={s: float(amount) for s, amount in allocations.items()},
    )


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
