"""BinanceSpotVenue + BinanceSpotRest against recorded spot payloads served by respx (no
network).

Payloads come from ``tests/fixtures/binance-spot/``; expected values are read from the same
JSON in the test or computed by hand. ``bookTicker`` has no recorded fixture: its rows are
written here in the documented shape ``{symbol, bidPrice, bidQty, askPrice, askQty}``.
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
from venues.binance.spot_client import BinanceSpotVenue, spot_order_params
from venues.binance.spot_rest import BinanceSpotRest, make_spot_rest_client
from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
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

FIXTURES = Path(__file__).parent.parent / "fixtures" / "binance-spot"
BASE_URL = "https://api.example.test"
API_KEY = "k3y-SPOT-never-shown-0123456789"
API_SECRET = "s3cret-SPOT-never-shown-9876543210"
NOW_MS = 1_700_000_000_000
BTC = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
ORDER = "/api/v3/order"
BOOK = "/api/v3/ticker/bookTicker"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def error_body(code: int, contains: str = "") -> dict[str, Any]:
    return next(e for e in load("errors.json") if e["code"] == code and contains in e["msg"])


def book_row(symbol: str, bid: str, ask: str) -> dict[str, str]:
    return {"symbol": symbol, "bidPrice": bid, "bidQty": "1.0", "askPrice": ask, "askQty": "2.0"}


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(6000, 60.0, clock=clock, sleep=clock.sleep)


@pytest.fixture
def rest(router: respx.MockRouter, clock: FakeClock, limiter: RateLimiter) -> BinanceSpotRest:
    client = make_spot_rest_client(
        BASE_URL, transport=httpx.MockTransport(router.handler), limiter=limiter, sleep=clock.sleep
    )
    return BinanceSpotRest(client, SecretStr(API_KEY), SecretStr(API_SECRET), lambda: NOW_MS)


@pytest.fixture
async def venue(rest: BinanceSpotRest) -> AsyncIterator[BinanceSpotVenue]:
    v = BinanceSpotVenue(rest)
    yield v
    await v.close()


def sent_params(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))


def assert_signed(request: httpx.Request) -> None:
    """Signature = HMAC of the exact sent query before ``&signature=``; key in the header."""
    payload, _, signature = request.url.query.decode().rpartition("&signature=")
    assert signature == sign(payload, API_SECRET)
    assert request.headers["X-MBX-APIKEY"] == API_KEY
    assert sent_params(request)["timestamp"] == str(NOW_MS)


# --- market data -----------------------------------------------------------------------------


async def test_load_instruments(venue: BinanceSpotVenue, router: respx.MockRouter) -> None:
    router.get("/api/v3/exchangeInfo").respond(json=load("exchange_info_btc_eth.json"))
    instruments = await venue.load_instruments()
    assert sorted(i.symbol for i in instruments) == ["BTCUSDT", "ETHUSDT"]
    btc = instruments[BTC]
    # fixture: tick 0.01, LOT_SIZE step/min 0.00001 (MARKET_LOT_SIZE zeros ignored), NOTIONAL 5
    assert (btc.tick_size, btc.lot_step, btc.min_qty) == (
        Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"),
    )  # fmt: skip
    assert (btc.min_notional_usd, btc.funding_interval_s) == (Decimal(5), None)
    assert (btc.base, btc.quote) == ("BTC", "USDT")


async def test_quotes_one_and_many(
    venue: BinanceSpotVenue, rest: BinanceSpotRest, router: respx.MockRouter
) -> None:
    eth = InstrumentId("binance", InstrumentKind.SPOT, "ETHUSDT")
    route = router.get(BOOK).mock(
        side_effect=[
            httpx.Response(200, json=book_row("BTCUSDT", "59990.01", "60010.02")),
            httpx.Response(
                200,
                json=[book_row("ETHUSDT", "2999.5", "3000.5"), book_row("BTCUSDT", "1", "2")],
            ),
        ]
    )
    rest.clock_offset_ms = 250
    [quote] = await venue.fetch_quotes([BTC])
    assert (quote.bid, quote.ask, quote.ts_event_ms) == (59990.01, 60010.02, NOW_MS + 250)
    assert sent_params(route.calls[0].request) == {"symbol": "BTCUSDT"}
    quotes = await venue.fetch_quotes([BTC, eth])
    assert [(q.instrument_id, q.bid, q.ask) for q in quotes] == [
        (BTC, 1.0, 2.0), (eth, 2999.5, 3000.5),
    ]  # fmt: skip
    assert sent_params(route.calls[1].request) == {"symbols": '["BTCUSDT","ETHUSDT"]'}


async def test_missing_book_row_is_protocol_error(
    venue: BinanceSpotVenue, router: respx.MockRouter
) -> None:
    router.get(BOOK).respond(json={"symbol": "BTCUSDT", "bidPrice": "1"})
    with pytest.raises(ProtocolError, match="askPrice"):
        await venue.fetch_quotes([BTC])


async def test_fetch_bars_pages_by_1000_and_knows_1s(
    venue: BinanceSpotVenue, router: respx.MockRouter
) -> None:
    row = load("klines.json")[0]
    start_ms = 1_499_040_000_000

    def rows(first: int, count: int) -> list[list[Any]]:
        return [[start_ms + i * 1_000, *row[1:6], start_ms + (i + 1) * 1_000 - 1, *row[7:]]
                for i in range(first, first + count)]  # fmt: skip

    route = router.get("/api/v3/klines").mock(
        side_effect=[
            httpx.Response(200, json=rows(0, 1000)),
            httpx.Response(200, json=rows(1000, 2)),
        ]
    )
    bars = await venue.fetch_bars(BTC, start_ms, start_ms + 1002 * 1_000, 1)
    assert [b.ts_open_ms for b in bars] == [start_ms + i * 1_000 for i in range(1002)]
    assert bars[0].close == float(row[4])
    assert bars[0].ts_close_ms == start_ms + 1_000  # closeTime + 1: half-open bar
    first, second = (sent_params(c.request) for c in route.calls)
    assert (first["interval"], first["limit"]) == ("1s", "1000")
    assert second["startTime"] == str(start_ms + 1000 * 1_000)


async def test_spot_has_no_funding(venue: BinanceSpotVenue) -> None:
    assert await venue.fetch_funding([BTC]) == []
    assert await venue.fetch_funding_history(BTC, 0, 2**62) == []
    assert await venue.fetch_funding_payments(0) == []


async def test_perp_id_is_refused(venue: BinanceSpotVenue) -> None:
    perp = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    with pytest.raises(VenueError, match="not a spot instrument"):
        await venue.fetch_quotes([perp])


# --- orders ----------------------------------------------------------------------------------


def test_order_params_market_and_limit() -> None:
    market = spot_order_params(OrderRequest("a-b_C9", BTC, Side.BUY, Decimal("1E-3")))
    assert market == {
        "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
        "newClientOrderId": "a-b_C9", "newOrderRespType": "FULL",
    }  # fmt: skip
    limit = spot_order_params(
        OrderRequest("x1", BTC, Side.SELL, Decimal("0.5"), OrderType.LIMIT, Decimal("6.0E+4"),
                     TimeInForce.GTC, reduce_only=True)
    )  # fmt: skip
    assert (limit["timeInForce"], limit["price"], limit["side"]) == ("GTC", "60000", "SELL")
    assert "reduceOnly" not in limit  # spot has no such flag; a sell cannot open a short


@pytest.mark.parametrize("cid", ["has.dot", "a:b", "a/b", "x" * 37, ""])
def test_spot_client_order_id_charset(cid: str) -> None:
    with pytest.raises(InvalidOrder) as info:
        spot_order_params(OrderRequest(cid, BTC, Side.BUY, Decimal(1)))
    assert info.value.client_order_id == cid


def test_reduce_only_buy_is_refused() -> None:
    with pytest.raises(InvalidOrder, match="reduce-only"):
        spot_order_params(OrderRequest("r1", BTC, Side.BUY, Decimal(1), reduce_only=True))


async def test_market_order_full_answer_gives_fills(
    venue: BinanceSpotVenue, router: respx.MockRouter
) -> None:
    placed = load("new_order_full.json")
    cid = placed["clientOrderId"]
    post = router.post(ORDER).respond(json=placed)
    ack = await venue.place_order(OrderRequest(cid, BTC, Side.SELL, Decimal(10)))
    assert_signed(post.calls.last.request)
    params = sent_params(post.calls.last.request)
    assert (params["newOrderRespType"], params["newClientOrderId"]) == ("FULL", cid)
    assert (ack.status, ack.venue_order_id) == (OrderStatus.FILLED, "28")
    assert ack.filled_qty == Decimal(10)
    assert ack.avg_price == Decimal("10") / Decimal("10")  # cummulativeQuoteQty / executedQty
    # five fills of 1 + 5 + 2 + 1 + 1, commissions in USDT (1:1 USD)
    assert [f.qty for f in ack.fills] == [1, 5, 2, 1, 1]
    assert [f.trade_id for f in ack.fills] == ["56", "57", "58", "59", "60"]
    assert [f.fee_usd for f in ack.fills] == [
        Decimal("4"), Decimal("19.995"), Decimal("7.996"), Decimal("3.997"), Decimal("3.995"),
    ]  # fmt: skip
    assert ack.fills[1].price == Decimal("3999")


async def test_buy_commission_in_base_is_valued_at_the_fill_price(
    venue: BinanceSpotVenue, router: respx.MockRouter
) -> None:
    placed = load("new_order_full.json")
    placed.update(side="BUY", origQty="0.01", executedQty="0.01", cummulativeQuoteQty="600.1")
    placed["fills"] = [{"price": "60010", "qty": "0.01", "commission": "0.00001",
                        "commissionAsset": "BTC", "tradeId": 7}]  # fmt: skip
    router.post(ORDER).respond(json=placed)
    ack = await venue.place_order(
        OrderRequest(placed["clientOrderId"], BTC, Side.BUY, Decimal("0.01"))
    )
    [fill] = ack.fills
    assert fill.qty == Decimal("0.01")  # traded quantity, gross of the base commission
    assert fill.fee_usd == Decimal("0.00001") * Decimal("60010")  # 0.6001 USD


async def test_bnb_commission_is_priced_from_the_bnb_book(
    venue: BinanceSpotVenue, router: respx.MockRouter
) -> None:
    placed = load("new_order_full.json")
    placed["fills"] = [{**placed["fills"][0], "commission": "0.002", "commissionAsset": "BNB"}]
    placed.update(executedQty="1", cummulativeQuoteQty="4000")
    router.post(ORDER).respond(json=placed)
    book = router.get(BOOK).respond(json=book_row("BNBUSDT", "599", "601"))
    ack = await venue.place_order(OrderRequest(placed["clientOrderId"], BTC, Side.SELL, Decimal(1)))
    assert ack.fills[0].fee_usd == Decimal("0.002") * Decimal(600)  # mid of 599 / 601
    assert sent_params(book.calls.last.request) == {"symbol": "BNBUSDT"}


async def test_query_cancel_and_open_orders(
    venue: BinanceSpotVenue, router: respx.MockRouter
) -> None:
    ltc = InstrumentId("binance", InstrumentKind.SPOT, "LTCBTC")
    queried = load("query_order.json")
    get = router.get(ORDER).respond(json=queried)
    ack = await venue.fetch_order(ltc, "myOrder1")
    assert (ack.status, ack.qty, ack.filled_qty, ack.avg_price) == (
        OrderStatus.NEW, Decimal("1.0"), Decimal(0), None,
    )  # fmt: skip
    assert sent_params(get.calls.last.request)["origClientOrderId"] == "myOrder1"
    assert_signed(get.calls.last.request)

    canceled = load("cancel_order.json")
    router.delete(ORDER).respond(json=canceled)
    result = await venue.cancel_order(ltc, "myOrder1")
    # clientOrderId of the answer is the cancel's own id; ours is origClientOrderId
    assert (result.client_order_id, result.status) == ("myOrder1", OrderStatus.CANCELED)

    router.get("/api/v3/openOrders").respond(json=load("open_orders.json"))
    [open_order] = await venue.fetch_open_orders()
    assert (open_order.client_order_id, open_order.instrument_id) == ("myOrder1", ltc)


async def test_cancel_of_a_final_order_returns_it(
    venue: BinanceSpotVenue, router: respx.MockRouter
) -> None:
    router.delete(ORDER).respond(400, json=error_body(-2011))
    router.get(ORDER).respond(json=load("query_order.json"))
    ltc = InstrumentId("binance", InstrumentKind.SPOT, "LTCBTC")
    assert (await venue.cancel_order(ltc, "myOrder1")).venue_order_id == "1"


@pytest.mark.parametrize(
    ("code", "contains", "error"),
    [
        (-2010, "Duplicate", DuplicateClientOrderId),
        (-2010, "insufficient balance", InsufficientMargin),
        (-1013, "NOTIONAL", InvalidOrder),
        (-1100, "newClientOrderId", InvalidOrder),
    ],
)
async def test_order_rejections(
    venue: BinanceSpotVenue,
    router: respx.MockRouter,
    code: int,
    contains: str,
    error: type[Exception],
) -> None:
    post = router.post(ORDER).respond(400, json=error_body(code, contains))
    with pytest.raises(error) as info:
        await venue.place_order(OrderRequest("cid-1", BTC, Side.BUY, Decimal("0.001")))
    assert getattr(info.value, "client_order_id", None) == "cid-1"
    assert post.call_count == 1


async def test_post_timeout_is_sent_once(venue: BinanceSpotVenue, router: respx.MockRouter) -> None:
    post = router.post(ORDER).mock(side_effect=httpx.ReadTimeout("slow"))
    router.get(ORDER).respond(400, json=error_body(-2013))
    with pytest.raises(RequestTimeout):
        await venue.place_order(OrderRequest("t-1", BTC, Side.BUY, Decimal("0.001")))
    assert post.call_count == 1
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(BTC, "t-1")


# --- account ---------------------------------------------------------------------------------


async def test_balances_and_positions(venue: BinanceSpotVenue, router: respx.MockRouter) -> None:
    account = load("account.json")
    route = router.get("/api/v3/account").respond(json=account)
    router.get("/api/v3/exchangeInfo").respond(json=load("exchange_info_btc_eth.json"))
    book = router.get(BOOK).respond(json=book_row("BTCUSDT", "59990", "60010"))
    balances = {b.asset: b for b in await venue.fetch_balances()}
    assert balances["BTC"].total == Decimal("4723846.89208129")  # free + locked 0
    assert balances["BTC"].ts_event_ms == account["updateTime"]
    assert sent_params(route.calls.last.request)["omitZeroBalances"] == "true"
    [position] = await venue.fetch_positions()  # LTC has no LTC/USD instrument: skipped
    assert (position.instrument_id, position.qty) == (BTC, Decimal("4723846.89208129"))
    assert position.mark_price == position.entry_price == Decimal(60_000)
    assert sent_params(book.calls.last.request) == {"symbol": "BTCUSDT"}


async def test_no_credentials_is_auth_error(router: respx.MockRouter) -> None:
    client = make_spot_rest_client(BASE_URL, transport=httpx.MockTransport(router.handler))
    venue = BinanceSpotVenue(BinanceSpotRest(client, None, None, lambda: NOW_MS))
    with pytest.raises(AuthError, match="API key"):
        await venue.fetch_balances()
    await venue.close()


# --- transport, limits, clock ----------------------------------------------------------------


async def test_429_waits_retry_after_then_succeeds(
    venue: BinanceSpotVenue, router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.get("/api/v3/account").mock(
        side_effect=[
            httpx.Response(429, json=error_body(-1003), headers={"Retry-After": "3"}),
            httpx.Response(200, json=load("account.json")),
        ]
    )
    assert len(await venue.fetch_balances()) == 2
    assert route.call_count == 2
    assert sum(clock.sleeps_s) >= 3.0


async def test_429_carries_retry_after(venue: BinanceSpotVenue, router: respx.MockRouter) -> None:
    router.get("/api/v3/account").respond(
        429, json=error_body(-1003), headers={"Retry-After": "90"}
    )
    with pytest.raises(RateLimited) as info:  # longer than RestClient's 60 s cap: not retried
        await venue.fetch_balances()
    assert (info.value.retry_after_s, info.value.code) == (90.0, "-1003")


async def test_used_weight_header_syncs_the_6000_bucket(
    venue: BinanceSpotVenue, router: respx.MockRouter, limiter: RateLimiter, clock: FakeClock
) -> None:
    router.get("/api/v3/exchangeInfo").respond(
        json=load("exchange_info_btc_eth.json"), headers={"X-MBX-USED-WEIGHT-1M": "5990"}
    )
    await venue.load_instruments()
    assert limiter.available_weight == pytest.approx(10.0)
    await venue.load_instruments()  # weight 20: waits for 10 more at 100 weight/s
    assert clock.sleeps_s == [pytest.approx(0.1)]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}),
        (400, {"code": -1022, "msg": "Signature for this request is not valid."}),
    ],
)
async def test_auth_failure_is_not_retried(
    venue: BinanceSpotVenue, router: respx.MockRouter, status: int, body: Any
) -> None:
    route = router.get("/api/v3/account").respond(status, json=body)
    with pytest.raises(AuthError) as info:
        await venue.fetch_balances()
    assert route.call_count == 1
    assert API_KEY not in str(info.value)
    assert API_SECRET not in str(info.value)


async def test_clock_skew_on_get_resyncs_and_resigns(
    venue: BinanceSpotVenue, rest: BinanceSpotRest, router: respx.MockRouter
) -> None:
    server = load("server_time.json")
    router.get("/api/v3/time").respond(json=server)
    route = router.get("/api/v3/account").mock(
        side_effect=[
            httpx.Response(400, json=error_body(-1021)),
            httpx.Response(200, json=load("account.json")),
        ]
    )
    assert len(await venue.fetch_balances()) == 2
    assert rest.clock_offset_ms == server["serverTime"] - NOW_MS
    assert sent_params(route.calls.last.request)["timestamp"] == str(server["serverTime"])


async def test_clock_skew_on_post_is_raised_not_resent(
    venue: BinanceSpotVenue, router: respx.MockRouter
) -> None:
    router.get("/api/v3/time").respond(json=load("server_time.json"))
    post = router.post(ORDER).respond(400, json=error_body(-1021))
    with pytest.raises(VenueError) as info:
        await venue.place_order(OrderRequest("s-1", BTC, Side.BUY, Decimal("0.001")))
    assert (info.value.code, post.call_count) == ("-1021", 1)
