"""Leg faults injected by the paper venues (venues/paper/faults.py) on a real replay: refused
legs, half-filled legs and lost answers happen at the configured shares, deterministically for
a seed; no pair is left unbalanced at the end, the P&L identity holds, and the run pays for its
leg risk against the clean run."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
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


def test_summary_against_the_clean_run_shows_what_the_faults_cost(
    runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """``zerobeta summary --against CLEAN --json`` (and the text): every figure worked out
    here from the two journals' rows."""
    clean, faulty = runs
    assert main(["summary", "--journal", str(faulty), "--against", str(clean), "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)["against_clean"]

    def last_equity(journal: Path) -> Decimal:
        return Decimal(_rows(journal, "SELECT equity_usd FROM equity_snapshots ORDER BY id")[-1][0])

    def strategy_rows(journal: Path) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        """Each strategy's fees, slippage and total P&L at its last snapshot."""
        rows = _rows(
            journal,
            "SELECT strategy, fees_usd, slippage_usd, total_pnl_usd FROM strategy_pnl_snapshots"
            " ORDER BY id",
        )
        return {s: (Decimal(f), Decimal(sl), Decimal(t)) for s, f, sl, t in rows}

    def fees_by_strategy(journal: Path) -> dict[str, Decimal]:
        fees: dict[str, Decimal] = {}
        for strategy, fee in _rows(journal, "SELECT strategy, fee_usd FROM fills"):
            fees[strategy] = fees.get(strategy, Decimal(0)) + Decimal(fee)
        return fees

    run_eq, clean_eq = last_equity(faulty), last_equity(clean)
    assert Decimal(cost["final_equity_usd"]["run"]) == run_eq
    assert Decimal(cost["final_equity_usd"]["clean"]) == clean_eq
    assert Decimal(cost["final_equity_usd"]["difference"]) == run_eq - clean_eq
    run_fees, clean_fees = fees_by_strategy(faulty), fees_by_strategy(clean)
    run_snap, clean_snap = strategy_rows(faulty), strategy_rows(clean)
    assert set(cost["by_strategy"]) == set(run_snap) | set(clean_snap)
    for name, s in cost["by_strategy"].items():
        pnl = s["pnl"]
        assert -Decimal(pnl["run_usd"]["fees_usd"]) == run_fees.get(name, Decimal(0))
        assert -Decimal(pnl["clean_usd"]["fees_usd"]) == clean_fees.get(name, Decimal(0))
        fee_diff = clean_fees.get(name, Decimal(0)) - run_fees.get(name, Decimal(0))
        assert Decimal(pnl["difference_usd"]["fees_usd"]) == fee_diff
        slip_diff = clean_snap[name][1] - run_snap[name][1]
        assert abs(Decimal(pnl["difference_usd"]["slippage_usd"]) - slip_diff) < Decimal("1e-9")
        total_diff = run_snap[name][2] - clean_snap[name][2]
        assert abs(Decimal(pnl["difference_usd"]["total_usd"]) - total_diff) < Decimal("1e-6")
        for side, journal in (("run", faulty), ("clean", clean)):
            outcomes = dict(
                _rows(
                    journal,
                    "SELECT outcome, count(*) FROM pair_exposure WHERE strategy = '"
                    + name
                    + "' GROUP BY outcome",
                )
            )
            assert s["pair_outcomes"][side] == outcomes
            (usd_s,) = _rows(
                journal,
                f"SELECT total(unhedged_usd_s) FROM pair_exposure WHERE strategy = '{name}'",
            )[0]
            assert s["leg_risk"][side]["unhedged_usd_s"] == pytest.approx(usd_s)
    unwound = sum(s["pair_outcomes"]["run"].get("unwound", 0) for s in cost["by_strategy"].values())
    assert unwound > 0
    assert Decimal(cost["final_equity_usd"]["difference"]) < 0  # the faults cost money here
    assert cost["rejected_orders"]["clean"] == 0 < cost["rejected_orders"]["run"]

    assert main(["summary", "--journal", str(faulty), "--against", str(clean)]) == 0
    text = capsys.readouterr().out
    assert f"against the clean run {clean}" in text
    assert f"{run_eq - clean_eq:,.2f} USD" in text
    assert main(["report", "--journal", str(faulty), "--against", str(clean), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["against_clean"] == cost


def test_against_a_run_of_another_window_exits_2(
    runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, faulty = runs
    other = tmp_path / "other.sqlite"
    overrides = {
        "journal": {"path": str(other)},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": "2025-09-01", "end": "2025-09-04"},  # a shorter window
    }
    run_replay(load_config(AGENT_TOML, env={}, overrides=overrides))
    assert main(["summary", "--journal", str(faulty), "--against", str(other)]) == 2
    assert f"--against: {other} covers another window than this run" in capsys.readouterr().err
