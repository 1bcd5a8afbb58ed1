"""The P&L cells a ledger keeps between snapshots (``VenueCells``) equal a fresh sum.

``Portfolio.pnl()`` runs at every snapshot; :class:`agent.portfolio.pnl.VenueCells` keeps the
part of the instruments no lot holds and adds the rest. The journal stores the sums as text, so
the cells must equal :func:`agent.portfolio.pnl.pnl_cells`'s digit for digit — value, sign and
exponent — whatever changed between two calls: marks of held instruments (new objects every
step), a trade (a lot closes or opens), a new mark object for a closed instrument, funding on a
leg of a closed instrument, a new leg. The random run through all of these is
``tests/unit/test_valuation_fast_paths.py::test_kept_cells_equal_a_fresh_sum_through_trades_marks_and_funding``.
"""

from __future__ import annotations

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


def texts(cells: dict[tuple[str, str], Cell]) -> dict[tuple[str, str], list[str]]:
    """Each cell as the journal would write it (str keeps the exponent and the sign)."""
    return {key: [str(v) for v in cell] for key, cell in cells.items()}


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
