"""Bybit v5 REST endpoints over :class:`~venues.http.RestClient` (linear perps, spot, UTA).

One method per endpoint, returning the decoded JSON envelope as the venue sent it (parsing lives in
:mod:`venues.bybit.parse` / :mod:`venues.bybit.parse_account`). Private endpoints are signed here
and only here with the ``X-BAPI-*`` headers of :func:`~venues.bybit.auth.rest_headers`: the string
to sign is ``timestamp + apiKey + recvWindow + payload`` where ``payload`` is the GET query string
(sorted ``k=v``, percent-encoded, put on the URL verbatim by ``RestClient.request(query=...)`` so
the signed bytes are the sent bytes; a cursor goes back as Bybit sent it) or the exact POST body.
Keys are unwrapped from ``SecretStr`` at request time only. Source: Bybit v5 API docs
https://bybit-exchange.github.io/docs/v5 ("Integration Guidance"
https://bybit-exchange.github.io/docs/v5/guide, "Rate Limit"
https://bybit-exchange.github.io/docs/v5/rate-limit, "Error Codes"
https://bybit-exchange.github.io/docs/v5/error, each endpoint's page); payloads in
``tests/fixtures/bybit-v5/``.

Errors: every envelope with ``retCode != 0`` (even under HTTP 200) is mapped by the
classifier of :func:`make_rest_client` through :func:`~venues.bybit.parse.error_from_payload`:
10006 → ``RateLimited`` waiting until ``X-Bapi-Limit-Reset-Timestamp`` (or ``Retry-After``);
10003/10004/10005/10010 → ``AuthError``; 110007 … → ``InsufficientMargin``; 110072/170141 →
``DuplicateClientOrderId``; 110094/170140 … → ``InvalidOrder``; 110001/170213 →
``OrderNotFound``. HTTP 403 without an envelope is the IP ban ("access too frequent",
"Rate Limit") → ``RateLimited`` for 10 min (not retried). Clock skew (10002) resyncs the server time
(``GET /v5/market/time``); a signed GET is then re-signed and sent once more, while a POST
raises it (writes are never re-sent here: the caller looks the order up by ``orderLinkId``).

Rate limits ("Rate Limit"): one bucket for the IP limit (600 requests / 5 s) in the ``RestClient``,
plus the per-UID ``/v5/order/create`` limits (10/s linear, 20/s spot) held here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from venues.bybit import constants as c
from venues.bybit.auth import ParamValue, json_body, query_string, rest_headers, ws_auth_request
from venues.bybit.parse import error_from_payload, parse_server_time_ms, retry_after_s_from_reset
from venues.errors import AuthError, RateLimited, VenueError
from venues.http import ClassifyError, RestClient, parse_retry_after_s
from venues.ratelimit import RateLimiter

Params = Mapping[str, ParamValue | None]


def _client_order_id(response: httpx.Response) -> str | None:
    try:
        request = response.request
    except RuntimeError:  # a Response built without a request (tests)
        return None
    if request.method == "POST":
        try:
            body = json.loads(request.content or b"{}")
        except ValueError:
            return None
        value = body.get("orderLinkId") if isinstance(body, dict) else None
        return value if isinstance(value, str) else None
    value = request.url.params.get("orderLinkId")
    return value if isinstance(value, str) else None


def _retry_after_s(response: httpx.Response, now_ms: int) -> float | None:
    from_reset = retry_after_s_from_reset(response.headers.get(c.HEADER_LIMIT_RESET_MS), now_ms)
    header = response.headers.get("Retry-After")
    from_header = None if header is None else parse_retry_after_s(header, c.DEFAULT_RETRY_AFTER_S)
    waits = [w for w in (from_reset, from_header) if w is not None]
    return max(waits) if waits else None


def _with_reasons(payload: dict[str, Any]) -> dict[str, Any]:
    """Append ``result.reasons[].reasonMsg`` (set-margin-mode failures) to ``retMsg``."""
    result = payload.get("result")
    reasons = result.get("reasons") if isinstance(result, dict) else None
    if not isinstance(reasons, list) or not isinstance(payload.get("retMsg"), str):
        return payload
    texts = [str(r.get("reasonMsg")) for r in reasons if isinstance(r, dict)]
    return {**payload, "retMsg": "; ".join([payload["retMsg"], *texts])} if texts else payload


def make_classifier(now_ms: Callable[[], int]) -> ClassifyError:
    """The ``classify_error`` hook for Bybit (see the module docstring for the mapping).

    ``now_ms`` (server-offset-corrected epoch ms) turns ``X-Bapi-Limit-Reset-Timestamp`` into
    seconds to wait. Bodies that are not a Bybit envelope with ``retCode != 0`` are left to
    :func:`venues.http.classify_status` (5xx pages, 429 without a body ...), except HTTP 403,
    Bybit's IP ban.
    """

    def classify(response: httpx.Response) -> VenueError | None:
        try:
            payload = json.loads(response.content)
        except ValueError:
            payload = None
        code = payload.get("retCode") if isinstance(payload, dict) else None
        if isinstance(code, int) and not isinstance(code, bool) and code != c.RET_OK:
            wait_s = _retry_after_s(response, now_ms())
            return error_from_payload(
                _with_reasons(payload), c.VENUE, _client_order_id(response), retry_after_s=wait_s
            )
        if response.status_code == 403:
            return RateLimited(
                "bybit: HTTP 403 (IP rate limit breached, or a forbidden region): "
                f"wait ≥ {c.IP_BAN_WAIT_S} s",
                venue=c.VENUE,
                retry_after_s=c.IP_BAN_WAIT_S,
                code="HTTP 403",
            )
        return None

    return classify


def make_rest_client(
    base_url: str = c.REST_BASE_URL,
    *,
    now_ms: Callable[[], int],
    transport: httpx.AsyncBaseTransport | None = None,
    limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> RestClient:
    """A :class:`RestClient` wired for Bybit v5: envelope error mapping and the documented IP
    bucket of 600 requests / 5 s (unless ``limiter`` is given). ``kwargs`` go to
    :class:`RestClient` (``sleep``, ``retry_attempts``, ``timeout_s`` ...)."""
    return RestClient(
        c.VENUE,
        base_url,
        limiter=limiter or RateLimiter(c.IP_LIMIT_REQUESTS, c.IP_LIMIT_WINDOW_S),
        transport=transport,
        classify_error=make_classifier(now_ms),
        **kwargs,
    )


class BybitRest:
    """Raw Bybit v5 REST calls (JSON envelope in, JSON envelope out).

    Parameters
    ----------
    rest : RestClient
        Transport from :func:`make_rest_client` (it must use its classifier).
    api_key, api_secret : SecretStr | None
        Credentials; ``None`` allows public endpoints only (private ones raise ``AuthError``).
    now_ms : Callable[[], int]
        Local wall clock, epoch ms; corrected by the server offset found by :meth:`sync_time`.
    order_limiters : Mapping[str, RateLimiter] | None
        Per-category ``/v5/order/create`` buckets; default 10/s linear, 20/s spot ("Rate Limit").
    recv_window_ms : int
        ``X-BAPI-RECV-WINDOW``, ms (default 5000).
    """

    def __init__(
        self,
        rest: RestClient,
        api_key: SecretStr | None,
        api_secret: SecretStr | None,
        now_ms: Callable[[], int],
        *,
        order_limiters: Mapping[str, RateLimiter] | None = None,
        recv_window_ms: int = c.DEFAULT_RECV_WINDOW_MS,
    ) -> None:
        self._rest = rest
        self._api_key = api_key
        self._api_secret = api_secret
        self._now_ms = now_ms
        self._recv_window_ms = recv_window_ms
        self._order_limiters = dict(order_limiters or {}) or {
            c.CATEGORY_LINEAR: RateLimiter(c.ORDER_CREATE_PER_S_LINEAR, 1.0),
            c.CATEGORY_SPOT: RateLimiter(c.ORDER_CREATE_PER_S_SPOT, 1.0),
        }
        self.clock_offset_ms = 0
        """Server time minus local time, ms, from the last :meth:`sync_time`."""

    def __repr__(self) -> str:
        return f"BybitRest(rest={self._rest!r}, signed={self._api_secret is not None})"

    @property
    def has_credentials(self) -> bool:
        """Whether private endpoints can be called."""
        return self._api_key is not None and self._api_secret is not None

    def server_now_ms(self) -> int:
        """Local clock corrected by the server offset, epoch ms."""
        return self._now_ms() + self.clock_offset_ms

    async def aclose(self) -> None:
        """Close the transport."""
        await self._rest.aclose()

    # --- plumbing ---------------------------------------------------------------------

    async def _public(self, path: str, params: Params) -> Any:
        return await self._rest.request(
            "GET", path, query=query_string(params) or None, idempotent=True
        )

    def _headers(self, payload: str) -> dict[str, str]:
        if self._api_key is None or self._api_secret is None:
            raise AuthError("bybit: private endpoint needs an API key and secret", venue=c.VENUE)
        return rest_headers(
            self._api_key.get_secret_value(),
            self._api_secret.get_secret_value(),
            payload,
            timestamp_ms=self.server_now_ms(),
            recv_window_ms=self._recv_window_ms,
        )

    async def _send_signed(self, method: str, path: str, params: Params) -> Any:
        if method == "GET":
            query = query_string(params)
            headers = self._headers(query)
            return await self._rest.request(
                "GET", path, query=query or None, headers=headers, idempotent=True
            )
        body = json_body({k: v for k, v in params.items() if v is not None})
        headers = self._headers(body)
        return await self._rest.request(
            "POST", path, content=body, headers=headers, idempotent=False
        )

    async def _signed(self, method: str, path: str, params: Params) -> Any:
        try:
            return await self._send_signed(method, path, params)
        except VenueError as e:
            if e.code is None or e.code not in {str(x) for x in c.CLOCK_SKEW_CODES}:
                raise
            await self.sync_time()  # so the caller's lookup / next order is signed right
            if method == "POST":
                raise  # writes are never re-sent here
        return await self._send_signed(method, path, params)

    async def sync_time(self) -> int:
        """``GET /v5/market/time`` → store ``server - local`` as the clock offset, ms.

        Returns the offset. Raises ``ProtocolError`` on a malformed body. Fixture
        ``server_time.json``.
        """
        payload = await self._public(c.PATH_SERVER_TIME, {})
        self.clock_offset_ms = parse_server_time_ms(payload) - self._now_ms()
        return self.clock_offset_ms

    # --- market data (public) ---------------------------------------------------------

    async def get_instruments_info(
        self, category: str, cursor: str | None = None, limit: int = c.INSTRUMENTS_PAGE_LIMIT
    ) -> Any:
        """``GET /v5/market/instruments-info`` one page (``limit`` ≤ 1000, ``cursor`` from
        the previous page's ``nextPageCursor``). Fixtures ``instruments_*_btcusdt.json``."""
        params: dict[str, ParamValue | None] = {
            "category": category,
            "limit": limit,
            "cursor": cursor,
        }
        return await self._public(c.PATH_INSTRUMENTS, params)

    async def get_tickers(self, category: str, symbol: str | None = None) -> Any:
        """``GET /v5/market/tickers`` for one symbol or (``None``) every symbol of
        ``category``. Fixtures ``tickers_*.json``."""
        return await self._public(c.PATH_TICKERS, {"category": category, "symbol": symbol})

    async def get_funding_history(
        self,
        symbol: str,
        end_ms: int,
        start_ms: int | None = None,
        limit: int = c.FUNDING_HISTORY_LIMIT,
    ) -> Any:
        """``GET /v5/market/funding/history?category=linear``: at most ``limit`` (≤ 200) settled
        rates up to ``end_ms`` (epoch ms, inclusive; ``startTime`` alone is an error).
        Fixture ``funding_history.json``."""
        params: dict[str, ParamValue | None] = {
            "category": c.CATEGORY_LINEAR,
            "symbol": symbol,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": limit,
        }
        return await self._public(c.PATH_FUNDING_HISTORY, params)

    async def get_kline(
        self, category: str, symbol: str, interval: str, start_ms: int, end_ms: int, limit: int
    ) -> Any:
        """``GET /v5/market/kline``: bars with start in ``[start_ms, end_ms]`` (epoch ms),
        ``limit`` ≤ 1000, **newest first**. Fixture ``kline.json``."""
        params: dict[str, ParamValue | None] = {
            "category": category,
            "symbol": symbol,
            "interval": interval,
            "start": start_ms,
            "end": end_ms,
            "limit": limit,
        }
        return await self._public(c.PATH_KLINE, params)

    # --- orders (private) -------------------------------------------------------------

    async def post_order_create(self, category: str, body: Mapping[str, ParamValue]) -> Any:
        """``POST /v5/order/create`` with ``body`` (its ``category`` included); sent exactly
        once after the per-UID order bucket of ``category``. Ack only. Fixture
        ``create_order.json``."""
        await self._order_limiters[category].acquire()
        return await self._signed("POST", c.PATH_ORDER_CREATE, body)

    async def post_order_cancel(self, category: str, symbol: str, order_link_id: str) -> Any:
        """``POST /v5/order/cancel`` by ``orderLinkId``. Ack only; an order already final or
        unknown → ``OrderNotFound`` (110001 / 170213). Fixture ``cancel_order.json``."""
        body: dict[str, ParamValue | None] = {
            "category": category,
            "symbol": symbol,
            "orderLinkId": order_link_id,
        }
        return await self._signed("POST", c.PATH_ORDER_CANCEL, body)

    async def get_order_realtime(
        self,
        category: str,
        *,
        symbol: str | None = None,
        order_link_id: str | None = None,
        settle_coin: str | None = None,
        cursor: str | None = None,
    ) -> Any:
        """``GET /v5/order/realtime``: open orders, or one order (also recently closed) by
        ``orderLinkId``. ``limit`` 50, ``cursor`` pages. Fixture ``order_realtime.json``."""
        params: dict[str, ParamValue | None] = {
            "category": category,
            "symbol": symbol,
            "orderLinkId": order_link_id,
            "settleCoin": settle_coin,
            "openOnly": 0,
            "limit": c.ORDER_REALTIME_LIMIT,
            "cursor": cursor,
        }
        return await self._signed("GET", c.PATH_ORDER_REALTIME, params)

    async def get_order_history(self, category: str, symbol: str, order_link_id: str) -> Any:
        """``GET /v5/order/history`` by ``orderLinkId`` (closed orders after a service
        restart; same row shape as ``order_realtime.json``)."""
        params: dict[str, ParamValue | None] = {
            "category": category,
            "symbol": symbol,
            "orderLinkId": order_link_id,
        }
        return await self._signed("GET", c.PATH_ORDER_HISTORY, params)

    async def get_execution_list(self, category: str, symbol: str, order_link_id: str) -> Any:
        """``GET /v5/execution/list`` fills of one order (``limit`` 100, newest first;
        ``docs/v5/order/execution.mdx``)."""
        params: dict[str, ParamValue | None] = {
            "category": category,
            "symbol": symbol,
            "orderLinkId": order_link_id,
            "limit": 100,
        }
        return await self._signed("GET", c.PATH_EXECUTION_LIST, params)

    # --- account (private) ------------------------------------------------------------

    async def get_position_list(self, cursor: str | None = None) -> Any:
        """``GET /v5/position/list?category=linear&settleCoin=USDT`` (non-zero positions only),
        ``limit`` 200. Fixture ``position_list_inverse.json``."""
        params: dict[str, ParamValue | None] = {
            "category": c.CATEGORY_LINEAR,
            "settleCoin": "USDT",
            "limit": c.POSITION_LIST_LIMIT,
            "cursor": cursor,
        }
        return await self._signed("GET", c.PATH_POSITION_LIST, params)

    async def get_wallet_balance(self) -> Any:
        """``GET /v5/account/wallet-balance?accountType=UNIFIED``. Fixture
        ``wallet_balance.json``."""
        params = {"accountType": c.ACCOUNT_TYPE_UNIFIED}
        return await self._signed("GET", c.PATH_WALLET_BALANCE, params)

    async def get_transaction_log(
        self, start_ms: int, end_ms: int, cursor: str | None = None
    ) -> Any:
        """``GET /v5/account/transaction-log`` UNIFIED linear ``type=SETTLEMENT`` (funding)
        rows in ``[start_ms, end_ms]`` (window ≤ 7 days), ``limit`` 50. Fixture
        ``transaction_log.json``."""
        params: dict[str, ParamValue | None] = {
            "accountType": c.ACCOUNT_TYPE_UNIFIED,
            "category": c.CATEGORY_LINEAR,
            "type": c.TRANSACTION_TYPE_SETTLEMENT,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": c.TRANSACTION_LOG_LIMIT,
            "cursor": cursor,
        }
        return await self._signed("GET", c.PATH_TRANSACTION_LOG, params)

    async def post_switch_mode(self, coin: str, mode: int) -> Any:
        """``POST /v5/position/switch-mode`` for every linear ``coin``-settled symbol; ``mode``
        0 one-way, 3 hedge. Unchanged → 110025. Fixture ``switch_position_mode.json``."""
        body: dict[str, ParamValue | None] = {
            "category": c.CATEGORY_LINEAR,
            "coin": coin,
            "mode": mode,
        }
        return await self._signed("POST", c.PATH_SWITCH_POSITION_MODE, body)

    async def post_set_leverage(self, symbol: str, leverage: str) -> Any:
        """``POST /v5/position/set-leverage`` (buy = sell = ``leverage``). Unchanged → 110043.
        Fixture ``set_leverage.json``."""
        body: dict[str, ParamValue | None] = {
            "category": c.CATEGORY_LINEAR,
            "symbol": symbol,
            "buyLeverage": leverage,
            "sellLeverage": leverage,
        }
        return await self._signed("POST", c.PATH_SET_LEVERAGE, body)

    async def post_set_margin_mode(self, mode: str) -> Any:
        """``POST /v5/account/set-margin-mode`` (account-wide on UTA; ``REGULAR_MARGIN`` =
        cross). Failure → 3400045 with ``result.reasons``. Fixture
        ``set_margin_mode_failed.json``."""
        return await self._signed("POST", c.PATH_SET_MARGIN_MODE, {"setMarginMode": mode})

    def ws_auth_message(self, expires_after_ms: int) -> dict[str, object]:
        """The private websocket ``auth`` frame, signed now with ``expires`` = server time +
        ``expires_after_ms`` (Bybit v5 "Connect"
        https://bybit-exchange.github.io/docs/v5/ws/connect, "Authentication").

        Raises ``AuthError`` without credentials."""
        if self._api_key is None or self._api_secret is None:
            raise AuthError("bybit: the private stream needs an API key and secret", venue=c.VENUE)
        expires_ms = self.server_now_ms() + expires_after_ms
        key, secret = self._api_key.get_secret_value(), self._api_secret.get_secret_value()
        return ws_auth_request(key, secret, expires_ms)
