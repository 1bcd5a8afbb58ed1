"""Hyperliquid refusals (``/exchange`` ``status: "err"``, per-order error strings, non-200
HTTP answers) → the ``venues.errors`` tree.

Re-exported by :mod:`venues.hyperliquid.parse`. Error prefixes live in
:mod:`venues.hyperliquid.constants`; source Hyperliquid "Error responses"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/error-responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
from venues.hyperliquid import constants as c
from venues.hyperliquid.fields import as_object, payload_error, str_field


def _starts(text: str, prefixes: Sequence[str]) -> bool:
    return any(text.startswith(p) for p in prefixes)


def order_error(text: str, client_order_id: str) -> VenueError:
    """Classify a per-order error string (live strings carry suffixes such as ``asset=4``).

    Returns ``InsufficientMargin``, ``DuplicateClientOrderId``, ``PostOnlyWouldCross`` (an
    ``Alo`` order that would have matched), ``InvalidOrder``,
    ``OrderNotFound`` (cancel of an unknown order), ``RateLimited`` or a plain
    ``OrderRejected``; the venue text is kept as ``reason``. Fixture ``errors.json``.
    """
    kwargs: dict[str, Any] = {"venue": c.VENUE, "client_order_id": client_order_id}
    if _starts(text, c.ERR_INSUFFICIENT_MARGIN_PREFIXES):
        return InsufficientMargin(text, reason=text, code="margin", **kwargs)
    if _starts(text, c.ERR_DUPLICATE_CLOID_PREFIXES):
        return DuplicateClientOrderId(text, reason=text, code="duplicate_cloid", **kwargs)
    if _starts(text, c.ERR_POST_ONLY_CROSS_PREFIXES):  # an Alo order: re-quote
        return PostOnlyWouldCross(text, reason=text, code="post_only_cross", **kwargs)
    if _starts(text, c.ERR_INVALID_ORDER_PREFIXES):
        return InvalidOrder(text, reason=text, code="invalid_order", **kwargs)
    if _starts(text, c.ERR_ORDER_NOT_FOUND_PREFIXES):
        return OrderNotFound(f"{text} (client order id {client_order_id!r})", venue=c.VENUE)
    if _starts(text, c.ERR_RATE_LIMIT_PREFIXES):
        return RateLimited(text, venue=c.VENUE, retry_after_s=c.ADDRESS_EXHAUSTED_INTERVAL_S)
    return OrderRejected(text, reason=text, **kwargs)


def exchange_error(payload: object, client_order_id: str | None = None) -> VenueError | None:
    """The error of a whole ``/exchange`` refusal ``{"status":"err","response":"<text>"}``.

    ``None`` when ``status`` is ``"ok"``. Address-limit text → ``RateLimited`` (10 s, the
    venue's one-request-per-10-s allowance); signer/agent/deposit text → ``AuthError``;
    ``Invalid nonce`` → ``VenueError`` with code ``invalid_nonce`` (after a re-send of the
    same body the first may have landed: reconcile by cloid); order-level text with a
    ``client_order_id`` → as :func:`order_error`. Fixtures ``errors.json``,
    ``exchange_err_unknown_signer.json``.

    Raises
    ------
    ProtocolError
        If ``status`` is neither ``ok`` nor ``err`` or ``response`` is not a string.
    """
    body = as_object(payload, "exchange")
    status = str_field(body, "status", "exchange")
    if status == "ok":
        return None
    if status != "err":
        raise payload_error("exchange", f"field 'status' is {status!r}, expected 'ok' or 'err'")
    text = str_field(body, "response", "exchange")
    if _starts(text, c.ERR_RATE_LIMIT_PREFIXES):
        return RateLimited(text, venue=c.VENUE, retry_after_s=c.ADDRESS_EXHAUSTED_INTERVAL_S)
    if _starts(text, c.ERR_AUTH_PREFIXES):
        return AuthError(text, venue=c.VENUE, code="auth")
    if _starts(text, c.ERR_NONCE_PREFIXES):
        return VenueError(text, venue=c.VENUE, code="invalid_nonce")
    if client_order_id is not None:
        return order_error(text, client_order_id)
    return VenueError(text, venue=c.VENUE)


def http_error(status_code: int, body: str) -> VenueError:
    """Error for a non-200 HTTP answer: 429 → ``RateLimited`` (60 s, the weight window),
    5xx → ``VenueUnavailable``, other 4xx (422 = unknown request type) → ``ProtocolError``.
    ``body`` (truncated to 200 chars) goes into the message."""
    text = f"HTTP {status_code}: {body[:200]}"
    if status_code == c.HTTP_STATUS_RATE_LIMITED:
        return RateLimited(text, venue=c.VENUE, retry_after_s=60.0, code=str(status_code))
    if status_code >= 500:
        return VenueUnavailable(text, venue=c.VENUE, code=str(status_code))
    return ProtocolError(text, venue=c.VENUE, code=str(status_code))
