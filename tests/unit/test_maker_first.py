"""Maker-first execution: each venue's post-only order fields and cross refusals, the paper
venue's resting orders (through-by-a-tick, volume cap, maker fee), and the executor's
maker-first path (deadline → taker, sequential maker-then-hedge, P&L identity).

Venue payloads are checked against the documented fields in the venue notes (Binance USD-M
``timeInForce=GTX``, Binance spot ``type=LIMIT_MAKER``, Bybit ``timeInForce=PostOnly``, OKX
``ordType=post_only``, Hyperliquid ``{"limit": {"tif": "Alo"}}`` as in the documented order
action, Deribit ``post_only`` + ``reject_post_only``). Paper fills are worked out here from
the bars by hand.
"""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from agent.config import ExecutionConfig, RiskConfig
from agent.config.sections import LegRiskConfig
from agent.execution.executor import Executor, client_order_id
from agent.execution.maker import WORKING, touch_price
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from agent.risk import RiskEngine
from strategies.base import PairIntent, TargetPosition
from venues.binance.orders import order_params
from venues.binance.parse_errors import error_from_payload
from venues.binance.spot_client import spot_order_params
from venues.bybit.orders import order_body as bybit_body
from venues.deribit.parse_errors import classify as deribit_classify
from venues.errors import InsufficientMargin, InvalidOrder, PostOnlyWouldCross
from venues.hyperliquid.orders import build_order_wire
from venues.hyperliquid.parse import PerpAsset
from venues.hyperliquid.parse_errors import order_error
from venues.model import (
    Bar,
    Instrument,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    VenueFees,
)
from venues.okx.orders import order_body as okx_body
from venues.paper import PaperVenue, PaperVenueConfig

HL_NOTES = Path("/work/shared/venues/fixtures/hyperliquid")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CID = "0123456789abcdef0123456789abcdef"
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")


def post_only(iid: InstrumentId, side: Side, qty: str, price: str) -> OrderRequest:
    return OrderRequest(
        CID,
        iid,
        side,
        D(qty),
        order_type=OrderType.LIMIT,
        limit_price=D(price),
        time_in_force=TimeInForce.POST_ONLY,
    )


# ---- each venue's post-only request -------------------------------------------------------


def test_binance_usdm_post_only_is_gtx() -> None:
    params = order_params(post_only(BTC, Side.BUY, "0.01", "60000.1"))
    assert params["type"] == "LIMIT"
    assert params["timeInForce"] == "GTX"
    assert params["price"] == "60000.1"


def test_binance_spot_post_only_is_limit_maker_without_tif() -> None:
    params = spot_order_params(post_only(SPOT, Side.SELL, "0.01", "60000"))
    assert params["type"] == "LIMIT_MAKER"
    assert "timeInForce" not in params
    assert params["price"] == "60000"


def test_bybit_post_only_tif() -> None:
    iid = InstrumentId("bybit", InstrumentKind.PERP, "BTCUSDT")
    body = bybit_body(post_only(iid, Side.BUY, "0.01", "60000"))
    assert (body["orderType"], body["timeInForce"], body["price"]) == ("Limit", "PostOnly", "60000")


def test_okx_post_only_ord_type() -> None:
    iid = InstrumentId("okx", InstrumentKind.PERP, "BTC-USDT-SWAP")
    inst = Instrument(iid, "BTC", "USDT", D("0.1"), D("0.0001"), D("0.0001"), D(0), D("0.01"))
    body = okx_body(post_only(iid, Side.SELL, "0.01", "60000"), inst)
    assert body["ordType"] == "post_only"
    assert body["px"] == "60000"
    assert body["sz"] == "1"  # 0.01 BTC / 0.01 BTC per contract


def test_hyperliquid_post_only_matches_the_documented_alo_order() -> None:
    # The documented order action (hyperliquid.md "Place orders"): a=0, b=false, p=105000,
    # s=0.001, r=false, t={"limit":{"tif":"Alo"}}, c=0x1234...
    iid = InstrumentId("hyperliquid", InstrumentKind.PERP, "BTC")
    inst = Instrument(iid, "BTC", "USDC", D("0.1"), D("0.00001"), D("0.00001"), D(10))
    asset = PerpAsset(0, "BTC", 5, 40, False, inst)
    cloid = "0x1234567890abcdef1234567890abcdef"
    wire = build_order_wire(post_only(iid, Side.SELL, "0.001", "105000"), asset, cloid, mid=None)
    assert wire == {
        "a": 0,
        "b": False,
        "p": "105000",
        "s": "0.001",
        "r": False,
        "t": {"limit": {"tif": "Alo"}},
        "c": cloid,
    }


def test_deribit_post_only_sends_reject_post_only() -> None:
    from venues.deribit.client import DeribitClient
    from venues.deribit.types import DeribitOrderRequest

    sent: list[dict[str, Any]] = []
    response = json.loads((FIXTURES / "deribit-v2" / "buy_response.json").read_text())

    class Rest:
        async def buy(self, params: dict[str, Any]) -> Any:
            sent.append(params)
            return response["result"]

    client = DeribitClient.__new__(DeribitClient)
    client.rest = Rest()  # type: ignore[assignment]
    order = DeribitOrderRequest(
        label=CID, instrument_name="BTC-PERPETUAL", side=Side.BUY, amount=D(10),
        price=D("60000"), post_only=True,
    )  # fmt: skip
    import asyncio

    asyncio.run(client.submit(order))
    assert sent[0]["post_only"] is True
    assert sent[0]["reject_post_only"] is True
    assert sent[0]["time_in_force"] == "good_til_cancelled"


@pytest.mark.parametrize(
    ("error", "cross"),
    [
        # USD-M error-code page: -5022 GTX order rejected (would have taken)
        (lambda: error_from_payload({"code": -5022, "msg": "Due to the order could not be "
         "executed as maker, the Post Only order will be rejected."}, client_order_id=CID), True),
        # spot errors.md: -2010 "Order would immediately match and take."
        (lambda: error_from_payload({"code": -2010, "msg": "Order would immediately match and "
         "take."}, client_order_id=CID), True),
        (lambda: error_from_payload({"code": -1013, "msg": "Filter failure: LOT_SIZE"},
         client_order_id=CID), False),
        (lambda: deribit_classify(11054, "post_only_reject", label=CID), True),
        (lambda: deribit_classify(10043, "price_wrong_tick", label=CID), False),
    ],
)  # fmt: skip
def test_post_only_cross_errors_are_distinct(error: Any, cross: bool) -> None:
    err = error()
    assert isinstance(err, InvalidOrder)
    assert isinstance(err, PostOnlyWouldCross) is cross


def test_hyperliquid_recorded_post_only_error_string_is_a_cross() -> None:
    rows = json.loads((FIXTURES / "hyperliquid" / "errors.json").read_text())
    text = next(r["error"] for r in _walk(rows) if "Post only" in r.get("error", ""))
    assert isinstance(order_error(text + " asset=0", CID), PostOnlyWouldCross)
    assert not isinstance(order_error("Order has invalid size.", CID), PostOnlyWouldCross)


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node, *(x for v in node.values() for x in _walk(v))]
    if isinstance(node, list):
        return [x for v in node for x in _walk(v)]
    return []


def test_touch_price_rounds_away_from_the_other_side() -> None:
    assert touch_price(Side.BUY, 100.07, 100.2, D("0.1")) == D("100.0")
    assert touch_price(Side.SELL, 100.0, 100.03, D("0.1")) == D("100.1")


# ---- the paper venue's resting orders -----------------------------------------------------

T0 = 1_700_000_000_000
H = 3_600_000
INSTRUMENTS = {
    BTC: Instrument(BTC, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("5"), D(1), 28_800),
    ETH: Instrument(ETH, "ETH", "USDT", D("0.01"), D("0.01"), D("0.01"), D("5"), D(1), 28_800),
}
FEES = VenueFees(D("0.0002"), D("0.0005"))


class Clock:
    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> int:
        return self.ms


def paper(clock: Clock, frac: str = "0.1") -> PaperVenue:
    cfg = PaperVenueConfig(
        name="binance",
        initial_collateral_usd=D(1_000_000),
        perp_fees=FEES,
        spot_fees=FEES,
        slippage_bps=D(0),
        perp_leverage=D(5),
        maker_fill_volume_frac=D(frac),
    )
    venue = PaperVenue(cfg, INSTRUMENTS, clock)
    venue.update_price(BTC, 50_000.0)
    venue.update_price(ETH, 2_500.0)
    return venue


def bar(iid: InstrumentId, open_ms: int, low: float, high: float, volume: float) -> Bar:
    return Bar(iid, open_ms, open_ms + H, high, high, low, low, volume)


def test_paper_post_only_through_the_price_is_refused_as_a_cross() -> None:
    venue = paper(Clock())
    request = OrderRequest(
        CID, BTC, Side.BUY, D("0.1"), OrderType.LIMIT, D("50000.1"), TimeInForce.POST_ONLY
    )
    with pytest.raises(PostOnlyWouldCross):
        asyncio_run(venue.place_order(request))


def asyncio_run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def test_paper_fills_only_through_by_a_tick_at_the_limit_with_maker_fee() -> None:
    clock = Clock()
    venue = paper(clock)
    limit = D("50000.0")
    request = OrderRequest(
        CID, BTC, Side.BUY, D("0.5"), OrderType.LIMIT, limit, TimeInForce.POST_ONLY
    )
    ack = asyncio_run(venue.place_order(request))
    assert ack.status is OrderStatus.NEW
    # the bar that was forming when the order was placed does not count
    venue.fill_resting(bar(BTC, T0 - H, 40_000.0, 51_000.0, 100.0))
    # touching the limit, or one tick under it, is not trading through it
    clock.ms = T0 + H
    venue.fill_resting(bar(BTC, T0, 49_999.9, 50_500.0, 100.0))  # low == limit − tick
    assert asyncio_run(venue.fetch_order(BTC, CID)).filled_qty == 0
    # low 49 999.8 < 50 000 − 0.1: through; volume cap 0.1 × 3.3 = 0.33 → 0.330 of 0.5
    clock.ms = T0 + 2 * H
    venue.fill_resting(bar(BTC, T0 + H, 49_999.8, 50_500.0, 3.3))
    ack = asyncio_run(venue.fetch_order(BTC, CID))
    assert ack.status is OrderStatus.PARTIALLY_FILLED
    assert ack.filled_qty == D("0.330")
    fill = ack.fills[0]
    assert (fill.price, fill.liquidity) == (limit, Liquidity.MAKER)
    assert fill.fee_usd == D("0.330") * limit * D("0.0002")
    # next bar fills the rest (0.17 ≤ 0.1 × 10 = 1)
    clock.ms = T0 + 3 * H
    venue.fill_resting(bar(BTC, T0 + 2 * H, 49_000.0, 50_100.0, 10.0))
    ack = asyncio_run(venue.fetch_order(BTC, CID))
    assert ack.status is OrderStatus.FILLED
    assert ack.filled_qty == D("0.5")
    assert ack.avg_price == limit
    assert not venue.has_resting


def test_paper_volume_cap_is_shared_oldest_first_and_sells_need_high_through() -> None:
    clock = Clock()
    venue = paper(clock, frac="0.25")
    first = OrderRequest(
        "a" * 32, ETH, Side.SELL, D("1.00"), OrderType.LIMIT, D("2500.00"), TimeInForce.POST_ONLY
    )
    second = OrderRequest(
        "b" * 32, ETH, Side.SELL, D("1.00"), OrderType.LIMIT, D("2500.00"), TimeInForce.POST_ONLY
    )
    asyncio_run(venue.place_order(first))
    asyncio_run(venue.place_order(second))
    clock.ms = T0 + H
    venue.fill_resting(bar(ETH, T0, 2_400.0, 2_500.01, 100.0))  # high == limit + tick
    assert asyncio_run(venue.fetch_order(ETH, "a" * 32)).filled_qty == 0
    clock.ms = T0 + 2 * H
    venue.fill_resting(bar(ETH, T0 + H, 2_400.0, 2_500.02, 5.0))  # cap 0.25 × 5 = 1.25
    a = asyncio_run(venue.fetch_order(ETH, "a" * 32))
    b = asyncio_run(venue.fetch_order(ETH, "b" * 32))
    assert (a.filled_qty, b.filled_qty) == (D("1.00"), D("0.25"))
    cancelled = asyncio_run(venue.cancel_order(ETH, "b" * 32))
    assert cancelled.status is OrderStatus.CANCELED
    assert cancelled.filled_qty == D("0.25")
    held = {p.instrument_id: p.qty for p in asyncio_run(venue.fetch_positions())}
    assert held[ETH] == D("-1.25")


# ---- the executor's maker-first path ------------------------------------------------------

STRATEGY = "stat_arb"
LOOSE = RiskConfig(
    max_position_frac=1.0, max_leverage=10.0, max_venue_frac=1.0, max_order_notional_usd=1e9
)


def rig(leg_risk: LegRiskConfig) -> tuple[Clock, PaperVenue, Portfolio, Journal, Executor]:
    clock = Clock()
    venue = paper(clock)
    portfolio = Portfolio({"binance": D(1_000_000)})
    journal = Journal.open(":memory:")
    executor = Executor(
        {"binance": venue},
        INSTRUMENTS,
        portfolio,
        journal,
        RiskEngine(LOOSE, {"binance": 5.0}, 1_000_000.0),
        ExecutionConfig(),
        leg_risk={STRATEGY: leg_risk},
        reference_instrument=BTC,
    )
    return clock, venue, portfolio, journal, executor


PRICES = {BTC: 50_000.0, ETH: 2_500.0}


def intent(btc: float, eth: float) -> PairIntent:
    return PairIntent("i-1", (TargetPosition(BTC, btc), TargetPosition(ETH, eth)), "enter", True)


def test_simultaneous_maker_first_rests_then_the_deadline_sends_the_rest_as_taker() -> None:
    clock, venue, portfolio, journal, executor = rig(
        LegRiskConfig(execution_style="maker_first", maker_deadline_s=3600.0)
    )
    outcome = asyncio_run(executor.execute(STRATEGY, intent(0.2, -4.0), PRICES, T0))
    assert outcome.status == WORKING
    assert portfolio.positions(STRATEGY) == {}
    # one bar later: BTC traded through its bid (cap 0.1 × 1.5 = 0.15 of 0.2), ETH did not
    clock.ms = T0 + H
    venue.fill_resting(bar(BTC, T0, 49_990.0, 50_010.0, 1.5))
    venue.fill_resting(bar(ETH, T0, 2_499.0, 2_500.01, 1_000.0))
    asyncio_run(executor.work_makers(clock.ms))  # the deadline (T0 + 3600 s) has come
    assert not venue.has_resting
    assert portfolio.positions(STRATEGY) == {BTC: D("0.200"), ETH: D("-4.00")}
    got = sorted((str(f.instrument_id), f.qty, f.price, f.liquidity) for f in _fills(venue))
    assert got == [
        (str(BTC), D("0.050"), D("50000.0"), Liquidity.TAKER),  # the rest after the deadline
        (str(BTC), D("0.150"), D("50000.0"), Liquidity.MAKER),  # 0.1 × 1.5 of the bar
        (str(ETH), D("4.00"), D("2500.00"), Liquidity.TAKER),  # never traded through
    ]
    assert len(journal.dump_rows("fills")) == 3
    assert executor.maker.stats.deadline_takers == 2
    portfolio.check_identity()


def _fills(venue: PaperVenue) -> list[Any]:
    desk = venue._desk  # the paper venue's own order book (test access)
    return [f for ack in desk.orders.values() for f in ack.fills]


def test_sequential_maker_first_hedges_the_other_leg_as_taker_on_each_fill() -> None:
    clock, venue, portfolio, journal, executor = rig(
        LegRiskConfig(
            execution_style="maker_first", leg_policy="sequential", maker_deadline_s=3 * 3600.0
        )
    )
    # ETH is the less liquid leg (the reference BTC ranks most liquid): it rests alone
    outcome = asyncio_run(executor.execute(STRATEGY, intent(0.2, -4.0), PRICES, T0))
    assert outcome.status == WORKING
    assert venue.has_resting
    assert portfolio.positions(STRATEGY) == {}
    # ETH sells 1.00 of 4.00 (cap 0.1 × 10): BTC hedged to 1/4 of 0.2 = 0.05 as taker
    clock.ms = T0 + H
    venue.fill_resting(bar(ETH, T0, 2_490.0, 2_500.5, 10.0))
    asyncio_run(executor.work_makers(clock.ms))
    assert portfolio.positions(STRATEGY) == {ETH: D("-1.00"), BTC: D("0.050")}
    btc_fills = [f for f in _fills(venue) if f.instrument_id == BTC]
    assert [f.liquidity for f in btc_fills] == [Liquidity.TAKER]
    # the rest of ETH fills (3.00 ≤ 0.1 × 100) → BTC hedged to the whole 0.2
    clock.ms = T0 + 2 * H
    venue.fill_resting(bar(ETH, T0 + H, 2_490.0, 2_500.5, 100.0))
    asyncio_run(executor.work_makers(clock.ms))
    assert portfolio.positions(STRATEGY) == {ETH: D("-4.00"), BTC: D("0.200")}
    assert len(executor.maker) == 0
    eth_fills = [f for f in _fills(venue) if f.instrument_id == ETH]
    assert {f.liquidity for f in eth_fills} == {Liquidity.MAKER}
    rows = journal.dump_rows("pair_exposure")
    assert rows
    assert rows[-1][-1] == "filled"
    portfolio.check_identity()


def test_maker_first_requotes_when_the_touch_moves_and_counts_no_refusal() -> None:
    clock, venue, _portfolio, _journal, executor = rig(
        LegRiskConfig(execution_style="maker_first", maker_deadline_s=3 * 3600.0)
    )
    asyncio_run(executor.execute(STRATEGY, intent(0.2, 0.0), PRICES, T0))
    first = client_order_id(STRATEGY, "i-1", "0", 0)
    assert asyncio_run(venue.fetch_order(BTC, first)).status is OrderStatus.NEW
    clock.ms = T0 + H
    venue.update_price(BTC, 50_100.0)  # the touch moved up: cancel, re-post at 50 100
    asyncio_run(executor.work_makers(clock.ms))
    assert asyncio_run(venue.fetch_order(BTC, first)).status is OrderStatus.CANCELED
    second = asyncio_run(venue.fetch_order(BTC, client_order_id(STRATEGY, "i-1", "0", 1)))
    assert second.status is OrderStatus.NEW
    assert executor.maker.stats.requotes == 1
    assert executor.orders_rejected == 0


def test_urgent_intents_go_as_taker_even_for_maker_first() -> None:
    _clock, venue, _portfolio, _journal, executor = rig(
        LegRiskConfig(execution_style="maker_first")
    )
    outcome = asyncio_run(executor.execute(STRATEGY, intent(0.2, -4.0), PRICES, T0, urgent=True))
    assert outcome.status == "filled"
    assert {f.liquidity for f in _fills(venue)} == {Liquidity.TAKER}


def test_cancel_all_books_partial_fills_and_sends_no_taker() -> None:
    clock, venue, portfolio, _journal, executor = rig(
        LegRiskConfig(execution_style="maker_first", maker_deadline_s=3 * 3600.0)
    )
    asyncio_run(executor.execute(STRATEGY, intent(0.2, 0.0), PRICES, T0))
    clock.ms = T0 + H
    venue.fill_resting(bar(BTC, T0, 49_990.0, 50_010.0, 0.5))  # 0.1 × 0.5 = 0.05 of 0.2
    assert asyncio_run(executor.maker.cancel_all(clock.ms)) == 1
    assert portfolio.positions(STRATEGY) == {BTC: D("0.050")}
    assert not venue.has_resting
    assert len(executor.maker) == 0
    assert {f.liquidity for f in _fills(venue)} == {Liquidity.MAKER}


def test_a_maker_first_exit_that_cannot_complete_is_not_unwound() -> None:
    """An exit's BTC leg closes as maker; ETH never trades through and its taker rest is
    refused. Unwinding would buy the closed BTC back (reopen the pair): the exit is left
    incomplete for the budget instead, BTC stays closed."""
    clock, venue, portfolio, journal, executor = rig(
        LegRiskConfig(execution_style="maker_first", maker_deadline_s=3600.0)
    )
    opened = asyncio_run(executor.execute(STRATEGY, intent(0.2, -4.0), PRICES, T0, urgent=True))
    assert opened.status == "filled"
    exit_intent = PairIntent(
        "x-1", (TargetPosition(BTC, 0.0), TargetPosition(ETH, 0.0)), "exit", opening=False
    )
    clock.ms = T0 + H
    outcome = asyncio_run(executor.execute(STRATEGY, exit_intent, PRICES, clock.ms))
    assert outcome.status == WORKING
    place = venue.place_order

    async def refuse_eth_taker(request: OrderRequest) -> OrderAck:
        if request.instrument_id == ETH and request.time_in_force is not TimeInForce.POST_ONLY:
            raise InsufficientMargin(
                "scripted",
                venue="binance",
                client_order_id=request.client_order_id,
                code="-2019",
                reason="margin",
            )
        return await place(request)

    venue.place_order = refuse_eth_taker  # type: ignore[method-assign]
    clock.ms = T0 + 2 * H
    venue.fill_resting(bar(BTC, T0 + H, 50_010.0, 50_100.0, 100.0))  # the BTC sell goes through
    venue.fill_resting(bar(ETH, T0 + H, 2_499.99, 2_500.0, 1_000.0))  # ETH never does
    asyncio_run(executor.work_makers(clock.ms))  # deadline: ETH's rest as taker, refused

    assert portfolio.positions(STRATEGY) == {ETH: D("-4.00")}  # BTC closed stays closed
    legs = [row[4] for row in journal.dump_rows("orders")]
    assert not [leg for leg in legs if str(leg).endswith("u")]  # nothing unwound
