"""Deribit JSON-RPC ``error`` members → the ``venues.errors`` tree.

Codes and their meaning: "RPC Error Codes" https://docs.deribit.com/#rpc-error-codes (sets in
:mod:`venues.deribit.constants`); fixture ``tests/fixtures/deribit-v2/errors.json``. The
venue's ``message`` (``not_enough_funds``) is kept as the rejection reason; ``data`` (e.g.
``{"param": "instrument_name", "reason": "wrong format"}``) is added to the message. No
request content (tokens, signatures) ever reaches an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from venues.deribit import constants as c
from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    ProtocolError,
    RateLimited,
    VenueError,
    VenueUnavailable,
)

_REJECTIONS: tuple[tuple[frozenset[int], type[OrderRejected]], ...] = (
    (frozenset({c.CODE_POST_ONLY_REJECT}), PostOnlyWouldCross),
    (c.INSUFFICIENT_MARGIN_CODES, InsufficientMargin),
    (frozenset({c.CODE_NON_UNIQUE_LABEL}), DuplicateClientOrderId),
    (c.INVALID_ORDER_CODES, InvalidOrder),
)


def _detail(data: object) -> str:
    if isinstance(data, Mapping):
        return ", ".join(f"{k}={v}" for k, v in data.items() if isinstance(v, str | int | float))
    return ""


def classify(
    code: int,
    message: str,
    *,
    label: str | None = None,
    data: object = None,
    retry_after_s: float = c.RATE_LIMIT_RETRY_AFTER_S,
) -> VenueError:
    """The most specific error for Deribit error ``code``.

    10028/10047/10066 → ``RateLimited`` (``retry_after_s``); 10000/13004/13009/13021/13403 →
    ``AuthError``; 10040/10041/11051/13028 → ``VenueUnavailable`` (a write's outcome unknown);
    10004/10010/11008/11044 → ``OrderNotFound``; with an order ``label`` (a write or a by-label
    call): 10009 → ``InsufficientMargin``, 11054 (``post_only_reject``) →
    ``PostOnlyWouldCross``, 13032 → ``DuplicateClientOrderId``, the rule
    violations of :data:`~venues.deribit.constants.INVALID_ORDER_CODES` → ``InvalidOrder``,
    any other (e.g. 13888 ``timed_out``: not placed) → ``OrderRejected``; without a label,
    anything else → ``VenueError``. The error's ``code`` is the code as text.
    """
    detail = _detail(data)
    text = f"deribit error {code}: {message}" + (f" ({detail})" if detail else "")
    key = str(code)
    if code in c.RATE_LIMIT_CODES:
        return RateLimited(text, venue=c.VENUE, code=key, retry_after_s=retry_after_s)
    if code in c.AUTH_CODES:
        return AuthError(text, venue=c.VENUE, code=key)
    if code in c.UNAVAILABLE_CODES:
        return VenueUnavailable(text, venue=c.VENUE, code=key)
    if code in c.ORDER_NOT_FOUND_CODES:
        return OrderNotFound(text, venue=c.VENUE, code=key)
    if label is not None:
        kind = next((cls for codes, cls in _REJECTIONS if code in codes), OrderRejected)
        return kind(text, venue=c.VENUE, code=key, client_order_id=label, reason=message)
    return VenueError(text, venue=c.VENUE, code=key)


def error_from_envelope(
    envelope: Mapping[str, Any],
    label: str | None = None,
    retry_after_s: float = c.RATE_LIMIT_RETRY_AFTER_S,
) -> VenueError:
    """The error of a JSON-RPC response ``{"error": {"code", "message", "data"?}}``.

    Returned, not raised. An ``error`` that is not an object with an integer ``code``
    gives a ``ProtocolError``. See :func:`classify` for the mapping.
    """
    error = envelope.get("error")
    code = error.get("code") if isinstance(error, Mapping) else None
    if not isinstance(error, Mapping) or not isinstance(code, int) or isinstance(code, bool):
        return ProtocolError("deribit payload: 'error' has no integer 'code'", venue=c.VENUE)
    message = error.get("message")
    return classify(
        code,
        message if isinstance(message, str) else "",
        label=label,
        data=error.get("data"),
        retry_after_s=retry_after_s,
    )
