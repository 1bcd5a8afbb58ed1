"""Binance request signing (HMAC-SHA256), pure functions.

Rules (Binance USDⓈ-M
https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info "SIGNED (TRADE
and USER_DATA) Endpoint Security"; spot
https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md "SIGNED (TRADE and
USER_DATA) Endpoint security"):

- the signed string (``totalParams``) is the query string concatenated **directly** (no
  ``&``) with the form body; the signature is lower-case hex and goes last as
  ``signature=<hex>``;
- REST payloads are percent-encoded (UTF-8) **before** signing; spot enforces this since
  2026-01-15 (otherwise ``-1022``) and fapi needs it for non-ASCII symbols, so both products
  use the same encoder :func:`encode_params`;
- WebSocket API payloads are the params sorted by name, ``k=v`` joined by ``&``, **not**
  percent-encoded (UTF-8 bytes), ``signature`` excluded.

Fixtures: ``tests/fixtures/binance-usdm/signing_vectors.json``,
``tests/fixtures/binance-spot/signing_vectors.json``. Secrets are never put in an exception
message or a repr.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from venues.binance.constants import DEFAULT_RECV_WINDOW_MS, MAX_RECV_WINDOW_MS

ParamValue = str | int | bool
"""A request parameter value; bools are sent as ``"true"``/``"false"``."""


def sign(query_string: str, secret: str) -> str:
    """HMAC-SHA256 of ``query_string`` keyed by ``secret``, lower-case hex.

    Parameters
    ----------
    query_string : str
        Exactly the bytes sent (already percent-encoded for REST), UTF-8 encoded here.
    secret : str
        API secret key.

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
        raise ValueError("binance API secret is empty")
    mac = hmac.new(secret.encode(), query_string.encode(), hashlib.sha256)
    return mac.hexdigest()


def _value_text(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_params(params: Mapping[str, ParamValue]) -> str:
    """Percent-encode params in insertion order as ``k=v&...`` (UTF-8, space → ``%20``).

    Every reserved character is escaped (``safe=""``), so JSON values such as
    ``batchOrders`` come out as ``%5B%7B...`` as the docs require.
    """
    pairs = [(key, _value_text(value)) for key, value in params.items()]
    return urlencode(pairs, quote_via=quote, safe="")


def signed_query(
    params: Mapping[str, ParamValue],
    secret: str,
    *,
    timestamp_ms: int,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
) -> str:
    """Build the full signed REST query string for a SIGNED endpoint.

    Appends ``recvWindow`` then ``timestamp`` to ``params`` (the order of the official
    example), percent-encodes, signs and appends ``signature`` last.

    Parameters
    ----------
    params : Mapping[str, ParamValue]
        Request parameters without ``timestamp``, ``recvWindow`` or ``signature``.
    secret : str
        API secret key.
    timestamp_ms : int
        Client clock corrected by the server offset, epoch ms.
    recv_window_ms : int
        Validity window, ms (default 5000; 1..60000).

    Returns
    -------
    str
        ``k=v&...&recvWindow=..&timestamp=..&signature=<hex>``, to send as the query string
        (or as the form body; not both).

    Raises
    ------
    ValueError
        If a reserved key is already in ``params`` or ``recv_window_ms`` is out of range.
    """
    reserved = {"timestamp", "recvWindow", "signature"} & set(params)
    if reserved:
        raise ValueError(f"params must not contain {sorted(reserved)}; they are added here")
    if not 0 < recv_window_ms <= MAX_RECV_WINDOW_MS:
        raise ValueError(f"recv_window_ms must be in (0, {MAX_RECV_WINDOW_MS}]")
    full = {**params, "recvWindow": recv_window_ms, "timestamp": timestamp_ms}
    payload = encode_params(full)
    return f"{payload}&signature={sign(payload, secret)}"


def ws_api_payload(params: Mapping[str, ParamValue]) -> str:
    """WebSocket API signature payload: params sorted by name, ``k=v`` joined by ``&``.

    Not percent-encoded (the WS API signs the UTF-8 bytes); ``signature`` is excluded. Source:
    Binance spot WebSocket API
    https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-api.md "SIGNED request
    example (HMAC)" (its test vectors).
    """
    items = sorted((k, _value_text(v)) for k, v in params.items() if k != "signature")
    return "&".join(f"{key}={value}" for key, value in items)


def ws_api_sign(params: Mapping[str, ParamValue], secret: str) -> str:
    """Signature of a WebSocket API request (e.g. ``userDataStream.subscribe.signature``)."""
    return sign(ws_api_payload(params), secret)
