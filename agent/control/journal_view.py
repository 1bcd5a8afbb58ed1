"""A journal opened read-only, and the facts ``zerobeta status`` reads from it.

The file is opened with SQLite's ``mode=ro`` URI: nothing is written, no schema is created, no
lock of :mod:`agent.journal.lock` is taken, so it works on a finished journal and on one a
running agent is writing (WAL: a reader sees the last committed transaction and never blocks
the writer). Every query runs in one read transaction, so the facts are one consistent
snapshot of the file. Rows the writer has not committed yet are not seen: a replay commits in
batches, a live run commits each order, fill and funding payment as it arrives and the rest
with every hourly step (:mod:`agent.journal.journal`).

The on-disk format is :data:`agent.journal.schema.SCHEMA`; only its column names are relied
on here. Times are the agent clock's (epoch ms UTC), Decimals exact.

Errors: :class:`~agent.errors.JournalError` when the file cannot be opened read-only or is
not a zerobeta journal.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.errors import JournalError
from agent.journal.journal import (
    FILLS_IN_BOOKING_ORDER_SQL,
    FUNDING_IN_BOOKING_ORDER_SQL,
    JournalFill,
    JournalFunding,
    fills_from_rows,
    funding_from_rows,
)
from agent.journal.schema import STREAM_COLUMNS
from agent.portfolio.ledger import ledger_context
from venues.model import Fill, FundingPayment, InstrumentId

DAY_MS = 86_400_000
RESUME_KEY = "resume_json"
"""``run_meta`` key of the resume checkpoint (:mod:`agent.engine.resume`)."""
FINAL_STATUSES = ("filled", "canceled", "rejected", "expired")
"""Order states after which nothing more can fill (:attr:`venues.model.OrderStatus.is_final`)."""
STREAMS = tuple(c for c, _ in STREAM_COLUMNS)
"""P&L stream columns of the snapshots, USD (``total_pnl_usd`` among them)."""

LedgerEvent = tuple[str, Fill] | FundingPayment


@dataclass(frozen=True, slots=True)
class EquityRow:
    """One equity snapshot: agent time, equity and its P&L streams (USD, exact)."""

    ts_ms: int
    equity_usd: Decimal
    initial_equity_usd: Decimal
    streams: Mapping[str, Decimal]
    gross_notional_usd: Decimal
    net_delta_usd: Decimal


@dataclass(frozen=True, slots=True)
class OpenLeg:
    """A strategy's open position in one instrument, as its fills left it.

    Attributes
    ----------
    qty : Decimal
        Signed, base units.
    intent_id : str
        The pair intent whose fill opened it from flat (or flipped its side).
    opened_ms, opened_seq : int
        Agent time and booking sequence number of that fill.
    funding_usd : Decimal
        Funding booked to the strategy on this instrument since then (received positive), USD.
    """

    strategy: str
    instrument: InstrumentId
    qty: Decimal
    intent_id: str
    opened_ms: int
    opened_seq: int
    funding_usd: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class LatestFunding:
    """The newest funding settlement the journal holds for a perp (from its payments)."""

    rate: float
    interval_s: int
    ts_funding_ms: int


@dataclass(frozen=True, slots=True)
class PriceSeen:
    """The newest price the journal holds for an instrument.

    ``source``: ``final_marks`` (the marks written at the end of a run), ``funding`` (the mark
    of a funding settlement) or ``fill`` (the reference price of a fill).
    """

    price: Decimal
    ts_ms: int
    source: str


@dataclass(frozen=True, slots=True)
class BreakerRow:
    """A circuit breaker that tripped: rule, limit and drawdown (fractions), agent time."""

    rule: str
    limit_frac: float
    value_frac: float
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderCounts:
    """``sent``: distinct client order ids; ``rejected``: those a venue refused;
    ``unresolved``: those whose latest state is not final (outcome unknown or still working);
    ``risk_rejections``: intents a risk rule refused."""

    sent: int
    rejected: int
    unresolved: int
    risk_rejections: int


@dataclass(frozen=True)
class JournalFacts:
    """Everything ``zerobeta status`` needs from one journal, read in one transaction.

    Attributes
    ----------
    first_ms, last_ms : int | None
        The journal's first and last row (agent clock; ``last_ms`` also counts the
        checkpoint's step and the end of a finished run); None for an empty journal.
    finished : bool
        The run wrote its end (``window_last_ms``) and nothing after it.
    clock, now_ms : str, int
        The status clock: ``"wall"`` (the caller's wall time, for a run on live data) or
        ``"journal"`` (``last_ms``: a replay's simulated time), epoch ms UTC.
    day_start_ms : int
        00:00 UTC of the day of ``now_ms``.
    latest, day_open : EquityRow | None
        The newest snapshot, and the newest one at or before ``day_start_ms``.
    peak_equity_usd : Decimal | None
        Highest snapshot equity (the initial equity included).
    strategy_latest, strategy_day_open : Mapping[str, Mapping[str, Decimal]]
        Each strategy's P&L streams at its newest snapshot / at or before ``day_start_ms``.
    events : list
        Fills (``(strategy, fill)``) and funding payments in booking order, for
        :meth:`agent.portfolio.ledger.Portfolio.replay`.
    """

    path: str
    meta: Mapping[str, str]
    checkpoint: Mapping[str, Any] | None
    first_ms: int | None
    last_ms: int | None
    finished: bool
    clock: str
    now_ms: int
    day_start_ms: int
    latest: EquityRow | None
    day_open: EquityRow | None
    peak_equity_usd: Decimal | None
    strategy_latest: Mapping[str, Mapping[str, Decimal]]
    strategy_day_open: Mapping[str, Mapping[str, Decimal]]
    events: list[LedgerEvent]
    legs: list[OpenLeg]
    funding: Mapping[InstrumentId, LatestFunding]
    prices: Mapping[InstrumentId, PriceSeen]
    breakers: list[BreakerRow]
    orders: OrderCounts
    initial_cash_usd: Mapping[str, Decimal] = field(default_factory=dict)


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the journal at ``path`` (``mode=ro``; autocommit, so the
    caller opens its own read transaction).

    Raises
    ------
    JournalError
        If the file is missing, cannot be opened read-only or is not a zerobeta journal.
    """
    name = str(path)
    if not path.is_file():
        raise JournalError("no such file", path=name)
    try:
        conn = sqlite3.connect(
            path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None, timeout=5.0
        )
    except sqlite3.Error as err:
        raise JournalError(f"cannot open read-only: {err}", path=name) from err
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as err:
        conn.close()
        raise JournalError(f"not a readable SQLite database: {err}", path=name) from err
    if not {"schema_version", "run_meta", "equity_snapshots", "fills", "orders"} <= tables:
        conn.close()
        raise JournalError("not a zerobeta journal", path=name)
    return conn


def read_facts(path: Path, wall_ms: int | None = None) -> JournalFacts:
    """Read the journal at ``path`` (read-only, one transaction).

    Parameters
    ----------
    path : Path
    wall_ms : int | None
        Wall time, epoch ms UTC: the status clock of a run on live data (``run_meta`` source
        ``live``), whose UTC day is "today". A replay's status clock is its journal's last row
        (simulated time), as is any run's when ``wall_ms`` is None.

    Raises
    ------
    JournalError
        If the journal cannot be opened or read (:func:`open_read_only`).
    """
    with contextlib.closing(open_read_only(path)) as conn, _read_transaction(conn, str(path)):
        return _facts(conn, str(path), wall_ms)


@contextlib.contextmanager
def _read_transaction(conn: sqlite3.Connection, path: str) -> Iterator[None]:
    try:
        conn.execute("BEGIN")
        yield
    except sqlite3.Error as err:
        raise JournalError(f"read failed: {err}", path=path) from err
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _facts(conn: sqlite3.Connection, path: str, wall_ms: int | None) -> JournalFacts:
    meta = {k: v for k, v in conn.execute("SELECT key, value FROM run_meta ORDER BY id")}
    checkpoint = _checkpoint(meta)
    first_ms, rows_last_ms = _span(conn, checkpoint)
    window_last = meta.get("window_last_ms", "")
    finished = window_last.isdigit() and int(window_last) >= (rows_last_ms or 0)
    lasts = [t for t in (rows_last_ms, int(window_last) if finished else None) if t is not None]
    last_ms = max(lasts) if lasts else None
    wall = wall_ms is not None and meta.get("source") == "live"
    now_ms = wall_ms if wall and wall_ms is not None else (last_ms or 0)
    day_start_ms = now_ms - now_ms % DAY_MS
    fills = _fills(conn)
    payments = _payments(conn)
    return JournalFacts(
        path=path,
        meta=meta,
        checkpoint=checkpoint,
        first_ms=first_ms,
        last_ms=last_ms,
        finished=finished,
        clock="wall" if wall else "journal",
        now_ms=now_ms,
        day_start_ms=day_start_ms,
        latest=_snapshot(conn, None),
        day_open=_snapshot(conn, day_start_ms),
        peak_equity_usd=_peak(conn),
        strategy_latest=_strategy_streams(conn, None),
        strategy_day_open=_strategy_streams(conn, day_start_ms),
        events=_merge(fills, payments),
        legs=_open_legs(conn, fills),
        funding=_latest_funding(conn),
        prices=_prices(meta, fills, payments),
        breakers=[
            BreakerRow(rule, limit, value, ts)
            for ts, rule, limit, value in conn.execute(
                "SELECT ts_ms, rule, limit_value, value FROM risk_events"
                " WHERE detail = 'breaker' ORDER BY id"
            )
        ],
        orders=_order_counts(conn),
        initial_cash_usd=_initial_cash(meta),
    )


def _checkpoint(meta: Mapping[str, str]) -> Mapping[str, Any] | None:
    text = meta.get(RESUME_KEY)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None  # a damaged checkpoint: the status falls back on the rows
    return value if isinstance(value, dict) else None


def _initial_cash(meta: Mapping[str, str]) -> dict[str, Decimal]:
    try:
        return {k: Decimal(v) for k, v in json.loads(meta["initial_cash_json"]).items()}
    except (KeyError, ValueError, TypeError, ArithmeticError, AttributeError):
        return {}


_TIMED_TABLES = ("equity_snapshots", "orders", "fills", "funding_payments", "alerts")


def _span(
    conn: sqlite3.Connection, checkpoint: Mapping[str, Any] | None
) -> tuple[int | None, int | None]:
    """First and last agent time of the journal's rows and checkpoint (rows are appended in
    clock order)."""
    firsts: list[int] = []
    lasts: list[int] = []
    for table in _TIMED_TABLES:
        sql = f"SELECT ts_ms FROM {table} ORDER BY id"  # noqa: S608 - constant table names
        first = conn.execute(sql + " LIMIT 1").fetchone()
        last = conn.execute(sql + " DESC LIMIT 1").fetchone()
        if first is not None:
            firsts.append(int(first[0]))
            lasts.append(int(last[0]))
    if checkpoint is not None and isinstance(checkpoint.get("last_step_ms"), int):
        lasts.append(checkpoint["last_step_ms"])
    return (min(firsts) if firsts else None), (max(lasts) if lasts else None)


_EQUITY_COLUMNS = ("ts_ms", "equity_usd", "initial_equity_usd", *STREAMS,
                   "gross_notional_usd", "net_delta_usd")  # fmt: skip


def _snapshot(conn: sqlite3.Connection, at_or_before_ms: int | None) -> EquityRow | None:
    sql = f"SELECT {', '.join(_EQUITY_COLUMNS)} FROM equity_snapshots"  # noqa: S608 - constants
    params: tuple[int, ...] = ()
    if at_or_before_ms is not None:
        sql += " WHERE ts_ms <= ?"
        params = (at_or_before_ms,)
    row = conn.execute(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
    if row is None:
        return None
    streams = {name: Decimal(v) for name, v in zip(STREAMS, row[3 : 3 + len(STREAMS)], strict=True)}
    return EquityRow(
        int(row[0]), Decimal(row[1]), Decimal(row[2]), streams, Decimal(row[-2]), Decimal(row[-1])
    )


def _peak(conn: sqlite3.Connection) -> Decimal | None:
    rows = conn.execute("SELECT equity_usd, initial_equity_usd FROM equity_snapshots").fetchall()
    if not rows:
        return None
    return max(max(Decimal(e), Decimal(i)) for e, i in rows)


def _strategy_streams(
    conn: sqlite3.Connection, at_or_before_ms: int | None
) -> dict[str, dict[str, Decimal]]:
    where = "" if at_or_before_ms is None else " WHERE ts_ms <= ?"
    params: tuple[int, ...] = () if at_or_before_ms is None else (at_or_before_ms,)
    latest = f"SELECT max(id) FROM strategy_pnl_snapshots{where} GROUP BY strategy"  # noqa: S608 - constants
    sql = f"SELECT strategy, {', '.join(STREAMS)} FROM strategy_pnl_snapshots"  # noqa: S608 - constants
    sql += f" WHERE id IN ({latest})"
    return {
        row[0]: {name: Decimal(v) for name, v in zip(STREAMS, row[1:], strict=True)}
        for row in conn.execute(sql + " ORDER BY strategy", params)
    }


def _fills(conn: sqlite3.Connection) -> list[JournalFill]:
    return list(fills_from_rows(conn.execute(FILLS_IN_BOOKING_ORDER_SQL)))


def _payments(conn: sqlite3.Connection) -> list[JournalFunding]:
    return list(funding_from_rows(conn.execute(FUNDING_IN_BOOKING_ORDER_SQL)))


def _merge(fills: list[JournalFill], payments: list[JournalFunding]) -> list[LedgerEvent]:
    """Fills and payments in booking order (``seq``: one counter over both tables)."""
    keyed: list[tuple[int, LedgerEvent]] = [(f.seq, (f.strategy, f.fill)) for f in fills]
    keyed += [(seq, payment) for seq, _, payment in payments]
    keyed.sort(key=lambda item: item[0])
    return [event for _, event in keyed]


def _open_legs(conn: sqlite3.Connection, fills: list[JournalFill]) -> list[OpenLeg]:
    """Walk the fills in booking order per (strategy, instrument): the open quantity, and the
    intent and fill that opened it from flat (or flipped it); then the funding booked to it
    since."""
    intents = dict(
        conn.execute("SELECT client_order_id, intent_id FROM orders GROUP BY client_order_id")
    )
    legs: dict[tuple[str, InstrumentId], OpenLeg] = {}
    with ledger_context():
        for row in fills:
            key = (row.strategy, row.fill.instrument_id)
            held = legs.get(key)
            before = held.qty if held is not None else Decimal(0)
            after = before + row.fill.side.sign * row.fill.qty
            if held is None or before == 0 or before * after < 0:
                intent = str(intents.get(row.fill.client_order_id, ""))
                legs[key] = OpenLeg(row.strategy, key[1], after, intent, row.ts_ms, row.seq)
            else:
                legs[key] = OpenLeg(
                    row.strategy, key[1], after, held.intent_id, held.opened_ms, held.opened_seq
                )
        open_legs = {k: leg for k, leg in legs.items() if leg.qty != 0}
        funding: dict[tuple[str, InstrumentId], Decimal] = {}
        for seq, instrument, strategy, amount in conn.execute(
            "SELECT seq, instrument, strategy, amount_usd FROM funding_allocations ORDER BY id"
        ):
            key = (strategy, InstrumentId.parse(instrument))
            leg = open_legs.get(key)
            if leg is not None and seq > leg.opened_seq:
                funding[key] = funding.get(key, Decimal(0)) + Decimal(amount)
    return [
        OpenLeg(
            leg.strategy,
            leg.instrument,
            leg.qty,
            leg.intent_id,
            leg.opened_ms,
            leg.opened_seq,
            funding.get(key, Decimal(0)),
        )
        for key, leg in sorted(open_legs.items())
    ]


def _latest_funding(conn: sqlite3.Connection) -> dict[InstrumentId, LatestFunding]:
    sql = "SELECT instrument, rate, interval_s, ts_funding_ms FROM funding_payments WHERE id IN"
    sql += " (SELECT max(id) FROM funding_payments GROUP BY instrument)"
    return {
        InstrumentId.parse(instrument): LatestFunding(float(rate), int(interval_s), int(ts))
        for instrument, rate, interval_s, ts in conn.execute(sql)
    }


def _prices(
    meta: Mapping[str, str],
    fills: list[JournalFill],
    payments: list[JournalFunding],
) -> dict[InstrumentId, PriceSeen]:
    """The newest price per instrument: a fill's reference price, a settlement's mark, or the
    final marks of a finished run, whichever is newest (final marks win a tie)."""
    seen: dict[InstrumentId, PriceSeen] = {}

    def offer(iid: InstrumentId, price: Decimal, ts_ms: int, source: str) -> None:
        current = seen.get(iid)
        if price > 0 and (current is None or ts_ms >= current.ts_ms):
            seen[iid] = PriceSeen(price, ts_ms, source)

    for row in fills:
        fill = row.fill
        reference = fill.price if fill.reference_price is None else fill.reference_price
        offer(fill.instrument_id, reference, row.ts_ms, "fill")
    for _, _, payment in payments:
        offer(payment.instrument_id, payment.mark_price, payment.ts_funding_ms, "funding")
    final_ms = meta.get("window_last_ms", "")
    if final_ms.isdigit() and "final_marks_json" in meta:
        with contextlib.suppress(ValueError, TypeError, ArithmeticError, AttributeError):
            for text, price in json.loads(meta["final_marks_json"]).items():
                offer(InstrumentId.parse(text), Decimal(price), int(final_ms), "final_marks")
    return seen


def _order_counts(conn: sqlite3.Connection) -> OrderCounts:
    final = ", ".join(f"'{s}'" for s in FINAL_STATUSES)
    unresolved = conn.execute(
        "SELECT count(*) FROM orders WHERE id IN (SELECT max(id) FROM orders"  # noqa: S608 - constants
        f" GROUP BY client_order_id) AND status NOT IN ({final})"
    ).fetchone()[0]
    return OrderCounts(
        sent=int(conn.execute("SELECT count(DISTINCT client_order_id) FROM orders").fetchone()[0]),
        rejected=int(
            conn.execute(
                "SELECT count(DISTINCT client_order_id) FROM orders WHERE status = 'rejected'"
            ).fetchone()[0]
        ),
        unresolved=int(unresolved),
        risk_rejections=int(
            conn.execute("SELECT count(*) FROM risk_events WHERE detail != 'breaker'").fetchone()[0]
        ),
    )
