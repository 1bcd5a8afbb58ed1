"""Shared helpers of the end-to-end tests.

Expected values are rebuilt here **without the code under test**: raw market data is read
from the bundled files with ``csv`` and ``gzip`` only (``venues/replay/data``, layout in its
``PROVENANCE.md``), and journal rows are read with ``sqlite3`` and turned into ``Decimal``
here. The project code is used only to *run* the agent (``load_config`` + ``Supervisor``).
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig, load_config
from agent.journal.journal import TABLES, Journal
from agent.logs import configure_logging
from agent.supervisor import RunResult, Supervisor

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT_TOML = REPO_ROOT / "agent.toml"
DATA_DIR = REPO_ROOT / "venues" / "replay" / "data"
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
EXACT_DIGITS = 120
"""Decimal precision for rebuilt sums: far above any journaled amount, so nothing rounds."""


# --------------------------------------------------------------------------------------------
# Hermetic process state
# --------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ``ZEROBETA_*`` variable of the outer shell leaks in; logging detached afterwards.

    ``agent.cli.main`` configures logging onto the ``sys.stderr`` of the moment (capsys's
    buffer, closed after the test), so every test ends by pointing logs at a throwaway sink.
    """
    for name in list(os.environ):
        if name.upper().startswith("ZEROBETA_"):
            monkeypatch.delenv(name)
    yield
    configure_logging("warning", "json", io.StringIO())


# --------------------------------------------------------------------------------------------
# Raw market data (csv + gzip only)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawSettlement:
    """One funding row of a venue file: rate per interval (exact text) and mark (or None)."""

    rate: Decimal
    rate_text: str
    mark_price: Decimal | None


class RawMarket:
    """Bundled market data parsed straight from the files, cached per file.

    Parameters
    ----------
    data_dir : Path
        Root of ``binance/``, ``bybit/``, ``hyperliquid/``.
    """

    def __init__(self, data_dir: Path = DATA_DIR) -> None:
        self._dir = data_dir
        self._closes: dict[tuple[str, str], dict[int, Decimal]] = {}
        self._funding: dict[tuple[str, str], dict[int, RawSettlement]] = {}

    def close(self, instrument: str, ts_close_ms: int) -> Decimal:
        """Close (quote units) of the recorded 1h bar of ``instrument`` closing at
        ``ts_close_ms``; Bybit/Hyperliquid perps are priced by the Binance perp.

        Raises
        ------
        KeyError
            If no bar closes at that time.
        """
        kind, symbol = _binance_series(instrument)
        key = (kind, symbol)
        if key not in self._closes:
            path = self._dir / "binance" / kind / f"{symbol}_1h.csv.gz"
            self._closes[key] = {int(row[0]) + HOUR_MS: Decimal(row[4]) for row in _csv_rows(path)}
        return self._closes[key][ts_close_ms]

    def settlements(self, instrument: str) -> dict[int, RawSettlement]:
        """Every settlement of a perp's venue funding file, keyed by the rounded hour (ms)."""
        venue, _, symbol = instrument.split(":")
        key = (venue, symbol)
        if key not in self._funding:
            path = self._dir / venue / "funding" / f"{symbol}.csv.gz"
            table: dict[int, RawSettlement] = {}
            for row in _csv_rows(path):
                hour_ms = (int(row[0]) + HOUR_MS // 2) // HOUR_MS * HOUR_MS
                mark = Decimal(row[2]) if len(row) > 2 and row[2] else None
                table[hour_ms] = RawSettlement(Decimal(row[1]), row[1], mark)
            self._funding[key] = table
        return self._funding[key]

    def funding_mark(self, instrument: str, ts_funding_ms: int) -> Decimal:
        """Mark for a settlement: the file's ``mark_price`` when present, else the Binance
        perp close of the bar closing at the settlement (PROVENANCE.md, "Caveats")."""
        recorded = self.settlements(instrument)[ts_funding_ms].mark_price
        if recorded is not None:
            return recorded
        return self.close(_binance_perp_of(instrument), ts_funding_ms)


def _csv_rows(path: Path) -> Iterator[list[str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)  # header
        yield from reader


def _binance_perp_of(instrument: str) -> str:
    venue, _, symbol = instrument.split(":")
    base = symbol.removesuffix("USDT") if venue != "hyperliquid" else symbol
    return f"binance:perp:{base}USDT"


def _binance_series(instrument: str) -> tuple[str, str]:
    venue, kind, symbol = instrument.split(":")
    if venue == "binance":
        return kind, symbol
    return "perp", _binance_perp_of(instrument).split(":")[2]


# --------------------------------------------------------------------------------------------
# Journal rows (sqlite3 only; Journal.dump_rows for the determinism comparison)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FillRow:
    """A journaled fill: agent time (ms), strategy, instrument, signed qty (base), price, fee."""

    ts_ms: int
    strategy: str
    instrument: str
    signed_qty: Decimal
    price: Decimal
    fee_usd: Decimal


@dataclass(frozen=True, slots=True)
class FundingRow:
    """A journaled funding payment (USD amount signed from the account's view)."""

    ts_ms: int
    instrument: str
    ts_funding_ms: int
    rate: float
    position_qty: Decimal
    mark_price: Decimal
    amount_usd: Decimal


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """A journaled equity snapshot, USD."""

    ts_ms: int
    equity_usd: Decimal
    initial_equity_usd: Decimal
    streams_usd: Mapping[str, Decimal]


_STREAM_COLUMNS = (
    "price_spot_usd",
    "price_perp_usd",
    "funding_usd",
    "fees_usd",
    "slippage_usd",
    "total_pnl_usd",
)


@dataclass(frozen=True, slots=True)
class JournalData:
    """Everything the tests read from one journal, loaded into memory once."""

    fills: list[FillRow]
    funding: list[FundingRow]
    snapshots: list[SnapshotRow]
    meta: dict[str, str]
    strategy_states: list[tuple[int, str, dict[str, Any]]]
    tables: dict[str, list[tuple[Any, ...]]] = field(repr=False)


def read_journal(path: Path) -> JournalData:
    """Load a finished run's journal at ``path`` (must exist)."""
    assert path.exists(), f"no journal at {path}"
    conn = sqlite3.connect(path)
    try:
        data = JournalData(
            fills=[_fill_row(r) for r in conn.execute(_FILLS_SQL)],
            funding=[_funding_row(r) for r in conn.execute(_FUNDING_SQL)],
            snapshots=[_snapshot_row(r) for r in conn.execute(_SNAPSHOT_SQL)],
            meta=dict(conn.execute("SELECT key, value FROM run_meta ORDER BY id")),
            strategy_states=[
                (ts_ms, strategy, json.loads(text))
                for ts_ms, strategy, text in conn.execute(
                    "SELECT ts_ms, strategy, state_json FROM strategy_state ORDER BY id"
                )
            ],
            tables={},
        )
    finally:
        conn.close()
    data.tables.update(dump_tables(path))
    return data


def dump_tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every journal table (``Journal.dump_rows``), keyed by table."""
    with Journal.open(path) as journal:
        return {table: journal.dump_rows(table) for table in TABLES}


_FILLS_SQL = "SELECT ts_ms, strategy, instrument, side, qty, price, fee_usd FROM fills ORDER BY id"
_FUNDING_SQL = (
    "SELECT ts_ms, instrument, ts_funding_ms, rate, position_qty, mark_price, amount_usd"
    " FROM funding_payments ORDER BY id"
)
_SNAPSHOT_SQL = (
    "SELECT ts_ms, equity_usd, initial_equity_usd, "
    + ", ".join(_STREAM_COLUMNS)
    # The column list is a constant of this module.
    + " FROM equity_snapshots ORDER BY id"
)


def _fill_row(row: tuple[Any, ...]) -> FillRow:
    ts_ms, strategy, instrument, side, qty, price, fee = row
    sign = {"buy": 1, "sell": -1}[side]
    return FillRow(ts_ms, strategy, instrument, sign * Decimal(qty), Decimal(price), Decimal(fee))


def _funding_row(row: tuple[Any, ...]) -> FundingRow:
    ts_ms, instrument, ts_funding_ms, rate, qty, mark, amount = row
    return FundingRow(
        ts_ms, instrument, ts_funding_ms, rate, Decimal(qty), Decimal(mark), Decimal(amount)
    )


def _snapshot_row(row: tuple[Any, ...]) -> SnapshotRow:
    streams = {name: Decimal(v) for name, v in zip(_STREAM_COLUMNS, row[3:], strict=True)}
    return SnapshotRow(row[0], Decimal(row[1]), Decimal(row[2]), streams)


def net_positions(fills: Iterable[FillRow], *, strategy: str | None = None) -> dict[str, Decimal]:
    """Σ signed qty per instrument (base units) over ``fills``; zero positions dropped."""
    net: dict[str, Decimal] = {}
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        for fill in fills:
            if strategy is None or fill.strategy == strategy:
                net[fill.instrument] = net.get(fill.instrument, Decimal(0)) + fill.signed_qty
    return {instrument: qty for instrument, qty in net.items() if qty != 0}


# --------------------------------------------------------------------------------------------
# Running the agent
# --------------------------------------------------------------------------------------------


def replay_config(
    journal_path: Path,
    start: date | None = None,
    end: date | None = None,
    *,
    data_dir: Path | None = None,
) -> AgentConfig:
    """The shipped ``agent.toml`` with the journal (and optionally window/data) overridden;
    the process environment is not read."""
    market: dict[str, str] = {}
    if start is not None:
        market["start"] = start.isoformat()
    if end is not None:
        market["end"] = end.isoformat()
    if data_dir is not None:
        market["data_dir"] = str(data_dir)
    overrides: dict[str, Any] = {
        "journal": {"path": str(journal_path)},
        "logging": {"level": "warning", "progress": False},
    }
    if market:
        overrides["market_data"] = market
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def corrupt_field(path: Path, line: int, column: int, value: str | None) -> None:
    """Rewrite one CSV field of a gzip data file in place (``value`` None drops the field).

    ``line`` is 1-based with the header as line 1, ``column`` 0-based.
    """
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        lines = handle.read().splitlines()
    fields = lines[line - 1].split(",")
    if value is None:
        del fields[column]
    else:
        fields[column] = value
    lines[line - 1] = ",".join(fields)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write("\n".join(lines) + "\n")


def run_replay(config: AgentConfig) -> RunResult:
    """Run the supervisor to the end of the replay, logs (warning+) to a throwaway sink."""
    configure_logging("warning", "json", io.StringIO())
    return asyncio.run(Supervisor(config).run())
