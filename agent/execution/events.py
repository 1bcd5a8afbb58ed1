"""The audit events of trading: one log line at info per order sent, order update, fill,
funding payment and position opened or closed.

Every line has the same keys, whatever the venue: ``venue``, ``instrument`` (the full id,
``binance:perp:BTCUSDT``), ``strategy``, ``side`` (``buy``/``sell``), ``qty`` (base units),
``price`` (quote units = USD), ``fee_usd``, ``client_order_id`` and ``ts_ms`` (the agent's
clock, epoch ms UTC: simulated time in a replay), with numbers as JSON numbers. Decimals
become floats here, for the log only: the journal keeps the exact values.

A key that does not apply to an event (no fee on an order sent) is left out; a value not
known yet (the average price of an order without fills) is null. When info is off (a replay
logging at warning) each call returns before building its fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import structlog

from agent.logs import info_enabled
from venues.model import Fill, FundingPayment, InstrumentId, OrderAck, OrderRequest

log = structlog.get_logger("zerobeta.trades")


def _keys(
    iid: InstrumentId,
    strategy: str | None,
    side: str | None,
    qty: Decimal,
    price: Decimal | None,
    ts_ms: int,
) -> dict[str, Any]:
    """The fixed keys of every trading event (see the module docstring); ``side`` left out when
    None (a funding payment has none)."""
    keys: dict[str, Any] = {"venue": iid.venue, "instrument": str(iid), "strategy": strategy}
    if side is not None:
        keys["side"] = side
    keys.update(qty=float(qty), price=_float(price), ts_ms=ts_ms)
    return keys


def order_sent(strategy: str, request: OrderRequest, ts_ms: int) -> None:
    """``order_sent``: an order leaves for its venue (after its journal row is written)."""
    if not info_enabled():
        return
    log.info(
        "order_sent",
        **_keys(
            request.instrument_id,
            strategy,
            request.side.value,
            request.qty,
            request.reference_price,
            ts_ms,
        ),
        client_order_id=request.client_order_id,
        order_type=request.order_type.value,
        reduce_only=request.reduce_only,
    )


def order_updated(strategy: str, ack: OrderAck, ts_ms: int) -> None:
    """``order_updated``: the venue's answer about an order (status, filled qty, avg price)."""
    if not info_enabled():
        return
    log.info(
        "order_updated",
        **_keys(ack.instrument_id, strategy, ack.side.value, ack.qty, ack.avg_price, ts_ms),
        client_order_id=ack.client_order_id,
        status=ack.status.value,
        filled_qty=float(ack.filled_qty),
        venue_order_id=ack.venue_order_id,
    )


def order_filled(strategy: str, fill: Fill, ts_ms: int) -> None:
    """``order_filled``: one execution booked for ``strategy``."""
    if not info_enabled():
        return
    log.info(
        "order_filled",
        **_keys(fill.instrument_id, strategy, fill.side.value, fill.qty, fill.price, ts_ms),
        fee_usd=float(fill.fee_usd),
        client_order_id=fill.client_order_id,
        trade_id=fill.trade_id,
        liquidity=fill.liquidity.value,
    )


def position_changed(
    strategy: str, iid: InstrumentId, before: Decimal, after: Decimal, price: Decimal, ts_ms: int
) -> None:
    """``position_opened`` when ``strategy``'s position in ``iid`` leaves zero,
    ``position_closed`` when it returns to zero (both when a fill flips its sign); nothing
    otherwise. ``qty`` is the signed position (opened) or the signed position closed."""
    if (
        not info_enabled()
        or before == after
        or (before != 0 and after != 0 and (before > 0) == (after > 0))
    ):
        return
    if before != 0:
        _position("position_closed", strategy, iid, before, price, ts_ms)
    if after != 0:
        _position("position_opened", strategy, iid, after, price, ts_ms)


def _position(
    event: str, strategy: str, iid: InstrumentId, qty: Decimal, price: Decimal, ts_ms: int
) -> None:
    log.info(event, **_keys(iid, strategy, "buy" if qty > 0 else "sell", qty, price, ts_ms))


def funding_settled(
    payment: FundingPayment, allocations: Mapping[str, Decimal], ts_ms: int
) -> None:
    """``funding_settled``: one funding payment booked (``amount_usd`` signed: positive
    received, negative paid). ``strategy`` is the holder when one strategy held the position,
    else absent; ``allocations_usd`` is the split per strategy."""
    if not info_enabled():
        return
    holders = [s for s, amount in allocations.items() if amount != 0]
    log.info(
        "funding_settled",
        **_keys(
            payment.instrument_id,
            holders[0] if len(holders) == 1 else None,
            None,
            payment.position_qty,
            payment.mark_price,
            ts_ms,
        ),
        amount_usd=float(payment.amount_usd),
        rate=payment.rate,
        interval_s=payment.interval_s,
        funding_ts_ms=payment.ts_funding_ms,
        allocations_usd={s: float(amount) for s, amount in allocations.items()},
    )


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
