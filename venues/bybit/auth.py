"""Bybit v5 request signing (HMAC-SHA256, lower-case hex), pure functions.

Rules (Bybit v5 "Integration Guidance" https://bybit-exchange.github.io/docs/v5/guide,
"Authentication"; websocket auth in "Connect" https://bybit-exchange.github.io/docs/v5/ws/connect):

- REST string to sign: ``timestamp + apiKey + recvWindow + payload`` where ``payload`` is the
  query string for GET and the JSON body for POST, **byte-identical** to what is sent;
- GET query strings are built from alphabetically sorted ``k=v`` pairs (as pybit does),
  percent-encoded before signing and sent verbatim; POST bodies are compact JSON;
- WebSocket auth signs ``"GET/realtime" + expires`` (expires: a future epoch ms).

Fixture: ``tests/fixtures/bybit-v5/signing_vectors.json`` (derived vectors: doc plaintext,
secret ``bybit-test-secret``). Secrets never appear in an exception message or a repr.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from venues.bybit.constants import (
    DEFAULT_RECV_WINDOW_MS,
    HEADER_API_KEY,
    HEADER_RECV_WINDOW,
    HEADER_SIGN,
    HEADER_SIGN_TYPE,
    HEADER_TIMESTAMP,
    SIGN_TYPE_HMAC,
    WS_AUTH_PREFIX,
    WS_OP_AUTH,
)

ParamValue = str | int | bool
"""A request parameter value; bools are sent as ``"true"``/``"false"``."""


def sign(payload: str, secret: str) -> str:
    """HMAC-SHA256 of ``payload`` keyed by ``secret``, lower-case hex.

    Parameters
    ----------
    payload : str
        The string to sign, UTF-8 encoded here.
    secret : str
        API secret.

    Returns
    -------
    str
        64 hex characters.

    Raises
    ------
    ValueError
        If ``secret`` is empty (the message never contains the secret).
    """
    if not secret:
        raise ValueError("bybit API secret is empty")
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _text(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def query_string(params: Mapping[str, ParamValue | None]) -> str:
    """GET query string: ``k=v`` pairs sorted by key, joined by ``&``, ``None`` values dropped,
    keys and values percent-encoded (UTF-8; every reserved character, space → ``%20``).

    Send exactly this string (``RestClient.request(query=...)``): it is what
    :func:`rest_headers` signs, and httpx leaves a fully encoded query untouched, whereas a raw
    one would be encoded on the wire (non-ASCII, space) or cut (``#``, ``&``/``=`` in a value)
    after signing. Values are plain text: a ``nextPageCursor`` is URL-encoded by Bybit and is
    decoded by :func:`venues.bybit.parse.next_page_cursor`, so it goes back as Bybit sent it.
    Sorted pairs as pybit's ``_http_manager.prepare_payload``.
    """
    pairs = sorted((k, _text(v)) for k, v in params.items() if v is not None)
    return urlencode(pairs, quote_via=quote, safe="")


def json_body(params: Mapping[str, object]) -> str:
    """POST body: compact JSON (``,`` and ``:`` separators) in insertion order.

    Send exactly this string as the body; it is what :func:`rest_headers` signs.
    """
    return json.dumps(params, separators=(",", ":"))


def rest_sign_payload(timestamp_ms: int, api_key: str, recv_window_ms: int, payload: str) -> str:
    """The REST string to sign: ``timestamp + apiKey + recvWindow + payload``.

    Parameters
    ----------
    timestamp_ms : int
        Client clock corrected by the server offset, epoch ms.
    api_key : str
    recv_window_ms : int
        Validity window, ms (default 5000).
    payload : str
        Query string (GET, from :func:`query_string`) or JSON body (POST, from
        :func:`json_body`).
    """
    return f"{timestamp_ms}{api_key}{recv_window_ms}{payload}"


def rest_headers(
    api_key: str,
    secret: str,
    payload: str,
    *,
    timestamp_ms: int,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
) -> dict[str, str]:
    """Headers of a private REST call (``X-BAPI-*`` plus ``Content-Type``).

    Parameters
    ----------
    api_key, secret : str
        Credentials; the secret only keys the HMAC and is not in the result.
    payload : str
        Query string (GET) or JSON body (POST), exactly as sent.
    timestamp_ms : int
        Epoch ms, server-offset corrected.
    recv_window_ms : int
        Validity window, ms.

    Raises
    ------
    ValueError
        If ``recv_window_ms`` is not positive or the secret is empty.
    """
    if recv_window_ms <= 0:
        raise ValueError("recv_window_ms must be positive")
    signature = sign(rest_sign_payload(timestamp_ms, api_key, recv_window_ms, payload), secret)
    return {
        HEADER_API_KEY: api_key,
        HEADER_TIMESTAMP: str(timestamp_ms),
        HEADER_RECV_WINDOW: str(recv_window_ms),
        HEADER_SIGN: signature,
        HEADER_SIGN_TYPE: SIGN_TYPE_HMAC,
        "Content-Type": "application/json",
    }


def ws_auth_signature(secret: str, expires_ms: int) -> str:
    """Signature of the WebSocket ``auth`` op: HMAC-SHA256 hex of ``"GET/realtime" + expires``.

    ``expires_ms`` is a future epoch ms (the server rejects an expired one).
    """
    return sign(f"{WS_AUTH_PREFIX}{expires_ms}", secret)


def ws_auth_request(
    api_key: str, secret: str, expires_ms: int, req_id: str = "auth"
) -> dict[str, object]:
    """The WebSocket auth frame ``{"req_id", "op": "auth", "args": [key, expires, sign]}``.

    Source: Bybit v5 "Connect" https://bybit-exchange.github.io/docs/v5/ws/connect,
    "Authentication"; fixture ``ws_auth_request.json``.
    """
    signature = ws_auth_signature(secret, expires_ms)
    return {"req_id": req_id, "op": WS_OP_AUTH, "args": [api_key, expires_ms, signature]}
