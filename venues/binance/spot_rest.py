"""Binance spot REST endpoints (``https://api.binance.com/api/v3/...``) over
:class:`~venues.http.RestClient`.

One method per endpoint, returning the decoded JSON as the venue sent it (parsing lives in
:mod:`venues.binance.parse` / :mod:`venues.binance.parse_spot`). SIGNED endpoints are signed by
:class:`~venues.binance.rest_base.SignedRest` (:func:`~venues.binance.auth.signed_query`:
percent-encoded payload, HMAC hex, ``signature`` last, as spot enforces since 2026-01-15); the
``X-MBX-APIKEY`` header is built from ``SecretStr.get_secret_value()`` at request time and never
stored in plain text, logged or put in an error. Source: Binance spot API docs
https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md ("SIGNED (TRADE and
USER_DATA) Endpoint security", "LIMITS", the endpoint sections) and
https://github.com/binance/binance-spot-api-docs/blob/master/errors.md; recorded payloads in
``tests/fixtures/binance-spot/``.

Rate limit: one bucket of 6000 request weight per minute (rest-api.md "LIMITS"), synced with
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
from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx

from venues.binance import constants as c
from venues.binance.auth import ParamValue, ws_api_sign
from venues.binance.rest import classify_error
from venues.binance.rest_base import SignedRest, make_binance_client
from venues.errors import AuthError
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
    return make_binance_client(
        base_url,
        c.SPOT_REQUEST_WEIGHT_PER_MIN,
        classify_error,
        transport=transport,
        limiter=limiter,
        **kwargs,
    )


class BinanceSpotRest(SignedRest):
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

    LABEL = "binance spot"
    TIME_PATH = c.SPOT_TIME
    TIME_WEIGHT = c.SPOT_WEIGHTS[c.SPOT_TIME]

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

    # --- user data stream (WebSocket API) ----------------------------------------------

    def user_stream_subscribe_request(self, request_id: str) -> dict[str, Any]:
        """The WebSocket API request ``userDataStream.subscribe.signature`` (HMAC key):
        ``{apiKey, timestamp}`` signed over the sorted, unencoded params, fresh each call.
        Source: Binance spot WebSocket API "User Data Stream requests"
        https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-api.md; fixture
        ``wsapi_user_data_subscribe_signature_request.json``.

        Raises
        ------
        AuthError
            Without an API key and secret.
        """
        if self._api_key is None or self._api_secret is None:
            raise AuthError(
                "binance spot: the account stream needs an API key and secret", venue=c.VENUE
            )
        params: dict[str, ParamValue] = {
            "apiKey": self._api_key.get_secret_value(),
            "timestamp": self.server_now_ms(),
        }
        signature = ws_api_sign(params, self._api_secret.get_secret_value())
        return {
            "id": request_id,
            "method": "userDataStream.subscribe.signature",
            "params": {**params, "signature": signature},
        }
