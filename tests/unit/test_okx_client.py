"""OkxVenue + OkxRest against recorded payloads (respx, no network) and the stateful fake.

Payloads come from ``tests/fixtures/okx-v5/``; expected values are read from the same JSON in
the test or computed by hand. ``GET /api/v5/trade/fills`` and ``/account/config`` have no
recorded fixture: their rows are written here in the documented shape (okx.com/docs-v5
"Get transaction details", "Get account configuration").
"""

from __future__ import annotations

import base64
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

from tests.fakes.okx import (
    API_KEY,
    API_PASSPHRASE,
    API_SECRET,
    BASE_URL,
    INTERVAL_MS,
    OkxFake,
    load,
)
from tests.unit.conftest import FakeClock
from venues.base import Credentials
from venues.errors import (
    AccountSetupError,
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
)
from venues.model import (
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from venues.okx.client import OkxVenue, create_venue
from venues.okx.orders import decode_client_order_id, encode_client_order_id
from venues.okx.rest import OkxRest, make_rest_client
from venues.okx.streams import OkxStreams, StreamSettings
from venues.ratelimit import RateLimiter

NOW_MS = 1_700_000_000_000
NOW_ISO = "2023-11-14T22:13:20.000Z"
PERP = InstrumentId("okx", InstrumentKind.PERP, "BTC-USDT-SWAP")
ETH = InstrumentId("okx", InstrumentKind.PERP, "ETH-USDT-SWAP")
SPOT = InstrumentId("okx", InstrumentKind.SPOT, "BTC-USDT")
CID = "0123456789abcdef0123456789abcdef"  # the agent's id shape: 32 lowercase hex
NOT_FOUND = {"code": "51603", "msg": "Order does not exist", "data": []}  # OKX "Error Code"


def hmac_b64(message: str) -> str:
    digest = hmac.new(API_SECRET.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def error_body(code: str) -> dict[str, Any]:
    for body in load("errors.json"):
        items = body["data"]
        if body["code"] == code or (items and items[0]["sCode"] == code):
            return dict(body)
    raise KeyError(code)


def placed(cl_ord_id: str) -> dict[str, Any]:
    """``place_order.json`` echoing our ``clOrdId`` (the sample echoes ``oktswap6``)."""
    payload = load("place_order.json")
    payload["data"][0]["clOrdId"] = cl_ord_id
    return dict(payload)


# --- respx over recorded fixtures, fixed clock -------------------------------------------


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)


def make_venue(
    router: respx.MockRouter, clock: FakeClock, passphrase: str | None = API_PASSPHRASE
) -> OkxVenue:
    client = make_rest_client(
        BASE_URL,
        transport=httpx.MockTransport(router.handler),
        limiter=RateLimiter(1000, 2.0, clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
    )
    rest = OkxRest(
        client,
        SecretStr(API_KEY),
        SecretStr(API_SECRET),
        None if passphrase is None else SecretStr(passphrase),
        lambda: NOW_MS,
        clock=clock,
        sleep=clock.sleep,
    )
    streams = OkxStreams(
        rest,
        public_url="ws://x",
        private_url="ws://y",
        settings=StreamSettings(),
        sleep=clock.sleep,
    )
    return OkxVenue(rest, streams)


@pytest.fixture
async def venue(router: respx.MockRouter, clock: FakeClock) -> AsyncIterator[OkxVenue]:
    v = make_venue(router, clock)
    yield v
    await v.close()


def serve_instruments(router: respx.MockRouter) -> None:
    router.get("/api/v5/public/funding-rate", params={"instId": "ANY"}).respond(
        json=load("funding_rate_btc_usdt_swap.json")
    )
    swaps = load("instruments_swap_btc_eth.json")
    router.get("/api/v5/public/instruments", params={"instType": "SWAP"}).respond(json=swaps)
    spots = load("instruments_spot_btc_usdt.json")
    router.get("/api/v5/public/instruments", params={"instType": "SPOT"}).respond(json=spots)


async def test_load_instruments_converts_contracts(
    venue: OkxVenue, router: respx.MockRouter
) -> None:
    serve_instruments(router)
    instruments = await venue.load_instruments()
    btc = instruments[PERP]
    # BTC-USDT-SWAP: ctVal 0.01 BTC, lotSz 0.01 and minSz 0.01 contracts, tickSz 0.1
    assert (btc.lot_step, btc.min_qty, btc.contract_multiplier) == (
        Decimal("0.0001"),
        Decimal("0.0001"),
        Decimal("0.01"),
    )
    assert (btc.tick_size, btc.base, btc.quote) == (Decimal("0.1"), "BTC", "USDT")
    assert btc.funding_interval_s == 8 * 3600  # 1703116800000 − 1703088000000 ms
    assert instruments[ETH].contract_multiplier == Decimal("0.1")
    assert instruments[ETH].funding_interval_s is None  # not in the funding-rate answer
    spot = instruments[SPOT]
    assert (spot.lot_step, spot.min_qty, spot.funding_interval_s) == (
        Decimal("0.00000001"),
        Decimal("0.00001"),
        None,
    )


async def test_fetch_funding_and_quotes(venue: OkxVenue, router: respx.MockRouter) -> None:
    router.get("/api/v5/public/funding-rate", params={"instId": "BTC-USDT-SWAP"}).respond(
        json=load("funding_rate_btc_usdt_swap.json")
    )
    ticker = load("ticker.json")
    ticker["data"][0]["instId"] = "BTC-USDT-SWAP"  # the doc sample is BTC-USD-SWAP
    router.get("/api/v5/market/ticker").respond(json=ticker)
    [rate] = await venue.fetch_funding([PERP])
    assert rate.rate == 0.0000792386885340
    assert (rate.ts_funding_ms, rate.ts_next_funding_ms) == (1703088000000, 1703116800000)
    assert rate.interval_s == 28_800
    [quote] = await venue.fetch_quotes([PERP])
    assert (quote.bid, quote.ask, quote.ts_event_ms) == (8888.88, 9999.99, 1597026383085)


async def test_private_get_is_signed_over_path_and_query(
    venue: OkxVenue, router: respx.MockRouter
) -> None:
    route = router.get("/api/v5/account/balance").respond(json=load("balance.json"))
    [usdt] = await venue.fetch_balances()
    assert (usdt.asset, usdt.total, usdt.available) == (
        "USDT",
        Decimal("4850.435693622894"),
        Decimal("4834.317093622894"),
    )
    headers = route.calls.last.request.headers
    assert headers["OK-ACCESS-TIMESTAMP"] == NOW_ISO
    assert headers["OK-ACCESS-SIGN"] == hmac_b64(NOW_ISO + "GET/api/v5/account/balance")
    assert (headers["OK-ACCESS-KEY"], headers["OK-ACCESS-PASSPHRASE"]) == (
        API_KEY,
        API_PASSPHRASE,
    )


async def test_order_post_signs_the_exact_body_and_sends_contracts(
    venue: OkxVenue, router: respx.MockRouter
) -> None:
    serve_instruments(router)
    place = router.post("/api/v5/trade/order").respond(json=placed(CID))
    router.get("/api/v5/trade/order").respond(json=NOT_FOUND)
    ack = await venue.place_order(OrderRequest(CID, PERP, Side.SELL, Decimal("0.05")))
    assert (ack.status, ack.venue_order_id, ack.client_order_id) == (
        OrderStatus.NEW,  # the lookup found nothing yet: the acceptance is returned
        "312269865356374016",
        CID,
    )
    request = place.calls.last.request
    body = json.loads(request.content)
    assert body == {
        "instId": "BTC-USDT-SWAP",
        "tdMode": "cross",
        "clOrdId": CID,
        "side": "sell",
        "ordType": "market",
        "sz": "5",  # 0.05 BTC / 0.01 BTC per contract
    }
    signed = NOW_ISO + "POST/api/v5/trade/order" + request.content.decode()
    assert request.headers["OK-ACCESS-SIGN"] == hmac_b64(signed)


async def test_spot_limit_order_is_sized_in_base_units(
    venue: OkxVenue, router: respx.MockRouter
) -> None:
    serve_instruments(router)
    place = router.post("/api/v5/trade/order").respond(json=placed(CID))
    router.get("/api/v5/trade/order").respond(json=NOT_FOUND)
    request = OrderRequest(
        CID, SPOT, Side.BUY, Decimal("0.00123"), OrderType.LIMIT, Decimal("50000.1"),
        TimeInForce.GTC,
    )  # fmt: skip
    await venue.place_order(request)
    body = json.loads(place.calls.last.request.content)
    assert (body["sz"], body["tgtCcy"], body["tdMode"]) == ("0.00123", "base_ccy", "cash")
    assert (body["ordType"], body["px"]) == ("limit", "50000.1")


async def test_off_step_quantity_is_refused_before_sending(
    venue: OkxVenue, router: respx.MockRouter
) -> None:
    serve_instruments(router)
    place = router.post("/api/v5/trade/order").respond(json=load("place_order.json"))
    with pytest.raises(InvalidOrder) as info:
        await venue.place_order(OrderRequest(CID, PERP, Side.BUY, Decimal("0.00015")))
    assert "lot step 0.0001" in info.value.reason
    assert info.value.client_order_id == CID
    assert place.call_count == 0


@pytest.mark.parametrize(
    ("code", "error_type"), [("51008", InsufficientMargin), ("51016", DuplicateClientOrderId)]
)
async def test_item_level_rejections(
    venue: OkxVenue, router: respx.MockRouter, code: str, error_type: type[Exception]
) -> None:
    serve_instruments(router)
    router.post("/api/v5/trade/order").respond(json=error_body(code))
    with pytest.raises(error_type) as info:
        await venue.place_order(OrderRequest(CID, PERP, Side.BUY, Decimal("0.01")))
    assert info.value.client_order_id == CID  # type: ignore[attr-defined]
    assert info.value.code == code  # type: ignore[attr-defined]


async def test_missing_passphrase_is_auth_error(router: respx.MockRouter, clock: FakeClock) -> None:
    venue = make_venue(router, clock, passphrase=None)
    with pytest.raises(AuthError, match="api_passphrase"):
        await venue.fetch_balances()
    await venue.close()


async def test_timestamp_expired_resyncs_and_resends_a_read_once(
    venue: OkxVenue, router: respx.MockRouter
) -> None:
    expired = httpx.Response(401, json=error_body("50102"))
    balance = router.get("/api/v5/account/balance").mock(
        side_effect=[expired, httpx.Response(200, json=load("balance.json"))]
    )
    server_ts = NOW_MS + 5_000
    time = router.get("/api/v5/public/time").respond(
        json={"code": "0", "msg": "", "data": [{"ts": str(server_ts)}]}
    )
    await venue.fetch_balances()
    assert (balance.call_count, time.call_count) == (2, 1)
    # the re-sent request is stamped with the server's clock (+5 s)
    assert balance.calls.last.request.headers["OK-ACCESS-TIMESTAMP"] == "2023-11-14T22:13:25.000Z"


async def test_timestamp_expired_on_an_order_is_raised_not_resent(
    venue: OkxVenue, router: respx.MockRouter
) -> None:
    serve_instruments(router)
    place = router.post("/api/v5/trade/order").respond(401, json=error_body("50102"))
    router.get("/api/v5/public/time").respond(json=load("server_time.json"))
    with pytest.raises(AuthError):
        await venue.place_order(OrderRequest(CID, PERP, Side.BUY, Decimal("0.01")))
    assert place.call_count == 1


async def test_rate_limit_in_a_200_body_waits_and_retries(
    venue: OkxVenue, router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.get("/api/v5/public/funding-rate").mock(
        side_effect=[
            httpx.Response(200, json=error_body("50011")),
            httpx.Response(200, json=load("funding_rate_btc_usdt_swap.json")),
        ]
    )
    await venue.fetch_funding([PERP])
    assert route.call_count == 2
    assert max(clock.sleeps_s) >= 2.0  # one 2 s window


async def test_rate_limit_that_persists_surfaces(venue: OkxVenue, router: respx.MockRouter) -> None:
    router.get("/api/v5/public/funding-rate").respond(429, json=error_body("50011"))
    with pytest.raises(RateLimited) as info:
        await venue.fetch_funding([PERP])
    assert info.value.retry_after_s == 2.0


async def test_fetch_order_with_fills_in_base_units(
    venue: OkxVenue, router: respx.MockRouter
) -> None:
    serve_instruments(router)
    details = load("order_details.json")
    router.get("/api/v5/trade/order").respond(json=details)
    fill_row = {
        "instType": "SPOT", "instId": "BTC-USDT", "tradeId": "744876980",
        "ordId": "680800019749904384", "clOrdId": "", "billId": "680800019754098688", "tag": "",
        "fillPx": "51858", "fillSz": "0.00192834", "side": "buy", "posSide": "net",
        "execType": "T", "feeCcy": "BTC", "fee": "-0.00000192834", "ts": "1708587373362",
        "fillTime": "1708587373361",
    }  # fmt: skip
    fills = router.get("/api/v5/trade/fills").respond(
        json={"code": "0", "msg": "", "data": [fill_row]}
    )
    ack = await venue.fetch_order(SPOT, "anything")
    # a quote-sized market buy: its base quantity is what filled
    assert (ack.status, ack.qty, ack.filled_qty, ack.avg_price) == (
        OrderStatus.FILLED,
        Decimal("0.00192834"),
        Decimal("0.00192834"),
        Decimal("51858"),
    )
    [fill] = ack.fills
    assert (fill.qty, fill.price, fill.liquidity) == (
        Decimal("0.00192834"),
        Decimal("51858"),
        Liquidity.TAKER,
    )
    assert fill.fee_usd == Decimal("0.00000192834") * Decimal("51858")  # BTC fee at fillPx
    assert fill.client_order_id == "anything"
    assert dict(fills.calls.last.request.url.params)["ordId"] == "680800019749904384"


def test_client_order_ids_round_trip() -> None:
    assert encode_client_order_id(CID) == CID
    for cid in ("contract-1", "a_b", "Zeta", "\x00x", "contract-unknown-22-byte"[:22]):
        encoded = encode_client_order_id(cid)
        assert encoded.isalnum()
        assert len(encoded) <= 32
        assert decode_client_order_id(encoded) == cid
    with pytest.raises(InvalidOrder):
        encode_client_order_id("x" * 23 + "-")
    assert decode_client_order_id("Zz") == "Zz"  # not ours: left as is


# --- against the stateful fake ------------------------------------------------------------


@pytest.fixture
async def fake_venue() -> AsyncIterator[tuple[OkxFake, OkxVenue]]:
    fake = OkxFake()
    for inst_id in ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "BTC-USDT"):
        fake.seed_price(inst_id, Decimal(60_000))
    creds = Credentials(SecretStr(API_KEY), SecretStr(API_SECRET), SecretStr(API_PASSPHRASE))
    venue = create_venue(creds, rest_url=BASE_URL, transport=fake.transport, sleep=fake.sleep)
    await venue.open()
    yield fake, venue
    await venue.close()


async def test_funding_history_pages_backwards(
    fake_venue: tuple[OkxFake, OkxVenue],
) -> None:
    fake, venue = fake_venue
    first_ms = 1_600_000_000_000
    fake.history["BTC-USDT-SWAP"] = [
        (first_ms + k * INTERVAL_MS, Decimal(k) / Decimal(10**6)) for k in range(900)
    ]
    start_ms, end_ms = first_ms + 50 * INTERVAL_MS, first_ms + 850 * INTERVAL_MS
    before = len(fake.requests)
    rates = await venue.fetch_funding_history(PERP, start_ms, end_ms)
    assert [r.ts_funding_ms for r in rates] == [first_ms + k * INTERVAL_MS for k in range(50, 850)]
    assert rates[10].rate == 60 / 10**6
    assert all(r.interval_s == 28_800 for r in rates)
    pages = [r for r in fake.requests[before:] if r.url.path.endswith("funding-rate-history")]
    assert (
        [r.url.params["after"] for r in pages]
        == [
            str(end_ms),
            str(first_ms + 450 * INTERVAL_MS),  # oldest of the first 400
            str(first_ms + 50 * INTERVAL_MS),  # oldest of the second 400 = start: stop
        ][: len(pages)]
    )
    assert len(pages) == 2


async def test_fetch_bars_pages_and_drops_the_forming_bar(
    fake_venue: tuple[OkxFake, OkxVenue],
) -> None:
    fake, venue = fake_venue
    hour_ms, t0 = 3_600_000, 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000
    rows = []
    for k in range(250):
        confirm = "0" if k == 249 else "1"
        rows.append([str(t0 + k * hour_ms), "1", "3", "0.5", str(k), "10", "7", "70", confirm])
    fake.candles["BTC-USDT-SWAP"] = rows
    bars = await venue.fetch_bars(PERP, t0 + 5 * hour_ms, t0 + 300 * hour_ms, 3_600)
    assert [b.ts_open_ms for b in bars] == [t0 + k * hour_ms for k in range(5, 249)]
    assert (bars[0].close, bars[0].volume) == (5.0, 7.0)  # volCcy (base) for a swap
    assert bars[0].ts_close_ms == t0 + 6 * hour_ms
    pages = [r for r in fake.requests if r.url.path.endswith("history-candles")]
    assert len(pages) == 3  # 100 + 100 + 50 rows


async def test_funding_payment_from_bills(fake_venue: tuple[OkxFake, OkxVenue]) -> None:
    fake, venue = fake_venue
    await venue.place_order(OrderRequest(CID, PERP, Side.SELL, Decimal("0.02")))
    assert fake.account.positions["BTC-USDT-SWAP"][0] == Decimal(-2)  # contracts
    fake.settle_funding()
    [payment] = await venue.fetch_funding_payments(0)
    # short 0.02 BTC, rate +0.0001, mark 60000: receives 0.0001 × 0.02 × 60000 = 0.12 USDT
    assert payment.amount_usd == Decimal("0.12")
    assert payment.position_qty == Decimal("-0.02")
    assert payment.mark_price == Decimal(60_000)
    assert (payment.rate, payment.interval_s) == (0.0001, 28_800)


async def test_resting_order_is_open_then_canceled(
    fake_venue: tuple[OkxFake, OkxVenue],
) -> None:
    _, venue = fake_venue
    request = OrderRequest(
        "rest-1", PERP, Side.BUY, Decimal("0.01"), OrderType.LIMIT, Decimal("50000"),
        TimeInForce.GTC,
    )  # fmt: skip
    ack = await venue.place_order(request)
    assert (ack.status, ack.filled_qty, ack.qty) == (OrderStatus.NEW, 0, Decimal("0.01"))
    [open_order] = await venue.fetch_open_orders()
    assert (open_order.client_order_id, open_order.qty) == ("rest-1", Decimal("0.01"))
    canceled = await venue.cancel_order(PERP, "rest-1")
    assert canceled.status is OrderStatus.CANCELED
    assert await venue.fetch_open_orders() == []
    with pytest.raises(OrderNotFound):
        await venue.cancel_order(PERP, "never-placed")


async def test_prepare_account_sets_net_mode_and_leverage_once(
    fake_venue: tuple[OkxFake, OkxVenue],
) -> None:
    fake, venue = fake_venue
    changes = await venue.prepare_account([PERP, SPOT], Decimal(3))
    assert changes == [
        "okx: position mode long_short_mode -> net_mode",
        "okx: okx:perp:BTC-USDT-SWAP cross leverage 10 -> 3",
    ]
    assert (fake.account.pos_mode, fake.account.leverage) == ("net_mode", {"BTC-USDT-SWAP": "3"})
    assert await venue.prepare_account([PERP], Decimal(3)) == []


async def test_prepare_account_refuses_a_spot_mode_account(
    fake_venue: tuple[OkxFake, OkxVenue],
) -> None:
    fake, venue = fake_venue
    fake.account.account_level = "1"
    with pytest.raises(AccountSetupError, match="Spot mode"):
        await venue.prepare_account([PERP], Decimal(2))


async def test_secrets_stay_out_of_reprs_and_errors(fake_venue: tuple[OkxFake, OkxVenue]) -> None:
    fake, venue = fake_venue
    fake.fail_next("auth", 1)
    with pytest.raises(AuthError) as info:
        await venue.fetch_balances()
    text = f"{venue!r} {info.value!s} {info.value!r}"
    for secret in (API_KEY, API_SECRET, API_PASSPHRASE):
        assert secret not in text


async def test_spot_holdings_count_as_positions(venue: OkxVenue, router: respx.MockRouter) -> None:
    serve_instruments(router)
    positions = load("positions.json")
    positions["data"][0].update(instType="SWAP", instId="BTC-USDT-SWAP", posSide="net", pos="-3")
    router.get("/api/v5/account/positions").respond(json=positions)
    balance = load("balance.json")
    btc = dict(balance["data"][0]["details"][0])
    btc.update(ccy="BTC", cashBal="0.5", eq="0.5", eqUsd="30000")
    balance["data"][0]["details"].append(btc)
    router.get("/api/v5/account/balance").respond(json=balance)
    perp, spot = await venue.fetch_positions()
    assert (perp.instrument_id, perp.qty) == (PERP, Decimal("-0.03"))  # 3 contracts short
    assert (perp.entry_price, perp.mark_price) == (Decimal("2566.31"), Decimal("2353.849"))
    assert (spot.instrument_id, spot.qty) == (SPOT, Decimal("0.5"))  # USDT is the quote: no row
    assert spot.mark_price == spot.entry_price == Decimal(60_000)  # 30000 USD / 0.5 BTC
