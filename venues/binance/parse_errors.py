"""Binance error bodies ``{"code": <int>, "msg": "..."}`` → the ``venues.errors`` tree.

Re-exported by :mod:`venues.binance.parse`. Code sets live in :mod:`venues.binance.constants`;
sources Binance USDⓈ-M "Error Codes"
https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code and spot
https://github.com/binance/binance-spot-api-docs/blob/master/errors.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from venues.binance.constants import (
    AUTH_CODES,
    DEFAULT_RETRY_AFTER_S,
    DUPLICATE_CLIENT_ORDER_ID_CODES,
    FILTER_FAILURE_MSG,
    INSUFFICIENT_MARGIN_CODES,
    INVALID_ORDER_CODES,
    NEW_ORDER_REJECTED_CODE,
    OUTCOME_UNKNOWN_CODES,
    POST_ONLY_CROSS_CODES,
    RATE_LIMIT_CODES,
    SPOT_DUPLICATE_MSG,
    SPOT_INSUFFICIENT_BALANCE_MSG,
    SPOT_POST_ONLY_MSG,
    UNAVAILABLE_CODES,
    UNKNOWN_ORDER_CODES,
    VENUE,
)
from venues.binance.fields import as_object, int_field, payload_error
from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
    RequestTimeout,
    VenueError,
    VenueUnavailable,
)


def _error_fields(payload: object) -> tuple[int, str]:
    body = as_object(payload, "error")
    code = int_field(body, "code", "error")
    msg = body.get("msg")
    if not isinstance(msg, str):
        raise payload_error("error", f"field 'msg' must be a string, got {msg!r}")
    return code, msg


def _rejection_class(code: int, msg: str) -> type[OrderRejected] | None:
    text = msg.lower()
    if code in POST_ONLY_CROSS_CODES or SPOT_POST_ONLY_MSG in text:
        return PostOnlyWouldCross
    if code in INSUFFICIENT_MARGIN_CODES or SPOT_INSUFFICIENT_BALANCE_MSG in text:
        return InsufficientMargin
    if code in DUPLICATE_CLIENT_ORDER_ID_CODES or SPOT_DUPLICATE_MSG in text:
        return DuplicateClientOrderId
    if code in INVALID_ORDER_CODES or FILTER_FAILURE_MSG in text:
        return InvalidOrder
    if code == NEW_ORDER_REJECTED_CODE:
        return OrderRejected
    return None


def _transport_class(code: int) -> type[VenueError] | None:
    if code in AUTH_CODES:
        return AuthError
    if code in OUTCOME_UNKNOWN_CODES:
        return RequestTimeout
    if code in UNAVAILABLE_CODES:
        return VenueUnavailable
    if code in UNKNOWN_ORDER_CODES:
        return OrderNotFound
    return None


def error_from_payload(
    payload: object,
    venue: str = VENUE,
    client_order_id: str | None = None,
    *,
    retry_after_s: float | None = None,
) -> VenueError:
    """Binance error body ``{"code": <int>, "msg": "..."}`` → the matching ``VenueError``.

    Mapping (constants' code sets; USD-M "Error Codes", spot errors.md, see the module):
    rate-limit codes → :class:`RateLimited` (``retry_after_s`` from the ``Retry-After``
    header, else 60 s); bad key/signature → :class:`AuthError`; ``-1006/-1007`` (status
    unknown) → :class:`RequestTimeout` (look the order up); ``-1001/-1016`` →
    :class:`VenueUnavailable`; unknown order → :class:`OrderNotFound`; margin / duplicate id /
    filter and parameter errors → :class:`InsufficientMargin` /
    :class:`DuplicateClientOrderId` / :class:`InvalidOrder` when ``client_order_id`` is
    given (spot ``-2010`` is told apart by its ``msg``). Clock skew (``-1021``/``-5028``)
    and everything else → plain :class:`VenueError` carrying the code: the caller checks
    ``CLOCK_SKEW_CODES`` to resync and re-sign. The returned error is not raised here.

    Raises
    ------
    ProtocolError
        If the payload is not an error object (returned, not raised, would hide the bug).

    Fixtures: ``errors.json`` of both products.
    """
    code, msg = _error_fields(payload)
    text = f"binance error {code}: {msg}"
    if code in RATE_LIMIT_CODES:
        wait_s = DEFAULT_RETRY_AFTER_S if retry_after_s is None else retry_after_s
        return RateLimited(text, venue=venue, retry_after_s=wait_s, code=str(code))
    transport = _transport_class(code)
    if transport is not None:
        return transport(text, venue=venue, code=str(code))
    rejection = _rejection_class(code, msg)
    if rejection is not None and client_order_id is not None:
        return rejection(
            text, venue=venue, client_order_id=client_order_id, reason=msg, code=str(code)
        )
    return VenueError(text, venue=venue, code=str(code))


def is_error_payload(payload: object) -> bool:
    """True for ``{"code": <negative int>, "msg": ...}`` (batch results mix these with
    orders; ``{"code": 200, "msg": "success"}`` from ``marginType`` is not an error)."""
    return (
        isinstance(payload, Mapping)
        and isinstance(payload.get("code"), int)
        and payload["code"] < 0
        and "msg" in payload
    )
