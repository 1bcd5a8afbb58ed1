"""Typed field readers and name helpers shared by the Hyperliquid parsers: each reader raises
``ProtocolError`` naming the payload place and the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from venues.errors import ProtocolError
from venues.hyperliquid import constants as c
from venues.model import InstrumentId, InstrumentKind, Side

# ------------------------------------------------------------------------------ field access


def _fail(where: str, what: str) -> NoReturn:
    raise ProtocolError(f"hyperliquid {where}: {what}", venue=c.VENUE)


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(where, f"expected an object, got {type(value).__name__}")
    return value


def _list(value: object, where: str) -> Sequence[Any]:
    if not isinstance(value, list):
        _fail(where, f"expected an array, got {type(value).__name__}")
    return value


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        _fail(where, f"missing field {key!r}")
    return obj[key]


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = _get(obj, key, where)
    if not isinstance(value, str):
        _fail(where, f"field {key!r} is not a string: {value!r}")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = _get(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"field {key!r} is not an integer: {value!r}")
    return value


def _dec(obj: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = _get(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, str | int):
        _fail(where, f"field {key!r} is not a decimal string: {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        _fail(where, f"field {key!r} is not a decimal: {value!r}")
    if not result.is_finite():
        _fail(where, f"field {key!r} is not finite: {value!r}")
    return result


def _float(obj: Mapping[str, Any], key: str, where: str) -> float:
    return float(_dec(obj, key, where))


def _side(obj: Mapping[str, Any], where: str) -> Side:
    raw = _str(obj, "side", where)
    if raw not in ("B", "A"):
        _fail(where, f"field 'side' is not 'B' or 'A': {raw!r}")
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
        _fail("coin", f"{coin!r} is not a first-dex perp (HIP-3 or spot)")
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
        _fail("cloid", f"not a 0x-prefixed cloid: {cloid!r}")
    return cloid[len(c.CLOID_PREFIX) :].lower()
