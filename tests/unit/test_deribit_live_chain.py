"""The live option chain: Deribit's instruments and tickers (mark price, mark IV, greeks) become
the ``MarketSnapshot.option_chains`` the options hedger reads on live data, instead of the
model (``strategies.options.chain.venue_chain``, ``venues.deribit.venue.fetch_option_chain``,
``agent.engine.live_options``). Recorded ticker ``ticker_btc_option.json``; the stateful fake
of ``tests/fakes/deribit.py``; no network."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.config import AgentConfig
from agent.engine.builder import build_engine, claim_journal
from agent.engine.live_options import LiveOptionChains
from agent.engine.marketdata import MarketData
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from strategies.base import PairIntent, TargetPosition
from strategies.options.chain import venue_chain
from strategies.options_hedger.config import OptionsHedgerConfig
from strategies.options_hedger.strategy import OptionsDeltaHedgerStrategy
from tests.fakes.deribit import BASE_URL, CLIENT_ID, CLIENT_SECRET, INVERSE, DeribitFake, load
from venues.base import Credentials, OptionChainSource
from venues.deribit.parse import parse_option_ticker
from venues.deribit.venue import DeribitVenue, create_venue
from venues.errors import VenueUnavailable
from venues.model import (
    HOUR_MS,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    OptionSpec,
    OptionType,
    OrderRequest,
    Side,
    VenueFees,
)
from venues.paper import PaperVenue, PaperVenueConfig

D = Decimal
PERP = InstrumentId("deribit", InstrumentKind.PERP, INVERSE)
DAY_MS = 24 * HOUR_MS
RECORDED = load("ticker_btc_option.json")["result"]  # BTC-26JUN26-100000-C, 2025-07-09


def test_venue_chain_carries_the_recorded_tickers_figures() -> None:
    ticker = parse_option_ticker(RECORDED)
    chain = venue_chain(PERP, "deribit", "BTC", 1_752_057_345_721, 108_800.0, [ticker], 0.1)
    assert chain.instrument_id(0).symbol == "BTC-26JUN26-100000-C"
    assert chain.price_usd[0] == 0.2425 * 108_827.5  # mark (BTC) × index (USD)
    assert chain.iv_frac[0] == 45.43 / 100  # mark_iv is percent at the venue
    assert bool(chain.is_call[0])
    assert chain.strike_usd[0] == 100_000.0
    assert chain.greeks is not None
    assert (chain.greeks.delta[0], chain.greeks.gamma[0]) == (0.71138, 1e-05)
    assert (chain.greeks.vega_usd[0], chain.greeks.theta_usd_per_day[0]) == (389.29255, -25.13021)
    assert chain.greeks.underlying_usd[0] == 116_086.34  # the June future used as forward
    assert (chain.forward_usd, chain.lot_step_coin) == (108_800.0, 0.1)


def test_venue_chain_refuses_another_coins_option() -> None:
    ticker = parse_option_ticker(RECORDED)
    with pytest.raises(ValueError, match="not on ETH"):
        venue_chain(PERP, "deribit", "ETH", 0, 3_000.0, [ticker], 1.0)


def _listed(fake: DeribitFake, expiry_ms: int, strike: int, kind: OptionType) -> str:
    """Add a BTC option expiring at ``expiry_ms`` to the fake, in the recorded row's shape."""
    name = OptionSpec("BTC", expiry_ms, D(strike), kind).symbol
    row = copy.deepcopy(load("get_instruments_btc_option.json")["result"][0])
    row.update(
        instrument_name=name,
        expiration_timestamp=expiry_ms,
        strike=strike,
        option_type=kind.value,
    )
    fake.instruments["BTC"].append(row)
    return name


def _venue(fake: DeribitFake) -> DeribitVenue:
    credentials = Credentials(SecretStr(CLIENT_ID), SecretStr(CLIENT_SECRET))
    return create_venue(
        credentials, rest_url=BASE_URL, ws_url="ws://127.0.0.1:9", transport=fake.transport,
        sleep=fake.sleep,
    )  # fmt: skip


def _expiry(fake: DeribitFake, days: int) -> int:
    day = fake.now_ms // DAY_MS + days
    return day * DAY_MS + 8 * HOUR_MS


def _market_with_options() -> tuple[DeribitFake, list[str]]:
    fake = DeribitFake()
    fake.seed_price(INVERSE, D(50_000))  # the index of the fake's options
    near, far = _expiry(fake, 10), _expiry(fake, 40)
    names = [
        _listed(fake, near, 50_000, OptionType.CALL),
        _listed(fake, near, 50_000, OptionType.PUT),
        _listed(fake, far, 55_000, OptionType.CALL),
        _listed(fake, near, 90_000, OptionType.CALL),  # outside ±30 % of 50,000
        _listed(fake, _expiry(fake, 200), 50_000, OptionType.CALL),  # beyond the window
    ]
    for k, name in enumerate(names):
        fake.prices[name] = D("0.05") + D("0.001") * k
    return fake, names


async def test_fetch_option_chain_reads_the_window_with_each_tickers_greeks() -> None:
    fake, names = _market_with_options()
    venue = _venue(fake)
    assert isinstance(venue, OptionChainSource)
    options = await venue.fetch_option_chain(PERP, fake.now_ms + 120 * DAY_MS, 0.3)
    assert [inst.id.symbol for inst, _ in options] == names[:3]  # expiry, strike, call first
    instrument, ticker = options[0]
    assert (instrument.id.kind, instrument.lot_step, instrument.quote) == (
        InstrumentKind.OPTION, D("0.1"), "USD",
    )  # fmt: skip
    assert (ticker.mark_price, ticker.index_price, ticker.mark_iv_frac) == (0.05, 50_000.0, 0.4543)
    assert ticker.greeks.delta == RECORDED["greeks"]["delta"]
    # the expired options of the fixture (27DEC24) and those outside the window are not read
    read = [c["params"]["instrument_name"] for c in fake.calls if c["method"] == "public/ticker"]
    assert [n for n in read if n != INVERSE] == names[:3]


async def test_live_chain_is_what_the_strategy_sees_and_lists_a_named_option() -> None:
    fake, names = _market_with_options()
    venue = _venue(fake)
    perp_inst = Instrument(PERP, "BTC", "USD", D("0.5"), D("0.0002"), D("0.0002"), D(0),
                           funding_interval_s=3600)  # fmt: skip
    instruments: dict[InstrumentId, Instrument] = {PERP: perp_inst}
    market = MarketData(instruments, 2 * HOUR_MS)
    ts_ms = fake.now_ms
    market.on_close(PERP, 50_100.0, ts_ms)
    chains = LiveOptionChains(
        {PERP: venue}, instruments=instruments, market=market, paper={},
        portfolio=Portfolio({"deribit": D(0)}), journal=Journal.open(":memory:"),
        listing_days=120.0, strike_range_frac=0.3,
    )  # fmt: skip
    await chains.on_step(ts_ms)

    chain = market.snapshot(ts_ms, [PERP], 1).option_chains[PERP]
    assert [chain.instrument_id(k).symbol for k in range(len(chain))] == names[:3]
    assert list(chain.price_usd) == [0.05 * 50_000, 0.051 * 50_000, 0.052 * 50_000]
    assert list(chain.iv_frac) == [0.4543] * 3
    assert chain.greeks is not None
    assert list(chain.greeks.delta) == [RECORDED["greeks"]["delta"]] * 3
    assert chain.forward_usd == 50_100.0  # the perpetual's price: what the hedger hedges with

    call = InstrumentId("deribit", InstrumentKind.OPTION, names[0])
    intent = PairIntent("open-1", (TargetPosition(call, 0.1),), "open")
    prices = chains.list_for([intent], market.snapshot(ts_ms, [PERP], 1).prices, ts_ms)
    assert prices[call] == 0.05 * 50_000
    assert instruments[call].lot_step == D("0.1")  # the venue's own terms, for the executor

    fake.prices[names[0]] = D("0.06")  # next hour the venue marks it higher
    await chains.on_step(ts_ms + HOUR_MS)
    assert market.price(call) == 0.06 * 50_000
    assert call in market.snapshot(ts_ms + HOUR_MS, [PERP], 1).prices


async def test_an_unreadable_chain_is_dropped_not_kept_stale() -> None:
    fake, _ = _market_with_options()
    source = _Failing(_venue(fake))
    instruments: dict[InstrumentId, Instrument] = {
        PERP: Instrument(PERP, "BTC", "USD", D("0.5"), D(1), D(1), D(0), funding_interval_s=3600)
    }
    market = MarketData(instruments, 2 * HOUR_MS)
    market.on_close(PERP, 50_000.0, fake.now_ms)
    chains = LiveOptionChains(
        {PERP: source}, instruments=instruments, market=market, paper={},
        portfolio=Portfolio({"deribit": D(0)}), journal=Journal.open(":memory:"),
        listing_days=120.0, strike_range_frac=0.3,
    )  # fmt: skip
    await chains.on_step(fake.now_ms)
    assert PERP in market.snapshot(fake.now_ms, [PERP], 1).option_chains
    source.fail = True
    await chains.on_step(fake.now_ms + HOUR_MS)
    assert market.snapshot(fake.now_ms + HOUR_MS, [PERP], 1).option_chains == {}


class _Failing:
    def __init__(self, venue: DeribitVenue) -> None:
        self.venue = venue
        self.fail = False

    async def fetch_option_chain(self, *args: Any) -> Any:
        if self.fail:
            raise VenueUnavailable("deribit: settlement_in_progress", venue="deribit")
        return await self.venue.fetch_option_chain(*args)


@dataclass(frozen=True)
class _Step:
    ts_ms: int
    closes: Mapping[InstrumentId, float]
    funding: Sequence[FundingRate] = ()
    volumes: Mapping[InstrumentId, float] = field(default_factory=dict)


async def test_the_hedger_trades_deribits_own_chain_in_an_engine(tmp_path: Path) -> None:
    """``build_engine`` with the Deribit client as option source (what the live driver passes):
    the options hedger on ``BTC-PERPETUAL`` opens its straddle on Deribit's listed options at
    Deribit's marks, and no model chain is built."""
    fake = DeribitFake()
    fake.seed_price(INVERSE, D(50_000))
    expiry = _expiry(fake, 25)
    call = _listed(fake, expiry, 50_000, OptionType.CALL)
    put = _listed(fake, expiry, 50_000, OptionType.PUT)
    fake.prices[call], fake.prices[put] = D("0.04"), D("0.035")
    venue = _venue(fake)
    await venue.load_instruments()
    perp_inst = Instrument(PERP, "BTC", "USD", D("0.5"), D("0.0002"), D("0.0002"), D(0),
                           funding_interval_s=3600)  # fmt: skip
    cfg = AgentConfig(
        journal={"path": str(tmp_path / "chain.sqlite")},
        venues={
            "deribit": {"enabled": True, "collateral_frac": 0.5},
            "binance": {"enabled": True, "collateral_frac": 0.25},
            "hyperliquid": {"enabled": False, "collateral_frac": 0.0},
        },
        option_chain={"enabled": True},  # the live chain takes precedence over the model
    )
    hedger = OptionsDeltaHedgerStrategy(
        OptionsHedgerConfig(
            enabled=True, venue="deribit", perp_symbol=INVERSE, qty_coin=0.1,
            delta_band_coin=0.05, min_hedge_qty_coin=0.0002, history_bars=2,
        )
    )  # fmt: skip
    ts = fake.now_ms
    async with AsyncExitStack() as stack:
        lock = claim_journal(cfg, stack)
        engine = await build_engine(
            cfg,
            [hedger],
            stack,
            instruments={PERP: perp_inst},
            first_ms=ts - 3 * HOUR_MS,
            journal_lock=lock,
            option_sources={"deribit": venue},
        )
        assert engine.live_options is not None
        assert engine.options is None  # no model chain
        for k in (2, 1):
            engine.warm(_Step(ts - k * HOUR_MS, {PERP: 50_000.0}))
        await engine.step(_Step(ts, {PERP: 50_000.0}))
        held = engine.portfolio.positions(hedger.name)
    call_id = InstrumentId("deribit", InstrumentKind.OPTION, call)
    put_id = InstrumentId("deribit", InstrumentKind.OPTION, put)
    assert (held[call_id], held[put_id]) == (D("0.1"), D("0.1"))
    assert engine.market.price(call_id) == 0.04 * 50_000  # Deribit's mark, in USD
    assert engine.instruments[call_id].lot_step == D("0.1")


async def test_a_held_option_is_settled_at_intrinsic_value_on_paper_at_its_expiry() -> None:
    """Paper on live data: the call bought from Deribit's chain settles at expiry at
    max(F − K, 0) against the perpetual's price of that step, booked in the ledger and the
    journal, and is no longer priced from the chain."""
    fake = DeribitFake()
    fake.seed_price(INVERSE, D(50_000))
    expiry = _expiry(fake, 3)
    call = _listed(fake, expiry, 48_000, OptionType.CALL)
    fake.prices[call] = D("0.05")
    venue = _venue(fake)
    perp_inst = Instrument(PERP, "BTC", "USD", D("0.5"), D("0.0002"), D("0.0002"), D(0),
                           funding_interval_s=3600)  # fmt: skip
    instruments: dict[InstrumentId, Instrument] = {PERP: perp_inst}
    ts = fake.now_ms
    config = PaperVenueConfig(
        "deribit", D(100_000), VenueFees(D(0), D("0.0005")), VenueFees(D("0.0003"), D("0.0003")),
        D(0), D(3),
    )  # fmt: skip
    paper = PaperVenue(config, dict(instruments), lambda: ts)
    market = MarketData(instruments, 2 * HOUR_MS)
    portfolio = Portfolio({"deribit": D(100_000)})
    journal = Journal.open(":memory:")
    chains = LiveOptionChains(
        {PERP: venue}, instruments=instruments, market=market, paper={"deribit": paper},
        portfolio=portfolio, journal=journal, listing_days=120.0, strike_range_frac=0.3,
    )  # fmt: skip
    market.on_close(PERP, 50_000.0, ts)
    await chains.on_step(ts)
    call_id = InstrumentId("deribit", InstrumentKind.OPTION, call)
    intent = PairIntent("open-1", (TargetPosition(call_id, 1.0),), "open")
    chains.list_for([intent], {}, ts)
    ack = await paper.place_order(OrderRequest("buy-call", call_id, Side.BUY, D("1.0")))
    portfolio.apply_fill("options_delta_hedger", ack.fills[0], InstrumentKind.OPTION)
    cash_before = portfolio.cash_usd()["deribit"]

    market.on_close(PERP, 51_234.5, expiry)  # the step at 08:00 UTC of the expiry day
    await chains.on_step(expiry)
    assert chains.settlements == 1
    assert portfolio.positions("options_delta_hedger").get(call_id, D(0)) == 0
    assert portfolio.cash_usd()["deribit"] - cash_before == D("3234.5")  # 51,234.5 − 48,000
    fake.prices[call] = D("0.07")
    await chains.on_step(expiry + HOUR_MS)  # expired: never priced again
    assert market.price(call_id) != 0.07 * 50_000
