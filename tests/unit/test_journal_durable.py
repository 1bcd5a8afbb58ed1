"""Write-ahead in live mode: a durable journal commits intents, order requests, order states,
fills and funding payments as they are recorded (``synchronous=FULL``); a replay journal keeps
batching (``synchronous=NORMAL``) and loses its uncommitted rows with a killed process.

The durability proof is a real process killed with SIGKILL right after recording (no flush, no
close), and the file read back by the parent with plain ``sqlite3``.
"""

from __future__ import annotations

import signal
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.journal.journal import PENDING_NEW, Journal
from agent.journal.schema import configure_connection
from strategies.base import Alert, PairIntent, TargetPosition
from tests.support.child import running_child
from venues.model import (
    Fill,
    FundingPayment,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Side,
)

PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")

# Records an intent and its order request as the executor and the order desk do, says so, and
# waits — for the SIGKILL that follows. argv: journal path, "durable" or "batched".
RECORD_THEN_WAIT = """
import sys
from decimal import Decimal
from agent.journal.journal import Journal
from strategies.base import PairIntent, TargetPosition
from venues.model import InstrumentId, InstrumentKind, OrderRequest, Side

perp = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
journal = Journal.open(sys.argv[1], durable=sys.argv[2] == "durable")
intent = PairIntent("intent-1", (TargetPosition(perp, -0.5),), "enter", True)
journal.record_intent(1_000, "carry", intent)
request = OrderRequest("cid-1", perp, Side.SELL, Decimal("0.5"), reference_price=Decimal(100))
journal.record_order_request(1_000, "carry", "intent-1", "1", 0, request)
print("sent", flush=True)
sys.stdin.read()
"""


def _killed_after_recording(path: Path, mode: str) -> None:
    with running_child(RECORD_THEN_WAIT, str(path), mode, ready="sent") as child:
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_durable_journal_keeps_the_intent_and_order_of_a_killed_process(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.sqlite"
    _killed_after_recording(path, "durable")
    assert _rows(path, "SELECT ts_ms, strategy, intent_id, reason, opening FROM intents") == [
        (1_000, "carry", "intent-1", "enter", 1)
    ]
    orders = _rows(path, "SELECT client_order_id, intent_id, side, qty, status FROM orders")
    assert orders == [("cid-1", "intent-1", "sell", "0.5", PENDING_NEW)]


def test_a_replay_journal_loses_its_batched_rows_with_a_killed_process(tmp_path: Path) -> None:
    # Documented: a replay commits in batches (and at each step's end when resumable); what a
    # killed replay had not committed is gone, and the run is redone or resumed.
    path = tmp_path / "replay.sqlite"
    _killed_after_recording(path, "batched")
    assert _rows(path, "SELECT count(*) FROM intents") == [(0,)]
    assert _rows(path, "SELECT count(*) FROM orders") == [(0,)]


@pytest.mark.parametrize(("durable", "level"), [(True, 2), (False, 1)], ids=["full", "normal"])
def test_synchronous_is_full_when_durable_else_normal(
    tmp_path: Path, durable: bool, level: int
) -> None:
    conn = sqlite3.connect(tmp_path / "j.sqlite")
    try:
        configure_connection(conn, str(tmp_path / "j.sqlite"), durable=durable)
        assert conn.execute("PRAGMA synchronous").fetchone() == (level,)
    finally:
        conn.close()


def _fill() -> Fill:
    return Fill(PERP, "cid-1", "v1", "t1", Side.SELL, Decimal("0.5"), Decimal(100),
                Decimal("0.02"), Liquidity.TAKER, 2_000)  # fmt: skip


def test_each_write_ahead_row_is_committed_as_it_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    journal = Journal.open(path, durable=True)
    other = sqlite3.connect(path)  # sees committed rows only

    def visible(table: str) -> int:
        return int(other.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    try:
        assert journal.durable
        journal.record_alert(500, "carry", Alert("note", "not write-ahead", {}))
        assert visible("alerts") == 0  # batched until the next write-ahead row
        journal.record_intent(
            1_000, "carry", PairIntent("i1", (TargetPosition(PERP, -0.5),), "enter")
        )
        assert visible("intents") == 0  # committed with its first order request: one fsync
        request = OrderRequest("cid-1", PERP, Side.SELL, Decimal("0.5"))
        journal.record_order_request(1_000, "carry", "i1", "1", 0, request)
        assert (visible("intents"), visible("orders"), visible("alerts")) == (1, 1, 1)
        ack = OrderAck("cid-1", "v1", PERP, Side.SELL, OrderStatus.FILLED, Decimal("0.5"),
                       Decimal("0.5"), Decimal(100), 2_000, (_fill(),))  # fmt: skip
        journal.record_order_ack(2_000, ack)
        assert visible("orders") == 2
        journal.record_fill(2_000, "carry", _fill())
        assert visible("fills") == 1
        journal.record_order_rejected(2_500, request, "-2019", "margin")
        assert visible("orders") == 3
        payment = FundingPayment(PERP, 3_600_000, 0.0001, 28_800, Decimal("-0.5"), Decimal(100),
                                 Decimal("0.005"))  # fmt: skip
        journal.record_funding(3_000, payment, {"carry": Decimal("0.005")})
        assert (visible("funding_payments"), visible("funding_allocations")) == (1, 1)
    finally:
        journal.close()
        other.close()


def test_a_batched_journal_commits_nothing_before_its_batch_or_flush(tmp_path: Path) -> None:
    path = tmp_path / "replay.sqlite"
    journal = Journal.open(path)
    other = sqlite3.connect(path)
    try:
        assert not journal.durable
        journal.record_intent(
            1_000, "carry", PairIntent("i1", (TargetPosition(PERP, -0.5),), "enter")
        )
        journal.record_order_request(
            1_000, "carry", "i1", "1", 0, OrderRequest("cid-1", PERP, Side.SELL, Decimal("0.5"))
        )
        journal.record_fill(2_000, "carry", _fill())
        counts = [other.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("intents", "orders", "fills")]  # fmt: skip
        assert counts == [0, 0, 0]
        journal.flush()
        assert other.execute("SELECT count(*) FROM orders").fetchone() == (1,)
    finally:
        journal.close()
        other.close()


def test_atomic_commits_the_block_together_and_nests(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    journal = Journal.open(path, durable=True)
    other = sqlite3.connect(path)

    def visible() -> tuple[int, int]:
        orders = other.execute("SELECT count(*) FROM orders").fetchone()[0]
        fills = other.execute("SELECT count(*) FROM fills").fetchone()[0]
        return int(orders), int(fills)

    try:
        journal.record_intent(
            1_000, "carry", PairIntent("i1", (TargetPosition(PERP, -0.5),), "enter")
        )
        request = OrderRequest("cid-1", PERP, Side.SELL, Decimal("0.5"))
        journal.record_order_request(1_000, "carry", "i1", "1", 0, request)
        assert visible() == (1, 0)
        ack = OrderAck("cid-1", "v1", PERP, Side.SELL, OrderStatus.FILLED, Decimal("0.5"),
                       Decimal("0.5"), Decimal(100), 2_000, (_fill(),))  # fmt: skip
        with journal.atomic():
            journal.record_order_ack(2_000, ack)
            with journal.atomic():
                journal.record_fill(2_000, "carry", _fill())
            assert visible() == (1, 0)  # the inner block's end commits nothing
        assert visible() == (2, 1)

        def failing_booking() -> None:
            with journal.atomic():
                journal.record_order_rejected(2_500, request, "-2019", "margin")
                raise RuntimeError("booking failed")

        with pytest.raises(RuntimeError):
            failing_booking()
        assert visible() == (2, 1)  # left pending ...
        journal.record_fill(3_000, "carry", _fill())
        assert visible() == (3, 2)  # ... and committed with the next write-ahead row
    finally:
        journal.close()
        other.close()
