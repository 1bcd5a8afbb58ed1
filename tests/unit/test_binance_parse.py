"""Binance parsers against the recorded / documented payloads in tests/fixtures."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from venues.binance import parse
from venues.binance.constants import DEFAULT_FUNDING_INTERVAL_S, DEFAULT_RETRY_AFTER_S
from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    VenueError,
)
from venues.model import (
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderStatus,
    Side,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
PERP = InstrumentKind.PERP
SPOT = InstrumentKind.SPOT


def load(product: str, name: str) -> Any:
    with (FIXTURES / product / f"{name}.json").open(encoding="utf-8") as f:
        return json.load(f)


def usdm(name: str) -> Any:
    return load("binance-usdm", name)


def spot(name: str) -> Any:
    return load("binance-spot", name)


def filters_of(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["filterType"]: f for f in raw["filters"]}


# --- instruments -------------------------------------------------------------------------


def test_usdm_exchange_info_reads_filters_and_default_interval() -> None:
    raw = usdm("exchange_info_btc_eth")
    instruments = parse.parse_exchange_info(raw, PERP)
    assert [i.id.symbol for i in instruments] == [s["symbol"] for s in raw["symbols"]]
    for inst, sym in zip(instruments, raw["symbols"], strict=True):
        f = filters_of(sym)
        assert inst.id == InstrumentId("binance", PERP, sym["symbol"])
        assert inst.tick_size == Decimal(f["PRICE_FILTER"]["tickSize"])
        step = max(Decimal(f["LOT_SIZE"]["stepSize"]), Decimal(f["MARKET_LOT_SIZE"]["stepSize"]))
        assert inst.lot_step == step
        assert inst.min_qty == max(
            Decimal(f["LOT_SIZE"]["minQty"]), Decimal(f["MARKET_LOT_SIZE"]["minQty"])
        )
        assert inst.min_notional_usd == Decimal(f["MIN_NOTIONAL"]["notional"])
        assert (inst.base, inst.quote) == (sym["baseAsset"], sym["quoteAsset"])
        assert inst.funding_interval_s == 8 * 3600
        assert inst.contract_multiplier == 1


def test_funding_info_overrides_interval() -> None:
    info = usdm("funding_info")
    intervals = parse.parse_funding_info(info)
    assert intervals == {r["symbol"]: r["fundingIntervalHours"] * 3600 for r in info}
    raw = usdm("exchange_info_btc_eth")
    symbol = raw["symbols"][0]["symbol"]
    instruments = parse.parse_exchange_info(raw, PERP, {symbol: 4 * 3600})
    assert instruments[0].funding_interval_s == 4 * 3600
    assert instruments[1].funding_interval_s == DEFAULT_FUNDING_INTERVAL_S


def test_exchange_info_skips_non_trading_and_non_perpetual() -> None:
    raw = usdm("exchange_info_btc_eth")
    raw["symbols"][0]["status"] = "SETTLING"
    raw["symbols"][1]["contractType"] = "CURRENT_QUARTER"
    assert parse.parse_exchange_info(raw, PERP) == []


def test_spot_exchange_info_uses_notional_filter_and_ignores_zero_market_lot() -> None:
    raw = spot("exchange_info_btc_eth")
    instruments = parse.parse_exchange_info(raw, SPOT)
    for inst, sym in zip(instruments, raw["symbols"], strict=True):
        f = filters_of(sym)
        assert inst.id.kind is SPOT
        assert inst.tick_size == Decimal(f["PRICE_FILTER"]["tickSize"])
        assert inst.lot_step == Decimal(f["LOT_SIZE"]["stepSize"])
        assert inst.min_qty == Decimal(f["LOT_SIZE"]["minQty"])
        assert inst.min_notional_usd == Decimal(f["NOTIONAL"]["minNotional"])
        assert inst.funding_interval_s is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: s["filters"].pop(0), "PRICE_FILTER"),
        (lambda s: s.pop("baseAsset"), "baseAsset"),
        (lambda s: s["filters"][0].update(tickSize="abc"), "tickSize"),
        (lambda s: s["filters"][0].update(tickSize="0"), "tickSize"),
        (lambda s: s["filters"][1].update(stepSize=None), "stepSize"),
        (lambda s: s.update(filters={}), "filters"),
    ],
)
def test_malformed_instrument_raises_protocol_error(mutate: Any, field: str) -> None:
    sym = copy.deepcopy(usdm("exchange_info_btc_eth")["symbols"][0])
    mutate(sym)
    with pytest.raises(ProtocolError, match=field) as info:
        parse.parse_instrument(sym, PERP)
    assert info.value.venue == "binance"


def test_malformed_funding_info_raises() -> None:
    with pytest.raises(ProtocolError, match="fundingIntervalHours"):
        parse.parse_funding_info([{"symbol": "X", "fundingIntervalHours": "8"}])


# --- funding and marks -------------------------------------------------------------------


def test_premium_index_is_predicted_rate_for_next_funding_time() -> None:
    raw = usdm("premium_index_btcusdt")
    funding, mark = parse.parse_premium_index(raw)
    assert funding.instrument_id.symbol == raw["symbol"]
    assert funding.rate == float(raw["lastFundingRate"])
    assert funding.ts_funding_ms == raw["nextFundingTime"]
    assert funding.ts_next_funding_ms == raw["nextFundingTime"] + 8 * 3_600_000
    assert funding.interval_s == 28_800
    assert funding.mark_price is None
    assert mark.mark_price == float(raw["markPrice"])
    assert mark.index_price == float(raw["indexPrice"])
    assert mark.ts_event_ms == raw["time"]


def test_premium_index_list_accepts_object_and_array() -> None:
    rows = usdm("premium_index_all")
    pairs = parse.parse_premium_index_list(rows, {rows[0]["symbol"]: 3600})
    assert [f.instrument_id.symbol for f, _ in pairs] == [r["symbol"] for r in rows]
    assert pairs[0][0].interval_s == 3600
    single = parse.parse_premium_index_list(usdm("premium_index_btcusdt"))
    assert len(single) == 1


def test_premium_index_malformed() -> None:
    raw = usdm("premium_index_btcusdt")
    del raw["nextFundingTime"]
    with pytest.raises(ProtocolError, match="nextFundingTime"):
        parse.parse_premium_index(raw)
    with pytest.raises(ProtocolError, match="lastFundingRate"):
        parse.parse_premium_index({**usdm("premium_index_btcusdt"), "lastFundingRate": "nan"})


def test_funding_history_interval_from_consecutive_times() -> None:
    rows = usdm("funding_rate_history")
    rates = parse.parse_funding_history(rows)
    gap_ms = rows[1]["fundingTime"] - rows[0]["fundingTime"]
    assert [r.rate for r in rates] == [float(r["fundingRate"]) for r in rows]
    assert [r.ts_funding_ms for r in rates] == [r["fundingTime"] for r in rows]
    assert all(r.interval_s == gap_ms // 1000 for r in rates)
    assert rates[0].ts_next_funding_ms == rows[1]["fundingTime"]
    assert rates[1].ts_next_funding_ms == rows[1]["fundingTime"] + gap_ms
    assert rates[0].mark_price == float(rows[0]["markPrice"])


def test_funding_history_single_row_uses_default_and_empty_is_empty() -> None:
    rows = usdm("funding_rate_history")[:1]
    (rate,) = parse.parse_funding_history(rows, default_interval_s=14_400)
    assert rate.interval_s == 14_400
    assert rate.ts_next_funding_ms == rows[0]["fundingTime"] + 14_400_000
    assert parse.parse_funding_history([]) == []


def test_funding_history_rejects_unordered_and_mixed() -> None:
    rows = usdm("funding_rate_history")
    with pytest.raises(ProtocolError, match="fundingTime"):
        parse.parse_funding_history(list(reversed(rows)))
    mixed = copy.deepcopy(rows)
    mixed[1]["symbol"] = "ETHUSDT"
    with pytest.raises(ProtocolError, match="symbol"):
        parse.parse_funding_history(mixed)


@pytest.mark.parametrize(
    "name", ["ws_mark_price_btcusdt", "ws_mark_price_all_market", "ws_mark_price_combined"]
)
def test_ws_mark_price_frames(name: str) -> None:
    frame = usdm(name)
    events = frame if isinstance(frame, list) else [frame.get("data", frame)]
    pairs = parse.parse_ws_mark_price(frame)
    assert len(pairs) == len(events)
    for (mark, funding), event in zip(pairs, events, strict=True):
        assert mark.instrument_id.symbol == event["s"]
        assert mark.mark_price == float(event["p"])
        assert mark.index_price == float(event["i"])
        assert mark.ts_event_ms == event["E"]
        assert funding.rate == float(event["r"])
        assert funding.ts_funding_ms == event["T"]
        assert funding.ts_next_funding_ms == event["T"] + 28_800_000


def test_ws_mark_price_malformed() -> None:
    frame = usdm("ws_mark_price_btcusdt")
    with pytest.raises(ProtocolError, match="'e'"):
        parse.parse_ws_mark_price({**frame, "e": "kline"})
    del frame["p"]
    with pytest.raises(ProtocolError, match="'p'"):
        parse.parse_ws_mark_price(frame)


# --- klines ------------------------------------------------------------------------------


@pytest.mark.parametrize(("product", "kind"), [("binance-usdm", PERP), ("binance-spot", SPOT)])
def test_klines(product: str, kind: InstrumentKind) -> None:
    rows = load(product, "klines")
    iid = InstrumentId("binance", kind, "BTCUSDT")
    bars = parse.parse_klines(rows, iid)
    for bar, row in zip(bars, rows, strict=True):
        assert bar.instrument_id == iid
        assert bar.ts_open_ms == row[0]
        assert bar.ts_close_ms == row[6] + 1  # half-open bar
        assert (bar.open, bar.high, bar.low, bar.close) == tuple(float(x) for x in row[1:5])
        assert bar.volume == float(row[5])


@pytest.mark.parametrize(
    ("row", "field"),
    [([1, "1", "2"], "columns"), ([1, "x", "2", "1", "1", "1", 2], "open"), ("r", "array")],
)
def test_klines_malformed(row: Any, field: str) -> None:
    with pytest.raises(ProtocolError, match=field):
        parse.parse_klines([row], InstrumentId("binance", PERP, "BTCUSDT"))


# --- orders ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["new_order_limit_recorded", "query_order", "cancel_order"])
def test_usdm_order_responses(name: str) -> None:
    raw = usdm(name)
    ack = parse.parse_order(raw, PERP)
    assert ack.client_order_id == raw["clientOrderId"]
    assert ack.venue_order_id == str(raw["orderId"])
    assert ack.instrument_id == InstrumentId("binance", PERP, raw["symbol"])
    assert ack.side is Side(raw["side"].lower())
    assert ack.status is OrderStatus(raw["status"].lower())
    assert ack.qty == Decimal(raw["origQty"])
    assert ack.filled_qty == Decimal(raw["executedQty"])
    assert ack.avg_price is None  # nothing filled in these samples
    assert ack.ts_event_ms == raw["updateTime"]
    assert ack.fills == ()


def test_usdm_filled_order_reads_avg_price() -> None:
    raw = usdm("new_order_limit_recorded")
    raw.update(status="FILLED", executedQty=raw["origQty"], avgPrice="110001.50")
    ack = parse.parse_order(raw, PERP)
    assert ack.status is OrderStatus.FILLED
    assert ack.avg_price == Decimal("110001.50")
    assert ack.filled_qty == Decimal(raw["origQty"])


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("PARTIALLY_FILLED", OrderStatus.PARTIALLY_FILLED),
        ("REJECTED", OrderStatus.REJECTED),
        ("EXPIRED", OrderStatus.EXPIRED),
        ("EXPIRED_IN_MATCH", OrderStatus.EXPIRED),
    ],
)
def test_status_mapping(status: str, expected: OrderStatus) -> None:
    raw = {**usdm("query_order"), "status": status}
    assert parse.parse_order(raw, PERP).status is expected


def test_batch_result_items_split_into_orders_and_errors() -> None:
    items = usdm("batch_orders_mixed_result")
    kinds = [parse.is_error_payload(item) for item in items]
    assert kinds == [("code" in item) for item in items]
    ack = parse.parse_order(items[0], PERP)
    assert ack.client_order_id == items[0]["clientOrderId"]
    err = parse.error_from_payload(items[1], client_order_id="b")
    assert isinstance(err, InvalidOrder)
    assert err.code == str(items[1]["code"])
    assert not parse.is_error_payload({"code": 200, "msg": "success"})


def test_spot_full_response_builds_fills_in_usd() -> None:
    raw = spot("new_order_full")
    ack = parse.parse_order(raw, SPOT)
    executed = Decimal(raw["executedQty"])
    assert ack.instrument_id == InstrumentId("binance", SPOT, raw["symbol"])
    assert ack.status is OrderStatus.FILLED
    assert ack.side is Side.SELL
    assert ack.ts_event_ms == raw["transactTime"]
    assert ack.avg_price == Decimal(raw["cummulativeQuoteQty"]) / executed
    assert len(ack.fills) == len(raw["fills"])
    for fill, row in zip(ack.fills, raw["fills"], strict=True):
        assert fill.trade_id == str(row["tradeId"])
        assert fill.qty == Decimal(row["qty"])
        assert fill.price == Decimal(row["price"])
        assert row["commissionAsset"] == "USDT"
        assert fill.fee_usd == Decimal(row["commission"])
        assert fill.liquidity is Liquidity.TAKER
        assert fill.client_order_id == raw["clientOrderId"]


def test_spot_fill_fee_in_base_or_other_asset() -> None:
    raw = spot("new_order_full")
    raw["fills"] = raw["fills"][:1]
    raw["fills"][0]["commissionAsset"] = "BTC"
    fill = parse.parse_order(raw, SPOT).fills[0]
    row = raw["fills"][0]
    assert fill.fee_usd == Decimal(row["commission"]) * Decimal(row["price"])
    raw["fills"][0]["commissionAsset"] = "BNB"
    with pytest.raises(ProtocolError, match="BNB"):
        parse.parse_order(raw, SPOT)
    priced = parse.parse_order(raw, SPOT, {"BNB": Decimal("600")}).fills[0]
    assert priced.fee_usd == Decimal(row["commission"]) * 600


def test_spot_result_and_query_responses() -> None:
    result = spot("new_order_result")
    ack = parse.parse_order(result, SPOT)
    assert ack.fills == ()
    assert ack.filled_qty == Decimal(result["executedQty"])
    query = spot("query_order")
    q_ack = parse.parse_order(query, SPOT)
    assert q_ack.status is OrderStatus.NEW
    assert q_ack.avg_price is None
    assert q_ack.ts_event_ms == query["updateTime"]


def test_spot_ack_response_is_rejected_as_incomplete() -> None:
    with pytest.raises(ProtocolError, match="executedQty"):
        parse.parse_order(spot("new_order_ack"), SPOT)


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "WEIRD"), ("side", "HOLD"), ("orderId", "12"), ("executedQty", None)],
)
def test_malformed_order(field: str, value: Any) -> None:
    raw = {**usdm("query_order"), field: value}
    with pytest.raises(ProtocolError, match=field):
        parse.parse_order(raw, PERP)


def test_order_without_timestamp() -> None:
    raw = usdm("query_order")
    del raw["updateTime"], raw["time"]
    with pytest.raises(ProtocolError, match="updateTime"):
        parse.parse_order(raw, PERP)


# --- user data events --------------------------------------------------------------------


def test_usdm_order_trade_update_new() -> None:
    frame = usdm("ws_user_order_update_new")
    o = frame["o"]
    assert parse.event_type(frame) == "ORDER_TRADE_UPDATE"
    ack = parse.parse_order_event(frame)
    assert ack.instrument_id == InstrumentId("binance", PERP, o["s"])
    assert ack.client_order_id == o["c"]
    assert ack.venue_order_id == str(o["i"])
    assert ack.status is OrderStatus.NEW
    assert ack.qty == Decimal(o["q"])
    assert ack.filled_qty == Decimal(o["z"])
    assert ack.avg_price is None
    assert ack.ts_event_ms == o["T"]
    assert ack.fills == ()


def test_usdm_order_trade_update_trade_yields_fill() -> None:
    frame = usdm("ws_user_order_update_new")
    o = frame["o"]
    o.update(x="TRADE", X="FILLED", z=o["q"], l=o["q"], L="7100.5", ap="7100.5", n="0.0028",
             t=42, m=True)  # fmt: skip
    ack = parse.parse_order_event(frame)
    assert ack.status is OrderStatus.FILLED
    assert ack.avg_price == Decimal("7100.5")
    (fill,) = ack.fills
    assert fill.qty == Decimal(o["q"])
    assert fill.price == Decimal("7100.5")
    assert fill.trade_id == "42"
    assert o["N"] == "USDT"
    assert fill.fee_usd == Decimal("0.0028")
    assert fill.liquidity is Liquidity.MAKER
    assert fill.side is Side.BUY


def test_spot_execution_report() -> None:
    frame = spot("user_data_execution_report")
    event = frame["event"]
    assert parse.event_type(frame) == "executionReport"
    ack = parse.parse_order_event(frame)
    assert ack.instrument_id == InstrumentId("binance", SPOT, event["s"])
    assert ack.client_order_id == event["c"]  # "C" is empty on a NEW event
    assert ack.status is OrderStatus.NEW
    assert ack.qty == Decimal(event["q"])
    assert ack.reject_reason is None
    assert ack.fills == ()


def test_spot_execution_report_trade_and_cancel() -> None:
    frame = spot("user_data_execution_report")
    event = frame["event"]
    event.update(x="TRADE", X="PARTIALLY_FILLED", l="0.4", z="0.4", L="0.1", Z="0.04", n="0.0004",
                 N="ETH", t=7)  # fmt: skip
    with pytest.raises(ProtocolError, match="ETH"):  # ETHBTC: quote is not USD
        parse.parse_order_event(frame)
    ack = parse.parse_order_event(frame, {"ETH": Decimal("3000")})
    assert ack.status is OrderStatus.PARTIALLY_FILLED
    assert ack.avg_price == Decimal("0.04") / Decimal("0.4")
    (fill,) = ack.fills
    assert fill.fee_usd == Decimal("0.0004") * 3000
    assert fill.liquidity is Liquidity.TAKER
    assert fill.trade_id == "7"
    frame2 = spot("user_data_execution_report")
    frame2["event"].update(x="CANCELED", X="CANCELED", C="orig-id", c="cancel-id")
    assert parse.parse_order_event(frame2).client_order_id == "orig-id"


def test_order_event_rejects_other_events() -> None:
    with pytest.raises(ProtocolError, match="'e'"):
        parse.parse_order_event({"e": "ACCOUNT_UPDATE"})
    with pytest.raises(ProtocolError, match="'e'"):
        parse.event_type({"E": 1})


# --- account -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["position_risk_v3_one_way", "position_risk_v3_hedge"])
def test_position_risk(name: str) -> None:
    rows = usdm(name)
    positions = parse.parse_position_risk(rows)
    assert len(positions) == len(rows)
    for pos, row in zip(positions, rows, strict=True):
        assert pos.instrument_id == InstrumentId("binance", PERP, row["symbol"])
        assert pos.qty == Decimal(row["positionAmt"])
        assert pos.entry_price == Decimal(row["entryPrice"])
        assert pos.mark_price == Decimal(row["markPrice"])
        assert pos.ts_event_ms == row["updateTime"]


def test_position_risk_liquidation_price() -> None:
    """``liquidationPrice`` of the recorded rows: ``"0"`` (no liquidation price: the ADA long
    on a cross account) → None; the COMP short's ``"2260.56757210"``."""
    ada, comp = parse.parse_position_risk(usdm("position_risk_v3_hedge"))
    assert ada.liquidation_price is None
    assert comp.liquidation_price == Decimal("2260.56757210")
    (one_way,) = parse.parse_position_risk(usdm("position_risk_v3_one_way"))
    assert one_way.liquidation_price is None
    row = usdm("position_risk_v3_one_way")[0]
    (absent,) = parse.parse_position_risk(
        [{k: v for k, v in row.items() if k != "liquidationPrice"}]
    )
    assert absent.liquidation_price is None
    with pytest.raises(ProtocolError, match="liquidationPrice"):
        parse.parse_position_risk([{**row, "liquidationPrice": "x"}])


def test_position_risk_skips_flat_and_rejects_malformed() -> None:
    rows = usdm("position_risk_v3_one_way")
    assert parse.parse_position_risk([{**rows[0], "positionAmt": "0.000"}]) == []
    with pytest.raises(ProtocolError, match="entryPrice"):
        parse.parse_position_risk([{**rows[0], "entryPrice": ""}])


def test_futures_balances() -> None:
    rows = usdm("balance_v3")
    balances = parse.parse_futures_balances(rows)
    for bal, row in zip(balances, rows, strict=True):
        assert (bal.venue, bal.asset) == ("binance", row["asset"])
        assert bal.total == Decimal(row["balance"])
        assert bal.available == Decimal(row["availableBalance"])
        assert bal.ts_event_ms == row["updateTime"]
    with pytest.raises(ProtocolError, match="availableBalance"):
        parse.parse_futures_balances(
            [{k: v for k, v in rows[0].items() if k != "availableBalance"}]
        )


def test_spot_balances() -> None:
    raw = spot("account")
    balances = parse.parse_spot_balances(raw)
    for bal, row in zip(balances, raw["balances"], strict=True):
        assert bal.asset == row["asset"]
        assert bal.total == Decimal(row["free"]) + Decimal(row["locked"])
        assert bal.available == Decimal(row["free"])
        assert bal.ts_event_ms == raw["updateTime"]
    with pytest.raises(ProtocolError, match="balances"):
        parse.parse_spot_balances({**raw, "balances": None})


def _funding_fee_row() -> dict[str, Any]:
    # The doc sample has no FUNDING_FEE row; a FUNDING_FEE row has the same shape (USD-M
    # "Get Income History",
    # https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Get-Income-History),
    # so take the COMMISSION row and change its type.
    row = dict(usdm("income_history")[1])
    row.update(incomeType="FUNDING_FEE", income="-0.40000000", time=1570636800000)
    return row


def test_funding_fee_rows_filters_type() -> None:
    rows = usdm("income_history")
    assert parse.funding_fee_rows(rows) == []
    fee = _funding_fee_row()
    assert parse.funding_fee_rows([*rows, fee]) == [fee]


def test_funding_fee_derives_position_from_settled_rate() -> None:
    history = usdm("funding_rate_history")
    settled = parse.parse_funding_history(history)[1]
    row = _funding_fee_row()
    payment = parse.parse_funding_fee(row, settled)
    rate = Decimal(history[1]["fundingRate"])
    mark = Decimal(history[1]["markPrice"])
    amount = Decimal(row["income"])
    assert payment.amount_usd == amount
    assert payment.mark_price == mark
    assert payment.position_qty == (-amount / (rate * mark)).quantize(Decimal("1e-8"))
    assert payment.position_qty > 0  # paid at a positive rate: the account was long
    implied = -rate * payment.position_qty * mark
    assert abs(implied - amount) < Decimal("1e-6")
    assert payment.ts_funding_ms == row["time"]
    assert payment.interval_s == settled.interval_s


def test_funding_fee_rejects_mismatches() -> None:
    settled = parse.parse_funding_history(usdm("funding_rate_history"))[1]
    with pytest.raises(ProtocolError, match="incomeType"):
        parse.parse_funding_fee(usdm("income_history")[1], settled)
    with pytest.raises(ProtocolError, match="symbol"):
        parse.parse_funding_fee({**_funding_fee_row(), "symbol": "ETHUSDT"}, settled)
    with pytest.raises(ProtocolError, match="asset"):
        parse.parse_funding_fee({**_funding_fee_row(), "asset": "BNB"}, settled)
    with pytest.raises(ProtocolError, match="income"):
        parse.parse_funding_fee({**_funding_fee_row(), "income": "x"}, settled)


# --- errors ------------------------------------------------------------------------------

USDM_EXPECTED: dict[int, type[VenueError]] = {
    -1003: RateLimited,
    -1008: RateLimited,
    -1021: VenueError,
    -1022: AuthError,
    -1121: InvalidOrder,
    -2011: OrderNotFound,
    -2013: OrderNotFound,
    -2019: InsufficientMargin,
    -2022: InvalidOrder,
    -4015: InvalidOrder,
    -4046: VenueError,
    -4059: VenueError,
    -4116: DuplicateClientOrderId,
    -4120: InvalidOrder,
    -4164: InvalidOrder,
}
SPOT_EXPECTED: dict[str, type[VenueError]] = {
    "Duplicate order sent.": DuplicateClientOrderId,
    "Account has insufficient balance for requested action.": InsufficientMargin,
    "Filter failure: NOTIONAL": InvalidOrder,
    "Signature for this request is not valid.": AuthError,
    "Illegal characters found in parameter 'newClientOrderId'; legal range is "
    "'^[a-zA-Z0-9-_]{1,36}$'.": InvalidOrder,
}


@pytest.mark.parametrize("payload", usdm("errors"), ids=lambda p: str(p["code"]))
def test_usdm_errors_map_to_classes(payload: dict[str, Any]) -> None:
    err = parse.error_from_payload(payload, "binance", client_order_id="cid-1")
    assert type(err) is USDM_EXPECTED[payload["code"]]
    assert err.code == str(payload["code"])
    assert err.venue == "binance"
    assert payload["msg"] in str(err)
    if isinstance(err, OrderRejected):
        assert err.client_order_id == "cid-1"
        assert err.reason == payload["msg"]


@pytest.mark.parametrize("payload", spot("errors"), ids=lambda p: f"{p['code']}:{p['msg'][:12]}")
def test_spot_errors_map_to_classes(payload: dict[str, Any]) -> None:
    err = parse.error_from_payload(payload, client_order_id="cid-2")
    expected = SPOT_EXPECTED.get(payload["msg"])
    if expected is None:
        expected = {-1003: RateLimited, -1021: VenueError}.get(payload["code"], OrderNotFound)
    assert type(err) is expected


def test_rejection_without_client_order_id_is_plain_venue_error() -> None:
    err = parse.error_from_payload({"code": -2019, "msg": "Margin is insufficient."})
    assert type(err) is VenueError


def test_rate_limit_retry_after_and_outcome_unknown() -> None:
    payload = {"code": -1003, "msg": "Too many requests"}
    default = parse.error_from_payload(payload)
    assert isinstance(default, RateLimited)
    assert default.retry_after_s == DEFAULT_RETRY_AFTER_S
    hinted = parse.error_from_payload(payload, retry_after_s=7.0)
    assert isinstance(hinted, RateLimited)
    assert hinted.retry_after_s == 7.0
    unknown = parse.error_from_payload({"code": -1007, "msg": "Timeout waiting for response"})
    assert isinstance(unknown, RequestTimeout)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"msg": "x"}, "code"),
        ({"code": "-1", "msg": "x"}, "code"),
        ({"code": -1}, "msg"),
        ([], "object"),
    ],
)
def test_malformed_error_payload(payload: Any, field: str) -> None:
    with pytest.raises(ProtocolError, match=field):
        parse.error_from_payload(payload)


def test_delivery_contracts_are_skipped_in_all_symbol_payloads() -> None:
    rows = usdm("premium_index_all")
    delivery = {**rows[0], "symbol": "BTCUSDT_250627", "lastFundingRate": "", "nextFundingTime": 0}
    assert len(parse.parse_premium_index_list([*rows, delivery])) == len(rows)
    events = usdm("ws_mark_price_all_market")
    quarterly = {**events[0], "s": "BTCUSDT_250627", "r": "", "T": 0}
    assert len(parse.parse_ws_mark_price([*events, quarterly])) == len(events)


def test_usdm_cancel_with_fills_uses_cum_quote() -> None:
    raw = {**usdm("cancel_order"), "executedQty": "4", "cumQuote": "36000"}
    ack = parse.parse_order(raw, PERP)
    assert ack.avg_price == Decimal("36000") / Decimal("4")


# --- stream names and URLs (constants) ---------------------------------------------------


def test_routed_market_and_private_urls() -> None:
    from venues.binance import constants as c

    sub = usdm("ws_subscribe_request")
    assert [c.mark_price_stream(s) for s in ("BTCUSDT", "ETHUSDT")] == sub["params"]
    assert c.mark_price_stream("BTCUSDT", one_second=False) == "btcusdt@markPrice"
    url = c.usdm_market_stream_url(sub["params"])
    expected = "wss://fstream.binance.com/market/stream?streams=" + "/".join(sub["params"])
    assert url == expected
    assert c.usdm_private_url("k1") == "wss://fstream.binance.com/private/ws?listenKey=k1"
    with pytest.raises(ValueError, match="streams"):
        c.usdm_market_stream_url([])
    assert c.KLINE_INTERVALS_S[3600] == "1h"
    assert c.usdm_klines_weight(99) == 1
    assert c.usdm_klines_weight(100) == 2
    assert c.usdm_klines_weight(1000) == 5
    assert c.usdm_klines_weight(1001) == 10


@pytest.mark.parametrize(
    ("cid", "usdm_ok", "spot_ok"),
    [
        ("abc-1_X", True, True),
        ("a.b:c/d", True, False),
        ("x" * 37, False, False),
        ("", False, False),
    ],
)
def test_client_order_id_regexes(cid: str, usdm_ok: bool, spot_ok: bool) -> None:
    from venues.binance import constants as c

    assert bool(c.USDM_CLIENT_ORDER_ID_RE.match(cid)) is usdm_ok
    assert bool(c.SPOT_CLIENT_ORDER_ID_RE.match(cid)) is spot_ok
