"""Deribit private payloads (orders, trades, positions, account summary) → value types.

Sources: https://docs.deribit.com/#private-buy (order and trade objects),
``#private-get_order_state_by_label``, ``#private-get_user_trades_by_currency``,
``#private-get_positions``, ``#private-get_account_summary``, ``#user-orders-kind-currency-
interval`` and ``#user-portfolio-currency``; fixtures ``buy_response*.json``,
``get_order_state_by_label.json``, ``get_user_trades_by_currency_option.json``,
``get_positions*.json``, ``get_account_summary.json``, ``ws_user_orders.json``,
``ws_user_portfolio.json`` in ``tests/fixtures/deribit-v2/``.

An order's ``label`` is our client order id; ``amount``/``filled_amount`` are venue units (base
units for the linear instruments the common model trades). A fee paid in a coin is valued in
USD at the trade's ``index_price``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal

from venues.deribit import constants as c
from venues.deribit.fields import (
    Row,
    array_field,
    as_array,
    as_object,
    dec_field,
    float_field,
    int_field,
    opt_dec_field,
    payload_error,
    str_field,
    text_field,
)
from venues.deribit.parse import parse_greeks, perp_id
from venues.deribit.types import DeribitAccountSummary, DeribitPosition
from venues.model import (
    Balance,
    Fill,
    InstrumentId,
    Liquidity,
    OptionGreeks,
    OrderAck,
    OrderStatus,
    Position,
    Side,
    liquidation_price_or_none,
)

_STATES = {
    "open": OrderStatus.NEW,
    "untriggered": OrderStatus.NEW,
    "triggered": OrderStatus.NEW,
    "filled": OrderStatus.FILLED,
    "cancelled": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}
_LIQUIDITY = {"M": Liquidity.MAKER, "T": Liquidity.TAKER}


def side_field(row: Row, key: str, where: str) -> Side:
    """``buy``/``sell`` field as a :class:`~venues.model.Side`."""
    text = str_field(row, key, where)
    if text not in ("buy", "sell"):
        raise payload_error(where, f"field {key!r} is {text!r}, expected buy or sell")
    return Side(text)


def _status(row: Row, filled: Decimal, where: str) -> OrderStatus:
    text = str_field(row, "order_state", where)
    status = _STATES.get(text)
    if status is None:
        raise payload_error(where, f"field 'order_state' is {text!r}")
    if status is OrderStatus.NEW and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def parse_order(row: Row, instrument_id: InstrumentId, where: str = "order") -> OrderAck:
    """One order object as an :class:`~venues.model.OrderAck` (without fills): ``label`` →
    client order id, ``open`` with a fill → PARTIALLY_FILLED, ``average_price`` only once
    something filled, ``last_update_timestamp`` as the event time."""
    filled = dec_field(row, "filled_amount", where)
    return OrderAck(
        client_order_id=str_field(row, "label", where),
        venue_order_id=text_field(row, "order_id", where),
        instrument_id=instrument_id,
        side=side_field(row, "direction", where),
        status=_status(row, filled, where),
        qty=dec_field(row, "amount", where),
        filled_qty=filled,
        avg_price=dec_field(row, "average_price", where) if filled > 0 else None,
        ts_event_ms=int_field(row, "last_update_timestamp", where),
    )


def _fee_usd(row: Row, where: str) -> Decimal:
    fee = dec_field(row, "fee", where)
    if text_field(row, "fee_currency", where) in c.USD_LIKE:
        return fee
    return fee * dec_field(row, "index_price", where)


def parse_trade(row: Row, instrument_id: InstrumentId, label: str, where: str) -> Fill:
    """One trade object as a :class:`~venues.model.Fill` of the order labelled ``label``;
    ``amount`` base units, ``fee`` (positive paid, negative rebate) in USD."""
    liquidity = _LIQUIDITY.get(str_field(row, "liquidity", where))
    if liquidity is None:
        raise payload_error(where, f"field 'liquidity' is {row.get('liquidity')!r}")
    return Fill(
        instrument_id=instrument_id,
        client_order_id=label,
        venue_order_id=text_field(row, "order_id", where),
        trade_id=text_field(row, "trade_id", where),
        side=side_field(row, "direction", where),
        qty=dec_field(row, "amount", where),
        price=dec_field(row, "price", where),
        fee_usd=_fee_usd(row, where),
        liquidity=liquidity,
        ts_event_ms=int_field(row, "timestamp", where),
    )


def parse_trades(result: object, instrument_id: InstrumentId, label: str) -> tuple[Fill, ...]:
    """``private/get_user_trades_by_order`` (an array) or ``{trades: [...]}`` of
    ``get_user_trades_by_currency``, oldest first."""
    rows = (
        array_field(result, "trades", "trades")
        if isinstance(result, Mapping)
        else as_array(result, "trades")
    )
    fills = [
        parse_trade(as_object(r, f"trades[{i}]"), instrument_id, label, f"trades[{i}]")
        for i, r in enumerate(rows)
    ]
    return tuple(sorted(fills, key=lambda f: (f.ts_event_ms, f.trade_id)))


def parse_order_response(result: object, instrument_id: InstrumentId) -> OrderAck:
    """``{order, trades[]}`` of ``private/buy``/``private/sell`` with its fills. Fixtures
    ``buy_response.json``, ``buy_response_recorded_linear_perp.json``."""
    row = as_object(result, "buy")
    ack = parse_order(as_object(row.get("order"), "buy.order"), instrument_id, "buy.order")
    fills = parse_trades(array_field(row, "trades", "buy"), instrument_id, ack.client_order_id)
    return with_fills(ack, fills)


def with_fills(ack: OrderAck, fills: tuple[Fill, ...]) -> OrderAck:
    """``ack`` carrying ``fills``."""
    return dataclasses.replace(ack, fills=fills)


def order_rows(result: object, where: str) -> list[Row]:
    """An array of order objects (``get_order_state_by_label``, ``get_open_orders_*``,
    ``user.orders`` ``data``). Fixtures ``get_order_state_by_label.json``,
    ``ws_user_orders.json``."""
    return [as_object(item, f"{where}[{i}]") for i, item in enumerate(as_array(result, where))]


def latest_order(rows: list[Row], where: str) -> Row | None:
    """The most recently created of ``rows`` (a label may sit on several orders), or None."""
    if not rows:
        return None
    return max(rows, key=lambda r: int_field(r, "creation_timestamp", where))


# --- positions and account ----------------------------------------------------------------


def _signed(row: Row, key: str, where: str) -> Decimal:
    size = dec_field(row, key, where)
    direction = str_field(row, "direction", where)
    return -abs(size) if direction == "sell" else size


def parse_deribit_position(row: Row, where: str) -> DeribitPosition:
    """One ``get_positions`` row, any kind (greeks for options)."""
    kind = text_field(row, "kind", where)
    greeks: OptionGreeks | None = None
    if kind == c.KIND_OPTION:
        greeks = parse_greeks(row, where)
    size_currency = opt_dec_field(row, "size_currency", where)
    return DeribitPosition(
        instrument_name=text_field(row, "instrument_name", where),
        kind=kind,
        size=_signed(row, "size", where),
        size_currency=None if size_currency is None else _signed(row, "size_currency", where),
        average_price=dec_field(row, "average_price", where),
        mark_price=dec_field(row, "mark_price", where),
        index_price=dec_field(row, "index_price", where),
        delta=float_field(row, "delta", where),
        greeks=greeks,
        floating_profit_loss=dec_field(row, "floating_profit_loss", where),
        realized_profit_loss=dec_field(row, "realized_profit_loss", where),
        total_profit_loss=dec_field(row, "total_profit_loss", where),
        realized_funding=opt_dec_field(row, "realized_funding", where),
        estimated_liquidation_price=opt_dec_field(row, "estimated_liquidation_price", where),
        average_price_usd=opt_dec_field(row, "average_price_usd", where),
    )


def parse_deribit_positions(result: object) -> list[DeribitPosition]:
    """``private/get_positions`` result. Fixtures ``get_positions.json``,
    ``get_positions_option_constructed.json``."""
    rows = as_array(result, "get_positions")
    return [
        parse_deribit_position(as_object(r, f"get_positions[{i}]"), f"get_positions[{i}]")
        for i, r in enumerate(rows)
    ]


def common_position(position: DeribitPosition, ts_event_ms: int) -> Position:
    """A linear perpetual's position as a :class:`~venues.model.Position` (``size`` is base
    units there)."""
    return Position(
        instrument_id=perp_id(position.instrument_name),
        qty=position.size,
        entry_price=position.average_price,
        mark_price=position.mark_price,
        ts_event_ms=ts_event_ms,
        liquidation_price=liquidation_price_or_none(position.estimated_liquidation_price),
    )


def parse_account_summary(
    result: object, where: str = "get_account_summary"
) -> DeribitAccountSummary:
    """``private/get_account_summary`` result or ``user.portfolio`` ``data``."""
    row = as_object(result, where)
    return DeribitAccountSummary(
        currency=text_field(row, "currency", where),
        equity=dec_field(row, "equity", where),
        balance=dec_field(row, "balance", where),
        margin_balance=dec_field(row, "margin_balance", where),
        available_funds=dec_field(row, "available_funds", where),
        initial_margin=dec_field(row, "initial_margin", where),
        maintenance_margin=dec_field(row, "maintenance_margin", where),
        delta_total=float_field(row, "delta_total", where),
        projected_delta_total=float_field(row, "projected_delta_total", where),
        options_delta=float_field(row, "options_delta", where),
        options_gamma=float_field(row, "options_gamma", where),
        options_vega=float_field(row, "options_vega", where),
        options_theta=float_field(row, "options_theta", where),
        margin_model=str_field(row, "margin_model", where),
    )


def balance_of(summary: DeribitAccountSummary, ts_event_ms: int) -> Balance:
    """The account summary of one currency as a :class:`~venues.model.Balance`: total =
    ``balance``, available = ``available_funds`` (floored at 0)."""
    return Balance(
        c.VENUE,
        summary.currency,
        summary.balance,
        max(summary.available_funds, Decimal(0)),
        ts_event_ms,
    )
