"""Hyperliquid parsers on the recorded fixtures; expected values are read from the JSON here.

Caveat (fixtures README): ``user_funding.json`` is a 2023 recording (``nSamples: 3`` rows that
fold several settlements); recent payloads have ``nSamples: null`` — both are tested.
"""

from __future__ import annotations

import copy
import json
from decimal import ROUND_CEILING, Decimal
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
from venues.hyperliquid import parse
from venues.model import (
    HOUR_MS,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hyperliquid"
BTC = InstrumentId("hyperliquid", InstrumentKind.PERP, "BTC")
COID = "1234567890abcdef1234567890abcdef"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def request(
    qty: str = "0.02", tif: TimeInForce = TimeInForce.GTC, coid: str = COID
) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        instrument_id=BTC,
        side=Side.BUY,
        qty=Decimal(qty),
        order_type=OrderType.LIMIT,
        limit_price=Decimal(80000),
        time_in_force=tif,
    )


# ------------------------------------------------------------------ tick / lot


@pytest.mark.parametrize(
    ("price", "sz_decimals", "tick"),
    [
        ("83757", 5, "1"),  # BTC: 5 sig figs at 5 integer digits
        ("123456", 5, "1"),  # integer prices always allowed
        ("2124.6", 4, "0.1"),  # ETH
        ("86.148", 2, "0.001"),  # SOL
        ("1.5008", 2, "0.0001"),  # ATOM: 5 sig figs, 4 ≤ 6 − 2 decimals
        ("0.15567", 1, "0.00001"),  # DYDX: 6 − 1 = 5 decimals binds
        ("0.000012345", 0, "0.000001"),  # 6 − 0 decimals binds below 1e-5
    ],
)
def test_price_tick(price: str, sz_decimals: int, tick: str) -> None:
    assert parse.price_tick(Decimal(price), sz_decimals) == Decimal(tick)


def test_price_tick_accepts_documented_examples() -> None:
    for price, sz in (("2124.6", 4), ("86.148", 2), ("83757", 5)):
        assert Decimal(price) % parse.price_tick(Decimal(price), sz) == 0
    for price, sz in (("2124.65", 4), ("86.1482", 2), ("83757.4", 5)):
        assert Decimal(price) % parse.price_tick(Decimal(price), sz) != 0


def test_round_price() -> None:
    assert parse.round_price(Decimal("83757.4"), 5) == Decimal(83757)
    assert parse.round_price(Decimal("2124.65"), 4, ROUND_CEILING) == Decimal("2124.7")


@pytest.mark.parametrize(("price", "sz"), [("0", 5), ("-1", 5), ("1", 7), ("1", -1)])
def test_price_tick_refuses(price: str, sz: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        parse.price_tick(Decimal(price), sz)


# ------------------------------------------------------------------ universe / ctxs


def test_meta_keeps_indices_and_delisted() -> None:
    raw = load("meta.json")
    assets = parse.parse_meta(raw)
    assert [a.asset for a in assets] == list(range(len(raw["universe"])))
    for asset, entry in zip(assets, raw["universe"], strict=True):
        assert asset.coin == entry["name"]
        assert asset.is_delisted == entry.get("isDelisted", False)
        lot = Decimal(1).scaleb(-entry["szDecimals"])
        inst = asset.instrument
        assert (inst.lot_step, inst.min_qty) == (lot, lot)
        assert inst.min_notional_usd == Decimal(10)
        assert inst.funding_interval_s == 3600
        assert (inst.base, inst.quote) == (entry["name"], "USDC")


def test_meta_skips_hip3_names() -> None:
    raw = load("meta.json")
    raw["universe"].append({"szDecimals": 2, "name": "xyz:NVDA", "maxLeverage": 10})
    assert "xyz:NVDA" not in [a.coin for a in parse.parse_meta(raw)]


def test_meta_and_asset_ctxs() -> None:
    raw = load("meta_and_asset_ctxs.json")
    now_ms = 1790356000000
    snapshot = parse.parse_meta_and_asset_ctxs(raw, now_ms)
    universe, ctxs = raw[0]["universe"], raw[1]
    listed = [i for i, u in enumerate(universe) if not u.get("isDelisted")]
    assert len(snapshot.funding_rates) == len(listed) == len(snapshot.mark_prices)
    expected_next = (now_ms // 3_600_000 + 1) * 3_600_000
    for i in listed:
        iid = InstrumentId("hyperliquid", InstrumentKind.PERP, universe[i]["name"])
        rate, mark = snapshot.funding_rates[iid], snapshot.mark_prices[iid]
        assert rate.rate == float(ctxs[i]["funding"])
        assert (rate.interval_s, rate.ts_funding_ms) == (3600, expected_next)
        assert rate.ts_next_funding_ms == expected_next + 3_600_000
        assert mark.mark_price == float(ctxs[i]["markPx"])
        assert mark.index_price == float(ctxs[i]["oraclePx"])
        tick = snapshot.assets[i].instrument.tick_size
        assert tick == parse.price_tick(Decimal(ctxs[i]["markPx"]), universe[i]["szDecimals"])
    btc = snapshot.assets[0].instrument
    assert btc.tick_size == Decimal(1)  # 77562 → integer prices only


def test_meta_and_asset_ctxs_recorded_prefix() -> None:
    raw = load("meta_and_asset_ctxs_prefix_recorded.json")
    snapshot = parse.parse_meta_and_asset_ctxs(raw, 0)
    delisted = [a for a in snapshot.assets if a.is_delisted]
    assert [a.coin for a in delisted] == ["MATIC"]
    assert delisted[0].instrument.id not in snapshot.funding_rates
    assert snapshot.funding_rates[BTC].rate == float(raw[1][0]["funding"])


def test_next_funding_is_next_full_hour() -> None:
    assert parse.next_funding_ms(0) == HOUR_MS
    assert parse.next_funding_ms(HOUR_MS - 1) == HOUR_MS
    assert parse.next_funding_ms(HOUR_MS) == 2 * HOUR_MS


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r[1].pop(), "differ in length"),
        (lambda r: r[1][0].pop("funding"), "'funding'"),
        (lambda r: r[1][0].update(markPx=None), "'markPx'"),
        (lambda r: r[1][0].update(markPx="abc"), "'markPx'"),
        (lambda r: r[1][0].update(oraclePx="NaN"), "'oraclePx'"),
        (lambda r: r[0]["universe"][0].update(szDecimals="5"), "'szDecimals'"),
        (lambda r: r[0]["universe"][0].pop("name"), "'name'"),
        (lambda r: r.append({}), r"\[meta, ctxs\]"),
    ],
)
def test_meta_and_asset_ctxs_malformed(mutate: Any, field: str) -> None:
    raw = load("meta_and_asset_ctxs.json")
    mutate(raw)
    with pytest.raises(ProtocolError, match=field):
        parse.parse_meta_and_asset_ctxs(raw, 0)


# ------------------------------------------------------------------ history


@pytest.mark.parametrize("name", ["funding_history_btc.json", "funding_history_btc_off_floor.json"])
def test_funding_history(name: str) -> None:
    raw = load(name)
    rates = parse.parse_funding_history(raw)
    assert len(rates) == len(raw)
    for rate, row in zip(rates, raw, strict=True):
        assert rate.instrument_id == BTC
        assert rate.rate == float(row["fundingRate"])
        assert rate.interval_s == 3600
        assert rate.ts_funding_ms == row["time"] - row["time"] % 3_600_000
        assert rate.ts_funding_ms % 3_600_000 == 0
        assert rate.ts_next_funding_ms == rate.ts_funding_ms + 3_600_000


def test_funding_history_malformed() -> None:
    raw = load("funding_history_btc.json")
    raw[1]["time"] = "1790355600045"
    with pytest.raises(ProtocolError, match=r"fundingHistory\[1\].*'time'"):
        parse.parse_funding_history(raw)
    with pytest.raises(ProtocolError, match="array"):
        parse.parse_funding_history(None)


def test_candle_snapshot() -> None:
    raw = load("candle_snapshot_btc_1h.json")
    bars = parse.parse_candle_snapshot(raw)
    for bar, row in zip(bars, raw, strict=True):
        assert bar.instrument_id == BTC
        assert (bar.ts_open_ms, bar.ts_close_ms) == (row["t"], row["T"] + 1)
        assert bar.ts_close_ms - bar.ts_open_ms == 3_600_000
        values = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        assert values == tuple(float(row[k]) for k in "ohlcv")


def test_candle_malformed() -> None:
    raw = load("candle_snapshot_btc_1h.json")
    raw[0]["T"] = raw[0]["t"] - 1
    with pytest.raises(ProtocolError, match="'T'"):
        parse.parse_candle_snapshot(raw)
    raw = load("candle_snapshot_btc_1h.json")
    del raw[2]["h"]
    with pytest.raises(ProtocolError, match=r"candleSnapshot\[2\].*'h'"):
        parse.parse_candle_snapshot(raw)


# ------------------------------------------------------------------ order responses


def test_order_response_resting() -> None:
    raw = load("order_response_resting.json")
    (ack,) = parse.parse_order_response(raw, [request()], 123)
    oid = raw["response"]["data"]["statuses"][0]["resting"]["oid"]
    assert (ack.status, ack.venue_order_id, ack.client_order_id) == (
        OrderStatus.NEW,
        str(oid),
        COID,
    )
    assert (ack.filled_qty, ack.avg_price, ack.ts_event_ms) == (0, None, 123)


def test_order_response_filled() -> None:
    raw = load("order_response_filled.json")
    filled = raw["response"]["data"]["statuses"][0]["filled"]
    (ack,) = parse.parse_order_response(raw, [request(filled["totalSz"])], 1)
    assert ack.status is OrderStatus.FILLED
    assert ack.filled_qty == Decimal(filled["totalSz"])
    assert ack.avg_price == Decimal(filled["avgPx"])
    assert ack.venue_order_id == str(filled["oid"])
    (partial_ioc,) = parse.parse_order_response(raw, [request("1", TimeInForce.IOC)], 1)
    assert partial_ioc.status is OrderStatus.CANCELED
    (partial_gtc,) = parse.parse_order_response(raw, [request("1")], 1)
    assert partial_gtc.status is OrderStatus.PARTIALLY_FILLED


def test_order_response_error_is_rejected_ack() -> None:
    raw = load("order_response_error.json")
    text = raw["response"]["data"]["statuses"][0]["error"]
    (ack,) = parse.parse_order_response(raw, [request()], 1)
    assert ack.status is OrderStatus.REJECTED
    assert ack.reject_reason == text
    assert ack.reject_code == "invalid_order"
    with pytest.raises(InvalidOrder) as info:
        parse.raise_for_rejection(ack)
    assert info.value.client_order_id == COID
    assert info.value.reason == text


def test_order_response_recorded_with_cloid_and_child() -> None:
    raw = load("order_response_resting_cloid_recorded.json")
    resting = raw["response"]["data"]["statuses"][0]["resting"]
    coid = resting["cloid"].removeprefix("0x")
    parent, child = parse.parse_order_response(raw, [request(coid=coid), request()], 1)
    assert (parent.venue_order_id, parent.client_order_id) == (str(resting["oid"]), coid)
    assert parent.status is OrderStatus.NEW
    assert (child.status, child.venue_order_id) == (OrderStatus.NEW, "")
    with pytest.raises(ProtocolError, match="'cloid'"):
        parse.parse_order_response(raw, [request(), request()], 1)


def test_order_response_malformed() -> None:
    raw = load("order_response_resting.json")
    with pytest.raises(ProtocolError, match="1 statuses for 2 requests"):
        parse.parse_order_response(raw, [request(), request()], 1)
    broken = copy.deepcopy(raw)
    broken["response"]["data"]["statuses"][0] = {"resting": {}}
    with pytest.raises(ProtocolError, match="'oid'"):
        parse.parse_order_response(broken, [request()], 1)
    broken["response"]["data"]["statuses"][0] = {"unexpected": 1}
    with pytest.raises(ProtocolError, match="none of"):
        parse.parse_order_response(broken, [request()], 1)
    del broken["response"]["data"]
    with pytest.raises(ProtocolError, match="'data'"):
        parse.parse_order_response(broken, [request()], 1)


def test_order_response_top_level_err_raises() -> None:
    raw = load("exchange_err_unknown_signer.json")
    with pytest.raises(AuthError, match="does not exist"):
        parse.parse_order_response(raw, [request()], 1)


def test_cancel_responses() -> None:
    assert parse.parse_cancel_response(load("cancel_response_ok.json"), [COID]) == [None]
    raw = load("cancel_response_error.json")
    (error,) = parse.parse_cancel_response(raw, [COID])
    assert isinstance(error, OrderNotFound)
    assert raw["response"]["data"]["statuses"][0]["error"] in str(error)


def test_update_leverage_response_is_ok() -> None:
    assert parse.exchange_error(load("update_leverage_response.json")) is None


# ------------------------------------------------------------------ errors


def test_top_level_errors_are_classified() -> None:
    bodies = load("errors.json")["top_level_err_responses"]
    kinds = [type(parse.exchange_error(body)) for body in bodies]
    assert kinds == [AuthError, AuthError, VenueError, AuthError, RateLimited]
    nonce = parse.exchange_error(bodies[2])
    assert nonce is not None
    assert nonce.code == "invalid_nonce"
    limited = parse.exchange_error(bodies[4])
    assert isinstance(limited, RateLimited)
    assert limited.retry_after_s == 10.0


def test_per_order_error_strings_are_classified() -> None:
    raw = load("errors.json")
    table = {e["type"]: e["error"] for e in raw["order_status_errors"]}
    assert isinstance(parse.order_error(table["PerpMargin"], COID), InsufficientMargin)
    for kind in ("Tick", "MinTradeNtl", "ReduceOnly", "BadAloPx", "IocCancel", "Oracle"):
        assert isinstance(parse.order_error(table[kind], COID), InvalidOrder), kind
    assert isinstance(parse.order_error(table["MissingOrder"], COID), OrderNotFound)
    live = raw["order_status_errors_as_seen_live"]
    assert [type(parse.order_error(t, COID)) for t in live] == [
        InvalidOrder,
        InsufficientMargin,
        InvalidOrder,
    ]
    dup = parse.order_error("Order has duplicate cloid.", COID)
    assert isinstance(dup, DuplicateClientOrderId)
    assert type(parse.order_error("Something new.", COID)) is OrderRejected


def test_top_level_order_text_with_client_order_id() -> None:
    body = {"status": "err", "response": "Insufficient margin to place order. asset=0"}
    assert isinstance(parse.exchange_error(body, COID), InsufficientMargin)
    assert type(parse.exchange_error(body)) is VenueError
    with pytest.raises(ProtocolError, match="'status'"):
        parse.exchange_error({"status": "weird"})


def test_http_errors() -> None:
    limited = parse.http_error(429, "")
    assert isinstance(limited, RateLimited)
    assert limited.retry_after_s == 60.0
    assert isinstance(parse.http_error(500, "null"), VenueUnavailable)
    unknown = "Failed to deserialize the JSON body into the target type"
    assert isinstance(parse.http_error(422, unknown), ProtocolError)


# ------------------------------------------------------------------ order status


def test_order_status_open() -> None:
    raw = load("order_status_open.json")
    order = raw["order"]["order"]
    ack = parse.parse_order_status(raw)
    assert ack.status is OrderStatus.NEW
    assert ack.instrument_id.symbol == order["coin"]
    assert (ack.side, ack.qty) == (Side.BUY, Decimal(order["origSz"]))
    assert ack.venue_order_id == str(order["oid"])
    assert ack.client_order_id == ""  # cloid null
    assert ack.ts_event_ms == raw["order"]["statusTimestamp"]


def test_order_status_filled_cloid() -> None:
    raw = load("order_status_filled_cloid.json")
    with pytest.raises(ProtocolError, match="HIP-3"):  # recorded on a HIP-3 coin
        parse.parse_order_status(raw)
    raw["order"]["order"]["coin"] = "BTC"
    order = raw["order"]["order"]
    ack = parse.parse_order_status(raw)
    assert ack.status is OrderStatus.FILLED
    assert ack.client_order_id == order["cloid"].removeprefix("0x")
    assert ack.filled_qty == Decimal(order["origSz"]) - Decimal(order["sz"])


def test_order_status_unknown() -> None:
    with pytest.raises(OrderNotFound, match=COID):
        parse.parse_order_status(load("order_status_unknown.json"), COID)


@pytest.mark.parametrize(
    ("status", "sz", "expected"),
    [
        ("open", "1.0", OrderStatus.PARTIALLY_FILLED),
        ("canceled", "2.0", OrderStatus.CANCELED),
        ("marginCanceled", "2.0", OrderStatus.CANCELED),
        ("scheduledCancel", "2.0", OrderStatus.CANCELED),
        ("tickRejected", "2.0", OrderStatus.REJECTED),
        ("rejected", "2.0", OrderStatus.REJECTED),
        ("triggered", "2.0", OrderStatus.NEW),
    ],
)
def test_order_status_mapping(status: str, sz: str, expected: OrderStatus) -> None:
    raw = load("order_status_open.json")
    raw["order"]["status"] = status
    raw["order"]["order"]["sz"] = sz
    ack = parse.parse_order_status(raw)
    assert ack.status is expected
    assert ack.filled_qty == Decimal("2.0") - Decimal(sz)


def test_order_status_malformed() -> None:
    raw = load("order_status_open.json")
    raw["order"]["status"] = "mystery"
    with pytest.raises(ProtocolError, match="mystery"):
        parse.parse_order_status(raw)
    raw = load("order_status_open.json")
    raw["order"]["order"]["side"] = "X"
    with pytest.raises(ProtocolError, match="'side'"):
        parse.parse_order_status(raw)
    with pytest.raises(ProtocolError, match="'status'"):
        parse.parse_order_status({"status": "nope"})


# ------------------------------------------------------------------ account


def test_user_funding_pre_2024_rows() -> None:
    raw = load("user_funding.json")
    payments = parse.parse_user_funding(raw)
    assert len(payments) == len(raw)
    for payment, row in zip(payments, raw, strict=True):
        delta = row["delta"]
        n = delta["nSamples"]
        assert payment.instrument_id.symbol == delta["coin"]
        assert payment.amount_usd == Decimal(delta["usdc"])
        assert payment.amount_usd > 0  # shorts received positive funding
        assert payment.position_qty == Decimal(delta["szi"])
        assert payment.rate == pytest.approx(float(delta["fundingRate"]) * n)
        assert payment.interval_s == 3600 * n
        assert payment.ts_funding_ms == row["time"]
        implied = -Decimal(payment.rate) * payment.position_qty * payment.mark_price
        assert float(implied) == pytest.approx(float(payment.amount_usd), rel=1e-9)
    # 2023-04-20: BTC oracle near 28.7 k
    assert 28_000 < payments[0].mark_price < 29_500


def test_user_funding_recent_row_and_filters() -> None:
    row = {
        "time": 1790352000015,
        "hash": "0x" + "0" * 64,
        "delta": {
            "type": "funding",
            "coin": "BTC",
            "usdc": "-0.104696",
            "szi": "0.1",
            "fundingRate": "0.0000125",
            "nSamples": None,
        },
    }
    hip3 = copy.deepcopy(row)
    hip3["delta"]["coin"] = "xyz:NVDA"
    (payment,) = parse.parse_user_funding([row, hip3])
    assert (payment.interval_s, payment.rate) == (3600, 0.0000125)
    assert payment.amount_usd < 0  # paid
    assert payment.mark_price == Decimal("-0.104696") / (Decimal("-0.0000125") * Decimal("0.1"))
    row["delta"]["type"] = "deposit"
    with pytest.raises(ProtocolError, match="'type'"):
        parse.parse_user_funding([row])


def test_clearinghouse_state() -> None:
    raw = load("clearinghouse_state.json")
    state = parse.parse_clearinghouse_state(raw)
    pos_raw = raw["assetPositions"][0]["position"]
    (position,) = state.positions
    assert position.instrument_id.symbol == pos_raw["coin"]
    assert position.qty == Decimal(pos_raw["szi"])
    assert position.entry_price == Decimal(pos_raw["entryPx"])
    assert position.mark_price * abs(position.qty) == Decimal(pos_raw["positionValue"])
    assert position.ts_event_ms == raw["time"]
    upnl = Decimal(pos_raw["unrealizedPnl"])
    equity = Decimal(raw["marginSummary"]["accountValue"])
    assert state.balance.total == equity - upnl
    assert state.balance.available == Decimal(raw["withdrawable"])
    assert state.summary.equity_usd == equity
    assert state.summary.used_margin_usd == Decimal(raw["marginSummary"]["totalMarginUsed"])
    assert state.summary.gross_notional_usd == Decimal(raw["marginSummary"]["totalNtlPos"])


def test_clearinghouse_state_liquidation_price() -> None:
    """``liquidationPx`` of the recorded isolated ETH long; ``null`` → None."""
    raw = load("clearinghouse_state.json")
    (position,) = parse.parse_clearinghouse_state(raw).positions
    assert position.liquidation_price == Decimal("2866.26936529")
    assert position.liquidation_price < position.entry_price  # a long: below its entry
    raw["assetPositions"][0]["position"]["liquidationPx"] = None
    (none,) = parse.parse_clearinghouse_state(raw).positions
    assert none.liquidation_price is None


def test_clearinghouse_state_malformed() -> None:
    raw = load("clearinghouse_state.json")
    del raw["assetPositions"][0]["position"]["szi"]
    with pytest.raises(ProtocolError, match="'szi'"):
        parse.parse_clearinghouse_state(raw)
    empty = load("clearinghouse_state.json")
    empty["assetPositions"] = []
    assert parse.parse_clearinghouse_state(empty).positions == []


def test_user_fills() -> None:
    raw = load("user_fills.json")
    fills = parse.parse_user_fills(raw)
    for fill, row in zip(fills, raw, strict=True):
        assert fill.instrument_id.symbol == row["coin"]
        assert fill.side is (Side.BUY if row["side"] == "B" else Side.SELL)
        assert (fill.qty, fill.price) == (Decimal(row["sz"]), Decimal(row["px"]))
        assert fill.fee_usd == Decimal(row["fee"])
        assert fill.liquidity is (Liquidity.TAKER if row["crossed"] else Liquidity.MAKER)
        assert (fill.trade_id, fill.venue_order_id) == (str(row["tid"]), str(row["oid"]))
        assert fill.client_order_id == row["cloid"][2:]
        assert fill.ts_event_ms == row["time"]


def test_user_fills_skip_spot_and_hip3_and_malformed() -> None:
    raw = load("user_fills.json")
    spot, hip3 = copy.deepcopy(raw[0]), copy.deepcopy(raw[0])
    spot["coin"], hip3["coin"] = "@107", "xyz:NVDA"
    assert len(parse.parse_user_fills([*raw, spot, hip3])) == len(raw)
    raw[0]["crossed"] = "false"
    with pytest.raises(ProtocolError, match="'crossed'"):
        parse.parse_user_fills(raw)


# ------------------------------------------------------------------ WebSocket


def test_ws_active_asset_ctx() -> None:
    raw = load("ws_active_asset_ctx_btc.json")
    ctx = raw["data"]["ctx"]
    mark, rate = parse.parse_ws_active_asset_ctx(raw, 1790356000000)
    assert (mark.instrument_id, mark.mark_price) == (BTC, float(ctx["markPx"]))
    assert mark.index_price == float(ctx["oraclePx"])
    assert (rate.rate, rate.interval_s) == (float(ctx["funding"]), 3600)
    assert rate.ts_funding_ms == 1790359200000
    del raw["data"]["ctx"]["markPx"]
    with pytest.raises(ProtocolError, match="'markPx'"):
        parse.parse_ws_active_asset_ctx(raw, 0)


def test_ws_all_mids() -> None:
    raw = load("ws_all_mids.json")
    mids = raw["data"]["mids"]
    marks = parse.parse_ws_all_mids(raw, 7)
    perps = {k: v for k, v in mids.items() if not k.startswith("@") and "/" not in k}
    assert {m.instrument_id.symbol: m.mark_price for m in marks} == {
        k: float(v) for k, v in perps.items()
    }
    assert all(m.ts_event_ms == 7 and m.index_price is None for m in marks)


def test_ws_candle() -> None:
    raw = load("ws_candle_btc_1m.json")
    bar = parse.parse_ws_candle(raw)
    assert (bar.ts_open_ms, bar.ts_close_ms) == (raw["data"]["t"], raw["data"]["T"] + 1)
    assert bar.close == float(raw["data"]["c"])


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("ws_order_updates_open.json", OrderStatus.NEW),
        ("ws_order_updates_canceled.json", OrderStatus.CANCELED),
        ("ws_order_updates_rejected.json", OrderStatus.REJECTED),
    ],
)
def test_ws_order_updates(name: str, status: OrderStatus) -> None:
    raw = load(name)
    (ack,) = parse.parse_ws_order_updates(raw)
    order = raw["data"][0]["order"]
    assert ack.status is status
    assert ack.client_order_id == order["cloid"][2:]
    assert ack.ts_event_ms == raw["data"][0]["statusTimestamp"]
    if status is OrderStatus.REJECTED:
        assert ack.reject_code == raw["data"][0]["status"]


def test_ws_fills() -> None:
    raw = load("ws_user_events_fills.json")
    snapshot, fills = parse.parse_ws_fills(raw)
    assert snapshot is False
    assert [f.trade_id for f in fills] == [str(r["tid"]) for r in raw["data"]["fills"]]
    assert fills[0].side is Side.SELL
    assert parse.parse_ws_fills(load("ws_user_fills_snapshot_empty.json")) == (True, [])
    assert parse.parse_ws_fills({"channel": "user", "data": {"funding": {}}}) == (False, [])


def test_ws_channel() -> None:
    assert parse.ws_channel(load("ws_pong.json")) == ("pong", None)
    assert parse.ws_channel(load("ws_all_mids.json"))[0] == "allMids"
    with pytest.raises(ProtocolError, match="noSuchType"):
        parse.ws_channel(load("ws_error.json"))
