"""The one REST transport every venue adapter uses: httpx in, ``venues.errors`` out.

:class:`RestClient` sends one request through an :class:`httpx.AsyncClient`, takes its weight
from a :class:`~venues.ratelimit.RateLimiter` first, decodes the JSON answer and turns every
failure into the most specific :class:`~venues.errors.VenueError`:

::

    httpx.TimeoutException          → RequestTimeout        (from e)
    other httpx.TransportError      → TransportError        (from e)
    classify_error(response)        → whatever the venue says (runs first, on every response:
                                      venues report errors in HTTP 200 bodies too)
    HTTP 429 / 418                  → RateLimited(retry_after_s from ``Retry-After``, default 1 s)
                                      and ``limiter.penalize(retry_after_s)``
    HTTP 401 / 403                  → AuthError
    HTTP 5xx                        → VenueUnavailable
    other HTTP 4xx                  → VenueError(code="HTTP <status>")
    body that is not JSON           → ProtocolError

Retries live here and only here (tenacity, jittered exponential, capped, honouring
``RateLimited.retry_after_s``), and only for ``idempotent=True`` requests whose error
:func:`~venues.errors.is_retryable` accepts. Writes (``idempotent=False``) are sent exactly
once: after a timeout or 5xx the caller looks the order up by its client order id.

Signing is the caller's job (it passes the signed ``query``/``headers``/``content``). A signed
query string goes in ``query``, already percent-encoded, and is put on the URL verbatim: httpx
sends exactly those bytes (a ``params`` mapping would be re-encoded by httpx, differently across
versions — a space is ``%20`` up to 0.27 and ``+`` from 0.28 — so the signed bytes would not be
the sent bytes). A ``query`` that httpx would alter is refused with ``ValueError`` before anything
is sent. This module never logs header values or query strings and never puts them into an
error message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from venues.errors import (
    AuthError,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    TransportError,
    VenueError,
    VenueUnavailable,
    is_retryable,
)
from venues.ratelimit import RateLimiter

log = structlog.get_logger("zerobeta.venues.http")

ClassifyError = Callable[[httpx.Response], VenueError | None]
SleepFn = Callable[[float], Awaitable[None]]

DEFAULT_RETRY_AFTER_S = 1.0
"""Wait in seconds after a 429/418 that carries no usable ``Retry-After`` header."""

_BODY_SNIPPET_CHARS = 200


def parse_retry_after_s(value: str | None, default_s: float = DEFAULT_RETRY_AFTER_S) -> float:
    """Seconds to wait from a ``Retry-After`` header value.

    Parameters
    ----------
    value : str | None
        Header value in delay-seconds form (``"30"``, ``"1.5"``). HTTP-date values and venues
        that send milliseconds (dYdX indexer) are left to the venue's ``classify_error``.
    default_s : float
        Seconds returned when the value is missing, not a number or negative.

    Returns
    -------
    float
        Seconds, ≥ 0.
    """
    if value is None:
        return default_s
    try:
        seconds = float(value.strip())
    except ValueError:
        return default_s
    return seconds if seconds >= 0 else default_s


def classify_status(
    venue: str, method: str, path: str, response: httpx.Response
) -> VenueError | None:
    """Map an HTTP status to our error tree (``None`` for 1xx–3xx).

    Parameters
    ----------
    venue, method, path : str
        Context for the message (path without query string: it may carry a signature).
    response : httpx.Response
        The venue's answer.

    Returns
    -------
    VenueError | None
        ``RateLimited`` (429/418), ``AuthError`` (401/403), ``VenueUnavailable`` (5xx), a plain
        ``VenueError`` for another 4xx, or ``None``.
    """
    status = response.status_code
    where = f"{method} {path}: HTTP {status}"
    code = f"HTTP {status}"
    if status in (429, 418):
        retry_after_s = parse_retry_after_s(response.headers.get("Retry-After"))
        return RateLimited(
            f"{where}, retry after {retry_after_s} s",
            venue=venue,
            retry_after_s=retry_after_s,
            code=code,
        )
    if status in (401, 403):
        return AuthError(f"{where} (authentication or permission refused)", venue=venue, code=code)
    if status >= 500:
        return VenueUnavailable(where, venue=venue, code=code)
    if status >= 400:
        snippet = response.text[:_BODY_SNIPPET_CHARS]
        return VenueError(f"{where}: {snippet}", venue=venue, code=code)
    return None


class RestClient:
    """Rate-limited, retrying JSON-over-HTTP client for one venue.

    Parameters
    ----------
    venue : str
        Venue name put on every error (``binance``, ``okx`` ...).
    base_url : str
        Scheme and host (and optional path prefix), e.g. ``https://fapi.binance.com``.
    limiter : RateLimiter
        Bucket that every request takes its ``weight`` from before it is sent.
    transport : httpx.AsyncBaseTransport | None
        Replaces the network (``httpx.MockTransport`` in tests); ``None`` = real network.
    timeout_s : float
        Connect, read, write and pool timeout in seconds, per attempt.
    classify_error : Callable[[httpx.Response], VenueError | None] | None
        The venue's own error mapping; runs first on every response (also HTTP 200) and its
        non-``None`` answer is raised.
    retry_attempts : int
        Maximum number of attempts, including the first, for idempotent requests (≥ 1).
    sleep : Callable[[float], Awaitable[None]]
        Async sleep (seconds) used between retries; tests inject a fake.
    used_weight_header : str | None
        Response header holding the venue's used weight (``X-MBX-USED-WEIGHT-1M``); when set,
        each response syncs ``limiter`` through :meth:`RateLimiter.update_used`.
    backoff_initial_s, backoff_max_s : float
        Jittered exponential retry wait: random in ``[0, initial · 2^n]``, capped at max, in s.
    max_retry_after_s : float
        A ``RateLimited`` asking for a longer wait than this (an IP ban) is raised, not retried.
    """

    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        limiter: RateLimiter,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
        classify_error: ClassifyError | None = None,
        retry_attempts: int = 3,
        sleep: SleepFn = asyncio.sleep,
        used_weight_header: str | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        max_retry_after_s: float = 60.0,
    ) -> None:
        if retry_attempts < 1:
            raise ValueError("retry_attempts must be ≥ 1")
        self.venue = venue
        self._limiter = limiter
        self._timeout_s = timeout_s
        self._classify_error = classify_error
        self._retry_attempts = retry_attempts
        self._sleep = sleep
        self._used_weight_header = used_weight_header
        self._backoff = wait_random_exponential(multiplier=backoff_initial_s, max=backoff_max_s)
        self._max_retry_after_s = max_retry_after_s
        self._client = httpx.AsyncClient(
            base_url=base_url, transport=transport, timeout=httpx.Timeout(timeout_s)
        )

    def __repr__(self) -> str:
        return f"RestClient(venue={self.venue!r}, base_url={str(self._client.base_url)!r})"

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        query: str | None = None,
        json_body: Any = None,
        content: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        weight: float = 1,
        idempotent: bool,
    ) -> Any:
        """Send one request and return its decoded JSON body.

        Parameters
        ----------
        method : str
            HTTP method (``GET``, ``POST``, ``DELETE`` ...).
        path : str
            Path relative to ``base_url`` (``/fapi/v1/premiumIndex``).
        params : Mapping[str, Any] | None
            Query parameters of an unsigned request, encoded by httpx.
        query : str | None
            The percent-encoded query string (without ``?``), sent byte for byte: what a venue
            that signs the query signed (exclusive with ``params``).
        json_body : Any
            Body serialized by httpx as compact JSON. Use ``content`` instead when the venue
            signs the body bytes, so the signed bytes are exactly the sent bytes.
        content : str | bytes | None
            Raw body, sent as is (exclusive with ``json_body``).
        headers : Mapping[str, str] | None
            Extra headers (API key, signature). Never logged or put in errors.
        weight : float
            The endpoint's documented request weight, taken from the limiter.
        idempotent : bool
            ``True`` for reads (retried on retryable errors); ``False`` for writes (sent once).

        Returns
        -------
        Any
            The decoded JSON body.

        Raises
        ------
        RequestTimeout, TransportError, VenueUnavailable, RateLimited, AuthError, ProtocolError
            As mapped in the module docstring; after the last attempt for idempotent requests.
        VenueError
            Whatever ``classify_error`` returns, or a plain one for another HTTP 4xx.
        ValueError
            If both ``json_body`` and ``content``, or both ``params`` and ``query``, are given,
            or if ``query`` is not sent verbatim (not fully percent-encoded ASCII).
        """
        if json_body is not None and content is not None:
            raise ValueError("pass json_body or content, not both")
        if params is not None and query is not None:
            raise ValueError("pass params or query, not both")
        target = self._verbatim_target(method, path, query) if query else path

        async def send() -> Any:
            return await self._send_once(
                method, path, target, params, json_body, content, headers, weight
            )

        if not idempotent:
            return await send()
        retrying = AsyncRetrying(
            sleep=self._sleep,
            stop=stop_after_attempt(self._retry_attempts),
            wait=self._retry_wait_s,
            retry=retry_if_exception(self._should_retry),
            before_sleep=self._log_retry(method, path),
            reraise=True,
        )
        return await retrying(send)

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _verbatim_target(self, method: str, path: str, query: str) -> str:
        """``path?query``, checked to leave httpx with ``query``'s exact bytes."""
        target = f"{path}?{query}"
        try:
            sent = self._client.build_request(method, target).url.query
        except httpx.InvalidURL:
            sent = b""
        if sent != query.encode():
            # The message leaves the query out: it may carry a signature.
            raise ValueError(f"{method} {path}: query is not percent-encoded; httpx would alter it")
        return target

    async def _send_once(
        self,
        method: str,
        path: str,
        target: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        content: str | bytes | None,
        headers: Mapping[str, str] | None,
        weight: float,
    ) -> Any:
        await self._limiter.acquire(weight)
        try:
            response = await self._client.request(
                method, target, params=params, json=json_body, content=content, headers=headers
            )
        except httpx.TimeoutException as e:
            message = f"{method} {path}: no answer within {self._timeout_s} s"
            raise RequestTimeout(message, venue=self.venue) from e
        except httpx.TransportError as e:
            message = f"{method} {path}: {type(e).__name__}"
            raise TransportError(message, venue=self.venue) from e
        self._sync_used_weight(response)
        error = self._classify(method, path, response)
        if error is not None:
            if isinstance(error, RateLimited):
                self._limiter.penalize(error.retry_after_s)
            raise error
        return self._decode(method, path, response)

    def _classify(self, method: str, path: str, response: httpx.Response) -> VenueError | None:
        if self._classify_error is not None:
            error = self._classify_error(response)
            if error is not None:
                return error
        return classify_status(self.venue, method, path, response)

    def _decode(self, method: str, path: str, response: httpx.Response) -> Any:
        try:
            return json.loads(response.content)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError both subclass it
            snippet = response.text[:_BODY_SNIPPET_CHARS]
            message = f"{method} {path}: body is not JSON ({e.__class__.__name__}): {snippet!r}"
            raise ProtocolError(message, venue=self.venue) from e

    def _sync_used_weight(self, response: httpx.Response) -> None:
        if self._used_weight_header is None:
            return
        value = response.headers.get(self._used_weight_header)
        if value is None:
            return
        try:
            used_weight = float(value)
        except ValueError:
            # A malformed advisory header must not fail a good response; our own bucket
            # still limits us.
            log.warning(
                "used_weight_header_invalid", venue=self.venue, header=self._used_weight_header
            )
            return
        self._limiter.update_used(used_weight)

    def _should_retry(self, error: BaseException) -> bool:
        if isinstance(error, RateLimited) and error.retry_after_s > self._max_retry_after_s:
            return False
        return is_retryable(error)

    def _retry_wait_s(self, state: RetryCallState) -> float:
        backoff_s = float(self._backoff(state))
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RateLimited):
            return max(backoff_s, error.retry_after_s)
        return backoff_s

    def _log_retry(self, method: str, path: str) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            wait_s = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning(
                "http_retrying",
                venue=self.venue,
                method=method,
                path=path,
                attempt=state.attempt_number,
                wait_s=round(wait_s, 3),
                error_type=type(error).__name__,
                error_code=getattr(error, "code", None),
            )

        return before_sleep
