"""The SQLite journal: round trips, WAL, batching, determinism, schema refusal, replay."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.errors import AgentError, JournalError
from agent.journal.journal import SCHEMA_VERSION, TABLES, Journal, PairExposureTotals
from agent.portfolio.ledger import Portfolio
from strategies.base import Alert, PairIntent, TargetPosition
from venues.model import (
    Fill,
    FundingPayment,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)

D = Decimal
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("bybit", InstrumentKind.PERP, "ETHUSDT")
CASH = {"binance": D(10_000), "bybit": D(5_000), "reserve": D(0)}


def fill(
    iid: InstrumentId, side: Side, qty: str, price: str, fee: str, ref: str | None, n: int
) -> Fill:
    return Fill(
        instrument_id=iid,
        client_order_id=f"c{n}",
        venue_order_id=f"v{n}",
        trade_id=f"t{n}",
        side=side,
        qty=D(qty),
        price=D(price),
        fee_usd=D(fee),
        liquidity=Liquidity.MAKER if n % 2 else Liquidity.TAKER,
        ts_event_ms=1_000 * n,
        reference_price=None if ref is None else D(ref),
    )


def payment(iid: InstrumentId, rate: float, qty: str, mark: str, amount: str) -> FundingPayment:
    return FundingPayment(iid, 3_600_000, rate, 28_800, D(qty), D(mark), D(amount))


def run_scenario(journal: Journal, portfolio: Portfolio) -> None:
    """The same calls the executor and supervisor make, booked in ledger and journal alike."""
    journal.record_meta({"mode": "paper", "config_hash": "abc"})
    intent = PairIntent("i1", (TargetPosition(SPOT, 0.5), TargetPosition(PERP, -0.5)), "enter")
    journal.record_intent(1_000, "carry", intent)
    request = OrderRequest("cid1", SPOT, Side.BUY, D("0.5"), reference_price=D(100))
    journal.record_order_request(1_000, "carry", "i1", "0", 0, request)
    events: list[tuple[int, str, Fill] | tuple[int, FundingPayment]] = [
        (1_000, "carry", fill(SPOT, Side.BUY, "0.5", "100.2", "0.05", "100", 1)),
        (1_000, "carry", fill(PERP, Side.SELL, "0.5", "100.9", "0.04", "101", 2)),
        (2_000, payment(PERP, 0.0001, "-0.5", "104.5", "0.005225")),
        (3_000, "statarb", fill(ETH, Side.BUY, "2", "50", "0.1", None, 3)),
        (4_000, payment(PERP, -0.0003, "-0.5", "103", "-0.01545")),
        (4_000, payment(ETH, 0.0001, "2.5", "48", "-0.012")),  # venue holds 0.5 more
        (5_000, "carry", fill(PERP, Side.BUY, "0.2", "103.1", "0.02", "103", 4)),
        (6_000, "statarb", fill(ETH, Side.SELL, "3", "47.9", "0.15", "48", 5)),
    ]
    for event in events:
        if len(event) == 3:
            ts_ms, strategy, f = event
            portfolio.apply_fill(strategy, f, f.instrument_id.kind)
            journal.record_fill(ts_ms, strategy, f)
            if f.client_order_id == "c1":
                ack = OrderAck("cid1", "v1", SPOT, Side.BUY, OrderStatus.FILLED, f.qty, f.qty,
                               f.price, ts_ms, (f,))  # fmt: skip
                journal.record_order_ack(ts_ms, ack)
        else:
            ts_ms, pay = event
            journal.record_funding(ts_ms, pay, portfolio.apply_funding(pay))
        portfolio.mark({PERP: D(104), SPOT: D(103)})
        journal.record_equity_snapshot(ts_ms, portfolio, 104.0)
    journal.record_strategy_state(6_000, "carry", '{"entry_z": 2.1}')
    journal.record_strategy_state(7_000, "carry", {"entry_z": 2.5, "open": True})
    journal.record_strategy_state(7_000, "statarb", {"pairs": []})
    journal.record_alert(7_000, "carry", Alert("funding_flip", "rate turned", {"rate": -0.0003}))
    journal.record_risk_event(7_000, "max_leverage", 2.0, 2.5, "carry", "i2", "gross 2.5x")
    journal.record_reconciliation(8_000, "bybit", ETH, D(-1), D("-0.5"), "adopted_venue")
    for intent_id, usd_s, longest_ms, past, outcome in (
        ("i1", 0.0, 0, False, "filled"),
        ("i2", 4_500.0, 90_000, True, "unwound"),
        ("i3", 12.5, 2_500, False, "open"),
    ):
        journal.record_pair_exposure(
            9_000, "carry", intent_id, leg_policy="sequential", legs=2, ts_opened_ms=1_000,
            unhedged_usd_s=usd_s, longest_unhedged_ms=longest_ms, max_unhedged_usd=usd_s / 10,
            naked_budget_usd_s=3_600.0, past_budget=past, outcome=outcome,
        )  # fmt: skip


def test_pair_exposure_rows_sum_up_per_strategy() -> None:
    with Journal.open(":memory:") as journal:
        run_scenario(journal, Portfolio(CASH))
        journal.record_pair_exposure(
            9_500, "statarb", "s1", leg_policy="simultaneous", legs=2, ts_opened_ms=9_000,
            unhedged_usd_s=1.0, longest_unhedged_ms=500, max_unhedged_usd=2.0,
            naked_budget_usd_s=0.0, past_budget=True, outcome="completed",
        )  # fmt: skip
        totals = journal.pair_exposure_by_strategy()
    # carry: 0 + 4,500 + 12.5 USD·s; longest 90 s; largest 450 USD; one past budget, one open.
    assert totals == {
        "carry": PairExposureTotals(3, 4_512.5, 90_000, 450.0, 1, 1),
        "statarb": PairExposureTotals(1, 1.0, 500, 2.0, 1, 0),
    }


def test_round_trip_of_fills_funding_and_readers() -> None:
    with Journal.open(":memory:") as journal:
        portfolio = Portfolio(CASH)
        run_scenario(journal, portfolio)
        fills = list(journal.iter_fills())
        assert [f.seq for f in fills] == [1, 2, 4, 7, 8]
        assert fills[0].strategy == "carry"
        assert fills[0].fill == fill(SPOT, Side.BUY, "0.5", "100.2", "0.05", "100", 1)
        assert fills[2].fill == fill(ETH, Side.BUY, "2", "50", "0.1", None, 3)
        pays = list(journal.iter_funding_payments())
        assert [(p.seq, p.ts_ms) for p in pays] == [(3, 2_000), (5, 4_000), (6, 4_000)]
        assert pays[2].payment == payment(ETH, 0.0001, "2.5", "48", "-0.012")
        # ETH: statarb holds 2 → share −0.0096; the venue's extra 0.5 (−0.0024) is unattributed
        allocations = journal.dump_rows("funding_allocations")
        assert [row[1:] for row in allocations[-2:]] == [
            (6, 4_000, "bybit:perp:ETHUSDT", "statarb", "-0.0096"),
            (6, 4_000, "bybit:perp:ETHUSDT", "unattributed", "-0.0024"),
        ]
        assert journal.meta() == {"mode": "paper", "config_hash": "abc"}
        assert journal.latest_strategy_states() == {
            "carry": {"entry_z": 2.5, "open": True},
            "statarb": {"pairs": []},
        }
        [intent] = journal.dump_rows("intents")
        assert intent[1:6] == (1_000, "carry", "i1", "enter", 1)
        assert intent[6] == (
            '[{"instrument":"binance:spot:BTCUSDT","target_qty":0.5},'
            '{"instrument":"binance:perp:BTCUSDT","target_qty":-0.5}]'
        )
        [alert] = journal.dump_rows("alerts")
        assert alert[1:] == (7_000, "carry", "funding_flip", "rate turned", '{"rate":-0.0003}')
        assert journal.dump_rows("reconciliation")[0][1:] == (
            8_000, "bybit", "bybit:perp:ETHUSDT", "-1", "-0.5", "adopted_venue",
        )  # fmt: skip
        assert journal.dump_rows("risk_events")[0][3:5] == (2.0, 2.5)
        counts = journal.counts()
        assert (counts["fills"], counts["funding_payments"], counts["intents"]) == (5, 3, 1)


def test_equity_series_matches_the_ledger() -> None:
    journal = Journal.open(":memory:")
    portfolio = Portfolio(CASH)
    run_scenario(journal, portfolio)
    series = journal.equity_series()
    assert [p.ts_ms for p in series] == [1_000, 1_000, 2_000, 3_000, 4_000, 4_000, 5_000, 6_000]
    last = series[-1]
    report = portfolio.pnl()
    assert last.equity_usd == portfolio.equity_usd()
    assert last.total_pnl_usd == report.total_usd
    assert last.equity_usd - last.initial_equity_usd == last.total_pnl_usd
    assert last.fees_usd == D("0.36")  # 0.05 + 0.04 + 0.1 + 0.02 + 0.15
    assert last.btc_price == 104.0
    assert last.gross_notional_usd == portfolio.gross_notional_usd()
    assert journal.latest_strategy_pnl() == {
        name: streams for name, streams in report.by_strategy.items()
    }
    journal.close()


def test_order_rows_inherit_their_context_and_count() -> None:
    journal = Journal.open(":memory:")
    request = OrderRequest("cid1", PERP, Side.SELL, D("0.5"), OrderType.LIMIT, D("100.5"))
    journal.record_order_request(1_000, "carry", "i1", "1", 0, request)
    ack = OrderAck(
        "cid1", "v9", PERP, Side.SELL, OrderStatus.FILLED, D("0.5"), D("0.5"), D("100.6"), 1_500
    )
    journal.record_order_ack(1_000, ack)
    rejected = OrderRequest("cid2", SPOT, Side.BUY, D(1))
    journal.record_order_request(1_000, "carry", "i1", "0", 1, rejected)
    journal.record_order_rejected(1_000, rejected, "-2019", "insufficient margin")
    rows = journal.dump_rows("orders")
    assert [r[13] for r in rows] == ["pending_new", "filled", "pending_new", "rejected"]
    filled = rows[1]
    assert filled[2:8] == ("cid1", "carry", "i1", "1", 0, "binance:perp:BTCUSDT")
    assert filled[10:17] == ("limit", "100.5", 0, "filled", "v9", "0.5", "100.6")
    assert rows[3][17:] == ("-2019", "insufficient margin")
    counts = journal.counts()
    assert (counts["orders"], counts["order_events"], counts["rejections"]) == (2, 4, 1)
    journal.close()


def test_file_journal_uses_wal_and_flushes_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "journal.sqlite"
    journal = Journal.open(path, batch_rows=3)
    assert journal.journal_mode == "wal"
    other = sqlite3.connect(path)
    try:
        journal.record_meta({"a": "1", "b": "2"})
        assert other.execute("SELECT count(*) FROM run_meta").fetchone()[0] == 0  # buffered
        journal.record_meta({"c": "3"})  # third row: batch committed
        assert other.execute("SELECT count(*) FROM run_meta").fetchone()[0] == 3
        journal.record_meta({"d": "4"})
        journal.flush()
        assert other.execute("SELECT count(*) FROM run_meta").fetchone()[0] == 4
        journal.record_meta({"e": "5"})
        journal.close()
        journal.close()  # idempotent
        assert other.execute("SELECT count(*) FROM run_meta").fetchone()[0] == 5
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()
    with pytest.raises(JournalError, match="closed"):
        journal.record_meta({"f": "6"})


def test_reopening_continues_the_booking_sequence(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as journal:
        journal.record_fill(1, "s", fill(PERP, Side.BUY, "1", "10", "0", None, 1))
        journal.record_funding(2, payment(PERP, 0.001, "1", "10", "-0.01"), {"s": D("-0.01")})
    with Journal.open(path) as journal:
        journal.record_fill(3, "s", fill(PERP, Side.SELL, "1", "11", "0", None, 2))
        assert [f.seq for f in journal.iter_fills()] == [1, 3]
        assert journal.meta() == {}


def test_same_calls_give_identical_journals() -> None:
    dumps = []
    for _ in range(2):
        with Journal.open(":memory:") as journal:
            run_scenario(journal, Portfolio(CASH))
            dumps.append({table: journal.dump_rows(table) for table in TABLES})
    assert dumps[0] == dumps[1]
    # every table was written (funding_reconciliation only by live runs: test_live_mode.py)
    assert all(dumps[0][t] for t in TABLES if t != "funding_reconciliation")


def test_replay_from_the_journal_rebuilds_the_live_ledger(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    live = Portfolio(CASH)
    with Journal.open(path) as journal:
        run_scenario(journal, live)
    marks = {SPOT: D(105), PERP: D(106), ETH: D(45)}
    live.mark(marks)
    with Journal.open(path) as journal:
        rebuilt = Portfolio.replay(CASH, journal.ledger_events(), marks)
    assert rebuilt.pnl() == live.pnl()
    assert rebuilt.cash_usd() == live.cash_usd()
    assert rebuilt.positions("carry") == live.positions("carry")
    assert rebuilt.positions("statarb") == live.positions("statarb") == {ETH: D(-1)}
    assert rebuilt.equity_usd() == live.equity_usd()
    assert rebuilt.funding_discrepancies == live.funding_discrepancies
    assert rebuilt.fill_counts == {"carry": 3, "statarb": 2}


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="newer") as info:
        Journal.open(path)
    assert info.value.found_version == SCHEMA_VERSION + 1
    assert isinstance(info.value, AgentError)


def test_foreign_database_and_garbage_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "other.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(JournalError, match="not a zerobeta journal"):
        Journal.open(foreign)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match="not a usable SQLite database"):
        Journal.open(garbage)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="batch_rows"):
        Journal.open(":memory:", batch_rows=0)
    with Journal.open(":memory:") as journal:
        with pytest.raises(ValueError, match="unknown journal table"):
            journal.dump_rows("sqlite_master")
        bad = PairIntent("i", (TargetPosition(PERP, float("nan")),), "enter")
        with pytest.raises(ValueError, match="JSON"):
            journal.record_intent(0, "s", bad)


_TARGET = st.floats(allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(st.sampled_from([SPOT, PERP, ETH]), _TARGET), min_size=1, max_size=25))
def test_intent_legs_are_the_json_of_the_instruments_text(
    legs: list[tuple[InstrumentId, float]],
) -> None:
    """The legs column is ``json.dumps`` (sorted keys, compact) of each leg's instrument as
    its plain text and its target, whatever the id type handed to the encoder (an InstrumentId
    is a str subclass: encoded as that text, never through ``repr``)."""
    intent = PairIntent("i", tuple(TargetPosition(i, q) for i, q in legs), "enter")
    with Journal.open(":memory:") as journal:
        journal.record_intent(0, "s", intent)
        (row,) = journal.dump_rows("intents")
    expected = [{"instrument": str.__str__(i), "target_qty": q} for i, q in legs]
    assert row[-1] == json.dumps(expected, sort_keys=True, separators=(",", ":"))
    assert [leg["instrument"] for leg in json.loads(row[-1])] == [str(i) for i, _ in legs]


def _oracle_legs_json(legs: tuple[TargetPosition, ...]) -> str:
    expected = [{"instrument": str.__str__(leg.instrument_id), "target_qty": leg.target_qty}
                for leg in legs]  # fmt: skip
    return json.dumps(expected, sort_keys=True, separators=(",", ":"))


_LEGS = st.lists(
    st.builds(
        TargetPosition, st.sampled_from([SPOT, PERP, ETH]), st.sampled_from([0.0, -0.0, 1.5])
    ),
    min_size=1,
    max_size=3,
).map(tuple)


@given(
    pool=st.lists(_LEGS, min_size=1, max_size=4),
    steps=st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 3), st.booleans()), max_size=12
    ),
)
def test_restated_legs_are_written_as_their_json(
    pool: list[tuple[TargetPosition, ...]], steps: list[tuple[str, int, bool]]
) -> None:
    """Intents that hand the same legs tuple again (kept text) or an equal new one (0.0 and
    -0.0 are equal, their texts are not) or other legs: each row is its legs' JSON."""
    with Journal.open(":memory:") as journal:
        expected = []
        for strategy, index, fresh in steps:
            legs = pool[index % len(pool)]
            if fresh:
                legs = tuple(TargetPosition(leg.instrument_id, leg.target_qty) for leg in legs)
            journal.record_intent(0, strategy, PairIntent("i", legs, "enter"))
            expected.append(_oracle_legs_json(legs))
        assert [row[-1] for row in journal.dump_rows("intents")] == expected


def test_equal_legs_of_another_zero_sign_are_written_as_theirs() -> None:
    with Journal.open(":memory:") as journal:
        for target in (0.0, -0.0, 0.0):
            journal.record_intent(0, "s", PairIntent("i", (TargetPosition(PERP, target),), "x"))
        rows = [row[-1] for row in journal.dump_rows("intents")]
    assert [row.split(":")[-1] for row in rows] == ["0.0}]", "-0.0}]", "0.0}]"]


def test_legs_of_a_list_are_encoded_each_time() -> None:
    legs = [TargetPosition(PERP, 1.0)]
    intent = PairIntent("i", legs, "enter")  # type: ignore[arg-type]  # a strategy's slip
    with Journal.open(":memory:") as journal:
        journal.record_intent(0, "s", intent)
        legs[0] = TargetPosition(PERP, 2.0)
        journal.record_intent(1, "s", intent)
        rows = [row[-1] for row in journal.dump_rows("intents")]
    assert [json.loads(row)[0]["target_qty"] for row in rows] == [1.0, 2.0]


def test_an_equity_snapshot_of_an_unchanged_ledger_writes_the_same_texts(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    portfolio = Portfolio(CASH)
    portfolio.apply_fill("carry", fill(PERP, Side.SELL, "0.5", "100.9", "0.04", "101", 1),
                         InstrumentKind.PERP)  # fmt: skip
    with Journal.open(path) as journal:
        portfolio.mark({PERP: D("104.5")})
        journal.record_equity_snapshot(1_000, portfolio, 104.5)
        portfolio.mark({PERP: D("104.5")})  # nothing moved
        journal.record_equity_snapshot(2_000, portfolio, 104.5)
        portfolio.mark({PERP: D("103")})
        journal.record_equity_snapshot(3_000, portfolio, 103.0)
    conn = sqlite3.connect(path)
    equity = conn.execute(
        "SELECT ts_ms, equity_usd, unrealized_usd, btc_price FROM equity_snapshots ORDER BY ts_ms"
    ).fetchall()
    by_strategy = conn.execute(
        "SELECT ts_ms, strategy, total_pnl_usd FROM strategy_pnl_snapshots ORDER BY ts_ms"
    ).fetchall()
    conn.close()
    # cash 15,000 + 50.45 − 0.04; position −0.5 × mark; unrealized −0.5 × mark + 50.5
    assert equity == [
        (1_000, "14998.16", "-1.75", 104.5),
        (2_000, "14998.16", "-1.75", 104.5),
        (3_000, "14998.91", "-1.0", 103.0),
    ]
    # total = price − fees − slippage (sold 0.5 at 100.9 against 101: 0.05 adverse)
    assert by_strategy == [
        (1_000, "carry", "-1.84"),
        (2_000, "carry", "-1.84"),
        (3_000, "carry", "-1.09"),
    ]
