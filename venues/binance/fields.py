"""Typed field readers shared by the Binance parsers, bound from
:class:`venues.fields.FieldReader` under the public names listed there (``int_field``,
``dec_field``, ...): each raises ``ProtocolError`` naming the payload place and the field, so no
``KeyError``/``ValueError`` escapes a parser. Also the order status and side tables."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from venues.binance.constants import VENUE
from venues.fields import FieldReader
from venues.model import InstrumentId, InstrumentKind, OrderStatus, Side

USD_ASSETS = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "USD"})  # counted 1:1 as USD
ZERO = Decimal(0)

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
payload_error = _READ.error
as_object = _READ.obj
as_array = _READ.array
raw_field = _READ.get
text_field = _READ.text
int_field = _READ.integer
dec_field = _READ.decimal
float_field = _READ.number


def side_field(raw: Mapping[str, Any], key: str, where: str) -> Side:
    """``BUY``/``SELL`` field ``key`` as a :class:`Side`.

    Raises
    ------
    ProtocolError
        If the field is absent, not a non-empty string, or another word.
    """
    text = text_field(raw, key, where)
    if text not in _SIDES:
        raise payload_error(where, f"field {key!r} has unknown side {text!r}")
    return _SIDES[text]


def status_field(raw: Mapping[str, Any], key: str, where: str) -> OrderStatus:
    """Order status field ``key`` (``NEW``, ``FILLED``, ...) as an :class:`OrderStatus`
    (:data:`STATUS_MAP`).

    Raises
    ------
    ProtocolError
        If the field is absent, not a non-empty string, or not in :data:`STATUS_MAP`.
    """
    text = text_field(raw, key, where)
    if text not in STATUS_MAP:
        raise payload_error(where, f"field {key!r} has unknown order status {text!r}")
    return STATUS_MAP[text]


def instrument_id(symbol: str, kind: InstrumentKind) -> InstrumentId:
    """Our id of a Binance ``symbol`` of product ``kind``: ``binance:perp:BTCUSDT``."""
    return InstrumentId(VENUE, kind, symbol)


def unwrap_stream(frame: object) -> object:
    """Strip the combined-stream envelope ``{"stream": ..., "data": ...}`` if present.

    Source: Binance USDⓈ-M "Websocket Market Streams" (combined streams),
    https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams;
    fixture ``ws_mark_price_combined.json``.
    """
    if isinstance(frame, Mapping) and "stream" in frame and "data" in frame:
        return frame["data"]
    return frame
