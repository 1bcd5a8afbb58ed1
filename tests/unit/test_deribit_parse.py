"""Deribit: signing vectors, error mapping and a parse of every fixture in
``tests/fixtures/deribit-v2/``; expected values are read off the fixture text by hand."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from venues.deribit import auth
from venues.deribit import parse as p
from venues.deribit import parse_account as pa
from venues.deribit.fields import result_of
from venues.deribit.parse_errors import error_from_envelope
from venues.deribit.streams import heartbeat_answer
from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    ProtocolError,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from venues.model import InstrumentId, InstrumentKind, Liquidity, OptionType, OrderStatus, Side

FIXTURES = Path(__file__).parent.parent / "fixtures" / "deribit-v2"
VECTORS: list[dict[str, Any]] = json.loads((FIXTURES / "signing_vectors.json").read_text())
PERP = InstrumentId("deribit", InstrumentKind.PERP, "BTC-PERPETUAL")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def result(name: str) -> Any:
    return result_of(load(name), name)


# --- signing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if "nonce" in v and "uri" not in v], ids=lambda v: v["name"]
)
def test_ws_client_signature_vectors(vector: dict[str, Any]) -> None:
    ts, nonce, data = vector["timestamp"], vector["nonce"], vector["data"]
    assert auth.client_signature_string(ts, nonce, data) == vector["stringToSign"]
    assert auth.client_signature(vector["clientSecret"], ts, nonce, data) == vector["signature"]


@pytest.mark.parametrize("vector", [v for v in VECTORS if "uri" in v], ids=lambda v: v["name"])
def test_http_signature_vectors(vector: dict[str, Any]) -> None:
    args = (vector["timestamp"], vector["nonce"], vector["httpMethod"], vector["uri"])
    assert auth.http_string_to_sign(*args, vector["body"]) == vector["stringToSign"]
    header = auth.http_authorization(
        vector["clientId"], vector["clientSecret"], *args, vector["body"]
    )
    # the vector lists the fields as id, ts, nonce, sig
    fields = dict(part.split("=", 1) for part in header.split(" ", 1)[1].split(","))
    expected = dict(
        part.split("=", 1) for part in vector["authorizationHeader"].split(" ", 1)[1].split(",")
    )
    assert header.startswith("deri-hmac-sha256 ")
    assert fields == expected


def test_basic_auth_vector() -> None:
    vector = next(v for v in VECTORS if v["name"] == "http_basic_auth")
    got = auth.basic_authorization(vector["clientId"], vector["clientSecret"])
    assert got == vector["authorizationHeader"]


def test_signed_auth_request_matches_the_documented_sample() -> None:
    sample = load("auth_client_signature_request.json")["params"]
    params = auth.auth_params_signature(
        "AMANDA", "AMANDASECRECT", sample["timestamp"], sample["nonce"], sample["data"]
    )
    assert params == sample
    assert "AMANDASECRECT" not in json.dumps(params)  # the secret never travels


def test_signature_refuses_a_nonce_with_a_newline() -> None:
    with pytest.raises(ValueError, match="nonce"):
        auth.client_signature("s", 1, "a\nb")


# --- errors -------------------------------------------------------------------------------

EXPECTED_ERRORS: dict[int, type[VenueError]] = {
    10028: RateLimited,
    10009: InsufficientMargin,
    10041: VenueUnavailable,
    11044: OrderNotFound,
    13009: AuthError,
    10004: OrderNotFound,
    13032: DuplicateClientOrderId,
    13888: OrderRejected,
    -32602: InvalidOrder,
}


@pytest.mark.parametrize("envelope", load("errors.json"), ids=lambda e: str(e["error"]["code"]))
def test_every_recorded_error_maps_to_its_type(envelope: dict[str, Any]) -> None:
    code = envelope["error"]["code"]
    with pytest.raises(VenueError) as info:
        result_of(envelope, "private/buy", "hedge-1")
    assert type(info.value) is EXPECTED_ERRORS[code]
    assert info.value.code == str(code)
    assert info.value.venue == "deribit"
    if isinstance(info.value, OrderRejected):
        assert info.value.client_order_id == "hedge-1"
        assert info.value.reason == envelope["error"]["message"]


def test_errors_without_a_label_are_not_rejections() -> None:
    by_code = {e["error"]["code"]: e for e in load("errors.json")}
    assert type(error_from_envelope(by_code[10009])) is VenueError
    assert isinstance(error_from_envelope(by_code[10028]), RateLimited)
    invalid = error_from_envelope(by_code[-32602], "x")
    assert "param=instrument_name" in str(invalid)  # data names the bad parameter
    assert isinstance(error_from_envelope({"error": "x"}), ProtocolError)


# --- market data --------------------------------------------------------------------------


def test_btc_option_instruments() -> None:
    call, put = p.parse_instruments(result("get_instruments_btc_option.json"))
    assert (call.name, call.option_type, put.option_type) == (
        "BTC-27DEC24-100000-C",
        OptionType.CALL,
        OptionType.PUT,
    )
    assert call.strike == Decimal(100000)
    assert call.ts_expiry_ms == 1735286400000  # 2024-12-27T08:00Z
    assert (call.contract_size, call.min_trade_amount) == (Decimal(1), Decimal("0.1"))
    assert call.is_inverse
    assert call.kind == "option"
    assert not call.is_perpetual
    assert call.tick_for(Decimal("0.0049")) == Decimal("0.0001")
    assert call.tick_for(Decimal("0.005")) == Decimal("0.0005")
    assert p.common_instrument(call) is None  # options: Deribit-specific surface only


def test_recorded_eth_option_instruments() -> None:
    rows = p.parse_instruments(result("get_instruments_eth_option_recorded.json"))
    assert [r.name for r in rows] == ["ETH-6JUL25-1500-C", "ETH-6JUL25-1500-P"]
    assert all(r.min_trade_amount == 1 and r.strike == 1500 for r in rows)
    assert rows[0].settlement_period == "day"


def test_recorded_option_ticker_greeks_and_iv_fraction() -> None:
    ticker = p.parse_option_ticker(result("ticker_btc_option.json"))
    assert ticker.symbol == "BTC-26JUN26-100000-C"
    assert ticker.mark_price == 0.2425
    assert ticker.mark_iv_frac == pytest.approx(0.4543)
    assert (ticker.bid_iv_frac, ticker.ask_iv_frac) == (
        pytest.approx(0.4454),
        pytest.approx(0.4618),
    )
    assert (ticker.index_price, ticker.underlying_price) == (108827.5, 116086.34)
    assert ticker.underlying_index == "BTC-26JUN26"
    g = ticker.greeks
    assert (g.delta, g.gamma, g.vega, g.theta, g.rho) == (
        0.71138,
        1e-05,
        389.29255,
        -25.13021,
        524.77921,
    )


def test_perpetual_ticker_quote_mark_and_predicted_funding() -> None:
    raw = result("ticker_btc_perpetual.json")
    quote = p.parse_quote(raw, PERP)
    assert (quote.bid, quote.ask, quote.ts_event_ms) == (36289.5, 36290, 1623059681955)
    mark = p.parse_mark(raw, PERP)
    assert (mark.mark_price, mark.index_price) == (36288.31, 36297.02)
    funding = p.parse_predicted_funding(raw, PERP)
    assert funding.rate == pytest.approx(2.203e-05 / 8)
    assert funding.interval_s == 3600
    assert funding.ts_funding_ms == 1623060000000  # next whole hour after 1623059681955
    assert funding.ts_next_funding_ms == funding.ts_funding_ms + 3_600_000
    with pytest.raises(ProtocolError, match="asked for"):
        p.parse_mark(raw, InstrumentId("deribit", InstrumentKind.PERP, "ETH-PERPETUAL"))
    with pytest.raises(ProtocolError, match="mark_iv"):
        p.parse_option_ticker(raw)


def test_option_ticker_with_empty_book_side_is_none_not_zero() -> None:
    raw = dict(result("ticker_btc_option.json"), best_bid_price=None, bid_iv=None)
    ticker = p.parse_option_ticker(raw)
    assert ticker.best_bid is None
    assert ticker.bid_iv_frac is None


def test_index_price_and_funding_history() -> None:
    assert p.parse_index_price(result("get_index_price.json")) == (11628.81, 11628.81)
    rates = p.parse_funding_history(result("get_funding_rate_history.json"), PERP)
    assert [r.ts_funding_ms for r in rates] == [
        1569891600000,
        1569895200000,
        1569898800000,
        1569902400000,
    ]
    assert rates[0].rate == -4.739622041017375e-07
    assert all(r.interval_s == 3600 for r in rates)


def test_ws_pushes() -> None:
    frame = load("ws_markprice_options.json")
    channel, data = p.notification(frame) or ("", None)
    assert channel == "markprice.options.btc_usd"
    marks = p.parse_option_marks(data)
    assert next((m.symbol, m.mark_price, m.mark_iv_frac) for m in marks) == (
        "BTC-2JUN21-37000-P",
        0.0333,
        0.9,
    )
    _, perp_data = p.notification(load("ws_ticker_btc_perpetual.json")) or ("", None)
    assert p.parse_mark(perp_data, PERP).mark_price == 92281.78
    _, option_data = p.notification(load("ws_ticker_btc_option_constructed.json")) or ("", None)
    assert p.parse_option_ticker(option_data).greeks.delta == 0.71138
    assert p.notification(load("ws_heartbeat_test_request.json")) is None
    vol = p.notification(load("ws_volatility_index.json"))
    assert vol is not None
    assert vol[1]["volatility"] == 129.36


def test_heartbeat_test_request_is_answered_with_public_test() -> None:
    answer = heartbeat_answer(iter(range(7, 100)))
    reply = answer(load("ws_heartbeat_test_request.json"))
    assert reply == {"jsonrpc": "2.0", "id": 7, "method": "public/test", "params": {}}
    assert answer({"method": "heartbeat", "params": {"type": "heartbeat"}}) is None
    assert answer(load("set_heartbeat.json")) is None


def test_small_results() -> None:
    assert result("get_time.json") == 1550147385946
    assert result("set_heartbeat.json") == "ok"
    assert result("cancel_by_label.json") == 4
    assert result("ws_subscribe_response.json") == ["deribit_price_index.btc_usd"]
    assert result("auth_client_credentials.json")["token_type"] == "bearer"
    vol = result("get_volatility_index_data.json")
    assert isinstance(vol["data"], list)
    assert result("get_historical_volatility.json")[0] == [1549720800000, 14.747743607344217]
    assert result("get_delivery_prices.json")["records_total"] == 58
    summary = result("get_book_summary_by_currency_option.json")[0]
    assert summary["instrument_name"] == "ETH-22FEB19-140-P"
    assert "settlements" in result("get_settlement_history_by_currency.json")
    assert result("get_transaction_log.json")["logs"][1]["type"] == "settlement"
    trades = result("get_last_trades_by_instrument_option.json")["trades"]
    assert trades


# --- account ------------------------------------------------------------------------------


def test_buy_response_with_its_fill() -> None:
    eth = InstrumentId("deribit", InstrumentKind.PERP, "ETH-PERPETUAL")
    ack = pa.parse_order_response(result("buy_response.json"), eth)
    assert (ack.status, ack.side, ack.qty, ack.filled_qty) == (
        OrderStatus.FILLED,
        Side.SELL,
        Decimal(21),
        Decimal(21),
    )
    assert ack.avg_price == Decimal("202.8")
    (fill,) = ack.fills
    assert (fill.trade_id, fill.liquidity, fill.price) == (
        "ETH-2696097",
        Liquidity.TAKER,
        Decimal("202.8"),
    )
    assert fill.fee_usd == Decimal("0.00007766") * Decimal("202.86")  # ETH fee at the index


def test_recorded_linear_perp_buy_is_open_with_its_label() -> None:
    iid = InstrumentId("deribit", InstrumentKind.PERP, "ETH_USDC-PERPETUAL")
    ack = pa.parse_order_response(result("buy_response_recorded_linear_perp.json"), iid)
    assert ack.client_order_id == "O-19700101-000000-001-001-1"
    assert (ack.status, ack.qty, ack.avg_price, ack.fills) == (
        OrderStatus.NEW,
        Decimal("0.001"),
        None,
        (),
    )


def test_orders_by_label_and_ws_user_orders() -> None:
    rows = pa.order_rows(result("get_order_state_by_label.json"), "by_label")
    row = pa.latest_order(rows, "by_label")
    assert row is not None
    ack = pa.parse_order(row, PERP)
    assert (ack.client_order_id, ack.status, ack.filled_qty) == (
        "fooBar",
        OrderStatus.FILLED,
        Decimal(37),
    )
    _, data = p.notification(load("ws_user_orders.json")) or ("", None)
    (pushed,) = [pa.parse_order(r, PERP) for r in pa.order_rows(data, "user.orders")]
    assert (pushed.status, pushed.qty, pushed.avg_price) == (OrderStatus.NEW, Decimal(200), None)


def test_user_trades_by_currency() -> None:
    fills = pa.parse_trades(result("get_user_trades_by_currency_option.json"), PERP, "x")
    assert [f.trade_id for f in fills] == ["47958936", "48078936"]  # oldest first
    assert fills[1].liquidity is Liquidity.MAKER
    assert fills[1].fee_usd == Decimal("0.0004") * Decimal("8993.47")


def test_positions_perp_and_option() -> None:
    (perp,) = pa.parse_deribit_positions(result("get_positions.json"))
    assert (perp.size, perp.size_currency, perp.greeks) == (
        Decimal(50),
        Decimal("0.006687487"),
        None,
    )
    assert perp.realized_funding == Decimal("-1E-8")
    common = pa.common_position(perp, 1)
    assert common.liquidation_price == Decimal("1.74")
    (option,) = pa.parse_deribit_positions(result("get_positions_option_constructed.json"))
    assert option.greeks is not None
    assert (option.size, option.greeks.delta, option.greeks.vega) == (
        Decimal("1.5"),
        1.06707,
        583.93883,
    )


def test_account_summary_and_portfolio_push() -> None:
    summary = pa.parse_account_summary(result("get_account_summary.json"))
    assert (summary.currency, summary.equity, summary.delta_total) == (
        "BTC",
        Decimal("302.61869214"),
        31.602958,
    )
    assert (summary.options_theta, summary.margin_model) == (15.97071, "segregated_sm")
    balance = pa.balance_of(summary, 5)
    assert (balance.total, balance.available) == (Decimal("302.60065765"), Decimal("301.38059622"))
    _, data = p.notification(load("ws_user_portfolio.json")) or ("", None)
    pushed = pa.parse_account_summary(data, "user.portfolio")
    assert (pushed.currency, pushed.equity, pushed.margin_model) == (
        "USDT",
        Decimal("55.00055"),
        "cross_sm",
    )
