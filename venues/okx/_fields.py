"""Typed field readers shared by the OKX parsers (bound from :class:`venues.fields.FieldReader`),
envelope unwrapping and contract-size conversion. Each raises ``ProtocolError`` naming the
field."""

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
_ZERO = Decimal(0)

# OKX sends every number as a string ("" meaning "not applicable"); its readers name the field
# but take no payload place.
_READ = FieldReader(c.VENUE, decimal_types=(str,))
_NO_PLACE = ""


def _bad(what: str) -> ProtocolError:
    return _READ.error(_NO_PLACE, what)


# --- field readers (venues.fields.FieldReader) -------------------------------------------


def _row(value: object, where: str) -> Row:
    return _READ.obj(value, where)


def _str(row: Row, key: str) -> str:
    return _READ.string(row, key, _NO_PLACE)


def _nonempty(row: Row, key: str) -> str:
    return _READ.text(row, key, _NO_PLACE)


def _dec_text(text: str, key: str) -> Decimal:
    return _READ.to_decimal(text, key, _NO_PLACE)


def _dec(row: Row, key: str) -> Decimal:
    return _READ.decimal(row, key, _NO_PLACE)


def _opt_dec(row: Row, key: str) -> Decimal | None:
    """``""`` (OKX's "not applicable") → ``None``."""
    return _READ.decimal_or_none(row, key, _NO_PLACE)


def _float(row: Row, key: str) -> float:
    return _READ.number(row, key, _NO_PLACE)


def _ms(row: Row, key: str) -> int:
    return _READ.digits(row, key, _NO_PLACE)


def _rows(payload: object) -> list[Row]:
    """``data`` of a successful envelope; a non-zero ``code`` raises its venue error."""
    envelope = _row(payload, "envelope")
    if envelope.get("code") != c.CODE_OK:
        raise error_from_payload(envelope, c.VENUE)
    data = envelope.get("data")
    if not isinstance(data, list):
        raise _bad(f"field 'data' is {type(data).__name__}, expected an array")
    return [_row(item, f"data[{i}]") for i, item in enumerate(data)]


def _one(payload: object) -> Row:
    rows = _rows(payload)
    if not rows:
        raise _bad("field 'data' is empty")
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
        raise _bad(f"field 'instType' is {inst_type!r}; only SWAP and SPOT are supported")
    if not inst_id or ":" in inst_id:
        raise _bad(f"field 'instId' is {inst_id!r}")
    return InstrumentId(c.VENUE, kinds[inst_type], inst_id)


def _row_id(row: Row) -> InstrumentId:
    return instrument_id(_str(row, "instType"), _str(row, "instId"))


def _base_qty(row: Row, key: str, multipliers: Mapping[str, Decimal]) -> Decimal:
    """Size field ``key`` in base units (contracts × multiplier for SWAP)."""
    qty = _dec(row, key)
    if _str(row, "instType") == c.INST_TYPE_SPOT:
        return qty
    inst_id = _str(row, "instId")
    if inst_id not in multipliers:
        raise _bad(f"field 'instId' {inst_id!r} has no known contract multiplier")
    return qty * multipliers[inst_id]


def contract_multipliers(instruments: Iterable[Instrument]) -> dict[str, Decimal]:
    """``instId`` → base units per contract, the mapping the size-converting parsers take."""
    return {i.id.symbol: i.contract_multiplier for i in instruments}
