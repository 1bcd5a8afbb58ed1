"""Deribit JSON-RPC 2.0 over HTTP, on :class:`~venues.http.RestClient`.

Every call is ``POST /api/v2/{method}`` with the whole JSON-RPC object as body
(``{"jsonrpc": "2.0", "id": n, "method": m, "params": {...}}``) and answers ``result`` or
``error {code, message, data?}`` ("JSON-RPC" https://docs.deribit.com/#json-rpc). One method
per endpoint returns the ``result`` as the venue sent it (parsing lives in
:mod:`venues.deribit.parse` / :mod:`venues.deribit.parse_account`).

Auth ("Authentication" https://docs.deribit.com/#authentication, ``public/auth``
https://docs.deribit.com/#public-auth): private methods carry ``Authorization: Bearer
<access_token>``; the token comes from ``public/auth`` with grant ``client_signature`` (HMAC
of a fresh timestamp and nonce; the secret never travels — the default) or
``client_credentials``, and is renewed :data:`~venues.deribit.constants.TOKEN_RENEW_MARGIN_S`
before ``expires_in`` runs out. An ``AuthError`` on a private call (``13009`` expired or
revoked token) drops the token so the next call authenticates again; the failed call itself
is not re-sent. Credentials and tokens stay ``SecretStr`` and never reach a log or an error.

Rate limits ("Rate Limits" https://docs.deribit.com/#rate-limits): Deribit's credit system is
a leaky bucket per sub-account. The transport's bucket is the **non-matching-engine credit
pool** (50,000 credits, refilled at 10,000/s, 500 per request); buy/sell/cancel take from the
**matching-engine** bucket (5 requests/s, burst 20 — the lowest tier) and 1 credit of the pool;
``public/get_instruments`` also has its own 1 request/s. ``10028 too_many_requests`` →
``RateLimited`` (``Retry-After`` when the server sends one, else 1 s), which the transport
honours for reads. Writes (buy, sell, cancel) are sent exactly once.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from venues.deribit import constants as c
from venues.deribit.auth import auth_params_credentials, auth_params_signature
from venues.deribit.fields import as_object, float_field, result_of, str_field, text_field
from venues.deribit.parse_errors import error_from_envelope
from venues.errors import AuthError, VenueError
from venues.http import RestClient, SleepFn, parse_retry_after_s
from venues.ratelimit import ClockFn, RateLimiter

log = structlog.get_logger("zerobeta.venues.deribit")

Params = Mapping[str, Any]


def _request_label(response: httpx.Response) -> str | None:
    """``params.label`` of the JSON-RPC request that got ``response`` (order calls)."""
    try:
        body = json.loads(response.request.content)
    except (RuntimeError, ValueError):  # no request attached (tests) / not JSON
        return None
    params = body.get("params") if isinstance(body, Mapping) else None
    label = params.get("label") if isinstance(params, Mapping) else None
    return label if isinstance(label, str) else None


def classify_error(response: httpx.Response) -> VenueError | None:
    """A JSON-RPC ``error`` body (Deribit answers errors with HTTP 400, also 429/401) as our
    error, else None (a non-JSON body — a 502 page — is left to
    :func:`venues.http.classify_status`). A rate-limit code honours ``Retry-After`` (s) when
    present. An order call's ``label`` makes rejections carry our client order id. Fixture
    ``errors.json``."""
    try:
        payload = json.loads(response.content)
    except ValueError:
        return None
    if not isinstance(payload, Mapping) or "error" not in payload:
        return None
    header = response.headers.get("Retry-After")
    retry_after_s = parse_retry_after_s(header, c.RATE_LIMIT_RETRY_AFTER_S)
    return error_from_envelope(payload, _request_label(response), retry_after_s)


def make_rest_client(
    base_url: str = c.REST_BASE_URL,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: ClockFn,
    sleep: SleepFn,
    **kwargs: Any,
) -> RestClient:
    """A :class:`RestClient` wired for Deribit: :func:`classify_error` and the
    non-matching-engine credit pool as its bucket. ``kwargs`` go to :class:`RestClient`."""
    pool = RateLimiter(
        c.NON_MATCHING_POOL_CREDITS,
        c.NON_MATCHING_POOL_CREDITS / c.NON_MATCHING_REFILL_CREDITS_S,
        clock=clock,
        sleep=sleep,
    )
    return RestClient(
        c.VENUE,
        base_url,
        limiter=pool,
        transport=transport,
        classify_error=classify_error,
        sleep=sleep,
        **kwargs,
    )


class _Token:
    """The current access token and when to renew it (monotonic seconds)."""

    def __init__(self, value: SecretStr, renew_at_s: float, scope: str) -> None:
        self.value = value
        self.renew_at_s = renew_at_s
        self.scope = scope


class DeribitRest:
    """Raw Deribit JSON-RPC calls over HTTP (params in, ``result`` out).

    Parameters
    ----------
    rest : RestClient
        Transport, normally from :func:`make_rest_client`.
    client_id, client_secret : SecretStr | None
        API key pair; ``None`` allows public methods only (private ones raise ``AuthError``
        naming what is missing).
    grant : str
        ``client_signature`` (default) or ``client_credentials``.
    now_ms : Callable[[], int]
        Wall clock, epoch ms (signature timestamps).
    clock, sleep : Callable
        Monotonic clock (s) and async sleep (s) of the buckets and token renewal.
    nonce : Callable[[], str]
        Fresh nonce per signature (default 16 random hex characters).

    Raises
    ------
    ValueError
        For an unknown ``grant``.
    """

    def __init__(
        self,
        rest: RestClient,
        client_id: SecretStr | None,
        client_secret: SecretStr | None,
        *,
        grant: str = c.GRANT_CLIENT_SIGNATURE,
        now_ms: Callable[[], int],
        clock: ClockFn,
        sleep: SleepFn,
        nonce: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        if grant not in c.GRANTS:
            raise ValueError(f"deribit grant must be one of {c.GRANTS}, got {grant!r}")
        self._rest = rest
        self._client_id = client_id
        self._client_secret = client_secret
        self._grant = grant
        self._now_ms = now_ms
        self._clock = clock
        self._nonce = nonce
        self._ids = 0
        self._token: _Token | None = None
        self._auth_lock = asyncio.Lock()
        self._matching = RateLimiter(
            c.MATCHING_ENGINE_BURST,
            c.MATCHING_ENGINE_BURST / c.MATCHING_ENGINE_RATE_S,
            clock=clock,
            sleep=sleep,
        )
        self._per_method = {
            method: RateLimiter(n, window_s, clock=clock, sleep=sleep)
            for method, (n, window_s) in c.METHOD_LIMITS.items()
        }

    def __repr__(self) -> str:
        return f"DeribitRest(rest={self._rest!r}, signed={self.has_credentials})"

    @property
    def has_credentials(self) -> bool:
        """Whether both the client id and secret are present."""
        return self._client_id is not None and self._client_secret is not None

    @property
    def scope(self) -> str | None:
        """Scope granted with the current token (the server may narrow what was asked)."""
        return None if self._token is None else self._token.scope

    async def aclose(self) -> None:
        """Close the transport."""
        await self._rest.aclose()

    # --- plumbing ---------------------------------------------------------------------

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    async def call(
        self,
        method: str,
        params: Params | None = None,
        *,
        label: str | None = None,
        retry: bool = True,
    ) -> Any:
        """Send one JSON-RPC request and return its ``result``.

        Parameters
        ----------
        method : str
            ``public/...`` or ``private/...``.
        params : Mapping[str, Any] | None
            Named params (positional params are not supported by Deribit).
        label : str | None
            The order label of an order call (rejections then carry it).
        retry : bool
            False sends even a read exactly once (a check whose failure must surface).

        Raises
        ------
        VenueError
            The classified JSON-RPC error, or a transport error (see module docstring).
        AuthError
            A private method without credentials, or a refused token.
        """
        headers = None
        if method.startswith("private/"):
            headers = {"Authorization": f"Bearer {(await self._access_token()).get_secret_value()}"}
        try:
            envelope = await self._send(method, params, headers, retry=retry)
        except AuthError:
            if headers is not None:
                self._token = None  # expired or revoked: authenticate again next time
            raise
        return result_of(envelope, method, label)

    async def _send(
        self,
        method: str,
        params: Params | None,
        headers: dict[str, str] | None,
        *,
        retry: bool = True,
    ) -> Any:
        limiter = self._per_method.get(method)
        if limiter is not None:
            await limiter.acquire(1)
        matching = method in c.MATCHING_ENGINE_METHODS
        if matching:
            await self._matching.acquire(1)
        body = {
            "jsonrpc": c.JSONRPC,
            "id": self._next_id(),
            "method": method,
            "params": dict(params or {}),
        }
        return await self._rest.request(
            "POST",
            f"{c.API_PATH}/{method}",
            content=json.dumps(body, separators=(",", ":")),
            headers={"Content-Type": "application/json", **(headers or {})},
            weight=1 if matching else c.NON_MATCHING_COST_CREDITS,
            idempotent=retry and method.startswith(c.READ_ONLY_PREFIXES),
        )

    def _credentials(self) -> tuple[str, str]:
        if self._client_id is None or self._client_secret is None:
            missing = [
                n
                for n, v in (("api_key", self._client_id), ("api_secret", self._client_secret))
                if v is None
            ]
            message = f"deribit: private method needs credentials; missing {', '.join(missing)}"
            raise AuthError(message, venue=c.VENUE)
        return self._client_id.get_secret_value(), self._client_secret.get_secret_value()

    def auth_params(self) -> dict[str, str | int]:
        """``params`` of a ``public/auth`` request with the configured grant, signed now
        (fresh timestamp and nonce); used over HTTP and by the websocket login. Contains the
        secret for ``client_credentials``: never log it.

        Raises ``AuthError`` naming missing credentials."""
        client_id, secret = self._credentials()
        if self._grant == c.GRANT_CLIENT_CREDENTIALS:
            return auth_params_credentials(client_id, secret)
        return auth_params_signature(client_id, secret, self._now_ms(), self._nonce())

    async def _access_token(self) -> SecretStr:
        token = self._token
        if token is not None and self._clock() < token.renew_at_s:
            return token.value
        async with self._auth_lock:
            token = self._token
            if token is None or self._clock() >= token.renew_at_s:
                token = await self.authenticate()
            return token.value

    async def authenticate(self) -> _Token:
        """``public/auth`` with the configured grant; stores and returns the token.

        Raises ``AuthError`` (missing credentials, refused grant) or ``ProtocolError``.
        Fixture ``auth_client_credentials.json``."""
        result = await self._send(c.AUTH, self.auth_params(), None)
        row = as_object(result_of(result, c.AUTH), c.AUTH)
        expires_in_s = float_field(row, "expires_in", c.AUTH)
        renew_at_s = self._clock() + max(0.0, expires_in_s - c.TOKEN_RENEW_MARGIN_S)
        scope = str_field(row, "scope", c.AUTH)
        self._token = _Token(SecretStr(text_field(row, "access_token", c.AUTH)), renew_at_s, scope)
        log.info("deribit_authenticated", venue=c.VENUE, grant=self._grant, scope=scope)
        return self._token

    # --- public market data ---------------------------------------------------------------

    async def get_time(self) -> Any:
        """``public/get_time`` → server time, epoch ms. Fixture ``get_time.json``."""
        return await self.call(c.GET_TIME)

    async def get_instruments(
        self, currency: str, kind: str | None = None, expired: bool = False
    ) -> Any:
        """``public/get_instruments {currency, kind?, expired}`` (own limit 1 req/s).
        Fixtures ``get_instruments_btc_option.json``,
        ``get_instruments_eth_option_recorded.json``."""
        params: dict[str, Any] = {"currency": currency, "expired": expired}
        if kind is not None:
            params["kind"] = kind
        return await self.call(c.GET_INSTRUMENTS, params)

    async def ticker(self, instrument_name: str) -> Any:
        """``public/ticker {instrument_name}``. Fixtures ``ticker_btc_option.json``,
        ``ticker_btc_perpetual.json``."""
        return await self.call(c.TICKER, {"instrument_name": instrument_name})

    async def get_index_price(self, index_name: str) -> Any:
        """``public/get_index_price {index_name}`` (``btc_usd``). Fixture
        ``get_index_price.json``."""
        return await self.call(c.GET_INDEX_PRICE, {"index_name": index_name})

    async def get_delivery_prices(self, index_name: str, offset: int, count: int) -> Any:
        """``public/get_delivery_prices {index_name, offset, count}`` (newest first, ``count``
        ≤ 1000; https://docs.deribit.com/#public-get_delivery_prices). Fixture
        ``get_delivery_prices.json``."""
        params = {"index_name": index_name, "offset": offset, "count": count}
        return await self.call(c.GET_DELIVERY_PRICES, params)

    async def get_funding_rate_history(
        self, instrument_name: str, start_ms: int, end_ms: int
    ) -> Any:
        """``public/get_funding_rate_history {instrument_name, start_timestamp,
        end_timestamp}`` (hourly rows). Fixture ``get_funding_rate_history.json``."""
        params = {
            "instrument_name": instrument_name,
            "start_timestamp": start_ms,
            "end_timestamp": end_ms,
        }
        return await self.call(c.GET_FUNDING_RATE_HISTORY, params)

    async def get_chart_data(
        self, instrument_name: str, start_ms: int, end_ms: int, resolution: str
    ) -> Any:
        """``public/get_tradingview_chart_data {instrument_name, start_timestamp,
        end_timestamp, resolution}`` (https://docs.deribit.com/#public-get_tradingview_chart_data)."""
        params = {
            "instrument_name": instrument_name,
            "start_timestamp": start_ms,
            "end_timestamp": end_ms,
            "resolution": resolution,
        }
        return await self.call(c.GET_CHART_DATA, params)

    # --- orders (private) -----------------------------------------------------------------

    async def buy(self, params: Params) -> Any:
        """``private/buy`` (https://docs.deribit.com/#private-buy), sent exactly once.
        Fixtures ``buy_response.json``, ``buy_response_recorded_linear_perp.json``."""
        return await self.call(c.BUY, params, label=_label(params))

    async def sell(self, params: Params) -> Any:
        """``private/sell`` (https://docs.deribit.com/#private-sell), sent exactly once."""
        return await self.call(c.SELL, params, label=_label(params))

    async def cancel_by_label(self, label: str, currency: str | None = None) -> Any:
        """``private/cancel_by_label {label, currency?}`` → number of orders cancelled
        (https://docs.deribit.com/#private-cancel_by_label). Fixture ``cancel_by_label.json``."""
        params: dict[str, Any] = {"label": label}
        if currency is not None:
            params["currency"] = currency
        return await self.call(c.CANCEL_BY_LABEL, params, label=label)

    async def get_order_state_by_label(
        self, currency: str, label: str, *, retry: bool = True
    ) -> Any:
        """``private/get_order_state_by_label {currency, label}`` → every recent order with
        that label (https://docs.deribit.com/#private-get_order_state_by_label); ``retry``
        as :meth:`call`. Fixture ``get_order_state_by_label.json``."""
        return await self.call(
            c.GET_ORDER_STATE_BY_LABEL,
            {"currency": currency, "label": label},
            label=label,
            retry=retry,
        )

    async def get_open_orders_by_currency(self, currency: str) -> Any:
        """``private/get_open_orders_by_currency {currency}``."""
        return await self.call(c.GET_OPEN_ORDERS_BY_CURRENCY, {"currency": currency})

    async def get_user_trades_by_order(self, order_id: str) -> Any:
        """``private/get_user_trades_by_order {order_id}`` → array of trades."""
        return await self.call(c.GET_USER_TRADES_BY_ORDER, {"order_id": order_id})

    async def get_user_trades_by_currency(
        self, currency: str, kind: str | None = None, count: int = 100
    ) -> Any:
        """``private/get_user_trades_by_currency {currency, kind?, count}`` → ``{trades,
        has_more}``. Fixture ``get_user_trades_by_currency_option.json``."""
        params: dict[str, Any] = {"currency": currency, "count": count}
        if kind is not None:
            params["kind"] = kind
        return await self.call(c.GET_USER_TRADES_BY_CURRENCY, params)

    # --- account (private) ----------------------------------------------------------------

    async def get_positions(self, currency: str, kind: str | None = None) -> Any:
        """``private/get_positions {currency, kind?}``. Fixtures ``get_positions.json``,
        ``get_positions_option_constructed.json``."""
        params: dict[str, Any] = {"currency": currency}
        if kind is not None:
            params["kind"] = kind
        return await self.call(c.GET_POSITIONS, params)

    async def get_account_summary(self, currency: str) -> Any:
        """``private/get_account_summary {currency}``. Fixture ``get_account_summary.json``."""
        return await self.call(c.GET_ACCOUNT_SUMMARY, {"currency": currency})

    async def get_transaction_log(
        self,
        currency: str,
        start_ms: int,
        end_ms: int,
        *,
        query: str | None = None,
        continuation: int | None = None,
    ) -> Any:
        """``private/get_transaction_log {currency, start_timestamp, end_timestamp, query?,
        count, continuation?}`` → ``{logs, continuation}`` (own limit 1 req/s;
        https://docs.deribit.com/#private-get_transaction_log). Fixture
        ``get_transaction_log.json``."""
        params: dict[str, Any] = {
            "currency": currency,
            "start_timestamp": start_ms,
            "end_timestamp": end_ms,
            "count": c.TRANSACTION_LOG_PAGE,
        }
        if query is not None:
            params["query"] = query
        if continuation is not None:
            params["continuation"] = continuation
        return await self.call(c.GET_TRANSACTION_LOG, params)


def _label(params: Params) -> str | None:
    label = params.get("label")
    return label if isinstance(label, str) else None
