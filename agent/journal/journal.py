"""Append-only SQLite journal (WAL): what the agent decided, sent, got and held.

One table per record kind; rows are only ever inserted (``id INTEGER PRIMARY KEY
AUTOINCREMENT``, so ids follow insertion order). Every row carries ``ts_ms`` from the agent
clock, never wall time, so two runs of the same replay write identical journals row for row
(:meth:`Journal.dump_rows`). Decimals are stored as TEXT (exact), floats as REAL, JSON with
sorted keys. Fills and funding payments also carry ``seq``, one counter over both tables, so
:meth:`Journal.ledger_events` can replay the ledger in booking order
(:meth:`agent.portfolio.ledger.Portfolio.replay`).

Writes are buffered and committed in batches: :meth:`Journal.flush` (also called by
:meth:`Journal.close`, by every reader, and whenever ``batch_rows`` rows are pending). A
caller that needs a row durable before acting (live mode: an intent before its orders are
sent) calls :meth:`Journal.flush` or opens the journal with ``batch_rows=1``.

Nothing stored here takes a secret: the record methods accept only market, order, fill and
P&L value types, strategy state and alert text, and run metadata (config hash, mode, window).

Errors: :class:`JournalError` (cannot open, unknown schema version, write failed, closed).

Layout: :mod:`agent.journal.schema` (tables and columns, creating and checking the schema),
:mod:`agent.journal.store` (connection and batched commits), :mod:`agent.journal.write` (the
``record_*`` writers); this module holds the readers (replay, resume, summary) and
:class:`Journal` itself.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, NamedTuple

from agent.errors import JournalError
from agent.journal.schema import MEMORY, SCHEMA, SCHEMA_VERSION, STREAM_COLUMNS, TABLES
from agent.journal.write import PENDING_NEW, JournalWriter
from agent.portfolio.ledger import PnlStreams
from venues.model import Fill, FundingPayment, InstrumentId, Liquidity, Side

__all__ = [
    "MEMORY",
    "PENDING_NEW",
    "SCHEMA_VERSION",
    "TABLES",
    "EquityPoint",
    "Journal",
    "JournalError",
    "JournalFill",
    "JournalFunding",
]


class JournalFill(NamedTuple):
    """A journaled fill: booking sequence number, agent time (epoch ms), owning strategy."""

    seq: int
    ts_ms: int
    strategy: str
    fill: Fill


class JournalFunding(NamedTuple):
    """A journaled funding payment: booking sequence number and agent time (epoch ms)."""

    seq: int
    ts_ms: int
    payment: FundingPayment


class EquityPoint(NamedTuple):
    """One equity snapshot: agent time (epoch ms), USD amounts as Decimal, BTC price (USD)."""

    ts_ms: int
    equity_usd: Decimal
    initial_equity_usd: Decimal
    price_spot_usd: Decimal
    price_perp_usd: Decimal
    funding_usd: Decimal
    fees_usd: Decimal
    slippage_usd: Decimal
    total_pnl_usd: Decimal
    realized_usd: Decimal
    unrealized_usd: Decimal
    gross_notional_usd: Decimal
    net_delta_usd: Decimal
    btc_price: float | None


class Journal(JournalWriter):
    """Append-only SQLite journal; create with :meth:`open`.

    Parameters
    ----------
    connection : sqlite3.Connection
        An open connection whose schema is current (as :meth:`open` leaves it).
    path : str
        For error messages.
    batch_rows : int
        Pending rows that trigger a commit.
    """

    def iter_fills(self) -> Iterator[JournalFill]:
        """Every fill in booking order."""
        sql = "SELECT seq, ts_ms, strategy, client_order_id, venue_order_id, trade_id, instrument,"
        sql += " side, qty, price, fee_usd, reference_price, liquidity, ts_event_ms"
        for row in self._read(sql + " FROM fills ORDER BY seq"):
            yield JournalFill(row[0], row[1], row[2], _fill(row))

    def iter_funding_payments(self) -> Iterator[JournalFunding]:
        """Every funding payment in booking order."""
        sql = "SELECT seq, ts_ms, instrument, ts_funding_ms, rate, interval_s, position_qty,"
        sql += " mark_price, amount_usd FROM funding_payments ORDER BY seq"
        for row in self._read(sql):
            payment = FundingPayment(
                InstrumentId.parse(row[2]), row[3], row[4], row[5],
                Decimal(row[6]), Decimal(row[7]), Decimal(row[8]),
            )  # fmt: skip
            yield JournalFunding(row[0], row[1], payment)

    def ledger_events(self) -> Iterator[tuple[str, Fill] | FundingPayment]:
        """Fills (as ``(strategy, fill)``) and funding payments merged in booking order, for
        :meth:`agent.portfolio.ledger.Portfolio.replay`."""
        fills: Iterator[tuple[int, tuple[str, Fill] | FundingPayment]] = (
            (f.seq, (f.strategy, f.fill)) for f in self.iter_fills()
        )
        funding: Iterator[tuple[int, tuple[str, Fill] | FundingPayment]] = (
            (p.seq, p.payment) for p in self.iter_funding_payments()
        )
        for _, event in heapq.merge(fills, funding, key=lambda item: item[0]):
            yield event

    def equity_series(self) -> list[EquityPoint]:
        """Every equity snapshot, oldest first."""
        names = [c for c, _ in SCHEMA["equity_snapshots"]]
        rows = self._read(f"SELECT {', '.join(names)} FROM equity_snapshots ORDER BY id")  # noqa: S608 - column names are constants
        return [EquityPoint._make((row[0], *map(Decimal, row[1:-1]), row[-1])) for row in rows]

    def latest_strategy_pnl(self) -> dict[str, PnlStreams]:
        """Each strategy's P&L streams from its latest snapshot, USD."""
        streams = ", ".join(c for c, _ in STREAM_COLUMNS if c != "total_pnl_usd")
        sql = f"SELECT strategy, {streams} FROM strategy_pnl_snapshots WHERE id IN"  # noqa: S608 - constants
        sql += " (SELECT max(id) FROM strategy_pnl_snapshots GROUP BY strategy) ORDER BY strategy"
        return {row[0]: PnlStreams(*(Decimal(v) for v in row[1:])) for row in self._read(sql)}

    def latest_strategy_states(self) -> dict[str, dict[str, Any]]:
        """Each strategy's latest journaled state (decoded JSON)."""
        sql = "SELECT strategy, state_json FROM strategy_state WHERE id IN"
        sql += " (SELECT max(id) FROM strategy_state GROUP BY strategy) ORDER BY strategy"
        return {row[0]: json.loads(row[1]) for row in self._read(sql)}

    def meta(self) -> dict[str, str]:
        """Run metadata; the latest value of each key."""
        return {
            key: value for key, value in self._read("SELECT key, value FROM run_meta ORDER BY id")
        }

    def counts(self) -> dict[str, int]:
        """Row counts for the summary: ``orders`` (distinct client order ids), ``order_events``,
        ``rejections`` (orders the venue rejected), ``fills``, ``funding_payments``,
        ``intents``, ``risk_events``, ``alerts``, ``reconciliation``."""
        queries = {
            "orders": "SELECT count(DISTINCT client_order_id) FROM orders",
            "order_events": "SELECT count(*) FROM orders",
            "rejections": "SELECT count(DISTINCT client_order_id) FROM orders"
            " WHERE status = 'rejected'",
        }
        for table in (
            "fills",
            "funding_payments",
            "intents",
            "risk_events",
            "alerts",
            "reconciliation",
        ):
            queries[table] = f"SELECT count(*) FROM {table}"  # noqa: S608 - constant table names
        return {name: int(self._read(sql)[0][0]) for name, sql in queries.items()}

    def dump_rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of ``table`` (including ``id``) in id order, for determinism tests.

        Raises
        ------
        ValueError
            If ``table`` is not a journal table.
        """
        if table not in SCHEMA:
            raise ValueError(f"unknown journal table {table!r}; known: {', '.join(TABLES)}")
        return [tuple(row) for row in self._read(f"SELECT * FROM {table} ORDER BY id")]  # noqa: S608 - checked above


def _fill(row: tuple[Any, ...]) -> Fill:
    """A ``Fill`` from an ``iter_fills`` row (columns from ``seq`` on)."""
    return Fill(
        instrument_id=InstrumentId.parse(row[6]),
        client_order_id=row[3],
        venue_order_id=row[4],
        trade_id=row[5],
        side=Side(row[7]),
        qty=Decimal(row[8]),
        price=Decimal(row[9]),
        fee_usd=Decimal(row[10]),
        liquidity=Liquidity(row[12]),
        ts_event_ms=row[13],
        reference_price=None if row[11] is None else Decimal(row[11]),
    )
