"""OKX v5 REST endpoints over :class:`~venues.http.RestClient`.

One method per endpoint, returning the decoded JSON envelope as the venue sent it (parsing lives in
:mod:`venues.okx.parse`). Private endpoints are signed here and only here
(:func:`~venues.okx.auth.rest_headers`): the prehash covers the exact request path with its query
string (GET) or the exact JSON body bytes sent with ``content=`` (POST). Credentials stay
``SecretStr`` until the request that needs them and never reach a log or an error. Endpoints, limits
and error codes: OKX API v5 https://www.okx.com/docs-v5/en/ ("REST Authentication"
https://www.okx.com/docs-v5/en/#overview-rest-authentication, "Rate Limits"
https://www.okx.com/docs-v5/en/#overview-rate-limits, each endpoint's section, "Error Code"
https://www.okx.com/docs-v5/en/#error-code); recorded payloads in ``tests/fixtures/okx-v5/``.

Errors: a body whose ``code`` is not ``"0"`` is mapped by :func:`classify_error` (plugged into
the ``RestClient``) through :func:`~venues.okx.parse.error_from_payload`; the write codes
``"1"``/``"2"`` are left to the parsers, which read each item's ``sCode``. ``50102`` (timestamp
expired) resyncs the server clock (``GET /api/v5/public/time``); a signed GET is then re-signed
and sent once more, while a POST raises the error (writes are never re-sent here: the caller
looks the order up by its client order id). Rate limits: one bucket per endpoint
(:data:`~venues.okx.constants.ENDPOINT_LIMITS`), plus the transport's bucket that carries
``Retry-After`` penalties.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from venues.errors import AuthError, ProtocolError, RateLimited, VenueError
from venues.http import RestClient, SleepFn, parse_retry_after_s
from venues.okx import constants as c
from venues.okx.auth import iso_timestamp, rest_headers, ws_login_message
from venues.okx.parse import error_from_payload
from venues.ratelimit import ClockFn, RateLimiter

Params = Mapping[str, str | int]


def _request_client_order_id(response: httpx.Response) -> str | None:
    """``clOrdId`` of the JSON body of the request that got ``response`` (writes only)."""
    try:
        request = response.request
    except RuntimeError:  # a Response built without a request (tests)
        return None
    if request.method != "POST":
        return None
    try:
        body = json.loads(request.content)
    except ValueError:
        return None
    value = body.get("clOrdId") if isinstance(body, Mapping) else None
    return value if isinstance(value, str) else None


def classify_error(response: httpx.Response) -> VenueError | None:
    """Map an OKX error envelope to our error tree, or ``None`` when it is not one.

    Bodies ``{"code": "<non-zero>", "msg": ...}`` are errors (also under HTTP 200, e.g.
    ``50011``); ``"1"``/``"2"`` (write failed / partial) are left to the write parsers, and a
    non-JSON body (a 502 HTML page) to :func:`venues.http.classify_status`. A rate-limit code
    honours ``Retry-After`` (seconds) when present, else waits one 2 s window. The ``clOrdId``
    of a POST body makes order rejections carry the client order id. Source: OKX API v5
    "Error Code" https://www.okx.com/docs-v5/en/#error-code; fixture ``errors.json``.
    """
    try:
        payload = json.loads(response.content)
    except ValueError:
        return None
    if not isinstance(payload, Mapping):
        return None
    code = payload.get("code")
    if not isinstance(code, str) or code == c.CODE_OK or code in c.WRITE_RESULT_CODES:
        return None
    error = error_from_payload(payload, c.VENUE, _request_client_order_id(response))
    header = response.headers.get("Retry-After")
    if isinstance(error, RateLimited) and header is not None:
        retry_after_s = parse_retry_after_s(header, c.RATE_LIMIT_RETRY_AFTER_S)
        return RateLimited(str(error), venue=c.VENUE, code=code, retry_after_s=retry_after_s)
    return error


def make_rest_client(
    base_url: str = c.REST_BASE_URL,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> RestClient:
    """A :class:`RestClient` wired for OKX: :func:`classify_error` and a transport bucket of
    :data:`~venues.okx.constants.GLOBAL_LIMIT` (unless ``limiter`` is given). ``kwargs`` go
    to :class:`RestClient` (``sleep``, ``retry_attempts``, ``timeout_s`` ...)."""
    capacity, window_s = c.GLOBAL_LIMIT
    return RestClient(
        c.VENUE,
        base_url,
        limiter=limiter or RateLimiter(capacity, window_s),
        transport=transport,
        classify_error=classify_error,
        **kwargs,
    )


def _server_time_ms(payload: Any) -> int:
    data = payload.get("data") if isinstance(payload, Mapping) else None
    row = data[0] if isinstance(data, list) and data else None
    text = row.get("ts") if isinstance(row, Mapping) else None
    if not isinstance(text, str) or not text.isdigit():
        raise ProtocolError(
            f"time: field 'data[0].ts' must be epoch ms, got {text!r}", venue=c.VENUE
        )
    return int(text)


class OkxRest:
    """Raw OKX v5 REST calls (JSON in, JSON out).

    Parameters
    ----------
    rest : RestClient
        Transport, normally from :func:`make_rest_client`.
    api_key, api_secret, api_passphrase : SecretStr | None
        Credentials; ``None`` allows public endpoints only (private ones raise ``AuthError``
        naming what is missing).
    now_ms : Callable[[], int]
        Local wall clock, epoch ms; corrected by the server offset found on clock skew.
    clock, sleep : Callable
        Monotonic clock (s) and async sleep (s) of the per-endpoint buckets.
    simulated : bool
        Demo trading: send ``x-simulated-trading: 1`` (needs a demo API key).
    """

    def __init__(
        self,
        rest: RestClient,
        api_key: SecretStr | None,
        api_secret: SecretStr | None,
        api_passphrase: SecretStr | None,
        now_ms: Callable[[], int],
        *,
        clock: ClockFn,
        sleep: SleepFn,
        simulated: bool = False,
    ) -> None:
        self._rest = rest
        self._api_key = api_key
        self._api_secret = api_secret
        self._api_passphrase = api_passphrase
        self._now_ms = now_ms
        self._simulated = simulated
        self._limiters = {
            key: RateLimiter(n, window_s, clock=clock, sleep=sleep)
            for key, (n, window_s) in c.ENDPOINT_LIMITS.items()
        }
        self.clock_offset_ms = 0
        """Server time minus local time, ms, from the last :meth:`sync_time`."""

    def __repr__(self) -> str:
        return f"OkxRest(rest={self._rest!r}, signed={self._api_secret is not None})"

    @property
    def has_credentials(self) -> bool:
        """Whether key, secret and passphrase are all present."""
        return None not in (self._api_key, self._api_secret, self._api_passphrase)

    def server_now_ms(self) -> int:
        """Local time corrected by the server clock offset, epoch ms."""
        return self._now_ms() + self.clock_offset_ms

    async def aclose(self) -> None:
        """Close the transport."""
        await self._rest.aclose()

    # --- plumbing ---------------------------------------------------------------------

    async def _send(
        self, method: str, path: str, params: Params | None, body: Any, *, signed: bool
    ) -> Any:
        limiter = self._limiters.get((method, path))
        if limiter is not None:
            await limiter.acquire(1)
        # The prehash covers path?query: build the query once and send those exact bytes (the
        # query stays out of the transport's error messages and retry logs).
        query = urlencode(params) if params else None
        request_path = f"{path}?{query}" if query else path
        content = None if body is None else json.dumps(body, separators=(",", ":"))
        headers = self._sign(method, request_path, content or "") if signed else None
        return await self._rest.request(
            method,
            path,
            query=query,
            content=content,
            headers=headers,
            idempotent=method == "GET",
        )

    def _credentials(self) -> tuple[SecretStr, SecretStr, SecretStr]:
        key, secret, passphrase = self._api_key, self._api_secret, self._api_passphrase
        if key is None or secret is None or passphrase is None:
            names = ("api_key", "api_secret", "api_passphrase")
            values = (key, secret, passphrase)
            missing = [n for n, v in zip(names, values, strict=True) if v is None]
            message = f"okx: private endpoint needs credentials; missing {', '.join(missing)}"
            raise AuthError(message, venue=c.VENUE)
        return key, secret, passphrase

    def ws_login_message(self) -> dict[str, object]:
        """The private websocket ``login`` op, signed now (server time, unix seconds).

        Raises ``AuthError`` naming missing credentials. Source: OKX API v5 "WebSocket" → "Login"
        https://www.okx.com/docs-v5/en/#overview-websocket; fixture ``ws_login_request.json``."""
        key, secret, passphrase = self._credentials()
        return ws_login_message(
            api_key=key.get_secret_value(),
            secret=secret.get_secret_value(),
            passphrase=passphrase.get_secret_value(),
            timestamp_s=self.server_now_ms() // 1000,
        )

    def _sign(self, method: str, request_path: str, body: str) -> dict[str, str]:
        key, secret, passphrase = self._credentials()
        return rest_headers(
            api_key=key.get_secret_value(),
            secret=secret.get_secret_value(),
            passphrase=passphrase.get_secret_value(),
            timestamp=iso_timestamp(self.server_now_ms()),
            method=method,
            request_path=request_path,
            body=body,
            simulated=self._simulated,
        )

    async def _public(self, path: str, params: Params | None = None) -> Any:
        return await self._send("GET", path, params, None, signed=False)

    async def _private(
        self, method: str, path: str, params: Params | None = None, body: Any = None
    ) -> Any:
        try:
            return await self._send(method, path, params, body, signed=True)
        except AuthError as e:
            if e.code != c.CODE_TIMESTAMP_EXPIRED:
                raise
            await self.sync_time()  # so the caller's lookup / next order is signed right
            if method != "GET":
                raise  # writes are never re-sent here
        return await self._send(method, path, params, body, signed=True)

    async def sync_time(self) -> int:
        """``GET /api/v5/public/time`` → store ``ts - now_ms()`` as the clock offset, ms.

        Returns the offset. Raises ``ProtocolError`` on a malformed body. Fixture
        ``server_time.json``.
        """
        payload = await self._public(c.PATH_SERVER_TIME)
        self.clock_offset_ms = _server_time_ms(payload) - self._now_ms()
        return self.clock_offset_ms

    # --- public market data -------------------------------------------------------------

    async def get_instruments(self, inst_type: str) -> Any:
        """``GET /api/v5/public/instruments?instType=SWAP|SPOT``. Fixtures
        ``instruments_swap_btc_eth.json``, ``instruments_spot_btc_usdt.json``."""
        return await self._public(c.PATH_INSTRUMENTS, {"instType": inst_type})

    async def get_funding_rate(self, inst_id: str) -> Any:
        """``GET /api/v5/public/funding-rate?instId=`` (``ANY`` = every swap). Fixture
        ``funding_rate_btc_usdt_swap.json``."""
        return await self._public(c.PATH_FUNDING_RATE, {"instId": inst_id})

    async def get_funding_rate_history(
        self, inst_id: str, *, after_ms: int | None = None, limit: int = 400
    ) -> Any:
        """``GET /api/v5/public/funding-rate-history``: settled rates with ``fundingTime <
        after_ms`` (epoch ms), newest first, ``limit`` ≤ 400. Fixture
        ``funding_rate_history.json``."""
        params: dict[str, str | int] = {"instId": inst_id, "limit": limit}
        if after_ms is not None:
            params["after"] = after_ms
        return await self._public(c.PATH_FUNDING_RATE_HISTORY, params)

    async def get_mark_price(self, inst_type: str, inst_id: str) -> Any:
        """``GET /api/v5/public/mark-price?instType=&instId=``. Fixture ``mark_price.json``."""
        return await self._public(c.PATH_MARK_PRICE, {"instType": inst_type, "instId": inst_id})

    async def get_ticker(self, inst_id: str) -> Any:
        """``GET /api/v5/market/ticker?instId=``. Fixture ``ticker.json``."""
        return await self._public(c.PATH_TICKER, {"instId": inst_id})

    async def get_history_candles(self, inst_id: str, bar: str, after_ms: int, limit: int) -> Any:
        """``GET /api/v5/market/history-candles``: bars opened before ``after_ms`` (epoch
        ms), newest first, ``limit`` ≤ 100. Fixture ``candles.json`` (same row shape)."""
        params: Params = {"instId": inst_id, "bar": bar, "after": after_ms, "limit": limit}
        return await self._public(c.PATH_HISTORY_CANDLES, params)

    # --- orders (private) ---------------------------------------------------------------

    async def post_order(self, body: Mapping[str, Any]) -> Any:
        """``POST /api/v5/trade/order``, sent exactly once (a timeout, 5xx or ``50102`` is
        raised: look the order up). Fixtures ``place_order.json``, ``errors.json``."""
        return await self._private("POST", c.PATH_PLACE_ORDER, body=dict(body))

    async def get_order(self, inst_id: str, cl_ord_id: str) -> Any:
        """``GET /api/v5/trade/order?instId=&clOrdId=``; unknown → ``51603``. Fixture
        ``order_details.json``."""
        return await self._private("GET", c.PATH_ORDER, {"instId": inst_id, "clOrdId": cl_ord_id})

    async def post_cancel_order(self, inst_id: str, cl_ord_id: str) -> Any:
        """``POST /api/v5/trade/cancel-order {instId, clOrdId}``. Fixture
        ``cancel_order.json``."""
        body = {"instId": inst_id, "clOrdId": cl_ord_id}
        return await self._private("POST", c.PATH_CANCEL_ORDER, body=body)

    async def get_orders_pending(self) -> Any:
        """``GET /api/v5/trade/orders-pending`` (all instrument types, ≤ 100 rows)."""
        params = {"limit": c.ORDERS_PENDING_MAX_LIMIT}
        return await self._private("GET", c.PATH_ORDERS_PENDING, params)

    async def get_fills(self, inst_type: str, inst_id: str, ord_id: str) -> Any:
        """``GET /api/v5/trade/fills?instType=&instId=&ordId=`` (last 3 days, ≤ 100 rows)."""
        params: Params = {
            "instType": inst_type,
            "instId": inst_id,
            "ordId": ord_id,
            "limit": c.FILLS_MAX_LIMIT,
        }
        return await self._private("GET", c.PATH_FILLS, params)

    # --- account (private) --------------------------------------------------------------

    async def get_positions(self, inst_type: str = c.INST_TYPE_SWAP) -> Any:
        """``GET /api/v5/account/positions?instType=``. Fixture ``positions.json``."""
        return await self._private("GET", c.PATH_POSITIONS, {"instType": inst_type})

    async def get_balance(self) -> Any:
        """``GET /api/v5/account/balance``. Fixture ``balance.json``."""
        return await self._private("GET", c.PATH_BALANCE)

    async def get_bills(
        self, *, begin_ms: int, after_bill_id: str | None = None, archive: bool = False
    ) -> Any:
        """``GET /api/v5/account/bills`` (7 days) or ``bills-archive`` (3 months) with
        ``instType=SWAP&type=8`` (funding fees), ``begin`` epoch ms, newest first, paged by
        ``after`` = the last ``billId`` seen, ≤ 100 rows. Fixture ``bills.json``."""
        params: dict[str, str | int] = {
            "instType": c.INST_TYPE_SWAP,
            "type": c.BILL_TYPE_FUNDING,
            "begin": begin_ms,
            "limit": c.BILLS_MAX_LIMIT,
        }
        if after_bill_id is not None:
            params["after"] = after_bill_id
        return await self._private("GET", c.PATH_BILLS_ARCHIVE if archive else c.PATH_BILLS, params)

    async def get_account_config(self) -> Any:
        """``GET /api/v5/account/config``: ``acctLv``, ``posMode`` ... of the account."""
        return await self._private("GET", c.PATH_ACCOUNT_CONFIG)

    async def post_set_position_mode(self, pos_mode: str) -> Any:
        """``POST /api/v5/account/set-position-mode {posMode}``. Fixture
        ``set_position_mode.json``."""
        return await self._private("POST", c.PATH_SET_POSITION_MODE, body={"posMode": pos_mode})

    async def get_leverage_info(self, inst_id: str, mgn_mode: str) -> Any:
        """``GET /api/v5/account/leverage-info?instId=&mgnMode=`` → ``lever`` per row."""
        params = {"instId": inst_id, "mgnMode": mgn_mode}
        return await self._private("GET", c.PATH_LEVERAGE_INFO, params)

    async def post_set_leverage(self, inst_id: str, lever: str, mgn_mode: str) -> Any:
        """``POST /api/v5/account/set-leverage {instId, lever, mgnMode}``. Fixture
        ``set_leverage.json``."""
        body = {"instId": inst_id, "lever": lever, "mgnMode": mgn_mode}
        return await self._private("POST", c.PATH_SET_LEVERAGE, body=body)
