"""Typed field readers shared by the OKX parsers (bound from :class:`venues.fields.FieldReader`
under the public names listed there, without the payload place), envelope unwrapping and
contract-size conversion. Each raises ``ProtocolError`` naming the field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from venues.errors import ProtocolError
from venues.fields import FieldReader
from venues.model import Instrument, InstrumentId, InstrumentKind
from venues.okx import constants as c
from venues.okx.parse_errors import error_from_payload

Row = Mapping[str, Any]
ZERO = Decimal(0)

# OKX sends every number as a string ("" meaning "not applicable"); its readers name the field
# but take no payload place.
_READ = FieldReader(c.VENUE, decimal_types=(str,))
_NO_PLACE = ""


def payload_error(what: str) -> ProtocolError:
    """A ``ProtocolError`` ``"okx payload: <what>"`` (to be raised)."""
    return _READ.error(_NO_PLACE, what)


# --- field readers (venues.fields.FieldReader) -------------------------------------------


def as_object(value: object, where: str) -> Row:
    """``value`` as a JSON object; ``ProtocolError`` naming ``where`` otherwise."""
    return _READ.obj(value, where)


def str_field(row: Row, key: str) -> str:
    """String field ``key``, possibly ``""``; ``ProtocolError`` if absent, null or not a string."""
    return _READ.string(row, key, _NO_PLACE)


def text_field(row: Row, key: str) -> str:
    """Non-empty string field ``key``; ``ProtocolError`` otherwise."""
    return _READ.text(row, key, _NO_PLACE)


def _dec_text(text: str, key: str) -> Decimal:
    return _READ.to_decimal(text, key, _NO_PLACE)


def dec_field(row: Row, key: str) -> Decimal:
    """Decimal-string field ``key`` as a finite ``Decimal``; ``ProtocolError`` otherwise."""
    return _READ.decimal(row, key, _NO_PLACE)


def opt_dec_field(row: Row, key: str) -> Decimal | None:
    """Decimal-string field ``key``; ``""`` (OKX's "not applicable") → ``None``.
    ``ProtocolError`` if absent, null or neither blank nor a finite decimal string."""
    return _READ.decimal_or_none(row, key, _NO_PLACE)


def float_field(row: Row, key: str) -> float:
    """Decimal-string field ``key`` as a finite ``float``; ``ProtocolError`` otherwise."""
    return _READ.number(row, key, _NO_PLACE)


def digits_field(row: Row, key: str) -> int:
    """Digit-string field ``key`` (epoch ms ``"1700000000000"``) as an ``int``;
    ``ProtocolError`` otherwise."""
    return _READ.digits(row, key, _NO_PLACE)


def data_rows(payload: object) -> list[Row]:
    """``data`` of a successful envelope; a non-zero ``code`` raises its venue error."""
    envelope = as_object(payload, "envelope")
    if envelope.get("code") != c.CODE_OK:
        raise error_from_payload(envelope, c.VENUE)
    data = envelope.get("data")
    if not isinstance(data, list):
        raise payload_error(f"field 'data' is {type(data).__name__}, expected an array")
    return [as_object(item, f"data[{i}]") for i, item in enumerate(data)]


def first_data_row(payload: object) -> Row:
    """First row of :func:`data_rows`; ``ProtocolError`` if ``data`` is empty."""
    rows = data_rows(payload)
    if not rows:
        raise payload_error("field 'data' is empty")
    return rows[0]


# --- identifiers and units ---------------------------------------------------------------


def instrument_id(inst_type: str, inst_id: str) -> InstrumentId:
    """Our id for an OKX instrument: ``okx:perp:BTC-USDT-SWAP`` / ``okx:spot:BTC-USDT``.

    Raises
    ------
    ProtocolError
        If ``inst_type`` is neither ``SWAP`` nor ``SPOT`` or ``inst_id`` is empty.
    """
    kinds = {c.INST_TYPE_SWAP: InstrumentKind.PERP, c.INST_TYPE_SPOT: InstrumentKind.SPOT}
    if inst_type not in kinds:
        raise payload_error(f"field 'instType' is {inst_type!r}; only SWAP and SPOT are supported")
    if not inst_id or ":" in inst_id:
        raise payload_error(f"field 'instId' is {inst_id!r}")
    return InstrumentId(c.VENUE, kinds[inst_type], inst_id)


def row_instrument_id(row: Row) -> InstrumentId:
    """:func:`instrument_id` of a row's ``instType`` and ``instId`` fields."""
    return instrument_id(str_field(row, "instType"), str_field(row, "instId"))


def base_qty_field(row: Row, key: str, multipliers: Mapping[str, Decimal]) -> Decimal:
    """Size field ``key`` in base units (contracts × multiplier for SWAP)."""
    qty = dec_field(row, key)
    if str_field(row, "instType") == c.INST_TYPE_SPOT:
        return qty
    inst_id = str_field(row, "instId")
    if inst_id not in multipliers:
        raise payload_error(f"field 'instId' {inst_id!r} has no known contract multiplier")
    return qty * multipliers[inst_id]


def contract_multipliers(instruments: Iterable[Instrument]) -> dict[str, Decimal]:
    """``instId`` → base units per contract, the mapping the size-converting parsers take."""
    return {i.id.symbol: i.contract_multiplier for i in instruments}
