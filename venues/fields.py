"""Typed JSON field readers shared by every venue's parsers.

Each venue's ``fields`` module (``venues.<venue>.fields``) binds one :class:`FieldReader` with
its name and its tolerances, and exports the methods its parsers use under public names that
are the same in every venue: a reader of field ``key`` of ``row`` is ``<what>_field``, a check
of a whole value is ``as_<what>``, and the error factory is ``payload_error``:

====================  ========================  ====================================
method                venue module name         reads
====================  ========================  ====================================
``error``             ``payload_error``         (builds the error; ``raise`` it)
``obj``               ``as_object``             a value as a JSON object
``array``             ``as_array``              a value as a JSON array
``field_array``       ``array_field``           a field as a JSON array
``get``               ``raw_field``             a field, untyped
``string``            ``str_field``             a string field, possibly ``""``
``text``              ``text_field``            a non-empty string field
``integer``           ``int_field``             an integer field
``digits``            ``digits_field``          a digit-string integer field
``decimal``           ``dec_field``             a decimal field
``decimal_or_none``   ``opt_dec_field``         a decimal field, ``None`` when blank
``positive_decimal``  ``positive_dec_field``    a decimal field > 0
``number``            ``float_field``           a float field
``positive_number``   ``positive_float_field``  a float field > 0
====================  ========================  ====================================

A venue binds only the readers it uses; its own readers follow the same pattern
(``side_field``, ``status_field``, ``iso_ms_field``, ``time_ms_field``). OKX's field readers
take no payload place (``str_field(row, key)``). Every reader raises
:class:`~venues.errors.ProtocolError` (``venue`` set) whose message names the venue, the
payload place ``where`` and the field, so no ``KeyError``/``TypeError``/``ValueError``
escapes a parser::

    binance payload premiumIndex[3]: field 'markPrice' is not a finite decimal number: 'x'

What every reader refuses, whatever the tolerances: an absent or ``null`` field (except
:meth:`FieldReader.get` with ``null_is_missing=False``, and :meth:`FieldReader.decimal_or_none`
with ``absent_is_blank=True``), a ``bool`` where a number is expected (JSON ``true`` is not
``1``), and NaN or ±Infinity as a number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from venues.errors import ProtocolError

DecimalType = type[str] | type[int] | type[float]
"""A JSON type a decimal field may arrive as: a decimal string, an integer or a float."""

_DECIMAL_TYPES: frozenset[DecimalType] = frozenset({str, int, float})


@dataclass(frozen=True, slots=True)
class FieldReader:
    """Typed readers of one venue's JSON payloads, with that venue's tolerances.

    Every method takes the payload place ``where`` (``"premiumIndex[3]"``; ``""`` for none)
    and, for a field reader, the mapping ``row`` and the field name ``key``.

    Parameters
    ----------
    venue : str
        Venue name (``binance``), first word of every message and the error's ``venue``.
    decimal_types : tuple of {str, int, float}
        JSON types a decimal field may arrive as (:meth:`decimal` and its callers): decimal
        strings only ``(str,)`` (dYdX, OKX), strings or integers ``(str, int)`` (Binance,
        Bybit, Hyperliquid), or any JSON number ``(str, int, float)`` (Purple Flea, whose
        docs do not say). A float converts through its shortest repr (``0.1`` →
        ``Decimal("0.1")``). ``bool`` is never a number.
    integer_text : bool
        Whether :meth:`integer` also takes an optionally ``-``-signed string of ASCII digits
        (Bybit sends ms times as ``"1700000000000"``). Default False: JSON integers only.
    null_is_missing : bool
        Whether :meth:`get` refuses a ``null`` value like an absent key (default True).
        False (Hyperliquid) hands ``None`` back; the typed readers refuse it either way.
    absent_is_blank : bool
        Whether :meth:`decimal_or_none` reads an absent or ``null`` field as the blank
        ``""`` (Bybit blanks and omits unused amounts) instead of refusing it (default
        False: OKX always sends the field, ``""`` meaning "not applicable").

    Raises
    ------
    ValueError
        If ``decimal_types`` is empty or holds a type other than ``str``, ``int``, ``float``.
    """

    venue: str
    _: KW_ONLY
    decimal_types: tuple[DecimalType, ...] = (str,)
    integer_text: bool = False
    null_is_missing: bool = True
    absent_is_blank: bool = False

    def __post_init__(self) -> None:
        if not self.decimal_types or not set(self.decimal_types) <= _DECIMAL_TYPES:
            raise ValueError(
                f"decimal_types must be a non-empty tuple of str, int, float: "
                f"{self.decimal_types!r}"
            )

    # --- errors ----------------------------------------------------------------------------

    def error(self, where: str, what: str) -> ProtocolError:
        """A :class:`ProtocolError` for payload place ``where`` and ``what`` was wrong.

        The message is ``"<venue> payload <where>: <what>"`` (``"<venue> payload: <what>"``
        when ``where`` is ``""``); the error's ``venue`` is this reader's venue.
        """
        place = f" {where}" if where else ""
        return ProtocolError(f"{self.venue} payload{place}: {what}", venue=self.venue)

    def fail(self, where: str, what: str) -> NoReturn:
        """Raise :meth:`error` ``(where, what)``.

        Raises
        ------
        ProtocolError
            Always.
        """
        raise self.error(where, what)

    # --- containers ------------------------------------------------------------------------

    def obj(self, raw: object, where: str) -> Mapping[str, Any]:
        """``raw`` as a JSON object.

        Raises
        ------
        ProtocolError
            If ``raw`` is not a mapping.
        """
        if not isinstance(raw, Mapping):
            raise self.error(where, f"expected an object, got {type(raw).__name__}")
        return raw

    def array(self, raw: object, where: str) -> Sequence[Any]:
        """``raw`` as a JSON array.

        Raises
        ------
        ProtocolError
            If ``raw`` is not a ``list`` (a string or tuple is not a JSON array).
        """
        if not isinstance(raw, list):
            raise self.error(where, f"expected an array, got {type(raw).__name__}")
        return raw

    def field_array(self, row: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
        """Field ``key`` of ``row`` as a JSON array.

        Raises
        ------
        ProtocolError
            If the field is absent, ``null`` or not a ``list``.
        """
        value = row.get(key)
        if not isinstance(value, list):
            raise self.error(where, f"field {key!r} must be an array, got {type(value).__name__}")
        return value

    def get(self, row: Mapping[str, Any], key: str, where: str) -> Any:
        """Field ``key`` of ``row``, untyped.

        Raises
        ------
        ProtocolError
            If the key is absent, or its value is ``null`` and ``null_is_missing``.
        """
        if key not in row:
            raise self.error(where, f"field {key!r} missing")
        value = row[key]
        if value is None and self.null_is_missing:
            raise self.error(where, f"field {key!r} missing (null)")
        return value

    # --- strings and integers --------------------------------------------------------------

    def string(self, row: Mapping[str, Any], key: str, where: str) -> str:
        """Field ``key`` as a string, possibly empty.

        Raises
        ------
        ProtocolError
            If the field is absent, ``null`` or not a string.
        """
        value = self.get(row, key, where)
        if not isinstance(value, str):
            raise self.error(where, f"field {key!r} must be a string, got {value!r}")
        return value

    def text(self, row: Mapping[str, Any], key: str, where: str) -> str:
        """Field ``key`` as a non-empty string.

        Raises
        ------
        ProtocolError
            If the field is absent, ``null``, not a string or ``""``.
        """
        value = self.get(row, key, where)
        if not isinstance(value, str) or not value:
            raise self.error(where, f"field {key!r} must be a non-empty string, got {value!r}")
        return value

    def integer(self, row: Mapping[str, Any], key: str, where: str) -> int:
        """Field ``key`` as an ``int``: a JSON integer, or with ``integer_text`` also a string
        of ASCII digits with an optional leading ``-`` (``"1700000000000"``, ``"-3"``).

        Raises
        ------
        ProtocolError
            If the field is absent, ``null``, a ``bool``, a float (``1.0`` too) or, unless
            accepted as above, a string.
        """
        value = self.get(row, key, where)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if self.integer_text and isinstance(value, str):
            digits = value.removeprefix("-")
            if digits.isascii() and digits.isdigit():
                return int(value)
        raise self.error(where, f"field {key!r} must be an integer, got {value!r}")

    def digits(self, row: Mapping[str, Any], key: str, where: str) -> int:
        """Field ``key`` as a non-negative ``int`` sent as a string of ASCII digits (epoch ms
        ``"1700000000000"``, block heights). A JSON integer is refused.

        Raises
        ------
        ProtocolError
            If the field is absent, ``null``, not a string, ``""``, or holds anything but
            ``0-9`` (a sign, a point, spaces, non-ASCII digits).
        """
        value = self.text(row, key, where)
        if not (value.isascii() and value.isdigit()):
            raise self.error(where, f"field {key!r} must be a string of digits, got {value!r}")
        return int(value)

    # --- numbers ---------------------------------------------------------------------------

    def to_decimal(self, value: object, key: str, where: str) -> Decimal:
        """``value`` (already read from field ``key``) as a finite ``Decimal``.

        Raises
        ------
        ProtocolError
            If ``value`` is not one of ``decimal_types``, is a ``bool``, does not parse
            (``""``, ``"1,5"``) or is NaN or ±Infinity.
        """
        if isinstance(value, self.decimal_types) and not isinstance(value, bool):
            result = _parse_decimal(value)
            if result is not None and result.is_finite():
                return result
        raise self.error(where, f"field {key!r} is not a finite decimal number: {value!r}")

    def decimal(self, row: Mapping[str, Any], key: str, where: str) -> Decimal:
        """Field ``key`` as a finite ``Decimal`` (see :meth:`to_decimal`).

        Raises
        ------
        ProtocolError
            If the field is absent, ``null`` or not a finite decimal of ``decimal_types``.
        """
        return self.to_decimal(self.get(row, key, where), key, where)

    def decimal_or_none(self, row: Mapping[str, Any], key: str, where: str) -> Decimal | None:
        """Field ``key`` as a finite ``Decimal``, or ``None`` when blank: ``""``, and with
        ``absent_is_blank`` also an absent or ``null`` field.

        Raises
        ------
        ProtocolError
            If the field is absent or ``null`` (unless ``absent_is_blank``), or neither blank
            nor a finite decimal of ``decimal_types``.
        """
        value = row.get(key) if self.absent_is_blank else self.get(row, key, where)
        if value is None or (isinstance(value, str) and not value):
            return None
        return self.to_decimal(value, key, where)

    def positive_decimal(self, row: Mapping[str, Any], key: str, where: str) -> Decimal:
        """Field ``key`` as a finite ``Decimal`` > 0 (prices).

        Raises
        ------
        ProtocolError
            As :meth:`decimal`, or if the value is ≤ 0.
        """
        value = self.decimal(row, key, where)
        if value <= 0:
            raise self.error(where, f"field {key!r} must be positive, got {value}")
        return value

    def number(self, row: Mapping[str, Any], key: str, where: str) -> float:
        """Field ``key`` as a finite ``float`` (read as :meth:`decimal`, then converted).

        Raises
        ------
        ProtocolError
            As :meth:`decimal`, or if the value overflows a float (``"1e400"``).
        """
        value = float(self.decimal(row, key, where))
        if not math.isfinite(value):
            raise self.error(where, f"field {key!r} overflows a float")
        return value

    def positive_number(self, row: Mapping[str, Any], key: str, where: str) -> float:
        """Field ``key`` as a finite ``float`` > 0 (prices).

        Raises
        ------
        ProtocolError
            As :meth:`number`, or if the float is ≤ 0 (``"1e-400"`` underflows to 0).
        """
        value = self.number(row, key, where)
        if value <= 0:
            raise self.error(where, f"field {key!r} must be positive, got {value!r}")
        return value


def _parse_decimal(value: object) -> Decimal | None:
    """``value`` as a ``Decimal`` (possibly NaN or infinite), ``None`` if it does not parse."""
    try:
        if isinstance(value, float):
            return Decimal(repr(value))  # shortest repr: 0.1 → "0.1", not its binary expansion
        if isinstance(value, str | int):
            return Decimal(value)  # an int directly: str() refuses ints over 4,300 digits
    except InvalidOperation:
        return None
    return None
