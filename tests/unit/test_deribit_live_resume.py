"""A live run restarted while it holds Deribit options knows them again: the options its
journal's fills traded and the ledger still holds are listed again on resume
(``agent.engine.live_options.LiveOptionChains.restore``, wired in
``agent.engine.builder._resume``), priced from Deribit's chain (mark × index,
https://docs.deribit.com/#public-ticker) and, at expiry, booked at Deribit's delivery price
(https://docs.deribit.com/#public-get_delivery_prices). The stateful fake of
``tests/fakes/deribit.py`` and a real SQLite journal; no network."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack, closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from agent.config import AgentConfig
from agent.engine.builder import build_engine, claim_journal
from agent.engine.engine import Engine
from agent.risk import MANUAL_HALT
from strategies.options_hedger.config import OptionsHedgerConfig
from strategies.options_hedger.strategy import OptionsDeltaHedgerStrategy
from tests.fakes.deribit import BASE_URL, CLIENT_ID, CLIENT_SECRET, INVERSE, DeribitFake, load
from venues.base import Credentials
from venues.deribit.venue import DeribitVenue, create_venue
from venues.model import (
    HOUR_MS,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    OptionSpec,
    OptionType,
)

D = Decimal
PERP = InstrumentId("deribit", InstrumentKind.PERP, INVERSE)
DAY_MS = 24 * HOUR_MS
INDEX_USD = 50_000  # the fake's btc_usd index: its options' USD price = mark (BTC) × this


@dataclass(frozen=True)
class _Step:
    ts_ms: int
    closes: Mapping[InstrumentId, float]
    funding: Sequence[FundingRate] = ()
    volumes: Mapping[InstrumentId, float] = field(default_factory=dict)


def _listed(fake: DeribitFake, expiry_ms: int, strike: int, kind: OptionType) -> str:
    """Add a BTC option to the fake, in the recorded ``get_instruments`` row's shape."""
    name = OptionSpec("BTC", expiry_ms, D(strike), kind).symbol
    row = copy.deepcopy(load("get_instruments_btc_option.json")["result"][0])
    row.update(
        instrument_name=name, expiration_timestamp=expiry_ms, strike=strike,
        option_type=kind.value,
    )  # fmt: skip
    fake.instruments["BTC"].append(row)
    return name


def _venue(fake: DeribitFake) -> DeribitVenue:
    credentials = Credentials(SecretStr(CLIENT_ID), SecretStr(CLIENT_SECRET))
    return create_venue(
        credentials, rest_url=BASE_URL, ws_url="ws://127.0.0.1:9", transport=fake.transport,
        sleep=fake.sleep,
    )  # fmt: skip


def _config(path: Path) -> AgentConfig:
    return AgentConfig(
        journal={"path": str(path), "overwrite": False},  # resumable
        venues={
            "deribit": {"enabled": True, "collateral_frac": 0.5},
            "binance": {"enabled": True, "collateral_frac": 0.25},
            "hyperliquid": {"enabled": False, "collateral_frac": 0.0},
        },
        option_chain={"enabled": True},
    )


def _hedger() -> OptionsDeltaHedgerStrategy:
    return OptionsDeltaHedgerStrategy(
        OptionsHedgerConfig(
            enabled=True, venue="deribit", perp_symbol=INVERSE, qty_coin=0.5,
            delta_band_coin=1.0, min_hedge_qty_coin=0.0002, history_bars=2,
        )
    )  # fmt: skip


async def _engine(
    cfg: AgentConfig, hedger: OptionsDeltaHedgerStrategy, venue: DeribitVenue,
    stack: AsyncExitStack, first_ms: int,
) -> Engine:  # fmt: skip
    perp = Instrument(PERP, "BTC", "USD", D("0.5"), D("0.0002"), D("0.0002"), D(0),
                      funding_interval_s=3600)  # fmt: skip
    return await build_engine(
        cfg, [hedger], stack, instruments={PERP: perp}, first_ms=first_ms,
        journal_lock=claim_journal(cfg, stack), live_venues={"deribit": venue},
        live_cash_usd={"deribit": D(100_000)}, option_sources={"deribit": venue},
    )  # fmt: skip


def _expiry_fills(path: Path) -> list[tuple[str, str, str, Decimal, Decimal]]:
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT strategy, instrument, side, qty, price FROM fills "
            "WHERE trade_id LIKE 'expiry-%' ORDER BY instrument"
        ).fetchall()
    return [(s, i, side, D(q), D(p)) for s, i, side, q, p in rows]


async def test_a_restarted_live_run_prices_its_held_options_and_books_their_delivery(
    tmp_path: Path,
) -> None:
    """The hedger opens a straddle on Deribit; the run stops; a new engine on the same journal
    lists the held options again before the start-up reconciliation (which compares them with
    the venue's positions), prices them at Deribit's new marks at its first step (without
    trading them again), and books their expiry at Deribit's delivery price."""
    fake = DeribitFake()
    fake.seed_price(INVERSE, D(INDEX_USD))
    open_ms = fake.now_ms // HOUR_MS * HOUR_MS + HOUR_MS
    expiry = (open_ms // DAY_MS + 25) * DAY_MS + 8 * HOUR_MS
    call = _listed(fake, expiry, 50_000, OptionType.CALL)
    put = _listed(fake, expiry, 50_000, OptionType.PUT)
    fake.prices[call], fake.prices[put] = D("0.04"), D("0.035")
    call_id = InstrumentId("deribit", InstrumentKind.OPTION, call)
    put_id = InstrumentId("deribit", InstrumentKind.OPTION, put)
    path = tmp_path / "live.sqlite"
    cfg = _config(path)

    # --- the first run opens the straddle
    hedger = _hedger()
    venue = _venue(fake)
    await venue.open()
    async with AsyncExitStack() as stack:
        engine = await _engine(cfg, hedger, venue, stack, open_ms - 3 * HOUR_MS)
        for k in (2, 1):
            engine.warm(_Step(open_ms - k * HOUR_MS, {PERP: 50_000.0}))
        await engine.step(_Step(open_ms, {PERP: 50_000.0}))
        held = engine.portfolio.positions(hedger.name)
        assert (held[call_id], held[put_id]) == (D("0.5"), D("0.5"))
    await venue.close()
    assert fake.positions[call][0] == fake.positions[put][0] == D("0.5")

    # --- a restart: a new engine, strategy and venue client on the same journal and account
    fake.prices[call], fake.prices[put] = D("0.046"), D("0.031")  # new marks while down
    hedger = _hedger()
    venue = _venue(fake)
    await venue.open()
    restart_ms = open_ms + 3 * HOUR_MS
    async with AsyncExitStack() as stack:
        engine = await _engine(cfg, hedger, venue, stack, restart_ms - 3 * HOUR_MS)
        assert engine.resumed_from_ms == open_ms
        assert engine.live_options is not None
        # listed again: instruments of the run, compared with the venue at start-up
        assert {call_id, put_id} <= set(engine.instruments)
        await engine.reconcile_at_start(restart_ms)
        for k in (2, 1):
            engine.warm(_Step(restart_ms - k * HOUR_MS, {PERP: 50_000.0}))
        orders_before = len(fake.calls)
        await engine.step(_Step(restart_ms, {PERP: 50_000.0}))

        # priced at Deribit's marks again: mark (BTC) × index (USD)
        assert engine.market.price(call_id) == 0.046 * INDEX_USD
        assert engine.market.price(put_id) == 0.031 * INDEX_USD
        # the venue's terms (lot step = min_trade_amount of the recorded row) replace the
        # symbol's, and the straddle is held, not bought again
        assert engine.instruments[call_id].lot_step == D(
            str(load("get_instruments_btc_option.json")["result"][0]["min_trade_amount"])
        )
        assert not any(
            c["method"] in ("private/buy", "private/sell")
            and c["params"].get("instrument_name") in (call, put)
            for c in fake.calls[orders_before:]
        )
        held = engine.portfolio.positions(hedger.name)
        assert (held[call_id], held[put_id]) == (D("0.5"), D("0.5"))
        cash_before = engine.portfolio.cash_usd()["deribit"]

        # expiry after the restart: Deribit delivers (positions gone), then publishes its price
        for name in (call, put):
            fake.instruments["BTC"] = [
                r for r in fake.instruments["BTC"] if r["instrument_name"] != name
            ]
            del fake.positions[name]
        await engine.step(_Step(expiry, {PERP: 48_000.0}))
        assert engine.live_options.awaiting_delivery() == {call_id, put_id}
        fake.deliver(expiry, D("48750"))
        await engine.step(_Step(expiry + HOUR_MS, {PERP: 48_500.0}))
        assert engine.live_options.settlements == 2
        assert engine.live_options.awaiting_delivery() == set()
        positions = engine.portfolio.positions(hedger.name)
        assert positions.get(call_id, D(0)) == positions.get(put_id, D(0)) == 0
        # the put pays max(50,000 − 48,750, 0) × 0.5; the call expires worthless
        assert engine.portfolio.cash_usd()["deribit"] - cash_before == D("625")
        await engine.positions.check(expiry + HOUR_MS)
        assert not engine.risk.is_halted_by(MANUAL_HALT)
    await venue.close()
    assert _expiry_fills(path) == [
        (hedger.name, str(call_id), "sell", D("0.5"), D(0)),
        (hedger.name, str(put_id), "sell", D("0.5"), D("1250")),
    ]


def _deliver(fake: DeribitFake, *names: str) -> None:
    """Deribit at expiry: the options are no longer listed and the positions are gone."""
    for name in names:
        fake.instruments["BTC"] = [
            r for r in fake.instruments["BTC"] if r["instrument_name"] != name
        ]
        del fake.positions[name]


@pytest.mark.parametrize("expired_before_the_stop", [True, False])
async def test_an_expiry_around_the_restart_is_booked_at_the_delivery_price(
    tmp_path: Path, expired_before_the_stop: bool
) -> None:
    """The straddle expires (Deribit delivers it) before the run stops — the held options then
    await their delivery price at once after the restart — or while it is down; either way the
    start-up reconciliation accepts the delivered positions and the resumed run books each
    leg at Deribit's delivery price, once."""
    fake = DeribitFake()
    fake.seed_price(INVERSE, D(INDEX_USD))
    open_ms = fake.now_ms // HOUR_MS * HOUR_MS + HOUR_MS
    # 08:00 UTC, 56–80 h after the open whatever the hour: beyond the 48 h roll threshold
    expiry = (open_ms // DAY_MS + 3) * DAY_MS + 8 * HOUR_MS
    call = _listed(fake, expiry, 50_000, OptionType.CALL)
    put = _listed(fake, expiry, 50_000, OptionType.PUT)
    fake.prices[call], fake.prices[put] = D("0.04"), D("0.035")
    call_id = InstrumentId("deribit", InstrumentKind.OPTION, call)
    put_id = InstrumentId("deribit", InstrumentKind.OPTION, put)
    path = tmp_path / "live.sqlite"
    cfg = _config(path)

    hedger = _hedger()
    venue = _venue(fake)
    await venue.open()
    async with AsyncExitStack() as stack:
        engine = await _engine(cfg, hedger, venue, stack, open_ms - 3 * HOUR_MS)
        for k in (2, 1):
            engine.warm(_Step(open_ms - k * HOUR_MS, {PERP: 50_000.0}))
        await engine.step(_Step(open_ms, {PERP: 50_000.0}))
        assert engine.portfolio.positions(hedger.name)[call_id] == D("0.5")
        cash_before = engine.portfolio.cash_usd()["deribit"]
        if expired_before_the_stop:
            _deliver(fake, call, put)
            await engine.step(_Step(expiry, {PERP: 52_000.0}))
            assert engine.live_options is not None
            assert engine.live_options.awaiting_delivery() == {call_id, put_id}
    await venue.close()
    if not expired_before_the_stop:
        _deliver(fake, call, put)

    restart_ms = expiry + 3 * HOUR_MS
    hedger = _hedger()
    venue = _venue(fake)
    await venue.open()
    async with AsyncExitStack() as stack:
        engine = await _engine(cfg, hedger, venue, stack, restart_ms - 3 * HOUR_MS)
        assert engine.live_options is not None
        expected = {call_id, put_id} if expired_before_the_stop else set()
        assert engine.live_options.awaiting_delivery() == expected
        await engine.reconcile_at_start(restart_ms)  # the venue's flat positions are accepted
        assert _reconciliations(path) == 0
        for k in (2, 1):
            engine.warm(_Step(restart_ms - k * HOUR_MS, {PERP: 52_000.0}))
        fake.deliver(expiry, D("51234.5"))
        await engine.step(_Step(restart_ms, {PERP: 52_000.0}))
        assert engine.live_options.settlements == 2
        assert engine.live_options.awaiting_delivery() == set()
        positions = engine.portfolio.positions(hedger.name)
        assert positions.get(call_id, D(0)) == positions.get(put_id, D(0)) == 0
        # the call pays max(51,234.5 − 50,000, 0) × 0.5, the put nothing
        assert engine.portfolio.cash_usd()["deribit"] - cash_before == D("617.25")
        await engine.positions.check(restart_ms)
        assert not engine.risk.is_halted_by(MANUAL_HALT)
    await venue.close()
    assert _expiry_fills(path) == [
        (hedger.name, str(call_id), "sell", D("0.5"), D("1234.5")),
        (hedger.name, str(put_id), "sell", D("0.5"), D(0)),
    ]


def _reconciliations(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM reconciliation").fetchone()[0])


async def test_a_restarted_paper_run_on_live_data_settles_its_held_options(
    tmp_path: Path,
) -> None:
    """Paper on Deribit's live data: after a restart the held straddle is on the rebuilt paper
    venue and in the market data again, priced at Deribit's marks, and settled at its expiry
    at intrinsic value against the perpetual's price of that step."""
    fake = DeribitFake()
    fake.seed_price(INVERSE, D(INDEX_USD))
    open_ms = fake.now_ms // HOUR_MS * HOUR_MS + HOUR_MS
    expiry = (open_ms // DAY_MS + 25) * DAY_MS + 8 * HOUR_MS
    call = _listed(fake, expiry, 50_000, OptionType.CALL)
    put = _listed(fake, expiry, 50_000, OptionType.PUT)
    fake.prices[call], fake.prices[put] = D("0.04"), D("0.035")
    call_id = InstrumentId("deribit", InstrumentKind.OPTION, call)
    put_id = InstrumentId("deribit", InstrumentKind.OPTION, put)
    cfg = _config(tmp_path / "paper.sqlite")
    perp = Instrument(PERP, "BTC", "USD", D("0.5"), D("0.0002"), D("0.0002"), D(0),
                      funding_interval_s=3600)  # fmt: skip

    async def paper_engine(stack: AsyncExitStack, first_ms: int) -> Engine:
        venue = _venue(fake)
        await venue.open()
        stack.push_async_callback(venue.close)
        return await build_engine(
            cfg, [hedger], stack, instruments={PERP: perp}, first_ms=first_ms,
            journal_lock=claim_journal(cfg, stack), option_sources={"deribit": venue},
        )  # fmt: skip

    hedger = _hedger()
    async with AsyncExitStack() as stack:
        engine = await paper_engine(stack, open_ms - 3 * HOUR_MS)
        for k in (2, 1):
            engine.warm(_Step(open_ms - k * HOUR_MS, {PERP: 50_000.0}))
        await engine.step(_Step(open_ms, {PERP: 50_000.0}))
        assert engine.portfolio.positions(hedger.name)[call_id] == D("0.5")

    fake.prices[call], fake.prices[put] = D("0.046"), D("0.031")
    hedger = _hedger()
    restart_ms = open_ms + 3 * HOUR_MS
    async with AsyncExitStack() as stack:
        engine = await paper_engine(stack, restart_ms - 3 * HOUR_MS)
        assert engine.resumed_from_ms == open_ms
        for k in (2, 1):
            engine.warm(_Step(restart_ms - k * HOUR_MS, {PERP: 50_000.0}))
        await engine.step(_Step(restart_ms, {PERP: 50_000.0}))
        assert engine.market.price(call_id) == 0.046 * INDEX_USD
        assert engine.market.price(put_id) == 0.031 * INDEX_USD
        paper_held = {
            p.instrument_id: p.qty for p in await engine.paper["deribit"].fetch_positions()
        }
        assert (paper_held[call_id], paper_held[put_id]) == (D("0.5"), D("0.5"))
        cash_before = engine.portfolio.cash_usd()["deribit"]

        await engine.step(_Step(expiry, {PERP: 47_000.0}))
        assert engine.live_options is not None
        assert engine.live_options.settlements == 2
        positions = engine.portfolio.positions(hedger.name)
        assert positions.get(call_id, D(0)) == positions.get(put_id, D(0)) == 0
        # the put pays (50,000 − 47,000) × 0.5 against the perpetual's price of the step
        assert engine.portfolio.cash_usd()["deribit"] - cash_before == D("1500")
