"""The P&L cells a ledger keeps between snapshots (``VenueCells``) equal a fresh sum.

``Portfolio.pnl()`` runs at every snapshot; :class:`agent.portfolio.pnl.VenueCells` keeps the
part of the instruments no lot holds and adds the rest. The journal stores the sums as text, so
the cells must equal :func:`agent.portfolio.pnl.pnl_cells`'s digit for digit — value, sign and
exponent — whatever changed between two calls: marks of held instruments (new objects every
step), a trade (a lot closes or opens), a new mark object for a closed instrument, funding on a
leg of a closed instrument, a new leg.
"""

from __future__ import annotations

import random
from decimal import Decimal as D
from decimal import localcontext

from agent.portfolio.exact import EXACT_CONTEXT, Lot, trade_lot
from agent.portfolio.pnl import Cell, Flows, Leg, VenueCells, pnl_cells
from venues.model import InstrumentId, InstrumentKind

IDS = [
    InstrumentId(venue, kind, symbol)
    for venue in ("binance", "bybit")
    for kind in (InstrumentKind.PERP, InstrumentKind.SPOT)
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT")
]
STRATEGIES = ("alpha", "beta", "gamma")


def texts(cells: dict[tuple[str, str], Cell]) -> dict[tuple[str, str], list[str]]:
    """Each cell as the journal would write it (str keeps the exponent and the sign)."""
    return {key: [str(v) for v in cell] for key, cell in cells.items()}


def price(rng: random.Random) -> D:
    """A mark as the engine makes one (``Decimal(repr(float))``: varying exponents)."""
    return D(repr(round(rng.uniform(1, 60_000), rng.randint(0, 6))))


def test_kept_cells_equal_a_fresh_sum_digit_for_digit_through_a_random_run() -> None:
    rng = random.Random(7)
    lots: dict[InstrumentId, dict[str, Lot]] = {}
    flows: dict[Leg, Flows] = {}
    marks: dict[InstrumentId, D] = {}
    trades = 0
    cells = VenueCells()
    checked_closed = 0
    for _ in range(3_000):
        action = rng.random()
        with localcontext(EXACT_CONTEXT):
            if action < 0.15:  # a trade: opens, grows, shrinks or closes a lot
                iid, strategy = rng.choice(IDS), rng.choice(STRATEGIES)
                lot = lots.setdefault(iid, {}).setdefault(strategy, Lot())
                reference = price(rng)
                if lot.qty != 0 and rng.random() < 0.5:  # close it whole
                    sign, qty = (-1 if lot.qty > 0 else 1), abs(lot.qty)
                else:
                    sign, qty = rng.choice((-1, 1)), D(repr(round(rng.uniform(0.001, 5), 3)))
                trade_lot(lot, sign, qty, reference)
                marks[iid] = reference
                flow = flows.setdefault((strategy, iid), Flows())
                flow.fees_usd += D(repr(round(rng.uniform(0, 3), 5)))
                flow.slippage_usd += D(repr(round(rng.uniform(-1, 1), 4)))
                trades += 1
            elif action < 0.75:  # the engine's marks: every held instrument, new objects
                for iid, holders in lots.items():
                    if any(lot.qty != 0 for lot in holders.values()):
                        marks[iid] = price(rng)
            elif action < 0.85:  # funding on any leg, that of a closed instrument included
                if flows:
                    flow = flows[rng.choice(list(flows))]
                    flow.funding_usd += D(repr(round(rng.uniform(-2, 2), 9)))
            elif action < 0.9:  # funding nobody held: a new (unattributed) leg
                leg = ("unattributed", rng.choice(IDS))
                flows.setdefault(leg, Flows()).funding_usd += D("-0.0001234")
            elif action < 0.95:  # a closed instrument marked again (same value, new object)
                closed = [i for i, h in lots.items() if all(lot.qty == 0 for lot in h.values())]
                if closed:
                    iid = rng.choice(closed)
                    marks[iid] = D(str(marks[iid]) + "0")  # equal value, another exponent
                    checked_closed += 1
        got = cells.cells(lots, flows, marks, trades)
        assert texts(got) == texts(pnl_cells(lots, flows, marks))
    assert trades > 300
    assert checked_closed > 20


def test_the_kept_part_is_not_shared_with_the_caller() -> None:
    iid = IDS[0]
    lots = {iid: {"alpha": Lot()}}
    with localcontext(EXACT_CONTEXT):
        trade_lot(lots[iid]["alpha"], 1, D("1"), D("100"))
        trade_lot(lots[iid]["alpha"], -1, D("1"), D("110"))  # closed: realized 10
    flows: dict[Leg, Flows] = {}
    marks = {iid: D("110")}
    cells = VenueCells()
    for _ in range(3):  # right after the trade, then from the kept part (twice)
        got = cells.cells(lots, flows, marks, 2)
        assert got[("alpha", "binance")][5] == D(10)
        assert texts(got) == texts(pnl_cells(lots, flows, marks))
        got[("alpha", "binance")][5] = D(999)  # the caller scribbles on its copy
