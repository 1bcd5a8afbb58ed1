"""HyperliquidVenue + HyperliquidRest against recorded payloads (respx) and the stateful fake.

Recorded payloads come from ``tests/fixtures/hyperliquid/``; expected numbers are read from
the same JSON or worked out by hand in the test (tick rule, slippage bound, hashed cloid).
The l2Book payload is built from the documented shape (none is recorded).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from tests.fakes.hyperliquid import (
    ACCOUNT_ADDRESS,
    API_WALLET_KEY,
    BASE_URL,
    START_MS,
    FakeHyperliquid,
    FakeTime,
    load,
)
from venues.base import Credentials
from venues.errors import (
    AccountSetupError,
    AuthError,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    ProtocolError,
    RateLimited,
    TransportError,
    VenueError,
    VenueUnavailable,
)
from venues.hyperliquid.client import HyperliquidVenue, create_venue
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

BTC = InstrumentId("hyperliquid", InstrumentKind.PERP, "BTC")
ETH = InstrumentId("hyperliquid", InstrumentKind.PERP, "ETH")
HOUR = 3_600_000
HEX_ID = "5bdd47600dea461f36c8378cd7b4150c"


def build(
    time: FakeTime, router: respx.MockRouter, credentials: bool = True
) -> tuple[HyperliquidVenue, RateLimiter]:
    limiter = RateLimiter(1_200, 60.0, clock=time.monotonic_s, sleep=time.sleep)
    creds = Credentials(SecretStr(ACCOUNT_ADDRESS), SecretStr(API_WALLET_KEY))
    venue = create_venue(
        creds if credentials else None,
        rest_url=BASE_URL,
        transport=httpx.MockTransport(router.handler),
        sleep=time.sleep,
        now_ms=time.now_ms,
        limiter=limiter,
    )
    return venue, limiter


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def fake(time: FakeTime) -> FakeHyperliquid:
    venue_fake = FakeHyperliquid(time)
    venue_fake.seed("BTC", Decimal(84_000))
    return venue_fake


@pytest.fixture
async def venue(time: FakeTime, fake: FakeHyperliquid) -> HyperliquidVenue:
    built, _ = build(time, fake.router)
    await built.open()
    return built


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)


def info_route(router: respx.MockRouter, answers: dict[str, Any]) -> list[dict[str, Any]]:
    """Answer POST /info by request ``type``; returns the list of request bodies seen."""
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        answer = answers[body["type"]]
        if callable(answer):
            answer = answer(body)
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)

    router.post("/info").mock(side_effect=handler)
    return seen


def exchange_bodies(fake: FakeHyperliquid) -> list[dict[str, Any]]:
    return [body for path, body in fake.requests if path == "/exchange"]


# --- market data ---------------------------------------------------------------------------


async def test_load_instruments_tick_at_mark_and_lot_from_sz_decimals(
    time: FakeTime, router: respx.MockRouter
) -> None:
    seen = info_route(router, {"metaAndAssetCtxs": load("meta_and_asset_ctxs.json")})
    venue, limiter = build(time, router)
    instruments = await venue.load_instruments()
    # MATIC is delisted (kept in the universe for its index, not tradable)
    assert sorted(i.symbol for i in instruments) == ["ATOM", "BTC", "DYDX", "ETH", "SOL"]
    # markPx 77562.0 / 2123.7 / 86.148; 5 sig figs and 6 - szDecimals decimals by hand
    expected = {"BTC": ("1", "0.00001"), "ETH": ("0.1", "0.0001"), "SOL": ("0.001", "0.01")}
    for coin, (tick, lot) in expected.items():
        inst = instruments[InstrumentId("hyperliquid", InstrumentKind.PERP, coin)]
        assert (inst.tick_size, inst.lot_step, inst.min_qty) == (
            Decimal(tick),
            Decimal(lot),
            Decimal(lot),
        )
        assert (inst.base, inst.quote, inst.funding_interval_s) == (coin, "USDC", 3_600)
        assert inst.min_notional_usd == Decimal(10)
    assert seen == [{"type": "metaAndAssetCtxs"}]
    assert limiter.available_weight == pytest.approx(1_200 - 20)  # metaAndAssetCtxs weighs 20


async def test_fetch_funding_is_hourly_and_settles_next_full_hour(
    time: FakeTime, router: respx.MockRouter
) -> None:
    info_route(router, {"metaAndAssetCtxs": load("meta_and_asset_ctxs.json")})
    venue, _ = build(time, router)
    [btc, sol] = await venue.fetch_funding(
        [BTC, InstrumentId("hyperliquid", InstrumentKind.PERP, "SOL")]
    )
    hour_ms = (START_MS // 3_600_000 + 1) * 3_600_000
    assert (btc.rate, btc.interval_s) == (-0.0000015186, 3_600)
    assert (btc.ts_funding_ms, btc.ts_next_funding_ms) == (hour_ms, hour_ms + 3_600_000)
    assert btc.mark_price == 77562.0
    assert sol.rate == 0.0000098512


async def test_fetch_funding_unknown_coin_is_an_error(
    time: FakeTime, router: respx.MockRouter
) -> None:
    info_route(router, {"metaAndAssetCtxs": load("meta_and_asset_ctxs.json")})
    venue, _ = build(time, router)
    with pytest.raises(VenueError, match="DOGE"):
        await venue.fetch_funding([InstrumentId("hyperliquid", InstrumentKind.PERP, "DOGE")])


async def test_funding_history_pages_by_500_from_last_time_plus_one(
    time: FakeTime, router: respx.MockRouter
) -> None:
    base_ms = 1_790_352_000_000
    rows: list[dict[str, Any]] = [
        {
            "coin": "BTC",
            "fundingRate": "0.0000125",
            "premium": "0.0",
            "time": base_ms + h * HOUR + 15,
        }
        for h in range(502)
    ]

    def page(body: dict[str, Any]) -> Any:
        return [r for r in rows if r["time"] >= body["startTime"]][:500]

    seen = info_route(router, {"fundingHistory": page})
    venue, limiter = build(time, router)
    end_ms = base_ms + 501 * 3_600_000  # excludes the last row's hour
    history = await venue.fetch_funding_history(BTC, base_ms, end_ms)
    assert [b["startTime"] for b in seen] == [base_ms, rows[499]["time"] + 1]
    assert all(b["endTime"] == end_ms and b["coin"] == "BTC" for b in seen)
    assert [r.ts_funding_ms for r in history] == [base_ms + h * 3_600_000 for h in range(501)]
    # 20 per request + 1 per 20 rows returned: 2 × 20 + 500 // 20 + 2 // 20
    assert limiter.available_weight == pytest.approx(1_200 - 40 - 25)


async def test_fetch_bars_from_candle_snapshot(time: FakeTime, router: respx.MockRouter) -> None:
    candles = load("candle_snapshot_btc_1h.json")
    seen = info_route(router, {"candleSnapshot": candles})
    venue, _ = build(time, router)
    start_ms, end_ms = candles[1]["t"], candles[4]["t"]
    bars = await venue.fetch_bars(BTC, start_ms, end_ms, 3_600)
    assert seen[0]["req"] == {
        "coin": "BTC",
        "interval": "1h",
        "startTime": start_ms,
        "endTime": end_ms - 1,
    }
    assert [b.ts_open_ms for b in bars] == [c["t"] for c in candles[1:4]]
    assert (bars[0].open, bars[0].close, bars[0].volume) == (84010.0, 83772.0, 2718.73729)
    assert bars[0].ts_close_ms == candles[1]["T"] + 1
    with pytest.raises(VenueError, match="interval"):
        await venue.fetch_bars(BTC, start_ms, end_ms, 7)


async def test_fetch_quotes_top_of_l2_book(venue: HyperliquidVenue, fake: FakeHyperliquid) -> None:
    [quote] = await venue.fetch_quotes([BTC])
    assert (quote.bid, quote.ask) == (83_999.0, 84_001.0)  # one tick (1) around 84000
    assert quote.ts_event_ms == START_MS
    assert fake.requests[-1] == ("/info", {"type": "l2Book", "coin": "BTC"})


async def test_one_sided_book_is_protocol_error(time: FakeTime, router: respx.MockRouter) -> None:
    book = {"coin": "BTC", "time": 1, "levels": [[], [{"px": "1.0", "sz": "1.0", "n": 1}]]}
    info_route(router, {"l2Book": book})
    venue, _ = build(time, router)
    with pytest.raises(ProtocolError, match="bids"):
        await venue.fetch_quotes([BTC])


# --- orders ----------------------------------------------------------------------------------


async def test_market_buy_is_ioc_at_mid_plus_5_pct_with_our_cloid(
    venue: HyperliquidVenue, fake: FakeHyperliquid
) -> None:
    request = OrderRequest(HEX_ID, BTC, Side.BUY, Decimal("0.002"), reference_price=Decimal(83_990))
    ack = await venue.place_order(request)
    [body] = exchange_bodies(fake)
    assert body["action"] == {
        "type": "order",
        "orders": [
            {"a": 0, "b": True, "p": "88200", "s": "0.002", "r": False,
             "t": {"limit": {"tif": "Ioc"}}, "c": "0x" + HEX_ID},
        ],
        "grouping": "na",
    }  # fmt: skip  # 84000 × 1.05 = 88200 (tick 1)
    assert body["nonce"] == START_MS
    assert (ack.status, ack.filled_qty, ack.avg_price) == (
        OrderStatus.FILLED,
        Decimal("0.002"),
        Decimal(84_000),
    )
    [fill] = ack.fills
    assert (fill.client_order_id, fill.qty, fill.price) == (
        HEX_ID,
        Decimal("0.002"),
        Decimal(84_000),
    )
    assert fill.reference_price == Decimal(83_990)
    assert fill.fee_usd == Decimal("0.0756")  # 0.002 × 84000 × 0.045 %


async def test_market_sell_bound_and_hashed_client_order_id(
    venue: HyperliquidVenue, fake: FakeHyperliquid
) -> None:
    ack = await venue.place_order(OrderRequest("leg-a/1", BTC, Side.SELL, Decimal("0.001")))
    [body] = exchange_bodies(fake)
    wire = body["action"]["orders"][0]
    assert (wire["b"], wire["p"]) == (False, "79800")  # 84000 × 0.95
    assert wire["c"] == "0x" + hashlib.sha256(b"leg-a/1").hexdigest()[:32]
    assert ack.client_order_id == "leg-a/1"
    assert [f.client_order_id for f in ack.fills] == ["leg-a/1"]
    fetched = await venue.fetch_order(BTC, "leg-a/1")
    assert (fetched.client_order_id, fetched.status, fetched.avg_price) == (
        "leg-a/1",
        OrderStatus.FILLED,
        Decimal(84_000),
    )


async def test_gtc_limit_rests_then_cancel_by_cloid(
    venue: HyperliquidVenue, fake: FakeHyperliquid
) -> None:
    request = OrderRequest(
        HEX_ID, BTC, Side.BUY, Decimal("0.001"), OrderType.LIMIT, Decimal(80_000), TimeInForce.GTC
    )
    ack = await venue.place_order(request)
    assert (ack.status, ack.filled_qty, ack.fills) == (OrderStatus.NEW, Decimal(0), ())
    [open_order] = await venue.fetch_open_orders()
    assert (open_order.client_order_id, open_order.venue_order_id) == (HEX_ID, ack.venue_order_id)
    canceled = await venue.cancel_order(BTC, HEX_ID)
    assert canceled.status is OrderStatus.CANCELED
    assert exchange_bodies(fake)[-1]["action"] == {
        "type": "cancelByCloid",
        "cancels": [{"asset": 0, "cloid": "0x" + HEX_ID}],
    }
    assert await venue.fetch_open_orders() == []
    again = await venue.cancel_order(BTC, HEX_ID)  # already final: returned as is
    assert again.status is OrderStatus.CANCELED
    with pytest.raises(OrderNotFound):
        await venue.cancel_order(BTC, "f" * 32)


@pytest.mark.parametrize(
    ("qty", "price", "reason"),
    [
        ("0.000005", None, "szDecimals 5"),  # 6 decimals on a 5-decimal coin
        ("0.0001", None, r"below the \$10"),  # 0.0001 × 84000 = 8.4 USDC
        ("0.001", "84000.5", "5 significant figures"),  # 6 sig figs
        ("0", None, "positive"),
    ],
)
async def test_invalid_orders_are_refused_before_sending(
    venue: HyperliquidVenue, fake: FakeHyperliquid, qty: str, price: str | None, reason: str
) -> None:
    order_type = OrderType.MARKET if price is None else OrderType.LIMIT
    limit = None if price is None else Decimal(price)
    request = OrderRequest("bad-1", BTC, Side.BUY, Decimal(qty), order_type, limit)
    with pytest.raises(InvalidOrder, match=reason) as info:
        await venue.place_order(request)
    assert info.value.client_order_id == "bad-1"
    assert exchange_bodies(fake) == []


async def test_per_order_venue_errors_map_to_the_error_tree(
    time: FakeTime, router: respx.MockRouter
) -> None:
    info_route(router, {"meta": load("meta.json"), "allMids": {"ETH": "2123.95"}})
    margin = {"status": "ok", "response": {"type": "order", "data": {"statuses": [
        {"error": "Insufficient margin to place order. asset=1"}]}}}  # fmt: skip
    answers = iter([load("order_response_error.json"), margin])
    router.post("/exchange").mock(side_effect=lambda _: httpx.Response(200, json=next(answers)))
    venue, _ = build(time, router)
    await venue.open()
    request = OrderRequest(HEX_ID, ETH, Side.BUY, Decimal("0.01"))
    with pytest.raises(InvalidOrder, match=r"minimum value of \$10"):
        await venue.place_order(request)
    with pytest.raises(InsufficientMargin):
        await venue.place_order(request)


async def test_whole_action_refusals(time: FakeTime, router: respx.MockRouter) -> None:
    info_route(router, {"meta": load("meta.json"), "allMids": {"BTC": "84000"}})
    limited = {"status": "err", "response": "Too many cumulative requests sent (97460 > 97456)"}
    answers = iter([load("exchange_err_unknown_signer.json"), limited])
    router.post("/exchange").mock(side_effect=lambda _: httpx.Response(200, json=next(answers)))
    venue, _ = build(time, router)
    request = OrderRequest(HEX_ID, BTC, Side.BUY, Decimal("0.001"))
    with pytest.raises(AuthError, match="does not exist"):
        await venue.place_order(request)
    with pytest.raises(RateLimited) as info:
        await venue.place_order(request)
    assert info.value.retry_after_s == 10.0


@pytest.mark.parametrize("kind", ["connect", "server_error"])
async def test_order_post_is_sent_once_on_unknown_outcome(
    venue: HyperliquidVenue, fake: FakeHyperliquid, kind: str
) -> None:
    request = OrderRequest(
        HEX_ID, BTC, Side.BUY, Decimal("0.001"), OrderType.LIMIT, Decimal(85_000)
    )
    fake.fail_next(kind, 1)
    with pytest.raises(TransportError if kind == "connect" else VenueUnavailable):
        await venue.place_order(request)
    assert len(exchange_bodies(fake)) == 1  # the failed POST, never re-sent
    assert fake.time.slept_s == []
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(BTC, HEX_ID)


async def test_duplicate_cloid_is_refused(venue: HyperliquidVenue) -> None:
    from venues.errors import DuplicateClientOrderId

    await venue.place_order(OrderRequest(HEX_ID, BTC, Side.BUY, Decimal("0.001")))
    with pytest.raises(DuplicateClientOrderId):
        await venue.place_order(OrderRequest(HEX_ID.upper(), BTC, Side.SELL, Decimal("0.001")))


async def test_fetch_order_adds_recorded_fills(time: FakeTime, router: respx.MockRouter) -> None:
    status = load("order_status_filled_cloid.json")
    status["order"]["order"].update(coin="BTC", oid=544900123760, origSz="0.00551",
                                    cloid="0x" + HEX_ID)  # fmt: skip
    seen = info_route(router, {"orderStatus": status, "userFills": load("user_fills.json")})
    venue, _ = build(time, router)
    ack = await venue.fetch_order(BTC, HEX_ID)
    assert seen[0] == {"type": "orderStatus", "user": ACCOUNT_ADDRESS, "oid": "0x" + HEX_ID}
    assert (ack.status, ack.filled_qty) == (OrderStatus.FILLED, Decimal("0.00551"))
    assert [f.qty for f in ack.fills] == [Decimal("0.00016"), Decimal("0.00535")]  # by time
    assert ack.avg_price == Decimal("78751.0")


# --- account ---------------------------------------------------------------------------------


async def test_positions_and_balance_from_clearinghouse_state(
    time: FakeTime, router: respx.MockRouter
) -> None:
    seen = info_route(router, {"clearinghouseState": load("clearinghouse_state.json")})
    venue, _ = build(time, router)
    [position] = await venue.fetch_positions()
    assert (position.instrument_id, position.qty, position.entry_price) == (
        ETH,
        Decimal("0.0335"),
        Decimal("2986.3"),
    )
    assert position.mark_price == Decimal("100.02765") / Decimal("0.0335")
    [balance] = await venue.fetch_balances()
    # total = accountValue − unrealizedPnl = 13109.482328 + 0.0134
    assert (balance.asset, balance.total, balance.available) == (
        "USDC",
        Decimal("13109.495728"),
        Decimal("13104.514502"),
    )
    assert seen[0] == {"type": "clearinghouseState", "user": ACCOUNT_ADDRESS}


async def test_funding_payments_from_user_funding(time: FakeTime, router: respx.MockRouter) -> None:
    rows = load("user_funding.json")
    seen = info_route(router, {"userFunding": rows})
    venue, _ = build(time, router)
    payments = await venue.fetch_funding_payments(1_681_900_000_000)
    assert seen == [
        {"type": "userFunding", "user": ACCOUNT_ADDRESS, "startTime": 1_681_900_000_000}
    ]
    btc = next(p for p in payments if p.instrument_id == BTC)
    # nSamples 3: three hourly settlements folded; oracle implied by usdc = −rate × szi × px
    assert (btc.amount_usd, btc.position_qty, btc.interval_s) == (
        Decimal("5.950454"),
        Decimal("-0.68582"),
        10_800,
    )
    assert btc.rate == pytest.approx(0.00030243)
    implied = Decimal("5.950454") / (Decimal("0.00030243") * Decimal("0.68582"))
    assert abs(btc.mark_price - implied) < Decimal("1e-9")


async def test_funding_payments_after_a_settlement(
    venue: HyperliquidVenue, fake: FakeHyperliquid
) -> None:
    await venue.place_order(OrderRequest(HEX_ID, BTC, Side.SELL, Decimal("0.01")))
    hour_ms = fake.settle(Decimal("0.0000125"))
    [payment] = await venue.fetch_funding_payments(0)
    # a short receives: 0.0000125 × 0.01 × 84000 = 0.0105 USDC
    assert (payment.ts_funding_ms, payment.amount_usd) == (hour_ms, Decimal("0.0105"))
    assert (payment.position_qty, payment.mark_price) == (Decimal("-0.01"), Decimal(84_000))


async def test_market_data_only_venue_refuses_account_calls(
    time: FakeTime, fake: FakeHyperliquid
) -> None:
    venue, _ = build(time, fake.router, credentials=False)
    assert len(await venue.fetch_funding([BTC])) == 1
    with pytest.raises(AuthError, match="account address"):
        await venue.fetch_balances()
    with pytest.raises(AuthError, match="API wallet private key"):
        await venue.place_order(OrderRequest(HEX_ID, BTC, Side.BUY, Decimal("0.001")))
    assert exchange_bodies(fake) == []


async def test_prepare_account_sets_cross_leverage(
    venue: HyperliquidVenue, fake: FakeHyperliquid
) -> None:
    lines = await venue.prepare_account([BTC, ETH], Decimal(3))
    assert [b["action"] for b in exchange_bodies(fake)] == [
        {"type": "updateLeverage", "asset": 0, "isCross": True, "leverage": 3},
        {"type": "updateLeverage", "asset": 1, "isCross": True, "leverage": 3},
    ]
    assert fake.leverage == {0: (True, 3), 1: (True, 3)}
    assert len(lines) == 2
    with pytest.raises(AccountSetupError, match="whole number"):
        await venue.prepare_account([BTC], Decimal("2.5"))
    with pytest.raises(AccountSetupError, match="1…40"):
        await venue.prepare_account([BTC], Decimal(41))  # BTC maxLeverage 40 (meta.json)
    fake.fail_next("auth", 1)
    with pytest.raises(AccountSetupError, match="BTC"):
        await venue.prepare_account([BTC], Decimal(3))


async def test_rate_limit_waits_retry_after(venue: HyperliquidVenue, fake: FakeHyperliquid) -> None:
    fake.fail_next("rate_limit", 1)
    assert len(await venue.fetch_funding([BTC])) == 1
    assert max(fake.time.slept_s) >= 2.0


def test_package_imports_and_reads_without_the_signing_extra() -> None:
    """Market data needs no signing: block eth_account/eth_utils/msgpack and build a venue."""
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("eth_account", "eth_utils", "msgpack"):
            raise ImportError(f"blocked {name}")
        return None
sys.meta_path.insert(0, Block())
from pydantic import SecretStr
from venues.base import Credentials
from venues.hyperliquid.client import create_venue
from venues.hyperliquid.rest import HyperliquidRest
venue = create_venue()
rest = venue._rest
try:
    rest._sign({"type": "noop"}, 1)
except Exception as e:
    print(type(e).__name__)
rest._key = SecretStr("0x" + "11" * 32)
try:
    rest._sign({"type": "noop"}, 1)
except Exception as e:
    print(type(e).__name__, "zerobeta[hyperliquid]" in str(e))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split("\n")[:2] == ["AuthError", "AuthError True"]


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (429, {"type": "meta"}, {"Retry-After": "3"}, (RateLimited, 3.0)),
        (429, {"type": "meta"}, {}, (RateLimited, 60.0)),  # the weight window
        (422, {"type": "clearinghouseState", "user": "0x1"}, {}, (AuthError, None)),
        (422, {"type": "noSuchType"}, {}, (ProtocolError, None)),
        (500, {"type": "fundingHistory", "coin": "NOPE"}, {}, (VenueUnavailable, None)),
    ],
)
def test_classify_error(
    status: int, body: dict[str, Any], headers: dict[str, str], expected: tuple[type, float | None]
) -> None:
    from venues.hyperliquid.rest import classify_error

    request = httpx.Request("POST", f"{BASE_URL}/info", json=body)
    error = classify_error(httpx.Response(status, headers=headers, text="null", request=request))
    assert type(error) is expected[0]
    if expected[1] is not None:
        assert isinstance(error, RateLimited)
        assert error.retry_after_s == expected[1]
    assert classify_error(httpx.Response(200, json={}, request=request)) is None
