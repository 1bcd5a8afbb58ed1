"""The order path's shortcuts give what the straightforward code gave, bit for bit.

- :func:`agent.execution.plan.client_order_id` is SHA-256 over ``json.dumps([...],
  ensure_ascii=True)`` for any strings (quotes, escapes, non-ASCII) and attempt (the id must
  never change: a restarted agent looks its orders up by it);
- :meth:`venues.paper.ledger.Ledger.available_usd` in one pass: the same ``Decimal`` (value
  and digits) as collateral + :meth:`unrealized_usd` − :meth:`used_margin_usd` through random
  trades and prices;
- a venue that never answers times out, and the order is looked up and watched;
- an intent's legs journaled as the text ``json.dumps`` gives, for float, int and NumPy
  targets, and NaN and infinities refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import random
from decimal import Decimal as D
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import ExecutionConfig
from agent.execution.desk import OrderDesk
from agent.execution.plan import PlannedLeg, client_order_id
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from strategies.base import PairIntent, TargetPosition
from tests.support.paper import BINANCE_IDS, binance_paper_venue
from venues.errors import OrderNotFound, OrderRejected
from venues.model import (
    InstrumentId,
    InstrumentKind,
    OrderAck,
    OrderRequest,
    Side,
)
from venues.paper import PaperVenue

IDS = BINANCE_IDS
PERP_BTC = IDS[0]


def dumps_id(strategy: str, intent_id: str, leg: str, attempt: int) -> str:
    """The id as it was computed before: SHA-256 over ``json.dumps`` of the four fields."""
    key = json.dumps([strategy, intent_id, leg, attempt], ensure_ascii=True)
    return hashlib.sha256(key.encode("ascii")).hexdigest()[:32]


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(), st.text(), st.integers(min_value=0, max_value=10**30))
def test_client_order_id_is_the_hash_of_json_dumps(
    strategy: str, intent_id: str, leg: str, attempt: int
) -> None:
    assert client_order_id(strategy, intent_id, leg, attempt) == dumps_id(
        strategy, intent_id, leg, attempt
    )


def test_client_order_id_keeps_the_json_escapes() -> None:
    """Strings JSON must escape (quote, backslash, control, non-ASCII, surrogate pair)."""
    for text in ['a"b', "a\\b", "tab\there", "é", "€", "\U0001f600", "\x00", ""]:
        assert client_order_id(text, "i", "0", 1) == dumps_id(text, "i", "0", 1)
    assert client_order_id("a|b", "c", "0", 0) != client_order_id("a", "b|c", "0", 0)


def straightforward_available_usd(venue: PaperVenue) -> D:
    """The former formula, summed here over the open perps as the former generators did:
    collateral + Σ (qty × price − cost) − Σ |qty| × price / leverage."""
    ledger = venue._ledger
    perps = [
        (h, ledger._prices[i])
        for i, h in ledger.holdings.items()
        if h.qty != 0 and ledger._instruments[i].is_perp
    ]
    unrealized = sum((h.qty * price - h.cost_usd for h, price in perps), D(0))
    notional = sum((abs(h.qty) * price for h, price in perps), D(0))
    return ledger.collateral_usd + unrealized - notional / ledger._perp_leverage


@pytest.mark.parametrize("seed", range(6))
async def test_available_usd_in_one_pass_is_the_sum_of_its_parts(seed: int) -> None:
    rng = random.Random(seed)
    prices = {i: rng.uniform(5, 70_000) for i in IDS}
    venue = binance_paper_venue(IDS, prices)
    checked = 0
    for n in range(120):
        iid = rng.choice(IDS)
        qty = D(rng.randint(1, 400)) * D("0.001")
        request = OrderRequest(f"o{n}", iid, rng.choice([Side.BUY, Side.SELL]), qty)
        with contextlib.suppress(OrderRejected):  # spot sell above the holding, funds short
            await venue.place_order(request)
        venue.update_prices([(i, p * rng.uniform(0.8, 1.25)) for i, p in prices.items()])
        fast, slow = venue._ledger.available_usd(), straightforward_available_usd(venue)
        # equal value AND equal digits (the journal writes str(Decimal))
        assert fast.as_tuple() == slow.as_tuple()
        checked += 1
    assert checked == 120
    assert any(h.qty != 0 for h in venue._ledger.holdings.values())


class SlowPaper(PaperVenue):
    """A paper venue whose ``place_order`` awaits a gate (a client with I/O)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.gate = asyncio.Event()

    async def place_order(self, request: OrderRequest) -> OrderAck:
        await self.gate.wait()
        return await super().place_order(request)


def make_desk(venue: PaperVenue, timeout_s: float = 5.0) -> OrderDesk:
    return OrderDesk(
        {"binance": venue},
        venue._instruments,
        Portfolio({"binance": D(20_000)}),
        Journal.open(":memory:"),
        ExecutionConfig(leg_timeout_s=timeout_s),
    )


def slow_paper(prices: dict[InstrumentId, float]) -> SlowPaper:
    base = binance_paper_venue(IDS, prices)
    venue = SlowPaper(base._config, base._instruments, lambda: 1_700_000_000_000)
    venue.update_prices(prices.items())
    return venue


async def test_a_venue_that_never_answers_times_out() -> None:
    slow = slow_paper({i: 100.0 for i in IDS})  # the gate never opens
    desk = make_desk(slow, timeout_s=0.001)
    planned = PlannedLeg(0, slow._instruments[PERP_BTC], D("0.5"), 100.0)
    result = await desk.send_leg("s", "i-1", "0", planned, 0, 1)
    # the send timed out (TimeoutError), then the lookup found no such order: known not placed
    assert isinstance(result, OrderNotFound)
    assert [o.request.client_order_id for o in desk.unresolved] == [
        client_order_id("s", "i-1", "0", 0)
    ]  # watched for a late fill, as after any send that got no answer


def journaled_legs(legs: tuple[TargetPosition, ...]) -> str:
    journal = Journal.open(":memory:")
    journal.record_intent(1, "alpha", PairIntent("i", legs, "test"))
    (row,) = journal.dump_rows("intents")
    texts = [v for v in row if isinstance(v, str) and v.startswith("[")]
    assert len(texts) == 1
    return texts[0]


def dumped_legs(legs: tuple[TargetPosition, ...]) -> str:
    as_dicts = [{"instrument": str(leg.instrument_id), "target_qty": leg.target_qty}
                for leg in legs]  # fmt: skip
    return json.dumps(as_dicts, sort_keys=True, separators=(",", ":"), allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=8).filter(lambda s: ":" not in s),
            st.one_of(
                st.floats(allow_nan=False, allow_infinity=False),
                st.integers(-(10**20), 10**20),
                st.floats(allow_nan=False, allow_infinity=False).map(np.float64),
            ),
        ),
        max_size=3,
    )
)
def test_intent_legs_text_is_json_dumps_for_every_target_type(
    legs_in: list[tuple[str, Any]],
) -> None:
    """Plain floats take the written-out text, ints and NumPy floats ``json``; both are the
    text ``json.dumps`` gives (symbols with quotes and non-ASCII included)."""
    legs = tuple(
        TargetPosition(InstrumentId("binance", InstrumentKind.PERP, symbol), qty)
        for symbol, qty in legs_in
    )
    assert journaled_legs(legs) == dumped_legs(legs)


def test_intent_legs_refuse_a_non_finite_target_as_json_does() -> None:
    for bad in (math.nan, math.inf, -math.inf):
        legs = (TargetPosition(PERP_BTC, 1.0), TargetPosition(IDS[1], bad))
        with pytest.raises(ValueError, match="Out of range float values"):
            dumped_legs(legs)
        with pytest.raises(ValueError, match="Out of range float values"):
            journaled_legs(legs)
