"""OKX v5 parsing: recorded / doc-sample payloads → value types, contracts → base units."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

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
from venues.model import (
    FundingRate,
    InstrumentId,
    InstrumentKind,
    OrderRequest,
    OrderStatus,
    Side,
)
from venues.okx import parse

FIXTURES = Path(__file__).parent.parent / "fixtures" / "okx-v5"
BTC_SWAP = InstrumentId("okx", InstrumentKind.PERP, "BTC-USDT-SWAP")
ETH_SWAP = InstrumentId("okx", InstrumentKind.PERP, "ETH-USDT-SWAP")
BTC_SPOT = InstrumentId("okx", InstrumentKind.SPOT, "BTC-USDT")
# ctVal of the recorded instruments, read by hand from instruments_swap_btc_eth.json
MULTIPLIERS = {"BTC-USDT-SWAP": Decimal("0.01"), "ETH-USDT-SWAP": Decimal("0.1")}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --- instruments -------------------------------------------------------------------------


def test_swap_instruments_convert_contracts_to_base_units() -> None:
    raw = load("instruments_swap_btc_eth.json")
    got = parse.parse_instruments(raw, {"BTC-USDT-SWAP": 14_400})
    assert set(got) == {BTC_SWAP, ETH_SWAP}
    btc = got[BTC_SWAP]
    assert (btc.base, btc.quote) == ("BTC", "USDT")
    # 1 contract = ctVal 0.01 BTC; lotSz 0.01 contracts = 0.0001 BTC; minSz 0.01 → 0.0001 BTC
    assert btc.contract_multiplier == Decimal("0.01")
    assert btc.lot_step == Decimal("0.0001")
    assert btc.min_qty == Decimal("0.0001")
    assert btc.tick_size == Decimal("0.1")
    assert btc.funding_interval_s == 14_400
    eth = got[ETH_SWAP]
    # ETH: ctVal 0.1 ETH, lotSz/minSz 0.01 contracts = 0.001 ETH, tickSz 0.01
    assert (eth.contract_multiplier, eth.lot_step, eth.min_qty) == (
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.001"),
    )
    assert eth.tick_size == Decimal("0.01")
    assert eth.funding_interval_s is None  # not given: the instruments endpoint lacks it


def test_spot_instrument_is_in_base_units() -> None:
    raw = load("instruments_spot_btc_usdt.json")
    row = raw["data"][0]
    (spot,) = parse.parse_instruments(raw).values()
    assert spot.id == BTC_SPOT
    assert (spot.base, spot.quote) == (row["baseCcy"], row["quoteCcy"])
    assert spot.lot_step == Decimal(row["lotSz"])
    assert spot.min_qty == Decimal(row["minSz"])
    assert spot.tick_size == Decimal(row["tickSz"])
    assert spot.contract_multiplier == 1
    assert spot.funding_interval_s is None
    assert not spot.is_perp


def test_inverse_and_other_instrument_types_are_skipped() -> None:
    raw = load("instruments_swap_btc_eth.json")
    raw["data"][0]["ctType"] = "inverse"
    raw["data"][1]["instType"] = "FUTURES"
    assert parse.parse_instruments(raw) == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [("ctVal", ""), ("tickSz", "abc"), ("lotSz", None), ("ctVal", "0"), ("ctMult", "0")],
)
def test_malformed_instrument_names_field(field: str, value: object) -> None:
    raw = load("instruments_swap_btc_eth.json")
    raw["data"][1][field] = value
    with pytest.raises(ProtocolError, match=field):
        parse.parse_instruments(raw)


def test_contract_multipliers_from_instruments() -> None:
    instruments = parse.parse_instruments(load("instruments_swap_btc_eth.json"))
    assert parse.contract_multipliers(instruments.values()) == MULTIPLIERS


# --- funding -----------------------------------------------------------------------------


def test_current_funding_rate_interval_from_times() -> None:
    raw = load("funding_rate_btc_usdt_swap.json")
    row = raw["data"][0]
    (rate,) = parse.parse_funding_rates(raw)
    assert rate.instrument_id == BTC_SWAP
    assert rate.rate == float(row["fundingRate"])
    assert rate.ts_funding_ms == int(row["fundingTime"]) == 1_703_088_000_000
    assert rate.ts_next_funding_ms == int(row["nextFundingTime"])
    assert rate.interval_s == 8 * 3600  # 1703116800000 − 1703088000000 ms


def test_shortened_funding_interval_is_derived() -> None:
    raw = load("funding_rate_btc_usdt_swap.json")
    row = raw["data"][0]
    row["nextFundingTime"] = str(int(row["fundingTime"]) + 4 * 3_600_000)
    (rate,) = parse.parse_funding_rates(raw)
    assert rate.interval_s == 4 * 3600
    assert parse.funding_interval_s(row) == 14_400


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fundingRate", ""),
        ("fundingRate", "NaN"),
        ("fundingTime", "12:00"),
        ("fundingTime", "\u00b2"),
        ("nextFundingTime", "1703088000000"),
    ],
)
def test_malformed_funding_rate_names_field(field: str, value: str) -> None:
    raw = load("funding_rate_btc_usdt_swap.json")
    raw["data"][0][field] = value
    with pytest.raises(ProtocolError, match=field):
        parse.parse_funding_rates(raw)


def test_funding_history_uses_realized_rate_oldest_first() -> None:
    raw = load("funding_rate_history.json")
    newest, oldest = raw["data"]  # the doc sample is newest first
    got = parse.parse_funding_rate_history(raw)
    assert [r.ts_funding_ms for r in got] == [
        int(oldest["fundingTime"]),
        int(newest["fundingTime"]),
    ]
    assert [r.rate for r in got] == [float(oldest["realizedRate"]), float(newest["realizedRate"])]
    gap_ms = int(newest["fundingTime"]) - int(oldest["fundingTime"])
    assert gap_ms == 28_800_000
    assert all(r.interval_s == 28_800 for r in got)
    assert got[0].ts_next_funding_ms == int(newest["fundingTime"])
    assert got[1].ts_next_funding_ms == int(newest["fundingTime"]) + gap_ms
    assert got[0].instrument_id.symbol == "BTC-USD-SWAP"


def test_funding_history_single_row_needs_fallback() -> None:
    raw = load("funding_rate_history.json")
    raw["data"] = raw["data"][:1]
    with pytest.raises(ProtocolError, match="fallback_interval_s"):
        parse.parse_funding_rate_history(raw)
    (rate,) = parse.parse_funding_rate_history(raw, fallback_interval_s=3600)
    assert rate.interval_s == 3600
    assert rate.ts_next_funding_ms == int(raw["data"][0]["fundingTime"]) + 3_600_000


def test_funding_history_missing_realized_rate() -> None:
    raw = load("funding_rate_history.json")
    del raw["data"][1]["realizedRate"]
    with pytest.raises(ProtocolError, match="realizedRate"):
        parse.parse_funding_rate_history(raw)


# --- marks, tickers, candles ---------------------------------------------------------------


def test_mark_price() -> None:
    raw = load("mark_price.json")
    (mark,) = parse.parse_mark_prices(raw)
    assert mark.instrument_id == BTC_SWAP
    assert mark.mark_price == float(raw["data"][0]["markPx"])
    assert mark.ts_event_ms == int(raw["data"][0]["ts"])


def test_ticker_quote() -> None:
    raw = load("ticker.json")
    row = raw["data"][0]
    (quote,) = parse.parse_tickers(raw)
    assert quote.instrument_id.symbol == row["instId"]
    assert (quote.bid, quote.ask) == (float(row["bidPx"]), float(row["askPx"]))
    assert quote.ts_event_ms == int(row["ts"])


def test_candles_sorted_closed_only_and_volume_in_base() -> None:
    raw = load("candles.json")
    raw["data"][0][0] = str(int(raw["data"][1][0]) + 60_000)  # make rows newest first
    raw["data"][0][8] = "1"
    raw["data"][1][8] = "1"
    newest, oldest = raw["data"]
    bars = parse.parse_candles(raw, BTC_SWAP, 60)
    assert [b.ts_open_ms for b in bars] == [int(oldest[0]), int(newest[0])]
    assert bars[0].ts_close_ms == int(oldest[0]) + 60_000
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close) == tuple(
        float(x) for x in oldest[1:5]
    )
    assert bars[0].volume == float(oldest[6])  # SWAP: volCcy is base; vol counts contracts
    spot_bars = parse.parse_candles(raw, BTC_SPOT, 60)
    assert spot_bars[0].volume == float(oldest[5])  # SPOT: vol is base


def test_forming_candles_dropped_unless_asked() -> None:
    raw = load("candles.json")  # both rows have confirm "0"
    assert parse.parse_candles(raw, BTC_SWAP, 60) == []
    assert len(parse.parse_candles(raw, BTC_SWAP, 60, closed_only=False)) == 2


def test_mark_price_candles_have_zero_volume() -> None:
    raw = load("mark_price_candles.json")
    bars = parse.parse_candles(raw, BTC_SWAP, 60, mark_price=True)
    assert len(bars) == 1  # only the second row is confirmed
    assert bars[0].close == float(raw["data"][1][4])
    assert bars[0].volume == 0.0


@pytest.mark.parametrize("row", [["1597026383085", "1"], ["x", "1", "1", "1", "1", "1", "1", "1"]])
def test_malformed_candle_row(row: list[str]) -> None:
    raw = {"code": "0", "msg": "", "data": [row]}
    with pytest.raises(ProtocolError):
        parse.parse_candles(raw, BTC_SWAP, 60)


# --- orders ------------------------------------------------------------------------------


def _request(client_order_id: str, qty: str = "0.01") -> OrderRequest:
    return OrderRequest(client_order_id, BTC_SWAP, Side.BUY, Decimal(qty))


def test_place_order_ack() -> None:
    raw = load("place_order.json")
    row = raw["data"][0]
    ack = parse.parse_place_order(raw, _request(row["clOrdId"]))
    assert ack.status is OrderStatus.NEW
    assert ack.venue_order_id == row["ordId"]
    assert ack.client_order_id == row["clOrdId"]
    assert ack.ts_event_ms == int(row["ts"])
    assert (ack.qty, ack.filled_qty, ack.avg_price) == (Decimal("0.01"), 0, None)


def test_place_order_echoing_another_id_is_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="clOrdId"):
        parse.parse_place_order(load("place_order.json"), _request("other1"))


@pytest.mark.parametrize(
    ("index", "error_type", "code"),
    [(3, InsufficientMargin, "51008"), (4, DuplicateClientOrderId, "51016")],
)
def test_place_order_failures_raise_classified(
    index: int, error_type: type[OrderRejected], code: str
) -> None:
    raw = load("errors.json")[index]
    with pytest.raises(error_type) as info:
        parse.parse_place_order(raw, _request("oktswap6"))
    assert info.value.code == code
    assert info.value.client_order_id == "oktswap6"
    assert info.value.reason == raw["data"][0]["sMsg"]


def test_recorded_all_failed_is_generic_rejection() -> None:
    raw = load("place_order_all_failed_recorded.json")
    with pytest.raises(OrderRejected) as info:
        parse.parse_place_order(raw, _request("zb1"))
    assert type(info.value) is OrderRejected
    assert info.value.code == "51094"
    assert info.value.client_order_id == "zb1"  # the item echoes an empty clOrdId


def test_batch_orders_all_accepted_in_request_order() -> None:
    raw = load("batch_orders.json")
    requests = [_request(item["clOrdId"]) for item in raw["data"]]
    acks = parse.parse_batch_orders(raw, requests)
    assert [a.venue_order_id for a in acks if not isinstance(a, VenueError)] == [
        item["ordId"] for item in raw["data"]
    ]


def test_batch_partial_success_returns_errors_per_item() -> None:
    raw = load("batch_orders.json")
    raw["code"] = "2"
    raw["data"][1].update(ordId="", sCode="51020", sMsg="Order amount below minimum")
    requests = [_request(item["clOrdId"]) for item in raw["data"]]
    first, second = parse.parse_batch_orders(raw, requests)
    assert not isinstance(first, VenueError)
    assert first.status is OrderStatus.NEW
    assert isinstance(second, InvalidOrder)
    assert second.client_order_id == raw["data"][1]["clOrdId"]


def test_batch_count_mismatch() -> None:
    with pytest.raises(ProtocolError, match="items"):
        parse.parse_batch_orders(load("batch_orders.json"), [_request("oktswap6")])


def test_cancel_order_accepted() -> None:
    raw = load("cancel_order.json")
    result = parse.parse_cancel_order(raw)
    assert result == parse.WriteResult(
        raw["data"][0]["ordId"], raw["data"][0]["clOrdId"], int(raw["data"][0]["ts"])
    )


def test_cancel_of_final_order_is_not_found() -> None:
    raw = load("cancel_order.json")
    raw["code"] = "1"
    raw["data"][0].update(sCode="51400", sMsg="Order cancellation failed")
    with pytest.raises(OrderNotFound):
        parse.parse_cancel_order(raw)


def test_spot_quote_sized_order_details() -> None:
    raw = load("order_details.json")
    row = raw["data"][0]
    ack = parse.parse_order(raw, {})
    assert ack.instrument_id == BTC_SPOT
    assert ack.status is OrderStatus.FILLED
    assert ack.side is Side.BUY
    # market buy of sz=100 USDT (tgtCcy quote_ccy): base qty is what filled, 0.00192834 BTC
    assert ack.qty == ack.filled_qty == Decimal("0.00192834")
    assert ack.avg_price == Decimal("51858")
    assert abs(ack.filled_qty * ack.avg_price - Decimal(row["sz"])) < Decimal("0.01")
    assert ack.ts_event_ms == int(row["uTime"])


def test_swap_order_details_in_base_units() -> None:
    raw = load("order_details.json")
    raw["data"][0].update(
        instType="SWAP",
        instId="BTC-USDT-SWAP",
        sz="3",
        accFillSz="1",
        state="partially_filled",
        tgtCcy="",
        avgPx="",
    )
    ack = parse.parse_order(raw, MULTIPLIERS)
    # 3 contracts × 0.01 BTC = 0.03 BTC; 1 contract filled = 0.01 BTC
    assert (ack.qty, ack.filled_qty) == (Decimal("0.03"), Decimal("0.01"))
    assert ack.status is OrderStatus.PARTIALLY_FILLED
    assert ack.avg_price is None


def test_swap_order_without_multiplier() -> None:
    raw = load("order_details.json")
    raw["data"][0].update(instType="SWAP", instId="SOL-USDT-SWAP")
    with pytest.raises(ProtocolError, match="SOL-USDT-SWAP"):
        parse.parse_order(raw, MULTIPLIERS)


@pytest.mark.parametrize(("field", "value"), [("state", "weird"), ("uTime", ""), ("ordId", "")])
def test_malformed_order_names_field(field: str, value: str) -> None:
    raw = load("order_details.json")
    raw["data"][0][field] = value
    with pytest.raises(ProtocolError, match=field):
        parse.parse_order(raw, {})


# --- account -----------------------------------------------------------------------------


def _swap_position(raw: dict[str, Any], **changes: str) -> dict[str, Any]:
    """The doc sample is a FUTURES row; SWAP rows share the keys (OKX "Get positions",
    https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-positions)."""
    row = raw["data"][0]
    row.update(instType="SWAP", instId="ETH-USDT-SWAP", **changes)
    return raw


def test_positions_doc_sample_is_futures_and_rejected() -> None:
    with pytest.raises(ProtocolError, match="instType"):
        parse.parse_positions(load("positions.json"), MULTIPLIERS)


def test_long_position_in_base_units() -> None:
    raw = _swap_position(load("positions.json"))
    row = raw["data"][0]
    (pos,) = parse.parse_positions(raw, MULTIPLIERS)
    assert pos.instrument_id == ETH_SWAP
    assert pos.qty == Decimal("0.1")  # pos 1 contract × ctVal 0.1 ETH
    assert pos.entry_price == Decimal(row["avgPx"])
    assert pos.mark_price == Decimal(row["markPx"])
    assert pos.ts_event_ms == int(row["uTime"])


def test_position_liquidation_price() -> None:
    """``liqPx`` of the recorded row (quote units, not scaled by the contract value)."""
    (pos,) = parse.parse_positions(_swap_position(load("positions.json")), MULTIPLIERS)
    assert pos.liquidation_price == Decimal("2352.8496681818233")
    (none,) = parse.parse_positions(_swap_position(load("positions.json"), liqPx=""), MULTIPLIERS)
    assert none.liquidation_price is None


@pytest.mark.parametrize(
    ("pos_side", "pos", "expected"),
    [("short", "2", Decimal("-0.2")), ("net", "-3", Decimal("-0.3")), ("net", "5", Decimal("0.5"))],
)
def test_position_sign(pos_side: str, pos: str, expected: Decimal) -> None:
    raw = _swap_position(load("positions.json"), posSide=pos_side, pos=pos)
    (position,) = parse.parse_positions(raw, MULTIPLIERS)
    assert position.qty == expected


def test_balances() -> None:
    raw = load("balance.json")
    detail = raw["data"][0]["details"][0]
    (usdt,) = parse.parse_balances(raw)
    assert usdt.venue == "okx"
    assert usdt.asset == "USDT"
    assert usdt.total == Decimal(detail["cashBal"])
    assert usdt.available == Decimal(detail["availBal"])
    assert usdt.ts_event_ms == int(detail["uTime"])


def test_balance_falls_back_to_avail_eq() -> None:
    raw = load("balance.json")
    detail = raw["data"][0]["details"][0]
    detail["availBal"] = ""
    (usdt,) = parse.parse_balances(raw)
    assert usdt.available == Decimal(detail["availEq"])


def test_balance_missing_details() -> None:
    raw = load("balance.json")
    del raw["data"][0]["details"]
    with pytest.raises(ProtocolError, match="details"):
        parse.parse_balances(raw)


def _funding_bill(sub_type: str, pnl: str, sz: str = "2") -> dict[str, Any]:
    """The bills doc sample is a SPOT trade; a funding bill shares the shape (OKX "Get bills details
    (last 7 days)",
    https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-bills-details-last-7-days)."""
    raw = load("bills.json")
    trade_bill = copy.deepcopy(raw["data"][0])
    raw["data"][0].update(
        instType="SWAP", instId="BTC-USDT-SWAP", type="8", subType=sub_type, pnl=pnl, sz=sz
    )
    raw["data"].append(trade_bill)  # type 2 (trade) must be skipped
    return raw


RATE = FundingRate(BTC_SWAP, 0.0001, 28_800, 1_695_033_476_000, 1_695_062_276_000)


def test_funding_expense_of_a_long() -> None:
    raw = _funding_bill("173", "-0.054")
    (payment,) = parse.parse_funding_payments(raw, MULTIPLIERS, [RATE])
    # 2 contracts × 0.01 = 0.02 BTC; paid 0.054 USDT at rate 0.0001 → mark 0.054/0.000002
    assert payment.amount_usd == Decimal("-0.054")
    assert payment.position_qty == Decimal("0.02")
    assert payment.mark_price == Decimal("27000")
    assert payment.rate == RATE.rate
    assert payment.interval_s == 28_800
    assert payment.ts_funding_ms == int(raw["data"][0]["ts"])
    rate = Decimal(str(payment.rate))
    assert payment.amount_usd == -rate * payment.position_qty * payment.mark_price


def test_funding_income_of_a_short() -> None:
    raw = _funding_bill("174", "0.054")
    (payment,) = parse.parse_funding_payments(raw, MULTIPLIERS, [RATE])
    assert payment.amount_usd == Decimal("0.054")
    assert payment.position_qty == Decimal("-0.02")


def test_funding_bill_without_rate() -> None:
    raw = _funding_bill("173", "-0.054")
    with pytest.raises(ProtocolError, match="no funding rate"):
        parse.parse_funding_payments(raw, MULTIPLIERS, [])


def test_funding_bill_bad_subtype() -> None:
    raw = _funding_bill("1", "-0.054")
    with pytest.raises(ProtocolError, match="subType"):
        parse.parse_funding_payments(raw, MULTIPLIERS, [RATE])


# --- WebSocket ---------------------------------------------------------------------------


def test_ws_funding_rate_push() -> None:
    msg = load("ws_funding_rate_push.json")
    row = msg["data"][0]
    (rate,) = parse.parse_ws_funding_rates(msg)
    assert rate.instrument_id.symbol == row["instId"]
    assert rate.rate == float(row["fundingRate"])
    assert rate.interval_s * 1000 == int(row["nextFundingTime"]) - int(row["fundingTime"])


def test_ws_mark_price_push() -> None:
    msg = load("ws_mark_price_push.json")
    with pytest.raises(ProtocolError, match="instType"):  # doc sample is a FUTURES contract
        parse.parse_ws_mark_prices(msg)
    msg["data"][0].update(instType="SWAP", instId="BTC-USDT-SWAP")
    (mark,) = parse.parse_ws_mark_prices(msg)
    assert mark.instrument_id == BTC_SWAP
    assert mark.mark_price == float(msg["data"][0]["markPx"])
    assert mark.ts_event_ms == int(msg["data"][0]["ts"])


def test_ws_tickers_push() -> None:
    msg = load("ws_tickers_push.json")
    row = msg["data"][0]
    (quote,) = parse.parse_ws_tickers(msg)
    assert quote.instrument_id == BTC_SPOT
    assert quote.mid == (float(row["bidPx"]) + float(row["askPx"])) / 2


def test_ws_push_of_other_channel() -> None:
    with pytest.raises(ProtocolError, match=r"arg\.channel"):
        parse.parse_ws_tickers(load("ws_mark_price_push.json"))


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "error_type"), [(0, RateLimited), (1, AuthError), (2, AuthError)]
)
def test_error_envelopes(index: int, error_type: type[VenueError]) -> None:
    raw = load("errors.json")[index]
    error = parse.error_from_payload(raw, "okx")
    assert type(error) is error_type
    assert error.code == raw["code"]
    assert raw["msg"] in str(error)


def test_rate_limit_carries_retry_after() -> None:
    error = parse.error_from_payload(load("errors.json")[0], "okx")
    assert isinstance(error, RateLimited)
    assert error.retry_after_s > 0


def test_error_envelope_raised_by_parsers() -> None:
    with pytest.raises(AuthError):
        parse.parse_mark_prices(load("errors.json")[1])


@pytest.mark.parametrize("code", ["50004", "51149"])
def test_outcome_unknown_codes_are_unavailable(code: str) -> None:
    error = parse.error_from_payload({"code": code, "msg": "timeout", "data": []}, "okx", "a1")
    assert isinstance(error, VenueUnavailable)


def test_ws_login_error_is_auth() -> None:
    error = parse.error_from_payload(load("ws_login_error.json"), "okx")
    assert isinstance(error, AuthError)
    assert error.code == "60009"


def test_rejection_code_without_client_id_is_generic() -> None:
    error = parse.error_from_payload({"code": "51008", "msg": "x"}, "okx")
    assert type(error) is VenueError


@pytest.mark.parametrize("payload", [[], {"msg": "no code"}, {"code": 50011}])
def test_error_from_malformed_payload(payload: object) -> None:
    error = parse.error_from_payload(payload, "okx")
    assert isinstance(error, ProtocolError)
    assert "code" in str(error)


@pytest.mark.parametrize(
    "payload", [[], {"code": "0", "data": {}}, {"code": "0", "data": ["x"]}, "text"]
)
def test_malformed_envelope(payload: object) -> None:
    with pytest.raises(ProtocolError):
        parse.parse_funding_rates(payload)
