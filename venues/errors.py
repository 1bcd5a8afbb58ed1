"""Venue error tree and the one retry classifier.

::

    VenueError                      base; carries ``venue`` and optional ``code``
    ├── TransportError              connect/read failure; for writes the outcome is unknown
    │   └── RequestTimeout          no answer within the timeout; outcome unknown for writes
    ├── VenueUnavailable            HTTP 5xx / maintenance; outcome unknown for writes
    ├── RateLimited                 HTTP 429/418 or a venue rate-limit code; ``retry_after_s``
    ├── AuthError                   bad key/signature/permissions; fatal, never retried
    ├── OrderRejected               venue refused the order (``code``, ``reason``); never retried
    │   ├── InsufficientMargin
    │   ├── InvalidOrder            below min qty / min notional, off lot step or tick
    │   └── DuplicateClientOrderId
    ├── OrderNotFound               lookup/cancel of an id the venue does not know
    ├── AccountSetupError           live start-up: position/margin mode or leverage wrong
    ├── UnsupportedByVenue          the venue's API has no endpoint for this (also a
    │                               NotImplementedError)
    └── ProtocolError               a payload we could not parse; carries what was wrong

Every error carries its context as attributes, not only in its message, and never carries
secrets.
"""

from __future__ import annotations


class VenueError(Exception):
    """Base class of every venue error.

    Parameters
    ----------
    message : str
        Human-readable reason (no secrets).
    venue : str
        Venue name (``binance``, ``paper:binance`` ...).
    code : str | None
        The venue's own error code, if any.
    """

    def __init__(self, message: str, *, venue: str, code: str | None = None) -> None:
        super().__init__(message)
        self.venue = venue
        self.code = code


class TransportError(VenueError):
    """Connection-level failure. For an order, the outcome is unknown: look it up."""


class RequestTimeout(TransportError):
    """No answer within the configured timeout. For an order, the outcome is unknown."""


class VenueUnavailable(VenueError):
    """HTTP 5xx or maintenance. For an order, the outcome is unknown."""


class RateLimited(VenueError):
    """The venue throttled us; wait ``retry_after_s`` seconds before the next request."""

    def __init__(
        self, message: str, *, venue: str, retry_after_s: float, code: str | None = None
    ) -> None:
        super().__init__(message, venue=venue, code=code)
        self.retry_after_s = retry_after_s


class AuthError(VenueError):
    """Authentication or permission failure. Fatal."""


class OrderRejected(VenueError):
    """The venue refused an order. Never retried as-is.

    Attributes
    ----------
    client_order_id : str
    reason : str
    """

    def __init__(
        self,
        message: str,
        *,
        venue: str,
        client_order_id: str,
        reason: str,
        code: str | None = None,
    ) -> None:
        super().__init__(message, venue=venue, code=code)
        self.client_order_id = client_order_id
        self.reason = reason


class InsufficientMargin(OrderRejected):
    """Not enough collateral for the order."""


class InvalidOrder(OrderRejected):
    """Order violates the instrument's rules (min qty, min notional, lot step, tick)."""


class DuplicateClientOrderId(OrderRejected):
    """An order with this client order id already exists."""


class PostOnlyWouldCross(InvalidOrder):
    """A post-only order was refused because it would have matched on arrival (taken
    liquidity): the price moved through it. Not a refusal of the order as such: re-quote at
    the new touch (Binance USD-M ``-5022``, Binance spot ``-2010`` "Order would immediately
    match and take.", Hyperliquid "Post only order would have immediately matched", Deribit
    ``11054`` ``post_only_reject``; Bybit and OKX accept the order and cancel it at once,
    which the order's state says)."""


class OrderNotFound(VenueError):
    """The venue does not know the order (by client order id)."""


class AccountSetupError(VenueError):
    """The account is not in the mode zerobeta trades with and it could not be set: the
    message names the instrument, what was found and what the user must change."""


class UnsupportedByVenue(VenueError, NotImplementedError):
    """The venue's API has no endpoint for this operation (e.g. Purple Flea has no candles).
    Both a ``VenueError`` and a ``NotImplementedError``, so either ``except`` catches it."""


class ProtocolError(VenueError):
    """A payload did not match what the venue documents."""


def is_retryable(error: BaseException) -> bool:
    """Whether a *read-only* request that raised ``error`` may be retried.

    Transport errors, timeouts, 5xx and rate limits are retryable; auth failures, rejections,
    not-found and protocol errors are not. Writes (placing an order) are never retried on
    this answer alone: an unknown outcome is resolved by looking the order up first.
    """
    return isinstance(error, TransportError | VenueUnavailable | RateLimited)
