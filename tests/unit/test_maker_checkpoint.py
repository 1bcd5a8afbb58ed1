"""Working maker-first intents in the resume checkpoint (``agent/execution/maker_work.py``): the
JSON round trip, and a restored leg settled with the journal — what a live run sent between its
last checkpoint and the kill (a re-quote, a fill, a deadline taker order) taken from the
journaled orders, not from the checkpoint."""

from __future__ import annotations

import json
from decimal import Decimal as D

from agent.execution.maker_work import MakerLeg, WorkingIntent, settle_leg_with_journal
from agent.execution.pairs import LegRun
from agent.execution.plan import PlannedLeg, client_order_id, order_request
from agent.execution.unresolved import outcome_unknown
from agent.journal.journal import OpenOrderRow, OrderRecord
from strategies.base import PairIntent, TargetPosition
from venues.model import Instrument, InstrumentId, InstrumentKind, Side

BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
INSTRUMENTS = {
    BTC: Instrument(BTC, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("5")),
    ETH: Instrument(ETH, "ETH", "USDT", D("0.01"), D("0.01"), D("0.01"), D("5")),
}
T0 = 1_700_000_000_000


def working() -> WorkingIntent:
    """A simultaneous BTC/ETH pair: buy 0.5 BTC resting at 49,990 (0.1 filled), sell 4 ETH."""
    intent = PairIntent("enter-1", (TargetPosition(BTC, 0.5), TargetPosition(ETH, -4.0)), "enter")
    btc = PlannedLeg(0, INSTRUMENTS[BTC], D("0.5"), 50_000.0)
    eth = PlannedLeg(1, INSTRUMENTS[ETH], D("-4"), 2_500.0)
    legs = [MakerLeg(LegRun(btc, D("0.1")), "0", attempt=1), MakerLeg(LegRun(eth), "1", attempt=1)]
    legs[0].resting = order_request("s", "enter-1", "0", btc, 0, False, D("49990"))
    legs[0].resting_filled = D("0.1")
    legs[0].resting_placed_ms = T0
    prices = {BTC: 50_000.0, ETH: 2_500.0}
    return WorkingIntent(
        "s", intent, prices, [btc, eth], False, True, T0 + 3_600_000, legs, sent=2, started_ms=T0
    )


class Journal:
    """The journal's answers: order records by client order id and the open orders."""

    def __init__(self) -> None:
        self.records: dict[str, OrderRecord] = {}
        self.open: dict[str, OpenOrderRow] = {}

    def order_record(self, client_order_id: str) -> OrderRecord | None:
        return self.records.get(client_order_id)

    def add(self, leg: str, attempt: int, status: str, fills: dict[str, D]) -> str:
        cid = client_order_id("s", "enter-1", leg, attempt)
        self.records[cid] = OrderRecord(status, frozenset(fills), fills)
        return cid

    def rest(self, cid: str, attempt: int, qty: str, limit: str | None, booked: D) -> None:
        self.open[cid] = OpenOrderRow(
            T0 + 60_000, cid, "s", "enter-1", "0", attempt, BTC, Side.BUY, D(qty),
            "limit" if limit else "market", None if limit is None else D(limit), False, "new",
            frozenset(), booked,
        )  # fmt: skip


def test_a_working_intent_round_trips_through_the_checkpoint_json() -> None:
    work = working()
    again = WorkingIntent.from_json(json.loads(json.dumps(work.to_json())), INSTRUMENTS)
    assert again.to_json() == work.to_json()
    assert again.makers[0].resting == work.makers[0].resting
    assert again.makers[0].run.filled_qty == D("0.1")
    assert again.intent == work.intent


def test_a_re_quote_after_the_checkpoint_is_the_resting_order_and_every_fill_counts() -> None:
    work = working()
    leg = work.makers[0]
    journal = Journal()
    # After the checkpoint: attempt 0 filled 0.15 in all and was cancelled, attempt 1 re-quoted
    # the 0.35 left at 49,980 and filled 0.05 of it — all journaled before the kill.
    journal.add("0", 0, "canceled", {"t1": D("0.1"), "t2": D("0.05")})
    cid1 = journal.add("0", 1, "partially_filled", {"t3": D("0.05")})
    journal.rest(cid1, 1, "0.35", "49980", D("0.05"))
    settle_leg_with_journal(work, leg, journal, journal.open)
    assert leg.run.filled_qty == D("0.2")  # 0.15 + 0.05, not the checkpoint's 0.1
    assert leg.attempt == 2  # the next re-quote does not reuse attempt 1's client order id
    assert leg.resting is not None
    assert (leg.resting.client_order_id, leg.resting.limit_price) == (cid1, D("49980"))
    assert leg.resting_filled == D("0.05")
    assert leg.resting_placed_ms == T0 + 60_000
    assert not leg.failed


def test_the_checkpoints_resting_order_still_open_keeps_its_placing_time() -> None:
    work = working()
    leg = work.makers[0]
    journal = Journal()
    assert leg.resting is not None
    cid0 = journal.add("0", 0, "partially_filled", {"t1": D("0.1")})
    journal.rest(cid0, 0, "0.5", "49990", D("0.1"))
    settle_leg_with_journal(work, leg, journal, journal.open)
    assert leg.resting is not None
    assert leg.resting.client_order_id == cid0
    assert leg.resting_placed_ms == T0  # bars opening before the kill could already fill it
    assert (leg.run.filled_qty, leg.attempt) == (D("0.1"), 1)


def test_an_order_that_ended_leaves_nothing_resting_and_an_open_taker_fails_the_leg() -> None:
    work = working()
    leg = work.makers[0]
    journal = Journal()
    journal.add("0", 0, "filled", {"t1": D("0.1"), "t2": D("0.4")})
    settle_leg_with_journal(work, leg, journal, journal.open)
    assert (leg.resting, leg.run.filled_qty, leg.run.complete) == (None, D("0.5"), True)
    # The deadline's taker order (attempt 1, a market order) was sent and never answered.
    work = working()
    leg = work.makers[0]
    journal = Journal()
    journal.add("0", 0, "canceled", {"t1": D("0.1")})
    cid1 = journal.add("0", 1, "pending_new", {})
    journal.rest(cid1, 1, "0.4", None, D(0))
    settle_leg_with_journal(work, leg, journal, journal.open)
    assert leg.resting is None
    assert leg.failed  # left to the unresolved-order follow-up; the intent ends ...
    assert outcome_unknown(leg.last_result)  # ... without sending the rest as taker again
    assert leg.attempt == 2
