"""Typed field readers shared by the Deribit parsers (bound from
:class:`venues.fields.FieldReader` under the public names listed there) and JSON-RPC envelope
unwrapping. Deribit sends numbers as JSON numbers (never strings) and ``null`` for absent
prices (https://docs.deribit.com/#json-rpc); each reader raises ``ProtocolError`` naming the
payload place and the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from venues.deribit import constants as c
from venues.deribit.parse_errors import error_from_envelope
from venues.errors import ProtocolError
from venues.fields import FieldReader

Row = Mapping[str, Any]

_READ = FieldReader(c.VENUE, decimal_types=(int, float))


def payload_error(where: str, what: str) -> ProtocolError:
    """A ``ProtocolError`` ``"deribit payload <where>: <what>"`` (to be raised)."""
    return _READ.error(where, what)


def as_object(value: object, where: str) -> Row:
    """``value`` as a JSON object; ``ProtocolError`` naming ``where`` otherwise."""
    return _READ.obj(value, where)


def as_array(value: object, where: str) -> Sequence[Any]:
    """``value`` as a JSON array; ``ProtocolError`` naming ``where`` otherwise."""
    return _READ.array(value, where)


def array_field(row: Row, key: str, where: str) -> Sequence[Any]:
    """Array field ``key``; ``ProtocolError`` if absent, null or not an array."""
    return _READ.field_array(row, key, where)


def str_field(row: Row, key: str, where: str) -> str:
    """String field ``key``, possibly ``""``; ``ProtocolError`` otherwise."""
    return _READ.string(row, key, where)


def text_field(row: Row, key: str, where: str) -> str:
    """Non-empty string field ``key``; ``ProtocolError`` otherwise."""
    return _READ.text(row, key, where)


def int_field(row: Row, key: str, where: str) -> int:
    """JSON-integer field ``key`` (epoch ms times); ``ProtocolError`` otherwise."""
    return _READ.integer(row, key, where)


def dec_field(row: Row, key: str, where: str) -> Decimal:
    """Number field ``key`` as a finite ``Decimal`` (a float through its shortest repr)."""
    return _READ.decimal(row, key, where)


def positive_dec_field(row: Row, key: str, where: str) -> Decimal:
    """Number field ``key`` as a ``Decimal`` > 0 (prices, sizes)."""
    return _READ.positive_decimal(row, key, where)


def float_field(row: Row, key: str, where: str) -> float:
    """Number field ``key`` as a finite ``float``."""
    return _READ.number(row, key, where)


def opt_float_field(row: Row, key: str, where: str) -> float | None:
    """Number field ``key`` as a ``float``; absent or ``null`` (Deribit's "no price") →
    ``None``, never 0."""
    if row.get(key) is None:
        return None
    return _READ.number(row, key, where)


def opt_dec_field(row: Row, key: str, where: str) -> Decimal | None:
    """Number field ``key`` as a ``Decimal``; absent or ``null`` → ``None``."""
    if row.get(key) is None:
        return None
    return _READ.decimal(row, key, where)


def bool_field(row: Row, key: str, where: str) -> bool:
    """Boolean field ``key``; ``ProtocolError`` if absent or not ``true``/``false``."""
    value = _READ.get(row, key, where)
    if not isinstance(value, bool):
        raise payload_error(where, f"field {key!r} must be a boolean, got {value!r}")
    return value


def result_of(envelope: object, method: str, label: str | None = None) -> Any:
    """``result`` of a JSON-RPC response; an ``error`` member raises its venue error.

    Parameters
    ----------
    envelope : object
        The decoded response ``{"jsonrpc": "2.0", "id": ..., "result" | "error": ...}``.
    method : str
        The method called (for messages).
    label : str | None
        The order label of a write, so rejections carry our client order id.

    Raises
    ------
    VenueError
        The classified ``error`` (:func:`~venues.deribit.parse_errors.error_from_envelope`).
    ProtocolError
        If the envelope is not an object or has neither ``result`` nor ``error``.
    """
    row = as_object(envelope, method)
    if "error" in row:
        raise error_from_envelope(row, label)
    if "result" not in row:
        raise payload_error(method, "JSON-RPC response has neither 'result' nor 'error'")
    return row["result"]
