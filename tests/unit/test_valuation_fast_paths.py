"""The per-step valuation's fast paths equal the straightforward computation, digit for digit.

The journal stores P&L as text, so every fast path must keep values, signs and exponents:

- :func:`agent.portfolio.pnl.compute_pnl` (column sums per strategy and venue) against the
  cell-by-cell sums it replaced, kept here;
- :class:`agent.portfolio.pnl.VenueCells` (the kept part now holds the open lots' realized P&L
  and basis and the open legs' fees and slippage too) against a fresh
  :func:`~agent.portfolio.pnl.pnl_cells` through a random run of trades, marks and funding;
- the position book's kept net positions and market values, invalidated by a trade and a mark;
- :meth:`Portfolio.mark_floats` against :meth:`Portfolio.mark` of ``Decimal(repr(price))``,
  digit bounds and errors included;
- the paper venue's free margin fraction against the account summary's figures, and its perp
  readings against its positions.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable, Mapping
from decimal import Decimal as D
from decimal import localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.portfolio.exact import EXACT_CONTEXT, ZERO, Lot, check_digits, trade_lot
from agent.portfolio.ledger import Portfolio
from agent.portfolio.pnl import (
    Cell,
    Flows,
    Leg,
    PnlReport,
    PnlStreams,
    VenueCells,
    compute_pnl,
    pnl_cells,
)
from agent.portfolio.positions import PositionBook
from tests.support.paper import binance_paper_venue
from venues.errors import InsufficientMargin
from venues.model import (
    Fill,
    Instrument,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderRequest,
    Side,
)
from venues.paper.ledger import Ledger

IDS = [
    InstrumentId(venue, kind, symbol)
    for venue in ("binance", "bybit", "okx")
    for kind in (InstrumentKind.PERP, InstrumentKind.SPOT)
    for symbol in ("BTCUSDT", "ETHUSDT")
]
STRATEGIES = ("alpha", "beta", "gamma", "unattributed")


def price(rng: random.Random) -> D:
    """A mark as the engine makes one (``Decimal(repr(float))``: varying exponents)."""
    return D(repr(round(rng.uniform(1, 60_000), rng.randint(0, 6))))


def amount(rng: random.Random) -> D:
    """An amount of varying sign and exponent, zeros with exponents included."""
    return D(repr(round(rng.uniform(-5_000, 5_000), rng.randint(0, 9))))


def old_compute_texts(cells: Mapping[tuple[str, str], Cell], venues: Iterable[str]) -> Texts:
    """``compute_pnl`` as it was (sorted cells, added one by one), as :func:`report_texts`."""
    zeros = [ZERO] * 7
    with localcontext(EXACT_CONTEXT):
        by_strategy: dict[str, Cell] = {}
        by_venue: dict[str, Cell] = {v: [ZERO] * 7 for v in venues}
        total: Cell = [ZERO] * 7
        for (strategy, venue), cell in sorted(cells.items()):
            of_strategy = by_strategy.get(strategy, zeros)
            of_venue = by_venue.get(venue, zeros)
            by_strategy[strategy] = [a + b for a, b in zip(of_strategy, cell, strict=True)]
            by_venue[venue] = [a + b for a, b in zip(of_venue, cell, strict=True)]
            total = [a + b for a, b in zip(total, cell, strict=True)]
    return (
        _streams(PnlStreams(*total)),
        [(s, _streams(PnlStreams(*c))) for s, c in by_strategy.items()],
        [(v, _streams(PnlStreams(*c))) for v, c in sorted(by_venue.items())],
    )


Texts = tuple[list[str], list[tuple[str, list[str]]], list[tuple[str, list[str]]]]


def _streams(streams: PnlStreams) -> list[str]:
    """The streams as the journal would write them (str keeps the exponent and the sign)."""
    names = (
        *("price_spot_usd", "price_perp_usd", "funding_usd", "fees_usd"),
        *("slippage_usd", "realized_usd", "unrealized_usd", "total_usd"),
    )
    return [str(getattr(streams, n)) for n in names]


def report_texts(report: PnlReport) -> Texts:
    """The report's streams as text, breakdowns in their order."""
    return (
        _streams(report),
        [(name, _streams(s)) for name, s in report.by_strategy.items()],
        [(name, _streams(s)) for name, s in report.by_venue.items()],
    )


def cell_texts(cells: Mapping[tuple[str, str], Cell]) -> dict[tuple[str, str], list[str]]:
    return {key: [str(v) for v in cell] for key, cell in cells.items()}


def test_compute_pnl_equals_the_cell_by_cell_sums_digit_for_digit() -> None:
    rng = random.Random(11)
    for _ in range(400):
        cells = {
            (rng.choice(STRATEGIES), rng.choice(("binance", "bybit", "okx"))): [
                amount(rng) for _ in range(7)
            ]
            for _ in range(rng.randint(0, 12))
        }
        venues = rng.sample(["binance", "bybit", "okx", "reserve"], rng.randint(0, 4))
        new = compute_pnl(cells, venues)
        assert report_texts(new) == old_compute_texts(cells, venues)
        assert list(new.by_strategy) == sorted({s for s, _ in cells})
        assert list(new.by_venue) == sorted({v for _, v in cells} | set(venues))


def test_cancelling_cells_keep_their_exponent_and_a_positive_zero() -> None:
    cells = {
        ("alpha", "binance"): [D("1.50"), D("-2.000"), *[D("0.1")] * 5],
        ("beta", "binance"): [D("-1.5"), D("2"), *[D("-0.10")] * 5],
    }
    report = compute_pnl(cells, ["binance"])
    assert str(report.price_spot_usd) == "0.00"  # the least exponent of the terms
    assert str(report.price_perp_usd) == "0.000"
    assert str(report.funding_usd) == "0.00"
    assert not report.price_spot_usd.is_signed()


def test_kept_cells_equal_a_fresh_sum_through_trades_marks_and_funding() -> None:
    """Fails if any invalidation is removed: a trade (lots, open fees and slippage), a new leg,
    funding on an open or a closed leg, a closed instrument's mark object."""
    rng = random.Random(5)
    lots: dict[InstrumentId, dict[str, Lot]] = {}
    flows: dict[Leg, Flows] = {}
    marks: dict[InstrumentId, D] = {}
    trades = 0
    kept = VenueCells()
    last_trades = -1
    seen = {"kept": 0, "open funding": 0, "closed funding": 0, "closed mark": 0}
    for _ in range(3_000):
        action = rng.random()
        with localcontext(EXACT_CONTEXT):
            if action < 0.12:  # a trade: opens, grows, shrinks, flips or closes a lot
                iid, strategy = rng.choice(IDS), rng.choice(STRATEGIES[:3])
                lot = lots.setdefault(iid, {}).setdefault(strategy, Lot())
                reference = price(rng)
                if lot.qty != 0 and rng.random() < 0.5:
                    sign, qty = (-1 if lot.qty > 0 else 1), abs(lot.qty)
                else:
                    sign, qty = rng.choice((-1, 1)), D(repr(round(rng.uniform(0.001, 5), 3)))
                trade_lot(lot, sign, qty, reference)
                marks[iid] = reference
                flow = flows.setdefault((strategy, iid), Flows())
                flow.fees_usd += D(repr(round(rng.uniform(0, 3), 5)))
                flow.slippage_usd += D(repr(round(rng.uniform(-1, 1), 4)))
                trades += 1
            elif action < 0.7:  # the engine's marks: every held instrument, new objects
                for iid, holders in lots.items():
                    if any(lot.qty != 0 for lot in holders.values()):
                        marks[iid] = price(rng)
            elif action < 0.85 and flows:  # funding on a leg
                leg = rng.choice(list(flows))
                held = any(lot.qty != 0 for lot in lots.get(leg[1], {}).values())
                seen["open funding" if held else "closed funding"] += 1
                flows[leg].funding_usd += D(repr(round(rng.uniform(-2, 2), 9)))
            elif action < 0.9:  # funding nobody held: a new leg
                leg = ("unattributed", rng.choice(IDS))
                flows.setdefault(leg, Flows()).funding_usd += D("-0.0001234")
            else:  # a closed instrument marked again (same value, another exponent)
                closed = [i for i, h in lots.items() if all(lot.qty == 0 for lot in h.values())]
                if closed:
                    iid = rng.choice(closed)
                    marks[iid] = D(str(marks[iid]) + "0")
                    seen["closed mark"] += 1
        got = kept.cells(lots, flows, marks, trades)
        seen["kept"] += trades == last_trades  # no trade since the last call: the kept part
        last_trades = trades
        assert cell_texts(got) == cell_texts(pnl_cells(lots, flows, marks))
        venues = ("binance", "bybit", "okx")
        expected = old_compute_texts(pnl_cells(lots, flows, marks), venues)
        assert report_texts(compute_pnl(got, venues)) == expected
    assert all(count > 20 for count in seen.values()), seen
    assert trades > 300


def test_the_position_book_s_kept_views_follow_trades_and_marks() -> None:
    book = PositionBook()
    btc, eth = IDS[0], IDS[2]
    with localcontext(EXACT_CONTEXT):
        book.book_trade("alpha", btc, 1, D("2"), D("100"))
    assert book.net_positions() == {btc: D(2)}
    assert book.market_values() == {btc: D(200)}
    book.set_marks({btc: D("110.5")})  # a mark: the values follow
    assert book.market_values() == {btc: D("221.0")}
    with localcontext(EXACT_CONTEXT):
        book.book_trade("beta", eth, -1, D("3"), D("10"))  # a trade: both follow
    assert book.net_positions() == {btc: D(2), eth: D(-3)}
    assert book.market_values() == {btc: D("221.0"), eth: D(-30)}
    with localcontext(EXACT_CONTEXT):
        book.book_trade("alpha", btc, -1, D("2"), D("120"))  # closed: no longer held
    assert book.net_positions() == {eth: D(-3)}
    assert book.market_values() == {eth: D(-30)}
    book.net_positions()[btc] = D(9)  # copies: a caller's scribbles change nothing
    book.market_values()[btc] = D(9)
    assert book.net_positions() == {eth: D(-3)}
    assert book.market_values() == {eth: D(-30)}


def old_net_delta_texts(book: PositionBook, deltas: Mapping[InstrumentId, D]) -> str:
    """``net_delta_usd`` as it was (every value through the option check), as text."""
    with localcontext(EXACT_CONTEXT):
        return str(
            sum(
                (
                    book.net_qty()[iid] * deltas[iid] if iid in deltas else value
                    for iid, value in book.market_values().items()
                ),
                ZERO,
            )
        )


def test_net_delta_without_option_deltas_is_the_old_sum_digit_for_digit() -> None:
    """Random books (marks of varying exponents, positions opened, flipped and closed): the
    sum without option deltas equals the old one's text; once an option delta is set, the
    option counts at it (fails if the fast path kept being taken)."""
    rng = random.Random(31)
    option = InstrumentId("okx", InstrumentKind.OPTION, "BTC-USD-250328-60000-C")
    with_option_delta = 0
    for _ in range(60):
        book = PositionBook()
        deltas: dict[InstrumentId, D] = {}
        for step in range(40):
            iid = rng.choice([*IDS, option])
            with localcontext(EXACT_CONTEXT):
                qty = D(repr(round(rng.uniform(0.001, 5), rng.randint(0, 4)))) or D("0.5")
                book.book_trade(rng.choice(STRATEGIES[:3]), iid, rng.choice((-1, 1)), qty,
                                price(rng))  # fmt: skip
            book.set_marks({i: price(rng) for i in rng.sample(IDS, 4)})
            if step == 30 and book.net_qty().get(option):
                deltas[option] = D("0.25")
                book.set_option_deltas(deltas)
            assert str(book.net_delta_usd()) == old_net_delta_texts(book, deltas)
        with_option_delta += bool(deltas)
    assert with_option_delta > 5


def _portfolio() -> Portfolio:
    portfolio = Portfolio({"binance": D(10_000)})
    for i, iid in enumerate(IDS[:4]):
        fill = Fill(iid, f"c{i}", f"o{i}", f"t{i}", Side.BUY, D("0.5"), D("100"), D("0.01"),
                    Liquidity.TAKER, 0)  # fmt: skip
        portfolio.apply_fill("alpha", fill, iid.kind)
    return portfolio


@settings(max_examples=300, deadline=None)
@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([InstrumentKind.PERP, InstrumentKind.OPTION]),
)
def test_mark_floats_equals_mark_of_the_decimal_of_the_repr(value: float, kind: str) -> None:
    iid = InstrumentId("binance", InstrumentKind(kind), "BTCUSDT")
    by_floats, by_decimals = Portfolio({"binance": D(1)}), Portfolio({"binance": D(1)})
    error: str | None = None
    try:
        by_decimals.mark({iid: D(repr(value))})
    except ValueError as e:
        error = str(e)
    if error is None:
        by_floats.mark_floats({iid: value})
        assert str(by_floats.marks()[iid]) == str(by_decimals.marks()[iid])
    else:
        with pytest.raises(ValueError, match="mark price of") as raised:
            by_floats.mark_floats({iid: value})
        assert str(raised.value) == error


@settings(max_examples=500, deadline=None)
@given(st.floats(min_value=1e-23, max_value=1e29, exclude_max=True))
def test_a_float_in_the_unchecked_range_is_within_the_digit_bounds(value: float) -> None:
    check_digits("mark", D(repr(value)))  # raises if mark_floats' shortcut were wrong


def test_mark_floats_keeps_the_cache_rules_of_mark() -> None:
    portfolio = _portfolio()
    before = portfolio.pnl()
    portfolio.mark_floats({IDS[0]: 100.0})  # equal value, another exponent: a new mark
    assert portfolio.pnl() is not before
    again = portfolio.pnl()
    portfolio.mark_floats({IDS[0]: 100.0})  # the same digits: nothing changes
    assert portfolio.pnl() is again
    portfolio.mark_floats({IDS[0]: 101.25})
    assert portfolio.pnl().unrealized_usd == D("0.625")
    portfolio.check_identity(D(0))


def test_paper_free_margin_frac_equals_the_summary_figures() -> None:
    rng = random.Random(3)
    instruments = {
        iid: Instrument(iid, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D(5))
        for iid in IDS
        if iid.venue == "binance"
    }
    prices: dict[InstrumentId, D] = {}
    ledger = Ledger(D(50_000), instruments, prices, D(3), D("0.005"))
    for _ in range(300):
        iid = rng.choice(list(instruments))
        prices[iid] = price(rng)
        qty = D(repr(round(rng.uniform(0.001, 2), 3)))
        if iid.kind is InstrumentKind.SPOT and ledger.qty(iid) - qty < 0:
            qty = -qty
        ledger.book(iid, rng.choice((-1, 1)) * qty if iid.kind is InstrumentKind.PERP else qty,
                    prices[iid], D("0.01"))  # fmt: skip
        for held in instruments:
            prices.setdefault(held, price(rng))
        equity = ledger.equity_usd()
        expected = None if equity <= 0 else float(ledger.available_usd() / equity)
        assert ledger.free_margin_frac() == expected


def test_to_view_equity_follows_every_booking_and_mark() -> None:
    portfolio = _portfolio()
    assert portfolio.to_view("alpha", 1.0).equity_usd == float(portfolio.equity_usd())
    portfolio.mark({IDS[0]: D("150")})  # a mark
    assert portfolio.to_view("alpha", 1.0).equity_usd == float(portfolio.equity_usd())
    fill = Fill(IDS[1], "c9", "o9", "t9", Side.SELL, D("0.5"), D("90"), D("0.02"),
                Liquidity.TAKER, 1)  # fmt: skip
    portfolio.apply_fill("alpha", fill, IDS[1].kind)  # a fill (cash moves, a lot closes)
    view = portfolio.to_view("alpha", 0.5)
    assert view.equity_usd == float(portfolio.equity_usd())
    assert view.strategy_capital_usd == float(portfolio.equity_usd()) * 0.5
    assert IDS[1] not in view.positions


def test_venue_equity_is_cash_plus_the_venue_s_positions_at_their_marks() -> None:
    portfolio = Portfolio({"binance": D(10_000), "bybit": D(5_000)})
    rng = random.Random(9)
    for i in range(60):
        iid = rng.choice(IDS[:8])
        side = rng.choice((Side.BUY, Side.SELL))
        fill = Fill(iid, f"c{i}", f"o{i}", f"t{i}", side, D(repr(round(rng.uniform(0.1, 2), 2))),
                    price(rng), D("0.01"), Liquidity.TAKER, i)  # fmt: skip
        if iid.venue in ("binance", "bybit"):
            portfolio.apply_fill("alpha", fill, iid.kind)
        if rng.random() < 0.5:
            portfolio.mark({i: price(rng) for i in portfolio.positions()})
        marks = portfolio.marks()
        for venue in ("binance", "bybit", "okx"):
            expected = portfolio.cash_usd().get(venue, ZERO)
            with localcontext(EXACT_CONTEXT):
                for held, qty in portfolio.positions().items():
                    if held.venue == venue:
                        expected += qty * marks[held]
            assert str(portfolio.venue_equity_usd(venue)) == str(expected)


async def test_paper_perp_readings_are_the_perps_of_fetch_positions() -> None:
    """The perp readings (numbers, no positions built: what the paper ledger's liquidation
    prices are computed from) equal the perps ``fetch_positions`` reports, digit for digit,
    through random trades and prices, margin refusals included."""
    rng = random.Random(13)
    ids = [i for i in IDS if i.venue == "binance"]
    prices = {i: rng.uniform(1_000, 3_000) for i in ids}
    fast = binance_paper_venue(ids, prices)
    seen_perps, seen_liquidation = 0, False
    for step in range(120):
        iid = rng.choice(ids)
        side = rng.choice((Side.BUY, Side.SELL))
        if iid.kind is InstrumentKind.SPOT:
            side = Side.BUY
        qty = D(repr(round(rng.uniform(0.01, 3), 2)))
        with contextlib.suppress(InsufficientMargin):
            await fast.place_order(OrderRequest(f"c{step}", iid, side, qty))
        prices = {i: p * rng.uniform(0.9, 1.1) for i, p in prices.items()}
        fast.update_prices(prices.items())
        positions = await fast.fetch_positions()
        perps = [p for p in positions if p.instrument_id.kind is InstrumentKind.PERP]
        assert fast.perp_readings() == [
            (p.instrument_id, p.qty, p.mark_price, p.liquidation_price) for p in perps
        ]
        seen_perps = max(seen_perps, len(perps))
        seen_liquidation = seen_liquidation or any(p.liquidation_price is not None for p in perps)
    assert seen_perps >= 2
    assert seen_liquidation


def test_by_venue_is_summed_from_the_cells_as_they_were_and_is_read_only() -> None:
    cells = {
        ("alpha", "binance"): [D("1.5"), D(2), D(0), D("0.25"), D(0), D("1.5"), D(2)],
        ("beta", "binance"): [D("-0.5"), D(1), D("0.10"), D(0), D(0), D(0), D("0.5")],
        ("beta", "bybit"): [D(3), D(0), D(0), D(0), D("0.001"), D(3), D(0)],
    }
    report = compute_pnl(cells, ["binance", "bybit", "reserve"])
    expected = old_compute_texts(cells, ["binance", "bybit", "reserve"])
    cells[("alpha", "binance")][0] = D(999)  # the caller's cells change after the report
    assert report_texts(report) == expected
    assert list(report.by_venue) == ["binance", "bybit", "reserve"]
    assert report.by_venue["binance"].price_spot_usd == D("1.0")
    assert len(report.by_venue) == 3
    with pytest.raises(TypeError):
        report.by_venue["okx"] = report.by_venue["bybit"]  # type: ignore[index]
    again = compute_pnl(
        {("alpha", "binance"): [D("1.5"), D(2), D(0), D("0.25"), D(0), D("1.5"), D(2)]}
        | {key: cells[key] for key in (("beta", "binance"), ("beta", "bybit"))},
        ["binance", "bybit", "reserve"],
    )
    assert again == report  # reports compare by value, breakdowns included
