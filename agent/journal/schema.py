"""Journal schema: tables, columns and SQL types, and creating or checking it in a file.

``SCHEMA`` is the on-disk format of :mod:`agent.journal.journal` (schema version
``SCHEMA_VERSION``): one table per record kind, each with ``id INTEGER PRIMARY KEY
AUTOINCREMENT`` ahead of the columns listed here, in this order. Decimals are TEXT (exact).

Migrations: a journal written by an earlier release (an older ``schema_version``) is brought to
``SCHEMA_VERSION`` when it is opened, one step at a time (:data:`MIGRATIONS`: the statements
that take version ``k`` to ``k + 1``), all steps in one transaction, so a journal is either
migrated completely or left as it was. A step only ever adds (tables, columns with defaults):
rows already written keep their meaning. A file with a newer schema version, one with no
migration path, or one that is not a journal is refused with :class:`JournalError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import structlog

from agent.errors import JournalError

log = structlog.get_logger("zerobeta.journal")

SCHEMA_VERSION = 3
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
    "funding_reconciliation": (
        ("ts_ms", "INTEGER NOT NULL"), ("instrument", "TEXT NOT NULL"),
        ("ts_funding_ms", "INTEGER NOT NULL"), ("rate", "REAL NOT NULL"),
        ("position_qty", _DEC), ("mark_price", _DEC), ("expected_usd", _DEC),
        ("paid_usd", _DEC), ("gap_usd", _DEC), ("gap_bps", "REAL"),
    ),
    "pair_exposure": (
        ("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT NOT NULL"),
        ("intent_id", "TEXT NOT NULL"), ("leg_policy", "TEXT NOT NULL"),
        ("legs", "INTEGER NOT NULL"), ("ts_opened_ms", "INTEGER NOT NULL"),
        ("unhedged_usd_s", "REAL NOT NULL"), ("longest_unhedged_ms", "INTEGER NOT NULL"),
        ("max_unhedged_usd", "REAL NOT NULL"), ("naked_budget_usd_s", "REAL NOT NULL"),
        ("past_budget", "INTEGER NOT NULL"), ("outcome", "TEXT NOT NULL"),
    ),
}  # fmt: skip
TABLES = tuple(SCHEMA)

BASE_TABLES = (
    "run_meta", "intents", "orders", "fills", "funding_payments", "funding_allocations",
    "equity_snapshots", "strategy_pnl_snapshots", "risk_events", "alerts", "strategy_state",
    "reconciliation",
)  # fmt: skip
"""The tables of schema version 1, which every zerobeta journal of any version holds (migrations
only add): what recognizes a journal written by an earlier release."""
"""Journal tables, in the order they are created and flushed."""


def configure_connection(conn: sqlite3.Connection, path: str, *, durable: bool = False) -> None:
    """WAL, with ``synchronous=FULL`` when ``durable`` (every commit fsynced: it survives a
    power loss), else ``NORMAL`` (a commit survives the process being killed, not a power
    loss; faster)."""
    try:
        mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    except sqlite3.Error as err:
        raise JournalError(f"not a usable SQLite database: {err}", path=path) from err
    if path != MEMORY and mode != "wal":
        raise JournalError(f"cannot enable WAL (journal_mode is {mode!r})", path=path)


@dataclass(frozen=True, slots=True)
class Migration:
    """The step from schema version ``to_version - 1`` to ``to_version``: what it adds, and
    the SQL statements that add it (run in order, inside the migration's transaction)."""

    to_version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: Mapping[int, Migration] = MappingProxyType(
    {
        2: Migration(
            2,
            "funding_reconciliation: each live funding payment against its expected amount",
            (  # literal, not create_table_sql: a later step may change SCHEMA's columns
                "CREATE TABLE funding_reconciliation (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " ts_ms INTEGER NOT NULL, instrument TEXT NOT NULL,"
                " ts_funding_ms INTEGER NOT NULL, rate REAL NOT NULL, position_qty TEXT,"
                " mark_price TEXT, expected_usd TEXT, paid_usd TEXT, gap_usd TEXT,"
                " gap_bps REAL)",
            ),
        ),
        3: Migration(
            3,
            "pair_exposure: each pair's unhedged USD·s, longest unhedged time and outcome",
            (
                "CREATE TABLE pair_exposure (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " ts_ms INTEGER NOT NULL, strategy TEXT NOT NULL, intent_id TEXT NOT NULL,"
                " leg_policy TEXT NOT NULL, legs INTEGER NOT NULL,"
                " ts_opened_ms INTEGER NOT NULL, unhedged_usd_s REAL NOT NULL,"
                " longest_unhedged_ms INTEGER NOT NULL, max_unhedged_usd REAL NOT NULL,"
                " naked_budget_usd_s REAL NOT NULL, past_budget INTEGER NOT NULL,"
                " outcome TEXT NOT NULL)",
            ),
        ),
    }
)
"""Migration steps by the version they lead to (2, 3, ...); version 1 is the first release's
schema. A new step is added here together with its ``SCHEMA`` change and ``SCHEMA_VERSION``
bump; ``tests/unit/test_journal_migrations.py`` checks that migrating the kept version-1
journal gives exactly the schema of a new file."""


def create_table_sql(table: str) -> str:
    """``CREATE TABLE`` for ``table`` as :data:`SCHEMA` lists it (for new files and
    migrations that add a table)."""
    body = ", ".join(f"{name} {kind}" for name, kind in SCHEMA[table])
    return f"CREATE TABLE {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, {body})"


def ensure_schema(
    conn: sqlite3.Connection,
    path: str,
    *,
    version: int | None = None,
    migrations: Mapping[int, Migration] | None = None,
) -> None:
    """Create the schema in a new file, or migrate an older journal to ``version`` (default
    :data:`SCHEMA_VERSION`, with :data:`MIGRATIONS`; tests pass their own).

    Raises
    ------
    JournalError
        For a newer schema version, a version without a migration path, or a file that is not
        a zerobeta journal.
    """
    target = SCHEMA_VERSION if version is None else version
    steps = MIGRATIONS if migrations is None else migrations
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" in tables:
        found = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        if found == target:
            return
        path_ok = isinstance(found, int) and all(v in steps for v in range(found + 1, target + 1))
        if not isinstance(found, int) or found > target or not path_ok:
            newer = isinstance(found, int) and found > target
            why = "is newer than this zerobeta supports" if newer else "has no migration path"
            raise JournalError(
                f"schema version {found} {why} (supported: {target}); "
                "use a matching zerobeta or a new journal path",
                path=path,
                found_version=found if isinstance(found, int) else None,
            )
        _migrate(conn, path, found, target, steps)
        return
    if tables - {"sqlite_sequence"}:
        raise JournalError(f"not a zerobeta journal (has tables {sorted(tables)})", path=path)
    conn.execute("BEGIN")
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (target,))
    for table in SCHEMA:
        conn.execute(create_table_sql(table))
    conn.execute("COMMIT")


def _migrate(
    conn: sqlite3.Connection, path: str, found: int, target: int, steps: Mapping[int, Migration]
) -> None:
    """Apply the steps ``found + 1 .. target`` in one transaction (all or nothing)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for version in range(found + 1, target + 1):
            for statement in steps[version].statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        conn.execute("COMMIT")
    except sqlite3.Error as err:
        conn.execute("ROLLBACK")
        raise JournalError(
            f"migrating schema version {found} to {target} failed: {err}", path=path
        ) from err
    log.info(
        "journal_migrated",
        journal=path,
        from_version=found,
        to_version=target,
        steps=[steps[v].description for v in range(found + 1, target + 1)],
    )


def insert_sql(table: str, rows: int = 1) -> str:
    """``INSERT`` of ``rows`` rows of ``table`` (one ``VALUES`` group of ``?`` per row, the
    columns of :data:`SCHEMA` after ``id``, in order); its parameters are the rows' columns
    one after the other.

    Raises
    ------
    ValueError
        If ``rows`` < 1.
    """
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    names = [name for name, _ in SCHEMA[table]]
    group = f"({', '.join('?' * len(names))})"
    values = ", ".join([group] * rows)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES {values}"  # noqa: S608 - constants
