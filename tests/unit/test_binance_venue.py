"""The composite ``binance`` venue (USD-M perps + spot) against the stateful fake of
``tests/fakes/binance.py`` (respx, no network), and the USD-M account-trade fills parser.

Expected numbers are computed by hand from the seeded prices (perp mark 60,000; spot book
59,990 / 60,010; both wallets start at 100,000 USDT; spot commission 0.1 % of what is
received).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from tests.fakes.binance import API_KEY as FAKE_KEY
from tests.fakes.binance import API_SECRET as FAKE_SECRET
from tests.fakes.binance import DEFAULT_URL, BinanceFake, FakeSleep
from venues.base import AccountSetup, Credentials, Venue
from venues.binance.parse_trades import attach_user_trades
from venues.binance.venue import BinanceVenue, create_venue, merge_balances
from venues.errors import AuthError, DuplicateClientOrderId, InvalidOrder, ProtocolError
from venues.model import (
    Balance,
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

NOW_MS = 1_700_000_000_000
BTC = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")


@pytest.fixture
async def fake_venue() -> AsyncIterator[tuple[BinanceVenue, BinanceFake, FakeSleep]]:
    fake = BinanceFake(now_ms=lambda: NOW_MS)
    sleep = FakeSleep()
    credentials = Credentials(SecretStr(FAKE_KEY), SecretStr(FAKE_SECRET))
    venue = create_venue(credentials, rest_url=DEFAULT_URL, transport=fake.transport, sleep=sleep)
    fake.seed(
        marks={"BTCUSDT": Decimal(60_000)}, books={"BTCUSDT": (Decimal(59_990), Decimal(60_010))}
    )
    await venue.open()
    yield venue, fake, sleep
    await venue.close()


async def test_one_rest_url_serves_both_products(
    fake_venue: tuple[BinanceVenue, BinanceFake, FakeSleep],
) -> None:
    venue, fake, _ = fake_venue
    instruments = await venue.load_instruments()
    perp = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    assert instruments[perp].funding_interval_s == 8 * 3_600
    assert instruments[BTC].funding_interval_s is None
    hosts = {(r.url.host, r.url.path.split("/")[1]) for r in fake.requests}
    assert hosts == {("binance.fake.test", "fapi"), ("binance.fake.test", "api")}


async def test_quotes_keep_the_order_asked_and_funding_skips_spot(
    fake_venue: tuple[BinanceVenue, BinanceFake, FakeSleep],
) -> None:
    venue, _, _ = fake_venue
    perp = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    quotes = await venue.fetch_quotes([BTC, perp])
    assert [(q.instrument_id, q.bid, q.ask) for q in quotes] == [
        (BTC, 59_990.0, 60_010.0), (perp, 60_000.0, 60_000.0),
    ]  # fmt: skip
    assert [r.instrument_id for r in await venue.fetch_funding([BTC, perp])] == [perp]
    assert await venue.fetch_funding_history(BTC, 0, 2**62) == []


async def test_spot_buy_through_the_composite(
    fake_venue: tuple[BinanceVenue, BinanceFake, FakeSleep],
) -> None:
    venue, _, _ = fake_venue
    ack = await venue.place_order(OrderRequest("spot-buy-1", BTC, Side.BUY, Decimal("0.01")))
    [fill] = ack.fills
    # bought at the 60,010 ask; 0.1 % commission in BTC = 0.00001 BTC = 0.6001 USD
    assert ack.status is OrderStatus.FILLED
    assert (fill.qty, fill.price) == (Decimal("0.01"), Decimal(60_010))
    assert fill.fee_usd == Decimal("0.6001")
    positions = {p.instrument_id: p for p in await venue.fetch_positions()}
    assert positions[BTC].qty == Decimal("0.00999")  # the wallet holds qty − commission
    assert positions[BTC].mark_price == Decimal(60_000)  # book mid
    balances = {b.asset: b for b in await venue.fetch_balances()}
    # USDT: futures wallet 100,000 + spot 100,000 − 0.01 × 60,010
    assert balances["USDT"].total == Decimal("199399.9")
    assert balances["BTC"].total == Decimal("0.00999")
    with pytest.raises(DuplicateClientOrderId):
        await venue.place_order(OrderRequest("spot-buy-1", BTC, Side.SELL, Decimal("0.01")))
    with pytest.raises(InvalidOrder):  # 0.00005 × 60,010 = 3.0 USDT < 5 min notional
        await venue.place_order(OrderRequest("spot-tiny", BTC, Side.BUY, Decimal("0.00005")))
    fetched = await venue.fetch_order(BTC, "spot-buy-1")
    assert (fetched.status, fetched.filled_qty) == (OrderStatus.FILLED, Decimal("0.01"))


async def test_resting_spot_order_is_open_then_canceled(
    fake_venue: tuple[BinanceVenue, BinanceFake, FakeSleep],
) -> None:
    venue, _, _ = fake_venue
    request = OrderRequest(
        "rest-1", BTC, Side.BUY, Decimal("0.01"), OrderType.LIMIT, Decimal(50_000), TimeInForce.GTC
    )
    assert (await venue.place_order(request)).status is OrderStatus.NEW
    assert [o.client_order_id for o in await venue.fetch_open_orders()] == ["rest-1"]
    canceled = await venue.cancel_order(BTC, "rest-1")
    assert (canceled.client_order_id, canceled.status) == ("rest-1", OrderStatus.CANCELED)
    assert await venue.fetch_open_orders() == []


async def test_fake_checks_signatures(
    fake_venue: tuple[BinanceVenue, BinanceFake, FakeSleep],
) -> None:
    _, fake, sleep = fake_venue
    wrong = create_venue(
        Credentials(SecretStr(FAKE_KEY), SecretStr("not-the-secret")),
        rest_url=DEFAULT_URL, transport=fake.transport, sleep=sleep,
    )  # fmt: skip
    with pytest.raises(AuthError, match="-1022"):
        await wrong.spot.fetch_balances()
    await wrong.close()


async def test_public_only_venue_names_what_is_missing() -> None:
    venue = create_venue(transport=BinanceFake().transport)
    with pytest.raises(AuthError, match="API key and secret"):
        await venue.fetch_balances()
    await venue.close()


def test_merge_balances_sums_each_asset_over_both_wallets() -> None:
    rows = [
        Balance("binance", "USDT", Decimal(100), Decimal(40), 5),
        Balance("binance", "BTC", Decimal("0.5"), Decimal("0.5"), 9),
        Balance("binance", "USDT", Decimal("2.5"), Decimal("2.5"), 7),
    ]
    assert merge_balances(rows) == [
        Balance("binance", "USDT", Decimal("102.5"), Decimal("42.5"), 7),
        Balance("binance", "BTC", Decimal("0.5"), Decimal("0.5"), 9),
    ]


# --- USD-M fills from the account trade list (fapi has no FULL answer) ----------------------


def test_user_trades_become_the_fills_of_their_order() -> None:
    perp = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    ack = OrderAck(
        "c-1", "25851813", perp, Side.SELL, OrderStatus.FILLED, Decimal("0.003"),
        Decimal("0.003"), Decimal("7819.01"), 1_569_514_978_020,
    )  # fmt: skip

    def row(trade_id: int, order_id: int, qty: str, fee: str, maker: bool, ts: int) -> Any:
        return {
            "buyer": False, "commission": fee, "commissionAsset": "USDT", "id": trade_id,
            "maker": maker, "orderId": order_id, "price": "7819.01", "qty": qty,
            "quoteQty": "0", "realizedPnl": "0", "side": "SELL", "positionSide": "BOTH",
            "symbol": "BTCUSDT", "time": ts,
        }  # fmt: skip

    rows = [
        row(698760, 25851813, "0.001", "0.00312760", True, 1_569_514_978_021),
        row(698761, 11111111, "5", "1", False, 1_569_514_978_000),  # another order
        row(698759, 25851813, "0.002", "0.00781901", False, 1_569_514_978_020),
    ]
    fills = attach_user_trades(ack, rows).fills
    assert [(f.trade_id, f.qty, f.liquidity) for f in fills] == [
        ("698759", Decimal("0.002"), Liquidity.TAKER),
        ("698760", Decimal("0.001"), Liquidity.MAKER),
    ]
    assert [f.fee_usd for f in fills] == [Decimal("0.00781901"), Decimal("0.00312760")]
    assert all(f.client_order_id == "c-1" and f.price == Decimal("7819.01") for f in fills)
    too_many = [*rows, row(698762, 25851813, "0.001", "0", False, 1_569_514_978_022)]
    with pytest.raises(ProtocolError, match="exceed"):
        attach_user_trades(ack, too_many)


async def test_is_a_venue_with_account_setup_that_skips_spot(
    fake_venue: tuple[BinanceVenue, BinanceFake, FakeSleep],
) -> None:
    venue, fake, _ = fake_venue
    assert isinstance(venue, Venue)
    assert isinstance(venue, AccountSetup)
    sent = len(fake.requests)
    assert await venue.prepare_account([BTC], Decimal(2)) == []  # spot: nothing to set
    assert len(fake.requests) == sent


async def test_perp_orders_go_to_fapi_and_make_a_position(
    fake_venue: tuple[BinanceVenue, BinanceFake, FakeSleep],
) -> None:
    venue, fake, _ = fake_venue
    ack = await venue.place_order(OrderRequest("perp-sell-1", PERP, Side.SELL, Decimal("0.01")))
    assert (ack.instrument_id, ack.status, ack.avg_price) == (
        PERP, OrderStatus.FILLED, Decimal(60_000),
    )  # fmt: skip
    # the order answer has no fills: they are read from userTrades right after
    assert [r.url.path for r in fake.requests[-2:]] == ["/fapi/v1/order", "/fapi/v1/userTrades"]
    assert [(f.qty, f.price) for f in ack.fills] == [(Decimal("0.01"), Decimal(60_000))]
    positions = {p.instrument_id: p for p in await venue.fetch_positions()}
    assert positions[PERP].qty == Decimal("-0.01")
    assert BTC not in positions  # the spot wallet holds only USDT
    balances = {b.asset: b for b in await venue.fetch_balances()}
    # USDT: futures 100,000 − 0.05 % × 600 taker fee = 99,999.7, + spot 100,000
    assert balances["USDT"].total == Decimal("199999.7")


async def test_funding_settles_on_the_fake_as_binance_pays_it(
    fake_venue: tuple[BinanceVenue, BinanceFake, FakeSleep],
) -> None:
    venue, fake, _ = fake_venue
    await venue.place_order(OrderRequest("perp-short", PERP, Side.SELL, Decimal("0.01")))
    fake.settle_funding("BTCUSDT")
    # the first 8 h boundary after NOW_MS (1,700,000,000,000 ms): 1,700,006,400,000 ms
    ts_ms = (NOW_MS // 28_800_000 + 1) * 28_800_000
    [payment] = await venue.fetch_funding_payments(0)
    # a 0.01 BTC short at rate +0.0001 and mark 60,000 receives 0.0001 × 0.01 × 60,000
    assert (payment.ts_funding_ms, payment.amount_usd) == (ts_ms, Decimal("0.06"))
    assert (payment.position_qty, payment.mark_price) == (Decimal("-0.01"), Decimal(60_000))
    [settled] = await venue.fetch_funding_history(PERP, 0, 2**62)
    assert (settled.rate, settled.ts_funding_ms, settled.interval_s) == (0.0001, ts_ms, 28_800)
    [predicted] = await venue.fetch_funding([PERP])
    assert predicted.ts_funding_ms == ts_ms + 28_800_000  # the next settlement
