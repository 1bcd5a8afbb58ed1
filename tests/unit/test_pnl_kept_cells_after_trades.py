"""After trades, :class:`agent.portfolio.pnl.VenueCells` sums again only the cells they touched.

With ``traded_at`` (the trade count at each lot's last trade, as
:attr:`agent.portfolio.positions.PositionBook.traded_at` keeps it), the call after trades sums
again the kept part of the traded lots' cells; the other cells keep theirs, their part of an
instrument that opened or closed included. The journal stores the sums as text, so the cells
must equal a fresh :func:`agent.portfolio.pnl.pnl_cells` digit for digit (value, sign and
exponent) whatever happened between two calls: one trade or several, in one instrument or
several, opening, growing, closing or flipping a lot, a strategy's first lot in an instrument
or at a venue, a new leg, marks, funding on open and closed legs, a closed instrument marked
again. The run without ``traded_at`` is
``tests/unit/test_valuation_fast_paths.py::test_kept_cells_equal_a_fresh_sum_through_trades_marks_and_funding``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal as D
from decimal import localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.portfolio.exact import EXACT_CONTEXT, Lot, trade_lot
from agent.portfolio.ledger import Portfolio
from agent.portfolio.pnl import Cell, Flows, Leg, VenueCells, compute_pnl, pnl_cells
from agent.portfolio.positions import PositionBook
from venues.model import Fill, FundingPayment, InstrumentId, InstrumentKind, Liquidity, Side

IDS = [
    InstrumentId(venue, kind, symbol)
    for venue in ("binance", "bybit")
    for kind in (InstrumentKind.PERP, InstrumentKind.SPOT)
    for symbol in ("BTCUSDT", "ETHUSDT")
]
STRATEGIES = ("alpha", "beta", "gamma")


def price(rng: random.Random) -> D:
    """A mark as the engine makes one (``Decimal(repr(float))``: varying exponents)."""
    return D(repr(round(rng.uniform(1, 60_000), rng.randint(0, 6))))


def texts(cells: Mapping[tuple[str, str], Cell]) -> dict[tuple[str, str], list[str]]:
    """Each cell as the journal would write it (str keeps the exponent and the sign)."""
    return {key: [str(v) for v in cell] for key, cell in cells.items()}


def is_open(lots: Mapping[InstrumentId, Mapping[str, Lot]], iid: InstrumentId) -> bool:
    return any(lot.qty != 0 for lot in lots.get(iid, {}).values())


def random_run(seed: int, calls: int) -> Counter[str]:
    """Random trades, marks and funding between calls; every call checked against a fresh
    sum. Returns how often each kind of change reached a call."""
    rng = random.Random(seed)
    lots: dict[InstrumentId, dict[str, Lot]] = {}
    flows: dict[Leg, Flows] = {}
    marks: dict[InstrumentId, D] = {}
    traded_at: dict[Leg, int] = {}
    trades = 0
    kept = VenueCells()
    seen: Counter[str] = Counter()
    for _ in range(calls):
        opened_or_closed = new_lot = False
        traded: set[Leg] = set()
        for _ in range(rng.choice((1, 1, 1, 2, 3))):  # changes between two calls
            action = rng.random()
            with localcontext(EXACT_CONTEXT):
                if action < 0.3:  # a trade: opens, grows, shrinks, flips or closes a lot
                    iid, strategy = rng.choice(IDS), rng.choice(STRATEGIES)
                    if rng.random() < 0.05:  # a strategy's first lot, opened and closed
                        strategy = f"new {trades}"
                    was_open = is_open(lots, iid)
                    new_lot |= strategy not in lots.get(iid, {})
                    for _ in range(2 if strategy.startswith("new") else 1):
                        lot = lots.setdefault(iid, {}).setdefault(strategy, Lot())
                        reference = price(rng)
                        if lot.qty != 0 and (strategy.startswith("new") or rng.random() < 0.5):
                            sign, qty = (-1 if lot.qty > 0 else 1), abs(lot.qty)
                        else:
                            sign = rng.choice((-1, 1))
                            qty = D(repr(round(rng.uniform(0.001, 5), 3)))
                        trade_lot(lot, sign, qty, reference)
                        marks[iid] = reference
                        # a lot without a leg too (the mapping allows it): a new lot, no new leg
                        if not strategy.startswith("new") and rng.random() < 0.9:
                            flow = flows.setdefault((strategy, iid), Flows())
                            flow.fees_usd += D(repr(round(rng.uniform(0, 3), 5)))
                            flow.slippage_usd += D(repr(round(rng.uniform(-1, 1), 4)))
                        trades += 1
                        traded_at[(strategy, iid)] = trades
                        traded.add((strategy, iid))
                    opened_or_closed |= was_open != is_open(lots, iid)
                elif action < 0.7:  # the engine's marks: every held instrument, new objects
                    for iid in lots:
                        if is_open(lots, iid):
                            marks[iid] = price(rng)
                elif action < 0.85 and flows:  # funding on a leg
                    leg = rng.choice(list(flows))
                    seen["open funding" if is_open(lots, leg[1]) else "closed funding"] += 1
                    flows[leg].funding_usd += D(repr(round(rng.uniform(-2, 2), 9)))
                elif action < 0.9:  # funding nobody held: a new leg
                    leg = ("unattributed", rng.choice(IDS))
                    flows.setdefault(leg, Flows()).funding_usd += D("-0.0001234")
                else:  # a closed instrument marked again (same value, another exponent)
                    closed = [i for i in lots if not is_open(lots, i)]
                    if closed:
                        iid = rng.choice(closed)
                        marks[iid] = D(str(marks[iid]) + "0")
                        seen["closed mark"] += 1
        legs_before = kept._legs
        got = kept.cells(lots, flows, marks, trades, traded_at)
        if traded and legs_before == len(flows):  # the cells of the trades summed again
            seen["resum"] += 1
            seen["resum, several lots"] += len(traded) > 1
            seen["resum, opened or closed"] += opened_or_closed
            seen["resum, new lot"] += new_lot
        assert texts(got) == texts(pnl_cells(lots, flows, marks))
    return seen


def test_cells_summed_again_after_trades_equal_a_fresh_sum() -> None:
    """Fails if a traded lot's cell is not summed again, if the traded lots are not found from
    ``traded_at``, or if the cells' closed parts are not gathered again after a sum."""
    seen = random_run(seed=3, calls=3_000)
    assert min(seen.values()) > 20, seen
    assert len(seen) == 7, seen


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_cells_summed_again_after_trades_equal_a_fresh_sum_for_any_run(seed: int) -> None:
    random_run(seed, calls=150)


def test_a_ledger_s_pnl_after_trades_equals_a_fresh_sum() -> None:
    """The ledger passes its book's ``traded_at``: its report after each booking equals the
    report of a fresh sum, digit for digit."""
    rng = random.Random(8)
    portfolio = Portfolio({"binance": D("50000"), "bybit": D("50000")})
    perps = [iid for iid in IDS if iid.kind is InstrumentKind.PERP]
    for n in range(1_500):
        action = rng.random()
        if action < 0.25:
            iid, strategy = rng.choice(IDS), rng.choice(STRATEGIES)
            held = portfolio.position_qty(strategy, iid)
            side = rng.choice((Side.BUY, Side.SELL))
            qty = D(repr(round(rng.uniform(0.001, 2), 3)))
            if held != 0 and rng.random() < 0.5:  # close it
                side, qty = (Side.SELL if held > 0 else Side.BUY), abs(held)
            reference = price(rng)
            fill = Fill(
                instrument_id=iid,
                client_order_id=f"c{n}",
                venue_order_id=f"o{n}",
                trade_id=f"t{n}",
                side=side,
                qty=qty,
                price=reference + D("0.5"),
                fee_usd=D("0.0123"),
                liquidity=Liquidity.TAKER,
                ts_event_ms=n,
                reference_price=reference,
            )
            portfolio.apply_fill(strategy, fill, iid.kind)
        elif action < 0.75:
            portfolio.mark({iid: price(rng) for iid in portfolio.positions()})
        else:
            iid = rng.choice(perps)
            portfolio.apply_funding(
                FundingPayment(
                    instrument_id=iid,
                    ts_funding_ms=n,
                    rate=rng.uniform(-0.001, 0.001),
                    interval_s=28_800,
                    position_qty=D(0),
                    mark_price=price(rng),
                    amount_usd=D(repr(round(rng.uniform(-3, 3), 6))),
                )
            )
        book = portfolio._book
        venues = ("binance", "bybit")
        fresh = compute_pnl(pnl_cells(book.lots(), portfolio._flows, book.marks_view()), venues)
        report = portfolio.pnl()
        assert repr(report) == repr(fresh)
        assert repr(dict(report.by_venue)) == repr(dict(fresh.by_venue))


def test_the_book_keeps_the_trade_count_of_each_lot_s_last_trade() -> None:
    book = PositionBook()
    btc, eth = IDS[0], IDS[1]
    with localcontext(EXACT_CONTEXT):
        book.book_trade("alpha", btc, 1, D("1"), D("100"))
        book.book_trade("beta", btc, 1, D("2"), D("101"))
        book.book_trade("alpha", eth, -1, D("3"), D("10"))
        book.book_trade("alpha", btc, -1, D("1"), D("102"))
    assert book.trades == 4
    assert book.traded_at == {("alpha", btc): 4, ("beta", btc): 2, ("alpha", eth): 3}
