"""Execution: client order ids, drift/rounding, paired legs, leg risk and unknown outcomes.

Real collaborators throughout (``PaperVenue``, ``Portfolio``, an in-memory ``Journal``,
``RiskEngine``); failures are injected by :class:`ScriptedVenue`, a paper venue behind a
script that counts every call. Fills are at the fed price (no slippage) with a 5 bp taker fee,
so every expected quantity, price and fee below is worked out by hand.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from agent.config import ExecutionConfig, RiskConfig
from agent.execution.executor import Executor, IntentOutcome, client_order_id
from agent.execution.standing import StandingTargets
from agent.execution.unresolved import STUCK_AFTER_LOOKUPS, UnresolvedOrders
from agent.journal.journal import Journal
from agent.live.timers import FollowUpTimers
from agent.portfolio.ledger import Portfolio
from agent.risk import LegDelta, RiskEngine
from strategies.base import PairIntent, TargetPosition
from venues.errors import InsufficientMargin, RequestTimeout
from venues.model import (
    Fill,
    Instrument,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Side,
    VenueFees,
)
from venues.paper import PaperVenue, PaperVenueConfig

T0_MS = 1_700_006_400_000
STRATEGY = "stat_arb"
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
INSTRUMENTS = {
    # tick 0.1, lot 0.001, min qty 0.001 BTC, min notional 100 USD
    BTC: Instrument(BTC, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("100"), D(1), 28_800),
    # tick 0.01, lot 0.01, min qty 0.05 ETH, min notional 20 USD
    ETH: Instrument(ETH, "ETH", "USDT", D("0.01"), D("0.01"), D("0.05"), D("20"), D(1), 28_800),
}
PRICES = {BTC: 50_000.0, ETH: 2_500.0}
TAKER_FEE = D("0.0005")
LOOSE_RISK = RiskConfig(
    max_position_frac=1.0, max_leverage=10.0, max_venue_frac=1.0, max_order_notional_usd=1e9
)

ORDER_COLUMNS = (
    "id", "ts_ms", "client_order_id", "strategy", "intent_id", "leg", "attempt", "instrument",
    "side", "qty", "order_type", "limit_price", "reduce_only", "status", "venue_order_id",
    "filled_qty", "avg_price", "reject_code", "reject_reason",
)  # fmt: skip
FILL_COLUMNS = (
    "id", "seq", "ts_ms", "strategy", "client_order_id", "venue_order_id", "trade_id",
    "instrument", "side", "qty", "price", "fee_usd", "reference_price", "liquidity",
    "ts_event_ms",
)  # fmt: skip
RISK_COLUMNS = ("id", "ts_ms", "rule", "limit_value", "value", "strategy", "intent_id", "detail")

# Client order id rules of each venue's new-order endpoint (the "client order id" field):
# Binance USD-M newClientOrderId
#   https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api ,
# Binance spot newClientOrderId
#   https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md ,
# Bybit orderLinkId https://bybit-exchange.github.io/docs/v5/order/create-order ,
# OKX clOrdId https://www.okx.com/docs-v5/en/#order-book-trading-trade-post-place-order ,
# Hyperliquid cloid https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint
ID_RULES = {
    "binance_usdm": re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$"),
    "binance_spot": re.compile(r"^[a-zA-Z0-9-_]{1,36}$"),
    "bybit": re.compile(r"^[A-Za-z0-9_-]{1,36}$"),
    "okx": re.compile(r"^[A-Za-z0-9]{1,32}$"),
}
HYPERLIQUID_CLOID = re.compile(r"^0x[0-9a-f]{32}$")


# ---- fakes and helpers ---------------------------------------------------------------------


class ScriptedVenue:
    """A :class:`PaperVenue` behind a per-instrument script of behaviours, counting calls.

    ``place`` actions, consumed one per ``place_order`` call on that instrument (then
    ``"fill"``): ``"fill"`` execute on the paper venue; ``"reject"`` raise
    ``InsufficientMargin``; ``"lost"`` raise ``RequestTimeout`` without placing; ``"late"``
    the same, but the order is processed when the test calls :meth:`land`;
    ``"timeout_after_fill"`` execute, then raise ``RequestTimeout``; ``"stalled_after_fill"``
    execute, then raise ``TimeoutError`` (the executor's own deadline); ``"partial"`` execute
    half the qty and answer EXPIRED (an IOC that filled in part). ``lookup`` actions, one per
    ``fetch_order``: ``"answer"`` (default) ask the paper venue; ``"timeout"`` raise;
    ``"working"`` answer NEW without fills (``cancel_order`` then asks the paper venue).
    """

    def __init__(self, paper: PaperVenue) -> None:
        self.paper = paper
        self.place: dict[InstrumentId, list[str]] = {}
        self.lookup: dict[InstrumentId, list[str]] = {}
        self.placed: list[OrderRequest] = []
        self.fetched: list[str] = []
        self.canceled: list[str] = []
        self.in_flight: dict[str, OrderRequest] = {}

    async def land(self, client_order_id: str) -> None:
        """Process a ``"late"`` order now (it fills on the paper venue)."""
        await self.paper.place_order(self.in_flight.pop(client_order_id))

    @property
    def name(self) -> str:
        return self.paper.name

    def placed_on(self, iid: InstrumentId) -> list[OrderRequest]:
        return [r for r in self.placed if r.instrument_id == iid]

    async def place_order(self, request: OrderRequest) -> OrderAck:
        self.placed.append(request)
        action = _pop(self.place, request.instrument_id, "fill")
        if action == "reject":
            raise InsufficientMargin(
                "scripted rejection",
                venue=self.name,
                client_order_id=request.client_order_id,
                reason="insufficient margin",
                code="-2019",
            )
        if action == "lost":
            raise RequestTimeout("scripted timeout, order not placed", venue=self.name)
        if action == "late":  # not placed yet: processed later, when the test lands it
            self.in_flight[request.client_order_id] = request
            raise RequestTimeout("scripted timeout, order still in flight", venue=self.name)
        if action == "timeout_after_fill":
            await self.paper.place_order(request)
            raise RequestTimeout("scripted timeout after the fill", venue=self.name)
        if action == "stalled_after_fill":  # what asyncio.timeout raises when the call hangs
            await self.paper.place_order(request)
            raise TimeoutError
        if action == "partial":
            ack = await self.paper.place_order(replace(request, qty=request.qty / 2))
            return replace(ack, qty=request.qty, status=OrderStatus.EXPIRED)
        return await self.paper.place_order(request)

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        self.fetched.append(client_order_id)
        action = _pop(self.lookup, instrument_id, "answer")
        if action == "timeout":
            raise RequestTimeout("scripted lookup timeout", venue=self.name)
        ack = await self.paper.fetch_order(instrument_id, client_order_id)
        if action == "working":  # the venue still shows it open, fills not reported yet
            return replace(ack, status=OrderStatus.NEW, filled_qty=D(0), avg_price=None, fills=())
        return ack

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        self.canceled.append(client_order_id)
        return await self.paper.cancel_order(instrument_id, client_order_id)


def _pop(script: dict[InstrumentId, list[str]], iid: InstrumentId, default: str) -> str:
    queue = script.get(iid)
    return queue.pop(0) if queue else default


@dataclass
class Rig:
    paper: PaperVenue
    venue: ScriptedVenue
    portfolio: Portfolio
    journal: Journal
    risk: RiskEngine
    executor: Executor

    async def run(self, intent: PairIntent, prices: dict[InstrumentId, float] | None = None):
        return await self.executor.execute(STRATEGY, intent, prices or PRICES, T0_MS)

    async def venue_positions(self) -> dict[InstrumentId, D]:
        return {p.instrument_id: p.qty for p in await self.paper.fetch_positions()}

    def rows(self, table: str) -> list[dict[str, Any]]:
        columns = {"orders": ORDER_COLUMNS, "fills": FILL_COLUMNS, "risk_events": RISK_COLUMNS}
        dumped = self.journal.dump_rows(table)
        return [dict(zip(columns[table], row, strict=True)) for row in dumped]


def make_rig(
    risk: RiskConfig = LOOSE_RISK,
    execution: ExecutionConfig | None = None,
    venue_collateral_usd: str = "100000",
    journal: Journal | None = None,
) -> Rig:
    config = PaperVenueConfig(
        name="binance",
        initial_collateral_usd=D(venue_collateral_usd),
        perp_fees=VenueFees(D("0.0002"), TAKER_FEE),
        spot_fees=VenueFees(D("0.001"), D("0.001")),
        slippage_bps=D(0),
        perp_leverage=D(5),
    )
    paper = PaperVenue(config, INSTRUMENTS, lambda: T0_MS)
    for iid, price in PRICES.items():
        paper.update_price(iid, price)
    venue = ScriptedVenue(paper)
    portfolio = Portfolio({"binance": D(100_000)})
    journal = journal or Journal.open(":memory:")
    engine = RiskEngine(risk, {"binance": 5.0}, 100_000.0)
    executor = Executor(
        {"binance": venue},  # type: ignore[dict-item]  # implements what Executor calls
        INSTRUMENTS,
        portfolio,
        journal,
        engine,
        execution or ExecutionConfig(),
    )
    return Rig(paper, venue, portfolio, journal, engine, executor)


def hold(iid: InstrumentId, qty: str, portfolio: Portfolio) -> None:
    """Put ``qty`` (signed) of ``iid`` in the strategy's ledger at the test price, no fee."""
    side = Side.BUY if D(qty) > 0 else Side.SELL
    price = D(repr(PRICES[iid]))
    fill = Fill(iid, "seed", "v0", "t0", side, abs(D(qty)), price, D(0), Liquidity.TAKER, T0_MS)
    portfolio.apply_fill(STRATEGY, fill, iid.kind)


def pair(btc_qty: float, eth_qty: float, intent_id: str = "i-1", opening: bool = True):
    legs = (TargetPosition(BTC, btc_qty), TargetPosition(ETH, eth_qty))
    return PairIntent(intent_id, legs, "enter", opening)


def cid(intent_id: str, leg: str, attempt: int) -> str:
    return client_order_id(STRATEGY, intent_id, leg, attempt)


def planned(rig: Rig, intent: PairIntent, prices: dict[InstrumentId, float] | None = None):
    legs = rig.executor.plan(STRATEGY, intent, PRICES if prices is None else prices)
    return [(p.leg, p.instrument.id, p.delta_qty) for p in legs]


# ---- client order ids ----------------------------------------------------------------------


def test_client_order_id_is_deterministic() -> None:
    assert client_order_id("stat_arb", "BTC-ETH-1700000000000", "0", 0) == client_order_id(
        "stat_arb", "BTC-ETH-1700000000000", "0", 0
    )


def test_client_order_id_differs_by_strategy_intent_leg_and_attempt() -> None:
    base = ("stat_arb", "i-1", "0", 0)
    variants = [
        base,
        ("funding_harvester", "i-1", "0", 0),
        ("stat_arb", "i-2", "0", 0),
        ("stat_arb", "i-1", "1", 0),
        ("stat_arb", "i-1", "0u", 0),
        ("stat_arb", "i-1", "0", 1),
    ]
    ids = [client_order_id(*v) for v in variants]
    assert len(set(ids)) == len(variants)


def test_client_order_id_fields_cannot_bleed_into_each_other() -> None:
    # The same characters split differently between fields are different orders.
    assert client_order_id("a|b", "c", "0", 0) != client_order_id("a", "b|c", "0", 0)
    assert client_order_id("a", "b|0", "1", 0) != client_order_id("a", "b", "0|1", 0)
    assert client_order_id("s", "i", "1", 12) != client_order_id("s", "i", "11", 2)


@given(
    strategy=st.text(min_size=1, max_size=40),
    intent_id=st.text(min_size=1, max_size=80),
    leg=st.sampled_from(["0", "1", "2", "0u", "1u"]),
    attempt=st.integers(min_value=0, max_value=9),
)
def test_client_order_id_meets_every_venue_rule(
    strategy: str, intent_id: str, leg: str, attempt: int
) -> None:
    coid = client_order_id(strategy, intent_id, leg, attempt)
    for venue, rule in ID_RULES.items():
        assert rule.fullmatch(coid), f"{coid!r} breaks the {venue} client order id rule"
    assert HYPERLIQUID_CLOID.fullmatch("0x" + coid)


# ---- drift threshold, rounding, minimums ---------------------------------------------------


def test_no_order_within_the_drift_threshold() -> None:
    rig = make_rig()
    hold(BTC, "0.992", rig.portfolio)
    # |1.0 − 0.992| = 0.008 BTC = 0.8 % of the 1.0 BTC target: not more than the threshold.
    assert planned(rig, PairIntent("i", (TargetPosition(BTC, 1.0),), "hold")) == []


def test_an_order_past_the_drift_threshold() -> None:
    rig = make_rig()
    hold(BTC, "0.991", rig.portfolio)
    hold(ETH, "-9.92", rig.portfolio)
    # BTC off by 0.009 = 0.9 % of target → buy 0.009; ETH off by 0.08 = 0.8 % → no order.
    result = planned(rig, pair(1.0, -10.0))
    assert result == [(0, BTC, D("0.009"))]


def test_drift_is_measured_against_the_target_for_a_short() -> None:
    rig = make_rig()
    hold(ETH, "-9.9", rig.portfolio)
    # 0.1 ETH = 1 % of the −10 target → sell 0.1 more.
    assert planned(rig, PairIntent("i", (TargetPosition(ETH, -10.0),), "hold")) == [
        (0, ETH, D("-0.1"))
    ]


def test_an_intent_drift_frac_overrides_the_global_threshold() -> None:
    """The same 1 % drift: traded at the global 0.8 %, left alone by an intent carrying 1.2 %
    (a stable pair), traded by one carrying 0.5 % (a noisy pair) — one planner."""
    rig = make_rig()
    hold(ETH, "-9.9", rig.portfolio)
    legs = (TargetPosition(ETH, -10.0),)
    assert planned(rig, PairIntent("i", legs, "hold")) == [(0, ETH, D("-0.1"))]
    assert planned(rig, PairIntent("i", legs, "hold", drift_frac=0.012)) == []
    hold(ETH, "0.04", rig.portfolio)  # −9.86: 1.4 % off, beyond 1.2 % too
    assert planned(rig, PairIntent("i", legs, "hold", drift_frac=0.012)) == [(0, ETH, D("-0.14"))]
    hold(ETH, "-0.1", rig.portfolio)  # −9.96: 0.4 % off, within 0.5 %
    assert planned(rig, PairIntent("i", legs, "hold", drift_frac=0.005)) == []


def test_an_intent_drift_frac_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="drift_frac must be in"):
        PairIntent("i", (TargetPosition(ETH, 1.0),), "hold", drift_frac=1.5)


async def test_a_standing_pair_keeps_its_own_drift_frac() -> None:
    """A pair entered with drift_frac 0.3 is not rebalanced when a late fill leaves a leg 25 %
    off (global 0.8 % would); at 30 % + it is, and the rebalance intent carries 0.3."""
    rig = make_rig()
    entry = PairIntent("i-1", pair(0.1, -2.0).legs, "enter", drift_frac=0.3)
    await rig.run(entry)
    hold(ETH, "-0.5", rig.portfolio)
    assert rig.executor.drifted(PRICES, LATER_MS) == []
    hold(ETH, "-0.2", rig.portfolio)  # −2.7: 35 % off
    ((_, intent),) = rig.executor.drifted(PRICES, LATER_MS)
    assert intent.drift_frac == 0.3


def test_a_zero_target_closes_the_whole_position() -> None:
    rig = make_rig()
    hold(BTC, "0.5", rig.portfolio)
    # ETH −0.013 is below the min qty 0.05: a close still sends the whole position.
    hold(ETH, "-0.013", rig.portfolio)
    assert planned(rig, pair(0.0, 0.0)) == [(0, BTC, D("-0.5")), (1, ETH, D("0.013"))]


def test_a_zero_target_on_a_flat_instrument_sends_nothing() -> None:
    rig = make_rig()
    assert planned(rig, pair(0.0, 0.0)) == []


def test_orders_round_toward_zero_to_the_lot_step() -> None:
    rig = make_rig()
    # 0.0219 BTC → 0.021 (lot 0.001); −0.0219 → −0.021; ETH 3.459 → 3.45 (lot 0.01).
    assert planned(rig, pair(0.0219, 3.459)) == [(0, BTC, D("0.021")), (1, ETH, D("3.45"))]
    assert planned(rig, pair(-0.0219, -3.459)) == [(0, BTC, D("-0.021")), (1, ETH, D("-3.45"))]


def test_a_reduction_rounds_toward_zero_too() -> None:
    rig = make_rig()
    hold(BTC, "0.5", rig.portfolio)
    # 0.4789 − 0.5 = −0.0211 → −0.021 (never sells more than asked).
    assert planned(rig, PairIntent("i", (TargetPosition(BTC, 0.4789),), "hold")) == [
        (0, BTC, D("-0.021"))
    ]


def test_orders_below_min_qty_or_min_notional_are_dropped() -> None:
    rig = make_rig()
    # ETH 0.049 → 0.04 < min qty 0.05 (its notional 100 USD would be fine): dropped.
    # BTC 0.0019 → 0.001 ≥ min qty, but 0.001 × 50,000 = 50 USD < min notional 100: dropped.
    assert planned(rig, pair(0.0019, 0.049)) == []
    # BTC 0.002 × 50,000 = 100 USD: exactly the min notional, kept.
    assert planned(rig, pair(0.002, 0.05)) == [(0, BTC, D("0.002")), (1, ETH, D("0.05"))]


def test_numpy_float_targets_and_prices_are_accepted() -> None:
    rig = make_rig()
    # np.float64 is a float; strategies computing sizes with numpy may hand one in.
    legs = (TargetPosition(BTC, np.float64(0.0219)), TargetPosition(ETH, -3.459))
    intent = PairIntent("i", legs, "enter")
    prices = {BTC: np.float64(50_000.0), ETH: 2_500.0}
    assert planned(rig, intent, prices) == [(0, BTC, D("0.021")), (1, ETH, D("-3.45"))]


def test_a_pair_is_skipped_when_a_leg_that_must_trade_has_no_price() -> None:
    rig = make_rig()
    # Trading only the BTC leg would leave it unhedged: both or neither.
    assert planned(rig, pair(0.1, -2.0), {BTC: 50_000.0}) == []
    assert planned(rig, pair(0.1, -2.0), {BTC: 50_000.0, ETH: float("nan")}) == []
    assert planned(rig, pair(0.1, -2.0), {BTC: 50_000.0, ETH: 0.0}) == []


def test_a_leg_already_on_target_needs_no_price() -> None:
    rig = make_rig()
    hold(ETH, "-2", rig.portfolio)
    assert planned(rig, pair(0.1, -2.0), {BTC: 50_000.0}) == [(0, BTC, D("0.1"))]


def test_bad_legs_are_refused_with_a_clear_error() -> None:
    rig = make_rig()
    sol = InstrumentId("binance", InstrumentKind.PERP, "SOLUSDT")
    with pytest.raises(ValueError, match="binance:perp:SOLUSDT is not loaded"):
        rig.executor.plan(STRATEGY, PairIntent("i", (TargetPosition(sol, 1.0),), "x"), PRICES)
    with pytest.raises(ValueError, match="not a finite number"):
        planned(rig, pair(float("nan"), -2.0))


def test_client_order_id_refuses_a_negative_attempt() -> None:
    with pytest.raises(ValueError, match="attempt"):
        client_order_id("s", "i", "0", -1)


# ---- pair execution ------------------------------------------------------------------------


async def test_both_legs_filled_are_booked_in_portfolio_and_journal() -> None:
    rig = make_rig()
    outcome = await rig.run(pair(0.1, -2.0))
    assert outcome == IntentOutcome("i-1", "filled", 2)
    expected = {BTC: D("0.1"), ETH: D("-2")}
    assert rig.portfolio.positions(STRATEGY) == expected
    assert await rig.venue_positions() == expected
    fills = rig.rows("fills")
    # Fee = 0.0005 × qty × price: 0.0005 × 0.1 × 50,000 = 2.5; 0.0005 × 2 × 2,500 = 2.5.
    got = {
        (f["client_order_id"], f["instrument"], f["side"], D(f["qty"]), D(f["price"]),
         D(f["fee_usd"]), f["strategy"])
        for f in fills
    }  # fmt: skip
    assert got == {
        (cid("i-1", "0", 0), str(BTC), "buy", D("0.1"), D(50_000), D("2.5"), STRATEGY),
        (cid("i-1", "1", 0), str(ETH), "sell", D("2"), D(2_500), D("2.5"), STRATEGY),
    }
    # Cash: 100,000 − 2.5 − 2.5 in fees (perp notional is not cash).
    assert rig.portfolio.equity_usd() == D("99995")
    orders = rig.rows("orders")
    assert sorted((o["client_order_id"], o["leg"], o["attempt"], o["status"]) for o in orders) == (
        sorted(
            [
                (cid("i-1", "0", 0), "0", 0, "pending_new"),
                (cid("i-1", "0", 0), "0", 0, "filled"),
                (cid("i-1", "1", 0), "1", 0, "pending_new"),
                (cid("i-1", "1", 0), "1", 0, "filled"),
            ]
        )
    )
    intents = rig.journal.dump_rows("intents")
    assert [(r[2], r[3], r[4]) for r in intents] == [(STRATEGY, "i-1", "enter")]
    assert rig.executor.orders_sent == 2


async def test_an_answer_and_its_fills_reach_a_durable_journal_in_one_commit(
    tmp_path: Path,
) -> None:
    """A kill between committing an order's final state and its fills would leave the order
    journaled ``filled`` without them (never looked up again, the fill lost): at the moment
    each fill is recorded, no final state of its order may be visible to another reader."""
    path = tmp_path / "live.sqlite"
    rig = make_rig(journal=Journal.open(path, durable=True))
    other = sqlite3.connect(path)  # sees committed rows only
    record_fill = rig.journal.record_fill
    seen_at_fill: list[int] = []

    def spying_record_fill(ts_ms: int, strategy: str, fill: Fill) -> None:
        (finals,) = other.execute(
            "SELECT count(*) FROM orders WHERE client_order_id = ? AND status = 'filled'",
            (fill.client_order_id,),
        ).fetchone()
        seen_at_fill.append(int(finals))
        record_fill(ts_ms, strategy, fill)

    rig.journal.record_fill = spying_record_fill  # type: ignore[method-assign]
    try:
        assert (await rig.run(pair(0.1, -2.0))).status == "filled"
        assert seen_at_fill == [0, 0]
        committed = other.execute(
            "SELECT client_order_id, count(*) FROM fills GROUP BY client_order_id"
        ).fetchall()
        assert sorted(committed) == sorted([(cid("i-1", "0", 0), 1), (cid("i-1", "1", 0), 1)])
    finally:
        other.close()
        rig.journal.close()


async def test_an_order_not_found_after_its_send_failed_is_watched_and_its_late_fill_reversed() -> (
    None
):
    """ETH's send times out and the lookup finds nothing, so the leg goes again (attempt 1,
    fills); the first request is processed late after all. Watched, it is found at the next
    look-up: its 2 ETH fill is booked and sold back whole, reduce-only."""
    rig = make_rig()
    rig.venue.place[ETH] = ["late"]
    outcome = await rig.run(pair(0.1, -2.0))
    assert outcome.status == "filled"
    (watched,) = rig.executor.unresolved
    assert (watched.client_order_id, watched.watch_only) == (cid("i-1", "1", 0), True)
    assert rig.executor.unresolved.intents() == set()  # the pair went on without it

    await rig.venue.land(cid("i-1", "1", 0))
    assert (await rig.venue_positions())[ETH] == D(-4)
    await rig.executor.follow_up(T0_MS + 5_000, PRICES)

    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1"), ETH: D(-2)}
    assert await rig.venue_positions() == {BTC: D("0.1"), ETH: D(-2)}
    last = rig.venue.placed[-1]
    assert (last.client_order_id, last.side, last.qty, last.reduce_only) == (
        cid("i-1", "1f", 0),
        Side.BUY,
        D(2),
        True,
    )
    assert len(rig.executor.unresolved) == 0


async def test_a_reverse_not_found_after_its_send_failed_stays_unknown_not_sent_again() -> None:
    """The reverse of a late ETH fill times out and is not found: a reverse is not sent again
    on "not found" within the grace (it may still land, and then it did what was wanted). It
    lands; the next look-up books it and nothing more is sent."""
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill", "late"]  # the leg lands unseen; its reverse
    rig.venue.lookup[ETH] = ["timeout"]
    assert (await rig.run(pair(0.1, -2.0))).status == "partial"
    await rig.executor.follow_up(T0_MS + 1_000, PRICES)  # ETH found filled: reversed, lost
    reverse_id = cid("i-1", "1f", 0)
    assert rig.venue.placed[-1].client_order_id == reverse_id
    (kept,) = rig.executor.unresolved
    assert (kept.client_order_id, kept.watch_only, kept.reverse_qty) == (reverse_id, False, None)
    placed = len(rig.venue.placed)

    await rig.venue.land(reverse_id)
    await rig.executor.follow_up(T0_MS + 5_000, PRICES)

    assert len(rig.venue.placed) == placed  # nothing sent again
    assert len(rig.executor.unresolved) == 0
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}


async def test_a_watched_order_still_unknown_after_the_grace_was_never_placed() -> None:
    rig = make_rig(execution=ExecutionConfig(not_found_grace_s=30.0))
    rig.venue.place[ETH] = ["late"]
    assert (await rig.run(pair(0.1, -2.0))).status == "filled"
    watched = cid("i-1", "1", 0)

    await rig.executor.follow_up(T0_MS + 29_000, PRICES)  # within the grace: still watched
    assert [o.client_order_id for o in rig.executor.unresolved] == [watched]
    await rig.executor.follow_up(T0_MS + 30_000, PRICES)  # past it: never placed

    assert len(rig.executor.unresolved) == 0
    statuses = [o["status"] for o in rig.rows("orders") if o["client_order_id"] == watched]
    assert statuses == ["pending_new", "expired"]
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1"), ETH: D(-2)}
    assert rig.venue.fetched.count(watched) == 3  # after the send, then at each follow-up


async def test_nothing_to_do_is_skipped_without_orders() -> None:
    rig = make_rig()
    hold(BTC, "0.1", rig.portfolio)
    hold(ETH, "-2", rig.portfolio)
    assert await rig.run(pair(0.1, -2.0)) == IntentOutcome("i-1", "skipped", 0)
    assert rig.venue.placed == []


async def test_a_rejected_leg_unwinds_the_filled_one() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["reject"]
    outcome = await rig.run(pair(0.1, -2.0))
    assert (outcome.status, outcome.orders_sent) == ("unwound", 3)
    # Net position back to the start, on the ledger and on the venue.
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}
    # A rejection is never retried; the unwind is a reduce-only sell of the 0.1 BTC bought.
    assert len(rig.venue.placed_on(ETH)) == 1
    unwind = rig.venue.placed_on(BTC)[-1]
    assert (unwind.client_order_id, unwind.side, unwind.qty, unwind.reduce_only) == (
        cid("i-1", "0u", 0),
        Side.SELL,
        D("0.1"),
        True,
    )
    rows = {(o["client_order_id"], o["status"], o["reduce_only"]) for o in rig.rows("orders")}
    assert (cid("i-1", "1", 0), "rejected", 0) in rows
    assert (cid("i-1", "0u", 0), "filled", 1) in rows
    assert rig.executor.orders_rejected == 1


async def test_a_real_margin_rejection_on_the_paper_venue_unwinds() -> None:
    # The venue account holds 10,000 USD (risk sees 100,000 equity, so it lets the pair pass).
    rig = make_rig(venue_collateral_usd="10000")
    # BTC 0.1 × 50,000 / 5× = 1,000 margin fits; ETH 30 × 2,500 / 5× = 15,000 > 9,997.5
    # available: the paper venue rejects it (-2019).
    outcome = await rig.run(pair(0.1, -30.0))
    assert outcome.status == "unwound"
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}


async def test_a_lost_order_is_looked_up_then_retried_with_attempt_1() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["lost"]
    outcome = await rig.run(pair(0.1, -2.0))
    assert outcome == IntentOutcome("i-1", "filled", 3, "completed_on_retry")
    assert [r.client_order_id for r in rig.venue.placed_on(ETH)] == [
        cid("i-1", "1", 0),
        cid("i-1", "1", 1),
    ]
    assert rig.venue.fetched == [cid("i-1", "1", 0)]  # looked up before the re-send
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1"), ETH: D("-2")}
    assert await rig.venue_positions() == {BTC: D("0.1"), ETH: D("-2")}
    attempts = {(o["leg"], o["attempt"]) for o in rig.rows("orders")}
    assert attempts == {("0", 0), ("1", 0), ("1", 1)}


async def test_no_retry_when_max_attempts_is_1() -> None:
    rig = make_rig(execution=ExecutionConfig(max_attempts=1))
    rig.venue.place[ETH] = ["lost"]
    outcome = await rig.run(pair(0.1, -2.0))
    assert outcome.status == "unwound"
    assert len(rig.venue.placed_on(ETH)) == 1
    assert rig.portfolio.positions(STRATEGY) == {}


async def test_a_timeout_after_the_fill_is_resolved_by_lookup_not_a_second_order() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]
    outcome = await rig.run(pair(0.1, -2.0))
    assert (outcome.status, outcome.orders_sent) == ("filled", 2)
    eth_id = cid("i-1", "1", 0)
    assert [r.client_order_id for r in rig.venue.placed_on(ETH)] == [eth_id]  # placed once
    assert rig.venue.fetched == [eth_id]  # looked up by the same client order id
    # The fill found by the lookup is booked exactly once.
    assert [f["client_order_id"] for f in rig.rows("fills")].count(eth_id) == 1
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1"), ETH: D("-2")}
    assert await rig.venue_positions() == {BTC: D("0.1"), ETH: D("-2")}


async def test_a_stalled_call_is_resolved_by_lookup_too() -> None:
    rig = make_rig()
    rig.venue.place[BTC] = ["stalled_after_fill"]
    outcome = await rig.run(pair(0.1, -2.0))
    assert (outcome.status, outcome.orders_sent) == ("filled", 2)
    assert len(rig.venue.placed_on(BTC)) == 1
    assert rig.venue.fetched == [cid("i-1", "0", 0)]
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1"), ETH: D("-2")}


async def test_an_unknown_outcome_is_never_re_sent() -> None:
    rig = make_rig()
    # The order lands, the answer is lost, and the lookup times out too: outcome unknown.
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout"]
    outcome = await rig.run(pair(0.1, -2.0))
    assert len(rig.venue.placed_on(ETH)) == 1  # a second ETH order would double the short
    assert (outcome.status, outcome.orders_sent, outcome.detail) == (
        "partial",
        3,
        "leg_outcome_unknown",
    )
    # The known BTC fill is unwound (reduce-only); the ETH order is left for reconciliation.
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {ETH: D("-2")}


# ---- following up unresolved orders ----------------------------------------------------

LATER_MS = T0_MS + 3_600_000


async def test_an_unresolved_order_is_followed_up_and_its_late_fill_unwound() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]  # the ETH short of 2 lands, unseen
    rig.venue.lookup[ETH] = ["timeout"]
    outcome = await rig.run(pair(0.1, -2.0))
    assert outcome.status == "partial"
    eth_id = cid("i-1", "1", 0)
    assert [o.client_order_id for o in rig.executor.unresolved] == [eth_id]

    await rig.executor.follow_up(LATER_MS, PRICES)

    # The lookup found the fill: booked once, then bought back reduce-only (leg "1f").
    fills = [(f["client_order_id"], f["side"], D(f["qty"])) for f in rig.rows("fills")]
    assert fills.count((eth_id, "sell", D(2))) == 1
    reverse = [r for r in rig.venue.placed_on(ETH) if r.client_order_id == cid("i-1", "1f", 0)]
    assert [(r.side, r.qty, r.reduce_only) for r in reverse] == [(Side.BUY, D(2), True)]
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}
    assert len(rig.executor.unresolved) == 0


async def test_follow_ups_that_fell_due_run_between_the_intents_of_a_step() -> None:
    """Live, the follow-up timers' lookups run before the next intent of a step
    (``Executor.between_intents``), not after the step: i-1's ETH leg landed unseen; one second
    later, before i-2 is planned, it is looked up, booked and bought back — the reverse goes
    out before i-2's orders."""
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]  # the ETH short of 2 lands, unseen
    rig.venue.lookup[ETH] = ["timeout"]
    assert (await rig.run(pair(0.1, -2.0))).status == "partial"
    timers = FollowUpTimers(lambda: [o.client_order_id for o in rig.executor.unresolved])
    assert timers.next_due_ms(T0_MS) == T0_MS + 1_000  # first_s after it was first seen
    now_ms = T0_MS + 1_000
    looked_up: list[tuple[str, ...]] = []

    async def due_follow_ups() -> None:
        order_ids = timers.take(now_ms)
        looked_up.append(order_ids)
        if order_ids:
            await rig.executor.follow_up(now_ms, PRICES, only=order_ids)

    rig.executor.between_intents = due_follow_ups
    await rig.run(pair(0.2, -2.0, intent_id="i-2"))

    assert looked_up == [(cid("i-1", "1", 0),)]
    sent = [r.client_order_id for r in rig.venue.placed]
    reverse = cid("i-1", "1f", 0)
    i2_orders = {cid("i-2", "0", 0), cid("i-2", "1", 0)}
    assert i2_orders <= set(sent)
    assert sent.index(reverse) < min(sent.index(c) for c in i2_orders)
    assert len(rig.executor.unresolved) == 0
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.2"), ETH: D(-2)}
    assert await rig.venue_positions() == {BTC: D("0.2"), ETH: D(-2)}


async def test_a_follow_up_lookup_that_fails_again_waits_for_the_next_step() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout", "timeout"]
    await rig.run(pair(0.1, -2.0))
    placed = len(rig.venue.placed)

    await rig.executor.follow_up(LATER_MS, PRICES)
    assert [o.lookups for o in rig.executor.unresolved] == [1]
    assert len(rig.venue.placed) == placed  # nothing sent on a failed lookup

    await rig.executor.follow_up(LATER_MS + 3_600_000, PRICES)
    assert len(rig.executor.unresolved) == 0
    assert await rig.venue_positions() == {}


async def test_an_order_without_an_answer_for_a_day_is_reported_stuck_once() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout"] * (1 + STUCK_AFTER_LOOKUPS + 1)
    await rig.run(pair(0.1, -2.0))
    with capture_logs() as logs:
        for hour in range(1, STUCK_AFTER_LOOKUPS + 2):
            await rig.executor.follow_up(T0_MS + hour * 3_600_000, PRICES)
    stuck = [e for e in logs if e["event"] == "unresolved_order_stuck"]
    assert [e["client_order_id"] for e in stuck] == [cid("i-1", "1", 0)]
    assert [o.lookups for o in rig.executor.unresolved] == [STUCK_AFTER_LOOKUPS + 1]


async def test_an_unresolved_order_never_placed_is_dropped_without_an_order() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["lost"]
    rig.venue.lookup[ETH] = ["timeout"]  # so its outcome stays unknown
    await rig.run(
        pair(0.1, -2.0),
    )
    assert len(rig.executor.unresolved) == 1
    placed = len(rig.venue.placed)

    await rig.executor.follow_up(LATER_MS, PRICES)

    assert len(rig.executor.unresolved) == 0
    assert len(rig.venue.placed) == placed
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}


async def test_an_unwind_order_that_was_never_placed_is_sent_again() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["reject"]  # BTC fills, ETH refused → BTC is unwound ...
    rig.venue.place[BTC] = ["fill", "lost"]  # ... but the unwind order is lost
    rig.venue.lookup[BTC] = ["timeout"]
    outcome = await rig.run(pair(0.1, -2.0))
    assert outcome.status == "partial"
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1")}
    unwind_id = cid("i-1", "0u", 0)
    assert [o.client_order_id for o in rig.executor.unresolved] == [unwind_id]

    await rig.executor.follow_up(LATER_MS, PRICES)

    resent = [r for r in rig.venue.placed_on(BTC) if r.client_order_id == cid("i-1", "0uf", 0)]
    assert [(r.side, r.qty, r.reduce_only) for r in resent] == [(Side.SELL, D("0.1"), True)]
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}


async def test_an_unwind_sent_without_the_reduce_only_flag_and_never_placed_is_sent_again() -> None:
    """Another strategy holds 0.3 BTC short, so unwinding our 0.1 BTC long would not shrink the
    venue's net position: the unwind goes without the reduce-only flag. It is lost; once it is
    known never placed, the unwind is still owed (a reducing leg, ``0u``, whatever its flag) —
    before, it was taken for an opening order with nothing to reverse and the pair stayed
    unbalanced until the strategy's next step."""
    rig = make_rig()
    short = Fill(BTC, "other", "v0", "t-other", Side.SELL, D("0.3"), D(repr(PRICES[BTC])), D(0),
                 Liquidity.TAKER, T0_MS)  # fmt: skip
    rig.portfolio.apply_fill("other", short, BTC.kind)
    rig.venue.place[ETH] = ["reject"]  # BTC fills, ETH refused → BTC is unwound ...
    rig.venue.place[BTC] = ["fill", "lost"]  # ... but the unwind order is lost
    rig.venue.lookup[BTC] = ["timeout"]
    assert (await rig.run(pair(0.1, -2.0))).status == "partial"
    unwind = [r for r in rig.venue.placed_on(BTC) if r.client_order_id == cid("i-1", "0u", 0)]
    assert [(r.side, r.qty, r.reduce_only) for r in unwind] == [(Side.SELL, D("0.1"), False)]

    await rig.executor.follow_up(LATER_MS, PRICES)

    resent = [r for r in rig.venue.placed_on(BTC) if r.client_order_id == cid("i-1", "0uf", 0)]
    assert [(r.side, r.qty) for r in resent] == [(Side.SELL, D("0.1"))]
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}
    assert len(rig.executor.unresolved) == 0


async def test_an_order_still_working_is_canceled_then_its_fills_booked() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout", "working"]
    await rig.run(pair(0.1, -2.0))

    await rig.executor.follow_up(LATER_MS, PRICES)

    eth_id = cid("i-1", "1", 0)
    assert rig.venue.canceled == [eth_id]
    assert await rig.venue_positions() == {}
    assert rig.portfolio.positions(STRATEGY) == {}


async def test_without_prices_a_follow_up_books_but_sends_nothing() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout"]
    await rig.run(pair(0.1, -2.0))
    placed = len(rig.venue.placed)

    await rig.executor.follow_up(LATER_MS)  # live start-up, before the reconciliation

    assert len(rig.venue.placed) == placed
    # The ledger now matches the venue (what the reconciliation compares) ...
    assert rig.portfolio.positions(STRATEGY) == {ETH: D(-2)} == await rig.venue_positions()
    # ... and the reverse waits for a price.
    assert [o.reverse_qty for o in rig.executor.unresolved] == [D(2)]
    await rig.executor.follow_up(LATER_MS + 3_600_000, PRICES)
    assert await rig.venue_positions() == {}
    assert len(rig.executor.unresolved) == 0


async def test_unresolved_orders_survive_the_checkpoint() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout"]
    await rig.run(pair(0.1, -2.0))
    await rig.executor.follow_up(LATER_MS)  # resolved, reverse pending
    state = json.loads(json.dumps(rig.executor.unresolved.state()))

    restored = UnresolvedOrders()
    restored.restore(state)

    assert list(restored) == list(rig.executor.unresolved)
    (order,) = restored
    assert (order.request.side, order.request.qty, order.reverse_qty) == (Side.SELL, D(2), D(2))


async def test_a_partial_fill_is_completed_with_the_remaining_qty() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["partial"]  # 1 of 2 ETH filled, then the IOC expired
    outcome = await rig.run(pair(0.1, -2.0))
    assert outcome.status == "filled"
    # Attempt 0 asks for 2 ETH and gets 1; attempt 1 asks for the remaining 1, not 2 again.
    assert [(r.qty, r.side) for r in rig.venue.placed_on(ETH)] == [
        (D("2"), Side.SELL),
        (D("1"), Side.SELL),
    ]
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1"), ETH: D("-2")}
    assert await rig.venue_positions() == {BTC: D("0.1"), ETH: D("-2")}


async def test_a_partial_fill_is_unwound_when_the_other_leg_is_rejected() -> None:
    rig = make_rig()
    rig.venue.place[BTC] = ["reject"]
    rig.venue.place[ETH] = ["partial"]  # sold 1 of 2 ETH
    outcome = await rig.run(pair(0.1, -2.0))
    assert outcome.status == "unwound"
    unwind = rig.venue.placed_on(ETH)[-1]
    assert (unwind.side, unwind.qty, unwind.reduce_only) == (Side.BUY, D("1"), True)
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}


async def test_a_leg_filled_on_retry_is_unwound_when_the_other_cannot_complete() -> None:
    rig = make_rig()
    # Both first attempts are lost; on retry BTC fills and ETH is rejected.
    rig.venue.place[BTC] = ["lost"]
    rig.venue.place[ETH] = ["lost", "reject"]
    outcome = await rig.run(pair(0.1, -2.0))
    assert outcome.status == "unwound"
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}


async def test_a_risk_rejected_intent_sends_nothing_and_is_journaled() -> None:
    rig = make_rig(
        risk=RiskConfig(
            max_position_frac=1.0,
            max_leverage=10.0,
            max_venue_frac=1.0,
            max_order_notional_usd=10_000.0,
        )
    )
    # BTC 0.25 × 50,000 = 12,500 USD > 10,000.
    outcome = await rig.run(pair(0.25, -5.0))
    assert outcome == IntentOutcome("i-1", "risk_rejected", 0, "max_order_notional_usd")
    assert rig.venue.placed == []
    assert rig.rows("orders") == []
    events = [
        (e["ts_ms"], e["rule"], e["limit_value"], e["value"], e["strategy"], e["intent_id"],
         e["detail"])
        for e in rig.rows("risk_events")
    ]  # fmt: skip
    assert events == [
        (T0_MS, "max_order_notional_usd", 10_000.0, 12_500.0, STRATEGY, "i-1", str(BTC))
    ]
    assert rig.executor.risk_rejections == 1
    assert rig.portfolio.positions(STRATEGY) == {}


async def test_a_halt_refuses_an_opening_intent_as_the_risk_check_does_without_measuring_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a breaker halts, an opening intent is refused with the breaker's rule, limit and
    drawdown (what RiskEngine.check returns for it), journaled as intent + risk event, without
    the exposure check (the halted replay refuses one intent per strategy and cycle); a close
    still goes out."""
    rig = make_rig()
    hold(BTC, "0.02", rig.portfolio)
    rig.risk.update_equity(T0_MS, 85_000.0)  # 15 % below the 100,000 USD peak: total breaker
    intent = pair(0.1, -2.0)
    legs = rig.executor.plan(STRATEGY, intent, PRICES)
    deltas = [LegDelta(p.instrument.id, p.delta_qty, p.price) for p in legs]
    direct = rig.risk.check(deltas, rig.portfolio.positions(), PRICES, 85_000.0, True)
    assert direct is not None

    def measured(*_: object) -> None:
        raise AssertionError("a halted opening intent was measured against the exposure rules")

    monkeypatch.setattr(rig.risk, "check", measured)
    outcome = await rig.run(intent)
    assert outcome == IntentOutcome("i-1", "risk_rejected", 0, "total_drawdown")
    assert (direct.rule, direct.limit, direct.value) == ("total_drawdown", 0.10, 1.0 - 0.85)
    events = [
        (e["rule"], e["limit_value"], e["value"], e["detail"]) for e in rig.rows("risk_events")
    ]
    assert events == [(direct.rule, direct.limit, direct.value, direct.detail)]
    assert [row[3] for row in rig.journal.dump_rows("intents")] == ["i-1"]
    assert rig.venue.placed == []
    monkeypatch.undo()
    closed = await rig.run(PairIntent("c", (TargetPosition(BTC, 0.0),), "exit", opening=False))
    assert closed.status == "filled"
    assert rig.portfolio.positions(STRATEGY) == {}


async def test_a_close_goes_out_even_when_it_raises_the_net_exposure() -> None:
    # Another strategy is long 0.25 BTC; ours is short 0.2. Our close (buy 0.2) takes the net
    # from 0.05 to 0.25 BTC = 12.5 % of equity > 10 %: still sent, or our leg is orphaned.
    rig = make_rig(risk=RiskConfig(max_position_frac=0.10))
    other = Fill(BTC, "o", "v", "t", Side.BUY, D("0.25"), D(50_000), D(0), Liquidity.TAKER, T0_MS)
    rig.portfolio.apply_fill("other", other, BTC.kind)
    hold(BTC, "-0.2", rig.portfolio)
    closed = await rig.run(PairIntent("c", (TargetPosition(BTC, 0.0),), "exit", opening=False))
    assert closed.status == "filled"
    assert rig.portfolio.positions(STRATEGY) == {}


async def test_a_non_opening_intent_that_grows_a_position_is_checked_as_opening() -> None:
    rig = make_rig(risk=RiskConfig(max_position_frac=0.10))
    # Flagged opening=False but it opens 0.3 BTC = 15 % of equity: refused.
    grows = await rig.run(PairIntent("g", (TargetPosition(BTC, 0.3),), "exit", opening=False))
    assert grows.status == "risk_rejected"
    assert rig.venue.placed == []


async def test_a_tripped_breaker_blocks_entries_but_lets_exits_through() -> None:
    rig = make_rig()
    await rig.run(pair(0.1, -2.0))
    rig.risk.update_equity(T0_MS, 100_000.0)
    rig.risk.update_equity(T0_MS + 1, 90_000.0)  # 10 % drawdown: both breakers trip
    blocked = await rig.run(pair(0.2, -4.0, "i-2"))
    assert blocked.status == "risk_rejected"
    exit_ = await rig.run(pair(0.0, 0.0, "i-3", opening=False))
    assert exit_.status == "filled"
    assert rig.portfolio.positions(STRATEGY) == {}


# ---- account-stream fills and order updates (agent.execution.streamed) -----------------------


async def test_a_streamed_fill_is_booked_once_and_the_lookup_then_reverses_it() -> None:
    """The ETH short's answer and lookup are lost; the account stream reports its fill: booked
    at once for the strategy (with the order's reference price). The next lookup answers with
    the same fill: not booked again, and the late short is bought back reduce-only."""
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout"]
    await rig.run(pair(0.1, -2.0))
    eth_id = cid("i-1", "1", 0)
    (venue_fill,) = (await rig.paper.fetch_order(ETH, eth_id)).fills
    streamed = replace(venue_fill, reference_price=None)  # a stream does not know it

    booking = rig.executor.book_streamed([streamed], LATER_MS)

    assert (booking.fills_booked, booking.fills_known, booking.touched) == (1, 0, {eth_id})
    assert rig.portfolio.positions(STRATEGY) == {ETH: D(-2)}
    (row,) = [f for f in rig.rows("fills") if f["client_order_id"] == eth_id]
    assert (row["ts_ms"], row["strategy"], D(row["reference_price"])) == (
        LATER_MS, STRATEGY, D("2500.0")
    )  # fmt: skip
    assert rig.executor.book_streamed([streamed], LATER_MS).fills_known == 1  # sent twice

    await rig.executor.follow_up(LATER_MS, PRICES, only={eth_id})

    fills = [(f["client_order_id"], f["side"], D(f["qty"])) for f in rig.rows("fills")]
    assert fills.count((eth_id, "sell", D(2))) == 1
    reverse = [r for r in rig.venue.placed_on(ETH) if r.client_order_id == cid("i-1", "1f", 0)]
    assert [(r.side, r.qty, r.reduce_only) for r in reverse] == [(Side.BUY, D(2), True)]
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}


async def test_fills_and_updates_the_answer_reported_are_not_booked_again() -> None:
    rig = make_rig()
    await rig.run(pair(0.1, -2.0))
    acks = [await rig.paper.fetch_order(i, cid("i-1", n, 0)) for i, n in ((BTC, "0"), (ETH, "1"))]
    orders, fills = len(rig.rows("orders")), len(rig.rows("fills"))
    streamed = [*acks[0].fills, acks[0], *acks[1].fills, acks[1]]

    booking = rig.executor.book_streamed(streamed, LATER_MS)

    assert (booking.fills_booked, booking.fills_known, booking.updates_journaled) == (0, 2, 0)
    assert (len(rig.rows("orders")), len(rig.rows("fills"))) == (orders, fills)
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1"), ETH: D(-2)}


async def test_an_update_that_moves_an_order_forward_is_journaled_once() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout"]
    await rig.run(pair(0.1, -2.0))
    eth_id = cid("i-1", "1", 0)
    final = await rig.paper.fetch_order(ETH, eth_id)  # FILLED: the journal has pending_new only
    working = replace(final, status=OrderStatus.NEW, filled_qty=D(0), fills=())

    first = rig.executor.book_streamed([working, replace(final, fills=())], LATER_MS)
    again = rig.executor.book_streamed([replace(final, fills=()), working], LATER_MS)

    assert (first.updates_journaled, again.updates_journaled) == (2, 0)
    statuses = [r["status"] for r in rig.rows("orders") if r["client_order_id"] == eth_id]
    assert statuses == ["pending_new", "new", "filled"]


async def test_a_streamed_fill_of_an_order_the_journal_does_not_know_is_not_booked() -> None:
    rig = make_rig()
    manual = Fill(
        ETH, "placed-by-hand", "v9", "t9", Side.BUY, D(1), D(2500), D(0), Liquidity.TAKER, T0_MS
    )
    with capture_logs() as logs:
        booking = rig.executor.book_streamed([manual], LATER_MS)
    assert (booking.fills_booked, booking.fills_unknown) == (0, 1)
    assert rig.rows("fills") == []
    assert rig.portfolio.positions() == {}
    assert [e["client_order_id"] for e in logs if e["event"] == "account_fill_unknown_order"] == [
        "placed-by-hand"
    ]


# ---- standing targets and drift between steps (agent.execution.standing) -------------------


async def test_a_leg_that_drifted_from_a_standing_target_is_rebalanced() -> None:
    """A filled pair's targets stand; a late 0.5 ETH short (booked from a stream) leaves the ETH
    leg 25 % off its -2.0 target, past drift_frac: the rebalancing intent buys back exactly the
    0.5 (the BTC leg is on target), and then nothing is off any more."""
    rig = make_rig()
    entry = pair(0.1, -2.0)
    await rig.run(entry)
    assert rig.executor.drifted(PRICES, LATER_MS) == []
    hold(ETH, "-0.5", rig.portfolio)

    ((strategy, intent),) = rig.executor.drifted(PRICES, LATER_MS)

    assert (strategy, intent.legs, intent.reason, intent.opening) == (
        STRATEGY, entry.legs, "drift_rebalance", False
    )  # fmt: skip
    outcome = await rig.executor.execute(strategy, intent, PRICES, LATER_MS)
    assert outcome.status == "filled"
    ids = {cid(intent.intent_id, leg, 0) for leg in ("0", "1")}
    sent = [(r.instrument_id, r.side, r.qty) for r in rig.venue.placed if r.client_order_id in ids]
    assert sent == [(ETH, Side.BUY, D("0.5"))]
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1"), ETH: D(-2)}
    assert rig.executor.drifted(PRICES, LATER_MS + 1) == []


async def test_targets_an_intent_did_not_reach_do_not_stand() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["reject"]  # the pair is unwound
    assert (await rig.run(pair(0.1, -2.0))).status == "unwound"
    hold(ETH, "-0.5", rig.portfolio)
    assert rig.executor.drifted(PRICES, LATER_MS) == []


async def test_a_pair_with_an_unresolved_leg_is_left_to_the_follow_up() -> None:
    rig = make_rig()
    await rig.run(pair(0.1, -2.0))
    request = rig.venue.placed_on(ETH)[0]
    rig.executor.desk.keep_unresolved(STRATEGY, "i-x", "1", request, None, LATER_MS)
    hold(ETH, "-0.5", rig.portfolio)
    assert rig.executor.drifted(PRICES, LATER_MS) == []


async def test_a_later_intent_replaces_the_standing_targets_and_a_close_clears_them() -> None:
    rig = make_rig()
    await rig.run(pair(0.1, -2.0, "i-1"))
    await rig.run(pair(0.2, -4.0, "i-2"))
    hold(ETH, "-0.5", rig.portfolio)
    ((_, intent),) = rig.executor.drifted(PRICES, LATER_MS)
    assert [leg.target_qty for leg in intent.legs] == [0.2, -4.0]
    await rig.executor.execute(STRATEGY, pair(0.0, 0.0, "i-3", opening=False), PRICES, LATER_MS)
    hold(ETH, "-0.5", rig.portfolio)
    assert rig.executor.drifted(PRICES, LATER_MS) == []


async def test_prices_do_not_drift_a_pair_unless_drift_check_is_ratio() -> None:
    """1 BTC long / 20 ETH short set at 50 000 / 2 500; ETH then 1 % up against BTC: the
    legs' notional ratio moved 1 % — no drift by position (the default), a drift by ratio."""
    moved = {BTC: 50_000.0, ETH: 2_525.0}
    by_position = make_rig()
    await by_position.run(pair(1.0, -20.0))
    assert by_position.executor.drifted(moved, LATER_MS) == []
    by_ratio = make_rig(execution=ExecutionConfig(drift_check="ratio"))
    await by_ratio.run(pair(1.0, -20.0))
    assert by_ratio.executor.drifted(PRICES, LATER_MS) == []
    ((strategy, intent),) = by_ratio.executor.drifted(moved, LATER_MS)
    assert (strategy, intent.reason, intent.opening) == (STRATEGY, "drift_rebalance", False)
    # BTC kept; ETH resized by (50 000 / 50 000) / (2 525 / 2 500) = 1 / 1.01
    assert [leg.target_qty for leg in intent.legs] == [1.0, -20.0 * 1.0 / (2_525.0 / 2_500.0)]


async def test_a_ratio_move_within_drift_frac_is_left_alone() -> None:
    """ETH 0.4 % up alone: the ratio moved 0.4 % < drift_frac 0.8 %, nothing trades; ETH 0.5 %
    up and BTC 0.3 % down: 1.005 / 0.997 - 1 = 0.802 %, just past it: ETH is resized."""
    rig = make_rig(execution=ExecutionConfig(drift_check="ratio"))
    await rig.run(pair(1.0, -20.0))
    assert rig.executor.drifted({BTC: 50_000.0, ETH: 2_510.0}, LATER_MS) == []
    ((_, intent),) = rig.executor.drifted({BTC: 49_850.0, ETH: 2_512.5}, LATER_MS)
    expected_eth = -20.0 * (49_850.0 / 50_000.0) / (2_512.5 / 2_500.0)
    assert [leg.target_qty for leg in intent.legs] == [1.0, expected_eth]


def test_standing_targets_survive_a_checkpoint_round_trip() -> None:
    """The standing targets are in the resume checkpoint: restored from its JSON they are the
    same pairs (legs, prices set, drift threshold) and the rebalance ids carry on."""
    standing = StandingTargets()
    intent = replace(pair(0.1, -2.0), drift_frac=0.005)
    standing.record(STRATEGY, intent, "filled", PRICES)
    standing.record("other", PairIntent("j", (TargetPosition(BTC, 0.3),), "hold"), "filled", PRICES)
    first = standing.rebalance_intent(intent.legs, set(), T0_MS)
    assert first is not None

    restored = StandingTargets()
    restored.restore(json.loads(json.dumps(standing.state())))

    assert list(restored.pairs()) == list(standing.pairs())
    (_, kept), _ = restored.pairs()
    assert (kept.legs, dict(kept.prices_set), kept.drift_frac) == (
        intent.legs,
        {BTC: PRICES[BTC], ETH: PRICES[ETH]},
        0.005,
    )
    again = restored.rebalance_intent(intent.legs, set(), T0_MS)
    assert again is not None
    assert again.intent_id != first.intent_id
    empty = StandingTargets()
    empty.restore({})  # a checkpoint written before targets were kept
    assert len(empty) == 0


@pytest.mark.parametrize(
    ("opening", "reason", "status", "kept"),
    [
        (True, "enter", "unwound", True),  # an adjustment failed at the venue: earlier stands
        (True, "enter", "rejected", True),
        (False, "drift_rebalance", "partial", True),  # a failed rebalance is tried again
        (False, "exit", "partial", False),  # a failed exit keeps nothing (would reopen)
        (True, "enter", "risk_rejected", False),  # risk would refuse the rebalance too
        (True, "enter", "working", False),  # a maker-first intent: left to its deadline
        (True, "enter", "filled", False),  # reached: replaced by the new targets
    ],
)
def test_a_failed_intent_leaves_the_earlier_targets_standing_unless_it_was_an_exit(
    opening: bool, reason: str, status: str, kept: bool
) -> None:
    standing = StandingTargets()
    earlier = pair(0.1, -2.0, "i-1")
    standing.record(STRATEGY, earlier, "filled", PRICES)
    later = PairIntent(
        "i-2", (TargetPosition(BTC, 0.2), TargetPosition(ETH, -4.0)), reason, opening
    )
    standing.record(STRATEGY, later, status, PRICES)
    legs = [p.legs for _, p in standing.pairs()]
    if kept:
        assert legs == [earlier.legs]
    elif status == "filled":
        assert legs == [later.legs]
    else:
        assert legs == []
