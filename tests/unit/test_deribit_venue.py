"""Deribit as the common ``Venue`` (``venues.deribit.venue``): inverse sizing (USD contracts ↔
coins), options in USD, funding payments from the transaction log, the account stream
(``user.orders`` + ``user.trades``) on a real local websocket server, post-only flags, and
credentials kept out of logs. Recorded payloads in ``tests/fixtures/deribit-v2/``; the
stateful fake of ``tests/fakes/deribit.py``; no network."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs
from websockets.asyncio.server import ServerConnection

from tests.fakes.deribit import (
    BASE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    INVERSE,
    PERP,
    DeribitFake,
    load,
)
from tests.support.ws_server import ScriptedServer, running
from venues.base import Credentials, Venue
from venues.deribit import parse as p
from venues.deribit import parse_account as pa
from venues.deribit import units as u
from venues.deribit.parse_funding import SETTLEMENT_INTERVAL_S, funding_payment, log_page
from venues.deribit.streams import StreamSettings
from venues.deribit.venue import DeribitVenue, create_venue
from venues.errors import AuthError, InvalidOrder
from venues.model import (
    Fill,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from venues.registry import venue_spec
from venues.ws import Backoff

D = Decimal
OPTION = "BTC-27DEC24-100000-C"
INVERSE_ID = InstrumentId("deribit", InstrumentKind.PERP, INVERSE)
LINEAR_ID = InstrumentId("deribit", InstrumentKind.PERP, PERP)
OPTION_ID = InstrumentId("deribit", InstrumentKind.OPTION, OPTION)


def _venue(fake: DeribitFake, ws_url: str = "ws://127.0.0.1:9", **kwargs: Any) -> DeribitVenue:
    credentials = Credentials(SecretStr(CLIENT_ID), SecretStr(CLIENT_SECRET))
    settings = StreamSettings(backoff=Backoff(initial_s=0.0, max_s=0.0), proxy=None)
    return create_venue(
        credentials,
        rest_url=BASE_URL,
        ws_url=ws_url,
        transport=fake.transport,
        sleep=fake.sleep,
        stream_settings=settings,
        **kwargs,
    )


def _seeded() -> DeribitFake:
    fake = DeribitFake()
    fake.seed_price(PERP, D(60_000))
    fake.seed_price(INVERSE, D(50_000))
    fake.prices[OPTION] = D("0.05")  # BTC per contract; index = the inverse perp, 50,000
    return fake


def _sent(fake: DeribitFake, method: str) -> list[dict[str, Any]]:
    return [c["params"] for c in fake.calls if c["method"] == method]


# --- registry and instruments ---------------------------------------------------------------


def test_registry_builds_the_common_venue() -> None:
    assert venue_spec("deribit").factory_module == "venues.deribit.venue"
    assert isinstance(_venue(DeribitFake()), Venue)


async def test_instruments_linear_inverse_and_options() -> None:
    fake = _seeded()
    instruments = await _venue(fake).load_instruments()
    linear, inverse = instruments[LINEAR_ID], instruments[INVERSE_ID]
    assert (linear.lot_step, linear.min_qty, linear.funding_interval_s) == (
        D("0.001"), D("0.001"), 3600,
    )  # fmt: skip
    # one 10 USD contract at 50,000 USD is 0.0002 BTC
    assert (inverse.lot_step, inverse.min_qty, inverse.quote) == (D("0.0002"), D("0.0002"), "USD")
    option = instruments[OPTION_ID]
    assert option.is_option
    assert option.funding_interval_s is None
    assert (option.lot_step, option.contract_multiplier, option.quote) == (D("0.1"), D(1), "USD")
    fixture = load("get_instruments_btc_option.json")["result"]
    options = {i for i in instruments if i.kind is InstrumentKind.OPTION}
    assert {i.symbol for i in options} == {r["instrument_name"] for r in fixture}


@pytest.mark.parametrize(
    ("price", "step"),
    [(D(60_000), D("0.0002")), (D(50_000), D("0.0002")), (D(3_000), D("0.004")),
     (D(100_000), D("0.0001"))],
)  # fmt: skip
def test_inverse_lot_step_is_at_least_one_contract(price: Decimal, step: Decimal) -> None:
    assert u.inverse_lot_step(D(10), price) == step
    assert step * price >= 10


@pytest.mark.parametrize(
    ("qty", "price", "usd"),
    [(D("0.01"), D(50_000), D(500)), (D("0.0001"), D(60_000), D(10)),  # 6 USD → 1 contract
     (D("0.00008"), D(60_000), D(0)), (D("0.0003"), D(50_000), D(20))],  # 4.8 → 0; 15 → 20
)  # fmt: skip
def test_inverse_amount_rounds_to_whole_contracts(
    qty: Decimal, price: Decimal, usd: Decimal
) -> None:
    assert u.inverse_amount_usd(qty, price, D(10)) == usd


def test_recorded_inverse_fill_in_coins() -> None:
    # buy_response.json (docs): ETH-PERPETUAL sell 21 USD at 202.8, fee 7.766e-05 ETH at the
    # index 202.86.
    result = load("buy_response.json")["result"]
    iid = InstrumentId("deribit", InstrumentKind.PERP, "ETH-PERPETUAL")
    venue_ack = pa.parse_order_response(result, iid)
    contract = _inverse_eth()
    fills = tuple(u.fill_to_common(f, contract, D("202.86")) for f in venue_ack.fills)
    ack = u.ack_to_common(pa.with_fills(venue_ack, fills), contract, None, None)
    coins = (D(21) / D("202.8")).quantize(D("1e-12"))
    assert fills[0].qty == coins == ack.filled_qty == ack.qty
    assert (fills[0].price, ack.avg_price, ack.status) == (
        D("202.8"),
        D("202.8"),
        OrderStatus.FILLED,
    )
    assert fills[0].fee_usd == D("7.766e-05") * D("202.86")


def _inverse_eth() -> Any:
    row = load("get_instruments_btc_option.json")["result"][0]
    row = {**row, "instrument_name": "ETH-PERPETUAL", "kind": "future", "base_currency": "ETH",
           "settlement_period": "perpetual", "contract_size": 1, "min_trade_amount": 1}  # fmt: skip
    row.pop("option_type")
    row.pop("strike")
    return p.parse_instrument(row, "row")


# --- orders ---------------------------------------------------------------------------------


async def test_inverse_order_is_sent_in_usd_and_acked_in_coins() -> None:
    fake = _seeded()
    venue = _venue(fake)
    request = OrderRequest("inv-1", INVERSE_ID, Side.BUY, D("0.0102"))  # 510 USD at 50,000
    ack = await venue.place_order(request)
    (sent,) = _sent(fake, "private/buy")
    assert (sent["amount"], sent["label"], sent["type"]) == (510, "inv-1", "market")
    expected = D("0.0102")  # 510 USD filled at 50,000
    assert ack.filled_qty == expected == sum(f.qty for f in ack.fills)
    assert (ack.status, ack.avg_price) == (OrderStatus.FILLED, D(50_000))
    # fee: 0.05 % of 510 USD paid in BTC (510 / 50,000 × 0.0005), valued at the index
    assert ack.fills[0].fee_usd == D(510) / D(50_000) * D("0.0005") * D(50_000)
    fetched = await venue.fetch_order(INVERSE_ID, "inv-1")
    assert (fetched.qty, fetched.filled_qty) == (expected, expected)
    (position,) = [x for x in await venue.fetch_positions() if x.instrument_id == INVERSE_ID]
    assert position.qty == expected  # the venue's size_currency at the mark
    fake.prices[INVERSE] = D(51_000)  # the coin exposure of 510 USD shrinks as BTC rises
    (position,) = [x for x in await venue.fetch_positions() if x.instrument_id == INVERSE_ID]
    assert position.qty == (D(510) / D(51_000)).quantize(D("1e-9"))


async def test_inverse_limit_is_sized_at_its_limit_and_below_one_contract_is_refused() -> None:
    fake = _seeded()
    venue = _venue(fake)
    limit = OrderRequest(
        "inv-2", INVERSE_ID, Side.SELL, D("0.0004"), OrderType.LIMIT, D(40_000),
        TimeInForce.POST_ONLY,
    )  # fmt: skip
    await venue.place_order(limit)
    (sent,) = _sent(fake, "private/sell")
    assert (sent["amount"], sent["price"]) == (20, 40_000)  # 16 USD → 2 contracts
    assert (sent["post_only"], sent["reject_post_only"], sent["time_in_force"]) == (
        True, True, "good_til_cancelled",
    )  # fmt: skip
    small = OrderRequest(
        "inv-3", INVERSE_ID, Side.BUY, D("0.0002"), OrderType.LIMIT, D(20_000)
    )  # 4 USD
    with pytest.raises(InvalidOrder, match="under one 10 USD contract") as info:
        await venue.place_order(small)
    assert info.value.client_order_id == "inv-3"
    assert len(_sent(fake, "private/buy")) == 0


async def test_option_order_price_in_coin_and_fills_in_usd() -> None:
    fake = _seeded()
    venue = _venue(fake)
    (quote,) = await venue.fetch_quotes([OPTION_ID])
    # ticker: 0.05 ± 0.0005 BTC at the index 50,000 USD
    assert (quote.bid, quote.ask) == (0.0495 * 50_000, 0.0505 * 50_000)
    request = OrderRequest("opt-1", OPTION_ID, Side.BUY, D("0.3"), OrderType.LIMIT, D(2_540))
    ack = await venue.place_order(request)
    (sent,) = _sent(fake, "private/buy")
    # 2,540 / 50,000 = 0.0508 BTC; tick 0.0005 above 0.005; a buy rounds down → 0.0505
    assert (sent["amount"], sent["price"]) == (0.3, 0.0505)
    (fill,) = ack.fills
    assert (fill.qty, fill.price) == (D("0.3"), D("0.05") * D(50_000))  # the fake fills at mark
    assert ack.avg_price == D(2_500)
    assert fill.fee_usd == D("0.3") * D("0.0003") * D(50_000)
    (position,) = [x for x in await venue.fetch_positions() if x.instrument_id == OPTION_ID]
    assert (position.qty, position.entry_price, position.mark_price) == (
        D("0.3"), D(2_500), D(2_500),
    )  # fmt: skip


def test_option_sell_price_rounds_up_and_stays_on_the_small_tick() -> None:
    contract = p.parse_instruments(load("get_instruments_btc_option.json")["result"])[0]
    assert u.option_price_coin(D(2_540), D(50_000), contract, Side.SELL) == D("0.051")
    assert u.option_price_coin(D(201), D(50_000), contract, Side.BUY) == D("0.004")  # < 0.005
    assert u.option_price_coin(D(1), D(50_000), contract, Side.BUY) == D("0.0001")  # ≥ 1 tick


# --- funding --------------------------------------------------------------------------------


def test_recorded_settlement_row_is_a_funding_payment() -> None:
    logs, continuation = log_page(load("get_transaction_log.json")["result"])
    assert continuation == 61282
    payments = [
        funding_payment(row, lambda n: INVERSE_ID if n == INVERSE else None,
                        lambda n: n == INVERSE, f"logs[{i}]")
        for i, row in enumerate(logs)
    ]  # fmt: skip
    (payment,) = [x for x in payments if x is not None]
    price = D("51807.07")
    assert payment.amount_usd == D("9.93e-06") * price  # received: interest_pl > 0
    assert payment.position_qty == D(1520) / price  # a 1,520 USD long
    assert (payment.mark_price, payment.interval_s) == (price, SETTLEMENT_INTERVAL_S)
    assert payment.ts_funding_ms == 1613659544153
    implied = -payment.amount_usd / (payment.position_qty * price)
    assert payment.rate == float(implied) < 0  # shorts paid longs


@pytest.mark.parametrize("instrument", [INVERSE_ID, LINEAR_ID])
async def test_funding_payments_of_a_short(instrument: InstrumentId) -> None:
    fake = _seeded()
    venue = _venue(fake)
    qty = D("0.01")
    await venue.place_order(OrderRequest("short-1", instrument, Side.SELL, qty))
    fake.settle_funding()
    (payment,) = await venue.fetch_funding_payments(0)
    mark = fake.prices[instrument.symbol]
    # funding_8h 0.0008 → 0.0001 per hour; the short receives it on 0.01 BTC at the mark
    assert payment.instrument_id == instrument
    assert payment.position_qty == -qty
    assert abs(payment.amount_usd - D("0.0001") * qty * mark) < D("1e-9")
    assert abs(payment.rate - 0.0001) < 1e-12


# --- account stream -------------------------------------------------------------------------


async def _answer(ws: ServerConnection, request: dict[str, Any], result: Any) -> None:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}))


async def test_account_stream_orders_and_trades_in_common_units() -> None:
    order_frame = load("ws_user_orders.json")  # BTC-PERPETUAL buy 200 USD limit 10,460.43
    trade = copy.deepcopy(load("buy_response.json")["result"]["trades"][0])
    trade.update(instrument_name=INVERSE, amount=200, price=10_460.43, index_price=10_461.0,
                 fee_currency="BTC", direction="buy", order_id="4", label="cid-7",
                 liquidity="M")  # fmt: skip
    trade_frame = {"jsonrpc": "2.0", "method": "subscription",
                   "params": {"channel": "user.trades.any.any.raw", "data": [trade]}}  # fmt: skip

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        auth = json.loads(await server.recv(ws))
        await _answer(ws, auth, {"access_token": "tok-1", "expires_in": 900, "scope": "x"})
        heartbeat = json.loads(await server.recv(ws))
        subscribe = json.loads(await server.recv(ws))
        await _answer(ws, heartbeat, "ok")
        await _answer(ws, subscribe, subscribe["params"]["channels"])
        await ws.send(json.dumps(order_frame))
        await ws.send(json.dumps(trade_frame))
        await ws.wait_closed()

    fake = _seeded()
    server = ScriptedServer([script])
    async with running(server, "/ws/api/v2") as url:
        venue = _venue(fake, ws_url=url)
        await venue.load_instruments()
        events = venue.stream_account()
        ack = await anext(events)
        fill = await anext(events)
        await events.aclose()
    subscribe = json.loads(server.received[0][2])
    assert subscribe["method"] == "private/subscribe"
    assert subscribe["params"]["channels"] == ["user.orders.any.any.raw", "user.trades.any.any.raw"]
    assert CLIENT_SECRET not in "".join(server.received[0])
    assert isinstance(ack, OrderAck)
    assert isinstance(fill, Fill)
    coins = (D(200) / D("10460.43")).quantize(D("1e-12"))
    assert (ack.instrument_id, ack.status, ack.qty, ack.filled_qty) == (
        INVERSE_ID, OrderStatus.NEW, coins, D(0),
    )  # fmt: skip
    assert (fill.client_order_id, fill.qty, fill.price, fill.liquidity) == (
        "cid-7", coins, D("10460.43"), Liquidity.MAKER,
    )  # fmt: skip
    assert fill.fee_usd == D("7.766e-05") * D("10461.0")


# --- credentials ----------------------------------------------------------------------------


async def test_client_credentials_grant_never_reaches_a_log_or_an_error() -> None:
    fake = _seeded()
    venue = _venue(fake, grant="client_credentials")
    with capture_logs() as logs:
        await venue.open()
        await venue.place_order(OrderRequest("log-1", LINEAR_ID, Side.BUY, D("0.01")))
    (auth,) = _sent(fake, "public/auth")
    assert auth["client_secret"] == CLIENT_SECRET  # this grant sends it (over TLS)
    assert logs
    assert CLIENT_SECRET not in repr(logs)
    assert CLIENT_SECRET not in repr(venue)
    fake.fail_next("auth")
    with pytest.raises(AuthError) as info:
        await venue.fetch_positions()
    assert CLIENT_SECRET not in str(info.value)
