"""Bar intervals: the bundled 1m slice (verified against the bundled 1h bars), the replay grid at
a sub-hour interval, and the interval names shared by the file layout, the download and the
configuration. Expected values come from the raw files (csv + gzip), never from the loader."""

from __future__ import annotations

import csv
import gzip
import typing
from decimal import Decimal
from pathlib import Path

import pytest

from agent.config.sections import MarketDataConfig
from venues.model import HOUR_MS, InstrumentId, InstrumentKind
from venues.replay.catalog import available_intervals, available_symbols
from venues.replay.intervals import (
    BAR_INTERVALS_S,
    REPLAY_INTERVALS,
    interval_ms,
    interval_name,
    interval_s,
)
from venues.replay.loader import DataFileError, load_klines
from venues.replay.source import ReplayDataset

DATA = Path(__file__).resolve().parents[2] / "venues" / "replay" / "data"
MINUTE_MS = 60_000
SYMBOLS = ("BTCUSDT", "ETHUSDT")
PERP = InstrumentKind.PERP


def _rows(rel: str) -> list[list[str]]:
    with gzip.open(DATA / rel, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))[1:]


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_the_1m_bars_aggregate_to_the_bundled_1h_bars(symbol: str) -> None:
    """Every hour of the 1m slice — open first, high max, low min, close last, volume summed —
    is the bundled 1h bar: 72 hours, none partial (PROVENANCE.md, "1m klines")."""
    minutes = _rows(f"binance/perp/{symbol}_1m.csv.gz")
    hours = {int(r[0]): r for r in _rows(f"binance/perp/{symbol}_1h.csv.gz")}
    by_hour: dict[int, list[list[str]]] = {}
    for row in minutes:
        by_hour.setdefault(int(row[0]) // HOUR_MS * HOUR_MS, []).append(row)
    assert len(by_hour) == 72
    for hour, rows in by_hour.items():
        assert [int(r[0]) for r in rows] == list(range(hour, hour + HOUR_MS, MINUTE_MS))
        hourly = hours[hour]
        assert Decimal(rows[0][1]) == Decimal(hourly[1])
        assert max(Decimal(r[2]) for r in rows) == Decimal(hourly[2])
        assert min(Decimal(r[3]) for r in rows) == Decimal(hourly[3])
        assert Decimal(rows[-1][4]) == Decimal(hourly[4])
        volume = sum(Decimal(r[5]) for r in rows)
        assert abs(volume - Decimal(hourly[5])) <= Decimal(hourly[5]) * Decimal("1e-12")


def test_the_bundled_folder_lists_its_intervals() -> None:
    assert available_intervals(None, PERP) == ("1m", "1h")
    assert available_intervals(None, InstrumentKind.SPOT) == ("1h",)
    assert available_symbols(None, PERP, "1m") == SYMBOLS


def test_a_1m_file_is_not_a_1h_file() -> None:
    path = DATA / "binance/perp/BTCUSDT_1m.csv.gz"
    with pytest.raises(DataFileError, match=r":3: open_time_ms \d+ is not a multiple of 3600000"):
        load_klines(path)
    assert len(load_klines(path, interval_ms("1m"))) == 4_320


@pytest.fixture(scope="module")
def minute() -> ReplayDataset:
    return ReplayDataset.load(
        perp_symbols=["BTC", "ETH"], spot_symbols=[], funding_venues=["binance"], bar_interval="1m"
    )


def test_a_1m_replay_steps_every_minute_with_the_file_closes(minute: ReplayDataset) -> None:
    steps = list(minute.steps())
    first = int(_rows("binance/perp/BTCUSDT_1m.csv.gz")[0][0]) + MINUTE_MS
    assert minute.bar_interval_ms == MINUTE_MS
    assert [s.ts_ms for s in steps] == list(range(first, first + 4_320 * MINUTE_MS, MINUTE_MS))
    btc = InstrumentId("binance", PERP, "BTCUSDT")
    raw = {int(r[0]) + MINUTE_MS: float(r[4]) for r in _rows("binance/perp/BTCUSDT_1m.csv.gz")}
    assert all(s.closes[btc] == raw[s.ts_ms] for s in steps)
    bar = steps[10].bars[0]
    assert (bar.ts_open_ms, bar.ts_close_ms) == (steps[10].ts_ms - MINUTE_MS, steps[10].ts_ms)


def test_funding_of_a_1m_replay_settles_on_the_hour_as_in_the_1h_replay(
    minute: ReplayDataset,
) -> None:
    lo, hi = minute.window_ms()
    hourly = ReplayDataset.load(
        perp_symbols=["BTC", "ETH"],
        spot_symbols=[],
        funding_venues=["binance"],
        start_ms=lo,
        end_ms=hi,
    )
    sub = {s.ts_ms: s.funding for s in minute.steps() if s.funding}
    assert all(ts % (8 * HOUR_MS) == 0 for ts in sub)
    assert sub == {s.ts_ms: s.funding for s in hourly.steps() if s.funding}
    assert len(sub) == 9  # 2025-06-21 08:00 … 2025-06-24 00:00, every 8 h
    closes_1h = {s.ts_ms: dict(s.closes) for s in hourly.steps()}
    on_hour = {s.ts_ms: dict(s.closes) for s in minute.steps() if s.ts_ms % HOUR_MS == 0}
    assert on_hour == closes_1h  # the last minute's close is the hour's close


def test_a_replay_interval_must_divide_the_hour_and_have_files() -> None:
    with pytest.raises(ValueError, match=r"divides the hour, one of 1m, 3m, 5m, 15m, 30m, 1h"):
        ReplayDataset.load(perp_symbols=["BTC"], spot_symbols=[], bar_interval="4h")
    missing = r"no Binance perp klines for 'SOL' at bar interval 1m .*have \['BTCUSDT', 'ETHUSDT'\]"
    with pytest.raises(ValueError, match=missing):
        ReplayDataset.load(perp_symbols=["SOL"], spot_symbols=[], bar_interval="1m")


def test_interval_names() -> None:
    assert (interval_s("1m"), interval_s("1h"), interval_ms("5m")) == (60, 3_600, 300_000)
    assert all(interval_name(s) == name for name, s in BAR_INTERVALS_S.items())
    with pytest.raises(ValueError, match=r"unknown bar interval '2m'; one of 1m, 3m, 5m"):
        interval_s("2m")
    assert REPLAY_INTERVALS == ("1m", "3m", "5m", "15m", "30m", "1h")
    annotation = MarketDataConfig.model_fields["bar_interval"].annotation
    assert typing.get_args(annotation) == REPLAY_INTERVALS  # the config accepts exactly these
