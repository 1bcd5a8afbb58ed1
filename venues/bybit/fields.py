"""Typed field readers shared by the Bybit parsers, bound from
:class:`venues.fields.FieldReader` under the public names listed there: each raises
``ProtocolError`` naming the payload place and the field, so no ``KeyError``/``ValueError``
escapes a parser. Also the order status, side and category tables."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from venues.bybit.constants import CATEGORY_LINEAR, CATEGORY_SPOT, VENUE
from venues.fields import FieldReader
from venues.model import InstrumentId, InstrumentKind, OrderStatus, Side

Row = Mapping[str, Any]
MS_PER_S = 1_000
S_PER_MIN = 60
ZERO = Decimal(0)
_KINDS = {CATEGORY_LINEAR: InstrumentKind.PERP, CATEGORY_SPOT: InstrumentKind.SPOT}
_SIDES = {"Buy": Side.BUY, "Sell": Side.SELL}
STATUS_MAP: dict[str, OrderStatus] = {
    "New": OrderStatus.NEW,
    "Untriggered": OrderStatus.NEW,
    "Triggered": OrderStatus.NEW,  # a conditional order that became a live order
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELED,  # may carry fills on derivatives
    "PartiallyFilledCanceled": OrderStatus.CANCELED,  # spot
    "Deactivated": OrderStatus.CANCELED,
    "Rejected": OrderStatus.REJECTED,
}


# --- field readers (venues.fields.FieldReader) --------------------------------------------

# Bybit sends numbers as strings (ints accepted), ms times as digit strings, and blanks or
# omits unused amounts.
_READ = FieldReader(VENUE, decimal_types=(str, int), integer_text=True, absent_is_blank=True)
payload_error = _READ.error
as_object = _READ.obj
as_array = _READ.array
text_field = _READ.text
dec_field = _READ.decimal
float_field = _READ.number
int_field = _READ.integer


def dec_or_zero_field(row: Row, key: str, where: str) -> Decimal:
    """Decimal field ``key``; ``""``, ``null`` or absent counts as 0 (Bybit blanks unused
    amounts).

    Raises
    ------
    ProtocolError
        If the field is neither blank nor a finite decimal string or JSON integer.
    """
    value = _READ.decimal_or_none(row, key, where)
    return ZERO if value is None else value


def side_field(row: Row, key: str, where: str) -> Side:
    """``Buy``/``Sell`` field ``key``."""
    text = row.get(key)
    if not isinstance(text, str) or text not in _SIDES:  # a list/dict is unhashable
        raise payload_error(where, f"field {key!r} has unknown side {text!r}")
    return _SIDES[text]


def check_category(category: str) -> InstrumentKind:
    """``linear`` → perp, ``spot`` → spot; else :class:`ProtocolError` (inverse, option are
    out of scope)."""
    if category not in _KINDS:
        raise payload_error("category", f"unsupported category {category!r}")
    return _KINDS[category]


def instrument_id(category: str, symbol: str) -> InstrumentId:
    """``InstrumentId`` of a Bybit ``category`` (``linear`` → perp, ``spot``) and symbol.

    Raises
    ------
    ProtocolError
        If the category is not ``linear`` or ``spot`` (out of scope: inverse, option).
    """
    return InstrumentId(VENUE, check_category(category), symbol)
