"""Maker-first execution on a real replay (three weeks of the bundled data, every strategy
``execution_style = "maker_first"``) against the same window as taker: the P&L identity holds
at every snapshot, fills are booked once each and every maker fill is at its order's limit,
no pair is left open, and the strategies pay less in fees."""

from __future__ import annotations

import sqlite3
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from tests.integration.conftest import AGENT_TOML, read_journal, run_replay

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _config(journal: Path, style: str) -> Any:
    base = load_config(AGENT_TOML, env={})
    strategies = {name: {"execution_style": style} for name in base.strategies.names()}
    overrides = {
        "journal": {"path": str(journal)},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": "2025-09-01", "end": "2025-09-22"},
        "strategies": strategies,
    }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def _rows(journal: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(journal) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("maker")
    taker, maker = tmp / "taker.sqlite", tmp / "maker.sqlite"
    run_replay(_config(taker, "taker"))
    run_replay(_config(maker, "maker_first"))
    return taker, maker


def test_the_pnl_identity_holds_in_a_maker_first_replay(runs: tuple[Path, Path]) -> None:
    _, maker = runs
    journal = read_journal(maker)
    assert journal.snapshots
    with localcontext() as ctx:
        ctx.prec = 50
        for snap in journal.snapshots:
            s = snap.streams_usd
            streams = (
                s["price_spot_usd"] + s["price_perp_usd"] + s["funding_usd"]
                - s["fees_usd"] - s["slippage_usd"]
            )  # fmt: skip
            assert abs(snap.equity_usd - snap.initial_equity_usd - streams) <= Decimal("1e-6")


def test_maker_fills_are_at_their_limit_and_booked_once(runs: tuple[Path, Path]) -> None:
    _, maker = runs
    fills = _rows(
        maker,
        "SELECT f.trade_id, f.instrument, f.price, o.limit_price FROM fills f JOIN orders o"
        " ON o.client_order_id = f.client_order_id AND o.status = 'pending_new'"
        " WHERE f.liquidity = 'maker'",
    )
    assert len(fills) > 50
    assert all(Decimal(price) == Decimal(limit) for _, _, price, limit in fills)
    keys = [(trade, instrument) for trade, instrument, _, _ in fills]
    assert len(keys) == len(set(keys))
    outcomes = dict(_rows(maker, "SELECT outcome, count(*) FROM pair_exposure GROUP BY 1"))
    assert "open" not in outcomes


def test_maker_first_pays_less_in_fees(runs: tuple[Path, Path]) -> None:
    taker, maker = runs
    sql = "SELECT strategy, sum(CAST(fee_usd AS REAL)) FROM fills GROUP BY strategy"
    fees_taker, fees_maker = dict(_rows(taker, sql)), dict(_rows(maker, sql))
    traded = [s for s in fees_taker if fees_taker[s] > 0]
    assert traded
    for strategy in traded:
        assert fees_maker[strategy] < fees_taker[strategy], strategy
