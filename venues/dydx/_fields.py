"""Typed field readers for dYdX Indexer payloads: each raises ``ProtocolError`` naming the
payload place and the field, so no ``KeyError``/``ValueError`` escapes a parser. Also the ISO
time conversions (Indexer timestamps are ISO-8601 strings, dydx-v4.md key conventions)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from venues.dydx.constants import VENUE
from venues.errors import ProtocolError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def bad(where: str, what: str) -> ProtocolError:
    """A ``ProtocolError`` for the dYdX payload place ``where``."""
    return ProtocolError(f"dydx payload {where}: {what}", venue=VENUE)


def obj(raw: object, where: str) -> Mapping[str, Any]:
    """``raw`` as a JSON object, else ``ProtocolError``."""
    if not isinstance(raw, Mapping):
        raise bad(where, f"expected an object, got {type(raw).__name__}")
    return raw


def array(raw: object, where: str) -> Sequence[Any]:
    """``raw`` as a JSON array, else ``ProtocolError``."""
    if not isinstance(raw, list):
        raise bad(where, f"expected an array, got {type(raw).__name__}")
    return raw


def get(raw: Mapping[str, Any], key: str, where: str) -> Any:
    """Field ``key`` (present and not null), else ``ProtocolError``."""
    if key not in raw or raw[key] is None:
        raise bad(where, f"field {key!r} missing")
    return raw[key]


def text(raw: Mapping[str, Any], key: str, where: str) -> str:
    """Non-empty string field."""
    value = get(raw, key, where)
    if not isinstance(value, str) or not value:
        raise bad(where, f"field {key!r} must be a non-empty string, got {value!r}")
    return value


def integer(raw: Mapping[str, Any], key: str, where: str) -> int:
    """JSON integer field (``atomicResolution``, ``subticksPerTick`` ...)."""
    value = get(raw, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(where, f"field {key!r} must be an integer, got {value!r}")
    return value


def int_text(raw: Mapping[str, Any], key: str, where: str) -> int:
    """Integer sent as a decimal string (block heights, ``"66622979"``)."""
    value = text(raw, key, where)
    if not value.isdigit():
        raise bad(where, f"field {key!r} must be a decimal integer string, got {value!r}")
    return int(value)


def dec(raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    """Finite decimal from a decimal string (prices, sizes, rates)."""
    value = get(raw, key, where)
    try:
        result = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        result = None
    if result is None or not result.is_finite():
        raise bad(where, f"field {key!r} is not a decimal string: {value!r}")
    return result


def num(raw: Mapping[str, Any], key: str, where: str) -> float:
    """Finite float from a decimal string."""
    value = float(dec(raw, key, where))
    if not math.isfinite(value):
        raise bad(where, f"field {key!r} overflows a float")
    return value


def positive(raw: Mapping[str, Any], key: str, where: str) -> float:
    """Strictly positive float from a decimal string (prices)."""
    value = num(raw, key, where)
    if value <= 0:
        raise bad(where, f"field {key!r} must be positive, got {value!r}")
    return value


def iso_ms(raw: Mapping[str, Any], key: str, where: str) -> int:
    """Epoch ms UTC of an ISO-8601 field (``"2025-12-08T16:00:00.219Z"``), exact to the ms."""
    value = text(raw, key, where)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise bad(where, f"field {key!r} is not an ISO-8601 UTC time: {value!r}")
    return (parsed - _EPOCH) // _ONE_MS


def ms_to_iso(ts_ms: int) -> str:
    """Epoch ms UTC → the Indexer's ISO form ``2025-12-08T16:00:00.000Z``."""
    moment = _EPOCH + ts_ms * _ONE_MS
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"
