"""Native atomic pair orders: the paper pair venue and the executor's use of them.

Real collaborators (``PaperPairVenue``, ``Portfolio``, in-memory ``Journal``, ``RiskEngine``);
fills at the fed price (no slippage) with a 5 bp taker fee, worked out by hand below.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from agent.config import ExecutionConfig, RiskConfig
from agent.execution.executor import Executor, client_order_id
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from agent.risk import RiskEngine
from strategies.base import PairIntent, TargetPosition
from venues.errors import InsufficientMargin, OrderNotFound, RequestTimeout
from venues.model import (
    Instrument,
    InstrumentId,
    InstrumentKind,
    OrderAck,
    OrderRequest,
    Side,
    VenueFees,
)
from venues.pairs import PairAck, PairOrderVenue
from venues.paper import PaperPairVenue, PaperVenueConfig

T0_MS = 1_700_006_400_000
VENUE = "purpleflea"
BTC = InstrumentId(VENUE, InstrumentKind.PERP, "BTC")
ETH = InstrumentId(VENUE, InstrumentKind.PERP, "ETH")
INSTRUMENTS = {
    BTC: Instrument(BTC, "BTC", "USD", D("0.1"), D("0.001"), D("0.001"), D(10), D(1), 3_600),
    ETH: Instrument(ETH, "ETH", "USD", D("0.01"), D("0.01"), D("0.01"), D(10), D(1), 3_600),
}
PRICES = {BTC: 50_000.0, ETH: 2_500.0}
LOOSE = RiskConfig(
    max_position_frac=1.0, max_leverage=10.0, max_venue_frac=1.0, max_order_notional_usd=1e9
)


def _paper(collateral: str = "100000") -> PaperPairVenue:
    config = PaperVenueConfig(
        name=VENUE,
        initial_collateral_usd=D(collateral),
        perp_fees=VenueFees(D("0.0002"), D("0.0005")),
        spot_fees=VenueFees(D("0.001"), D("0.001")),
        slippage_bps=D(0),
        perp_leverage=D(5),
    )
    venue = PaperPairVenue(config, INSTRUMENTS, lambda: T0_MS)
    for iid, price in PRICES.items():
        venue.update_price(iid, price)
    return venue


class FlakyPairVenue:
    """A pair venue whose ``place_pair`` times out; ``executed`` decides whether the pair
    was in fact filled (the paper venue behind it) before the timeout."""

    def __init__(self, paper: PaperPairVenue, *, executed: bool, lookups_down: int = 0) -> None:
        self.paper = paper
        self.executed = executed
        self.lookups_down = lookups_down  # this many fetch_pair calls time out first
        self.placed = 0
        self.fetched: list[str] = []
        self.orders: list[OrderRequest] = []

    @property
    def name(self) -> str:
        return VENUE

    async def place_pair(self, pair_client_id: str, legs: list[OrderRequest], tag: str) -> PairAck:
        self.placed += 1
        if self.executed:
            await self.paper.place_pair(pair_client_id, legs, tag)
        raise RequestTimeout("no answer", venue=VENUE)

    async def fetch_pair(self, pair_client_id: str) -> PairAck:
        self.fetched.append(pair_client_id)
        if self.lookups_down > 0:
            self.lookups_down -= 1
            raise RequestTimeout("lookup timed out", venue=VENUE)
        return await self.paper.fetch_pair(pair_client_id)

    async def place_order(self, request: OrderRequest) -> OrderAck:
        self.orders.append(request)
        return await self.paper.place_order(request)

    async def close_pair(self, pair_id: str) -> PairAck:
        return await self.paper.close_pair(pair_id)


def _executor(venue: object) -> tuple[Executor, Portfolio, Journal]:
    portfolio = Portfolio({VENUE: D(100_000)})
    journal = Journal.open(":memory:")
    executor = Executor(
        {VENUE: venue},  # type: ignore[dict-item]  # implements what Executor calls
        INSTRUMENTS,
        portfolio,
        journal,
        RiskEngine(LOOSE, {VENUE: 5.0}, 100_000.0),
        ExecutionConfig(),
    )
    return executor, portfolio, journal


def _intent(btc: float, eth: float) -> PairIntent:
    return PairIntent("i-1", (TargetPosition(BTC, btc), TargetPosition(ETH, eth)), "enter", True)


async def test_paper_pair_fills_both_legs_at_one_time() -> None:
    venue = _paper()
    assert isinstance(venue, PairOrderVenue)
    legs = [OrderRequest("a", BTC, Side.BUY, D("0.1")), OrderRequest("b", ETH, Side.SELL, D(2))]
    pair = await venue.place_pair("p-1", legs, "stat_arb")
    assert (pair.long_leg.client_order_id, pair.short_leg.client_order_id) == ("a", "b")
    assert pair.long_leg.fills[0].ts_event_ms == pair.short_leg.fills[0].ts_event_ms == T0_MS
    positions = {p.instrument_id: p.qty for p in await venue.fetch_positions()}
    assert positions == {BTC: D("0.1"), ETH: D(-2)}
    assert await venue.fetch_pair("p-1") == pair


async def test_paper_pair_refused_leg_leaves_nothing_filled() -> None:
    venue = _paper(collateral="1500")  # 0.1 BTC at 5× needs 1,000 + fee; 2 ETH 1,000 more
    before = venue.account_summary()
    legs = [OrderRequest("a", BTC, Side.BUY, D("0.1")), OrderRequest("b", ETH, Side.SELL, D(2))]
    with pytest.raises(InsufficientMargin):
        await venue.place_pair("p-1", legs, "stat_arb")
    assert await venue.fetch_positions() == []
    assert venue.account_summary() == before
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(BTC, "a")  # the first leg's fill was rolled back too
    with pytest.raises(OrderNotFound):
        await venue.fetch_pair("p-1")


async def test_executor_sends_opposite_legs_as_one_native_pair() -> None:
    venue = _paper()
    executor, portfolio, journal = _executor(venue)
    outcome = await executor.execute("stat_arb", _intent(0.1, -2.0), PRICES, T0_MS)
    assert (outcome.status, outcome.orders_sent, outcome.detail) == ("filled", 2, "native_pair")
    assert portfolio.positions("stat_arb") == {BTC: D("0.1"), ETH: D(-2)}
    # fees: 5 bp of 5,000 USD per leg
    fees = sum((D(row[11]) for row in journal.dump_rows("fills")), D(0))
    assert fees == D("5.0")
    pair_id = client_order_id("stat_arb", "i-1", "pair", 0)
    assert await venue.fetch_pair(pair_id) is not None


async def test_executor_resolves_an_unknown_pair_outcome_by_lookup_never_resending() -> None:
    flaky = FlakyPairVenue(_paper(), executed=True)
    executor, portfolio, _ = _executor(flaky)
    outcome = await executor.execute("stat_arb", _intent(0.1, -2.0), PRICES, T0_MS)
    assert flaky.placed == 1
    assert flaky.fetched == [client_order_id("stat_arb", "i-1", "pair", 0)]
    assert outcome.status == "filled"
    assert portfolio.positions("stat_arb") == {BTC: D("0.1"), ETH: D(-2)}


async def test_executor_a_pair_that_never_executed_is_rejected_with_nothing_booked() -> None:
    flaky = FlakyPairVenue(_paper(), executed=False)
    executor, portfolio, _ = _executor(flaky)
    outcome = await executor.execute("stat_arb", _intent(0.1, -2.0), PRICES, T0_MS)
    assert (flaky.placed, outcome.status, outcome.detail) == (1, "rejected", "pair_not_executed")
    assert portfolio.positions("stat_arb") == {}


async def test_same_side_legs_are_sent_one_by_one() -> None:
    venue = _paper()
    executor, portfolio, _ = _executor(venue)
    outcome = await executor.execute("stat_arb", _intent(0.1, 2.0), PRICES, T0_MS)
    assert (outcome.status, outcome.detail) == ("filled", "")
    assert portfolio.positions("stat_arb") == {BTC: D("0.1"), ETH: D(2)}


async def test_an_unknown_pair_outcome_is_followed_up_and_both_legs_reversed() -> None:
    paper = _paper()
    flaky = FlakyPairVenue(paper, executed=True, lookups_down=3)  # one per leg below
    executor, portfolio, journal = _executor(flaky)
    outcome = await executor.execute("stat_arb", _intent(0.1, -2.0), PRICES, T0_MS)
    assert (outcome.status, outcome.detail) == ("partial", "pair_outcome_unknown")
    pair_id = client_order_id("stat_arb", "i-1", "pair", 0)
    assert {o.pair_client_id for o in executor.unresolved} == {pair_id}

    await executor.follow_up(T0_MS + 3_600_000, PRICES)  # the lookup fails once more
    assert len(executor.unresolved) == 2
    assert flaky.orders == []

    await executor.follow_up(T0_MS + 7_200_000, PRICES)
    # Both legs' fills booked (the pair filled), then each sold/bought back reduce-only.
    booked = {(row[7], row[8], D(row[9])) for row in journal.dump_rows("fills")}
    assert {
        ("purpleflea:perp:BTC", "buy", D("0.1")),
        ("purpleflea:perp:ETH", "sell", D(2)),
    } <= booked
    assert [(r.instrument_id, r.side, r.qty, r.reduce_only) for r in flaky.orders] == [
        (BTC, Side.SELL, D("0.1"), True),
        (ETH, Side.BUY, D(2), True),
    ]
    assert portfolio.positions("stat_arb") == {}
    assert await paper.fetch_positions() == []
    assert len(executor.unresolved) == 0
