"""BinanceUsdmVenue + BinanceUsdmRest against recorded payloads served by respx (no network).

Payloads come from ``tests/fixtures/binance-usdm/``; expected values are read from the same JSON in
the test or written by hand. Error bodies not in ``errors.json`` (``-2015``) use the documented
shape ``{"code", "msg"}`` (Binance USD-M "Error Codes"
https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from pydantic import SecretStr

from tests.unit.conftest import FakeClock
from venues.binance.auth import sign
from venues.binance.client import BinanceUsdmVenue, create_venue
from venues.binance.rest import BinanceUsdmRest, make_rest_client
from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InvalidOrder,
    OrderNotFound,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    VenueError,
)
from venues.model import (
    InstrumentId,
    InstrumentKind,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from venues.ratelimit import RateLimiter

FIXTURES = Path(__file__).parent.parent / "fixtures" / "binance-usdm"
BASE_URL = "https://fapi.example.test"
API_KEY = "k3y-VALUE-never-shown-0123456789"
API_SECRET = "s3cret-VALUE-never-shown-9876543210"
NOW_MS = 1_700_000_000_000
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ORDER = "/fapi/v1/order"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def error_body(code: int) -> dict[str, Any]:
    return next(e for e in load("errors.json") if e["code"] == code)


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)


@pytest.fixture
def rest(router: respx.MockRouter, clock: FakeClock) -> BinanceUsdmRest:
    client = make_rest_client(
        BASE_URL,
        transport=httpx.MockTransport(router.handler),
        limiter=RateLimiter(2400, 60.0, clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
    )
    return BinanceUsdmRest(client, SecretStr(API_KEY), SecretStr(API_SECRET), lambda: NOW_MS)


@pytest.fixture
async def venue(rest: BinanceUsdmRest) -> AsyncIterator[BinanceUsdmVenue]:
    v = BinanceUsdmVenue(rest)
    yield v
    await v.close()


def sent_params(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))


def assert_signed(request: httpx.Request) -> None:
    """Signature = HMAC of the exact sent query before ``&signature=``; key in the header."""
    query = request.url.query.decode()
    payload, _, signature = query.rpartition("&signature=")
    assert signature == sign(payload, API_SECRET)
    assert request.headers["X-MBX-APIKEY"] == API_KEY
    assert sent_params(request)["timestamp"] == str(NOW_MS)


# --- market data -----------------------------------------------------------------------------


async def test_load_instruments(venue: BinanceUsdmVenue, router: respx.MockRouter) -> None:
    info = load("exchange_info_btc_eth.json")
    router.get("/fapi/v1/exchangeInfo").respond(json=info)
    router.get("/fapi/v1/fundingInfo").respond(json=load("funding_info.json"))
    instruments = await venue.load_instruments()
    assert sorted(i.symbol for i in instruments) == ["BTCUSDT", "ETHUSDT"]
    btc = instruments[BTC]
    filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
    assert btc.tick_size == Decimal(filters["PRICE_FILTER"]["tickSize"])
    assert btc.lot_step == Decimal(filters["LOT_SIZE"]["stepSize"])
    assert btc.funding_interval_s == 8 * 3600  # BTCUSDT is not in fundingInfo → default


async def test_funding_and_marks(venue: BinanceUsdmVenue, router: respx.MockRouter) -> None:
    raw = load("premium_index_btcusdt.json")
    route = router.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).respond(json=raw)
    router.get("/fapi/v1/fundingInfo").respond(json=load("funding_info.json"))
    [rate] = await venue.fetch_funding([BTC])
    assert rate.rate == float(raw["lastFundingRate"])
    assert rate.ts_funding_ms == raw["nextFundingTime"]
    assert rate.ts_next_funding_ms == raw["nextFundingTime"] + 8 * 3_600_000
    [quote] = await venue.fetch_quotes([BTC])
    assert quote.bid == quote.ask == float(raw["markPrice"])  # mark as bid = ask
    assert quote.ts_event_ms == raw["time"]
    assert route.call_count == 2


async def test_fetch_bars(venue: BinanceUsdmVenue, router: respx.MockRouter) -> None:
    rows = load("klines.json")
    route = router.get("/fapi/v1/klines").respond(json=rows)
    start_ms = rows[0][0]
    bars = await venue.fetch_bars(BTC, start_ms, start_ms + 7 * 86_400_000, 86_400 * 7)
    assert [(b.ts_open_ms, b.close) for b in bars] == [(rows[0][0], float(rows[0][4]))]
    params = sent_params(route.calls.last.request)
    assert (params["interval"], params["startTime"]) == ("1w", str(start_ms))


async def test_fetch_bars_pages_by_1500(venue: BinanceUsdmVenue, router: respx.MockRouter) -> None:
    row = load("klines.json")[0]
    hour_ms = 3_600_000
    start_ms = 1_499_040_000_000

    def rows(first: int, count: int) -> list[list[Any]]:
        return [[start_ms + i * hour_ms, *row[1:6], start_ms + (i + 1) * hour_ms - 1, *row[7:]]
                for i in range(first, first + count)]  # fmt: skip

    route = router.get("/fapi/v1/klines").mock(
        side_effect=[
            httpx.Response(200, json=rows(0, 1500)),
            httpx.Response(200, json=rows(1500, 3)),
        ]
    )
    bars = await venue.fetch_bars(BTC, start_ms, start_ms + 1503 * hour_ms, 3_600)
    assert [b.ts_open_ms for b in bars] == [start_ms + i * hour_ms for i in range(1503)]
    second = sent_params(route.calls.last.request)
    assert second["startTime"] == str(start_ms + 1500 * hour_ms)
    assert second["endTime"] == str(start_ms + 1503 * hour_ms - 1)


async def test_unsupported_bar_interval(venue: BinanceUsdmVenue) -> None:
    with pytest.raises(VenueError, match="7 s"):
        await venue.fetch_bars(BTC, 0, 1, 7)


async def test_multi_symbol_uses_all_rows_and_names_missing(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    route = router.get("/fapi/v1/premiumIndex").respond(json=load("premium_index_all.json"))
    router.get("/fapi/v1/fundingInfo").respond(json=[])
    eth = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
    with pytest.raises(ProtocolError, match="ETHUSDT"):
        await venue.fetch_funding([BTC, eth])
    assert "symbol" not in sent_params(route.calls.last.request)


async def test_open_syncs_clock(
    venue: BinanceUsdmVenue, rest: BinanceUsdmRest, router: respx.MockRouter
) -> None:
    server = load("server_time.json")
    router.get("/fapi/v1/time").respond(json=server)
    await venue.open()
    assert rest.clock_offset_ms == server["serverTime"] - NOW_MS


async def test_malformed_payload_is_protocol_error(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    raw = load("premium_index_btcusdt.json")
    del raw["markPrice"]
    router.get("/fapi/v1/premiumIndex").respond(json=raw)
    router.get("/fapi/v1/fundingInfo").respond(json=[])
    with pytest.raises(ProtocolError, match="markPrice"):
        await venue.fetch_quotes([BTC])


# --- orders ----------------------------------------------------------------------------------


async def test_place_query_cancel_by_client_order_id(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    placed = load("new_order_limit_recorded.json")
    cid = placed["clientOrderId"]
    post = router.post(ORDER).respond(json=placed)
    request = OrderRequest(
        cid, BTC, Side.SELL, Decimal("0.200"), OrderType.LIMIT, Decimal("110001.00"),
        TimeInForce.IOC,
    )  # fmt: skip
    ack = await venue.place_order(request)
    assert (ack.client_order_id, ack.venue_order_id) == (cid, str(placed["orderId"]))
    assert (ack.status, ack.side, ack.qty) == (OrderStatus.NEW, Side.SELL, Decimal("0.200"))
    sent = post.calls.last.request
    assert_signed(sent)
    params = sent_params(sent)
    assert {k: params[k] for k in ("symbol", "side", "type", "timeInForce")} == {
        "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "IOC",
    }  # fmt: skip
    assert (params["quantity"], params["price"]) == ("0.2", "110001")
    assert (params["newClientOrderId"], params["newOrderRespType"]) == (cid, "RESULT")

    queried = load("query_order.json")
    get = router.get(ORDER).respond(json=queried)
    fetched = await venue.fetch_order(BTC, queried["clientOrderId"])
    assert (fetched.venue_order_id, fetched.status) == (str(queried["orderId"]), OrderStatus.NEW)
    assert sent_params(get.calls.last.request)["origClientOrderId"] == queried["clientOrderId"]
    assert_signed(get.calls.last.request)

    canceled = load("cancel_order.json")
    delete = router.delete(ORDER).respond(json=canceled)
    result = await venue.cancel_order(BTC, canceled["clientOrderId"])
    assert (result.status, result.client_order_id) == (OrderStatus.CANCELED, "myOrder1")
    assert sent_params(delete.calls.last.request)["origClientOrderId"] == "myOrder1"


async def test_market_order_params(venue: BinanceUsdmVenue, router: respx.MockRouter) -> None:
    post = router.post(ORDER).respond(json=load("new_order_limit_recorded.json"))
    cid = "x:mkt/1.a_b-c"  # every punctuation fapi allows must survive encoding + signing
    await venue.place_order(OrderRequest(cid, BTC, Side.BUY, Decimal("1E-3"), reduce_only=True))
    assert_signed(post.calls.last.request)
    params = sent_params(post.calls.last.request)
    assert params["newClientOrderId"] == cid
    assert (params["type"], params["side"], params["quantity"]) == ("MARKET", "BUY", "0.001")
    assert params["reduceOnly"] == "true"
    assert "price" not in params
    assert "timeInForce" not in params


async def test_bad_client_order_id_is_rejected_before_sending(venue: BinanceUsdmVenue) -> None:
    with pytest.raises(InvalidOrder) as info:
        await venue.place_order(OrderRequest("has space", BTC, Side.BUY, Decimal("0.001")))
    assert info.value.client_order_id == "has space"


async def test_cancel_of_a_final_order_returns_it(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    router.delete(ORDER).respond(400, json=error_body(-2011))
    queried = load("query_order.json")
    router.get(ORDER).respond(json=queried)
    ack = await venue.cancel_order(BTC, queried["clientOrderId"])
    assert ack.venue_order_id == str(queried["orderId"])


async def test_unknown_order_is_not_found(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    router.get(ORDER).respond(400, json=error_body(-2013))
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(BTC, "nope")


async def test_post_timeout_is_sent_once_then_looked_up(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    post = router.post(ORDER).mock(side_effect=httpx.ReadTimeout("slow"))
    queried = load("query_order.json")
    get = router.get(ORDER).respond(json=queried)
    cid = queried["clientOrderId"]
    with pytest.raises(RequestTimeout):
        await venue.place_order(OrderRequest(cid, BTC, Side.BUY, Decimal("0.40")))
    assert post.call_count == 1
    ack = await venue.fetch_order(BTC, cid)
    assert ack.client_order_id == cid
    assert sent_params(get.calls.last.request)["origClientOrderId"] == cid


async def test_duplicate_client_order_id(venue: BinanceUsdmVenue, router: respx.MockRouter) -> None:
    post = router.post(ORDER).respond(400, json=error_body(-4116))
    with pytest.raises(DuplicateClientOrderId) as info:
        await venue.place_order(OrderRequest("dup-1", BTC, Side.BUY, Decimal("0.001")))
    assert (info.value.client_order_id, info.value.code) == ("dup-1", "-4116")
    assert post.call_count == 1


# --- account ---------------------------------------------------------------------------------


async def test_positions_and_balances(venue: BinanceUsdmVenue, router: respx.MockRouter) -> None:
    risk = load("position_risk_v3_one_way.json")
    balance = load("balance_v3.json")
    router.get("/fapi/v3/positionRisk").respond(json=risk)
    router.get("/fapi/v3/balance").respond(json=balance)
    [position] = await venue.fetch_positions()
    assert position.instrument_id.symbol == risk[0]["symbol"]
    assert position.qty == Decimal(risk[0]["positionAmt"])
    [bal] = await venue.fetch_balances()
    assert (bal.venue, bal.asset, bal.total) == ("binance", "USDT", Decimal(balance[0]["balance"]))
    assert bal.available == Decimal(balance[0]["availableBalance"])


async def test_open_orders(venue: BinanceUsdmVenue, router: respx.MockRouter) -> None:
    router.get("/fapi/v1/openOrders").respond(json=[load("query_order.json")])
    [order] = await venue.fetch_open_orders()
    assert order.client_order_id == "abc"


async def test_funding_payments(venue: BinanceUsdmVenue, router: respx.MockRouter) -> None:
    history = load("funding_rate_history.json")
    settled = history[1]  # rate 0.0001, mark 34287.54619963 at 1570636800000
    # The recorded income page holds no FUNDING_FEE row; one is added in its documented shape:
    # a 0.5 BTC long paying 0.5 × 0.0001 × 34287.54619963 = 1.7143773099815 → 8 decimals.
    income = [
        *load("income_history.json"),
        {"symbol": "BTCUSDT", "incomeType": "FUNDING_FEE", "income": "-1.71437731",
         "asset": "USDT", "info": "FUNDING_FEE", "time": settled["fundingTime"],
         "tranId": 1, "tradeId": ""},
    ]  # fmt: skip
    income_route = router.get("/fapi/v1/income").respond(json=income)
    router.get("/fapi/v1/fundingRate").respond(json=history)
    router.get("/fapi/v1/fundingInfo").respond(json=load("funding_info.json"))
    [payment] = await venue.fetch_funding_payments(1_570_000_000_000)
    assert payment.instrument_id == BTC
    assert payment.ts_funding_ms == settled["fundingTime"]
    assert payment.rate == 0.0001
    assert payment.position_qty == Decimal("0.5")
    assert payment.amount_usd == Decimal("-1.71437731")
    params = sent_params(income_route.calls.last.request)
    assert (params["incomeType"], params["startTime"]) == ("FUNDING_FEE", "1570000000000")


# --- transport error paths -------------------------------------------------------------------


async def test_connect_error_on_get_is_retried(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    route = router.get("/fapi/v3/balance").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(200, json=load("balance_v3.json")),
        ]
    )
    assert len(await venue.fetch_balances()) == 1
    assert route.call_count == 2


async def test_5xx_then_200_on_get(venue: BinanceUsdmVenue, router: respx.MockRouter) -> None:
    route = router.get("/fapi/v3/positionRisk").mock(
        side_effect=[
            httpx.Response(503, text="<html>busy</html>"),
            httpx.Response(200, json=load("position_risk_v3_one_way.json")),
        ]
    )
    assert len(await venue.fetch_positions()) == 1
    assert route.call_count == 2


async def test_429_is_rate_limited(
    venue: BinanceUsdmVenue, router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.get("/fapi/v3/balance").respond(
        429, json=error_body(-1003), headers={"Retry-After": "7"}
    )
    with pytest.raises(RateLimited) as info:
        await venue.fetch_balances()
    assert (info.value.retry_after_s, info.value.code) == (7.0, "-1003")
    assert route.call_count == 3  # RestClient's default attempts, waiting ≥ 7 s between
    assert all(wait_s >= 7.0 for wait_s in clock.sleeps_s)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}),
        (400, {"code": -1022, "msg": "Signature for this request is not valid."}),
        (401, None),
    ],
)
async def test_auth_failure(
    venue: BinanceUsdmVenue, router: respx.MockRouter, status: int, body: Any
) -> None:
    route = router.get("/fapi/v3/balance").respond(status, json=body)
    with pytest.raises(AuthError) as info:
        await venue.fetch_balances()
    assert route.call_count == 1
    assert API_KEY not in str(info.value)
    assert API_SECRET not in str(info.value)


async def test_clock_skew_on_get_resyncs_and_resigns(
    venue: BinanceUsdmVenue, rest: BinanceUsdmRest, router: respx.MockRouter
) -> None:
    server = load("server_time.json")
    router.get("/fapi/v1/time").respond(json=server)
    route = router.get("/fapi/v3/balance").mock(
        side_effect=[
            httpx.Response(400, json=error_body(-1021)),
            httpx.Response(200, json=load("balance_v3.json")),
        ]
    )
    assert len(await venue.fetch_balances()) == 1
    assert rest.clock_offset_ms == server["serverTime"] - NOW_MS
    assert sent_params(route.calls.last.request)["timestamp"] == str(server["serverTime"])


async def test_clock_skew_on_post_is_raised(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    post = router.post(ORDER).respond(400, json=error_body(-1021))
    time_route = router.get("/fapi/v1/time").respond(json=load("server_time.json"))
    with pytest.raises(VenueError) as info:
        await venue.place_order(OrderRequest("skew-1", BTC, Side.BUY, Decimal("0.001")))
    assert info.value.code == "-1021"
    assert post.call_count == 1  # never re-sent
    assert time_route.call_count == 1  # but the clock is resynced for the lookup


async def test_unsigned_client_cannot_call_signed(router: respx.MockRouter) -> None:
    client = make_rest_client(BASE_URL, transport=httpx.MockTransport(router.handler))
    rest = BinanceUsdmRest(client, None, None, lambda: NOW_MS)
    with pytest.raises(AuthError):
        await rest.get_balance()
    await rest.aclose()


def test_reprs_hold_no_secrets(rest: BinanceUsdmRest) -> None:
    text = repr(BinanceUsdmVenue(rest))
    assert API_KEY not in text
    assert API_SECRET not in text


# --- funding history ---------------------------------------------------------------------------


async def test_funding_history_one_page(venue: BinanceUsdmVenue, router: respx.MockRouter) -> None:
    rows = load("funding_rate_history.json")
    route = router.get("/fapi/v1/fundingRate").respond(json=rows)
    router.get("/fapi/v1/fundingInfo").respond(json=load("funding_info.json"))
    first_ms, second_ms = 1_570_608_000_000, 1_570_636_800_000  # from the fixture
    rates = await venue.fetch_funding_history(BTC, first_ms, second_ms + 1)
    assert [(r.ts_funding_ms, r.rate) for r in rates] == [
        (first_ms, -0.0375),
        (second_ms, 0.0001),
    ]
    assert [r.interval_s for r in rates] == [8 * 3600, 8 * 3600]  # 28 800 000 ms apart
    assert rates[0].mark_price == 34287.54619963
    params = sent_params(route.calls.last.request)
    assert params == {
        "symbol": "BTCUSDT",
        "limit": "1000",
        "startTime": str(first_ms),
        "endTime": str(second_ms),
    }


async def test_funding_history_end_is_exclusive(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    router.get("/fapi/v1/fundingRate").respond(json=load("funding_rate_history.json"))
    # BTCUSDT listed with a 4 h interval: a lone row takes it.
    info = [{**load("funding_info.json")[0], "symbol": "BTCUSDT", "fundingIntervalHours": 4}]
    router.get("/fapi/v1/fundingInfo").respond(json=info)
    [rate] = await venue.fetch_funding_history(BTC, 1_570_608_000_000, 1_570_636_800_000)
    assert rate.ts_funding_ms == 1_570_608_000_000
    assert rate.interval_s == 4 * 3600


async def test_funding_history_pages_forward_without_duplicates(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    template = load("funding_rate_history.json")[1]
    start_ms, step_ms = 1_570_608_000_000, 8 * 3_600_000

    def rows(first: int, count: int) -> list[dict[str, Any]]:
        return [
            {**template, "fundingTime": start_ms + i * step_ms, "fundingRate": f"0.000{i % 10}"}
            for i in range(first, first + count)
        ]

    # The second page repeats the last row of the first (a venue answering inclusively).
    route = router.get("/fapi/v1/fundingRate").mock(
        side_effect=[
            httpx.Response(200, json=rows(0, 1000)),
            httpx.Response(200, json=rows(999, 3)),
        ]
    )
    router.get("/fapi/v1/fundingInfo").respond(json=[])
    rates = await venue.fetch_funding_history(BTC, start_ms, start_ms + 1002 * step_ms)
    assert [r.ts_funding_ms for r in rates] == [start_ms + i * step_ms for i in range(1002)]
    assert rates[1001].rate == 0.0001  # i = 1001 → "0.0001"
    assert {r.interval_s for r in rates} == {8 * 3600}
    second = sent_params(route.calls.last.request)
    assert second["startTime"] == str(start_ms + 999 * step_ms + 1)


# --- factory -----------------------------------------------------------------------------------


async def test_create_venue_public_only(router: respx.MockRouter) -> None:
    router.get("/fapi/v1/premiumIndex").respond(json=load("premium_index_btcusdt.json"))
    router.get("/fapi/v1/fundingInfo").respond(json=[])
    venue = create_venue(rest_url=BASE_URL, transport=httpx.MockTransport(router.handler))
    try:
        assert venue.name == "binance"
        [rate] = await venue.fetch_funding([BTC])
        assert rate.rate == 0.00038246
        with pytest.raises(AuthError, match="API key"):
            await venue.fetch_balances()
        with pytest.raises(AuthError, match="API key"):
            await anext(venue.stream_account())
    finally:
        await venue.close()


async def test_funding_history_stuck_pages_are_a_protocol_error(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    template = load("funding_rate_history.json")[0]
    start_ms, step_ms = 1_570_608_000_000, 8 * 3_600_000
    page = [{**template, "fundingTime": start_ms + i * step_ms} for i in range(1000)]
    router.get("/fapi/v1/fundingRate").respond(json=page)  # ignores startTime: same page again
    router.get("/fapi/v1/fundingInfo").respond(json=[])
    with pytest.raises(ProtocolError, match="did not advance"):
        await venue.fetch_funding_history(BTC, start_ms, start_ms + 2000 * step_ms)


async def test_a_bnb_commission_is_priced_at_the_bnb_mark(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    """With the BNB fee discount the commission is in BNB: it is valued at BNBUSDT's mark."""
    filled = {**load("query_order.json"), "status": "FILLED", "executedQty": "0.002"}
    filled.update(avgPrice="60000", side="SELL", clientOrderId="bnb-fee-1")
    router.post(ORDER).respond(json=filled)
    trade = {
        "symbol": "BTCUSDT", "id": 9, "orderId": filled["orderId"], "side": "SELL",
        "price": "60000", "qty": "0.002", "commission": "0.00009", "commissionAsset": "BNB",
        "time": NOW_MS, "maker": False,
    }  # fmt: skip
    router.get("/fapi/v1/userTrades").respond(json=[trade])
    premium = {**load("premium_index_btcusdt.json"), "symbol": "BNBUSDT", "markPrice": "600.5"}
    index = router.get("/fapi/v1/premiumIndex").respond(json=premium)
    ack = await venue.place_order(OrderRequest("bnb-fee-1", BTC, Side.SELL, Decimal("0.002")))
    [fill] = ack.fills
    assert fill.fee_usd == Decimal("0.00009") * Decimal("600.5")
    assert sent_params(index.calls.last.request)["symbol"] == "BNBUSDT"
