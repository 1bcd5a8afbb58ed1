"""The replay's data guards (venues/replay/guards.py), each on a copy of a real bundled file
with one injected defect: a funding rate beyond the cap, a 100× close, a missing bar at a
settlement hour (the settlement is still booked), a funding file that starts late."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.config import load_config
from tests.integration.conftest import AGENT_TOML, DATA_DIR, HOUR_MS, corrupt_field, run_replay
from venues.model import InstrumentId, InstrumentKind
from venues.replay.guards import DataGuards
from venues.replay.loader import DataFileError
from venues.replay.source import ReplayDataset

pytestmark = pytest.mark.timeout(300)

ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")


def _lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def _write_lines(path: Path, lines: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(DATA_DIR, copy)
    return copy


def _load(root: Path, **guards: Any) -> ReplayDataset:
    return ReplayDataset.load(
        root, perp_symbols=["ETHUSDT"], spot_symbols=["ETHUSDT"], guards=DataGuards(**guards)
    )


def test_the_bundled_data_passes_every_guard() -> None:
    """No cap, jump or missing-bar finding; only the funding files known to start later than
    the prices (Bybit, Hyperliquid and a few Binance ones from 2025-08-21) are noted over the
    whole window, and none from a window after they start."""
    perps = [p.name.split("_")[0] for p in (DATA_DIR / "binance/perp").glob("*")]
    spots = [p.name.split("_")[0] for p in (DATA_DIR / "binance/spot").glob("*")]
    whole = ReplayDataset.load(None, perp_symbols=perps, spot_symbols=spots)
    assert {n.kind for n in whole.notes} == {"funding_starts_late"}
    assert all("2025-08-21" in n.message for n in whole.notes)
    later = ReplayDataset.load(None, perp_symbols=perps, spot_symbols=spots, start_ms=1756684800000)
    assert later.notes == ()


def test_a_funding_rate_beyond_the_cap_is_refused_with_file_and_line(data: Path) -> None:
    path = data / "binance" / "funding" / "ETHUSDT.csv.gz"
    corrupt_field(path, 700, 1, "5.0")  # 500 % per interval
    with pytest.raises(DataFileError, match=r"funding_rate 5\.0 is beyond .* cap of ±0\.05") as e:
        _load(data)
    assert (e.value.path, e.value.line) == (path, 700)
    # Hyperliquid's own cap (4 %/h, its instruments.csv row) applies to its files
    hl = data / "hyperliquid" / "funding" / "ETH.csv.gz"
    corrupt_field(path, 700, 1, "0.0001")
    corrupt_field(hl, 42, 1, "0.045")
    with pytest.raises(DataFileError, match=r"cap of ±0\.04 ") as e:
        _load(data)
    assert (e.value.path, e.value.line) == (hl, 42)


def test_a_funding_rate_beyond_the_cap_exits_2_naming_file_and_line(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = data / "binance" / "funding" / "ETHUSDT.csv.gz"
    corrupt_field(path, 700, 1, "5.0")
    monkeypatch.setenv("ZEROBETA_MARKET_DATA__DATA_DIR", str(data))
    monkeypatch.setenv("ZEROBETA_JOURNAL__PATH", str(tmp_path / "bt.sqlite"))
    argv = ["backtest", "--config", str(AGENT_TOML), "--from", "2025-09-01", "--to", "2025-09-03"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{path}:700: funding_rate 5.0" in err
    assert "Traceback" not in err


def test_a_100x_close_is_refused_or_replayed_as_missing(data: Path) -> None:
    path = data / "binance" / "perp" / "ETHUSDT_1h.csv.gz"
    line = 6_001
    fields = _lines(path)[line - 1].split(",")
    spike = f"{float(fields[4]) * 100:.2f}"
    corrupt_field(path, line, 2, spike)  # high
    corrupt_field(path, line, 4, spike)  # close
    with pytest.raises(DataFileError, match=r"close .* jumps more than 100×") as e:
        _load(data)
    assert (e.value.path, e.value.line) == (path, line)

    ds = _load(data, price_jump_policy="missing")
    close_ms = int(fields[0]) + HOUR_MS
    row = int((close_ms - ds.window_ms()[0]) // HOUR_MS)
    closes = ds.closes_matrix([ETH])[:, 0]
    assert closes[row] != closes[row]  # NaN: the bar is missing
    assert closes[row + 1] == float(_lines(path)[line].split(",")[4])  # the next bar stays
    (note,) = [n for n in ds.notes if n.kind == "price_jump_dropped"]
    assert (note.ts_ms, note.instrument) == (close_ms, str(ETH))
    assert f"{path}:{line}" in note.message


def _config(journal: Path, data_dir: Path) -> Any:
    off = {"enabled": False}
    overrides = {
        "journal": {"path": str(journal)},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": "2025-09-01", "end": "2025-09-12", "data_dir": str(data_dir)},
        "strategies": {n: off for n in ("stat_arb", "factor_neutral", "beta_hedger")},
    }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def _rows(journal: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(journal) as conn:
        return conn.execute(sql, args).fetchall()


def test_a_missing_bar_at_a_settlement_hour_keeps_the_settlement(
    data: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean.sqlite"
    run_replay(_config(clean, data))
    # a Binance perp settlement the clean run booked on a held position
    payments = _rows(
        clean,
        "SELECT instrument, ts_funding_ms, position_qty, amount_usd FROM funding_payments"
        " WHERE instrument LIKE 'binance:perp:%' ORDER BY seq",
    )
    instrument, ts_ms, qty, amount = payments[len(payments) // 2]
    symbol = instrument.split(":")[2]
    path = data / "binance" / "perp" / f"{symbol}_1h.csv.gz"
    lines = _lines(path)
    gone = next(
        i for i, line in enumerate(lines[1:], 1) if int(line.split(",")[0]) == ts_ms - HOUR_MS
    )
    last_close = Decimal(lines[gone - 1].split(",")[4])
    _write_lines(path, lines[:gone] + lines[gone + 1 :])  # the bar closing at the settlement

    holed = tmp_path / "holed.sqlite"
    run_replay(_config(holed, data))
    booked = _rows(
        holed,
        "SELECT position_qty, mark_price, amount_usd, rate FROM funding_payments"
        " WHERE instrument = ? AND ts_funding_ms = ?",
        instrument,
        ts_ms,
    )
    assert len(booked) == 1  # booked, not dropped
    position, mark, paid, _rate = booked[0]
    assert Decimal(position) == Decimal(qty)  # the same position held as in the clean run
    recorded = next(
        line.split(",")
        for line in _lines(data / "binance" / "funding" / f"{symbol}.csv.gz")[1:]
        if (int(line.split(",")[0]) + HOUR_MS // 2) // HOUR_MS * HOUR_MS == ts_ms
    )
    expected_mark = Decimal(recorded[2]) if recorded[2] else last_close
    assert Decimal(mark) == expected_mark
    alerts = _rows(
        holed,
        "SELECT ts_ms, message FROM alerts WHERE kind = 'settlement_without_bar'"
        " AND message LIKE ?",
        f"{instrument}:%",
    )
    assert [ts for ts, _ in alerts] == [ts_ms]
    assert amount is not None
    assert paid is not None


def test_a_funding_file_that_starts_late_is_warned_and_journaled(
    data: Path, tmp_path: Path
) -> None:
    path = data / "bybit" / "funding" / "ETHUSDT.csv.gz"
    lines = _lines(path)
    _write_lines(path, [lines[0], *lines[400:]])  # 399 settlements (~133 days) gone
    ds = ReplayDataset.load(
        data, perp_symbols=["ETHUSDT"], spot_symbols=[], funding_venues=["binance", "bybit"]
    )
    (note,) = [n for n in ds.notes if n.kind == "funding_starts_late"]
    assert note.instrument == "bybit:perp:ETHUSDT"
    first_ms = (int(lines[400].split(",")[0]) + HOUR_MS // 2) // HOUR_MS * HOUR_MS
    assert f"{(first_ms - ds.window_ms()[0]) // HOUR_MS} h after its prices" in note.message
    assert "pays and earns no funding" in note.message


def test_funding_lateness_is_measured_from_the_perps_own_first_price(data: Path) -> None:
    """ETH listed during the window: every ETH file starts at the same hour, so its funding is
    not late (no note); with its Bybit funding starting 40 settlements later the note counts
    the hours from ETH's first bar close, not from the window's first bar."""
    listed = {
        name: data / name
        for name in (
            "binance/perp/ETHUSDT_1h.csv.gz",
            "binance/spot/ETHUSDT_1h.csv.gz",
            "binance/funding/ETHUSDT.csv.gz",
            "bybit/funding/ETHUSDT.csv.gz",
        )
    }
    start_ms = 1_760_000_400_000  # 2025-10-09 09:00 UTC: a settlement-free hour
    for path in listed.values():
        lines = _lines(path)
        _write_lines(
            path, [lines[0], *(ln for ln in lines[1:] if int(ln.split(",")[0]) >= start_ms)]
        )
    load = dict(
        perp_symbols=["BTCUSDT", "ETHUSDT"], spot_symbols=[], funding_venues=["binance", "bybit"]
    )
    window = dict(start_ms=start_ms - 30 * 24 * HOUR_MS, end_ms=start_ms + 60 * 24 * HOUR_MS)
    ds = ReplayDataset.load(data, **load, **window)  # type: ignore[arg-type]
    assert ds.window_ms()[0] < start_ms  # the window's first bar is 30 days before ETH's
    assert [n for n in ds.notes if n.kind == "funding_starts_late"] == []

    bybit = listed["bybit/funding/ETHUSDT.csv.gz"]
    lines = _lines(bybit)
    _write_lines(bybit, [lines[0], *lines[41:]])
    ds = ReplayDataset.load(data, **load, **window)  # type: ignore[arg-type]
    (note,) = [n for n in ds.notes if n.kind == "funding_starts_late"]
    first_close_ms = start_ms + HOUR_MS  # ETH's first bar opens at start_ms
    first_funding_ms = (int(lines[41].split(",")[0]) + HOUR_MS // 2) // HOUR_MS * HOUR_MS
    assert note.instrument == "bybit:perp:ETHUSDT"
    assert note.ts_ms == first_close_ms
    assert f"{(first_funding_ms - first_close_ms) // HOUR_MS} h after its prices" in note.message
