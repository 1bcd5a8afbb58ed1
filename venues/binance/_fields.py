"""Typed field readers shared by the Binance parsers: each raises ``ProtocolError`` naming
the payload place and the field, so no ``KeyError``/``ValueError`` escapes a parser."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from venues.binance.constants import VENUE
from venues.errors import ProtocolError
from venues.model import InstrumentId, InstrumentKind, OrderStatus, Side

USD_ASSETS = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "USD"})  # counted 1:1 as USD
_ZERO = Decimal(0)

STATUS_MAP: dict[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.NEW,  # spot order lists: not yet working
    "PENDING_CANCEL": OrderStatus.NEW,  # documented as unused; not final either way
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,  # self-trade prevention
}
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}


# --- field helpers -----------------------------------------------------------------------


def _bad(where: str, what: str) -> ProtocolError:
    return ProtocolError(f"binance payload {where}: {what}", venue=VENUE)


def _obj(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise _bad(where, f"expected an object, got {type(raw).__name__}")
    return raw


def _list(raw: object, where: str) -> Sequence[Any]:
    if not isinstance(raw, list):
        raise _bad(where, f"expected an array, got {type(raw).__name__}")
    return raw


def _get(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw or raw[key] is None:
        raise _bad(where, f"field {key!r} missing")
    return raw[key]


def _str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = _get(raw, key, where)
    if not isinstance(value, str) or not value:
        raise _bad(where, f"field {key!r} must be a non-empty string, got {value!r}")
    return value


def _int(raw: Mapping[str, Any], key: str, where: str) -> int:
    value = _get(raw, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(where, f"field {key!r} must be an integer, got {value!r}")
    return value


def _dec(raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = _get(raw, key, where)
    try:
        result = Decimal(str(value)) if isinstance(value, str | int) else None
    except InvalidOperation:
        result = None
    if isinstance(value, bool) or result is None or not result.is_finite():
        raise _bad(where, f"field {key!r} is not a decimal number: {value!r}")
    return result


def _float(raw: Mapping[str, Any], key: str, where: str) -> float:
    value = float(_dec(raw, key, where))
    if not math.isfinite(value):
        raise _bad(where, f"field {key!r} overflows a float")
    return value


def _side(raw: Mapping[str, Any], key: str, where: str) -> Side:
    text = _str(raw, key, where)
    if text not in _SIDES:
        raise _bad(where, f"field {key!r} has unknown side {text!r}")
    return _SIDES[text]


def _status(raw: Mapping[str, Any], key: str, where: str) -> OrderStatus:
    text = _str(raw, key, where)
    if text not in STATUS_MAP:
        raise _bad(where, f"field {key!r} has unknown order status {text!r}")
    return STATUS_MAP[text]


def _instrument_id(symbol: str, kind: InstrumentKind) -> InstrumentId:
    return InstrumentId(VENUE, kind, symbol)


def unwrap_stream(frame: object) -> object:
    """Strip the combined-stream envelope ``{"stream": ..., "data": ...}`` if present.

    Source: binance-usdm.md §1 notes; fixture ``ws_mark_price_combined.json``.
    """
    if isinstance(frame, Mapping) and "stream" in frame and "data" in frame:
        return frame["data"]
    return frame
