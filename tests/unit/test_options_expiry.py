"""Options held on the paper venue and in the ledger: premium as cash, mark-to-model, and
settlement at intrinsic value at expiry (``agent.engine.options.OptionMarket``,
``venues.paper.options``), with the P&L identity exact throughout.

Numbers worked out in the comments; the option prices come from the model chain the option
market lists, and every cash amount is rebuilt here from the fills' own prices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from agent.config import OptionChainConfig
from agent.engine.marketdata import MarketData
from agent.engine.options import OptionMarket
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from strategies.base import PairIntent, TargetPosition
from venues.model import (
    Instrument,
    InstrumentId,
    InstrumentKind,
    OrderRequest,
    Side,
    VenueFees,
)
from venues.paper import PaperVenue, PaperVenueConfig

PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
STRATEGY = "options_delta_hedger"


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def now_ms(self) -> int:
        return self.ms


def _opt(symbol: str) -> InstrumentId:
    return InstrumentId("binance", InstrumentKind.OPTION, symbol)


@pytest.fixture
def rig() -> tuple[OptionMarket, MarketData, PaperVenue, Portfolio, Journal, Clock]:
    clock = Clock(_ms(2025, 1, 1))
    instruments = {PERP: Instrument(PERP, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D(0))}
    config = PaperVenueConfig(
        "binance", D(100_000), VenueFees(D("0.0002"), D("0.0005")),
        VenueFees(D("0.001"), D("0.001")), D(0), D(3),
    )  # fmt: skip
    venue = PaperVenue(config, instruments, clock.now_ms)
    market = MarketData(instruments, 7_200_000)
    portfolio = Portfolio({"binance": D(100_000)})
    journal = Journal.open(":memory:")
    options = OptionMarket(
        OptionChainConfig(enabled=True, listing_days=10, strike_range_frac=0.2),
        instruments=instruments,
        market=market,
        paper={"binance": venue},
        portfolio=portfolio,
        journal=journal,
    )
    return options, market, venue, portfolio, journal, clock


def _step(market: MarketData, venue: PaperVenue, options: OptionMarket, price: float, ts: int):
    market.on_close(PERP, price, ts)
    venue.update_price(PERP, price)
    options.on_step(ts)


async def _trade(venue: PaperVenue, portfolio: Portfolio, iid: InstrumentId, side: Side) -> D:
    """One paper order of 1 coin, booked in the ledger as the executor does; returns the fill
    price (USD per coin)."""
    ack = await venue.place_order(
        OrderRequest(f"c-{iid.symbol}", iid, side, D("1.0"), reference_price=None)
    )
    (fill,) = ack.fills
    portfolio.apply_fill(STRATEGY, fill, iid.kind)
    return fill.price


async def test_options_settle_at_intrinsic_value_at_expiry_and_the_identity_holds(rig) -> None:
    options, market, venue, portfolio, journal, clock = rig
    t0 = clock.ms
    _step(market, venue, options, 94_000.0, t0)
    long_call, short_put, short_call = (
        _opt("BTC-3JAN25-93000-C"), _opt("BTC-3JAN25-90000-P"), _opt("BTC-3JAN25-95000-C"),
    )  # fmt: skip
    legs = tuple(TargetPosition(i, 1.0) for i in (long_call, short_put, short_call))
    prices = options.list_for((PairIntent("open", legs, "open_structure"),), {}, t0)
    assert set(prices) == {long_call, short_put, short_call}
    cash0 = portfolio.cash_usd()["binance"]
    paid = await _trade(venue, portfolio, long_call, Side.BUY)
    got_put = await _trade(venue, portfolio, short_put, Side.SELL)  # sold short: allowed
    got_call = await _trade(venue, portfolio, short_call, Side.SELL)
    fees = (paid + got_put + got_call) * D("0.001")  # spot fee schedule, 10 bps of premium
    assert portfolio.cash_usd()["binance"] == cash0 - paid + got_put + got_call - fees
    portfolio.check_identity(D(0))

    # one hour later the options are marked to model (not settled): value moves with the mark
    clock.ms = t0 + 3_600_000
    _step(market, venue, options, 95_000.0, clock.ms)
    assert market.price(long_call) is not None
    assert market.price(long_call) > float(paid)
    portfolio.mark({i: D(repr(market.price(i))) for i in (PERP, long_call, short_put, short_call)})
    portfolio.check_identity(D(0))

    # expiry, 3 Jan 08:00 UTC, settlement price 96 500: the long 93 000 call is worth 3 500,
    # the short 95 000 call costs 1 500, the 90 000 put expires worthless (intrinsic 0)
    clock.ms = _ms(2025, 1, 3, 8)
    cash_before = portfolio.cash_usd()["binance"]
    _step(market, venue, options, 96_500.0, clock.ms)
    assert portfolio.positions() == {}
    assert portfolio.cash_usd()["binance"] == cash_before + D(3500) - D(1500)
    assert venue.account_summary().collateral_usd == portfolio.cash_usd()["binance"]
    portfolio.check_identity(D(0))
    # journaled (only the settlements went through the journal here): instrument, side, price
    settled = {(row[7], row[8], D(row[10])) for row in journal.dump_rows("fills")}
    assert settled == {
        (str(long_call), "sell", D(3500)),
        (str(short_put), "buy", D(0)),
        (str(short_call), "buy", D(1500)),
    }
    # the whole life of the options is price P&L of outright holdings: premium in, payoff out
    pnl = portfolio.pnl()
    assert pnl.price_spot_usd == (D(3500) - paid) + (got_put - 0) + (got_call - D(1500))
    assert options.settlements == 3


async def test_an_option_no_chain_lists_is_refused(rig) -> None:
    options, market, venue, *_ = rig
    _step(market, venue, options, 94_000.0, _ms(2025, 1, 1))
    leg = TargetPosition(_opt("BTC-3JAN25-150000-C"), 1.0)  # outside ±20 % of the forward
    with pytest.raises(ValueError, match="not listed in any current option chain"):
        options.list_for((PairIntent("x", (leg,), "open"),), {}, _ms(2025, 1, 1))
