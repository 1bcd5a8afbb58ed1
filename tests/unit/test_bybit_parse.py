"""Bybit v5 parsers on the doc fixtures in ``tests/fixtures/bybit-v5`` (expected values read
from the JSON here), malformed variants, and the tickers snapshot/delta merge.

Caveat: ``tickers_inverse_btcusd.json``, ``kline.json`` and ``position_list_inverse.json`` are
**inverse** doc samples (Bybit v5 "Get Tickers", "Get Kline", "Get Position Info" under
https://bybit-exchange.github.io/docs/v5), used here as shape stand-ins for
linear rows (same keys); the recorded linear ticker is held back for acceptance tests.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from venues.bybit import book, parse, parse_account
from venues.bybit.constants import NOT_MODIFIED_CODES
from venues.bybit.fields import side_field
from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    ProtocolError,
    RateLimited,
    VenueError,
)
from venues.model import InstrumentId, InstrumentKind, OrderRequest, OrderStatus, Side

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bybit-v5"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def perp(symbol: str) -> InstrumentId:
    return InstrumentId("bybit", InstrumentKind.PERP, symbol)


# --- envelope and errors -------------------------------------------------------------------


ERRORS = load("errors.json")
EXPECTED_CLASS = {
    10002: VenueError,
    10003: AuthError,
    10004: AuthError,
    10006: RateLimited,
    110001: OrderNotFound,
    110007: InsufficientMargin,
    110072: DuplicateClientOrderId,
    110094: InvalidOrder,
    170141: DuplicateClientOrderId,
    10001: InvalidOrder,
}


@pytest.mark.parametrize("body", ERRORS, ids=[str(e["retCode"]) for e in ERRORS])
def test_error_from_payload_maps_codes(body: dict[str, Any]) -> None:
    err = parse.error_from_payload(body, "bybit", client_order_id="cid-1")
    assert err.code == str(body["retCode"])
    assert body["retMsg"] in str(err)
    expected = EXPECTED_CLASS.get(body["retCode"], VenueError)
    assert type(err) is expected


def test_rejection_codes_without_client_id_are_plain() -> None:
    body = next(e for e in ERRORS if e["retCode"] == 110007)
    assert type(parse.error_from_payload(body)) is VenueError


def test_rate_limit_carries_retry_after() -> None:
    body = next(e for e in ERRORS if e["retCode"] == 10006)
    err = parse.error_from_payload(body, retry_after_s=2.5)
    assert isinstance(err, RateLimited)
    assert err.retry_after_s == 2.5


def test_unwrap_raises_on_error_envelope_even_with_result() -> None:
    payload = load("set_margin_mode_failed.json")
    with pytest.raises(VenueError) as info:
        parse.unwrap_result(payload)
    assert info.value.code == str(payload["retCode"])


def test_unwrap_not_modified_is_ok_when_allowed() -> None:
    body = {"retCode": 110043, "retMsg": "Set leverage has not been modified.", "result": {}}
    assert parse.unwrap_result(body, ok_codes=NOT_MODIFIED_CODES) == {}
    with pytest.raises(VenueError):
        parse.unwrap_result(body)


def test_unwrap_success_fixtures() -> None:
    assert parse.unwrap_result(load("set_leverage.json")) == {}
    assert parse.unwrap_result(load("switch_position_mode.json")) == {}


@pytest.mark.parametrize("payload", [[], {"retMsg": "x"}, {"retCode": "zero", "result": {}}])
def test_unwrap_malformed_envelope(payload: object) -> None:
    with pytest.raises(ProtocolError):
        parse.unwrap_result(payload)


def test_error_without_retmsg_is_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="retMsg"):
        parse.error_from_payload({"retCode": 10001})


def test_server_time() -> None:
    payload = load("server_time.json")
    assert parse.parse_server_time_ms(payload) == int(payload["result"]["timeNano"]) // 10**6
    assert parse.parse_server_time_ms(payload) == payload["time"]


# --- instruments ---------------------------------------------------------------------------


def test_linear_instrument() -> None:
    payload = load("instruments_linear_btcusdt.json")
    raw = payload["result"]["list"][0]
    instruments, cursor = parse.parse_instruments(payload, "linear")
    assert cursor is None  # nextPageCursor ""
    (inst,) = instruments
    assert inst.id == perp(raw["symbol"])
    assert (inst.base, inst.quote) == (raw["baseCoin"], raw["quoteCoin"])
    assert inst.tick_size == Decimal(raw["priceFilter"]["tickSize"])
    assert inst.lot_step == Decimal(raw["lotSizeFilter"]["qtyStep"])
    assert inst.min_qty == Decimal(raw["lotSizeFilter"]["minOrderQty"])
    assert inst.min_notional_usd == Decimal(raw["lotSizeFilter"]["minNotionalValue"])
    assert inst.funding_interval_s == raw["fundingInterval"] * 60 == 8 * 3600
    assert inst.contract_multiplier == 1


def test_spot_instrument() -> None:
    payload = load("instruments_spot_btcusdt.json")
    raw = payload["result"]["list"][0]
    (inst,), cursor = parse.parse_instruments(payload, "spot")
    assert cursor is None
    assert inst.id == InstrumentId("bybit", InstrumentKind.SPOT, "BTCUSDT")
    assert inst.tick_size == Decimal(raw["priceFilter"]["tickSize"])
    assert inst.lot_step == inst.min_qty == Decimal(raw["lotSizeFilter"]["basePrecision"])
    assert inst.min_notional_usd == Decimal(raw["lotSizeFilter"]["minOrderAmt"])
    assert inst.funding_interval_s is None


def test_instruments_cursor_and_filtering() -> None:
    payload = load("instruments_linear_btcusdt.json")
    payload["result"]["nextPageCursor"] = "abc%3D"
    closed = copy.deepcopy(payload["result"]["list"][0])
    closed["symbol"], closed["status"] = "OLDUSDT", "Closed"
    future = copy.deepcopy(payload["result"]["list"][0])
    future["symbol"], future["contractType"] = "BTCUSDT-27DEC24", "LinearFutures"
    payload["result"]["list"] += [closed, future]
    instruments, cursor = parse.parse_instruments(payload, "linear")
    assert cursor == "abc="  # URL-decoded: the query string encodes it back to "abc%3D"
    assert [i.id.symbol for i in instruments] == ["BTCUSDT"]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("lotSizeFilter", "qtyStep"), "abc", "qtyStep"),
        (("fundingInterval",), "eight", "fundingInterval"),
        (("fundingInterval",), 0, "fundingInterval"),
        (("priceFilter",), None, "priceFilter"),
        (("symbol",), "", "symbol"),
    ],
)
def test_malformed_instrument_names_field(path: tuple[str, ...], value: object, field: str) -> None:
    payload = load("instruments_linear_btcusdt.json")
    target = payload["result"]["list"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ProtocolError, match=field):
        parse.parse_instruments(payload, "linear")


def test_unsupported_category() -> None:
    with pytest.raises(ProtocolError, match="inverse"):
        parse.parse_instruments(load("instruments_linear_btcusdt.json"), "inverse")


# --- tickers, funding history, klines ------------------------------------------------------


def test_linear_tickers_inverse_sample() -> None:
    payload = load("tickers_inverse_btcusd.json")  # inverse doc sample, linear-shaped
    raw = payload["result"]["list"][0]
    ((funding, mark),) = parse.parse_linear_tickers(payload)
    interval_s = int(raw["fundingIntervalHour"]) * 3600
    assert funding.instrument_id == perp(raw["symbol"])
    assert funding.rate == float(raw["fundingRate"])
    assert funding.interval_s == interval_s
    assert funding.ts_funding_ms == int(raw["nextFundingTime"])
    assert funding.ts_next_funding_ms == int(raw["nextFundingTime"]) + interval_s * 1000
    assert mark.mark_price == float(raw["markPrice"])
    assert mark.index_price == float(raw["indexPrice"])
    assert mark.ts_event_ms == payload["time"]


def test_spot_quotes() -> None:
    payload = load("tickers_spot_btcusdt.json")
    raw = payload["result"]["list"][0]
    (quote,) = parse.parse_quotes(payload, "spot")
    assert quote.instrument_id == InstrumentId("bybit", InstrumentKind.SPOT, raw["symbol"])
    assert (quote.bid, quote.ask) == (float(raw["bid1Price"]), float(raw["ask1Price"]))
    assert quote.ts_event_ms == payload["time"]


@pytest.mark.parametrize("field", ["fundingRate", "nextFundingTime", "markPrice"])
def test_malformed_ticker(field: str) -> None:
    payload = load("tickers_inverse_btcusd.json")
    payload["result"]["list"][0][field] = "n/a"
    with pytest.raises(ProtocolError, match=field):
        parse.parse_linear_tickers(payload)


def test_funding_history_sorted_oldest_first() -> None:
    payload = load("funding_history.json")
    raw = payload["result"]["list"][0]
    older = {**raw, "fundingRate": "-0.0002", "fundingRateTimestamp": "1672012800000"}
    payload["result"]["list"].append(older)
    rates = parse.parse_funding_history(payload, interval_s=28_800)
    assert [r.ts_funding_ms for r in rates] == [1672012800000, int(raw["fundingRateTimestamp"])]
    assert rates[1].rate == float(raw["fundingRate"])
    assert rates[0].rate == -0.0002
    assert rates[1].ts_next_funding_ms == int(raw["fundingRateTimestamp"]) + 28_800_000
    assert rates[1].instrument_id == perp(raw["symbol"])


def test_funding_history_missing_timestamp() -> None:
    payload = load("funding_history.json")
    del payload["result"]["list"][0]["fundingRateTimestamp"]
    with pytest.raises(ProtocolError, match="fundingRateTimestamp"):
        parse.parse_funding_history(payload, interval_s=28_800)


def test_klines_sorted_oldest_first() -> None:
    payload = load("kline.json")  # inverse doc sample; rows newest first
    rows = payload["result"]["list"]
    bars = parse.parse_klines(payload, perp("BTCUSD"), "60")
    assert [b.ts_open_ms for b in bars] == sorted(int(r[0]) for r in rows)
    oldest = min(rows, key=lambda r: int(r[0]))
    assert bars[0].ts_close_ms == int(oldest[0]) + 3_600_000
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close) == tuple(
        float(x) for x in oldest[1:5]
    )
    assert bars[0].volume == float(oldest[5])


def test_mark_price_klines_have_zero_volume() -> None:
    payload = load("mark_price_kline.json")
    row = payload["result"]["list"][0]
    (bar,) = parse.parse_klines(payload, perp("BTCUSDT"), "D")
    assert bar.close == float(row[4])
    assert bar.volume == 0.0
    assert bar.ts_close_ms - bar.ts_open_ms == 86_400_000


def test_kline_short_row_and_bad_interval() -> None:
    payload = load("mark_price_kline.json")
    payload["result"]["list"][0] = payload["result"]["list"][0][:3]
    with pytest.raises(ProtocolError, match="5 cells"):
        parse.parse_klines(payload, perp("BTCUSDT"), "1")
    with pytest.raises(ValueError, match="interval"):
        parse.parse_klines(load("mark_price_kline.json"), perp("BTCUSDT"), "M")


# --- orders --------------------------------------------------------------------------------


def request(client_order_id: str, symbol: str = "BTCUSDT") -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id,
        instrument_id=InstrumentId("bybit", InstrumentKind.SPOT, symbol),
        side=Side.BUY,
        qty=Decimal("0.01"),
    )


def test_create_order_ack() -> None:
    payload = load("create_order.json")
    result = payload["result"]
    ack = parse_account.parse_create_order(payload, request(result["orderLinkId"]))
    assert ack.venue_order_id == result["orderId"]
    assert ack.client_order_id == result["orderLinkId"]
    assert ack.status is OrderStatus.NEW
    assert ack.filled_qty == 0
    assert ack.avg_price is None
    assert ack.ts_event_ms == payload["time"]


def test_create_order_mismatched_link_id() -> None:
    with pytest.raises(ProtocolError, match="orderLinkId"):
        parse_account.parse_create_order(load("create_order.json"), request("other-id"))


def test_create_order_duplicate_is_typed() -> None:
    body = next(e for e in ERRORS if e["retCode"] == 110072)
    with pytest.raises(DuplicateClientOrderId) as info:
        parse_account.parse_create_order({**body, "result": {}}, request("cid-9"))
    assert info.value.client_order_id == "cid-9"


def test_cancel_ack() -> None:
    payload = load("cancel_order.json")
    ack = parse_account.parse_cancel_order(payload)
    assert ack.venue_order_id == payload["result"]["orderId"]
    assert ack.client_order_id == payload["result"]["orderLinkId"]
    assert ack.ts_event_ms == payload["time"]


def test_order_realtime() -> None:
    payload = load("order_realtime.json")
    raw = payload["result"]["list"][0]
    (ack,) = parse_account.parse_orders(payload, "linear")
    assert ack.instrument_id == perp(raw["symbol"])
    assert ack.client_order_id == raw["orderLinkId"]
    assert ack.venue_order_id == raw["orderId"]
    assert ack.side is Side.BUY
    assert ack.status is OrderStatus.NEW
    assert ack.qty == Decimal(raw["qty"])
    assert ack.filled_qty == Decimal(raw["cumExecQty"]) == 0
    assert ack.avg_price is None
    assert ack.ts_event_ms == int(raw["updatedTime"])


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("PartiallyFilled", OrderStatus.PARTIALLY_FILLED),
        ("Filled", OrderStatus.FILLED),
        ("Cancelled", OrderStatus.CANCELED),
        ("PartiallyFilledCanceled", OrderStatus.CANCELED),
        ("Rejected", OrderStatus.REJECTED),
    ],
)
def test_order_status_and_fills(status: str, expected: OrderStatus) -> None:
    payload = load("order_realtime.json")
    raw = payload["result"]["list"][0]
    raw.update(orderStatus=status, cumExecQty="0.04", avgPrice="1599.5")
    (ack,) = parse_account.parse_orders(payload, "linear")
    assert ack.status is expected
    assert ack.filled_qty == Decimal("0.04")
    assert ack.avg_price == Decimal("1599.5")
    assert (ack.reject_reason is not None) is (expected is OrderStatus.REJECTED)


@pytest.mark.parametrize(("field", "value"), [("orderStatus", "Weird"), ("qty", "")])
def test_malformed_order(field: str, value: str) -> None:
    payload = load("order_realtime.json")
    payload["result"]["list"][0][field] = value
    with pytest.raises(ProtocolError, match=field):
        parse_account.parse_orders(payload, "linear")


def test_ws_order_frame() -> None:
    row = load("order_realtime.json")["result"]["list"][0]
    other = {**row, "category": "option"}
    frame = {"topic": "order", "id": "x", "data": [{**row, "category": "linear"}, other]}
    (ack,) = book.parse_ws_orders(frame)
    assert ack.venue_order_id == row["orderId"]
    with pytest.raises(ProtocolError, match="topic"):
        book.parse_ws_orders({**frame, "topic": "execution"})


# --- positions, balances, funding payments -------------------------------------------------


def test_positions_signed_by_side() -> None:
    payload = load("position_list_inverse.json")  # inverse doc sample, linear-shaped keys
    raw = payload["result"]["list"][0]
    flat = {**raw, "symbol": "ETHUSDT", "side": "", "size": "0"}
    payload["result"]["list"].append(flat)
    (position,) = parse_account.parse_positions(payload)
    assert raw["side"] == "Sell"
    assert position.qty == -Decimal(raw["size"])
    assert position.entry_price == Decimal(raw["avgPrice"])
    assert position.mark_price == Decimal(raw["markPrice"])
    assert position.ts_event_ms == int(raw["updatedTime"])


def test_position_liquidation_price() -> None:
    """The recorded row's ``liqPrice`` is ``""`` (none) → None; a linear row's price is read."""
    payload = load("position_list_inverse.json")
    assert payload["result"]["list"][0]["liqPrice"] == ""
    (position,) = parse_account.parse_positions(payload)
    assert position.liquidation_price is None
    payload["result"]["list"][0]["liqPrice"] = "31250.5"
    (position,) = parse_account.parse_positions(payload)
    assert position.liquidation_price == Decimal("31250.5")


def test_position_bad_side() -> None:
    payload = load("position_list_inverse.json")
    payload["result"]["list"][0]["side"] = "Long"
    with pytest.raises(ProtocolError, match="side"):
        parse_account.parse_positions(payload)


def test_wallet_balance() -> None:
    payload = load("wallet_balance.json")
    raw = payload["result"]["list"][0]["coin"][0]
    (balance,) = parse_account.parse_wallet_balance(payload)
    assert balance.asset == raw["coin"]
    assert balance.total == Decimal(raw["walletBalance"])
    assert balance.available == 0
    assert balance.ts_event_ms == payload["time"]


def test_wallet_available_subtracts_margin_in_use() -> None:
    payload = load("wallet_balance.json")
    raw = payload["result"]["list"][0]["coin"][0]
    raw.update(walletBalance="100", locked="5", totalOrderIM="10", totalPositionIM="")
    (balance,) = parse_account.parse_wallet_balance(payload)
    assert balance.available == Decimal(85)


def test_wallet_empty_list() -> None:
    payload = load("wallet_balance.json")
    payload["result"]["list"] = []
    with pytest.raises(ProtocolError, match="no account"):
        parse_account.parse_wallet_balance(payload)


def test_funding_payments_from_settlement_rows() -> None:
    payload = load("transaction_log.json")
    rows = payload["result"]["list"]
    settlement = next(r for r in rows if r["type"] == "SETTLEMENT")
    payload["result"]["list"].append(dict(settlement))  # duplicate id+type is dropped
    (payment,) = parse_account.parse_funding_payments(payload, {"XRPUSDT": 28_800})
    assert payment.instrument_id == perp("XRPUSDT")
    assert payment.amount_usd == Decimal(settlement["funding"])
    assert payment.rate == float(settlement["feeRate"])
    assert payment.position_qty == Decimal(settlement["size"])  # side Buy → long
    assert payment.mark_price == Decimal(settlement["tradePrice"])
    assert payment.ts_funding_ms == int(settlement["transactionTime"])
    assert payment.interval_s == 28_800
    # Model identity: amount = −rate × qty × mark (a long pays a positive rate).
    rate = Decimal(settlement["feeRate"])
    assert payment.amount_usd == -rate * payment.position_qty * payment.mark_price


def test_funding_payment_needs_known_interval() -> None:
    with pytest.raises(ProtocolError, match="XRPUSDT"):
        parse_account.parse_funding_payments(load("transaction_log.json"), {})


def test_funding_payment_malformed_amount() -> None:
    payload = load("transaction_log.json")
    payload["result"]["list"][0]["funding"] = ""
    with pytest.raises(ProtocolError, match="funding"):
        parse_account.parse_funding_payments(payload, {"XRPUSDT": 28_800})


# --- websocket tickers merge and acks ------------------------------------------------------


def test_ticker_snapshot_then_deltas() -> None:
    snapshot = load("ws_tickers_linear_snapshot.json")
    data = snapshot["data"]
    merger = book.TickerMerger()
    funding, mark = merger.linear(snapshot)
    assert mark.mark_price == float(data["markPrice"])
    assert mark.index_price == float(data["indexPrice"])
    assert mark.ts_event_ms == snapshot["ts"]
    assert funding.rate == float(data["fundingRate"])
    assert funding.interval_s == int(data["fundingIntervalHour"]) * 3600
    assert funding.ts_funding_ms == int(data["nextFundingTime"])

    delta = {
        "topic": "tickers.BTCUSDT",
        "type": "delta",
        "data": {"symbol": "BTCUSDT", "markPrice": "66700.10"},
        "cs": snapshot["cs"] + 1,
        "ts": snapshot["ts"] + 100,
    }
    funding2, mark2 = merger.linear(delta)
    assert mark2.mark_price == 66700.10
    assert mark2.index_price == float(data["indexPrice"])  # unchanged field kept
    assert mark2.ts_event_ms == snapshot["ts"] + 100
    assert funding2 == funding

    delta2 = {**delta, "data": {"symbol": "BTCUSDT", "fundingRate": "0.0001"}, "ts": delta["ts"]}
    funding3, mark3 = merger.linear(delta2)
    assert funding3.rate == 0.0001
    assert mark3.mark_price == 66700.10


def test_delta_before_snapshot_and_after_reset() -> None:
    snapshot = load("ws_tickers_linear_snapshot.json")
    delta = {**snapshot, "type": "delta", "data": {"markPrice": "1"}}
    merger = book.TickerMerger()
    with pytest.raises(ProtocolError, match="before its snapshot"):
        merger.apply(delta)
    merger.apply(snapshot)
    assert merger.apply(delta)["markPrice"] == "1"
    merger.reset()
    with pytest.raises(ProtocolError, match="before its snapshot"):
        merger.apply(delta)


@pytest.mark.parametrize(
    "change",
    [{"type": "update"}, {"topic": "orderbook.1.BTCUSDT"}, {"data": []}, {"topic": "tickers."}],
)
def test_malformed_ticker_frame(change: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        book.TickerMerger().apply({**load("ws_tickers_linear_snapshot.json"), **change})


def test_symbol_mismatch_between_topic_and_data() -> None:
    frame = load("ws_tickers_linear_snapshot.json")
    frame["topic"] = "tickers.ETHUSDT"
    with pytest.raises(ProtocolError, match="symbol"):
        book.TickerMerger().apply(frame)


def test_spot_snapshot_merges_but_has_no_mark() -> None:
    frame = load("ws_tickers_spot_snapshot.json")
    merger = book.TickerMerger()
    assert merger.apply(frame)["lastPrice"] == frame["data"]["lastPrice"]
    with pytest.raises(ProtocolError, match=r"fundingIntervalHour|markPrice"):
        merger.linear(frame)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ws_pong_private.json", True),
        ("ws_pong_public_linear.json", True),
        ("ws_pong_public_spot.json", True),
        ("ws_subscribe_ack_private.json", False),
        ("ws_tickers_spot_snapshot.json", False),
    ],
)
def test_is_pong(name: str, expected: bool) -> None:
    assert book.is_pong(load(name)) is expected


@pytest.mark.parametrize(
    ("name", "op"),
    [
        ("ws_auth_success.json", "auth"),
        ("ws_subscribe_ack_private.json", "subscribe"),
        ("ws_subscribe_ack_public_linear.json", "subscribe"),
        ("ws_subscribe_ack_public_spot.json", "subscribe"),
    ],
)
def test_ws_acks_accepted(name: str, op: str) -> None:
    book.check_ws_ack(load(name), op)


def test_ws_acks_failures() -> None:
    failed_auth = {**load("ws_auth_success.json"), "success": False, "ret_msg": "error sign"}
    with pytest.raises(AuthError, match="error sign"):
        book.check_ws_ack(failed_auth, "auth")
    failed_sub = {**load("ws_subscribe_ack_private.json"), "success": False, "ret_msg": "bad"}
    with pytest.raises(ProtocolError, match="bad"):
        book.check_ws_ack(failed_sub, "subscribe")
    with pytest.raises(ProtocolError, match="op"):
        book.check_ws_ack(load("ws_auth_success.json"), "subscribe")


# --- additions: batch create, rate-limit wait, retCode 0 -----------------------------------


def test_batch_create_all_ok() -> None:
    payload = load("create_order_batch.json")
    rows = payload["result"]["list"]
    reqs = [request(r["orderLinkId"], r["symbol"]) for r in rows]
    acks = parse_account.parse_create_order_batch(payload, reqs)
    assert [a.venue_order_id for a in acks if not isinstance(a, VenueError)] == [
        r["orderId"] for r in rows
    ]
    assert all(not isinstance(a, VenueError) and a.ts_event_ms == payload["time"] for a in acks)


def test_batch_create_partial_failure() -> None:
    payload = load("create_order_batch.json")
    rows = payload["result"]["list"]
    reqs = [request(r["orderLinkId"], r["symbol"]) for r in rows]
    rows[1] = {"category": "", "symbol": "", "orderId": "", "orderLinkId": "", "createAt": ""}
    payload["retExtInfo"]["list"][1] = {"code": 170141, "msg": "Duplicate clientOrderId"}
    first, second = parse_account.parse_create_order_batch(payload, reqs)
    assert not isinstance(first, VenueError)
    assert isinstance(second, DuplicateClientOrderId)
    assert second.client_order_id == reqs[1].client_order_id


def test_batch_create_length_mismatch() -> None:
    payload = load("create_order_batch.json")
    with pytest.raises(ProtocolError, match="lengths"):
        parse_account.parse_create_order_batch(payload, [request("spot-btc-03")])


def test_retry_after_from_reset_header() -> None:
    assert parse.retry_after_s_from_reset("1700000001500", now_ms=1_700_000_000_000) == 1.5
    assert parse.retry_after_s_from_reset("1700000000000", now_ms=1_700_000_000_500) == 0.0
    assert parse.retry_after_s_from_reset(None, now_ms=0) is None
    assert parse.retry_after_s_from_reset("soon", now_ms=0) is None


def test_error_from_success_payload_is_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="retCode is 0"):
        parse.error_from_payload(load("set_leverage.json"))


@pytest.mark.parametrize("side", ["buy", "", None, [], {"Buy": 1}])
def test_a_side_that_is_not_buy_or_sell_is_a_protocol_error(side: object) -> None:
    with pytest.raises(ProtocolError, match="bybit payload order\\[0\\]: field 'side'"):
        side_field({"side": side}, "side", "order[0]")
