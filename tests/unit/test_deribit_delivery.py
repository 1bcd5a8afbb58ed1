"""Deribit's delivery of an expired option booked in a live run: the venue's delivery price
(``public/get_delivery_prices``, https://docs.deribit.com/#public-get_delivery_prices) read by
``venues.deribit.venue.DeribitVenue.fetch_delivery_price``, and the live option chain
(``agent.engine.live_options``) booking each held option at intrinsic value against it once
published. Recorded payload ``get_delivery_prices.json`` (the documented example); the stateful
fake of ``tests/fakes/deribit.py``; no network."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack, closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from agent.config import AgentConfig
from agent.engine.builder import build_engine, claim_journal
from agent.risk import MANUAL_HALT
from strategies.options_hedger.config import OptionsHedgerConfig
from strategies.options_hedger.strategy import OptionsDeltaHedgerStrategy
from tests.fakes.deribit import BASE_URL, CLIENT_ID, CLIENT_SECRET, INVERSE, DeribitFake, load
from venues.base import Credentials, DeliveryPriceSource
from venues.deribit.parse import parse_delivery_prices
from venues.deribit.venue import DeribitVenue, create_venue
from venues.errors import ProtocolError
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
RECORDED = load("get_delivery_prices.json")["result"]


def _at_8_utc(day: str) -> int:
    """08:00 UTC of ``YYYY-MM-DD``, epoch ms: Deribit's expiry time."""
    start = datetime.fromisoformat(day).replace(hour=8, tzinfo=UTC)
    return int(start.timestamp()) * 1000


def _venue(fake: DeribitFake) -> DeribitVenue:
    credentials = Credentials(SecretStr(CLIENT_ID), SecretStr(CLIENT_SECRET))
    return create_venue(
        credentials, rest_url=BASE_URL, ws_url="ws://127.0.0.1:9", transport=fake.transport,
        sleep=fake.sleep,
    )  # fmt: skip


def _delivery_calls(fake: DeribitFake) -> list[dict[str, object]]:
    return [c["params"] for c in fake.calls if c["method"] == "public/get_delivery_prices"]


def test_the_recorded_payload_parses_to_days_and_usd_prices() -> None:
    rows, total = parse_delivery_prices(RECORDED)
    assert total == 58
    assert rows[0] == ("2020-01-02", D("7131.214606410254"))
    assert [day for day, _ in rows] == [
        "2020-01-02", "2019-12-21", "2019-12-20", "2019-12-19", "2019-12-18",
    ]  # fmt: skip


def test_a_malformed_row_names_its_field() -> None:
    broken = copy.deepcopy(RECORDED)
    del broken["data"][1]["delivery_price"]
    with pytest.raises(ProtocolError, match=r"data\[1\].*delivery_price"):
        parse_delivery_prices(broken)


async def test_fetch_delivery_price_reads_the_expiry_days_price_of_the_options_index() -> None:
    fake = DeribitFake()  # its btc_usd history is the recorded one
    fake.seed_price(INVERSE, D(50_000))
    venue = _venue(fake)
    assert isinstance(venue, DeliveryPriceSource)
    price = await venue.fetch_delivery_price(PERP, _at_8_utc("2019-12-20"))
    assert price == D("7175.988445532345")  # the 2019-12-20 row of the recorded payload
    assert _delivery_calls(fake)[0]["index_name"] == "btc_usd"  # the inverse options' index


async def test_an_unpublished_or_missing_day_is_none_never_a_neighbour() -> None:
    fake = DeribitFake()
    fake.seed_price(INVERSE, D(50_000))
    venue = _venue(fake)
    assert await venue.fetch_delivery_price(PERP, _at_8_utc("2020-01-03")) is None  # not yet
    assert await venue.fetch_delivery_price(PERP, _at_8_utc("2019-12-25")) is None  # a gap
    assert await venue.fetch_delivery_price(PERP, _at_8_utc("2019-01-01")) is None  # too old


async def test_an_older_expiry_is_found_on_a_later_page() -> None:
    fake = DeribitFake()
    fake.seed_price(INVERSE, D(50_000))
    first = _at_8_utc("2024-01-01")
    days = [
        datetime.fromtimestamp((first + k * DAY_MS) / 1000, tz=UTC).date().isoformat()
        for k in range(80)
    ]
    fake.delivery_prices["btc_usd"] = [(day, D(40_000 + k)) for k, day in enumerate(days)][::-1]
    venue = _venue(fake)
    assert await venue.fetch_delivery_price(PERP, first + 3 * DAY_MS) == D(40_003)
    offsets = [c["offset"] for c in _delivery_calls(fake)]
    assert offsets == [0, 31, 62]  # 80 − 1 − 3 = 76th newest: the third page of 31


async def test_only_a_deribit_perpetual_names_the_index() -> None:
    venue = _venue(DeribitFake())
    option = InstrumentId("deribit", InstrumentKind.OPTION, "BTC-27DEC24-100000-C")
    with pytest.raises(ValueError, match="not a Deribit perpetual"):
        await venue.fetch_delivery_price(option, _at_8_utc("2019-12-20"))


# --- a live engine: the hedger's straddle expires and Deribit delivers it -------------------


@dataclass(frozen=True)
class _Step:
    ts_ms: int
    closes: Mapping[InstrumentId, float]
    funding: Sequence[FundingRate] = ()
    volumes: Mapping[InstrumentId, float] = field(default_factory=dict)


def _listed(fake: DeribitFake, expiry_ms: int, strike: int, kind: OptionType) -> str:
    name = OptionSpec("BTC", expiry_ms, D(strike), kind).symbol
    row = copy.deepcopy(load("get_instruments_btc_option.json")["result"][0])
    row.update(
        instrument_name=name, expiration_timestamp=expiry_ms, strike=strike,
        option_type=kind.value,
    )  # fmt: skip
    fake.instruments["BTC"].append(row)
    return name


def _journaled(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return list(db.execute(sql).fetchall())


async def test_a_live_expiry_is_booked_at_deribits_delivery_price(tmp_path: Path) -> None:
    """Live (orders on the Deribit fake): the options hedger opens a straddle on Deribit's
    chain; at expiry Deribit delivers it (the positions disappear) before its delivery price
    is published — the ledger waits and the position check does not halt — then books each
    leg at intrinsic value against the published price, and the position check agrees."""
    fake = DeribitFake()
    fake.seed_price(INVERSE, D(50_000))
    open_ms = fake.now_ms
    expiry = (open_ms // DAY_MS + 25) * DAY_MS + 8 * HOUR_MS
    call = _listed(fake, expiry, 50_000, OptionType.CALL)
    put = _listed(fake, expiry, 50_000, OptionType.PUT)
    fake.prices[call], fake.prices[put] = D("0.04"), D("0.035")
    venue = _venue(fake)
    await venue.open()
    perp_inst = Instrument(PERP, "BTC", "USD", D("0.5"), D("0.0002"), D("0.0002"), D(0),
                           funding_interval_s=3600)  # fmt: skip
    path = tmp_path / "live.sqlite"
    cfg = AgentConfig(
        journal={"path": str(path)},
        venues={
            "deribit": {"enabled": True, "collateral_frac": 0.5},
            "binance": {"enabled": True, "collateral_frac": 0.25},
            "hyperliquid": {"enabled": False, "collateral_frac": 0.0},
        },
        option_chain={"enabled": True},
    )
    hedger = OptionsDeltaHedgerStrategy(
        OptionsHedgerConfig(
            enabled=True, venue="deribit", perp_symbol=INVERSE, qty_coin=0.5,
            delta_band_coin=1.0, min_hedge_qty_coin=0.0002, history_bars=2,
        )
    )  # fmt: skip
    call_id = InstrumentId("deribit", InstrumentKind.OPTION, call)
    put_id = InstrumentId("deribit", InstrumentKind.OPTION, put)
    delivery = D("51234.5")
    async with AsyncExitStack() as stack:
        lock = claim_journal(cfg, stack)
        engine = await build_engine(
            cfg, [hedger], stack, instruments={PERP: perp_inst}, first_ms=open_ms - 3 * HOUR_MS,
            journal_lock=lock, live_venues={"deribit": venue},
            live_cash_usd={"deribit": D(100_000)}, option_sources={"deribit": venue},
        )  # fmt: skip
        assert engine.live_options is not None
        for k in (2, 1):
            engine.warm(_Step(open_ms - k * HOUR_MS, {PERP: 50_000.0}))
        await engine.step(_Step(open_ms, {PERP: 50_000.0}))
        held = engine.portfolio.positions(hedger.name)
        assert (held[call_id], held[put_id]) == (D("0.5"), D("0.5"))
        assert fake.positions[call][0] == D("0.5")  # the venue holds them too
        cash_before = engine.portfolio.cash_usd()["deribit"]

        # 08:00 UTC of the expiry day: Deribit has delivered (positions gone, the options no
        # longer listed) but not yet published the delivery price
        for name in (call, put):
            fake.instruments["BTC"] = [
                r for r in fake.instruments["BTC"] if r["instrument_name"] != name
            ]
            del fake.positions[name]
        await engine.step(_Step(expiry, {PERP: 52_000.0}))
        assert engine.portfolio.positions(hedger.name)[call_id] == D("0.5")  # waits
        assert engine.live_options.awaiting_delivery() == {call_id, put_id}
        assert not engine.risk.is_halted_by(
            MANUAL_HALT
        )  # the position check leaves the delivery out
        assert engine.live_options.settlements == 0

        fake.deliver(expiry, delivery)  # published: the expiry day's btc_usd price
        await engine.step(_Step(expiry + HOUR_MS, {PERP: 52_500.0}))
        assert engine.live_options.settlements == 2
        assert engine.live_options.awaiting_delivery() == set()
        positions = engine.portfolio.positions(hedger.name)
        assert positions.get(call_id, D(0)) == positions.get(put_id, D(0)) == 0
        # call: max(51,234.5 − 50,000, 0) × 0.5; the put expires worthless (not 52,500, the
        # perpetual's price of the step, nor the options' last marks)
        assert engine.portfolio.cash_usd()["deribit"] - cash_before == D("617.25")
        assert not engine.risk.is_halted_by(
            MANUAL_HALT
        )  # the ledger agrees with the venue: both flat
        await engine.positions.check(expiry + HOUR_MS)
        assert not engine.risk.is_halted_by(MANUAL_HALT)
    expiry_fills = _journaled(
        path,
        "SELECT strategy, instrument, side, qty, price, fee_usd FROM fills "
        "WHERE trade_id LIKE 'expiry-%' ORDER BY instrument",
    )
    assert [(s, i, side, D(q), D(p), D(f)) for s, i, side, q, p, f in expiry_fills] == [
        (hedger.name, str(call_id), "sell", D("0.5"), D("1234.5"), D(0)),
        (hedger.name, str(put_id), "sell", D("0.5"), D(0), D(0)),
    ]
    assert _journaled(path, "SELECT * FROM reconciliation") == []  # no mismatch journaled
