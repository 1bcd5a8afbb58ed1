"""Typed field readers (bound from :class:`venues.fields.FieldReader` under the public names
listed there) and name helpers shared by the Hyperliquid parsers: each reader raises
``ProtocolError`` naming the payload place and the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from venues.fields import FieldReader
from venues.hyperliquid import constants as c
from venues.model import InstrumentId, InstrumentKind, Side

# ------------------------------------------------------------------------------ field access

# Numbers come as decimal strings (ints accepted); ``raw_field`` hands a ``null`` back to the
# caller (``str_field``/``int_field``/``dec_field`` refuse it as the wrong type).
_READ = FieldReader(c.VENUE, decimal_types=(str, int), null_is_missing=False)
payload_error = _READ.error
as_object = _READ.obj
as_array = _READ.array
raw_field = _READ.get
str_field = _READ.string
int_field = _READ.integer
dec_field = _READ.decimal
float_field = _READ.number


def side_field(obj: Mapping[str, Any], where: str) -> Side:
    """Field ``side`` of ``obj``: ``"B"`` (bid) → buy, ``"A"`` (ask) → sell.

    Raises
    ------
    ProtocolError
        If the field is absent, not a string, or neither ``"B"`` nor ``"A"``.
    """
    raw = str_field(obj, "side", where)
    if raw not in ("B", "A"):
        raise payload_error(where, f"field 'side' is not 'B' or 'A': {raw!r}")
    return Side.BUY if raw == "B" else Side.SELL


# ------------------------------------------------------------------------------ names and ids


def is_first_dex_perp(coin: str) -> bool:
    """True for a first-dex perp coin (``BTC``); False for HIP-3 ``dex:COIN`` and spot keys."""
    return (
        bool(coin)
        and c.HIP3_DEX_SEPARATOR not in coin
        and "/" not in coin
        and not coin.startswith(c.SPOT_KEY_PREFIX)
    )


def instrument_id(coin: str) -> InstrumentId:
    """Our id of a first-dex perp: ``hyperliquid:perp:BTC``.

    Raises
    ------
    ProtocolError
        If ``coin`` is not a first-dex perp name.
    """
    if not is_first_dex_perp(coin):
        raise payload_error("coin", f"{coin!r} is not a first-dex perp (HIP-3 or spot)")
    return InstrumentId(c.VENUE, InstrumentKind.PERP, coin)


def client_order_id_from_cloid(cloid: object) -> str:
    """Our client order id (32 hex digits) from a cloid ``"0x…"``; ``""`` for ``null``.

    Raises
    ------
    ProtocolError
        If ``cloid`` is neither ``None`` nor a ``0x``-prefixed string.
    """
    if cloid is None:
        return ""
    if not isinstance(cloid, str) or not cloid.startswith(c.CLOID_PREFIX):
        raise payload_error("cloid", f"not a 0x-prefixed cloid: {cloid!r}")
    return cloid[len(c.CLOID_PREFIX) :].lower()
