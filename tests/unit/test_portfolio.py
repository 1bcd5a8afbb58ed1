"""The ledger: exact cash/P&L accounting, funding attribution, views.

Expected values are worked out by hand in the comments (reference-price cost basis, average
cost, cash −= sign × qty × price + fee) and written as literals, never read back from the code.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.errors import AgentError
from agent.portfolio.ledger import (
    UNATTRIBUTED,
    AccountingError,
    PnlStreams,
    Portfolio,
    ledger_context,
)
from venues.model import (
    Fill,
    FundingPayment,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    Side,
    base_asset,
)

D = Decimal
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("bybit", InstrumentKind.PERP, "ETHUSDT")
CASH = {"binance": D(10_000), "bybit": D(5_000), "reserve": D(1_000)}
STREAMS = (
    "price_spot_usd", "price_perp_usd", "funding_usd", "fees_usd", "slippage_usd",
    "realized_usd", "unrealized_usd", "total_usd",
)  # fmt: skip


def fill(
    iid: InstrumentId, side: Side, qty: str, price: str, fee: str, ref: str | None = None
) -> Fill:
    return Fill(
        instrument_id=iid,
        client_order_id="c",
        venue_order_id="v",
        trade_id="t",
        side=side,
        qty=D(qty),
        price=D(price),
        fee_usd=D(fee),
        liquidity=Liquidity.TAKER,
        ts_event_ms=0,
        reference_price=None if ref is None else D(ref),
    )


def funding(iid: InstrumentId, rate: float, qty: str, mark: str) -> FundingPayment:
    with localcontext() as ctx:
        ctx.prec = 100
        amount = -D(repr(rate)) * D(qty) * D(mark)
    return FundingPayment(iid, 0, rate, 28_800, D(qty), D(mark), amount)


def book(p: Portfolio, strategy: str, f: Fill) -> None:
    p.apply_fill(strategy, f, f.instrument_id.kind)


def assert_identity(p: Portfolio, expected_equity: str) -> None:
    equity = p.equity_usd()
    assert equity == D(expected_equity)
    with ledger_context():
        assert equity - p.initial_equity_usd == p.pnl().total_usd
    p.check_identity(D(0))


def assert_breakdowns_sum(p: Portfolio) -> None:
    with ledger_context():  # the default 28-digit context would round these sums
        _assert_breakdowns_sum(p)


def _assert_breakdowns_sum(p: Portfolio) -> None:
    report = p.pnl()
    for name in STREAMS:
        total = getattr(report, name)
        assert sum((getattr(s, name) for s in report.by_strategy.values()), D(0)) == total
        assert sum((getattr(s, name) for s in report.by_venue.values()), D(0)) == total
    for venue, streams in report.by_venue.items():
        assert p.venue_equity_usd(venue) - p.initial_cash_usd[venue] == streams.total_usd


def test_hand_built_sequence_keeps_identity_at_every_step() -> None:
    """Spot buy + perp short (carry), funding ±, a second strategy on another venue, partial
    close, flip, marks moving; expected equity and streams by hand at each step."""
    p = Portfolio(CASH)
    assert p.initial_equity_usd == D(16_000)
    # carry buys 0.5 spot @ 100.2 (saw 100), fee 0.05: cash 10000 − 50.1 − 0.05; mark = ref.
    book(p, "carry", fill(SPOT, Side.BUY, "0.5", "100.2", "0.05", "100"))
    assert p.cash_usd()["binance"] == D("9949.85")
    assert_identity(p, "15999.85")  # −0.05 fee − 0.1 slippage (0.5 × 0.2)
    # carry shorts 0.5 perp @ 100.9 (saw 101), fee 0.04: slippage −1 × 0.5 × −0.1 = 0.05.
    book(p, "carry", fill(PERP, Side.SELL, "0.5", "100.9", "0.04", "101"))
    assert p.cash_usd()["binance"] == D("10000.26")
    assert_identity(p, "15999.76")  # 16000.26 + 0.5 × 100 − 0.5 × 101
    # marks move: spot +0.5 × 4 = 2.0, perp −0.5 × 3.5 = −1.75.
    p.mark({SPOT: D(104), PERP: D("104.5")})
    assert_identity(p, "16000.01")
    # +1 bp funding, short 0.5 @ 104.5 receives 0.005225.
    assert p.apply_funding(funding(PERP, 0.0001, "-0.5", "104.5")) == {"carry": D("0.005225")}
    assert_identity(p, "16000.015225")
    # statarb: long 2 ETH perp on bybit @ 50 (no reference → no slippage), fee 0.1.
    book(p, "statarb", fill(ETH, Side.BUY, "2", "50", "0.1"))
    assert p.cash_usd()["bybit"] == D("4899.9")
    assert_identity(p, "15999.915225")
    # marks: spot 103, perp 103, ETH 48. cash 10000.265225 + 4899.9 + 1000 = 15900.165225;
    # positions 51.5 − 51.5 + 96 = 96.
    p.mark({SPOT: D(103), PERP: D(103), ETH: D(48)})
    assert_identity(p, "15996.165225")
    # −3 bp funding: short 0.5 @ 103 pays 0.0003 × 0.5 × 103 = 0.01545.
    assert p.apply_funding(funding(PERP, -0.0003, "-0.5", "103")) == {"carry": D("-0.01545")}
    assert_identity(p, "15996.149775")
    # partial close: carry buys back 0.2 perp @ 103.1 (saw 103), fee 0.02.
    # realized 0.2 × (101 − 103) = −0.4; slippage 0.02; cash −20.64.
    book(p, "carry", fill(PERP, Side.BUY, "0.2", "103.1", "0.02", "103"))
    assert p.positions("carry")[PERP] == D("-0.3")
    assert p.avg_cost("carry", PERP) == D(101)
    assert_identity(p, "15996.109775")  # 15996.149775 − 0.02 fee − 0.02 slippage
    # flip: statarb sells 3 ETH @ 47.9 (saw 48), fee 0.15: closes long 2 (realized 2 × −2 = −4)
    # and opens short 1 @ 48; slippage 3 × 0.1 = 0.3; bybit cash + 143.7 − 0.15.
    book(p, "statarb", fill(ETH, Side.SELL, "3", "47.9", "0.15", "48"))
    assert p.positions("statarb") == {ETH: D(-1)}
    assert p.avg_cost("statarb", ETH) == D(48)
    assert_identity(p, "15995.659775")  # − 0.15 fee − 0.3 slippage
    # final marks: spot 105, perp 106, ETH 45.
    p.mark({SPOT: D(105), PERP: D(106), ETH: D(45)})
    # cash 9979.609775 + 5043.45 + 1000; positions 52.5 − 31.8 − 45 = −24.3.
    assert p.cash_usd() == {"binance": D("9979.609775"), "bybit": D("5043.45"), "reserve": D(1000)}
    assert_identity(p, "15998.759775")

    report = p.pnl()
    assert report.price_spot_usd == D("2.5")  # 0.5 × (105 − 100)
    assert report.price_perp_usd == D("-2.9")  # −0.4 − 0.3 × 5 − 4 + 1 × 3
    assert report.funding_usd == D("-0.010225")  # 0.005225 − 0.01545
    assert report.fees_usd == D("0.36")
    assert report.slippage_usd == D("0.47")
    assert report.realized_usd == D("-4.4")
    assert report.unrealized_usd == D("4.0")  # 2.5 − 1.5 + 3
    assert report.total_usd == D("-1.240225")
    assert report.by_strategy["carry"] == PnlStreams(
        D("2.5"), D("-1.9"), D("-0.010225"), D("0.11"), D("0.17"), D("-0.4"), D("1.0")
    )
    assert report.by_strategy["statarb"].total_usd == D("-1.55")  # −4 + 3 − 0.25 − 0.3
    assert report.by_venue["bybit"].total_usd == D("-1.55")
    assert report.by_venue["reserve"].total_usd == D(0)
    assert_breakdowns_sum(p)

    assert p.fees_paid_usd == D("0.36")
    assert p.funding_received_usd == D("0.005225")
    assert p.funding_paid_usd == D("0.01545")
    assert p.fill_counts == {"carry": 3, "statarb": 2}
    assert p.positions() == {SPOT: D("0.5"), PERP: D("-0.3"), ETH: D(-1)}
    assert p.gross_notional_usd() == D("129.3")
    assert p.net_delta_usd() == D("-24.3")
    assert p.notional_by_venue() == {"binance": D("84.3"), "bybit": D(45)}
    assert p.venue_committed_usd("binance", D(2)) == D("68.4")  # 52.5 + 31.8 / 2
    assert p.beta_to_btc({"BTC": 1.0, "ETH": 1.2}) == pytest.approx((20.7 - 1.2 * 45) / 129.3)
    view = p.to_view("carry", 0.25)
    assert view.equity_usd == pytest.approx(15998.759775)
    assert view.strategy_capital_usd == pytest.approx(15998.759775 / 4)
    assert view.positions == {SPOT: 0.5, PERP: -0.3}


def test_funding_split_between_opposite_positions_and_residual_to_unattributed() -> None:
    p = Portfolio({"binance": D(1000)})
    book(p, "long_leg", fill(PERP, Side.BUY, "1", "100", "0"))
    book(p, "short_leg", fill(PERP, Side.SELL, "3", "100", "0"))
    # net −2; +1 bp at mark 100: long pays 0.01, short receives 0.03, net +0.02.
    shares = p.apply_funding(funding(PERP, 0.0001, "-2", "100"))
    assert shares == {"long_leg": D("-0.01"), "short_leg": D("0.03")}
    assert not p.funding_discrepancies

    # the venue reports −2.5 (0.025 USD): 0.005 no position explains goes to "unattributed".
    shares = p.apply_funding(funding(PERP, 0.0001, "-2.5", "100"))
    assert shares == {"long_leg": D("-0.01"), "short_leg": D("0.03"), UNATTRIBUTED: D("0.005")}
    [gap] = p.funding_discrepancies
    assert (gap.ledger_qty, gap.venue_qty, gap.residual_usd) == (D(-2), D("-2.5"), D("0.005"))
    report = p.pnl()
    assert report.funding_usd == D("0.045")
    assert report.by_strategy[UNATTRIBUTED].funding_usd == D("0.005")
    assert p.equity_usd() == D("1000.045")
    assert_breakdowns_sum(p)
    p.check_identity(D(0))


def test_funding_share_is_exact_for_an_unround_rate() -> None:
    p = Portfolio({"binance": D(0)})
    book(p, "a", fill(PERP, Side.SELL, "1.234567", "98765.4321", "0"))
    rate = 0.1 / 3 / 1000  # 3.3333333333333335e-05, 17 significant digits
    payment = funding(PERP, rate, "-1.234567", "98765.4321")
    assert p.apply_funding(payment) == {"a": payment.amount_usd}
    # 32 significant digits (by fractions.Fraction): beyond the default 28-digit context
    assert payment.amount_usd == D("4.0644181070466902032209053523345")
    p.check_identity(D(0))


def test_no_funding_holder_books_everything_unattributed() -> None:
    p = Portfolio({"binance": D(0)})
    assert p.apply_funding(funding(PERP, 0.0001, "-1", "100")) == {UNATTRIBUTED: D("0.01")}
    p.check_identity(D(0))


def test_realized_pnl_at_reference_price_across_partial_closes() -> None:
    p = Portfolio({"binance": D(0)})
    # buy 1 @ 10 and 2 @ 13 → avg 12; sell 1.5 @ 16 → realized 1.5 × 4 = 6.
    book(p, "s", fill(SPOT, Side.BUY, "1", "10", "0"))
    book(p, "s", fill(SPOT, Side.BUY, "2", "13", "0"))
    book(p, "s", fill(SPOT, Side.SELL, "1.5", "16", "0"))
    assert p.pnl().realized_usd == D(6)
    assert p.avg_cost("s", SPOT) == D(12)
    # thirds: buy 1 @ 1, 2 @ 2 → avg 5/3; selling 1 removes a quantized third of the basis,
    # yet realized + unrealized stays exact.
    q = Portfolio({"binance": D(0)})
    book(q, "s", fill(SPOT, Side.BUY, "1", "1", "0"))
    book(q, "s", fill(SPOT, Side.BUY, "2", "2", "0"))
    book(q, "s", fill(SPOT, Side.SELL, "1", "3", "0"))
    q.mark({SPOT: D(3)})
    assert q.pnl().price_spot_usd == D(4)  # 3 × 3 − 5
    with localcontext() as ctx:
        ctx.prec = 100
        assert abs(q.pnl().realized_usd - (D(3) - D(5) / 3)) <= D("1e-40")
    q.check_identity(D(0))


def test_closing_to_flat_leaves_no_basis() -> None:
    p = Portfolio({"binance": D(0)})
    book(p, "s", fill(PERP, Side.SELL, "0.3", "7", "0"))
    book(p, "s", fill(PERP, Side.BUY, "0.3", "9", "0"))
    assert p.positions() == {}
    assert p.avg_cost("s", PERP) is None
    p.mark({PERP: D(100)})  # a mark on a flat instrument changes nothing
    assert p.pnl().price_perp_usd == D("-0.6")
    assert p.pnl().unrealized_usd == D(0)


def test_reopening_a_flat_instrument_values_it_at_the_fill_price_not_the_old_mark() -> None:
    p = Portfolio({"binance": D(1_000)})
    book(p, "s", fill(PERP, Side.BUY, "1", "50", "0"))
    p.mark({PERP: D(60)})  # marked while held
    book(p, "s", fill(PERP, Side.SELL, "1", "60", "0"))  # flat; the old mark 60 stays
    book(p, "s", fill(PERP, Side.SELL, "2", "40", "0", ref="40"))  # reopened at 40, no mark yet
    # Cash 1000 − 50 + 60 + 80 = 1090; the short of 2 at the latest price 40 is worth −80.
    assert p.equity_usd() == D(1_010)
    assert p.equity_usd() - p.initial_equity_usd == p.pnl().total_usd


def test_identity_check_reports_both_numbers() -> None:
    p = Portfolio({"binance": D(100)})
    book(p, "s", fill(SPOT, Side.BUY, "1", "10", "0.5"))
    p._cash["binance"] += D(1)  # a booking that bypassed the ledger
    with pytest.raises(AccountingError) as info:
        p.check_identity()
    assert isinstance(info.value, AgentError)
    assert (info.value.equity_change_usd, info.value.total_pnl_usd) == (D("0.5"), D("-0.5"))


@pytest.mark.parametrize(
    ("strategy", "f", "kind", "match"),
    [
        ("s", fill(PERP, Side.BUY, "1", "1", "0"), InstrumentKind.SPOT, "kind"),
        ("s", fill(ETH, Side.BUY, "1", "1", "0"), InstrumentKind.PERP, "bybit"),
        (UNATTRIBUTED, fill(PERP, Side.BUY, "1", "1", "0"), InstrumentKind.PERP, "reserved"),
        ("s", fill(PERP, Side.BUY, "0", "1", "0"), InstrumentKind.PERP, "qty 0 <= 0"),
        ("s", fill(PERP, Side.BUY, "1", "NaN", "0"), InstrumentKind.PERP, "price must be a finite"),
        (
            "s",
            fill(PERP, Side.BUY, "1", "1", "0", "-1"),
            InstrumentKind.PERP,
            "reference_price -1 <= 0",
        ),
    ],
)
def test_bad_fills_are_refused(strategy: str, f: Fill, kind: InstrumentKind, match: str) -> None:
    p = Portfolio({"binance": D(100)})
    with pytest.raises(ValueError, match=match):
        p.apply_fill(strategy, f, kind)
    assert p.fill_counts == {}


def test_bad_marks_and_missing_betas_are_refused() -> None:
    p = Portfolio({"binance": D(100)})
    with pytest.raises(ValueError, match="mark price"):
        p.mark({PERP: D(0)})
    book(p, "s", fill(PERP, Side.BUY, "1", "10", "0"))
    with pytest.raises(ValueError, match="BTC"):
        p.beta_to_btc({"ETH": 1.0})
    assert Portfolio({"x": D(1)}).beta_to_btc({}) == 0.0
    with pytest.raises(ValueError, match="leverage"):
        p.venue_committed_usd("binance", 0.0)
    with pytest.raises(ValueError, match="finite"):
        Portfolio({"binance": D("Infinity")})


def test_numbers_beyond_the_exact_range_are_refused_and_tiny_funding_is_rounded() -> None:
    p = Portfolio({"binance": D(100)})
    with pytest.raises(ValueError, match="40 decimal places"):
        book(p, "s", fill(PERP, Side.BUY, "1e-41", "10", "0"))
    with pytest.raises(ValueError, match="40 decimal places"):
        p.mark({PERP: D("1e30")})
    book(p, "s", fill(PERP, Side.SELL, "1", "10", "0"))
    # 6.4e-213 × 1 × 10 is far below the 1e-40 USD resolution: books zero, nothing unattributed
    shares = p.apply_funding(funding(PERP, 6.4e-213, "-1", "10"))
    assert shares == {"s": D(0)}
    assert not p.funding_discrepancies
    p.check_identity(D(0))


@pytest.mark.parametrize(
    ("symbol", "base"),
    [("BTCUSDT", "BTC"), ("ETH-USDT-SWAP", "ETH"), ("SOL", "SOL"), ("BTCUSD", "BTC")],
)
def test_base_asset(symbol: str, base: str) -> None:
    assert base_asset(symbol) == base


# ---- property test ---------------------------------------------------------------------------

INSTRUMENTS = (SPOT, PERP, ETH)
prices = st.decimals(min_value=D("0.01"), max_value=D(5000), places=2)
fills_st = st.tuples(
    st.just("fill"),
    st.sampled_from(("a", "b")),
    st.sampled_from(INSTRUMENTS),
    st.sampled_from(Side),
    st.decimals(min_value=D("0.001"), max_value=D(50), places=3),
    prices,
    st.decimals(min_value=D(-1), max_value=D(5), places=4),
    st.one_of(st.none(), prices),
)
funding_st = st.tuples(
    st.just("funding"),
    st.sampled_from((PERP, ETH)),
    st.floats(min_value=-0.01, max_value=0.01, allow_nan=False),
    prices,
    st.decimals(min_value=D(-1), max_value=D(1), places=3),
)
marks_st = st.tuples(st.just("mark"), st.sampled_from(INSTRUMENTS), prices)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(fills_st, funding_st, marks_st), max_size=40))
def test_random_sequences_keep_identity_and_breakdowns_exact(events: list[tuple]) -> None:  # type: ignore[type-arg]
    p = Portfolio(CASH)
    for event in events:
        if event[0] == "fill":
            _, strategy, iid, side, qty, price, fee, ref = event
            f = fill(iid, side, str(qty), str(price), str(fee), None if ref is None else str(ref))
            book(p, strategy, f)
        elif event[0] == "funding":
            _, iid, rate, mark, venue_error = event
            held = p.positions().get(iid, D(0))
            p.apply_funding(funding(iid, rate, str(held + venue_error), str(mark)))
        else:
            p.mark({event[1]: event[2]})
        p.check_identity(D(0))
        assert_breakdowns_sum(p)
    # funding attribution never loses a cent: Σ streams == Σ cash movements
    with ledger_context():
        assert p.pnl().funding_usd == p.funding_received_usd - p.funding_paid_usd


def test_net_delta_counts_an_option_at_its_delta_not_its_premium() -> None:
    call = InstrumentId("binance", InstrumentKind.OPTION, "BTC-31JAN25-94000-C")
    p = Portfolio({"binance": D(100_000)})
    book(p, "opt", fill(call, Side.BUY, "0.2", "5703.70", "0"))
    book(p, "opt", fill(PERP, Side.SELL, "0.1", "94000", "0"))
    # Without a delta the option counts at its market value, the figure before deltas came in.
    assert p.net_delta_usd() == D("0.2") * D("5703.70") - D("0.1") * D(94000)
    before = p.snapshot_rows()
    # Δ 0.53 at a forward of 94,000: 0.2 × 49,820 − 9,400 = 564 USD.
    p.set_option_deltas({call: D("0.53") * D(94000)})
    assert p.net_delta_usd() == D(564)
    assert p.snapshot_rows().net_delta_usd == D(564)  # the journaled figure, not a stale cache
    assert before.net_delta_usd != D(564)
    assert p.gross_notional_usd() == D("0.2") * D("5703.70") + D("0.1") * D(94000)  # unchanged
    with pytest.raises(ValueError, match="not an option"):
        p.set_option_deltas({PERP: D(1)})


def test_a_mark_equal_digit_for_digit_keeps_the_cached_report_another_exponent_does_not() -> None:
    portfolio = Portfolio(CASH)
    # sold 0.5 at reference 101: qty -0.5, basis -50.5
    sold = fill(PERP, Side.SELL, "0.5", "100.9", "0.04", "101")
    portfolio.apply_fill("carry", sold, InstrumentKind.PERP)
    portfolio.mark({PERP: D("104.5")})
    report = portfolio.pnl()
    assert str(report.unrealized_usd) == "-1.75"  # -0.5 × 104.5 + 50.5
    portfolio.mark({PERP: D("104.5")})  # the same digits: nothing changed
    portfolio.mark({})  # nothing held marked
    assert portfolio.pnl() is report
    portfolio.mark({PERP: D("104.50")})  # the same value, another exponent: another text
    again = portfolio.pnl()
    assert again is not report
    assert str(again.unrealized_usd) == "-1.750"
    portfolio.mark({PERP: D("103")})
    assert portfolio.pnl().unrealized_usd == D("-1")  # -51.5 + 50.5
