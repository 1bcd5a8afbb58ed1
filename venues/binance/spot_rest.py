"""Binance spot REST endpoints (``https://api.binance.com/api/v3/...``) over
:class:`~venues.http.RestClient`.

One method per endpoint, returning the decoded JSON as the venue sent it (parsing lives in
:mod:`venues.binance.parse` / :mod:`venues.binance.parse_spot`). SIGNED endpoints are signed
here and only here (:func:`~venues.binance.auth.signed_query`: percent-encoded payload, HMAC
hex, ``signature`` last, as spot enforces since 2026-01-15); the ``X-MBX-APIKEY`` header is
built from ``SecretStr.get_secret_value()`` at request time and never stored in plain text,
logged or put in an error. Source: ``/work/shared/venues/binance-spot.md`` §2–§6; recorded
payloads in ``tests/fixtures/binance-spot/``.

Rate limit: one bucket of 6000 request weight per minute (binance-spot.md §6), synced with
``X-MBX-USED-WEIGHT-1M``; ``Retry-After`` (seconds) on 429/418 blocks the bucket. Errors
``{"code", "msg"}`` are mapped by :func:`venues.binance.rest.classify_error` (shared with
fapi): spot's ``-2010`` is told apart by its ``msg`` ("Duplicate order sent." →
``DuplicateClientOrderId``, "insufficient balance" → ``InsufficientMargin``), ``-1013``
filter failures and ``-1100`` bad client ids → ``InvalidOrder``, ``-2011/-2013/-2026`` →
``OrderNotFound``. Clock skew (``-1021``) resyncs ``GET /api/v3/time``; a signed GET/DELETE
is then re-signed and sent once more, ``POST /api/v3/order`` raises (writes are never re-sent).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl

import httpx
from pydantic import SecretStr

from venues.binance import constants as c
from venues.binance.auth import ParamValue, signed_query
from venues.binance.rest import classify_error
from venues.errors import AuthError, ProtocolError, VenueError
from venues.http import RestClient
from venues.ratelimit import RateLimiter

# Weights not in constants.SPOT_WEIGHTS (official rest-api.md, "Symbol order book ticker",
# "Current open orders"): bookTicker 2 for one symbol, 4 for ``symbols``/all; openOrders 6
# with a symbol, 80 without.
SPOT_BOOK_TICKER_WEIGHT_ONE: Final = 2
SPOT_BOOK_TICKER_WEIGHT_MANY: Final = 4
SPOT_OPEN_ORDERS_WEIGHT_ONE: Final = 6
SPOT_OPEN_ORDERS_WEIGHT_ALL: Final = 80


def make_spot_rest_client(
    base_url: str = c.SPOT_REST_URL,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> RestClient:
    """A :class:`RestClient` wired for spot: Binance error mapping, ``X-MBX-USED-WEIGHT-1M``
    sync and the documented 6000 weight/min bucket (unless ``limiter`` is given). ``kwargs``
    go to :class:`RestClient` (``sleep``, ``retry_attempts``, ``timeout_s`` ...)."""
    return RestClient(
        c.VENUE,
        base_url,
        limiter=limiter or RateLimiter(c.SPOT_REQUEST_WEIGHT_PER_MIN, 60.0),
        transport=transport,
        classify_error=classify_error,
        used_weight_header=c.USED_WEIGHT_HEADER,
        **kwargs,
    )


def _server_time_ms(payload: Any) -> int:
    value = payload.get("serverTime") if isinstance(payload, Mapping) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(
            f"spot time: field 'serverTime' must be an integer ms, got {value!r}", venue=c.VENUE
        )
    return value


class BinanceSpotRest:
    """Raw spot REST calls (JSON in, JSON out).

    Parameters
    ----------
    rest : RestClient
        Transport, normally from :func:`make_spot_rest_client`.
    api_key, api_secret : SecretStr | None
        Credentials; ``None`` allows public endpoints only (signed ones raise ``AuthError``).
    now_ms : Callable[[], int]
        Local wall clock, epoch ms; corrected by the server offset of :meth:`sync_time`.
    recv_window_ms : int
        ``recvWindow`` of signed requests, ms (default 5000, spot max 60000).
    """

    def __init__(
        self,
        rest: RestClient,
        api_key: SecretStr | None,
        api_secret: SecretStr | None,
        now_ms: Callable[[], int],
        *,
        recv_window_ms: int = c.DEFAULT_RECV_WINDOW_MS,
    ) -> None:
        self._rest = rest
        self._api_key = api_key
        self._api_secret = api_secret
        self._now_ms = now_ms
        self._recv_window_ms = recv_window_ms
        self.clock_offset_ms = 0
        """Server time minus local time, ms, from the last :meth:`sync_time`."""

    def __repr__(self) -> str:
        return f"BinanceSpotRest(rest={self._rest!r}, signed={self._api_secret is not None})"

    def server_now_ms(self) -> int:
        """Local clock corrected by the last known server offset, epoch ms."""
        return self._now_ms() + self.clock_offset_ms

    async def aclose(self) -> None:
        """Close the transport."""
        await self._rest.aclose()

    # --- plumbing ---------------------------------------------------------------------

    async def _public(
        self, path: str, params: Mapping[str, ParamValue] | None = None, weight: int = 1
    ) -> Any:
        return await self._rest.request("GET", path, params=params, weight=weight, idempotent=True)

    def _sign(self, params: Mapping[str, ParamValue]) -> tuple[dict[str, str], dict[str, str]]:
        if self._api_key is None or self._api_secret is None:
            raise AuthError(
                "binance spot: signed endpoint needs an API key and secret", venue=c.VENUE
            )
        query = signed_query(
            params,
            self._api_secret.get_secret_value(),
            timestamp_ms=self.server_now_ms(),
            recv_window_ms=self._recv_window_ms,
        )
        # httpx re-encodes these pairs byte-identically for the characters the spot client
        # id charset and our params use (tested against the signature in test_binance_spot).
        signed = dict(parse_qsl(query, keep_blank_values=True))
        return signed, {c.API_KEY_HEADER: self._api_key.get_secret_value()}

    async def _send_signed(
        self, method: str, path: str, params: Mapping[str, ParamValue], weight: int
    ) -> Any:
        query, headers = self._sign(params)
        return await self._rest.request(
            method, path, params=query, headers=headers, weight=weight, idempotent=method == "GET"
        )

    async def _signed(
        self, method: str, path: str, params: Mapping[str, ParamValue], weight: int
    ) -> Any:
        try:
            return await self._send_signed(method, path, params, weight)
        except VenueError as e:
            if e.code is None or e.code not in {str(x) for x in c.CLOCK_SKEW_CODES}:
                raise
            await self.sync_time()  # so the caller's lookup / next order is signed right
            if method == "POST":
                raise  # writes are never re-sent here
        return await self._send_signed(method, path, params, weight)

    async def sync_time(self) -> int:
        """``GET /api/v3/time`` (weight 1) → store ``serverTime - now_ms()`` as the clock
        offset, ms, and return it. Raises ``ProtocolError`` on a malformed body. Fixture
        ``server_time.json``."""
        payload = await self._public(c.SPOT_TIME, weight=c.SPOT_WEIGHTS[c.SPOT_TIME])
        self.clock_offset_ms = _server_time_ms(payload) - self._now_ms()
        return self.clock_offset_ms

    # --- market data (public) ---------------------------------------------------------

    async def get_exchange_info(self) -> Any:
        """``GET /api/v3/exchangeInfo`` (weight 20). Fixture ``exchange_info_btc_eth.json``."""
        path = c.SPOT_EXCHANGE_INFO
        return await self._public(path, weight=c.SPOT_WEIGHTS[path])

    async def get_klines(
        self, symbol: str, interval: str, start_ms: int, end_ms: int, limit: int
    ) -> Any:
        """``GET /api/v3/klines`` (weight 2): ``interval`` a Binance code (``1h``, ``1s``),
        open times in ``[start_ms, end_ms]`` (epoch ms, inclusive), ``limit`` ≤ 1000.
        Fixture ``klines.json``."""
        params: dict[str, ParamValue] = {
            "symbol": symbol,
            "interval": interval,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": limit,
        }
        return await self._public(c.SPOT_KLINES, params, c.SPOT_WEIGHTS[c.SPOT_KLINES])

    async def get_book_ticker(self, symbols: Sequence[str]) -> Any:
        """``GET /api/v3/ticker/bookTicker``: one object for one symbol (weight 2), else an
        array for the JSON-array ``symbols`` param (weight 4).

        Raises ``ValueError`` for an empty ``symbols``."""
        if not symbols:
            raise ValueError("symbols must not be empty")
        if len(symbols) == 1:
            return await self._public(
                c.SPOT_BOOK_TICKER, {"symbol": symbols[0]}, SPOT_BOOK_TICKER_WEIGHT_ONE
            )
        array = json.dumps(list(symbols), separators=(",", ":"))
        return await self._public(
            c.SPOT_BOOK_TICKER, {"symbols": array}, SPOT_BOOK_TICKER_WEIGHT_MANY
        )

    # --- account and orders (SIGNED) --------------------------------------------------

    async def post_order(self, params: Mapping[str, ParamValue]) -> Any:
        """``POST /api/v3/order`` (weight 1) with the caller's params; sent exactly once (a
        timeout, 5xx or clock skew is raised: look the order up). Fixtures
        ``new_order_full.json``, ``new_order_result.json``."""
        return await self._signed("POST", c.SPOT_ORDER, params, c.SPOT_WEIGHTS[c.SPOT_ORDER])

    async def get_order(self, symbol: str, orig_client_order_id: str) -> Any:
        """``GET /api/v3/order`` (weight 4) by client order id; unknown → ``OrderNotFound``
        (``-2013``; archived ``-2026``). Fixture ``query_order.json``."""
        params = {"symbol": symbol, "origClientOrderId": orig_client_order_id}
        return await self._signed("GET", c.SPOT_ORDER, params, c.SPOT_QUERY_ORDER_WEIGHT)

    async def delete_order(self, symbol: str, orig_client_order_id: str) -> Any:
        """``DELETE /api/v3/order`` (weight 1) by client order id; already final or unknown
        → ``OrderNotFound`` (``-2011``). Fixture ``cancel_order.json``."""
        params = {"symbol": symbol, "origClientOrderId": orig_client_order_id}
        return await self._signed("DELETE", c.SPOT_ORDER, params, c.SPOT_WEIGHTS[c.SPOT_ORDER])

    async def get_open_orders(self, symbol: str | None = None) -> Any:
        """``GET /api/v3/openOrders``: one symbol (weight 6) or all (weight 80). Fixture
        ``open_orders.json``."""
        if symbol is None:
            return await self._signed("GET", c.SPOT_OPEN_ORDERS, {}, SPOT_OPEN_ORDERS_WEIGHT_ALL)
        params = {"symbol": symbol}
        return await self._signed("GET", c.SPOT_OPEN_ORDERS, params, SPOT_OPEN_ORDERS_WEIGHT_ONE)

    async def get_account(self) -> Any:
        """``GET /api/v3/account?omitZeroBalances=true`` (weight 20). Fixture
        ``account.json``."""
        params = {"omitZeroBalances": True}
        return await self._signed("GET", c.SPOT_ACCOUNT, params, c.SPOT_WEIGHTS[c.SPOT_ACCOUNT])
