"""Loader tests: parsed values against the raw bundled files (read here with ``csv``), and every
validation error naming file, line and reason."""

from __future__ import annotations

import csv
import gzip
import io
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from venues.replay.loader import DataFileError, bundled_data_dir, load_funding, load_klines

DATA = bundled_data_dir()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "replay"
HOUR_MS = 3_600_000
KH = "open_time_ms,open,high,low,close,volume"
FH = "funding_time_ms,funding_rate"
FMH = "funding_time_ms,funding_rate,mark_price"


def raw_rows(rel: str) -> list[list[str]]:
    """Data rows of a bundled file, read with gzip + csv only (independent of the loader)."""
    with gzip.open(DATA / rel, "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[1:]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_bundled_data_dir_holds_the_manifest() -> None:
    assert (DATA / "manifest.csv").is_file()
    assert (DATA / "PROVENANCE.md").is_file()


@pytest.mark.parametrize(
    "rel", ["binance/perp/BTCUSDT_1h.csv.gz", "binance/spot/DOGEUSDT_1h.csv.gz"]
)
def test_klines_match_raw_rows(rel: str) -> None:
    raw = raw_rows(rel)
    series = load_klines(DATA / rel)
    assert len(series) == len(raw) == 12_299
    assert series.ts_open_ms.dtype == np.int64
    assert series.close.dtype == np.float64
    for i in (0, 1, 7_777, len(raw) - 1):
        t, o, h, lo, c, v = raw[i]
        assert series.ts_open_ms[i] == int(t)
        assert (series.open[i], series.high[i], series.low[i]) == (float(o), float(h), float(lo))
        assert (series.close[i], series.volume[i]) == (float(c), float(v))


def test_kline_arrays_are_read_only() -> None:
    series = load_klines(DATA / "binance/perp/ETHUSDT_1h.csv.gz")
    with pytest.raises(ValueError, match="read-only"):
        series.close[0] = 1.0


def test_btc_liquidation_wick_is_in_the_data() -> None:
    # README anchor: BTC perp 2025-10-10 21:00 UTC bar low 101 516.5.
    series = load_klines(DATA / "binance/perp/BTCUSDT_1h.csv.gz")
    row = int(np.searchsorted(series.ts_open_ms, ms("2025-10-10T21:00:00")))
    assert series.low[row] == 101_516.5


def test_plain_csv_loads_like_gzip(tmp_path: Path) -> None:
    rel = "binance/perp/SOLUSDT_1h.csv.gz"
    plain = tmp_path / "SOLUSDT_1h.csv"
    plain.write_bytes(gzip.decompress((DATA / rel).read_bytes()))
    a, b = load_klines(plain), load_klines(DATA / rel)
    assert np.array_equal(a.ts_open_ms, b.ts_open_ms)
    assert np.array_equal(a.high, b.high)


def test_binance_funding_rounding_mark_and_rate() -> None:
    raw = raw_rows("binance/funding/BTCUSDT.csv.gz")
    fs = load_funding(DATA / "binance/funding/BTCUSDT.csv.gz", "binance")
    assert fs.venue == "binance"
    assert len(fs) == len(raw)
    for i in (0, 500, len(raw) - 1):
        t, rate, mark = raw[i]
        assert fs.ts_funding_ms[i] == (int(t) + 1_800_000) // HOUR_MS * HOUR_MS
        assert fs.rate[i] == float(rate)
        if mark == "":
            assert math.isnan(fs.mark_price[i])
        else:
            assert fs.mark_price[i] == float(mark)
    empty = sum(1 for r in raw if r[2] == "")
    assert int(np.isnan(fs.mark_price).sum()) == empty > 0


def test_hyperliquid_jitter_is_rounded_away() -> None:
    raw = raw_rows("hyperliquid/funding/BTC.csv.gz")
    fs = load_funding(DATA / "hyperliquid/funding/BTC.csv.gz", "hyperliquid")
    jittered = next(i for i, r in enumerate(raw) if int(r[0]) % HOUR_MS != 0)
    t = int(raw[jittered][0])
    assert fs.ts_funding_ms[jittered] == t - t % HOUR_MS  # jitter is a few ms after the hour
    assert np.isnan(fs.mark_price).all()


@pytest.mark.parametrize(
    ("rel", "venue"),
    [
        ("binance/funding/TIAUSDT.csv.gz", "binance"),
        ("binance/funding/TONUSDT.csv.gz", "binance"),
        ("bybit/funding/TIAUSDT.csv.gz", "bybit"),
    ],
)
def test_four_hour_intervals(rel: str, venue: str) -> None:
    assert set(load_funding(DATA / rel, venue).interval_s.tolist()) == {14_400}


def test_hyperliquid_intervals_are_hourly() -> None:
    for coin in ("BTC", "ETH", "TON"):
        fs = load_funding(DATA / f"hyperliquid/funding/{coin}.csv.gz", "hyperliquid")
        assert set(fs.interval_s.tolist()) == {3_600}


def test_bybit_inj_hourly_episode_then_6h_then_8h() -> None:
    fs = load_funding(DATA / "bybit/funding/INJUSDT.csv.gz", "bybit")
    by_time = dict(zip(fs.ts_funding_ms.tolist(), fs.interval_s.tolist(), strict=True))
    first_hourly, last_hourly = ms("2026-02-19T17:00:00"), ms("2026-02-26T18:00:00")
    hourly = [t for t, iv in by_time.items() if iv == 3_600]
    assert hourly == list(range(first_hourly, last_hourly + HOUR_MS, HOUR_MS))
    assert by_time[ms("2026-02-19T16:00:00")] == 28_800
    assert by_time[ms("2026-02-27T00:00:00")] == 21_600
    assert by_time[ms("2026-02-27T08:00:00")] == 28_800
    later = [iv for t, iv in by_time.items() if t > ms("2026-02-27T00:00:00")]
    assert set(later) == {28_800}


def test_settlement_stamped_before_the_hour_rounds_up(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(f"{FH}\n{HOUR_MS - 40},0.1\n{2 * HOUR_MS + 1_799_999},0.2\n")
    fs = load_funding(path, "hyperliquid")
    assert fs.ts_funding_ms.tolist() == [HOUR_MS, 2 * HOUR_MS]
    assert fs.interval_s.tolist() == [3_600, 3_600]


def test_first_interval_uses_the_next_settlement(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(f"{FH}\n0,0.1\n14400000,0.2\n43200000,0.3\n")
    assert load_funding(path, "bybit").interval_s.tolist() == [14_400, 14_400, 28_800]


def _kline_body(rows: list[str]) -> str:
    return "\n".join([KH, *rows]) + "\n"


T0 = 1_729_670_400_000
GOOD = [
    f"{T0},10,12,9,11,100",
    f"{T0 + HOUR_MS},11,13,10,12,50",
    f"{T0 + 2 * HOUR_MS},12,12,11,11,1",
]


def _replace(i: int, row: str) -> list[str]:
    rows = list(GOOD)
    rows[i] = row
    return rows


KLINE_CASES = [
    (["open_time,open,high,low,close,volume", *GOOD], 1, "wrong header"),
    ([KH], 1, "no data rows"),
    ([KH, *_replace(1, f"{T0 + HOUR_MS},11,13,10,12")], 3, "expected 6 columns"),
    ([KH, *_replace(1, f"{T0 + HOUR_MS},11,13,10,12,50,7")], 3, "expected 6 columns"),
    ([KH, *_replace(0, f"{T0},10,12,9,abc,100")], 2, "close 'abc' is not a number"),
    ([KH, *_replace(2, f"{T0 + 2 * HOUR_MS},12,12,nan,11,1")], 4, "low 'nan' is not a number"),
    ([KH, *_replace(0, f"{T0}.5,10,12,9,11,100")], 2, "is not an integer"),
    ([KH, *_replace(1, f"{T0 + HOUR_MS},0,13,0,12,50")], 3, "non-positive price"),
    ([KH, *_replace(1, f"{T0 + HOUR_MS},11,13,11.5,12,50")], 3, "low 11.5 > min(open, close) 11.0"),
    ([KH, *_replace(2, f"{T0 + 2 * HOUR_MS},12,11.5,11,11,1")], 4, "high 11.5 < max(open, close)"),
    ([KH, *_replace(1, f"{T0 + HOUR_MS},11,13,10,12,-1")], 3, "negative volume"),
    ([KH, *_replace(1, f"{T0 + HOUR_MS},11,13,10,1e999,50")], 3, "non-finite value"),
    ([KH, *_replace(1, f"{T0 + 1},11,13,10,12,50")], 3, "not a multiple of 3600000"),
    ([KH, *_replace(2, f"{T0 + HOUR_MS},12,12,11,11,1")], 4, "duplicate open_time_ms"),
    ([KH, *_replace(2, f"{T0 - HOUR_MS},12,12,11,11,1")], 4, "before the previous row"),
    ([KH, GOOD[0], "", *GOOD[1:]], 3, "empty line"),
]


@pytest.mark.parametrize(("lines", "line", "reason"), KLINE_CASES)
def test_malformed_klines_name_file_line_reason(
    tmp_path: Path, lines: list[str], line: int, reason: str
) -> None:
    path = tmp_path / "bad_1h.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFileError) as info:
        load_klines(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.path, err.line) == (path, line)
    assert reason in err.reason
    assert str(err).startswith(f"{path}:{line}: ")


FUNDING_CASES = [
    ("funding_time,funding_rate\n0,0.1\n3600000,0.1\n", 1, "wrong header"),
    (f"{FH}\n0,0.1\n3600000,x\n", 3, "funding_rate 'x' is not a number"),
    (f"{FH}\n0,0.1\n3600000,0.1,5\n", 3, "expected 2 columns"),
    (f"{FMH}\n0,0.1,\n3600000,0.1,0\n", 3, "non-positive mark_price"),
    (f"{FMH}\n0,0.1,\n3600000,,5\n", 3, "funding_rate '' is not a number"),
    (f"{FH}\n0,0.1\n25,0.1\n", 3, "same hour as the previous row"),
    (f"{FH}\n3600000,0.1\n0,0.1\n", 3, "before the previous row"),
    (f"{FH}\n0,0.1\n0,0.1\n", 3, "duplicate funding_time_ms"),
    (f"{FH}\n0,0.1\n", 2, "at least two settlements"),
    (f"{FH}\n0,0.1\n3600000,1e400\n", 3, "non-finite funding_rate"),
]


@pytest.mark.parametrize(("text", "line", "reason"), FUNDING_CASES)
def test_malformed_funding_name_file_line_reason(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_text(text)
    with pytest.raises(DataFileError) as info:
        load_funding(path, "binance")
    assert (info.value.path, info.value.line) == (path, line)
    assert reason in info.value.reason


def test_fixture_files_fail_at_their_bad_line() -> None:
    with pytest.raises(DataFileError, match=r"klines_high_below_open\.csv:4: high 66480\.5"):
        load_klines(FIXTURES / "klines_high_below_open.csv")
    with pytest.raises(DataFileError, match=r"funding_negative_mark\.csv:4: non-positive mark"):
        load_funding(FIXTURES / "funding_negative_mark.csv", "binance")
    with pytest.raises(DataFileError, match=r"klines_truncated\.csv\.gz:0: not a valid gzip"):
        load_klines(FIXTURES / "klines_truncated.csv.gz")


def test_deep_error_in_a_real_file_reports_the_exact_line(tmp_path: Path) -> None:
    # Corrupt one line of a real 12 299-row file: high 1.0 (ETH trades in the thousands).
    text = gzip.decompress((DATA / "binance/perp/ETHUSDT_1h.csv.gz").read_bytes()).decode()
    lines = text.splitlines()
    t, o, _, lo, c, v = lines[4320].split(",")
    lines[4320] = ",".join([t, o, "1.0", lo, c, v])
    path = tmp_path / "ETHUSDT_1h.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(DataFileError) as info:
        load_klines(path)
    assert info.value.line == 4321
    assert info.value.reason == f"high 1.0 < max(open, close) {max(float(o), float(c))}"


def test_deep_parse_error_reports_the_exact_line(tmp_path: Path) -> None:
    text = gzip.decompress((DATA / "binance/spot/BTCUSDT_1h.csv.gz").read_bytes()).decode()
    lines = text.splitlines()
    lines[9001] = lines[9001] + ",extra"
    path = tmp_path / "BTCUSDT_1h.csv"
    path.write_text("\n".join(lines))
    with pytest.raises(DataFileError, match=r":9002: expected 6 columns"):
        load_klines(path)


def test_crlf_and_missing_final_newline_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    path.write_bytes("\r\n".join([KH, *GOOD]).encode())
    series = load_klines(path)
    assert series.ts_open_ms.tolist() == [T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS]
    assert series.close.tolist() == [11.0, 12.0, 11.0]


def test_manifest_matches_bundled_files() -> None:
    import hashlib

    with open(DATA / "manifest.csv", newline="") as fh:
        manifest = list(csv.DictReader(fh))
    assert len(manifest) == 25 + 2 + 15 + 13 + 13  # 1h klines, 1m klines, funding
    for entry in manifest:
        raw = gzip.decompress((DATA / entry["path"]).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == entry["sha256"]
        rows = list(csv.reader(io.StringIO(raw.decode())))[1:]
        assert len(rows) == int(entry["rows"])
        assert (rows[0][0], rows[-1][0]) == (entry["first_ms"], entry["last_ms"])


def _rounded(rel: str) -> list[int]:
    return [(int(r[0]) + 1_800_000) // HOUR_MS * HOUR_MS for r in raw_rows(rel)]


def test_funding_is_trimmed_to_the_kline_window() -> None:
    lo, hi = ms("2024-10-23T00:00:00"), ms("2026-03-19T19:00:00")
    binance, hyperliquid = (
        _rounded("binance/funding/BTCUSDT.csv.gz"),
        _rounded("hyperliquid/funding/ETH.csv.gz"),
    )
    assert min(binance) == lo
    assert max(binance) == ms("2026-03-19T16:00:00")
    assert min(hyperliquid) == ms("2025-08-21T05:00:00")
    assert max(hyperliquid) == hi
