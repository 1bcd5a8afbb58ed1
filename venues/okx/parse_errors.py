"""OKX error envelopes (REST or WS ``event: error``) → the ``venues.errors`` tree.

Re-exported by :mod:`venues.okx.parse`. Code sets live in :mod:`venues.okx.constants`;
source OKX API v5 "Error Code" https://www.okx.com/docs-v5/en/#error-code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    ProtocolError,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from venues.okx import constants as c

Row = Mapping[str, Any]

_REJECTIONS: tuple[tuple[frozenset[str], type[OrderRejected]], ...] = (
    (c.INSUFFICIENT_MARGIN_CODES, InsufficientMargin),
    (frozenset({c.CODE_DUPLICATE_CLIENT_ORDER_ID}), DuplicateClientOrderId),
    (c.INVALID_ORDER_CODES, InvalidOrder),
)


def _first_failure(payload: Row) -> Row | None:
    data = payload.get("data")
    if payload.get("code") not in (c.CODE_ALL_FAILED, c.CODE_PARTIAL) or not isinstance(data, list):
        return None
    for item in data:
        if isinstance(item, Mapping) and item.get("sCode") not in (None, c.CODE_OK):
            return item
    return None


def _classify(code: str, msg: str, venue: str, client_order_id: str | None) -> VenueError:
    text = f"okx error {code}: {msg}"
    if code in c.RATE_LIMIT_CODES:
        return RateLimited(text, venue=venue, code=code, retry_after_s=c.RATE_LIMIT_RETRY_AFTER_S)
    if code in c.AUTH_CODES:
        return AuthError(text, venue=venue, code=code)
    if code in c.UNAVAILABLE_CODES:
        return VenueUnavailable(text, venue=venue, code=code)
    if code in c.ORDER_NOT_FOUND_CODES:
        return OrderNotFound(text, venue=venue, code=code)
    if client_order_id is not None:
        kind = next((cls for codes, cls in _REJECTIONS if code in codes), OrderRejected)
        return kind(text, venue=venue, code=code, client_order_id=client_order_id, reason=msg)
    return VenueError(text, venue=venue, code=code)


def error_from_payload(
    payload: object, venue: str, client_order_id: str | None = None
) -> VenueError:
    """Classify an OKX error envelope (REST or WS ``event: error``) as a ``VenueError``.

    For ``code`` "1"/"2" (write failed / partial) the first failed item's ``sCode``/``sMsg``
    and ``clOrdId`` are used. Returned, not raised. Codes ("Error Code", module docstring;
    fixture ``errors.json``): 50011/50061/50013 → ``RateLimited`` (``retry_after_s`` 2);
    50100–50120, 60009 → ``AuthError`` (50102 = clock skew: resync with
    ``/api/v5/public/time``); 50001/50026 and outcome-unknown 50004/51149 →
    ``VenueUnavailable``; 51400/51503/51603 → ``OrderNotFound``; with a client order id
    (a write), 51008 → ``InsufficientMargin``, 51016 → ``DuplicateClientOrderId``,
    51000/51001/51006/51010/51020/51121/51169 → ``InvalidOrder``, others ``OrderRejected``;
    anything else → ``VenueError``. A payload without a string ``code`` → ``ProtocolError``.

    Parameters
    ----------
    payload : object
        Decoded JSON.
    venue : str
        Venue name put on the error.
    client_order_id : str | None
        The order's client id when the request was a write.

    Returns
    -------
    VenueError
        The most specific subclass; ``code`` and the venue's ``msg`` kept as attributes.
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("code"), str):
        return ProtocolError("okx payload: field 'code' is missing or not a string", venue=venue)
    code, msg = payload["code"], str(payload.get("msg", ""))
    failure = _first_failure(payload)
    if failure is not None:
        code, msg = str(failure.get("sCode")), str(failure.get("sMsg", ""))
        item_id = failure.get("clOrdId")
        if isinstance(item_id, str) and item_id:
            client_order_id = item_id
    if code == c.CODE_OK:
        return ProtocolError("okx payload: error requested for a success payload", venue=venue)
    return _classify(code, msg, venue, client_order_id)
