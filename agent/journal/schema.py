"""Journal schema: tables, columns and SQL types, and creating or checking it in a file.

``SCHEMA`` is the on-disk format of :mod:`agent.journal.journal` (schema version
``SCHEMA_VERSION``): one table per record kind, each with ``id INTEGER PRIMARY KEY
AUTOINCREMENT`` ahead of the columns listed here, in this order. Decimals are TEXT (exact).
A file with another schema version, or one that is not a journal, is refused with
:class:`JournalError`.
"""

from __future__ import annotations

import sqlite3

from agent.errors import JournalError

SCHEMA_VERSION = 1
MEMORY = ":memory:"

_DEC = "TEXT"  # exact Decimal as text
STREAM_COLUMNS = (
    ("price_spot_usd", _DEC), ("price_perp_usd", _DEC), ("funding_usd", _DEC),
    ("fees_usd", _DEC), ("slippage_usd", _DEC), ("total_pnl_usd", _DEC),
    ("realized_usd", _DEC), ("unrealized_usd", _DEC),
)  # fmt: skip
SCHEMA: dict[str, tuple[tuple[str, str], ...]] = {
    "run_meta": (("key", "TEXT NOT NULL"), ("value", "TEXT NOT NULL")),
    "intents": (
        ("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT NOT NULL"),
        ("intent_id", "TEXT NOT NULL"), ("reason", "TEXT NOT NULL"),
        ("opening", "INTEGER NOT NULL"), ("legs_json", "TEXT NOT NULL"),
    ),
    "orders": (
        ("ts_ms", "INTEGER NOT NULL"), ("client_order_id", "TEXT NOT NULL"),
        ("strategy", "TEXT NOT NULL"), ("intent_id", "TEXT NOT NULL"), ("leg", "TEXT NOT NULL"),
        ("attempt", "INTEGER NOT NULL"), ("instrument", "TEXT NOT NULL"),
        ("side", "TEXT NOT NULL"), ("qty", _DEC), ("order_type", "TEXT"),
        ("limit_price", _DEC), ("reduce_only", "INTEGER"), ("status", "TEXT NOT NULL"),
        ("venue_order_id", "TEXT"), ("filled_qty", _DEC), ("avg_price", _DEC),
        ("reject_code", "TEXT"), ("reject_reason", "TEXT"),
    ),
    "fills": (
        ("seq", "INTEGER NOT NULL"), ("ts_ms", "INTEGER NOT NULL"),
        ("strategy", "TEXT NOT NULL"), ("client_order_id", "TEXT NOT NULL"),
        ("venue_order_id", "TEXT NOT NULL"), ("trade_id", "TEXT NOT NULL"),
        ("instrument", "TEXT NOT NULL"), ("side", "TEXT NOT NULL"), ("qty", _DEC),
        ("price", _DEC), ("fee_usd", _DEC), ("reference_price", _DEC),
        ("liquidity", "TEXT NOT NULL"), ("ts_event_ms", "INTEGER NOT NULL"),
    ),
    "funding_payments": (
        ("seq", "INTEGER NOT NULL"), ("ts_ms", "INTEGER NOT NULL"),
        ("instrument", "TEXT NOT NULL"), ("ts_funding_ms", "INTEGER NOT NULL"),
        ("rate", "REAL NOT NULL"), ("interval_s", "INTEGER NOT NULL"),
        ("position_qty", _DEC), ("mark_price", _DEC), ("amount_usd", _DEC),
    ),
    "funding_allocations": (
        ("seq", "INTEGER NOT NULL"), ("ts_ms", "INTEGER NOT NULL"),
        ("instrument", "TEXT NOT NULL"), ("strategy", "TEXT NOT NULL"), ("amount_usd", _DEC),
    ),
    "equity_snapshots": (
        ("ts_ms", "INTEGER NOT NULL"), ("equity_usd", _DEC), ("initial_equity_usd", _DEC),
        *STREAM_COLUMNS, ("gross_notional_usd", _DEC), ("net_delta_usd", _DEC),
        ("btc_price", "REAL"),
    ),
    "strategy_pnl_snapshots": (
        ("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT NOT NULL"), *STREAM_COLUMNS,
    ),
    "risk_events": (
        ("ts_ms", "INTEGER NOT NULL"), ("rule", "TEXT NOT NULL"), ("limit_value", "REAL"),
        ("value", "REAL"), ("strategy", "TEXT NOT NULL"), ("intent_id", "TEXT NOT NULL"),
        ("detail", "TEXT NOT NULL"),
    ),
    "alerts": (
        ("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT NOT NULL"), ("kind", "TEXT NOT NULL"),
        ("message", "TEXT NOT NULL"), ("fields_json", "TEXT NOT NULL"),
    ),
    "strategy_state": (
        ("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT NOT NULL"),
        ("state_json", "TEXT NOT NULL"),
    ),
    "reconciliation": (
        ("ts_ms", "INTEGER NOT NULL"), ("venue", "TEXT NOT NULL"),
        ("instrument", "TEXT NOT NULL"), ("journal_qty", _DEC), ("venue_qty", _DEC),
        ("action", "TEXT NOT NULL"),
    ),
}  # fmt: skip
TABLES = tuple(SCHEMA)
"""Journal tables, in the order they are created and flushed."""


def configure_connection(conn: sqlite3.Connection, path: str) -> None:
    try:
        mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as err:
        raise JournalError(f"not a usable SQLite database: {err}", path=path) from err
    if path != MEMORY and mode != "wal":
        raise JournalError(f"cannot enable WAL (journal_mode is {mode!r})", path=path)


def ensure_schema(conn: sqlite3.Connection, path: str) -> None:
    """Create the schema in a new file; refuse a file with another schema version."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" in tables:
        found = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        if found != SCHEMA_VERSION:
            newer = isinstance(found, int) and found > SCHEMA_VERSION
            why = "is newer than this zerobeta supports" if newer else "has no migration path"
            raise JournalError(
                f"schema version {found} {why} (supported: {SCHEMA_VERSION}); "
                "use a matching zerobeta or a new journal path",
                path=path,
                found_version=found if isinstance(found, int) else None,
            )
        return
    if tables - {"sqlite_sequence"}:
        raise JournalError(f"not a zerobeta journal (has tables {sorted(tables)})", path=path)
    conn.execute("BEGIN")
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    for table, columns in SCHEMA.items():
        body = ", ".join(f"{name} {kind}" for name, kind in columns)
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, {body})")
    conn.execute("COMMIT")


def insert_sql(table: str) -> str:
    names = [name for name, _ in SCHEMA[table]]
    marks = ", ".join("?" * len(names))
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608 - constants
