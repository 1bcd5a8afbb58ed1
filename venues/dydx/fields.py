"""Typed field readers for dYdX Indexer payloads, bound from :class:`venues.fields.FieldReader`
under the public names listed there: each raises ``ProtocolError`` naming the payload place and the
field, so no ``KeyError``/``ValueError`` escapes a parser. Also the ISO time conversions (Indexer
timestamps are ISO-8601 strings, Indexer API documentation
https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/public/api-documentation.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from venues.dydx.constants import VENUE
from venues.fields import FieldReader

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


# Field readers (venues.fields.FieldReader): the Indexer sends prices, sizes and rates as
# decimal strings only, block heights as digit strings.
_READ = FieldReader(VENUE, decimal_types=(str,))
payload_error = _READ.error
as_object = _READ.obj
as_array = _READ.array
raw_field = _READ.get
text_field = _READ.text
int_field = _READ.integer
digits_field = _READ.digits
dec_field = _READ.decimal
float_field = _READ.number
positive_float_field = _READ.positive_number


def iso_ms_field(raw: Mapping[str, Any], key: str, where: str) -> int:
    """Epoch ms UTC of an ISO-8601 field (``"2025-12-08T16:00:00.219Z"``), exact to the ms."""
    value = text_field(raw, key, where)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise payload_error(where, f"field {key!r} is not an ISO-8601 UTC time: {value!r}")
    return (parsed - _EPOCH) // _ONE_MS


MAX_ISO_MS = 253_402_300_799_999
"""The last epoch ms an ISO time can name (9999-12-31T23:59:59.999Z): window ends beyond it
("until further notice", ``2**62``) are clamped to it before they are sent."""


def ms_to_iso(ts_ms: int) -> str:
    """Epoch ms UTC → the Indexer's ISO form ``2025-12-08T16:00:00.000Z``; times past
    :data:`MAX_ISO_MS` are clamped to it (``datetime`` ends at year 9999)."""
    ts_ms = min(ts_ms, MAX_ISO_MS)
    moment = _EPOCH + ts_ms * _ONE_MS
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"
