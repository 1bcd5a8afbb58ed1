"""The README's "Write your own strategy" example, run as a user would run it.

The strategy module and its ``[strategies.pair_revert]`` section are taken from README.md
(between the ``user-strategy:module`` / ``user-strategy:config`` HTML comment markers) and
written to a folder outside the project's packages, next to a copy of the shipped
``agent.toml`` with that section appended; ``zerobeta backtest --strategy pair_revert`` runs
in-process on three weeks of the bundled data (the module is found through the configuration
file's folder, not ``sys.path``). Expected trades are rebuilt here from the raw kline files
(``conftest.RawMarket``: csv + gzip only) with the rule the README states, and the expected P&L
from the journal's fill and funding rows with ``Decimal`` arithmetic — never from the code's own
figures.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from tests.integration.conftest import (
    AGENT_TOML,
    EXACT_DIGITS,
    HOUR_MS,
    REPO_ROOT,
    RawMarket,
    read_journal,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

README = REPO_ROOT / "README.md"
MODULE = "pair_revert"
NAME = "pair_revert"
START, END = "2025-09-01", "2025-09-22"
A, B = "binance:perp:ETHUSDT", "binance:perp:BTCUSDT"
LOT = Decimal("0.001")  # Binance USD-M ETHUSDT and BTCUSDT stepSize (exchange_info fixture)
SLIPPAGE_FRAC = Decimal("0.0002")  # agent.toml [venues.binance] slippage_bps = 2.0


def _readme_block(marker: str) -> str:
    """The fenced code block between ``<!-- marker -->`` and ``<!-- /marker -->``."""
    text = README.read_text(encoding="utf-8")
    found = re.search(
        rf"<!-- {re.escape(marker)} -->\n```\w+\n(.*?)```\n<!-- /{re.escape(marker)} -->",
        text,
        re.DOTALL,
    )
    assert found, f"README.md has no block marked {marker}"
    return found.group(1)


def _utc_ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Trade:
    """An expected entry or exit: step time, signed target of leg A and leg B (base units)."""

    ts_ms: int
    reason: str
    target_a: Decimal
    target_b: Decimal


def _lot_floor(qty: Decimal) -> Decimal:
    return (qty / LOT).to_integral_value(rounding=ROUND_DOWN) * LOT


def _expected_trades(params: dict[str, Any], market: RawMarket) -> list[Trade]:
    """The README's rule over the raw hourly closes of the replay window (bar close times
    from ``START`` to ``END`` inclusive), after the warm-up the backtest loads before it (its
    ``history_bars`` = ``window_bars`` hours, not traded): z of the last ``window_bars`` log
    spreads; flat and |z| > entry: short the rich leg, long the cheap one, ``leg_notional_usd``
    each; open and |z| < exit: flat."""
    n, notional = params["window_bars"], Decimal(str(params["leg_notional_usd"]))
    spreads: list[float] = []
    side, trades = 0, []
    for ts in range(_utc_ms(START) - n * HOUR_MS, _utc_ms(END) + HOUR_MS, HOUR_MS):
        close_a, close_b = market.close(A, ts), market.close(B, ts)
        spreads.append(math.log(close_a) - math.log(close_b))
        if len(spreads) < n or ts < _utc_ms(START):
            continue
        window = spreads[-n:]
        mean = math.fsum(window) / n
        sd = math.sqrt(math.fsum((s - mean) ** 2 for s in window) / n)
        z = (window[-1] - mean) / sd
        if side == 0 and abs(z) > params["entry_z"]:
            side = -1 if z > 0 else 1
            qty_a, qty_b = _lot_floor(notional / close_a), _lot_floor(notional / close_b)
            trades.append(Trade(ts, "enter", side * qty_a, -side * qty_b))
        elif side != 0 and abs(z) < params["exit_z"]:
            side = 0
            trades.append(Trade(ts, "exit", Decimal(0), Decimal(0)))
    return trades


@pytest.fixture
def user_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder outside the project with the README's module and an agent.toml holding the
    shipped sections plus the README's section; the module is unloaded afterwards."""
    assert MODULE not in sys.modules
    folder = tmp_path / "my_zerobeta"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(_readme_block("user-strategy:module"), encoding="utf-8")
    config = AGENT_TOML.read_text(encoding="utf-8") + "\n" + _readme_block("user-strategy:config")
    (folder / "agent.toml").write_text(config, encoding="utf-8")
    yield folder
    sys.modules.pop(MODULE, None)


@pytest.fixture
def backtest(
    user_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, dict[str, Any]]:
    """Run the README's backtest command in-process; (journal path, the section's params)."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the module must be found through the config's folder
    journal = tmp_path / "pair.sqlite"
    argv = ["backtest", "--config", str(user_folder / "agent.toml")]
    argv += ["--from", START, "--to", END, "--strategy", NAME, "--journal", str(journal)]
    assert main(argv) == 0
    section = tomllib.loads(_readme_block("user-strategy:config"))["strategies"][NAME]
    defaults = {"window_bars": 72, "entry_z": 2.0, "exit_z": 0.5, "leg_notional_usd": 2000.0}
    return journal, {**defaults, **section}


def _rows(journal: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(journal) as conn:
        return conn.execute(sql).fetchall()


def test_readme_strategy_trades_as_its_rule_says(backtest: tuple[Path, dict[str, Any]]) -> None:
    journal, params = backtest
    expected = _expected_trades(params, RawMarket())
    assert len(expected) >= 4, "the window should hold at least two round trips"
    data = read_journal(journal)
    assert {f.strategy for f in data.fills} == {NAME}  # it ran alone, under its section name
    held = {A: Decimal(0), B: Decimal(0)}
    by_ts: dict[int, dict[str, Decimal]] = {}
    for fill in data.fills:
        by_ts.setdefault(fill.ts_ms, {}).setdefault(fill.instrument, Decimal(0))
        by_ts[fill.ts_ms][fill.instrument] += fill.signed_qty
    assert sorted(by_ts) == [t.ts_ms for t in expected]
    for trade in expected:
        traded = by_ts[trade.ts_ms]
        held = {A: held[A] + traded.get(A, Decimal(0)), B: held[B] + traded.get(B, Decimal(0))}
        assert held == {A: trade.target_a, B: trade.target_b}, trade


def test_readme_strategy_fills_at_the_close_plus_slippage(
    backtest: tuple[Path, dict[str, Any]],
) -> None:
    journal, _ = backtest
    market = RawMarket()
    fills = read_journal(journal).fills
    assert fills
    for fill in fills:
        close = market.close(fill.instrument, fill.ts_ms)
        worse = close * (1 + SLIPPAGE_FRAC) if fill.signed_qty > 0 else close * (1 - SLIPPAGE_FRAC)
        low, high = sorted((close, worse))
        tick = Decimal("0.1") if fill.instrument == B else Decimal("0.01")
        assert low - tick <= fill.price <= high + tick, fill


def test_readme_strategy_orders_and_intents_are_journaled_under_its_name(
    backtest: tuple[Path, dict[str, Any]],
) -> None:
    journal, params = backtest
    expected = _expected_trades(params, RawMarket())
    intents = _rows(journal, "SELECT ts_ms, strategy, reason, opening FROM intents ORDER BY id")
    assert intents == [(t.ts_ms, NAME, t.reason, int(t.reason == "enter")) for t in expected]
    orders = _rows(
        journal,
        "SELECT DISTINCT client_order_id, strategy, instrument FROM orders WHERE status = 'filled'",
    )
    assert {o[1] for o in orders} == {NAME}
    assert len(orders) == 2 * len(expected)  # one order per leg per trade
    states = _rows(journal, "SELECT DISTINCT strategy FROM strategy_state")
    assert states == [(NAME,)]


def test_summary_shows_the_strategy_pnl(
    backtest: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    journal, _ = backtest
    data = read_journal(journal)
    market = RawMarket()
    last_ms = _utc_ms(END)
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        cash = sum((-(f.signed_qty * f.price) - f.fee_usd for f in data.fills), Decimal(0))
        funding = sum((p.amount_usd for p in data.funding), Decimal(0))
        net: dict[str, Decimal] = {}
        for f in data.fills:
            net[f.instrument] = net.get(f.instrument, Decimal(0)) + f.signed_qty
        held = sum((q * market.close(i, last_ms) for i, q in net.items()), Decimal(0))
        fees = sum((f.fee_usd for f in data.fills), Decimal(0))
        expected_total = cash + funding + held
    capsys.readouterr()
    assert main(["summary", "--journal", str(journal), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    mine = summary["pnl_by_strategy_usd"][NAME]
    assert Decimal(mine["total_usd"]) == expected_total
    assert Decimal(mine["fees_usd"]) == -fees
    assert Decimal(mine["funding_usd"]) == funding
    assert expected_total != 0
    assert Decimal(summary["pnl_usd"]["total_usd"]) == expected_total  # it ran alone


def test_backtest_lists_the_user_strategy_among_the_known_names(
    user_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backtest", "--config", str(user_folder / "agent.toml"), "--from", START]
    argv += ["--to", END, "--strategy", "pair_revrt", "--journal", str(tmp_path / "j.sqlite")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--strategy: unknown strategy pair_revrt; known: " in err
    assert "pair_revert" in err.split("known: ")[1]
    assert not (tmp_path / "j.sqlite").exists()
