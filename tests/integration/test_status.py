"""``zerobeta status`` on the journal of a short real replay, every figure checked against
values rebuilt here from the journal's tables (sqlite3 + Decimal, average cost computed
independently), and on a journal another connection is still writing."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.config import AgentConfig, load_config
from tests.integration.conftest import AGENT_TOML, DAY_MS, EXACT_DIGITS, run_replay

pytestmark = pytest.mark.slow

START, END = "2025-09-01", "2025-09-22T13:00:00Z"  # ends mid-day: "today" has 13 hours
TOLERANCE = Decimal("1e-20")  # the ledger divides once (average cost), exact to 1e-40


def _config(journal: Path) -> AgentConfig:
    overrides: dict[str, Any] = {
        "journal": {"path": str(journal)},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": START, "end": END},
    }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("status") / "run.sqlite"
    run_replay(_config(path))
    return path


def _status(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> dict[str, Any]:
    code = main(["status", "--journal", str(path), "--config", str(AGENT_TOML), "--json", *extra])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


# ---- the expected values, from the tables ------------------------------------------------------


@dataclass
class Leg:
    qty: Decimal
    basis: Decimal  # signed cost of the open quantity at reference prices
    intent: str
    opened_seq: int


def _legs(conn: sqlite3.Connection) -> dict[tuple[str, str], Leg]:
    """Average-cost positions per (strategy, instrument), written here from the fills."""
    intents = dict(conn.execute("SELECT client_order_id, intent_id FROM orders"))
    legs: dict[tuple[str, str], Leg] = {}
    rows = conn.execute(
        "SELECT seq, strategy, client_order_id, instrument, side, qty, price, reference_price"
        " FROM fills ORDER BY seq"
    )
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        for seq, strategy, coid, instrument, side, qty, price, reference in rows:
            delta = Decimal(qty) if side == "buy" else -Decimal(qty)
            ref = Decimal(reference if reference is not None else price)
            leg = legs.get((strategy, instrument))
            if leg is None or leg.qty == 0:
                legs[(strategy, instrument)] = Leg(delta, delta * ref, intents[coid], seq)
                continue
            after = leg.qty + delta
            if leg.qty * delta > 0:  # adds on the same side
                leg.basis += delta * ref
            elif leg.qty * after < 0:  # flips: the remainder opens at this price
                legs[(strategy, instrument)] = Leg(after, after * ref, intents[coid], seq)
                continue
            else:  # reduces: the basis shrinks in proportion
                leg.basis = leg.basis * after / leg.qty if after != 0 else Decimal(0)
            leg.qty = after
    return {k: v for k, v in legs.items() if v.qty != 0}


def _funding_since(conn: sqlite3.Connection, strategy: str, instrument: str, seq: int) -> Decimal:
    rows = conn.execute(
        "SELECT amount_usd FROM funding_allocations WHERE strategy = ? AND instrument = ?"
        " AND seq > ?",
        (strategy, instrument, seq),
    )
    return sum((Decimal(a) for (a,) in rows), Decimal(0))


@pytest.fixture(scope="module")
def db(journal: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(journal)
    try:
        yield conn
    finally:
        conn.close()


def _snapshot(conn: sqlite3.Connection, at_or_before_ms: int | None = None) -> tuple[Any, ...]:
    sql = "SELECT ts_ms, equity_usd, initial_equity_usd, total_pnl_usd, funding_usd, fees_usd,"
    sql += " net_delta_usd, gross_notional_usd FROM equity_snapshots"
    if at_or_before_ms is None:
        return conn.execute(sql + " ORDER BY id DESC LIMIT 1").fetchone()
    return conn.execute(
        sql + " WHERE ts_ms <= ? ORDER BY id DESC LIMIT 1", (at_or_before_ms,)
    ).fetchone()


# ---- the tests -------------------------------------------------------------------------------


def test_run_equity_and_pnl_are_the_journals(
    journal: Path, db: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _status(capsys, journal, "--no-live")
    meta = dict(db.execute("SELECT key, value FROM run_meta"))
    last_ms, equity, initial, total, funding, fees, net, gross = _snapshot(db)
    assert status["status_version"] == 1
    assert (status["mode"], status["source"], status["finished"]) == ("paper", "replay", True)
    assert status["clock"] == "journal"
    assert status["venues"] == ["binance", "bybit", "hyperliquid"]
    assert status["last_ms"] == int(meta["window_last_ms"]) == last_ms
    firsts = [
        db.execute(f"SELECT min(ts_ms) FROM {table}").fetchone()[0]
        for table in ("equity_snapshots", "orders", "fills", "funding_payments", "alerts")
    ]
    assert status["first_ms"] == min(t for t in firsts if t is not None)
    assert status["span_s"] == (status["last_ms"] - status["first_ms"]) / 1000
    assert Decimal(status["equity_usd"]) == Decimal(equity)
    assert Decimal(status["initial_equity_usd"]) == Decimal(initial)
    assert Decimal(status["pnl"]["total"]["total_usd"]) == Decimal(total)
    assert Decimal(status["pnl"]["total"]["funding_usd"]) == Decimal(funding)
    assert Decimal(status["pnl"]["total"]["fees_usd"]) == Decimal(fees)
    assert Decimal(status["exposure"]["net_delta_usd"]) == Decimal(net)
    assert Decimal(status["exposure"]["gross_notional_usd"]) == Decimal(gross)

    day_start = last_ms - last_ms % DAY_MS
    assert last_ms - day_start == 13 * 3_600_000
    opening = _snapshot(db, day_start)
    assert opening[0] == day_start
    assert status["pnl"]["day_start_ms"] == day_start
    today = Decimal(status["pnl"]["today"]["total_usd"])
    assert today == Decimal(total) - Decimal(opening[3]) == Decimal(equity) - Decimal(opening[1])
    assert today != 0


def test_pnl_by_strategy_total_and_today(
    journal: Path, db: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _status(capsys, journal, "--no-live")
    day_start = status["pnl"]["day_start_ms"]
    latest_sql = (
        "SELECT strategy, total_pnl_usd, price_perp_usd FROM strategy_pnl_snapshots WHERE id IN"
        " (SELECT max(id) FROM strategy_pnl_snapshots {} GROUP BY strategy)"
    )
    latest = {s: (Decimal(t), Decimal(p)) for s, t, p in db.execute(latest_sql.format(""))}
    opening = {
        s: Decimal(t) for s, t, _ in db.execute(latest_sql.format("WHERE ts_ms <= ?"), (day_start,))
    }
    by_strategy = status["pnl"]["by_strategy"]
    assert set(by_strategy) == set(latest)
    assert {"funding_harvester", "stat_arb", "factor_neutral"} <= set(by_strategy)
    for name, (total, perp) in latest.items():
        assert Decimal(by_strategy[name]["total"]["total_usd"]) == total
        assert Decimal(by_strategy[name]["total"]["price_perp_usd"]) == perp
        expected_today = total - opening.get(name, Decimal(0))
        assert Decimal(by_strategy[name]["today"]["total_usd"]) == expected_today


def test_open_positions_grouped_by_intent_with_entry_mark_and_funding(
    journal: Path, db: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _status(capsys, journal, "--no-live")
    meta = dict(db.execute("SELECT key, value FROM run_meta"))
    marks = {k: Decimal(v) for k, v in json.loads(meta["final_marks_json"]).items()}
    expected = _legs(db)
    got = {
        (pair["strategy"], leg["instrument"]): (pair["intent_id"], leg)
        for pair in status["positions"]
        for leg in pair["legs"]
    }
    assert set(got) == set(expected)
    assert len(status["positions"]) < len(expected)  # legs of one intent share a group
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        for (strategy, instrument), leg in expected.items():
            intent, shown = got[(strategy, instrument)]
            avg = leg.basis / leg.qty
            mark = marks[instrument]
            assert intent == leg.intent
            assert Decimal(shown["qty"]) == leg.qty
            assert abs(Decimal(shown["avg_entry_usd"]) - avg) < TOLERANCE
            assert Decimal(shown["mark_usd"]) == mark
            assert shown["mark_source"] == "final_marks"
            assert abs(Decimal(shown["unrealized_pnl_usd"]) - leg.qty * (mark - avg)) < TOLERANCE
            assert Decimal(shown["notional_usd"]) == leg.qty * mark
            funding = _funding_since(db, strategy, instrument, leg.opened_seq)
            assert Decimal(shown["funding_usd"]) == funding
    # the harvester holds spot and perp of one asset in one group
    harvest = [p for p in status["positions"] if p["strategy"] == "funding_harvester"]
    assert harvest
    assert all(sorted(leg["kind"] for leg in p["legs"]) == ["perp", "spot"] for p in harvest)


def test_perp_legs_show_their_latest_settlement_and_the_next(
    journal: Path, db: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _status(capsys, journal, "--no-live")
    now_ms = status["now_ms"]
    latest = {}
    for instrument, rate, interval_s, ts in db.execute(
        "SELECT instrument, rate, interval_s, ts_funding_ms FROM funding_payments ORDER BY id"
    ):
        latest[instrument] = (rate, interval_s, ts)
    perp_legs = [leg for p in status["positions"] for leg in p["legs"] if leg["kind"] == "perp"]
    assert perp_legs
    for leg in perp_legs:
        rate, interval_s, ts = latest[leg["instrument"]]
        funding = leg["funding"]
        assert (funding["rate"], funding["interval_s"], funding["ts_funding_ms"]) == (
            rate,
            interval_s,
            ts,
        )
        nxt = ts + interval_s * 1000
        while nxt <= now_ms:
            nxt += interval_s * 1000
        assert funding["next_funding_ms"] == nxt
        assert funding["next_funding_in_s"] == (nxt - now_ms) / 1000
    spot_legs = [leg for p in status["positions"] for leg in p["legs"] if leg["kind"] == "spot"]
    assert spot_legs
    assert all(leg["funding"] is None for leg in spot_legs)


def test_risk_and_orders(
    journal: Path, db: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _status(capsys, journal, "--no-live")
    equities = [Decimal(e) for (e,) in db.execute("SELECT equity_usd FROM equity_snapshots")]
    initial = Decimal(
        db.execute("SELECT value FROM run_meta WHERE key = 'initial_equity_usd'").fetchone()[0]
    )
    equity = Decimal(_snapshot(db)[1])
    peak = max([*equities, initial])
    total_dd = 1.0 - float(equity / peak)
    risk = status["risk"]
    assert risk["source"] == "snapshots"  # overwrite = true: no checkpoint
    assert risk["halted"] is False
    assert risk["breakers"] == []
    assert status["kill_switch"] is None  # no halt or resume was ever written
    assert risk["total_drawdown"]["value_frac"] == pytest.approx(total_dd, abs=1e-12)
    assert risk["total_drawdown"]["limit_frac"] == 0.10
    assert risk["total_drawdown"]["headroom_frac"] == pytest.approx(0.10 - total_dd, abs=1e-12)
    assert risk["daily_drawdown"]["limit_frac"] == 0.05
    orders = status["orders"]
    assert (
        orders["sent"]
        == db.execute("SELECT count(DISTINCT client_order_id) FROM orders").fetchone()[0]
    )
    assert orders["sent"] > 0
    assert orders["unresolved"] == 0
    assert (
        orders["risk_rejections"]
        == db.execute("SELECT count(*) FROM risk_events WHERE detail != 'breaker'").fetchone()[0]
    )


def test_human_form_is_a_compact_table(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", "--journal", str(journal), "--config", str(AGENT_TOML)])
    out = capsys.readouterr().out
    assert code == 0
    for heading in ("zerobeta status", "risk (snapshots)", "P&L", "positions", "live"):
        assert heading in out
    assert "funding_harvester" in out
    assert "serves no endpoint" in out  # a replay configuration has no live endpoint


def test_a_journal_being_written_by_another_connection(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    running = tmp_path / "running.sqlite"
    shutil.copy(journal, running)
    writer = sqlite3.connect(running, isolation_level=None)
    try:
        assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        before = _status(capsys, running, "--no-live")
        columns = [r[1] for r in writer.execute("PRAGMA table_info(equity_snapshots)")][1:]
        last = writer.execute(
            f"SELECT {', '.join(columns)} FROM equity_snapshots ORDER BY id DESC LIMIT 1"
        ).fetchone()
        row = dict(zip(columns, last, strict=True))
        row["ts_ms"] += 3_600_000
        row["equity_usd"] = "123456.78"
        writer.execute("BEGIN IMMEDIATE")  # holds the write lock, uncommitted
        marks = ", ".join("?" * len(columns))
        writer.execute(
            f"INSERT INTO equity_snapshots ({', '.join(columns)}) VALUES ({marks})",
            [row[c] for c in columns],
        )
        during = _status(capsys, running, "--no-live")  # not blocked, sees the last commit
        assert during["equity_usd"] == before["equity_usd"]
        writer.execute("COMMIT")
        after = _status(capsys, running, "--no-live")
        assert after["equity_usd"] == "123456.78"
        assert after["equity_ts_ms"] == row["ts_ms"]
        assert after["finished"] is False  # a row after the run's end: it is going on
        assert Path(f"{running}-wal").exists()  # read while the writer's WAL is live
    finally:
        writer.close()


def test_errors_go_to_stderr_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing.sqlite"
    assert main(["status", "--journal", str(missing), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no journal at {missing}" in captured.err
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    assert main(["status", "--journal", str(foreign)]) == 2
    captured = capsys.readouterr()
    assert "not a zerobeta journal" in captured.err
    assert not Path(f"{foreign}-wal").exists()  # nothing written next to it
