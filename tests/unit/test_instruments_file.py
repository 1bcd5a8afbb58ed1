"""``<venue>/instruments.csv``: the trading rules a replay reads from its data folder."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from venues.model import InstrumentKind
from venues.replay.instruments_file import (
    HEADER,
    InstrumentRules,
    instruments_path,
    read_rules,
    write_rules,
)
from venues.replay.loader import DataFileError, bundled_data_dir
from venues.replay.source import ReplayDataset, available_symbols

PERP, SPOT = InstrumentKind.PERP, InstrumentKind.SPOT


def _file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "binance" / "instruments.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([",".join(HEADER), *lines]) + "\n")
    return path


def test_rows_round_trip_exactly(tmp_path: Path) -> None:
    rows = [
        InstrumentRules(PERP, "APTUSDT", Decimal("0.0001"), Decimal("0.1"), Decimal("0.1"),
                        Decimal("5"), 14_400, None, "tick", "Binance exchangeInfo, 2026-12-06"),
        InstrumentRules(PERP, "BTC", None, Decimal("0.00001"), Decimal("0.00001"), Decimal("10"),
                        3_600, Decimal("0.04"), "hyperliquid", "meta"),
    ]  # fmt: skip
    path = tmp_path / "v" / "instruments.csv"
    write_rules(path, rows)
    assert read_rules(path) == {(r.kind, r.symbol): r for r in rows}
    assert read_rules(tmp_path / "none.csv") == {}  # a folder without rules has none


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("perp,XUSDT,0.1,0.001,0.001,5,28800,,tick", "expected 10 columns"),
        ("swap,XUSDT,0.1,0.001,0.001,5,28800,,tick,s", "kind 'swap' is not perp or spot"),
        ("perp,XUSDT,,0.001,0.001,5,28800,,tick,s", "tick_size is empty"),
        ("perp,XUSDT,0.1,abc,0.001,5,28800,,tick,s", "lot_step 'abc' is not a number"),
        ("perp,XUSDT,0.1,-1,0.001,5,28800,,tick,s", "lot_step '-1' must be positive"),
        ("perp,XUSDT,0.1,0.001,0.001,5,8h,,tick,s", "funding_interval_s '8h'"),
        ("perp,XUSDT,0.1,0.001,0.001,5,28800,,ticks,s", "price_rule 'ticks'"),
    ],
)
def test_a_bad_row_is_refused_with_file_and_line(tmp_path: Path, line: str, reason: str) -> None:
    path = _file(tmp_path, "# a comment", "perp,BTCUSDT,0.1,0.001,0.001,100,28800,,tick,s", line)
    with pytest.raises(DataFileError, match=reason) as info:
        read_rules(path)
    assert (info.value.path, info.value.line) == (path, 4)  # comments keep their line


def test_a_symbol_twice_is_refused(tmp_path: Path) -> None:
    row = "perp,BTCUSDT,0.1,0.001,0.001,100,28800,,tick,s"
    with pytest.raises(DataFileError, match="listed twice"):
        read_rules(_file(tmp_path, row, row))


def test_every_bundled_series_has_rules() -> None:
    """The bundled folder carries a row for each of its kline and funding files."""
    root = bundled_data_dir()
    binance = read_rules(instruments_path(root, "binance"))
    for kind in (PERP, SPOT):
        for symbol in available_symbols(None, kind):
            assert (kind, symbol) in binance, (kind, symbol)
    for venue in ("bybit", "hyperliquid"):
        rows = read_rules(instruments_path(root, venue))
        for path in (root / venue / "funding").glob("*.csv*"):
            assert (PERP, path.name.split(".csv")[0]) in rows, path


def test_the_replay_trades_with_the_folders_rules(tmp_path: Path) -> None:
    """A changed row in a copy of the bundled folder is what the replay's instrument has."""
    root = tmp_path / "data"
    for src in bundled_data_dir().rglob("*"):
        if src.is_file() and ("BTCUSDT" in src.name or src.name == "instruments.csv"):
            dest = root / src.relative_to(bundled_data_dir())
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes())
    path = instruments_path(root, "binance")
    rows = read_rules(path)
    old = rows[(PERP, "BTCUSDT")]
    rows[(PERP, "BTCUSDT")] = InstrumentRules(
        PERP, "BTCUSDT", Decimal("0.5"), Decimal("0.002"), Decimal("0.004"), Decimal("50"),
        old.funding_interval_s, None, "tick", "edited",
    )  # fmt: skip
    write_rules(path, rows.values())
    ds = ReplayDataset.load(root, perp_symbols=["BTCUSDT"], spot_symbols=[], end_ms=1729700000000)
    inst = next(i for iid, i in ds.instruments().items() if iid.symbol == "BTCUSDT")
    assert (inst.tick_size, inst.lot_step, inst.min_qty, inst.min_notional_usd) == (
        Decimal("0.5"), Decimal("0.002"), Decimal("0.004"), Decimal("50"),
    )  # fmt: skip
    del rows[(PERP, "BTCUSDT")]
    write_rules(path, rows.values())
    with pytest.raises(
        ValueError, match=r"no trading rules for binance:perp:BTCUSDT in .*instruments\.csv"
    ):
        ReplayDataset.load(root, perp_symbols=["BTCUSDT"], spot_symbols=[], end_ms=1729700000000)
