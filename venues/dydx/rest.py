"""dYdX v4 Indexer REST endpoints over :class:`~venues.http.RestClient` (public, no auth).

One method per endpoint, returning the decoded JSON as the venue sent it (parsing lives in
:mod:`venues.dydx.parse`). Source: the Indexer API documentation
https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/public/api-documentation.md
(endpoints) and the Indexer source
https://github.com/dydxprotocol/v4-chain/tree/main/indexer/services/comlink/src
(``lib/rate-limit.ts``, ``caches/rate-limiters.ts``, ``request-helpers/error-handler.ts``: rate
limits, errors); recorded payloads in ``tests/fixtures/dydx-v4/``.

Rate limits (Indexer source above) are per IP and per endpoint group, so there is one
:class:`RestClient` (and one :class:`RateLimiter`) per group: markets and everything else 100
requests / 10 s, historical funding its own 100 / 10 s, candles 1000 / 10 s. Errors:
:func:`classify_error` maps the Indexer's ``{"errors": [{"msg": ...}]}`` bodies; HTTP 429 carries
``Retry-After`` in **milliseconds** (converted to seconds here).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from venues.dydx import constants as c
from venues.dydx.parse import error_message
from venues.errors import RateLimited, VenueError, VenueUnavailable
from venues.http import RestClient
from venues.ratelimit import RateLimiter

ParamValue = str | int
SleepFn = Callable[[float], Awaitable[None]]


def retry_after_s(response: httpx.Response) -> float:
    """Seconds to wait from the Indexer's ``Retry-After`` header, which is in **ms** (Indexer
    source ``lib/rate-limit.ts``);
    ``DEFAULT_RETRY_AFTER_S`` when missing or not a non-negative number."""
    value = response.headers.get(c.RETRY_AFTER_HEADER)
    try:
        wait_ms = float(value) if value is not None else -1.0
    except ValueError:
        wait_ms = -1.0
    return wait_ms / 1000.0 if wait_ms >= 0 else c.DEFAULT_RETRY_AFTER_S


def _request_path(response: httpx.Response) -> str:
    try:
        return response.request.url.path
    except RuntimeError:  # a Response built without a request (tests)
        return "?"


def classify_error(response: httpx.Response) -> VenueError | None:
    """Map an Indexer error response to our error tree, or ``None`` below HTTP 400.

    429 → :class:`RateLimited` (``Retry-After`` ms → s); 5xx → :class:`VenueUnavailable`; 400
    (validation: unknown ticker, bad limit ...) and 404 → :class:`VenueError` with ``code="HTTP
    <status>"`` and the venue's ``msg`` (with the offending parameter). A body that is not the
    documented error shape is left to :func:`venues.http.classify_status`. Source: the Indexer error
    handler
    https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/src/request-helpers/error-handler.ts;
    fixture ``errors.json``.
    """
    status = response.status_code
    if status < 400:
        return None
    try:
        message = error_message(json.loads(response.content))
    except ValueError:
        message = None
    code = f"HTTP {status}"
    path = _request_path(response)
    where = f"GET {path}: HTTP {status}: {message or 'no error body'}"
    if status == 429:
        wait_s = retry_after_s(response)
        return RateLimited(where, venue=c.VENUE, retry_after_s=wait_s, code=code)
    if status >= 500:
        return VenueUnavailable(where, venue=c.VENUE, code=code)
    if message is None:
        return None
    return VenueError(where, venue=c.VENUE, code=code)


def make_rest_client(
    base_url: str,
    requests_per_window: int,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> RestClient:
    """A :class:`RestClient` with the Indexer error mapping and a ``requests_per_window`` /
    10 s bucket (unless ``limiter`` is given). ``kwargs`` go to :class:`RestClient`."""
    return RestClient(
        c.VENUE,
        base_url,
        limiter=limiter or RateLimiter(requests_per_window, c.RATE_WINDOW_S),
        transport=transport,
        classify_error=classify_error,
        **kwargs,
    )


class DydxIndexerRest:
    """Raw Indexer REST calls (JSON in, JSON out), one rate-limit bucket per group (module
    docstring).

    Parameters
    ----------
    markets, funding, candles : RestClient
        Transports of the default, historical-funding and candles buckets (normally from
        :meth:`create`). All three are closed by :meth:`aclose`.
    """

    def __init__(self, markets: RestClient, funding: RestClient, candles: RestClient) -> None:
        self._markets = markets
        self._funding = funding
        self._candles = candles

    @classmethod
    def create(
        cls,
        base_url: str = c.REST_URL,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        sleep: SleepFn = asyncio.sleep,
        **kwargs: Any,
    ) -> DydxIndexerRest:
        """Three clients on ``base_url`` (without ``/v4``) with the documented buckets.

        ``sleep`` (seconds) paces retries; with a ``clock`` (monotonic seconds) the buckets run
        on that clock and ``sleep`` too (tests: a fake clock), else on real time. ``kwargs`` go
        to every :class:`RestClient` (``retry_attempts``, ``timeout_s`` ...)."""
        buckets = (
            c.DEFAULT_REQUESTS_PER_WINDOW,
            c.FUNDING_REQUESTS_PER_WINDOW,
            c.CANDLES_REQUESTS_PER_WINDOW,
        )

        def limiter(n: int) -> RateLimiter:
            if clock is None:
                return RateLimiter(n, c.RATE_WINDOW_S)
            return RateLimiter(n, c.RATE_WINDOW_S, clock=clock, sleep=sleep)

        markets, funding, candles = (
            make_rest_client(
                base_url, n, transport=transport, limiter=limiter(n), sleep=sleep, **kwargs
            )
            for n in buckets
        )
        return cls(markets, funding, candles)

    def __repr__(self) -> str:
        return f"DydxIndexerRest(markets={self._markets!r})"

    async def aclose(self) -> None:
        """Close the three transports."""
        for client in (self._markets, self._funding, self._candles):
            await client.aclose()

    @staticmethod
    async def _get(rest: RestClient, path: str, params: Mapping[str, ParamValue]) -> Any:
        return await rest.request("GET", path, params=params or None, idempotent=True)

    async def get_perpetual_markets(self, ticker: str | None = None) -> Any:
        """``GET /v4/perpetualMarkets[?ticker=]``: ``{"markets": {ticker: {...}}}``.
        Fixture ``perpetual_markets_btc_eth_sol.json``."""
        params: dict[str, ParamValue] = {} if ticker is None else {"ticker": ticker}
        return await self._get(self._markets, c.PERPETUAL_MARKETS, params)

    async def get_historical_funding(
        self,
        ticker: str,
        *,
        effective_before_or_at: str | None = None,
        effective_before_or_at_height: int | None = None,
        limit: int = c.PAGE_LIMIT,
    ) -> Any:
        """``GET /v4/historicalFunding/{ticker}``: newest first, ``limit`` ≤ 1000, bounds
        inclusive (ISO time or block height). Fixture ``historical_funding_btc.json``."""
        params: dict[str, ParamValue] = {"limit": limit}
        if effective_before_or_at is not None:
            params["effectiveBeforeOrAt"] = effective_before_or_at
        if effective_before_or_at_height is not None:
            params["effectiveBeforeOrAtHeight"] = effective_before_or_at_height
        path = c.HISTORICAL_FUNDING.format(ticker=ticker)
        return await self._get(self._funding, path, params)

    async def get_candles(
        self,
        ticker: str,
        resolution: str,
        *,
        from_iso: str | None = None,
        to_iso: str | None = None,
        limit: int = c.PAGE_LIMIT,
    ) -> Any:
        """``GET /v4/candles/perpetualMarkets/{ticker}?resolution=``: newest first, ``fromISO``
        inclusive, ``toISO`` exclusive on ``startedAt``, ``limit`` ≤ 1000. Fixture
        ``candles_btc_1min.json``."""
        params: dict[str, ParamValue] = {"resolution": resolution, "limit": limit}
        if from_iso is not None:
            params["fromISO"] = from_iso
        if to_iso is not None:
            params["toISO"] = to_iso
        path = c.CANDLES.format(ticker=ticker)
        return await self._get(self._candles, path, params)
