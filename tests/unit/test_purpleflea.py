"""PurpleFleaVenue against respx serving payloads CONSTRUCTED from the Purple Flea API as
described in the project's SEEDS (see venues/purpleflea/API_NOTES.md), not recorded.

Payloads come from ``tests/fixtures/purpleflea/`` (see its README: built from the documented
shapes plus the assumptions of ``venues/purpleflea/API_NOTES.md``). Expected values are
written by hand from those files, never taken from the code under test.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import structlog
from pydantic import SecretStr

from tests.fakes.purpleflea import FakePurpleFlea, make_venue
from venues.base import Credentials, MarketDataSource, Venue
from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    TransportError,
    VenueError,
    VenueUnavailable,
)
from venues.model import (
    Instrument,
    InstrumentId,
    InstrumentKind,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from venues.pairs import PairOrderVenue
from venues.purpleflea.client import PurpleFleaVenue, create_venue

FIXTURES = Path(__file__).parent.parent / "fixtures" / "purpleflea"
BASE_URL = "https://pf.example.test/v1"
TOKEN = "pf_live_k3y-never-shown-0123456789"
NOW_MS = 1_767_225_600_000 + 1_234_567  # 2026-01-01 00:20:34.567 UTC
BTC = InstrumentId("purpleflea", InstrumentKind.SPOT, "BTC")
ETH = InstrumentId("purpleflea", InstrumentKind.SPOT, "ETH")
BTC_PERP = InstrumentId("purpleflea", InstrumentKind.PERP, "BTC")
STEP = Decimal("0.001")
INSTRUMENTS = [
    Instrument(BTC, "BTC", "USDC", Decimal("0.1"), STEP, STEP, Decimal(10)),
    Instrument(ETH, "ETH", "USDC", Decimal("0.01"), STEP, STEP, Decimal(10)),
    Instrument(BTC_PERP, "BTC", "USDC", Decimal("0.1"), STEP, STEP, Decimal(10), None, 3600),
]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


SLEPT_S: list[float] = []


async def no_sleep(seconds: float) -> None:
    SLEPT_S.append(seconds)  # recorded, never waited


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)


def build(router: respx.MockRouter, token: str | None = TOKEN) -> PurpleFleaVenue:
    return create_venue(
        None if token is None else Credentials(SecretStr(token)),
        rest_url=BASE_URL,
        transport=httpx.MockTransport(router.handler),
        sleep=no_sleep,
        instruments=INSTRUMENTS,
        perp_leverage=Decimal(2),
        now_ms=lambda: NOW_MS,
    )


@pytest.fixture
async def venue(router: respx.MockRouter) -> AsyncIterator[PurpleFleaVenue]:
    v = build(router)
    yield v
    await v.close()


def body_of(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


def pair_legs() -> list[OrderRequest]:
    return [
        OrderRequest("p1-long", BTC, Side.BUY, Decimal("0.01")),
        OrderRequest("p1-short", ETH, Side.SELL, Decimal("0.2")),
    ]


# --- auth --------------------------------------------------------------------------------


def test_key_without_pf_live_prefix_is_refused_without_echoing_it() -> None:
    with pytest.raises(AuthError) as info:
        create_venue(Credentials(SecretStr("sk_live_SECRETVALUE")), rest_url=BASE_URL)
    assert "pf_live_" in str(info.value)
    assert "SECRETVALUE" not in str(info.value)


async def test_bearer_token_on_private_calls(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    route = router.get("/portfolio/risk").respond(json=load("risk.json"))
    risk = await venue.fetch_portfolio_risk()
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert risk.portfolio_beta == 0.04
    assert risk.metrics["gross_exposure"] == 1200.5
    assert TOKEN not in repr(venue)


async def test_without_credentials_market_data_only(router: respx.MockRouter) -> None:
    venue = build(router, token=None)
    route = router.get("/prices").respond(json=load("prices.json"))
    [quote] = await venue.fetch_quotes([ETH])
    assert "Authorization" not in route.calls.last.request.headers
    assert quote.bid == quote.ask == 3000.25
    with pytest.raises(AuthError, match="needs the API token"):
        await venue.fetch_positions()
    await venue.close()


# --- market data ---------------------------------------------------------------------------


async def test_quotes_spot_from_prices_perp_from_basis(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    prices = router.get("/prices").respond(json=load("prices.json"))
    basis = router.get("/perps/basis").respond(json=load("basis_btc.json"))
    quotes = await venue.fetch_quotes([BTC, BTC_PERP])
    assert prices.calls.last.request.url.params["symbols"] == "BTC"
    assert basis.calls.last.request.url.params["symbol"] == "BTC"
    assert [(q.instrument_id, q.bid, q.ask, q.ts_event_ms) for q in quotes] == [
        (BTC, 60000.5, 60000.5, NOW_MS),
        (BTC_PERP, 60030.0, 60030.0, NOW_MS),  # 60000 × (1 + 0.05 / 100), hyperliquid row
    ]


async def test_funding_rate_of_the_perp_venue_with_configured_interval(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    router.get("/perps/funding-rates").respond(json=load("funding_rates.json"))
    [rate] = await venue.fetch_funding([BTC_PERP])
    assert rate.rate == 0.0000125  # the hyperliquid row, not binance's 0.0001
    assert rate.interval_s == 3600
    assert rate.ts_funding_ms == 1_767_225_600_000 + 3_600_000  # next full UTC hour
    assert rate.ts_next_funding_ms == 1_767_225_600_000 + 7_200_000


async def test_malformed_funding_is_protocol_error(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    router.get("/perps/funding-rates").respond(json={"rates": [{"symbol": "BTC", "rate": 1}]})
    with pytest.raises(ProtocolError, match="venue"):
        await venue.fetch_funding([BTC_PERP])


async def test_unsupported_operations_say_so(venue: PurpleFleaVenue) -> None:
    calls = [
        venue.fetch_bars(BTC_PERP, 0, 1, 3600),
        venue.fetch_funding_history(BTC_PERP, 0, 1),
        venue.fetch_balances(),
        venue.fetch_funding_payments(0),
    ]
    for call in calls:
        with pytest.raises(NotImplementedError, match="no such endpoint") as info:
            await call
        assert isinstance(info.value, VenueError)
    with pytest.raises(NotImplementedError):
        venue.stream_marks([BTC_PERP])
    assert isinstance(venue, Venue)
    assert isinstance(venue, MarketDataSource)
    assert isinstance(venue, PairOrderVenue)


# --- single orders -----------------------------------------------------------------------


async def test_spot_order_body_and_ack(venue: PurpleFleaVenue, router: respx.MockRouter) -> None:
    route = router.post("/orders").respond(json=load("order_spot.json"))
    ack = await venue.place_order(OrderRequest("c-1", ETH, Side.SELL, Decimal("0.2")))
    assert body_of(route) == {
        "ticker": "ETH",
        "side": "sell",
        "quantity": 0.2,
        "order_type": "market",
        "metadata": {"client_order_id": "c-1"},
    }
    assert (ack.status, ack.venue_order_id, ack.filled_qty) == (
        OrderStatus.FILLED, "pfo_7f1c2a", Decimal("0.2"),
    )  # fmt: skip
    assert ack.avg_price == Decimal("3001.5")
    assert [(f.qty, f.price, f.ts_event_ms) for f in ack.fills] == [
        (Decimal("0.2"), Decimal("3001.5"), NOW_MS)
    ]
    assert await venue.fetch_order(ETH, "c-1") == ack
    with pytest.raises(OrderNotFound):  # the id is known, but not on that instrument
        await venue.fetch_order(BTC, "c-1")
    assert await venue.cancel_order(ETH, "c-1") == ack  # final: returned as is
    with pytest.raises(DuplicateClientOrderId):
        await venue.place_order(OrderRequest("c-1", ETH, Side.BUY, Decimal("0.2")))
    assert route.call_count == 1


async def test_perp_order_body_and_ack(venue: PurpleFleaVenue, router: respx.MockRouter) -> None:
    route = router.post("/perps/order").respond(json=load("perp_order.json"))
    ack = await venue.place_order(
        OrderRequest("c-2", BTC_PERP, Side.BUY, Decimal("0.01"), reduce_only=True)
    )
    assert body_of(route) == {
        "symbol": "BTC",
        "side": "buy",
        "type": "market",
        "size": 0.01,
        "venue": "hyperliquid",
        "reduce_only": True,
        "leverage": 2.0,
        "metadata": {"client_order_id": "c-2"},
    }
    assert (ack.status, ack.avg_price, ack.venue_order_id) == (
        OrderStatus.FILLED, Decimal("60030.0"), "",
    )  # fmt: skip


async def test_orders_the_api_cannot_express_are_refused_before_sending(
    venue: PurpleFleaVenue,
) -> None:
    perp_limit = OrderRequest(
        "c-3", BTC_PERP, Side.BUY, Decimal("0.01"), OrderType.LIMIT, Decimal(60_000)
    )
    spot_ioc = OrderRequest("c-4", BTC, Side.BUY, Decimal("0.01"), OrderType.LIMIT, Decimal(1))
    tiny = OrderRequest("c-5", BTC, Side.BUY, Decimal("0.0001"))
    for request in (perp_limit, spot_ioc, tiny):
        with pytest.raises(InvalidOrder) as info:
            await venue.place_order(request)
        assert info.value.client_order_id == request.client_order_id
    assert spot_ioc.time_in_force is TimeInForce.IOC


@pytest.mark.parametrize(
    ("status", "error"), [(400, InvalidOrder), (402, InsufficientMargin), (401, AuthError)]
)
async def test_order_error_statuses(
    venue: PurpleFleaVenue, router: respx.MockRouter, status: int, error: type[Exception]
) -> None:
    router.post("/orders").respond(status, json=load("error_400.json"))
    with pytest.raises(error) as info:
        await venue.place_order(OrderRequest("c-6", BTC, Side.BUY, Decimal("0.01")))
    if status != 401:
        assert getattr(info.value, "client_order_id", None) == "c-6"
        assert getattr(info.value, "reason", None) == "quantity below minimum order size"
    with pytest.raises(OrderNotFound):  # refused: never executed, id free again
        await venue.fetch_order(BTC, "c-6")


async def test_read_errors_429_retry_after_and_5xx(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    router.get("/portfolio/risk").mock(
        side_effect=[
            httpx.Response(429, json=load("error_429.json"), headers={"Retry-After": "7"}),
            httpx.Response(503, text="down"),
            httpx.Response(200, json=load("risk.json")),
        ]
    )
    SLEPT_S.clear()
    assert (await venue.fetch_portfolio_risk()).portfolio_beta == 0.04
    assert len(SLEPT_S) >= 2  # two retries ...
    assert SLEPT_S[0] >= 7.0  # ... the first after Retry-After: 7 s
    router.post("/orders").respond(429, json=load("error_429.json"), headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as info:
        await venue.place_order(OrderRequest("c-7", BTC, Side.BUY, Decimal("0.01")))
    assert info.value.retry_after_s == 7.0
    router.post("/perps/order").respond(502, text="<html>bad gateway</html>")
    with pytest.raises(VenueUnavailable):
        await venue.place_order(OrderRequest("c-8", BTC_PERP, Side.BUY, Decimal("0.01")))


async def test_order_timeout_is_not_resent_and_positions_tell_the_story(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    positions = router.get("/portfolio/positions")
    positions.respond(json={"positions": []})
    await venue.fetch_positions()  # the baseline: flat
    route = router.post("/perps/order").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(RequestTimeout):
        await venue.place_order(OrderRequest("c-9", BTC_PERP, Side.SELL, Decimal("0.005")))
    assert route.call_count == 1
    row = load("positions.json")["positions"][2]  # BTC perp short 0.005 on hyperliquid
    positions.respond(json={"positions": [row]})
    with pytest.raises(VenueError, match="very likely filled") as info:
        await venue.fetch_order(BTC_PERP, "c-9")
    assert info.value.code == "outcome_unknown"
    assert route.call_count == 1


async def test_resting_spot_limit_order_cannot_be_canceled(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    route = router.post("/orders").respond(json={"order_id": "pfo_1", "fill_price": None})
    request = OrderRequest(
        "c-10", BTC, Side.BUY, Decimal("0.01"), OrderType.LIMIT, Decimal("59000.5"),
        TimeInForce.GTC,
    )  # fmt: skip
    ack = await venue.place_order(request)
    assert body_of(route)["limit_price"] == 59000.5
    assert body_of(route)["order_type"] == "limit"
    assert (ack.status, ack.filled_qty, ack.avg_price) == (OrderStatus.NEW, 0, None)
    assert await venue.fetch_open_orders() == [ack]
    with pytest.raises(NotImplementedError, match="no such endpoint"):
        await venue.cancel_order(BTC, "c-10")


async def test_unparsable_order_answer_leaves_the_outcome_unknown(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    router.post("/orders").respond(json={"status": "ok"})
    router.get("/portfolio/positions").respond(json={"positions": []})
    with pytest.raises(ProtocolError, match="fill_price"):
        await venue.place_order(OrderRequest("c-11", BTC, Side.BUY, Decimal("0.01")))
    with pytest.raises(VenueError) as info:
        await venue.fetch_order(BTC, "c-11")
    assert info.value.code == "outcome_unknown"


async def test_token_never_in_logs_or_errors(router: respx.MockRouter) -> None:
    venue = build(router)
    router.get("/portfolio/risk").mock(
        side_effect=[httpx.Response(503, text="down"), httpx.Response(401, json={"error": "no"})]
    )
    with structlog.testing.capture_logs() as logs, pytest.raises(AuthError) as info:
        await venue.fetch_portfolio_risk()
    assert logs  # the retry was logged ...
    assert TOKEN not in repr(logs) + str(info.value) + repr(venue)  # ... without the token
    await venue.close()


# --- pair orders ---------------------------------------------------------------------------


async def test_pair_order_body_exact_and_both_legs_fill_at_one_time(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    route = router.post("/orders/pair").respond(json=load("pair_order.json"))
    pair = await venue.place_pair("pair-1", pair_legs(), "stat_arb")
    assert body_of(route) == {
        "execution_mode": "atomic_pair",
        "strategy_tag": "stat_arb",
        "legs": [
            {"ticker": "BTC", "side": "buy", "quantity": 0.01, "order_type": "market",
             "pair_leg": "long"},
            {"ticker": "ETH", "side": "sell", "quantity": 0.2, "order_type": "market",
             "pair_leg": "short"},
        ],
    }  # fmt: skip
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert (pair.pair_id, pair.pair_client_id, pair.ts_event_ms) == (
        "pair_9d41e0", "pair-1", 1_767_225_600_123,
    )  # fmt: skip
    long_leg, short_leg = pair.legs
    assert (long_leg.client_order_id, long_leg.instrument_id, long_leg.side) == (
        "p1-long", BTC, Side.BUY,
    )  # fmt: skip
    assert (short_leg.client_order_id, short_leg.instrument_id, short_leg.side) == (
        "p1-short", ETH, Side.SELL,
    )  # fmt: skip
    assert [(leg.avg_price, leg.filled_qty) for leg in pair.legs] == [
        (Decimal("60010.0"), Decimal("0.01")), (Decimal("2999.5"), Decimal("0.2")),
    ]  # fmt: skip
    fill_times = {f.ts_event_ms for leg in pair.legs for f in leg.fills}
    assert fill_times == {1_767_225_600_123}
    assert await venue.fetch_pair("pair-1") == pair
    assert await venue.fetch_order(BTC, "p1-long") == long_leg


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.pop("filled_at"),
        lambda b: b.pop("pair_id"),
        lambda b: b["legs"].pop(),
        lambda b: b["legs"][1].update(quantity=0.1),  # a partial leg is not atomic
        lambda b: b["legs"][0].update(fill_price=None),
        lambda b: b["legs"][0].update(pair_leg="short"),
    ],
)
async def test_malformed_pair_answer_is_protocol_error(
    venue: PurpleFleaVenue, router: respx.MockRouter, change: Any
) -> None:
    body = load("pair_order.json")
    change(body)
    router.post("/orders/pair").respond(json=body)
    with pytest.raises(ProtocolError):
        await venue.place_pair("pair-2", pair_legs(), "stat_arb")


async def test_pair_post_is_never_resent_on_a_timeout(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    route = router.post("/orders/pair").mock(side_effect=httpx.ReadTimeout("slow"))
    router.get("/portfolio/positions").respond(json={"positions": []})
    with pytest.raises(RequestTimeout):
        await venue.place_pair("pair-3", pair_legs(), "stat_arb")
    assert route.call_count == 1
    with pytest.raises(VenueError, match="before it unknown") as info:
        await venue.fetch_pair("pair-3")
    assert info.value.code == "outcome_unknown"
    with pytest.raises(DuplicateClientOrderId):  # may still execute: not sent again
        await venue.place_pair("pair-3", pair_legs(), "stat_arb")
    assert route.call_count == 1


async def test_pair_connect_error_is_known_not_executed(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    router.post("/orders/pair").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError):
        await venue.place_pair("pair-4", pair_legs(), "stat_arb")
    with pytest.raises(OrderNotFound):
        await venue.fetch_pair("pair-4")


async def test_pair_rejection_names_the_pair(
    venue: PurpleFleaVenue, router: respx.MockRouter
) -> None:
    router.post("/orders/pair").respond(402, json={"error": "insufficient balance"})
    with pytest.raises(InsufficientMargin) as info:
        await venue.place_pair("pair-5", pair_legs(), "stat_arb")
    assert (info.value.client_order_id, info.value.reason) == ("pair-5", "insufficient balance")


async def test_pair_legs_are_checked_before_sending(venue: PurpleFleaVenue) -> None:
    two_buys = [OrderRequest("a", BTC, Side.BUY, Decimal(1)), OrderRequest("b", ETH, Side.BUY, 1)]
    perp_leg = [OrderRequest("a", BTC_PERP, Side.BUY, Decimal(1)), pair_legs()[1]]
    for legs in (two_buys, perp_leg, pair_legs()[:1]):
        with pytest.raises(InvalidOrder) as info:
            await venue.place_pair("pair-6", legs, "stat_arb")
        assert info.value.client_order_id in {"pair-6", "a"}


async def test_close_pair(venue: PurpleFleaVenue, router: respx.MockRouter) -> None:
    router.post("/orders/pair").respond(json=load("pair_order.json"))
    route = router.post("/orders/pair/pair_9d41e0/close").respond(json=load("pair_close.json"))
    await venue.place_pair("pair-7", pair_legs(), "stat_arb")
    closed = await venue.close_pair("pair_9d41e0")
    assert route.calls.last.request.content == b""
    assert closed.ts_event_ms == 1_767_229_200_456  # 2026-01-01T01:00:00.456Z
    assert [(leg.side, leg.filled_qty, leg.avg_price) for leg in closed.legs] == [
        (Side.SELL, Decimal("0.01"), Decimal("60500.0")),
        (Side.BUY, Decimal("0.2"), Decimal("2980.0")),
    ]
    with pytest.raises(DuplicateClientOrderId):
        await venue.close_pair("pair_9d41e0")
    router.post("/orders/pair/nope/close").respond(404, json={"error": "unknown pair"})
    with pytest.raises(OrderNotFound):
        await venue.close_pair("nope")


# --- positions ---------------------------------------------------------------------------


async def test_positions(venue: PurpleFleaVenue, router: respx.MockRouter) -> None:
    router.get("/portfolio/positions").respond(json=load("positions.json"))
    positions = await venue.fetch_positions()
    assert [(p.instrument_id, p.qty, p.entry_price, p.mark_price) for p in positions] == [
        (BTC, Decimal("0.01"), Decimal("60010.0"), Decimal("60100.0")),
        (ETH, Decimal("-0.2"), Decimal("2999.5"), Decimal("2990.0")),
        (BTC_PERP, Decimal("-0.005"), Decimal("60030.0"), Decimal("60080.0")),
    ]  # the SOL row on binance is not on our perp venue: skipped


async def test_stateful_fake_pair_round_trip() -> None:
    fake = FakePurpleFlea()
    fake.seed("BTC", "60000", {"hyperliquid": "0.05"}, {"hyperliquid": 0.0000125})
    fake.seed("ETH", "3000", {"hyperliquid": "0.02"}, {"hyperliquid": 0.0})
    venue = make_venue(fake)
    pair = await venue.place_pair("pair-8", pair_legs(), "stat_arb")
    held = {p.instrument_id: p.qty for p in await venue.fetch_positions()}
    assert held == {BTC: Decimal("0.01"), ETH: Decimal("-0.2")}
    await venue.close_pair(pair.pair_id)
    assert await venue.fetch_positions() == []
    await venue.close()
