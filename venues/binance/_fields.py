"""Typed field readers shared by the Binance parsers, bound from
:class:`venues.fields.FieldReader`: each raises ``ProtocolError`` naming the payload place and
the field, so no ``KeyError``/``ValueError`` escapes a parser. Also the order status and side
tables."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from venues.binance.constants import VENUE
from venues.fields import FieldReader
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


# --- field readers (venues.fields.FieldReader): decimals as strings or JSON integers -------

_READ = FieldReader(VENUE, decimal_types=(str, int))
_bad = _READ.error
_obj = _READ.obj
_list = _READ.array
_get = _READ.get
_str = _READ.text
_int = _READ.integer
_dec = _READ.decimal
_float = _READ.number


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
