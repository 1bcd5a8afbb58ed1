"""BybitVenue + BybitRest against recorded payloads (respx) and the stateful fake (no network).

Recorded payloads come from ``tests/fixtures/bybit-v5/``; expected values are read by hand from
those files (quoted in the assertions) or computed here, never taken from the code under test.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from tests.fakes.bybit import API_KEY, API_SECRET, BASE_URL, FakeBybit, error_body, load
from tests.unit.conftest import FakeClock
from venues.base import Credentials
from venues.bybit.client import BybitVenue, create_venue, order_body
from venues.bybit.rest import BybitRest, make_rest_client
from venues.bybit.streams import BybitStreams, StreamSettings
from venues.errors import (
    AccountSetupError,
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    RequestTimeout,
    VenueError,
)
from venues.model import (
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from venues.ratelimit import RateLimiter

NOW_MS = 1_700_000_000_000
PERP = InstrumentId("bybit", InstrumentKind.PERP, "BTCUSDT")
SPOT = InstrumentId("bybit", InstrumentKind.SPOT, "BTCUSDT")


def envelope(result: Any, code: int = 0, msg: str = "OK", time_ms: int = NOW_MS) -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": time_ms}


def hmac_hex(text: str) -> str:
    return hmac.new(API_SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)


@pytest.fixture
def rest(router: respx.MockRouter, clock: FakeClock) -> BybitRest:
    client = make_rest_client(
        BASE_URL,
        now_ms=lambda: NOW_MS,
        transport=httpx.MockTransport(router.handler),
        limiter=RateLimiter(600, 5.0, clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
    )
    limiters = {c: RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep) for c in ("linear", "spot")}
    return BybitRest(
        client, SecretStr(API_KEY), SecretStr(API_SECRET), lambda: NOW_MS, order_limiters=limiters
    )


@pytest.fixture
async def venue(rest: BybitRest, clock: FakeClock) -> AsyncIterator[BybitVenue]:
    v = BybitVenue(rest, BybitStreams(StreamSettings.for_base(None), sleep=clock.sleep))
    yield v
    await v.close()


@pytest.fixture
async def faked() -> AsyncIterator[tuple[BybitVenue, FakeBybit]]:
    fake = FakeBybit()
    v = create_venue(
        Credentials(SecretStr(API_KEY), SecretStr(API_SECRET)),
        rest_url=BASE_URL,
        transport=fake.transport(),
        sleep=fake.sleep,
    )
    fake.seed_price("linear", "BTCUSDT", Decimal(60_000))
    fake.seed_price("spot", "BTCUSDT", Decimal(59_990))
    yield v, fake
    await v.close()


def assert_signed_get(request: httpx.Request) -> None:
    """X-BAPI-SIGN = HMAC(timestamp + key + recvWindow + the exact sent query)."""
    query = request.url.query.decode()
    h = request.headers
    assert (h["X-BAPI-API-KEY"], h["X-BAPI-TIMESTAMP"], h["X-BAPI-RECV-WINDOW"]) == (
        API_KEY,
        str(NOW_MS),
        "5000",
    )
    assert h["X-BAPI-SIGN"] == hmac_hex(f"{NOW_MS}{API_KEY}5000{query}")


# --- market data -----------------------------------------------------------------------------


async def test_load_instruments_follows_the_cursor(
    venue: BybitVenue, router: respx.MockRouter
) -> None:
    page1 = load("instruments_linear_btcusdt.json")
    page1["result"]["nextPageCursor"] = "c%3D2"
    page2 = copy.deepcopy(load("instruments_linear_btcusdt.json"))
    page2["result"]["list"][0].update(symbol="ETHUSDT", baseCoin="ETH", fundingInterval=240)
    linear = router.get("/v5/market/instruments-info", params={"category": "linear"})
    linear.side_effect = [httpx.Response(200, json=page1), httpx.Response(200, json=page2)]
    router.get("/v5/market/instruments-info", params={"category": "spot"}).respond(
        json=load("instruments_spot_btcusdt.json")
    )
    instruments = await venue.load_instruments()
    assert linear.call_count == 2
    assert linear.calls[1].request.url.query.decode() == "category=linear&cursor=c%3D2&limit=1000"
    btc, eth = instruments[PERP], instruments[InstrumentId("bybit", InstrumentKind.PERP, "ETHUSDT")]
    # fixture: tickSize "0.10", qtyStep "0.001", minOrderQty "0.001", minNotionalValue "5", 480 min
    assert (btc.tick_size, btc.lot_step, btc.min_qty, btc.min_notional_usd) == (
        Decimal("0.10"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal(5),
    )
    assert (btc.funding_interval_s, eth.funding_interval_s) == (480 * 60, 240 * 60)
    spot = instruments[SPOT]  # basePrecision "0.000001", minOrderAmt "5", tickSize "0.1"
    assert (spot.lot_step, spot.min_notional_usd, spot.tick_size) == (
        Decimal("0.000001"),
        Decimal(5),
        Decimal("0.1"),
    )
    assert spot.funding_interval_s is None


async def test_quotes_funding_and_marks_from_tickers(
    venue: BybitVenue, router: respx.MockRouter
) -> None:
    linear = load("tickers_inverse_btcusd.json")  # doc sample; linear rows have the same keys
    router.get("/v5/market/tickers", params={"category": "linear"}).respond(json=linear)
    router.get("/v5/market/tickers", params={"category": "spot"}).respond(
        json=load("tickers_spot_btcusdt.json")
    )
    btcusd = InstrumentId("bybit", InstrumentKind.PERP, "BTCUSD")
    quotes = await venue.fetch_quotes([SPOT, btcusd])
    assert [(q.bid, q.ask, q.ts_event_ms) for q in quotes] == [
        (20517.96, 20527.77, 1673859087947),
        (103401.00, 109152.80, 1760352369814),
    ]
    [rate] = await venue.fetch_funding([btcusd, SPOT])  # spot has no funding: skipped
    assert (rate.rate, rate.interval_s, rate.ts_funding_ms) == (0.0001, 8 * 3600, 1760371200000)
    assert rate.ts_next_funding_ms == 1760371200000 + 8 * 3_600_000
    marks = await venue.fetch_marks([btcusd, SPOT])
    assert [(m.mark_price, m.index_price) for m in marks] == [
        (114898.43, 114890.92),
        (20533.13, 20784.12009279),  # spot: lastPrice stands in for the mark
    ]


async def test_funding_history_pages_backwards(venue: BybitVenue, router: respx.MockRouter) -> None:
    router.get("/v5/market/instruments-info", params={"category": "linear"}).respond(
        json=load("instruments_linear_btcusdt.json")
    )
    step = 8 * 3_600_000
    all_ts = [1_000 * step + i * step for i in range(250)]

    def page(request: httpx.Request) -> httpx.Response:
        end = int(request.url.params["endTime"])
        start = int(request.url.params["startTime"])
        rows = sorted((t for t in all_ts if start <= t <= end), reverse=True)[:200]
        items = [{"symbol": "BTCUSDT", "fundingRate": "0.0001", "fundingRateTimestamp": str(t)}
                 for t in rows]  # fmt: skip
        return httpx.Response(200, json=envelope({"category": "linear", "list": items}))

    route = router.get("/v5/market/funding/history").mock(side_effect=page)
    start, end = all_ts[10], all_ts[240]
    history = await venue.fetch_funding_history(PERP, start, end)
    assert [r.ts_funding_ms for r in history] == all_ts[10:240]
    assert route.call_count == 2
    first, second = (dict(c.request.url.params) for c in route.calls)
    assert (first["endTime"], first["limit"]) == (str(end - 1), "200")
    assert second["endTime"] == str(all_ts[239 - 199] - 1)  # oldest of page 1, minus 1 ms
    assert all(r.interval_s == 480 * 60 for r in history)


async def test_bars_are_oldest_first(venue: BybitVenue, router: respx.MockRouter) -> None:
    route = router.get("/v5/market/kline").respond(json=load("kline.json"))
    bars = await venue.fetch_bars(PERP, 1670601600000, 1670612400000, 3600)
    # kline.json rows are newest first: 1670608800000, 1670605200000, 1670601600000
    assert [b.ts_open_ms for b in bars] == [1670601600000, 1670605200000, 1670608800000]
    assert (bars[0].open, bars[0].close, bars[0].volume) == (17086.5, 17071.5, 6356.0)
    assert bars[0].ts_close_ms == 1670601600000 + 3_600_000
    params = dict(route.calls[0].request.url.params)
    assert (params["interval"], params["start"], params["end"], params["limit"]) == (
        "60",
        "1670601600000",
        "1670612399999",
        "1000",
    )


# --- signing, errors, retries ------------------------------------------------------------------


async def test_cursor_is_sent_and_signed_byte_identical(
    venue: BybitVenue, router: respx.MockRouter
) -> None:
    first = load("order_realtime.json")  # nextPageCursor "page_args%3Dfd43...%26"
    last = envelope({"category": "linear", "list": [], "nextPageCursor": ""})
    linear = router.get("/v5/order/realtime", params={"category": "linear"})
    linear.side_effect = [httpx.Response(200, json=first), httpx.Response(200, json=last)]
    router.get("/v5/order/realtime", params={"category": "spot"}).respond(json=last)
    orders = await venue.fetch_open_orders()
    assert [(o.client_order_id, o.status, o.qty) for o in orders] == [
        ("test-000005", OrderStatus.NEW, Decimal("0.10"))
    ]
    second = linear.calls[1].request
    cursor = first["result"]["nextPageCursor"]
    assert f"cursor={cursor}&" in second.url.query.decode()
    assert_signed_get(second)


async def test_post_signs_the_exact_body(venue: BybitVenue, router: respx.MockRouter) -> None:
    route = router.post("/v5/order/cancel").respond(json=load("cancel_order.json"))
    realtime = load("order_realtime.json")
    router.get("/v5/order/realtime").respond(json=realtime)
    eth = InstrumentId("bybit", InstrumentKind.PERP, "ETHUSDT")
    ack = await venue.cancel_order(eth, "test-000005")
    assert ack.venue_order_id == "fd4300ae-7847-404e-b947-b46980a4d140"
    request = route.calls[0].request
    body = '{"category":"linear","symbol":"ETHUSDT","orderLinkId":"test-000005"}'
    assert request.content.decode() == body
    assert request.headers["X-BAPI-SIGN"] == hmac_hex(f"{NOW_MS}{API_KEY}5000{body}")


async def test_clock_skew_resyncs_and_resends_a_read_once(
    venue: BybitVenue, rest: BybitRest, router: respx.MockRouter
) -> None:
    skew = envelope({}, 10002, error_body(10002)["retMsg"])
    wallet = router.get("/v5/account/wallet-balance")
    wallet.side_effect = [
        httpx.Response(200, json=skew),
        httpx.Response(200, json=load("wallet_balance.json")),
    ]
    router.get("/v5/market/time").respond(json=load("server_time.json"))
    balances = await venue.fetch_balances()
    server_ms = 1688639403423213947 // 1_000_000  # timeNano of server_time.json
    assert rest.clock_offset_ms == server_ms - NOW_MS
    assert wallet.calls[1].request.headers["X-BAPI-TIMESTAMP"] == str(server_ms)
    assert [(b.asset, b.total) for b in balances] == [("BTC", Decimal(0))]


async def test_clock_skew_on_an_order_is_raised_not_resent(
    venue: BybitVenue, router: respx.MockRouter
) -> None:
    skew = envelope({}, 10002, error_body(10002)["retMsg"])
    create = router.post("/v5/order/create").respond(json=skew)
    time_route = router.get("/v5/market/time").respond(json=load("server_time.json"))
    with pytest.raises(VenueError) as info:
        await venue.place_order(OrderRequest("skew-1", PERP, Side.BUY, Decimal("0.01")))
    assert (info.value.code, create.call_count, time_route.call_count) == ("10002", 1, 1)


async def test_order_timeout_is_not_resent(venue: BybitVenue, router: respx.MockRouter) -> None:
    create = router.post("/v5/order/create").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(RequestTimeout):
        await venue.place_order(OrderRequest("to-1", PERP, Side.BUY, Decimal("0.01")))
    assert create.call_count == 1


async def test_rate_limit_waits_until_the_reset_timestamp(
    venue: BybitVenue, router: respx.MockRouter, clock: FakeClock
) -> None:
    limited = httpx.Response(
        200,
        json=envelope({}, 10006, error_body(10006)["retMsg"]),
        headers={"X-Bapi-Limit-Reset-Timestamp": str(NOW_MS + 3_500)},
    )
    ok = httpx.Response(200, json=load("wallet_balance.json"))
    router.get("/v5/account/wallet-balance").side_effect = [limited, ok]
    assert await venue.fetch_balances()
    assert max(clock.sleeps_s) >= 3.5


@pytest.mark.parametrize(
    ("code", "error"),
    [(110007, InsufficientMargin), (110072, DuplicateClientOrderId), (110094, InvalidOrder)],
)
async def test_order_rejections_are_mapped(
    venue: BybitVenue, router: respx.MockRouter, code: int, error: type[Exception]
) -> None:
    body = envelope({}, code, error_body(code)["retMsg"])
    router.post("/v5/order/create").respond(json=body)
    with pytest.raises(error) as info:
        await venue.place_order(OrderRequest("rej-1", PERP, Side.BUY, Decimal("0.01")))
    assert getattr(info.value, "client_order_id", None) == "rej-1"
    assert info.value.code == str(code)  # type: ignore[attr-defined]


async def test_http_403_is_an_ip_ban_and_not_retried(
    venue: BybitVenue, router: respx.MockRouter
) -> None:
    route = router.get("/v5/market/tickers").respond(403, text="access too frequent")
    with pytest.raises(RateLimited) as info:
        await venue.fetch_quotes([PERP])
    assert (info.value.retry_after_s, route.call_count) == (600.0, 1)


async def test_no_credentials_means_auth_error_before_sending(router: respx.MockRouter) -> None:
    v = create_venue(rest_url=BASE_URL, transport=httpx.MockTransport(router.handler))
    with pytest.raises(AuthError, match="API key and secret"):
        await v.fetch_balances()
    assert router.calls.call_count == 0
    await v.close()


# --- orders and account through the stateful fake ---------------------------------------------


async def test_market_order_is_filled_with_its_fills(faked: tuple[BybitVenue, FakeBybit]) -> None:
    venue, fake = faked
    request = OrderRequest("mkt-1", PERP, Side.SELL, Decimal("0.02"), reference_price=Decimal(1))
    ack = await venue.place_order(request)
    assert (ack.status, ack.filled_qty, ack.avg_price) == (
        OrderStatus.FILLED,
        Decimal("0.02"),
        Decimal(60_000),
    )
    [fill] = ack.fills
    assert (fill.qty, fill.price, fill.liquidity) == (
        Decimal("0.02"),
        Decimal(60_000),
        Liquidity.TAKER,
    )
    assert fill.fee_usd == Decimal("0.02") * 60_000 * Decimal("0.00055")
    assert fill.reference_price == Decimal(1)
    create = next(r for r in fake.requests if r.url.path == "/v5/order/create")
    assert json.loads(create.content) == {
        "category": "linear", "symbol": "BTCUSDT", "side": "Sell", "orderType": "Market",
        "qty": "0.02", "positionIdx": 0, "reduceOnly": False, "orderLinkId": "mkt-1",
    }  # fmt: skip


def test_order_body_spot_and_limit() -> None:
    spot = order_body(OrderRequest("s-1", SPOT, Side.BUY, Decimal("0.0010")))
    assert spot == {"category": "spot", "symbol": "BTCUSDT", "side": "Buy",
                    "orderType": "Market", "qty": "0.001", "marketUnit": "baseCoin",
                    "orderLinkId": "s-1"}  # fmt: skip
    limit = order_body(
        OrderRequest("l-1", PERP, Side.BUY, Decimal(1), OrderType.LIMIT, Decimal("60000.10"))
    )
    assert (limit["price"], limit["timeInForce"], limit["qty"]) == ("60000.1", "IOC", "1")
    with pytest.raises(InvalidOrder):
        order_body(OrderRequest("bad id!", PERP, Side.BUY, Decimal(1)))
    with pytest.raises(InvalidOrder):
        order_body(OrderRequest("x" * 37, PERP, Side.BUY, Decimal(1)))


async def test_resting_order_cancel_then_cancel_again(faked: tuple[BybitVenue, FakeBybit]) -> None:
    venue, _ = faked
    limit = OrderRequest("lim-1", PERP, Side.BUY, Decimal("0.01"), OrderType.LIMIT, Decimal(50_000))
    ack = await venue.place_order(limit)
    assert ack.status is OrderStatus.NEW
    assert [o.client_order_id for o in await venue.fetch_open_orders()] == ["lim-1"]
    canceled = await venue.cancel_order(PERP, "lim-1")
    assert canceled.status is OrderStatus.CANCELED
    again = await venue.cancel_order(PERP, "lim-1")  # already gone (110001): looked up
    assert (again.status, again.venue_order_id) == (OrderStatus.CANCELED, ack.venue_order_id)
    with pytest.raises(OrderNotFound):
        await venue.cancel_order(PERP, "never-placed")


async def test_funding_payments_from_the_transaction_log(
    venue: BybitVenue, router: respx.MockRouter
) -> None:
    instruments = load("instruments_linear_btcusdt.json")
    instruments["result"]["list"][0]["symbol"] = "XRPUSDT"
    router.get("/v5/market/instruments-info").respond(json=instruments)
    route = router.get("/v5/account/transaction-log")
    route.side_effect = [
        httpx.Response(200, json=load("transaction_log.json")),
        httpx.Response(200, json=envelope({"list": [], "nextPageCursor": ""})),
        httpx.Response(200, json=envelope({"list": [], "nextPageCursor": ""})),
    ]
    day = 86_400_000
    payments = await venue.fetch_funding_payments(NOW_MS - 10 * day)
    # SETTLEMENT row: side Buy, size 100, feeRate 0.0001, tradePrice 0.3676, funding -0.003676
    [p] = payments
    assert (p.ts_funding_ms, p.rate, p.position_qty, p.mark_price, p.amount_usd) == (
        1672128000000, 0.0001, Decimal(100), Decimal("0.3676"), Decimal("-0.003676"),
    )  # fmt: skip
    assert p.interval_s == 480 * 60
    windows = [dict(c.request.url.params) for c in route.calls]
    assert windows[0]["type"] == "SETTLEMENT"
    assert "cursor=21963%3A1%2C14954%3A1&" in route.calls[1].request.url.query.decode()
    assert (windows[0]["startTime"], windows[2]["endTime"]) == (
        str(NOW_MS - 10 * day),
        str(NOW_MS),
    )
    assert all(int(w["endTime"]) - int(w["startTime"]) < 7 * day for w in windows)


async def test_positions_and_balances_recorded(venue: BybitVenue, router: respx.MockRouter) -> None:
    router.get("/v5/position/list").respond(json=load("position_list_inverse.json"))
    [position] = await venue.fetch_positions()
    # fixture: side "Sell", size "300", avgPrice "27464.50441675", markPrice "28224.50"
    assert (position.qty, position.entry_price, position.mark_price) == (
        Decimal(-300),
        Decimal("27464.50441675"),
        Decimal("28224.50"),
    )
    assert position.instrument_id == InstrumentId("bybit", InstrumentKind.PERP, "BTCUSD")


async def test_prepare_account_sets_what_differs(faked: tuple[BybitVenue, FakeBybit]) -> None:
    venue, fake = faked
    lines = await venue.prepare_account([PERP, SPOT], Decimal(3))
    assert lines == [
        "bybit: USDT perps switched to one-way position mode",
        "bybit: unified account margin mode ensured cross (REGULAR_MARGIN)",
        "bybit: bybit:perp:BTCUSDT leverage set to 3x",
    ]
    assert (fake.position_mode, fake.leverage) == (0, {"BTCUSDT": "3"})
    # second run: 110025 / 110043 "not modified" are success, nothing changes
    again = await venue.prepare_account([PERP], Decimal(3))
    assert again == ["bybit: unified account margin mode ensured cross (REGULAR_MARGIN)"]


async def test_prepare_account_names_a_refused_margin_mode(
    faked: tuple[BybitVenue, FakeBybit],
) -> None:
    venue, fake = faked
    fake.margin_mode_refused = True
    with pytest.raises(AccountSetupError) as info:
        await venue.prepare_account([PERP], Decimal(2))
    # set_margin_mode_failed.json: reasonMsg of its one reason
    assert "Equity needs to be equal to or greater than 1000 USDC" in str(info.value)
    assert info.value.code == "3400045"


async def test_lookup_falls_back_to_order_history(
    venue: BybitVenue, router: respx.MockRouter
) -> None:
    empty = envelope({"category": "linear", "list": [], "nextPageCursor": ""})
    router.get("/v5/order/realtime").respond(json=empty)
    history = router.get("/v5/order/history")
    history.side_effect = [
        httpx.Response(200, json=load("order_realtime.json")),  # same row shape
        httpx.Response(200, json=empty),
    ]
    eth = InstrumentId("bybit", InstrumentKind.PERP, "ETHUSDT")
    ack = await venue.fetch_order(eth, "test-000005")
    # order_realtime.json: orderId fd4300ae-..., qty "0.10", updatedTime "1684738540561"
    assert (ack.venue_order_id, ack.qty, ack.ts_event_ms) == (
        "fd4300ae-7847-404e-b947-b46980a4d140",
        Decimal("0.10"),
        1684738540561,
    )
    assert history.calls[0].request.url.params["orderLinkId"] == "test-000005"
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(eth, "test-000006")
