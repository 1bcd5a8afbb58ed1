"""Hyperliquid REST: ``POST /info`` reads and signed ``POST /exchange`` actions.

One method per request type, returning the decoded JSON as the venue sent it (parsing lives in
:mod:`venues.hyperliquid.parse`). Source: Hyperliquid "Info endpoint"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint, "Exchange
endpoint" https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint,
"Nonces and API wallets"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/nonces-and-api-wallets, "Rate
limits and user limits"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits,
"Error responses"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/error-responses; recorded
payloads in ``tests/fixtures/hyperliquid/``.

* Reads need no key: every account query carries ``"user"``, the **master account address**
  (``Credentials.api_key``), never the API wallet's address ("Nonces and API wallets").
* Actions are signed here and only here: EIP-712 over the msgpack action hash
  (:func:`~venues.hyperliquid.auth.sign_l1_action`) with the API wallet key
  (``Credentials.api_secret``, unwrapped at request time); the nonce is the ms timestamp, strictly
  increasing per process ("Nonces and API wallets"). The network (phantom-agent source ``a``/``b``)
  is passed explicitly, never inferred from the URL.
* Rate limit ("Rate limits and user limits"): one bucket of 1200 weight/min per IP; ``/exchange``
  weighs 1, ``/info`` 2 or 20 (``constants.INFO_WEIGHT``) plus 1 per 20 rows returned by
  ``fundingHistory``/``userFunding``/``userFills`` (per 60 for ``candleSnapshot``), charged after
  the answer.
* Errors: :func:`classify_error` maps HTTP answers (429 honouring ``Retry-After``, else 60 s;
  422 on an account query → ``AuthError``; 5xx → ``VenueUnavailable``); an ``/exchange``
  ``{"status":"err"}`` body → :func:`~venues.hyperliquid.parse.exchange_error`. Per-order
  ``statuses[i].error`` are left to the client (``parse_order_response``).
* An ``/exchange`` POST is sent exactly once (``idempotent=False``): after a timeout the caller
  looks the order up by cloid (idempotency: the nonce rules of "Nonces and API wallets", the
  cloid of "Exchange endpoint").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from venues.errors import AuthError, RateLimited, VenueError
from venues.http import RestClient, parse_retry_after_s
from venues.hyperliquid import constants as c
from venues.hyperliquid.auth import exchange_body, sign_l1_action
from venues.hyperliquid.parse import exchange_error, http_error
from venues.ratelimit import RateLimiter

RATE_LIMIT_DEFAULT_WAIT_S = 60.0
"""Wait after a 429 without ``Retry-After``: the weight window ("Rate limits and user
limits"), seconds."""

_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_PER_20_ROWS = frozenset({"fundingHistory", "userFunding", "userFills"})
_PER_60_ROWS = frozenset({"candleSnapshot"})


def _request_has_user(response: httpx.Response) -> bool:
    try:
        body = json.loads(response.request.content or b"null")
    except (RuntimeError, ValueError):  # no request attached (tests) / not JSON
        return False
    return isinstance(body, dict) and "user" in body


def classify_error(response: httpx.Response) -> VenueError | None:
    """Map a non-200 Hyperliquid answer to our error tree (``None`` for HTTP 200).

    429 → ``RateLimited`` (``Retry-After`` seconds, else 60 s); 422 on a request carrying ``user`` →
    ``AuthError`` (the venue could not read the account address); other statuses as
    :func:`~venues.hyperliquid.parse.http_error` (5xx → ``VenueUnavailable``, 4xx →
    ``ProtocolError``). Source: Hyperliquid "Error responses"
    https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/error-responses.
    """
    status = response.status_code
    if status == 200:
        return None
    if status == c.HTTP_STATUS_RATE_LIMITED:
        wait_s = parse_retry_after_s(response.headers.get("Retry-After"), RATE_LIMIT_DEFAULT_WAIT_S)
        return RateLimited(
            f"hyperliquid: HTTP 429, retry after {wait_s} s",
            venue=c.VENUE,
            retry_after_s=wait_s,
            code="429",
        )
    if status == 422 and _request_has_user(response):
        return AuthError(
            "hyperliquid: the venue refused the account address (HTTP 422); check the "
            "account address credential",
            venue=c.VENUE,
            code="422",
        )
    return http_error(status, response.text)


def make_rest_client(
    base_url: str = c.MAINNET_REST_URL,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> RestClient:
    """A :class:`RestClient` for Hyperliquid: :func:`classify_error` and the 1200 weight/min
    IP bucket (unless ``limiter`` is given). ``kwargs`` go to :class:`RestClient`."""
    return RestClient(
        c.VENUE,
        base_url,
        limiter=limiter or RateLimiter(c.IP_WEIGHT_PER_MIN, 60.0),
        transport=transport,
        classify_error=classify_error,
        **kwargs,
    )


class HyperliquidRest:
    """Raw ``/info`` and ``/exchange`` calls (JSON in, JSON out).

    Parameters
    ----------
    rest : RestClient
        Transport from :func:`make_rest_client`.
    limiter : RateLimiter
        The same bucket the transport uses (row-count weight is charged on it).
    account_address : SecretStr | None
        Master account address ``0x…`` (40 hex); ``None`` = market data only.
    api_wallet_key : SecretStr | None
        API wallet private key ``0x…`` (64 hex); ``None`` = no actions.
    now_ms : Callable[[], int]
        Wall clock, epoch ms (nonces).
    is_mainnet : bool
        Signing network: phantom-agent source ``"a"`` (mainnet) or ``"b"`` (testnet).
    """

    def __init__(
        self,
        rest: RestClient,
        limiter: RateLimiter,
        account_address: SecretStr | None,
        api_wallet_key: SecretStr | None,
        now_ms: Callable[[], int],
        *,
        is_mainnet: bool,
    ) -> None:
        self._rest = rest
        self._limiter = limiter
        self._address = account_address
        self._key = api_wallet_key
        self._now_ms = now_ms
        self._is_mainnet = is_mainnet
        self._last_nonce = 0

    def __repr__(self) -> str:
        return f"HyperliquidRest(rest={self._rest!r}, signed={self._key is not None})"

    async def aclose(self) -> None:
        """Close the transport."""
        await self._rest.aclose()

    # --- plumbing ---------------------------------------------------------------------

    def user(self) -> str:
        """The account address (lower case) the account queries carry.

        Raises ``AuthError`` if it is missing or not ``0x`` + 40 hex digits (the value is
        never put in the message)."""
        if self._address is None:
            raise AuthError("hyperliquid: account queries need the account address", venue=c.VENUE)
        address = self._address.get_secret_value()
        if not _ADDRESS_RE.match(address):
            raise AuthError("hyperliquid: account address is not 0x + 40 hex", venue=c.VENUE)
        return address.lower()

    def next_nonce(self) -> int:
        """Epoch ms now, or one more than the last nonce handed out (strictly increasing)."""
        self._last_nonce = max(self._now_ms(), self._last_nonce + 1)
        return self._last_nonce

    async def _info(self, body: dict[str, Any], *, retry: bool = True) -> Any:
        kind = str(body["type"])
        weight = c.INFO_WEIGHT.get(kind, c.INFO_WEIGHT_DEFAULT)
        payload = await self._rest.request(
            "POST", c.INFO_PATH, json_body=body, weight=weight, idempotent=retry
        )
        per = 20 if kind in _PER_20_ROWS else 60 if kind in _PER_60_ROWS else 0
        if per and isinstance(payload, list) and len(payload) >= per:
            await self._limiter.acquire(min(len(payload) // per, self._limiter.capacity_weight))
        return payload

    def _sign(self, action: dict[str, Any], nonce: int) -> dict[str, Any]:
        if self._key is None:
            raise AuthError("hyperliquid: actions need the API wallet private key", venue=c.VENUE)
        try:
            return sign_l1_action(
                self._key.get_secret_value(), action, nonce, is_mainnet=self._is_mainnet
            )
        except ImportError as e:
            raise AuthError(f"hyperliquid: {e}", venue=c.VENUE) from e

    async def _exchange(self, action: dict[str, Any], client_order_id: str | None = None) -> Any:
        nonce = self.next_nonce()
        body = exchange_body(action, nonce, self._sign(action, nonce))
        payload = await self._rest.request(
            "POST",
            c.EXCHANGE_PATH,
            content=json.dumps(body, separators=(",", ":")).encode(),
            headers={"Content-Type": "application/json"},
            weight=c.EXCHANGE_BASE_WEIGHT,
            idempotent=False,
        )
        error = exchange_error(payload, client_order_id)
        if error is not None:
            raise error
        return payload

    # --- market data ("Info endpoint", "Perpetuals") -----------------------------------

    async def meta(self, *, retry: bool = True) -> Any:
        """``meta`` (weight 20): the perp universe. Fixture ``meta.json``."""
        return await self._info({"type": "meta"}, retry=retry)

    async def meta_and_asset_ctxs(self) -> Any:
        """``metaAndAssetCtxs`` (weight 20). Fixture ``meta_and_asset_ctxs.json``."""
        return await self._info({"type": "metaAndAssetCtxs"})

    async def all_mids(self, *, retry: bool = True) -> Any:
        """``allMids`` (weight 2): ``{coin: mid}``, USDC."""
        return await self._info({"type": "allMids"}, retry=retry)

    async def l2_book(self, coin: str) -> Any:
        """``l2Book`` (weight 2) of ``coin``, full precision (no ``nSigFigs``)."""
        return await self._info({"type": "l2Book", "coin": coin})

    async def funding_history(self, coin: str, start_ms: int, end_ms: int | None = None) -> Any:
        """``fundingHistory``: ≤ 500 settled hourly rows from ``start_ms`` (inclusive, epoch
        ms), oldest first. Fixture ``funding_history_btc.json``."""
        body: dict[str, Any] = {"type": "fundingHistory", "coin": coin, "startTime": start_ms}
        if end_ms is not None:
            body["endTime"] = end_ms
        return await self._info(body)

    async def candle_snapshot(self, coin: str, interval: str, start_ms: int, end_ms: int) -> Any:
        """``candleSnapshot`` of ``interval`` (``1h`` …) with open times in
        ``[start_ms, end_ms]``; only the latest 5000 candles exist. Fixture
        ``candle_snapshot_btc_1h.json``."""
        req = {"coin": coin, "interval": interval, "startTime": start_ms, "endTime": end_ms}
        return await self._info({"type": "candleSnapshot", "req": req})

    # --- account ("Info endpoint", "Perpetuals") ---------------------------------------

    async def clearinghouse_state(self) -> Any:
        """``clearinghouseState`` (weight 2). Fixture ``clearinghouse_state.json``."""
        return await self._info({"type": "clearinghouseState", "user": self.user()})

    async def open_orders(self) -> Any:
        """``openOrders`` (weight 20). Fixture ``open_orders.json``."""
        return await self._info({"type": "openOrders", "user": self.user()})

    async def order_status(self, cloid: str) -> Any:
        """``orderStatus`` by cloid (weight 2). Fixtures ``order_status_*.json``."""
        return await self._info({"type": "orderStatus", "user": self.user(), "oid": cloid})

    async def user_funding(self, start_ms: int, end_ms: int | None = None) -> Any:
        """``userFunding``: ≤ 500 funding rows from ``start_ms`` (inclusive). Fixture
        ``user_funding.json``."""
        body: dict[str, Any] = {"type": "userFunding", "user": self.user(), "startTime": start_ms}
        if end_ms is not None:
            body["endTime"] = end_ms
        return await self._info(body)

    async def user_fills(self) -> Any:
        """``userFills``: the 2000 most recent fills. Fixture ``user_fills.json``."""
        return await self._info({"type": "userFills", "user": self.user()})

    # --- actions ("Exchange endpoint", signed) -----------------------------------------

    async def order(self, action: dict[str, Any], client_order_id: str) -> Any:
        """``order`` action, sent once; a whole-action refusal raises its error tree class.
        Fixtures ``order_response_*.json``."""
        return await self._exchange(action, client_order_id)

    async def cancel_by_cloid(self, action: dict[str, Any], client_order_id: str) -> Any:
        """``cancelByCloid`` action. Fixtures ``cancel_response_*.json``."""
        return await self._exchange(action, client_order_id)

    async def update_leverage(self, action: dict[str, Any]) -> Any:
        """``updateLeverage`` action. Fixture ``update_leverage_response.json``."""
        return await self._exchange(action)
