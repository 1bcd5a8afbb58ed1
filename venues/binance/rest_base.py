"""What Binance's USDⓈ-M and spot REST layers share: HMAC-signed requests with the server
clock offset, the clock-skew rule and the RestClient wiring.

Signing lives here and only here (:func:`~venues.binance.auth.signed_query`): the query string is
percent-encoded once, signed, and put on the URL verbatim (``RestClient.request(query=...)``), so
the bytes Binance receives are the bytes signed whatever httpx version encodes URLs (non-ASCII
symbols must go percent-encoded and be signed that way: USDⓈ-M change log
https://developers.binance.com/docs/derivatives/change-log); public queries use the same encoder.
The API key header ``X-MBX-APIKEY`` is built from ``SecretStr.get_secret_value()`` at request time
and never stored in plain text, logged or put in an error. Clock skew (``-1021``/``-5028``) resyncs
the server time; an idempotent signed request is then re-signed and sent once more, a write (an
order POST) raises so the caller looks it up: writes are never re-sent here. Source: Binance USDⓈ-M
https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info "SIGNED (TRADE
and USER_DATA) Endpoint Security" and "Timing security"; spot
https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md (same sections).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from venues.binance import constants as c
from venues.binance.auth import ParamValue, encode_params, signed_query
from venues.errors import AuthError, ProtocolError, VenueError
from venues.http import ClassifyError, RestClient
from venues.ratelimit import RateLimiter


def make_binance_client(
    base_url: str,
    weight_per_min: int,
    classify_error: ClassifyError,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> RestClient:
    """A :class:`RestClient` with Binance error mapping, ``X-MBX-USED-WEIGHT-1M`` sync and a
    ``weight_per_min`` bucket (unless ``limiter`` is given). ``kwargs`` go to
    :class:`RestClient` (``sleep``, ``retry_attempts``, ``timeout_s`` ...)."""
    return RestClient(
        c.VENUE,
        base_url,
        limiter=limiter or RateLimiter(weight_per_min, 60.0),
        transport=transport,
        classify_error=classify_error,
        used_weight_header=c.USED_WEIGHT_HEADER,
        **kwargs,
    )


def server_time_ms(payload: Any, where: str) -> int:
    """``serverTime`` of a ``/time`` answer, epoch ms.

    Raises
    ------
    ProtocolError
        If it is not an integer.
    """
    value = payload.get("serverTime") if isinstance(payload, Mapping) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(
            f"{where}: field 'serverTime' must be an integer ms, got {value!r}", venue=c.VENUE
        )
    return value


class SignedRest:
    """Raw Binance REST calls (JSON in, JSON out); subclasses add one method per endpoint.

    Parameters
    ----------
    rest : RestClient
        Transport (its ``classify_error`` must be :func:`venues.binance.rest.classify_error`).
    api_key, api_secret : SecretStr | None
        Credentials; ``None`` allows public endpoints only (signed ones raise ``AuthError``).
    now_ms : Callable[[], int]
        Local wall clock, epoch ms; corrected by the server offset of :meth:`sync_time`.
    recv_window_ms : int
        ``recvWindow`` of signed requests, ms.
    """

    LABEL: ClassVar[str] = "binance"
    TIME_PATH: ClassVar[str] = c.USDM_TIME
    TIME_WEIGHT: ClassVar[int] = 1

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
        return f"{type(self).__name__}(rest={self._rest!r}, signed={self._api_secret is not None})"

    def server_now_ms(self) -> int:
        """Local clock corrected by the last known server offset, epoch ms."""
        return self._now_ms() + self.clock_offset_ms

    async def aclose(self) -> None:
        """Close the transport."""
        await self._rest.aclose()

    async def _public(
        self, path: str, params: Mapping[str, ParamValue] | None = None, weight: int = 1
    ) -> Any:
        query = encode_params(params) if params else None
        return await self._rest.request("GET", path, query=query, weight=weight, idempotent=True)

    def _sign(self, params: Mapping[str, ParamValue]) -> tuple[str, dict[str, str]]:
        if self._api_key is None or self._api_secret is None:
            raise AuthError(
                f"{self.LABEL}: signed endpoint needs an API key and secret", venue=c.VENUE
            )
        query = signed_query(
            params,
            self._api_secret.get_secret_value(),
            timestamp_ms=self.server_now_ms(),
            recv_window_ms=self._recv_window_ms,
        )
        # Sent verbatim (RestClient ``query``): a dict would be re-encoded by httpx (a space is
        # "+" from httpx 0.28, a lone "%" stays raw in 0.27) and no longer match the signature.
        return query, {c.API_KEY_HEADER: self._api_key.get_secret_value()}

    async def _send_signed(
        self, method: str, path: str, params: Mapping[str, ParamValue], weight: int, resend: bool
    ) -> Any:
        query, headers = self._sign(params)
        return await self._rest.request(
            method, path, query=query, headers=headers, weight=weight, idempotent=resend
        )

    async def _signed(
        self,
        method: str,
        path: str,
        params: Mapping[str, ParamValue],
        weight: int = 1,
        *,
        idempotent: bool | None = None,
    ) -> Any:
        """``idempotent`` (default: ``method == "GET"``) allows retries and a re-sign after
        clock skew; account-setup POSTs (margin type, leverage, position mode) set it."""
        resend = method == "GET" if idempotent is None else idempotent
        try:
            return await self._send_signed(method, path, params, weight, resend)
        except VenueError as e:
            if not self._is_clock_skew(e):
                raise
            await self.sync_time()  # so the caller's lookup / next order is signed right
            if method == "POST" and not resend:
                raise  # orders are never re-sent here
        return await self._send_signed(method, path, params, weight, resend)

    @staticmethod
    def _is_clock_skew(error: VenueError) -> bool:
        return error.code is not None and error.code in {str(x) for x in c.CLOCK_SKEW_CODES}

    async def sync_time(self) -> int:
        """``GET <TIME_PATH>`` (weight 1) → store ``serverTime - now_ms()`` as the clock offset,
        ms, and return it. Raises ``ProtocolError`` on a malformed body. Fixture
        ``server_time.json``."""
        payload = await self._public(self.TIME_PATH, weight=self.TIME_WEIGHT)
        self.clock_offset_ms = server_time_ms(payload, f"{self.LABEL} time") - self._now_ms()
        return self.clock_offset_ms
