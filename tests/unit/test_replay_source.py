"""Replay source tests: steps, funding and prices against the raw bundled files (read here with
``csv``), window restriction, trading rules and error messages."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from venues.model import Bar, FundingRate, InstrumentId, InstrumentKind
from venues.replay.loader import bundled_data_dir
from venues.replay.rules import hyperliquid_rules
from venues.replay.source import ReplayDataset, ReplayStep, available_symbols

DATA = bundled_data_dir()
HOUR_MS = 3_600_000
PERP, SPOT = InstrumentKind.PERP, InstrumentKind.SPOT
BTC_PERP = InstrumentId("binance", PERP, "BTCUSDT")
BTC_SPOT = InstrumentId("binance", SPOT, "BTCUSDT")
BYBIT_BTC = InstrumentId("bybit", PERP, "BTCUSDT")
HL_BTC = InstrumentId("hyperliquid", PERP, "BTC")
ALL_SPOTS = ["BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "AVAX", "LINK", "LTC"]
ALL_PERPS = [*ALL_SPOTS, "DOT", "TRX", "INJ", "TIA", "TON"]


def raw_rows(rel: str) -> list[list[str]]:
    with gzip.open(DATA / rel, "rt", newline="") as fh:
        return list(csv.reader(fh))[1:]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def rounded(t: str) -> int:
    return (int(t) + 1_800_000) // HOUR_MS * HOUR_MS


@pytest.fixture(scope="module")
def full() -> ReplayDataset:
    return ReplayDataset.load(
        perp_symbols=[s + "USDT" for s in ALL_PERPS], spot_symbols=[s + "USDT" for s in ALL_SPOTS]
    )


@pytest.fixture(scope="module")
def full_steps(full: ReplayDataset) -> list[ReplayStep]:
    return list(full.steps())


def funding_of(steps: list[ReplayStep], iid: InstrumentId) -> list[FundingRate]:
    return [f for s in steps for f in s.funding if f.instrument_id == iid]


def test_available_symbols() -> None:
    assert available_symbols() == tuple(sorted(s + "USDT" for s in ALL_PERPS))
    assert available_symbols(kind=SPOT) == tuple(sorted(s + "USDT" for s in ALL_SPOTS))


def test_full_window_step_count_and_bounds(
    full: ReplayDataset, full_steps: list[ReplayStep]
) -> None:
    raw = raw_rows("binance/perp/BTCUSDT_1h.csv.gz")
    first_close, last_close = int(raw[0][0]) + HOUR_MS, int(raw[-1][0]) + HOUR_MS
    assert full.window_ms() == (first_close, last_close)
    assert full.step_count() == len(full_steps) == 12_299
    assert (full_steps[0].ts_ms, full_steps[-1].ts_ms) == (first_close, last_close)


def test_steps_are_hourly_and_ordered(full_steps: list[ReplayStep]) -> None:
    ts = np.array([s.ts_ms for s in full_steps])
    assert (np.diff(ts) == HOUR_MS).all()


def test_every_step_has_all_25_recorded_closes(full_steps: list[ReplayStep]) -> None:
    assert {len(s.closes) for s in full_steps} == {25}
    assert BYBIT_BTC not in full_steps[0].closes  # priced via price_source, not recorded


@pytest.mark.parametrize("row", [0, 6_000, 12_298])
def test_bars_close_at_the_step_time_and_match_raw(full_steps: list[ReplayStep], row: int) -> None:
    step = full_steps[row]
    bars = {b.instrument_id: b for b in step.bars}
    assert len(bars) == 25
    assert all(
        b.ts_open_ms == step.ts_ms - HOUR_MS and b.ts_close_ms == step.ts_ms for b in bars.values()
    )
    for iid, rel in (
        (BTC_PERP, "binance/perp/BTCUSDT_1h.csv.gz"),
        (BTC_SPOT, "binance/spot/BTCUSDT_1h.csv.gz"),
    ):
        t, o, h, lo, c, v = raw_rows(rel)[row]
        assert int(t) == step.ts_ms - HOUR_MS
        assert bars[iid] == Bar(
            iid, int(t), int(t) + HOUR_MS, float(o), float(h), float(lo), float(c), float(v)
        )
        assert step.closes[iid] == float(c)


def _perp_close_at(ts_ms: int, symbol: str = "BTCUSDT") -> float:
    for t, *_, c, _v in raw_rows(f"binance/perp/{symbol}_1h.csv.gz"):
        if int(t) + HOUR_MS == ts_ms:
            return float(c)
    raise AssertionError(f"no bar closes at {ts_ms}")


def test_binance_funding_mark_fallback_and_recorded_mark(full_steps: list[ReplayStep]) -> None:
    by_ts = {f.ts_funding_ms: f for f in funding_of(full_steps, BTC_PERP)}
    raw = {rounded(t): (float(r), m) for t, r, m in raw_rows("binance/funding/BTCUSDT.csv.gz")}
    early = ms("2025-01-01T00:00:00")
    assert raw[early][1] == ""  # no recorded mark before 2025-08-21
    assert by_ts[early].mark_price == _perp_close_at(early)
    assert by_ts[early].rate == raw[early][0]
    late = ms("2025-12-01T08:00:00")
    assert raw[late][1] != ""
    assert by_ts[late].mark_price == float(raw[late][1])
    assert by_ts[late].interval_s == 28_800
    assert by_ts[late].ts_next_funding_ms == late + 28_800_000


def test_settlements_before_the_first_bar_close_are_skipped(full_steps: list[ReplayStep]) -> None:
    times = [f.ts_funding_ms for f in funding_of(full_steps, BTC_PERP)]
    first_close = full_steps[0].ts_ms
    raw_times = [rounded(t) for t, *_ in raw_rows("binance/funding/BTCUSDT.csv.gz")]
    assert times == [t for t in raw_times if t >= first_close]
    assert times[0] == ms("2024-10-23T16:00:00")


@pytest.mark.parametrize(
    ("iid", "rel"),
    [
        (BYBIT_BTC, "bybit/funding/BTCUSDT.csv.gz"),
        (InstrumentId("bybit", PERP, "INJUSDT"), "bybit/funding/INJUSDT.csv.gz"),
        (HL_BTC, "hyperliquid/funding/BTC.csv.gz"),
        (InstrumentId("hyperliquid", PERP, "TON"), "hyperliquid/funding/TON.csv.gz"),
    ],
)
def test_foreign_settlements_match_raw_files(
    full_steps: list[ReplayStep], iid: InstrumentId, rel: str
) -> None:
    got = funding_of(full_steps, iid)
    raw = [(rounded(t), float(r)) for t, r in raw_rows(rel)]
    assert [(f.ts_funding_ms, f.rate) for f in got] == raw  # all inside the price window
    assert [f.ts_next_funding_ms for f in got[:-1]] == [t for t, _ in raw[1:]]
    base = iid.symbol.removesuffix("USDT") + "USDT"
    sample = got[len(got) // 2]
    assert sample.mark_price == _perp_close_at(sample.ts_funding_ms, base)


def test_funding_sits_in_the_step_of_its_time_in_instrument_order(
    full: ReplayDataset, full_steps: list[ReplayStep]
) -> None:
    order = {iid: k for k, iid in enumerate(full.instruments())}
    for step in full_steps:
        assert all(f.ts_funding_ms == step.ts_ms for f in step.funding)
        ranks = [order[f.instrument_id] for f in step.funding]
        assert ranks == sorted(set(ranks))
    assert len(full_steps[-1].funding) == 13  # 19:00: only Hyperliquid settles


def test_bybit_inj_step_intervals(full_steps: list[ReplayStep]) -> None:
    inj = {
        f.ts_funding_ms: f for f in funding_of(full_steps, InstrumentId("bybit", PERP, "INJUSDT"))
    }
    assert inj[ms("2026-02-19T17:00:00")].interval_s == 3_600
    assert inj[ms("2026-02-26T18:00:00")].interval_s == 3_600
    assert inj[ms("2026-02-26T18:00:00")].ts_next_funding_ms == ms("2026-02-27T00:00:00")
    assert inj[ms("2026-02-27T00:00:00")].interval_s == 21_600
    assert inj[ms("2026-02-27T08:00:00")].interval_s == 28_800


def test_instruments_trading_rules(full: ReplayDataset) -> None:
    inst = full.instruments()
    assert len(inst) == 15 + 10 + 13 + 13
    btc = inst[BTC_PERP]
    assert (btc.tick_size, btc.lot_step, btc.min_qty) == (
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.001"),
    )
    assert (btc.base, btc.quote, btc.funding_interval_s) == ("BTC", "USDT", 28_800)
    assert inst[BTC_SPOT].funding_interval_s is None
    assert inst[InstrumentId("binance", PERP, "TIAUSDT")].funding_interval_s == 14_400
    hl = inst[HL_BTC]
    assert (hl.quote, hl.lot_step, hl.min_notional_usd, hl.funding_interval_s) == (
        "USDC",
        Decimal("0.00001"),
        Decimal(10),
        3_600,
    )
    # BTC closed at 66 513.7 at the first step: 5 significant figures -> tick 1.
    assert hl.tick_size == Decimal(1)
    assert InstrumentId("bybit", PERP, "ADAUSDT") not in inst  # no Bybit file for ADA


def test_hyperliquid_tick_rule() -> None:
    # Hyperliquid "Tick and lot size"
    # (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/tick-and-lot-size):
    # ETH (szDecimals 4) 2124.6 valid / 2124.65 invalid -> tick 0.1;
    # SOL (2) 86.148 valid / 86.1482 invalid -> tick 0.001.
    assert hyperliquid_rules(4, 2124.6).tick_size == Decimal("0.1")
    assert hyperliquid_rules(2, 86.148).tick_size == Decimal("0.001")
    assert hyperliquid_rules(0, 0.09).tick_size == Decimal("0.000001")
    with pytest.raises(ValueError, match="szDecimals"):
        hyperliquid_rules(7, 1.0)


def test_closes_matrix_resolves_price_sources(full: ReplayDataset) -> None:
    mat = full.closes_matrix([BTC_PERP, BYBIT_BTC, HL_BTC, BTC_SPOT])
    raw_perp = np.array([float(r[4]) for r in raw_rows("binance/perp/BTCUSDT_1h.csv.gz")])
    raw_spot = np.array([float(r[4]) for r in raw_rows("binance/spot/BTCUSDT_1h.csv.gz")])
    assert mat.shape == (12_299, 4)
    assert mat.dtype == np.float64
    for col in range(3):
        assert np.array_equal(mat[:, col], raw_perp)
    assert np.array_equal(mat[:, 3], raw_spot)
    assert full.price_source(HL_BTC) == BTC_PERP
    with pytest.raises(KeyError, match="not in this replay dataset"):
        full.closes_matrix([InstrumentId("okx", PERP, "BTC-USDT-SWAP")])


def test_window_restriction_on_bar_close() -> None:
    start, end = ms("2025-08-21T08:00:00"), ms("2026-03-19T19:00:00")
    ds = ReplayDataset.load(perp_symbols=["TIAUSDT"], spot_symbols=[], start_ms=start, end_ms=end)
    assert ds.window_ms() == (start, end)
    assert ds.step_count() == (end - start) // HOUR_MS + 1
    steps = list(ds.steps())
    assert steps[0].ts_ms == start
    bars = ds.kline_series(InstrumentId("binance", PERP, "TIAUSDT"))
    raw = raw_rows("binance/perp/TIAUSDT_1h.csv.gz")
    first = next(i for i, r in enumerate(raw) if int(r[0]) + HOUR_MS == start)
    assert bars.close.tolist() == [float(r[4]) for r in raw[first:]]
    hl_tia = funding_of(steps, InstrumentId("hyperliquid", PERP, "TIA"))
    assert hl_tia[0].ts_funding_ms == start
    assert ds.instruments()[InstrumentId("bybit", PERP, "TIAUSDT")].funding_interval_s == 14_400


def test_instrument_interval_is_the_one_in_force_at_the_window_start() -> None:
    inj = InstrumentId("bybit", PERP, "INJUSDT")
    during = ReplayDataset.load(
        perp_symbols=["INJUSDT"], spot_symbols=[], start_ms=ms("2026-02-20T00:00:00")
    )
    after = ReplayDataset.load(
        perp_symbols=["INJUSDT"], spot_symbols=[], start_ms=ms("2026-02-26T20:00:00")
    )
    assert during.instruments()[inj].funding_interval_s == 3_600
    assert after.instruments()[inj].funding_interval_s == 21_600


def test_unaligned_bounds_round_inward() -> None:
    start = ms("2025-01-01T00:00:00")
    ds = ReplayDataset.load(
        perp_symbols=["BTC"], spot_symbols=[], start_ms=start + 1, end_ms=start + 3 * HOUR_MS - 1
    )
    assert ds.window_ms() == (start + HOUR_MS, start + 2 * HOUR_MS)


def test_symbol_aliases_and_venue_subset() -> None:
    ds = ReplayDataset.load(
        perp_symbols=["BTC", "BTCUSDT"], spot_symbols=["BTC"], funding_venues=["bybit"]
    )
    assert set(ds.instruments()) == {BTC_PERP, BTC_SPOT, BYBIT_BTC}
    venues = {f.instrument_id.venue for s in ds.steps() for f in s.funding}
    assert venues == {"bybit"}


def test_determinism() -> None:
    def run() -> list[tuple[int, tuple[FundingRate, ...], tuple[Bar, ...]]]:
        ds = ReplayDataset.load(
            perp_symbols=["ETHUSDT", "SOLUSDT"],
            spot_symbols=["ETHUSDT"],
            start_ms=ms("2026-01-01T00:00:00"),
            end_ms=ms("2026-01-03T00:00:00"),
        )
        return [(s.ts_ms, s.funding, s.bars) for s in ds.steps()]

    first, second = run(), run()
    assert first == second
    assert len(first) == 49


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"perp_symbols": ["NOPEUSDT"], "spot_symbols": []},
            "no Binance perp klines for 'NOPEUSDT'",
        ),
        ({"perp_symbols": [], "spot_symbols": ["DOTUSDT"]}, "no Binance spot klines for 'DOTUSDT'"),
        ({"perp_symbols": ["BTC"], "spot_symbols": [], "funding_venues": ["okx"]}, "venue"),
        ({"perp_symbols": [], "spot_symbols": []}, "nothing to replay"),
        (
            {"perp_symbols": ["BTC"], "spot_symbols": [], "start_ms": 0, "end_ms": 1},
            "no bar closes",
        ),
    ],
)
def test_bad_requests(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReplayDataset.load(**kwargs)  # type: ignore[arg-type]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _bundled_rules(root: Path) -> None:
    """The bundled data's ``<venue>/instruments.csv`` files into ``root``."""
    for src in bundled_data_dir().glob("*/instruments.csv"):
        _write(root / src.parent.name / src.name, src.read_text())


def test_missing_bar_drops_close_but_keeps_its_settlement(tmp_path: Path) -> None:
    t0 = ms("2025-09-01T00:00:00")
    _bundled_rules(tmp_path)
    rows = [f"{t0 + i * HOUR_MS},100,110,99,{100 + i},5" for i in range(6) if i != 2]
    _write(
        tmp_path / "binance/perp/BTCUSDT_1h.csv",
        "open_time_ms,open,high,low,close,volume\n" + "\n".join(rows),
    )
    hourly = "\n".join(f"{t0 + i * HOUR_MS + 7},0.00001" for i in range(8))
    _write(tmp_path / "hyperliquid/funding/BTC.csv", "funding_time_ms,funding_rate\n" + hourly)
    ds = ReplayDataset.load(tmp_path, perp_symbols=["BTCUSDT"], spot_symbols=[])
    steps = list(ds.steps())
    assert [s.ts_ms for s in steps] == [t0 + i * HOUR_MS for i in range(1, 7)]
    gap = steps[1]  # the bar opening at t0 + 1h closes at t0 + 2h; none closes at t0 + 3h
    assert gap.closes == {BTC_PERP: 101.0}
    missing = steps[2]
    assert missing.ts_ms == t0 + 3 * HOUR_MS
    assert dict(missing.closes) == {}
    assert missing.bars == ()
    # the settlement of that hour is kept, marked with the last close before it (101)
    assert [(f.instrument_id.symbol, f.mark_price) for f in missing.funding] == [("BTC", 101.0)]
    marks = [(f.ts_funding_ms, f.mark_price) for s in steps for f in s.funding]
    assert marks == [
        (t0 + HOUR_MS, 100.0),
        (t0 + 2 * HOUR_MS, 101.0),
        (t0 + 3 * HOUR_MS, 101.0),
        (t0 + 4 * HOUR_MS, 103.0),
        (t0 + 5 * HOUR_MS, 104.0),
        (t0 + 6 * HOUR_MS, 105.0),
    ]
    assert np.isnan(ds.closes_matrix([BTC_PERP])[2, 0])
    assert ds.instruments()[BTC_PERP].funding_interval_s is None  # no Binance funding file
    (note,) = ds.notes
    assert (note.ts_ms, note.kind, note.instrument) == (
        t0 + 3 * HOUR_MS, "settlement_without_bar", "hyperliquid:perp:BTC",
    )  # fmt: skip
    assert "101.0 (the last close before it)" in note.message


def _columns_are_the_volumes(step: ReplayStep) -> None:
    ids, values = step.volume_columns()
    assert type(ids) is tuple
    assert values.dtype == np.float64
    assert not values.flags.writeable
    got = list(zip(ids, values.tolist(), strict=True))
    assert got == list(step.volumes.items())  # the same pairs in the same order
    assert [float(v).hex() for _, v in got] == [float(v).hex() for v in step.volumes.values()]


def test_volume_columns_are_the_volumes_of_every_bundled_step(
    full_steps: list[ReplayStep],
) -> None:
    for step in full_steps:
        _columns_are_the_volumes(step)


def test_volume_columns_of_a_step_with_a_missing_bar_leave_it_out(tmp_path: Path) -> None:
    t0 = ms("2025-09-01T00:00:00")
    _bundled_rules(tmp_path)
    for symbol, skip in (("BTCUSDT", 2), ("ETHUSDT", 4)):
        rows = [f"{t0 + i * HOUR_MS},100,110,99,100,{5 + i}" for i in range(6) if i != skip]
        _write(
            tmp_path / f"binance/perp/{symbol}_1h.csv",
            "open_time_ms,open,high,low,close,volume\n" + "\n".join(rows),
        )
    ds = ReplayDataset.load(
        tmp_path, perp_symbols=["BTCUSDT", "ETHUSDT"], spot_symbols=[], funding_venues=()
    )
    steps = list(ds.steps())
    for step in steps:
        _columns_are_the_volumes(step)
    assert [len(s.volume_columns()[0]) for s in steps] == [2, 2, 1, 2, 1, 2]
