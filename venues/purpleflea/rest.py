"""Purple Flea REST endpoints over :class:`~venues.http.RestClient` (JSON in, JSON out).

One method per endpoint of the Purple Flea API as described in the project's SEEDS (see
``venues/purpleflea/API_NOTES.md``; no other endpoint exists here); parsing lives in
:mod:`venues.purpleflea.parse`. Auth is ``Authorization: Bearer <token>`` (SEEDS), the token built
from ``SecretStr.get_secret_value()`` at request time only, never stored as plain text, logged or
put in an error. Writes (``POST``) are sent exactly once; reads are retried by the ``RestClient``.

Error mapping (:func:`classify_error`, ASSUMED — the SEEDS document no error shape or codes;
API_NOTES.md §5)::

    HTTP 401 / 403          → AuthError (body message, never the token)
    HTTP 429                → RateLimited(retry_after_s from Retry-After, default 1 s)
    HTTP 5xx                → VenueUnavailable
    POST, HTTP 402          → InsufficientMargin (purpleflea.com/docs: "insufficient balance")
    POST, HTTP 400 / 422    → InvalidOrder
    POST close, HTTP 404    → OrderNotFound (unknown pair id)
    POST, other 4xx         → OrderRejected
    GET, other 4xx          → VenueError(code="HTTP <status>")
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from venues.base import Credentials
from venues.errors import (
    AuthError,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    VenueError,
)
from venues.http import RestClient, classify_status, parse_retry_after_s
from venues.purpleflea import constants as c
from venues.purpleflea.parse import error_message
from venues.ratelimit import RateLimiter

_INVALID_STATUSES = frozenset({400, 422})
_SNIPPET_CHARS = 200


def token_from(credentials: Credentials | None) -> SecretStr | None:
    """The bearer token of ``credentials`` (``api_key``), checked; ``None`` without them.

    Raises
    ------
    AuthError
        If the key does not start with ``pf_live_`` (SEEDS) — the message says so and
        never contains the key.
    """
    if credentials is None:
        return None
    if not credentials.api_key.get_secret_value().startswith(c.API_KEY_PREFIX):
        raise AuthError(
            f"purpleflea: the API key (Credentials.api_key) must start with "
            f"{c.API_KEY_PREFIX!r}; the one given does not (not shown)",
            venue=c.VENUE,
        )
    return credentials.api_key


def _request_client_order_id(response: httpx.Response) -> str:
    try:
        body = json.loads(response.request.content or b"null")
    except (RuntimeError, ValueError):  # no request attached (tests) / not JSON
        return ""
    metadata = body.get("metadata") if isinstance(body, Mapping) else None
    value = metadata.get(c.METADATA_CLIENT_ORDER_ID) if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) else ""


def _message(response: httpx.Response) -> str:
    try:
        found = error_message(json.loads(response.content))
    except ValueError:
        found = None
    return found if found is not None else response.text[:_SNIPPET_CHARS]


def _order_error(response: httpx.Response, where: str) -> VenueError:
    status = response.status_code
    reason = _message(response)
    kwargs: dict[str, Any] = {
        "venue": c.VENUE,
        "client_order_id": _request_client_order_id(response),
        "reason": reason,
        "code": f"HTTP {status}",
    }
    message = f"{where}: HTTP {status}: {reason}"
    if status == 402:
        return InsufficientMargin(message, **kwargs)
    if status in _INVALID_STATUSES:
        return InvalidOrder(message, **kwargs)
    return OrderRejected(message, **kwargs)


def classify_error(response: httpx.Response) -> VenueError | None:
    """Map a Purple Flea HTTP answer to our error tree (``None`` for a success).

    See the module docstring for the table. ``Retry-After`` is read as seconds.
    """
    status = response.status_code
    if status < 400:
        return None
    try:
        method, path = response.request.method, response.request.url.path
    except RuntimeError:  # a Response built without a request (tests)
        method, path = "?", "?"
    where = f"purpleflea {method} {path}"
    if status in (401, 403):
        return AuthError(f"{where}: HTTP {status}: {_message(response)}", venue=c.VENUE)
    if status == 429:
        retry_s = parse_retry_after_s(response.headers.get("Retry-After"), c.DEFAULT_RETRY_AFTER_S)
        message = f"{where}: HTTP 429, retry after {retry_s} s"
        return RateLimited(message, venue=c.VENUE, retry_after_s=retry_s, code="HTTP 429")
    if status >= 500 or method != "POST":
        return classify_status(c.VENUE, method, path, response)
    if status == 404 and path.endswith("/close"):
        return OrderNotFound(f"{where}: unknown pair: {_message(response)}", venue=c.VENUE)
    return _order_error(response, where)


def make_rest_client(
    base_url: str = c.REST_URL,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> RestClient:
    """A :class:`RestClient` wired for Purple Flea: its error mapping and the assumed
    120 requests/min bucket (unless ``limiter`` is given). ``kwargs`` go to
    :class:`RestClient` (``sleep``, ``retry_attempts``, ``timeout_s`` ...)."""
    return RestClient(
        c.VENUE,
        base_url,
        limiter=limiter or RateLimiter(c.REQUESTS_PER_MIN, c.RATE_WINDOW_S),
        transport=transport,
        classify_error=classify_error,
        **kwargs,
    )


class PurpleFleaRest:
    """Raw Purple Flea calls.

    Parameters
    ----------
    rest : RestClient
        Transport, normally from :func:`make_rest_client`.
    token : SecretStr | None
        Bearer token (checked by :func:`token_from`); ``None`` = public data only: market
        data is then sent without ``Authorization`` (ASSUMPTION: the SEEDS do not say
        whether it needs the token) and every account/order call raises ``AuthError``.
    """

    def __init__(self, rest: RestClient, token: SecretStr | None) -> None:
        self._rest = rest
        self._token = token

    def __repr__(self) -> str:
        return f"PurpleFleaRest(rest={self._rest!r}, authenticated={self._token is not None})"

    async def aclose(self) -> None:
        """Close the transport."""
        await self._rest.aclose()

    def _headers(self, what: str, *, required: bool) -> dict[str, str]:
        if self._token is None:
            if required:
                raise AuthError(
                    f"purpleflea: {what} needs the API token (Credentials.api_key, "
                    f"{c.API_KEY_PREFIX}...); none was configured",
                    venue=c.VENUE,
                )
            return {}
        return {c.AUTH_HEADER: f"{c.AUTH_SCHEME} {self._token.get_secret_value()}"}

    async def _get(
        self, path: str, params: Mapping[str, str] | None = None, *, private: bool
    ) -> Any:
        headers = self._headers(f"GET {path}", required=private)
        return await self._rest.request(
            "GET", path, params=params, headers=headers, weight=c.REQUEST_WEIGHT, idempotent=True
        )

    async def _post(self, path: str, body: Mapping[str, Any] | None) -> Any:
        headers = self._headers(f"POST {path}", required=True)
        return await self._rest.request(
            "POST", path, json_body=body, headers=headers, weight=c.REQUEST_WEIGHT,
            idempotent=False,
        )  # fmt: skip

    # --- market data --------------------------------------------------------------------

    async def get_prices(self, symbols: list[str]) -> Any:
        """``GET /prices?symbols=`` (comma-separated, ASSUMPTION) → ``{prices: [{symbol,
        price}]}``. Fixture ``prices.json``."""
        params = {"symbols": c.PRICES_SYMBOLS_SEPARATOR.join(symbols)}
        return await self._get(c.PRICES, params, private=False)

    async def get_funding_rates(self) -> Any:
        """``GET /perps/funding-rates`` → ``{rates: [{symbol, venue, rate}]}`` across venues.
        Fixture ``funding_rates.json``."""
        return await self._get(c.PERPS_FUNDING_RATES, private=False)

    async def get_basis(self, symbol: str) -> Any:
        """``GET /perps/basis?symbol=`` → ``{spot_price, venues: [{venue, basis_pct}]}``.
        Fixture ``basis_btc.json``."""
        return await self._get(c.PERPS_BASIS, {"symbol": symbol}, private=False)

    async def get_market_betas(self) -> Any:
        """``GET /market/betas``: 63-day betas for all tickers (shape undocumented)."""
        return await self._get(c.MARKET_BETAS, private=False)

    async def get_signal_factors(self) -> Any:
        """``GET /signals/factors``: factor exposure scores (shape undocumented)."""
        return await self._get(c.SIGNALS_FACTORS, private=False)

    # --- orders (sent exactly once) -------------------------------------------------------

    async def post_order(self, body: Mapping[str, Any]) -> Any:
        """``POST /orders`` (single order). Fixture ``order_spot.json``."""
        return await self._post(c.ORDERS, body)

    async def post_perp_order(self, body: Mapping[str, Any]) -> Any:
        """``POST /perps/order`` → ``fill_price``. Fixture ``perp_order.json``."""
        return await self._post(c.PERPS_ORDER, body)

    async def post_pair_order(self, body: Mapping[str, Any]) -> Any:
        """``POST /orders/pair`` (``execution_mode: "atomic_pair"``) → ``pair_id``. Fixture
        ``pair_order.json``."""
        return await self._post(c.ORDERS_PAIR, body)

    async def post_pair_close(self, pair_id: str) -> Any:
        """``POST /orders/pair/{pair_id}/close`` (no body documented). Fixture
        ``pair_close.json``."""
        path = c.ORDERS_PAIR_CLOSE.format(pair_id=quote(pair_id, safe=""))
        return await self._post(path, None)

    # --- portfolio ----------------------------------------------------------------------

    async def get_positions(self) -> Any:
        """``GET /portfolio/positions`` (shape undocumented). Fixture ``positions.json``."""
        return await self._get(c.PORTFOLIO_POSITIONS, private=True)

    async def get_risk(self) -> Any:
        """``GET /portfolio/risk`` → risk metrics incl. ``portfolio_beta``. Fixture
        ``risk.json``."""
        return await self._get(c.PORTFOLIO_RISK, private=True)
