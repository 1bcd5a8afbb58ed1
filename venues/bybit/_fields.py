"""Typed field readers shared by the Bybit parsers: each raises ``ProtocolError`` naming the
payload place and the field, so no ``KeyError``/``ValueError`` escapes a parser."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from venues.bybit.constants import CATEGORY_LINEAR, CATEGORY_SPOT, VENUE
from venues.errors import ProtocolError
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


# --- field helpers -------------------------------------------------------------------------


def bad(where: str, what: str) -> ProtocolError:
    """A :class:`ProtocolError` for ``where`` (payload place) and ``what`` was wrong."""
    return ProtocolError(f"bybit payload {where}: {what}", venue=VENUE)


def obj(raw: object, where: str) -> Row:
    """``raw`` as a JSON object, else :class:`ProtocolError`."""
    if not isinstance(raw, Mapping):
        raise bad(where, f"expected an object, got {type(raw).__name__}")
    return raw


def arr(raw: object, where: str) -> Sequence[Any]:
    """``raw`` as a JSON array, else :class:`ProtocolError`."""
    if not isinstance(raw, list):
        raise bad(where, f"expected an array, got {type(raw).__name__}")
    return raw


def field_str(row: Row, key: str, where: str) -> str:
    """Non-empty string field ``key``."""
    value = row.get(key)
    if not isinstance(value, str) or not value:
        raise bad(where, f"field {key!r} must be a non-empty string, got {value!r}")
    return value


def _to_dec(value: object, key: str, where: str) -> Decimal:
    try:
        result = Decimal(value) if isinstance(value, str | int) else None
    except InvalidOperation:
        result = None
    if isinstance(value, bool) or result is None or not result.is_finite():
        raise bad(where, f"field {key!r} is not a decimal number: {value!r}")
    return result


def field_dec(row: Row, key: str, where: str) -> Decimal:
    """Decimal field ``key`` (Bybit sends numbers as strings; ints accepted)."""
    return _to_dec(row.get(key), key, where)


def field_dec_or_zero(row: Row, key: str, where: str) -> Decimal:
    """Decimal field ``key``; ``""`` or absent counts as 0 (Bybit blanks unused amounts)."""
    value = row.get(key)
    return ZERO if value in (None, "") else _to_dec(value, key, where)


def field_float(row: Row, key: str, where: str) -> float:
    """Finite float field ``key``."""
    value = float(field_dec(row, key, where))
    if not math.isfinite(value):
        raise bad(where, f"field {key!r} overflows a float")
    return value


def field_int(row: Row, key: str, where: str) -> int:
    """Integer field ``key`` given as a JSON integer or a string of digits (ms times)."""
    value = row.get(key)
    if isinstance(value, str) and value.lstrip("-").isascii() and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise bad(where, f"field {key!r} must be an integer, got {value!r}")


def field_side(row: Row, key: str, where: str) -> Side:
    """``Buy``/``Sell`` field ``key``."""
    text = row.get(key)
    if text not in _SIDES:
        raise bad(where, f"field {key!r} has unknown side {text!r}")
    return _SIDES[text]


def check_category(category: str) -> InstrumentKind:
    """``linear`` → perp, ``spot`` → spot; else :class:`ProtocolError` (inverse, option are
    out of scope)."""
    if category not in _KINDS:
        raise bad("category", f"unsupported category {category!r}")
    return _KINDS[category]


def instrument_id(category: str, symbol: str) -> InstrumentId:
    """``InstrumentId`` of a Bybit ``category`` (``linear`` → perp, ``spot``) and symbol.

    Raises
    ------
    ProtocolError
        If the category is not ``linear`` or ``spot`` (out of scope: inverse, option).
    """
    return InstrumentId(VENUE, check_category(category), symbol)
