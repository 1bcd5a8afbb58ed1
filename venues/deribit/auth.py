"""Deribit API v2 signing: pure functions, no I/O, no clock.

Recipes ("Authentication" https://docs.deribit.com/#authentication, "Signature credentials
(WebSocket API)" and "Deribit signature credentials" in the same section)::

    client_signature (public/auth):  StringToSign = Timestamp + "\\n" + Nonce + "\\n" + Data
    deri-hmac-sha256 (HTTP header):  RequestData  = METHOD + "\\n" + URI + "\\n" + Body + "\\n"
                                     StringToSign = Timestamp + "\\n" + Nonce + "\\n" + RequestData
    signature = lowercase hex(HMAC-SHA256(ClientSecret, StringToSign))

Timestamps are epoch milliseconds, valid for 60 s; ``URI`` is the path with its query string.
Test vectors (two official, three derived): ``tests/fixtures/deribit-v2/signing_vectors.json``.

Secrets are arguments only: they never appear in return values other than the signature,
nor in exception messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from venues.deribit import constants as c


def hmac_hex(secret: str, message: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``message`` (UTF-8) under ``secret`` (UTF-8)."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def client_signature_string(timestamp_ms: int, nonce: str, data: str = "") -> str:
    """The string a ``client_signature`` grant signs: ``ts\\nnonce\\ndata`` (both newlines are
    always there; empty ``data`` leaves the string ending in ``\\n``).

    Raises
    ------
    ValueError
        If ``nonce`` is empty or contains a newline (it would shift the fields).
    """
    if not nonce or "\n" in nonce:
        raise ValueError("nonce must be non-empty and contain no newline")
    return f"{timestamp_ms}\n{nonce}\n{data}"


def client_signature(secret: str, timestamp_ms: int, nonce: str, data: str = "") -> str:
    """Lowercase hex signature of :func:`client_signature_string` under ``secret``."""
    return hmac_hex(secret, client_signature_string(timestamp_ms, nonce, data))


def auth_params_signature(
    client_id: str, secret: str, timestamp_ms: int, nonce: str, data: str = ""
) -> dict[str, str | int]:
    """``params`` of a ``public/auth`` request with ``grant_type=client_signature``: the secret
    is never sent. Fixture ``auth_client_signature_request.json``."""
    return {
        "grant_type": c.GRANT_CLIENT_SIGNATURE,
        "client_id": client_id,
        "timestamp": timestamp_ms,
        "nonce": nonce,
        "data": data,
        "signature": client_signature(secret, timestamp_ms, nonce, data),
    }


def auth_params_credentials(client_id: str, secret: str) -> dict[str, str | int]:
    """``params`` of a ``public/auth`` request with ``grant_type=client_credentials`` (the
    secret travels, over TLS only)."""
    return {
        "grant_type": c.GRANT_CLIENT_CREDENTIALS,
        "client_id": client_id,
        "client_secret": secret,
    }


def http_string_to_sign(timestamp_ms: int, nonce: str, method: str, uri: str, body: str) -> str:
    """The string a ``deri-hmac-sha256`` header signs; ``method`` is upper-cased, ``uri`` is
    the path plus query string (``/api/v2/private/get_account_summary?currency=BTC``) and an
    empty ``body`` still contributes its newline.

    Raises
    ------
    ValueError
        If ``uri`` does not start with ``/`` or ``nonce`` is empty or has a newline.
    """
    if not uri.startswith("/"):
        raise ValueError(f"uri must start with '/', got {uri!r}")
    request_data = f"{method.upper()}\n{uri}\n{body}\n"
    return client_signature_string(timestamp_ms, nonce, request_data)


def http_authorization(
    client_id: str, secret: str, timestamp_ms: int, nonce: str, method: str, uri: str, body: str
) -> str:
    """The ``Authorization`` header value of a signed HTTP request:
    ``deri-hmac-sha256 id=<id>,ts=<ms>,nonce=<nonce>,sig=<hex>``."""
    signature = hmac_hex(secret, http_string_to_sign(timestamp_ms, nonce, method, uri, body))
    return f"{c.HMAC_SCHEME} id={client_id},ts={timestamp_ms},nonce={nonce},sig={signature}"


def basic_authorization(client_id: str, secret: str) -> str:
    """The ``Authorization`` header of HTTP Basic auth: ``Basic base64(id:secret)``."""
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return f"Basic {token}"
