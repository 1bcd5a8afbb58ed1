"""Hyperliquid signing against every vector in ``signing_vectors.json`` (official + derived)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from venues.errors import AuthError
from venues.hyperliquid import auth

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hyperliquid"
VECTORS: list[dict[str, Any]] = json.loads((FIXTURES / "signing_vectors.json").read_text())
L1 = [v for v in VECTORS if v["scheme"].startswith("l1_action")]
L1_SIGNED = [v for v in L1 if "signature" in v]
USER_SIGNED = [v for v in VECTORS if v["scheme"].startswith("user_signed_action")]


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


def test_every_vector_is_covered() -> None:
    assert len(L1) + len(USER_SIGNED) == len(VECTORS)
    assert any(v["official"] for v in L1_SIGNED)
    assert any(not v["official"] for v in L1_SIGNED)


@pytest.mark.parametrize("vector", L1, ids=_ids(L1))
def test_l1_action_hash(vector: dict[str, Any]) -> None:
    pytest.importorskip("msgpack")
    pytest.importorskip("eth_utils")
    digest = auth.action_hash(
        vector["action"], vector["nonce"], vector["vault_address"], vector["expires_after"]
    )
    assert "0x" + digest.hex() == vector["action_hash"]
    if "phantom_agent" in vector:
        assert vector["phantom_agent"]["connectionId"] == vector["action_hash"]
        assert vector["phantom_agent"]["source"] == ("a" if vector["network"] == "mainnet" else "b")


@pytest.mark.parametrize("vector", L1_SIGNED, ids=_ids(L1_SIGNED))
def test_l1_signature(vector: dict[str, Any]) -> None:
    pytest.importorskip("eth_account")
    pytest.importorskip("msgpack")
    signature = auth.sign_l1_action(
        vector["private_key"],
        vector["action"],
        vector["nonce"],
        is_mainnet=vector["network"] == "mainnet",
        vault_address=vector["vault_address"],
        expires_after_ms=vector["expires_after"],
    )
    assert signature == vector["signature"]


@pytest.mark.parametrize("vector", L1_SIGNED, ids=_ids(L1_SIGNED))
def test_l1_signature_depends_on_network(vector: dict[str, Any]) -> None:
    pytest.importorskip("eth_account")
    pytest.importorskip("msgpack")
    other = auth.sign_l1_action(
        vector["private_key"],
        vector["action"],
        vector["nonce"],
        is_mainnet=vector["network"] != "mainnet",
        vault_address=vector["vault_address"],
        expires_after_ms=vector["expires_after"],
    )
    assert other != vector["signature"]


@pytest.mark.parametrize("vector", USER_SIGNED, ids=_ids(USER_SIGNED))
def test_user_signed_signature(vector: dict[str, Any]) -> None:
    pytest.importorskip("eth_account")
    signature = auth.sign_user_signed_action(
        vector["private_key"], vector["message"], vector["eip712_types"], vector["primary_type"]
    )
    assert signature == vector["signature"]


def test_signature_recovers_signer_address() -> None:
    eth_account = pytest.importorskip("eth_account")
    messages = pytest.importorskip("eth_account.messages")
    vector = L1_SIGNED[0]
    digest = auth.action_hash(vector["action"], vector["nonce"])
    typed = auth.l1_typed_data(digest, is_mainnet=True)
    sig = vector["signature"]
    vrs = (sig["v"], int(sig["r"], 16), int(sig["s"], 16))
    signer = eth_account.Account.recover_message(
        messages.encode_typed_data(full_message=typed), vrs=vrs
    )
    assert signer == vector["signer_address"]


# ------------------------------------------------------------------ action builders


def _vector(name: str) -> dict[str, Any]:
    return next(v for v in VECTORS if v["name"] == name)


def _msgpack_hex(action: dict[str, Any]) -> str:
    msgpack = pytest.importorskip("msgpack")
    return bytes(msgpack.packb(action)).hex()


def test_order_builder_matches_derived_vector() -> None:
    vector = _vector("derived_order_alo_with_cloid_mainnet")
    wire = auth.order_wire(
        0,
        False,
        Decimal("105000.0"),
        Decimal("0.00100"),
        tif="Alo",
        cloid=auth.to_cloid("1234567890ABCDEF1234567890abcdef"),
    )
    action = auth.order_action([wire])
    assert action == vector["action"]
    assert _msgpack_hex(action) == vector["action_msgpack_hex"]


def test_official_order_builders_match() -> None:
    gtc = _vector("l1_order_gtc_mainnet")["action"]
    assert auth.order_action([auth.order_wire(1, True, Decimal(100), Decimal(100))]) == gtc
    with_cloid = _vector("l1_order_gtc_with_cloid_mainnet")["action"]
    cloid = auth.to_cloid("0x" + "0" * 31 + "1")
    built = auth.order_action([auth.order_wire(1, True, Decimal(100), Decimal(100), cloid=cloid)])
    assert built == with_cloid
    production = _vector("phantom_agent_connection_id_production")["action"]
    ioc = auth.order_wire(4, True, Decimal("1670.1"), Decimal("0.0147"), tif="Ioc")
    assert auth.order_action([ioc]) == production


def test_cancel_builders_match_derived_vectors() -> None:
    cancel = _vector("derived_cancel_mainnet")
    assert _msgpack_hex(auth.cancel_action([(1, 77738308)])) == cancel["action_msgpack_hex"]
    by_cloid = _vector("derived_cancel_by_cloid_mainnet")
    built = auth.cancel_by_cloid_action([(1, "0x1234567890abcdef1234567890abcdef")])
    assert _msgpack_hex(built) == by_cloid["action_msgpack_hex"]


def test_update_leverage_and_schedule_cancel_builders() -> None:
    lev = _vector("derived_update_leverage_cross_5x_mainnet")
    built = auth.update_leverage_action(0, 5, is_cross=True)
    assert _msgpack_hex(built) == lev["action_msgpack_hex"]
    assert (
        auth.schedule_cancel_action(None) == _vector("l1_schedule_cancel_unset_mainnet")["action"]
    )
    timed = _vector("l1_schedule_cancel_time_mainnet")["action"]
    assert auth.schedule_cancel_action(123456789) == timed


def test_exchange_body_matches_fixture() -> None:
    fixture = json.loads((FIXTURES / "exchange_order_request.json").read_text())
    vector = _vector("derived_order_alo_with_cloid_mainnet")
    body = auth.exchange_body(vector["action"], vector["nonce"], vector["signature"])
    assert body == fixture


# ------------------------------------------------------------------ wire values and ids


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("100", "100"),
        ("100.000", "100"),
        ("0.0147", "0.0147"),
        ("0.01470", "0.0147"),
        ("1670.1", "1670.1"),
        ("105000", "105000"),
        ("1E+3", "1000"),
        ("-0.0", "0"),
        ("0.00000001", "0.00000001"),
    ],
)
def test_decimal_to_wire(value: str, wire: str) -> None:
    assert auth.decimal_to_wire(Decimal(value)) == wire


@pytest.mark.parametrize("value", ["0.000000001", "NaN", "Infinity"])
def test_decimal_to_wire_refuses(value: str) -> None:
    with pytest.raises(ValueError, match="wire value"):
        auth.decimal_to_wire(Decimal(value))


def test_to_cloid() -> None:
    assert auth.to_cloid("A" * 32) == "0x" + "a" * 32
    assert auth.to_cloid("0x" + "0" * 32) == "0x" + "0" * 32
    for bad in ("a" * 31, "g" * 32, "a" * 33, ""):
        with pytest.raises(ValueError, match="hex digits"):
            auth.to_cloid(bad)


def test_bad_vault_address_is_refused() -> None:
    pytest.importorskip("msgpack")
    with pytest.raises(ValueError, match="20-byte"):
        auth.action_hash({"type": "noop"}, 1, vault_address="0x1234")


def test_bad_private_key_does_not_leak() -> None:
    pytest.importorskip("eth_account")
    pytest.importorskip("msgpack")
    secret = "0xdeadbeef" + "ab" * 10
    with pytest.raises(AuthError) as info:
        auth.sign_l1_action(secret, {"type": "noop"}, 1, is_mainnet=True)
    assert "deadbeef" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(name: str) -> None:
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(auth.importlib, "import_module", fail)
    with pytest.raises(ImportError, match=r"zerobeta\[hyperliquid\]"):
        auth.action_hash({"type": "noop"}, 1)
