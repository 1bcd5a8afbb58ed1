"""Leg risk: the leg policies, the unhedged-exposure integral and the naked budget.

Real collaborators (``PaperVenue``, ``Portfolio``, an in-memory ``Journal``, ``RiskEngine``);
failures are injected by :class:`Scripted`, a paper venue behind a per-instrument script that
records every call and how many answers had been given when it came. Fills are at the fed
price (no slippage), so every quantity and every USD·s below is worked out by hand here.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from agent.config import ExecutionConfig, RiskConfig
from agent.config.sections import LegRiskConfig
from agent.execution.executor import Executor, IntentOutcome, client_order_id
from agent.execution.exposure import ExposureBook
from agent.execution.pairs import less_liquid_first
from agent.execution.plan import PlannedLeg
from agent.journal.journal import Journal
from agent.notify import Notice
from agent.portfolio.ledger import Portfolio
from agent.reporting.report import build_summary
from agent.reporting.summary import LegRiskStats, format_summary, summary_to_dict
from agent.risk import RiskEngine
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
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")  # the market reference
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
INSTRUMENTS = {
    # lot 0.001 BTC, min notional 100 USD; lot 0.01 ETH, min notional 20 USD
    BTC: Instrument(BTC, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("100"), D(1), 28_800),
    ETH: Instrument(ETH, "ETH", "USDT", D("0.01"), D("0.01"), D("0.05"), D("20"), D(1), 28_800),
}
PRICES = {BTC: 50_000.0, ETH: 2_500.0}
LOOSE_RISK = RiskConfig(
    max_position_frac=1.0, max_leverage=10.0, max_venue_frac=1.0, max_order_notional_usd=1e9
)
PAIR_EXPOSURE_COLUMNS = (
    "id", "ts_ms", "strategy", "intent_id", "leg_policy", "legs", "ts_opened_ms",
    "unhedged_usd_s", "longest_unhedged_ms", "max_unhedged_usd", "naked_budget_usd_s",
    "past_budget", "outcome",
)  # fmt: skip


class Scripted:
    """A :class:`PaperVenue` behind per-instrument scripts, recording every call.

    ``place`` actions, one per ``place_order`` of that instrument (then ``"fill"``):
    ``"fill"``; ``"reject"`` (``InsufficientMargin``); ``"lost"`` (``RequestTimeout``, not
    placed); ``"timeout_after_fill"`` (placed and filled, then ``RequestTimeout``);
    ``"partial"`` (half the qty filled, answered EXPIRED). ``lookup`` actions, one per
    ``fetch_order``: ``"answer"`` (default, the paper venue's) or ``"timeout"``.

    ``gate``: the number of orders that must have arrived before any is answered (1: each
    answered at once); ``calls`` records ``(client_order_id, answers given before it)``.
    """

    def __init__(self, paper: PaperVenue, gate: int = 1) -> None:
        self.paper = paper
        self.place: dict[InstrumentId, list[str]] = {}
        self.lookup: dict[InstrumentId, list[str]] = {}
        self.placed: list[OrderRequest] = []
        self.fetched: list[str] = []
        self.calls: list[tuple[str, int]] = []
        self.answers = 0
        self._gate = gate
        self._gate_open = asyncio.Event()

    @property
    def name(self) -> str:
        return self.paper.name

    async def place_order(self, request: OrderRequest) -> OrderAck:
        self.placed.append(request)
        self.calls.append((request.client_order_id, self.answers))
        if len(self.placed) >= self._gate:
            self._gate_open.set()
        await self._gate_open.wait()
        try:
            return await self._place(request)
        finally:
            self.answers += 1

    async def _place(self, request: OrderRequest) -> OrderAck:
        queue = self.place.get(request.instrument_id)
        action = queue.pop(0) if queue else "fill"
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
        if action == "timeout_after_fill":
            await self.paper.place_order(request)
            raise RequestTimeout("scripted timeout after the fill", venue=self.name)
        if action == "partial":
            ack = await self.paper.place_order(replace(request, qty=request.qty / 2))
            return replace(ack, qty=request.qty, status=OrderStatus.EXPIRED)
        return await self.paper.place_order(request)

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        self.fetched.append(client_order_id)
        queue = self.lookup.get(instrument_id)
        if (queue.pop(0) if queue else "answer") == "timeout":
            raise RequestTimeout("scripted lookup timeout", venue=self.name)
        return await self.paper.fetch_order(instrument_id, client_order_id)

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        return await self.paper.cancel_order(instrument_id, client_order_id)

    def placed_as(self) -> list[tuple[InstrumentId, Side, D, bool]]:
        return [(r.instrument_id, r.side, r.qty, r.reduce_only) for r in self.placed]


@dataclass
class Rig:
    paper: PaperVenue
    venue: Scripted
    portfolio: Portfolio
    journal: Journal
    executor: Executor

    async def run(self, intent: PairIntent) -> IntentOutcome:
        return await self.executor.execute(STRATEGY, intent, PRICES, T0_MS)

    async def venue_positions(self) -> dict[InstrumentId, D]:
        return {p.instrument_id: p.qty for p in await self.paper.fetch_positions()}

    def pair_rows(self) -> list[dict[str, Any]]:
        rows = self.journal.dump_rows("pair_exposure")
        return [dict(zip(PAIR_EXPOSURE_COLUMNS, row, strict=True)) for row in rows]


def make_rig(
    leg_risk: LegRiskConfig | None = None,
    execution: ExecutionConfig | None = None,
    gate: int = 1,
) -> Rig:
    config = PaperVenueConfig(
        name="binance",
        initial_collateral_usd=D(100_000),
        perp_fees=VenueFees(D("0.0002"), D("0.0005")),
        spot_fees=VenueFees(D("0.001"), D("0.001")),
        slippage_bps=D(0),
        perp_leverage=D(5),
    )
    paper = PaperVenue(config, INSTRUMENTS, lambda: T0_MS)
    for iid, price in PRICES.items():
        paper.update_price(iid, price)
    venue = Scripted(paper, gate)
    portfolio = Portfolio({"binance": D(100_000)})
    journal = Journal.open(":memory:")
    executor = Executor(
        {"binance": venue},  # type: ignore[dict-item]  # implements what Executor calls
        INSTRUMENTS,
        portfolio,
        journal,
        RiskEngine(LOOSE_RISK, {"binance": 5.0}, 100_000.0),
        execution or ExecutionConfig(),
        leg_risk={STRATEGY: leg_risk or LegRiskConfig()},
        reference_instrument=BTC,
    )
    return Rig(paper, venue, portfolio, journal, executor)


def pair(btc_qty: float = 0.1, eth_qty: float = -2.0, intent_id: str = "i-1") -> PairIntent:
    legs = (TargetPosition(BTC, btc_qty), TargetPosition(ETH, eth_qty))
    return PairIntent(intent_id, legs, "enter", True)


def cid(leg: str, attempt: int, intent_id: str = "i-1") -> str:
    return client_order_id(STRATEGY, intent_id, leg, attempt)


SEQUENTIAL = LegRiskConfig(leg_policy="sequential")


# ---- leg policies ----------------------------------------------------------------------------


async def test_simultaneous_sends_both_legs_before_either_is_answered() -> None:
    rig = make_rig(gate=2)  # the venue answers nothing until both orders arrived
    async with asyncio.timeout(5):  # a policy sending one leg at a time would wait here
        outcome = await rig.run(pair())
    assert outcome == IntentOutcome("i-1", "filled", 2)
    assert rig.venue.calls == [(cid("0", 0), 0), (cid("1", 0), 0)]  # no answer before either
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1"), ETH: D(-2)}
    (row,) = rig.pair_rows()
    assert (row["leg_policy"], row["legs"], row["outcome"]) == ("simultaneous", 2, "filled")
    assert (row["unhedged_usd_s"], row["longest_unhedged_ms"], row["past_budget"]) == (0.0, 0, 0)


async def test_sequential_sends_the_less_liquid_leg_first_and_the_other_on_its_fill() -> None:
    rig = make_rig(SEQUENTIAL)
    outcome = await rig.run(pair())
    assert outcome == IntentOutcome("i-1", "filled", 2, "sequential")
    # ETH (not the market reference) goes first; BTC only once ETH's answer came back.
    assert rig.venue.calls == [(cid("1", 0), 0), (cid("0", 0), 1)]
    assert rig.venue.placed_as() == [
        (ETH, Side.SELL, D(2), False),
        (BTC, Side.BUY, D("0.1"), False),
    ]
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1"), ETH: D(-2)}
    (row,) = rig.pair_rows()
    assert (row["leg_policy"], row["outcome"], row["unhedged_usd_s"]) == (
        "sequential",
        "filled",
        0.0,
    )


async def test_sequential_sizes_the_second_leg_to_what_the_first_filled() -> None:
    rig = make_rig(SEQUENTIAL)
    # ETH: attempt 0 asks 2 and fills 1; attempt 1 asks the remaining 1 and fills 0.5.
    rig.venue.place[ETH] = ["partial", "partial"]
    outcome = await rig.run(pair())
    assert (outcome.status, outcome.orders_sent, outcome.detail) == (
        "scaled",
        3,
        "first_leg_partial",
    )
    # 1.5 of 2 ETH filled = 0.75 of the plan, so BTC gets 0.75 × 0.1 = 0.075 (on the lot step).
    assert rig.venue.placed_as() == [
        (ETH, Side.SELL, D(2), False),
        (ETH, Side.SELL, D(1), False),
        (BTC, Side.BUY, D("0.075"), False),
    ]
    assert [answers for _, answers in rig.venue.calls] == [0, 1, 2]
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.075"), ETH: D("-1.5")}
    assert await rig.venue_positions() == {BTC: D("0.075"), ETH: D("-1.5")}
    (row,) = rig.pair_rows()
    # The 1.5 ETH were unhedged until BTC filled, but for no time on the agent's clock (it
    # does not move while a pair is sent): nothing counts.
    assert (row["outcome"], row["unhedged_usd_s"], row["max_unhedged_usd"]) == ("scaled", 0.0, 0.0)


async def test_sequential_balances_leg_against_leg_when_the_second_cannot_complete() -> None:
    rig = make_rig(SEQUENTIAL)
    rig.venue.place[BTC] = ["partial", "reject"]  # 0.05 of 0.1 BTC, then refused
    outcome = await rig.run(pair())
    # ETH filled 2 (all), BTC 0.05 (half): ETH is brought back to half its plan, 1 ETH
    # bought back reduce-only (leg "1u"); BTC keeps its 0.05.
    assert (outcome.status, outcome.detail) == ("scaled", "leg_failed")
    unwind = rig.venue.placed[-1]
    assert (unwind.client_order_id, unwind.side, unwind.qty, unwind.reduce_only) == (
        cid("1u", 0),
        Side.BUY,
        D(1),
        True,
    )
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.05"), ETH: D(-1)}
    assert await rig.venue_positions() == {BTC: D("0.05"), ETH: D(-1)}
    assert rig.pair_rows()[0]["outcome"] == "scaled"


async def test_sequential_first_leg_refused_sends_nothing_else() -> None:
    rig = make_rig(SEQUENTIAL)
    rig.venue.place[ETH] = ["reject"]
    outcome = await rig.run(pair())
    assert outcome == IntentOutcome("i-1", "rejected", 1, "first_leg_unfilled")
    assert [r.instrument_id for r in rig.venue.placed] == [ETH]
    assert rig.portfolio.positions(STRATEGY) == {}
    assert rig.pair_rows()[0]["outcome"] == "rejected"


def _leg(index: int, iid: InstrumentId) -> PlannedLeg:
    base = iid.symbol.removesuffix("USDT")
    inst = Instrument(iid, base, "USDT", D("0.01"), D("0.01"), D("0.01"), D(5), D(1), 28_800)
    return PlannedLeg(index, inst, D(1), 100.0)


def test_less_liquid_first_ranks_spot_then_other_venues_then_the_reference() -> None:
    reference = BTC
    spot = _leg(3, InstrumentId("binance", InstrumentKind.SPOT, "SOLUSDT"))
    other_venue = _leg(2, InstrumentId("bybit", InstrumentKind.PERP, "BTCUSDT"))
    same_venue = _leg(1, ETH)
    the_reference = _leg(0, BTC)
    tie = _leg(4, InstrumentId("binance", InstrumentKind.PERP, "XRPUSDT"))
    ordered = less_liquid_first([the_reference, same_venue, other_venue, spot, tie], reference)
    assert [p.leg for p in ordered] == [3, 2, 1, 4, 0]
    # Without a reference: spot first, then the plan's order.
    assert [p.leg for p in less_liquid_first([the_reference, spot, same_venue], None)] == [3, 0, 1]


# ---- the exposure integral -------------------------------------------------------------------


def _ack(iid: InstrumentId, side: Side, qty: str, price: str, ts_ms: int, n: int) -> OrderAck:
    fill = Fill(
        iid, f"c{n}", f"v{n}", f"t{n}", side, D(qty), D(price), D(0), Liquidity.TAKER, ts_ms
    )
    return OrderAck(
        f"c{n}", f"v{n}", iid, side, OrderStatus.FILLED, D(qty), D(qty), D(price), ts_ms, (fill,)
    )


def _answer(book: ExposureBook, cid: str, ack: OrderAck, ts_ms: int) -> None:
    """What the desk does with an answer: the answer, then each of its trades booked once."""
    book.on_ack(cid, ack, ts_ms)
    for fill in ack.fills:
        book.on_fill(replace(fill, client_order_id=cid), ts_ms)


def test_the_unhedged_integral_follows_a_scripted_fill_timeline() -> None:
    journal = Journal.open(":memory:")
    book = ExposureBook(journal)
    planned = [
        PlannedLeg(0, INSTRUMENTS[BTC], D("0.1"), 50_000.0),
        PlannedLeg(1, INSTRUMENTS[ETH], D(-2), 2_500.0),
    ]
    book.open(STRATEGY, "i-1", planned, LegRiskConfig(naked_budget_usd_s=1e9), T0_MS)
    for n in range(4):
        book.on_order(STRATEGY, "i-1", f"c{n}")

    def at(seconds: int) -> int:
        return T0_MS + seconds * 1000

    # t=0 s: BTC bought 0.1 @ 50,000, ETH not yet → 0.1 × 50,000 = 5,000 USD unhedged.
    _answer(book, "c0", _ack(BTC, Side.BUY, "0.1", "50000", at(0), 0), at(0))
    # t=1 s: BTC marked at 51,000 → 5,100 USD.
    book.observe(at(1), {BTC: 51_000.0, ETH: 2_500.0})
    # t=3 s: ETH sold 2 @ 2,500 → balanced; first unhedged stretch 3 s.
    _answer(book, "c1", _ack(ETH, Side.SELL, "2", "2500", at(3), 1), at(3))
    # t=4 s: BTC sold back (an unwind) → ETH's 2 × 2,500 = 5,000 USD unhedged again.
    _answer(book, "c2", _ack(BTC, Side.SELL, "0.1", "51000", at(4), 2), at(4))
    # t=7 s: ETH marked at 2,400 → 4,800 USD.
    book.observe(at(7), {BTC: 51_000.0, ETH: 2_400.0})
    # t=10 s: ETH bought back → flat; second stretch 6 s.
    _answer(book, "c3", _ack(ETH, Side.BUY, "2", "2400", at(10), 3), at(10))
    book.sent(STRATEGY, "i-1", "unwound", at(10), pending=False)

    expected_usd_s = 5_000 * 1 + 5_100 * 2 + 0 * 1 + 5_000 * 3 + 4_800 * 3  # = 44,600
    (row,) = journal.dump_rows("pair_exposure")
    got = dict(zip(PAIR_EXPOSURE_COLUMNS, row, strict=True))
    assert got["unhedged_usd_s"] == pytest.approx(expected_usd_s)
    assert got["longest_unhedged_ms"] == 6_000  # the longer stretch, not the 9 s of both
    assert got["max_unhedged_usd"] == pytest.approx(5_100.0)
    assert (got["ts_ms"], got["ts_opened_ms"], got["outcome"]) == (at(10), T0_MS, "unwound")
    assert len(book) == 0
    assert book.unhedged_usd_s_total == pytest.approx(expected_usd_s)


def test_a_residual_below_one_lot_step_is_not_unhedged() -> None:
    book = ExposureBook(Journal.open(":memory:"))
    planned = [
        PlannedLeg(0, INSTRUMENTS[BTC], D("0.1"), 50_000.0),
        PlannedLeg(1, INSTRUMENTS[ETH], D(-2), 2_500.0),
    ]
    pair_ = book.open(STRATEGY, "i-1", planned, LegRiskConfig(), T0_MS)
    book.on_order(STRATEGY, "i-1", "c0")
    book.on_order(STRATEGY, "i-1", "c1")
    _answer(book, "c0", _ack(ETH, Side.SELL, "1.99", "2500", T0_MS, 1), T0_MS)
    _answer(book, "c1", _ack(BTC, Side.BUY, "0.1", "50000", T0_MS, 0), T0_MS)
    # ETH is 0.995 of its plan: BTC's excess 0.1 − 0.0995 = 0.0005 BTC is below its 0.001 lot.
    assert pair_.balanced
    # One more lot short on ETH (0.99 filled → 1.98 of 2): BTC's excess 0.001 counts, 50 USD.
    _answer(book, "c0", _ack(ETH, Side.BUY, "0.01", "2500", T0_MS, 2), T0_MS)
    assert pair_.unhedged_usd == pytest.approx(0.001 * 50_000)


# ---- the naked budget ------------------------------------------------------------------------


async def test_past_the_budget_a_naked_leg_is_unwound_and_journaled() -> None:
    rig = make_rig(LegRiskConfig(naked_budget_usd_s=1_000.0))
    rig.venue.place[ETH] = ["reject"]  # ETH refused ...
    rig.venue.place[BTC] = ["fill", "reject"]  # ... and BTC's unwind refused: 0.1 BTC naked
    outcome = await rig.run(pair())
    assert outcome.status == "partial"
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1")}
    placed = len(rig.venue.placed)

    # 100 ms × 5,000 USD = 500 USD·s: within the budget, nothing is sent.
    await rig.executor.check_exposure(T0_MS + 100, PRICES)
    assert len(rig.venue.placed) == placed
    assert rig.executor.open_pairs == 1

    # 300 ms × 5,000 USD = 1,500 USD·s > 1,000: ETH was refused, so BTC is unwound
    # reduce-only (leg "0bu", round 0).
    await rig.executor.check_exposure(T0_MS + 300, PRICES)
    forced = rig.venue.placed[placed:]
    assert [(r.client_order_id, r.side, r.qty, r.reduce_only) for r in forced] == [
        (cid("0bu", 0), Side.SELL, D("0.1"), True)
    ]
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}
    (row,) = rig.pair_rows()
    assert (row["past_budget"], row["outcome"], row["ts_ms"]) == (1, "unwound", T0_MS + 300)
    assert row["unhedged_usd_s"] == pytest.approx(5_000 * 0.3)
    assert (row["longest_unhedged_ms"], row["max_unhedged_usd"]) == (300, 5_000.0)
    assert row["naked_budget_usd_s"] == 1_000.0
    assert (rig.executor.pairs_past_budget, rig.executor.open_pairs) == (1, 0)
    assert rig.executor.unhedged_usd_s_total == pytest.approx(1_500.0)


async def test_past_the_budget_a_naked_leg_is_unwound_before_the_next_intent_of_the_step() -> None:
    """Live, a step's next intent first runs ``Executor.between_intents`` (the engine's
    ``work_between_intents``: due lookups, then the naked budgets), so a leg left naked by one
    intent is unwound before the next is sent — not after the step."""
    rig = make_rig(LegRiskConfig(naked_budget_usd_s=1_000.0))
    rig.venue.place[ETH] = ["reject"]  # ETH refused ...
    rig.venue.place[BTC] = ["fill", "reject"]  # ... and BTC's unwind refused: 0.1 BTC naked
    assert (await rig.run(pair())).status == "partial"

    async def between_intents() -> None:  # 300 ms later: 1,500 USD·s > 1,000
        await rig.executor.check_exposure(T0_MS + 300, PRICES)

    rig.executor.between_intents = between_intents
    await rig.run(pair(0.2, -4.0, intent_id="i-2"))

    sent = [r.client_order_id for r in rig.venue.placed]
    i2_orders = {cid("0", 0, "i-2"), cid("1", 0, "i-2")}
    assert i2_orders <= set(sent)
    assert sent.index(cid("0bu", 0)) < min(sent.index(c) for c in i2_orders)
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.2"), ETH: D(-4)}


async def test_past_the_budget_a_missing_leg_that_can_fill_is_completed() -> None:
    rig = make_rig(LegRiskConfig(naked_budget_usd_s=0.0))
    rig.venue.place[ETH] = ["lost", "lost"]  # never placed, twice: known, not refused
    rig.venue.place[BTC] = ["fill", "reject"]  # BTC fills, its unwind is refused
    outcome = await rig.run(pair())
    assert outcome.status == "partial"
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1")}

    await rig.executor.check_exposure(T0_MS + 1, PRICES)  # 5 USD·s > 0

    last = rig.venue.placed[-1]
    assert (last.client_order_id, last.side, last.qty, last.reduce_only) == (
        cid("1bc", 0),
        Side.SELL,
        D(2),
        False,
    )
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1"), ETH: D(-2)}
    (row,) = rig.pair_rows()
    assert (row["past_budget"], row["outcome"]) == (1, "completed")
    assert row["unhedged_usd_s"] == pytest.approx(5_000 * 0.001)


async def test_past_the_budget_an_unknown_order_is_looked_up_at_once_not_at_the_next_step() -> None:
    rig = make_rig(LegRiskConfig(naked_budget_usd_s=100.0))
    rig.venue.place[ETH] = ["reject"]
    rig.venue.place[BTC] = ["fill", "timeout_after_fill"]  # the unwind lands, unseen
    rig.venue.lookup[BTC] = ["timeout"]
    outcome = await rig.run(pair())
    assert outcome.status == "partial"  # the unwind's outcome is unknown
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1")}  # the ledger still holds it
    assert await rig.venue_positions() == {}
    placed, fetched = len(rig.venue.placed), len(rig.venue.fetched)

    await rig.executor.check_exposure(T0_MS + 1_000, PRICES)  # a mark tick 1 s later

    # 5,000 USD·s > 100: the unwind is looked up now; its fill is booked, nothing is sent.
    assert rig.venue.fetched[fetched:] == [cid("0u", 0)]
    assert len(rig.venue.placed) == placed
    assert rig.portfolio.positions(STRATEGY) == {}
    assert len(rig.executor.unresolved) == 0
    (row,) = rig.pair_rows()
    assert (row["past_budget"], row["longest_unhedged_ms"]) == (1, 1_000)


async def test_a_pair_still_open_at_the_end_is_journaled_open() -> None:
    rig = make_rig(LegRiskConfig(naked_budget_usd_s=1e9))
    rig.venue.place[ETH] = ["reject"]
    rig.venue.place[BTC] = ["fill", "reject"]
    await rig.run(pair())
    await rig.executor.check_exposure(T0_MS + 2_000, PRICES)
    rig.executor.close_exposure(T0_MS + 5_000)
    (row,) = rig.pair_rows()
    assert (row["outcome"], row["past_budget"], row["longest_unhedged_ms"]) == ("open", 0, 5_000)
    assert row["unhedged_usd_s"] == pytest.approx(5_000 * 5)


class Notices:
    def __init__(self) -> None:
        self.got: list[Notice] = []

    def notify(self, notice: Notice) -> None:
        self.got.append(notice)


async def test_a_pair_that_cannot_be_balanced_is_reported_once_and_journaled_open() -> None:
    rig = make_rig(LegRiskConfig(naked_budget_usd_s=100.0))
    notices = Notices()
    rig.executor.desk.alerts = notices
    rig.venue.place[ETH] = ["reject"]  # ETH refused: it may not be completed ...
    rig.venue.place[BTC] = ["fill", "timeout_after_fill"]  # ... BTC's unwind outcome unknown
    rig.venue.lookup[BTC] = ["timeout", "timeout"]  # also at the early lookup
    await rig.run(pair())
    notices.got.clear()  # the send's own pair_unwind_failed
    placed = len(rig.venue.placed)

    await rig.executor.check_exposure(T0_MS + 1_000, PRICES)
    await rig.executor.check_exposure(T0_MS + 2_000, PRICES)

    assert len(rig.venue.placed) == placed  # nothing safe to send: BTC may have been sold
    assert [(n.kind, n.key) for n in notices.got] == [
        ("pair_past_budget", "stat_arb:i-1"),  # once, when it passed the budget
        ("pair_unwind_failed", "stat_arb:i-1"),
    ]
    past = notices.got[0]
    assert past.fields["unhedged_usd_s"] == pytest.approx(5_000.0)  # 1 s × 0.1 BTC × 50,000
    assert past.fields["naked_budget_usd_s"] == 100.0
    rig.executor.close_exposure(T0_MS + 3_000)
    (row,) = rig.pair_rows()
    assert (row["outcome"], row["past_budget"], row["longest_unhedged_ms"]) == ("open", 1, 3_000)


async def test_a_balanced_pair_with_an_order_still_unknown_ends_unresolved() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout"]
    outcome = await rig.run(pair())
    assert outcome.status == "partial"  # BTC unwound; ETH's outcome unknown
    assert rig.pair_rows() == []  # kept while its order is unresolved
    rig.executor.close_exposure(T0_MS + 1_000)
    (row,) = rig.pair_rows()
    assert (row["outcome"], row["unhedged_usd_s"], row["past_budget"]) == ("unresolved", 0.0, 0)


async def test_a_follow_up_that_resolves_an_order_lets_the_pair_be_journaled() -> None:
    rig = make_rig()
    rig.venue.place[ETH] = ["timeout_after_fill"]
    rig.venue.lookup[ETH] = ["timeout"]
    await rig.run(pair())
    await rig.executor.follow_up(T0_MS + 3_600_000, PRICES)  # the hourly step's follow-up
    await rig.executor.check_exposure(T0_MS + 3_600_000, PRICES)  # the step's check
    # ETH's late 2 ETH sale was booked and bought back at the same instant: never unhedged.
    (row,) = rig.pair_rows()
    assert (row["outcome"], row["unhedged_usd_s"], row["ts_ms"]) == (
        "partial",
        0.0,
        T0_MS + 3_600_000,
    )
    assert row["max_unhedged_usd"] == 0.0  # each leg unwound the instant it was booked


# ---- exits and lot steps ---------------------------------------------------------------------


def exit_pair(intent_id: str = "x-1") -> PairIntent:
    legs = (TargetPosition(BTC, 0.0), TargetPosition(ETH, 0.0))
    return PairIntent(intent_id, legs, "exit", False)


async def test_an_exit_whose_leg_is_refused_retries_it_and_never_reopens_the_other() -> None:
    rig = make_rig()
    await rig.run(pair())  # hold 0.1 BTC / -2 ETH
    placed = len(rig.venue.placed)
    rig.venue.place[BTC] = ["reject"]  # the BTC close refused once

    outcome = await rig.executor.execute(STRATEGY, exit_pair(), PRICES, T0_MS)

    sent = [(r.client_order_id, r.side, r.qty) for r in rig.venue.placed[placed:]]
    assert sorted(sent) == sorted(
        [
            (cid("0", 0, "x-1"), Side.SELL, D("0.1")),
            (cid("1", 0, "x-1"), Side.BUY, D(2)),
            (cid("0", 1, "x-1"), Side.SELL, D("0.1")),  # the refused close, again
        ]
    )
    assert outcome.status == "filled"
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}


async def test_an_exit_that_cannot_complete_stays_closed_and_the_budget_completes_it() -> None:
    """Before: the ETH close was unwound (ETH bought back... sold again: reopened) while BTC
    stayed open — the strategy held again a pair it had asked to close."""
    rig = make_rig(LegRiskConfig(naked_budget_usd_s=1_000.0))
    await rig.run(pair())
    placed = len(rig.venue.placed)
    rig.venue.place[BTC] = ["reject", "reject"]  # both attempts of the BTC close refused

    outcome = await rig.executor.execute(STRATEGY, exit_pair(), PRICES, T0_MS)

    assert (outcome.status, outcome.detail) == ("partial", "exit_incomplete")
    assert not [r for r in rig.venue.placed[placed:] if r.client_order_id.endswith("u")]
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1")}  # ETH closed, and stays so
    # 1 s × 0.1 BTC × 50,000 = 5,000 USD·s > 1,000: the BTC close is completed (after the
    # refusals too: an exit is only ever completed).
    await rig.executor.check_exposure(T0_MS + 1_000, PRICES)
    last = rig.venue.placed[-1]
    completion = (cid("0bc", 0, "x-1"), Side.SELL, D("0.1"))
    assert (last.client_order_id, last.side, last.qty) == completion
    assert rig.portfolio.positions(STRATEGY) == {}
    (_, row) = rig.pair_rows()  # the entry's row, then the exit's
    assert (row["intent_id"], row["outcome"], row["past_budget"]) == ("x-1", "completed", 1)
    assert row["unhedged_usd_s"] == pytest.approx(5_000.0)


async def test_an_exit_leg_found_filled_late_is_kept_not_reversed() -> None:
    """Before: the BTC close, filled but unanswered, was taken for an opening leg's late fill
    and bought back at the follow-up: the close undone on one leg, ETH left closed alone."""
    rig = make_rig()
    await rig.run(pair())  # hold 0.1 BTC / -2 ETH
    placed = len(rig.venue.placed)
    rig.venue.place[BTC] = ["timeout_after_fill"]  # the BTC close lands, unseen
    rig.venue.lookup[BTC] = ["timeout"]

    outcome = await rig.executor.execute(STRATEGY, exit_pair(), PRICES, T0_MS)
    assert outcome.status == "partial"
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1")}  # the ledger still holds it

    await rig.executor.follow_up(T0_MS + 2_000, PRICES)

    sent = [r.client_order_id for r in rig.venue.placed[placed:]]
    assert sent == [cid("0", 0, "x-1"), cid("1", 0, "x-1")]  # nothing reverses the close
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}
    assert len(rig.executor.unresolved) == 0


async def test_an_exit_leg_found_never_placed_is_completed() -> None:
    rig = make_rig(execution=ExecutionConfig(not_found_grace_s=1.0))
    await rig.run(pair())
    placed = len(rig.venue.placed)
    rig.venue.place[BTC] = ["lost"]  # the BTC close never reaches the book ...
    rig.venue.lookup[BTC] = ["timeout"]  # ... and the lookup cannot tell

    await rig.executor.execute(STRATEGY, exit_pair(), PRICES, T0_MS)
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1")}

    await rig.executor.follow_up(T0_MS + 2_000, PRICES)  # past the 1 s grace: never placed

    forced = [(r.client_order_id, r.side, r.qty) for r in rig.venue.placed[placed + 2 :]]
    assert forced == [(cid("0f", 0, "x-1"), Side.SELL, D("0.1"))]  # the close, completed
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}


async def test_a_refused_reverse_is_sent_again_at_the_next_follow_up() -> None:
    """Before: one refusal of the reverse dropped it, and the late fill stayed until the
    strategy's next cycle (a chaos run: a pair one-legged for an hour)."""
    rig = make_rig()
    rig.venue.place[BTC] = ["timeout_after_fill", "reject", "fill"]
    rig.venue.lookup[BTC] = ["timeout"]
    single = PairIntent("i-1", (TargetPosition(BTC, 0.1),), "enter", True)
    assert (await rig.run(single)).status == "partial"  # the outcome is unknown

    await rig.executor.follow_up(T0_MS + 1_000, PRICES)  # filled late; its reverse refused
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.1")}
    await rig.executor.follow_up(T0_MS + 2_000, PRICES)  # the reverse's next attempt

    sent = [(r.client_order_id, r.side, r.qty) for r in rig.venue.placed[1:]]
    assert sent == [(cid("0f", 0), Side.SELL, D("0.1")), (cid("0f", 1), Side.SELL, D("0.1"))]
    assert rig.portfolio.positions(STRATEGY) == {}
    assert await rig.venue_positions() == {}
    assert len(rig.executor.unresolved) == 0


async def test_a_completion_rounds_the_lagging_leg_up_to_a_whole_lot() -> None:
    """BTC (lot 0.001 = 50 USD) lags ETH (lot 0.01 = 25 USD) at half its plan: 0.0025 BTC is
    missing. Rounded down (0.002) ETH would keep 0.02 ETH (two lots) beyond BTC's 0.4 and the
    pair would stay unbalanced with nothing left to complete; rounded up (0.003) BTC ends
    0.0005 BTC (half a lot) past ETH's half, which is balanced."""
    rig = make_rig(LegRiskConfig(naked_budget_usd_s=0.0))
    rig.venue.place[BTC] = ["lost", "lost"]  # never placed, twice: known, not refused
    rig.venue.place[ETH] = ["fill", "partial"]  # ETH sells 0.2, its unwind buys back half
    outcome = await rig.run(pair(btc_qty=0.005, eth_qty=-0.2))
    assert outcome.status == "partial"
    assert rig.portfolio.positions(STRATEGY) == {ETH: D("-0.1")}
    placed = len(rig.venue.placed)

    await rig.executor.check_exposure(T0_MS + 1, PRICES)

    forced = [(r.client_order_id, r.side, r.qty) for r in rig.venue.placed[placed:]]
    assert forced == [(cid("0bc", 0), Side.BUY, D("0.003"))]
    assert rig.portfolio.positions(STRATEGY) == {BTC: D("0.003"), ETH: D("-0.1")}
    (row,) = rig.pair_rows()
    assert (row["outcome"], row["past_budget"]) == ("completed", 1)
    assert row["unhedged_usd_s"] == pytest.approx(0.1 * 2_500 * 0.001)  # 250 USD for 1 ms


# ---- the summary -----------------------------------------------------------------------------


def test_summary_shows_each_strategys_leg_risk(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    cash = {"binance": D(100_000)}
    with Journal.open(path) as journal:
        journal.record_meta({"initial_cash_json": json.dumps({k: str(v) for k, v in cash.items()})})
        journal.record_equity_snapshot(T0_MS, Portfolio(cash), 50_000.0)
        rows = [
            ("stat_arb", "a", 0.0, 0, 0.0, False, "filled"),
            ("stat_arb", "b", 1_500.0, 300, 5_000.0, True, "unwound"),
            ("stat_arb", "c", 250.5, 42_000, 120.0, False, "filled"),
            ("funding_harvester", "d", 0.0, 0, 0.0, False, "filled"),
        ]
        for strategy, intent_id, usd_s, longest_ms, max_usd, past, outcome in rows:
            journal.record_pair_exposure(
                T0_MS, strategy, intent_id, leg_policy="sequential", legs=2,
                ts_opened_ms=T0_MS, unhedged_usd_s=usd_s, longest_unhedged_ms=longest_ms,
                max_unhedged_usd=max_usd, naked_budget_usd_s=1_000.0, past_budget=past,
                outcome=outcome,
            )  # fmt: skip
    summary = build_summary(path)
    assert summary.leg_risk == {
        "funding_harvester": LegRiskStats(1, 0.0, 0.0, 0.0, 0, 0),
        # 0 + 1,500 + 250.5 USD·s; longest 42 s; largest 5,000 USD; one past budget.
        "stat_arb": LegRiskStats(3, 1_750.5, 42.0, 5_000.0, 1, 0),
    }
    text = format_summary(summary)
    section = next(s for s in text.split("\n\n") if s.startswith("leg risk"))
    stat_arb = next(line for line in section.splitlines() if line.strip().startswith("stat_arb"))
    assert stat_arb.split() == ["stat_arb", "3", "1,750.50", "42.0", "s", "5,000.00", "1"]
    assert len({len(line) for line in section.splitlines()}) == 1  # fixed width
    encoded = summary_to_dict(summary)["leg_risk"]
    assert encoded["stat_arb"] == {  # type: ignore[index]
        "pairs": 3,
        "unhedged_usd_s": 1_750.5,
        "longest_unhedged_s": 42.0,
        "max_unhedged_usd": 5_000.0,
        "pairs_past_budget": 1,
        "pairs_open": 0,
    }
