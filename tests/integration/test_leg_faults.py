"""Leg faults injected by the paper venues (venues/paper/faults.py) on a real replay: refused
legs, half-filled legs and lost answers happen at the configured shares, deterministically for
a seed; no pair is left unbalanced at the end, the P&L identity holds, and the run pays for its
leg risk against the clean run."""

from __future__ import annotations

import sqlite3
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from tests.integration.conftest import AGENT_TOML, read_journal, run_replay
from venues.paper.faults import LegFaults

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FAULTS = {"fault_reject_frac": 0.05, "fault_partial_frac": 0.05, "fault_unknown_frac": 0.03}


def _config(journal: Path, faults: dict[str, Any] | None) -> Any:
    venues = {name: dict(faults or {}) for name in ("binance", "bybit", "hyperliquid")}
    overrides = {
        "journal": {"path": str(journal)},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": "2025-09-01", "end": "2025-09-22"},
        "venues": venues,
    }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def _rows(journal: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(journal) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("faults")
    clean, faulty = tmp / "clean.sqlite", tmp / "faulty.sqlite"
    run_replay(_config(clean, None))
    run_replay(_config(faulty, FAULTS))
    return clean, faulty


def test_faults_happen_at_the_configured_shares(runs: tuple[Path, Path]) -> None:
    _, faulty = runs
    sent = _rows(faulty, "SELECT client_order_id FROM orders WHERE status = 'pending_new'")
    ids = [cid for (cid,) in sent]
    chosen = [
        LegFaults(**{k.removeprefix("fault_"): v for k, v in FAULTS.items()}).fault_for(c)
        for c in ids
    ]
    refused = _rows(faulty, "SELECT count(*) FROM orders WHERE reject_code = 'fault'")[0][0]
    assert refused == chosen.count("reject") > 0  # every order the seed picks, and only those
    halves = _rows(
        faulty,
        "SELECT count(*) FROM orders WHERE status = 'expired' AND CAST(filled_qty AS REAL) > 0",
    )[0][0]
    assert 0 < halves <= chosen.count("partial")  # a half below the minimums fills nothing
    assert chosen.count("unknown") > 0
    assert len(ids) > 100


def test_no_pair_is_left_unbalanced_and_the_identity_holds(runs: tuple[Path, Path]) -> None:
    _, faulty = runs
    outcomes = _rows(faulty, "SELECT outcome, count(*) FROM pair_exposure GROUP BY outcome")
    assert "open" not in dict(outcomes)
    unresolved = _rows(
        faulty,
        "SELECT count(*) FROM (SELECT client_order_id, max(id) AS id FROM orders"
        " GROUP BY client_order_id) l JOIN orders o ON o.id = l.id"
        " WHERE o.status IN ('pending_new', 'new', 'partially_filled')",
    )[0][0]
    assert unresolved == 0  # every lost answer was looked up and booked
    held: dict[tuple[str, str, str], Decimal] = {}
    for strategy, instrument, side, qty in _rows(
        faulty, "SELECT strategy, instrument, side, qty FROM fills ORDER BY seq"
    ):
        _venue, kind, symbol = instrument.split(":")
        base = symbol.removesuffix("USDT")
        key = (strategy, base, kind)
        held[key] = held.get(key, Decimal(0)) + (1 if side == "buy" else -1) * Decimal(qty)
    for (strategy, base, kind), qty in held.items():
        if strategy == "funding_harvester" and kind == "spot":  # spot long = perp short
            assert qty == -held.get((strategy, base, "perp"), Decimal(0)), base
        if strategy == "cross_venue_arb":  # long on one venue, short on another
            assert qty == 0, base
    journal = read_journal(faulty)
    with localcontext() as ctx:
        ctx.prec = 50
        for snap in journal.snapshots:
            s = snap.streams_usd
            streams = (
                s["price_spot_usd"] + s["price_perp_usd"] + s["funding_usd"]
                - s["fees_usd"] - s["slippage_usd"]
            )  # fmt: skip
            assert abs(snap.equity_usd - snap.initial_equity_usd - streams) <= Decimal("1e-6")


def test_the_faults_cost_unwinds_against_the_clean_run(runs: tuple[Path, Path]) -> None:
    """In a replay the clock does not move while a pair is sent, so a failed leg is unwound
    (or a lost answer looked up) at once: the faults show as unwound pairs and their extra
    orders, not as unhedged time."""
    clean, faulty = runs
    outcomes = "SELECT outcome, count(*) FROM pair_exposure GROUP BY outcome"
    assert set(dict(_rows(clean, outcomes))) == {"filled"}
    assert dict(_rows(faulty, outcomes)).get("unwound", 0) > 0
    unwinds = "SELECT count(*) FROM orders WHERE status = 'pending_new' AND leg LIKE '%u'"
    assert _rows(clean, unwinds)[0][0] == 0
    assert _rows(faulty, unwinds)[0][0] > 0
