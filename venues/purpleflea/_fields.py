"""Typed field readers for Purple Flea payloads: each raises ``ProtocolError`` naming the
payload place and the field, so no ``KeyError``/``TypeError``/``ValueError`` escapes a parser.

Numbers are accepted as JSON numbers or numeric strings (SEEDS.md does not say which the API
sends — API_NOTES.md §3); times as integer epoch ms or ISO-8601 strings with an offset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from venues.errors import ProtocolError
from venues.purpleflea.constants import VENUE

_MS_PER_S = 1_000


def bad(where: str, what: str) -> ProtocolError:
    """A ``ProtocolError`` for ``where`` (payload place) and ``what`` is wrong."""
    return ProtocolError(f"purpleflea payload {where}: {what}", venue=VENUE)


def obj(raw: object, where: str) -> Mapping[str, Any]:
    """``raw`` as a JSON object."""
    if not isinstance(raw, Mapping):
        raise bad(where, f"expected an object, got {type(raw).__name__}")
    return raw


def array(raw: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
    """Field ``key`` as a JSON array."""
    value = raw.get(key)
    if not isinstance(value, list):
        raise bad(where, f"field {key!r} must be an array, got {type(value).__name__}")
    return value


def text(raw: Mapping[str, Any], key: str, where: str) -> str:
    """Field ``key`` as a non-empty string."""
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise bad(where, f"field {key!r} must be a non-empty string, got {value!r}")
    return value


def decimal(raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    """Field ``key`` as a finite ``Decimal`` (JSON number or numeric string)."""
    value = raw.get(key)
    result: Decimal | None = None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            result = Decimal(str(value))
        except InvalidOperation:
            result = None
    if result is None or not result.is_finite():
        raise bad(where, f"field {key!r} is not a finite number: {value!r}")
    return result


def positive(raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    """Field ``key`` as a ``Decimal`` > 0."""
    value = decimal(raw, key, where)
    if value <= 0:
        raise bad(where, f"field {key!r} must be positive, got {value}")
    return value


def number(raw: Mapping[str, Any], key: str, where: str) -> float:
    """Field ``key`` as a finite float."""
    value = float(decimal(raw, key, where))
    if not math.isfinite(value):
        raise bad(where, f"field {key!r} overflows a float")
    return value


def time_ms(raw: Mapping[str, Any], key: str, where: str) -> int:
    """Field ``key`` as epoch ms UTC: an integer (ms) or an ISO-8601 string with offset."""
    value = raw.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return round(parsed.timestamp() * _MS_PER_S)
    raise bad(where, f"field {key!r} is not epoch ms or an ISO-8601 time with offset: {value!r}")
