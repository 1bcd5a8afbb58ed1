"""Hyperliquid request signing: L1 actions (phantom agent) and user-signed actions.

There is no API key and no HMAC: ``POST /exchange`` bodies carry an EIP-712 (secp256k1)
signature made by an API ("agent") wallet. For an L1 action (order, cancel, cancelByCloid,
updateLeverage, scheduleCancel, noop)::

    data = msgpack(action) ‖ nonce (8 bytes, big endian)
           ‖ (0x00 | 0x01 ‖ vault address (20 bytes)) [‖ 0x00 ‖ expiresAfter (8 bytes)]
    connectionId = keccak256(data)
    sign EIP-712 {domain Exchange/1/chainId 1337/0x0…0, Agent{source, connectionId}}
    with source "a" on mainnet, "b" on testnet.

msgpack encodes dict insertion order, so actions must be built in the SDK's key order — use
the builders here (``order_action``, ``cancel_action``, ...), never hand-written dicts.

The signing dependencies (``eth-account``, ``msgpack``) live in the optional extra
``zerobeta[hyperliquid]`` and are imported lazily; a missing extra raises ``ImportError``
naming it. They are loaded through ``importlib`` so that type checking does not require the
extra to be installed.

Source: Hyperliquid "Signing"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/signing, "Exchange endpoint"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint and the
official SDK https://github.com/hyperliquid-dex/hyperliquid-python-sdk
(``hyperliquid/utils/signing.py``); vectors in ``tests/fixtures/hyperliquid/signing_vectors.json``;
request body in ``tests/fixtures/hyperliquid/exchange_order_request.json``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from types import ModuleType
from typing import Any, Literal

from venues.errors import AuthError
from venues.hyperliquid import constants as c

Tif = Literal["Gtc", "Ioc", "Alo"]
_EXTRA_HINT = "install the optional extra: pip install 'zerobeta[hyperliquid]'"
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX32_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _require(module: str) -> ModuleType:
    """Import ``module`` lazily; raise an ``ImportError`` naming the extra when missing."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"Hyperliquid signing needs {module!r}; {_EXTRA_HINT}") from e


# --------------------------------------------------------------------------- wire values


def decimal_to_wire(value: Decimal) -> str:
    """Format a price or size as Hyperliquid's wire string (SDK ``float_to_wire``).

    At most 8 decimals, trailing zeros and a trailing point stripped, no exponent:
    ``Decimal("100.0")`` → ``"100"``, ``Decimal("0.01470")`` → ``"0.0147"``. A trailing zero
    would change the action hash.

    Raises
    ------
    ValueError
        If ``value`` is not finite or has more than 8 decimals.
    """
    if not value.is_finite():
        raise ValueError(f"wire value must be finite, got {value}")
    quantum = Decimal(1).scaleb(-c.WIRE_DECIMALS)
    try:
        rounded = value.quantize(quantum)
    except InvalidOperation as e:
        raise ValueError(f"wire value {value} out of range") from e
    if rounded != value:
        raise ValueError(f"wire value {value} has more than {c.WIRE_DECIMALS} decimals")
    text = f"{rounded:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def to_cloid(client_order_id: str) -> str:
    """Turn our 32-hex-digit client order id into a Hyperliquid cloid (``"0x"`` + 32 hex).

    An id already carrying ``0x`` is accepted. The result is lower case (the venue
    compares addresses and cloids in lower case).

    Raises
    ------
    ValueError
        If the id is not 32 hexadecimal digits (after an optional ``0x``).
    """
    digits = client_order_id.removeprefix(c.CLOID_PREFIX)
    if not _HEX32_RE.match(digits):
        raise ValueError(
            f"client order id {client_order_id!r} is not {c.CLOID_HEX_DIGITS} hex digits"
        )
    return c.CLOID_PREFIX + digits.lower()


# --------------------------------------------------------------------------- action builders


def order_wire(
    asset: int,
    is_buy: bool,
    price: Decimal,
    size: Decimal,
    *,
    reduce_only: bool = False,
    tif: Tif = "Gtc",
    cloid: str | None = None,
) -> dict[str, Any]:
    """One limit order in wire form ``{"a","b","p","s","r","t",("c")}`` (key order matters).

    ``price`` quote units (USDC) on the tick, ``size`` coins on the lot step; ``cloid`` as
    returned by :func:`to_cloid`.

    Raises
    ------
    ValueError
        If price or size have more than 8 decimals.
    """
    wire: dict[str, Any] = {
        "a": asset,
        "b": is_buy,
        "p": decimal_to_wire(price),
        "s": decimal_to_wire(size),
        "r": reduce_only,
        "t": {"limit": {"tif": tif}},
    }
    if cloid is not None:
        wire["c"] = cloid
    return wire


def order_action(orders: Sequence[Mapping[str, Any]], grouping: str = "na") -> dict[str, Any]:
    """The ``order`` action ``{"type","orders","grouping"}`` for ``order_wire`` entries."""
    return {"type": "order", "orders": [dict(o) for o in orders], "grouping": grouping}


def cancel_action(cancels: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """The ``cancel`` action for ``(asset index, oid)`` pairs: ``{"cancels":[{"a","o"}]}``."""
    return {"type": "cancel", "cancels": [{"a": a, "o": o} for a, o in cancels]}


def cancel_by_cloid_action(cancels: Sequence[tuple[int, str]]) -> dict[str, Any]:
    """The ``cancelByCloid`` action for ``(asset index, cloid)`` pairs.

    Note the key names ``asset``/``cloid``, unlike ``cancel``'s ``a``/``o``.
    """
    return {
        "type": "cancelByCloid",
        "cancels": [{"asset": a, "cloid": cloid} for a, cloid in cancels],
    }


def update_leverage_action(asset: int, leverage: int, *, is_cross: bool) -> dict[str, Any]:
    """The ``updateLeverage`` action; ``leverage`` is an integer multiple (5 = 5×)."""
    return {"type": "updateLeverage", "asset": asset, "isCross": is_cross, "leverage": leverage}


def schedule_cancel_action(time_ms: int | None) -> dict[str, Any]:
    """The ``scheduleCancel`` (dead man's switch) action; ``None`` clears the schedule."""
    action: dict[str, Any] = {"type": "scheduleCancel"}
    if time_ms is not None:
        action["time"] = time_ms
    return action


# --------------------------------------------------------------------------- L1 signing


def _address_bytes(address: str) -> bytes:
    if not _ADDRESS_RE.match(address):
        raise ValueError(f"{address!r} is not a 0x-prefixed 20-byte hex address")
    return bytes.fromhex(address[2:])


def action_hash(
    action: Mapping[str, Any],
    nonce: int,
    vault_address: str | None = None,
    expires_after_ms: int | None = None,
) -> bytes:
    """The 32-byte ``connectionId`` = keccak256 over msgpack(action) ‖ nonce ‖ vault ‖ expiry.

    Raises
    ------
    ImportError
        If the ``hyperliquid`` extra (msgpack, eth-account) is not installed.
    ValueError
        If ``vault_address`` is not a 20-byte hex address.
    """
    msgpack = _require("msgpack")
    eth_utils = _require("eth_utils")
    data = bytes(msgpack.packb(dict(action))) + nonce.to_bytes(8, "big")
    if vault_address is None:
        data += b"\x00"
    else:
        data += b"\x01" + _address_bytes(vault_address)
    if expires_after_ms is not None:
        data += b"\x00" + expires_after_ms.to_bytes(8, "big")
    return bytes(eth_utils.keccak(data))


def _sign_typed_data(private_key: str, typed_data: dict[str, Any]) -> dict[str, Any]:
    """Sign EIP-712 ``typed_data``; ``{"r","s"}`` hex without leading zeros, ``"v"`` 27/28.

    The key never appears in an error: a bad key raises ``AuthError`` without chaining.
    """
    eth_account = _require("eth_account")
    messages = _require("eth_account.messages")
    try:
        account = eth_account.Account.from_key(private_key)
    except Exception:  # noqa: BLE001 - any key error; its text could echo the secret
        raise AuthError("invalid API wallet private key", venue=c.VENUE) from None
    signed = account.sign_message(messages.encode_typed_data(full_message=typed_data))
    return {"r": hex(int(signed.r)), "s": hex(int(signed.s)), "v": int(signed.v)}


def l1_typed_data(connection_id: bytes, *, is_mainnet: bool) -> dict[str, Any]:
    """EIP-712 typed data of the phantom agent ``{source, connectionId}`` (domain Exchange)."""
    source = c.PHANTOM_AGENT_SOURCE_MAINNET if is_mainnet else c.PHANTOM_AGENT_SOURCE_TESTNET
    return {
        "domain": {
            "chainId": c.L1_CHAIN_ID,
            "name": c.L1_DOMAIN_NAME,
            "verifyingContract": c.ZERO_ADDRESS,
            "version": c.L1_DOMAIN_VERSION,
        },
        "types": {
            "Agent": [
                {"name": "source", "type": "string"},
                {"name": "connectionId", "type": "bytes32"},
            ],
            "EIP712Domain": _EIP712_DOMAIN_TYPE,
        },
        "primaryType": "Agent",
        "message": {"source": source, "connectionId": connection_id},
    }


def sign_l1_action(
    private_key: str,
    action: Mapping[str, Any],
    nonce: int,
    *,
    is_mainnet: bool,
    vault_address: str | None = None,
    expires_after_ms: int | None = None,
) -> dict[str, Any]:
    """Sign an L1 action with the API wallet key.

    Parameters
    ----------
    private_key : str
        API wallet secp256k1 key, ``0x`` + 64 hex digits. Never logged or echoed.
    action : Mapping
        Built with this module's builders (key order is hashed).
    nonce : int
        Epoch ms, unique per signer (see constants ``NONCE_*``).
    is_mainnet : bool
        Selects phantom-agent source ``"a"`` (mainnet) or ``"b"`` (testnet); pass it
        explicitly, never infer it from a URL.
    vault_address : str | None
        Sub-account or vault traded for, lower-case hex; ``None`` for the master account.
    expires_after_ms : int | None
        Epoch ms after which the venue rejects the action.

    Returns
    -------
    dict
        ``{"r": "0x…", "s": "0x…", "v": 27 | 28}`` (r/s without leading zero nibbles, as the
        SDK sends them).

    Raises
    ------
    ImportError
        If the ``hyperliquid`` extra is not installed.
    AuthError
        If the private key is invalid (message carries no key material).
    ValueError
        If ``vault_address`` is malformed.
    """
    connection_id = action_hash(action, nonce, vault_address, expires_after_ms)
    return _sign_typed_data(private_key, l1_typed_data(connection_id, is_mainnet=is_mainnet))


def sign_user_signed_action(
    private_key: str,
    action: Mapping[str, Any],
    payload_types: Sequence[Mapping[str, str]],
    primary_type: str,
) -> dict[str, Any]:
    """Sign a user-signed action (``approveAgent``, ``usdSend``, ``withdraw3``, ...).

    ``action`` must already contain ``signatureChainId`` (hex string, ``"0x66eee"``) and
    ``hyperliquidChain`` (``"Mainnet"``/``"Testnet"``); ``payload_types`` lists the EIP-712
    fields of ``primary_type`` (e.g. ``"HyperliquidTransaction:UsdSend"``).

    Raises
    ------
    ImportError
        If the ``hyperliquid`` extra is not installed.
    AuthError
        If the private key is invalid.
    KeyError
        If ``action`` lacks ``signatureChainId``.
    """
    typed_data = {
        "domain": {
            "name": c.USER_SIGNED_DOMAIN_NAME,
            "version": "1",
            "chainId": int(str(action["signatureChainId"]), 16),
            "verifyingContract": c.ZERO_ADDRESS,
        },
        "types": {
            primary_type: [dict(t) for t in payload_types],
            "EIP712Domain": _EIP712_DOMAIN_TYPE,
        },
        "primaryType": primary_type,
        "message": dict(action),
    }
    return _sign_typed_data(private_key, typed_data)


def exchange_body(
    action: Mapping[str, Any],
    nonce: int,
    signature: Mapping[str, Any],
    *,
    vault_address: str | None = None,
    expires_after_ms: int | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /exchange`` (both nullable keys sent explicitly, as the SDK).

    Fixture: ``exchange_order_request.json``.
    """
    return {
        "action": dict(action),
        "nonce": nonce,
        "signature": dict(signature),
        "vaultAddress": vault_address,
        "expiresAfter": expires_after_ms,
    }
