"""OKX v5 signing against the derived vectors in ``signing_vectors.json``."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from venues.okx import auth, constants

FIXTURES = Path(__file__).parent.parent / "fixtures" / "okx-v5"
VECTORS: list[dict[str, Any]] = json.loads((FIXTURES / "signing_vectors.json").read_text())


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_prehash_matches_vector(vector: dict[str, Any]) -> None:
    got = auth.prehash(vector["timestamp"], vector["method"], vector["requestPath"], vector["body"])
    assert got == vector["prehash"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_sign_matches_vector(vector: dict[str, Any]) -> None:
    got = auth.sign(
        vector["secretKey"],
        vector["timestamp"],
        vector["method"],
        vector["requestPath"],
        vector["body"],
    )
    assert got == vector["signature"]
    assert len(base64.b64decode(got)) == 32  # SHA-256 digest


def test_method_is_upper_cased() -> None:
    vector = VECTORS[0]
    lower = auth.sign(vector["secretKey"], vector["timestamp"], "get", vector["requestPath"])
    assert lower == vector["signature"]


def test_prehash_rejects_relative_path() -> None:
    with pytest.raises(ValueError, match="request_path"):
        auth.prehash("2020-12-08T09:08:57.715Z", "GET", "api/v5/account/balance")


def test_iso_timestamp_formats_milliseconds() -> None:
    moment = datetime(2020, 12, 8, 9, 8, 57, 715_000, tzinfo=UTC)
    epoch_ms = int(moment.timestamp()) * 1000 + 715
    assert auth.iso_timestamp(epoch_ms) == "2020-12-08T09:08:57.715Z"
    assert auth.iso_timestamp(epoch_ms - 715) == "2020-12-08T09:08:57.000Z"


def test_rest_headers_sign_post_vector() -> None:
    vector = next(v for v in VECTORS if v["name"] == "rest_post")
    headers = auth.rest_headers(
        api_key="key-1",
        secret=vector["secretKey"],
        passphrase="pass-1",
        timestamp=vector["timestamp"],
        method="POST",
        request_path=vector["requestPath"],
        body=vector["body"],
    )
    assert headers == {
        "OK-ACCESS-KEY": "key-1",
        "OK-ACCESS-SIGN": vector["signature"],
        "OK-ACCESS-TIMESTAMP": vector["timestamp"],
        "OK-ACCESS-PASSPHRASE": "pass-1",
        "Content-Type": "application/json",
    }
    assert vector["secretKey"] not in headers.values()


def test_rest_headers_demo_adds_simulated_trading() -> None:
    vector = VECTORS[0]
    headers = auth.rest_headers(
        api_key="k",
        secret=vector["secretKey"],
        passphrase="p",
        timestamp=vector["timestamp"],
        method="GET",
        request_path=vector["requestPath"],
        simulated=True,
    )
    assert headers["x-simulated-trading"] == "1"
    assert headers["OK-ACCESS-SIGN"] == vector["signature"]


def test_ws_login_message_matches_vector_and_fixture_shape() -> None:
    vector = next(v for v in VECTORS if v["name"] == "ws_login")
    message = auth.ws_login_message(
        api_key="key-1",
        secret=vector["secretKey"],
        passphrase="pass-1",
        timestamp_s=int(vector["timestamp"]),
    )
    doc = json.loads((FIXTURES / "ws_login_request.json").read_text())
    assert message["op"] == doc["op"] == "login"
    args = message["args"]
    assert isinstance(args, list)
    assert set(args[0]) == set(doc["args"][0])
    assert args[0] == {
        "apiKey": "key-1",
        "passphrase": "pass-1",
        "timestamp": vector["timestamp"],
        "sign": vector["signature"],
    }
    assert vector["requestPath"] == constants.WS_LOGIN_PATH


@pytest.mark.parametrize(
    ("client_order_id", "valid"),
    [
        ("oktswap6", True),
        ("a" * 32, True),
        ("a" * 33, False),
        ("zb-1", False),
        ("", False),
        ("abc\n", False),
    ],
)
def test_client_order_id_pattern(client_order_id: str, valid: bool) -> None:
    assert bool(constants.CLIENT_ORDER_ID_PATTERN.match(client_order_id)) is valid
