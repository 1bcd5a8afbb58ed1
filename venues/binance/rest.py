"""Binance USDⓈ-M futures REST endpoints over :class:`~venues.http.RestClient`.

One method per endpoint, returning the decoded JSON as the venue sent it (parsing lives in
:mod:`venues.binance.parse`). SIGNED endpoints are signed by the shared
:class:`~venues.binance.rest_base.SignedRest` (:func:`~venues.binance.auth.signed_query`); the API
key header ``X-MBX-APIKEY`` is built from ``SecretStr.get_secret_value()`` at request time and never
stored as plain text, logged or put in an error. Endpoints, weights and error codes: Binance USDⓈ-M
futures API docs https://developers.binance.com/docs/derivatives/usds-margined-futures ("General
Info", each endpoint's page, "Error Codes"); recorded payloads in ``tests/fixtures/binance-usdm/``.

Error bodies ``{"code": <negative int>, "msg": ...}`` are mapped by :func:`classify_error`
(plugged into the ``RestClient``) through :func:`~venues.binance.parse.error_from_payload`.
Clock skew (``-1021``/``-5028``) resyncs the server time (``GET /fapi/v1/time``); a signed
GET/DELETE, and the idempotent account-setup POSTs (margin type, leverage, position mode), are
then re-signed and sent once more, while ``POST /fapi/v1/order`` raises the error (the caller
looks the order up by its client order id: orders are never re-sent here). USER_STREAM calls
(``/fapi/v1/listenKey``) carry only the API key header; the listenKey is never logged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from venues.binance import constants as c
from venues.binance.auth import ParamValue
from venues.binance.parse import error_from_payload, is_error_payload
from venues.binance.rest_base import SignedRest, make_binance_client
from venues.errors import AuthError, VenueError
from venues.http import RestClient, parse_retry_after_s
from venues.ratelimit import RateLimiter

_CLIENT_ID_PARAMS = ("newClientOrderId", "origClientOrderId")


def _client_order_id(response: httpx.Response) -> str | None:
    try:
        params = response.request.url.params
    except RuntimeError:  # a Response built without a request (tests)
        return None
    for key in _CLIENT_ID_PARAMS:
        if key in params:
            return params[key]
    return None


def classify_error(response: httpx.Response) -> VenueError | None:
    """Map a Binance error body to our error tree, or ``None`` when it is not one.

    Only bodies shaped ``{"code": <negative int>, "msg": str}`` are errors; anything else (including
    a non-JSON 5xx page) is left to :func:`venues.http.classify_status`. ``Retry-After`` (seconds)
    feeds :class:`~venues.errors.RateLimited`; the client order id
    (``newClientOrderId``/``origClientOrderId`` of the request's query) lets order rejections become
    :class:`~venues.errors.DuplicateClientOrderId`, :class:`~venues.errors.InvalidOrder` ... Source:
    Binance USDⓈ-M "Error Codes"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code; fixture
    ``errors.json``.
    """
    try:
        payload = json.loads(response.content)
    except ValueError:
        return None
    if not is_error_payload(payload):
        return None
    header = response.headers.get(c.RETRY_AFTER_HEADER)
    retry_after_s = None if header is None else parse_retry_after_s(header, c.DEFAULT_RETRY_AFTER_S)
    return error_from_payload(
        payload, c.VENUE, _client_order_id(response), retry_after_s=retry_after_s
    )


def make_rest_client(
    base_url: str = c.USDM_REST_URL,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> RestClient:
    """A :class:`RestClient` wired for fapi: Binance error mapping, used-weight header sync
    and the documented 2400 weight/min bucket (unless ``limiter`` is given). ``kwargs`` go to
    :class:`RestClient` (``sleep``, ``retry_attempts``, ``timeout_s`` ...)."""
    return make_binance_client(
        base_url,
        c.USDM_REQUEST_WEIGHT_PER_MIN,
        classify_error,
        transport=transport,
        limiter=limiter,
        **kwargs,
    )


class BinanceUsdmRest(SignedRest):
    """Raw USDⓈ-M REST calls (JSON in, JSON out).

    Parameters
    ----------
    rest : RestClient
        Transport, normally from :func:`make_rest_client` (it must use :func:`classify_error`).
    api_key, api_secret : SecretStr | None
        Credentials; ``None`` allows public endpoints only (signed ones raise ``AuthError``).
    now_ms : Callable[[], int]
        Local wall clock, epoch ms; corrected by the server offset found on clock skew.
    recv_window_ms : int
        ``recvWindow`` of signed requests, ms (docs advise ≤ 5000 on fapi).
    """

    LABEL = "binance"
    TIME_PATH = c.USDM_TIME
    TIME_WEIGHT = c.USDM_WEIGHTS[c.USDM_TIME]

    # --- plumbing ---------------------------------------------------------------------

    async def _keyed(self, method: str, path: str, weight: int) -> Any:
        """USER_STREAM call: API key header only, no signature (general-info "Endpoint
        Security Type")."""
        if self._api_key is None:
            raise AuthError("binance: user data stream needs an API key", venue=c.VENUE)
        headers = {c.API_KEY_HEADER: self._api_key.get_secret_value()}
        # Creating / extending the one listenKey of an account is idempotent ("User Data Streams").
        return await self._rest.request(
            method, path, headers=headers, weight=weight, idempotent=True
        )

    # --- market data (public) ---------------------------------------------------------

    async def get_exchange_info(self) -> Any:
        """``GET /fapi/v1/exchangeInfo`` (weight 1). Fixture ``exchange_info_btc_eth.json``."""
        return await self._public(c.USDM_EXCHANGE_INFO, weight=c.USDM_WEIGHTS[c.USDM_EXCHANGE_INFO])

    async def get_premium_index(self, symbol: str | None = None) -> Any:
        """``GET /fapi/v1/premiumIndex``: one object for ``symbol`` (weight 1), else an array
        of every symbol (weight 10). Fixtures ``premium_index_btcusdt.json``, ``_all.json``."""
        if symbol is None:
            return await self._public(c.USDM_PREMIUM_INDEX, weight=c.USDM_PREMIUM_INDEX_WEIGHT_ALL)
        return await self._public(
            c.USDM_PREMIUM_INDEX, {"symbol": symbol}, c.USDM_PREMIUM_INDEX_WEIGHT_ONE
        )

    async def get_funding_rate(
        self,
        symbol: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = c.FUNDING_RATE_MAX_LIMIT,
    ) -> Any:
        """``GET /fapi/v1/fundingRate``: settled rates, ascending; times epoch ms inclusive,
        ``limit`` ≤ 1000. Fixture ``funding_rate_history.json``."""
        params: dict[str, ParamValue] = {"symbol": symbol, "limit": limit}
        if start_ms is not None:
            params["startTime"] = start_ms
        if end_ms is not None:
            params["endTime"] = end_ms
        return await self._public(c.USDM_FUNDING_RATE, params, c.USDM_WEIGHTS[c.USDM_FUNDING_RATE])

    async def get_funding_info(self) -> Any:
        """``GET /fapi/v1/fundingInfo``: symbols with adjusted interval/cap/floor. Fixture
        ``funding_info.json``."""
        return await self._public(c.USDM_FUNDING_INFO, weight=c.USDM_WEIGHTS[c.USDM_FUNDING_INFO])

    async def get_klines(
        self, symbol: str, interval: str, start_ms: int, end_ms: int, limit: int
    ) -> Any:
        """``GET /fapi/v1/klines``: ``interval`` a Binance code (``1h``), open times in
        ``[start_ms, end_ms]`` (epoch ms, inclusive), ``limit`` ≤ 1500; weight by limit.
        Fixture ``klines.json``."""
        params: dict[str, ParamValue] = {
            "symbol": symbol,
            "interval": interval,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": limit,
        }
        return await self._public(c.USDM_KLINES, params, c.usdm_klines_weight(limit))

    # --- account and orders (SIGNED) --------------------------------------------------

    async def post_order(self, params: Mapping[str, ParamValue]) -> Any:
        """``POST /fapi/v1/order`` with the caller's order params; sent exactly once (a
        timeout, 5xx or clock skew is raised: look the order up). Fixture
        ``new_order_limit_recorded.json``."""
        return await self._signed("POST", c.USDM_ORDER, params, c.USDM_WEIGHTS[c.USDM_ORDER])

    async def get_order(self, symbol: str, orig_client_order_id: str) -> Any:
        """``GET /fapi/v1/order`` by client order id. Unknown → ``OrderNotFound`` (-2013).
        Fixture ``query_order.json``."""
        params = {"symbol": symbol, "origClientOrderId": orig_client_order_id}
        return await self._signed("GET", c.USDM_ORDER, params, c.USDM_WEIGHTS[c.USDM_ORDER])

    async def get_user_trades(self, symbol: str, order_id: str) -> Any:
        """``GET /fapi/v1/userTrades`` of one order (``orderId``), weight 5: the fills with price,
        qty, commission and its asset. Source: Binance USDⓈ-M "Account Trade List"
        https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Account-Trade-List
        (no recorded payload)."""
        params = {"symbol": symbol, "orderId": order_id}
        return await self._signed(
            "GET", c.USDM_USER_TRADES, params, c.USDM_WEIGHTS[c.USDM_USER_TRADES]
        )

    async def delete_order(self, symbol: str, orig_client_order_id: str) -> Any:
        """``DELETE /fapi/v1/order`` by client order id. Already final or unknown →
        ``OrderNotFound`` (-2011). Fixture ``cancel_order.json``."""
        params = {"symbol": symbol, "origClientOrderId": orig_client_order_id}
        return await self._signed("DELETE", c.USDM_ORDER, params, c.USDM_WEIGHTS[c.USDM_ORDER])

    async def get_position_risk(self) -> Any:
        """``GET /fapi/v3/positionRisk`` (weight 5). Fixture ``position_risk_v3_one_way.json``."""
        path = c.USDM_POSITION_RISK
        return await self._signed("GET", path, {}, c.USDM_WEIGHTS[path])

    async def get_balance(self) -> Any:
        """``GET /fapi/v3/balance`` (weight 5). Fixture ``balance_v3.json``."""
        return await self._signed("GET", c.USDM_BALANCE, {}, c.USDM_WEIGHTS[c.USDM_BALANCE])

    async def get_income(
        self,
        income_type: str = "FUNDING_FEE",
        start_ms: int | None = None,
        limit: int = c.INCOME_MAX_LIMIT,
    ) -> Any:
        """``GET /fapi/v1/income`` (weight 30), oldest first from ``start_ms`` (epoch ms;
        without it the venue returns only the last 7 days). Fixture ``income_history.json``."""
        params: dict[str, ParamValue] = {"incomeType": income_type, "limit": limit}
        if start_ms is not None:
            params["startTime"] = start_ms
        return await self._signed("GET", c.USDM_INCOME, params, c.USDM_WEIGHTS[c.USDM_INCOME])

    async def get_open_orders(self, symbol: str | None = None) -> Any:
        """``GET /fapi/v1/openOrders``: one symbol (weight 1) or all (weight 40)."""
        if symbol is None:
            return await self._signed("GET", c.USDM_OPEN_ORDERS, {}, c.USDM_OPEN_ORDERS_WEIGHT_ALL)
        params = {"symbol": symbol}
        return await self._signed("GET", c.USDM_OPEN_ORDERS, params, c.USDM_OPEN_ORDERS_WEIGHT_ONE)

    # --- account setup (SIGNED) ---------------------------------------------------------

    async def get_position_mode(self) -> Any:
        """``GET /fapi/v1/positionSide/dual`` (weight 30) → ``{"dualSidePosition": bool}`` (``true``
        = hedge mode). Source: Binance USDⓈ-M "Get Current Position Mode"
        https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Get-Current-Position-Mode."""
        path = c.USDM_POSITION_MODE
        return await self._signed("GET", path, {}, c.USDM_WEIGHTS[path])

    async def post_position_mode(self, dual_side_position: bool) -> Any:
        """``POST /fapi/v1/positionSide/dual`` ``dualSidePosition=true|false`` (whole
        account). ``-4059`` (already set) is raised as a ``VenueError`` with that code."""
        params = {"dualSidePosition": dual_side_position}
        path = c.USDM_POSITION_MODE
        return await self._signed("POST", path, params, c.USDM_SETUP_POST_WEIGHT, idempotent=True)

    async def post_margin_type(self, symbol: str, margin_type: str) -> Any:
        """``POST /fapi/v1/marginType`` ``marginType=CROSSED|ISOLATED`` →
        ``{"code": 200, "msg": "success"}``; ``-4046`` (unchanged), ``-4047``/``-4048``
        (open orders / position) are raised with their code. Fixture
        ``change_margin_type.json``."""
        params = {"symbol": symbol, "marginType": margin_type}
        path = c.USDM_MARGIN_TYPE
        return await self._signed("POST", path, params, c.USDM_SETUP_POST_WEIGHT, idempotent=True)

    async def post_leverage(self, symbol: str, leverage: int) -> Any:
        """``POST /fapi/v1/leverage`` ``leverage`` 1..125 → ``{leverage, maxNotionalValue,
        symbol}``. Fixture ``change_leverage.json``."""
        params: dict[str, ParamValue] = {"symbol": symbol, "leverage": leverage}
        path = c.USDM_LEVERAGE
        return await self._signed("POST", path, params, c.USDM_SETUP_POST_WEIGHT, idempotent=True)

    # --- user data stream (USER_STREAM: API key only) -------------------------------------

    async def post_listen_key(self) -> Any:
        """``POST /fapi/v1/listenKey`` → ``{"listenKey": ...}``: a new key, or the active one
        extended by 60 min. Fixture ``listen_key.json``. The key is never logged."""
        return await self._keyed("POST", c.USDM_LISTEN_KEY, c.USDM_LISTEN_KEY_WEIGHT)

    async def put_listen_key(self) -> Any:
        """``PUT /fapi/v1/listenKey``: extend the active key by 60 min (send every ~30 min);
        ``-1125`` when it no longer exists (raised with that code)."""
        return await self._keyed("PUT", c.USDM_LISTEN_KEY, c.USDM_LISTEN_KEY_WEIGHT)

    async def delete_listen_key(self) -> Any:
        """``DELETE /fapi/v1/listenKey``: close the user data stream."""
        return await self._keyed("DELETE", c.USDM_LISTEN_KEY, c.USDM_LISTEN_KEY_WEIGHT)
