"""OKX v5 request signing: pure functions, no I/O, no clock.

Recipe (OKX API v5 "REST Authentication"
https://www.okx.com/docs-v5/en/#overview-rest-authentication)::

    prehash   = timestamp + METHOD + requestPath(+ "?" + query for GET) + body
    signature = Base64(HMAC-SHA256(secret, prehash))

REST timestamps are ISO-8601 UTC with milliseconds (``2020-12-08T09:08:57.715Z``); the WS
login signs ``unix_seconds + "GET" + "/users/self/verify"``. Test vectors (derived from the
documented sample secret): ``tests/fixtures/okx-v5/signing_vectors.json``.

Secrets are arguments only: they never appear in return values other than the signature,
nor in exception messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

from venues.okx.constants import (
    HEADER_KEY,
    HEADER_PASSPHRASE,
    HEADER_SIGN,
    HEADER_TIMESTAMP,
    SIMULATED_TRADING_HEADER,
    SIMULATED_TRADING_VALUE,
    WS_LOGIN_METHOD,
    WS_LOGIN_PATH,
)


def iso_timestamp(epoch_ms: int) -> str:
    """Format epoch milliseconds as OKX's ``OK-ACCESS-TIMESTAMP``.

    Parameters
    ----------
    epoch_ms : int
        Time, epoch milliseconds UTC.

    Returns
    -------
    str
        ISO-8601 UTC with exactly three fractional digits, e.g. ``2020-12-08T09:08:57.715Z``.
    """
    seconds, millis = divmod(epoch_ms, 1000)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def prehash(timestamp: str, method: str, request_path: str, body: str = "") -> str:
    """Build the string OKX signs.

    Parameters
    ----------
    timestamp : str
        ISO-8601 ms timestamp (REST) or unix seconds as text (WS login).
    method : str
        HTTP method; upper-cased here.
    request_path : str
        Path starting with ``/``, including ``?query`` for GET requests.
    body : str
        The exact JSON text sent (``""`` for GET).

    Raises
    ------
    ValueError
        If ``request_path`` does not start with ``/``.
    """
    if not request_path.startswith("/"):
        raise ValueError(f"request_path must start with '/', got {request_path!r}")
    return f"{timestamp}{method.upper()}{request_path}{body}"


def sign(secret: str, timestamp: str, method: str, request_path: str, body: str = "") -> str:
    """Base64 HMAC-SHA256 signature of :func:`prehash` under ``secret``.

    Returns
    -------
    str
        The ``OK-ACCESS-SIGN`` header value (or WS login ``sign``).

    Raises
    ------
    ValueError
        If ``request_path`` does not start with ``/``.
    """
    message = prehash(timestamp, method, request_path, body).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def rest_headers(
    *,
    api_key: str,
    secret: str,
    passphrase: str,
    timestamp: str,
    method: str,
    request_path: str,
    body: str = "",
    simulated: bool = False,
) -> dict[str, str]:
    """Headers of one signed REST request.

    Parameters
    ----------
    api_key, secret, passphrase : str
        Credentials (never logged).
    timestamp : str
        :func:`iso_timestamp` of the current time; OKX rejects stale ones (``50102``).
    method, request_path, body
        As sent; see :func:`prehash`.
    simulated : bool
        Add ``x-simulated-trading: 1`` (demo trading; needs a demo API key).

    Returns
    -------
    dict[str, str]
        ``OK-ACCESS-*`` headers plus ``Content-Type: application/json``.
    """
    headers = {
        HEADER_KEY: api_key,
        HEADER_SIGN: sign(secret, timestamp, method, request_path, body),
        HEADER_TIMESTAMP: timestamp,
        HEADER_PASSPHRASE: passphrase,
        "Content-Type": "application/json",
    }
    if simulated:
        headers[SIMULATED_TRADING_HEADER] = SIMULATED_TRADING_VALUE
    return headers


def ws_login_message(
    *, api_key: str, secret: str, passphrase: str, timestamp_s: int
) -> dict[str, object]:
    """The WebSocket ``login`` operation (OKX API v5 "WebSocket" → "Login",
    https://www.okx.com/docs-v5/en/#overview-websocket).

    Parameters
    ----------
    api_key, secret, passphrase : str
        Credentials (never logged).
    timestamp_s : int
        Current time, unix **seconds** (valid for 30 s).

    Returns
    -------
    dict
        ``{"op": "login", "args": [{"apiKey", "passphrase", "timestamp", "sign"}]}``, ready for
        ``json.dumps``. Fixture: ``ws_login_request.json``.
    """
    timestamp = str(timestamp_s)
    signature = sign(secret, timestamp, WS_LOGIN_METHOD, WS_LOGIN_PATH)
    arg = {"apiKey": api_key, "passphrase": passphrase, "timestamp": timestamp, "sign": signature}
    return {"op": "login", "args": [arg]}
