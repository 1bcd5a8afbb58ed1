"""Typed field readers for Purple Flea payloads, bound from :class:`venues.fields.FieldReader`
under the public names listed there: each raises ``ProtocolError`` naming the payload place and
the field, so no ``KeyError``/``TypeError``/``ValueError`` escapes a parser.

Numbers are accepted as JSON numbers or numeric strings (the project's SEEDS do not say which the
API sends — ``venues/purpleflea/API_NOTES.md`` §3); times as integer epoch ms or ISO-8601 strings
with an offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from venues.fields import FieldReader
from venues.purpleflea.constants import VENUE

_MS_PER_S = 1_000


# Field readers (venues.fields.FieldReader): numbers as JSON numbers or numeric strings.
_READ = FieldReader(VENUE, decimal_types=(str, int, float))
payload_error = _READ.error
as_object = _READ.obj
array_field = _READ.field_array
text_field = _READ.text
dec_field = _READ.decimal
positive_dec_field = _READ.positive_decimal
float_field = _READ.number


def time_ms_field(raw: Mapping[str, Any], key: str, where: str) -> int:
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
    raise payload_error(
        where, f"field {key!r} is not epoch ms or an ISO-8601 time with offset: {value!r}"
    )
