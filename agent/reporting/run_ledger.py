"""A run's ledger rebuilt from its journal, read-only, with the rows the reports need.

:func:`read_run_ledger` opens the journal with SQLite's ``mode=ro`` URI (nothing written, no
schema created, no lock taken, so it works beside a running agent) and reads, in one read
transaction: the run metadata, every fill (booking order, with the pair intent its order
belonged to), every funding payment and its split per strategy. The ledger is then rebuilt
exactly as ``zerobeta summary`` does (``Portfolio.replay`` of the fills and funding payments
in booking order, marked at the run's final marks), so every amount here is the ledger's.

A run still going has no final marks in the journal yet (or only those of an earlier stop it
was resumed from, with rows after them): its open positions are then valued at the reference
price of their instrument's last fill (:attr:`RunLedger.final_marks` False).

Errors: :class:`~agent.errors.JournalError` when the file is missing, not a zerobeta journal,
of a newer schema version or unreadable; :class:`~agent.errors.AgentError` when the ledger
rebuilt from the journal does not reproduce the last equity snapshot of a finished run.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from agent.errors import AgentError, JournalError
from agent.journal.journal import (
    FILLS_IN_BOOKING_ORDER_SQL,
    FUNDING_IN_BOOKING_ORDER_SQL,
    JournalFill,
    JournalFunding,
    fills_from_rows,
    funding_from_rows,
)
from agent.journal.schema import SCHEMA_VERSION
from agent.portfolio.ledger import Portfolio
from venues.model import Fill, FundingPayment, InstrumentId


@dataclass(frozen=True, slots=True)
class TaggedFill:
    """A journaled fill and the pair intent of its order.

    Attributes
    ----------
    booked : JournalFill
        Booking sequence number, agent time (epoch ms UTC), strategy, the fill.
    intent_id : str
        The pair intent of the fill's order (``""`` when the order has none, e.g. a flatten
        by the start-up reconciliation).
    intent_instruments : tuple[str, ...]
        Instrument ids of that intent's legs, in the intent's order (the fill's own
        instrument alone when the order has no intent).
    """

    booked: JournalFill
    intent_id: str
    intent_instruments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FundingShare:
    """One strategy's share of one funding payment (``funding_allocations`` row).

    ``seq`` is the payment's booking sequence number (shared with the fills), ``ts_ms`` agent
    time (epoch ms UTC), ``amount_usd`` the share, received positive, USD.
    """

    seq: int
    ts_ms: int
    instrument: str
    strategy: str
    amount_usd: Decimal


@dataclass(frozen=True, slots=True)
class RunLedger:
    """A journal's ledger and the journal rows behind it.

    Attributes
    ----------
    journal_path : str
    portfolio : Portfolio
        The ledger rebuilt from the fills and funding payments, at the run's final marks.
    final_marks : bool
        True when the journal holds the run's final marks (a finished run); False when open
        positions are valued at their last fill's reference price (a run still going).
    fills : tuple[TaggedFill, ...]
        Every fill, booking order.
    funding_shares : tuple[FundingShare, ...]
        Every strategy share of every funding payment, booking order.
    funding_payments : tuple[tuple[int, FundingPayment], ...]
        Every funding payment with its agent time (epoch ms UTC), booking order.
    """

    journal_path: str
    portfolio: Portfolio
    final_marks: bool
    fills: tuple[TaggedFill, ...]
    funding_shares: tuple[FundingShare, ...]
    funding_payments: tuple[tuple[int, FundingPayment], ...]


def read_run_ledger(journal_path: Path) -> RunLedger | None:
    """The ledger of the run journaled at ``journal_path``; None if the journal has no run
    metadata (initial cash), as in a journal written by a test without a run.

    Raises
    ------
    JournalError
        Missing file, not a zerobeta journal, newer schema version, or a read failure.
    AgentError
        The ledger of a finished run does not reproduce its last equity snapshot.
    """
    name = str(journal_path)
    with contextlib.closing(_open_read_only(journal_path)) as conn, _read(conn, name):
        meta = dict(conn.execute("SELECT key, value FROM run_meta ORDER BY id").fetchall())
        if "initial_cash_json" not in meta:
            return None
        fills = _tagged_fills(conn)
        payments = _payments(conn)
        shares = _shares(conn)
        last = conn.execute(
            "SELECT ts_ms, equity_usd FROM equity_snapshots ORDER BY id DESC LIMIT 1"
        ).fetchone()
    cash = {k: Decimal(v) for k, v in json.loads(meta["initial_cash_json"]).items()}
    finished = _finished(meta, [last[0] if last else None, *_last_times(fills, payments)])
    marks = {
        InstrumentId.parse(k): Decimal(v)
        for k, v in json.loads(meta["final_marks_json"] if finished else "{}").items()
    }
    portfolio = Portfolio.replay(cash, _events(fills, payments), marks)
    if finished and last is not None and portfolio.equity_usd() != Decimal(last[1]):
        raise AgentError(
            f"{name}: ledger rebuilt from fills and funding gives equity "
            f"{portfolio.equity_usd()} USD but the last snapshot says {last[1]} USD"
        )
    return RunLedger(
        journal_path=name,
        portfolio=portfolio,
        final_marks=finished,
        fills=tuple(fills),
        funding_shares=tuple(shares),
        funding_payments=tuple((ts, p) for _, ts, p in payments),
    )


def _last_times(fills: list[TaggedFill], payments: list[JournalFunding]) -> list[int | None]:
    return [fills[-1].booked.ts_ms if fills else None, payments[-1].ts_ms if payments else None]


def _finished(meta: dict[str, str], row_times: list[int | None]) -> bool:
    """True when the run wrote its end (``window_last_ms`` with the final marks) and nothing
    after it (a run resumed after a stop has written past its old end)."""
    window_last = meta.get("window_last_ms", "")
    if not window_last.isdigit() or "final_marks_json" not in meta:
        return False
    return all(t is None or t <= int(window_last) for t in row_times)


def _open_read_only(path: Path) -> sqlite3.Connection:
    name = str(path)
    if not path.is_file():
        raise JournalError("no journal file at this path", path=name)
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
        found = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    except sqlite3.Error as err:
        raise JournalError(f"not a zerobeta journal ({err})", path=name) from err
    # Migrations only add, so a journal of an earlier release reads the same.
    if not isinstance(found, int) or found > SCHEMA_VERSION:
        conn.close()
        raise JournalError(
            f"schema version {found}, this zerobeta reads up to {SCHEMA_VERSION}",
            path=name,
            found_version=found if isinstance(found, int) else None,
        )
    return conn


@contextlib.contextmanager
def _read(conn: sqlite3.Connection, path: str) -> Iterator[None]:
    """One read transaction: every query sees the same committed state of the file."""
    try:
        conn.execute("BEGIN")
        yield
    except sqlite3.Error as err:
        raise JournalError(f"read failed: {err}", path=path) from err
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _tagged_fills(conn: sqlite3.Connection) -> list[TaggedFill]:
    intent_of = dict(
        conn.execute("SELECT client_order_id, intent_id FROM orders ORDER BY id").fetchall()
    )
    legs: dict[tuple[str, str], tuple[str, ...]] = {}
    for strategy, intent_id, legs_json in conn.execute(
        "SELECT strategy, intent_id, legs_json FROM intents ORDER BY id"
    ):
        legs.setdefault(
            (strategy, intent_id), tuple(leg["instrument"] for leg in json.loads(legs_json))
        )
    result = []
    for booked in fills_from_rows(conn.execute(FILLS_IN_BOOKING_ORDER_SQL)):
        intent_id = intent_of.get(booked.fill.client_order_id, "")
        own = (str(booked.fill.instrument_id),)
        result.append(TaggedFill(booked, intent_id, legs.get((booked.strategy, intent_id), own)))
    return result


def _payments(conn: sqlite3.Connection) -> list[JournalFunding]:
    return list(funding_from_rows(conn.execute(FUNDING_IN_BOOKING_ORDER_SQL)))


def _shares(conn: sqlite3.Connection) -> list[FundingShare]:
    sql = "SELECT seq, ts_ms, instrument, strategy, amount_usd FROM funding_allocations"
    return [
        FundingShare(seq, ts_ms, instrument, strategy, Decimal(amount))
        for seq, ts_ms, instrument, strategy, amount in conn.execute(sql + " ORDER BY seq, id")
    ]


def _events(
    fills: list[TaggedFill], payments: list[JournalFunding]
) -> Iterator[tuple[str, Fill] | FundingPayment]:
    """Fills and funding payments merged in booking order (as ``Journal.ledger_events``)."""
    tagged: Iterator[tuple[int, tuple[str, Fill] | FundingPayment]] = (
        (f.booked.seq, (f.booked.strategy, f.booked.fill)) for f in fills
    )
    paid: Iterator[tuple[int, tuple[str, Fill] | FundingPayment]] = (
        (seq, p) for seq, _, p in payments
    )
    for _, event in heapq.merge(tagged, paid, key=lambda item: item[0]):
        yield event
