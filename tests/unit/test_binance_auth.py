"""Binance signing against the official (and one derived) HMAC vectors."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from venues.binance.auth import (
    encode_params,
    sign,
    signed_query,
    ws_api_payload,
    ws_api_sign,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _vectors(product: str) -> list[dict[str, Any]]:
    with (FIXTURES / product / "signing_vectors.json").open(encoding="utf-8") as f:
        vectors: list[dict[str, Any]] = json.load(f)
    return vectors


ALL_VECTORS = [
    pytest.param(v, id=f"{product}:{v['name']}")
    for product in ("binance-usdm", "binance-spot")
    for v in _vectors(product)
]


@pytest.mark.parametrize("vector", ALL_VECTORS)
def test_sign_matches_every_vector(vector: dict[str, Any]) -> None:
    assert sign(vector["payload"], vector["secretKey"]) == vector["signature"]


@pytest.mark.parametrize("product", ["binance-usdm", "binance-spot"])
def test_at_least_one_official_vector(product: str) -> None:
    assert any(v["official"] for v in _vectors(product))


@pytest.mark.parametrize(
    "vector",
    [v for p in ("binance-usdm", "binance-spot") for v in _vectors(p) if "query" in v],
    ids=lambda v: v["name"],
)
def test_mixed_mode_is_query_plus_body_without_separator(vector: dict[str, Any]) -> None:
    payload = vector["query"] + vector["body"]
    assert payload == vector["payload"]
    assert sign(payload, vector["secretKey"]) == vector["signature"]


def _official_rest(product: str, name: str) -> dict[str, Any]:
    return next(v for v in _vectors(product) if v["name"] == name)


@pytest.mark.parametrize(
    ("product", "name"),
    [("binance-usdm", "fapi_new_order_query_string"), ("binance-spot", "rest_ascii")],
)
def test_signed_query_rebuilds_official_payload(product: str, name: str) -> None:
    vector = _official_rest(product, name)
    pairs = parse_qsl(vector["payload"])
    params = {k: v for k, v in pairs if k not in ("recvWindow", "timestamp")}
    fields = dict(pairs)
    query = signed_query(
        params,
        vector["secretKey"],
        timestamp_ms=int(fields["timestamp"]),
        recv_window_ms=int(fields["recvWindow"]),
    )
    assert query == f"{vector['payload']}&signature={vector['signature']}"


def test_percent_encoding_of_non_ascii_symbol_matches_official_vector() -> None:
    vector = _official_rest("binance-spot", "rest_non_ascii_percent_encoded")
    params = dict(pair.split("=", 1) for pair in vector["unencoded"].split("&"))
    assert encode_params(params) == vector["payload"]
    assert sign(encode_params(params), vector["secretKey"]) == vector["signature"]


def test_encode_params_escapes_json_and_bools() -> None:
    encoded = encode_params({"batchOrders": '[{"a":"b c"}]', "reduceOnly": True})
    assert encoded == "batchOrders=%5B%7B%22a%22%3A%22b%20c%22%7D%5D&reduceOnly=true"


def test_ws_api_payload_sorts_params_and_matches_official_vector() -> None:
    vector = _official_rest("binance-spot", "wsapi_order_place_sorted_params")
    assert ws_api_payload(vector["params"]) == vector["payload"]
    assert ws_api_sign(vector["params"], vector["secretKey"]) == vector["signature"]
    with_sig = {**vector["params"], "signature": "x"}
    assert ws_api_payload(with_sig) == vector["payload"]


def test_sign_is_plain_hmac_sha256_hex() -> None:
    expected = hmac.new(b"k", b"a=1", hashlib.sha256).hexdigest()
    assert sign("a=1", "k") == expected


def test_empty_secret_rejected() -> None:
    with pytest.raises(ValueError, match="secret is empty"):
        sign("a=1", "")


@pytest.mark.parametrize("key", ["timestamp", "recvWindow", "signature"])
def test_signed_query_rejects_reserved_keys_without_leaking_secret(key: str) -> None:
    secret = "TOPSECRETVALUE"
    with pytest.raises(ValueError, match=key) as info:
        signed_query({key: "1"}, secret, timestamp_ms=1)
    assert secret not in str(info.value)


@pytest.mark.parametrize("recv_window_ms", [0, 60_001])
def test_signed_query_rejects_bad_recv_window(recv_window_ms: int) -> None:
    with pytest.raises(ValueError, match="recv_window_ms"):
        signed_query({}, "s", timestamp_ms=1, recv_window_ms=recv_window_ms)
