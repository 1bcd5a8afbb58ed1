"""The order path's and the held positions' fast paths equal the straightforward computation.

- :class:`agent.engine.liquidation.LiquidationWatch` reading a paper venue's perp figures
  (``perp_readings``) against reading its positions (``fetch_positions``): the same distances
  and low set, through random trades and prices;
- the journal's JSON texts (one encoder built once) against ``json.dumps`` with the same
  options, errors included;
- a pair's one-leg round sent in the caller's task (no task built), several legs each in its
  own, with the same outcomes and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.engine.liquidation import LiquidationWatch
from agent.execution.pairs import send_pair
from agent.execution.plan import PlannedLeg
from agent.journal.journal import Journal
from strategies.base import PairIntent, TargetPosition
from tests.support.paper import BINANCE_IDS, binance_paper_venue
from venues.errors import InsufficientMargin, InvalidOrder
from venues.model import (
    Instrument,
    InstrumentId,
    InstrumentKind,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
)
from venues.paper import PaperVenue

IDS = BINANCE_IDS


class PositionsOnly:
    """The paper venue seen through ``fetch_positions`` alone (the path live venues take)."""

    def __init__(self, venue: PaperVenue) -> None:
        self.venue = venue
        self.reads = 0

    async def fetch_positions(self) -> list[Position]:
        self.reads += 1
        return await self.venue.fetch_positions()


async def test_liquidation_watch_reads_paper_perps_as_their_positions_say() -> None:
    """Through random trades and prices (positions near and far from liquidation), the watch
    reading the paper venue's perp figures keeps the same distances (digit for digit) and the
    same low set, entries and exits as the watch reading its positions; it never reads the
    positions, and both tell the venue health of a good read."""
    rng = random.Random(14)
    prices = {i: rng.uniform(10, 3_000) for i in IDS}
    venue = binance_paper_venue(IDS, prices)
    positions_only = PositionsOnly(venue)
    told: dict[str, list[str]] = {"fast": [], "slow": []}
    fast = LiquidationWatch(
        0.2, lambda v, e: told["fast"].append(v), perp_readers={"binance": venue}
    )
    slow = LiquidationWatch(0.2, lambda v, e: told["slow"].append(v))
    lows, entered = 0, 0
    for step in range(300):
        iid = rng.choice(IDS)
        side = rng.choice((Side.BUY, Side.SELL)) if iid.kind is InstrumentKind.PERP else Side.BUY
        qty = D(repr(round(rng.uniform(0.01, 8), 2)))
        with contextlib.suppress(InsufficientMargin, InvalidOrder):
            await venue.place_order(OrderRequest(f"c{step}", iid, side, qty))
        prices = {i: p * rng.uniform(0.85, 1.15) for i, p in prices.items()}
        venue.update_prices(prices.items())
        held = {p.instrument_id: p.qty for p in await venue.fetch_positions()}
        await fast.measure({"binance": venue}, held, step)
        await slow.measure({"binance": positions_only}, held, step)  # type: ignore[dict-item]
        assert fast.distances == slow.distances
        assert [str(d.liquidation_price) for d in fast.distances.values()] == [
            str(d.liquidation_price) for d in slow.distances.values()
        ]
        assert fast.review() == slow.review()
        assert fast.low == slow.low
        lows += len(fast.low)
        entered += sum(1 for d in fast.distances.values() if d.liquidation_price is not None)
    assert positions_only.reads > 100  # the slow watch did read positions ...
    assert told["fast"] == told["slow"]  # ... and both told the health of the same reads
    assert lows > 0  # low legs ...
    assert entered > 100  # ... and liquidation prices were compared


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def dumps(value: Any, *, strict: bool) -> str:
    """The journal's JSON as it was: ``json.dumps`` with its options, per call."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=not strict)


@settings(max_examples=60, deadline=None)
@given(states=st.lists(st.dictionaries(st.text(), JSON_VALUES, max_size=5), max_size=4))
def test_journal_state_texts_are_json_dumps(tmp_path_factory: Any, states: list[Any]) -> None:
    """A strategy state journaled as a mapping is ``json.dumps``'s text (NaN and infinities
    allowed: lenient), row for row."""
    path = Path(tmp_path_factory.mktemp("j")) / "j.sqlite"
    with Journal.open(path) as journal:
        for k, state in enumerate(states):
            journal.record_strategy_state(k, "alpha", state)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        texts = [t for (t,) in conn.execute("SELECT state_json FROM strategy_state ORDER BY id")]
    assert texts == [dumps(state, strict=False) for state in states]


@settings(max_examples=40, deadline=None)
@given(targets=st.lists(st.floats(), min_size=1, max_size=3))
def test_journal_intent_legs_are_strict_json_dumps(
    tmp_path_factory: Any, targets: list[float]
) -> None:
    """An intent's legs are ``json.dumps``'s strict text; a NaN or infinite target is refused
    with ValueError, as ``dumps`` refuses it."""
    ids = [InstrumentId("binance", InstrumentKind.PERP, f"S{k}USDT") for k in range(3)]
    legs = tuple(TargetPosition(ids[k], q) for k, q in enumerate(targets))
    as_dicts = [{"instrument": str(leg.instrument_id), "target_qty": leg.target_qty}
                for leg in legs]  # fmt: skip
    path = Path(tmp_path_factory.mktemp("j")) / "j.sqlite"
    with Journal.open(path) as journal:
        try:
            expected = dumps(as_dicts, strict=True)
        except ValueError:
            with pytest.raises(ValueError, match="Out of range float values"):
                journal.record_intent(1, "alpha", PairIntent("i", legs, "test"))
            return
        journal.record_intent(1, "alpha", PairIntent("i", legs, "test"))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        texts = [t for (t,) in conn.execute("SELECT legs_json FROM intents")]
    assert texts == [expected]


class TaskDesk:
    """A desk whose orders fill whole, except the first send of the legs named in
    ``fail_first`` (an IOC that expired unfilled: sent again); it notes the task each send
    ran in."""

    max_attempts = 3

    def __init__(self, fail_first: set[str]) -> None:
        self.venues: dict[str, Any] = {}
        self.fail_first = fail_first
        self.sends: list[tuple[str, int, asyncio.Task[Any] | None]] = []
        self.exposure = self
        self.unresolved = self

    def open(self, *args: Any) -> None: ...

    def sent(self, *args: Any) -> None: ...

    def intents(self) -> set[tuple[str, str]]:
        return set()

    async def send_leg(
        self, strategy: str, intent_id: str, leg: str, planned: PlannedLeg, attempt: int,
        ts_ms: int,
    ) -> OrderAck:  # fmt: skip
        await asyncio.sleep(0)  # a real send awaits its venue: the other legs go meanwhile
        self.sends.append((leg, attempt, asyncio.current_task()))
        qty = abs(planned.delta_qty)
        side = Side.BUY if planned.delta_qty > 0 else Side.SELL
        if attempt == 0 and leg in self.fail_first:
            return OrderAck(f"{leg}-{attempt}", "v", planned.instrument.id, side,
                            OrderStatus.EXPIRED, qty, D(0), None, ts_ms)  # fmt: skip
        return OrderAck(f"{leg}-{attempt}", "v", planned.instrument.id, side,
                        OrderStatus.FILLED, qty, qty, D(100), ts_ms)  # fmt: skip


def planned_legs(count: int) -> list[PlannedLeg]:
    ids = [i for i in IDS if i.kind is InstrumentKind.PERP][:count]
    return [
        PlannedLeg(k, Instrument(i, "X", "USDT", D("0.01"), D("0.001"), D("0.001"), D(5), D(1),
                                 28_800), D(k + 1) * (-1 if k else 1), 100.0)
        for k, i in enumerate(ids)
    ]  # fmt: skip


@pytest.mark.parametrize("fail_first", [set(), {"0"}])
async def test_a_one_leg_round_is_sent_in_the_callers_task(fail_first: set[str]) -> None:
    """One leg: every attempt runs in the caller's task (none built); two legs: each send in
    a task of its own. Outcomes (and the retry after an outage) are the same either way."""
    caller = asyncio.current_task()
    one = TaskDesk(fail_first)
    outcome = await send_pair(one, "alpha", "i1", planned_legs(1), 1)  # type: ignore[arg-type]
    assert outcome.status == "filled"
    assert [(leg, attempt) for leg, attempt, _ in one.sends] == [
        ("0", a) for a in range(len(fail_first) + 1)
    ]
    assert all(task is caller for _, _, task in one.sends)
    two = TaskDesk(fail_first)
    outcome = await send_pair(two, "alpha", "i2", planned_legs(2), 1)  # type: ignore[arg-type]
    assert outcome.status == "filled"
    assert sorted((leg, attempt) for leg, attempt, _ in two.sends) == sorted(
        [("0", 0), ("1", 0)] + [("0", 1)] * len(fail_first)
    )
    first_round = [task for _, attempt, task in two.sends if attempt == 0]
    assert caller not in first_round
    assert len(set(first_round)) == 2
